/* persona_mgr.c — the persona manager: `bay0 persona-manager`, a system
 * tenant that bay0 supervises like any service (service directory
 * personas/sv/personas: run + notification-fd). It owns every persona's
 * lifecycle (persona.c), keeps their table in memory, and answers the
 * `bay0 persona ...` and `bay0 reconcile` clients on RUNDIR/persona.
 *
 * Why a separate process: PID 1 never waits on podman or /persist, and
 * needs no code for either; a crash here costs the personas' manager, which
 * bay0 restarts (its reconcile converges again), never PID 1.
 *
 * Its own loop never waits either: one epoll over a signalfd (SIGCHLD,
 * SIGTERM), the socket and its connections, the answer pipes of its jobs
 * and of the events watcher. Every podman call and every SQLite write runs
 * in a forked job child (persona_job.c, reconcile.c) with a deadline; a job
 * past it is killed and answered PE_JOB_TIMEOUT. Deaths arrive without
 * polling: one long-running watcher child runs `podman events --format
 * json`, parses each line with jansson (podman.c) and forwards ours as one
 * small fixed-format line ("E died p__x 137 TIME_NS"). Each running
 * persona's output goes `podman logs -f` -> `bay0 logger LOGDIR/p__NAME`.
 *
 * Boot: listen, say ready (notification fd), start the watcher, reconcile
 * (the database was migrated by PID 1's state_boot; the job migrates too),
 * load the table from its answer, start every persona whose intent is
 * running. Requests that arrive meanwhile wait for the reconcile. A
 * database that cannot be opened (dirty boot: /persist not mounted) makes
 * every persona request fail with that reason; nothing is written.
 *
 * Bounded: PERSONAS_MAX personas, JOBS_MAX jobs, CONNS_MAX connections,
 * fixed buffers; the loop allocates nothing.
 */
#include "persona_mgr.h"

#include "analyze.h"
#include "cli.h"
#include "exec.h"
#include "focus.h"
#include "governor.h"
#include "log.h"
#include "persona.h"
#include "persona_job.h"
#include "podman.h"
#include "reconcile.h"
#include "state/mount.h"
#include "state/state.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PERSONAS_MAX 64
#define JOBS_MAX PERSONAS_MAX
#define CONNS_MAX 64 /* clients waiting for an outcome each hold one */
#define CONN_IN_BYTES_MAX 4096
#define CONN_OUT_BYTES_MAX 32768 /* a list of PERSONAS_MAX rows fits */
#define JOB_OUT_BYTES_MAX 1024
#define RECONCILE_OUT_BYTES_MAX 65536
#define WATCH_LINE_BYTES_MAX 256
#define RECONCILE_TIMEOUT_MS_EXTRA 5000 /* start, SQLite, the ghosts' cgroups */
_Static_assert(RECONCILE_CGROUP_WAIT_MS < RECONCILE_TIMEOUT_MS_EXTRA,
               "the ghosts' cgroup wait fits in the reconcile's deadline");
#define JOB_TIMEOUT_MS_EXTRA 5000     /* past the podman deadline(s) */
#define WATCHER_RESTART_MS 1000
#define EPOLL_EVENTS_MAX 32

enum watch_kind { W_SIGNAL = 1, W_LISTEN, W_CONN, W_JOB, W_RECONCILE, W_WATCHER };

enum mode { MODE_RECONCILING, MODE_READY, MODE_DIRTY };

enum conn_phase { C_FREE, C_READING, C_PARKED, C_WAITING, C_FLUSHING };

struct conn {
    int fd;
    enum conn_phase phase;
    bool can_write;
    char verb[16];
    int persona;        /* C_WAITING: index */
    uint32_t snapshot;  /* starts / resets when the request came */
    size_t in_len;
    size_t out_len, out_off;
    char in[CONN_IN_BYTES_MAX + 1];
    char out[CONN_OUT_BYTES_MAX];
};

struct job {
    pid_t pid; /* 0: free */
    int fd;
    int persona;
    enum persona_job_kind kind;
    int64_t deadline_ms;
    size_t len;
    char out[JOB_OUT_BYTES_MAX];
};

struct slot {
    bool used;
    struct persona p;
    int job;               /* -1 none */
    bool note_queued;      /* a note waits for the job in flight */
    int queued_kind;       /* -1, or a job kind waiting for the job in flight */
    int64_t start_wall_ns; /* events older than the last start are stale */
    pid_t log_podman, log_logger;
    char spec[STATE_PERSONA_SPEC_BYTES_MAX]; /* JOB_CREATE only */
    /* `bay0 analyze` (analyze.h): CLOCK_BOOTTIME µs, first and latest start */
    int64_t stamp_first[STAMP_COUNT], stamp_last[STAMP_COUNT];
    int64_t boot_wanted_us;  /* wanted since the manager's start (intent at boot) */
    enum persona_state seen; /* the state the stamps last saw */
};

static struct {
    const char *rundir;
    const char *logdir;
    char sock_path[108];
    char piddir[256];
    int epoll_fd, signal_fd, listen_fd;
    enum mode mode;
    char dirty_reason[256];
    bool dirty_unmounted; /* the reason is no /persist under PID 1 */
    bool stopping;
    /* reconcile */
    pid_t rec_pid;
    int rec_fd;
    int rec_conn;           /* the `bay0 reconcile` client, or -1 (boot) */
    bool rec_dry_run;
    int64_t rec_deadline_ms;
    size_t rec_len;
    char rec_out[RECONCILE_OUT_BYTES_MAX];
    /* watcher */
    pid_t watch_pid;
    int watch_fd;
    size_t watch_len;
    char watch_line[WATCH_LINE_BYTES_MAX];
    int64_t watch_restart_ms;
    int64_t watch_since_ns;
    int64_t reconciled_us; /* the boot reconcile's end (CLOCK_BOOTTIME) */
    struct slot slots[PERSONAS_MAX];
    struct job jobs[JOBS_MAX];
    struct conn conns[CONNS_MAX];
} m;

static const struct persona_ops *ops(void);

/* ---- small helpers ---------------------------------------------------------- */

static uint64_t wdata(enum watch_kind k, int index)
{
    return ((uint64_t)k << 32) | (uint32_t)index;
}

