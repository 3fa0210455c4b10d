/* file.c — atomic whole-file writes for the small files under the data dir
 * (the entropy seed): temp name, write, fsync, rename, fsync the directory.
 *
 * Owns: the temp-file dance. Never leaves a half-written file under the
 * final name; never runs in PID 1's loop.
 */
#include "state/state_internal.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum state_result state_file_write_atomic(const char *path, const void *buf,
                                          size_t len, unsigned mode)
{
    char tmp[STATE_PATH_BYTES_MAX + 16];
    char dir[STATE_PATH_BYTES_MAX];
    if (!str_fmt(tmp, sizeof tmp, "%s.tmp", path) ||
        !str_copy(dir, sizeof dir, path)) {
        log_error("state: path too long: %s", path);
        return STATE_ERROR;
    }
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        str_copy(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        log_error("state: cannot create %s: %s", tmp, strerror(errno));
        return STATE_ERROR;
    }
    const char *step = "write";
    bool ok = fd_write_all(fd, buf, len) == 0;
    if (ok) {
        step = "fsync";
        ok = fsync(fd) == 0;
    }
    if (close(fd) != 0 && ok) {
        step = "close";
        ok = false;
    }
    if (ok) {
        step = "rename";
        ok = rename(tmp, path) == 0;
    }
    if (!ok) {
        log_error("state: atomic write of %s failed at %s: %s", path, step,
                  strerror(errno));
        (void)unlink(tmp);
        return STATE_ERROR;
    }
    if (state_fsync_dir(dir) != 0) {
        log_error("state: fsync of dir %s failed: %s", dir, strerror(errno));
        return STATE_ERROR;
    }
    return STATE_OK;
}
