/* reconcile.c — desired vs actual convergence of personas (see
 * reconcile.h).
 *
 * Owns: the repair rules (reconcile_plan, pure) and their execution
 * (reconcile_run, in a child: one `podman ps -a --format json`, one podman
 * call per repair that needs one, the database writes). Never runs in PID 1
 * or in the persona manager's loop.
 */
#include "reconcile.h"

#include "exec.h"
#include "log.h"
#include "persona_job.h"
#include "util.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const rule_names[RR_COUNT] = {
    "running-missing", "running-exited", "starting", "stopping",
    "stopped-but-up",  "ghost",          "uncertain",
};

const char *reconcile_rule_name(enum reconcile_rule r)
{
    return (unsigned)r < RR_COUNT ? rule_names[r] : "?";
}

const char *reconcile_action_text(enum reconcile_action a)
{
    switch (a) {
    case RA_DB_STOPPED: return "db stopped";
    case RA_RM_DB_STOPPED: return "podman rm -f, db stopped";
    case RA_STOP_DB_STOPPED: return "podman stop, db stopped";
    case RA_RM_GHOST: return "podman rm -f";
    }
    return "?";
}

static const struct podman_container *
find_container(const struct podman_container *cs, size_t ncs,
               const char *container)
{
    for (size_t i = 0; i < ncs; i++)
        if (strcmp(cs[i].name, container) == 0)
            return &cs[i];
    return NULL;
}

static bool row_known(const struct state_persona *rows, size_t nrows,
                      const char *semantic)
{
    for (size_t i = 0; i < nrows; i++)
        if (strcmp(rows[i].name, semantic) == 0)
            return true;
    return false;
}

/* The repair one row needs, if any. */
static bool plan_row(const struct state_persona *row,
                     const struct podman_container *c, bool podman_ok,
                     enum reconcile_rule *rule, enum reconcile_action *act)
{
    enum state_persona_state cur = row->current;
    if (!podman_ok) {
        *rule = RR_UNCERTAIN;
        *act = RA_DB_STOPPED;
        return cur != STATE_PERSONA_STOPPED;
    }
    bool up = c != NULL && podman_state_is_up(c->state);
    switch (cur) {
    case STATE_PERSONA_STARTING:
        *rule = RR_STARTING;
        *act = c != NULL ? RA_RM_DB_STOPPED : RA_DB_STOPPED;
        return true;
    case STATE_PERSONA_STOPPING:
        *rule = RR_STOPPING;
        *act = up ? RA_STOP_DB_STOPPED : RA_DB_STOPPED;
        return true;
    case STATE_PERSONA_RUNNING:
    case STATE_PERSONA_PAUSED:
        *rule = c == NULL ? RR_RUNNING_MISSING : RR_RUNNING_EXITED;
        *act = RA_DB_STOPPED;
        return !up;
    case STATE_PERSONA_STOPPED:
        *rule = RR_STOPPED_BUT_UP;
        *act = RA_STOP_DB_STOPPED;
        return up;
    }
    *rule = RR_UNCERTAIN; /* an unknown state reads as stopped already */
    *act = RA_DB_STOPPED;
    return false;
}

static int cmp_repair(const void *a, const void *b)
{
    const struct reconcile_repair *x = a, *y = b;
    return strcmp(x->name, y->name);
}

size_t reconcile_plan(const struct state_persona *rows, size_t nrows,
                      const struct podman_container *cs, size_t ncs,
                      bool podman_ok, struct reconcile_repair *out,
                      size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < nrows && n < cap; i++) {
        struct persona_name id;
        char reason[PERSONA_REASON_BYTES_MAX];
        if (!persona_name_parse_str(rows[i].name, &id, reason, sizeof reason))
            continue;
        struct reconcile_repair *r = &out[n];
        persona_container_format(&id, r->container);
        const struct podman_container *c =
            podman_ok ? find_container(cs, ncs, r->container) : NULL;
        if (!plan_row(&rows[i], c, podman_ok, &r->rule, &r->action))
            continue;
        str_copy(r->name, sizeof r->name, rows[i].name);
        n++;
    }
    for (size_t i = 0; podman_ok && i < ncs && n < cap; i++) {
        if (!cs[i].ours)
            continue; /* foreign: never touched */
        /* a system tenant run by its own service (tenant.c: sys__ai) has no
         * row and is that service's; only what the persona manager made
         * (its label) is a ghost when its row is gone */
        if (cs[i].persona.kind == PERSONA_SYSTEM && !cs[i].made_by_manager)
            continue;
        struct reconcile_repair *r = &out[n];
        persona_name_format(&cs[i].persona, r->name);
        if (row_known(rows, nrows, r->name))
            continue;
        r->rule = RR_GHOST;
        r->action = RA_RM_GHOST;
        str_copy(r->container, sizeof r->container, cs[i].name);
        n++;
    }
    qsort(out, n, sizeof *out, cmp_repair);
    return n;
}

