#!/usr/bin/python3
"""bench/personas.py — issue 11's numbers, on real podman (root), in a
private store (never the default one):

  1. bay0's overhead per persona operation over the bare podman command:
     `bay0 persona start|stop` (client to answer) against `podman start|stop`
     of an identical container, REPS times each, medians and the ratio;
  2. reconcile of 20 personas with 5 repairs: its time and its podman calls
     (from the manager's `event=reconcile-done` line), at a manager start;
  3. the supervisor's worst `status` round trip (control socket) and the
     manager's worst `persona list` while 20 podman calls are in flight
     (20 starts through a podman wrapper that first sleeps 6 s; sampled for
     1.5 s once all 20 were asked).

  /usr/bin/python3 bench/personas.py [--reps N] [--bay0 PATH]
Prints a Markdown table; kills only what it started, by pid."""
import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
IMAGE = "localhost/bay0-shell:latest"
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from cleanup import remove_cgroup_tree, unmount_under  # noqa: E402


def run(cmd, env=None, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    if check and r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}: {r.stderr}")
    return r


def timed(cmd, env=None):
    t0 = time.monotonic()
    run(cmd, env)
    return (time.monotonic() - t0) * 1000


def rtt_ms(path, request):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    t0 = time.monotonic()
    s.connect(path)
    s.sendall(request)
    while s.recv(65536):
        pass
    s.close()
    return (time.monotonic() - t0) * 1000


