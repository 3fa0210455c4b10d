/* validate_checks.c — validate's checks of persist, the genesis log, the
 * database, the clock, services and the network (the freezer is in
 * freezer.c, the umbilical in umbilical.c).
 *
 * Each runs in a check child of `bay0 validate` (validate.c) that is killed
 * at its deadline, so each may block; the disk work goes through
 * src/state/ (the only module that touches the persist disk), the
 * supervisor is asked over its control socket. Never changes anything that
 * stays, except one genesis line (the log check's whole point).
 */
#include "validate.h"

#include "persona_mgr.h"
#include "state/state.h"
#include "tenant.h"
#include "umbilical.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_REPLY_BYTES_MAX (4u * 1024 * 1024)
#define STATUS_FIELDS 13
#define STATUS_FIELD_STATE 1
#define STATUS_FIELD_REASON 12
#define PERSONA_FIELDS 9 /* name image desired state container pid since deaths error */
#define PERSONA_FIELD_STATE 3
#define PERSONA_FIELD_ERROR 8
_Static_assert(PERSONA_FIELDS <= STATUS_FIELDS, "one field array for both");

static enum validate_level say(enum validate_level l, char *reason, size_t size,
                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum validate_level say(enum validate_level l, char *reason, size_t size,
                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, size, fmt, ap);
    va_end(ap);
    return l;
}

/* ---- the supervisor ------------------------------------------------------ */

/* One request on RUNDIR/SOCKET; the whole reply in buf. -errno or length.
 * The check's deadline bounds the wait (the runner kills a hung check). */
static ssize_t rundir_ask(const char *rundir, const char *socket_name, const char *req,
                          char *buf, size_t cap)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (!str_fmt(addr.sun_path, sizeof addr.sun_path, "%s/%s", rundir, socket_name))
        return -ENAMETOOLONG;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        fd_write_all(fd, req, strlen(req)) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (len += (size_t)n) + 1 >= cap)
            break;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

static char reply_buf[CONTROL_REPLY_BYTES_MAX];

/* The rows of one kind in a reply ("S\t" services from the control
 * socket, "P\t" personas from the persona manager's): appends
 * "NAME failed (REASON)" to out (at *used) for each row whose state field
 * is "failed"; returns the count. */
struct row_kind {
    const char *prefix;
    int fields, state, reason;
};
static const struct row_kind service_rows = {"S\t", STATUS_FIELDS, STATUS_FIELD_STATE,
                                             STATUS_FIELD_REASON};
static const struct row_kind persona_rows = {"P\t", PERSONA_FIELDS, PERSONA_FIELD_STATE,
                                             PERSONA_FIELD_ERROR};

static unsigned failed_rows(char *reply, const struct row_kind *k, char *out, size_t size,
                            size_t *used)
{
    unsigned failed = 0;
    for (char *line = strtok(reply, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, k->prefix, 2) != 0)
            continue;
        char *f[STATUS_FIELDS];
        char *p = line + 2;
        int nf = 0;
        for (; nf < k->fields && p != NULL; nf++) {
            f[nf] = p;
            p = strchr(p, '\t');
            if (p != NULL)
                *p++ = '\0';
        }
        if (nf < k->fields || strcmp(f[k->state], "failed") != 0)
            continue;
        const char *why = strcmp(f[k->reason], "-") == 0 ? "" : f[k->reason];
        int n = snprintf(out + *used, size - *used, "%s%s failed%s%s%s", *used ? "; " : "",
                         f[0], why[0] ? " (" : "", why, why[0] ? ")" : "");
        if (n > 0 && (size_t)n < size - *used)
            *used += (size_t)n;
        failed++;
    }
    return failed;
}

