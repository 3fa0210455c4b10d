"""The AI system tenant sys://ai with real podman (a private store).

bay0 runs it as a service (tenants/ai/service: `bay0 tenant run ai`) from a
config file: every envelope option is read back with `podman inspect`;
`--network none` is seen from the container's own network namespace; bay0
reaches the server through the verified socket, and so does a persona
container through its bind mount; a socket served by anyone else at that
path is refused and logged; a stop drains (no new connections, the request
in flight finishes); a bad config starts nothing and leaves the rest running;
and validate is GREEN with the tenant up.
"""
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import BAY0, recorded_runs, signal_recorder, wait_for, write_file

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SERVICE = os.path.join(ROOT, "tenants", "ai", "service")
CONF = """# test envelope
cpus 0.5
cpu-shares 128
memory 64M
memory-swap 96M
oom-score-adj 950
drain-ms 4000
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="podman tests need root")


class Tenant:
    def __init__(self, sup, tmp_path, podman, conf=CONF):
        self.sup, self.podman = sup, podman.split()
        self.conf = tmp_path / "ai.conf"
        self.conf.write_text(conf)
        (tmp_path / "persist" / "spine").mkdir(parents=True)
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        os.symlink(os.path.abspath(BAY0), bin_dir / "bay0")  # the service runs `bay0`
        sup.env = dict(sup.env, BAY0_PODMAN=podman, BAY0_AI_CONF=str(self.conf),
                       BAY0_PERSIST_DIR=str(tmp_path / "persist"),
                       PATH=f"{bin_dir}:{os.environ['PATH']}")
        shutil.copytree(SERVICE, os.path.join(sup.scandir, "sys-ai"))
        self.sock = os.path.join(sup.rundir, "tenants", "ai", "ai.sock")

    def inspect(self):
        out = subprocess.run(self.podman + ["inspect", "sys__ai"], capture_output=True,
                             text=True, check=True).stdout
        return json.loads(out)[0]

    def containers(self):
        return subprocess.run(self.podman + ["ps", "-a", "--format", "{{.Names}}"],
                              capture_output=True, text=True).stdout.split()

    def log(self):
        p = os.path.join(self.sup.logdir, "sys-ai", "current")
        return open(p).read() if os.path.exists(p) else ""


@pytest.fixture
def tenant(sup, tmp_path, podman_store):
    t = Tenant(sup, tmp_path, podman_store)
    sup.start()
    sup.wait_state("sys-ai", "ready", timeout=60)
    yield t
    sup.stop()


def test_podman_starts_with_default_signal_handling(sup, tmp_path, podman_store):
    """`bay0 tenant` ignores SIGPIPE, as every bay0 process but PID 1 does
    (a peer that hangs up must not kill it); podman, and the container
    under it, must not inherit that: SIG_IGN survives exec."""
    record = tmp_path / "podman-signals"
    wrapper = tmp_path / "podman-recorder"
    write_file(str(wrapper), signal_recorder(record, podman_store), 0o755)
    Tenant(sup, tmp_path, str(wrapper))
    sup.start()
    sup.wait_state("sys-ai", "ready", timeout=60)
    runs = recorded_runs(record)
    assert "run" in [verb for verb, _, _ in runs], runs  # the container's own podman
    assert [(verb, 0, 0) for verb, _, _ in runs] == runs, runs
    sup.stop()


def test_ready_only_when_the_server_answers(tenant):
    m = re.search(r"tenant=sys://ai event=ready ms=(\d+)", tenant.log())
    assert m, tenant.log()
    print(f"sys://ai start-to-ready: {m.group(1)} ms")
    assert tenant.sup.cli("tenant", "ask", "ai", "ping").stdout == "pong\n"


def test_envelope_read_back_with_podman_inspect(tenant):
    i = tenant.inspect()
    hc = i["HostConfig"]
    assert hc["NetworkMode"] == "none"
    assert "no-new-privileges" in hc["SecurityOpt"]
    assert hc["NanoCpus"] == 500_000_000
    assert hc["CpuShares"] == 128 and hc["CpuShares"] < 1024  # below a persona's default
    assert hc["Memory"] == 64 << 20
    assert hc["MemorySwap"] == 96 << 20
    assert hc["OomScoreAdj"] == 950
    mounts = {m["Destination"]: m["Source"] for m in i["Mounts"]}
    assert mounts["/run/bay0-ai"] == os.path.dirname(tenant.sock)
    pid = i["State"]["Pid"]
    with open(f"/proc/{pid}/oom_score_adj") as f:
        assert int(f.read()) == 950


def test_network_none_seen_from_inside(tenant):
    pid = tenant.inspect()["State"]["Pid"]
    with open(f"/proc/{pid}/net/dev") as f:  # the container's own namespace
        ifaces = [l.split(":")[0].strip() for l in f.read().splitlines()[2:]]
    assert ifaces == ["lo"], ifaces


def test_requests_through_the_verified_socket(tenant):
    assert tenant.sup.cli("tenant", "ask", "ai", "echo", "hello", "tenant").stdout == \
        "hello tenant\n"
    h = tenant.sup.cli("tenant", "ask", "ai", "health").stdout
    assert h.startswith("ok uptime_ms=")


def test_a_persona_reaches_it_through_its_bind_mount(tenant, tmp_path):
    client = tmp_path / "ai-client"
    subprocess.run(["cc", "-O2", "-static", "-o", str(client),
                    os.path.join(ROOT, "tenants", "ai", "ai-server.c")], check=True)
    r = subprocess.run(tenant.podman + [
        "run", "--rm", "--pull=never", "--network", "none",
        "-v", f"{os.path.dirname(tenant.sock)}:/run/bay0-ai",
        "-v", f"{client}:/ai-client:ro", "localhost/bay0-shell:latest",
        "/ai-client", "--ask", "/run/bay0-ai/ai.sock", "ping"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "pong\n"


def serve_pong(path, stop, listening):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(8)
    listening.set()  # the path exists from bind(): a connect before listen() is refused
    s.settimeout(0.1)
    while not stop.is_set():
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        try:  # a refused client may hang up before the answer
            c.recv(100)
            c.sendall(b"pong\n")
        except OSError:
            pass
        c.close()
    s.close()


@contextlib.contextmanager
def impostor(tmp_path):
    """Another run dir whose tenants/ai/ai.sock this process serves (pong)."""
    rundir = tmp_path / "other-run"
    (rundir / "tenants" / "ai").mkdir(parents=True)
    path = str(rundir / "tenants" / "ai" / "ai.sock")
    stop, listening = threading.Event(), threading.Event()
    t = threading.Thread(target=serve_pong, args=(path, stop, listening))
    t.start()
    try:
        assert listening.wait(timeout=10), "the impostor's socket never listened"
        yield rundir
    finally:
        stop.set()
        t.join()


def test_an_impostor_socket_is_refused_and_logged(tenant, tmp_path):
    with impostor(tmp_path) as rundir:
        r = tenant.sup.cli("tenant", "ask", "--rundir", str(rundir), "ai", "ping",
                           check=False)
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert r.stdout == ""
        assert "impostor refused" in r.stderr and f"pid {os.getpid()}" in r.stderr
        assert "event=impostor-refused" in r.stderr  # the log line
        env = dict(tenant.sup.env, BAY0_RUNDIR=str(rundir))
        v = subprocess.run(["unshare", "-n", BAY0, "validate", "--json"], env=env,
                           capture_output=True, text=True, timeout=60)
        doc = json.loads(v.stdout)
        umb = [c for c in doc["checks"] if c["name"] == "umbilical"][0]
        assert umb["level"] == "RED" and "impostor refused" in umb["reason"]


def test_checks_ask_podman_nothing_while_the_tenant_runs(sup, tmp_path, podman_store):
    """The umbilical learns the container's pid once per container start:
    with a counting wrapper first in BAY0_PODMAN (it logs, then execs the
    real podman), asks and validate's umbilical check of a running tenant
    make no `podman inspect` of sys__ai, with 0 or 3 persona containers
    in the store (before: one per check). A new container (the tenant
    restarted: another pid) is inspected again; a cache copied beside an
    impostor's socket does not make the impostor the tenant."""
    calls = tmp_path / "podman-calls"
    calls.write_text("")
    wrapper = tmp_path / "podman-counting"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {podman_store} "$@"\n')
    wrapper.chmod(0o755)
    t = Tenant(sup, tmp_path, str(wrapper))
    sup.start()
    sup.wait_state("sys-ai", "ready", timeout=60)
    store = podman_store.split()

    def inspects():
        return sum(1 for l in calls.read_text().splitlines()
                   if l.startswith("inspect") and "sys__ai" in l)

    try:
        for personas in (0, 3):
            for i in range(personas):
                subprocess.run(store + ["run", "-d", "--pull=never", "--name", f"p__n{i}",
                                        "localhost/bay0-shell:latest", "sleep", "1000"],
                               check=True, capture_output=True, timeout=60)
            before = inspects()
            for _ in range(3):
                assert sup.cli("tenant", "ask", "ai", "ping").stdout == "pong\n"
            v = subprocess.run(["unshare", "-n", BAY0, "validate", "--json"], env=sup.env,
                               capture_output=True, text=True, timeout=60)
            umb = [c for c in json.loads(v.stdout)["checks"] if c["name"] == "umbilical"][0]
            assert umb["level"] == "GREEN", umb
            assert inspects() == before, (personas, calls.read_text())
        old = t.inspect()["State"]["Pid"]
        cache = os.path.join(sup.rundir, "tenants", "sys__ai.pid")
        pid, start = open(cache).read().split()  # the pid and its start time
        assert int(pid) == old
        assert start == open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19]
        sup.cli("restart", "sys-ai")
        sup.wait_state("sys-ai", "ready", timeout=60)
        assert t.inspect()["State"]["Pid"] != old
        before = inspects()
        assert sup.cli("tenant", "ask", "ai", "ping").stdout == "pong\n"
        assert inspects() <= before + 1  # the runner's readiness may have done it
        with impostor(tmp_path) as rundir:
            shutil.copy(cache, rundir / "tenants" / "sys__ai.pid")
            r = sup.cli("tenant", "ask", "--rundir", str(rundir), "ai", "ping", check=False)
            assert r.returncode == 1 and "impostor refused" in r.stderr, r
    finally:
        subprocess.run(store + ["rm", "-f", "-t", "0"] + [f"p__n{i}" for i in range(3)],
                       capture_output=True, timeout=60)
        sup.stop()


