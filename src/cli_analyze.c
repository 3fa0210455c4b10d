/* cli_analyze.c — `bay0 analyze [blame | critical-chain [NAME] | plot]`:
 * where the boot's time went, from two "times" replies: the supervisor's
 * (control.h: per service when it was wanted, spawned, up, ready and
 * exited, first and latest start, and when bay0 started and init
 * completed) and the persona manager's (persona_mgr.c: the same per
 * persona and tenant), all on CLOCK_BOOTTIME (the kernel's start is 0).
 * Loggers are left out. And `bay0 events`. A client: reads, computes,
 * prints; never changes anything. The plot is cli_plot.c.
 */
#include "cli_analyze.h"

#include "cli.h"
#include "json.h"
#include "persona_mgr.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PERSONAS_TIMEOUT_S 5 /* the persona manager answers at once, or is stuck */
static const char analyze_usage[] =
    "usage: bay0 analyze [--json] [--rundir DIR] [blame | critical-chain [NAME] | plot]\n"
    "  Where boot time went, on one clock that starts with the kernel\n"
    "  (CLOCK_BOOTTIME; services' and personas' first start since bay0 and\n"
    "  the persona manager started):\n"
    "  analyze          kernel to bay0, bay0 to init complete, and to every\n"
    "                   wanted service ready and every wanted persona running.\n"
    "  blame            services and personas by start-to-ready time (spawn\n"
    "                   to readiness; a persona: its start job to running),\n"
    "                   longest first.\n"
    "  critical-chain [NAME]\n"
    "                   from NAME (default: the last unit to become ready)\n"
    "                   down the dependencies that delayed it: each became\n"
    "                   ready after the one above was wanted. \"@\" is when a\n"
    "                   unit became ready, \"+\" its start-to-ready time.\n"
    "  plot             an SVG timeline on stdout: bay0 analyze plot > boot.svg\n"
    "                   (the first start's bars, and each unit's latest start)\n"
    "  --json           blame, critical-chain and the totals as JSON.\n"
    "  Exit 1: NAME unknown or never ready; 3: no supervisor.\n";

static double sec(int64_t us) { return (double)us / 1e6; }
static double msec(int64_t us) { return (double)us / 1e3; }

static int64_t start_to_ready(const struct analyze_unit *u)
{
    return u->t[STAMP_READY] - u->t[STAMP_SPAWNED];
}

/* ---- totals --------------------------------------------------------------- */

struct tally {
    size_t wanted, not_ready, adopted;
    int64_t last_ready;
};

/* Over the services (personas false) or the personas: how many were
 * wanted, how many are not ready, the last first-ready. */
static struct tally tally(const struct analyze_times *tm, bool personas)
{
    struct tally y = {0};
    for (size_t i = 0; i < tm->n; i++) {
        const struct analyze_unit *u = &tm->units[i];
        if (u->persona != personas)
            continue;
        if (!u->t[STAMP_WANTED]) {
            /* running since before this persona manager: adopted */
            y.adopted += personas && strcmp(u->state, "running") == 0;
            continue;
        }
        y.wanted++;
        if (!u->t[STAMP_READY])
            y.not_ready++;
        else if (u->t[STAMP_READY] > y.last_ready)
            y.last_ready = u->t[STAMP_READY];
    }
    return y;
}

static void print_not_ready(const struct analyze_times *tm, bool personas, size_t count)
{
    if (!count)
        return;
    printf("%s (%zu):", personas ? "personas not running yet" : "not ready yet", count);
    for (size_t i = 0; i < tm->n; i++) {
        const struct analyze_unit *u = &tm->units[i];
        if (u->persona == personas && u->t[STAMP_WANTED] && !u->t[STAMP_READY])
            printf(" %s (%s)", u->name, u->state);
    }
    putchar('\n');
}

static void print_totals_json(const struct analyze_times *tm, const struct tally *sv,
                              const struct tally *ps)
{
    printf("{\"kernel_to_bay0_ms\":%.3f,\"bay0_to_init_complete_ms\":%.3f,"
           "\"init_complete_to_services_ready_ms\":%.3f,\"boot_to_services_ready_ms\":%.3f,"
           "\"services_wanted\":%zu,\"services_not_ready\":%zu,\"persona_manager\":%s",
           msec(tm->start_us), msec(tm->init_us - tm->start_us),
           msec(sv->last_ready - tm->init_us), msec(sv->last_ready), sv->wanted, sv->not_ready,
           tm->personas_known ? "true" : "false");
    if (tm->personas_known && ps->wanted)
        printf(",\"init_complete_to_personas_running_ms\":%.3f,"
               "\"boot_to_personas_running_ms\":%.3f",
               msec(ps->last_ready - tm->init_us), msec(ps->last_ready));
    if (tm->personas_known)
        printf(",\"personas_wanted\":%zu,\"personas_not_running\":%zu,\"personas_adopted\":%zu",
               ps->wanted, ps->not_ready, ps->adopted);
    printf("}\n");
}

