"""report.py — turns the raw numbers of bench.py into bench/RESULTS.md and
bench/scaling.svg (gnuplot). Pure formatting: never measures, never starts
anything but gnuplot.
"""
import os
import statistics
import subprocess

SUPS = ["bay0", "s6", "runit", "daemontools", "supervisord"]
ANCHORS = SUPS[1:]


def fmt(v, unit="", nd=None):
    if v is None:
        return "—"
    if nd is None:
        nd = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2 if abs(v) >= 1 else 3
    return f"{v:,.{nd}f}{unit}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    if r is None:
        return "—"
    return f"{r:.2f}×" if 0.1 <= r < 100 else f"{r:.2g}×" if r < 0.1 else f"{r:,.0f}×"


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def complete(runs, key):
    """The values of key when every run has one and none reports an error;
    None otherwise (a median of the runs that happened to work would be a
    number nobody measured)."""
    if not runs or any(r.get("error") or r.get(key) is None for r in runs):
        return None
    return [r[key] for r in runs]


def runs_why(runs, key, what="repetitions"):
    """Why complete(runs, key) is None: '' when it is not."""
    if not runs:
        return ""
    bad = [r for r in runs if r.get("error") or r.get(key) is None]
    if not bad:
        return ""
    return f"{len(bad)} of {len(runs)} {what} failed: {bad[0].get('error') or 'no value'}"


def entry_why(e):
    """Why a measurement entry (restart, control, status) gives no number:
    '' when complete."""
    if e is None:
        return ""
    if e.get("error"):
        return str(e["error"])
    if e.get("rc"):
        return f"rc={e['rc']}"
    return ""


