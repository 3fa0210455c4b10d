/* compositor.c — the compositor as a system tenant, sys://compositor:
 * `bay0 tenant run compositor [--ready-ms MS] [--socket NAME] [--user USER]
 * [--notify-fd N] -- COMMAND...` is its service's run
 * (tenants/compositor/service). With --user, COMMAND runs as USER (sway
 * refuses root) and the runtime dir is USER's; the peer must have USER's
 * uid too.
 *
 * It makes RUNDIR/tenants/compositor (0700) the compositor's
 * XDG_RUNTIME_DIR, starts COMMAND (weston's headless backend in the
 * image and the tests) and calls it ready only when connect() to
 * XDG_RUNTIME_DIR/NAME succeeds and SO_PEERCRED names the process it
 * spawned or a descendant — never because the file exists. A socket there
 * served by anyone else is "not ready" with a log line naming that
 * process, and the wait goes on until --ready-ms; then the run gives up
 * (exit 1) and the supervisor's restart policy decides. Once ready,
 * SIGTERM/SIGINT are passed on and the run ends with the compositor.
 *
 * Runs as a service's process; never in PID 1's; never touches /persist.
 */
#include "tenant.h"

#include "creds.h"
#include "log.h"
#include "umbilical.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define COMPOSITOR_POLL_MS 20
#define COMPOSITOR_PATH_BYTES_MAX 512

struct probe {
    pid_t child;
    uid_t uid;          /* the compositor's user: the peer must have it too */
    pid_t last_foreign; /* the impostor last logged, so each is logged once */
    bool child_gone;
    int child_status;
    char path[COMPOSITOR_PATH_BYTES_MAX];
};

/* Is the socket served by our compositor (or a descendant)? */
static bool probe_ready(struct probe *pr, pid_t *peer_out)
{
    char reason[300];
    int fd = umbilical_connect(pr->path, reason, sizeof reason);
    if (fd < 0)
        return false; /* not there yet: keep waiting, nothing to say */
    struct ucred cred = {0};
    socklen_t len = sizeof cred;
    int rc = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
    close(fd);
    if (rc != 0)
        return false;
    *peer_out = cred.pid;
    if (cred.uid == pr->uid && umbilical_peer_descends("/proc", cred.pid, pr->child))
        return true;
    if (cred.pid != pr->last_foreign) {
        char comm[64];
        umbilical_comm(cred.pid, comm, sizeof comm);
        log_warn("tenant=%s event=not-ready reason=\"%s is served by pid %d (%s), not by "
                 "the compositor bay0 started (pid %d)\"", COMPOSITOR_NAME, pr->path,
                 (int)cred.pid, comm, (int)pr->child);
        pr->last_foreign = cred.pid;
    }
    return false;
}

static void note_child(struct probe *pr, bool ready)
{
    int status;
    if (pr->child_gone || waitpid(pr->child, &status, WNOHANG) != pr->child)
        return;
    pr->child_gone = true;
    pr->child_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (!ready)
        log_warn("tenant=%s event=exited-before-ready pid=%d status=%d", COMPOSITOR_NAME,
                 (int)pr->child, pr->child_status);
}

/* Until ready or the deadline: true when ready. */
static bool wait_ready(struct probe *pr, uint32_t ready_ms, const sigset_t *set, int64_t t0)
{
    int64_t deadline = t0 + ready_ms;
    while (time_mono_ms() < deadline) {
        pid_t peer = 0;
        if (!pr->child_gone && probe_ready(pr, &peer)) {
            log_info("tenant=%s event=ready ms=%lld socket=%s peer_pid=%d pid=%d",
                     COMPOSITOR_NAME, (long long)(time_mono_ms() - t0), pr->path, (int)peer,
                     (int)pr->child);
            return true;
        }
        if (pr->child_gone)
            (void)probe_ready(pr, &peer); /* still say who holds the socket */
        struct timespec ts = {0, COMPOSITOR_POLL_MS * 1000000L};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info("tenant=%s event=stopped-before-ready", COMPOSITOR_NAME);
            return false;
        }
        note_child(pr, false);
    }
    log_error("tenant=%s event=not-ready-in-time ready_ms=%u socket=%s", COMPOSITOR_NAME,
              ready_ms, pr->path);
    return false;
}

static int wait_end(struct probe *pr, const sigset_t *set)
{
    for (;;) {
        note_child(pr, true);
        if (pr->child_gone)
            return pr->child_status;
        int sig = sigwaitinfo(set, NULL);
        if (sig == SIGTERM || sig == SIGINT)
            kill(pr->child, sig);
    }
}

