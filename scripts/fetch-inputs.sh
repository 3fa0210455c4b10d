#!/bin/sh
# fetch-inputs.sh — put every package of image/packages.lock (or of the
# sets asked for) into the cache, each checked against its pinned sha256.
#
#   scripts/fetch-inputs.sh [SET...]     sets: kernel spine builder
#                                        (default: all three)
#
# The cache is $BAY0_CACHE (default /var/cache/bay0, or ~/.cache/bay0 when
# that is not writable); the .debs go to CACHE/debs under apt's file names.
# A file already there with the right sha256 is not downloaded again; one
# with a wrong sha256 is replaced. Missing ones are fetched with one
# `apt-get download NAME=VERSION...` from the configured Debian mirrors.
# When the mirror no longer offers a locked version, the fetch stops and
# names the package and the command that regenerates the lock
# (scripts/lock-packages.sh); nothing is resolved here.
# Prints the cache directory on stdout. BAY0_LOCK reads another lock file
# (tests); BAY0_APT_UPDATE=0 never runs apt-get update.
set -eu
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/inputs-lib.sh"
lock=${BAY0_LOCK:-$root/image/packages.lock}
[ $# -gt 0 ] || set -- kernel spine builder
cache=$(inputs_cache)
debs=$cache/debs
mkdir -p "$debs"

want=$(mktemp)
trap 'rm -f "$want" "$want.missing" "$want.err"' EXIT
inputs_list "$lock" "$@" >"$want"
[ -s "$want" ] || { echo "fetch-inputs: no packages for sets: $*" >&2; exit 1; }

# Which ones are missing or wrong?
: >"$want.missing"
while read -r name version sha file; do
    if [ -f "$debs/$file" ] && [ "$(sha256sum <"$debs/$file" | cut -d' ' -f1)" = "$sha" ]; then
        continue
    fi
    rm -f "$debs/$file"
    echo "$name=$version" >>"$want.missing"
done <"$want"

n_missing=$(wc -l <"$want.missing")
if [ "$n_missing" -gt 0 ]; then
    echo "fetch-inputs: downloading $n_missing of $(wc -l <"$want") packages into $debs" >&2
    tmp=$(mktemp -d "$debs/.dl.XXXXXX")
    chmod 0777 "$tmp" # apt's download sandbox user writes here
    get() { (cd "$tmp" && xargs apt-get download -qq <"$want.missing" >/dev/null 2>"$want.err"); }
    if ! get; then
        # A fresh machine may have no package lists yet: update once, retry
        # (BAY0_APT_UPDATE=0: do not).
        if [ "${BAY0_APT_UPDATE:-1}" != 0 ]; then
            echo "fetch-inputs: apt-get download failed; running apt-get update and retrying" >&2
            apt-get update -qq >&2 || true
        fi
        if [ "${BAY0_APT_UPDATE:-1}" = 0 ] || ! get; then
            grep -E "^E: " "$want.err" >&2 || cat "$want.err" >&2
            # apt says: E: Version 'V' for 'P' was not found
            sed -n "s/^E: Version '\(.*\)' for '\(.*\)' was not found.*/\2 \1/p" "$want.err" |
                while read -r p v; do
                    echo "fetch-inputs: error: $p version $v (locked in image/packages.lock) is not offered by the configured mirrors and is not in $debs: regenerate the lock with scripts/lock-packages.sh, check the changes, and commit it" >&2
                done
            rm -rf "$tmp"
            exit 1
        fi
    fi
    mv "$tmp"/*.deb "$debs"/ 2>/dev/null || true
    rm -rf "$tmp"
fi

# Check every file, downloaded now or before.
bad=0
while read -r name version sha file; do
    if [ ! -f "$debs/$file" ]; then
        echo "fetch-inputs: error: $name=$version: $debs/$file missing after download" >&2
        bad=1
        continue
    fi
    got=$(sha256sum <"$debs/$file" | cut -d' ' -f1)
    if [ "$got" != "$sha" ]; then
        echo "fetch-inputs: error: $name=$version: sha256 $got, the lock pins $sha (file removed; a mirror that serves other bytes for a locked version is not trusted)" >&2
        rm -f "$debs/$file"
        bad=1
    fi
done <"$want"
[ "$bad" = 0 ] || exit 1
echo "fetch-inputs: $(wc -l <"$want") packages ok ($*)" >&2
echo "$cache"
