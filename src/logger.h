/* logger.h — each service's log pipe and the built-in logger.
 *
 * bay0 creates the pipe before the first start and holds both ends for the
 * life of the service, so no line is lost across restarts of the service
 * or of its logger. With a log/run, that program reads the pipe on its
 * stdin (s6 semantics); without, the built-in logger writes
 * LOGDIR/NAME/current with one ISO 8601 UTC timestamp per line.
 * Never touches /persist.
 */
#ifndef BAY0_LOGGER_H
#define BAY0_LOGGER_H

#include <stdbool.h>

struct svc;

#define LOGGER_READ_BYTES_MAX 65536

int logger_open_pipe(struct svc *s);
void logger_close_pipe(struct svc *s);
/* true: a log/run program reads the pipe (blocking, not watched);
 * false: the built-in logger does (non-blocking, watched). */
void logger_use_external(struct svc *s, bool external);
void logger_on_readable(struct svc *s);

#endif
