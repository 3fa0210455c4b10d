/* governor.h — the thermal + PSI governor.
 *
 * Two halves:
 *  - a PURE policy (governor.c): gov_decide() takes the pressure averages,
 *    the thermal zones and the personas (which one is focused, which is the
 *    sacrificial tenant, how much each was throttled) plus the policy's own
 *    memory (struct gov_state) and returns per-persona cpu.max/cpu.weight,
 *    freeze/stop, and whether new starts are refused. No I/O, no clock: the
 *    caller passes now_ms. Unit tests drive it with traces.
 *  - the event-driven inputs (governor_loop.c): PSI triggers polled for
 *    EPOLLPRI in the supervisor's loop, thermal zones read when pressure or
 *    heat is near a limit, a low-rate timer only while the level is raised
 *    or a zone is warm. Idle: no timer, no wake-up.
 *
 * Levels (the highest of three causes, each with its own hysteresis):
 *   NORMAL    focused weight 1000, others 100, sacrificial 50, no caps
 *   ELEVATED  background cpu.max 50 %, sacrificial 25 %          (cpu, heat, memory)
 *   HIGH      background 20 %, sacrificial frozen, starts refused;
 *             heat also caps the focused persona at 75 %          (heat, memory)
 *   CRITICAL  background frozen; memory stops the sacrificial tenant,
 *             heat caps the focused persona at 50 %               (heat, memory)
 * CPU pressure alone never goes past ELEVATED: throttling cannot cure a
 * shortage of CPU, it only moves the stall, and the stall it moves shows up
 * as CPU pressure again (see gov_self_pressure_pct).
 */
#ifndef BAY0_GOVERNOR_H
#define BAY0_GOVERNOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GOV_PERSONAS_MAX 32
#define GOV_ZONES_MAX 16
#define GOV_NAME_BYTES_MAX 48          /* "sys://" + 32 + NUL, rounded up */
#define GOV_PRESSURE_FILE_BYTES_MAX 512 /* two lines of /proc/pressure/X */

/* Thresholds, in hundredths of a percent of wall time (avg10 * 100). */
#define GOV_CPU_ENTER_X100 4000   /* effective cpu some avg10 >= 40 % */
#define GOV_CPU_EXIT_X100 1500    /* below 15 % ... */
#define GOV_MEM_ELEVATED_X100 500 /* memory some >= 5 % */
#define GOV_MEM_HIGH_X100 1000    /* memory some >= 10 % */
#define GOV_MEM_CRITICAL_FULL_X100 500 /* memory full >= 5 % */
#define GOV_MEM_EXIT_X100 200     /* memory some below 2 % ... */
/* Thermal, relative to a zone's passive / critical trip (millidegrees). */
#define GOV_HEAT_ELEVATED_BELOW_PASSIVE_MC 5000
#define GOV_HEAT_CRITICAL_BELOW_CRITICAL_MC 5000
#define GOV_HEAT_EXIT_MARGIN_MC 5000  /* must cool this far below an entry */
#define GOV_HEAT_WARM_BELOW_PASSIVE_MC 15000 /* closer than this: keep watching */
#define GOV_PASSIVE_DEFAULT_MC 85000  /* a zone with no passive trip */
#define GOV_CRITICAL_DEFAULT_MC 105000
/* ... for this long before stepping down one level. */
#define GOV_CPU_DWELL_MS 10000
#define GOV_HEAT_DWELL_MS 10000
#define GOV_MEM_DWELL_MS 30000
#define GOV_DWELL_MS_MAX 1800000 /* re-entry soon after leaving doubles the dwell, up to 30 min */
#define GOV_BINDING_THROTTLED_PCT 10 /* a cap that throttled >10 % still binds */

#define GOV_WEIGHT_FOCUSED 1000
#define GOV_WEIGHT_BACKGROUND 100
#define GOV_WEIGHT_SACRIFICIAL 50

enum gov_level { GOV_NORMAL, GOV_ELEVATED, GOV_HIGH, GOV_CRITICAL, GOV_LEVELS };
enum gov_cause { GOV_CAUSE_CPU, GOV_CAUSE_MEMORY, GOV_CAUSE_HEAT, GOV_CAUSES };
enum gov_role { GOV_ROLE_FOCUSED, GOV_ROLE_BACKGROUND, GOV_ROLE_TENANT, GOV_ROLE_SACRIFICIAL };
enum gov_action { GOV_RUN, GOV_FREEZE, GOV_STOP };

/* One pressure file: avg10/avg60 of "some" and "full", in hundredths of a
 * percent (12.34 % -> 1234), and total in microseconds. */
struct gov_psi_line {
    uint32_t avg10_x100;
    uint32_t avg60_x100;
    uint32_t avg300_x100;
    uint64_t total_us;
};
struct gov_psi {
    struct gov_psi_line some;
    struct gov_psi_line full; /* zero where the file has no "full" line (cpu on old kernels) */
    bool has_full;
};

