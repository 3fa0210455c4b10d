/* fuzz_contain.c — libFuzzer target for contain_load (src/contain.c): one
 * containment file of a service directory, which one and its contents
 * from the fuzz input. The directory lives in tmpfs (/dev/shm, else /tmp),
 * made once.
 *
 * Input layout: byte 0 picks the file (contain_file_names, modulo nine),
 * the rest is its contents.
 * Checks: success sets only that file's field, inside its documented
 * bounds, as a value the kernel's cgroup file takes; failure gives a
 * reason that starts with that file's name and a colon.
 */
#include "contain.h"
#include "fuzz_tmpdir.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_INPUT_BYTES_MAX 2048

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int dir_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    dir_fd = fuzz_tmpdir("contain");
    return 0;
}

/* A value as the kernel's cgroup files take it: printable, no newline. */
static bool printable(const char *v)
{
    for (; *v; v++)
        if (*v < ' ' || *v > '~')
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_INPUT_BYTES_MAX)
        return -1;
    int pick = data[0] % CONTAIN_FILES;
    const char *name = contain_file_names[pick];
    int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || fd_write_all(fd, data + 1, size - 1) < 0)
        abort();
    close(fd);
    struct contain c;
    char reason[192];
    memset(reason, 'x', sizeof reason);
    int rc = contain_load(dir_fd, &c, reason, sizeof reason);
    unlinkat(dir_fd, name, 0);
    if (rc == 0) {
        for (int k = 0; k < CONTAIN_KNOBS; k++)
            if ((c.cg[k][0] != '\0') != (k == pick) || !printable(c.cg[k]))
                abort();
        if (c.no_new_privs != (pick == CONTAIN_KNOBS) || c.oom_set != (pick == CONTAIN_KNOBS + 1) ||
            c.caps_set != (pick == CONTAIN_KNOBS + 2) || c.oom_score_adj < -1000 ||
            c.oom_score_adj > 1000 || (c.caps_keep >> 41) != 0)
            abort();
        return 0;
    }
    size_t n = strlen(name);
    if (rc != -1 || strnlen(reason, sizeof reason) == sizeof reason ||
        strncmp(reason, name, n) != 0 || reason[n] != ':') {
        fprintf(stderr, "rc=%d reason does not name %s: '%.192s'\n", rc, name, reason);
        abort();
    }
    return 0;
}
