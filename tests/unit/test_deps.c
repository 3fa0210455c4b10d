/* test_deps.c — unit tests of src/deps.c: declarations read from real
 * files in a temp directory, the name index, the graph, orders, cycles,
 * closures and rendering, up to a 65,536-node chain.
 *
 * Tests may allocate (the module under test never does).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deps.h"
#include "util.h"

/* ---- helpers ------------------------------------------------------------ */

struct graph_box {
    struct deps_graph g;
    void *mem;
    uint32_t *order;
};

static void box_build(struct graph_box *b, uint32_t n,
                      const struct deps_edge *e, uint32_t ne)
{
    size_t bytes = deps_graph_bytes(n, ne);
    b->mem = malloc(bytes);
    b->order = malloc(sizeof(uint32_t) * (n + 1));
    assert_non_null(b->mem);
    assert_non_null(b->order);
    deps_graph_build(&b->g, b->mem, bytes, n, e, ne);
}

static void box_free(struct graph_box *b)
{
    free(b->mem);
    free(b->order);
}

/* Position of each node in an order. */
static uint32_t *positions(const uint32_t *order, uint32_t n)
{
    uint32_t *pos = malloc(sizeof(uint32_t) * (n + 1));
    assert_non_null(pos);
    for (uint32_t i = 0; i < n; i++)
        pos[order[i]] = i;
    return pos;
}

/* Every edge from -> to: to before from in start order, after in stop. */
static void check_orders(struct graph_box *b, const struct deps_edge *e,
                         uint32_t ne)
{
    uint32_t n = b->g.node_count;
    assert_int_equal(deps_order_start(&b->g, b->order), n);
    uint32_t *start = positions(b->order, n);
    assert_int_equal(deps_order_stop(&b->g, b->order), n);
    uint32_t *stop = positions(b->order, n);
    for (uint32_t i = 0; i < ne; i++) {
        assert_true(start[e[i].to] < start[e[i].from]);
        assert_true(stop[e[i].from] < stop[e[i].to]);
    }
    free(start);
    free(stop);
}

struct cycles_seen {
    const struct deps_graph *g; /* when set, each path is checked */
    const char *const *names;
    uint32_t count;
    char text[8][256];
    uint32_t members[8];
    uint32_t path_len[8];
};

static void on_cycle(const uint32_t *path, uint32_t path_len,
                     const uint32_t *members, uint32_t members_len, void *ctx)
{
    struct cycles_seen *s = ctx;
    assert_true(s->count < 8);
    if (s->names)
        assert_true(deps_cycle_format(path, path_len, s->names,
                                      s->text[s->count], 256));
    for (uint32_t i = 1; i < members_len; i++)
        assert_true(members[i - 1] < members[i]);
    assert_int_equal(path[0], members[0]);
    uint8_t *visited = s->g ? calloc(s->g->node_count, 1) : NULL;
    for (uint32_t i = 0; s->g && i < path_len; i++) {
        uint32_t cnt, next = path[(i + 1) % path_len];
        const uint32_t *d = deps_of(s->g, path[i], &cnt);
        bool edge = false;
        for (uint32_t k = 0; k < cnt; k++)
            edge = edge || d[k] == next;
        assert_true(edge);
        assert_false(visited[path[i]]); /* a simple cycle */
        visited[path[i]] = 1;
    }
    free(visited);
    s->members[s->count] = members_len;
    s->path_len[s->count] = path_len;
    s->count++;
}

