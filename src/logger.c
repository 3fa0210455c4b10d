/* logger.c — the supervisor's side of logging (see logger.h, logring.h):
 * pipes, the shared rings, the writer process's life, drops on a full
 * disk. Everything here is non-blocking and allocation-free after
 * logger_init.
 */
#include "logger.h"

#include "log.h"
#include "logfile.h"
#include "logring.h"
#include "loop.h"
#include "svc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct logring_hdr *hdr;
static size_t map_bytes;
/* Where each ended instance's output ends in the pipe, per slot, rising
 * (ring->sup_marks of them): the supervisor's own table (table_alloc),
 * whose page is touched only when that slot's instance ends. */
static uint64_t (*marks_table)[LOGRING_MARKS_MAX];
static pid_t writer_pid;
static int64_t writer_started_ms;
static uint32_t writer_quick_deaths;
static char drop_buf[LOG_RING_BYTES];


/* The writer is forked, never exec'd: it would keep a copy of every fd the
 * supervisor had open at that instant — control connections (a client
 * would wait for an end of file that never comes), log pipes (a logger
 * that ends on EOF would never end). It keeps stdio and its two eventfds. */
static void writer_close_inherited(void)
{
    int a = hdr->data_efd < hdr->resume_efd ? hdr->data_efd : hdr->resume_efd;
    int b = hdr->data_efd < hdr->resume_efd ? hdr->resume_efd : hdr->data_efd;
    BAY0_ASSERT(a > 2 && b > a);
    if ((a > 3 && syscall(SYS_close_range, 3u, (unsigned)a - 1, 0u) < 0) ||
        (b > a + 1 && syscall(SYS_close_range, (unsigned)a + 1, (unsigned)b - 1, 0u) < 0) ||
        syscall(SYS_close_range, (unsigned)b + 1, ~0u, 0u) < 0) {
        for (int fd = 3; fd < 65536; fd++) /* kernels before 5.9 */
            if (fd != a && fd != b)
                close(fd);
    }
}

static void start_writer(uint32_t delay_ms)
{
    pid_t pid = fork();
    if (pid < 0) {
        log_error("event=log-writer-fork-failed error=\"%s\"", strerror(errno));
        return;
    }
    if (pid == 0) {
        child_signals_reset(false);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_IGN); /* a ctrl-C is for the supervisor */
        proc_title_set("bay0-logwriter"); /* comm and what ps shows */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        writer_close_inherited();
        if (delay_ms) { /* crash-looping: pause in the child, never in PID 1 */
            struct timespec ts = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
        }
        logwriter_main(hdr);
    }
    writer_pid = pid;
    writer_started_ms = time_mono_ms() + delay_ms; /* "quick" counts from after the pause */
    log_info("event=log-writer-started pid=%d", pid);
}

int logger_init(uint32_t slots, const char *logdir)
{
    uint32_t words = ((slots + 1 + 63) / 64 + 7) / 8 * 8;
    marks_table = table_alloc((size_t)slots + 1, sizeof *marks_table);
    if (!marks_table) {
        log_error("event=log-rings-map-failed error=\"%s\"", strerror(errno));
        return -1;
    }
    map_bytes = logring_data_offset(slots, words) + (size_t)(slots + 1) * LOG_RING_BYTES;
    int fd = memfd_create("bay0-logrings", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)map_bytes) < 0) {
        log_error("event=log-rings-failed error=\"%s\"", strerror(errno));
        return -1;
    }
    hdr = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (hdr == MAP_FAILED) {
        hdr = NULL;
        log_error("event=log-rings-map-failed error=\"%s\"", strerror(errno));
        return -1;
    }
    hdr->slots = slots;
    hdr->words = words;
    str_copy(hdr->logdir, sizeof hdr->logdir, logdir);
    hdr->data_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    hdr->resume_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (hdr->data_efd < 0 || hdr->resume_efd < 0)
        return -1;
    struct logring *self = logring_at(hdr, slots);
    str_copy(self->name, sizeof self->name, "bay0");
    self->max_bytes = LOG_MAX_BYTES_DEFAULT;
    self->keep = LOG_KEEP_DEFAULT;
    self->stamp = LOG_STAMP_NONE; /* log.c's lines carry their own */
    self->active = 1;
    atomic_fetch_add(&self->generation, 1);
    sup_watch_fd(hdr->resume_efd, WATCH_LOG_RESUME, 0);
    start_writer(0);
    return 0;
}

