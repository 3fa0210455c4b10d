/* cli_logall.c — `bay0 log` without a NAME: every service's log merged by
 * time, like journalctl; and `bay0 log NAME` with --since or --json.
 * Sources: each directory of LOGDIR (the built-in logs, `bay0` the
 * supervisor's own), and each service whose `log/run` names its logger's
 * directory (s6-log, svlogd, multilog, bay0 logger: the last directory
 * argument, relative to the service's log/ directory). Stamps read: ISO
 * 8601 (bay0, s6-log T, svlogd -tt/-ttt) and TAI64N (s6-log t, svlogd -t,
 * bay0 logger -t tai64n); a line without one takes the time of the line
 * before it. Reads files only: works whether a supervisor runs or not.
 * A client: it may allocate and block.
 */
#include "cli.h"

#include "json.h"
#include "logfile.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOGALL_SOURCES_MAX 4096
#define LOGALL_RUN_BYTES_MAX 4096 /* a log/run script we look into */
#define LOGALL_TAI64_OFFSET 4611686018427387914LL /* 2^62 + 10, as logfile.c */
#define LOGALL_PARTIAL_BYTES_MAX (LOG_LINE_FORMATTED_MAX * 2)

struct source {
    char name[80];
    char dir[4096 + 96];
    int wd;          /* inotify watch, -1 none */
    int cur_fd;      /* following: current, -1 none */
    off_t cur_read;  /* bytes of current already shown */
    int64_t last_us; /* time of the last line read (for unstamped lines) */
    size_t partial_len;
    char *partial;   /* following: a line not ended yet */
};

struct line {
    int64_t t_us; /* 0: unknown */
    uint32_t src;
    uint64_t seq;
    const char *text; /* after the stamp, without the newline */
    size_t len;
};

struct lines {
    struct line *v;
    size_t n, cap;
};

/* Reads a whole file (archives are at most log-max-bytes). */
char *cli_log_slurp(int dir_fd, const char *name, size_t *len)
{
    int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char *buf = cli_xcalloc(1, (size_t)st.st_size + 1);
    ssize_t n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    *len = (size_t)n;
    return buf;
}

/* ---- pure parsers (fuzzed: tests/fuzz/fuzz_logread.c) ------------------ */

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* "YYYY-MM-DD" then 'T', ' ' or '_' and "HH:MM:SS", optional fraction,
 * optional 'Z': UTC µs. Returns the bytes used, 0 if it is not one. */
