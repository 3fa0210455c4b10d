/* creds.c — parsing a service's `user` and `limits` files (see creds.h).
 * Owns the /etc/passwd and /etc/group lookups; never allocates (two static
 * buffers), never calls NSS. */
#include "creds.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define CREDS_FILE_BYTES_MAX 2048
#define CREDS_LIMIT_LINES_MAX 64

static char passwd_buf[CREDS_DB_BYTES_MAX];
static char group_buf[CREDS_DB_BYTES_MAX];

/* Reads a small file into text: 1, 0 when there is none, -1 with a
 * reason naming it (what). */
static int read_file(int dirfd, const char *path, const char *what, char *text, size_t size,
                     char *reason, size_t reason_size)
{
    if (file_read_small(dirfd, path, text, size) >= 0)
        return 1;
    if (errno == ENOENT)
        return 0;
    reason_fail(reason, reason_size, "%s: cannot read: %s", what,
                errno == EFBIG ? "file too large" : strerror(errno));
    return -1;
}

/* Field i (0-based) of a ':'-separated line, copied into out. */
static bool db_field(const char *line, unsigned i, char *out, size_t out_size)
{
    const char *p = line;
    for (; i > 0; i--) {
        p = strchr(p, ':');
        if (!p)
            return false;
        p++;
    }
    size_t len = strcspn(p, ":\n");
    if (len >= out_size)
        return false;
    memcpy(out, p, len);
    out[len] = '\0';
    return true;
}

/* Calls fn for each line of a database file held in buf (NUL-terminated);
 * stops when fn returns true. */
typedef bool (*db_line_fn)(const char *line, void *ctx);

static bool db_each(const char *buf, db_line_fn fn, void *ctx)
{
    for (const char *line = buf; *line;) {
        if (*line != '#' && *line != '\n' && fn(line, ctx))
            return true;
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    return false;
}

static bool db_load(const char *path, char *buf, char *reason, size_t reason_size)
{
    if (file_read_small(AT_FDCWD, path, buf, CREDS_DB_BYTES_MAX) >= 0)
        return true;
    reason_fail(reason, reason_size, "user: cannot read %s: %s", path,
         errno == EFBIG ? "file too large" : strerror(errno));
    return false;
}

struct id_query {
    const char *name; /* match field 0, or */
    uint64_t id;      /* match field 2 when name is NULL */
    uint64_t id_out, gid_out;
    bool found;
};

static bool id_match(const char *line, void *ctx_)
{
    struct id_query *q = ctx_;
    char name[256], id[32], gid[32];
    uint64_t v;
    if (!db_field(line, 0, name, sizeof name) || !db_field(line, 2, id, sizeof id) ||
        !parse_u64(id, UINT32_MAX - 1, &v))
        return false;
    if (q->name ? strcmp(name, q->name) != 0 : v != q->id)
        return false;
    q->id_out = v;
    q->gid_out = db_field(line, 3, gid, sizeof gid) && parse_u64(gid, UINT32_MAX - 1, &v)
                     ? v
                     : UINT64_MAX;
    q->found = true;
    return true;
}

/* A name or a number, looked up in buf (passwd or group). Numbers need no
 * entry. */
static bool id_resolve(const char *buf, const char *text, struct id_query *q)
{
    uint64_t v;
    bool numeric = parse_u64(text, UINT32_MAX - 1, &v);
    *q = (struct id_query){.name = numeric ? NULL : text, .id = v, .gid_out = UINT64_MAX};
    db_each(buf, id_match, q);
    if (!q->found && numeric) {
        q->id_out = v;
        q->found = true;
    }
    return q->found;
}

struct member_ctx {
    const char *user;
    struct creds_user *out;
};

static bool member_add(const char *line, void *ctx_)
{
    struct member_ctx *c = ctx_;
    char members[4096], gid[32];
    uint64_t v;
    if (!db_field(line, 3, members, sizeof members) || !db_field(line, 2, gid, sizeof gid) ||
        !parse_u64(gid, UINT32_MAX - 1, &v))
        return false;
    char *save = NULL;
    for (char *m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save))
        if (strcmp(m, c->user) == 0 && (gid_t)v != c->out->groups[0]) {
            if (c->out->ngroups == CREDS_GROUPS_MAX)
                return true; /* the rest are left out */
            c->out->groups[c->out->ngroups++] = (gid_t)v;
            break;
        }
    return false;
}

static bool resolve_user(char *text, struct creds_user *out, char *reason, size_t reason_size)
{
    char *group = strchr(text, ':');
    if (group)
        *group++ = '\0';
    if (!db_load("/etc/passwd", passwd_buf, reason, reason_size))
        return false;
    struct id_query u, g;
    if (!*text || !id_resolve(passwd_buf, text, &u))
        return reason_fail(reason, reason_size, "user: no such user '%.40s' in /etc/passwd", text);
    out->uid = (uid_t)u.id_out;
    out->gid = (gid_t)(u.gid_out == UINT64_MAX ? u.id_out : u.gid_out);
    if (group) {
        if (!db_load("/etc/group", group_buf, reason, reason_size))
            return false;
        if (!*group || !id_resolve(group_buf, group, &g))
            return reason_fail(reason, reason_size, "user: no such group '%.40s' in /etc/group", group);
        out->gid = (gid_t)g.id_out;
    }
    out->groups[0] = out->gid;
    out->ngroups = 1;
    if (!group && u.name && db_load("/etc/group", group_buf, reason, reason_size)) {
        struct member_ctx c = {text, out};
        db_each(group_buf, member_add, &c);
    }
    return true;
}

