/* fuzz_persona_name.c — the persona naming grammar on arbitrary bytes:
 * a semantic name that parses formats back to the same bytes and maps to a
 * container name that parses back to it; a refusal always has a reason;
 * a container name taken for ours formats back to the same bytes.
 */
#include "persona_name.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct persona_name n, back;
    char reason[PERSONA_REASON_BYTES_MAX];
    char sem[PERSONA_SEMANTIC_BYTES_MAX], con[PERSONA_CONTAINER_BYTES_MAX];
    if (persona_name_parse(s, size, &n, reason, sizeof reason)) {
        persona_name_format(&n, sem);
        if (strlen(sem) != size || memcmp(sem, s, size) != 0)
            abort();
        persona_container_format(&n, con);
        if (!persona_container_parse(con, strlen(con), &back) ||
            back.kind != n.kind || strcmp(back.name, n.name) != 0)
            abort();
    } else if (reason[0] == '\0' || strlen(reason) >= sizeof reason) {
        abort();
    }
    if (persona_container_parse(s, size, &n)) {
        persona_container_format(&n, con);
        if (strlen(con) != size || memcmp(con, s, size) != 0)
            abort();
    }
    return 0;
}
