/* runner.c — state work with a hard deadline.
 *
 * The work runs in a forked child; the parent polls two pipes until the
 * deadline: an optional output pipe (the child's answer, read into the
 * caller's buffer) and a result pipe (one byte written just before _exit).
 * A hung disk leaves the child stuck (maybe in D state): the parent sends it
 * SIGKILL, returns STATE_TIMEOUT and never waits for it — PID 1's reaper
 * collects it whenever it dies. The result travels in the pipe, not in the
 * exit status, so a reaper that reaps first loses nothing.
 *
 * Owns: fork + deadline. Never blocks past the deadline; never runs SQLite
 * in the caller's process (the caller must not hold a db open across the
 * fork either).
 */
#include "state/state_internal.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct run_io {
    int res_fd;   /* result byte; -1 once read or closed */
    int data_fd;  /* output; -1 when unused or at EOF */
    char *out;
    size_t out_cap;
    size_t out_len;
    bool overflow;
    int result;   /* -1 until the byte arrives */
};

_Noreturn static void child_run(state_bounded_out_fn fn, void *ctx,
                                int res_w, int data_w)
{
    /* PID 1's panic policy (sync, reboot) must not run in a worker: an
     * assertion here ends this child only. Signals PID 1 blocked for its
     * signalfd are unblocked, with default dispositions, so SIGTERM/SIGINT
     * end a stuck worker too and never run a PID 1 handler here. */
    bay0_set_panic_handler(NULL);
    child_signals_reset(true);
    int rc = fn(ctx, data_w);
    uint8_t b = (uint8_t)(rc < 0 ? 255 : rc > 255 ? 255 : rc);
    fflush(stdout);
    fflush(stderr);
    if (data_w >= 0)
        close(data_w); /* EOF for the parent before the result byte */
    (void)!write(res_w, &b, 1);
    _exit(b);
}

static void io_read_data(struct run_io *io)
{
    char discard[512];
    char *dst = discard;
    size_t room = sizeof discard;
    if (io->out_len < io->out_cap) {
        dst = io->out + io->out_len;
        room = io->out_cap - io->out_len;
    }
    ssize_t n = read(io->data_fd, dst, room);
    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        close(io->data_fd);
        io->data_fd = -1;
        return;
    }
    if (dst == discard)
        io->overflow = true;
    else
        io->out_len += (size_t)n;
}

static void io_read_result(struct run_io *io)
{
    uint8_t b;
    ssize_t n = read(io->res_fd, &b, 1);
    if (n < 0 && errno == EINTR)
        return;
    if (n == 1 && io->result < 0) {
        io->result = b;
        return; /* keep polling for EOF: the child's exit, to reap it */
    }
    close(io->res_fd);
    io->res_fd = -1;
}

/* Poll until the result byte and the output's EOF came, or the deadline. */
static bool io_wait(struct run_io *io, int64_t deadline_ms)
{
    while (io->res_fd >= 0 || io->data_fd >= 0) {
        int64_t left = deadline_ms - time_mono_ms();
        if (left < 0)
            left = 0;
        struct pollfd p[2] = {{.fd = io->data_fd, .events = POLLIN},
                              {.fd = io->res_fd, .events = POLLIN}};
        int n = poll(p, 2, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        if (p[0].revents != 0)
            io_read_data(io);
        if (p[1].revents != 0)
            io_read_result(io);
    }
    return true;
}

static void io_close(struct run_io *io)
{
    if (io->res_fd >= 0)
        close(io->res_fd);
    if (io->data_fd >= 0)
        close(io->data_fd);
}

enum state_result state_run_bounded_out(state_bounded_out_fn fn, void *ctx,
                                        uint32_t timeout_ms, const char *what,
                                        char *out, size_t out_cap,
                                        size_t *out_len, int *child_rc)
{
    int64_t deadline_ms = time_mono_ms() + timeout_ms;
    int res[2], data[2] = {-1, -1};
    *child_rc = -1;
    if (out_len != NULL)
        *out_len = 0;
    if (pipe2(res, O_CLOEXEC) != 0 ||
        (out != NULL && pipe2(data, O_CLOEXEC) != 0)) {
        log_error("event=state-op-failed op=%s error=\"pipe: %s\"", what, strerror(errno));
        return STATE_ERROR; /* fds leak only on a failure PID 1 survives */
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(res[0]);
        if (data[0] >= 0)
            close(data[0]);
        child_run(fn, ctx, res[1], data[1]);
    }
    close(res[1]);
    if (data[1] >= 0)
        close(data[1]);
    struct run_io io = {.res_fd = res[0], .data_fd = data[0], .out = out,
                        .out_cap = out_cap, .result = -1};
    if (pid < 0) {
        log_error("event=state-op-failed op=%s error=\"fork: %s\"", what, strerror(errno));
        io_close(&io);
        return STATE_ERROR;
    }
    bool done = io_wait(&io, deadline_ms);
    io_close(&io);
    if (out_len != NULL)
        *out_len = io.out_len;
    if (!done && io.result < 0) {
        kill(pid, SIGKILL);
        return STATE_TIMEOUT; /* the child is left for the reaper */
    }
    int status = 0;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (io.result < 0) {
        if (w == pid && WIFSIGNALED(status))
            log_error("event=state-worker-died op=%s pid=%d signal=%s", what,
                      (int)pid, signal_name(WTERMSIG(status)));
        else
            log_error("event=state-worker-died op=%s pid=%d reason=\"ended without a result\"",
                      what, (int)pid);
        return STATE_ERROR;
    }
    *child_rc = io.result;
    if (io.overflow) {
        log_error("event=state-op-failed op=%s error=\"answer longer than %zu bytes\"", what,
                  out_cap);
        return STATE_ERROR;
    }
    return STATE_OK;
}

struct plain_call {
    state_bounded_fn fn;
    void *ctx;
};

static int plain_trampoline(void *ctx, int out_fd)
{
    (void)out_fd;
    struct plain_call *c = ctx;
    return c->fn(c->ctx);
}

enum state_result state_run_bounded(state_bounded_fn fn, void *ctx,
                                    uint32_t timeout_ms, const char *what,
                                    int *child_rc)
{
    struct plain_call c = {.fn = fn, .ctx = ctx};
    return state_run_bounded_out(plain_trampoline, &c, timeout_ms, what,
                                 NULL, 0, NULL, child_rc);
}
