/* test_svcdir.c — unit tests of src/svcdir.c against real service
 * directories built in a mkdtemp directory: s6's defaults and meanings,
 * every bay0 extension file, and every error reason (which must name the
 * file it is about).
 *
 * Tests may allocate (the module under test never does). Never touches
 * anything outside its own temp directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "svcdir.h"
#include "util.h"

/* ---- fixture ------------------------------------------------------------ */

struct fx {
    char path[64];
    int scan_fd;
    struct svc_def def;
    char reason[SERVICE_REASON_BYTES_MAX];
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->path, "/tmp/bay0-test-svcdir-XXXXXX");
    assert_non_null(mkdtemp(f->path));
    f->scan_fd = open(f->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->scan_fd >= 0);
    *state = f;
    return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    close(f->scan_fd);
    nftw(f->path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Writes scan/rel with text and mode (creating nothing but the file). */
static void put(struct fx *f, const char *rel, const char *text, mode_t mode)
{
    int fd = openat(f->scan_fd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        fail_msg("create %s: %s", rel, strerror(errno));
    assert_int_equal(fd_write_all(fd, text, strlen(text)), 0);
    assert_int_equal(fchmodat(f->scan_fd, rel, mode, 0), 0);
    close(fd);
}

static void mkdir_rel(struct fx *f, const char *rel)
{
    assert_int_equal(mkdirat(f->scan_fd, rel, 0755), 0);
}

/* A minimal valid service: NAME/ with an executable run. */
static void mksvc(struct fx *f, const char *name)
{
    mkdir_rel(f, name);
    char rel[128];
    snprintf(rel, sizeof rel, "%s/run", name);
    put(f, rel, "#!/bin/sh\nexec sleep 1000\n", 0755);
}

static void put_in(struct fx *f, const char *svc, const char *file,
                   const char *text)
{
    char rel[128];
    snprintf(rel, sizeof rel, "%s/%s", svc, file);
    put(f, rel, text, 0644);
}

static int load(struct fx *f, const char *name)
{
    memset(&f->def, 0xa5, sizeof f->def); /* defaults must all be set */
    memset(f->reason, 'x', sizeof f->reason);
    return svcdir_load(f->scan_fd, name, &f->def, f->reason, sizeof f->reason);
}

static void load_ok(struct fx *f, const char *name)
{
    if (load(f, name) != 0)
        fail_msg("svcdir_load(%s) failed: %s", name, f->reason);
    assert_string_equal(f->reason, "");
}

/* Loading fails and the reason starts with want (which names the file). */
static void load_fails(struct fx *f, const char *name, const char *want)
{
    if (load(f, name) != -1)
        fail_msg("svcdir_load(%s) accepted it; wanted '%s'", name, want);
    if (strncmp(f->reason, want, strlen(want)) != 0)
        fail_msg("reason '%s' does not start with '%s'", f->reason, want);
    assert_true(strlen(f->reason) < sizeof f->reason);
}

/* ---- defaults ----------------------------------------------------------- */

static void test_defaults_match_s6(void **state)
{
    struct fx *f = *state;
    mksvc(f, "plain");
    load_ok(f, "plain");
    assert_int_equal(f->def.timeout_finish_ms, 5000);
    assert_int_equal(f->def.max_death_tally, 100);
    assert_int_equal(f->def.down_signal, SIGTERM);
    assert_int_equal(f->def.notification_fd, -1);
    assert_int_equal(f->def.readiness, SVC_READY_NONE);
    assert_int_equal(f->def.timeout_kill_ms, TIMEOUT_KILL_MS_DEFAULT);
    assert_int_equal(f->def.type, SVC_TYPE_LONGRUN);
    assert_int_equal(f->def.restart, SVC_RESTART_ALWAYS);
    assert_int_equal(f->def.restart_limit_count, 10);
    assert_int_equal(f->def.restart_limit_window_s, 60);
    assert_false(f->def.down_file);
    assert_false(f->def.has_finish);
    assert_false(f->def.has_undo);
    assert_false(f->def.has_log_run);
    struct stat st;
    assert_int_equal(fstatat(f->scan_fd, "plain/run", &st, 0), 0);
    assert_int_equal(f->def.run_sig.ino, st.st_ino);
    assert_int_equal(f->def.run_sig.size, st.st_size);
}

static void test_defaults_function(void **state)
{
    (void)state;
    struct svc_def d;
    memset(&d, 0xff, sizeof d);
    svcdir_defaults(&d);
    assert_int_equal(d.timeout_finish_ms, TIMEOUT_FINISH_MS_DEFAULT);
    assert_int_equal(d.max_death_tally, MAX_DEATH_TALLY_DEFAULT);
    assert_int_equal(d.notification_fd, -1);
    assert_int_equal(d.run_sig.ino, 0);
    assert_false(d.down_file);
}

/* ---- s6 files ----------------------------------------------------------- */

static void test_s6_files(void **state)
{
    struct fx *f = *state;
    mksvc(f, "s6");
    put_in(f, "s6", "down", "");
    put(f, "s6/finish", "#!/bin/sh\n", 0700);
    put_in(f, "s6", "notification-fd", "3\n");
    put_in(f, "s6", "timeout-kill", "2500\n");
    put_in(f, "s6", "timeout-finish", "0\n");
    put_in(f, "s6", "max-death-tally", "4096\n");
    put_in(f, "s6", "down-signal", "SIGHUP\n");
    mkdir_rel(f, "s6/log");
    put(f, "s6/log/run", "#!/bin/sh\n", 0755);
    mkdir_rel(f, "s6/env");
    put_in(f, "s6", "env/FOO", "bar");
    load_ok(f, "s6");
    assert_true(f->def.down_file);
    assert_true(f->def.has_finish);
    assert_int_equal(f->def.notification_fd, 3);
    assert_int_equal(f->def.readiness, SVC_READY_FD);
    assert_int_equal(f->def.timeout_kill_ms, 2500);
    assert_int_equal(f->def.timeout_finish_ms, 0);
    assert_int_equal(f->def.max_death_tally, 4096);
    assert_int_equal(f->def.down_signal, SIGHUP);
    assert_true(f->def.has_log_run);
}

static void test_down_signal_forms(void **state)
{
    struct fx *f = *state;
    mksvc(f, "sig");
    const struct { const char *text; int sig; } forms[] = {
        {"TERM", SIGTERM}, {"SIGUSR1\n", SIGUSR1}, {"9", SIGKILL},
        {" int \n", SIGINT}, {"SIGQUIT", SIGQUIT},
    };
    for (size_t i = 0; i < ARRAY_LEN(forms); i++) {
        put_in(f, "sig", "down-signal", forms[i].text);
        load_ok(f, "sig");
        assert_int_equal(f->def.down_signal, forms[i].sig);
    }
}

static void test_limits_inclusive(void **state)
{
    struct fx *f = *state;
    mksvc(f, "lim");
    char max[32];
    snprintf(max, sizeof max, "%u\n", TIMEOUT_MS_MAX);
    put_in(f, "lim", "timeout-kill", max);
    put_in(f, "lim", "timeout-finish", max);
    put_in(f, "lim", "notification-fd", "1023");
    load_ok(f, "lim");
    assert_int_equal(f->def.timeout_kill_ms, TIMEOUT_MS_MAX);
    assert_int_equal(f->def.timeout_finish_ms, TIMEOUT_MS_MAX);
    assert_int_equal(f->def.notification_fd, 1023);
}

static void test_run_symlink_and_sig(void **state)
{
    struct fx *f = *state;
    mksvc(f, "real");
    mkdir_rel(f, "link");
    assert_int_equal(symlinkat("../real/run", f->scan_fd, "link/run"), 0);
    load_ok(f, "link");
    struct svc_file_sig before = f->def.run_sig;
    load_ok(f, "real");
    assert_true(svc_file_sig_equal(&before, &f->def.run_sig));
    put(f, "real/run", "#!/bin/sh\nexec sleep 2000 # changed\n", 0755);
    load_ok(f, "real");
    assert_false(svc_file_sig_equal(&before, &f->def.run_sig));
}

/* ---- bay0 extension files ----------------------------------------------- */

static void test_bay0_type_restart(void **state)
{
    struct fx *f = *state;
    mksvc(f, "ext");
    put_in(f, "ext", "type", "oneshot\n");
    put_in(f, "ext", "restart", "on-failure\n");
    put(f, "ext/undo", "#!/bin/sh\n", 0755);
    load_ok(f, "ext");
    assert_int_equal(f->def.type, SVC_TYPE_ONESHOT);
    assert_int_equal(f->def.restart, SVC_RESTART_ON_FAILURE);
    assert_true(f->def.has_undo);
    put_in(f, "ext", "type", "  longrun");
    put_in(f, "ext", "restart", "never");
    load_ok(f, "ext");
    assert_int_equal(f->def.type, SVC_TYPE_LONGRUN);
    assert_int_equal(f->def.restart, SVC_RESTART_NEVER);
    put_in(f, "ext", "restart", "always\n\n");
    load_ok(f, "ext");
    assert_int_equal(f->def.restart, SVC_RESTART_ALWAYS);
}

static void test_bay0_restart_limit_forms(void **state)
{
    struct fx *f = *state;
    mksvc(f, "rl");
    const struct { const char *text; unsigned count, window; } ok[] = {
        {"3 10", 3, 10}, {"3\t10\n", 3, 10}, {"1 1", 1, 1},
        {"32 86400", 32, 86400}, {"5   7  \n", 5, 7},
        {"100 60", 100, 60}, {"255 60", 255, 60},
        {"none", RESTART_LIMIT_NONE, RESTART_LIMIT_WINDOW_S_DEFAULT},
        {" none\n", RESTART_LIMIT_NONE, RESTART_LIMIT_WINDOW_S_DEFAULT},
    };
    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        put_in(f, "rl", "restart-limit", ok[i].text);
        load_ok(f, "rl");
        assert_int_equal(f->def.restart_limit_count, ok[i].count);
        assert_int_equal(f->def.restart_limit_window_s, ok[i].window);
    }
    const char *bad[] = {"10", "0 60", "10 0", "256 60", "10 86401", "a b",
                         "10 60 5", "", "-1 60", "10 6O", "nonesuch", "none 60"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        put_in(f, "rl", "restart-limit", bad[i]);
        load_fails(f, "rl", "restart-limit: expected 'COUNT SECONDS'");
    }
}

static void test_bay0_notify(void **state)
{
    struct fx *f = *state;
    mksvc(f, "n");
    put_in(f, "n", "notify", "");
    load_ok(f, "n");
    assert_int_equal(f->def.readiness, SVC_READY_NOTIFY);
    assert_int_equal(f->def.notification_fd, -1);
}

/* ---- errors: each names its file ---------------------------------------- */

static void test_err_run(void **state)
{
    struct fx *f = *state;
    mkdir_rel(f, "norun");
    load_fails(f, "norun", "run: missing");
    mkdir_rel(f, "noexec");
    put(f, "noexec/run", "#!/bin/sh\n", 0644);
    load_fails(f, "noexec", "run: not executable");
    mkdir_rel(f, "rundir");
    mkdir_rel(f, "rundir/run");
    load_fails(f, "rundir", "run: not a regular file");
    mkdir_rel(f, "dangling");
    assert_int_equal(symlinkat("nowhere", f->scan_fd, "dangling/run"), 0);
    load_fails(f, "dangling", "run: missing");
}

static void test_err_finish_undo(void **state)
{
    struct fx *f = *state;
    mksvc(f, "fin");
    put(f, "fin/finish", "#!/bin/sh\n", 0600);
    load_fails(f, "fin", "finish: not executable");
    mksvc(f, "und");
    put_in(f, "und", "type", "oneshot");
    mkdir_rel(f, "und/undo");
    load_fails(f, "und", "undo: not a regular file");
}

/* Root can read any file, so "unreadable" is a directory in its place. */
static void test_err_unreadable(void **state)
{
    struct fx *f = *state;
    const char *files[] = {"timeout-kill", "timeout-finish", "max-death-tally",
                           "notification-fd", "down-signal", "type",
                           "restart", "restart-limit"};
    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        char name[32], rel[96], want[96];
        snprintf(name, sizeof name, "u%zu", i);
        mksvc(f, name);
        snprintf(rel, sizeof rel, "%s/%s", name, files[i]);
        mkdir_rel(f, rel);
        snprintf(want, sizeof want, "%s: cannot read: %s", files[i], strerror(EISDIR));
        load_fails(f, name, want);
    }
}

