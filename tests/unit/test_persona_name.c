/* test_persona_name.c — the persona naming grammar (src/persona_name.c):
 * every refusal the issue lists with the rule it names, round trips
 * (semantic -> container -> semantic, parse -> format), and injectivity:
 * exhaustively over every string of up to 3 bytes from an alphabet that
 * holds every interesting byte class, randomly over long names.
 * Pure: no files, no processes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persona_name.h"

static char reason[PERSONA_REASON_BYTES_MAX];

static void refused(const char *s, size_t len, const char *needle)
{
    struct persona_name n;
    if (persona_name_parse(s, len, &n, reason, sizeof reason))
        fail_msg("'%.*s' was accepted", (int)len, s);
    if (strstr(reason, needle) == NULL)
        fail_msg("reason for '%.*s' does not say '%s': %s", (int)len, s,
                 needle, reason);
    if (strstr(reason, "invalid persona name '") != reason)
        fail_msg("reason does not begin by naming the input: %s", reason);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("P://x", 5, "must begin with p:// or sys://");
    refused("p:/x", 4, "must begin with p:// or sys://");
    refused("", 0, "must begin with p:// or sys://");
    refused("SYS://x", 7, "must begin with p:// or sys://");
    refused("p://", 4, "NAME is empty");
    refused("sys://", 6, "NAME is empty");
    refused("p://a_b", 7, "'_' at byte 6 is not allowed");
    refused("p://a--b", 8, "two '-' in a row");
    refused("p://x/y", 7, "'/' at byte 6 is not allowed");
    refused("p://x\n", 6, "byte 0x0a at byte 6 is not allowed");
    refused("p://x\0y", 7, "byte 0x00 at byte 6 is not allowed");
    refused("p://Work", 8, "'W' at byte 5 is not allowed");
    refused("p://1x", 6, "must start with a lowercase letter");
    refused("p://-x", 6, "must start with a lowercase letter");
    refused("p://x-", 6, "must not end with '-'");
    refused("p://a b", 7, "byte 0x20 at byte 6");
    char long33[4 + 33 + 1] = "p://";
    memset(long33 + 4, 'a', 33);
    refused(long33, 37, "NAME is 33 bytes, at most 32");
    /* the message quotes the input safely */
    refused("p://x\n", 6, "'p://x\\x0a'");
}

static void accepted(const char *s, enum persona_kind kind, const char *name,
                     const char *container)
{
    struct persona_name n;
    if (!persona_name_parse_str(s, &n, reason, sizeof reason))
        fail_msg("'%s' refused: %s", s, reason);
    assert_int_equal(n.kind, kind);
    assert_string_equal(n.name, name);
    char sem[PERSONA_SEMANTIC_BYTES_MAX], con[PERSONA_CONTAINER_BYTES_MAX];
    persona_name_format(&n, sem);
    assert_string_equal(sem, s);
    persona_container_format(&n, con);
    assert_string_equal(con, container);
    struct persona_name back;
    assert_true(persona_container_parse(con, strlen(con), &back));
    assert_int_equal(back.kind, kind);
    assert_string_equal(back.name, name);
}

static void test_accepted(void **state)
{
    (void)state;
    accepted("p://work", PERSONA_USER, "work", "p__work");
    accepted("sys://ai", PERSONA_SYSTEM, "ai", "sys__ai");
    accepted("p://a", PERSONA_USER, "a", "p__a");
    accepted("p://a-1-b2", PERSONA_USER, "a-1-b2", "p__a-1-b2");
    accepted("p://abcdefghijklmnopqrstuvwxyz012345", PERSONA_USER,
             "abcdefghijklmnopqrstuvwxyz012345",
             "p__abcdefghijklmnopqrstuvwxyz012345");
}

static void test_not_ours(void **state)
{
    (void)state;
    static const char *const foreign[] = {
        "web", "p__", "sys__", "p_x", "p___x", "p__X", "p__a--b", "p__a-",
        "sys_x", "sys___x", "P__x", "p__x/y", "p__1a", "sys__-a",
        "p__abcdefghijklmnopqrstuvwxyz0123456", "p:__x", "ps__x"};
    struct persona_name n;
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
        if (persona_container_parse(foreign[i], strlen(foreign[i]), &n))
            fail_msg("'%s' taken for ours", foreign[i]);
    assert_false(persona_container_parse("p__x\n", 5, &n));
    assert_false(persona_container_parse("p__x\0", 5, &n));
}

