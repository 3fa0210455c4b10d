/* persona.c — a persona's lifecycle state machine (see persona.h). A
 * persona changes state here and nowhere else: persona_on_event().
 *
 *  state \ ev  UP        DOWN      RESTART    RESET  REMOVE  JOB_OK        JOB_FAILED  JOB_TIMEOUT  DIED      TIMER
 *  CREATING    (->up)    (->down)  (->up)     #      #       STOPPED|start removed     remove       -         -
 *  STOPPED     start     -         start      reset  remove  #             #           #            -         -
 *  STARTING    (->up)    (->down)  (->up)     #      #       RUNNING|stop  FAILED      stop(fail)   (mark)    -
 *                                                            |died
 *  RUNNING     -         stop      stop(->up) reset  remove  #             #           #            died      -
 *  STOPPING    (->up)    (->down)  (->up)     #      #       STOPPED|start FAILED      FAILED       -         -
 *                                                            |FAILED
 *  BACKOFF     start     stop      start      reset  remove  #             #           #            -         start
 *  FAILED      start     stop      start      reset  remove  #             #           #            -         -
 *  RESETTING   (->up)    (->down)  (->up)     #      #       STOPPED|start FAILED      FAILED       -         -
 *  REMOVING    -         -         -          #      #       removed       FAILED      FAILED       -         -
 *
 *  "#": impossible -> assertion (the manager refuses RESET and REMOVE while
 *  a job is in flight: persona_busy(); jobs answer only in busy states).
 *  "-": ignored (a DIED outside RUNNING/STARTING is the echo of our own
 *  stop or rm, or a stale event). "(->up)"/"(->down)": only the desired
 *  state changes; the job in flight completes first, then the persona
 *  converges on it. "mark": the container died before its start job
 *  answered; the answer then counts as that death.
 *  died: no longer wanted -> STOPPED; else count the death (the count
 *  restarts after PERSONA_RAN_OK_MS of running): past
 *  PERSONA_RESTART_LIMIT -> FAILED, else BACKOFF (500 ms doubling to
 *  10 s), or start at once after a long run.
 *  stop(fail): converge to stopped, then FAILED with the reason (a start
 *  whose outcome is unknown is never believed).
 *
 * Never allocates, never blocks, never reads a clock.
 */
#include "persona.h"

#include "log.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static const char *const state_names[PS_COUNT] = {
    "creating", "stopped", "starting", "running", "stopping",
    "backoff",  "failed",  "resetting", "removing",
};
static const char *const event_names[PE_COUNT] = {
    "want-up", "want-down", "want-restart", "want-reset", "want-remove",
    "job-ok",  "job-failed", "job-timeout", "died",       "timer",
};

const char *persona_state_name(enum persona_state s)
{
    return (unsigned)s < PS_COUNT ? state_names[s] : "?";
}

const char *persona_event_name(enum persona_event e)
{
    return (unsigned)e < PE_COUNT ? event_names[e] : "?";
}

bool persona_busy(const struct persona *p)
{
    return p->state == PS_CREATING || p->state == PS_STARTING ||
           p->state == PS_STOPPING || p->state == PS_RESETTING ||
           p->state == PS_REMOVING;
}

void persona_init(struct persona *p, const struct persona_name *id,
                  const char *image, enum persona_state state, bool want_up,
                  int64_t now_ms)
{
    BAY0_ASSERT(state == PS_CREATING || state == PS_STOPPED ||
                state == PS_RUNNING || state == PS_FAILED);
    memset(p, 0, sizeof *p);
    p->id = *id;
    persona_name_format(id, p->semantic);
    persona_container_format(id, p->container);
    str_copy(p->image, sizeof p->image, image);
    p->state = state;
    p->want_up = want_up;
    p->since_ms = now_ms;
    p->run_since_ms = state == PS_RUNNING ? now_ms : 0;
    p->backoff_ms = PERSONA_BACKOFF_MS_MIN;
    p->last_exit = -1;
}

/* ---- actions ------------------------------------------------------------ */

static void enter(struct persona *p, enum persona_state st, int64_t now_ms,
                  const struct persona_ops *ops)
{
    enum persona_state old = p->state;
    p->state = st;
    p->since_ms = now_ms;
    if (st != PS_BACKOFF)
        p->timer_ms = 0;
    if (st != PS_RUNNING && st != PS_STARTING)
        p->pid = 0;
    log_info("persona=%s event=state from=%s to=%s desired=%s", p->semantic,
             persona_state_name(old), persona_state_name(st),
             p->want_up ? "running" : "stopped");
    ops->changed(p, ops->ctx);
}

