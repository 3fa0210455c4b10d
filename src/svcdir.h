/* svcdir.h — reading one service directory into a service definition.
 *
 * s6 files keep s6's meaning and defaults (servicedir.html): run, finish,
 * down, notification-fd, timeout-kill, timeout-finish, down-signal,
 * max-death-tally, env/, log/run. bay0 adds: type (longrun | oneshot),
 * restart (always | on-failure | never), restart-limit ("COUNT SECONDS"),
 * notify (sd_notify readiness through NOTIFY_SOCKET), undo (a oneshot's
 * stop script), dependencies and dependencies.d/ (read by deps.c), and
 * for the built-in logger log-max-bytes, log-keep, log-timestamp
 * (iso | tai64n | none), user and limits (creds.h), and the containment
 * files (contain.h).
 *
 * Pure reads relative to a scan directory fd; never allocates, never
 * touches /persist, never starts anything.
 */
#ifndef BAY0_SVCDIR_H
#define BAY0_SVCDIR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SERVICE_NAME_BYTES_MAX 64
#define SERVICE_REASON_BYTES_MAX 192
#define SVCDIR_FILE_BYTES_MAX 256
#define TIMEOUT_KILL_MS_DEFAULT 10000
#define TIMEOUT_FINISH_MS_DEFAULT 5000 /* s6's default */
#define TIMEOUT_MS_MAX (24u * 3600u * 1000u)
#define MAX_DEATH_TALLY_DEFAULT 100 /* s6's default */
#define MAX_DEATH_TALLY_MAX 4096    /* s6's maximum */
#define RESTART_LIMIT_COUNT_DEFAULT 10
#define RESTART_LIMIT_WINDOW_S_DEFAULT 60
/* The deaths ring of each service holds this many times (8 bytes each;
 * svc.deaths_len/_head are uint8_t): COUNT 1..255. */
#define RESTART_LIMIT_COUNT_MAX 255
/* restart_limit_count for `restart-limit none`: restart forever (s6, runit,
 * systemd's StartLimitIntervalSec=0). */
#define RESTART_LIMIT_NONE 0
#define RESTART_LIMIT_WINDOW_S_MAX 86400
#define NOTIFICATION_FD_MAX 1023

enum svc_type { SVC_TYPE_LONGRUN, SVC_TYPE_ONESHOT };
enum svc_restart { SVC_RESTART_ALWAYS, SVC_RESTART_ON_FAILURE, SVC_RESTART_NEVER };
enum svc_readiness { SVC_READY_NONE, SVC_READY_FD, SVC_READY_NOTIFY };

/* Identity of the run file, to restart only services whose run changed. */
struct svc_file_sig {
    uint64_t ino;
    int64_t mtime_ns;
    int64_t ctime_ns;
    int64_t size;
};

struct svc_def {
    uint8_t type;      /* enum svc_type */
    uint8_t restart;   /* enum svc_restart */
    uint8_t readiness; /* enum svc_readiness */
    bool down_file;    /* `down` exists: do not start at boot / scan */
    bool has_finish;
    bool has_undo;     /* oneshot's stop script */
    bool has_log_run;
    bool may_have_deps; /* `dependencies` or `dependencies.d` listed (or no listing) */
    bool may_have_creds; /* `user` or `limits` listed (or no listing): read at each spawn */
    bool may_have_contain; /* a containment file (contain.h) listed, or was at an earlier
                              scan (its limit is lifted at the next spawn): read at each spawn */
    int16_t notification_fd; /* -1 when none */
    int16_t down_signal;
    uint16_t restart_limit_count;
    uint16_t max_death_tally;
    uint32_t restart_limit_window_s;
    uint32_t timeout_kill_ms;   /* 0 = never SIGKILL */
    uint32_t timeout_finish_ms; /* 0 = no limit */
    uint32_t log_max_bytes;     /* built-in logger: rotate at this size */
    uint16_t log_keep;          /* built-in logger: archives kept */
    uint8_t log_stamp;          /* enum log_stamp */
    struct svc_file_sig run_sig;
};

/* Fills def with defaults, then reads the directory NAME under scan_fd.
 * Returns 0, or -1 with a reason naming the file and the problem (the
 * service then shows `failed` with that reason). */
int svcdir_load(int scan_fd, const char *name, struct svc_def *def,
                char *reason, size_t reason_size);

/* Same as svcdir_load for a `log` subdirectory (NAME/log): only run and the
 * s6 files apply; a log service is always a longrun restarted always. */
int svcdir_load_logger(int scan_fd, const char *name, struct svc_def *def,
                       char *reason, size_t reason_size);

void svcdir_defaults(struct svc_def *def);

bool svc_file_sig_equal(const struct svc_file_sig *a,
                        const struct svc_file_sig *b);

#endif
