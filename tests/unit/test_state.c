/* test_state.c — the state module against a real SQLite file in a fresh
 * temp dir per test: migrations from every older version, corrupt-db
 * recovery, every typed function, NACK round trips, entropy seed, atomic
 * files, bounded work and the boot/shutdown entry points.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "state/state_internal.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char root[256];

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **s)
{
    (void)s;
    strcpy(root, "/tmp/bay0-test-state.XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    return state_set_persist_dir(root) ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    state_set_persist_dir(NULL);
    return nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void open_db(struct state_db *db)
{
    enum state_result r = state_open(db, NULL);
    assert_int_equal(r, STATE_OK);
    assert_int_equal(state_migrate_if_needed(db), STATE_OK);
    assert_int_equal(state_schema_version(db), STATE_SCHEMA_VERSION);
}

static void write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static void test_paths_and_override(void **s)
{
    (void)s;
    assert_string_equal(state_persist_mountpoint(), root);
    char want[300];
    snprintf(want, sizeof want, "%s/spine", root);
    assert_string_equal(state_data_dir(), want);
    state_set_persist_dir(NULL);
    unsetenv("BAY0_PERSIST_DIR");
    assert_string_equal(state_persist_mountpoint(), "/persist");
    assert_string_equal(state_data_dir(), "/persist/spine");
    setenv("BAY0_PERSIST_DIR", "/tmp/elsewhere", 1);
    assert_string_equal(state_persist_mountpoint(), "/tmp/elsewhere");
    char longdir[400];
    memset(longdir, 'd', sizeof longdir - 1);
    longdir[0] = '/';
    longdir[sizeof longdir - 1] = '\0';
    setenv("BAY0_PERSIST_DIR", longdir, 1);
    /* never silently the real one */
    assert_int_equal(strncmp(state_persist_mountpoint(), "/dev/null/", 10), 0);
    unsetenv("BAY0_PERSIST_DIR");
    state_set_persist_dir(root);
}

static void test_open_settings(void **s)
{
    (void)s;
    struct state_db db;
    open_db(&db);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db.sql, "PRAGMA journal_mode", -1,
                                        &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db.sql, "PRAGMA synchronous", -1, &st,
                                        NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2); /* FULL: a commit survives a power cut */
    sqlite3_finalize(st);
    assert_false(db.recovered);
    state_close(&db);
}

/* Data a db of a given version can hold, written with raw SQL as that
 * version's bay0 would have. */
static void fill_version(struct state_db *db, int v)
{
    if (v >= 1)
        assert_int_equal(
            state_sql_exec(db,
                           "INSERT INTO personas(name, image, desired, current, "
                           "created_ms, updated_ms) VALUES('p://old','img:1',"
                           "'running','running',1,2);"
                           "INSERT INTO meta VALUES('active_persona','p://old');"
                           "INSERT INTO meta VALUES('last_good_time_ms','12345');",
                           "fill"),
            STATE_OK);
    if (v >= 2)
        assert_int_equal(state_sql_exec(db,
                                        "INSERT INTO nack VALUES('cafe',"
                                        "'rolled back',7)",
                                        "fill"),
                         STATE_OK);
    if (v >= 3)
        assert_int_equal(state_sql_exec(db,
                                        "INSERT INTO service_desired "
                                        "VALUES('web',0,9)",
                                        "fill"),
                         STATE_OK);
}

static void check_filled(struct state_db *db, int v)
{
    struct state_persona p;
    bool found;
    assert_int_equal(state_get_persona(db, "p://old", &p, &found), STATE_OK);
    assert_int_equal(found, v >= 1);
    if (v >= 1) {
        assert_string_equal(p.image, "img:1");
        assert_int_equal(p.desired, STATE_PERSONA_RUNNING);
        char active[64];
        assert_int_equal(state_get_active_persona(db, active, sizeof active),
                         STATE_OK);
        assert_string_equal(active, "p://old");
        int64_t t;
        assert_int_equal(state_read_last_good_time(db, &t, &found), STATE_OK);
        assert_true(found);
        assert_int_equal(t, 12345);
    }
    assert_int_equal(state_nack_contains(db, "cafe", &found), STATE_OK);
    assert_int_equal(found, v >= 2);
    bool up;
    assert_int_equal(state_get_service_desired(db, "web", &up, &found),
                     STATE_OK);
    assert_int_equal(found, v >= 3);
}

