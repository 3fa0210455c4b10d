/* cli_enable.c — `bay0 enable|disable [--now] NAME...`: whether a service
 * starts when its supervisor starts (at boot), kept where that supervisor
 * reads it, and said where:
 *   - the supervisor keeps intents in the state database (the Spine with
 *     its persist disk, or BAY0_PERSIST_DIR): the service_desired row
 *     (src/state/, like `start|stop --persist`); it overrides `down`;
 *   - otherwise (a plain host): the service directory's `down` file, as
 *     in s6 and runit — made durably (file_replace_durable) to disable,
 *     removed (and the directory fsynced) to enable;
 *   - a dirty boot (no persist disk): refused, nothing would be kept.
 * It never changes what runs now, unless --now (then start or stop too).
 * Without a running supervisor: the `down` file under --scandir (default
 * /etc/bay0/sv), or the database when BAY0_PERSIST_DIR is set.
 * A client: it may block; it touches /persist only through src/state/.
 */
#include "cli.h"

#include "state/state.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENABLE_PERSIST_TIMEOUT_MS 2000
#define ENABLE_SCANDIR_DEFAULT "/etc/bay0/sv"

enum intent_home { HOME_DOWN_FILE, HOME_DATABASE, HOME_NONE_DIRTY };

struct where {
    enum intent_home home;
    bool online;        /* a supervisor answered */
    long pid;           /* its pid (1: the machine's PID 1) */
    char scandir[4096]; /* where the service directories are */
};

static const char enable_usage[] =
    "usage: bay0 enable|disable [--now] [--rundir DIR] [--scandir DIR] NAME...\n"
    "  Whether NAME starts when its supervisor starts (at boot); kept across\n"
    "  reboots, restarts of the supervisor and `bay0 reload`. Where it is kept\n"
    "  is said: the state database when the supervisor keeps intents there (the\n"
    "  Spine, or BAY0_PERSIST_DIR), else the service's `down` file (disable\n"
    "  creates SCANDIR/NAME/down, enable removes it; as in s6 and runit).\n"
    "  What runs now is unchanged; --now also starts (enable) or stops\n"
    "  (disable) it and waits, like bay0 start / bay0 stop.\n"
    "  Without a running supervisor: the down file under --scandir (default\n"
    "  " ENABLE_SCANDIR_DEFAULT "), or the database if BAY0_PERSIST_DIR is set.\n"
    "  Exit 0 done, 1 no such service or not written, 2 usage, 3 dirty boot or\n"
    "  timeout, 4 permission denied.\n";

/* Where the intent lives: from the supervisor's ping, else from the
 * options and the environment. */
static void find_home(const struct cli_opts *o, const char *scandir_opt, struct where *w)
{
    struct cli_ping p;
    cli_ping(cli_rundir(o->rundir), &p);
    w->online = p.online;
    w->pid = p.pid;
    str_copy(w->scandir, sizeof w->scandir,
             scandir_opt ? scandir_opt : p.online && p.scandir[0] ? p.scandir : ENABLE_SCANDIR_DEFAULT);
    if (!w->online)
        w->home = getenv("BAY0_PERSIST_DIR") ? HOME_DATABASE : HOME_DOWN_FILE;
    else
        w->home = strcmp(p.persist, "on") == 0      ? HOME_DATABASE
                  : strcmp(p.persist, "dirty") == 0 ? HOME_NONE_DIRTY
                                                    : HOME_DOWN_FILE;
}

static bool service_dir_exists(const struct where *w, const char *name)
{
    char dir[4096 + 80];
    struct stat st;
    return str_fmt(dir, sizeof dir, "%s/%s", w->scandir, name) && stat(dir, &st) == 0 &&
           S_ISDIR(st.st_mode);
}

/* With a supervisor: it knows its services (and suggests a near name);
 * with a down file, a directory it has not scanned yet is accepted (the
 * next reload reads its down file; the database is read at start-up only,
 * so there it must be known). Without: the service directory must exist. */