static void watch(int fd, enum watch_kind k, int index, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u64 = wdata(k, index)};
    if (epoll_ctl(m.epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        log_error("event=epoll-add-failed fd=%d error=\"%s\"", fd, strerror(errno));
}

static void unwatch(int fd) { epoll_ctl(m.epoll_fd, EPOLL_CTL_DEL, fd, NULL); }

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int slot_of(const struct persona *p)
{
    const struct slot *s = (const struct slot *)((const char *)p -
                                                 offsetof(struct slot, p));
    return (int)(s - m.slots);
}

static int find_semantic(const char *semantic)
{
    for (int i = 0; i < PERSONAS_MAX; i++)
        if (m.slots[i].used && strcmp(m.slots[i].p.semantic, semantic) == 0)
            return i;
    return -1;
}

static int find_container(const char *container)
{
    for (int i = 0; i < PERSONAS_MAX; i++)
        if (m.slots[i].used && strcmp(m.slots[i].p.container, container) == 0)
            return i;
    return -1;
}

/* A forked child of the manager: default signals, dies with the manager. */
static void child_setup(void)
{
    /* no client connection, pipe or socket of the manager may outlive its
     * use in a child: a job holding a client's socket would delay its
     * reply until the job ends */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
}

/* In a forked child that does not exec: keep only stdin/out/err and fd,
 * which becomes fd 3. */
static int child_only_fd(int fd)
{
    if (fd != 3 && dup2(fd, 3) < 0)
        _exit(111);
    syscall(SYS_close_range, 4U, ~0U, 0U);
    return 3;
}

/* ---- jobs ----------------------------------------------------------------------- */

static uint32_t job_timeout_ms(enum persona_job_kind k)
{
    uint32_t podman_ms = persona_podman_timeout_ms();
    switch (k) {
    case JOB_START: /* start, maybe create + start */
    case JOB_RESET: /* rm + create */
    case JOB_CREATE:
        return 3 * podman_ms + JOB_TIMEOUT_MS_EXTRA;
    case JOB_STOP:
        return podman_ms + PERSONA_STOP_TIMEOUT_S * 1000 + JOB_TIMEOUT_MS_EXTRA;
    default:
        return podman_ms + JOB_TIMEOUT_MS_EXTRA;
    }
}

static void fill_req(struct persona_job_req *r, const struct slot *s,
                     enum persona_job_kind kind)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    str_copy(r->semantic, sizeof r->semantic, s->p.semantic);
    str_copy(r->container, sizeof r->container, s->p.container);
    str_copy(r->image, sizeof r->image, s->p.image);
    str_copy(r->spec, sizeof r->spec, s->spec);
    str_copy(r->piddir, sizeof r->piddir, m.piddir);
    r->want_up = s->p.want_up;
    if (kind == JOB_NOTE) {
        r->current = s->p.state == PS_RUNNING ? STATE_PERSONA_RUNNING
                                              : STATE_PERSONA_STOPPED;
        str_copy(r->error, sizeof r->error, s->p.last_error);
    }
}

static void job_launch(int si, enum persona_job_kind kind)
{
    struct slot *s = &m.slots[si];
    if (s->job >= 0) { /* one job per persona: this one waits its turn */
        if (kind == JOB_NOTE)
            s->note_queued = true;
        else
            s->queued_kind = (int)kind;
        return;
    }
    int ji = -1;
    for (int i = 0; i < JOBS_MAX && ji < 0; i++)
        if (m.jobs[i].pid == 0)
            ji = i;
    BAY0_ASSERT(ji >= 0); /* at most one job per persona slot */
    static struct persona_job_req req;
    fill_req(&req, s, kind);
    if (kind == JOB_START)
        s->start_wall_ns = wall_ns();
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        log_error("persona=%s job=%s event=job-pipe-failed error=\"%s\"", s->p.semantic,
                  persona_job_kind_name(kind), strerror(errno));
        return; /* answered by nobody: the deadline below is not armed */
    }
    pid_t pid = fork();
    if (pid == 0) {
        child_setup();
        _exit(persona_job_run(&req, child_only_fd(pfd[1])));
    }
    close(pfd[1]);
    if (pid < 0) {
        log_error("persona=%s job=%s event=job-fork-failed error=\"%s\"", s->p.semantic,
                  persona_job_kind_name(kind), strerror(errno));
        close(pfd[0]);
        return;
    }
    struct job *j = &m.jobs[ji];
    *j = (struct job){.pid = pid, .fd = pfd[0], .persona = si, .kind = kind,
                      .deadline_ms = time_mono_ms() + job_timeout_ms(kind)};
    s->job = ji;
    fd_set_nonblock(j->fd, true);
    watch(j->fd, W_JOB, ji, EPOLLIN);
    log_info("persona=%s event=job kind=%s pid=%d", s->p.semantic,
             persona_job_kind_name(kind), (int)pid);
}

static void job_free_and_next(struct job *j)
{
    struct slot *s = &m.slots[j->persona];
    unwatch(j->fd);
    close(j->fd);
    j->pid = 0;
    if (s->job == j - m.jobs)
        s->job = -1;
    if (!s->used)
        return;
    if (s->queued_kind >= 0) {
        enum persona_job_kind k = (enum persona_job_kind)s->queued_kind;
        s->queued_kind = -1;
        job_launch(j->persona, k);
    } else if (s->note_queued) {
        s->note_queued = false;
        job_launch(j->persona, JOB_NOTE);
    }
}

/* The job's final line decides the event for the state machine. */
static void job_done(struct job *j, bool timed_out)
{
    struct slot *s = &m.slots[j->persona];
    enum persona_job_kind kind = j->kind;
    j->out[j->len < sizeof j->out ? j->len : sizeof j->out - 1] = '\0';
    char *line = j->out;
    for (char *nl; (nl = strchr(line, '\n')) != NULL && nl[1] != '\0';)
        line = nl + 1;
    line[strcspn(line, "\n")] = '\0';
    if (timed_out) {
        kill(j->pid, SIGKILL); /* its podman child dies with it (pdeathsig) */
        log_warn("persona=%s job=%s event=timeout", s->p.semantic,
                 persona_job_kind_name(kind));
    }
    job_free_and_next(j);
    if (!s->used || kind == JOB_NOTE)
        return;
    struct persona_arg arg = {.exit_code = -1};
    enum persona_event ev = PE_JOB_OK;
    if (timed_out || strncmp(line, "TIMEOUT", 7) == 0) {
        ev = PE_JOB_TIMEOUT;
    } else if (strncmp(line, "OK", 2) == 0) {
        const char *pid = strstr(line, "pid=");
        uint64_t v = 0;
        if (pid != NULL)
            (void)parse_u64(pid + 4, INT32_MAX, &v);
        arg.pid = (int64_t)v;
    } else {
        ev = PE_JOB_FAILED;
        arg.reason = strncmp(line, "ERR ", 4) == 0 ? line + 4
                                                   : "the job ended without an answer";
    }
    persona_on_event(&s->p, ev, &arg, time_mono_ms(), ops());
}

static void job_readable(int ji)
{
    struct job *j = &m.jobs[ji];
    if (j->pid == 0)
        return;
    for (;;) {
        char discard[256];
        char *dst = j->len + 1 < sizeof j->out ? j->out + j->len : discard;
        size_t room = dst == discard ? sizeof discard
                                     : sizeof j->out - 1 - j->len;
        ssize_t n = read(j->fd, dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            job_done(j, false);
            return;
        }
        if (dst != discard)
            j->len += (size_t)n;
    }
}

/* ---- persona output: podman logs -f | bay0 logger LOGDIR/p__NAME ------------- */

