/* cli_analyze.c — `bay0 analyze [blame | critical-chain [NAME] | plot]`:
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
    "usage: bay0 analyze [--json] [--rundir DIR] [blame | critical-chain [NAME] | plot]\n"
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
    "  plot             an SVG timeline on stdout: bay0 analyze plot > boot.svg\n"
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

static int cli_plot(const struct times *tm); /* below */

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
        else if (strcmp(what, "critical-chain") == 0)
            rc = print_chain(&tm, operands == 2 ? argv[first + 1] : NULL, o.json);
        else
            rc = cli_plot(&tm);
    }
    free(tm.units);
    free(reply);
    return rc;
}

/* ---- plot ----------------------------------------------------------------- */

#define PLOT_BAR_PX 1000   /* the time axis */
#define PLOT_HEAD_PX 64    /* title, legend */
#define PLOT_AXIS_PX 28
#define PLOT_KERNEL_PX 90  /* the kernel's segment when not to scale */

static void xml_text(const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", stdout); break;
        case '<': fputs("&lt;", stdout); break;
        case '>': fputs("&gt;", stdout); break;
        case '"': fputs("&quot;", stdout); break;
        default: putchar(*s);
        }
    }
}

static int by_spawn(const void *a, const void *b)
{
    const struct unit *const *x = a, *const *y = b;
    int64_t sx = (*x)->t[STAMP_SPAWNED] ? (*x)->t[STAMP_SPAWNED] : (*x)->t[STAMP_WANTED];
    int64_t sy = (*y)->t[STAMP_SPAWNED] ? (*y)->t[STAMP_SPAWNED] : (*y)->t[STAMP_WANTED];
    if (sx != sy)
        return sx < sy ? -1 : 1;
    return strcmp((*x)->name, (*y)->name);
}

/* A tick step of 1, 2 or 5 times a power of ten (µs) giving 5-12 ticks. */
static int64_t tick_step(int64_t span_us)
{
    static const int mult[] = {1, 2, 5};
    for (int64_t step = 1000;; step *= 10)
        for (size_t i = 0; i < ARRAY_LEN(mult); i++)
            if (span_us / (step * mult[i]) <= 12)
                return step * mult[i];
}

struct plot {
    int64_t origin, end; /* µs on the axis */
    int x0;              /* px of origin */
    int row_px, font_px;
};

static double plot_x(const struct plot *p, int64_t t)
{
    if (t < p->origin)
        t = p->origin;
    return p->x0 + (double)(t - p->origin) * PLOT_BAR_PX / (double)(p->end - p->origin);
}

static void plot_bar(const struct plot *p, int y, int64_t from, int64_t to, const char *cls)
{
    if (!from || !to || to < from)
        return;
    double x = plot_x(p, from), w = plot_x(p, to) - x;
    printf("<rect class=\"%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>\n", cls, x,
           y + 2, w < 1 ? 1 : w, p->row_px - 4);
}

