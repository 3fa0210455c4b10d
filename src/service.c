/* service.c — the service state machine. A service changes state here and
 * nowhere else: every event, configuration changes included, goes through
 * service_dispatch(), which looks up transitions[state][event] and runs
 * that one small action. The table below is the code's table, cell for
 * cell (tests/unit/test_service_table.c checks this comment against it):
 *
 *  state\event WANT_UP WANT_DOWN WANT_RESTART DEPS_READY RUN_EXIT AUX_EXIT READY TIMER    CONFIG   CONFIG_ERROR
 *  DOWN        start   ->down    start_over   -          #        #        -     stale    reconfig fail_config
 *  WAITING     ->up    down      start_over   deps?spawn #        #        -     stale    reconfig fail_config
 *  STARTING    ->up    stop      restart      -          died     #        ready stale    reconfig stop_config
 *  UP          ->up    stop      restart      -          died     #        ready stale    reconfig stop_config
 *  READY       ->up    stop      restart      -          died     #        -     stale    reconfig stop_config
 *  STOPPING    ->up    ->down    ->up         -          died     #        -     kill_run reconfig stop_config
 *  FINISHING   ->up    ->down    ->up         -          #        aux_done -     kill_aux reconfig stop_config
 *  BACKOFF     spawn   down      spawn        -          #        #        -     retry    reconfig fail_config
 *  FAILED      start   down      start_over   -          #        #        -     stale    reconfig fail_config
 *
 *  #           impossible (no such process in that state): assertion.
 *  -           nothing to do (already there, or not meaningful).
 *  ->up/->down only the desired state changes; the transition under way
 *              completes first. ->down waits while a dependent still runs.
 *  start       forget past deaths and backoff, then: configuration error ?
 *              FAILED : dependencies ready ? spawn : WAITING.
 *  start_over  the same, keeping the backoff (restart of a resting service).
 *  spawn       run `run`: STARTING, or UP (longrun without readiness).
 *  stop        down-signal + SIGCONT to the group, deadline timeout-kill
 *              (STOPPING); a done oneshot runs `undo` (FINISHING) or goes
 *              DOWN. Waits while a dependent still runs.
 *  restart     stop, wanting up; a done oneshot runs again.
 *  down        DOWN, deadline cleared.
 *  died        record the exit, SIGKILL what is left of the group and the
 *              cgroup, run `finish` (FINISHING) or go to aux_done's verdict.
 *  aux_done    finish/undo exited: SIGKILL its leftovers, then decide from
 *              the desired state, the restart policy, finish's verdict
 *              (125 = stay down) and the restart limit: DOWN, FAILED,
 *              BACKOFF (100 ms doubling to 5 s), or spawn at once.
 *  ready       READY (readiness seen: fd newline or READY=1).
 *  kill_run    timeout-kill passed: SIGKILL the run's group.
 *  kill_aux    timeout-finish passed: SIGKILL finish/undo's group.
 *  retry       backoff over: dependencies ready ? spawn : WAITING.
 *  stale       a deadline for a state already left: clear it.
 *  reconfig    take the new definition; after a configuration error start
 *              again (FAILED -> DOWN, then WANT_UP unless `down`); a
 *              changed run file restarts a running service.
 *  fail_config note the error, FAILED.
 *  stop_config note the error; a run process is stopped (WANT_DOWN's
 *              cell), finish/undo completes, a done oneshot is FAILED.
 *
 * The machine reads no clock and starts, signals and reaps nothing by
 * itself: `now` comes with each event and the world is reached through
 * struct service_ops (real by default; unit tests put fakes there).
 * Never blocks (spawning reads the service's env/ only), never allocates.
 */
#include "service.h"

#include "analyze.h"
#include "cgroup.h"
#include "contain.h"
#include "depgraph.h"
#include "loop.h"
#include "deaths.h"
#include "log.h"
#include "logger.h"
#include "spawn.h"
#include "svcmap.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the world, through ops -------------------------------------------- */

static const struct service_ops *ops;
static struct service_hooks hooks;

void service_set_hooks(const struct service_hooks *h) { hooks = *h; }

/* Every state change goes through here; a respawn into the same state
 * (UP -> UP after a crash) is still reported, since the pid changed. */
static void set_state_always(struct svc *s, enum svc_state st)
{
    BAY0_ASSERT(st < ST_COUNT);
    enum svc_state old = s->state;
    s->state = (uint8_t)st;
    s->since_wall_ms = ops->wall_ns() / 1000000;
    if (hooks.state_changed)
        hooks.state_changed(s, old);
}

static void set_state(struct svc *s, enum svc_state st)
{
    if (s->state != st)
        set_state_always(s, st);
}