static uint32_t rng_state;
static uint32_t rng(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

/* A random DAG: n nodes, ne distinct edges, hidden under a permutation so
 * that node numbers say nothing about the order. */
static struct deps_edge *random_dag(uint32_t n, uint32_t ne, uint32_t seed)
{
    rng_state = seed;
    uint32_t *perm = malloc(sizeof(uint32_t) * n);
    struct deps_edge *e = malloc(sizeof *e * ne);
    assert_non_null(perm);
    assert_non_null(e);
    for (uint32_t i = 0; i < n; i++)
        perm[i] = i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = rng() % i, t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    for (uint32_t k = 0; k < ne;) {
        uint32_t a = rng() % n, b = rng() % n;
        if (a == b)
            continue;
        if (a < b) {
            uint32_t t = a;
            a = b;
            b = t;
        }
        struct deps_edge cand = { perm[a], perm[b] };
        bool dup = false;
        for (uint32_t j = 0; j < k && !dup; j++)
            dup = e[j].from == cand.from && e[j].to == cand.to;
        if (!dup)
            e[k++] = cand;
    }
    free(perm);
    return e;
}

/* ---- orders ------------------------------------------------------------- */

static void test_order_small(void **state)
{
    (void)state;
    /* 0 web -> 1 app -> 2 db; web -> db; 3 alone */
    struct deps_edge e[] = { { 0, 1 }, { 1, 2 }, { 0, 2 }, { 0, 2 } };
    struct graph_box b;
    box_build(&b, 4, e, 4);
    assert_int_equal(b.g.edge_count, 3); /* duplicate collapsed */
    assert_int_equal(deps_order_start(&b.g, b.order), 4);
    uint32_t want_start[] = { 2, 3, 1, 0 };
    assert_memory_equal(b.order, want_start, sizeof want_start);
    assert_int_equal(deps_order_stop(&b.g, b.order), 4);
    uint32_t want_stop[] = { 0, 3, 1, 2 };
    assert_memory_equal(b.order, want_stop, sizeof want_stop);
    uint32_t cnt;
    const uint32_t *d = deps_dependents_of(&b.g, 2, &cnt);
    assert_int_equal(cnt, 2);
    assert_int_equal(d[0], 0);
    assert_int_equal(d[1], 1);
    assert_int_equal(deps_cycles(&b.g, NULL, NULL), 0);
    box_free(&b);
}

static void test_order_empty(void **state)
{
    (void)state;
    struct graph_box b;
    box_build(&b, 0, NULL, 0);
    assert_int_equal(deps_order_start(&b.g, b.order), 0);
    assert_int_equal(deps_cycles(&b.g, NULL, NULL), 0);
    box_free(&b);
}

static void test_dag_20_50(void **state)
{
    (void)state;
    struct deps_edge *e = random_dag(20, 50, 20251121u);
    struct graph_box b;
    box_build(&b, 20, e, 50);
    assert_int_equal(b.g.edge_count, 50);
    check_orders(&b, e, 50);
    assert_int_equal(deps_cycles(&b.g, NULL, NULL), 0);
    box_free(&b);
    free(e);
}

static void test_dag_1000(void **state)
{
    (void)state;
    uint32_t n = 1000, ne = 5000;
    struct deps_edge *e = random_dag(n, ne, 42u);
    struct graph_box b;
    box_build(&b, n, e, ne);
    check_orders(&b, e, ne);
    assert_int_equal(deps_cycles(&b.g, NULL, NULL), 0);
    box_free(&b);

    /* Close a cycle: reverse one edge's direction on top of the others. */
    e = realloc(e, sizeof *e * (ne + 1));
    e[ne] = (struct deps_edge){ e[0].to, e[0].from };
    box_build(&b, n, e, ne + 1);
    struct cycles_seen seen = { .g = &b.g };
    assert_int_equal(deps_cycles(&b.g, on_cycle, &seen), 1);
    assert_true(seen.path_len[0] >= 2);
    uint32_t ordered = deps_order_start(&b.g, b.order);
    assert_true(ordered < n);
    /* Unordered = the cycle and everything that needs it. */
    uint64_t *bits = calloc(deps_bitmap_words(n), sizeof(uint64_t));
    uint32_t src[] = { e[0].from, e[0].to };
    uint32_t behind = deps_closure(&b.g, src, 2, DEPS_NEEDED_BY, bits, NULL);
    bits[src[0] / 64] |= 1ull << (src[0] % 64);
    bits[src[1] / 64] |= 1ull << (src[1] % 64);
    assert_true(behind >= 1);
    uint32_t bad = 0;
    for (uint32_t i = 0; i < n; i++)
        bad += deps_bit(bits, i);
    assert_int_equal(n - ordered, bad);
    for (uint32_t i = ordered; i < n; i++)
        assert_true(deps_bit(bits, b.order[i]));
    free(bits);
    box_free(&b);
    free(e);
}

static void test_chain_65536(void **state)
{
    (void)state;
    uint32_t n = 65536;
    struct deps_edge *e = malloc(sizeof *e * n);
    for (uint32_t i = 0; i + 1 < n; i++)
        e[i] = (struct deps_edge){ i, i + 1 }; /* i needs i+1 */
    struct graph_box b;
    box_build(&b, n, e, n - 1);
    assert_int_equal(deps_order_start(&b.g, b.order), n);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(b.order[i], n - 1 - i);
    assert_int_equal(deps_order_stop(&b.g, b.order), n);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(b.order[i], i);
    assert_int_equal(deps_cycles(&b.g, NULL, NULL), 0);
    uint64_t *bits = calloc(deps_bitmap_words(n), sizeof(uint64_t));
    uint32_t *out = malloc(sizeof(uint32_t) * n);
    uint32_t zero = 0;
    assert_int_equal(deps_closure(&b.g, &zero, 1, DEPS_NEEDS, bits, out), n - 1);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[n - 2], n - 1);
    assert_false(deps_bit(bits, 0));
    box_free(&b);

    /* One edge more makes the whole chain one cycle: iterative, no
     * recursion, every node named. */
    e[n - 1] = (struct deps_edge){ n - 1, 0 };
    box_build(&b, n, e, n);
    struct cycles_seen seen = { .g = &b.g };
    assert_int_equal(deps_cycles(&b.g, on_cycle, &seen), 1);
    assert_int_equal(seen.path_len[0], n);
    assert_int_equal(seen.members[0], n);
    assert_int_equal(deps_order_start(&b.g, b.order), 0);
    assert_int_equal(deps_closure(&b.g, &zero, 1, DEPS_NEEDS, bits, out), n);
    assert_true(deps_bit(bits, 0));
    free(bits);
    free(out);
    box_free(&b);
    free(e);
}

