/* cli_persona.c — `bay0 persona ...` and `bay0 reconcile`: clients of the
 * persona manager's socket RUNDIR/persona (persona_mgr.c). A client: it
 * may allocate and block. Names are checked here too, so a bad name is a
 * usage error (exit 2) even when the manager is not running.
 */
#include "persona_mgr.h"

#include "cli.h"
#include "json.h"
#include "persona_job.h"
#include "persona_name.h"
#include "tenant.h"
#include "util.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQ_BYTES_MAX 4096
#define PERSONA_CLI_TIMEOUT_S 120

static const char persona_usage[] =
    "usage: bay0 persona COMMAND [--rundir DIR] [--timeout SECONDS] ...\n"
    "  create p://NAME --image IMAGE [--memory BYTES] [--cpu-weight N]\n"
    "         [--env K=V]... [--ai] [-- CMD ARGS...]\n"
    "                      record the persona and create its container\n"
    "                      (podman create --pull=never: images are local);\n"
    "                      --ai: the AI tenant's socket at /run/bay0-ai/ai.sock\n"
    "  start p://NAME...   start, and wait until running\n"
    "  stop p://NAME...    stop, and wait until stopped\n"
    "  restart p://NAME... stop and start again\n"
    "  reset p://NAME...   recreate the container from its image, keeping the\n"
    "                      intent (running again if it was wanted running)\n"
    "  rm p://NAME...      remove the container and forget the persona\n"
    "  list [--json]       NAME IMAGE DESIRED STATE CONTAINER PID SINCE LAST_ERROR\n"
    "  logs p://NAME [-n LINES] [-f]\n"
    "                      its output, LOGDIR/p__NAME/current (as bay0 log)\n"
    "Names: p://NAME (user persona) or sys://NAME (system tenant); NAME is\n"
    "lowercase letters, digits and single '-' between them, a letter first,\n"
    "at most 32 bytes. The container is p__NAME (sys__NAME).\n"
    "Exit: 0 done, 1 failed (the reason is printed), 2 usage, 3 try again\n"
    "(no persona manager, busy, timed out), 4 permission denied.\n";

static const char reconcile_usage[] =
    "usage: bay0 reconcile [--dry-run] [--json] [--rundir DIR] [--timeout SECONDS]\n"
    "  Make podman agree with the personas' intent in the state database:\n"
    "  one `podman ps -a`, then one repair per difference, in name order,\n"
    "  each logged with its rule (running-missing, running-exited, starting,\n"
    "  stopping, stopped-but-up, ghost, uncertain). Containers whose names are\n"
    "  not p__NAME / sys__NAME are never touched. --dry-run prints the plan.\n"
    "  Runs by itself whenever the persona manager starts (at boot).\n";

struct popts {
    struct cli_opts o;
    bool follow;
    bool dry_run;
    const char *lines;
    const char *logdir;
};

static int usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bay0: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
    return CLI_EXIT_USAGE;
}

static bool req_add(char *req, size_t *len, const char *field)
{
    if (persona_spec_value_check(field) != NULL) {
        fprintf(stderr, "bay0: argument '%.60s' holds a newline or a tab\n",
                field);
        return false;
    }
    int n = snprintf(req + *len, REQ_BYTES_MAX - *len, "%s%s",
                     *len ? "\t" : "", field);
    if (n < 0 || (size_t)n >= REQ_BYTES_MAX - *len) {
        fprintf(stderr, "bay0: the request is longer than %d bytes\n",
                REQ_BYTES_MAX);
        return false;
    }
    *len += (size_t)n;
    return true;
}

static bool name_ok(const char *arg)
{
    struct persona_name id;
    char reason[PERSONA_REASON_BYTES_MAX];
    if (persona_name_parse_str(arg, &id, reason, sizeof reason))
        return true;
    fprintf(stderr, "bay0: %s\n", reason);
    return false;
}

static int send(const struct popts *po, char *req, size_t len, char **reply)
{
    if (len + 2 > REQ_BYTES_MAX)
        return CLI_EXIT_USAGE;
    req[len] = '\n';
    req[len + 1] = '\0';
    return cli_transact_at(&po->o, PERSONA_SOCKET_NAME, req, reply);
}

/* ---- list ---------------------------------------------------------------------- */

static void json_field(const char *key, const char *value, bool first)
{
    printf("%s\"%s\": ", first ? "" : ", ", key);
    cli_json_str(value);
}

