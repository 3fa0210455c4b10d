/* focus.c — focus switching (model in focus.h): the cgroup side (find a
 * persona's container cgroup, freeze/thaw it, read its CPU time, apply the
 * governor's weights and caps), the supervisor side (the `focus` request,
 * the podman sync child, its retries) and `bay0 focus`.
 *
 * Owns: which persona is focused (in memory; the state DB's active persona
 * is written by the sync child), which personas focus and the governor
 * froze. Never blocks the loop: cgroup pseudo-files only; podman and the
 * DB in the sync child. Never touches /persist itself (src/state/ does).
 */
#include "focus.h"

#include "exec.h"
#include "governor.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "state/state.h"
#include "svc.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CG_PATH_BYTES_MAX 512
#define CG_FILE_BYTES_MAX 4096
#define CG_CHILDREN_MAX 4 /* libpod-* directories under one parent */
#define CPU_PERIOD_US 100000
#define FOCUS_DB_TIMEOUT_MS 1000
#define FOCUS_SYNC_DEBOUNCE_MS 250 /* podman follows once the switching settles */
#define SYNC_SUPERSEDED 3          /* the sync child's exit: a newer switch came */

/* ---- cgroup layout ----------------------------------------------------------
 * cgroup v1 (this host: hybrid): freezer, cpu and cpuacct hierarchies;
 * v2: one hierarchy, cgroup.freeze, cpu.stat, cpu.weight, cpu.max. */

struct cg_layout {
    bool known;
    bool v1;
    char freezer[64]; /* base of the hierarchy that freezes */
    char cpu[64];     /* cpu.shares/cpu.weight, cfs quota/cpu.max, cpu.stat */
    char acct[64];    /* cpuacct.usage / cpu.stat usage_usec */
};
static struct cg_layout cg;

static void cg_detect(void)
{
    if (cg.known)
        return;
    cg.known = true;
    if (access("/sys/fs/cgroup/freezer/cgroup.procs", F_OK) == 0) {
        cg.v1 = true;
        str_copy(cg.freezer, sizeof cg.freezer, "/sys/fs/cgroup/freezer");
        str_copy(cg.cpu, sizeof cg.cpu, "/sys/fs/cgroup/cpu");
        str_copy(cg.acct, sizeof cg.acct, "/sys/fs/cgroup/cpuacct");
        return;
    }
    const char *v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? "/sys/fs/cgroup"
                                                                             : "/sys/fs/cgroup/unified";
    str_copy(cg.freezer, sizeof cg.freezer, v2);
    str_copy(cg.cpu, sizeof cg.cpu, v2);
    str_copy(cg.acct, sizeof cg.acct, v2);
}

const char *focus_cgroup_root(void)
{
    const char *r = getenv("BAY0_PERSONA_CGROUP_ROOT");
    return r && r[0] == '/' && !strstr(r, "..") ? r : FOCUS_CGROUP_ROOT_DEFAULT;
}

bool focus_cgroup_parent(const char *container, char *out, size_t size)
{
    return str_fmt(out, size, "%s/%s", focus_cgroup_root(), container);
}

static bool write_str(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    ssize_t n = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(text);
}

struct children {
    uint32_t n;
    char name[CG_CHILDREN_MAX][80];
};

static bool collect_libpod(const char *name, unsigned char type, void *ctx)
{
    struct children *c = ctx;
    if (type == DT_DIR && strncmp(name, "libpod-", 7) == 0 && strstr(name, "conmon") == NULL &&
        c->n < CG_CHILDREN_MAX)
        str_copy(c->name[c->n++], sizeof c->name[0], name);
    return true;
}

/* The container's own cgroup directories under base/ROOT/container. */
static uint32_t container_cgroups(const char *base, const char *container,
                                  char out[CG_CHILDREN_MAX][CG_PATH_BYTES_MAX])
{
    char parent[CG_PATH_BYTES_MAX];
    if (!str_fmt(parent, sizeof parent, "%s%s/%s", base, focus_cgroup_root(), container))
        return 0;
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct children c = {0};
    (void)dir_each(fd, collect_libpod, &c);
    close(fd);
    uint32_t n = 0;
    for (uint32_t i = 0; i < c.n; i++)
        if (str_fmt(out[n], CG_PATH_BYTES_MAX, "%s/%s", parent, c.name[i]))
            n++;
    return n;
}

static bool cg_has_procs(const char *dir)
{
    char path[CG_PATH_BYTES_MAX + 16], buf[64];
    return str_fmt(path, sizeof path, "%s/cgroup.procs", dir) &&
           file_read_small(AT_FDCWD, path, buf, sizeof buf) > 0;
}

