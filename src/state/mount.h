/* mount.h — find the persist device and mount it at the persist mount
 * point, with a hard deadline; unmount (or remount read-only) at shutdown.
 *
 * Device: the block device whose ext2/3/4 superblock carries the label
 * PERSIST_LABEL (read from /sys/class/block + /dev/NAME, no libblkid),
 * else the fallback named on the kernel command line (bay0.persist=DEV).
 * All I/O on the device happens in a forked child: a device that never
 * answers costs the caller the deadline, never more ("dirty boot").
 *
 * Must never: block the caller past the deadline, or be the place where a
 * caller learns the persist path by name (use state_persist_mountpoint()).
 */
#ifndef BAY0_STATE_MOUNT_H
#define BAY0_STATE_MOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PERSIST_LABEL "persist"
#define PERSIST_FSTYPE "ext4"
#define PERSIST_TIMEOUT_MS_DEFAULT 4000
#define PERSIST_TIMEOUT_MS_MAX 600000
#define PERSIST_DEV_BYTES_MAX 128

enum persist_outcome {
    PERSIST_MOUNTED = 0,
    PERSIST_TIMEOUT,   /* no device found, or it did not answer in time */
    PERSIST_FAILED,    /* found, but mount(2) failed (error says why) */
};

struct persist_request {
    const char *fallback_dev; /* bay0.persist=DEV, or NULL */
    uint32_t timeout_ms;      /* 0 = PERSIST_TIMEOUT_MS_DEFAULT */
    const char *mountpoint;   /* NULL = state_persist_mountpoint() */
    const char *label;        /* NULL = PERSIST_LABEL */
};

struct persist_result {
    enum persist_outcome outcome;
    char dev[PERSIST_DEV_BYTES_MAX]; /* "" if none was found */
    const char *how;                 /* "label", "cmdline" or "none" */
    int error;                       /* errno of mount(2) when FAILED */
    int64_t elapsed_ms;
    const char *mountpoint;
};

/* Called once the child has picked a device, before it mounts it (the
 * "persist mount attempt (DEV)" genesis line). */
typedef void (*persist_attempt_fn)(const char *dev, const char *how,
                                   void *ctx);

/* Find and mount, bounded by req->timeout_ms from the call. */
void persist_mount(const struct persist_request *req, persist_attempt_fn fn,
                   void *ctx, struct persist_result *res);

/* Is anything mounted at the persist mount point (st_dev differs from its
 * parent's)? */
bool persist_is_mounted(const char *mountpoint);

/* Shutdown: umount, else remount read-only, in a bounded child. Logs one
 * line; 0 when unmounted or read-only, -1 otherwise. */
int persist_unmount(const char *mountpoint, uint32_t timeout_ms);

/* Pure, for tests: does this 2048-byte block (bytes 0..2047 of a device)
 * hold an ext2/3/4 superblock with this label? */
bool persist_sb_has_label(const unsigned char *block, size_t len,
                          const char *label);

#endif
