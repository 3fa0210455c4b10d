/* persona_name.h — the persona naming grammar (seed: "Persona naming
 * grammar (mandatory)").
 *
 *   semantic name   p://NAME   (a user persona)   sys://NAME  (a system tenant)
 *   container name  p__NAME                        sys__NAME
 *
 * NAME: lowercase ASCII letters, digits and single '-' between them,
 * starting with a letter, 1..PERSONA_NAME_BYTES_MAX bytes. The mapping is
 * lossless both ways; NAME holds no '_', so a container name splits one way
 * only, and the prefixes differ in their first byte, so a user persona and
 * a system tenant can never share a container. A container name that is not
 * the image of a valid semantic name is not ours (never touched).
 *
 * The CLI, the database and every log line use the semantic name; only the
 * podman calls see the container name. Pure functions: no allocation, no
 * I/O. The parser takes untrusted input (argv, the control socket, podman's
 * output) and is fuzzed (tests/fuzz/fuzz_persona_name.c).
 */
#ifndef BAY0_PERSONA_NAME_H
#define BAY0_PERSONA_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define PERSONA_NAME_BYTES_MAX 32 /* NAME, without scheme or prefix */
/* "sys://" + NAME + NUL, the longest semantic name's storage */
#define PERSONA_SEMANTIC_BYTES_MAX (6 + PERSONA_NAME_BYTES_MAX + 1)
/* "sys__" + NAME + NUL */
#define PERSONA_CONTAINER_BYTES_MAX (5 + PERSONA_NAME_BYTES_MAX + 1)
#define PERSONA_REASON_BYTES_MAX 256

enum persona_kind { PERSONA_USER = 0, PERSONA_SYSTEM = 1 };

struct persona_name {
    enum persona_kind kind;
    char name[PERSONA_NAME_BYTES_MAX + 1]; /* NAME only, NUL-terminated */
};

/* Parse len bytes of s as a semantic name. On failure returns false and
 * writes to reason a message that quotes the input and names the rule it
 * breaks. */
bool persona_name_parse(const char *s, size_t len, struct persona_name *out,
                        char *reason, size_t reason_size);
/* Same for a NUL-terminated string. */
bool persona_name_parse_str(const char *s, struct persona_name *out,
                            char *reason, size_t reason_size);
/* NULL when NAME (without scheme) is valid, else a static rule text. */
const char *persona_name_check(const char *name, size_t len);

/* "p://NAME" / "sys://NAME". Never fails for a parsed name. */
void persona_name_format(const struct persona_name *n,
                         char out[PERSONA_SEMANTIC_BYTES_MAX]);
/* "p__NAME" / "sys__NAME". */
void persona_container_format(const struct persona_name *n,
                              char out[PERSONA_CONTAINER_BYTES_MAX]);
/* true when s (len bytes) is exactly the container name of a valid
 * semantic name (out filled); false: not ours. */
bool persona_container_parse(const char *s, size_t len,
                             struct persona_name *out);

#endif
