/* svcmap.c — pid -> slot map and deadline heap over the service table
 * (see svcmap.h). Owns two arrays allocated once; never touches struct
 * svc, never allocates after svcmap_init, never blocks.
 */
#include "svcmap.h"

#include "util.h"

#include <stddef.h>
#include <string.h>

struct pid_entry {
    int32_t pid;    /* 0: empty */
    uint32_t value; /* slot << 1 | aux */
};

struct deadline_entry {
    int64_t ms;
    uint32_t slot;
};

static struct pid_entry *pids;
static uint32_t pids_mask; /* capacity - 1, capacity a power of two */
static uint32_t pids_used;

static struct deadline_entry *heap;
static uint32_t *heap_pos; /* per slot: index in heap + 1, 0 = none */
static uint32_t heap_len;
static uint32_t slot_count;

int svcmap_init(uint32_t slots)
{
    BAY0_ASSERT(slots > 0 && slots <= (1u << 24));
    uint32_t cap = 1;
    while (cap < 4 * slots) /* two pids per slot at most, load <= 1/2 */
        cap <<= 1;
    pids = table_alloc(cap, sizeof *pids);
    heap = table_alloc(slots, sizeof *heap);
    heap_pos = table_alloc(slots, sizeof *heap_pos);
    if (!pids || !heap || !heap_pos)
        return -1;
    pids_mask = cap - 1;
    pids_used = 0;
    heap_len = 0;
    slot_count = slots;
    return 0;
}

/* ---- pid -> slot ----------------------------------------------------------- */

static uint32_t pid_home(int32_t pid)
{
    return ((uint32_t)pid * 2654435761u) & pids_mask;
}

/* The index holding pid, or of the empty entry where it would go. */
static uint32_t pid_find(int32_t pid)
{
    uint32_t i = pid_home(pid);
    for (uint32_t n = 0; n <= pids_mask; n++) {
        if (pids[i].pid == pid || pids[i].pid == 0)
            return i;
        i = (i + 1) & pids_mask;
    }
    BAY0_ASSERT(!"pid map full");
    return 0;
}

void svcmap_pid_put(pid_t pid, uint32_t slot, bool aux)
{
    BAY0_ASSERT(pid > 0 && slot < slot_count);
    uint32_t i = pid_find((int32_t)pid);
    if (pids[i].pid == 0) {
        BAY0_ASSERT(pids_used < (pids_mask + 1) / 2);
        pids_used++;
    }
    pids[i].pid = (int32_t)pid;
    pids[i].value = slot << 1 | (aux ? 1u : 0u);
}

/* Backward-shift deletion: later entries of the same probe run move up,
 * so lookups never need tombstones. */
void svcmap_pid_del(pid_t pid)
{
    if (pid <= 0 || !pids)
        return;
    uint32_t i = pid_find((int32_t)pid);
    if (pids[i].pid == 0)
        return;
    BAY0_ASSERT(pids_used > 0);
    pids_used--;
    uint32_t hole = i;
    for (uint32_t n = 0; n <= pids_mask; n++) {
        i = (i + 1) & pids_mask;
        if (pids[i].pid == 0)
            break;
        uint32_t home = pid_home(pids[i].pid);
        /* i's entry may fill the hole if its home is not in (hole, i] */
        bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (stays)
            continue;
        pids[hole] = pids[i];
        hole = i;
    }
    pids[hole].pid = 0;
    pids[hole].value = 0;
}

bool svcmap_pid_get(pid_t pid, uint32_t *slot, bool *aux)
{
    if (pid <= 0 || !pids)
        return false;
    uint32_t i = pid_find((int32_t)pid);
    if (pids[i].pid == 0)
        return false;
    *slot = pids[i].value >> 1;
    *aux = (pids[i].value & 1u) != 0;
    BAY0_ASSERT(*slot < slot_count);
    return true;
}

uint32_t svcmap_pid_count(void) { return pids_used; }

/* ---- deadlines ------------------------------------------------------------- */

static void heap_place(uint32_t i, struct deadline_entry e)
{
    heap[i] = e;
    heap_pos[e.slot] = i + 1;
}

static void heap_up(uint32_t i)
{
    struct deadline_entry e = heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (heap[parent].ms <= e.ms)
            break;
        heap_place(i, heap[parent]);
        i = parent;
    }
    heap_place(i, e);
}

static void heap_down(uint32_t i)
{
    struct deadline_entry e = heap[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= heap_len)
            break;
        if (child + 1 < heap_len && heap[child + 1].ms < heap[child].ms)
            child++;
        if (e.ms <= heap[child].ms)
            break;
        heap_place(i, heap[child]);
        i = child;
    }
    heap_place(i, e);
}

static void heap_remove_at(uint32_t i)
{
    BAY0_ASSERT(i < heap_len);
    heap_pos[heap[i].slot] = 0;
    heap_len--;
    if (i == heap_len)
        return;
    struct deadline_entry moved = heap[heap_len];
    heap_place(i, moved);
    if (i > 0 && heap[(i - 1) / 2].ms > moved.ms)
        heap_up(i);
    else
        heap_down(i);
}

void svcmap_deadline_set(uint32_t slot, int64_t deadline_ms)
{
    if (!heap)
        return; /* no table yet */
    BAY0_ASSERT(slot < slot_count && deadline_ms >= 0);
    uint32_t pos = heap_pos[slot];
    if (deadline_ms == 0) {
        if (pos)
            heap_remove_at(pos - 1);
        return;
    }
    if (!pos) {
        BAY0_ASSERT(heap_len < slot_count);
        heap_place(heap_len++, (struct deadline_entry){deadline_ms, slot});
        heap_up(heap_len - 1);
        return;
    }
    int64_t old = heap[pos - 1].ms;
    heap[pos - 1].ms = deadline_ms;
    if (deadline_ms < old)
        heap_up(pos - 1);
    else
        heap_down(pos - 1);
}

int64_t svcmap_deadline_next(void) { return heap_len ? heap[0].ms : 0; }

bool svcmap_deadline_pop_due(int64_t now_ms, uint32_t *slot)
{
    if (heap_len == 0 || heap[0].ms > now_ms)
        return false;
    *slot = heap[0].slot;
    heap_remove_at(0);
    return true;
}

uint32_t svcmap_deadline_count(void) { return heap_len; }