static bool cg_frozen(const char *dir)
{
    char path[CG_PATH_BYTES_MAX + 16], buf[64];
    if (!str_fmt(path, sizeof path, "%s/%s", dir, cg.v1 ? "freezer.state" : "cgroup.freeze") ||
        file_read_small(AT_FDCWD, path, buf, sizeof buf) < 0)
        return false;
    str_rstrip(buf);
    return cg.v1 ? strcmp(buf, "THAWED") != 0 : strcmp(buf, "1") == 0;
}

int focus_set_frozen(const char *container, bool frozen)
{
    cg_detect();
    char dirs[CG_CHILDREN_MAX][CG_PATH_BYTES_MAX];
    uint32_t n = container_cgroups(cg.freezer, container, dirs);
    int written = 0, err = ENOENT;
    for (uint32_t i = 0; i < n; i++) {
        char path[CG_PATH_BYTES_MAX + 16];
        if (!str_fmt(path, sizeof path, "%s/%s", dirs[i], cg.v1 ? "freezer.state" : "cgroup.freeze"))
            continue;
        if (write_str(path, cg.v1 ? (frozen ? "FROZEN" : "THAWED") : (frozen ? "1" : "0")))
            written++;
        else
            err = errno;
    }
    if (!written) {
        errno = err;
        return -1;
    }
    return written;
}

bool focus_is_paused(const char *container)
{
    cg_detect();
    char dirs[CG_CHILDREN_MAX][CG_PATH_BYTES_MAX];
    uint32_t n = container_cgroups(cg.freezer, container, dirs);
    for (uint32_t i = 0; i < n; i++)
        if (cg_frozen(dirs[i]))
            return true;
    return false;
}

/* "key value" lines (cpu.stat): the value of key, or false. */
static bool stat_field(const char *text, const char *key, uint64_t *out)
{
    size_t kn = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kn) == 0 && p[kn] == ' ') {
            char num[24];
            size_t i = 0;
            for (const char *q = p + kn + 1; *q >= '0' && *q <= '9' && i + 1 < sizeof num; q++)
                num[i++] = *q;
            num[i] = '\0';
            return parse_u64(num, UINT64_MAX, out);
        }
    }
    return false;
}

bool focus_cpu_usage_us(const char *container, uint64_t *us)
{
    cg_detect();
    char dirs[CG_CHILDREN_MAX][CG_PATH_BYTES_MAX];
    uint32_t n = container_cgroups(cg.acct, container, dirs);
    uint64_t total = 0;
    bool any = false;
    for (uint32_t i = 0; i < n; i++) {
        char path[CG_PATH_BYTES_MAX + 16], buf[CG_FILE_BYTES_MAX];
        uint64_t v;
        if (!str_fmt(path, sizeof path, "%s/%s", dirs[i], cg.v1 ? "cpuacct.usage" : "cpu.stat") ||
            file_read_small(AT_FDCWD, path, buf, sizeof buf) < 0)
            continue;
        str_rstrip(buf);
        if (cg.v1 ? parse_u64(buf, UINT64_MAX, &v) : stat_field(buf, "usage_usec", &v)) {
            total += cg.v1 ? v / 1000 : v;
            any = true;
        }
    }
    *us = total;
    return any;
}

struct list_ctx {
    struct focus_persona *out;
    uint32_t max, n;
};

static bool collect_persona(const char *name, unsigned char type, void *ctx)
{
    struct list_ctx *l = ctx;
    struct persona_name id;
    if (type != DT_DIR || l->n >= l->max || !persona_container_parse(name, strlen(name), &id))
        return true; /* not ours: never touched */
    struct focus_persona *p = &l->out[l->n++];
    memset(p, 0, sizeof *p);
    persona_container_format(&id, p->container);
    persona_name_format(&id, p->semantic);
    p->tenant = id.kind == PERSONA_SYSTEM;
    return true;
}

static int cmp_persona(const void *a, const void *b)
{
    return strcmp(((const struct focus_persona *)a)->container,
                  ((const struct focus_persona *)b)->container);
}

uint32_t focus_list(struct focus_persona *out, uint32_t max)
{
    cg_detect();
    char root[CG_PATH_BYTES_MAX];
    if (!str_fmt(root, sizeof root, "%s%s", cg.freezer, focus_cgroup_root()))
        return 0;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct list_ctx l = {out, max, 0};
    (void)dir_each(fd, collect_persona, &l);
    close(fd);
    qsort(out, l.n, sizeof *out, cmp_persona);
    for (uint32_t i = 0; i < l.n; i++) {
        char dirs[CG_CHILDREN_MAX][CG_PATH_BYTES_MAX];
        uint32_t n = container_cgroups(cg.freezer, out[i].container, dirs);
        for (uint32_t k = 0; k < n; k++) {
            out[i].running |= cg_has_procs(dirs[k]);
            out[i].frozen |= cg_frozen(dirs[k]);
        }
    }
    return l.n;
}

