/* spawn_shared.c — the fastest way to start a service program, and the one
 * with sharp edges: clone3(CLONE_VM | CLONE_FILES | CLONE_CHILD_CLEARTID |
 * CLONE_INTO_CGROUP) on a stack from a pool of SPAWN_SLOTS slots. No page
 * tables are copied, the parent takes no copy-on-write faults after, no fd
 * table is copied, and the parent never waits for the exec (bench/README.md
 * has the numbers that pay for this file).
 *
 * The rules. Break one and the supervisor's memory is corrupted from
 * another CPU, with no error anywhere:
 *  1. Until its exec the child runs in the parent's memory. It makes raw
 *     system calls only (child_sys: no libc, whose errno, locks and buffers
 *     are the parent's), writes nothing but its slot's cells and the exec
 *     error cell, and never returns through a C frame (bay0_clone3_call).
 *  2. Everything the child reads (request, argv, environment, creds, stack)
 *     is in its slot. A slot is busy from clone3 until the kernel clears
 *     `busy` (CLONE_CHILD_CLEARTID) at the child's exec or exit; the parent
 *     reuses it only then.
 *  3. The fd table is shared until the child's first call,
 *     close_range(files_low, ~0, CLOSE_RANGE_UNSHARE). The child's fds are
 *     first dup'ed to the slot's reserved fds below files_low (lo[]); the
 *     parent lets go of them (spawn_sweep) only once the child says, through
 *     files_efd, that it has its own table, or has exec'd or exited.
 *     While it is shared, the kernel grows the table only after an RCU
 *     grace period (4-12 ms, the supervisor blocked): a scan grows it for
 *     all its starts first (fd_table_reserve, scan.c).
 *  4. The parent waits for a slot at most SPAWN_SLOT_WAIT_US, then spawns
 *     fork-like (spawn.c): a stuck child never holds up the loop.
 *  5. x86_64 only (the assembly), never under ASan (its shadow memory and
 *     interceptors do not survive a second thread of execution in the same
 *     memory), and never with BAY0_SPAWN_PLAIN set in the supervisor's
 *     environment: then every spawn takes the fork-like path of spawn.c.
 *     CI runs the system tests once that way, so both paths stay tested.
 *  6. A child that writes its oom_score_adj (an oom-score-adj file, or
 *     0 under a supervisor at a negative value, PID 1's -1000) is cloned
 *     with CLONE_VFORK too, and the parent waits for its exec. The kernel
 *     writes a value into every process that shares the writer's memory,
 *     the supervisor and the other slots' children included, except when
 *     the writer is a vfork child (__set_oom_adj, "vfork which wants its
 *     own oom_score_adj"): only that makes the child's write its own.
 *     The value is then in place before the program's first instruction
 *     (no window in which it runs, and allocates, at -1000); the price
 *     is that such spawns do not overlap their exec with the next spawn.
 */
#include "spawn_internal.h"

#include "log.h"
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <time.h>

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define SPAWN_SHARED_MEMORY 1
#endif

#define SPAWN_SLOT_WAIT_US 2000

static struct spawn_slot *slots;    /* SPAWN_SLOTS, for children sharing memory */
/* Children that share memory share the fd table too (CLONE_FILES) until
 * their first system call, close_range(files_low, ~0, UNSHARE), which
 * gives them a table of the fds below files_low only: the supervisor's
 * thousands of log pipes are neither copied at clone nor closed one by one
 * at exec. What the child needs is dup'ed below files_low first (lo[]);
 * the child then writes files_efd, and spawn_sweep() lets go of lo[]. */
static int files_low = -1; /* -1: no fd table sharing */
static int files_efd = -1;
static int files_null = -1;
static unsigned files_held; /* slots with held fds */

#ifdef SPAWN_SHARED_MEMORY
static unsigned slot_next;

/* Reserves the low fds (called early, while few fds are open). */
static void files_init(void)
{
    int top = files_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    files_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (files_null < 0 || files_efd < 0)
        goto off;
    top = files_efd > top ? files_efd : top;
    for (unsigned i = 0; i < SPAWN_SLOTS; i++)
        for (unsigned j = 0; j < ARRAY_LEN(slots[i].lo); j++) {
            int fd = fcntl(files_null, F_DUPFD_CLOEXEC, 3);
            if (fd < 0)
                goto off;
            slots[i].lo[j] = fd;
            top = fd > top ? fd : top;
        }
    files_low = top + 1;
    return;
off:
    log_warn("event=spawn-fd-sharing-off error=\"%s\" effect=\"each spawn copies the fd table\"",
             strerror(errno));
}
#endif



