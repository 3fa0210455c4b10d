#!/usr/bin/python3
"""bench.py — runs every row of issue 7 for bay0 and the anchors (s6, runit,
daemontools, supervisord) in one run and writes bench/RESULTS.md plus the raw
numbers in bench/results.json.

Timed paths never go through Python: bench/benchtool (C) launches the
supervisors with a start stamp, runs the floors, the kills, the command loops
and the logger feed. Python only prepares directories, samples /proc between
measurements, and writes the report.

Owns: the scratch tree under --work (default /tmp/b0b) and every process it
starts. Must never: kill a process it did not start (it kills only the process
trees rooted at its own children, by pid), or wait without a deadline.
"""
import argparse
import ctypes
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "system"))
from cleanup import remove_supervisor_cgroups  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36
CLK_TCK = os.sysconf("SC_CLK_TCK")
SCALING_NS = [10, 100, 1000, 10000]
MAIN_N = 1000
BRINGUP_DEADLINE_S = {10: 30, 100: 30, 1000: 60, 10000: 120}
SETTLE_S = 1.0
PREPARE_GAP_S = 1.5
STALL_S = 30  # bring-up gives up when no new service started for this long
RESTART_K = 16
RESTART_SPACING_MS = 200
RESTART_UP_MS = 2000
CRASH_OBSERVE_S = 10
CRASH_FAILED_WAIT_S = 70  # bay0 only: how long after start to wait for `failed`
LOG_LINES = 2_000_000
LOG_LINE_BYTES = 100
LOG_ROTATE_BYTES = 1_000_000
LOG_KEEP_FILES = 400  # 200-260 MB / 1 MB rotations: keep them all to count every line
TREE_KILL_DEADLINE_S = 30
SHUTDOWN_WAIT_S = 30

ARGS = None
BIN = {}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

