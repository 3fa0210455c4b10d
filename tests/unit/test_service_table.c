/* test_service_table.c — the service state machine (src/service.c) with a
 * fake clock and fake processes (struct service_ops): every (state, event)
 * pair of the transition table, the impossible ones included (they must
 * end in an assertion), the timing rules (backoff, healthy restart,
 * restart limit, kill timeout) at exact fake times, and the header
 * comment's table checked cell for cell against the code's table.
 *
 * Two services in the real table: B (no dependencies) and M, which
 * depends on B. Each case starts from a fresh table and drives M into the
 * state under test with events only (never by writing its fields), so a
 * fixture is itself a path through the machine.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "scan.h"
#include "service.h"
#include "svc.h"
#include "svcmap.h"
#include "util.h"

/* ---- fakes ---------------------------------------------------------------- */

static int64_t fake_now_ms;
static pid_t fake_next_pid;
static int fake_spawns;
static char fake_last_prog[32];
static int fake_spawn_errno;  /* next spawn fails with this */
static int fake_exec_errno;   /* the run "never reached exec" */
static int fake_leader_kills;
static pid_t fake_last_leader;
static int fake_last_leader_sig;
static int fake_group_kills;
static int fake_cgroup_kills;

static int64_t fake_mono_ms(void) { return fake_now_ms; }
static int64_t fake_wall_ns(void) { return fake_now_ms * 1000000; }

static pid_t fake_spawn(struct svc *s, const char *prog, const char *const *argv,
                        int extra_fd, int extra_target)
{
    (void)s, (void)argv, (void)extra_fd, (void)extra_target;
    snprintf(fake_last_prog, sizeof fake_last_prog, "%s", prog);
    if (fake_spawn_errno) {
        errno = fake_spawn_errno;
        return -1;
    }
    fake_spawns++;
    return fake_next_pid++;
}

static int fake_exec_error(struct svc *s)
{
    (void)s;
    return fake_exec_errno;
}

static void fake_kill_group(pid_t pgid, int sig)
{
    (void)pgid, (void)sig;
    fake_group_kills++;
}

static void fake_kill_leader(pid_t leader, int sig)
{
    fake_leader_kills++;
    fake_last_leader = leader;
    fake_last_leader_sig = sig;
}

static void fake_kill_cgroup(const struct svc *s)
{
    (void)s;
    fake_cgroup_kills++;
}

static const struct service_ops fake_ops = {
    .mono_ms = fake_mono_ms,
    .wall_ns = fake_wall_ns,
    .spawn = fake_spawn,
    .exec_error = fake_exec_error,
    .kill_group = fake_kill_group,
    .kill_leader = fake_kill_leader,
    .kill_cgroup = fake_kill_cgroup,
};

/* An assertion in the machine lands here instead of in the panic policy. */
static jmp_buf panic_jump;
static bool panic_armed;
static char panic_reason[512];

static void on_panic(const char *reason)
{
    snprintf(panic_reason, sizeof panic_reason, "%s", reason);
    if (panic_armed) {
        panic_armed = false;
        longjmp(panic_jump, 1);
    }
    fail_msg("unexpected panic: %s", reason);
    abort();
}

/* ---- fixture -------------------------------------------------------------- */

static struct svc *B, *M;
static const int EXIT_1 = 1 << 8; /* wait status of exit(1) */

static void slot_reset(struct svc *s, const char *name)
{
    svc_slot_reset(s);
    snprintf(s->name, sizeof s->name, "%s", name);
    svcdir_defaults(&s->def);
    s->def.max_death_tally = 0;
}

static void send(struct svc *s, enum svc_event ev, int status)
{
    struct svc_input in = {.now_ms = fake_now_ms, .status = status};
    service_dispatch(s, ev, &in);
}

static void table_reset(void)
{
    B = &sup.svcs[0];
    M = &sup.svcs[1];
    slot_reset(B, "b");
    slot_reset(M, "m");
    sup.used_hi = 2;
    sup.dep_edges[0] = 0; /* M needs B */
    sup.dep_edges_used = 1;
    M->dep_first = 0;
    M->dep_count = 1;
    M->def.readiness = SVC_READY_NOTIFY; /* so STARTING lasts */
    M->def.has_finish = true;            /* so FINISHING exists */
    fake_now_ms = 1000000;
    fake_next_pid = 1000;
    fake_spawns = 0;
    fake_spawn_errno = 0;
    fake_exec_errno = 0;
    fake_leader_kills = fake_group_kills = fake_cgroup_kills = 0;
    fake_last_leader = 0;
    fake_last_leader_sig = 0;
    fake_last_prog[0] = '\0';
}

