/* spawn.c — clone3 + exec of a service program (see spawn.h).
 *
 * The child: signals reset, new session, stdin/stdout/stderr and the
 * notification fd in place, chdir, the service's `limits` and `user`
 * (creds.h), exec. Three ways to start it, best first:
 * - spawn_shared.c: the child shares memory and fd table until its exec
 *   (x86_64, not under ASan, not with BAY0_SPAWN_PLAIN; a child that
 *   writes its oom_score_adj is a vfork child there), born into its
 *   cgroup, or where the supervisor is when it has none; its rules are at
 *   the top of that file.
 * - clone3(CLONE_INTO_CGROUP) without shared memory (fork-like), when no
 *   slot is free or elsewhere. With an exec error cell the parent does not
 *   wait for the exec; the child reports a failure in the cell.
 * - vfork, when the kernel lacks clone3 or CLONE_INTO_CGROUP (the child
 *   joins its cgroup by writing cgroup.procs), or without a cgroup when
 *   no slot is free.
 * The child's slot and code (spawn_child.c) are the same on every path;
 * its code makes raw system calls only.
 */
#include "spawn_internal.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct spawn_slot sync_slot; /* fork-like and vfork spawns: done when they return */
static volatile int spawn_child_errno;
static volatile int spawn_cgroup_errno; /* the child could not join its cgroup */

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
    spawn_shared_init();
    return 0;
}

volatile int *spawn_errno_cell(uint32_t i)
{
    return errno_cells && i < errno_cells_count ? &errno_cells[i] : NULL;
}

/* ---- the parent ----------------------------------------------------------- */

/* Fork-like clone3 into the cgroup: the child has its own copy of memory,
 * so the sync slot may be reused as soon as this returns. With a shared
 * cell the parent does not wait for the exec; without, it waits on a
 * close-on-exec pipe and reports an exec failure itself. */
static pid_t spawn_clone3(const struct spawn_req *req, pid_t *reap_pid)
{
    struct spawn_slot *slot = &sync_slot;
    int err = spawn_slot_fill(slot, req);
    if (err) {
        errno = err;
        return -1;
    }
    int errpipe[2] = {-1, -1};
    if (!req->exec_errno && pipe2(errpipe, O_CLOEXEC) < 0)
        return -1;
    if (req->exec_errno)
        *req->exec_errno = 0;
    struct spawn_clone_args args = {.flags = SPAWN_CLONE_INTO_CGROUP, .exit_signal = SIGCHLD,
                                    .cgroup = (uint64_t)req->cgroup_fd};
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) {
        struct child_report rep = {.errfd = errpipe[1], .cell = req->exec_errno};
        spawn_child_exec(slot, &rep);
    }
    int clone_errno = errno;
    if (errpipe[1] >= 0)
        close(errpipe[1]);
    if (pid < 0) {
        if (errpipe[0] >= 0)
            close(errpipe[0]);
        errno = clone_errno;
        return clone3_missing(clone_errno) ? -2 : -1;
    }
    if (errpipe[0] < 0)
        return (pid_t)pid;
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
    spawn_child_prepare();
    pid_t pid;
    /* Born into its cgroup (cgroup_fd), or with none to join (no usable
     * cgroup2: where the supervisor is, as the vfork child would be, but
     * without waiting for its exec). */
    if (req->exec_errno && (req->cgroup_fd >= 0 || !req->cgroup_procs) &&
        (pid = spawn_shared(req)) != -2)
        return pid;
    if (req->cgroup_fd >= 0) {
        pid = spawn_clone3(req, reap_pid);
        if (pid != -2)
            return pid;
    }
    /* vfork: the parent waits for the exec, so the sync slot is free after. */
    struct spawn_slot *slot = &sync_slot;
    int err = spawn_slot_fill(slot, req);
    if (err) {
        errno = err;
        return -1;
    }
    slot->req.cgroup_procs = req->cgroup_procs;
    spawn_child_errno = 0;
    spawn_cgroup_errno = 0;
    pid = vfork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        struct child_report rep = {.errfd = -1, .cell = &spawn_child_errno,
                                   .cgroup_cell = &spawn_cgroup_errno};
        spawn_child_exec(slot, &rep);
    }
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
