/* cgroup.h — a cgroup2 directory per service (see cgroup.c). */
#ifndef BAY0_CGROUP_H
#define BAY0_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

#define CGROUP_PATH_BYTES_MAX 1024

struct svc;

/* Finds cgroup2 and makes this supervisor's directory; logs and disables
 * itself when that is not possible. */
void cgroup_init(void);
/* Creates the service's cgroup (if needed) and gives the path of its
 * cgroup.procs, which the child writes "0" to before exec. */
bool cgroup_procs_path(const struct svc *s, char *out, size_t size);
/* An O_PATH fd of the service's cgroup directory (for clone3's
 * CLONE_INTO_CGROUP), or -1; the caller closes it. */
int cgroup_dir_fd(const struct svc *s);
/* SIGKILL to everything left in the service's cgroup (cgroup.procs). */
void cgroup_kill(const struct svc *s);
void cgroup_remove(const struct svc *s);
/* At exit: remove every service's cgroup and this supervisor's. */
void cgroup_cleanup(void);

#endif
