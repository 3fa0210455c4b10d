/* mount.c — the persist device: found by ext4 label (superblocks read
 * directly) or named on the command line, mounted in a forked child that
 * the caller waits for with a hard deadline. See mount.h.
 *
 * Owns: device detection and the mount / unmount of the persist file
 * system. Must never: touch a device from the caller's process (only the
 * child reads superblocks or calls mount(2)), or wait without a deadline.
 */
#include "state/mount.h"

#include "log.h"
#include "state/state.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SB_OFFSET_BYTES 1024
#define SB_MAGIC_OFFSET 0x38
#define SB_LABEL_OFFSET 0x78
#define SB_LABEL_BYTES 16
#define SB_EXT_MAGIC 0xEF53
#define SB_BLOCK_BYTES 2048
#define PERSIST_RESCAN_MS 50 /* child only: devices appear asynchronously */
#define PERSIST_MSG_BYTES_MAX 256
#define SYSFS_BLOCK_DIR "/sys/class/block"

bool persist_sb_has_label(const unsigned char *block, size_t len,
                          const char *label)
{
    if (len < SB_OFFSET_BYTES + SB_LABEL_OFFSET + SB_LABEL_BYTES)
        return false;
    const unsigned char *sb = block + SB_OFFSET_BYTES;
    unsigned magic = sb[SB_MAGIC_OFFSET] | (unsigned)sb[SB_MAGIC_OFFSET + 1] << 8;
    if (magic != SB_EXT_MAGIC)
        return false;
    size_t n = strlen(label);
    if (n == 0 || n > SB_LABEL_BYTES)
        return false;
    const char *got = (const char *)sb + SB_LABEL_OFFSET;
    return memcmp(got, label, n) == 0 && (n == SB_LABEL_BYTES || got[n] == '\0');
}

struct scan_ctx {
    const char *label;
    char *dev;
    size_t dev_size;
    bool found;
};

static bool scan_one(const char *name, unsigned char d_type, void *vctx)
{
    (void)d_type;
    struct scan_ctx *c = vctx;
    char path[PERSIST_DEV_BYTES_MAX], buf[32];
    /* Empty devices (unused loop/ram devices, an empty CD drive) cannot
     * hold a file system; skipping them also avoids opening them. */
    if (!str_fmt(path, sizeof path, SYSFS_BLOCK_DIR "/%s/size", name) ||
        file_read_small(AT_FDCWD, path, buf, sizeof buf) <= 0 ||
        strtoull(buf, NULL, 10) == 0)
        return true;
    if (!str_fmt(path, sizeof path, "/dev/%s", name))
        return true;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return true;
    unsigned char block[SB_BLOCK_BYTES];
    ssize_t n = pread(fd, block, sizeof block, 0);
    close(fd);
    if (n == (ssize_t)sizeof block &&
        persist_sb_has_label(block, sizeof block, c->label)) {
        c->found = str_copy(c->dev, c->dev_size, path);
        return !c->found;
    }
    return true;
}

