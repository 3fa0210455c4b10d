"""The console of bay0 as PID 1 (issue 16): after `init complete` only
warnings and errors reach it when bay0.console= says so (a machine's
default; a container's PID 1 keeps every line unless told), while every
line still goes to `bay0 log bay0`; and `ps` shows PID 1 as `bay0` and the
log writer as `bay0-logwriter`, not the command that started them."""
import os

import pytest

from conftest import wait_for
from test_pid1 import pid1  # noqa: F401  (the fixture: bay0 init in a PID namespace)


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_console_quiet_after_init_complete_log_keeps_everything(pid1):
    pid1.service("idle", "#!/bin/sh\nexec sleep 1000\n")
    pid1.service("bad", "#!/bin/sh\nexit 3\n", files={"restart": "never\n"})
    pid1.start(cmdline="bay0.console=warn")
    pid1.wait_line(r"bay0: console: warnings and errors only from here")
    # a warning still reaches the console ("bad" fails: restart=never)...
    pid1.wait_line(r"svc=bad event=failed")
    wait_for(lambda: "svc=idle event=started" in pid1.cli("log", "-n", "500", "bay0").stdout,
             what="idle's start in the supervisor's own log")
    text = pid1.text()
    # ...an info line does not, though the log has it
    assert "svc=idle event=started" not in text, text[-2000:]
    assert "bay0: init complete" in text
    assert text.index("bay0: init complete") < text.index("bay0: console: warnings")


def test_container_keeps_every_line_by_default(pid1):
    pid1.service("idle", "#!/bin/sh\nexec sleep 1000\n")
    pid1.start()
    pid1.wait_line(r"svc=idle event=started")
    assert "bay0: console:" not in pid1.text()


def test_bad_console_value_is_named(pid1):
    pid1.service("idle", "#!/bin/sh\nexec sleep 1000\n")
    pid1.start(cmdline="bay0.console=loud")
    pid1.wait_line(r"svc=idle event=started")  # the default stays: every line
    assert "key=bay0.console value=loud error=want info|warn|error" in pid1.text()


def test_ps_names_pid1_and_the_log_writer(pid1):
    pid1.service("idle", "#!/bin/sh\nexec sleep 1000\n")
    pid1.start(cmdline="bay0.console=info")
    pid1.wait_line(r"svc=idle event=started")
    init = pid1.init_pid()
    assert read(f"/proc/{init}/comm") == b"bay0\n"
    cmdline = read(f"/proc/{init}/cmdline")
    assert cmdline.rstrip(b"\0") == b"bay0", cmdline  # was the path of the binary + options

    def writer():
        for c in children(init):
            try:
                if read(f"/proc/{c}/comm") == b"bay0-logwriter\n":
                    return c
            except OSError:
                continue
        return None
    w = wait_for(writer, what="the log writer among PID 1's children")
    assert read(f"/proc/{w}/cmdline").rstrip(b"\0") == b"bay0-logwriter"
    # the options were copied before argv's bytes were reused
    assert pid1.cli("status", "idle").returncode == 0
    wait_for(lambda: os.path.isdir(os.path.join(pid1.logdir, "bay0")), what="--logdir in use")


def test_image_build_firmware_line_is_one_quiet_line(tmp_path):
    """mkspine prints one firmware line, no warning (a VM needs none)."""
    import subprocess
    root = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
    os.makedirs(tmp_path / "lib" / "firmware")
    r = subprocess.run([os.path.join(root, "scripts", "check-firmware.sh"), "--summary",
                        str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r
    assert r.stdout.count("\n") == 1 and "warning" not in r.stdout, r.stdout
    with open(os.path.join(root, "scripts", "mkspine.sh")) as f:
        assert "check-firmware.sh\" --summary" in f.read()


def test_linking_bay0_prints_nothing(tmp_path):
    """Compiles are -Werror; what could still alarm is the linker (the old
    static-link dlopen warning): link the built objects again, silently."""
    import glob
    import subprocess
    build = os.path.dirname(os.path.abspath(os.environ.get("BAY0") or "build/bay0"))
    objs = sorted(glob.glob(os.path.join(build, "src", "*.o")) +
                  glob.glob(os.path.join(build, "src", "state", "*.o")))
    if len(objs) < 20 or os.path.basename(build) != "build" or \
            os.path.basename(os.environ.get("BAY0", "bay0")) != "bay0":
        pytest.skip("no plain (not sanitized) glibc objects next to BAY0")
    r = subprocess.run(["cc", "-o", str(tmp_path / "bay0"), *objs, "-lsqlite3", "-ljansson",
                        "-lpthread", "-lm"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r