bool creds_resolve_user(const char *spec, struct creds_user *out, char *reason,
                        size_t reason_size)
{
    char text[CREDS_FILE_BYTES_MAX];
    memset(out, 0, sizeof *out);
    if (!str_copy(text, sizeof text, spec))
        return reason_fail(reason, reason_size, "user: '%.40s...' is too long", spec);
    if (!resolve_user(text, out, reason, reason_size))
        return false;
    out->set = true;
    return true;
}

int creds_load_user(int dirfd, const char *path, struct creds_user *out, char *reason,
                    size_t reason_size)
{
    memset(out, 0, sizeof *out);
    char text[CREDS_FILE_BYTES_MAX];
    int r = read_file(dirfd, path, "user", text, sizeof text, reason, reason_size);
    if (r <= 0)
        return r;
    text[strcspn(text, "\n")] = '\0';
    str_rstrip(text);
    char *start = text + strspn(text, " \t");
    if (!resolve_user(start, out, reason, reason_size))
        return -1;
    if (out->uid == geteuid() && out->gid == getegid())
        return 1; /* already that user: nothing to switch */
    if (geteuid() != 0) {
        reason_fail(reason, reason_size, "user: switching to uid %u needs root (bay0 runs as uid %u)",
                    (unsigned)out->uid, (unsigned)geteuid());
        return -1;
    }
    out->set = true;
    return 1;
}

static const struct {
    const char *name;
    int resource;
} resources[] = {
    {"as", RLIMIT_AS},           {"core", RLIMIT_CORE},       {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},       {"fsize", RLIMIT_FSIZE},     {"locks", RLIMIT_LOCKS},
    {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},   {"nproc", RLIMIT_NPROC},     {"rss", RLIMIT_RSS},
    {"rtprio", RLIMIT_RTPRIO},   {"sigpending", RLIMIT_SIGPENDING}, {"stack", RLIMIT_STACK},
};

static bool parse_limit_value(const char *s, uint64_t *out)
{
    if (strcmp(s, "unlimited") == 0 || strcmp(s, "infinity") == 0) {
        *out = UINT64_MAX;
        return true;
    }
    return parse_size(s, out);
}

/* One `RESOURCE SOFT [HARD]` line into out; false with a reason. */
static bool parse_limit_line(char *line, unsigned lineno, struct creds_limit *out, char *reason,
                            size_t reason_size)
{
    char *save = NULL;
    char *name = strtok_r(line, " \t", &save);
    char *soft = strtok_r(NULL, " \t", &save);
    char *hard = strtok_r(NULL, " \t", &save);
    if (!name || !soft || strtok_r(NULL, " \t", &save))
        return reason_fail(reason, reason_size, "limits: line %u: expected 'RESOURCE SOFT [HARD]'", lineno);
    out->resource = -1;
    for (size_t i = 0; i < ARRAY_LEN(resources); i++)
        if (strcmp(name, resources[i].name) == 0)
            out->resource = resources[i].resource;
    if (out->resource < 0)
        return reason_fail(reason, reason_size, "limits: line %u: unknown resource '%.20s'", lineno, name);
    out->soft_only = hard == NULL;
    if (!parse_limit_value(soft, &out->soft) || (hard && !parse_limit_value(hard, &out->hard)))
        return reason_fail(reason, reason_size, "limits: line %u: %s: not a number or 'unlimited'",
                    lineno, name);
    struct rlimit cur;
    if (getrlimit(out->resource, &cur) < 0)
        return reason_fail(reason, reason_size, "limits: line %u: %s: %s", lineno, name, strerror(errno));
    uint64_t cur_hard = cur.rlim_max == RLIM_INFINITY ? UINT64_MAX : cur.rlim_max;
    uint64_t hard_v = hard ? out->hard : cur_hard;
    if (out->soft > hard_v)
        return reason_fail(reason, reason_size, "limits: line %u: %s: soft %s is above the hard limit",
                    lineno, name, soft);
    if (hard_v > cur_hard)
        return reason_fail(reason, reason_size,
                    "limits: line %u: %s: hard %s is above bay0's own hard limit (raising it "
                    "needs CAP_SYS_RESOURCE)", lineno, name, hard);
    return true;
}

int creds_load_limits(int dirfd, const char *path, struct creds_limits *out, char *reason,
                      size_t reason_size)
{
    out->count = 0;
    char text[CREDS_FILE_BYTES_MAX];
    int r = read_file(dirfd, path, "limits", text, sizeof text, reason, reason_size);
    if (r <= 0)
        return r;
    unsigned lineno = 0;
    for (char *line = text, *next; line && *line && lineno < CREDS_LIMIT_LINES_MAX; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        str_rstrip(line);
        line += strspn(line, " \t");
        if (!*line)
            continue;
        if (out->count == CREDS_LIMITS_MAX) {
            reason_fail(reason, reason_size, "limits: more than %d limits", CREDS_LIMITS_MAX);
            return -1;
        }
        if (!parse_limit_line(line, lineno, &out->l[out->count], reason, reason_size))
            return -1;
        out->count++;
    }
    return 1;
}
