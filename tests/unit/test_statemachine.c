/* test_statemachine.c — the service state machine (src/service.c,
 * service_on_event) driven directly, with the real service table read by
 * the real scan (src/scan.c) from service directories in a temp dir, and
 * real child processes (short shell scripts).
 *
 * The test plays the supervisor's loop (supervise.c) for what these cases
 * need: it reaps children and sends EV_RUN_EXIT / EV_AUX_EXIT, sends
 * EV_TIMER when a service's deadline passes, and EV_READY when a
 * notification-fd pipe gets a newline. It waits on a signalfd for SIGCHLD
 * and on the readiness pipe, with the nearest deadline as the timeout: no
 * sleeping. It is a subreaper, so what a service leaves behind is reaped.
 *
 * Every service has a `down` file, so the scan starts nothing; each test
 * starts its own service with EV_WANT_UP. Tests may allocate.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "scan.h"
#include "service.h"
#include "svc.h"
#include "util.h"

#define DRIVE_TIMEOUT_MS 10000

static char base[64];
static char scan_path[96];
static int sig_fd = -1;

/* ---- fixture ------------------------------------------------------------ */

static void put(const char *rel, const char *text, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", scan_path, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(fd_write_all(fd, text, strlen(text)), 0);
    close(fd);
}

/* NAME/ with run (a shell script body), a down file, and extra files
 * given as "file=content" pairs ending in NULL. */
static void service(const char *name, const char *run, ...)
{
    char rel[160];
    snprintf(rel, sizeof rel, "%s/%s", scan_path, name);
    assert_int_equal(mkdir(rel, 0755), 0);
    char script[1024];
    snprintf(script, sizeof script, "#!/bin/sh\n%s\n", run);
    snprintf(rel, sizeof rel, "%s/run", name);
    put(rel, script, 0755);
    snprintf(rel, sizeof rel, "%s/down", name);
    put(rel, "", 0644);
    va_list ap;
    va_start(ap, run);
    for (const char *kv = va_arg(ap, const char *); kv; kv = va_arg(ap, const char *)) {
        const char *eq = strchr(kv, '=');
        assert_non_null(eq);
        char file[64];
        snprintf(file, sizeof file, "%.*s", (int)(eq - kv), kv);
        bool script_file = strcmp(file, "finish") == 0 || strcmp(file, "undo") == 0;
        char text[512];
        snprintf(text, sizeof text, script_file ? "#!/bin/sh\n%s\n" : "%s\n", eq + 1);
        snprintf(rel, sizeof rel, "%s/%s", name, file);
        put(rel, text, script_file ? 0755 : 0644);
    }
    va_end(ap);
}

static void make_services(void)
{
    service("crashy", "exit 3", "restart-limit=3 60", NULL);
    service("healthy", "sleep 1.1; exit 1", NULL);
    service("sleeper", "exec sleep 100", "down-signal=HUP", NULL);
    /* Ready (a newline on fd 3) once TERM is ignored: no race with stop. */
    service("stubborn", "trap '' TERM; sleep 100 & echo >&3; wait; sleep 100",
            "timeout-kill=300", "notification-fd=3", NULL);
    service("stay", "exit 1", "finish=exit 125", NULL);
    service("finargs", "exit 7", "finish=echo \"$@\" > finish-args",
            "restart=never", NULL);
    service("finsig", "kill -USR1 $$", "finish=echo \"$@\" > finish-args",
            "restart=never", NULL);
    service("once", "exit 0", "type=oneshot", "undo=touch undone", NULL);
    service("oncebad", "exit 2", "type=oneshot", NULL);
    service("nfd", "echo >&3; exec sleep 100",
            "notification-fd=3", NULL);
    service("clean", "exit 0", "restart=on-failure", NULL);
    service("restarter", "exec sleep 100", NULL);
    char broken[160];
    snprintf(broken, sizeof broken, "%s/broken", scan_path); /* no run */
    assert_int_equal(mkdir(broken, 0755), 0);
}

