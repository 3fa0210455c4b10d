/* benchtool.c — the measuring helpers of bench/run.sh, one binary with
 * subcommands, so that no timed path goes through Python or a shell.
 *
 *   stamp-exec FILE CMD...        write CLOCK_REALTIME (ns) to FILE, exec CMD
 *   floor-bringup DIR N SVC STAMPS TIMEOUT_MS
 *                                 fork+exec SVC in DIR/s00000..N-1 from one
 *                                 process; print t0 (ns) once N stamps exist,
 *                                 then kill and reap every child
 *   restart MODE STAMPS DIR K COUNT SPACING_MS UP_MS TIMEOUT_MS SVC
 *                                 SIGKILL the current instance of service
 *                                 (i mod K), COUNT times, each up > UP_MS,
 *                                 print kill -> new main() in ns, one a line.
 *                                 MODE floor: this process is the supervisor
 *                                 (kill+waitpid+fork+exec); MODE sup: a
 *                                 supervisor under test restarts them.
 *   cmdloop ITER MAX_S STEPFILE   run the steps of STEPFILE ITER times (or
 *                                 until MAX_S passed), print each round in ns.
 *                                 A step is a line: "run ARGV..." (must exit
 *                                 0), "any ARGV..." (any exit), or "until PAT
 *                                 ARGV..." (rerun until stdout contains PAT,
 *                                 "%" in PAT stands for a space)
 *   sockloop ITER MAX_S SOCKET REQ...
 *                                 bay0's control protocol with no client
 *                                 process: each REQ on its own connection,
 *                                 reply read to EOF, must end in "OK";
 *                                 print each round in ns
 *   logpipe LINES LEN CMD...      feed LINES lines of LEN bytes (newline
 *                                 included) to CMD's stdin, close, wait for it;
 *                                 print ns from first write to its exit
 *
 * Must never: kill a pid it did not read from its own children or from a
 * stamp line of the run, or wait without a deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SERVICES_MAX 20000
#define STAMP_BUF_BYTES 65536
#define PATH_BYTES_MAX 4096
#define STEPS_MAX 20000
#define UNTIL_TIMEOUT_MS 20000
#define UNTIL_OUTPUT_BYTES_MAX (4 << 20)
#define LOG_BLOCK_BYTES 65536

static int64_t now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "benchtool: %s: %s\n", what, strerror(errno));
    exit(111);
}

/* ---- stamp file reader: lines "sNNNNN SEC.NSEC PID" ---- */

struct stamps {
    int fd;
    int ino; /* inotify fd watching the file */
    char buf[STAMP_BUF_BYTES];
    size_t have;
    long lines;
    int32_t pid[SERVICES_MAX];
    int64_t at_ns[SERVICES_MAX];
};

static struct stamps g_st;

static void stamps_open(struct stamps *st, const char *path)
{
    st->fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (st->fd < 0)
        die(path);
    st->ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (st->ino < 0 || inotify_add_watch(st->ino, path, IN_MODIFY) < 0)
        die("inotify");
}

static void stamps_line(struct stamps *st, char *line)
{
    if (line[0] != 's')
        return;
    char *end = NULL;
    long idx = strtol(line + 1, &end, 10);
    if (idx < 0 || idx >= SERVICES_MAX || *end != ' ')
        return;
    long long sec = strtoll(end + 1, &end, 10);
    if (*end != '.')
        return;
    long nsec = strtol(end + 1, &end, 10);
    long pid = strtol(end, NULL, 10);
    st->pid[idx] = (int32_t)pid;
    st->at_ns[idx] = (int64_t)sec * 1000000000 + nsec;
    st->lines++;
}

/* Reads whatever was appended since the last call. */
static void stamps_poll(struct stamps *st)
{
    for (;;) {
        ssize_t n = read(st->fd, st->buf + st->have, sizeof st->buf - st->have - 1);
        if (n <= 0)
            return;
        st->have += (size_t)n;
        st->buf[st->have] = '\0';
        char *start = st->buf;
        char *nl;
        while ((nl = memchr(start, '\n', st->have - (size_t)(start - st->buf)))) {
            *nl = '\0';
            stamps_line(st, start);
            start = nl + 1;
        }
        st->have -= (size_t)(start - st->buf);
        memmove(st->buf, start, st->have);
    }
}