static void test_err_too_large(void **state)
{
    struct fx *f = *state;
    mksvc(f, "big");
    char text[SVCDIR_FILE_BYTES_MAX + 1];
    memset(text, ' ', sizeof text - 1);
    text[0] = '1';
    text[sizeof text - 1] = '\0'; /* 256 bytes: one more than fits */
    put_in(f, "big", "timeout-kill", text);
    load_fails(f, "big", "timeout-kill: cannot read: file too large");
    text[sizeof text - 2] = '\0'; /* 255 bytes fit */
    put_in(f, "big", "timeout-kill", text);
    load_ok(f, "big");
    assert_int_equal(f->def.timeout_kill_ms, 1);
}

static void test_err_bad_numbers(void **state)
{
    struct fx *f = *state;
    const char *files[] = {"timeout-kill", "timeout-finish", "max-death-tally",
                           "notification-fd"};
    const char *bad[] = {"abc", "-1", "", "1.5", "10ms", "0x10", "99999999999999999999"};
    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        char name[32], want[96];
        snprintf(name, sizeof name, "b%zu", i);
        mksvc(f, name);
        snprintf(want, sizeof want, "%s: not a number from 0 to ", files[i]);
        for (size_t j = 0; j < ARRAY_LEN(bad); j++) {
            put_in(f, name, files[i], bad[j]);
            load_fails(f, name, want);
        }
        put_in(f, name, files[i], "7"); /* and back to good */
        load_ok(f, name);
    }
    mksvc(f, "over");
    put_in(f, "over", "timeout-kill", "86400001");
    load_fails(f, "over", "timeout-kill: not a number from 0 to 86400000");
    put_in(f, "over", "timeout-kill", "1");
    put_in(f, "over", "max-death-tally", "4097");
    load_fails(f, "over", "max-death-tally: not a number from 0 to 4096");
    put_in(f, "over", "max-death-tally", "1");
    put_in(f, "over", "notification-fd", "1024");
    load_fails(f, "over", "notification-fd: not a number from 0 to 1023");
}