static void set_reason(struct svc *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void svc_path(const struct svc *s, char *buf, size_t size);

/* "cannot start run: ..." naming a missing #! interpreter (util.c). */
static void set_exec_reason(struct svc *s, int err)
{
    char path[SPAWN_PATH_BYTES_MAX];
    svc_path(s, path, sizeof path - 4);
    str_appendf(path, sizeof path, strlen(path), "/run");
    exec_failure_text("run", path, err, s->reason, sizeof s->reason);
}
static void set_reason(struct svc *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof s->reason, fmt, ap);
    va_end(ap);
}

/* svc.deadline_ms, svc.pid and svc.aux_pid change only here, so the
 * deadline heap and the pid map (svcmap.c) always agree with the table. */
static void set_deadline(struct svc *s, int64_t deadline_ms)
{
    s->deadline_ms = deadline_ms;
    svcmap_deadline_set((uint32_t)svc_index(s), deadline_ms);
}

static void set_run_pid(struct svc *s, pid_t pid)
{
    BAY0_ASSERT((pid == 0) != (s->pid == 0));
    if (s->pid)
        svcmap_pid_del(s->pid);
    s->pid = pid;
    if (pid)
        svcmap_pid_put(pid, (uint32_t)svc_index(s), false);
}

static void set_aux_pid(struct svc *s, pid_t pid)
{
    BAY0_ASSERT((pid == 0) != (s->aux_pid == 0));
    if (s->aux_pid)
        svcmap_pid_del(s->aux_pid);
    s->aux_pid = pid;
    if (pid)
        svcmap_pid_put(pid, (uint32_t)svc_index(s), true);
}

/* The timeline (svc.h) on CLOCK_BOOTTIME: each milestone's first time,
 * and the latest start's. A spawn after a run already spawned (a restart)
 * opens a new latest start, wanted when the old run exited. */
static void stamp(struct svc *s, enum svc_stamp k, int64_t now_ms)
{
    analyze_stamp(s->stamp_first, s->stamp_last, k, ops->boot_us ? ops->boot_us() : now_ms * 1000);
}

/* ---- spawning -------------------------------------------------------- */

static bool open_ready_pipe(struct svc *s, int *child_end)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return false;
    s->ready_fd = fds[0];
    *child_end = fds[1];
    return true;
}

static void close_ready_pipe(struct svc *s)
{
    if (s->ready_fd >= 0) {
        sup_unwatch_fd(s->ready_fd);
        close(s->ready_fd);
        s->ready_fd = -1;
    }
}

static void spawn_failed(struct svc *s, int64_t now_ms);

static void spawn_run(struct svc *s, int64_t now_ms)
{
    int child_ready = -1;
    if (s->def.readiness == SVC_READY_FD && !open_ready_pipe(s, &child_ready)) {
        set_reason(s, "cannot create readiness pipe: %s", strerror(errno));
        spawn_failed(s, now_ms);
        return;
    }
    stamp(s, STAMP_SPAWNED, now_ms);
    static const char *const argv[] = {"./run", NULL};
    pid_t pid = ops->spawn(s, "./run", argv, child_ready, s->def.notification_fd);
    int spawn_errno = errno;
    if (child_ready >= 0)
        close(child_ready);
    if (pid < 0) {
        close_ready_pipe(s);
        set_exec_reason(s, spawn_errno);
        spawn_failed(s, now_ms);
        return;
    }
    if (s->generation > 0)
        s->restarts++;
    s->generation++;
    set_run_pid(s, pid);
    s->stop_requested = false;
    s->ready = false;
    s->reason[0] = '\0';
    s->started_mono_ms = now_ms;
    stamp(s, STAMP_UP, now_ms);
    set_deadline(s, 0);
    if (s->ready_fd >= 0)
        sup_watch_fd(s->ready_fd, WATCH_READY, svc_index(s));
    log_info("svc=%s event=started pid=%d generation=%u", s->name, pid,
             s->generation);
    if (s->def.readiness == SVC_READY_NONE && s->def.type == SVC_TYPE_LONGRUN) {
        s->ready = true;
        stamp(s, STAMP_READY, now_ms);
        set_state_always(s, ST_UP);
    } else {
        set_state_always(s, ST_STARTING);
    }
}

/* ---- dependencies ----------------------------------------------------- */

static bool deps_ready(const struct svc *s)
{
    BAY0_ASSERT(s->dep_count == 0 || s->dep_first + s->dep_count <= sup.dep_edges_used);
    for (uint32_t i = 0; i < s->dep_count; i++) {
        int32_t d = sup.dep_edges[s->dep_first + i];
        if (d == SVC_NONE || !svc_is_ready(&sup.svcs[d]))
            return false;
    }
    return true;
}

