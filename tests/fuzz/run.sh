#!/bin/sh
# tests/fuzz/run.sh — build every libFuzzer target and run each for a
# bounded time (FUZZ_SECONDS, default 20) from its seed corpus; print one
# line "fuzz: N passed, N failed". A target passes when it ran its time
# without a crash, leak, timeout or failed check. Exit 1 if any failed.
#
#   tests/fuzz/run.sh [TARGET...]      (default: every fuzz_*.c)
#   FUZZ_SECONDS=300 tests/fuzz/run.sh control
#
# New inputs go to build/fuzz/corpus/TARGET (kept between runs, never into
# the seed corpus in git); crashing inputs to build/fuzz/artifacts/.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build="$top/build/fuzz"
secs=${FUZZ_SECONDS:-20}

mkdir -p "$build/artifacts"
if ! make -s -C "$here" BUILD="$build" >"$build/make.log" 2>&1; then
    cat "$build/make.log" >&2
    echo "fuzz: 0 passed, 1 failed (build)"
    exit 1
fi

if [ $# -eq 0 ]; then
    set -- $(cd "$here" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi

passed=0; failed=0
root=/tmp; [ -w /dev/shm ] && root=/dev/shm
BAY0_FUZZ_TMPDIR=$(mktemp -d "$root/bay0-fuzz-run.XXXXXX") || exit 1
export BAY0_FUZZ_TMPDIR
trap 'rm -rf "$BAY0_FUZZ_TMPDIR"' EXIT INT TERM
for t in "$@"; do
    work="$build/corpus/$t"
    mkdir -p "$work"
    log="$build/$t.log"
    # The CLI is a one-shot process: its output is noise and its leaks are
    # reported in docs/FUZZING.md, not counted as failures.
    extra=""; asan="${ASAN_OPTIONS:-}"
    if [ "$t" = cli ] || [ "$t" = analyze ]; then
        extra="-close_fd_mask=3 -detect_leaks=0"; asan="detect_leaks=0"
    fi
    # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: bounded.
    ASAN_OPTIONS="$asan" "$build/fuzz_$t" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 $extra \
        -artifact_prefix="$build/artifacts/$t-" \
        "$work" "$here/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1)
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "  fuzz_$t: ok, ${runs:-?} runs in ${secs}s, ${cov:-cov: ?}" >&2
    else
        failed=$((failed + 1))
        echo "  fuzz_$t: FAILED (exit $rc), log $log" >&2
        grep -E 'ERROR|SUMMARY|runtime error|^    #[0-9]+ .* in (LLVMFuzzer|[a-z_]+ /)|Test unit written|^[a-z_ ]*[:(].*abort|leak|stall|reason|above max' \
            "$log" | head -n 25 >&2
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
