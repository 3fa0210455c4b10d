/* fuzz_svcdir.c — libFuzzer target for svcdir_load (src/svcdir.c): one
 * service directory whose files, their contents and kinds come from the
 * fuzz input. The directory lives in tmpfs (/dev/shm, else /tmp), made
 * once; each input rewrites only the files it names and removes the rest.
 *
 * Input layout:
 *   byte 0-1  which of files[] exist (bit i = files[i])
 *   byte 2    bit 0: run executable, bit 1: run is a directory,
 *             bit 2: finish executable, bit 3: undo executable,
 *             bit 4: the file picked by byte 3 is a directory instead
 *   byte 3    index into files[] for bit 4
 *   rest      contents of the present files in order, split at 0xff
 * Checks: success gives a definition inside every documented bound and no
 * reason; failure gives a non-empty reason that starts with the name of
 * the file at fault.
 */
#include "fuzz_tmpdir.h"
#include "svcdir.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_INPUT_BYTES_MAX 4096
#define SEP 0xff

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const files[] = {
    "timeout-kill", "timeout-finish", "max-death-tally", "notification-fd",
    "down-signal",  "type",           "restart",         "restart-limit",
    "notify",       "down",           "finish",          "undo",
    "user",         "limits",
};
_Static_assert(sizeof files / sizeof files[0] <= 16, "one mask bit a file");

static int scan_fd = -1;
static int svc_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    scan_fd = fuzz_tmpdir("svcdir");
    if (scan_fd < 0 || mkdirat(scan_fd, "s", 0755) < 0)
        abort();
    svc_fd = openat(scan_fd, "s", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (svc_fd < 0)
        abort();
    return 0;
}

static void remove_entry(const char *name)
{
    if (unlinkat(svc_fd, name, 0) < 0 && errno == EISDIR)
        unlinkat(svc_fd, name, AT_REMOVEDIR);
}

static void put(const char *name, const uint8_t *text, size_t len, mode_t mode,
                bool as_dir)
{
    remove_entry(name);
    if (as_dir) {
        if (mkdirat(svc_fd, name, 0755) < 0)
            abort();
        return;
    }
    int fd = openat(svc_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || fd_write_all(fd, text, len) < 0 || fchmod(fd, mode) < 0)
        abort();
    close(fd);
}

static bool starts_with_file(const char *reason)
{
    static const char *const others[] = {"run: ", "restart-limit: "};
    for (size_t i = 0; i < ARRAY_LEN(others); i++)
        if (strncmp(reason, others[i], strlen(others[i])) == 0)
            return true;
    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        size_t n = strlen(files[i]);
        if (strncmp(reason, files[i], n) == 0 && reason[n] == ':')
            return true;
    }
    return false;
}

static void check_def(const struct svc_def *d)
{
    bool ok = d->type <= SVC_TYPE_ONESHOT && d->restart <= SVC_RESTART_NEVER &&
              d->readiness <= SVC_READY_NOTIFY &&
              d->timeout_kill_ms <= TIMEOUT_MS_MAX &&
              d->timeout_finish_ms <= TIMEOUT_MS_MAX &&
              d->max_death_tally <= MAX_DEATH_TALLY_MAX &&
              d->restart_limit_count <= RESTART_LIMIT_COUNT_MAX &&
              d->restart_limit_window_s >= 1 &&
              d->restart_limit_window_s <= RESTART_LIMIT_WINDOW_S_MAX &&
              d->down_signal >= 1 && d->down_signal < NSIG &&
              (d->readiness == SVC_READY_FD) == (d->notification_fd >= 0) &&
              (d->notification_fd == -1 ||
               (d->notification_fd >= 3 && d->notification_fd <= NOTIFICATION_FD_MAX)) &&
              !(d->type == SVC_TYPE_ONESHOT && d->readiness != SVC_READY_NONE);
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4 || size > FUZZ_INPUT_BYTES_MAX)
        return -1;
    unsigned mask = data[0] | (unsigned)data[1] << 8;
    unsigned flags = data[2];
    size_t dir_pick = data[3] % ARRAY_LEN(files);
    const uint8_t *p = data + 4, *end = data + size;
    remove_entry("run");
    if (flags & 2)
        put("run", NULL, 0, 0755, true);
    else
        put("run", (const uint8_t *)"#!/bin/sh\n", 10, (flags & 1) ? 0755 : 0644, false);
    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        if (!(mask & (1u << i))) {
            remove_entry(files[i]);
            continue;
        }
        const uint8_t *sep = memchr(p, SEP, (size_t)(end - p));
        const uint8_t *e = sep ? sep : end;
        mode_t mode = 0644;
        if ((i == 10 && (flags & 4)) || (i == 11 && (flags & 8)))
            mode = 0755;
        put(files[i], p, (size_t)(e - p), mode, (flags & 16) && i == dir_pick);
        p = sep ? sep + 1 : end;
    }
    struct svc_def def;
    char reason[SERVICE_REASON_BYTES_MAX];
    memset(reason, 'x', sizeof reason);
    int rc = svcdir_load(scan_fd, "s", &def, reason, sizeof reason);
    if (strnlen(reason, sizeof reason) == sizeof reason)
        abort();
    if (rc == 0) {
        if (reason[0] != '\0')
            abort();
        check_def(&def);
    } else if (rc != -1 || !starts_with_file(reason)) {
        fprintf(stderr, "rc=%d reason does not name a file: '%s'\n", rc, reason);
        abort();
    }
    return 0;
}
