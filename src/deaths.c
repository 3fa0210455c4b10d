/* deaths.c — the death record of each service (see deaths.h): written by
 * the supervisor after each death of a run process, read by the client.
 *
 * Runs in the supervisor's loop after the restart decision, so a death
 * costs the restart nothing: open, pread the header, pwrite the record,
 * pwrite the header, close — five syscalls on tmpfs, no fsync. Never
 * allocates, never fatal (an error is one warn line per slot and run),
 * never touches /persist.
 */
#include "deaths.h"

#include "log.h"
#include "svc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int deaths_dir_fd = -1;
static uint8_t warned[SVC_SLOTS_MAX / 8]; /* one bit per slot */

bool deaths_file_name(const char *svc_name, char *out, size_t out_size)
{
    if (!str_copy(out, out_size, svc_name))
        return false;
    for (char *p = out; *p; p++)
        if (*p == '/')
            *p = '@';
    return true;
}

void deaths_init(const char *rundir)
{
    char path[4096];
    if (!str_fmt(path, sizeof path, "%s/" DEATHS_DIR, rundir)) {
        log_warn("event=death-record-failed path=%s/" DEATHS_DIR " error=\"path too long\"",
                 rundir);
        return;
    }
    deaths_dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (deaths_dir_fd < 0)
        log_warn("event=death-record-failed path=%s error=\"%s\"", path, strerror(errno));
}

static void warn_once(uint32_t slot, const char *svc_name, const char *what, int err)
{
    BAY0_ASSERT(slot < SVC_SLOTS_MAX);
    uint8_t bit = (uint8_t)(1u << (slot % 8));
    if (warned[slot / 8] & bit)
        return;
    warned[slot / 8] |= bit;
    log_warn("svc=%s event=death-record-failed error=\"%s: %s\"", svc_name, what,
             strerror(err));
}

static off_t entry_offset(uint32_t i)
{
    return (off_t)(sizeof(struct deaths_header) + (size_t)i * sizeof(struct deaths_entry));
}

/* A header that fits a ring of `tally` records, or false (start over). */
static bool header_usable(const struct deaths_header *h, ssize_t n, uint32_t tally)
{
    return n == (ssize_t)sizeof *h && memcmp(h->magic, DEATHS_MAGIC, sizeof h->magic) == 0 &&
           h->capacity == tally && h->next < tally && h->count <= tally;
}

/* pwrite of a whole object: a short write is an error (EIO). */
static bool put(int fd, const void *buf, size_t len, off_t at)
{
    ssize_t n = pwrite(fd, buf, len, at);
    if (n >= 0 && (size_t)n != len)
        errno = EIO;
    return n >= 0 && (size_t)n == len;
}

/* Appends to an open file; returns the failing step (errno set) or NULL. */
static const char *append(int fd, uint32_t tally, const struct deaths_entry *death)
{
    struct deaths_header h;
    ssize_t n = pread(fd, &h, sizeof h, 0);
    if (n < 0)
        return "read";
    if (!header_usable(&h, n, tally)) {
        memset(&h, 0, sizeof h);
        memcpy(h.magic, DEATHS_MAGIC, sizeof h.magic);
        h.capacity = tally;
        if (ftruncate(fd, 0) < 0 || ftruncate(fd, entry_offset(tally)) < 0)
            return "truncate";
    }
    if (!put(fd, death, sizeof *death, entry_offset(h.next)))
        return "write";
    h.next = (h.next + 1) % tally;
    if (h.count < tally)
        h.count++;
    if (!put(fd, &h, sizeof h, 0))
        return "write";
    return NULL;
}

void deaths_record(uint32_t slot, const char *svc_name, uint32_t tally,
                   const struct deaths_entry *death)
{
    BAY0_ASSERT(tally <= MAX_DEATH_TALLY_MAX);
    if (deaths_dir_fd < 0)
        return; /* deaths_init said why */
    char file[DEATHS_FILE_NAME_BYTES_MAX + 1];
    if (!deaths_file_name(svc_name, file, sizeof file)) {
        warn_once(slot, svc_name, "name", ENAMETOOLONG);
        return;
    }
    if (tally == 0) {
        if (unlinkat(deaths_dir_fd, file, 0) < 0 && errno != ENOENT)
            warn_once(slot, svc_name, "unlink", errno);
        return;
    }
    int fd = openat(deaths_dir_fd, file, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
                    0644);
    if (fd < 0) {
        warn_once(slot, svc_name, "open", errno);
        return;
    }
    const char *failed = append(fd, tally, death);
    if (failed)
        warn_once(slot, svc_name, failed, errno);
    close(fd);
}

void deaths_forget(const char *svc_name)
{
    char file[DEATHS_FILE_NAME_BYTES_MAX + 1];
    if (deaths_dir_fd < 0 || !deaths_file_name(svc_name, file, sizeof file))
        return;
    if (unlinkat(deaths_dir_fd, file, 0) < 0 && errno != ENOENT)
        log_warn("svc=%s event=death-record-failed error=\"unlink: %s\"", svc_name,
                 strerror(errno));
}

const char *deaths_check(const void *buf, size_t len, struct deaths_header *h)
{
    if (len < sizeof *h)
        return "shorter than its header";
    memcpy(h, buf, sizeof *h);
    if (memcmp(h->magic, DEATHS_MAGIC, sizeof h->magic) != 0)
        return "bad magic";
    if (h->capacity == 0 || h->capacity > MAX_DEATH_TALLY_MAX)
        return "bad capacity";
    if (len != (size_t)entry_offset(h->capacity))
        return "size does not match its capacity";
    if (h->next >= h->capacity || h->count > h->capacity)
        return "bad ring indices";
    return NULL;
}

struct deaths_entry deaths_nth(const void *buf, const struct deaths_header *h, uint32_t i)
{
    BAY0_ASSERT(i < h->count && h->count <= h->capacity);
    uint32_t first = (h->next + h->capacity - h->count) % h->capacity; /* the oldest */
    uint32_t slot = (first + i) % h->capacity;
    struct deaths_entry e;
    memcpy(&e, (const char *)buf + entry_offset(slot), sizeof e);
    return e;
}