class Rows:
    """Extracts one number per (row, supervisor) from the raw results: None
    when the measurement is missing or incomplete (then *_why says why)."""

    def __init__(self, R):
        self.R = R
        self.sc = R.get("scaling", {})

    def runs(self, sup, n):
        return self.sc.get(sup, {}).get(str(n), [])

    def mem(self, sup, n):
        return med(complete(self.runs(sup, n), "pss_per_svc_kib") or [])

    def bringup(self, sup, n):
        return med(complete(self.runs(sup, n), "bringup_s") or [])

    def bringup_why(self, sup, n):
        return runs_why(self.runs(sup, n), "bringup_s")

    def floor_runs(self, n):
        return self.R.get("floor_bringup", {}).get(str(n), [])

    def floor_bringup(self, n):
        return med(complete(self.floor_runs(n), "bringup_s") or [])

    def floor_bringup_why(self, n):
        return runs_why(self.floor_runs(n), "bringup_s") or ("" if self.floor_runs(n) else "no floor run")

    def main_run(self, sup):
        runs = self.runs(sup, 1000)
        return runs[0] if runs else {}

    def status_entry(self, sup, kind="plain"):
        return self.main_run(sup).get("status", {}).get(kind)

    def status_ms(self, sup, kind="plain"):
        e = self.status_entry(sup, kind)
        v = None if e is None or entry_why(e) else e.get("median_s")
        return None if v is None else v * 1000

    def idle(self, sup):
        return self.main_run(sup).get("idle")

    def wakeups(self, sup):
        i = self.idle(sup)
        return None if not i else i["vcsw"] / i["seconds"]

    def idle_cpu_ms(self, sup):
        i = self.idle(sup)
        return None if not i else i["cpu_ns"] / 1e6

    def restart_entry(self, key):
        if key == "floor":
            return self.R.get("restart", {}).get("floor")
        run = self.R.get("restart", {}).get(key)
        if run is None:
            return None
        # the instance itself may have failed before any restart
        return run.get("restart") or {"error": run.get("error", "no restart row")}

    def restart(self, key, what="median_ms"):
        e = self.restart_entry(key)
        return None if e is None or entry_why(e) else e.get(what)

    def restart_why(self, key):
        return entry_why(self.restart_entry(key))

    def floor_restart(self, what="median_ms"):
        return self.restart("floor", what)

    def control_socket_ms(self):
        v = self.R.get("restart", {}).get("bay0", {}).get("control_socket", {}).get("median_s")
        return None if v is None else v * 1000

    def exec_floor_ms(self, key):
        return self.R.get("restart", {}).get("exec_floor", {}).get(key)

    def control_entry(self, key):
        run = self.R.get("restart", {}).get(key)
        if run is None:
            return None
        return run.get("control") or {"error": run.get("error", "no control row")}

    def control_ms(self, key):
        e = self.control_entry(key)
        v = None if e is None or entry_why(e) else e.get("median_s")
        return None if v is None else v * 1000

    def control_why(self, key):
        return entry_why(self.control_entry(key))


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def main_table(x, sups):
    """(label, fn(sup) -> value, floor value or None, why(sup) -> '' or why
    fn gave no number although the row was run)."""
    none = lambda s: ""  # noqa: E731
    rw = lambda key: x.restart_why(key)  # noqa: E731
    return [
        ("memory per service, N=100 (KiB PSS)", lambda s: x.mem(s, 100), None,
         lambda s: x.bringup_why(s, 100)),
        ("memory per service, N=1000 (KiB PSS)", lambda s: x.mem(s, 1000), None,
         lambda s: x.bringup_why(s, 1000)),
        ("bring-up N=1000 (s, median)", lambda s: x.bringup(s, 1000), x.floor_bringup(1000),
         lambda s: x.bringup_why(s, 1000)),
        ("restart after SIGKILL, median (ms)", lambda s: x.restart(s), x.floor_restart(), rw),
        ("restart after SIGKILL, p99 (ms)", lambda s: x.restart(s, "p99_ms"),
         x.floor_restart("p99_ms"), rw),
        ("restart, with notification-fd, median (ms)",
         lambda s: x.restart(s + "+ready") if s in ("bay0", "s6") else None, x.floor_restart(),
         lambda s: rw(s + "+ready") if s in ("bay0", "s6") else ""),
        ("restart, with notification-fd, p99 (ms)",
         lambda s: x.restart(s + "+ready", "p99_ms") if s in ("bay0", "s6") else None,
         x.floor_restart("p99_ms"), lambda s: rw(s + "+ready") if s in ("bay0", "s6") else ""),
        ("control round trip stop+start (ms, median)", lambda s: x.control_ms(s),
         x.exec_floor_ms("true"), lambda s: x.control_why(s)),
        ("control round trip, bay0-static as client (ms)",
         lambda s: x.control_ms("bay0-static-client") if s == "bay0" else None, None,
         lambda s: x.control_why("bay0-static-client") if s == "bay0" else ""),
        ("control round trip on the socket, no client process (ms)",
         lambda s: x.control_socket_ms() if s == "bay0" else None, None, none),
        ("two client start-ups, `bay0 version` twice (ms)",
         lambda s: x.exec_floor_ms("bay0") if s == "bay0" else None, x.exec_floor_ms("true"), none),
        ("two client start-ups, `bay0-static version` twice (ms)",
         lambda s: x.exec_floor_ms("bay0-static") if s == "bay0" else None,
         x.exec_floor_ms("true"), none),
        ("status of N=1000, one query (ms, median)", lambda s: x.status_ms(s), None,
         lambda s: entry_why(x.status_entry(s))),
        ("status --json of N=1000 (ms, median)",
         lambda s: x.status_ms(s, "json") if s == "bay0" else None, None,
         lambda s: entry_why(x.status_entry(s, "json")) if s == "bay0" else ""),
        ("status of N=1000 on the socket, no client process (ms)",
         lambda s: x.status_ms(s, "socket") if s == "bay0" else None, None, none),
        ("idle N=1000: wake-ups/s (voluntary ctx switches)", lambda s: x.wakeups(s), None, none),
        ("idle N=1000: CPU ms in the window", lambda s: x.idle_cpu_ms(s), None, none),
    ]


