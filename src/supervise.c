/* supervise.c — the event loop: one epoll over a signalfd (SIGCHLD and the
 * shutdown signals), one timerfd armed for the nearest service deadline,
 * the control socket, the sd_notify socket, readiness pipes, log pipes and
 * a pidfd per running service process (supervise_reap.c reaps).
 * No polling: an idle supervisor sleeps in epoll_wait until something
 * happens. Reaps every child, orphans included (it is a subreaper).
 *
 * Owns start-up (table sizing, the scan), reload and the orderly stop of
 * everything at shutdown. Never touches /persist; never blocks on anything
 * but reads of the scan directory and writes of the built-in logger.
 */
#include "supervise.h"

#include "analyze.h"

#include "cgroup.h"
#include "control.h"
#include "deaths.h"
#include "focus.h"
#include "governor.h"
#include "logger.h"
#include "state/mount.h"
#include "state/state.h"
#include "log.h"
#include "spawn.h"
#include "propagate.h"
#include "scan.h"
#include "service.h"
#include "svc.h"
#include "supervise_reap.h"
#include "svcmap.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define EPOLL_EVENTS_MAX 64
#define NOTIFY_DATAGRAM_BYTES_MAX 4096
#define SHUTDOWN_KILL_GRACE_MS 2000
#define SUPERVISE_CHECKPOINT_INTERVAL_MS (15 * 60 * 1000) /* last-known-good time */
#define SUPERVISE_CHECKPOINT_TIMEOUT_MS 1000
/* the checkpoint child's bound, and a second to spare, within a flush's */
_Static_assert(SUPERVISE_CHECKPOINT_TIMEOUT_MS + 1000 <= LOOP_FLUSH_INHIBIT_MS_MAX,
               "a checkpoint must fit in its flush inhibit");

static int signal_fd = -1;
static int timer_fd = -1;
static int notify_fd = -1;
static int64_t timer_armed_ms = -1;
static bool loop_running;
static enum supervise_exit exit_action = SUPERVISE_EXIT_STOP;
static int64_t shutdown_deadline_ms;
static bool shutdown_killed;
static int exit_status;
static uint32_t shutdown_timeout_ms = SUPERVISE_SHUTDOWN_TIMEOUT_MS_DEFAULT;

int supervise_exit_status(void) { return exit_status; }

/* ---- last-known-good time ------------------------------------------------ */

static int64_t checkpoint_due_ms;
static int64_t checkpoint_interval_ms = SUPERVISE_CHECKPOINT_INTERVAL_MS;

/* Writes the last-known-good time from a child process (the state module
 * bounds its own disk work), so a hung /persist never reaches the loop.
 * The child holds a flush inhibit until it is reaped. It keeps only stdio
 * (test_a_checkpoint_child_holds_no_connection). */
static void checkpoint_time(void)
{
    checkpoint_due_ms = time_mono_ms() + checkpoint_interval_ms;
    pid_t pid = fork();
    if (pid == 0) {
        child_signals_reset(false);
        log_set_sink(NULL);
        /* forked, never exec'd: no copy of a control connection (a client
         * would wait for its end of file) or of a log pipe; stdio stays */
        (void)syscall(SYS_close_range, 3u, ~0u, 0u);
        _exit(state_checkpoint_time(SUPERVISE_CHECKPOINT_TIMEOUT_MS) == STATE_OK ? 0 : 1);
    }
    if (pid < 0) {
        log_warn("event=checkpoint-failed error=\"%s\"", strerror(errno));
        return;
    }
    log_debug("event=checkpoint pid=%d", pid);
    sup_flush_begin(pid, "last-good-time");
}

/* ---- state change fan-out --------------------------------------------- */

static void on_state_changed(struct svc *s, enum svc_state old)
{
    log_debug("svc=%s event=state from=%s to=%s", s->name, svc_state_name(old),
              svc_state_name(s->state));
    /* A change can start a waiting dependent or release a deferred stop. */
    sup_deps_note_change(s);
    control_on_state(s, old);
    control_on_change();
}

/* ---- reaping (supervise_reap.c): the children that are not services' -- */

