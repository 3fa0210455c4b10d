/* test_persona.c — the persona lifecycle state machine (src/persona.c)
 * driven with a fake clock and fake ops that record every side effect; and
 * the reconcile planner (src/reconcile.c, pure) rule by rule. No podman, no
 * database: those are the system tests' (tests/system/test_persona.py).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "persona.h"
#include "reconcile.h"
#include "log.h"
#include "util.h"

/* ---- fake ops --------------------------------------------------------------- */

struct rec {
    int start, stop, reset, remove, note, removed, changed;
};
static struct rec rec;

static void f_start(struct persona *p, void *c) { (void)p; (void)c; rec.start++; }
static void f_stop(struct persona *p, void *c) { (void)p; (void)c; rec.stop++; }
static void f_reset(struct persona *p, void *c) { (void)p; (void)c; rec.reset++; }
static void f_remove(struct persona *p, void *c) { (void)p; (void)c; rec.remove++; }
static void f_note(struct persona *p, void *c) { (void)p; (void)c; rec.note++; }
static void f_removed(struct persona *p, void *c) { (void)p; (void)c; rec.removed++; }
static void f_changed(struct persona *p, void *c) { (void)p; (void)c; rec.changed++; }

static const struct persona_ops ops = {
    .start = f_start, .stop = f_stop, .reset = f_reset, .remove = f_remove,
    .note = f_note, .removed = f_removed, .changed = f_changed,
};

static struct persona P;
static int64_t now;

static void fresh(enum persona_state st, bool want_up)
{
    memset(&rec, 0, sizeof rec);
    now = 1000;
    struct persona_name id;
    char reason[PERSONA_REASON_BYTES_MAX];
    assert_true(persona_name_parse_str("p://work", &id, reason, sizeof reason));
    persona_init(&P, &id, "img", st, want_up, now);
    assert_string_equal(P.container, "p__work");
}

static void ev(enum persona_event e) { persona_on_event(&P, e, NULL, now, &ops); }

static void ok_pid(int64_t pid)
{
    struct persona_arg a = {.pid = pid, .exit_code = -1};
    persona_on_event(&P, PE_JOB_OK, &a, now, &ops);
}

static void died(int code)
{
    struct persona_arg a = {.exit_code = code};
    persona_on_event(&P, PE_DIED, &a, now, &ops);
}

static void failed(const char *why)
{
    struct persona_arg a = {.reason = why, .exit_code = -1};
    persona_on_event(&P, PE_JOB_FAILED, &a, now, &ops);
}

/* ---- the lifecycle ------------------------------------------------------------ */

static void test_start_stop(void **s)
{
    (void)s;
    fresh(PS_STOPPED, false);
    ev(PE_WANT_UP);
    assert_int_equal(P.state, PS_STARTING);
    assert_true(P.want_up);
    assert_int_equal(rec.start, 1);
    ev(PE_WANT_UP); /* already on its way: nothing more */
    assert_int_equal(rec.start, 1);
    ok_pid(42);
    assert_int_equal(P.state, PS_RUNNING);
    assert_int_equal(P.pid, 42);
    died(0); /* a stale echo cannot arrive here: the manager filters by time */
    assert_int_equal(P.state, PS_BACKOFF);
    now += 600;
    ev(PE_TIMER);
    ok_pid(43);
    ev(PE_WANT_DOWN);
    assert_int_equal(P.state, PS_STOPPING);
    assert_int_equal(rec.stop, 1);
    died(143); /* the echo of our own stop: ignored */
    assert_int_equal(P.state, PS_STOPPING);
    ok_pid(0);
    assert_int_equal(P.state, PS_STOPPED);
    assert_int_equal(P.pid, 0);
    died(143); /* late echo in STOPPED: ignored */
    assert_int_equal(P.state, PS_STOPPED);
}

static void test_backoff_doubles_then_failed(void **s)
{
    (void)s;
    fresh(PS_STOPPED, false);
    ev(PE_WANT_UP);
    ok_pid(1);
    uint32_t expect_ms[] = {500, 1000, 2000, 4000, 8000};
    for (int i = 0; i < 5; i++) {
        now += 100; /* a short run */
        died(1);
        assert_int_equal(P.state, PS_BACKOFF);
        assert_int_equal(P.timer_ms - now, expect_ms[i]);
        assert_string_equal(P.last_error, "exited with 1");
        now += expect_ms[i] - 1;
        ev(PE_TIMER); /* one ms early: still waiting */
        assert_int_equal(P.state, PS_BACKOFF);
        now += 1;
        ev(PE_TIMER);
        assert_int_equal(P.state, PS_STARTING);
        ok_pid(2 + i);
    }
    now += 100;
    died(1);
    assert_int_equal(P.state, PS_FAILED);
    assert_string_equal(P.last_error, "exited with 1; restart limit 5 reached");
    assert_int_equal(rec.note, 6); /* each death and the failure are recorded */
    /* an operator's start begins a fresh count */
    ev(PE_WANT_UP);
    assert_int_equal(P.state, PS_STARTING);
    assert_int_equal(P.deaths, 0);
    assert_int_equal(P.backoff_ms, PERSONA_BACKOFF_MS_MIN);
}

