/* freezer.c — validate's freezer check: something burns CPU; it is frozen
 * and its cgroup's CPU time must stop growing; it is thawed and the time
 * must grow again; then it is removed.
 *
 * With podman: a container sys__validate-PID of a busybox image (`sh -c
 * 'while :; do :; done'`), paused and unpaused with podman; its CPU time
 * is read from its cgroup (cpuacct.usage on a v1 cpuacct hierarchy, else
 * cpu.stat usage_usec on cgroup2). Without podman: a child of ours in a
 * cgroup2 directory of our own, frozen with cgroup.freeze — YELLOW, since
 * the container path was not proven.
 *
 * The check process moves itself into CG/bay0-validate.PID/work first, so
 * the podman clients it runs (and conmon, on hybrid hosts) are in a cgroup
 * the guardian can empty if the run is killed halfway.
 *
 * Owns: the test container and the run's cgroups. Runs only in a validate
 * check child or the guardian; never in PID 1's process.
 */
#include "validate.h"

#include "cgroup.h"
#include "exec.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FREEZER_PODMAN_RUN_MS 15000
#define FREEZER_PODMAN_CALL_MS 5000
#define FREEZER_PODMAN_RM_MS 15000
#define FREEZER_GROW_WAIT_MS 3000   /* CPU time must grow within this */
#define FREEZER_STILL_MS 200        /* and stay still this long when frozen */
#define FREEZER_STILL_TRIES 2       /* a sample taken as the freeze lands */
#define FREEZER_POLL_MS 10
#define FREEZER_EMPTY_WAIT_MS 2000  /* a killed cgroup empties within this */
#define FREEZER_SMALL_BYTES 4096
#define FREEZER_OUT_BYTES 512
#define FREEZER_ERR_BYTES 1024

static const char *const sub_dirs[] = {"work", "burn"};

static void pause_ms(int ms)
{
    (void)poll(NULL, 0, ms);
}

static bool write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok;
}

/* ---- CPU time of a cgroup ---------------------------------------------- */

struct cpu_src {
    char path[VALIDATE_PATH_BYTES_MAX];
    bool v1_ns; /* cpuacct.usage in ns, else cpu.stat usage_usec */
};

static bool cpu_read_us(const struct cpu_src *src, uint64_t *us)
{
    char text[FREEZER_SMALL_BYTES];
    if (file_read_small(AT_FDCWD, src->path, text, sizeof text) < 0)
        return false;
    if (src->v1_ns) {
        uint64_t ns;
        if (!parse_u64(text, UINT64_MAX, &ns))
            return false;
        *us = ns / 1000;
        return true;
    }
    const char *p = strstr(text, "usage_usec ");
    if (p == NULL)
        return false;
    return sscanf(p + 11, "%" SCNu64, us) == 1;
}

/* The mount point of the v1 hierarchy that carries cpuacct, if any. */
static bool v1_cpuacct_mount(char *out, size_t size)
{
    return cgroup_mount_with("cgroup ", "cpuacct", out, size);
}

/* Where pid's CPU time is counted: its v1 cpuacct cgroup when the host
 * has one (hybrid), else its cgroup2 directory. */
static bool cpu_src_of_pid(pid_t pid, struct cpu_src *src)
{
    char path[64], text[FREEZER_SMALL_BYTES], mnt[VALIDATE_PATH_BYTES_MAX];
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    if (file_read_small(AT_FDCWD, path, text, sizeof text) < 0)
        return false;
    const char *v2 = NULL;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL)
            continue;
        *c2 = '\0';
        if (strcmp(line, "0:") == 0)
            v2 = c2 + 1;
        else if (strstr(c1 + 1, "cpuacct") != NULL && v1_cpuacct_mount(mnt, sizeof mnt)) {
            src->v1_ns = true;
            return str_fmt(src->path, sizeof src->path, "%s%s/cpuacct.usage", mnt, c2 + 1);
        }
    }
    if (v2 == NULL || !cgroup_find_mount(mnt, sizeof mnt))
        return false;
    src->v1_ns = false;
    return str_fmt(src->path, sizeof src->path, "%s%s/cpu.stat", mnt,
                   strcmp(v2, "/") == 0 ? "" : v2);
}

/* Wait until the CPU time grows past *us (updated). */
static bool cpu_grows(const struct cpu_src *src, uint64_t *us)
{
    uint64_t start = *us;
    int64_t deadline = time_mono_ms() + FREEZER_GROW_WAIT_MS;
    while (time_mono_ms() < deadline) {
        pause_ms(FREEZER_POLL_MS);
        if (cpu_read_us(src, us) && *us > start)
            return true;
    }
    return false;
}

