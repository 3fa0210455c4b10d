#!/bin/sh
# personas/build.sh — build the sample persona images locally from Debian's
# busybox-static (no registry: `podman import` of a rootfs tarball).
#
#   personas/build.sh [--tar-only DIR] [NAME...]     (default: every persona)
#
# Each persona is a directory personas/NAME with a `changes` file (podman
# import --change lines, # comments). The rootfs is the same for all:
# /bin/busybox and its applet links, /etc/passwd, /etc/group, empty /tmp
# /root /proc /sys /dev. The tarball is byte-reproducible (sorted, owner 0,
# mtime SOURCE_DATE_EPOCH, default 0) and its own mtime is set too, so every
# import gives the same image ID.
#
# Images are tagged localhost/bay0-NAME:latest in the podman store named by
# BAY0_PODMAN (default "podman", split on spaces: tests pass their private
# --root/--runroot/--tmpdir). --tar-only DIR writes DIR/rootfs.tar and
# DIR/NAME.changes without podman (the Spine image build imports them).
# Prints one line per image: NAME IMAGE-ID.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
epoch=${SOURCE_DATE_EPOCH:-0}
podman=${BAY0_PODMAN:-podman}
tar_only=""
if [ "${1:-}" = "--tar-only" ]; then
    [ $# -ge 2 ] || { echo "personas/build.sh: --tar-only needs a directory" >&2; exit 2; }
    tar_only=$2; shift 2
fi
if [ $# -eq 0 ]; then
    set -- $(cd "$here" && for d in */; do [ -f "$d/changes" ] && echo "${d%/}"; done)
fi
bb=$(command -v busybox || true)
[ -n "$bb" ] && file -L "$bb" 2>/dev/null | grep -q 'statically linked' || bb=/bin/busybox
if ! [ -x "$bb" ]; then
    echo "personas/build.sh: busybox not found: apt-get install busybox-static" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bay0-personas.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
root="$work/rootfs"
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/proc" \
         "$root/sys" "$root/dev" "$root/run"
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
for app in $("$bb" --list); do
    [ "$app" = busybox ] || ln -s busybox "$root/bin/$app"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
tar="$work/rootfs.tar"
(cd "$root" && tar --sort=name --mtime="@$epoch" --owner=0 --group=0 \
    --numeric-owner --format=gnu -cf "$tar" .)
touch -d "@$epoch" "$tar"

for name in "$@"; do
    changes="$here/$name/changes"
    if ! [ -f "$changes" ]; then
        echo "personas/build.sh: no such persona: $name (no $changes)" >&2
        exit 2
    fi
    if [ -n "$tar_only" ]; then
        mkdir -p "$tar_only"
        cp -p "$tar" "$tar_only/rootfs.tar"
        grep -v '^#' "$changes" | grep -v '^[[:space:]]*$' >"$tar_only/$name.changes"
        echo "$name $tar_only/rootfs.tar"
        continue
    fi
    set --  # rebuild the import command line for this persona
    while IFS= read -r line; do
        case "$line" in '#'*|'') continue ;; esac
        set -- "$@" --change "$line"
    done <"$changes"
    # shellcheck disable=SC2086  # BAY0_PODMAN is split on spaces on purpose
    id=$($podman import -q "$@" "$tar" "localhost/bay0-$name:latest")
    echo "$name $id"
done