static int group_setup(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_ERROR);
    strcpy(base, "/tmp/bay0-test-sm-XXXXXX");
    assert_non_null(mkdtemp(base));
    snprintf(scan_path, sizeof scan_path, "%s/scan", base);
    assert_int_equal(mkdir(scan_path, 0755), 0);
    make_services();
    static char run_path[96], log_path[96];
    snprintf(run_path, sizeof run_path, "%s/run", base);
    snprintf(log_path, sizeof log_path, "%s/log", base);
    assert_int_equal(mkdir(run_path, 0755), 0);
    assert_int_equal(mkdir(log_path, 0755), 0);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    assert_int_equal(sigprocmask(SIG_BLOCK, &set, NULL), 0);
    sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    assert_true(sig_fd >= 0);
    sup.scandir = scan_path;
    sup.rundir = run_path;
    sup.logdir = log_path;
    sup.scan_fd = open(scan_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    sup.devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    sup.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    assert_true(sup.scan_fd >= 0 && sup.devnull_fd >= 0 && sup.epoll_fd >= 0);
    assert_int_equal(sup_table_init(0), 0);
    sup_scan(true);
    return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int group_teardown(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < sup.used_hi; i++) { /* nothing may outlive us */
        struct svc *s = &sup.svcs[i];
        if (s->in_use && s->pid > 0)
            kill(-s->pid, SIGKILL);
        if (s->in_use && s->aux_pid > 0)
            kill(-s->aux_pid, SIGKILL);
    }
    int64_t limit = time_mono_ms() + 2000; /* bounded: reap what is left */
    while (waitpid(-1, NULL, WNOHANG) >= 0 && time_mono_ms() < limit) {
        struct pollfd p = {.fd = sig_fd, .events = POLLIN};
        poll(&p, 1, 100);
        struct signalfd_siginfo si;
        while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
            ;
    }
    nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---- the loop ----------------------------------------------------------- */

static void reap(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        bool aux = false;
        struct svc *s = svc_by_pid(pid, &aux);
        if (s)
            service_on_event(s, aux ? EV_AUX_EXIT : EV_RUN_EXIT, status);
    }
}

static void fire_timers(void)
{
    int64_t now = time_mono_ms();
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        struct svc *s = &sup.svcs[i];
        if (s->in_use && s->deadline_ms && s->deadline_ms <= now)
            service_on_event(s, EV_TIMER, 0);
    }
}

static void check_ready(struct svc *s)
{
    if (s->ready_fd < 0)
        return;
    char buf[64];
    ssize_t n = read(s->ready_fd, buf, sizeof buf);
    if (n > 0 && memchr(buf, '\n', (size_t)n))
        service_on_event(s, EV_READY, 0);
}

static int64_t next_deadline(int64_t limit)
{
    int64_t next = limit;
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        int64_t d = sup.svcs[i].in_use ? sup.svcs[i].deadline_ms : 0;
        if (d && d < next)
            next = d;
    }
    return next;
}

typedef bool (*cond_fn)(const struct svc *s, intptr_t arg);

/* Runs the loop until cond holds or DRIVE_TIMEOUT_MS passes. */
static bool drive(struct svc *s, cond_fn cond, intptr_t arg)
{
    int64_t limit = time_mono_ms() + DRIVE_TIMEOUT_MS;
    for (;;) {
        reap();
        check_ready(s);
        fire_timers();
        if (cond(s, arg))
            return true;
        int64_t now = time_mono_ms();
        if (now >= limit)
            return false;
        struct pollfd p[2] = {{.fd = sig_fd, .events = POLLIN},
                              {.fd = s->ready_fd, .events = POLLIN}};
        int64_t wait = next_deadline(limit) - now;
        poll(p, s->ready_fd >= 0 ? 2 : 1, wait > 0 ? (int)wait + 1 : 0);
        struct signalfd_siginfo si;
        while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
            ;
    }
}

static bool in_state(const struct svc *s, intptr_t st) { return s->state == st; }
static bool at_generation(const struct svc *s, intptr_t g) { return s->generation >= (uint32_t)g; }
static bool group_gone(const struct svc *s, intptr_t pgid)
{
    (void)s;
    return kill(-(pid_t)pgid, 0) < 0 && errno == ESRCH;
}

static struct svc *start(const char *name)
{
    struct svc *s = svc_find(name);
    assert_non_null(s);
    assert_int_equal(s->state, ST_DOWN);
    assert_true(s->def.down_file);
    service_on_event(s, EV_WANT_UP, 0);
    return s;
}

static void await_state(struct svc *s, enum svc_state st)
{
    if (!drive(s, in_state, st))
        fail_msg("svc=%s: still %s, wanted %s (reason '%s')", s->name,
                 svc_state_name(s->state), svc_state_name(st), s->reason);
}

