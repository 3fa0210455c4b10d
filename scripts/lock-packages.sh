#!/bin/sh
# lock-packages.sh — regenerate image/packages.lock: every Debian package
# the Spine image and its builder are made of, pinned by exact version and
# sha256. apt resolves the dependencies here, once; at build time nothing is
# resolved again (fetch-inputs.sh downloads exactly what the lock names and
# checks each file's sha256).
#
#   scripts/lock-packages.sh            rewrite image/packages.lock
#   scripts/lock-packages.sh --check    exit 1 if the lock would change
#
# Sets (the first column of the lock):
#   kernel   the kernel package (vmlinuz + modules)
#   spine    the image's rootfs: podman and its helpers, weston's headless
#            path, busybox-static, kmod, their shared libraries
#   builder  the hermetic builder image (scripts/mkbuilder.sh)
#
# Trimming: the packages in TRIM_* are never unpacked although something
# depends on them (perl, gnupg, CNI plugins, iptables, debconf, the codecs,
# RDP, PipeWire, GStreamer and X11 libraries that only weston plugins the
# headless path never loads link to); apt is told they are installed, so
# it does not pull them or their dependencies. mkspine's ELF check fails
# the build if anything left in the image needs a library that is missing.
#
# Commit a regenerated lock with a message that says why (a security update,
# a new package); the digest of the builder image changes with it
# (scripts/mkbuilder.sh prints the new one for mkspine.sh).
set -eu
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
lock=$root/image/packages.lock

KERNEL="linux-image-6.1.0-56-amd64"
SPINE="podman crun conmon fuse-overlayfs fuse3 slirp4netns weston xkb-data
       busybox-static kmod usr-is-merged"
BUILDER="busybox-static dash coreutils dpkg tar gzip zstd xz-utils python3
         binutils kmod findutils sed grep diffutils usr-is-merged"
# Never unpacked (see above). Virtual names go in TRIM_VIRTUAL.
TRIM_COMMON="perl-base perl perl-modules-5.36 libperl5.36 usrmerge debconf
             adduser passwd init-system-helpers sysvinit-utils lsb-base
             libpam-modules libpam-modules-bin mount
             libfile-find-rule-perl libnumber-compare-perl libtext-glob-perl
             libgdbm-compat4 libgdbm6 libdb5.3"
TRIM_SPINE="gnupg gpg gpgconf gpg-agent gpgsm dirmngr gnupg-l10n gnupg-utils
            gpg-wks-client gpg-wks-server pinentry-curses gpgv
            iptables containernetworking-plugins dmsetup
            libfreerdp2-2 libwinpr2-2 libavcodec59 libavutil57 libswscale6
            libswresample4 libgstreamer1.0-0 libgstreamer-plugins-base1.0-0
            libpipewire-0.3-0 libspa-0.2-modules libva2 libva-drm2 libva-x11-2
            libx11-6 libx11-xcb1 libxcb1 libxcb-composite0 libxcb-render0
            libxcb-shm0 libxcb-xfixes0 libxcb-xkb1 libxcursor1
            libcairo2 libpango-1.0-0 libpangocairo-1.0-0 libcolord2
            libjpeg62-turbo libwebp7 libpng16-16 liblcms2-2 libdbus-1-3
            libegl1 libgles2 libgbm1 fontconfig dpkg tar"
TRIM_VIRTUAL="container-network-stack"

# resolve SET "ROOTS" "TRIM": prints "SET NAME VERSION" lines.
resolve() {
    set_=$1 roots=$2 trim=$3
    tmp=$(mktemp -d)
    # A dpkg status in which the trimmed packages look installed (at the
    # version apt offers), plus one package that provides the virtual ones.
    : >"$tmp/status"
    for p in $trim; do
        v=$(apt-cache policy "$p" | sed -n 's/^  Candidate: //p')
        [ -n "$v" ] && [ "$v" != "(none)" ] || { echo "lock: trimmed package $p is not offered" >&2; exit 1; }
        printf 'Package: %s\nStatus: install ok installed\nVersion: %s\nArchitecture: amd64\nMaintainer: bay0\nDescription: trimmed\n\n' "$p" "$v" >>"$tmp/status"
    done
    printf 'Package: bay0-trimmed\nStatus: install ok installed\nVersion: 1\nArchitecture: all\nProvides: %s\nMaintainer: bay0\nDescription: trimmed\n\n' \
        "$(echo $TRIM_VIRTUAL | sed 's/ /, /g')" >>"$tmp/status"
    apt-get -s -qq -o Dir::State::status="$tmp/status" \
        -o APT::Install-Recommends=false -o APT::Install-Suggests=false \
        install $roots >"$tmp/sim" 2>"$tmp/err" || {
        echo "lock: apt could not resolve set $set_:" >&2; cat "$tmp/err" "$tmp/sim" >&2; exit 1; }
    sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1 \2/p' "$tmp/sim" | sort |
        sed "s/^/$set_ /"
    rm -rf "$tmp"
}

# SET NAME VERSION -> SET NAME VERSION ARCH SHA256, from the package lists (no
# download; one apt-cache call for all).
with_sha() {
    tmp=$(mktemp)
    cat >"$tmp"
    awk '{print $2 "=" $3}' "$tmp" | sort -u | xargs apt-cache show 2>/dev/null |
        awk '/^Package: /{p=$2} /^Version: /{v=$2} /^Architecture: /{a=$2}
             /^SHA256: /{print p, v, a, $2}' |
        sort -u -k1,2 >"$tmp.sha"
    awk 'NR == FNR {sha[$1 " " $2] = $3 " " $4; next}
         { k = $2 " " $3
           if (!(k in sha)) { print "lock: no SHA256 for " $2 "=" $3 > "/dev/stderr"; bad = 1 }
           print $0, sha[k] }
         END { exit bad }' "$tmp.sha" "$tmp"
    rm -f "$tmp" "$tmp.sha"
}

check=0
[ "${1:-}" = --check ] && check=1
new=$(mktemp)
{
    echo "# image/packages.lock — generated by scripts/lock-packages.sh; do not edit."
    echo "# SET NAME VERSION ARCH SHA256 (Debian bookworm). fetch-inputs.sh"
    echo "# downloads exactly these into the cache and checks every sha256."
    {
        kv=$(apt-cache policy "$KERNEL" | sed -n 's/^  Candidate: //p')
        echo "kernel $KERNEL $kv"
        resolve spine "$SPINE" "$TRIM_COMMON $TRIM_SPINE"
        resolve builder "$BUILDER" "$TRIM_COMMON"
    } | with_sha
} >"$new"
if [ "$check" = 1 ]; then
    if diff -u "$lock" "$new" >&2; then rm -f "$new"; echo "lock: up to date" >&2; exit 0; fi
    rm -f "$new"; echo "lock: $lock is out of date (scripts/lock-packages.sh)" >&2; exit 1
fi
mv "$new" "$lock"
chmod 0644 "$lock"
echo "lock: wrote $lock: $(grep -c '^spine ' "$lock") spine, $(grep -c '^builder ' "$lock") builder packages" >&2