def test_validate_is_green_with_the_tenant_up(tenant):
    t0 = time.monotonic()
    r = subprocess.run(["unshare", "-n", BAY0, "validate"], env=tenant.sup.env,
                       capture_output=True, text=True, timeout=60)
    wall = time.monotonic() - t0
    assert r.stdout == "GREEN\n", r.stdout
    assert r.returncode == 0
    print(f"validate wall time, everything green: {wall:.3f} s")


def test_stop_drains_the_request_in_flight(tenant):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(tenant.sock)
    c.sendall(b"sleep 1500\n")
    wait_for(lambda: "requests=" in tenant.sup.cli("tenant", "ask", "ai", "health").stdout,
             what="the server busy with the slow request")
    stopper = subprocess.Popen([BAY0, "stop", "sys-ai"], env=tenant.sup.env)
    wait_for(lambda: "ai-server: draining" in tenant.log(), what="the drain")
    n = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with pytest.raises(OSError):
        n.connect(tenant.sock)  # no new connections
    c.settimeout(10)
    assert c.recv(100) == b"slept 1500\n"  # the request in flight finished
    assert stopper.wait(30) == 0
    assert "ai-server: drained, exiting" in tenant.log()
    wait_for(lambda: "sys__ai" not in tenant.containers(), what="the container gone")