/* Blocks until the stamp file changes or timeout_ms passes. */
static void stamps_wait(struct stamps *st, int timeout_ms)
{
    char ev[4096];
    struct pollfd p = {.fd = st->ino, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) > 0)
        while (read(st->ino, ev, sizeof ev) > 0) {
        }
}

static int stamps_wait_lines(struct stamps *st, long lines, int64_t deadline_ns)
{
    for (;;) {
        stamps_poll(st);
        if (st->lines >= lines)
            return 0;
        int64_t left_ms = (deadline_ns - now_ns(CLOCK_MONOTONIC)) / 1000000;
        if (left_ms <= 0)
            return -1;
        stamps_wait(st, left_ms > 50 ? 50 : (int)left_ms);
    }
}

/* ---- spawning services the way a minimal supervisor would ---- */

static pid_t spawn_svc(const char *dir, long idx, const char *svc)
{
    char path[PATH_BYTES_MAX];
    snprintf(path, sizeof path, "%s/s%05ld", dir, idx);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        if (chdir(path) < 0)
            _exit(111);
        char *argv[] = {(char *)svc, NULL};
        execv(svc, argv);
        _exit(111);
    }
    return pid;
}

static int cmd_stamp_exec(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int64_t t0 = now_ns(CLOCK_REALTIME);
    FILE *f = fopen(argv[1], "w");
    if (!f)
        die(argv[1]);
    fprintf(f, "%lld\n", (long long)t0);
    fclose(f);
    execvp(argv[2], argv + 2);
    die(argv[2]);
    return 111;
}

static pid_t g_kids[SERVICES_MAX];

static int cmd_floor_bringup(int argc, char **argv)
{
    if (argc != 6)
        return 2;
    long n = atol(argv[2]);
    if (n <= 0 || n > SERVICES_MAX)
        return 2;
    stamps_open(&g_st, argv[4]);
    int64_t deadline = now_ns(CLOCK_MONOTONIC) + atol(argv[5]) * 1000000LL;
    int64_t t0 = now_ns(CLOCK_REALTIME);
    for (long i = 0; i < n; i++)
        g_kids[i] = spawn_svc(argv[1], i, argv[3]);
    int rc = stamps_wait_lines(&g_st, n, deadline);
    printf("%lld\n", (long long)t0);
    for (long i = 0; i < n; i++)
        kill(g_kids[i], SIGKILL);
    for (long i = 0; i < n; i++)
        waitpid(g_kids[i], NULL, 0);
    return rc == 0 ? 0 : 1;
}

struct restart_args {
    int floor;
    const char *dir;
    const char *svc;
    long k, count;
    int64_t spacing_ns, up_ns, timeout_ns;
};

/* One kill and the wait for the new instance; returns ns or -1. */
static int64_t restart_one(const struct restart_args *a, long idx, int64_t *last_kill)
{
    while (now_ns(CLOCK_REALTIME) < g_st.at_ns[idx] + a->up_ns ||
           now_ns(CLOCK_REALTIME) < *last_kill + a->spacing_ns) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    int32_t old = g_st.pid[idx];
    int64_t t0 = now_ns(CLOCK_REALTIME);
    if (kill(old, SIGKILL) < 0)
        die("kill");
    if (a->floor) {
        waitpid(old, NULL, 0);
        g_kids[idx] = spawn_svc(a->dir, idx, a->svc);
    }
    *last_kill = t0;
    int64_t deadline = now_ns(CLOCK_MONOTONIC) + a->timeout_ns;
    for (;;) {
        stamps_poll(&g_st);
        if (g_st.pid[idx] != old && g_st.at_ns[idx] >= t0)
            return g_st.at_ns[idx] - t0;
        if (now_ns(CLOCK_MONOTONIC) > deadline)
            return -1;
        stamps_wait(&g_st, 50);
    }
}