static void stop_and_await_down(struct svc *s)
{
    service_on_event(s, EV_WANT_DOWN, 0);
    await_state(s, ST_DOWN);
    assert_int_equal(s->pid, 0);
}

static void read_file(const char *svc, const char *file, char *buf, size_t size)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s/%s", scan_path, svc, file);
    ssize_t n = file_read_small(AT_FDCWD, path, buf, size);
    if (n < 0)
        fail_msg("%s: %s", path, strerror(errno));
    str_rstrip(buf);
}

/* ---- tests -------------------------------------------------------------- */

static void test_scan_reads_every_service(void **state)
{
    (void)state;
    struct svc *b = svc_find("broken");
    assert_non_null(b);
    assert_true(b->config_error);
    assert_int_equal(b->state, ST_FAILED);
    assert_string_equal(b->reason, "run: missing");
    struct svc *s = svc_find("sleeper");
    assert_non_null(s);
    assert_int_equal(s->state, ST_DOWN);
    assert_int_equal(s->pid, 0);
}

static void test_config_error_start_fails_without_spawning(void **state)
{
    (void)state;
    struct svc *b = svc_find("broken");
    service_on_event(b, EV_WANT_UP, 0);
    assert_int_equal(b->state, ST_FAILED);
    assert_int_equal(b->pid, 0);
    assert_int_equal(b->generation, 0);
    service_on_event(b, EV_WANT_DOWN, 0);
    assert_int_equal(b->state, ST_DOWN);
}

static void test_crash_loop_ends_failed(void **state)
{
    (void)state;
    struct svc *s = start("crashy");
    await_state(s, ST_FAILED);
    assert_int_equal(s->generation, 3); /* restart-limit 3 60: three deaths */
    assert_int_equal(s->restarts, 2);
    assert_int_equal(s->exit_kind, EXIT_CODE);
    assert_int_equal(s->exit_value, 3);
    assert_string_equal(s->reason, "restart limit: 3 deaths in 60 s");
    assert_int_equal(s->pid, 0);
    assert_int_equal(s->deadline_ms, 0); /* no more restarts */
    service_on_event(s, EV_WANT_UP, 0); /* an operator's start tries again */
    assert_int_equal(s->generation, 4);
    await_state(s, ST_FAILED);
    assert_int_equal(s->generation, 6);
}

/* A service that ran a while is restarted at once, not after a delay. */
static void test_healthy_run_restarts_at_once(void **state)
{
    (void)state;
    struct svc *s = start("healthy");
    assert_int_equal(s->state, ST_UP);
    if (!drive(s, at_generation, 2))
        fail_msg("no restart: %s", svc_state_name(s->state));
    int64_t death_ms = s->last_death_ms;
    assert_true(s->started_mono_ms - death_ms < SVC_RESTART_DELAY_MS_MIN);
    assert_int_equal(s->state, ST_UP);
    assert_int_equal(s->restarts, 1);
    stop_and_await_down(s);
}

static void test_stop_sends_down_signal(void **state)
{
    (void)state;
    struct svc *s = start("sleeper");
    assert_int_equal(s->state, ST_UP);
    assert_true(s->pid > 0);
    assert_true(s->ready);
    service_on_event(s, EV_WANT_DOWN, 0);
    assert_int_equal(s->state, ST_STOPPING);
    await_state(s, ST_DOWN);
    assert_int_equal(s->exit_kind, EXIT_SIGNAL);
    assert_int_equal(s->exit_value, SIGHUP);
    assert_false(s->want_up);
    assert_int_equal(s->generation, 1); /* a requested stop is no restart */
}

static void test_stop_timeout_kills_group(void **state)
{
    (void)state;
    struct svc *s = start("stubborn");
    pid_t pgid = s->pid;
    await_state(s, ST_READY);
    service_on_event(s, EV_WANT_DOWN, 0);
    int64_t t0 = time_mono_ms();
    await_state(s, ST_DOWN);
    int64_t took = time_mono_ms() - t0;
    if (took < 300)
        fail_msg("stopped after %lld ms, exit kind %d value %d", (long long)took,
                 s->exit_kind, s->exit_value);
    assert_true(took < 3000);
    assert_int_equal(s->exit_kind, EXIT_SIGNAL);
    assert_int_equal(s->exit_value, SIGKILL);
    /* The background sleep (same group, ignores TERM) is gone too. */
    if (!drive(s, group_gone, pgid))
        fail_msg("process group %d survives the stop", pgid);
}