/* M in state st, reached by events only. B is up (ready) except for
 * WAITING, where it was never started. */
static void fixture(enum svc_state st)
{
    table_reset();
    if (st != ST_WAITING) {
        send(B, EV_WANT_UP, 0);
        assert_int_equal(B->state, ST_UP);
    }
    if (st == ST_UP)
        M->def.readiness = SVC_READY_NONE;
    if (st == ST_FAILED)
        M->def.restart = SVC_RESTART_NEVER;
    if (st != ST_DOWN)
        send(M, EV_WANT_UP, 0);
    if (st == ST_READY || st == ST_STOPPING || st == ST_FINISHING || st == ST_BACKOFF ||
        st == ST_FAILED)
        send(M, EV_READY, 0);
    if (st == ST_STOPPING)
        send(M, EV_WANT_DOWN, 0);
    if (st == ST_FINISHING || st == ST_BACKOFF || st == ST_FAILED)
        send(M, EV_RUN_EXIT, EXIT_1);
    if (st == ST_BACKOFF || st == ST_FAILED)
        send(M, EV_AUX_EXIT, 0);
    if (M->state != st)
        fail_msg("fixture for %s ended in %s", svc_state_name(st), svc_state_name(M->state));
    fake_spawns = 0;
    fake_leader_kills = fake_group_kills = fake_cgroup_kills = 0;
}

/* ---- every (state, event) pair ------------------------------------------- */

#define X (-1) /* impossible: the machine asserts */

struct expect {
    int state;  /* M's state after the event, or X */
    int spawns; /* programs started by it */
};

/* What each event does to M in each state. Events carry: RUN_EXIT exit 1,
 * AUX_EXIT exit 0, CONFIG a changed run file, CONFIG_ERROR a reason. */
static const struct expect matrix[ST_COUNT][EV_COUNT] = {
    /*            WANT_UP          WANT_DOWN         WANT_RESTART     DEPS_READY
                  RUN_EXIT         AUX_EXIT          READY            TIMER
                  CONFIG           CONFIG_ERROR */
    [ST_DOWN] = {{ST_STARTING, 1}, {ST_DOWN, 0}, {ST_STARTING, 1}, {ST_DOWN, 0},
                 {X, 0}, {X, 0}, {ST_DOWN, 0}, {ST_DOWN, 0},
                 {ST_DOWN, 0}, {ST_FAILED, 0}},
    [ST_WAITING] = {{ST_WAITING, 0}, {ST_DOWN, 0}, {ST_WAITING, 0}, {ST_WAITING, 0},
                    {X, 0}, {X, 0}, {ST_WAITING, 0}, {ST_WAITING, 0},
                    {ST_WAITING, 0}, {ST_FAILED, 0}},
    [ST_STARTING] = {{ST_STARTING, 0}, {ST_STOPPING, 0}, {ST_STOPPING, 0}, {ST_STARTING, 0},
                     {ST_FINISHING, 1}, {X, 0}, {ST_READY, 0}, {ST_STARTING, 0},
                     {ST_STOPPING, 0}, {ST_STOPPING, 0}},
    [ST_UP] = {{ST_UP, 0}, {ST_STOPPING, 0}, {ST_STOPPING, 0}, {ST_UP, 0},
               {ST_FINISHING, 1}, {X, 0}, {ST_READY, 0}, {ST_UP, 0},
               {ST_STOPPING, 0}, {ST_STOPPING, 0}},
    [ST_READY] = {{ST_READY, 0}, {ST_STOPPING, 0}, {ST_STOPPING, 0}, {ST_READY, 0},
                  {ST_FINISHING, 1}, {X, 0}, {ST_READY, 0}, {ST_READY, 0},
                  {ST_STOPPING, 0}, {ST_STOPPING, 0}},
    [ST_STOPPING] = {{ST_STOPPING, 0}, {ST_STOPPING, 0}, {ST_STOPPING, 0}, {ST_STOPPING, 0},
                     {ST_FINISHING, 1}, {X, 0}, {ST_STOPPING, 0}, {ST_STOPPING, 0},
                     {ST_STOPPING, 0}, {ST_STOPPING, 0}},
    [ST_FINISHING] = {{ST_FINISHING, 0}, {ST_FINISHING, 0}, {ST_FINISHING, 0},
                      {ST_FINISHING, 0}, {X, 0}, {ST_BACKOFF, 0}, {ST_FINISHING, 0},
                      {ST_FINISHING, 0}, {ST_FINISHING, 0}, {ST_FINISHING, 0}},
    [ST_BACKOFF] = {{ST_STARTING, 1}, {ST_DOWN, 0}, {ST_STARTING, 1}, {ST_BACKOFF, 0},
                    {X, 0}, {X, 0}, {ST_BACKOFF, 0}, {ST_STARTING, 1},
                    {ST_BACKOFF, 0}, {ST_FAILED, 0}},
    [ST_FAILED] = {{ST_STARTING, 1}, {ST_DOWN, 0}, {ST_STARTING, 1}, {ST_FAILED, 0},
                   {X, 0}, {X, 0}, {ST_FAILED, 0}, {ST_FAILED, 0},
                   {ST_FAILED, 0}, {ST_FAILED, 0}},
};

