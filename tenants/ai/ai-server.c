/* ai-server.c — the AI system tenant's stand-in: a small static server on
 * a unix socket, so the whole path (container, socket, bind mounts, peer
 * checks, drain) is real before any model exists.
 *
 *   ai-server SOCKET
 *   ai-server --ask SOCKET REQUEST    (a client: one request, prints the reply)
 *
 * Line protocol (one request per line, one reply line each, at most
 * AI_LINE_BYTES_MAX bytes; see tenants/ai/PROTOCOL.md):
 *   ping           -> pong
 *   health         -> ok uptime_ms=N requests=N clients=N
 *   echo TEXT      -> TEXT
 *   sleep MS       -> slept MS          (after MS ms, at most 60000: a slow
 *                                        request, for drain tests)
 *   anything else  -> error unknown request
 *
 * SIGTERM / SIGINT start the drain: the listening socket is closed and
 * removed at once (no new connections), idle connections are closed,
 * requests in flight get their replies, and the server exits 0 when none
 * is left or AI_DRAIN_MS (environment, default 5000) has passed (exit 1).
 * Single-threaded poll loop, fixed tables, no allocation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define AI_CLIENTS_MAX 64
#define AI_LINE_BYTES_MAX 1024
#define AI_SLEEP_MS_MAX 60000
#define AI_DRAIN_MS_DEFAULT 5000

struct client {
    int fd;
    size_t len;
    int64_t due_ms; /* a sleep in flight: reply at this time; 0 = none */
    long sleep_ms;
    char in[AI_LINE_BYTES_MAX + 1];
};

static struct client clients[AI_CLIENTS_MAX];
static volatile sig_atomic_t stop_asked;
static uint64_t requests;
static int64_t started_ms;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_stop(int sig)
{
    (void)sig;
    stop_asked = 1;
}

static void say(int fd, const char *text)
{
    char line[AI_LINE_BYTES_MAX + 2];
    int n = snprintf(line, sizeof line, "%s\n", text);
    if (n > 0)
        (void)!send(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1,
                    MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void drop(struct client *c)
{
    close(c->fd);
    c->fd = -1;
    c->len = 0;
    c->due_ms = 0;
}

static unsigned count_clients(void)
{
    unsigned n = 0;
    for (int i = 0; i < AI_CLIENTS_MAX; i++)
        n += clients[i].fd >= 0;
    return n;
}

static void answer(struct client *c, char *req)
{
    char out[AI_LINE_BYTES_MAX];
    requests++;
    if (strcmp(req, "ping") == 0)
        say(c->fd, "pong");
    else if (strcmp(req, "health") == 0) {
        snprintf(out, sizeof out, "ok uptime_ms=%lld requests=%llu clients=%u",
                 (long long)(now_ms() - started_ms), (unsigned long long)requests,
                 count_clients());
        say(c->fd, out);
    } else if (strncmp(req, "echo ", 5) == 0)
        say(c->fd, req + 5);
    else if (strncmp(req, "sleep ", 6) == 0) {
        char *end;
        long ms = strtol(req + 6, &end, 10);
        if (*end != '\0' || ms < 0 || ms > AI_SLEEP_MS_MAX) {
            say(c->fd, "error sleep takes 0..60000 ms");
            return;
        }
        c->sleep_ms = ms;
        c->due_ms = now_ms() + ms;
    } else
        say(c->fd, "error unknown request");
}

/* Read what is there; answer each complete line (none while a sleep is in
 * flight: the rest waits for it). */
static void on_readable(struct client *c)
{
    ssize_t n = recv(c->fd, c->in + c->len, AI_LINE_BYTES_MAX - c->len, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        drop(c);
        return;
    }
    if (n > 0)
        c->len += (size_t)n;
    char *nl;
    while (c->due_ms == 0 && (nl = memchr(c->in, '\n', c->len)) != NULL) {
        *nl = '\0';
        size_t used = (size_t)(nl - c->in) + 1;
        if (nl > c->in && nl[-1] == '\r')
            nl[-1] = '\0';
        answer(c, c->in);
        memmove(c->in, c->in + used, c->len - used);
        c->len -= used;
    }
    if (c->len == AI_LINE_BYTES_MAX) {
        say(c->fd, "error line too long");
        drop(c);
    }
}

static int listen_on(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "ai-server: socket path too long: %s\n", path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    (void)unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        chmod(path, 0666) != 0 || listen(fd, 64) != 0) {
        fprintf(stderr, "ai-server: cannot listen on %s: %s\n", path, strerror(errno));
        return -1;
    }
    return fd;
}

static void accept_one(int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    for (int i = 0; i < AI_CLIENTS_MAX; i++) {
        if (clients[i].fd < 0) {
            clients[i] = (struct client){.fd = fd};
            return;
        }
    }
    say(fd, "error busy");
    close(fd);
}

/* Replies due now; returns ms until the next one (-1: none). */
static int serve_due(void)
{
    int64_t now = now_ms(), next = -1;
    for (int i = 0; i < AI_CLIENTS_MAX; i++) {
        struct client *c = &clients[i];
        if (c->fd < 0 || c->due_ms == 0)
            continue;
        if (c->due_ms <= now) {
            char out[64];
            snprintf(out, sizeof out, "slept %ld", c->sleep_ms);
            say(c->fd, out);
            c->due_ms = 0;
            continue;
        }
        if (next < 0 || c->due_ms - now < next)
            next = c->due_ms - now;
    }
    return (int)next;
}

static bool in_flight(void)
{
    for (int i = 0; i < AI_CLIENTS_MAX; i++)
        if (clients[i].fd >= 0 && clients[i].due_ms != 0)
            return true;
    return false;
}

/* The client: personas (and tests) use it through their bind mount. */
static int ask(const char *path, const char *req)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        return 2;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        fprintf(stderr, "ai-server --ask: cannot connect to %s: %s\n", path, strerror(errno));
        return 1;
    }
    say(fd, req);
    char c;
    while (read(fd, &c, 1) == 1) {
        if (c == '\n')
            break;
        putchar(c);
    }
    putchar('\n');
    return 0;
}