/* ---- the supervisor side ---------------------------------------------------- */

struct focus_state {
    char focused[PERSONA_CONTAINER_BYTES_MAX]; /* "" = none chosen yet */
    bool paused_by_focus[FOCUS_PERSONAS_MAX];
    char paused_name[FOCUS_PERSONAS_MAX][PERSONA_CONTAINER_BYTES_MAX];
    uint32_t paused_n;
    pid_t sync_pid;
    bool sync_again;
    int64_t sync_retry_ms;
    uint64_t syncs, switches;
    bool podman_agrees;
    char sync_result[200];
    int64_t last_switch_us; /* the whole switch: thaw, detach + freeze the rest */
    int64_t last_thaw_us;   /* until the focused persona was thawed (or found running) */
    /* governor */
    char gov_frozen[FOCUS_PERSONAS_MAX][PERSONA_CONTAINER_BYTES_MAX];
    uint32_t gov_frozen_n;
    struct { char container[PERSONA_CONTAINER_BYTES_MAX]; uint64_t throttled_us; int64_t at_ms; }
        thr[FOCUS_PERSONAS_MAX];
};
static struct focus_state fs;
/* Bumped at every switch, in memory shared with the sync child: a child
 * whose snapshot is no longer the intent stops before its next podman
 * call (a stale `podman pause` would freeze what is focused now). */
static volatile uint32_t *switch_gen;
static uint32_t sync_timeout_ms = FOCUS_SYNC_PODMAN_TIMEOUT_MS;
static uint32_t sync_retry_ms = FOCUS_SYNC_RETRY_MS;

static bool name_in(char list[][PERSONA_CONTAINER_BYTES_MAX], uint32_t n, const char *c)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(list[i], c) == 0)
            return true;
    return false;
}

/* Before a persona is frozen, nothing may scan out a buffer its frozen
 * process owns: with sway, its windows (marked with the container name)
 * move to the scratchpad; elsewhere this is the call site and its line.
 * swaymsg runs in a child that is not waited for (reaped as an orphan).
 * Returns the child's pid, 0 when there is no compositor to tell. */
static pid_t compositor_cmd(const char *command)
{
    const char *sock = getenv("SWAYSOCK");
    if (!sock || !sock[0])
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        child_signals_for_exec(); /* forked from the supervisor: its mask and SIGPIPE */
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0), dup2(null, 1), dup2(null, 2);
        execlp("swaymsg", "swaymsg", command, (char *)NULL);
        _exit(127);
    }
    return pid < 0 ? 0 : pid;
}

static void gpu_detach(const struct focus_persona *p)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "[con_mark=\"%s\"] move to scratchpad", p->container);
    pid_t pid = compositor_cmd(cmd);
    if (pid)
        log_info("event=gpu-detach persona=%s method=sway command=\"%s\" pid=%d", p->semantic, cmd, pid);
    else
        log_info("event=gpu-detach persona=%s method=none reason=\"no compositor to tell (SWAYSOCK unset)\"",
                 p->semantic);
}

static void gpu_attach(const struct focus_persona *p)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "[con_mark=\"%s\"] focus", p->container);
    pid_t pid = compositor_cmd(cmd);
    if (pid)
        log_info("event=gpu-attach persona=%s method=sway command=\"%s\" pid=%d", p->semantic, cmd, pid);
    else
        log_info("event=gpu-attach persona=%s method=none", p->semantic);
}

/* What focus wants frozen: running user personas other than the focused. */
static bool wants_frozen(const struct focus_persona *p)
{
    return fs.focused[0] && !p->tenant && p->running && strcmp(p->container, fs.focused) != 0;
}

/* Write the intent to the freezer: thaw the focused, detach and freeze
 * the rest. Returns how many writes failed. */
static int64_t thaw_started_us; /* set by a switch: enforce notes when the thaw is done */