static void test_finish_125_stays_down(void **state)
{
    (void)state;
    struct svc *s = start("stay");
    await_state(s, ST_DOWN);
    assert_false(s->want_up);
    assert_int_equal(s->generation, 1);
    assert_int_equal(s->aux_code, 125);
    assert_string_equal(s->reason, "finish exited 125: stay down");
}

/* s6: finish gets the exit code and 0, or 256 and the signal number, then
 * the service name and the run's process group. */
static void test_finish_arguments(void **state)
{
    (void)state;
    struct svc *s = start("finargs");
    pid_t pgid = s->pid;
    await_state(s, ST_FAILED);
    assert_string_equal(s->reason, "exited 7 (restart=never)");
    char buf[128], want[128];
    read_file("finargs", "finish-args", buf, sizeof buf);
    snprintf(want, sizeof want, "7 0 finargs %d", pgid);
    assert_string_equal(buf, want);

    s = start("finsig");
    pgid = s->pid;
    await_state(s, ST_FAILED);
    assert_string_equal(s->reason, "killed by SIGUSR1 (restart=never)");
    read_file("finsig", "finish-args", buf, sizeof buf);
    snprintf(want, sizeof want, "256 %d finsig %d", SIGUSR1, pgid);
    assert_string_equal(buf, want);
}

static void test_oneshot_up_then_undo(void **state)
{
    (void)state;
    struct svc *s = start("once");
    assert_int_equal(s->state, ST_STARTING);
    await_state(s, ST_UP);
    assert_true(s->ready);
    assert_int_equal(s->pid, 0);
    service_on_event(s, EV_WANT_DOWN, 0);
    assert_int_equal(s->state, ST_FINISHING); /* undo runs */
    await_state(s, ST_DOWN);
    char path[160];
    snprintf(path, sizeof path, "%s/once/undone", scan_path);
    assert_int_equal(access(path, F_OK), 0);

    s = start("oncebad");
    await_state(s, ST_FAILED);
    assert_string_equal(s->reason, "oneshot exited 2");
    assert_int_equal(s->generation, 1); /* a oneshot is not restarted */
}

static void test_notification_fd_readiness(void **state)
{
    (void)state;
    struct svc *s = start("nfd");
    assert_int_equal(s->state, ST_STARTING);
    assert_false(s->ready);
    assert_true(s->ready_fd >= 0);
    await_state(s, ST_READY);
    assert_true(s->ready);
    assert_int_equal(s->ready_fd, -1); /* the pipe is closed once ready */
    stop_and_await_down(s);
}

static void test_on_failure_clean_exit_stays_down(void **state)
{
    (void)state;
    struct svc *s = start("clean");
    await_state(s, ST_DOWN);
    assert_false(s->want_up);
    assert_int_equal(s->generation, 1);
    assert_int_equal(s->exit_kind, EXIT_CODE);
    assert_int_equal(s->exit_value, 0);
}

static void test_restart_gives_new_process(void **state)
{
    (void)state;
    struct svc *s = start("restarter");
    pid_t first = s->pid;
    service_on_event(s, EV_WANT_RESTART, 0);
    assert_int_equal(s->state, ST_STOPPING);
    if (!drive(s, at_generation, 2))
        fail_msg("no restart: %s", svc_state_name(s->state));
    assert_int_equal(s->state, ST_UP);
    assert_true(s->pid > 0);
    assert_true(s->pid != first);
    assert_int_equal(s->restarts, 1);
    assert_int_equal(s->deaths_len, 0); /* a requested stop is no death */
    stop_and_await_down(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_reads_every_service),
        cmocka_unit_test(test_config_error_start_fails_without_spawning),
        cmocka_unit_test(test_crash_loop_ends_failed),
        cmocka_unit_test(test_healthy_run_restarts_at_once),
        cmocka_unit_test(test_stop_sends_down_signal),
        cmocka_unit_test(test_stop_timeout_kills_group),
        cmocka_unit_test(test_finish_125_stays_down),
        cmocka_unit_test(test_finish_arguments),
        cmocka_unit_test(test_oneshot_up_then_undo),
        cmocka_unit_test(test_notification_fd_readiness),
        cmocka_unit_test(test_on_failure_clean_exit_stays_down),
        cmocka_unit_test(test_restart_gives_new_process),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
