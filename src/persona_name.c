/* persona_name.c — the persona naming grammar (see persona_name.h).
 *
 * Owns: parsing and formatting semantic and container names, and the exact
 * error messages. Never allocates, never does I/O.
 */
#include "persona_name.h"

#include "util.h"

#include <stdio.h>
#include <string.h>

static const char RULE[] =
    "a persona name is p://NAME or sys://NAME, NAME being lowercase letters, "
    "digits and single '-' between them, starting with a letter, at most 32 "
    "bytes";

static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

enum name_fault { NAME_OK, NAME_EMPTY, NAME_LONG, NAME_FIRST, NAME_CHAR,
                  NAME_DASHES, NAME_LAST };

static const char *const fault_text[] = {
    [NAME_OK] = NULL,
    [NAME_EMPTY] = "NAME is empty",
    [NAME_LONG] = "NAME is longer than 32 bytes",
    [NAME_FIRST] = "NAME must start with a lowercase letter",
    [NAME_CHAR] = "NAME may hold only lowercase letters, digits and '-'",
    [NAME_DASHES] = "NAME has two '-' in a row",
    [NAME_LAST] = "NAME must not end with '-'",
};

/* The first rule NAME breaks; *at is the offending byte's index. */
static enum name_fault name_fault(const char *name, size_t len, size_t *at)
{
    *at = 0;
    if (len == 0)
        return NAME_EMPTY;
    if (len > PERSONA_NAME_BYTES_MAX)
        return NAME_LONG;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        *at = i;
        if (!is_lower(c) && !is_digit(c) && c != '-')
            return NAME_CHAR;
        if (i == 0 && !is_lower(c))
            return NAME_FIRST;
        if (c == '-' && name[i - 1] == '-')
            return NAME_DASHES;
    }
    *at = len - 1;
    return name[len - 1] == '-' ? NAME_LAST : NAME_OK;
}

const char *persona_name_check(const char *name, size_t len)
{
    size_t at;
    return fault_text[name_fault(name, len, &at)];
}

/* The input, printable and bounded, for a message: bytes outside 0x20..0x7e
 * (and quotes and backslashes) as \xNN; at most ~60 input bytes. */
static void quote(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0;
    size_t shown = len > 60 ? 60 : len;
    for (size_t i = 0; i < shown && o + 5 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
    }
    if (shown < len && o + 4 < size) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static bool fail(char *reason, size_t size, const char *s, size_t len,
                 const char *what)
{
    char q[4 * 64 + 8];
    quote(s, len, q, sizeof q);
    return reason_fail(reason, size, "invalid persona name '%s': %s (%s)", q,
                       what, RULE);
}

static bool fail_name(char *reason, size_t size, const char *s, size_t len,
                      size_t off)
{
    size_t at;
    enum name_fault f = name_fault(s + off, len - off, &at);
    char what[128];
    /* at indexes a byte of NAME except when NAME is empty */
    unsigned char c = f == NAME_CHAR ? (unsigned char)s[off + at] : 0;
    if (f == NAME_CHAR && c >= 0x21 && c < 0x7f)
        str_fmt(what, sizeof what, "'%c' at byte %zu is not allowed", (char)c,
                off + at + 1);
    else if (f == NAME_CHAR)
        str_fmt(what, sizeof what, "byte 0x%02x at byte %zu is not allowed", c,
                off + at + 1);
    else if (f == NAME_LONG)
        str_fmt(what, sizeof what, "NAME is %zu bytes, at most 32", len - off);
    else
        str_copy(what, sizeof what, fault_text[f]);
    return fail(reason, size, s, len, what);
}

bool persona_name_parse(const char *s, size_t len, struct persona_name *out,
                        char *reason, size_t reason_size)
{
    size_t off;
    enum persona_kind kind;
    if (len >= 4 && memcmp(s, "p://", 4) == 0) {
        off = 4;
        kind = PERSONA_USER;
    } else if (len >= 6 && memcmp(s, "sys://", 6) == 0) {
        off = 6;
        kind = PERSONA_SYSTEM;
    } else {
        return fail(reason, reason_size, s, len,
                    "it must begin with p:// or sys:// (lowercase)");
    }
    if (persona_name_check(s + off, len - off) != NULL)
        return fail_name(reason, reason_size, s, len, off);
    out->kind = kind;
    memcpy(out->name, s + off, len - off);
    out->name[len - off] = '\0';
    return true;
}

bool persona_name_parse_str(const char *s, struct persona_name *out,
                            char *reason, size_t reason_size)
{
    return persona_name_parse(s, strlen(s), out, reason, reason_size);
}

void persona_name_format(const struct persona_name *n,
                         char out[PERSONA_SEMANTIC_BYTES_MAX])
{
    BAY0_ASSERT(persona_name_check(n->name, strlen(n->name)) == NULL);
    snprintf(out, PERSONA_SEMANTIC_BYTES_MAX, "%s%s",
             n->kind == PERSONA_USER ? "p://" : "sys://", n->name);
}

void persona_container_format(const struct persona_name *n,
                              char out[PERSONA_CONTAINER_BYTES_MAX])
{
    BAY0_ASSERT(persona_name_check(n->name, strlen(n->name)) == NULL);
    snprintf(out, PERSONA_CONTAINER_BYTES_MAX, "%s%s",
             n->kind == PERSONA_USER ? "p__" : "sys__", n->name);
}

bool persona_container_parse(const char *s, size_t len,
                             struct persona_name *out)
{
    size_t off;
    enum persona_kind kind;
    if (len >= 3 && memcmp(s, "p__", 3) == 0) {
        off = 3;
        kind = PERSONA_USER;
    } else if (len >= 5 && memcmp(s, "sys__", 5) == 0) {
        off = 5;
        kind = PERSONA_SYSTEM;
    } else {
        return false;
    }
    if (persona_name_check(s + off, len - off) != NULL)
        return false;
    out->kind = kind;
    memcpy(out->name, s + off, len - off);
    out->name[len - off] = '\0';
    return true;
}
