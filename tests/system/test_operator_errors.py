"""Errors a new user meets name the object, the problem and what to do
(issue 16): unknown service names with a suggestion, a missing #!
interpreter, wrong arguments to stop/signal/log, --persist on a host
without /persist. The message text is part of the interface: these
tests check its key words."""
import os

from conftest import wait_for


def test_unknown_names_say_no_such_service_and_suggest(sup):
    sup.service("clock")
    sup.start()
    sup.wait_state("clock", "up")
    for args in (["stop", "clok"], ["start", "clok"], ["restart", "clok"],
                 ["signal", "TERM", "clok"], ["status", "clok"], ["log", "clok"]):
        r = sup.cli(*args, check=False)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert "no such service: clok; did you mean clock?" in r.stderr, (args, r.stderr)
    # nothing close: no guess, a pointer to the list instead
    r = sup.cli("stop", "zzzzzz", check=False)
    assert "no such service: zzzzzz (bay0 status lists them)" in r.stderr, r.stderr
    assert "did you mean" not in r.stderr
    # a service that exists but has not written: not "no such service"
    r = sup.cli("log", "clock", check=False)
    assert r.returncode == 1 and "clock has written nothing yet" in r.stderr, r.stderr


def test_missing_interpreter_is_named(sup):
    sup.service("bad", run="#!/bin/bsh\nexec sleep 1000\n", script=False)
    sup.start()
    # the reason read once (between deaths it may be another or none)
    reason = wait_for(lambda: (r := (sup.svc("bad") or {}).get("reason") or "") and
                      "bsh" in r and r, what="reason")
    assert "#! interpreter /bin/bsh does not exist" in reason, reason


def test_wrong_arguments_say_what_is_wrong(sup):
    sup.service("clock")
    sup.start()
    r = sup.cli("stop", check=False)
    assert r.returncode == 2 and "bay0 stop: which service?" in r.stderr, r.stderr
    r = sup.cli("signal", "FOO", "clock", check=False)
    assert r.returncode == 2 and "'FOO' is not a signal" in r.stderr, r.stderr
    r = sup.cli("signal", "TERM", check=False)
    assert r.returncode == 2 and "which service?" in r.stderr, r.stderr
    r = sup.cli("log", "a", "b", check=False)
    assert r.returncode == 2 and "'b' after 'a' is one too many" in r.stderr, r.stderr
    r = sup.cli("log", "a", "b", "c", check=False)
    assert r.returncode == 2 and "without a NAME, every service's log" in r.stderr, r.stderr
    assert sup.svc("clock")["state"] == "up"


def test_persist_without_persist_dir_names_the_variable(sup, tmp_path):
    if os.path.isdir("/persist/spine"):
        import pytest
        pytest.skip("this host has /persist/spine: --persist would succeed")
    sup.service("clock")
    sup.start()
    env_had = sup.env.pop("BAY0_PERSIST_DIR", None)
    try:
        r = sup.cli("stop", "--persist", "clock", check=False)
    finally:
        if env_had is not None:
            sup.env["BAY0_PERSIST_DIR"] = env_had
    assert r.returncode in (1, 3), r
    assert "BAY0_PERSIST_DIR" in r.stderr, r.stderr


def test_start_timeout_names_the_service_its_readiness_and_since_when(sup):
    # never writes to its notification-fd: never ready
    sup.service("x", files={"notification-fd": "3\n"})
    sup.start()
    sup.wait_state("x", "starting")
    # status says what a starting service waits for
    r = sup.cli("status", "x", check=False)
    assert "waiting for readiness on notification-fd 3" in r.stdout, r.stdout
    r = sup.cli("start", "--timeout", "1", "x", check=False)
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "waiting for the supervisor" not in r.stderr, r.stderr
    assert "bay0 start: timed out after 1 s: x is not ready: starting since 20" in r.stderr, r.stderr
    assert "notification-fd 3" in r.stderr and "bay0 log x" in r.stderr, r.stderr


def test_restart_limit_none_and_counts_above_32_are_accepted(sup):
    sup.service("many", files={"restart-limit": "100 60\n"})
    sup.service("forever", files={"restart-limit": "none\n"})
    sup.service("bad", files={"restart-limit": "256 60\n"})
    sup.start()
    sup.wait_state("many", "up")
    sup.wait_state("forever", "up")
    sup.wait_state("bad", "failed")
    reason = sup.svc("bad")["reason"]
    assert "COUNT 1-255" in reason and "'none'" in reason, reason
    # `forever` is restarted after a death (the unit test
    # test_restart_limit_none_restarts_forever covers 520 deaths: the
    # backoff makes that too slow here)
    for _ in range(2):
        pid = sup.svc("forever")["pid"]
        sup.cli("signal", "KILL", "forever")
        wait_for(lambda: (sup.svc("forever") or {}).get("pid") not in (None, pid)
                 and sup.svc("forever")["state"] == "up", timeout=20, what="restart")
    assert sup.svc("forever")["state"] == "up"


def _run_on_pty(sup, *args):
    """bay0 with stderr on a terminal (a pty): what a person sees."""
    import pty
    import select
    import subprocess
    from conftest import BAY0
    master, slave = pty.openpty()
    p = subprocess.Popen([BAY0, *args], stdout=subprocess.DEVNULL, stderr=slave, env=sup.env)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        assert ready, f"no end of bay0 {args} on the pty: {out!r}"
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return p.wait(30), out.decode(errors="replace")


def test_long_start_shows_progress_on_a_terminal_only(sup):
    sup.service("x", files={"notification-fd": "3\n"})  # never ready
    sup.start()
    sup.wait_state("x", "starting")
    rc, seen = _run_on_pty(sup, "start", "--timeout", "4", "x")
    assert rc == 3, (rc, seen)
    import re
    assert re.search(r"bay0 start: waiting [23] s \(of 4\): x starting since", seen), seen
    assert "waiting for readiness on notification-fd 3" in seen, seen
    assert "\r\x1b[K" in seen, seen  # rewritten in place, erased at the end
    # not a terminal: the same command prints no progress line
    r = sup.cli("start", "--timeout", "3", "x", check=False)
    assert r.returncode == 3 and "bay0 start: waiting" not in r.stderr and "\r" not in r.stderr, r.stderr
    assert "x is not ready" in r.stderr, r.stderr
