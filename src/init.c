/* init.c — PID 1 boot sequence: early mounts, the console, oom_score_adj,
 * the genesis lines, kernel modules, /persist (bounded, through
 * src/state/mount.h), the state database (state_boot), then the supervisor
 * on the image's scan directory, then the final sequence (pid1.c).
 *
 * Genesis lines, in this order, on the console:
 *   bay0: starting (VERSION)
 *   bay0: root is a real mount (...)   (only when / was the initramfs)
 *   bay0: mounted proc/sys/dev
 *   bay0: cgroup controllers enabled (...)
 *   bay0: persist mount attempt (DEVICE)
 *   bay0: persist mounted (...)  |  bay0: persist timeout -> dirty boot (...)
 *   bay0: state db open/migrate (...)
 *   bay0: init complete (...)
 *
 * Kernel command line (bay0.KEY=VALUE): persist=DEV (fallback device),
 * persist_label=LABEL, scandir=DIR, rundir=DIR (an argv option wins),
 * persist_timeout_ms=N, modules_timeout_ms=N,
 * shutdown_timeout_ms=N, panic=reboot|halt|shell.
 * `bay0 init` options (tests, containers): --scandir DIR --rundir DIR
 * --logdir DIR --cmdline STRING (instead of /proc/cmdline).
 *
 * Must never: exit as the machine's PID 1, wait on a device or the state
 * database without a deadline, or name the persist path (src/state/ does).
 */
#include "init.h"

#include "analyze.h"
#include "log.h"
#include "modules.h"
#include "pid1.h"
#include "state/mount.h"
#include "state/state.h"
#include "supervise.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define INIT_SCANDIR_DEFAULT "/etc/bay0/sv"
#define INIT_RUNDIR_DEFAULT "/run/bay0"
#define INIT_LOGDIR_DEFAULT "/run/bay0/log"
#define INIT_CMDLINE_BYTES_MAX 4096
#define INIT_MODULES_TIMEOUT_MS_DEFAULT 4000
#define INIT_STATE_TIMEOUT_MS 3000
#define INIT_TIMEOUT_MS_MAX 600000
#define INIT_LINE_BYTES_MAX 512
#define INIT_DIR_BYTES_MAX 256
/* The persist deadline counts from the start of module loading (a stalled
 * disk can hang virtio_blk's probe too); the mount itself still gets at
 * least this much of it. */
#define INIT_PERSIST_REMAINING_MS_MIN 1000
#define INIT_PATH_DEFAULT "/usr/sbin:/usr/bin:/sbin:/bin"
/* Where / is bind-mounted for a moment while it becomes a real mount. */
#define INIT_ROOT_BIND_DIR "/.bay0-root"
#define INIT_CGROUP_ROOT "/sys/fs/cgroup"
#define INIT_CONTROLLERS_BYTES_MAX 512

struct init_opts {
    const char *scandir;
    const char *rundir;
    const char *logdir;
    const char *cmdline; /* --cmdline, else NULL: read /proc/cmdline */
    char persist_dev[PERSIST_DEV_BYTES_MAX];
    char persist_label[32];
    char scandir_buf[INIT_DIR_BYTES_MAX]; /* bay0.scandir= */
    char rundir_buf[INIT_DIR_BYTES_MAX];  /* bay0.rundir= */
    char logdir_buf[INIT_DIR_BYTES_MAX];  /* --logdir, kept from argv */
    enum log_level console_level;         /* bay0.console=, after init complete */
    bool console_set;
    uint32_t persist_timeout_ms;
    uint32_t modules_timeout_ms;
    uint32_t shutdown_timeout_ms;
    enum pid1_panic_policy panic;
    bool container;
    bool persist_ok;
};

static struct init_opts opts;
static char cmdline_buf[INIT_CMDLINE_BYTES_MAX];

