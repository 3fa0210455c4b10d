/* cgroup.h — a cgroup2 directory per service (see cgroup.c). */
#ifndef BAY0_CGROUP_H
#define BAY0_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CGROUP_PATH_BYTES_MAX 1024

struct svc;

/* Finds cgroup2 and makes this supervisor's directory; logs and disables
 * itself when that is not possible. */
void cgroup_init(void);
/* The cgroup2 mount point (from /proc/self/mountinfo), and this process's
 * cgroup2 path under it ("" for the root); false when there is none. */
bool cgroup_find_mount(char *out, size_t size);
bool cgroup_find_own(char *out, size_t size);
/* Each cgroup hierarchy (v1 and v2) in /proc/self/mountinfo:
 * fn(mount point, the text after " - " (type, source, super options), ctx)
 * until fn returns false; false when mountinfo cannot be read. */
typedef bool (*cgroup_mount_fn)(const char *mnt, const char *super, void *ctx);
bool cgroup_each_mount(cgroup_mount_fn fn, void *ctx);
/* The first hierarchy of TYPE ("cgroup2 " or "cgroup ") whose super
 * options name OPTION (NULL: any): its mount point into out. */
bool cgroup_mount_with(const char *type, const char *option, char *out, size_t size);
/* Removes REL ("/a/b") and its subdirectories, one level deep, in every
 * hierarchy: what podman leaves of a --cgroup-parent after `podman rm`
 * (the parent and its conmon). A directory still in use (EBUSY) is tried
 * again every 20 ms for up to wait_ms: conmon and the cleanup it runs
 * leave a moment after `podman rm` returns. True when none is left
 * anywhere. Blocks: never from PID 1's loop. */
bool cgroup_remove_everywhere(const char *rel, uint32_t wait_ms);
/* The service's cgroup, made at its first spawn: an O_PATH fd of the
 * directory (for clone3's CLONE_INTO_CGROUP; the caller closes it) and the
 * path of its cgroup.procs (for the vfork fallback); -1 without cgroups.
 * Writes the service's cgroup limits (contain.h) into it first: a file's
 * value, or the kernel's default for a file that is gone (removing one
 * lifts its limit at the next start). A controller the cgroup lacks is
 * logged once per supervisor, naming the service and file that asked for
 * it; the service starts without that limit. Without cgroup2: one line. */
struct contain;
/* c: the service's containment files as loaded for this start (service.c
 * reads them once per start), NULL when it has none or they cannot be
 * read (the spawn is then refused: nothing is written). */
int cgroup_prepare(const struct svc *s, const struct contain *c, char *procs, size_t size);
/* SIGKILL to everything left in the service's cgroup (cgroup.procs). */
void cgroup_kill(const struct svc *s);
void cgroup_remove(const struct svc *s);
/* Move the calling process into CGROUP2/name (made if missing), outside
 * every supervisor's tree. For bay0's own helpers that start processes no
 * service owns (podman's conmon keeps a persona's container alive: it must
 * not die when the persona manager's cgroup is killed). Blocks on the
 * cgroup filesystem (one RCU grace period): never from PID 1's loop. */
bool cgroup_escape(const char *name);
/* At exit: remove every service's cgroup and this supervisor's. */
void cgroup_cleanup(void);

#endif
