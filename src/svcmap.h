/* svcmap.h — the service table's two indexes, so that no event costs time
 * in proportion to the number of services:
 *
 *   pid -> slot     which service a reaped pid was (its run or its
 *                   finish/undo): open addressing, linear probing,
 *                   backward-shift deletion, load at most 1/2.
 *   deadlines       each slot's pending deadline in a binary min-heap with
 *                   a position per slot: set, clear and pop in O(log n),
 *                   the nearest one in O(1).
 *
 * Both are allocated once (svcmap_init, at table creation) and hold plain
 * numbers: they never look at struct svc. service.c keeps them in step
 * with svc.pid, svc.aux_pid and svc.deadline_ms; the loop only reads.
 * Never allocates after svcmap_init, never blocks.
 */
#ifndef BAY0_SVCMAP_H
#define BAY0_SVCMAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

int svcmap_init(uint32_t slots);

/* pid > 0, slot < slots. A pid is in the map at most once. */
void svcmap_pid_put(pid_t pid, uint32_t slot, bool aux);
void svcmap_pid_del(pid_t pid); /* absent: nothing */
bool svcmap_pid_get(pid_t pid, uint32_t *slot, bool *aux);
uint32_t svcmap_pid_count(void);

/* deadline_ms 0 removes the slot's deadline. */
void svcmap_deadline_set(uint32_t slot, int64_t deadline_ms);
/* The nearest deadline, 0 when none. */
int64_t svcmap_deadline_next(void);
/* Removes and returns the slot of the nearest deadline if it is <= now_ms. */
bool svcmap_deadline_pop_due(int64_t now_ms, uint32_t *slot);
uint32_t svcmap_deadline_count(void);

#endif
