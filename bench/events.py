#!/usr/bin/env python3
"""bench/events.py — `bay0 events` under a restart storm (issue 17).

  bench/events.py [--services 1000] [--seconds 10] [--slow-read-ms 20] [--nowait]
                  [--bay0 build/bay0]

Starts `bay0 supervise` with N services (`exec sleep`, no readiness), waits
until every one is up (`bay0 start` returns then), attaches

  a fast reader   `bay0 events --json`, read by this script as fast as it
                  can (a thread), every line kept;
  a slow reader   a raw control-socket connection that sends "events" and
                  then reads 4 KiB every --slow-read-ms ms,

then restarts every service in a loop for --seconds (`bay0 restart` of
batches that fit one request, each waiting until its services are up
again; with --nowait without waiting: a denser storm, restarts landing on
services still stopping or starting), restarts one more service and
reads until its event (so every event before it was read), and prints:

  delivered       events the fast reader got and events/s over the storm;
  lost            events the fast reader missed: for each service the
                  stream must chain (each event's "from" is the previous
                  event's "to") and the service's number of restarts
                  (its generation, from `bay0 status --json`) must match
                  the restarts the stream shows. A reader that falls
                  behind is never silently short: it gets
                  {"dropped":...} and its connection ends;
  slow reader     dropped or not, after how many events, and whether the
                  note reached it;
  the supervisor  its CPU time over the storm.

Needs nothing but the binary (no root needed; run as root for more than
~1000 services: RLIMIT_NPROC). Removes what it made.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
REQUEST_NAMES_MAX = 300  # names per restart request (a request is at most 4096 bytes)


def cli(bay0, env, *args, timeout=300):
    r = subprocess.run([bay0, *args], capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit(f"bay0 {' '.join(args[:3])}...: {r.returncode} {r.stderr.strip()}")
    return r.stdout


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FastReader(threading.Thread):
    def __init__(self, bay0, env):
        super().__init__(daemon=True)
        self.proc = subprocess.Popen([bay0, "events", "--json"], stdout=subprocess.PIPE, env=env)
        first = json.loads(self.proc.stdout.readline())
        assert "subscribed_us" in first, first
        self.events, self.dropped = [], None
        self.mark_us, self.marked = None, threading.Event()

    def run(self):
        for line in self.proc.stdout:
            e = json.loads(line)
            if "dropped" in e:
                self.dropped = e
                break
            self.events.append(e)
            mark = self.mark_us
            if mark and e["unit"] == "s0000" and e["time_us"] > mark and e["from"] == "stopping":
                self.marked.set()  # every event before this one has been read
        self.marked.set()


class SlowReader(threading.Thread):
    def __init__(self, path, pause_s):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.sendall(b"events\n")
        self.pause_s, self.data, self.ended_s = pause_s, b"", None
        self.t0 = time.monotonic()

    def run(self):
        while True:
            chunk = self.sock.recv(4096)
            if not chunk:
                self.ended_s = time.monotonic() - self.t0
                return
            self.data += chunk
            time.sleep(self.pause_s)  # the point: a reader that does not keep up


def check_chains(events, status):
    """(lost, detail): events missing from the fast reader's stream."""
    last, restarts_seen = {}, {}
    breaks = 0
    for e in events:
        u = e["unit"]
        if u in last and last[u] != e["from"]:
            breaks += 1
        last[u] = e["to"]
        if e["from"] == "stopping" and e["to"] in ("starting", "up"):
            restarts_seen[u] = restarts_seen.get(u, 0) + 1
    missing = 0
    for name, row in status.items():
        want = row.get("restarts", 0) - row["_restarts_before"]
        missing += abs(want - restarts_seen.get(name, 0))
    return breaks, missing


def status_rows(bay0, env):
    return {r["name"]: r for r in json.loads(cli(bay0, env, "status", "--json"))}