static void print_list(char *reply, bool json)
{
    bool first = true;
    if (json)
        printf("[");
    else
        printf("%-20s %-28s %-8s %-9s %-22s %-7s %-20s %s\n", "NAME", "IMAGE",
               "DESIRED", "STATE", "CONTAINER", "PID", "SINCE", "LAST_ERROR");
    for (char *line = reply, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncmp(line, "P\t", 2) != 0)
            continue;
        char *f[10] = {0};
        int n = 0;
        for (char *p = line + 2; p && n < 9; n++) {
            f[n] = p;
            p = strchr(p, '\t');
            if (p)
                *p++ = '\0';
        }
        if (n < 9)
            continue;
        char since[40];
        long long ms = atoll(f[6]);
        time_iso_us(ms / 1000, (long)(ms % 1000) * 1000000, since, sizeof since);
        if (json) {
            printf("%s\n  {", first ? "" : ",");
            json_field("name", f[0], true);
            json_field("image", f[1], false);
            json_field("desired", f[2], false);
            json_field("state", f[3], false);
            json_field("container", f[4], false);
            printf(", \"pid\": %lld, ", atoll(f[5]));
            json_field("since", since, true);
            printf(", \"restarts\": %u, ", (unsigned)atoi(f[7]));
            json_field("last_error", f[8], true);
            printf("}");
        } else {
            since[19] = '\0';
            printf("%-20s %-28s %-8s %-9s %-22s %-7s %-20s %s\n", f[0], f[1],
                   f[2], f[3], f[4], strcmp(f[5], "0") ? f[5] : "-", since,
                   f[8][0] ? f[8] : "-");
        }
        first = false;
    }
    if (json)
        printf("%s]\n", first ? "" : "\n");
}

static int do_list(struct popts *po)
{
    char req[REQ_BYTES_MAX];
    size_t len = 0;
    req_add(req, &len, "list");
    char *reply = NULL;
    int rc = send(po, req, len, &reply);
    if (rc != 0)
        return rc;
    char *copy = strdup(reply);
    rc = cli_finish_reply(reply, true);
    if (rc == 0 && copy != NULL)
        print_list(copy, po->o.json);
    free(copy);
    free(reply);
    return rc;
}

/* ---- create --------------------------------------------------------------------- */

/* What `persona create` was told: the options that go to the manager as
 * KEY=VALUE words (tab-separated in spec), and the image. */
struct create_args {
    const char *image;
    bool want_ai;
    char spec[REQ_BYTES_MAX];
    size_t spec_len;
};

static bool spec_append(struct create_args *ca, const char *word)
{
    int n = snprintf(ca->spec + ca->spec_len, sizeof ca->spec - ca->spec_len, "%s%s",
                     ca->spec_len ? "\t" : "", word);
    if (n < 0 || (size_t)n >= sizeof ca->spec - ca->spec_len)
        return false;
    ca->spec_len += (size_t)n;
    return true;
}

/* One option of `create` into ca (or po): 0 taken, 1 --help printed,
 * CLI_EXIT_USAGE refused. */
static int create_option(struct popts *po, struct create_args *ca, int ch,
                         const char *bad_word)
{
    char opt[REQ_BYTES_MAX] = "";
    uint64_t v;
    if (ch == 'A')
        ca->want_ai = true;
    else if (ch == 'i')
        ca->image = optarg;
    else if (ch == 'm' && parse_u64(optarg, UINT64_MAX, &v) && v >= 4 << 20)
        str_fmt(opt, sizeof opt, "memory=%s", optarg);
    else if (ch == 'w' && parse_u64(optarg, 10000, &v) && v >= 1)
        str_fmt(opt, sizeof opt, "cpu-weight=%s", optarg);
    else if (ch == 'e' && strchr(optarg, '=') && optarg[0] != '=')
        str_fmt(opt, sizeof opt, "env=%s", optarg);
    else if (ch == 'r')
        po->o.rundir = optarg;
    else if (ch == 't' && parse_u64(optarg, 86400, &v) && v >= 1)
        po->o.timeout_s = (int)v;
    else if (ch == 'h') {
        printf("%s", persona_usage);
        return 1;
    } else
        return usage_error(persona_usage,
                           "create: bad option or value '%s' (--memory "
                           "takes bytes from 4194304, --cpu-weight 1-10000, "
                           "--env K=V)", bad_word);
    if (opt[0] != '\0' && !spec_append(ca, opt))
        return usage_error(persona_usage, "create: %s", "too many options");
    return 0;
}

