"""`bay0 validate` against real faults.

A healthy set-up (a supervisor, a persist dir, a fresh network namespace,
real podman with a private store) gives green on every check but the
umbilical (no AI tenant here); then each check is turned red or yellow by
a real fault: a read-only persist mount, a FUSE mount that never answers,
a failed service, an edited genesis line, an interface up in a network
namespace made for the test, a database that was moved aside, a clock
behind the last-known-good time, a supervisor that never answers, no
podman. A SIGKILL in the middle of a run leaves no container, cgroup,
marker or process behind.

Tests that do not need podman point BAY0_PODMAN at a missing binary, so
the freezer uses its cgroup fallback and never touches any podman store.
"""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time

import pytest

from conftest import BAY0, wait_for

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
NO_PODMAN = "/nonexistent/podman"
SQLITE_COMPANIONS = ("state.db-wal", "state.db-shm")
CG2 = None
for line in open("/proc/self/mountinfo"):
    if " - cgroup2 " in line:
        CG2 = line.split()[4]
        break


def have_root():
    return os.geteuid() == 0


needs_root = pytest.mark.skipif(not have_root(), reason="needs root (mounts, netns, cgroups)")


class Box:
    """A supervisor, a persist dir and the environment validate runs in."""

    def __init__(self, sup, tmp_path, podman=NO_PODMAN):
        self.sup = sup
        self.persist = tmp_path / "persist"
        (self.persist / "spine").mkdir(parents=True)
        self.env = dict(sup.env, BAY0_PERSIST_DIR=str(self.persist), BAY0_PODMAN=podman,
                        BAY0_AI_CONF=str(tmp_path / "no-ai.conf"))  # no AI tenant here
        sup.env = self.env
        sup.cli("nack", "list")  # the state database, as a boot leaves it

    def validate(self, *args, prefix=(), timeout=60, env=None):
        """Runs validate in a fresh network namespace (only lo) unless the
        prefix already chooses one."""
        cmd = list(prefix or ["unshare", "-n"]) + [BAY0, "validate", *args]
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=env or self.env)
        r.wall = time.monotonic() - t0
        return r

    def checks(self, *args, **kw):
        r = self.validate("--json", *args, **kw)
        doc = json.loads(r.stdout)
        assert doc["exit"] == r.returncode, (doc, r.stderr)
        return {c["name"]: c for c in doc["checks"]}, doc, r


@pytest.fixture
def box(sup, tmp_path):
    sup.service("fine")
    sup.start()
    return Box(sup, tmp_path)


def levels(checks):
    return {k: v["level"] for k, v in checks.items()}


# ---- healthy ---------------------------------------------------------------

@needs_root
def test_healthy_with_podman_is_green_but_the_umbilical(sup, tmp_path, podman_store):
    sup.service("fine")
    sup.start()
    b = Box(sup, tmp_path, podman=podman_store)
    checks, doc, r = b.checks()
    want = {k: "GREEN" for k in ("freezer", "persist", "log", "database", "clock",
                                 "services", "network", "compositor")}
    want["umbilical"] = "YELLOW"
    assert levels(checks) == want, checks
    assert doc["result"] == "YELLOW" and r.returncode == 1
    assert "paused and unpaused sys__validate-" in checks["freezer"]["reason"]
    # the text agrees with the json: first line, then one line per non-green
    t = b.validate()
    lines = t.stdout.splitlines()
    assert lines[0] == "YELLOW" and t.returncode == 1
    assert lines[1:] == ["umbilical: " + checks["umbilical"]["reason"]]
    print(f"validate wall time with podman: {t.wall:.3f} s")
    # nothing of validate's own is left (its marker, a test container's files);
    # state.db-wal/-shm are SQLite's: two check children closing the database
    # at the same moment may both leave them, and the next open reuses them
    left = [n for n in os.listdir(b.persist / "spine") if n not in SQLITE_COMPANIONS]
    assert sorted(left) == ["genesis.log", "state.db"]


