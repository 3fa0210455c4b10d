#!/bin/sh
# make check: unit, system and (unless SKIP_VM=1) vm tests, then one total
# line "N passed, N failed". Exit non-zero if anything failed.
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
export BAY0="$root/$build/bay0" HELPERS="$root/$build/helpers"
log=$(mktemp /tmp/bay0-check.XXXXXX)
status=0
"$root/tests/run-unit.sh" "$root/$build"/tests/test_* | tee -a "$log" || status=1
"$root/tests/run-system.sh" | tee -a "$log" || status=1
if [ "${SKIP_VM:-0}" != 1 ] && [ -x "$root/tests/run-vm.sh" ]; then
    "$root/tests/run-vm.sh" | tee -a "$log" || status=1
fi
p=0; f=0
while read -r kind np _ nf _; do
    p=$((p + np)); f=$((f + nf))
done <<EOT
$(sed -n 's/^\([a-z]*\): \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2 x \3 x/p' "$log")
EOT
rm -f "$log"
echo "$p passed, $f failed"
[ "$status" -eq 0 ] && [ "$f" -eq 0 ]
