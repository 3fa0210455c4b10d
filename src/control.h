/* control.h — the control socket RUNDIR/control (server side).
 *
 * Protocol (text, one request per connection):
 *   request:  VERB [ARG...]\n       at most CONTROL_REQUEST_BYTES_MAX bytes
 *   reply:    zero or more lines, then exactly one final line:
 *             "OK [text]"  or  "ERR CODE text"  (CODE is the client's exit code)
 *   lines:    "S\t<fields>"  a status row (see CONTROL_STATUS_FIELDS)
 *             "I text"       information for the user
 *             "E name text"  a per-service error
 * Verbs: status [NAME...] · events (one JSON line per state change until
 * the client closes; a client that does not read is dropped) · times [NAME...] (rows "T\t<fields>", see
 * CONTROL_TIMES_FIELDS; "OK start_us=N init_us=N now_us=N", CLOCK_BOOTTIME µs) · start|stop|restart [--nowait] NAME... ·
 * signal SIG NAME... · reload · shutdown|poweroff|reboot|halt · ping ·
 * governor [--json] (read-only, like status, times and ping) ·
 * focus [--json] [p://NAME] (switching needs uid 0 or the supervisor's).
 * ping answers
 * "OK bay0 VERSION pid PID persist=on|off|dirty logdir DIR" (dirty: a
 * PID 1 whose /persist was not mounted at boot).
 * SO_PEERCRED: uid 0 and the supervisor's uid may change state; anyone may
 * read status. Garbage gets "ERR 2" and the connection closes; nothing a
 * client sends can block the loop or grow memory.
 */
#ifndef BAY0_CONTROL_H
#define BAY0_CONTROL_H

#include <stdint.h>

#define CONTROL_REQUEST_BYTES_MAX 4096
#define CONTROL_CONNECTIONS_MAX 32
#define CONTROL_ACCEPT_BATCH 16       /* connections taken per wake-up */
#define CONTROL_ACCEPT_BACKOFF_MS 100 /* out of fds: pause accepting this long */
#define CONTROL_TARGETS_MAX 2048 /* a 4096-byte request names at most this many */
#define CONTROL_STATUS_FIELDS \
    "name state pid since_ms restarts exit_kind exit_value desired ready type depends_on waiting_for reason"

#define CONTROL_TIMES_FIELDS \
    "name type state depends_on first(wanted spawned up ready exited) latest(same)"

int control_listen(const char *rundir);
void control_close(const char *rundir);
void control_on_accept(void);
void control_on_conn(int32_t index, uint32_t events);
/* A service changed from old to its state: a line to every events reader. */
struct svc;
void control_on_state(const struct svc *s, unsigned old);
/* A service changed state: re-check waiting requests. */
void control_on_change(void);
/* Out of fds, accepting pauses: when to resume (0: not paused), and the
 * loop's timer calls control_on_timer then. */
int64_t control_deadline_ms(void);
void control_on_timer(int64_t now_ms);

#endif