static void start(struct persona *p, int64_t now_ms,
                  const struct persona_ops *ops)
{
    p->starts++;
    p->died_starting = false;
    p->restart_after = false;
    enter(p, PS_STARTING, now_ms, ops);
    ops->start(p, ops->ctx);
}

static void stop(struct persona *p, int64_t now_ms,
                 const struct persona_ops *ops)
{
    enter(p, PS_STOPPING, now_ms, ops);
    ops->stop(p, ops->ctx);
}

static void fail(struct persona *p, const char *reason, int64_t now_ms,
                 const struct persona_ops *ops)
{
    str_copy(p->last_error, sizeof p->last_error, reason);
    log_warn("persona=%s event=failed reason=\"%s\"", p->semantic, reason);
    enter(p, PS_FAILED, now_ms, ops);
    ops->note(p, ops->ctx);
}

static void settle(struct persona *p, int64_t now_ms,
                   const struct persona_ops *ops)
{
    if (p->want_up || p->restart_after)
        start(p, now_ms, ops);
    else
        enter(p, PS_STOPPED, now_ms, ops);
}

static void died(struct persona *p, int exit_code, int64_t now_ms,
                 const struct persona_ops *ops)
{
    p->last_exit = exit_code;
    if (exit_code >= 0)
        str_fmt(p->last_error, sizeof p->last_error, "exited with %d",
                exit_code);
    else
        str_copy(p->last_error, sizeof p->last_error, "died");
    log_warn("persona=%s event=died exit=%d ran_ms=%lld", p->semantic,
             exit_code, (long long)(now_ms - p->run_since_ms));
    if (!p->want_up) {
        enter(p, PS_STOPPED, now_ms, ops);
        ops->note(p, ops->ctx);
        return;
    }
    bool ran_ok = now_ms - p->run_since_ms >= PERSONA_RAN_OK_MS;
    if (ran_ok) {
        p->deaths = 0;
        p->backoff_ms = PERSONA_BACKOFF_MS_MIN;
    }
    p->deaths++;
    if (p->deaths > PERSONA_RESTART_LIMIT) {
        char why[PERSONA_ERROR_BYTES_MAX];
        str_fmt(why, sizeof why, "%s; restart limit %d reached",
                p->last_error, PERSONA_RESTART_LIMIT);
        fail(p, why, now_ms, ops);
        return;
    }
    if (ran_ok) {
        start(p, now_ms, ops);
        return;
    }
    p->timer_ms = now_ms + p->backoff_ms;
    p->backoff_ms = p->backoff_ms * 2 > PERSONA_BACKOFF_MS_MAX
                        ? PERSONA_BACKOFF_MS_MAX
                        : p->backoff_ms * 2;
    enter(p, PS_BACKOFF, now_ms, ops);
    ops->note(p, ops->ctx);
}

/* ---- events by state ---------------------------------------------------- */

static void on_job_ok(struct persona *p, const struct persona_arg *arg,
                      int64_t now_ms, const struct persona_ops *ops)
{
    switch (p->state) {
    case PS_CREATING:
    case PS_RESETTING:
        if (p->state == PS_RESETTING)
            p->resets++;
        settle(p, now_ms, ops);
        return;
    case PS_STARTING:
        p->run_since_ms = now_ms;
        p->pid = arg != NULL ? arg->pid : 0;
        if (p->died_starting) {
            p->state = PS_RUNNING; /* it did run, briefly */
            died(p, p->died_exit, now_ms, ops);
        } else if (!p->want_up) {
            stop(p, now_ms, ops);
        } else {
            enter(p, PS_RUNNING, now_ms, ops);
        }
        return;
    case PS_STOPPING:
        if (p->stop_reason[0] != '\0') {
            char why[PERSONA_ERROR_BYTES_MAX];
            str_copy(why, sizeof why, p->stop_reason);
            p->stop_reason[0] = '\0';
            p->restart_after = false;
            fail(p, why, now_ms, ops);
            return;
        }
        settle(p, now_ms, ops);
        return;
    case PS_REMOVING:
        ops->removed(p, ops->ctx);
        return;
    default:
        BAY0_ASSERT(!"job answer outside a busy state");
    }
}

static void on_job_failed(struct persona *p, const char *reason,
                          int64_t now_ms, const struct persona_ops *ops)
{
    BAY0_ASSERT(persona_busy(p));
    p->restart_after = false;
    if (p->state == PS_CREATING) {
        str_copy(p->last_error, sizeof p->last_error, reason);
        ops->removed(p, ops->ctx); /* the job took its row back out */
        return;
    }
    if (p->state == PS_STARTING && p->died_starting)
        p->died_starting = false;
    fail(p, reason, now_ms, ops);
}

