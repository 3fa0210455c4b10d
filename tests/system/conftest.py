"""Shared fixtures for the system tests: the real bay0 binary, a scan
directory built in a temp dir, and helpers that wait for conditions with a
deadline (never a bare sleep standing in for an event)."""
import ctypes
import json
import os
import pathlib
import signal
import socket
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from cleanup import remove_cgroup_tree, remove_supervisor_cgroups, unmount_under

BAY0 = os.environ.get("BAY0") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bay0")
HELPERS = os.environ.get("HELPERS") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "helpers")


def wait_for(cond, timeout=10.0, interval=0.02, what="condition"):
    """Polls cond() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last={last!r})")


def write_file(path, text, mode=0o644):
    """Written beside and renamed over path, as an operator should: opening
    a run file for writing while a spawned child is still inside execve() of
    it fails with "Text file busy" (and the exec fails the other way round)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class Supervisor:
    """One `bay0 supervise` process on a scan directory in tmp_path."""

    def __init__(self, tmp_path):
        self.root = tmp_path
        self.scandir = str(tmp_path / "sv")
        self.rundir = str(tmp_path / "run")
        self.logdir = str(tmp_path / "log")
        os.makedirs(self.scandir, exist_ok=True)
        self.proc = None
        self.pids = []  # every supervisor started, for their cgroups at the end
        self.stderr_path = str(tmp_path / "bay0.stderr")
        # Personas and tenants go under a cgroup root of this test's own, so
        # neither focus nor the governor of one test sees another's.
        self.env = dict(os.environ, BAY0_RUNDIR=self.rundir,
                        BAY0_PERSONA_CGROUP_ROOT=f"/bay0-test-{uuid.uuid4().hex[:10]}")
        self.cleanup = []  # directories outside tmp_path to remove at the end

    def public_rundir(self):
        """A run directory every user may reach (pytest's tmp is 0700 up the
        path), for tests with unprivileged clients or services; removed at
        the end of the test."""
        self.rundir = tempfile.mkdtemp(prefix="bay0-run-")
        self.cleanup.append(self.rundir)
        os.chmod(self.rundir, 0o755)
        self.env["BAY0_RUNDIR"] = self.rundir
        return self.rundir

    def strays(self):
        """Processes started under this supervisor that are still alive: every
        service inherits BAY0_RUNDIR from it, so this finds also what left
        its process group (setsid) and was re-parented away."""
        mark = f"BAY0_RUNDIR={self.rundir}".encode()
        out = []
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) == os.getpid():
                continue
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    if mark in f.read().split(b"\0"):
                        out.append(int(p))
            except OSError:
                continue
        return out

    # ---- service directories ----
    def service(self, name, run="exec sleep 1000", files=None, script=True):
        d = os.path.join(self.scandir, name)
        os.makedirs(d, exist_ok=True)
        if run is not None:
            body = f"#!/bin/sh\n{run}\n" if script else run
            write_file(os.path.join(d, "run"), body, 0o755)
        for fname, content in (files or {}).items():
            mode = 0o755 if fname in ("finish", "undo", "log/run") else 0o644
            write_file(os.path.join(d, fname), content, mode)
        return d

    # ---- the process ----
    def start(self, *extra, wait=True, preexec_fn=None):
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [BAY0, "supervise", "--scandir", self.scandir, "--rundir", self.rundir,
             "--logdir", self.logdir, *extra],
            stdout=self.stderr, stderr=self.stderr, env=self.env, preexec_fn=preexec_fn)
        self.pids.append(self.proc.pid)
        if wait:
            wait_for(lambda: self.ping(), what="control socket")
        return self

    def ping(self):
        return self.cli("status", check=False).returncode == 0

    def cli(self, *args, check=True, timeout=60, user=None):
        cmd = [BAY0, *args]
        if user:
            cmd = ["setpriv", f"--reuid={user}", "--regid=65534", "--clear-groups", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"bay0 {' '.join(args)} -> {r.returncode}\n"
                                 f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def status(self, *names):
        r = self.cli("status", "--json", *names, check=False)
        rows = json.loads(r.stdout) if r.stdout else []
        # exit 0; with names, 1 when one is missing or neither up nor ready
        ok = not names or (len(rows) == len(names) and
                           all(s["state"] in ("up", "ready") for s in rows))
        assert r.returncode == (0 if ok else 1), (names, r.returncode, r.stderr)
        return {s["name"]: s for s in rows}

    def svc(self, name):
        return self.status().get(name)

    def wait_state(self, name, states, timeout=10.0):
        if isinstance(states, str):
            states = (states,)
        return wait_for(lambda: (s := self.svc(name)) and s["state"] in states and s,
                        timeout=timeout, what=f"{name} in {states}")

    def request(self, raw, read=True, timeout=5.0):
        """Raw bytes on the control socket; returns the whole reply (up to
        bay0's close). No reply end within timeout is a failure, never an
        empty answer."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(os.path.join(self.rundir, "control"))
        s.sendall(raw)
        out = b""
        try:
            while read:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            raise AssertionError(f"no end of reply within {timeout} s (got {out[:200]!r})")
        except ConnectionResetError:
            # bay0 closed with part of our request unread (one too long):
            # the kernel reports that after the reply; a reply cut short,
            # without its final newline, is still a failure
            if not out.endswith(b"\n"):
                raise
        finally:
            s.close()
        return out

    def log_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_tree(self.proc.pid)
                self.proc.wait(5)
        if self.proc:  # gone: what a SIGKILL of it left is nobody's now
            remove_supervisor_cgroups(self.proc.pid)
        return self.proc.returncode if self.proc else None


def status_rows(text):
    """{field: value} of /proc/PID/status lines ("Field:\tvalue")."""
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}


def sig_masks(path):
    """SigIgn and SigBlk of /proc/PID/status, or of a copy of its lines."""
    rows = status_rows(path.read_text())
    return int(rows["SigIgn"], 16), int(rows["SigBlk"], 16)


SYS_RT_SIGACTION = 13  # x86_64
_libc = ctypes.CDLL(None, use_errno=True)


def ignoring(*sigs):
    """A preexec_fn that leaves `sigs` ignored in the child, as nohup or a CI
    runner would: through the kernel, since the C library refuses 32 (glibc's
    own signal), which a parent may still have ignored. x86_64 only."""
    def ignore_them():
        for sig in sigs:
            act = (ctypes.c_ulong * 4)(1)  # SIG_IGN, no flags, no mask
            if _libc.syscall(SYS_RT_SIGACTION, sig, act, None, 8) != 0:
                os._exit(99)
    return ignore_them


def signal_recorder(path, real):
    """A wrapper that appends its first argument, SigIgn and SigBlk to PATH,
    then runs REAL: what bay0 leaves to the programs it execs."""
    return (f"#!/bin/sh\n{{ echo \"Arg: $1\"; grep -E '^Sig(Ign|Blk)' /proc/self/status; echo; }}"
            f" >> {path}\nexec {real} \"$@\"\n")


def recorded_runs(path):
    """[(first argument, SigIgn, SigBlk)] of every run a signal_recorder
    wrote down."""
    out = []
    for run in pathlib.Path(path).read_text().split("\n\n"):
        rows = status_rows(run)
        if rows:
            out.append((rows["Arg"], int(rows["SigIgn"], 16), int(rows["SigBlk"], 16)))
    return out


def descendants(pid):
    """All processes whose ancestry includes pid (from /proc)."""
    parent = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            parent[int(p)] = int(fields[1])
        except (OSError, IndexError):
            continue
    out = []
    for p in parent:
        q = parent.get(p)
        seen = 0
        while q and q != pid and seen < 64:
            q = parent.get(q)
            seen += 1
        if q == pid:
            out.append(p)
    return out


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def service_descendants(pid):
    """descendants() without bay0's own log writer."""
    return [p for p in descendants(pid) if comm(p) != "bay0-logwriter"]


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def kill_tree(pid):
    for p in descendants(pid) + [pid]:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def pid_alive(pid):
    st = proc_state(pid)
    return st is not None and st != "Z"


@pytest.fixture
def sup(tmp_path):
    s = Supervisor(tmp_path)
    yield s
    if s.proc and s.proc.poll() is None:
        pid = s.proc.pid
        s.stop()
        kill_tree(pid)
    # what escaped its process group and outlived the supervisor
    for p in s.strays():
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for d in s.cleanup:
        shutil.rmtree(d, ignore_errors=True)
    remove_cgroup_tree(s.env["BAY0_PERSONA_CGROUP_ROOT"])
    for pid in s.pids:  # a supervisor killed by the test leaves its cgroups
        remove_supervisor_cgroups(pid)


@pytest.fixture
def helpers():
    return HELPERS


@pytest.fixture(scope="session")
def podman_store(tmp_path_factory):
    """A private podman store (never the default one) holding the busybox
    test image localhost/bay0-shell and the AI tenant's localhost/bay0-ai;
    yields the podman command line for BAY0_PODMAN. Skips without podman.
    Removes what it made at the end."""
    import shutil
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (scripts/podman-setup.sh)")
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    d = str(tmp_path_factory.mktemp("podman"))
    cmd = f"podman --root {d}/root --runroot {d}/run --tmpdir {d}/tmp"
    env = dict(os.environ, BAY0_PODMAN=cmd)
    for script, args in (("personas/build.sh", ["shell"]), ("tenants/ai/build.sh", [])):
        subprocess.run([os.path.join(root, script), *args], env=env, check=True,
                       capture_output=True, timeout=180)
    yield cmd
    pm = cmd.split()
    names = subprocess.run(pm + ["ps", "-a", "--format", "{{.Names}}"],
                           capture_output=True, text=True).stdout.split()
    for n in names:
        subprocess.run(pm + ["rm", "-f", "-t", "0", n], capture_output=True)
    for img in ("localhost/bay0-shell:latest", "localhost/bay0-ai:latest"):
        subprocess.run(pm + ["rmi", "-f", img], capture_output=True)
    unmount_under(d)
    shutil.rmtree(d, ignore_errors=True)


class PodmanStore:
    """A private podman store (root, runroot, tmpdir under one directory),
    never the default one, and a cgroup root of its own for the containers
    (BAY0_PERSONA_CGROUP_ROOT). Test modules extend it."""

    def __init__(self, base):
        self.base = base
        self.cmd = ["podman", "--root", f"{base}/root", "--runroot", f"{base}/run",
                    "--tmpdir", f"{base}/tmp"]
        self.cgroot = f"/bay0-test-{uuid.uuid4().hex[:10]}"

    def podman(self, *args, check=True, timeout=60):
        r = subprocess.run([*self.cmd, *args], capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"podman {args}: {r.returncode} {r.stderr}")
        return r

    def build(self, image):
        """personas/build.sh IMAGE into this store: the CompletedProcess."""
        root = os.path.join(os.path.dirname(__file__), "..", "..")
        env = dict(os.environ, BAY0_PODMAN=" ".join(self.cmd))
        return subprocess.run([os.path.join(root, "personas", "build.sh"), image], env=env,
                              capture_output=True, text=True, timeout=120)

    def release(self):
        """Unmount and remove what podman left under base and the cgroups."""
        unmount_under(self.base)
        remove_cgroup_tree(self.cgroot)