static void test_migrate_from_every_version(void **s)
{
    (void)s;
    for (int v = 0; v <= STATE_SCHEMA_VERSION; v++) {
        char dir[300];
        snprintf(dir, sizeof dir, "%s/v%d", root, v);
        struct state_db db;
        assert_int_equal(state_open(&db, dir), STATE_OK);
        assert_int_equal(state_migrate_to(&db, v), STATE_OK);
        assert_int_equal(state_schema_version(&db), v);
        fill_version(&db, v);
        state_close(&db);
        /* A later bay0 opens it: every pending migration runs. */
        assert_int_equal(state_open(&db, dir), STATE_OK);
        assert_int_equal(state_migrate_if_needed(&db), STATE_OK);
        assert_int_equal(state_schema_version(&db), STATE_SCHEMA_VERSION);
        check_filled(&db, v);
        /* And every table of the latest schema works. */
        assert_int_equal(state_put_persona(&db, "p://new", "img:2",
                                           STATE_PERSONA_STOPPED),
                         STATE_OK);
        assert_int_equal(state_nack_add(&db, "beef", NULL), STATE_OK);
        assert_int_equal(state_set_service_desired(&db, "db", true),
                         STATE_OK);
        /* Migrating again is a no-op. */
        assert_int_equal(state_migrate_if_needed(&db), STATE_OK);
        state_close(&db);
    }
}

static void test_migration_is_one_transaction(void **s)
{
    (void)s;
    struct state_db db;
    assert_int_equal(state_open(&db, NULL), STATE_OK);
    assert_int_equal(state_migrate_to(&db, 1), STATE_OK);
    /* Sabotage 1 -> 2: its table already exists, so its CREATE fails. */
    assert_int_equal(state_sql_exec(&db, "CREATE TABLE nack(x)", "sabotage"),
                     STATE_OK);
    assert_int_equal(state_migrate_if_needed(&db), STATE_ERROR);
    assert_int_equal(state_schema_version(&db), 1);
    assert_true(sqlite3_get_autocommit(db.sql)); /* rolled back */
    /* Nothing of 2 -> 3 either. */
    assert_int_equal(state_sql_exec(&db, "SELECT * FROM service_desired",
                                    "probe"),
                     STATE_ERROR);
    state_close(&db);
}

static void test_newer_db_refused(void **s)
{
    (void)s;
    struct state_db db;
    open_db(&db);
    assert_int_equal(state_sql_exec(&db, "PRAGMA user_version = 99", "bump"),
                     STATE_OK);
    assert_int_equal(state_migrate_if_needed(&db), STATE_ERROR);
    state_close(&db);
    assert_int_equal(state_open(&db, NULL), STATE_OK);
    assert_int_equal(state_schema_version(&db), 99); /* untouched */
    state_close(&db);
}

static int count_corrupt_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "state.db.corrupt-", 17) == 0 &&
            strchr(e->d_name + 17, '-') == NULL)
            n++;
    closedir(d);
    return n;
}

static void test_garbage_db_moved_aside(void **s)
{
    (void)s;
    char path[300];
    assert_true(state_data_dir_ensure(state_data_dir()) == STATE_OK);
    assert_true(state_path(path, sizeof path, "state.db"));
    char junk[8192];
    memset(junk, 'x', sizeof junk);
    write_file(path, junk, sizeof junk);
    struct state_db db;
    assert_int_equal(state_open(&db, NULL), STATE_RECOVERED);
    assert_true(db.recovered);
    assert_int_equal(state_migrate_if_needed(&db), STATE_OK);
    assert_int_equal(state_nack_add(&db, "abc", "x"), STATE_OK);
    state_close(&db);
    assert_int_equal(count_corrupt_files(state_data_dir()), 1);
    /* The fresh one is healthy on the next open. */
    assert_int_equal(state_open(&db, NULL), STATE_OK);
    state_close(&db);
    /* A second corruption within the same second keeps both. */
    write_file(path, junk, sizeof junk);
    assert_int_equal(state_open(&db, NULL), STATE_RECOVERED);
    state_close(&db);
    assert_int_equal(count_corrupt_files(state_data_dir()), 2);
}