static int create_options(struct popts *po, struct create_args *ca, int argc, char **argv)
{
    static const struct option longs[] = {
        {"image", required_argument, NULL, 'i'}, {"memory", required_argument, NULL, 'm'},
        {"cpu-weight", required_argument, NULL, 'w'}, {"env", required_argument, NULL, 'e'},
        {"rundir", required_argument, NULL, 'r'}, {"timeout", required_argument, NULL, 't'},
        {"ai", no_argument, NULL, 'A'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "i:m:w:e:r:t:hA", longs, NULL)) != -1) {
        int rc = create_option(po, ca, ch, argv[optind - 1]);
        if (rc != 0)
            return rc;
    }
    if (optind >= argc || !name_ok(argv[optind]))
        return optind >= argc ? usage_error(persona_usage, "create: %s",
                                            "no persona name")
                              : CLI_EXIT_USAGE;
    if (ca->image == NULL)
        return usage_error(persona_usage, "create %s: --image IMAGE is required",
                           argv[optind]);
    /* the AI tenant's socket dir (tenant.h), mounted at TENANT_AI_MOUNT */
    char ai[REQ_BYTES_MAX];
    str_fmt(ai, sizeof ai, "ai=%s/" TENANT_AI_DIR, cli_rundir(po->o.rundir));
    if (ca->want_ai && !spec_append(ca, ai))
        return usage_error(persona_usage, "create: %s", "too many options");
    return 0;
}

/* create NAME IMAGE [KEY=VALUE...] [cmd=WORD...] */
static bool create_request(struct create_args *ca, const char *name, int argc,
                           char **argv, int first, char *req, size_t *len)
{
    if (!req_add(req, len, "create") || !req_add(req, len, name) ||
        !req_add(req, len, ca->image))
        return false;
    for (char *p = ca->spec, *t; ca->spec_len > 0 && p != NULL; p = t) {
        t = strchr(p, '\t');
        if (t != NULL)
            *t++ = '\0';
        if (!req_add(req, len, p))
            return false;
    }
    char opt[REQ_BYTES_MAX];
    for (int i = first; i < argc; i++) {
        str_fmt(opt, sizeof opt, "cmd=%s", argv[i]);
        if (!req_add(req, len, opt))
            return false;
    }
    return true;
}

