/* reconcile.h — desired vs actual convergence of personas, at boot (after
 * the migrations, when the persona manager starts) and on `bay0
 * reconcile`. Seed: "Reconciliation on boot (mandatory)".
 *
 * reconcile_plan() is pure: the database's rows and one podman listing in,
 * the repairs out, in name order. One rule per repair:
 *
 *   running-missing   DB current running, no container      -> DB stopped
 *   running-exited    DB current running, container not up  -> DB stopped
 *   starting          DB current starting                   -> podman rm -f (if any), DB stopped
 *   stopping          DB current stopping                   -> podman stop (if up), DB stopped
 *   stopped-but-up    DB current stopped, container up      -> podman stop (prefer stopped)
 *   ghost             p__* container, or a sys__* one the manager made
 *                     (label bay0.persona), no DB row        -> podman rm -f
 *   uncertain         podman did not answer (timeout, bad JSON): every row
 *                     not stopped -> DB stopped, no podman call
 *
 * Containers whose names are not the image of a valid semantic name are
 * never touched, nor sys__* containers that system tenants' own services
 * run (tenant.c's sys__ai: no label, no row). A row left running whose container is up is adopted
 * (kept running). Afterwards the manager starts every persona whose
 * desired state is running.
 *
 * reconcile_run() executes a plan in a child process of the persona
 * manager (it blocks: podman, SQLite) and answers on a fd with lines:
 *   R <tab> rule <tab> name <tab> action <tab> result
 *   P <tab> name <tab> image <tab> desired <tab> current <tab> pid <tab> last_error
 *   OK podman_calls=N repairs=N  |  ERR reason
 */
#ifndef BAY0_RECONCILE_H
#define BAY0_RECONCILE_H

#include "podman.h"
#include "state/state.h"

#include <stdbool.h>
#include <stddef.h>

#define RECONCILE_PERSONAS_MAX 256
/* reconcile_run waits this long in all, not per ghost, for the cgroups of
 * the ghosts it removed to empty (persona_cgroup_forget): inside the
 * deadline the manager gives it (RECONCILE_TIMEOUT_MS_EXTRA). */
#define RECONCILE_CGROUP_WAIT_MS 3000

enum reconcile_rule {
    RR_RUNNING_MISSING = 0,
    RR_RUNNING_EXITED,
    RR_STARTING,
    RR_STOPPING,
    RR_STOPPED_BUT_UP,
    RR_GHOST,
    RR_UNCERTAIN,
    RR_COUNT
};

enum reconcile_action {
    RA_DB_STOPPED = 0,     /* only the database changes */
    RA_RM_DB_STOPPED,      /* podman rm -f -t 0, then DB stopped */
    RA_STOP_DB_STOPPED,    /* podman stop, then DB stopped */
    RA_RM_GHOST,           /* podman rm -f -t 0 (no row) */
};

struct reconcile_repair {
    enum reconcile_rule rule;
    enum reconcile_action action;
    char name[PERSONA_SEMANTIC_BYTES_MAX];        /* semantic */
    char container[PERSONA_CONTAINER_BYTES_MAX];
};

/* podman_ok false: the listing is unknown (every row not stopped is
 * repaired by RR_UNCERTAIN). Returns the number of repairs written (at
 * most cap; rows + containers bound it). Rows whose names do not parse
 * are skipped (logged by the caller). */
size_t reconcile_plan(const struct state_persona *rows, size_t nrows,
                      const struct podman_container *cs, size_t ncs,
                      bool podman_ok, struct reconcile_repair *out,
                      size_t cap);
const char *reconcile_rule_name(enum reconcile_rule r);
const char *reconcile_action_text(enum reconcile_action a);

/* In a child: plan and (unless dry_run) repair; answer on out_fd. piddir
 * is where the containers' pid files are (for the P lines). Returns the
 * child's exit status. */
int reconcile_run(bool dry_run, const char *piddir, int out_fd);

#endif
