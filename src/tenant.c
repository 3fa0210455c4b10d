/* tenant.c — the AI system tenant sys://ai (see tenant.h): its envelope
 * config, `bay0 tenant run ai` (the service's run), `bay0 tenant ask ai`
 * and `bay0 tenant check ai`.
 *
 * Owns: the podman command line of the tenant and its readiness. Runs as a
 * service's process (or a client); never in PID 1's process; never
 * touches /persist.
 */
#include "tenant.h"

#include "cli.h"
#include "exec.h"
#include "focus.h"
#include "log.h"
#include "umbilical.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TENANT_READY_POLL_MS 50
#define TENANT_ASK_MS_DEFAULT 3000
#define TENANT_RM_MS 15000
#define TENANT_PATH_BYTES_MAX 512

void tenant_ai_conf_defaults(struct tenant_ai_conf *c)
{
    memset(c, 0, sizeof *c);
    str_copy(c->image, sizeof c->image, TENANT_AI_IMAGE_DEFAULT);
    c->cpus_milli = 1000;
    c->cpu_shares = 256;
    c->memory_bytes = 256ull << 20;
    c->memory_swap_bytes = 256ull << 20;
    c->oom_score_adj = 900;
    c->drain_ms = 5000;
    c->ready_ms = 10000;
}

/* "1.5" -> 1500 (at most three decimals). */
static bool parse_milli(const char *s, uint64_t max_milli, uint32_t *out)
{
    uint64_t whole = 0, frac = 0;
    int digits = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((whole = whole * 10 + (uint64_t)(*p - '0')) > max_milli)
            return false;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac = frac * 10 + (uint64_t)(*p - '0');
    if (*p != '\0' || digits > 3)
        return false;
    for (; digits < 3; digits++)
        frac *= 10;
    uint64_t v = whole * 1000 + frac;
    if (v > max_milli)
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool conf_set(struct tenant_ai_conf *c, const char *key, const char *val,
                     char *why, size_t size)
{
    uint64_t v;
    if (strcmp(key, "image") == 0)
        return str_copy(c->image, sizeof c->image, val) ||
               reason_fail(why, size, "image longer than %d bytes", TENANT_IMAGE_BYTES_MAX - 1);
    if (strcmp(key, "cpus") == 0)
        return (parse_milli(val, 64000, &c->cpus_milli) && c->cpus_milli >= 10) ||
               reason_fail(why, size, "cpus must be 0.01 to 64 (a CPU cap), not '%s'", val);
    if (strcmp(key, "cpu-shares") == 0)
        return (parse_u64(val, 1023, &v) && v >= 2 && (c->cpu_shares = (uint32_t)v)) ||
               reason_fail(why, size, "cpu-shares must be 2 to 1023 (below every persona's "
                           "1024), not '%s'", val);
    if (strcmp(key, "memory") == 0)
        return (parse_size(val, &c->memory_bytes) && c->memory_bytes >= (6u << 20)) ||
               reason_fail(why, size, "memory must be bytes with K/M/G, at least 6M, not "
                           "'%s'", val);
    if (strcmp(key, "memory-swap") == 0)
        return parse_size(val, &c->memory_swap_bytes) ||
               reason_fail(why, size, "memory-swap must be bytes with K/M/G, not '%s'", val);
    if (strcmp(key, "oom-score-adj") == 0)
        return (parse_u64(val, 1000, &v) && v >= 1 && ((c->oom_score_adj = (int32_t)v), true)) ||
               reason_fail(why, size, "oom-score-adj must be 1 to 1000 (the tenant dies "
                           "first), not '%s'", val);
    if (strcmp(key, "drain-ms") == 0)
        return (parse_u64(val, 600000, &v) && ((c->drain_ms = (uint32_t)v), true)) ||
               reason_fail(why, size, "drain-ms must be 0 to 600000, not '%s'", val);
    if (strcmp(key, "ready-ms") == 0)
        return (parse_u64(val, 600000, &v) && v >= 100 && ((c->ready_ms = (uint32_t)v), true)) ||
               reason_fail(why, size, "ready-ms must be 100 to 600000, not '%s'", val);
    return reason_fail(why, size, "unknown key '%.40s' (image, cpus, cpu-shares, memory, "
                       "memory-swap, oom-score-adj, drain-ms, ready-ms)", key);
}

bool tenant_ai_conf_parse(const char *text, struct tenant_ai_conf *c, char *reason,
                          size_t size)
{
    tenant_ai_conf_defaults(c);
    unsigned lineno = 0;
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        lineno++;
        char buf[TENANT_IMAGE_BYTES_MAX + 64];
        if (n >= sizeof buf)
            return reason_fail(reason, size, "line %u: longer than %zu bytes", lineno,
                               sizeof buf - 1);
        memcpy(buf, line, n);
        buf[n] = '\0';
        line = nl ? nl + 1 : NULL;
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        char key[32], val[TENANT_IMAGE_BYTES_MAX], extra[2];
        int got = sscanf(buf, "%31s %255s %1s", key, val, extra);
        if (got <= 0)
            continue;
        if (got != 2)
            return reason_fail(reason, size, "line %u: want 'KEY VALUE'", lineno);
        char why[200];
        if (!conf_set(c, key, val, why, sizeof why))
            return reason_fail(reason, size, "line %u: %s", lineno, why);
    }
    if (c->memory_swap_bytes < c->memory_bytes)
        return reason_fail(reason, size, "memory-swap (%" PRIu64 ") must be at least memory "
                           "(%" PRIu64 "): it counts memory plus swap", c->memory_swap_bytes,
                           c->memory_bytes);
    return true;
}