@needs_root
def test_verbose_lists_every_check_with_ms(box):
    r = box.validate("--verbose")
    lines = r.stdout.splitlines()
    assert lines[0] in ("GREEN", "YELLOW", "RED")
    names = [l.split(":")[0] for l in lines[1:]]
    assert names == ["freezer", "persist", "log", "database", "clock", "services",
                     "network", "umbilical", "compositor"]
    for l in lines[1:]:
        assert " ms) " in l, l


@needs_root
def test_without_podman_the_freezer_is_yellow_from_its_own_cgroup(box):
    checks, doc, r = box.checks()
    assert checks["freezer"]["level"] == "YELLOW", checks["freezer"]
    assert "podman is not installed" in checks["freezer"]["reason"]
    assert checks["persist"]["level"] == "GREEN"
    assert r.returncode == 1 and doc["result"] == "YELLOW"


def test_usage_and_alias(box):
    r = subprocess.run([BAY0, "validate", "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown option" in r.stderr
    r = subprocess.run([BAY0, "validate", "extra"], capture_output=True, text=True)
    assert r.returncode == 2
    h = subprocess.run([BAY0, "validate", "--help"], capture_output=True, text=True)
    assert h.returncode == 0 and "Exit 0 GREEN, 1 YELLOW, 2 RED" in h.stdout
    a = subprocess.run(["unshare", "-n", BAY0, "--validate"], capture_output=True,
                       text=True, env=box.env, timeout=60)
    assert a.stdout.splitlines()[0] in ("GREEN", "YELLOW", "RED")
    assert a.returncode == {"GREEN": 0, "YELLOW": 1, "RED": 2}[a.stdout.splitlines()[0]]


# ---- persist ---------------------------------------------------------------

@needs_root
def test_read_only_persist_is_red(box):
    p = str(box.persist)
    script = (f"mount -t tmpfs tmpfs {p} && mkdir {p}/spine && "
              f"mount -o remount,ro {p} && exec {BAY0} validate --json")
    checks, doc, r = box.checks(prefix=["unshare", "-m", "-n", "sh", "-c", script + " #"])
    assert checks["persist"]["level"] == "RED", checks["persist"]
    assert "Read-only file system" in checks["persist"]["reason"]
    assert checks["log"]["level"] == "RED"
    assert r.returncode == 2 and r.stdout


FUSE_SCRIPT = r"""
import ctypes, os, subprocess, sys
mnt, bay0 = sys.argv[1], sys.argv[2]
fd = os.open("/dev/fuse", os.O_RDWR)
libc = ctypes.CDLL(None, use_errno=True)
opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0".encode()
if libc.mount(b"bay0-hung", mnt.encode(), b"fuse", 0, opts) != 0:
    sys.exit("mount fuse: " + os.strerror(ctypes.get_errno()))
# nobody ever reads /dev/fuse: every request on the mount waits for ever
r = subprocess.run([bay0, "validate", "--json"], capture_output=True, text=True,
                   pass_fds=())
sys.stdout.write(r.stdout)
os.close(fd)  # aborts the connection: what was stuck gets ENOTCONN
libc.umount2(mnt.encode(), 2)
sys.exit(r.returncode)
"""


@needs_root
def test_hung_persist_is_red_within_the_deadline(box):
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse")
    t0 = time.monotonic()
    checks, doc, r = box.checks(prefix=["unshare", "-m", "-n", "python3", "-c", FUSE_SCRIPT,
                                        str(box.persist), BAY0])
    wall = time.monotonic() - t0
    for name in ("persist", "log", "database", "clock"):
        assert checks[name]["level"] == "RED", checks[name]
    assert "no answer from the persist disk" in checks["persist"]["reason"]
    assert checks["persist"]["elapsed_ms"] < 5000
    assert checks["services"]["level"] == "GREEN"
    assert r.returncode == 2
    assert wall < 30, wall


# ---- log, database, clock ---------------------------------------------------

def test_corrupt_genesis_line_is_red(box):
    for i in range(3):
        box.sup.cli("genesis", "append", f"line {i}")
    log = box.persist / "spine" / "genesis.log"
    lines = log.read_text().splitlines()
    lines[1] = lines[1].replace("line 1", "line X")
    log.write_text("\n".join(lines) + "\n")
    checks, doc, r = box.checks()
    assert checks["log"]["level"] == "RED"
    assert "BROKEN at line 2" in checks["log"]["reason"]
    assert r.returncode == 2


def test_recovered_database_is_yellow(box):
    db = box.persist / "spine" / "state.db"
    db.write_bytes(b"this is not a database" * 100)
    box.sup.cli("nack", "list")  # opens it: the corrupt file is moved aside
    assert any(n.startswith("state.db.corrupt-") for n in os.listdir(db.parent))
    checks, doc, r = box.checks()
    assert checks["database"]["level"] == "YELLOW", checks["database"]
    assert "moved aside" in checks["database"]["reason"]
    assert "state.db.corrupt-" in checks["database"]["reason"]


def test_clock_behind_last_good_is_yellow(box):
    box.sup.cli("nack", "list")  # creates and migrates the database
    future_ms = int(time.time() * 1000) + 86400 * 1000
    with sqlite3.connect(box.persist / "spine" / "state.db") as c:
        c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES "
                  "('last_good_time_ms', ?)", (str(future_ms),))
    checks, doc, r = box.checks()
    assert checks["clock"]["level"] == "YELLOW", checks["clock"]
    assert "behind the last-known-good time" in checks["clock"]["reason"]


# ---- services, supervisor --------------------------------------------------

def test_failed_service_is_red(box):
    box.sup.service("broken", run="exit 3", files={"restart": "never\n"})
    box.sup.cli("reload")
    box.sup.wait_state("broken", "failed")
    checks, doc, r = box.checks()
    assert checks["services"]["level"] == "RED"
    assert "broken failed" in checks["services"]["reason"]
    assert r.returncode == 2
    t = box.validate()
    assert t.stdout.splitlines()[0] == "RED"
    assert any(l.startswith("services: broken failed") for l in t.stdout.splitlines())


def test_no_supervisor_is_yellow(box, tmp_path):
    env = dict(box.env, BAY0_RUNDIR=str(tmp_path / "nowhere"))
    checks, doc, r = box.checks(env=env)
    assert checks["services"]["level"] == "YELLOW"
    assert "no supervisor answers" in checks["services"]["reason"]


def test_hung_supervisor_is_red(box, tmp_path):
    rundir = tmp_path / "hung"
    rundir.mkdir()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(rundir / "control"))
    s.listen(16)  # accepts (in the kernel) but never answers
    try:
        checks, doc, r = box.checks(env=dict(box.env, BAY0_RUNDIR=str(rundir)))
    finally:
        s.close()
    assert checks["services"]["level"] == "RED"
    assert "did not answer" in checks["services"]["reason"]


