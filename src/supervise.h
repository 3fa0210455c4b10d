/* supervise.h — the supervisor: one event loop that runs every service of a
 * scan directory (s6/runit service directories plus bay0's extensions).
 *
 * Used by `bay0 supervise` (an ordinary process, a subreaper) and by PID 1
 * (init.c), which calls supervise_run() after early boot and performs the
 * final kill/sync/umount/reboot(2) itself once supervise_run() returns.
 */
#ifndef BAY0_SUPERVISE_H
#define BAY0_SUPERVISE_H

#include "loop.h"

#include <stdbool.h>
#include <stdint.h>

#define SUPERVISE_SHUTDOWN_TIMEOUT_MS_DEFAULT 30000

struct supervise_config {
    const char *scandir;          /* service directories */
    const char *rundir;           /* control socket, notify socket */
    const char *logdir;           /* built-in logger output */
    uint32_t services_max;        /* table size; 0 = derive from scandir */
    uint32_t shutdown_timeout_ms; /* bound for stopping everything */
    bool pid1;                    /* running as the machine's PID 1 */
    bool container;               /* PID 1 of a container / pid namespace */
};

/* Runs until a shutdown is requested (signal or control socket).
 * Signal policy: SIGHUP rescans the scan directory (like `bay0 reload`).
 * In supervise and container mode SIGTERM, SIGINT and SIGQUIT request
 * SUPERVISE_EXIT_STOP; SIGUSR1, SIGUSR2 and SIGPWR are logged and ignored.
 * As a machine's PID 1: SIGTERM and SIGINT (ctrl-alt-del) request REBOOT,
 * SIGUSR1 HALT, SIGUSR2 and SIGPWR POWEROFF (busybox init's conventions);
 * SIGQUIT is logged and ignored. */
enum supervise_exit supervise_run(const struct supervise_config *cfg);


#endif