static uint32_t enforce(struct focus_persona *ps, uint32_t n, bool log_each)
{
    uint32_t failed = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(ps[i].container, fs.focused) == 0 && ps[i].frozen &&
            !name_in(fs.gov_frozen, fs.gov_frozen_n, ps[i].container)) {
            if (focus_set_frozen(ps[i].container, false) < 0) {
                log_warn("event=thaw-failed persona=%s error=\"%s\"", ps[i].semantic, strerror(errno));
                failed++;
            }
            ps[i].frozen = false;
        }
    }
    if (thaw_started_us) { /* the focused one runs from here on: before any log line */
        fs.last_thaw_us = time_mono_us() - thaw_started_us;
        thaw_started_us = 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!wants_frozen(&ps[i]) || ps[i].frozen)
            continue;
        if (log_each)
            gpu_detach(&ps[i]);
        if (focus_set_frozen(ps[i].container, true) < 0) {
            log_warn("event=freeze-failed persona=%s error=\"%s\"", ps[i].semantic, strerror(errno));
            failed++;
        }
        ps[i].frozen = true;
    }
    return failed;
}

/* ---- the sync child: podman's view and the DB follow the freezer -------------- */

static bool podman_status(const char *container, char *status, size_t size)
{
    struct exec_argv a;
    exec_argv_init(&a);
    exec_argv_podman(&a);
    exec_argv_add(&a, "inspect");
    exec_argv_add(&a, "--format");
    exec_argv_add(&a, "{{.State.Status}}");
    exec_argv_add(&a, container);
    char out[128];
    struct exec_buf ob = EXEC_BUF(out);
    if (!exec_run(&a, sync_timeout_ms, "podman-inspect", "focus: podman's view", &ob,
                  NULL, NULL))
        return false;
    str_rstrip(out);
    return str_copy(status, size, out);
}

static bool podman_do(const char *verb, const char *container, const char *semantic)
{
    struct exec_argv a;
    exec_argv_init(&a);
    exec_argv_podman(&a);
    exec_argv_add(&a, verb);
    exec_argv_add(&a, container);
    char why[96], err[512];
    snprintf(why, sizeof why, "%s: focus", semantic);
    struct exec_buf eb = EXEC_BUF(err);
    return exec_run(&a, sync_timeout_ms, verb, why, NULL, &eb, NULL);
}

struct db_job {
    const struct focus_persona *ps;
    uint32_t n;
    const char *focused_semantic;
};

static int db_work(void *ctx)
{
    const struct db_job *j = ctx;
    struct state_db db;
    enum state_result r = state_open(&db, NULL);
    if (r != STATE_OK && r != STATE_RECOVERED)
        return 1;
    if (state_migrate_if_needed(&db) != STATE_OK) {
        state_close(&db);
        return 1;
    }
    bool found = false;
    if (j->focused_semantic)
        (void)state_set_active_persona(&db, j->focused_semantic, &found);
    for (uint32_t i = 0; i < j->n; i++) {
        bool f;
        if (!j->ps[i].tenant && j->ps[i].running)
            (void)state_set_persona_state(&db, j->ps[i].semantic,
                                          j->ps[i].frozen ? STATE_PERSONA_PAUSED : STATE_PERSONA_RUNNING, &f);
    }
    state_close(&db);
    return found ? 0 : 2;
}

/* Runs in the child: make podman agree with the freezer, store the intent.
 * Exit 0 when podman agrees on every persona. */
static int sync_child(struct focus_persona *ps, uint32_t n, bool persist)
{
    int rc = 0;
    const char *focused_semantic = NULL;
    uint32_t gen0 = switch_gen ? *switch_gen : 0;
    for (uint32_t i = 0; i < n; i++) {
        if (ps[i].tenant || !ps[i].running)
            continue;
        if (switch_gen && *switch_gen != gen0)
            return SYNC_SUPERSEDED;
        if (strcmp(ps[i].container, fs.focused) == 0)
            focused_semantic = ps[i].semantic;
        char status[32];
        if (!podman_status(ps[i].container, status, sizeof status)) {
            rc = 1;
            continue;
        }
        bool want_paused = ps[i].frozen;
        if (switch_gen && *switch_gen != gen0)
            return SYNC_SUPERSEDED;
        if (want_paused && strcmp(status, "running") == 0 && !podman_do("pause", ps[i].container, ps[i].semantic))
            rc = 1;
        if (!want_paused && strcmp(status, "paused") == 0 && !podman_do("unpause", ps[i].container, ps[i].semantic))
            rc = 1;
    }
    if (persist) {
        struct db_job j = {ps, n, focused_semantic};
        int db_rc = -1;
        enum state_result r = state_run_bounded(db_work, &j, FOCUS_DB_TIMEOUT_MS, "focus-intent", &db_rc);
        log_info("event=focus-intent persona=%s result=%s", focused_semantic ? focused_semantic : "-",
                 r != STATE_OK ? state_result_name(r) : db_rc == 0 ? "stored" : db_rc == 2 ? "not-in-db" : "error");
    }
    return rc;
}

