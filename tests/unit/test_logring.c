/* test_logring.c — the supervisor's side of a service's log ring
 * (src/logger.c) at exact byte counts: the real pipe, the real shared
 * rings and the real writer process, which the test stops (SIGSTOP) while
 * it plays the writer's part by moving the ring's tail, as the writer's
 * commit does; then it lets the writer go and reads what reached the file.
 *
 * The cases are the soak's garbled long lines (issue 19): an ended
 * instance's mark placed just before a read took the room that read had
 * counted on, so the read overwrote bytes the writer had not yet taken,
 * or asked for 0 bytes and took that for the end of the pipe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "logfile.h"
#include "logger.h"
#include "logring.h"
#include "loop.h"
#include "scan.h"
#include "svc.h"
#include "svcdir.h"
#include "util.h"

static char logdir[] = "/tmp/bay0-test-logring.XXXXXX";
static pid_t writer;
static struct logring_hdr *rings;

/* The writer: this process's one child, which logger_init forked. */
static pid_t find_writer(void)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    pid_t found = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *close_paren = strrchr(buf, ')');
        int ppid = 0;
        if (close_paren && /* comm may not be "bay0-logwriter" yet */
            sscanf(close_paren + 2, "%*c %d", &ppid) == 1 && ppid == getpid())
            found = atoi(e->d_name);
    }
    closedir(d);
    assert_true(found > 0);
    return found;
}

/* The rings, as this process mapped them in logger_init. */
static struct logring_hdr *find_rings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[512];
    unsigned long start = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "/memfd:bay0-logrings"))
            start = strtoul(line, NULL, 16);
    fclose(f);
    assert_true(start != 0);
    return (struct logring_hdr *)start;
}

static void writer_stop(void)
{
    int st;
    assert_int_equal(kill(writer, SIGSTOP), 0);
    assert_int_equal(waitpid(writer, &st, WUNTRACED), writer);
    assert_true(WIFSTOPPED(st));
}

static void writer_go(void) { assert_int_equal(kill(writer, SIGCONT), 0); }

/* A service in slot 0 with a fresh ring (a new name resets it), unstamped
 * lines, and a write end for its "instances". */
static struct svc *service(const char *name, int *wfd)
{
    struct svc *s = &sup.svcs[0];
    if (s->log_rfd >= 0)
        logger_close_pipe(s);
    svc_slot_reset(s);
    snprintf(s->name, sizeof s->name, "%s", name);
    svcdir_defaults(&s->def);
    s->def.log_stamp = LOG_STAMP_NONE;
    sup.used_hi = 1;
    logger_configure(s);
    assert_int_equal(logger_open_pipe(s), 0);
    int fd = logger_child_stdout(s, wfd);
    assert_true(fd >= 0 && fd == *wfd);
    return s;
}

static struct logring *ring(void) { return logring_at(rings, 0); }
static uint64_t used(void) { return atomic_load(&ring()->head) - atomic_load(&ring()->tail); }

static void put(int fd, char c, size_t n)
{
    char buf[LOG_RING_BYTES];
    assert_true(n <= sizeof buf);
    memset(buf, c, n);
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
}

/* The writer's part: it took n bytes (which therefore never reach the file). */
static void writer_took(uint64_t n) { atomic_fetch_add(&ring()->tail, n); }

static bool drained(const struct svc *s)
{
    int pending = 0;
    return used() == 0 && ioctl(s->log_rfd, FIONREAD, &pending) == 0 && pending == 0 &&
           ring()->sup_marks == 0 && !ring()->intent_valid;
}

/* The loop's part, until everything in the pipe and the ring is written. */
static void run_until_drained(struct svc *s)
{
    int64_t deadline = time_mono_ms() + 10000;
    while (!drained(s)) {
        assert_true(time_mono_ms() < deadline);
        logger_wake_writer(); /* as the loop does before it sleeps */
        struct epoll_event ev[4];
        int n = epoll_wait(sup.epoll_fd, ev, 4, 20);
        for (int i = 0; i < n; i++) {
            uint32_t kind = (uint32_t)(ev[i].data.u64 >> 32);
            if (kind == WATCH_LOG)
                logger_on_readable(svc_at((uint32_t)ev[i].data.u64));
            else if (kind == WATCH_LOG_RESUME)
                logger_on_resume();
        }
    }
}

