/* cli_plot.c — `bay0 analyze plot > boot.svg`: the boot as an SVG
 * timeline from the parsed "times" replies (cli_analyze.h). One row per
 * service, persona and tenant, sorted by start; the first start's bars
 * (waiting, spawning, starting, ready) on a time axis that starts with the
 * kernel, the dependency edges that delayed a start, bay0's start and
 * init complete marked; a unit started again later (a restart, a death)
 * shows its latest start too: on the axis when it falls there, and in a
 * column on the right in any case. Readable at 10 and at 200 rows.
 * A client: writes stdout only.
 */
#include "cli_analyze.h"

#include "cli.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLOT_BAR_PX 1000     /* the time axis */
#define PLOT_HEAD_PX 64      /* title, legend */
#define PLOT_AXIS_PX 28
#define PLOT_KERNEL_PX 90    /* the kernel's segment when not to scale */
#define PLOT_LABEL_PX 110    /* room for "+1.234s" after the last bar */
#define PLOT_LATEST_PX 190   /* the latest-start column */
#define PLOT_NAME_CHARS_MAX 40
#define PLOT_MANY_ROWS 60    /* beyond: smaller rows and lighter edges */

struct plot {
    const struct analyze_unit **list; /* the rows, by start */
    size_t n;
    int64_t origin, end; /* µs on the axis */
    int x0;              /* px of origin */
    int name_px, row_px, font_px;
    int rows_y, axis_y, width, height;
    bool kernel_to_scale;
    bool any_latest; /* some unit started again: the column */
};

static double sec(int64_t us) { return (double)us / 1e6; }

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
    const struct analyze_unit *const *x = a, *const *y = b;
    int64_t sx = (*x)->t[STAMP_SPAWNED] ? (*x)->t[STAMP_SPAWNED] : (*x)->t[STAMP_WANTED];
    int64_t sy = (*y)->t[STAMP_SPAWNED] ? (*y)->t[STAMP_SPAWNED] : (*y)->t[STAMP_WANTED];
    if (sx != sy)
        return sx < sy ? -1 : 1;
    return strcmp((*x)->name, (*y)->name);
}

/* A later start than the first: a new wanted or spawn time. */
static bool has_latest(const struct analyze_unit *u)
{
    return u->l[STAMP_WANTED] && (u->l[STAMP_WANTED] != u->t[STAMP_WANTED] ||
                                  u->l[STAMP_SPAWNED] != u->t[STAMP_SPAWNED]);
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

static double plot_x(const struct plot *p, int64_t t)
{
    if (t < p->origin)
        t = p->origin;
    if (t > p->end)
        t = p->end;
    return p->x0 + (double)(t - p->origin) * PLOT_BAR_PX / (double)(p->end - p->origin);
}

static void plot_bar(const struct plot *p, int y, int h, int64_t from, int64_t to,
                     const char *cls)
{
    if (!from || !to || to < from || from > p->end)
        return;
    double x = plot_x(p, from), w = plot_x(p, to) - x;
    printf("<rect class=\"%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>\n", cls, x, y,
           w < 1 ? 1 : w, h);
}

/* The rows (every unit ever wanted), the axis and the page's size. The
 * axis ends at the last first-start milestone (a first run's exit long
 * after the boot would squash it: exits past the end are not drawn). */
static void plot_layout(const struct analyze_times *tm, struct plot *p)
{
    p->list = cli_xcalloc(tm->n + 1, sizeof *p->list);
    int64_t end = tm->init_us;
    size_t name_chars = 8;
    for (size_t i = 0; i < tm->n; i++) {
        const struct analyze_unit *u = &tm->units[i];
        if (!u->t[STAMP_WANTED])
            continue;
        p->list[p->n++] = u;
        for (int k = STAMP_WANTED; k <= STAMP_READY; k++)
            if (u->t[k] > end)
                end = u->t[k];
        if (strlen(u->name) > name_chars)
            name_chars = strlen(u->name);
        p->any_latest |= has_latest(u);
    }
    qsort(p->list, p->n, sizeof *p->list, by_spawn);
    bool many = p->n > PLOT_MANY_ROWS;
    p->row_px = many ? 14 : 20;
    p->font_px = many ? 10 : 12;
    p->name_px = (int)(name_chars > PLOT_NAME_CHARS_MAX ? PLOT_NAME_CHARS_MAX : name_chars) *
                     p->font_px * 6 / 10 + 16;
    /* The kernel's segment to scale when it is not longer than what
     * follows; else a fixed block, and the axis starts at bay0's start. */
    p->kernel_to_scale = tm->start_us <= end - tm->start_us;
    p->origin = p->kernel_to_scale ? 0 : tm->start_us;
    p->end = end > p->origin ? end : p->origin + 1000;
    p->end += (p->end - p->origin) / 50 + 1; /* room after the last mark */
    p->x0 = p->name_px + (p->kernel_to_scale ? 0 : PLOT_KERNEL_PX);
    p->width = p->x0 + PLOT_BAR_PX + PLOT_LABEL_PX + (p->any_latest ? PLOT_LATEST_PX : 0);
    p->rows_y = PLOT_HEAD_PX + p->row_px + 6; /* the kernel's row first */
    p->axis_y = p->rows_y + (int)p->n * p->row_px;
    p->height = p->axis_y + PLOT_AXIS_PX + 20;
}

static void plot_head(const struct plot *p)
{
    printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
           "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"%d\">\n",
           p->width, p->height, p->width, p->height, p->font_px);
    printf("<style>\n"
           ".wait{fill:#d9d9d9}.spawn{fill:#7d7d7d}.start{fill:#f2a33a}.run{fill:#7cc47c}"
           ".kernel{fill:#9fb8d8}.edge{stroke:#2050b0;fill:none;%s}"
           ".grid{stroke:#e6e6e6}.mark{stroke:#c03030;stroke-dasharray:4 3}"
           ".odd{fill:#f3f3f3}.exit{fill:#c03030}text{fill:#222}.dim{fill:#555}"
           ".late{fill:none;stroke:#6a3d9a;stroke-width:1.5}"
           ".lbl{fill:#333;paint-order:stroke;stroke:#fff;stroke-width:3px}\n"
           "</style>\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
           p->n > PLOT_MANY_ROWS ? "stroke-width:1;opacity:.55" : "stroke-width:1.5");
    int64_t last_ready = 0;
    size_t personas = 0;
    for (size_t i = 0; i < p->n; i++) {
        personas += p->list[i]->persona;
        if (p->list[i]->t[STAMP_READY] > last_ready)
            last_ready = p->list[i]->t[STAMP_READY];
    }
    printf("<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">bay0 boot: "
           "%zu services", p->n - personas);
    if (personas)
        printf(", %zu personas", personas);
    printf(", last ready %.3fs after the kernel started</text>\n", sec(last_ready));
}

