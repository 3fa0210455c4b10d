/* state.h — the state bridge: the only way any bay0 code reaches /persist.
 *
 * Owns: the intent database (SQLite, WAL, synchronous=FULL, migrations by
 * PRAGMA user_version), the genesis log, last-known-good time, the entropy
 * seed and the NACK registry, all under the data dir PERSIST/spine.
 * Must never: be called from PID 1's event loop directly (SQLite and disk
 * I/O can block: use state_boot/state_shutdown or state_run_bounded, which
 * run the work in a child with a hard deadline), and no other module may
 * name the persist path itself — ask state_persist_mountpoint().
 *
 * Persist root: "/persist" unless overridden, for tests and development,
 * by state_set_persist_dir(DIR) or the environment variable
 * BAY0_PERSIST_DIR=DIR (the call wins over the variable). The data dir is
 * always ROOT/spine.
 */
#ifndef BAY0_STATE_H
#define BAY0_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum state_result {
    STATE_OK = 0,
    STATE_TIMEOUT,   /* the bounded child did not finish in time */
    STATE_ERROR,     /* an operating error; one log line says what */
    STATE_RECOVERED, /* worked, but a corrupt db was moved aside (YELLOW) */
};

#define STATE_PATH_BYTES_MAX 512
#define STATE_PERSONA_NAME_BYTES_MAX 64
#define STATE_PERSONA_IMAGE_BYTES_MAX 256
#define STATE_PERSONA_SPEC_BYTES_MAX 2048 /* create options, one per line */
#define STATE_PERSONA_ERROR_BYTES_MAX 256
#define STATE_SERVICE_NAME_BYTES_MAX 64
#define STATE_NACK_HASH_BYTES_MAX 144 /* "sha512:" + 128 hex digits + NUL */
#define STATE_NACK_REASON_BYTES_MAX 200
#define STATE_ENTROPY_SEED_BYTES 512
#define STATE_SURVIVAL_TIMEOUT_MS_DEFAULT 200
#define STATE_SCHEMA_VERSION 4

/* --- where ------------------------------------------------------------- */
/* The persist mount point: "/persist", or the override. */
const char *state_persist_mountpoint(void);
/* ROOT/spine, where state.db, genesis.log and random-seed live. */
const char *state_data_dir(void);
/* Override the persist root for this process (NULL restores the default).
 * Returns false if the path is too long. */
bool state_set_persist_dir(const char *root);
/* Name a file in the data dir; false if it does not fit. */
bool state_path(char *out, size_t out_size, const char *file);

/* --- the database ------------------------------------------------------- */
struct sqlite3;
struct state_db {
    struct sqlite3 *sql;
    bool recovered; /* a corrupt file was moved aside when this was opened */
    char path[STATE_PATH_BYTES_MAX];
};

/* Open (creating the data dir and db if missing) DIR/state.db, or the
 * default data dir when dir is NULL. Sets WAL and synchronous=FULL and
 * runs PRAGMA quick_check; a corrupt or unreadable file is renamed to
 * state.db.corrupt-YYYYMMDDTHHMMSSZ (with its -wal/-shm), logged, and a
 * fresh db created: the result is then STATE_RECOVERED. */
enum state_result state_open(struct state_db *db, const char *dir);
void state_close(struct state_db *db);
/* state_open (default dir) + state_migrate_if_needed; false (db closed,
 * logged) when either fails. A recovered db counts as opened; recovered
 * (may be NULL) says whether it was. */
bool state_open_migrated(struct state_db *db);
bool state_open_migrated_how(struct state_db *db, bool *recovered);
/* Run every pending migration, each in its own transaction. A db newer than
 * this binary is an error (never downgraded, never moved aside). */
enum state_result state_migrate_if_needed(struct state_db *db);
/* Migrate to exactly `version` (tests build each older version with it). */
enum state_result state_migrate_to(struct state_db *db, int version);
int state_schema_version(struct state_db *db); /* -1 on error */

/* --- personas (semantic names such as "p://work") ----------------------- */
enum state_persona_state {
    STATE_PERSONA_STOPPED = 0,
    STATE_PERSONA_STARTING,
    STATE_PERSONA_RUNNING,
    STATE_PERSONA_STOPPING,
    STATE_PERSONA_PAUSED,
};
struct state_persona {
    char name[STATE_PERSONA_NAME_BYTES_MAX];
    char image[STATE_PERSONA_IMAGE_BYTES_MAX];
    enum state_persona_state desired;
    enum state_persona_state current;
    int64_t created_ms; /* wall clock */
    int64_t updated_ms;
    char spec[STATE_PERSONA_SPEC_BYTES_MAX];        /* "" when none */
    char last_error[STATE_PERSONA_ERROR_BYTES_MAX]; /* "" when none */
};
const char *state_persona_state_name(enum state_persona_state s);
bool state_persona_state_parse(const char *s, enum state_persona_state *out);