def test_bad_config_starts_nothing_and_the_rest_runs(sup, tmp_path, podman_store):
    t = Tenant(sup, tmp_path, podman_store, conf="cpus 0\n")
    sup.service("fine")
    sup.start()
    sup.wait_state("sys-ai", "down", timeout=30)
    wait_for(lambda: "cpus must be 0.01 to 64" in t.log(), what="the config error logged")
    assert "line 1" in t.log() and str(t.conf) in t.log()
    assert "sys__ai" not in t.containers()
    assert sup.svc("fine")["state"] == "up"
    r = sup.cli("tenant", "check", "ai", check=False)
    assert r.returncode == 1 and "cpus must be" in r.stderr
    sup.stop()


# ---- the compositor: sys://compositor (weston's headless backend) ---------

COMPOSITOR = os.path.join(ROOT, "tenants", "compositor", "service")
needs_weston = pytest.mark.skipif(shutil.which("weston") is None,
                                  reason="weston is not installed (apt-get install weston)")


def compositor_service(sup, tmp_path, files=None):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "bay0").exists():
        os.symlink(os.path.abspath(BAY0), bin_dir / "bay0")
    sup.env = dict(sup.env, PATH=f"{bin_dir}:{os.environ['PATH']}")
    d = os.path.join(sup.scandir, "compositor")
    shutil.copytree(COMPOSITOR, d)
    for name, text in (files or {}).items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    return os.path.join(sup.rundir, "tenants", "compositor", "wayland-0")


