/* test_governor.c — unit tests of the governor's pure half (src/governor.c):
 * the pressure-file parser, and the policy driven with synthetic and
 * recorded traces on a fake clock (a thermal spike, a memory storm, CPU
 * pressure that our own throttling causes, a load that comes back whenever
 * it is released, a value hovering at a threshold, a real CPU storm
 * recorded on the build host). Each asserts the levels the policy went
 * through, that it settles, and how often it may change its mind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "governor.h"

/* ---- parser -------------------------------------------------------------- */

static void test_psi_parse_real(void **unused)
{
    (void)unused;
    const char *t = "some avg10=5.68 avg60=1.81 avg300=1.10 total=6516384\n"
                    "full avg10=0.00 avg60=100.00 avg300=0.5 total=0\n";
    struct gov_psi p;
    char reason[128] = "";
    assert_true(gov_psi_parse(t, strlen(t), &p, reason, sizeof reason));
    assert_int_equal(p.some.avg10_x100, 568);
    assert_int_equal(p.some.avg60_x100, 181);
    assert_int_equal(p.some.avg300_x100, 110);
    assert_int_equal(p.some.total_us, 6516384);
    assert_true(p.has_full);
    assert_int_equal(p.full.avg60_x100, 10000);
    assert_int_equal(p.full.avg300_x100, 50);
}

static void test_psi_parse_some_only_and_unknown_fields(void **unused)
{
    (void)unused;
    const char *t = "some avg10=1.00 avg60=0.00 avg300=0.00 total=7 future=3\n";
    struct gov_psi p;
    char reason[128] = "";
    assert_true(gov_psi_parse(t, strlen(t), &p, reason, sizeof reason));
    assert_false(p.has_full);
    assert_int_equal(p.some.avg10_x100, 100);
}

static void test_psi_parse_rejects(void **unused)
{
    (void)unused;
    static const char *const bad[] = {
        "",
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",              /* no some */
        "some avg10=0.00 avg60=0.00 avg300=0.00\n",                       /* no total */
        "some avg10=100.01 avg60=0.00 avg300=0.00 total=0\n",             /* > 100 % */
        "some avg10=1.234 avg60=0.00 avg300=0.00 total=0\n",              /* 3 decimals */
        "some avg10=-1 avg60=0.00 avg300=0.00 total=0\n",
        "some avg10=1. avg60=0.00 avg300=0.00 total=0\n",
        "some avg10=0.00 avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",    /* twice */
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=99999999999999999999999\n",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=1x\n",
        "some avg10 avg60=0.00 avg300=0.00 total=0\n",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nsome avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        "other avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct gov_psi p;
        char reason[128] = "";
        if (gov_psi_parse(bad[i], strlen(bad[i]), &p, reason, sizeof reason))
            fail_msg("accepted: %s", bad[i]);
        assert_true(reason[0] != '\0');
    }
    char nul[] = "some avg10=0.00 avg60=0.00\0avg300=0.00 total=0\n";
    struct gov_psi p;
    char reason[128];
    assert_false(gov_psi_parse(nul, sizeof nul - 1, &p, reason, sizeof reason));
    char big[GOV_PRESSURE_FILE_BYTES_MAX + 2];
    memset(big, ' ', sizeof big);
    assert_false(gov_psi_parse(big, sizeof big, &p, reason, sizeof reason));
}

/* ---- a tiny world the policy acts on ---------------------------------------
 * Persona 0 is focused, 1 a background persona, 2 the sacrificial tenant.
 * The plant turns the policy's caps into the throttling and CPU pressure
 * the kernel would report: a persona that wants more than its cap is
 * throttled for the difference, and each throttled percent is a percent of
 * CPU stall. */

struct world {
    struct gov_inputs in;
    struct gov_state st;
    struct gov_output out;
    enum gov_level levels[4096];
    uint32_t steps;
    uint32_t transitions;
    uint32_t cpu_transitions;
    enum gov_level last_cpu_level;
    bool ever_stopped_sacrificial, ever_froze_focused;
};

