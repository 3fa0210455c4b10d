/* bridge.c — one-call wrappers around the intent database for callers that
 * live in PID 1's process (the supervisor's `--persist`, its start-up):
 * each opens the db in a bounded child, does one thing, and answers through
 * a pipe, so the caller never blocks past timeout_ms and never links SQLite
 * state into its own process.
 *
 * Owns: the child side of those calls and the tiny line format of the
 * answer ("U NAME\n", U = 0 or 1). Never called from the child itself.
 */
#include "state/state_internal.h"

#include "log.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define CHILD_OK 0
#define CHILD_ERROR 1

struct service_intent {
    const char *name;
    bool up;
    bool forget;
};

static int intent_work(void *ctx)
{
    const struct service_intent *in = ctx;
    struct state_db db;
    if (!state_open_migrated(&db))
        return CHILD_ERROR;
    enum state_result r = in->forget
                              ? state_clear_service_desired(&db, in->name)
                              : state_set_service_desired(&db, in->name,
                                                          in->up);
    state_close(&db);
    return r == STATE_OK ? CHILD_OK : CHILD_ERROR;
}

static enum state_result intent_call(struct service_intent *in,
                                     uint32_t timeout_ms)
{
    if (in->name == NULL || in->name[0] == '\0' ||
        strlen(in->name) >= STATE_SERVICE_NAME_BYTES_MAX ||
        strchr(in->name, '\n') != NULL) {
        log_error("event=intent-rejected what=\"service name\" error=\"empty, too long or with a newline\"");
        return STATE_ERROR;
    }
    int rc;
    enum state_result r = state_run_bounded(intent_work, in, timeout_ms,
                                            "service-intent", &rc);
    if (r == STATE_OK && rc != CHILD_OK)
        r = STATE_ERROR;
    if (r != STATE_OK)
        log_warn("event=intent-not-persisted svc=%s intent=%s result=%s", in->name,
                 in->forget ? "forget" : in->up ? "up" : "down",
                 r == STATE_TIMEOUT ? "timed-out" : "error");
    return r;
}

enum state_result state_service_desired_persist(const char *name, bool up,
                                                uint32_t timeout_ms)
{
    struct service_intent in = {.name = name, .up = up};
    return intent_call(&in, timeout_ms);
}

enum state_result state_service_desired_forget(const char *name,
                                               uint32_t timeout_ms)
{
    struct service_intent in = {.name = name, .forget = true};
    return intent_call(&in, timeout_ms);
}

struct load_out {
    int fd;
    bool failed;
};

static void load_emit(const char *name, bool up, void *ctx)
{
    struct load_out *o = ctx;
    char line[STATE_SERVICE_NAME_BYTES_MAX + 4];
    if (strchr(name, '\n') != NULL || strlen(name) >= STATE_SERVICE_NAME_BYTES_MAX)
        return; /* cannot be stored through the typed functions */
    int n = snprintf(line, sizeof line, "%d %s\n", up ? 1 : 0, name);
    if (fd_write_all(o->fd, line, (size_t)n) != 0)
        o->failed = true;
}

static int load_work(void *ctx, int out_fd)
{
    (void)ctx;
    struct state_db db;
    if (!state_open_migrated(&db))
        return CHILD_ERROR;
    struct load_out o = {.fd = out_fd};
    enum state_result r = state_each_service_desired(&db, load_emit, &o);
    state_close(&db);
    return r == STATE_OK && !o.failed ? CHILD_OK : CHILD_ERROR;
}

enum state_result state_service_desired_load(uint32_t timeout_ms,
                                             state_service_fn fn, void *ctx)
{
    static char buf[STATE_SERVICE_LOAD_BYTES_MAX];
    size_t len;
    int rc;
    enum state_result r = state_run_bounded_out(
        load_work, NULL, timeout_ms, "service-intent-load", buf,
        sizeof buf - 1, &len, &rc);
    if (r == STATE_OK && rc != CHILD_OK)
        r = STATE_ERROR;
    if (r != STATE_OK) {
        log_warn("event=intents-not-loaded result=%s",
                 r == STATE_TIMEOUT ? "timed-out" : "error");
        return r;
    }
    buf[len] = '\0';
    for (char *line = buf; *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        *nl = '\0';
        if ((line[0] == '0' || line[0] == '1') && line[1] == ' ')
            fn(line + 2, line[0] == '1', ctx);
        line = nl + 1;
    }
    return STATE_OK;
}