/* ---- cycles ------------------------------------------------------------- */

static void test_cycle_self(void **state)
{
    (void)state;
    const char *names[] = { "a", "b" };
    struct deps_edge e[] = { { 0, 0 }, { 1, 0 } };
    struct graph_box b;
    box_build(&b, 2, e, 2);
    struct cycles_seen seen = { .g = &b.g, .names = names };
    assert_int_equal(deps_cycles(&b.g, on_cycle, &seen), 1);
    assert_string_equal(seen.text[0], "a -> a");
    assert_int_equal(deps_order_start(&b.g, b.order), 0); /* b is behind */
    assert_int_equal(b.order[0], 0);
    assert_int_equal(b.order[1], 1);
    box_free(&b);
}

static void test_cycle_two(void **state)
{
    (void)state;
    const char *names[] = { "a", "b", "c", "d" };
    /* a <-> b, c needs a (behind the cycle), d alone */
    struct deps_edge e[] = { { 0, 1 }, { 1, 0 }, { 2, 0 } };
    struct graph_box b;
    box_build(&b, 4, e, 3);
    struct cycles_seen seen = { .g = &b.g, .names = names };
    assert_int_equal(deps_cycles(&b.g, on_cycle, &seen), 1);
    assert_string_equal(seen.text[0], "a -> b -> a");
    assert_int_equal(deps_order_start(&b.g, b.order), 1);
    uint32_t want[] = { 3, 0, 1, 2 };
    assert_memory_equal(b.order, want, sizeof want);
    box_free(&b);
}

static void test_cycle_long(void **state)
{
    (void)state;
    const char *names[] = { "n0", "n1", "n2", "n3", "n4",
                            "n5", "n6", "n7", "n8", "n9" };
    /* Edges given out of order: n0 -> n1 -> ... -> n9 -> n0 */
    struct deps_edge e[10];
    for (uint32_t i = 0; i < 10; i++) {
        uint32_t k = (i * 7) % 10;
        e[i] = (struct deps_edge){ k, (k + 1) % 10 };
    }
    struct graph_box b;
    box_build(&b, 10, e, 10);
    struct cycles_seen seen = { .g = &b.g, .names = names };
    assert_int_equal(deps_cycles(&b.g, on_cycle, &seen), 1);
    assert_string_equal(seen.text[0], "n0 -> n1 -> n2 -> n3 -> n4 -> n5 -> "
                                      "n6 -> n7 -> n8 -> n9 -> n0");
    box_free(&b);
}

