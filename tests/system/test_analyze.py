"""`bay0 analyze` on the real binary: the per-service timeline (the
control socket's `times` rows), the totals, blame and the critical chain,
on services whose readiness the test controls with gate files. Every time
is CLOCK_BOOTTIME, which the test reads too, so the stamps are checked
against moments the test saw, never against tight bounds."""
import json
import os
import subprocess
import time

from conftest import BAY0

STAMPS = ("wanted", "spawned", "up", "ready", "exited")


class Events:
    """`bay0 events --json`, subscribed (its first line says so) before the
    caller looks at any state: a change it then waits for cannot be missed,
    and nothing is polled. Lines are read from the pipe without Python's
    buffering (select must see what is not read yet)."""

    def __init__(self, sup):
        self.sup, self.buf = sup, b""
        self.proc = subprocess.Popen([BAY0, "events", "--json"], stdout=subprocess.PIPE,
                                     env=sup.env)
        first = self.next()
        assert "subscribed_us" in first, first

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)

    def next(self, timeout=30.0):
        import select
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            assert r, f"no event within {timeout} s"
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            assert chunk, "the events stream ended"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def wait(self, name, state, also=lambda row: True, timeout=30.0, now=True):
        """Until NAME is in state (and also(row) holds for its status row
        or event): now, or by a change. now=False: only by a change (one
        the caller caused after subscribing, so its event must come)."""
        row = self.sup.svc(name) if now else None
        if row and row["state"] == state and also(row):
            return row
        deadline = time.monotonic() + timeout
        while True:
            e = self.next(max(deadline - time.monotonic(), 0.01))
            if e.get("unit") == name and e["to"] == state and also(e):
                return e


def boot_us():
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME) // 1000


def us(ms):
    """A JSON time (ms, three decimals) back in the rows' µs."""
    return round(ms * 1000)


def gated(tmp, name):
    """Ready (notification-fd 3) once the file tmp/NAME.go exists."""
    return (f"while [ ! -e {tmp}/{name}.go ]; do sleep 0.02; done\n"
            f"echo >&3\nexec sleep 1000")


def times(sup, *names):
    raw = sup.request(("times " + " ".join(names)).strip().encode() + b"\n").decode()
    return rows_of(raw)


def rows_of(raw):
    """The "T" rows of a times reply (the supervisor's or the persona
    manager's), by name."""
    lines = raw.splitlines()
    assert lines[-1].startswith("OK start_us="), raw
    rows = {}
    for line in lines[:-1]:
        f = line.split("\t")
        assert f[0] == "T" and len(f) == 15, line
        rows[f[1]] = {"type": f[2], "state": f[3], "deps": f[4],
                      "first": dict(zip(STAMPS, map(int, f[5:10]))),
                      "latest": dict(zip(STAMPS, map(int, f[10:15])))}
    return rows


def analyze(sup, *args, rc=0):
    r = sup.cli("analyze", *args, check=False)
    assert r.returncode == rc, (args, r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout) if "--json" in args and rc == 0 else r


def boot(sup, tmp):
    """web needs app; app needs cache (ready at once) and db (ready when
    the test opens its gate); slow stands alone, opened first. Returns
    the boottime at which the test opened db's gate."""
    sup.service("db", run=gated(tmp, "db"), files={"notification-fd": "3\n"})
    sup.service("slow", run=gated(tmp, "slow"), files={"notification-fd": "3\n"})
    sup.service("cache", run="echo >&3\nexec sleep 1000", files={"notification-fd": "3\n"})
    # cache first: a chain that followed the first edge, not the one that
    # delayed app, would go to cache
    sup.service("app", run="echo >&3\nexec sleep 1000",
                files={"notification-fd": "3\n", "dependencies": "cache\ndb\n"})
    sup.service("web", files={"dependencies": "app\n"})
    sup.start()
    with Events(sup) as ev:
        ev.wait("cache", "ready")
        assert sup.svc("app")["state"] == "waiting"
        (tmp / "slow.go").write_text("")
        ev.wait("slow", "ready")
        db_gate = boot_us()
        (tmp / "db.go").write_text("")
        ev.wait("web", "up")
    return db_gate


