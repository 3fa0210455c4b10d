"""Errors a new user meets name the object, the problem and what to do
(issue 16): unknown service names with a suggestion, a missing #!
interpreter, wrong arguments to stop/signal/log, --persist on a host
without /persist. The message text is part of the interface: these
tests check its key words."""
import os

from conftest import wait_for


def test_unknown_names_say_no_such_service_and_suggest(sup):
    sup.service("clock")
    sup.start()
    sup.wait_state("clock", "up")
    for args in (["stop", "clok"], ["start", "clok"], ["restart", "clok"],
                 ["signal", "TERM", "clok"], ["status", "clok"], ["log", "clok"]):
        r = sup.cli(*args, check=False)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert "no such service: clok; did you mean clock?" in r.stderr, (args, r.stderr)
    # nothing close: no guess, a pointer to the list instead
    r = sup.cli("stop", "zzzzzz", check=False)
    assert "no such service: zzzzzz (bay0 status lists them)" in r.stderr, r.stderr
    assert "did you mean" not in r.stderr
    # a service that exists but has not written: not "no such service"
    r = sup.cli("log", "clock", check=False)
    assert r.returncode == 1 and "clock has written nothing yet" in r.stderr, r.stderr


def test_missing_interpreter_is_named(sup):
    sup.service("bad", run="#!/bin/bsh\nexec sleep 1000\n", script=False)
    sup.start()
    wait_for(lambda: "bsh" in (sup.svc("bad") or {}).get("reason", ""), what="reason")
    reason = sup.svc("bad")["reason"]
    assert "#! interpreter /bin/bsh does not exist" in reason, reason


def test_wrong_arguments_say_what_is_wrong(sup):
    sup.service("clock")
    sup.start()
    r = sup.cli("stop", check=False)
    assert r.returncode == 2 and "bay0 stop: which service?" in r.stderr, r.stderr
    r = sup.cli("signal", "FOO", "clock", check=False)
    assert r.returncode == 2 and "'FOO' is not a signal" in r.stderr, r.stderr
    r = sup.cli("signal", "TERM", check=False)
    assert r.returncode == 2 and "which service?" in r.stderr, r.stderr
    r = sup.cli("log", "a", "b", check=False)
    assert r.returncode == 2 and "'b' after 'a' is one too many" in r.stderr, r.stderr
    r = sup.cli("log", check=False)
    assert r.returncode == 2 and "bay0 log: which service?" in r.stderr, r.stderr
    assert sup.svc("clock")["state"] == "up"


def test_persist_without_persist_dir_names_the_variable(sup, tmp_path):
    if os.path.isdir("/persist/spine"):
        import pytest
        pytest.skip("this host has /persist/spine: --persist would succeed")
    sup.service("clock")
    sup.start()
    env_had = sup.env.pop("BAY0_PERSIST_DIR", None)
    try:
        r = sup.cli("stop", "--persist", "clock", check=False)
    finally:
        if env_had is not None:
            sup.env["BAY0_PERSIST_DIR"] = env_had
    assert r.returncode in (1, 3), r
    assert "BAY0_PERSIST_DIR" in r.stderr, r.stderr
