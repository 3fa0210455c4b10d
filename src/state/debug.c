/* debug.c — `bay0 state-debug`, an internal command for tests and
 * measurements; not an operator interface and free to change.
 *
 *   state-debug write-loop [--count N] [--keys K]
 *       Each iteration is ONE transaction setting intent value V (the
 *       previous value + 1) everywhere: K personas "p://dbgI" get image
 *       "vV", meta debug_counter = V, service "dbg" desired up = V odd.
 *       After each COMMIT it prints "committed V" (flushed), so a test that
 *       kill -9s it knows the DB must hold V or V + 1.
 *   state-debug boot|shutdown|last-good [--timeout-ms MS]
 *       state_boot / state_shutdown / state_checkpoint_time; prints the
 *       result name; exit 0 ok or recovered, 1 error, 3 timed out.
 *   state-debug open
 *       open + migrate in-process; prints result and elapsed_ms.
 *
 * Owns nothing durable of its own; never used by PID 1.
 */
#include "state/state_internal.h"

#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEBUG_KEYS_MAX 64
#define DEBUG_COUNT_MAX 100000000

static enum state_result loop_one(struct state_db *db, uint64_t v,
                                  uint64_t keys)
{
    char image[32], value[32], name[STATE_PERSONA_NAME_BYTES_MAX];
    str_fmt(image, sizeof image, "v%" PRIu64, v);
    str_fmt(value, sizeof value, "%" PRIu64, v);
    if (state_tx_begin(db) != STATE_OK)
        return STATE_ERROR;
    enum state_result r = STATE_OK;
    for (uint64_t k = 0; k < keys && r == STATE_OK; k++) {
        str_fmt(name, sizeof name, "p://dbg%" PRIu64, k);
        r = state_put_persona(db, name, image, STATE_PERSONA_RUNNING);
    }
    if (r == STATE_OK)
        r = state_meta_set(db, "debug_counter", value);
    if (r == STATE_OK)
        r = state_set_service_desired(db, "dbg", (v & 1) != 0);
    if (r == STATE_OK)
        r = state_tx_commit(db);
    if (r != STATE_OK)
        state_tx_rollback(db);
    return r;
}

static int write_loop(uint64_t count, uint64_t keys)
{
    struct state_db db;
    enum state_result r = state_open(&db, NULL);
    if ((r != STATE_OK && r != STATE_RECOVERED) ||
        state_migrate_if_needed(&db) != STATE_OK)
        return 1;
    char buf[32];
    bool found;
    uint64_t v = 0;
    if (state_meta_get(&db, "debug_counter", buf, sizeof buf, &found) !=
            STATE_OK ||
        (found && !parse_u64(buf, UINT64_MAX, &v))) {
        state_close(&db);
        return 1;
    }
    printf("start %" PRIu64 "\n", v);
    fflush(stdout);
    int64_t t0 = time_mono_us();
    for (uint64_t i = 0; i < count; i++) {
        v++;
        if (loop_one(&db, v, keys) != STATE_OK) {
            state_close(&db);
            return 1;
        }
        printf("committed %" PRIu64 "\n", v);
        fflush(stdout);
    }
    int64_t us = time_mono_us() - t0;
    printf("done count=%" PRIu64 " mean_us=%" PRId64 "\n", count,
           count > 0 ? us / (int64_t)count : 0);
    state_close(&db);
    return 0;
}

static int open_once(void)
{
    int64_t t0 = time_mono_us();
    struct state_db db;
    enum state_result r = state_open(&db, NULL);
    if (r == STATE_OK || r == STATE_RECOVERED) {
        if (state_migrate_if_needed(&db) != STATE_OK)
            r = STATE_ERROR;
        state_close(&db);
    }
    printf("result=%s elapsed_us=%" PRId64 "\n", state_result_name(r),
           time_mono_us() - t0);
    return r == STATE_ERROR ? 1 : 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: bay0 state-debug write-loop [--count N] "
                    "[--keys K]\n"
                    "       bay0 state-debug boot|shutdown|last-good "
                    "[--timeout-ms MS]\n"
                    "       bay0 state-debug open\n"
                    "(internal: for tests)\n");
    return 2;
}

static int bounded_cmd(const char *verb, uint32_t timeout_ms)
{
    enum state_result r;
    if (strcmp(verb, "boot") == 0)
        r = state_boot(timeout_ms);
    else if (strcmp(verb, "shutdown") == 0)
        r = state_shutdown(timeout_ms);
    else
        r = state_checkpoint_time(timeout_ms);
    printf("%s\n", state_result_name(r));
    return r == STATE_TIMEOUT ? 3 : r == STATE_ERROR ? 1 : 0;
}

int state_cli_debug(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage();
        return 0;
    }
    const char *verb = argv[1];
    uint64_t count = 1000, keys = 4, timeout_ms = STATE_SURVIVAL_TIMEOUT_MS_DEFAULT;
    for (int i = 2; i < argc; i++) {
        uint64_t *dst = NULL, max = 0;
        if (strcmp(argv[i], "--count") == 0) {
            dst = &count;
            max = DEBUG_COUNT_MAX;
        } else if (strcmp(argv[i], "--keys") == 0) {
            dst = &keys;
            max = DEBUG_KEYS_MAX;
        } else if (strcmp(argv[i], "--timeout-ms") == 0) {
            dst = &timeout_ms;
            max = 600000;
        }
        if (dst == NULL || i + 1 >= argc || !parse_u64(argv[i + 1], max, dst))
            return usage();
        i++;
    }
    if (strcmp(verb, "write-loop") == 0)
        return write_loop(count, keys);
    if (strcmp(verb, "open") == 0)
        return open_once();
    if (strcmp(verb, "boot") == 0 || strcmp(verb, "shutdown") == 0 ||
        strcmp(verb, "last-good") == 0)
        return bounded_cmd(verb, (uint32_t)timeout_ms);
    return usage();
}
