"""max-death-tally and `bay0 deaths NAME`: the supervisor keeps the last N
deaths of each service's run process in RUNDIR/deaths/NAME (s6's death
tally, s6-svdt's listing), every death, requested or not. Real binary,
real processes; every wait polls a condition with a deadline."""
import json
import os
import signal

from conftest import wait_for

CRASH = {"max-death-tally": "3\n", "restart-limit": "32 60\n"}


def deaths(sup, name, *extra, check=True):
    return sup.cli("deaths", *extra, name, check=check)


def death_lines(sup, name):
    return deaths(sup, name).stdout.splitlines()


def exited_count(sup, name):
    return sup.log_text().count(f"svc={name} event=exited")


def record_path(sup, name):
    return os.path.join(sup.rundir, "deaths", name.replace("/", "@"))


def test_keeps_the_last_tally_deaths_oldest_first(sup):
    sup.service("crash", run="exit 3", files=CRASH)
    sup.start()
    wait_for(lambda: exited_count(sup, "crash") >= 5, timeout=30, what="5 deaths")
    lines = death_lines(sup, "crash")
    assert len(lines) == 3, lines
    stamps = []
    for line in lines:
        stamp, kind, value = line.split(" ")
        assert (kind, value) == ("exit", "3"), line
        assert stamp.endswith("Z") and len(stamp) == len("2026-11-22T02:50:01.123456Z"), line
        stamps.append(stamp)
    assert stamps == sorted(stamps), lines
    out = json.loads(deaths(sup, "crash", "--json").stdout)
    assert len(out) == 3 and all(d == {"time": d["time"], "code": 3} for d in out), out
    assert [d["time"] for d in out] == [line.split(" ")[0] for line in lines]


def test_a_kill_is_recorded_as_its_signal(sup):
    sup.service("victim")
    sup.start()
    pid = sup.wait_state("victim", "up")["pid"]
    assert death_lines(sup, "victim") == []  # never died: nothing to show
    os.kill(pid, signal.SIGKILL)
    lines = wait_for(lambda: death_lines(sup, "victim"), what="the death recorded")
    assert len(lines) == 1 and lines[-1].endswith(" signal KILL"), lines
    out = json.loads(deaths(sup, "victim", "--json").stdout)
    assert out[-1]["signal"] == "KILL" and "code" not in out[-1], out


def test_a_requested_stop_is_a_death_too(sup):
    sup.service("svc")
    sup.start()
    sup.wait_state("svc", "up")
    sup.cli("stop", "svc")
    lines = death_lines(sup, "svc")
    assert len(lines) == 1 and lines[0].endswith(" signal TERM"), lines


def test_tally_zero_keeps_nothing(sup):
    sup.service("quiet", run="exit 3", files={"max-death-tally": "0\n",
                                              "restart-limit": "32 60\n"})
    sup.service("loud", run="exit 3", files=CRASH)
    sup.start()
    wait_for(lambda: exited_count(sup, "quiet") >= 2 and exited_count(sup, "loud") >= 2,
             timeout=30, what="both died twice")
    r = deaths(sup, "quiet")
    assert (r.returncode, r.stdout) == (0, ""), r
    assert json.loads(deaths(sup, "quiet", "--json").stdout) == []
    assert os.listdir(os.path.join(sup.rundir, "deaths")) == ["loud"]


def test_unknown_and_bad_names(sup):
    sup.service("here")
    sup.start()
    r = deaths(sup, "nosuch", check=False)
    assert r.returncode == 1 and "nosuch" in r.stderr and r.stdout == "", r
    r = deaths(sup, "../etc", check=False)
    assert r.returncode == 2 and r.stdout == "", r
    r = sup.cli("deaths", check=False)
    assert r.returncode == 2 and "usage: bay0 deaths" in r.stderr, r


def test_a_logger_is_recorded_under_name_at_log(sup):
    sup.service("app", files={"log/run": "#!/bin/sh\nexec cat >/dev/null\n"})
    sup.start()
    pid = sup.wait_state("app/log", "up")["pid"]
    os.kill(pid, signal.SIGKILL)
    lines = wait_for(lambda: death_lines(sup, "app/log"), what="the logger's death")
    assert lines[-1].endswith(" signal KILL"), lines
    assert os.path.exists(record_path(sup, "app/log"))
    assert death_lines(sup, "app") == []


def test_a_corrupt_record_is_an_error_naming_the_file(sup):
    sup.service("svc")
    sup.start()
    sup.wait_state("svc", "up")
    path = record_path(sup, "svc")
    with open(path, "wb") as f:
        f.write(b"not a record at all, but long enough for a header")
    r = deaths(sup, "svc", check=False)
    assert r.returncode == 1 and path in r.stderr and r.stdout == "", r
    sup.cli("restart", "svc")  # the supervisor starts a bad file over
    lines = death_lines(sup, "svc")
    assert len(lines) == 1 and lines[0].endswith(" signal TERM"), lines


def test_a_changed_tally_starts_over_and_removal_forgets(sup):
    d = sup.service("svc", files={"max-death-tally": "5\n"})
    sup.start()
    for _ in range(2):
        sup.wait_state("svc", "up")
        sup.cli("restart", "svc")
    assert len(death_lines(sup, "svc")) == 2
    with open(os.path.join(d, "max-death-tally"), "w") as f:
        f.write("4\n")
    sup.cli("reload")
    sup.cli("restart", "svc")
    assert len(death_lines(sup, "svc")) == 1
    assert os.path.getsize(record_path(sup, "svc")) == 24 + 4 * 16
    os.rename(d, os.path.join(sup.root, "gone"))
    sup.cli("reload")
    wait_for(lambda: not os.path.exists(record_path(sup, "svc")),
             what="the record removed with the service")


def test_a_record_that_cannot_be_written_is_one_warning_and_nothing_else(sup):
    os.makedirs(record_path(sup, "crash"))  # a directory where the file goes
    sup.service("crash", run="exit 3", files=CRASH)
    sup.start()
    wait_for(lambda: exited_count(sup, "crash") >= 3, timeout=30, what="3 deaths")
    log = sup.log_text()
    assert log.count("svc=crash event=death-record-failed") == 1, log
    assert 'error="open: Is a directory"' in log, log
    assert sup.svc("crash")["state"] != "failed"
