/* logwriter.c — the log writer process, and `bay0 logger`.
 *
 * The writer is forked by the supervisor and shares the rings with it
 * (logring.h). It sleeps on an eventfd, takes the rings whose bit is set,
 * formats their bytes (a timestamp per line) and appends them to
 * LOGDIR/NAME/current with the commit protocol of logring.h, rotating at
 * the service's size limit. It does all the disk I/O, so a slow or full
 * disk stalls only logging. It may allocate (it is not PID 1's loop).
 */
#include "logfile.h"
#include "logring.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRITER_RETRY_MS 500
#define LOGGER_READ_BYTES 65536

struct wslot {
    struct log_dir dir;
    bool open;
    bool failing; /* a write failed: retry on the timer */
    uint32_t gen;
};

static struct logring_hdr *H;
static struct wslot *ws;
static char *out;

/* Fault injection for the tests: BAY0_TEST_LOGWRITER_DIE=POINT:N makes the
 * writer SIGKILL itself at the first POINT reached in or after its Nth
 * write (counted in the shared header, across writer restarts: it fires
 * once). Points, in the order of
 * the commit protocol (logring.h): rotated (a rotation done, no intent
 * yet), intent (intent saved, nothing written), half (half the bytes in
 * current), written (all in current, tail not moved), committed (tail
 * moved, intent not cleared). */
enum die_point { DIE_NONE, DIE_ROTATED, DIE_INTENT, DIE_HALF, DIE_WRITTEN, DIE_COMMITTED };
static enum die_point die_point;
static uint32_t die_at, die_this;

static void test_die_init(void)
{
    static const char *const names[] = {"", "rotated", "intent", "half", "written", "committed"};
    const char *v = getenv("BAY0_TEST_LOGWRITER_DIE");
    const char *colon = v ? strchr(v, ':') : NULL;
    uint64_t n;
    if (!colon || !parse_u64(colon + 1, UINT32_MAX, &n))
        return;
    for (int i = DIE_ROTATED; i <= DIE_COMMITTED; i++)
        if (strlen(names[i]) == (size_t)(colon - v) && strncmp(v, names[i], (size_t)(colon - v)) == 0)
            die_point = (enum die_point)i;
    die_at = (uint32_t)n;
}

static void test_die(enum die_point at)
{
    if (die_point == at && die_this >= die_at && !atomic_exchange(&H->test_fired, 1))
        raise(SIGKILL);
}

static void wslot_close(struct wslot *w)
{
    if (w->open)
        log_dir_close(&w->dir);
    w->open = false;
}

static bool wslot_open(struct wslot *w, struct logring *r)
{
    if (w->open)
        return true;
    char path[4096 + 80];
    if (!str_fmt(path, sizeof path, "%s/%s", H->logdir, r->name) ||
        log_dir_open(&w->dir, path, r->max_bytes, r->keep) < 0)
        return false;
    w->open = true;
    return true;
}

/* A restarted writer: finish or undo the write that was under way. */
static void recover_intent(struct wslot *w, struct logring *r)
{
    if (!r->intent_valid || log_dir_current(&w->dir) < 0)
        return;
    struct stat st;
    if (fstat(w->dir.cur_fd, &st) == 0 && st.st_size == r->intent_size_after) {
        r->midline = r->intent_midline;
        r->line_bytes = r->intent_line_bytes;
        atomic_store_explicit(&r->tail, r->intent_tail, memory_order_release);
        w->dir.cur_size = st.st_size;
    } else if (fstat(w->dir.cur_fd, &st) == 0 && st.st_size > r->intent_size_before) {
        if (ftruncate(w->dir.cur_fd, r->intent_size_before) == 0)
            w->dir.cur_size = r->intent_size_before;
    }
    r->intent_valid = 0;
}

static void report_drops(struct wslot *w, struct logring *r)
{
    uint64_t lines = atomic_load(&r->dropped_lines);
    uint64_t bytes = atomic_load(&r->dropped_bytes);
    if (lines == r->reported_dropped_lines && bytes == r->reported_dropped_bytes)
        return;
    char line[256];
    size_t n = 0;
    if (r->midline) /* the rest of that line is among what was lost */
        line[n++] = '\n';
    n += log_stamp_now((enum log_stamp)r->stamp, line + n);
    n += (size_t)snprintf(line + n, sizeof line - n,
                          "bay0: %llu lines (%llu bytes) were lost while the log could not be written\n",
                          (unsigned long long)(lines - r->reported_dropped_lines),
                          (unsigned long long)(bytes - r->reported_dropped_bytes));
    if (log_dir_append(&w->dir, line, n) == 0) {
        log_warn("svc=%s event=log-lines-lost lines=%llu bytes=%llu", r->name,
                 (unsigned long long)(lines - r->reported_dropped_lines),
                 (unsigned long long)(bytes - r->reported_dropped_bytes));
        r->reported_dropped_lines = lines;
        r->reported_dropped_bytes = bytes;
        r->midline = 0;
        r->line_bytes = 0;
    }
}

