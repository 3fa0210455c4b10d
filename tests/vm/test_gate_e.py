"""Gate E (seed 004) in QEMU: two CPU-busy personas run, `bay0 focus`
pauses the background one (cgroup v2 cgroup.freeze here, the guest has no
v1 hierarchies), its CPU time stops growing, the switch returns at once,
and podman's own view follows; the governor runs on the guest's real
/proc/pressure (PID 1 has CAP_SYS_RESOURCE: 1-s trigger windows).

The containers are made with podman in the guest exactly as the persona
manager makes them (--cgroup-parent /bay0-personas/p__NAME), from the
sample image the image's `images` service loads at boot. The figures
(switch time, command time, wake-ups) go to build/vm/gate-e.txt.
"""
import json
import os
import re
import time

import pytest

from conftest import BOOT_TIMEOUT_S, OUT, Vm

INIT_DONE = r"bay0: init complete \(uptime (\d+) ms\)"
PODMAN_S = 120  # each podman command takes 0.6-2 s under TCG; image loads more


def record(line):
    with open(os.path.join(OUT, "gate-e.txt"), "a") as f:
        f.write(time.strftime("%Y-%m-%dT%H:%M:%SZ ", time.gmtime()) + line + "\n")


def sh_ok(vm, cmd, timeout_s=PODMAN_S):
    status, out = vm.sh(cmd, timeout_s)
    assert status == 0, f"{cmd}: exit {status}\n{out}"
    return out


def sh_json(vm, cmd):
    out = sh_ok(vm, cmd)
    return json.loads(out[out.index("{"):])


@pytest.fixture(scope="module")
def guest(spine):
    vm = Vm(spine, "gate-e", ["--persist", spine["persist"]])
    vm.wait_for(INIT_DONE, BOOT_TIMEOUT_S)
    vm.wait_for(r"spine# ", BOOT_TIMEOUT_S)
    deadline = time.monotonic() + 300
    while vm.sh("podman image exists localhost/bay0-work:latest", PODMAN_S)[0] != 0:
        assert time.monotonic() < deadline, "the images service never loaded bay0-work"
        vm.sh("sleep 2", 10)
    yield vm
    vm.kill()


def test_governor_on_real_pressure_files(guest):
    g0 = sh_json(guest, "bay0 governor --json")
    assert g0["on"] is True
    for res in ("cpu", "memory", "io"):
        assert g0["psi"][res]["watched"], g0
        assert g0["psi"][res]["window_us"] == 1000000, g0  # privileged triggers
    guest.sh("sleep 5", 20)
    g1 = sh_json(guest, "bay0 governor --json")
    secs = (g1["wakeups"]["since_ms"] - g0["wakeups"]["since_ms"]) / 1000
    psi = g1["wakeups"]["psi"] - g0["wakeups"]["psi"]
    timer = g1["wakeups"]["timer"] - g0["wakeups"]["timer"]
    record(f"governor before personas: {psi} psi events + {timer} timer ticks in {secs:.1f} s "
           f"(cpu some avg10 {g1['psi']['cpu']['some_avg10']}%, level {g1['level']})")
    if g1["level"] == "normal" and not g1["watching"]:
        assert timer == 0


def test_two_personas_switch_and_background_cpu_drops(guest):
    for n in ("a", "b"):
        sh_ok(guest, f"podman run -d --pull=never --name p__{n} --cgroup-parent /bay0-personas/p__{n} "
                     "localhost/bay0-work:latest")
    j = sh_json(guest, "bay0 focus --json")
    # (System tenants such as sys://ai are listed too; the user personas
    # are what focus switches between.)
    assert {p["name"]: p["state"] for p in j["personas"]
            if p["name"].startswith("p://")} == {"p://a": "running", "p://b": "running"}
    out = sh_ok(guest, "time bay0 focus p://a 2>&1")
    m = re.search(r"p://a focused in (\d+) us; paused p://b", out)
    assert m, out
    real = re.search(r"real\s+(\d+m \S+|\S+)", out)
    # running again at once: the freezer says so right after the command
    state = sh_ok(guest, "cat /sys/fs/cgroup/bay0-personas/p__a/libpod-*/cgroup.freeze "
                         "/sys/fs/cgroup/bay0-personas/p__b/libpod-*/cgroup.freeze")
    # (the serial line may echo the command back, wrapped: keep the values)
    assert [l.strip() for l in state.splitlines() if l.strip() in ("0", "1")] == ["0", "1"], state
    # the background persona's CPU time stops growing (within 1 s)
    guest.sh("sleep 1", 10)
    u1 = {p["name"]: p["cpu_usage_us"] for p in sh_json(guest, "bay0 focus --json")["personas"]}
    guest.sh("sleep 2", 10)
    u2 = {p["name"]: p["cpu_usage_us"] for p in sh_json(guest, "bay0 focus --json")["personas"]}
    assert u2["p://b"] == u1["p://b"], (u1, u2)
    assert u2["p://a"] > u1["p://a"], (u1, u2)
    # podman's own view follows
    deadline = time.monotonic() + 120
    while not sh_json(guest, "bay0 focus --json")["sync"]["podman_agrees"]:
        assert time.monotonic() < deadline, "podman never agreed"
        guest.sh("sleep 1", 10)
    assert sh_ok(guest, "podman inspect --format '{{.State.Status}}' p__b").strip().endswith("paused")
    out2 = sh_ok(guest, "time bay0 focus p://b 2>&1")
    m2 = re.search(r"p://b focused in (\d+) us; paused p://a", out2)
    assert m2, out2
    real2 = re.search(r"real\s+(\d+m \S+|\S+)", out2)
    thaw_us = sh_json(guest, "bay0 focus --json")["last_thaw_us"]
    record(f"focus in the VM: switch {m.group(1)} us and {m2.group(1)} us in the supervisor "
           f"(p://b running again after {thaw_us} us); "
           f"command real {real.group(1) if real else '?'} / {real2.group(1) if real2 else '?'}; "
           f"background CPU {u2['p://b'] - u1['p://b']} us in 2 s while frozen, "
           f"focused {u2['p://a'] - u1['p://a']} us")
    g = sh_json(guest, "bay0 governor --json")
    record(f"governor with two personas: level {g['level']}, wakeups {g['wakeups']}")
    for n in ("a", "b"):
        guest.sh(f"podman unpause p__{n}; podman rm -f -t 0 p__{n}", PODMAN_S)