/* Off with BAY0_SPAWN_PLAIN (non-empty, not "0"): every spawn fork-like. */
static bool plain_forced(void)
{
    const char *v = getenv("BAY0_SPAWN_PLAIN");
    return v && v[0] && strcmp(v, "0") != 0;
}

void spawn_shared_init(void)
{
    if (plain_forced()) {
        log_info("event=spawn-plain reason=\"BAY0_SPAWN_PLAIN is set\"");
        return;
    }
#ifdef SPAWN_SHARED_MEMORY
    slots = table_alloc(SPAWN_SLOTS, sizeof *slots);
    if (slots) /* without slots every spawn is fork-like: slower, never wrong */
        files_init();
#endif
}

int spawn_event_fd(void) { return files_low >= 0 ? files_efd : -1; }

void spawn_sweep(void)
{
    if (files_held == 0)
        return;
    BAY0_ASSERT(slots && files_held <= SPAWN_SLOTS);
    for (unsigned i = 0; i < SPAWN_SLOTS; i++) {
        struct spawn_slot *slot = &slots[i];
        if (!slot->held || (!__atomic_load_n(&slot->unshared, __ATOMIC_ACQUIRE) &&
                            __atomic_load_n(&slot->busy, __ATOMIC_ACQUIRE) != 0))
            continue;
        for (unsigned j = 0; j < ARRAY_LEN(slot->lo); j++)
            (void)dup3(files_null, slot->lo[j], O_CLOEXEC); /* drops the pipe, keeps the number */
        slot->held = false;
        files_held--;
    }
}

void spawn_on_event(void)
{
    uint64_t n;
    (void)!read(files_efd, &n, sizeof n);
    spawn_sweep();
}


#ifdef SPAWN_SHARED_MEMORY
/* clone3(2) whose child calls fn(arg) on the stack that args gives and
 * exits with its result; the parent gets the pid or -errno. Assembly,
 * because the child must not return through a C frame: it has none on its
 * new stack. fn and arg ride in rdx and r8, which the syscall keeps. */
long bay0_clone3_call(struct spawn_clone_args *args, size_t size, int (*fn)(void *),
                      void *arg);
__asm__(".text\n"
        ".globl bay0_clone3_call\n"
        ".hidden bay0_clone3_call\n"
        ".type bay0_clone3_call,@function\n"
        "bay0_clone3_call:\n"
        "    mov %rcx, %r8\n"
        "    mov $435, %eax\n" /* __NR_clone3 */
        "    syscall\n"
        "    test %rax, %rax\n"
        "    jz 1f\n"
        "    ret\n"
        "1:  xor %ebp, %ebp\n"
        "    mov %r8, %rdi\n"
        "    call *%rdx\n"
        "    mov %eax, %edi\n"
        "    mov $231, %eax\n" /* __NR_exit_group */
        "    syscall\n"
        "    hlt\n"
        ".size bay0_clone3_call, .-bay0_clone3_call\n");

static int shared_child_main(void *arg)
{
    struct spawn_slot *slot = arg;
    struct child_report rep = {.errfd = -1, .cell = slot->req.exec_errno};
    if (slot->held) { /* the fd table is the parent's: take a copy of the low fds */
        long r = child_sys(SYS_close_range, files_low, ~0U, CLOSE_RANGE_UNSHARE);
        if (r < 0)
            r = child_sys(SYS_unshare, CLONE_FILES, 0, 0); /* before Linux 5.9: all of it */
        if (r < 0) {
            *rep.cell = (int)-r;
            for (;;)
                child_sys(SYS_exit_group, 126, 0, 0);
        }
        __atomic_store_n(&slot->unshared, 1, __ATOMIC_RELEASE);
        uint64_t one = 1;
        child_sys(SYS_write, files_efd, (long)&one, sizeof one);
    }
    spawn_child_exec(slot, &rep);
}

/* Puts the child's fds at the slot's low numbers, so that they survive
 * its close_range; false (nothing held) if a dup fails. */