static struct logring *ring_of(const struct svc *s)
{
    return hdr ? logring_at(hdr, (uint32_t)svc_index(s)) : NULL;
}

void logger_configure(struct svc *s)
{
    struct logring *r = ring_of(s);
    if (!r)
        return;
    bool same = r->active && strcmp(r->name, s->name) == 0;
    str_copy(r->name, sizeof r->name, s->name);
    r->max_bytes = s->def.log_max_bytes;
    r->keep = s->def.log_keep;
    r->stamp = s->def.log_stamp;
    if (!same) { /* a new service in this slot: start from a clean ring */
        atomic_store(&r->head, 0);
        atomic_store(&r->tail, 0);
        atomic_store(&r->flags, 0);
        r->intent_valid = 0;
        r->midline = 0;
        r->line_bytes = 0;
        r->sup_midline = 0;
        r->sup_marks = 0;
        r->sup_read = 0;
        r->active = 1;
        atomic_fetch_add(&r->generation, 1);
    }
}

static uint32_t log_fds; /* fds held for log pipes (the scan's budget of RLIMIT_NOFILE) */

uint32_t logger_fds_held(void) { return log_fds; }

/* Every change of a held write end goes through here (the fd budget). */
static void set_wfd(struct svc *s, int fd)
{
    if (s->log_wfd >= 0) {
        close(s->log_wfd);
        log_fds--;
    }
    s->log_wfd = fd;
    if (fd >= 0)
        log_fds++;
}

void logger_release_writer(struct svc *s) { set_wfd(s, -1); }

static void watch_log(struct svc *s, bool on)
{
    if (s->log_rfd < 0 || s->log_watched == on)
        return;
    if (on)
        sup_watch_fd(s->log_rfd, WATCH_LOG, svc_index(s));
    else
        sup_unwatch_fd(s->log_rfd);
    s->log_watched = on;
}

/* The supervisor holds the read end for the service's whole life; the
 * write end only while a log/run program reads the pipe (its logger must
 * never see EOF between two runs of the service). With the built-in
 * logger, a service gets a fresh write end at each spawn, opened through
 * /proc/self/fd: one fd per service in the supervisor, which every spawn
 * copies and every exec closes. What is in the pipe stays there while
 * nobody writes, so nothing is lost across restarts either way. */
int logger_open_pipe(struct svc *s)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) /* the write end is reopened for writers */
        return -1;
    s->log_rfd = fds[0];
    log_fds++;
    set_wfd(s, fds[1]);
    s->log_watched = false;
    logger_use_external(s, false);
    return 0;
}

int logger_child_stdout(struct svc *s, int *temp_fd)
{
    *temp_fd = -1;
    if (s->log_wfd >= 0)
        return s->log_wfd;
    if (s->log_rfd < 0)
        return STDERR_FILENO;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", s->log_rfd);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        log_warn("svc=%s event=log-reopen-failed error=\"%s\" effect=\"output to bay0's stderr\"",
                 s->name, strerror(errno));
        return STDERR_FILENO;
    }
    s->log_eof = false;
    watch_log(s, true);
    *temp_fd = fd;
    return fd;
}

void logger_close_pipe(struct svc *s)
{
    if (s->log_rfd >= 0) {
        watch_log(s, false);
        close(s->log_rfd);
        log_fds--;
    }
    set_wfd(s, -1);
    s->log_rfd = -1;
    struct logring *r = ring_of(s);
    if (r)
        r->active = 0;
}

void logger_use_external(struct svc *s, bool external)
{
    if (s->log_rfd < 0)
        return;
    watch_log(s, false);
    fd_set_nonblock(s->log_rfd, !external);
    if (external) { /* the logger needs a write end held across restarts */
        if (s->log_wfd < 0) {
            int unused;
            int fd = logger_child_stdout(s, &unused);
            watch_log(s, false);
            set_wfd(s, fd == STDERR_FILENO ? -1 : fd);
        }
        return;
    }
    set_wfd(s, -1);
    /* watched again at the next spawn, when there is a writer */
    s->log_eof = true;
    if (svc_is_running(s)) { /* a running service keeps its current writer */
        s->log_eof = false;
        watch_log(s, true);
    }
}

