/* exec.c — the one runner for every child with a deadline (see exec.h):
 * external commands (exec_run) and bay0's own work in a fork
 * (exec_fn_run; state_run_bounded* and through it PID 1 use it).
 *
 * One core for both: the parent polls the child's pipes (read as they
 * come, so a chatty child never blocks on a full pipe; what does not fit
 * the caller's buffer is read and dropped) until the child is done or
 * the deadline passes.
 * - exec_run: the child gets its own process group (a deadline kills what
 *   it started in that group too), dies with its caller (PR_SET_PDEATHSIG),
 *   stdin from /dev/null, stdout and stderr on two pipes, and a
 *   close-on-exec pipe that carries errno back when exec fails. Done is its
 *   exit (a pidfd), not the pipes' EOF: a daemon it left behind (conmon)
 *   may hold them open for ever. Past the deadline: SIGKILL to the group,
 *   reaped within EXEC_KILL_WAIT_MS.
 * - exec_fn_run: the child runs a function and writes its result byte to
 *   a pipe just before _exit; done is that pipe's and the output's EOF.
 *   The result travels in the pipe, not the exit status, so a reaper that
 *   reaps first loses nothing. Past the deadline: SIGKILL, and the child is
 *   never waited for (stuck in D state on a hung disk, it is the reaper's).
 *
 * Owns: fork, exec, capture, deadline, exec_run's two log lines. Never
 * allocates; exec_run blocks its caller up to the deadline (plus
 * EXEC_KILL_WAIT_MS), so never runs in PID 1's loop; exec_fn_run never
 * blocks past the deadline.
 */
#include "exec.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXEC_CMD_LOG_BYTES 400 /* the command as shown in the before-line */

void exec_argv_init(struct exec_argv *a)
{
    a->argc = 0;
    a->used_bytes = 0;
    a->overflow = false;
    a->argv[0] = NULL;
}

bool exec_argv_add(struct exec_argv *a, const char *arg)
{
    size_t n = strlen(arg) + 1;
    if (a->overflow || a->argc >= EXEC_ARGS_MAX ||
        n > sizeof a->bytes - a->used_bytes) {
        a->overflow = true;
        return false;
    }
    char *dst = a->bytes + a->used_bytes;
    memcpy(dst, arg, n);
    a->used_bytes += n;
    a->argv[a->argc++] = dst;
    a->argv[a->argc] = NULL;
    return true;
}

bool exec_argv_add_words(struct exec_argv *a, const char *words)
{
    const char *p = words;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, " \t");
        if (n == 0)
            break;
        char word[EXEC_ARGV_BYTES_MAX];
        if (n >= sizeof word) {
            a->overflow = true;
            return false;
        }
        memcpy(word, p, n);
        word[n] = '\0';
        if (!exec_argv_add(a, word))
            return false;
        p += n;
    }
    return true;
}

const char *exec_podman_cmdline(void)
{
    const char *env = getenv("BAY0_PODMAN");
    if (env == NULL || env[strspn(env, " \t")] == '\0')
        return "podman";
    return env;
}

bool exec_argv_podman(struct exec_argv *a)
{
    exec_argv_init(a);
    return exec_argv_add_words(a, exec_podman_cmdline()) && a->argc > 0;
}

const char *exec_result_text(const struct exec_result *r, uint32_t deadline_ms,
                             char *buf, size_t size)
{
    switch (r->outcome) {
    case EXEC_EXITED:
        str_fmt(buf, size, "exit %d", r->exit_code);
        break;
    case EXEC_SIGNALED:
        str_fmt(buf, size, "signal %s", signal_name(r->term_signal));
        break;
    case EXEC_TIMEOUT:
        str_fmt(buf, size, "timeout after %u ms", deadline_ms);
        break;
    case EXEC_NOT_RUN:
        str_fmt(buf, size, "not run: %s", strerror(r->exec_errno));
        break;
    }
    return buf;
}

/* ---- the child ----------------------------------------------------------- */

_Noreturn static void child_exec(const struct exec_argv *a, int out_w,
                                 int err_w, int errno_w, pid_t parent)
{
    /* the command dies with its caller: a killed job never leaves a podman
     * call running behind the next one's back */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    setpgid(0, 0);
    child_signals_for_exec();
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 ||
        dup2(out_w >= 0 ? out_w : null_fd, STDOUT_FILENO) < 0 ||
        dup2(err_w >= 0 ? err_w : null_fd, STDERR_FILENO) < 0) {
        int e = errno;
        (void)!write(errno_w, &e, sizeof e);
        _exit(127);
    }
    execvp(a->argv[0], a->argv);
    int e = errno;
    (void)!write(errno_w, &e, sizeof e);
    _exit(127);
}