def cell(v, why):
    """A number, or "not measured" (with a footnote number) when the row ran
    and gave none, or "—" when it was not run."""
    if v is not None:
        return fmt(v)
    return "**not measured**" if why else "—"


def section_main(x, sups, R):
    rows_def = main_table(x, sups)
    head = ["row"] + sups + ["floor"]
    rows, notes = [], []
    for label, fn, floor, why in rows_def:
        row = [label]
        for s in sups:
            w = why(s)
            row.append(cell(fn(s), w))
            if fn(s) is None and w:
                notes.append(f"- {label}, {s}: {w}")
        rows.append(row + [fmt(floor)])
    crash = R.get("crash", {})
    rows.append(["crash loop 10 s: starts / supervisor CPU ms"] +
                [f"{crash[s]['starts']} / {fmt(crash[s]['supervisor_cpu_ms'])}" if s in crash
                 and "starts" in crash[s] else "—" for s in sups] + ["—"])
    out = [table(head, rows), ""]
    if notes:
        out += ["Not measured (a timeout or an error: no number is better than a wrong one):", ""]
        out += notes + [""]
    if "bay0" in sups:
        rhead = ["row"] + [f"bay0/{s}" for s in sups if s != "bay0"] + ["bay0/floor"]
        rrows = []
        for label, fn, floor, _ in rows_def:
            b = fn("bay0")
            rrows.append([label] + [fmt_ratio(ratio(b, fn(s))) for s in sups if s != "bay0"]
                         + [fmt_ratio(ratio(b, floor))])
        out += ["Ratios (bay0 / other, same run; below 1 means bay0 is smaller/faster):", "",
                table(rhead, rrows), ""]
    return out


def section_samples(x, sups, R):
    """Per row and supervisor: samples asked for, measured, timeouts, errors."""
    rows = []
    for s in sups:
        for key in (s, s + "+ready"):
            e = x.restart_entry(key)
            if e is not None and key in R.get("restart", {}):
                rows.append([f"restart after SIGKILL{' (notification-fd)' if '+' in key else ''}", s,
                             e.get("requested", "?"), e.get("count", len(e.get("samples_ms", []))),
                             e.get("timeouts", 0) + e.get("missing", 0), e.get("errors", 0)])
        c = x.control_entry(s)
        if c is not None:
            rows.append(["control round trip", s, "≤ 20", c.get("count", len(c.get("samples_s", []))),
                         0, c.get("errors", 1 if c.get("rc") else 0)])
        for kind in ("plain", "json"):
            st = x.status_entry(s, kind)
            if st is not None:
                rows.append([f"status N=1000 ({kind})", s, 5, len(st.get("samples_s", [])), 0,
                             st.get("errors", 1 if st.get("rc") else 0)])
        runs = x.runs(s, 1000)
        if runs:
            bad = [r for r in runs if r.get("error") or r.get("bringup_s") is None]
            rows.append(["bring-up N=1000", s, len(runs), len(runs) - len(bad), len(bad), 0])
    fl = x.restart_entry("floor")
    if fl is not None:
        rows.append(["restart after SIGKILL", "floor", fl.get("requested", "?"),
                     fl.get("count", len(fl.get("samples_ms", []))),
                     fl.get("timeouts", 0) + fl.get("missing", 0), fl.get("errors", 0)])
    for name, v in R.get("logger", {}).items():
        rows.append([f"logger `{name}`", "—", v.get("requested", "?"),
                     len(v.get("samples_lines_per_s", [])), v.get("timeouts", 0),
                     v.get("errors", 1 if v.get("error") else 0)])
    if not rows:
        return []
    return ["## Samples, timeouts and errors", "",
            "A row with a timeout or an error gets no number above and no verdict below.", "",
            table(["row", "supervisor", "asked", "measured", "timeouts", "errors"], rows), ""]


NOT_MEASURED = "not measured"


