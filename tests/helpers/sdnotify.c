/* sdnotify — test helper: send a datagram (default "READY=1") to
 * $NOTIFY_SOCKET, as sd_notify(3) does, then exec the rest of argv.
 *   sdnotify [-m MESSAGE] [-d DELAY_MS] -- PROG ARGS...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *msg = "READY=1";
    long delay_ms = 0;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-m") == 0 && i + 1 < argc)
            msg = argv[++i];
        else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
            delay_ms = atol(argv[++i]);
        else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else
            break;
    }
    if (delay_ms > 0) {
        struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path) {
        fprintf(stderr, "sdnotify: NOTIFY_SOCKET is not set\n");
        return 111;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("sdnotify: sendto");
        return 111;
    }
    close(fd);
    if (i < argc) {
        execvp(argv[i], argv + i);
        perror("sdnotify: exec");
        return 127;
    }
    return 0;
}
