/* test_logfile.c — unit tests of log_format() (src/logfile.c): long lines
 * are split into pieces that each end with a newline, so a file can be
 * rotated between any two pieces; a line of exactly LOG_LINE_BYTES_MAX
 * bytes is not split; the output does not depend on how the input was
 * chunked; out_limit is never exceeded. Pure: no files, no clock (no
 * stamps).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "logfile.h"

/* Formats in[0..len) in chunks of `chunk` bytes into a fresh buffer. */
static char *format_chunked(const char *in, size_t len, size_t chunk, size_t *out_len)
{
    char *out = malloc(log_format_bound(len));
    assert_non_null(out);
    struct log_line_state st = {false, 0};
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = len - i < chunk ? len - i : chunk;
        size_t used = 0;
        o += log_format(in + i, n, LOG_STAMP_NONE, &st, out + o, SIZE_MAX, &used);
        assert_int_equal(used, n);
        i += n;
    }
    *out_len = o;
    return out;
}

static char *line_of(size_t chars)
{
    char *s = malloc(chars + 2);
    assert_non_null(s);
    memset(s, 'a', chars);
    s[chars] = '\n';
    s[chars + 1] = '\0';
    return s;
}

static void test_exact_max_line_not_split(void **state)
{
    (void)state;
    char *in = line_of(LOG_LINE_BYTES_MAX);
    size_t n;
    char *out = format_chunked(in, LOG_LINE_BYTES_MAX + 1, 100000, &n);
    assert_int_equal(n, LOG_LINE_BYTES_MAX + 1);
    assert_memory_equal(out, in, n);
    free(out);
    free(in);
}

static void test_long_line_pieces_end_with_newline(void **state)
{
    (void)state;
    size_t chars = 2 * LOG_LINE_BYTES_MAX + 5;
    char *in = line_of(chars);
    size_t n;
    char *out = format_chunked(in, chars + 1, 100000, &n);
    size_t mark = strlen(LOG_SPLIT_MARK);
    assert_int_equal(n, chars + 3 + 2 * mark);
    assert_int_equal(out[LOG_LINE_BYTES_MAX], '\n');
    assert_memory_equal(out + LOG_LINE_BYTES_MAX + 1, LOG_SPLIT_MARK, mark);
    assert_int_equal(out[n - 1], '\n');
    free(out);
    free(in);
}

static void test_chunking_does_not_matter(void **state)
{
    (void)state;
    size_t len = 3 * LOG_LINE_BYTES_MAX + 700;
    char *in = malloc(len);
    assert_non_null(in);
    for (size_t i = 0; i < len; i++) /* lines of many lengths, some exactly the max */
        in[i] = (i % 5003 == 0 || i == LOG_LINE_BYTES_MAX) ? '\n' : 'b';
    size_t n1, n2, n3;
    char *a = format_chunked(in, len, len, &n1);
    char *b = format_chunked(in, len, 1, &n2);
    char *c = format_chunked(in, len, 4095, &n3);
    assert_int_equal(n1, n2);
    assert_int_equal(n1, n3);
    assert_memory_equal(a, b, n1);
    assert_memory_equal(a, c, n1);
    free(a);
    free(b);
    free(c);
    free(in);
}

/* Near the limit a new piece is not started: what was written ends with a
 * newline (rotation can follow), and the limit is kept. */
static void test_limit_stops_between_pieces(void **state)
{
    (void)state;
    size_t chars = 5 * LOG_LINE_BYTES_MAX;
    char *in = line_of(chars);
    char *out = malloc(log_format_bound(chars + 1));
    assert_non_null(out);
    struct log_line_state st = {false, 0};
    size_t limit = 2 * LOG_LINE_FORMATTED_MAX + 100, used = 0;
    size_t n = log_format(in, chars + 1, LOG_STAMP_NONE, &st, out, limit, &used);
    assert_true(n <= limit);
    assert_true(used > 0 && used < chars);
    assert_int_equal(out[n - 1], '\n');
    assert_false(st.midline);
    assert_int_equal(st.line_bytes, LOG_LINE_BYTES_MAX); /* a continuation is due */
    size_t more = 0;
    n = log_format(in + used, chars + 1 - used, LOG_STAMP_NONE, &st, out, 0, &more);
    assert_int_equal(n, 0);
    assert_int_equal(more, 0);
    free(out);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_max_line_not_split),
        cmocka_unit_test(test_long_line_pieces_end_with_newline),
        cmocka_unit_test(test_chunking_does_not_matter),
        cmocka_unit_test(test_limit_stops_between_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
