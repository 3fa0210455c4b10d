/* svcdir.c — reads a service directory into a struct svc_def (see
 * svcdir.h). Every problem becomes a reason string naming the file; a
 * missing optional file means its default. Never allocates. */
#include "svcdir.h"

#include "contain.h"
#include "creds.h"
#include "logfile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void svcdir_defaults(struct svc_def *def)
{
    memset(def, 0, sizeof *def);
    def->type = SVC_TYPE_LONGRUN;
    def->restart = SVC_RESTART_ALWAYS;
    def->readiness = SVC_READY_NONE;
    def->notification_fd = -1;
    def->down_signal = SIGTERM;
    def->restart_limit_count = RESTART_LIMIT_COUNT_DEFAULT;
    def->restart_limit_window_s = RESTART_LIMIT_WINDOW_S_DEFAULT;
    def->max_death_tally = MAX_DEATH_TALLY_DEFAULT;
    def->timeout_kill_ms = TIMEOUT_KILL_MS_DEFAULT;
    def->timeout_finish_ms = TIMEOUT_FINISH_MS_DEFAULT;
    def->log_max_bytes = LOG_MAX_BYTES_DEFAULT;
    def->log_keep = LOG_KEEP_DEFAULT;
    def->log_stamp = LOG_STAMP_ISO;
}

bool svc_file_sig_equal(const struct svc_file_sig *a,
                        const struct svc_file_sig *b)
{
    return a->ino == b->ino && a->mtime_ns == b->mtime_ns &&
           a->ctime_ns == b->ctime_ns && a->size == b->size;
}

/* An open service directory and which of the files bay0 reads are in it:
 * one listing (getdents64) instead of a failed open or stat per absent
 * file — most directories hold `run` and little else. */
struct svcdir {
    int fd;
    bool listed;
    uint32_t present; /* bit i: known_files[i] exists (any type) */
};

static const char *const known_files[] = {
    "run", "finish", "down", "notification-fd", "max-death-tally", "timeout-kill",
    "timeout-finish", "down-signal", "type", "restart", "restart-limit", "notify",
    "undo", "log", "log-max-bytes", "log-keep", "log-timestamp", "dependencies",
    "dependencies.d", "user", "limits",
    /* contain.h's, in its order (contain_file_names) */
    "memory.max", "memory.swap.max", "pids.max", "cpu.max", "cpu.weight", "io.weight",
    "no-new-privs", "oom-score-adj", "capabilities",
};
_Static_assert(ARRAY_LEN(known_files) <= 32, "present is a 32-bit mask");

static int known_index(const char *file, size_t len)
{
    for (size_t i = 0; i < ARRAY_LEN(known_files); i++)
        if (strncmp(known_files[i], file, len) == 0 && known_files[i][len] == '\0')
            return (int)i;
    return -1;
}

static bool list_entry(const char *name, unsigned char d_type, void *ctx)
{
    (void)d_type;
    struct svcdir *d = ctx;
    int i = known_index(name, strlen(name));
    if (i >= 0)
        d->present |= 1u << i;
    return true;
}

/* False only when the listing shows that file (or its first path
 * component) is absent; true means "look". */
static bool may_exist(const struct svcdir *d, const char *file)
{
    if (!d->listed)
        return true;
    const char *slash = strchr(file, '/');
    int i = known_index(file, slash ? (size_t)(slash - file) : strlen(file));
    return i < 0 || (d->present & (1u << i));
}

/* Reads an optional small file. Returns 1 when read (buf filled, trailing
 * whitespace stripped), 0 when absent, -1 on error (reason set). */
static int read_opt(const struct svcdir *d, const char *file, char *buf, size_t size,
                    char *reason, size_t reason_size)
{
    if (!may_exist(d, file))
        return 0;
    return svcdir_file_read(d->fd, file, buf, size, reason, reason_size);
}

