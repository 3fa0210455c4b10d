"""Gate A fixtures: build the Spine once per session, boot it in QEMU (TCG)
and talk to its serial console.

The image is built by the real scripts (scripts/mkspine.sh, mkpersist.sh)
and booted by scripts/boot-qemu.sh; nothing is mocked. Every wait has a
deadline and waits for a line on the console, not for time to pass.
"""
import os
import re
import subprocess
import threading
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPTS = os.path.join(ROOT, "scripts")
OUT = os.path.join(ROOT, "build", "vm")
# Under TCG on a busy 2-core machine a boot takes 5-15 s; these bounds are
# generous so that a slow CI machine is not a failure, a hang still is.
BOOT_TIMEOUT_S = 90
CMD_TIMEOUT_S = 30
POWEROFF_TIMEOUT_S = 60


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


@pytest.fixture(scope="session")
def spine():
    """Build build/vm/vmlinuz + spine.img (mkspine.sh) and a persist disk."""
    os.makedirs(OUT, exist_ok=True)
    # One timestamp for every build of this session (the default, the last
    # commit's time, moves when someone commits in a shared tree).
    sde = os.environ.get("SOURCE_DATE_EPOCH") or subprocess.run(
        ["git", "-C", ROOT, "log", "-1", "--format=%ct"], capture_output=True,
        text=True).stdout.strip() or "0"
    t0 = time.monotonic()
    # The test's own kernel and image under build/vm: never the repository's
    # ./vmlinuz and build/spine.img, which someone may be booting.
    kernel, initrd = os.path.join(OUT, "vmlinuz"), os.path.join(OUT, "spine.img")
    r = subprocess.run([os.path.join(SCRIPTS, "mkspine.sh")], capture_output=True,
                       text=True, env=dict(os.environ, SOURCE_DATE_EPOCH=sde,
                                           BAY0_OUT=initrd, BAY0_VMLINUZ=kernel))
    if r.returncode != 0:
        pytest.fail("mkspine.sh failed:\n" + r.stderr[-4000:])
    build_s = time.monotonic() - t0
    persist = os.path.join(OUT, "persist.img")
    run([os.path.join(SCRIPTS, "mkpersist.sh"), "256M", persist])
    return {
        "kernel": kernel,
        "initrd": initrd,
        "persist": persist,
        "build_log": r.stderr,
        "build_s": build_s,
        "source_date_epoch": sde,
    }


class Vm:
    """One QEMU run of boot-qemu.sh with the serial console on a pipe."""

    def __init__(self, spine, name, args):
        self.name = name
        self.log_path = os.path.join(OUT, name + ".serial.log")
        self.buf = b""
        self.cond = threading.Condition()
        self.t0 = time.monotonic()
        self.seen_at = {}
        self.chunks = []  # (end offset in buf, arrival time since start)
        self.marker = 0
        # every supervisor line on the serial console (the tests read them;
        # a machine's default after `init complete` is warnings only)
        cmd = [os.path.join(SCRIPTS, "boot-qemu.sh"), "--kernel", spine["kernel"],
               "--initrd", spine["initrd"], "--append", "bay0.console=info"] + args
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        with open(self.log_path, "wb") as log:
            while True:
                data = os.read(self.proc.stdout.fileno(), 65536)
                if not data:
                    break
                log.write(data)
                log.flush()
                with self.cond:
                    self.buf += data
                    self.chunks.append((len(self.buf), time.monotonic() - self.t0))
                    self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def text(self):
        with self.cond:
            return self.buf.decode(errors="replace")

    def wait_for(self, pattern, timeout_s, start=0):
        """Wait for regex pattern in the console output after byte offset
        start; returns the match (on bytes decoded as text)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                m = rx.search(self.buf.decode(errors="replace"), start)
                if m:
                    self.seen_at.setdefault(pattern, time.monotonic() - self.t0)
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and
                                 not self.reader.is_alive()):
                    raise AssertionError(
                        "%s: no /%s/ within %d s; console tail:\n%s" %
                        (self.name, pattern, timeout_s,
                         self.buf.decode(errors="replace")[-3000:]))
                self.cond.wait(min(left, 1.0))

    def arrival_s(self, pattern):
        """Seconds from QEMU start to the arrival of the first match of
        pattern on the console, or None."""
        with self.cond:
            m = re.search(pattern.encode(), self.buf)
            if not m:
                return None
            for end, t in self.chunks:
                if end >= m.end():
                    return t
        return None

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def sh(self, command, timeout_s=CMD_TIMEOUT_S):
        """Run a command in the serial shell; returns (status, output)."""
        self.marker += 1
        tag = "Q%dQ" % self.marker
        start = len(self.buf.decode(errors="replace"))
        self.send("%s; echo \"@@$?@@%s\"" % (command, tag))
        m = self.wait_for(r"@@(\d+)@@%s" % tag, timeout_s, start)
        out = self.text()[start:m.start()]
        # Drop the echoed command line itself, and blank lines the serial
        # line may put before the output (a bare CR after the echo).
        # Also drop PID 1's own log lines, which the console interleaves
        # with the output (a service that gets ready meanwhile).
        lines = [l for l in out.splitlines() if tag not in l and
                 not re.match(r"bay0: level=\w+ (svc|event)=", l)]
        while lines and not lines[0].strip():
            lines.pop(0)
        out = "\n".join(lines)
        return int(m.group(1)), out

    def wait_exit(self, timeout_s):
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def vm_factory(spine):
    vms = []

    def make(name, args):
        vm = Vm(spine, name, args)
        vms.append(vm)
        return vm

    yield make
    for vm in vms:
        vm.kill()


GENESIS = [
    r"bay0: starting \(",
    r"bay0: mounted proc/sys/dev",
    r"bay0: persist mount attempt \(",
    r"bay0: (persist mounted|persist timeout -> dirty boot)",
    r"bay0: state db open/migrate",
    r"bay0: init complete",
]


def genesis_positions(text):
    """Offsets of the genesis lines in order; fails naming the first
    missing or out-of-order line."""
    pos, out = 0, []
    for pattern in GENESIS:
        m = re.compile(pattern).search(text, pos)
        assert m, "genesis line /%s/ missing after offset %d:\n%s" % (
            pattern, pos, text[-3000:])
        out.append(m.start())
        pos = m.end()
    return out