static void world_init(struct world *w)
{
    memset(w, 0, sizeof *w);
    gov_state_init(&w->st);
    w->in.have_psi = true;
    w->in.personas_n = 3;
    static const char *const names[] = {"p://work", "p://games", "sys://ai"};
    static const enum gov_role roles[] = {GOV_ROLE_FOCUSED, GOV_ROLE_BACKGROUND,
                                          GOV_ROLE_SACRIFICIAL};
    for (int i = 0; i < 3; i++) {
        snprintf(w->in.personas[i].name, sizeof w->in.personas[i].name, "%s", names[i]);
        w->in.personas[i].role = roles[i];
        w->in.personas[i].running = true;
    }
}

/* One step: demand_pct[i] is what persona i would use of the machine
 * without caps; base_x100 is CPU stall that is nobody's cap. */
static void world_step(struct world *w, int64_t now_ms, const uint32_t demand_pct[3],
                       uint32_t base_x100)
{
    uint32_t throttled_sum = 0;
    for (int i = 0; i < 3; i++) {
        uint32_t cap = w->steps ? w->out.personas[i].cpu_max_pct : 0;
        bool frozen = w->steps && w->out.personas[i].action != GOV_RUN;
        uint32_t thr = !frozen && cap && demand_pct[i] > cap ? demand_pct[i] - cap : 0;
        w->in.personas[i].throttled_pct = thr;
        throttled_sum += thr;
    }
    uint32_t raw = base_x100 + throttled_sum * 100;
    w->in.cpu.some.avg10_x100 = raw > 10000 ? 10000 : raw;
    w->in.now_ms = now_ms;
    enum gov_level before = w->steps ? w->out.level : GOV_NORMAL;
    gov_decide(&w->in, &w->st, &w->out);
    if (w->out.level != before)
        w->transitions++;
    if (w->out.cause_level[GOV_CAUSE_CPU] != w->last_cpu_level)
        w->cpu_transitions++;
    w->last_cpu_level = w->out.cause_level[GOV_CAUSE_CPU];
    if (w->steps < sizeof w->levels / sizeof w->levels[0])
        w->levels[w->steps] = w->out.level;
    w->steps++;
    w->ever_stopped_sacrificial |= w->out.personas[2].action == GOV_STOP;
    w->ever_froze_focused |= w->out.personas[0].action != GOV_RUN;
}

static const uint32_t idle_demand[3] = {0, 0, 0};

static void test_idle_needs_no_timer(void **unused)
{
    (void)unused;
    struct world w;
    world_init(&w);
    for (int s = 0; s < 60; s++)
        world_step(&w, s * 1000, idle_demand, 0);
    assert_int_equal(w.out.level, GOV_NORMAL);
    assert_false(w.out.watch);
    assert_false(w.out.refuse_start);
    assert_int_equal(w.transitions, 0);
    assert_int_equal(w.out.personas[0].cpu_weight, GOV_WEIGHT_FOCUSED);
    assert_int_equal(w.out.personas[1].cpu_weight, GOV_WEIGHT_BACKGROUND);
    assert_int_equal(w.out.personas[2].cpu_weight, GOV_WEIGHT_SACRIFICIAL);
    /* no PSI at all (files missing): still normal, still no timer */
    w.in.have_psi = false;
    w.in.cpu.some.avg10_x100 = 9000;
    world_step(&w, 61000, idle_demand, 9000);
    assert_int_equal(w.out.level, GOV_NORMAL);
}

/* Synthetic thermal spike: 60 C, up to 97 C (passive 85, critical 100) in
 * 1 C/s steps with +-1 C noise, held, then cooling. Up at once through
 * every level, down one level per dwell, never back up on noise. */
static void test_thermal_spike_settles(void **unused)
{
    (void)unused;
    struct world w;
    world_init(&w);
    w.in.zones_n = 1;
    w.in.zones[0] = (struct gov_zone){.passive_mc = 85000, .critical_mc = 100000};
    int64_t t = 0;
    enum gov_level peak = GOV_NORMAL;
    uint32_t focused_cap_at_peak = 0;
    for (int s = 0; s < 400; s++, t += 1000) {
        int32_t temp = s < 37 ? 60000 + s * 1000 : s < 80 ? 97000 : 97000 - (s - 80) * 1000;
        if (temp < 55000)
            temp = 55000;
        temp += (s % 2) ? 1000 : -1000; /* sensor noise */
        w.in.zones[0].temp_mc = temp;
        world_step(&w, t, idle_demand, 0);
        if (w.out.level > peak) {
            peak = w.out.level;
            focused_cap_at_peak = w.out.personas[0].cpu_max_pct;
        }
        if (s == 70) {
            assert_true(w.out.refuse_start);
            assert_int_equal(w.out.personas[1].action, GOV_FREEZE);
            assert_int_equal(w.out.personas[2].action, GOV_FREEZE); /* heat: freeze, keep */
        }
    }
    assert_int_equal(peak, GOV_CRITICAL);
    assert_int_equal(focused_cap_at_peak, 50);
    assert_false(w.ever_stopped_sacrificial);
    assert_false(w.ever_froze_focused);
    assert_int_equal(w.out.level, GOV_NORMAL);
    assert_false(w.out.watch); /* cooled off: the timer stops */
    /* 3 steps up, 3 down: no flapping on the noise */
    assert_int_equal(w.transitions, 6);
    assert_int_equal(w.cpu_transitions, 0);
}

