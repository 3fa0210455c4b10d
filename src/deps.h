/* deps.h — the service dependency graph: reading what a service declares it
 * needs, and the pure graph algorithms the supervisor asks about it.
 *
 * Model. Nodes are services, numbered 0..n-1 by the caller (its service
 * table index). An edge "A depends on B" (A -> B) means A may start only
 * once B is ready, and B may stop only once A has stopped. The graph is
 * built once per configuration (start-up or reload) from a flat edge list
 * into two compact (CSR) adjacency arrays: for each node, its dependencies
 * and its dependents, each sorted by node index, duplicates collapsed.
 * Everything else is a question asked of that frozen graph:
 *   - start order (dependencies first) and stop order (dependents first),
 *     Kahn's algorithm; nodes on a cycle, or that need one, are left out of
 *     the order and listed after it, so the caller can report them;
 *   - cycles: each strongly connected component with more than one node (or
 *     a self-loop) is reported with one simple cycle through its lowest
 *     numbered node, in edge order ("a -> b -> c -> a"), plus all members;
 *   - closures: everything X needs, or everything that needs X;
 *   - rendering as text ("name -> dep1 dep2") or Graphviz dot.
 * Names are the caller's: a sorted index (deps_names) maps a name to its
 * node in O(log n), and turning a declared name into an edge reports a
 * name that is not a node as a "missing dependency" error value.
 *
 * Memory. Nothing here allocates. The caller gives one buffer of
 * deps_graph_bytes(nodes, edges) bytes that holds the arrays and the
 * scratch space the algorithms need; a graph is therefore not reentrant
 * (one question at a time). Every loop is bounded by the node and edge
 * counts, which are bounded by DEPS_NODES_MAX and DEPS_EDGES_MAX; nothing
 * recurses.
 *
 * Errors. Operating errors (a bad file, a bad name, a missing dependency,
 * a full buffer) are returned as enum deps_status with a one-line message
 * in struct deps_error that names the file and line or the object. Broken
 * invariants (a node number out of range, a buffer too small for the
 * graph) are BAY0_ASSERT failures.
 *
 * Never touches /persist, never blocks beyond reading the small files of
 * one service directory, never logs (callers log the message it returns).
 */
#ifndef BAY0_DEPS_H
#define BAY0_DEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEPS_NODES_MAX 262144u          /* >= 65,536 services, with room */
#define DEPS_EDGES_MAX 4194304u         /* all declared edges together */
#define DEPS_NAME_BYTES_MAX 64u         /* name_check() bound */
#define DEPS_PER_SERVICE_MAX 128u       /* names one service may declare */
#define DEPS_FILE_BYTES_MAX 16384u      /* size of a `dependencies` file */
#define DEPS_ERROR_BYTES_MAX 512u       /* one message line */
#define DEPS_NONE UINT32_MAX            /* "no node" */

enum deps_status {
    DEPS_OK = 0,
    DEPS_ERR_IO,      /* a file or directory could not be read */
    DEPS_ERR_NAME,    /* a declared name fails name_check() */
    DEPS_ERR_LIMIT,   /* more than a named limit (count, bytes, edges) */
    DEPS_ERR_MISSING, /* a dependency names no node */
    DEPS_ERR_DUP,     /* two nodes share one name */
    DEPS_ERR_CYCLE,   /* returned by callers that treat cycles as errors */
};

struct deps_error {
    enum deps_status status;
    char msg[DEPS_ERROR_BYTES_MAX]; /* "" when status is DEPS_OK */
};

/* ---- What one service declares ---------------------------------------- */

struct deps_list {
    uint32_t count;
    char names[DEPS_PER_SERVICE_MAX][DEPS_NAME_BYTES_MAX + 1];
};

/* Reads `dependencies` (one name a line; `#` starts a comment; blank lines
 * and surrounding whitespace ignored) and `dependencies.d/` (s6-rc style:
 * each entry's name is a dependency; entries starting with '.' are
 * skipped) of the service directory open at dirfd. Both add up; file
 * order first, then directory entries sorted by name; duplicates collapse.
 * Neither existing is not an error (count 0). dir_label (the directory's
 * path) only appears in error messages, e.g.
 *   "sv/web/dependencies:3: bad name "a b": name has a character ..."
 * On error out->count is 0. Uses ~25 KiB of static buffers: one caller at
 * a time (the supervisor's loop), like the graph. */
enum deps_status deps_read(int dirfd, const char *dir_label,
                           struct deps_list *out, struct deps_error *err);

/* Parses the text of a `dependencies` file (len bytes, need not be NUL
 * terminated) into out, appending. file_label is used in messages. */
enum deps_status deps_parse_text(const char *text, size_t len,
                                 const char *file_label,
                                 struct deps_list *out, struct deps_error *err);

/* Appends name unless already present. Validates it with name_check(). */
enum deps_status deps_list_add(struct deps_list *list, const char *name,
                               const char *where, struct deps_error *err);

/* ---- Names -> nodes ---------------------------------------------------- */

struct deps_names {
    const char *const *names; /* caller's, names[i] is node i's name */
    uint32_t *sorted;         /* caller's, count entries: node numbers */
    uint32_t count;
};

/* Builds the index (heap sort, O(n log n), no malloc). DEPS_ERR_DUP if two
 * nodes share a name (the message names it and both nodes). */
enum deps_status deps_names_index(struct deps_names *ix,
                                  const char *const *names, uint32_t count,
                                  uint32_t *sorted_storage,
                                  struct deps_error *err);
/* Node of name, or DEPS_NONE. O(log n). */
uint32_t deps_names_find(const struct deps_names *ix, const char *name);

