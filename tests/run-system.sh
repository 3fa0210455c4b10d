#!/bin/sh
# Runs the system tests (pytest on the real bay0 binary); prints
# "system: skipped NAME: REASON" for each skipped test, then one
# "system: N passed, N failed, N skipped" line. Needs BAY0 and HELPERS in
# the environment. Exit non-zero if pytest did (a crash, an interrupt, no
# tests collected), even when the counts look clean.
here=$(cd "$(dirname "$0")" && pwd)
junit=$(mktemp /tmp/bay0-junit.XXXXXX.xml)
/usr/bin/python3 -m pytest -p no:cacheprovider -q -rfEs --junitxml="$junit" "$here/system" "$@" >&2
rc=$?
/usr/bin/python3 "$here/junit-counts.py" system "$rc" "$junit"
ok=$?
rm -f "$junit"
exit "$ok"