struct gov_zone {
    int32_t temp_mc;     /* millidegrees Celsius */
    int32_t passive_mc;  /* 0: unknown (the default is used) */
    int32_t critical_mc; /* 0: unknown */
};

struct gov_persona {
    char name[GOV_NAME_BYTES_MAX];
    enum gov_role role;
    bool running;          /* not running: no output but RUN */
    uint32_t throttled_pct; /* of wall time since the last sample, by our cap */
};

struct gov_inputs {
    int64_t now_ms;
    bool have_psi;
    struct gov_psi cpu, memory, io;
    uint32_t zones_n;
    struct gov_zone zones[GOV_ZONES_MAX];
    uint32_t personas_n;
    struct gov_persona personas[GOV_PERSONAS_MAX];
};

struct gov_persona_out {
    uint32_t cpu_weight;  /* cgroup v2 scale 1..10000 */
    uint32_t cpu_max_pct; /* of all CPUs; 0 = no cap */
    enum gov_action action;
};

struct gov_output {
    enum gov_level level;
    enum gov_level cause_level[GOV_CAUSES];
    bool refuse_start;
    bool watch;                 /* keep the low-rate timer running */
    uint32_t cpu_effective_x100; /* cpu some avg10 minus our own throttling */
    int32_t hottest_margin_mc;  /* hottest zone's distance to its passive trip */
    struct gov_persona_out personas[GOV_PERSONAS_MAX];
};

/* The policy's memory between calls: hysteresis per cause. Zero it to
 * start (gov_state_init). */
struct gov_cause_state {
    enum gov_level level;
    int64_t calm_since_ms;  /* exit condition true since; 0 = not calm */
    int64_t left_at_ms;     /* last step down */
    uint32_t dwell_ms;      /* current dwell (doubles on quick re-entry) */
};
struct gov_state {
    struct gov_cause_state cause[GOV_CAUSES];
};

void gov_state_init(struct gov_state *st);

/* The policy. Deterministic in (in, *st); updates *st. */
void gov_decide(const struct gov_inputs *in, struct gov_state *st, struct gov_output *out);

/* How much of the CPU pressure is our own doing: the personas we cap were
 * throttled for this share of the time, and a throttled runnable task is
 * a stalled task to PSI. Hundredths of a percent, at most 10000. */
uint32_t gov_self_pressure_x100(const struct gov_inputs *in);

/* Parses the text of /proc/pressure/{cpu,memory,io} (or a cgroup's
 * *.pressure). true, or false with a reason naming what was wrong. */
bool gov_psi_parse(const char *text, size_t len, struct gov_psi *out, char *reason,
                   size_t reason_size);

const char *gov_level_name(enum gov_level l);
const char *gov_cause_name(enum gov_cause c);
const char *gov_role_name(enum gov_role r);
const char *gov_action_name(enum gov_action a);

#endif

/* ---- the event-driven half (governor_loop.c), inside the supervisor ----- */

/* Who the personas are and what the governor's decisions do to them:
 * set by the focus module once personas exist. personas() fills at most
 * max entries (throttled_pct measured since its previous call) and
 * returns how many; apply() carries out one decision. Either may be NULL. */
typedef uint32_t (*governor_personas_fn)(struct gov_persona *out, uint32_t max);
typedef void (*governor_apply_fn)(const struct gov_inputs *in, const struct gov_output *out);
void governor_set_hooks(governor_personas_fn personas, governor_apply_fn apply);

/* Opens the pressure files and arms their triggers (registered with the
 * supervisor's epoll as WATCH_GOVERNOR), finds the thermal zones, and
 * evaluates once. Where nothing can be watched it says so in one log line
 * and stays off. Environment (tests): BAY0_GOVERNOR=off, BAY0_PSI_DIR
 * (default /proc/pressure), BAY0_PSI_RESOURCES (default "cpu,memory,io"),
 * BAY0_THERMAL_DIR (default /sys/class/thermal). */
void governor_init(void);
/* A pressure trigger fired (index: 0 cpu, 1 memory, 2 io). */
void governor_on_event(int32_t index);
/* The next time the governor wants the timer (monotonic ms), or 0. */
int64_t governor_deadline_ms(void);
void governor_on_timer(int64_t now_ms);
/* Whether the last decision refuses new starts. */
bool governor_refuses_start(void);
/* RUNDIR/GOVERNOR_STATE_FILE holds the last decision in one line
 * ("refuse_start=yes level=high cpu=normal memory=normal heat=high"),
 * rewritten (temp and rename, on the run dir's tmpfs) when it changes and
 * removed when the governor starts; the persona manager reads it before
 * starting a persona. */
#define GOVERNOR_STATE_FILE "governor"
/* Whether RUNDIR's governor file refuses new starts; line gets its text
 * (without the newline). No file: no. */
bool governor_file_refuses(const char *rundir, char *line, size_t size);
/* `bay0 governor`: the inputs, the level, the counters and the last
 * decisions, as text lines or one JSON object. Returns the length. */
size_t governor_report(char *buf, size_t size, bool json);