def test_times_rows_follow_the_boot(sup, tmp_path):
    before = boot_us()
    db_gate = boot(sup, tmp_path)
    after = boot_us()
    t = times(sup)
    assert set(t) == {"db", "slow", "cache", "app", "web"}
    for name, row in t.items():
        f = row["first"]
        assert before <= f["wanted"] <= f["spawned"] <= f["up"] <= f["ready"] <= after, (name, f)
        assert f["exited"] == 0 and row["latest"] == f, (name, row)
    assert t["db"]["first"]["ready"] >= db_gate  # not before the test let it
    assert t["slow"]["first"]["ready"] < db_gate
    # app was wanted at boot and spawned only once db was ready
    assert t["app"]["first"]["spawned"] >= t["db"]["first"]["ready"]
    assert t["app"]["first"]["wanted"] < db_gate
    assert t["web"]["first"]["spawned"] >= t["app"]["first"]["ready"]
    assert t["app"]["deps"] == "cache,db"


def test_restart_keeps_the_first_record(sup, tmp_path):
    boot(sup, tmp_path)
    first = times(sup, "db")["db"]
    pid = sup.svc("db")["pid"]
    with Events(sup) as ev:
        sup.cli("restart", "db")
        ev.wait("db", "ready", also=lambda row: row["pid"] != pid)
    again = times(sup, "db")["db"]
    assert again["first"]["spawned"] == first["first"]["spawned"]
    assert again["first"]["ready"] == first["first"]["ready"]
    assert again["first"]["exited"] > first["first"]["ready"]  # the restart's exit
    lt = again["latest"]
    assert lt["spawned"] > first["first"]["ready"], again
    assert lt["wanted"] <= lt["spawned"] <= lt["up"] <= lt["ready"], again
    assert lt["exited"] == 0, again
    # the plot shows the latest start beside the first: outlined where it
    # falls on the axis, and in the latest-start column in any case
    root, texts, raw = plot(sup)
    assert "latest start" in texts, texts
    label = f"@{lt['spawned'] / 1e6:.3f}s +{(lt['ready'] - lt['spawned']) / 1e6:.3f}s"
    assert label in texts, (label, texts)
    assert sum(t.startswith("@") for t in texts) == 1, texts  # only db started again


