/* probe.c — the state module's part of `bay0 validate`: write and read back
 * the marker, and look at the database without changing it (moved-aside
 * copies, last-known-good time).
 *
 * Owns: DATA/validate.marker (written, read back and removed in one call;
 * nothing stays). Must never: repair, create or migrate anything (validate
 * is non-destructive: the database is opened query-only, never through
 * state_open, which would move a corrupt file aside), or run in PID 1's
 * process: these calls block on the disk, so validate runs each in a
 * child with a deadline.
 */
#include "state/state_internal.h"
#include "state/mount.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARKER_FILE "validate.marker"
#define MARKER_BYTES_MAX 128
#define MOVED_ASIDE_PREFIX STATE_DB_FILE ".corrupt-"
#define PROBE_DIR_BUF_BYTES 4096

/* An unset override means the real persist mount point, which must be a
 * mount: the image's empty directory is no persist disk (a dirty boot). */
static bool persist_root_usable(char *reason, size_t size)
{
    const char *root = state_persist_mountpoint();
    if (state_persist_overridden() || persist_is_mounted(root))
        return true;
    return reason_fail(reason, size, "%s is not mounted (dirty boot?)",
                       root);
}

static bool marker_compare(const char *path, const char *want, size_t len,
                           char *reason, size_t size)
{
    char got[MARKER_BYTES_MAX + 1];
    ssize_t n = file_read_small(AT_FDCWD, path, got, sizeof got);
    if (n < 0)
        return reason_fail(reason, size, "cannot read back %s: %s", path,
                           strerror(errno));
    if ((size_t)n != len || memcmp(got, want, len) != 0)
        return reason_fail(reason, size,
                           "%s read back differs from what was written",
                           path);
    return true;
}

/* Validates running at once take turns on the one marker (flock on the
 * data directory itself: no lock file to leave behind; released when the
 * holder exits or is killed). -1: not locked, go on anyway. */
