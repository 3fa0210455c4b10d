/* nack.c — the NACK registry: candidate hashes that failed (an upgrade that
 * rolled back) and must never be installed again automatically.
 *
 * Owns: the nack table. Never decides what failed (the updater does), and
 * never forgets an entry by itself: only an operator's `bay0 nack rm` or a
 * whole-registry write removes one.
 */
#include "state/state_internal.h"

#include "log.h"
#include "util.h"

#include <string.h>

const char *state_nack_hash_check(const char *hash)
{
    size_t n = strlen(hash);
    if (n == 0)
        return "empty";
    if (n >= STATE_NACK_HASH_BYTES_MAX)
        return "too long";
    for (size_t i = 0; i < n; i++) {
        char c = hash[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == ':' || c == '.' ||
                  c == '_' || c == '-';
        if (!ok)
            return "bad character (allowed: A-Z a-z 0-9 : . _ -)";
    }
    return NULL;
}

static bool nack_valid(const char *hash, const char *reason)
{
    const char *why = state_nack_hash_check(hash);
    if (why != NULL) {
        log_error("event=nack-rejected hash=\"%.40s\" error=\"%s\"", hash, why);
        return false;
    }
    if (reason != NULL && strlen(reason) >= STATE_NACK_REASON_BYTES_MAX) {
        log_error("event=nack-rejected hash=%s error=\"reason longer than %d bytes\"", hash,
                  STATE_NACK_REASON_BYTES_MAX - 1);
        return false;
    }
    return true;
}

static enum state_result nack_insert(struct state_db *db, const char *hash,
                                     const char *reason, int64_t added_ms)
{
    sqlite3_stmt *st = state_sql_prepare(
        db,
        "INSERT INTO nack(hash, reason, added_ms) VALUES(?1, ?2, ?3) "
        "ON CONFLICT(hash) DO UPDATE SET reason = excluded.reason",
        "nack-add");
    if (st == NULL)
        return STATE_ERROR;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, reason != NULL ? reason : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, added_ms);
    return state_sql_done(db, st, "nack-add");
}

enum state_result state_nack_add(struct state_db *db, const char *hash,
                                 const char *reason)
{
    if (!nack_valid(hash, reason))
        return STATE_ERROR;
    enum state_result r = nack_insert(db, hash, reason, time_wall_ms());
    if (r == STATE_OK)
        log_info("event=nack-add hash=%s", hash);
    return r;
}

enum state_result state_nack_remove(struct state_db *db, const char *hash,
                                    bool *found)
{
    *found = false;
    sqlite3_stmt *st = state_sql_prepare(db, "DELETE FROM nack WHERE hash = ?1",
                                         "nack-rm");
    if (st == NULL)
        return STATE_ERROR;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    enum state_result r = state_sql_done(db, st, "nack-rm");
    if (r == STATE_OK)
        *found = sqlite3_changes(db->sql) > 0;
    if (r == STATE_OK && *found)
        log_info("event=nack-rm hash=%s", hash);
    return r;
}

enum state_result state_nack_contains(struct state_db *db, const char *hash,
                                      bool *found)
{
    *found = false;
    sqlite3_stmt *st = state_sql_prepare(
        db, "SELECT 1 FROM nack WHERE hash = ?1", "nack-contains");
    if (st == NULL)
        return STATE_ERROR;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        log_error("event=db-error db=%s op=nack-contains error=\"%s\"", db->path,
                  sqlite3_errmsg(db->sql));
        return STATE_ERROR;
    }
    return STATE_OK;
}

enum state_result state_read_nack_registry(struct state_db *db,
                                           struct state_nack *out, size_t cap,
                                           size_t *count, bool *more)
{
    *count = 0;
    if (more != NULL)
        *more = false;
    sqlite3_stmt *st = state_sql_prepare(
        db, "SELECT hash, reason, added_ms FROM nack ORDER BY added_ms, hash",
        "nack-list");
    if (st == NULL)
        return STATE_ERROR;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*count == cap) {
            if (more != NULL)
                *more = true;
            rc = SQLITE_DONE;
            break;
        }
        struct state_nack *n = &out[*count];
        const char *h = (const char *)sqlite3_column_text(st, 0);
        const char *why = (const char *)sqlite3_column_text(st, 1);
        if (h == NULL || !str_copy(n->hash, sizeof n->hash, h))
            continue;
        str_copy(n->reason, sizeof n->reason, why != NULL ? why : "");
        n->added_ms = sqlite3_column_int64(st, 2);
        (*count)++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("event=db-error db=%s op=nack-list error=\"%s\"", db->path,
                  sqlite3_errmsg(db->sql));
        return STATE_ERROR;
    }
    return STATE_OK;
}

enum state_result state_write_nack_registry(struct state_db *db,
                                            const struct state_nack *in,
                                            size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!nack_valid(in[i].hash, in[i].reason))
            return STATE_ERROR;
    if (state_tx_begin(db) != STATE_OK)
        return STATE_ERROR;
    enum state_result r = state_sql_exec(db, "DELETE FROM nack", "nack-clear");
    for (size_t i = 0; i < count && r == STATE_OK; i++) {
        int64_t t = in[i].added_ms > 0 ? in[i].added_ms : time_wall_ms();
        r = nack_insert(db, in[i].hash, in[i].reason, t);
    }
    if (r == STATE_OK)
        r = state_tx_commit(db);
    if (r != STATE_OK)
        state_tx_rollback(db);
    return r;
}
