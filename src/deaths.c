/* deaths.c — the death record of each service (see deaths.h): written by
 * the supervisor after each death of a run process, read by the client.
 *
 * Runs in the supervisor's loop after the restart decision, so a death
 * costs the restart nothing. A record that is there with the service's
 * tally takes the death in place: open, fstat, pread the header, pwrite
 * the death, pwrite the header, close — its bytes exist already, so a
 * full disk cannot fail these writes, and a reader between the two sees
 * the record before this death. Any other (none yet, another tally,
 * damaged) is built whole in memory (at most 64 KiB), written to a
 * temporary name and renamed over the old one, so a write that fails (a
 * full disk) changes nothing. No fsync (/run is tmpfs). Never
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

/* The record being rewritten: the whole file, built here, then written to
 * a temporary name and renamed over the old one, so a failed write (a
 * full disk) leaves the old record as it was, never a half-written one. */
static char file_buf[DEATHS_FILE_BYTES_MAX];
#define DEATHS_TMP_PREFIX ".new." /* a service name never starts with '.' */

/* A file that holds a ring of `tally` records, or false (start over). */
static bool record_usable(const struct deaths_header *h, ssize_t n, uint32_t tally)
{
    return n == entry_offset(tally) && memcmp(h->magic, DEATHS_MAGIC, sizeof h->magic) == 0 &&
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

/* The current record into file_buf: its length, 0 when there is none, or
 * -1 with errno (it is not a regular file, or cannot be read). */
static ssize_t load_old(const char *file)
{
    int fd = openat(deaths_dir_fd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) < 0)
        n = -1;
    else if (!S_ISREG(st.st_mode))
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    else
        n = pread(fd, file_buf, sizeof file_buf, 0);
    int err = errno;
    close(fd);
    errno = err;
    return n;
}

/* Writes file_buf[0..len) as `file`, atomically; the failing step or NULL. */
static const char *store(const char *file, size_t len)
{
    char tmp[sizeof DEATHS_TMP_PREFIX + DEATHS_FILE_NAME_BYTES_MAX + 1];
    if (!str_fmt(tmp, sizeof tmp, DEATHS_TMP_PREFIX "%s", file)) {
        errno = ENAMETOOLONG;
        return "name";
    }
    int fd = openat(deaths_dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW |
                    O_NOCTTY, 0644);
    if (fd < 0)
        return "open";
    bool ok = put(fd, file_buf, len, 0);
    int err = errno;
    close(fd);
    if (ok && renameat(deaths_dir_fd, tmp, deaths_dir_fd, file) == 0)
        return NULL;
    if (ok)
        err = errno;
    unlinkat(deaths_dir_fd, tmp, 0);
    errno = err;
    return ok ? "rename" : "write";
}

/* Adds the death to a record that is there with this tally, in place:
 * false (nothing written) when there is no such record, else true with
 * *failed the failing step or NULL. */
static bool append_in_place(const char *file, uint32_t tally, const struct deaths_entry *death,
                            const char **failed)
{
    int fd = openat(deaths_dir_fd, file, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return false;
    struct stat st;
    struct deaths_header h;
    bool usable = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                  pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
                  record_usable(&h, (ssize_t)st.st_size, tally);
    if (usable) {
        off_t at = entry_offset(h.next);
        h.next = (h.next + 1) % tally;
        if (h.count < tally)
            h.count++;
        bool ok = put(fd, death, sizeof *death, at) && put(fd, &h, sizeof h, 0);
        *failed = ok ? NULL : "write";
    }
    int err = errno;
    close(fd);
    errno = err;
    return usable;
}

/* Appends one death to the record `file`; the failing step or NULL. */
static const char *append(const char *file, uint32_t tally, const struct deaths_entry *death)
{
    const char *failed;
    if (append_in_place(file, tally, death, &failed))
        return failed;
    size_t len = (size_t)entry_offset(tally);
    BAY0_ASSERT(len <= sizeof file_buf);
    ssize_t n = load_old(file);
    if (n < 0)
        return "open";
    struct deaths_header h;
    memcpy(&h, file_buf, sizeof h);
    if (!record_usable(&h, n, tally)) { /* none yet, another tally, or damaged */
        memset(file_buf, 0, len);
        memset(&h, 0, sizeof h);
        memcpy(h.magic, DEATHS_MAGIC, sizeof h.magic);
        h.capacity = tally;
    }
    memcpy(file_buf + entry_offset(h.next), death, sizeof *death);
    h.next = (h.next + 1) % tally;
    if (h.count < tally)
        h.count++;
    memcpy(file_buf, &h, sizeof h);
    return store(file, len);
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
    const char *failed = append(file, tally, death);
    if (failed)
        warn_once(slot, svc_name, failed, errno);
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