static void test_cycle_disjoint(void **state)
{
    (void)state;
    const char *names[] = { "ok", "x", "p", "y", "q", "r", "z" };
    /* x <-> y; p -> q -> r -> p; z needs ok; ok alone */
    struct deps_edge e[] = { { 5, 2 }, { 1, 3 }, { 2, 4 },
                             { 3, 1 }, { 4, 5 }, { 6, 0 } };
    struct graph_box b;
    box_build(&b, 7, e, 6);
    struct cycles_seen seen = { .g = &b.g, .names = names };
    assert_int_equal(deps_cycles(&b.g, on_cycle, &seen), 2);
    assert_string_equal(seen.text[0], "x -> y -> x");
    assert_string_equal(seen.text[1], "p -> q -> r -> p");
    assert_int_equal(deps_order_start(&b.g, b.order), 2);
    assert_int_equal(b.order[0], 0);
    assert_int_equal(b.order[1], 6);
    box_free(&b);
}

static void test_cycle_component_wider_than_path(void **state)
{
    (void)state;
    const char *names[] = { "a", "b", "c" };
    /* a <-> b and b <-> c: one component {a,b,c}; shortest cycle via a */
    struct deps_edge e[] = { { 0, 1 }, { 1, 0 }, { 1, 2 }, { 2, 1 } };
    struct graph_box b;
    box_build(&b, 3, e, 4);
    struct cycles_seen seen = { .g = &b.g, .names = names };
    assert_int_equal(deps_cycles(&b.g, on_cycle, &seen), 1);
    assert_string_equal(seen.text[0], "a -> b -> a");
    assert_int_equal(seen.members[0], 3);
    box_free(&b);
}

static void test_cycle_format_cut(void **state)
{
    (void)state;
    const char *names[] = { "alpha", "beta" };
    uint32_t path[] = { 0, 1 };
    char buf[12];
    assert_false(deps_cycle_format(path, 2, names, buf, sizeof buf));
    assert_true(strlen(buf) < sizeof buf);
    char big[64];
    assert_true(deps_cycle_format(path, 2, names, big, sizeof big));
    assert_string_equal(big, "alpha -> beta -> alpha");
}

/* ---- closure ------------------------------------------------------------ */

static void test_closure(void **state)
{
    (void)state;
    /* 0 web -> 1 app -> 2 db; 3 cron -> 2 db; 4 alone */
    struct deps_edge e[] = { { 0, 1 }, { 1, 2 }, { 3, 2 } };
    struct graph_box b;
    box_build(&b, 5, e, 3);
    uint64_t bits[1];
    uint32_t out[5];
    uint32_t web = 0, db = 2, lone = 4;
    assert_int_equal(deps_closure(&b.g, &web, 1, DEPS_NEEDS, bits, out), 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 2);
    assert_int_equal(bits[0], (1u << 1) | (1u << 2));
    assert_int_equal(deps_closure(&b.g, &db, 1, DEPS_NEEDED_BY, bits, out), 3);
    assert_int_equal(bits[0], (1u << 0) | (1u << 1) | (1u << 3));
    assert_int_equal(out[0], 1); /* nearest first */
    assert_int_equal(out[1], 3);
    assert_int_equal(out[2], 0);
    assert_int_equal(deps_closure(&b.g, &lone, 1, DEPS_NEEDS, bits, NULL), 0);
    assert_int_equal(bits[0], 0);
    box_free(&b);
}

/* ---- names and missing dependencies ------------------------------------ */

static void test_names(void **state)
{
    (void)state;
    const char *names[] = { "web", "db", "cache", "auth", "api" };
    uint32_t sorted[5];
    struct deps_names ix;
    struct deps_error err;
    assert_int_equal(deps_names_index(&ix, names, 5, sorted, &err), DEPS_OK);
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(deps_names_find(&ix, names[i]), i);
    assert_int_equal(deps_names_find(&ix, "dbx"), DEPS_NONE);
    assert_int_equal(deps_names_find(&ix, ""), DEPS_NONE);
    assert_int_equal(deps_names_find(&ix, "zzz"), DEPS_NONE);

    struct deps_edge ev[2];
    struct deps_edges edges = { .v = ev, .max = 2 };
    assert_int_equal(deps_edges_add_name(&edges, &ix, 0, "db", &err), DEPS_OK);
    assert_int_equal(deps_edges_add_name(&edges, &ix, 0, "postgres", &err),
                     DEPS_ERR_MISSING);
    assert_string_equal(err.msg, "svc=web: missing dependency \"postgres\"");
    assert_int_equal(edges.count, 1);
    assert_int_equal(ev[0].from, 0);
    assert_int_equal(ev[0].to, 1);
    assert_int_equal(deps_edges_add_name(&edges, &ix, 4, "auth", &err), DEPS_OK);
    assert_int_equal(deps_edges_add_name(&edges, &ix, 4, "db", &err),
                     DEPS_ERR_LIMIT);
    assert_int_equal(edges.count, 2);

    const char *dup[] = { "a", "b", "a" };
    assert_int_equal(deps_names_index(&ix, dup, 3, sorted, &err), DEPS_ERR_DUP);
    assert_non_null(strstr(err.msg, "\"a\""));
}