/* Every writer is gone (the service and all it started have exited): an
 * empty pipe now reads as EOF at once, so stop watching until a spawn
 * opens a new write end. */
static void log_eof(struct svc *s)
{
    s->log_eof = true;
    watch_log(s, false);
}

/* Whether an ended instance's mark is due, and after how many more pipe
 * bytes the oldest one falls. */
static bool mark_due(const struct logring *r) { return r->sup_marks > 0; }

static uint64_t *marks_of(const struct logring *r)
{
    ptrdiff_t i = r - logring_at(hdr, 0);
    BAY0_ASSERT(i >= 0 && i <= (ptrdiff_t)hdr->slots);
    return marks_table[i];
}

static uint64_t mark_left(const struct logring *r)
{
    BAY0_ASSERT(r->sup_marks > 0 && r->sup_marks <= LOGRING_MARKS_MAX);
    /* read_cap never lets a read pass the oldest mark */
    BAY0_ASSERT(marks_of(r)[0] >= r->sup_read);
    return marks_of(r)[0] - r->sup_read;
}

static bool mark_reached(const struct logring *r) { return mark_due(r) && mark_left(r) == 0; }

/* Bytes taken from the pipe (into the ring or dropped): where the last
 * line stands, and how far the end of an instance's output is. */
static void note_read(struct logring *r, char last, size_t n)
{
    r->sup_midline = last != '\n';
    r->sup_read += n;
}

/* The most the next read may take: the end of an instance's output stops
 * it, so that nothing of the next instance is read before the mark. */
static size_t read_cap(const struct logring *r, size_t room)
{
    return mark_due(r) && mark_left(r) < room ? (size_t)mark_left(r) : room;
}

/* Whether the ring can take more: while a mark is due, its bytes are kept
 * free (all of them once the instance's last byte has been read). */
static bool ring_has_room(const struct logring *r)
{
    uint64_t used = atomic_load(&r->head) - atomic_load(&r->tail);
    /* the writer moves tail up to head, never past it: used is in range */
    BAY0_ASSERT(used <= LOG_RING_BYTES);
    if (!mark_due(r))
        return used < LOG_RING_BYTES;
    if (mark_left(r) == 0)
        return used + LOG_END_MARK_BYTES <= LOG_RING_BYTES;
    return used + LOG_END_MARK_BYTES < LOG_RING_BYTES;
}

/* Ring i has new bytes for the writer. Its wake-up waits for the end of the
 * loop's turn (logger_wake_writer): a turn that starts 1,000 services, or
 * reads many pipes, wakes the writer once, not once a line. A ring half
 * full wakes it at once, so a long turn (the first scan of 10,000
 * services) never fills one while the writer sleeps. */
static bool wake_due;

void logger_wake_writer(void)
{
    if (!wake_due || !hdr)
        return;
    wake_due = false;
    uint64_t one = 1;
    (void)!write(hdr->data_efd, &one, sizeof one);
}

static void ring_mark(struct logring *r, uint32_t i)
{
    BAY0_ASSERT(i <= hdr->slots);
    uint64_t mask = 1ull << (i % 64);
    if (!(atomic_fetch_or(&logring_data_bits(hdr)[i / 64], mask) & mask))
        wake_due = true;
    uint64_t used = atomic_load_explicit(&r->head, memory_order_relaxed) -
                    atomic_load_explicit(&r->tail, memory_order_acquire);
    if (used >= LOG_RING_BYTES / 2)
        logger_wake_writer();
}

static void ring_put(struct logring *r, uint32_t i, const char *bytes, size_t len)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    char *data = logring_data(hdr, i);
    for (size_t k = 0; k < len; k++)
        data[(head + k) % LOG_RING_BYTES] = bytes[k];
    atomic_store_explicit(&r->head, head + len, memory_order_release);
    ring_mark(r, i);
}

