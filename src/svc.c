/* svc.c — the service table: the one `sup` object, names of states and
 * events, and the lookups every module uses (by name, by pid through the
 * pid map, readiness). Owns no behaviour: states change in service.c.
 * Never allocates, never blocks.
 */
#include "svc.h"

#include "svcmap.h"
#include "util.h"

#include <string.h>

struct sup sup;

static const char *const state_names[ST_COUNT] = {
    "down",     "waiting",   "starting", "up",     "ready",
    "stopping", "finishing", "backoff",  "failed",
};
static const char *const event_names[EV_COUNT] = {
    "want-up",  "want-down", "want-restart", "deps-ready", "run-exit",
    "aux-exit", "ready",     "timer",        "config",     "config-error",
};

const char *svc_state_name(enum svc_state st)
{
    return st < ST_COUNT ? state_names[st] : "?";
}
const char *svc_event_name(enum svc_event ev)
{
    return ev < EV_COUNT ? event_names[ev] : "?";
}

struct svc *svc_find(const char *name)
{
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        struct svc *s = &sup.svcs[i];
        if (s->in_use && !s->is_logger && strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

struct svc *svc_by_pid(pid_t pid, bool *is_aux)
{
    uint32_t slot;
    if (!svcmap_pid_get(pid, &slot, is_aux))
        return NULL;
    BAY0_ASSERT(slot < sup.used_hi);
    struct svc *s = &sup.svcs[slot];
    BAY0_ASSERT(s->in_use && (*is_aux ? s->aux_pid : s->pid) == pid);
    return s;
}

void svc_slot_reset(struct svc *s)
{
    svcmap_pid_del(s->pid); /* a slot reused by a test's fixture */
    svcmap_pid_del(s->aux_pid);
    svcmap_deadline_set((uint32_t)svc_index(s), 0);
    memset(s, 0, sizeof *s);
    s->in_use = true;
    s->parent = SVC_NONE;
    s->logger = SVC_NONE;
    s->ready_fd = -1;
    s->log_rfd = -1;
    s->log_wfd = -1;
}

uint32_t svc_table_end(void) { return sup.used_hi; }

struct svc *svc_at(uint32_t slot)
{
    BAY0_ASSERT(slot < sup.used_hi);
    return &sup.svcs[slot];
}

const char *svc_dep(const struct svc *s, uint32_t i, const struct svc **dep)
{
    BAY0_ASSERT(i < s->dep_count && s->dep_first + i < sup.dep_edges_used);
    int32_t d = sup.dep_edges[s->dep_first + i];
    *dep = d == SVC_NONE ? NULL : svc_at((uint32_t)d);
    return *dep ? (*dep)->name : sup.dep_names[s->dep_first + i];
}

bool svc_is_running(const struct svc *s) { return s->pid != 0 || s->aux_pid != 0; }

bool svc_is_ready(const struct svc *s)
{
    return s->ready && (s->state == ST_UP || s->state == ST_READY);
}
