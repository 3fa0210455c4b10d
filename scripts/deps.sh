#!/bin/sh
# Installs what building and testing bay0 needs, from Debian's packages.
# Safe to run again; does nothing when everything is there.
set -eu
pkgs="build-essential libsqlite3-dev libcmocka-dev python3 python3-pytest
      busybox-static util-linux procps psmisc iproute2 s6 clang
      libclang-rt-14-dev man-db groff-base qemu-system-x86 e2fsprogs cpio
      gzip libjansson-dev musl-tools musl-dev tcl cmake nix-bin zstd weston chromium zsh runit strace"
[ -n "${BAY0_EXTRA_PKGS:-}" ] && pkgs="$pkgs $BAY0_EXTRA_PKGS"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing:$missing" >&2
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
# podman for the persona tests (packages, hybrid-cgroup mount, containers.conf)
"$(dirname "$0")/podman-setup.sh"
echo "deps: ok" >&2
