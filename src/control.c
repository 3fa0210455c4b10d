/* control.c — control socket server (protocol in control.h).
 *
 * Every connection has fixed buffers allocated at start-up; a status reply
 * of any size is streamed row by row as the client reads, so a slow or
 * absent reader costs one connection slot and nothing else. When every
 * slot is taken, the oldest connection still reading its request is
 * dropped for the new one. Never blocks: all sockets are non-blocking.
 */
#include "control.h"

#include "analyze.h"
#include "depgraph.h"
#include "focus.h"
#include "governor.h"
#include "log.h"
#include "loop.h"
#include "propagate.h"
#include "scan.h"
#include "service.h"
#include "svc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_OUT_BYTES_MAX 16384
#define CONTROL_ROW_BYTES_MAX 2048
#define CONTROL_ARGS_MAX (CONTROL_REQUEST_BYTES_MAX / 2 + 1)

enum conn_phase { PH_FREE, PH_READING, PH_STREAMING, PH_WAITING, PH_FLUSHING, PH_EVENTS };
#define EVENTS_NOTE_BYTES 160 /* kept free for the note that drops a slow reader */
enum verb { V_NONE, V_STATUS, V_START, V_STOP, V_RESTART, V_TIMES };

struct conn {
    int fd;
    uint8_t phase;
    uint8_t verb;
    bool can_write;
    bool epollout;
    uid_t uid;
    uint64_t accepted_seq;
    size_t in_len;
    size_t out_len;
    size_t out_off;
    uint32_t stream_pos;
    bool stream_all;
    uint32_t n_targets;
    char in[CONTROL_REQUEST_BYTES_MAX + 1];
    char out[CONTROL_OUT_BYTES_MAX];
    int32_t targets[CONTROL_TARGETS_MAX];
    uint32_t target_gen[CONTROL_TARGETS_MAX];
};

static struct conn *conns;
static int listen_fd = -1;
static uint64_t accept_seq;
/* Out of fds: one kept in reserve takes a connection anyway (see
 * accept_out_of_fds), and accepting pauses instead of spinning. */
static int reserve_fd = -1;
static bool accept_paused;
static bool fds_short_logged;
static int64_t accept_resume_ms;
static uint32_t events_conns; /* connections in PH_EVENTS */

static void accept_resume(void)
{
    if (!accept_paused)
        return;
    accept_paused = false;
    sup_watch_fd(listen_fd, WATCH_CONTROL, 0); /* level-triggered: pending ones fire */
}

static void conn_close(struct conn *c)
{
    sup_unwatch_fd(c->fd);
    close(c->fd);
    if (c->phase == PH_EVENTS)
        events_conns--;
    c->phase = PH_FREE;
    accept_resume(); /* an fd is free again */
}

int control_listen(const char *rundir)
{
    conns = calloc(CONTROL_CONNECTIONS_MAX, sizeof *conns);
    if (!conns)
        return -1;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (!str_fmt(addr.sun_path, sizeof addr.sun_path, "%s/control", rundir)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* Refuse to steal the socket of a supervisor that is still alive. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof addr) == 0) {
        close(probe);
        log_error("event=already-running socket=%s", addr.sun_path);
        errno = EADDRINUSE;
        return -1;
    }
    if (probe >= 0)
        close(probe);
    unlink(addr.sun_path);
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(listen_fd, 64) < 0)
        return -1;
    chmod(addr.sun_path, 0666); /* anyone may ask; SO_PEERCRED decides */
    sup_watch_fd(listen_fd, WATCH_CONTROL, 0);
    reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return 0;
}

void control_close(const char *rundir)
{
    char path[108];
    if (str_fmt(path, sizeof path, "%s/control", rundir))
        unlink(path);
    for (int i = 0; i < CONTROL_CONNECTIONS_MAX; i++)
        if (conns[i].phase != PH_FREE)
            conn_close(&conns[i]);
    close(listen_fd);
}

