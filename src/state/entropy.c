/* entropy.c — the entropy seed: DATA/random-seed is read at boot, given to
 * the kernel (credited with RNDADDENTROPY when permitted, else mixed in by a
 * write to /dev/urandom), and replaced by a fresh seed right away and again
 * at shutdown, so no seed is ever used twice.
 *
 * Owns: the seed file. Never blocks on the kernel pool (getrandom with
 * GRND_NONBLOCK, falling back to /dev/urandom); never runs in PID 1's loop.
 */
#include "state/state_internal.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

#define URANDOM_PATH "/dev/urandom"

enum state_result state_read_entropy_seed(uint8_t *buf, size_t cap,
                                          size_t *len)
{
    char path[STATE_PATH_BYTES_MAX];
    *len = 0;
    if (!state_path(path, sizeof path, STATE_SEED_FILE))
        return STATE_ERROR;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return STATE_OK;
        log_error("event=seed-read-failed path=%s error=\"%s\"", path, strerror(errno));
        return STATE_ERROR;
    }
    while (*len < cap) {
        ssize_t n = read(fd, buf + *len, cap - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            log_error("event=seed-read-failed path=%s error=\"%s\"", path, strerror(errno));
            close(fd);
            *len = 0;
            return STATE_ERROR;
        }
        if (n == 0)
            break;
        *len += (size_t)n;
    }
    close(fd);
    return STATE_OK;
}

/* Fill buf without ever blocking: getrandom(GRND_NONBLOCK), else urandom. */
static bool random_fill(uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, GRND_NONBLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got == len)
        return true;
    int fd = open(URANDOM_PATH, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return got == len;
}

enum state_result state_write_entropy_seed(void)
{
    char path[STATE_PATH_BYTES_MAX];
    uint8_t seed[STATE_ENTROPY_SEED_BYTES];
    if (!state_path(path, sizeof path, STATE_SEED_FILE))
        return STATE_ERROR;
    if (!random_fill(seed, sizeof seed)) {
        log_error("event=seed-write-failed error=\"no random bytes for a fresh seed\"");
        return STATE_ERROR;
    }
    enum state_result r = state_file_write_atomic(path, seed, sizeof seed,
                                                  0600);
    memset(seed, 0, sizeof seed);
    if (r != STATE_OK && unlink(path) == 0)
        log_warn("event=seed-removed path=%s reason=\"not rewritten: a seed is never reused\"", path);
    return r;
}

enum state_result state_entropy_feed(const uint8_t *buf, size_t len,
                                     bool *credited)
{
    struct seed_req {
        struct rand_pool_info info;
        uint8_t bytes[STATE_ENTROPY_SEED_BYTES];
    } req;
    _Static_assert(offsetof(struct seed_req, bytes) ==
                       offsetof(struct rand_pool_info, buf),
                   "seed bytes follow the header like rand_pool_info.buf");
    *credited = false;
    if (len == 0)
        return STATE_OK;
    if (len > sizeof req.bytes)
        len = sizeof req.bytes;
    int fd = open(URANDOM_PATH, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        log_error("event=seed-feed-failed path=%s error=\"%s\"", URANDOM_PATH, strerror(errno));
        return STATE_ERROR;
    }
    req.info.entropy_count = (int)(len * 8);
    req.info.buf_size = (int)len;
    memcpy(req.bytes, buf, len);
    enum state_result r = STATE_OK;
    if (ioctl(fd, RNDADDENTROPY, &req) == 0) {
        *credited = true;
    } else if (fd_write_all(fd, buf, len) != 0) {
        log_error("event=seed-feed-failed path=%s error=\"%s\"", URANDOM_PATH,
                  strerror(errno));
        r = STATE_ERROR;
    }
    memset(&req, 0, sizeof req);
    close(fd);
    return r;
}
