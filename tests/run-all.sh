#!/bin/sh
# make check: unit, system and vm tests (SKIP_VM=1: vm counts as one
# skipped), then the reasons for every skip and one closing line alone:
#   N passed, N failed, N skipped
# Exit non-zero if any runner exits non-zero or prints no count line (a
# runner that crashed before counting is a failure, never a silent pass).
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
export BAY0="$root/$build/bay0" HELPERS="$root/$build/helpers"
out=$(mktemp /tmp/bay0-check.XXXXXX)
all=$(mktemp /tmp/bay0-check-all.XXXXXX)
trap 'rm -f "$out" "$all"' EXIT
status=0
# run NAME COMMAND...: its stdout is shown and kept; its own exit status
# counts (no pipe in between to lose it).
run() {
    name=$1; shift
    "$@" >"$out"; rc=$?
    cat "$out"; cat "$out" >>"$all"
    if ! grep -Eq "^$name: [0-9]+ passed, [0-9]+ failed" "$out"; then
        echo "$name: 0 passed, 1 failed, 0 skipped (the runner exited $rc and printed no count line)" |
            tee -a "$all"
        status=1
    elif [ "$rc" -ne 0 ] && ! grep -Eq "^$name: [0-9]+ passed, [1-9][0-9]* failed" "$out"; then
        echo "$name: 0 passed, 1 failed, 0 skipped (the runner exited $rc but counted no failure)" |
            tee -a "$all"
    fi
    [ "$rc" -eq 0 ] || status=1
}
# shellcheck disable=SC2086  # the glob is meant to expand
run unit "$root/tests/run-unit.sh" "$root/$build"/tests/test_*
run system "$root/tests/run-system.sh"
run vm "$root/tests/run-vm.sh"
set -- $(sed -n -E 's/^(unit|system|vm): ([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?.*/\2 \3 \5/p' "$all" |
         awk '{p += $1; f += $2; k += $3} END {print p + 0, f + 0, k + 0}')
p=$1; f=$2; k=$3
if [ "$k" -gt 0 ]; then
    echo "why $k skipped:"
    sed -n 's/^\([a-z]*\): skipped /  \1: /p' "$all"
fi
echo "$p passed, $f failed, $k skipped"
[ "$status" -eq 0 ] && [ "$f" -eq 0 ]
