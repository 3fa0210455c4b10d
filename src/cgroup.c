/* cgroup.c — one cgroup2 directory per service, under a directory of this
 * supervisor's own (CGROUP/bay0.PID.START), so that nothing a service started
 * survives its end: not even a descendant that left the process group
 * with setsid(). A service is born into its cgroup (clone3), and what is
 * left of it when its run dies gets SIGKILL, pid by pid from cgroup.procs.
 *
 * Degrades with one log line where cgroup2 is absent or read-only:
 * services then rely on their process groups alone. Writes only to cgroupfs (in-kernel, never a disk);
 * never allocates; never touches /persist.
 */
#include "cgroup.h"

#include "contain.h"

#include "log.h"
#include "svc.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MOUNTINFO_BYTES_MAX 65536
#define CGROUP_PROCS_BYTES_MAX 65536
#define CGROUP_KILL_ROUNDS 2
#define CGROUP_REMOVE_RETRY_NS (20 * 1000 * 1000)

static char base[CGROUP_PATH_BYTES_MAX];
static int base_fd = -1; /* base, opened once: each start looks up one name, not the path */
static bool enabled;

/* Each cgroup hierarchy in /proc/self/mountinfo: fn(mount point, the text
 * after " - " (type, source, super options), ctx) until fn returns false. */
bool cgroup_each_mount(cgroup_mount_fn fn, void *ctx)
{
    static char info[MOUNTINFO_BYTES_MAX];
    if (file_read_small(AT_FDCWD, "/proc/self/mountinfo", info, sizeof info) < 0)
        return false;
    char *save = NULL;
    for (char *line = strtok_r(info, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sep = strstr(line, " - cgroup");
        char mnt[CGROUP_PATH_BYTES_MAX];
        if (sep == NULL || (strncmp(sep, " - cgroup ", 10) != 0 && strncmp(sep, " - cgroup2 ", 11) != 0))
            continue;
        /* fields: id parent major:minor root mountpoint ... */
        if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1 && !fn(mnt, sep + 3, ctx))
            break;
    }
    return true;
}

struct mount_want {
    const char *type;   /* "cgroup2 " or "cgroup " */
    const char *option; /* a super option it must carry, or NULL */
    char *out;
    size_t size;
    bool found;
};

static bool take_mount(const char *mnt, const char *super, void *ctx)
{
    struct mount_want *w = ctx;
    if (strncmp(super, w->type, strlen(w->type)) != 0 ||
        (w->option != NULL && strstr(super, w->option) == NULL))
        return true;
    w->found = str_copy(w->out, w->size, mnt);
    return false;
}

bool cgroup_mount_with(const char *type, const char *option, char *out, size_t size)
{
    struct mount_want w = {type, option, out, size, false};
    return cgroup_each_mount(take_mount, &w) && w.found;
}

/* The cgroup2 mount point, from /proc/self/mountinfo. */
bool cgroup_find_mount(char *out, size_t size)
{
    return cgroup_mount_with("cgroup2 ", NULL, out, size);
}

static bool rmdir_child(const char *name, unsigned char type, void *ctx)
{
    if (type == DT_DIR)
        (void)unlinkat(*(int *)ctx, name, AT_REMOVEDIR);
    return true;
}

/* Removes DIR's subdirectories, then DIR (a cgroup cannot be removed while
 * it has children); true when DIR is gone or never was. */
static bool remove_with_children(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT;
    (void)dir_each(fd, rmdir_child, &fd);
    close(fd);
    return rmdir(dir) == 0 || errno == ENOENT;
}

struct removal {
    const char *rel;
    bool all_gone;
};

static bool remove_in_mount(const char *mnt, const char *super, void *ctx)
{
    (void)super;
    struct removal *r = ctx;
    char path[CGROUP_PATH_BYTES_MAX * 2];
    if (!str_fmt(path, sizeof path, "%s%s", mnt, r->rel) || !remove_with_children(path))
        r->all_gone = false;
    return true;
}