static pid_t spawn_fds(const struct exec_argv *a, int in_fd, int out_fd)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    child_setup();
    child_signals_for_exec();
    int null_fd = open("/dev/null", O_RDWR);
    dup2(in_fd >= 0 ? in_fd : null_fd, STDIN_FILENO);
    if (out_fd >= 0) {
        dup2(out_fd, STDOUT_FILENO);
        dup2(out_fd, STDERR_FILENO);
    }
    execvp(a->argv[0], a->argv);
    _exit(127);
}

static void log_follow(struct slot *s)
{
    if (s->log_podman > 0)
        return;
    static struct exec_argv a, b;
    char since[64];
    time_t secs = (time_t)(s->start_wall_ns / 1000000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    podman_argv(&a, "logs", "-f", "--since", since, s->p.container, NULL);
    char dir[512];
    str_fmt(dir, sizeof dir, "%s/%s", m.logdir, s->p.container);
    exec_argv_init(&b);
    exec_argv_add(&b, "/proc/self/exe");
    exec_argv_add(&b, "logger");
    exec_argv_add(&b, dir);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return;
    s->log_logger = spawn_fds(&b, pfd[0], -1);
    s->log_podman = spawn_fds(&a, -1, pfd[1]);
    close(pfd[0]);
    close(pfd[1]);
    log_info("persona=%s event=log-follow dir=%s podman_pid=%d logger_pid=%d",
             s->p.semantic, dir, (int)s->log_podman, (int)s->log_logger);
}

/* ---- the state machine's side effects -------------------------------------------- */

static void op_start(struct persona *p, void *ctx) { (void)ctx; job_launch(slot_of(p), JOB_START); }
static void op_stop(struct persona *p, void *ctx) { (void)ctx; job_launch(slot_of(p), JOB_STOP); }
static void op_reset(struct persona *p, void *ctx) { (void)ctx; job_launch(slot_of(p), JOB_RESET); }
static void op_remove(struct persona *p, void *ctx) { (void)ctx; job_launch(slot_of(p), JOB_REMOVE); }
static void op_note(struct persona *p, void *ctx) { (void)ctx; job_launch(slot_of(p), JOB_NOTE); }

static void check_waiters(int si, bool removed);

/* The timeline `bay0 analyze` shows: wanted (asked, or the manager's start
 * for an intent found at boot; after a death: the death), spawned (the
 * start job), up and ready (running: podman started it), exited (left
 * running or stopping, or a start that failed). */
static void stamp_change(struct slot *s)
{
    enum persona_state old = s->seen, st = s->p.state;
    s->seen = st;
    int64_t now = time_boot_us();
    bool was_up = old == PS_RUNNING || old == PS_STOPPING;
    bool is_up = st == PS_RUNNING || st == PS_STOPPING;
    if ((was_up && !is_up) ||
        (old == PS_STARTING && (st == PS_STOPPED || st == PS_BACKOFF || st == PS_FAILED)))
        analyze_stamp(s->stamp_first, s->stamp_last, STAMP_EXITED, now);
    if (st == PS_STARTING) {
        if (old != PS_BACKOFF)
            analyze_stamp(s->stamp_first, s->stamp_last, STAMP_WANTED,
                          s->boot_wanted_us ? s->boot_wanted_us : now);
        s->boot_wanted_us = 0;
        analyze_stamp(s->stamp_first, s->stamp_last, STAMP_SPAWNED, now);
    } else if (st == PS_RUNNING) {
        analyze_stamp(s->stamp_first, s->stamp_last, STAMP_UP, now);
        analyze_stamp(s->stamp_first, s->stamp_last, STAMP_READY, now);
    }
}

static void op_changed(struct persona *p, void *ctx)
{
    (void)ctx;
    int si = slot_of(p);
    stamp_change(&m.slots[si]);
    if (p->state == PS_RUNNING)
        log_follow(&m.slots[si]);
    check_waiters(si, false);
}

static void op_removed(struct persona *p, void *ctx)
{
    (void)ctx;
    int si = slot_of(p);
    log_info("persona=%s event=removed", p->semantic);
    check_waiters(si, true);
    struct slot *s = &m.slots[si];
    s->used = false;
    s->note_queued = false;
    s->queued_kind = -1;
}

static const struct persona_ops *ops(void)
{
    static const struct persona_ops o = {
        .start = op_start, .stop = op_stop, .reset = op_reset,
        .remove = op_remove, .note = op_note, .removed = op_removed,
        .changed = op_changed,
    };
    return &o;
}

static int slot_new(const struct persona_name *id, const char *image,
                    enum persona_state st, bool want_up)
{
    for (int i = 0; i < PERSONAS_MAX; i++) {
        struct slot *s = &m.slots[i];
        if (s->used || s->job >= 0)
            continue; /* a freed slot whose last job still runs waits */
        memset(s, 0, sizeof *s);
        s->used = true;
        s->job = -1;
        s->queued_kind = -1;
        persona_init(&s->p, id, image, st, want_up, time_mono_ms());
        s->seen = st; /* adopted running: no stamps (started before us) */
        return i;
    }
    return -1;
}

/* ---- the events watcher: podman events -> "E KIND CONTAINER EXIT TIME_NS" ------ */

/* In the watcher child: run podman events, forward our containers' events. */
_Noreturn static void watcher_child(int out_fd, int64_t since_ns)
{
    static struct exec_argv a;
    char since[32];
    str_fmt(since, sizeof since, "%lld", (long long)(since_ns / 1000000000));
    podman_argv(&a, "events", "--format", "json", "--filter", "type=container",
                "--since", since, NULL);
    int pfd[2];
    if (pipe(pfd) < 0)
        _exit(1);
    pid_t pid = spawn_fds(&a, -1, pfd[1]);
    close(pfd[1]);
    if (pid < 0)
        _exit(1);
    FILE *in = fdopen(pfd[0], "r");
    static char line[PODMAN_EVENT_BYTES_MAX];
    while (in != NULL && fgets(line, sizeof line, in) != NULL) {
        struct podman_event ev;
        struct persona_name id;
        if (!podman_event_parse(line, strlen(line), &ev) ||
            ev.kind == PODMAN_EV_OTHER ||
            !persona_container_parse(ev.name, strlen(ev.name), &id))
            continue;
        char out[WATCH_LINE_BYTES_MAX];
        str_fmt(out, sizeof out, "E %s %s %d %lld\n",
                ev.kind == PODMAN_EV_DIED    ? "died"
                : ev.kind == PODMAN_EV_START ? "start"
                                             : "remove",
                ev.name, ev.exit_code, (long long)ev.time_ns);
        if (fd_write_all(out_fd, out, strlen(out)) < 0)
            break;
    }
    kill(pid, SIGTERM);
    _exit(0);
}

static void watcher_start(void)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        m.watch_restart_ms = time_mono_ms() + WATCHER_RESTART_MS;
        return;
    }
    int64_t since_ns = m.watch_since_ns;
    pid_t pid = fork();
    if (pid == 0) {
        child_setup();
        log_set_prefix("bay0-persona-events");
        watcher_child(child_only_fd(pfd[1]), since_ns);
    }
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        m.watch_restart_ms = time_mono_ms() + WATCHER_RESTART_MS;
        return;
    }
    m.watch_pid = pid;
    m.watch_fd = pfd[0];
    m.watch_len = 0;
    m.watch_restart_ms = 0;
    fd_set_nonblock(m.watch_fd, true);
    watch(m.watch_fd, W_WATCHER, 0, EPOLLIN);
    log_info("event=watcher-started pid=%d since_s=%lld", (int)pid,
             (long long)(since_ns / 1000000000));
}