static void test_names_many(void **state)
{
    (void)state;
    uint32_t n = 65536;
    char (*buf)[16] = malloc(16 * (size_t)n);
    const char **names = malloc(sizeof(char *) * n);
    uint32_t *sorted = malloc(sizeof(uint32_t) * n);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(buf[i], 16, "svc-%u", (i * 40503u) % n);
        names[i] = buf[i];
    }
    struct deps_names ix;
    struct deps_error err;
    assert_int_equal(deps_names_index(&ix, names, n, sorted, &err), DEPS_OK);
    for (uint32_t i = 0; i < n; i += 97)
        assert_int_equal(deps_names_find(&ix, names[i]), i);
    assert_int_equal(deps_names_find(&ix, "svc-65536"), DEPS_NONE);
    free(buf);
    free(names);
    free(sorted);
}

/* ---- reading declarations ---------------------------------------------- */

static char tmp_root[64];

static int rm_entry(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int tmp_setup(void **state)
{
    (void)state;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/test_deps.XXXXXX");
    return mkdtemp(tmp_root) ? 0 : -1;
}

static int tmp_teardown(void **state)
{
    (void)state;
    return nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates tmp_root/svc (fresh), returns an fd to it. */
static int svc_dir(const char *svc)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp_root, svc);
    assert_int_equal(mkdir(p, 0755), 0);
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static void put_file(int dirfd, const char *path, const char *text)
{
    int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                    0644);
    assert_true(fd >= 0);
    assert_int_equal(fd_write_all(fd, text, strlen(text)), 0);
    close(fd);
}

static void test_read_none(void **state)
{
    (void)state;
    int fd = svc_dir("none");
    static struct deps_list l;
    struct deps_error err;
    l.count = 7;
    assert_int_equal(deps_read(fd, "sv/none", &l, &err), DEPS_OK);
    assert_int_equal(l.count, 0);
    assert_string_equal(err.msg, "");
    close(fd);
}

static void test_read_file_and_dir(void **state)
{
    (void)state;
    int fd = svc_dir("web");
    put_file(fd, "dependencies",
             "# what web needs\n"
             "db\n"
             "\n"
             "   cache  \t\n"
             "auth # trailing comment\r\n"
             "db\n"
             "\t# indented comment\n"
             "logger");
    assert_int_equal(mkdirat(fd, "dependencies.d", 0755), 0);
    put_file(fd, "dependencies.d/zeta", "");
    put_file(fd, "dependencies.d/cache", "");
    put_file(fd, "dependencies.d/alpha", "");
    put_file(fd, "dependencies.d/.gitkeep", "");
    static struct deps_list l;
    struct deps_error err;
    assert_int_equal(deps_read(fd, "sv/web", &l, &err), DEPS_OK);
    const char *want[] = { "db", "cache", "auth", "logger", "alpha", "zeta" };
    assert_int_equal(l.count, 6);
    for (uint32_t i = 0; i < 6; i++)
        assert_string_equal(l.names[i], want[i]);
    close(fd);
}

static void test_read_dir_only(void **state)
{
    (void)state;
    int fd = svc_dir("api");
    assert_int_equal(mkdirat(fd, "dependencies.d", 0755), 0);
    put_file(fd, "dependencies.d/db", "");
    static struct deps_list l;
    struct deps_error err;
    assert_int_equal(deps_read(fd, "sv/api", &l, &err), DEPS_OK);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.names[0], "db");
    close(fd);
}