def test_totals_blame_and_critical_chain(sup, tmp_path):
    db_gate = boot(sup, tmp_path)
    total = analyze(sup, "--json")
    # kernel to bay0: the process's start time since boot (/proc, clock ticks)
    with open(f"/proc/{sup.proc.pid}/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    started_ms = ticks * 1000 // os.sysconf("SC_CLK_TCK")
    assert abs(total["kernel_to_bay0_ms"] - started_ms) < 1000, (total, started_ms)
    assert total["bay0_to_init_complete_ms"] >= 0
    assert total["services_wanted"] == 5 and total["services_not_ready"] == 0, total
    t = times(sup)
    last_ready = max(r["first"]["ready"] for r in t.values())
    assert us(total["boot_to_services_ready_ms"]) == last_ready >= db_gate, total
    text = analyze(sup).stdout
    assert "kernel to bay0 start" in text and "boot to services ready" in text, text

    blame = analyze(sup, "blame", "--json")
    assert {b["unit"] for b in blame} == set(t)
    spans = [b["start_to_ready_ms"] for b in blame]
    assert spans == sorted(spans, reverse=True), blame
    for b in blame:
        f = t[b["unit"]]["first"]
        assert us(b["start_to_ready_ms"]) == f["ready"] - f["spawned"], b
    # db waited for its gate (which start comes first beyond that is up to
    # the machine's load: a shell may take longer than the gate)
    db = next(b for b in blame if b["unit"] == "db")
    assert us(db["start_to_ready_ms"]) >= db_gate - t["db"]["first"]["spawned"]
    text = analyze(sup, "blame").stdout.splitlines()
    assert [line.split()[1] for line in text] == [b["unit"] for b in blame], text

    chain = analyze(sup, "critical-chain", "web", "--json")
    assert [c["unit"] for c in chain] == ["web", "app", "db"], chain
    assert us(chain[1]["waited_ms"]) >= db_gate - t["app"]["first"]["wanted"], chain
    # the last service to become ready is web (it waited for all the rest)
    assert [c["unit"] for c in analyze(sup, "critical-chain", "--json")][0] == "web"
    assert [c["unit"] for c in analyze(sup, "critical-chain", "cache", "--json")] == ["cache"]
    text = analyze(sup, "critical-chain", "web").stdout
    assert "web @" in text and "\u2514\u2500app @" in text and "  \u2514\u2500db @" in text, text


def test_errors(sup, tmp_path):
    sup.service("never", files={"down": ""})
    sup.start()
    assert "no such service" in analyze(sup, "critical-chain", "nosuch", rc=1).stderr
    assert "has not become ready" in analyze(sup, "critical-chain", "never", rc=1).stderr
    assert "unknown" in analyze(sup, "bogus", rc=2).stderr
    assert analyze(sup, "blame", "--json") == []
    # a service never wanted is not counted as missing
    assert analyze(sup, "--json")["services_wanted"] == 0


def plot(sup):
    import xml.etree.ElementTree as ET
    r = analyze(sup, "plot")
    root = ET.fromstring(r.stdout)
    assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    return root, texts, r.stdout


def test_plot_names_every_service_and_the_delaying_edge(sup, tmp_path):
    boot(sup, tmp_path)
    root, texts, raw = plot(sup)
    for name in ("db", "slow", "cache", "app", "web", "kernel"):
        assert name in texts, (name, texts)
    assert any(t.endswith("s") and t[:-1].replace(".", "").isdigit() for t in texts), texts
    # the edges that delayed a start: app <- db and web <- app, never app <- cache
    # (db became ready later)
    assert raw.count('class="edge" d=') == 2, raw


def many_up(sup, prefix, count):
    """count plain services, all up; their names."""
    names = [f"{prefix}{i:03d}" for i in range(count)]
    for n in names:
        sup.service(n)
    sup.start()
    sup.cli("start", *names, timeout=120)  # returns once every one is up
    assert all(s["state"] == "up" for s in sup.status().values())
    return names


def test_plot_of_200_services_keeps_one_row_each(sup, tmp_path):
    names = many_up(sup, "unit", 200)
    root, texts, _ = plot(sup)
    assert set(names) <= set(texts)
    # one row each, no two names on the same line
    ys = sorted(float(t.get("y")) for t in root.iter("{http://www.w3.org/2000/svg}text")
                if "".join(t.itertext()) in names)
    assert len(ys) == 200 and min(b - a for a, b in zip(ys, ys[1:])) >= 10, ys[:5]
    assert float(root.get("height")) >= 200 * 10


def png_rows(path):
    """The pixels of an 8-bit RGB/RGBA PNG (what Chromium writes) as rows
    of (r, g, b) tuples: zlib and the five scanline filters, nothing else."""
    import struct
    import zlib
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6) and body[12] == 0, body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 4 if color == 6 else 3
    raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return rows


