"""docs/MIGRATING.md's examples, run as written (issue 16): a runit service
(chpst, svlogd), an s6 service with readiness and s6-log, a systemd unit
with Type=notify moved to a directory; started under bay0 with the
commands the page gives. The files come out of the page itself, so the
page and this test cannot drift apart."""
import os
import re
import shutil

import pytest

from conftest import wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = os.path.normpath(os.path.join(HERE, "..", "..", "docs", "MIGRATING.md"))

pytestmark = pytest.mark.skipif(
    not all(shutil.which(p) for p in ("chpst", "svlogd", "s6-log", "python3")),
    reason="runit (chpst, svlogd), s6 (s6-log) and python3 are needed (scripts/deps.sh)")


def page_files():
    """Every `<!-- file: PATH -->` and the fenced block after it."""
    with open(PAGE, encoding="utf-8") as f:
        text = f.read()
    files = re.findall(r"<!-- file: (\S+) -->\n```[a-z]*\n(.*?)```", text, re.S)
    assert len(files) >= 12, files
    return files


def test_page_examples_run_under_bay0(sup):
    root = os.path.dirname(sup.scandir)
    for path, body in page_files():
        assert path.startswith("sv/"), path
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(body)
        os.chmod(full, 0o755 if body.startswith("#!") else 0o644)
    assert sorted(os.listdir(sup.scandir)) == ["clock", "queue", "web"]
    sup.start()

    # "bay0 start queue: starts web first, waits for both to be ready"
    r = sup.cli("start", "--timeout", "60", "queue")
    assert r.returncode == 0, r
    st = sup.status()
    assert st["web"]["state"] == "ready" and st["queue"]["state"] == "ready", st
    assert st["queue"]["depends_on"] == ["web"], st["queue"]
    sup.wait_state("clock", "up")

    # each service's log where its logger put it, and all merged
    wait_for(lambda: "tick from runit" in sup.cli("log", "clock").stdout, what="svlogd's file")
    assert "web: listening" in sup.cli("log", "web").stdout
    assert sup.cli("log", "web").stdout.startswith("@4000")  # s6-log's t stamps
    assert "QUEUE_SIZE=10" in sup.cli("log", "queue").stdout
    merged = sup.cli("log", "-n", "500").stdout
    for line in (" clock: tick from runit", " web: web: listening",
                 " queue: queue: starting with QUEUE_SIZE=10"):
        assert line in merged, (line, merged)

    # "bay0 disable clock: clock stays down at boot: creates sv/clock/down"
    r = sup.cli("disable", "clock")
    assert os.path.join(sup.scandir, "clock", "down") in r.stdout, r.stdout
    assert sup.stop() == 0
    sup.start()
    sup.wait_state("web", "ready")
    assert sup.svc("clock")["state"] == "down"