/* Frozen: two samples FREEZER_STILL_MS apart are equal (one retry: the
 * first sample may be taken as the last tick is being accounted). */
static bool cpu_still(const struct cpu_src *src, uint64_t *grew_us)
{
    uint64_t a = 0, b = 0;
    for (int i = 0; i < FREEZER_STILL_TRIES; i++) {
        if (!cpu_read_us(src, &a))
            return false;
        pause_ms(FREEZER_STILL_MS);
        if (!cpu_read_us(src, &b))
            return false;
        if (a == b)
            return true;
    }
    *grew_us = b - a;
    return false;
}

static enum validate_level fail(char *reason, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum validate_level fail(char *reason, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, size, fmt, ap);
    va_end(ap);
    return VALIDATE_RED;
}

/* The freeze / still / thaw / grows sequence, with the two actions given. */
typedef bool (*freeze_fn)(const void *ctx, bool frozen, char *why, size_t size);

static enum validate_level freeze_cycle(const struct cpu_src *src, freeze_fn fn,
                                        const void *ctx, char *reason, size_t size)
{
    uint64_t us = 0, grew = 0;
    char why[VALIDATE_REASON_BYTES_MAX] = "";
    if (!cpu_read_us(src, &us))
        return fail(reason, size, "cannot read CPU time from %s", src->path);
    if (!cpu_grows(src, &us))
        return fail(reason, size, "the load used no CPU in %d ms (%s)",
                    FREEZER_GROW_WAIT_MS, src->path);
    if (!fn(ctx, true, why, sizeof why))
        return fail(reason, size, "freeze failed: %s", why);
    if (!cpu_still(src, &grew)) {
        (void)fn(ctx, false, why, sizeof why);
        return fail(reason, size, "CPU time still grew while frozen (+%" PRIu64
                    " us in %d ms, %s)", grew, FREEZER_STILL_MS, src->path);
    }
    if (!fn(ctx, false, why, sizeof why))
        return fail(reason, size, "thaw failed: %s", why);
    if (!cpu_read_us(src, &us) || !cpu_grows(src, &us))
        return fail(reason, size, "CPU time did not grow again within %d ms "
                    "of the thaw (%s)", FREEZER_GROW_WAIT_MS, src->path);
    return VALIDATE_GREEN;
}

/* ---- cgroups of the run ------------------------------------------------- */

static bool sub_path(char *out, size_t size, const char *base, const char *sub,
                     const char *file)
{
    if (sub == NULL)
        return str_fmt(out, size, "%s/%s", base, file);
    return str_fmt(out, size, "%s/%s/%s", base, sub, file);
}

/* Move this process into CG/base/SUB (made if missing). */
static bool join_sub(const char *base, const char *sub, char *why, size_t size)
{
    char dir[VALIDATE_PATH_BYTES_MAX], procs[VALIDATE_PATH_BYTES_MAX];
    if (!str_fmt(dir, sizeof dir, "%s/%s", base, sub) ||
        !sub_path(procs, sizeof procs, base, sub, "cgroup.procs"))
        return reason_fail(why, size, "cgroup path too long");
    if ((mkdir(base, 0755) != 0 && errno != EEXIST) ||
        (mkdir(dir, 0755) != 0 && errno != EEXIST))
        return reason_fail(why, size, "cannot make %s: %s", dir, strerror(errno));
    if (!write_text(procs, "0"))
        return reason_fail(why, size, "cannot join %s: %s", dir, strerror(errno));
    return true;
}

/* Back to where this process started (so the run's cgroups can go). */
static void leave_sub(void)
{
    char mnt[VALIDATE_PATH_BYTES_MAX], own[VALIDATE_PATH_BYTES_MAX];
    char procs[VALIDATE_PATH_BYTES_MAX * 2 + 32];
    if (!cgroup_find_mount(mnt, sizeof mnt) || !cgroup_find_own(own, sizeof own))
        return;
    /* own is now BASE/work: its parent's parent is where we came from */
    for (int i = 0; i < 2; i++) {
        char *slash = strrchr(own, '/');
        if (slash == NULL)
            return;
        *slash = '\0';
    }
    if (str_fmt(procs, sizeof procs, "%s%s/cgroup.procs", mnt, own))
        (void)write_text(procs, "0");
}

static bool cgroup_empty(const char *procs)
{
    char text[FREEZER_SMALL_BYTES];
    return file_read_small(AT_FDCWD, procs, text, sizeof text) >= 0 &&
           str_rstrip(text) == 0;
}