/* A slot for a new client. Read-only clients may hold at most half of
 * the slots between them; when all are busy, the oldest connection still
 * reading its request goes, and a privileged client may also take the
 * slot of the oldest read-only one (whatever it is doing), so nobody
 * without rights can lock root out. */
static struct conn *conn_slot(bool privileged)
{
    struct conn *free_slot = NULL, *oldest_reading = NULL, *oldest_ro = NULL;
    int read_only = 0;
    for (int i = 0; i < CONTROL_CONNECTIONS_MAX; i++) {
        struct conn *c = &conns[i];
        if (c->phase == PH_FREE) {
            free_slot = free_slot ? free_slot : c;
            continue;
        }
        read_only += !c->can_write;
        if (c->phase == PH_READING && (!oldest_reading || c->accepted_seq < oldest_reading->accepted_seq))
            oldest_reading = c;
        if (!c->can_write && (!oldest_ro || c->accepted_seq < oldest_ro->accepted_seq))
            oldest_ro = c;
    }
    if (!privileged && read_only >= CONTROL_CONNECTIONS_MAX / 2)
        return NULL; /* refused: read-only clients hold their share */
    if (free_slot)
        return free_slot;
    struct conn *victim = privileged && oldest_ro ? oldest_ro : oldest_reading;
    if (victim) {
        log_warn("event=control-evict uid=%u reason=\"all %d connections busy\"",
                 victim->uid, CONTROL_CONNECTIONS_MAX);
        conn_close(victim);
    }
    return victim;
}

/* Takes a new connection into a slot, or tells it why not and closes it.
 * on_reserve: it came in on the reserve fd, which only a privileged client
 * may keep. */
static void accept_one(int fd, bool on_reserve)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        close(fd);
        return;
    }
    bool privileged = cred.uid == 0 || cred.uid == geteuid();
    struct conn *c = on_reserve && !privileged ? NULL : conn_slot(privileged);
    if (!c) {
        static const char busy_ro[] = "ERR 3 busy: too many read-only connections\n";
        static const char busy[] = "ERR 3 busy: every connection is in use\n";
        static const char busy_fds[] = "ERR 3 busy: the supervisor is out of file descriptors\n";
        const char *msg = on_reserve ? busy_fds : privileged ? busy : busy_ro;
        (void)!send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
        close(fd);
        return;
    }
    c->fd = fd;
    c->phase = PH_READING;
    c->uid = cred.uid;
    c->can_write = privileged;
    c->accepted_seq = ++accept_seq;
    c->in_len = c->out_len = c->out_off = 0;
    c->epollout = false;
    c->verb = V_NONE;
    sup_watch_fd(fd, WATCH_CONN, (int32_t)(c - conns));
}

/* The oldest read-only connection, to free an fd for a privileged one. */
static bool evict_oldest_read_only(void)
{
    struct conn *oldest = NULL;
    for (int i = 0; i < CONTROL_CONNECTIONS_MAX; i++) {
        struct conn *c = &conns[i];
        if (c->phase != PH_FREE && !c->can_write &&
            (!oldest || c->accepted_seq < oldest->accepted_seq))
            oldest = c;
    }
    if (!oldest)
        return false;
    log_warn("event=control-evict uid=%u reason=\"out of file descriptors\"", oldest->uid);
    conn_close(oldest);
    return true;
}

/* accept() said EMFILE or ENFILE. The listener stays readable, so retrying
 * would spin: the reserve fd is closed to take the next connection (a
 * privileged client is served, and the oldest read-only connection goes
 * to get the reserve back; anyone else is told busy), then accepting
 * pauses CONTROL_ACCEPT_BACKOFF_MS, or until a connection closes. */