/* A temperature hovering +-1 C around the passive trip for 10 minutes. */
static void test_thermal_hover_does_not_flap(void **unused)
{
    (void)unused;
    struct world w;
    world_init(&w);
    w.in.zones_n = 1;
    w.in.zones[0] = (struct gov_zone){.passive_mc = 85000, .critical_mc = 100000};
    for (int s = 0; s < 600; s++) {
        w.in.zones[0].temp_mc = 85000 + ((s / 3) % 2 ? 1000 : -1000);
        world_step(&w, s * 1000, idle_demand, 0);
    }
    assert_int_equal(w.out.level, GOV_HIGH);
    assert_true(w.transitions <= 2);
}

/* Synthetic memory storm: pressure climbs, full stalls appear; the policy
 * must stop the sacrificial tenant (freezing keeps its memory) and freeze
 * the background, never the focused persona; after the storm, avg10 decays
 * as the kernel's does (x0.8/s) and the policy walks back down once. */
static void test_memory_storm_sacrifices_tenant_and_settles(void **unused)
{
    (void)unused;
    struct world w;
    world_init(&w);
    uint32_t some = 0, full = 0;
    bool stopped_while_critical = false;
    for (int s = 0; s < 600; s++) {
        if (s >= 10 && s < 40) { /* the storm: some 30 %, full 12 % */
            some = some + (3000 - some) / 3;
            full = full + (1200 - full) / 3;
        } else {
            some = some * 8 / 10;
            full = full * 8 / 10;
        }
        w.in.memory.some.avg10_x100 = some;
        w.in.memory.full.avg10_x100 = full;
        world_step(&w, s * 1000, idle_demand, 0);
        if (w.out.level == GOV_CRITICAL) {
            assert_true(w.out.refuse_start);
            assert_int_equal(w.out.personas[1].action, GOV_FREEZE);
            stopped_while_critical |= w.out.personas[2].action == GOV_STOP;
        }
    }
    assert_true(stopped_while_critical);
    assert_false(w.ever_froze_focused);
    assert_int_equal(w.out.level, GOV_NORMAL);
    assert_int_equal(w.out.personas[2].action, GOV_RUN);
    assert_true(w.transitions <= 6);
    assert_int_equal(w.cpu_transitions, 0);
}

/* Pressure the throttle itself causes: heat caps the focused persona and
 * the background, every throttled percent becomes CPU stall, and there is
 * no other contention. The CPU cause must never rise (or it would keep the
 * caps on after the heat is gone), and the whole episode must end NORMAL. */
static void test_self_caused_pressure_is_not_demand(void **unused)
{
    (void)unused;
    struct world w;
    world_init(&w);
    w.in.zones_n = 1;
    w.in.zones[0] = (struct gov_zone){.passive_mc = 85000, .critical_mc = 100000};
    const uint32_t demand[3] = {90, 60, 40};
    uint32_t max_raw = 0;
    for (int s = 0; s < 300; s++) {
        w.in.zones[0].temp_mc = s >= 5 && s < 60 ? 96000 : 50000;
        world_step(&w, s * 1000, demand, 0);
        if (w.in.cpu.some.avg10_x100 > max_raw)
            max_raw = w.in.cpu.some.avg10_x100;
    }
    assert_true(max_raw >= GOV_CPU_ENTER_X100); /* the throttle did cause pressure */
    assert_int_equal(w.cpu_transitions, 0);
    assert_int_equal(w.out.level, GOV_NORMAL);
    assert_int_equal(w.out.personas[0].cpu_max_pct, 0);
}

