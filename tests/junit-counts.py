"""Reads a pytest --junitxml file for tests/run-*.sh. Prints, on stdout:
one line "skipped NAME: REASON" per skipped test, then "PASSED FAILED
SKIPPED" as the last line. A file pytest could not write (it crashed, or
was killed) counts as one failure, so a runner cannot pass by saying
nothing."""
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception as e:  # missing, empty or truncated: no count at all
    print(f"junit-counts: no test results in {sys.argv[1]} ({e})", file=sys.stderr)
    print(0, 1, 0)
    sys.exit()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = f = e = k = 0
for suite in suites:
    t += int(suite.get("tests", 0))
    f += int(suite.get("failures", 0))
    e += int(suite.get("errors", 0))
    k += int(suite.get("skipped", 0))
    for case in suite.iter("testcase"):
        for sk in case.findall("skipped"):
            name = case.get("name", "?")
            cls = case.get("classname", "").rsplit(".", 1)[-1]
            reason = " ".join((sk.get("message") or sk.text or "no reason given").split())
            print(f"skipped {cls}::{name}: {reason}")
# pytest counts an error in a passed test's teardown as a test and an error
print(max(t - f - e - k, 0), f + e, k)
