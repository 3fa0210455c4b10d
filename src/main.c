/* main.c — argument parsing and subcommand dispatch for the one bay0 binary.
 * When started as PID 1 (or as `bay0 init`) it hands over to init.c.
 * Never touches /persist.
 */
#include "analyze.h"
#include "cli.h"
#include "focus.h"
#include "init.h"
#include "logger.h"
#include "persona_mgr.h"
#include "state/state.h"
#include "tenant.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct command {
    const char *name;
    int (*fn)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;
};

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const struct command commands[] = {
    {"supervise", cli_supervise, "run the supervisor on a scan directory"},
    {"init", init_main, "run as the machine's PID 1 (automatic when PID is 1)"},
    {"status", cli_status, "show services: NAME STATE PID UPTIME RESTARTS"},
    {"start", cli_start, "start services and wait until they are up"},
    {"stop", cli_stop, "stop services and wait until they are down"},
    {"restart", cli_restart, "restart services and wait until they are up"},
    {"signal", cli_signal, "send a signal to services' process groups"},
    {"reload", cli_reload, "rescan the scan directory"},
    {"enable", cli_enable, "start a service at boot (kept: down file or state database)"},
    {"disable", cli_disable, "keep a service down at boot (kept: down file or state database)"},
    {"log", cli_log, "print a service's log (-n N lines, -f to follow)"},
    {"logger", logger_cli_main, "s6-log-like logger on stdin (for log/run)"},
    {"deps", cli_deps, "print the dependency graph (text or --dot)"},
    {"analyze", cli_analyze, "where boot time went: totals, blame, critical-chain, plot (SVG)"},
    {"events", cli_events, "stream state changes as they happen (--json: one object a line)"},
    {"deaths", cli_deaths, "print a service's recorded deaths (max-death-tally)"},
    {"focus", cli_focus, "switch the focused persona (others freeze) or show it"},
    {"governor", cli_governor, "show the thermal + PSI governor: inputs, level, decisions"},
    {"shutdown", cli_shutdown, "stop every service and end the supervisor"},
    {"poweroff", cli_shutdown, "stop everything and power off (root only)"},
    {"reboot", cli_shutdown, "stop everything and reboot (root only)"},
    {"halt", cli_shutdown, "stop everything and halt (root only)"},
    {"tenant", cli_tenant, "the AI system tenant sys://ai: run, ask, check"},
    {"validate", cli_validate, "health check: GREEN/YELLOW/RED (also --validate)"},
    {"persona", cli_persona, "personas (podman containers): create start stop restart reset rm list logs"},
    {"reconcile", cli_reconcile, "make podman agree with the personas' intent (--dry-run, --json)"},
    {"persona-manager", persona_mgr_main, "internal: the persona manager (the service 'personas')"},
    {"nack", state_cli_nack, "list/add/rm candidate hashes never to reinstall"},
    {"genesis", state_cli_genesis, "verify or append the hash-chained genesis log"},
    {"state-debug", state_cli_debug, "internal: state module test hooks"},
    {"version", cmd_version, "print the version"},
    {"help", cmd_help, "this help; help TOPIC: the man page part (help topics)"},
};

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("bay0 %s\n", BAY0_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv)
{
    if (argc > 1)
        return cli_help_topic(argv[1]);
    printf("usage: bay0 COMMAND [ARGS...]\n\n"
           "bay0 is a PID 1 and service supervisor for s6/runit-style "
           "service directories.\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        printf("  %-10s %s\n", commands[i].name, commands[i].summary);
    printf("\n`bay0 COMMAND --help` describes one command; the man page "
           "bay0(8) has the rest\n(`make install` installs it; docs/bay0.8 "
           "in the source, `man -l` reads it).\n`bay0 help TOPIC` prints "
           "its part for a command, a section or a service file, from\nthe "
           "pages inside this binary (where no man is: the Spine); "
           "`bay0 help topics` lists them.\nClients find the supervisor through --rundir DIR or "
           "BAY0_RUNDIR (default /run/bay0).\n"
           "Exit codes: 0 done, 1 no (not reached, not running, failed), "
           "2 usage, 3 try again (no supervisor, timeout), 4 permission "
           "denied.\n");
    return 0;
}

int main(int argc, char **argv)
{
    analyze_mark_start(); /* kernel to here: `bay0 analyze` */
    if (getpid() != 1)
        signal(SIGPIPE, SIG_IGN); /* a client reports EPIPE, never dies of it */
    if (getpid() == 1)
        return init_main(argc, argv);
    if (argc < 2) {
        cmd_help(0, NULL);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        return cmd_help(0, NULL);
    if (strcmp(name, "--version") == 0)
        return cmd_version(0, NULL);
    if (strcmp(name, "--validate") == 0)
        return cli_validate(argc - 1, argv + 1);
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "bay0: unknown command '%s' (try bay0 --help)\n", name);
    return 2;
}
