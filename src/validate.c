/* validate.c — the runner of `bay0 validate`'s checks and its guardian.
 *
 * Runner: every check is forked at once; the child runs the check and
 * writes one line, "LEVEL REASON", on its own pipe, then exits. The parent
 * polls the pipes until each answered or its deadline passed; a late child
 * is sent SIGKILL and its check is RED with the check's timeout reason.
 * Children die with the client (PR_SET_PDEATHSIG), so a killed client
 * leaves no check running.
 *
 * Guardian: forked first, in a session of its own (a signal to the
 * client's process group does not reach it), with no terminal and no
 * inherited output. It reads a lifeline pipe: 'd' means the run ended
 * clean; EOF without it (the client was killed, or a check had to be
 * killed) means: remove the run's container, cgroups and marker.
 *
 * Owns: process plumbing only. Never runs in PID 1's process; never touches
 * anything not named in the run's validate_env.
 */
#include "validate.h"

#include "log.h"
#include "state/state.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define VALIDATE_LINE_BYTES_MAX (VALIDATE_REASON_BYTES_MAX + 16)
#define GUARD_WAIT_MS 15000       /* the client waits this long for a cleanup */
#define GUARD_MARKER_TIMEOUT_MS 2000

static const char *const level_names[] = {"GREEN", "YELLOW", "RED"};

static int guard_fd = -1;      /* the lifeline's write end, in the client */
static int guard_done_fd = -1; /* EOF when the guardian has finished */
static pid_t guard_pid = -1;

const char *validate_level_name(enum validate_level l)
{
    BAY0_ASSERT((size_t)l < ARRAY_LEN(level_names));
    return level_names[l];
}

/* ---- one check in a child ------------------------------------------------ */

static char last_problem[VALIDATE_REASON_BYTES_MAX];

/* The log sink of a check child: keeps the text of the last warn/error
 * line (what a module said when it failed) for the check's reason. */
static void keep_problem(const char *line, size_t len)
{
    const char *p = memmem(line, len, "level=", 6);
    if (p == NULL || (strncmp(p, "level=warn ", 11) != 0 &&
                      strncmp(p, "level=error ", 12) != 0))
        return;
    p = strchr(p, ' ') + 1;
    size_t n = len - (size_t)(p - line);
    if (n > 0 && p[n - 1] == '\n')
        n--;
    if (n >= sizeof last_problem)
        n = sizeof last_problem - 1;
    memcpy(last_problem, p, n);
    last_problem[n] = '\0';
}

const char *validate_last_problem(void)
{
    return last_problem[0] ? last_problem : "no reason logged";
}

static void child_stdio(bool verbose)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        return;
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    if (!verbose)
        dup2(null, STDERR_FILENO);
    close(null);
}

_Noreturn static void check_child(const struct validate_check *c,
                                  const struct validate_env *env, int out_fd,
                                  pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1); /* the client died before we could ask to follow it */
    if (guard_fd >= 0)
        close(guard_fd); /* only the client may hold the guardian's lifeline */
    if (guard_done_fd >= 0)
        close(guard_done_fd);
    child_stdio(env->verbose);
    log_set_sink(keep_problem);
    char reason[VALIDATE_REASON_BYTES_MAX] = "";
    enum validate_level l = c->fn(env, reason, sizeof reason);
    BAY0_ASSERT((size_t)l < ARRAY_LEN(level_names));
    for (char *p = reason; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    char line[VALIDATE_LINE_BYTES_MAX];
    int n = snprintf(line, sizeof line, "%d %s\n", (int)l, reason);
    if (n > 0)
        (void)fd_write_all(out_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    _exit(0);
}

struct running {
    pid_t pid;
    int fd;
    int64_t start_ms;
    int64_t deadline_ms;
    size_t len;
    char buf[VALIDATE_LINE_BYTES_MAX];
};

static void result_set(struct validate_result *r, enum validate_level l,
                       const char *what, const char *why)
{
    r->level = l;
    snprintf(r->reason, sizeof r->reason, "%s%s", what, why);
}

static void start_one(const struct validate_check *c,
                      const struct validate_env *env, struct running *run,
                      struct validate_result *r)
{
    run->fd = -1;
    run->pid = -1;
    run->len = 0;
    run->start_ms = time_mono_ms();
    run->deadline_ms = run->start_ms + c->timeout_ms;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        result_set(r, VALIDATE_RED, "cannot run the check: pipe: ", strerror(errno));
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        check_child(c, env, p[1], parent);
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        result_set(r, VALIDATE_RED, "cannot run the check: fork: ", strerror(errno));
        return;
    }
    run->pid = pid;
    run->fd = p[0];
}

/* The child's line arrived (or EOF): parse it into r. */
static void finish_one(struct running *run, struct validate_result *r)
{
    r->elapsed_ms = time_mono_ms() - run->start_ms;
    close(run->fd);
    run->fd = -1;
    int status;
    (void)waitpid(run->pid, &status, 0); /* it wrote and exits: no wait */
    run->buf[run->len] = '\0';
    char *nl = strchr(run->buf, '\n');
    if (nl == NULL || run->len < 2 || run->buf[0] < '0' || run->buf[0] > '2' ||
        run->buf[1] != ' ') {
        result_set(r, VALIDATE_RED, "the check ended without an answer (crashed?)", "");
        return;
    }
    *nl = '\0';
    r->level = (enum validate_level)(run->buf[0] - '0');
    str_copy(r->reason, sizeof r->reason, run->buf + 2);
}