def goals(x, R):
    """(row, goal, measured, verdict). A verdict ("met" / "**missed**") only
    on complete data; a row that ran and timed out or failed anywhere (its
    floor included) says "not measured" and why."""
    out = []

    def verdict(ok, by):
        return "met" if ok else f"**missed** ({by})"

    def not_measured(row, goal, why):
        out.append((row, goal, why, NOT_MEASURED))

    m = x.mem("bay0", 1000)
    if m is not None:
        out.append(("memory per service N=1000", "≤ 4 KiB", fmt(m, " KiB"),
                    verdict(m <= 4, f"{m / 4:.1f}× the goal")))
    elif x.runs("bay0", 1000):
        not_measured("memory per service N=1000", "≤ 4 KiB", x.bringup_why("bay0", 1000))
    b, f = x.bringup("bay0", 1000), x.floor_bringup(1000)
    if b is not None and f:
        reps = ", ".join(fmt(r.get("bringup_s")) for r in x.runs("bay0", 1000))
        freps = ", ".join(fmt(r.get("bringup_s")) for r in x.floor_runs(1000))
        out.append(("bring-up N=1000", "≤ 1.3× floor",
                    f"{fmt(b, ' s')} = {b / f:.2f}× floor {fmt(f, ' s')} (repetitions: bay0 {reps} s; "
                    f"floor {freps} s)",
                    verdict(b / f <= 1.3, f"{b / f / 1.3:.2f}× over")))
    elif x.runs("bay0", 1000) or x.floor_runs(1000):
        not_measured("bring-up N=1000", "≤ 1.3× floor",
                     "; ".join(w for w in (x.bringup_why("bay0", 1000) and
                                           "bay0: " + x.bringup_why("bay0", 1000),
                                           x.floor_bringup_why(1000) and
                                           "floor: " + x.floor_bringup_why(1000)) if w))
    for key, label in (("bay0", "restart after SIGKILL"), ("bay0+ready", "restart, notification-fd")):
        if key not in R.get("restart", {}):
            continue
        r, fl = x.restart(key), x.floor_restart()
        p99, flp = x.restart(key, "p99_ms"), x.floor_restart("p99_ms")
        if None in (r, fl, p99, flp) or not fl or not flp:
            why = [w for w in (x.restart_why(key) and "bay0: " + x.restart_why(key),
                               x.restart_why("floor") and "floor: " + x.restart_why("floor")) if w]
            not_measured(label, "≤ 1.2× floor", "; ".join(why) or "no floor")
            continue
        out.append((label + " (median; p99)", "≤ 1.2× floor",
                    f"{fmt(r, ' ms')} = {r / fl:.2f}× floor {fmt(fl, ' ms')}; p99 {fmt(p99, ' ms')} = "
                    f"{p99 / flp:.2f}× floor p99",
                    verdict(r / fl <= 1.2, f"{r / fl / 1.2:.2f}× over")))
    c = R.get("crash", {}).get("bay0")
    if c and "starts" in c:
        failed = "failed" in c["state"]
        fa = c.get("failed_after_s")
        ok = c["starts_last_half"] <= 2 and (failed or fa is not None)
        when = ("`failed` within 10 s" if failed else
                f"`failed` after {fa:.1f} s" if fa is not None else
                f"not `failed` after {70} s")
        out.append(("crash loop", "backs off, reaches failed, no CPU burn",
                    f"{c['starts']} starts in 10 s ({c['starts_last_half']} in the last 5 s), "
                    f"supervisor CPU {fmt(c['supervisor_cpu_ms'], ' ms')}; state at 10 s: "
                    f"`{c['state'][:80]}`; {when}",
                    "met" if ok else "**missed** (see the crash-loop table)"))
    elif c:
        not_measured("crash loop", "backs off, reaches failed, no CPU burn", c.get("error", "no data"))
    for key, label in (("bay0", "control round trip"),
                       ("bay0-static-client", "control round trip, static client")):
        ctl = x.control_ms(key)
        if ctl is not None:
            fl = x.exec_floor_ms("true")
            extra = f" (two runs of /bin/true alone: {fmt(fl, ' ms')})" if fl else ""
            out.append((label, "≤ 1 ms", fmt(ctl, " ms") + extra,
                        verdict(ctl <= 1, f"{ctl:.1f}× the goal")))
        elif x.control_why(key):
            not_measured(label, "≤ 1 ms", x.control_why(key))
    for kind in ("plain", "json"):
        s = x.status_ms("bay0", kind)
        label = f"status N=1000 ({'--json' if kind == 'json' else 'text'})"
        if s is not None:
            out.append((label, "≤ 5 ms", fmt(s, " ms"), verdict(s <= 5, f"{s / 5:.1f}× the goal")))
        elif entry_why(x.status_entry("bay0", kind)):
            not_measured(label, "≤ 5 ms", entry_why(x.status_entry("bay0", kind)))
    w = x.wakeups("bay0")
    if w is not None:
        out.append(("idle N=1000", "0 wake-ups", f"{fmt(w)} /s, CPU {fmt(x.idle_cpu_ms('bay0'), ' ms')}",
                    verdict(w == 0, f"{w:.2f}/s")))
    out += logger_goals(R)
    size = R.get("sizes", {}).get("bay0-static")
    if size:
        out.append(("binary", "one static binary", f"{size / 1024:,.0f} KiB", "reported"))
    return out


