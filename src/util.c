/* util.c — clocks, fds, bounded parsing and reads. Never allocates. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define DIR_BUF_BYTES 8192

static bay0_panic_fn panic_handler;

void bay0_set_panic_handler(bay0_panic_fn fn) { panic_handler = fn; }

_Noreturn void bay0_panic(const char *reason)
{
    if (panic_handler)
        panic_handler(reason);
    /* The handler must not return; if there is none (or it did), abort so
     * that a core dump shows where. */
    dprintf(STDERR_FILENO, "bay0: panic: %s\n", reason);
    abort();
}

_Noreturn void bay0_assert_fail(const char *expr, const char *file, int line,
                                const char *func)
{
    char reason[512];
    snprintf(reason, sizeof reason, "assertion failed: %s at %s:%d (%s)",
             expr, file, line, func);
    bay0_panic(reason);
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }
int64_t time_wall_ms(void) { return clock_ms(CLOCK_REALTIME); }

int64_t time_boot_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int fd_set_nonblock(int fd, bool on)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    int want = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return want == flags ? 0 : fcntl(fd, F_SETFL, want);
}

int fd_set_cloexec(int fd, bool on)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0)
        return -1;
    flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
    return fcntl(fd, F_SETFD, flags);
}

bool fd_table_reserve(int any_fd, uint32_t top)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && top >= rl.rlim_cur)
        top = rl.rlim_cur > 0 ? (uint32_t)(rl.rlim_cur - 1) : 0;
    int fd = fcntl(any_fd, F_DUPFD_CLOEXEC, (int)top);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int fd_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

bool str_copy(char *dst, size_t dst_size, const char *src)
{
    BAY0_ASSERT(dst_size > 0);
    size_t n = strnlen(src, dst_size);
    if (n == dst_size) {
        memcpy(dst, src, dst_size - 1);
        dst[dst_size - 1] = '\0';
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

size_t time_iso_us(int64_t sec, long nsec, char *out, size_t size)
{
    time_t t = (time_t)sec;
    struct tm tm;
    int n = sec >= 0 && gmtime_r(&t, &tm)
                ? snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                           nsec / 1000)
                : -1;
    if (n > 0 && (size_t)n < size)
        return (size_t)n;
    snprintf(out, size, "?");
    return 0;
}

bool reason_fail(char *reason, size_t reason_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, reason_size, fmt, ap);
    va_end(ap);
    return false;
}

bool str_fmt(char *dst, size_t dst_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, dst_size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < dst_size;
}

bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (d > max || v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    if (*s != '\0')
        return false;
    *out = v;
    return true;
}

/* Signal names without "SIG", as glibc's sigabbrev_np (which musl lacks):
 * Linux's standard signals; real-time ones have no name (NULL). */
static const char *const signal_abbrevs[] = {
    [SIGHUP] = "HUP",       [SIGINT] = "INT",       [SIGQUIT] = "QUIT",
    [SIGILL] = "ILL",       [SIGTRAP] = "TRAP",     [SIGABRT] = "ABRT",
    [SIGBUS] = "BUS",       [SIGFPE] = "FPE",       [SIGKILL] = "KILL",
    [SIGUSR1] = "USR1",     [SIGSEGV] = "SEGV",     [SIGUSR2] = "USR2",
    [SIGPIPE] = "PIPE",     [SIGALRM] = "ALRM",     [SIGTERM] = "TERM",
    [SIGSTKFLT] = "STKFLT", [SIGCHLD] = "CHLD",     [SIGCONT] = "CONT",
    [SIGSTOP] = "STOP",     [SIGTSTP] = "TSTP",     [SIGTTIN] = "TTIN",
    [SIGTTOU] = "TTOU",     [SIGURG] = "URG",       [SIGXCPU] = "XCPU",
    [SIGXFSZ] = "XFSZ",     [SIGVTALRM] = "VTALRM", [SIGPROF] = "PROF",
    [SIGWINCH] = "WINCH",   [SIGPOLL] = "POLL",     [SIGPWR] = "PWR",
    [SIGSYS] = "SYS",
};

static const char *signal_abbrev(int sig)
{
    if (sig <= 0 || (size_t)sig >= ARRAY_LEN(signal_abbrevs))
        return NULL;
    return signal_abbrevs[sig];
}

int signal_from_name(const char *s)
{
    uint64_t num;
    if (parse_u64(s, 64, &num))
        return num >= 1 && num < NSIG ? (int)num : 0;
    char name[16];
    size_t n = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    while (s[n] && !isspace((unsigned char)s[n]) && n + 1 < sizeof name) {
        name[n] = (char)toupper((unsigned char)s[n]);
        n++;
    }
    name[n] = '\0';
    for (const char *rest = s + n; *rest; rest++)
        if (!isspace((unsigned char)*rest))
            return 0;
    for (int sig = 1; sig < NSIG; sig++) {
        const char *abbrev = signal_abbrev(sig);
        if (abbrev && strcmp(abbrev, name) == 0)
            return sig;
    }
    return 0;
}

