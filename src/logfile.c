/* logfile.c — formatting and rotation of one log directory (logfile.h). */
#include "logfile.h"

#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TAI64_OFFSET 4611686018427387914ULL /* 2^62 + 10 (TAI - UTC in 1972) */
#define ARCHIVE_NAME_BYTES 28               /* "@" + 24 hex + ".s" + NUL */

static size_t stamp_iso(const struct timespec *ts, char *out)
{
    size_t n = time_iso_us(ts->tv_sec, ts->tv_nsec, out, LOG_STAMP_BYTES_MAX - 1);
    if (n == 0)
        return 0;
    out[n] = ' ';
    out[n + 1] = '\0';
    return n + 1;
}

static size_t stamp_tai64n(const struct timespec *ts, char *out)
{
    /* Like s6-log's `t`: @ + 16 hex digits of seconds + 8 of nanoseconds.
     * Leap seconds since 1972 are not tracked (s6 uses a table). */
    unsigned long long secs = TAI64_OFFSET + (unsigned long long)ts->tv_sec;
    int n = snprintf(out, LOG_STAMP_BYTES_MAX, "@%016llx%08lx ", secs, (unsigned long)ts->tv_nsec);
    return n > 0 ? (size_t)n : 0;
}

size_t log_stamp_now(enum log_stamp kind, char *out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (kind == LOG_STAMP_TAI64N)
        return stamp_tai64n(&ts, out);
    if (kind == LOG_STAMP_NONE)
        return 0;
    return stamp_iso(&ts, out);
}

size_t log_format_bound(size_t len)
{
    /* worst case: every byte a newline, each line a stamp; plus splits */
    return len * (LOG_STAMP_BYTES_MAX + 1) + LOG_STAMP_BYTES_MAX + sizeof LOG_SPLIT_MARK;
}

/* What the line starting at in will take once formatted: exact when its
 * end is in sight, else the most any line can take. */
static size_t line_need(const char *in, size_t len, size_t stamp_len)
{
    size_t look = len < LOG_LINE_BYTES_MAX ? len : LOG_LINE_BYTES_MAX;
    const char *nl = memchr(in, '\n', look);
    if (nl)
        return stamp_len + sizeof LOG_SPLIT_MARK + (size_t)(nl - in) + 1;
    return LOG_LINE_FORMATTED_MAX;
}

/* Starts the next line at out: its stamp, and the split mark when it
 * continues a long line. Returns the bytes written. */
static size_t line_start(char *out, const char *stamp, size_t stamp_len, bool continued)
{
    memcpy(out, stamp, stamp_len);
    if (!continued)
        return stamp_len;
    memcpy(out + stamp_len, LOG_SPLIT_MARK, sizeof LOG_SPLIT_MARK - 1);
    return stamp_len + sizeof LOG_SPLIT_MARK - 1;
}

/* A long line is ended with a newline as soon as it reaches
 * LOG_LINE_BYTES_MAX (st: not midline, line_bytes at the maximum: a
 * continuation is due), so every piece, and every file, ends with a
 * newline and rotation always falls between two lines. A newline right
 * after a full piece only ends the line: nothing is split off. */
size_t log_format(const char *in, size_t len, enum log_stamp kind,
                  struct log_line_state *st, char *out, size_t out_limit,
                  size_t *consumed)
{
    char stamp[LOG_STAMP_BYTES_MAX];
    size_t stamp_len = log_stamp_now(kind, stamp);
    size_t o = 0;
    size_t i = 0;
    while (i < len) {
        if (!st->midline) {
            bool continued = st->line_bytes >= LOG_LINE_BYTES_MAX;
            if (continued && in[i] == '\n') { /* the long line ends at the split */
                st->line_bytes = 0;
                i++;
                continue;
            }
            if (o + line_need(in + i, len - i, stamp_len) > out_limit)
                break;
            o += line_start(out + o, stamp, stamp_len, continued);
            st->midline = true;
            st->line_bytes = 0;
        }
        size_t room = LOG_LINE_BYTES_MAX - st->line_bytes;
        size_t avail = len - i < room ? len - i : room;
        const char *nl = memchr(in + i, '\n', avail);
        size_t take = nl ? (size_t)(nl - (in + i)) + 1 : avail;
        memcpy(out + o, in + i, take);
        o += take;
        i += take;
        st->line_bytes += (uint32_t)take;
        if (nl) {
            st->midline = false;
            st->line_bytes = 0;
        } else if (st->line_bytes >= LOG_LINE_BYTES_MAX) { /* split: end this piece */
            out[o++] = '\n';
            st->midline = false;
        }
    }
    *consumed = i;
    return o;
}