static void accept_out_of_fds(void)
{
    if (!fds_short_logged)
        log_warn("event=control-out-of-fds effect=\"only privileged clients are taken; "
                 "accepting pauses %d ms at a time\" hint=\"raise RLIMIT_NOFILE\"",
                 CONTROL_ACCEPT_BACKOFF_MS);
    fds_short_logged = true;
    for (int n = 0; n < CONTROL_ACCEPT_BATCH && reserve_fd >= 0; n++) {
        close(reserve_fd);
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int err = errno;
        if (fd >= 0)
            accept_one(fd, true);
        reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (reserve_fd < 0 && evict_oldest_read_only())
            reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 && (err == EAGAIN || err == EWOULDBLOCK))
            return; /* nobody else is waiting */
        if (fd < 0)
            break;
    }
    accept_paused = true;
    accept_resume_ms = time_mono_ms() + CONTROL_ACCEPT_BACKOFF_MS;
    sup_unwatch_fd(listen_fd);
}

int64_t control_deadline_ms(void) { return accept_paused ? accept_resume_ms : 0; }

void control_on_timer(int64_t now_ms)
{
    if (accept_paused && now_ms >= accept_resume_ms)
        accept_resume();
}

void control_on_accept(void)
{
    for (int n = 0; n < CONTROL_ACCEPT_BATCH; n++) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
            accept_out_of_fds();
            return;
        }
        if (fd < 0)
            return;
        fds_short_logged = false;
        accept_one(fd, false);
    }
}

/* ---- output ------------------------------------------------------------- */

static void out_add(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_add(struct conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = sizeof c->out - c->out_len;
    int n = vsnprintf(c->out + c->out_len, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        c->out_len += (size_t)n < room ? (size_t)n : room - 1;
}

static void set_epollout(struct conn *c, bool on)
{
    if (c->epollout == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0),
                             .data.u64 = ((uint64_t)WATCH_CONN << 32) | (uint32_t)(c - conns)};
    sup_rewatch_fd(c->fd, &ev);
    c->epollout = on;
}

static void stream_rows(struct conn *c);

/* Sends what is buffered; refills from the status stream; closes when the
 * reply is complete. */
static void conn_flush(struct conn *c)
{
    for (;;) {
        while (c->out_off < c->out_len) {
            ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN) {
                set_epollout(c, true);
                return;
            }
            if (n <= 0) {
                conn_close(c);
                return;
            }
            c->out_off += (size_t)n;
        }
        c->out_off = c->out_len = 0;
        if (c->phase == PH_STREAMING) {
            stream_rows(c);
            continue;
        }
        if (c->phase == PH_FLUSHING)
            conn_close(c);
        else
            set_epollout(c, false);
        return;
    }
}

static void reply_final(struct conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_final(struct conn *c, int code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (code == 0)
        out_add(c, "OK%s%s\n", text[0] ? " " : "", text);
    else
        out_add(c, "ERR %d %s\n", code, text);
    c->phase = PH_FLUSHING;
    conn_flush(c);
}

/* ---- status rows -------------------------------------------------------- */

static void append_field(char *row, size_t size, size_t *len, const char *text)
{
    size_t room = size - *len;
    if (room < 2)
        return;
    size_t n = 0;
    for (; text[n] && n + 1 < room; n++) {
        char ch = text[n];
        row[*len + n] = ch == '\t' || ch == '\n' || ch == '\r' ? ' ' : ch;
    }
    *len += n;
    row[*len] = '\0';
}

static void dep_list(const struct svc *s, bool waiting_only, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < s->dep_count; i++) {
        const struct svc *dep;
        const char *name = svc_dep(s, i, &dep);
        if (waiting_only && dep && svc_is_ready(dep))
            continue;
        if (len && len + 1 < size)
            buf[len++] = ',';
        append_field(buf, size, &len, name);
    }
    if (len == 0)
        str_copy(buf, size, "-");
}

