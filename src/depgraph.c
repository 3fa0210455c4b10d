/* depgraph.c — the supervisor's dependency graph: one node per table slot
 * (so a node number is a slot index), edges from `dependencies` and
 * `dependencies.d/` (read by deps.c), rebuilt whole by every scan.
 *
 * Missing names and cycles are configuration errors of the services that
 * declare them (every member of a cycle); their dependents then wait,
 * visibly, for a dependency that cannot come up. The frozen graph answers
 * the questions the state machine and the control socket ask: start and
 * stop closures, and "does anything that needs me still run?".
 *
 * Allocates only in sup_deps_init. Never touches /persist.
 */
#include "deps.h"
#include "log.h"
#include "svc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEP_EDGES_PER_SLOT 16

static struct deps_graph graph;
static bool graph_built;
static void *graph_mem;
static size_t graph_mem_bytes;
static struct deps_edge *graph_edges;
static uint32_t graph_edge_count;
static const char **index_names;
static uint32_t *index_slot;
static uint32_t *index_sorted;
static uint32_t *order_start;
static uint64_t *closure_bits;
static struct deps_list scratch_list;
/* Services whose state changed since the last propagation, once each
 * (a ring of slots and a mark per slot); or all of them after a rebuild. */
static uint32_t *changed;
static uint8_t *changed_mark;
static uint32_t changed_head, changed_len, changed_cap;
static bool changed_all = true;

int sup_deps_init(uint32_t slots)
{
    uint64_t edges = (uint64_t)slots * DEP_EDGES_PER_SLOT;
    if (edges > DEPS_EDGES_MAX)
        edges = DEPS_EDGES_MAX;
    sup.dep_edges_max = (uint32_t)edges;
    sup.dep_edges = calloc(edges, sizeof *sup.dep_edges);
    sup.dep_names = calloc(edges, sizeof *sup.dep_names);
    graph_edges = calloc(edges, sizeof *graph_edges);
    graph_mem_bytes = deps_graph_bytes(slots, (uint32_t)edges);
    graph_mem = calloc(1, graph_mem_bytes);
    index_names = calloc(slots, sizeof *index_names);
    index_slot = calloc(slots, sizeof *index_slot);
    index_sorted = calloc(slots, sizeof *index_sorted);
    order_start = calloc(slots, sizeof *order_start);
    closure_bits = calloc(deps_bitmap_words(slots), sizeof *closure_bits);
    changed = calloc(slots, sizeof *changed);
    changed_mark = calloc(slots, sizeof *changed_mark);
    changed_cap = slots;
    if (!changed || !changed_mark || !sup.dep_edges || !sup.dep_names || !graph_edges || !graph_mem || !index_names ||
        !index_slot || !index_sorted || !order_start || !closure_bits) {
        log_error("event=deps-alloc-failed slots=%u", slots);
        return -1;
    }
    for (uint32_t i = 0; i < slots; i++)
        order_start[i] = i;
    return 0;
}

static bool is_node(const struct svc *s)
{
    return s->in_use && !s->is_logger && !s->removed;
}

static void cfg_fail(struct svc *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cfg_fail(struct svc *s, const char *fmt, ...)
{
    if (!s->next_ok)
        return; /* keep the first reason */
    s->next_ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->cfg_reason, sizeof s->cfg_reason, fmt, ap);
    va_end(ap);
}

static bool build_index(struct deps_names *ix)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < sup.used_hi; i++)
        if (is_node(&sup.svcs[i])) {
            index_names[n] = sup.svcs[i].name;
            index_slot[n++] = i;
        }
    struct deps_error err;
    if (deps_names_index(ix, index_names, n, index_sorted, &err) != DEPS_OK) {
        log_error("event=deps-index-failed error=\"%s\"", err.msg);
        return false;
    }
    return true;
}