static const char *conf_path(void)
{
    const char *env = getenv(TENANT_AI_CONF_ENV);
    return env && env[0] ? env : TENANT_AI_CONF_DEFAULT;
}

bool tenant_ai_configured(char *path, size_t size)
{
    str_copy(path, size, conf_path());
    return access(path, F_OK) == 0;
}

bool tenant_ai_socket_path(const char *rundir, char *out, size_t size)
{
    return str_fmt(out, size, "%s/" TENANT_AI_DIR "/" TENANT_AI_SOCKET, rundir);
}

/* Read and check the config file; prints the error. */
static bool conf_load(struct tenant_ai_conf *c)
{
    char text[TENANT_CONF_BYTES_MAX], reason[300];
    const char *path = conf_path();
    if (file_read_small(AT_FDCWD, path, text, sizeof text) < 0) {
        fprintf(stderr, "bay0 tenant: %s: cannot read %s: %s\n", TENANT_AI_NAME, path,
                strerror(errno));
        return false;
    }
    if (!tenant_ai_conf_parse(text, c, reason, sizeof reason)) {
        fprintf(stderr, "bay0 tenant: %s: %s: %s; the tenant is not started (fix the file, "
                "then bay0 restart the tenant's service)\n", TENANT_AI_NAME, path, reason);
        return false;
    }
    return true;
}

/* ---- bay0 tenant run ai ------------------------------------------------- */

static bool run_argv(struct exec_argv *a, const struct tenant_ai_conf *c, const char *dir)
{
    char cpus[32], shares[32], mem[32], swap[32], oom[32], drain[48], vol[TENANT_PATH_BYTES_MAX + 32],
        stop[32];
    snprintf(cpus, sizeof cpus, "%u.%03u", c->cpus_milli / 1000, c->cpus_milli % 1000);
    snprintf(shares, sizeof shares, "%u", c->cpu_shares);
    snprintf(mem, sizeof mem, "%" PRIu64, c->memory_bytes);
    snprintf(swap, sizeof swap, "%" PRIu64, c->memory_swap_bytes);
    snprintf(oom, sizeof oom, "%d", (int)c->oom_score_adj);
    snprintf(drain, sizeof drain, "AI_DRAIN_MS=%u", c->drain_ms);
    snprintf(stop, sizeof stop, "%u", c->drain_ms / 1000 + 2);
    if (!str_fmt(vol, sizeof vol, "%s:" TENANT_AI_MOUNT, dir))
        return false;
    /* under the parent cgroup bay0 owns (focus.h): the governor freezes or
     * stops the sacrificial tenant there under memory pressure */
    char parent[TENANT_PATH_BYTES_MAX];
    if (!focus_cgroup_parent(TENANT_AI_CONTAINER, parent, sizeof parent))
        return false;
    exec_argv_init(a);
    exec_argv_podman(a);
    const char *args[] = {"run", "--rm", "--pull=never", "--name", TENANT_AI_CONTAINER,
                          "--cgroup-parent", parent,
                          "--network", "none", "--security-opt", "no-new-privileges",
                          "--cpus", cpus, "--cpu-shares", shares, "--memory", mem,
                          "--memory-swap", swap, "--oom-score-adj", oom, "--stop-timeout",
                          stop, "-e", drain, "-v", vol, "--label",
                          "bay0.tenant=" TENANT_AI_NAME, c->image};
    for (size_t i = 0; i < ARRAY_LEN(args); i++)
        exec_argv_add(a, args[i]);
    return !a->overflow;
}

