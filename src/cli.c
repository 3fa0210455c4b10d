/* cli.c — clients of the control socket (see control.h for the protocol)
 * and `bay0 supervise`. Runs in short-lived client processes, so it may
 * allocate; it never runs inside the supervisor's loop.
 */
#include "cli.h"

#include "control.h"
#include "deps.h"
#include "json.h"
#include "log.h"
#include "supervise.h"
#include "state/state.h"
#include "svcdir.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CLI_REPLY_BYTES_MAX (64u * 1024 * 1024)
#define PERSIST_TIMEOUT_MS 2000
#define CLI_PING_TIMEOUT_MS 5000


const char *cli_rundir(const char *option)
{
    if (option)
        return option;
    const char *env = getenv("BAY0_RUNDIR");
    return env && env[0] ? env : "/run/bay0";
}

/* A client out of memory has nothing better to do than say so and exit. */
static void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size);
    if (!q) {
        fprintf(stderr, "bay0: out of memory (%zu bytes)\n", size);
        exit(CLI_EXIT_TRYAGAIN);
    }
    return q;
}

void *cli_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "bay0: out of memory (%zu x %zu bytes)\n", n, size);
        exit(CLI_EXIT_TRYAGAIN);
    }
    return p;
}

/* ---- talking to the supervisor ------------------------------------------ */

static int connect_control(const char *rundir, const char *sock_name)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (!str_fmt(addr.sun_path, sizeof addr.sun_path, "%s/%s", rundir, sock_name)) {
        fprintf(stderr, "bay0: rundir path too long: %s\n", rundir);
        return -CLI_EXIT_USAGE;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        if (strcmp(sock_name, "control") == 0)
            fprintf(stderr, "bay0: cannot reach the supervisor at %s: %s "
                            "(is bay0 running? use --rundir or BAY0_RUNDIR)\n",
                    addr.sun_path, strerror(err));
        else
            fprintf(stderr, "bay0: cannot reach the persona manager at %s: %s "
                            "(is the service 'personas' up? bay0 status personas)\n",
                    addr.sun_path, strerror(err));
        return err == EACCES || err == EPERM ? -CLI_EXIT_DENIED : -CLI_EXIT_TRYAGAIN;
    }
    return fd;
}

/* The supervisor's ping, quietly: no supervisor is an answer here
 * ("bay0 VERSION pid PID persist=X scandir DIR logdir DIR"). */
void cli_ping(const char *rundir, struct cli_ping *p)
{
    memset(p, 0, sizeof *p);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (!str_fmt(addr.sun_path, sizeof addr.sun_path, "%s/control", rundir))
        return;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    char reply[2 * 4096 + 256];
    size_t len = 0;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        fd_write_all(fd, "ping\n", 5) == 0) {
        int64_t deadline = time_mono_ms() + CLI_PING_TIMEOUT_MS;
        for (;;) {
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            int64_t left = deadline - time_mono_ms();
            if (left <= 0 || poll(&pf, 1, (int)left) <= 0 || len + 1 >= sizeof reply)
                break;
            ssize_t n = read(fd, reply + len, sizeof reply - 1 - len);
            if (n <= 0)
                break;
            len += (size_t)n;
        }
    }
    close(fd);
    reply[len] = '\0';
    if (strncmp(reply, "OK bay0 ", 8) != 0)
        return;
    p->online = true;
    reply[strcspn(reply, "\n")] = '\0';
    const char *pid = strstr(reply, " pid ");
    p->pid = pid ? atol(pid + 5) : 0;
    const char *per = strstr(reply, " persist=");
    if (per)
        snprintf(p->persist, sizeof p->persist, "%.*s", (int)strcspn(per + 9, " "), per + 9);
    const char *sd = strstr(reply, " scandir ");
    const char *ld = strstr(reply, " logdir ");
    if (sd && ld && ld > sd)
        snprintf(p->scandir, sizeof p->scandir, "%.*s", (int)(ld - sd - 9), sd + 9);
    if (ld)
        str_copy(p->logdir, sizeof p->logdir, ld + 8);
}

int cli_connect(const struct cli_opts *o)
{
    return connect_control(cli_rundir(o->rundir), "control");
}

/* Sends one request and reads the whole reply into *out (NUL-terminated).
 * Returns 0, or a CLI exit code on failure (message printed). */
int cli_transact(const struct cli_opts *o, const char *request, char **out)
{
    return cli_transact_at(o, "control", request, out);
}

/* ---- the progress line of a long wait (a terminal only) ------------------ */

/* `start`/`restart` wait for readiness up to --timeout (60 s by default):
 * on a terminal, after PROGRESS_AFTER_MS with no answer, one line on
 * stderr, rewritten every PROGRESS_TICK_MS, says how long it has waited
 * and for what (the first service not ready: its state, since when, its
 * INFO); it is erased when the answer comes. Not on a pipe or a file:
 * scripts see nothing new. */