static void test_err_notification_fd_low(void **state)
{
    struct fx *f = *state;
    mksvc(f, "lowfd");
    const char *low[] = {"0", "1", "2\n"};
    for (size_t i = 0; i < ARRAY_LEN(low); i++) {
        put_in(f, "lowfd", "notification-fd", low[i]);
        load_fails(f, "lowfd", "notification-fd: ");
        assert_non_null(strstr(f->reason, "use 3 or more"));
    }
}

static void test_err_readiness_conflicts(void **state)
{
    struct fx *f = *state;
    mksvc(f, "both");
    put_in(f, "both", "notification-fd", "3");
    put_in(f, "both", "notify", "");
    load_fails(f, "both", "notify: conflicts with notification-fd");
    mksvc(f, "os1");
    put_in(f, "os1", "type", "oneshot");
    put_in(f, "os1", "notification-fd", "4");
    load_fails(f, "os1", "type: a oneshot is ready when run exits 0");
    mksvc(f, "os2");
    put_in(f, "os2", "type", "oneshot");
    put_in(f, "os2", "notify", "");
    load_fails(f, "os2", "type: a oneshot is ready when run exits 0");
}

static void test_err_bad_words(void **state)
{
    struct fx *f = *state;
    mksvc(f, "w");
    const char *types[] = {"daemon", "Oneshot", "", "longrun oneshot", "bundle"};
    for (size_t i = 0; i < ARRAY_LEN(types); i++) {
        put_in(f, "w", "type", types[i]);
        load_fails(f, "w", "type: unknown value '");
    }
    assert_int_equal(unlinkat(f->scan_fd, "w/type", 0), 0);
    const char *restarts[] = {"sometimes", "on_failure", "ALWAYS", "no"};
    for (size_t i = 0; i < ARRAY_LEN(restarts); i++) {
        put_in(f, "w", "restart", restarts[i]);
        load_fails(f, "w", "restart: unknown value '");
        assert_non_null(strstr(f->reason, restarts[i]));
    }
}