/* ---- Edges ------------------------------------------------------------- */

struct deps_edge {
    uint32_t from; /* the dependent */
    uint32_t to;   /* what it needs */
};

struct deps_edges {
    struct deps_edge *v; /* caller's storage */
    uint32_t count;
    uint32_t max;
};

/* Adds "from depends on name". DEPS_ERR_MISSING when name is not a node
 * ("svc=web: missing dependency "db"" with from's name), DEPS_ERR_LIMIT
 * when the edge list is full. Nothing is added on error. */
enum deps_status deps_edges_add_name(struct deps_edges *edges,
                                     const struct deps_names *ix,
                                     uint32_t from, const char *name,
                                     struct deps_error *err);

/* ---- The graph --------------------------------------------------------- */

struct deps_graph {
    uint32_t node_count;
    uint32_t edge_count;  /* after duplicates collapsed */
    uint32_t *dep_start;  /* n+1: deps of i are dep[dep_start[i]..[i+1]) */
    uint32_t *dep;
    uint32_t *rdep_start; /* n+1: dependents of i, same layout */
    uint32_t *rdep;
    uint32_t *scratch[6]; /* n+1 each, for the algorithms */
};

/* Bytes of caller memory a graph of this size needs. */
size_t deps_graph_bytes(uint32_t node_count, uint32_t edge_count);

/* Builds g in mem (at least deps_graph_bytes(), aligned for uint32_t) from
 * edges whose endpoints must all be < node_count (asserted). */
void deps_graph_build(struct deps_graph *g, void *mem, size_t mem_bytes,
                      uint32_t node_count, const struct deps_edge *edges,
                      uint32_t edge_count);

/* Dependencies / dependents of node, and how many. */
const uint32_t *deps_of(const struct deps_graph *g, uint32_t node,
                        uint32_t *count);
const uint32_t *deps_dependents_of(const struct deps_graph *g, uint32_t node,
                                   uint32_t *count);

enum deps_dir {
    DEPS_NEEDS,     /* follow A -> B: what A needs */
    DEPS_NEEDED_BY, /* follow B -> A: what needs B */
};

/* Start order (dependencies first) into order[node_count]. Returns how many
 * nodes are ordered; order[ret..n) holds the rest — nodes on a cycle or
 * needing one — by ascending number. Ties are broken by node number
 * (FIFO), so the result is deterministic. */
uint32_t deps_order_start(struct deps_graph *g, uint32_t *order);
/* Stop order (dependents first), same contract. */
uint32_t deps_order_stop(struct deps_graph *g, uint32_t *order);

/* Called once per cycle: path[0..path_len) is a simple cycle in edge order
 * (path[0] depends on path[1] ... path[len-1] depends on path[0]); path[0]
 * is the component's lowest numbered node. members[0..members_len) is the
 * whole strongly connected component, ascending. Pointers are valid only
 * during the call. */
typedef void (*deps_cycle_fn)(const uint32_t *path, uint32_t path_len,
                              const uint32_t *members, uint32_t members_len,
                              void *ctx);
/* Reports every cycle component, by ascending lowest node; returns how
 * many. fn may be NULL (just count). Iterative Tarjan, O(n + e). */
uint32_t deps_cycles(struct deps_graph *g, deps_cycle_fn fn, void *ctx);

/* "a -> b -> c -> a" into buf (always NUL terminated). false if cut. */
bool deps_cycle_format(const uint32_t *path, uint32_t path_len,
                       const char *const *names, char *buf, size_t buf_size);

/* Closure: every node reachable from the sources in direction dir, nearest
 * first. bits (caller's, (n+63)/64 words) is cleared and gets one bit per
 * node reached; out (NULL or n entries) gets the nodes. A source is in the
 * result only if reached through an edge (it is on a cycle). */
uint32_t deps_closure(struct deps_graph *g, const uint32_t *sources,
                      uint32_t source_count, enum deps_dir dir,
                      uint64_t *bits, uint32_t *out);
static inline bool deps_bit(const uint64_t *bits, uint32_t node)
{
    return (bits[node / 64] >> (node % 64)) & 1u;
}
static inline size_t deps_bitmap_words(uint32_t node_count)
{
    return ((size_t)node_count + 63) / 64;
}

/* ---- Rendering ---------------------------------------------------------- */

/* Output to an fd (buffered, flushed by deps_writer_end) or to a caller
 * buffer (always NUL terminated; overflow is reported, not written). */
struct deps_writer {
    int fd;            /* -1 for buffer mode */
    char *buf;
    size_t cap;
    size_t len;
    bool truncated;
    bool io_error;
    char chunk[4096];  /* fd mode */
};
void deps_writer_fd(struct deps_writer *w, int fd);
void deps_writer_buf(struct deps_writer *w, char *buf, size_t cap);
/* Flushes; DEPS_OK, DEPS_ERR_IO (write failed) or DEPS_ERR_LIMIT (cut). */
enum deps_status deps_writer_end(struct deps_writer *w);

/* One line per node: "name -> dep1 dep2" ("name ->" when it needs
 * nothing). only: NULL for every node, else a bitmap of nodes to print. */
void deps_render_text(const struct deps_graph *g, const char *const *names,
                      const uint64_t *only, struct deps_writer *w);
/* digraph bay0 { "a"; "a" -> "b"; } — edges point at what is needed. */
void deps_render_dot(const struct deps_graph *g, const char *const *names,
                     const uint64_t *only, struct deps_writer *w);

const char *deps_status_name(enum deps_status st);

#endif