static void test_damaged_page_moved_aside(void **s)
{
    (void)s;
    struct state_db db;
    open_db(&db);
    for (int i = 0; i < 200; i++) {
        char h[32];
        snprintf(h, sizeof h, "hash%03d", i);
        assert_int_equal(state_nack_add(&db, h, "some reason text here"),
                         STATE_OK);
    }
    assert_int_equal(state_sql_exec(&db, "PRAGMA wal_checkpoint(TRUNCATE)",
                                    "ckpt"),
                     STATE_OK);
    state_close(&db);
    char path[300];
    assert_true(state_path(path, sizeof path, "state.db"));
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    char junk[4096];
    memset(junk, 0xa5, sizeof junk);
    /* Page 2 onwards (page size 4096): b-tree pages of the tables. */
    assert_int_equal(pwrite(fd, junk, sizeof junk, 4096), (ssize_t)sizeof junk);
    close(fd);
    assert_int_equal(state_open(&db, NULL), STATE_RECOVERED);
    assert_int_equal(state_migrate_if_needed(&db), STATE_OK);
    bool found = true;
    assert_int_equal(state_nack_contains(&db, "hash001", &found), STATE_OK);
    assert_false(found); /* a fresh db */
    state_close(&db);
}

static void test_personas(void **s)
{
    (void)s;
    struct state_db db;
    open_db(&db);
    assert_int_equal(state_put_persona(&db, "p://work", "work:1",
                                       STATE_PERSONA_RUNNING),
                     STATE_OK);
    assert_int_equal(state_put_persona(&db, "p://gaming", "game:1",
                                       STATE_PERSONA_STOPPED),
                     STATE_OK);
    assert_int_equal(state_put_persona(&db, "", "x", STATE_PERSONA_STOPPED),
                     STATE_ERROR);
    struct state_persona list[4];
    size_t n;
    bool more;
    assert_int_equal(state_list_personas(&db, list, 4, &n, &more), STATE_OK);
    assert_int_equal(n, 2);
    assert_false(more);
    assert_string_equal(list[0].name, "p://gaming"); /* ordered by name */
    assert_string_equal(list[1].name, "p://work");
    assert_int_equal(list[1].desired, STATE_PERSONA_RUNNING);
    assert_int_equal(list[1].current, STATE_PERSONA_STOPPED);
    assert_true(list[1].created_ms > 0);
    assert_int_equal(state_list_personas(&db, list, 1, &n, &more), STATE_OK);
    assert_int_equal(n, 1);
    assert_true(more);

    bool found;
    assert_int_equal(state_set_persona_state(&db, "p://work",
                                             STATE_PERSONA_STARTING, &found),
                     STATE_OK);
    assert_true(found);
    assert_int_equal(state_set_persona_state(&db, "p://nope",
                                             STATE_PERSONA_RUNNING, &found),
                     STATE_OK);
    assert_false(found);
    assert_int_equal(state_set_persona_desired(&db, "p://gaming",
                                               STATE_PERSONA_PAUSED, &found),
                     STATE_OK);
    assert_true(found);
    struct state_persona p;
    assert_int_equal(state_get_persona(&db, "p://work", &p, &found), STATE_OK);
    assert_true(found);
    assert_int_equal(p.current, STATE_PERSONA_STARTING);
    /* put keeps the current state and updates image/desired */
    assert_int_equal(state_put_persona(&db, "p://work", "work:2",
                                       STATE_PERSONA_STOPPED),
                     STATE_OK);
    assert_int_equal(state_get_persona(&db, "p://work", &p, &found), STATE_OK);
    assert_string_equal(p.image, "work:2");
    assert_int_equal(p.current, STATE_PERSONA_STARTING);
    assert_int_equal(p.desired, STATE_PERSONA_STOPPED);
    assert_int_equal(state_get_persona(&db, "p://gaming", &p, &found),
                     STATE_OK);
    assert_int_equal(p.desired, STATE_PERSONA_PAUSED);
    /* spec and last error (schema 4) */
    assert_string_equal(p.spec, "");
    assert_int_equal(state_set_persona_spec(&db, "p://gaming",
                                            "memory=1024\nenv=A=b c", &found),
                     STATE_OK);
    assert_true(found);
    assert_int_equal(state_set_persona_error(&db, "p://gaming",
                                             "start: exit 125", &found),
                     STATE_OK);
    assert_int_equal(state_set_persona_spec(&db, "p://nope", "", &found),
                     STATE_OK);
    assert_false(found);
    assert_int_equal(state_get_persona(&db, "p://gaming", &p, &found),
                     STATE_OK);
    assert_string_equal(p.spec, "memory=1024\nenv=A=b c");
    assert_string_equal(p.last_error, "start: exit 125");

    assert_int_equal(state_remove_persona(&db, "p://gaming", &found),
                     STATE_OK);
    assert_true(found);
    assert_int_equal(state_remove_persona(&db, "p://gaming", &found),
                     STATE_OK);
    assert_false(found);
    state_close(&db);
}

