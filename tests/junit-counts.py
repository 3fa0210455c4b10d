"""junit-counts.py NAME RC FILE: for tests/run-*.sh, reads pytest's
--junitxml FILE (pytest exited RC) and prints one line
"NAME: skipped TEST: REASON" per skipped test, then
"NAME: N passed, N failed, N skipped". Exits 1 when anything failed.
A file pytest could not write (it crashed, or was killed) counts as one
failure, and so does a non-zero RC with no failed test (an interrupt, no
tests collected): a runner cannot pass by saying nothing."""
import sys
import xml.etree.ElementTree as ET

name, rc, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t = f = e = k = 0
try:
    root = ET.parse(path).getroot()
except Exception as ex:  # missing, empty or truncated: no count at all
    print(f"{name}: no test results in {path} ({ex}): counted as 1 failed", file=sys.stderr)
    f = 1
    root = None
suites = [] if root is None else [root] if root.tag == "testsuite" else root.findall("testsuite")
for suite in suites:
    t += int(suite.get("tests", 0))
    f += int(suite.get("failures", 0))
    e += int(suite.get("errors", 0))
    k += int(suite.get("skipped", 0))
    for case in suite.iter("testcase"):
        for sk in case.findall("skipped"):
            cls = case.get("classname", "").rsplit(".", 1)[-1]
            reason = " ".join((sk.get("message") or sk.text or "no reason given").split())
            print(f"{name}: skipped {cls}::{case.get('name', '?')}: {reason}")
# an error in a passed test's teardown counts as a test and as an error
passed, failed = max(t - f - e - k, 0), f + e
if rc != 0 and failed == 0:
    print(f"{name}: pytest exited {rc} with no failed test: counted as 1 failed", file=sys.stderr)
    failed = 1
print(f"{name}: {passed} passed, {failed} failed, {k} skipped")
sys.exit(1 if failed or rc != 0 else 0)