/* A genesis line: plain "bay0: ..." on the console (stderr). */
static void genesis(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void genesis(const char *fmt, ...)
{
    char line[INIT_LINE_BYTES_MAX] = "bay0: ";
    size_t n = strlen(line);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    n += m < 0 ? 0 : (size_t)m;
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    (void)fd_write_all(STDERR_FILENO, line, n);
}

static int64_t uptime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void parse_timeout(const char *key, const char *val, uint32_t *out)
{
    uint64_t v;
    if (parse_u64(val, INIT_TIMEOUT_MS_MAX, &v) && v > 0)
        *out = (uint32_t)v;
    else
        log_warn("event=cmdline key=bay0.%s value=%s error=not a number "
                 "1..%d",
                 key, val, INIT_TIMEOUT_MS_MAX);
}

static bool console_level_parse(const char *val, enum log_level *out)
{
    static const char *const names[] = {"info", "warn", "error"};
    static const enum log_level levels[] = {LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR};
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (strcmp(val, names[i]) == 0) {
            *out = levels[i];
            return true;
        }
    return false;
}

/* One "bay0.KEY=VALUE" word of the command line. */
static void cmdline_word(char *w)
{
    if (strncmp(w, "bay0.", 5) != 0)
        return;
    char *key = w + 5, *val = strchr(key, '=');
    if (!val)
        return;
    *val++ = '\0';
    if (strcmp(key, "persist") == 0)
        str_copy(opts.persist_dev, sizeof opts.persist_dev, val);
    else if (strcmp(key, "scandir") == 0) {
        if (str_copy(opts.scandir_buf, sizeof opts.scandir_buf, val))
            opts.scandir = opts.scandir_buf;
    } else if (strcmp(key, "rundir") == 0) {
        if (str_copy(opts.rundir_buf, sizeof opts.rundir_buf, val))
            opts.rundir = opts.rundir_buf;
    } else if (strcmp(key, "persist_label") == 0)
        str_copy(opts.persist_label, sizeof opts.persist_label, val);
    else if (strcmp(key, "persist_timeout_ms") == 0)
        parse_timeout(key, val, &opts.persist_timeout_ms);
    else if (strcmp(key, "modules_timeout_ms") == 0)
        parse_timeout(key, val, &opts.modules_timeout_ms);
    else if (strcmp(key, "shutdown_timeout_ms") == 0)
        parse_timeout(key, val, &opts.shutdown_timeout_ms);
    else if (strcmp(key, "console") == 0) {
        if (console_level_parse(val, &opts.console_level))
            opts.console_set = true;
        else
            log_warn("event=cmdline key=bay0.console value=%s error=want info|warn|error", val);
    } else if (strcmp(key, "panic") == 0) {
        if (!pid1_panic_policy_parse(val, &opts.panic))
            log_warn("event=cmdline key=bay0.panic value=%s error=want "
                     "reboot|halt|shell",
                     val);
    } else if (strcmp(key, "test_state_die") == 0)
        log_warn("event=cmdline key=bay0.test_state_die value=%s: a test's fault injection: "
                 "a state write cuts the power there (src/state/diepoint.c)", val);
    else
        log_warn("event=cmdline key=bay0.%s error=unknown key", key);
}

static void cmdline_parse(void)
{
    if (opts.cmdline)
        str_copy(cmdline_buf, sizeof cmdline_buf, opts.cmdline);
    else if (file_read_small(AT_FDCWD, "/proc/cmdline", cmdline_buf,
                             sizeof cmdline_buf) < 0)
        log_warn("event=cmdline path=/proc/cmdline error=%s", strerror(errno));
    char *save = NULL;
    for (char *w = strtok_r(cmdline_buf, " \t\n", &save); w;
         w = strtok_r(NULL, " \t\n", &save))
        cmdline_word(w);
}

/* argv of `bay0 init` (argv[0] is "init") or of the kernel's init (which
 * may carry words the kernel did not understand: ignored). */
static int args_parse(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char **dst = NULL;
        if (strcmp(argv[i], "--scandir") == 0)
            dst = &opts.scandir;
        else if (strcmp(argv[i], "--rundir") == 0)
            dst = &opts.rundir;
        else if (strcmp(argv[i], "--logdir") == 0)
            dst = &opts.logdir;
        else if (strcmp(argv[i], "--cmdline") == 0)
            dst = &opts.cmdline;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: bay0 init [--scandir DIR] [--rundir DIR] "
                   "[--logdir DIR] [--cmdline STRING]\n"
                   "Runs as PID 1 (a machine's, or a PID namespace's).\n");
            return 1;
        }
        if (dst) {
            if (i + 1 >= argc) {
                fprintf(stderr, "bay0 init: %s needs a value\n", argv[i]);
                return 2;
            }
            *dst = argv[++i];
        }
    }
    return 0;
}

/* Mount fstype at path unless something is mounted there already. */
static bool ensure_mount(const char *path, const char *fstype,
                         unsigned long flags, const char *data)
{
    struct stat st, parent;
    char up[128];
    str_fmt(up, sizeof up, "%s/..", path);
    if (stat(path, &st) == 0 && stat(up, &parent) == 0 &&
        st.st_dev != parent.st_dev)
        return true; /* already a mount point (container, initramfs tool) */
    (void)mkdir(path, 0755);
    if (mount(fstype, path, fstype, flags, data) == 0)
        return true;
    log_error("event=mount path=%s fstype=%s error=%s", path, fstype,
              strerror(errno));
    return false;
}

