/* contain.c — a service's containment files (see contain.h). */
#include "contain.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CONTAIN_FILE_BYTES_MAX 1024
#define CONTAIN_MEMORY_MIN (1024u * 1024u)
#define PIDS_LIMIT_MAX 4194304u       /* PID_MAX_LIMIT */
#define CONTAIN_CPU_PERIOD_MIN 1000u    /* µs, the kernel's bounds */
#define CONTAIN_CPU_PERIOD_MAX 1000000u
#define CONTAIN_CPU_PERIOD_DEFAULT 100000u
#define CONTAIN_CPU_QUOTA_MAX 100000000u /* 100 s a period: beyond is "max" */
#define CONTAIN_WEIGHT_MAX 10000u

/* The files after the knobs. */
enum { FILE_NO_NEW_PRIVS = CONTAIN_KNOBS, FILE_OOM_SCORE_ADJ, FILE_CAPABILITIES };

const char *const contain_file_names[CONTAIN_FILES] = {
    "memory.max", "memory.swap.max", "pids.max", "cpu.max", "cpu.weight", "io.weight",
    "no-new-privs", "oom-score-adj", "capabilities",
};

static const char *const cap_names[] = {
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid",
    "setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast",
    "net_admin", "net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio",
    "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
    "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write",
    "audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
    "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
};

int svcdir_file_read(int dirfd, const char *file, char *buf, size_t size, char *reason,
                     size_t reason_size)
{
    if (file_read_small(dirfd, file, buf, size) < 0) {
        if (errno == ENOENT)
            return 0;
        reason_fail(reason, reason_size, "%s: cannot read: %s", file,
                    errno == EFBIG ? "file too large" : strerror(errno));
        return -1;
    }
    str_rstrip(buf);
    return 1;
}

/* The file's text, blanks trimmed at both ends: 1, 0 when absent, -1. */
static int read_value(int dirfd, const char *file, char *buf, size_t size, char **text,
                      char *reason, size_t reason_size)
{
    int r = svcdir_file_read(dirfd, file, buf, size, reason, reason_size);
    if (r == 1)
        *text = buf + strspn(buf, " \t\n");
    return r;
}

/* "max" or a size (K/M/G/T suffixes) of at least min bytes. */
static bool parse_bytes(const char *file, const char *v, uint64_t min, char *out, char *reason,
                        size_t reason_size)
{
    uint64_t n;
    if (strcmp(v, "max") == 0)
        return str_copy(out, CONTAIN_VALUE_BYTES, "max");
    if (!parse_size(v, &n) || n < min)
        return reason_fail(reason, reason_size,
                           "%s: '%.40s' is not a size of at least %llu bytes (a number with "
                           "an optional K, M, G or T suffix) or 'max'",
                           file, v, (unsigned long long)min);
    return str_fmt(out, CONTAIN_VALUE_BYTES, "%llu", (unsigned long long)n);
}

static bool parse_pids(const char *v, char *out, char *reason, size_t reason_size)
{
    uint64_t n;
    if (strcmp(v, "max") == 0)
        return str_copy(out, CONTAIN_VALUE_BYTES, "max");
    if (!parse_u64(v, PIDS_LIMIT_MAX, &n) || n == 0)
        return reason_fail(reason, reason_size,
                           "pids.max: '%.40s' is not a number from 1 to %u or 'max'", v,
                           PIDS_LIMIT_MAX);
    return str_fmt(out, CONTAIN_VALUE_BYTES, "%llu", (unsigned long long)n);
}

/* "QUOTA [PERIOD]" in µs, QUOTA "max" or at least 1000. */
static bool parse_cpu_max(char *v, char *out, char *reason, size_t reason_size)
{
    char *period = strpbrk(v, " \t");
    if (period)
        *period++ = '\0';
    uint64_t q = 0, p = CONTAIN_CPU_PERIOD_DEFAULT;
    bool unlimited = strcmp(v, "max") == 0;
    if ((!unlimited && (!parse_u64(v, CONTAIN_CPU_QUOTA_MAX, &q) || q < CONTAIN_CPU_PERIOD_MIN)) ||
        (period && (!parse_u64(period, CONTAIN_CPU_PERIOD_MAX, &p) || p < CONTAIN_CPU_PERIOD_MIN)))
        return reason_fail(reason, reason_size,
                           "cpu.max: '%.20s%s%.20s' is not 'QUOTA [PERIOD]' in microseconds "
                           "(QUOTA 'max' or %u-%u, PERIOD %u-%u, default %u)",
                           v, period ? " " : "", period ? period : "", CONTAIN_CPU_PERIOD_MIN,
                           CONTAIN_CPU_QUOTA_MAX, CONTAIN_CPU_PERIOD_MIN, CONTAIN_CPU_PERIOD_MAX,
                           CONTAIN_CPU_PERIOD_DEFAULT);
    if (unlimited)
        return str_fmt(out, CONTAIN_VALUE_BYTES, "max %llu", (unsigned long long)p);
    return str_fmt(out, CONTAIN_VALUE_BYTES, "%llu %llu", (unsigned long long)q,
                   (unsigned long long)p);
}

