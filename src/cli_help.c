/* cli_help.c — `bay0 help TOPIC`: the man pages bay0(8) and
 * bay0-servicedir(5) are compiled into the binary (the build makes
 * man_pages.h from docs/), so their text is there where no `man` is (the
 * Spine). TOPIC: a command (`log`, `persona`), a section of bay0(8)
 * (`signals`, `control-socket`), `servicedir` (the whole page 5) or one of
 * its files (`notification-fd`, `log/run`); `bay0 help topics` lists them.
 * A small roff reader: the man macros these pages use, filled at 78
 * columns. A client: no state, no supervisor.
 */
#include "cli.h"

#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#if __has_include("man_pages.h")
#include "man_pages.h" /* man_bay0_8, man_bay0_servicedir_5 (Makefile) */
#else                  /* a build without the generated pages (the fuzzers) */
static const char man_bay0_8[] = "";
static const char man_bay0_servicedir_5[] = "";
#endif

#define HELP_WIDTH 78
#define HELP_LINE_BYTES_MAX 4096
#define HELP_TOPIC_BYTES_MAX 64

/* ---- roff to text --------------------------------------------------------- */

struct out {
    char para[16384];
    size_t len;
    int indent;      /* columns for the body */
    bool nofill;
    char tag[256];   /* .TP / .IP tag waiting for its paragraph */
    bool tag_next;   /* the next text line is a .TP tag */
};

/* Escapes into plain text: \- \(bu \fB ... */
static void unescape(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = in; *p && o + 4 < size; p++) {
        if (*p != '\\') {
            out[o++] = *p;
            continue;
        }
        char c = *++p;
        if (c == '\0')
            break;
        if (c == '-' || c == 'e' || c == ' ')
            out[o++] = c == 'e' ? '\\' : c;
        else if (c == 'f' && p[1] == '(')
            p += p[2] && p[3] ? 3 : 1;
        else if (c == 'f' && p[1])
            p++;
        else if (c == '(' && p[1] && p[2]) {
            const char *name = p + 1;
            out[o++] = strncmp(name, "bu", 2) == 0 ? '*'
                       : strncmp(name, "aq", 2) == 0 ? '\''
                       : strncmp(name, "dq", 2) == 0 ? '"'
                                                     : '-';
            p += 2;
        } else if (c == '"')
            break; /* a comment to the end of the line */
        /* \& \| \^ and the rest: nothing */
    }
    out[o] = '\0';
}

/* A macro's arguments, quotes honoured, joined with sep ("" for the
 * alternating-font macros, " " for .B/.I). */
static void macro_args(const char *args, const char *sep, char *out, size_t size)
{
    size_t o = 0;
    out[0] = '\0';
    for (const char *p = args; *p;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        char word[HELP_LINE_BYTES_MAX];
        size_t w = 0;
        if (*p == '"') {
            for (p++; *p && *p != '"' && w + 1 < sizeof word; p++)
                word[w++] = *p;
            p += *p == '"';
        } else {
            for (; *p && *p != ' ' && w + 1 < sizeof word; p++)
                word[w++] = *p;
        }
        word[w] = '\0';
        o += (size_t)snprintf(out + o, o < size ? size - o : 0, "%s%s", o ? sep : "", word);
        if (o >= size)
            break;
    }
}

static void flush(struct out *d)
{
    const char *p = d->para;
    bool first = true;
    if (d->tag[0]) {
        printf("%*s%s", d->indent - 4 > 0 ? d->indent - 4 : 0, "", d->tag);
        int used = (d->indent - 4 > 0 ? d->indent - 4 : 0) + (int)strlen(d->tag);
        if (used + 1 >= d->indent || d->len == 0)
            printf("\n");
        else {
            printf("%*s", d->indent - used, "");
            first = false;
        }
        d->tag[0] = '\0';
    }
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t room = (size_t)(HELP_WIDTH - d->indent), n = strlen(p);
        if (n > room) {
            n = room;
            while (n > 0 && p[n] != ' ')
                n--;
            if (n == 0)
                n = strcspn(p, " ");
        }
        printf("%*s%.*s\n", first ? d->indent : 0, "", (int)n, p);
        first = true;
        p += n;
    }
    d->len = 0;
    d->para[0] = '\0';
}

static void add_text(struct out *d, const char *text)
{
    if (d->tag_next) {
        str_copy(d->tag, sizeof d->tag, text);
        d->tag_next = false;
        return;
    }
    if (d->nofill) {
        printf("%*s%s\n", d->indent, "", text);
        return;
    }
    int n = snprintf(d->para + d->len, sizeof d->para - d->len, "%s%s", d->len ? " " : "", text);
    if (n > 0 && (size_t)n < sizeof d->para - d->len)
        d->len += (size_t)n;
}

