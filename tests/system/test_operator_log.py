"""`bay0 log` without a NAME (issue 16): every service's log merged by time,
like journalctl, with -n, --since, --json and -f; from the files alone when
no supervisor runs; with the output of `log/run` loggers whose directory
their log/run names (s6-log, svlogd, bay0 logger)."""
import json
import os
import select
import subprocess
import time

from conftest import BAY0, wait_for

TAI_OFFSET = (1 << 62) + 10


def tai64n(epoch_s, ns=0):
    return "@%016x%08x" % (TAI_OFFSET + epoch_s, ns)


def iso(epoch_s, us=0):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)) + ".%06dZ" % us


T0 = 1795900000  # 2026-11-28T18:26:40Z


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def tree(tmp_path):
    """A log directory and a scan directory written by hand: two built-in
    logs (one with an archive), an s6-log directory (TAI64N) named by a
    service's log/run, an unstamped line that takes its predecessor's time."""
    log, sv = tmp_path / "log", tmp_path / "sv"
    write(str(log / "web" / (tai64n(T0 + 3) + ".s")),
          f"{iso(T0 + 1)} web one\n{iso(T0 + 3)} web two\n")
    write(str(log / "web" / "current"), f"{iso(T0 + 6)} web three\n")
    write(str(log / "db" / "current"),
          f"{iso(T0 + 2)} db one\ncontinued without a stamp\n{iso(T0 + 5)} db two\n")
    write(str(sv / "queue" / "run"), "#!/bin/sh\nexec sleep 1000\n")
    write(str(sv / "queue" / "log" / "run"),
          "#!/bin/sh\n# s6 style\nexec s6-log -b n20 s1000000 t ./main\n")
    write(str(sv / "queue" / "log" / "main" / "current"),
          f"{tai64n(T0 + 4, 500000000)} queue one\n{tai64n(T0 + 7)} queue two\n")
    return str(log), str(sv)


def run(*args, env=None):
    return subprocess.run([BAY0, *args], capture_output=True, text=True, timeout=30,
                          env=env or dict(os.environ, BAY0_RUNDIR="/nonexistent-bay0-rundir"))


def test_merged_by_time_from_the_files(tmp_path):
    log, sv = tree(tmp_path)
    r = run("log", "-n", "100", "--logdir", log, "--scandir", sv)
    assert r.returncode == 0, r
    assert r.stdout.splitlines() == [
        f"{iso(T0 + 1)} web: web one",
        f"{iso(T0 + 2)} db: db one",
        f"{iso(T0 + 2)} db: continued without a stamp",
        f"{iso(T0 + 3)} web: web two",
        f"{iso(T0 + 4, 500000)} queue: queue one",
        f"{iso(T0 + 5)} db: db two",
        f"{iso(T0 + 6)} web: web three",
        f"{iso(T0 + 7)} queue: queue two",
    ], r.stdout
    # -n: the last lines of the merge
    r = run("log", "-n", "2", "--logdir", log, "--scandir", sv)
    assert r.stdout.splitlines() == [f"{iso(T0 + 6)} web: web three",
                                     f"{iso(T0 + 7)} queue: queue two"], r.stdout
    # --since: from that time on, all of them (archives named before it skipped)
    r = run("log", "--since", iso(T0 + 4), "--logdir", log, "--scandir", sv)
    assert [l.split(" ", 1)[1] for l in r.stdout.splitlines()] == [
        "queue: queue one", "db: db two", "web: web three", "queue: queue two"], r.stdout
    r = run("log", "--since", f"@{T0 + 6}", "-n", "1", "--logdir", log, "--scandir", sv)
    assert r.stdout.splitlines() == [f"{iso(T0 + 7)} queue: queue two"], r.stdout
    # --json: one object a line
    r = run("log", "--json", "-n", "2", "--logdir", log, "--scandir", sv)
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert rows == [
        {"time": iso(T0 + 6), "time_us": (T0 + 6) * 10**6, "service": "web", "line": "web three"},
        {"time": iso(T0 + 7), "time_us": (T0 + 7) * 10**6, "service": "queue", "line": "queue two"},
    ], rows
    # one service, through --json/--since too; and a logger's directory by name
    r = run("log", "--json", "--since", iso(T0), "--logdir", log, "--scandir", sv, "db")
    assert [json.loads(l)["line"] for l in r.stdout.splitlines()] == [
        "db one", "continued without a stamp", "db two"], r.stdout
    r = run("log", "--logdir", log, "--scandir", sv, "queue")
    assert r.returncode == 0 and "queue two" in r.stdout, r


def test_bad_since_is_a_usage_error(tmp_path):
    log, sv = tree(tmp_path)
    r = run("log", "--since", "last tuesday", "--logdir", log)
    assert r.returncode == 2 and "--since takes a time" in r.stderr, r


