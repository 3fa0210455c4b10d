/* cli_log.c — `bay0 log [NAME]`: options, where the logs are (the running
 * supervisor's LOGDIR, else RUNDIR/log's files), and for one NAME the last
 * lines of its built-in log (or its log/run logger's directory), across
 * rotated archives, following it (inotify) across rotations. Without a
 * NAME, or with --since/--json, cli_logall.c merges by time. `bay0 log
 * bay0` is the supervisor's own log. A client: it may allocate and block;
 * it only reads files.
 */
#include "cli.h"

#include "logfile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_LINES_DEFAULT 20
#define LOG_LINES_MAX 1000000
#define LOG_FILES_MAX (LOG_KEEP_MAX + 1)
#define LOG_SCANDIR_DEFAULT "/etc/bay0/sv"

static const char log_usage[] =
    "usage: bay0 log [-n LINES] [-f] [--since TIME] [--json] [--rundir DIR]\n"
    "                [--logdir DIR] [--scandir DIR] [NAME]\n"
    "  Without NAME: every service's log merged by time (like journalctl), one\n"
    "  line each: TIME NAME: TEXT; the built-in logs (LOGDIR/*, `bay0` is the\n"
    "  supervisor's own) and the directories log/run loggers write to, when\n"
    "  log/run names one (s6-log, svlogd, multilog, bay0 logger).\n"
    "  With NAME: the last LINES (default 20) lines of NAME's log as written\n"
    "  (LOGDIR/NAME/current and its @TAI64N.s archives, or its logger's).\n"
    "  -f keeps printing new lines, across rotations (and new services).\n"
    "  --since TIME: lines from TIME on (all of them unless -n): 2026-11-29,\n"
    "  '2026-11-29 06:00:00' (UTC), @EPOCH, -30s, -5m, -2h, -1d, today, yesterday.\n"
    "  --json: one object a line: time, time_us, service, line.\n"
    "  The running supervisor is asked where its logs are; without one, the\n"
    "  files in RUNDIR/log are read (or --logdir DIR).\n";

struct file_list {
    char names[LOG_FILES_MAX][32];
    uint32_t count;
};

static bool list_entry(const char *name, unsigned char d_type, void *ctx)
{
    (void)d_type;
    struct file_list *l = ctx;
    if (l->count < LOG_FILES_MAX && name[0] == '@' && strlen(name) < 32)
        str_copy(l->names[l->count++], sizeof l->names[0], name);
    return true;
}

static int cmp_names(const void *a, const void *b) { return strcmp(a, b); }

/* Prints the last `want` lines of the archives then current, newest
 * first when counting, in order when printing. */
static void print_tail(int dir_fd, uint32_t want)
{
    struct file_list *l = cli_xcalloc(1, sizeof *l);
    dir_each(dir_fd, list_entry, l);
    qsort(l->names, l->count, sizeof l->names[0], cmp_names);
    str_copy(l->names[l->count < LOG_FILES_MAX ? l->count++ : LOG_FILES_MAX - 1],
             sizeof l->names[0], "current");
    char **bufs = cli_xcalloc(l->count, sizeof *bufs);
    size_t *lens = cli_xcalloc(l->count, sizeof *lens);
    size_t *starts = cli_xcalloc(l->count, sizeof *starts);
    uint32_t have = 0;
    int32_t first = (int32_t)l->count;
    for (int32_t i = (int32_t)l->count - 1; i >= 0 && have < want; i--) {
        bufs[i] = cli_log_slurp(dir_fd, l->names[i], &lens[i]);
        if (!bufs[i])
            continue;
        first = i;
        size_t p = lens[i];
        if (p > 0 && bufs[i][p - 1] == '\n')
            p--;
        while (p > 0 && have < want) {
            if (bufs[i][p - 1] == '\n')
                have++;
            p--;
        }
        if (p == 0 && have < want && lens[i] > 0)
            have++; /* the file's first line */
        else if (p > 0)
            p++; /* just after the newline */
        starts[i] = p;
    }
    for (int32_t i = first; i < (int32_t)l->count; i++)
        if (bufs[i])
            fwrite(bufs[i] + starts[i], 1, lens[i] - starts[i], stdout);
    fflush(stdout);
    for (uint32_t i = 0; i < l->count; i++)
        free(bufs[i]);
    free(bufs);
    free(lens);
    free(starts);
    free(l);
}

