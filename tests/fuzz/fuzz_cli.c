/* fuzz_cli.c — libFuzzer target for the client side (src/cli.c): what
 * `bay0 status [--json] [NAME]` and `bay0 deps [--dot] [NAME]` do with a
 * reply, when the reply is arbitrary bytes. A fake supervisor (a thread
 * of this process listening on RUNDIR/control in a temp dir) reads the
 * request line and answers with the fuzz input, then closes; the real
 * cli_status / cli_deps connect, read, parse rows and render them.
 *
 * Input: byte 0 picks the command (bit 0 --json/--dot, bit 1 a NAME,
 * bit 2 deps instead of status); the rest is the reply.
 * Checks: no crash or sanitizer report; the exit code is 0-124 (the
 * client passes a server's "ERR N" code through when 0 < N < 125, so a
 * reply can pick codes beyond the documented 0-4). stdout and stderr of the CLI are noise: run with
 * -close_fd_mask=3 (run.sh does).
 */
#include "cli.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FUZZ_INPUT_BYTES_MAX 65536

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64];
static int listen_fd = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const uint8_t *reply;
static size_t reply_len;

static void cleanup(void)
{
    if (base[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
        (void)!system(cmd);
    }
}

/* The fake supervisor: one request line in, the fuzz reply out, close. */
static void *server(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            abort();
        }
        char req[8192];
        size_t len = 0;
        while (len < sizeof req) {
            ssize_t n = read(fd, req + len, sizeof req - len);
            if (n <= 0)
                break;
            len += (size_t)n;
            if (memchr(req, '\n', len))
                break;
        }
        pthread_mutex_lock(&lock);
        if (reply_len)
            (void)!fd_write_all(fd, reply, reply_len);
        pthread_mutex_unlock(&lock);
        close(fd);
    }
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    signal(SIGPIPE, SIG_IGN);
    /* run.sh points BAY0_FUZZ_TMPDIR at a directory it removes afterwards
     * (a crash skips atexit); tmpfs keeps the file writes cheap. */
    const char *root = getenv("BAY0_FUZZ_TMPDIR");
    if (!root || !root[0])
        root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(base, sizeof base, "%s/bay0-fuzz-cli-XXXXXX", root);
    if (!mkdtemp(base))
        abort();
    atexit(cleanup);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/control", base);
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(listen_fd, 8) < 0)
        abort();
    pthread_t t;
    if (pthread_create(&t, NULL, server, NULL) != 0)
        abort();
    pthread_detach(t);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > FUZZ_INPUT_BYTES_MAX)
        return -1;
    pthread_mutex_lock(&lock);
    reply = data + 1;
    reply_len = size - 1;
    pthread_mutex_unlock(&lock);
    unsigned mode = data[0];
    bool deps = mode & 4;
    char *argv[8];
    int argc = 0;
    argv[argc++] = deps ? "deps" : "status";
    argv[argc++] = "--rundir";
    argv[argc++] = base;
    if (mode & 1)
        argv[argc++] = deps ? "--dot" : "--json";
    if (mode & 2)
        argv[argc++] = "web";
    argv[argc] = NULL;
    int rc = deps ? cli_deps(argc, argv) : cli_status(argc, argv);
    fflush(stdout);
    pthread_mutex_lock(&lock);
    reply_len = 0;
    pthread_mutex_unlock(&lock);
    if (rc < 0 || rc > 124) {
        fprintf(stderr, "exit code %d\n", rc);
        abort();
    }
    return 0;
}
