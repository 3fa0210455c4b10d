/* governor.c — the governor's pure half: the policy (gov_decide) and the
 * parser of pressure files. Owns the thresholds and the hysteresis.
 * Never does I/O, never reads a clock, never allocates: every input comes
 * in through struct gov_inputs, so unit tests replay traces exactly.
 *
 * Hysteresis, per cause (cpu, memory, heat):
 *   up      at once, to whatever level the inputs demand (safety first);
 *   down    one level at a time, only after the level's hold condition has
 *           been false for a whole dwell; the hold thresholds sit below the
 *           entry thresholds, so a value that hovers at a threshold cannot
 *           flip the level;
 *   re-entry within two dwells of stepping down doubles that cause's dwell
 *           (up to GOV_DWELL_MS_MAX), so a load that comes back whenever it
 *           is released settles at the raised level instead of cycling.
 * Not feeding on ourselves: a task throttled by a cpu.max we set is
 * runnable but not running, which PSI counts as CPU stall. The throttled
 * share of the personas we cap is subtracted from CPU pressure before it is
 * compared (gov_self_pressure_x100); and the CPU cause holds its level
 * while a cap still binds, because lifting it would bring the stall back.
 */
#include "governor.h"

#include "util.h"

#include <stdio.h>
#include <string.h>

static const char *const level_names[GOV_LEVELS] = {"normal", "elevated", "high", "critical"};
static const char *const cause_names[GOV_CAUSES] = {"cpu", "memory", "heat"};

const char *gov_level_name(enum gov_level l)
{
    BAY0_ASSERT(l < GOV_LEVELS);
    return level_names[l];
}

const char *gov_cause_name(enum gov_cause c)
{
    BAY0_ASSERT(c < GOV_CAUSES);
    return cause_names[c];
}

const char *gov_role_name(enum gov_role r)
{
    static const char *const names[] = {"focused", "background", "tenant", "sacrificial"};
    BAY0_ASSERT((size_t)r < ARRAY_LEN(names));
    return names[r];
}

const char *gov_action_name(enum gov_action a)
{
    static const char *const names[] = {"run", "freeze", "stop"};
    BAY0_ASSERT((size_t)a < ARRAY_LEN(names));
    return names[a];
}

void gov_state_init(struct gov_state *st)
{
    memset(st, 0, sizeof *st);
    st->cause[GOV_CAUSE_CPU].dwell_ms = GOV_CPU_DWELL_MS;
    st->cause[GOV_CAUSE_MEMORY].dwell_ms = GOV_MEM_DWELL_MS;
    st->cause[GOV_CAUSE_HEAT].dwell_ms = GOV_HEAT_DWELL_MS;
}

static uint32_t base_dwell_ms(enum gov_cause c)
{
    return c == GOV_CAUSE_CPU ? GOV_CPU_DWELL_MS
         : c == GOV_CAUSE_MEMORY ? GOV_MEM_DWELL_MS : GOV_HEAT_DWELL_MS;
}

/* ---- the three causes: the level the inputs demand, and whether a level
 * still holds (with the lower hold thresholds) ----------------------------- */

uint32_t gov_self_pressure_x100(const struct gov_inputs *in)
{
    uint32_t sum_pct = 0;
    for (uint32_t i = 0; i < in->personas_n; i++)
        if (in->personas[i].running)
            sum_pct += in->personas[i].throttled_pct > 100 ? 100 : in->personas[i].throttled_pct;
    return sum_pct >= 100 ? 10000 : sum_pct * 100;
}

static uint32_t cpu_effective_x100(const struct gov_inputs *in)
{
    uint32_t self = gov_self_pressure_x100(in);
    uint32_t raw = in->cpu.some.avg10_x100;
    return raw > self ? raw - self : 0;
}

static bool cap_binds(const struct gov_inputs *in)
{
    for (uint32_t i = 0; i < in->personas_n; i++)
        if (in->personas[i].running && in->personas[i].throttled_pct > GOV_BINDING_THROTTLED_PCT)
            return true;
    return false;
}