static void status_row(struct conn *c, const struct svc *s)
{
    static const char *const kinds[] = {"none", "exit", "signal"};
    static const char *const types[] = {"longrun", "oneshot"};
    char deps[512], waiting[512];
    dep_list(s, false, deps, sizeof deps);
    if (s->state == ST_WAITING)
        dep_list(s, true, waiting, sizeof waiting);
    else
        str_copy(waiting, sizeof waiting, "-");
    char row[CONTROL_ROW_BYTES_MAX];
    int n = snprintf(row, sizeof row, "S\t%s\t%s\t%d\t%lld\t%u\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t",
                     s->name, svc_state_name(s->state), (int)s->pid,
                     (long long)s->since_wall_ms, s->restarts, kinds[s->exit_kind],
                     s->exit_value, s->want_up ? "up" : "down", svc_is_ready(s) ? 1 : 0,
                     s->is_logger ? "logger" : types[s->def.type], deps, waiting);
    size_t len = n > 0 && (size_t)n < sizeof row ? (size_t)n : 0;
    char info[96];
    const char *reason = s->reason[0] ? s->reason : "-";
    if (!s->reason[0] && s->state == ST_STARTING) { /* say what it waits for */
        if (s->def.readiness == SVC_READY_FD)
            snprintf(info, sizeof info, "waiting for readiness on notification-fd %d",
                     s->def.notification_fd);
        else if (s->def.readiness == SVC_READY_NOTIFY)
            snprintf(info, sizeof info, "waiting for readiness: READY=1 on NOTIFY_SOCKET");
        else
            snprintf(info, sizeof info, "waiting for run to %s",
                     s->def.type == SVC_TYPE_ONESHOT ? "exit 0 (oneshot)" : "start");
        reason = info;
    }
    append_field(row, sizeof row - 1, &len, reason);
    row[len++] = '\n';
    row[len] = '\0';
    out_add(c, "%s", row);
}

static void times_row(struct conn *c, const struct svc *s)
{
    char deps[512], row[CONTROL_ROW_BYTES_MAX];
    dep_list(s, false, deps, sizeof deps);
    analyze_row(s, deps, row, sizeof row);
    out_add(c, "%s\n", row);
}

static void stream_rows(struct conn *c)
{
    while (sizeof c->out - c->out_len > CONTROL_ROW_BYTES_MAX) {
        const struct svc *s = NULL;
        if (c->stream_all) {
            while (c->stream_pos < svc_table_end() && !svc_at(c->stream_pos)->in_use)
                c->stream_pos++;
            if (c->stream_pos < svc_table_end())
                s = svc_at(c->stream_pos);
        } else if (c->stream_pos < c->n_targets) {
            s = svc_at((uint32_t)c->targets[c->stream_pos]);
        }
        if (!s) {
            char summary[128] = "";
            if (c->verb == V_TIMES)
                analyze_summary(summary, sizeof summary);
            reply_final(c, 0, "%s", summary);
            return;
        }
        c->stream_pos++;
        if (s->in_use && c->verb == V_TIMES)
            times_row(c, s);
        else if (s->in_use)
            status_row(c, s);
    }
}

/* ---- requests ----------------------------------------------------------- */

static int split_args(char *line, char **argv)
{
    int argc = 0;
    for (char *p = strtok(line, " \t"); p && argc < CONTROL_ARGS_MAX; p = strtok(NULL, " \t"))
        argv[argc++] = p;
    return argc;
}

/* A service, or a log/run logger by the name status shows ("NAME/log"). */
static struct svc *target_find(const char *name)
{
    struct svc *s = svc_find(name);
    for (uint32_t i = 0; !s && strchr(name, '/') && i < svc_table_end(); i++)
        if (svc_at(i)->in_use && svc_at(i)->is_logger && strcmp(svc_at(i)->name, name) == 0)
            s = svc_at(i);
    return s;
}

/* Resolves names into c->targets; replies with an error and returns false
 * when one is unknown (nothing is done to any of them then). */