static void sync_start(void)
{
    if (fs.sync_pid > 0) {
        fs.sync_again = true;
        return;
    }
    fs.sync_again = false;
    fs.sync_retry_ms = 0;
    static struct focus_persona ps[FOCUS_PERSONAS_MAX];
    uint32_t n = focus_list(ps, FOCUS_PERSONAS_MAX);
    pid_t pid = fork();
    if (pid == 0) {
        /* Only stdio: a client's connection held open here would keep that
         * client waiting for its EOF until podman answered. */
        syscall(SYS_close_range, 3U, ~0U, 0U);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        log_set_sink(NULL);
        _exit(sync_child(ps, n, sup.persist_intent));
    }
    if (pid < 0) {
        log_warn("event=focus-sync-failed error=\"%s\"", strerror(errno));
        fs.sync_retry_ms = time_mono_ms() + sync_retry_ms;
        return;
    }
    fs.sync_pid = pid;
    fs.podman_agrees = false;
    if (sup.persist_intent)
        sup_flush_begin(pid, "focus-intent");
    log_info("event=focus-sync pid=%d focused=%s", pid, fs.focused);
}

bool focus_on_exit(pid_t pid, int status)
{
    if (pid <= 0 || pid != fs.sync_pid)
        return false;
    fs.sync_pid = 0;
    fs.syncs++;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    bool ok = code == 0, superseded = code == SYNC_SUPERSEDED;
    snprintf(fs.sync_result, sizeof fs.sync_result, "%s",
             ok ? "podman agrees" : superseded ? "a newer switch came: syncing again"
                                               : "podman did not answer or failed: retrying");
    log_info("event=focus-synced pid=%d result=%s", pid, ok ? "agrees" : superseded ? "superseded" : "retry");
    /* a pause still in flight may have frozen what is focused now */
    static struct focus_persona ps[FOCUS_PERSONAS_MAX];
    uint32_t n = focus_list(ps, FOCUS_PERSONAS_MAX);
    enforce(ps, n, true);
    if (fs.sync_again || superseded) {
        fs.sync_again = false;
        fs.sync_retry_ms = time_mono_ms() + FOCUS_SYNC_DEBOUNCE_MS;
        return true;
    }
    if (!ok) {
        fs.sync_retry_ms = time_mono_ms() + sync_retry_ms;
        return true;
    }
    fs.podman_agrees = true;
    return true;
}

int64_t focus_deadline_ms(void) { return fs.sync_pid > 0 ? 0 : fs.sync_retry_ms; }

void focus_on_timer(int64_t now_ms)
{
    if (fs.sync_retry_ms && fs.sync_retry_ms <= now_ms && fs.sync_pid <= 0 && !sup.shutting_down)
        sync_start();
}

/* ---- the governor's personas and its decisions ------------------------------- */

static uint64_t throttled_us_of(const char *container)
{
    char path[CG_PATH_BYTES_MAX + 32], buf[CG_FILE_BYTES_MAX];
    uint64_t v = 0;
    if (!str_fmt(path, sizeof path, "%s%s/%s/cpu.stat", cg.cpu, focus_cgroup_root(), container) ||
        file_read_small(AT_FDCWD, path, buf, sizeof buf) < 0)
        return 0;
    if (cg.v1)
        return stat_field(buf, "throttled_time", &v) ? v / 1000 : 0;
    return stat_field(buf, "throttled_usec", &v) ? v : 0;
}

/* How much of the time since the last call the persona spent throttled. */
static uint32_t throttled_pct(uint32_t slot, const char *container, int64_t now_ms)
{
    uint64_t us = throttled_us_of(container);
    uint32_t pct = 0;
    if (strcmp(fs.thr[slot].container, container) == 0 && now_ms > fs.thr[slot].at_ms &&
        us >= fs.thr[slot].throttled_us) {
        uint64_t d = us - fs.thr[slot].throttled_us;
        uint64_t span_us = (uint64_t)(now_ms - fs.thr[slot].at_ms) * 1000;
        pct = (uint32_t)(d * 100 / span_us > 100 ? 100 : d * 100 / span_us);
    }
    str_copy(fs.thr[slot].container, sizeof fs.thr[slot].container, container);
    fs.thr[slot].throttled_us = us;
    fs.thr[slot].at_ms = now_ms;
    return pct;
}