static void test_read_bad_name_file(void **state)
{
    (void)state;
    int fd = svc_dir("bad1");
    put_file(fd, "dependencies", "db\n# fine\nweb server\n");
    static struct deps_list l;
    struct deps_error err;
    assert_int_equal(deps_read(fd, "sv/bad1", &l, &err), DEPS_ERR_NAME);
    assert_int_equal(err.status, DEPS_ERR_NAME);
    assert_non_null(strstr(err.msg, "sv/bad1/dependencies:3: bad name "
                                    "\"web server\""));
    assert_int_equal(l.count, 0);
    put_file(fd, "dependencies", "ok\n.hidden\n");
    assert_int_equal(deps_read(fd, "sv/bad1", &l, &err), DEPS_ERR_NAME);
    assert_non_null(strstr(err.msg, "sv/bad1/dependencies:2:"));
    char longname[100];
    memset(longname, 'x', 65);
    strcpy(longname + 65, "\n");
    put_file(fd, "dependencies", longname);
    assert_int_equal(deps_read(fd, "sv/bad1", &l, &err), DEPS_ERR_NAME);
    assert_non_null(strstr(err.msg, "sv/bad1/dependencies:1:"));
    assert_non_null(strstr(err.msg, "too long"));
    close(fd);
}

static void test_read_bad_name_dir(void **state)
{
    (void)state;
    int fd = svc_dir("bad2");
    assert_int_equal(mkdirat(fd, "dependencies.d", 0755), 0);
    put_file(fd, "dependencies.d/db", "");
    put_file(fd, "dependencies.d/we$b", "");
    static struct deps_list l;
    struct deps_error err;
    assert_int_equal(deps_read(fd, "sv/bad2", &l, &err), DEPS_ERR_NAME);
    assert_non_null(strstr(err.msg, "sv/bad2/dependencies.d/we$b: bad name"));
    close(fd);
}

static void test_read_unreadable(void **state)
{
    (void)state;
    /* Tests run as root, so permissions do not stop a read: a directory
     * where the file should be does (EISDIR), as does a file where the
     * directory should be (ENOTDIR). */
    int fd = svc_dir("unread");
    assert_int_equal(mkdirat(fd, "dependencies", 0755), 0);
    static struct deps_list l;
    struct deps_error err;
    assert_int_equal(deps_read(fd, "sv/unread", &l, &err), DEPS_ERR_IO);
    assert_non_null(strstr(err.msg, "sv/unread/dependencies: cannot read"));
    assert_int_equal(unlinkat(fd, "dependencies", AT_REMOVEDIR), 0);
    put_file(fd, "dependencies.d", "db\n");
    assert_int_equal(deps_read(fd, "sv/unread", &l, &err), DEPS_ERR_IO);
    assert_non_null(strstr(err.msg, "sv/unread/dependencies.d: cannot read"));
    close(fd);
}

static void test_read_limits(void **state)
{
    (void)state;
    int fd = svc_dir("big");
    static char text[DEPS_FILE_BYTES_MAX + 64];
    memset(text, '#', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    put_file(fd, "dependencies", text);
    static struct deps_list l;
    struct deps_error err;
    assert_int_equal(deps_read(fd, "sv/big", &l, &err), DEPS_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "sv/big/dependencies: larger than"));
    size_t len = 0;
    for (uint32_t i = 0; i <= DEPS_PER_SERVICE_MAX; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "d%u\n", i);
    put_file(fd, "dependencies", text);
    assert_int_equal(deps_read(fd, "sv/big", &l, &err), DEPS_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "more than 128 dependencies"));
    close(fd);
}

static void test_parse_nul(void **state)
{
    (void)state;
    static struct deps_list l;
    struct deps_error err;
    l.count = 0;
    const char text[] = "db\nca\0che\n";
    assert_int_equal(deps_parse_text(text, sizeof text - 1, "f", &l, &err),
                     DEPS_ERR_NAME);
    assert_non_null(strstr(err.msg, "f:2:"));
}

/* ---- rendering ---------------------------------------------------------- */

