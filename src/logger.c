/* logger.c — log pipes and the built-in logger (see logger.h).
 *
 * The built-in logger writes from the event loop: a read of at most
 * LOGGER_READ_BYTES_MAX, then appends to LOGDIR/NAME/current. The log
 * directory is on the image or a tmpfs (never /persist).
 */
#include "logger.h"

#include "log.h"
#include "svc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STAMP_BYTES 28 /* "2026-11-21T23:40:01.123456Z " */
#define LOGGER_OUT_BYTES_MAX (LOGGER_READ_BYTES_MAX * 2)

static char in_buf[LOGGER_READ_BYTES_MAX];
static char out_buf[LOGGER_OUT_BYTES_MAX];

int logger_open_pipe(struct svc *s)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    s->log_rfd = fds[0];
    s->log_wfd = fds[1];
    logger_use_external(s, false);
    return 0;
}

void logger_close_pipe(struct svc *s)
{
    if (s->log_rfd >= 0) {
        sup_unwatch_fd(s->log_rfd);
        close(s->log_rfd);
    }
    if (s->log_wfd >= 0)
        close(s->log_wfd);
    s->log_rfd = s->log_wfd = -1;
}

void logger_use_external(struct svc *s, bool external)
{
    if (s->log_rfd < 0)
        return;
    if (external) {
        sup_unwatch_fd(s->log_rfd);
        fd_set_nonblock(s->log_rfd, false);
    } else {
        fd_set_nonblock(s->log_rfd, true);
        sup_watch_fd(s->log_rfd, WATCH_LOG, svc_index(s));
    }
}

static size_t stamp(char *dst)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tmp[64];
    int n = snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    BAY0_ASSERT(n == STAMP_BYTES);
    memcpy(dst, tmp, STAMP_BYTES);
    return STAMP_BYTES;
}

static int open_current(const struct svc *s)
{
    char path[4096];
    if (!str_fmt(path, sizeof path, "%s/%s", sup.logdir, s->name))
        return -1;
    mkdir(path, 0755);
    if (!str_fmt(path, sizeof path, "%s/%s/current", sup.logdir, s->name))
        return -1;
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
}

static void flush(int fd, size_t *len)
{
    if (*len && fd >= 0 && fd_write_all(fd, out_buf, *len) < 0)
        log_warn("event=log-write-failed error=\"%s\"", strerror(errno));
    *len = 0;
}

void logger_on_readable(struct svc *s)
{
    if (!s->in_use || s->log_rfd < 0)
        return;
    ssize_t n = read(s->log_rfd, in_buf, sizeof in_buf);
    if (n <= 0)
        return;
    int fd = open_current(s);
    if (fd < 0)
        log_warn("svc=%s event=log-open-failed error=\"%s\"", s->name, strerror(errno));
    char ts[STAMP_BYTES];
    stamp(ts);
    size_t out = 0;
    for (ssize_t i = 0; i < n; i++) {
        if (out + STAMP_BYTES + 1 > sizeof out_buf)
            flush(fd, &out);
        if (!s->log_midline) {
            memcpy(out_buf + out, ts, STAMP_BYTES);
            out += STAMP_BYTES;
            s->log_midline = true;
        }
        out_buf[out++] = in_buf[i];
        if (in_buf[i] == '\n')
            s->log_midline = false;
    }
    flush(fd, &out);
    if (fd >= 0)
        close(fd);
}
