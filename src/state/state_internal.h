/* state_internal.h — helpers shared by the files of src/state/ only.
 * Never included outside src/state/.
 */
#ifndef BAY0_STATE_INTERNAL_H
#define BAY0_STATE_INTERNAL_H

#include "state/state.h"

#include <sqlite3.h>

#define STATE_DB_FILE "state.db"
#define STATE_GENESIS_FILE "genesis.log"
#define STATE_SEED_FILE "random-seed"
#define STATE_BUSY_TIMEOUT_MS 2000

/* Run SQL without results; logs one line on error naming `what`. */
enum state_result state_sql_exec(struct state_db *db, const char *sql,
                                 const char *what);
/* Prepare or log; NULL on error. */
sqlite3_stmt *state_sql_prepare(struct state_db *db, const char *sql,
                                const char *what);
/* Step a statement that returns no rows to SQLITE_DONE; finalizes it. */
enum state_result state_sql_done(struct state_db *db, sqlite3_stmt *st,
                                 const char *what);

/* Fault injection (diepoint.c): dies here when BAY0_TEST_STATE_DIE or
 * bay0.test_state_die names STAGE ("before"/"after") and OP. */
void state_test_point(const char *stage, const char *op);

/* meta key/value table */
enum state_result state_meta_get(struct state_db *db, const char *key,
                                 char *out, size_t out_size, bool *found);
enum state_result state_meta_set(struct state_db *db, const char *key,
                                 const char *value);

/* Create the data dir (not the persist root) if missing. */
enum state_result state_data_dir_ensure(const char *dir);
/* fsync a directory by path. */
int state_fsync_dir(const char *dir);

#endif
