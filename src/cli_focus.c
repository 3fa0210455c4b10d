/* cli_focus.c — `bay0 focus`, the client (the switch itself is focus.c,
 * in the supervisor). Kept apart so that focus.c, which control.c calls,
 * never includes cli.h (cli.c includes control.h: that was a circle).
 */
#include "cli.h"
#include "focus.h"

#include "util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static const char focus_usage[] =
    "usage: bay0 focus [--json] [--timeout S] [--rundir DIR] [p://NAME]\n"
    "  With p://NAME: make that persona the focused one: it runs again at\n"
    "  once and every other running user persona is frozen (its windows\n"
    "  detached from the compositor first); podman's own view (podman\n"
    "  pause/unpause) and the stored active persona follow in the\n"
    "  background. A persona that is not running is started first\n"
    "  (bay0 persona start, which this command waits for; it says how long\n"
    "  that took). Without a name: print the focused persona and every\n"
    "  persona's state (running, paused, stopped). --json: one object.\n"
    "  Exit 0 done, 1 could not start it, 2 usage, 3 no supervisor or\n"
    "  persona manager, or the governor refuses new starts, 4 not root.\n";

/* `bay0 persona start NAME` as a child of this client, output passed
 * through; its exit status (3 when it could not be run). */
static int start_persona(const struct cli_opts *o, const char *name)
{
    char *args[8];
    int n = 0;
    args[n++] = "bay0";
    args[n++] = "persona";
    args[n++] = "start";
    if (o->rundir) {
        args[n++] = "--rundir";
        args[n++] = (char *)o->rundir;
    }
    args[n++] = (char *)name;
    args[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        execv("/proc/self/exe", args);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return CLI_EXIT_TRYAGAIN;
    return WIFEXITED(status) ? WEXITSTATUS(status) : CLI_EXIT_TRYAGAIN;
}

int cli_focus(int argc, char **argv)
{
    struct cli_opts o = {0};
    int first = cli_parse_opts(argc, argv, &o, focus_usage);
    if (first < 0)
        return -first;
    if (argc - first > 1) {
        fprintf(stderr, "bay0 focus: one persona at most\n%s", focus_usage);
        return CLI_EXIT_USAGE;
    }
    char req[256];
    if (!str_fmt(req, sizeof req, "focus%s%s%s\n", o.json ? " --json" : "", first < argc ? " " : "",
                 first < argc ? argv[first] : "")) {
        fprintf(stderr, "bay0 focus: name too long\n");
        return CLI_EXIT_USAGE;
    }
    if (first == argc)
        return cli_transact_print(&o, req);
    /* Switching: a persona that is not running is started first (through
     * the persona manager, waiting here in the client, never in bay0),
     * then the switch is asked again. */
    char *reply = NULL;
    int rc = cli_transact(&o, req, &reply);
    if (rc != 0)
        return rc;
    bool not_running = strncmp(reply, "ERR 1 ", 6) == 0 && strstr(reply, FOCUS_NOT_RUNNING);
    if (!not_running) {
        rc = cli_print_report(reply);
        free(reply);
        return rc;
    }
    free(reply);
    int64_t t0 = time_mono_ms();
    rc = start_persona(&o, argv[first]);
    if (rc != 0)
        return rc;
    printf("%s started in %lld ms\n", argv[first], (long long)(time_mono_ms() - t0));
    fflush(stdout);
    return cli_transact_print(&o, req);
}