static void test_persona_state_names(void **s)
{
    (void)s;
    for (int i = STATE_PERSONA_STOPPED; i <= STATE_PERSONA_PAUSED; i++) {
        enum state_persona_state back;
        assert_true(state_persona_state_parse(
            state_persona_state_name((enum state_persona_state)i), &back));
        assert_int_equal(back, i);
    }
    enum state_persona_state x;
    assert_false(state_persona_state_parse("exploded", &x));
}

static void test_unknown_state_reads_as_stopped(void **s)
{
    (void)s;
    struct state_db db;
    open_db(&db);
    assert_int_equal(state_sql_exec(&db,
                                    "INSERT INTO personas(name, image, desired, "
                                    "current, created_ms, updated_ms) "
                                    "VALUES('p://x','i',"
                                    "'warp','warp',1,1)",
                                    "raw"),
                     STATE_OK);
    struct state_persona p;
    bool found;
    assert_int_equal(state_get_persona(&db, "p://x", &p, &found), STATE_OK);
    assert_true(found);
    assert_int_equal(p.desired, STATE_PERSONA_STOPPED);
    assert_int_equal(p.current, STATE_PERSONA_STOPPED);
    state_close(&db);
}

static void test_active_persona(void **s)
{
    (void)s;
    struct state_db db;
    open_db(&db);
    char active[STATE_PERSONA_NAME_BYTES_MAX];
    assert_int_equal(state_get_active_persona(&db, active, sizeof active),
                     STATE_OK);
    assert_string_equal(active, "");
    bool found;
    assert_int_equal(state_set_active_persona(&db, "p://work", &found),
                     STATE_OK);
    assert_false(found); /* no such persona: refused */
    assert_int_equal(state_get_active_persona(&db, active, sizeof active),
                     STATE_OK);
    assert_string_equal(active, "");
    assert_int_equal(state_put_persona(&db, "p://work", "w",
                                       STATE_PERSONA_RUNNING),
                     STATE_OK);
    assert_int_equal(state_set_active_persona(&db, "p://work", &found),
                     STATE_OK);
    assert_true(found);
    state_close(&db);
    open_db(&db); /* survives a reopen */
    assert_int_equal(state_get_active_persona(&db, active, sizeof active),
                     STATE_OK);
    assert_string_equal(active, "p://work");
    assert_int_equal(state_set_active_persona(&db, NULL, &found), STATE_OK);
    assert_int_equal(state_get_active_persona(&db, active, sizeof active),
                     STATE_OK);
    assert_string_equal(active, "");
    state_close(&db);
}

struct svc_seen {
    int n;
    char names[4][16];
    bool up[4];
};

static void svc_collect(const char *name, bool up, void *ctx)
{
    struct svc_seen *seen = ctx;
    if (seen->n < 4) {
        snprintf(seen->names[seen->n], sizeof seen->names[0], "%s", name);
        seen->up[seen->n++] = up;
    }
}

static void test_service_desired(void **s)
{
    (void)s;
    struct state_db db;
    open_db(&db);
    bool up, found;
    assert_int_equal(state_get_service_desired(&db, "web", &up, &found),
                     STATE_OK);
    assert_false(found);
    assert_int_equal(state_set_service_desired(&db, "web", false), STATE_OK);
    assert_int_equal(state_set_service_desired(&db, "db", true), STATE_OK);
    assert_int_equal(state_set_service_desired(&db, "web", true), STATE_OK);
    assert_int_equal(state_set_service_desired(&db, "web", false), STATE_OK);
    assert_int_equal(state_get_service_desired(&db, "web", &up, &found),
                     STATE_OK);
    assert_true(found);
    assert_false(up);
    struct svc_seen seen = {0};
    assert_int_equal(state_each_service_desired(&db, svc_collect, &seen),
                     STATE_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.names[0], "db");
    assert_true(seen.up[0]);
    assert_string_equal(seen.names[1], "web");
    assert_false(seen.up[1]);
    assert_int_equal(state_clear_service_desired(&db, "web"), STATE_OK);
    assert_int_equal(state_get_service_desired(&db, "web", &up, &found),
                     STATE_OK);
    assert_false(found);
    state_close(&db);
}