static bool find_by_label(const char *label, char *dev, size_t dev_size)
{
    int dfd = open(SYSFS_BLOCK_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return false;
    struct scan_ctx c = {.label = label, .dev = dev, .dev_size = dev_size};
    (void)dir_each(dfd, scan_one, &c);
    close(dfd);
    return c.found;
}

/* One message line to the parent: "WORD[ A[ B]]\n". */
static void child_say(int fd, const char *word, const char *a, const char *b)
{
    char msg[PERSIST_MSG_BYTES_MAX];
    if (str_fmt(msg, sizeof msg, "%s%s%s%s%s\n", word, a ? " " : "",
                a ? a : "", b ? " " : "", b ? b : ""))
        (void)fd_write_all(fd, msg, strlen(msg));
}

/* The child: find the device (retrying until killed: the parent owns the
 * deadline), report it, mount it, report the result. */
static _Noreturn void persist_child(int fd, const struct persist_request *req,
                                    const char *label, const char *mp)
{
    char dev[PERSIST_DEV_BYTES_MAX];
    const char *how = NULL;
    struct timespec pause_ts = {0, PERSIST_RESCAN_MS * 1000000L};
    while (!how) {
        if (find_by_label(label, dev, sizeof dev))
            how = "label";
        else if (req->fallback_dev && req->fallback_dev[0] &&
                 access(req->fallback_dev, F_OK) == 0 &&
                 str_copy(dev, sizeof dev, req->fallback_dev))
            how = "cmdline";
        else
            nanosleep(&pause_ts, NULL);
    }
    child_say(fd, "dev", dev, how);
    (void)mkdir(mp, 0755);
    if (mount(dev, mp, PERSIST_FSTYPE, MS_NOATIME, "") == 0) {
        child_say(fd, "ok", NULL, NULL);
        _exit(0);
    }
    char err[16];
    snprintf(err, sizeof err, "%d", errno);
    child_say(fd, "err", err, NULL);
    _exit(1);
}

/* Handle one complete message line from the child. Returns true when the
 * attempt is over (mounted or failed). */
static bool on_child_line(char *line, persist_attempt_fn fn, void *ctx,
                          struct persist_result *res)
{
    if (strncmp(line, "dev ", 4) == 0) {
        char *how = strrchr(line + 4, ' ');
        if (!how)
            return false;
        *how++ = '\0';
        str_copy(res->dev, sizeof res->dev, line + 4);
        res->how = strcmp(how, "label") == 0 ? "label" : "cmdline";
        if (fn)
            fn(res->dev, res->how, ctx);
        return false;
    }
    if (strcmp(line, "ok") == 0) {
        res->outcome = PERSIST_MOUNTED;
        return true;
    }
    if (strncmp(line, "err ", 4) == 0) {
        res->outcome = PERSIST_FAILED;
        res->error = atoi(line + 4);
        return true;
    }
    return false;
}

/* Read the child's messages until it is done or the deadline passes. */
static void wait_child_msgs(int fd, int64_t deadline_ms, persist_attempt_fn fn,
                            void *ctx, struct persist_result *res)
{
    char buf[PERSIST_MSG_BYTES_MAX];
    size_t used = 0;
    for (;;) {
        int64_t left_ms = deadline_ms - time_mono_ms();
        if (left_ms <= 0)
            return;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        ssize_t n = read(fd, buf + used, sizeof buf - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the child died without a verdict */
        used += (size_t)n;
        buf[used] = '\0';
        char *nl;
        while ((nl = strchr(buf, '\n'))) {
            *nl = '\0';
            bool over = on_child_line(buf, fn, ctx, res);
            size_t rest = used - (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, rest + 1);
            used = rest;
            if (over)
                return;
        }
        if (used >= sizeof buf - 1)
            used = 0; /* garbage without newline: drop it */
    }
}

void persist_mount(const struct persist_request *req, persist_attempt_fn fn,
                   void *ctx, struct persist_result *res)
{
    int64_t t0 = time_mono_ms();
    uint32_t timeout_ms = req->timeout_ms ? req->timeout_ms
                                          : PERSIST_TIMEOUT_MS_DEFAULT;
    memset(res, 0, sizeof *res);
    res->outcome = PERSIST_TIMEOUT;
    res->how = "none";
    res->mountpoint = req->mountpoint ? req->mountpoint
                                      : state_persist_mountpoint();
    const char *label = req->label && req->label[0] ? req->label
                                                    : PERSIST_LABEL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        res->outcome = PERSIST_FAILED;
        res->error = errno;
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_signals_reset(false);
        persist_child(fds[1], req, label, res->mountpoint);
    }
    close(fds[1]);
    if (pid < 0) {
        res->outcome = PERSIST_FAILED;
        res->error = errno;
        close(fds[0]);
        return;
    }
    wait_child_msgs(fds[0], t0 + timeout_ms, fn, ctx, res);
    close(fds[0]);
    if (waitpid(pid, NULL, WNOHANG) != pid) {
        /* Still busy (searching, or stuck in D state on the device): kill
         * it; if it cannot die now, a later reap collects it. */
        kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, WNOHANG);
    }
    res->elapsed_ms = time_mono_ms() - t0;
}

bool persist_is_mounted(const char *mountpoint)
{
    char parent[STATE_PATH_BYTES_MAX];
    if (!str_fmt(parent, sizeof parent, "%s/..", mountpoint))
        return false;
    struct stat a, b;
    if (stat(mountpoint, &a) != 0 || stat(parent, &b) != 0)
        return false;
    return a.st_dev != b.st_dev;
}

static int child_unmount(void *vmp)
{
    const char *mp = vmp;
    if (umount2(mp, 0) == 0)
        return 0;
    if (mount(NULL, mp, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0)
        return 1;
    return 2;
}

int persist_unmount(const char *mountpoint, uint32_t timeout_ms)
{
    const char *mp = mountpoint ? mountpoint : state_persist_mountpoint();
    if (!persist_is_mounted(mp)) {
        log_info("event=shutdown step=persist result=not-mounted path=%s", mp);
        return 0;
    }
    int64_t t0 = time_mono_ms();
    int rc;
    if (state_run_bounded(child_unmount, (void *)mp, timeout_ms, "persist-unmount", &rc) != STATE_OK)
        rc = -1; /* timed out, or ended without its answer */
    static const char *const names[] = {"unmounted", "remounted-ro", "busy"};
    const char *what = rc >= 0 && rc <= 2 ? names[rc] : "timeout";
    if (rc == 0 || rc == 1)
        log_info("event=shutdown step=persist result=%s path=%s ms=%lld", what,
                 mp, (long long)(time_mono_ms() - t0));
    else
        log_error("event=shutdown step=persist result=%s path=%s ms=%lld",
                  what, mp, (long long)(time_mono_ms() - t0));
    return rc == 0 || rc == 1 ? 0 : -1;
}
