/* propagate.h — what dependencies make happen (propagate.c): `start X`
 * starts what X needs first, `stop X` stops what needs X first, and a
 * state change starts the waiting services it made startable and stops
 * the deferred ones it released.
 */
#ifndef BAY0_PROPAGATE_H
#define BAY0_PROPAGATE_H

#include "svc.h"

#include <stddef.h>
#include <stdint.h>

int propagate_init(uint32_t slots);
/* `start X`: X and everything it needs, in start order. */
void sup_want_up_closure(struct svc *s);
/* `restart X`: everything X needs (not X itself), in start order. */
void sup_want_up_dependencies(struct svc *s);
/* `stop X`: X and everything that needs it; returns how many others. */
uint32_t sup_want_down_closure(struct svc *s, char *names, size_t names_size);
/* s changed state: its neighbours in the graph are due a look. */
void sup_deps_note_change(const struct svc *s);
/* Starts waiting services whose dependencies became ready and stops
 * deferred ones whose dependents stopped, looking only along the edges of
 * what changed (everything once after a rebuild). */
void sup_deps_propagate(void);

#endif