static void on_event_line(char *line)
{
    char kind[16], container[PODMAN_CONTAINER_NAME_BYTES_MAX];
    int exit_code;
    long long t_ns;
    if (sscanf(line, "E %15s %127s %d %lld", kind, container, &exit_code,
               &t_ns) != 4)
        return;
    if (t_ns > m.watch_since_ns)
        m.watch_since_ns = t_ns; /* a restarted watcher resumes here */
    int si = find_container(container);
    if (si < 0 || strcmp(kind, "died") != 0)
        return;
    struct slot *s = &m.slots[si];
    if (t_ns != 0 && t_ns < s->start_wall_ns) {
        log_debug("persona=%s event=stale-death", s->p.semantic);
        return;
    }
    struct persona_arg arg = {.exit_code = exit_code};
    persona_on_event(&s->p, PE_DIED, &arg, time_mono_ms(), ops());
}

static void watcher_readable(void)
{
    for (;;) {
        ssize_t n = read(m.watch_fd, m.watch_line + m.watch_len,
                         sizeof m.watch_line - 1 - m.watch_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            unwatch(m.watch_fd);
            close(m.watch_fd);
            m.watch_fd = -1;
            m.watch_restart_ms = time_mono_ms() + WATCHER_RESTART_MS;
            log_warn("event=watcher-ended restart_in_ms=%d",
                     WATCHER_RESTART_MS);
            return;
        }
        m.watch_len += (size_t)n;
        char *nl;
        while ((nl = memchr(m.watch_line, '\n', m.watch_len)) != NULL) {
            *nl = '\0';
            on_event_line(m.watch_line);
            size_t used = (size_t)(nl + 1 - m.watch_line);
            memmove(m.watch_line, nl + 1, m.watch_len - used);
            m.watch_len -= used;
        }
        if (m.watch_len == sizeof m.watch_line - 1)
            m.watch_len = 0; /* a line longer than ours: not ours */
    }
}

/* ---- reconcile ------------------------------------------------------------------ */

static bool jobs_in_flight(void)
{
    for (int i = 0; i < JOBS_MAX; i++)
        if (m.jobs[i].pid != 0)
            return true;
    return false;
}

static void reconcile_launch(int conn, bool dry_run)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        child_setup();
        _exit(reconcile_run(dry_run, m.piddir, child_only_fd(pfd[1])));
    }
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        log_error("event=reconcile-fork-failed error=\"%s\"", strerror(errno));
        return;
    }
    m.rec_pid = pid;
    m.rec_fd = pfd[0];
    m.rec_conn = conn;
    m.rec_dry_run = dry_run;
    m.rec_len = 0;
    /* one listing, then up to two podman calls per persona, bounded */
    m.rec_deadline_ms = time_mono_ms() + RECONCILE_TIMEOUT_MS_EXTRA +
                        (int64_t)persona_podman_timeout_ms() * 3;
    fd_set_nonblock(m.rec_fd, true);
    watch(m.rec_fd, W_RECONCILE, 0, EPOLLIN);
    log_info("event=reconcile pid=%d dry_run=%d", (int)pid, dry_run);
}

/* One "P" line from the reconcile: make the table agree with it. */
static void load_row(char *line, bool *seen)
{
    char *f[7];
    size_t n = 0;
    for (char *p = line; n < 7; n++) {
        f[n] = p;
        p = strchr(p, '\t');
        if (p == NULL) {
            n++;
            break;
        }
        *p++ = '\0';
    }
    if (n < 6)
        return;
    struct persona_name id;
    char reason[PERSONA_REASON_BYTES_MAX];
    if (!persona_name_parse_str(f[1], &id, reason, sizeof reason)) {
        log_warn("event=db-row-skipped reason=\"%s\"", reason);
        return;
    }
    bool want_up = strcmp(f[3], "running") == 0;
    bool up = strcmp(f[4], "running") == 0 || strcmp(f[4], "paused") == 0;
    int si = find_semantic(f[1]);
    if (si >= 0 && persona_busy(&m.slots[si].p)) {
        seen[si] = true;
        return; /* its job in flight decides */
    }
    if (si < 0)
        si = slot_new(&id, f[2], up ? PS_RUNNING : PS_STOPPED, want_up);
    if (si < 0) {
        log_error("event=persona-not-loaded persona=%s limit=%d "
                  "reason=\"more personas than the limit\"", f[1], PERSONAS_MAX);
        return;
    }
    seen[si] = true;
    struct slot *s = &m.slots[si];
    uint64_t pid = 0;
    (void)parse_u64(f[5], INT32_MAX, &pid);
    if (s->p.state == PS_RUNNING && !up) {
        s->p.state = PS_STOPPED; /* reconcile found it gone */
        s->p.pid = 0;
    } else if (up && s->p.state != PS_RUNNING) {
        s->p.state = PS_RUNNING;
    }
    if (up)
        s->p.pid = (int64_t)pid;
    s->p.want_up = want_up;
    if (n >= 7)
        str_copy(s->p.last_error, sizeof s->p.last_error, f[6]);
}