static void write_failed(struct wslot *w, struct logring *r, int err)
{
    r->intent_valid = 0;
    if (!w->failing)
        log_error("svc=%s event=log-write-failed dir=%s/%s error=\"%s\"", r->name, H->logdir,
                  r->name, strerror(err));
    w->failing = true;
    uint32_t flags = atomic_fetch_or(&r->flags, LOGRING_DISK_FULL);
    if (flags & LOGRING_PAUSED) /* reading stopped on a full ring: resume, to drop */
        logring_set_bit(logring_resume_bits(H), (uint32_t)(r - logring_at(H, 0)), H->resume_efd);
}

/* Formats as much of in[0..n) as current can take; rotates first when it
 * cannot take even the next line (lines are never left open at a
 * rotation: a long line's pieces each end with a newline, logfile.h).
 * Returns the output length, or -1 with errno when rotation failed. */
static ssize_t format_fitting(struct log_dir *d, const char *in, size_t n, enum log_stamp kind,
                              struct log_line_state *st, size_t *used)
{
    struct log_line_state saved = *st;
    size_t len = log_format(in, n, kind, st, out, log_dir_room(d), used);
    if (*used > 0 || n == 0)
        return (ssize_t)len;
    if (log_dir_rotate(d) < 0)
        return -1;
    test_die(DIE_ROTATED);
    *st = saved;
    len = log_format(in, n, kind, st, out, log_dir_room(d), used);
    if (*used == 0) { /* cannot happen: a fresh file holds a line (logfile.h) */
        errno = EFBIG;
        return -1;
    }
    return (ssize_t)len;
}

/* Writes what it can of one contiguous piece of the ring under the commit
 * protocol; returns the ring bytes consumed (0 when it could not write). */
static size_t write_piece(struct wslot *w, struct logring *r, uint64_t tail, size_t n)
{
    if (log_dir_current(&w->dir) < 0) {
        write_failed(w, r, errno);
        return 0;
    }
    if (die_point)
        die_this = atomic_fetch_add(&H->test_writes, 1) + 1;
    struct log_line_state st = {r->midline, r->line_bytes};
    size_t used = 0;
    char *data = logring_data(H, (uint32_t)(r - logring_at(H, 0)));
    ssize_t len = format_fitting(&w->dir, data + tail % LOG_RING_BYTES, n,
                                 (enum log_stamp)r->stamp, &st, &used);
    if (len < 0 || log_dir_current(&w->dir) < 0) {
        write_failed(w, r, errno);
        return 0;
    }
    r->intent_tail = tail + used;
    r->intent_midline = st.midline;
    r->intent_line_bytes = st.line_bytes;
    r->intent_size_before = w->dir.cur_size;
    r->intent_size_after = w->dir.cur_size + (int64_t)len;
    atomic_thread_fence(memory_order_release);
    r->intent_valid = 1;
    atomic_thread_fence(memory_order_release);
    test_die(DIE_INTENT);
    if (die_point == DIE_HALF && die_this >= die_at && !atomic_load(&H->test_fired)) {
        (void)!write(w->dir.cur_fd, out, (size_t)len / 2);
        test_die(DIE_HALF);
    }
    if (log_dir_append(&w->dir, out, (size_t)len) < 0) {
        write_failed(w, r, errno);
        return 0;
    }
    test_die(DIE_WRITTEN);
    r->midline = st.midline;
    r->line_bytes = st.line_bytes;
    atomic_store_explicit(&r->tail, tail + used, memory_order_release);
    atomic_thread_fence(memory_order_release);
    test_die(DIE_COMMITTED);
    r->intent_valid = 0;
    return used;
}

