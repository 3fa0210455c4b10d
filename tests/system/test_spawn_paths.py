"""Both spawn paths (src/spawn_shared.c's rules): BAY0_SPAWN_PLAIN in the
supervisor's environment turns the shared-memory path off, so every spawn
is fork-like (as under ASan); `make check-plain` runs the system tests
that start and restart services that way in CI. These tests check the switch itself: with it, the
supervisor logs it and reserves no low fds for sharing; without it (on a
build that has the shared path), it does reserve them."""
import os

import pytest

from conftest import wait_for

SPAWN_SLOTS = 16
FDS_PER_SLOT = 3


def devnull_fds(pid):
    fd_dir = f"/proc/{pid}/fd"
    n = 0
    for fd in os.listdir(fd_dir):
        try:
            n += os.readlink(os.path.join(fd_dir, fd)) == "/dev/null"
        except OSError:
            pass
    return n


def run_one_service(sup):
    sup.service("a", run="echo started > out; exec sleep 1000")
    sup.start()
    sup.wait_state("a", ("up", "ready"))
    wait_for(lambda: os.path.exists(os.path.join(sup.scandir, "a", "out")),
             what="the service's own output")
    # restarts too: a second spawn through the same path
    first = sup.svc("a")["pid"]
    sup.cli("restart", "a")
    wait_for(lambda: (s := sup.svc("a")) and s["pid"] not in (None, 0, first) and
             s["state"] in ("up", "ready"), what="a restarted")


def test_plain_switch_spawns_fork_like(sup):
    sup.env["BAY0_SPAWN_PLAIN"] = "1"
    run_one_service(sup)
    assert "event=spawn-plain" in sup.log_text()
    # no reserved low fds: at most bay0's own /dev/null
    assert devnull_fds(sup.proc.pid) < SPAWN_SLOTS * FDS_PER_SLOT
    assert sup.stop() == 0


def test_without_the_switch_the_shared_path_is_set_up(sup):
    sup.env.pop("BAY0_SPAWN_PLAIN", None)
    run_one_service(sup)
    assert "event=spawn-plain" not in sup.log_text()
    held = devnull_fds(sup.proc.pid)
    if held < SPAWN_SLOTS * FDS_PER_SLOT:
        sup.stop()
        pytest.skip("this build has no shared-memory spawn path (ASan, or not x86_64)")
    assert sup.stop() == 0