/* The oldest ended instance's output has all been read: forget its mark. */
static void pop_mark(struct logring *r)
{
    BAY0_ASSERT(mark_reached(r));
    r->sup_marks--;
    uint64_t *at = marks_of(r);
    memmove(at, at + 1, r->sup_marks * sizeof at[0]);
}

/* An instance's output has all been read: end its last line, marked, if
 * it had no newline (it would be glued to the next instance's first).
 * Called with room for the mark (ring_has_room). */
static void place_mark(struct svc *s, struct logring *r)
{
    pop_mark(r);
    if (!r->sup_midline)
        return;
    ring_put(r, (uint32_t)svc_index(s), LOG_END_MARK, LOG_END_MARK_BYTES);
    r->sup_midline = 0;
}

/* An ended instance's output has all been read and the ring has the room
 * its mark kept: end the line now (else at the next read or resume). */
static void place_mark_if_room(struct svc *s, struct logring *r)
{
    if (mark_reached(r) && ring_has_room(r))
        place_mark(s, r);
}

/* While the disk is full, what does not fit is read and counted, so the
 * service never blocks on a disk it cannot fix. A mark due now falls in
 * what is lost: the writer's "were lost" line ends that line. */
static void drop_input(struct svc *s, struct logring *r)
{
    if (mark_reached(r))
        pop_mark(r);
    ssize_t n = read(s->log_rfd, drop_buf, read_cap(r, sizeof drop_buf));
    if (n == 0)
        log_eof(s);
    if (n <= 0)
        return;
    note_read(r, drop_buf[n - 1], (size_t)n);
    uint64_t lines = 0;
    for (const char *p = drop_buf; (p = memchr(p, '\n', (size_t)(drop_buf + n - p))); p++)
        lines++;
    atomic_fetch_add(&r->dropped_bytes, (uint64_t)n);
    atomic_fetch_add(&r->dropped_lines, lines);
}

static void pause_reading(struct svc *s, struct logring *r)
{
    atomic_fetch_or(&r->flags, LOGRING_PAUSED);
    watch_log(s, false);
    /* the writer may have made room before it could see the flag */
    if (ring_has_room(r)) {
        atomic_fetch_and(&r->flags, ~LOGRING_PAUSED);
        watch_log(s, !s->log_eof);
    }
}

void logger_on_readable(struct svc *s)
{
    struct logring *r = ring_of(s);
    if (!s->in_use || s->log_rfd < 0 || !r)
        return;
    place_mark_if_room(s, r);
    /* Asked again after the mark: it took that room, and the next ended
     * instance's mark may be due too and keep its own. */
    if (!ring_has_room(r) || mark_reached(r)) {
        if (atomic_load(&r->flags) & LOGRING_DISK_FULL)
            drop_input(s, r);
        else
            pause_reading(s, r);
        return;
    }
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t used = head - atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t at = (size_t)(head % LOG_RING_BYTES);
    size_t keep = mark_due(r) ? LOG_END_MARK_BYTES : 0;
    /* ring_has_room: used + keep < LOG_RING_BYTES, and a due mark is ahead,
     * so the read below asks for at least one byte (0 would read as EOF) */
    BAY0_ASSERT(used + keep < LOG_RING_BYTES);
    size_t room = LOG_RING_BYTES - (size_t)used - keep;
    if (room > LOG_RING_BYTES - at)
        room = LOG_RING_BYTES - at;
    char *data = logring_data(hdr, (uint32_t)svc_index(s));
    ssize_t n = read(s->log_rfd, data + at, read_cap(r, room));
    if (n == 0)
        log_eof(s);
    if (n <= 0)
        return;
    note_read(r, data[at + (size_t)n - 1], (size_t)n);
    atomic_store_explicit(&r->head, head + (uint64_t)n, memory_order_release);
    ring_mark(r, (uint32_t)svc_index(s));
    if (mark_reached(r))
        place_mark(s, r); /* its room was kept */
}

/* Each ended instance keeps its own place in the pipe: a second one may
 * end before the first one's bytes are read (a full ring), and its mark
 * must not move the first one's. */