static bool slot_hold_fds(struct spawn_slot *slot)
{
    int *fds[3] = {&slot->req.stdin_fd, &slot->req.stdout_fd, &slot->req.extra_fd};
    BAY0_ASSERT(slot >= slots && slot < slots + SPAWN_SLOTS && !slot->held);
    for (unsigned j = 0; j < 3; j++)
        if (*fds[j] >= 0 && dup3(*fds[j], slot->lo[j], O_CLOEXEC) < 0) {
            for (unsigned k = 0; k < j; k++)
                (void)dup3(files_null, slot->lo[k], O_CLOEXEC);
            return false;
        }
    for (unsigned j = 0; j < 3; j++) /* only once all are in place */
        if (*fds[j] >= 0) {
            BAY0_ASSERT(slot->lo[j] > 2 && slot->lo[j] < files_low);
            *fds[j] = slot->lo[j];
        }
    slot->unshared = 0;
    slot->held = true;
    files_held++;
    return true;
}

static struct spawn_slot *slot_find_free(void)
{
    spawn_sweep();
    for (unsigned i = 0; i < SPAWN_SLOTS; i++) {
        struct spawn_slot *slot = &slots[(slot_next + i) % SPAWN_SLOTS];
        if (__atomic_load_n(&slot->busy, __ATOMIC_ACQUIRE) == 0 && !slot->held) {
            slot_next = (slot_next + i + 1) % SPAWN_SLOTS;
            return slot;
        }
    }
    return NULL;
}

/* A free slot. When every one still has a child before its exec (the CPUs
 * are busy with earlier children), waits a little for the oldest: that
 * gives the CPU to the children, which is what they need. NULL after
 * SPAWN_SLOT_WAIT_US (a child stopped or stuck before its exec): the
 * caller then spawns fork-like, so a stuck child never holds up the loop. */
static struct spawn_slot *slot_take(void)
{
    if (!slots)
        return NULL;
    struct spawn_slot *slot = slot_find_free();
    if (slot)
        return slot;
    struct timespec wait = {0, SPAWN_SLOT_WAIT_US * 1000L};
    syscall(SYS_futex, &slots[slot_next].busy, FUTEX_WAIT, 1, &wait, NULL, 0);
    return slot_find_free();
}

pid_t spawn_shared(const struct spawn_req *req)
{
    static bool refused;
    struct spawn_slot *slot = refused ? NULL : slot_take();
    if (!slot)
        return -2;
    int err = spawn_slot_fill(slot, req);
    if (err == EINVAL) {
        errno = err;
        return -1;
    }
    if (err)
        return -2;
    BAY0_ASSERT(slot >= slots && slot < slots + SPAWN_SLOTS && slot->busy == 0);
    *req->exec_errno = 0;
    slot->busy = 1;
    bool share_files = files_low >= 0 && slot_hold_fds(slot);
    bool own_oom = slot->oom_text[0] != '\0'; /* rule 6 */
    struct spawn_clone_args args = {
        .flags = SPAWN_CLONE_VM | SPAWN_CLONE_CHILD_CLEARTID |
                 (req->cgroup_fd >= 0 ? SPAWN_CLONE_INTO_CGROUP : 0) |
                 (share_files ? SPAWN_CLONE_FILES : 0) | (own_oom ? SPAWN_CLONE_VFORK : 0),
        .child_tid = (uint64_t)(uintptr_t)&slot->busy,
        .exit_signal = SIGCHLD,
        .stack = (uint64_t)(uintptr_t)slot->stack,
        .stack_size = sizeof slot->stack,
        .cgroup = req->cgroup_fd >= 0 ? (uint64_t)req->cgroup_fd : 0,
    };
    long pid = bay0_clone3_call(&args, sizeof args, shared_child_main, slot);
    if (pid >= 0)
        return (pid_t)pid;
    slot->busy = 0;
    slot->unshared = 1;
    spawn_sweep();
    if (clone3_missing((int)-pid)) {
        refused = true;
        return -2;
    }
    errno = (int)-pid;
    return -1;
}
#endif


#ifndef SPAWN_SHARED_MEMORY
pid_t spawn_shared(const struct spawn_req *req)
{
    (void)req;
    return -2;
}
#endif
