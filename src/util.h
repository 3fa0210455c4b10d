/* util.h — small helpers every module uses: clocks, fds, bounded string and
 * number parsing, bounded file reads, directory iteration without malloc.
 *
 * Never allocates. Never touches /persist by itself (callers pass paths).
 */
#ifndef BAY0_UTIL_H
#define BAY0_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BAY0_VERSION "0.1.0"

/* Programmer errors: always on, never compiled out (STYLE.md rule 2). */
#define BAY0_ASSERT(cond)                                                     \
    do {                                                                      \
        if (!(cond))                                                          \
            bay0_assert_fail(#cond, __FILE__, __LINE__, __func__);            \
    } while (0)

/* Installed by init.c in PID 1 mode (print, sync, reboot/halt/shell);
 * the default prints and aborts. */
typedef void (*bay0_panic_fn)(const char *reason);
void bay0_set_panic_handler(bay0_panic_fn fn);
_Noreturn void bay0_assert_fail(const char *expr, const char *file, int line,
                                const char *func);
_Noreturn void bay0_panic(const char *reason);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Clocks: deadlines use CLOCK_MONOTONIC; wall time is for display only. */
int64_t time_mono_ms(void);
int64_t time_mono_us(void);
int64_t time_wall_ms(void);
int64_t time_boot_us(void); /* CLOCK_BOOTTIME: since the kernel started, suspend included */
/* "2026-11-22T02:50:01.123456Z" (UTC, microseconds: the stamp of the logs
 * and `bay0 logger -t iso`) for sec/nsec since the epoch; returns its
 * length, or 0 ("?" written) when it cannot be formatted. */
size_t time_iso_us(int64_t sec, long nsec, char *out, size_t size);

/* fds */
int fd_set_nonblock(int fd, bool on);
int fd_set_cloexec(int fd, bool on);
/* write all of buf to a blocking fd, retrying on EINTR; -1 on error. */
int fd_write_all(int fd, const void *buf, size_t len);
/* Grows this process's fd table now to hold fd number `top` (capped below
 * RLIMIT_NOFILE), by a dup of `any_fd` there and a close. The kernel grows
 * a table that a child shares (CLONE_FILES: the shared spawn path, until
 * the child's first call) only after an RCU grace period, several ms, with
 * the caller blocked; grown ahead, the table is never grown under a spawn.
 * It never shrinks, so each size is paid once. Never fatal: false only
 * when the dup failed. */
bool fd_table_reserve(int any_fd, uint32_t top);

/* Bounded string copy: always NUL-terminates; returns false if truncated. */
bool str_copy(char *dst, size_t dst_size, const char *src);
/* snprintf that reports truncation as false. */
/* Formats an error reason into reason (truncated if need be) and returns
 * false, so a parser can `return reason_fail(reason, size, "...")`. */
bool reason_fail(char *reason, size_t reason_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool str_fmt(char *dst, size_t dst_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends printf output at buf[len] (size bytes in all), always
 * terminated, cut at the end; returns the new length (at most size - 1). */
size_t str_appendf(char *buf, size_t size, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parse a decimal unsigned integer that fills the whole string (leading and
 * trailing ASCII whitespace allowed). false on garbage or overflow of max. */
bool parse_u64(const char *s, uint64_t max, uint64_t *out);
/* A size: decimal with an optional K, M, G or T suffix (either case, powers
 * of 1024), e.g. "256M". false on garbage or overflow. */
bool parse_size(const char *s, uint64_t *out);

/* Signal names: "TERM", "SIGTERM" or a number. Returns 0 when unknown. */
int signal_from_name(const char *s);
/* "SIGTERM" for 15, or "SIG?" when unknown. Static storage. */
const char *signal_name(int sig);

/* Read a small regular file relative to dirfd (AT_FDCWD allowed) into buf,
 * which is NUL-terminated. Returns bytes read, -1 with errno on error:
 * EFBIG if the file does not fit, EISDIR/EINVAL if it is a directory or
 * not a regular file (a FIFO never blocks the caller). */
ssize_t file_read_small(int dirfd, const char *path, char *buf,
                        size_t buf_size);
/* Replace path's contents with text for readers on the same machine: a
 * temp file beside it (path.tmp), written, renamed over path, so a reader
 * sees the old or the new text, never half. No fsync: for the run dir
 * (tmpfs), not for what must survive a power cut (file_replace_durable).
 * false with errno set; the temp file is gone. */
bool file_replace(const char *path, const char *text);
/* The same for what must survive a power cut: mode for a new file, the temp
 * file fsynced before the rename and its directory after it. false with
 * errno set and *step (when not NULL) naming what failed: "create",
 * "write", "fsync", "close", "rename" (the temp file is gone) or "fsync of
 * the directory" (path has the new bytes; they may not survive a cut). */
bool file_replace_durable(const char *path, const void *buf, size_t len, unsigned mode,
                          const char **step);
/* fsync of a directory (a rename or a new entry in it made durable):
 * 0, or -1 with errno. */
int dir_fsync(const char *dir);
/* Strip trailing whitespace (in place); returns the new length. */
size_t str_rstrip(char *s);

/* Directory iteration with getdents64 into a caller buffer (no malloc).
 * Calls fn(name, d_type, ctx) for each entry except "." and "..";
 * fn returns false to stop. Returns 0, or -1 with errno. */
typedef bool (*dir_entry_fn)(const char *name, unsigned char d_type,
                             void *ctx);
int dir_each(int dirfd, dir_entry_fn fn, void *ctx);

/* Service and object names: [A-Za-z0-9._@+-], 1..max bytes, not starting
 * with '.'; returns NULL when valid or a static reason string. */
const char *name_check(const char *name, size_t max_bytes);

/* Why exec of the program at `path` failed with `err`, for a person:
 * strerror, and for a missing #! interpreter its name ("cannot start run:
 * its #! interpreter /bin/bsh does not exist"). Reads at most 256 bytes of
 * path (a service directory's run file, read in the loop like the rest of
 * the directory). */
void exec_failure_text(const char *what, const char *path, int err, char *out, size_t size);

/* Edit distance (insert, delete, replace, swap of neighbours) between two
 * names of at most NAME_NEAR_BYTES_MAX bytes; longer ones are "far". */
#define NAME_NEAR_BYTES_MAX 64
size_t name_distance(const char *a, const char *b);

/* Whether `candidate` is close enough to `typed` to be suggested as
 * "did you mean candidate?": at most 1 edit for short names, 2 from 5
 * bytes on, and never a name that only shares a length. */
bool name_near(const char *typed, const char *candidate);

/* Signals the process group a service's program leads (its pgid is its
 * pid, from its setsid). A child that has not reached setsid yet leads no
 * group: then the signal goes to the child itself (it is blocked there
 * until the child resets its mask, then acts). Only for a leader not yet
 * reaped: a reaped pid may belong to someone else. Returns kill's result. */
int kill_leader_group(pid_t leader, int sig);
/* In a child just forked from bay0 that stays bay0 (a worker, the log
 * writer): no signal blocked (bay0 blocks the ones it reads through a
 * signalfd) and, with defaults, the default action for each signal bay0
 * handles (TERM INT HUP QUIT USR1 USR2 PWR CHLD ALRM; SIGPIPE stays as it
 * is). */
void child_signals_reset(bool defaults);

/* The kernel's signals (1 to 64), its sigset_t (64 bits) and the start of
 * its struct sigaction, for raw rt_sigaction(2): the C library's
 * sigaction() and sigaddset() refuse its own signals 32 and 33, which a
 * parent may still have ignored. The handler comes first on x86_64,
 * aarch64 and riscv64; `rest` leaves room for flags, restorer and mask. */
#define KERNEL_SIGNALS 64
#define KERNEL_SIGSET_BYTES 8
struct kernel_sigaction {
    void *handler;
    unsigned long rest[7];
};

/* In a child about to exec another program: every signal's disposition
 * the default and none blocked, as a program expects to start. Exec
 * resets handlers but keeps SIG_IGN: without this the program would keep
 * bay0's ignored SIGPIPE (every bay0 process but PID 1 ignores it) and
 * whatever bay0's own parent ignored (nohup's SIGHUP). The services'
 * spawn does the same with raw calls only (spawn_child.c); every other
 * exec calls this. */
void child_signals_for_exec(void);

/* Zeroed memory for the supervisor's tables (count * size bytes), left
 * out of every fork (MADV_DONTFORK): a fork copies page tables for and
 * write-protects only what its child can touch, so each spawn costs the
 * same at 10 services as at 10,000, and the parent takes no copy-on-write
 * faults on its tables afterwards. Children must not read this memory.
 * NULL on overflow or when mmap fails. */
/* What `ps` shows for this process (PID 1 and its children name
 * themselves instead of showing "/init"): proc_title_init once, early, with
 * main's argv (it copies the environment strings to static storage so that
 * their bytes can hold a longer title; argv's strings are overwritten by
 * proc_title_set, so copy what you still need first); then
 * proc_title_set(title) writes /proc/PID/cmdline's text and comm. */
void proc_title_init(int argc, char **argv);
void proc_title_set(const char *title);
void *table_alloc(size_t count, size_t size);
void table_free(void *p, size_t count, size_t size);

#endif
