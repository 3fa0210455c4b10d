/* fuzz_control.c — libFuzzer target for the control socket server
 * (src/control.c), end to end: the real supervisor objects, a real
 * service table read from a real scan directory, the real listening
 * socket in a temp rundir, and real client connections. The fuzzer plays
 * the event loop: it dispatches the epoll events the supervisor would
 * (accept, connection readable/writable) and reads the replies.
 *
 * Every service in the scan directory has a configuration error (no run,
 * a run that is not executable, a bad file, a bad name), so no request can
 * spawn a process: start/restart end in `failed`, stop in `down`; the
 * request parsing, name resolution, status streaming (150 long rows, more
 * than one output buffer), signal, reload and shutdown paths all run.
 *
 * Input: up to CLIENTS_MAX requests split at 0xff, each sent on its own
 * connection (all connected before any is served). Checks, per input:
 *   - a connection that sent a newline (or CONTROL_REQUEST_BYTES_MAX
 *     bytes) gets a reply whose last line is "OK..." or "ERR N ..." and
 *     then EOF; one that sent neither gets EOF and no reply: never a stall;
 *   - an "events" request gets JSON lines (its subscription line at
 *     least, whole objects) and EOF once the client has sent everything;
 *   - no fd is leaked (the count in /proc/self/fd is the same after an
 *     input as before it).
 * The table is restored after each input so runs are reproducible.
 */
#include "control.h"
#include "log.h"
#include "loop.h"
#include "scan.h"
#include "svc.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define FUZZ_INPUT_BYTES_MAX 16384
#define CLIENTS_MAX 6 /* below CONTROL_CONNECTIONS_MAX: no eviction */
#define SEP 0xff
#define SERVICES_FILLER 150 /* long names: status needs several buffers */
#define PUMP_IDLE_ROUNDS_MAX 4
#define PUMP_ROUNDS_MAX 100000
#define TAIL_BYTES 512

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64], scandir_path[96], rundir_path[96], logdir_path[96];
static struct sockaddr_un addr = {.sun_family = AF_UNIX};
static struct svc *snapshot;
static uint32_t snapshot_used_hi;

static void cleanup(void)
{
    if (base[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
        (void)!system(cmd);
    }
}

static void put(const char *rel, const char *text, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", scandir_path, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || fd_write_all(fd, text, strlen(text)) < 0)
        abort();
    close(fd);
}

static void mkdir_scan(const char *rel)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", scandir_path, rel);
    if (mkdir(path, 0755) < 0)
        abort();
}

