"""Focus switching on real podman containers (a private store per test
module, the CPU-busy "work" sample persona): `bay0 focus p://NAME` thaws
NAME and freezes every other running user persona through the cgroups bay0
owns (--cgroup-parent ROOT/p__NAME), podman's own view follows (podman
pause/unpause in a child), and a podman that hangs never holds the switch.

The containers are made with `podman run --cgroup-parent` exactly as the
persona manager creates them (focus_cgroup_parent); each test module gets
its own cgroup ROOT, so concurrent sessions never see each other's."""
import json
import os
import platform
import shutil
import signal
import time

import pytest

from conftest import (PodmanStore, BAY0 as BAY0_BIN, Supervisor, ignoring, kill_tree, recorded_runs,
                      signal_recorder, wait_for, write_file)

FREEZER = "/sys/fs/cgroup/freezer"
V1 = os.path.exists(os.path.join(FREEZER, "cgroup.procs"))
CG2 = "/sys/fs/cgroup" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "/sys/fs/cgroup/unified"

pytestmark = pytest.mark.skipif(shutil.which("podman") is None or os.geteuid() != 0,
                                reason="needs podman and root")


class Store(PodmanStore):
    """A private podman store with the work image, and a cgroup root."""

    def status(self, container):
        return self.podman("inspect", "--format", "{{.State.Status}}", container).stdout.strip()

    def run(self, name):
        self.podman("run", "-d", "--pull=never", "--name", f"p__{name}",
                    "--cgroup-parent", f"{self.cgroot}/p__{name}", "localhost/bay0-work:latest")

    def cg(self, name, hierarchy=None):
        base = FREEZER if V1 else CG2
        parent = f"{base}{self.cgroot}/p__{name}"
        kids = [d for d in os.listdir(parent) if d.startswith("libpod-") and "conmon" not in d]
        assert len(kids) == 1, kids
        return os.path.join(parent, kids[0])

    def frozen(self, name):
        if V1:
            with open(os.path.join(self.cg(name), "freezer.state")) as f:
                return f.read().strip() != "THAWED"
        with open(os.path.join(self.cg(name), "cgroup.freeze")) as f:
            return f.read().strip() == "1"

    def cpu_us(self, name):
        if V1:
            d = self.cg(name).replace(FREEZER, "/sys/fs/cgroup/cpuacct")
            with open(os.path.join(d, "cpuacct.usage")) as f:
                return int(f.read()) // 1000
        with open(os.path.join(self.cg(name), "cpu.stat")) as f:
            return int(next(l for l in f if l.startswith("usage_usec")).split()[1])

    def cleanup(self, names=("a", "b")):
        for name in names:
            try:
                d = self.cg(name)
                with open(os.path.join(d, "freezer.state" if V1 else "cgroup.freeze"), "w") as f:
                    f.write("THAWED" if V1 else "0")
            except (OSError, AssertionError):
                pass
            self.podman("unpause", f"p__{name}", check=False)
            self.podman("rm", "-f", "-t", "0", f"p__{name}", check=False)
        self.podman("rmi", "-f", "localhost/bay0-work:latest", check=False)
        self.release()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("podman"))
    s = Store(base)
    r = s.build("work")
    if r.returncode != 0:
        pytest.skip("cannot build the work image here: " + r.stderr[-300:])
    try:
        s.run("a")
        s.run("b")
    except AssertionError as e:
        s.cleanup()
        pytest.skip(f"podman cannot run containers here: {e}")
    yield s
    s.cleanup()


@pytest.fixture
def fsup(tmp_path, store):
    sup = Supervisor(tmp_path)
    sup.env["BAY0_PODMAN"] = " ".join(store.cmd)
    sup.env["BAY0_PERSONA_CGROUP_ROOT"] = store.cgroot
    sup.env["BAY0_FOCUS_SYNC_TIMEOUT_MS"] = "1500"
    sup.env["BAY0_FOCUS_SYNC_RETRY_MS"] = "500"
    yield sup
    if sup.proc and sup.proc.poll() is None:
        pid = sup.proc.pid
        sup.stop()
        kill_tree(pid)
    if not sup.rundir.startswith(str(tmp_path)):  # a world-readable one of its own
        shutil.rmtree(sup.rundir, ignore_errors=True)


