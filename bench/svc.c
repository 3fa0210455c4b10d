/* svc.c — the service every benchmarked supervisor runs (built static).
 *
 * Records CLOCK_REALTIME as the very first thing main() does, then appends
 * one line "NAME SEC.NSEC PID\n" with a single O_APPEND write(2) to the
 * file ./stamps (a symlink in the service directory to the run's shared
 * stamp file), then pause()s until killed. NAME is the basename of the
 * working directory, which every supervisor sets to the service directory.
 *
 * Optional markers in the working directory (checked after the stamp, so
 * they never count in a measurement):
 *   crash            exit 1 at once (crash-loop row)
 *   notification-fd  write "\n" on that fd (s6-style readiness)
 *
 * Must never: use a shell, read stdin, write anything but its one stamp
 * line and the readiness newline, or allocate.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STAMP_LINE_BYTES_MAX 512
#define CWD_BYTES_MAX 400

static void notify_ready(void)
{
    char buf[16];
    int fd = open("notification-fd", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    int nfd = atoi(buf);
    if (nfd > 2 && write(nfd, "\n", 1) == 1)
        close(nfd);
}

int main(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);

    char cwd[CWD_BYTES_MAX];
    const char *name = "?";
    if (getcwd(cwd, sizeof cwd)) {
        char *slash = strrchr(cwd, '/');
        name = slash ? slash + 1 : cwd;
    }
    char line[STAMP_LINE_BYTES_MAX];
    int len = snprintf(line, sizeof line, "%s %lld.%09ld %d\n", name,
                       (long long)ts.tv_sec, ts.tv_nsec, (int)getpid());
    int fd = open("stamps", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        if (write(fd, line, (size_t)len) != len)
            _exit(111);
        close(fd);
    }
    if (access("crash", F_OK) == 0)
        return 1;
    notify_ready();
    for (;;)
        pause();
}