/* The log writer, a flush child, a focus child: true when one claimed pid. */
static bool other_child_exited(pid_t pid, int status)
{
    if (logger_on_exit(pid, status))
        return true;
    bool was_flush = loop_flush_on_exit(pid);
    return focus_on_exit(pid, status) || was_flush;
}

/* ---- timers ------------------------------------------------------------- */

static void arm_timer(void)
{
    int64_t next = svcmap_deadline_next(); /* the nearest service deadline */
    int64_t sweep_next = reap_sweep_due_ms();
    if (sweep_next && (!next || sweep_next < next))
        next = sweep_next;
    int64_t shutdown_next = shutdown_killed ? shutdown_deadline_ms + SHUTDOWN_KILL_GRACE_MS
                                            : shutdown_deadline_ms;
    if (sup.shutting_down && (!next || shutdown_next < next))
        next = shutdown_next;
    if (checkpoint_due_ms && (!next || checkpoint_due_ms < next))
        next = checkpoint_due_ms;
    int64_t flush_next = sup.shutting_down ? loop_flush_deadline_ms() : 0;
    if (flush_next && (!next || flush_next < next))
        next = flush_next;
    int64_t focus_next = focus_deadline_ms();
    if (focus_next && (!next || focus_next < next))
        next = focus_next;
    int64_t governor_next = governor_deadline_ms();
    if (governor_next && (!next || governor_next < next))
        next = governor_next;
    int64_t control_next = control_deadline_ms();
    if (control_next && (!next || control_next < next))
        next = control_next;
    if (next == timer_armed_ms)
        return;
    struct itimerspec its = {0};
    if (next) {
        its.it_value.tv_sec = next / 1000;
        its.it_value.tv_nsec = (next % 1000) * 1000000;
    }
    if (timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        log_error("event=timer-failed error=\"%s\"", strerror(errno));
    timer_armed_ms = next;
}

static void shutdown_force(void);

static void on_timer(void)
{
    uint64_t expirations;
    (void)!read(timer_fd, &expirations, sizeof expirations);
    timer_armed_ms = -1;
    int64_t now = time_mono_ms();
    reap_on_timer(now);
    uint32_t slot;
    /* Bounded: a TIMER action never sets a deadline at or before now. */
    for (uint32_t n = 0; n <= sup.slots && svcmap_deadline_pop_due(now, &slot); n++) {
        BAY0_ASSERT(slot < sup.used_hi);
        struct svc *s = &sup.svcs[slot];
        if (s->in_use && s->deadline_ms && s->deadline_ms <= now)
            service_on_event(s, EV_TIMER, 0);
    }
    if (checkpoint_due_ms && checkpoint_due_ms <= now && !sup.shutting_down)
        checkpoint_time();
    governor_on_timer(now);
    focus_on_timer(now);
    control_on_timer(now);
    if (sup.shutting_down && !shutdown_killed && shutdown_deadline_ms <= now) {
        shutdown_force();
    } else if (sup.shutting_down && shutdown_killed &&
               shutdown_deadline_ms + SHUTDOWN_KILL_GRACE_MS <= now) {
        log_error("event=shutdown-abandoned reason=\"processes survive SIGKILL "
                  "(uninterruptible sleep?)\"");
        loop_running = false;
    }
}

/* ---- readiness ---------------------------------------------------------- */

static void on_ready_fd(struct svc *s)
{
    char buf[512];
    ssize_t n = read(s->ready_fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0 && memchr(buf, '\n', (size_t)n)) {
        service_on_event(s, EV_READY, 0);
        return;
    }
    if (n <= 0) { /* closed without a newline: never ready this time */
        log_warn("svc=%s event=notification-fd-closed", s->name);
        sup_unwatch_fd(s->ready_fd);
        close(s->ready_fd);
        s->ready_fd = -1;
    }
}

/* The service whose run is pid or leads pid's process group. */
static struct svc *svc_for_notify_pid(pid_t pid)
{
    bool aux = false;
    struct svc *s = svc_by_pid(pid, &aux);
    if (s && !aux)
        return s;
    s = svc_by_pid(getpgid(pid), &aux);
    return s && !aux ? s : NULL;
}

static bool datagram_has_ready(const char *buf, size_t len)
{
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - buf) : len;
        if (end - i == 7 && memcmp(buf + i, "READY=1", 7) == 0)
            return true;
        i = end + 1;
    }
    return false;
}

