/* focus.h — focus switching: one persona in front, the others frozen.
 *
 * bay0 owns a parent cgroup per persona: the persona manager creates each
 * container with `--cgroup-parent` from focus_cgroup_parent(), so podman
 * (cgroupfs manager) puts the container in ROOT/p__NAME/libpod-ID and
 * conmon in ROOT/p__NAME/conmon (ROOT: $BAY0_PERSONA_CGROUP_ROOT, default
 * /bay0-personas). A focus switch is, inside the supervisor's loop, one
 * freezer write per container: thaw the focused one (cgroup v1
 * freezer.state THAWED, or v2 cgroup.freeze 0), then, after the GPU-detach
 * call site, freeze every other running user persona. The container's own
 * cgroup is frozen, not the parent: conmon keeps running, so podman can
 * still talk to it. That is exactly what `podman pause` does, so a child
 * then runs `podman pause`/`unpause` (deadline each) to bring podman's
 * view to the same place and stores the active persona (state DB); a
 * podman that hangs costs that child its deadline, never the switch.
 * After each such sync the freezer is written again to the intent (a
 * `podman pause` still in flight when the user switched back would
 * otherwise leave the focused persona frozen), and a sync that failed is
 * retried (FOCUS_SYNC_RETRY_MS) until podman agrees. A sync starts only
 * once switching has settled (250 ms after the last switch), and one whose
 * snapshot a newer switch replaced stops before its next podman call (a
 * generation counter shared with the child): at most one podman call can
 * act on an old intent, and what it did is undone when the child ends.
 *
 * System tenants (sys__NAME) are never frozen by focus. The governor gets
 * the personas, their roles and throttling from here, and its decisions
 * (cpu weight, cpu cap, freeze, stop) are carried out here.
 * Never blocks: cgroup files only (pseudo-files); podman and /persist only
 * in children.
 */
#ifndef BAY0_FOCUS_H
#define BAY0_FOCUS_H

#include "persona_name.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FOCUS_CGROUP_ROOT_DEFAULT "/bay0-personas"
#define FOCUS_PERSONAS_MAX 32
#define FOCUS_SYNC_PODMAN_TIMEOUT_MS 10000
#define FOCUS_SYNC_RETRY_MS 10000
#define FOCUS_REPLY_BYTES_MAX 8192

struct focus_persona {
    char container[PERSONA_CONTAINER_BYTES_MAX];
    char semantic[PERSONA_SEMANTIC_BYTES_MAX];
    bool tenant;    /* sys://: never frozen by focus */
    bool running;   /* its container's cgroup holds processes */
    bool frozen;    /* its container's cgroup is frozen (or freezing) */
};

/* ROOT: $BAY0_PERSONA_CGROUP_ROOT or FOCUS_CGROUP_ROOT_DEFAULT. */
const char *focus_cgroup_root(void);
/* "ROOT/CONTAINER", the value of podman create --cgroup-parent. */
bool focus_cgroup_parent(const char *container, char *out, size_t size);
/* The personas that have a parent cgroup under ROOT, in name order. */
uint32_t focus_list(struct focus_persona *out, uint32_t max);
/* Freeze or thaw the container's own cgroup(s) (ROOT/C/libpod-*): one
 * write each. Returns how many were written, -1 with errno if none could. */
int focus_set_frozen(const char *container, bool frozen);
/* CPU time the container's cgroup used (cpuacct.usage or cpu.stat). */
bool focus_cpu_usage_us(const char *container, uint64_t *us);
/* For `persona list`: the container is frozen by bay0 (focus/governor). */
bool focus_is_paused(const char *container);

/* ---- inside the supervisor ------------------------------------------- */
void focus_init(void);
/* The control socket's `focus [--json] [p://NAME]`: fills reply with "I"
 * lines' text (one per line, without the "I "), msg with the final line's
 * text; returns its code (0 done, 1 no, 2 usage, 4 denied). */
int focus_request(int argc, char **argv, bool may_change, char *reply, size_t reply_size,
                  char *msg, size_t msg_size);
/* A child ended: true when it was focus's sync child. */
bool focus_on_exit(pid_t pid, int status);
int64_t focus_deadline_ms(void);
void focus_on_timer(int64_t now_ms);

/* ---- the client ---------------------------------------------------------- */
#define FOCUS_NOT_RUNNING " is not running" /* in an ERR reply: the client starts it, then asks again */
int cli_focus(int argc, char **argv);

#endif