static int cmd_restart(int argc, char **argv)
{
    if (argc != 10)
        return 2;
    struct restart_args a = {
        .floor = strcmp(argv[1], "floor") == 0, .dir = argv[3], .svc = argv[9],
        .k = atol(argv[4]), .count = atol(argv[5]),
        .spacing_ns = atol(argv[6]) * 1000000LL, .up_ns = atol(argv[7]) * 1000000LL,
        .timeout_ns = atol(argv[8]) * 1000000LL,
    };
    if (a.k <= 0 || a.k > SERVICES_MAX)
        return 2;
    stamps_open(&g_st, argv[2]);
    if (a.floor)
        for (long i = 0; i < a.k; i++)
            g_kids[i] = spawn_svc(a.dir, i, a.svc);
    int64_t deadline = now_ns(CLOCK_MONOTONIC) + a.timeout_ns;
    if (stamps_wait_lines(&g_st, a.k, deadline) < 0) {
        fprintf(stderr, "benchtool: restart: services never came up\n");
        return 1;
    }
    int64_t last_kill = 0;
    int rc = 0;
    for (long i = 0; i < a.count; i++) {
        int64_t ns = restart_one(&a, i % a.k, &last_kill);
        printf("%lld\n", (long long)ns);
        fflush(stdout);
        if (ns < 0) {
            rc = 1;
            break;
        }
    }
    if (a.floor)
        for (long i = 0; i < a.k; i++) {
            kill(g_kids[i], SIGKILL);
            waitpid(g_kids[i], NULL, 0);
        }
    return rc;
}

/* ---- cmdloop: timed command sequences ---- */

struct step {
    const char *until; /* "until PATTERN ...": rerun until stdout has it */
    int any_status;    /* "any ...": exit status ignored; "run ...": must be 0 */
    char **argv;
};

static struct step g_steps[STEPS_MAX];
static char g_out[UNTIL_OUTPUT_BYTES_MAX + 1];

/* Splits a line of the step file (words separated by single spaces) into a
 * step; the line is kept, argv points into it. Start-up only. */
static int step_parse(struct step *s, char *line)
{
    size_t words = 1;
    for (char *c = line; *c; c++)
        words += *c == ' ';
    s->argv = calloc(words + 1, sizeof *s->argv);
    if (!s->argv)
        die("calloc");
    char *save = NULL;
    char *kind = strtok_r(line, " \n", &save);
    if (!kind)
        return -1;
    if (strcmp(kind, "until") == 0) {
        char *pat = strtok_r(NULL, " \n", &save);
        for (char *c = pat; c && *c; c++) /* "%" stands for a space */
            if (*c == '%')
                *c = ' ';
        s->until = pat;
    }
    s->any_status = strcmp(kind, "any") == 0;
    size_t argc = 0;
    char *tok;
    while ((tok = strtok_r(NULL, " \n", &save)))
        s->argv[argc++] = tok;
    return argc > 0 ? 0 : -1;
}

static long steps_load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die(path);
    long n = 0;
    for (;;) {
        char *line = NULL;
        size_t cap = 0;
        if (n >= STEPS_MAX || getline(&line, &cap, f) < 0)
            break;
        if (step_parse(&g_steps[n], line) == 0)
            n++;
    }
    fclose(f);
    return n;
}