def logger_incomplete(v):
    """'' when every repetition ran to the end, else what went wrong."""
    bad = v.get("errors", 0) + v.get("timeouts", 0)
    if v.get("error") and not bad:
        bad = 1
    if not bad and v.get("median_lines_per_s"):
        return ""
    got = len(v.get("samples_lines_per_s", []))
    return (f"{got} of {v.get('requested', '?')} repetitions measured "
            f"({v.get('timeouts', 0)} timed out, {v.get('errors', 0)} failed: {v.get('error', '?')})")


def logger_goals(R):
    lg = R.get("logger", {})
    out = []
    s6 = lg.get("s6-log t", {})
    s6t = s6.get("median_lines_per_s") if not logger_incomplete(s6) else None
    bays = [(k, v) for k, v in lg.items() if k.startswith("bay0 logger -t")]
    for k, v in bays:
        info = k.endswith("none")
        goal = "(no stamps: info)" if info else "≥ 2× s6-log t"
        why = logger_incomplete(v) or (
            "" if s6t else "s6-log t: " + (logger_incomplete(s6) or "not run"))
        if why:
            out.append((f"logger throughput (`{k}`)", goal, why, NOT_MEASURED))
            continue
        rr = v["median_lines_per_s"] / s6t
        lost = v.get("lines_lost", 0 if v.get("all_lines_counted") else None)
        said = "" if lost == 0 else f"; **{lost if lost is not None else 'some'} lines lost**"
        measured = (f"{fmt(v['median_lines_per_s'] / 1e6, ' M', 2)} lines/s (lines found in the "
                    f"files) = {rr:.2f}× s6-log t{said}")
        if info:
            out.append((f"logger throughput (`{k}`)", goal, measured, "info" if not said else
                        "**missed** (lines lost)"))
        else:
            out.append((f"logger throughput (`{k}`)", goal, measured,
                        "**missed** (lines lost)" if said else
                        "met" if rr >= 2 else f"**missed** ({rr / 2:.2f}× of the goal)"))
    if not bays and lg.get("bay0 logger", {}).get("error"):
        out.append(("logger throughput", "≥ 2× s6-log t", "not yet available", NOT_MEASURED))
    return out


