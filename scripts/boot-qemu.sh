#!/bin/sh
# boot-qemu.sh — boot ./vmlinuz + ./build/spine.img in QEMU (TCG, serial
# console, no network), with ./persist.img as virtio-blk /dev/vda.
#
#   scripts/boot-qemu.sh [options]
#     --kernel PATH      default ./vmlinuz
#     --initrd PATH      default build/spine.img
#     --persist PATH     default ./persist.img (made with mkpersist.sh)
#     --no-persist       boot without a persist disk (dirty boot)
#     --nbd SOCKET       the persist disk is an NBD export on this unix
#                        socket (tests use a server that never answers)
#     --append "ARGS"    extra kernel command line
#     --mem MB           guest RAM, default 1024 (the full Spine needs
#                        about 400; the initramfs lives in RAM)
#     --smp N            guest CPUs, default 1 (with 2, an overloaded host
#                        starves one vCPU thread and the guest kernel
#                        hangs in a soft lockup at boot: seen here)
#     --verbose          kernel messages on the console (default: quiet)
#     --batch LOG        serial console to LOG instead of the terminal,
#                        stdin closed; with --timeout S (default 120) QEMU is
#                        killed after S seconds. Exit status: QEMU's (0 when
#                        the guest powered off), 124 on timeout.
#
# Always: console=ttyS0,115200, -accel tcg (KVM is not usable on the
# development machines), -nographic, -no-reboot (a guest reboot ends QEMU).
# Interactive: Ctrl-A X ends QEMU; the terminal is left as it was found
# (its stty settings, and line wrap, which SeaBIOS turns off).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
kernel=$root/vmlinuz
initrd=$root/build/spine.img
persist=$root/persist.img
nbd=
no_persist=0
append=
mem=1024
smp=1
quiet=quiet
batch=
timeout_s=120
while [ $# -gt 0 ]; do
    case "$1" in
    --kernel) kernel=$2; shift ;;
    --initrd) initrd=$2; shift ;;
    --persist) persist=$2; shift ;;
    --no-persist) no_persist=1 ;;
    --nbd) nbd=$2; shift ;;
    --append) append="$append $2"; shift ;;
    --mem) mem=$2; shift ;;
    --smp) smp=$2; shift ;;
    --verbose) quiet= ;;
    --batch) batch=$2; shift ;;
    --timeout) timeout_s=$2; shift ;;
    -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "boot-qemu: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
command -v qemu-system-x86_64 >/dev/null || { echo "boot-qemu: qemu-system-x86_64 missing (apt-get install qemu-system-x86)" >&2; exit 1; }
for f in "$kernel" "$initrd"; do
    [ -f "$f" ] || { echo "boot-qemu: $f missing (scripts/mkspine.sh)" >&2; exit 1; }
done

set -- -accel tcg -m "$mem" -smp "$smp" -nographic -no-reboot -nodefaults \
    -net none -kernel "$kernel" -initrd "$initrd"
# The disk is a virtio-blk-pci device with its geometry given, so that
# QEMU does not read sector 0 to guess it (a stalled NBD disk would hang
# QEMU itself); edd=off keeps the kernel's real-mode setup from asking the
# BIOS to read every disk for the same reason.
disk=
if [ -n "$nbd" ]; then
    disk="file=nbd:unix:$nbd,format=raw"
elif [ "$no_persist" = 0 ]; then
    [ -f "$persist" ] || { echo "boot-qemu: $persist missing (scripts/mkpersist.sh, or --no-persist)" >&2; exit 1; }
    disk="file=$persist,format=raw,cache=unsafe"
fi
if [ -n "$disk" ]; then
    set -- "$@" -drive "$disk,if=none,id=persist" \
        -device virtio-blk-pci,drive=persist,cyls=1024,heads=16,secs=63
fi
cmdline="console=ttyS0,115200 panic=-1 edd=off $quiet bay0.persist=/dev/vda$append"
if [ -n "$batch" ]; then
    exec timeout -k 5 "$timeout_s" qemu-system-x86_64 "$@" -append "$cmdline" \
        -serial "file:$batch" -monitor none </dev/null
fi
# Not a terminal (tests drive the console through pipes): QEMU is this
# process, so that a signal to it reaches QEMU itself.
if ! [ -t 0 ] || ! [ -t 1 ]; then
    exec qemu-system-x86_64 "$@" -append "$cmdline" -serial stdio -monitor none
fi
saved=$(stty -g 2>/dev/null || true)
rc=0
qemu-system-x86_64 "$@" -append "$cmdline" -serial stdio -monitor none || rc=$?
if [ -n "$saved" ]; then
    stty "$saved" 2>/dev/null || true
fi
# Line wrap on again (SeaBIOS sent ESC[?7l), attributes reset.
printf '\033[?7h\033[0m\n'
exit "$rc"
