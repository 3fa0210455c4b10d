#!/bin/sh
# update-sums.sh — write bay0's version and the checksums of the `make dist`
# tarball into the Alpine APKBUILD (pkgver, sha512sums) and the Nix
# derivation (version, sha256).
#
#   scripts/packaging/update-sums.sh [TARBALL [DIR]]
#
# TARBALL defaults to a fresh `make dist` (build/bay0-VERSION.tar.gz); DIR
# (default: this script's directory) holds alpine/APKBUILD and
# nix/default.nix. The tarball leaves scripts/packaging/ out, so committing
# what this writes does not change the tarball it describes.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
die() { echo "update-sums: error: $*" >&2; exit 1; }

version=$(sed -n 's/^#define BAY0_VERSION "\(.*\)"/\1/p' "$root/src/util.h")
[ -n "$version" ] || die "no BAY0_VERSION in $root/src/util.h"
tarball=${1:-}
if [ -z "$tarball" ]; then
    make -s -C "$root" dist >/dev/null || die "make dist failed"
    tarball=$root/build/bay0-$version.tar.gz
fi
dir=${2:-$here}
[ -f "$tarball" ] || die "no tarball $tarball"
name=$(basename "$tarball")
[ "$name" = "bay0-$version.tar.gz" ] ||
    die "$name is not bay0-$version.tar.gz (the version in src/util.h)"
apk=$dir/alpine/APKBUILD nix=$dir/nix/default.nix
[ -f "$apk" ] && [ -f "$nix" ] || die "$dir has no alpine/APKBUILD or nix/default.nix"

sha512=$(sha512sum "$tarball" | cut -d' ' -f1)
sha256=$(sha256sum "$tarball" | cut -d' ' -f1)

# APKBUILD: pkgver=, and the one line of sha512sums (ends the file).
sed -i -e "s/^pkgver=.*/pkgver=$version/" \
    -e "s/^[0-9a-f]\{128\}  .*\.tar\.gz\$/$sha512  bay0-$version.tar.gz/" "$apk"
grep -q "^$sha512  bay0-$version.tar.gz\$" "$apk" || die "no sha512sums line in $apk"
# default.nix: version = "..."; and the source's sha256 = "...";
sed -i -e "s/^\(  version = \)\"[^\"]*\";/\1\"$version\";/" \
    -e "s/^\(    sha256 = \)\"[0-9a-f]\{64\}\";/\1\"$sha256\";/" "$nix"
grep -q "sha256 = \"$sha256\";" "$nix" || die "no sha256 line in $nix"
echo "update-sums: $name sha256=$sha256 -> $apk, $nix" >&2