static void test_render(void **state)
{
    (void)state;
    const char *names[] = { "web", "db", "cache" };
    struct deps_edge e[] = { { 0, 1 }, { 0, 2 }, { 2, 1 } };
    struct graph_box b;
    box_build(&b, 3, e, 3);
    char buf[256];
    struct deps_writer w;
    deps_writer_buf(&w, buf, sizeof buf);
    deps_render_text(&b.g, names, NULL, &w);
    assert_int_equal(deps_writer_end(&w), DEPS_OK);
    assert_string_equal(buf, "web -> db cache\ndb ->\ncache -> db\n");

    deps_writer_buf(&w, buf, sizeof buf);
    deps_render_dot(&b.g, names, NULL, &w);
    assert_int_equal(deps_writer_end(&w), DEPS_OK);
    assert_string_equal(buf, "digraph bay0 {\n"
                             "  \"web\";\n"
                             "  \"web\" -> \"db\";\n"
                             "  \"web\" -> \"cache\";\n"
                             "  \"db\";\n"
                             "  \"cache\";\n"
                             "  \"cache\" -> \"db\";\n"
                             "}\n");

    uint64_t only = (1u << 2);
    deps_writer_buf(&w, buf, sizeof buf);
    deps_render_text(&b.g, names, &only, &w);
    assert_int_equal(deps_writer_end(&w), DEPS_OK);
    assert_string_equal(buf, "cache -> db\n");

    char small[10];
    deps_writer_buf(&w, small, sizeof small);
    deps_render_text(&b.g, names, NULL, &w);
    assert_int_equal(deps_writer_end(&w), DEPS_ERR_LIMIT);
    assert_true(strlen(small) < sizeof small);
    box_free(&b);
}

static void test_render_fd(void **state)
{
    (void)state;
    uint32_t n = 1000;
    struct deps_edge *e = random_dag(n, 3000, 7u);
    char (*nbuf)[16] = malloc(16 * (size_t)n);
    const char **names = malloc(sizeof(char *) * n);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(nbuf[i], 16, "service-%04u", i);
        names[i] = nbuf[i];
    }
    struct graph_box b;
    box_build(&b, n, e, 3000);
    FILE *f = tmpfile();
    assert_non_null(f);
    static struct deps_writer w;
    deps_writer_fd(&w, fileno(f));
    deps_render_text(&b.g, names, NULL, &w);
    assert_int_equal(deps_writer_end(&w), DEPS_OK);
    /* Same bytes as rendering into a buffer large enough. */
    size_t cap = 1 << 20;
    char *want = malloc(cap), *got = malloc(cap);
    static struct deps_writer wb;
    deps_writer_buf(&wb, want, cap);
    deps_render_text(&b.g, names, NULL, &wb);
    assert_int_equal(deps_writer_end(&wb), DEPS_OK);
    assert_true(wb.len > 4096 * 4);
    rewind(f);
    size_t got_len = fread(got, 1, cap, f);
    assert_int_equal(got_len, wb.len);
    assert_memory_equal(got, want, got_len);
    uint32_t lines = 0;
    for (size_t i = 0; i < got_len; i++)
        lines += got[i] == '\n';
    assert_int_equal(lines, n);
    fclose(f);

    /* A closed fd is an I/O error, reported at the end. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    deps_writer_fd(&w, p[1]);
    deps_render_text(&b.g, names, NULL, &w);
    assert_int_equal(deps_writer_end(&w), DEPS_ERR_IO);
    close(p[1]);
    free(want);
    free(got);
    free(nbuf);
    free(names);
    box_free(&b);
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_small),
        cmocka_unit_test(test_order_empty),
        cmocka_unit_test(test_dag_20_50),
        cmocka_unit_test(test_dag_1000),
        cmocka_unit_test(test_chain_65536),
        cmocka_unit_test(test_cycle_self),
        cmocka_unit_test(test_cycle_two),
        cmocka_unit_test(test_cycle_long),
        cmocka_unit_test(test_cycle_disjoint),
        cmocka_unit_test(test_cycle_component_wider_than_path),
        cmocka_unit_test(test_cycle_format_cut),
        cmocka_unit_test(test_closure),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_names_many),
        cmocka_unit_test(test_read_none),
        cmocka_unit_test(test_read_file_and_dir),
        cmocka_unit_test(test_read_dir_only),
        cmocka_unit_test(test_read_bad_name_file),
        cmocka_unit_test(test_read_bad_name_dir),
        cmocka_unit_test(test_read_unreadable),
        cmocka_unit_test(test_read_limits),
        cmocka_unit_test(test_parse_nul),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_render_fd),
    };
    return cmocka_run_group_tests(tests, tmp_setup, tmp_teardown);
}