static bool resolve_targets(struct conn *c, int argc, char **argv)
{
    c->n_targets = 0;
    for (int i = 0; i < argc; i++) {
        struct svc *s = target_find(argv[i]);
        if (!s) {
            char shown[SERVICE_NAME_BYTES_MAX + 1];
            str_copy(shown, sizeof shown, argv[i]);
            const char *near = NULL;
            for (uint32_t j = 0; !near && j < svc_table_end(); j++)
                if (svc_at(j)->in_use && name_near(argv[i], svc_at(j)->name))
                    near = svc_at(j)->name;
            if (near)
                reply_final(c, 1, "no such service: %s; did you mean %s?", shown, near);
            else
                reply_final(c, 1, "no such service: %s (bay0 status lists them)", shown);
            return false;
        }
        if (c->n_targets == CONTROL_TARGETS_MAX) {
            reply_final(c, 2, "too many names (max %d)", CONTROL_TARGETS_MAX);
            return false;
        }
        c->target_gen[c->n_targets] = s->generation;
        c->targets[c->n_targets++] = svc_index(s);
    }
    return true;
}

static void do_status(struct conn *c, uint8_t verb, int argc, char **argv)
{
    if (!resolve_targets(c, argc, argv))
        return;
    c->verb = verb;
    c->stream_all = argc == 0;
    c->stream_pos = 0;
    c->phase = PH_STREAMING;
    conn_flush(c);
}

/* A service's log/run logger that failed (restart limit) comes back with
 * the service: `start` and `restart` of the service start it again. */
static void logger_back_up(struct svc *s)
{
    if (s->logger == SVC_NONE)
        return;
    struct svc *lg = svc_at((uint32_t)s->logger);
    if (!lg->removed && lg->state == ST_FAILED)
        service_on_event(lg, EV_WANT_UP, 0);
}

static void change_one(struct conn *c, struct svc *s, enum verb verb)
{
    if (verb == V_START) {
        if (s->is_logger)
            service_on_event(s, EV_WANT_UP, 0);
        else
            sup_want_up_closure(s);
        logger_back_up(s);
    } else if (verb == V_RESTART) {
        if (!s->is_logger) /* like start: what it needs comes up first */
            sup_want_up_dependencies(s);
        service_on_event(s, EV_WANT_RESTART, 0);
        logger_back_up(s);
    } else {
        char others[1024];
        if (sup_want_down_closure(s, others, sizeof others) > 0)
            out_add(c, "I %s: also stopping what depends on it: %s\n", s->name, others);
    }
}

static void do_change(struct conn *c, enum verb verb, int argc, char **argv)
{
    bool wait = true;
    if (argc > 0 && strcmp(argv[0], "--nowait") == 0) {
        wait = false;
        argc--;
        argv++;
    }
    if (argc == 0) {
        reply_final(c, 2, "usage: %s [--nowait] NAME...",
                    verb == V_START ? "start" : verb == V_STOP ? "stop" : "restart");
        return;
    }
    if (!resolve_targets(c, argc, argv))
        return;
    for (uint32_t i = 0; i < c->n_targets; i++) {
        struct svc *s = svc_at((uint32_t)c->targets[i]);
        log_info("svc=%s event=request verb=%s uid=%u", s->name,
                 verb == V_START ? "start" : verb == V_STOP ? "stop" : "restart", c->uid);
        change_one(c, s, verb);
    }
    c->verb = (uint8_t)verb;
    c->phase = PH_WAITING;
    if (!wait)
        reply_final(c, 0, "%s", "");
    control_on_change(); /* this one, and waits this request superseded */
}

static void do_signal(struct conn *c, int argc, char **argv)
{
    int sig = argc >= 2 ? signal_from_name(argv[0]) : 0;
    if (sig == 0) {
        reply_final(c, 2, "usage: signal SIG NAME... (SIG a name like TERM or a number)");
        return;
    }
    if (!resolve_targets(c, argc - 1, argv + 1))
        return;
    for (uint32_t i = 0; i < c->n_targets; i++) {
        struct svc *s = svc_at((uint32_t)c->targets[i]);
        if (s->pid > 0) {
            kill_leader_group(s->pid, sig);
            log_info("svc=%s event=signal signal=%s uid=%u", s->name, signal_name(sig), c->uid);
        } else {
            out_add(c, "E %s not running\n", s->name);
        }
    }
    reply_final(c, 0, "%s", "");
}