static void want_up(struct svc *s, int64_t now_ms)
{
    s->want_up = true;
    stamp(s, STAMP_WANTED, now_ms);
    if (s->config_error) {
        set_state(s, ST_FAILED);
        return;
    }
    s->stop_deferred = false;
    if (deps_ready(s)) {
        spawn_run(s, now_ms);
        return;
    }
    set_state(s, ST_WAITING);
}

/* WANT_DOWN's first step in every state: not wanted any more, and a
 * running service waits for what needs it (the loop sends WANT_DOWN again
 * when that changes). True when the stop waits. */
static bool stop_waits_for_dependents(struct svc *s)
{
    s->want_up = false;
    if (svc_is_running(s) && sup_has_running_dependents(s)) {
        if (!s->stop_deferred)
            log_info("svc=%s event=stop-deferred reason=\"dependents still running\"", s->name);
        s->stop_deferred = true;
        return true;
    }
    s->stop_deferred = false;
    return false;
}

/* ---- stopping and dying ----------------------------------------------- */

static void begin_stop(struct svc *s, int64_t now_ms)
{
    BAY0_ASSERT(s->pid > 0);
    close_ready_pipe(s);
    log_info("svc=%s event=stopping pid=%d signal=%s", s->name, s->pid,
             signal_name(s->def.down_signal));
    ops->kill_leader(s->pid, s->def.down_signal); /* alive: not reaped yet */
    ops->kill_leader(s->pid, SIGCONT);
    s->stop_requested = true;
    set_deadline(s, s->def.timeout_kill_ms ? now_ms + s->def.timeout_kill_ms : 0);
    s->ready = false;
    set_state(s, ST_STOPPING);
}

_Static_assert(2LL * RESTART_LIMIT_WINDOW_S_MAX * 1000 < (1LL << 32),
               "a death's 32-bit time must tell apart two windows' worth of ms");

/* s's restart-limit ring (beside the table: see struct sup). */
static uint32_t *deaths_ring(const struct svc *s)
{
    return sup.deaths_ms[svc_index(s)];
}

static void death_ring_push(struct svc *s, int64_t now_ms)
{
    /* After a day without deaths none of the older ones counts for any
     * window, and emptying the ring keeps every gap in it under a day. */
    if (s->deaths_len && now_ms - s->last_death_ms > (int64_t)RESTART_LIMIT_WINDOW_S_MAX * 1000)
        s->deaths_len = 0;
    BAY0_ASSERT(s->deaths_head < RESTART_LIMIT_COUNT_MAX);
    deaths_ring(s)[s->deaths_head] = (uint32_t)now_ms;
    s->deaths_head = (uint8_t)((s->deaths_head + 1) % RESTART_LIMIT_COUNT_MAX);
    if (s->deaths_len < RESTART_LIMIT_COUNT_MAX)
        s->deaths_len++;
    s->last_death_ms = now_ms;
}

static void record_death(struct svc *s, int status, int64_t now_ms)
{
    if (WIFSIGNALED(status)) {
        s->exit_kind = EXIT_SIGNAL;
        s->exit_value = (int16_t)WTERMSIG(status);
    } else {
        s->exit_kind = EXIT_CODE;
        s->exit_value = (int16_t)WEXITSTATUS(status);
    }
    if (!s->stop_requested) /* a requested stop is no death for the limit */
        death_ring_push(s, now_ms);
}

/* Deaths within the window, newest first: the walk stops at the first one
 * outside it, so an age is only ever taken across gaps under a day (the
 * 32-bit times are exact there). */
static uint32_t deaths_within(const struct svc *s, int64_t window_ms, int64_t now_ms)
{
    BAY0_ASSERT(s->deaths_len <= RESTART_LIMIT_COUNT_MAX && window_ms >= 0);
    if (s->deaths_len == 0 || now_ms - s->last_death_ms > window_ms)
        return 0;
    const uint32_t *ring = deaths_ring(s);
    uint32_t n = 0;
    for (uint32_t k = 0; k < s->deaths_len; k++) {
        uint32_t i = (s->deaths_head + RESTART_LIMIT_COUNT_MAX - 1 - k) % RESTART_LIMIT_COUNT_MAX;
        if ((uint32_t)now_ms - ring[i] > (uint64_t)window_ms)
            break;
        n++;
    }
    return n;
}

static void after_aux(struct svc *s, int64_t now_ms);

static void spawn_aux(struct svc *s, const char *prog, const char *const *argv,
                      int64_t now_ms)
{
    pid_t pid = ops->spawn(s, prog, argv, -1, 0);
    if (pid < 0) {
        log_error("svc=%s event=aux-failed prog=%s error=\"%s\"", s->name, prog,
                  strerror(errno));
        s->aux_code = -1;
        after_aux(s, now_ms);
        return;
    }
    set_aux_pid(s, pid);
    set_deadline(s, s->def.timeout_finish_ms ? now_ms + s->def.timeout_finish_ms : 0);
    set_state(s, ST_FINISHING);
}

