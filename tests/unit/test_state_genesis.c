/* test_state_genesis.c — the genesis log's hash chain: appends verify as
 * intact; an edited, deleted, inserted or reordered line is caught and named;
 * a torn tail is reported, then dropped by the next append.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "state/state.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_BYTES_MAX 65536

static char dir[128];
static char path[160];
static char text[LOG_BYTES_MAX];

static int setup(void **s)
{
    (void)s;
    strcpy(dir, "/tmp/bay0-test-genesis.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/genesis.log", dir);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    unlink(path);
    return rmdir(dir);
}

static void append_n(int n)
{
    for (int i = 1; i <= n; i++) {
        char msg[64];
        snprintf(msg, sizeof msg, "event number %d", i);
        assert_int_equal(state_genesis_append_file(path, msg), STATE_OK);
    }
}

static void load(void)
{
    assert_true(file_read_small(AT_FDCWD, path, text, sizeof text) > 0);
}

static void store(const char *s)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    close(fd);
}

/* Pointer to the start of 1-based line n in text. */
static char *line_at(int n)
{
    char *p = text;
    for (int i = 1; i < n; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    return p;
}

static void verify(uint64_t lines, uint64_t broken)
{
    struct state_genesis_report rep;
    assert_int_equal(state_genesis_verify(path, &rep), STATE_OK);
    assert_int_equal(rep.lines, lines);
    assert_int_equal(rep.first_broken_line, broken);
    if (broken != 0)
        assert_true(rep.reason[0] != '\0');
}

static void test_intact_chain(void **s)
{
    (void)s;
    append_n(10);
    verify(10, 0);
    load();
    assert_int_equal(strncmp(line_at(1), "1 ", 2), 0);
    assert_int_equal(strncmp(line_at(10), "10 ", 3), 0);
    assert_non_null(strstr(line_at(10), "event number 10 h="));
}

static void test_edit_middle_line_caught(void **s)
{
    (void)s;
    append_n(10);
    load();
    char *l5 = line_at(5);
    char *digit = strstr(l5, "number 5");
    assert_non_null(digit);
    digit[7] = '6'; /* "event number 6" on line 5 */
    store(text);
    verify(10, 5);
}

static void test_edit_hash_caught(void **s)
{
    (void)s;
    append_n(6);
    load();
    char *l3 = line_at(3);
    char *h = strstr(l3, " h=");
    h[3] = h[3] == '0' ? '1' : '0';
    store(text);
    verify(6, 3);
}

static void test_deleted_line_caught(void **s)
{
    (void)s;
    append_n(8);
    load();
    char *l4 = line_at(4), *l5 = line_at(5);
    memmove(l4, l5, strlen(l5) + 1);
    store(text);
    verify(7, 4);
}

static void test_swapped_lines_caught(void **s)
{
    (void)s;
    append_n(5);
    load();
    char a[1100], b[1100];
    char *l2 = line_at(2), *l3 = line_at(3), *l4 = line_at(4);
    snprintf(a, sizeof a, "%.*s", (int)(l3 - l2), l2);
    snprintf(b, sizeof b, "%.*s", (int)(l4 - l3), l3);
    /* Same total length: write line 3 then line 2 over both. */
    memcpy(l2, b, strlen(b));
    memcpy(l2 + strlen(b), a, strlen(a));
    store(text);
    verify(5, 2);
}

static void test_appending_after_tamper_keeps_report(void **s)
{
    (void)s;
    append_n(4);
    load();
    line_at(2)[2] = 'X'; /* damage the timestamp of line 2 */
    store(text);
    append_n(2);
    verify(6, 2);
}

static void test_torn_tail(void **s)
{
    (void)s;
    append_n(3);
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "4 2026-11-21T00:0", 17), 17);
    close(fd);
    verify(4, 4); /* reported as a torn last line */
    append_n(1);   /* drops the torn bytes, chains on line 3 */
    verify(4, 0);
    load();
    assert_null(strstr(text, "T00:0\n"));
}

static void test_control_chars_sanitized(void **s)
{
    (void)s;
    assert_int_equal(state_genesis_append_file(path, "two\nlines\tand\x1b"),
                     STATE_OK);
    verify(1, 0);
    load();
    assert_non_null(strstr(text, "two?lines?and? h="));
}

static void test_missing_file_is_error(void **s)
{
    (void)s;
    struct state_genesis_report rep;
    assert_int_equal(state_genesis_verify(path, &rep), STATE_ERROR);
}

static void test_overlong_message_truncated(void **s)
{
    (void)s;
    char big[4000];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(state_genesis_append_file(path, big), STATE_OK);
    assert_int_equal(state_genesis_append_file(path, "after"), STATE_OK);
    verify(2, 0);
    load();
    assert_true(strlen(line_at(1)) > 0);
    assert_true((size_t)(line_at(2) - line_at(1)) <=
                STATE_GENESIS_LINE_BYTES_MAX);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_intact_chain),
        T(test_edit_middle_line_caught),
        T(test_edit_hash_caught),
        T(test_deleted_line_caught),
        T(test_swapped_lines_caught),
        T(test_appending_after_tamper_keeps_report),
        T(test_torn_tail),
        T(test_control_chars_sanitized),
        T(test_missing_file_is_error),
        T(test_overlong_message_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
