/* cli_deaths.c — `bay0 deaths NAME [--json]`: the service's recorded
 * deaths (max-death-tally of them, as s6-svdt prints them), oldest first.
 * A client: asks the supervisor whether NAME exists, then reads
 * RUNDIR/deaths/NAME itself (format in deaths.h). Never writes anything.
 */
#include "cli.h"
#include "deaths.h"
#include "json.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ISO_TIME_BYTES_MAX 96 /* room for any int the format takes */
#define SIGNAL_NAME_BYTES_MAX 24

static const char deaths_usage[] =
    "usage: bay0 deaths [--json] [--rundir DIR] NAME\n"
    "  Print NAME's recorded deaths (its last max-death-tally, default 100),\n"
    "  oldest first: \"TIME exit CODE\" or \"TIME signal NAME\". With --json,\n"
    "  one array of objects {\"time\": ..., \"code\": N} or {\"time\": ...,\n"
    "  \"signal\": \"NAME\"}. Nothing recorded: prints nothing, exit 0.\n"
    "  Exit 1 for an unknown service or a corrupt record file.\n";

/* A service name, or a service's logger "NAME/log". */
static const char *deaths_name_check(const char *name)
{
    char base[SERVICE_NAME_BYTES_MAX + 1];
    size_t len = strlen(name);
    if (len > 4 && strcmp(name + len - 4, "/log") == 0 && len - 4 < sizeof base) {
        memcpy(base, name, len - 4);
        base[len - 4] = '\0';
        return name_check(base, SERVICE_NAME_BYTES_MAX);
    }
    return name_check(name, SERVICE_NAME_BYTES_MAX);
}

/* "KILL" for 9; the number when the name is unknown. */
static void short_signal_name(int sig, char *buf, size_t size)
{
    const char *name = signal_name(sig);
    if (strcmp(name, "SIG?") == 0)
        snprintf(buf, size, "%d", sig);
    else
        snprintf(buf, size, "%s", name + 3);
}

static void print_entry(const struct deaths_entry *e, bool json, bool first)
{
    char when[ISO_TIME_BYTES_MAX], sig[SIGNAL_NAME_BYTES_MAX];
    (void)time_iso_us(e->wall_ns / 1000000000, (long)(e->wall_ns % 1000000000), when, sizeof when);
    bool is_signal = e->kind == DEATH_KIND_SIGNAL;
    if (is_signal)
        short_signal_name(e->value, sig, sizeof sig);
    if (!json) {
        if (is_signal)
            printf("%s signal %s\n", when, sig);
        else
            printf("%s exit %d\n", when, e->value);
        return;
    }
    printf("%s{\"time\":\"%s\",", first ? "" : ",\n ", when);
    if (is_signal) {
        printf("\"signal\":");
        cli_json_str(sig);
    } else {
        printf("\"code\":%d", e->value);
    }
    putchar('}');
}

/* True when a status reply holds a row for name ("S\tNAME\t..."). */
static bool reply_has_row(const char *reply, const char *name)
{
    size_t len = strlen(name);
    for (const char *line = reply; line && strncmp(line, "S\t", 2) == 0;) {
        if (strncmp(line + 2, name, len) == 0 && line[2 + len] == '\t')
            return true;
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return false;
}

/* Asks the supervisor about NAME: 0 when it exists, else the exit code
 * (the message naming NAME printed). A logger ("NAME/log") is no target
 * of a request, so it is looked for among all the rows. The supervisor
 * writes a death's record before it serves another request, so a death
 * that happened before this answer is in the file read after it. */
static int ask_exists(const struct cli_opts *o, const char *name)
{
    bool logger = strchr(name, '/') != NULL;
    char req[SERVICE_NAME_BYTES_MAX + 16];
    snprintf(req, sizeof req, logger ? "status\n" : "status %s\n", name);
    char *reply = NULL;
    int rc = cli_transact(o, req, &reply);
    if (rc != 0)
        return rc;
    bool found = reply_has_row(reply, name);
    char *final = reply;
    while (strncmp(final, "S\t", 2) == 0 && strchr(final, '\n'))
        final = strchr(final, '\n') + 1;
    rc = cli_finish_reply(final, true);
    free(reply);
    if (rc == 0 && !found) {
        fprintf(stderr, "bay0: no such service: %s\n", name);
        rc = CLI_EXIT_NO;
    }
    return rc;
}

static int print_file(const char *path, bool json)
{
    static char buf[DEATHS_FILE_BYTES_MAX + 1];
    ssize_t n = file_read_small(AT_FDCWD, path, buf, sizeof buf);
    if (n < 0 && errno == ENOENT) {
        if (json)
            printf("[]\n");
        return CLI_EXIT_OK;
    }
    if (n < 0) {
        fprintf(stderr, "bay0 deaths: cannot read %s: %s\n", path,
                errno == EFBIG ? "larger than any death record" : strerror(errno));
        return CLI_EXIT_NO;
    }
    struct deaths_header h;
    const char *bad = deaths_check(buf, (size_t)n, &h);
    if (bad) {
        fprintf(stderr, "bay0 deaths: %s is not a death record: %s\n", path, bad);
        return CLI_EXIT_NO;
    }
    if (json)
        putchar('[');
    for (uint32_t i = 0; i < h.count; i++) {
        struct deaths_entry e = deaths_nth(buf, &h, i);
        print_entry(&e, json, i == 0);
    }
    if (json)
        printf("]\n");
    return CLI_EXIT_OK;
}

int cli_deaths(int argc, char **argv)
{
    static const struct option longs[] = {
        {"rundir", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cli_opts o = {.timeout_s = CLI_TIMEOUT_S_DEFAULT};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "r:jh", longs, NULL)) != -1) {
        switch (ch) {
        case 'r': o.rundir = optarg; break;
        case 'j': o.json = true; break;
        case 'h': printf("%s", deaths_usage); return CLI_EXIT_OK;
        default:
            fprintf(stderr, "bay0 deaths: unknown option '%s'\n%s", argv[optind - 1], deaths_usage);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "%s", deaths_usage);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[optind];
    const char *bad = deaths_name_check(name);
    if (bad) {
        fprintf(stderr, "bay0: '%.80s' is not a service name: %s\n", name, bad);
        return CLI_EXIT_USAGE;
    }
    int rc = ask_exists(&o, name);
    if (rc != 0)
        return rc;
    char file[DEATHS_FILE_NAME_BYTES_MAX + 1], path[4096];
    if (!deaths_file_name(name, file, sizeof file) ||
        !str_fmt(path, sizeof path, "%s/" DEATHS_DIR "/%s", cli_rundir(o.rundir), file)) {
        fprintf(stderr, "bay0 deaths: path too long for %s\n", name);
        return CLI_EXIT_USAGE;
    }
    return print_file(path, o.json);
}
