"""Logging on the real binary: no line lost across service restarts and
log-writer kills, rotation, flooding, a full disk, s6-log as log/run,
`bay0 log`, `bay0 logger`, long lines."""
import calendar
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BAY0, comm, descendants, wait_for

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z ")


def log_files(d):
    """Archives oldest first, then current ([] before the first line)."""
    if not os.path.isdir(d):
        return []
    names = sorted(n for n in os.listdir(d) if n.startswith("@") and n.endswith(".s"))
    return [os.path.join(d, n) for n in names] + [os.path.join(d, "current")]


def log_lines(d):
    out = []
    for path in log_files(d):
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                out.extend(f.read().splitlines())
    return out


def writer_pid(sup):
    pids = [p for p in descendants(sup.proc.pid) if comm(p) == "bay0-logwriter"]
    return pids[0] if pids else None


def test_no_line_lost_across_restarts_and_writer_kills(sup, helpers, tmp_path):
    total = 1_000_000
    state = tmp_path / "numbered.state"
    # paced to take at least 5 s (5 ms per 1000 lines), so the restarts and
    # kills below land in the middle of the stream
    sup.service("count", run=f"exec {helpers}/numbered {state} {total} n 5000",
                files={"log-max-bytes": "1000000\n", "log-keep": "1000\n"})
    sup.start()
    d = os.path.join(sup.logdir, "count")
    wait_for(lambda: os.path.exists(os.path.join(d, "current")), what="first lines")
    restarts = kills = 0
    deadline = time.monotonic() + 120
    while (restarts < 5 or kills < 3) and time.monotonic() < deadline:
        done = state.exists() and int(state.read_text() or 0) >= total
        if done:
            break
        if kills < 3 and (restarts + kills) % 2 == 1:
            pid = writer_pid(sup)
            if pid:
                os.kill(pid, signal.SIGKILL)
                kills += 1
                wait_for(lambda: writer_pid(sup) not in (None, pid), what="writer restarted")
        else:
            sup.cli("restart", "count")
            restarts += 1
        time.sleep(0.05)
    assert restarts >= 3 and kills >= 2, (restarts, kills)  # the stream was long enough
    wait_for(lambda: state.exists() and int(state.read_text()) >= total, timeout=120,
             what="all lines written by the service")
    wait_for(lambda: sum(1 for _ in log_lines(d)) >= total, timeout=60, what="all lines logged")
    nums = []
    for line in log_lines(d):
        assert STAMP.match(line), line
        nums.append(int(line.split(" n ")[1]))
    assert len(nums) == total
    assert nums == list(range(total))
    assert "event=log-writer-died" in sup.log_text()


def test_rotation_keeps_n_files_under_limit(sup, helpers, tmp_path):
    sup.service("rot", run=f"exec {helpers}/numbered {tmp_path}/st 3000 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                files={"log-max-bytes": "20000\n", "log-keep": "3\n"})
    sup.start()
    d = os.path.join(sup.logdir, "rot")
    wait_for(lambda: any(l.endswith(" 2999") for l in log_lines(d)), what="last line")
    files = log_files(d)
    assert len(files) == 4, files  # exactly 3 archives + current
    for f in files:
        assert os.path.getsize(f) <= 20000, (f, os.path.getsize(f))
    names = [os.path.basename(f) for f in files[:-1]]
    assert all(re.fullmatch(r"@[0-9a-f]{24}\.s", n) for n in names), names
    nums = [int(l.rsplit(" ", 1)[1]) for l in log_lines(d)]
    assert nums == list(range(nums[0], 3000))  # the newest, without a gap


def test_flood_does_not_delay_another_service(sup, tmp_path):
    sup.service("flood", run="exec yes 'flooding flooding flooding flooding'",
                files={"log-max-bytes": "1000000\n", "log-keep": "2\n"})
    sup.service("calm", run="while :; do echo \"t=$(date +%s.%N)\"; sleep 0.1; done")
    sup.start()
    d = os.path.join(sup.logdir, "calm")
    wait_for(lambda: len(log_lines(d)) >= 20, timeout=20, what="20 calm lines")
    sup.cli("stop", "flood")
    delays = []
    for line in log_lines(d)[:20]:
        stamp, text = line.split(" ", 1)
        # the stamp is UTC ("Z"): timegm, never mktime (local time, an hour
        # off under DST)
        logged = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) \
            + float("0." + stamp[20:26])
        delays.append(logged - float(text[2:]))
    assert min(delays) >= 0, delays  # logged after it was written: catches a wrong offset
    assert max(delays) < 1.0, delays
    flood = [f for f in log_files(os.path.join(sup.logdir, "flood")) if os.path.exists(f)]
    assert sum(os.path.getsize(f) for f in flood) > 100000  # it did flood


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_disk_full_is_survived_and_reported(sup, helpers, tmp_path):
    os.makedirs(sup.logdir)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", sup.logdir], check=True)
    try:
        total = 20000
        state = tmp_path / "st"
        sup.service("full", run=f"exec {helpers}/numbered {state} {total} {'z' * 60}",
                    files={"log-max-bytes": "100000\n", "log-keep": "100\n"})
        sup.service("other")
        sup.start()
        # the service is never blocked by the full disk: it finishes
        wait_for(lambda: state.exists() and int(state.read_text()) == total, timeout=30,
                 what="service finished writing")
        wait_for(lambda: "event=log-write-failed" in sup.log_text(), what="failure logged")
        assert sup.svc("other")["state"] == "up"
        d = os.path.join(sup.logdir, "full")
        for f in log_files(d)[:-1]:
            os.unlink(f)  # space returns
        wait_for(lambda: "event=log-lines-lost" in sup.log_text(), timeout=10, what="loss reported")
        text = open(os.path.join(d, "current")).read()
        assert "lines (" in text and "were lost while the log could not be written" in text
        assert "event=log-write-recovered" in sup.log_text()
    finally:
        sup.stop()
        subprocess.run(["umount", "-l", sup.logdir])


