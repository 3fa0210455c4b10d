/* schema.c — the intent database's schema, one migration per version,
 * tracked in PRAGMA user_version.
 *
 * Owns: the list of migrations. Each runs in one transaction together with
 * its user_version bump, so a crash leaves the old or the new version, never
 * half. Never edit a shipped migration: add a new one and bump
 * STATE_SCHEMA_VERSION. Never downgrades.
 */
#include "state/state_internal.h"

#include "log.h"
#include "util.h"

#include <stdio.h>

/* migrations[i] takes the schema from version i to version i + 1. */
static const char *const migrations[] = {
    /* 0 -> 1: key/value facts and personas */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT NOT NULL);"
    "CREATE TABLE personas ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  image TEXT NOT NULL,"
    "  desired TEXT NOT NULL DEFAULT 'stopped',"
    "  current TEXT NOT NULL DEFAULT 'stopped',"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL);",
    /* 1 -> 2: anti-loop memory */
    "CREATE TABLE nack ("
    "  hash TEXT PRIMARY KEY NOT NULL,"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  added_ms INTEGER NOT NULL);",
    /* 2 -> 3: persisted service intent (`bay0 stop X --persist`) */
    "CREATE TABLE service_desired ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  up INTEGER NOT NULL CHECK (up IN (0, 1)),"
    "  updated_ms INTEGER NOT NULL);",
    /* 3 -> 4: how to (re)create a persona's container, and why it last
     * failed */
    "ALTER TABLE personas ADD COLUMN spec TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE personas ADD COLUMN last_error TEXT NOT NULL DEFAULT '';",
};
_Static_assert(sizeof migrations / sizeof migrations[0] ==
                   STATE_SCHEMA_VERSION,
               "one migration per schema version");

int state_schema_version(struct state_db *db)
{
    sqlite3_stmt *st = state_sql_prepare(db, "PRAGMA user_version",
                                         "user_version");
    if (st == NULL)
        return -1;
    int v = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static enum state_result migrate_one(struct state_db *db, int from)
{
    int64_t t0 = time_mono_ms();
    if (state_tx_begin(db) != STATE_OK)
        return STATE_ERROR;
    /* Read the version again inside the write transaction: another process
     * may have migrated meanwhile. */
    int now = state_schema_version(db);
    if (now != from) {
        state_tx_rollback(db);
        return now > from ? STATE_OK : STATE_ERROR;
    }
    char bump[48];
    str_fmt(bump, sizeof bump, "PRAGMA user_version = %d", from + 1);
    if (state_sql_exec(db, migrations[from], "migrate") != STATE_OK ||
        state_sql_exec(db, bump, "migrate-version") != STATE_OK ||
        state_tx_commit(db) != STATE_OK) {
        state_tx_rollback(db);
        log_error("event=db-migration-failed db=%s from=%d to=%d result=rolled-back",
                  db->path, from, from + 1);
        return STATE_ERROR;
    }
    log_info("event=migrated db=%s from=%d to=%d elapsed_ms=%lld",
             db->path, from, from + 1, (long long)(time_mono_ms() - t0));
    return STATE_OK;
}

enum state_result state_migrate_to(struct state_db *db, int version)
{
    BAY0_ASSERT(version >= 0 && version <= STATE_SCHEMA_VERSION);
    for (int i = 0; i <= STATE_SCHEMA_VERSION; i++) {
        int v = state_schema_version(db);
        if (v < 0)
            return STATE_ERROR;
        if (v > STATE_SCHEMA_VERSION) {
            log_error("event=db-too-new db=%s schema=%d supported=%d "
                      "reason=\"written by a newer bay0: not touched\" "
                      "hint=\"boot that bay0 again, or move the db aside\"",
                      db->path, v, STATE_SCHEMA_VERSION);
            return STATE_ERROR;
        }
        if (v >= version)
            return STATE_OK;
        if (migrate_one(db, v) != STATE_OK)
            return STATE_ERROR;
    }
    return STATE_ERROR; /* unreachable: each step raises the version */
}

enum state_result state_migrate_if_needed(struct state_db *db)
{
    return state_migrate_to(db, STATE_SCHEMA_VERSION);
}

/* state_open, then the schema brought up to date; closed again on failure. */
bool state_open_migrated_how(struct state_db *db, bool *recovered)
{
    enum state_result r = state_open(db, NULL);
    if (r != STATE_OK && r != STATE_RECOVERED)
        return false;
    if (state_migrate_if_needed(db) != STATE_OK) {
        state_close(db);
        return false;
    }
    if (recovered != NULL)
        *recovered = r == STATE_RECOVERED;
    return true;
}

bool state_open_migrated(struct state_db *db)
{
    return state_open_migrated_how(db, NULL);
}