static void conn_reply(struct conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void conn_add(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void handle_parked(void);

static void reconcile_finished(bool timed_out)
{
    unwatch(m.rec_fd);
    close(m.rec_fd);
    if (timed_out)
        kill(m.rec_pid, SIGKILL);
    m.rec_pid = 0;
    m.rec_out[m.rec_len < sizeof m.rec_out ? m.rec_len : sizeof m.rec_out - 1] = '\0';
    struct conn *c = m.rec_conn >= 0 ? &m.conns[m.rec_conn] : NULL;
    bool boot = m.mode == MODE_RECONCILING;
    bool ok = false, seen[PERSONAS_MAX] = {false};
    for (char *line = m.rec_out, *next; line != NULL && *line; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (line[0] == 'R' && c != NULL)
            conn_add(c, "%s\n", line);
        else if (line[0] == 'P' && !m.rec_dry_run)
            load_row(line, seen);
        else if (strncmp(line, "OK", 2) == 0) {
            ok = true;
            if (c != NULL)
                conn_reply(c, 0, "%s", line[2] ? line + 3 : "");
        } else if (strncmp(line, "ERR ", 4) == 0) {
            str_copy(m.dirty_reason, sizeof m.dirty_reason, line + 4);
        }
    }
    if (!ok) {
        if (timed_out)
            str_copy(m.dirty_reason, sizeof m.dirty_reason,
                     "the reconcile timed out");
        else if (m.dirty_reason[0] == '\0')
            str_copy(m.dirty_reason, sizeof m.dirty_reason,
                     "the reconcile ended without an answer");
        log_error("event=reconcile-failed reason=\"%s\"",
                  m.dirty_reason);
        if (c != NULL)
            conn_reply(c, timed_out ? 3 : 1, "reconcile failed: %s",
                       m.dirty_reason);
        if (boot)
            m.mode = MODE_DIRTY;
        handle_parked();
        return;
    }
    if (m.rec_dry_run)
        return;
    for (int i = 0; i < PERSONAS_MAX; i++) /* rows that left the database */
        if (m.slots[i].used && !seen[i] && !persona_busy(&m.slots[i].p))
            m.slots[i].used = false;
    m.mode = MODE_READY;
    m.dirty_reason[0] = '\0';
    if (boot) {
        m.reconciled_us = time_boot_us();
        watcher_start();
    }
    int64_t now = time_mono_ms();
    for (int i = 0; i < PERSONAS_MAX; i++) {
        struct slot *s = &m.slots[i];
        if (!s->used || persona_busy(&s->p))
            continue;
        if (s->p.state == PS_RUNNING)
            log_follow(s);
        else if (s->p.want_up) { /* intent running: start it */
            s->boot_wanted_us = boot ? analyze_start_us() : 0;
            persona_on_event(&s->p, PE_WANT_UP, NULL, now, ops());
        }
    }
    handle_parked();
}

static void reconcile_readable(void)
{
    for (;;) {
        char discard[512];
        bool room = m.rec_len + 1 < sizeof m.rec_out;
        ssize_t n = read(m.rec_fd, room ? m.rec_out + m.rec_len : discard,
                         room ? sizeof m.rec_out - 1 - m.rec_len : sizeof discard);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            reconcile_finished(false);
            return;
        }
        if (room)
            m.rec_len += (size_t)n;
    }
}

/* ---- connections -------------------------------------------------------------- */

static void conn_close(struct conn *c)
{
    unwatch(c->fd);
    close(c->fd);
    c->phase = C_FREE;
    if (m.rec_conn == c - m.conns)
        m.rec_conn = -1;
}

static void conn_vadd(struct conn *c, const char *fmt, va_list ap)
{
    if (c->out_len >= sizeof c->out)
        return;
    int n = vsnprintf(c->out + c->out_len, sizeof c->out - c->out_len, fmt, ap);
    if (n > 0)
        c->out_len += (size_t)n < sizeof c->out - c->out_len
                          ? (size_t)n
                          : sizeof c->out - c->out_len - 1;
}

static void conn_add(struct conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    conn_vadd(c, fmt, ap);
    va_end(ap);
}

static void conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct epoll_event ev = {.events = EPOLLOUT,
                                     .data.u64 = wdata(W_CONN, (int)(c - m.conns))};
            epoll_ctl(m.epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
            return;
        }
        if (n <= 0)
            break;
        c->out_off += (size_t)n;
    }
    conn_close(c);
}

/* The final line; the reply is then written and the connection closed. */
static void conn_reply(struct conn *c, int code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    for (char *p = text; *p; p++)
        if (*p == '\n')
            *p = ' ';
    if (c->out_len + sizeof text + 16 > sizeof c->out)
        c->out_len = 0; /* never truncate the final line */
    if (code == 0)
        conn_add(c, "OK%s%s\n", text[0] ? " " : "", text);
    else
        conn_add(c, "ERR %d %s\n", code, text);
    c->phase = C_FLUSHING;
    conn_flush(c);
}

static void list_rows(struct conn *c)
{
    int64_t now_mono = time_mono_ms(), now_wall = time_wall_ms();
    for (int i = 0; i < PERSONAS_MAX; i++) {
        const struct slot *s = &m.slots[i];
        if (!s->used)
            continue;
        const struct persona *p = &s->p;
        conn_add(c, "P\t%s\t%s\t%s\t%s\t%s\t%lld\t%lld\t%u\t%s\n", p->semantic,
                 p->image, p->want_up ? "running" : "stopped",
                 /* frozen by focus or the governor (focus.h) */
                 p->state == PS_RUNNING && focus_is_paused(p->container)
                     ? "paused" : persona_state_name(p->state),
                 p->container,
                 (long long)p->pid,
                 (long long)(now_wall - (now_mono - p->since_ms)),
                 p->deaths, p->last_error);
    }
}

/* `bay0 analyze`: one row a persona, the shape of the control socket's
 * "times" rows (analyze.h); the dependency is the manager's service. */
static void times_rows(struct conn *c)
{
    const char *service = getenv("BAY0_SERVICE");
    for (int i = 0; i < PERSONAS_MAX; i++) {
        const struct slot *s = &m.slots[i];
        if (!s->used)
            continue;
        const int64_t *f = s->stamp_first, *l = s->stamp_last;
        conn_add(c, "T\t%s\t%s\t%s\t%s\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\n",
                 s->p.semantic, s->p.id.kind == PERSONA_SYSTEM ? "tenant" : "persona",
                 persona_state_name(s->p.state), service && *service ? service : "-",
                 (long long)f[0], (long long)f[1], (long long)f[2], (long long)f[3],
                 (long long)f[4], (long long)l[0], (long long)l[1], (long long)l[2],
                 (long long)l[3], (long long)l[4]);
    }
    conn_reply(c, 0, "start_us=%lld reconciled_us=%lld now_us=%lld",
               (long long)analyze_start_us(), (long long)m.reconciled_us,
               (long long)time_boot_us());
}

/* ---- waiting for an outcome ------------------------------------------------------ */

/* 0 reached, >0 failed (exit code), -1 not yet. */
static int wait_outcome(const struct conn *c, const struct persona *p,
                        bool removed, char *why, size_t size)
{
    const char *v = c->verb;
    if (removed) {
        if (strcmp(v, "rm") == 0)
            return 0;
        str_fmt(why, size, "%s: %s", p->semantic,
                p->last_error[0] ? p->last_error : "removed");
        return 1;
    }
    if (persona_busy(p))
        return -1;
    if (p->state == PS_FAILED) {
        str_fmt(why, size, "%s failed: %s", p->semantic, p->last_error);
        return 1;
    }
    if (strcmp(v, "create") == 0)
        return 0;
    if (strcmp(v, "stop") == 0)
        return p->state == PS_STOPPED ? 0 : -1;
    if (strcmp(v, "reset") == 0)
        return p->resets != c->snapshot ? 0 : -1;
    if (strcmp(v, "start") == 0 || strcmp(v, "restart") == 0) {
        if (p->state == PS_RUNNING && p->starts != c->snapshot)
            return 0;
        if (p->state == PS_BACKOFF) {
            str_fmt(why, size, "%s died right after its start (%s); bay0 "
                    "restarts it with backoff (see bay0 persona logs %s)",
                    p->semantic, p->last_error, p->semantic);
            return 1;
        }
        if (p->state == PS_STOPPED && !p->want_up) {
            str_fmt(why, size, "%s was stopped meanwhile", p->semantic);
            return 1;
        }
    }
    return -1;
}

