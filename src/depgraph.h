/* depgraph.h — the dependency graph of the service table (depgraph.c),
 * rebuilt whole by each scan. Answers questions; never sends an event
 * (propagate.c acts on the answers).
 */
#ifndef BAY0_DEPGRAPH_H
#define BAY0_DEPGRAPH_H

#include "svc.h"

#include <stdbool.h>
#include <stdint.h>

int sup_deps_init(uint32_t slots);

/* What the scan in progress knows of a slot: false when its new
 * definition could not be read; else *may_have_deps says whether its
 * directory may hold dependency files. */
typedef bool (*deps_scan_ok_fn)(const struct svc *s, bool *may_have_deps);
/* Refuses a slot's new definition (the first reason stays). */
typedef void (*deps_scan_refuse_fn)(struct svc *s, const char *reason);

/* Reads every scanned service's dependencies, resolves names, finds
 * cycles; a service whose dependencies are bad is refused through
 * `refuse`. */
void sup_deps_rebuild(deps_scan_ok_fn ok, deps_scan_refuse_fn refuse);
/* True once per rebuild: the edges changed since the last call. */
bool sup_deps_take_rebuilt(void);
/* Slots in start order (dependencies first); count = used_hi. */
const uint32_t *sup_deps_start_order(void);
bool sup_has_running_dependents(const struct svc *s);
/* The slots whose services need s (none before the first rebuild). */
const uint32_t *sup_deps_dependents_of(const struct svc *s, uint32_t *count);
/* Marks everything s needs (needs = true) or everything that needs it
 * (false), s itself only when on a cycle; returns how many are marked (0
 * when s is not in the graph). sup_deps_marked() reads the marks until
 * the next call. */
uint32_t sup_deps_closure(const struct svc *s, bool needs);
bool sup_deps_marked(uint32_t slot);
uint32_t sup_deps_node_count(void);

#define DEPS_WAIT_DEPTH_MAX 64
/* s waits (WAITING) on a dependency that failed or does not exist, or on
 * a waiting one that does, at most DEPS_WAIT_DEPTH_MAX edges away: it
 * cannot come up without an operator. */
bool sup_deps_waits_on_failure(const struct svc *s);

#endif