static size_t parse_iso(const char *s, size_t len, int64_t *t_us)
{
    int y, mo, d, h, mi, sec;
    if (len < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ' && s[10] != '_') ||
        s[13] != ':' || s[16] != ':' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
        !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
        !digits(s + 17, 2, &sec) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60 || y < 1970)
        return 0;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return 0;
    size_t i = 19;
    int64_t us = 0, scale = 100000;
    if (i < len && s[i] == '.') {
        for (i++; i < len && isdigit((unsigned char)s[i]); i++) {
            us += (s[i] - '0') * scale;
            scale /= 10;
        }
    }
    if (i < len && s[i] == 'Z')
        i++;
    *t_us = (int64_t)t * 1000000 + us;
    return i;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* "@" + 16 hex (TAI64 seconds) + 8 hex (ns). */
static size_t parse_tai64n(const char *s, size_t len, int64_t *t_us)
{
    if (len < 25 || s[0] != '@')
        return 0;
    uint64_t secs = 0, ns = 0;
    for (int i = 1; i < 25; i++) {
        int v = hexval(s[i]);
        if (v < 0)
            return 0;
        if (i <= 16)
            secs = secs << 4 | (uint64_t)v;
        else
            ns = ns << 4 | (uint64_t)v;
    }
    if (secs < (uint64_t)LOGALL_TAI64_OFFSET || secs - (uint64_t)LOGALL_TAI64_OFFSET > INT32_MAX * 8ull ||
        ns >= 1000000000ull)
        return 0;
    *t_us = (int64_t)(secs - (uint64_t)LOGALL_TAI64_OFFSET) * 1000000 + (int64_t)(ns / 1000);
    return 25;
}

size_t cli_log_stamp_parse(const char *s, size_t len, int64_t *t_us)
{
    size_t n = s[0] == '@' ? parse_tai64n(s, len, t_us) : parse_iso(s, len, t_us);
    if (n == 0 || (n < len && s[n] != ' '))
        return 0;
    return n < len ? n + 1 : n; /* the space after it */
}

/* --since: ISO 8601 (date, date and time; UTC), "@EPOCH", "-N[smhd]"
 * (ago), "today", "yesterday". */
bool cli_log_since_parse(const char *s, int64_t now_us, int64_t *out_us)
{
    size_t len = strlen(s);
    uint64_t v;
    if (len == 10 && s[4] == '-' && s[7] == '-') {
        char full[32];
        snprintf(full, sizeof full, "%sT00:00:00Z", s);
        return parse_iso(full, strlen(full), out_us) == strlen(full);
    }
    if (len >= 19 && parse_iso(s, len, out_us) == len)
        return true;
    if (s[0] == '@' && parse_u64(s + 1, INT32_MAX * 8ull, &v)) {
        *out_us = (int64_t)v * 1000000;
        return true;
    }
    int64_t day_us = 86400LL * 1000000;
    if (strcmp(s, "today") == 0 || strcmp(s, "yesterday") == 0) {
        *out_us = now_us - now_us % day_us - (s[0] == 'y' ? day_us : 0);
        return true;
    }
    if (len < 3 || s[0] != '-' || !strchr("smhd", s[len - 1]))
        return false;
    char num[24];
    if (len - 2 >= sizeof num)
        return false;
    memcpy(num, s + 1, len - 2);
    num[len - 2] = '\0';
    if (!parse_u64(num, 100000000, &v))
        return false;
    int64_t unit = s[len - 1] == 's' ? 1 : s[len - 1] == 'm' ? 60 : s[len - 1] == 'h' ? 3600 : 86400;
    *out_us = now_us - (int64_t)v * unit * 1000000;
    if (*out_us < 0) /* further back than 1970: every line */
        *out_us = 0;
    return true;
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* bay0 under the names a build or a package gives it: bay0, bay0-static,
 * bay0.musl, ... */
static bool is_bay0(const char *path)
{
    const char *b = base_of(path);
    return strncmp(b, "bay0", 4) == 0 && (b[4] == '\0' || b[4] == '-' || b[4] == '.');
}

/* The directory a log/run script hands its logger: the last argument of
 * the line that runs s6-log, svlogd, multilog or `bay0 logger` that is
 * not an option (for s6-log and multilog one that starts with / or .,
 * as they require). false when there is none or it is made at run time
 * ($VAR, `...`, quotes). */
bool cli_log_logger_dir(const char *run, char *out, size_t size)
{
    static const char *const loggers[] = {"s6-log", "multilog", "svlogd", "logger"};
    bool found = false;
    char line[LOGALL_RUN_BYTES_MAX];
    for (const char *p = run; *p;) {
        size_t n = strcspn(p, "\n");
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), p);
        p += n + (p[n] == '\n');
        char *tok[64], *save = NULL;
        int count = 0, prog = -1, kind = -1;
        for (char *t = strtok_r(line, " \t;", &save); t && count < 64 && t[0] != '#';
             t = strtok_r(NULL, " \t;", &save))
            tok[count++] = t;
        for (int i = 0; i < count && prog < 0; i++) {
            for (int k = 0; k < 4 && prog < 0; k++) {
                /* "logger" only as `bay0 logger` (not util-linux logger) */
                if (strcmp(base_of(tok[i]), loggers[k]) == 0 &&
                    (k < 3 || (i > 0 && is_bay0(tok[i - 1])))) {
                    prog = i;
                    kind = k;
                }
            }
        }
        const char *dir = NULL;
        for (int i = prog + 1; prog >= 0 && i < count; i++) {
            const char *t = tok[i];
            bool dotted = t[0] == '/' || t[0] == '.';
            if (t[0] == '-' || strpbrk(t, "<>&|") || (kind < 2 && !dotted))
                continue;
            dir = t;
        }
        if (dir && !strpbrk(dir, "$`'\"\\"))
            found = str_copy(out, size, dir);
    }
    return found;
}

/* ---- sources ------------------------------------------------------------- */

struct sources {
    struct source *v;
    uint32_t n;
};

