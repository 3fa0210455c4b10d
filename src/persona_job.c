/* persona_job.c — one persona job in a child of the persona manager (see
 * persona_job.h). Intent is written before podman is asked, the observed
 * state after; a podman call that times out is answered TIMEOUT, and the
 * manager converges (never believes an unknown outcome).
 *
 * Owns: the podman command lines of the lifecycle (create, start, stop,
 * rm -f -t 0), `sync` after create, the DB writes around them. Blocks (it
 * is a child); never runs in the manager's loop or in PID 1.
 */
#include "persona_job.h"
#include "tenant.h"

#include "cgroup.h"
#include "exec.h"
#include "focus.h"
#include "log.h"
#include "podman.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOB_ERR_BYTES 4096
#define CPU_WEIGHT_MAX 10000

static const char *const kind_names[JOB_KIND_COUNT] = {
    "create", "start", "stop", "reset", "rm", "note",
};

const char *persona_job_kind_name(enum persona_job_kind k)
{
    return (unsigned)k < JOB_KIND_COUNT ? kind_names[k] : "?";
}

uint32_t persona_podman_timeout_ms(void)
{
    uint64_t v;
    const char *env = getenv("BAY0_PODMAN_TIMEOUT_MS");
    if (env != NULL && parse_u64(env, 600000, &v) && v >= 100)
        return (uint32_t)v;
    return PERSONA_PODMAN_TIMEOUT_MS_DEFAULT;
}

/* ---- the spec ------------------------------------------------------------ */

const char *persona_spec_value_check(const char *value)
{
    for (const char *p = value; *p != '\0'; p++)
        if (*p == '\n' || *p == '\t')
            return "holds a newline or a tab";
    return NULL;
}

bool persona_spec_parse(char *text, struct persona_spec *out, char *reason,
                        size_t reason_size)
{
    memset(out, 0, sizeof *out);
    uint64_t v;
    for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (strncmp(line, "memory=", 7) == 0 &&
            parse_u64(line + 7, UINT64_MAX, &v) && v >= 4 * 1024 * 1024)
            out->memory_bytes = v;
        else if (strncmp(line, "cpu-weight=", 11) == 0 &&
                 parse_u64(line + 11, CPU_WEIGHT_MAX, &v) && v >= 1)
            out->cpu_weight = (uint32_t)v;
        else if (strncmp(line, "env=", 4) == 0 && strchr(line + 5, '=') &&
                 line[4] != '=' && out->env_count < PERSONA_ENV_MAX)
            out->env[out->env_count++] = line + 4;
        else if (strncmp(line, "cmd=", 4) == 0 &&
                 out->cmd_count < PERSONA_CMD_ARGS_MAX)
            out->cmd[out->cmd_count++] = line + 4;
        else if (strncmp(line, "ai=", 3) == 0 && line[3] == '/' &&
                 strpbrk(line + 3, ":,") == NULL)
            out->ai_dir = line + 3; /* a podman -v source: absolute, no ':' or ',' */
        else
            return reason_fail(reason, reason_size,
                               "bad persona option '%.60s' (memory=BYTES "
                               "from 4 MiB, cpu-weight=1..10000, env=K=V "
                               "(at most %d), cmd=ARG (at most %d), ai=/DIR)",
                               line, PERSONA_ENV_MAX, PERSONA_CMD_ARGS_MAX);
    }
    return true;
}

bool persona_spec_argv(const struct persona_spec *s, struct exec_argv *a)
{
    char num[32];
    if (s->memory_bytes != 0) {
        snprintf(num, sizeof num, "%" PRIu64, s->memory_bytes);
        exec_argv_add(a, "--memory");
        exec_argv_add(a, num);
    }
    if (s->cpu_weight != 0) { /* cgroup v2 weight 100 = v1 shares 1024 */
        snprintf(num, sizeof num, "%" PRIu64,
                 (uint64_t)s->cpu_weight * 1024 / 100 + 1);
        exec_argv_add(a, "--cpu-shares");
        exec_argv_add(a, num);
    }
    for (uint32_t i = 0; i < s->env_count; i++) {
        exec_argv_add(a, "--env");
        exec_argv_add(a, s->env[i]);
    }
    if (s->ai_dir != NULL) { /* the AI tenant's socket, at one fixed path */
        char vol[STATE_PERSONA_SPEC_BYTES_MAX];
        if (!str_fmt(vol, sizeof vol, "%s:" TENANT_AI_MOUNT, s->ai_dir))
            return false;
        exec_argv_add(a, "-v");
        exec_argv_add(a, vol);
    }
    return !a->overflow;
}

/* ---- answering ------------------------------------------------------------ */