def storm(bay0, env, names, seconds, nowait):
    t_end, rounds = time.monotonic() + seconds, 0
    extra = ["--nowait"] if nowait else []
    while time.monotonic() < t_end:
        for i in range(0, len(names), REQUEST_NAMES_MAX):
            cli(bay0, env, "restart", *extra, *names[i:i + REQUEST_NAMES_MAX])
        rounds += 1
    if nowait:  # the last round done: every service up again
        for i in range(0, len(names), REQUEST_NAMES_MAX):
            cli(bay0, env, "start", *names[i:i + REQUEST_NAMES_MAX])
    return rounds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--slow-read-ms", type=float, default=20)
    ap.add_argument("--nowait", action="store_true",
                    help="restart requests do not wait for the services to be up again")
    ap.add_argument("--bay0", default=os.path.join(TOP, "build", "bay0"))
    a = ap.parse_args()
    bay0 = os.path.abspath(a.bay0)
    base = tempfile.mkdtemp(prefix="bay0-bench-events-")
    scandir, rundir, logdir = (os.path.join(base, d) for d in ("sv", "run", "log"))
    names = [f"s{i:04d}" for i in range(a.services)]
    for n in names:
        os.makedirs(os.path.join(scandir, n))
        with open(os.path.join(scandir, n, "run"), "w") as f:
            f.write("#!/bin/sh\nexec sleep 100000\n")
        os.chmod(os.path.join(scandir, n, "run"), 0o755)
    os.makedirs(rundir)
    env = dict(os.environ, BAY0_RUNDIR=rundir)
    sup = subprocess.Popen([bay0, "supervise", "--scandir", scandir, "--rundir", rundir,
                            "--logdir", logdir], stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(base, "sup.err"), "wb"), env=env)
    try:
        t0 = time.monotonic()
        while subprocess.run([bay0, "status", "s0000"], capture_output=True,
                             env=env).returncode != 0:
            if time.monotonic() - t0 > 30:
                raise SystemExit("the supervisor did not answer in 30 s")
            time.sleep(0.05)
        for i in range(0, len(names), REQUEST_NAMES_MAX):
            cli(bay0, env, "start", *names[i:i + REQUEST_NAMES_MAX])
        before = status_rows(bay0, env)
        fast = FastReader(bay0, env)
        fast.start()
        slow = SlowReader(os.path.join(rundir, "control"), a.slow_read_ms / 1000)
        slow.start()
        cpu0, t_start = cpu_s(sup.pid), time.monotonic()
        rounds = storm(bay0, env, names, a.seconds, a.nowait)
        t_storm = time.monotonic() - t_start
        cpu1 = cpu_s(sup.pid)
        # the end of the stream: one more restart after the storm; once the
        # reader has its event, it has read every event before it
        fast.mark_us = time.clock_gettime_ns(time.CLOCK_BOOTTIME) // 1000
        cli(bay0, env, "restart", "s0000")
        if not fast.marked.wait(120):
            raise SystemExit("the fast reader never got the closing restart's event")
        after = status_rows(bay0, env)
        for name, row in after.items():
            row["_restarts_before"] = before[name].get("restarts", 0)
        breaks, missing = check_chains(fast.events, after)
        fast.proc.terminate()
        fast.proc.wait(10)
        slow_lines = slow.data.count(b"\n")
        slow_note = b'"dropped"' in slow.data
        n = len(fast.events)
        print(f"services {a.services}, storm {t_storm:.1f} s, {rounds} rounds of restarting "
              f"every service")
        print(f"fast reader: {n} events, {n / t_storm:.0f} events/s, dropped: "
              f"{'yes ' + json.dumps(fast.dropped) if fast.dropped else 'no'}")
        print(f"lost: {missing} restarts missing from the stream, {breaks} broken chains")
        print(f"slow reader ({a.slow_read_ms:g} ms per 4 KiB): "
              f"{'dropped after ' + str(slow_lines) + ' lines' if slow.ended_s else 'not dropped'}"
              f"{', the note reached it' if slow_note else ''}"
              f"{f' ({slow.ended_s:.1f} s in)' if slow.ended_s else ''}")
        print(f"supervisor CPU over the storm: {cpu1 - cpu0:.2f} s "
              f"({100 * (cpu1 - cpu0) / t_storm:.0f}% of one CPU)")
        return 0 if (missing == 0 and breaks == 0 and not fast.dropped) else 1
    finally:
        sup.terminate()
        try:
            sup.wait(60)
        except subprocess.TimeoutExpired:
            sup.kill()
            sup.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