static enum gov_level cpu_level(const struct gov_inputs *in, bool hold)
{
    if (!in->have_psi)
        return GOV_NORMAL;
    uint32_t eff = cpu_effective_x100(in);
    if (!hold)
        return eff >= GOV_CPU_ENTER_X100 ? GOV_ELEVATED : GOV_NORMAL;
    return eff >= GOV_CPU_EXIT_X100 || cap_binds(in) ? GOV_ELEVATED : GOV_NORMAL;
}

static enum gov_level mem_level(const struct gov_inputs *in, bool hold)
{
    if (!in->have_psi)
        return GOV_NORMAL;
    uint32_t some = in->memory.some.avg10_x100, full = in->memory.full.avg10_x100;
    /* hold thresholds: one step below each entry threshold */
    uint32_t crit_full = hold ? GOV_MEM_CRITICAL_FULL_X100 / 5 : GOV_MEM_CRITICAL_FULL_X100;
    uint32_t high_some = hold ? GOV_MEM_ELEVATED_X100 : GOV_MEM_HIGH_X100;
    uint32_t elev_some = hold ? GOV_MEM_EXIT_X100 : GOV_MEM_ELEVATED_X100;
    if (full >= crit_full)
        return GOV_CRITICAL;
    if (some >= high_some)
        return GOV_HIGH;
    if (some >= elev_some)
        return GOV_ELEVATED;
    return GOV_NORMAL;
}

static int32_t zone_passive_mc(const struct gov_zone *z)
{
    return z->passive_mc > 0 ? z->passive_mc : GOV_PASSIVE_DEFAULT_MC;
}

static int32_t zone_critical_mc(const struct gov_zone *z)
{
    return z->critical_mc > 0 ? z->critical_mc : GOV_CRITICAL_DEFAULT_MC;
}

static enum gov_level heat_level(const struct gov_inputs *in, bool hold)
{
    int32_t margin = hold ? GOV_HEAT_EXIT_MARGIN_MC : 0;
    enum gov_level worst = GOV_NORMAL;
    for (uint32_t i = 0; i < in->zones_n; i++) {
        const struct gov_zone *z = &in->zones[i];
        int32_t t = z->temp_mc + margin;
        enum gov_level l = GOV_NORMAL;
        if (t >= zone_critical_mc(z) - GOV_HEAT_CRITICAL_BELOW_CRITICAL_MC)
            l = GOV_CRITICAL;
        else if (t >= zone_passive_mc(z))
            l = GOV_HIGH;
        else if (t >= zone_passive_mc(z) - GOV_HEAT_ELEVATED_BELOW_PASSIVE_MC)
            l = GOV_ELEVATED;
        if (l > worst)
            worst = l;
    }
    return worst;
}

static enum gov_level cause_level_now(enum gov_cause c, const struct gov_inputs *in, bool hold)
{
    switch (c) {
    case GOV_CAUSE_CPU:
        return cpu_level(in, hold);
    case GOV_CAUSE_MEMORY:
        return mem_level(in, hold);
    case GOV_CAUSE_HEAT:
        return heat_level(in, hold);
    default:
        BAY0_ASSERT(!"unknown cause");
        return GOV_NORMAL;
    }
}

/* ---- hysteresis ---------------------------------------------------------- */

static void step_cause(enum gov_cause c, const struct gov_inputs *in, struct gov_cause_state *cs)
{
    int64_t now = in->now_ms;
    enum gov_level want = cause_level_now(c, in, false);
    if (want > cs->level) {
        if (cs->left_at_ms && now - cs->left_at_ms < 2 * (int64_t)cs->dwell_ms)
            cs->dwell_ms = cs->dwell_ms * 2 > GOV_DWELL_MS_MAX ? GOV_DWELL_MS_MAX : cs->dwell_ms * 2;
        cs->level = want;
        cs->calm_since_ms = 0;
        return;
    }
    if (cs->level == GOV_NORMAL) {
        /* a long calm forgets the doubled dwell */
        if (cs->left_at_ms && now - cs->left_at_ms > GOV_DWELL_MS_MAX)
            cs->dwell_ms = base_dwell_ms(c);
        return;
    }
    if (cause_level_now(c, in, true) >= cs->level) {
        cs->calm_since_ms = 0;
        return;
    }
    if (!cs->calm_since_ms) {
        cs->calm_since_ms = now;
        return;
    }
    if (now - cs->calm_since_ms >= (int64_t)cs->dwell_ms) {
        cs->level--;
        cs->left_at_ms = now;
        cs->calm_since_ms = cs->level == GOV_NORMAL ? 0 : now;
    }
}

