"""The grain validation pipeline (services/examples/grain/) under the real
bay0 supervisor, with its dependency wiring: `dependencies`, oneshots,
readiness, the waiting state.

valid grains -> both validators pass, grain-deploy runs after them;
an invalid graincard or graintime -> that validator fails, grain-deploy
never starts, and `bay0 status --json` says why (waiting_for, last_exit,
reason); fixing the grain lets deploy run.


Uses the shared `sup` fixture (conftest.py), which ends bay0 and every
process it started.
"""
import os
import shutil

import pytest

from conftest import wait_for



REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE = os.path.join(REPO, "services", "examples", "grain")
GT = "12025-10-23--0404--PDT--moon-vishakha------asc-gem000--sun-03rd--kae3g"
SERVICES = ("graincard-validator", "graintime-validator", "grain-deploy")
DEADLINE_S = 30


def setup_pipeline(sup, tmp_path):
    """Copies the example into sup's scan directory; returns (root, target)."""
    root = str(tmp_path / "grains")
    target = str(tmp_path / "target")
    shutil.copytree(os.path.join(EXAMPLE, "grains"), root)
    for svc in SERVICES:
        shutil.copytree(os.path.join(EXAMPLE, "sv", svc),
                        os.path.join(sup.scandir, svc), symlinks=True)
        with open(os.path.join(sup.scandir, svc, "env", "GRAIN_ROOT"), "w") as f:
            f.write(root + "\n")
    with open(os.path.join(sup.scandir, "grain-deploy", "env", "GRAIN_TARGET"),
              "w") as f:
        f.write(target + "\n")
    return root, target


def card_log(sup):
    path = os.path.join(sup.scandir, "graincard-validator", "log", "main",
                        "current")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def sample_grains():
    root = os.path.join(EXAMPLE, "grains")
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files)


def line_index(text, needle):
    for i, line in enumerate(text.splitlines()):
        if needle in line:
            return i
    raise AssertionError(f"no line with {needle!r} in bay0's log")


def test_valid_grains_deploy_after_both_validators(sup, tmp_path):
    root, target = setup_pipeline(sup, tmp_path)
    sup.start()
    st = sup.wait_state("grain-deploy", "up", timeout=DEADLINE_S)
    assert st["type"] == "oneshot"
    assert st["last_exit"] == {"code": 0}
    assert sorted(st["depends_on"]) == ["graincard-validator", "graintime-validator"]
    assert not st["waiting_for"]
    marker = os.path.join(target, "DEPLOYED")
    text = open(marker).read()
    assert "files=3" in text
    assert text.splitlines()[3:] == sample_grains()
    for g in sample_grains():
        assert open(os.path.join(root, g), "rb").read() == \
            open(os.path.join(target, g), "rb").read()
    all_st = sup.status()
    assert all_st["graincard-validator"]["state"] == "ready"
    assert all_st["graintime-validator"]["state"] == "up"
    assert all_st["graintime-validator"]["last_exit"] == {"code": 0}
    # Order: deploy started only after the validator was ready and the
    # oneshot had exited 0.
    log = sup.log_text()
    started = line_index(log, "svc=grain-deploy event=started")
    assert line_index(log, "svc=graincard-validator event=ready") < started
    assert line_index(log, "svc=graintime-validator event=exited") < started
    wait_for(lambda: "first pass clean: ready" in card_log(sup),
             what="graincard-validator's log")


def test_invalid_graincard_holds_deploy(sup, tmp_path):
    root, target = setup_pipeline(sup, tmp_path)
    shutil.copytree(os.path.join(EXAMPLE, "grains-invalid", "grains-bad"),
                    os.path.join(root, "grains-bad"))
    sup.start()
    # Let the validator fail more than once (bay0 restarts it with backoff).
    wait_for(lambda: sup.svc("graincard-validator")["restarts"] >= 2,
             timeout=DEADLINE_S, what="graincard-validator to fail twice")
    st = sup.status()
    dep, card = st["grain-deploy"], st["graincard-validator"]
    assert dep["state"] == "waiting", dep
    assert dep["waiting_for"] == ["graincard-validator"], dep
    assert dep["last_exit"] is None
    assert card["last_exit"] == {"code": 1}, card
    assert not card["ready"]
    assert st["graintime-validator"]["state"] == "up"
    assert "svc=grain-deploy event=started" not in sup.log_text()
    assert not os.path.exists(target)
    bad = f"grains-bad/{GT}/toowide.md"
    wait_for(lambda: f"violation {bad}:3: 95 columns (max 80)" in card_log(sup),
             what="the violation in graincard-validator's log")
    assert "first pass failed: not ready, exiting 1" in card_log(sup)
    # Remove the bad grain: the next restart passes and deploy follows.
    shutil.rmtree(os.path.join(root, "grains-bad"))
    sup.wait_state("grain-deploy", "up", timeout=DEADLINE_S)
    assert sup.svc("graincard-validator")["state"] == "ready"
    assert "files=3" in open(os.path.join(target, "DEPLOYED")).read()
    assert not os.path.exists(os.path.join(target, "grains-bad"))


def test_invalid_graintime_fails_oneshot_and_holds_deploy(sup, tmp_path):
    root, target = setup_pipeline(sup, tmp_path)
    bad = "grains-notes/12025-02-30--0404--PDT--moon-x--asc-gem000--sun-03rd--kae3g"
    os.makedirs(os.path.join(root, bad))
    with open(os.path.join(root, bad, "x.md"), "w") as f:
        f.write("a fine graincard at a bad grainpath\n")
    sup.start()
    st = sup.wait_state("graintime-validator", "failed", timeout=DEADLINE_S)
    assert st["last_exit"] == {"code": 1}
    assert st["reason"] == "oneshot exited 1", st
    sup.wait_state("graincard-validator", "ready")
    dep = sup.wait_state("grain-deploy", "waiting")
    assert dep["waiting_for"] == ["graintime-validator"], dep
    assert "svc=grain-deploy event=started" not in sup.log_text()
    assert not os.path.exists(target)
    log_path = os.path.join(sup.logdir, "graintime-validator", "current")
    wait_for(lambda: os.path.exists(log_path) and
             "no such date: day 30 of month 2" in open(log_path).read(),
             what="the violation in graintime-validator's log")
    # Fix the grain and run the oneshot again: deploy follows.
    shutil.rmtree(os.path.join(root, bad))
    sup.cli("start", "graintime-validator")
    st = sup.wait_state("grain-deploy", "up", timeout=DEADLINE_S)
    assert st["last_exit"] == {"code": 0}
    assert "files=3" in open(os.path.join(target, "DEPLOYED")).read()