const char *signal_name(int sig)
{
    static const char unknown[] = "SIG?";
    static char buf[24];
    const char *abbrev = signal_abbrev(sig);
    if (!abbrev)
        return unknown;
    snprintf(buf, sizeof buf, "SIG%s", abbrev);
    return buf;
}

/* The directory part of path, for its fsync: "." for a bare name. */
static bool path_dir(const char *path, char *dir, size_t size)
{
    if (!str_copy(dir, size, path))
        return false;
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        str_copy(dir, size, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    return true;
}

int dir_fsync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    errno = err;
    return rc;
}

/* Writes the temp file: create, write, fsync when durable, close; on
 * failure it is gone, errno set and *at names the step. */
static bool write_temp(const char *tmp, const void *buf, size_t len, unsigned mode,
                       bool durable, const char **at)
{
    *at = "create";
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return false;
    *at = "write";
    bool ok = fd_write_all(fd, buf, len) == 0;
    if (ok && durable) {
        *at = "fsync";
        ok = fsync(fd) == 0;
    }
    int err = errno;
    if (close(fd) != 0 && ok) {
        *at = "close";
        ok = false;
        err = errno;
    }
    if (!ok) {
        (void)unlink(tmp);
        errno = err;
    }
    return ok;
}

/* The one temp-and-rename: file_replace() and, durable, with the fsyncs. */
static bool replace_file(const char *path, const void *buf, size_t len, unsigned mode,
                         bool durable, const char **step)
{
    char tmp[4096 + 8], dir[4096];
    const char *at = "create";
    bool ok = str_fmt(tmp, sizeof tmp, "%s.tmp", path) && path_dir(path, dir, sizeof dir);
    if (!ok)
        errno = ENAMETOOLONG;
    else
        ok = write_temp(tmp, buf, len, mode, durable, &at);
    if (ok) {
        at = "rename";
        ok = rename(tmp, path) == 0;
        int err = errno;
        if (!ok)
            (void)unlink(tmp);
        errno = err;
    }
    if (ok && durable) {
        at = "fsync of the directory";
        ok = dir_fsync(dir) == 0;
    }
    if (!ok && step != NULL)
        *step = at;
    return ok;
}

bool file_replace(const char *path, const char *text)
{
    return replace_file(path, text, strlen(text), 0644, false, NULL);
}

bool file_replace_durable(const char *path, const void *buf, size_t len, unsigned mode,
                          const char **step)
{
    return replace_file(path, buf, len, mode, true, step);
}

ssize_t file_read_small(int dirfd, const char *path, char *buf,
                        size_t buf_size)
{
    BAY0_ASSERT(buf_size > 1);
    /* O_NONBLOCK: a FIFO or device put where a file belongs must not hang
     * the caller; anything but a regular file is refused. */
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        return -1;
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, buf_size - 1 - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == buf_size - 1) {
            char extra;
            ssize_t more = read(fd, &extra, 1);
            close(fd);
            buf[len] = '\0';
            if (more > 0) {
                errno = EFBIG;
                return -1;
            }
            return (ssize_t)len;
        }
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

size_t str_rstrip(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return n;
}

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

int dir_each(int dirfd, dir_entry_fn fn, void *ctx)
{
    char buf[DIR_BUF_BYTES] __attribute__((aligned(8)));
    if (lseek(dirfd, 0, SEEK_SET) < 0)
        return -1;
    for (;;) {
        long n = syscall(SYS_getdents64, dirfd, buf, sizeof buf);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            off += d->d_reclen;
            if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
                continue;
            if (!fn(d->d_name, d->d_type, ctx))
                return 0;
        }
    }
}

void exec_failure_text(const char *what, const char *path, int err, char *out, size_t size)
{
    char head[256] = "";
    int fd = err == ENOENT || err == EACCES ? open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) : -1;
    if (fd >= 0) {
        ssize_t n = read(fd, head, sizeof head - 1);
        head[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    if (fd >= 0 && strncmp(head, "#!", 2) == 0) {
        char *interp = head + 2;
        while (*interp == ' ' || *interp == '\t')
            interp++;
        interp[strcspn(interp, " \t\r\n")] = '\0';
        if (*interp && access(interp, X_OK) != 0) {
            int why = errno;
            snprintf(out, size, "cannot start %s: its #! interpreter %s %s", what, interp,
                     why == ENOENT ? "does not exist" : strerror(why));
            return;
        }
    }
    if (err == EACCES && fd >= 0)
        snprintf(out, size, "cannot start %s: %s (chmod +x %s?)", what, strerror(err), what);
    else
        snprintf(out, size, "cannot start %s: %s", what, strerror(err));
}

size_t name_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > NAME_NEAR_BYTES_MAX || m > NAME_NEAR_BYTES_MAX)
        return SIZE_MAX;
    /* three rows of the Damerau (optimal string alignment) table */
    size_t rows[3][NAME_NEAR_BYTES_MAX + 1];
    size_t *pp = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= m; j++)
        prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t best = prev[j - 1] + cost;
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < best)
                best = pp[j - 2] + 1;
            cur[j] = best;
        }
        size_t *t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

