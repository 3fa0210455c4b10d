"""`bay0 enable|disable NAME` (issue 16): whether a service starts when its
supervisor starts, kept where that supervisor reads it — the service's
`down` file on a plain host (s6, runit), the state database when intents
live there (the Spine, BAY0_PERSIST_DIR) — and the command says where it
wrote. It survives a restart of the supervisor (a reboot's effect) and a
reload; what runs now changes only with --now."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BAY0, wait_for


def restart(sup):
    assert sup.stop() == 0
    sup.start()


def test_disable_enable_with_the_down_file(sup):
    sup.service("a")
    sup.service("b")
    sup.start()
    sup.wait_state("a", "up")
    down = os.path.join(sup.scandir, "a", "down")

    r = sup.cli("disable", "a")
    assert f"a stays down at boot: created {down}" in r.stdout, r.stdout
    assert os.path.exists(down)
    assert sup.svc("a")["state"] == "up", "disable without --now changed what runs"
    r = sup.cli("disable", "a")
    assert "already" in r.stdout and down in r.stdout, r.stdout

    restart(sup)  # what a reboot does to a supervisor
    sup.wait_state("b", "up")
    assert sup.svc("a")["state"] == "down", sup.svc("a")

    r = sup.cli("enable", "a")
    assert f"a starts at boot: removed {down}" in r.stdout, r.stdout
    assert not os.path.exists(down)
    assert sup.svc("a")["state"] == "down", "enable without --now changed what runs"
    restart(sup)
    sup.wait_state("a", "up")


def test_a_disabled_new_service_stays_down_on_reload(sup):
    sup.service("a")
    sup.start()
    sup.wait_state("a", "up")
    sup.service("c")  # not scanned yet
    r = sup.cli("disable", "c")
    assert "c stays down at boot: created" in r.stdout, r.stdout
    sup.cli("reload")
    wait_for(lambda: sup.svc("c"), what="c scanned")
    assert sup.svc("c")["state"] == "down", sup.svc("c")
    sup.cli("enable", "c")
    sup.cli("reload")
    assert sup.svc("c")["state"] == "down", "enable started c without --now"


def test_now_starts_and_stops(sup):
    sup.service("a")
    sup.start()
    sup.wait_state("a", "up")
    sup.cli("disable", "--now", "a")
    assert sup.svc("a")["state"] == "down"  # --now waits like bay0 stop
    assert os.path.exists(os.path.join(sup.scandir, "a", "down"))
    sup.cli("enable", "--now", "a")
    assert sup.svc("a")["state"] in ("up", "ready")


def test_database_when_the_supervisor_keeps_intents_there(sup, tmp_path):
    persist = tmp_path / "persist"
    persist.mkdir()
    sup.env["BAY0_PERSIST_DIR"] = str(persist)
    sup.service("a")
    sup.service("d", files={"down": ""})
    sup.start()
    sup.wait_state("a", "up")

    r = sup.cli("disable", "a")
    assert "a stays down at boot: wrote desired=down to the state database" in r.stdout, r.stdout
    assert str(persist) in r.stdout, r.stdout
    assert not os.path.exists(os.path.join(sup.scandir, "a", "down")), "wrote a down file too"
    r = sup.cli("enable", "d")
    assert "d starts at boot: wrote desired=up" in r.stdout, r.stdout
    assert "overrides the service's down file" in r.stdout, r.stdout

    restart(sup)
    sup.wait_state("d", "up")
    assert sup.svc("a")["state"] == "down", sup.svc("a")

    # a client without the supervisor's BAY0_PERSIST_DIR is told so
    env = {k: v for k, v in sup.env.items() if k != "BAY0_PERSIST_DIR"}
    r = subprocess.run([BAY0, "enable", "a"], capture_output=True, text=True, env=env,
                       timeout=30)
    if not os.path.isdir("/persist/spine"):
        assert r.returncode == 2 and "BAY0_PERSIST_DIR" in r.stderr, r


def test_unknown_names_and_offline(sup, tmp_path):
    sup.service("clock")
    sup.start()
    r = sup.cli("disable", "clok", check=False)
    assert r.returncode == 1, r
    assert "no such service: clok; did you mean clock?" in r.stderr, r.stderr
    r = sup.cli("enable", check=False)
    assert r.returncode == 2 and "which service?" in r.stderr, r.stderr
    assert sup.stop() == 0

    # no supervisor: the down file under --scandir
    env = {k: v for k, v in sup.env.items() if k != "BAY0_PERSIST_DIR"}
    nobody = str(tmp_path / "nobody")
    r = subprocess.run([BAY0, "disable", "--rundir", nobody, "--scandir", sup.scandir,
                        "clock"], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r
    assert os.path.exists(os.path.join(sup.scandir, "clock", "down"))
    r = subprocess.run([BAY0, "enable", "--rundir", nobody, "--scandir", sup.scandir,
                        "nope"], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 1 and "no such service: nope" in r.stderr, r
    r = subprocess.run([BAY0, "enable", "--now", "--rundir", nobody, "--scandir",
                        sup.scandir, "clock"], capture_output=True, text=True, env=env,
                       timeout=30)
    assert r.returncode == 3 and "no supervisor answered" in r.stderr, r
    assert os.path.exists(os.path.join(sup.scandir, "clock", "down")), "changed anyway"


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (scripts/deps.sh)")
def test_the_down_file_is_made_durably(sup, tmp_path):
    """disable writes the down file as a power cut must not undo or halve
    it: a temp file beside it, fsynced, renamed over it, then an fsync of
    the service directory; enable fsyncs the directory after the unlink.
    Traced from the real syscalls (file_replace() without the fsyncs fails)."""
    sup.service("clock")
    env = {k: v for k, v in sup.env.items() if k != "BAY0_PERSIST_DIR"}
    # an ASan build: LeakSanitizer cannot run under ptrace (it exits 1)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
    nobody, trace = str(tmp_path / "nobody"), str(tmp_path / "trace")
    d = os.path.join(sup.scandir, "clock")

    def traced(verb):
        # musl's open() is the open system call, glibc's is openat
        r = subprocess.run(["strace", "-o", trace, "-e", "trace=open,openat,fsync,rename,unlink",
                            BAY0, verb, "--rundir", nobody, "--scandir", sup.scandir, "clock"],
                           capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, r
        calls = []
        fds = {}
        for line in open(trace):
            m = re.match(r'(?:openat\(AT_FDCWD, |open\()"([^"]+)".* = (\d+)$', line)
            if m:
                fds[m.group(2)] = m.group(1)
            m = re.match(r'fsync\((\d+)\) += 0', line)
            if m:
                calls.append(("fsync", fds.get(m.group(1))))
            m = re.match(r'(rename|unlink)\("([^"]+)".* = 0', line)
            if m:
                calls.append((m.group(1), m.group(2)))
        return calls

    calls = traced("disable")
    assert os.path.exists(os.path.join(d, "down"))
    tmp = os.path.join(d, "down.tmp")
    assert calls == [("fsync", tmp), ("rename", tmp), ("fsync", d)], calls
    calls = traced("enable")
    assert not os.path.exists(os.path.join(d, "down"))
    assert calls == [("unlink", os.path.join(d, "down")), ("fsync", d)], calls


def test_help_and_command_list():
    r = subprocess.run([BAY0, "enable", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "down" in r.stdout and "--now" in r.stdout
    r = subprocess.run([BAY0, "help"], capture_output=True, text=True)
    assert "  enable " in r.stdout and "  disable " in r.stdout
