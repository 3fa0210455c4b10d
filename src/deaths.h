/* deaths.h — the death record of each service (s6's death tally): the
 * last max-death-tally deaths of its run process, kept in
 * RUNDIR/deaths/NAME ('/' of a logger's name as '@'), read by
 * `bay0 deaths NAME`.
 *
 * The file is a fixed-size ring in the host's byte order (the rundir never
 * leaves the machine):
 *   header  "bay0dt1\0", capacity u32, next u32, count u32, reserved u32
 *   capacity records of {wall_ns i64 (CLOCK_REALTIME), kind i16
 *   (DEATH_KIND_*), value i16 (exit code or signal number), reserved u32}
 * A record that is there with the service's tally takes each death in
 * place: the death's record, then the header (its bytes exist, so a full
 * disk cannot stop it; a reader in between sees the record before the
 * death). Any other (the first, another tally, a damaged one) is written
 * whole to ".new.NAME" then renamed over NAME: a reader sees the old
 * record or the new one, and a failed write (a full disk) leaves the old.
 * No fsync (/run is tmpfs).
 * A capacity that differs from the service's max-death-tally starts the
 * record over; a tally of 0 removes the file.
 */
#ifndef BAY0_DEATHS_H
#define BAY0_DEATHS_H

#include "svcdir.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEATHS_DIR "deaths" /* under the rundir */
#define DEATHS_MAGIC "bay0dt1"
#define DEATHS_FILE_NAME_BYTES_MAX (SERVICE_NAME_BYTES_MAX + 1)

enum { DEATH_KIND_CODE = 0, DEATH_KIND_SIGNAL = 1 };

struct deaths_header {
    char magic[8];
    uint32_t capacity;
    uint32_t next;  /* the slot the next death goes to */
    uint32_t count; /* records held, at most capacity */
    uint32_t reserved;
};

struct deaths_entry {
    int64_t wall_ns;
    int16_t kind;
    int16_t value;
    uint32_t reserved;
};

_Static_assert(sizeof(struct deaths_header) == 24, "header layout is the file format");
_Static_assert(sizeof(struct deaths_entry) == 16, "record layout is the file format");

#define DEATHS_FILE_BYTES_MAX \
    (sizeof(struct deaths_header) + MAX_DEATH_TALLY_MAX * sizeof(struct deaths_entry))

/* The file name for a service name: '/' becomes '@'. false if it does not
 * fit. Pure. */
bool deaths_file_name(const char *svc_name, char *out, size_t out_size);

/* Supervisor side. deaths_init opens RUNDIR/deaths (made by the caller);
 * without it nothing is recorded (one warn line said why). */
void deaths_init(const char *rundir);
/* Appends one death of the service at slot `slot` (for warn-once). Never
 * fatal: an error is one warn line per slot and run. */
void deaths_record(uint32_t slot, const char *svc_name, uint32_t tally,
                   const struct deaths_entry *death);
/* The service left the table: its record goes too. */
void deaths_forget(const char *svc_name);

/* Reader side (pure): checks a whole file's bytes. On success fills *h and
 * returns NULL; else a static reason ("bad magic", ...). Record i (0 the
 * oldest, < h->count) is deaths_nth(buf, h, i). */
const char *deaths_check(const void *buf, size_t len, struct deaths_header *h);
struct deaths_entry deaths_nth(const void *buf, const struct deaths_header *h, uint32_t i);

#endif