static void kill_listed(const char *procs)
{
    char text[FREEZER_SMALL_BYTES];
    if (file_read_small(AT_FDCWD, procs, text, sizeof text) < 0)
        return;
    for (char *t = strtok(text, "\n"); t; t = strtok(NULL, "\n")) {
        uint64_t pid;
        if (parse_u64(t, INT32_MAX, &pid) && pid > 1 && (pid_t)pid != getpid())
            kill((pid_t)pid, SIGKILL);
    }
}

/* Thaw, SIGKILL every pid in it, wait until it is empty, remove it. */
static void sub_remove(const char *base, const char *sub)
{
    char dir[VALIDATE_PATH_BYTES_MAX], procs[VALIDATE_PATH_BYTES_MAX],
        freeze[VALIDATE_PATH_BYTES_MAX];
    if (!(sub ? str_fmt(dir, sizeof dir, "%s/%s", base, sub)
              : str_copy(dir, sizeof dir, base)) ||
        !sub_path(procs, sizeof procs, base, sub, "cgroup.procs") ||
        !sub_path(freeze, sizeof freeze, base, sub, "cgroup.freeze"))
        return;
    if (access(dir, F_OK) != 0)
        return;
    (void)write_text(freeze, "0");
    int64_t deadline = time_mono_ms() + FREEZER_EMPTY_WAIT_MS;
    while (!cgroup_empty(procs) && time_mono_ms() < deadline) {
        kill_listed(procs);
        pause_ms(FREEZER_POLL_MS);
    }
    while (rmdir(dir) != 0 && errno == EBUSY && time_mono_ms() < deadline)
        pause_ms(FREEZER_POLL_MS);
}

void freezer_cgroups_remove(const char *base)
{
    for (size_t i = 0; i < ARRAY_LEN(sub_dirs); i++)
        sub_remove(base, sub_dirs[i]);
    sub_remove(base, NULL);
}

/* ---- with podman --------------------------------------------------------- */

static bool podman(const char *what, uint32_t deadline_ms, char *out, size_t out_size,
                   char *why, size_t why_size, const char *arg, ...)
{
    struct exec_argv a;
    exec_argv_init(&a);
    exec_argv_podman(&a);
    va_list ap;
    va_start(ap, arg);
    for (const char *s = arg; s != NULL; s = va_arg(ap, const char *))
        exec_argv_add(&a, s);
    va_end(ap);
    char err_text[FREEZER_ERR_BYTES];
    struct exec_buf ob = {.data = out, .cap = out_size};
    struct exec_buf eb = EXEC_BUF(err_text);
    struct exec_result r;
    if (exec_run(&a, deadline_ms, what, "validate freezer", out ? &ob : NULL, &eb, &r))
        return true;
    char res[96];
    exec_result_text(&r, deadline_ms, res, sizeof res);
    str_rstrip(err_text);
    const char *tail = strrchr(err_text, '\n');
    return reason_fail(why, why_size, "podman %s: %s%s%s", arg, res,
                       err_text[0] ? ": " : "", tail ? tail + 1 : err_text);
}

static bool podman_freeze(const void *ctx, bool frozen, char *why, size_t size)
{
    const char *name = ctx;
    return podman(frozen ? "podman-pause" : "podman-unpause", FREEZER_PODMAN_CALL_MS,
                  NULL, 0, why, size, frozen ? "pause" : "unpause", name, NULL);
}

void freezer_container_remove(const char *name)
{
    char why[VALIDATE_REASON_BYTES_MAX];
    (void)podman("podman-rm", FREEZER_PODMAN_RM_MS, NULL, 0, why, sizeof why, "rm",
                 "-f", "-t", "0", name, NULL);
}