/* One transaction around several changes (BEGIN IMMEDIATE ... COMMIT):
 * all or none of them survive a crash. Rollback does nothing outside one. */
enum state_result state_tx_begin(struct state_db *db);
enum state_result state_tx_commit(struct state_db *db);
void state_tx_rollback(struct state_db *db);

/* Insert or update a persona's image and desired state (current state is
 * kept, "stopped" for a new one). */
enum state_result state_put_persona(struct state_db *db, const char *name,
                                    const char *image,
                                    enum state_persona_state desired);
enum state_result state_remove_persona(struct state_db *db, const char *name,
                                       bool *found);
/* Fills at most cap entries ordered by name; *count is the number filled;
 * *more (may be NULL) says whether there were more rows. */
enum state_result state_list_personas(struct state_db *db,
                                      struct state_persona *out, size_t cap,
                                      size_t *count, bool *more);
enum state_result state_get_persona(struct state_db *db, const char *name,
                                    struct state_persona *out, bool *found);
/* Current (observed / in-flight) state; *found false if no such persona. */
enum state_result state_set_persona_state(struct state_db *db,
                                          const char *name,
                                          enum state_persona_state current,
                                          bool *found);
enum state_result state_set_persona_desired(struct state_db *db,
                                            const char *name,
                                            enum state_persona_state desired,
                                            bool *found);
/* The container's creation options (persona.c's format; opaque here) and
 * the reason of the last failure ("" clears it); *found false if no such
 * persona. */
enum state_result state_set_persona_spec(struct state_db *db, const char *name,
                                         const char *spec, bool *found);
enum state_result state_set_persona_error(struct state_db *db,
                                          const char *name, const char *error,
                                          bool *found);
/* Active persona: out is "" when none. Setting an unknown name fails with
 * *found false; name NULL or "" clears it. */
enum state_result state_get_active_persona(struct state_db *db, char *out,
                                           size_t out_size);
enum state_result state_set_active_persona(struct state_db *db,
                                           const char *name, bool *found);

/* --- service desired state (`bay0 stop X --persist`) --------------------- */
enum state_result state_set_service_desired(struct state_db *db,
                                            const char *name, bool up);
/* *found false when no intent is stored (use the service dir's default). */
enum state_result state_get_service_desired(struct state_db *db,
                                            const char *name, bool *up,
                                            bool *found);
enum state_result state_clear_service_desired(struct state_db *db,
                                              const char *name);
typedef void (*state_service_fn)(const char *name, bool up, void *ctx);
enum state_result state_each_service_desired(struct state_db *db,
                                             state_service_fn fn, void *ctx);

/* --- NACK registry (anti-loop memory) ----------------------------------- */
struct state_nack {
    char hash[STATE_NACK_HASH_BYTES_MAX];
    char reason[STATE_NACK_REASON_BYTES_MAX];
    int64_t added_ms;
};
/* A candidate hash: [A-Za-z0-9:._-], 1..STATE_NACK_HASH_BYTES_MAX-1 bytes.
 * NULL when valid, else a static reason. */
const char *state_nack_hash_check(const char *hash);
enum state_result state_read_nack_registry(struct state_db *db,
                                           struct state_nack *out, size_t cap,
                                           size_t *count, bool *more);
/* Replace the whole registry with these entries, in one transaction. */
enum state_result state_write_nack_registry(struct state_db *db,
                                            const struct state_nack *in,
                                            size_t count);
enum state_result state_nack_add(struct state_db *db, const char *hash,
                                 const char *reason);
enum state_result state_nack_remove(struct state_db *db, const char *hash,
                                    bool *found);
enum state_result state_nack_contains(struct state_db *db, const char *hash,
                                      bool *found);

/* --- last-known-good wall time ------------------------------------------ */
enum state_result state_read_last_good_time(struct state_db *db,
                                            int64_t *wall_ms, bool *found);
enum state_result state_write_last_good_time(struct state_db *db,
                                             int64_t wall_ms);
/* Pure: the wall time to set the clock to, or 0 if the clock is fine. */
int64_t state_clock_fix_target_ms(int64_t now_ms, int64_t last_good_ms);

/* --- entropy seed (DATA/random-seed, STATE_ENTROPY_SEED_BYTES) ---------- */
/* *len 0 when there is no seed. */
enum state_result state_read_entropy_seed(uint8_t *buf, size_t cap,
                                          size_t *len);
/* Write a fresh seed from getrandom() (atomically: temp, fsync, rename,
 * fsync dir). */
enum state_result state_write_entropy_seed(void);
/* Give buf to the kernel: RNDADDENTROPY when permitted (*credited true),
 * else written to /dev/urandom (mixed, not credited). */
enum state_result state_entropy_feed(const uint8_t *buf, size_t len,
                                     bool *credited);

