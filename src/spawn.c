/* spawn.c — vfork + exec of a service program (see spawn.h).
 *
 * vfork shares memory with the parent until exec: the child only makes
 * system calls and writes spawn_child_errno, which the parent reads after
 * vfork returns (the parent is suspended until the child execs or exits).
 */
#include "spawn.h"

#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

static char env_buf[SPAWN_ENV_BYTES_MAX];
static char *env_ptrs[SPAWN_ENV_VARS_MAX + 1];
static volatile int spawn_child_errno;
static volatile int spawn_cgroup_errno; /* the child could not join its cgroup */

struct env_builder {
    size_t used;
    size_t count;
    bool overflow;
};

static bool env_key_eq(const char *entry, const char *key, size_t key_len)
{
    return strncmp(entry, key, key_len) == 0 && entry[key_len] == '=';
}

/* Removes KEY from the pointer list (envdir overrides and unsets). */
static void env_unset(struct env_builder *b, const char *key, size_t key_len)
{
    for (size_t i = 0; i < b->count; i++)
        if (env_key_eq(env_ptrs[i], key, key_len)) {
            env_ptrs[i] = env_ptrs[--b->count];
            return;
        }
}

static void env_add(struct env_builder *b, const char *key, const char *val)
{
    size_t key_len = strlen(key), val_len = strlen(val);
    env_unset(b, key, key_len);
    if (b->count >= SPAWN_ENV_VARS_MAX ||
        b->used + key_len + val_len + 2 > sizeof env_buf) {
        b->overflow = true;
        return;
    }
    char *p = env_buf + b->used;
    memcpy(p, key, key_len);
    p[key_len] = '=';
    memcpy(p + key_len + 1, val, val_len + 1);
    env_ptrs[b->count++] = p;
    b->used += key_len + val_len + 2;
}

struct envdir_ctx {
    struct env_builder *b;
    int dir_fd;
};

/* s6-envdir semantics: first line of the file, trailing blanks removed,
 * NUL bytes become newlines; an empty file unsets the variable. */
static bool envdir_entry(const char *name, unsigned char d_type, void *ctx_)
{
    struct envdir_ctx *ctx = ctx_;
    if (d_type != DT_REG && d_type != DT_UNKNOWN && d_type != DT_LNK)
        return true;
    if (strchr(name, '=') || name[0] == '.')
        return true;
    char val[4096];
    ssize_t n = file_read_small(ctx->dir_fd, name, val, sizeof val);
    if (n < 0 && errno != EFBIG)
        return true;
    if (n < 0)
        n = (ssize_t)strlen(val);
    if (n == 0) {
        env_unset(ctx->b, name, strlen(name));
        return true;
    }
    char *nl = memchr(val, '\n', (size_t)n);
    size_t len = nl ? (size_t)(nl - val) : (size_t)n;
    while (len > 0 && (val[len - 1] == ' ' || val[len - 1] == '\t'))
        len--;
    for (size_t i = 0; i < len; i++)
        if (val[i] == '\0')
            val[i] = '\n';
    val[len] = '\0';
    env_add(ctx->b, name, val);
    return true;
}

static char **env_build(const struct spawn_req *req)
{
    struct env_builder b = {0};
    for (char **e = environ; *e && b.count < SPAWN_ENV_VARS_MAX; e++)
        if (strncmp(*e, "NOTIFY_SOCKET=", 14) != 0)
            env_ptrs[b.count++] = *e;
    if (req->service_name)
        env_add(&b, "BAY0_SERVICE", req->service_name);
    if (req->notify_socket)
        env_add(&b, "NOTIFY_SOCKET", req->notify_socket);
    char path[SPAWN_PATH_BYTES_MAX];
    if (str_fmt(path, sizeof path, "%s/env", req->dir)) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            struct envdir_ctx ctx = {&b, fd};
            dir_each(fd, envdir_entry, &ctx);
            close(fd);
        }
    }
    env_ptrs[b.count] = NULL;
    if (b.overflow)
        log_warn("svc=%s event=env-truncated dir=%s/env limit_vars=%d limit_bytes=%d",
                 req->service_name ? req->service_name : "?", req->dir, SPAWN_ENV_VARS_MAX,
                 SPAWN_ENV_BYTES_MAX);
    return env_ptrs;
}

static volatile int *errno_cells;
static uint32_t errno_cells_count;

int spawn_init(uint32_t count)
{
    void *p = mmap(NULL, (size_t)count * sizeof(int), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    errno_cells = p;
    errno_cells_count = count;
    return 0;
}

volatile int *spawn_errno_cell(uint32_t i)
{
    return errno_cells && i < errno_cells_count ? &errno_cells[i] : NULL;
}

static sigset_t ignored_signals; /* SIG_IGN in the supervisor: reset in children */
static bool ignored_known;

/* Exec resets handlers but keeps SIG_IGN: find the ignored signals once,
 * so a child resets only those (one or two calls, not 64). */
static void learn_ignored_signals(void)
{
    sigemptyset(&ignored_signals);
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction old;
        if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, NULL, &old) == 0 &&
            old.sa_handler == SIG_IGN)
            sigaddset(&ignored_signals, sig);
    }
    ignored_known = true;
}