static void test_nack_round_trips(void **s)
{
    (void)s;
    struct state_db db;
    open_db(&db);
    assert_null(state_nack_hash_check("sha256:0123abcdef"));
    assert_non_null(state_nack_hash_check(""));
    assert_non_null(state_nack_hash_check("a b"));
    assert_non_null(state_nack_hash_check("x/../y"));
    char longh[STATE_NACK_HASH_BYTES_MAX + 1];
    memset(longh, 'a', sizeof longh - 1);
    longh[sizeof longh - 1] = '\0';
    assert_non_null(state_nack_hash_check(longh));
    assert_int_equal(state_nack_add(&db, "a b", NULL), STATE_ERROR);

    assert_int_equal(state_nack_add(&db, "sha256:aa", "rollback 1"), STATE_OK);
    assert_int_equal(state_nack_add(&db, "sha256:bb", NULL), STATE_OK);
    assert_int_equal(state_nack_add(&db, "sha256:aa", "rollback 2"), STATE_OK);
    struct state_nack list[8];
    size_t n;
    bool more, found;
    assert_int_equal(state_read_nack_registry(&db, list, 8, &n, &more),
                     STATE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].hash, "sha256:aa");
    assert_string_equal(list[0].reason, "rollback 2");
    assert_string_equal(list[1].reason, "");
    assert_int_equal(state_nack_contains(&db, "sha256:bb", &found), STATE_OK);
    assert_true(found);
    assert_int_equal(state_nack_remove(&db, "sha256:bb", &found), STATE_OK);
    assert_true(found);
    assert_int_equal(state_nack_remove(&db, "sha256:bb", &found), STATE_OK);
    assert_false(found);
    assert_int_equal(state_nack_contains(&db, "sha256:bb", &found), STATE_OK);
    assert_false(found);

    /* whole-registry write replaces everything, and reads back the same */
    struct state_nack in[3] = {{.hash = "h1", .reason = "r1", .added_ms = 5},
                               {.hash = "h2", .reason = "", .added_ms = 6},
                               {.hash = "h3", .reason = "r3", .added_ms = 7}};
    assert_int_equal(state_write_nack_registry(&db, in, 3), STATE_OK);
    assert_int_equal(state_read_nack_registry(&db, list, 2, &n, &more),
                     STATE_OK);
    assert_int_equal(n, 2);
    assert_true(more);
    assert_int_equal(state_read_nack_registry(&db, list, 8, &n, &more),
                     STATE_OK);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(list[i].hash, in[i].hash);
        assert_string_equal(list[i].reason, in[i].reason);
        assert_int_equal(list[i].added_ms, in[i].added_ms);
    }
    assert_int_equal(state_nack_contains(&db, "sha256:aa", &found), STATE_OK);
    assert_false(found);
    /* an invalid entry rejects the whole write, nothing changes */
    struct state_nack bad[2] = {{.hash = "ok1"}, {.hash = "not ok"}};
    assert_int_equal(state_write_nack_registry(&db, bad, 2), STATE_ERROR);
    assert_int_equal(state_read_nack_registry(&db, list, 8, &n, &more),
                     STATE_OK);
    assert_int_equal(n, 3);
    state_close(&db);
}

static void test_last_good_time(void **s)
{
    (void)s;
    struct state_db db;
    open_db(&db);
    int64_t t;
    bool found;
    assert_int_equal(state_read_last_good_time(&db, &t, &found), STATE_OK);
    assert_false(found);
    assert_int_equal(state_write_last_good_time(&db, 0), STATE_ERROR);
    assert_int_equal(state_write_last_good_time(&db, 1795300000123LL),
                     STATE_OK);
    state_close(&db);
    open_db(&db);
    assert_int_equal(state_read_last_good_time(&db, &t, &found), STATE_OK);
    assert_true(found);
    assert_int_equal(t, 1795300000123LL);
    state_close(&db);
    assert_int_equal(state_clock_fix_target_ms(1000, 2000), 2000);
    assert_int_equal(state_clock_fix_target_ms(2000, 1000), 0);
    assert_int_equal(state_clock_fix_target_ms(2000, 2000), 0);
}

