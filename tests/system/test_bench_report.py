"""bench/report.py never reports what it did not measure: a restart run
that timed out after 1 of 50 samples, a failed control step, a missing or
failed floor, a failed bring-up repetition or a logger repetition that
failed give "not measured", never "met" or a ratio. Pure formatting on
synthetic raw results: nothing is started."""
import copy
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import report  # noqa: E402


def restart(ms, requested=50, timeouts=0, missing=0, errors=0):
    e = {"samples_ms": ms, "requested": requested, "count": len(ms), "timeouts": timeouts,
         "missing": missing, "errors": errors}
    if ms:
        e.update(median_ms=sorted(ms)[len(ms) // 2], p99_ms=max(ms))
    if not ms or timeouts or missing or errors:
        e["error"] = f"{len(ms)} of {requested} restarts measured"
    return e


def good():
    """Complete data where every bay0 goal is met."""
    logger = {"samples_lines_per_s": [3e6], "counted": [2_000_000], "requested": 1,
              "errors": 0, "timeouts": 0, "median_lines_per_s": 3e6,
              "all_lines_counted": True, "lines_lost": 0}
    return {
        "machine": {"date": "d", "cpus": 2, "cpu": "c", "mem_gib": 4, "kernel": "k",
                    "nofile": [1024, 1024], "pid_max": 1, "loadavg_start": ["0"] * 3,
                    "versions": {}},
        "params": {"idle": 1, "restarts": 50, "reps": 1, "log_reps": 1, "max_n": 1000},
        "sizes": {"s6_binaries": 1, "libskarnet": 1, "s6_binaries_count": 1, "runit_binaries": 1,
                  "runit_binaries_count": 1, "daemontools_binaries": 1,
                  "daemontools_binaries_count": 1},
        "supervisors": ["bay0"],
        "scaling": {"bay0": {"1000": [{"bringup_s": 0.4, "pss_per_svc_kib": 2.0,
                                        "status": {"plain": {"samples_s": [0.002] * 5,
                                                             "median_s": 0.002, "rc": 0}}}]}},
        "floor_bringup": {"1000": [{"bringup_s": 0.4}]},
        "restart": {
            "floor": restart([1.0] * 50),
            "exec_floor": {"true": 0.5},
            "bay0": {"restart": restart([1.1] * 50),
                     "control": {"samples_s": [0.0008] * 20, "median_s": 0.0008, "rc": 0,
                                 "count": 20, "errors": 0}},
        },
        "logger": {"s6-log t": dict(logger, median_lines_per_s=1e6, samples_lines_per_s=[1e6]),
                   "bay0 logger -t iso": logger},
    }


def verdicts(R, tmp_path):
    out = tmp_path / "RESULTS.md"
    report.write(copy.deepcopy(R), str(out), str(tmp_path))
    rows = {}
    text = out.read_text()
    section = text.split("## bay0 against its goals", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("row", "---"):
            rows[cells[0].split(" (")[0]] = (cells[2], cells[3])
    return rows, text


def test_complete_data_gets_verdicts(tmp_path):
    rows, _ = verdicts(good(), tmp_path)
    assert rows["restart after SIGKILL"][1] == "met", rows
    assert rows["control round trip"][1] == "met", rows
    assert rows["bring-up N=1000"][1] == "met", rows
    assert rows["logger throughput"][1] == "met", rows


def test_restart_that_timed_out_is_not_measured(tmp_path):
    R = good()
    R["restart"]["bay0"]["restart"] = restart([1.0], timeouts=1, missing=48)
    rows, text = verdicts(R, tmp_path)
    measured, verdict = rows["restart after SIGKILL"]
    assert verdict == "not measured" and "1 of 50" in measured, rows
    assert "| restart after SIGKILL | bay0 | 50 | 1 | 49 | 0 |" in text


def test_missing_floor_is_not_measured_and_no_zero_ratio(tmp_path):
    R = good()
    del R["restart"]["floor"]
    rows, text = verdicts(R, tmp_path)
    assert rows["restart after SIGKILL"][1] == "not measured", rows
    assert "0.00× floor" not in text
    R = good()
    R["restart"]["floor"] = restart([], requested=50, timeouts=50)
    rows, _ = verdicts(R, tmp_path)
    assert rows["restart after SIGKILL"][1] == "not measured", rows


def test_failed_control_step_is_not_measured(tmp_path):
    R = good()
    R["restart"]["bay0"]["control"].update(rc=1, errors=1, error="a control step failed")
    rows, text = verdicts(R, tmp_path)
    assert rows["control round trip"] == ("a control step failed", "not measured"), rows
    assert "control round trip stop+start (ms, median) | **not measured**" in text


def test_failed_bringup_repetition_or_floor_is_not_measured(tmp_path):
    R = good()
    R["scaling"]["bay0"]["1000"].append({"bringup_s": None, "up": 990, "error": "990 of 1000"})
    rows, _ = verdicts(R, tmp_path)
    assert rows["bring-up N=1000"][1] == "not measured", rows
    assert rows["memory per service N=1000"][1] == "not measured", rows
    R = good()
    R["floor_bringup"]["1000"] = [{"error": "floor: 3 of 1000 up"}]
    rows, _ = verdicts(R, tmp_path)
    assert rows["bring-up N=1000"][1] == "not measured", rows


def test_logger_failed_repetition_and_lost_lines(tmp_path):
    R = good()
    R["logger"]["bay0 logger -t iso"].update(errors=1, requested=2, error="rc=1")
    rows, _ = verdicts(R, tmp_path)
    assert rows["logger throughput"][1] == "not measured", rows
    R = good()
    R["logger"]["bay0 logger -t iso"].update(all_lines_counted=False, lines_lost=5,
                                             counted=[1_999_995])
    rows, _ = verdicts(R, tmp_path)
    assert rows["logger throughput"][1] == "**missed** (lines lost)", rows
    assert "5 lines lost" in rows["logger throughput"][0]
