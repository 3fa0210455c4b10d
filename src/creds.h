/* creds.h — a service's `user` and `limits` files (DESIGN §4: bay0 adds
 * `user` (`user[:group]`) and resource limits).
 *
 * `user`: one line, `USER[:GROUP]`, each a name or a number. Names are
 * looked up in /etc/passwd and /etc/group, read directly (no NSS: the
 * static binary on the Spine has no shared libraries). Without GROUP the
 * user's primary group and every group listing the user are used (as
 * initgroups does); with GROUP only that group.
 * `limits`: one limit a line, `RESOURCE SOFT [HARD]`, `#` comments;
 * RESOURCE one of as core cpu data fsize locks memlock msgqueue nice nofile
 * nproc rss rtprio sigpending stack; a value is a number with an optional
 * K/M/G/T suffix (powers of 1024) or `unlimited`. Without HARD only the
 * soft limit changes.
 *
 * Both are read when a service directory is scanned (errors become the
 * service's reason, naming the file) and again at each spawn of a service
 * whose directory had one, by the supervisor before the clone; the child
 * only makes the calls.
 * Never allocates; never blocks beyond reading three small files.
 */
#ifndef BAY0_CREDS_H
#define BAY0_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CREDS_GROUPS_MAX 16
#define CREDS_LIMITS_MAX 16
#define CREDS_DB_BYTES_MAX 65536 /* /etc/passwd and /etc/group, each */

struct creds_user {
    bool set; /* a `user` file asked for a switch */
    uid_t uid;
    gid_t gid;
    uint32_t ngroups;
    gid_t groups[CREDS_GROUPS_MAX];
};

struct creds_limit {
    int resource;     /* RLIMIT_* */
    bool soft_only;   /* HARD not given: keep the current hard limit */
    uint64_t soft, hard; /* UINT64_MAX: unlimited */
};

struct creds_limits {
    uint32_t count;
    struct creds_limit l[CREDS_LIMITS_MAX];
};

/* Reads DIR/user (dirfd and path as for openat). Returns 1 with *out set,
 * 0 when there is no such file, -1 with a reason naming the file. A user
 * that is the supervisor's own needs no switch (out->set false). */
int creds_load_user(int dirfd, const char *path, struct creds_user *out, char *reason,
                    size_t reason_size);
/* USER[:GROUP] (names or numbers) from /etc/passwd and /etc/group, as in
 * a `user` file; false with reason. */
bool creds_resolve_user(const char *spec, struct creds_user *out, char *reason,
                        size_t reason_size);

/* Reads DIR/limits the same way. Checks what the child could not do:
 * soft above hard, or (without CAP_SYS_RESOURCE) a hard limit above the
 * supervisor's own. */
int creds_load_limits(int dirfd, const char *path, struct creds_limits *out, char *reason,
                      size_t reason_size);

#endif
