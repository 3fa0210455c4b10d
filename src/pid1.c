/* pid1.c — PID 1's own duties outside the supervisor's loop: bounded side
 * work in children (state_run_bounded: never an unbounded wait), reaping, the
 * panic policy and the final shutdown sequence.
 *
 * Owns: the order and the time bounds of the last steps before reboot(2).
 * Must never: exit as the machine's PID 1, wait without a deadline, or
 * touch the persist path itself (the unmount is a hook from src/state/).
 */
#include "pid1.h"

#include "log.h"
#include "state/state.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The inode of the initial PID namespace (include/linux/proc_ns.h). */
#define PID1_INIT_PIDNS_INO 0xEFFFFFFCu
#define PID1_SHELL_RESPAWN_MS 1000
#define PID1_PANIC_SHELL_RUNS_MAX 1000

static enum pid1_panic_policy panic_policy = PID1_PANIC_REBOOT;
static bool panic_container;

bool pid1_panic_policy_parse(const char *s, enum pid1_panic_policy *out)
{
    static const char *const names[] = {"reboot", "halt", "shell"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum pid1_panic_policy)i;
            return true;
        }
    }
    return false;
}

const char *pid1_panic_policy_name(enum pid1_panic_policy p)
{
    switch (p) {
    case PID1_PANIC_REBOOT: return "reboot";
    case PID1_PANIC_HALT: return "halt";
    case PID1_PANIC_SHELL: return "shell";
    }
    return "?";
}

bool pid1_is_container(void)
{
    const char *c = getenv("container");
    if (c && c[0])
        return true;
    struct stat st;
    if (stat("/proc/self/ns/pid", &st) != 0)
        return false; /* no /proc: assume a real machine */
    return st.st_ino != PID1_INIT_PIDNS_INO;
}

int pid1_reap_nohang(void)
{
    int n = 0;
    /* Bounded: each iteration removes one zombie; there are at most
     * pid_max of them. */
    for (;;) {
        pid_t p = waitpid(-1, NULL, WNOHANG);
        if (p <= 0)
            return n;
        n++;
    }
}

/* Reap until there are no children left or the deadline passes; waits for
 * SIGCHLD with sigtimedwait (SIGCHLD is blocked by the caller). Returns
 * true when no child is left. */
static bool reap_all_until(int64_t deadline_ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    for (;;) {
        for (;;) {
            pid_t p = waitpid(-1, NULL, WNOHANG);
            if (p < 0 && errno == ECHILD)
                return true;
            if (p <= 0)
                break;
        }
        int64_t left_ms = deadline_ms - time_mono_ms();
        if (left_ms <= 0)
            return false;
        struct timespec ts = {left_ms / 1000, (left_ms % 1000) * 1000000L};
        (void)sigtimedwait(&set, NULL, &ts);
    }
}

static int child_sync(void *ctx)
{
    (void)ctx;
    sync();
    return 0;
}

static void bounded_sync(void)
{
    int64_t t0 = time_mono_ms();
    int rc;
    enum state_result r = state_run_bounded(child_sync, NULL, PID1_SYNC_TIMEOUT_MS, "sync", &rc);
    log_info("event=shutdown step=sync result=%s ms=%lld",
             r == STATE_OK && rc == 0 ? "ok" : "timeout", (long long)(time_mono_ms() - t0));
}

static void kill_everything(uint32_t term_grace_ms)
{
    int64_t t0 = time_mono_ms();
    int rc = kill(-1, SIGTERM);
    log_info("event=shutdown step=term signal=SIGTERM target=all%s",
             rc != 0 && errno == ESRCH ? " none=1" : "");
    bool gone = reap_all_until(t0 + term_grace_ms);
    if (!gone) {
        (void)kill(-1, SIGKILL);
        log_info("event=shutdown step=kill signal=SIGKILL target=all "
                 "after_ms=%u",
                 term_grace_ms);
        gone = reap_all_until(time_mono_ms() + PID1_KILL_WAIT_MS);
    }
    log_info("event=shutdown step=reaped all_gone=%s ms=%lld",
             gone ? "yes" : "no", (long long)(time_mono_ms() - t0));
}