static void on_notify(void)
{
    for (int n = 0; n < 64; n++) {
        char buf[NOTIFY_DATAGRAM_BYTES_MAX];
        char cbuf[CMSG_SPACE(sizeof(struct ucred))];
        struct iovec iov = {buf, sizeof buf};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = cbuf, .msg_controllen = sizeof cbuf};
        ssize_t len = recvmsg(notify_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (len < 0)
            return;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        if (!c || c->cmsg_type != SCM_CREDENTIALS) {
            log_warn("event=notify-rejected reason=\"no credentials\"");
            continue;
        }
        struct ucred cred;
        memcpy(&cred, CMSG_DATA(c), sizeof cred);
        struct svc *s = svc_for_notify_pid(cred.pid);
        if (!s || s->def.readiness != SVC_READY_NOTIFY) {
            log_debug("event=notify-ignored pid=%d", cred.pid);
            continue;
        }
        if (datagram_has_ready(buf, (size_t)len))
            service_on_event(s, EV_READY, 0);
    }
}

/* ---- signals and shutdown ----------------------------------------------- */

/* Every service wanted down; the loop ends when all are (or the bound
 * runs out). Asked again meanwhile: a stronger action replaces a stop. */
static void begin_shutdown(enum supervise_exit action)
{
    if (sup.shutting_down) {
        log_info("event=shutdown-again action=%s", supervise_exit_name(action));
        if (action != SUPERVISE_EXIT_STOP)
            exit_action = action;
        return;
    }
    exit_action = action;
    sup.shutting_down = true;
    shutdown_deadline_ms = time_mono_ms() + shutdown_timeout_ms;
    log_info("event=shutdown-begin action=%s timeout_ms=%u", supervise_exit_name(action),
             shutdown_timeout_ms);
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        struct svc *s = &sup.svcs[i];
        if (s->in_use && !s->is_logger)
            service_on_event(s, EV_WANT_DOWN, 0);
    }
}

/* The bound ran out: SIGKILL every process group that is left. */
static void shutdown_force(void)
{
    shutdown_killed = true;
    exit_status = 1;
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        struct svc *s = &sup.svcs[i];
        if (!s->in_use)
            continue;
        if (s->pid > 0) {
            log_warn("svc=%s event=shutdown-kill pid=%d", s->name, s->pid);
            kill_leader_group(s->pid, SIGKILL);
        }
        if (s->aux_pid > 0)
            kill_leader_group(s->aux_pid, SIGKILL);
        cgroup_kill(s);
    }
}

static bool all_services_down(void)
{
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        struct svc *s = &sup.svcs[i];
        if (s->in_use && !s->is_logger && svc_is_running(s))
            return false;
    }
    return true;
}

/* Loggers go last, once their services can write no more. */
static bool shutdown_progress(void)
{
    if (!all_services_down())
        return false;
    bool loggers_running = false;
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        struct svc *s = &sup.svcs[i];
        if (!s->in_use || !s->is_logger)
            continue;
        if (s->want_up) {
            /* A logger may ignore SIGTERM and end on EOF (s6-log -p): with
             * its service down, let go of the pipe's write end. */
            logger_release_writer(&sup.svcs[s->parent]);
            service_on_event(s, EV_WANT_DOWN, 0);
        }
        loggers_running |= svc_is_running(s);
    }
    return !loggers_running;
}

#define SIGNAL_IGNORED (-2)

/* What a signal asks for. PID 1 of a machine follows busybox init; a
 * supervisor or a container's PID 1 just stops everything and exits. */
static int signal_action(int sig)
{
    if (!sup.pid1 || sup.container)
        return sig == SIGTERM || sig == SIGINT || sig == SIGQUIT ? SUPERVISE_EXIT_STOP
                                                                  : SIGNAL_IGNORED;
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        return SUPERVISE_EXIT_REBOOT;
    case SIGUSR1:
        return SUPERVISE_EXIT_HALT;
    case SIGUSR2:
    case SIGPWR:
        return SUPERVISE_EXIT_POWEROFF;
    default:
        return SIGNAL_IGNORED;
    }
}