bool cgroup_remove_everywhere(const char *rel, uint32_t wait_ms)
{
    int64_t until = time_mono_ms() + wait_ms;
    for (;;) {
        struct removal r = {rel, true};
        if (!cgroup_each_mount(remove_in_mount, &r))
            return false;
        if (r.all_gone)
            return true;
        if (time_mono_ms() >= until)
            return false;
        /* v1 has no event for "empty": the processes in it are exiting */
        struct timespec ts = {0, CGROUP_REMOVE_RETRY_NS};
        nanosleep(&ts, NULL);
    }
}

/* This process's cgroup2 path ("0::/PATH" in /proc/self/cgroup). */
bool cgroup_find_own(char *out, size_t size)
{
    char text[4096];
    if (file_read_small(AT_FDCWD, "/proc/self/cgroup", text, sizeof text) < 0)
        return false;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, "0::", 3) == 0)
            return str_copy(out, size, strcmp(line + 3, "/") == 0 ? "" : line + 3);
    return false;
}

/* The controllers the services' limits need (contain.h), enabled for
 * their cgroups where bay0's parent cgroup offers them. One that is not
 * offered stays off: a service that asks for its limit is told then, once. */
static void enable_controllers(void)
{
    static const char *const wanted[] = {"cpu", "io", "memory", "pids"};
    char path[CGROUP_PATH_BYTES_MAX + 32], avail[512];
    if (!str_fmt(path, sizeof path, "%s/cgroup.controllers", base) ||
        file_read_small(AT_FDCWD, path, avail, sizeof avail) <= 0 ||
        !str_fmt(path, sizeof path, "%s/cgroup.subtree_control", base))
        return;
    for (size_t i = 0; i < ARRAY_LEN(wanted); i++) {
        size_t len = strlen(wanted[i]);
        bool offered = false;
        for (const char *p = avail; (p = strstr(p, wanted[i])); p += len)
            offered |= (p == avail || p[-1] == ' ') && strchr(" \n", p[len]);
        if (!offered)
            continue;
        char plus[16];
        snprintf(plus, sizeof plus, "+%s", wanted[i]);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, plus, strlen(plus)) < 0)
            log_warn("event=cgroup-controller-refused controller=%s dir=%s error=\"%s\"", wanted[i],
                     base, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
}

void cgroup_init(void)
{
    char mnt[CGROUP_PATH_BYTES_MAX], own[CGROUP_PATH_BYTES_MAX], probe[CGROUP_PATH_BYTES_MAX + 16];
    const char *why = NULL;
    if (!cgroup_find_mount(mnt, sizeof mnt))
        why = "no cgroup2 mount";
    else if (!cgroup_find_own(own, sizeof own))
        why = "no cgroup2 entry in /proc/self/cgroup";
    /* pid + start time: PID 1s of sibling namespaces all have pid 1 */
    else if (!str_fmt(base, sizeof base, "%s%s/bay0.%d.%llx", mnt, own, (int)getpid(),
                      (unsigned long long)time_mono_us()))
        why = "path too long";
    else if (mkdir(base, 0755) < 0 && errno != EEXIST)
        why = strerror(errno);
    else if (!str_fmt(probe, sizeof probe, "%s/cgroup.procs", base) || access(probe, W_OK) < 0)
        why = "cgroup.procs is not writable";
    if (why) {
        log_warn("event=cgroups-unavailable reason=\"%s\" effect=\"process groups only\"", why);
        return;
    }
    enabled = true;
    base_fd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC); /* -1: absolute paths */
    enable_controllers();
    log_info("event=cgroups dir=%s", base);
}

static bool svc_dir(const struct svc *s, char *out, size_t size)
{
    if (s->is_logger)
        return str_fmt(out, size, "%s/%s@log", base, sup.svcs[s->parent].name);
    return str_fmt(out, size, "%s/%s", base, s->name);
}