static int do_create(struct popts *po, int argc, char **argv)
{
    struct create_args ca = {0};
    int rc = create_options(po, &ca, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    const char *name = argv[optind++];
    if (optind < argc && strcmp(argv[optind], "--") == 0)
        optind++;
    for (int i = optind; i < argc; i++)
        if (argv[i][0] == '\0')
            return usage_error(persona_usage, "create: %s", "an empty command argument");
    char req[REQ_BYTES_MAX];
    size_t len = 0;
    if (!create_request(&ca, name, argc, argv, optind, req, &len))
        return CLI_EXIT_USAGE;
    char *reply = NULL;
    rc = send(po, req, len, &reply);
    if (rc != 0)
        return rc;
    rc = cli_finish_reply(reply, false);
    free(reply);
    return rc;
}

/* ---- start stop restart reset rm -------------------------------------------------- */

static int do_change(struct popts *po, const char *verb, int argc, char **argv,
                     int first)
{
    if (first >= argc)
        return usage_error(persona_usage, "%s: no persona named", verb);
    for (int i = first; i < argc; i++)
        if (!name_ok(argv[i]))
            return CLI_EXIT_USAGE;
    int worst = 0;
    for (int i = first; i < argc; i++) {
        char req[REQ_BYTES_MAX];
        size_t len = 0;
        if (!req_add(req, &len, verb) || !req_add(req, &len, argv[i]))
            return CLI_EXIT_USAGE;
        char *reply = NULL;
        int rc = send(po, req, len, &reply);
        if (rc == 0) {
            rc = cli_finish_reply(reply, false);
            free(reply);
        }
        if (rc > worst)
            worst = rc;
    }
    return worst;
}

/* ---- logs ------------------------------------------------------------------------- */

static int do_logs(struct popts *po, int argc, char **argv, int first)
{
    if (first + 1 != argc)
        return usage_error(persona_usage, "logs: %s", "name one persona");
    struct persona_name id;
    char reason[PERSONA_REASON_BYTES_MAX], con[PERSONA_CONTAINER_BYTES_MAX];
    if (!persona_name_parse_str(argv[first], &id, reason, sizeof reason)) {
        fprintf(stderr, "bay0: %s\n", reason);
        return CLI_EXIT_USAGE;
    }
    persona_container_format(&id, con);
    char *av[12];
    int ac = 0;
    av[ac++] = "log";
    if (po->follow)
        av[ac++] = "-f";
    if (po->lines != NULL) {
        av[ac++] = "-n";
        av[ac++] = (char *)po->lines;
    }
    if (po->o.rundir != NULL) {
        av[ac++] = "--rundir";
        av[ac++] = (char *)po->o.rundir;
    }
    if (po->logdir != NULL) {
        av[ac++] = "--logdir";
        av[ac++] = (char *)po->logdir;
    }
    av[ac++] = con;
    av[ac] = NULL;
    return cli_log(ac, av);
}

/* ---- entry points ------------------------------------------------------------------ */

static int common_opts(int argc, char **argv, struct popts *po, const char *usage)
{
    static const struct option longs[] = {
        {"rundir", required_argument, NULL, 'r'}, {"logdir", required_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'}, {"timeout", required_argument, NULL, 't'},
        {"follow", no_argument, NULL, 'f'}, {"lines", required_argument, NULL, 'n'},
        {"dry-run", no_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int ch;
    uint64_t v;
    while ((ch = getopt_long(argc, argv, "r:l:jt:fn:dh", longs, NULL)) != -1) {
        if (ch == 'r')
            po->o.rundir = optarg;
        else if (ch == 'l')
            po->logdir = optarg;
        else if (ch == 'j')
            po->o.json = true;
        else if (ch == 't' && parse_u64(optarg, 86400, &v) && v >= 1)
            po->o.timeout_s = (int)v;
        else if (ch == 'f')
            po->follow = true;
        else if (ch == 'n')
            po->lines = optarg;
        else if (ch == 'd')
            po->dry_run = true;
        else if (ch == 'h') {
            printf("%s", usage);
            return -2;
        } else {
            usage_error(usage, "bad option or value '%s'", argv[optind - 1]);
            return -1;
        }
    }
    return optind;
}

int cli_persona(int argc, char **argv)
{
    struct popts po = {.o = {.timeout_s = PERSONA_CLI_TIMEOUT_S}};
    if (argc < 2)
        return usage_error(persona_usage, "persona: %s", "which command?");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        printf("%s", persona_usage);
        return 0;
    }
    if (strcmp(cmd, "create") == 0)
        return do_create(&po, argc - 1, argv + 1);
    int first = common_opts(argc - 1, argv + 1, &po, persona_usage);
    if (first < 0)
        return first == -2 ? 0 : CLI_EXIT_USAGE;
    first += 1; /* back to argv's numbering */
    if (strcmp(cmd, "list") == 0)
        return first == argc ? do_list(&po)
                             : usage_error(persona_usage, "list: %s", "takes no names");
    if (strcmp(cmd, "logs") == 0)
        return do_logs(&po, argc, argv, first);
    static const char *const verbs[] = {"start", "stop", "restart", "reset", "rm"};
    for (size_t i = 0; i < ARRAY_LEN(verbs); i++)
        if (strcmp(cmd, verbs[i]) == 0)
            return do_change(&po, cmd, argc, argv, first);
    return usage_error(persona_usage, "persona: unknown command '%s'", cmd);
}

static void print_repairs_json(char *reply)
{
    bool first = true;
    printf("{\"repairs\": [");
    char *final = NULL;
    for (char *line = reply, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncmp(line, "OK", 2) == 0)
            final = line;
        if (strncmp(line, "R\t", 2) != 0)
            continue;
        char *f[4] = {0};
        int n = 0;
        for (char *p = line + 2; p && n < 4; n++) {
            f[n] = p;
            p = strchr(p, '\t');
            if (p)
                *p++ = '\0';
        }
        if (n < 4)
            continue;
        printf("%s\n  {", first ? "" : ",");
        json_field("rule", f[0], true);
        json_field("name", f[1], false);
        json_field("action", f[2], false);
        json_field("result", f[3], false);
        printf("}");
        first = false;
    }
    printf("%s], \"summary\": ", first ? "" : "\n");
    cli_json_str(final != NULL && final[2] ? final + 3 : "");
    printf("}\n");
}

int cli_reconcile(int argc, char **argv)
{
    struct popts po = {.o = {.timeout_s = PERSONA_CLI_TIMEOUT_S}};
    int first = common_opts(argc, argv, &po, reconcile_usage);
    if (first < 0)
        return first == -2 ? 0 : CLI_EXIT_USAGE;
    if (first != argc)
        return usage_error(reconcile_usage, "reconcile: takes no arguments");
    char req[REQ_BYTES_MAX];
    size_t len = 0;
    req_add(req, &len, "reconcile");
    if (po.dry_run)
        req_add(req, &len, "--dry-run");
    char *reply = NULL;
    int rc = send(&po, req, len, &reply);
    if (rc != 0)
        return rc;
    char *copy = strdup(reply);
    if (copy != NULL && po.o.json) {
        rc = cli_finish_reply(reply, true);
        if (rc == 0)
            print_repairs_json(copy);
    } else if (copy != NULL) {
        for (char *line = copy, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            if (strncmp(line, "R\t", 2) == 0) {
                for (char *p = line; *p; p++)
                    if (*p == '\t')
                        *p = ' ';
                printf("%s%s\n", po.dry_run ? "would repair: " : "repaired: ",
                       line + 2);
            }
        }
        rc = cli_finish_reply(reply, false);
    }
    free(copy);
    free(reply);
    return rc;
}