void logger_instance_ended(struct svc *s)
{
    struct logring *r = ring_of(s);
    if (!r || s->log_rfd < 0 || s->logger != SVC_NONE || s->is_logger)
        return;
    int pending = 0;
    if (ioctl(s->log_rfd, FIONREAD, &pending) < 0 || pending < 0)
        pending = 0;
    uint64_t at = r->sup_read + (uint64_t)pending;
    uint64_t *marks = marks_of(r);
    if (r->sup_marks > 0 && marks[r->sup_marks - 1] == at)
        return; /* it wrote nothing: the mark before stands for both */
    if (r->sup_marks == LOGRING_MARKS_MAX) {
        log_warn("svc=%s event=log-mark-lost marks=%u", s->name, LOGRING_MARKS_MAX);
        r->sup_marks--;
    }
    marks[r->sup_marks++] = at;
    place_mark_if_room(s, r); /* reached at once when nothing is left in the pipe */
}

void logger_on_resume(void)
{
    uint64_t count;
    (void)!read(hdr->resume_efd, &count, sizeof count);
    _Atomic uint64_t *bits = logring_resume_bits(hdr);
    for (uint32_t w = 0; w < hdr->words; w++) {
        uint64_t word = atomic_exchange(&bits[w], 0);
        for (; word; word &= word - 1) {
            uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(word);
            if (i >= svc_table_end())
                continue;
            struct svc *s = svc_at(i);
            struct logring *r = logring_at(hdr, i);
            if (!s->in_use || s->log_rfd < 0 || s->logger != SVC_NONE)
                continue;
            if (atomic_fetch_and(&r->flags, ~LOGRING_PAUSED) & LOGRING_PAUSED)
                watch_log(s, !s->log_eof);
            place_mark_if_room(s, r); /* the instance ended and nothing more came */
        }
    }
}

bool logger_on_exit(pid_t pid, int status)
{
    if (pid != writer_pid || pid == 0)
        return false;
    writer_pid = 0;
    bool quick = time_mono_ms() - writer_started_ms < 1000;
    writer_quick_deaths = quick ? writer_quick_deaths + 1 : 0;
    if (WIFSIGNALED(status))
        log_warn("event=log-writer-died pid=%d signal=%s", pid, signal_name(WTERMSIG(status)));
    else
        log_warn("event=log-writer-died pid=%d code=%d", pid, WEXITSTATUS(status));
    if (atomic_load(&hdr->quit))
        return true;
    uint32_t delay_ms = 0;
    if (writer_quick_deaths > 5) { /* crash-looping: lines wait in the rings */
        log_error("event=log-writer-failing deaths=%u", writer_quick_deaths);
        delay_ms = LOGGER_WRITER_RESTART_DELAY_MS * (writer_quick_deaths > 20 ? 25 : 1);
    }
    start_writer(delay_ms);
    return true;
}

void logger_shutdown(void)
{
    if (!hdr || writer_pid == 0)
        return;
    for (uint32_t i = 0; i < svc_table_end(); i++) { /* what is still in the pipes */
        struct svc *s = svc_at(i);
        if (s->in_use && s->log_rfd >= 0 && s->logger == SVC_NONE)
            logger_on_readable(s);
    }
    atomic_store(&hdr->quit, 1);
    wake_due = true;
    logger_wake_writer();
    int64_t deadline = time_mono_ms() + LOGGER_DRAIN_TIMEOUT_MS;
    pid_t pid = writer_pid;
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd >= 0) {
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        int64_t left = deadline - time_mono_ms();
        if (poll(&p, 1, left > 0 ? (int)left : 0) == 0) {
            log_warn("event=log-writer-drain-timeout pid=%d", pid);
            kill(pid, SIGKILL);
        }
        close(pfd);
    }
    waitpid(pid, NULL, 0);
    writer_pid = 0;
}

void logger_self_append(const char *line, size_t len)
{
    if (!hdr)
        return;
    struct logring *r = logring_at(hdr, hdr->slots);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t used = head - atomic_load_explicit(&r->tail, memory_order_acquire);
    if (used + len > LOG_RING_BYTES) {
        atomic_fetch_add(&r->dropped_bytes, len);
        atomic_fetch_add(&r->dropped_lines, 1);
        return;
    }
    ring_put(r, hdr->slots, line, len);
}
