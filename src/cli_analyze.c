/* cli_analyze.c — `bay0 analyze [blame | critical-chain [NAME]]`:
 * where the boot's time went, from the supervisor's "times" rows
 * (control.h): per service the first time it was wanted, spawned, up,
 * ready and exited, on CLOCK_BOOTTIME (the kernel's start is 0), and when
 * bay0 started and init completed on the same scale. Loggers are left
 * out. A client: reads, computes, prints; never changes anything.
 */
#include "cli.h"
#include "json.h"
#include "svc.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char analyze_usage[] =
    "usage: bay0 analyze [--json] [--rundir DIR] [blame | critical-chain [NAME]]\n"
    "  Where boot time went, on one clock that starts with the kernel\n"
    "  (CLOCK_BOOTTIME; each service's first start since bay0 started):\n"
    "  analyze          kernel to bay0, bay0 to init complete, and to every\n"
    "                   wanted service ready.\n"
    "  blame            services by start-to-ready time (spawn to readiness),\n"
    "                   longest first.\n"
    "  critical-chain [NAME]\n"
    "                   from NAME (default: the last service to become ready)\n"
    "                   down the dependencies that delayed it: each became\n"
    "                   ready after the one above was wanted. \"@\" is when a\n"
    "                   service became ready, \"+\" its start-to-ready time.\n"
    "  --json           blame, critical-chain and the totals as JSON.\n"
    "  Exit 1: NAME unknown or never ready; 3: no supervisor.\n";

struct unit {
    char *name;
    char *deps; /* "a,b" or "-" */
    const char *state;
    int64_t t[STAMP_COUNT]; /* the first start's stamps (µs), 0 = not yet */
};

struct times {
    int64_t start_us, init_us, now_us;
    struct unit *units;
    size_t n;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct unit *)a)->name, ((const struct unit *)b)->name);
}

/* Parses the "times" reply in place; 0 or a CLI exit code. */
static int parse_times(char *reply, struct times *tm)
{
    size_t rows = 0;
    for (const char *p = reply; (p = strstr(p, "T\t")) != NULL; p += 2)
        rows++;
    tm->units = cli_xcalloc(rows + 1, sizeof *tm->units);
    bool final_seen = false;
    for (char *line = strtok(reply, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "OK", 2) == 0) {
            long long s = 0, i = 0, n = 0;
            if (sscanf(line, "OK start_us=%lld init_us=%lld now_us=%lld", &s, &i, &n) != 3) {
                fprintf(stderr, "bay0 analyze: the supervisor does not know the times request "
                                "(an older bay0?)\n");
                return CLI_EXIT_NO;
            }
            tm->start_us = s, tm->init_us = i, tm->now_us = n;
            final_seen = true;
            continue;
        }
        if (strncmp(line, "ERR ", 4) == 0)
            return cli_finish_reply(line, true);
        if (strncmp(line, "T\t", 2) != 0)
            continue;
        char *f[4 + 2 * STAMP_COUNT];
        char *save = NULL, *tok = strtok_r(line + 2, "\t", &save);
        size_t k = 0;
        for (; tok && k < ARRAY_LEN(f); tok = strtok_r(NULL, "\t", &save))
            f[k++] = tok;
        if (k != ARRAY_LEN(f) || tm->n >= rows || strcmp(f[1], "logger") == 0)
            continue;
        struct unit *u = &tm->units[tm->n++];
        u->name = f[0];
        u->state = f[2];
        u->deps = f[3];
        for (int j = 0; j < STAMP_COUNT; j++)
            u->t[j] = strtoll(f[4 + j], NULL, 10);
    }
    if (!final_seen) {
        fprintf(stderr, "bay0 analyze: the supervisor closed the connection without an answer\n");
        return CLI_EXIT_TRYAGAIN;
    }
    qsort(tm->units, tm->n, sizeof *tm->units, by_name);
    return 0;
}

static struct unit *unit_find(const struct times *tm, const char *name)
{
    struct unit key = {.name = (char *)name};
    return bsearch(&key, tm->units, tm->n, sizeof *tm->units, by_name);
}