static int answer(int fd, const char *word, const char *text)
{
    char line[STATE_PERSONA_ERROR_BYTES_MAX + 32];
    str_fmt(line, sizeof line, "%s%s%s\n", word, text[0] ? " " : "", text);
    for (char *p = line; p[1] != '\0'; p++)
        if (*p == '\n')
            *p = ' ';
    (void)!fd_write_all(fd, line, strlen(line));
    return strcmp(word, "OK") == 0 ? 0 : 1;
}

/* The reason of a failed podman call: what, the outcome, the stderr tail. */
static void why_failed(char *out, size_t size, const char *what,
                       const struct exec_result *r, uint32_t deadline_ms,
                       const char *err)
{
    char res[96];
    exec_result_text(r, deadline_ms, res, sizeof res);
    const char *tail = err;
    size_t len = strlen(err);
    while (len > 0 && (err[len - 1] == '\n' || err[len - 1] == ' '))
        len--;
    const char *nl = len > 0 ? memrchr(err, '\n', len) : NULL;
    if (nl != NULL)
        tail = nl + 1;
    int tail_len = (int)(len - (size_t)(tail - err));
    if (r->outcome == EXEC_NOT_RUN && r->exec_errno == ENOENT)
        str_fmt(out, size, "%s: podman not found (%s): install podman or set "
                "BAY0_PODMAN", what, exec_podman_cmdline());
    else
        str_fmt(out, size, "%s: %s%s%.*s", what, res, tail_len > 0 ? ": " : "",
                tail_len > 120 ? 120 : tail_len, tail);
}

/* ---- database -------------------------------------------------------------- */

static enum state_persona_state desired_of(const struct persona_job_req *r)
{
    return r->want_up ? STATE_PERSONA_RUNNING : STATE_PERSONA_STOPPED;
}

/* desired + current (+ error when not NULL) for this persona, in one
 * transaction: a crash keeps all or none. */
static bool db_mark(struct state_db *db, const struct persona_job_req *r,
                    enum state_persona_state current, const char *error)
{
    bool found = false;
    bool ok = state_tx_begin(db) == STATE_OK &&
              state_set_persona_desired(db, r->semantic, desired_of(r),
                                        &found) == STATE_OK &&
              found &&
              state_set_persona_state(db, r->semantic, current, &found) ==
                  STATE_OK;
    if (ok && error != NULL)
        ok = state_set_persona_error(db, r->semantic, error, &found) ==
             STATE_OK;
    ok = ok && state_tx_commit(db) == STATE_OK;
    if (!ok)
        state_tx_rollback(db);
    return ok;
}

/* ---- podman ------------------------------------------------------------------ */

struct call {
    struct exec_argv argv;
    struct exec_result res;
    char out[512];
    char err[JOB_ERR_BYTES];
};

static bool run(struct call *c, const char *what, const char *why,
                uint32_t deadline_ms)
{
    struct exec_buf out = EXEC_BUF(c->out), err = EXEC_BUF(c->err);
    return exec_run(&c->argv, deadline_ms, what, why, &out, &err, &c->res);
}

/* podman create from the image and spec; sync after. */
static bool podman_create(const struct persona_job_req *r, const char *image,
                          const char *spec_text, char *why, size_t why_size,
                          bool *timed_out)
{
    static char spec_buf[STATE_PERSONA_SPEC_BYTES_MAX];
    str_copy(spec_buf, sizeof spec_buf, spec_text);
    struct persona_spec spec;
    if (!persona_spec_parse(spec_buf, &spec, why, why_size))
        return false;
    static struct call c;
    char pidfile[512];
    str_fmt(pidfile, sizeof pidfile, "%s/%s.pid", r->piddir, r->container);
    char label[PERSONA_SEMANTIC_BYTES_MAX + 16], parent[256];
    str_fmt(label, sizeof label, "bay0.persona=%s", r->semantic);
    /* the parent cgroup focus freezes and weighs (focus.h) */
    focus_cgroup_parent(r->container, parent, sizeof parent);
    podman_argv(&c.argv, "create", "--pull=never", "--name", r->container,
                "--pidfile", pidfile, "--label", label, "--cgroup-parent",
                parent, NULL);
    persona_spec_argv(&spec, &c.argv);
    exec_argv_add(&c.argv, image);
    for (uint32_t i = 0; i < spec.cmd_count; i++)
        exec_argv_add(&c.argv, spec.cmd[i]);
    uint32_t deadline_ms = persona_podman_timeout_ms();
    if (!run(&c, "podman-create", r->semantic, deadline_ms)) {
        *timed_out = c.res.outcome == EXEC_TIMEOUT;
        why_failed(why, why_size, "podman create", &c.res, deadline_ms, c.err);
        return false;
    }
    sync(); /* a hard kill must not leave it half-created */
    return true;
}

