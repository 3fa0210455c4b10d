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

/* ---- name -> slot ---------------------------------------------------------
 * Open addressing, linear probing, backward-shift deletion, load at most
 * 1/2, entries slot + 1 (0: empty). Every entry of one name lies between
 * its home and the next empty entry, so a lookup sees them all and keeps
 * the lowest slot: the answer of the linear search it replaces (a removed
 * service and its re-added namesake can share a name for a while). Only
 * services (not loggers) are indexed, from scan's service_add until the
 * slot is freed or reset. Without svc_names_init (unit fixtures) svc_find
 * searches the table. */
static uint32_t *names;
static uint32_t names_mask;

int svc_names_init(uint32_t slots)
{
    uint32_t cap = 1;
    while (cap < 2 * slots)
        cap <<= 1;
    names = table_alloc(cap, sizeof *names);
    names_mask = names ? cap - 1 : 0;
    return names ? 0 : -1;
}

static uint32_t name_home(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h & names_mask;
}

void svc_name_add(struct svc *s)
{
    if (!names)
        return;
    uint32_t slot = (uint32_t)svc_index(s);
    BAY0_ASSERT(slot < sup.slots && s->in_use && !s->is_logger);
    uint32_t i = name_home(s->name);
    for (uint32_t n = 0; names[i] != 0; n++, i = (i + 1) & names_mask) {
        BAY0_ASSERT(n <= names_mask && names[i] != slot + 1);
    }
    names[i] = slot + 1;
}

void svc_name_del(struct svc *s)
{
    if (!names)
        return;
    uint32_t slot = (uint32_t)svc_index(s);
    uint32_t i = name_home(s->name);
    for (uint32_t n = 0; names[i] != slot + 1; n++, i = (i + 1) & names_mask)
        if (names[i] == 0 || n > names_mask)
            return; /* not indexed */
    /* backward shift: pull later entries of the cluster into the hole
     * unless their home lies cyclically in (hole, j] */
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & names_mask; names[j] != 0; j = (j + 1) & names_mask) {
        uint32_t home = name_home(sup.svcs[names[j] - 1].name);
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays)
            continue;
        names[hole] = names[j];
        hole = j;
    }
    names[hole] = 0;
}

struct svc *svc_find(const char *name)
{
    struct svc *best = NULL;
    if (!names) {
        for (uint32_t i = 0; i < sup.used_hi && !best; i++) {
            struct svc *s = &sup.svcs[i];
            if (s->in_use && !s->is_logger && strcmp(s->name, name) == 0)
                best = s;
        }
        return best;
    }
    uint32_t i = name_home(name);
    for (uint32_t n = 0; names[i] != 0 && n <= names_mask; n++, i = (i + 1) & names_mask) {
        struct svc *s = &sup.svcs[names[i] - 1];
        if ((!best || s < best) && s->in_use && !s->is_logger && strcmp(s->name, name) == 0)
            best = s;
    }
    return best;
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
    svc_name_del(s); /* a fixture's reuse; scan's slot_free has done it */
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