#define PROGRESS_AFTER_MS 2000
#define PROGRESS_TICK_MS 1000

struct cli_progress {
    const struct cli_opts *o;
    const char *verb;
    char request[CONTROL_REQUEST_BYTES_MAX + 1]; /* status NAME... */
    bool shown;
};

static struct cli_progress *progress_now; /* armed by change() for one transact */

static int64_t progress_wait_ms(int64_t left_ms)
{
    return left_ms < 0 || left_ms > PROGRESS_TICK_MS ? PROGRESS_TICK_MS : left_ms;
}

static void progress_line(struct cli_progress *pg, int64_t waited_ms);

static void progress_tick(struct cli_progress *pg, int64_t waited_ms)
{
    if (waited_ms >= PROGRESS_AFTER_MS)
        progress_line(pg, waited_ms);
}

static void progress_end(struct cli_progress *pg)
{
    if (pg->shown)
        fprintf(stderr, "\r\033[K");
    pg->shown = false;
}

bool cli_timed_out;

int cli_transact_at(const struct cli_opts *o, const char *sock_name,
                    const char *request, char **out)
{
    cli_timed_out = false;
    int fd = connect_control(cli_rundir(o->rundir), sock_name);
    if (fd < 0)
        return -fd;
    int send_err = fd_write_all(fd, request, strlen(request)) < 0 ? errno : 0;
    /* EPIPE/ECONNRESET: refused at accept (busy); its answer is there to read. */
    if (send_err && send_err != EPIPE && send_err != ECONNRESET) {
        fprintf(stderr, "bay0: sending the request failed: %s\n", strerror(send_err));
        close(fd);
        return CLI_EXIT_TRYAGAIN;
    }
    size_t cap = 65536, len = 0;
    char *buf = xrealloc(NULL, cap);
    int64_t deadline = time_mono_ms() + (int64_t)o->timeout_s * 1000;
    struct cli_progress *pg = progress_now;
    progress_now = NULL; /* a status asked from the progress line has none */
    int64_t started_ms = time_mono_ms();
    for (;;) {
        int64_t left = deadline - time_mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (pg && (o->timeout_s == 0 || left > 0) &&
            poll(&p, 1, (int)progress_wait_ms(o->timeout_s > 0 ? left : -1)) == 0) {
            progress_tick(pg, time_mono_ms() - started_ms);
            continue;
        }
        if (o->timeout_s > 0 && (left <= 0 || poll(&p, 1, (int)left) == 0)) {
            if (pg)
                progress_end(pg);
            cli_timed_out = true;
            if (!o->quiet_timeout)
                fprintf(stderr, "bay0: timed out after %d s waiting for the supervisor\n",
                        o->timeout_s);
            free(buf);
            close(fd);
            return CLI_EXIT_TRYAGAIN;
        }
        if (len + 1 >= cap) {
            if (cap >= CLI_REPLY_BYTES_MAX)
                break;
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (pg)
        progress_end(pg);
    if (send_err && len == 0) {
        fprintf(stderr, "bay0: sending the request failed: %s\n", strerror(send_err));
        free(buf);
        return CLI_EXIT_TRYAGAIN;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

/* Prints I/E lines, returns the code of the final line (OK=0). */
int cli_finish_reply(char *reply, bool quiet_ok)
{
    int code = CLI_EXIT_TRYAGAIN;
    bool final_seen = false;
    for (char *line = strtok(reply, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "I ", 2) == 0)
            fprintf(stderr, "bay0: %s\n", line + 2);
        else if (strncmp(line, "E ", 2) == 0)
            fprintf(stderr, "bay0: %s\n", line + 2);
        else if (strncmp(line, "OK", 2) == 0) {
            if (!quiet_ok && line[2] == ' ')
                printf("%s\n", line + 3);
            code = 0;
            final_seen = true;
        } else if (strncmp(line, "ERR ", 4) == 0) {
            char *text = NULL;
            long c = strtol(line + 4, &text, 10);
            fprintf(stderr, "bay0: %s\n", text && *text ? text + 1 : line);
            code = c >= CLI_EXIT_NO && c <= CLI_EXIT_SUPERSEDED ? (int)c : CLI_EXIT_NO;
            final_seen = true;
        }
    }
    if (!final_seen)
        fprintf(stderr, "bay0: the supervisor closed the connection without an answer\n");
    return code;
}

int cli_print_report(char *reply)
{
    char *rest = reply;
    for (char *nl; (nl = strchr(rest, '\n')) && strncmp(rest, "I ", 2) == 0; rest = nl + 1)
        printf("%.*s\n", (int)(nl - rest - 2), rest + 2);
    return cli_finish_reply(rest, true);
}

int cli_transact_print(const struct cli_opts *o, const char *request)
{
    char *reply = NULL;
    int rc = cli_transact(o, request, &reply);
    if (rc != 0)
        return rc;
    rc = cli_print_report(reply);
    free(reply);
    return rc;
}

/* ---- option parsing ------------------------------------------------------ */

static int parse_opts(int argc, char **argv, struct cli_opts *o, const char *usage)
{
    static const struct option longs[] = {
        {"rundir", required_argument, NULL, 'r'}, {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'}, {"nowait", no_argument, NULL, 'n'},
        {"persist", no_argument, NULL, 'p'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    o->timeout_s = CLI_TIMEOUT_S_DEFAULT;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "r:jt:nph", longs, NULL)) != -1) {
        uint64_t v;
        switch (ch) {
        case 'r': o->rundir = optarg; break;
        case 'j': o->json = true; break;
        case 'n': o->nowait = true; break;
        case 'p': o->persist = true; break;
        case 't':
            if (!parse_u64(optarg, 86400, &v)) {
                fprintf(stderr, "bay0 %s: --timeout takes seconds (0-86400), not '%s'\n", argv[0], optarg);
                return -CLI_EXIT_USAGE;
            }
            o->timeout_s = (int)v;
            break;
        case 'h': printf("%s", usage); exit(CLI_EXIT_OK);
        default:
            fprintf(stderr, "bay0 %s: unknown option '%s'\n%s", argv[0], argv[optind - 1], usage);
            return -CLI_EXIT_USAGE;
        }
    }
    return optind;
}

int cli_parse_opts(int argc, char **argv, struct cli_opts *o, const char *usage)
{
    return parse_opts(argc, argv, o, usage);
}

/* Builds "VERB ARG...\n" from argv[first..]; false if it does not fit. */
static bool build_request(char *req, size_t size, const char *verb, const char *flag,
                          int argc, char **argv, int first)
{
    size_t len = 0;
    int n = snprintf(req, size, "%s%s%s", verb, flag ? " " : "", flag ? flag : "");
    if (n < 0 || (size_t)n >= size)
        return false;
    len = (size_t)n;
    for (int i = first; i < argc; i++) {
        n = snprintf(req + len, size - len, " %s", argv[i]);
        if (n < 0 || (size_t)n >= size - len)
            return false;
        len += (size_t)n;
    }
    if (len + 2 > size)
        return false;
    req[len++] = '\n';
    req[len] = '\0';
    return true;
}

static bool names_valid(int argc, char **argv, int first)
{
    for (int i = first; i < argc; i++) {
        const char *bad = name_check(argv[i], SERVICE_NAME_BYTES_MAX + 4);
        if (bad && !strstr(argv[i], "/log")) {
            fprintf(stderr, "bay0: '%.80s' is not a service name: %s\n", argv[i], bad);
            return false;
        }
    }
    return true;
}

/* ---- status ---------------------------------------------------------------- */

enum { F_NAME, F_STATE, F_PID, F_SINCE, F_RESTARTS, F_EXIT_KIND, F_EXIT_VALUE,
       F_DESIRED, F_READY, F_TYPE, F_DEPS, F_WAITING, F_REASON, F_COUNT };

static bool split_row(char *line, char **f)
{
    char *p = line + 2; /* after "S\t" */
    for (int i = 0; i < F_COUNT; i++) {
        f[i] = p;
        char *tab = i + 1 < F_COUNT ? strchr(p, '\t') : NULL;
        if (i + 1 < F_COUNT && !tab)
            return false;
        if (tab) {
            *tab = '\0';
            p = tab + 1;
        }
    }
    return true;
}

void cli_json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void json_list(const char *csv)
{
    putchar('[');
    if (strcmp(csv, "-") != 0) {
        char buf[1024];
        str_copy(buf, sizeof buf, csv);
        bool first = true;
        for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
            if (!first)
                putchar(',');
            cli_json_str(t);
            first = false;
        }
    }
    putchar(']');
}

static void iso_time(long long ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) {
        snprintf(buf, size, "?");
        return;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static void print_json_row(char **f, bool first)
{
    char since[64];
    iso_time(atoll(f[F_SINCE]), since, sizeof since);
    printf("%s{\"name\":", first ? "" : ",\n ");
    cli_json_str(f[F_NAME]);
    printf(",\"state\":\"%s\",\"pid\":", f[F_STATE]);
    printf(strcmp(f[F_PID], "0") == 0 ? "null" : "%s", f[F_PID]);
    printf(",\"since\":\"%s\",\"since_ms\":%s,\"restarts\":%s,\"last_exit\":", since,
           f[F_SINCE], f[F_RESTARTS]);
    if (strcmp(f[F_EXIT_KIND], "exit") == 0)
        printf("{\"code\":%s}", f[F_EXIT_VALUE]);
    else if (strcmp(f[F_EXIT_KIND], "signal") == 0)
        printf("{\"signal\":%s,\"signal_name\":\"%s\"}", f[F_EXIT_VALUE],
               signal_name(atoi(f[F_EXIT_VALUE])));
    else
        printf("null");
    printf(",\"desired\":\"%s\",\"ready\":%s,\"type\":\"%s\",\"depends_on\":", f[F_DESIRED],
           strcmp(f[F_READY], "1") == 0 ? "true" : "false", f[F_TYPE]);
    json_list(f[F_DEPS]);
    printf(",\"waiting_for\":");
    json_list(f[F_WAITING]);
    printf(",\"reason\":");
    if (strcmp(f[F_REASON], "-") == 0)
        printf("null");
    else
        cli_json_str(f[F_REASON]);
    printf("}");
}

static void format_uptime(long long secs, char *buf, size_t size)
{
    if (secs < 120)
        snprintf(buf, size, "%llds", secs);
    else if (secs < 7200)
        snprintf(buf, size, "%lldm", secs / 60);
    else if (secs < 172800)
        snprintf(buf, size, "%lldh", secs / 3600);
    else
        snprintf(buf, size, "%lldd", secs / 86400);
}

static void print_table_row(char **f)
{
    char uptime[32] = "-";
    long long since = atoll(f[F_SINCE]);
    long long now = (long long)time_wall_ms();
    long long up_ms;
    if ((strcmp(f[F_PID], "0") != 0 || strcmp(f[F_STATE], "up") == 0) &&
        !__builtin_sub_overflow(now, since, &up_ms) && up_ms >= 0)
        format_uptime(up_ms / 1000, uptime, sizeof uptime);
    char info[600] = "";
    if (strcmp(f[F_WAITING], "-") != 0)
        snprintf(info, sizeof info, "waiting for %s", f[F_WAITING]);
    else if (strcmp(f[F_REASON], "-") != 0)
        snprintf(info, sizeof info, "%s", f[F_REASON]);
    else if (strcmp(f[F_EXIT_KIND], "signal") == 0)
        snprintf(info, sizeof info, "last: %s", signal_name(atoi(f[F_EXIT_VALUE])));
    else if (strcmp(f[F_EXIT_KIND], "exit") == 0)
        snprintf(info, sizeof info, "last: exit %s", f[F_EXIT_VALUE]);
    printf("%-24s %-10s %-8s %-7s %-8s %s\n", f[F_NAME], f[F_STATE],
           strcmp(f[F_PID], "0") == 0 ? "-" : f[F_PID], uptime, f[F_RESTARTS], info);
}

static bool row_is_up(char **f)
{
    return strcmp(f[F_STATE], "up") == 0 || strcmp(f[F_STATE], "ready") == 0;
}

static const char status_usage[] =
    "usage: bay0 status [--json] [--rundir DIR] [NAME...]\n"
    "  One line per service: NAME STATE PID UPTIME RESTARTS INFO. With --json,\n"
    "  one array of objects (name, state, pid, since, restarts, last_exit,\n"
    "  desired, ready, type, depends_on, waiting_for, reason).\n"
    "  Exit 0; with NAMEs, exit 1 when one of them is not up or ready.\n";

static int row_cmp(const void *a, const void *b)
{
    char *const *ra = a, *const *rb = b;
    return strcmp(ra[F_NAME], rb[F_NAME]);
}

/* Splits the reply into sorted rows; returns the row count and leaves
 * *final pointing at the first line that is not a row. */
static size_t collect_rows(char *reply, char ***rows_out, char **final)
{
    size_t n = 0, cap = 64;
    char **rows = xrealloc(NULL, cap * F_COUNT * sizeof *rows);
    char *line = reply;
    *final = NULL;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(line, "S\t", 2) != 0) {
            if (nl)
                *nl = '\n';
            *final = line;
            break;
        }
        if (n == cap) {
            cap *= 2;
            rows = xrealloc(rows, cap * F_COUNT * sizeof *rows);
        }
        if (split_row(line, rows + n * F_COUNT))
            n++;
        line = nl ? nl + 1 : NULL;
    }
    qsort(rows, n, F_COUNT * sizeof *rows, row_cmp);
    *rows_out = rows;
    return n;
}

int cli_status(int argc, char **argv)
{
    struct cli_opts o = {0};
    int first = parse_opts(argc, argv, &o, status_usage);
    if (first < 0)
        return -first;
    if (!names_valid(argc, argv, first))
        return CLI_EXIT_USAGE;
    char req[CONTROL_REQUEST_BYTES_MAX + 1];
    if (!build_request(req, sizeof req, "status", NULL, argc, argv, first)) {
        fprintf(stderr, "bay0 status: too many names for one request\n");
        return CLI_EXIT_USAGE;
    }
    char *reply = NULL;
    int rc = cli_transact(&o, req, &reply);
    if (rc != 0)
        return rc;
    char **rows, *final;
    size_t n = collect_rows(reply, &rows, &final);
    rc = final ? cli_finish_reply(final, true) : CLI_EXIT_TRYAGAIN;
    if (rc == 0) {
        bool all_up = true;
        if (!o.json)
            printf("%-24s %-10s %-8s %-7s %-8s %s\n", "NAME", "STATE", "PID", "UPTIME", "RESTARTS", "INFO");
        else
            printf("[");
        for (size_t i = 0; i < n; i++) {
            char **f = rows + i * F_COUNT;
            all_up &= row_is_up(f);
            if (o.json)
                print_json_row(f, i == 0);
            else
                print_table_row(f);
        }
        if (o.json)
            printf("]\n");
        if (first < argc && !all_up)
            rc = CLI_EXIT_NO;
    }
    free(rows);
    free(reply);
    return rc;
}


/* The first service of the request that is not ready, as status says. */
static void progress_line(struct cli_progress *pg, int64_t waited_ms)
{
    struct cli_opts q = *pg->o;
    q.timeout_s = 5;
    char *reply = NULL;
    if (cli_transact(&q, pg->request, &reply) != 0)
        return;
    char **rows, *final;
    size_t n = collect_rows(reply, &rows, &final);
    size_t waiting = 0;
    char what[700] = "";
    for (size_t i = 0; i < n; i++) {
        char **f = rows + i * F_COUNT, since[40];
        bool done = strcmp(pg->verb, "stop") == 0
                        ? strcmp(f[F_STATE], "down") == 0 || strcmp(f[F_STATE], "failed") == 0
                        : strcmp(f[F_READY], "1") == 0 || row_is_up(f);
        if (done)
            continue;
        if (waiting++ == 0) {
            iso_time(atoll(f[F_SINCE]), since, sizeof since);
            snprintf(what, sizeof what, "%s %s since %s%s%s", f[F_NAME], f[F_STATE], since + 11,
                     strcmp(f[F_REASON], "-") == 0 ? "" : ": ",
                     strcmp(f[F_REASON], "-") == 0 ? "" : f[F_REASON]);
        }
    }
    if (waiting > 0) {
        fprintf(stderr, "\r\033[Kbay0 %s: waiting %lld s (of %d): %.160s%s", pg->verb,
                (long long)(waited_ms / 1000), pg->o->timeout_s, what,
                waiting > 1 ? " (and more)" : "");
        pg->shown = true;
    }
    free(rows);
    free(reply);
}

/* ---- deps ----------------------------------------------------------------- */

static const char deps_usage[] =
    "usage: bay0 deps [--dot] [--rundir DIR] [NAME]\n"
    "  Print the dependency graph of the running supervisor, one line per\n"
    "  service (\"name -> what it needs\"), or as Graphviz dot with --dot.\n"
    "  With NAME, only NAME, what it needs and what needs it.\n";

static int render_deps(char **rows, size_t n, const char *only_name, bool dot)
{
    const char **names = cli_xcalloc(n + 1, sizeof *names);
    uint32_t *sorted = cli_xcalloc(n + 1, sizeof *sorted);
    size_t edges_max = 1;
    for (size_t i = 0; i < n; i++) {
        names[i] = rows[i * F_COUNT + F_NAME];
        edges_max += strlen(rows[i * F_COUNT + F_DEPS]) / 2 + 1;
    }
    struct deps_edge *ev = cli_xcalloc(edges_max, sizeof *ev);
    struct deps_edges edges = {ev, 0, (uint32_t)edges_max};
    struct deps_names ix;
    struct deps_error err;
    int rc = CLI_EXIT_NO;
    void *mem = NULL;
    uint64_t *only = NULL;
    if (deps_names_index(&ix, names, (uint32_t)n, sorted, &err) != DEPS_OK) {
        fprintf(stderr, "bay0 deps: %s\n", err.msg);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char *list = rows[i * F_COUNT + F_DEPS];
        if (strcmp(list, "-") == 0)
            continue;
        for (char *t = strtok(list, ","); t; t = strtok(NULL, ","))
            deps_edges_add_name(&edges, &ix, (uint32_t)i, t, &err); /* missing: shown in status */
    }
    struct deps_graph g;
    size_t bytes = deps_graph_bytes((uint32_t)n, edges.count);
    mem = cli_xcalloc(1, bytes);
    deps_graph_build(&g, mem, bytes, (uint32_t)n, ev, edges.count);
    if (only_name) {
        uint32_t node = deps_names_find(&ix, only_name);
        if (node == DEPS_NONE) {
            fprintf(stderr, "bay0 deps: no such service: %s\n", only_name);
            goto out;
        }
        size_t words = deps_bitmap_words((uint32_t)n);
        only = cli_xcalloc(words, sizeof *only);
        uint64_t *tmp = cli_xcalloc(words, sizeof *tmp);
        deps_closure(&g, &node, 1, DEPS_NEEDS, tmp, NULL);
        for (size_t w = 0; w < words; w++)
            only[w] = tmp[w];
        deps_closure(&g, &node, 1, DEPS_NEEDED_BY, tmp, NULL);
        for (size_t w = 0; w < words; w++)
            only[w] |= tmp[w];
        only[node / 64] |= 1ull << (node % 64);
        free(tmp);
    }
    struct deps_writer *w = cli_xcalloc(1, sizeof *w);
    deps_writer_fd(w, STDOUT_FILENO);
    if (dot)
        deps_render_dot(&g, names, only, w);
    else
        deps_render_text(&g, names, only, w);
    rc = deps_writer_end(w) == DEPS_OK ? 0 : CLI_EXIT_NO;
    free(w);
out:
    free(only);
    free(mem);
    free(ev);
    free(sorted);
    free(names);
    return rc;
}

int cli_deps(int argc, char **argv)
{
    static const struct option longs[] = {
        {"rundir", required_argument, NULL, 'r'}, {"dot", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    struct cli_opts o = {.timeout_s = CLI_TIMEOUT_S_DEFAULT};
    bool dot = false;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "r:dh", longs, NULL)) != -1) {
        if (ch == 'r')
            o.rundir = optarg;
        else if (ch == 'd')
            dot = true;
        else if (ch == 'h') {
            printf("%s", deps_usage);
            return 0;
        } else {
            fprintf(stderr, "bay0 deps: unknown option '%s'\n%s", argv[optind - 1], deps_usage);
            return CLI_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "%s", deps_usage);
        return CLI_EXIT_USAGE;
    }
    char *reply = NULL;
    int rc = cli_transact(&o, "status\n", &reply);
    if (rc != 0)
        return rc;
    char **rows, *final;
    size_t n = collect_rows(reply, &rows, &final);
    rc = final ? cli_finish_reply(final, true) : CLI_EXIT_TRYAGAIN;
    if (rc == 0)
        rc = render_deps(rows, n, optind < argc ? argv[optind] : NULL, dot);
    free(rows);
    free(reply);
    return rc;
}

