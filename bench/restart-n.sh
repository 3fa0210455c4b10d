#!/bin/sh
# bench/restart-n.sh — restart latency of two bay0 builds at N=10 and
# N=10,000 supervised services, interleaved in one run (issue 15), with the
# restart floor measured alongside by bench.py. Also times `status` of all
# 10,000 and the orderly shutdown of that instance (bench.py logs it).
#
#   bench/restart-n.sh BEFORE_BIN AFTER_BIN [ROUNDS] [KILLS]
#   bench/restart-n.sh BEFORE_BIN AFTER_BIN report   # the table of the last run
#
# Each round runs, for each N, the before and the after build one after the
# other (`bench.py --only restart --sups bay0 --restart-n N`); the summary
# is the median of the per-run medians. Writes bench/raw/restart-n/*.json
# (git-ignored) and prints one table. Never niced: run it when the load
# average is low and quote the load it prints.
set -eu
cd "$(dirname "$0")/.."
before=$(realpath "$1"); after=$(realpath "$2"); rounds=${3:-3}; kills=${4:-30}
out=bench/raw/restart-n
BIN=bench/raw/bin
mkdir -p "$out" "$BIN"
CFLAGS="-std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -O2"
gcc $CFLAGS -static -o "$BIN/svc" bench/svc.c
gcc $CFLAGS -o "$BIN/benchtool" bench/benchtool.c
[ "$rounds" = report ] || rm -f "$out"/*.json
echo "load before: $(cat /proc/loadavg)"
r=1
while [ "$rounds" != report ] && [ "$r" -le "$rounds" ]; do
    for n in 10 10000; do
        for which in before after; do
            eval bin=\$$which
            timeout -k 10 900 /usr/bin/python3 bench/bench.py --bin "$BIN" --bay0 "$bin" \
                --only restart --sups bay0 --restart-n "$n" --restarts "$kills" \
                --work /tmp/b0b-restart-n --out "$out/$which-$n-$r.md" \
                --raw "$out/$which-$n-$r.json" >"$out/$which-$n-$r.log" 2>&1 || true
        done
    done
    r=$((r + 1))
done
echo "load after: $(cat /proc/loadavg)"
/usr/bin/python3 - "$out" <<'PY'
import glob, json, os, re, statistics, sys
d = sys.argv[1]
rows = {}
for p in sorted(glob.glob(os.path.join(d, "*.json"))):
    which, n, _ = os.path.basename(p)[:-5].split("-")
    r = json.load(open(p)).get("restart", {})
    b = r.get("bay0", {})
    row = rows.setdefault((which, int(n)), {"restart": [], "floor": [], "status": [], "shutdown": []})
    if "median_ms" in b.get("restart", {}):
        row["restart"].append(b["restart"]["median_ms"])
    if "median_ms" in r.get("floor", {}):
        row["floor"].append(r["floor"]["median_ms"])
    st = b.get("status") or {}
    plain = st.get("plain")
    if isinstance(plain, dict):
        plain = plain.get("median_s")
    if plain is not None:
        row["status"].append(plain * 1000)
    log = open(p[:-5] + ".log").read()
    row["shutdown"].append("timeout" if "did not finish" in log else "ok")
med = lambda v: statistics.median(v) if v else float("nan")
print("| build | N | restart median ms (runs) | floor ms | status of N ms | shutdown |")
print("|---|---|---|---|---|---|")
for (which, n), row in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0] != "before")):
    print(f"| {which} | {n} | {med(row['restart']):.3f} ({', '.join(f'{x:.2f}' for x in row['restart'])}) "
          f"| {med(row['floor']):.3f} | {med(row['status']):.1f} | {', '.join(row['shutdown'])} |")
for which in ("before", "after"):
    a, b = rows.get((which, 10)), rows.get((which, 10000))
    if a and b and a["restart"] and b["restart"]:
        print(f"{which}: restart at 10,000 / at 10 = {med(b['restart']) / med(a['restart']):.2f}x")
PY
