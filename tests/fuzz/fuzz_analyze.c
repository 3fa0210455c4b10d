/* fuzz_analyze.c — libFuzzer target for the client side of `bay0
 * analyze` (src/cli_analyze.c, src/cli_plot.c): the "times" replies of
 * the supervisor and of the persona manager, when they are arbitrary
 * bytes, parsed (analyze_times_parse) and printed every way the command
 * prints them (totals, blame, critical-chain with and without a NAME,
 * plot; text and --json).
 *
 * Input: byte 0 picks what is printed (bits 0-2: totals, blame, chain,
 * chain web, plot; bit 3 --json; bit 4 no persona reply); the rest is the
 * supervisor's reply, then, after the first NUL byte, the persona
 * manager's.
 * Checks: no crash, leak or sanitizer report; the exit code is 0-124;
 * every parsed unit has a name, a type, a state and dependencies.
 * stdout and stderr are noise: run with -close_fd_mask=3 (run.sh does).
 */
#include "cli_analyze.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_INPUT_BYTES_MAX 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dup_bytes(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static void check_units(const struct analyze_times *tm)
{
    for (size_t i = 0; i < tm->n; i++) {
        const struct analyze_unit *u = &tm->units[i];
        if (!u->name || !u->type || !u->state || !u->deps)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > FUZZ_INPUT_BYTES_MAX)
        return -1;
    unsigned mode = data[0];
    const uint8_t *body = data + 1, *nul = memchr(body, '\0', size - 1);
    size_t sup_len = nul ? (size_t)(nul - body) : size - 1;
    char *sup = dup_bytes(body, sup_len);
    char *per = nul && !(mode & 16) ? dup_bytes(nul + 1, size - 2 - sup_len) : NULL;
    static const char *const whats[] = {"", "blame", "critical-chain", "critical-chain",
                                        "plot", "", "blame", "plot"};
    const char *what = whats[mode & 7];
    const char *name = (mode & 7) == 3 ? "web" : NULL;
    struct analyze_times tm = {0};
    int rc = analyze_times_parse(sup, false, &tm);
    if (rc == 0 && per)
        (void)analyze_times_parse(per, true, &tm); /* as cli_analyze: personas left out */
    if (rc == 0) {
        analyze_times_sort(&tm);
        check_units(&tm);
        rc = analyze_print(&tm, what, name, mode & 8);
    }
    fflush(stdout);
    analyze_times_free(&tm);
    free(sup);
    free(per);
    if (rc < 0 || rc > 124) {
        fprintf(stderr, "exit code %d\n", rc);
        abort();
    }
    return 0;
}
