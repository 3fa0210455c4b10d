"""A service's containment files (issue 19; contain.h) on the real binary:
bad values are config errors naming the file, the value and the rule;
no-new-privs, oom-score-adj and capabilities really reach the service's
process (read from /proc); where the cgroup lacks a controller (this
host's cgroup2 offers none) the services start without that limit and
the supervisor says so once per controller, not per service or start.
The cgroup limits themselves are tested in QEMU (tests/vm/test_containment.py),
where bay0 owns a cgroup2 with every controller."""
import os
import re
import signal

import pytest

from conftest import wait_for
from test_creds import creds_service, proc_status, running_pid

BAD = {
    "memory.max": ("lots\n", "memory.max: 'lots' is not a size of at least 1048576 bytes"),
    "memory.swap.max": ("-1\n", "memory.swap.max: '-1' is not a size of at least 0 bytes"),
    "pids.max": ("0\n", "pids.max: '0' is not a number from 1 to 4194304 or 'max'"),
    "cpu.max": ("50 100\n", "cpu.max: '50 100' is not 'QUOTA [PERIOD]' in microseconds"),
    "cpu.weight": ("10001\n", "cpu.weight: '10001' is not a number from 1 to 10000"),
    "io.weight": ("heavy\n", "io.weight: 'heavy' is not a number from 1 to 10000"),
    "no-new-privs": ("0\n", "no-new-privs: '0': the file's presence turns it on"),
    "oom-score-adj": ("-1001\n", "oom-score-adj: '-1001' is not a number from -1000 to 1000"),
    "capabilities": ("net_bind_service cap_wings\n", "capabilities: unknown capability 'cap_wings'"),
}


def test_bad_containment_files_are_config_errors_rest_runs(sup):
    for i, (file, (text, _)) in enumerate(BAD.items()):
        sup.service(f"bad{i}", files={file: text})
    sup.service("fine", files={"memory.max": "64M\n", "memory.swap.max": "0\n", "pids.max": "max\n",
                               "cpu.max": "max\n", "cpu.weight": "50\n", "io.weight": "200\n",
                               "no-new-privs": "", "oom-score-adj": "100\n",
                               "capabilities": "# keep these\ncap_chown, kill\n"})
    sup.start()
    for i, (file, (_, reason)) in enumerate(BAD.items()):
        s = sup.wait_state(f"bad{i}", "failed")
        assert reason in s["reason"], (file, s["reason"])
    assert sup.wait_state("fine", "up")["pid"] > 0


def test_no_new_privs_oom_score_adj_and_capabilities_reach_the_process(sup):
    creds_service(sup, "boxed", {"no-new-privs": "", "oom-score-adj": "321\n",
                                 "capabilities": "net_bind_service\nCAP_KILL\n"})
    creds_service(sup, "plain", {})
    creds_service(sup, "nocaps", {"capabilities": "none\n", "user": "nobody\n"})
    sup.start()
    boxed, plain, nocaps = (running_pid(sup, n) for n in ("boxed", "plain", "nocaps"))
    st = proc_status(boxed)
    assert st["NoNewPrivs"] == ["1"], st["NoNewPrivs"]
    keep = (1 << 10) | (1 << 5)  # cap_net_bind_service, cap_kill
    assert int(st["CapBnd"][0], 16) == keep, st["CapBnd"]
    assert int(st["CapPrm"][0], 16) == keep, st["CapPrm"]  # root: what the bounding set keeps
    assert open(f"/proc/{boxed}/oom_score_adj").read().strip() == "321"
    # the service's write is its own: a child that shared the supervisor's
    # memory when it wrote would have given the supervisor 321 too
    assert open(f"/proc/{sup.proc.pid}/oom_score_adj").read().strip() == \
        open("/proc/self/oom_score_adj").read().strip()
    st = proc_status(plain)  # the files are the service's own
    assert st["NoNewPrivs"] == ["0"] and int(st["CapBnd"][0], 16) & ~keep, st
    assert open(f"/proc/{plain}/oom_score_adj").read().strip() == \
        open(f"/proc/{sup.proc.pid}/oom_score_adj").read().strip()
    st = proc_status(nocaps)
    assert int(st["CapBnd"][0], 16) == 0 and st["Uid"][0] != "0", st


def test_edit_takes_effect_at_next_start_and_bad_edit_refuses(sup):
    d = creds_service(sup, "edited", {"oom-score-adj": "100\n"})
    sup.start()
    first = running_pid(sup, "edited")
    assert open(f"/proc/{first}/oom_score_adj").read().strip() == "100"
    with open(os.path.join(d, "oom-score-adj"), "w") as f:
        f.write("200\n")
    os.kill(first, signal.SIGKILL)
    second = wait_for(lambda: (s := sup.svc("edited")) and s["state"] == "ready" and
                      s["pid"] != first and s["pid"], what="the restart")
    assert open(f"/proc/{second}/oom_score_adj").read().strip() == "200"
    with open(os.path.join(d, "oom-score-adj"), "w") as f:
        f.write("high\n")
    os.kill(second, signal.SIGKILL)
    wait_for(lambda: "svc=edited event=spawn-refused" in sup.log_text(), what="the refused spawn")
    assert "oom-score-adj: 'high' is not a number from -1000 to 1000" in sup.log_text()


def cgroup_v2_controllers():
    """The controllers bay0's services could get here, or None without cgroup2."""
    with open("/proc/self/mountinfo") as f:
        mnt = next((l.split()[4] for l in f if " - cgroup2 " in l), None)
    if mnt is None:
        return None
    own = next(l[3:].strip() for l in open("/proc/self/cgroup") if l.startswith("0::"))
    try:
        return open(os.path.join(mnt + own, "cgroup.controllers")).read().split()
    except OSError:
        return None


def test_missing_controller_is_said_once_per_controller(sup):
    avail = cgroup_v2_controllers()
    if avail is None or {"memory", "pids"} <= set(avail):
        pytest.skip(f"this host's cgroup2 offers {avail}: the degraded path needs one without "
                    "memory and pids (the QEMU guest tests the limits)")
    for name in ("one", "two"):
        creds_service(sup, name, {"pids.max": "64\n", "memory.max": "256M\n",
                                  "memory.swap.max": "0\n"})
    sup.start()
    for name in ("one", "two"):
        running_pid(sup, name)
    for _ in range(3):  # more starts say nothing more
        sup.cli("restart", "one", "two")
        for name in ("one", "two"):
            running_pid(sup, name)
    log = sup.log_text()
    lines = re.findall(r".*event=cgroup-(?:controller-missing|limits-unavailable).*", log)
    if "event=cgroups-unavailable" in log:  # no usable cgroup2 at all: one line in all
        assert len(lines) == 1 and "event=cgroup-limits-unavailable" in lines[0], lines
        return
    by = sorted(re.search(r"controller=(\w+)", l).group(1) for l in lines)
    assert by == ["memory", "pids"], lines
    assert all("not repeated" in l for l in lines), lines