static void test_err_down_signal(void **state)
{
    struct fx *f = *state;
    mksvc(f, "ds");
    const char *bad[] = {"SIGWHAT", "0", "99", "TERM KILL", ""};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        put_in(f, "ds", "down-signal", bad[i]);
        load_fails(f, "ds", "down-signal: unknown signal '");
    }
}

static void test_err_names_and_dirs(void **state)
{
    struct fx *f = *state;
    load_fails(f, ".hidden", "invalid service name: name starts with '.'");
    load_fails(f, "", "invalid service name: name is empty");
    load_fails(f, "a b", "invalid service name: name has a character");
    char longname[SERVICE_NAME_BYTES_MAX + 2];
    memset(longname, 'l', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0'; /* 65 bytes */
    load_fails(f, longname, "invalid service name: name is too long");
    longname[SERVICE_NAME_BYTES_MAX] = '\0'; /* 64 bytes: a fine name */
    mksvc(f, longname);
    load_ok(f, longname);
    load_fails(f, "absent", "absent: cannot open directory: ");
    put(f, "afile", "", 0644);
    load_fails(f, "afile", "afile: cannot open directory: ");
}

static void test_reason_truncated_safely(void **state)
{
    struct fx *f = *state;
    mksvc(f, "tr");
    put_in(f, "tr", "restart", "a-very-long-unknown-restart-policy-word");
    char small[12];
    memset(small, 'x', sizeof small);
    assert_int_equal(svcdir_load(f->scan_fd, "tr", &f->def, small, sizeof small), -1);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, "restart: un", sizeof small);
}