void persona_cgroup_forget(const char *semantic, const char *container, uint32_t wait_ms)
{
    char parent[256];
    if (focus_cgroup_parent(container, parent, sizeof parent) &&
        !cgroup_remove_everywhere(parent, wait_ms))
        log_warn("persona=%s event=cgroup-parent-left cgroup=%s "
                 "hint=\"a process is still in it: rmdir it in each hierarchy once empty\"",
                 semantic, parent);
}

static bool podman_rm(const struct persona_job_req *r, char *why,
                      size_t why_size, bool *timed_out)
{
    static struct call c;
    podman_argv(&c.argv, "rm", "-f", "-t", "0", r->container, NULL);
    uint32_t deadline_ms = persona_podman_timeout_ms();
    if (run(&c, "podman-rm", r->semantic, deadline_ms))
        return true;
    *timed_out = c.res.outcome == EXEC_TIMEOUT;
    why_failed(why, why_size, "podman rm", &c.res, deadline_ms, c.err);
    return false;
}

static int64_t read_pid(const struct persona_job_req *r)
{
    char path[512], buf[32];
    str_fmt(path, sizeof path, "%s/%s.pid", r->piddir, r->container);
    uint64_t v;
    if (file_read_small(AT_FDCWD, path, buf, sizeof buf) > 0 &&
        parse_u64(buf, INT32_MAX, &v))
        return (int64_t)v;
    return 0;
}

/* ---- the jobs ------------------------------------------------------------------ */

static int job_create(const struct persona_job_req *r, struct state_db *db,
                      int fd)
{
    char why[STATE_PERSONA_ERROR_BYTES_MAX];
    bool found, timed_out = false;
    /* the row and its spec in one transaction: never a row without its
     * options after a crash */
    if (state_tx_begin(db) != STATE_OK ||
        state_put_persona(db, r->semantic, r->image, STATE_PERSONA_STOPPED) !=
            STATE_OK ||
        state_set_persona_spec(db, r->semantic, r->spec, &found) != STATE_OK ||
        state_tx_commit(db) != STATE_OK) {
        state_tx_rollback(db);
        return answer(fd, "ERR", "create: cannot write the database");
    }
    if (podman_create(r, r->image, r->spec, why, sizeof why, &timed_out))
        return answer(fd, "OK", "");
    /* nothing half-made survives: the row goes; a container podman may have
     * made before its deadline goes too, or is a ghost for the next
     * reconcile if podman still does not answer */
    (void)state_remove_persona(db, r->semantic, &found);
    if (timed_out) {
        char ignored[64];
        bool t2 = false;
        (void)podman_rm(r, ignored, sizeof ignored, &t2);
    }
    return answer(fd, "ERR", why);
}

/* podman start; a missing container is created again from the row. */
static int job_start(const struct persona_job_req *r, struct state_db *db,
                     int fd)
{
    char why[STATE_PERSONA_ERROR_BYTES_MAX];
    if (!db_mark(db, r, STATE_PERSONA_STARTING, NULL))
        return answer(fd, "ERR", "start: cannot write the database");
    /* conmon, born of podman start, outlives this job and the manager: it
     * must not be in the manager's service cgroup, which bay0 kills */
    if (!cgroup_escape(PERSONA_CGROUP_NAME))
        log_warn("persona=%s event=cgroup-escape-failed cgroup=%s "
                 "effect=\"conmon will die with the manager\"", r->semantic, PERSONA_CGROUP_NAME);
    static struct call c;
    uint32_t deadline_ms = persona_podman_timeout_ms();
    podman_argv(&c.argv, "start", r->container, NULL);
    bool ok = run(&c, "podman-start", r->semantic, deadline_ms);
    bool timed_out = c.res.outcome == EXEC_TIMEOUT;
    if (!ok && !timed_out && podman_err_no_such_container(c.err)) {
        struct state_persona row;
        bool found = false;
        if (state_get_persona(db, r->semantic, &row, &found) != STATE_OK ||
            !found)
            return answer(fd, "ERR", "start: the database lost its row");
        log_info("persona=%s event=recreate reason=\"container missing\"",
                 r->semantic);
        if (podman_create(r, row.image, row.spec, why, sizeof why,
                          &timed_out)) {
            ok = run(&c, "podman-start", r->semantic, deadline_ms);
            timed_out = c.res.outcome == EXEC_TIMEOUT;
        } else {
            (void)db_mark(db, r, STATE_PERSONA_STOPPED, why);
            return answer(fd, timed_out ? "TIMEOUT" : "ERR", why);
        }
    }
    if (!ok) {
        why_failed(why, sizeof why, "podman start", &c.res, deadline_ms,
                   c.err);
        if (!timed_out) /* a timed-out start is converged by a stop */
            (void)db_mark(db, r, STATE_PERSONA_STOPPED, why);
        return answer(fd, timed_out ? "TIMEOUT" : "ERR", why);
    }
    if (!db_mark(db, r, STATE_PERSONA_RUNNING, ""))
        return answer(fd, "ERR", "start: cannot write the database");
    char pid[32];
    str_fmt(pid, sizeof pid, "pid=%lld", (long long)read_pid(r));
    return answer(fd, "OK", pid);
}

