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
counts=$(/usr/bin/python3 "$here/junit-counts.py" "$junit")
rm -f "$junit"
printf '%s\n' "$counts" | sed -n 's/^skipped /system: skipped /p'
set -- $(printf '%s\n' "$counts" | tail -n1)
p=${1:-0}; f=${2:-1}; k=${3:-0}
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "system: pytest exited $rc with no failed test: counted as 1 failed" >&2
    f=1
fi
echo "system: $p passed, $f failed, $k skipped"
[ "$rc" -eq 0 ] && [ "$f" -eq 0 ]