/* The socket's directory, made fresh: no stale socket of an earlier run. */
static bool sock_dir(const char *rundir, char *dir, size_t size, char *sock, size_t sock_size)
{
    char parent[TENANT_PATH_BYTES_MAX];
    if (!str_fmt(parent, sizeof parent, "%s/tenants", rundir) ||
        !str_fmt(dir, size, "%s/" TENANT_AI_DIR, rundir) ||
        !tenant_ai_socket_path(rundir, sock, sock_size))
        return false;
    if ((mkdir(rundir, 0755) != 0 && errno != EEXIST) ||
        (mkdir(parent, 0755) != 0 && errno != EEXIST) ||
        (mkdir(dir, 0755) != 0 && errno != EEXIST)) {
        fprintf(stderr, "bay0 tenant: cannot make %s: %s\n", dir, strerror(errno));
        return false;
    }
    (void)unlink(sock);
    return true;
}

static void remove_stale(void)
{
    struct exec_argv a;
    exec_argv_init(&a);
    exec_argv_podman(&a);
    exec_argv_add(&a, "rm");
    exec_argv_add(&a, "-f");
    exec_argv_add(&a, "-t");
    exec_argv_add(&a, "0");
    exec_argv_add(&a, TENANT_AI_CONTAINER);
    (void)exec_run(&a, TENANT_RM_MS, "podman-rm", TENANT_AI_NAME ": a stale container", NULL,
                   NULL, NULL);
}