static void test_entropy_seed(void **s)
{
    (void)s;
    uint8_t a[STATE_ENTROPY_SEED_BYTES], b[STATE_ENTROPY_SEED_BYTES];
    size_t len = 99;
    assert_int_equal(state_read_entropy_seed(a, sizeof a, &len), STATE_OK);
    assert_int_equal(len, 0);
    assert_int_equal(state_data_dir_ensure(state_data_dir()), STATE_OK);
    assert_int_equal(state_write_entropy_seed(), STATE_OK);
    assert_int_equal(state_read_entropy_seed(a, sizeof a, &len), STATE_OK);
    assert_int_equal(len, STATE_ENTROPY_SEED_BYTES);
    assert_int_equal(state_write_entropy_seed(), STATE_OK);
    assert_int_equal(state_read_entropy_seed(b, sizeof b, &len), STATE_OK);
    assert_int_equal(len, STATE_ENTROPY_SEED_BYTES);
    assert_memory_not_equal(a, b, sizeof a);
    char path[300];
    struct stat st;
    assert_true(state_path(path, sizeof path, "random-seed"));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    bool credited;
    assert_int_equal(state_entropy_feed(b, len, &credited), STATE_OK);
}

static void test_atomic_write(void **s)
{
    (void)s;
    char path[300], tmp[310], buf[64];
    snprintf(path, sizeof path, "%s/f", root);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(state_file_write_atomic(path, "one", 3, 0600), STATE_OK);
    assert_int_equal(state_file_write_atomic(path, "second", 6, 0600),
                     STATE_OK);
    assert_int_equal(file_read_small(AT_FDCWD, path, buf, sizeof buf), 6);
    assert_string_equal(buf, "second");
    assert_int_equal(access(tmp, F_OK), -1);
    char nodir[300];
    snprintf(nodir, sizeof nodir, "%s/missing/f", root);
    assert_int_equal(state_file_write_atomic(nodir, "x", 1, 0600),
                     STATE_ERROR);
}

static int work_returns_7(void *ctx)
{
    (void)ctx;
    return 7;
}

static int work_hangs(void *ctx)
{
    (void)ctx;
    for (;;)
        pause();
    return 0;
}

static int work_crashes(void *ctx)
{
    (void)ctx;
    raise(SIGKILL);
    return 0;
}

static void test_run_bounded(void **s)
{
    (void)s;
    int rc;
    assert_int_equal(state_run_bounded(work_returns_7, NULL, 2000, "t", &rc),
                     STATE_OK);
    assert_int_equal(rc, 7);
    assert_int_equal(state_run_bounded(work_crashes, NULL, 2000, "t", &rc),
                     STATE_ERROR);
    int64_t t0 = time_mono_ms();
    assert_int_equal(state_run_bounded(work_hangs, NULL, 150, "t", &rc),
                     STATE_TIMEOUT);
    int64_t took = time_mono_ms() - t0;
    assert_true(took >= 150);
    assert_true(took < 1000);
    while (waitpid(-1, NULL, 0) > 0) /* we are this test's reaper */
        ;
}

static int work_writes(void *ctx, int fd)
{
    size_t n = *(size_t *)ctx;
    char buf[1000];
    memset(buf, 'z', sizeof buf);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof buf ? n - done : sizeof buf;
        if (fd_write_all(fd, buf, k) != 0)
            return 9;
        done += k;
    }
    return 0;
}

static void test_run_bounded_out(void **s)
{
    (void)s;
    static char out[200000];
    size_t len, want = 150000; /* more than a pipe buffer */
    int rc;
    assert_int_equal(state_run_bounded_out(work_writes, &want, 5000, "t",
                                           out, sizeof out, &len, &rc),
                     STATE_OK);
    assert_int_equal(rc, 0);
    assert_int_equal(len, want);
    assert_int_equal(out[want - 1], 'z');
    assert_int_equal(state_run_bounded_out(work_writes, &want, 5000, "t",
                                           out, 1000, &len, &rc),
                     STATE_ERROR); /* answer too long */
    assert_int_equal(len, 1000);
}

struct seen_intents {
    int n;
    char text[256];
};

