/* deps.c — dependency declarations and the dependency graph (see deps.h
 * for the model). Owns: parsing `dependencies` / `dependencies.d/`, the
 * name index, the CSR graph, orders, cycles, closures and rendering.
 *
 * Must never allocate, recurse, log, or touch /persist; every loop is
 * bounded by a node, edge, byte or entry count.
 */
#include "deps.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

_Static_assert(DEPS_NAME_BYTES_MAX < DEPS_ERROR_BYTES_MAX / 4,
               "a message must hold a few names");
_Static_assert((uint64_t)DEPS_NODES_MAX < UINT32_MAX - 1, "node numbers");
_Static_assert(DEPS_FILE_BYTES_MAX > DEPS_NAME_BYTES_MAX, "file size");

#define SCRATCH_COUNT 6

static void err_set(struct deps_error *err, enum deps_status st,
                    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void err_set(struct deps_error *err, enum deps_status st,
                    const char *fmt, ...)
{
    err->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

static void err_clear(struct deps_error *err)
{
    err->status = DEPS_OK;
    err->msg[0] = '\0';
}

const char *deps_status_name(enum deps_status st)
{
    switch (st) {
    case DEPS_OK: return "ok";
    case DEPS_ERR_IO: return "io";
    case DEPS_ERR_NAME: return "bad-name";
    case DEPS_ERR_LIMIT: return "limit";
    case DEPS_ERR_MISSING: return "missing";
    case DEPS_ERR_DUP: return "duplicate";
    case DEPS_ERR_CYCLE: return "cycle";
    }
    return "?";
}

/* ---- Declarations ------------------------------------------------------ */

enum deps_status deps_list_add(struct deps_list *list, const char *name,
                               const char *where, struct deps_error *err)
{
    BAY0_ASSERT(list->count <= DEPS_PER_SERVICE_MAX);
    const char *why = name_check(name, DEPS_NAME_BYTES_MAX);
    if (why) {
        err_set(err, DEPS_ERR_NAME, "%s: bad name \"%.*s\": %s", where,
                (int)DEPS_NAME_BYTES_MAX, name, why);
        return err->status;
    }
    for (uint32_t i = 0; i < list->count; i++)
        if (strcmp(list->names[i], name) == 0)
            return DEPS_OK;
    if (list->count == DEPS_PER_SERVICE_MAX) {
        err_set(err, DEPS_ERR_LIMIT, "%s: more than %u dependencies", where,
                DEPS_PER_SERVICE_MAX);
        return err->status;
    }
    bool fits = str_copy(list->names[list->count], sizeof list->names[0],
                         name);
    BAY0_ASSERT(fits); /* name_check bounded the length */
    list->count++;
    return DEPS_OK;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* One line [s, e): cut the comment, trim, validate, add. */
static enum deps_status parse_line(const char *s, const char *e,
                                   const char *where, struct deps_list *out,
                                   struct deps_error *err)
{
    const char *hash = memchr(s, '#', (size_t)(e - s));
    if (hash)
        e = hash;
    while (s < e && is_space(*s))
        s++;
    while (e > s && is_space(e[-1]))
        e--;
    if (s == e)
        return DEPS_OK;
    char name[DEPS_NAME_BYTES_MAX + 2];
    size_t n = (size_t)(e - s);
    if (n > DEPS_NAME_BYTES_MAX)
        n = DEPS_NAME_BYTES_MAX + 1; /* name_check reports "too long" */
    memcpy(name, s, n);
    name[n] = '\0';
    if (memchr(s, '\0', (size_t)(e - s))) {
        err_set(err, DEPS_ERR_NAME, "%s: bad name: contains a NUL byte",
                where);
        return err->status;
    }
    return deps_list_add(out, name, where, err);
}

enum deps_status deps_parse_text(const char *text, size_t len,
                                 const char *file_label,
                                 struct deps_list *out, struct deps_error *err)
{
    err_clear(err);
    const char *p = text, *end = text + len;
    for (uint32_t line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        char where[DEPS_ERROR_BYTES_MAX / 2];
        snprintf(where, sizeof where, "%s:%u", file_label, line);
        enum deps_status st = parse_line(p, e, where, out, err);
        if (st != DEPS_OK)
            return st;
        p = nl ? nl + 1 : end;
    }
    return DEPS_OK;
}

static enum deps_status read_file(int dirfd, const char *dir_label,
                                  struct deps_list *out,
                                  struct deps_error *err)
{
    static char text[DEPS_FILE_BYTES_MAX + 1]; /* not reentrant, like g */
    char label[DEPS_ERROR_BYTES_MAX / 2];
    snprintf(label, sizeof label, "%s/dependencies", dir_label);
    ssize_t n = file_read_small(dirfd, "dependencies", text, sizeof text);
    if (n < 0 && errno == ENOENT)
        return DEPS_OK;
    if (n < 0 && errno == EFBIG) {
        err_set(err, DEPS_ERR_LIMIT, "%s: larger than %u bytes", label,
                DEPS_FILE_BYTES_MAX);
        return err->status;
    }
    if (n < 0) {
        err_set(err, DEPS_ERR_IO, "%s: cannot read: %s", label,
                strerror(errno));
        return err->status;
    }
    return deps_parse_text(text, (size_t)n, label, out, err);
}

struct dir_ctx {
    struct deps_list names; /* entries, before sorting */
    const char *label;
    struct deps_error *err;
    enum deps_status st;
};

static bool dir_entry(const char *name, unsigned char d_type, void *p)
{
    (void)d_type;
    struct dir_ctx *c = p;
    if (name[0] == '.')
        return true; /* .gitkeep and friends */
    char where[DEPS_ERROR_BYTES_MAX / 2];
    snprintf(where, sizeof where, "%s/dependencies.d/%.*s", c->label,
             (int)DEPS_NAME_BYTES_MAX, name);
    c->st = deps_list_add(&c->names, name, where, c->err);
    return c->st == DEPS_OK;
}

/* Insertion sort of at most DEPS_PER_SERVICE_MAX names. */
static void list_sort(struct deps_list *l)
{
    for (uint32_t i = 1; i < l->count; i++) {
        char tmp[DEPS_NAME_BYTES_MAX + 1];
        memcpy(tmp, l->names[i], sizeof tmp);
        uint32_t j = i;
        for (; j > 0 && strcmp(l->names[j - 1], tmp) > 0; j--)
            memcpy(l->names[j], l->names[j - 1], sizeof tmp);
        memcpy(l->names[j], tmp, sizeof tmp);
    }
}

static enum deps_status read_dir(int dirfd, const char *dir_label,
                                 struct deps_list *out,
                                 struct deps_error *err)
{
    static struct dir_ctx c; /* 8 KiB: keep it off the stack */
    c.names.count = 0;
    c.label = dir_label;
    c.err = err;
    c.st = DEPS_OK;
    int fd = openat(dirfd, "dependencies.d",
                    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return DEPS_OK;
    if (fd < 0 || dir_each(fd, dir_entry, &c) < 0) {
        err_set(err, DEPS_ERR_IO, "%s/dependencies.d: cannot read: %s",
                dir_label, strerror(errno));
        if (fd >= 0)
            close(fd);
        return err->status;
    }
    close(fd);
    if (c.st != DEPS_OK)
        return c.st;
    list_sort(&c.names);
    for (uint32_t i = 0; i < c.names.count; i++) {
        char where[DEPS_ERROR_BYTES_MAX / 2];
        snprintf(where, sizeof where, "%s/dependencies.d", dir_label);
        enum deps_status st = deps_list_add(out, c.names.names[i], where, err);
        if (st != DEPS_OK)
            return st;
    }
    return DEPS_OK;
}

enum deps_status deps_read(int dirfd, const char *dir_label,
                           struct deps_list *out, struct deps_error *err)
{
    err_clear(err);
    out->count = 0;
    enum deps_status st = read_file(dirfd, dir_label, out, err);
    if (st == DEPS_OK)
        st = read_dir(dirfd, dir_label, out, err);
    if (st != DEPS_OK)
        out->count = 0;
    return st;
}

/* ---- Name index -------------------------------------------------------- */

static int name_cmp(const struct deps_names *ix, uint32_t a, uint32_t b)
{
    return strcmp(ix->names[ix->sorted[a]], ix->names[ix->sorted[b]]);
}

static void sift_down(struct deps_names *ix, uint32_t root, uint32_t end)
{
    for (;;) {
        uint64_t child = 2 * (uint64_t)root + 1;
        if (child >= end)
            return;
        if (child + 1 < end && name_cmp(ix, (uint32_t)child,
                                        (uint32_t)child + 1) < 0)
            child++;
        if (name_cmp(ix, root, (uint32_t)child) >= 0)
            return;
        uint32_t t = ix->sorted[root];
        ix->sorted[root] = ix->sorted[child];
        ix->sorted[child] = t;
        root = (uint32_t)child;
    }
}

enum deps_status deps_names_index(struct deps_names *ix,
                                  const char *const *names, uint32_t count,
                                  uint32_t *sorted_storage,
                                  struct deps_error *err)
{
    BAY0_ASSERT(count <= DEPS_NODES_MAX);
    err_clear(err);
    ix->names = names;
    ix->sorted = sorted_storage;
    ix->count = count;
    for (uint32_t i = 0; i < count; i++)
        ix->sorted[i] = i;
    for (uint32_t i = count / 2; i-- > 0;)
        sift_down(ix, i, count);
    for (uint32_t end = count; end > 1; end--) {
        uint32_t t = ix->sorted[0];
        ix->sorted[0] = ix->sorted[end - 1];
        ix->sorted[end - 1] = t;
        sift_down(ix, 0, end - 1);
    }
    for (uint32_t i = 1; i < count; i++) {
        if (name_cmp(ix, i - 1, i) == 0) {
            err_set(err, DEPS_ERR_DUP, "name \"%.*s\" used by nodes %u and %u",
                    (int)DEPS_NAME_BYTES_MAX, names[ix->sorted[i]],
                    ix->sorted[i - 1], ix->sorted[i]);
            return err->status;
        }
    }
    return DEPS_OK;
}

uint32_t deps_names_find(const struct deps_names *ix, const char *name)
{
    uint32_t lo = 0, hi = ix->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix->names[ix->sorted[mid]], name);
        if (c == 0)
            return ix->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return DEPS_NONE;
}

enum deps_status deps_edges_add_name(struct deps_edges *edges,
                                     const struct deps_names *ix,
                                     uint32_t from, const char *name,
                                     struct deps_error *err)
{
    BAY0_ASSERT(from < ix->count);
    BAY0_ASSERT(edges->count <= edges->max);
    err_clear(err);
    uint32_t to = deps_names_find(ix, name);
    if (to == DEPS_NONE) {
        err_set(err, DEPS_ERR_MISSING, "svc=%s: missing dependency \"%.*s\"",
                ix->names[from], (int)DEPS_NAME_BYTES_MAX, name);
        return err->status;
    }
    if (edges->count == edges->max) {
        err_set(err, DEPS_ERR_LIMIT, "svc=%s: more than %u edges in all",
                ix->names[from], edges->max);
        return err->status;
    }
    edges->v[edges->count++] = (struct deps_edge){ .from = from, .to = to };
    return DEPS_OK;
}

/* ---- Graph construction ------------------------------------------------ */

size_t deps_graph_bytes(uint32_t node_count, uint32_t edge_count)
{
    BAY0_ASSERT(node_count <= DEPS_NODES_MAX);
    BAY0_ASSERT(edge_count <= DEPS_EDGES_MAX);
    size_t per_node = (size_t)node_count + 1;
    return sizeof(uint32_t) *
           (per_node * (2 + SCRATCH_COUNT) + 2 * (size_t)edge_count);
}

static void carve(struct deps_graph *g, void *mem, uint32_t n, uint32_t e)
{
    uint32_t *p = mem;
    g->dep_start = p;
    p += n + 1;
    g->rdep_start = p;
    p += n + 1;
    for (int i = 0; i < SCRATCH_COUNT; i++) {
        g->scratch[i] = p;
        p += n + 1;
    }
    g->dep = p;
    p += e;
    g->rdep = p;
}

/* Counting sort of edges by `from` into dep[], then dedup each run. */
static void build_forward(struct deps_graph *g, const struct deps_edge *edges,
                          uint32_t edge_count)
{
    uint32_t n = g->node_count;
    uint32_t *cursor = g->scratch[0], *mark = g->scratch[1];
    memset(g->dep_start, 0, sizeof(uint32_t) * (n + 1));
    for (uint32_t i = 0; i < edge_count; i++) {
        BAY0_ASSERT(edges[i].from < n && edges[i].to < n);
        g->dep_start[edges[i].from + 1]++;
    }
    for (uint32_t i = 0; i < n; i++)
        g->dep_start[i + 1] += g->dep_start[i];
    memcpy(cursor, g->dep_start, sizeof(uint32_t) * n);
    for (uint32_t i = 0; i < edge_count; i++)
        g->dep[cursor[edges[i].from]++] = edges[i].to;
    memset(mark, 0, sizeof(uint32_t) * n);
    uint32_t w = 0, old = g->dep_start[0];
    for (uint32_t i = 0; i < n; i++) {
        uint32_t end = g->dep_start[i + 1];
        g->dep_start[i] = w;
        for (uint32_t k = old; k < end; k++) {
            uint32_t to = g->dep[k];
            if (mark[to] != i + 1) {
                mark[to] = i + 1;
                g->dep[w++] = to;
            }
        }
        old = end;
    }
    g->dep_start[n] = w;
    g->edge_count = w;
}

/* Dependents, each list ascending because sources are visited in order. */
static void build_reverse(struct deps_graph *g)
{
    uint32_t n = g->node_count;
    uint32_t *cursor = g->scratch[0];
    memset(g->rdep_start, 0, sizeof(uint32_t) * (n + 1));
    for (uint32_t k = 0; k < g->edge_count; k++)
        g->rdep_start[g->dep[k] + 1]++;
    for (uint32_t i = 0; i < n; i++)
        g->rdep_start[i + 1] += g->rdep_start[i];
    memcpy(cursor, g->rdep_start, sizeof(uint32_t) * n);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = g->dep_start[i]; k < g->dep_start[i + 1]; k++)
            g->rdep[cursor[g->dep[k]]++] = i;
    BAY0_ASSERT(g->rdep_start[n] == g->edge_count);
}

void deps_graph_build(struct deps_graph *g, void *mem, size_t mem_bytes,
                      uint32_t node_count, const struct deps_edge *edges,
                      uint32_t edge_count)
{
    BAY0_ASSERT(mem_bytes >= deps_graph_bytes(node_count, edge_count));
    BAY0_ASSERT(((uintptr_t)mem % _Alignof(uint32_t)) == 0);
    g->node_count = node_count;
    g->edge_count = 0;
    carve(g, mem, node_count, edge_count);
    build_forward(g, edges, edge_count);
    build_reverse(g);
}

const uint32_t *deps_of(const struct deps_graph *g, uint32_t node,
                        uint32_t *count)
{
    BAY0_ASSERT(node < g->node_count);
    *count = g->dep_start[node + 1] - g->dep_start[node];
    return g->dep + g->dep_start[node];
}

const uint32_t *deps_dependents_of(const struct deps_graph *g, uint32_t node,
                                   uint32_t *count)
{
    BAY0_ASSERT(node < g->node_count);
    *count = g->rdep_start[node + 1] - g->rdep_start[node];
    return g->rdep + g->rdep_start[node];
}

/* Neighbours of node in direction dir. */
static const uint32_t *adj(const struct deps_graph *g, enum deps_dir dir,
                           uint32_t node, uint32_t *count)
{
    return dir == DEPS_NEEDS ? deps_of(g, node, count)
                             : deps_dependents_of(g, node, count);
}

/* ---- Orders ------------------------------------------------------------ */

/* Kahn: a node is ready when every neighbour in `wait` direction is out.
 * Start waits on dependencies (releases dependents); stop the reverse. */
static uint32_t order_kahn(struct deps_graph *g, enum deps_dir wait,
                           uint32_t *order)
{
    uint32_t n = g->node_count;
    enum deps_dir release = wait == DEPS_NEEDS ? DEPS_NEEDED_BY : DEPS_NEEDS;
    uint32_t *remaining = g->scratch[0];
    uint32_t head = 0, tail = 0;
    for (uint32_t i = 0; i < n; i++) {
        adj(g, wait, i, &remaining[i]);
        if (remaining[i] == 0)
            order[tail++] = i;
    }
    while (head < tail) {
        uint32_t cnt;
        const uint32_t *next = adj(g, release, order[head++], &cnt);
        for (uint32_t k = 0; k < cnt; k++) {
            BAY0_ASSERT(remaining[next[k]] > 0);
            if (--remaining[next[k]] == 0)
                order[tail++] = next[k];
        }
    }
    uint32_t ordered = tail;
    for (uint32_t i = 0; i < n; i++)
        if (remaining[i] > 0)
            order[tail++] = i;
    BAY0_ASSERT(tail == n);
    return ordered;
}

uint32_t deps_order_start(struct deps_graph *g, uint32_t *order)
{
    return order_kahn(g, DEPS_NEEDS, order);
}

uint32_t deps_order_stop(struct deps_graph *g, uint32_t *order)
{
    return order_kahn(g, DEPS_NEEDED_BY, order);
}

/* ---- Closure ----------------------------------------------------------- */

static void closure_expand(struct deps_graph *g, enum deps_dir dir,
                           uint32_t node, uint64_t *bits, uint32_t *queue,
                           uint32_t *tail)
{
    uint32_t cnt;
    const uint32_t *next = adj(g, dir, node, &cnt);
    for (uint32_t k = 0; k < cnt; k++) {
        uint32_t v = next[k];
        if (deps_bit(bits, v))
            continue;
        bits[v / 64] |= (uint64_t)1 << (v % 64);
        BAY0_ASSERT(*tail < g->node_count);
        queue[(*tail)++] = v;
    }
}

uint32_t deps_closure(struct deps_graph *g, const uint32_t *sources,
                      uint32_t source_count, enum deps_dir dir,
                      uint64_t *bits, uint32_t *out)
{
    uint32_t *queue = out ? out : g->scratch[0];
    memset(bits, 0, sizeof(uint64_t) * deps_bitmap_words(g->node_count));
    uint32_t head = 0, tail = 0;
    for (uint32_t s = 0; s < source_count; s++) {
        BAY0_ASSERT(sources[s] < g->node_count);
        closure_expand(g, dir, sources[s], bits, queue, &tail);
    }
    while (head < tail)
        closure_expand(g, dir, queue[head++], bits, queue, &tail);
    return tail;
}

/* ---- Cycles ------------------------------------------------------------ */

#define COMP_ON_STACK (DEPS_NONE - 1)

struct tarjan {
    const struct deps_graph *g;
    uint32_t *idx, *low, *it, *cs, *stk, *comp;
    uint32_t counter, sp, csp, ncomp;
};

static void tarjan_visit(struct tarjan *t, uint32_t v)
{
    BAY0_ASSERT(t->csp < t->g->node_count && t->sp < t->g->node_count);
    t->idx[v] = t->low[v] = t->counter++;
    t->it[v] = t->g->dep_start[v];
    t->comp[v] = COMP_ON_STACK;
    t->stk[t->sp++] = v;
    t->cs[t->csp++] = v;
}

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* v is finished: pass its low link up, pop its component if it is a root. */
static void tarjan_finish(struct tarjan *t, uint32_t v)
{
    t->csp--;
    if (t->csp > 0) {
        uint32_t p = t->cs[t->csp - 1];
        t->low[p] = min_u32(t->low[p], t->low[v]);
    }
    if (t->low[v] != t->idx[v])
        return;
    for (;;) {
        BAY0_ASSERT(t->sp > 0);
        uint32_t x = t->stk[--t->sp];
        t->comp[x] = t->ncomp;
        if (x == v)
            break;
    }
    t->ncomp++;
}

/* Iterative Tarjan: comp[] gets a component number per node. */
static uint32_t tarjan_run(struct deps_graph *g)
{
    struct tarjan t = { .g = g, .idx = g->scratch[0], .low = g->scratch[1],
                        .it = g->scratch[2], .cs = g->scratch[3],
                        .stk = g->scratch[4], .comp = g->scratch[5] };
    uint32_t n = g->node_count;
    for (uint32_t i = 0; i < n; i++)
        t.idx[i] = t.comp[i] = DEPS_NONE;
    for (uint32_t r = 0; r < n; r++) {
        if (t.idx[r] != DEPS_NONE)
            continue;
        tarjan_visit(&t, r);
        while (t.csp > 0) {
            uint32_t v = t.cs[t.csp - 1];
            if (t.it[v] == g->dep_start[v + 1]) {
                tarjan_finish(&t, v);
                continue;
            }
            uint32_t w = g->dep[t.it[v]++];
            if (t.idx[w] == DEPS_NONE)
                tarjan_visit(&t, w);
            else if (t.comp[w] == COMP_ON_STACK)
                t.low[v] = min_u32(t.low[v], t.idx[w]);
        }
    }
    BAY0_ASSERT(t.sp == 0);
    return t.ncomp;
}

/* Group nodes by component: members of c are members[start[c]..start[c+1])
 * in ascending order. Uses scratch 2 (cursor), 3 (start), 4 (members). */
static void group_components(struct deps_graph *g, uint32_t ncomp)
{
    uint32_t n = g->node_count, *comp = g->scratch[5];
    uint32_t *cursor = g->scratch[2], *start = g->scratch[3];
    uint32_t *members = g->scratch[4];
    memset(start, 0, sizeof(uint32_t) * (ncomp + 1));
    for (uint32_t i = 0; i < n; i++) {
        BAY0_ASSERT(comp[i] < ncomp);
        start[comp[i] + 1]++;
    }
    for (uint32_t c = 0; c < ncomp; c++)
        start[c + 1] += start[c];
    memcpy(cursor, start, sizeof(uint32_t) * ncomp);
    for (uint32_t i = 0; i < n; i++)
        members[cursor[comp[i]]++] = i;
}

static bool has_self_loop(const struct deps_graph *g, uint32_t v)
{
    uint32_t cnt;
    const uint32_t *d = deps_of(g, v, &cnt);
    for (uint32_t k = 0; k < cnt; k++)
        if (d[k] == v)
            return true;
    return false;
}

/* Shortest cycle through s inside its component (BFS on dependencies),
 * written in edge order into path (scratch 1). Returns its length. */
static uint32_t cycle_path(struct deps_graph *g, uint32_t s,
                           const uint32_t *members, uint32_t members_len)
{
    uint32_t *parent = g->scratch[0], *queue = g->scratch[1];
    const uint32_t *comp = g->scratch[5];
    for (uint32_t k = 0; k < members_len; k++)
        parent[members[k]] = DEPS_NONE;
    uint32_t head = 0, tail = 0, last = DEPS_NONE;
    queue[tail++] = s;
    while (head < tail && last == DEPS_NONE) {
        uint32_t u = queue[head++], cnt;
        const uint32_t *d = deps_of(g, u, &cnt);
        for (uint32_t k = 0; k < cnt && last == DEPS_NONE; k++) {
            uint32_t w = d[k];
            if (comp[w] != comp[s])
                continue;
            if (w == s)
                last = u;
            else if (parent[w] == DEPS_NONE) {
                parent[w] = u;
                BAY0_ASSERT(tail < members_len);
                queue[tail++] = w;
            }
        }
    }
    BAY0_ASSERT(last != DEPS_NONE); /* a component always cycles back */
    uint32_t len = 0;
    for (uint32_t v = last; v != s; v = parent[v])
        queue[len++] = v; /* queue is no longer needed: reuse it */
    queue[len++] = s;
    BAY0_ASSERT(len <= members_len);
    for (uint32_t i = 0; i < len / 2; i++) {
        uint32_t t = queue[i];
        queue[i] = queue[len - 1 - i];
        queue[len - 1 - i] = t;
    }
    return len;
}

uint32_t deps_cycles(struct deps_graph *g, deps_cycle_fn fn, void *ctx)
{
    uint32_t ncomp = tarjan_run(g);
    group_components(g, ncomp);
    const uint32_t *comp = g->scratch[5], *start = g->scratch[3];
    const uint32_t *members = g->scratch[4];
    uint32_t found = 0;
    for (uint32_t i = 0; i < g->node_count; i++) {
        uint32_t c = comp[i];
        const uint32_t *m = members + start[c];
        uint32_t m_len = start[c + 1] - start[c];
        if (m[0] != i)
            continue; /* i is not its component's lowest node */
        if (m_len == 1 && !has_self_loop(g, i))
            continue;
        found++;
        uint32_t len = cycle_path(g, i, m, m_len);
        if (fn)
            fn(g->scratch[1], len, m, m_len, ctx);
    }
    return found;
}

bool deps_cycle_format(const uint32_t *path, uint32_t path_len,
                       const char *const *names, char *buf, size_t buf_size)
{
    BAY0_ASSERT(buf_size > 0 && path_len > 0);
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i <= path_len; i++) {
        const char *name = names[path[i % path_len]];
        int n = snprintf(buf + len, buf_size - len, "%s%s",
                         i ? " -> " : "", name);
        if (n < 0 || (size_t)n >= buf_size - len)
            return false;
        len += (size_t)n;
    }
    return true;
}

/* ---- Rendering ---------------------------------------------------------- */

void deps_writer_fd(struct deps_writer *w, int fd)
{
    BAY0_ASSERT(fd >= 0);
    memset(w, 0, offsetof(struct deps_writer, chunk));
    w->fd = fd;
    w->buf = w->chunk;
    w->cap = sizeof w->chunk;
}

void deps_writer_buf(struct deps_writer *w, char *buf, size_t cap)
{
    BAY0_ASSERT(cap > 0);
    memset(w, 0, offsetof(struct deps_writer, chunk));
    w->fd = -1;
    w->buf = buf;
    w->cap = cap;
    buf[0] = '\0';
}

static void writer_flush(struct deps_writer *w)
{
    if (w->fd < 0 || w->len == 0)
        return;
    if (!w->io_error && fd_write_all(w->fd, w->buf, w->len) < 0)
        w->io_error = true;
    w->len = 0;
}

static void put(struct deps_writer *w, const char *s)
{
    size_t n = strlen(s);
    if (w->fd >= 0) {
        while (n > 0) {
            if (w->len == w->cap)
                writer_flush(w);
            size_t k = w->cap - w->len < n ? w->cap - w->len : n;
            memcpy(w->buf + w->len, s, k);
            w->len += k;
            s += k;
            n -= k;
        }
        return;
    }
    if (w->truncated || n >= w->cap - w->len) {
        w->truncated = true;
        return;
    }
    memcpy(w->buf + w->len, s, n + 1);
    w->len += n;
}

enum deps_status deps_writer_end(struct deps_writer *w)
{
    writer_flush(w);
    if (w->io_error)
        return DEPS_ERR_IO;
    return w->truncated ? DEPS_ERR_LIMIT : DEPS_OK;
}

static bool shown(const uint64_t *only, uint32_t node)
{
    return only == NULL || deps_bit(only, node);
}

void deps_render_text(const struct deps_graph *g, const char *const *names,
                      const uint64_t *only, struct deps_writer *w)
{
    for (uint32_t i = 0; i < g->node_count; i++) {
        if (!shown(only, i))
            continue;
        put(w, names[i]);
        put(w, " ->");
        uint32_t cnt;
        const uint32_t *d = deps_of(g, i, &cnt);
        for (uint32_t k = 0; k < cnt; k++) {
            put(w, " ");
            put(w, names[d[k]]);
        }
        put(w, "\n");
    }
}

/* A dot ID in double quotes; names are validated, but escape anyway. */
static void put_quoted(struct deps_writer *w, const char *name)
{
    put(w, "\"");
    for (size_t i = 0; i < DEPS_NAME_BYTES_MAX * 2 && name[i]; i++) {
        char c[3] = { '\\', name[i], '\0' };
        put(w, (name[i] == '"' || name[i] == '\\') ? c : c + 1);
    }
    put(w, "\"");
}

void deps_render_dot(const struct deps_graph *g, const char *const *names,
                     const uint64_t *only, struct deps_writer *w)
{
    put(w, "digraph bay0 {\n");
    for (uint32_t i = 0; i < g->node_count; i++) {
        if (!shown(only, i))
            continue;
        put(w, "  ");
        put_quoted(w, names[i]);
        put(w, ";\n");
        uint32_t cnt;
        const uint32_t *d = deps_of(g, i, &cnt);
        for (uint32_t k = 0; k < cnt; k++) {
            put(w, "  ");
            put_quoted(w, names[i]);
            put(w, " -> ");
            put_quoted(w, names[d[k]]);
            put(w, ";\n");
        }
    }
    put(w, "}\n");
}