static void on_signal(void)
{
    struct signalfd_siginfo si;
    while (read(signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGCHLD) {
            reap_on_sigchld((pid_t)si.ssi_pid);
            continue;
        }
        log_info("event=signal signal=%s from_pid=%u", signal_name(sig), si.ssi_pid);
        if (sig == SIGHUP) { /* like s6-svscan: rescan */
            sup_reload();
            continue;
        }
        int action = signal_action(sig);
        if (action == SIGNAL_IGNORED)
            log_info("event=signal-ignored signal=%s reason=\"%s\"", signal_name(sig),
                     sup.pid1 && !sup.container ? "not a shutdown signal for PID 1"
                                                : "only TERM, INT and QUIT stop a supervisor");
        else
            begin_shutdown(action);
    }
}

/* ---- start-up ----------------------------------------------------------- */

static int setup_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPWR};
    for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
        sigaddset(&set, sigs[i]);
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return signal_fd < 0 ? -1 : 0;
}

static int setup_notify(void)
{
    if (!str_fmt(sup.notify_path, sizeof sup.notify_path, "%s/notify", sup.rundir))
        return -1;
    notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (notify_fd < 0)
        return -1;
    int one = 1;
    setsockopt(notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    str_copy(addr.sun_path, sizeof addr.sun_path, sup.notify_path);
    unlink(sup.notify_path);
    if (bind(notify_fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        return -1;
    chmod(sup.notify_path, 0666);
    sup_watch_fd(notify_fd, WATCH_NOTIFY, 0);
    return 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("event=rlimit-nofile-failed error=\"%s\"", strerror(errno));
    }
}

static int make_dir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0 || errno == EEXIST)
        return 0;
    log_error("event=mkdir-failed path=%s error=\"%s\"", path, strerror(errno));
    return -1;
}

static int setup(const struct supervise_config *cfg)
{
    sup.scandir = cfg->scandir;
    sup.rundir = cfg->rundir;
    sup.logdir = cfg->logdir;
    sup.pid1 = cfg->pid1;
    sup.container = cfg->container;
    /* As PID 1 only when /persist is really mounted: a dirty boot must not
     * create a database in the image's empty directory (BAY0_PERSIST_DIR
     * only moves the mount point then). Elsewhere, when that is set. */
    sup.persist_intent = cfg->pid1 ? persist_is_mounted(state_persist_mountpoint())
                                   : getenv("BAY0_PERSIST_DIR") != NULL;
    if (cfg->shutdown_timeout_ms)
        shutdown_timeout_ms = cfg->shutdown_timeout_ms;
    raise_fd_limit();
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        log_warn("event=subreaper-failed error=\"%s\"", strerror(errno));
    sup.scan_fd = open(cfg->scandir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sup.scan_fd < 0) {
        log_error("event=scandir-failed path=%s error=\"%s\"", cfg->scandir, strerror(errno));
        return -1;
    }
    sup.devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    sup.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (sup.devnull_fd < 0 || sup.epoll_fd < 0 || timer_fd < 0 ||
        setup_signals() < 0) {
        log_error("event=setup-failed error=\"%s\"", strerror(errno));
        return -1;
    }
    if (make_dir(cfg->rundir, 0755) < 0 || make_dir(cfg->logdir, 0755) < 0)
        return -1;
    char deaths_dir[4096]; /* the death records: never fatal, deaths_init says why */
    if (str_fmt(deaths_dir, sizeof deaths_dir, "%s/" DEATHS_DIR, cfg->rundir))
        (void)make_dir(deaths_dir, 0755);
    deaths_init(cfg->rundir);
    if (control_listen(cfg->rundir) < 0 || setup_notify() < 0) {
        log_error("event=socket-failed rundir=%s error=\"%s\"", cfg->rundir, strerror(errno));
        return -1;
    }
    sup_watch_fd(signal_fd, WATCH_SIGNAL, 0);
    sup_watch_fd(timer_fd, WATCH_TIMER, 0);
    if (sup_table_init(cfg->services_max) < 0 || reap_init(sup.slots, other_child_exited) < 0)
        return -1;
    if (spawn_event_fd() >= 0)
        sup_watch_fd(spawn_event_fd(), WATCH_SPAWN, 0);
    cgroup_init();
    if (logger_init(sup.slots, cfg->logdir) == 0)
        log_set_sink(logger_self_append);
    else
        log_warn("event=logger-unavailable reason=\"service output goes nowhere\"");
    return 0;
}