static void send_matrix_event(enum svc_event ev)
{
    struct svc_def changed = M->def;
    changed.run_sig.ino++;
    struct svc_input in = {.now_ms = fake_now_ms};
    if (ev == EV_RUN_EXIT)
        in.status = EXIT_1;
    if (ev == EV_CONFIG)
        in.def = &changed;
    if (ev == EV_CONFIG_ERROR)
        in.error = "run: missing";
    service_dispatch(M, ev, &in);
}

/* Sends ev to M; true when the machine asserted instead. */
static bool send_expecting_assertion(enum svc_event ev)
{
    panic_armed = true;
    panic_reason[0] = '\0';
    if (setjmp(panic_jump) != 0)
        return true;
    send_matrix_event(ev);
    panic_armed = false;
    return false;
}

/* The indexes (svcmap.c) agree with the table after every transition. */
static void check_indexes(void)
{
    struct svc *both[] = {B, M};
    int64_t next = 0;
    uint32_t pids = 0, deadlines = 0;
    for (size_t i = 0; i < ARRAY_LEN(both); i++) {
        struct svc *s = both[i];
        bool aux = true;
        if (s->pid) {
            assert_ptr_equal(svc_by_pid(s->pid, &aux), s);
            assert_false(aux);
            pids++;
        }
        if (s->aux_pid) {
            assert_ptr_equal(svc_by_pid(s->aux_pid, &aux), s);
            assert_true(aux);
            pids++;
        }
        if (s->deadline_ms && (!next || s->deadline_ms < next))
            next = s->deadline_ms;
        deadlines += s->deadline_ms != 0;
    }
    assert_int_equal(svcmap_deadline_next(), next);
    assert_int_equal(svcmap_deadline_count(), deadlines);
    assert_int_equal(svcmap_pid_count(), pids);
}

static void check_pair(enum svc_state st, enum svc_event ev)
{
    const struct expect *want = &matrix[st][ev];
    fixture(st);
    if (want->state == X) {
        if (!send_expecting_assertion(ev))
            fail_msg("%s + %s: no assertion (now %s)", svc_state_name(st),
                     svc_event_name(ev), svc_state_name(M->state));
        assert_non_null(strstr(panic_reason, "impossible"));
        return;
    }
    check_indexes();
    send_matrix_event(ev);
    check_indexes();
    if (M->state != want->state || fake_spawns != want->spawns)
        fail_msg("%s + %s: %s with %d spawns, wanted %s with %d", svc_state_name(st),
                 svc_event_name(ev), svc_state_name(M->state), fake_spawns,
                 svc_state_name(want->state), want->spawns);
}

static void test_every_state_event_pair(void **state)
{
    (void)state;
    for (int st = 0; st < ST_COUNT; st++)
        for (int ev = 0; ev < EV_COUNT; ev++)
            check_pair((enum svc_state)st, (enum svc_event)ev);
}