static void do_reload(struct conn *c)
{
    struct scan_summary sum = sup_reload();
    if (sum.error) {
        reply_final(c, 1, "reload: cannot read the scan directory %s: %s; nothing changed, "
                    "the services keep running as they were", sup_scandir(), strerror(sum.error));
        return;
    }
    out_add(c, "I services=%u added=%u removed=%u restarted=%u invalid=%u\n",
            sum.total, sum.added, sum.removed, sum.restarted, sum.failed);
    reply_final(c, 0, "%s", "");
}

static void do_shutdown(struct conn *c, const char *verb)
{
    int action = SUPERVISE_EXIT_STOP;
    if (strcmp(verb, "poweroff") == 0)
        action = SUPERVISE_EXIT_POWEROFF;
    else if (strcmp(verb, "reboot") == 0)
        action = SUPERVISE_EXIT_REBOOT;
    else if (strcmp(verb, "halt") == 0)
        action = SUPERVISE_EXIT_HALT;
    if (action != SUPERVISE_EXIT_STOP && !sup_is_pid1()) {
        reply_final(c, 1, "%s: this supervisor is not PID 1; use `bay0 shutdown`", verb);
        return;
    }
    log_info("event=request verb=%s uid=%u", verb, c->uid);
    reply_final(c, 0, "%s", "");
    sup_request_shutdown(action);
}

/* `governor [--json]`: the governor's report, one "I " line per line. */
static void do_governor(struct conn *c, int argc, char **argv)
{
    static char report[CONTROL_OUT_BYTES_MAX - 1024];
    governor_report(report, sizeof report, argc > 0 && strcmp(argv[0], "--json") == 0);
    for (char *line = report, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl)
            break;
        out_add(c, "I %.*s\n", (int)(nl - line), line);
    }
    reply_final(c, 0, "%s", "");
}

/* `focus [--json] [p://NAME]`: reading is for anyone, switching for root. */
static void do_focus(struct conn *c, int argc, char **argv)
{
    static char report[FOCUS_REPLY_BYTES_MAX];
    char msg[400];
    int code = focus_request(argc, argv, c->can_write, report, sizeof report, msg, sizeof msg);
    for (char *line = report, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl)
            break;
        out_add(c, "I %.*s\n", (int)(nl - line), line);
    }
    reply_final(c, code, "%s", msg);
}

/* ---- events ------------------------------------------------------------- */

static void do_events(struct conn *c)
{
    c->phase = PH_EVENTS;
    events_conns++;
    /* From here on no change is missed: a client may now read the state
     * it waits on and then wait for the change (no polling). */
    out_add(c, "{\"subscribed_us\":%lld}\n", (long long)time_boot_us());
    conn_flush(c);
}

/* JSON string body of text (quotes and backslashes escaped, control
 * bytes dropped) into buf. */
static void json_body(const char *text, char *buf, size_t size)
{
    size_t n = 0;
    for (; *text && n + 3 < size; text++) {
        unsigned char ch = (unsigned char)*text;
        if (ch < 32)
            continue;
        if (ch == '"' || ch == '\\')
            buf[n++] = '\\';
        buf[n++] = (char)ch;
    }
    buf[n] = '\0';
}

