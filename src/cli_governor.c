/* cli_governor.c — `bay0 governor [--json]`: what the thermal + PSI
 * governor sees and decided (its inputs, level per cause, the wake-up
 * counters, the last decisions). A client of the control socket; any user
 * may ask, like status. Never writes anything.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char governor_usage[] =
    "usage: bay0 governor [--json] [--timeout S] [--rundir DIR]\n"
    "  Show the thermal + PSI governor: whether it is on (or why not), its\n"
    "  level (normal, elevated, high, critical) and the level of each cause\n"
    "  (cpu, memory, heat), the pressure averages and trigger counts, the\n"
    "  thermal zones, each persona's cpu weight/cap/freeze, the wake-ups it\n"
    "  cost, and its last decisions. --json prints one object.\n"
    "  Exit 0, or 3 when no supervisor answers (in --timeout S, default 60).\n";

int cli_governor(int argc, char **argv)
{
    struct cli_opts o = {0};
    int first = cli_parse_opts(argc, argv, &o, governor_usage);
    if (first < 0)
        return -first;
    if (first != argc) {
        fprintf(stderr, "bay0 governor: unexpected argument '%s'\n%s", argv[first], governor_usage);
        return CLI_EXIT_USAGE;
    }
    return cli_transact_print(&o, o.json ? "governor --json\n" : "governor\n");
}