def test_logger_directories_from_log_run(tmp_path):
    """svlogd and bay0 logger name their directory last; s6-log's must start
    with / or . (its other arguments are directives); what is computed at
    run time is not guessed."""
    log, _ = tree(tmp_path)
    sv = tmp_path / "sv"
    absdir = tmp_path / "var" / "log" / "mail"
    write(str(sv / "mail" / "log" / "run"), f"#!/bin/sh\nexec svlogd -tt {absdir}\n")
    write(str(absdir / "current"), f"{time.strftime('%Y-%m-%d_%H:%M:%S', time.gmtime(T0 + 8))}"
                                   ".12345 mail one\n")
    write(str(sv / "cron" / "log" / "run"), "#!/bin/sh\nexec bay0 logger -t iso main\n")
    write(str(sv / "cron" / "log" / "main" / "current"), f"{iso(T0 + 9)} cron one\n")
    write(str(sv / "vary" / "log" / "run"), "#!/bin/sh\nexec s6-log t \"$LOGDIR\"\n")
    # bay0 as a build or a package names it (CI's musl run is bay0-static)
    write(str(sv / "at" / "log" / "run"), "#!/bin/sh\nexec /opt/bay0-static logger ./main\n")
    write(str(sv / "at" / "log" / "main" / "current"), f"{iso(T0 + 10)} at one\n")
    r = run("log", "-n", "4", "--logdir", log, "--scandir", str(sv))
    assert r.stdout.splitlines() == [
        f"{iso(T0 + 7)} queue: queue two",
        f"{iso(T0 + 8, 123450)} mail: mail one",
        f"{iso(T0 + 9)} cron: cron one",
        f"{iso(T0 + 10)} at: at one",
    ], r.stdout


def read_until(proc, needle, timeout=20.0):
    buf = ""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"no {needle!r} in {buf!r}"
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536).decode()
            assert chunk, f"log -f ended before {needle!r}: {buf!r}"
            buf += chunk
    return buf


def test_live_merge_follow_and_offline(sup):
    sup.service("a", run="echo a-started; exec sleep 1000")
    sup.service("b", run="echo b-started; exec sleep 1000")
    sup.logdir = os.path.join(sup.rundir, "log")  # the default: found without a supervisor
    sup.start()
    wait_for(lambda: "b-started" in sup.cli("log", "-n", "100").stdout and
             "a-started" in sup.cli("log", "-n", "100").stdout, what="both lines merged")
    out = sup.cli("log", "-n", "100").stdout
    assert " a: a-started" in out and " b: b-started" in out and " bay0: " in out, out
    stamps = [l.split(" ", 1)[0] for l in out.splitlines()]
    assert stamps == sorted(stamps), out

    # -f: new lines of every service, and of a service that appears later
    f = subprocess.Popen([BAY0, "log", "-f", "-n", "0"], stdout=subprocess.PIPE, env=sup.env)
    try:
        sup.cli("signal", "HUP", "a")  # sh dies of it: a restarts
        read_until(f, " a: a-started")
        sup.service("c", run="echo c-appeared; exec sleep 1000")
        sup.cli("reload")
        read_until(f, " c: c-appeared")
    finally:
        f.kill()
        f.wait()

    # no supervisor: the files in RUNDIR/log, said on stderr
    assert sup.stop() == 0
    r = sup.cli("log", "-n", "100", check=False)
    assert r.returncode == 0, r
    assert "no supervisor answered" in r.stderr and "reading the files" in r.stderr, r.stderr
    assert " c: c-appeared" in r.stdout and " a: a-started" in r.stdout, r.stdout


def test_name_with_a_log_run_logger_reads_its_directory(sup):
    sup.service("q", run="echo q-says-hello; exec sleep 1000",
                files={"log/run": f"#!/bin/sh\nexec {BAY0} logger -t tai64n ./main\n"})
    sup.start()
    wait_for(lambda: "q-says-hello" in sup.cli("log", "q", check=False).stdout,
             what="q's line through its logger")
    r = sup.cli("log", "q")
    assert r.stdout.startswith("@4000"), r.stdout  # as its logger wrote it
    out = sup.cli("log", "-n", "50").stdout
    assert " q: q-says-hello" in out, out


def test_follow_across_rotation_and_new_directories_from_the_files(tmp_path):
    """-f without a supervisor: appended lines, what is left of a rotated
    current and the new current, and a directory that appears in LOGDIR."""
    log, sv = tree(tmp_path)
    f = subprocess.Popen([BAY0, "log", "-f", "-n", "0", "--logdir", log, "--scandir", sv],
                         stdout=subprocess.PIPE,
                         env=dict(os.environ, BAY0_RUNDIR="/nonexistent-bay0-rundir"))
    try:
        cur = os.path.join(log, "db", "current")
        # the follower is watching once a line appended now comes through
        deadline = time.monotonic() + 20
        seen = ""
        n = 0
        while " db: ping" not in seen:
            assert time.monotonic() < deadline, seen
            with open(cur, "a") as w:
                w.write(f"{iso(T0 + 10)} ping {n}\n")
            n += 1
            ready, _, _ = select.select([f.stdout], [], [], 0.5)
            if ready:
                seen += os.read(f.stdout.fileno(), 65536).decode()
        with open(cur, "a") as w:
            w.write(f"{iso(T0 + 11)} last of the old file\n")
        os.rename(cur, os.path.join(log, "db", tai64n(T0 + 11) + ".s"))
        with open(cur, "w") as w:
            w.write(f"{iso(T0 + 12)} first of the new file\n")
        out = read_until(f, " db: first of the new file")
        assert " db: last of the old file" in out, out
        write(os.path.join(log, "newsvc", "current"), f"{iso(T0 + 13)} hello from new\n")
        read_until(f, " newsvc: hello from new")
    finally:
        f.kill()
        f.wait()