/* ---- outputs ------------------------------------------------------------- */

static void persona_out(const struct gov_persona *p, const struct gov_output *o,
                        struct gov_persona_out *po)
{
    enum gov_level l = o->level, heat = o->cause_level[GOV_CAUSE_HEAT];
    *po = (struct gov_persona_out){.cpu_weight = GOV_WEIGHT_BACKGROUND, .action = GOV_RUN};
    switch (p->role) {
    case GOV_ROLE_FOCUSED: /* never frozen by us; heat alone may cap it */
        po->cpu_weight = GOV_WEIGHT_FOCUSED;
        po->cpu_max_pct = heat >= GOV_CRITICAL ? 50 : heat >= GOV_HIGH ? 75 : 0;
        return;
    case GOV_ROLE_TENANT: /* the compositor and friends: the UI needs them */
        return;
    case GOV_ROLE_BACKGROUND:
        if (l >= GOV_CRITICAL)
            po->action = GOV_FREEZE;
        po->cpu_max_pct = l == GOV_HIGH ? 20 : l == GOV_ELEVATED ? 50 : 0;
        return;
    case GOV_ROLE_SACRIFICIAL:
        po->cpu_weight = GOV_WEIGHT_SACRIFICIAL;
        po->cpu_max_pct = l == GOV_ELEVATED ? 25 : 0;
        if (l >= GOV_HIGH)
            po->action = GOV_FREEZE;
        /* freezing keeps its memory; only stopping gives it back */
        if (o->cause_level[GOV_CAUSE_MEMORY] >= GOV_CRITICAL)
            po->action = GOV_STOP;
        return;
    default:
        BAY0_ASSERT(!"unknown role");
    }
}

static int32_t hottest_margin_mc(const struct gov_inputs *in)
{
    int32_t best = INT32_MAX;
    for (uint32_t i = 0; i < in->zones_n; i++) {
        int32_t m = zone_passive_mc(&in->zones[i]) - in->zones[i].temp_mc;
        if (m < best)
            best = m;
    }
    return best;
}

void gov_decide(const struct gov_inputs *in, struct gov_state *st, struct gov_output *out)
{
    BAY0_ASSERT(in->personas_n <= GOV_PERSONAS_MAX);
    BAY0_ASSERT(in->zones_n <= GOV_ZONES_MAX);
    memset(out, 0, sizeof *out);
    out->level = GOV_NORMAL;
    bool settling = false;
    for (int c = 0; c < GOV_CAUSES; c++) {
        step_cause((enum gov_cause)c, in, &st->cause[c]);
        out->cause_level[c] = st->cause[c].level;
        if (st->cause[c].level > out->level)
            out->level = st->cause[c].level;
        settling |= st->cause[c].calm_since_ms != 0;
    }
    out->refuse_start = out->level >= GOV_HIGH;
    out->cpu_effective_x100 = cpu_effective_x100(in);
    out->hottest_margin_mc = hottest_margin_mc(in);
    /* The timer runs only while something is raised, settling, or close:
     * pressure above the hold thresholds, or a zone within reach of its trip. */
    out->watch = out->level > GOV_NORMAL || settling ||
                 (in->have_psi && (in->cpu.some.avg10_x100 >= GOV_CPU_EXIT_X100 ||
                                   in->memory.some.avg10_x100 >= GOV_MEM_EXIT_X100)) ||
                 out->hottest_margin_mc < GOV_HEAT_WARM_BELOW_PASSIVE_MC;
    for (uint32_t i = 0; i < in->personas_n; i++)
        persona_out(&in->personas[i], out, &out->personas[i]);
}

/* ---- /proc/pressure parser -------------------------------------------------
 * "some avg10=0.12 avg60=0.00 avg300=0.00 total=1234\n"
 * "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
 * The kernel prints avgs as %lu.%02lu; unknown key=value fields are
 * skipped (a newer kernel may add some); each known field must appear once. */