@pytest.mark.skipif(not shutil.which("s6-log"), reason="s6-log (Debian package s6) not installed")
def test_log_run_with_s6_log(sup, helpers, tmp_path):
    total = tmp_path / "total"
    total.write_text("500")
    sup.service("s6logged", run=f"exec {helpers}/numbered {tmp_path}/st $(cat {total})",
                files={"log/run": "#!/bin/sh\nexec s6-log -bp -- n20 s1000000 ./main\n"})
    sup.start()
    cur = os.path.join(sup.scandir, "s6logged", "log", "main", "current")

    def lines():
        return open(cur).read().splitlines() if os.path.exists(cur) else []
    wait_for(lambda: len(lines()) == 500, what="s6-log lines")
    assert lines() == [f"n {i}" for i in range(500)]
    st = sup.status()
    assert st["s6logged/log"]["state"] == "up" and st["s6logged/log"]["type"] == "logger"
    logger_pid = st["s6logged/log"]["pid"]
    # the logger outlives a restart of its service; the new instance goes
    # on from 500 (numbered saves its count on SIGTERM): no line lost
    total.write_text("1000")
    sup.cli("restart", "s6logged")
    wait_for(lambda: len(lines()) >= 1000, what="lines after the restart")
    assert lines() == [f"n {i}" for i in range(1000)]
    assert sup.svc("s6logged/log")["pid"] == logger_pid


def test_log_command_tail_and_follow(sup, tmp_path):
    sup.service("tick", run="i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done",
                files={"log-max-bytes": "16384\n", "log-keep": "5\n"})
    sup.start()
    d = os.path.join(sup.logdir, "tick")
    wait_for(lambda: len(log_files(d)) >= 2, timeout=60, what="a rotation")
    out = sup.cli("log", "-n", "3", "tick").stdout.splitlines()
    assert len(out) == 3 and all(STAMP.match(l) for l in out)
    nums = [int(l.rsplit(" ", 1)[1]) for l in out]
    assert nums == [nums[0], nums[0] + 1, nums[0] + 2]
    # more lines than current holds: reads into the archives, in order
    many = sup.cli("log", "-n", "400", "tick").stdout.splitlines()
    nums = [int(l.rsplit(" ", 1)[1]) for l in many]
    assert len(nums) == 400 and nums == list(range(nums[0], nums[0] + 400))
    p = subprocess.Popen([BAY0, "log", "-f", "-n", "0", "tick"], stdout=subprocess.PIPE,
                         text=True, env=sup.env)
    try:
        got = [p.stdout.readline() for _ in range(5)]
        nums = [int(l.rsplit(" ", 1)[1]) for l in got]
        assert nums == list(range(nums[0], nums[0] + 5))
    finally:
        p.kill()
        p.wait()
    assert sup.cli("log", "nosuch", check=False).returncode == 1


def test_bay0_own_log_file(sup):
    sup.service("x")
    sup.start()
    sup.wait_state("x", "up")
    cur = os.path.join(sup.logdir, "bay0", "current")
    wait_for(lambda: os.path.exists(cur) and "svc=x event=started" in open(cur).read(),
             what="own log")
    assert "event=supervisor-started" in open(cur).read()
    assert "event=supervisor-started" in sup.cli("log", "-n", "1000", "bay0").stdout


def test_long_lines_split_and_marked(sup, tmp_path):
    sup.service("long", run="head -c 20000 /dev/zero | tr '\\0' a; echo; echo short\nexec sleep 1000")
    sup.start()
    d = os.path.join(sup.logdir, "long")
    wait_for(lambda: any(l.endswith(" short") for l in log_lines(d)), what="lines")
    lines = log_lines(d)
    assert len(lines) == 4
    texts = [l.split(" ", 1)[1] for l in lines]
    assert texts[0] == "a" * 8192
    assert texts[1] == "[...] " + "a" * 8192
    assert texts[2] == "[...] " + "a" * (20000 - 2 * 8192)
    assert texts[3] == "short"


def test_bay0_logger_standalone(tmp_path):
    want = [f"line {i} {'y' * 50}" for i in range(5000)]
    data = "".join(w + "\n" for w in want).encode()  # 305 KB: many reads
    # no rotation: every line, exactly, in order
    d = tmp_path / "all"
    r = subprocess.run([BAY0, "logger", "-s", "10000000", str(d)], input=data)
    assert r.returncode == 0
    lines = log_lines(str(d))
    assert all(STAMP.match(l) for l in lines)
    assert [l.split(" ", 1)[1] for l in lines] == want
    # rotation keeps 4 archives under 20000 bytes: the newest lines, no gap
    d = tmp_path / "logs"
    r = subprocess.run([BAY0, "logger", "-s", "20000", "-n", "4", str(d)], input=data)
    assert r.returncode == 0
    files = log_files(str(d))
    assert len(files) == 5
    assert all(os.path.getsize(f) <= 20000 for f in files)
    texts = [l.split(" ", 1)[1] for l in log_lines(str(d))]
    assert all(os.path.getsize(f) > 10000 for f in files[:-1])  # archives are full
    assert texts == want[-len(texts):]
    r = subprocess.run([BAY0, "logger", "-t", "tai64n", str(tmp_path / "t")], input=b"hello\n")
    assert re.fullmatch(r"@[0-9a-f]{24} hello\n", open(tmp_path / "t" / "current").read())
    assert subprocess.run([BAY0, "logger"], capture_output=True).returncode == 2
