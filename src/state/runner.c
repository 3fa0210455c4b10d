/* runner.c — state work with a hard deadline: state_run_bounded* are the
 * state module's face of exec_fn_run (src/exec.c, the one runner for
 * children with a deadline): the work runs in a forked child, its answer
 * and result byte come back in pipes, and a child past the deadline is sent
 * SIGKILL and left to PID 1's reaper (a hung disk leaves it in D state).
 * This file maps the outcome to a state_result and logs failures.
 *
 * Never blocks past the deadline; never runs SQLite in the caller's
 * process (the caller must not hold a db open across the fork either).
 */
#include "state/state_internal.h"

#include "exec.h"
#include "log.h"
#include "util.h"

#include <string.h>

enum state_result state_run_bounded_out(state_bounded_out_fn fn, void *ctx,
                                        uint32_t timeout_ms, const char *what,
                                        char *out, size_t out_cap,
                                        size_t *out_len, int *child_rc)
{
    struct exec_buf ob = {.data = out, .cap = out != NULL ? out_cap : 0, .raw = true};
    struct exec_result r;
    *child_rc = -1;
    (void)exec_fn_run(fn, ctx, timeout_ms, out != NULL ? &ob : NULL, &r);
    if (out_len != NULL)
        *out_len = ob.len;
    switch (r.outcome) {
    case EXEC_NOT_RUN:
        log_error("event=state-op-failed op=%s error=\"pipe or fork: %s\"", what,
                  strerror(r.exec_errno));
        return STATE_ERROR;
    case EXEC_TIMEOUT:
        return STATE_TIMEOUT;
    case EXEC_SIGNALED:
        if (r.term_signal != 0)
            log_error("event=state-worker-died op=%s pid=%d signal=%s", what,
                      (int)r.pid, signal_name(r.term_signal));
        else
            log_error("event=state-worker-died op=%s pid=%d reason=\"ended without a result\"",
                      what, (int)r.pid);
        return STATE_ERROR;
    case EXEC_EXITED:
        break;
    }
    *child_rc = r.exit_code;
    if (ob.truncated) {
        log_error("event=state-op-failed op=%s error=\"answer longer than %zu bytes\"", what,
                  out_cap);
        return STATE_ERROR;
    }
    return STATE_OK;
}

struct plain_call {
    state_bounded_fn fn;
    void *ctx;
};

static int plain_trampoline(void *ctx, int out_fd)
{
    (void)out_fd;
    struct plain_call *c = ctx;
    return c->fn(c->ctx);
}

enum state_result state_run_bounded(state_bounded_fn fn, void *ctx,
                                    uint32_t timeout_ms, const char *what,
                                    int *child_rc)
{
    struct plain_call c = {.fn = fn, .ctx = ctx};
    return state_run_bounded_out(plain_trampoline, &c, timeout_ms, what,
                                 NULL, 0, NULL, child_rc);
}