static int job_stop(const struct persona_job_req *r, struct state_db *db,
                    int fd)
{
    char why[STATE_PERSONA_ERROR_BYTES_MAX];
    if (!db_mark(db, r, STATE_PERSONA_STOPPING, NULL))
        return answer(fd, "ERR", "stop: cannot write the database");
    static struct call c;
    char secs[16];
    str_fmt(secs, sizeof secs, "%d", PERSONA_STOP_TIMEOUT_S);
    podman_argv(&c.argv, "stop", "-t", secs, r->container, NULL);
    uint32_t deadline_ms = persona_podman_timeout_ms() +
                           PERSONA_STOP_TIMEOUT_S * 1000;
    bool ok = run(&c, "podman-stop", r->semantic, deadline_ms);
    if (!ok && c.res.outcome != EXEC_TIMEOUT &&
        podman_err_no_such_container(c.err))
        ok = true; /* nothing to stop is stopped */
    if (!ok) {
        why_failed(why, sizeof why, "podman stop", &c.res, deadline_ms, c.err);
        return answer(fd, c.res.outcome == EXEC_TIMEOUT ? "TIMEOUT" : "ERR",
                      why);
    }
    if (!db_mark(db, r, STATE_PERSONA_STOPPED, NULL))
        return answer(fd, "ERR", "stop: cannot write the database");
    return answer(fd, "OK", "");
}

static int job_reset(const struct persona_job_req *r, struct state_db *db,
                     int fd)
{
    char why[STATE_PERSONA_ERROR_BYTES_MAX];
    bool timed_out = false, found = false;
    struct state_persona row;
    if (state_get_persona(db, r->semantic, &row, &found) != STATE_OK || !found)
        return answer(fd, "ERR", "reset: the database has no row for it");
    if (!db_mark(db, r, STATE_PERSONA_STOPPING, NULL))
        return answer(fd, "ERR", "reset: cannot write the database");
    if (!podman_rm(r, why, sizeof why, &timed_out) ||
        !podman_create(r, row.image, row.spec, why, sizeof why, &timed_out))
        return answer(fd, timed_out ? "TIMEOUT" : "ERR", why);
    if (!db_mark(db, r, STATE_PERSONA_STOPPED, ""))
        return answer(fd, "ERR", "reset: cannot write the database");
    return answer(fd, "OK", "");
}

static int job_remove(const struct persona_job_req *r, struct state_db *db,
                      int fd)
{
    char why[STATE_PERSONA_ERROR_BYTES_MAX];
    bool timed_out = false, found = false;
    struct persona_job_req down = *r;
    down.want_up = false;
    if (!db_mark(db, &down, STATE_PERSONA_STOPPING, NULL))
        return answer(fd, "ERR", "rm: cannot write the database");
    if (!podman_rm(r, why, sizeof why, &timed_out))
        return answer(fd, timed_out ? "TIMEOUT" : "ERR", why);
    if (state_remove_persona(db, r->semantic, &found) != STATE_OK)
        return answer(fd, "ERR", "rm: cannot write the database");
    persona_cgroup_forget(r->semantic, r->container, PERSONA_CGROUP_EMPTY_MS);
    char pidfile[512];
    str_fmt(pidfile, sizeof pidfile, "%s/%s.pid", r->piddir, r->container);
    unlink(pidfile);
    return answer(fd, "OK", "");
}

int persona_job_run(const struct persona_job_req *r, int out_fd)
{
    struct state_db db;
    if (!state_open_migrated(&db))
        return answer(out_fd, "ERR", "cannot open the state database");
    int rc;
    switch (r->kind) {
    case JOB_CREATE: rc = job_create(r, &db, out_fd); break;
    case JOB_START: rc = job_start(r, &db, out_fd); break;
    case JOB_STOP: rc = job_stop(r, &db, out_fd); break;
    case JOB_RESET: rc = job_reset(r, &db, out_fd); break;
    case JOB_REMOVE: rc = job_remove(r, &db, out_fd); break;
    case JOB_NOTE:
        rc = db_mark(&db, r, r->current, r->error)
                 ? answer(out_fd, "OK", "")
                 : answer(out_fd, "ERR", "note: cannot write the database");
        break;
    default:
        rc = answer(out_fd, "ERR", "unknown job");
    }
    state_close(&db);
    return rc;
}