/* ---- start / stop / restart / signal / reload / shutdown ----------------- */

/* --persist: the intent goes to the state database first (so it survives
 * a reboot), and only then is it acted on. */
static int persist_intents(int argc, char **argv, int first, bool up)
{
    for (int i = first; i < argc; i++) {
        enum state_result r = state_service_desired_persist(argv[i], up, PERSIST_TIMEOUT_MS);
        if (r != STATE_OK && r != STATE_RECOVERED) {
            fprintf(stderr, "bay0: could not record '%s' as wanted %s in the state database (%s); "
                            "nothing was changed\n",
                    argv[i], up ? "up" : "down", r == STATE_TIMEOUT ? "timed out" : "error");
            if (!state_persist_overridden())
                fprintf(stderr, "bay0: the database is under %s; on a host without the Spine's "
                                "persist disk, set BAY0_PERSIST_DIR=DIR (for this command and for "
                                "`bay0 supervise`)\n",
                        state_data_dir());
            return r == STATE_TIMEOUT ? CLI_EXIT_TRYAGAIN : CLI_EXIT_NO;
        }
    }
    return 0;
}

/* After `start --timeout` ran out: which services are not ready, in what
 * state since when, and what each waits for (the supervisor's INFO). */
static int say_not_ready(const struct cli_opts *o, const char *verb, int argc, char **argv,
                         int first)
{
    struct cli_opts q = *o;
    q.timeout_s = CLI_TIMEOUT_S_DEFAULT;
    char req[CONTROL_REQUEST_BYTES_MAX + 1], *reply = NULL;
    if (!build_request(req, sizeof req, "status", NULL, argc, argv, first) ||
        cli_transact(&q, req, &reply) != 0) {
        fprintf(stderr, "bay0 %s: timed out after %d s; bay0 status shows which service is "
                        "not ready\n", verb, o->timeout_s);
        free(reply);
        return CLI_EXIT_TRYAGAIN;
    }
    char **rows, *final;
    size_t n = collect_rows(reply, &rows, &final);
    for (size_t i = 0; i < n; i++) {
        char **f = rows + i * F_COUNT, since[40];
        if (strcmp(f[F_READY], "1") == 0)
            continue;
        iso_time(atoll(f[F_SINCE]), since, sizeof since);
        fprintf(stderr, "bay0 %s: timed out after %d s: %s is not ready: %s since %s, %s "
                        "(bay0 log %s)\n",
                verb, o->timeout_s, f[F_NAME], f[F_STATE], since,
                strcmp(f[F_REASON], "-") == 0 ? "no reason given" : f[F_REASON], f[F_NAME]);
    }
    free(rows);
    free(reply);
    return CLI_EXIT_TRYAGAIN;
}

