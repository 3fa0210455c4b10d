/* loop.c — the part of the event loop that the modules under it use
 * (loop.h): the epoll set they add their fds to, what the supervisor was
 * started with, the flush inhibits, a shutdown request. It calls nothing
 * above it: supervise.c, on top, owns the epoll_wait, the dispatch and the
 * shutdown itself, and takes what was asked here at the top of each turn.
 */
#include "loop.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

/* ---- epoll helpers ----------------------------------------------------- */

static uint64_t watch_data(uint32_t kind, int32_t index)
{
    BAY0_ASSERT(kind >= WATCH_SIGNAL && kind < WATCH_KIND_COUNT && index >= 0);
    return ((uint64_t)kind << 32) | (uint32_t)index;
}

void sup_watch_fd(int fd, uint32_t kind, int32_t index)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = watch_data(kind, index)};
    if (epoll_ctl(sup.epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        log_error("event=epoll-add-failed fd=%d error=\"%s\"", fd, strerror(errno));
}

void sup_unwatch_fd(int fd)
{
    epoll_ctl(sup.epoll_fd, EPOLL_CTL_DEL, fd, NULL);
}

void sup_rewatch_fd(int fd, struct epoll_event *ev)
{
    if (epoll_ctl(sup.epoll_fd, EPOLL_CTL_MOD, fd, ev) < 0)
        log_error("event=epoll-mod-failed fd=%d error=\"%s\"", fd, strerror(errno));
}

const char *sup_scandir(void) { return sup.scandir; }
const char *sup_logdir(void) { return sup.logdir; }
bool sup_is_pid1(void) { return sup.pid1; }
bool sup_persists(void) { return sup.persist_intent; }


/* ---- flush inhibits -------------------------------------------------------
 * A child writing critical state (the last-known-good time now; database
 * writes later) holds an inhibit: a shutdown, power-off, reboot or halt
 * that arrives meanwhile waits until the child has exited, at most
 * LOOP_FLUSH_INHIBIT_MS_MAX after it started, so the final kill never cuts a
 * flush in half. The loop does not block: shutdown just is not done yet. */
#define FLUSH_INHIBITS_MAX 8

struct flush_inhibit {
    pid_t pid; /* 0 = free */
    int64_t deadline_ms;
    const char *what;
};
static struct flush_inhibit flushes[FLUSH_INHIBITS_MAX];
static bool flush_wait_logged;

void sup_flush_begin(pid_t pid, const char *what)
{
    for (size_t i = 0; i < ARRAY_LEN(flushes); i++) {
        if (flushes[i].pid == 0) {
            flushes[i] = (struct flush_inhibit){pid, time_mono_ms() + LOOP_FLUSH_INHIBIT_MS_MAX, what};
            return;
        }
    }
    log_warn("event=flush-inhibit-full pid=%d what=%s", pid, what); /* it just is not waited for */
}

bool loop_flush_on_exit(pid_t pid)
{
    for (size_t i = 0; i < ARRAY_LEN(flushes); i++) {
        if (flushes[i].pid == pid) {
            if (sup.shutting_down)
                log_info("event=flush-done pid=%d what=%s", pid, flushes[i].what);
            flushes[i].pid = 0;
            return true;
        }
    }
    return false;
}

int64_t loop_flush_deadline_ms(void)
{
    int64_t next = 0;
    for (size_t i = 0; i < ARRAY_LEN(flushes); i++)
        if (flushes[i].pid && (!next || flushes[i].deadline_ms < next))
            next = flushes[i].deadline_ms;
    return next;
}

bool loop_flush_inhibits(void)
{
    int64_t now = time_mono_ms();
    bool waiting = false;
    for (size_t i = 0; i < ARRAY_LEN(flushes); i++) {
        struct flush_inhibit *f = &flushes[i];
        if (!f->pid)
            continue;
        if (f->deadline_ms <= now) {
            log_warn("event=flush-inhibit-expired pid=%d what=%s bound_ms=%d", f->pid, f->what,
                     LOOP_FLUSH_INHIBIT_MS_MAX);
            f->pid = 0;
            continue;
        }
        if (!flush_wait_logged)
            log_info("event=shutdown-waits-for-flush pid=%d what=%s left_ms=%lld", f->pid, f->what,
                     (long long)(f->deadline_ms - now));
        waiting = true;
    }
    flush_wait_logged |= waiting;
    return waiting;
}

/* ---- a shutdown asked for from below (the control socket) -------------- */

static int shutdown_asked = LOOP_NO_SHUTDOWN;

void sup_request_shutdown(int action)
{
    BAY0_ASSERT(action >= SUPERVISE_EXIT_STOP && action <= SUPERVISE_EXIT_HALT);
    /* a power-off, reboot or halt asked for in the same turn wins over a stop */
    if (shutdown_asked == LOOP_NO_SHUTDOWN || action != SUPERVISE_EXIT_STOP)
        shutdown_asked = action;
}

int loop_take_shutdown_request(void)
{
    int action = shutdown_asked;
    shutdown_asked = LOOP_NO_SHUTDOWN;
    return action;
}
