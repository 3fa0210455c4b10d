#!/usr/bin/env python3
"""compare.py — two builds of bay0, measured by bench.py in the same hour
(`--sups bay0`, one raw JSON each), row by row: before, after, after /
before, and whether the row got worse by more than the tolerance (5%,
issue 15). Every row is lower-is-better except the logger's lines/s.

    bench/compare.py BEFORE.json AFTER.json [--tolerance 0.05] [--out FILE.md]

BEFORE and AFTER may each be several runs, comma-separated (run them
interleaved: before, after, before, after, ...): each row is then the
median of that build's runs, and the table says how many runs it took.

Exit 1 when a row got worse beyond the tolerance, 0 otherwise. A row
missing from either run is listed as such and is not judged.
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

# Below these, a difference is the clock's grain, not the build's.
FLOOR = {"wake-ups/s": 0.05, "CPU ms": 1.0}


def rows(R):
    """(label, value, higher_is_better) for every bay0 number in a run."""
    x = report.Rows(R)
    out = [(label, fn("bay0"), False) for label, fn, _floor, _why in report.main_table(x, ["bay0"])]
    for n in sorted({int(n) for n in x.sc.get("bay0", {})}):
        b, f = x.bringup("bay0", n), x.floor_bringup(n)
        out.append((f"bring-up N={n:,} (s, median)", b, False))
        out.append((f"bring-up N={n:,} / its fork+exec floor (same run)",
                    b / f if b and f else None, False))
    crash = R.get("crash", {}).get("bay0", {})
    out.append(("crash loop 10 s: supervisor CPU ms", crash.get("supervisor_cpu_ms"), False))
    for name, v in R.get("logger", {}).items():
        if name.startswith("bay0"):
            lps = None if report.logger_incomplete(v) else v.get("median_lines_per_s")
            out.append((f"logger `{name}` (lines/s)", lps, True))
    return out


def judge(label, before, after, higher, tol):
    if before is None or after is None:
        return None, "not in both runs"
    grain = next((g for k, g in FLOOR.items() if k in label), 0.0)
    if abs(after - before) <= grain:
        return 1.0 if before == 0 else after / before, "same"
    if before == 0:
        return None, "was 0"
    r = after / before
    worse = r < 1 - tol if higher else r > 1 + tol
    better = r > 1 + tol if higher else r < 1 - tol
    return r, "**worse**" if worse else "better" if better else "same"


def median_rows(paths):
    """rows() of each run in the comma-separated list, each value the
    median over the runs that have it; also the number of runs."""
    runs = []
    for path in paths.split(","):
        with open(path) as f:
            runs.append(rows(json.load(f)))
    out = []
    for label, _v, higher in runs[0]:
        vals = [v for run in runs for lab, v, _h in run if lab == label and v is not None]
        out.append((label, statistics.median(vals) if vals else None, higher))
    return out, len(runs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--out")
    a = ap.parse_args()
    before_rows, nb = median_rows(a.before)
    after_rows, na = median_rows(a.after)
    after = {label: v for label, v, _ in after_rows}
    lines = [f"Medians of {nb} run(s) before and {na} after.", "",
             "| row | before | after | after / before | verdict |", "|---|---|---|---|---|"]
    worse = 0
    for label, b, higher in before_rows:
        r, verdict = judge(label, b, after.get(label), higher, a.tolerance)
        worse += verdict == "**worse**"
        lines.append(f"| {label} | {report.fmt(b)} | {report.fmt(after.get(label))} | "
                     f"{'—' if r is None else f'{r:.2f}x'} | {verdict} |")
    lines.append("")
    lines.append(f"{worse} row(s) worse by more than {a.tolerance:.0%}.")
    text = "\n".join(lines) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    sys.stdout.write(text)
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