static void test_long_run_restarts_at_once(void **s)
{
    (void)s;
    fresh(PS_STOPPED, false);
    ev(PE_WANT_UP);
    ok_pid(1);
    now += 100;
    died(1);
    now += 500;
    ev(PE_TIMER);
    ok_pid(2);
    now += PERSONA_RAN_OK_MS; /* ran long enough: the count restarts */
    int starts = rec.start;
    died(137);
    assert_int_equal(P.state, PS_STARTING);
    assert_int_equal(rec.start, starts + 1);
    assert_int_equal(P.deaths, 1);
}

static void test_death_while_starting_counts_after_the_answer(void **s)
{
    (void)s;
    fresh(PS_STOPPED, true);
    ev(PE_WANT_UP);
    died(2); /* before the start job answered */
    assert_int_equal(P.state, PS_STARTING);
    ok_pid(9);
    assert_int_equal(P.state, PS_BACKOFF);
    assert_string_equal(P.last_error, "exited with 2");
}

static void test_stop_during_start_and_restart(void **s)
{
    (void)s;
    fresh(PS_STOPPED, false);
    ev(PE_WANT_UP);
    ev(PE_WANT_DOWN); /* only the intent changes while the job runs */
    assert_int_equal(P.state, PS_STARTING);
    assert_int_equal(rec.stop, 0);
    ok_pid(5);
    assert_int_equal(P.state, PS_STOPPING); /* then it converges */
    ok_pid(0);
    assert_int_equal(P.state, PS_STOPPED);
    ev(PE_WANT_UP);
    ok_pid(6);
    uint32_t starts = P.starts;
    ev(PE_WANT_RESTART);
    assert_int_equal(P.state, PS_STOPPING);
    ok_pid(0);
    assert_int_equal(P.state, PS_STARTING);
    assert_int_equal(P.starts, starts + 1);
    ok_pid(7);
    assert_int_equal(P.state, PS_RUNNING);
}

static void test_start_timeout_converges_to_stopped_then_failed(void **s)
{
    (void)s;
    fresh(PS_STOPPED, false);
    ev(PE_WANT_UP);
    ev(PE_JOB_TIMEOUT);
    assert_int_equal(P.state, PS_STOPPING); /* never believed running */
    assert_int_equal(rec.stop, 1);
    ok_pid(0);
    assert_int_equal(P.state, PS_FAILED);
    assert_string_equal(P.last_error, "start timed out: outcome unknown");
    fresh(PS_STOPPED, false);
    ev(PE_WANT_UP);
    failed("podman start: exit 125: no such image");
    assert_int_equal(P.state, PS_FAILED);
    assert_string_equal(P.last_error, "podman start: exit 125: no such image");
}

static void test_create_reset_remove(void **s)
{
    (void)s;
    fresh(PS_CREATING, false);
    ok_pid(0);
    assert_int_equal(P.state, PS_STOPPED);
    fresh(PS_CREATING, false);
    failed("podman create: exit 125: image not known");
    assert_int_equal(rec.removed, 1);
    assert_string_equal(P.last_error, "podman create: exit 125: image not known");
    fresh(PS_CREATING, false);
    ev(PE_JOB_TIMEOUT);
    assert_int_equal(P.state, PS_REMOVING);
    assert_int_equal(rec.remove, 1);
    ok_pid(0);
    assert_int_equal(rec.removed, 1);
    /* reset keeps the intent: a running persona runs again */
    fresh(PS_RUNNING, true);
    assert_false(persona_busy(&P));
    ev(PE_WANT_RESET);
    assert_int_equal(P.state, PS_RESETTING);
    assert_true(persona_busy(&P));
    died(137); /* the rm's echo */
    ok_pid(0);
    assert_int_equal(P.resets, 1);
    assert_int_equal(P.state, PS_STARTING);
    fresh(PS_STOPPED, false);
    ev(PE_WANT_REMOVE);
    assert_int_equal(P.state, PS_REMOVING);
    ev(PE_WANT_UP); /* ignored: it is going away */
    assert_int_equal(rec.start, 0);
    ok_pid(0);
    assert_int_equal(rec.removed, 1);
}

static void test_stop_from_failed_and_backoff_runs_a_stop_job(void **s)
{
    (void)s;
    fresh(PS_STOPPED, false);
    ev(PE_WANT_UP);
    ok_pid(1);
    died(1);
    assert_int_equal(P.state, PS_BACKOFF);
    ev(PE_WANT_DOWN);
    assert_int_equal(P.state, PS_STOPPING);
    ok_pid(0);
    assert_int_equal(P.state, PS_STOPPED);
    assert_false(P.want_up);
    now += 10000;
    ev(PE_TIMER); /* a stale timer does nothing */
    assert_int_equal(P.state, PS_STOPPED);
}