static uint32_t gov_personas(struct gov_persona *out, uint32_t max)
{
    static struct focus_persona ps[FOCUS_PERSONAS_MAX];
    uint32_t n = focus_list(ps, FOCUS_PERSONAS_MAX), k = 0;
    int64_t now = time_mono_ms();
    for (uint32_t i = 0; i < n && k < max && k < FOCUS_PERSONAS_MAX; i++) {
        struct gov_persona *g = &out[k];
        memset(g, 0, sizeof *g);
        str_copy(g->name, sizeof g->name, ps[i].semantic);
        g->role = ps[i].tenant ? (strcmp(ps[i].container, "sys__ai") == 0 ? GOV_ROLE_SACRIFICIAL
                                                                           : GOV_ROLE_TENANT)
                : strcmp(ps[i].container, fs.focused) == 0 ? GOV_ROLE_FOCUSED : GOV_ROLE_BACKGROUND;
        /* frozen by focus: nothing for the governor to decide */
        g->running = ps[i].running && (!ps[i].frozen || name_in(fs.gov_frozen, fs.gov_frozen_n, ps[i].container));
        g->throttled_pct = throttled_pct(k, ps[i].container, now);
        k++;
    }
    return k;
}

static bool parse_semantic_container(const char *semantic, char out[PERSONA_CONTAINER_BYTES_MAX])
{
    struct persona_name id;
    char reason[PERSONA_REASON_BYTES_MAX];
    if (!persona_name_parse_str(semantic, &id, reason, sizeof reason))
        return false;
    persona_container_format(&id, out);
    return true;
}

static void apply_cpu(const char *container, const struct gov_persona_out *o)
{
    char dir[CG_PATH_BYTES_MAX], path[CG_PATH_BYTES_MAX + 32], val[48];
    if (!str_fmt(dir, sizeof dir, "%s%s/%s", cg.cpu, focus_cgroup_root(), container))
        return;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t quota = o->cpu_max_pct ? (uint64_t)o->cpu_max_pct * (uint64_t)(ncpu > 0 ? ncpu : 1) * CPU_PERIOD_US / 100 : 0;
    bool ok;
    if (cg.v1) {
        snprintf(path, sizeof path, "%s/cpu.shares", dir);
        snprintf(val, sizeof val, "%u", o->cpu_weight * 1024 / 100 < 2 ? 2 : o->cpu_weight * 1024 / 100);
        ok = write_str(path, val);
        snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
        snprintf(val, sizeof val, "%lld", quota ? (long long)quota : -1LL);
        ok = write_str(path, val) && ok;
    } else {
        snprintf(path, sizeof path, "%s/cpu.weight", dir);
        snprintf(val, sizeof val, "%u", o->cpu_weight);
        ok = write_str(path, val);
        snprintf(path, sizeof path, "%s/cpu.max", dir);
        if (quota)
            snprintf(val, sizeof val, "%llu %u", (unsigned long long)quota, CPU_PERIOD_US);
        else
            snprintf(val, sizeof val, "max %u", CPU_PERIOD_US);
        ok = write_str(path, val) && ok;
    }
    if (!ok)
        log_warn("event=governor-apply-failed container=%s path=%s error=\"%s\"", container, path, strerror(errno));
}

/* Freezing keeps a tenant's memory; stopping gives it back: every process
 * of its container gets SIGKILL (podman sees it die; its manager restarts
 * it later, when starts are allowed again). */
static void stop_container(const char *container, const char *semantic)
{
    char dirs[CG_CHILDREN_MAX][CG_PATH_BYTES_MAX];
    uint32_t n = container_cgroups(cg.freezer, container, dirs);
    for (uint32_t i = 0; i < n; i++) {
        char path[CG_PATH_BYTES_MAX + 16], buf[CG_FILE_BYTES_MAX];
        if (!str_fmt(path, sizeof path, "%s/cgroup.procs", dirs[i]) ||
            file_read_small(AT_FDCWD, path, buf, sizeof buf) < 0)
            continue;
        for (char *p = buf, *end; *p; p = end) {
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            if (pid > 1)
                kill((pid_t)pid, SIGKILL);
        }
        (void)focus_set_frozen(container, false); /* a frozen task dies only once thawed (v1) */
    }
    log_warn("event=governor-stop persona=%s reason=\"memory pressure: stopped before the OOM killer chooses\"", semantic);
}