static void run_finish(struct svc *s, pid_t pgid_of_run, int64_t now_ms)
{
    char code[16], sig[16], pgid[16];
    snprintf(code, sizeof code, "%d", s->exit_kind == EXIT_SIGNAL ? 256 : s->exit_value);
    snprintf(sig, sizeof sig, "%d", s->exit_kind == EXIT_SIGNAL ? s->exit_value : 0);
    snprintf(pgid, sizeof pgid, "%d", (int)pgid_of_run);
    const char *argv[] = {"./finish", code, sig, s->name, pgid, NULL};
    spawn_aux(s, "./finish", argv, now_ms);
}

/* The death for `bay0 deaths`, taken when it happened and written once
 * the restart is under way (the write never delays it). */
static struct deaths_entry death_of(const struct svc *s)
{
    return (struct deaths_entry){
        .wall_ns = ops->wall_ns(),
        .kind = s->exit_kind == EXIT_SIGNAL ? DEATH_KIND_SIGNAL : DEATH_KIND_CODE,
        .value = s->exit_value,
    };
}

static void log_exit(const struct svc *s, pid_t pgid, int64_t now_ms)
{
    long long uptime_ms = (long long)(now_ms - s->started_mono_ms);
    if (s->exit_kind == EXIT_SIGNAL)
        log_info("svc=%s event=exited pid=%d signal=%s uptime_ms=%lld", s->name,
                 pgid, signal_name(s->exit_value), uptime_ms);
    else
        log_info("svc=%s event=exited pid=%d code=%d uptime_ms=%lld", s->name,
                 pgid, s->exit_value, uptime_ms);
}

static void died(struct svc *s, int status, int64_t now_ms)
{
    BAY0_ASSERT(s->pid > 0);
    pid_t pgid = s->pid;
    record_death(s, status, now_ms);
    stamp(s, STAMP_EXITED, now_ms);
    const struct deaths_entry death = death_of(s);
    close_ready_pipe(s);
    int exec_errno = ops->exec_error(s);
    if (exec_errno) { /* the child never got to run: report it as such */
        set_exec_reason(s, exec_errno);
        log_error("svc=%s event=spawn-failed error=\"%s\"", s->name, s->reason);
    }
    s->exec_failed = exec_errno != 0;
    /* Nothing of a dead service survives it: its process group goes, and
     * its cgroup (what left the group with setsid) too. */
    ops->kill_group(pgid, SIGKILL);
    ops->kill_cgroup(s);
    logger_instance_ended(s); /* its output is complete: end a partial line */
    log_exit(s, pgid, now_ms);
    s->ready = false;
    s->aux_code = 0;
    set_deadline(s, 0);
    set_run_pid(s, 0);
    if (s->def.has_finish && s->def.type == SVC_TYPE_LONGRUN)
        run_finish(s, pgid, now_ms);
    else
        after_aux(s, now_ms);
    deaths_record((uint32_t)svc_index(s), s->name, s->def.max_death_tally, &death);
}

static void enter_backoff(struct svc *s, int64_t now_ms)
{
    uint32_t delay = s->backoff_ms ? s->backoff_ms : SVC_RESTART_DELAY_MS_MIN;
    s->backoff_ms = delay * 2 > SVC_RESTART_DELAY_MS_MAX ? SVC_RESTART_DELAY_MS_MAX : delay * 2;
    set_deadline(s, now_ms + delay);
    log_info("svc=%s event=backoff delay_ms=%u", s->name, delay);
    set_state(s, ST_BACKOFF);
}

static void fail(struct svc *s, const char *what)
{
    log_warn("svc=%s event=failed reason=\"%s\"", s->name, what);
    set_state(s, ST_FAILED);
}

/* Failed for good because the run could not even start: keep that
 * reason (it says what to fix) and say the limit was reached. */
static void fail_cannot_start(struct svc *s)
{
    char why[SERVICE_REASON_BYTES_MAX];
    snprintf(why, sizeof why, "%.120s (restart limit reached)", s->reason);
    str_copy(s->reason, sizeof s->reason, why);
    fail(s, s->reason);
}

static bool restart_limit_reached(const struct svc *s, int64_t now_ms, uint32_t *recent)
{
    *recent = deaths_within(s, (int64_t)s->def.restart_limit_window_s * 1000, now_ms);
    return s->def.restart_limit_count != RESTART_LIMIT_NONE &&
           *recent >= s->def.restart_limit_count;
}

/* A start that never got to run counts as a death for the restart limit,
 * so a missing interpreter ends in `failed`, not in backoff forever. */