static void intent_collect(const char *name, bool up, void *ctx)
{
    struct seen_intents *seen = ctx;
    size_t used = strlen(seen->text);
    snprintf(seen->text + used, sizeof seen->text - used, "%s=%d;", name, up);
    seen->n++;
}

static void test_service_intent_bridge(void **s)
{
    (void)s;
    assert_int_equal(state_service_desired_persist("web", false, 5000),
                     STATE_OK);
    assert_int_equal(state_service_desired_persist("db", true, 5000),
                     STATE_OK);
    assert_int_equal(state_service_desired_persist("cron", false, 5000),
                     STATE_OK);
    assert_int_equal(state_service_desired_forget("cron", 5000), STATE_OK);
    assert_int_equal(state_service_desired_persist("", true, 5000),
                     STATE_ERROR);
    struct seen_intents seen = {0};
    assert_int_equal(state_service_desired_load(5000, intent_collect, &seen),
                     STATE_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.text, "db=1;web=0;");
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

static void test_boot_and_shutdown(void **s)
{
    (void)s;
    assert_int_equal(state_boot(5000), STATE_OK);
    uint8_t a[STATE_ENTROPY_SEED_BYTES], b[STATE_ENTROPY_SEED_BYTES];
    size_t len;
    assert_int_equal(state_read_entropy_seed(a, sizeof a, &len), STATE_OK);
    assert_int_equal(len, sizeof a);
    assert_int_equal(state_boot(5000), STATE_OK);
    assert_int_equal(state_read_entropy_seed(b, sizeof b, &len), STATE_OK);
    assert_memory_not_equal(a, b, sizeof a); /* never reused */
    assert_int_equal(state_shutdown(5000), STATE_OK);
    assert_int_equal(state_read_entropy_seed(a, sizeof a, &len), STATE_OK);
    assert_memory_not_equal(a, b, sizeof a);
    struct state_db db;
    open_db(&db);
    int64_t t;
    bool found;
    assert_int_equal(state_read_last_good_time(&db, &t, &found), STATE_OK);
    assert_true(found);
    assert_true(t <= time_wall_ms() && t > time_wall_ms() - 60000);
    state_close(&db);
    char path[300];
    struct state_genesis_report rep;
    assert_true(state_path(path, sizeof path, "genesis.log"));
    assert_int_equal(state_genesis_verify(path, &rep), STATE_OK);
    assert_int_equal(rep.lines, 3);
    assert_int_equal(rep.first_broken_line, 0);
    char log[4096];
    assert_true(file_read_small(AT_FDCWD, path, log, sizeof log) > 0);
    assert_non_null(strstr(log, " boot db=ok"));
    assert_non_null(strstr(log, " shutdown h="));
}

static void test_boot_recovers_corrupt_db(void **s)
{
    (void)s;
    char path[300];
    assert_int_equal(state_data_dir_ensure(state_data_dir()), STATE_OK);
    assert_true(state_path(path, sizeof path, "state.db"));
    write_file(path, "this is not a database, not at all; nope. .......", 50);
    assert_int_equal(state_boot(5000), STATE_RECOVERED);
    assert_int_equal(state_boot(5000), STATE_OK);
}

static void test_boot_without_persist_root_fails(void **s)
{
    (void)s;
    char missing[300];
    snprintf(missing, sizeof missing, "%s/not-mounted", root);
    state_set_persist_dir(missing);
    assert_int_equal(state_boot(5000), STATE_ERROR);
    assert_int_equal(access(missing, F_OK), -1); /* never created the root */
    state_set_persist_dir(root);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_paths_and_override),
        T(test_open_settings),
        T(test_migrate_from_every_version),
        T(test_migration_is_one_transaction),
        T(test_newer_db_refused),
        T(test_garbage_db_moved_aside),
        T(test_damaged_page_moved_aside),
        T(test_personas),
        T(test_persona_state_names),
        T(test_unknown_state_reads_as_stopped),
        T(test_active_persona),
        T(test_service_desired),
        T(test_nack_round_trips),
        T(test_last_good_time),
        T(test_entropy_seed),
        T(test_atomic_write),
        T(test_run_bounded),
        T(test_run_bounded_out),
        T(test_service_intent_bridge),
        T(test_boot_and_shutdown),
        T(test_boot_recovers_corrupt_db),
        T(test_boot_without_persist_root_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
