/* intent.c — typed access to the intent rows: personas, the active persona,
 * services' persisted desired state, last-known-good time.
 *
 * Owns: the SQL for those tables. Every change is one statement or one
 * transaction, committed before the caller acts on it. Never validates
 * persona grammar beyond length (persona.c owns the grammar); never runs in
 * PID 1's loop.
 */
#include "state/state_internal.h"

#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define META_ACTIVE_PERSONA "active_persona"
#define META_LAST_GOOD_MS "last_good_time_ms"

static const char *const persona_state_names[] = {
    [STATE_PERSONA_STOPPED] = "stopped",   [STATE_PERSONA_STARTING] = "starting",
    [STATE_PERSONA_RUNNING] = "running",   [STATE_PERSONA_STOPPING] = "stopping",
    [STATE_PERSONA_PAUSED] = "paused",
};

const char *state_persona_state_name(enum state_persona_state s)
{
    if ((size_t)s < ARRAY_LEN(persona_state_names))
        return persona_state_names[s];
    return "unknown";
}

bool state_persona_state_parse(const char *s, enum state_persona_state *out)
{
    for (size_t i = 0; i < ARRAY_LEN(persona_state_names); i++) {
        if (strcmp(s, persona_state_names[i]) == 0) {
            *out = (enum state_persona_state)i;
            return true;
        }
    }
    return false;
}

static bool text_fits(const char *s, size_t max_bytes, const char *what)
{
    if (s != NULL && s[0] != '\0' && strlen(s) < max_bytes)
        return true;
    log_error("event=intent-rejected what=\"%s\" error=\"empty or longer than %zu bytes\"", what,
              max_bytes - 1);
    return false;
}

enum state_result state_put_persona(struct state_db *db, const char *name,
                                    const char *image,
                                    enum state_persona_state desired)
{
    if (!text_fits(name, STATE_PERSONA_NAME_BYTES_MAX, "persona name") ||
        !text_fits(image, STATE_PERSONA_IMAGE_BYTES_MAX, "persona image"))
        return STATE_ERROR;
    sqlite3_stmt *st = state_sql_prepare(
        db,
        "INSERT INTO personas(name, image, desired, current, created_ms, "
        "updated_ms) VALUES(?1, ?2, ?3, 'stopped', ?4, ?4) "
        "ON CONFLICT(name) DO UPDATE SET image = excluded.image, "
        "desired = excluded.desired, updated_ms = excluded.updated_ms",
        "persona-put");
    if (st == NULL)
        return STATE_ERROR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, image, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, state_persona_state_name(desired), -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, time_wall_ms());
    return state_sql_done(db, st, "persona-put");
}

/* Run a one-row UPDATE/DELETE bound to ?1 = name [, ?2 = text]; *found says
 * whether a row matched. */
static enum state_result change_by_name(struct state_db *db, const char *sql,
                                        const char *name, const char *text,
                                        bool *found, const char *what)
{
    bool dummy;
    if (found == NULL)
        found = &dummy;
    *found = false;
    sqlite3_stmt *st = state_sql_prepare(db, sql, what);
    if (st == NULL)
        return STATE_ERROR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (text != NULL)
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 3)
        sqlite3_bind_int64(st, 3, time_wall_ms());
    enum state_result r = state_sql_done(db, st, what);
    if (r == STATE_OK)
        *found = sqlite3_changes(db->sql) > 0;
    return r;
}

enum state_result state_remove_persona(struct state_db *db, const char *name,
                                       bool *found)
{
    return change_by_name(db,
                          "DELETE FROM personas WHERE name = ?1",
                          name, NULL, found, "persona-remove");
}

enum state_result state_set_persona_state(struct state_db *db,
                                          const char *name,
                                          enum state_persona_state current,
                                          bool *found)
{
    return change_by_name(db,
                          "UPDATE personas SET current = ?2, updated_ms = ?3 "
                          "WHERE name = ?1",
                          name, state_persona_state_name(current), found,
                          "persona-set-state");
}

enum state_result state_set_persona_desired(struct state_db *db,
                                            const char *name,
                                            enum state_persona_state desired,
                                            bool *found)
{
    return change_by_name(db,
                          "UPDATE personas SET desired = ?2, updated_ms = ?3 "
                          "WHERE name = ?1",
                          name, state_persona_state_name(desired), found,
                          "persona-set-desired");
}

