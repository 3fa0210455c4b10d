/* log.c — bay0's own structured log lines (see log.h). */
#include "log.h"

#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_min = LOG_LEVEL_INFO;
static char log_prefix[32] = "bay0";
static log_sink_fn log_sink;
static enum log_level console_min = LOG_LEVEL_DEBUG; /* every line, by default */

void log_set_sink(log_sink_fn fn) { log_sink = fn; }

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level min) { log_min = min; }
void log_set_console_level(enum log_level min) { console_min = min; }
void log_set_prefix(const char *prefix)
{
    str_copy(log_prefix, sizeof log_prefix, prefix);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < log_min)
        return;
    int saved_errno = errno;
    char line[LOG_MSG_BYTES_MAX];
    int64_t now_ms = time_wall_ms();
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s: level=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (int)(now_ms % 1000), log_prefix,
                     level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (size_t)(m < 0 ? 0 : m);
    if (len >= sizeof line - 1) {
        len = sizeof line - 1;
        memcpy(line + len - 4, "...", 3);
        len -= 1;
    }
    line[len++] = '\n';
    /* The console line drops the timestamp (the console has its own).
     * Below the console's level, a line goes to the sink only; without
     * a sink, to the console anyway (never nowhere). */
    size_t skip = (size_t)(strchr(line, ' ') - line) + 1;
    if (level >= console_min || !log_sink)
        (void)!write(STDERR_FILENO, line + skip, len - skip);
    if (log_sink)
        log_sink(line, len);
    errno = saved_errno;
}
