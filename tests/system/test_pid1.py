"""bay0 as PID 1 of a new PID + mount namespace (`unshare --pid --fork
--mount`): the same init path as the VM (genesis lines, dirty boot, the
persist mount, reaping, the final sequence), with a scan directory of test
services. The VM suite (tests/vm) covers the real kernel.

Fixtures are local to this file (tests/system/conftest.py is the lead's).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

BAY0 = os.environ.get("BAY0") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bay0")
# A label no real disk has, so that the label scan of the host's block
# devices finds nothing (or exactly the loop device a test made).
NO_LABEL = "bay0-none-%d" % os.getpid()

from conftest import wait_for  # noqa: E402  (one poller for all system tests)


class Pid1:
    """bay0 init as PID 1 of a fresh PID + mount namespace."""

    def __init__(self, root):
        self.root = root
        self.scandir = os.path.join(root, "sv")
        self.rundir = os.path.join(root, "run")
        self.logdir = os.path.join(root, "log")
        self.persist = os.path.join(root, "persist")
        self.out_path = os.path.join(root, "console.log")
        for d in (self.scandir, self.persist):
            os.makedirs(d, exist_ok=True)
        self.proc = None

    def service(self, name, run, files=None):
        d = os.path.join(self.scandir, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "run"), "w") as f:
            f.write(run)
        os.chmod(os.path.join(d, "run"), 0o755)
        for fname, content in (files or {}).items():
            with open(os.path.join(d, fname), "w") as f:
                f.write(content)

    def start(self, cmdline="", label=NO_LABEL):
        cmdline = "bay0.persist_label=%s bay0.persist_timeout_ms=1500 %s" % (
            label, cmdline)
        self.out = open(self.out_path, "wb")
        env = dict(os.environ, BAY0_PERSIST_DIR=self.persist)
        env.pop("container", None)
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount", "--mount-proc",
             "--kill-child", BAY0, "init", "--scandir", self.scandir,
             "--rundir", self.rundir, "--logdir", self.logdir,
             "--cmdline", cmdline],
            stdout=self.out, stderr=subprocess.STDOUT, env=env)
        return self

    def text(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_line(self, pattern, timeout=20):
        return wait_for(lambda: re.search(pattern, self.text()), timeout,
                        interval=0.05, what="/%s/ on the console" % pattern)

    def init_pid(self):
        """Host PID of bay0 (PID 1 inside): the child of unshare."""
        def child():
            try:
                with open("/proc/%d/task/%d/children" % (self.proc.pid,
                                                         self.proc.pid)) as f:
                    kids = f.read().split()
                return int(kids[0]) if kids else None
            except OSError:
                return None
        return wait_for(child, 10, what="bay0 under unshare")

    def cli(self, *args, user=None, timeout=60):
        cmd = [BAY0, *args, "--rundir", self.rundir]
        if user:
            cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user,
                   "--clear-groups"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=timeout)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc:
            self.out.close()


@pytest.fixture
def pid1(tmp_path):
    p = Pid1(str(tmp_path))
    yield p
    p.stop()


def zombies_of(ppid):
    """Zombie processes whose parent is ppid (host PIDs)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and int(fields[1]) == ppid:
            out.append(int(d))
    return out


GENESIS = [r"bay0: starting \(", r"bay0: mounted proc/sys/dev",
           r"bay0: persist mount attempt \(",
           r"bay0: (persist mounted|persist timeout -> dirty boot)",
           r"bay0: state db open/migrate", r"bay0: init complete"]


def assert_genesis_order(text):
    pos = 0
    for pattern in GENESIS:
        m = re.compile(pattern).search(text, pos)
        assert m, "genesis /%s/ missing or out of order:\n%s" % (pattern, text)
        pos = m.end()