def compositor_log(sup):
    p = os.path.join(sup.logdir, "compositor", "current")
    return open(p).read() if os.path.exists(p) else ""


def compositor_log_match(sup, pattern, timeout=10):
    """The state change reaches the supervisor before the service's own log
    line reaches `current` (the log writer is another process): wait for it."""
    return wait_for(lambda: re.search(pattern, compositor_log(sup)), timeout=timeout,
                    what=f"{pattern!r} in the compositor's log")


def peer_pid(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    import struct
    pid, _, _ = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    s.close()
    return pid


@needs_weston
def test_compositor_ready_only_by_its_own_socket(sup, tmp_path):
    path = compositor_service(sup, tmp_path)
    sup.start()
    st = sup.wait_state("compositor", "ready", timeout=30)
    m = compositor_log_match(sup, r"event=ready ms=(\d+) socket=(\S+) peer_pid=(\d+) pid=(\d+)")
    print(f"sys://compositor start-to-ready: {m.group(1)} ms")
    assert m.group(2) == path
    weston = int(m.group(4))
    # the run (the service's pid) started weston; weston answers the socket
    with open(f"/proc/{weston}/stat") as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) == st["pid"]
    assert peer_pid(path) == weston == int(m.group(3))
    v = json.loads(subprocess.run(["unshare", "-n", BAY0, "validate", "--json"], env=sup.env,
                                  capture_output=True, text=True, timeout=60).stdout)
    comp = [c for c in v["checks"] if c["name"] == "compositor"][0]
    assert comp["level"] == "GREEN", comp
    # a rival takes the path over behind the compositor's back: validate sees it
    os.unlink(path)
    rival = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    rival.bind(path)
    rival.listen(4)
    try:
        v = json.loads(subprocess.run(["unshare", "-n", BAY0, "validate", "--json"],
                                      env=sup.env, capture_output=True, text=True,
                                      timeout=60).stdout)
    finally:
        rival.close()
    comp = [c for c in v["checks"] if c["name"] == "compositor"][0]
    assert comp["level"] == "RED", comp
    assert f"served by pid {os.getpid()} (" in comp["reason"]
    sup.cli("stop", "compositor")
    wait_for(lambda: not os.path.exists(f"/proc/{weston}"), what="weston gone")


def hijack(path, stop, ready):
    """Take the Wayland socket first, as a rival compositor would: hold the
    lock file and listen on the socket."""
    import fcntl
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(16)
        s.settimeout(0.05)
        ready.set()
        while not stop.is_set():
            try:
                s.accept()[0].close()
            except socket.timeout:
                pass
        s.close()
    os.unlink(path)


@needs_weston
def test_compositor_hijacked_socket_is_not_ready(sup, tmp_path):
    path = compositor_service(sup, tmp_path, files={"restart": "never\n"})
    run = os.path.join(sup.scandir, "compositor", "run")
    text = open(run).read().replace("--notify-fd 3", "--notify-fd 3 --ready-ms 1500")
    open(run, "w").write(text)
    stop, ready = threading.Event(), threading.Event()
    t = threading.Thread(target=hijack, args=(path, stop, ready))
    t.start()
    try:
        assert ready.wait(10)
        t0 = time.monotonic()
        sup.start()
        seen = set()
        # never ready while the rival holds the socket, until the run gives up
        while True:
            s = sup.svc("compositor")
            seen.add(s["state"])
            assert s["state"] != "ready" and not s["ready"], s
            if s["state"] in ("failed", "down"):
                break
            assert time.monotonic() - t0 < 30, s
            time.sleep(0.05)
        waited = time.monotonic() - t0
        compositor_log_match(sup, "event=not-ready-in-time ready_ms=1500")
        log = compositor_log(sup)
        assert f"is served by pid {os.getpid()} (" in log, log  # who holds it, logged
        assert waited >= 1.5  # it kept waiting until the deadline
    finally:
        stop.set()
        t.join()


