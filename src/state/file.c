/* file.c — atomic whole-file writes for the small files under the data dir
 * (the entropy seed): temp name, write, fsync, rename, fsync the directory.
 *
 * The temp-file dance is file_replace_durable() (util.c); this names the
 * failure in the log. Never runs in PID 1's loop.
 */
#include "state/state_internal.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <string.h>

enum state_result state_file_write_atomic(const char *path, const void *buf,
                                          size_t len, unsigned mode)
{
    const char *step = "path";
    if (file_replace_durable(path, buf, len, mode, &step))
        return STATE_OK;
    log_error("event=file-write-failed path=%s step=%s error=\"%s\"", path, step,
              strerror(errno));
    return STATE_ERROR;
}
