#!/bin/sh
# fetch-inputs.sh — download the Spine image's pinned inputs (Debian .debs)
# with `apt-get download` and check each against its pinned sha256.
#
#   scripts/fetch-inputs.sh [DIR]     (default: build/inputs, or $BAY0_INPUTS)
#
# Writes DIR/kernel.deb, DIR/busybox.deb and DIR/inputs.env (KVER=...).
# A file already present with the right sha256 is not downloaded again.
# Changing a pin: change the version AND the sha256 in one commit whose
# message names both and says why (the seed's rule for the builder digest).
# If a pinned version has left the Debian mirror, `apt-cache policy PKG`
# shows what is offered now; pin that and its sha256 from this script's
# error message.
set -eu

KERNEL_PKG=linux-image-6.1.0-56-amd64
KERNEL_VERSION=6.1.192-2
KERNEL_SHA256=a86e2049672f52354c4536a089203b6c82639420424d31c91cf31a181fd4d8f1
KVER=6.1.0-56-amd64

BUSYBOX_PKG=busybox-static
BUSYBOX_VERSION=1:1.35.0-4+deb12u1+b1
BUSYBOX_SHA256=3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-${BAY0_INPUTS:-$root/build/inputs}}
mkdir -p "$dir"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# fetch NAME PKG VERSION SHA256 -> DIR/NAME.deb
fetch() {
    name=$1 pkg=$2 version=$3 want=$4
    out="$dir/$name.deb"
    if [ -f "$out" ] && [ "$(sha_of "$out")" = "$want" ]; then
        echo "fetch-inputs: $pkg=$version ok (cached)" >&2
        return 0
    fi
    tmp=$(mktemp -d "$dir/.dl.XXXXXX")
    # apt's download sandbox user must be able to write here.
    chmod 0777 "$tmp"
    # A fresh machine may have no package lists yet: update once, retry.
    if ! (cd "$tmp" && apt-get download -qq "$pkg=$version" >/dev/null 2>"$tmp/err"); then
        echo "fetch-inputs: $pkg=$version not found; running apt-get update" >&2
        apt-get update -qq >&2 || true
        if ! (cd "$tmp" && apt-get download -qq "$pkg=$version" >/dev/null 2>"$tmp/err"); then
            echo "fetch-inputs: $pkg=$version is not offered by the configured" \
                "mirrors (apt-cache policy $pkg shows what is)" >&2
            cat "$tmp/err" >&2
            rm -rf "$tmp"
            exit 1
        fi
    fi
    got_file=$(ls "$tmp"/*.deb)
    got=$(sha_of "$got_file")
    if [ "$got" != "$want" ]; then
        echo "fetch-inputs: $pkg=$version: sha256 mismatch: got $got, pinned $want" >&2
        rm -rf "$tmp"
        exit 1
    fi
    mv "$got_file" "$out"
    rm -rf "$tmp"
    echo "fetch-inputs: $pkg=$version sha256=$got ok" >&2
}

fetch kernel "$KERNEL_PKG" "$KERNEL_VERSION" "$KERNEL_SHA256"
fetch busybox "$BUSYBOX_PKG" "$BUSYBOX_VERSION" "$BUSYBOX_SHA256"

cat >"$dir/inputs.env" <<EOF
KVER=$KVER
KERNEL_PKG=$KERNEL_PKG
KERNEL_VERSION=$KERNEL_VERSION
KERNEL_SHA256=$KERNEL_SHA256
BUSYBOX_PKG=$BUSYBOX_PKG
BUSYBOX_VERSION=$BUSYBOX_VERSION
BUSYBOX_SHA256=$BUSYBOX_SHA256
EOF