static void process(uint32_t i)
{
    struct logring *r = logring_at(H, i);
    struct wslot *w = &ws[i];
    uint32_t gen = atomic_load(&r->generation);
    if (w->gen != gen) {
        wslot_close(w);
        w->gen = gen;
        w->failing = false;
        if (r->writer_generation != gen)
            r->intent_valid = 0;
        r->writer_generation = gen;
    }
    if (atomic_load(&r->head) == atomic_load(&r->tail) && !r->intent_valid)
        return;
    if (!wslot_open(w, r)) {
        write_failed(w, r, errno);
        return;
    }
    recover_intent(w, r);
    for (;;) {
        uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        if (head == tail)
            break;
        size_t off = (size_t)(tail % LOG_RING_BYTES);
        size_t n = (size_t)(head - tail);
        if (n > LOG_RING_BYTES - off)
            n = LOG_RING_BYTES - off;
        if (write_piece(w, r, tail, n) == 0)
            return;
        if (atomic_load(&r->flags) & LOGRING_PAUSED)
            logring_set_bit(logring_resume_bits(H), i, H->resume_efd);
    }
    if (w->failing || (atomic_load(&r->flags) & LOGRING_DISK_FULL)) {
        w->failing = false;
        atomic_fetch_and(&r->flags, ~LOGRING_DISK_FULL);
        log_info("svc=%s event=log-write-recovered", r->name);
    }
    report_drops(w, r);
}

static bool any_failing(void)
{
    for (uint32_t i = 0; i <= H->slots; i++)
        if (ws[i].failing)
            return true;
    return false;
}

static void process_all(void)
{
    for (uint32_t i = 0; i <= H->slots; i++)
        process(i);
}

_Noreturn void logwriter_main(struct logring_hdr *h)
{
    H = h;
    log_set_sink(NULL); /* the rings' only producer is the supervisor */
    ws = calloc(h->slots + 1, sizeof *ws);
    out = malloc(log_format_bound(LOG_RING_BYTES));
    if (!ws || !out)
        _exit(111);
    test_die_init();
    process_all(); /* a restarted writer picks up where the last one was */
    for (;;) {
        struct pollfd p = {.fd = h->data_efd, .events = POLLIN};
        int r = poll(&p, 1, any_failing() ? WRITER_RETRY_MS : -1);
        uint64_t count;
        (void)!read(h->data_efd, &count, sizeof count);
        if (atomic_load(&h->quit)) {
            process_all();
            _exit(0);
        }
        if (r == 0) {
            process_all();
            continue;
        }
        _Atomic uint64_t *bits = logring_data_bits(h);
        for (uint32_t wd = 0; wd < h->words; wd++)
            for (uint64_t word = atomic_exchange(&bits[wd], 0); word; word &= word - 1)
                process(wd * 64 + (uint32_t)__builtin_ctzll(word));
    }
}

/* ---- bay0 logger: the same formatting and rotation on stdin ------------- */

static const char logger_usage[] =
    "usage: bay0 logger [-s MAXBYTES] [-n KEEP] [-t iso|tai64n|none] DIR\n"
    "  Read lines on stdin and write DIR/current with a timestamp per line\n"
    "  (ISO 8601 UTC with microseconds by default), rotating at MAXBYTES\n"
    "  (default 1000000) into @TAI64N.s archives, keeping KEEP (default 20),\n"
    "  as s6-log does. For a service's log/run: exec bay0 logger ./main\n";

