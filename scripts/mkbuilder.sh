#!/bin/sh
# mkbuilder.sh — make the hermetic builder image from the lock's "builder"
# packages and load it into the builder's podman store; prints its image
# ID (sha256:...), which mkspine.sh pins.
#
#   scripts/mkbuilder.sh
#
# No registry is reachable, so the pinned build container of the seed
# ("mkspine.sh must build inside a pinned container image by digest") is
# made here, reproducibly: the .debs (pinned by version and sha256) are
# unpacked with dpkg-deb -x (no maintainer scripts: the builder only runs
# python3, dpkg-deb, strip, depmod, zstd and gzip), packed into a tarball
# sorted by name with owner 0:0 and every mtime BUILDER_EPOCH, and the
# tarball's own mtime set to it too, since `podman import` takes the
# image's creation time from it. The same lock gives the same tarball and
# so the same image ID (DESIGN §7); tests/vm/test_reproducible.py checks it.
#
# Environment: BAY0_CACHE (see fetch-inputs.sh); BAY0_BUILDER_PODMAN, the
# podman command line of the builder's store (default: a store of its own
# under the cache, never the machine's default one).
set -eu
export LC_ALL=C
umask 022
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/inputs-lib.sh"
# Fixed, not the commit time: the builder must not change with every commit.
BUILDER_EPOCH=1700000000
BUILDER_REF=localhost/bay0-builder:latest

cache=$("$root/scripts/fetch-inputs.sh" builder)
podman_cmd=$(builder_podman "$cache")
work=$cache/builder
rm -rf "$work/rootfs" "$work/builder.tar"
mkdir -p "$work/rootfs"
inputs_list "$root/image/packages.lock" builder | while read -r name version sha file; do
    dpkg-deb -x "$cache/debs/$file" "$work/rootfs"
done
cd "$work/rootfs"
rm -rf usr/share/doc usr/share/man usr/share/info usr/share/locale
mkdir -p tmp work src debs in etc
chmod 1777 tmp
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' >etc/group
: >etc/hostname
: >etc/resolv.conf
tar --sort=name --mtime="@$BUILDER_EPOCH" --clamp-mtime --owner=0 --group=0 \
    --numeric-owner --format=gnu -cf "$work/builder.tar" .
cd "$work"
touch -d "@$BUILDER_EPOCH" builder.tar
echo "mkbuilder: builder.tar sha256 $(sha256sum <builder.tar | cut -d' ' -f1), $(wc -c <builder.tar) bytes" >&2
# shellcheck disable=SC2086  # the podman command line is split on purpose
id=$($podman_cmd import -q \
    --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'WORKDIR /work' builder.tar "$BUILDER_REF")
rm -rf "$work/rootfs" builder.tar
echo "mkbuilder: $BUILDER_REF is $id" >&2
echo "$id"
