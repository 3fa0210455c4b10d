/* propagate.c — what dependencies make happen, through the state machine
 * (service_on_event) and the graph's answers (depgraph.h):
 *   - `start X` starts what X needs first (in start order), then X;
 *   - `stop X` stops what needs X first, then X (its stop waits, in
 *     service.c, while a dependent still runs);
 *   - after each wakeup, services whose state changed are looked at with
 *     their neighbours only: a waiting dependent may start, a deferred
 *     dependency may stop. After a graph rebuild, everything once.
 *
 * Allocates only in propagate_init. Never blocks.
 */
#include "propagate.h"

#include "depgraph.h"
#include "log.h"
#include "service.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

/* Services whose state changed since the last propagation, once each: a
 * ring of slots and a mark per slot. */
static uint32_t *changed;
static uint8_t *changed_mark;
static uint32_t changed_head, changed_len, changed_cap;

int propagate_init(uint32_t slots)
{
    changed = calloc(slots, sizeof *changed);
    changed_mark = calloc(slots, sizeof *changed_mark);
    if (!changed || !changed_mark) {
        log_error("event=deps-alloc-failed slots=%u what=propagation", slots);
        return -1;
    }
    changed_cap = slots;
    return 0;
}

void sup_want_up_dependencies(struct svc *s)
{
    sup_deps_closure(s, true);
    const uint32_t *order = sup_deps_start_order();
    uint32_t nodes = sup_deps_node_count();
    for (uint32_t i = 0; i < nodes; i++) {
        uint32_t slot = order[i];
        struct svc *d = &sup.svcs[slot];
        if (sup_deps_marked(slot) && d != s && d->in_use && !d->want_up)
            service_on_event(d, EV_WANT_UP, 0);
    }
}

void sup_want_up_closure(struct svc *s)
{
    sup_want_up_dependencies(s);
    service_on_event(s, EV_WANT_UP, 0);
}

uint32_t sup_want_down_closure(struct svc *s, char *names, size_t names_size)
{
    uint32_t n = sup_deps_closure(s, false);
    uint32_t nodes = sup_deps_node_count();
    size_t len = 0;
    names[0] = '\0';
    uint32_t count = 0;
    for (uint32_t slot = 0; n && slot < nodes; slot++) {
        struct svc *d = &sup.svcs[slot];
        if (!sup_deps_marked(slot) || d == s || !d->in_use)
            continue;
        count++;
        int w = snprintf(names + len, names_size - len, "%s%s", len ? " " : "", d->name);
        if (w > 0 && (size_t)w < names_size - len)
            len += (size_t)w;
        if (d->want_up || svc_is_running(d))
            service_on_event(d, EV_WANT_DOWN, 0);
    }
    service_on_event(s, EV_WANT_DOWN, 0);
    return count;
}

/* ---- readiness propagation --------------------------------------------- */

void sup_deps_note_change(const struct svc *s)
{
    uint32_t i = (uint32_t)svc_index(s);
    BAY0_ASSERT(i < changed_cap);
    if (sup.dep_edges_used == 0 || changed_mark[i])
        return;
    BAY0_ASSERT(changed_len < changed_cap); /* each slot once */
    changed_mark[i] = 1;
    changed[(changed_head + changed_len) % changed_cap] = i;
    changed_len++;
}

static uint32_t changed_pop(void)
{
    BAY0_ASSERT(changed_len > 0 && changed_head < changed_cap);
    uint32_t i = changed[changed_head];
    changed_head = (changed_head + 1) % changed_cap;
    changed_len--;
    changed_mark[i] = 0;
    return i;
}

/* Starts a waiting service whose dependencies are ready, or stops a
 * deferred one whose dependents have all stopped. */
static void settle(struct svc *s)
{
    if (!s->in_use)
        return;
    if (s->state == ST_WAITING && s->want_up)
        service_on_event(s, EV_DEPS_READY, 0);
    else if (s->stop_deferred && !sup_has_running_dependents(s))
        service_on_event(s, EV_WANT_DOWN, 0);
}

/* A change of slot i can only matter to i, to what needs i (it may have
 * become ready) and to what i needs (i may have stopped running). */
static void settle_around(uint32_t i)
{
    BAY0_ASSERT(i < sup.used_hi);
    struct svc *s = &sup.svcs[i];
    settle(s);
    uint32_t n;
    const uint32_t *d = sup_deps_dependents_of(s, &n);
    for (uint32_t k = 0; k < n; k++)
        settle(&sup.svcs[d[k]]);
    if (s->dep_count == 0)
        return;
    BAY0_ASSERT(s->dep_first + s->dep_count <= sup.dep_edges_used);
    for (uint32_t k = 0; k < s->dep_count; k++) {
        int32_t e = sup.dep_edges[s->dep_first + k];
        if (e != SVC_NONE)
            settle(&sup.svcs[e]);
    }
}

void sup_deps_propagate(void)
{
    bool everything = sup_deps_take_rebuilt();
    if (sup.dep_edges_used == 0 || everything) {
        while (changed_len > 0)
            (void)changed_pop();
        if (sup.dep_edges_used == 0) /* no dependencies: nothing waits, nothing is deferred */
            return;
        for (uint32_t i = 0; i < sup.used_hi; i++) /* new edges: one look at everything */
            settle(&sup.svcs[i]);
    }
    /* Bounded: each settle changes a state or does nothing, and a state
     * changes a few times at most per wakeup. */
    uint64_t budget = (uint64_t)changed_cap * 8;
    for (; changed_len > 0 && budget > 0; budget--)
        settle_around(changed_pop());
    if (changed_len > 0)
        log_warn("event=readiness-propagation-cut pending=%u", changed_len);
}
