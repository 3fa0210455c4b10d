/* umbilical.h — bay0's line to a system tenant's unix socket, with the peer
 * verified: the process at the other end (SO_PEERCRED, read in the host's
 * pid namespace where pids are real) must be the tenant container's init
 * process as podman reports it, one of its descendants, or in its cgroup.
 * A socket made by anyone else at that path is refused (and logged).
 *
 * Blocks up to its deadline (podman inspect, connect, one request): only
 * for clients and bay0's own children, never PID 1's loop.
 */
#ifndef BAY0_UMBILICAL_H
#define BAY0_UMBILICAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define UMBILICAL_REPLY_BYTES_MAX 1024
#define UMBILICAL_ANCESTRY_MAX 64 /* parent links followed from the peer */

enum umbilical_result {
    UMBILICAL_OK = 0,
    UMBILICAL_NO_SOCKET,   /* nothing listens there (yet) */
    UMBILICAL_IMPOSTOR,    /* someone else's socket: refused */
    UMBILICAL_NO_TENANT,   /* podman knows no running container of that name */
    UMBILICAL_ERROR,       /* timeout, bad reply, ... */
};

/* Pure: is pid `peer` the container's init `ctr`, its descendant (parent
 * links from /proc under proc_root, at most UMBILICAL_ANCESTRY_MAX), or in
 * the same cgroup2 directory (not the root)? */
bool umbilical_peer_belongs(const char *proc_root, pid_t peer, pid_t ctr);
/* Pure: is `peer` the process `root` or one of its descendants (parent
 * links only: for a process bay0 spawned itself, e.g. the compositor)? */
bool umbilical_peer_descends(const char *proc_root, pid_t peer, pid_t root);
/* connect() to a unix socket path; -1 with reason. */
int umbilical_connect(const char *sock_path, char *reason, size_t size);
/* /proc/PID/comm, "?" when gone. */
void umbilical_comm(pid_t pid, char *out, size_t size);

/* Connect to sock_path, check the peer against container (its pid from
 * `podman inspect` once per container start, then from a cache file that
 * holds only while that process lives: umbilical.c), send request (a line without its newline) and read one reply
 * line into reply, within timeout_ms counted from the verified peer (the
 * inspect has its own deadline). *peer_out (may be NULL) gets the peer's pid. */
enum umbilical_result umbilical_ask(const char *sock_path, const char *container,
                                    const char *request, uint32_t timeout_ms,
                                    char *reply, size_t reply_size, pid_t *peer_out,
                                    char *reason, size_t reason_size);

#endif
