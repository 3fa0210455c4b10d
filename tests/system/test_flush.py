"""Durability of critical state writes: they run at raised I/O priority,
and a shutdown (power-off, reboot, halt as PID 1) that arrives during one
waits, bounded, until it is done.

The slow flush is a write to a persist directory on a FUSE mount whose
server never answers (the hung_persist fixture of test_state_hang.py): the
flush child blocks there until its own deadline (1 s) ends it."""
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import BAY0, descendants, wait_for
from test_state_hang import hung_persist  # noqa: F401  (a fixture)


def ionice_of(pid):
    r = subprocess.run(["ionice", "-p", str(pid)], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def test_flush_runs_at_realtime_io_priority(hung_persist, tmp_path):  # noqa: F811
    env = dict(os.environ, BAY0_PERSIST_DIR=str(hung_persist))
    with open(tmp_path / "err", "w") as fe:
        p = subprocess.Popen([BAY0, "state-debug", "shutdown", "--timeout-ms", "3000"],
                             env=env, stdout=fe, stderr=fe)
        try:
            # the bounded child raises its priority, then blocks on the disk
            prio = wait_for(lambda: next((x for c in descendants(p.pid)
                                          if (x := ionice_of(c)) and x != "none: prio 0"), None),
                            timeout=5, what="the flush child's I/O priority")
            assert prio == "realtime: prio 0"
            assert ionice_of(p.pid) != "realtime: prio 0"  # PID 1's side is left alone
        finally:
            p.wait(timeout=30)


def start_supervisor(tmp_path, persist):
    scandir = tmp_path / "sv"
    scandir.mkdir()
    env = dict(os.environ, BAY0_PERSIST_DIR=str(persist), BAY0_CHECKPOINT_INTERVAL_MS="500",
               BAY0_GOVERNOR="off")
    err = open(tmp_path / "bay0.stderr", "w")
    proc = subprocess.Popen([BAY0, "supervise", "--verbose", "--scandir", str(scandir),
                             "--rundir", str(tmp_path / "run"), "--logdir", str(tmp_path / "log")],
                            env=env, stdout=err, stderr=err)
    return proc, tmp_path / "bay0.stderr", env


def shutdown(tmp_path, env):
    r = subprocess.run([BAY0, "shutdown", "--rundir", str(tmp_path / "run")],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr


def test_shutdown_waits_for_a_slow_flush(hung_persist, tmp_path):  # noqa: F811
    proc, log, env = start_supervisor(tmp_path, hung_persist)
    try:
        m = wait_for(lambda: re.search(r"event=checkpoint pid=(\d+)", log.read_text()),
                     timeout=10, what="a last-good-time flush to start")
        shutdown(tmp_path, env)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    pid = m.group(1)
    assert f"event=shutdown-waits-for-flush pid={pid} what=last-good-time" in text, text
    # the flush child ended (its own deadline on the hung disk) before the
    # supervisor stopped: nothing cut it off in the middle
    done = text.index(f"event=flush-done pid={pid}")
    child_end = text.index("event=state-op op=last-good-time result=timed-out")
    stopped = text.index("event=supervisor-stopped")
    assert child_end < done < stopped
    assert "flush-inhibit-expired" not in text


def test_shutdown_waits_for_a_flush_only_so_long(hung_persist, tmp_path):  # noqa: F811
    """A flush child that never ends (stopped) holds the shutdown back for
    the bound (2 s), not forever."""
    proc, log, env = start_supervisor(tmp_path, hung_persist)
    stopped_pid = None
    try:
        m = wait_for(lambda: re.search(r"event=checkpoint pid=(\d+)", log.read_text()),
                     timeout=10, what="a last-good-time flush to start")
        stopped_pid = int(m.group(1))
        os.kill(stopped_pid, signal.SIGSTOP)
        t0 = time.monotonic()
        shutdown(tmp_path, env)
        proc.wait(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        if stopped_pid:
            try:
                os.kill(stopped_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert f"event=flush-inhibit-expired pid={stopped_pid} what=last-good-time bound_ms=2000" in text
    assert elapsed < 2.0 + 3.0, elapsed  # the bound plus a loaded machine's slack
    assert text.index("flush-inhibit-expired") < text.index("event=supervisor-stopped")