enum state_result state_set_persona_spec(struct state_db *db, const char *name,
                                         const char *spec, bool *found)
{
    if (strlen(spec) >= STATE_PERSONA_SPEC_BYTES_MAX) {
        log_error("event=intent-rejected what=\"persona spec\" error=\"longer than %d bytes\"",
                  STATE_PERSONA_SPEC_BYTES_MAX - 1);
        return STATE_ERROR;
    }
    return change_by_name(db,
                          "UPDATE personas SET spec = ?2, updated_ms = ?3 "
                          "WHERE name = ?1",
                          name, spec, found, "persona-set-spec");
}

enum state_result state_set_persona_error(struct state_db *db,
                                          const char *name, const char *error,
                                          bool *found)
{
    char cut[STATE_PERSONA_ERROR_BYTES_MAX];
    str_copy(cut, sizeof cut, error); /* a longer reason is cut, not lost */
    return change_by_name(db,
                          "UPDATE personas SET last_error = ?2, "
                          "updated_ms = ?3 WHERE name = ?1",
                          name, cut, found, "persona-set-error");
}

static bool persona_from_row(sqlite3_stmt *st, struct state_persona *p)
{
    const char *name = (const char *)sqlite3_column_text(st, 0);
    const char *image = (const char *)sqlite3_column_text(st, 1);
    const char *desired = (const char *)sqlite3_column_text(st, 2);
    const char *current = (const char *)sqlite3_column_text(st, 3);
    memset(p, 0, sizeof *p);
    if (name == NULL || image == NULL || desired == NULL || current == NULL)
        return false;
    if (!str_copy(p->name, sizeof p->name, name) ||
        !str_copy(p->image, sizeof p->image, image))
        return false;
    /* An unknown state string (written by a newer bay0) reads as stopped:
     * "prefer stopped under uncertainty". */
    if (!state_persona_state_parse(desired, &p->desired))
        p->desired = STATE_PERSONA_STOPPED;
    if (!state_persona_state_parse(current, &p->current))
        p->current = STATE_PERSONA_STOPPED;
    p->created_ms = sqlite3_column_int64(st, 4);
    p->updated_ms = sqlite3_column_int64(st, 5);
    const char *spec = (const char *)sqlite3_column_text(st, 6);
    const char *error = (const char *)sqlite3_column_text(st, 7);
    if (spec != NULL && !str_copy(p->spec, sizeof p->spec, spec))
        return false;
    if (error != NULL)
        str_copy(p->last_error, sizeof p->last_error, error);
    return true;
}

#define PERSONA_COLUMNS \
    "name, image, desired, current, created_ms, updated_ms, spec, last_error"

enum state_result state_list_personas(struct state_db *db,
                                      struct state_persona *out, size_t cap,
                                      size_t *count, bool *more)
{
    *count = 0;
    if (more != NULL)
        *more = false;
    sqlite3_stmt *st = state_sql_prepare(
        db, "SELECT " PERSONA_COLUMNS " FROM personas ORDER BY name",
        "persona-list");
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
        if (persona_from_row(st, &out[*count]))
            (*count)++;
        else
            log_warn("event=persona-row-skipped db=%s reason=\"malformed\"",
                     db->path);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("event=db-error db=%s op=persona-list error=\"%s\"", db->path,
                  sqlite3_errmsg(db->sql));
        return STATE_ERROR;
    }
    return STATE_OK;
}

enum state_result state_get_persona(struct state_db *db, const char *name,
                                    struct state_persona *out, bool *found)
{
    *found = false;
    sqlite3_stmt *st = state_sql_prepare(
        db, "SELECT " PERSONA_COLUMNS " FROM personas WHERE name = ?1",
        "persona-get");
    if (st == NULL)
        return STATE_ERROR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *found = persona_from_row(st, out);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        log_error("event=db-error db=%s op=persona-get name=%s error=\"%s\"", db->path, name,
                  sqlite3_errmsg(db->sql));
        return STATE_ERROR;
    }
    return STATE_OK;
}

enum state_result state_get_active_persona(struct state_db *db, char *out,
                                           size_t out_size)
{
    bool found;
    return state_meta_get(db, META_ACTIVE_PERSONA, out, out_size, &found);
}