static bool runtime_dir(const char *rundir, char *dir, size_t size, uid_t uid, gid_t gid)
{
    char parent[COMPOSITOR_PATH_BYTES_MAX];
    if (!str_fmt(parent, sizeof parent, "%s/tenants", rundir) ||
        !str_fmt(dir, size, "%s/" COMPOSITOR_DIR, rundir)) {
        fprintf(stderr, "bay0 tenant: %s: run dir path too long\n", COMPOSITOR_NAME);
        return false;
    }
    if ((mkdir(rundir, 0755) != 0 && errno != EEXIST) ||
        (mkdir(parent, 0755) != 0 && errno != EEXIST) ||
        (mkdir(dir, 0700) != 0 && errno != EEXIST) || chmod(dir, 0700) != 0 ||
        chown(dir, uid, gid) != 0) {
        fprintf(stderr, "bay0 tenant: %s: cannot make %s: %s\n", COMPOSITOR_NAME, dir,
                strerror(errno));
        return false;
    }
    return true;
}

/* Tell validate which socket to check. */
static void publish_socket_name(const char *rundir, const char *socket_name)
{
    char path[COMPOSITOR_PATH_BYTES_MAX], text[COMPOSITOR_PATH_BYTES_MAX];
    if (!str_fmt(path, sizeof path, "%s/" COMPOSITOR_SOCKET_FILE, rundir) ||
        !str_fmt(text, sizeof text, "%s\n", socket_name))
        return;
    if (!file_replace(path, text))
        log_warn("tenant=%s event=socket-name-not-published path=%s error=\"%s\"",
                 COMPOSITOR_NAME, path, strerror(errno));
}

int compositor_run(const char *rundir, int notify_fd, uint32_t ready_ms, const char *socket_name,
                   const char *user, char **cmd)
{
    char dir[COMPOSITOR_PATH_BYTES_MAX];
    struct probe pr = {.uid = getuid()};
    struct creds_user cu = {.uid = getuid(), .gid = getgid()};
    char why[200];
    if (user != NULL && !creds_resolve_user(user, &cu, why, sizeof why)) {
        fprintf(stderr, "bay0 tenant: %s: --user %s: %s\n", COMPOSITOR_NAME, user, why);
        return TENANT_EXIT_CONFIG;
    }
    pr.uid = cu.uid;
    if (!runtime_dir(rundir, dir, sizeof dir, cu.uid, cu.gid))
        return TENANT_EXIT_CONFIG;
    if (!str_fmt(pr.path, sizeof pr.path, "%s/%s", dir, socket_name)) {
        fprintf(stderr, "bay0 tenant: %s: run dir path too long\n", COMPOSITOR_NAME);
        return TENANT_EXIT_CONFIG;
    }
    setenv("XDG_RUNTIME_DIR", dir, 1);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int64_t t0 = time_mono_ms();
    fflush(stdout);
    fflush(stderr);
    pr.child = fork();
    if (pr.child == 0) {
        child_signals_for_exec(); /* and bay0's ignored SIGPIPE: the whole desktop inherits it */
        /* sway refuses root: the compositor runs as USER (--user) */
        if (user != NULL && (setgroups(cu.ngroups, cu.groups) != 0 || setgid(cu.gid) != 0 ||
                             setuid(cu.uid) != 0)) {
            fprintf(stderr, "bay0 tenant: %s: cannot become %s: %s\n", COMPOSITOR_NAME, user,
                    strerror(errno));
            _exit(126);
        }
        execvp(cmd[0], cmd);
        fprintf(stderr, "bay0 tenant: %s: cannot run %s: %s\n", COMPOSITOR_NAME, cmd[0],
                strerror(errno));
        _exit(127);
    }
    if (pr.child < 0) {
        fprintf(stderr, "bay0 tenant: fork: %s\n", strerror(errno));
        return 1;
    }
    log_info("tenant=%s event=started pid=%d uid=%u cmd=%s socket=%s ready_ms=%u",
             COMPOSITOR_NAME, (int)pr.child, (unsigned)pr.uid, cmd[0], pr.path, ready_ms);
    if (!wait_ready(&pr, ready_ms, &set, t0)) {
        if (!pr.child_gone) {
            kill(pr.child, SIGTERM);
            (void)wait_end(&pr, &set);
        }
        return 1;
    }
    publish_socket_name(rundir, socket_name);
    if (notify_fd >= 0) {
        (void)!write(notify_fd, "\n", 1);
        close(notify_fd);
    }
    int rc = wait_end(&pr, &set);
    log_info("tenant=%s event=ended status=%d", COMPOSITOR_NAME, rc);
    return rc;
}