/* Real contention: the background wants the whole machine while the user
 * works. ELEVATED caps it; the cap binds, so the policy holds (lifting it
 * would bring the stall straight back) and does not cycle; when the
 * background quiets down the cap stops binding and the level drops once. */
static void test_contention_holds_then_releases(void **unused)
{
    (void)unused;
    struct world w;
    world_init(&w);
    for (int s = 0; s < 900; s++) {
        uint32_t bg = s < 600 ? 100 : 5;
        const uint32_t demand[3] = {60, bg, 0};
        /* contention beyond the caps: what the uncapped background costs */
        uint32_t base = s < 600 && w.out.personas[1].cpu_max_pct == 0 ? 5000 : 500;
        world_step(&w, s * 1000, demand, base);
        if (s == 599)
            assert_int_equal(w.out.level, GOV_ELEVATED);
    }
    assert_int_equal(w.out.level, GOV_NORMAL);
    assert_int_equal(w.transitions, 2);
}

/* A load that comes back whenever it is released and is gone while capped
 * (the worst case for a throttle loop). Hysteresis alone would cycle once
 * per dwell; doubling the dwell on quick re-entry makes the cycles rarer
 * and rarer: over an hour, few changes, each raised period longer than the
 * last, at most one cycle in the last half hour. */
static void test_relapsing_load_backs_off(void **unused)
{
    (void)unused;
    struct world w;
    world_init(&w);
    int64_t change_at[64];
    uint32_t changes = 0;
    enum gov_level prev = GOV_NORMAL;
    for (int s = 0; s < 3600; s++) {
        const uint32_t demand[3] = {50, 10, 0};
        uint32_t base = w.steps && w.out.level == GOV_NORMAL ? 6000 : 0;
        world_step(&w, s * 1000, demand, base);
        if (w.out.level != prev && changes < 64)
            change_at[changes++] = s;
        prev = w.out.level;
    }
    assert_true(changes >= 4);
    assert_true(changes <= 20);
    /* each ELEVATED period lasts longer than the one before */
    for (uint32_t i = 2; i + 1 < changes; i += 2)
        assert_true(change_at[i + 1] - change_at[i] > change_at[i - 1] - change_at[i - 2]);
    /* and the last half hour has at most one cycle */
    uint32_t late = 0;
    for (uint32_t i = 0; i < changes; i++)
        late += change_at[i] >= 1800;
    assert_true(late <= 2);
}

/* Recorded on the build host (2 CPUs, shared): /proc/pressure/cpu "some
 * avg10" once a second while four busy loops ran for 15 s, then idle.
 * Units: hundredths of a percent. */
static const uint32_t recorded_cpu_storm_x100[] = {
#include "traces/cpu_storm.inc"
};

static void test_recorded_cpu_storm(void **unused)
{
    (void)unused;
    struct world w;
    world_init(&w);
    enum gov_level peak = GOV_NORMAL;
    size_t n = sizeof recorded_cpu_storm_x100 / sizeof recorded_cpu_storm_x100[0];
    for (size_t s = 0; s < n + 120; s++) {
        uint32_t v = s < n ? recorded_cpu_storm_x100[s] : 0;
        const uint32_t demand[3] = {0, 0, 0};
        world_step(&w, (int64_t)s * 1000, demand, v);
        if (w.out.level > peak)
            peak = w.out.level;
    }
    assert_int_equal(peak, GOV_ELEVATED); /* CPU alone never goes higher */
    assert_int_equal(w.out.level, GOV_NORMAL);
    assert_int_equal(w.transitions, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psi_parse_real),
        cmocka_unit_test(test_psi_parse_some_only_and_unknown_fields),
        cmocka_unit_test(test_psi_parse_rejects),
        cmocka_unit_test(test_idle_needs_no_timer),
        cmocka_unit_test(test_thermal_spike_settles),
        cmocka_unit_test(test_thermal_hover_does_not_flap),
        cmocka_unit_test(test_memory_storm_sacrifices_tenant_and_settles),
        cmocka_unit_test(test_self_caused_pressure_is_not_demand),
        cmocka_unit_test(test_contention_holds_then_releases),
        cmocka_unit_test(test_relapsing_load_backs_off),
        cmocka_unit_test(test_recorded_cpu_storm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