static void spawn_failed(struct svc *s, int64_t now_ms)
{
    log_error("svc=%s event=spawn-failed error=\"%s\"", s->name, s->reason);
    s->stop_requested = false;
    death_ring_push(s, now_ms);
    uint32_t recent;
    if (restart_limit_reached(s, now_ms, &recent))
        fail_cannot_start(s);
    else
        enter_backoff(s, now_ms);
}

static bool exit_clean(const struct svc *s)
{
    return s->exit_kind == EXIT_CODE && s->exit_value == 0;
}

static void oneshot_done(struct svc *s, int64_t now_ms)
{
    if (exit_clean(s)) {
        s->ready = true;
        stamp(s, STAMP_READY, now_ms);
        s->reason[0] = '\0';
        set_state(s, ST_UP);
        return;
    }
    if (s->exit_kind == EXIT_SIGNAL)
        set_reason(s, "oneshot killed by %s", signal_name(s->exit_value));
    else
        set_reason(s, "oneshot exited %d", s->exit_value);
    fail(s, s->reason);
}

/* restart never, or on-failure after a clean exit: stays down. */
static void restart_policy_stop(struct svc *s)
{
    s->want_up = false;
    if (exit_clean(s)) {
        set_state(s, ST_DOWN);
        return;
    }
    if (s->exit_kind == EXIT_SIGNAL)
        set_reason(s, "killed by %s (restart=never)", signal_name(s->exit_value));
    else
        set_reason(s, "exited %d (restart=never)", s->exit_value);
    fail(s, s->reason);
}

/* A crash of a wanted service: fail at the restart limit, else spawn at
 * once after a healthy run, else back off. */
static void after_crash(struct svc *s, int64_t now_ms)
{
    uint32_t recent;
    if (restart_limit_reached(s, now_ms, &recent)) {
        if (s->exec_failed) {
            fail_cannot_start(s);
            return;
        }
        set_reason(s, "restart limit: %u deaths in %u s", recent,
                   s->def.restart_limit_window_s);
        fail(s, s->reason);
        return;
    }
    if (now_ms - s->started_mono_ms >= SVC_HEALTHY_UPTIME_MS) {
        s->backoff_ms = 0;
        spawn_run(s, now_ms);
        return;
    }
    enter_backoff(s, now_ms);
}

/* Decides what follows a death once finish (if any) is done. */
static void after_aux(struct svc *s, int64_t now_ms)
{
    set_deadline(s, 0);
    if (s->state == ST_FINISHING && !s->want_up && s->def.type == SVC_TYPE_ONESHOT) {
        set_state(s, ST_DOWN); /* the oneshot's undo ran */
        return;
    }
    bool requested = s->stop_requested;
    s->stop_requested = false;
    if (s->def.type == SVC_TYPE_ONESHOT && s->want_up && !requested) {
        oneshot_done(s, now_ms);
        return;
    }
    if (!s->want_up || sup.shutting_down) {
        set_state(s, s->config_error ? ST_FAILED : ST_DOWN);
        return;
    }
    if (s->aux_code == 125) {
        s->want_up = false;
        set_reason(s, "finish exited 125: stay down");
        log_info("svc=%s event=stay-down reason=\"%s\"", s->name, s->reason);
        set_state(s, ST_DOWN);
        return;
    }
    if (requested) { /* a restart, or start after stop: up at once */
        s->backoff_ms = 0;
        spawn_run(s, now_ms);
        return;
    }
    bool clean = exit_clean(s);
    if (s->def.restart == SVC_RESTART_NEVER ||
        (s->def.restart == SVC_RESTART_ON_FAILURE && clean)) {
        restart_policy_stop(s);
        return;
    }
    after_crash(s, now_ms);
}

/* ---- the actions: one per table cell kind ------------------------------ */

typedef void (*service_action_fn)(struct svc *s, const struct svc_input *in);

static void dispatch(struct svc *s, enum svc_event ev, const struct svc_input *in);

static void act_start(struct svc *s, const struct svc_input *in)
{
    s->deaths_len = 0;
    s->backoff_ms = 0;
    want_up(s, in->now_ms);
}

static void act_start_over(struct svc *s, const struct svc_input *in)
{
    s->want_up = true;
    s->deaths_len = 0;
    want_up(s, in->now_ms);
}

static void act_want_up(struct svc *s, const struct svc_input *in)
{
    (void)in;
    s->want_up = true;
}

static void act_want_down(struct svc *s, const struct svc_input *in)
{
    (void)in;
    (void)stop_waits_for_dependents(s);
}

static void act_down(struct svc *s, const struct svc_input *in)
{
    (void)in;
    if (stop_waits_for_dependents(s))
        return;
    set_deadline(s, 0);
    set_state(s, ST_DOWN);
}

static void act_spawn(struct svc *s, const struct svc_input *in)
{
    s->want_up = true;
    spawn_run(s, in->now_ms);
}

