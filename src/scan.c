/* scan.c — the service table and the scan directory: sizing the table once
 * at start-up, the first scan, `reload` (add new directories, reread
 * changed ones, stop and free vanished ones) and the log/run companions.
 *
 * Allocates only in sup_table_init. Reads the scan directory (the image's
 * root filesystem, never /persist).
 */
#include "cgroup.h"
#include "deaths.h"
#include "logger.h"
#include "log.h"
#include "loop.h"
#include "state/state.h"
#include "spawn.h"
#include "depgraph.h"
#include "propagate.h"
#include "scan.h"
#include "service.h"
#include "svc.h"
#include "svcmap.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define PERSIST_LOAD_TIMEOUT_MS 500
#define SCAN_FDS_RESERVED 256 /* sockets, directories, readiness pipes, loggers */

/* What a scan learns about each slot before it applies anything (phases 1
 * and 2 below), kept here rather than in struct svc; indexed like the
 * table. */
struct scan_pad {
    struct svc_def next_def;                   /* the definition just read */
    char cfg_reason[SERVICE_REASON_BYTES_MAX]; /* why it could not be */
    bool next_ok;                              /* next_def is valid */
    bool seen;                                 /* found by this scan */
    bool added;                                /* added by this scan */
};
static struct scan_pad *pads;
static uint32_t free_hint; /* every slot below it is in use (slot_alloc) */
static uint32_t removed_live; /* slots in use with removed set: freed when down */

static struct scan_pad *pad_of(const struct svc *s)
{
    uint32_t i = (uint32_t)svc_index(s);
    BAY0_ASSERT(i < sup.slots);
    return &pads[i];
}

/* For the dependency graph's rebuild (depgraph.h). */
static bool pad_ok(const struct svc *s, bool *may_have_deps)
{
    const struct scan_pad *p = pad_of(s);
    *may_have_deps = p->next_ok && p->next_def.may_have_deps;
    return p->next_ok;
}

static void pad_refuse(struct svc *s, const char *reason)
{
    struct scan_pad *p = pad_of(s);
    if (!p->next_ok)
        return; /* keep the first reason */
    p->next_ok = false;
    str_copy(p->cfg_reason, sizeof p->cfg_reason, reason);
}

static void mark_removed_slot(struct svc *s)
{
    if (!s->removed)
        removed_live++;
    s->removed = true;
}

static bool count_entry(const char *name, unsigned char d_type, void *ctx)
{
    (void)d_type;
    if (name[0] != '.')
        (*(uint32_t *)ctx)++;
    return true;
}

int sup_table_init(uint32_t slots_wanted)
{
    uint32_t n = slots_wanted;
    if (n == 0) {
        uint32_t found = 0;
        dir_each(sup.scan_fd, count_entry, &found);
        n = 2 * found + SVC_SLOTS_MIN; /* room for loggers and reloads */
    }
    if (n < SVC_SLOTS_MIN)
        n = SVC_SLOTS_MIN;
    if (n > SVC_SLOTS_MAX)
        n = SVC_SLOTS_MAX;
    sup.svcs = table_alloc(n, sizeof *sup.svcs);
    sup.deaths_ms = table_alloc(n, sizeof *sup.deaths_ms);
    if (!sup.svcs || !sup.deaths_ms) {
        log_error("event=table-alloc-failed slots=%u", n);
        return -1;
    }
    sup.slots = n;
    free_hint = 0;
    pads = table_alloc(n, sizeof *pads);
    if (!pads || svcmap_init(n) < 0 || svc_names_init(n) < 0) {
        log_error("event=table-alloc-failed slots=%u what=indexes", n);
        return -1;
    }
    if (spawn_init(2 * n) < 0)
        log_warn("event=spawn-cells-unavailable effect=\"spawns wait for exec\"");
    return sup_deps_init(n) < 0 || propagate_init(n) < 0 ? -1 : 0;
}

/* The first free slot, found from free_hint (slot_free lowers it)
 * without walking 10,000 taken ones; the search wraps round, so a hint
 * that is too high only costs time. */
static struct svc *slot_alloc(void)
{
    for (uint32_t n = 0; n < sup.slots; n++) {
        uint32_t i = (free_hint + n) % sup.slots;
        struct svc *s = &sup.svcs[i];
        if (s->in_use)
            continue;
        free_hint = i + 1;
        svc_slot_reset(s);
        s->since_wall_ms = time_wall_ms();
        if (i + 1 > sup.used_hi)
            sup.used_hi = i + 1;
        return s;
    }
    return NULL;
}

/* A printable, protocol-safe name for any directory entry: bad bytes
 * become '?', long names are cut and end in "..." (never a valid name). */