/* current, with each long line's pieces joined again. */
static char *file_text(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s/current", logdir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 4 * LOG_RING_BYTES);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 4 * LOG_RING_BYTES - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (char *p; (p = strstr(buf, "\n" LOG_SPLIT_MARK));)
        memmove(p, p + 1 + strlen(LOG_SPLIT_MARK), strlen(p + 1 + strlen(LOG_SPLIT_MARK)) + 1);
    return buf;
}

static char *text_of(const char *a, size_t na, const char *mid, char b, size_t nb, const char *end)
{
    char *t = calloc(1, na + strlen(mid) + nb + strlen(end) + 1);
    assert_non_null(t);
    memset(t, *a, na);
    strcat(t, mid);
    memset(t + strlen(t), b, nb);
    strcat(t, end);
    return t;
}

#define A_BYTES (LOG_RING_BYTES - LOG_END_MARK_BYTES + 1) /* too many for A's mark */

/* The writer stopped; instance A wrote A_BYTES without a newline, all
 * read, and ended with no room left for its mark; instance B wrote a
 * 100-byte line, still in the pipe. */
static struct svc *a_ended_without_room_for_its_mark(const char *name, int *wfd)
{
    struct svc *s = service(name, wfd);
    writer_stop();
    put(*wfd, 'a', A_BYTES);
    logger_on_readable(s);
    assert_int_equal(used(), A_BYTES);
    logger_instance_ended(s);
    assert_int_equal(used(), A_BYTES); /* the mark waits */
    put(*wfd, 'B', 99);
    put(*wfd, '\n', 1);
    return s;
}

/* The writer goes on; the file then holds what it had not taken of A,
 * the mark, and B's line. */
static void file_gets_the_rest(struct svc *s, int wfd, uint64_t taken)
{
    writer_go();
    run_until_drained(s);
    char *got = file_text(s->name);
    char *want = text_of("a", A_BYTES - taken, LOG_END_MARK, 'B', 99, "\n");
    assert_string_equal(got, want);
    free(got);
    free(want);
    close(wfd);
}

/* B ends too, and the writer frees just enough for A's mark: placing it
 * leaves 30 bytes free, and B's mark still keeps its own. The old read
 * counted on the room the mark had taken (a negative room, cut to the
 * ring's end) and overwrote 70 bytes the writer had not taken yet. */
static void test_a_mark_placed_before_a_read_leaves_room_for_the_next(void **state)
{
    (void)state;
    int wfd;
    struct svc *s = a_ended_without_room_for_its_mark("over", &wfd);
    logger_instance_ended(s); /* B: its mark after its 100 bytes */
    writer_took(LOG_END_MARK_BYTES);
    logger_on_readable(s);
    assert_true(used() <= LOG_RING_BYTES); /* never more than the ring holds */
    file_gets_the_rest(s, wfd, LOG_END_MARK_BYTES);
}

/* B still runs, and placing A's mark fills the ring to its last byte.
 * The old read then asked the pipe for 0 bytes, took the 0 it got for the
 * end of the pipe, and stopped watching it for good. */
static void test_a_mark_that_fills_the_ring_pauses_reading(void **state)
{
    (void)state;
    int wfd;
    struct svc *s = a_ended_without_room_for_its_mark("full", &wfd);
    writer_took(1);
    logger_on_readable(s);
    assert_int_equal(used(), LOG_RING_BYTES);
    assert_false(s->log_eof);
    assert_true(atomic_load(&ring()->flags) & LOGRING_PAUSED);
    file_gets_the_rest(s, wfd, 1);
}

static int group_setup(void **state)
{
    (void)state;
    log_set_level((enum log_level)(LOG_LEVEL_ERROR + 1));
    sup.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    sup.scan_fd = -1;
    sup.devnull_fd = -1;
    assert_true(sup.epoll_fd >= 0);
    assert_int_equal(sup_table_init(SVC_SLOTS_MIN), 0);
    assert_non_null(mkdtemp(logdir));
    assert_int_equal(logger_init(SVC_SLOTS_MIN, logdir), 0);
    writer = find_writer();
    rings = find_rings();
    return 0;
}

/* A failed case leaves the writer stopped: the next one stops it afresh. */
static int case_teardown(void **state)
{
    (void)state;
    kill(writer, SIGCONT);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    kill(writer, SIGKILL);
    waitpid(writer, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", logdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_a_mark_placed_before_a_read_leaves_room_for_the_next,
                                  case_teardown),
        cmocka_unit_test_teardown(test_a_mark_that_fills_the_ring_pauses_reading, case_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
