"""Restart policy and readiness, black-box, each written so that it fails
when the behaviour is missing (tests/mutants/ breaks each one on purpose and
checks these catch it). Where time is the point, the service writes its own
timestamps and the bounds are ones a loaded machine cannot miss: a lower
bound bay0's timer guarantees, or a minimum over several samples against a
delay bay0 would have to add."""
import os
import signal
import socket

from conftest import wait_for

MIN_DELAY_S = 0.100  # SVC_RESTART_DELAY_MS_MIN: the shortest backoff


def stamped_run(path, body, end=True):
    """A run that appends "start T" first and, if end, "end T" just before
    it exits with the code of the last command of body."""
    tail = f'rc=$?\necho "end $(date +%s.%N)" >> {path}\nexit $rc' if end else ""
    return f'echo "start $(date +%s.%N)" >> {path}\n{body}\n{tail}'


def stamps(path):
    """[(kind, t)] in order; [] before the first."""
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path).read().splitlines():
        kind, t = line.split()
        out.append((kind, float(t)))
    return out


def gaps(path):
    """Seconds from each end to the next start."""
    s = stamps(path)
    return [b[1] - a[1] for a, b in zip(s, s[1:]) if a[0] == "end" and b[0] == "start"]


def test_death_after_a_healthy_run_restarts_at_once(sup, tmp_path):
    # ran 1.2 s (> SVC_HEALTHY_UPTIME_MS) each time: no backoff, ever
    f = tmp_path / "stamps"
    sup.service("healthy", run=stamped_run(f, "sleep 1.2; false"))
    sup.start()
    wait_for(lambda: len(gaps(f)) >= 3, timeout=30, what="3 restarts")
    g = gaps(f)
    assert "svc=healthy event=backoff" not in sup.log_text()
    # a backoff would put at least MIN_DELAY_S between every end and the
    # next start; the restart at once has only fork and exec in between
    assert min(g) < MIN_DELAY_S, g


def test_deaths_age_out_of_the_restart_limit_window(sup, tmp_path):
    # limit 2 deaths in 1 s; each run lasts 1.1 s, so no two deaths are
    # ever within 1 s of each other: it restarts forever, never `failed`
    f = tmp_path / "stamps"
    sup.service("aging", run=stamped_run(f, "sleep 1.1; false"),
                files={"restart-limit": "2 1\n"})
    sup.start()
    s = wait_for(lambda: (s := sup.svc("aging")) and
                 (s["restarts"] >= 3 or s["state"] == "failed") and s,
                 timeout=30, what="3 restarts or failed")
    assert s["state"] != "failed", s
    assert "svc=aging event=failed" not in sup.log_text()
    # the deaths really were more than 1 s apart (the test's premise)
    ends = [t for kind, t in stamps(f) if kind == "end"]
    assert all(b - a > 1.0 for a, b in zip(ends, ends[1:])), ends


def test_on_failure_restarts_after_a_non_zero_exit(sup, tmp_path):
    marker = tmp_path / "ran-once"
    sup.service("onfail", run=f"if [ -e {marker} ]; then exec sleep 1000; fi\n"
                f"touch {marker}\nexit 3", files={"restart": "on-failure\n"})
    sup.start()
    s = wait_for(lambda: (s := sup.svc("onfail")) and
                 (s["restarts"] >= 1 or s["state"] in ("down", "failed")) and s,
                 what="a restart, or down/failed")
    assert s["restarts"] == 1, s
    s = sup.wait_state("onfail", "up")
    assert s["last_exit"] == {"code": 3} and s["desired"] == "up"
    # and a clean exit stays down (the other half of on-failure)
    sup.service("onfail-ok", run="exit 0", files={"restart": "on-failure\n"})
    sup.cli("reload")
    s = sup.wait_state("onfail-ok", "down")
    assert s["restarts"] == 0 and s["last_exit"] == {"code": 0}


def test_ready_from_a_stranger_is_refused(sup, helpers, tmp_path):
    # Two notify services: "a-victim" never says READY=1 itself;
    # "b-witness" says it once the test has sent its stranger's datagram.
    # The socket is one queue, so once the witness is ready, the stranger's
    # datagram (sent before) has been read and judged.
    trigger = tmp_path / "trigger"
    notify = os.path.join(helpers, "sdnotify")
    sup.service("a-victim", run="exec sleep 1000", files={"notify": ""})
    sup.service("b-witness", run=f"while [ ! -e {trigger} ]; do sleep 0.02; done\n"
                f"exec {notify} -- sleep 1000", files={"notify": ""})
    sup.start()
    sup.wait_state("a-victim", "starting")
    sup.wait_state("b-witness", "starting")
    # the stranger: this test process, neither a service's pid nor in its group
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"READY=1", os.path.join(sup.rundir, "notify"))
    s.sendto(b"STATUS=hi\nREADY=1\n", os.path.join(sup.rundir, "notify"))
    s.close()
    trigger.write_text("")
    sup.wait_state("b-witness", "ready")
    v = sup.svc("a-victim")
    assert v["state"] == "starting" and v["ready"] is False, v
    # READY=1 from a child in the service's process group counts (the child
    # lives on: bay0 asks the kernel for the sender's group when it reads)
    sup.service("c-child", run=f"{notify} -- sleep 1000 &\nexec sleep 1000", files={"notify": ""})
    sup.cli("reload")
    sup.wait_state("c-child", "ready")


def test_stop_continues_a_stopped_service_so_it_sees_the_down_signal(sup, tmp_path):
    # The service records each signal it handles; it exits 0 once it has
    # seen both HUP (its down-signal) and CONT. The test stops it with
    # SIGSTOP first: without bay0's SIGCONT after the down-signal, HUP stays
    # pending until timeout-kill's SIGKILL.
    got = tmp_path / "signals"
    sup.service("sleeper", run=f"trap 'echo HUP >> {got}; h=1' HUP\n"
                f"trap 'echo CONT >> {got}; c=1' CONT\n"
                "echo >&3\n"
                'while [ -z "$h" ] || [ -z "$c" ]; do sleep 0.05; done\nexit 0',
                files={"down-signal": "SIGHUP\n", "notification-fd": "3\n",
                       "timeout-kill": "3000\n"})
    sup.start()
    pid = sup.wait_state("sleeper", "ready")["pid"]
    os.kill(pid, signal.SIGSTOP)
    wait_for(lambda: open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "T",
             what="the service stopped")
    sup.cli("stop", "sleeper")
    s = sup.svc("sleeper")
    assert s["state"] == "down" and s["last_exit"] == {"code": 0}, s
    assert sorted(got.read_text().split()) == ["CONT", "HUP"]
    assert "svc=sleeper event=kill-timeout" not in sup.log_text()
