"""Dependencies and oneshots on the real binary: ordered and parallel
start, reverse-order stop, cycles and missing names, `bay0 deps`."""
import os
import re
import time

from conftest import pid_alive, wait_for


def stamp_run(tmp, name, extra="", then="exec sleep 1000"):
    """A run script that appends its name and a start timestamp to a file."""
    return (f"echo \"{name} $(date +%s.%N)\" >> {tmp}/starts\n{extra}\n{then}")


def stop_run(tmp, name):
    """A run that records when it got SIGTERM (in stops), takes 0.3 s to
    shut down and records when it exits (in exits); ready (with
    notification-fd 3) once the trap is in place, so a stop cannot come
    before it. Stop order shows as: a dependency gets its TERM only after
    its dependents' exits (without the wait, within the 0.3 s)."""
    return (f"trap 'echo \"{name} $(date +%s.%N)\" >> {tmp}/stops; sleep 0.3; "
            f"echo \"{name} $(date +%s.%N)\" >> {tmp}/exits; exit 0' TERM\n"
            f"echo >&3\n"
            f"while :; do sleep 0.05; done")


def read_stamps(path, *need):
    """Start stamps by name; waits until every name in need has written
    its own (state `up` means spawned, not that the script ran a line)."""
    def parse():
        out = {}
        if os.path.exists(path):
            for line in open(path).read().splitlines():
                parts = line.split()
                if len(parts) == 2:
                    out.setdefault(parts[0], float(parts[1]))
        return out
    wait_for(lambda: all(n in parse() for n in need), what=f"stamps of {need}")
    return parse()


def test_chain_starts_in_order_with_readiness(sup, tmp_path):
    # c needs b, b needs a; a and b signal readiness after 0.3 s
    sup.service("a", run=stamp_run(tmp_path, "a", "sleep 0.3; echo >&3"),
                files={"notification-fd": "3\n"})
    sup.service("b", run=stamp_run(tmp_path, "b", "sleep 0.3; echo >&3"),
                files={"notification-fd": "3\n", "dependencies": "# needs a\na\n"})
    sup.service("c", run=stamp_run(tmp_path, "c"), files={"dependencies.d/b": ""})
    sup.start()
    st = sup.status()
    assert st["c"]["state"] == "waiting" and st["c"]["waiting_for"] == ["b"]
    assert st["b"]["depends_on"] == ["a"] and st["c"]["depends_on"] == ["b"]
    sup.wait_state("c", "up")
    t = read_stamps(tmp_path / "starts", "a", "b", "c")
    assert t["a"] + 0.25 <= t["b"], t
    assert t["b"] + 0.25 <= t["c"], t


def test_boot_asks_dependencies_first(sup, tmp_path):
    # Named against their order (a needs b, b needs c), so the table's own
    # alphabetical order is the wrong one. Without readiness files a
    # dependency is ready once spawned: asked in dependency order, nobody
    # ever waits; asked in any other order, a dependent waits first.
    sup.service("a", run=stamp_run(tmp_path, "a"), files={"dependencies": "b\n"})
    sup.service("b", run=stamp_run(tmp_path, "b"), files={"dependencies": "c\n"})
    sup.service("c", run=stamp_run(tmp_path, "c"))
    sup.start("--verbose")  # state changes are debug lines
    for n in ("a", "b", "c"):
        sup.wait_state(n, "up")
    log = sup.log_text()
    assert re.findall(r"svc=([abc]) event=started", log) == ["c", "b", "a"]
    assert re.search(r"svc=[abc] event=state from=down to=up", log), "no debug lines"
    waited = re.findall(r"svc=([abc]) event=state from=\w+ to=waiting", log)
    assert waited == [], waited


def test_independent_services_start_in_parallel(sup, tmp_path):
    names = [f"p{i}" for i in range(10)]
    for n in names:
        sup.service(n, run=stamp_run(tmp_path, n, "sleep 0.5; echo >&3"),
                    files={"notification-fd": "3\n"})
    sup.service("after", run=stamp_run(tmp_path, "after"),
                files={"dependencies": "\n".join(names) + "\n"})
    sup.start("--verbose")  # state changes are debug lines
    sup.wait_state("after", "up")
    t = read_stamps(tmp_path / "starts", "after", *names)
    # no one waited for another (with a wait, one 0.5 s readiness would
    # separate them): none of them ever was `waiting`, all spawned at once
    log = sup.log_text()
    assert re.search(r"svc=p0 event=state from=\w+ to=", log), "no debug lines"
    assert not re.search(r"svc=p\d event=state from=\w+ to=waiting", log)
    assert max(t[n] for n in names) < min(t[n] for n in names) + 0.5 * len(names) / 2
    # and `after` waited for every one's readiness
    assert re.search(r"svc=after event=state from=down to=waiting", log)
    assert t["after"] >= max(t[n] for n in names) + 0.45


def test_stop_goes_in_reverse_order(sup, tmp_path):
    ready = {"notification-fd": "3\n"}
    sup.service("db", run=stop_run(tmp_path, "db"), files=ready)
    sup.service("app", run=stop_run(tmp_path, "app"), files={**ready, "dependencies": "db\n"})
    sup.service("web", run=stop_run(tmp_path, "web"), files={**ready, "dependencies": "app\n"})
    sup.start()
    sup.wait_state("web", "ready")
    r = sup.cli("stop", "db")
    assert "also stopping what depends on it" in r.stderr
    assert "app" in r.stderr and "web" in r.stderr
    st = sup.status()
    assert all(st[n]["state"] == "down" for n in ("db", "app", "web")), st
    t = read_stamps(tmp_path / "stops", "web", "app", "db")
    e = read_stamps(tmp_path / "exits", "web", "app", "db")
    assert e["web"] <= t["app"] and e["app"] <= t["db"], (t, e)