static int copy_new(int fd)
{
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    fflush(stdout);
    return n < 0 ? -1 : 0;
}

/* Follows current: new bytes as they come; on rotation, what is left of
 * the old file, then the new current. Ends on a write error (EPIPE). */
static int follow(int dir_fd, const char *dir)
{
    int in = inotify_init1(IN_CLOEXEC);
    if (in < 0 || inotify_add_watch(in, dir, IN_MODIFY | IN_CREATE | IN_MOVED_FROM) < 0) {
        fprintf(stderr, "bay0 log: cannot watch %s: %s\n", dir, strerror(errno));
        return 1;
    }
    int cur = openat(dir_fd, "current", O_RDONLY | O_CLOEXEC);
    if (cur >= 0)
        lseek(cur, 0, SEEK_END);
    char ev[sizeof(struct inotify_event) + NAME_MAX + 1] __attribute__((aligned(8)));
    for (;;) {
        ssize_t n = read(in, ev, sizeof ev);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 1;
        for (char *p = ev; p < ev + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            p += sizeof *e + e->len;
            if (!e->len || strcmp(e->name, "current") != 0)
                continue;
            if (e->mask & IN_MOVED_FROM && cur >= 0) {
                copy_new(cur);
                close(cur);
                cur = -1;
            }
            if (cur < 0)
                cur = openat(dir_fd, "current", O_RDONLY | O_CLOEXEC);
            if (cur >= 0 && copy_new(cur) < 0)
                return 1;
            if (ferror(stdout))
                return 0;
        }
    }
}

/* Where the logs are: --logdir, else the running supervisor's, else (no
 * supervisor) RUNDIR/log, which both `supervise` and PID 1 use by
 * default. Also the scan directory, for loggers' directories. */
static int find_dirs(const char *rundir_opt, const char *logdir_opt, const char *scandir_opt,
                     char *logdir, size_t size, char *scandir, size_t scandir_size,
                     bool *online)
{
    struct cli_ping p;
    cli_ping(cli_rundir(rundir_opt), &p);
    *online = p.online;
    str_copy(scandir, scandir_size,
             scandir_opt ? scandir_opt : p.scandir[0] ? p.scandir : LOG_SCANDIR_DEFAULT);
    if (logdir_opt)
        return str_copy(logdir, size, logdir_opt) ? 0 : CLI_EXIT_USAGE;
    if (p.online && p.logdir[0])
        return str_copy(logdir, size, p.logdir) ? 0 : CLI_EXIT_USAGE;
    struct stat st;
    if (!str_fmt(logdir, size, "%s/log", cli_rundir(rundir_opt)) || stat(logdir, &st) != 0 ||
        !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "bay0 log: no supervisor answered at %s/control and there is no %s: "
                        "give --logdir DIR (or --rundir / BAY0_RUNDIR)\n",
                cli_rundir(rundir_opt), logdir);
        return CLI_EXIT_TRYAGAIN;
    }
    if (!p.online)
        fprintf(stderr, "bay0 log: no supervisor answered at %s/control: reading the files "
                        "in %s\n", cli_rundir(rundir_opt), logdir);
    return 0;
}