/* The side effects the matrix does not see. */
static void test_stop_signals_then_kills_at_timeout(void **state)
{
    (void)state;
    fixture(ST_READY);
    pid_t pid = M->pid;
    M->def.down_signal = SIGHUP;
    M->def.timeout_kill_ms = 700;
    send(M, EV_WANT_DOWN, 0);
    assert_int_equal(fake_leader_kills, 2); /* down-signal, then SIGCONT */
    assert_int_equal(fake_last_leader, pid);
    assert_int_equal(fake_last_leader_sig, SIGCONT);
    assert_int_equal(M->deadline_ms, fake_now_ms + 700);
    fake_now_ms += 700;
    send(M, EV_TIMER, 0);
    assert_int_equal(M->state, ST_STOPPING);
    assert_int_equal(fake_last_leader_sig, SIGKILL);
    assert_int_equal(M->deadline_ms, 0);
    send(M, EV_RUN_EXIT, SIGKILL); /* wait status: killed by SIGKILL */
    assert_int_equal(M->state, ST_FINISHING);
    assert_string_equal(fake_last_prog, "./finish");
    assert_int_equal(fake_group_kills, 1); /* the dead run's group */
    send(M, EV_AUX_EXIT, 0);
    assert_int_equal(M->state, ST_DOWN);
    assert_int_equal(M->deaths_len, 0); /* asked for: no death */
}

/* Backoff doubles from 100 ms to 5 s; a run of 1 s or more restarts at
 * once and resets it. */
static void test_backoff_doubles_and_healthy_run_resets(void **state)
{
    (void)state;
    table_reset();
    M->dep_count = 0;
    M->def.readiness = SVC_READY_NONE;
    M->def.has_finish = false;
    M->def.restart_limit_count = RESTART_LIMIT_COUNT_MAX;
    send(M, EV_WANT_UP, 0);
    uint32_t want_ms[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000};
    for (size_t i = 0; i < ARRAY_LEN(want_ms); i++) {
        fake_now_ms += 10;
        send(M, EV_RUN_EXIT, EXIT_1);
        assert_int_equal(M->state, ST_BACKOFF);
        assert_int_equal(M->deadline_ms - fake_now_ms, want_ms[i]);
        fake_now_ms = M->deadline_ms;
        send(M, EV_TIMER, 0);
        assert_int_equal(M->state, ST_UP);
    }
    int spawns = fake_spawns;
    fake_now_ms += SVC_HEALTHY_UPTIME_MS;
    send(M, EV_RUN_EXIT, EXIT_1);
    assert_int_equal(M->state, ST_UP); /* at once */
    assert_int_equal(fake_spawns, spawns + 1);
    assert_int_equal(M->backoff_ms, 0);
}

/* M alone (no dependency, no readiness, no finish) with this restart limit. */
static void lone_service(uint16_t count, uint32_t window_s)
{
    table_reset();
    M->dep_count = 0;
    M->def.readiness = SVC_READY_NONE;
    M->def.has_finish = false;
    M->def.restart_limit_count = count;
    M->def.restart_limit_window_s = window_s;
}

/* COUNT deaths within the window, each after its backoff: failed at the
 * COUNTth, in backoff before. */
static void die_until_limit(uint16_t count, uint32_t window_s)
{
    lone_service(count, window_s);
    send(M, EV_WANT_UP, 0);
    for (int death = 1; death <= count; death++) {
        fake_now_ms += 5;
        send(M, EV_RUN_EXIT, EXIT_1);
        if (death < count) {
            assert_int_equal(M->state, ST_BACKOFF);
            fake_now_ms = M->deadline_ms;
            send(M, EV_TIMER, 0);
        }
    }
    assert_int_equal(M->state, ST_FAILED);
}

static void test_restart_limit_counts_deaths_in_window(void **state)
{
    (void)state;
    die_until_limit(3, 60);
    assert_string_equal(M->reason, "restart limit: 3 deaths in 60 s");
    assert_int_equal(M->deadline_ms, 0);
    assert_int_equal(fake_spawns, 3);
}

/* `restart-limit none`: restarted forever, far past the ring's size. */
static void test_restart_limit_none_restarts_forever(void **state)
{
    (void)state;
    lone_service(RESTART_LIMIT_NONE, 60);
    send(M, EV_WANT_UP, 0);
    int spawns0 = fake_spawns;
    for (int death = 1; death <= 2 * RESTART_LIMIT_COUNT_MAX + 10; death++) {
        fake_now_ms += 5;
        send(M, EV_RUN_EXIT, EXIT_1);
        assert_int_equal(M->state, ST_BACKOFF);
        fake_now_ms = M->deadline_ms;
        send(M, EV_TIMER, 0);
    }
    assert_int_equal(fake_spawns - spawns0, 2 * RESTART_LIMIT_COUNT_MAX + 10);
    /* and a COUNT above the old 32 is honoured exactly */
    die_until_limit(100, 3600);
    assert_string_equal(M->reason, "restart limit: 100 deaths in 3600 s");
}