/* The kernel's initramfs is the rootfs, which pivot_root(2) cannot leave:
 * crun (podman's runtime) pivots into every container and fails there. So
 * bind-mount / onto a directory of itself, move that mount over /, and
 * chroot into it (switch_root's trick, without copying a byte): / is then
 * a real mount, and shared so that podman's mount propagation works. Done
 * first, before proc/sys/dev are mounted, so that they land on the new /.
 * Not for a root that is already a real file system (a disk, a container). */
static void root_step(void)
{
    struct statfs sfs;
    if (statfs("/", &sfs) != 0 || (sfs.f_type != RAMFS_MAGIC &&
                                   sfs.f_type != TMPFS_MAGIC))
        return;
    const char *c = getenv("container");
    if (c && c[0])
        return;
    int64_t t0 = time_mono_ms();
    const char *step = "mkdir";
    if ((mkdir(INIT_ROOT_BIND_DIR, 0700) != 0 && errno != EEXIST) ||
        (step = "bind", mount("/", INIT_ROOT_BIND_DIR, NULL, MS_BIND | MS_REC,
                              NULL) != 0) ||
        (step = "chdir", chdir(INIT_ROOT_BIND_DIR) != 0) ||
        (step = "move", mount(".", "/", NULL, MS_MOVE, NULL) != 0) ||
        (step = "chroot", chroot(".") != 0) ||
        (step = "chdir /", chdir("/") != 0)) {
        int err = errno;
        genesis("root stays the initramfs (%s failed: %s): containers "
                "will not start",
                step, strerror(err));
        (void)chdir("/");
        return;
    }
    (void)rmdir(INIT_ROOT_BIND_DIR); /* the same directory, seen from the new / */
    bool shared = mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL) == 0;
    genesis("root is a real mount (the initramfs bound onto itself%s, %lld ms)",
            shared ? ", shared" : ", not shared", (long long)(time_mono_ms() - t0));
}

static bool cgroup_write(int dir, const char *what)
{
    int fd = openat(dir, "cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, what, strlen(what)) == (ssize_t)strlen(what);
    int err = errno;
    close(fd);
    errno = err;
    return ok;
}

/* Every controller the kernel offers, enabled for the root's children
 * (podman's containers and bay0's services get cpu, memory, io, pids...).
 * One write each, so that a controller the kernel will not give (a v1
 * hierarchy holds it) costs only itself and is named. */
static void cgroup_step(void)
{
    char avail[INIT_CONTROLLERS_BYTES_MAX];
    int dir = open(INIT_CGROUP_ROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0 || file_read_small(dir, "cgroup.controllers", avail,
                                   sizeof avail) < 0) {
        genesis("cgroup controllers not enabled (%s/cgroup.controllers: %s)",
                INIT_CGROUP_ROOT, strerror(errno));
        if (dir >= 0)
            close(dir);
        return;
    }
    char done[INIT_CONTROLLERS_BYTES_MAX * 2] = "";
    size_t n = 0;
    char *save = NULL;
    for (char *w = strtok_r(avail, " \n", &save); w;
         w = strtok_r(NULL, " \n", &save)) {
        char plus[64];
        str_fmt(plus, sizeof plus, "+%s", w);
        bool ok = cgroup_write(dir, plus);
        if (!ok)
            log_warn("event=cgroup controller=%s error=%s", w, strerror(errno));
        str_fmt(done + n, sizeof done - n, "%s%s%s", n ? " " : "", w,
                ok ? "" : " (refused)");
        n = strlen(done);
    }
    close(dir);
    genesis("cgroup controllers enabled (%s)", n ? done : "none offered");
}

static void early_mounts(void)
{
    const unsigned long nosuid_nodev_noexec = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    int bad = 0;
    bad += !ensure_mount("/proc", "proc", nosuid_nodev_noexec, NULL);
    bad += !ensure_mount("/sys", "sysfs", nosuid_nodev_noexec, NULL);
    bad += !ensure_mount("/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    bad += !ensure_mount("/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                         "gid=5,mode=0620,ptmxmode=0666");
    bad += !ensure_mount("/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
                         "mode=1777"); /* podman's locks, POSIX shm */
    bad += !ensure_mount("/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    bad += !ensure_mount("/sys/fs/cgroup", "cgroup2", nosuid_nodev_noexec,
                         NULL);
    genesis("mounted proc/sys/dev%s", bad ? " (with errors, see above)" : "");
}

static void console_open(void)
{
    int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        log_warn("event=console path=/dev/console error=%s", strerror(errno));
        return;
    }
    for (int i = 0; i <= 2; i++)
        dup2(fd, i); /* dup2 clears O_CLOEXEC on the copies */
    if (fd > 2)
        close(fd);
}