def test_a_persona_created_with_ai_gets_the_socket(sup, tmp_path, podman_store):
    """`bay0 persona create --ai` mounts the tenant's socket dir at
    /run/bay0-ai in the persona; a client there reaches the server."""
    t = Tenant(sup, tmp_path, podman_store)
    shutil.copytree(os.path.join(ROOT, "personas", "sv", "personas"),
                    os.path.join(sup.scandir, "personas"))
    sup.start()
    sup.wait_state("sys-ai", "ready", timeout=60)
    sup.wait_state("personas", "ready", timeout=30)
    client = os.path.join(os.path.dirname(t.sock), "ai-client")  # visible in the mount
    subprocess.run(["cc", "-O2", "-static", "-o", client,
                    os.path.join(ROOT, "tenants", "ai", "ai-server.c")], check=True)
    try:
        sup.cli("persona", "create", "p://asker", "--image", "localhost/bay0-shell:latest",
                "--ai")
        sup.cli("persona", "start", "p://asker")
        i = json.loads(subprocess.run(t.podman + ["inspect", "p__asker"], capture_output=True,
                                      text=True, check=True).stdout)[0]
        mounts = {m["Destination"]: m["Source"] for m in i["Mounts"]}
        assert mounts["/run/bay0-ai"] == os.path.dirname(t.sock)
        r = subprocess.run(t.podman + ["exec", "p__asker", "/run/bay0-ai/ai-client", "--ask",
                                       "/run/bay0-ai/ai.sock", "echo from a persona"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "from a persona\n"
    finally:
        sup.cli("persona", "rm", "p://asker", check=False)
        sup.stop()


@needs_weston
def test_compositor_starts_with_default_signal_handling(sup, tmp_path):
    """The compositor, and so the whole desktop under it, starts with no
    signal ignored or blocked: not `bay0 tenant`'s SIGPIPE (in a terminal
    there, `yes | head` would end in EPIPE errors) nor its blocked SIGCHLD."""
    compositor_service(sup, tmp_path)
    record = tmp_path / "weston-signals"
    write_file(str(tmp_path / "bin" / "weston"), signal_recorder(record, shutil.which("weston")),
               0o755)
    sup.start()
    sup.wait_state("compositor", "ready", timeout=30)
    assert [(ign, blk) for _, ign, blk in recorded_runs(record)] == [(0, 0)]
    sup.cli("stop", "compositor")


@needs_weston
def test_compositor_as_an_unprivileged_user(sup, tmp_path):
    # a run dir nobody can reach (pytest's own tree is 0700, /run/bay0 is 0755)
    import tempfile
    sup.rundir = tempfile.mkdtemp(prefix="bay0-compositor-run.")
    os.chmod(sup.rundir, 0o755)
    sup.env["BAY0_RUNDIR"] = sup.rundir
    try:
        compositor_as_nobody(sup, tmp_path)
    finally:
        sup.stop()
        shutil.rmtree(sup.rundir, ignore_errors=True)


def compositor_as_nobody(sup, tmp_path):
    path = compositor_service(sup, tmp_path)
    run = os.path.join(sup.scandir, "compositor", "run")
    text = open(run).read().replace("--notify-fd 3", "--notify-fd 3 --user nobody")
    open(run, "w").write(text)
    sup.start()
    sup.wait_state("compositor", "ready", timeout=30)
    m = compositor_log_match(sup, r"event=ready ms=\d+ socket=\S+ peer_pid=(\d+)")
    with open(f"/proc/{m.group(1)}/status") as f:
        uids = next(l for l in f if l.startswith("Uid:")).split()[1:]
    assert uids == ["65534"] * 4, uids
    assert os.stat(os.path.dirname(path)).st_uid == 65534
    sup.cli("stop", "compositor")


@needs_weston
def test_validate_checks_the_socket_the_compositor_was_given(sup, tmp_path):
    """A compositor on --socket wayland-7: validate checks that socket (the
    run publishes its name), not the default wayland-0."""
    run = ("#!/bin/sh\nexec bay0 tenant run compositor --notify-fd 3 --socket wayland-7 -- \\\n"
           "    weston --backend=headless-backend.so --socket=wayland-7\n")
    path = compositor_service(sup, tmp_path, files={"run": run})
    sup.start()
    sup.wait_state("compositor", "ready", timeout=30)
    path = os.path.join(os.path.dirname(path), "wayland-7")
    assert os.path.exists(path)
    v = json.loads(subprocess.run(["unshare", "-n", BAY0, "validate", "--json"], env=sup.env,
                                  capture_output=True, text=True, timeout=60).stdout)
    comp = [c for c in v["checks"] if c["name"] == "compositor"][0]
    assert comp["level"] == "GREEN", comp
    assert comp["reason"].startswith(path + " answers from pid "), comp
    sup.cli("stop", "compositor")
