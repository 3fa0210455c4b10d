/* logfile.h — one log directory: formatting lines with timestamps, writing
 * `current`, rotating it into archives named so they sort by time, as
 * s6-log does (@TAI64N.s), and keeping at most `keep` archives.
 *
 * Used by the log writer process and by `bay0 logger`; never by PID 1's
 * loop (these calls block on the disk). Never touches /persist.
 */
#ifndef BAY0_LOGFILE_H
#define BAY0_LOGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LOG_MAX_BYTES_DEFAULT 1000000 /* s6-log's s1000000 */
#define LOG_MAX_BYTES_MIN 16384
#define LOG_MAX_BYTES_MAX (1u << 30)
#define LOG_KEEP_DEFAULT 20 /* s6-log's n20 */
#define LOG_KEEP_MAX 1000
#define LOG_LINE_BYTES_MAX 8192 /* longer lines are split and marked */
#define LOG_STAMP_BYTES_MAX 32
#define LOG_SPLIT_MARK "[...] "
/* Ends a last line that had no newline when its writer ended. */
#define LOG_END_MARK " [bay0: ended without newline]\n"
#define LOG_END_MARK_BYTES (sizeof LOG_END_MARK - 1)

enum log_stamp { LOG_STAMP_ISO, LOG_STAMP_TAI64N, LOG_STAMP_NONE };

/* Where a line stands between two calls: in the middle of a line (no stamp
 * before the next byte) and how long that line is so far. Not midline
 * with line_bytes at LOG_LINE_BYTES_MAX: a long line was split (its piece
 * ended with a newline) and its continuation is due. */
struct log_line_state {
    bool midline;
    uint32_t line_bytes;
};

/* The most one formatted line can take (stamp, split mark, newline). */
#define LOG_LINE_FORMATTED_MAX (LOG_LINE_BYTES_MAX + LOG_STAMP_BYTES_MAX + 16)
/* A fresh file always takes at least one line: rotation makes progress. */
_Static_assert(LOG_MAX_BYTES_MIN > LOG_LINE_FORMATTED_MAX, "a file holds a line");
_Static_assert(LOG_LINE_FORMATTED_MAX >= LOG_LINE_BYTES_MAX + LOG_STAMP_BYTES_MAX + sizeof LOG_SPLIT_MARK,
               "a continued piece fits");

/* Formats in[0..len) into out, which must hold log_format_bound(len)
 * bytes: a stamp before each line, a line longer than LOG_LINE_BYTES_MAX
 * ended (with a newline) and continued on a new line that starts with
 * LOG_SPLIT_MARK.
 * Starts no new line once fewer than LOG_LINE_FORMATTED_MAX bytes of
 * out_limit remain, so a file rotated at its limit never exceeds it.
 * Sets *consumed to the input bytes used; returns the bytes written. */
size_t log_format(const char *in, size_t len, enum log_stamp kind,
                  struct log_line_state *st, char *out, size_t out_limit,
                  size_t *consumed);
size_t log_format_bound(size_t len);
/* The stamp for now: "2026-11-21T23:40:01.123456Z " or "@4000...0000 ". */
size_t log_stamp_now(enum log_stamp kind, char *out);

struct log_dir {
    int dir_fd;
    int cur_fd; /* -1 until the first write */
    int64_t cur_size;
    uint32_t max_bytes;
    uint32_t keep;
};

/* Opens (creating) the directory. */
int log_dir_open(struct log_dir *d, const char *path, uint32_t max_bytes,
                 uint32_t keep);
void log_dir_close(struct log_dir *d);
/* Opens `current` if needed (and learns its size). */
int log_dir_current(struct log_dir *d);
/* Appends buf: all of it or nothing (a short write is truncated away).
 * Returns 0, or -1 with errno (ENOSPC for a full disk). */
int log_dir_append(struct log_dir *d, const char *buf, size_t len);
/* Rotates when current has reached max_bytes (call at a line boundary). */
int log_dir_maybe_rotate(struct log_dir *d);
/* Rotates now (at a line boundary), if current is not empty. */
int log_dir_rotate(struct log_dir *d);
/* How many formatted bytes current may still take. */
size_t log_dir_room(const struct log_dir *d);

#endif
