/* fuzz_logformat.c — libFuzzer target for log_format() (src/logfile.c):
 * every byte a service writes goes through it. Checks properties, not
 * just "no crash", with stamps off (deterministic):
 *   - the output does not depend on how the input is chunked;
 *   - stopped at a limit (a file's room) and continued in a fresh "file",
 *     the pieces put together are the unlimited output: rotation loses,
 *     repeats and reorders nothing;
 *   - a call that starts at a line boundary never writes past its limit,
 *     and stops only at a line boundary (its output ends with a newline);
 *   - no line is longer than LOG_LINE_BYTES_MAX plus the split mark.
 * Input layout: byte 0 the chunk size, byte 1 the limit (in units of 512
 * bytes above LOG_MAX_BYTES_MIN... kept small so it bites), the rest the
 * service's bytes. Never writes files.
 */
#include "logfile.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_IN_BYTES_MAX 65536

static size_t format_all(const char *in, size_t len, size_t chunk, size_t limit, char *out)
{
    struct log_line_state st = {false, 0};
    size_t o = 0, room = limit;
    for (size_t i = 0; i < len;) {
        size_t n = len - i < chunk ? len - i : chunk;
        size_t used = 0;
        bool at_boundary = !st.midline;
        size_t w = log_format(in + i, n, LOG_STAMP_NONE, &st, out + o, room, &used);
        if (at_boundary && w > room)
            abort(); /* past the file's limit */
        if (used < n && w > 0 && out[o + w - 1] != '\n')
            abort(); /* stopped inside a line */
        o += w;
        room -= w < room ? w : room;
        i += used;
        if (used == 0) {
            if (st.midline || room == limit)
                abort(); /* no progress at a fresh file, or stuck mid-line */
            room = limit; /* rotate */
        }
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > FUZZ_IN_BYTES_MAX)
        return 0;
    size_t chunk = (size_t)data[0] * 97 + 1;
    size_t limit = LOG_LINE_FORMATTED_MAX + (size_t)data[1] * 64;
    const char *in = (const char *)data + 2;
    size_t len = size - 2;
    char *a = malloc(log_format_bound(len));
    char *b = malloc(log_format_bound(len));
    char *c = malloc(log_format_bound(len));
    if (!a || !b || !c)
        abort();
    size_t na = format_all(in, len, len ? len : 1, SIZE_MAX / 2, a);
    size_t nb = format_all(in, len, chunk, SIZE_MAX / 2, b);
    size_t nc = format_all(in, len, chunk, limit, c);
    if (na != nb || memcmp(a, b, na) != 0 || na != nc || memcmp(a, c, na) != 0)
        abort();
    size_t line = 0;
    for (size_t i = 0; i < na; i++) {
        line = a[i] == '\n' ? 0 : line + 1;
        if (line > LOG_LINE_BYTES_MAX + sizeof LOG_SPLIT_MARK)
            abort();
    }
    free(a);
    free(b);
    free(c);
    return 0;
}