static pid_t start_container(const struct exec_argv *a)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        child_signals_for_exec();
        execvp(a->argv[0], a->argv);
        fprintf(stderr, "bay0 tenant: cannot run %s: %s\n", a->argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* The umbilical answers "pong" from inside the container? */
static bool tenant_answers(const char *sock)
{
    char reply[64], reason[300];
    enum umbilical_result r = umbilical_ask(sock, TENANT_AI_CONTAINER, "ping", 1000, reply,
                                            sizeof reply, NULL, reason, sizeof reason);
    if (r == UMBILICAL_IMPOSTOR)
        log_warn("tenant=%s event=not-ready reason=\"%s\"", TENANT_AI_NAME, reason);
    return r == UMBILICAL_OK && strcmp(reply, "pong") == 0;
}

static int child_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Wait for the container's end, forwarding stop signals; until then, say
 * ready once the umbilical answers (or give up at ready-ms). */
static int supervise_container(pid_t child, const char *sock, int notify_fd,
                               const struct tenant_ai_conf *c, const sigset_t *set)
{
    int64_t t0 = time_mono_ms(), deadline = t0 + c->ready_ms;
    bool ready = false, stopping = false;
    for (;;) {
        int status;
        if (waitpid(child, &status, WNOHANG) == child) {
            int rc = child_status(status);
            log_info("tenant=%s event=ended status=%d ms=%lld", TENANT_AI_NAME, rc,
                     (long long)(time_mono_ms() - t0));
            return stopping && rc == 0 ? 0 : rc == 0 ? 1 : rc;
        }
        if (!ready && !stopping && tenant_answers(sock)) {
            ready = true;
            log_info("tenant=%s event=ready ms=%lld socket=%s", TENANT_AI_NAME,
                     (long long)(time_mono_ms() - t0), sock);
            if (notify_fd >= 0) {
                (void)!write(notify_fd, "\n", 1);
                close(notify_fd);
            }
        }
        if (!ready && !stopping && time_mono_ms() > deadline) {
            log_error("tenant=%s event=not-ready-in-time ready_ms=%u: stopping it",
                      TENANT_AI_NAME, c->ready_ms);
            kill(child, SIGTERM);
            stopping = true;
        }
        struct timespec ts = {0, TENANT_READY_POLL_MS * 1000000L};
        int sig = sigtimedwait(set, NULL, ready || stopping ? NULL : &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info("tenant=%s event=stop signal=%s drain_ms=%u", TENANT_AI_NAME,
                     signal_name(sig), c->drain_ms);
            kill(child, sig); /* podman proxies it: the server drains */
            stopping = true;
        }
    }
}

static int tenant_run(const char *rundir, int notify_fd)
{
    struct tenant_ai_conf c;
    char path[TENANT_PATH_BYTES_MAX];
    if (!tenant_ai_configured(path, sizeof path)) {
        fprintf(stderr, "bay0 tenant: %s is not configured (no %s): not started\n",
                TENANT_AI_NAME, path);
        return 0;
    }
    if (!conf_load(&c))
        return TENANT_EXIT_CONFIG;
    char dir[TENANT_PATH_BYTES_MAX], sock[TENANT_PATH_BYTES_MAX];
    struct exec_argv a;
    if (!sock_dir(rundir, dir, sizeof dir, sock, sizeof sock) || !run_argv(&a, &c, dir))
        return TENANT_EXIT_CONFIG;
    remove_stale();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    pid_t child = start_container(&a);
    if (child < 0) {
        fprintf(stderr, "bay0 tenant: fork: %s\n", strerror(errno));
        return 1;
    }
    log_info("tenant=%s event=started pid=%d cpus=%u.%03u cpu_shares=%u memory=%" PRIu64
             " memory_swap=%" PRIu64 " oom_score_adj=%d image=%s", TENANT_AI_NAME, (int)child,
             c.cpus_milli / 1000, c.cpus_milli % 1000, c.cpu_shares, c.memory_bytes,
             c.memory_swap_bytes, (int)c.oom_score_adj, c.image);
    return supervise_container(child, sock, notify_fd, &c, &set);
}

/* ---- the command ---------------------------------------------------------- */

static const char tenant_usage[] =
    "usage: bay0 tenant run ai [--rundir DIR] [--notify-fd N]\n"
    "       bay0 tenant ask ai [--rundir DIR] [--timeout-ms MS] REQUEST...\n"
    "       bay0 tenant check ai\n"
    "       bay0 tenant run compositor [--rundir DIR] [--notify-fd N] [--ready-ms MS]\n"
    "                                  [--socket NAME] [--user USER] -- COMMAND...\n"
    "  The AI system tenant sys://ai (container sys__ai). run: the tenant's\n"
    "  service run (exec bay0 tenant run ai): the envelope from $" TENANT_AI_CONF_ENV "\n"
    "  or " TENANT_AI_CONF_DEFAULT " (a bad value: exit 111, nothing started),\n"
    "  the container in the foreground, ready on fd N once the server in it\n"
    "  answers through RUNDIR/" TENANT_AI_DIR "/" TENANT_AI_SOCKET " (peer checked);\n"
    "  SIGTERM drains it. ask: one request through the verified socket (ping,\n"
    "  health, echo TEXT); exit 0 answered, 1 refused (impostor) or no tenant,\n"
    "  3 no answer. check: print the effective envelope; exit 1 when invalid.\n"
    "  compositor (sys://compositor): COMMAND (e.g. weston --backend=headless-\n"
    "  backend.so --socket=wayland-0) with XDG_RUNTIME_DIR=RUNDIR/tenants/\n"
    "  compositor; ready only when connect() to its socket NAME (wayland-0)\n"
    "  reaches that process or a descendant (SO_PEERCRED), within MS (5000);\n"
    "  --user: COMMAND runs as USER, whose uid the peer must have too.\n";

static int tenant_ask(const char *rundir, uint32_t timeout_ms, int argc, char **argv)
{
    char req[UMBILICAL_REPLY_BYTES_MAX] = "";
    size_t used = 0;
    for (int i = 0; i < argc; i++) {
        int n = snprintf(req + used, sizeof req - used, "%s%s", i ? " " : "", argv[i]);
        if (n < 0 || (size_t)n >= sizeof req - used) {
            fprintf(stderr, "bay0 tenant ask: request too long\n");
            return CLI_EXIT_USAGE;
        }
        used += (size_t)n;
    }
    char sock[TENANT_PATH_BYTES_MAX], reply[UMBILICAL_REPLY_BYTES_MAX], reason[300];
    if (!tenant_ai_socket_path(rundir, sock, sizeof sock))
        return CLI_EXIT_USAGE;
    enum umbilical_result r = umbilical_ask(sock, TENANT_AI_CONTAINER, req, timeout_ms, reply,
                                            sizeof reply, NULL, reason, sizeof reason);
    if (r == UMBILICAL_OK) {
        printf("%s\n", reply);
        return CLI_EXIT_OK;
    }
    fprintf(stderr, "bay0 tenant ask: %s: %s\n", TENANT_AI_NAME, reason);
    return r == UMBILICAL_IMPOSTOR || r == UMBILICAL_NO_TENANT ? CLI_EXIT_NO
                                                               : CLI_EXIT_TRYAGAIN;
}

static int tenant_check(void)
{
    struct tenant_ai_conf c;
    char path[TENANT_PATH_BYTES_MAX];
    if (!tenant_ai_configured(path, sizeof path))
        printf("%s: not configured (no %s); defaults:\n", TENANT_AI_NAME, path);
    else if (!conf_load(&c))
        return CLI_EXIT_NO;
    else
        printf("%s: %s is valid:\n", TENANT_AI_NAME, path);
    if (access(path, F_OK) != 0)
        tenant_ai_conf_defaults(&c);
    printf("image %s\ncpus %u.%03u\ncpu-shares %u\nmemory %" PRIu64 "\nmemory-swap %" PRIu64
           "\noom-score-adj %d\ndrain-ms %u\nready-ms %u\n", c.image, c.cpus_milli / 1000,
           c.cpus_milli % 1000, c.cpu_shares, c.memory_bytes, c.memory_swap_bytes,
           (int)c.oom_score_adj, c.drain_ms, c.ready_ms);
    return CLI_EXIT_OK;
}

int cli_tenant(int argc, char **argv)
{
    static const struct option longs[] = {
        {"rundir", required_argument, NULL, 'r'}, {"notify-fd", required_argument, NULL, 'n'},
        {"timeout-ms", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"ready-ms", required_argument, NULL, 'R'}, {"socket", required_argument, NULL, 's'},
        {"user", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    const char *rundir = NULL, *sock_name = COMPOSITOR_SOCKET_DEFAULT, *user = NULL;
    uint64_t ready_ms = COMPOSITOR_READY_MS_DEFAULT;
    uint64_t notify_fd = UINT64_MAX, timeout_ms = TENANT_ASK_MS_DEFAULT;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "r:n:t:hR:s:u:", longs, NULL)) != -1) {
        switch (ch) {
        case 'r': rundir = optarg; break;
        case 'n':
            if (!parse_u64(optarg, 1024, &notify_fd))
                goto usage;
            break;
        case 't':
            if (!parse_u64(optarg, 600000, &timeout_ms))
                goto usage;
            break;
        case 'R':
            if (!parse_u64(optarg, 600000, &ready_ms) || ready_ms < 100)
                goto usage;
            break;
        case 's':
            if (name_check(optarg, 64) != NULL)
                goto usage;
            sock_name = optarg;
            break;
        case 'u': user = optarg; break;
        case 'h': printf("%s", tenant_usage); return CLI_EXIT_OK;
        default: goto usage;
        }
    }
    if (argc - optind >= 3 && strcmp(argv[optind], "run") == 0 &&
        strcmp(argv[optind + 1], "compositor") == 0)
        return compositor_run(cli_rundir(rundir),
                              notify_fd == UINT64_MAX ? -1 : (int)notify_fd,
                              (uint32_t)ready_ms, sock_name, user, argv + optind + 2);
    if (argc - optind < 2 || strcmp(argv[optind + 1], "ai") != 0)
        goto usage;
    const char *verb = argv[optind];
    rundir = cli_rundir(rundir);
    if (strcmp(verb, "run") != 0)
        log_set_level(LOG_LEVEL_WARN); /* a client: only what went wrong */
    if (strcmp(verb, "run") == 0 && argc - optind == 2)
        return tenant_run(rundir, notify_fd == UINT64_MAX ? -1 : (int)notify_fd);
    if (strcmp(verb, "ask") == 0 && argc - optind > 2)
        return tenant_ask(rundir, (uint32_t)timeout_ms, argc - optind - 2, argv + optind + 2);
    if (strcmp(verb, "check") == 0 && argc - optind == 2)
        return tenant_check();
usage:
    fprintf(stderr, "bay0 tenant: bad arguments (tenants: ai; compositor for run)\n%s",
            tenant_usage);
    return CLI_EXIT_USAGE;
}