enum validate_level validate_check_services(const struct validate_env *env,
                                            char *reason, size_t size)
{
    ssize_t n = rundir_ask(env->rundir, "control", "status\n", reply_buf, sizeof reply_buf);
    if (n == -ENOENT || n == -ECONNREFUSED)
        return say(VALIDATE_YELLOW, reason, size, "no supervisor answers at %s/control "
                   "(is bay0 running? --rundir or BAY0_RUNDIR)", env->rundir);
    if (n < 0)
        return say(VALIDATE_RED, reason, size, "cannot ask the supervisor at %s/control: %s",
                   env->rundir, strerror((int)-n));
    if (strstr(reply_buf, "\nOK") == NULL && strncmp(reply_buf, "OK", 2) != 0)
        return say(VALIDATE_RED, reason, size, "the supervisor did not answer status");
    char list[VALIDATE_REASON_BYTES_MAX] = "";
    size_t used = 0;
    unsigned failed = failed_rows(reply_buf, &service_rows, list, sizeof list, &used);
    /* personas, when a persona manager runs (no socket: no personas) */
    n = rundir_ask(env->rundir, PERSONA_SOCKET_NAME, "list\n", reply_buf, sizeof reply_buf);
    bool personas = n > 0;
    if (personas)
        failed += failed_rows(reply_buf, &persona_rows, list, sizeof list, &used);
    if (failed > 0)
        return say(VALIDATE_RED, reason, size, "%s", list);
    return say(VALIDATE_GREEN, reason, size, "no service%s failed",
               personas ? " or persona" : "");
}

/* "persist=on|off|dirty" from the supervisor's ping; "" when unknown. */
static void boot_persist(const char *rundir, char *out, size_t size)
{
    char reply[512];
    out[0] = '\0';
    if (rundir_ask(rundir, "control", "ping\n", reply, sizeof reply) <= 0)
        return;
    const char *p = strstr(reply, " persist=");
    if (p != NULL)
        snprintf(out, size, "%.*s", (int)strcspn(p + 9, " \n"), p + 9);
}

/* ---- persist, the log, the database, the clock -------------------------- */

enum validate_level validate_check_persist(const struct validate_env *env,
                                           char *reason, size_t size)
{
    char boot[16];
    boot_persist(env->rundir, boot, sizeof boot);
    if (strcmp(boot, "dirty") == 0)
        return say(VALIDATE_RED, reason, size, "dirty boot: %s was not mounted at "
                   "boot, nothing is kept", state_persist_mountpoint());
    char why[VALIDATE_REASON_BYTES_MAX];
    if (state_probe_marker(why, sizeof why) != STATE_OK)
        return say(VALIDATE_RED, reason, size, "%s", why);
    return say(VALIDATE_GREEN, reason, size, "wrote, read back and removed %s/validate.marker",
               state_data_dir());
}

enum validate_level validate_check_log(const struct validate_env *env, char *reason,
                                       size_t size)
{
    char msg[64], path[STATE_PATH_BYTES_MAX];
    snprintf(msg, sizeof msg, "validate pid=%d", (int)env->main_pid);
    if (!state_path(path, sizeof path, "genesis.log"))
        return say(VALIDATE_RED, reason, size, "data dir path too long");
    if (state_append_genesis_log(msg) != STATE_OK)
        return say(VALIDATE_RED, reason, size, "cannot append: %s", validate_last_problem());
    struct state_genesis_report rep;
    if (state_genesis_verify(path, &rep) != STATE_OK)
        return say(VALIDATE_RED, reason, size, "cannot read %s back", path);
    if (rep.first_broken_line != 0)
        return say(VALIDATE_RED, reason, size, "%s: BROKEN at line %" PRIu64 " of %" PRIu64
                   ": %s", path, rep.first_broken_line, rep.lines, rep.reason);
    return say(VALIDATE_GREEN, reason, size, "appended line %" PRIu64 " to %s; chain intact",
               rep.lines, path);
}

