/* genesis.c — the genesis log, DATA/genesis.log: append-only, one line per
 * important event, each line chained to the one before by SHA-256:
 *
 *   SEQ TIME MSG h=HEX
 *
 * SEQ counts from 1; TIME is UTC (2026-11-21T23:40:00.123Z); HEX is
 * sha256(PREV_HEX "\n" "SEQ TIME MSG"), PREV_HEX being the previous line's
 * hash (64 zeros before line 1). Editing, removing or inserting a line
 * breaks the chain at that line; verification names the first broken line.
 *
 * Owns: the file format, appending (under flock, fdatasync after each line)
 * and verification. Never rewrites a complete line; the only truncation is
 * of a torn tail (a last line without its newline, which a crash mid-write
 * can leave and which was never a record). Never runs in PID 1's loop.
 */
#include "state/state_internal.h"

#include "log.h"
#include "state/sha256.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HASH_TAG " h="
#define HASH_TAG_BYTES 3
#define HASH_HEX_DIGITS 64
#define TAIL_BYTES_MAX (2 * STATE_GENESIS_LINE_BYTES_MAX + 2) /* torn tail + a line */
#define VERIFY_CHUNK_BYTES 8192

static const char zero_hash[SHA256_HEX_BYTES] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static void chain_hash(const char *prev_hex, const char *body, size_t len,
                       char out[SHA256_HEX_BYTES])
{
    struct sha256_ctx c;
    uint8_t d[SHA256_DIGEST_BYTES];
    sha256_init(&c);
    sha256_update(&c, prev_hex, HASH_HEX_DIGITS);
    sha256_update(&c, "\n", 1);
    sha256_update(&c, body, len);
    sha256_final(&c, d);
    sha256_to_hex(d, out);
}

