/* spawn.h — starting a service's program: clone3 into its cgroup (or vfork)
 * + exec with the s6 process
 * setup (new session, stdin /dev/null, stdout+stderr on the log pipe,
 * optional notification fd, signal mask and dispositions reset, env/ read
 * as an envdir). Never blocks beyond reading the service's env/ directory;
 * never allocates (fixed buffers below).
 */
#ifndef BAY0_SPAWN_H
#define BAY0_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPAWN_ENV_BYTES_MAX 32768
#define SPAWN_ENV_VARS_MAX 512
#define SPAWN_PATH_BYTES_MAX 4096

struct spawn_req {
    const char *dir;          /* working directory (service directory) */
    const char *prog;         /* "./run", "./finish", ... */
    const char *const *argv;  /* NULL-terminated, argv[0] included */
    int stdin_fd;             /* dup'ed to 0 */
    int stdout_fd;            /* dup'ed to 1 and 2 */
    int extra_fd;             /* dup'ed to extra_fd_target, or -1 */
    int extra_fd_target;
    const char *notify_socket; /* NOTIFY_SOCKET value, or NULL */
    const char *service_name;  /* exported as BAY0_SERVICE */
    const char *cgroup_procs;  /* the child joins this cgroup, or NULL */
    int cgroup_fd;             /* born into this cgroup (clone3), or -1 */
    bool creds_files;          /* read DIR/user and DIR/limits (the scan saw one) */
    const struct contain *contain; /* DIR's containment files (contain.h) as the caller
                                      loaded them for this start, or NULL: none */
    const char *contain_error; /* or why they could not be loaded: the start is refused */
    volatile int *exec_errno;  /* clone3: the child reports an exec failure
                                  here (shared memory) and the caller does
                                  not wait for the exec; NULL: wait */
};

/* Shared memory (survives fork) with `count` exec-error cells. */
int spawn_init(uint32_t count);
/* An eventfd that becomes readable when a child no longer needs fds the
 * supervisor holds for it (watch it and call spawn_sweep), or -1. */
int spawn_event_fd(void);
/* Lets go of the fds held for children that have their own fd table, have
 * exec'd or have exited. O(1) when nothing is held; call it once per loop
 * iteration (a child that exits before taking its fds signals nothing). */
void spawn_sweep(void);
/* spawn_event_fd is readable: drains it and sweeps. */
void spawn_on_event(void);
/* Cell i, or NULL before spawn_init / out of range. */
volatile int *spawn_errno_cell(uint32_t i);

/* Returns the child's pid (its own session and process group), or -1 with
 * errno set: the fork failed, or exec failed in the child (the child has
 * then already exited; the caller must still reap it — *reap_pid is set). */
pid_t spawn_start(const struct spawn_req *req, pid_t *reap_pid);

struct contain;
/* Loads the containment files of the service directory DIR (contain.h)
 * into *c, for the caller to pass to the cgroup and to spawn_req: NULL
 * when has_files is false (the scan saw none), c, or NULL with the
 * reason in reason[] (a file went bad since the scan). Read once per
 * start. */
const struct contain *spawn_contain_load(const char *dir, bool has_files, struct contain *c,
                                         char *reason, size_t reason_size);

#endif
