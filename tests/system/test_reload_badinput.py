"""reload, and malformed service directories: each bad one shows `failed`
with a reason naming the file, and every other service runs."""
import os
import shutil
import signal
import time

from conftest import pid_alive, wait_for, write_file


def test_reload_adds_removes_and_restarts_only_changed(sup):
    for n in ("keep", "change", "gone"):
        sup.service(n)
    sup.start()
    before = {n: sup.wait_state(n, "up")["pid"] for n in ("keep", "change", "gone")}
    sup.service("new")
    sup.service("new-down", files={"down": ""})
    shutil.rmtree(os.path.join(sup.scandir, "gone"))
    time.sleep(0.01)  # make sure the mtime differs
    write_file(os.path.join(sup.scandir, "change", "run"), "#!/bin/sh\nexec sleep 999\n", 0o755)
    r = sup.cli("reload")
    assert "added=2" in r.stderr and "removed=1" in r.stderr and "restarted=1" in r.stderr
    st = sup.status()
    assert st["keep"]["pid"] == before["keep"]
    s = sup.wait_state("change", "up")
    assert s["pid"] != before["change"] and s["restarts"] == 1
    assert sup.wait_state("new", "up")["pid"]
    assert st["new-down"]["state"] == "down"
    wait_for(lambda: "gone" not in sup.status(), what="gone removed")
    assert not pid_alive(before["gone"])


def test_reload_fixes_a_broken_service(sup):
    sup.service("later", run=None)
    sup.start()
    assert "run: missing" in sup.wait_state("later", "failed")["reason"]
    write_file(os.path.join(sup.scandir, "later", "run"), "#!/bin/sh\nexec sleep 1000\n", 0o755)
    sup.cli("reload")
    assert sup.wait_state("later", "up")["reason"] is None


def test_bad_service_directories(sup):
    sup.service("good")
    sup.service("norun", run=None)
    d = sup.service("noexec")
    os.chmod(os.path.join(d, "run"), 0o644)
    d = sup.service("unreadable")
    os.makedirs(os.path.join(d, "timeout-kill"))  # a directory where a number should be
    sup.service("badnum", files={"timeout-kill": "soon\n"})
    sup.service("badsig", files={"down-signal": "SIGWHAT\n"})
    sup.service("badtype", files={"type": "sometimes\n"})
    sup.service("badlimit", files={"restart-limit": "ten\n"})
    sup.service("badfd", files={"notification-fd": "1\n"})
    sup.service("bad name")
    sup.service("x" * 70)
    os.makedirs(os.path.join(sup.scandir, ".hidden"))
    write_file(os.path.join(sup.scandir, "plainfile"), "not a dir")
    sup.start()
    assert sup.wait_state("good", "up")
    st = sup.status()
    expect = {
        "norun": "run: missing",
        "noexec": "run: not executable",
        "unreadable": "timeout-kill: cannot read",
        "badnum": "timeout-kill: not a number",
        "badsig": "down-signal: unknown signal",
        "badtype": "type: unknown value",
        "badlimit": "restart-limit: expected",
        "badfd": "notification-fd: 1 is stdin",
        "bad?name": "invalid service name",
    }
    for name, reason in expect.items():
        assert st[name]["state"] == "failed", (name, st[name])
        assert reason in st[name]["reason"], (name, st[name]["reason"])
        assert f"svc={name} event=config-error" in sup.log_text()
    long = [n for n in st if n.startswith("xxxx")]
    assert len(long) == 1 and long[0].endswith("...")
    assert "too long" in st[long[0]]["reason"]
    assert ".hidden" not in st and "plainfile" not in st
    assert st["good"]["state"] == "up"
    # `start` on a broken service says why and exits 1
    r = sup.cli("start", "norun", check=False)
    assert r.returncode == 1 and "run: missing" in r.stderr


def test_fifo_in_service_dir_does_not_hang(sup):
    d = sup.service("fifo")
    os.mkfifo(os.path.join(d, "timeout-kill"))
    sup.service("good")
    sup.start()
    assert sup.wait_state("good", "up")
    s = sup.svc("fifo")
    assert s["state"] == "failed" and "timeout-kill: cannot read" in s["reason"]


def test_missing_interpreter_ends_failed(sup):
    sup.service("noint", run="#!/nonexistent/interpreter\n", script=False,
                files={"restart-limit": "3 60\n"})
    sup.start()
    s = sup.wait_state("noint", "failed", timeout=10)
    assert "cannot start run" in s["reason"] and "restart limit" in s["reason"]


def test_sighup_rescans(sup):
    sup.service("a")
    sup.start()
    sup.service("b")
    sup.proc.send_signal(signal.SIGHUP)
    assert sup.wait_state("b", "up")
    assert sup.proc.poll() is None
