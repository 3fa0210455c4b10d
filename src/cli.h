/* cli.h — the client side of every subcommand that talks to a running
 * supervisor, and `bay0 supervise` itself. Each takes (argc, argv) with
 * argv[0] the subcommand name and returns the process exit code:
 * 0 done, 1 no / not reached, 2 usage, 3 try again (no supervisor,
 * timeout), 4 permission denied.
 */
#ifndef BAY0_CLI_H
#define BAY0_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_NO 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_TRYAGAIN 3
#define CLI_EXIT_DENIED 4
#define CLI_EXIT_SUPERSEDED 5 /* a waiting start/stop overridden by another request */
#define CLI_TIMEOUT_S_DEFAULT 60

int cli_supervise(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_start(int argc, char **argv);
int cli_stop(int argc, char **argv);
int cli_restart(int argc, char **argv);
int cli_signal(int argc, char **argv);
int cli_reload(int argc, char **argv);
int cli_shutdown(int argc, char **argv);
int cli_deps(int argc, char **argv);
int cli_deaths(int argc, char **argv); /* cli_deaths.c */
int cli_governor(int argc, char **argv); /* cli_governor.c */
int cli_validate(int argc, char **argv); /* cli_validate.c: exit 0/1/2 */
int cli_analyze(int argc, char **argv); /* cli_analyze.c */
int cli_events(int argc, char **argv);  /* cli_analyze.c */
int cli_enable(int argc, char **argv);  /* cli_enable.c */
int cli_help_topic(const char *topic);  /* cli_help.c: bay0 help TOPIC */
int cli_disable(int argc, char **argv); /* cli_enable.c */

struct cli_opts {
    const char *rundir;
    bool json;
    bool nowait;
    bool persist;
    int timeout_s;
    bool quiet_timeout; /* cli_transact: no message on a timeout (the caller says more) */
};

/* Set by cli_transact: the last request ran out of --timeout. */
extern bool cli_timed_out;

/* The common options (--rundir --json --timeout --nowait --persist
 * --help: prints usage, exits 0). Returns the index of the first operand,
 * or minus a CLI exit code (message printed). */
int cli_parse_opts(int argc, char **argv, struct cli_opts *o, const char *usage);
/* Sends one request, reads the whole reply (malloc'ed, NUL-terminated).
 * 0, or a CLI exit code with the message printed. */
int cli_transact(const struct cli_opts *o, const char *request, char **out);
/* Sends request and prints the reply's leading "I " lines on stdout
 * (without the prefix: a report), then finishes like cli_finish_reply. */
int cli_transact_print(const struct cli_opts *o, const char *request);
/* The same for a reply already read (reply is modified, not freed). */
int cli_print_report(char *reply);
/* Same on another socket of the rundir (RUNDIR/sock_name). */
int cli_transact_at(const struct cli_opts *o, const char *sock_name,
                    const char *request, char **out);
/* A connection to RUNDIR/control: the fd, or minus a CLI exit code
 * (message printed). */
int cli_connect(const struct cli_opts *o);
/* Prints I/E lines of a reply; returns the final line's code (OK = 0). */
int cli_finish_reply(char *reply, bool quiet_ok);
int cli_log(int argc, char **argv);

/* `bay0 log` merged by time (cli_logall.c): every source of logdir (and
 * loggers' directories named in scandir's log/run files), or only one. */
struct cli_log_req {
    const char *logdir;
    const char *scandir; /* NULL: no loggers' directories */
    const char *only;    /* NULL: every service */
    uint64_t lines;      /* the last LINES of the merge */
    bool lines_all;      /* ... or all of them */
    int64_t since_us;    /* 0: from the start; else wall-clock µs */
    bool follow;
    bool json;
};
int cli_log_merged(const struct cli_log_req *r);
/* A whole file of dir_fd (malloc'ed, NUL-terminated), or NULL. */
char *cli_log_slurp(int dir_fd, const char *name, size_t *len);
/* A line's stamp (ISO 8601 or TAI64N) and the space after: bytes used, or
 * 0 when the line has none; *t_us is UTC µs. Pure (fuzzed). */
size_t cli_log_stamp_parse(const char *s, size_t len, int64_t *t_us);
/* --since's value relative to now_us; false when it is not one. */
bool cli_log_since_parse(const char *s, int64_t now_us, int64_t *out_us);
/* The directory a log/run script gives its logger, if it is written out. */
bool cli_log_logger_dir(const char *run, char *out, size_t size);
/* calloc that exits 3 with a message when memory runs out (clients only). */
void *cli_xcalloc(size_t n, size_t size);

/* The supervisor's ping reply, asked quietly (online false: nobody
 * answered at RUNDIR/control; fields empty when not said). */
struct cli_ping {
    bool online;
    long pid;
    char persist[16]; /* on | off | dirty */
    char scandir[4096];
    char logdir[4096];
};
void cli_ping(const char *rundir, struct cli_ping *p);

/* The rundir clients use: --rundir, else $BAY0_RUNDIR, else /run/bay0. */
const char *cli_rundir(const char *option);

#endif