/* Reads one service's declarations and records its edges. */
static void read_service_deps(struct svc *s, const struct deps_names *ix)
{
    s->dep_first = sup.dep_edges_used;
    s->dep_count = 0;
    if (!s->next_ok || !s->next_def.may_have_deps) /* the listing had neither file */
        return;
    int fd = openat(sup.scan_fd, s->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char label[SERVICE_NAME_BYTES_MAX + 8];
    snprintf(label, sizeof label, "%s", s->name);
    struct deps_error err;
    scratch_list.count = 0;
    if (fd < 0 || deps_read(fd, label, &scratch_list, &err) != DEPS_OK) {
        cfg_fail(s, "%s", fd < 0 ? strerror(errno) : err.msg);
        if (fd >= 0)
            close(fd);
        return;
    }
    close(fd);
    for (uint32_t i = 0; i < scratch_list.count; i++) {
        if (sup.dep_edges_used == sup.dep_edges_max || graph_edge_count == sup.dep_edges_max) {
            cfg_fail(s, "dependencies: more than %u edges in all", sup.dep_edges_max);
            return;
        }
        const char *name = scratch_list.names[i];
        uint32_t node = deps_names_find(ix, name);
        int32_t slot = node == DEPS_NONE ? SVC_NONE : (int32_t)index_slot[node];
        str_copy(sup.dep_names[sup.dep_edges_used], sizeof sup.dep_names[0], name);
        sup.dep_edges[sup.dep_edges_used++] = slot;
        s->dep_count++;
        if (slot == SVC_NONE) {
            cfg_fail(s, "missing dependency: %s", name);
            continue;
        }
        graph_edges[graph_edge_count++] = (struct deps_edge){(uint32_t)svc_index(s), (uint32_t)slot};
    }
}

static void on_cycle(const uint32_t *path, uint32_t path_len, const uint32_t *members,
                     uint32_t members_len, void *ctx)
{
    (void)ctx;
    char text[SERVICE_REASON_BYTES_MAX - 20];
    size_t len = 0;
    for (uint32_t i = 0; i <= path_len && len + 1 < sizeof text; i++) {
        const char *n = sup.svcs[path[i % path_len]].name;
        int w = snprintf(text + len, sizeof text - len, "%s%s", i ? " -> " : "", n);
        len = w < 0 ? len : len + (size_t)w;
    }
    if (len >= sizeof text)
        memcpy(text + sizeof text - 4, "...", 4);
    log_error("event=dependency-cycle cycle=\"%s\" members=%u", text, members_len);
    for (uint32_t i = 0; i < members_len; i++)
        cfg_fail(&sup.svcs[members[i]], "dependency cycle: %s", text);
}

void sup_deps_rebuild(void)
{
    struct deps_names ix;
    sup.dep_edges_used = 0;
    graph_edge_count = 0;
    graph_built = false;
    if (!build_index(&ix))
        return;
    for (uint32_t i = 0; i < sup.used_hi; i++)
        if (is_node(&sup.svcs[i]))
            read_service_deps(&sup.svcs[i], &ix);
    deps_graph_build(&graph, graph_mem, graph_mem_bytes, sup.used_hi, graph_edges,
                     graph_edge_count);
    graph_built = true;
    changed_all = true; /* new edges: every waiting or deferred service is due a look */
    deps_cycles(&graph, on_cycle, NULL);
    deps_order_start(&graph, order_start);
}

const uint32_t *sup_deps_start_order(void) { return order_start; }

bool sup_has_running_dependents(const struct svc *s)
{
    if (!graph_built || (uint32_t)svc_index(s) >= graph.node_count)
        return false;
    uint32_t n;
    const uint32_t *d = deps_dependents_of(&graph, (uint32_t)svc_index(s), &n);
    for (uint32_t i = 0; i < n; i++)
        if (sup.svcs[d[i]].in_use && svc_is_running(&sup.svcs[d[i]]))
            return true;
    return false;
}

static uint32_t closure_of(struct svc *s, enum deps_dir dir)
{
    if (!graph_built || (uint32_t)svc_index(s) >= graph.node_count) {
        memset(closure_bits, 0, deps_bitmap_words(sup.slots) * sizeof *closure_bits);
        return 0;
    }
    uint32_t src = (uint32_t)svc_index(s);
    return deps_closure(&graph, &src, 1, dir, closure_bits, NULL);
}

void sup_want_up_dependencies(struct svc *s)
{
    closure_of(s, DEPS_NEEDS);
    for (uint32_t i = 0; graph_built && i < graph.node_count; i++) {
        uint32_t slot = order_start[i];
        struct svc *d = &sup.svcs[slot];
        if (deps_bit(closure_bits, slot) && d != s && d->in_use && !d->want_up)
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
    uint32_t n = closure_of(s, DEPS_NEEDED_BY);
    size_t len = 0;
    names[0] = '\0';
    uint32_t count = 0;
    for (uint32_t slot = 0; n && slot < graph.node_count; slot++) {
        struct svc *d = &sup.svcs[slot];
        if (!deps_bit(closure_bits, slot) || d == s || !d->in_use)
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
    if (sup.dep_edges_used == 0 || changed_all || changed_mark[i])
        return;
    BAY0_ASSERT(changed_len < changed_cap); /* each slot once */
    changed_mark[i] = 1;
    changed[(changed_head + changed_len) % changed_cap] = i;
    changed_len++;
}

static void changed_clear(void)
{
    while (changed_len > 0) {
        changed_mark[changed[changed_head]] = 0;
        changed_head = (changed_head + 1) % changed_cap;
        changed_len--;
    }
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
    if (graph_built && i < graph.node_count) {
        uint32_t n;
        const uint32_t *d = deps_dependents_of(&graph, i, &n);
        for (uint32_t k = 0; k < n; k++)
            settle(&sup.svcs[d[k]]);
    }
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
    if (sup.dep_edges_used == 0) { /* no dependencies: nothing waits, nothing is deferred */
        changed_clear();
        changed_all = false;
        return;
    }
    if (changed_all) { /* after a rebuild: one look at everything */
        changed_all = false;
        changed_clear();
        for (uint32_t i = 0; i < sup.used_hi; i++)
            settle(&sup.svcs[i]);
    }
    /* Bounded: each settle changes a state or does nothing, and a state
     * changes a few times at most per wakeup. */
    uint64_t budget = (uint64_t)changed_cap * 8;
    for (; changed_len > 0 && budget > 0; budget--) {
        uint32_t i = changed[changed_head];
        changed_head = (changed_head + 1) % changed_cap;
        changed_len--;
        changed_mark[i] = 0;
        settle_around(i);
    }
    if (changed_len > 0)
        log_warn("event=readiness-propagation-cut pending=%u", changed_len);
}