/* Every string of up to 3 bytes over this alphabet, behind both schemes. */
static const char ALPHA[] = "az09-_/:ApsY\n";
#define ALPHA_N (sizeof ALPHA - 1)
#define SHORT_MAX 3

struct seen {
    char (*names)[PERSONA_CONTAINER_BYTES_MAX];
    size_t n;
};

static int cmp_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void check_one(const char *s, size_t len, struct seen *seen)
{
    struct persona_name n;
    if (!persona_name_parse(s, len, &n, reason, sizeof reason)) {
        assert_true(reason[0] != '\0');
        return;
    }
    char sem[PERSONA_SEMANTIC_BYTES_MAX], con[PERSONA_CONTAINER_BYTES_MAX];
    persona_name_format(&n, sem);
    /* parse(format(x)) == x, byte for byte */
    assert_int_equal(strlen(sem), len);
    assert_memory_equal(sem, s, len);
    persona_container_format(&n, con);
    struct persona_name back;
    assert_true(persona_container_parse(con, strlen(con), &back));
    assert_int_equal(back.kind, n.kind);
    assert_string_equal(back.name, n.name);
    strcpy(seen->names[seen->n++], con);
}

static void test_exhaustive_short(void **state)
{
    (void)state;
    size_t total = 0, per_len = 1;
    for (int l = 0; l <= SHORT_MAX; l++, per_len *= ALPHA_N)
        total += per_len;
    struct seen seen = {.names = calloc(2 * total, sizeof *seen.names)};
    assert_non_null(seen.names);
    static const char *const schemes[] = {"p://", "sys://"};
    for (size_t sc = 0; sc < 2; sc++)
        for (int l = 0; l <= SHORT_MAX; l++) {
            size_t count = 1;
            for (int i = 0; i < l; i++)
                count *= ALPHA_N;
            for (size_t k = 0; k < count; k++) {
                char s[16];
                size_t off = strlen(schemes[sc]);
                memcpy(s, schemes[sc], off);
                size_t v = k;
                for (int i = 0; i < l; i++, v /= ALPHA_N)
                    s[off + (size_t)i] = ALPHA[v % ALPHA_N];
                check_one(s, off + (size_t)l, &seen);
            }
        }
    /* valid short names over this alphabet: a, z, then 2 and 3 bytes */
    assert_true(seen.n > 100);
    qsort(seen.names, seen.n, sizeof *seen.names, cmp_names);
    for (size_t i = 1; i < seen.n; i++)
        if (strcmp(seen.names[i - 1], seen.names[i]) == 0)
            fail_msg("two semantic names map to %s", seen.names[i]);
    free(seen.names);
}

static void random_name(char *out, size_t len, unsigned *seed)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
    for (size_t i = 0; i < len; i++)
        out[i] = ok[rand_r(seed) % (sizeof ok - 1)];
    out[len] = '\0';
}

static void test_random_long(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct seen seen = {.names = calloc(N, sizeof *seen.names)};
    assert_non_null(seen.names);
    unsigned seed = 11;
    size_t valid = 0;
    for (int i = 0; i < N; i++) {
        char s[64];
        bool sys = rand_r(&seed) % 2;
        size_t off = sys ? 6 : 4;
        memcpy(s, sys ? "sys://" : "p://", off);
        size_t len = 20 + (size_t)(rand_r(&seed) % 14); /* 20..33 */
        random_name(s + off, len, &seed);
        size_t before = seen.n;
        check_one(s, off + len, &seen);
        valid += seen.n - before;
    }
    assert_true(valid > 1000);
    qsort(seen.names, seen.n, sizeof *seen.names, cmp_names);
    /* random inputs of 20+ bytes repeat with negligible probability */
    for (size_t i = 1; i < seen.n; i++)
        if (strcmp(seen.names[i - 1], seen.names[i]) == 0)
            fail_msg("collision (or a repeated random input): %s",
                     seen.names[i]);
    free(seen.names);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_not_ours),
        cmocka_unit_test(test_exhaustive_short),
        cmocka_unit_test(test_random_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
