/* podman.c — parsing podman's JSON and building its command lines (see
 * podman.h).
 *
 * Owns: the only code that reads podman's output. Allocates (jansson);
 * never runs in PID 1 or in the persona manager's loop.
 */
#include "podman.h"

#include "util.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static bool container_from(json_t *o, struct podman_container *c, char *err,
                           size_t err_size, size_t index)
{
    json_t *names = json_object_get(o, "Names");
    json_t *state = json_object_get(o, "State");
    json_t *first = json_is_array(names) ? json_array_get(names, 0) : NULL;
    if (!json_is_object(o) || !json_is_string(first) ||
        !json_is_string(state))
        return reason_fail(err, err_size,
                           "podman ps: entry %zu lacks a Names array or a "
                           "State string", index);
    memset(c, 0, sizeof *c);
    const char *name = json_string_value(first);
    size_t name_len = json_string_length(first);
    if (name_len >= sizeof c->name || strlen(name) != name_len)
        return reason_fail(err, err_size,
                           "podman ps: entry %zu has a bad name", index);
    memcpy(c->name, name, name_len + 1);
    str_copy(c->state, sizeof c->state, json_string_value(state));
    json_t *pid = json_object_get(o, "Pid");
    c->pid = json_is_integer(pid) ? (int64_t)json_integer_value(pid) : 0;
    c->ours = persona_container_parse(c->name, name_len, &c->persona);
    json_t *labels = json_object_get(o, "Labels");
    c->made_by_manager = json_is_object(labels) &&
                         json_object_get(labels, "bay0.persona") != NULL;
    return true;
}

bool podman_ps_parse(const char *json, size_t len,
                     struct podman_container *out, size_t cap, size_t *count,
                     char *err, size_t err_size)
{
    *count = 0;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return reason_fail(err, err_size,
                           "podman ps: not JSON: %s (line %d)", jerr.text,
                           jerr.line);
    bool ok = json_is_array(root);
    if (!ok)
        reason_fail(err, err_size, "podman ps: not a JSON array");
    size_t n = ok ? json_array_size(root) : 0;
    if (ok && n > cap)
        ok = reason_fail(err, err_size,
                         "podman ps: %zu containers, more than the %zu bay0 "
                         "reads", n, cap);
    for (size_t i = 0; ok && i < n; i++)
        ok = container_from(json_array_get(root, i), &out[i], err, err_size, i);
    json_decref(root);
    if (ok)
        *count = n;
    return ok;
}

bool podman_state_is_up(const char *state)
{
    return strcmp(state, "running") == 0 || strcmp(state, "paused") == 0 ||
           strcmp(state, "stopping") == 0;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool podman_time_parse(const char *s, int64_t *ns)
{
    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
        s[13] != ':' || s[16] != ':')
        return false;
    struct tm tm = {.tm_year = digits(s, 4) - 1900,
                    .tm_mon = digits(s + 5, 2) - 1,
                    .tm_mday = digits(s + 8, 2),
                    .tm_hour = digits(s + 11, 2),
                    .tm_min = digits(s + 14, 2),
                    .tm_sec = digits(s + 17, 2)};
    /* years 1970..2200: nanoseconds since the epoch fit an int64 */
    if (tm.tm_year < 70 || tm.tm_year > 2200 - 1900 || tm.tm_mon < 0 ||
        tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
        tm.tm_sec < 0 || tm.tm_sec > 60)
        return false;
    const char *p = s + 19;
    int64_t frac_ns = 0;
    if (*p == '.') {
        int64_t scale = 100000000;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            frac_ns += (*p - '0') * scale;
            scale /= 10;
        }
    }
    int64_t offset_s = 0;
    if (*p == '+' || *p == '-') {
        /* each read only after the bytes before it proved not the end */
        int hh = digits(p + 1, 2);
        if (hh < 0 || hh > 23 || p[3] != ':')
            return false;
        int mm = digits(p + 4, 2);
        if (mm < 0 || mm > 59 || p[6] != '\0')
            return false;
        offset_s = (*p == '+' ? 1 : -1) * (int64_t)(hh * 3600 + mm * 60);
    } else if (!(p[0] == 'Z' && p[1] == '\0')) {
        return false;
    }
    time_t t = timegm(&tm);
    *ns = ((int64_t)t - offset_s) * 1000000000 + frac_ns;
    return true;
}

bool podman_event_parse(const char *line, size_t len, struct podman_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->exit_code = -1;
    json_t *o = json_loadb(line, len, 0, NULL);
    if (o == NULL)
        return false;
    json_t *type = json_object_get(o, "Type");
    json_t *name = json_object_get(o, "Name");
    json_t *status = json_object_get(o, "Status");
    bool ok = json_is_object(o) && json_is_string(name) &&
              json_is_string(status) &&
              (type == NULL ||
               (json_is_string(type) &&
                strcmp(json_string_value(type), "container") == 0)) &&
              json_string_length(name) < sizeof ev->name &&
              strlen(json_string_value(name)) == json_string_length(name);
    if (ok) {
        memcpy(ev->name, json_string_value(name), json_string_length(name) + 1);
        const char *st = json_string_value(status);
        ev->kind = strcmp(st, "start") == 0    ? PODMAN_EV_START
                   : strcmp(st, "died") == 0   ? PODMAN_EV_DIED
                   : strcmp(st, "remove") == 0 ? PODMAN_EV_REMOVE
                                               : PODMAN_EV_OTHER;
        json_t *code = json_object_get(o, "ContainerExitCode");
        if (json_is_integer(code) && json_integer_value(code) >= 0 &&
            json_integer_value(code) <= 255)
            ev->exit_code = (int)json_integer_value(code);
        json_t *t = json_object_get(o, "Time");
        if (!json_is_string(t) ||
            !podman_time_parse(json_string_value(t), &ev->time_ns))
            ev->time_ns = 0;
    }
    json_decref(o);
    return ok;
}

bool podman_argv(struct exec_argv *a, const char *first, ...)
{
    if (!exec_argv_podman(a))
        return false;
    va_list ap;
    va_start(ap, first);
    for (const char *w = first; w != NULL; w = va_arg(ap, const char *))
        exec_argv_add(a, w);
    va_end(ap);
    return !a->overflow;
}

bool podman_err_no_such_container(const char *err)
{
    return strstr(err, "no such container") != NULL ||
           strstr(err, "no container with name or ID") != NULL;
}