/* --- genesis log (DATA/genesis.log) ------------------------------------- */
#define STATE_GENESIS_MSG_BYTES_MAX 800
#define STATE_GENESIS_LINE_BYTES_MAX 1024
/* Append one chained line (control characters in msg become '?'); fsyncs. */
enum state_result state_append_genesis_log(const char *msg);
/* Same, to an explicit file (tests, tools). */
enum state_result state_genesis_append_file(const char *path,
                                            const char *msg);
struct state_genesis_report {
    uint64_t lines;             /* lines read */
    uint64_t first_broken_line; /* 1-based; 0 when intact */
    char reason[128];           /* why the first broken line is broken */
};
/* STATE_OK when the file was read (intact or not: see report);
 * STATE_ERROR when it cannot be read. */
enum state_result state_genesis_verify(const char *path,
                                       struct state_genesis_report *rep);

/* --- atomic files -------------------------------------------------------- */
/* temp + write + fsync + rename + fsync(dir). */
enum state_result state_file_write_atomic(const char *path, const void *buf,
                                          size_t len, unsigned mode);

/* --- bounded work (never hangs the caller) ------------------------------- */
/* Run fn(ctx) in a forked child; wait at most timeout_ms. The child's return
 * value (0..255) comes back in *child_rc. On timeout the child is sent
 * SIGKILL and left for the caller's reaper (it may be stuck in D state). */
typedef int (*state_bounded_fn)(void *ctx);
enum state_result state_run_bounded(state_bounded_fn fn, void *ctx,
                                    uint32_t timeout_ms, const char *what,
                                    int *child_rc);
/* Same, and the child may write an answer to out_fd: up to out_cap bytes
 * arrive in out (*out_len); a longer answer is STATE_ERROR. */
typedef int (*state_bounded_out_fn)(void *ctx, int out_fd);
enum state_result state_run_bounded_out(state_bounded_out_fn fn, void *ctx,
                                        uint32_t timeout_ms, const char *what,
                                        char *out, size_t out_cap,
                                        size_t *out_len, int *child_rc);

/* --- one-call bounded wrappers, safe to call from PID 1's process -------- */
#define STATE_SERVICE_LOAD_BYTES_MAX (128 * 1024)
/* `bay0 stop|start X --persist`: store the intent, then act on it. */
enum state_result state_service_desired_persist(const char *name, bool up,
                                                uint32_t timeout_ms);
/* Forget a stored intent (back to the service dir's default). */
enum state_result state_service_desired_forget(const char *name,
                                               uint32_t timeout_ms);
/* Read every stored service intent; fn is called in the caller's process
 * after the child answered (never on timeout). */
enum state_result state_service_desired_load(uint32_t timeout_ms,
                                             state_service_fn fn, void *ctx);

/* --- boot and shutdown (called by init.c) ------------------------------ */
/* open+migrate, last-good-time clock fix, entropy seed read+credit+rewrite,
 * genesis "boot" line. One log line with the outcome and elapsed ms. */
enum state_result state_boot(uint32_t timeout_ms);
/* last-good time, fresh entropy seed, wal checkpoint, genesis "shutdown"
 * line. One log line with the outcome and elapsed ms. */
enum state_result state_shutdown(uint32_t timeout_ms);
/* For a periodic caller (the supervisor, e.g. every 15 minutes): write the
 * current wall time as last-known-good, bounded by timeout_ms. */
enum state_result state_checkpoint_time(uint32_t timeout_ms);

const char *state_result_name(enum state_result r);

/* --- validate's probes (src/state/probe.c) ------------------------------- */
/* These block on the disk: `bay0 validate` calls each in a child of its own
 * with a deadline. They change nothing that stays. */
/* True when the persist root was overridden (call or BAY0_PERSIST_DIR). */
bool state_persist_overridden(void);
/* Write DATA/validate.marker (temp, fsync, rename), read it back, compare,
 * remove it. A persist root that is not mounted (unless overridden) is an
 * error too. reason says what failed. */
enum state_result state_probe_marker(char *reason, size_t size);
/* Remove what a probe killed halfway may have left (marker, its temp). */
void state_probe_marker_cleanup(void);
struct state_probe_db {
    bool db_exists;
    bool last_good_found;
    int64_t last_good_ms;
    uint32_t moved_aside_count; /* state.db.corrupt-* files in the data dir */
    char moved_aside[96];       /* the oldest of them, "" if none */
};
/* Look, never touch: the database is opened query-only (never created,
 * migrated or repaired). */
enum state_result state_probe_db(struct state_probe_db *out, char *reason,
                                 size_t size);

/* --- CLI (src/state/cli.c) ---------------------------------------------- */
int state_cli_nack(int argc, char **argv);
int state_cli_genesis(int argc, char **argv);
int state_cli_debug(int argc, char **argv); /* internal: tests only */

#endif