static void gov_apply(const struct gov_inputs *in, const struct gov_output *out)
{
    for (uint32_t i = 0; i < in->personas_n; i++) {
        char c[PERSONA_CONTAINER_BYTES_MAX];
        if (!parse_semantic_container(in->personas[i].name, c))
            continue;
        const struct gov_persona_out *o = &out->personas[i];
        apply_cpu(c, o);
        bool ours = name_in(fs.gov_frozen, fs.gov_frozen_n, c);
        if (o->action == GOV_FREEZE && in->personas[i].running && !ours &&
            fs.gov_frozen_n < FOCUS_PERSONAS_MAX && focus_set_frozen(c, true) >= 0) {
            str_copy(fs.gov_frozen[fs.gov_frozen_n++], sizeof fs.gov_frozen[0], c);
        } else if (o->action == GOV_STOP && in->personas[i].running) {
            stop_container(c, in->personas[i].name);
        }
        if (o->action != GOV_FREEZE && ours) {
            for (uint32_t k = 0; k < fs.gov_frozen_n; k++)
                if (strcmp(fs.gov_frozen[k], c) == 0)
                    memcpy(fs.gov_frozen[k], fs.gov_frozen[--fs.gov_frozen_n], sizeof fs.gov_frozen[0]);
            bool focus_wants = fs.focused[0] && strcmp(c, fs.focused) != 0 && in->personas[i].role != GOV_ROLE_SACRIFICIAL &&
                               in->personas[i].role != GOV_ROLE_TENANT;
            if (!focus_wants)
                (void)focus_set_frozen(c, false);
        }
    }
}

static uint32_t env_ms(const char *name, uint32_t dflt)
{
    const char *v = getenv(name);
    uint64_t ms;
    return v && parse_u64(v, 3600000, &ms) && ms >= 100 ? (uint32_t)ms : dflt;
}

void focus_init(void)
{
    cg_detect();
    sync_timeout_ms = env_ms("BAY0_FOCUS_SYNC_TIMEOUT_MS", FOCUS_SYNC_PODMAN_TIMEOUT_MS);
    sync_retry_ms = env_ms("BAY0_FOCUS_SYNC_RETRY_MS", FOCUS_SYNC_RETRY_MS);
    governor_set_hooks(gov_personas, gov_apply);
    void *shared = mmap(NULL, sizeof(uint32_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared != MAP_FAILED)
        switch_gen = shared;
    else
        log_warn("event=focus-shared-failed error=\"%s\" (a stale podman call may outlive a switch)",
                 strerror(errno));
    /* A supervisor started again finds the freezer as the last one left
     * it: the one running user persona that is not frozen while others
     * are is the focused one. */
    static struct focus_persona ps[FOCUS_PERSONAS_MAX];
    uint32_t n = focus_list(ps, FOCUS_PERSONAS_MAX), thawed = 0, frozen = 0;
    const char *candidate = NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (ps[i].tenant || !ps[i].running)
            continue;
        if (ps[i].frozen) {
            frozen++;
        } else {
            thawed++;
            candidate = ps[i].container;
        }
    }
    if (thawed == 1 && frozen > 0) {
        str_copy(fs.focused, sizeof fs.focused, candidate);
        log_info("event=focus-adopted container=%s reason=\"the only running persona not frozen\"", candidate);
    }
}

/* ---- the `focus` request ------------------------------------------------------ */

static const char *state_word(const struct focus_persona *p)
{
    return !p->running ? "stopped" : p->frozen ? "paused" : "running";
}

static void report(char *reply, size_t size, bool json, const struct focus_persona *ps, uint32_t n)
{
    size_t len = 0;
    char focused[PERSONA_SEMANTIC_BYTES_MAX] = "";
    struct persona_name id;
    if (fs.focused[0] && persona_container_parse(fs.focused, strlen(fs.focused), &id))
        persona_name_format(&id, focused);
    if (json) {
        len = str_appendf(reply, size, len, "{\"focused\":\"%s\",\"switches\":%llu,\"last_thaw_us\":%lld,\"last_switch_us\":%lld,"
                   "\"sync\":{\"running\":%s,\"podman_agrees\":%s,\"syncs\":%llu,\"result\":\"%s\"},"
                   "\"cgroup_root\":\"%s\",\"personas\":[", focused, (unsigned long long)fs.switches,
                   (long long)fs.last_thaw_us, (long long)fs.last_switch_us, fs.sync_pid > 0 ? "true" : "false",
                   fs.podman_agrees ? "true" : "false", (unsigned long long)fs.syncs, fs.sync_result,
                   focus_cgroup_root());
        for (uint32_t i = 0; i < n; i++) {
            uint64_t us = 0;
            bool have = focus_cpu_usage_us(ps[i].container, &us);
            len = str_appendf(reply, size, len, "%s{\"name\":\"%s\",\"container\":\"%s\",\"state\":\"%s\","
                       "\"tenant\":%s,\"cpu_usage_us\":%s%llu}", i ? "," : "", ps[i].semantic,
                       ps[i].container, state_word(&ps[i]), ps[i].tenant ? "true" : "false",
                       have ? "" : "-", (unsigned long long)(have ? us : 1));
        }
        str_appendf(reply, size, len, "]}\n");
        return;
    }
    len = str_appendf(reply, size, len, "%s\n", focused[0] ? focused : "(none)");
    for (uint32_t i = 0; i < n; i++)
        len = str_appendf(reply, size, len, "  %-24s %s%s\n", ps[i].semantic, state_word(&ps[i]),
                   strcmp(ps[i].container, fs.focused) == 0 ? " (focused)" : "");
    if (fs.switches)
        str_appendf(reply, size, len, "  podman: %s\n", fs.sync_pid > 0 ? "syncing" : fs.sync_result);
}