static void oom_protect(void)
{
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "-1000", 5) != 5)
        log_warn("event=oom-score-adj value=-1000 result=refused error=\"%s\"",
                 strerror(errno));
    else
        log_info("event=oom-score-adj value=-1000 result=ok");
    if (fd >= 0)
        close(fd);
}

static int child_modules(void *ctx)
{
    (void)ctx;
    struct modules_result r;
    if (modules_load_list(MODULES_LIST_PATH_DEFAULT, NULL, &r) != 0)
        return 2;
    return r.failed || r.missing ? 1 : 0;
}

static void modules_step(void)
{
    int64_t t0 = time_mono_ms();
    uint32_t timeout_ms = opts.modules_timeout_ms < opts.persist_timeout_ms
                              ? opts.modules_timeout_ms
                              : opts.persist_timeout_ms;
    int rc;
    enum state_result r = state_run_bounded(child_modules, NULL, timeout_ms, "modules", &rc);
    log_info("event=modules result=%s rc=%d ms=%lld",
             r == STATE_TIMEOUT ? "timeout" : r == STATE_OK && rc == 0 ? "ok" : "incomplete", rc,
             (long long)(time_mono_ms() - t0));
    pid1_reap_nohang();
}

static void persist_attempt_line(const char *dev, const char *how, void *ctx)
{
    bool *said = ctx;
    genesis("persist mount attempt (%s, found by %s)", dev, how);
    *said = true;
}

static void persist_step(int64_t budget_start_ms)
{
    int64_t left_ms = opts.persist_timeout_ms - (time_mono_ms() - budget_start_ms);
    if (left_ms < INIT_PERSIST_REMAINING_MS_MIN)
        left_ms = INIT_PERSIST_REMAINING_MS_MIN;
    struct persist_request req = {
        .fallback_dev = opts.persist_dev,
        .timeout_ms = (uint32_t)left_ms,
        .label = opts.persist_label,
    };
    struct persist_result res;
    bool said = false;
    persist_mount(&req, persist_attempt_line, &said, &res);
    if (!said)
        genesis("persist mount attempt (no device yet: label=%s%s%s)",
                opts.persist_label, opts.persist_dev[0] ? " or " : "",
                opts.persist_dev);
    opts.persist_ok = res.outcome == PERSIST_MOUNTED;
    if (opts.persist_ok)
        genesis("persist mounted (%s on %s, %lld ms)", res.dev, res.mountpoint,
                (long long)res.elapsed_ms);
    else if (res.outcome == PERSIST_FAILED)
        genesis("persist timeout -> dirty boot (mount of %s failed: %s, "
                "%lld ms)",
                res.dev[0] ? res.dev : "?", strerror(res.error),
                (long long)res.elapsed_ms);
    else
        genesis("persist timeout -> dirty boot (%s within %lld ms)",
                res.dev[0] ? "device did not answer"
                           : "no device appeared or answered",
                (long long)(time_mono_ms() - budget_start_ms));
    pid1_reap_nohang();
}

static void state_step(void)
{
    if (!opts.persist_ok) {
        genesis("state db open/migrate skipped (dirty boot: no persist)");
        return;
    }
    int64_t t0 = time_mono_ms();
    enum state_result r = state_boot(INIT_STATE_TIMEOUT_MS);
    pid1_reap_nohang();
    genesis("state db open/migrate (%s, %lld ms)", state_result_name(r),
            (long long)(time_mono_ms() - t0));
}

static void final_flush(void)
{
    if (opts.persist_ok)
        (void)state_shutdown(PID1_FLUSH_TIMEOUT_MS);
}

static void final_unmount(void)
{
    if (opts.persist_ok)
        (void)persist_unmount(NULL, PID1_UMOUNT_TIMEOUT_MS);
}

/* Block the signals the supervisor takes over (through its signalfd) so
 * that one sent during early boot stays pending instead of being lost. */
static void block_signals(void)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1,
                               SIGUSR2, SIGPWR, SIGCHLD, SIGQUIT};
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

/* bay0.shutdown_timeout_ms bounds the whole shutdown: the services get
 * what the final sequence (pid1.c) does not need. */
