/* exec.h — the one runner for every child with a deadline: external
 * commands (podman, tools) and bay0's own work in a fork (exec_fn_run).
 *
 * exec_run() forks, execs argv with stdin on /dev/null, captures stdout and
 * stderr into the caller's bounded buffers, and waits for the child until a
 * deadline in milliseconds; a child still running then is sent SIGKILL (its
 * process group too). The child also dies when its caller does. One log line before (what, why, the command) and one
 * after (exit status, milliseconds, the tail of stderr on failure).
 *
 * It BLOCKS until the child ends or the deadline passes: only for clients
 * and for bay0's own child processes, never for PID 1's event loop.
 * Never allocates; never touches /persist.
 *
 * The podman command line comes from the environment variable BAY0_PODMAN
 * (default "podman"), split on spaces, so tests can give every session its
 * own store: BAY0_PODMAN="podman --root D/root --runroot D/run --tmpdir D/tmp".
 */
#ifndef BAY0_EXEC_H
#define BAY0_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define EXEC_ARGS_MAX 128          /* arguments, argv[0] included */
#define EXEC_ARGV_BYTES_MAX 8192   /* all arguments' bytes, NULs included */
#define EXEC_STDERR_TAIL_BYTES 300 /* stderr shown in the after-line */
#define EXEC_KILL_WAIT_MS 1000     /* after SIGKILL, wait this long to reap */

/* An argument vector built in fixed storage. */
struct exec_argv {
    size_t argc;
    size_t used_bytes;
    bool overflow; /* an add did not fit: exec_run refuses to run it */
    char *argv[EXEC_ARGS_MAX + 1];
    char bytes[EXEC_ARGV_BYTES_MAX];
};

void exec_argv_init(struct exec_argv *a);
/* Append one argument (copied). false (and a->overflow set) if it does not
 * fit. */
bool exec_argv_add(struct exec_argv *a, const char *arg);
/* Append each word of a space-separated string. */
bool exec_argv_add_words(struct exec_argv *a, const char *words);
/* Start a with the podman command line: $BAY0_PODMAN split on spaces, or
 * "podman" when unset or blank. */
bool exec_argv_podman(struct exec_argv *a);
/* The podman command line exec_argv_podman uses ("podman" by default). */
const char *exec_podman_cmdline(void);

/* A bounded capture buffer: at most cap-1 bytes are kept (NUL-terminated);
 * more output is read and dropped, and truncated says so. */
struct exec_buf {
    char *data;
    size_t cap;
    size_t len;
    bool truncated;
    bool raw; /* keep all cap bytes, no NUL (exec_fn_run's binary answers) */
};
#define EXEC_BUF(arr) ((struct exec_buf){.data = (arr), .cap = sizeof(arr)})

enum exec_outcome {
    EXEC_EXITED = 0, /* exit_code is valid (0 is success) */
    EXEC_SIGNALED,   /* killed by signal term_signal */
    EXEC_TIMEOUT,    /* the deadline passed; the child was sent SIGKILL */
    EXEC_NOT_RUN,    /* fork/pipe failed, argv overflowed, or exec failed */
};

struct exec_result {
    enum exec_outcome outcome;
    int exit_code;    /* EXEC_EXITED: 0..255; else -1 */
    int term_signal;  /* EXEC_SIGNALED: the signal; else 0 */
    int exec_errno;   /* EXEC_NOT_RUN: errno of the failure (ENOENT...) */
    int64_t elapsed_ms;
    pid_t pid;        /* the child's pid, 0 when none was made */
};

/* Run argv with a deadline. what: a short name for the log ("podman-start");
 * why: what it is for ("p://work: start"). out and err may be NULL (the
 * output is then discarded). Returns true when the command ran and exited
 * with status 0; res (may be NULL) has the details either way. */
bool exec_run(const struct exec_argv *a, uint32_t deadline_ms,
              const char *what, const char *why, struct exec_buf *out,
              struct exec_buf *err, struct exec_result *res);

/* Run fn(ctx, out_fd) in a forked child with the same capture and deadline:
 * out_fd is a pipe into out (-1 when out is NULL); more than out holds is
 * dropped and out->truncated says so. fn's return value (0..255) comes
 * back in a pipe just before the child exits, as res->exit_code
 * (EXEC_EXITED), so a reaper that reaps the child first loses nothing.
 * EXEC_SIGNALED: the child ended without a result (term_signal: its signal
 * when it could be seen, else 0). EXEC_TIMEOUT: the deadline passed; the
 * child was sent SIGKILL and is never waited for (stuck in D state on a
 * hung disk, it is the reaper's): never blocks past the deadline, so PID 1
 * may call it (state_run_bounded*). In the child, the panic handler is
 * dropped and signals are reset (child_signals_reset). No log lines.
 * True when fn returned 0. */
typedef int (*exec_fn)(void *ctx, int out_fd);
bool exec_fn_run(exec_fn fn, void *ctx, uint32_t deadline_ms,
                 struct exec_buf *out, struct exec_result *res);

/* "exit 0", "exit 125", "signal SIGKILL", "timeout after 5000 ms",
 * "not run: No such file or directory" into buf (always terminated). */
const char *exec_result_text(const struct exec_result *r, uint32_t deadline_ms,
                             char *buf, size_t size);

#endif