static void read_some(struct running *run, struct validate_result *r)
{
    size_t room = sizeof run->buf - 1 - run->len;
    ssize_t n = room > 0 ? read(run->fd, run->buf + run->len, room) : 0;
    if (n < 0 && errno == EINTR)
        return;
    if (n > 0) {
        run->len += (size_t)n;
        return;
    }
    finish_one(run, r);
}

static void kill_late(const struct validate_check *c, struct running *run,
                      struct validate_result *r)
{
    kill(run->pid, SIGKILL);
    close(run->fd);
    run->fd = -1;
    /* A child stuck in the kernel (a hung disk) may never die: not waited
     * for. */
    (void)waitpid(run->pid, NULL, WNOHANG);
    r->elapsed_ms = time_mono_ms() - run->start_ms;
    r->level = VALIDATE_RED;
    snprintf(r->reason, sizeof r->reason, "%s within %u ms", c->timeout_why,
             c->timeout_ms);
}

bool validate_run(const struct validate_check *checks, size_t n,
                  const struct validate_env *env, struct validate_result *out)
{
    BAY0_ASSERT(n <= VALIDATE_CHECKS_MAX);
    struct running run[VALIDATE_CHECKS_MAX];
    for (size_t i = 0; i < n; i++) {
        out[i] = (struct validate_result){.name = checks[i].name};
        start_one(&checks[i], env, &run[i], &out[i]);
    }
    bool all_answered = true;
    for (;;) {
        struct pollfd p[VALIDATE_CHECKS_MAX];
        size_t idx[VALIDATE_CHECKS_MAX], np = 0;
        int64_t now = time_mono_ms(), next = INT64_MAX;
        for (size_t i = 0; i < n; i++) {
            if (run[i].fd < 0)
                continue;
            if (now >= run[i].deadline_ms) {
                kill_late(&checks[i], &run[i], &out[i]);
                all_answered = false;
                continue;
            }
            if (run[i].deadline_ms < next)
                next = run[i].deadline_ms;
            p[np] = (struct pollfd){.fd = run[i].fd, .events = POLLIN};
            idx[np++] = i;
        }
        if (np == 0)
            return all_answered;
        int rc = poll(p, np, (int)(next - now));
        if (rc < 0 && errno != EINTR)
            BAY0_ASSERT(!"poll on the check pipes failed");
        for (size_t k = 0; rc > 0 && k < np; k++)
            if (p[k].revents != 0)
                read_some(&run[idx[k]], &out[idx[k]]);
    }
}

/* ---- the guardian ------------------------------------------------------- */

static int marker_cleanup_work(void *ctx)
{
    (void)ctx;
    state_probe_marker_cleanup();
    return 0;
}

void validate_cleanup(const struct validate_env *env)
{
    if (env->cgroup_base[0] != '\0')
        freezer_cgroups_remove(env->cgroup_base); /* first: podman clients too */
    if (env->podman)
        freezer_container_remove(env->container);
    if (env->cgroup_base[0] != '\0')
        freezer_cgroups_remove(env->cgroup_base); /* what podman left */
    int rc;
    (void)state_run_bounded(marker_cleanup_work, NULL, GUARD_MARKER_TIMEOUT_MS,
                            "validate-marker-cleanup", &rc);
}

_Noreturn static void guardian(const struct validate_env *env, int life_fd,
                               int done_fd)
{
    setsid();
    child_stdio(false);
    char b = 0;
    ssize_t n;
    do
        n = read(life_fd, &b, 1);
    while (n < 0 && errno == EINTR);
    if (n == 1 && b == 'd')
        _exit(0);
    validate_cleanup(env);
    close(done_fd);
    _exit(0);
}

bool validate_guard_start(const struct validate_env *env)
{
    int life[2], done[2];
    if (pipe2(life, O_CLOEXEC) != 0)
        return false;
    if (pipe2(done, O_CLOEXEC) != 0) {
        close(life[0]);
        close(life[1]);
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(life[1]);
        close(done[0]);
        guardian(env, life[0], done[1]);
    }
    close(life[0]);
    close(done[1]);
    if (pid < 0) {
        close(life[1]);
        close(done[0]);
        return false;
    }
    guard_pid = pid;
    guard_fd = life[1];
    guard_done_fd = done[0];
    return true;
}

void validate_guard_done(bool clean)
{
    if (guard_fd < 0)
        return;
    if (clean)
        (void)!write(guard_fd, "d", 1);
    close(guard_fd);
    guard_fd = -1;
    if (!clean) {
        struct pollfd p = {.fd = guard_done_fd, .events = POLLIN};
        int64_t deadline = time_mono_ms() + GUARD_WAIT_MS;
        while (poll(&p, 1, (int)(deadline - time_mono_ms())) < 0 &&
               errno == EINTR && time_mono_ms() < deadline)
            ;
    }
    close(guard_done_fd);
    guard_done_fd = -1;
    (void)waitpid(guard_pid, NULL, clean ? 0 : WNOHANG);
}
