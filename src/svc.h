/* svc.h — the supervisor's model: the service table and the one state
 * machine every service goes through (service.c owns the transitions).
 *
 * The table is allocated once at start-up (sup_table_init) and sized from
 * configuration; nothing in it is allocated afterwards. A service's slot
 * index is its identity for the life of the slot; epoll data carries it.
 */
#ifndef BAY0_SVC_H
#define BAY0_SVC_H

#include "svcdir.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SVC_SLOTS_MIN 64
#define SVC_SLOTS_MAX 65536
#define SVC_RESTART_DELAY_MS_MIN 100
#define SVC_RESTART_DELAY_MS_MAX 5000 /* low enough that restart-limit 10 60 trips */
#define SVC_HEALTHY_UPTIME_MS 1000    /* ran this long: restart at once */
#define SVC_NONE (-1)

enum svc_state {
    ST_DOWN,
    ST_WAITING,   /* wants up, a dependency is not ready yet */
    ST_STARTING,  /* run spawned, readiness pending */
    ST_UP,        /* running (no readiness configured), or oneshot done */
    ST_READY,     /* running and signalled readiness */
    ST_STOPPING,  /* down-signal sent, waiting for run to exit */
    ST_FINISHING, /* run exited, finish (or undo) running */
    ST_BACKOFF,   /* waiting before the next start */
    ST_FAILED,    /* config error, restart limit, oneshot failure */
    ST_COUNT
};

enum svc_event {
    EV_WANT_UP,      /* start requested (boot, `bay0 start`, dependency) */
    EV_WANT_DOWN,    /* stop requested */
    EV_WANT_RESTART, /* `bay0 restart`, or a changed run file on reload */
    EV_DEPS_READY,   /* every dependency is ready */
    EV_RUN_EXIT,     /* the run process was reaped */
    EV_AUX_EXIT,     /* finish or undo was reaped */
    EV_READY,        /* notification-fd newline or READY=1 */
    EV_TIMER,        /* the service's deadline passed */
    EV_CONFIG,       /* a definition was (re)read: svc_input.def */
    EV_CONFIG_ERROR, /* it could not be read: svc_input.error says why */
    EV_COUNT
};

enum svc_exit_kind { EXIT_NONE, EXIT_CODE, EXIT_SIGNAL };

/* The boot timeline (`bay0 analyze`): CLOCK_BOOTTIME µs, 0 = not yet.
 * wanted: a start was asked for (or a restart became due: the exit);
 * spawned: dependencies ready, spawning; up: the run exists;
 * ready: readiness seen (longrun without readiness: up; oneshot: exit 0);
 * exited: the run exited. */
enum svc_stamp { STAMP_WANTED, STAMP_SPAWNED, STAMP_UP, STAMP_READY, STAMP_EXITED, STAMP_COUNT };

struct svc {
    char name[SERVICE_NAME_BYTES_MAX + 1];
    bool in_use;
    bool is_logger;     /* the log/run of service `parent` */
    bool config_error;  /* def could not be read; reason says why */
    bool removed;       /* gone from the scan directory; freed when down */
    bool want_up;       /* desired state */
    bool ready;         /* dependents may start */
    bool stop_requested; /* the run's death was asked for (stop/restart) */
    bool log_midline;    /* built-in logger: last chunk ended mid-line */
    bool log_watched;    /* log_rfd is in the epoll set */
    bool log_eof;        /* no writer left: not watched until the next spawn */
    bool stop_deferred;  /* wants down, waits for its dependents to stop */
    bool exec_failed;    /* the last run never got to exec */
    bool persist_known;  /* an intent stored with --persist applies */
    bool persist_up;
    uint8_t state;      /* enum svc_state */
    uint8_t exit_kind;  /* enum svc_exit_kind of the last run exit */
    uint8_t deaths_len;
    uint8_t deaths_head;
    int16_t exit_value; /* exit code or signal number */
    int16_t aux_code;   /* finish/undo exit code, -1 if killed */
    int32_t parent;     /* logger: its service; else SVC_NONE */
    int32_t logger;     /* service: its logger slot; else SVC_NONE */
    pid_t pid;          /* run, 0 when none */
    pid_t aux_pid;      /* finish or undo, 0 when none */
    int ready_fd;       /* notification-fd read end while starting */
    int log_rfd;        /* log pipe, held across restarts */
    int log_wfd;
    uint32_t restarts;
    uint32_t generation; /* bumped at every spawn */
    uint32_t backoff_ms;
    int64_t deadline_ms;     /* monotonic; 0 = none */
    int64_t started_mono_ms; /* last spawn */
    int64_t since_wall_ms;   /* last state change, for display */
    int64_t last_death_ms; /* the newest death counted for the restart limit */
    int64_t stamp_first[STAMP_COUNT]; /* the first time each was reached */
    int64_t stamp_last[STAMP_COUNT];  /* the latest start's */
    uint32_t dep_first; /* into sup.dep_edges */
    uint16_t dep_count;
    struct svc_def def;
    char reason[SERVICE_REASON_BYTES_MAX];
};

struct sup {
    struct svc *svcs;
    uint32_t slots;   /* allocated */
    uint32_t used_hi; /* 1 + highest slot ever used */
    /* Each slot's restart-limit ring: the deaths' monotonic ms, modulo 2^32
     * (exact for the limit's windows, at most a day, since the ring is
     * emptied after a day without deaths). Beside the table, not in it: a
     * ring's page is touched at its service's first death, so services
     * that never die cost none of its 1,020 bytes (svc_slot_reset leaves
     * it alone; deaths_len says how much of it counts). */
    uint32_t (*deaths_ms)[RESTART_LIMIT_COUNT_MAX];
    int32_t *dep_edges; /* slot indices, SVC_NONE for a missing name */
    char (*dep_names)[SERVICE_NAME_BYTES_MAX + 1];
    uint32_t dep_edges_max;
    uint32_t dep_edges_used;
    int scan_fd;
    int devnull_fd;
    int epoll_fd;
    const char *scandir;
    const char *rundir;
    const char *logdir;
    char notify_path[108];
    bool shutting_down;
    bool pid1;
    bool container;      /* PID 1 of a container: signals stop, never reboot */
    bool persist_intent; /* read --persist intents from the state db at start */
};

extern struct sup sup;

const char *svc_state_name(enum svc_state st);
const char *svc_event_name(enum svc_event ev);

/* svc.c: lookups in the table. */
struct svc *svc_find(const char *name);
/* The name index svc_find uses (O(1) at 10,000 services): sized once for
 * the table; scan adds a service once it has its name, and removes it
 * before the slot is freed (svc_slot_reset removes it too). */
int svc_names_init(uint32_t slots);
void svc_name_add(struct svc *s);
void svc_name_del(struct svc *s);
struct svc *svc_by_pid(pid_t pid, bool *is_aux);
static inline int32_t svc_index(const struct svc *s) { return (int32_t)(s - sup.svcs); }
/* For the modules beside the machine (control, logger): slots
 * 0 .. svc_table_end() - 1 may be in use; svc_at() asserts the range. */
uint32_t svc_table_end(void);
struct svc *svc_at(uint32_t slot);
/* The i-th dependency of s (i < s->dep_count): its name, and in *dep its
 * service, NULL when no service has that name. */
const char *svc_dep(const struct svc *s, uint32_t i, const struct svc **dep);
/* A slot taken for a new service: zeroed, in use, no fds, no relatives. */
void svc_slot_reset(struct svc *s);
bool svc_is_running(const struct svc *s);
/* true when dependents of s may start */
bool svc_is_ready(const struct svc *s);

#endif