static void display_name(char *dst, size_t size, const char *name)
{
    size_t n = 0;
    for (; name[n] && n + 1 < size; n++) {
        unsigned char c = (unsigned char)name[n];
        dst[n] = (c > 32 && c < 127 && c != '"' && c != '\\') ? (char)c : '?';
    }
    dst[n] = '\0';
    if (name[n] && size > 4)
        memcpy(dst + size - 4, "...", 4);
}

/* Reads the logger's log/ definition (again) and applies it: a changed
 * log/run restarts it, a fixed one leaves `failed`. */
static bool logger_read_def(struct svc *s, struct svc *lg)
{
    struct svc_def def;
    char reason[SERVICE_REASON_BYTES_MAX];
    bool ok = svcdir_load_logger(sup.scan_fd, s->name, &def, reason, sizeof reason) == 0;
    def.may_have_contain |= lg->def.may_have_contain; /* a removed file's limit is lifted */
    service_apply_config(lg, ok ? &def : NULL, ok ? NULL : reason);
    return ok;
}

/* reload: the logger's definition again, and a logger that failed (its
 * restart limit) starts again. */
static void logger_reload(struct svc *s)
{
    struct svc *lg = &sup.svcs[s->logger];
    if (logger_read_def(s, lg) && lg->state == ST_FAILED)
        service_on_event(lg, EV_WANT_UP, 0);
}

static void logger_attach(struct svc *s)
{
    struct svc *lg = slot_alloc();
    if (!lg) {
        log_error("svc=%s event=table-full what=logger slots=%u", s->name, sup.slots);
        return;
    }
    lg->is_logger = true;
    lg->parent = svc_index(s);
    s->logger = svc_index(lg);
    str_fmt(lg->name, sizeof lg->name, "%.60s/log", s->name);
    logger_use_external(s, true);
    if (logger_read_def(s, lg))
        service_on_event(lg, EV_WANT_UP, 0);
}

static void logger_detach(struct svc *s)
{
    struct svc *lg = &sup.svcs[s->logger];
    mark_removed_slot(lg);
    if (s->removed && !svc_is_running(s))
        logger_release_writer(s); /* EOF for loggers that end on it (s6-log -p) */
    service_on_event(lg, EV_WANT_DOWN, 0);
}

/* Phase 1 of a scan: read the definition into next_def (nothing changes
 * state yet, so dependency errors can be folded in before anything runs). */
/* Each service holds its log pipe's read end for life (and the write end
 * too when a log/run reads it), and each running process a pidfd (the
 * loop's, supervise_reap.c). Past the budget left by RLIMIT_NOFILE, a
 * service is refused with a reason instead of letting the supervisor run
 * out of fds for everyone (directories, sockets, spawns). */
static struct rlimit scan_nofile; /* read once per scan */

static bool fd_budget_left(struct svc *s)
{
    struct rlimit rl = scan_nofile;
    if (rl.rlim_cur == RLIM_INFINITY)
        return true;
    uint64_t budget = rl.rlim_cur > SCAN_FDS_RESERVED ? rl.rlim_cur - SCAN_FDS_RESERVED : 0;
    uint64_t held = (uint64_t)logger_fds_held() + sup_pidfds_held();
    if (held + 2 <= budget) /* pipe2 holds both ends for a moment */
        return true;
    pad_of(s)->next_ok = false;
    str_fmt(pad_of(s)->cfg_reason, sizeof pad_of(s)->cfg_reason,
            "no file descriptors left: RLIMIT_NOFILE %llu, %u held for logs, "
            "%u for running processes; raise the limit", (unsigned long long)rl.rlim_cur,
            logger_fds_held(), sup_pidfds_held());
    return false;
}

static void read_def(struct svc *s, const char *dir_name)
{
    pad_of(s)->next_ok = svcdir_load(sup.scan_fd, dir_name, &pad_of(s)->next_def, pad_of(s)->cfg_reason,
                             sizeof pad_of(s)->cfg_reason) == 0;
    pad_of(s)->next_def.may_have_contain |= s->def.may_have_contain; /* a removed file's limit is lifted */
    if (pad_of(s)->next_ok && s->log_rfd < 0 && fd_budget_left(s) && logger_open_pipe(s) < 0) {
        pad_of(s)->next_ok = false;
        str_fmt(pad_of(s)->cfg_reason, sizeof pad_of(s)->cfg_reason, "cannot create log pipe: %s",
                strerror(errno));
    }
}

static struct svc *service_add(const char *dir_name)
{
    struct svc *s = slot_alloc();
    if (!s) {
        log_error("event=table-full what=service name=%.64s slots=%u "
                  "hint=\"restart with --max-services\"", dir_name, sup.slots);
        return NULL;
    }
    display_name(s->name, sizeof s->name, dir_name);
    svc_name_add(s);
    pad_of(s)->added = true;
    read_def(s, dir_name);
    return s;
}