/* ---- loggers ------------------------------------------------------------ */

static void test_logger(void **state)
{
    struct fx *f = *state;
    mksvc(f, "web");
    mkdir_rel(f, "web/log");
    put(f, "web/log/run", "#!/bin/sh\n", 0755);
    put_in(f, "web", "log/down", "");
    put_in(f, "web", "log/type", "not-a-type"); /* bay0 files do not apply */
    put_in(f, "web", "log/notification-fd", "5");
    put_in(f, "web", "log/timeout-finish", "100");
    memset(f->reason, 'x', sizeof f->reason);
    assert_int_equal(svcdir_load_logger(f->scan_fd, "web", &f->def, f->reason,
                                        sizeof f->reason), 0);
    assert_string_equal(f->reason, "");
    assert_false(f->def.down_file); /* a logger runs when its service exists */
    assert_int_equal(f->def.type, SVC_TYPE_LONGRUN);
    assert_int_equal(f->def.restart, SVC_RESTART_ALWAYS);
    assert_int_equal(f->def.notification_fd, 5);
    assert_int_equal(f->def.timeout_finish_ms, 100);
}

static void test_logger_errors(void **state)
{
    struct fx *f = *state;
    mksvc(f, "nolog");
    assert_int_equal(svcdir_load_logger(f->scan_fd, "nolog", &f->def, f->reason,
                                        sizeof f->reason), -1);
    assert_non_null(strstr(f->reason, "nolog/log: cannot open directory"));
    mksvc(f, "bad");
    mkdir_rel(f, "bad/log");
    assert_int_equal(svcdir_load_logger(f->scan_fd, "bad", &f->def, f->reason,
                                        sizeof f->reason), -1);
    assert_string_equal(f->reason, "run: missing");
    put(f, "bad/log/run", "#!/bin/sh\n", 0755);
    put_in(f, "bad", "log/timeout-kill", "soon");
    assert_int_equal(svcdir_load_logger(f->scan_fd, "bad", &f->def, f->reason,
                                        sizeof f->reason), -1);
    assert_non_null(strstr(f->reason, "timeout-kill: not a number"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults_match_s6),
        cmocka_unit_test(test_defaults_function),
        T(test_s6_files),
        T(test_down_signal_forms),
        T(test_limits_inclusive),
        T(test_run_symlink_and_sig),
        T(test_bay0_type_restart),
        T(test_bay0_restart_limit_forms),
        T(test_bay0_notify),
        T(test_err_run),
        T(test_err_finish_undo),
        T(test_err_unreadable),
        T(test_err_too_large),
        T(test_err_bad_numbers),
        T(test_err_notification_fd_low),
        T(test_err_readiness_conflicts),
        T(test_err_bad_words),
        T(test_err_down_signal),
        T(test_err_names_and_dirs),
        T(test_reason_truncated_safely),
        T(test_logger),
        T(test_logger_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
