#!/bin/sh
# Runs each cmocka unit-test binary given as an argument; prints
# "unit: skipped ..." for each skipped test, then one
# "unit: N passed, N failed, N skipped" line. A binary that crashes, exits
# non-zero or prints no cmocka count line counts as a failure. Exit 1 if
# anything failed.
passed=0; failed=0; skipped=0
[ "$#" -gt 0 ] || { echo "unit: no test binaries given" >&2; failed=1; }
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    name=$(basename "$t")
    printf '%s\n' "$out" | grep -E '^\[  (FAILED|ERROR)|^\[ +(PASSED|FAILED) +\]|^\[  ERROR' >&2
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
    k=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -n1)
    if [ -z "$p" ] && [ -z "$f" ]; then
        # no summary at all: it crashed, hung up, or is not a cmocka test
        printf '%s\n' "$out" | tail -n 20 >&2
        echo "  $name: no cmocka count line (exit $rc): counted as 1 failed" >&2
        p=0; f=1
    fi
    p=${p:-0}; f=${f:-0}; k=${k:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; printf '%s\n' "$out" >&2; fi
    printf '%s\n' "$out" | sed -n "s/^\[  SKIPPED \] \([a-z_A-Z0-9]*\)\$/unit: skipped $name::\1: cmocka skip() (the test says why in a comment next to it)/p" |
        awk '!seen[$0]++'  # cmocka names a skipped test twice: when run, and in its summary
    echo "  $name: $p passed, $f failed, $k skipped" >&2
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + k))
done
echo "unit: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
