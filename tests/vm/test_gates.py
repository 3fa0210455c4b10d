"""Gates B, C, D and E (seed 004) in QEMU on the full Spine: podman, the
persona manager, validate and focus inside the guest, container storage on
/persist.

One persist disk, six boots, in file order:
  boot 0: the first boot of the fresh disk, its power cut (Gate B's
          deterministic hook, src/state/diepoint.c) in the middle of the
          state database's first migration.
  boot 1: the sample images load, the persona manager, the compositor and
          the AI tenant start; Gate C (validate); Gate D (the AI tenant:
          no network, answers, a persona reaches it); Gate E (focus between two CPU-busy personas); a
          persona wanted running; then `bay0 persona start` of another and
          QEMU SIGKILLed while podman starts its container.
  boot 2: reconcile repairs; the database and `podman ps -a` agree, no
          ghost, every persona as its intent says; then `persona create`
          and SIGKILL while podman creates the container.
  boot 3: the same checks again; then the power cut in the middle of
          `persona create`'s transaction (row written, options not yet,
          no COMMIT).
  boot 4: the uncommitted persona is gone; then the power cut right after
          the COMMIT of `persona start`'s intent, before podman starts it.
  boot 5: the committed intent survived and reconcile carried it out;
          `bay0 analyze` of the boot (kernel -> PID 1 -> init complete ->
          services ready -> personas running, in order, to
          build/vm/analyze.txt); clean poweroff.
Every boot after a cut or kill must converge: the database and `podman ps
-a` agree, no ghost, every persona as its intent says.
The cuts: bay0.test_state_die on the kernel command line; from boot 1 on
it names a file on /run that a test writes just before the command whose
write must die (`before|after:OP`, OP a statement of src/state/). The
writer logs the point on /dev/kmsg and reboots without sync: what is not
on the disk is lost, as in a power cut (-no-reboot ends QEMU).
Each test's wall time and the milliseconds podman's commands took in it
(the console's `event=exec-done ... elapsed_ms=N` lines) go to build/vm/gate-times.txt.
"""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import BOOT_TIMEOUT_S, OUT, POWEROFF_TIMEOUT_S, SCRIPTS, Vm

INIT_DONE = r"bay0: init complete \(uptime (\d+) ms\)"
MANAGER_READY = r"svc=personas event=ready"
PROMPT = r"spine# "
# podman under TCG: 0.6-2 s a command, more while a busy persona runs.
PODMAN_S = 120
CGROUP = "/sys/fs/cgroup/bay0-personas"
# Gate B's deterministic cut (src/state/diepoint.c): armed by writing a
# point to this file (tmpfs: every boot starts unarmed).
DIE_FILE = "/run/bay0-test-state-die"


class Boot:
    """One boot of the shared persist disk, with timing for the report."""

    def __init__(self, spine, disk, name):
        self.vm = Vm(spine, name, ["--persist", disk,
                                   "--append", "bay0.test_state_die=@" + DIE_FILE])
        try:
            self.vm.wait_for(INIT_DONE, BOOT_TIMEOUT_S)
            self.vm.wait_for(MANAGER_READY, BOOT_TIMEOUT_S + PODMAN_S)
            self.vm.wait_for(PROMPT, 60)
            # The manager answers once its boot reconcile is done.
            self.ok("bay0 persona list")
        except BaseException:
            self.vm.kill()  # the next test's boot needs the disk
            raise

    def sh(self, cmd, timeout_s=PODMAN_S):
        return self.vm.sh(cmd, timeout_s)

    def ok(self, cmd, timeout_s=PODMAN_S):
        status, out = self.sh(cmd, timeout_s)
        assert status == 0, "%s -> %d:\n%s" % (cmd, status, out)
        return out


def last_json(out):
    """The JSON document in a command's output (log lines may surround it)."""
    start = min([i for i in (out.find("["), out.find("{")) if i >= 0])
    end = max(out.rfind("]"), out.rfind("}"))
    return json.loads(out[start:end + 1])


def record(name, vm, start_off, t0, extra=""):
    text = vm.text()[start_off:]
    podman_ms = sum(int(m) for m in re.findall(r"event=exec-(?:done|failed) what=\S+ result=.*?elapsed_ms=(\d+)", text))
    wall = time.monotonic() - t0
    with open(os.path.join(OUT, "gate-times.txt"), "a") as f:
        f.write("%s %s wall_s=%.1f podman_s=%.1f %s\n" % (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), name, wall,
            podman_ms / 1000.0, extra))


