"""Containment per service (issue 19) in QEMU, where bay0 is PID 1 and owns
a cgroup2 with every controller: a fork loop in a service stops at its
pids.max while another service runs on; a service allocating without
bound is OOM-killed alone at its memory.max while bay0 (-1000) and the
rest run on; no-new-privs stops a set-user-ID-root program from gaining
root for a service running as nobody (the same program, without the file,
does gain it).

One boot of the Spine; the services are added to /etc/bay0/sv and picked
up with `bay0 reload`. Every wait is on a condition read in the guest.
"""
import re
import time

import pytest

from conftest import BOOT_TIMEOUT_S, Vm

INIT_DONE = r"bay0: init complete \(uptime (\d+) ms\)"
PROMPT = r"spine# "
WAIT_S = 90  # a condition in the guest under TCG on a loaded host


def sh_ok(vm, cmd, timeout_s=30):
    status, out = vm.sh(cmd, timeout_s)
    assert status == 0, f"{cmd}: exit {status}\n{out}"
    return out


def wait_guest(vm, cmd, what, timeout_s=WAIT_S):
    """Runs cmd until it exits 0; returns its output."""
    deadline = time.monotonic() + timeout_s
    while True:
        status, out = vm.sh(cmd, 30)
        if status == 0:
            return out
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {cmd}\n{out}"
        vm.sh("sleep 0.5", 10)


def add_service(vm, name, run, files=None):
    d = f"/etc/bay0/sv/{name}"
    sh_ok(vm, f"mkdir -p {d} && printf '%s\\n' '#!/bin/sh' '{run}' > {d}/run && chmod 755 {d}/run")
    for fname, text in (files or {}).items():
        sh_ok(vm, f"printf '{text}' > {d}/{fname}")


def status_row(vm, name):
    out = sh_ok(vm, f"bay0 status {name} || true")
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == name:
            return f
    return None


def up_pid(vm, name):
    out = wait_guest(vm, f"bay0 status {name} | grep -E '^{name} +(up|ready) '", f"{name} up")
    return int([l for l in out.splitlines() if l.startswith(name + " ")][0].split()[2])


@pytest.fixture(scope="module")
def guest(spine):
    vm = Vm(spine, "containment", ["--persist", spine["persist"]])
    vm.wait_for(INIT_DONE, BOOT_TIMEOUT_S)
    vm.wait_for(PROMPT, BOOT_TIMEOUT_S)
    base = sh_ok(vm, "ls -d /sys/fs/cgroup/bay0.1.*").split()[-1]
    vm.base = base
    add_service(vm, "keeper", "exec sleep 100000")
    # a fork loop: 200 background sleeps wanted, pids.max allows 16 tasks
    # (the shell gives up at the first fork that fails; its cgroup is killed)
    add_service(vm, "bomb", "i=0; while [ $i -lt 200 ]; do sleep 100000 & i=$((i+1)); done; "
                            "exec sleep 100000",
                {"pids.max": "16\\n", "restart": "never\\n"})
    # memory without bound: tail keeps all of a file with no newline
    add_service(vm, "hog", "exec tail /dev/zero",
                {"memory.max": "32M\\n", "memory.swap.max": "0\\n", "restart": "never\\n"})
    # set-user-ID root: a copy of bay0 that asks for a state change (refused
    # unless the caller's effective uid is 0, exit 4) as nobody
    sh_ok(vm, "cp /bin/bay0 /tmp/suid-bay0 && chmod 4755 /tmp/suid-bay0")
    nnp_run = ("/tmp/suid-bay0 start --nowait keeper >/dev/null 2>&1; echo $? > /tmp/{0}.rc; "
               "exec sleep 100000")
    add_service(vm, "nnp", nnp_run.format("nnp"), {"user": "nobody\\n", "no-new-privs": ""})
    add_service(vm, "suid", nnp_run.format("suid"), {"user": "nobody\\n"})
    sh_ok(vm, "bay0 reload")
    yield vm
    vm.kill()


def test_controllers_enabled_for_services(guest):
    ctl = sh_ok(guest, f"cat {guest.base}/cgroup.subtree_control").split()
    assert {"cpu", "io", "memory", "pids"} <= set(ctl), ctl
    # written at the first start, which the reload begins
    wait_guest(guest, f"grep -qx 16 {guest.base}/bomb/pids.max", "bomb's pids.max")
    wait_guest(guest, f"grep -qx {32 << 20} {guest.base}/hog/memory.max", "hog's memory.max")
    wait_guest(guest, f"grep -qx 0 {guest.base}/hog/memory.swap.max", "hog's memory.swap.max")


def test_fork_loop_stops_at_pids_max_and_the_rest_runs(guest):
    keeper = up_pid(guest, "keeper")
    wait_guest(guest, f"grep -q '^max [1-9]' {guest.base}/bomb/pids.events", "pids.events max")
    current = int(sh_ok(guest, f"cat {guest.base}/bomb/pids.current").split()[-1])
    assert current <= 16, current
    assert up_pid(guest, "keeper") == keeper
    assert sh_ok(guest, "echo alive").split()[-1] == "alive"  # the console shell forks fine


def test_allocation_without_bound_is_oom_killed_alone(guest):
    keeper = up_pid(guest, "keeper")
    wait_guest(guest, f"grep -q '^oom_kill [1-9]' {guest.base}/hog/memory.events", "an OOM kill")
    guest.wait_for(r"svc=hog event=exited pid=\d+ signal=SIGKILL", WAIT_S)  # PID 1's console
    row = status_row(guest, "hog")
    assert row and row[1] not in ("up", "ready"), row  # restart never: it stays down
    assert up_pid(guest, "keeper") == keeper  # the rest runs on
    assert sh_ok(guest, "cat /proc/1/oom_score_adj").split()[-1] == "-1000"
    # services do not inherit PID 1's -1000 (the OOM killer could not pick them)
    assert sh_ok(guest, f"cat /proc/{keeper}/oom_score_adj").split()[-1] == "0"


def test_no_new_privs_stops_a_setuid_program(guest):
    rcs = {}
    for name in ("suid", "nnp"):
        rcs[name] = wait_guest(guest, f"cat /tmp/{name}.rc", f"{name}'s result").split()[-1]
    # without the file the set-user-ID bit works (euid 0: allowed, 0);
    # with it the program runs as nobody and the supervisor refuses it (4)
    assert rcs == {"suid": "0", "nnp": "4"}, rcs
    pid = up_pid(guest, "nnp")
    assert re.search(r"NoNewPrivs:\s+1", sh_ok(guest, f"cat /proc/{pid}/status"))
