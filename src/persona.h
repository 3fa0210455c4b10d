/* persona.h — one persona's lifecycle: the state machine the persona
 * manager drives (persona_mgr.c). Pure: time comes in as `now_ms`
 * (CLOCK_MONOTONIC), every side effect (a podman/DB job, a note to the
 * DB, a timer, "something changed") goes out through struct persona_ops,
 * so a unit test drives it with a fake clock and fake ops.
 *
 * A persona changes state in persona_on_event() and nowhere else.
 */
#ifndef BAY0_PERSONA_H
#define BAY0_PERSONA_H

#include "persona_name.h"
#include "state/state.h"

#include <stdbool.h>
#include <stdint.h>

#define PERSONA_RESTART_LIMIT 5          /* deaths in a row before FAILED */
#define PERSONA_BACKOFF_MS_MIN 500
#define PERSONA_BACKOFF_MS_MAX 10000
#define PERSONA_RAN_OK_MS 10000          /* ran this long: the death count restarts */
#define PERSONA_ERROR_BYTES_MAX STATE_PERSONA_ERROR_BYTES_MAX

enum persona_state {
    PS_CREATING = 0, /* job: DB row, podman create */
    PS_STOPPED,
    PS_STARTING,     /* job: DB starting, podman start, DB running */
    PS_RUNNING,
    PS_STOPPING,     /* job: DB stopping, podman stop, DB stopped */
    PS_BACKOFF,      /* died; a timer restarts it */
    PS_FAILED,       /* gave up; last_error says why */
    PS_RESETTING,    /* job: podman rm -f, podman create */
    PS_REMOVING,     /* job: podman rm -f, DB row removed */
    PS_COUNT
};

enum persona_event {
    PE_WANT_UP = 0,
    PE_WANT_DOWN,
    PE_WANT_RESTART,
    PE_WANT_RESET,
    PE_WANT_REMOVE,
    PE_JOB_OK,
    PE_JOB_FAILED,  /* arg.reason */
    PE_JOB_TIMEOUT,
    PE_DIED,        /* arg.exit_code */
    PE_TIMER,
    PE_COUNT
};

struct persona_arg {
    const char *reason; /* PE_JOB_FAILED */
    int exit_code;      /* PE_DIED: -1 unknown */
    int64_t pid;        /* PE_JOB_OK of a start: the container's pid */
};

struct persona {
    struct persona_name id;
    char semantic[PERSONA_SEMANTIC_BYTES_MAX];
    char container[PERSONA_CONTAINER_BYTES_MAX];
    char image[STATE_PERSONA_IMAGE_BYTES_MAX];
    enum persona_state state;
    bool want_up;          /* desired: running */
    bool restart_after;    /* a restart or reset was asked: start again */
    bool died_starting;    /* died while its start job was in flight */
    int died_exit;
    int64_t since_ms;      /* CLOCK_MONOTONIC when this state began */
    int64_t run_since_ms;  /* when it last reached RUNNING */
    int64_t timer_ms;      /* BACKOFF: when to start again; 0 = none */
    uint32_t backoff_ms;
    uint32_t deaths;       /* in a row, for the restart limit */
    uint32_t starts;       /* start jobs launched (waiters compare it) */
    uint32_t resets;       /* reset jobs finished */
    int64_t pid;
    int last_exit;         /* -1 none */
    char stop_reason[PERSONA_ERROR_BYTES_MAX]; /* FAILED once stopped */
    char last_error[PERSONA_ERROR_BYTES_MAX];
};

/* Side effects. Job launchers run one job for this persona and the manager
 * answers with PE_JOB_OK / PE_JOB_FAILED / PE_JOB_TIMEOUT. note writes the
 * current state and last_error to the DB (no answer). */
struct persona_ops {
    void (*start)(struct persona *p, void *ctx);
    void (*stop)(struct persona *p, void *ctx);
    void (*reset)(struct persona *p, void *ctx);
    void (*remove)(struct persona *p, void *ctx);
    void (*note)(struct persona *p, void *ctx);
    void (*removed)(struct persona *p, void *ctx); /* slot may be freed */
    void (*changed)(struct persona *p, void *ctx); /* any state change */
    void *ctx;
};

/* A persona known from the DB (or just asked to be created): state is
 * CREATING when creating, else STOPPED or RUNNING (adopted). */
void persona_init(struct persona *p, const struct persona_name *id,
                  const char *image, enum persona_state state, bool want_up,
                  int64_t now_ms);
void persona_on_event(struct persona *p, enum persona_event ev,
                      const struct persona_arg *arg, int64_t now_ms,
                      const struct persona_ops *ops);
/* A job is in flight: create/start/stop/reset/rm requests must wait. */
bool persona_busy(const struct persona *p);
/* The state as `bay0 persona list` shows it. */
const char *persona_state_name(enum persona_state s);
const char *persona_event_name(enum persona_event e);

#endif