/* A service with a log/run whose directory is written out in it. */
static int logger_dir_open(const char *scandir, const char *name, char *dir, size_t size)
{
    char path[4096 + 96], run[4096], ldir[4096];
    if (!str_fmt(path, sizeof path, "%s/%s/log/run", scandir, name) ||
        file_read_small(AT_FDCWD, path, run, sizeof run) < 0 ||
        !cli_log_logger_dir(run, ldir, sizeof ldir))
        return -1;
    if (!(ldir[0] == '/' ? str_copy(dir, size, ldir)
                         : str_fmt(dir, size, "%s/%s/log/%s", scandir, name, ldir)))
        return -1;
    return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

struct log_args {
    const char *rundir, *logdir, *scandir, *since;
    uint64_t lines;
    bool lines_set, follow, json, help;
    int first; /* index of NAME, or argc */
};

static int parse_log_args(int argc, char **argv, struct log_args *a)
{
    static const struct option longs[] = {
        {"rundir", required_argument, NULL, 'r'}, {"logdir", required_argument, NULL, 'l'},
        {"lines", required_argument, NULL, 'n'}, {"follow", no_argument, NULL, 'f'},
        {"since", required_argument, NULL, 'S'}, {"json", no_argument, NULL, 'j'},
        {"scandir", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    a->lines = LOG_LINES_DEFAULT;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "r:l:n:fjs:h", longs, NULL)) != -1) {
        if (ch == 'r')
            a->rundir = optarg;
        else if (ch == 'l')
            a->logdir = optarg;
        else if (ch == 's')
            a->scandir = optarg;
        else if (ch == 'S')
            a->since = optarg;
        else if (ch == 'f')
            a->follow = true;
        else if (ch == 'j')
            a->json = true;
        else if (ch == 'n' && parse_u64(optarg, LOG_LINES_MAX, &a->lines))
            a->lines_set = true;
        else if (ch == 'h') {
            printf("%s", log_usage);
            a->help = true;
            return 0;
        } else {
            fprintf(stderr, "bay0 log: bad option or value '%s'\n%s", argv[optind - 1], log_usage);
            return -CLI_EXIT_USAGE;
        }
    }
    a->first = optind;
    if (optind + 1 < argc) {
        fprintf(stderr, "bay0 log: one service at a time: '%s' after '%s' is one too many "
                        "(without a NAME, every service's log)\n%s",
                argv[optind + 1], argv[optind], log_usage);
        return -CLI_EXIT_USAGE;
    }
    const char *bad = optind < argc ? name_check(argv[optind], 64) : NULL;
    if (bad) {
        fprintf(stderr, "bay0 log: '%s' is not a service name: %s\n%s", argv[optind], bad,
                log_usage);
        return -CLI_EXIT_USAGE;
    }
    return 0;
}

int cli_log(int argc, char **argv)
{
    struct log_args a = {0};
    int rc = parse_log_args(argc, argv, &a);
    if (rc != 0 || a.help)
        return -rc;
    const char *name = a.first < argc ? argv[a.first] : NULL;
    struct cli_log_req req = {.only = name, .lines = a.lines, .follow = a.follow,
                              .json = a.json};
    if (a.since && !cli_log_since_parse(a.since, time_wall_ms() * 1000, &req.since_us)) {
        fprintf(stderr, "bay0 log: --since takes a time: 2026-11-29, '2026-11-29 06:00:00' "
                        "(UTC), @EPOCH, -30s, -5m, -2h, -1d, today or yesterday; not '%s'\n",
                a.since);
        return CLI_EXIT_USAGE;
    }
    req.lines_all = a.since && !a.lines_set;
    struct cli_opts o = {.rundir = a.rundir, .timeout_s = CLI_TIMEOUT_S_DEFAULT};
    char logdir[4096], scandir[4096];
    bool online = false;
    if ((rc = find_dirs(a.rundir, a.logdir, a.scandir, logdir, sizeof logdir, scandir,
                        sizeof scandir, &online)) != 0)
        return rc;
    req.logdir = logdir;
    req.scandir = scandir;
    if (!name || a.since || a.json)
        return cli_log_merged(&req);
    char dir[4096 + 80];
    snprintf(dir, sizeof dir, "%s/%s", logdir, name);
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 && errno == ENOENT)
        dir_fd = logger_dir_open(scandir, name, dir, sizeof dir);
    if (dir_fd < 0 && online && !a.logdir && strcmp(name, "bay0") != 0) {
        /* Is it a service at all? The supervisor knows (and suggests). */
        char q[128], *reply = NULL;
        snprintf(q, sizeof q, "status %s\n", name);
        if (cli_transact(&o, q, &reply) == 0 && strstr(reply, "ERR 1 no such service")) {
            rc = cli_finish_reply(reply, true);
            free(reply);
            return rc;
        }
        free(reply);
    }
    if (dir_fd < 0) {
        fprintf(stderr, "bay0 log: %s has written nothing yet (no %s/%s)\n", name, logdir, name);
        return CLI_EXIT_NO;
    }
    print_tail(dir_fd, (uint32_t)a.lines);
    return a.follow ? follow(dir_fd, dir) : 0;
}