/* The running user persona argv0 names, or NULL with msg and *rc set. */
static struct focus_persona *focus_target(const char *arg, struct focus_persona *ps,
                                          uint32_t n, char *msg, size_t msg_size, int *rc)
{
    struct persona_name id;
    char reason[PERSONA_REASON_BYTES_MAX];
    *rc = 2;
    if (!persona_name_parse_str(arg, &id, reason, sizeof reason)) {
        snprintf(msg, msg_size, "%s", reason);
        return NULL;
    }
    if (id.kind != PERSONA_USER) {
        snprintf(msg, msg_size, "%s is a system tenant: only a user persona (p://NAME) can have the focus", arg);
        return NULL;
    }
    char container[PERSONA_CONTAINER_BYTES_MAX];
    persona_container_format(&id, container);
    struct focus_persona *target = NULL;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(ps[i].container, container) == 0)
            target = &ps[i];
    if (!target || !target->running) {
        snprintf(msg, msg_size, "%s" FOCUS_NOT_RUNNING " (start it: bay0 persona start %s)", arg, arg);
        *rc = 1;
        return NULL;
    }
    return target;
}

int focus_request(int argc, char **argv, bool may_change, char *reply, size_t reply_size,
                  char *msg, size_t msg_size)
{
    reply[0] = msg[0] = '\0';
    bool json = argc > 0 && strcmp(argv[0], "--json") == 0;
    if (json)
        argc--, argv++;
    static struct focus_persona ps[FOCUS_PERSONAS_MAX];
    uint32_t n = focus_list(ps, FOCUS_PERSONAS_MAX);
    if (argc == 0) {
        report(reply, reply_size, json, ps, n);
        return 0;
    }
    if (argc > 1) {
        snprintf(msg, msg_size, "usage: focus [--json] [p://NAME]");
        return 2;
    }
    if (!may_change) {
        snprintf(msg, msg_size, "permission denied: only root may switch the focus");
        return 4;
    }
    int rc;
    struct focus_persona *target = focus_target(argv[0], ps, n, msg, msg_size, &rc);
    if (target == NULL)
        return rc;
    int64_t t0 = time_mono_us();
    str_copy(fs.focused, sizeof fs.focused, target->container);
    thaw_started_us = t0;
    uint32_t failed = enforce(ps, n, true);
    fs.last_switch_us = time_mono_us() - t0;
    fs.switches++;
    if (switch_gen)
        (*switch_gen)++;
    gpu_attach(target);
    size_t len = 0;
    for (uint32_t i = 0; i < n; i++)
        if (ps[i].frozen && !ps[i].tenant)
            len = str_appendf(msg, msg_size, len, "%s%s", len ? " " : "paused ", ps[i].semantic);
    log_info("event=focus persona=%s thaw_us=%lld switch_us=%lld failed=%u %s", target->semantic,
             (long long)fs.last_thaw_us, (long long)fs.last_switch_us, failed, msg);
    snprintf(reply, reply_size, "%s focused in %lld us%s%s\n", target->semantic,
             (long long)fs.last_switch_us, msg[0] ? "; " : "", msg);
    msg[0] = '\0';
    /* podman follows once the switching settles; a sync in flight stops
     * at its next podman call and is followed by a fresh one */
    fs.podman_agrees = false;
    if (fs.sync_pid > 0)
        fs.sync_again = true;
    else
        fs.sync_retry_ms = time_mono_ms() + FOCUS_SYNC_DEBOUNCE_MS;
    if (failed) {
        snprintf(msg, msg_size, "%u freezer writes failed (see the log)", failed);
        return 1;
    }
    return 0;
}
