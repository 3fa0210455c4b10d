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

#include "log.h"
#include "svc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MOUNTINFO_BYTES_MAX 65536
#define CGROUP_PROCS_BYTES_MAX 65536
#define CGROUP_KILL_ROUNDS 2

static char base[CGROUP_PATH_BYTES_MAX];
static bool enabled;

/* The cgroup2 mount point, from /proc/self/mountinfo. */
bool cgroup_find_mount(char *out, size_t size)
{
    static char info[MOUNTINFO_BYTES_MAX];
    if (file_read_small(AT_FDCWD, "/proc/self/mountinfo", info, sizeof info) < 0)
        return false;
    for (char *line = strtok(info, "\n"); line; line = strtok(NULL, "\n")) {
        char *sep = strstr(line, " - cgroup2 ");
        if (!sep)
            continue;
        char mnt[CGROUP_PATH_BYTES_MAX];
        /* fields: id parent major:minor root mountpoint ... */
        if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1)
            return str_copy(out, size, mnt);
    }
    return false;
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
    log_info("event=cgroups dir=%s", base);
}

static bool svc_dir(const struct svc *s, char *out, size_t size)
{
    if (s->is_logger)
        return str_fmt(out, size, "%s/%s@log", base, sup.svcs[s->parent].name);
    return str_fmt(out, size, "%s/%s", base, s->name);
}

int cgroup_prepare(const struct svc *s, char *procs, size_t size)
{
    char dir[CGROUP_PATH_BYTES_MAX];
    if (!enabled || !svc_dir(s, dir, sizeof dir) ||
        !str_fmt(procs, size, "%s/cgroup.procs", dir))
        return -1;
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) { /* first spawn of this service */
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            log_warn("svc=%s event=cgroup-mkdir-failed dir=%s error=\"%s\"", s->name, dir,
                     strerror(errno));
            return -1;
        }
        fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
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
