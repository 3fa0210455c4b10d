/* pid1.h — what only PID 1 does: reaping outside the supervisor, bounded
 * side work in a child, the panic policy, and the final shutdown sequence
 * (SIGTERM to everything left, SIGKILL after a bound, sync, unmount /
 * remount read-only, reboot(2)).
 *
 * Never: blocks without a deadline, exits as the machine's PID 1 (that
 * panics the kernel), or names the persist path (src/state/ does).
 */
#ifndef BAY0_PID1_H
#define BAY0_PID1_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop.h" /* enum supervise_exit */

/* The final sequence's steps and their bounds. Their sum is kept out of
 * the supervisor's share of the shutdown bound, so that the whole shutdown
 * (services + this) stays within it. */
#define PID1_TERM_GRACE_MS_DEFAULT 3000 /* SIGTERM -> SIGKILL for leftovers */
#define PID1_KILL_WAIT_MS 1000          /* after SIGKILL, wait this long */
#define PID1_FLUSH_TIMEOUT_MS 2000      /* the state hook (db, seed, time) */
#define PID1_SYNC_TIMEOUT_MS 2000       /* sync(2) in a child */
#define PID1_UMOUNT_TIMEOUT_MS 2000     /* unmount / remount-ro in a child */
#define PID1_FINAL_BUDGET_MS                                                  \
    (PID1_TERM_GRACE_MS_DEFAULT + PID1_KILL_WAIT_MS + PID1_FLUSH_TIMEOUT_MS + \
     PID1_SYNC_TIMEOUT_MS + PID1_UMOUNT_TIMEOUT_MS)
#define PID1_SUPERVISOR_SHUTDOWN_MS_MIN 1000

enum pid1_panic_policy {
    PID1_PANIC_REBOOT = 0,
    PID1_PANIC_HALT,
    PID1_PANIC_SHELL,
};

/* Parse "reboot" | "halt" | "shell"; false on anything else. */
bool pid1_panic_policy_parse(const char *s, enum pid1_panic_policy *out);
const char *pid1_panic_policy_name(enum pid1_panic_policy p);

/* Install the panic handler (bay0_set_panic_handler) with this policy.
 * container: exit(1) instead of reboot(2) when reboot is not permitted. */
void pid1_panic_setup(enum pid1_panic_policy policy, bool container);

/* True when this process is PID 1 of a container or of a non-initial PID
 * namespace (the `container` environment variable, or /proc/self/ns/pid is
 * not the initial namespace). Needs /proc. */
bool pid1_is_container(void);

/* Reap every exited child without blocking; returns how many. */
int pid1_reap_nohang(void);

/* Hooks the final sequence calls between the kill and the reboot(2). */
struct pid1_final_hooks {
    void (*flush)(void);   /* state: last-good time, seed, db checkpoint */
    void (*unmount)(void); /* persist: umount or remount read-only */
};

/* The final sequence after supervise_run() returned `how`: SIGTERM to
 * every remaining process, SIGKILL after term_grace_ms, flush hooks, sync,
 * unmount hook, then reboot(2) with the matching command. Each step logs a
 * line. In a container, SUPERVISE_EXIT_STOP (and a refused reboot(2))
 * exits with supervise_exit_status(); in a PID namespace reboot(2) ends the
 * namespace. Never returns. */
_Noreturn void pid1_final(enum supervise_exit how, bool container,
                          uint32_t term_grace_ms,
                          const struct pid1_final_hooks *hooks);

#endif