static void act_stop(struct svc *s, const struct svc_input *in)
{
    if (stop_waits_for_dependents(s))
        return;
    if (s->def.type == SVC_TYPE_ONESHOT && s->pid == 0) { /* done: undo it */
        s->ready = false;
        if (s->def.has_undo) {
            static const char *const argv[] = {"./undo", NULL};
            spawn_aux(s, "./undo", argv, in->now_ms);
            return;
        }
        set_state(s, ST_DOWN);
        return;
    }
    begin_stop(s, in->now_ms);
}

static void act_restart(struct svc *s, const struct svc_input *in)
{
    s->want_up = true;
    if (s->pid > 0) {
        begin_stop(s, in->now_ms);
        return;
    }
    s->ready = false; /* a done oneshot: run it again */
    set_state(s, ST_DOWN);
    want_up(s, in->now_ms);
}

/* "Maybe ready": the loop asks after any change. */
static void act_deps_ready(struct svc *s, const struct svc_input *in)
{
    if (s->want_up && deps_ready(s))
        spawn_run(s, in->now_ms);
}

static void act_died(struct svc *s, const struct svc_input *in)
{
    died(s, in->status, in->now_ms);
}

static void act_aux_done(struct svc *s, const struct svc_input *in)
{
    BAY0_ASSERT(s->aux_pid > 0);
    ops->kill_group(s->aux_pid, SIGKILL); /* what finish left behind */
    ops->kill_cgroup(s);
    logger_instance_ended(s); /* its output is complete: end a partial line */
    set_aux_pid(s, 0);
    s->aux_code = (int16_t)(WIFEXITED(in->status) ? WEXITSTATUS(in->status) : -1);
    after_aux(s, in->now_ms);
}

static void act_ready(struct svc *s, const struct svc_input *in)
{
    close_ready_pipe(s);
    s->ready = true;
    stamp(s, STAMP_READY, in->now_ms);
    s->backoff_ms = 0;
    log_info("svc=%s event=ready pid=%d", s->name, s->pid);
    set_state(s, ST_READY);
}

static void act_stale(struct svc *s, const struct svc_input *in)
{
    (void)in;
    set_deadline(s, 0);
}

static void act_kill_run(struct svc *s, const struct svc_input *in)
{
    (void)in;
    set_deadline(s, 0);
    log_warn("svc=%s event=kill-timeout pid=%d timeout_ms=%u", s->name,
             s->pid, s->def.timeout_kill_ms);
    ops->kill_leader(s->pid, SIGKILL);
}

static void act_kill_aux(struct svc *s, const struct svc_input *in)
{
    (void)in;
    set_deadline(s, 0);
    log_warn("svc=%s event=finish-timeout pid=%d timeout_ms=%u", s->name,
             s->aux_pid, s->def.timeout_finish_ms);
    ops->kill_leader(s->aux_pid, SIGKILL);
}

static void act_retry(struct svc *s, const struct svc_input *in)
{
    set_deadline(s, 0);
    if (deps_ready(s))
        spawn_run(s, in->now_ms);
    else
        set_state(s, ST_WAITING);
}

static void act_reconfig(struct svc *s, const struct svc_input *in)
{
    BAY0_ASSERT(in->def != NULL);
    bool was_error = s->config_error;
    bool run_changed = !svc_file_sig_equal(&s->def.run_sig, &in->def->run_sig);
    s->def = *in->def;
    s->config_error = false;
    if (was_error) {
        s->reason[0] = '\0';
        if (s->state == ST_FAILED)
            set_state(s, ST_DOWN);
        if (!in->def->down_file)
            dispatch(s, EV_WANT_UP, in);
        return;
    }
    if (run_changed && s->pid > 0) {
        log_info("svc=%s event=run-changed", s->name);
        dispatch(s, EV_WANT_RESTART, in);
    }
}

static void note_config_error(struct svc *s, const char *error)
{
    BAY0_ASSERT(error != NULL);
    bool first = !s->config_error || strcmp(s->reason, error) != 0;
    s->config_error = true;
    str_copy(s->reason, sizeof s->reason, error);
    if (first)
        log_error("svc=%s event=config-error reason=\"%s\"", s->name, error);
}

static void act_fail_config(struct svc *s, const struct svc_input *in)
{
    note_config_error(s, in->error);
    set_state(s, ST_FAILED);
}

static void act_stop_config(struct svc *s, const struct svc_input *in)
{
    note_config_error(s, in->error);
    if (s->pid > 0) {
        dispatch(s, EV_WANT_DOWN, in);
        return;
    }
    if (s->aux_pid == 0) /* a done oneshot; finish/undo completes first */
        set_state(s, ST_FAILED);
}

