/* fuzz_tmpdir.h — a scratch directory for the targets that read real
 * files: made once, removed at exit. run.sh points BAY0_FUZZ_TMPDIR at a
 * directory it removes afterwards (a crash skips atexit); tmpfs keeps the
 * file writes cheap. Header-only: each target is one translation unit. */
#ifndef BAY0_FUZZ_TMPDIR_H
#define BAY0_FUZZ_TMPDIR_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_tmpdir_path[64];

static void fuzz_tmpdir_cleanup(void)
{
    if (fuzz_tmpdir_path[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_tmpdir_path);
        (void)!system(cmd);
    }
}

/* Makes ROOT/bay0-fuzz-TAG-XXXXXX and returns an O_DIRECTORY fd of it;
 * aborts on failure. */
static int fuzz_tmpdir(const char *tag)
{
    const char *root = getenv("BAY0_FUZZ_TMPDIR");
    if (!root || !root[0])
        root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_tmpdir_path, sizeof fuzz_tmpdir_path, "%s/bay0-fuzz-%s-XXXXXX", root, tag);
    if (!mkdtemp(fuzz_tmpdir_path))
        abort();
    atexit(fuzz_tmpdir_cleanup);
    int fd = open(fuzz_tmpdir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        abort();
    return fd;
}

#endif
