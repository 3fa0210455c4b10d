/* db.c — where /persist is, opening the intent database (WAL,
 * synchronous=FULL, quick_check, corrupt files moved aside) and the small
 * SQL helpers the other state files use.
 *
 * FULL, not NORMAL (the seed's default "unless you have a reason"): in WAL
 * mode NORMAL fsyncs at checkpoints only, so a power cut loses commits the
 * caller already acted on (a persona's intent, then podman started it).
 * Gate B cuts the power right after such a COMMIT (tests/vm/test_gates.py,
 * test_gate_b_power_cut_after_commit): the intent was lost with NORMAL.
 * The cost is one fsync of the WAL per transaction, in a worker child.
 *
 * Owns: the one literal naming the persist mount point. Must never run in
 * PID 1's event loop (it blocks on disk); callers use state_run_bounded.
 */
#include "state/state_internal.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PERSIST_MOUNTPOINT_DEFAULT "/persist"
#define PERSIST_DATA_SUBDIR "spine"
#define PERSIST_DIR_ENV "BAY0_PERSIST_DIR"
#define MOVE_ASIDE_TRIES_MAX 100
#define RENAME_NOREPLACE_FLAG 1u /* linux/fs.h RENAME_NOREPLACE */

static char persist_override[STATE_PATH_BYTES_MAX];
static char data_dir_buf[STATE_PATH_BYTES_MAX];

bool state_set_persist_dir(const char *root)
{
    if (root == NULL) {
        persist_override[0] = '\0';
        return true;
    }
    return str_copy(persist_override, sizeof persist_override, root);
}

const char *state_persist_mountpoint(void)
{
    if (persist_override[0] != '\0')
        return persist_override;
    const char *env = getenv(PERSIST_DIR_ENV);
    if (env == NULL || env[0] == '\0')
        return PERSIST_MOUNTPOINT_DEFAULT;
    /* Too long to use: never fall back to the real one; this path fails
     * every operation (ENOTDIR) and names the problem. */
    if (strlen(env) >= STATE_PATH_BYTES_MAX / 2)
        return "/dev/null/" PERSIST_DIR_ENV "-too-long";
    return env;
}

bool state_persist_overridden(void)
{
    return strcmp(state_persist_mountpoint(), PERSIST_MOUNTPOINT_DEFAULT) != 0;
}

const char *state_data_dir(void)
{
    /* The root is at most half the buffer, so this always fits. */
    str_fmt(data_dir_buf, sizeof data_dir_buf, "%s/%s",
            state_persist_mountpoint(), PERSIST_DATA_SUBDIR);
    return data_dir_buf;
}

bool state_path(char *out, size_t out_size, const char *file)
{
    return str_fmt(out, out_size, "%s/%s", state_data_dir(), file);
}

const char *state_result_name(enum state_result r)
{
    switch (r) {
    case STATE_OK: return "ok";
    case STATE_TIMEOUT: return "timeout";
    case STATE_ERROR: return "error";
    case STATE_RECOVERED: return "recovered";
    }
    return "unknown";
}

int state_fsync_dir(const char *dir) { return dir_fsync(dir); }

enum state_result state_data_dir_ensure(const char *dir)
{
    if (mkdir(dir, 0700) == 0) {
        char parent[STATE_PATH_BYTES_MAX];
        str_copy(parent, sizeof parent, dir);
        char *slash = strrchr(parent, '/');
        if (slash != NULL && slash != parent)
            *slash = '\0';
        (void)state_fsync_dir(parent);
        log_info("event=data-dir-created dir=%s", dir);
        return STATE_OK;
    }
    if (errno == EEXIST)
        return STATE_OK;
    log_error("event=data-dir-failed dir=%s error=\"%s\" "
              "hint=\"is the persist disk mounted read-write?\"", dir,
              strerror(errno));
    return STATE_ERROR;
}