static int print_totals(const struct analyze_times *tm, bool json)
{
    struct tally sv = tally(tm, false), ps = tally(tm, true);
    if (sv.last_ready < tm->init_us)
        sv.last_ready = tm->init_us;
    if (ps.last_ready < tm->init_us)
        ps.last_ready = tm->init_us;
    if (json) {
        print_totals_json(tm, &sv, &ps);
        return 0;
    }
    printf("kernel to bay0 start              %8.3fs\n", sec(tm->start_us));
    printf("bay0 start to init complete       %8.3fs\n", sec(tm->init_us - tm->start_us));
    printf("init complete to services ready   %8.3fs  (%zu wanted)\n",
           sec(sv.last_ready - tm->init_us), sv.wanted);
    if (tm->personas_known && ps.wanted)
        printf("init complete to personas running %8.3fs  (%zu wanted)\n",
               sec(ps.last_ready - tm->init_us), ps.wanted);
    printf("boot to services ready            %8.3fs\n", sec(sv.last_ready));
    if (tm->personas_known && ps.wanted)
        printf("boot to personas running          %8.3fs\n", sec(ps.last_ready));
    else if (tm->personas_known)
        printf("personas: none wanted since the persona manager started\n");
    if (ps.adopted)
        printf("personas adopted (running before the persona manager started): %zu\n",
               ps.adopted);
    print_not_ready(tm, false, sv.not_ready);
    print_not_ready(tm, true, ps.not_ready);
    return 0;
}

/* ---- blame ---------------------------------------------------------------- */

static int by_start_to_ready(const void *a, const void *b)
{
    const struct analyze_unit *const *x = a, *const *y = b;
    int64_t dx = start_to_ready(*x), dy = start_to_ready(*y);
    if (dx != dy)
        return dx < dy ? 1 : -1;
    return strcmp((*x)->name, (*y)->name);
}