/* Split "BODY h=HEX" (no newline). False if malformed. */
static bool line_split(const char *line, size_t len, size_t *body_len,
                       const char **hash)
{
    size_t tail = HASH_TAG_BYTES + HASH_HEX_DIGITS;
    if (len <= tail || memcmp(line + len - tail, HASH_TAG, HASH_TAG_BYTES) != 0)
        return false;
    *body_len = len - tail;
    *hash = line + len - HASH_HEX_DIGITS;
    for (size_t i = 0; i < HASH_HEX_DIGITS; i++) {
        char c = (*hash)[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

static uint64_t line_seq(const char *line, size_t len)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < len && i < 20 && line[i] >= '0' && line[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(line[i] - '0');
    return (i > 0 && i < len && line[i] == ' ') ? v : 0;
}

struct tail_info {
    uint64_t seq;                  /* of the last complete line, 0 if none */
    char hash[SHA256_HEX_BYTES];   /* its hash (zeros if none) */
    off_t keep_bytes;              /* file length without a torn tail */
};

/* Find the last complete line of an open log. */
static bool tail_read(int fd, off_t size, struct tail_info *t)
{
    char buf[TAIL_BYTES_MAX + 1];
    memcpy(t->hash, zero_hash, sizeof t->hash);
    t->seq = 0;
    t->keep_bytes = 0;
    if (size == 0)
        return true;
    off_t start = size > TAIL_BYTES_MAX ? size - TAIL_BYTES_MAX : 0;
    ssize_t n = pread(fd, buf, (size_t)(size - start), start);
    if (n != size - start)
        return false;
    buf[n] = '\0';
    /* Drop a torn tail: bytes after the last newline. */
    char *end = memrchr(buf, '\n', (size_t)n);
    if (end == NULL) {
        if (start > 0)
            return false; /* a line longer than any line we write */
        return true;      /* the whole file is one torn line */
    }
    t->keep_bytes = start + (end - buf) + 1;
    *end = '\0';
    char *line = memrchr(buf, '\n', (size_t)(end - buf));
    line = line == NULL ? buf : line + 1;
    if (line == buf && start > 0)
        return false;
    size_t len = (size_t)(end - line), body_len;
    const char *hash;
    if (line_split(line, len, &body_len, &hash)) {
        memcpy(t->hash, hash, HASH_HEX_DIGITS);
        t->hash[HASH_HEX_DIGITS] = '\0';
    } else {
        /* Tampered last line: chain to its raw bytes; verify reports it. */
        sha256_hex(line, len, t->hash);
    }
    t->seq = line_seq(line, len);
    return true;
}

static size_t format_body(char *out, size_t out_size, uint64_t seq,
                          const char *msg)
{
    int64_t now_ms = time_wall_ms();
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int n = snprintf(out, out_size,
                     "%" PRIu64 " %04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", seq,
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (int)(now_ms % 1000));
    size_t len = (size_t)n;
    for (size_t i = 0; i < STATE_GENESIS_MSG_BYTES_MAX && msg[i] != '\0'; i++) {
        unsigned char c = (unsigned char)msg[i];
        out[len++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out[len] = '\0';
    return len;
}

static enum state_result append_locked(int fd, const char *path,
                                       const char *msg)
{
    struct stat stt;
    struct tail_info t;
    if (fstat(fd, &stt) != 0 || !tail_read(fd, stt.st_size, &t)) {
        log_error("event=genesis-failed path=%s error=\"cannot read its tail\"", path);
        return STATE_ERROR;
    }
    if (t.keep_bytes != stt.st_size) {
        if (ftruncate(fd, t.keep_bytes) != 0) {
            log_error("event=genesis-failed path=%s error=\"cannot drop torn tail: %s\"", path,
                      strerror(errno));
            return STATE_ERROR;
        }
        log_warn("event=genesis-torn-tail-dropped path=%s bytes=%lld", path,
                 (long long)(stt.st_size - t.keep_bytes));
    }
    char line[STATE_GENESIS_LINE_BYTES_MAX + 1];
    _Static_assert(STATE_GENESIS_MSG_BYTES_MAX + 64 + HASH_TAG_BYTES +
                           HASH_HEX_DIGITS + 1 <=
                       STATE_GENESIS_LINE_BYTES_MAX,
                   "a full message fits a line");
    size_t len = format_body(line, sizeof line, t.seq + 1, msg);
    char hash[SHA256_HEX_BYTES];
    chain_hash(t.hash, line, len, hash);
    len += (size_t)snprintf(line + len, sizeof line - len, "%s%s\n",
                            HASH_TAG, hash);
    if (fd_write_all(fd, line, len) != 0 || fdatasync(fd) != 0) {
        log_error("event=genesis-failed path=%s error=\"append failed: %s\" "
                  "hint=\"is the persist disk full or read-only?\"",
                  path, strerror(errno));
        return STATE_ERROR;
    }
    return STATE_OK;
}

enum state_result state_genesis_append_file(const char *path, const char *msg)
{
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                  0600);
    if (fd < 0) {
        log_error("event=genesis-failed path=%s error=\"cannot open: %s\" "
                  "hint=\"is the persist disk mounted read-write?\"",
                  path, strerror(errno));
        return STATE_ERROR;
    }
    if (flock(fd, LOCK_EX) != 0) {
        log_error("event=genesis-failed path=%s error=\"cannot lock: %s\"", path,
                  strerror(errno));
        close(fd);
        return STATE_ERROR;
    }
    enum state_result r = append_locked(fd, path, msg);
    close(fd); /* drops the lock */
    return r;
}

enum state_result state_append_genesis_log(const char *msg)
{
    char path[STATE_PATH_BYTES_MAX];
    if (!state_path(path, sizeof path, STATE_GENESIS_FILE)) {
        log_error("event=genesis-failed error=\"path too long\"");
        return STATE_ERROR;
    }
    if (state_data_dir_ensure(state_data_dir()) != STATE_OK)
        return STATE_ERROR;
    return state_genesis_append_file(path, msg);
}

struct verify_state {
    struct state_genesis_report *rep;
    char prev[SHA256_HEX_BYTES];
};

static void verify_fail(struct verify_state *v, const char *why)
{
    if (v->rep->first_broken_line == 0) {
        v->rep->first_broken_line = v->rep->lines;
        str_copy(v->rep->reason, sizeof v->rep->reason, why);
    }
}

static void verify_line(struct verify_state *v, const char *line, size_t len)
{
    v->rep->lines++;
    if (v->rep->first_broken_line != 0)
        return;
    size_t body_len;
    const char *hash;
    if (!line_split(line, len, &body_len, &hash)) {
        verify_fail(v, "malformed line (no ' h=HASH' at its end)");
        return;
    }
    if (line_seq(line, body_len) != v->rep->lines) {
        verify_fail(v, "sequence number out of order");
        return;
    }
    char want[SHA256_HEX_BYTES];
    chain_hash(v->prev, line, body_len, want);
    if (memcmp(want, hash, HASH_HEX_DIGITS) != 0) {
        verify_fail(v, "hash does not match (line or its predecessor edited)");
        return;
    }
    memcpy(v->prev, want, sizeof v->prev);
}

/* Feed one chunk; carry holds a partial line between calls. */
static void verify_chunk(struct verify_state *v, char *carry,
                         size_t *carry_len, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            if (*carry_len > STATE_GENESIS_LINE_BYTES_MAX) {
                v->rep->lines++;
                verify_fail(v, "line too long");
            } else {
                verify_line(v, carry, *carry_len);
            }
            *carry_len = 0;
        } else if (*carry_len <= STATE_GENESIS_LINE_BYTES_MAX) {
            carry[(*carry_len)++] = buf[i];
        } else {
            (*carry_len)++; /* counts the overflow without storing it */
        }
    }
}

enum state_result state_genesis_verify(const char *path,
                                       struct state_genesis_report *rep)
{
    memset(rep, 0, sizeof *rep);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_error("event=genesis-failed path=%s error=\"cannot open: %s\"", path,
                  strerror(errno));
        return STATE_ERROR;
    }
    struct verify_state v = {.rep = rep};
    memcpy(v.prev, zero_hash, sizeof v.prev);
    static char carry[STATE_GENESIS_LINE_BYTES_MAX + 1];
    size_t carry_len = 0;
    char buf[VERIFY_CHUNK_BYTES];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            log_error("event=genesis-failed path=%s error=\"cannot read: %s\"", path,
                      strerror(errno));
            close(fd);
            return STATE_ERROR;
        }
        if (n == 0)
            break;
        verify_chunk(&v, carry, &carry_len, buf, (size_t)n);
    }
    close(fd);
    if (carry_len > 0) {
        rep->lines++;
        verify_fail(&v, "torn last line (no newline)");
    }
    return STATE_OK;
}