def children_of(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def tree(pid):
    """pid and all its descendants (live or zombie), parents first."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        if p in seen:
            continue
        seen.append(p)
        todo.extend(children_of(p))
    return seen


def exe(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def supervision_pids(root):
    """The supervisor's tree minus the service instances."""
    return [p for p in tree(root) if exe(p) != BIN["service"]]


def proc_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def reap_all():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_tree(root):
    """Freeze the tree rooted at our child `root` with SIGSTOP until no new
    process appears, then SIGKILL every pid of it and reap (we are a
    subreaper, so orphans come back to us)."""
    frozen = []
    for _ in range(100):
        new = [p for p in tree(root) if p not in frozen]
        if not new:
            break
        for p in new:
            try:
                os.kill(p, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        frozen.extend(new)
    for p in frozen:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + TREE_KILL_DEADLINE_S
    while time.monotonic() < deadline:
        reap_all()
        if not any(proc_alive(p) for p in frozen):
            reap_all()
            return len(frozen)
        time.sleep(0.02)
    log(f"WARNING: processes of tree {root} still alive after kill")
    return len(frozen)


def proc_cpu(pids):
    """dict: ticks (utime+stime), child_ticks (cutime+cstime of reaped
    children), cpu_ns (schedstat run time of every thread), vcsw (voluntary
    context switches of every thread), summed over pids."""
    r = {"ticks": 0, "child_ticks": 0, "cpu_ns": 0, "vcsw": 0}
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            r["ticks"] += int(fields[11]) + int(fields[12])
            r["child_ticks"] += int(fields[13]) + int(fields[14])
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    r["cpu_ns"] += int(f.read().split()[0])
                with open(f"/proc/{p}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches"):
                            r["vcsw"] += int(line.split()[1])
        except OSError:
            pass
    return r


def pss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


# ---------------------------------------------------------------- stamps

class Stamps:
    """Incremental reader of the shared stamp file: NAME SEC.NSEC PID."""

    def __init__(self, path):
        self.path, self.off, self.part = path, 0, ""
        self.first, self.lines = {}, 0

    def poll(self):
        with open(self.path) as f:
            f.seek(self.off)
            data = f.read()
            self.off = f.tell()
        data = self.part + data
        lines = data.split("\n")
        self.part = lines.pop()
        for line in lines:
            parts = line.split()
            if len(parts) != 3:
                continue
            self.lines += 1
            self.first.setdefault(parts[0], int(parts[1].replace(".", "")))
        return self


def make_services(scandir, n, stamps, crash=False, notify=False):
    os.makedirs(scandir)
    for i in range(n):
        d = os.path.join(scandir, f"s{i:05d}")
        os.mkdir(d)
        os.symlink(BIN["service"], os.path.join(d, "run"))
        os.symlink(stamps, os.path.join(d, "stamps"))
        if crash:
            open(os.path.join(d, "crash"), "w").close()
        if notify:
            with open(os.path.join(d, "notification-fd"), "w") as f:
                f.write("3\n")


# ---------------------------------------------------------------- supervisors

class Sup:
    key = name = variant = ""
    pkg = ""

    def __init__(self, run):
        self.run = run
        self.scandir = os.path.join(run, "sv")

    def svc_dir(self, i):
        return os.path.join(self.scandir, f"s{i:05d}")

    def prepare(self, n, **kw):
        make_services(self.scandir, n, os.path.join(self.run, "stamps"), **kw)

    def env(self):
        return dict(os.environ)

    def shutdown(self, proc):
        """The supervisor's own orderly stop, where it has one worth using
        (outside every measurement); kill_tree follows in any case."""

    def cleanup(self, pid):
        """Remove what a killed supervisor left outside the run directory."""


class S6(Sup):
    key, name, pkg = "s6", "s6", "s6"

    def cmd(self, n):
        return [BIN["s6-svscan"], "-c", str(max(n + 16, 64)), self.scandir]

    def status_steps(self, n):
        return [["run", BIN["s6-svstat"], self.svc_dir(i)] for i in range(n)]

    def control_steps(self, ready):
        d = self.svc_dir(0)
        up = "-wU" if ready else "-wu"
        return [["run", BIN["s6-svc"], "-T", "10000", "-wD", "-d", d],
                ["run", BIN["s6-svc"], "-T", "10000", up, "-u", d]]

    def state_cmd(self):
        return [BIN["s6-svstat"], self.svc_dir(0)]


class Runit(Sup):
    key, name, pkg = "runit", "runit", "runit"

    def cmd(self, n):
        return [BIN["runsvdir"], self.scandir]

    def status_steps(self, n):
        return [["run", BIN["sv"], "status"] + [self.svc_dir(i) for i in range(n)]]

    def control_steps(self, ready):
        d = self.svc_dir(0)
        return [["run", BIN["sv"], "stop", d], ["run", BIN["sv"], "start", d]]

    def state_cmd(self):
        return [BIN["sv"], "status", self.svc_dir(0)]


class Daemontools(Sup):
    key, name, pkg = "daemontools", "daemontools", "daemontools"

    def cmd(self, n):
        return [BIN["svscan"], self.scandir]

    def status_steps(self, n):
        return [["run", BIN["svstat"]] + [self.svc_dir(i) for i in range(n)]]

    def control_steps(self, ready):
        d = self.svc_dir(0)
        return [["run", BIN["svc"], "-d", d], ["until", ":%down", BIN["svstat"], d],
                ["run", BIN["svc"], "-u", d], ["until", ":%up", BIN["svstat"], d]]

    def state_cmd(self):
        return [BIN["svstat"], self.svc_dir(0)]


class Supervisord(Sup):
    """Debian's defaults for every program (startsecs=1, startretries=3,
    autorestart=unexpected, stdout to AUTO log files), as users run it."""
    key, name, pkg = "supervisord", "supervisord", "supervisor"

    def prepare(self, n, **kw):
        super().prepare(n, **kw)
        self.conf = os.path.join(self.run, "supervisord.conf")
        sock = os.path.join(self.run, "sd.sock")
        os.makedirs(os.path.join(self.run, "childlogs"))
        parts = [
            f"[unix_http_server]\nfile={sock}\n",
            f"[supervisord]\nlogfile={self.run}/supervisord.log\n"
            f"pidfile={self.run}/supervisord.pid\nchildlogdir={self.run}/childlogs\n"
            f"minfds=1024\nminprocs=200\n",
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
            f"[supervisorctl]\nserverurl=unix://{sock}\n",
        ]
        for i in range(n):
            parts.append(f"[program:s{i:05d}]\ncommand={BIN['service']}\ndirectory={self.svc_dir(i)}\n")
        with open(self.conf, "w") as f:
            f.write("\n".join(parts))

    def cmd(self, n):
        return [BIN["supervisord"], "-n", "-c", self.conf]

    def ctl(self, *args):
        return [BIN["supervisorctl"], "-c", self.conf] + list(args)

    def status_steps(self, n):
        return [["any"] + self.ctl("status")]

    def control_steps(self, ready):
        return [["run"] + self.ctl("stop", "s00000"), ["run"] + self.ctl("start", "s00000")]

    def state_cmd(self):
        return self.ctl("status", "s00000")


class Bay0(Sup):
    key, name, pkg = "bay0", "bay0", ""

    def prepare(self, n, **kw):
        super().prepare(n, **kw)
        self.rundir = os.path.join(self.run, "rundir")
        self.logdir = os.path.join(self.run, "logdir")
        os.makedirs(self.rundir)
        os.makedirs(self.logdir)

    def env(self):
        e = dict(os.environ)
        e["BAY0_RUNDIR"] = self.rundir
        # The governor would answer the bench host's CPU pressure (the other
        # supervisors under test, other jobs) with PSI wake-ups the others
        # do not have: it watches memory only here (its own cost: issue 13).
        e.setdefault("BAY0_PSI_RESOURCES", "memory")
        return e

    def cmd(self, n):
        return [BIN["bay0"], "supervise", "--scandir", self.scandir,
                "--rundir", self.rundir, "--logdir", self.logdir]

    def shutdown(self, proc):
        # bay0 removes its cgroups on an orderly stop; SIGKILL would leave them.
        try:
            subprocess.run([BIN["bay0"], "shutdown"], env=self.env(), capture_output=True,
                           timeout=SHUTDOWN_WAIT_S)
            proc.wait(timeout=SHUTDOWN_WAIT_S)
        except subprocess.TimeoutExpired:
            log(f"  bay0 shutdown did not finish in {SHUTDOWN_WAIT_S} s: killing the tree")

    def cleanup(self, pid):
        """bay0 makes CGROUP2/OWN/bay0.PID.START/NAME per service; remove
        this pid's (tests/system/cleanup.py)."""
        for dirpath, e in remove_supervisor_cgroups(pid):
            log(f"  cannot remove {dirpath}: {e}")

    def status_steps(self, n):
        return [["run", BIN["bay0"], "status"]]

    def status_json_steps(self, n):
        return [["run", BIN["bay0"], "status", "--json"]]

    def control_steps(self, ready):
        return [["run", BIN["bay0"], "stop", "s00000"], ["run", BIN["bay0"], "start", "s00000"]]

    def state_cmd(self):
        return [BIN["bay0"], "status", "s00000"]


class Bay0Static(Bay0):
    """The same supervisor; the clients (stop, start) are build/bay0-static."""
    variant = "bay0-static-client"

    def control_steps(self, ready):
        c = BIN["bay0-static"]
        return [["run", c, "stop", "s00000"], ["run", c, "start", "s00000"]]


ANCHORS = [S6, Runit, Daemontools, Supervisord]
for _c in [Bay0] + ANCHORS:
    _c.variant = _c.key


def sup_classes():
    every = ([Bay0] if BIN.get("bay0") else []) + ANCHORS
    if not ARGS.sups:
        return every
    want = ARGS.sups.split(",")
    return [c for c in every if c.key in want]


def cmdloop(run, steps, iters, max_s, env):
    """Times rounds of `steps` in benchtool; returns (seconds per round, rc)."""
    path = os.path.join(run, f"steps-{time.monotonic_ns()}")
    with open(path, "w") as f:
        for s in steps:
            f.write(" ".join(s) + "\n")
    r = subprocess.run([BIN["benchtool"], "cmdloop", str(iters), str(max_s), path],
                       capture_output=True, text=True, env=env, timeout=max_s + 60)
    if r.returncode != 0:
        log(f"  benchtool cmdloop rc={r.returncode}: {r.stderr.strip()[-300:]}")
    return [int(v) / 1e9 for v in r.stdout.split() if int(v) >= 0], r.returncode


def run_exec_floor():
    """What any two-command round trip costs before a supervisor does
    anything: two fork+exec+wait of /bin/true, of `bay0 version`, of
    `bay0-static version`. Medians in ms."""
    out = {}
    cases = [("true", "/bin/true")]
    for key in ("bay0", "bay0-static"):
        if BIN.get(key):
            cases.append((key, BIN[key] + " version"))
    for label, cmd in cases:
        vals, _ = cmdloop(ARGS.work, [["run"] + cmd.split()] * 2, 50, 10, dict(os.environ))
        out[label] = statistics.median(vals) * 1000 if vals else None
    return out


# ---------------------------------------------------------------- one instance

class Instance:
    """One supervisor process tree, started through benchtool stamp-exec."""

    counter = 0

    def __init__(self, cls, n, tag, **kw):
        Instance.counter += 1
        self.run = os.path.join(ARGS.work, f"{cls.key}-{tag}-{Instance.counter}")
        os.makedirs(self.run)
        self.sup = cls(self.run)
        self.n = n
        self.sup.prepare(n, **kw)
        self.prepared = time.monotonic()
        self.stamps = Stamps(os.path.join(self.run, "stamps"))
        open(self.stamps.path, "w").close()
        self.proc = None

    def start(self):
        # runsvdir ignores a scan directory modified less than a second ago
        # (its race guard); services normally exist long before the
        # supervisor starts, so every supervisor gets the same quiet gap.
        time.sleep(max(0.0, self.prepared + PREPARE_GAP_S - time.monotonic()))
        t0file = os.path.join(self.run, "t0")
        out = open(os.path.join(self.run, "supervisor.out"), "w")
        self.proc = subprocess.Popen(
            [BIN["benchtool"], "stamp-exec", t0file] + self.sup.cmd(self.n),
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=self.run, env=self.sup.env(), start_new_session=True)
        out.close()
        deadline = time.monotonic() + 5
        while not os.path.exists(t0file) or os.path.getsize(t0file) == 0:
            if time.monotonic() > deadline:
                raise RuntimeError("stamp-exec wrote no t0")
            time.sleep(0.001)
        with open(t0file) as f:
            self.t0 = int(f.read())

    def wait_up(self, count, deadline_s):
        """Wait until `count` services stamped; return bring-up seconds or
        None (deadline, supervisor gone, or no new service for STALL_S)."""
        deadline = time.monotonic() + deadline_s
        seen, last_new = 0, time.monotonic()
        while time.monotonic() < deadline:
            up = len(self.stamps.poll().first)
            if up >= count:
                return (max(self.stamps.first.values()) - self.t0) / 1e9
            if up > seen:
                seen, last_new = up, time.monotonic()
            if self.proc.poll() is not None or time.monotonic() - last_new > STALL_S:
                break
            time.sleep(0.02)
        return None

    def pids(self):
        return supervision_pids(self.proc.pid)

    def benchtool(self, args, timeout):
        r = subprocess.run([BIN["benchtool"]] + args, capture_output=True, text=True,
                           env=self.sup.env(), timeout=timeout)
        vals = [int(x) for x in r.stdout.split()]
        if r.returncode != 0:
            log(f"  benchtool {args[0]} rc={r.returncode}: {r.stderr.strip()[-300:]}")
        return vals, r.returncode

    def cmdloop(self, steps, iters, max_s):
        return cmdloop(self.run, steps, iters, max_s, self.sup.env())

    def output_tail(self):
        try:
            with open(os.path.join(self.run, "supervisor.out")) as f:
                return f.read()[-400:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        self.sup.shutdown(self.proc)
        kill_tree(self.proc.pid)
        self.sup.cleanup(self.proc.pid)
        try:
            self.proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, ChildProcessError):
            pass
        reap_all()
        shutil.rmtree(self.run, ignore_errors=True)


# ---------------------------------------------------------------- rows

def pctl(vals, q):
    """Nearest-rank percentile."""
    s = sorted(vals)
    return s[max(0, min(len(s) - 1, -(-len(s) * q // 100) - 1))]


def run_bringup(cls, n, tag, idle_s=0, status=False):
    """Bring-up and memory at N; on request idle cost and status time too."""
    res = {"n": n}
    try:
        inst = Instance(cls, n, tag)
    except OSError as e:
        return {"n": n, "error": f"prepare: {e}"}
    try:
        inst.start()
        t = inst.wait_up(n, BRINGUP_DEADLINE_S[n])
        res["up"] = len(inst.stamps.first)
        res["bringup_s"] = t
        if t is None:
            state = "running" if inst.proc.poll() is None else f"exited rc={inst.proc.returncode}"
            waited = time.time() - inst.t0 / 1e9
            res["error"] = (f"{res['up']} of {n} services started; gave up after {waited:.0f} s "
                            f"(limit {BRINGUP_DEADLINE_S[n]} s, or {STALL_S} s without a new "
                            f"start); supervisor {state}")
            res["supervisor_output"] = inst.output_tail()
        if inst.proc.poll() is not None:
            return res
        time.sleep(SETTLE_S)
        pids = inst.pids()
        res["procs"] = len(pids)
        res["pss_kib"] = pss_kib(pids)
        res["pss_per_svc_kib"] = res["pss_kib"] / n if t is not None else None
        if idle_s and t is not None:
            a = proc_cpu(pids)
            time.sleep(idle_s)
            b = proc_cpu(pids)
            res["idle"] = {"seconds": idle_s, **{k: b[k] - a[k] for k in a}}
        if status and t is not None:
            res["status"] = run_status(inst, n)
    finally:
        inst.stop()
    return res


def count_status_lines(inst, steps):
    """Runs the (single) status command once and counts lines naming a service."""
    step = steps[0]
    r = subprocess.run(step[1:], capture_output=True, text=True, env=inst.sup.env(), timeout=60)
    return sum(1 for line in r.stdout.splitlines() if "s0" in line)


def med_or_none(vals):
    return statistics.median(vals) if vals else None


def sockloop(inst, requests, iters, max_s):
    """bay0 only: timed rounds of control requests straight on the socket."""
    sock = os.path.join(inst.sup.rundir, "control")
    r = subprocess.run([BIN["benchtool"], "sockloop", str(iters), str(max_s), sock] + requests,
                       capture_output=True, text=True, timeout=max_s + 60)
    if r.returncode != 0:
        log(f"  benchtool sockloop rc={r.returncode}: {r.stderr.strip()[-300:]}")
    return [int(v) / 1e9 for v in r.stdout.split() if int(v) >= 0]


def run_status(inst, n):
    out = {}
    if isinstance(inst.sup, Bay0):
        vals = sockloop(inst, ["status"], 5, 30)
        out["socket"] = {"samples_s": vals, "median_s": med_or_none(vals)}
    variants = [("plain", inst.sup.status_steps(n))]
    if hasattr(inst.sup, "status_json_steps"):
        variants.append(("json", inst.sup.status_json_steps(n)))
    for label, steps in variants:
        vals, rc = inst.cmdloop(steps, 5, 30)
        entry = {"samples_s": vals, "rc": rc, "count": len(vals), "errors": 1 if rc != 0 else 0}
        if vals:
            entry["median_s"] = statistics.median(vals)
        if rc != 0 or not vals:
            entry["error"] = f"{len(vals)} rounds, benchtool rc={rc}"
        if len(steps) == 1:
            entry["lines_naming_services"] = count_status_lines(inst, steps)
        out[label] = entry
    return out


def run_floor_bringup(n):
    run = os.path.join(ARGS.work, f"floor-{n}-{time.monotonic_ns()}")
    stamps = os.path.join(run, "stamps")
    os.makedirs(run)
    open(stamps, "w").close()
    make_services(os.path.join(run, "sv"), n, stamps)
    try:
        r = subprocess.run([BIN["benchtool"], "floor-bringup", os.path.join(run, "sv"), str(n),
                            BIN["service"], stamps, str(BRINGUP_DEADLINE_S[n] * 1000)],
                           capture_output=True, text=True, timeout=BRINGUP_DEADLINE_S[n] + 30)
        st = Stamps(stamps).poll()
        if r.returncode != 0 or len(st.first) < n:
            return {"n": n, "error": f"floor: {len(st.first)} of {n} up; {r.stderr[-200:]}"}
        return {"n": n, "bringup_s": (max(st.first.values()) - int(r.stdout)) / 1e9}
    finally:
        reap_all()
        shutil.rmtree(run, ignore_errors=True)


def restart_args(stamps, scandir, count, k=RESTART_K):
    return [stamps, scandir, str(k), str(count), str(RESTART_SPACING_MS),
            str(RESTART_UP_MS), "5000", BIN["service"]]


def summarize_ms(vals_ns, requested, rc=0):
    """Restart samples (ns, -1 = no new instance within 5 s). Counts what was
    asked for, measured, timed out and missing (the tool stopped early);
    report.py gives no verdict unless every requested sample was measured."""
    ms = [v / 1e6 for v in vals_ns if v >= 0]
    out = {"samples_ms": ms, "requested": requested, "count": len(ms),
           "timeouts": sum(1 for v in vals_ns if v < 0),
           "missing": max(0, requested - len(vals_ns)), "errors": 1 if rc != 0 else 0}
    if ms:
        out.update(median_ms=statistics.median(ms), p99_ms=pctl(ms, 99))
    if not ms:
        out["error"] = "no new instance stamped within 5 s of the kill"
    elif out["timeouts"] or out["missing"] or out["errors"]:
        out["error"] = (f"{len(ms)} of {requested} restarts measured ({out['timeouts']} timed out, "
                        f"{out['missing']} missing, benchtool rc={rc})")
    return out


def run_floor_restart(count):
    run = os.path.join(ARGS.work, f"floor-restart-{time.monotonic_ns()}")
    stamps = os.path.join(run, "stamps")
    os.makedirs(run)
    open(stamps, "w").close()
    make_services(os.path.join(run, "sv"), RESTART_K, stamps)
    try:
        r = subprocess.run([BIN["benchtool"], "restart", "floor"] +
                           restart_args(stamps, os.path.join(run, "sv"), count),
                           capture_output=True, text=True, timeout=count * 8 + 60)
        return summarize_ms([int(x) for x in r.stdout.split()], count, r.returncode)
    finally:
        reap_all()
        shutil.rmtree(run, ignore_errors=True)


def run_restart_control(cls, ready, count):
    """Restart after SIGKILL (COUNT kills over RESTART_K services), then the
    control round trip on s00000 of the same instance."""
    n = ARGS.restart_n
    inst = Instance(cls, n, "restart", notify=ready)
    res = {"services": n}
    try:
        inst.start()
        if inst.wait_up(n, 30 + n // 200) is None:
            return {"error": "services did not come up", "supervisor_output": inst.output_tail()}
        vals, rc = inst.benchtool(["restart", "sup"] + restart_args(
            inst.stamps.path, inst.sup.scandir, count, min(RESTART_K, n)), count * 8 + 60)
        res["restart"] = summarize_ms(vals, count, rc)
        time.sleep(0.5)
        rt, rc = inst.cmdloop(inst.sup.control_steps(ready), 20, 20)
        res["control"] = {"samples_s": rt, "rc": rc, "count": len(rt),
                          "errors": 1 if rc != 0 else 0}
        if rt:
            res["control"]["median_s"] = statistics.median(rt)
        if rc != 0:
            res["control"]["error"] = f"a control step failed (benchtool rc={rc}, see log)"
        elif not rt:
            res["control"]["error"] = "no round completed"
        if cls is Bay0 and not ready:
            vals = sockloop(inst, ["stop s00000", "start s00000"], 20, 20)
            res["control_socket"] = {"samples_s": vals, "median_s": med_or_none(vals)}
        if n > RESTART_K and not ready: # --restart-n: status of that many, same instance
            res["status"] = run_status(inst, n)
            log(f"  status of {n}: {short_status(res['status'])}")
    finally:
        inst.stop()
    return res


def run_crash(cls):
    inst = Instance(cls, 1, "crash", crash=True)
    res = {}
    try:
        inst.start()
        end = inst.t0 / 1e9 + CRASH_OBSERVE_S
        while time.time() < end and inst.proc.poll() is None:
            time.sleep(0.05)
        pids = inst.pids()
        cpu = proc_cpu(pids)
        with open(inst.stamps.path) as f:
            times = [int(l.split()[1].replace(".", "")) for l in f if len(l.split()) == 3]
        half = inst.t0 + CRASH_OBSERVE_S * 5e8
        r = subprocess.run(inst.sup.state_cmd(), capture_output=True, text=True,
                           env=inst.sup.env(), timeout=30)
        res = {"starts": len(times), "starts_last_half": sum(1 for t in times if t >= half),
               "supervisor_cpu_ms": cpu["cpu_ns"] / 1e6,
               "reaped_children_cpu_ms": cpu["child_ticks"] * 1000 / CLK_TCK,
               "state": one_line(r.stdout.strip() or r.stderr.strip())}
        if cls is Bay0 and "failed" not in res["state"]:
            res["failed_after_s"] = wait_failed(inst)
    finally:
        inst.stop()
    return res


def one_line(text):
    """The last line of a status output, whitespace squeezed."""
    lines = [l for l in text.splitlines() if l.strip()]
    return " ".join(lines[-1].split())[:200] if lines else ""


def wait_failed(inst):
    """Seconds from supervisor start until bay0 status shows failed, or None."""
    end = inst.t0 / 1e9 + CRASH_FAILED_WAIT_S
    while time.time() < end:
        r = subprocess.run(inst.sup.state_cmd(), capture_output=True, text=True,
                           env=inst.sup.env(), timeout=30)
        if "failed" in r.stdout:
            return time.time() - inst.t0 / 1e9
        time.sleep(0.25)
    return None


# ---------------------------------------------------------------- loggers

def count_log_lines(d):
    total = 0
    for name in os.listdir(d):
        if name == "current" or name.startswith("@"):
            with open(os.path.join(d, name), "rb") as f:
                while True:
                    b = f.read(1 << 22)
                    if not b:
                        break
                    total += b.count(b"\n")
    return total


def svlogd_setup(d):
    with open(os.path.join(d, "config"), "w") as f:
        f.write(f"s{LOG_ROTATE_BYTES}\nn{LOG_KEEP_FILES}\n")


def logger_variants():
    n, s = f"n{LOG_KEEP_FILES}", f"s{LOG_ROTATE_BYTES}"
    v = [
        ("s6-log", lambda d: [BIN["s6-log"], n, s, d], None),
        ("s6-log t", lambda d: [BIN["s6-log"], "t", n, s, d], None),
        ("multilog", lambda d: [BIN["multilog"], s, n, d], None),
        ("multilog t", lambda d: [BIN["multilog"], "t", s, n, d], None),
        ("svlogd", lambda d: [BIN["svlogd"], d], svlogd_setup),
        ("svlogd -tt", lambda d: [BIN["svlogd"], "-tt", d], svlogd_setup),
    ]
    if bay0_logger_available():
        # `bay0 logger [-s BYTES] [-n KEEP] [-t iso|tai64n|none] DIR`; iso is its default.
        for stamp in ("iso", "tai64n", "none"):
            v.insert(0, (f"bay0 logger -t {stamp}",
                         lambda d, st=stamp: [BIN["bay0"], "logger", "-s", str(LOG_ROTATE_BYTES),
                                              "-n", str(LOG_KEEP_FILES), "-t", st, d], None))
    return v


def bay0_logger_available():
    """`bay0 logger` exists once its help works (-h; --help as a fallback)."""
    if not BIN.get("bay0"):
        return False
    for flag in ("-h", "--help"):
        r = subprocess.run([BIN["bay0"], "logger", flag], capture_output=True, text=True, timeout=10)
        if r.returncode == 0:
            return True
    return False


def run_logger(name, argv_fn, setup, reps):
    """Lines per second from the lines actually found in the log files
    afterwards (a logger that drops lines is not faster for it); every
    repetition that failed or timed out is counted, not skipped."""
    out = {"samples_lines_per_s": [], "counted": [], "requested": reps, "errors": 0,
           "timeouts": 0}
    for rep in range(reps):
        d = os.path.join(ARGS.work, f"log-{name.replace(' ', '_')}-{rep}")
        os.makedirs(d)
        if setup:
            setup(d)
        try:
            r = subprocess.run([BIN["benchtool"], "logpipe", str(LOG_LINES), str(LOG_LINE_BYTES)] +
                               argv_fn(d), capture_output=True, text=True, timeout=300)
            if r.returncode != 0 or not r.stdout.strip():
                out["errors"] += 1
                out["error"] = f"rc={r.returncode} {r.stderr[-200:]}"
                continue
            counted = count_log_lines(d)
            out["counted"].append(counted)
            out["samples_lines_per_s"].append(counted / (int(r.stdout) / 1e9))
        except subprocess.TimeoutExpired:
            out["timeouts"] += 1
            out["error"] = "timed out after 300 s"
        finally:
            shutil.rmtree(d, ignore_errors=True)
    if out["samples_lines_per_s"]:
        out["median_lines_per_s"] = statistics.median(out["samples_lines_per_s"])
        out["all_lines_counted"] = all(c == LOG_LINES for c in out["counted"])
        out["lines_lost"] = sum(LOG_LINES - c for c in out["counted"])
    return out


# ---------------------------------------------------------------- machine

def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def persona_cgroups():
    """Persona cgroup parents present on this host (bay0-personas/NAME under
    the freezer, cpu or unified hierarchy): bay0's start-up reads those of
    the hierarchy its focus uses, so runs compared with each other should
    see the same ones. Earlier test runs can leave some behind (podman
    removes only its libpod-ID child)."""
    out = []
    for h in ("freezer", "cpu", "unified"):
        d = f"/sys/fs/cgroup/{h}/bay0-personas"
        try:
            out += [f"{h}/{n}" for n in sorted(os.listdir(d)) if os.path.isdir(os.path.join(d, n))]
        except OSError:
            pass
    if out:
        log(f"note: {len(out)} persona cgroup(s) on this host ({', '.join(out[:6])}): "
            "bay0's start-up may read them; compare only runs that saw the same")
    return out


def machine_info():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
    vers = {p: sh(["dpkg-query", "-W", "-f", "${Version}", p])
            for p in ["s6", "runit", "daemontools", "supervisor", "libskarnet2.13"]}
    vers["bay0"] = sh([BIN["bay0"], "version"]) if BIN.get("bay0") else "not built"
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    vers["bay0_tree"] = sh(["git", "-C", repo, "log", "-1", "--format=%h %cd", "--date=iso"])
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "cpu": cpu,
            "cpus": os.cpu_count(), "mem_gib": round(int(mem) / 1048576, 1),
            "kernel": os.uname().release, "loadavg_start": open("/proc/loadavg").read().split()[:3],
            "nofile": list(__import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)),
            "pid_max": int(open("/proc/sys/kernel/pid_max").read()), "versions": vers,
            "persona_cgroups": persona_cgroups()}


def pkg_files_size(pkg, dirs=("/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/libexec/")):
    total, count = 0, 0
    for path in sh(["dpkg", "-L", pkg]).splitlines():
        if path.startswith(dirs) and os.path.isfile(path) and not os.path.islink(path):
            total += os.path.getsize(path)
            count += 1
    return total, count


def binary_sizes():
    out = {}
    for key in ("bay0-static", "bay0"):
        if BIN.get(key) and os.path.exists(BIN[key]):
            out[key] = os.path.getsize(BIN[key])
    s6, s6n = pkg_files_size("s6")
    lib = sum(os.path.getsize(p) for p in sh(["dpkg", "-L", "libskarnet2.13"]).splitlines()
              if ".so" in p and os.path.isfile(p) and not os.path.islink(p))
    out.update({"s6_binaries": s6, "s6_binaries_count": s6n, "libskarnet": lib})
    out["runit_binaries"], out["runit_binaries_count"] = pkg_files_size("runit")
    out["daemontools_binaries"], out["daemontools_binaries_count"] = pkg_files_size("daemontools")
    return out


# ---------------------------------------------------------------- main

def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="dir with svc and benchtool")
    ap.add_argument("--bay0", default="", help="build/bay0 (empty: anchors only)")
    ap.add_argument("--bay0-static", default="")
    ap.add_argument("--work", default="/tmp/b0b")
    ap.add_argument("--out", required=True, help="RESULTS.md to write")
    ap.add_argument("--raw", required=True, help="raw JSON to write")
    ap.add_argument("--idle", type=int, default=30, help="idle window, seconds")
    ap.add_argument("--restarts", type=int, default=50)
    ap.add_argument("--reps", type=int, default=3, help="bring-up repetitions at N=1000")
    ap.add_argument("--small-reps", type=int, default=3,
                    help="bring-up repetitions below N=1000 (each takes milliseconds)")
    ap.add_argument("--large-reps", type=int, default=1,
                    help="bring-up repetitions above N=1000")
    ap.add_argument("--log-reps", type=int, default=3)
    ap.add_argument("--max-n", type=int, default=10000)
    ap.add_argument("--sups", default="",
                    help="comma list of supervisors to run (default: all), e.g. bay0,s6")
    ap.add_argument("--min-n", type=int, default=10)
    ap.add_argument("--report-only", action="store_true", help="rewrite --out from --raw")
    ap.add_argument("--restart-n", type=int, default=RESTART_K,
                    help="services supervised in the restart row (kills go to the first 16)")
    ap.add_argument("--only", default="", help="comma list of rows: scaling,restart,crash,logger")
    ARGS = ap.parse_args()
    # timeout(1) sends SIGTERM: unwind through the finally blocks, which kill
    # every tree this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench: terminated"))
    if ARGS.report_only:
        import report
        with open(ARGS.raw) as f:
            report.write(json.load(f), ARGS.out, os.path.dirname(ARGS.out) or ".")
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("bench: cannot become a subreaper")
    BIN["service"] = os.path.realpath(os.path.join(ARGS.bin, "svc"))
    BIN["benchtool"] = os.path.realpath(os.path.join(ARGS.bin, "benchtool"))
    if ARGS.bay0:
        BIN["bay0"] = os.path.realpath(ARGS.bay0)
    if ARGS.bay0_static:
        BIN["bay0-static"] = os.path.realpath(ARGS.bay0_static)
    for tool in ["s6-svscan", "s6-svstat", "s6-svc", "s6-log", "runsvdir", "sv", "svlogd",
                 "svscan", "svstat", "svc", "multilog", "supervisord", "supervisorctl"]:
        path = shutil.which(tool)
        if not path:
            sys.exit(f"bench: {tool} not found (bench/run.sh installs the packages)")
        BIN[tool] = path
    shutil.rmtree(ARGS.work, ignore_errors=True)
    os.makedirs(ARGS.work)
    rows = set(ARGS.only.split(",")) if ARGS.only else {"scaling", "restart", "crash", "logger"}
    R = {"machine": machine_info(), "params": vars(ARGS), "sizes": binary_sizes(),
         "supervisors": [c.key for c in sup_classes()]}
    t_start = time.monotonic()
    try:
        if "logger" in rows:
            R["logger"] = rows_logger()
        if "scaling" in rows:
            R["scaling"], R["floor_bringup"] = rows_scaling()
        if "restart" in rows:
            R["restart"] = rows_restart()
        if "crash" in rows:
            R["crash"] = {c.key: run_crash(c) for c in sup_classes()}
    finally:
        R["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        R["elapsed_s"] = round(time.monotonic() - t_start)
        with open(ARGS.raw, "w") as f:
            json.dump(R, f, indent=1)
        shutil.rmtree(ARGS.work, ignore_errors=True)
    import report
    report.write(R, ARGS.out, os.path.dirname(ARGS.out) or ".")
    log(f"done in {R['elapsed_s']} s: {ARGS.out}")


def rows_logger():
    out = {}
    if BIN.get("bay0") and not bay0_logger_available():
        out["bay0 logger"] = {"error": "not yet available (`bay0 logger -h` fails)"}
    for name, argv_fn, setup in logger_variants():
        log(f"logger {name}")
        out[name] = run_logger(name, argv_fn, setup, ARGS.log_reps)
    return out


def rows_scaling():
    """Every N for every supervisor and the floor, interleaved: N=1000
    ARGS.reps times (the first with the idle window and status queries),
    smaller N ARGS.small_reps times, larger ARGS.large_reps times; the
    report takes the median of each."""
    scaling = {c.key: {} for c in sup_classes()}
    floor = {}
    ns = [n for n in SCALING_NS if ARGS.min_n <= n <= ARGS.max_n]
    for n in ns:
        reps = ARGS.reps if n == MAIN_N else ARGS.small_reps if n < MAIN_N else ARGS.large_reps
        for rep in range(reps):
            log(f"bring-up N={n} rep {rep + 1}/{reps}: floor")
            floor.setdefault(str(n), []).append(run_floor_bringup(n))
            for cls in sup_classes():
                main_rep = n == MAIN_N and rep == 0
                log(f"bring-up N={n} rep {rep + 1}/{reps}: {cls.key}")
                r = run_bringup(cls, n, f"n{n}", idle_s=ARGS.idle if main_rep else 0,
                                status=main_rep)
                log(f"  -> {short(r)}")
                scaling[cls.key].setdefault(str(n), []).append(r)
    return scaling, floor


def short_status(st):
    return {k: v.get("median_s") for k, v in st.items() if isinstance(v, dict)}


def short(r):
    return {k: r.get(k) for k in ("up", "bringup_s", "pss_per_svc_kib", "error") if k in r}


def rows_restart():
    out = {"floor": run_floor_restart(ARGS.restarts), "exec_floor": run_exec_floor()}
    log(f"exec floor (two runs, ms): {out['exec_floor']}")
    log(f"restart floor: {out['floor'].get('median_ms')}")
    variants = [(c, False) for c in sup_classes()]
    variants += [(S6, True)] if S6 in sup_classes() else []
    if BIN.get("bay0"):
        variants.append((Bay0, True))
    if BIN.get("bay0-static"):
        variants.append((Bay0Static, False))
    for cls, ready in variants:
        key = cls.variant + ("+ready" if ready else "")
        log(f"restart + control: {key}")
        out[key] = run_restart_control(cls, ready, ARGS.restarts)
        log(f"  -> restart {out[key].get('restart', {}).get('median_ms')} ms, "
            f"control {out[key].get('control', {}).get('median_s')} s")
    return out


if __name__ == "__main__":
    main()