def focus_json(sup):
    return json.loads(sup.cli("focus", "--json").stdout)


def podman_agrees(sup, store):
    j = focus_json(sup)
    if not j["sync"]["podman_agrees"]:
        return False
    states = {p["container"]: p["state"] for p in j["personas"]}
    return all(store.status(c) == s for c, s in states.items())


def cpu_stalls(store, name, window=0.2):
    a = store.cpu_us(name)
    time.sleep(window)  # the sampling interval of the measurement itself
    return store.cpu_us(name) == a


def test_focus_freezes_the_background_and_podman_agrees(fsup, store):
    fsup.start()
    r = fsup.cli("focus", "p://a")
    assert r.stdout.startswith("p://a focused in ") and "paused p://b" in r.stdout
    # the switch is done when the command returns: no waiting for podman
    assert not store.frozen("a") and store.frozen("b")
    # the paused persona's CPU time stops growing within 1 s; a's keeps growing
    wait_for(lambda: cpu_stalls(store, "b"), timeout=1.0, interval=0, what="p://b's CPU to stop")
    assert cpu_stalls(store, "b", 0.5)
    assert not cpu_stalls(store, "a", 0.3)
    # podman's own view follows: b paused, a running, and bay0 says the same
    wait_for(lambda: podman_agrees(fsup, store), timeout=15, interval=0.2, what="podman to agree")
    assert store.status("p__b") == "paused" and store.status("p__a") == "running"
    j = focus_json(fsup)
    assert j["focused"] == "p://a"
    assert {p["name"]: p["state"] for p in j["personas"]} == {"p://a": "running", "p://b": "paused"}
    text = fsup.cli("focus").stdout
    assert text.splitlines()[0] == "p://a" and "p://b" in text and "paused" in text
    # and back: b runs again at once, a is frozen, podman follows again
    fsup.cli("focus", "p://b")
    assert not store.frozen("b") and store.frozen("a")
    assert not cpu_stalls(store, "b", 0.3)
    wait_for(lambda: podman_agrees(fsup, store), timeout=15, interval=0.2, what="podman to agree")
    assert store.status("p__a") == "paused" and store.status("p__b") == "running"
    log = fsup.log_text()
    # the GPU-detach call site runs (and says so) before a persona is frozen
    detach = log.index("event=gpu-detach persona=p://a")
    assert detach < log.index("event=focus persona=p://b")
    assert "event=focus-intent" not in log  # no persist dir: nothing stored


def test_rapid_switches_end_in_agreement(fsup, store):
    """Switches faster than podman: every podman pause/unpause is still in
    flight when the next switch comes. The freezer always follows the last
    command, and once the syncs settle podman agrees with it."""
    fsup.start()
    for i in range(10):
        target = "a" if i % 2 == 0 else "b"
        other = "b" if target == "a" else "a"
        fsup.cli("focus", f"p://{target}")
        assert not store.frozen(target) and store.frozen(other)
    wait_for(lambda: podman_agrees(fsup, store), timeout=30, interval=0.2, what="podman to agree")
    assert store.status("p__b") == "running" and store.status("p__a") == "paused"
    assert not store.frozen("b") and store.frozen("a")


