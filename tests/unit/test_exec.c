/* test_exec.c — unit tests of src/exec.c with real child processes (sh):
 * exit codes, captured and bounded output, the deadline, exec failures,
 * signals, and BAY0_PODMAN splitting. Never touches anything but its
 * children.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "util.h"

static struct exec_argv av;

static void sh(const char *script)
{
    exec_argv_init(&av);
    assert_true(exec_argv_add(&av, "/bin/sh"));
    assert_true(exec_argv_add(&av, "-c"));
    assert_true(exec_argv_add(&av, script));
}

static void test_exit_and_capture(void **state)
{
    (void)state;
    char o[64], e[64];
    struct exec_buf out = EXEC_BUF(o), err = EXEC_BUF(e);
    struct exec_result r;
    sh("echo out; echo err >&2; exit 3");
    assert_false(exec_run(&av, 5000, "t", "test", &out, &err, &r));
    assert_int_equal(r.outcome, EXEC_EXITED);
    assert_int_equal(r.exit_code, 3);
    assert_string_equal(o, "out\n");
    assert_string_equal(e, "err\n");
    sh("printf ok");
    assert_true(exec_run(&av, 5000, "t", "test", &out, NULL, &r));
    assert_string_equal(o, "ok");
    assert_false(out.truncated);
}

static void test_bounded_output(void **state)
{
    (void)state;
    char o[16];
    struct exec_buf out = EXEC_BUF(o);
    struct exec_result r;
    /* 200 KiB: more than a pipe holds, so the child blocks unless read. */
    sh("head -c 204800 /dev/zero | tr '\\0' x");
    assert_true(exec_run(&av, 10000, "t", "test", &out, NULL, &r));
    assert_int_equal(out.len, sizeof o - 1);
    assert_true(out.truncated);
    assert_string_equal(o, "xxxxxxxxxxxxxxx");
}

static void test_deadline(void **state)
{
    (void)state;
    struct exec_result r;
    sh("sleep 30");
    int64_t t0 = time_mono_ms();
    assert_false(exec_run(&av, 200, "t", "test", NULL, NULL, &r));
    int64_t took = time_mono_ms() - t0;
    assert_int_equal(r.outcome, EXEC_TIMEOUT);
    assert_true(took >= 200);
    assert_true(took < 1500);
}

/* A daemon left holding stdout must not hold the caller: the end is the
 * command's exit. */
static void test_end_is_exit_not_eof(void **state)
{
    (void)state;
    char o[64];
    struct exec_buf out = EXEC_BUF(o);
    struct exec_result r;
    sh("sleep 5 & echo started");
    int64_t t0 = time_mono_ms();
    assert_true(exec_run(&av, 4000, "t", "test", &out, NULL, &r));
    assert_true(time_mono_ms() - t0 < 2000);
    assert_string_equal(o, "started\n");
}

static void test_not_run_and_signal(void **state)
{
    (void)state;
    struct exec_result r;
    exec_argv_init(&av);
    assert_true(exec_argv_add(&av, "/nonexistent/bay0-no-such-program"));
    assert_false(exec_run(&av, 1000, "t", "test", NULL, NULL, &r));
    assert_int_equal(r.outcome, EXEC_NOT_RUN);
    assert_int_equal(r.exec_errno, ENOENT);
    char buf[96];
    assert_string_equal(exec_result_text(&r, 1000, buf, sizeof buf),
                        "not run: No such file or directory");
    sh("kill -TERM $$");
    assert_false(exec_run(&av, 1000, "t", "test", NULL, NULL, &r));
    assert_int_equal(r.outcome, EXEC_SIGNALED);
    assert_string_equal(exec_result_text(&r, 1000, buf, sizeof buf),
                        "signal SIGTERM");
}

/* ---- exec_fn_run: bay0's own work in a fork (state_run_bounded*) ---- */

static int fn_answers(void *ctx, int out_fd)
{
    const char *what = ctx;
    return fd_write_all(out_fd, what, strlen(what)) == 0 ? 7 : 1;
}