class Bench:
    def __init__(self, bay0):
        self.bay0 = bay0
        self.d = tempfile.mkdtemp(prefix="bay0-bp-")
        self.podman = ["podman", "--root", f"{self.d}/pm/root", "--runroot",
                       f"{self.d}/pm/run", "--tmpdir", f"{self.d}/pm/tmp"]
        self.run_dir, self.log, self.persist = (f"{self.d}/run", f"{self.d}/log",
                                                f"{self.d}/persist")
        os.makedirs(self.persist)
        self.wrapper = f"{self.d}/podman"
        self.delay = f"{self.d}/delay"
        with open(self.delay, "w") as f:
            f.write("0")
        with open(self.wrapper, "w") as f:
            f.write(f"#!/bin/sh\nd=$(cat {self.delay}); [ \"$d\" != 0 ] && sleep $d\n"
                    f"exec {' '.join(self.podman)} \"$@\"\n")
        os.chmod(self.wrapper, 0o755)
        self.env = dict(os.environ, BAY0_RUNDIR=self.run_dir, BAY0_PODMAN=self.wrapper,
                        BAY0_PERSIST_DIR=self.persist,
                        BAY0_PERSONA_CGROUP_ROOT=f"/bay0-bench-{os.getpid()}")
        sv = f"{self.d}/sv/personas"
        os.makedirs(sv)
        with open(f"{sv}/run", "w") as f:
            f.write(f"#!/bin/sh\nexec {bay0} persona-manager --notify-fd 3 "
                    f"--rundir {self.run_dir} --logdir {self.log}\n")
        os.chmod(f"{sv}/run", 0o755)
        with open(f"{sv}/notification-fd", "w") as f:
            f.write("3\n")
        run([os.path.join(ROOT, "personas", "build.sh"), "shell"],
            dict(os.environ, BAY0_PODMAN=" ".join(self.podman)))
        self.sup = subprocess.Popen([bay0, "supervise", "--scandir", f"{self.d}/sv",
                                     "--rundir", self.run_dir, "--logdir", self.log],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env=self.env)
        deadline = time.monotonic() + 20
        while self.b("start", "personas", check=False).returncode != 0:
            if time.monotonic() > deadline:
                sys.exit("the supervisor did not start")
            time.sleep(0.05)
        self.b("persona", "list")

    def b(self, *args, check=True):
        return run([self.bay0, *args], self.env, check)

    def p(self, *args, check=True):
        return run([*self.podman, *args], None, check)

    def overhead(self, reps):
        self.b("persona", "create", "p://ov", "--image", IMAGE)
        # the same container options the manager gives (persona_job.c), and
        # the same podman command line (the wrapper), so only bay0 differs
        root = self.env["BAY0_PERSONA_CGROUP_ROOT"]
        self.p("create", "--pull=never", "--name", "bare", "--pidfile", f"{self.d}/bare.pid",
               "--label", "bay0.persona=bare", "--cgroup-parent", f"{root}/bare", IMAGE)
        rows = {}
        for op in ("start", "stop"):
            rows[op] = ([], [])
        for _ in range(reps):
            for op in ("start", "stop"):
                rows[op][0].append(timed([self.bay0, "persona", op, "p://ov"], self.env))
                rows[op][1].append(timed([self.wrapper, op, *(["-t", "10"] if op == "stop" else []),
                                          "bare"]))
        self.p("rm", "-f", "-t", "0", "bare")
        self.b("persona", "rm", "p://ov")
        return {op: (statistics.median(a), statistics.median(b)) for op, (a, b) in rows.items()}

    def mgr_log(self):
        with open(f"{self.log}/personas/current") as f:
            return f.read()

    def reconcile20(self):
        names = [f"p://r{i:02d}" for i in range(20)]
        for n in names:
            self.b("persona", "create", n, "--image", IMAGE)
        for n in names[:10]:
            self.b("persona", "start", n)
        self.b("stop", "personas")
        self.p("rm", "-f", "-t", "0", "p__r00")            # running-missing (db only)
        self.p("rm", "-f", "-t", "0", "p__r01")            # running-missing (db only)
        self.p("create", "--pull=never", "--name", "p__ghost", IMAGE)  # ghost: rm
        db = sqlite3.connect(f"{self.persist}/spine/state.db")
        db.execute("UPDATE personas SET current='starting' WHERE name='p://r15'")  # rm
        db.execute("UPDATE personas SET desired='stopped', current='stopping' "
                   "WHERE name='p://r02'")                                      # stop
        db.commit()
        db.close()
        before = self.mgr_log().count("event=reconcile-done")
        self.b("start", "personas")
        self.b("persona", "list")
        deadline = time.monotonic() + 10
        while self.mgr_log().count("event=reconcile-done") == before:
            if time.monotonic() > deadline:
                sys.exit("no reconcile line")
            time.sleep(0.05)
        line = [l for l in self.mgr_log().splitlines() if "event=reconcile-done" in l][-1]
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        self.b("persona", "stop", *names[:10])
        return fields

    def in_flight(self, n=20):
        names = [f"p://f{i:02d}" for i in range(n)]
        for nm in names:
            self.b("persona", "create", nm, "--image", IMAGE)
        with open(self.delay, "w") as f:
            f.write("6")
        starts = [subprocess.Popen([self.bay0, "persona", "start", nm], env=self.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                  for nm in names]
        # wait until every podman call is in flight (the wrapper sleeping)
        deadline = time.monotonic() + 30
        while self.mgr_log().count('what=podman-start why="p://f') < n:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        inflight = self.mgr_log().count('what=podman-start why="p://f')
        status, plist = [], []
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            status.append(rtt_ms(f"{self.run_dir}/control", b"status\n"))
            plist.append(rtt_ms(f"{self.run_dir}/persona", b"list\n"))
        for s in starts:
            s.wait(60)
        with open(self.delay, "w") as f:
            f.write("0")
        return status, plist, inflight

    def close(self):
        self.sup.send_signal(signal.SIGTERM)
        self.sup.wait(60)
        out = self.p("ps", "-a", "--format", "json").stdout
        for c in json.loads(out or "[]"):
            self.p("rm", "-f", "-t", "0", c["Names"][0], check=False)
        unmount_under(self.d)
        shutil.rmtree(self.d, ignore_errors=True)
        remove_cgroup_tree(self.env["BAY0_PERSONA_CGROUP_ROOT"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--bay0", default=os.path.join(ROOT, "build", "bay0"))
    a = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("podman"):
        sys.exit("needs root and podman")
    b = Bench(a.bay0)
    try:
        ov = b.overhead(a.reps)
        rec = b.reconcile20()
        status, plist, inflight = b.in_flight()
    finally:
        b.close()
    print("| row | bay0 | bare podman | ratio |\n|---|---|---|---|")
    for op, (x, y) in ov.items():
        print(f"| persona {op} (median of {a.reps}, client to answer) | {x:.0f} ms | "
              f"{y:.0f} ms | {x / y:.2f}x |")
    print(f"| reconcile, 20 personas, 5 repairs (3 need podman) | "
          f"{rec.get('elapsed_ms')} ms, {rec.get('podman_calls')} podman calls, "
          f"{rec.get('repairs')} repairs | - | - |")
    print(f"| `status` round trip, {inflight} podman calls in flight "
          f"({len(status)} samples) | worst {max(status):.1f} ms, median "
          f"{statistics.median(status):.1f} ms | - | - |")
    print(f"| `persona list` round trip, same time | worst {max(plist):.1f} ms, median "
          f"{statistics.median(plist):.1f} ms | - | - |")


if __name__ == "__main__":
    main()