/* One line of roff. */
static void render_line(struct out *d, const char *line)
{
    char text[HELP_LINE_BYTES_MAX], args[HELP_LINE_BYTES_MAX];
    if (line[0] != '.' && line[0] != '\'') {
        unescape(line, text, sizeof text);
        if (!text[0] && !d->nofill) {
            flush(d);
            printf("\n");
        } else
            add_text(d, text);
        return;
    }
    char mac[8] = "";
    size_t m = strcspn(line + 1, " ");
    snprintf(mac, sizeof mac, "%.*s", (int)(m < 7 ? m : 7), line + 1);
    unescape(line[1 + m] ? line + 2 + m : "", text, sizeof text);
    if (strcmp(mac, "SH") == 0 || strcmp(mac, "SS") == 0) {
        flush(d);
        macro_args(text, " ", args, sizeof args);
        printf("\n%s%s\n", mac[1] == 'S' ? "  " : "", args);
        d->indent = 4;
    } else if (strcmp(mac, "B") == 0 || strcmp(mac, "I") == 0 || strcmp(mac, "SM") == 0) {
        macro_args(text, " ", args, sizeof args);
        add_text(d, args);
    } else if (strlen(mac) == 2 && strchr("BIR", mac[0]) && strchr("BIR", mac[1])) {
        macro_args(text, "", args, sizeof args);
        add_text(d, args);
    } else if (strcmp(mac, "PP") == 0 || strcmp(mac, "LP") == 0 || strcmp(mac, "P") == 0 ||
               strcmp(mac, "sp") == 0) {
        flush(d);
        printf("\n");
    } else if (strcmp(mac, "TP") == 0) {
        flush(d);
        d->tag_next = true;
    } else if (strcmp(mac, "IP") == 0) {
        flush(d);
        macro_args(text, " ", args, sizeof args);
        char *space = strrchr(args, ' ');
        if (space && isdigit((unsigned char)space[1]))
            *space = '\0'; /* the width */
        str_copy(d->tag, sizeof d->tag, args);
    } else if (strcmp(mac, "RS") == 0 || strcmp(mac, "RE") == 0) {
        flush(d);
        d->indent += mac[1] == 'S' ? 4 : -4;
        if (d->indent < 4)
            d->indent = 4;
    } else if (strcmp(mac, "nf") == 0 || strcmp(mac, "EX") == 0) {
        flush(d);
        d->nofill = true;
    } else if (strcmp(mac, "fi") == 0 || strcmp(mac, "EE") == 0) {
        d->nofill = false;
    }
    /* .TH .\" .ad .hy .ne and the rest: nothing to show */
}

/* ---- topics --------------------------------------------------------------- */

enum block { BLOCK_NONE, BLOCK_SH, BLOCK_SS, BLOCK_TP };

/* The topic names a heading or a tag gives ("bay0 enable | disable [...]"
 * -> enable, disable; "SERVICE STATES" -> service-states; ".B log/run"
 * -> log/run). */
static size_t topics_of(enum block kind, const char *heading, char out[][HELP_TOPIC_BYTES_MAX],
                        size_t max)
{
    char h[HELP_LINE_BYTES_MAX];
    macro_args(heading, " ", h, sizeof h);
    size_t n = 0;
    if (kind == BLOCK_SH) {
        size_t i = 0;
        for (; h[i] && i + 1 < HELP_TOPIC_BYTES_MAX; i++)
            out[0][i] = h[i] == ' ' ? '-' : (char)tolower((unsigned char)h[i]);
        out[0][i] = '\0';
        return 1;
    }
    if (kind == BLOCK_TP) {
        snprintf(out[0], HELP_TOPIC_BYTES_MAX, "%.*s", (int)strcspn(h, " "), h);
        return out[0][0] ? 1 : 0;
    }
    if (strncmp(h, "bay0 ", 5) != 0)
        return 0;
    for (const char *p = h + 5; n < max;) {
        size_t w = strcspn(p, " ,[");
        snprintf(out[n++], HELP_TOPIC_BYTES_MAX, "%.*s", (int)w, p);
        p += w;
        if (strncmp(p, " | ", 3) != 0)
            break;
        p += 3;
        if (p[strcspn(p, " ")] && p[strcspn(p, " ")] == ' ' && p[strcspn(p, " ") + 1] != '|' &&
            p[strcspn(p, " ") + 1] != '[')
            break; /* "start | stop ... p://NAME": words of one command */
    }
    return n;
}

struct page {
    const char *text;
    bool files; /* .TP tags are topics (bay0-servicedir(5)) */
};

static const struct page pages[] = {
    {man_bay0_8, false},
    {man_bay0_servicedir_5, true},
};

/* Calls fn for each line of each page with the block it opens (if any). */
typedef bool (*line_fn)(void *ctx, const struct page *pg, enum block kind, const char *line,
                        const char *next);