static int print_blame(const struct analyze_times *tm, bool json)
{
    const struct analyze_unit **list = cli_xcalloc(tm->n + 1, sizeof *list);
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
        printf(",\"type\":");
        cli_json_str(list[i]->type);
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

/* NAME, or the last unit to become ready; NULL with the message printed. */
static const struct analyze_unit *chain_head(const struct analyze_times *tm, const char *name)
{
    const struct analyze_unit *u = NULL;
    if (name) {
        u = analyze_unit_find(tm, name);
        if (!u)
            fprintf(stderr, "bay0 analyze: no such service or persona: %s "
                            "(bay0 status and bay0 persona list name them)\n", name);
    } else {
        for (size_t i = 0; i < tm->n; i++)
            if (tm->units[i].t[STAMP_READY] && (!u || analyze_ready_after(&tm->units[i], u)))
                u = &tm->units[i];
        if (!u)
            fprintf(stderr, "bay0 analyze: nothing has become ready yet\n");
    }
    if (u && u->persona && !u->t[STAMP_WANTED]) {
        fprintf(stderr, "bay0 analyze: %s (%s) was not started by this persona manager "
                        "(adopted, or never started): no chain to show\n", u->name, u->state);
        return NULL;
    }
    if (u && (!u->t[STAMP_READY] || !u->t[STAMP_SPAWNED])) {
        fprintf(stderr, "bay0 analyze: %s has not become ready (state %s): no chain to show\n",
                u->name, u->state);
        return NULL;
    }
    return u;
}

static int print_chain(const struct analyze_times *tm, const char *name, bool json)
{
    const struct analyze_unit *u = chain_head(tm, name);
    if (!u)
        return CLI_EXIT_NO;
    if (json)
        putchar('[');
    else
        printf("\"@\": when the unit became ready; \"+\": its start-to-ready time.\n\n");
    /* a dependency was ready before its dependent was spawned: the chain
     * goes back in time, so at most n links */
    for (size_t depth = 0; u && depth < tm->n; depth++) {
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
        u = analyze_delayed_by(tm, u);
    }
    if (json)
        printf("]\n");
    return 0;
}

int analyze_print(const struct analyze_times *tm, const char *what, const char *name, bool json)
{
    if (what[0] == '\0')
        return print_totals(tm, json);
    if (strcmp(what, "blame") == 0)
        return print_blame(tm, json);
    if (strcmp(what, "critical-chain") == 0)
        return print_chain(tm, name, json);
    return analyze_plot(tm);
}

/* The persona manager's rows, when there is one (RUNDIR/persona exists):
 * a manager that does not answer leaves personas out, said on stderr. */
static void add_personas(const struct cli_opts *o, struct analyze_times *tm, char **reply)
{
    char path[512];
    struct stat st;
    if (!str_fmt(path, sizeof path, "%s/%s", cli_rundir(o->rundir), PERSONA_SOCKET_NAME) ||
        (stat(path, &st) < 0 && errno == ENOENT))
        return;
    struct cli_opts q = *o;
    q.timeout_s = PERSONAS_TIMEOUT_S;
    q.quiet_timeout = true;
    if (cli_transact_at(&q, PERSONA_SOCKET_NAME, "times\n", reply) != 0 ||
        analyze_times_parse(*reply, true, tm) != 0)
        fprintf(stderr, "bay0 analyze: no answer from the persona manager%s: personas "
                        "left out\n", cli_timed_out ? " in 5 s" : "");
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
                 (operands <= 2 && strcmp(what, "critical-chain") == 0) ||
                 (operands == 1 && strcmp(what, "plot") == 0);
    if (!known) {
        fprintf(stderr, "bay0 analyze: unknown or misused subcommand '%s'\n%s", what,
                analyze_usage);
        return CLI_EXIT_USAGE;
    }
    char *reply = NULL, *preply = NULL;
    int rc = cli_transact(&o, "times\n", &reply);
    if (rc)
        return rc;
    struct analyze_times tm = {0};
    rc = analyze_times_parse(reply, false, &tm);
    if (rc == 0) {
        add_personas(&o, &tm, &preply);
        analyze_times_sort(&tm);
        rc = analyze_print(&tm, what, operands == 2 ? argv[first + 1] : NULL, o.json);
    }
    analyze_times_free(&tm);
    free(reply);
    free(preply);
    return rc;
}

/* ---- events --------------------------------------------------------------- */

static const char events_usage[] =
    "usage: bay0 events [--json] [--rundir DIR]\n"
    "  Print state changes as they happen until interrupted: \"TIME NAME FROM -> TO\n"
    "  pid=PID [REASON]\" (TIME: seconds since the kernel started), or with --json\n"
    "  the supervisor's objects {\"time_us\", \"unit\", \"from\", \"to\", \"pid\",\n"
    "  \"reason\"}, one a line, after a first {\"subscribed_us\":N}: from then on no\n"
    "  change is missed (read the state you wait on, then wait for its change).\n"
    "  A reader that falls behind is dropped (exit 3).\n";

/* The value of "key":"..." or "key":N in one of bay0's event lines. */
static bool event_field(const char *line, const char *key, char *buf, size_t size)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p)
        return false;
    p += strlen(pat);
    bool quoted = *p == '"';
    p += quoted;
    size_t n = 0;
    for (; *p && n + 1 < size; p++) {
        if (quoted && *p == '\\' && p[1]) {
            buf[n++] = *++p;
            continue;
        }
        if (quoted ? *p == '"' : (*p == ',' || *p == '}'))
            break;
        buf[n++] = *p;
    }
    buf[n] = '\0';
    return true;
}

int cli_events(int argc, char **argv)
{
    struct cli_opts o = {0};
    int first = cli_parse_opts(argc, argv, &o, events_usage);
    if (first < 0)
        return -first;
    if (first < argc) {
        fprintf(stderr, "bay0 events: takes no operands\n%s", events_usage);
        return CLI_EXIT_USAGE;
    }
    int fd = cli_connect(&o);
    if (fd < 0)
        return -fd;
    FILE *in = fdopen(fd, "r+");
    if (!in || fputs("events\n", in) == EOF || fflush(in) == EOF) {
        fprintf(stderr, "bay0 events: sending the request failed\n");
        return CLI_EXIT_TRYAGAIN;
    }
    char line[4096];
    int rc = CLI_EXIT_TRYAGAIN; /* the supervisor went away */
    while (fgets(line, sizeof line, in)) {
        if (strncmp(line, "ERR ", 4) == 0) {
            rc = cli_finish_reply(line, true);
            break;
        }
        if (strstr(line, "\"dropped\":")) {
            fprintf(stderr, "bay0 events: dropped by the supervisor: %s", line);
            break;
        }
        if (o.json) {
            fputs(line, stdout);
        } else {
            char t[32], unit[SERVICE_NAME_BYTES_MAX + 8], from[32], to[32], pid[16], why[512];
            if (!event_field(line, "time_us", t, sizeof t) ||
                !event_field(line, "unit", unit, sizeof unit) ||
                !event_field(line, "from", from, sizeof from) ||
                !event_field(line, "to", to, sizeof to) ||
                !event_field(line, "pid", pid, sizeof pid) ||
                !event_field(line, "reason", why, sizeof why))
                continue;
            printf("%.6f %s %s -> %s pid=%s%s%s\n", sec(strtoll(t, NULL, 10)), unit, from, to,
                   pid, why[0] ? " " : "", why);
        }
        fflush(stdout);
    }
    fclose(in);
    return rc;
}