static void check_waiters(int si, bool removed)
{
    for (int i = 0; i < CONNS_MAX; i++) {
        struct conn *c = &m.conns[i];
        if (c->phase != C_WAITING || c->persona != si)
            continue;
        char why[512] = "";
        int r = wait_outcome(c, &m.slots[si].p, removed, why, sizeof why);
        if (r == 0)
            conn_reply(c, 0, "%s %s", m.slots[si].p.semantic,
                       m.slots[si].p.state == PS_RUNNING ? "running"
                       : removed                         ? "removed"
                                                         : persona_state_name(m.slots[si].p.state));
        else if (r > 0)
            conn_reply(c, r, "%s", why);
    }
}

/* ---- requests ------------------------------------------------------------------- */

static int split_tabs(char *line, char **argv, int max)
{
    int n = 0;
    for (char *p = line; p != NULL && n < max;) {
        argv[n++] = p;
        p = strchr(p, '\t');
        if (p != NULL)
            *p++ = '\0';
    }
    return n;
}

/* The persona named by a request, or -1 with the reply sent. */
static int named(struct conn *c, const char *arg, bool must_exist)
{
    struct persona_name id;
    char reason[PERSONA_REASON_BYTES_MAX];
    if (!persona_name_parse_str(arg, &id, reason, sizeof reason)) {
        conn_reply(c, 2, "%s", reason);
        return -1;
    }
    char sem[PERSONA_SEMANTIC_BYTES_MAX];
    persona_name_format(&id, sem);
    int si = find_semantic(sem);
    if (must_exist && si < 0) {
        conn_reply(c, 1, "%s: no such persona (bay0 persona list shows them; "
                   "bay0 persona create makes one)", sem);
        return -1;
    }
    return si;
}

static void wait_for(struct conn *c, int si, uint32_t snapshot)
{
    c->phase = C_WAITING;
    c->persona = si;
    c->snapshot = snapshot;
    check_waiters(si, false);
}

static void do_create(struct conn *c, int argc, char **argv)
{
    if (argc < 3) {
        conn_reply(c, 2, "create needs a name and an image");
        return;
    }
    if (named(c, argv[1], false) >= 0) {
        conn_reply(c, 1, "%s already exists (bay0 persona rm %s first, or "
                   "reset to recreate its container)", argv[1], argv[1]);
        return;
    }
    if (c->phase == C_FLUSHING || c->phase == C_FREE)
        return; /* named() refused the name */
    char spec[STATE_PERSONA_SPEC_BYTES_MAX] = "";
    size_t len = 0;
    for (int i = 3; i < argc; i++) {
        int n = snprintf(spec + len, sizeof spec - len, "%s\n", argv[i]);
        if (n < 0 || (size_t)n >= sizeof spec - len) {
            conn_reply(c, 2, "options longer than %d bytes",
                       STATE_PERSONA_SPEC_BYTES_MAX - 1);
            return;
        }
        len += (size_t)n;
    }
    struct persona_spec parsed;
    char check[STATE_PERSONA_SPEC_BYTES_MAX], reason[300];
    str_copy(check, sizeof check, spec);
    if (!persona_spec_parse(check, &parsed, reason, sizeof reason)) {
        conn_reply(c, 2, "%s", reason);
        return;
    }
    if (strlen(argv[2]) >= STATE_PERSONA_IMAGE_BYTES_MAX || argv[2][0] == '\0' ||
        argv[2][0] == '-') {
        conn_reply(c, 2, "bad image name '%.64s'", argv[2]);
        return;
    }
    struct persona_name id;
    persona_name_parse_str(argv[1], &id, reason, sizeof reason);
    int si = slot_new(&id, argv[2], PS_CREATING, false);
    if (si < 0) {
        conn_reply(c, 1, "no room: bay0 manages at most %d personas",
                   PERSONAS_MAX);
        return;
    }
    str_copy(m.slots[si].spec, sizeof m.slots[si].spec, spec);
    log_info("persona=%s event=request verb=create image=%s", argv[1], argv[2]);
    str_copy(c->verb, sizeof c->verb, "create");
    job_launch(si, JOB_CREATE);
    op_changed(&m.slots[si].p, NULL);
    if (m.slots[si].used)
        wait_for(c, si, 0);
}

static void do_change(struct conn *c, const char *verb, const char *name)
{
    int si = named(c, name, true);
    if (si < 0)
        return;
    struct persona *p = &m.slots[si].p;
    bool exclusive = strcmp(verb, "reset") == 0 || strcmp(verb, "rm") == 0;
    if (exclusive && persona_busy(p)) {
        conn_reply(c, 3, "%s is busy (%s); try again when it is done",
                   p->semantic, persona_state_name(p->state));
        return;
    }
    log_info("persona=%s event=request verb=%s", p->semantic, verb);
    int64_t now = time_mono_ms();
    str_copy(c->verb, sizeof c->verb, verb);
    if (strcmp(verb, "start") == 0) {
        if (p->state == PS_RUNNING) {
            conn_reply(c, 0, "%s running (already)", p->semantic);
            p->want_up = true;
            return;
        }
        char gov[160];
        if (p->state != PS_STARTING && governor_file_refuses(m.rundir, gov, sizeof gov)) {
            log_warn("persona=%s event=start-refused by=governor state=\"%s\"", p->semantic, gov);
            conn_reply(c, 3, "%s not started: the governor refuses new starts under pressure "
                       "(%s); see bay0 governor, and try again when it falls",
                       p->semantic, gov);
            return;
        }
        uint32_t snap = p->starts;
        persona_on_event(p, PE_WANT_UP, NULL, now, ops());
        /* a start already in flight counts as this one */
        bool joined = p->state == PS_STARTING && p->starts == snap;
        wait_for(c, si, joined ? snap - 1 : snap);
    } else if (strcmp(verb, "stop") == 0) {
        persona_on_event(p, PE_WANT_DOWN, NULL, now, ops());
        wait_for(c, si, 0);
    } else if (strcmp(verb, "restart") == 0) {
        uint32_t snap = p->starts;
        persona_on_event(p, PE_WANT_RESTART, NULL, now, ops());
        wait_for(c, si, snap);
    } else if (strcmp(verb, "reset") == 0) {
        uint32_t snap = p->resets;
        persona_on_event(p, PE_WANT_RESET, NULL, now, ops());
        wait_for(c, si, snap);
    } else {
        persona_on_event(p, PE_WANT_REMOVE, NULL, now, ops());
        if (m.slots[si].used)
            wait_for(c, si, 0);
    }
}

