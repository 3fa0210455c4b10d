/* service.h — the service state machine (service.c): the one transition
 * function, the events' inputs, and the operations through which the
 * machine reaches the world (real by default; fakes in unit tests).
 */
#ifndef BAY0_SERVICE_H
#define BAY0_SERVICE_H

#include "svc.h"

/* The one transition function. What an event brings with
 * it: the time (the machine reads no clock), the wait status of an exit,
 * a new definition or the reason there is none. */
struct svc_input {
    int64_t now_ms;            /* CLOCK_MONOTONIC */
    int status;                /* EV_RUN_EXIT, EV_AUX_EXIT: from waitpid */
    const struct svc_def *def; /* EV_CONFIG */
    const char *error;         /* EV_CONFIG_ERROR */
};
void service_dispatch(struct svc *s, enum svc_event ev, const struct svc_input *in);
/* service_dispatch with now from ops->mono_ms (not for the CONFIG events). */
void service_on_event(struct svc *s, enum svc_event ev, int status);
/* A (re)read definition, or the reason it could not be read (def NULL):
 * EV_CONFIG or EV_CONFIG_ERROR. Restarts the service if its run file
 * changed. */
void service_apply_config(struct svc *s, const struct svc_def *def,
                          const char *error);
/* The action name in cell (st, ev) of the table, as the header comment
 * of service.c writes it; NULL out of range. */
const char *service_transition_name(enum svc_state st, enum svc_event ev);

/* Everything the machine does to the world. The real ones by default;
 * unit tests install fakes (a fake clock, fake processes). */
struct service_ops {
    int64_t (*mono_ms)(void); /* now, for events sent without one */
    int64_t (*wall_ns)(void); /* display and death records only */
    int64_t (*boot_us)(void); /* CLOCK_BOOTTIME, the timeline's (svc.h) clock;
                               * NULL: the event's now */
    /* Starts prog of s in its directory; the pid (its own process group),
     * or -1 with errno (a child that failed its exec is already reaped). */
    pid_t (*spawn)(struct svc *s, const char *prog, const char *const *argv,
                   int extra_fd, int extra_target);
    /* errno of an exec the last run never got to (and forgets it), or 0 */
    int (*exec_error)(struct svc *s);
    void (*kill_group)(pid_t pgid, int sig);    /* leader already reaped */
    void (*kill_leader)(pid_t leader, int sig); /* leader alive: its group */
    void (*kill_cgroup)(const struct svc *s);   /* SIGKILL all in its cgroup */
};
/* NULL: the real ones. */
void service_set_ops(const struct service_ops *ops);

/* What the loop above hears from the machine (supervise.c sets them at
 * start; unset, nobody is told: the unit tests). */
struct service_hooks {
    void (*state_changed)(struct svc *s, enum svc_state old); /* after every change */
    /* pid was just spawned as s's run (aux: finish/undo) */
    void (*spawned)(const struct svc *s, pid_t pid, bool aux);
};
void service_set_hooks(const struct service_hooks *hooks);

#endif