enum validate_level validate_check_database(const struct validate_env *env,
                                            char *reason, size_t size)
{
    (void)env;
    struct state_probe_db db;
    char why[VALIDATE_REASON_BYTES_MAX];
    if (state_probe_db(&db, why, sizeof why) != STATE_OK)
        return say(VALIDATE_RED, reason, size, "%s", why);
    if (db.moved_aside_count > 0)
        return say(VALIDATE_YELLOW, reason, size, "recovered: a corrupt database was moved "
                   "aside to %s/%s (%u in all); examine, then remove it",
                   state_data_dir(), db.moved_aside, db.moved_aside_count);
    if (!db.db_exists)
        return say(VALIDATE_YELLOW, reason, size, "no database in %s yet (first boot?)",
                   state_data_dir());
    return say(VALIDATE_GREEN, reason, size, "readable, never recovered");
}

enum validate_level validate_check_clock(const struct validate_env *env, char *reason,
                                         size_t size)
{
    (void)env;
    struct state_probe_db db;
    char why[VALIDATE_REASON_BYTES_MAX];
    if (state_probe_db(&db, why, sizeof why) != STATE_OK)
        return say(VALIDATE_RED, reason, size, "%s", why);
    int64_t now_ms = time_wall_ms();
    if (!db.last_good_found)
        return say(VALIDATE_GREEN, reason, size, "no last-known-good time stored yet");
    if (now_ms < db.last_good_ms)
        return say(VALIDATE_YELLOW, reason, size, "behind the last-known-good time by "
                   "%" PRId64 " s (dead RTC battery? no time source?)",
                   (db.last_good_ms - now_ms + 999) / 1000);
    return say(VALIDATE_GREEN, reason, size, "%" PRId64 " s past the last-known-good time",
               (now_ms - db.last_good_ms) / 1000);
}

/* ---- the network ----------------------------------------------------------- */

enum validate_level validate_check_network(const struct validate_env *env,
                                           char *reason, size_t size)
{
    (void)env;
    struct ifaddrs *all;
    if (getifaddrs(&all) != 0)
        return say(VALIDATE_RED, reason, size, "cannot list interfaces: %s", strerror(errno));
    char list[VALIDATE_REASON_BYTES_MAX] = "";
    size_t used = 0;
    unsigned up = 0;
    for (struct ifaddrs *i = all; i != NULL; i = i->ifa_next) {
        /* one AF_PACKET entry per interface, addresses or not */
        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_PACKET ||
            !(i->ifa_flags & IFF_UP) || strcmp(i->ifa_name, "lo") == 0)
            continue;
        int n = snprintf(list + used, sizeof list - used, "%s%s", up ? ", " : "",
                         i->ifa_name);
        if (n > 0 && (size_t)n < sizeof list - used)
            used += (size_t)n;
        up++;
    }
    freeifaddrs(all);
    if (up > 0)
        return say(VALIDATE_RED, reason, size, "interface%s up: %s (the Spine has no "
                   "network)", up > 1 ? "s" : "", list);
    return say(VALIDATE_GREEN, reason, size, "no interface up but lo");
}

/* ---- the compositor ------------------------------------------------------ */

/* The pid of service `name` in a status reply, 0 when it has none, -1 when
 * there is no such service. */
static long service_pid(char *reply, const char *name, char *state, size_t size)
{
    for (char *line = strtok(reply, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "S\t", 2) != 0)
            continue;
        char *f[3], *p = line + 2;
        int nf = 0;
        for (; nf < 3 && p != NULL; nf++) {
            f[nf] = p;
            p = strchr(p, '\t');
            if (p != NULL)
                *p++ = '\0';
        }
        if (nf == 3 && strcmp(f[0], name) == 0) {
            str_copy(state, size, f[STATUS_FIELD_STATE]);
            return strtol(f[2], NULL, 10);
        }
    }
    return -1;
}

/* The socket name the running compositor published (its --socket); the
 * default when there is none or it is not a plain name. */