def section_logger(R):
    lg = R.get("logger", {})
    if not lg:
        return []
    rows = []
    s6 = lg.get("s6-log t", {})
    s6t = None if logger_incomplete(s6) else s6.get("median_lines_per_s")
    for name, v in lg.items():
        why = logger_incomplete(v)
        lps = None if why else v.get("median_lines_per_s")
        counted = ("yes" if v.get("all_lines_counted") else
                   f"**no** ({v['lines_lost']:,} lost)" if v.get("lines_lost") else
                   "—" if not v.get("counted") else "**no**")
        rows.append([name, "**not measured**" if why else fmt(lps / 1e6 if lps else None, " M", 2),
                     counted, fmt_ratio(ratio(lps, s6t)), why or v.get("error", "")])
    return ["## Logger throughput", "",
            "2,000,000 lines of 100 bytes through a pipe, rotation at 1 MB, every rotated file kept "
            "and every line counted afterwards; lines/s = lines found in the files / (first write "
            "-> logger exit), median of the repetitions; a repetition that failed or timed out "
            "leaves the row not measured.", "",
            table(["logger", "lines/s", "all lines counted", "vs s6-log t", "note"], rows), ""]


def section_scaling(x, sups, R):
    ns = sorted({int(n) for s in sups for n in x.sc.get(s, {})})
    if not ns:
        return []
    head = ["N", "floor bring-up"] + [f"{s} bring-up / KiB per svc" for s in sups]
    rows = []
    notes = []
    for n in ns:
        row = [f"{n:,}", fmt(x.floor_bringup(n), " s")]
        for s in sups:
            runs = x.runs(s, n)
            errs = [r for r in runs if r.get("error")]
            if errs:
                notes.append(f"- {s} at N={n:,}: {errs[0]['error']}. {why_stuck(s, errs[0])}")
            b = x.bringup(s, n)
            m = med([r.get("pss_per_svc_kib") for r in runs if r.get("bringup_s")])
            if not runs:
                row.append("not run")
            elif b is None:
                up = runs[0].get("up")
                row.append(f"**{up:,} of {n:,} up** / —" if up is not None else "**failed**")
            else:
                row.append(f"{fmt(b, ' s')} / {fmt(m)}")
        rows.append(row)
    out = ["## Scaling", "", table(head, rows), ""]
    if notes:
        out += ["What happened where a supervisor did not get all services up:", ""] + notes + [""]
    if chart(x, sups, ns, os.path.join(R["_bench_dir"], "scaling.svg")):
        out += ["![scaling](scaling.svg)", ""]
    return out


KNOWN_LIMITS = {
    "runit": "runsvdir has a compile-time table of 1000 services (MAXSERVICES 1000 in runsvdir.c).",
    "daemontools": "svscan has a compile-time table of 1000 services (SERVICES 1000 in svscan.c).",
}


def why_stuck(sup, run):
    """The supervisor's own words (last error-looking output line), or a
    known limit of the anchor."""
    out = run.get("supervisor_output", "")
    lines = [l.strip() for l in out.splitlines()
             if any(w in l.lower() for w in ("error", "too many", "cannot", "fatal", "spawnerr"))]
    said = f"Its last error line: `{lines[-1][:160]}`." if lines else ""
    return " ".join(t for t in (KNOWN_LIMITS.get(sup, ""), said) if t)


def chart(x, sups, ns, path):
    data = path + ".dat"
    with open(data, "w") as f:
        for s in sups + ["floor"]:
            f.write(f"# {s}\n")
            for n in ns:
                b = x.floor_bringup(n) if s == "floor" else x.bringup(s, n)
                m = None if s == "floor" else x.mem(s, n)
                f.write(f"{n} {b if b is not None else 'NaN'} {m if m is not None else 'NaN'}\n")
            f.write("\n\n")
    names = sups + ["floor"]
    bring = ", ".join(f"'{data}' index {i} using 1:2 with linespoints title '{s}'"
                      for i, s in enumerate(names))
    mem = ", ".join(f"'{data}' index {i} using 1:3 with linespoints title '{s}'"
                    for i, s in enumerate(names[:-1]))
    script = f"""set terminal svg size 960,420 dynamic font 'sans,11'
set output '{path}'
set multiplot layout 1,2
set logscale x; set logscale y; set grid; set key top left
set xlabel 'services (N)'
set title 'bring-up (s, supervisor start -> last first stamp)'
plot {bring}
set title 'memory per service (KiB PSS of supervision processes)'
plot {mem}
unset multiplot
"""
    try:
        r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, timeout=60)
        ok = r.returncode == 0 and os.path.exists(path)
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    os.unlink(data)
    return ok