enum state_result state_sql_exec(struct state_db *db, const char *sql,
                                 const char *what)
{
    char *err = NULL;
    state_test_point("before", what);
    int rc = sqlite3_exec(db->sql, sql, NULL, NULL, &err);
    if (rc == SQLITE_OK) {
        state_test_point("after", what);
        return STATE_OK;
    }
    log_error("event=db-error db=%s op=%s error=\"%s\"", db->path, what,
              err != NULL ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return STATE_ERROR;
}

sqlite3_stmt *state_sql_prepare(struct state_db *db, const char *sql,
                                const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        log_error("event=db-error db=%s op=%s step=prepare error=\"%s\"", db->path, what,
                  sqlite3_errmsg(db->sql));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

enum state_result state_sql_done(struct state_db *db, sqlite3_stmt *st,
                                 const char *what)
{
    state_test_point("before", what);
    int rc = sqlite3_step(st);
    enum state_result r = STATE_OK;
    if (rc == SQLITE_DONE)
        state_test_point("after", what);
    else {
        log_error("event=db-error db=%s op=%s error=\"%s\"", db->path, what,
                  sqlite3_errmsg(db->sql));
        r = STATE_ERROR;
    }
    sqlite3_finalize(st);
    return r;
}

enum state_result state_tx_begin(struct state_db *db)
{
    return state_sql_exec(db, "BEGIN IMMEDIATE", "begin");
}

enum state_result state_tx_commit(struct state_db *db)
{
    return state_sql_exec(db, "COMMIT", "commit");
}

void state_tx_rollback(struct state_db *db)
{
    if (!sqlite3_get_autocommit(db->sql))
        (void)sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
}

enum state_result state_meta_get(struct state_db *db, const char *key,
                                 char *out, size_t out_size, bool *found)
{
    *found = false;
    if (out_size > 0)
        out[0] = '\0';
    sqlite3_stmt *st = state_sql_prepare(
        db, "SELECT value FROM meta WHERE key = ?1", "meta-get");
    if (st == NULL)
        return STATE_ERROR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    enum state_result r = STATE_OK;
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (!str_copy(out, out_size, v != NULL ? v : "")) {
            log_error("event=db-error db=%s op=meta-get key=%s "
                      "error=\"value too long\"", db->path, key);
            r = STATE_ERROR;
        } else {
            *found = true;
        }
    } else if (rc != SQLITE_DONE) {
        log_error("event=db-error db=%s op=meta-get key=%s error=\"%s\"", db->path, key,
                  sqlite3_errmsg(db->sql));
        r = STATE_ERROR;
    }
    sqlite3_finalize(st);
    return r;
}

enum state_result state_meta_set(struct state_db *db, const char *key,
                                 const char *value)
{
    sqlite3_stmt *st = state_sql_prepare(
        db,
        "INSERT INTO meta(key, value) VALUES(?1, ?2) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        "meta-set");
    if (st == NULL)
        return STATE_ERROR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    return state_sql_done(db, st, "meta-set");
}

enum open_outcome { OPEN_GOOD, OPEN_BAD_FILE, OPEN_FAILED };

/* Errors that mean the file itself is bad (move it aside), as opposed to a
 * lock held by someone else or a permission problem (leave it alone). */
static bool db_error_is_bad_file(int rc)
{
    int primary = rc & 0xff;
    return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB ||
           primary == SQLITE_IOERR;
}

/* PRAGMA quick_check(1): the file reads as a healthy database. */
static enum open_outcome db_check(struct state_db *db, char *why,
                                  size_t why_size)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->sql, "PRAGMA quick_check(1)", -1, &st,
                                NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    enum open_outcome out = OPEN_GOOD;
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v == NULL || strcmp(v, "ok") != 0)
            out = OPEN_BAD_FILE;
        str_copy(why, why_size, v != NULL ? v : "no result");
    } else {
        rc = sqlite3_extended_errcode(db->sql);
        str_copy(why, why_size, sqlite3_errmsg(db->sql));
        out = db_error_is_bad_file(rc) ? OPEN_BAD_FILE : OPEN_FAILED;
    }
    sqlite3_finalize(st);
    return out;
}

static enum state_result db_settings(struct state_db *db)
{
    sqlite3_stmt *st = state_sql_prepare(db, "PRAGMA journal_mode=WAL",
                                         "journal_mode");
    if (st == NULL)
        return STATE_ERROR;
    bool wal = sqlite3_step(st) == SQLITE_ROW &&
               sqlite3_column_text(st, 0) != NULL &&
               strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!wal) {
        log_error("event=db-error db=%s op=wal error=\"cannot switch to WAL: %s\"", db->path,
                  sqlite3_errmsg(db->sql));
        return STATE_ERROR;
    }
    if (state_sql_exec(db, "PRAGMA synchronous=FULL", "synchronous") !=
        STATE_OK)
        return STATE_ERROR;
    return state_sql_exec(db, "PRAGMA foreign_keys=ON", "foreign_keys");
}