static void on_job_timeout(struct persona *p, int64_t now_ms,
                           const struct persona_ops *ops)
{
    BAY0_ASSERT(persona_busy(p));
    char why[PERSONA_ERROR_BYTES_MAX];
    str_fmt(why, sizeof why, "%s timed out: outcome unknown",
            p->state == PS_CREATING    ? "create"
            : p->state == PS_STARTING  ? "start"
            : p->state == PS_STOPPING  ? "stop"
            : p->state == PS_RESETTING ? "reset"
                                       : "rm");
    if (p->state == PS_CREATING) { /* converge: take it all back out */
        str_copy(p->last_error, sizeof p->last_error, why);
        enter(p, PS_REMOVING, now_ms, ops);
        ops->remove(p, ops->ctx);
        return;
    }
    if (p->state == PS_STARTING) { /* converge to stopped, then FAILED */
        str_copy(p->stop_reason, sizeof p->stop_reason, why);
        stop(p, now_ms, ops);
        return;
    }
    p->restart_after = false;
    fail(p, why, now_ms, ops);
}

static void on_want(struct persona *p, enum persona_event ev, int64_t now_ms,
                    const struct persona_ops *ops)
{
    bool idle = !persona_busy(p);
    if (ev == PE_WANT_UP || ev == PE_WANT_RESTART) {
        if (p->state == PS_REMOVING)
            return;
        p->want_up = true;
        if (p->state == PS_FAILED) {
            p->deaths = 0;
            p->backoff_ms = PERSONA_BACKOFF_MS_MIN;
        }
        if (ev == PE_WANT_RESTART && p->state == PS_RUNNING) {
            p->restart_after = true;
            stop(p, now_ms, ops);
        } else if (ev == PE_WANT_RESTART && p->state == PS_STOPPING) {
            p->restart_after = true;
        } else if (idle && p->state != PS_RUNNING) {
            start(p, now_ms, ops);
        }
        return;
    }
    BAY0_ASSERT(ev == PE_WANT_DOWN);
    if (p->state == PS_REMOVING)
        return;
    p->want_up = false;
    p->restart_after = false;
    /* from BACKOFF and FAILED too: the stop job writes the intent before
     * the client hears "stopped" (and makes sure podman agrees) */
    if (p->state == PS_RUNNING || p->state == PS_BACKOFF ||
        p->state == PS_FAILED)
        stop(p, now_ms, ops);
}

void persona_on_event(struct persona *p, enum persona_event ev,
                      const struct persona_arg *arg, int64_t now_ms,
                      const struct persona_ops *ops)
{
    BAY0_ASSERT((unsigned)p->state < PS_COUNT && (unsigned)ev < PE_COUNT);
    log_debug("persona=%s event=%s state=%s", p->semantic,
              persona_event_name(ev), persona_state_name(p->state));
    switch (ev) {
    case PE_WANT_UP:
    case PE_WANT_DOWN:
    case PE_WANT_RESTART:
        on_want(p, ev, now_ms, ops);
        return;
    case PE_WANT_RESET:
    case PE_WANT_REMOVE:
        BAY0_ASSERT(!persona_busy(p));
        enter(p, ev == PE_WANT_RESET ? PS_RESETTING : PS_REMOVING, now_ms,
              ops);
        if (ev == PE_WANT_RESET)
            ops->reset(p, ops->ctx);
        else
            ops->remove(p, ops->ctx);
        return;
    case PE_JOB_OK:
        on_job_ok(p, arg, now_ms, ops);
        return;
    case PE_JOB_FAILED:
        on_job_failed(p, arg != NULL && arg->reason ? arg->reason : "failed",
                      now_ms, ops);
        return;
    case PE_JOB_TIMEOUT:
        on_job_timeout(p, now_ms, ops);
        return;
    case PE_DIED: {
        int code = arg != NULL ? arg->exit_code : -1;
        if (p->state == PS_RUNNING) {
            died(p, code, now_ms, ops);
        } else if (p->state == PS_STARTING) {
            p->died_starting = true;
            p->died_exit = code;
        }
        return;
    }
    case PE_TIMER:
        if (p->state == PS_BACKOFF && p->timer_ms != 0 && now_ms >= p->timer_ms)
            start(p, now_ms, ops);
        return;
    case PE_COUNT:
        break;
    }
    BAY0_ASSERT(!"unknown persona event");
}