static bool parse_weight(const char *file, const char *v, const char *prefix, char *out,
                         char *reason, size_t reason_size)
{
    uint64_t n;
    if (!parse_u64(v, CONTAIN_WEIGHT_MAX, &n) || n == 0)
        return reason_fail(reason, reason_size, "%s: '%.40s' is not a number from 1 to %u", file,
                           v, CONTAIN_WEIGHT_MAX);
    return str_fmt(out, CONTAIN_VALUE_BYTES, "%s%llu", prefix, (unsigned long long)n);
}

static bool parse_oom(const char *v, struct contain *c, char *reason, size_t reason_size)
{
    uint64_t n;
    bool neg = v[0] == '-';
    const char *digits = v + (neg || v[0] == '+');
    if (!(digits[0] >= '0' && digits[0] <= '9') || !parse_u64(digits, 1000, &n))
        return reason_fail(reason, reason_size,
                           "oom-score-adj: '%.40s' is not a number from -1000 to 1000", v);
    c->oom_set = true;
    c->oom_score_adj = (int16_t)(neg ? -(int64_t)n : (int64_t)n);
    return true;
}

static int cap_number(const char *name)
{
    if (strncasecmp(name, "cap_", 4) == 0)
        name += 4;
    for (size_t i = 0; i < ARRAY_LEN(cap_names); i++)
        if (strcasecmp(name, cap_names[i]) == 0)
            return (int)i;
    return -1;
}

/* Names separated by blanks, commas or newlines, `#` comments; `none`
 * alone keeps none. */
static bool parse_caps(char *v, struct contain *c, char *reason, size_t reason_size)
{
    c->caps_set = true;
    c->caps_keep = 0;
    bool none = false, any = false;
    for (char *line = v; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL;
        for (char *w = strtok_r(line, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
            int n = cap_number(w);
            if (strcasecmp(w, "none") == 0)
                none = true;
            else if (n < 0)
                return reason_fail(reason, reason_size,
                                   "capabilities: unknown capability '%.40s' (names as in "
                                   "capabilities(7), with or without cap_, or 'none')",
                                   w);
            else
                c->caps_keep |= 1ull << n;
            any = true;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (!any || (none && c->caps_keep))
        return reason_fail(reason, reason_size,
                           "capabilities: list the capabilities to keep, or 'none' alone");
    return true;
}

int contain_load(int dirfd, struct contain *c, char *reason, size_t reason_size)
{
    memset(c, 0, sizeof *c);
    char buf[CONTAIN_FILE_BYTES_MAX];
    char *v = buf;
    for (int k = 0; k < CONTAIN_FILES; k++) {
        const char *file = contain_file_names[k];
        int r = read_value(dirfd, file, buf, sizeof buf, &v, reason, reason_size);
        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        bool ok;
        switch (k) {
        case CONTAIN_MEMORY_MAX:
            ok = parse_bytes(file, v, CONTAIN_MEMORY_MIN, c->cg[k], reason, reason_size);
            break;
        case CONTAIN_MEMORY_SWAP_MAX:
            ok = parse_bytes(file, v, 0, c->cg[k], reason, reason_size);
            break;
        case CONTAIN_PIDS_MAX:
            ok = parse_pids(v, c->cg[k], reason, reason_size);
            break;
        case CONTAIN_CPU_MAX:
            ok = parse_cpu_max(v, c->cg[k], reason, reason_size);
            break;
        case CONTAIN_CPU_WEIGHT:
            ok = parse_weight(file, v, "", c->cg[k], reason, reason_size);
            break;
        case CONTAIN_IO_WEIGHT:
            ok = parse_weight(file, v, "default ", c->cg[k], reason, reason_size);
            break;
        case FILE_NO_NEW_PRIVS:
            ok = v[0] == '\0' || strcmp(v, "1") == 0 ||
                 reason_fail(reason, reason_size,
                             "no-new-privs: '%.40s': the file's presence turns it on; leave it "
                             "empty (or write 1)",
                             v);
            c->no_new_privs = ok;
            break;
        case FILE_OOM_SCORE_ADJ:
            ok = parse_oom(v, c, reason, reason_size);
            break;
        default: /* FILE_CAPABILITIES */
            ok = parse_caps(v, c, reason, reason_size);
            break;
        }
        if (!ok)
            return -1;
    }
    return 0;
}