static int change(int argc, char **argv, const char *verb, const char *what)
{
    char usage[512];
    snprintf(usage, sizeof usage,
             "usage: bay0 %s [--nowait]%s [--timeout S] [--rundir DIR] NAME...\n"
             "  %s the services and wait until they are %s (exit 0), or\n"
             "  report the ones that cannot get there (exit 1).%s\n",
             verb, strcmp(verb, "restart") == 0 ? "" : " [--persist]", what,
             strcmp(verb, "stop") == 0 ? "down" : "up",
             strcmp(verb, "restart") == 0 ? ""
                                          : " --persist first\n  stores the intent in the state "
                                            "database, so it survives a reboot.");
    struct cli_opts o = {0};
    int first = parse_opts(argc, argv, &o, usage);
    if (first < 0)
        return -first;
    if (first >= argc) {
        fprintf(stderr, "bay0 %s: which service? name one or more (bay0 status lists them)\n%s",
                verb, usage);
        return CLI_EXIT_USAGE;
    }
    if (!names_valid(argc, argv, first))
        return CLI_EXIT_USAGE;
    if (o.persist && strcmp(verb, "restart") == 0) {
        fprintf(stderr, "bay0 restart: --persist is for start and stop (restart keeps the intent)\n");
        return CLI_EXIT_USAGE;
    }
    if (o.persist) {
        int rc = persist_intents(argc, argv, first, strcmp(verb, "start") == 0);
        if (rc != 0)
            return rc;
    }
    char req[CONTROL_REQUEST_BYTES_MAX + 1];
    if (!build_request(req, sizeof req, verb, o.nowait ? "--nowait" : NULL, argc, argv, first)) {
        fprintf(stderr, "bay0 %s: too many names for one request\n", verb);
        return CLI_EXIT_USAGE;
    }
    char *reply = NULL;
    o.quiet_timeout = strcmp(verb, "stop") != 0;
    static struct cli_progress pg;
    pg = (struct cli_progress){.o = &o, .verb = verb};
    if (!o.nowait && isatty(STDERR_FILENO) &&
        build_request(pg.request, sizeof pg.request, "status", NULL, argc, argv, first))
        progress_now = &pg;
    int rc = cli_transact(&o, req, &reply);
    progress_now = NULL;
    if (rc == CLI_EXIT_TRYAGAIN && cli_timed_out && o.quiet_timeout)
        return say_not_ready(&o, verb, argc, argv, first);
    if (rc == CLI_EXIT_TRYAGAIN && cli_timed_out)
        fprintf(stderr, "bay0 stop: timed out after %d s; the services are still stopping "
                        "(bay0 status shows each)\n", o.timeout_s);
    if (rc != 0)
        return rc;
    rc = cli_finish_reply(reply, true);
    free(reply);
    return rc;
}

