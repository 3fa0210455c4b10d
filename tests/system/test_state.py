"""System tests of the state module through the real bay0 binary.

- kill -9 in the middle of thousands of state writes, many times over: the
  database passes integrity_check and each intent holds the last committed
  value or the one in flight, never a mix;
- `bay0 nack` and `bay0 genesis` as an operator uses them (exit codes,
  --json, a tampered genesis line named);
- a corrupt database is moved aside and the command carries on.

Each test gets its own persist root through BAY0_PERSIST_DIR.
"""
import datetime
import json
import os
import pathlib
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time

import pytest

BAY0 = os.environ.get("BAY0", "build/bay0")
KILL_ROUNDS = 25
KEYS = 4


@pytest.fixture
def persist(tmp_path):
    root = tmp_path / "persist"
    root.mkdir()
    return root


def run(persist, *args, timeout=30):
    env = dict(os.environ, BAY0_PERSIST_DIR=str(persist))
    return subprocess.run([BAY0, *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def wait_for(pred, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.005)
    raise AssertionError("timed out waiting for " + what)


def last_committed(out_path):
    text = out_path.read_text()
    start, committed = None, None
    for line in text.splitlines():
        if line.startswith("start "):
            start = int(line.split()[1])
        elif line.startswith("committed "):
            committed = int(line.split()[1])
    return start, committed


def check_db(db_path):
    con = sqlite3.connect(str(db_path))
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counter = int(con.execute(
            "SELECT value FROM meta WHERE key='debug_counter'").fetchone()[0])
        images = [r[0] for r in con.execute(
            "SELECT image FROM personas WHERE name LIKE 'p://dbg%'")]
        up = con.execute(
            "SELECT up FROM service_desired WHERE name='dbg'").fetchone()[0]
    finally:
        con.close()
    assert images == ["v%d" % counter] * KEYS, (counter, images)
    assert up == counter % 2
    return counter


def test_kill9_during_writes_keeps_old_or_new(persist, tmp_path):
    rng = random.Random(int(os.environ.get("BAY0_TEST_SEED", "8")))
    env = dict(os.environ, BAY0_PERSIST_DIR=str(persist))
    db_path = persist / "spine" / "state.db"
    total_writes = 0
    prev = 0
    for round_no in range(KILL_ROUNDS):
        out = tmp_path / ("loop-%d.out" % round_no)
        with open(out, "w") as f:
            p = subprocess.Popen(
                [BAY0, "state-debug", "write-loop", "--count", "100000000",
                 "--keys", str(KEYS)],
                env=env, stdout=f, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: "start " in out.read_text(), 10, "write-loop start")
            # Random moment: lands before, inside and after commits alike.
            time.sleep(rng.uniform(0.02, 0.25))
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)
        assert p.returncode == -signal.SIGKILL
        start, acked = last_committed(out)
        assert start == prev, "resumed from the last committed value"
        acked = start if acked is None else acked
        counter = check_db(db_path)
        assert counter in (acked, acked + 1), (round_no, acked, counter)
        total_writes += counter - start
        prev = counter
    assert total_writes >= 1000, "thousands of writes were interrupted"
    # bay0 itself opens it cleanly afterwards (not "recovered").
    r = run(persist, "state-debug", "open")
    assert r.returncode == 0
    assert r.stdout.startswith("result=ok"), r.stdout + r.stderr


def test_nack_cli_round_trip(persist):
    t0_ms = int(time.time() * 1000)
    assert run(persist, "nack", "list").stdout == ""
    r = run(persist, "nack", "add", "sha256:c0ffee", "--reason",
            "upgrade rolled back: \"boot\" failed")
    assert r.returncode == 0, r.stderr
    assert run(persist, "nack", "add", "deadbeef").returncode == 0
    r = run(persist, "nack", "list", "--json")
    assert r.returncode == 0
    entries = json.loads(r.stdout)
    assert [e["hash"] for e in entries] == ["sha256:c0ffee", "deadbeef"]
    assert entries[0]["reason"] == "upgrade rolled back: \"boot\" failed"
    # wall-clock ms of the add: between the test's start and now
    assert t0_ms - 1000 <= entries[0]["added_ms"] <= time.time() * 1000 + 1000, entries
    # the same instant as an ISO 8601 UTC time, in --json and in the table
    added = entries[0]["added"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", added), added
    assert abs(datetime.datetime.strptime(added, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000 - entries[0]["added_ms"]) < 1, added
    r = run(persist, "nack", "list")
    assert r.stdout.splitlines()[1].startswith("deadbeef\t")
    assert r.stdout.splitlines()[0].split("\t")[1] == added, r.stdout
    assert run(persist, "nack", "rm", "deadbeef").returncode == 0
    r = run(persist, "nack", "rm", "deadbeef")
    assert r.returncode == 1
    assert "deadbeef" in r.stderr
    assert [e["hash"] for e in json.loads(
        run(persist, "nack", "list", "--json").stdout)] == ["sha256:c0ffee"]


@pytest.mark.parametrize("args", [
    ["nack"], ["nack", "frob"], ["nack", "add"], ["nack", "add", "a b"],
    ["nack", "list", "--bogus"], ["nack", "add", "x", "--reason"],
    ["genesis"], ["genesis", "verify", "extra"], ["genesis", "append"],
])
def test_usage_errors_exit_2(persist, args):
    r = run(persist, *args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stderr != ""


def test_genesis_cli_catches_edited_middle_line(persist):
    for i in range(1, 21):
        assert run(persist, "genesis", "append", "event %d" % i).returncode == 0
    r = run(persist, "genesis", "verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "intact, 20 lines" in r.stdout
    log = persist / "spine" / "genesis.log"
    lines = log.read_text().splitlines(keepends=True)
    lines[9] = lines[9].replace("event 10", "event 99")
    log.write_text("".join(lines))
    r = run(persist, "genesis", "verify")
    assert r.returncode == 1
    assert "line 10 " in r.stdout
    rep = json.loads(run(persist, "genesis", "verify", "--json").stdout)
    assert rep["intact"] is False
    assert rep["first_broken_line"] == 10
    assert rep["lines"] == 20


def test_genesis_verify_file_option_and_missing(persist, tmp_path):
    other = tmp_path / "other.log"
    assert run(persist, "genesis", "append", "--file", str(other),
               "hello").returncode == 0
    rep = json.loads(run(persist, "genesis", "verify", "--file", str(other),
                         "--json").stdout)
    assert rep == {"file": str(other), "lines": 1, "intact": True}
    r = run(persist, "genesis", "verify", "--file", str(tmp_path / "nope"))
    assert r.returncode == 1


def test_boot_shutdown_write_genesis_and_seed(persist):
    r = run(persist, "state-debug", "boot", "--timeout-ms", "5000")
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
    assert "event=state-op op=boot result=ok elapsed_ms=" in r.stderr
    seed1 = (persist / "spine" / "random-seed").read_bytes()
    r = run(persist, "state-debug", "shutdown", "--timeout-ms", "5000")
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
    seed2 = (persist / "spine" / "random-seed").read_bytes()
    assert len(seed1) == len(seed2) == 512
    assert seed1 != seed2
    r = run(persist, "genesis", "verify")
    assert r.returncode == 0 and "intact, 2 lines" in r.stdout
    text = (persist / "spine" / "genesis.log").read_text()
    assert " boot db=ok schema=" in text and " shutdown h=" in text


def test_corrupt_db_moved_aside_and_work_goes_on(persist):
    spine = persist / "spine"
    spine.mkdir()
    (spine / "state.db").write_bytes(b"\x00garbage" * 1000)
    r = run(persist, "nack", "add", "abc123")
    assert r.returncode == 0, r.stderr
    assert "event=db-moved-aside" in r.stderr
    aside = [p.name for p in spine.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1
    assert (spine / aside[0]).read_bytes() == b"\x00garbage" * 1000
    r = run(persist, "state-debug", "boot", "--timeout-ms", "5000")
    assert r.stdout == "ok\n"
    assert "abc123" in run(persist, "nack", "list").stdout


def test_seed_credited_as_root_mixed_without_privilege(persist, tmp_path):
    """RNDADDENTROPY needs CAP_SYS_ADMIN: root credits the seed, an ordinary
    user falls back to mixing it in through /dev/urandom. Both rewrite it."""
    if os.geteuid() != 0:
        pytest.skip("needs root to compare with an unprivileged user")
    run(persist, "state-debug", "boot", "--timeout-ms", "5000")
    r = run(persist, "state-debug", "boot", "--timeout-ms", "5000")
    assert "event=seed how=credited bytes=512" in r.stderr, r.stderr
    # pytest's tmp_path is not searchable by others: use /tmp directly.
    user_root = pathlib.Path(tempfile.mkdtemp(prefix="bay0-nobody-"))
    try:
        os.chmod(user_root, 0o755)
        os.chown(user_root, 65534, 65534)
        env = dict(os.environ, BAY0_PERSIST_DIR=str(user_root))
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
               BAY0, "state-debug", "boot", "--timeout-ms", "5000"]
        for _ in range(2):
            r = subprocess.run(cmd, env=env, capture_output=True, text=True,
                               timeout=30)
            if r.returncode == 127 or "setpriv: failed to execute" in r.stderr:
                pytest.skip("user nobody cannot execute %s" % BAY0)
            assert r.stdout == "ok\n", r.stderr
        assert "event=seed how=mixed bytes=512" in r.stderr, r.stderr
    finally:
        shutil.rmtree(user_root)


def test_clock_behind_last_good_is_detected(tmp_path):
    """A last-known-good time in the future means the clock is behind. The
    test must not move this machine's clock, so bay0 runs without
    CAP_SYS_TIME (as nobody, sys_time dropped from the bounding set): it
    detects and logs the gap and records clock=behind-unset; with the
    capability (PID 1 in the VM) the same path sets the clock forward."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run bay0 as nobody without CAP_SYS_TIME")
    user_root = pathlib.Path(tempfile.mkdtemp(prefix="bay0-clock-"))
    try:
        os.chmod(user_root, 0o755)
        os.chown(user_root, 65534, 65534)
        env = dict(os.environ, BAY0_PERSIST_DIR=str(user_root))
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
               "--bounding-set=-sys_time", "--inh-caps=-all",
               BAY0, "state-debug", "boot", "--timeout-ms", "5000"]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           timeout=30)
        if r.returncode == 127 or "setpriv: failed to execute" in r.stderr:
            pytest.skip("user nobody cannot execute %s" % BAY0)
        assert r.stdout == "ok\n", r.stderr
        future_ms = int(time.time() * 1000) + 86400 * 1000
        con = sqlite3.connect(str(user_root / "spine" / "state.db"))
        con.execute("UPDATE meta SET value=? WHERE key='last_good_time_ms'",
                    (str(future_ms),))
        con.commit()
        con.close()
        before = time.time()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           timeout=30)
        assert r.stdout == "ok\n", r.stderr
        assert "event=clock-behind behind_ms=" in r.stderr, r.stderr
        assert abs(time.time() - before) < 60, "the clock was not moved"
        text = (user_root / "spine" / "genesis.log").read_text()
        assert "clock=behind-unset" in text.splitlines()[-1]
        con = sqlite3.connect(str(user_root / "spine" / "state.db"))
        kept = con.execute("SELECT value FROM meta WHERE "
                           "key='last_good_time_ms'").fetchone()[0]
        con.close()
        assert int(kept) == future_ms, "last-good time never goes backwards"
    finally:
        shutil.rmtree(user_root)
