/* validate.h — `bay0 validate`: one non-destructive health check of the
 * machine (see validate.c for the runner, validate_checks.c and freezer.c
 * for the checks, cli_validate.c for the command).
 *
 * Every check runs in a child process of the client with its own deadline,
 * all at once; a check that does not answer in time is RED and killed. A
 * guardian process (its own session) removes what a run killed halfway
 * left behind: the freezer's container and cgroups, the persist marker.
 * Never runs in PID 1's process.
 */
#ifndef BAY0_VALIDATE_H
#define BAY0_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum validate_level { VALIDATE_GREEN = 0, VALIDATE_YELLOW = 1, VALIDATE_RED = 2 };

#define VALIDATE_REASON_BYTES_MAX 240
#define VALIDATE_PATH_BYTES_MAX 1024
#define VALIDATE_NAME_BYTES_MAX 64
#define VALIDATE_IMAGE_BYTES_MAX 256
#define VALIDATE_CHECKS_MAX 16
/* The freezer's test image (busybox sh): personas/build.sh makes it. */
#define VALIDATE_IMAGE_DEFAULT "localhost/bay0-shell:latest"
#define VALIDATE_IMAGE_ENV "BAY0_VALIDATE_IMAGE"

/* What the checks and the guardian share, fixed before anything starts. */
struct validate_env {
    const char *rundir;         /* the supervisor's run dir */
    bool verbose;               /* children's stderr goes to ours */
    bool podman;                /* a podman binary answered `--version` */
    pid_t main_pid;
    char image[VALIDATE_IMAGE_BYTES_MAX];
    char container[VALIDATE_NAME_BYTES_MAX]; /* sys__validate-PID */
    char cgroup_base[VALIDATE_PATH_BYTES_MAX]; /* CG2/OWN/bay0-validate.PID, "" if none */
};

typedef enum validate_level (*validate_fn)(const struct validate_env *env,
                                           char *reason, size_t size);

struct validate_check {
    const char *name;
    validate_fn fn;
    uint32_t timeout_ms;
    const char *timeout_why; /* "no answer from the persist disk" */
};

struct validate_result {
    const char *name;
    enum validate_level level;
    int64_t elapsed_ms;
    char reason[VALIDATE_REASON_BYTES_MAX];
};

const char *validate_level_name(enum validate_level l); /* "GREEN" ... */
/* In a check: the text of the last warn/error line logged in this check
 * (e.g. "event=genesis-failed path=P error=\"cannot open: Read-only file
 * system\" hint=..."). */
const char *validate_last_problem(void);

/* Run every check at once, each in a child with its deadline. Returns true
 * when every check answered (none had to be killed). */
bool validate_run(const struct validate_check *checks, size_t n,
                  const struct validate_env *env, struct validate_result *out);

/* The guardian: a process in its own session that cleans up after this
 * run if it ends without validate_guard_done() (killed, or a check timed
 * out). validate_guard_done(clean): clean = nothing to remove; otherwise
 * the guardian cleans up and this waits for it (bounded). */
bool validate_guard_start(const struct validate_env *env);
void validate_guard_done(bool clean);
/* Remove everything a run of env may have left (the guardian's work;
 * also usable directly). Bounded; never touches anything not named by env. */
void validate_cleanup(const struct validate_env *env);

/* The checks (validate_checks.c, freezer.c, umbilical.c). */
enum validate_level validate_check_persist(const struct validate_env *env, char *reason, size_t size);
enum validate_level validate_check_log(const struct validate_env *env, char *reason, size_t size);
enum validate_level validate_check_database(const struct validate_env *env, char *reason, size_t size);
enum validate_level validate_check_clock(const struct validate_env *env, char *reason, size_t size);
enum validate_level validate_check_services(const struct validate_env *env, char *reason, size_t size);
enum validate_level validate_check_network(const struct validate_env *env, char *reason, size_t size);
enum validate_level validate_check_freezer(const struct validate_env *env, char *reason, size_t size);
enum validate_level validate_check_umbilical(const struct validate_env *env, char *reason, size_t size);
enum validate_level validate_check_compositor(const struct validate_env *env, char *reason, size_t size);

/* Freezer helpers the guardian uses (freezer.c): SIGKILL everything in the
 * cgroups under base (thawed first), wait for them to empty, remove them. */
void freezer_cgroups_remove(const char *base);
/* `podman rm -f -t 0 NAME`, bounded. */
void freezer_container_remove(const char *name);

#endif