def test_shutdown_stops_in_reverse_order(sup, tmp_path):
    sup.service("db", run=stop_run(tmp_path, "db"), files={"notification-fd": "3\n"})
    sup.service("web", run=stop_run(tmp_path, "web"),
                files={"dependencies": "db\n", "notification-fd": "3\n"})
    sup.start()
    sup.wait_state("web", "ready")
    assert sup.stop() == 0
    t = read_stamps(tmp_path / "stops", "web", "db")
    e = read_stamps(tmp_path / "exits", "web", "db")
    assert e["web"] <= t["db"], (t, e)


def test_start_brings_dependencies_up_first(sup, tmp_path):
    sup.service("db", run=stamp_run(tmp_path, "db", "sleep 0.2; echo >&3"),
                files={"down": "", "notification-fd": "3\n"})
    sup.service("web", run=stamp_run(tmp_path, "web"),
                files={"down": "", "dependencies": "db\n"})
    sup.start()
    assert sup.status()["db"]["state"] == "down"
    sup.cli("start", "web")
    st = sup.status()
    assert st["db"]["state"] == "ready" and st["web"]["state"] == "up"
    t = read_stamps(tmp_path / "starts", "db", "web")
    assert t["db"] + 0.15 <= t["web"]


def test_cycle_and_missing_are_config_errors_rest_runs(sup):
    sup.service("x", files={"dependencies": "y\n"})
    sup.service("y", files={"dependencies": "z\n"})
    sup.service("z", files={"dependencies": "x\n"})
    sup.service("needs-x", files={"dependencies": "x\n"})
    sup.service("lonely", files={"dependencies": "ghost\n"})
    sup.service("fine")
    sup.start()
    sup.wait_state("fine", "up")
    st = sup.status()
    for n in ("x", "y", "z"):
        assert st[n]["state"] == "failed"
        assert "dependency cycle: x -> y -> z -> x" in st[n]["reason"], st[n]
        assert st[n]["pid"] is None
    assert st["lonely"]["state"] == "failed"
    assert "missing dependency: ghost" in st["lonely"]["reason"]
    assert st["needs-x"]["state"] == "waiting" and st["needs-x"]["waiting_for"] == ["x"]
    log = sup.log_text()
    assert 'event=dependency-cycle cycle="x -> y -> z -> x"' in log
    r = sup.cli("start", "needs-x", check=False)
    assert r.returncode == 1 and "waiting for a dependency that failed" in r.stderr


def test_oneshot_gates_dependents(sup, tmp_path):
    sup.service("setup", run=f"sleep 0.2\necho done > {tmp_path}/setup.out",
                files={"type": "oneshot\n"})
    sup.service("svc", files={"dependencies": "setup\n"})
    sup.start()
    s = sup.wait_state("svc", "up")
    one = sup.svc("setup")
    assert one["state"] == "up" and one["pid"] is None and one["ready"] is True
    assert one["last_exit"] == {"code": 0}
    assert (tmp_path / "setup.out").read_text() == "done\n"


def test_failed_oneshot_holds_dependents(sup):
    sup.service("check", run="exit 4", files={"type": "oneshot\n"})
    sup.service("deploy", files={"dependencies": "check\n"})
    sup.start()
    one = sup.wait_state("check", "failed")
    assert one["reason"] == "oneshot exited 4"
    d = sup.svc("deploy")
    assert d["state"] == "waiting" and d["waiting_for"] == ["check"] and d["pid"] is None
    r = sup.cli("status", "deploy", check=False)
    assert r.returncode == 1 and "waiting for check" in r.stdout


def test_oneshot_undo_runs_on_stop(sup, tmp_path):
    sup.service("mount", run=f"touch {tmp_path}/mounted",
                files={"type": "oneshot\n", "undo": f"#!/bin/sh\nrm {tmp_path}/mounted\n"})
    sup.start()
    sup.wait_state("mount", "up")
    assert (tmp_path / "mounted").exists()
    sup.cli("stop", "mount")
    assert not (tmp_path / "mounted").exists()
    assert sup.svc("mount")["state"] == "down"
    sup.cli("start", "mount")
    assert (tmp_path / "mounted").exists()


def test_deps_command_text_and_dot(sup):
    sup.service("db")
    sup.service("app", files={"dependencies": "db\n"})
    sup.service("web", files={"dependencies": "app\ndb\n"})
    sup.service("other")
    sup.start()
    text = sup.cli("deps").stdout.splitlines()
    assert "web -> app db" in text and "db ->" in text and "other ->" in text
    only = sup.cli("deps", "app").stdout
    assert "other" not in only and "web -> app db" in only
    dot = sup.cli("deps", "--dot").stdout
    assert dot.startswith("digraph") and '"web" -> "app"' in dot


def test_twenty_services_fifty_edges(sup, tmp_path):
    import random
    rnd = random.Random(7)
    names = [f"n{i:02d}" for i in range(20)]
    edges = set()
    while len(edges) < 50:
        a, b = sorted(rnd.sample(range(20), 2))
        edges.add((b, a))  # higher index depends on lower: a DAG
    for i, n in enumerate(names):
        deps = [names[b] for a, b in edges if a == i]
        sup.service(n, run=stamp_run(tmp_path, n, "sleep 0.05; echo >&3"),
                    files={"notification-fd": "3\n", "dependencies": "\n".join(deps) + "\n"})
    sup.start()
    for n in names:
        sup.wait_state(n, "ready", timeout=20)
    t = read_stamps(tmp_path / "starts", *names)
    for a, b in edges:
        assert t[names[b]] < t[names[a]], (names[a], names[b])