bool name_near(const char *typed, const char *candidate)
{
    size_t d = name_distance(typed, candidate);
    size_t allowed = strlen(typed) >= 5 ? 2 : 1;
    return d > 0 && d <= allowed;
}

const char *name_check(const char *name, size_t max_bytes)
{
    size_t n = strnlen(name, max_bytes + 1);
    if (n == 0)
        return "name is empty";
    if (n > max_bytes)
        return "name is too long";
    if (name[0] == '.')
        return "name starts with '.'";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!(isalnum(c) || c == '.' || c == '_' || c == '@' || c == '+' ||
              c == '-'))
            return "name has a character outside [A-Za-z0-9._@+-]";
    }
    return NULL;
}

void *table_alloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    size_t bytes = count * size != 0 ? count * size : 1;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    (void)madvise(p, bytes, MADV_DONTFORK); /* an optimisation: never fatal */
    return p;
}

void table_free(void *p, size_t count, size_t size)
{
    if (p)
        munmap(p, count * size != 0 ? count * size : 1);
}

void child_signals_reset(bool defaults)
{
    static const int handled[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1,
                                  SIGUSR2, SIGPWR, SIGCHLD, SIGALRM};
    for (size_t i = 0; defaults && i < ARRAY_LEN(handled); i++)
        signal(handled[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

void child_signals_for_exec(void)
{
    struct kernel_sigaction dfl = {0}; /* SIG_DFL */
    for (int sig = 1; sig <= KERNEL_SIGNALS; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)syscall(SYS_rt_sigaction, sig, &dfl, NULL, KERNEL_SIGSET_BYTES);
    uint64_t none = 0;
    (void)syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, KERNEL_SIGSET_BYTES);
}

int kill_leader_group(pid_t leader, int sig)
{
    if (leader <= 0)
        return -1;
    int r = kill(-leader, sig);
    if (r < 0 && errno == ESRCH)
        r = kill(leader, sig);
    return r;
}

size_t str_appendf(char *buf, size_t size, size_t len, const char *fmt, ...)
{
    if (size == 0 || len >= size)
        return size ? size - 1 : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        buf[len] = '\0';
        return len;
    }
    return len + (size_t)n < size ? len + (size_t)n : size - 1;
}

bool parse_size(const char *s, uint64_t *out)
{
    char num[32];
    size_t len = strlen(s);
    if (len == 0 || len >= sizeof num)
        return false;
    memcpy(num, s, len + 1);
    unsigned shift = 0;
    static const char suffixes[] = "KMGT";
    for (unsigned i = 0; i < 4; i++)
        if ((num[len - 1] & ~0x20) == suffixes[i]) { /* K or k, ... */
            shift = 10u * (i + 1);
            num[len - 1] = '\0';
        }
    uint64_t v;
    if (!parse_u64(num, UINT64_MAX >> shift, &v))
        return false;
    *out = v << shift;
    return true;
}

/* ---- process title ---------------------------------------------------- */

#define PROC_TITLE_ENV_MAX 256           /* environment strings moved */
#define PROC_TITLE_ENV_BYTES_MAX 16384   /* their bytes */

static char *title_start; /* argv[0]'s bytes, then the environment's */
static size_t title_bytes;
static char *title_env[PROC_TITLE_ENV_MAX + 1];
static char title_env_bytes[PROC_TITLE_ENV_BYTES_MAX];

void proc_title_init(int argc, char **argv)
{
    extern char **environ;
    if (argc < 1 || !argv[0])
        return;
    char *end = argv[0] + strlen(argv[0]) + 1;
    for (int i = 1; i < argc && argv[i] == end; i++)
        end = argv[i] + strlen(argv[i]) + 1;
    title_start = argv[0];
    title_bytes = (size_t)(end - argv[0]);
    /* The environment's bytes too, once its strings live in static
     * storage (all or none: a larger environment keeps its place). */
    size_t n = 0, used = 0;
    for (; environ && environ[n]; n++) {
        size_t len = strlen(environ[n]) + 1;
        if (n >= PROC_TITLE_ENV_MAX || used + len > sizeof title_env_bytes)
            return;
        memcpy(title_env_bytes + used, environ[n], len);
        title_env[n] = title_env_bytes + used;
        used += len;
    }
    for (size_t i = 0; i < n; i++) {
        if (environ[i] == end)
            end = environ[i] + strlen(environ[i]) + 1;
    }
    title_env[n] = NULL;
    environ = title_env;
    title_bytes = (size_t)(end - argv[0]);
}

void proc_title_set(const char *title)
{
    prctl(PR_SET_NAME, title); /* comm: at most 15 bytes, cut by the kernel */
    if (!title_start || title_bytes < 2)
        return;
    size_t n = strlen(title);
    if (n > title_bytes - 1)
        n = title_bytes - 1;
    memcpy(title_start, title, n);
    memset(title_start + n, 0, title_bytes - n);
}