/* After SIGTERM: stop listening once, drop idle clients, and say when to
 * exit (0 drained, 1 deadline passed); -1: keep serving. */
static int drain_step(int *lfd, const char *path, int64_t *drain_until, long drain_ms)
{
    if (stop_asked && *drain_until == 0) {
        close(*lfd); /* no new connections from here on */
        *lfd = -1;
        (void)unlink(path);
        *drain_until = now_ms() + drain_ms;
        printf("ai-server: draining (up to %ld ms)\n", drain_ms);
        fflush(stdout);
    }
    if (*drain_until == 0)
        return -1;
    for (int i = 0; i < AI_CLIENTS_MAX; i++)
        if (clients[i].fd >= 0 && clients[i].due_ms == 0)
            drop(&clients[i]);
    if (!in_flight()) {
        printf("ai-server: drained, exiting\n");
        return 0;
    }
    if (now_ms() >= *drain_until) {
        printf("ai-server: drain deadline passed with requests in flight\n");
        return 1;
    }
    return -1;
}

/* One poll over the listener and the clients, then their events. */
static bool serve_once(int lfd, int64_t drain_until)
{
    struct pollfd p[AI_CLIENTS_MAX + 1];
    int idx[AI_CLIENTS_MAX + 1], np = 0;
    if (lfd >= 0) {
        p[np] = (struct pollfd){.fd = lfd, .events = POLLIN};
        idx[np++] = -1;
    }
    for (int i = 0; i < AI_CLIENTS_MAX; i++) {
        if (clients[i].fd < 0)
            continue;
        p[np] = (struct pollfd){.fd = clients[i].fd,
                                .events = clients[i].due_ms ? 0 : POLLIN};
        idx[np++] = i;
    }
    int wait_ms = serve_due();
    if (drain_until != 0) {
        int left = (int)(drain_until - now_ms());
        if (wait_ms < 0 || left < wait_ms)
            wait_ms = left < 0 ? 0 : left;
    }
    int n = poll(p, (nfds_t)np, wait_ms);
    if (n < 0 && errno != EINTR)
        return false;
    for (int k = 0; n > 0 && k < np; k++) {
        if (p[k].revents == 0)
            continue;
        if (idx[k] < 0)
            accept_one(lfd);
        else if (clients[idx[k]].fd >= 0)
            on_readable(&clients[idx[k]]);
    }
    (void)serve_due();
    return true;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--ask") == 0)
        return ask(argv[2], argv[3]);
    if (argc != 2) {
        fprintf(stderr, "usage: ai-server SOCKET | ai-server --ask SOCKET REQUEST\n");
        return 2;
    }
    const char *drain_env = getenv("AI_DRAIN_MS");
    long drain_ms = drain_env ? strtol(drain_env, NULL, 10) : AI_DRAIN_MS_DEFAULT;
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < AI_CLIENTS_MAX; i++)
        clients[i].fd = -1;
    started_ms = now_ms();
    int lfd = listen_on(argv[1]);
    if (lfd < 0)
        return 1;
    printf("ai-server: listening on %s pid %d\n", argv[1], (int)getpid());
    fflush(stdout);
    int64_t drain_until = 0;
    for (;;) {
        int rc = drain_step(&lfd, argv[1], &drain_until, drain_ms);
        if (rc >= 0)
            return rc;
        if (!serve_once(lfd, drain_until))
            return 1;
    }
}