int cli_start(int argc, char **argv) { return change(argc, argv, "start", "start"); }
int cli_stop(int argc, char **argv) { return change(argc, argv, "stop", "stop"); }
int cli_restart(int argc, char **argv) { return change(argc, argv, "restart", "restart"); }

static int simple(int argc, char **argv, const char *usage, int min_args)
{
    struct cli_opts o = {0};
    int first = parse_opts(argc, argv, &o, usage);
    if (first < 0)
        return -first;
    if (argc - first < min_args || (min_args == 0 && argc > first)) {
        fprintf(stderr, "bay0 %s: wrong number of arguments\n%s", argv[0], usage);
        return CLI_EXIT_USAGE;
    }
    char req[CONTROL_REQUEST_BYTES_MAX + 1];
    if (!build_request(req, sizeof req, argv[0], NULL, argc, argv, first)) {
        fprintf(stderr, "bay0 %s: request too long\n", argv[0]);
        return CLI_EXIT_USAGE;
    }
    char *reply = NULL;
    int rc = cli_transact(&o, req, &reply);
    if (rc != 0)
        return rc;
    rc = cli_finish_reply(reply, false);
    free(reply);
    return rc;
}

int cli_signal(int argc, char **argv)
{
    static const char usage[] =
        "usage: bay0 signal [--rundir DIR] SIG NAME...\n"
        "  send SIG (TERM, SIGHUP, 9, ...) to each service's process group.\n";
    /* Say which of SIG and NAME is missing or wrong before the usage. */
    int first = 1;
    while (first < argc && argv[first][0] == '-' && signal_from_name(argv[first]) <= 0) {
        if (strcmp(argv[first], "--help") == 0 || strcmp(argv[first], "-h") == 0)
            break;
        first += strncmp(argv[first], "--rundir=", 9) == 0 ? 1 : 2; /* --rundir DIR */
    }
    if (first < argc && strcmp(argv[first], "--help") != 0 && strcmp(argv[first], "-h") != 0) {
        if (signal_from_name(argv[first]) <= 0) {
            fprintf(stderr, "bay0 signal: '%s' is not a signal (a name like TERM, HUP, "
                            "SIGUSR1, KILL, or a number); SIG comes first, then the names\n%s",
                    argv[first], usage);
            return CLI_EXIT_USAGE;
        }
        if (first + 1 >= argc) {
            fprintf(stderr, "bay0 signal: which service? name one or more after %s\n%s",
                    argv[first], usage);
            return CLI_EXIT_USAGE;
        }
    }
    return simple(argc, argv, usage, 2);
}