# ---- network ----------------------------------------------------------------

@needs_root
def test_interface_up_in_a_namespace_is_red(box):
    ns = f"bay0v{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", "vtest0", "type", "veth", "peer", "name",
                        "vtest1"], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "vtest0", "up"], check=True)
        checks, doc, r = box.checks(prefix=["ip", "netns", "exec", ns])
        assert checks["network"]["level"] == "RED"
        assert "vtest0" in checks["network"]["reason"]
        assert "vtest1" not in checks["network"]["reason"]
        # the same namespace with the interface down is green
        subprocess.run(["ip", "-n", ns, "link", "set", "vtest0", "down"], check=True)
        checks, doc, r = box.checks(prefix=["ip", "netns", "exec", ns])
        assert checks["network"]["level"] == "GREEN", checks["network"]
    finally:
        subprocess.run(["ip", "netns", "del", ns])


# ---- nothing left behind -----------------------------------------------------

def validate_cgroups():
    if CG2 is None:
        return []
    found = []
    for dirpath, dirnames, _ in os.walk(CG2):
        found += [os.path.join(dirpath, d) for d in dirnames if d.startswith("bay0-validate.")]
        dirnames[:] = [d for d in dirnames if not d.startswith("bay0-validate.")
                       and dirpath.count("/") < CG2.count("/") + 3]
    return found


