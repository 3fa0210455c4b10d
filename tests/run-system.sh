#!/bin/sh
# Runs the system tests (pytest on the real bay0 binary); prints one
# "system: N passed, N failed" line. Needs BAY0 and HELPERS in the environment.
here=$(cd "$(dirname "$0")" && pwd)
junit=$(mktemp /tmp/bay0-junit.XXXXXX.xml)
/usr/bin/python3 -m pytest -p no:cacheprovider -q -rfE --junitxml="$junit" "$here/system" "$@" >&2
rc=$?
set -- $(/usr/bin/python3 "$here/junit-counts.py" "$junit")
rm -f "$junit"
echo "system: $1 passed, $2 failed, $3 skipped"
[ "$rc" -eq 0 ]
