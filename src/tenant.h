/* tenant.h — system tenants owned by the Spine. This phase: the AI tenant
 * sys://ai (container sys__ai), a small server of ours (tenants/ai/) on a
 * unix socket, run by podman inside an envelope read from one config file.
 *
 * It is supervised like any service: its service directory's run is
 * `exec bay0 tenant run ai`, which checks the config (a bad value: one
 * error line, exit 111, nothing started), starts the container in the
 * foreground, says ready on the notification fd only once the umbilical
 * (umbilical.h) reaches the server inside that container, and forwards
 * SIGTERM so the server drains before the container stops.
 *
 * Never runs in PID 1's process; never touches /persist.
 */
#ifndef BAY0_TENANT_H
#define BAY0_TENANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TENANT_AI_NAME "sys://ai"
#define TENANT_AI_CONTAINER "sys__ai"
#define TENANT_AI_CONF_DEFAULT "/etc/bay0/tenants/ai.conf"
#define TENANT_AI_CONF_ENV "BAY0_AI_CONF"
/* The socket's directory: RUNDIR/tenants/ai on the host, bind-mounted at
 * TENANT_AI_MOUNT in the tenant and in every persona that asks for it. */
#define TENANT_AI_DIR "tenants/ai"
#define TENANT_AI_MOUNT "/run/bay0-ai"
#define TENANT_AI_SOCKET "ai.sock"
#define TENANT_AI_IMAGE_DEFAULT "localhost/bay0-ai:latest"
#define TENANT_CONF_BYTES_MAX 4096
#define TENANT_IMAGE_BYTES_MAX 256
#define TENANT_EXIT_CONFIG 111 /* the run's exit code for a bad config */

struct tenant_ai_conf {
    char image[TENANT_IMAGE_BYTES_MAX];
    uint32_t cpus_milli;        /* --cpus, in thousandths of a CPU */
    uint32_t cpu_shares;        /* --cpu-shares: below every persona's (1024) */
    uint64_t memory_bytes;      /* --memory */
    uint64_t memory_swap_bytes; /* --memory-swap (memory + swap) */
    int32_t oom_score_adj;      /* --oom-score-adj: dies before bay0 and the compositor */
    uint32_t drain_ms;          /* requests in flight may finish within this */
    uint32_t ready_ms;          /* the umbilical must answer within this of the start */
};

/* The defaults (documented in bay0(8)). */
void tenant_ai_conf_defaults(struct tenant_ai_conf *c);
/* Pure: parse "KEY VALUE" lines (# comments) over the defaults. false with
 * reason "line N: ..." on an unknown key or a bad value. */
bool tenant_ai_conf_parse(const char *text, struct tenant_ai_conf *c, char *reason,
                          size_t size);
/* Is the AI tenant configured (its config file exists)? path gets the
 * file's name ($BAY0_AI_CONF or the default). */
bool tenant_ai_configured(char *path, size_t size);
/* RUNDIR/tenants/ai/ai.sock */
bool tenant_ai_socket_path(const char *rundir, char *out, size_t size);

/* `bay0 tenant run|ask|check ai ...`, `bay0 tenant run compositor ...` */
int cli_tenant(int argc, char **argv);

/* compositor.c: the compositor sys://compositor (see there), run by the
 * service named COMPOSITOR_SERVICE; its XDG_RUNTIME_DIR is RUNDIR/COMPOSITOR_DIR. */
#define COMPOSITOR_NAME "sys://compositor"
#define COMPOSITOR_SERVICE "compositor"
#define COMPOSITOR_DIR "tenants/compositor"
#define COMPOSITOR_SOCKET_DEFAULT "wayland-0"
/* RUNDIR/COMPOSITOR_SOCKET_FILE: the socket name of the running compositor
 * (its --socket), written when it is ready, for validate; root's directory,
 * not the compositor user's. */
#define COMPOSITOR_SOCKET_FILE "tenants/compositor.socket"
#define COMPOSITOR_READY_MS_DEFAULT 5000
int compositor_run(const char *rundir, int notify_fd, uint32_t ready_ms, const char *socket_name,
                   const char *user, char **cmd);

#endif
