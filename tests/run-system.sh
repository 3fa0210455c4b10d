#!/bin/sh
# Runs the system tests (pytest on the real bay0 binary); prints one
# "system: N passed, N failed" line. Needs BAY0 and HELPERS in the environment.
here=$(cd "$(dirname "$0")" && pwd)
junit=$(mktemp /tmp/bay0-junit.XXXXXX.xml)
/usr/bin/python3 -m pytest -p no:cacheprovider -q -rfE --junitxml="$junit" "$here/system" "$@" >&2
rc=$?
set -- $(/usr/bin/python3 - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
s = r if r.tag == "testsuite" else r.find("testsuite")
t, f, e, k = (int(s.get(a, 0)) for a in ("tests", "failures", "errors", "skipped"))
print(t - f - e - k, f + e, k)
PY
)
rm -f "$junit"
echo "system: $1 passed, $2 failed, $3 skipped"
[ "$rc" -eq 0 ]
