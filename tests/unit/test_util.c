/* test_util.c — unit tests of src/util.c: bounded number and signal
 * parsing, bounded strings, small file reads and atomic replaces (real
 * files in a temp dir),
 * directory iteration past one getdents buffer, the fd table reservation
 * (read back from FDSize in /proc/self/status), and the naming grammar.
 *
 * Tests may allocate (the module under test never does). Never touches
 * anything outside its own mkdtemp directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* ---- helpers ------------------------------------------------------------ */

struct tmp {
    char path[64];
    int fd;
};

static int tmp_setup(void **state)
{
    struct tmp *t = calloc(1, sizeof *t);
    assert_non_null(t);
    strcpy(t->path, "/tmp/bay0-test-util-XXXXXX");
    assert_non_null(mkdtemp(t->path));
    t->fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(t->fd >= 0);
    *state = t;
    return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int tmp_teardown(void **state)
{
    struct tmp *t = *state;
    close(t->fd);
    nftw(t->path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(t);
    return 0;
}

static void write_file(int dirfd, const char *name, const void *data,
                       size_t len)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(fd_write_all(fd, data, len), 0);
    close(fd);
}

static bool parses(const char *s, uint64_t max, uint64_t want)
{
    uint64_t v = 0xdeadbeef;
    return parse_u64(s, max, &v) && v == want;
}

static bool rejects(const char *s, uint64_t max)
{
    uint64_t v = 0xdeadbeef;
    return !parse_u64(s, max, &v) && v == 0xdeadbeef; /* out untouched */
}

/* ---- parse_u64 ---------------------------------------------------------- */

static void test_parse_u64_plain_and_whitespace(void **state)
{
    (void)state;
    assert_true(parses("0", 10, 0));
    assert_true(parses("42", 100, 42));
    assert_true(parses("007", 100, 7));
    assert_true(parses(" 42", 100, 42));
    assert_true(parses("42\n", 100, 42));
    assert_true(parses("\t 42 \r\n", 100, 42));
    assert_true(parses("\n\n5000\n", 5000, 5000));
}

static void test_parse_u64_max(void **state)
{
    (void)state;
    assert_true(parses("100", 100, 100));
    assert_true(rejects("101", 100));
    assert_true(rejects("1000", 100));
    assert_true(parses("18446744073709551615", UINT64_MAX, UINT64_MAX));
    assert_true(rejects("18446744073709551616", UINT64_MAX));
    assert_true(rejects("99999999999999999999999", UINT64_MAX));
    assert_true(parses("18446744073709551614", UINT64_MAX - 1, UINT64_MAX - 1));
    assert_true(rejects("18446744073709551615", UINT64_MAX - 1));
    assert_true(parses("0", 0, 0));
}

/* A max below a digit's value: "7" with max 5 must be refused (the
 * overflow check once wrapped when the digit exceeded max; found by
 * fuzzing). */
static void test_parse_u64_small_max(void **state)
{
    (void)state;
    assert_true(rejects("7", 5));
    assert_true(rejects("9", 8));
    assert_true(rejects("07", 5));
    assert_true(rejects("1", 0));
    assert_true(parses("5", 5, 5));
}

static void test_parse_u64_garbage(void **state)
{
    (void)state;
    const char *bad[] = {"", " ", "\n", "-1", "+1", "1 2", "0x10", "12abc",
                         "abc", "1.5", "1e3", "١", "4\v", "\v4"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (!rejects(bad[i], UINT64_MAX))
            fail_msg("accepted '%s'", bad[i]);
    }
}

/* ---- signals ------------------------------------------------------------ */

static void test_signal_from_name(void **state)
{
    (void)state;
    assert_int_equal(signal_from_name("TERM"), SIGTERM);
    assert_int_equal(signal_from_name("SIGTERM"), SIGTERM);
    assert_int_equal(signal_from_name("sigterm"), SIGTERM);
    assert_int_equal(signal_from_name("term"), SIGTERM);
    assert_int_equal(signal_from_name("SigHup"), SIGHUP);
    assert_int_equal(signal_from_name("KILL"), SIGKILL);
    assert_int_equal(signal_from_name("15"), 15);
    assert_int_equal(signal_from_name("9"), 9);
    assert_int_equal(signal_from_name(" TERM\n"), SIGTERM);
    assert_int_equal(signal_from_name("15\n"), 15);
    assert_int_equal(signal_from_name("64"), 64);
}

/* The names are bay0's own table (musl has no sigabbrev_np): each standard
 * signal by its usual name, both ways; real-time signals have none. */
static void test_signal_table(void **state)
{
    (void)state;
    static const struct { int sig; const char *name; } known[] = {
        {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},       {SIGQUIT, "SIGQUIT"},
        {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"},     {SIGSEGV, "SIGSEGV"},
        {SIGUSR2, "SIGUSR2"}, {SIGPIPE, "SIGPIPE"},     {SIGALRM, "SIGALRM"},
        {SIGTERM, "SIGTERM"}, {SIGCHLD, "SIGCHLD"},     {SIGCONT, "SIGCONT"},
        {SIGSTOP, "SIGSTOP"}, {SIGWINCH, "SIGWINCH"},   {SIGPWR, "SIGPWR"},
        {SIGSYS, "SIGSYS"},   {SIGSTKFLT, "SIGSTKFLT"}, {SIGABRT, "SIGABRT"},
    };
    for (size_t i = 0; i < ARRAY_LEN(known); i++) {
        assert_string_equal(signal_name(known[i].sig), known[i].name);
        assert_int_equal(signal_from_name(known[i].name), known[i].sig);
    }
    for (int sig = 1; sig < 32; sig++)
        if (strcmp(signal_name(sig), "SIG?") == 0)
            fail_msg("signal %d has no name", sig);
    assert_string_equal(signal_name(SIGRTMIN), "SIG?");
    assert_string_equal(signal_name(64), "SIG?");
    assert_int_equal(signal_from_name("IO"), 0);
}

static void test_signal_from_name_rejects(void **state)
{
    (void)state;
    const char *bad[] = {"0", "99", "65", "-15", "SIGWHAT", "WHAT", "",
                         "SIG", "TERMx", "TERM x", "SIGTERM 15", "15x",
                         "SIGSIGTERM", "TERMTERMTERMTERMTERM", "T ERM"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        int sig = signal_from_name(bad[i]);
        if (sig != 0)
            fail_msg("'%s' gave %d", bad[i], sig);
    }
}

static void test_signal_name(void **state)
{
    (void)state;
    assert_string_equal(signal_name(SIGTERM), "SIGTERM");
    assert_string_equal(signal_name(SIGKILL), "SIGKILL");
    assert_string_equal(signal_name(SIGHUP), "SIGHUP");
    assert_string_equal(signal_name(0), "SIG?");
    assert_string_equal(signal_name(-1), "SIG?");
    assert_string_equal(signal_name(NSIG), "SIG?");
    assert_string_equal(signal_name(1000), "SIG?");
}

/* Every signal with a name reads back as itself, by name and number. */
static void test_signal_round_trip(void **state)
{
    (void)state;
    int named = 0;
    for (int sig = 1; sig < NSIG; sig++) {
        char name[32];
        strcpy(name, signal_name(sig));
        if (strcmp(name, "SIG?") == 0)
            continue;
        named++;
        if (signal_from_name(name) != sig)
            fail_msg("%s (%d) reads back as %d", name, sig, signal_from_name(name));
        if (signal_from_name(name + 3) != sig)
            fail_msg("%s without SIG does not read back", name);
        char num[16];
        snprintf(num, sizeof num, "%d", sig);
        assert_int_equal(signal_from_name(num), sig);
    }
    assert_true(named >= 31);
}

/* ---- strings ------------------------------------------------------------ */

static void test_str_copy(void **state)
{
    (void)state;
    char buf[6];
    memset(buf, 'x', sizeof buf);
    assert_true(str_copy(buf, sizeof buf, "abcde"));
    assert_string_equal(buf, "abcde");
    assert_false(str_copy(buf, sizeof buf, "abcdef"));
    assert_string_equal(buf, "abcde");
    assert_false(str_copy(buf, sizeof buf, "a much longer string"));
    assert_string_equal(buf, "a muc");
    assert_true(str_copy(buf, sizeof buf, ""));
    assert_string_equal(buf, "");
    char one[1] = {'x'};
    assert_false(str_copy(one, sizeof one, "a"));
    assert_int_equal(one[0], '\0');
    assert_true(str_copy(one, sizeof one, ""));
}

static void test_str_fmt(void **state)
{
    (void)state;
    char buf[8];
    assert_true(str_fmt(buf, sizeof buf, "%s-%d", "ab", 1234));
    assert_string_equal(buf, "ab-1234");
    assert_false(str_fmt(buf, sizeof buf, "%s-%d", "ab", 12345));
    assert_string_equal(buf, "ab-1234");
    assert_true(str_fmt(buf, sizeof buf, "%s", ""));
    assert_string_equal(buf, "");
}

static void test_str_rstrip(void **state)
{
    (void)state;
    char a[] = "value \t\r\n\n";
    assert_int_equal(str_rstrip(a), 5);
    assert_string_equal(a, "value");
    char b[] = "  inner space  x";
    assert_int_equal(str_rstrip(b), strlen("  inner space  x"));
    assert_string_equal(b, "  inner space  x");
    char c[] = " \n\t ";
    assert_int_equal(str_rstrip(c), 0);
    assert_string_equal(c, "");
    char d[] = "";
    assert_int_equal(str_rstrip(d), 0);
}

/* ---- file_read_small ---------------------------------------------------- */

static void test_file_read_small_fits(void **state)
{
    struct tmp *t = *state;
    char buf[8];
    write_file(t->fd, "seven", "1234567", 7); /* exactly buf_size - 1 */
    memset(buf, 'x', sizeof buf);
    assert_int_equal(file_read_small(t->fd, "seven", buf, sizeof buf), 7);
    assert_string_equal(buf, "1234567");
    write_file(t->fd, "short", "ab\n", 3);
    assert_int_equal(file_read_small(t->fd, "short", buf, sizeof buf), 3);
    assert_string_equal(buf, "ab\n");
    write_file(t->fd, "empty", "", 0);
    assert_int_equal(file_read_small(t->fd, "empty", buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    /* An absolute path with AT_FDCWD works too. */
    char path[128];
    snprintf(path, sizeof path, "%s/short", t->path);
    assert_int_equal(file_read_small(AT_FDCWD, path, buf, sizeof buf), 3);
}

static void test_file_read_small_too_big(void **state)
{
    struct tmp *t = *state;
    char buf[8];
    write_file(t->fd, "eight", "12345678", 8); /* one byte too many */
    errno = 0;
    assert_int_equal(file_read_small(t->fd, "eight", buf, sizeof buf), -1);
    assert_int_equal(errno, EFBIG);
    char big[100000];
    memset(big, 'z', sizeof big);
    write_file(t->fd, "big", big, sizeof big);
    errno = 0;
    assert_int_equal(file_read_small(t->fd, "big", buf, sizeof buf), -1);
    assert_int_equal(errno, EFBIG);
}

static void test_file_read_small_errors(void **state)
{
    struct tmp *t = *state;
    char buf[8];
    errno = 0;
    assert_int_equal(file_read_small(t->fd, "missing", buf, sizeof buf), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(mkdirat(t->fd, "adir", 0755), 0);
    errno = 0;
    assert_int_equal(file_read_small(t->fd, "adir", buf, sizeof buf), -1);
    assert_int_equal(errno, EISDIR);
    int before = open("/dev/null", O_RDONLY); /* no fd leaked on errors */
    close(before);
    file_read_small(t->fd, "adir", buf, sizeof buf);
    file_read_small(t->fd, "missing", buf, sizeof buf);
    int after = open("/dev/null", O_RDONLY);
    close(after);
    assert_int_equal(before, after);
}

/* ---- file_replace / file_replace_durable -------------------------------- */

static void test_file_replace_durable(void **state)
{
    struct tmp *t = *state;
    char path[128], tmp[140], buf[16];
    snprintf(path, sizeof path, "%s/f", t->path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    const char *step = "untouched";
    assert_true(file_replace_durable(path, "one", 3, 0600, &step));
    assert_string_equal(step, "untouched"); /* only set on failure */
    assert_true(file_replace_durable(path, "second", 6, 0644, NULL));
    assert_int_equal(file_read_small(AT_FDCWD, path, buf, sizeof buf), 6);
    assert_string_equal(buf, "second");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644); /* the new file's mode */
    assert_int_equal(access(tmp, F_OK), -1);
    assert_true(file_replace_durable(path, "", 0, 0600, NULL)); /* empty */
    assert_int_equal(file_read_small(AT_FDCWD, path, buf, sizeof buf), 0);
    /* A bare name is relative to the current directory. */
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(t->path), 0);
    assert_true(file_replace_durable("bare", "b", 1, 0600, NULL));
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(file_read_small(t->fd, "bare", buf, sizeof buf), 1);
}

static void test_file_replace_durable_names_the_step(void **state)
{
    struct tmp *t = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/missing/f", t->path);
    const char *step = NULL;
    errno = 0;
    assert_false(file_replace_durable(path, "x", 1, 0600, &step));
    assert_int_equal(errno, ENOENT);
    assert_string_equal(step, "create");
    /* rename onto a directory: the temp file is gone afterwards. */
    assert_int_equal(mkdirat(t->fd, "adir", 0755), 0);
    assert_int_equal(mkdirat(t->fd, "adir/x", 0755), 0);
    snprintf(path, sizeof path, "%s/adir", t->path);
    assert_false(file_replace_durable(path, "x", 1, 0600, &step));
    assert_string_equal(step, "rename");
    assert_int_equal(faccessat(t->fd, "adir.tmp", F_OK, 0), -1);
    /* file_replace() is the same dance without the fsyncs. */
    snprintf(path, sizeof path, "%s/g", t->path);
    assert_true(file_replace(path, "text"));
    char buf[16];
    assert_int_equal(file_read_small(t->fd, "g", buf, sizeof buf), 4);
    assert_int_equal(dir_fsync(t->path), 0);
    errno = 0;
    assert_int_equal(dir_fsync(path), -1); /* a file, not a directory */
    assert_int_equal(errno, ENOTDIR);
}

/* ---- dir_each ----------------------------------------------------------- */

#define MANY_ENTRIES 700 /* ~40-byte records: > 3 getdents buffers of 8 KiB */

struct seen {
    unsigned char *hit;
    uint32_t count;
    uint32_t stop_after; /* 0 = never stop */
    bool bad;
};

static bool on_entry(const char *name, unsigned char d_type, void *ctx)
{
    struct seen *s = ctx;
    unsigned idx;
    char tail;
    if (sscanf(name, "entry-with-longish-name-%u%c", &idx, &tail) != 1 ||
        idx >= MANY_ENTRIES || d_type != DT_REG) {
        s->bad = true;
    } else {
        s->hit[idx]++;
    }
    s->count++;
    return s->stop_after == 0 || s->count < s->stop_after;
}

static void make_many(struct tmp *t)
{
    for (unsigned i = 0; i < MANY_ENTRIES; i++) {
        char name[64];
        snprintf(name, sizeof name, "entry-with-longish-name-%u", i);
        write_file(t->fd, name, "", 0);
    }
}

static void test_dir_each_many(void **state)
{
    struct tmp *t = *state;
    make_many(t);
    unsigned char hit[MANY_ENTRIES] = {0};
    struct seen s = {.hit = hit};
    assert_int_equal(dir_each(t->fd, on_entry, &s), 0);
    assert_false(s.bad);
    assert_int_equal(s.count, MANY_ENTRIES);
    for (unsigned i = 0; i < MANY_ENTRIES; i++)
        assert_int_equal(hit[i], 1);
    /* A second pass rewinds and sees everything again. */
    memset(hit, 0, sizeof hit);
    s.count = 0;
    assert_int_equal(dir_each(t->fd, on_entry, &s), 0);
    assert_int_equal(s.count, MANY_ENTRIES);
}

static void test_dir_each_early_stop(void **state)
{
    struct tmp *t = *state;
    make_many(t);
    unsigned char hit[MANY_ENTRIES] = {0};
    struct seen s = {.hit = hit, .stop_after = 1};
    assert_int_equal(dir_each(t->fd, on_entry, &s), 0);
    assert_int_equal(s.count, 1);
    s.count = 0;
    s.stop_after = 500; /* past the first buffer */
    assert_int_equal(dir_each(t->fd, on_entry, &s), 0);
    assert_int_equal(s.count, 500);
    assert_false(s.bad);
}

static bool count_only(const char *name, unsigned char d_type, void *ctx)
{
    (void)d_type;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        fail_msg("dir_each passed '%s'", name);
    (*(uint32_t *)ctx)++;
    return true;
}

static void test_dir_each_empty_and_bad_fd(void **state)
{
    struct tmp *t = *state;
    uint32_t n = 0;
    assert_int_equal(dir_each(t->fd, count_only, &n), 0);
    assert_int_equal(n, 0);
    int fd = openat(t->fd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    errno = 0;
    assert_int_equal(dir_each(fd, count_only, &n), -1); /* not a directory */
    assert_int_equal(errno, ENOTDIR);
    close(fd);
    assert_int_equal(dir_each(t->fd, count_only, &n), 0);
    assert_int_equal(n, 1);
}

/* ---- name_check --------------------------------------------------------- */

/* ---- fd_table_reserve --------------------------------------------------- */

static long fd_table_size(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    long size = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "FDSize: %ld", &size) == 1)
            break;
    fclose(f);
    assert_true(size > 0);
    return size;
}

static int lowest_free_fd(void)
{
    int fd = fcntl(0, F_DUPFD, 0);
    assert_true(fd >= 0);
    close(fd);
    return fd;
}

/* The table grows to hold `top` now; no fd is left open, anywhere. */
static void test_fd_table_reserve_grows_the_table_only(void **state)
{
    (void)state;
    long before = fd_table_size();
    int low = lowest_free_fd();
    uint32_t top = (uint32_t)before * 4 + 1; /* past the next two doublings */
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur != RLIM_INFINITY && top >= rl.rlim_cur)
        skip();
    assert_true(fd_table_reserve(0, top));
    assert_true(fd_table_size() > (long)top);
    assert_int_equal(fcntl((int)top, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    assert_int_equal(lowest_free_fd(), low);
}

/* Past RLIMIT_NOFILE it stops at the limit instead of failing. */
static void test_fd_table_reserve_stops_at_the_limit(void **state)
{
    (void)state;
    struct rlimit saved, rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    rl = saved;
    rl.rlim_cur = (rlim_t)fd_table_size() * 2;
    if (saved.rlim_max != RLIM_INFINITY && rl.rlim_cur > saved.rlim_max)
        skip();
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    bool ok = fd_table_reserve(0, (uint32_t)rl.rlim_cur * 8);
    long size = fd_table_size();
    int left = fcntl((int)rl.rlim_cur - 1, F_GETFD);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_true(ok);
    assert_true(size >= (long)rl.rlim_cur);
    assert_int_equal(left, -1);
    /* and a bad fd to copy is refused, never fatal */
    assert_false(fd_table_reserve(-1, 10));
}

static void test_name_check_valid(void **state)
{
    (void)state;
    const char *ok[] = {"a", "web", "getty@tty1", "db-2", "x_y", "c++",
                        "v1.2.3", "A-Z.0-9_@+", "9", "a."};
    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        const char *why = name_check(ok[i], 64);
        if (why)
            fail_msg("'%s' refused: %s", ok[i], why);
    }
}

static void test_name_check_length(void **state)
{
    (void)state;
    char name[80];
    memset(name, 'n', sizeof name);
    name[64] = '\0';
    assert_null(name_check(name, 64));
    name[64] = 'n';
    name[65] = '\0';
    assert_string_equal(name_check(name, 64), "name is too long");
    name[79] = '\0';
    assert_string_equal(name_check(name, 64), "name is too long");
    assert_string_equal(name_check("", 64), "name is empty");
    assert_null(name_check("ab", 2));
    assert_non_null(name_check("abc", 2));
}

static void test_name_check_bad(void **state)
{
    (void)state;
    assert_string_equal(name_check(".hidden", 64), "name starts with '.'");
    assert_string_equal(name_check(".", 64), "name starts with '.'");
    assert_string_equal(name_check("..", 64), "name starts with '.'");
    const char *bad[] = {"a b", "a/b", "a\tb", "a\nb", "ä", "a:b", "a;b",
                         "a\"b", "a\\b", "a*", "a,b", "-\x7f", "a=b", "$x"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        const char *why = name_check(bad[i], 64);
        if (!why || strstr(why, "character") == NULL)
            fail_msg("'%s' not refused for its characters", bad[i]);
    }
}

static void test_name_distance(void **state)
{
    (void)state;
    assert_int_equal(name_distance("clock", "clock"), 0);
    assert_int_equal(name_distance("clok", "clock"), 1);
    assert_int_equal(name_distance("clcok", "clock"), 1); /* swap */
    assert_int_equal(name_distance("", "abc"), 3);
    assert_int_equal(name_distance("kitten", "sitting"), 3);
    assert_true(name_near("clok", "clock"));
    assert_true(name_near("clokc", "clock"));
    assert_false(name_near("clock", "clock"));
    assert_false(name_near("ab", "xy"));
    assert_false(name_near("web", "db")); /* 2 edits on a short name */
    char longer[NAME_NEAR_BYTES_MAX + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(name_distance(longer, "a"), SIZE_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_u64_plain_and_whitespace),
        cmocka_unit_test(test_parse_u64_max),
        cmocka_unit_test(test_parse_u64_small_max),
        cmocka_unit_test(test_parse_u64_garbage),
        cmocka_unit_test(test_signal_from_name),
        cmocka_unit_test(test_signal_table),
        cmocka_unit_test(test_signal_from_name_rejects),
        cmocka_unit_test(test_signal_name),
        cmocka_unit_test(test_signal_round_trip),
        cmocka_unit_test(test_str_copy),
        cmocka_unit_test(test_str_fmt),
        cmocka_unit_test(test_str_rstrip),
        cmocka_unit_test_setup_teardown(test_file_read_small_fits, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_file_read_small_too_big, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_file_read_small_errors, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_file_replace_durable, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_file_replace_durable_names_the_step, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_dir_each_many, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_dir_each_early_stop, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_dir_each_empty_and_bad_fd, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_fd_table_reserve_grows_the_table_only),
        cmocka_unit_test(test_fd_table_reserve_stops_at_the_limit),
        cmocka_unit_test(test_name_check_valid),
        cmocka_unit_test(test_name_check_length),
        cmocka_unit_test(test_name_check_bad),
        cmocka_unit_test(test_name_distance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