static void dispatch(struct conn *c)
{
    static char *argv[CONN_IN_BYTES_MAX / 2];
    c->in[strcspn(c->in, "\n")] = '\0';
    int argc = split_tabs(c->in, argv, (int)ARRAY_LEN(argv));
    const char *verb = argv[0];
    bool read_only = strcmp(verb, "list") == 0 || strcmp(verb, "ping") == 0 ||
                     strcmp(verb, "times") == 0;
    if (strcmp(verb, "times") == 0) { /* never parked: analyze shows the wait */
        times_rows(c);
        return;
    }
    if (strcmp(verb, "ping") == 0) {
        conn_reply(c, 0, "persona-manager pid %d mode %s", (int)getpid(),
                   m.mode == MODE_READY ? "ready"
                   : m.mode == MODE_DIRTY ? "no-database" : "reconciling");
        return;
    }
    if (!read_only && !c->can_write) {
        conn_reply(c, 4, "permission denied: only root may change personas");
        return;
    }
    if (m.mode == MODE_RECONCILING) {
        /* answered once the boot reconcile is done: dispatched again from
         * c->in, so put back the tabs split_tabs cut it at */
        for (int i = 1; i < argc; i++)
            argv[i][-1] = '\t';
        c->phase = C_PARKED;
        return;
    }
    /* Without /persist even a reconcile is refused: it would write the
     * database into the bare mount point, on the root file system. */
    if (m.mode == MODE_DIRTY && (m.dirty_unmounted || strcmp(verb, "reconcile") != 0)) {
        if (m.dirty_unmounted)
            conn_reply(c, 1, "personas are unavailable: %s (a dirty boot: the "
                       "state database is on it); once it is mounted, "
                       "`bay0 restart personas`", m.dirty_reason);
        else
            conn_reply(c, 1, "personas are unavailable: %s; once that is "
                       "mended, `bay0 reconcile` tries again", m.dirty_reason);
        return;
    }
    if (strcmp(verb, "list") == 0) {
        list_rows(c);
        conn_reply(c, 0, "%s", "");
    } else if (strcmp(verb, "create") == 0) {
        do_create(c, argc, argv);
    } else if ((strcmp(verb, "start") == 0 || strcmp(verb, "stop") == 0 ||
                strcmp(verb, "restart") == 0 || strcmp(verb, "reset") == 0 ||
                strcmp(verb, "rm") == 0) && argc == 2) {
        do_change(c, verb, argv[1]);
    } else if (strcmp(verb, "reconcile") == 0) {
        bool dry = argc > 1 && strcmp(argv[1], "--dry-run") == 0;
        if (m.rec_pid != 0 || (!dry && jobs_in_flight())) {
            conn_reply(c, 3, "busy: persona jobs are in flight; try again");
            return;
        }
        c->phase = C_WAITING;
        c->persona = -1;
        reconcile_launch((int)(c - m.conns), dry);
        if (m.rec_pid == 0)
            conn_reply(c, 3, "cannot start the reconcile (fork failed)");
    } else {
        conn_reply(c, 2, "unknown or malformed request '%.32s'", verb);
    }
}

static void handle_parked(void)
{
    for (int i = 0; i < CONNS_MAX; i++)
        if (m.conns[i].phase == C_PARKED)
            dispatch(&m.conns[i]);
}

static void conn_readable(int ci, uint32_t events)
{
    struct conn *c = &m.conns[ci];
    if (c->phase == C_FLUSHING) {
        conn_flush(c);
        return;
    }
    if (c->phase != C_READING) {
        if (events & (EPOLLHUP | EPOLLERR))
            conn_close(c); /* the client gave up waiting */
        return;
    }
    ssize_t n = read(c->fd, c->in + c->in_len, CONN_IN_BYTES_MAX - c->in_len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    c->in_len += (size_t)n;
    c->in[c->in_len] = '\0';
    if (memchr(c->in, '\n', c->in_len) != NULL)
        dispatch(c);
    else if (c->in_len == CONN_IN_BYTES_MAX)
        conn_reply(c, 2, "request longer than %d bytes", CONN_IN_BYTES_MAX);
}

static void on_accept(void)
{
    for (;;) {
        int fd = accept4(m.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct ucred cred;
        socklen_t len = sizeof cred;
        int ci = -1;
        for (int i = 0; i < CONNS_MAX && ci < 0; i++)
            if (m.conns[i].phase == C_FREE)
                ci = i;
        if (ci < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
            static const char busy[] = "ERR 3 busy: every connection is in use\n";
            (void)!write(fd, busy, sizeof busy - 1);
            close(fd);
            continue;
        }
        struct conn *c = &m.conns[ci];
        c->fd = fd;
        c->phase = C_READING;
        c->can_write = cred.uid == 0 || cred.uid == getuid();
        c->in_len = c->out_len = c->out_off = 0;
        c->verb[0] = '\0';
        c->persona = -1;
        watch(fd, W_CONN, ci, EPOLLIN);
    }
}

/* ---- the loop -------------------------------------------------------------------- */

static void reap(void)
{
    for (int rounds = 0; rounds < 1024; rounds++) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        if (pid == m.watch_pid)
            m.watch_pid = 0;
        for (int i = 0; i < PERSONAS_MAX; i++) {
            if (m.slots[i].log_podman == pid)
                m.slots[i].log_podman = 0;
            if (m.slots[i].log_logger == pid)
                m.slots[i].log_logger = 0;
        }
        /* jobs end by their pipe's EOF: their answer is in the pipe */
    }
}

static int64_t next_deadline_ms(void)
{
    int64_t next = -1;
#define CONSIDER(t) do { if ((t) > 0 && (next < 0 || (t) < next)) next = (t); } while (0)
    for (int i = 0; i < JOBS_MAX; i++)
        if (m.jobs[i].pid != 0)
            CONSIDER(m.jobs[i].deadline_ms);
    for (int i = 0; i < PERSONAS_MAX; i++)
        if (m.slots[i].used && m.slots[i].p.state == PS_BACKOFF)
            CONSIDER(m.slots[i].p.timer_ms);
    if (m.rec_pid != 0)
        CONSIDER(m.rec_deadline_ms);
    CONSIDER(m.watch_restart_ms);
#undef CONSIDER
    return next;
}

static void on_deadlines(void)
{
    int64_t now = time_mono_ms();
    for (int i = 0; i < JOBS_MAX; i++)
        if (m.jobs[i].pid != 0 && now >= m.jobs[i].deadline_ms)
            job_done(&m.jobs[i], true);
    for (int i = 0; i < PERSONAS_MAX; i++)
        if (m.slots[i].used && m.slots[i].p.state == PS_BACKOFF &&
            now >= m.slots[i].p.timer_ms)
            persona_on_event(&m.slots[i].p, PE_TIMER, NULL, now, ops());
    if (m.rec_pid != 0 && now >= m.rec_deadline_ms)
        reconcile_finished(true);
    if (m.watch_restart_ms != 0 && now >= m.watch_restart_ms &&
        m.watch_pid == 0 && m.mode == MODE_READY)
        watcher_start();
}

static void on_signal(void)
{
    struct signalfd_siginfo si;
    while (read(m.signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD)
            reap();
        else {
            log_info("event=exit signal=%s effect=\"personas keep running; "
                     "the next manager adopts them\"", signal_name((int)si.ssi_signo));
            m.stopping = true;
        }
    }
}

static void dispatch_event(uint64_t data, uint32_t events)
{
    enum watch_kind k = (enum watch_kind)(data >> 32);
    int index = (int)(uint32_t)data;
    switch (k) {
    case W_SIGNAL: on_signal(); break;
    case W_LISTEN: on_accept(); break;
    case W_CONN: conn_readable(index, events); break;
    case W_JOB: job_readable(index); break;
    case W_RECONCILE: reconcile_readable(); break;
    case W_WATCHER: watcher_readable(); break;
    default: BAY0_ASSERT(!"unknown watch kind");
    }
}

static void loop(void)
{
    while (!m.stopping) {
        int64_t next = next_deadline_ms();
        int timeout = -1;
        if (next >= 0) {
            int64_t left = next - time_mono_ms();
            timeout = left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
        }
        struct epoll_event evs[EPOLL_EVENTS_MAX];
        int n = epoll_wait(m.epoll_fd, evs, EPOLL_EVENTS_MAX, timeout);
        if (n < 0 && errno != EINTR) {
            log_error("event=epoll-failed error=\"%s\"", strerror(errno));
            return;
        }
        for (int i = 0; i < n; i++)
            dispatch_event(evs[i].data.u64, evs[i].events);
        on_deadlines();
    }
}

/* ---- start-up --------------------------------------------------------------------- */

static int listen_socket(void)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    str_copy(addr.sun_path, sizeof addr.sun_path, m.sock_path);
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof addr) == 0) {
        close(probe);
        log_error("event=already-running socket=%s reason=\"another persona manager answers there\"",
                  m.sock_path);
        return -1;
    }
    if (probe >= 0)
        close(probe);
    unlink(m.sock_path);
    m.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m.listen_fd < 0 ||
        bind(m.listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(m.listen_fd, 64) < 0) {
        log_error("event=listen-failed socket=%s error=\"%s\"", m.sock_path, strerror(errno));
        return -1;
    }
    chmod(m.sock_path, 0666); /* anyone may list; SO_PEERCRED decides */
    return 0;
}