def test_plot_renders_in_chromium(sup, tmp_path):
    import shutil
    chromium = shutil.which("chromium")
    if not chromium:
        import pytest
        pytest.skip("chromium is not installed (scripts/deps.sh installs it)")
    boot(sup, tmp_path)
    root, texts, raw = plot(sup)
    svg = tmp_path / "boot.svg"
    svg.write_text(raw)
    w, h = int(root.get("width")), int(root.get("height"))
    png = tmp_path / "boot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={tmp_path}/chromium", f"--window-size={w},{h}",
                    f"--screenshot={png}", f"file://{svg}"],
                   capture_output=True, timeout=120, check=True)
    rows = png_rows(png)
    assert len(rows) == h and len(rows[0]) == w
    colored = sum(1 for r in rows for p in r if max(p) - min(p) > 40)
    assert colored > w * h // 20, colored  # bars, not a blank page
    # every service row has dark (text) pixels in the name column, at the
    # height its <text> says
    ns = "{http://www.w3.org/2000/svg}"
    name_x = min(float(t.get("x")) for t in root.iter(f"{ns}text")
                 if "".join(t.itertext()) == "db")
    for t in root.iter(f"{ns}text"):
        if "".join(t.itertext()) in ("db", "slow", "cache", "app", "web"):
            y = int(float(t.get("y")))
            band = [p for r in rows[y - 10:y + 2] for p in r[:int(name_x) + 2]]
            assert any(max(p) < 100 for p in band), ("no text drawn for", "".join(t.itertext()))


def test_events_stream_a_restart(sup, tmp_path):
    sup.service("db", run=gated(tmp_path, "db"), files={"notification-fd": "3\n"})
    sup.start()
    with Events(sup) as events:
        events.wait("db", "starting")
        (tmp_path / "db.go").write_text("")
        e = events.wait("db", "ready", now=False)
        assert e.get("from") == "starting", e
        assert e["pid"] == sup.svc("db")["pid"]
        sup.cli("restart", "db")
        more = []
        while not more or more[-1]["to"] != "ready":
            more.append(events.next())
        assert [(e["from"], e["to"]) for e in more] == [
            ("ready", "stopping"), ("stopping", "starting"), ("starting", "ready")], more
        assert more[0]["pid"] == e["pid"] and more[-1]["pid"] not in (0, e["pid"]), more
        assert all(m["unit"] == "db" for m in more)
        assert more[0]["time_us"] <= more[1]["time_us"] <= more[2]["time_us"] <= boot_us()


def test_events_drop_a_reader_that_does_not_read(sup, tmp_path):
    import socket
    names = many_up(sup, "s", 100)
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    slow.connect(os.path.join(sup.rundir, "control"))
    slow.sendall(b"events\n")
    # restarts until bay0 gives up on the reader (16 KiB of its own plus the
    # socket's buffer: a few thousand lines)
    for _ in range(40):
        sup.cli("restart", *names)
        if "event=events-reader-dropped" in sup.log_text():
            break
    assert "event=events-reader-dropped" in sup.log_text()
    slow.settimeout(10)
    data = b""
    while chunk := slow.recv(65536):
        data += chunk
    slow.close()
    assert data.count(b"\n") > 100  # it got what it had room for, then the end
    assert sup.cli("status").returncode == 0


# ---- personas on the timeline (real podman, the persona manager as the
# service `personas`; fixtures from test_persona.py) ----

import shutil  # noqa: E402

import pytest  # noqa: E402

from test_persona import IMAGE, Personas, store  # noqa: E402,F401 (store: the fixture)


@pytest.fixture
def ps(tmp_path, store):  # noqa: F811
    if shutil.which("podman") is None or os.geteuid() != 0:
        pytest.skip("needs podman and root")
    p = Personas(tmp_path, store)
    yield p
    p.stop()
    store.remove_all()