/* An unsigned number file: absent keeps *out; garbage is an error. */
static bool read_u32(const struct svcdir *d, const char *file, uint32_t max,
                     uint32_t *out, char *reason, size_t reason_size)
{
    char buf[SVCDIR_FILE_BYTES_MAX];
    int r = read_opt(d, file, buf, sizeof buf, reason, reason_size);
    if (r <= 0)
        return r == 0;
    uint64_t v;
    if (!parse_u64(buf, max, &v))
        return reason_fail(reason, reason_size,
                    "%s: not a number from 0 to %u: '%.40s'", file, max, buf);
    *out = (uint32_t)v;
    return true;
}

static bool file_exists(const struct svcdir *d, const char *file)
{
    struct stat st;
    return may_exist(d, file) && fstatat(d->fd, file, &st, 0) == 0;
}

static bool check_run(const struct svcdir *d, const char *file, struct svc_file_sig *sig,
                      char *reason, size_t reason_size)
{
    struct stat st;
    if (!may_exist(d, file))
        return reason_fail(reason, reason_size, "%s: missing", file);
    if (fstatat(d->fd, file, &st, 0) < 0)
        return reason_fail(reason, reason_size, "%s: %s", file,
                    errno == ENOENT ? "missing" : strerror(errno));
    if (!S_ISREG(st.st_mode))
        return reason_fail(reason, reason_size, "%s: not a regular file", file);
    if (faccessat(d->fd, file, X_OK, AT_EACCESS) < 0 ||
        (st.st_mode & 0111) == 0)
        return reason_fail(reason, reason_size, "%s: not executable", file);
    if (sig) {
        sig->ino = st.st_ino;
        sig->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        sig->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
        sig->size = st.st_size;
    }
    return true;
}

static bool read_word(const struct svcdir *d, const char *file, const char *const *words,
                      size_t n_words, uint8_t *out, char *reason,
                      size_t reason_size)
{
    char buf[SVCDIR_FILE_BYTES_MAX];
    int r = read_opt(d, file, buf, sizeof buf, reason, reason_size);
    if (r <= 0)
        return r == 0;
    const char *w = buf;
    while (*w == ' ' || *w == '\t')
        w++;
    for (size_t i = 0; i < n_words; i++)
        if (strcmp(w, words[i]) == 0) {
            *out = (uint8_t)i;
            return true;
        }
    return reason_fail(reason, reason_size, "%s: unknown value '%.40s'", file, w);
}

static bool read_restart_limit(const struct svcdir *d, struct svc_def *def, char *reason,
                               size_t reason_size)
{
    char buf[SVCDIR_FILE_BYTES_MAX];
    int r = read_opt(d, "restart-limit", buf, sizeof buf, reason,
                     reason_size);
    if (r <= 0)
        return r == 0;
    char *start = buf;
    while (*start == ' ' || *start == '\t')
        start++;
    if (strncmp(start, "none", 4) == 0 && strspn(start + 4, " \t\n") == strlen(start + 4)) {
        def->restart_limit_count = RESTART_LIMIT_NONE;
        return true;
    }
    char *space = strpbrk(start, " \t");
    uint64_t count, window;
    if (space)
        *space++ = '\0';
    if (!space || !parse_u64(start, RESTART_LIMIT_COUNT_MAX, &count) ||
        count == 0 || !parse_u64(space, RESTART_LIMIT_WINDOW_S_MAX, &window) ||
        window == 0)
        return reason_fail(reason, reason_size,
                    "restart-limit: expected 'COUNT SECONDS' with COUNT 1-%d "
                    "and SECONDS 1-%d, or 'none' (restart forever)",
                    RESTART_LIMIT_COUNT_MAX, RESTART_LIMIT_WINDOW_S_MAX);
    def->restart_limit_count = (uint16_t)count;
    def->restart_limit_window_s = (uint32_t)window;
    return true;
}