_Noreturn static int fn_hangs(void *ctx, int out_fd)
{
    (void)ctx;
    (void)out_fd;
    for (;;)
        pause();
}

static int fn_dies(void *ctx, int out_fd)
{
    (void)out_fd;
    if (ctx != NULL)
        raise(SIGKILL);
    _exit(0); /* before its result byte */
}

static void test_fn_result_and_raw_answer(void **state)
{
    (void)state;
    char o[5];
    struct exec_buf out = {.data = o, .cap = sizeof o, .raw = true};
    struct exec_result r;
    assert_false(exec_fn_run(fn_answers, "hello", 5000, &out, &r));
    assert_int_equal(r.outcome, EXEC_EXITED);
    assert_int_equal(r.exit_code, 7); /* fn's return value, from the pipe */
    assert_int_equal(out.len, 5);     /* every byte of a raw buffer */
    assert_false(out.truncated);
    assert_memory_equal(o, "hello", 5);
    assert_false(exec_fn_run(fn_answers, "hello!", 5000, &out, &r));
    assert_true(out.truncated);
    assert_int_equal(out.len, 5);
}

static void test_fn_deadline_leaves_the_child(void **state)
{
    (void)state;
    struct exec_result r;
    int64_t t0 = time_mono_ms();
    assert_false(exec_fn_run(fn_hangs, NULL, 200, NULL, &r));
    int64_t took = time_mono_ms() - t0;
    assert_int_equal(r.outcome, EXEC_TIMEOUT);
    assert_true(took >= 200 && took < 1500);
    int status;
    assert_int_equal(waitpid(r.pid, &status, 0), r.pid); /* left to the reaper: us */
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void test_fn_dies_without_a_result(void **state)
{
    (void)state;
    struct exec_result r;
    assert_false(exec_fn_run(fn_dies, "kill", 5000, NULL, &r));
    assert_int_equal(r.outcome, EXEC_SIGNALED);
    /* its signal when it is a zombie already at the pipes' EOF, else 0 */
    assert_true(r.term_signal == SIGKILL || r.term_signal == 0);
    assert_false(exec_fn_run(fn_dies, NULL, 5000, NULL, &r));
    assert_int_equal(r.outcome, EXEC_SIGNALED);
    assert_int_equal(r.term_signal, 0); /* ended, no result */
}

static void test_podman_argv(void **state)
{
    (void)state;
    unsetenv("BAY0_PODMAN");
    assert_true(exec_argv_podman(&av));
    assert_int_equal(av.argc, 1);
    assert_string_equal(av.argv[0], "podman");
    setenv("BAY0_PODMAN", "  ", 1);
    assert_true(exec_argv_podman(&av));
    assert_string_equal(av.argv[0], "podman");
    setenv("BAY0_PODMAN", " podman  --root /d/root --tmpdir /d/tmp ", 1);
    assert_true(exec_argv_podman(&av));
    assert_int_equal(av.argc, 5);
    assert_string_equal(av.argv[2], "/d/root");
    assert_string_equal(av.argv[4], "/d/tmp");
    assert_null(av.argv[5]);
    unsetenv("BAY0_PODMAN");
}

static void test_argv_overflow(void **state)
{
    (void)state;
    exec_argv_init(&av);
    for (int i = 0; i < EXEC_ARGS_MAX; i++)
        assert_true(exec_argv_add(&av, "x"));
    assert_false(exec_argv_add(&av, "x"));
    assert_true(av.overflow);
    struct exec_result r;
    assert_false(exec_run(&av, 1000, "t", "test", NULL, NULL, &r));
    assert_int_equal(r.outcome, EXEC_NOT_RUN);
    assert_int_equal(r.exec_errno, E2BIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_and_capture),
        cmocka_unit_test(test_bounded_output),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_end_is_exit_not_eof),
        cmocka_unit_test(test_not_run_and_signal),
        cmocka_unit_test(test_fn_result_and_raw_answer),
        cmocka_unit_test(test_fn_deadline_leaves_the_child),
        cmocka_unit_test(test_fn_dies_without_a_result),
        cmocka_unit_test(test_podman_argv),
        cmocka_unit_test(test_argv_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
