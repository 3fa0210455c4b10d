/* persona_job.h — the work behind each persona transition, run in a child
 * process of the persona manager: intent to the database first, then
 * podman (through exec.c, with deadlines), then the observed state to the
 * database. The child answers on out_fd with lines and one final line:
 *
 *   OK [pid=N]          done (pid: the container's, after a start)
 *   ERR reason          failed; the database says stopped and why
 *   TIMEOUT reason      podman did not answer in time: outcome unknown
 *
 * Also the spec (a persona's creation options, stored in the database)
 * and its check. Never runs in the manager's loop or in PID 1.
 */
#ifndef BAY0_PERSONA_JOB_H
#define BAY0_PERSONA_JOB_H

#include "exec.h"
#include "persona.h"
#include "state/state.h"

#include <stdbool.h>
#include <stdint.h>

#define PERSONA_ENV_MAX 32
#define PERSONA_CMD_ARGS_MAX 32
#define PERSONA_STOP_TIMEOUT_S 10
#define PERSONA_CGROUP_NAME "bay0-podman" /* where podman start runs */
#define PERSONA_PODMAN_TIMEOUT_MS_DEFAULT 20000 /* BAY0_PODMAN_TIMEOUT_MS */

enum persona_job_kind {
    JOB_CREATE = 0,
    JOB_START,
    JOB_STOP,
    JOB_RESET,
    JOB_REMOVE,
    JOB_NOTE,
    JOB_KIND_COUNT
};

struct persona_job_req {
    enum persona_job_kind kind;
    char semantic[PERSONA_SEMANTIC_BYTES_MAX];
    char container[PERSONA_CONTAINER_BYTES_MAX];
    char image[STATE_PERSONA_IMAGE_BYTES_MAX];   /* JOB_CREATE */
    char spec[STATE_PERSONA_SPEC_BYTES_MAX];     /* JOB_CREATE */
    bool want_up;                                /* desired to write */
    enum state_persona_state current;            /* JOB_NOTE */
    char error[STATE_PERSONA_ERROR_BYTES_MAX];   /* JOB_NOTE */
    char piddir[256]; /* RUNDIR/personas: the containers' pid files */
};

const char *persona_job_kind_name(enum persona_job_kind k);
/* In the child: do the job, write the answer to out_fd, return the exit
 * status for the child. */
int persona_job_run(const struct persona_job_req *r, int out_fd);

/* Deadline of one podman call: BAY0_PODMAN_TIMEOUT_MS or the default. */
uint32_t persona_podman_timeout_ms(void);
/* After a successful `podman rm`: podman removes the container's own cgroup
 * but not the --cgroup-parent it was given (focus.h), nor conmon's
 * directory in it. They go with the container, in every hierarchy, or each
 * supervisor start would walk them (focus, the governor) for ever. Tries
 * again every 20 ms for up to wait_ms while a process (conmon, leaving) is
 * still in one; then logs event=cgroup-parent-left. Blocks on cgroupfs. */
void persona_cgroup_forget(const char *semantic, const char *container, uint32_t wait_ms);
/* The wait of one `persona rm`: conmon's exit after podman rm. */
#define PERSONA_CGROUP_EMPTY_MS 5000

/* --- the spec: "memory=BYTES\ncpu-weight=N\nenv=K=V\ncmd=ARG\n..." ------ */
struct persona_spec {
    uint64_t memory_bytes;  /* 0: no limit */
    uint32_t cpu_weight;    /* 0: default; else 1..10000 */
    uint32_t env_count;
    uint32_t cmd_count;
    const char *env[PERSONA_ENV_MAX];      /* point into the spec text */
    const char *cmd[PERSONA_CMD_ARGS_MAX];
    const char *ai_dir; /* ai=DIR: the AI tenant's socket dir, bind-mounted; or NULL */
};
/* Parse in place (newlines become NULs). false with reason. */
bool persona_spec_parse(char *text, struct persona_spec *out, char *reason,
                        size_t reason_size);
/* One option value's check, for the CLI and the manager: NULL or why. */
const char *persona_spec_value_check(const char *value);
/* Add the create options of spec to a (after "podman create ..."). */
bool persona_spec_argv(const struct persona_spec *s, struct exec_argv *a);

#endif
