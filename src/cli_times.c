/* cli_times.c — the "times" replies of the supervisor and of the persona
 * manager parsed into units (cli_analyze.h), and the questions asked of
 * them by both printers, cli_analyze.c's and cli_plot.c's: a unit by
 * name, the dependency that delayed a start. Clients only.
 */
#include "cli_analyze.h"

#include "cli.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A time beyond a century of uptime is not one: such a row is dropped
 * (and no difference of two times can overflow). */
#define ANALYZE_US_MAX (100LL * 366 * 24 * 3600 * 1000000)

/* A time field: 0..ANALYZE_US_MAX, digits only. */
static bool parse_us(const char *s, int64_t *out)
{
    uint64_t v = 0;
    if (!parse_u64(s, (uint64_t)ANALYZE_US_MAX, &v))
        return false;
    *out = (int64_t)v;
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct analyze_unit *)a)->name,
                  ((const struct analyze_unit *)b)->name);
}

static bool parse_summary(const char *line, bool personas, struct analyze_times *tm)
{
    char s[24], i[24], n[24];
    int64_t start = 0, mid = 0, now = 0;
    int got = personas ? sscanf(line, "OK start_us=%23s reconciled_us=%23s now_us=%23s", s, i, n)
                       : sscanf(line, "OK start_us=%23s init_us=%23s now_us=%23s", s, i, n);
    if (got != 3 || !parse_us(s, &start) || !parse_us(i, &mid) || !parse_us(n, &now))
        return false;
    if (personas) {
        tm->personas_known = true;
        tm->reconciled_us = mid;
    } else {
        tm->start_us = start, tm->init_us = mid, tm->now_us = now;
    }
    return true;
}

/* One "T" row (line without "T\t"): appended to tm->units, which has room. */
static void parse_row(char *line, bool personas, struct analyze_times *tm)
{
    char *f[4 + 2 * STAMP_COUNT];
    char *save = NULL, *tok = strtok_r(line, "\t", &save);
    size_t k = 0;
    for (; tok && k < ARRAY_LEN(f); tok = strtok_r(NULL, "\t", &save))
        f[k++] = tok;
    if (k != ARRAY_LEN(f) || strcmp(f[1], "logger") == 0)
        return;
    struct analyze_unit *u = &tm->units[tm->n];
    *u = (struct analyze_unit){.name = f[0], .type = f[1], .state = f[2], .deps = f[3],
                               .persona = personas};
    for (int j = 0; j < STAMP_COUNT; j++)
        if (!parse_us(f[4 + j], &u->t[j]) || !parse_us(f[4 + STAMP_COUNT + j], &u->l[j]))
            return; /* not a row of ours */
    tm->n++;
}

int analyze_times_parse(char *reply, bool personas, struct analyze_times *tm)
{
    const char *who = personas ? "the persona manager" : "the supervisor";
    size_t rows = 0;
    for (const char *p = reply; (p = strstr(p, "T\t")) != NULL; p += 2)
        rows++;
    struct analyze_unit *grown = realloc(tm->units, (tm->n + rows + 1) * sizeof *grown);
    if (!grown) {
        fprintf(stderr, "bay0 analyze: out of memory for %zu rows\n", tm->n + rows);
        return CLI_EXIT_TRYAGAIN;
    }
    tm->units = grown;
    size_t limit = tm->n + rows;
    for (char *line = strtok(reply, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "OK", 2) == 0) {
            if (parse_summary(line, personas, tm))
                return 0;
            fprintf(stderr, "bay0 analyze: %s does not know the times request (an older bay0?)\n",
                    who);
            return CLI_EXIT_NO;
        }
        if (strncmp(line, "ERR ", 4) == 0)
            return cli_finish_reply(line, true);
        if (strncmp(line, "T\t", 2) == 0 && tm->n < limit)
            parse_row(line + 2, personas, tm);
    }
    fprintf(stderr, "bay0 analyze: %s closed the connection without an answer\n", who);
    return CLI_EXIT_TRYAGAIN;
}

void analyze_times_sort(struct analyze_times *tm)
{
    if (tm->n)
        qsort(tm->units, tm->n, sizeof *tm->units, by_name);
}

void analyze_times_free(struct analyze_times *tm)
{
    free(tm->units);
    tm->units = NULL;
    tm->n = 0;
}

const struct analyze_unit *analyze_unit_find(const struct analyze_times *tm, const char *name)
{
    struct analyze_unit key = {.name = (char *)name};
    return tm->n ? bsearch(&key, tm->units, tm->n, sizeof *tm->units, by_name) : NULL;
}

bool analyze_ready_after(const struct analyze_unit *a, const struct analyze_unit *b)
{
    if (a->t[STAMP_READY] != b->t[STAMP_READY])
        return a->t[STAMP_READY] > b->t[STAMP_READY];
    return a->t[STAMP_SPAWNED] > b->t[STAMP_SPAWNED];
}

/* The last of u's dependencies to become ready, if that was after u was
 * wanted and before it was spawned (u waited for it). */
const struct analyze_unit *analyze_delayed_by(const struct analyze_times *tm,
                                              const struct analyze_unit *u)
{
    if (strcmp(u->deps, "-") == 0)
        return NULL;
    char buf[4096];
    str_copy(buf, sizeof buf, u->deps);
    const struct analyze_unit *last = NULL;
    char *save = NULL;
    for (char *d = strtok_r(buf, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
        const struct analyze_unit *dep = analyze_unit_find(tm, d);
        if (dep && dep != u && dep->t[STAMP_READY] && (!last || analyze_ready_after(dep, last)))
            last = dep;
    }
    if (!last || last->t[STAMP_READY] < u->t[STAMP_WANTED] ||
        last->t[STAMP_READY] > u->t[STAMP_SPAWNED])
        return NULL;
    return last;
}
