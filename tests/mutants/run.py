#!/usr/bin/python3
"""make mutants: break each behaviour of tests/mutants/mutations.py in a
copy of the tree, build it, run only the tests named for it, and print a
table `mutation | tests | caught`. Exit 0 only when every mutation is
caught.

    tests/mutants/run.py [--list] [--keep] [NAME...]

The copy is the working tree as it is (committed or not: `git ls-files`
plus untracked files), in a temporary directory, built once; each mutation
rebuilds only what it touched. First the named tests run on the unmutated
copy: a test that fails there proves nothing, so the run stops. A pattern
that no longer matches exactly once stops the run with "mutation no longer
applies". A mutation that does not build is a broken mutation, not a catch.
Slow (a build and a few system tests per mutation: minutes); not part of
make check or CI.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from mutations import MUTATIONS  # noqa: E402

TEST_TIMEOUT_S = 600  # a hung run counts as caught, and says so


def sh(cmd, cwd, timeout=None, env=None):
    return subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def copy_tree(dst):
    files = sh(["git", "ls-files", "-co", "--exclude-standard", "-z"], ROOT).stdout
    for rel in filter(None, files.split("\0")):
        src = os.path.join(ROOT, rel)
        if not os.path.isfile(src) or rel.startswith(("build/", "build-asan/")):
            continue
        os.makedirs(os.path.join(dst, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, rel), follow_symlinks=False)


def build(tree, unit_bins):
    targets = ["all"] + [f"build/tests/{b}" for b in unit_bins]
    r = sh(["nice", "-n", "10", "make", "-j2", *targets], tree)
    return r.returncode == 0, r.stdout[-3000:]


def apply(tree, m):
    """Returns the original text of the file, or raises with why not."""
    path = os.path.join(tree, m["file"])
    text = open(path).read()
    n = len(re.findall(m["pattern"], text))
    if n != 1:
        raise LookupError(f"mutation no longer applies: {m['name']}: pattern "
                          f"/{m['pattern']}/ matches {n} times in {m['file']} "
                          f"(want 1): update it in tests/mutants/mutations.py")
    with open(path, "w") as f:
        f.write(re.sub(m["pattern"], m["replacement"], text))
    return text


def restore(tree, m, text):
    with open(os.path.join(tree, m["file"]), "w") as f:
        f.write(text)


def run_tests(tree, tests):
    """{test: "passed" | "FAILED" | "timeout" | "error: ..."}"""
    env = dict(os.environ, BAY0=os.path.join(tree, "build", "bay0"),
               HELPERS=os.path.join(tree, "build", "helpers"))
    out = {}
    system = [t for t in tests if not t.startswith("unit:")]
    for t in tests:
        if t.startswith("unit:"):
            try:
                r = sh([os.path.join(tree, "build", "tests", t[5:])], tree,
                       timeout=TEST_TIMEOUT_S, env=env)
                out[t] = "passed" if r.returncode == 0 else "FAILED"
            except subprocess.TimeoutExpired:
                out[t] = "timeout"
    if system:
        junit = os.path.join(tree, "mutant-junit.xml")
        try:
            r = sh(["/usr/bin/python3", "-m", "pytest", "-p", "no:cacheprovider", "-q",
                    f"--junitxml={junit}", *system], tree, timeout=TEST_TIMEOUT_S, env=env)
        except subprocess.TimeoutExpired:
            return {**out, **{t: "timeout" for t in system}}
        out.update(junit_results(junit, system, r))
    return out


def junit_results(junit, system, r):
    import xml.etree.ElementTree as ET
    try:
        root = ET.parse(junit).getroot()
    except Exception:
        return {t: f"error: pytest exited {r.returncode} without results" for t in system}
    got = {}
    for case in root.iter("testcase"):
        name = case.get("name")
        if case.find("failure") is not None or case.find("error") is not None:
            got[name] = "FAILED"
        elif case.find("skipped") is not None:
            got[name] = "skipped"
        else:
            got[name] = "passed"
    return {t: got.get(t.split("::")[-1], "error: did not run") for t in system}


def short(test):
    return test.replace("tests/system/", "").replace(".py::", "::")


def main(argv):
    names = [a for a in argv if not a.startswith("-")]
    chosen = [m for m in MUTATIONS if not names or m["name"] in names]
    if "--list" in argv:
        for m in MUTATIONS:
            print(f"{m['name']:22} {m['why']}")
        return 0
    if names and len(chosen) != len(names):
        print("unknown mutation in %s; --list names them" % names, file=sys.stderr)
        return 2
    tree = tempfile.mkdtemp(prefix="bay0-mutants-")
    try:
        return mutate_all(tree, chosen)
    finally:
        if "--keep" in argv:
            print(f"kept {tree}", file=sys.stderr)
        else:
            shutil.rmtree(tree, ignore_errors=True)


def mutate_all(tree, chosen):
    copy_tree(tree)
    units = sorted({t[5:] for m in chosen for t in m["tests"] if t.startswith("unit:")})
    ok, log = build(tree, units)
    if not ok:
        print(log + "\nmutants: the unmutated tree does not build", file=sys.stderr)
        return 1
    every = list(dict.fromkeys(t for m in chosen for t in m["tests"]))
    print(f"mutants: baseline: {len(every)} tests on the unmutated tree", file=sys.stderr)
    base = run_tests(tree, every)
    bad = {t: r for t, r in base.items() if r != "passed"}
    if bad:
        print(f"mutants: these fail (or skip) without any mutation, so they prove "
              f"nothing: {bad}", file=sys.stderr)
        return 1
    for m in chosen:  # every pattern first: a stale one stops before the long part
        try:
            restore(tree, m, apply(tree, m))
        except LookupError as e:
            print(e, file=sys.stderr)
            return 1
    rows, all_caught = [], True
    for m in chosen:
        t0 = time.monotonic()
        text = apply(tree, m)
        ok, log = build(tree, units)
        if not ok:
            restore(tree, m, text)
            print(log + f"\nmutants: {m['name']} does not build: fix the mutation",
                  file=sys.stderr)
            rows.append((m["name"], ", ".join(map(short, m["tests"])), "NO (does not build)"))
            all_caught = False
            continue
        res = run_tests(tree, m["tests"])
        restore(tree, m, text)
        caught = [t for t, r in res.items() if r in ("FAILED", "timeout")]
        verdict = (f"yes ({len(caught)}/{len(res)})" if caught else "NO") + \
            ("" if all(r != "timeout" for r in res.values()) else ", a test hung")
        all_caught &= bool(caught)
        rows.append((m["name"], ", ".join(f"{short(t)}={r}" for t, r in res.items()), verdict))
        print(f"mutants: {m['name']}: {verdict} ({time.monotonic() - t0:.0f} s)", file=sys.stderr)
    print_table(rows)
    return 0 if all_caught else 1


def print_table(rows):
    """mutation | tests | caught, one row each (tests: name=result)."""
    w0 = max(len("mutation"), *(len(r[0]) for r in rows))
    w1 = max(len("tests"), *(len(r[1]) for r in rows))
    print(f"{'mutation':{w0}} | {'tests':{w1}} | caught")
    print(f"{'-' * w0}-|-{'-' * w1}-|-------")
    for name, tests, verdict in rows:
        print(f"{name:{w0}} | {tests:{w1}} | {verdict}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
