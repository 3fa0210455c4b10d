/* cli_log.c — `bay0 log NAME [-n N] [-f]`: the last lines of a service's
 * built-in log, across rotated archives, and following it (inotify) across
 * rotations. `bay0 log bay0` is the supervisor's own log. A client: it may
 * allocate and block; it only reads files.
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

static const char log_usage[] =
    "usage: bay0 log [-n LINES] [-f] [--rundir DIR] [--logdir DIR] NAME\n"
    "  Print the last LINES (default 20) lines of NAME's built-in log\n"
    "  (LOGDIR/NAME/current and its @TAI64N.s archives); -f keeps printing\n"
    "  new lines, across rotations. NAME `bay0` is the supervisor's own log.\n"
    "  Without --logdir, the running supervisor is asked where its logs are.\n";

/* The supervisor's logdir, from its `ping` reply. */
static int ask_logdir(const struct cli_opts *o, char *out, size_t size)
{
    char *reply = NULL;
    int rc = cli_transact(o, "ping\n", &reply);
    if (rc != 0)
        return rc;
    char *at = strstr(reply, " logdir ");
    char *nl = at ? strchr(at, '\n') : NULL;
    if (!at || !nl) {
        fprintf(stderr, "bay0 log: the supervisor did not say where its logs are\n");
        free(reply);
        return CLI_EXIT_TRYAGAIN;
    }
    *nl = '\0';
    str_copy(out, size, at + 8);
    free(reply);
    return 0;
}

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

/* Reads a whole file (archives are at most log-max-bytes). */
static char *slurp(int dir_fd, const char *name, size_t *len)
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
        bufs[i] = slurp(dir_fd, l->names[i], &lens[i]);
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

int cli_log(int argc, char **argv)
{
    static const struct option longs[] = {
        {"rundir", required_argument, NULL, 'r'}, {"logdir", required_argument, NULL, 'l'},
        {"lines", required_argument, NULL, 'n'}, {"follow", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    struct cli_opts o = {.timeout_s = CLI_TIMEOUT_S_DEFAULT};
    const char *logdir_opt = NULL;
    uint64_t lines = LOG_LINES_DEFAULT;
    bool follow_on = false;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "r:l:n:fh", longs, NULL)) != -1) {
        if (ch == 'r')
            o.rundir = optarg;
        else if (ch == 'l')
            logdir_opt = optarg;
        else if (ch == 'f')
            follow_on = true;
        else if (ch == 'n' && parse_u64(optarg, LOG_LINES_MAX, &lines))
            continue;
        else if (ch == 'h') {
            printf("%s", log_usage);
            return 0;
        } else {
            fprintf(stderr, "bay0 log: bad option or value '%s'\n%s", argv[optind - 1], log_usage);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind == argc) {
        fprintf(stderr, "bay0 log: which service? name one (bay0 status lists them)\n%s",
                log_usage);
        return CLI_EXIT_USAGE;
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "bay0 log: one service at a time: '%s' after '%s' is one too many\n%s",
                argv[optind + 1], argv[optind], log_usage);
        return CLI_EXIT_USAGE;
    }
    const char *bad = name_check(argv[optind], 64);
    if (bad) {
        fprintf(stderr, "bay0 log: '%s' is not a service name: %s\n%s", argv[optind], bad,
                log_usage);
        return CLI_EXIT_USAGE;
    }
    char logdir[4096];
    if (logdir_opt)
        str_copy(logdir, sizeof logdir, logdir_opt);
    else if ((ch = ask_logdir(&o, logdir, sizeof logdir)) != 0)
        return ch;
    char dir[4096 + 80];
    snprintf(dir, sizeof dir, "%s/%s", logdir, argv[optind]);
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 && errno == ENOENT && !logdir_opt && strcmp(argv[optind], "bay0") != 0) {
        /* Is it a service at all? The supervisor knows (and suggests). */
        char req[128], *reply = NULL;
        snprintf(req, sizeof req, "status %s\n", argv[optind]);
        if (cli_transact(&o, req, &reply) == 0 && strstr(reply, "ERR 1 no such service")) {
            int rc = cli_finish_reply(reply, true);
            free(reply);
            return rc;
        }
        free(reply);
        fprintf(stderr, "bay0 log: %s has written nothing yet (no %s)\n", argv[optind], dir);
        return CLI_EXIT_NO;
    }
    if (dir_fd < 0) {
        fprintf(stderr, "bay0 log: no log for %s at %s: %s\n", argv[optind], dir, strerror(errno));
        return CLI_EXIT_NO;
    }
    print_tail(dir_fd, (uint32_t)lines);
    return follow_on ? follow(dir_fd, dir) : 0;
}