enum state_result state_set_active_persona(struct state_db *db,
                                           const char *name, bool *found)
{
    *found = true;
    if (name == NULL || name[0] == '\0')
        return state_sql_exec(db,
                              "DELETE FROM meta WHERE key = '" META_ACTIVE_PERSONA
                              "'",
                              "active-clear");
    if (state_tx_begin(db) != STATE_OK)
        return STATE_ERROR;
    struct state_persona p;
    if (state_get_persona(db, name, &p, found) != STATE_OK || !*found) {
        state_tx_rollback(db);
        return *found ? STATE_ERROR : STATE_OK;
    }
    if (state_meta_set(db, META_ACTIVE_PERSONA, name) != STATE_OK ||
        state_tx_commit(db) != STATE_OK) {
        state_tx_rollback(db);
        return STATE_ERROR;
    }
    return STATE_OK;
}

enum state_result state_set_service_desired(struct state_db *db,
                                            const char *name, bool up)
{
    if (!text_fits(name, STATE_SERVICE_NAME_BYTES_MAX, "service name"))
        return STATE_ERROR;
    sqlite3_stmt *st = state_sql_prepare(
        db,
        "INSERT INTO service_desired(name, up, updated_ms) VALUES(?1, ?2, ?3) "
        "ON CONFLICT(name) DO UPDATE SET up = excluded.up, "
        "updated_ms = excluded.updated_ms",
        "service-set");
    if (st == NULL)
        return STATE_ERROR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, up ? 1 : 0);
    sqlite3_bind_int64(st, 3, time_wall_ms());
    return state_sql_done(db, st, "service-set");
}

enum state_result state_get_service_desired(struct state_db *db,
                                            const char *name, bool *up,
                                            bool *found)
{
    *found = false;
    *up = false;
    sqlite3_stmt *st = state_sql_prepare(
        db, "SELECT up FROM service_desired WHERE name = ?1", "service-get");
    if (st == NULL)
        return STATE_ERROR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *found = true;
        *up = sqlite3_column_int(st, 0) != 0;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        log_error("event=db-error db=%s op=service-get name=%s error=\"%s\"", db->path, name,
                  sqlite3_errmsg(db->sql));
        return STATE_ERROR;
    }
    return STATE_OK;
}

enum state_result state_clear_service_desired(struct state_db *db,
                                              const char *name)
{
    return change_by_name(
        db, "DELETE FROM service_desired WHERE name = ?1", name,
        NULL, NULL, "service-clear");
}

enum state_result state_each_service_desired(struct state_db *db,
                                             state_service_fn fn, void *ctx)
{
    sqlite3_stmt *st = state_sql_prepare(
        db, "SELECT name, up FROM service_desired ORDER BY name",
        "service-each");
    if (st == NULL)
        return STATE_ERROR;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (name != NULL)
            fn(name, sqlite3_column_int(st, 1) != 0, ctx);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("event=db-error db=%s op=service-each error=\"%s\"", db->path,
                  sqlite3_errmsg(db->sql));
        return STATE_ERROR;
    }
    return STATE_OK;
}

enum state_result state_read_last_good_time(struct state_db *db,
                                            int64_t *wall_ms, bool *found)
{
    char buf[32];
    *wall_ms = 0;
    if (state_meta_get(db, META_LAST_GOOD_MS, buf, sizeof buf, found) !=
        STATE_OK)
        return STATE_ERROR;
    if (!*found)
        return STATE_OK;
    uint64_t v;
    if (!parse_u64(buf, (uint64_t)INT64_MAX, &v)) {
        log_warn("event=last-good-time-unreadable db=%s value=\"%s\"", db->path,
                 buf);
        *found = false;
        return STATE_OK;
    }
    *wall_ms = (int64_t)v;
    return STATE_OK;
}

enum state_result state_write_last_good_time(struct state_db *db,
                                             int64_t wall_ms)
{
    if (wall_ms <= 0) {
        log_error("event=last-good-time-refused value_ms=%" PRId64, wall_ms);
        return STATE_ERROR;
    }
    char buf[32];
    str_fmt(buf, sizeof buf, "%" PRId64, wall_ms);
    return state_meta_set(db, META_LAST_GOOD_MS, buf);
}

int64_t state_clock_fix_target_ms(int64_t now_ms, int64_t last_good_ms)
{
    return now_ms < last_good_ms ? last_good_ms : 0;
}