static void plot_legend(const struct plot *p)
{
    static const char *const legend[][2] = {{"wait", "waiting for dependencies"},
                                            {"spawn", "spawning"},
                                            {"start", "starting (to ready)"},
                                            {"run", "ready"},
                                            {"kernel", "kernel"}};
    int lx = 10;
    for (size_t i = 0; i < ARRAY_LEN(legend); i++, lx += 170)
        printf("<rect class=\"%s\" x=\"%d\" y=\"32\" width=\"14\" height=\"10\"/>"
               "<text x=\"%d\" y=\"41\">%s</text>\n",
               legend[i][0], lx, lx + 18, legend[i][1]);
    printf("<line class=\"edge\" x1=\"%d\" y1=\"37\" x2=\"%d\" y2=\"37\"/>"
           "<text x=\"%d\" y=\"41\">dependency that delayed a start</text>\n",
           lx, lx + 14, lx + 18);
    lx += 240; /* past "dependency that delayed a start" */
    if (p->any_latest)
        printf("<rect class=\"late\" x=\"%d\" y=\"34\" width=\"14\" height=\"7\"/>"
               "<text x=\"%d\" y=\"41\">latest start (spawn to ready)</text>\n",
               lx, lx + 18);
}

/* Row stripes, the grid with the time labels top and bottom, the axis. */
static void plot_grid(const struct plot *p)
{
    for (size_t i = 1; i < p->n; i += 2)
        printf("<rect class=\"odd\" x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n",
               p->rows_y + (int)i * p->row_px, p->width, p->row_px);
    int64_t step = tick_step(p->end - p->origin);
    for (int64_t t = (p->origin / step) * step; t <= p->end; t += step) {
        if (t < p->origin)
            continue;
        double x = plot_x(p, t);
        printf("<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
               "<text class=\"dim\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%gs</text>"
               "<text class=\"dim\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%gs</text>\n",
               x, PLOT_HEAD_PX, x, p->axis_y, x, PLOT_HEAD_PX - 4, sec(t), x, p->axis_y + 16,
               sec(t));
    }
    printf("<line stroke=\"#444\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", p->x0, p->axis_y,
           p->x0 + PLOT_BAR_PX, p->axis_y);
    if (p->any_latest)
        printf("<text class=\"dim\" x=\"%d\" y=\"%d\">latest start</text>\n",
               p->x0 + PLOT_BAR_PX + PLOT_LABEL_PX, PLOT_HEAD_PX + p->row_px - 6);
}