static int parse_logger_opts(int argc, char **argv, uint32_t *max, uint32_t *keep,
                             enum log_stamp *stamp)
{
    static const struct option longs[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    int ch;
    uint64_t v;
    while ((ch = getopt_long(argc, argv, "s:n:t:h", longs, NULL)) != -1) {
        if (ch == 's' && parse_u64(optarg, LOG_MAX_BYTES_MAX, &v) && v >= LOG_MAX_BYTES_MIN)
            *max = (uint32_t)v;
        else if (ch == 'n' && parse_u64(optarg, LOG_KEEP_MAX, &v))
            *keep = (uint32_t)v;
        else if (ch == 't' && strcmp(optarg, "iso") == 0)
            *stamp = LOG_STAMP_ISO;
        else if (ch == 't' && strcmp(optarg, "tai64n") == 0)
            *stamp = LOG_STAMP_TAI64N;
        else if (ch == 't' && strcmp(optarg, "none") == 0)
            *stamp = LOG_STAMP_NONE;
        else if (ch == 'h') {
            printf("%s", logger_usage);
            return -1;
        } else {
            fprintf(stderr, "bay0 logger: bad option or value '%s'\n%s", argv[optind - 1], logger_usage);
            return -2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "%s", logger_usage);
        return -2;
    }
    return optind;
}

/* One `bay0 logger` run. It never blocks its service on a disk it cannot
 * write: what it cannot write is read, counted and dropped, retried at
 * most every WRITER_RETRY_MS, and reported in the log once it can write
 * again (as the built-in logger does). */
struct logger_run {
    struct log_dir d;
    const char *path;
    enum log_stamp stamp;
    struct log_line_state st;
    bool failing;
    int64_t retry_ms;
    uint64_t lost_lines;
    uint64_t lost_bytes;
};

/* A write attempt failed with err: drop in[0..n) and retry later. */
static void logger_drop(struct logger_run *L, const char *in, size_t n, int err)
{
    if (err) {
        if (!L->failing)
            fprintf(stderr, "bay0 logger: %s/current: %s (dropping input, retrying every %d ms)\n",
                    L->path, strerror(err), WRITER_RETRY_MS);
        L->failing = true;
        L->retry_ms = time_mono_ms() + WRITER_RETRY_MS;
    }
    for (const char *p = in; (p = memchr(p, '\n', (size_t)(in + n - p))); p++)
        L->lost_lines++;
    L->lost_bytes += n;
}

/* Writes the "were lost" line, if anything was lost; false if it could not. */
static bool logger_report_lost(struct logger_run *L)
{
    if (L->lost_bytes == 0)
        return true;
    char line[256];
    size_t n = 0;
    if (L->st.midline) /* the rest of that line is among what was lost */
        line[n++] = '\n';
    n += log_stamp_now(L->stamp, line + n);
    n += (size_t)snprintf(line + n, sizeof line - n,
                          "bay0: %llu lines (%llu bytes) were lost while the log could not be written\n",
                          (unsigned long long)L->lost_lines, (unsigned long long)L->lost_bytes);
    if (log_dir_append(&L->d, line, n) < 0)
        return false;
    fprintf(stderr, "bay0 logger: %s/current: writing again; %llu lines (%llu bytes) were lost\n",
            L->path, (unsigned long long)L->lost_lines, (unsigned long long)L->lost_bytes);
    L->st = (struct log_line_state){false, 0};
    L->lost_lines = L->lost_bytes = 0;
    L->failing = false;
    return true;
}

static void logger_write(struct logger_run *L, const char *in, size_t n)
{
    if (L->failing && time_mono_ms() < L->retry_ms) {
        logger_drop(L, in, n, 0);
        return;
    }
    if (!logger_report_lost(L)) {
        logger_drop(L, in, n, errno);
        return;
    }
    for (size_t off = 0; off < n;) {
        struct log_line_state saved = L->st;
        size_t used = 0;
        ssize_t len = format_fitting(&L->d, in + off, n - off, L->stamp, &L->st, &used);
        if (len < 0 || log_dir_append(&L->d, out, (size_t)len) < 0) {
            L->st = saved;
            logger_drop(L, in + off, n - off, errno);
            return;
        }
        off += used;
    }
    L->failing = false;
}

int logger_cli_main(int argc, char **argv)
{
    uint32_t max = LOG_MAX_BYTES_DEFAULT, keep = LOG_KEEP_DEFAULT;
    struct logger_run L = {.stamp = LOG_STAMP_ISO};
    int at = parse_logger_opts(argc, argv, &max, &keep, &L.stamp);
    if (at < 0)
        return at == -1 ? 0 : 2;
    L.path = argv[at];
    if (log_dir_open(&L.d, L.path, max, keep) < 0) {
        fprintf(stderr, "bay0 logger: %s: %s\n", L.path, strerror(errno));
        return 1;
    }
    static char in[LOGGER_READ_BYTES];
    out = malloc(log_format_bound(sizeof in));
    if (!out) {
        fprintf(stderr, "bay0 logger: out of memory\n");
        return 1;
    }
    for (;;) {
        ssize_t n = read(STDIN_FILENO, in, sizeof in);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        logger_write(&L, in, (size_t)n);
    }
    /* end of input: every writer is gone; a last line without a newline
     * is ended, marked, as the built-in logger does at a death */
    if (!L.failing && L.st.midline)
        (void)log_dir_append(&L.d, LOG_END_MARK, LOG_END_MARK_BYTES);
    if (!logger_report_lost(&L))
        fprintf(stderr, "bay0 logger: %s/current: %llu lines (%llu bytes) were lost\n", L.path,
                (unsigned long long)L.lost_lines, (unsigned long long)L.lost_bytes);
    log_dir_close(&L.d);
    free(out);
    return L.lost_bytes ? 1 : 0;
}