/* Phase 3: apply what phases 1 and 2 found. */
static void apply_def(struct svc *s)
{
    service_apply_config(s, pad_of(s)->next_ok ? &pad_of(s)->next_def : NULL, pad_of(s)->next_ok ? NULL : pad_of(s)->cfg_reason);
    if (pad_of(s)->next_ok)
        logger_configure(s);
    if (pad_of(s)->added)
        log_info("svc=%s event=added%s", s->name, pad_of(s)->next_ok ? "" : " config=invalid");
    bool want_logger = pad_of(s)->next_ok && pad_of(s)->next_def.has_log_run;
    if (want_logger && s->logger == SVC_NONE)
        logger_attach(s);
    else if (want_logger && !sup.svcs[s->logger].removed)
        logger_reload(s);
    else if (!want_logger && s->logger != SVC_NONE && !sup.svcs[s->logger].removed)
        logger_detach(s);
}

static bool is_service_dir(const char *name, unsigned char d_type)
{
    if (name[0] == '.')
        return false;
    if (d_type == DT_DIR)
        return true;
    if (d_type != DT_UNKNOWN && d_type != DT_LNK)
        return false;
    struct stat st;
    if (fstatat(sup.scan_fd, name, &st, 0) == 0)
        return S_ISDIR(st.st_mode);
    char shown[SERVICE_NAME_BYTES_MAX + 1];
    display_name(shown, sizeof shown, name);
    log_warn("event=scan-entry-skipped name=%s path=%s/%s error=\"%s\" "
             "hint=\"a symlink loop or a dangling link; fix or remove it\"",
             shown, sup.scandir, shown, strerror(errno));
    return false;
}

static bool scan_entry(const char *name, unsigned char d_type, void *ctx)
{
    struct scan_summary *sum = ctx;
    if (!is_service_dir(name, d_type))
        return true;
    char shown[SERVICE_NAME_BYTES_MAX + 1];
    display_name(shown, sizeof shown, name);
    struct svc *s = svc_find(shown);
    if (s && pad_of(s)->seen) {
        log_warn("event=duplicate-name dir=%s shown_as=%s", name, shown);
        return true;
    }
    if (s && !s->removed) {
        read_def(s, name);
    } else {
        s = service_add(name);
        sum->added += s != NULL;
    }
    if (s)
        pad_of(s)->seen = true;
    return true;
}

static void mark_removed(struct scan_summary *sum)
{
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        struct svc *s = &sup.svcs[i];
        if (!s->in_use || s->is_logger || pad_of(s)->seen || s->removed)
            continue;
        log_info("svc=%s event=removed", s->name);
        mark_removed_slot(s);
        sum->removed++;
    }
}

static void load_persisted_intents(void);
static bool load_intents_once;

static void slot_free(struct svc *s);

/* Before a reload: the scan directory must still be there, under its path.
 * A directory that was removed or moved away reads as empty, which would
 * stop every service; a new directory renamed to the path is scanned
 * instead of the old one. -1 with errno when it cannot be read. */