def test_focus_returns_while_podman_hangs(fsup, store, tmp_path):
    """A podman that hangs (fault injection: a wrapper that sleeps while a
    flag file exists, else runs the real podman) does not hold the switch;
    bay0 says podman does not agree yet, retries, and agrees once podman
    answers again."""
    flag = tmp_path / "hang"
    flag.write_text("")
    wrapper = tmp_path / "podman-hang"
    write_file(str(wrapper), "#!/bin/sh\nwhile [ -e %s ]; do sleep 0.05; done\nexec %s \"$@\"\n"
               % (flag, " ".join(store.cmd)), 0o755)
    fsup.env["BAY0_PODMAN"] = str(wrapper)
    fsup.start()
    for target, other in (("a", "b"), ("b", "a"), ("a", "b")):
        t0 = time.monotonic()
        fsup.cli("focus", f"p://{target}")
        assert time.monotonic() - t0 < 5  # a hung podman would make this 1.5 s+ per call
        assert not store.frozen(target) and store.frozen(other)
    assert fsup.cli("status").returncode == 0
    wait_for(lambda: "event=focus-synced" in fsup.log_text() and "result=retry" in fsup.log_text(),
             timeout=10, interval=0.1, what="a sync to time out")
    assert focus_json(fsup)["sync"]["podman_agrees"] is False
    flag.unlink()
    wait_for(lambda: podman_agrees(fsup, store), timeout=20, interval=0.2, what="podman to agree")
    assert store.status("p__a") == "running" and store.status("p__b") == "paused"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="rt_sigaction's number is x86_64's")
def test_podman_starts_with_default_signal_handling(fsup, store, tmp_path):
    """The supervisor's podman calls (here focus's inspect and pause) start
    with no signal ignored or blocked, whatever the supervisor's own parent
    ignored (signal 32 in CI's runner, SIGTSTP here): SIG_IGN survives exec,
    and a podman that ignores SIGTSTP cannot be stopped from a terminal."""
    record = tmp_path / "podman-signals"
    wrapper = tmp_path / "podman-recorder"
    write_file(str(wrapper), signal_recorder(record, " ".join(store.cmd)), 0o755)
    fsup.env["BAY0_PODMAN"] = str(wrapper)
    fsup.start(preexec_fn=ignoring(32, signal.SIGTSTP, signal.SIGPIPE))
    fsup.cli("focus", "p://a")
    wait_for(lambda: podman_agrees(fsup, store), timeout=30, interval=0.2, what="podman to agree")
    runs = recorded_runs(record)
    assert runs, "no podman call was recorded"  # inspect, and pause when b still runs
    assert [(verb, 0, 0) for verb, _, _ in runs] == runs, runs


def test_focus_refuses_bad_targets(fsup, store):
    import tempfile
    fsup.rundir = tempfile.mkdtemp(prefix="bay0-run-")  # pytest's tmp is 0700
    os.chmod(fsup.rundir, 0o755)
    fsup.env["BAY0_RUNDIR"] = fsup.rundir
    fsup.start()
    r = fsup.cli("focus", "sys://ai", check=False)
    assert r.returncode == 2 and "system tenant" in r.stderr
    # not running: the client starts it through the persona manager first,
    # which this test does not run (test_focus_starts_a_stopped_persona does)
    r = fsup.cli("focus", "p://nope", check=False)
    assert r.returncode == 3 and "persona manager" in r.stderr, r.stderr
    r = fsup.cli("focus", "P://a", check=False)
    assert r.returncode == 2 and "P://a" in r.stderr
    r = fsup.cli("focus", "p://a", "p://b", check=False)
    assert r.returncode == 2
    r = fsup.cli("focus", "p://a", check=False, user="nobody")
    assert r.returncode == 4 and "only root may switch the focus" in r.stderr, r.stderr
    assert fsup.cli("focus", user="nobody").returncode == 0  # reading is for anyone
    # nothing was frozen by any of these
    assert "event=focus " not in fsup.log_text()


def test_new_supervisor_adopts_the_focus(fsup, store):
    fsup.start()
    fsup.cli("focus", "p://b")
    wait_for(lambda: podman_agrees(fsup, store), timeout=15, interval=0.2, what="podman to agree")
    fsup.stop()
    fsup.start()
    assert focus_json(fsup)["focused"] == "p://b"
    assert "event=focus-adopted container=p__b" in fsup.log_text()


