#!/bin/sh
# tenants/ai/build.sh — build the AI tenant's image localhost/bay0-ai:latest
# from our own static server (tenants/ai/ai-server.c): a rootfs with
# /ai-server, an empty /run/bay0-ai (the socket's directory, bind-mounted by
# bay0) and /tmp, imported with `podman import` (no registry). The tarball is
# reproducible (sorted, owner 0, mtime SOURCE_DATE_EPOCH, default 0).
#
#   tenants/ai/build.sh [--tar-only DIR]
#
# Podman's command line comes from BAY0_PODMAN (default "podman"; tests give
# their private --root/--runroot/--tmpdir). Prints "ai IMAGE-ID".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
epoch=${SOURCE_DATE_EPOCH:-0}
podman=${BAY0_PODMAN:-podman}
cc=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/bay0-ai.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
root="$work/rootfs"
mkdir -p "$root/run/bay0-ai" "$root/tmp"
chmod 1777 "$root/tmp"
$cc -std=gnu11 -O2 -Wall -Wextra -Werror -static -o "$root/ai-server" "$here/ai-server.c"
touch -d "@$epoch" "$root/ai-server"
tar="$work/rootfs.tar"
(cd "$root" && tar --sort=name --mtime="@$epoch" --owner=0 --group=0 \
    --numeric-owner --format=gnu -cf "$tar" .)
touch -d "@$epoch" "$tar"
if [ "${1:-}" = "--tar-only" ]; then
    mkdir -p "$2" && cp -p "$tar" "$2/ai-rootfs.tar" && echo "ai $2/ai-rootfs.tar"
    exit 0
fi
# shellcheck disable=SC2086  # BAY0_PODMAN is split on spaces on purpose
id=$($podman import -q --change 'CMD ["/ai-server", "/run/bay0-ai/ai.sock"]' \
     "$tar" localhost/bay0-ai:latest)
echo "ai $id"
