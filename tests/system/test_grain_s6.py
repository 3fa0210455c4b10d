"""The grain validation pipeline (services/examples/grain/) under real s6.

Copies the three service directories and the sample grains into a temp dir,
points their env/ files there, runs s6-svscan on it and checks: valid grains
get deployed (marker written, files identical); a grain that breaks the
graincard rules, or a bad graintime, is reported and nothing is deployed.
Also runs the validators' scripts directly under dash and busybox sh.

Every process started here is ended by pid: s6-svscan with
`s6-svscanctl -t` (which ends its supervisors and their services), then a
check that no process is left with its cwd in the temp dir.
"""
import os
import shutil
import signal
import subprocess
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE = os.path.join(REPO, "services", "examples", "grain")
SV = os.path.join(EXAMPLE, "sv")
DEADLINE_S = 30
GT = "12025-10-23--0404--PDT--moon-vishakha------asc-gem000--sun-03rd--kae3g"

needs_s6 = pytest.mark.skipif(shutil.which("s6-svscan") is None,
                              reason="s6 is not installed (Debian package s6)")


BUSYBOX_APPLETS = ("sh", "awk", "cat", "cp", "cut", "date", "dirname", "find",
                   "grep", "head", "kill", "ls", "md5sum", "mkdir", "mv",
                   "rm", "rmdir", "sed", "sleep", "sort", "tr", "wc")


def shells():
    """dash; busybox sh with the host's tools; busybox sh with only busybox
    applets on PATH (as on Alpine: no cksum there, md5sum instead)."""
    bb = shutil.which("busybox")
    skip = [] if bb else [pytest.mark.skip(reason="no busybox")]
    return [pytest.param("dash", id="dash"),
            pytest.param("busybox-sh", id="busybox-sh", marks=skip),
            pytest.param("busybox-all", id="busybox-all", marks=skip)]


@pytest.fixture
def sh(request, tmp_path_factory):
    """The command prefix that runs a script under the shell asked for."""
    if request.param == "dash":
        return ["dash"]
    bb = shutil.which("busybox")
    if request.param == "busybox-sh":
        return [bb, "sh"]
    d = tmp_path_factory.mktemp("busybox-bin")
    for applet in BUSYBOX_APPLETS:
        os.symlink(bb, d / applet)
    return ["env", f"PATH={d}", bb, "sh"]


def wait_for(cond, what, timeout_s=DEADLINE_S):
    """Polls cond() until it is true or the deadline passes."""
    end = time.monotonic() + timeout_s
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def sample_grains():
    root = os.path.join(EXAMPLE, "grains")
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            out.append(os.path.relpath(os.path.join(d, f), root))
    return sorted(out)