@pytest.fixture(scope="module")
def disk(spine):
    path = os.path.join(OUT, "gates-persist.img")
    subprocess.run([os.path.join(SCRIPTS, "mkpersist.sh"), "256M", path],
                   check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def state():
    s = {}
    yield s
    for b in s.values():
        if isinstance(b, Boot):
            b.vm.kill()


STATE_OPEN_TIMED_OUT = r"bay0: state db open/migrate \(timeout"


def cut_at(vm, point, off, timeout_s=PODMAN_S, give_up=None):
    """The writer reached point and cut the power: its kmsg line, then the
    end of QEMU (the guest's reboot, -no-reboot). A writer not allowed to
    reboot stops at the point instead; QEMU is killed then (the same cut,
    said in the record). Returns how: "reboot" or "kill"; or None when the
    console showed give_up first (the point cannot come any more)."""
    m = vm.wait_for(r"event=test-state-die point=%s\S* pid=\d+ action=power-cut|%s"
                    % (re.escape(point), give_up or "$^"), timeout_s, off)
    if "test-state-die" not in m.group(0):
        return None
    if vm.wait_exit(30) is not None:
        return "reboot"
    vm.kill()
    return "kill"


def cut_during(b, point, command):
    """Arm point, run command; the machine dies in its write."""
    b.ok("echo %s > %s" % (point, DIE_FILE))
    off = len(b.vm.text())
    b.vm.send(command)
    return cut_at(b.vm, point, off)


def boot1(spine, disk, state):
    if "cut0" not in state:
        # Boot 0: the fresh disk's first boot, cut in the middle of the
        # first migration's transaction (schema made, version not bumped,
        # no COMMIT). PID 1's first state step does it; on a host so loaded
        # that the step times out first (TCG), no one migrates on this boot:
        # no cut, said (the test of it skips).
        t0 = time.monotonic()
        state["cut0"] = "not reached"
        vm0 = Vm(spine, "gates-0", ["--persist", disk,
                                    "--append", "bay0.test_state_die=after:migrate"])
        try:
            state["cut0"] = cut_at(vm0, "after:migrate", 0, BOOT_TIMEOUT_S,
                                   give_up=STATE_OPEN_TIMED_OUT)
        finally:
            vm0.kill()
        record("gate-b-cut-first-boot", vm0, 0, t0, "cut=%s" % state["cut0"])
    if "b1" not in state:
        state["b1"] = Boot(spine, disk, "gates-1")
        vm = state["b1"].vm
        record("boot1", vm, 0, vm.t0, "init_complete_s=%.1f manager_ready_s=%.1f" % (
            vm.arrival_s(INIT_DONE) or -1, vm.arrival_s(MANAGER_READY) or -1))
    return state["b1"]


def test_sample_images_loaded_on_first_boot(spine, disk, state):
    b = boot1(spine, disk, state)
    log = b.ok("bay0 log images")
    for ref in ("localhost/bay0-shell:latest", "localhost/bay0-work:latest"):
        assert re.search(r"image-load: %s loaded \(sha256:" % ref, log), log
    out = b.ok("podman images --format '{{.Repository}}:{{.Tag}}'")
    for ref in ("localhost/bay0-shell:latest", "localhost/bay0-work:latest"):
        assert ref in out.split(), out
    # / is a real mount (crun could not pivot_root otherwise), every
    # controller is enabled, storage is on /persist.
    text = b.vm.text()
    assert "bay0: root is a real mount (" in text
    assert re.search(r"bay0: cgroup controllers enabled \(.*cpu.*memory.*pids", text)
    out = b.ok("podman info --format '{{.Store.GraphRoot}} {{.Host.CgroupManager}} {{.Host.OCIRuntime.Name}}'")
    assert "/persist/containers/storage cgroupfs crun" in out, out


def test_gate_b_power_cut_in_the_first_boots_migration(spine, disk, state):
    """Boot 0 died in the middle of the first migration; boot 1 migrated
    again from an empty database: nothing moved aside as corrupt, the
    persona manager answered (Boot waits for it), the genesis chain holds."""
    b = boot1(spine, disk, state)
    if state["cut0"] is None:
        pytest.skip("boot 0's state step timed out before its migration (host load "
                    "%.1f): no cut to check" % os.getloadavg()[0])
    assert state["cut0"] in ("reboot", "kill"), state["cut0"]
    files = b.ok("ls /persist/spine").split()
    assert "state.db" in files and not [f for f in files if "corrupt" in f], files
    b.ok("bay0 genesis verify")  # exit 0: the chain is intact


def test_gate_c_validate_green(spine, disk, state):
    # validate's freezer check has a fixed 45 s deadline for five podman
    # calls; under TCG on a host loaded beyond twice its cores (a shared
    # development machine) each call takes 3-7 s and the check times out.
    # Not a pass: a skip that says why (CI machines run it).
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > 2 * cores:
        pytest.skip("host load %.1f on %d cores: podman under TCG would exceed "
                    "validate's fixed freezer deadline" % (load, cores))
    b = boot1(spine, disk, state)
    off, t0 = len(b.vm.text()), time.monotonic()
    status, out = b.sh("bay0 validate --verbose")
    lines = [l for l in out.splitlines() if not l.startswith("bay0: level=")]
    verdict = lines[0].strip()
    checks = {l.split(":")[0]: l for l in lines[1:] if ":" in l}
    for c in ("freezer", "persist", "log"):
        assert c in checks and ": GREEN" in checks[c], out
    # The seed lets the umbilical be YELLOW until the AI tenant is wired;
    # nothing else may be short of GREEN.
    not_green = [c for c, l in checks.items() if ": GREEN" not in l]
    assert set(not_green) <= {"umbilical"}, out
    assert verdict == ("GREEN" if not not_green else "YELLOW"), out
    assert status == (0 if verdict == "GREEN" else 1), out
    record("gate-c", b.vm, off, t0, "verdict=%s" % verdict)


def test_gate_d_ai_tenant(spine, disk, state):
    b = boot1(spine, disk, state)
    off, t0 = len(b.vm.text()), time.monotonic()
    b.vm.wait_for(r"svc=ai event=ready", PODMAN_S)
    # --network none, checked from inside: the container's own network
    # namespace (/proc/PID/net/dev of its init) has no interface but lo.
    pid = b.ok("podman inspect --format '{{.State.Pid}}' sys__ai").split()[-1]
    assert pid.isdigit() and int(pid) > 1, pid
    ifaces = [l.split(":")[0].strip() for l in
              b.ok("cat /proc/%s/net/dev" % pid).splitlines() if ":" in l]
    assert ifaces == ["lo"], ifaces
    out = b.ok("podman inspect --format 'mode={{.HostConfig.NetworkMode}} "
               "{{.HostConfig.SecurityOpt}}' sys__ai")
    assert re.search(r"^mode=none \[.*no-new-privileges", out, re.M), out
    # It answers on its socket, through bay0's peer check.
    out = b.ok("bay0 tenant ask ai ping")
    assert out.strip().splitlines()[-1] == "pong", out
    # A persona reaches it through the bind-mounted socket directory.
    b.ok("bay0 persona create p://asker --image localhost/bay0-shell:latest --ai")
    b.ok("bay0 persona start p://asker")
    b.ok("cp /usr/libexec/bay0/ai-client /run/bay0/tenants/ai/ai-client")
    out = b.ok("podman exec p__asker /run/bay0-ai/ai-client --ask "
               "/run/bay0-ai/ai.sock 'echo from a persona'")
    assert out.strip().splitlines()[-1] == "from a persona", out
    b.ok("rm -f /run/bay0/tenants/ai/ai-client")
    b.ok("bay0 persona rm p://asker")
    # validate's umbilical check connects and verifies the peer too (the
    # verdict itself is Gate C's: its freezer may time out on a loaded host).
    status, out = b.sh("bay0 validate --verbose")
    assert re.search(r"^umbilical: GREEN", out, re.M), out
    record("gate-d", b.vm, off, t0)


def cpu_usec(b, container):
    out = b.ok("cat %s/%s/cpu.stat" % (CGROUP, container))
    return int(re.search(r"^usage_usec (\d+)", out, re.M).group(1))


def test_gate_e_focus_freezes_the_background(spine, disk, state):
    b = boot1(spine, disk, state)
    off, t0 = len(b.vm.text()), time.monotonic()
    for n in ("busy-a", "busy-b"):
        b.ok("bay0 persona create p://%s --image localhost/bay0-work:latest" % n)
    b.ok("bay0 persona start p://busy-a p://busy-b", 2 * PODMAN_S)
    latencies = []
    for front, back in (("busy-a", "busy-b"), ("busy-b", "busy-a")):
        out = b.ok("bay0 focus p://%s" % front)
        m = re.search(r"focused in (\d+) us", out)
        assert m, out
        latencies.append(int(m.group(1)))
        f0, g0 = cpu_usec(b, "p__" + front), cpu_usec(b, "p__" + back)
        b.ok("sleep 2")
        f1, g1 = cpu_usec(b, "p__" + front), cpu_usec(b, "p__" + back)
        assert g1 - g0 < 20000, "background p://%s still ran %d us" % (back, g1 - g0)
        assert f1 - f0 > 200000, "focused p://%s ran only %d us" % (front, f1 - f0)
    out = b.ok("bay0 focus")
    # The console carries bay0's own log lines too (a podman sync may log
    # while the command runs): the answer is the first line that is not one.
    lines = [l for l in out.splitlines() if not l.startswith("bay0: level=")]
    assert lines and lines[0].strip() == "p://busy-b", out
    # Done: stop them (they would starve every podman call that follows).
    b.ok("bay0 persona rm p://busy-a p://busy-b", 2 * PODMAN_S)
    record("gate-e", b.vm, off, t0, "focus_us=%s" % ",".join(map(str, latencies)))


def agree(b):
    """The database and podman agree: every persona's state is its intent,
    every container the DB names exists (and runs when it should), no
    p__* container the DB does not know, none half-made."""
    personas = last_json(b.ok("bay0 persona list --json"))
    if isinstance(personas, dict):
        personas = personas.get("personas", [])
    ps = last_json(b.ok("podman ps -a --format json"))
    containers = {}
    for c in ps:
        names = c.get("Names") or []
        for n in names:
            containers[n] = c.get("State", "")
    ours = {n: s for n, s in containers.items() if n.startswith(("p__", "sys__"))}
    # The AI tenant's container belongs to its service, not to the persona
    # database; any other sys__ container (validate's) is a ghost.
    ours.pop("sys__ai", None)
    known = {p["container"] for p in personas}
    assert set(ours) <= known, ("ghost containers", ours, personas)
    for p in personas:
        assert p["state"] == p["desired"], p
        st = ours.get(p["container"])
        if p["desired"] == "running":
            assert st == "running", (p, ours)
        else:
            assert st in (None, "exited", "stopped", "created"), (p, ours)
    return personas, ours


def wait_agree(b, timeout_s=3 * PODMAN_S):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return agree(b)
        except AssertionError:
            # Paced by the serial round trips and podman itself.
            if time.monotonic() > deadline:
                raise


def kill_during(b, command, podman_args):
    """Run command in the background in the guest, and SIGKILL QEMU as
    soon as the persona manager's `podman ...podman_args` process exists
    (the guest's shell watches for it and says so): podman is then in the
    middle of the step that matters."""
    # No pgrep in this busybox: every command line, NULs made spaces; the
    # pattern's first letter in brackets so that grep does not find itself.
    # Lines stay short: the serial console is slow to take long ones.
    b.ok("w() { while ! cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' |"
         " grep -q \"$1\"; do :; done; echo KILL-NOW-$$; }")
    off = len(b.vm.text())
    b.vm.send("%s &" % command)
    b.vm.send("w '[%s]%s'" % (podman_args[0], podman_args[1:]))
    b.vm.wait_for(r"KILL-NOW-\d+", PODMAN_S, off)
    b.vm.proc.kill()
    b.vm.proc.wait(10)


def test_gate_b_kill_during_persona_start(spine, disk, state):
    b = boot1(spine, disk, state)
    off, t0 = len(b.vm.text()), time.monotonic()
    b.ok("bay0 persona create p://keep --image localhost/bay0-shell:latest")
    b.ok("bay0 persona start p://keep")
    b.ok("bay0 persona create p://victim --image localhost/bay0-shell:latest")
    agree(b)
    kill_during(b, "bay0 persona start p://victim", "start p__victim")
    record("gate-b-kill-start", b.vm, off, t0)
    t1 = time.monotonic()
    b2 = state["b2"] = Boot(spine, disk, "gates-2")
    log = b2.ok("bay0 log personas")
    assert re.search(r"event=reconcile-done", log), log[-3000:]
    personas, ours = wait_agree(b2)
    by = {p["name"]: p for p in personas}
    assert by["p://keep"]["desired"] == "running", by
    assert "p://victim" in by, by
    record("gate-b-reboot-1", b2.vm, 0, t1, "init_complete_s=%.1f manager_ready_s=%.1f" % (
        b2.vm.arrival_s(INIT_DONE) or -1, b2.vm.arrival_s(MANAGER_READY) or -1))


def analyze_totals(b):
    """`bay0 analyze` of this boot of the full Spine: kernel -> PID 1 ->
    init complete -> services ready -> personas running, on one clock and
    in that order; the text to build/vm/analyze.txt, the numbers to
    gate-times.txt."""
    t0 = time.monotonic()
    text = "\n".join(l for cmd in ("bay0 analyze", "bay0 analyze blame",
                                   "bay0 analyze critical-chain p://keep")
                     for l in ["$ " + cmd] + b.ok(cmd).splitlines()
                     if not l.startswith("bay0: level="))
    line = next(l for l in b.ok("bay0 analyze --json").splitlines()
                if l.startswith('{"kernel_to_bay0_ms"'))
    t = json.loads(line)
    init_ms = t["kernel_to_bay0_ms"] + t["bay0_to_init_complete_ms"]
    assert 0 < t["kernel_to_bay0_ms"] <= init_ms <= t["boot_to_services_ready_ms"], t
    assert t["persona_manager"] is True and t["personas_wanted"] >= 1, t
    assert t["personas_not_running"] == 0, t  # every wanted persona is running
    assert init_ms <= t["boot_to_personas_running_ms"], t
    assert "boot to personas running" in text and "\u2514\u2500personas @" in text, text
    with open(os.path.join(OUT, "analyze.txt"), "w") as f:
        f.write(text + "\n")
    record("analyze", b.vm, len(b.vm.text()), t0,
           "kernel_to_pid1_ms=%.0f init_complete_ms=%.0f services_ready_ms=%.0f "
           "personas_running_ms=%.0f" % (t["kernel_to_bay0_ms"], init_ms,
                                         t["boot_to_services_ready_ms"],
                                         t["boot_to_personas_running_ms"]))


def test_gate_b_kill_during_persona_create(spine, disk, state):
    b2 = state.get("b2")
    if b2 is None:
        pytest.fail("needs the boot of test_gate_b_kill_during_persona_start")
    off, t0 = len(b2.vm.text()), time.monotonic()
    kill_during(b2, "bay0 persona create p://late --image localhost/bay0-shell:latest",
                "name p__late")
    t1 = time.monotonic()
    b3 = state["b3"] = Boot(spine, disk, "gates-3")
    personas, ours = wait_agree(b3)
    by = {p["name"]: p for p in personas}
    assert by["p://keep"]["state"] == "running", by
    if "p://late" in by:
        assert by["p://late"]["desired"] == "stopped", by
    record("gate-b-kill-create", b3.vm, 0, t0)


def test_gate_b_power_cut_mid_transaction(spine, disk, state):
    """A cut after the row of `persona create` is written but before its
    options and the COMMIT: after the reboot the persona does not exist
    (a row without its options would be a half-applied intent)."""
    b3 = state.get("b3")
    if b3 is None:
        pytest.fail("needs the boot of test_gate_b_kill_during_persona_create")
    t0 = time.monotonic()
    how = cut_during(b3, "after:persona-put", "bay0 persona create p://half --image "
                     "localhost/bay0-shell:latest --memory 67108864 -- sleep 1000")
    b4 = state["b4"] = Boot(spine, disk, "gates-4")
    personas, ours = wait_agree(b4)
    by = {p["name"]: p for p in personas}
    assert "p://half" not in by and "p__half" not in ours, (by, ours)
    assert by["p://keep"]["state"] == "running", by
    record("gate-b-cut-mid-transaction", b4.vm, 0, t0, "cut=%s" % how)


def test_gate_b_power_cut_after_commit(spine, disk, state):
    """A cut right after `persona start` committed its intent, before
    podman was asked: after the reboot the intent is there (committed is
    durable) and reconcile carries it out: the persona runs."""
    b4 = state.get("b4")
    if b4 is None:
        pytest.fail("needs the boot of test_gate_b_power_cut_mid_transaction")
    t0 = time.monotonic()
    b4.ok("bay0 persona create p://twice --image localhost/bay0-shell:latest")
    how = cut_during(b4, "after:commit", "bay0 persona start p://twice")
    b5 = state["b5"] = Boot(spine, disk, "gates-5")
    personas, ours = wait_agree(b5)
    by = {p["name"]: p for p in personas}
    assert by["p://twice"]["desired"] == "running", by
    assert ours.get("p__twice") == "running", ours
    record("gate-b-cut-after-commit", b5.vm, 0, t0, "cut=%s" % how)
    analyze_totals(b5)
    start = len(b5.vm.text())
    b5.vm.send("bay0 poweroff")
    assert b5.vm.wait_exit(POWEROFF_TIMEOUT_S + PODMAN_S) == 0, b5.vm.text()[start:][-3000:]
