#!/bin/sh
# mkspine.sh — build the Spine: ./vmlinuz and ./build/spine.img (an
# initramfs whose /sbin/init and /init are the static bay0), inside the
# pinned builder container with no network.
#
#   scripts/mkspine.sh [--flavour full|busybox] [--no-container]
#
#   --flavour full     (default) podman, crun, conmon, fuse-overlayfs,
#                      weston's headless path, the sample images, the
#                      guest's containers.conf/storage.conf; zstd
#   --flavour busybox  bay0 + busybox only (Gate A's fast image); gzip
#   --no-container     run the assembly on this machine instead of in the
#                      builder (the seed's "unless explicitly told otherwise")
#
# Environment:
#   SOURCE_DATE_EPOCH  timestamp of every file in the image (default: the
#                      time of the last git commit, else 0)
#   BAY0_STATIC        use this static bay0 instead of `make static`
#   BAY0_CACHE         the package cache (scripts/fetch-inputs.sh)
#   BAY0_OUT           output image (default build/spine.img)
#   BAY0_VMLINUZ       output kernel (default ./vmlinuz)
#
# Steps: fetch and check every locked package (image/packages.lock) into
# the cache; build the static bay0; check that the builder image in the
# builder's podman store is the one pinned below (made by
# scripts/mkbuilder.sh when missing) and refuse to build with any other;
# run image/assemble.py in it with --network none, the repository, the
# cache and bay0 mounted read-only and only build/work-FLAVOUR writable.
# Idempotent (the rootfs is wiped each time) and reproducible (two builds,
# one sha256: tests/vm/test_reproducible.py).
#
# BUILDER_ID is the image ID scripts/mkbuilder.sh makes from the lock's
# builder set. Change it only in a commit whose message gives the new ID
# and why (the seed's rule for the pinned digest).
BUILDER_ID=sha256:964e9d2be23fb10d925b656fecadd39894e8c27d57fe69f5d322bdbfed24c8d2
set -eu
export LC_ALL=C
umask 022

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/inputs-lib.sh"
build=$root/build
flavour=full
container=1
while [ $# -gt 0 ]; do
    case "$1" in
    --flavour) flavour=${2:-}; shift ;;
    --no-container) container=0 ;;
    -h | --help) sed -n '2,36p' "$0"; exit 0 ;;
    *) echo "mkspine: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$flavour" in
full | busybox) ;;
*) echo "mkspine: --flavour wants full or busybox, not '$flavour'" >&2; exit 2 ;;
esac
out=${BAY0_OUT:-$build/spine.img}
vmlinuz=${BAY0_VMLINUZ:-$root/vmlinuz}
work=$build/work-$flavour

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH
say() { echo "mkspine: $*" >&2; }
die() { echo "mkspine: error: $*" >&2; exit 1; }

# 1. Pinned inputs, checked.
sets="kernel spine"
[ "$container" = 1 ] && sets="$sets builder"
# shellcheck disable=SC2086
cache=$("$root/scripts/fetch-inputs.sh" $sets) || die "inputs could not be fetched (above)"

# 2. The static bay0.
if [ -n "${BAY0_STATIC:-}" ]; then
    bay0=$BAY0_STATIC
else
    make -C "$root" -s static >&2 2>/dev/null || make -C "$root" static >&2 ||
        die "make static failed"
    bay0=$build/bay0-static
fi
[ -x "$bay0" ] || die "bay0 binary missing or not executable: $bay0"
[ "$(od -An -c -N4 "$bay0" | tr -d ' ')" = '177ELF' ] || die "$bay0 is not an ELF binary"
say "bay0: $bay0 sha256 $(sha256sum <"$bay0" | cut -d' ' -f1)"

# 3. Inputs compiled here like bay0: the AI tenant's static server.
mkdir -p "$work" "$(dirname "$out")"
rm -rf "$work/spine.img" "$work/vmlinuz" "$work/inputs"
if [ "$flavour" = full ] && [ -x "$root/tenants/ai/build.sh" ]; then
    "$root/tenants/ai/build.sh" --tar-only "$work/inputs" >/dev/null ||
        die "tenants/ai/build.sh failed"
fi

# 4. Assemble, in the pinned builder unless told otherwise.
t0=$(date +%s)
if [ "$container" = 1 ]; then
    command -v podman >/dev/null || die "podman is missing (scripts/deps.sh), or build with --no-container"
    podman_cmd=$(builder_podman "$cache")
    ref=localhost/bay0-builder:latest
    # shellcheck disable=SC2086
    have=$($podman_cmd image inspect --format '{{.Id}}' "$ref" 2>/dev/null || true)
    if [ -z "$have" ]; then
        say "no builder image in the builder store: making it (scripts/mkbuilder.sh)"
        "$root/scripts/mkbuilder.sh" >/dev/null || die "scripts/mkbuilder.sh failed"
        # shellcheck disable=SC2086
        have=$($podman_cmd image inspect --format '{{.Id}}' "$ref" 2>/dev/null || true)
    fi
    case "$have" in sha256:*) ;; ?*) have=sha256:$have ;; esac
    if [ "$have" != "$BUILDER_ID" ]; then
        die "the builder image $ref is ${have:-missing}, but mkspine.sh pins $BUILDER_ID: refusing to build. If image/packages.lock changed on purpose, pin the ID scripts/mkbuilder.sh prints in a commit that says why; otherwise remove the image ($podman_cmd rmi $ref) and run again"
    fi
    say "builder $BUILDER_ID (pinned), --network none"
    # shellcheck disable=SC2086
    $podman_cmd run --rm --network none --pull=never \
        --security-opt no-new-privileges --cap-drop all \
        --cap-add CHOWN,DAC_OVERRIDE,FOWNER,FSETID \
        -v "$root:/src:ro" -v "$cache/debs:/debs:ro" -v "$bay0:/in/bay0:ro" \
        -v "$work:/work" -e "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH" \
        "$BUILDER_ID" python3 /src/image/assemble.py --src /src --debs /debs \
        --bay0 /in/bay0 --work /work --flavour "$flavour" \
        --epoch "$SOURCE_DATE_EPOCH" || die "the build in the builder failed (above)"
else
    say "assembling on this machine (--no-container)"
    for tool in dpkg-deb python3 strip gzip zstd; do
        command -v "$tool" >/dev/null || die "$tool is missing (scripts/deps.sh)"
    done
    python3 "$root/image/assemble.py" --src "$root" --debs "$cache/debs" \
        --bay0 "$bay0" --work "$work" --flavour "$flavour" \
        --epoch "$SOURCE_DATE_EPOCH" || die "assembly failed (above)"
fi
cp "$work/spine.img" "$out.tmp" && mv "$out.tmp" "$out"
cp "$work/vmlinuz" "$vmlinuz.tmp" && mv "$vmlinuz.tmp" "$vmlinuz"
cp "$work/image.env" "$(dirname "$out")/$(basename "$out" .img).env"
touch -d "@$SOURCE_DATE_EPOCH" "$vmlinuz" "$out"
"$root/scripts/check-firmware.sh" --summary "$work/rootfs" >&2 || true
. "$work/image.env"
say "$out: $flavour, $(wc -c <"$out") bytes ($UNPACKED_BYTES unpacked), sha256 $(sha256sum <"$out" | cut -d' ' -f1), $(( $(date +%s) - t0 )) s"
say "$vmlinuz: $KERNEL ($KVER)"