static int cli_plot(const struct times *tm)
{
    const struct unit **list = cli_xcalloc(tm->n + 1, sizeof *list);
    size_t n = 0;
    int64_t end = tm->init_us;
    size_t name_chars = 8;
    for (size_t i = 0; i < tm->n; i++) {
        const struct unit *u = &tm->units[i];
        if (!u->t[STAMP_WANTED])
            continue;
        list[n++] = u;
        for (int k = 0; k < STAMP_COUNT; k++)
            if (u->t[k] > end)
                end = u->t[k];
        if (strlen(u->name) > name_chars)
            name_chars = strlen(u->name);
    }
    qsort(list, n, sizeof *list, by_spawn);
    struct plot p = {.row_px = n > 60 ? 14 : 20, .font_px = n > 60 ? 10 : 12};
    const char *edge_style = n > 60 ? "stroke-width:1;opacity:.55" : "stroke-width:1.5";
    int name_px = (int)(name_chars > 40 ? 40 : name_chars) * p.font_px * 6 / 10 + 16;
    /* The kernel's segment to scale when it is not longer than what
     * follows; else a fixed block, and the axis starts at bay0's start. */
    bool kernel_to_scale = tm->start_us <= end - tm->start_us;
    p.origin = kernel_to_scale ? 0 : tm->start_us;
    p.end = end > p.origin ? end : p.origin + 1000;
    p.end += (p.end - p.origin) / 50 + 1; /* room after the last mark */
    p.x0 = name_px + (kernel_to_scale ? 0 : PLOT_KERNEL_PX);
    int width = p.x0 + PLOT_BAR_PX + 110;
    int rows_y = PLOT_HEAD_PX + p.row_px + 6; /* the kernel's row first */
    int height = rows_y + (int)n * p.row_px + PLOT_AXIS_PX + 20;
    int axis_y = rows_y + (int)n * p.row_px;

    printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
           "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"%d\">\n",
           width, height, width, height, p.font_px);
    printf("<style>\n"
           ".wait{fill:#d9d9d9}.spawn{fill:#7d7d7d}.start{fill:#f2a33a}.run{fill:#7cc47c}"
           ".kernel{fill:#9fb8d8}.edge{stroke:#2050b0;fill:none;%s}"
           ".grid{stroke:#e6e6e6}.mark{stroke:#c03030;stroke-dasharray:4 3}"
           ".odd{fill:#f3f3f3}.exit{fill:#c03030}text{fill:#222}.dim{fill:#555}"
           ".lbl{fill:#333;paint-order:stroke;stroke:#fff;stroke-width:3px}\n"
           "</style>\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
           edge_style);
    int64_t last_ready = 0;
    for (size_t i = 0; i < n; i++)
        if (list[i]->t[STAMP_READY] > last_ready)
            last_ready = list[i]->t[STAMP_READY];
    printf("<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">bay0 boot: "
           "%zu services, last ready %.3fs after the kernel started</text>\n",
           n, sec(last_ready));
    /* legend */
    static const char *const legend[][2] = {{"wait", "waiting for dependencies"},
                                            {"spawn", "spawning"},
                                            {"start", "starting (to ready)"},
                                            {"run", "ready"},
                                            {"kernel", "kernel"}};
    for (size_t i = 0; i < ARRAY_LEN(legend); i++) {
        int lx = 10 + (int)i * 170;
        printf("<rect class=\"%s\" x=\"%d\" y=\"32\" width=\"14\" height=\"10\"/>"
               "<text x=\"%d\" y=\"41\">%s</text>\n",
               legend[i][0], lx, lx + 18, legend[i][1]);
    }
    int ex = 10 + (int)ARRAY_LEN(legend) * 170;
    printf("<line class=\"edge\" x1=\"%d\" y1=\"37\" x2=\"%d\" y2=\"37\"/>"
           "<text x=\"%d\" y=\"41\">dependency that delayed a start</text>\n",
           ex, ex + 14, ex + 18);
    for (size_t i = 1; i < n; i += 2) /* row stripes under everything */
        printf("<rect class=\"odd\" x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n",
               rows_y + (int)i * p.row_px, width, p.row_px);
    /* grid and axis */
    int64_t step = tick_step(p.end - p.origin);
    for (int64_t t = (p.origin / step) * step; t <= p.end; t += step) {
        if (t < p.origin)
            continue;
        double x = plot_x(&p, t);
        printf("<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
               "<text class=\"dim\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%gs</text>"
               "<text class=\"dim\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%gs</text>\n",
               x, PLOT_HEAD_PX, x, axis_y, x, PLOT_HEAD_PX - 4, sec(t), x, axis_y + 16, sec(t));
    }
    printf("<line stroke=\"#444\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", p.x0, axis_y,
           p.x0 + PLOT_BAR_PX, axis_y);
    /* the kernel's row */
    int ky = PLOT_HEAD_PX + 2;
    printf("<text x=\"%d\" y=\"%d\" text-anchor=\"end\">kernel</text>\n", name_px - 6,
           ky + p.row_px - 6);
    if (kernel_to_scale)
        plot_bar(&p, ky, 1, tm->start_us, "kernel");
    else
        printf("<rect class=\"kernel\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>"
               "<text x=\"%d\" y=\"%d\">%.3fs (not to scale)</text>\n",
               name_px, ky + 2, PLOT_KERNEL_PX - 8, p.row_px - 4, p.x0 + 4, ky + p.row_px - 6,
               sec(tm->start_us));
    /* bay0 start and init complete */
    double xs = plot_x(&p, tm->start_us), xi = plot_x(&p, tm->init_us);
    printf("<line class=\"mark\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
           "<line class=\"mark\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n"
           "<text class=\"dim\" x=\"%.1f\" y=\"%d\" text-anchor=\"end\">bay0 start</text>"
           "<text class=\"dim\" x=\"%.1f\" y=\"%d\">init complete</text>\n",
           xs, PLOT_HEAD_PX, xs, axis_y + 4, xi, PLOT_HEAD_PX, xi, axis_y + 4, xs - 2,
           axis_y + PLOT_AXIS_PX + 2, xi + 2, axis_y + PLOT_AXIS_PX + 2);
    /* one row per service */
    for (size_t i = 0; i < n; i++) {
        const struct unit *u = list[i];
        int y = rows_y + (int)i * p.row_px;
        printf("<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", name_px - 6, y + p.row_px - 5);
        xml_text(u->name);
        printf("</text>\n");
        const int64_t *t = u->t;
        int64_t stop = t[STAMP_EXITED] > t[STAMP_READY] ? t[STAMP_EXITED] : p.end;
        plot_bar(&p, y, t[STAMP_WANTED], t[STAMP_SPAWNED] ? t[STAMP_SPAWNED] : p.end, "wait");
        plot_bar(&p, y, t[STAMP_SPAWNED], t[STAMP_UP], "spawn");
        plot_bar(&p, y, t[STAMP_UP], t[STAMP_READY] ? t[STAMP_READY] : p.end, "start");
        plot_bar(&p, y, t[STAMP_READY], stop, "run");
        if (t[STAMP_EXITED] && t[STAMP_EXITED] > t[STAMP_READY])
            printf("<rect class=\"exit\" x=\"%.1f\" y=\"%d\" width=\"2\" height=\"%d\"/>\n",
                   plot_x(&p, t[STAMP_EXITED]), y + 1, p.row_px - 2);
        double label_x = plot_x(&p, t[STAMP_READY] ? t[STAMP_READY] : p.end) + 4;
        if (t[STAMP_READY] && t[STAMP_SPAWNED])
            printf("<text class=\"lbl\" x=\"%.1f\" y=\"%d\">+%.3fs</text>\n", label_x,
                   y + p.row_px - 5, sec(start_to_ready(u)));
        else
            printf("<text class=\"lbl\" x=\"%.1f\" y=\"%d\">%s</text>\n", label_x,
                   y + p.row_px - 5, u->state);
    }
    /* the dependencies that delayed a start: from the dependency's ready
     * to the dependent's spawn */
    for (size_t i = 0; i < n; i++) {
        const struct unit *dep = delayed_by(tm, list[i]);
        size_t j = 0;
        while (dep && j < n && list[j] != dep)
            j++;
        if (!dep || j == n)
            continue;
        double x1 = plot_x(&p, dep->t[STAMP_READY]), x2 = plot_x(&p, list[i]->t[STAMP_SPAWNED]);
        int y1 = rows_y + (int)j * p.row_px + p.row_px / 2;
        int y2 = rows_y + (int)i * p.row_px + p.row_px / 2;
        printf("<path class=\"edge\" d=\"M%.1f %d L%.1f %d L%.1f %d\"/>\n", x1, y1, x1, y2, x2,
               y2);
    }
    printf("</svg>\n");
    free(list);
    return 0;
}

/* ---- events --------------------------------------------------------------- */

static const char events_usage[] =
    "usage: bay0 events [--json] [--rundir DIR]\n"
    "  Print state changes as they happen until interrupted: \"TIME NAME FROM -> TO\n"
    "  pid=PID [REASON]\" (TIME: seconds since the kernel started), or with --json\n"
    "  the supervisor's objects {\"time_us\", \"unit\", \"from\", \"to\", \"pid\",\n"
    "  \"reason\"}, one a line. A reader that falls behind is dropped (exit 3).\n";

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