/* "12.34" -> 1234; at most 100.00 */
static bool parse_pct_x100(const char *s, size_t n, uint32_t *out)
{
    uint32_t whole = 0, frac = 0, frac_digits = 0;
    size_t i = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        whole = whole * 10 + (uint32_t)(s[i] - '0');
        if (whole > 100)
            return false;
    }
    if (i == 0)
        return false;
    if (i < n) {
        if (s[i] != '.' || i + 1 == n)
            return false;
        for (i++; i < n; i++) {
            if (s[i] < '0' || s[i] > '9' || frac_digits == 2)
                return false;
            frac = frac * 10 + (uint32_t)(s[i] - '0');
            frac_digits++;
        }
    }
    if (frac_digits == 1)
        frac *= 10;
    *out = whole * 100 + frac;
    return *out <= 10000;
}

static bool parse_u64_span(const char *s, size_t n, uint64_t *out)
{
    char tmp[24];
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (tmp[i] < '0' || tmp[i] > '9')
            return false;
    return parse_u64(tmp, UINT64_MAX, out);
}

static bool parse_field(const char *tok, size_t n, struct gov_psi_line *l, unsigned *seen,
                        char *reason, size_t rs)
{
    const char *eq = memchr(tok, '=', n);
    if (!eq || eq == tok)
        return reason_fail(reason, rs, "field '%.*s' is not key=value", (int)(n > 32 ? 32 : n), tok);
    size_t kn = (size_t)(eq - tok), vn = n - kn - 1;
    const char *v = eq + 1;
    static const char *const keys[] = {"avg10", "avg60", "avg300", "total"};
    for (unsigned k = 0; k < ARRAY_LEN(keys); k++) {
        if (kn != strlen(keys[k]) || memcmp(tok, keys[k], kn) != 0)
            continue;
        if (*seen & (1u << k))
            return reason_fail(reason, rs, "field %s appears twice", keys[k]);
        *seen |= 1u << k;
        bool ok = k == 0 ? parse_pct_x100(v, vn, &l->avg10_x100)
                : k == 1 ? parse_pct_x100(v, vn, &l->avg60_x100)
                : k == 2 ? parse_pct_x100(v, vn, &l->avg300_x100)
                         : parse_u64_span(v, vn, &l->total_us);
        if (!ok)
            return reason_fail(reason, rs, "%s=%.*s is not a %s", keys[k], (int)(vn > 24 ? 24 : vn), v,
                               k == 3 ? "number of microseconds" : "percentage 0.00-100.00");
        return true;
    }
    return true; /* unknown key: a newer kernel's addition */
}

static bool parse_line(const char *s, size_t n, struct gov_psi_line *l, char *reason, size_t rs)
{
    unsigned seen = 0;
    size_t i = 0;
    while (i < n) {
        if (s[i] == ' ') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && s[j] != ' ')
            j++;
        if (!parse_field(s + i, j - i, l, &seen, reason, rs))
            return false;
        i = j;
    }
    if (seen != 0xf)
        return reason_fail(reason, rs, "a line lacks one of avg10, avg60, avg300, total");
    return true;
}

bool gov_psi_parse(const char *text, size_t len, struct gov_psi *out, char *reason,
                   size_t reason_size)
{
    memset(out, 0, sizeof *out);
    if (len > GOV_PRESSURE_FILE_BYTES_MAX)
        return reason_fail(reason, reason_size, "%zu bytes, more than %d", len,
                           GOV_PRESSURE_FILE_BYTES_MAX);
    bool has_some = false;
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *line = text + i;
        size_t n = end - i;
        i = end + 1;
        if (n == 0)
            continue;
        if (memchr(line, '\0', n))
            return reason_fail(reason, reason_size, "a NUL byte in the text");
        struct gov_psi_line *l = NULL;
        if (n > 5 && memcmp(line, "some ", 5) == 0 && !has_some) {
            l = &out->some;
            has_some = true;
        } else if (n > 5 && memcmp(line, "full ", 5) == 0 && !out->has_full) {
            l = &out->full;
            out->has_full = true;
        } else {
            return reason_fail(reason, reason_size, "line '%.*s' is not one 'some ...' or 'full ...'",
                               (int)(n > 24 ? 24 : n), line);
        }
        if (!parse_line(line + 5, n - 5, l, reason, reason_size))
            return false;
    }
    if (!has_some)
        return reason_fail(reason, reason_size, "no 'some' line");
    return true;
}