static enum validate_level freezer_podman(const struct validate_env *env,
                                          char *reason, size_t size)
{
    char out[FREEZER_OUT_BYTES], why[VALIDATE_REASON_BYTES_MAX], label[64];
    snprintf(label, sizeof label, "bay0.validate=%d", (int)env->main_pid);
    if (!podman("podman-run", FREEZER_PODMAN_RUN_MS, out, sizeof out, why, sizeof why,
                "run", "-d", "--pull=never", "--network", "none", "--label", label,
                "--name", env->container, env->image, "sh", "-c",
                "while :; do :; done", NULL))
        return fail(reason, size, "%s", why);
    enum validate_level l = VALIDATE_RED;
    uint64_t pid = 0;
    struct cpu_src src;
    if (!podman("podman-inspect", FREEZER_PODMAN_CALL_MS, out, sizeof out, why,
                sizeof why, "inspect", "--format", "{{.State.Pid}}", env->container,
                NULL))
        fail(reason, size, "%s", why);
    else if (!parse_u64(out, INT32_MAX, &pid) || pid == 0)
        fail(reason, size, "podman inspect gave no pid for %s", env->container);
    else if (!cpu_src_of_pid((pid_t)pid, &src))
        fail(reason, size, "no cgroup CPU time for %s (pid %" PRIu64 ")",
             env->container, pid);
    else
        l = freeze_cycle(&src, podman_freeze, env->container, reason, size);
    bool removed = podman("podman-rm", FREEZER_PODMAN_RM_MS, NULL, 0, why, sizeof why,
                          "rm", "-f", "-t", "0", env->container, NULL);
    if (l == VALIDATE_GREEN && !removed)
        return fail(reason, size, "%s", why);
    if (l == VALIDATE_GREEN)
        snprintf(reason, size, "podman paused and unpaused %s (%s): CPU time "
                 "stopped and resumed", env->container, env->image);
    return l;
}

/* ---- without podman: a child in a cgroup of our own --------------------- */

static bool cgroup_freeze(const void *ctx, bool frozen, char *why, size_t size)
{
    const char *dir = ctx;
    char path[VALIDATE_PATH_BYTES_MAX];
    if (!str_fmt(path, sizeof path, "%s/cgroup.freeze", dir) ||
        !write_text(path, frozen ? "1" : "0"))
        return reason_fail(why, size, "cannot write %s: %s", path, strerror(errno));
    if (!frozen)
        return true;
    char events[VALIDATE_PATH_BYTES_MAX], text[FREEZER_SMALL_BYTES];
    if (!str_fmt(events, sizeof events, "%s/cgroup.events", dir))
        return reason_fail(why, size, "path too long");
    int64_t deadline = time_mono_ms() + FREEZER_GROW_WAIT_MS;
    while (time_mono_ms() < deadline) {
        if (file_read_small(AT_FDCWD, events, text, sizeof text) >= 0 &&
            strstr(text, "frozen 1") != NULL)
            return true;
        pause_ms(FREEZER_POLL_MS);
    }
    return reason_fail(why, size, "%s never said frozen", events);
}

static pid_t burner_start(const char *procs)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent || !write_text(procs, "0"))
        _exit(1);
    for (volatile uint64_t n = 0;; n++)
        ;
}

static enum validate_level freezer_cgroup(const struct validate_env *env,
                                          char *reason, size_t size)
{
    char dir[VALIDATE_PATH_BYTES_MAX];
    struct cpu_src src = {.v1_ns = false};
    char procs[VALIDATE_PATH_BYTES_MAX];
    if (!str_fmt(dir, sizeof dir, "%s/burn", env->cgroup_base) ||
        !str_fmt(src.path, sizeof src.path, "%s/cpu.stat", dir) ||
        !str_fmt(procs, sizeof procs, "%s/cgroup.procs", dir))
        return fail(reason, size, "cgroup path too long: %s", env->cgroup_base);
    if ((mkdir(env->cgroup_base, 0755) != 0 && errno != EEXIST) ||
        (mkdir(dir, 0755) != 0 && errno != EEXIST))
        return fail(reason, size, "no podman, and cannot make %s: %s", dir,
                    strerror(errno));
    pid_t pid = burner_start(procs);
    enum validate_level l = pid < 0
        ? fail(reason, size, "fork: %s", strerror(errno))
        : freeze_cycle(&src, cgroup_freeze, dir, reason, size);
    if (pid > 0) {
        kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
    }
    freezer_cgroups_remove(env->cgroup_base);
    if (l != VALIDATE_GREEN)
        return l;
    snprintf(reason, size, "podman is not installed: froze and thawed a child "
             "in %s instead (the container path is untested)", dir);
    return VALIDATE_YELLOW;
}

enum validate_level validate_check_freezer(const struct validate_env *env,
                                           char *reason, size_t size)
{
    if (env->cgroup_base[0] == '\0')
        return fail(reason, size, "no writable cgroup2 hierarchy to run the test in");
    if (!env->podman)
        return freezer_cgroup(env, reason, size);
    char why[VALIDATE_REASON_BYTES_MAX];
    if (!join_sub(env->cgroup_base, "work", why, sizeof why))
        return fail(reason, size, "%s", why);
    enum validate_level l = freezer_podman(env, reason, size);
    leave_sub();
    freezer_cgroups_remove(env->cgroup_base);
    return l;
}
