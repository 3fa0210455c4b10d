/* logring.h — the shared memory between PID 1's loop and the log writer
 * (internal to logger.c and logwriter.c).
 *
 * Layout of the memfd: struct logring_hdr, two bitmaps, the ring headers
 * (struct logring, small and packed together), then the rings' data, one
 * LOG_RING_BYTES block each, page aligned — so a service that never logs
 * never touches a page of data. Ring i is service slot i; ring `slots` is
 * bay0's own log. head is advanced only by the supervisor, tail only by
 * the writer (both monotonic byte counts); byte x of ring i is
 * logring_data(h, i)[x % LOG_RING_BYTES]. The writer's commit protocol:
 *   1. intent = {tail after, midline after, current's size before/after}
 *   2. write the formatted bytes to current
 *   3. tail = intent tail; clear intent
 * A restarted writer finds an intent: current at the "after" size means
 * step 2 completed (commit it); anything else is truncated back to the
 * "before" size and written again.
 */
#ifndef BAY0_LOGRING_H
#define BAY0_LOGRING_H

#include "logger.h"

#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#define LOGRING_PAUSED 1u    /* supervisor stopped reading: ring full */
#define LOGRING_DISK_FULL 2u /* writer cannot write: supervisor drops */
/* Instance ends whose marks can wait at once: each one past the first
 * needs the instance before it to have written into a pipe the supervisor
 * is not reading (a full ring), so a few are plenty; past that the newest
 * end takes the last place and the line before it is not marked. */
#define LOGRING_MARKS_MAX 8u

struct logring {
    _Atomic uint64_t head;
    _Atomic uint64_t tail;
    _Atomic uint64_t dropped_bytes;
    _Atomic uint64_t dropped_lines;
    _Atomic uint32_t flags;
    _Atomic uint32_t generation; /* bumped when the slot gets a service */
    /* configuration, written before generation is bumped */
    char name[72];
    uint32_t max_bytes;
    uint32_t keep;
    uint8_t stamp;
    uint8_t active;
    /* the writer's, persistent across writer restarts */
    uint8_t midline;
    uint8_t intent_valid;
    uint8_t intent_midline;
    /* the supervisor's own (logger.c), never read by the writer */
    uint8_t sup_midline; /* the last byte read from the pipe was not a newline */
    uint8_t sup_marks;   /* instances ended whose partial lines are still to end
                          * (where each ends: logger.c's marks table) */
    /* the writer's */
    uint32_t line_bytes;
    uint32_t intent_line_bytes;
    uint32_t writer_generation;
    uint64_t intent_tail;
    int64_t intent_size_before;
    int64_t intent_size_after;
    uint64_t reported_dropped_lines;
    uint64_t reported_dropped_bytes;
    /* the supervisor's own */
    uint64_t sup_read; /* bytes taken from the pipe since the slot was set up */
} __attribute__((aligned(64)));

/* Every slot has one, touched by both processes: 1,000 services' headers
 * are 188 KiB of the memfd, and a field added here costs N times its size
 * (what only the supervisor needs now and then goes elsewhere). */
_Static_assert(sizeof(struct logring) == 192, "a ring header stays 192 bytes");

struct logring_hdr {
    uint32_t slots; /* service rings; ring `slots` is bay0's own */
    uint32_t words; /* bitmap words */
    _Atomic uint32_t quit;
    _Atomic uint32_t test_writes; /* BAY0_TEST_LOGWRITER_DIE (logwriter.c): writes, */
    _Atomic uint32_t test_fired;  /* and whether it fired */
    int data_efd;   /* supervisor -> writer: rings with new data */
    int resume_efd; /* writer -> supervisor: paused rings with room */
    char logdir[4096];
    /* then: _Atomic uint64_t data_bits[words], resume_bits[words], rings */
} __attribute__((aligned(64)));

static inline _Atomic uint64_t *logring_data_bits(struct logring_hdr *h)
{
    return (_Atomic uint64_t *)(h + 1);
}
static inline _Atomic uint64_t *logring_resume_bits(struct logring_hdr *h)
{
    return logring_data_bits(h) + h->words;
}
/* words is a multiple of 8, so the ring headers stay 64-byte aligned */
static inline struct logring *logring_at(struct logring_hdr *h, uint32_t i)
{
    return (struct logring *)(logring_resume_bits(h) + h->words) + i;
}

#define LOGRING_PAGE_BYTES 4096u

static inline size_t logring_data_offset(uint32_t slots, uint32_t words)
{
    size_t meta = sizeof(struct logring_hdr) + 2 * (size_t)words * sizeof(uint64_t) +
                  ((size_t)slots + 1) * sizeof(struct logring);
    return (meta + LOGRING_PAGE_BYTES - 1) / LOGRING_PAGE_BYTES * LOGRING_PAGE_BYTES;
}

static inline char *logring_data(struct logring_hdr *h, uint32_t i)
{
    return (char *)h + logring_data_offset(h->slots, h->words) + (size_t)i * LOG_RING_BYTES;
}

/* Marks ring i in a bitmap; the first mark since the reader cleared it
 * wakes the reader through efd. */
static inline void logring_set_bit(_Atomic uint64_t *bits, uint32_t i, int efd)
{
    uint64_t mask = 1ull << (i % 64);
    uint64_t old = atomic_fetch_or(&bits[i / 64], mask);
    if (!(old & mask)) {
        uint64_t one = 1;
        (void)!write(efd, &one, sizeof one);
    }
}

/* logwriter.c: the writer process's main loop (never returns). */
_Noreturn void logwriter_main(struct logring_hdr *h);

#endif
