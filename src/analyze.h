/* analyze.h — the recording side of `bay0 analyze` (analyze.c): when
 * this process started and when init completed, on CLOCK_BOOTTIME (the
 * kernel's start is 0), and the control socket's "times" rows. The
 * per-service stamps live in struct svc (svc.h), written by service.c;
 * the persona manager keeps its personas' the same way (analyze_stamp)
 * and answers "times" on its own socket with rows of the same shape.
 */
#ifndef BAY0_ANALYZE_H
#define BAY0_ANALYZE_H

#include "svc.h"

#include <stddef.h>
#include <stdint.h>

/* First thing in main(): this process's start. */
void analyze_mark_start(void);
/* Init complete (PID 1), or the supervisor set up (`bay0 supervise`);
 * the first call counts. */
void analyze_mark_init_done(void);
/* "OK" text of the times reply: "start_us=N init_us=N now_us=N". */
void analyze_summary(char *buf, size_t size);
/* One "T" row of the times reply (without the newline):
 * T name type state depends_on first[5] latest[5] (svc.h's milestones). */
void analyze_row(const struct svc *s, const char *deps, char *row, size_t size);

/* Records milestone k at t (CLOCK_BOOTTIME µs) in a unit's two records:
 * first[] keeps each milestone's first time, latest[] the latest start.
 * WANTED, or a SPAWNED after the latest start already spawned (a restart:
 * wanted when the old run exited), opens a new latest start. Fixed
 * memory: two arrays of STAMP_COUNT, whatever the number of restarts. */
void analyze_stamp(int64_t first[STAMP_COUNT], int64_t latest[STAMP_COUNT], enum svc_stamp k,
                   int64_t t);
/* This process's start (analyze_mark_start), 0 before. */
int64_t analyze_start_us(void);

#endif