/* Services that all fail to load, each for a different reason. */
static void make_scandir(void)
{
    mkdir_scan("web");                         /* no run */
    mkdir_scan("db");
    put("db/run", "#!/bin/sh\n", 0644);        /* not executable */
    mkdir_scan("cron");
    put("cron/run", "#!/bin/sh\n", 0755);
    put("cron/timeout-kill", "soon", 0644);    /* bad number */
    mkdir_scan("getty@tty1");
    put("getty@tty1/run", "#!/bin/sh\n", 0755);
    put("getty@tty1/type", "oneshot", 0644);
    put("getty@tty1/notify", "", 0644);        /* oneshot with readiness */
    mkdir_scan("bad name");                    /* shown, never valid */
    mkdir_scan(".hidden");                     /* skipped */
    for (int i = 0; i < SERVICES_FILLER; i++) {
        char name[64];
        snprintf(name, sizeof name, "filler-with-a-long-name-to-make-long-status-rows-%03d", i);
        mkdir_scan(name);
    }
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        abort();
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_set_level((enum log_level)(LOG_LEVEL_ERROR + 1)); /* silence */
    signal(SIGPIPE, SIG_IGN);
    /* run.sh points BAY0_FUZZ_TMPDIR at a directory it removes afterwards
     * (a crash skips atexit); tmpfs keeps the file writes cheap. */
    const char *root = getenv("BAY0_FUZZ_TMPDIR");
    if (!root || !root[0])
        root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(base, sizeof base, "%s/bay0-fuzz-ctl-XXXXXX", root);
    if (!mkdtemp(base))
        abort();
    atexit(cleanup);
    snprintf(scandir_path, sizeof scandir_path, "%s/scan", base);
    snprintf(rundir_path, sizeof rundir_path, "%s/run", base);
    snprintf(logdir_path, sizeof logdir_path, "%s/log", base);
    if (mkdir(scandir_path, 0755) || mkdir(rundir_path, 0755) || mkdir(logdir_path, 0755))
        abort();
    make_scandir();
    sup.scandir = scandir_path;
    sup.rundir = rundir_path;
    sup.logdir = logdir_path;
    sup.scan_fd = open(scandir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    sup.devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    sup.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (sup.scan_fd < 0 || sup.devnull_fd < 0 || sup.epoll_fd < 0 ||
        control_listen(rundir_path) < 0 || sup_table_init(0) < 0)
        abort();
    sup_scan(true);
    snapshot_used_hi = sup.used_hi;
    snapshot = malloc(sizeof *snapshot * sup.slots);
    if (!snapshot)
        abort();
    memcpy(snapshot, sup.svcs, sizeof *snapshot * sup.slots);
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/control", rundir_path);
    return 0;
}

struct client {
    int fd;
    bool eof;
    bool must_reply;
    bool events; /* an "events" stream: JSON lines until EOF, no final line */
    size_t got;
    char tail[TAIL_BYTES + 1]; /* the last bytes of the reply */
};

static void client_recv(struct client *c, bool *progress)
{
    char buf[4096];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        *progress = true;
        if (n <= 0) { /* EOF, or ECONNRESET when the server left input unread */
            c->eof = true;
            return;
        }
        size_t keep = (size_t)n < TAIL_BYTES ? (size_t)n : TAIL_BYTES;
        size_t old = c->got < TAIL_BYTES ? c->got : TAIL_BYTES;
        if (old + keep > TAIL_BYTES) {
            size_t drop = old + keep - TAIL_BYTES;
            memmove(c->tail, c->tail + drop, old - drop);
            old -= drop;
        }
        memcpy(c->tail + old, buf + n - keep, keep);
        c->tail[old + keep] = '\0';
        c->got += (size_t)n;
    }
}

/* The supervisor's dispatch, for the kinds a control request can raise. */
static bool serve_once(void)
{
    struct epoll_event ev[64];
    int n = epoll_wait(sup.epoll_fd, ev, 64, 0);
    for (int i = 0; i < n; i++) {
        uint32_t kind = (uint32_t)(ev[i].data.u64 >> 32);
        int32_t index = (int32_t)(uint32_t)ev[i].data.u64;
        if (kind == WATCH_CONTROL)
            control_on_accept();
        else if (kind == WATCH_CONN)
            control_on_conn(index, ev[i].events);
    }
    return n > 0;
}

static void pump(struct client *cl, int ncl)
{
    int idle = 0;
    for (int round = 0; round < PUMP_ROUNDS_MAX && idle < PUMP_IDLE_ROUNDS_MAX; round++) {
        bool progress = serve_once();
        bool all_eof = true;
        for (int i = 0; i < ncl; i++) {
            if (!cl[i].eof)
                client_recv(&cl[i], &progress);
            all_eof &= cl[i].eof;
        }
        if (all_eof)
            return;
        idle = progress ? 0 : idle + 1;
    }
}

static bool final_line_ok(const char *tail)
{
    size_t n = strlen(tail);
    if (n == 0 || tail[n - 1] != '\n')
        return false;
    const char *line = tail + n - 1;
    while (line > tail && line[-1] != '\n')
        line--;
    if (strncmp(line, "OK", 2) == 0 && (line[2] == '\n' || line[2] == ' '))
        return true;
    int code = -1, used = 0;
    return sscanf(line, "ERR %d %n", &code, &used) == 1 && used > 0 &&
           code >= 1 && code <= 4;
}

/* The request's first line is exactly the verb "events" (blanks around
 * it allowed, no control byte): the supervisor streams instead of
 * replying once. */