@pytest.fixture
def managed(tmp_path):
    """A supervisor running the persona manager (the service `personas`)
    on a podman store of its own (the manager's reconcile removes
    containers it does not know: the module's p__a and p__b would be
    ghosts to it), with a state database: personas are made with
    `bay0 persona create`, as on the Spine."""
    import tempfile
    st = Store(tempfile.mkdtemp(prefix="bay0-pm-"))  # podman: runroot of at most 50 bytes
    r = st.build("work")
    if r.returncode != 0:
        pytest.skip("cannot build the work image here: " + r.stderr[-300:])
    sup = Supervisor(tmp_path)
    persist = tmp_path / "persist"
    persist.mkdir()
    sup.env.update(BAY0_PODMAN=" ".join(st.cmd), BAY0_PERSIST_DIR=str(persist),
                   BAY0_PERSONA_CGROUP_ROOT=st.cgroot, BAY0_FOCUS_SYNC_TIMEOUT_MS="5000")
    sup.service("personas", run=f"exec {os.path.abspath(BAY0_BIN)} persona-manager --notify-fd 3 "
                f"--rundir {sup.rundir} --logdir {sup.logdir}", files={"notification-fd": "3\n"})
    sup.db = persist / "spine" / "state.db"
    sup.store = st
    yield sup
    for n in ("x", "y"):
        sup.cli("persona", "rm", f"p://{n}", check=False)
    if sup.proc and sup.proc.poll() is None:
        pid = sup.proc.pid
        sup.stop()
        kill_tree(pid)
    st.cleanup(names=("x", "y"))
    shutil.rmtree(st.base, ignore_errors=True)


def active_persona(db):
    import sqlite3
    with sqlite3.connect(str(db)) as c:
        row = c.execute("SELECT value FROM meta WHERE key = 'active_persona'").fetchone()
    return row[0] if row else None


def test_focus_with_the_persona_manager(managed):
    """Personas made by `bay0 persona create` live under bay0's parent
    cgroups; focus pauses the other one, `persona list` says paused, the
    database stores the active persona, and focusing a stopped persona
    starts it first (and says how long that took)."""
    sup = managed
    sup.start()
    sup.wait_state("personas", "ready")
    for n in ("x", "y"):
        sup.cli("persona", "create", f"p://{n}", "--image", "localhost/bay0-work:latest")
    sup.cli("persona", "start", "p://x")
    # y is stopped: focus starts it, then switches (x is paused)
    r = sup.cli("focus", "p://y")
    assert "\np://y started in " in r.stdout and " ms\n" in r.stdout, r.stdout
    assert "p://y focused in " in r.stdout and "paused p://x" in r.stdout
    rows = {p["name"]: p for p in json.loads(sup.cli("persona", "list", "--json").stdout)}
    assert rows["p://x"]["state"] == "paused" and rows["p://y"]["state"] == "running"
    assert "paused" in sup.cli("persona", "list").stdout
    wait_for(lambda: active_persona(sup.db) == "p://y", timeout=15, interval=0.2,
             what="the active persona in the database")
    wait_for(lambda: focus_json(sup)["sync"]["podman_agrees"], timeout=15, interval=0.2,
             what="podman to agree")
    sup.cli("focus", "p://x")
    rows = {p["name"]: p for p in json.loads(sup.cli("persona", "list", "--json").stdout)}
    assert rows["p://x"]["state"] == "running" and rows["p://y"]["state"] == "paused"
    wait_for(lambda: active_persona(sup.db) == "p://x", timeout=15, interval=0.2,
             what="the active persona in the database")
    # the child logs after its write: the line may follow the database by a moment
    wait_for(lambda: "event=focus-intent persona=p://x result=stored" in sup.log_text(),
             what="the focus-intent line")
