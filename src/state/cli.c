/* cli.c — the operator commands of the state module:
 *
 *   bay0 nack list [--json]                 candidate hashes never to reinstall
 *   bay0 nack add HASH [--reason R]
 *   bay0 nack rm HASH                       exit 1 if it was not there
 *   bay0 genesis verify [--file F] [--json] exit 0 intact, 1 broken/unreadable
 *   bay0 genesis append MSG...
 *   bay0 state-debug ...                    internal, for tests (see below)
 *
 * Every command takes --timeout-ms MS (default 5000) and runs its disk work
 * in a bounded child, so a hung /persist gives exit 3 "timed out" instead of
 * a hung shell. Exit codes: 0 done, 1 no / failed, 2 usage, 3 timed out.
 *
 * Owns: argument parsing and printing for those commands. Never touches
 * /persist except through the state functions.
 */
#include "state/state_internal.h"

#include "json.h"
#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_TIMEOUT_MS_DEFAULT 5000
#define CLI_TIMEOUT_MS_MAX 600000
#define NACK_LIST_MAX 1024
#define EXIT_DONE 0
#define EXIT_NO 1
#define EXIT_USAGE 2
#define EXIT_TRY_AGAIN 3

struct cli_opts {
    const char *pos[4]; /* positional arguments after the verb */
    int npos;
    const char *reason;
    const char *file;
    bool json;
    uint32_t timeout_ms;
    char msg[STATE_GENESIS_MSG_BYTES_MAX];
};

static bool opt_value(int argc, char **argv, int *i, const char **out)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "bay0: %s needs a value\n", argv[*i]);
        return false;
    }
    *out = argv[++*i];
    return true;
}

static bool opt_number(int argc, char **argv, int *i, uint64_t max,
                       uint64_t *out)
{
    const char *v;
    if (!opt_value(argc, argv, i, &v))
        return false;
    if (!parse_u64(v, max, out)) {
        fprintf(stderr, "bay0: %s: bad number '%s'\n", argv[*i - 1], v);
        return false;
    }
    return true;
}

/* argv[0] is the verb. Returns false on a usage error (already printed). */
static bool parse_opts(int argc, char **argv, struct cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = CLI_TIMEOUT_MS_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t n;
        bool ok = true;
        if (strcmp(a, "--json") == 0)
            o->json = true;
        else if (strcmp(a, "--reason") == 0)
            ok = opt_value(argc, argv, &i, &o->reason);
        else if (strcmp(a, "--file") == 0)
            ok = opt_value(argc, argv, &i, &o->file);
        else if (strcmp(a, "--timeout-ms") == 0) {
            ok = opt_number(argc, argv, &i, CLI_TIMEOUT_MS_MAX, &n);
            o->timeout_ms = (uint32_t)n;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "bay0: unknown option %s\n", a);
            return false;
        } else if (o->npos < (int)ARRAY_LEN(o->pos))
            o->pos[o->npos++] = a;
        else {
            fprintf(stderr, "bay0: too many arguments\n");
            return false;
        }
        if (!ok)
            return false;
    }
    return true;
}


/* Run work in a bounded child; map the outcome to an exit code. */
static int run_cli(state_bounded_fn fn, struct cli_opts *o, const char *what)
{
    int rc;
    enum state_result r = state_run_bounded(fn, o, o->timeout_ms, what, &rc);
    if (r == STATE_TIMEOUT) {
        fprintf(stderr, "bay0: %s: timed out after %u ms (is %s hung?)\n",
                what, o->timeout_ms, state_data_dir());
        return EXIT_TRY_AGAIN;
    }
    if (r != STATE_OK)
        return EXIT_NO;
    return rc;
}

static bool db_open_cli(struct state_db *db) { return state_open_migrated(db); }

static int nack_list_work(void *ctx)
{
    struct cli_opts *o = ctx;
    static struct state_nack list[NACK_LIST_MAX];
    struct state_db db;
    if (!db_open_cli(&db))
        return EXIT_NO;
    size_t n;
    bool more;
    enum state_result r = state_read_nack_registry(&db, list, NACK_LIST_MAX,
                                                   &n, &more);
    state_close(&db);
    if (r != STATE_OK)
        return EXIT_NO;
    if (o->json)
        putchar('[');
    for (size_t i = 0; i < n; i++) {
        char added[40]; /* ISO 8601 UTC, like the logs */
        time_iso_us(list[i].added_ms / 1000, (long)(list[i].added_ms % 1000) * 1000000L,
                    added, sizeof added);
        if (o->json) {
            printf("%s{\"hash\":", i > 0 ? "," : "");
            cli_json_str(list[i].hash);
            printf(",\"reason\":");
            cli_json_str(list[i].reason);
            printf(",\"added_ms\":%" PRId64 ",\"added\":\"%s\"}", list[i].added_ms, added);
        } else {
            printf("%s\t%s\t%s\n", list[i].hash, added, list[i].reason);
        }
    }
    if (o->json)
        printf("]\n");
    if (more)
        fprintf(stderr, "bay0: nack list: only the first %d shown\n",
                NACK_LIST_MAX);
    return EXIT_DONE;
}