/* ---- execution (in a child) ------------------------------------------------ */

static char ps_out[PODMAN_PS_BYTES_MAX];
static char ps_err[4096];
static struct podman_container containers[PODMAN_CONTAINERS_MAX];
static struct state_persona rows[RECONCILE_PERSONAS_MAX];
static struct reconcile_repair repairs[RECONCILE_PERSONAS_MAX + PODMAN_CONTAINERS_MAX];
static bool ghost_removed[ARRAY_LEN(repairs)];

static void say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int fd, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    for (size_t i = 0; i + 1 < len; i++)
        if (line[i] == '\n')
            line[i] = ' ';
    (void)!fd_write_all(fd, line, len);
}

/* One listing; false (why filled) when podman's answer is unknown. */
static bool list_containers(size_t *ncs, char *why, size_t why_size)
{
    static struct exec_argv a;
    struct exec_buf out = EXEC_BUF(ps_out), err = EXEC_BUF(ps_err);
    struct exec_result res;
    uint32_t deadline_ms = persona_podman_timeout_ms();
    podman_argv(&a, "ps", "-a", "--format", "json", NULL);
    *ncs = 0;
    if (!exec_run(&a, deadline_ms, "podman-ps", "reconcile", &out, &err,
                  &res)) {
        char r[96];
        return reason_fail(why, why_size, "podman ps: %s",
                           exec_result_text(&res, deadline_ms, r, sizeof r));
    }
    if (out.truncated)
        return reason_fail(why, why_size, "podman ps: answer longer than %d "
                           "bytes", PODMAN_PS_BYTES_MAX);
    return podman_ps_parse(ps_out, out.len, containers, PODMAN_CONTAINERS_MAX,
                           ncs, why, why_size);
}

static bool podman_do(const struct reconcile_repair *r, char *why,
                      size_t why_size)
{
    static struct exec_argv a;
    char err_buf[2048];
    struct exec_buf err = EXEC_BUF(err_buf);
    struct exec_result res;
    uint32_t deadline_ms = persona_podman_timeout_ms();
    if (r->action == RA_STOP_DB_STOPPED)
        podman_argv(&a, "stop", "-t", "10", r->container, NULL);
    else
        podman_argv(&a, "rm", "-f", "-t", "0", r->container, NULL);
    if (r->action == RA_STOP_DB_STOPPED)
        deadline_ms += 10000;
    if (exec_run(&a, deadline_ms, "podman-repair", r->name, NULL, &err, &res))
        return true;
    char t[96];
    size_t len = err.len;
    while (len > 0 && err_buf[len - 1] == '\n')
        err_buf[--len] = '\0';
    const char *nl = strrchr(err_buf, '\n');
    return reason_fail(why, why_size, "%s%s%.100s",
                       exec_result_text(&res, deadline_ms, t, sizeof t),
                       len ? ": " : "", nl ? nl + 1 : err_buf);
}

static bool action_calls_podman(enum reconcile_action a)
{
    return a != RA_DB_STOPPED;
}

/* True when the repair removed a ghost container (its cgroups go after). */
static bool repair(struct state_db *db, const struct reconcile_repair *r,
                   bool dry_run, int fd, unsigned *calls)
{
    char result[256] = "ok";
    bool removed = false;
    if (dry_run) {
        str_copy(result, sizeof result, "planned");
    } else {
        if (action_calls_podman(r->action)) {
            (*calls)++;
            bool done = podman_do(r, result, sizeof result);
            removed = done && r->action == RA_RM_GHOST;
            if (!done)
                log_warn("event=repair-podman-failed persona=%s error=\"%s\" "
                         "effect=\"the database says stopped anyway\"", r->name, result);
        }
        bool found;
        if (r->action != RA_RM_GHOST &&
            state_set_persona_state(db, r->name, STATE_PERSONA_STOPPED,
                                    &found) != STATE_OK)
            str_copy(result, sizeof result, "db write failed");
    }
    log_info("event=repair rule=%s persona=%s container=%s action=\"%s\" "
             "result=\"%s\"",
             reconcile_rule_name(r->rule), r->name, r->container,
             reconcile_action_text(r->action), result);
    say(fd, "R\t%s\t%s\t%s\t%s\n", reconcile_rule_name(r->rule), r->name,
        reconcile_action_text(r->action), result);
    return removed;
}