_Noreturn static void child_fn(exec_fn fn, void *ctx, int res_w, int out_w)
{
    /* PID 1's panic policy (sync, reboot) must not run in a worker: an
     * assertion here ends this child only. Signals PID 1 blocked for its
     * signalfd are unblocked, with default dispositions, so SIGTERM/SIGINT
     * end a stuck worker too and never run a PID 1 handler here. */
    bay0_set_panic_handler(NULL);
    child_signals_reset(true);
    int rc = fn(ctx, out_w);
    uint8_t b = (uint8_t)(rc < 0 ? 255 : rc > 255 ? 255 : rc);
    fflush(stdout);
    fflush(stderr);
    if (out_w >= 0)
        close(out_w); /* EOF for the parent before the result byte */
    (void)!write(res_w, &b, 1);
    _exit(b);
}

/* ---- the parent ---------------------------------------------------------- */

struct capture {
    int fd; /* -1 at EOF or when unused */
    struct exec_buf *buf;
};

static void capture_read(struct capture *c)
{
    char discard[4096];
    for (int rounds = 0; rounds < 64 && c->fd >= 0; rounds++) {
        char *dst = discard;
        size_t room = sizeof discard;
        size_t keep = c->buf == NULL ? 0 : c->buf->raw ? c->buf->cap
                      : c->buf->cap > 0 ? c->buf->cap - 1 : 0;
        if (c->buf != NULL && c->buf->len < keep) {
            dst = c->buf->data + c->buf->len;
            room = keep - c->buf->len;
        }
        ssize_t n = read(c->fd, dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            close(c->fd);
            c->fd = -1;
            return;
        }
        if (dst == discard) {
            if (c->buf != NULL)
                c->buf->truncated = true;
        } else {
            c->buf->len += (size_t)n;
            if (!c->buf->raw)
                c->buf->data[c->buf->len] = '\0';
        }
    }
}

static void capture_close(struct capture *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static bool reaped(pid_t pid, int *status)
{
    pid_t w;
    do
        w = waitpid(pid, status, WNOHANG);
    while (w < 0 && errno == EINTR);
    return w == pid;
}

/* What a wait watches: two captures, and either the child's exit (pid > 0:
 * its pidfd end_fd, or 50 ms ticks without one) or, with pid 0, the EOF of
 * every capture. */
struct child_wait {
    struct capture cap[2];
    pid_t pid;
    int end_fd;
    int status; /* when reaped */
};

static bool wait_done(struct child_wait *w)
{
    if (w->pid > 0)
        return w->end_fd < 0 && reaped(w->pid, &w->status);
    return w->cap[0].fd < 0 && w->cap[1].fd < 0;
}

/* Poll the captures (and the exit) until done or the deadline; true when
 * done (with pid > 0: reaped, status filled). */
static bool wait_child(struct child_wait *w, int64_t deadline_ms)
{
    bool by_exit = w->pid > 0;
    for (;;) {
        if (wait_done(w))
            return true;
        int64_t left_ms = deadline_ms - time_mono_ms();
        if (left_ms <= 0)
            return by_exit && reaped(w->pid, &w->status);
        if (by_exit && w->end_fd < 0 && left_ms > 50)
            left_ms = 50;
        struct pollfd p[3] = {{.fd = w->cap[0].fd, .events = POLLIN},
                              {.fd = w->cap[1].fd, .events = POLLIN},
                              {.fd = w->end_fd, .events = POLLIN}};
        int n = poll(p, 3, (int)left_ms);
        if (n < 0 && errno != EINTR)
            return by_exit && reaped(w->pid, &w->status);
        for (int i = 0; i < 2; i++)
            if (n > 0 && p[i].revents != 0)
                capture_read(&w->cap[i]);
        if (n > 0 && p[2].revents != 0 && reaped(w->pid, &w->status))
            return true;
    }
}

/* After SIGKILL, reap within EXEC_KILL_WAIT_MS, or leave it to a reaper. */
static void kill_and_reap(pid_t pid, int pidfd)
{
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    int status;
    int64_t until_ms = time_mono_ms() + EXEC_KILL_WAIT_MS;
    while (!reaped(pid, &status) && time_mono_ms() < until_ms) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        if (pidfd < 0 || poll(&p, 1, EXEC_KILL_WAIT_MS) < 0)
            poll(NULL, 0, 10);
    }
}