/* Runs argv; with out != NULL captures stdout into it. Returns exit status. */
static int run_cmd(char **argv, char *out, size_t out_max)
{
    int p[2];
    if (out && pipe2(p, O_CLOEXEC) < 0)
        die("pipe");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int fd = out ? p[1] : open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    size_t have = 0;
    if (out) {
        close(p[1]);
        ssize_t n;
        while ((n = read(p[0], out + have, out_max - have)) > 0)
            have += (size_t)n;
        out[have] = '\0';
        close(p[0]);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int step_run(const struct step *s)
{
    if (!s->until) {
        int status = run_cmd(s->argv, NULL, 0);
        return status == 0 || (s->any_status && status < 127) ? 0 : -1;
    }
    int64_t deadline = now_ns(CLOCK_MONOTONIC) + UNTIL_TIMEOUT_MS * 1000000LL;
    while (now_ns(CLOCK_MONOTONIC) < deadline) {
        run_cmd(s->argv, g_out, UNTIL_OUTPUT_BYTES_MAX);
        if (strstr(g_out, s->until))
            return 0;
    }
    return -1;
}

static int cmd_cmdloop(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    long iter = atol(argv[1]);
    int64_t stop_at = now_ns(CLOCK_MONOTONIC) + atol(argv[2]) * 1000000000LL;
    long n = steps_load(argv[3]);
    for (long i = 0; i < iter && now_ns(CLOCK_MONOTONIC) < stop_at; i++) {
        int64_t t0 = now_ns(CLOCK_MONOTONIC);
        for (long j = 0; j < n; j++)
            if (step_run(&g_steps[j]) < 0) {
                fprintf(stderr, "benchtool: cmdloop: step %ld failed: %s\n", j,
                        g_steps[j].argv[0]);
                printf("-1\n");
                return 1;
            }
        printf("%lld\n", (long long)(now_ns(CLOCK_MONOTONIC) - t0));
        fflush(stdout);
    }
    return 0;
}

/* ---- sockloop: bay0's control protocol without a client process ---- */

/* One request on a new connection; reads the reply to EOF. 0 if the final
 * line is "OK...". */
static int sock_request(const char *path, const char *req)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (fd < 0 || strlen(path) >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    size_t len = strlen(req);
    if (write(fd, req, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
        close(fd);
        return -1;
    }
    size_t have = 0;
    ssize_t n;
    while (have < UNTIL_OUTPUT_BYTES_MAX &&
           (n = read(fd, g_out + have, UNTIL_OUTPUT_BYTES_MAX - have)) > 0)
        have += (size_t)n;
    close(fd);
    g_out[have] = '\0';
    while (have > 0 && g_out[have - 1] == '\n')
        g_out[--have] = '\0';
    char *last = strrchr(g_out, '\n');
    last = last ? last + 1 : g_out;
    return strncmp(last, "OK", 2) == 0 ? 0 : -1;
}

static int cmd_sockloop(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    long iter = atol(argv[1]);
    int64_t stop_at = now_ns(CLOCK_MONOTONIC) + atol(argv[2]) * 1000000000LL;
    for (long i = 0; i < iter && now_ns(CLOCK_MONOTONIC) < stop_at; i++) {
        int64_t t0 = now_ns(CLOCK_MONOTONIC);
        for (int r = 4; r < argc; r++)
            if (sock_request(argv[3], argv[r]) < 0) {
                fprintf(stderr, "benchtool: sockloop: '%s' failed: %.200s\n", argv[r], g_out);
                printf("-1\n");
                return 1;
            }
        printf("%lld\n", (long long)(now_ns(CLOCK_MONOTONIC) - t0));
        fflush(stdout);
    }
    return 0;
}

/* ---- logpipe: logger throughput ---- */

static char g_block[LOG_BLOCK_BYTES];

static int cmd_logpipe(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    long lines = atol(argv[1]);
    long len = atol(argv[2]);
    if (len < 16 || len > 1000)
        return 2;
    long per_block = LOG_BLOCK_BYTES / len;
    for (long i = 0; i < per_block; i++) {
        char *l = g_block + i * len;
        memset(l, 'x', (size_t)len - 1);
        memcpy(l, "benchline ", 10);
        l[len - 1] = '\n';
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        die("pipe");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        dup2(p[0], 0);
        execv(argv[3], argv + 3);
        _exit(127);
    }
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    for (long left = lines; left > 0;) {
        long now = left < per_block ? left : per_block;
        size_t bytes = (size_t)(now * len), off = 0;
        while (off < bytes) {
            ssize_t w = write(p[1], g_block + off, bytes - off);
            if (w < 0)
                die("write to logger");
            off += (size_t)w;
        }
        left -= now;
    }
    close(p[1]);
    int status = 0;
    waitpid(pid, &status, 0);
    printf("%lld\n", (long long)(now_ns(CLOCK_MONOTONIC) - t0));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *c = argv[1];
    argc--;
    argv++;
    if (strcmp(c, "stamp-exec") == 0)
        return cmd_stamp_exec(argc, argv);
    if (strcmp(c, "floor-bringup") == 0)
        return cmd_floor_bringup(argc, argv);
    if (strcmp(c, "restart") == 0)
        return cmd_restart(argc, argv);
    if (strcmp(c, "cmdloop") == 0)
        return cmd_cmdloop(argc, argv);
    if (strcmp(c, "sockloop") == 0)
        return cmd_sockloop(argc, argv);
    if (strcmp(c, "logpipe") == 0)
        return cmd_logpipe(argc, argv);
    fprintf(stderr, "benchtool: unknown command %s\n", c);
    return 2;
}