static bool is_events_request(const uint8_t *p, size_t n)
{
    const uint8_t *nl = memchr(p, '\n', n);
    if (!nl)
        return false;
    char word[8];
    size_t k = 0;
    int words = 0;
    for (const uint8_t *q = p; q < nl; q++) {
        bool blank = *q == ' ' || *q == '\t';
        if (*q < 32 && !blank)
            return false; /* malformed: ERR 2 */
        if (blank)
            continue;
        if (q == p || q[-1] == ' ' || q[-1] == '\t')
            words++;
        if (words > 1 || k + 1 >= sizeof word)
            return false;
        word[k++] = (char)*q;
    }
    word[k] = '\0';
    return words == 1 && strcmp(word, "events") == 0;
}

/* An events stream: at least the subscription line, and the last line a
 * whole JSON object. */
static bool events_tail_ok(const struct client *c)
{
    size_t n = strlen(c->tail);
    if (c->got == 0 || n < 3 || c->tail[n - 1] != '\n' || c->tail[n - 2] != '}')
        return false;
    const char *line = c->tail + n - 1;
    while (line > c->tail && line[-1] != '\n')
        line--;
    return line[0] == '{' && line[1] == '"';
}

static void check(const struct client *c, int i)
{
    if (!c->eof) {
        fprintf(stderr, "client %d: no EOF (must_reply=%d, got %zu bytes): a stall\n",
                i, c->must_reply, c->got);
        abort();
    }
    if (c->events) {
        if (!events_tail_ok(c)) {
            fprintf(stderr, "client %d: events stream without its lines; tail:\n%s\n", i,
                    c->tail);
            abort();
        }
        return;
    }
    if (c->must_reply && !final_line_ok(c->tail)) {
        fprintf(stderr, "client %d: bad or missing final line; tail:\n%s\n", i, c->tail);
        abort();
    }
    if (!c->must_reply && c->got != 0) {
        fprintf(stderr, "client %d: a reply to an unfinished request:\n%s\n", i, c->tail);
        abort();
    }
}

static void restore_table(void)
{
    if (sup.used_hi != snapshot_used_hi)
        abort(); /* the scan directory never changes */
    memcpy(sup.svcs, snapshot, sizeof *snapshot * sup.slots);
    sup.shutting_down = false;
}

static int connect_client(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        abort();
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_INPUT_BYTES_MAX)
        return -1;
    /* Counted per input: libFuzzer's symbolizer opens pipes between runs. */
    int open_fds = count_fds();
    static struct client cl[CLIENTS_MAX];
    const uint8_t *chunk[CLIENTS_MAX];
    size_t len[CLIENTS_MAX];
    int ncl = 0;
    for (const uint8_t *p = data, *end = data + size; ncl < CLIENTS_MAX;) {
        const uint8_t *sep = memchr(p, SEP, (size_t)(end - p));
        chunk[ncl] = p;
        len[ncl++] = (size_t)((sep ? sep : end) - p);
        if (!sep)
            break;
        p = sep + 1;
    }
    for (int i = 0; i < ncl; i++) {
        memset(&cl[i], 0, sizeof cl[i]);
        cl[i].fd = connect_client();
        size_t head = len[i] < CONTROL_REQUEST_BYTES_MAX ? len[i] : CONTROL_REQUEST_BYTES_MAX;
        cl[i].must_reply = memchr(chunk[i], '\n', head) != NULL ||
                           len[i] >= CONTROL_REQUEST_BYTES_MAX;
        cl[i].events = is_events_request(chunk[i], head);
    }
    for (int i = 0; i < ncl; i++) {
        if (len[i] && fd_write_all(cl[i].fd, chunk[i], len[i]) < 0 && errno != EPIPE &&
            errno != ECONNRESET)
            abort();
        shutdown(cl[i].fd, SHUT_WR); /* a request without newline ends here */
    }
    pump(cl, ncl);
    for (int i = 0; i < ncl; i++)
        check(&cl[i], i);
    for (int i = 0; i < ncl; i++)
        close(cl[i].fd);
    serve_once(); /* the server notices the closed clients */
    restore_table();
    int fds = count_fds();
    if (fds != open_fds) {
        fprintf(stderr, "fd leak: %d open fds, %d before the input\n", fds, open_fds);
        abort();
    }
    return 0;
}