def test_genesis_lines_in_order_and_dirty_boot(pid1):
    pid1.service("idle", "#!/bin/sh\nexec sleep 1000\n")
    pid1.start()
    pid1.wait_line(r"svc=idle event=started")
    text = pid1.text()
    assert_genesis_order(text)
    assert "bay0: persist timeout -> dirty boot" in text
    assert "bay0: persist mounted" not in text
    # /persist is not mounted: nothing is written where it would be (on a
    # real machine, the root file system's empty directory)
    assert os.listdir(pid1.persist) == []
    assert "event=init container=1" in text
    # The kernel refuses -1000 without CAP_SYS_RESOURCE: logged, not fatal.
    assert re.search(r"event=oom-score-adj value=-1000 result=(ok|refused)", text)
    assert pid1.cli("status", "idle").returncode == 0


def test_persist_mounted_from_a_labelled_device(pid1, tmp_path):
    if not shutil.which("losetup") or not shutil.which("mkfs.ext4"):
        pytest.skip("losetup / mkfs.ext4 missing")
    img = str(tmp_path / "persist.img")
    label = "p%d" % (os.getpid() % 100000)
    subprocess.run(["truncate", "-s", "16M", img], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", label, img], check=True)
    r = subprocess.run(["losetup", "--find", "--show", img], capture_output=True,
                       text=True)
    if r.returncode != 0:
        pytest.skip("no loop device: " + r.stderr.strip())
    loop = r.stdout.strip()
    try:
        pid1.service("idle", "#!/bin/sh\nexec sleep 1000\n")
        pid1.start(label=label)
        pid1.wait_line(r"bay0: init complete")
        text = pid1.text()
        assert_genesis_order(text)
        assert "bay0: persist mount attempt (%s, found by label)" % loop in text
        assert re.search(r"bay0: persist mounted \(%s on %s" %
                         (re.escape(loop), re.escape(pid1.persist)), text)
        assert re.search(r"bay0: state db open/migrate \(ok", text), text
        # Mounted in bay0's mount namespace only, never on the host.
        assert not os.path.ismount(pid1.persist)
        r = pid1.cli("poweroff")
        assert r.returncode == 0, r.stderr
        assert pid1.wait_exit(30) == -signal.SIGINT
        assert "event=shutdown step=persist result=unmounted" in pid1.text()
    finally:
        pid1.stop()
        subprocess.run(["losetup", "-d", loop])


ORPHANS = 10000
ORPHAN_BATCH = 1000  # orphans alive at once (the host's pid_max is shared)


def test_orphan_burst_leaves_no_zombie(pid1):
    done = os.path.join(pid1.root, "burst.done")
    pid1.service("burst", """#!%s
import os
# Each batch: a middle process forks %d children that exit at once, then
# exits itself: its zombie children are orphans, reparented to PID 1.
for batch in range(%d):
    mid = os.fork()
    if mid == 0:
        for i in range(%d):
            if os.fork() == 0:
                os._exit(0)
        os._exit(0)
    os.waitpid(mid, 0)
open(%r, "w").write("done")
os.execvp("sleep", ["sleep", "1000"])
""" % (sys.executable, ORPHAN_BATCH, ORPHANS // ORPHAN_BATCH, ORPHAN_BATCH, done))
    pid1.start()
    init = pid1.init_pid()
    wait_for(lambda: os.path.exists(done), 120, interval=0.1, what="the burst")
    wait_for(lambda: not zombies_of(init), 20, interval=0.05,
             what="no zombie left under PID 1")
    assert pid1.cli("status", "burst").returncode == 0


@pytest.fixture
def pid1_open():
    """Like pid1, in a directory every user may traverse, so that an
    unprivileged client reaches the socket and a refusal comes from bay0,
    not from the file system."""
    root = tempfile.mkdtemp(prefix="bay0-pid1-")
    os.chmod(root, 0o755)
    p = Pid1(root)
    yield p
    p.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_poweroff_from_root_stops_everything_refused_for_others(pid1_open):
    pid1 = pid1_open
    for name in ("a", "b"):
        pid1.service(name, "#!/bin/sh\nexec sleep 1000\n")
    pid1.start()
    pid1.wait_line(r"svc=b event=started")
    pid1.wait_line(r"svc=a event=started")
    r = pid1.cli("poweroff", user=65534)
    assert r.returncode == 4, (r.returncode, r.stderr)
    assert "permission denied" in r.stderr.lower()
    assert pid1.proc.poll() is None
    assert pid1.cli("status", "a", "b").returncode == 0
    t0 = time.monotonic()
    r = pid1.cli("poweroff")
    assert r.returncode == 0, r.stderr
    # reboot(2) POWER_OFF in a PID namespace: its init dies of SIGINT, and
    # unshare passes that on.
    assert pid1.wait_exit(30) == -signal.SIGINT
    elapsed = time.monotonic() - t0
    text = pid1.text()
    # actions by name, not by enum number (issue 16)
    steps = ["event=shutdown-begin action=poweroff", "event=supervisor-stopped action=poweroff",
             "event=shutdown step=begin how=poweroff container=", "event=shutdown step=term",
             "event=shutdown step=sync", "event=shutdown step=reboot cmd=poweroff"]
    pos = [text.find(s) for s in steps]
    assert -1 not in pos and pos == sorted(pos), (steps, pos, text[-2000:])
    assert elapsed < 30


def test_sigterm_with_a_service_ignoring_it_ends_within_the_bound(pid1):
    armed = os.path.join(pid1.root, "armed")
    pid1.service("stubborn", "#!/bin/sh\ntrap '' TERM\ntouch %s\n"
                 "while :; do sleep 1; done\n" % armed, {"timeout-kill": "1000\n"})
    pid1.start()
    wait_for(lambda: os.path.exists(armed), 20, what="the TERM trap")
    init = pid1.init_pid()
    t0 = time.monotonic()
    os.kill(init, signal.SIGTERM)
    rc = pid1.wait_exit(30)
    elapsed = time.monotonic() - t0
    assert rc is not None, "still running 30 s after SIGTERM"
    # Container init: exits with a status once its services are stopped:
    # 0, every one stopped within the shutdown bound (the stubborn one by
    # its own timeout-kill's SIGKILL, 1 s, well inside it).
    assert rc == 0, rc
    assert elapsed < 15, elapsed
    text = pid1.text()
    assert "event=shutdown step=exit" in text, text[-2000:]


def test_reboot_ends_the_pid_namespace_cleanly(pid1):
    pid1.service("idle", "#!/bin/sh\nexec sleep 1000\n")
    pid1.start()
    pid1.wait_line(r"svc=idle event=started")
    init = pid1.init_pid()
    r = pid1.cli("reboot")
    assert r.returncode == 0, r.stderr
    assert pid1.wait_exit(30) == -signal.SIGHUP
    assert "event=shutdown step=reboot cmd=reboot" in pid1.text()
    assert not os.path.exists("/proc/%d" % init)


def test_a_stuck_service_cannot_extend_the_shutdown_bound(pid1):
    # The service asks for 10 minutes to stop; the whole shutdown is bounded
    # by bay0.shutdown_timeout_ms (the supervisor gets that minus the final
    # sequence's budget, 10 s).
    armed = os.path.join(pid1.root, "armed")
    pid1.service("stuck", "#!/bin/sh\ntrap '' TERM\ntouch %s\n"
                 "while :; do sleep 1; done\n" % armed,
                 {"timeout-kill": "600000\n"})
    pid1.start(cmdline="bay0.shutdown_timeout_ms=12000")
    wait_for(lambda: os.path.exists(armed), 20, what="the TERM trap")
    t0 = time.monotonic()
    r = pid1.cli("poweroff", timeout=60)
    rc = pid1.wait_exit(30)
    elapsed = time.monotonic() - t0
    assert rc == -signal.SIGINT, (rc, r.stderr, pid1.text()[-2000:])
    assert elapsed < 12 + 3, elapsed
    assert "event=shutdown step=reboot cmd=poweroff" in pid1.text()