void control_on_state(const struct svc *s, unsigned old)
{
    if (events_conns == 0)
        return;
    char reason[SERVICE_REASON_BYTES_MAX * 2], line[CONTROL_ROW_BYTES_MAX];
    json_body(s->reason, reason, sizeof reason);
    int n = snprintf(line, sizeof line,
                     "{\"time_us\":%lld,\"unit\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
                     "\"pid\":%d,\"reason\":\"%s\"}\n",
                     (long long)time_boot_us(), s->name, svc_state_name(old),
                     svc_state_name(s->state), (int)s->pid, reason);
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    for (int i = 0; i < CONTROL_CONNECTIONS_MAX; i++) {
        struct conn *c = &conns[i];
        if (c->phase != PH_EVENTS)
            continue;
        if (sizeof c->out - c->out_len < (size_t)n + EVENTS_NOTE_BYTES) {
            /* It does not read: never buffer without bound. */
            log_warn("event=events-reader-dropped uid=%u queued=%zu", (unsigned)c->uid,
                     c->out_len - c->out_off);
            out_add(c, "{\"dropped\":\"reader too slow: %zu bytes queued\"}\n",
                    c->out_len - c->out_off);
            events_conns--;
            c->phase = PH_FLUSHING;
            conn_flush(c);
            if (c->phase != PH_FREE)
                conn_close(c); /* the note, if it fit, is on its way */
            continue;
        }
        out_add(c, "%s", line);
        if (!c->epollout)
            conn_flush(c);
    }
}

static bool is_read_only(const char *verb)
{
    return strcmp(verb, "status") == 0 || strcmp(verb, "ping") == 0 ||
           strcmp(verb, "times") == 0 || strcmp(verb, "events") == 0 ||
           strcmp(verb, "governor") == 0 || strcmp(verb, "focus") == 0;
}

static void handle_request(struct conn *c)
{
    for (size_t i = 0; i < c->in_len; i++) {
        unsigned char ch = (unsigned char)c->in[i];
        if (ch < 32 && ch != '\t') {
            reply_final(c, 2, "malformed request: control byte 0x%02x", ch);
            return;
        }
    }
    c->in[c->in_len] = '\0';
    static char *argv[CONTROL_ARGS_MAX];
    int argc = split_args(c->in, argv);
    if (argc == 0) {
        reply_final(c, 2, "empty request");
        return;
    }
    const char *verb = argv[0];
    if (!c->can_write && !is_read_only(verb)) {
        reply_final(c, 4, "permission denied: uid %u may only read status", c->uid);
        return;
    }
    if (strcmp(verb, "status") == 0)
        do_status(c, V_STATUS, argc - 1, argv + 1);
    else if (strcmp(verb, "times") == 0)
        do_status(c, V_TIMES, argc - 1, argv + 1);
    else if (strcmp(verb, "events") == 0 && argc == 1)
        do_events(c);
    else if (strcmp(verb, "ping") == 0)
        reply_final(c, 0, "bay0 %s pid %d persist=%s scandir %s logdir %s", BAY0_VERSION,
                    getpid(), sup_persists() ? "on" : sup_is_pid1() ? "dirty" : "off",
                    sup_scandir(), sup_logdir()); /* logdir last: to the end of the line */
    else if (strcmp(verb, "start") == 0)
        do_change(c, V_START, argc - 1, argv + 1);
    else if (strcmp(verb, "stop") == 0)
        do_change(c, V_STOP, argc - 1, argv + 1);
    else if (strcmp(verb, "restart") == 0)
        do_change(c, V_RESTART, argc - 1, argv + 1);
    else if (strcmp(verb, "signal") == 0)
        do_signal(c, argc - 1, argv + 1);
    else if (strcmp(verb, "reload") == 0)
        do_reload(c);
    else if (strcmp(verb, "governor") == 0)
        do_governor(c, argc - 1, argv + 1);
    else if (strcmp(verb, "focus") == 0)
        do_focus(c, argc - 1, argv + 1);
    else if (strcmp(verb, "shutdown") == 0 || strcmp(verb, "poweroff") == 0 ||
             strcmp(verb, "reboot") == 0 || strcmp(verb, "halt") == 0)
        do_shutdown(c, verb);
    else
        reply_final(c, 2, "unknown request '%.32s'", verb);
}

