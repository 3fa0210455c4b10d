/* service.c — the service state machine. A service changes state here and
 * nowhere else: service_on_event(svc, event, status).
 *
 *  state \ event  WANT_UP      WANT_DOWN      WANT_RESTART  DEPS_READY  RUN_EXIT    AUX_EXIT     READY   TIMER
 *  DOWN           deps?spawn   -              =WANT_UP      -           #           #            -       -
 *  WAITING        -            DOWN           =WANT_UP      deps?spawn  #           #            -       -
 *  STARTING       -            stop           stop(->up)    -           died        #            READY   -
 *  UP             -            stop*          stop(->up)*   -           died        #            READY   -
 *  READY          -            stop           stop(->up)    -           died        #            -       -
 *  STOPPING       (->up)       -              (->up)        -           died        #            -       SIGKILL
 *  FINISHING      (->up)       (->down)       (->up)        -           #           after_aux    -       SIGKILL aux
 *  BACKOFF        spawn        DOWN           spawn         -           #           #            -       deps?spawn:WAITING
 *  FAILED         deps?spawn   DOWN           =WANT_UP      -           #           #            -       -
 *
 *  "#": impossible (no such process in that state) -> assertion.
 *  "*": a oneshot that is UP (done) runs `undo` on WANT_DOWN and runs
 *  again on WANT_RESTART; a stop waits while a dependent still runs.
 *  "-": ignored (already there, or not meaningful).
 *  "(->up)"/"(->down)": only the desired state changes; the current
 *  transition completes first.
 *  died: record the exit, kill what is left of the process group, run
 *  finish (FINISHING) or go straight to after_aux.
 *  after_aux: decide between DOWN, FAILED, BACKOFF and a new spawn from the
 *  desired state, the restart policy, finish's verdict (125 = stay down)
 *  and the restart limit.
 *
 * Never blocks (spawning reads the service's env/ only), never allocates.
 */
#include "svc.h"

#include "cgroup.h"
#include "deaths.h"
#include "log.h"
#include "logger.h"
#include "spawn.h"
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

struct sup sup;

static const char *const state_names[ST_COUNT] = {
    "down",     "waiting",   "starting", "up",     "ready",
    "stopping", "finishing", "backoff",  "failed",
};
static const char *const event_names[EV_COUNT] = {
    "want-up",  "want-down", "want-restart", "deps-ready",
    "run-exit", "aux-exit",  "ready",        "timer",
};

const char *svc_state_name(enum svc_state st)
{
    return st < ST_COUNT ? state_names[st] : "?";
}
const char *svc_event_name(enum svc_event ev)
{
    return ev < EV_COUNT ? event_names[ev] : "?";
}

