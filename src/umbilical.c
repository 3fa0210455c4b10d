/* umbilical.c — a verified line to a system tenant's socket (umbilical.h).
 *
 * Owns: the peer check (SO_PEERCRED pid against the container podman
 * reports) and one request/reply. Every refusal is one warn line naming
 * the socket, the peer pid and its command name. Never runs in PID 1's
 * loop; never touches /persist.
 *
 * The container's pid is learned once per container start, not once per
 * check: after a `podman inspect` that verified a peer, the pid and its
 * start time go to a cache file beside the socket's directory
 * (RUNDIR/tenants/CONTAINER.pid for RUNDIR/tenants/ai/ai.sock: not the
 * directory the tenant and the personas get mounted). A check trusts it
 * only while that process lives (same pid, same start time in /proc) and
 * when the file and its directory are root's (or ours) and writable by no
 * one else; a peer the cached pid does not explain gets a fresh inspect
 * before it is refused. So podman is asked again only after the container
 * changed, and every check of a running tenant costs no podman call.
 */
#include "umbilical.h"

#include "exec.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define UMBILICAL_PROC_BYTES 4096
#define UMBILICAL_INSPECT_MS 5000

static pid_t parent_of(const char *proc_root, pid_t pid)
{
    char path[128], text[UMBILICAL_PROC_BYTES];
    snprintf(path, sizeof path, "%s/%d/stat", proc_root, (int)pid);
    if (file_read_small(AT_FDCWD, path, text, sizeof text) < 0)
        return -1;
    const char *rp = strrchr(text, ')'); /* comm may hold spaces */
    int ppid;
    if (rp == NULL || sscanf(rp + 1, " %*c %d", &ppid) != 1)
        return -1;
    return (pid_t)ppid;
}

static bool cgroup2_of(const char *proc_root, pid_t pid, char *out, size_t size)
{
    char path[128], text[UMBILICAL_PROC_BYTES];
    snprintf(path, sizeof path, "%s/%d/cgroup", proc_root, (int)pid);
    if (file_read_small(AT_FDCWD, path, text, sizeof text) < 0)
        return false;
    for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n"))
        if (strncmp(l, "0::", 3) == 0)
            return str_copy(out, size, l + 3);
    return false;
}

bool umbilical_peer_descends(const char *proc_root, pid_t peer, pid_t root)
{
    if (peer <= 0 || root <= 1)
        return false;
    pid_t p = peer;
    for (int i = 0; i < UMBILICAL_ANCESTRY_MAX && p > 1; i++) {
        if (p == root)
            return true;
        p = parent_of(proc_root, p);
    }
    return false;
}

bool umbilical_peer_belongs(const char *proc_root, pid_t peer, pid_t ctr)
{
    if (peer <= 0 || ctr <= 1)
        return false;
    if (umbilical_peer_descends(proc_root, peer, ctr))
        return true;
    char a[1024], b[1024];
    return cgroup2_of(proc_root, peer, a, sizeof a) &&
           cgroup2_of(proc_root, ctr, b, sizeof b) && strcmp(a, "/") != 0 &&
           strcmp(a, b) == 0;
}

/* Field 22 of /proc/PID/stat (the start time in clock ticks), 0 if gone. */
static unsigned long long start_time(pid_t pid)
{
    char path[64], text[UMBILICAL_PROC_BYTES];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (file_read_small(AT_FDCWD, path, text, sizeof text) < 0)
        return 0;
    char *p = strrchr(text, ')'); /* comm may hold spaces */
    for (int field = 2; p != NULL && field < 22; field++) /* to the space before 22 */
        p = strchr(p + 1, ' ');
    unsigned long long t;
    return p != NULL && sscanf(p, " %llu", &t) == 1 ? t : 0;
}

/* RUNDIR/tenants/CONTAINER.pid for RUNDIR/tenants/ai/ai.sock. */
static bool cache_path(const char *sock_path, const char *container, char *out, size_t size)
{
    char dir[UMBILICAL_PROC_BYTES];
    if (!str_copy(dir, sizeof dir, sock_path))
        return false;
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(dir, '/');
        if (slash == NULL || slash == dir)
            return false;
        *slash = '\0';
    }
    return str_fmt(out, size, "%s/%s.pid", dir, container);
}

/* Only root (or we) could have written it: a regular file and its
 * directory, owned by root or our euid, writable by no one else. */
static bool trusted(const struct stat *st)
{
    return (st->st_uid == 0 || st->st_uid == geteuid()) && (st->st_mode & 022) == 0;
}

static pid_t cached_pid(const char *path)
{
    char dir[UMBILICAL_PROC_BYTES], text[64];
    struct stat st, dst;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -1;
    ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, text, sizeof text - 1)
                                                            : -1;
    close(fd);
    str_copy(dir, sizeof dir, path);
    *strrchr(dir, '/') = '\0';
    unsigned long long t;
    int pid;
    if (n <= 0 || !trusted(&st) || stat(dir, &dst) != 0 || !trusted(&dst))
        return -1;
    text[n] = '\0';
    if (sscanf(text, "%d %llu", &pid, &t) != 2 || pid <= 1 || start_time(pid) != t)
        return -1;
    return (pid_t)pid;
}