static int reboot_cmd(enum supervise_exit how, const char **name)
{
    switch (how) {
    case SUPERVISE_EXIT_REBOOT: *name = "reboot"; return RB_AUTOBOOT;
    case SUPERVISE_EXIT_HALT: *name = "halt"; return RB_HALT_SYSTEM;
    case SUPERVISE_EXIT_POWEROFF:
    case SUPERVISE_EXIT_STOP:
    case SUPERVISE_EXIT_ERROR:
        break;
    }
    *name = "poweroff";
    return RB_POWER_OFF;
}

_Noreturn void pid1_final(enum supervise_exit how, bool container,
                          uint32_t term_grace_ms,
                          const struct pid1_final_hooks *hooks)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int64_t t0 = time_mono_ms();
    log_info("event=shutdown step=begin how=%s container=%s", supervise_exit_name(how),
             container ? "yes" : "no");
    kill_everything(term_grace_ms);
    if (hooks && hooks->flush)
        hooks->flush();
    bounded_sync();
    if (hooks && hooks->unmount)
        hooks->unmount();
    if (container && (how == SUPERVISE_EXIT_STOP || how == SUPERVISE_EXIT_ERROR)) {
        int code = how == SUPERVISE_EXIT_ERROR ? 1 : supervise_exit_status();
        log_info("event=shutdown step=exit status=%d ms=%lld", code,
                 (long long)(time_mono_ms() - t0));
        exit(code);
    }
    const char *name;
    int cmd = reboot_cmd(how, &name);
    log_info("event=shutdown step=reboot cmd=%s ms=%lld", name,
             (long long)(time_mono_ms() - t0));
    reboot(cmd);
    /* Only reached when reboot(2) is refused (no CAP_SYS_BOOT). */
    log_error("event=shutdown step=reboot cmd=%s error=%s", name,
              strerror(errno));
    if (container || getpid() != 1)
        exit(supervise_exit_status());
    bay0_panic("reboot(2) failed");
}

static void panic_shell(void)
{
    for (int i = 0; i < PID1_PANIC_SHELL_RUNS_MAX; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            child_signals_for_exec();
            setsid();
            /* A container's console is its stdio: keep it. */
            int fd = panic_container ? -1 : open("/dev/console", O_RDWR);
            if (fd >= 0) {
                (void)ioctl(fd, TIOCSCTTY, 1);
                dup2(fd, 0);
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execl("/bin/sh", "sh", (char *)NULL);
            _exit(127);
        }
        if (pid > 0) {
            /* Reap everything; return when the shell itself is gone. */
            for (;;) {
                pid_t p = waitpid(-1, NULL, 0);
                if (p == pid || (p < 0 && errno == ECHILD))
                    break;
            }
        }
        struct timespec ts = {PID1_SHELL_RESPAWN_MS / 1000, 0};
        nanosleep(&ts, NULL);
    }
}

static void panic_handler(const char *reason)
{
    dprintf(STDERR_FILENO, "bay0: PANIC: %s (policy=%s)\n", reason,
            pid1_panic_policy_name(panic_policy));
    int rc;
    enum state_result r = state_run_bounded(child_sync, NULL, PID1_SYNC_TIMEOUT_MS, "sync", &rc);
    dprintf(STDERR_FILENO, "bay0: panic: sync %s\n", r == STATE_OK && rc == 0 ? "done" : "timed out");
    if (panic_policy == PID1_PANIC_SHELL)
        panic_shell();
    reboot(panic_policy == PID1_PANIC_HALT ? RB_HALT_SYSTEM : RB_AUTOBOOT);
    dprintf(STDERR_FILENO, "bay0: panic: reboot(2) failed: %s\n",
            strerror(errno));
    if (panic_container || getpid() != 1)
        _exit(1);
    /* The machine's PID 1 must not exit: stay, reaping, forever. */
    for (;;) {
        (void)waitpid(-1, NULL, 0);
        pause();
    }
}

void pid1_panic_setup(enum pid1_panic_policy policy, bool container)
{
    panic_policy = policy;
    panic_container = container;
    bay0_set_panic_handler(panic_handler);
}
