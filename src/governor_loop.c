/* governor_loop.c — the governor's inputs and outputs inside the
 * supervisor's event loop (the policy itself is pure: governor.c).
 *
 * Owns: the PSI trigger fds (/proc/pressure/{cpu,memory,io} opened
 * read-write, a "some STALL WINDOW" trigger written, then EPOLLPRI in the
 * loop), the thermal zone list, the low-rate timer, the wake-up counters,
 * the last decisions. Event-driven: nothing wakes the loop while pressure
 * is below the triggers and no level is raised; the 2-s timer runs only
 * while the policy says "watch" (a level raised or settling, pressure
 * above the hold thresholds, a zone near its trip).
 * Never blocks: /proc and /sys reads only (pseudo-files, non-blocking).
 * Never touches /persist. Thermal zones are read at each evaluation, not
 * subscribed to (no thermal netlink events yet): a zone heating up while
 * nothing else happens is noticed at the next pressure event or tick.
 */
#include "governor.h"

#include "log.h"
#include "loop.h"
#include "svc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define GOV_TICK_MS 2000
#define GOV_DECISIONS_KEPT 8
#define GOV_DECISION_BYTES_MAX 480
#define GOV_TRIPS_MAX 16
#define GOV_PATH_BYTES_MAX 256
#define GOV_STATE_PATH_BYTES_MAX 512 /* RUNDIR/governor */

enum { PSI_CPU, PSI_MEMORY, PSI_IO, PSI_RESOURCES };
static const char *const psi_names[PSI_RESOURCES] = {"cpu", "memory", "io"};
/* stall microseconds per 1-s window; doubled over 2 s where the kernel
 * allows unprivileged triggers only (no CAP_SYS_RESOURCE: window must be
 * a multiple of 2 s) */
static const uint32_t psi_stall_us[PSI_RESOURCES] = {150000, 50000, 150000};

struct gov_loop {
    bool on;
    bool zones_scanned;
    int psi_fd[PSI_RESOURCES];
    uint32_t psi_window_us[PSI_RESOURCES];
    char psi_dir[GOV_PATH_BYTES_MAX];
    char thermal_dir[GOV_PATH_BYTES_MAX];
    uint32_t zones_n;
    uint32_t zone_id[GOV_ZONES_MAX];
    struct gov_zone zone_trips[GOV_ZONES_MAX];
    struct gov_state st;
    struct gov_inputs in;
    struct gov_output out;
    bool have_out;
    int64_t deadline_ms;
    int64_t started_ms;
    uint64_t psi_events[PSI_RESOURCES];
    uint64_t timer_ticks;
    uint64_t evaluations;
    uint64_t decisions;
    char off_reason[512];
    char last[GOV_DECISIONS_KEPT][GOV_DECISION_BYTES_MAX];
    governor_personas_fn personas;
    governor_apply_fn apply;
};

static struct gov_loop g = {.psi_fd = {-1, -1, -1}};

void governor_set_hooks(governor_personas_fn personas, governor_apply_fn apply)
{
    g.personas = personas;
    g.apply = apply;
}

bool governor_refuses_start(void) { return g.have_out && g.out.refuse_start; }

static bool state_path(char *path, size_t size)
{
    return sup.rundir != NULL && str_fmt(path, size, "%s/" GOVERNOR_STATE_FILE, sup.rundir);
}

/* The decision for readers outside the supervisor (governor.h); RUNDIR is
 * tmpfs, so this small write does not hold the loop up. */
static void publish(void)
{
    char path[GOV_STATE_PATH_BYTES_MAX], line[160];
    if (!state_path(path, sizeof path))
        return;
    int len = snprintf(line, sizeof line, "refuse_start=%s level=%s cpu=%s memory=%s heat=%s\n",
                       g.out.refuse_start ? "yes" : "no", gov_level_name(g.out.level),
                       gov_level_name(g.out.cause_level[GOV_CAUSE_CPU]),
                       gov_level_name(g.out.cause_level[GOV_CAUSE_MEMORY]),
                       gov_level_name(g.out.cause_level[GOV_CAUSE_HEAT]));
    BAY0_ASSERT(len > 0 && (size_t)len < sizeof line);
    if (!file_replace(path, line))
        log_warn("event=governor-publish-failed path=%s error=\"%s\"", path, strerror(errno));
}