static bool add_source(struct sources *ss, const char *name, const char *dir)
{
    if (ss->n >= LOGALL_SOURCES_MAX)
        return false;
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return false;
    for (uint32_t i = 0; i < ss->n; i++)
        if (strcmp(ss->v[i].dir, real) == 0)
            return false; /* a logger writing into LOGDIR: once */
    struct source *s = &ss->v[ss->n];
    memset(s, 0, sizeof *s);
    str_copy(s->name, sizeof s->name, name);
    str_copy(s->dir, sizeof s->dir, real);
    s->wd = -1;
    s->cur_fd = -1;
    ss->n++;
    return true;
}

struct dir_walk {
    struct sources *ss;
    const char *root;
    const char *only;
    bool loggers; /* root is the scan directory */
};

static bool walk_entry(const char *name, unsigned char d_type, void *ctx)
{
    struct dir_walk *w = ctx;
    (void)d_type;
    if (name[0] == '.' || (w->only && strcmp(name, w->only) != 0))
        return true;
    char path[4096 + 96];
    if (!w->loggers) {
        struct stat st;
        if (str_fmt(path, sizeof path, "%s/%s", w->root, name) && stat(path, &st) == 0 &&
            S_ISDIR(st.st_mode))
            add_source(w->ss, name, path);
        return true;
    }
    char run[LOGALL_RUN_BYTES_MAX], dir[4096];
    if (!str_fmt(path, sizeof path, "%s/%s/log/run", w->root, name) ||
        file_read_small(AT_FDCWD, path, run, sizeof run) < 0 ||
        !cli_log_logger_dir(run, dir, sizeof dir))
        return true;
    if (dir[0] != '/') {
        char rel[4096 + 96];
        if (!str_fmt(rel, sizeof rel, "%s/%s/log/%s", w->root, name, dir))
            return true;
        add_source(w->ss, name, rel);
    } else {
        add_source(w->ss, name, dir);
    }
    return true;
}

static void find_sources(struct sources *ss, const char *logdir, const char *scandir,
                         const char *only)
{
    struct dir_walk w = {ss, logdir, only, false};
    int fd = open(logdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        dir_each(fd, walk_entry, &w);
        close(fd);
    }
    fd = scandir ? open(scandir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        w.root = scandir;
        w.loggers = true;
        dir_each(fd, walk_entry, &w);
        close(fd);
    }
}

/* ---- reading ------------------------------------------------------------- */

static void push_line(struct lines *ls, struct line l)
{
    if (ls->n == ls->cap) {
        ls->cap = ls->cap ? ls->cap * 2 : 1024;
        struct line *v = realloc(ls->v, ls->cap * sizeof *v);
        if (!v) {
            fprintf(stderr, "bay0 log: out of memory\n");
            exit(CLI_EXIT_TRYAGAIN);
        }
        ls->v = v;
    }
    ls->v[ls->n++] = l;
}

/* Splits buf into lines of source s (stamps parsed) and keeps those at or
 * after since_us. */
static void split_lines(struct lines *ls, struct source *s, uint32_t src, char *buf, size_t len,
                        int64_t since_us, uint64_t *seq)
{
    for (size_t i = 0; i < len;) {
        char *nl = memchr(buf + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - buf) : len;
        int64_t t = 0;
        size_t st = cli_log_stamp_parse(buf + i, end - i, &t);
        if (st)
            s->last_us = t;
        struct line l = {s->last_us, src, (*seq)++, buf + i + st, end - i - st};
        if (l.t_us >= since_us)
            push_line(ls, l);
        i = end + 1;
    }
}

struct archives {
    char names[LOG_KEEP_MAX + 2][32];
    uint32_t n;
};

static bool archive_entry(const char *name, unsigned char d_type, void *ctx)
{
    (void)d_type;
    struct archives *a = ctx;
    if (a->n < LOG_KEEP_MAX + 1 && name[0] == '@' && strlen(name) < 32)
        str_copy(a->names[a->n++], sizeof a->names[0], name);
    return true;
}

static int cmp_name(const void *a, const void *b) { return strcmp(a, b); }

static void keep_buf(char ***bufs, size_t *nbufs, char *b)
{
    char **v = realloc(*bufs, (*nbufs + 1) * sizeof *v);
    if (!v) {
        fprintf(stderr, "bay0 log: out of memory\n");
        exit(CLI_EXIT_TRYAGAIN);
    }
    v[(*nbufs)++] = b;
    *bufs = v;
}

/* The archives that may hold lines at or after since_us (an archive's
 * name is the time of its rotation, after its last line), then current;
 * without since, the newest files that hold `want` lines. When following,
 * a last line of current without its newline is left to the follower. */