size_t log_dir_room(const struct log_dir *d)
{
    return d->cur_size >= (int64_t)d->max_bytes ? 0 : (size_t)((int64_t)d->max_bytes - d->cur_size);
}

int log_dir_open(struct log_dir *d, const char *path, uint32_t max_bytes, uint32_t keep)
{
    memset(d, 0, sizeof *d);
    d->cur_fd = -1;
    d->max_bytes = max_bytes ? max_bytes : LOG_MAX_BYTES_DEFAULT;
    d->keep = keep;
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return -1;
    d->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return d->dir_fd < 0 ? -1 : 0;
}

void log_dir_close(struct log_dir *d)
{
    if (d->cur_fd >= 0)
        close(d->cur_fd);
    if (d->dir_fd >= 0)
        close(d->dir_fd);
    d->cur_fd = d->dir_fd = -1;
}

int log_dir_current(struct log_dir *d)
{
    if (d->cur_fd >= 0)
        return 0;
    d->cur_fd = openat(d->dir_fd, "current", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    if (d->cur_fd < 0)
        return -1;
    struct stat st;
    d->cur_size = fstat(d->cur_fd, &st) == 0 ? st.st_size : 0;
    return 0;
}

int log_dir_append(struct log_dir *d, const char *buf, size_t len)
{
    if (log_dir_current(d) < 0)
        return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(d->cur_fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : ENOSPC;
            if (done > 0 && ftruncate(d->cur_fd, d->cur_size) < 0)
                err = errno;
            errno = err;
            return -1;
        }
        done += (size_t)n;
    }
    d->cur_size += (int64_t)len;
    return 0;
}

struct archive_scan {
    char oldest[ARCHIVE_NAME_BYTES];
    uint32_t count;
};

static bool is_archive(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '@' && n == ARCHIVE_NAME_BYTES - 1 && strcmp(name + n - 2, ".s") == 0;
}

static bool archive_entry(const char *name, unsigned char d_type, void *ctx)
{
    (void)d_type;
    struct archive_scan *a = ctx;
    if (!is_archive(name))
        return true;
    a->count++;
    if (!a->oldest[0] || strcmp(name, a->oldest) < 0)
        str_copy(a->oldest, sizeof a->oldest, name);
    return true;
}

/* Deletes the oldest archives until at most keep remain. */
static void prune(struct log_dir *d)
{
    for (uint32_t round = 0; round < LOG_KEEP_MAX + 16; round++) {
        struct archive_scan a = {{0}, 0};
        if (dir_each(d->dir_fd, archive_entry, &a) < 0 || a.count <= d->keep)
            return;
        if (unlinkat(d->dir_fd, a.oldest, 0) < 0)
            return;
    }
}

int log_dir_maybe_rotate(struct log_dir *d)
{
    if (d->cur_fd < 0 || d->cur_size < (int64_t)d->max_bytes)
        return 0;
    return log_dir_rotate(d);
}

int log_dir_rotate(struct log_dir *d)
{
    if (log_dir_current(d) < 0)
        return -1;
    if (d->cur_size == 0)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char name[ARCHIVE_NAME_BYTES + 8];
    char stamp[LOG_STAMP_BYTES_MAX];
    stamp_tai64n(&ts, stamp);
    stamp[25] = '\0'; /* "@" + 24 hex digits */
    snprintf(name, sizeof name, "%s.s", stamp);
    fsync(d->cur_fd);
    close(d->cur_fd);
    d->cur_fd = -1;
    d->cur_size = 0;
    if (renameat(d->dir_fd, "current", d->dir_fd, name) < 0)
        return -1;
    fsync(d->dir_fd);
    prune(d);
    return 0;
}