bool governor_file_refuses(const char *rundir, char *line, size_t size)
{
    char path[GOV_STATE_PATH_BYTES_MAX];
    line[0] = '\0';
    if (!str_fmt(path, sizeof path, "%s/" GOVERNOR_STATE_FILE, rundir))
        return false;
    ssize_t n = file_read_small(AT_FDCWD, path, line, size);
    if (n <= 0) {
        line[0] = '\0';
        return false;
    }
    line[strcspn(line, "\n")] = '\0';
    return strncmp(line, "refuse_start=yes ", 17) == 0;
}

int64_t governor_deadline_ms(void) { return g.deadline_ms; }

/* ---- inputs ---------------------------------------------------------------- */

static bool read_psi(int r, struct gov_psi *out)
{
    char buf[GOV_PRESSURE_FILE_BYTES_MAX + 1];
    ssize_t n = pread(g.psi_fd[r], buf, sizeof buf - 1, 0);
    if (n < 0) {
        log_warn("event=governor-read-failed resource=%s error=\"%s\"", psi_names[r], strerror(errno));
        return false;
    }
    char reason[128];
    if (!gov_psi_parse(buf, (size_t)n, out, reason, sizeof reason)) {
        log_warn("event=governor-parse-failed resource=%s reason=\"%s\"", psi_names[r], reason);
        return false;
    }
    return true;
}

static bool read_int(const char *path, int64_t *out)
{
    char buf[32];
    if (file_read_small(AT_FDCWD, path, buf, sizeof buf) < 0)
        return false;
    str_rstrip(buf);
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || end == buf || *end)
        return false;
    *out = v;
    return true;
}

/* Trip points are read once: passive and critical, the lowest of each. */
static void zone_read_trips(uint32_t id, struct gov_zone *z)
{
    for (int t = 0; t < GOV_TRIPS_MAX; t++) {
        char path[GOV_PATH_BYTES_MAX + 64], type[32];
        int64_t temp;
        if (!str_fmt(path, sizeof path, "%s/thermal_zone%u/trip_point_%d_type", g.thermal_dir, id, t) ||
            file_read_small(AT_FDCWD, path, type, sizeof type) < 0)
            return;
        str_rstrip(type);
        if (!str_fmt(path, sizeof path, "%s/thermal_zone%u/trip_point_%d_temp", g.thermal_dir, id, t) ||
            !read_int(path, &temp) || temp <= 0 || temp > INT32_MAX)
            continue;
        int32_t *slot = strcmp(type, "passive") == 0 ? &z->passive_mc
                      : strcmp(type, "critical") == 0 ? &z->critical_mc : NULL;
        if (slot && (*slot == 0 || temp < *slot))
            *slot = (int32_t)temp;
    }
}

/* The zone numbers below 64 that the thermal directory lists: one read of
 * the directory instead of a failed open for each number it lacks. */
static bool zone_listed(const char *name, unsigned char type, void *ctx)
{
    (void)type;
    unsigned id;
    char end;
    if (sscanf(name, "thermal_zone%u%c", &id, &end) == 1 && id < 64)
        *(uint64_t *)ctx |= 1ull << id;
    return true;
}