static void act_impossible(struct svc *s, const struct svc_input *in)
{
    (void)in;
    log_error("svc=%s event=impossible-transition state=%s", s->name,
              svc_state_name(s->state));
    BAY0_ASSERT(!"impossible (state, event) pair: no such process in that state");
}

/* ---- the table ---------------------------------------------------------- */

struct transition {
    service_action_fn fn; /* NULL: nothing to do */
    const char *name;     /* the cell in the header comment */
};

#define IGNORE {NULL, "-"}
#define NEVER {act_impossible, "#"}
#define DO(fn, name) {act_##fn, name}

static const struct transition transitions[ST_COUNT][EV_COUNT] = {
    [ST_DOWN] = {DO(start, "start"), DO(want_down, "->down"), DO(start_over, "start_over"),
                 IGNORE, NEVER, NEVER, IGNORE, DO(stale, "stale"),
                 DO(reconfig, "reconfig"), DO(fail_config, "fail_config")},
    [ST_WAITING] = {DO(want_up, "->up"), DO(down, "down"), DO(start_over, "start_over"),
                    DO(deps_ready, "deps?spawn"), NEVER, NEVER, IGNORE, DO(stale, "stale"),
                    DO(reconfig, "reconfig"), DO(fail_config, "fail_config")},
    [ST_STARTING] = {DO(want_up, "->up"), DO(stop, "stop"), DO(restart, "restart"),
                     IGNORE, DO(died, "died"), NEVER, DO(ready, "ready"), DO(stale, "stale"),
                     DO(reconfig, "reconfig"), DO(stop_config, "stop_config")},
    [ST_UP] = {DO(want_up, "->up"), DO(stop, "stop"), DO(restart, "restart"),
               IGNORE, DO(died, "died"), NEVER, DO(ready, "ready"), DO(stale, "stale"),
               DO(reconfig, "reconfig"), DO(stop_config, "stop_config")},
    [ST_READY] = {DO(want_up, "->up"), DO(stop, "stop"), DO(restart, "restart"),
                  IGNORE, DO(died, "died"), NEVER, IGNORE, DO(stale, "stale"),
                  DO(reconfig, "reconfig"), DO(stop_config, "stop_config")},
    [ST_STOPPING] = {DO(want_up, "->up"), DO(want_down, "->down"), DO(want_up, "->up"),
                     IGNORE, DO(died, "died"), NEVER, IGNORE, DO(kill_run, "kill_run"),
                     DO(reconfig, "reconfig"), DO(stop_config, "stop_config")},
    [ST_FINISHING] = {DO(want_up, "->up"), DO(want_down, "->down"), DO(want_up, "->up"),
                      IGNORE, NEVER, DO(aux_done, "aux_done"), IGNORE, DO(kill_aux, "kill_aux"),
                      DO(reconfig, "reconfig"), DO(stop_config, "stop_config")},
    [ST_BACKOFF] = {DO(spawn, "spawn"), DO(down, "down"), DO(spawn, "spawn"),
                    IGNORE, NEVER, NEVER, IGNORE, DO(retry, "retry"),
                    DO(reconfig, "reconfig"), DO(fail_config, "fail_config")},
    [ST_FAILED] = {DO(start, "start"), DO(down, "down"), DO(start_over, "start_over"),
                   IGNORE, NEVER, NEVER, IGNORE, DO(stale, "stale"),
                   DO(reconfig, "reconfig"), DO(fail_config, "fail_config")},
};

const char *service_transition_name(enum svc_state st, enum svc_event ev)
{
    if (st >= ST_COUNT || ev >= EV_COUNT)
        return NULL;
    return transitions[st][ev].name;
}

static void dispatch(struct svc *s, enum svc_event ev, const struct svc_input *in)
{
    BAY0_ASSERT(s->in_use);
    BAY0_ASSERT(s->state < ST_COUNT);
    BAY0_ASSERT((unsigned)ev < EV_COUNT);
    const struct transition *t = &transitions[s->state][ev];
    BAY0_ASSERT(t->name != NULL); /* every cell is filled in */
    log_debug("svc=%s state=%s event=%s action=%s", s->name, svc_state_name(s->state),
              svc_event_name(ev), t->name);
    if (t->fn)
        t->fn(s, in);
}

void service_dispatch(struct svc *s, enum svc_event ev, const struct svc_input *in)
{
    if (!ops)
        service_set_ops(NULL);
    dispatch(s, ev, in);
}

void service_on_event(struct svc *s, enum svc_event ev, int status)
{
    BAY0_ASSERT(ev != EV_CONFIG && ev != EV_CONFIG_ERROR); /* they carry a payload */
    if (!ops)
        service_set_ops(NULL);
    struct svc_input in = {.now_ms = ops->mono_ms(), .status = status};
    dispatch(s, ev, &in);
}