/* The removed ghosts' cgroup parents, after every repair (their conmons
 * have had the longest to leave), in one wait for all: a reconcile with
 * many ghosts answers within its deadline (persona_mgr.c). */
static void forget_ghost_cgroups(const bool *gone, size_t n)
{
    int64_t until = time_mono_ms() + RECONCILE_CGROUP_WAIT_MS;
    for (size_t i = 0; i < n; i++) {
        if (!gone[i])
            continue;
        int64_t left = until - time_mono_ms();
        persona_cgroup_forget(repairs[i].name, repairs[i].container,
                              left > 0 ? (uint32_t)left : 0);
    }
}

static int64_t pid_of(const char *piddir, const char *semantic)
{
    struct persona_name id;
    char reason[PERSONA_REASON_BYTES_MAX], con[PERSONA_CONTAINER_BYTES_MAX];
    if (!persona_name_parse_str(semantic, &id, reason, sizeof reason))
        return 0;
    persona_container_format(&id, con);
    char path[512], buf[32];
    uint64_t v;
    str_fmt(path, sizeof path, "%s/%s.pid", piddir, con);
    if (file_read_small(AT_FDCWD, path, buf, sizeof buf) > 0 &&
        parse_u64(buf, INT32_MAX, &v))
        return (int64_t)v;
    return 0;
}

static void report_rows(struct state_db *db, const char *piddir, int fd)
{
    size_t n = 0;
    if (state_list_personas(db, rows, RECONCILE_PERSONAS_MAX, &n, NULL) !=
        STATE_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        const struct state_persona *p = &rows[i];
        bool up = p->current == STATE_PERSONA_RUNNING ||
                  p->current == STATE_PERSONA_PAUSED;
        say(fd, "P\t%s\t%s\t%s\t%s\t%lld\t%s\n", p->name, p->image,
            state_persona_state_name(p->desired),
            state_persona_state_name(p->current),
            up ? (long long)pid_of(piddir, p->name) : 0LL, p->last_error);
    }
}

int reconcile_run(bool dry_run, const char *piddir, int out_fd)
{
    int64_t t0_ms = time_mono_ms();
    struct state_db db;
    if (!state_open_migrated(&db)) {
        say(out_fd, "ERR cannot open the state database in %s\n",
            state_data_dir());
        return 1;
    }
    size_t nrows = 0, ncs = 0;
    bool more = false;
    if (state_list_personas(&db, rows, RECONCILE_PERSONAS_MAX, &nrows,
                            &more) != STATE_OK) {
        state_close(&db);
        say(out_fd, "ERR cannot read the personas from the database\n");
        return 1;
    }
    if (more)
        log_warn("event=too-many-personas limit=%d "
                 "effect=\"the rest wait for the next reconcile\"", RECONCILE_PERSONAS_MAX);
    char why[256] = "";
    bool podman_ok = list_containers(&ncs, why, sizeof why);
    unsigned calls = 1;
    if (!podman_ok)
        log_warn("event=podman-unknown reason=\"%s\" "
                 "effect=\"every persona converges to stopped\"", why);
    size_t n = reconcile_plan(rows, nrows, containers, ncs, podman_ok,
                              repairs, ARRAY_LEN(repairs));
    for (size_t i = 0; i < n; i++)
        ghost_removed[i] = repair(&db, &repairs[i], dry_run, out_fd, &calls);
    forget_ghost_cgroups(ghost_removed, n);
    report_rows(&db, piddir, out_fd);
    state_close(&db);
    log_info("event=reconcile-done dry_run=%d personas=%zu containers=%zu "
             "repairs=%zu podman_calls=%u elapsed_ms=%lld",
             dry_run, nrows, ncs, n, calls, (long long)(time_mono_ms() - t0_ms));
    say(out_fd, "OK podman_calls=%u repairs=%zu%s%s\n", calls, n,
        podman_ok ? "" : " uncertain=", podman_ok ? "" : why);
    return 0;
}