static bool read_signal(const struct svcdir *d, struct svc_def *def, char *reason,
                        size_t reason_size)
{
    char buf[SVCDIR_FILE_BYTES_MAX];
    int r = read_opt(d, "down-signal", buf, sizeof buf, reason,
                     reason_size);
    if (r <= 0)
        return r == 0;
    int sig = signal_from_name(buf);
    if (sig == 0)
        return reason_fail(reason, reason_size, "down-signal: unknown signal '%.40s'",
                    buf);
    def->down_signal = (int16_t)sig;
    return true;
}

/* The files s6 defines, shared by services and their loggers. */
static bool load_s6_files(const struct svcdir *d, struct svc_def *def, char *reason,
                          size_t reason_size)
{
    if (!check_run(d, "run", &def->run_sig, reason, reason_size))
        return false;
    def->down_file = file_exists(d, "down");
    if (file_exists(d, "finish")) {
        if (!check_run(d, "finish", NULL, reason, reason_size))
            return false;
        def->has_finish = true;
    }
    uint32_t v = 0;
    bool have_fd = file_exists(d, "notification-fd");
    if (!read_u32(d, "notification-fd", NOTIFICATION_FD_MAX, &v, reason,
                  reason_size))
        return false;
    if (have_fd) {
        if (v < 3)
            return reason_fail(reason, reason_size,
                        "notification-fd: %u is stdin/stdout/stderr; use 3 or more",
                        v);
        def->notification_fd = (int16_t)v;
        def->readiness = SVC_READY_FD;
    }
    v = def->max_death_tally;
    if (!read_u32(d, "max-death-tally", MAX_DEATH_TALLY_MAX, &v, reason,
                  reason_size))
        return false;
    def->max_death_tally = (uint16_t)v;
    return read_u32(d, "timeout-kill", TIMEOUT_MS_MAX,
                    &def->timeout_kill_ms, reason, reason_size) &&
           read_u32(d, "timeout-finish", TIMEOUT_MS_MAX,
                    &def->timeout_finish_ms, reason, reason_size) &&
           read_signal(d, def, reason, reason_size);
}

/* `user` and `limits` are applied at each spawn (creds.h); checked here so
 * that a bad one is a config error with its reason before anything runs. */
static bool check_creds(const struct svcdir *d, char *reason, size_t reason_size)
{
    struct creds_user user;
    struct creds_limits limits;
    return (!may_exist(d, "user") || creds_load_user(d->fd, "user", &user, reason, reason_size) >= 0) &&
           (!may_exist(d, "limits") ||
            creds_load_limits(d->fd, "limits", &limits, reason, reason_size) >= 0);
}

/* Whether the listing may hold a containment file (contain.h). */
static bool may_have_contain(const struct svcdir *d)
{
    for (int i = 0; i < CONTAIN_FILES; i++)
        if (may_exist(d, contain_file_names[i]))
            return true;
    return false;
}

/* The containment files are applied at each spawn; checked here so that a
 * bad one is a config error with its reason before anything runs. */
static bool check_contain(const struct svcdir *d, struct svc_def *def, char *reason,
                          size_t reason_size)
{
    struct contain c;
    def->may_have_contain = may_have_contain(d);
    return !def->may_have_contain || contain_load(d->fd, &c, reason, reason_size) == 0;
}