static uint32_t services_shutdown_ms(void)
{
    const uint32_t final_ms = PID1_FINAL_BUDGET_MS;
    if (opts.shutdown_timeout_ms > final_ms + PID1_SUPERVISOR_SHUTDOWN_MS_MIN)
        return opts.shutdown_timeout_ms - final_ms;
    return PID1_SUPERVISOR_SHUTDOWN_MS_MIN;
}

/* `ps` shows "bay0" for PID 1 (and for the children that do not name
 * themselves), not "/init": argv's bytes are rewritten, so the options
 * that point into them are copied first (or the title is left alone). */
static void name_self(int argc, char **argv)
{
    const char **keep[] = {&opts.scandir, &opts.rundir, &opts.logdir};
    char *bufs[] = {opts.scandir_buf, opts.rundir_buf, opts.logdir_buf};
    for (size_t i = 0; i < ARRAY_LEN(keep); i++) {
        if (*keep[i] == bufs[i])
            continue; /* from the kernel command line: already a copy */
        if (!str_copy(bufs[i], INIT_DIR_BYTES_MAX, *keep[i]))
            return;
        *keep[i] = bufs[i];
    }
    opts.cmdline = NULL; /* parsed already; it pointed into argv */
    proc_title_init(argc, argv);
    proc_title_set("bay0");
}

/* After `init complete`, only warnings and errors reach the console of a
 * machine (it is shared with whoever types there); every line still goes
 * to LOGDIR/bay0/current. bay0.console=info|warn|error chooses; a
 * container's PID 1 keeps every line unless told. */
static void console_quiet(void)
{
    if (!opts.console_set && opts.container)
        return;
    enum log_level level = opts.console_set ? opts.console_level : LOG_LEVEL_WARN;
    if (level > LOG_LEVEL_INFO)
        genesis("console: %s only from here (bay0.console=info shows every line; "
                "bay0 log bay0 has them all)",
                level == LOG_LEVEL_WARN ? "warnings and errors" : "errors");
    log_set_console_level(level);
}

static void opts_defaults(void)
{
    memset(&opts, 0, sizeof opts);
    opts.scandir = INIT_SCANDIR_DEFAULT;
    opts.rundir = INIT_RUNDIR_DEFAULT;
    opts.logdir = INIT_LOGDIR_DEFAULT;
    str_copy(opts.persist_label, sizeof opts.persist_label, PERSIST_LABEL);
    opts.persist_timeout_ms = PERSIST_TIMEOUT_MS_DEFAULT;
    opts.modules_timeout_ms = INIT_MODULES_TIMEOUT_MS_DEFAULT;
    opts.shutdown_timeout_ms = SUPERVISE_SHUTDOWN_TIMEOUT_MS_DEFAULT;
    opts.panic = PID1_PANIC_REBOOT;
}

int init_main(int argc, char **argv)
{
    opts_defaults();
    int rc = args_parse(argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    if (getpid() != 1) {
        fprintf(stderr, "bay0 init: must run as PID 1 (for a namespace: "
                        "unshare --pid --fork --mount bay0 init)\n");
        return 2;
    }
    block_signals();
    umask(022);
    genesis("starting (%s)", BAY0_VERSION);
    root_step();
    early_mounts();
    opts.container = pid1_is_container();
    if (!opts.container)
        cgroup_step();
    if (!opts.container)
        console_open();
    cmdline_parse();
    (void)args_parse(argc, argv); /* again: an argv option wins */
    name_self(argc, argv);
    pid1_panic_setup(opts.panic, opts.container);
    log_info("event=init container=%d panic=%s scandir=%s", opts.container,
             pid1_panic_policy_name(opts.panic), opts.scandir);
    oom_protect();
    (void)setenv("PATH", INIT_PATH_DEFAULT, 0);
    int64_t persist_budget_start_ms = time_mono_ms();
    modules_step();
    persist_step(persist_budget_start_ms);
    state_step();
    genesis("init complete (uptime %lld ms)", (long long)uptime_ms());
    console_quiet();
    analyze_mark_init_done();
    struct supervise_config cfg = {
        .scandir = opts.scandir,
        .rundir = opts.rundir,
        .logdir = opts.logdir,
        .shutdown_timeout_ms = services_shutdown_ms(),
        .pid1 = true,
        .container = opts.container,
    };
    enum supervise_exit how = supervise_run(&cfg);
    log_set_console_level(LOG_LEVEL_DEBUG); /* the final sequence, on the console */
    if (how == SUPERVISE_EXIT_ERROR && !opts.container)
        bay0_panic("the supervisor could not start");
    const struct pid1_final_hooks hooks = {final_flush, final_unmount};
    pid1_final(how, opts.container, PID1_TERM_GRACE_MS_DEFAULT, &hooks);
}