/* Deaths are kept as 32-bit ms: a window across the wrap still counts
 * them all, and a death 2^32 ms + 10 ms ago (49.7 days) is not one of
 * 10 ms ago. */
static void die_once(void)
{
    fake_now_ms += 5;
    send(M, EV_RUN_EXIT, EXIT_1);
}

static void test_restart_limit_across_the_wrap_of_its_32_bit_times(void **state)
{
    (void)state;
    lone_service(3, 60);
    fake_now_ms = (1LL << 32) - 150;
    send(M, EV_WANT_UP, 0);
    for (int death = 1; death <= 2; death++) {
        die_once();
        assert_int_equal(M->state, ST_BACKOFF);
        fake_now_ms = M->deadline_ms;
        send(M, EV_TIMER, 0);
    }
    assert_true(fake_now_ms > (1LL << 32)); /* the third death is past the wrap */
    die_once();
    assert_int_equal(M->state, ST_FAILED);
    assert_string_equal(M->reason, "restart limit: 3 deaths in 60 s");

    M->def.restart_limit_count = 2;
    send(M, EV_WANT_UP, 0);
    die_once(); /* the newest death, then 49.7 days and 10 ms of quiet */
    assert_int_equal(M->state, ST_BACKOFF);
    fake_now_ms = M->deadline_ms;
    send(M, EV_TIMER, 0);
    fake_now_ms = M->last_death_ms + (1LL << 32) + 5;
    die_once();
    /* one death in the window, not two: not failed; after so long a run,
     * restarted at once */
    assert_int_equal(M->state, ST_UP);
    assert_int_equal(M->deaths_len, 1);
}

/* A run that never reached its exec, again and again, fails with what to
 * fix, not with a death count. */
static void test_exec_failures_end_failed_with_the_reason(void **state)
{
    (void)state;
    table_reset();
    M->dep_count = 0;
    M->def.readiness = SVC_READY_NONE;
    M->def.has_finish = false;
    M->def.restart_limit_count = 2;
    fake_exec_errno = ENOENT;
    send(M, EV_WANT_UP, 0);
    send(M, EV_RUN_EXIT, 127 << 8);
    assert_int_equal(M->state, ST_BACKOFF);
    fake_now_ms = M->deadline_ms;
    send(M, EV_TIMER, 0);
    send(M, EV_RUN_EXIT, 127 << 8);
    assert_int_equal(M->state, ST_FAILED);
    assert_string_equal(M->reason,
                        "cannot start run: No such file or directory (restart limit reached)");
    fake_exec_errno = 0;
    fake_spawn_errno = EAGAIN; /* the spawn itself fails: a death too */
    send(M, EV_WANT_UP, 0);
    assert_int_equal(M->state, ST_BACKOFF);
    assert_string_equal(M->reason, "cannot start run: Resource temporarily unavailable");
}

/* A waiting service starts when its dependency is ready, not before. */
static void test_waiting_starts_once_dependency_ready(void **state)
{
    (void)state;
    fixture(ST_WAITING);
    send(M, EV_DEPS_READY, 0);
    assert_int_equal(M->state, ST_WAITING);
    send(B, EV_WANT_UP, 0);
    assert_int_equal(M->state, ST_WAITING); /* the loop sends DEPS_READY */
    send(M, EV_DEPS_READY, 0);
    assert_int_equal(M->state, ST_STARTING);
    assert_int_equal(fake_spawns, 2);
}

/* Configuration errors and their repair go through the machine. */
static void test_config_error_then_repair_starts_again(void **state)
{
    (void)state;
    fixture(ST_DOWN);
    struct svc_input bad = {.now_ms = fake_now_ms, .error = "run: missing"};
    service_dispatch(M, EV_CONFIG_ERROR, &bad);
    assert_int_equal(M->state, ST_FAILED);
    assert_true(M->config_error);
    send(M, EV_WANT_UP, 0);
    assert_int_equal(M->state, ST_FAILED); /* no spawn with a bad config */
    assert_int_equal(fake_spawns, 0);
    struct svc_def good = M->def;
    good.down_file = false;
    struct svc_input fixed = {.now_ms = fake_now_ms, .def = &good};
    service_dispatch(M, EV_CONFIG, &fixed);
    assert_false(M->config_error);
    assert_string_equal(M->reason, "");
    assert_int_equal(M->state, ST_STARTING);
    assert_int_equal(fake_spawns, 1);
}