static bool load_bay0_files(const struct svcdir *d, struct svc_def *def, char *reason,
                            size_t reason_size)
{
    static const char *const types[] = {"longrun", "oneshot"};
    static const char *const restarts[] = {"always", "on-failure", "never"};
    if (!read_word(d, "type", types, ARRAY_LEN(types), &def->type,
                   reason, reason_size) ||
        !read_word(d, "restart", restarts, ARRAY_LEN(restarts),
                   &def->restart, reason, reason_size) ||
        !read_restart_limit(d, def, reason, reason_size))
        return false;
    if (file_exists(d, "notify")) {
        if (def->readiness == SVC_READY_FD)
            return reason_fail(reason, reason_size,
                        "notify: conflicts with notification-fd; use one");
        def->readiness = SVC_READY_NOTIFY;
    }
    if (file_exists(d, "undo")) {
        if (!check_run(d, "undo", NULL, reason, reason_size))
            return false;
        def->has_undo = true;
    }
    if (def->type == SVC_TYPE_ONESHOT && def->readiness != SVC_READY_NONE)
        return reason_fail(reason, reason_size,
                    "type: a oneshot is ready when run exits 0; remove "
                    "notification-fd/notify");
    if (!check_creds(d, reason, reason_size) || !check_contain(d, def, reason, reason_size))
        return false;
    def->has_log_run = file_exists(d, "log/run");
    def->may_have_deps = may_exist(d, "dependencies") || may_exist(d, "dependencies.d");
    def->may_have_creds = may_exist(d, "user") || may_exist(d, "limits");
    return true;
}

static bool load_log_files(const struct svcdir *d, struct svc_def *def, char *reason,
                           size_t reason_size)
{
    static const char *const stamps[] = {"iso", "tai64n", "none"};
    uint32_t keep = def->log_keep;
    if (!read_u32(d, "log-max-bytes", LOG_MAX_BYTES_MAX, &def->log_max_bytes, reason,
                  reason_size) ||
        !read_u32(d, "log-keep", LOG_KEEP_MAX, &keep, reason, reason_size) ||
        !read_word(d, "log-timestamp", stamps, ARRAY_LEN(stamps), &def->log_stamp, reason,
                   reason_size))
        return false;
    def->log_keep = (uint16_t)keep;
    if (def->log_max_bytes < LOG_MAX_BYTES_MIN)
        return reason_fail(reason, reason_size, "log-max-bytes: at least %d", LOG_MAX_BYTES_MIN);
    return true;
}

static bool open_dir(int scan_fd, const char *path, struct svcdir *d, char *reason,
                     size_t reason_size)
{
    *d = (struct svcdir){.fd = openat(scan_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (d->fd < 0)
        return reason_fail(reason, reason_size, "%s: cannot open directory: %s", path,
                    strerror(errno));
    d->listed = dir_each(d->fd, list_entry, d) == 0; /* else: look file by file */
    return true;
}

int svcdir_load(int scan_fd, const char *name, struct svc_def *def,
                char *reason, size_t reason_size)
{
    svcdir_defaults(def);
    reason[0] = '\0';
    const char *bad = name_check(name, SERVICE_NAME_BYTES_MAX);
    if (bad) {
        reason_fail(reason, reason_size, "invalid service name: %s", bad);
        return -1;
    }
    struct svcdir dir;
    if (!open_dir(scan_fd, name, &dir, reason, reason_size))
        return -1;
    const struct svcdir *d = &dir;
    bool ok = load_s6_files(d, def, reason, reason_size) &&
              load_bay0_files(d, def, reason, reason_size) &&
              load_log_files(d, def, reason, reason_size);
    close(dir.fd);
    return ok ? 0 : -1;
}

int svcdir_load_logger(int scan_fd, const char *name, struct svc_def *def,
                       char *reason, size_t reason_size)
{
    svcdir_defaults(def);
    reason[0] = '\0';
    char path[SERVICE_NAME_BYTES_MAX + 8];
    if (!str_fmt(path, sizeof path, "%s/log", name)) {
        reason_fail(reason, reason_size, "log: path too long");
        return -1;
    }
    struct svcdir dir;
    if (!open_dir(scan_fd, path, &dir, reason, reason_size))
        return -1;
    const struct svcdir *d = &dir;
    bool ok = load_s6_files(d, def, reason, reason_size) &&
              read_restart_limit(d, def, reason, reason_size) && check_creds(d, reason, reason_size) &&
              check_contain(d, def, reason, reason_size);
    def->may_have_creds = may_exist(d, "user") || may_exist(d, "limits");
    close(dir.fd);
    def->down_file = false; /* a logger runs whenever its service exists */
    return ok ? 0 : -1;
}