static int nack_change_work(void *ctx)
{
    struct cli_opts *o = ctx;
    struct state_db db;
    if (!db_open_cli(&db))
        return EXIT_NO;
    bool add = strcmp(o->pos[0], "add") == 0;
    bool found = true;
    enum state_result r = add ? state_nack_add(&db, o->pos[1], o->reason)
                              : state_nack_remove(&db, o->pos[1], &found);
    state_close(&db);
    if (r != STATE_OK)
        return EXIT_NO;
    if (!found) {
        fprintf(stderr, "bay0: nack rm: %s is not in the registry\n",
                o->pos[1]);
        return EXIT_NO;
    }
    return EXIT_DONE;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

static void nack_usage_to(FILE *f)
{
    fprintf(f, "usage: bay0 nack list [--json]\n"
                    "       bay0 nack add HASH [--reason R]\n"
                    "       bay0 nack rm HASH\n"
                    "  (each also takes --timeout-ms MS, default 5000)\n");
}

static void nack_usage(void) { nack_usage_to(stderr); }

int state_cli_nack(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        nack_usage_to(stdout);
        return EXIT_DONE;
    }
    struct cli_opts o;
    if (!parse_opts(argc, argv, &o) || o.npos < 1) {
        nack_usage();
        return EXIT_USAGE;
    }
    const char *verb = o.pos[0];
    if (strcmp(verb, "list") == 0 && o.npos == 1)
        return run_cli(nack_list_work, &o, "nack list");
    if ((strcmp(verb, "add") == 0 || strcmp(verb, "rm") == 0) &&
        o.npos == 2) {
        const char *why = state_nack_hash_check(o.pos[1]);
        if (why != NULL) {
            fprintf(stderr, "bay0: nack: bad hash '%s': %s\n", o.pos[1], why);
            return EXIT_USAGE;
        }
        if (o.reason != NULL &&
            strlen(o.reason) >= STATE_NACK_REASON_BYTES_MAX) {
            fprintf(stderr, "bay0: nack: --reason longer than %d bytes\n",
                    STATE_NACK_REASON_BYTES_MAX - 1);
            return EXIT_USAGE;
        }
        return run_cli(nack_change_work, &o, "nack change");
    }
    nack_usage();
    return EXIT_USAGE;
}

static int genesis_verify_work(void *ctx)
{
    struct cli_opts *o = ctx;
    char path[STATE_PATH_BYTES_MAX];
    if (o->file != NULL)
        str_copy(path, sizeof path, o->file);
    else
        state_path(path, sizeof path, STATE_GENESIS_FILE);
    struct state_genesis_report rep;
    if (state_genesis_verify(path, &rep) != STATE_OK) {
        if (o->json) {
            printf("{\"file\":");
            cli_json_str(path);
            printf(",\"intact\":false,\"error\":\"unreadable\"}\n");
        }
        return EXIT_NO;
    }
    bool intact = rep.first_broken_line == 0;
    if (o->json) {
        printf("{\"file\":");
        cli_json_str(path);
        printf(",\"lines\":%" PRIu64 ",\"intact\":%s", rep.lines,
               intact ? "true" : "false");
        if (!intact) {
            printf(",\"first_broken_line\":%" PRIu64 ",\"reason\":",
                   rep.first_broken_line);
            cli_json_str(rep.reason);
        }
        printf("}\n");
    } else if (intact) {
        printf("%s: intact, %" PRIu64 " lines\n", path, rep.lines);
    } else {
        printf("%s: BROKEN at line %" PRIu64 " of %" PRIu64 ": %s\n", path,
               rep.first_broken_line, rep.lines, rep.reason);
    }
    return intact ? EXIT_DONE : EXIT_NO;
}

static int genesis_append_work(void *ctx)
{
    struct cli_opts *o = ctx;
    enum state_result r = o->file != NULL
                              ? state_genesis_append_file(o->file, o->msg)
                              : state_append_genesis_log(o->msg);
    return r == STATE_OK ? EXIT_DONE : EXIT_NO;
}

static void genesis_usage_to(FILE *f)
{
    fprintf(f,
            "usage: bay0 genesis verify [--file F] [--json]\n"
            "       bay0 genesis append [--file F] MSG\n"
            "  verify exits 0 when the chain is intact, 1 when a line is "
            "broken\n  (the first broken line is named) or the file is "
            "unreadable.\n");
}

static void genesis_usage(void) { genesis_usage_to(stderr); }

int state_cli_genesis(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        genesis_usage_to(stdout);
        return EXIT_DONE;
    }
    struct cli_opts o;
    if (!parse_opts(argc, argv, &o) || o.npos < 1) {
        genesis_usage();
        return EXIT_USAGE;
    }
    if (strcmp(o.pos[0], "verify") == 0 && o.npos == 1)
        return run_cli(genesis_verify_work, &o, "genesis verify");
    if (strcmp(o.pos[0], "append") == 0 && o.npos == 2) {
        if (!str_copy(o.msg, sizeof o.msg, o.pos[1])) {
            fprintf(stderr, "bay0: genesis append: message longer than %d "
                            "bytes\n", STATE_GENESIS_MSG_BYTES_MAX - 1);
            return EXIT_USAGE;
        }
        return run_cli(genesis_append_work, &o, "genesis append");
    }
    genesis_usage();
    return EXIT_USAGE;
}
