#!/bin/sh
# Runs each cmocka unit-test binary given as an argument; prints one
# "unit: N passed, N failed" line. Exit 1 if any test failed.
passed=0; failed=0
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -E '^\[  (FAILED|ERROR)|^\[ +(PASSED|FAILED) +\]|^\[  ERROR' >&2
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; printf '%s\n' "$out" >&2; fi
    echo "  $(basename "$t"): $p passed, $f failed" >&2
    passed=$((passed + p)); failed=$((failed + f))
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