static int check_service(const struct cli_opts *o, const struct where *w, const char *name)
{
    if (w->online && w->home == HOME_DOWN_FILE && service_dir_exists(w, name))
        return 0;
    if (w->online) {
        char req[128], *reply = NULL;
        snprintf(req, sizeof req, "status %s\n", name);
        int rc = cli_transact(o, req, &reply);
        if (rc != 0)
            return rc;
        if (strstr(reply, "\nERR ") || strncmp(reply, "ERR ", 4) == 0) {
            char *err = strncmp(reply, "ERR ", 4) == 0 ? reply : strstr(reply, "\nERR ") + 1;
            rc = cli_finish_reply(err, true);
        }
        free(reply);
        return rc;
    }
    if (service_dir_exists(w, name))
        return 0;
    fprintf(stderr, "bay0: no such service: %s (no directory %s/%s; no supervisor answered at "
                    "%s: give its --rundir, or --scandir DIR)\n",
            name, w->scandir, name, cli_rundir(o->rundir));
    return CLI_EXIT_NO;
}

static int errno_exit(int err)
{
    return err == EACCES || err == EPERM || err == EROFS ? CLI_EXIT_DENIED : CLI_EXIT_NO;
}

static int set_down_file(const char *verb, const struct where *w, const char *name, bool up)
{
    char dir[4096 + 80], path[4096 + 96];
    if (!str_fmt(dir, sizeof dir, "%s/%s", w->scandir, name) ||
        !str_fmt(path, sizeof path, "%s/down", dir)) {
        fprintf(stderr, "bay0 %s: scan directory path too long: %s\n", verb, w->scandir);
        return CLI_EXIT_USAGE;
    }
    bool had = access(path, F_OK) == 0;
    const char *what = up ? "starts at boot" : "stays down at boot";
    if (had != up) {
        printf("bay0 %s: %s %s already: %s %s\n", verb, name, what, path,
               up ? "does not exist" : "exists");
        return 0;
    }
    /* enable: unlink, fsync DIR; disable: an empty file made durably (a
     * failed fsync of DIR, as for enable, leaves it made: not an error). */
    const char *step = "";
    bool done = up ? unlink(path) == 0 || errno == ENOENT
                   : file_replace_durable(path, "", 0, 0644, &step) ||
                         strcmp(step, "fsync of the directory") == 0;
    int err = errno;
    if (!done) {
        fprintf(stderr, "bay0 %s: cannot %s %s: %s%s; nothing was changed\n", verb,
                up ? "remove" : "create", path, strerror(err),
                errno_exit(err) == CLI_EXIT_DENIED
                    ? " (run as root or as the owner of the service directory)" : "");
        return errno_exit(err);
    }
    if (up)
        (void)dir_fsync(dir);
    printf("bay0 %s: %s %s: %s %s\n", verb, name, what, up ? "removed" : "created", path);
    return 0;
}

static int set_database(const char *verb, const struct where *w, const char *name, bool up)
{
    if (w->online && w->pid != 1 && !state_persist_overridden()) {
        fprintf(stderr, "bay0 %s: the supervisor (pid %ld) keeps boot intents in its state "
                        "database; run this with the same BAY0_PERSIST_DIR as it\n",
                verb, w->pid);
        return CLI_EXIT_USAGE;
    }
    enum state_result r = state_service_desired_persist(name, up, ENABLE_PERSIST_TIMEOUT_MS);
    if (r != STATE_OK && r != STATE_RECOVERED) {
        fprintf(stderr, "bay0 %s: could not record %s as wanted %s in the state database "
                        "under %s (%s); nothing was changed\n",
                verb, name, up ? "up" : "down", state_data_dir(),
                r == STATE_TIMEOUT ? "timed out" : "error");
        return r == STATE_TIMEOUT ? CLI_EXIT_TRYAGAIN : CLI_EXIT_NO;
    }
    char down[4096 + 96];
    snprintf(down, sizeof down, "%s/%s/down", w->scandir, name);
    bool has_down = access(down, F_OK) == 0;
    printf("bay0 %s: %s %s: wrote desired=%s to the state database (%s/state.db)%s\n", verb,
           name, up ? "starts at boot" : "stays down at boot", up ? "up" : "down",
           state_data_dir(), has_down && up ? " (it overrides the service's down file)" : "");
    return 0;
}

