/* supervise_reap.c — the loop's reaping, O(1) per death.
 *
 * Each service's run and finish/undo has a pidfd in the
 * epoll set (watch index 2 * slot + aux); it becomes readable when that
 * process exits, and waitpid(pid) reaps just it. The SIGCHLD a death also
 * sends reaps the pid it names (the log writer, a flush or focus child, an
 * orphan). waitpid(-1) walks every child (0.5 ms at 10,000), so it runs
 * only when a SIGCHLD may hide a death nobody else reports (SIGCHLDs
 * coalesce): soon after one naming a child without a pidfd, and at most
 * once per REAP_SWEEP_LAZY_MS after one naming a child with a pidfd (an
 * orphan's SIGCHLD could have merged into it). Without pidfds (kernel
 * < 5.3, or near RLIMIT_NOFILE) every service death goes the SIGCHLD way.
 */
#include "supervise_reap.h"

#include "log.h"
#include "logger.h"
#include "loop.h"
#include "service.h"
#include "svc.h"
#include "svcmap.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define REAP_PER_WAKEUP_MAX 256 /* per sweep; a sweep that reaped this many goes on at once */
#define REAP_SWEEP_DELAY_MS 10   /* a death whose SIGCHLD coalesced is reaped this late at most */
#define REAP_SWEEP_LAZY_MS 1000
#define PIDFD_FDS_SPARE 1024 /* pidfds never take the last of RLIMIT_NOFILE */

static int *pidfds;        /* [2 * slots]: -1 = none */
static uint32_t pidfds_len;
static uint32_t pidfds_open;
static uint64_t pidfds_max; /* from RLIMIT_NOFILE, at start-up */
static bool pidfd_missing;  /* pidfd_open said ENOSYS: never ask again */
static reap_other_fn other_exit; /* the loop's children that are not services' */

int reap_init(uint32_t slots, reap_other_fn other)
{
    BAY0_ASSERT(other && slots > 0);
    other_exit = other;
    pidfds_len = 2 * slots;
    pidfds = malloc(pidfds_len * sizeof *pidfds);
    if (!pidfds)
        return -1;
    for (uint32_t i = 0; i < pidfds_len; i++)
        pidfds[i] = -1;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        rl.rlim_cur = 1u << 20;
    pidfds_max = rl.rlim_cur > PIDFD_FDS_SPARE ? rl.rlim_cur - PIDFD_FDS_SPARE : 0;
    return 0;
}

static uint32_t pidfd_index(const struct svc *s, bool aux)
{
    uint32_t i = 2 * (uint32_t)svc_index(s) + (aux ? 1 : 0);
    BAY0_ASSERT(i < pidfds_len);
    return i;
}

static void pidfd_close(uint32_t i)
{
    if (!pidfds)
        return;
    BAY0_ASSERT(i < pidfds_len);
    if (pidfds[i] < 0)
        return;
    sup_unwatch_fd(pidfds[i]); /* a child may hold a copy until its exec */
    close(pidfds[i]);
    pidfds[i] = -1;
    pidfds_open--;
}

uint32_t sup_pidfds_held(void)
{
    return pidfds_open;
}

void sup_watch_pid(const struct svc *s, pid_t pid, bool aux)
{
    if (!pidfds)
        return; /* no loop (unit tests drive the machine themselves) */
    uint32_t i = pidfd_index(s, aux);
    pidfd_close(i); /* defensive: a slot's old process is reaped by now */
    if (pidfd_missing || logger_fds_held() + pidfds_open >= pidfds_max)
        return; /* its SIGCHLD reaps it, and sweeps soon */
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) {
        pidfd_missing = errno == ENOSYS;
        log_debug("svc=%s event=pidfd-unavailable pid=%d error=\"%s\"", s->name, pid,
                  strerror(errno));
        return;
    }
    pidfds[i] = fd;
    pidfds_open++;
    sup_watch_fd(fd, WATCH_PIDFD, (int32_t)i);
}

/* One reaped child: the log writer, a flush or focus child, a service's
 * run or finish/undo, or an orphan. */
static void on_reaped(pid_t pid, int status)
{
    if (other_exit(pid, status))
        return;
    bool is_aux = false;
    struct svc *s = svc_by_pid(pid, &is_aux);
    if (!s) {
        log_debug("event=reaped-orphan pid=%d", pid);
        return;
    }
    if (pidfds) /* before the event: it may spawn again */
        pidfd_close(pidfd_index(s, is_aux));
    service_on_event(s, is_aux ? EV_AUX_EXIT : EV_RUN_EXIT, status);
}

/* waitpid(pid) costs the same with 10 children or 10,000. False when pid
 * is not a child that has exited (already reaped, or still running). */
static bool reap_one(pid_t pid)
{
    int status;
    if (pid <= 0 || waitpid(pid, &status, WNOHANG) != pid)
        return false;
    on_reaped(pid, status);
    return true;
}

/* A pidfd became readable: its process exited. The index may be stale (the
 * SIGCHLD in the same batch reaped it, a new run has the slot's pidfd):
 * reap_one then finds nothing. */
void reap_on_pidfd(int32_t index)
{
    BAY0_ASSERT(index >= 0 && (uint32_t)index < pidfds_len);
    uint32_t slot = (uint32_t)index / 2;
    BAY0_ASSERT(slot < sup.used_hi);
    const struct svc *s = &sup.svcs[slot];
    if (pidfds[index] < 0 || !s->in_use)
        return;
    reap_one(index % 2 ? s->aux_pid : s->pid);
}

static int64_t sweep_due_ms; /* when reap_children runs next; 0 = not due */

int64_t reap_sweep_due_ms(void) { return sweep_due_ms; }

/* Every child that has exited (see above for when), REAP_PER_WAKEUP_MAX at
 * a time: when that many were reaped, the rest go at the next wake-up
 * (no SIGCHLD will come for them: they are dead already). */
static void reap_children(int64_t now_ms)
{
    int n = 0;
    for (; n < REAP_PER_WAKEUP_MAX; n++) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        on_reaped(pid, status);
    }
    log_debug("event=reap-sweep reaped=%d", n);
    if (n == REAP_PER_WAKEUP_MAX)
        sweep_due_ms = now_ms;
}

/* A SIGCHLD names one child; others may have merged into it. One with a
 * pidfd, or one reaped already (through its pidfd), or a child that only
 * stopped: a sweep within REAP_SWEEP_LAZY_MS. A child without a pidfd: it
 * may be one of many (an orphan burst), a sweep within REAP_SWEEP_DELAY_MS. */
void reap_on_sigchld(pid_t pid)
{
    bool aux = false;
    const struct svc *s = svc_by_pid(pid, &aux);
    bool has_pidfd = s && pidfds[pidfd_index(s, aux)] >= 0;
    bool untracked_death = reap_one(pid) && !has_pidfd;
    int64_t due = time_mono_ms() + (untracked_death ? REAP_SWEEP_DELAY_MS : REAP_SWEEP_LAZY_MS);
    if (!sweep_due_ms || due < sweep_due_ms)
        sweep_due_ms = due;
}

void reap_on_timer(int64_t now_ms)
{
    if (sweep_due_ms && sweep_due_ms <= now_ms) {
        sweep_due_ms = 0;
        reap_children(now_ms);
    }
}

void reap_close_all(void)
{
    for (uint32_t i = 0; i < pidfds_len; i++)
        pidfd_close(i);
}
