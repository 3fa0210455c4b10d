/* test_creds.c — unit tests of src/creds.c (the `user` and `limits`
 * parsers) against files written in a mkdtemp directory. Names are looked
 * up in the machine's real /etc/passwd and /etc/group (root and "nobody"
 * exist on Debian); numbers need no entry.
 *
 * Tests may allocate (the module under test never does). Never touches
 * anything outside its own temp directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "creds.h"

struct fx {
    char dir[64];
    int fd;
    char reason[192];
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/bay0-creds-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->fd >= 0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    unlinkat(f->fd, "user", 0);
    unlinkat(f->fd, "limits", 0);
    close(f->fd);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void put(struct fx *f, const char *name, const char *text)
{
    int fd = openat(f->fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int limits(struct fx *f, const char *text, struct creds_limits *out)
{
    put(f, "limits", text);
    f->reason[0] = '\0';
    return creds_load_limits(f->fd, "limits", out, f->reason, sizeof f->reason);
}

static void test_absent_files_are_zero(void **state)
{
    struct fx *f = *state;
    struct creds_user u;
    struct creds_limits l;
    assert_int_equal(creds_load_user(f->fd, "user", &u, f->reason, sizeof f->reason), 0);
    assert_false(u.set);
    assert_int_equal(creds_load_limits(f->fd, "limits", &l, f->reason, sizeof f->reason), 0);
    assert_int_equal(l.count, 0);
}

static void test_limit_values_suffixes_and_comments(void **state)
{
    struct fx *f = *state;
    struct creds_limits l;
    assert_int_equal(limits(f, "# a comment\n\n  nofile 64 128  # trailing\ncore 0\n"
                               "stack 8k\nmemlock 2M 2M\ncpu unlimited\n", &l), 1);
    assert_int_equal(l.count, 5);
    assert_int_equal(l.l[0].resource, RLIMIT_NOFILE);
    assert_int_equal(l.l[0].soft, 64);
    assert_int_equal(l.l[0].hard, 128);
    assert_false(l.l[0].soft_only);
    assert_int_equal(l.l[1].resource, RLIMIT_CORE);
    assert_true(l.l[1].soft_only);
    assert_int_equal(l.l[2].soft, 8 << 10);
    assert_int_equal(l.l[3].soft, 2 << 20);
    assert_true(l.l[4].soft == UINT64_MAX);
}

static void test_limit_errors_name_the_line(void **state)
{
    struct fx *f = *state;
    struct creds_limits l;
    static const struct {
        const char *text, *reason;
    } bad[] = {
        {"nofile\n", "limits: line 1: expected 'RESOURCE SOFT [HARD]'"},
        {"nofile 1 2 3\n", "limits: line 1: expected"},
        {"core 0\nwings 1\n", "limits: line 2: unknown resource 'wings'"},
        {"nofile 12q\n", "limits: line 1: nofile: not a number or 'unlimited'"},
        {"nofile -1\n", "not a number"},
        {"nofile 99999999999999999999\n", "not a number"},
        {"stack 17179869184T\n", "not a number"}, /* overflows 64 bits */
        {"nofile 20 10\n", "limits: line 1: nofile: soft 20 is above the hard limit"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(limits(f, bad[i].text, &l), -1);
        if (!strstr(f->reason, bad[i].reason))
            fail_msg("'%s': reason '%s' lacks '%s'", bad[i].text, f->reason, bad[i].reason);
    }
}

static void test_hard_limit_above_own_is_refused(void **state)
{
    struct fx *f = *state;
    struct rlimit own;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &own), 0);
    if (own.rlim_max == RLIM_INFINITY)
        skip(); /* nothing is above unlimited */
    char text[64];
    snprintf(text, sizeof text, "nofile 1 %llu\n", (unsigned long long)own.rlim_max + 1);
    struct creds_limits l;
    assert_int_equal(limits(f, text, &l), -1);
    assert_non_null(strstr(f->reason, "above bay0's own hard limit"));
}

static void test_too_many_limits(void **state)
{
    struct fx *f = *state;
    char text[2048] = "";
    for (int i = 0; i < CREDS_LIMITS_MAX + 1; i++)
        strcat(text, "core 0\n");
    struct creds_limits l;
    assert_int_equal(limits(f, text, &l), -1);
    assert_non_null(strstr(f->reason, "limits: more than"));
}

static void test_user_numbers_and_names(void **state)
{
    struct fx *f = *state;
    struct creds_user u;
    put(f, "user", " 4321:8765 \n");
    assert_int_equal(creds_load_user(f->fd, "user", &u, f->reason, sizeof f->reason), 1);
    assert_int_equal(u.uid, 4321);
    assert_int_equal(u.gid, 8765);
    assert_int_equal(u.ngroups, 1);
    assert_int_equal(u.groups[0], 8765);
    assert_int_equal(u.set, geteuid() == 0);
    put(f, "user", "root\n"); /* uid 0 gid 0 in every /etc/passwd */
    assert_int_equal(creds_load_user(f->fd, "user", &u, f->reason, sizeof f->reason), 1);
    assert_int_equal(u.uid, 0);
    assert_int_equal(u.gid, 0);
}

static void test_user_errors(void **state)
{
    struct fx *f = *state;
    struct creds_user u;
    put(f, "user", "no-such-user-zz\n");
    assert_int_equal(creds_load_user(f->fd, "user", &u, f->reason, sizeof f->reason), -1);
    assert_string_equal(f->reason, "user: no such user 'no-such-user-zz' in /etc/passwd");
    put(f, "user", "root:no-such-group-zz\n");
    assert_int_equal(creds_load_user(f->fd, "user", &u, f->reason, sizeof f->reason), -1);
    assert_string_equal(f->reason, "user: no such group 'no-such-group-zz' in /etc/group");
    put(f, "user", "\n");
    assert_int_equal(creds_load_user(f->fd, "user", &u, f->reason, sizeof f->reason), -1);
    assert_non_null(strstr(f->reason, "no such user ''"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_absent_files_are_zero),
        T(test_limit_values_suffixes_and_comments),
        T(test_limit_errors_name_the_line),
        T(test_hard_limit_above_own_is_refused),
        T(test_too_many_limits),
        T(test_user_numbers_and_names),
        T(test_user_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
