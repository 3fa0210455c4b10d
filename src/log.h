/* log.h — bay0's own structured log: one line per event, key=value fields.
 *
 *   bay0: level=info svc=web event=started pid=123
 *
 * Lines go to stderr (the console in PID 1 mode) and to the sink set with
 * log_set_sink (the supervisor's own log ring: LOGDIR/bay0/current). Never allocates; a line
 * longer than LOG_MSG_BYTES_MAX is cut and ends in "...".
 * Never touches /persist (the genesis log lives in src/state/).
 */
#ifndef BAY0_LOG_H
#define BAY0_LOG_H

#include <stddef.h>

#define LOG_MSG_BYTES_MAX 1024

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

void log_set_level(enum log_level min);
/* Lines below min stop going to stderr (the console) while a sink takes
 * them; default: every line. PID 1 quiets the console after `init
 * complete` (bay0.console= on the kernel command line). */
void log_set_console_level(enum log_level min);
/* Also hand every line (with its timestamp) to this function; NULL to
 * stop. The supervisor points it at its own log ring. */
typedef void (*log_sink_fn)(const char *line, size_t len);
void log_set_sink(log_sink_fn fn);
/* Prefix for every line (default "bay0"). */
void log_set_prefix(const char *prefix);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