static const char mgr_usage[] =
    "usage: bay0 persona-manager [--rundir DIR] [--logdir DIR] [--notify-fd N]\n"
    "  The persona manager (run by bay0 as the service `personas`): owns the\n"
    "  personas' lifecycle, answers `bay0 persona` and `bay0 reconcile` on\n"
    "  RUNDIR/persona. Personas' output goes to LOGDIR/p__NAME/current.\n"
    "  --notify-fd N: write a newline on fd N once it listens (readiness).\n"
    "  Environment: BAY0_PODMAN (podman's command line), BAY0_PODMAN_TIMEOUT_MS,\n"
    "  BAY0_PERSIST_DIR (the state database's root, default the persist disk).\n";

static int parse_args(int argc, char **argv, int *notify_fd)
{
    static const struct option longs[] = {
        {"rundir", required_argument, NULL, 'r'}, {"logdir", required_argument, NULL, 'l'},
        {"notify-fd", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char logdir[512];
    optind = 1;
    opterr = 0;
    int ch;
    uint64_t v;
    while ((ch = getopt_long(argc, argv, "r:l:n:h", longs, NULL)) != -1) {
        if (ch == 'r')
            m.rundir = optarg;
        else if (ch == 'l')
            m.logdir = optarg;
        else if (ch == 'n' && parse_u64(optarg, 1024, &v) && v > 2)
            *notify_fd = (int)v;
        else if (ch == 'h') {
            printf("%s", mgr_usage);
            return 0;
        } else {
            fprintf(stderr, "bay0 persona-manager: bad option '%s'\n%s",
                    argv[optind - 1], mgr_usage);
            return 2;
        }
    }
    m.rundir = cli_rundir(m.rundir);
    if (m.logdir == NULL) {
        const char *env = getenv("BAY0_LOGDIR");
        if (env != NULL && env[0] != '\0')
            m.logdir = env;
        else {
            str_fmt(logdir, sizeof logdir, "%s/log", m.rundir);
            m.logdir = logdir;
        }
    }
    if (!str_fmt(m.sock_path, sizeof m.sock_path, "%s/%s", m.rundir,
                 PERSONA_SOCKET_NAME) ||
        !str_fmt(m.piddir, sizeof m.piddir, "%s/personas", m.rundir)) {
        fprintf(stderr, "bay0 persona-manager: rundir too long: %s\n", m.rundir);
        return 2;
    }
    return -1;
}

static int setup_fds(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    m.signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    m.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (m.signal_fd < 0 || m.epoll_fd < 0)
        return -1;
    watch(m.signal_fd, W_SIGNAL, 0, EPOLLIN);
    mkdir(m.rundir, 0755);
    if (mkdir(m.piddir, 0755) < 0 && errno != EEXIST)
        log_warn("event=mkdir-failed path=%s error=\"%s\"", m.piddir, strerror(errno));
    if (listen_socket() < 0)
        return -1;
    watch(m.listen_fd, W_LISTEN, 0, EPOLLIN);
    return 0;
}

int persona_mgr_main(int argc, char **argv)
{
    int notify_fd = -1;
    int rc = parse_args(argc, argv, &notify_fd);
    if (rc >= 0)
        return rc;
    log_set_prefix("bay0-personas");
    for (int i = 0; i < PERSONAS_MAX; i++)
        m.slots[i].job = -1;
    m.rec_conn = -1;
    m.watch_fd = -1;
    m.mode = MODE_RECONCILING;
    m.watch_since_ns = wall_ns();
    if (setup_fds() < 0)
        return 1;
    log_info("event=listening socket=%s logdir=%s podman=\"%s\"",
             m.sock_path, m.logdir, exec_podman_cmdline());
    if (notify_fd >= 0) {
        (void)!write(notify_fd, "\n", 1);
        close(notify_fd);
    }
    /* A dirty boot: no /persist under PID 1 means no database at all. */
    if (getenv("BAY0_PERSIST_DIR") == NULL && getppid() == 1 &&
        !persist_is_mounted(state_persist_mountpoint())) {
        m.mode = MODE_DIRTY;
        m.dirty_unmounted = true;
        str_fmt(m.dirty_reason, sizeof m.dirty_reason, "%s is not mounted",
                state_persist_mountpoint());
        log_warn("event=no-database reason=\"%s\"", m.dirty_reason);
    } else {
        reconcile_launch(-1, false);
    }
    loop();
    unlink(m.sock_path);
    return 0;
}