static double sec(int64_t us) { return (double)us / 1e6; }
static double msec(int64_t us) { return (double)us / 1e3; }

static int64_t start_to_ready(const struct unit *u) { return u->t[STAMP_READY] - u->t[STAMP_SPAWNED]; }

/* ---- totals --------------------------------------------------------------- */

static int print_totals(const struct times *tm, bool json)
{
    int64_t last_ready = 0;
    size_t wanted = 0, not_ready = 0;
    for (size_t i = 0; i < tm->n; i++) {
        const struct unit *u = &tm->units[i];
        if (!u->t[STAMP_WANTED])
            continue;
        wanted++;
        if (!u->t[STAMP_READY])
            not_ready++;
        else if (u->t[STAMP_READY] > last_ready)
            last_ready = u->t[STAMP_READY];
    }
    if (last_ready < tm->init_us)
        last_ready = tm->init_us;
    if (json) {
        printf("{\"kernel_to_bay0_ms\":%.3f,\"bay0_to_init_complete_ms\":%.3f,"
               "\"init_complete_to_services_ready_ms\":%.3f,\"boot_to_services_ready_ms\":%.3f,"
               "\"services_wanted\":%zu,\"services_not_ready\":%zu}\n",
               msec(tm->start_us), msec(tm->init_us - tm->start_us),
               msec(last_ready - tm->init_us), msec(last_ready), wanted, not_ready);
        return 0;
    }
    printf("kernel to bay0 start            %8.3fs\n", sec(tm->start_us));
    printf("bay0 start to init complete     %8.3fs\n", sec(tm->init_us - tm->start_us));
    printf("init complete to services ready %8.3fs  (%zu wanted)\n",
           sec(last_ready - tm->init_us), wanted);
    printf("boot to services ready          %8.3fs\n", sec(last_ready));
    if (not_ready) {
        printf("not ready yet (%zu):", not_ready);
        for (size_t i = 0; i < tm->n; i++)
            if (tm->units[i].t[STAMP_WANTED] && !tm->units[i].t[STAMP_READY])
                printf(" %s (%s)", tm->units[i].name, tm->units[i].state);
        putchar('\n');
    }
    return 0;
}

/* ---- blame ---------------------------------------------------------------- */

static int by_start_to_ready(const void *a, const void *b)
{
    const struct unit *const *x = a, *const *y = b;
    int64_t dx = start_to_ready(*x), dy = start_to_ready(*y);
    if (dx != dy)
        return dx < dy ? 1 : -1;
    return strcmp((*x)->name, (*y)->name);
}

static int print_blame(const struct times *tm, bool json)
{
    const struct unit **list = cli_xcalloc(tm->n + 1, sizeof *list);
    size_t n = 0;
    for (size_t i = 0; i < tm->n; i++)
        if (tm->units[i].t[STAMP_SPAWNED] && tm->units[i].t[STAMP_READY])
            list[n++] = &tm->units[i];
    qsort(list, n, sizeof *list, by_start_to_ready);
    if (json)
        putchar('[');
    for (size_t i = 0; i < n; i++) {
        if (!json) {
            printf("%9.3fs %s\n", sec(start_to_ready(list[i])), list[i]->name);
            continue;
        }
        printf("%s{\"unit\":", i ? ",\n " : "");
        cli_json_str(list[i]->name);
        printf(",\"start_to_ready_ms\":%.3f,\"spawned_ms\":%.3f,\"ready_ms\":%.3f}",
               msec(start_to_ready(list[i])), msec(list[i]->t[STAMP_SPAWNED]),
               msec(list[i]->t[STAMP_READY]));
    }
    if (json)
        printf("]\n");
    free(list);
    return 0;
}

/* ---- critical chain ------------------------------------------------------- */

/* a became ready after b (on a tie: was spawned after b, so it waited longer) */
static bool later(const struct unit *a, const struct unit *b)
{
    if (a->t[STAMP_READY] != b->t[STAMP_READY])
        return a->t[STAMP_READY] > b->t[STAMP_READY];
    return a->t[STAMP_SPAWNED] > b->t[STAMP_SPAWNED];
}

