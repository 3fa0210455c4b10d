/* spawn_internal.h — what spawn.c (the fork-like and vfork paths, and the
 * choice of path), spawn_shared.c (the CLONE_VM path) and spawn_child.c
 * (the child's slot, and its setup and exec) share. Calls go spawn.c ->
 * spawn_shared.c -> spawn_child.c, and spawn.c -> spawn_child.c: never
 * back. Not for any other file: the rest of bay0 uses spawn.h.
 */
#ifndef BAY0_SPAWN_INTERNAL_H
#define BAY0_SPAWN_INTERNAL_H

#include "contain.h"
#include "creds.h"
#include "spawn.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SPAWN_SLOTS 16
#define SPAWN_ARGC_MAX 8
#define SPAWN_ARGS_BYTES_MAX 1024
#define SPAWN_STACK_BYTES 16384

/* A spawn's request and everything it points to, kept until the child no
 * longer reads the parent's memory. */
struct spawn_slot {
    volatile pid_t busy; /* set before clone3; the kernel clears it at the child's exec or exit */
    volatile int unshared; /* the child has its own fd table (CLONE_FILES spawns) */
    bool held;             /* lo[] hold the child's fds until it has its own table */
    int lo[3];             /* reserved low fds: the child's stdin, stdout, extra fd */
    struct spawn_req req;
    char dir[SPAWN_PATH_BYTES_MAX];
    char prog[256];
    char args[SPAWN_ARGS_BYTES_MAX];
    const char *argv[SPAWN_ARGC_MAX + 1];
    struct creds_user user;     /* from DIR/user */
    struct creds_limits limits; /* from DIR/limits, every hard limit resolved */
    struct contain contain;     /* from DIR's containment files (contain.h) */
    char oom_text[8];           /* written to /proc/self/oom_score_adj, or "" */
    char *envp[SPAWN_ENV_VARS_MAX + 1];
    char env[SPAWN_ENV_BYTES_MAX];
    char stack[SPAWN_STACK_BYTES] __attribute__((aligned(16)));
};


/* Copies req and the strings it points to into slot (the caller's are on
 * its stack), with the service's user and limits. 0, or an errno: E2BIG
 * when something does not fit, EINVAL when `user` or `limits` is bad,
 * env/'s error when it cannot be read. */
int spawn_slot_fill(struct spawn_slot *slot, const struct spawn_req *req);

/* How a child reports why it never ran its program. */
struct child_report {
    int errfd;                 /* a pipe to the waiting parent, or -1 */
    volatile int *cell;        /* else this shared cell */
    volatile int *cgroup_cell; /* the vfork child's cgroup join error */
};


/* The child: the s6 process setup, then exec, or _exit(126/127) after
 * reporting the error. Raw system calls only (child_sys). */
_Noreturn void spawn_child_exec(const struct spawn_slot *slot, const struct child_report *rep);
/* In the parent, before a spawn: learns once which signals the
 * supervisor ignores, so the child resets only those. */
void spawn_child_prepare(void);

#if defined(__x86_64__)
/* A system call without libc: returns the result or -errno and touches no
 * memory of the parent's (glibc's wrappers write errno, which a child that
 * shares the parent's memory would change under it). */
static inline long child_sys(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}

static inline long child_sys4(long nr, long a, long b, long c, long d)
{
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}

static inline long child_sys5(long nr, long a, long b, long c, long d, long e)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}

#else
/* Elsewhere the child never shares memory while the parent runs (fork-like
 * or vfork), so libc is safe; the same -errno convention. */
static inline long child_sys5(long nr, long a, long b, long c, long d, long e)
{
    long ret = syscall(nr, a, b, c, d, e);
    return ret < 0 ? -errno : ret;
}

static inline long child_sys4(long nr, long a, long b, long c, long d)
{
    return child_sys5(nr, a, b, c, d, 0);
}

static inline long child_sys(long nr, long a, long b, long c)
{
    return child_sys4(nr, a, b, c, 0);
}

#endif

/* The clone3(2) arguments (linux/sched.h, declared here to keep that
 * header's CLONE_* out of glibc's way). */
struct spawn_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
        set_tid, set_tid_size, cgroup;
};
#define SPAWN_CLONE_VM 0x100ULL
#define SPAWN_CLONE_FILES 0x400ULL
#define SPAWN_CLONE_VFORK 0x4000ULL
#define SPAWN_CLONE_CHILD_CLEARTID 0x200000ULL
#define SPAWN_CLONE_INTO_CGROUP 0x200000000ULL

static inline bool clone3_missing(int err)
{
    return err == ENOSYS || err == E2BIG || err == EINVAL;
}


/* spawn_shared.c: the CLONE_VM | CLONE_FILES path (see its header). */
void spawn_shared_init(void);
/* The pid, -1 with errno, or -2 when this way is unavailable (off, no free
 * slot, a request too large for one, a kernel without it). */
pid_t spawn_shared(const struct spawn_req *req);

#endif