static void cmd_text(const struct exec_argv *a, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < a->argc && len + 1 < size; i++) {
        int n = snprintf(out + len, size - len, "%s%s", i ? " " : "",
                         a->argv[i]);
        if (n < 0)
            break;
        len += (size_t)n;
    }
    if (len >= size)
        len = size - 1;
    for (size_t i = 0; i < len; i++)
        if (out[i] == '"' || (unsigned char)out[i] < 0x20)
            out[i] = '\'';
}

/* The last EXEC_STDERR_TAIL_BYTES of err, one line, quotes replaced. */
static void tail_text(const struct exec_buf *err, char *out, size_t size)
{
    out[0] = '\0';
    if (err == NULL || err->len == 0)
        return;
    size_t len = err->len;
    while (len > 0 && (err->data[len - 1] == '\n' || err->data[len - 1] == ' '))
        len--;
    size_t from = len > size - 1 ? len - (size - 1) : 0;
    size_t n = len - from;
    memcpy(out, err->data + from, n);
    out[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (out[i] == '"' || (unsigned char)out[i] < 0x20)
            out[i] = out[i] == '"' ? '\'' : ' ';
}

static void log_after(const char *what, const struct exec_result *r,
                      uint32_t deadline_ms, const struct exec_buf *err)
{
    char res[96];
    exec_result_text(r, deadline_ms, res, sizeof res);
    if (r->outcome == EXEC_EXITED && r->exit_code == 0) {
        log_info("event=exec-done what=%s result=\"%s\" elapsed_ms=%lld pid=%d", what,
                 res, (long long)r->elapsed_ms, (int)r->pid);
        return;
    }
    char tail[EXEC_STDERR_TAIL_BYTES + 1];
    tail_text(err, tail, sizeof tail);
    log_warn("event=exec-failed what=%s result=\"%s\" elapsed_ms=%lld pid=%d "
             "stderr=\"%s\"",
             what, res, (long long)r->elapsed_ms, (int)r->pid, tail);
}

static void fill_status(struct exec_result *r, int status, int errno_fd)
{
    int e = 0;
    if (read(errno_fd, &e, sizeof e) == (ssize_t)sizeof e) {
        r->outcome = EXEC_NOT_RUN;
        r->exec_errno = e;
    } else if (WIFEXITED(status)) {
        r->outcome = EXEC_EXITED;
        r->exit_code = WEXITSTATUS(status);
    } else {
        r->outcome = EXEC_SIGNALED;
        r->term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
}

static void buf_reset(struct exec_buf *b)
{
    if (b == NULL || b->cap == 0)
        return;
    b->len = 0;
    b->truncated = false;
    b->data[0] = '\0';
}

static bool open_pipes(int out[2], int err[2], int eno[2], bool want_out,
                       bool want_err)
{
    out[0] = out[1] = err[0] = err[1] = eno[0] = eno[1] = -1;
    if (pipe2(eno, O_CLOEXEC) != 0)
        return false;
    if (want_out && pipe2(out, O_CLOEXEC) != 0)
        return false;
    if (want_err && pipe2(err, O_CLOEXEC) != 0)
        return false;
    return true;
}

static void close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
}

/* Pipes (out and err when wanted, the third always), then fork. In the
 * parent: the write ends closed, the read ends non-blocking; -1 (errno
 * set, every fd closed) when a pipe or the fork failed. In the child (0):
 * every end still open. */
static pid_t start_child(int po[2], int pe[2], int p3[2], bool want_out, bool want_err)
{
    int e;
    if (!open_pipes(po, pe, p3, want_out, want_err)) {
        e = errno;
        int all[6] = {po[0], po[1], pe[0], pe[1], p3[0], p3[1]};
        close_fds(all, 6);
        errno = e;
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0)
        return 0;
    e = errno;
    int writers[3] = {po[1], pe[1], p3[1]};
    close_fds(writers, 3);
    int readers[3] = {po[0], pe[0], p3[0]};
    if (pid < 0) {
        close_fds(readers, 3);
        errno = e;
        return -1;
    }
    for (int i = 0; i < 3; i++)
        if (readers[i] >= 0)
            fd_set_nonblock(readers[i], true);
    return pid;
}

bool exec_run(const struct exec_argv *a, uint32_t deadline_ms,
              const char *what, const char *why, struct exec_buf *out,
              struct exec_buf *err, struct exec_result *res)
{
    struct exec_result local;
    struct exec_result *r = res != NULL ? res : &local;
    *r = (struct exec_result){.outcome = EXEC_NOT_RUN, .exit_code = -1};
    int64_t t0_ms = time_mono_ms();
    buf_reset(out);
    buf_reset(err);
    char cmd[EXEC_CMD_LOG_BYTES];
    cmd_text(a, cmd, sizeof cmd);
    log_info("event=exec what=%s why=\"%s\" cmd=\"%s\" deadline_ms=%u", what, why,
             cmd, deadline_ms);
    if (a->overflow || a->argc == 0) {
        r->exec_errno = E2BIG;
        log_after(what, r, deadline_ms, NULL);
        return false;
    }
    int po[2], pe[2], pn[2];
    pid_t parent = getpid();
    pid_t pid = start_child(po, pe, pn, out != NULL && out->cap > 0,
                            err != NULL && err->cap > 0);
    if (pid == 0)
        child_exec(a, po[1], pe[1], pn[1], parent);
    if (pid < 0) {
        r->exec_errno = errno;
        log_after(what, r, deadline_ms, NULL);
        return false;
    }
    r->pid = pid;
    setpgid(pid, pid); /* also in the child: whichever runs first */
    struct child_wait w = {.cap = {{.fd = po[0], .buf = out}, {.fd = pe[0], .buf = err}},
                           .pid = pid, .end_fd = (int)syscall(SYS_pidfd_open, pid, 0)};
    if (wait_child(&w, t0_ms + deadline_ms)) {
        for (int i = 0; i < 2; i++)
            capture_read(&w.cap[i]); /* what is left in the pipes */
        fill_status(r, w.status, pn[0]);
    } else {
        kill_and_reap(pid, w.end_fd);
        r->outcome = EXEC_TIMEOUT;
    }
    capture_close(&w.cap[0]);
    capture_close(&w.cap[1]);
    int rest[2] = {pn[0], w.end_fd};
    close_fds(rest, 2);
    r->elapsed_ms = time_mono_ms() - t0_ms;
    log_after(what, r, deadline_ms, err);
    return r->outcome == EXEC_EXITED && r->exit_code == 0;
}

bool exec_fn_run(exec_fn fn, void *ctx, uint32_t deadline_ms,
                 struct exec_buf *out, struct exec_result *r)
{
    *r = (struct exec_result){.outcome = EXEC_NOT_RUN, .exit_code = -1};
    int64_t t0_ms = time_mono_ms();
    buf_reset(out);
    int po[2], pe[2], pr[2];
    pid_t pid = start_child(po, pe, pr, out != NULL, false);
    if (pid == 0) {
        close(pr[0]);
        if (po[0] >= 0)
            close(po[0]);
        child_fn(fn, ctx, pr[1], po[1]);
    }
    if (pid < 0) {
        r->exec_errno = errno;
        return false;
    }
    r->pid = pid;
    uint8_t result;
    struct exec_buf rb = {.data = (char *)&result, .cap = 1, .raw = true};
    struct child_wait w = {.cap = {{.fd = po[0], .buf = out}, {.fd = pr[0], .buf = &rb}},
                           .end_fd = -1};
    bool done = wait_child(&w, t0_ms + deadline_ms);
    capture_close(&w.cap[0]);
    capture_close(&w.cap[1]);
    r->elapsed_ms = time_mono_ms() - t0_ms;
    if (!done && rb.len == 0) {
        kill(pid, SIGKILL);
        r->outcome = EXEC_TIMEOUT; /* the child is left for the reaper */
        return false;
    }
    int status = 0;
    pid_t reaped_pid = waitpid(pid, &status, WNOHANG);
    if (rb.len == 0) { /* it died before its result */
        r->outcome = EXEC_SIGNALED;
        r->term_signal = reaped_pid == pid && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        return false;
    }
    r->outcome = EXEC_EXITED;
    r->exit_code = result;
    return result == 0;
}