/* Open + check + settings. */
static enum open_outcome db_try_open(struct state_db *db, char *why,
                                     size_t why_size)
{
    int rc = sqlite3_open_v2(db->path, &db->sql,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                 SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        str_copy(why, why_size,
                 db->sql != NULL ? sqlite3_errmsg(db->sql) : "out of memory");
        return db_error_is_bad_file(rc) ? OPEN_BAD_FILE : OPEN_FAILED;
    }
    sqlite3_busy_timeout(db->sql, STATE_BUSY_TIMEOUT_MS);
    enum open_outcome out = db_check(db, why, why_size);
    if (out != OPEN_GOOD)
        return out;
    if (db_settings(db) != STATE_OK) {
        str_copy(why, why_size, "settings refused");
        return OPEN_FAILED;
    }
    return OPEN_GOOD;
}

/* Rename state.db to state.db.corrupt-STAMP[.N] without replacing an
 * earlier one, then its -wal and -shm to the same name + suffix. */
/* renameat2(RENAME_NOREPLACE) by its system call: musl 1.2.3 has no
 * wrapper. */
static int rename_noreplace(const char *from, const char *to)
{
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to,
                        RENAME_NOREPLACE_FLAG);
}

static enum state_result db_move_aside(struct state_db *db, const char *dir)
{
    char stamp[32], to[STATE_PATH_BYTES_MAX + 64];
    time_t now = (time_t)(time_wall_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    int rc = -1;
    for (int i = 0; i < MOVE_ASIDE_TRIES_MAX && rc != 0; i++) {
        if (i == 0)
            str_fmt(to, sizeof to, "%s.corrupt-%s", db->path, stamp);
        else
            str_fmt(to, sizeof to, "%s.corrupt-%s.%d", db->path, stamp, i);
        rc = rename_noreplace(db->path, to);
        if (rc != 0 && errno != EEXIST)
            break;
    }
    if (rc != 0) {
        log_error("event=db-move-aside-failed db=%s error=\"%s\" "
                  "hint=\"move it away by hand; boot carries on without it\"",
                  db->path, strerror(errno));
        return STATE_ERROR;
    }
    log_warn("event=db-moved-aside db=%s to=%s", db->path, to);
    static const char *const suffixes[] = {"-wal", "-shm"};
    for (size_t i = 0; i < ARRAY_LEN(suffixes); i++) {
        char from[STATE_PATH_BYTES_MAX + 8], to_side[sizeof to + 8];
        str_fmt(from, sizeof from, "%s%s", db->path, suffixes[i]);
        str_fmt(to_side, sizeof to_side, "%s%s", to, suffixes[i]);
        if (rename(from, to_side) != 0 && errno != ENOENT) {
            /* A stale -wal must not be replayed into the fresh db. */
            if (unlink(from) != 0 && errno != ENOENT) {
                log_error("event=db-move-aside-failed file=%s error=\"%s\"", from,
                          strerror(errno));
                return STATE_ERROR;
            }
        }
    }
    (void)state_fsync_dir(dir);
    return STATE_OK;
}

enum state_result state_open(struct state_db *db, const char *dir)
{
    memset(db, 0, sizeof *db);
    if (dir == NULL)
        dir = state_data_dir();
    if (!str_fmt(db->path, sizeof db->path, "%s/%s", dir, STATE_DB_FILE)) {
        log_error("event=data-dir-failed dir=%s error=\"path too long\"", dir);
        return STATE_ERROR;
    }
    if (state_data_dir_ensure(dir) != STATE_OK)
        return STATE_ERROR;
    char why[160];
    enum open_outcome out = db_try_open(db, why, sizeof why);
    if (out == OPEN_GOOD)
        return STATE_OK;
    sqlite3_close_v2(db->sql);
    db->sql = NULL;
    if (out == OPEN_FAILED) {
        log_error("event=db-open-failed db=%s error=\"%s\"", db->path, why);
        return STATE_ERROR;
    }
    log_error("event=db-unreadable db=%s error=\"%s\" "
              "reason=\"corrupt or unreadable: it is moved aside\"", db->path, why);
    if (db_move_aside(db, dir) != STATE_OK)
        return STATE_ERROR;
    if (db_try_open(db, why, sizeof why) != OPEN_GOOD) {
        log_error("event=db-open-failed db=%s error=\"fresh db unusable too: %s\"", db->path, why);
        sqlite3_close_v2(db->sql);
        db->sql = NULL;
        return STATE_ERROR;
    }
    db->recovered = true;
    log_warn("event=db-recreated db=%s", db->path);
    return STATE_RECOVERED;
}

void state_close(struct state_db *db)
{
    if (db->sql != NULL)
        sqlite3_close_v2(db->sql);
    db->sql = NULL;
}
