/* numbered — test helper: writes numbered lines "PREFIX N\n" to stdout,
 * N from the count saved in STATEFILE up to TOTAL, then pauses. On SIGTERM
 * it finishes the line it is writing, saves the next number and exits 0,
 * so a restarted instance continues without a gap or a repeat: any gap or
 * repeat in the log is the logger's.
 *   numbered STATEFILE TOTAL [PREFIX [PAUSE_US_PER_1000_LINES]]
 * The pause paces a long stream so a test can act on it while it flows.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig) { (void)sig; stop = 1; }

static void save(const char *path, long n)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        _exit(111);
    fprintf(f, "%ld\n", n);
    fflush(f);
    fsync(fileno(f));
    fclose(f);
    rename(tmp, path);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 100;
    const char *state = argv[1];
    long total = atol(argv[2]);
    const char *prefix = argc > 3 ? argv[3] : "n";
    long pause_us = argc > 4 ? atol(argv[4]) : 0;
    long n = 0;
    FILE *f = fopen(state, "r");
    if (f) {
        if (fscanf(f, "%ld", &n) != 1)
            n = 0;
        fclose(f);
    }
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    char line[128];
    while (n < total && !stop) {
        int len = snprintf(line, sizeof line, "%s %ld\n", prefix, n);
        ssize_t w = write(1, line, (size_t)len); /* < PIPE_BUF: atomic */
        if (w == len)
            n++;
        if (pause_us > 0 && n % 1000 == 0) {
            struct timespec ts = {pause_us / 1000000, (pause_us % 1000000) * 1000};
            nanosleep(&ts, NULL);
        }
    }
    save(state, n);
    if (stop)
        return 0;
    while (!stop)
        pause();
    return 0;
}