static int scan_dir_recheck(void)
{
    struct stat held, now;
    if (fstat(sup.scan_fd, &held) < 0)
        return -1;
    if (held.st_nlink == 0) {
        errno = ENOENT;
        return -1;
    }
    int fd = open(sup.scandir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int ret = fstat(fd, &now);
    bool replaced = ret == 0 && (now.st_dev != held.st_dev || now.st_ino != held.st_ino);
    if (replaced && (ret = dup3(fd, sup.scan_fd, O_CLOEXEC)) >= 0) {
        ret = 0;
        log_info("event=scandir-replaced path=%s", sup.scandir);
    }
    int err = errno;
    close(fd);
    errno = err;
    return ret;
}

/* A scan that could not read the directory changes nothing: the services
 * it added on the way are freed again. */
static struct scan_summary scan_abort(struct scan_summary sum, int err)
{
    for (uint32_t i = 0; i < sup.used_hi; i++)
        if (sup.svcs[i].in_use && pads[i].added)
            slot_free(&sup.svcs[i]);
    sum.error = err;
    sum.added = 0;
    log_error("event=scan-failed path=%s error=\"%s\" effect=\"nothing changed: "
              "the services keep running as they were\"", sup.scandir, strerror(err));
    return sum;
}

/* A service this scan added, valid and wanted up: it starts now. */
static bool starts_now(const struct svc *s)
{
    bool wanted = s->persist_known ? s->persist_up : !s->def.down_file;
    return s->in_use && pad_of(s)->added && !s->config_error && wanted;
}

/* Each start adds a pidfd to the fds held (plus a few for a moment): the
 * fd table grows to hold them all before the first spawn, while no child
 * shares it (fd_table_reserve). Growing it under the spawns of the start
 * below cost 4-12 ms a time (an RCU grace period) at each doubling. */
static void reserve_fds_for_starts(void)
{
    uint32_t starts = 0;
    for (uint32_t i = 0; i < sup.used_hi; i++)
        starts += starts_now(&sup.svcs[i]);
    if (starts > 0)
        (void)fd_table_reserve(sup.scan_fd, logger_fds_held() + sup_pidfds_held() + starts +
                                                 SCAN_FDS_RESERVED);
}

static struct scan_summary scan(bool recheck)
{
    struct scan_summary sum = {0};
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        pads[i].seen = false;
        pads[i].added = false;
    }
    if (recheck && scan_dir_recheck() < 0)
        return scan_abort(sum, errno);
    if (getrlimit(RLIMIT_NOFILE, &scan_nofile) < 0)
        scan_nofile.rlim_cur = RLIM_INFINITY;
    if (dir_each(sup.scan_fd, scan_entry, &sum) < 0)
        return scan_abort(sum, errno);
    mark_removed(&sum);
    if (load_intents_once) {
        load_intents_once = false;
        load_persisted_intents();
    }
    sup_deps_rebuild(pad_ok, pad_refuse);
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        struct svc *s = &sup.svcs[i];
        if (!s->in_use || s->is_logger)
            continue;
        if (s->removed) {
            if (s->want_up || svc_is_running(s))
                service_on_event(s, EV_WANT_DOWN, 0);
            continue;
        }
        uint32_t gen = s->generation;
        apply_def(s);
        sum.restarted += s->generation != gen || s->state == ST_STOPPING;
        sum.failed += s->config_error;
        sum.total++;
    }
    /* new services start in dependency order (dependencies first) */
    reserve_fds_for_starts();
    const uint32_t *order = sup_deps_start_order();
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        struct svc *s = &sup.svcs[order[i]];
        if (starts_now(s))
            service_on_event(s, EV_WANT_UP, 0);
    }
    return sum;
}

static void on_persisted_intent(const char *name, bool up, void *ctx)
{
    (void)ctx;
    struct svc *s = svc_find(name);
    if (!s)
        return;
    s->persist_known = true;
    s->persist_up = up;
    log_info("svc=%s event=persisted-intent desired=%s", name, up ? "up" : "down");
}

/* Intents stored with `--persist` override `down` files at start-up. This
 * is the one blocking call of start-up: bounded, in a child process. */
static void load_persisted_intents(void)
{
    enum state_result r = state_service_desired_load(PERSIST_LOAD_TIMEOUT_MS, on_persisted_intent, NULL);
    if (r != STATE_OK)
        log_warn("event=persisted-intents-unavailable result=%d timeout_ms=%d "
                 "reason=\"services follow their down files\"", (int)r, PERSIST_LOAD_TIMEOUT_MS);
}

void sup_scan(bool initial)
{
    load_intents_once = initial && sup.persist_intent;
    struct scan_summary sum = scan(false);
    log_info("event=scan services=%u invalid=%u", sum.total, sum.failed);
}

struct scan_summary sup_reload(void)
{
    struct scan_summary sum = scan(true);
    if (sum.error)
        return sum;
    log_info("event=reload services=%u added=%u removed=%u restarted=%u invalid=%u",
             sum.total, sum.added, sum.removed, sum.restarted, sum.failed);
    return sum;
}

static void slot_free(struct svc *s)
{
    cgroup_remove(s);
    deaths_forget(s->name);
    logger_close_pipe(s);
    if (s->ready_fd >= 0) {
        sup_unwatch_fd(s->ready_fd);
        close(s->ready_fd);
    }
    if (s->removed) {
        BAY0_ASSERT(removed_live > 0);
        removed_live--;
    }
    if (!s->is_logger)
        svc_name_del(s);
    s->in_use = false;
    if ((uint32_t)svc_index(s) < free_hint)
        free_hint = (uint32_t)svc_index(s);
}

/* Frees removed services once nothing of them runs (loggers last). */
void sup_release_removed(void)
{
    if (removed_live == 0) /* every loop iteration: O(1) unless a reload removed some */
        return;
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        struct svc *s = &sup.svcs[i];
        if (!s->in_use || !s->removed || svc_is_running(s))
            continue;
        if (s->is_logger) {
            struct svc *parent = &sup.svcs[s->parent];
            if (parent->in_use && !parent->removed) {
                parent->logger = SVC_NONE;
                logger_use_external(parent, false);
            }
            if (!parent->in_use || !parent->removed)
                slot_free(s);
            continue;
        }
        if (s->logger != SVC_NONE) {
            struct svc *lg = &sup.svcs[s->logger];
            if (!lg->removed)
                logger_detach(s);
            if (svc_is_running(lg))
                continue;
            slot_free(lg);
        }
        slot_free(s);
    }
}
