/* bounded.c — the boot / shutdown / periodic entry points PID 1 and the
 * supervisor call, each run through state_run_bounded (runner.c) so a hung
 * disk gives STATE_TIMEOUT instead of a hung PID 1.
 *
 * Owns: the boot and shutdown sequences of the state module. Never blocks
 * the caller past its deadline; never opens SQLite in the caller's process.
 */
#include "state/state_internal.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ioprio_set(2): no glibc wrapper. */
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_RT 1
#define IOPRIO_CLASS_BE 2
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_VALUE(class, level) (((class) << IOPRIO_CLASS_SHIFT) | (level))

/* Child exit bytes for the boot/shutdown work. */
#define CHILD_OK 0
#define CHILD_ERROR 1
#define CHILD_RECOVERED 2

static enum state_result child_result(enum state_result r, int rc)
{
    if (r != STATE_OK)
        return r;
    if (rc == CHILD_OK)
        return STATE_OK;
    if (rc == CHILD_RECOVERED)
        return STATE_RECOVERED;
    return STATE_ERROR;
}

/* Critical state writes (checkpoint, seed, last-known-good time) run at
 * the highest I/O priority this process may take, so a persona's I/O storm
 * cannot starve them (where the disk's scheduler honours priorities:
 * bfq, mq-deadline): real-time level 0, else best-effort level 0. Only
 * ever called in the bounded child, never in PID 1 itself. */
static const char *raise_io_priority(const char *what)
{
    const char *got = "realtime-0";
    if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_VALUE(IOPRIO_CLASS_RT, 0)) != 0) {
        got = "best-effort-0";
        if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_VALUE(IOPRIO_CLASS_BE, 0)) != 0)
            got = "unchanged";
    }
    log_debug("event=io-priority op=%s class=%s", what, got);
    return got;
}

/* Open + migrate; exit byte semantics. Leaves db open on success. */
static int open_migrated(struct state_db *db)
{
    bool recovered = false;
    if (!state_open_migrated_how(db, &recovered))
        return CHILD_ERROR;
    return recovered ? CHILD_RECOVERED : CHILD_OK;
}

/* Set the clock forward to the last-known-good time if it is behind. */
static const char *boot_fix_clock(struct state_db *db)
{
    int64_t last_ms;
    bool found;
    if (state_read_last_good_time(db, &last_ms, &found) != STATE_OK)
        return "unreadable";
    if (!found)
        return "no-last-good";
    int64_t now_ms = time_wall_ms();
    int64_t target_ms = state_clock_fix_target_ms(now_ms, last_ms);
    if (target_ms == 0)
        return "ok";
    struct timespec ts = {.tv_sec = target_ms / 1000,
                          .tv_nsec = (long)(target_ms % 1000) * 1000000};
    if (clock_settime(CLOCK_REALTIME, &ts) != 0) {
        log_warn("event=clock-behind behind_ms=%" PRId64 " error=\"cannot set the clock: %s\" "
                 "hint=\"set the clock by hand or give bay0 CAP_SYS_TIME\"",
                 target_ms - now_ms, strerror(errno));
        return "behind-unset";
    }
    log_warn("event=clock-forward from_ms=%" PRId64 " to_ms=%" PRId64
             " behind_ms=%" PRId64,
             now_ms, target_ms, target_ms - now_ms);
    return "forwarded";
}

/* Read the seed, give it to the kernel, replace it at once. */
static const char *boot_seed(void)
{
    static uint8_t seed[STATE_ENTROPY_SEED_BYTES];
    size_t len = 0;
    const char *how = "none";
    if (state_read_entropy_seed(seed, sizeof seed, &len) != STATE_OK)
        how = "unreadable";
    bool credited = false;
    if (len > 0 && state_entropy_feed(seed, len, &credited) == STATE_OK)
        how = credited ? "credited" : "mixed";
    memset(seed, 0, sizeof seed);
    if (state_write_entropy_seed() != STATE_OK)
        return "not-rewritten";
    log_info("event=seed how=%s bytes=%zu", how, len);
    return how;
}

static int boot_work(void *ctx)
{
    (void)ctx;
    raise_io_priority("boot");
    struct state_db db;
    int rc = open_migrated(&db);
    if (rc == CHILD_ERROR)
        return rc;
    const char *clock = boot_fix_clock(&db);
    const char *seed = boot_seed();
    int64_t now_ms = time_wall_ms();
    int64_t last_ms;
    bool found;
    if (state_read_last_good_time(&db, &last_ms, &found) == STATE_OK &&
        (!found || now_ms > last_ms))
        (void)state_write_last_good_time(&db, now_ms);
    state_close(&db);
    char msg[STATE_GENESIS_MSG_BYTES_MAX];
    str_fmt(msg, sizeof msg, "boot db=%s schema=%d clock=%s seed=%s",
            rc == CHILD_RECOVERED ? "recovered" : "ok", STATE_SCHEMA_VERSION,
            clock, seed);
    if (state_append_genesis_log(msg) != STATE_OK)
        return CHILD_ERROR;
    return rc;
}

static int shutdown_work(void *ctx)
{
    (void)ctx;
    raise_io_priority("shutdown");
    struct state_db db;
    int rc = open_migrated(&db);
    if (rc == CHILD_ERROR)
        return rc;
    bool ok = state_write_last_good_time(&db, time_wall_ms()) == STATE_OK;
    ok = state_sql_exec(&db, "PRAGMA wal_checkpoint(TRUNCATE)",
                        "checkpoint") == STATE_OK && ok;
    state_close(&db);
    ok = state_write_entropy_seed() == STATE_OK && ok;
    ok = state_append_genesis_log(ok ? "shutdown" : "shutdown partial") ==
             STATE_OK && ok;
    return ok ? rc : CHILD_ERROR;
}

static int checkpoint_time_work(void *ctx)
{
    (void)ctx;
    raise_io_priority("last-good-time");
    struct state_db db;
    if (state_open(&db, NULL) == STATE_ERROR)
        return CHILD_ERROR;
    enum state_result r = state_migrate_if_needed(&db);
    if (r == STATE_OK)
        r = state_write_last_good_time(&db, time_wall_ms());
    state_close(&db);
    return r == STATE_OK ? CHILD_OK : CHILD_ERROR;
}

static enum state_result run_logged(state_bounded_fn fn, uint32_t timeout_ms,
                                    const char *what)
{
    int64_t t0 = time_mono_ms();
    int rc;
    enum state_result r = state_run_bounded(fn, NULL, timeout_ms, what, &rc);
    r = child_result(r, rc);
    long long elapsed = (long long)(time_mono_ms() - t0);
    if (r == STATE_OK)
        log_info("event=state-op op=%s result=ok elapsed_ms=%lld", what, elapsed);
    else
        log_warn("event=state-op op=%s result=%s elapsed_ms=%lld timeout_ms=%u "
                 "dir=%s hint=\"see the lines before; bay0 validate checks the disk\"",
                 what, r == STATE_TIMEOUT ? "timed-out" : state_result_name(r),
                 elapsed, timeout_ms, state_data_dir());
    return r;
}

enum state_result state_boot(uint32_t timeout_ms)
{
    return run_logged(boot_work, timeout_ms, "boot");
}

enum state_result state_shutdown(uint32_t timeout_ms)
{
    return run_logged(shutdown_work, timeout_ms, "shutdown");
}

enum state_result state_checkpoint_time(uint32_t timeout_ms)
{
    return run_logged(checkpoint_time_work, timeout_ms, "last-good-time");
}
