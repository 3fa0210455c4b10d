#!/bin/sh
# Gate A in QEMU: builds the Spine (scripts/mkspine.sh), boots it and runs
# tests/vm; prints "vm: skipped NAME: REASON" for each skipped test, then
# one "vm: N passed, N failed, N skipped" line. Installs QEMU if it is
# missing (Debian qemu-system-x86). SKIP_VM=1 skips it all (and says so:
# the whole suite counts as one skipped).
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
if [ "${SKIP_VM:-0}" = 1 ]; then
    echo "vm: skipped tests/vm (the whole suite): SKIP_VM=1"
    echo "vm: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
if ! command -v qemu-system-x86_64 >/dev/null; then
    BAY0_EXTRA_PKGS="qemu-system-x86" "$root/scripts/deps.sh" >&2 || {
        echo "vm: qemu-system-x86 could not be installed" >&2
        echo "vm: 0 passed, 1 failed, 0 skipped"
        exit 1
    }
fi
junit=$(mktemp /tmp/bay0-vm-junit.XXXXXX.xml)
start=$(date +%s)
/usr/bin/python3 -m pytest -p no:cacheprovider -q -rfEs --junitxml="$junit" "$here/vm" "$@" >&2
rc=$?
echo "vm: took $(( $(date +%s) - start )) s" >&2
/usr/bin/python3 "$here/junit-counts.py" vm "$rc" "$junit"
ok=$?
rm -f "$junit"
exit "$ok"
