/* loop.h — what the modules under the event loop may ask of it: watch an
 * fd, ask for a shutdown, hold one back while a flush runs (loop.c);
 * pidfds (supervise_reap.c). loop.c calls nothing above it, and the
 * modules that include this never include supervise.h, so the loop sits
 * on top of them with no circle of includes or of calls
 * (docs/ARCHITECTURE.md, "Layers"). State changes reach the loop through
 * service.c's hooks, which supervise.c sets.
 */
#ifndef BAY0_LOOP_H
#define BAY0_LOOP_H

#include "svc.h"

#include <stdint.h>
#include <sys/epoll.h>

/* Why supervise_run() returned. In every case all services have been
 * stopped (or the shutdown bound ran out, which is logged). */
enum supervise_exit {
    SUPERVISE_EXIT_ERROR = -1, /* could not start (bad rundir, ...) */
    SUPERVISE_EXIT_STOP = 0,   /* SIGTERM/SIGINT in supervise/container mode, `bay0 shutdown` */
    SUPERVISE_EXIT_POWEROFF,
    SUPERVISE_EXIT_REBOOT,
    SUPERVISE_EXIT_HALT,
};

/* The name logs print for an enum supervise_exit ("action=reboot"). */
static inline const char *supervise_exit_name(int action)
{
    static const char *const names[] = {"stop", "poweroff", "reboot", "halt"};
    return action >= 0 && action <= SUPERVISE_EXIT_HALT ? names[action] : "error";
}

/* epoll data kinds: the kind in the high 32 bits, an index in the low */
enum { WATCH_SIGNAL = 1, WATCH_TIMER, WATCH_CONTROL, WATCH_CONN, WATCH_NOTIFY,
       WATCH_READY, WATCH_LOG, WATCH_LOG_RESUME, WATCH_SPAWN, WATCH_GOVERNOR,
       WATCH_PIDFD, WATCH_KIND_COUNT };

void sup_watch_fd(int fd, uint32_t kind, int32_t index);
void sup_unwatch_fd(int fd);
void sup_rewatch_fd(int fd, struct epoll_event *ev); /* EPOLL_CTL_MOD */
/* What the supervisor was started with, for replies and checks. */
const char *sup_scandir(void);
const char *sup_logdir(void);
bool sup_is_pid1(void);
bool sup_persists(void); /* --persist intents are read from the state db */
/* pid was just spawned as s's run (aux: finish/undo): report its exit
 * through a pidfd when the kernel and the fd budget allow, else the loop
 * learns of it by SIGCHLD. Closed by the loop when pid is reaped. */
void sup_watch_pid(const struct svc *s, pid_t pid, bool aux);
/* pidfds the loop holds now (one per running service process): scan's fd
 * budget counts them beside the log pipes. */
uint32_t sup_pidfds_held(void);
/* A shutdown (enum supervise_exit): begins once the loop's current turn
 * is done; a power-off, reboot or halt asked in the same turn wins. */
void sup_request_shutdown(int action);
/* pid writes critical state (/persist): a shutdown waits for it to exit,
 * at most LOOP_FLUSH_INHIBIT_MS_MAX after this call. */
#define LOOP_FLUSH_INHIBIT_MS_MAX 2000
void sup_flush_begin(pid_t pid, const char *what);

/* For supervise.c only: what was asked, taken at the top of each turn. */
#define LOOP_NO_SHUTDOWN (-2)
int loop_take_shutdown_request(void); /* an action, or LOOP_NO_SHUTDOWN */
bool loop_flush_on_exit(pid_t pid);   /* pid held a flush inhibit: now released */
int64_t loop_flush_deadline_ms(void); /* the nearest running flush's bound, or 0 */
/* Whether a flush still holds the shutdown back; one that outlived its
 * bound is let go (logged) and no longer waited for. */
bool loop_flush_inhibits(void);
/* The exit status a container PID 1 should exit with after supervise_run
 * returned: 0 when every service stopped cleanly, else 1. */
int supervise_exit_status(void);

#endif