def persona_times(ps):
    """The persona manager's `times` rows (same shape as the supervisor's)
    and its summary line."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(os.path.join(ps.rundir, "persona"))
    s.sendall(b"times\n")
    raw = b""
    while chunk := s.recv(65536):
        raw += chunk
    s.close()
    rows = rows_of(raw.decode())
    summary = dict(kv.split("=") for kv in raw.decode().splitlines()[-1][3:].split())
    return rows, {k: int(v) for k, v in summary.items()}


def test_personas_on_the_timeline(ps):
    ps.up()
    ps.persona("create", "p://work", "--image", IMAGE)
    before = boot_us()
    ps.persona("start", "p://work")  # returns once it is running
    after = boot_us()
    rows, _ = persona_times(ps)
    w = rows["p://work"]
    f = w["first"]
    assert (w["type"], w["state"], w["deps"]) == ("persona", "running", "personas"), w
    assert before <= f["wanted"] <= f["spawned"] <= f["up"] <= f["ready"] <= after, f
    assert f["exited"] == 0 and w["latest"] == f, w

    total = analyze(ps, "--json")
    assert total["persona_manager"] is True, total
    assert (total["personas_wanted"], total["personas_not_running"]) == (1, 0), total
    assert us(total["boot_to_personas_running_ms"]) == f["ready"], total
    text = analyze(ps).stdout
    assert "boot to personas running" in text and "init complete to personas running" in text
    blame = {b["unit"]: b for b in analyze(ps, "blame", "--json")}
    assert blame["p://work"]["type"] == "persona"
    assert us(blame["p://work"]["start_to_ready_ms"]) == f["ready"] - f["spawned"]
    _, texts, _ = plot(ps)
    assert "p://work" in texts and "latest start" not in texts

    # a restart keeps the first record and opens the latest start
    ps.persona("restart", "p://work")
    again = persona_times(ps)[0]["p://work"]
    assert {k: again["first"][k] for k in STAMPS[:4]} == {k: f[k] for k in STAMPS[:4]}, again
    assert again["first"]["exited"] > f["ready"], again
    lt = again["latest"]
    assert f["ready"] < lt["wanted"] <= lt["spawned"] <= lt["up"] <= lt["ready"] <= boot_us()
    assert lt["exited"] == 0, again
    root, texts, _ = plot(ps)
    assert "latest start" in texts, texts
    assert any(t.startswith(f"@{lt['spawned'] / 1e6:.3f}s +") for t in texts), texts


def test_personas_wanted_at_the_managers_start(ps):
    """A persona whose intent is running is wanted from the manager's
    start, spawned after its reconcile, and the chain names the manager."""
    ps.up()
    ps.persona("create", "p://boot", "--image", IMAGE)
    ps.persona("start", "p://boot")
    ps.stop()  # bay0 and the manager; the container stays
    ps.store.podman("rm", "-f", "-t", "0", "p__boot")  # gone while no manager ran
    ps.start()  # a new boot: the manager reconciles, then starts p://boot
    ps.cli("start", "personas")  # returns once the manager is ready
    ps.persona("start", "p://boot")  # waits for the boot start in flight
    rows, summary = persona_times(ps)
    f = rows["p://boot"]["first"]
    mgr = times(ps, "personas")["personas"]["first"]
    # spawned: before the spawn (up is stamped when the spawn returned,
    # which a loaded machine may delay past the child's own start)
    assert mgr["spawned"] <= summary["start_us"] == f["wanted"] <= mgr["ready"], (mgr, summary, f)
    assert f["wanted"] <= summary["reconciled_us"] <= f["spawned"] <= f["ready"], (summary, f)
    chain = analyze(ps, "critical-chain", "p://boot", "--json")
    assert [c["unit"] for c in chain][:2] == ["p://boot", "personas"], chain
    assert us(chain[0]["waited_ms"]) == f["spawned"] - f["wanted"]
    # a manager restarted under a running persona adopts it: not "wanted"
    ps.cli("restart", "personas")
    ps.cli("start", "personas")  # returns once the new manager is ready
    ps.persona("list")  # answered after its reconcile
    total = analyze(ps, "--json")
    assert (total["personas_wanted"], total["personas_adopted"]) == (0, 1), total
    assert "adopted" in analyze(ps, "critical-chain", "p://boot", rc=1).stderr
