#!/bin/sh
# check-firmware.sh — report which GPU/CPU firmware families a rootfs holds.
#
#   scripts/check-firmware.sh [--summary] [ROOTFS]  (default build/work-full/rootfs)
#
# Prints one line per family (i915, amdgpu, intel microcode/ucode, radeon,
# nvidia) with its file count, then a summary. Exit 0 when at least one
# family is present, 1 (with a warning) when /lib/firmware is empty: a VM
# boots without firmware, real GPUs may not. --summary (the image build):
# one line, what is there, no warning, exit 0.
set -eu
summary=0
if [ "${1:-}" = "--summary" ]; then summary=1; shift; fi
root=$(cd "$(dirname "$0")/.." && pwd)
rootfs=${1:-$root/build/work-full/rootfs}
fw=$rootfs/lib/firmware
if [ ! -d "$fw" ]; then
    echo "check-firmware: $fw does not exist" >&2
    exit 1
fi
if [ "$summary" = 1 ]; then
    total=$(find "$fw" -type f | wc -l)
    echo "firmware: $total files in /lib/firmware$( [ "$total" -gt 0 ] || echo " (enough for a VM; real GPUs need firmware packages: scripts/check-firmware.sh)")"
    exit 0
fi
present=0
for family in i915 amdgpu intel radeon nvidia; do
    n=0
    if [ -d "$fw/$family" ]; then
        n=$(find "$fw/$family" -type f | wc -l)
    fi
    if [ "$n" -gt 0 ]; then present=$((present + 1)); fi
    echo "check-firmware: $family: $n files"
done
total=$(find "$fw" -type f | wc -l)
echo "check-firmware: families present: $present, files in /lib/firmware: $total"
if [ "$present" -eq 0 ]; then
    echo "check-firmware: warning: no GPU firmware in the image (the Debian" \
        "kernel package ships none; add firmware-misc-nonfree /" \
        "firmware-amd-graphics to the pinned inputs for real hardware)" >&2
    exit 1
fi
