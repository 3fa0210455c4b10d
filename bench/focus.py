#!/usr/bin/env python3
"""bench/focus.py — focus switching and governor costs on real podman (issue 13).

  bench/focus.py [--switches N] [--bay0 build/bay0]

Makes a private podman store, two CPU-busy "work" personas (p__a, p__b,
--cgroup-parent under a cgroup root of its own, as the persona manager
makes them) and a `bay0 supervise` that owns them, then measures:

  focus latency   from just before `bay0 focus p://X` is started until X's
                  container cgroup has used CPU again (cpuacct.usage or
                  cpu.stat polled in a tight loop): "running again"; also
                  the command's own wall time and the supervisor's switch
                  time (its `switch_us`). N switches, alternating, 0.3 s apart.
  background CPU  the other persona's CPU use (% of one CPU) over 2 s while
                  both run, and over 2 s after it was frozen.
  governor        wake-ups per second (PSI events + timer ticks) over 20 s
                  with only the memory trigger (idle here) and with every
                  trigger while the focused persona and this host's other
                  work keep the CPU under pressure.

Prints one line per number; needs root and podman. Removes what it made.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
V1 = os.path.exists("/sys/fs/cgroup/freezer/cgroup.procs")
CG2 = "/sys/fs/cgroup" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "/sys/fs/cgroup/unified"


def cg_dir(root, name):
    base = "/sys/fs/cgroup/cpuacct" if V1 else CG2
    parent = f"{base}{root}/p__{name}"
    kid = next(d for d in os.listdir(parent) if d.startswith("libpod-") and "conmon" not in d)
    return os.path.join(parent, kid)


def usage_reader(root, name):
    d = cg_dir(root, name)
    path = os.path.join(d, "cpuacct.usage" if V1 else "cpu.stat")
    fd = os.open(path, os.O_RDONLY)

    def read():
        data = os.pread(fd, 4096, 0).decode()
        if V1:
            return int(data) // 1000
        return int(next(l for l in data.splitlines() if l.startswith("usage_usec")).split()[1])
    return read


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--switches", type=int, default=100)
    ap.add_argument("--bay0", default=os.path.join(TOP, "build", "bay0"))
    ap.add_argument("--governor-seconds", type=int, default=20)
    a = ap.parse_args()
    base = tempfile.mkdtemp(prefix="bay0-focus-bench-")
    podman = ["podman", "--root", f"{base}/root", "--runroot", f"{base}/run", "--tmpdir", f"{base}/tmp"]
    root = f"/bay0-bench-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, BAY0_PODMAN=" ".join(podman), BAY0_PERSONA_CGROUP_ROOT=root)
    sup = None
    try:
        subprocess.run([os.path.join(TOP, "personas", "build.sh"), "work"], env=env, check=True,
                       capture_output=True)
        for n in ("a", "b"):
            subprocess.run([*podman, "run", "-d", "--pull=never", "--name", f"p__{n}", "--cgroup-parent",
                            f"{root}/p__{n}", "localhost/bay0-work:latest"], check=True, capture_output=True)
        rundir = os.path.join(base, "rundir")
        os.makedirs(os.path.join(base, "sv"))

        def start(extra):
            e = dict(env, BAY0_RUNDIR=rundir, **extra)
            p = subprocess.Popen([a.bay0, "supervise", "--scandir", f"{base}/sv", "--rundir", rundir,
                                  "--logdir", f"{base}/log"], env=e, stdout=subprocess.DEVNULL,
                                 stderr=open(f"{base}/bay0.log", "a"))
            for _ in range(500):
                if subprocess.run([a.bay0, "status", "--rundir", rundir],
                                  capture_output=True).returncode == 0:
                    return p
                time.sleep(0.01)
            raise SystemExit("supervisor did not start")

        def stop(p):
            subprocess.run([a.bay0, "shutdown", "--rundir", rundir], capture_output=True)
            p.wait(30)

        def bay0(*args):
            return subprocess.run([a.bay0, *args, "--rundir", rundir], capture_output=True, text=True,
                                  env=env)

        sup = start({"BAY0_PSI_RESOURCES": "memory"})
        read = {n: usage_reader(root, n) for n in ("a", "b")}

        def cpu_pct(n, secs=2.0):
            u0, t0 = read[n](), time.monotonic()
            time.sleep(secs)
            return (read[n]() - u0) / ((time.monotonic() - t0) * 1e6) * 100

        both_b = cpu_pct("b")
        bay0("focus", "p://a")
        time.sleep(0.2)
        frozen_b = cpu_pct("b")
        lat, cli, sw = [], [], []
        for i in range(a.switches):
            target = "b" if i % 2 == 0 else "a"
            r = read[target]
            u0 = r()
            t0 = time.monotonic()
            proc = subprocess.Popen([a.bay0, "focus", f"p://{target}", "--rundir", rundir],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            while r() <= u0:
                time.sleep(0.0005)  # a busy poll would take CPU from what is measured
            lat.append((time.monotonic() - t0) * 1000)
            out, _ = proc.communicate()
            cli.append((time.monotonic() - t0) * 1000)
            sw.append(int(out.split(" focused in ")[1].split()[0]) / 1000)
            time.sleep(0.3)
        print(f"focus latency (running again) over {len(lat)} switches: median {statistics.median(lat):.1f} ms,"
              f" p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms")
        print(f"focus command wall time: median {statistics.median(cli):.1f} ms, p99 {pct(cli, 99):.1f} ms")
        print(f"supervisor switch time: median {statistics.median(sw) * 1000:.0f} us, p99 {pct(sw, 99) * 1000:.0f} us")
        print(f"background persona CPU: {both_b:.1f}% of one CPU while both run, {frozen_b:.2f}% after it was frozen")
        t_end = time.monotonic()
        while time.monotonic() - t_end < 60:
            j = json.loads(bay0("focus", "--json").stdout)
            if j["sync"]["podman_agrees"]:
                break
            time.sleep(0.2)
        print(f"podman agrees after the run: {j['sync']['podman_agrees']} ({j['sync']['syncs']} syncs,"
              f" settled {time.monotonic() - t_end:.1f} s after the last switch)")
        stop(sup)
        for label, extra in (("idle (memory trigger only)", {"BAY0_PSI_RESOURCES": "memory"}),
                             ("CPU under pressure (all triggers)", {})):
            sup = start(extra)
            g0 = json.loads(bay0("governor", "--json").stdout)
            time.sleep(a.governor_seconds)
            g1 = json.loads(bay0("governor", "--json").stdout)
            w0 = g0["wakeups"]["psi"] + g0["wakeups"]["timer"]
            w1 = g1["wakeups"]["psi"] + g1["wakeups"]["timer"]
            secs = (g1["wakeups"]["since_ms"] - g0["wakeups"]["since_ms"]) / 1000
            print(f"governor wake-ups, {label}: {(w1 - w0) / secs:.2f}/s over {secs:.0f} s "
                  f"(psi {g1['wakeups']['psi'] - g0['wakeups']['psi']}, timer "
                  f"{g1['wakeups']['timer'] - g0['wakeups']['timer']}; cpu some avg10 "
                  f"{g1['psi']['cpu']['some_avg10']}%, level {g1['level']})")
            stop(sup)
        sup = None
    finally:
        if sup and sup.poll() is None:
            sup.kill()
        for n in ("a", "b"):
            try:
                d = cg_dir(root, n).replace("/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/freezer")
                with open(os.path.join(d, "freezer.state" if V1 else "cgroup.freeze"), "w") as f:
                    f.write("THAWED" if V1 else "0")
            except (OSError, StopIteration):
                pass
            subprocess.run([*podman, "unpause", f"p__{n}"], capture_output=True)
            subprocess.run([*podman, "rm", "-f", "-t", "0", f"p__{n}"], capture_output=True)
        subprocess.run([*podman, "rmi", "-f", "localhost/bay0-work:latest"], capture_output=True)
        for top in os.listdir("/sys/fs/cgroup"):
            for dirpath, _, _ in sorted(os.walk(f"/sys/fs/cgroup/{top}{root}"), key=lambda x: -len(x[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
        subprocess.run(["rm", "-rf", base])


if __name__ == "__main__":
    sys.exit(main())