/* The dependency of u that delayed it: the last of its dependencies to
 * become ready, if that was after u was wanted (u waited for it). */
static struct unit *delayed_by(const struct times *tm, const struct unit *u)
{
    if (strcmp(u->deps, "-") == 0)
        return NULL;
    char buf[4096];
    str_copy(buf, sizeof buf, u->deps);
    struct unit *last = NULL;
    char *save = NULL;
    for (char *d = strtok_r(buf, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
        struct unit *dep = unit_find(tm, d);
        if (dep && dep->t[STAMP_READY] && (!last || later(dep, last)))
            last = dep;
    }
    if (!last || last->t[STAMP_READY] < u->t[STAMP_WANTED] ||
        last->t[STAMP_READY] > u->t[STAMP_SPAWNED])
        return NULL;
    return last;
}

static int print_chain(const struct times *tm, const char *name, bool json)
{
    struct unit *u = NULL;
    if (name) {
        u = unit_find(tm, name);
        if (!u) {
            fprintf(stderr, "bay0 analyze: no such service: %s (bay0 status lists them)\n", name);
            return CLI_EXIT_NO;
        }
    } else {
        for (size_t i = 0; i < tm->n; i++)
            if (tm->units[i].t[STAMP_READY] && (!u || later(&tm->units[i], u)))
                u = &tm->units[i];
        if (!u) {
            fprintf(stderr, "bay0 analyze: no service has become ready yet\n");
            return CLI_EXIT_NO;
        }
    }
    if (!u->t[STAMP_READY] || !u->t[STAMP_SPAWNED]) {
        fprintf(stderr, "bay0 analyze: %s has not become ready (state %s): no chain to show\n",
                u->name, u->state);
        return CLI_EXIT_NO;
    }
    if (json)
        putchar('[');
    else
        printf("\"@\": when the service became ready; \"+\": its start-to-ready time.\n\n");
    for (size_t depth = 0; u && depth <= tm->n; depth++) {
        if (json) {
            printf("%s{\"unit\":", depth ? ",\n " : "");
            cli_json_str(u->name);
            printf(",\"ready_ms\":%.3f,\"start_to_ready_ms\":%.3f,\"waited_ms\":%.3f}",
                   msec(u->t[STAMP_READY]), msec(start_to_ready(u)),
                   msec(u->t[STAMP_SPAWNED] - u->t[STAMP_WANTED]));
        } else {
            printf("%*s%s%s @%.3fs +%.3fs\n", (int)(depth ? 2 * depth - 2 : 0), "",
                   depth ? "\u2514\u2500" : "", u->name, sec(u->t[STAMP_READY]),
                   sec(start_to_ready(u)));
        }
        u = delayed_by(tm, u);
    }
    if (json)
        printf("]\n");
    return 0;
}

int cli_analyze(int argc, char **argv)
{
    struct cli_opts o = {0};
    int first = cli_parse_opts(argc, argv, &o, analyze_usage);
    if (first < 0)
        return -first;
    const char *what = first < argc ? argv[first] : "";
    int operands = argc - first;
    bool known = (operands == 0) || (operands == 1 && strcmp(what, "blame") == 0) ||
                 (operands <= 2 && strcmp(what, "critical-chain") == 0);
    if (!known) {
        fprintf(stderr, "bay0 analyze: unknown or misused subcommand '%s'\n%s", what,
                analyze_usage);
        return CLI_EXIT_USAGE;
    }
    char *reply = NULL;
    int rc = cli_transact(&o, "times\n", &reply);
    if (rc)
        return rc;
    struct times tm = {0};
    rc = parse_times(reply, &tm);
    if (rc == 0) {
        if (operands == 0)
            rc = print_totals(&tm, o.json);
        else if (strcmp(what, "blame") == 0)
            rc = print_blame(&tm, o.json);
        else
            rc = print_chain(&tm, operands == 2 ? argv[first + 1] : NULL, o.json);
    }
    free(tm.units);
    free(reply);
    return rc;
}
