#!/bin/sh
# mkpersist.sh — make the persist disk: an ext4 image labelled "persist"
# (bay0 finds it by that label, falling back to bay0.persist=/dev/vda).
#
#   scripts/mkpersist.sh [SIZE] [PATH]   SIZE default 64M (the seed's
#                                        production size: 10G), PATH
#                                        default ./persist.img
#
# The image is sparse, so 10G costs little disk until written. An existing
# PATH is replaced.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-64M}
path=${2:-$root/persist.img}
command -v mkfs.ext4 >/dev/null || { echo "mkpersist: mkfs.ext4 missing (e2fsprogs)" >&2; exit 1; }
rm -f "$path"
truncate -s "$size" "$path"
mkfs.ext4 -q -F -L persist -E root_owner=0:0 "$path"
echo "mkpersist: $path: ext4, label persist, $size" >&2