/* The kernel's row, and bay0's start and init complete marked. */
static void plot_marks(const struct analyze_times *tm, const struct plot *p)
{
    int ky = PLOT_HEAD_PX + 2;
    printf("<text x=\"%d\" y=\"%d\" text-anchor=\"end\">kernel</text>\n", p->name_px - 6,
           ky + p->row_px - 6);
    if (p->kernel_to_scale)
        plot_bar(p, ky + 2, p->row_px - 4, 1, tm->start_us, "kernel");
    else
        printf("<rect class=\"kernel\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>"
               "<text x=\"%d\" y=\"%d\">%.3fs (not to scale)</text>\n",
               p->name_px, ky + 2, PLOT_KERNEL_PX - 8, p->row_px - 4, p->x0 + 4,
               ky + p->row_px - 6, sec(tm->start_us));
    double xs = plot_x(p, tm->start_us), xi = plot_x(p, tm->init_us);
    int y2 = p->axis_y + 4, ty = p->axis_y + PLOT_AXIS_PX + 2;
    printf("<line class=\"mark\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
           "<line class=\"mark\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n"
           "<text class=\"dim\" x=\"%.1f\" y=\"%d\" text-anchor=\"end\">bay0 start</text>"
           "<text class=\"dim\" x=\"%.1f\" y=\"%d\">init complete</text>\n",
           xs, PLOT_HEAD_PX, xs, y2, xi, PLOT_HEAD_PX, xi, y2, xs - 2, ty, xi + 2, ty);
}

/* The latest start: outlined on the axis where it falls there, and its
 * times in the right-hand column. */
static void plot_latest(const struct plot *p, const struct analyze_unit *u, int y)
{
    const int64_t *l = u->l;
    int64_t from = l[STAMP_SPAWNED] ? l[STAMP_SPAWNED] : l[STAMP_WANTED];
    plot_bar(p, y + p->row_px / 2, p->row_px / 2 - 2, from,
             l[STAMP_READY] ? l[STAMP_READY] : p->end, "late");
    printf("<text class=\"lbl\" x=\"%d\" y=\"%d\">@%.3fs ", p->x0 + PLOT_BAR_PX + PLOT_LABEL_PX,
           y + p->row_px - 5, sec(from));
    if (l[STAMP_READY] && l[STAMP_SPAWNED])
        printf("+%.3fs", sec(l[STAMP_READY] - l[STAMP_SPAWNED]));
    else
        xml_text(u->state);
    printf("</text>\n");
}

static void plot_row(const struct plot *p, const struct analyze_unit *u, int y)
{
    printf("<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", p->name_px - 6, y + p->row_px - 5);
    xml_text(u->name);
    printf("</text>\n");
    const int64_t *t = u->t;
    int h = p->row_px - 4;
    bool exit_shown = t[STAMP_EXITED] > t[STAMP_READY] && t[STAMP_EXITED] <= p->end;
    plot_bar(p, y + 2, h, t[STAMP_WANTED], t[STAMP_SPAWNED] ? t[STAMP_SPAWNED] : p->end, "wait");
    plot_bar(p, y + 2, h, t[STAMP_SPAWNED], t[STAMP_UP], "spawn");
    plot_bar(p, y + 2, h, t[STAMP_UP], t[STAMP_READY] ? t[STAMP_READY] : p->end, "start");
    plot_bar(p, y + 2, h, t[STAMP_READY], exit_shown ? t[STAMP_EXITED] : p->end, "run");
    if (exit_shown)
        printf("<rect class=\"exit\" x=\"%.1f\" y=\"%d\" width=\"2\" height=\"%d\"/>\n",
               plot_x(p, t[STAMP_EXITED]), y + 1, p->row_px - 2);
    double label_x = plot_x(p, t[STAMP_READY] ? t[STAMP_READY] : p->end) + 4;
    printf("<text class=\"lbl\" x=\"%.1f\" y=\"%d\">", label_x, y + p->row_px - 5);
    if (t[STAMP_READY] && t[STAMP_SPAWNED])
        printf("+%.3fs", sec(t[STAMP_READY] - t[STAMP_SPAWNED]));
    else
        xml_text(u->state);
    printf("</text>\n");
    if (has_latest(u))
        plot_latest(p, u, y);
}

/* The dependencies that delayed a start: from the dependency's ready to
 * the dependent's spawn. */
static void plot_edges(const struct analyze_times *tm, const struct plot *p)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct analyze_unit *dep = analyze_delayed_by(tm, p->list[i]);
        size_t j = 0;
        while (dep && j < p->n && p->list[j] != dep)
            j++;
        if (!dep || j == p->n)
            continue;
        double x1 = plot_x(p, dep->t[STAMP_READY]);
        double x2 = plot_x(p, p->list[i]->t[STAMP_SPAWNED]);
        int y1 = p->rows_y + (int)j * p->row_px + p->row_px / 2;
        int y2 = p->rows_y + (int)i * p->row_px + p->row_px / 2;
        printf("<path class=\"edge\" d=\"M%.1f %d L%.1f %d L%.1f %d\"/>\n", x1, y1, x1, y2, x2,
               y2);
    }
}

int analyze_plot(const struct analyze_times *tm)
{
    struct plot p = {0};
    plot_layout(tm, &p);
    plot_head(&p);
    plot_legend(&p);
    plot_grid(&p);
    plot_marks(tm, &p);
    for (size_t i = 0; i < p.n; i++)
        plot_row(&p, p.list[i], p.rows_y + (int)i * p.row_px);
    plot_edges(tm, &p);
    printf("</svg>\n");
    free(p.list);
    return 0;
}