/* ---- the loop ----------------------------------------------------------- */

static void dispatch(const struct epoll_event *ev)
{
    uint32_t kind = (uint32_t)(ev->data.u64 >> 32);
    int32_t index = (int32_t)(uint32_t)ev->data.u64;
    BAY0_ASSERT(kind >= WATCH_SIGNAL && kind < WATCH_KIND_COUNT);
    /* a service's fd carries its slot; the others carry 0 or their own index */
    BAY0_ASSERT((kind != WATCH_READY && kind != WATCH_LOG) ||
                (index >= 0 && (uint32_t)index < sup.used_hi));
    switch (kind) {
    case WATCH_SIGNAL:
        on_signal();
        return;
    case WATCH_TIMER:
        on_timer();
        return;
    case WATCH_CONTROL:
        control_on_accept();
        return;
    case WATCH_CONN:
        control_on_conn(index, ev->events);
        return;
    case WATCH_NOTIFY:
        on_notify();
        return;
    case WATCH_READY:
        if (sup.svcs[index].in_use && sup.svcs[index].ready_fd >= 0)
            on_ready_fd(&sup.svcs[index]);
        return;
    case WATCH_LOG:
        logger_on_readable(&sup.svcs[index]);
        return;
    case WATCH_LOG_RESUME:
        logger_on_resume();
        return;
    case WATCH_SPAWN:
        spawn_on_event();
        return;
    case WATCH_PIDFD:
        reap_on_pidfd(index);
        return;
    case WATCH_GOVERNOR:
        governor_on_event(index);
        return;
    default:
        BAY0_ASSERT(!"unknown epoll kind");
    }
}

enum supervise_exit supervise_run(const struct supervise_config *cfg)
{
    if (setup(cfg) < 0)
        return SUPERVISE_EXIT_ERROR;
    log_info("event=supervisor-started scandir=%s rundir=%s logdir=%s slots=%u pid=%d",
             cfg->scandir, cfg->rundir, cfg->logdir, sup.slots, getpid());
    analyze_mark_init_done(); /* PID 1 marked it already, before the supervisor */
    service_set_hooks(&(struct service_hooks){on_state_changed, sup_watch_pid});
    sup_scan(true);
    /* After the first scan has started the services: neither looks at
     * them, and reading the personas' cgroups would only delay them. */
    focus_init(); /* before the governor: it hands the governor its personas */
    governor_init();
    const char *interval = getenv("BAY0_CHECKPOINT_INTERVAL_MS"); /* tests */
    uint64_t v;
    if (interval && parse_u64(interval, SUPERVISE_CHECKPOINT_INTERVAL_MS, &v) && v >= 100)
        checkpoint_interval_ms = (int64_t)v;
    if (sup.persist_intent)
        checkpoint_due_ms = time_mono_ms() + checkpoint_interval_ms;
    loop_running = true;
    while (loop_running) {
        int asked = loop_take_shutdown_request();
        if (asked != LOOP_NO_SHUTDOWN)
            begin_shutdown((enum supervise_exit)asked);
        sup_deps_propagate();
        sup_release_removed();
        spawn_sweep(); /* a child that exited before taking its fds wrote nothing */
        if (sup.shutting_down && shutdown_progress() && !loop_flush_inhibits())
            break;
        arm_timer();
        logger_wake_writer(); /* once per turn: what this turn logged */
        struct epoll_event events[EPOLL_EVENTS_MAX];
        int n = epoll_wait(sup.epoll_fd, events, EPOLL_EVENTS_MAX, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error("event=epoll-failed error=\"%s\"", strerror(errno));
            bay0_panic("epoll_wait failed");
        }
        for (int i = 0; i < n; i++)
            dispatch(&events[i]);
    }
    if (!all_services_down())
        exit_status = 1;
    log_info("event=supervisor-stopped action=%s", supervise_exit_name(exit_action));
    log_set_sink(NULL);
    logger_shutdown();
    cgroup_cleanup();
    reap_close_all();
    control_close(cfg->rundir);
    unlink(sup.notify_path);
    return exit_action;
}