static void read_source(struct lines *ls, struct source *s, uint32_t src,
                        const struct cli_log_req *r, char ***bufs, size_t *nbufs)
{
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return;
    struct archives *a = cli_xcalloc(1, sizeof *a);
    dir_each(dfd, archive_entry, a);
    qsort(a->names, a->n, sizeof a->names[0], cmp_name);
    str_copy(a->names[a->n++], sizeof a->names[0], "current");
    char **fb = cli_xcalloc(a->n, sizeof *fb);
    size_t *fl = cli_xcalloc(a->n, sizeof *fl);
    uint32_t first = a->n;
    uint64_t have = 0;
    for (uint32_t i = a->n; i-- > 0;) {
        int64_t t = 0;
        if (i + 1 < a->n && r->since_us > 0 && parse_tai64n(a->names[i], 25, &t) &&
            t < r->since_us)
            break;
        if (!r->lines_all && r->since_us == 0 && have >= r->lines)
            break;
        fb[i] = cli_log_slurp(dfd, a->names[i], &fl[i]);
        first = i;
        for (size_t k = 0; fb[i] && k < fl[i]; k++)
            have += fb[i][k] == '\n';
    }
    struct stat st;
    if (fstatat(dfd, "current", &st, 0) == 0)
        s->cur_read = st.st_size; /* when current was not read */
    uint64_t seq = 0;
    for (uint32_t i = first; i < a->n; i++) {
        if (!fb[i])
            continue;
        size_t len = fl[i];
        if (i + 1 == a->n && r->follow)
            while (len > 0 && fb[i][len - 1] != '\n')
                len--;
        if (i + 1 == a->n)
            s->cur_read = (off_t)len;
        keep_buf(bufs, nbufs, fb[i]);
        split_lines(ls, s, src, fb[i], len, r->since_us, &seq);
    }
    free(fl);
    free(fb);
    free(a);
    close(dfd);
}

static int cmp_line(const void *a, const void *b)
{
    const struct line *x = a, *y = b;
    if (x->t_us != y->t_us)
        return x->t_us < y->t_us ? -1 : 1;
    if (x->src != y->src)
        return x->src < y->src ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- printing ------------------------------------------------------------ */

static void print_line(const struct source *s, int64_t t_us, const char *text, size_t len,
                       bool json)
{
    char iso[48] = "-";
    if (t_us > 0)
        time_iso_us(t_us / 1000000, (long)(t_us % 1000000) * 1000, iso, sizeof iso);
    if (!json) {
        printf("%s %s: %.*s\n", iso, s->name, (int)len, text);
        return;
    }
    char *copy = cli_xcalloc(1, len + 1);
    memcpy(copy, text, len);
    printf("{\"time\":");
    if (t_us > 0)
        printf("\"%s\",\"time_us\":%lld", iso, (long long)t_us);
    else
        printf("null,\"time_us\":null");
    printf(",\"service\":");
    cli_json_str(s->name);
    printf(",\"line\":");
    cli_json_str(copy);
    printf("}\n");
    free(copy);
}

/* ---- following ----------------------------------------------------------- */

static void emit_new(struct source *s, bool json)
{
    char buf[65536];
    for (;;) {
        ssize_t n = pread(s->cur_fd, buf, sizeof buf, s->cur_read);
        if (n <= 0)
            return;
        s->cur_read += n;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n' && s->partial_len < LOGALL_PARTIAL_BYTES_MAX) {
                s->partial[s->partial_len++] = buf[i];
                continue;
            }
            int64_t t = 0;
            size_t st = cli_log_stamp_parse(s->partial, s->partial_len, &t);
            if (st)
                s->last_us = t;
            print_line(s, s->last_us, s->partial + st, s->partial_len - st, json);
            s->partial_len = 0;
            if (buf[i] != '\n')
                s->partial[s->partial_len++] = buf[i];
        }
        fflush(stdout);
    }
}

static void watch_source(int in, struct source *s)
{
    s->partial = cli_xcalloc(1, LOGALL_PARTIAL_BYTES_MAX + 1);
    s->wd = inotify_add_watch(in, s->dir, IN_MODIFY | IN_CREATE | IN_MOVED_FROM);
    char cur[4096 + 128];
    if (str_fmt(cur, sizeof cur, "%s/current", s->dir))
        s->cur_fd = open(cur, O_RDONLY | O_CLOEXEC);
}