int cli_reload(int argc, char **argv)
{
    return simple(argc, argv,
                  "usage: bay0 reload [--rundir DIR]\n"
                  "  rescan the scan directory: new services start (unless `down`),\n"
                  "  removed ones stop, a service whose run changed restarts.\n",
                  0);
}

int cli_shutdown(int argc, char **argv)
{
    char usage[256];
    snprintf(usage, sizeof usage,
             "usage: bay0 %s [--rundir DIR]\n"
             "  stop every service in reverse dependency order, then %s.\n"
             "  Root (or the supervisor's user) only.\n",
             argv[0],
             strcmp(argv[0], "shutdown") == 0 ? "end the supervisor" : argv[0]);
    return simple(argc, argv, usage, 0);
}

/* ---- bay0 supervise --------------------------------------------------------- */

static const char supervise_usage[] =
    "usage: bay0 supervise [--scandir DIR] [--rundir DIR] [--logdir DIR]\n"
    "                      [--max-services N] [--shutdown-timeout MS] [--verbose]\n"
    "  Supervise every service directory in DIR (default /etc/bay0/sv) in the\n"
    "  foreground, as a subreaper. Control socket: RUNDIR/control (default\n"
    "  $BAY0_RUNDIR or /run/bay0). Built-in logs: LOGDIR/NAME/current (default\n"
    "  RUNDIR/log). SIGTERM, SIGINT or `bay0 shutdown` stop every service and\n"
    "  end it: exit 0 when all stopped cleanly, 1 otherwise.\n";