def section_machine(R):
    m = R["machine"]
    v = m["versions"]
    p = R["params"]
    return [f"Generated by `bench/run.sh` on {m['date']} in {R.get('elapsed_s', '?')} s.", "",
            f"- machine: {m['cpus']} × {m['cpu']}, {m['mem_gib']} GiB, Linux {m['kernel']}, "
            f"RLIMIT_NOFILE {m['nofile'][0]}/{m['nofile'][1]}, pid_max {m['pid_max']}",
            f"- load average at start {' '.join(m['loadavg_start'])}, at end "
            f"{' '.join(m.get('loadavg_end', ['?']))} (other builds and QEMU share the 2 cores: "
            "absolute numbers are noisy, the same-run ratios are what counts)",
            f"- versions: bay0 `{v.get('bay0')}` (tree at {v.get('bay0_tree', '?')}, "
            f"binaries copied at the start of the run), s6 {v.get('s6')}, skalibs {v.get('libskarnet2.13')}, "
            f"runit {v.get('runit')}, daemontools {v.get('daemontools')}, supervisor {v.get('supervisor')}",
            f"- parameters: idle window {p['idle']} s, {p['restarts']} restarts, {p['reps']} bring-up "
            f"repetitions at N=1000 ({p.get('small_reps', 1)} below, {p.get('large_reps', 1)} above), "
            f"{p['log_reps']} logger repetitions, N up to {p['max_n']:,}", ""]


def section_sizes(R):
    s = R.get("sizes", {})
    rows = []
    if "bay0-static" in s:
        rows.append(["bay0 (static, build/bay0-static)", f"{s['bay0-static'] / 1024:,.0f} KiB", "1 file, no shared libraries"])
    if "bay0" in s:
        rows.append(["bay0 (dynamic, build/bay0)", f"{s['bay0'] / 1024:,.0f} KiB", "+ libc, libsqlite3"])
    rows.append(["s6 binaries + libskarnet", f"{(s['s6_binaries'] + s['libskarnet']) / 1024:,.0f} KiB",
                 f"{s['s6_binaries_count']} binaries {s['s6_binaries'] / 1024:,.0f} KiB + libskarnet "
                 f"{s['libskarnet'] / 1024:,.0f} KiB, dynamic (+ libc)"])
    rows.append(["runit binaries", f"{s['runit_binaries'] / 1024:,.0f} KiB", f"{s['runit_binaries_count']} files, dynamic"])
    rows.append(["daemontools binaries", f"{s['daemontools_binaries'] / 1024:,.0f} KiB",
                 f"{s['daemontools_binaries_count']} files, dynamic"])
    return ["## Binary size", "", table(["what", "size", "note"], rows), ""]


def section_crash(R, sups):
    c = R.get("crash", {})
    if not c:
        return []
    rows = []
    for s in sups:
        v = c.get(s, {})
        if "starts" not in v:
            rows.append([s, "—", "—", "—", "—", v.get("error", "")])
            continue
        fa = v.get("failed_after_s")
        later = f" (`failed` {fa:.1f} s after start)" if fa is not None else (
            " (not `failed` 70 s after start)" if "failed_after_s" in v else "")
        rows.append([s, v["starts"], v["starts_last_half"], fmt(v["supervisor_cpu_ms"]),
                     fmt(v["reaped_children_cpu_ms"]),
                     "`" + v["state"].replace("|", "/")[:120] + "`" + later])
    return ["## Crash loop", "",
            "One service that exits 1 at once, observed 10 s from the supervisor's start.", "",
            table(["supervisor", "starts", "starts in last 5 s", "supervisor CPU ms",
                   "reaped children CPU ms", "state at 10 s"], rows), ""]


