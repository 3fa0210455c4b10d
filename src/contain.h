/* contain.h — a service's containment files (issue 19).
 *
 * cgroup v2 limits, written by the supervisor into the service's own
 * cgroup before each start: memory.max, memory.swap.max, pids.max,
 * cpu.max, cpu.weight, io.weight (the kernel's file names and formats).
 * Set by the child before its exec: no-new-privs (PR_SET_NO_NEW_PRIVS),
 * oom-score-adj (/proc/self/oom_score_adj), capabilities (the capability
 * bounding set kept; every other capability is dropped from the bounding,
 * inheritable and ambient sets).
 *
 * Read when a service directory is scanned (a bad value is a configuration
 * error naming the file, the value and the rule) and again at each start
 * of a service whose directory had one (an edit takes effect at the next
 * start), by the supervisor before the clone; the child only makes the
 * calls (cgroup_apply_limits in cgroup.c writes the knobs). Pure parsing:
 * never allocates, never blocks beyond reading nine small files.
 */
#ifndef BAY0_CONTAIN_H
#define BAY0_CONTAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum contain_knob {
    CONTAIN_MEMORY_MAX,
    CONTAIN_MEMORY_SWAP_MAX,
    CONTAIN_PIDS_MAX,
    CONTAIN_CPU_MAX,
    CONTAIN_CPU_WEIGHT,
    CONTAIN_IO_WEIGHT,
    CONTAIN_KNOBS
};

#define CONTAIN_VALUE_BYTES 32
#define CONTAIN_FILES 9 /* the six knobs, no-new-privs, oom-score-adj, capabilities */

struct contain {
    char cg[CONTAIN_KNOBS][CONTAIN_VALUE_BYTES]; /* what to write; "" = no file */
    bool no_new_privs;
    bool oom_set;
    int16_t oom_score_adj;
    bool caps_set;
    uint64_t caps_keep; /* bit n: capability n stays in the bounding set */
};

/* The file names, for the scan's listing (svcdir.c). */
extern const char *const contain_file_names[CONTAIN_FILES];

/* Reads a small file of a service directory, trailing whitespace
 * stripped: 1, 0 when it is absent, -1 with a reason naming it (shared
 * with svcdir.c). */
int svcdir_file_read(int dirfd, const char *file, char *buf, size_t size, char *reason,
                     size_t reason_size);

/* Reads the containment files of the directory dirfd. 0 (absent files
 * leave their field unset), or -1 with a reason naming the file, the
 * value and the rule. */
int contain_load(int dirfd, struct contain *c, char *reason, size_t reason_size);

#endif