static void compositor_socket_name(const char *rundir, char *name, size_t size)
{
    char path[512], got[108];
    if (!str_fmt(path, sizeof path, "%s/" COMPOSITOR_SOCKET_FILE, rundir))
        return;
    ssize_t n = file_read_small(AT_FDCWD, path, got, sizeof got);
    if (n < 2 || got[n - 1] != '\n')
        return;
    got[n - 1] = '\0';
    if (strchr(got, '/') == NULL && strcmp(got, ".") != 0 && strcmp(got, "..") != 0 &&
        strlen(got) == (size_t)n - 1)
        str_copy(name, size, got);
}

/* Not in use (no `compositor` service): green. In use: its Wayland socket
 * must answer from the process the service's run started, or a
 * descendant (SO_PEERCRED), never from anyone else. */
enum validate_level validate_check_compositor(const struct validate_env *env,
                                              char *reason, size_t size)
{
    if (rundir_ask(env->rundir, "control", "status " COMPOSITOR_SERVICE "\n", reply_buf,
                   sizeof reply_buf) <= 0)
        return say(VALIDATE_GREEN, reason, size, "no supervisor: no compositor to check");
    char state[32] = "";
    long pid = service_pid(reply_buf, COMPOSITOR_SERVICE, state, sizeof state);
    if (pid < 0)
        return say(VALIDATE_GREEN, reason, size, "not in use (no %s service)",
                   COMPOSITOR_SERVICE);
    if (strcmp(state, "ready") != 0 || pid <= 0)
        return say(VALIDATE_RED, reason, size, "%s is %s, not ready", COMPOSITOR_NAME, state);
    char path[512], why[300], name[108] = COMPOSITOR_SOCKET_DEFAULT;
    compositor_socket_name(env->rundir, name, sizeof name);
    str_fmt(path, sizeof path, "%s/" COMPOSITOR_DIR "/%s", env->rundir, name);
    int fd = umbilical_connect(path, why, sizeof why);
    if (fd < 0)
        return say(VALIDATE_RED, reason, size, "%s", why);
    struct ucred cred = {0};
    socklen_t len = sizeof cred;
    int rc = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
    close(fd);
    if (rc != 0)
        return say(VALIDATE_RED, reason, size, "SO_PEERCRED on %s: %s", path, strerror(errno));
    if (!umbilical_peer_descends("/proc", cred.pid, (pid_t)pid)) {
        char comm[64];
        umbilical_comm(cred.pid, comm, sizeof comm);
        return say(VALIDATE_RED, reason, size, "%s is served by pid %d (%s), not by the "
                   "compositor bay0 started (under pid %ld)", path, (int)cred.pid, comm, pid);
    }
    return say(VALIDATE_GREEN, reason, size, "%s answers from pid %d, started by bay0", path,
               (int)cred.pid);
}

/* validate's umbilical check: YELLOW until the AI tenant is configured;
 * then its socket must answer ping with pong from inside sys__ai. */
enum validate_level validate_check_umbilical(const struct validate_env *env, char *reason,
                                             size_t size)
{
    char conf[512], sock[512], reply[64];
    if (!tenant_ai_configured(conf, sizeof conf)) {
        snprintf(reason, size, "%s is not configured (no %s)", TENANT_AI_NAME, conf);
        return VALIDATE_YELLOW;
    }
    if (!tenant_ai_socket_path(env->rundir, sock, sizeof sock)) {
        snprintf(reason, size, "run dir path too long: %s", env->rundir);
        return VALIDATE_RED;
    }
    pid_t peer = 0;
    enum umbilical_result r = umbilical_ask(sock, TENANT_AI_CONTAINER, "ping", 2000, reply,
                                            sizeof reply, &peer, reason, size);
    if (r != UMBILICAL_OK)
        return VALIDATE_RED;
    if (strcmp(reply, "pong") != 0) {
        snprintf(reason, size, "%s answered ping with '%.60s', not pong", sock, reply);
        return VALIDATE_RED;
    }
    snprintf(reason, size, "%s: ping -> pong from pid %d in %s", sock, (int)peer,
             TENANT_AI_CONTAINER);
    return VALIDATE_GREEN;
}
