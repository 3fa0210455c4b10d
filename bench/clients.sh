#!/bin/sh
# bench/clients.sh — the client binaries side by side in one run (issue 18):
# the static musl bay0 (`make static`), the dynamic glibc bay0 (`make`) and
# the static glibc bay0 that `make static` made before (linked here from the
# same objects with Debian's libsqlite3.a). Prints a Markdown table.
#
#   bench/clients.sh [ROUNDS]        (default 7; needs make and make static)
#
# Each figure: benchtool cmdloop (fork+exec+wait from a small C program, no
# shell) of 50 iterations, median per round; ROUNDS rounds with the cases
# interleaved, the median of the round medians quoted, ms. The floor is the
# issue's: two runs of /bin/true. One supervisor (the dynamic build: the
# supervisor is not what is compared) with one service, the static svc.c.
#
# Must never: kill a process it did not start (it stops its supervisor with
# `bay0 shutdown`), or leave its temp directory behind.
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-7}
[ -x build/bay0 ] && [ -x build/bay0-static ] ||
    { echo "clients: run 'make && make static' first" >&2; exit 2; }
tmp=$(mktemp -d /tmp/bay0-clients.XXXXXX)
sup=""
cleanup() {
    [ -n "$sup" ] && build/bay0 shutdown --rundir "$tmp/run" >/dev/null 2>&1 || true
    [ -n "$sup" ] && wait "$sup" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

CFLAGS="-std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -O2"
gcc $CFLAGS -static -o "$tmp/svc" bench/svc.c
gcc $CFLAGS -o "$tmp/benchtool" bench/benchtool.c
cp build/bay0-static "$tmp/bay0-musl"
cp build/bay0 "$tmp/bay0-glibc"
ldlibs=$(sed -n 's/^LDLIBS *+= *//p' Makefile)
# shellcheck disable=SC2086
gcc -static -o "$tmp/bay0-glibc-static" build/src/*.o build/src/state/*.o \
    $ldlibs -ldl 2>"$tmp/link.err" ||
    { cat "$tmp/link.err" >&2; echo "clients: linking the glibc static bay0 failed" >&2; exit 1; }
for b in musl glibc glibc-static; do
    cp "$tmp/bay0-$b" "$tmp/bay0-$b.stripped" && strip "$tmp/bay0-$b.stripped"
done

mkdir -p "$tmp/sv/one" "$tmp/run"
ln -s "$tmp/svc" "$tmp/sv/one/run"
: >"$tmp/stamps"
ln -s "$tmp/stamps" "$tmp/sv/one/stamps"
build/bay0 supervise --scandir "$tmp/sv" --rundir "$tmp/run" >"$tmp/sup.log" 2>&1 &
sup=$!
i=0
until build/bay0 status --rundir "$tmp/run" one 2>/dev/null | grep -q ' up '; do
    i=$((i + 1))
    [ "$i" -lt 500 ] || { echo "clients: the supervisor did not bring 'one' up" >&2; exit 1; }
    sleep 0.01
done

# case NAME STEP... : one step per line into a step file
mkcase() {
    name=$1
    shift
    : >"$tmp/case.$name"
    for s in "$@"; do echo "$s" >>"$tmp/case.$name"; done
    echo "$name" >>"$tmp/cases"
}
: >"$tmp/cases"
r=$tmp/run
mkcase floor "run /bin/true" "run /bin/true"
for b in musl glibc-static glibc; do
    B=$tmp/bay0-$b
    mkcase "version-$b" "run $B version" "run $B version"
    mkcase "status-$b" "run $B status --rundir $r one"
    mkcase "rt-$b" "run $B stop --rundir $r one" "run $B start --rundir $r one"
done
n=0
while [ "$n" -lt "$rounds" ]; do
    while read -r c; do
        "$tmp/benchtool" cmdloop 50 20 "$tmp/case.$c" |
            sort -n | awk -v c="$c" '{v[NR]=$1} END {print c, v[int((NR+1)/2)]}' >>"$tmp/res"
    done <"$tmp/cases"
    n=$((n + 1))
done
# median of the round medians, ms
med() {
    awk -v c="$1" '$1 == c {print $2}' "$tmp/res" | sort -n |
        awk '{v[NR]=$1} END {printf "%.3f", v[int((NR+1)/2)] / 1e6}'
}
floor=$(med floor)
size() { stat -c %s "$1" | awk '{printf "%.2f", $1 / 1048576}'; }
echo "| bay0 client build | size MiB (stripped) | two \`version\` ms | one \`status NAME\` ms | stop+start ms | stop+start / floor |"
echo "|---|---|---|---|---|---|"
for b in musl glibc-static glibc; do
    rt=$(med "rt-$b")
    case $b in
    musl) label="musl, static (make static)" ;;
    glibc-static) label="glibc, static (make static before)" ;;
    *) label="glibc, dynamic (make)" ;;
    esac
    printf '| %s | %s (%s) | %s | %s | %s | %.2fx |\n' "$label" \
        "$(size "$tmp/bay0-$b")" "$(size "$tmp/bay0-$b.stripped")" \
        "$(med "version-$b")" "$(med "status-$b")" "$rt" \
        "$(echo "$rt $floor" | awk '{print $1 / $2}')"
done
echo
echo "floor (two /bin/true): $floor ms; $rounds rounds of 50, medians; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