def procs_in(tmp):
    """Pids whose cwd is inside tmp (our services and their children)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd == tmp or cwd.startswith(tmp + "/"):
            found.append(int(pid))
    return found


class Pipeline:
    """A copy of the example in tmp, run by one s6-svscan."""

    def __init__(self, tmp):
        self.tmp = str(tmp)
        self.scandir = os.path.join(self.tmp, "sv")
        self.root = os.path.join(self.tmp, "grains")
        self.target = os.path.join(self.tmp, "target")
        shutil.copytree(SV, self.scandir, symlinks=True)
        shutil.copytree(os.path.join(EXAMPLE, "grains"), self.root)
        for svc in ("graincard-validator", "graintime-validator", "grain-deploy"):
            self.setenv(svc, "GRAIN_ROOT", self.root)
        self.setenv("grain-deploy", "GRAIN_TARGET", self.target)
        self.setenv("grain-deploy", "GRAIN_WAIT_TIMEOUT", "20")
        self.setenv("graincard-validator", "GRAIN_SCAN_INTERVAL", "1")
        self.out_path = os.path.join(self.tmp, "svscan.out")
        self.proc = None

    def setenv(self, svc, name, value):
        with open(os.path.join(self.scandir, svc, "env", name), "w") as f:
            f.write(value + "\n")

    def add_grain(self, rel, text):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    def start(self):
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(["s6-svscan", self.scandir],
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            subprocess.run(["s6-svscanctl", "-t", self.scandir], check=False)
            try:
                self.proc.wait(timeout=DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        left = []
        end = time.monotonic() + 10
        while time.monotonic() < end:
            left = procs_in(self.tmp)
            if not left:
                break
            time.sleep(0.1)
        for pid in left:  # clean up before failing, by pid
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert not left, f"processes left behind: {left}"

    def svscan_log(self):
        return read(self.out_path)

    def card_log(self):
        return read(os.path.join(self.scandir, "graincard-validator", "log",
                                 "main", "current"))

    def svstat(self, svc, fields):
        r = subprocess.run(["s6-svstat", "-o", fields,
                            os.path.join(self.scandir, svc)],
                           capture_output=True, text=True, check=True)
        return r.stdout.split()


@pytest.fixture
def pipeline(tmp_path):
    p = Pipeline(tmp_path)
    yield p
    p.stop()


@needs_s6
def test_valid_grains_are_deployed(pipeline):
    pipeline.start()
    marker = os.path.join(pipeline.target, "DEPLOYED")
    wait_for(lambda: os.path.exists(marker), "the DEPLOYED marker")
    text = read(marker)
    grains = sample_grains()
    assert len(grains) == 3
    assert f"files={len(grains)}" in text
    assert text.splitlines()[3:] == grains
    for g in grains:
        with open(os.path.join(pipeline.root, g), "rb") as a, \
             open(os.path.join(pipeline.target, g), "rb") as b:
            assert a.read() == b.read(), g
    card = wait_for(lambda: "ready" in pipeline.card_log() and pipeline.card_log(),
                    "graincard-validator's log")
    for g in grains:
        assert f"graincard-validator: ok {g} " in card
    assert "first pass clean: ready" in card
    out = pipeline.svscan_log()
    assert "graintime-validator: all graintimes valid" in out
    assert "grain-deploy: graincard-validator passed" in out
    assert "grain-deploy: graintime-validator passed" in out
    assert "grain-deploy: deployed 3 grains" in out
    # The validator stays up and ready; the oneshots ran once and stay down.
    assert pipeline.svstat("graincard-validator", "up,ready") == ["true", "true"]
    wait_for(lambda: pipeline.svstat("grain-deploy", "up,wantedup,exitcode")
             == ["false", "false", "0"], "grain-deploy down with exit 0")
    assert pipeline.svstat("graintime-validator", "up,wantedup,exitcode") == \
        ["false", "false", "0"]


@needs_s6
def test_watch_mode_rechecks_changes(pipeline):
    pipeline.start()
    wait_for(lambda: "first pass clean: ready" in pipeline.card_log(), "ready")
    pipeline.add_grain(f"grains-notes/{GT}/late.md", "a grain added later\n")
    wait_for(lambda: "pass 2: 4 files checked, 0 with violations"
             in pipeline.card_log(), "the second pass")
    assert f"ok grains-notes/{GT}/late.md lines=1 columns=19" in pipeline.card_log()
    pipeline.add_grain(f"grains-notes/{GT}/wide.md", "é" * 81 + "\n")
    wait_for(lambda: "pass 3: 5 files checked, 1 with violations"
             in pipeline.card_log(), "the third pass")
    assert f"violation grains-notes/{GT}/wide.md:1: 81 columns (max 80)" \
        in pipeline.card_log()
    # After the first pass a violation is reported, the service stays up.
    assert pipeline.svstat("graincard-validator", "up,ready") == ["true", "true"]


@needs_s6
def test_invalid_graincard_is_reported_and_not_deployed(pipeline):
    shutil.copytree(os.path.join(EXAMPLE, "grains-invalid", "grains-bad"),
                    os.path.join(pipeline.root, "grains-bad"))
    pipeline.start()
    wait_for(lambda: "grain-deploy: not deploying" in pipeline.svscan_log(),
             "grain-deploy to give up")
    out = pipeline.svscan_log()
    assert "grain-deploy: not deploying: graincard-validator failed (exit 1)" in out
    card = pipeline.card_log()
    bad = f"grains-bad/{GT}/toowide.md"
    assert f"graincard-validator: violation {bad}:3: 95 columns (max 80)" in card
    assert f"graincard-validator: violation {bad}: 115 lines (max 110)" in card
    assert "pass 1: 4 files checked, 1 with violations" in card
    assert "first pass failed: not ready, exiting 1" in card
    assert "ready" not in card.replace("not ready", "")
    assert not os.path.exists(os.path.join(pipeline.target, "DEPLOYED"))
    assert not os.path.exists(os.path.join(pipeline.target, "grains-bad"))
    assert not os.path.exists(os.path.join(pipeline.target, "grains-course"))
    # Under s6 the failed validator is marked "once": it stays down.
    wait_for(lambda: pipeline.svstat("graincard-validator", "up,wantedup,exitcode")
             == ["false", "false", "1"], "graincard-validator down, exit 1")
    assert "grain-deploy: copied" not in out


@needs_s6
def test_bad_graintime_is_reported_and_not_deployed(pipeline):
    bad = "grains-notes/12025-13-01--0404--PDT--moon-x--asc-gem000--sun-03rd--kae3g/x.md"
    pipeline.add_grain(bad, "a fine graincard at a bad grainpath\n")
    pipeline.start()
    wait_for(lambda: "grain-deploy: not deploying" in pipeline.svscan_log(),
             "grain-deploy to give up")
    out = pipeline.svscan_log()
    assert f"graintime-validator: violation {bad}: bad date field" in out
    assert "graintime-validator: 4 grains checked, 1 with violations" in out
    assert "grain-deploy: not deploying: graintime-validator failed (exit 1)" in out
    assert not os.path.exists(os.path.join(pipeline.target, "DEPLOYED"))
    # The graincard rules pass: that validator is up and ready.
    assert pipeline.svstat("graincard-validator", "up,ready") == ["true", "true"]


# ---- the scripts on their own, under dash and busybox sh ------------------

VALID_GRAINTIMES = [
    GT,  # seed 003
    "12025-11-16--1130--UTC--moon-purva-ashadha--asc-vir012--sun-11th--kae3g",
    "12024-02-29--2359--PST--moon-revati--asc-pis029--sun-12th--kae3g",
    "12000-02-29--0000--UTC--moon-x--asc-ari000--sun-01st--a",
    "19999-12-31--2359--AEDT--moon-uttara-bhadrapada----asc-sag015--sun-02nd--z9",
]
INVALID_GRAINTIMES = [
    ("12025-10-10--rhizome-valley", "bad time field"),  # seed 001: a date + title
    ("2025-10-23--0404--PDT--moon-x--asc-gem000--sun-03rd--kae3g", "bad date field"),
    ("12025-13-01--0404--PDT--moon-x--asc-gem000--sun-03rd--kae3g", "bad date field"),
    ("12025-02-29--0404--PDT--moon-x--asc-gem000--sun-03rd--kae3g", "no such date"),
    ("11900-02-29--0404--PDT--moon-x--asc-gem000--sun-03rd--kae3g", "no such date"),
    ("12025-04-31--0404--PDT--moon-x--asc-gem000--sun-03rd--kae3g", "no such date"),
    ("12025-10-23--2460--PDT--moon-x--asc-gem000--sun-03rd--kae3g", "bad time field"),
    ("12025-10-23--0404--pdt--moon-x--asc-gem000--sun-03rd--kae3g", "bad zone field"),
    ("12025-10-23--0404--PDT--moon-X--asc-gem000--sun-03rd--kae3g", "bad moon field"),
    ("12025-10-23--0404--PDT--moon---asc-gem000--sun-03rd--kae3g", "bad moon field"),
    ("12025-10-23--0404--PDT--moon-x--asc-gem030--sun-03rd--kae3g", "bad ascendant field"),
    ("12025-10-23--0404--PDT--moon-x--asc-geo000--sun-03rd--kae3g", "bad ascendant field"),
    ("12025-10-23--0404--PDT--moon-x--asc-gem000--sun-03th--kae3g", "bad sun field"),
    ("12025-10-23--0404--PDT--moon-x--asc-gem000--sun-13th--kae3g", "bad sun field"),
    ("12025-10-23--0404--PDT--moon-x--asc-gem000--sun-03rd--KAE3G", "bad author field"),
    ("12025-10-23--0404--PDT--moon-x--asc-gem000--sun-03rd--", "bad author field"),
]


@pytest.mark.parametrize("sh", shells(), indirect=True)
def test_graintime_grammar(sh):
    run = os.path.join(SV, "graintime-validator", "run")
    r = subprocess.run(sh + [run, "--check"] + VALID_GRAINTIMES,
                       capture_output=True, text=True, timeout=DEADLINE_S)
    assert r.returncode == 0, r.stdout
    assert r.stdout.splitlines() == [f"ok {v}" for v in VALID_GRAINTIMES]
    for value, why in INVALID_GRAINTIMES:
        r = subprocess.run(sh + [run, "--check", value], capture_output=True,
                           text=True, timeout=DEADLINE_S)
        assert r.returncode == 1, value
        assert r.stdout.startswith(f"invalid {value}: {why}"), r.stdout


@pytest.mark.parametrize("sh", shells(), indirect=True)
def test_graintime_grainpaths(sh, tmp_path):
    root = tmp_path / "root"
    good = f"grains-a/{GT}/fine-slug.md"
    cases = {
        f"grains-a/{GT}/Bad_Slug.md": "bad slug",
        "grains-a/loose.md": "not in a graintime directory",
        f"grains-a/{GT}/deeper/x.md": "nested too deep",
    }
    for rel in [good, *cases]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x\n")
    (root / "grains-a" / ".hidden").write_text("ignored\n")
    (root / "not-grains").mkdir()
    (root / "not-grains" / "junk").write_text("ignored\n")
    svc = os.path.join(SV, "graintime-validator")
    r = subprocess.run(sh + ["./run"], cwd=svc, capture_output=True, text=True,
                       env=dict(os.environ, GRAIN_ROOT=str(root)),
                       timeout=DEADLINE_S)
    assert r.returncode == 1, r.stdout
    assert f"graintime-validator: ok {good}" in r.stdout
    for rel, why in cases.items():
        assert f"graintime-validator: violation {rel}: {why}" in r.stdout
    assert "4 grains checked, 3 with violations" in r.stdout
    assert ".hidden" not in r.stdout and "junk" not in r.stdout


def card_root(tmp_path):
    root = tmp_path / "root"
    d = root / "grains-t"
    d.mkdir(parents=True)
    (d / "exact.md").write_text(("é" * 80 + "\n") * 110, encoding="utf-8")
    (d / "wide.md").write_text("日" * 81 + "\n", encoding="utf-8")
    (d / "long.md").write_text("x\n" * 111)
    (d / "noeol.md").write_text("last line without newline")
    (d / "bytes.md").write_bytes(b"ok\nbad \xff\n\xc0\xaf overlong\n"
                                 b"\xed\xa0\x80 surrogate\nfine \xe2\x80\x94\n")
    return root


def spawn_fd3(cmd, cwd, root, wfd):
    """Runs cmd with wfd as its fd 3 (notification-fd), stdout piped."""
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, GRAIN_ROOT=root),
                            pass_fds=(3,), preexec_fn=lambda: os.dup2(wfd, 3))


@pytest.mark.parametrize("sh", shells(), indirect=True)
def test_graincard_rules_and_readiness(sh, tmp_path):
    """First pass with violations: exit 1, never a readiness newline."""
    root = card_root(tmp_path)
    svc = os.path.join(SV, "graincard-validator")
    rfd, wfd = os.pipe()
    p = spawn_fd3(sh + ["./run"], svc, str(root), wfd)
    os.close(wfd)
    try:
        out, _ = p.communicate(timeout=DEADLINE_S)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    ready = os.read(rfd, 16)
    os.close(rfd)
    assert p.returncode == 1, out
    assert ready == b"", "readiness signalled despite violations"
    me = "graincard-validator"
    assert f"{me}: ok grains-t/exact.md lines=110 columns=80" in out
    assert f"{me}: ok grains-t/noeol.md lines=1 columns=25" in out
    assert f"{me}: violation grains-t/wide.md:1: 81 columns (max 80)" in out
    assert f"{me}: violation grains-t/long.md: 111 lines (max 110)" in out
    for n in (2, 3, 4):
        assert f"{me}: violation grains-t/bytes.md:{n}: invalid UTF-8" in out
    assert "grains-t/bytes.md:1:" not in out and "grains-t/bytes.md:5:" not in out
    assert "pass 1: 5 files checked, 3 with violations" in out


@pytest.mark.parametrize("sh", shells(), indirect=True)
def test_graincard_ready_after_first_clean_pass(sh, tmp_path):
    svc = os.path.join(SV, "graincard-validator")
    rfd, wfd = os.pipe()
    p = spawn_fd3(sh + ["./run"], svc, os.path.join(EXAMPLE, "grains"), wfd)
    os.close(wfd)
    try:
        assert os.read(rfd, 16) == b"\n"  # blocks until the first pass is done
        # fd 3 is closed after the newline: EOF follows.
        assert os.read(rfd, 16) == b""
        assert p.poll() is None, "a clean validator keeps watching"
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=DEADLINE_S)
    finally:
        os.close(rfd)
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0
    assert "pass 1: 3 files checked, 0 with violations" in out
    assert out.index("pass 1:") < out.index("first pass clean: ready")
    assert "stopping (SIGTERM)" in out