static void each_line(line_fn fn, void *ctx)
{
    for (size_t i = 0; i < ARRAY_LEN(pages); i++) {
        char line[HELP_LINE_BYTES_MAX], next[HELP_LINE_BYTES_MAX];
        for (const char *p = pages[i].text; *p;) {
            size_t n = strcspn(p, "\n");
            snprintf(line, sizeof line, "%.*s", (int)n, p);
            p += n + (p[n] == '\n');
            size_t nn = strcspn(p, "\n");
            snprintf(next, sizeof next, "%.*s", (int)nn, p);
            enum block kind = strncmp(line, ".SH ", 4) == 0   ? BLOCK_SH
                              : strncmp(line, ".SS ", 4) == 0 ? BLOCK_SS
                              : strcmp(line, ".TP") == 0 && pages[i].files ? BLOCK_TP
                                                                            : BLOCK_NONE;
            if (!fn(ctx, &pages[i], kind, line, next))
                return;
        }
    }
}

static const char *block_heading(enum block kind, const char *line, const char *next,
                                 char *buf, size_t size)
{
    if (kind == BLOCK_TP) {
        const char *sp = strchr(next, ' ');
        unescape(next[0] == '.' && sp ? sp + 1 : next, buf, size);
    } else {
        unescape(line + 4, buf, size);
    }
    return buf;
}

#define HELP_TOPICS_MAX 512

struct topic_list {
    char names[HELP_TOPICS_MAX][HELP_TOPIC_BYTES_MAX];
    size_t n;
};

static bool list_topic(void *ctx, const struct page *pg, enum block kind, const char *line,
                       const char *next)
{
    struct topic_list *l = ctx;
    (void)pg;
    if (kind == BLOCK_NONE)
        return true;
    char h[HELP_LINE_BYTES_MAX], t[8][HELP_TOPIC_BYTES_MAX];
    size_t n = topics_of(kind, block_heading(kind, line, next, h, sizeof h), t, 8);
    for (size_t i = 0; i < n; i++) {
        bool seen = !strcmp(t[i], "name") || !strcmp(t[i], "synopsis") ||
                    !strcmp(t[i], "description");
        for (size_t k = 0; k < l->n && !seen; k++)
            seen = strcmp(l->names[k], t[i]) == 0;
        if (!seen && l->n < HELP_TOPICS_MAX) {
            str_copy(l->names[l->n++], HELP_TOPIC_BYTES_MAX, t[i]);
            printf("%s\n", t[i]);
        }
    }
    return true;
}

struct show {
    const char *topic;
    struct out out;
    enum block printing; /* the kind of block being printed, or NONE */
    bool whole_page5;
    size_t shown;
};

static bool matches(const struct show *s, enum block kind, const char *heading)
{
    char t[8][HELP_TOPIC_BYTES_MAX];
    size_t n = topics_of(kind, heading, t, 8);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(t[i]);
        if (strcmp(t[i], s->topic) == 0 ||
            (len > 1 && t[i][len - 1] == '/' && strncmp(t[i], s->topic, len - 1) == 0 &&
             s->topic[len - 1] == '\0')) /* env/ as env */
            return true;
    }
    return false;
}

static bool show_line(void *ctx, const struct page *pg, enum block kind, const char *line,
                      const char *next)
{
    struct show *s = ctx;
    if (s->whole_page5) {
        if (pg->files)
            render_line(&s->out, line);
        return true;
    }
    /* a block ends at the next block of its level or above */
    if (s->printing != BLOCK_NONE && kind != BLOCK_NONE && kind <= s->printing) {
        flush(&s->out);
        s->printing = BLOCK_NONE;
    }
    char h[HELP_LINE_BYTES_MAX];
    if (s->printing == BLOCK_NONE && kind != BLOCK_NONE &&
        matches(s, kind, block_heading(kind, line, next, h, sizeof h))) {
        s->printing = kind;
        s->shown++;
        s->out.indent = 4;
        s->out.nofill = false;
        if (kind == BLOCK_TP)
            printf("\nbay0-servicedir(5):\n");
    }
    if (s->printing != BLOCK_NONE)
        render_line(&s->out, line);
    return true;
}

int cli_help_topic(const char *topic)
{
    if (!man_bay0_8[0]) {
        fprintf(stderr, "bay0 help: this build has no man pages inside (docs/bay0.8 in the "
                        "source has them)\n");
        return CLI_EXIT_NO;
    }
    if (strcmp(topic, "topics") == 0) {
        static struct topic_list l;
        l.n = 0;
        each_line(list_topic, &l);
        printf("servicedir\n");
        return CLI_EXIT_OK;
    }
    static struct show s;
    memset(&s, 0, sizeof s);
    s.topic = topic;
    s.out.indent = 4;
    s.whole_page5 = strcmp(topic, "servicedir") == 0 || strcmp(topic, "bay0-servicedir") == 0;
    each_line(show_line, &s);
    flush(&s.out);
    if (s.whole_page5 || s.shown > 0)
        return CLI_EXIT_OK;
    fprintf(stderr, "bay0 help: no topic '%s'; `bay0 help topics` lists them (commands, "
                    "sections of bay0(8), servicedir and its files)\n", topic);
    return CLI_EXIT_NO;
}