static void on_source_event(struct source *s, const struct inotify_event *e, bool json)
{
    if (!e->len || strcmp(e->name, "current") != 0)
        return;
    if ((e->mask & IN_MOVED_FROM) && s->cur_fd >= 0) {
        emit_new(s, json); /* what is left of the rotated file */
        close(s->cur_fd);
        s->cur_fd = -1;
        s->cur_read = 0;
    }
    if (s->cur_fd < 0) {
        char cur[4096 + 128];
        if (str_fmt(cur, sizeof cur, "%s/current", s->dir))
            s->cur_fd = open(cur, O_RDONLY | O_CLOEXEC);
        s->cur_read = 0;
    }
    if (s->cur_fd >= 0)
        emit_new(s, json);
}

/* New lines as they come, from every source (and from directories that
 * appear in LOGDIR when following them all). Ends on a write error. */
static int follow_all(struct sources *ss, const char *logdir, const char *only, bool json)
{
    int in = inotify_init1(IN_CLOEXEC);
    if (in < 0) {
        fprintf(stderr, "bay0 log: cannot watch the logs: %s\n", strerror(errno));
        return CLI_EXIT_NO;
    }
    int top = only ? -1 : inotify_add_watch(in, logdir, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
    for (uint32_t i = 0; i < ss->n; i++)
        watch_source(in, &ss->v[i]);
    for (uint32_t i = 0; i < ss->n; i++)
        if (ss->v[i].cur_fd >= 0)
            emit_new(&ss->v[i], json); /* written between the tail and the watch */
    char ev[64 * (sizeof(struct inotify_event) + NAME_MAX + 1)] __attribute__((aligned(8)));
    for (;;) {
        ssize_t n = read(in, ev, sizeof ev);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return CLI_EXIT_NO;
        for (char *p = ev; p < ev + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            p += sizeof *e + e->len;
            if (e->wd == top && top >= 0 && (e->mask & IN_ISDIR) && e->len) {
                char path[4096 + 96];
                if (str_fmt(path, sizeof path, "%s/%s", logdir, e->name) &&
                    add_source(ss, e->name, path)) {
                    watch_source(in, &ss->v[ss->n - 1]);
                    if (ss->v[ss->n - 1].cur_fd >= 0)
                        emit_new(&ss->v[ss->n - 1], json);
                }
                continue;
            }
            for (uint32_t i = 0; i < ss->n; i++)
                if (ss->v[i].wd == e->wd)
                    on_source_event(&ss->v[i], e, json);
        }
        if (ferror(stdout))
            return CLI_EXIT_OK;
    }
}

int cli_log_merged(const struct cli_log_req *r)
{
    struct sources ss = {cli_xcalloc(LOGALL_SOURCES_MAX, sizeof(struct source)), 0};
    find_sources(&ss, r->logdir, r->scandir, r->only);
    if (r->only && ss.n == 0) {
        fprintf(stderr, "bay0 log: %s has written nothing yet (no %s/%s)\n", r->only, r->logdir,
                r->only);
        free(ss.v);
        return CLI_EXIT_NO;
    }
    struct lines ls = {0};
    char **bufs = NULL;
    size_t nbufs = 0;
    for (uint32_t i = 0; i < ss.n; i++)
        read_source(&ls, &ss.v[i], i, r, &bufs, &nbufs);
    if (ls.n > 1) /* ls.v is NULL when nothing was read: not for qsort */
        qsort(ls.v, ls.n, sizeof *ls.v, cmp_line);
    size_t from = r->lines_all || ls.n <= r->lines ? 0 : ls.n - r->lines;
    for (size_t i = from; i < ls.n; i++)
        print_line(&ss.v[ls.v[i].src], ls.v[i].t_us, ls.v[i].text, ls.v[i].len, r->json);
    fflush(stdout);
    for (size_t i = 0; i < nbufs; i++)
        free(bufs[i]);
    free(bufs);
    free(ls.v);
    int rc = r->follow ? follow_all(&ss, r->logdir, r->only, r->json) : CLI_EXIT_OK;
    for (uint32_t i = 0; i < ss.n; i++) {
        free(ss.v[i].partial);
        if (ss.v[i].cur_fd >= 0)
            close(ss.v[i].cur_fd);
    }
    free(ss.v);
    return rc;
}