/* What each knob needs, and what it is when its file is gone. */
static const struct {
    const char *controller;
    const char *dflt;
} knobs[CONTAIN_KNOBS] = {
    [CONTAIN_MEMORY_MAX] = {"memory", "max"},
    [CONTAIN_MEMORY_SWAP_MAX] = {"memory", "max"},
    [CONTAIN_PIDS_MAX] = {"pids", "max"},
    [CONTAIN_CPU_MAX] = {"cpu", "max 100000"},
    [CONTAIN_CPU_WEIGHT] = {"cpu", "100"},
    [CONTAIN_IO_WEIGHT] = {"io", "default 100"},
};

static bool write_knob(int cgroup_fd, const char *file, const char *value)
{
    int fd = openat(cgroup_fd, file, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = write(fd, value, strlen(value));
    int err = errno;
    close(fd);
    errno = err;
    return n == (ssize_t)strlen(value);
}

/* Whether the service's cgroup has the controller (cgroup.controllers):
 * a knob's file can be missing with its controller on (memory.swap.max
 * without swap accounting, io.weight without a weight-based io policy). */
static bool controller_on(int cgroup_fd, const char *controller)
{
    char avail[512];
    if (file_read_small(cgroup_fd, "cgroup.controllers", avail, sizeof avail) <= 0)
        return false;
    size_t len = strlen(controller);
    for (const char *p = avail; (p = strstr(p, controller)); p += len)
        if ((p == avail || p[-1] == ' ') && strchr(" \n", p[len]))
            return true;
    return false;
}

static void apply_knobs(const char *svc, int cgroup_fd, const struct contain *c)
{
    static bool told[CONTAIN_KNOBS]; /* one line per controller (or knob) */
    static bool told_none;
    for (int k = 0; k < CONTAIN_KNOBS; k++) {
        const char *file = contain_file_names[k];
        if (cgroup_fd < 0) {
            if (c->cg[k][0] && !told_none) {
                told_none = true;
                log_warn("svc=%s event=cgroup-limits-unavailable file=%s "
                         "reason=\"no usable cgroup2\" effect=\"cgroup limits are not applied "
                         "to any service (not repeated)\"",
                         svc, file);
            }
            continue;
        }
        if (write_knob(cgroup_fd, file, c->cg[k][0] ? c->cg[k] : knobs[k].dflt) || !c->cg[k][0])
            continue; /* a default that cannot be written: nothing was asked */
        int err = errno;
        bool missing = err == ENOENT && !controller_on(cgroup_fd, knobs[k].controller);
        bool file_missing = err == ENOENT && !missing;
        int first = k; /* the knobs of a missing controller share one line */
        for (int j = 0; j < k; j++)
            if (missing && strcmp(knobs[j].controller, knobs[k].controller) == 0) {
                first = j;
                break;
            }
        if (told[first])
            continue;
        told[first] = true;
        if (missing)
            log_warn("svc=%s event=cgroup-controller-missing controller=%s file=%s "
                     "effect=\"%s limits are not applied to any service (not repeated); "
                     "enable the controller in the parent cgroup\"",
                     svc, knobs[k].controller, file, knobs[k].controller);
        else if (file_missing)
            log_warn("svc=%s event=cgroup-file-missing controller=%s file=%s "
                     "effect=\"not applied to any service (not repeated); the %s controller "
                     "is on but this kernel has no %s file (%s)\"",
                     svc, knobs[k].controller, file, knobs[k].controller, file,
                     k == CONTAIN_MEMORY_SWAP_MAX ? "no swap accounting: swapaccount=1 or "
                                                    "CONFIG_MEMCG_SWAP"
                                                  : "see the kernel's cgroup-v2 documentation");
        else
            log_warn("svc=%s event=cgroup-limit-refused file=%s value=\"%s\" error=\"%s\" "
                     "effect=\"not applied (not repeated)\"",
                     svc, file, c->cg[k], strerror(err));
    }
}

/* The service's cgroup knobs, from the containment files its start
 * loaded (service.c; spawn.c applies the rest, and refuses the start,
 * naming the file, when one is bad). */
static void apply_limits(const struct svc *s, const struct contain *c, int cgroup_fd)
{
    static bool told_none; /* no cgroup2: one line, then nothing more to do */
    if (!c || (cgroup_fd < 0 && told_none))
        return;
    apply_knobs(s->name, cgroup_fd, c);
    for (int k = 0; cgroup_fd < 0 && k < CONTAIN_KNOBS; k++)
        told_none |= c->cg[k][0] != '\0';
}

int cgroup_prepare(const struct svc *s, const struct contain *c, char *procs, size_t size)
{
    char dir[CGROUP_PATH_BYTES_MAX];
    if (!enabled) {
        apply_limits(s, c, -1);
        return -1;
    }
    if (!svc_dir(s, dir, sizeof dir) || !str_fmt(procs, size, "%s/cgroup.procs", dir))
        return -1;
    int at = base_fd >= 0 ? base_fd : AT_FDCWD;
    const char *path = base_fd >= 0 ? dir + strlen(base) + 1 : dir; /* NAME or NAME@log */
    /* Before the first start the cgroup is (almost surely) not there:
     * make it first, rather than learn that from a failed open. */
    bool first = s->generation == 0;
    int fd = first ? -1 : openat(at, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (first || (fd < 0 && errno == ENOENT)) {
        if (mkdirat(at, path, 0755) < 0 && errno != EEXIST) {
            log_warn("svc=%s event=cgroup-mkdir-failed dir=%s error=\"%s\"", s->name, dir,
                     strerror(errno));
            return -1;
        }
        fd = openat(at, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd >= 0)
        apply_limits(s, c, fd);
    return fd;
}

/* SIGKILL to every pid listed in cgroup.procs, twice over to catch what
 * forked between the read and the kill. Not cgroup.kill: on some kernels a
 * cgroup that was ever killed that way kills every later child born into
 * it with clone3(CLONE_INTO_CGROUP) (its kill sequence never matches), and
 * services are born into their cgroup again at every restart. */
void cgroup_kill(const struct svc *s)
{
    static char procs[CGROUP_PROCS_BYTES_MAX];
    char path[CGROUP_PATH_BYTES_MAX + 16];
    if (!enabled || !svc_dir(s, path, CGROUP_PATH_BYTES_MAX) ||
        !str_fmt(path + strlen(path), sizeof path - strlen(path), "/cgroup.procs"))
        return;
    for (int round = 0; round < CGROUP_KILL_ROUNDS; round++) {
        if (file_read_small(AT_FDCWD, path, procs, sizeof procs) <= 0)
            return;
        for (char *line = procs; *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            uint64_t pid;
            if (parse_u64(line, INT32_MAX, &pid) && pid > 1)
                kill((pid_t)pid, SIGKILL);
            if (!nl)
                break;
            line = nl + 1;
        }
    }
}

void cgroup_remove(const struct svc *s)
{
    char dir[CGROUP_PATH_BYTES_MAX];
    if (enabled && svc_dir(s, dir, sizeof dir) && rmdir(dir) < 0 && errno != ENOENT)
        log_debug("svc=%s event=cgroup-rmdir-failed error=\"%s\"", s->name, strerror(errno));
}

void cgroup_cleanup(void)
{
    if (!enabled)
        return;
    for (uint32_t i = 0; i < sup.used_hi; i++)
        if (sup.svcs[i].in_use)
            cgroup_remove(&sup.svcs[i]);
    if (rmdir(base) < 0 && errno != ENOENT)
        log_warn("event=cgroup-rmdir-failed dir=%s error=\"%s\"", base, strerror(errno));
}

bool cgroup_escape(const char *name)
{
    char mnt[CGROUP_PATH_BYTES_MAX], dir[CGROUP_PATH_BYTES_MAX + 64],
        procs[CGROUP_PATH_BYTES_MAX + 96];
    if (!cgroup_find_mount(mnt, sizeof mnt) ||
        !str_fmt(dir, sizeof dir, "%s/%s", mnt, name) ||
        (mkdir(dir, 0755) < 0 && errno != EEXIST) ||
        !str_fmt(procs, sizeof procs, "%s/cgroup.procs", dir))
        return false;
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char pid[24];
    int n = snprintf(pid, sizeof pid, "%d", (int)getpid());
    bool ok = write(fd, pid, (size_t)n) == n;
    close(fd);
    return ok;
}
