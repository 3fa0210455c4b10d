/* modules.c — finit_module(2) from a list, dependencies first, resolved
 * with MODDIR/modules.dep (the text file depmod writes). See modules.h.
 *
 * Owns: the module list format and the load order.
 * Must never: exit or abort on a module error; allocate (buffers are
 * static: PID 1 runs this once, in a child with a deadline).
 */
#include "modules.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#define MODULES_PATH_BYTES_MAX 512
#define MODULE_INIT_COMPRESSED_FILE_FLAG 4 /* linux/module.h, 6.4+ */

static char dep_buf[MODULES_DEP_BYTES_MAX];
static char list_buf[MODULES_LIST_BYTES_MAX];

struct modules_ctx {
    const char *moddir;
    size_t dep_len;
    char done[MODULES_LOADED_MAX][MODULES_NAME_BYTES_MAX];
    uint32_t done_count;
    struct modules_result *res;
};

/* "kernel/fs/ext4/ext4.ko[.xz]" (len bytes) -> "ext4"; '-' becomes '_'
 * as the kernel does. False if it does not fit. */
static bool module_name_of(const char *path, size_t len, char *out,
                           size_t out_size)
{
    const char *base = path;
    for (size_t i = 0; i < len; i++)
        if (path[i] == '/')
            base = path + i + 1;
    size_t n = (size_t)(path + len - base);
    const char *ko = memmem(base, n, ".ko", 3);
    if (ko)
        n = (size_t)(ko - base);
    if (n == 0 || n >= out_size)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = base[i] == '-' ? '_' : base[i];
    out[n] = '\0';
    return true;
}

/* The modules.dep line for name (NUL-terminated in dep_buf), or NULL. */
static const char *dep_line_find(const struct modules_ctx *c, const char *name)
{
    size_t off = 0;
    while (off < c->dep_len) {
        const char *line = dep_buf + off;
        size_t len = strlen(line);
        const char *colon = memchr(line, ':', len);
        char got[MODULES_NAME_BYTES_MAX];
        if (colon && module_name_of(line, (size_t)(colon - line), got,
                                    sizeof got) &&
            strcmp(got, name) == 0)
            return line;
        off += len + 1;
    }
    return NULL;
}

static bool already_done(struct modules_ctx *c, const char *name)
{
    for (uint32_t i = 0; i < c->done_count; i++)
        if (strcmp(c->done[i], name) == 0)
            return true;
    if (c->done_count < MODULES_LOADED_MAX)
        str_copy(c->done[c->done_count++], MODULES_NAME_BYTES_MAX, name);
    return false;
}

static void finit_one(struct modules_ctx *c, const char *name,
                      const char *relpath, size_t rel_len)
{
    char path[MODULES_PATH_BYTES_MAX];
    if (!str_fmt(path, sizeof path, "%s/%.*s", c->moddir, (int)rel_len,
                 relpath)) {
        log_error("event=module name=%s error=path too long", name);
        c->res->failed++;
        return;
    }
    int64_t t0 = time_mono_ms();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_warn("event=module name=%s result=missing path=%s error=%s", name,
                 path, strerror(errno));
        c->res->missing++;
        return;
    }
    bool compressed = rel_len > 3 && memcmp(relpath + rel_len - 3, ".ko", 3) != 0;
    long rc = syscall(SYS_finit_module, fd, "",
                      compressed ? MODULE_INIT_COMPRESSED_FILE_FLAG : 0);
    int err = errno;
    close(fd);
    if (rc == 0) {
        c->res->loaded++;
        log_info("event=module name=%s result=loaded ms=%lld", name,
                 (long long)(time_mono_ms() - t0));
    } else if (err == EEXIST) {
        c->res->already++;
        log_info("event=module name=%s result=already-loaded", name);
    } else {
        c->res->failed++;
        log_error("event=module name=%s result=failed path=%s error=%s", name,
                  path, strerror(err));
    }
}

/* Load name after its dependencies (the tokens after ':' on its line, last
 * first, as modprobe does). */
static void load_module(struct modules_ctx *c, const char *name, int depth)
{
    if (depth > MODULES_DEPTH_MAX) {
        log_error("event=module name=%s error=dependency chain too deep", name);
        c->res->failed++;
        return;
    }
    if (already_done(c, name))
        return;
    const char *line = dep_line_find(c, name);
    if (!line) {
        log_warn("event=module name=%s result=missing error=not in modules.dep",
                 name);
        c->res->missing++;
        return;
    }
    const char *colon = strchr(line, ':');
    const char *tok[MODULES_DEPS_PER_MODULE_MAX];
    size_t tok_len[MODULES_DEPS_PER_MODULE_MAX];
    size_t n = 0;
    for (const char *p = colon + 1; *p && n < MODULES_DEPS_PER_MODULE_MAX;) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, " \t");
        if (len == 0)
            break;
        tok[n] = p;
        tok_len[n++] = len;
        p += len;
    }
    for (size_t i = n; i-- > 0;) {
        char dep[MODULES_NAME_BYTES_MAX];
        if (module_name_of(tok[i], tok_len[i], dep, sizeof dep))
            load_module(c, dep, depth + 1);
    }
    finit_one(c, name, line, (size_t)(colon - line));
}

static ssize_t read_lines(const char *path, char *buf, size_t size)
{
    ssize_t n = file_read_small(AT_FDCWD, path, buf, size);
    if (n < 0)
        return -1;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\n')
            buf[i] = '\0';
    return n;
}

int modules_load_list(const char *list_path, const char *moddir,
                      struct modules_result *res)
{
    static struct modules_ctx c; /* large (the done table): not on stack */
    memset(&c, 0, sizeof c);
    memset(res, 0, sizeof *res);
    c.res = res;
    char dir[MODULES_PATH_BYTES_MAX];
    if (!moddir) {
        struct utsname u;
        uname(&u);
        str_fmt(dir, sizeof dir, "%s/%s", MODULES_DIR_BASE, u.release);
        moddir = dir;
    }
    c.moddir = moddir;
    ssize_t list_len = read_lines(list_path, list_buf, sizeof list_buf);
    if (list_len < 0) {
        if (errno == ENOENT) {
            log_info("event=modules result=none list=%s", list_path);
            return 0;
        }
        log_error("event=modules list=%s error=%s", list_path, strerror(errno));
        return -1;
    }
    char dep_path[MODULES_PATH_BYTES_MAX];
    str_fmt(dep_path, sizeof dep_path, "%s/modules.dep", moddir);
    ssize_t dep_len = read_lines(dep_path, dep_buf, sizeof dep_buf);
    if (dep_len < 0) {
        log_error("event=modules path=%s error=%s", dep_path, strerror(errno));
        return -1;
    }
    c.dep_len = (size_t)dep_len;
    for (ssize_t off = 0; off < list_len;) {
        char *entry = list_buf + off;
        off += (ssize_t)strlen(entry) + 1;
        entry[strcspn(entry, "#")] = '\0';
        str_rstrip(entry);
        while (*entry == ' ' || *entry == '\t')
            entry++;
        char name[MODULES_NAME_BYTES_MAX];
        if (!entry[0] || !module_name_of(entry, strlen(entry), name, sizeof name))
            continue;
        load_module(&c, name, 0);
    }
    log_info("event=modules loaded=%u already=%u missing=%u failed=%u",
             res->loaded, res->already, res->missing, res->failed);
    return 0;
}
