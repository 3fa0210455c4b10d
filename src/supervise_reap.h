/* supervise_reap.h — reaping for the event loop (supervise.c), O(1) per
 * death: a pidfd per service process, waitpid(pid), and waitpid(-1) only
 * where a SIGCHLD may hide a death. sup_watch_pid (loop.h) is here too.
 * Allocates once (reap_init); never blocks.
 */
#ifndef BAY0_SUPERVISE_REAP_H
#define BAY0_SUPERVISE_REAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A reaped child that is no service's (the log writer, a flush or focus
 * child): true when the loop knew it. Orphans are nobody's. */
typedef bool (*reap_other_fn)(pid_t pid, int status);

int reap_init(uint32_t slots, reap_other_fn other); /* -1: out of memory */
void reap_on_sigchld(pid_t pid);     /* the pid a SIGCHLD names */
void reap_on_pidfd(int32_t index);   /* WATCH_PIDFD's index: 2 * slot + aux */
int64_t reap_sweep_due_ms(void);     /* when the loop's timer should call: 0 = never */
void reap_on_timer(int64_t now_ms);
void reap_close_all(void);           /* at exit: every pidfd */

#endif