int cli_supervise(int argc, char **argv)
{
    static const struct option longs[] = {
        {"scandir", required_argument, NULL, 's'}, {"rundir", required_argument, NULL, 'r'},
        {"logdir", required_argument, NULL, 'l'}, {"max-services", required_argument, NULL, 'm'},
        {"shutdown-timeout", required_argument, NULL, 'T'}, {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    struct supervise_config cfg = {.scandir = "/etc/bay0/sv"};
    const char *rundir_opt = NULL;
    static char logdir[4096];
    optind = 1;
    opterr = 0;
    int ch;
    uint64_t v;
    while ((ch = getopt_long(argc, argv, "s:r:l:m:T:vh", longs, NULL)) != -1) {
        switch (ch) {
        case 's': cfg.scandir = optarg; break;
        case 'r': rundir_opt = optarg; break;
        case 'l': cfg.logdir = optarg; break;
        case 'v': log_set_level(LOG_LEVEL_DEBUG); break;
        case 'm':
        case 'T':
            if (!parse_u64(optarg, ch == 'm' ? 65536 : 3600000, &v)) {
                fprintf(stderr, "bay0 supervise: %s takes a number, not '%s'\n",
                        argv[optind - 1], optarg);
                return CLI_EXIT_USAGE;
            }
            if (ch == 'm')
                cfg.services_max = (uint32_t)v;
            else
                cfg.shutdown_timeout_ms = (uint32_t)v;
            break;
        case 'h': printf("%s", supervise_usage); return 0;
        default:
            fprintf(stderr, "bay0 supervise: unknown option '%s'\n%s", argv[optind - 1], supervise_usage);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bay0 supervise: unexpected argument '%s'\n%s", argv[optind], supervise_usage);
        return CLI_EXIT_USAGE;
    }
    cfg.rundir = cli_rundir(rundir_opt);
    if (!cfg.logdir) {
        snprintf(logdir, sizeof logdir, "%s/log", cfg.rundir);
        cfg.logdir = logdir;
    }
    enum supervise_exit e = supervise_run(&cfg);
    if (e == SUPERVISE_EXIT_ERROR)
        return CLI_EXIT_NO;
    return supervise_exit_status();
}