HOW = """## How each row is measured

- Service: `bench/svc.c`, static; `run` is a symlink to it (no shell). It takes
  CLOCK_REALTIME first thing in `main()` and appends `NAME SEC.NSEC PID` with
  one O_APPEND write to the run's shared stamp file, then `pause()`s.
- Supervisors are started by `benchtool stamp-exec`, which takes t0 and
  execs the supervisor. Bring-up = last service's first stamp - t0. Floor:
  `benchtool floor-bringup`, one process fork+exec'ing the N services.
  Service directories are created 1.5 s before each start (runsvdir ignores a
  scan directory modified within the last second).
- Memory: PSS (`/proc/PID/smaps_rollup`) summed over the supervisor's process
  tree minus the service instances, 1 s after the last service came up,
  divided by N. s6: s6-svscan + s6-supervise; runit: runsvdir + runsv;
  daemontools: svscan + supervise; supervisord: its Python process; bay0:
  its process(es).
- Restart: 16 services; `benchtool restart` SIGKILLs the current instance of
  one of them every ≥ 200 ms, only once it has been up > 2 s, and waits for
  the new instance's stamp; the sample is stamp - time of kill(2). Floor: the
  same tool doing kill + waitpid + fork + exec itself.
- Control round trip (service s00000 of the restart instance), timed in C by
  `benchtool cmdloop`, median of up to 20 rounds: s6 `s6-svc -wD -d` then
  `s6-svc -wu -u` (`-wU` with notification-fd); runit `sv stop` then
  `sv start` (both wait); daemontools `svc -d`, `svstat` until down, `svc -u`,
  `svstat` until up; supervisord `supervisorctl stop` then `start` (Debian
  defaults, startsecs=1); bay0 `bay0 stop` then `bay0 start` (both wait).
- Floor of the control row: two fork+exec+wait of `/bin/true` from the same
  C loop (any two-command round trip pays it); the two "client start-ups"
  rows run `bay0 version` twice (dynamic: ld.so + libsqlite3 + libm) and
  `bay0-static version` twice.
- "On the socket" rows: `benchtool sockloop` speaks bay0's control protocol
  (one request per connection, reply read to EOF) with no client process,
  to separate bay0's own work from the cost of starting a CLI.
- Status of N=1000, median of 5: s6 one `s6-svstat` per service (it has no
  multi-service status), runit `sv status` with 1000 directories,
  daemontools `svstat` with 1000 directories, `supervisorctl status`,
  `bay0 status` and `bay0 status --json`.
- Idle: CPU time (schedstat) and voluntary context switches of every thread
  of the supervision processes over the idle window, N=1000, all up.
- supervisord runs with Debian's defaults (startsecs=1, startretries=3,
  autorestart=unexpected, stdout to AUTO log files).
"""


def write(R, out_path, bench_dir):
    R["_bench_dir"] = bench_dir
    x = Rows(R)
    sups = [s for s in SUPS if s in R.get("supervisors", [])]
    lines = ["# bay0 against s6, runit, daemontools and supervisord", ""]
    lines += section_machine(R)
    if "bay0" not in sups:
        lines += ["**bay0 was not built when this ran: anchors only.**", ""]
    lines += ["## The issue's table, measured in this run", ""] + section_main(x, sups, R)
    g = goals(x, R)
    if g:
        lines += ["## bay0 against its goals", "",
                  table(["row", "goal", "bay0 measured", "verdict"], [list(r) for r in g]), ""]
    lines += section_samples(x, sups, R)
    lines += section_crash(R, sups)
    lines += section_logger(R)
    lines += section_scaling(x, sups, R)
    lines += section_sizes(R)
    lines += [HOW, "Raw numbers of the last run: `bench/raw/results.json` (not committed).", ""]
    del R["_bench_dir"]
    with open(out_path, "w") as f:
        f.write("\n".join(lines))
