/* logger.h — each service's log pipe, and the hand-off of its lines to the
 * log writer process, which does every disk write.
 *
 * bay0 creates the pipe before the first start and holds its read end for
 * the life of the service, so no line is lost when the service restarts.
 * With a log/run, that program reads the pipe on its stdin (s6 semantics)
 * and bay0 holds the write end too; with the built-in logger, each spawn
 * gets a fresh write end (see logger_child_stdout).
 * Without, PID 1's loop reads the pipe (non-blocking) into the service's
 * ring in a shared memory region, and the log writer — a child process,
 * restarted at once if it dies — formats and writes LOGDIR/NAME/current.
 * The writer commits each write with an intent record in the same shared
 * memory, so a writer killed at any instant neither loses nor repeats a
 * line. A full ring stops the reading of that one pipe (backpressure on
 * that one service); while the disk is full the supervisor keeps reading
 * and counts what it drops instead. Never touches /persist; never blocks.
 */
#ifndef BAY0_LOGGER_H
#define BAY0_LOGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct svc;

#define LOG_RING_BYTES (32u * 1024)
#define LOGGER_WRITER_RESTART_DELAY_MS 200
#define LOGGER_DRAIN_TIMEOUT_MS 3000

/* Maps the shared rings for `slots` services (+1 for bay0's own log) and
 * starts the writer. -1 on failure. */
int logger_init(uint32_t slots, const char *logdir);
int logger_open_pipe(struct svc *s);
/* fds the supervisor holds for log pipes (read ends, held write ends) */
uint32_t logger_fds_held(void);
void logger_close_pipe(struct svc *s);
/* true: a log/run program reads the pipe (blocking, not watched);
 * false: the built-in logger does (non-blocking, watched). */
void logger_use_external(struct svc *s, bool external);
/* Service settings changed (log-max-bytes, log-keep, log-timestamp). */
void logger_configure(struct svc *s);
void logger_on_readable(struct svc *s);
/* The fd a spawned program writes to: the held write end (log/run), or a
 * fresh one (built-in logger; *temp_fd is set and the caller closes it
 * after the spawn), or stderr when there is no pipe. */
int logger_child_stdout(struct svc *s, int *temp_fd);
/* An instance of s (its run, or finish) ended and what it left was killed:
 * once the rest of its output is read, a last line without a newline is
 * ended with a mark, so the next instance's first line starts on its own
 * (built-in logger only). */
void logger_instance_ended(struct svc *s);
/* Close a held write end (a logger that must see EOF). */
void logger_release_writer(struct svc *s);
/* The writer asked to resume paused pipes. */
void logger_on_resume(void);
/* The reaper saw pid exit: true if it was the writer (then restarted). */
bool logger_on_exit(pid_t pid, int status);
/* Wakes the log writer if a ring got bytes since the last call: the loop
 * calls it before it sleeps (and logger_shutdown at the end), so the writer
 * wakes once per turn of the loop, however many lines the turn made. */
void logger_wake_writer(void);
/* At the very end: let the writer drain every ring, then stop it. */
void logger_shutdown(void);
/* bay0's own log lines (log.c calls this once logger_init succeeded). */
void logger_self_append(const char *line, size_t len);

/* `bay0 logger DIR`: s6-log-like standalone logger on stdin. */
int logger_cli_main(int argc, char **argv);

#endif