void service_apply_config(struct svc *s, const struct svc_def *def,
                          const char *error)
{
    BAY0_ASSERT((def == NULL) != (error == NULL));
    if (!ops)
        service_set_ops(NULL);
    struct svc_input in = {.now_ms = ops->mono_ms(), .def = def, .error = error};
    dispatch(s, error ? EV_CONFIG_ERROR : EV_CONFIG, &in);
}

/* ---- the real world ----------------------------------------------------- */

static void svc_path(const struct svc *s, char *buf, size_t size)
{
    bool ok = s->is_logger
                  ? str_fmt(buf, size, "%s/%s/log", sup.scandir, sup.svcs[s->parent].name)
                  : str_fmt(buf, size, "%s/%s", sup.scandir, s->name);
    BAY0_ASSERT(ok);
}

/* Where the run's stdout and stderr go: the service's log pipe. */
static int output_fd(struct svc *s, int *temp_fd)
{
    *temp_fd = -1;
    if (s->is_logger)
        return STDERR_FILENO;
    return logger_child_stdout(s, temp_fd);
}

static int input_fd(const struct svc *s)
{
    if (s->is_logger)
        return sup.svcs[s->parent].log_rfd;
    return sup.devnull_fd;
}

/* Cell for exec errors of s's run (2i) or finish/undo (2i+1). */
static volatile int *exec_cell(const struct svc *s, bool aux)
{
    return spawn_errno_cell((uint32_t)svc_index(s) * 2 + (aux ? 1 : 0));
}

static pid_t real_spawn(struct svc *s, const char *prog, const char *const *argv,
                        int extra_fd, int extra_target)
{
    char dir[SPAWN_PATH_BYTES_MAX];
    char cgroup[CGROUP_PATH_BYTES_MAX + 16], reason[SERVICE_REASON_BYTES_MAX];
    int temp_out;
    svc_path(s, dir, sizeof dir);
    struct contain contain; /* read once per start, for the cgroup and the child */
    const struct contain *c =
        spawn_contain_load(dir, s->def.may_have_contain, &contain, reason, sizeof reason);
    struct spawn_req req = {
        .dir = dir,
        .prog = prog,
        .argv = argv,
        .stdin_fd = input_fd(s),
        .stdout_fd = output_fd(s, &temp_out),
        .extra_fd = extra_fd,
        .extra_fd_target = extra_target,
        .notify_socket = s->def.readiness == SVC_READY_NOTIFY ? sup.notify_path : NULL,
        .service_name = s->is_logger ? sup.svcs[s->parent].name : s->name,
        .cgroup_fd = cgroup_prepare(s, c, cgroup, sizeof cgroup),
        .creds_files = s->def.may_have_creds,
        .contain = c,
        .contain_error = !c && reason[0] ? reason : NULL,
        .exec_errno = exec_cell(s, strcmp(prog, "./run") != 0),
    };
    req.cgroup_procs = req.cgroup_fd >= 0 ? cgroup : NULL;
    pid_t reap = 0;
    pid_t pid = spawn_start(&req, &reap);
    int spawn_errno = errno;
    if (req.cgroup_fd >= 0)
        close(req.cgroup_fd);
    if (temp_out >= 0)
        close(temp_out);
    if (pid < 0 && reap > 0)
        waitpid(reap, NULL, 0); /* exec failed: the child has exited */
    if (pid > 0 && hooks.spawned)
        hooks.spawned(s, pid, strcmp(prog, "./run") != 0);
    errno = spawn_errno;
    return pid;
}

static int real_exec_error(struct svc *s)
{
    volatile int *cell = exec_cell(s, false);
    if (!cell || !*cell)
        return 0;
    int err = *cell;
    *cell = 0;
    return err;
}

/* The group of a leader already reaped: never its pid, which may be
 * someone else's by now. */
static void real_kill_group(pid_t pgid, int sig)
{
    if (pgid > 0)
        kill(-pgid, sig);
}

static void real_kill_leader(pid_t leader, int sig) { (void)kill_leader_group(leader, sig); }

static int64_t real_wall_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static const struct service_ops real_ops = {
    .mono_ms = time_mono_ms,
    .boot_us = time_boot_us,
    .wall_ns = real_wall_ns,
    .spawn = real_spawn,
    .exec_error = real_exec_error,
    .kill_group = real_kill_group,
    .kill_leader = real_kill_leader,
    .kill_cgroup = cgroup_kill,
};

void service_set_ops(const struct service_ops *o)
{
    ops = o ? o : &real_ops;
    BAY0_ASSERT(ops->mono_ms && ops->wall_ns && ops->spawn && ops->exec_error &&
                ops->kill_group && ops->kill_leader && ops->kill_cgroup);
}
