/* cli_analyze.h — the client side of `bay0 analyze` (cli_times.c parses,
 * cli_analyze.c and cli_plot.c print): the "times" replies of the supervisor and of the persona
 * manager parsed into units, and what is printed from them. Clients
 * only; tests/fuzz/fuzz_analyze.c drives the parser and every printer.
 */
#ifndef BAY0_CLI_ANALYZE_H
#define BAY0_CLI_ANALYZE_H

#include "svc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct analyze_unit {
    char *name;
    char *deps;  /* "a,b" or "-" */
    const char *state;
    const char *type; /* longrun, oneshot, persona, tenant */
    bool persona;     /* a row of the persona manager */
    int64_t t[STAMP_COUNT]; /* the first record (µs), 0 = not yet */
    int64_t l[STAMP_COUNT]; /* the latest start */
};

struct analyze_times {
    int64_t start_us, init_us, now_us;
    bool personas_known;   /* the persona manager answered */
    int64_t reconciled_us; /* its boot reconcile's end, 0 = not yet */
    struct analyze_unit *units;
    size_t n;
};

/* Parses one "times" reply in place (it must stay alive as long as tm),
 * appending its rows; personas: the persona manager's. 0, or a CLI exit
 * code with the message printed. */
int analyze_times_parse(char *reply, bool personas, struct analyze_times *tm);
/* Sorts the units by name (for lookups); after the last parse. */
void analyze_times_sort(struct analyze_times *tm);
void analyze_times_free(struct analyze_times *tm);
/* The unit of that name (after analyze_times_sort), or NULL. */
const struct analyze_unit *analyze_unit_find(const struct analyze_times *tm, const char *name);
/* a became ready after b (on a tie: was spawned after b, so it waited longer) */
bool analyze_ready_after(const struct analyze_unit *a, const struct analyze_unit *b);
/* The dependency of u that delayed its (first) start, or NULL. */
const struct analyze_unit *analyze_delayed_by(const struct analyze_times *tm,
                                              const struct analyze_unit *u);

/* What `bay0 analyze [what [name]]` prints on stdout: "" the totals,
 * "blame", "critical-chain" (name may be NULL), "plot". Exit code. */
int analyze_print(const struct analyze_times *tm, const char *what, const char *name, bool json);

/* cli_plot.c: the SVG timeline. */
int analyze_plot(const struct analyze_times *tm);

#endif
