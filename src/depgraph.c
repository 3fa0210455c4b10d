/* depgraph.c — the supervisor's dependency graph: one node per table slot
 * (so a node number is a slot index), edges from `dependencies` and
 * `dependencies.d/` (read by deps.c), rebuilt whole by every scan.
 *
 * Missing names and cycles are configuration errors of the services that
 * declare them (every member of a cycle); their dependents then wait,
 * visibly, for a dependency that cannot come up. The frozen graph answers
 * the questions the state machine and propagate.c ask: closures,
 * dependents, and "does anything that needs me still run?". Never sends
 * an event.
 *
 * Allocates only in sup_deps_init. Never touches /persist.
 */
#include "depgraph.h"

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
static bool rebuilt; /* since the last sup_deps_take_rebuilt() */
/* sup_deps_waits_on_failure's walk: a queue of slots and a stamp per slot */
static uint32_t *walk_queue;
static uint32_t *walk_seen;
static uint32_t walk_stamp;
static deps_scan_ok_fn scan_ok;
static deps_scan_refuse_fn scan_refuse;

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
    walk_queue = calloc(slots, sizeof *walk_queue);
    walk_seen = calloc(slots, sizeof *walk_seen);
    if (!walk_queue || !walk_seen || !sup.dep_edges || !sup.dep_names || !graph_edges || !graph_mem || !index_names ||
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
    char reason[SERVICE_REASON_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    scan_refuse(s, reason); /* keeps the first reason */
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
    bool may_have_deps = false;
    if (!scan_ok(s, &may_have_deps) || !may_have_deps) /* the listing had neither file */
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

void sup_deps_rebuild(deps_scan_ok_fn ok, deps_scan_refuse_fn refuse)
{
    BAY0_ASSERT(ok && refuse);
    scan_ok = ok;
    scan_refuse = refuse;
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
    rebuilt = true; /* new edges: every waiting or deferred service is due a look */
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

bool sup_deps_take_rebuilt(void)
{
    bool r = rebuilt;
    rebuilt = false;
    return r;
}

const uint32_t *sup_deps_dependents_of(const struct svc *s, uint32_t *count)
{
    uint32_t i = (uint32_t)svc_index(s);
    BAY0_ASSERT(i < sup.slots);
    *count = 0;
    if (!graph_built || i >= graph.node_count)
        return NULL;
    return deps_dependents_of(&graph, i, count);
}

uint32_t sup_deps_closure(const struct svc *s, bool needs)
{
    uint32_t src = (uint32_t)svc_index(s);
    BAY0_ASSERT(src < sup.slots);
    if (!graph_built || src >= graph.node_count) {
        memset(closure_bits, 0, deps_bitmap_words(sup.slots) * sizeof *closure_bits);
        return 0;
    }
    return deps_closure(&graph, &src, 1, needs ? DEPS_NEEDS : DEPS_NEEDED_BY, closure_bits, NULL);
}

bool sup_deps_marked(uint32_t slot)
{
    BAY0_ASSERT(slot < sup.slots);
    return deps_bit(closure_bits, slot);
}

uint32_t sup_deps_node_count(void) { return graph_built ? graph.node_count : 0; }

/* Breadth first over waiting services, each once, at most
 * DEPS_WAIT_DEPTH_MAX edges from s: no recursion, and a bound on the work. */
bool sup_deps_waits_on_failure(const struct svc *s)
{
    if (s->state != ST_WAITING)
        return false;
    if (++walk_stamp == 0) { /* wrapped: forget every old stamp */
        memset(walk_seen, 0, sup.slots * sizeof *walk_seen);
        walk_stamp = 1;
    }
    uint32_t head = 0, tail = 0;
    uint32_t start = (uint32_t)svc_index(s);
    BAY0_ASSERT(start < sup.slots);
    walk_seen[start] = walk_stamp;
    walk_queue[tail++] = start;
    for (uint32_t depth = 0; depth <= DEPS_WAIT_DEPTH_MAX && head < tail; depth++) {
        for (uint32_t layer_end = tail; head < layer_end; head++) {
            const struct svc *w = &sup.svcs[walk_queue[head]];
            BAY0_ASSERT(w->dep_count == 0 || w->dep_first + w->dep_count <= sup.dep_edges_used);
            for (uint32_t k = 0; k < w->dep_count; k++) {
                int32_t d = sup.dep_edges[w->dep_first + k];
                if (d == SVC_NONE || sup.svcs[d].state == ST_FAILED)
                    return true;
                BAY0_ASSERT((uint32_t)d < sup.slots);
                if (sup.svcs[d].state != ST_WAITING || walk_seen[d] == walk_stamp)
                    continue;
                BAY0_ASSERT(tail < sup.slots);
                walk_seen[d] = walk_stamp;
                walk_queue[tail++] = (uint32_t)d;
            }
        }
    }
    return false;
}