static void cache_pid(const char *path, pid_t pid)
{
    char text[64];
    unsigned long long t = start_time(pid);
    snprintf(text, sizeof text, "%d %llu\n", (int)pid, t);
    if (t != 0) /* not ours to write (a user's validate): the next root check will */
        (void)file_replace(path, text);
}

static pid_t container_pid(const char *container, char *reason, size_t size)
{
    struct exec_argv a;
    exec_argv_init(&a);
    exec_argv_podman(&a);
    exec_argv_add(&a, "inspect");
    exec_argv_add(&a, "--format");
    exec_argv_add(&a, "{{.State.Pid}}");
    exec_argv_add(&a, container);
    char out[64], err[512];
    struct exec_buf ob = EXEC_BUF(out), eb = EXEC_BUF(err);
    struct exec_result r;
    uint64_t pid;
    if (!exec_run(&a, UMBILICAL_INSPECT_MS, "podman-inspect", "umbilical peer check", &ob,
                  &eb, &r) ||
        !parse_u64(out, INT32_MAX, &pid) || pid == 0) {
        reason_fail(reason, size, "podman knows no running container %s", container);
        return -1;
    }
    return (pid_t)pid;
}

int umbilical_connect(const char *sock_path, char *reason, size_t size)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (!str_copy(addr.sun_path, sizeof addr.sun_path, sock_path)) {
        reason_fail(reason, size, "socket path too long: %s", sock_path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        reason_fail(reason, size, "cannot connect to %s: %s", sock_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

void umbilical_comm(pid_t pid, char *out, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    if (file_read_small(AT_FDCWD, path, out, size) < 0)
        str_copy(out, size, "?");
    str_rstrip(out);
}

/* Send request, read one line with a deadline. */
static bool round_trip(int fd, const char *request, int64_t deadline_ms, char *reply,
                       size_t size, char *reason, size_t reason_size)
{
    char line[UMBILICAL_REPLY_BYTES_MAX];
    int n = snprintf(line, sizeof line, "%s\n", request);
    if (n < 0 || (size_t)n >= sizeof line || fd_write_all(fd, line, (size_t)n) != 0)
        return reason_fail(reason, reason_size, "cannot send the request: %s",
                           strerror(errno));
    size_t len = 0;
    while (len + 1 < size) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline_ms - time_mono_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return reason_fail(reason, reason_size, "no reply to '%s' in time", request);
        ssize_t r = read(fd, reply + len, 1);
        if (r <= 0)
            return reason_fail(reason, reason_size, "the tenant closed the connection");
        if (reply[len] == '\n') {
            reply[len] = '\0';
            return true;
        }
        len++;
    }
    return reason_fail(reason, reason_size, "reply longer than %zu bytes", size);
}

enum umbilical_result umbilical_ask(const char *sock_path, const char *container,
                                    const char *request, uint32_t timeout_ms,
                                    char *reply, size_t reply_size, pid_t *peer_out,
                                    char *reason, size_t reason_size)
{
    reply[0] = '\0';
    int fd = umbilical_connect(sock_path, reason, reason_size);
    if (fd < 0)
        return UMBILICAL_NO_SOCKET;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        reason_fail(reason, reason_size, "SO_PEERCRED on %s: %s", sock_path, strerror(errno));
        close(fd);
        return UMBILICAL_ERROR;
    }
    if (peer_out != NULL)
        *peer_out = cred.pid;
    char cache[UMBILICAL_PROC_BYTES];
    bool cacheable = cache_path(sock_path, container, cache, sizeof cache);
    pid_t ctr = cacheable ? cached_pid(cache) : -1;
    if (ctr < 0 || !umbilical_peer_belongs("/proc", cred.pid, ctr)) {
        ctr = container_pid(container, reason, reason_size);
        if (ctr < 0) {
            close(fd);
            return UMBILICAL_NO_TENANT;
        }
        if (cacheable && umbilical_peer_belongs("/proc", cred.pid, ctr))
            cache_pid(cache, ctr);
    }
    if (!umbilical_peer_belongs("/proc", cred.pid, ctr)) {
        char comm[64];
        umbilical_comm(cred.pid, comm, sizeof comm);
        reason_fail(reason, reason_size, "impostor refused: %s is served by pid %d (%s), "
                    "not by container %s (pid %d)", sock_path, (int)cred.pid, comm,
                    container, (int)ctr);
        log_warn("event=impostor-refused socket=%s peer_pid=%d peer_comm=%s "
                 "container=%s container_pid=%d", sock_path, (int)cred.pid, comm, container,
                 (int)ctr);
        close(fd);
        return UMBILICAL_IMPOSTOR;
    }
    /* The request's own deadline starts once the peer is verified: the
     * podman inspect behind the peer check has its own (UMBILICAL_INSPECT_MS)
     * and takes seconds under emulation. */
    int64_t deadline_ms = time_mono_ms() + timeout_ms;
    bool ok = round_trip(fd, request, deadline_ms, reply, reply_size, reason, reason_size);
    close(fd);
    return ok ? UMBILICAL_OK : UMBILICAL_ERROR;
}