/* ---- the comment table is the code's table -------------------------------- */

static void upper_name(char *dst, size_t size, const char *name)
{
    size_t i = 0;
    for (; name[i] && i + 1 < size; i++)
        dst[i] = name[i] == '-' ? '_' : (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    dst[i] = '\0';
}

static FILE *open_service_c(void)
{
    char path[512];
    const char *here = __FILE__; /* .../tests/unit/test_service_table.c */
    const char *cut = strstr(here, "tests/unit/");
    snprintf(path, sizeof path, "%.*ssrc/service.c", cut ? (int)(cut - here) : 0, here);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("%s: %s (run from the repository root)", path, strerror(errno));
    return f;
}

static void test_comment_table_matches_code(void **state)
{
    (void)state;
    FILE *f = open_service_c();
    char line[512];
    int row = -1; /* -1: looking for the header */
    while (row < ST_COUNT && fgets(line, sizeof line, f)) {
        char *save = NULL;
        char *tok = strtok_r(line, " \t\n", &save);
        if (!tok || strcmp(tok, "*") != 0)
            continue;
        tok = strtok_r(NULL, " \t\n", &save);
        if (row < 0) {
            if (!tok || strcmp(tok, "state\\event") != 0)
                continue;
            for (int ev = 0; ev < EV_COUNT; ev++) {
                char want[32];
                upper_name(want, sizeof want, svc_event_name((enum svc_event)ev));
                tok = strtok_r(NULL, " \t\n", &save);
                assert_non_null(tok);
                assert_string_equal(tok, want);
            }
            assert_null(strtok_r(NULL, " \t\n", &save));
            row = 0;
            continue;
        }
        char want[32];
        upper_name(want, sizeof want, svc_state_name((enum svc_state)row));
        assert_non_null(tok);
        assert_string_equal(tok, want);
        for (int ev = 0; ev < EV_COUNT; ev++) {
            tok = strtok_r(NULL, " \t\n", &save);
            const char *code = service_transition_name((enum svc_state)row, (enum svc_event)ev);
            assert_non_null(code);
            if (!tok || strcmp(tok, code) != 0)
                fail_msg("service.c comment, %s + %s: '%s', the code says '%s'", want,
                         svc_event_name(ev), tok ? tok : "(nothing)", code);
        }
        assert_null(strtok_r(NULL, " \t\n", &save));
        row++;
    }
    fclose(f);
    assert_int_equal(row, ST_COUNT);
    /* and "#" in the code is exactly the matrix's impossible pairs */
    for (int st = 0; st < ST_COUNT; st++)
        for (int ev = 0; ev < EV_COUNT; ev++)
            assert_int_equal(strcmp(service_transition_name(st, ev), "#") == 0,
                             matrix[st][ev].state == X);
}

static int group_setup(void **state)
{
    (void)state;
    log_set_level((enum log_level)(LOG_LEVEL_ERROR + 1));
    bay0_set_panic_handler(on_panic);
    sup.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    sup.scan_fd = -1;
    sup.devnull_fd = -1;
    assert_true(sup.epoll_fd >= 0);
    assert_int_equal(sup_table_init(SVC_SLOTS_MIN), 0);
    service_set_ops(&fake_ops);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_state_event_pair),
        cmocka_unit_test(test_stop_signals_then_kills_at_timeout),
        cmocka_unit_test(test_backoff_doubles_and_healthy_run_resets),
        cmocka_unit_test(test_restart_limit_counts_deaths_in_window),
        cmocka_unit_test(test_restart_limit_none_restarts_forever),
        cmocka_unit_test(test_restart_limit_across_the_wrap_of_its_32_bit_times),
        cmocka_unit_test(test_exec_failures_end_failed_with_the_reason),
        cmocka_unit_test(test_waiting_starts_once_dependency_ready),
        cmocka_unit_test(test_config_error_then_repair_starts_again),
        cmocka_unit_test(test_comment_table_matches_code),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
