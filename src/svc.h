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

struct svc {
    char name[SERVICE_NAME_BYTES_MAX + 1];
    bool in_use;
    bool is_logger;     /* the log/run of service `parent` */
    bool config_error;  /* def could not be read; reason says why */
    bool removed;       /* gone from the scan directory; freed when down */
    bool want_up;       /* desired state */
    bool ready;         /* dependents may start */
    bool stop_requested; /* the run's death was asked for (stop/restart) */
    bool scan_seen;      /* scratch for sup_reload */
    bool log_midline;    /* built-in logger: last chunk ended mid-line */
    bool log_watched;    /* log_rfd is in the epoll set */
    bool log_eof;        /* no writer left: not watched until the next spawn */
    bool stop_deferred;  /* wants down, waits for its dependents to stop */
    bool next_ok;        /* scan scratch: next_def is valid */
    bool scan_new;       /* scan scratch: added by this scan */
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
    int64_t deaths_ms[RESTART_LIMIT_COUNT_MAX];
    uint32_t dep_first; /* into sup.dep_edges */
    uint16_t dep_count;
    struct svc_def def;
    struct svc_def next_def; /* scan scratch: the definition just read */
    char reason[SERVICE_REASON_BYTES_MAX];
    char cfg_reason[SERVICE_REASON_BYTES_MAX]; /* scan scratch */
};

struct sup {
    struct svc *svcs;
    uint32_t slots;   /* allocated */
    uint32_t used_hi; /* 1 + highest slot ever used */
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
    uint32_t log_fds;       /* fds held for log pipes (budget of RLIMIT_NOFILE) */
};

extern struct sup sup;

const char *svc_state_name(enum svc_state st);
const char *svc_event_name(enum svc_event ev);

/* service.c: the one transition function. What an event brings with
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

/* service.c: helpers the loop and control use. */
struct svc *svc_find(const char *name);
struct svc *svc_by_pid(pid_t pid, bool *is_aux);
static inline int32_t svc_index(const struct svc *s) { return (int32_t)(s - sup.svcs); }
/* A slot taken for a new service: zeroed, in use, no fds, no relatives. */
void svc_slot_reset(struct svc *s);
bool svc_is_running(const struct svc *s);
/* true when dependents of s may start */
bool svc_is_ready(const struct svc *s);

/* supervise.c hooks called by service.c */
void sup_state_changed(struct svc *s, enum svc_state old);
void sup_watch_fd(int fd, uint32_t kind, int32_t index);
void sup_unwatch_fd(int fd);

/* scan.c: the table and the scan directory */
int sup_table_init(uint32_t slots_wanted);
/* Reads the scan directory: adds new services (starting them unless
 * `down`, or unless initial is false and ...), reloads changed ones,
 * marks vanished ones removed. Returns the number of changes. */
struct scan_summary {
    uint32_t added, removed, restarted, failed, total;
    int error; /* errno: the scan directory could not be read, nothing changed */
};
void sup_scan(bool initial);
struct scan_summary sup_reload(void);
void sup_release_removed(void);

/* depgraph.c: the dependency graph of the table (built by each scan) */
int sup_deps_init(uint32_t slots);
/* Reads every scanned service's dependencies, resolves names, finds
 * cycles; failures clear next_ok and set cfg_reason. */
void sup_deps_rebuild(void);
/* Slots in start order (dependencies first) / stop order; count = used_hi. */
const uint32_t *sup_deps_start_order(void);
bool sup_has_running_dependents(const struct svc *s);
/* s changed state: its neighbours in the graph are due a look. */
void sup_deps_note_change(const struct svc *s);
/* Starts waiting services whose dependencies became ready and stops
 * deferred ones whose dependents stopped, looking only along the edges of
 * what changed (everything once after a rebuild). */
void sup_deps_propagate(void);
/* `start X`: X and everything it needs, in start order. */
void sup_want_up_closure(struct svc *s);
/* `restart X`: everything X needs (not X itself), in start order. */
void sup_want_up_dependencies(struct svc *s);
/* `stop X`: X and everything that needs it; returns how many others. */
uint32_t sup_want_down_closure(struct svc *s, char *names, size_t names_size);

/* supervise.c */
void sup_request_shutdown(int action); /* enum supervise_exit */
/* pid writes critical state (/persist): a shutdown waits for it to exit,
 * bounded (see supervise.c's flush inhibits). */
void sup_flush_begin(pid_t pid, const char *what);

/* epoll data kinds */
enum { WATCH_SIGNAL = 1, WATCH_TIMER, WATCH_CONTROL, WATCH_CONN, WATCH_NOTIFY,
       WATCH_READY, WATCH_LOG, WATCH_LOG_RESUME, WATCH_SPAWN, WATCH_GOVERNOR };

#endif