struct svc *svc_find(const char *name)
{
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        struct svc *s = &sup.svcs[i];
        if (s->in_use && !s->is_logger && strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

struct svc *svc_by_pid(pid_t pid, bool *is_aux)
{
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        struct svc *s = &sup.svcs[i];
        if (!s->in_use)
            continue;
        if (s->pid == pid) {
            *is_aux = false;
            return s;
        }
        if (s->aux_pid == pid) {
            *is_aux = true;
            return s;
        }
    }
    return NULL;
}

bool svc_is_running(const struct svc *s) { return s->pid != 0 || s->aux_pid != 0; }

bool svc_is_ready(const struct svc *s)
{
    return s->ready && (s->state == ST_UP || s->state == ST_READY);
}

/* Every state change goes through here; a respawn into the same state
 * (UP -> UP after a crash) is still reported, since the pid changed. */
static void set_state_always(struct svc *s, enum svc_state st)
{
    enum svc_state old = s->state;
    s->state = (uint8_t)st;
    s->since_wall_ms = time_wall_ms();
    sup_state_changed(s, old);
}

static void set_state(struct svc *s, enum svc_state st)
{
    if (s->state != st)
        set_state_always(s, st);
}

static void set_reason(struct svc *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_reason(struct svc *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof s->reason, fmt, ap);
    va_end(ap);
}

static void svc_path(const struct svc *s, char *buf, size_t size)
{
    bool ok = s->is_logger
                  ? str_fmt(buf, size, "%s/%s/log", sup.scandir, sup.svcs[s->parent].name)
                  : str_fmt(buf, size, "%s/%s", sup.scandir, s->name);
    BAY0_ASSERT(ok);
}

/* The group of a leader already reaped: never its pid, which may be
 * someone else's by now. */
static void kill_group(pid_t pgid, int sig)
{
    if (pgid > 0)
        kill(-pgid, sig);
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

static pid_t spawn_prog(struct svc *s, const char *prog, const char *const *argv,
                        int extra_fd, int extra_target)
{
    char dir[SPAWN_PATH_BYTES_MAX];
    char cgroup[CGROUP_PATH_BYTES_MAX + 16];
    int temp_out;
    svc_path(s, dir, sizeof dir);
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
        .cgroup_fd = cgroup_prepare(s, cgroup, sizeof cgroup),
        .creds_files = s->def.may_have_creds,
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
    errno = spawn_errno;
    if (pid < 0) {
        int err = errno;
        if (reap > 0)
            waitpid(reap, NULL, 0); /* exec failed: the child has exited */
        errno = err;
    }
    return pid;
}

static void enter_backoff(struct svc *s);
static void spawn_failed(struct svc *s);

static void spawn_run(struct svc *s)
{
    int child_ready = -1;
    if (s->def.readiness == SVC_READY_FD && !open_ready_pipe(s, &child_ready)) {
        set_reason(s, "cannot create readiness pipe: %s", strerror(errno));
        spawn_failed(s);
        return;
    }
    static const char *const argv[] = {"./run", NULL};
    pid_t pid = spawn_prog(s, "./run", argv, child_ready, s->def.notification_fd);
    if (child_ready >= 0)
        close(child_ready);
    if (pid < 0) {
        close_ready_pipe(s);
        set_reason(s, "cannot start run: %s", strerror(errno));
        spawn_failed(s);
        return;
    }
    if (s->generation > 0)
        s->restarts++;
    s->generation++;
    s->pid = pid;
    s->stop_requested = false;
    s->ready = false;
    s->reason[0] = '\0';
    s->started_mono_ms = time_mono_ms();
    s->deadline_ms = 0;
    if (s->ready_fd >= 0)
        sup_watch_fd(s->ready_fd, WATCH_READY, svc_index(s));
    log_info("svc=%s event=started pid=%d generation=%u", s->name, pid,
             s->generation);
    if (s->def.readiness == SVC_READY_NONE && s->def.type == SVC_TYPE_LONGRUN) {
        s->ready = true;
        set_state_always(s, ST_UP);
    } else {
        set_state_always(s, ST_STARTING);
    }
}

/* ---- dependencies ----------------------------------------------------- */

static bool deps_ready(const struct svc *s)
{
    for (uint32_t i = 0; i < s->dep_count; i++) {
        int32_t d = sup.dep_edges[s->dep_first + i];
        if (d == SVC_NONE || !svc_is_ready(&sup.svcs[d]))
            return false;
    }
    return true;
}

static void want_up(struct svc *s)
{
    s->want_up = true;
    if (s->config_error) {
        set_state(s, ST_FAILED);
        return;
    }
    s->stop_deferred = false;
    if (deps_ready(s)) {
        spawn_run(s);
        return;
    }
    set_state(s, ST_WAITING);
}

/* ---- stopping and dying ----------------------------------------------- */

static void begin_stop(struct svc *s)
{
    BAY0_ASSERT(s->pid > 0);
    close_ready_pipe(s);
    log_info("svc=%s event=stopping pid=%d signal=%s", s->name, s->pid,
             signal_name(s->def.down_signal));
    kill_leader_group(s->pid, s->def.down_signal); /* alive: not reaped yet */
    kill_leader_group(s->pid, SIGCONT);
    s->stop_requested = true;
    s->deadline_ms = s->def.timeout_kill_ms ? time_mono_ms() + s->def.timeout_kill_ms : 0;
    s->ready = false;
    set_state(s, ST_STOPPING);
}

static void death_ring_push(struct svc *s)
{
    s->deaths_ms[s->deaths_head] = time_mono_ms();
    s->deaths_head = (uint8_t)((s->deaths_head + 1) % RESTART_LIMIT_COUNT_MAX);
    if (s->deaths_len < RESTART_LIMIT_COUNT_MAX)
        s->deaths_len++;
}

static void record_death(struct svc *s, int status)
{
    if (WIFSIGNALED(status)) {
        s->exit_kind = EXIT_SIGNAL;
        s->exit_value = (int16_t)WTERMSIG(status);
    } else {
        s->exit_kind = EXIT_CODE;
        s->exit_value = (int16_t)WEXITSTATUS(status);
    }
    if (!s->stop_requested) /* a requested stop is no death for the limit */
        death_ring_push(s);
}

static uint32_t deaths_within(const struct svc *s, int64_t window_ms)
{
    int64_t now = time_mono_ms();
    uint32_t n = 0;
    for (uint8_t i = 0; i < s->deaths_len; i++)
        if (now - s->deaths_ms[i] <= window_ms)
            n++;
    return n;
}

static void after_aux(struct svc *s);

static void spawn_aux(struct svc *s, const char *prog, const char *const *argv)
{
    pid_t pid = spawn_prog(s, prog, argv, -1, 0);
    if (pid < 0) {
        log_error("svc=%s event=aux-failed prog=%s error=\"%s\"", s->name, prog,
                  strerror(errno));
        s->aux_code = -1;
        after_aux(s);
        return;
    }
    s->aux_pid = pid;
    s->deadline_ms = s->def.timeout_finish_ms ? time_mono_ms() + s->def.timeout_finish_ms : 0;
    set_state(s, ST_FINISHING);
}

static void run_finish(struct svc *s, pid_t pgid_of_run)
{
    char code[16], sig[16], pgid[16];
    snprintf(code, sizeof code, "%d", s->exit_kind == EXIT_SIGNAL ? 256 : s->exit_value);
    snprintf(sig, sizeof sig, "%d", s->exit_kind == EXIT_SIGNAL ? s->exit_value : 0);
    snprintf(pgid, sizeof pgid, "%d", (int)pgid_of_run);
    const char *argv[] = {"./finish", code, sig, s->name, pgid, NULL};
    spawn_aux(s, "./finish", argv);
}

/* The death for `bay0 deaths`, taken when it happened and written once
 * the restart is under way (the write never delays it). */
static struct deaths_entry death_of(const struct svc *s)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (struct deaths_entry){
        .wall_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec,
        .kind = s->exit_kind == EXIT_SIGNAL ? DEATH_KIND_SIGNAL : DEATH_KIND_CODE,
        .value = s->exit_value,
    };
}

static void died(struct svc *s, int status)
{
    BAY0_ASSERT(s->pid > 0);
    pid_t pgid = s->pid;
    record_death(s, status);
    const struct deaths_entry death = death_of(s);
    close_ready_pipe(s);
    volatile int *cell = exec_cell(s, false);
    if (cell && *cell) { /* the child never got to run: report it as such */
        set_reason(s, "cannot start run: %s", strerror(*cell));
        log_error("svc=%s event=spawn-failed error=\"%s\"", s->name, s->reason);
        s->exec_failed = true;
        *cell = 0;
    } else {
        s->exec_failed = false;
    }
    /* Nothing of a dead service survives it: its process group goes, and
     * its cgroup (what left the group with setsid) too. */
    kill_group(pgid, SIGKILL);
    cgroup_kill(s);
    if (s->exit_kind == EXIT_SIGNAL)
        log_info("svc=%s event=exited pid=%d signal=%s uptime_ms=%lld", s->name,
                 pgid, signal_name(s->exit_value),
                 (long long)(time_mono_ms() - s->started_mono_ms));
    else
        log_info("svc=%s event=exited pid=%d code=%d uptime_ms=%lld", s->name,
                 pgid, s->exit_value, (long long)(time_mono_ms() - s->started_mono_ms));
    s->ready = false;
    s->aux_code = 0;
    s->deadline_ms = 0;
    s->pid = 0;
    if (s->def.has_finish && s->def.type == SVC_TYPE_LONGRUN) {
        run_finish(s, pgid);
        deaths_record((uint32_t)svc_index(s), s->name, s->def.max_death_tally, &death);
        return;
    }
    after_aux(s);
    deaths_record((uint32_t)svc_index(s), s->name, s->def.max_death_tally, &death);
}

static void enter_backoff(struct svc *s)
{
    uint32_t delay = s->backoff_ms ? s->backoff_ms : SVC_RESTART_DELAY_MS_MIN;
    s->backoff_ms = delay * 2 > SVC_RESTART_DELAY_MS_MAX ? SVC_RESTART_DELAY_MS_MAX : delay * 2;
    s->deadline_ms = time_mono_ms() + delay;
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

/* A start that never got to run counts as a death for the restart limit,
 * so a missing interpreter ends in `failed`, not in backoff forever. */
static void spawn_failed(struct svc *s)
{
    log_error("svc=%s event=spawn-failed error=\"%s\"", s->name, s->reason);
    s->stop_requested = false;
    death_ring_push(s);
    if (deaths_within(s, (int64_t)s->def.restart_limit_window_s * 1000) >= s->def.restart_limit_count)
        fail_cannot_start(s);
    else
        enter_backoff(s);
}

static bool exit_clean(const struct svc *s)
{
    return s->exit_kind == EXIT_CODE && s->exit_value == 0;
}

static void oneshot_done(struct svc *s)
{
    if (exit_clean(s)) {
        s->ready = true;
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

/* Decides what follows a death once finish (if any) is done. */
static void after_aux(struct svc *s)
{
    s->deadline_ms = 0;
    if (s->state == ST_FINISHING && !s->want_up && s->def.type == SVC_TYPE_ONESHOT) {
        set_state(s, ST_DOWN); /* the oneshot's undo ran */
        return;
    }
    bool requested = s->stop_requested;
    s->stop_requested = false;
    if (s->def.type == SVC_TYPE_ONESHOT && s->want_up && !requested) {
        oneshot_done(s);
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
        spawn_run(s);
        return;
    }
    bool clean = exit_clean(s);
    if (s->def.restart == SVC_RESTART_NEVER ||
        (s->def.restart == SVC_RESTART_ON_FAILURE && clean)) {
        s->want_up = false;
        if (clean) {
            set_state(s, ST_DOWN);
            return;
        }
        if (s->exit_kind == EXIT_SIGNAL)
            set_reason(s, "killed by %s (restart=never)", signal_name(s->exit_value));
        else
            set_reason(s, "exited %d (restart=never)", s->exit_value);
        fail(s, s->reason);
        return;
    }
    uint32_t recent = deaths_within(s, (int64_t)s->def.restart_limit_window_s * 1000);
    if (recent >= s->def.restart_limit_count && s->exec_failed) {
        fail_cannot_start(s);
        return;
    }
    if (recent >= s->def.restart_limit_count) {
        set_reason(s, "restart limit: %u deaths in %u s", recent,
                   s->def.restart_limit_window_s);
        fail(s, s->reason);
        return;
    }
    if (time_mono_ms() - s->started_mono_ms >= SVC_HEALTHY_UPTIME_MS) {
        s->backoff_ms = 0;
        spawn_run(s);
        return;
    }
    enter_backoff(s);
}

/* ---- the transition function ------------------------------------------ */

static void on_run_exit(struct svc *s, int status)
{
    switch (s->state) {
    case ST_STARTING:
    case ST_UP:
    case ST_READY:
    case ST_STOPPING:
        died(s, status);
        return;
    default:
        BAY0_ASSERT(!"run exit in a state without a run process");
    }
}

static void on_aux_exit(struct svc *s, int status)
{
    BAY0_ASSERT(s->state == ST_FINISHING);
    kill_group(s->aux_pid, SIGKILL); /* what finish left behind */
    cgroup_kill(s);
    s->aux_pid = 0;
    s->aux_code = (int16_t)(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    after_aux(s);
}

static void on_timer(struct svc *s)
{
    s->deadline_ms = 0;
    switch (s->state) {
    case ST_STOPPING:
        log_warn("svc=%s event=kill-timeout pid=%d timeout_ms=%u", s->name,
                 s->pid, s->def.timeout_kill_ms);
        kill_leader_group(s->pid, SIGKILL);
        return;
    case ST_FINISHING:
        log_warn("svc=%s event=finish-timeout pid=%d timeout_ms=%u", s->name,
                 s->aux_pid, s->def.timeout_finish_ms);
        kill_leader_group(s->aux_pid, SIGKILL);
        return;
    case ST_BACKOFF:
        if (deps_ready(s))
            spawn_run(s);
        else
            set_state(s, ST_WAITING);
        return;
    default:
        return; /* a stale deadline: nothing to do */
    }
}

static void on_want_down(struct svc *s)
{
    s->want_up = false;
    /* Dependents stop first: wait until nothing that needs s still runs
     * (the loop re-sends WANT_DOWN when that changes). */
    if (svc_is_running(s) && sup_has_running_dependents(s)) {
        if (!s->stop_deferred)
            log_info("svc=%s event=stop-deferred reason=\"dependents still running\"", s->name);
        s->stop_deferred = true;
        return;
    }
    s->stop_deferred = false;
    switch (s->state) {
    case ST_STARTING:
    case ST_UP:
    case ST_READY:
        if (s->def.type == SVC_TYPE_ONESHOT && s->pid == 0) {
            s->ready = false;
            if (s->def.has_undo) {
                static const char *const argv[] = {"./undo", NULL};
                spawn_aux(s, "./undo", argv);
                return;
            }
            set_state(s, ST_DOWN);
            return;
        }
        begin_stop(s);
        return;
    case ST_WAITING:
    case ST_BACKOFF:
    case ST_FAILED:
        s->deadline_ms = 0;
        set_state(s, ST_DOWN);
        return;
    default:
        return; /* DOWN, or STOPPING/FINISHING: completes toward down */
    }
}

static void on_want_restart(struct svc *s)
{
    s->want_up = true;
    switch (s->state) {
    case ST_STARTING:
    case ST_UP:
    case ST_READY:
        if (s->pid > 0) {
            begin_stop(s);
            return;
        }
        s->ready = false; /* a oneshot: run it again */
        set_state(s, ST_DOWN);
        want_up(s);
        return;
    case ST_DOWN:
    case ST_FAILED:
    case ST_WAITING:
        s->deaths_len = 0;
        want_up(s);
        return;
    case ST_BACKOFF:
        spawn_run(s);
        return;
    default:
        return; /* STOPPING/FINISHING: comes back up after */
    }
}

void service_on_event(struct svc *s, enum svc_event ev, int status)
{
    BAY0_ASSERT(s->in_use);
    log_debug("svc=%s state=%s event=%s", s->name, svc_state_name(s->state),
              svc_event_name(ev));
    switch (ev) {
    case EV_WANT_UP:
        if (s->state == ST_DOWN || s->state == ST_FAILED) {
            s->deaths_len = 0;
            s->backoff_ms = 0;
            want_up(s);
        } else if (s->state == ST_BACKOFF) {
            spawn_run(s);
        } else {
            s->want_up = true;
        }
        return;
    case EV_WANT_DOWN:
        on_want_down(s);
        return;
    case EV_WANT_RESTART:
        on_want_restart(s);
        return;
    case EV_DEPS_READY: /* "maybe ready": the loop asks after any change */
        if (s->state == ST_WAITING && s->want_up && deps_ready(s))
            spawn_run(s);
        return;
    case EV_RUN_EXIT:
        on_run_exit(s, status);
        return;
    case EV_AUX_EXIT:
        on_aux_exit(s, status);
        return;
    case EV_READY:
        if (s->state == ST_STARTING || s->state == ST_UP) {
            close_ready_pipe(s);
            s->ready = true;
            s->backoff_ms = 0;
            log_info("svc=%s event=ready pid=%d", s->name, s->pid);
            set_state(s, ST_READY);
        }
        return;
    case EV_TIMER:
        on_timer(s);
        return;
    case EV_COUNT:
        break;
    }
    BAY0_ASSERT(!"unknown event");
}

void service_apply_config(struct svc *s, const struct svc_def *def,
                          const char *error)
{
    if (error) {
        bool first = !s->config_error || strcmp(s->reason, error) != 0;
        s->config_error = true;
        str_copy(s->reason, sizeof s->reason, error);
        if (first)
            log_error("svc=%s event=config-error reason=\"%s\"", s->name, error);
        if (s->pid > 0) {
            on_want_down(s);
            return;
        }
        if (s->aux_pid == 0)
            set_state(s, ST_FAILED);
        return;
    }
    bool was_error = s->config_error;
    bool run_changed = !svc_file_sig_equal(&s->def.run_sig, &def->run_sig);
    s->def = *def;
    s->config_error = false;
    if (was_error) {
        s->reason[0] = '\0';
        if (s->state == ST_FAILED)
            set_state(s, ST_DOWN);
        if (!def->down_file)
            service_on_event(s, EV_WANT_UP, 0);
        return;
    }
    if (run_changed && s->pid > 0) {
        log_info("svc=%s event=run-changed", s->name);
        on_want_restart(s);
    }
}
