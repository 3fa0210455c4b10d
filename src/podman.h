/* podman.h — what bay0 reads from podman: `podman ps -a --format json` and
 * `podman events --format json` lines, parsed with jansson (Debian's
 * libjansson) into fixed structs; and the podman command lines bay0 runs
 * (built on exec.h, so BAY0_PODMAN picks the store).
 *
 * The parsers take untrusted input (another program's output) and are
 * fuzzed (tests/fuzz/fuzz_podman.c). They allocate (jansson does): they run
 * only in bay0's child processes (persona jobs, the events watcher), never
 * in PID 1 and never in the persona manager's loop.
 */
#ifndef BAY0_PODMAN_H
#define BAY0_PODMAN_H

#include "exec.h"
#include "persona_name.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PODMAN_PS_BYTES_MAX (1024 * 1024)   /* podman ps output we accept */
#define PODMAN_CONTAINERS_MAX 1024          /* containers one listing holds */
#define PODMAN_CONTAINER_NAME_BYTES_MAX 128
#define PODMAN_STATE_BYTES_MAX 24
#define PODMAN_EVENT_BYTES_MAX 8192         /* one events line */

/* One container of a listing. ours: the name is the image of a valid
 * semantic name (then persona is filled). */
struct podman_container {
    char name[PODMAN_CONTAINER_NAME_BYTES_MAX];
    char state[PODMAN_STATE_BYTES_MAX]; /* "running", "exited", "created"... */
    int64_t pid;                        /* 0 when not running */
    bool ours;
    bool made_by_manager; /* has the label bay0.persona (persona_job.c) */
    struct persona_name persona;
};

/* Parse `podman ps -a --format json`. false with err filled when the text
 * is not a JSON array of objects each with a "Names" array of strings and a
 * "State" string, or when it holds more than cap containers. */
bool podman_ps_parse(const char *json, size_t len,
                     struct podman_container *out, size_t cap, size_t *count,
                     char *err, size_t err_size);

/* Is the container running (or about to be: "running", "paused",
 * "stopping")? */
bool podman_state_is_up(const char *state);

enum podman_event_kind {
    PODMAN_EV_OTHER = 0,
    PODMAN_EV_START,
    PODMAN_EV_DIED,
    PODMAN_EV_REMOVE,
};

struct podman_event {
    enum podman_event_kind kind;
    char name[PODMAN_CONTAINER_NAME_BYTES_MAX];
    int exit_code;   /* PODMAN_EV_DIED: ContainerExitCode, -1 if absent */
    int64_t time_ns; /* "Time" as ns since the epoch; 0 if absent/unparsable */
};

/* Parse one `podman events --format json` line. false when it is not a
 * container event object with a string "Name" and "Status". */
bool podman_event_parse(const char *line, size_t len, struct podman_event *ev);

/* "2026-11-29T03:18:04.571481021Z" (or with a +hh:mm offset) -> ns since
 * the epoch; false when malformed. */
bool podman_time_parse(const char *s, int64_t *ns);

/* Start a with BAY0_PODMAN then the words given (NULL-terminated). */
bool podman_argv(struct exec_argv *a, const char *first, ...)
    __attribute__((sentinel));

/* Did podman say the container does not exist (stderr of a failed call)? */
bool podman_err_no_such_container(const char *err);

#endif
