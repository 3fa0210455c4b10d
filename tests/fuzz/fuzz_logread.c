/* fuzz_logread.c — libFuzzer target for what `bay0 log` reads from files
 * (src/cli_logall.c): a line's stamp (ISO 8601 or TAI64N), a --since
 * value, and a log/run script searched for its logger's directory. Byte 0
 * picks which; the rest is the input (NULs cut it, as in a C string).
 * Checks: a stamp's length is within the input and ends at its end or
 * after one space; a parsed time is not before 1970; a logger directory
 * found is a non-empty string, NUL-terminated within the buffer, with no
 * character of a computed word ($, `, quotes).
 */
#include "cli.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_INPUT_BYTES_MAX 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_INPUT_BYTES_MAX)
        return 0;
    char *s = malloc(size); /* exactly the input: ASan sees any over-read */
    memcpy(s, data + 1, size - 1);
    size_t len = size - 1;
    int64_t t = -1;
    switch (data[0] % 3) {
    case 0: {
        size_t n = cli_log_stamp_parse(s, len, &t);
        if (n > len || (n > 0 && t < 0) || (n > 0 && n < len && s[n - 1] != ' '))
            abort();
        break;
    }
    case 1: {
        char *z = malloc(len + 1);
        memcpy(z, s, len);
        z[len] = '\0';
        if (cli_log_since_parse(z, 1795900000LL * 1000000, &t) && t < -86400LL * 1000000 * 400000)
            abort();
        free(z);
        break;
    }
    default: {
        char *z = malloc(len + 1), out[64];
        memcpy(z, s, len);
        z[len] = '\0';
        memset(out, 'x', sizeof out);
        if (cli_log_logger_dir(z, out, sizeof out) &&
            (!memchr(out, '\0', sizeof out) || out[0] == '\0' || strpbrk(out, "$`'\"")))
            abort();
        free(z);
        break;
    }
    }
    free(s);
    return 0;
}