def children_of(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(p))
            except (OSError, IndexError, ValueError):
                pass
    return out


def sigkill_midway(box, ready, env):
    p = subprocess.Popen(["unshare", "-n", BAY0, "validate"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    inner = p.pid  # unshare without --fork execs validate itself
    wait_for(lambda: ready(inner), timeout=30, what="the freezer test under way")
    kids = children_of(inner)
    os.kill(inner, signal.SIGKILL)
    p.wait(10)
    return inner, kids


@needs_root
def test_sigkill_midway_leaves_nothing_fallback(box):
    def burning(pid):
        return os.path.isdir(f"{CG2}/bay0-validate.{pid}/burn") and \
            open(f"{CG2}/bay0-validate.{pid}/burn/cgroup.procs").read().strip()
    before = sorted(os.listdir(box.persist / "spine"))
    pid, kids = sigkill_midway(box, burning, box.env)
    assert kids
    wait_for(lambda: not os.path.exists(f"{CG2}/bay0-validate.{pid}"), timeout=20,
             what="the run's cgroup removed")
    wait_for(lambda: not any(os.path.exists(f"/proc/{k}") and
                             open(f"/proc/{k}/stat").read().split()[2] != "Z"
                             for k in kids), timeout=10, what="the checks gone")
    # SQLite's own -wal/-shm of state.db stay after a SIGKILL of any reader
    # (as after any crash; the next connection to close removes them)
    left = lambda: set(os.listdir(box.persist / "spine")) - set(before) - {
        "genesis.log", "state.db-wal", "state.db-shm"}
    wait_for(lambda: not left() or print(left()), what="no marker left")


@needs_root
def test_sigkill_midway_leaves_nothing_podman(sup, tmp_path, podman_store):
    sup.service("fine")
    sup.start()
    b = Box(sup, tmp_path, podman=podman_store)
    pm = podman_store.split()

    def names():
        return subprocess.run(pm + ["ps", "-a", "--format", "{{.Names}}"],
                              capture_output=True, text=True).stdout.split()

    def running(pid):
        return f"sys__validate-{pid}" in names()
    pid, kids = sigkill_midway(b, running, b.env)
    wait_for(lambda: f"sys__validate-{pid}" not in names(), timeout=30,
             what="the test container removed")
    wait_for(lambda: not os.path.exists(f"{CG2}/bay0-validate.{pid}"), timeout=20,
             what="the run's cgroup removed")
    assert not os.path.exists(b.persist / "spine" / "validate.marker")


@needs_root
def test_failed_persona_is_red(sup, tmp_path, podman_store):
    """A persona whose container cannot start ends `failed` in the persona
    manager; validate asks the manager too and names it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(os.path.abspath(BAY0), bin_dir / "bay0")  # the manager's run says `bay0`
    subprocess.run(["cp", "-r", os.path.join(ROOT, "personas", "sv", "personas"), sup.scandir],
                   check=True)
    sup.env = dict(sup.env, PATH=f"{bin_dir}:{os.environ['PATH']}")
    b = Box(sup, tmp_path, podman=podman_store)
    sup.start()
    sup.wait_state("personas", "ready", timeout=30)
    sup.cli("persona", "create", "p://bad", "--image", "localhost/bay0-shell:latest", "--",
            "/nonexistent")
    r = sup.cli("persona", "start", "p://bad", check=False)
    assert r.returncode == 1
    checks, doc, r = b.checks()
    assert checks["services"]["level"] == "RED", checks["services"]
    assert checks["services"]["reason"].startswith("p://bad failed (podman start")
    sup.cli("persona", "rm", "p://bad")


@needs_root
def test_a_freezer_that_does_not_freeze_is_red(sup, tmp_path, podman_store):
    """Fault injection: a podman whose `pause` reports success but freezes
    nothing (every other command is the real podman). The CPU time keeps
    growing, and validate must say so."""
    liar = tmp_path / "podman-pause-lies"
    liar.write_text('#!/bin/sh\nfor a; do [ "$a" = pause ] && exit 0; done\n'
                    'exec podman "$@"\n')
    liar.chmod(0o755)
    sup.service("fine")
    sup.start()
    b = Box(sup, tmp_path, podman=podman_store.replace("podman", str(liar), 1))
    checks, doc, r = b.checks()
    assert checks["freezer"]["level"] == "RED", checks["freezer"]
    assert "still grew while frozen" in checks["freezer"]["reason"]
    pm = podman_store.split()
    names = subprocess.run(pm + ["ps", "-a", "--format", "{{.Names}}"], capture_output=True,
                           text=True).stdout.split()
    assert not [n for n in names if n.startswith("sys__validate-")], names


@needs_root
def test_dirty_boot_is_red(tmp_path):
    """bay0 as PID 1 of a PID namespace whose persist disk never appears:
    a dirty boot. Its ping says persist=dirty, and validate says why."""
    persist = tmp_path / "persist"
    (persist / "spine").mkdir(parents=True)
    scandir, rundir = tmp_path / "sv", tmp_path / "run"
    scandir.mkdir()
    env = dict(os.environ, BAY0_PERSIST_DIR=str(persist), BAY0_PODMAN=NO_PODMAN,
               BAY0_AI_CONF=str(tmp_path / "no-ai.conf"))
    env.pop("container", None)
    out = open(tmp_path / "console", "wb")
    p = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "--kill-child", BAY0,
         "init", "--scandir", str(scandir), "--rundir", str(rundir), "--logdir",
         str(tmp_path / "log"), "--cmdline",
         "bay0.persist_label=bay0-test-no-such-label bay0.persist_timeout_ms=1000"],
        stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(lambda: b"init complete" in open(tmp_path / "console", "rb").read(),
                 timeout=30, what="init complete")
        assert b"dirty boot" in open(tmp_path / "console", "rb").read()
        r = subprocess.run(["unshare", "-n", BAY0, "validate", "--json", "--rundir",
                            str(rundir)], capture_output=True, text=True, env=env, timeout=60)
        doc = json.loads(r.stdout)
        persist_check = [c for c in doc["checks"] if c["name"] == "persist"][0]
        assert persist_check["level"] == "RED", persist_check
        assert persist_check["reason"].startswith("dirty boot:")
        assert r.returncode == 2
    finally:
        p.kill()  # unshare --kill-child: its PID 1 and the namespace go too
        p.wait(10)
        out.close()


@needs_root
def test_validates_at_once_do_not_trip_over_one_marker(box):
    """Several validates at the same moment (an operator and a timer, say)
    each write, read back and remove the persist marker; none may read
    another's marker or find it removed under it."""
    reds = []
    for _ in range(8):
        procs = [subprocess.Popen(["unshare", "-n", BAY0, "validate", "--json"],
                                  env=box.env, stdout=subprocess.PIPE, text=True)
                 for _ in range(4)]
        for p in procs:
            out, _ = p.communicate(timeout=120)
            persist = [c for c in json.loads(out)["checks"] if c["name"] == "persist"][0]
            if persist["level"] != "GREEN":
                reds.append(persist["reason"])
    assert not reds, reds
    assert not os.path.exists(box.persist / "spine" / "validate.marker")