static uint64_t zones_listed(void)
{
    uint64_t ids = 0;
    int fd = open(g.thermal_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (dir_each(fd, zone_listed, &ids) < 0)
        ids = 0;
    close(fd);
    return ids;
}

static void zones_scan(void)
{
    g.zones_scanned = true;
    uint64_t listed = zones_listed();
    for (uint32_t id = 0; id < 64 && g.zones_n < GOV_ZONES_MAX; id++) {
        char path[GOV_PATH_BYTES_MAX + 64];
        if (!(listed & (1ull << id)))
            continue;
        int64_t temp;
        if (!str_fmt(path, sizeof path, "%s/thermal_zone%u/temp", g.thermal_dir, id) ||
            !read_int(path, &temp))
            continue;
        g.zone_id[g.zones_n] = id;
        zone_read_trips(id, &g.zone_trips[g.zones_n]);
        g.zones_n++;
    }
}

static void read_zones(struct gov_inputs *in)
{
    in->zones_n = 0;
    for (uint32_t i = 0; i < g.zones_n; i++) {
        char path[GOV_PATH_BYTES_MAX + 64];
        int64_t temp;
        if (!str_fmt(path, sizeof path, "%s/thermal_zone%u/temp", g.thermal_dir, g.zone_id[i]) ||
            !read_int(path, &temp) || temp < INT32_MIN || temp > INT32_MAX)
            continue; /* a sensor that fails to read is left out this time */
        in->zones[in->zones_n] = g.zone_trips[i];
        in->zones[in->zones_n].temp_mc = (int32_t)temp;
        in->zones_n++;
    }
}

static void gather(struct gov_inputs *in, int64_t now_ms)
{
    memset(in, 0, sizeof *in);
    in->now_ms = now_ms;
    in->have_psi = false;
    struct gov_psi *dst[PSI_RESOURCES] = {&in->cpu, &in->memory, &in->io};
    for (int r = 0; r < PSI_RESOURCES; r++)
        if (g.psi_fd[r] >= 0 && read_psi(r, dst[r]))
            in->have_psi = true;
    read_zones(in);
    if (g.personas)
        in->personas_n = g.personas(in->personas, GOV_PERSONAS_MAX);
    BAY0_ASSERT(in->personas_n <= GOV_PERSONAS_MAX);
}

/* ---- decisions ------------------------------------------------------------- */

static bool outputs_differ(const struct gov_output *a, const struct gov_output *b, uint32_t n)
{
    if (a->level != b->level || a->refuse_start != b->refuse_start)
        return true;
    for (int c = 0; c < GOV_CAUSES; c++)
        if (a->cause_level[c] != b->cause_level[c])
            return true;
    for (uint32_t i = 0; i < n; i++)
        if (a->personas[i].cpu_weight != b->personas[i].cpu_weight ||
            a->personas[i].cpu_max_pct != b->personas[i].cpu_max_pct ||
            a->personas[i].action != b->personas[i].action)
            return true;
    return false;
}

/* One line: what triggered it (the inputs) and what was decided. */
static void log_decision(const char *trigger, enum gov_level from)
{
    const struct gov_inputs *in = &g.in;
    const struct gov_output *o = &g.out;
    char line[GOV_DECISION_BYTES_MAX];
    size_t n = 0;
    n = str_appendf(line, sizeof line, n,
                "trigger=%s level=%s from=%s cpu=%s memory=%s heat=%s cpu_some=%u.%02u "
                "cpu_effective=%u.%02u mem_some=%u.%02u mem_full=%u.%02u io_some=%u.%02u",
                trigger, gov_level_name(o->level), gov_level_name(from),
                gov_level_name(o->cause_level[GOV_CAUSE_CPU]),
                gov_level_name(o->cause_level[GOV_CAUSE_MEMORY]),
                gov_level_name(o->cause_level[GOV_CAUSE_HEAT]), in->cpu.some.avg10_x100 / 100,
                in->cpu.some.avg10_x100 % 100, o->cpu_effective_x100 / 100,
                o->cpu_effective_x100 % 100, in->memory.some.avg10_x100 / 100,
                in->memory.some.avg10_x100 % 100, in->memory.full.avg10_x100 / 100,
                in->memory.full.avg10_x100 % 100, in->io.some.avg10_x100 / 100,
                in->io.some.avg10_x100 % 100);
    if (in->zones_n)
        n = str_appendf(line, sizeof line, n, " hottest_margin_mc=%d", o->hottest_margin_mc);
    n = str_appendf(line, sizeof line, n, " refuse_start=%s actions=\"", o->refuse_start ? "yes" : "no");
    for (uint32_t i = 0; i < in->personas_n; i++)
        n = str_appendf(line, sizeof line, n, "%s%s:weight=%u,max=%u%%,%s", i ? " " : "",
                    in->personas[i].name, o->personas[i].cpu_weight, o->personas[i].cpu_max_pct,
                    gov_action_name(o->personas[i].action));
    n = str_appendf(line, sizeof line, n, "\"");
    log_info("event=governor-decision %s", line);
    memmove(g.last[1], g.last[0], sizeof g.last[0] * (GOV_DECISIONS_KEPT - 1));
    char stamp[64];
    int64_t ms = time_wall_ms();
    (void)time_iso_us(ms / 1000, (long)(ms % 1000) * 1000000, stamp, sizeof stamp);
    size_t k = str_appendf(g.last[0], sizeof g.last[0], 0, "%s ", stamp);
    str_copy(g.last[0] + k, sizeof g.last[0] - k, line); /* cut if need be */
    g.decisions++;
}

static void evaluate(const char *trigger, int64_t now_ms)
{
    g.evaluations++;
    struct gov_output prev = g.out;
    bool had = g.have_out;
    gather(&g.in, now_ms);
    gov_decide(&g.in, &g.st, &g.out);
    g.have_out = true;
    if (!had || outputs_differ(&prev, &g.out, g.in.personas_n)) {
        log_decision(trigger, had ? prev.level : GOV_NORMAL);
        publish();
        if (g.apply)
            g.apply(&g.in, &g.out);
    }
    g.deadline_ms = g.out.watch ? now_ms + GOV_TICK_MS : 0;
}

void governor_on_event(int32_t index)
{
    BAY0_ASSERT(index >= 0 && index < PSI_RESOURCES);
    g.psi_events[index]++;
    evaluate(psi_names[index], time_mono_ms());
}

void governor_on_timer(int64_t now_ms)
{
    if (!g.deadline_ms || g.deadline_ms > now_ms)
        return;
    g.timer_ticks++;
    evaluate("tick", now_ms);
}

/* ---- start-up -------------------------------------------------------------- */

static bool resource_wanted(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        p += len + (comma ? 1 : 0);
    }
    return false;
}