static void conn_read(struct conn *c)
{
    for (;;) {
        size_t room = CONTROL_REQUEST_BYTES_MAX - c->in_len;
        if (room == 0) {
            reply_final(c, 2, "request too long (max %d bytes)", CONTROL_REQUEST_BYTES_MAX);
            return;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) { /* closed before a full request: nothing to answer */
            conn_close(c);
            return;
        }
        char *nl = memchr(c->in + c->in_len, '\n', (size_t)n);
        c->in_len += (size_t)n;
        if (nl) {
            c->in_len = (size_t)(nl - c->in);
            handle_request(c);
            return;
        }
    }
}

void control_on_conn(int32_t index, uint32_t events)
{
    BAY0_ASSERT(index >= 0 && index < CONTROL_CONNECTIONS_MAX);
    struct conn *c = &conns[index];
    if (c->phase == PH_FREE)
        return;
    if (c->phase == PH_READING && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        conn_read(c);
        return;
    }
    if (events & (EPOLLHUP | EPOLLERR)) {
        conn_close(c);
        return;
    }
    if (events & EPOLLIN) { /* data or EOF after the request: EOF ends a wait */
        char scratch[256];
        ssize_t n = recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            conn_close(c);
            return;
        }
    }
    if (events & EPOLLOUT)
        conn_flush(c);
}

/* ---- waiting for states -------------------------------------------------- */

#define REPLY_SUPERSEDED 5 /* cli.h's CLI_EXIT_SUPERSEDED */

/* 1 reached, 0 not yet, -1 can no longer be reached, -2 superseded: a
 * stop whose service is wanted up again (a later start or restart; every
 * stop clears want_up at once). */
static int target_reached(const struct conn *c, uint32_t i)
{
    const struct svc *s = svc_at((uint32_t)c->targets[i]);
    if (!s->in_use)
        return c->verb == V_STOP ? 1 : -1;
    if (c->verb == V_STOP) {
        if (s->state == ST_DOWN || s->state == ST_FAILED)
            return 1;
        return s->want_up ? -2 : 0;
    }
    if (s->state == ST_FAILED || (!s->want_up && !svc_is_running(s)) ||
        sup_deps_waits_on_failure(s))
        return -1;
    if (c->verb == V_RESTART && s->generation == c->target_gen[i])
        return 0;
    return svc_is_ready(s) ? 1 : 0;
}

static bool check_waits(struct conn *c)
{
    bool done = true;
    for (uint32_t i = 0; i < c->n_targets; i++) {
        int r = target_reached(c, i);
        if (r == 0)
            done = false;
    }
    if (!done)
        return false;
    int failed = 0, superseded = 0;
    for (uint32_t i = 0; i < c->n_targets; i++) {
        int r = target_reached(c, i);
        const struct svc *s = svc_at((uint32_t)c->targets[i]);
        if (r == -2) {
            out_add(c, "E %s superseded: started again by another request before it stopped "
                    "(now %s)\n", s->name, svc_state_name(s->state));
            superseded++;
        } else if (r < 0) {
            if (s->state == ST_WAITING)
                out_add(c, "E %s waiting for a dependency that failed\n", s->name);
            else
                out_add(c, "E %s %s%s%s\n", s->name, svc_state_name(s->state),
                        s->reason[0] ? ": " : "", s->reason);
            failed++;
        }
    }
    if (failed)
        reply_final(c, 1, "%d of %u not reached", failed + superseded, c->n_targets);
    else if (superseded)
        reply_final(c, REPLY_SUPERSEDED, "superseded: %d of %u wanted up again", superseded,
                    c->n_targets);
    else
        reply_final(c, 0, "%s", "");
    return true;
}

void control_on_change(void)
{
    if (!conns)
        return;
    for (int i = 0; i < CONTROL_CONNECTIONS_MAX; i++)
        if (conns[i].phase == PH_WAITING)
            check_waits(&conns[i]);
}