/* --now: the same as `bay0 start|stop NAME...` after the intent. */
static int act_now(const struct cli_opts *o, bool up, int argc, char **argv, int first)
{
    char req[4096];
    size_t len = (size_t)snprintf(req, sizeof req, "%s", up ? "start" : "stop");
    for (int i = first; i < argc && len < sizeof req; i++)
        len += (size_t)snprintf(req + len, sizeof req - len, " %s", argv[i]);
    if (len + 2 > sizeof req) {
        fprintf(stderr, "bay0: too many names for one request\n");
        return CLI_EXIT_USAGE;
    }
    req[len++] = '\n';
    req[len] = '\0';
    char *reply = NULL;
    int rc = cli_transact(o, req, &reply);
    if (rc != 0)
        return rc;
    rc = cli_finish_reply(reply, true);
    free(reply);
    return rc;
}

static int enable_main(int argc, char **argv, bool up)
{
    static const struct option longs[] = {
        {"rundir", required_argument, NULL, 'r'}, {"scandir", required_argument, NULL, 's'},
        {"now", no_argument, NULL, 'N'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *verb = up ? "enable" : "disable";
    struct cli_opts o = {.timeout_s = CLI_TIMEOUT_S_DEFAULT};
    const char *scandir_opt = NULL;
    bool now = false;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "r:s:h", longs, NULL)) != -1) {
        if (ch == 'r')
            o.rundir = optarg;
        else if (ch == 's')
            scandir_opt = optarg;
        else if (ch == 'N')
            now = true;
        else if (ch == 'h') {
            printf("%s", enable_usage);
            return CLI_EXIT_OK;
        } else {
            fprintf(stderr, "bay0 %s: unknown option '%s'\n%s", verb, argv[optind - 1],
                    enable_usage);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "bay0 %s: which service? name one or more (bay0 status lists them)\n%s",
                verb, enable_usage);
        return CLI_EXIT_USAGE;
    }
    for (int i = optind; i < argc; i++) {
        const char *bad = name_check(argv[i], 64);
        if (bad) {
            fprintf(stderr, "bay0 %s: '%.80s' is not a service name: %s\n", verb, argv[i], bad);
            return CLI_EXIT_USAGE;
        }
    }
    struct where w = {0};
    find_home(&o, scandir_opt, &w);
    if (w.home == HOME_NONE_DIRTY) {
        fprintf(stderr, "bay0 %s: this is a dirty boot (the persist disk is not mounted): the "
                        "boot intent lives in the state database there and cannot be written "
                        "now; nothing was changed (bay0 validate says why)\n", verb);
        return CLI_EXIT_TRYAGAIN;
    }
    if (now && !w.online) {
        fprintf(stderr, "bay0 %s --now: no supervisor answered at %s/control; nothing was "
                        "changed (use --rundir or BAY0_RUNDIR)\n", verb, cli_rundir(o.rundir));
        return CLI_EXIT_TRYAGAIN;
    }
    for (int i = optind; i < argc; i++) {
        int rc = check_service(&o, &w, argv[i]);
        if (rc != 0)
            return rc;
    }
    for (int i = optind; i < argc; i++) {
        int rc = w.home == HOME_DATABASE ? set_database(verb, &w, argv[i], up)
                                         : set_down_file(verb, &w, argv[i], up);
        if (rc != 0)
            return rc;
    }
    return now ? act_now(&o, up, argc, argv, optind) : CLI_EXIT_OK;
}

int cli_enable(int argc, char **argv) { return enable_main(argc, argv, true); }
int cli_disable(int argc, char **argv) { return enable_main(argc, argv, false); }