static int marker_lock(void)
{
    int fd = open(state_data_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static enum state_result probe_marker_locked(char *reason, size_t size);

enum state_result state_probe_marker(char *reason, size_t size)
{
    reason[0] = '\0';
    if (!persist_root_usable(reason, size))
        return STATE_ERROR;
    int lock = marker_lock();
    enum state_result r = probe_marker_locked(reason, size);
    if (lock >= 0)
        close(lock);
    return r;
}

static enum state_result probe_marker_locked(char *reason, size_t size)
{
    char path[STATE_PATH_BYTES_MAX];
    if (!state_path(path, sizeof path, MARKER_FILE)) {
        reason_fail(reason, size, "data dir path too long: %s",
                    state_data_dir());
        return STATE_ERROR;
    }
    uint64_t nonce = 0;
    (void)!getrandom(&nonce, sizeof nonce, GRND_NONBLOCK);
    char text[MARKER_BYTES_MAX];
    int len = snprintf(text, sizeof text,
                       "validate pid=%d time_ms=%" PRId64 " nonce=%016" PRIx64
                       "\n",
                       (int)getpid(), time_wall_ms(), nonce);
    BAY0_ASSERT(len > 0 && (size_t)len < sizeof text);
    struct stat st;
    if (stat(state_data_dir(), &st) != 0) {
        reason_fail(reason, size, "%s: %s", state_data_dir(),
                    strerror(errno));
        return STATE_ERROR;
    }
    enum state_result r =
        state_file_write_atomic(path, text, (size_t)len, 0600);
    if (r != STATE_OK) {
        char tmp[STATE_PATH_BYTES_MAX + 8];
        str_fmt(tmp, sizeof tmp, "%s.tmp", path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        reason_fail(reason, size, "cannot write %s: %s", path,
                    fd < 0 ? strerror(errno) : "write, fsync or rename failed");
        if (fd >= 0)
            close(fd);
        (void)unlink(tmp);
        return STATE_ERROR;
    }
    bool same = marker_compare(path, text, (size_t)len, reason, size);
    if (unlink(path) != 0 && same) {
        reason_fail(reason, size, "cannot remove %s: %s", path,
                    strerror(errno));
        return STATE_ERROR;
    }
    return same ? STATE_OK : STATE_ERROR;
}

void state_probe_marker_cleanup(void)
{
    char path[STATE_PATH_BYTES_MAX], tmp[STATE_PATH_BYTES_MAX + 8];
    if (!state_path(path, sizeof path, MARKER_FILE) ||
        !str_fmt(tmp, sizeof tmp, "%s.tmp", path))
        return;
    int lock = marker_lock(); /* never another run's marker mid-probe */
    (void)unlink(tmp);
    (void)unlink(path);
    if (lock >= 0)
        close(lock);
}

struct aside_scan {
    char *first;
    size_t size;
    uint32_t count;
};

static bool aside_entry(const char *name, unsigned char d_type, void *ctx)
{
    (void)d_type;
    struct aside_scan *s = ctx;
    if (strncmp(name, MOVED_ASIDE_PREFIX, strlen(MOVED_ASIDE_PREFIX)) != 0)
        return true;
    /* the db's own -wal/-shm copies go with it: count the db only */
    size_t n = strlen(name);
    if ((n > 4 && strcmp(name + n - 4, "-wal") == 0) ||
        (n > 4 && strcmp(name + n - 4, "-shm") == 0))
        return true;
    if (s->count == 0 || strcmp(name, s->first) < 0)
        str_copy(s->first, s->size, name);
    s->count++;
    return true;
}

/* Looked at only: never created, migrated, repaired or moved aside here. */
static enum state_result probe_last_good(struct state_probe_db *out,
                                         char *reason, size_t size)
{
    struct state_db db = {0};
    if (!state_path(db.path, sizeof db.path, STATE_DB_FILE))
        return STATE_ERROR;
    if (access(db.path, F_OK) != 0)
        return STATE_OK; /* no database yet: nothing recovered, no time */
    out->db_exists = true;
    /* Read-write but query_only, never CREATE: a read-only connection
     * leaves the -wal and -shm files behind at close; this one, the last
     * to close, checkpoints and removes them like every other user. */
    int rc = sqlite3_open_v2(db.path, &db.sql,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        sqlite3_busy_timeout(db.sql, STATE_BUSY_TIMEOUT_MS);
    if (rc != SQLITE_OK ||
        state_sql_exec(&db, "PRAGMA query_only = ON", "query-only") != STATE_OK) {
        reason_fail(reason, size, "cannot open %s: %s", db.path,
                    db.sql != NULL ? sqlite3_errmsg(db.sql) : "no memory");
        sqlite3_close_v2(db.sql);
        return STATE_ERROR;
    }
    enum state_result r = state_read_last_good_time(
        &db, &out->last_good_ms, &out->last_good_found);
    if (r != STATE_OK)
        reason_fail(reason, size, "cannot read the last-known-good time "
                                  "from %s (see the log above)", db.path);
    sqlite3_close_v2(db.sql);
    return r;
}

enum state_result state_probe_db(struct state_probe_db *out, char *reason,
                                 size_t size)
{
    memset(out, 0, sizeof *out);
    reason[0] = '\0';
    if (!persist_root_usable(reason, size))
        return STATE_ERROR;
    int dfd = open(state_data_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == ENOENT)
            return STATE_OK; /* a fresh persist disk: nothing yet */
        reason_fail(reason, size, "%s: %s", state_data_dir(),
                    strerror(errno));
        return STATE_ERROR;
    }
    struct aside_scan scan = {.first = out->moved_aside,
                              .size = sizeof out->moved_aside};
    int rc = dir_each(dfd, aside_entry, &scan);
    int err = errno;
    close(dfd);
    if (rc != 0) {
        reason_fail(reason, size, "cannot list %s: %s", state_data_dir(),
                    strerror(err));
        return STATE_ERROR;
    }
    out->moved_aside_count = scan.count;
    return probe_last_good(out, reason, size);
}