static void child_join_cgroup(const struct spawn_req *req)
{
    int fd = open(req->cgroup_procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1)
        spawn_cgroup_errno = errno ? errno : EIO;
    if (fd >= 0)
        close(fd);
}

/* Runs in the child: system calls only, then exec or _exit. In the vfork
 * child (errfd < 0) errors go to shared memory; in the clone3 child, which
 * has its own copy of memory, through errfd. */
static _Noreturn void child_exec(const struct spawn_req *req, char **envp, int errfd,
                                 bool join_cgroup)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&ignored_signals, sig))
            sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (setsid() < 0)
        goto fail;
    if (join_cgroup && req->cgroup_procs) /* best effort: the process group holds it too */
        child_join_cgroup(req);
    if (dup2(req->stdin_fd, 0) < 0 || dup2(req->stdout_fd, 1) < 0 ||
        dup2(req->stdout_fd, 2) < 0)
        goto fail;
    /* After 0-2, so the target may reuse the number of stdin_fd. dup2 onto
     * itself keeps FD_CLOEXEC, so clear it by hand in that case. */
    if (req->extra_fd >= 0) {
        if (req->extra_fd == req->extra_fd_target) {
            if (fcntl(req->extra_fd, F_SETFD, 0) < 0)
                goto fail;
        } else if (dup2(req->extra_fd, req->extra_fd_target) < 0) {
            goto fail;
        }
    }
    if (chdir(req->dir) < 0)
        goto fail;
    execve(req->prog, (char *const *)req->argv, envp);
fail:;
    int err = errno;
    if (errfd >= 0)
        (void)!write(errfd, &err, sizeof err);
    else if (!join_cgroup && req->exec_errno) /* clone3 child, not waited for */
        *req->exec_errno = err;
    else
        spawn_child_errno = err;
    _exit(err == ENOENT ? 127 : 126);
}

/* The clone3(2) arguments (linux/sched.h, declared here to keep that
 * header's CLONE_* out of glibc's way). */
struct spawn_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
        set_tid, set_tid_size, cgroup;
};
#define SPAWN_CLONE_INTO_CGROUP 0x200000000ULL

/* Starts the child directly inside its cgroup: moving a running process
 * into a cgroup waits for an RCU grace period (milliseconds); being born
 * there does not. Fork-like (no shared memory), so exec errors come back
 * through a close-on-exec pipe. Returns -2 when the kernel lacks clone3 or
 * CLONE_INTO_CGROUP, so the caller falls back to vfork. */
static pid_t spawn_clone3(const struct spawn_req *req, char **envp, pid_t *reap_pid)
{
    if (req->exec_errno) { /* the caller learns of an exec failure at reap */
        *req->exec_errno = 0;
        struct spawn_clone_args args = {.flags = SPAWN_CLONE_INTO_CGROUP,
                                        .exit_signal = SIGCHLD,
                                        .cgroup = (uint64_t)req->cgroup_fd};
        long pid = syscall(SYS_clone3, &args, sizeof args);
        if (pid == 0)
            child_exec(req, envp, -1, false);
        if (pid < 0)
            return errno == ENOSYS || errno == E2BIG || errno == EINVAL ? -2 : -1;
        return (pid_t)pid;
    }
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) < 0)
        return -1;
    struct spawn_clone_args args = {.flags = SPAWN_CLONE_INTO_CGROUP, .exit_signal = SIGCHLD,
                                    .cgroup = (uint64_t)req->cgroup_fd};
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0)
        child_exec(req, envp, errpipe[1], false);
    int clone_errno = errno;
    close(errpipe[1]);
    if (pid < 0) {
        close(errpipe[0]);
        errno = clone_errno;
        return clone_errno == ENOSYS || clone_errno == E2BIG || clone_errno == EINVAL ? -2 : -1;
    }
    int child_err = 0;
    ssize_t n;
    do
        n = read(errpipe[0], &child_err, sizeof child_err);
    while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof child_err) {
        *reap_pid = (pid_t)pid;
        errno = child_err;
        return -1;
    }
    return (pid_t)pid;
}

pid_t spawn_start(const struct spawn_req *req, pid_t *reap_pid)
{
    *reap_pid = 0;
    /* The targets of dup2 must not collide with the fds being moved. */
    BAY0_ASSERT(req->extra_fd < 0 || req->extra_fd_target > 2);
    if (!ignored_known)
        learn_ignored_signals();
    char **envp = env_build(req);
    if (req->cgroup_fd >= 0) {
        pid_t pid = spawn_clone3(req, envp, reap_pid);
        if (pid != -2)
            return pid;
    }
    spawn_child_errno = 0;
    spawn_cgroup_errno = 0;
    pid_t pid = vfork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        child_exec(req, envp, -1, true);
    if (spawn_cgroup_errno != 0)
        log_warn("svc=%s event=cgroup-join-failed path=%s error=\"%s\" effect=\"process group only\"",
                 req->service_name ? req->service_name : "?", req->cgroup_procs,
                 strerror(spawn_cgroup_errno));
    if (spawn_child_errno != 0) {
        *reap_pid = pid;
        errno = spawn_child_errno;
        return -1;
    }
    return pid;
}