/* Writes "some STALL WINDOW" with its NUL (the kernel drops the last byte
 * written); without CAP_SYS_RESOURCE the window must be a multiple of 2 s. */
static int psi_open(int r)
{
    char path[GOV_PATH_BYTES_MAX + 16];
    if (!str_fmt(path, sizeof path, "%s/%s", g.psi_dir, psi_names[r]))
        return -1;
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    static const uint32_t windows_us[] = {1000000, 2000000};
    for (size_t w = 0; w < ARRAY_LEN(windows_us); w++) {
        char trig[64];
        int len = snprintf(trig, sizeof trig, "some %u %u", psi_stall_us[r] * (uint32_t)(w + 1),
                           windows_us[w]);
        if (write(fd, trig, (size_t)len + 1) == len + 1) {
            g.psi_window_us[r] = windows_us[w];
            struct epoll_event ev = {.events = EPOLLPRI,
                                     .data.u64 = ((uint64_t)WATCH_GOVERNOR << 32) | (uint32_t)r};
            if (epoll_ctl(sup.epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0)
                return fd;
            break;
        }
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

void governor_init(void)
{
    const char *env = getenv("BAY0_GOVERNOR");
    const char *psi_dir = getenv("BAY0_PSI_DIR");
    const char *thermal_dir = getenv("BAY0_THERMAL_DIR");
    const char *resources = getenv("BAY0_PSI_RESOURCES");
    str_copy(g.psi_dir, sizeof g.psi_dir, psi_dir ? psi_dir : "/proc/pressure");
    str_copy(g.thermal_dir, sizeof g.thermal_dir, thermal_dir ? thermal_dir : "/sys/class/thermal");
    gov_state_init(&g.st);
    g.started_ms = time_mono_ms();
    char path[GOV_STATE_PATH_BYTES_MAX];
    if (state_path(path, sizeof path))
        (void)unlink(path); /* an earlier supervisor's decision is not ours */
    if (env && strcmp(env, "off") == 0) {
        str_copy(g.off_reason, sizeof g.off_reason, "BAY0_GOVERNOR=off");
        log_info("event=governor-off reason=\"%s\"", g.off_reason);
        return;
    }
    char failed[192] = "";
    size_t flen = 0;
    for (int r = 0; r < PSI_RESOURCES; r++) {
        if (resources && !resource_wanted(resources, psi_names[r]))
            continue;
        g.psi_fd[r] = psi_open(r);
        if (g.psi_fd[r] < 0)
            flen = str_appendf(failed, sizeof failed, flen, "%s%s: %s", flen ? "; " : "", psi_names[r],
                           strerror(errno));
    }
    zones_scan();
    g.on = g.psi_fd[PSI_CPU] >= 0 || g.psi_fd[PSI_MEMORY] >= 0 || g.psi_fd[PSI_IO] >= 0 ||
           g.zones_n > 0;
    if (!g.on) {
        size_t k = str_appendf(g.off_reason, sizeof g.off_reason, 0, "no pressure triggers in %s (%s)",
                           g.psi_dir, flen ? failed : "none asked for");
        str_appendf(g.off_reason, sizeof g.off_reason, k, " and no thermal zones in %s", g.thermal_dir);
        log_info("event=governor-off reason=\"%s\"", g.off_reason);
        return;
    }
    if (flen)
        log_warn("event=governor-partial psi=%s reason=\"%s\"", g.psi_dir, failed);
    log_info("event=governor-on psi=%s cpu_window_us=%u memory_window_us=%u io_window_us=%u "
             "thermal_zones=%u",
             g.psi_dir, g.psi_window_us[PSI_CPU], g.psi_window_us[PSI_MEMORY],
             g.psi_window_us[PSI_IO], g.zones_n);
    evaluate("start", time_mono_ms());
}

/* ---- report ------------------------------------------------------------------ */

static size_t report_text(char *buf, size_t size)
{
    size_t n = 0;
    int64_t up_ms = time_mono_ms() - g.started_ms;
    if (!g.on)
        return str_appendf(buf, size, n, "governor: off (%s)\n", g.off_reason);
    const struct gov_inputs *in = &g.in;
    n = str_appendf(buf, size, n, "governor: on  level=%s cpu=%s memory=%s heat=%s refuse_start=%s watching=%s\n",
                gov_level_name(g.out.level), gov_level_name(g.out.cause_level[GOV_CAUSE_CPU]),
                gov_level_name(g.out.cause_level[GOV_CAUSE_MEMORY]),
                gov_level_name(g.out.cause_level[GOV_CAUSE_HEAT]), g.out.refuse_start ? "yes" : "no",
                g.deadline_ms ? "yes" : "no");
    const struct gov_psi *p[PSI_RESOURCES] = {&in->cpu, &in->memory, &in->io};
    for (int r = 0; r < PSI_RESOURCES; r++) {
        if (g.psi_fd[r] < 0) {
            n = str_appendf(buf, size, n, "psi %-6s not watched\n", psi_names[r]);
            continue;
        }
        n = str_appendf(buf, size, n, "psi %-6s some avg10=%u.%02u full avg10=%u.%02u trigger=some %u/%u us events=%llu\n",
                    psi_names[r], p[r]->some.avg10_x100 / 100, p[r]->some.avg10_x100 % 100,
                    p[r]->full.avg10_x100 / 100, p[r]->full.avg10_x100 % 100,
                    psi_stall_us[r] * (g.psi_window_us[r] / 1000000), g.psi_window_us[r],
                    (unsigned long long)g.psi_events[r]);
    }
    for (uint32_t i = 0; i < in->zones_n; i++)
        n = str_appendf(buf, size, n, "zone %u temp_mc=%d passive_mc=%d critical_mc=%d\n", g.zone_id[i],
                    in->zones[i].temp_mc, in->zones[i].passive_mc, in->zones[i].critical_mc);
    for (uint32_t i = 0; i < in->personas_n; i++)
        n = str_appendf(buf, size, n, "persona %s role=%s throttled=%u%% weight=%u max=%u%% action=%s\n",
                    in->personas[i].name, gov_role_name(in->personas[i].role),
                    in->personas[i].throttled_pct, g.out.personas[i].cpu_weight,
                    g.out.personas[i].cpu_max_pct, gov_action_name(g.out.personas[i].action));
    n = str_appendf(buf, size, n, "wakeups psi=%llu timer=%llu evaluations=%llu decisions=%llu over %lld ms\n",
                (unsigned long long)(g.psi_events[0] + g.psi_events[1] + g.psi_events[2]),
                (unsigned long long)g.timer_ticks, (unsigned long long)g.evaluations,
                (unsigned long long)g.decisions, (long long)up_ms);
    for (int i = 0; i < GOV_DECISIONS_KEPT && g.last[i][0]; i++)
        n = str_appendf(buf, size, n, "decision %s\n", g.last[i]);
    return n;
}

/* Decision lines hold only [a-z0-9=.:%,/_ -] and \" from log_decision. */
static size_t json_str(char *buf, size_t size, size_t n, const char *s)
{
    n = str_appendf(buf, size, n, "\"");
    for (; *s; s++)
        n = *s == '"' || *s == '\\' ? str_appendf(buf, size, n, "\\%c", *s) : str_appendf(buf, size, n, "%c", *s);
    return str_appendf(buf, size, n, "\"");
}

static size_t report_json(char *buf, size_t size)
{
    size_t n = 0;
    const struct gov_inputs *in = &g.in;
    n = str_appendf(buf, size, n, "{\"on\":%s,\"off_reason\":", g.on ? "true" : "false");
    n = json_str(buf, size, n, g.off_reason);
    n = str_appendf(buf, size, n, ",\"level\":\"%s\",\"causes\":{\"cpu\":\"%s\",\"memory\":\"%s\",\"heat\":\"%s\"},"
                "\"refuse_start\":%s,\"watching\":%s,\"cpu_effective\":%u.%02u,\"psi\":{",
                gov_level_name(g.out.level), gov_level_name(g.out.cause_level[GOV_CAUSE_CPU]),
                gov_level_name(g.out.cause_level[GOV_CAUSE_MEMORY]),
                gov_level_name(g.out.cause_level[GOV_CAUSE_HEAT]), g.out.refuse_start ? "true" : "false",
                g.deadline_ms ? "true" : "false", g.out.cpu_effective_x100 / 100,
                g.out.cpu_effective_x100 % 100);
    const struct gov_psi *p[PSI_RESOURCES] = {&in->cpu, &in->memory, &in->io};
    for (int r = 0; r < PSI_RESOURCES; r++)
        n = str_appendf(buf, size, n, "%s\"%s\":{\"watched\":%s,\"window_us\":%u,\"some_avg10\":%u.%02u,"
                    "\"full_avg10\":%u.%02u,\"events\":%llu}", r ? "," : "", psi_names[r],
                    g.psi_fd[r] >= 0 ? "true" : "false", g.psi_window_us[r],
                    p[r]->some.avg10_x100 / 100, p[r]->some.avg10_x100 % 100,
                    p[r]->full.avg10_x100 / 100, p[r]->full.avg10_x100 % 100,
                    (unsigned long long)g.psi_events[r]);
    n = str_appendf(buf, size, n, "},\"zones\":[");
    for (uint32_t i = 0; i < in->zones_n; i++)
        n = str_appendf(buf, size, n, "%s{\"zone\":%u,\"temp_mc\":%d,\"passive_mc\":%d,\"critical_mc\":%d}",
                    i ? "," : "", g.zone_id[i], in->zones[i].temp_mc, in->zones[i].passive_mc,
                    in->zones[i].critical_mc);
    n = str_appendf(buf, size, n, "],\"personas\":[");
    for (uint32_t i = 0; i < in->personas_n; i++)
        n = str_appendf(buf, size, n, "%s{\"name\":\"%s\",\"role\":\"%s\",\"throttled_pct\":%u,"
                    "\"cpu_weight\":%u,\"cpu_max_pct\":%u,\"action\":\"%s\"}", i ? "," : "",
                    in->personas[i].name, gov_role_name(in->personas[i].role),
                    in->personas[i].throttled_pct, g.out.personas[i].cpu_weight,
                    g.out.personas[i].cpu_max_pct, gov_action_name(g.out.personas[i].action));
    n = str_appendf(buf, size, n, "],\"wakeups\":{\"psi\":%llu,\"timer\":%llu,\"evaluations\":%llu,"
                "\"decisions\":%llu,\"since_ms\":%lld},\"decisions\":[",
                (unsigned long long)(g.psi_events[0] + g.psi_events[1] + g.psi_events[2]),
                (unsigned long long)g.timer_ticks, (unsigned long long)g.evaluations,
                (unsigned long long)g.decisions, (long long)(time_mono_ms() - g.started_ms));
    for (int i = 0; i < GOV_DECISIONS_KEPT && g.last[i][0]; i++) {
        n = str_appendf(buf, size, n, "%s", i ? "," : "");
        n = json_str(buf, size, n, g.last[i]);
    }
    return str_appendf(buf, size, n, "]}\n");
}

size_t governor_report(char *buf, size_t size, bool json)
{
    BAY0_ASSERT(size > 1);
    buf[0] = '\0';
    return json ? report_json(buf, size) : report_text(buf, size);
}
