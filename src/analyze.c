/* analyze.c — the supervisor's side of `bay0 analyze`: two process-wide
 * moments and the rows the control socket's "times" request streams.
 * Fixed memory: the per-service stamps are in struct svc.
 */
#include "analyze.h"

#include "util.h"

#include <stdio.h>
#include <string.h>

static int64_t start_us;
static int64_t init_us;

void analyze_mark_start(void)
{
    if (!start_us)
        start_us = time_boot_us();
}

int64_t analyze_start_us(void) { return start_us; }

void analyze_mark_init_done(void)
{
    if (!init_us)
        init_us = time_boot_us();
}

void analyze_summary(char *buf, size_t size)
{
    snprintf(buf, size, "start_us=%lld init_us=%lld now_us=%lld", (long long)start_us,
             (long long)init_us, (long long)time_boot_us());
}

void analyze_row(const struct svc *s, const char *deps, char *row, size_t size)
{
    static const char *const types[] = {"longrun", "oneshot"};
    const int64_t *f = s->stamp_first, *l = s->stamp_last;
    snprintf(row, size,
             "T\t%s\t%s\t%s\t%s\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld",
             s->name, s->is_logger ? "logger" : types[s->def.type], svc_state_name(s->state),
             deps, (long long)f[0], (long long)f[1], (long long)f[2], (long long)f[3],
             (long long)f[4], (long long)l[0], (long long)l[1], (long long)l[2],
             (long long)l[3], (long long)l[4]);
}

void analyze_stamp(int64_t first[STAMP_COUNT], int64_t latest[STAMP_COUNT], enum svc_stamp k,
                   int64_t t)
{
    BAY0_ASSERT((unsigned)k < STAMP_COUNT);
    if (t <= 0)
        t = 1; /* 0 means "not yet" */
    if (k == STAMP_WANTED || (k == STAMP_SPAWNED && latest[STAMP_SPAWNED])) {
        int64_t wanted = k == STAMP_WANTED || !latest[STAMP_EXITED] ? t : latest[STAMP_EXITED];
        memset(latest, 0, STAMP_COUNT * sizeof latest[0]);
        latest[STAMP_WANTED] = wanted;
        if (!first[STAMP_WANTED])
            first[STAMP_WANTED] = wanted;
    }
    latest[k] = t;
    if (!first[k])
        first[k] = t;
}
