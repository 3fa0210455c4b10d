/* cli_validate.c — `bay0 validate` (also `bay0 --validate`): options, the
 * run's environment, the checks' table and the output (text or --json).
 *
 * Runs in the client process; never in PID 1's. See validate.h.
 */
#include "cli.h"

#include "cgroup.h"
#include "exec.h"
#include "json.h"
#include "validate.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char validate_usage[] =
    "usage: bay0 validate [--verbose] [--json] [--rundir DIR] [--image IMAGE]\n"
    "  One non-destructive health check of the machine. The first line is\n"
    "  GREEN, YELLOW or RED; then one `component: reason` line per check that\n"
    "  is not green (--verbose: every check, with its milliseconds; --json:\n"
    "  one object). Checks: freezer (a test container is paused: its CPU time\n"
    "  must stop, then resume), persist (marker written and read back), log\n"
    "  (genesis line appended, chain verified), database (recovered?), clock\n"
    "  (behind the last-known-good time?), services (any failed?), network\n"
    "  (any interface but lo up?), umbilical (the AI tenant's socket and peer),\n"
    "  compositor (its Wayland socket served by the weston bay0 started?).\n"
    "  Each has a deadline; nothing is left behind, even if this is killed.\n"
    "  --image: the freezer's image (default $" VALIDATE_IMAGE_ENV " or "
    VALIDATE_IMAGE_DEFAULT ").\n"
    "  Exit 0 GREEN, 1 YELLOW, 2 RED (and 2 for a usage error).\n";

static const struct validate_check checks[] = {
    {"freezer", validate_check_freezer, 45000, "the freezer test did not finish"},
    {"persist", validate_check_persist, 2000, "no answer from the persist disk (hung?)"},
    {"log", validate_check_log, 2000, "the genesis log did not answer (hung disk?)"},
    {"database", validate_check_database, 2000, "the database did not answer (hung disk?)"},
    {"clock", validate_check_clock, 2000, "the last-known-good time could not be read"},
    {"services", validate_check_services, 3000, "the supervisor did not answer (hung?)"},
    {"network", validate_check_network, 1000, "the interfaces could not be listed"},
    {"umbilical", validate_check_umbilical, 9000, "the AI tenant did not answer"},
    {"compositor", validate_check_compositor, 3000, "the compositor's socket did not answer"},
};
_Static_assert(ARRAY_LEN(checks) <= VALIDATE_CHECKS_MAX, "too many checks");

/* Is the first word of the podman command line an executable file? */
static bool podman_present(void)
{
    char cmd[256];
    str_copy(cmd, sizeof cmd, exec_podman_cmdline());
    cmd[strcspn(cmd, " \t")] = '\0';
    if (strchr(cmd, '/') != NULL)
        return access(cmd, X_OK) == 0;
    const char *path = getenv("PATH");
    char dirs[4096];
    str_copy(dirs, sizeof dirs, path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
    for (char *d = strtok(dirs, ":"); d; d = strtok(NULL, ":")) {
        char full[4352];
        struct stat st;
        if (str_fmt(full, sizeof full, "%s/%s", d, cmd) && stat(full, &st) == 0 &&
            S_ISREG(st.st_mode) && access(full, X_OK) == 0)
            return true;
    }
    return false;
}

static void env_setup(struct validate_env *env, const char *rundir, const char *image,
                      bool verbose)
{
    memset(env, 0, sizeof *env);
    env->rundir = cli_rundir(rundir);
    env->verbose = verbose;
    env->main_pid = getpid();
    env->podman = podman_present();
    const char *img = image ? image : getenv(VALIDATE_IMAGE_ENV);
    str_copy(env->image, sizeof env->image, img && img[0] ? img : VALIDATE_IMAGE_DEFAULT);
    snprintf(env->container, sizeof env->container, "sys__validate-%d", (int)env->main_pid);
    char mnt[VALIDATE_PATH_BYTES_MAX], own[VALIDATE_PATH_BYTES_MAX], dir[VALIDATE_PATH_BYTES_MAX * 2];
    if (cgroup_find_mount(mnt, sizeof mnt) && cgroup_find_own(own, sizeof own) &&
        str_fmt(dir, sizeof dir, "%s%s", mnt, own) && access(dir, W_OK) == 0)
        (void)str_fmt(env->cgroup_base, sizeof env->cgroup_base, "%s/bay0-validate.%d",
                      dir, (int)env->main_pid);
}

static void print_text(const struct validate_result *r, size_t n, enum validate_level worst,
                       bool verbose)
{
    printf("%s\n", validate_level_name(worst));
    for (size_t i = 0; i < n; i++) {
        if (verbose)
            printf("%s: %s (%lld ms) %s\n", r[i].name, validate_level_name(r[i].level),
                   (long long)r[i].elapsed_ms, r[i].reason);
        else if (r[i].level != VALIDATE_GREEN)
            printf("%s: %s\n", r[i].name, r[i].reason);
    }
}

static void print_json(const struct validate_result *r, size_t n, enum validate_level worst,
                       int64_t elapsed_ms)
{
    printf("{\"result\":\"%s\",\"exit\":%d,\"elapsed_ms\":%lld,\"checks\":[",
           validate_level_name(worst), (int)worst, (long long)elapsed_ms);
    for (size_t i = 0; i < n; i++) {
        printf("%s{\"name\":\"%s\",\"level\":\"%s\",\"elapsed_ms\":%lld,\"reason\":",
               i ? "," : "", r[i].name, validate_level_name(r[i].level),
               (long long)r[i].elapsed_ms);
        cli_json_str(r[i].reason);
        printf("}");
    }
    printf("]}\n");
}

int cli_validate(int argc, char **argv)
{
    static const struct option longs[] = {
        {"verbose", no_argument, NULL, 'v'}, {"json", no_argument, NULL, 'j'},
        {"rundir", required_argument, NULL, 'r'}, {"image", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},    {NULL, 0, NULL, 0},
    };
    bool verbose = false, json = false;
    const char *rundir = NULL, *image = NULL;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "vjr:i:h", longs, NULL)) != -1) {
        switch (ch) {
        case 'v': verbose = true; break;
        case 'j': json = true; break;
        case 'r': rundir = optarg; break;
        case 'i': image = optarg; break;
        case 'h': printf("%s", validate_usage); return CLI_EXIT_OK;
        default:
            fprintf(stderr, "bay0 validate: unknown option '%s'\n%s", argv[optind - 1],
                    validate_usage);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bay0 validate: takes no arguments ('%s')\n%s", argv[optind],
                validate_usage);
        return CLI_EXIT_USAGE;
    }
    int64_t t0 = time_mono_ms();
    struct validate_env env;
    env_setup(&env, rundir, image, verbose);
    bool guarded = validate_guard_start(&env);
    struct validate_result res[ARRAY_LEN(checks)];
    bool all_answered = validate_run(checks, ARRAY_LEN(checks), &env, res);
    if (guarded)
        validate_guard_done(all_answered);
    else if (!all_answered)
        validate_cleanup(&env);
    enum validate_level worst = VALIDATE_GREEN;
    for (size_t i = 0; i < ARRAY_LEN(checks); i++)
        if (res[i].level > worst)
            worst = res[i].level;
    if (json)
        print_json(res, ARRAY_LEN(checks), worst, time_mono_ms() - t0);
    else
        print_text(res, ARRAY_LEN(checks), worst, verbose);
    return (int)worst;
}