static jmp_buf panic_jmp;
static void panic_to_test(const char *reason)
{
    (void)reason;
    longjmp(panic_jmp, 1);
}

static void test_impossible_pairs_are_assertions(void **s)
{
    (void)s;
    bay0_set_panic_handler(panic_to_test);
    fresh(PS_STOPPED, false);
    if (setjmp(panic_jmp) == 0) {
        ok_pid(0); /* a job answer with no job */
        fail_msg("JOB_OK in STOPPED did not assert");
    }
    fresh(PS_STOPPED, false);
    ev(PE_WANT_UP);
    if (setjmp(panic_jmp) == 0) {
        ev(PE_WANT_RESET); /* the manager refuses it while busy */
        fail_msg("WANT_RESET while starting did not assert");
    }
    bay0_set_panic_handler(NULL);
}

/* ---- the reconcile planner -------------------------------------------------------- */

static struct state_persona row(const char *name, enum state_persona_state desired,
                                enum state_persona_state current)
{
    struct state_persona r;
    memset(&r, 0, sizeof r);
    str_copy(r.name, sizeof r.name, name);
    str_copy(r.image, sizeof r.image, "img");
    r.desired = desired;
    r.current = current;
    return r;
}

static struct podman_container ctr(const char *name, const char *state)
{
    struct podman_container c;
    memset(&c, 0, sizeof c);
    str_copy(c.name, sizeof c.name, name);
    str_copy(c.state, sizeof c.state, state);
    c.ours = persona_container_parse(name, strlen(name), &c.persona);
    return c;
}

static void test_reconcile_rules(void **s)
{
    (void)s;
    enum state_persona_state R = STATE_PERSONA_RUNNING, S = STATE_PERSONA_STOPPED;
    struct state_persona rows[] = {
        row("p://zeta", R, R),                        /* running, container up: adopted */
        row("p://gone", R, R),                        /* running-missing */
        row("p://dead", R, R),                        /* running-exited */
        row("p://half", R, STATE_PERSONA_STARTING),   /* starting, container created */
        row("p://nohalf", R, STATE_PERSONA_STARTING), /* starting, no container */
        row("p://busy", S, STATE_PERSONA_STOPPING),   /* stopping, container up */
        row("p://calm", S, S),                        /* stopped, created: fine */
        row("sys://woke", S, S),                      /* stopped-but-up */
    };
    struct podman_container cs[] = {
        ctr("p__zeta", "running"), ctr("p__dead", "exited"), ctr("p__half", "created"),
        ctr("p__busy", "running"), ctr("p__calm", "created"), ctr("sys__woke", "running"),
        ctr("p__x", "created"),      /* ghost */
        ctr("sys__ai", "running"),   /* a tenant's own service runs it: not ours to remove */
        ctr("web1", "running"),      /* foreign */
        ctr("p__Bad", "running"),    /* not the image of a valid name: foreign */
        ctr("p___x", "running"),     /* foreign */
    };
    struct reconcile_repair out[32];
    size_t n = reconcile_plan(rows, ARRAY_LEN(rows), cs, ARRAY_LEN(cs), true, out, 32);
    const char *want[][3] = {
        {"p://busy", "stopping", "podman stop, db stopped"},
        {"p://dead", "running-exited", "db stopped"},
        {"p://gone", "running-missing", "db stopped"},
        {"p://half", "starting", "podman rm -f, db stopped"},
        {"p://nohalf", "starting", "db stopped"},
        {"p://x", "ghost", "podman rm -f"},
        {"sys://woke", "stopped-but-up", "podman stop, db stopped"},
    };
    assert_int_equal(n, ARRAY_LEN(want));
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(out[i].name, want[i][0]);
        assert_string_equal(reconcile_rule_name(out[i].rule), want[i][1]);
        assert_string_equal(reconcile_action_text(out[i].action), want[i][2]);
    }
    assert_string_equal(out[5].container, "p__x");
    /* uncertainty: no podman call, every row not stopped -> stopped */
    n = reconcile_plan(rows, ARRAY_LEN(rows), NULL, 0, false, out, 32);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out[i].rule, RR_UNCERTAIN);
        assert_int_equal(out[i].action, RA_DB_STOPPED);
    }
    /* nothing to do: nothing planned */
    struct podman_container ok[] = {ctr("p__zeta", "running")};
    assert_int_equal(reconcile_plan(rows, 1, ok, 1, true, out, 32), 0);
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_stop),
        cmocka_unit_test(test_backoff_doubles_then_failed),
        cmocka_unit_test(test_long_run_restarts_at_once),
        cmocka_unit_test(test_death_while_starting_counts_after_the_answer),
        cmocka_unit_test(test_stop_during_start_and_restart),
        cmocka_unit_test(test_start_timeout_converges_to_stopped_then_failed),
        cmocka_unit_test(test_create_reset_remove),
        cmocka_unit_test(test_stop_from_failed_and_backoff_runs_a_stop_job),
        cmocka_unit_test(test_impossible_pairs_are_assertions),
        cmocka_unit_test(test_reconcile_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
