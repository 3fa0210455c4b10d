#!/bin/sh
# bench/run.sh — benchmarks of bay0 against s6, runit, daemontools and
# supervisord (issue 7). Installs the Debian packages it needs, compiles the
# service program and the measuring helpers into bench/raw/bin, runs every
# row in one run and writes bench/RESULTS.md (+ bench/scaling.svg) and the
# raw numbers in bench/raw/results.json.
#
#   bench/run.sh [--quick] [bench.py options...]
#     --quick   idle window 10 s, 20 restarts, 1 rep, N up to 1000 (~5 min)
#   The default run takes about 15-20 minutes on 2 cores.
#
# Must never: kill a process it did not start (bench.py kills only the trees
# of its own children, by pid); run longer than BENCH_TIMEOUT_S.
set -eu
cd "$(dirname "$0")/.."
BENCH_TIMEOUT_S=${BENCH_TIMEOUT_S:-3600}
PKGS="s6 runit daemontools supervisor gnuplot-nox"

missing=""
for p in $PKGS; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "bench: installing$missing" >&2
    # The packages' maintainer scripts must not start system-wide daemons.
    export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1
    apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 ||
        { apt-get update >/dev/null && apt-get install -y --no-install-recommends $missing >/dev/null; }
fi

BIN=bench/raw/bin
mkdir -p "$BIN"
CFLAGS="-std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -O2"
gcc $CFLAGS -static -o "$BIN/svc" bench/svc.c
gcc $CFLAGS -o "$BIN/benchtool" bench/benchtool.c

# A snapshot of the binaries: the whole run measures one build, even if
# build/ is rebuilt meanwhile.
BAY0_ARGS=""
if [ -x build/bay0 ]; then
    cp build/bay0 "$BIN/bay0.new" && mv -f "$BIN/bay0.new" "$BIN/bay0"
    BAY0_ARGS="--bay0 $BIN/bay0"
    if [ -x build/bay0-static ]; then
        cp build/bay0-static "$BIN/bay0-static.new" && mv -f "$BIN/bay0-static.new" "$BIN/bay0-static"
        BAY0_ARGS="$BAY0_ARGS --bay0-static $BIN/bay0-static"
    fi
else
    echo "bench: build/bay0 missing: measuring the anchors only (run 'make bench')" >&2
fi

EXTRA=""
if [ "${1:-}" = "--quick" ]; then
    shift
    EXTRA="--idle 10 --restarts 20 --reps 1 --log-reps 1 --max-n 1000"
fi
# shellcheck disable=SC2086
exec timeout -k 10 "$BENCH_TIMEOUT_S" /usr/bin/python3 bench/bench.py --bin "$BIN" $BAY0_ARGS \
    --out bench/RESULTS.md --raw bench/raw/results.json $EXTRA "$@"
