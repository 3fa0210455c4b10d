/* fuzz_deps.c — libFuzzer target for deps_parse_text (src/deps.c): the
 * text of a service's `dependencies` file, arbitrary bytes up to the
 * file limit. Checks that a success lists only valid, distinct names
 * within DEPS_PER_SERVICE_MAX, and that an error carries a bounded,
 * non-empty message naming the file. Never writes files.
 */
#include "deps.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL "sv/fuzz/dependencies"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct deps_list list; /* 8 KiB: off the stack */
static struct deps_error err;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > DEPS_FILE_BYTES_MAX)
        return -1;
    /* An exact-size heap copy, so ASan sees any read past the end. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    list.count = 0;
    enum deps_status st = deps_parse_text(text, size, LABEL, &list, &err);
    free(text);
    if (st != err.status)
        abort();
    if (st == DEPS_OK) {
        if (err.msg[0] != '\0' || list.count > DEPS_PER_SERVICE_MAX)
            abort();
        for (uint32_t i = 0; i < list.count; i++) {
            if (name_check(list.names[i], DEPS_NAME_BYTES_MAX) != NULL)
                abort();
            for (uint32_t j = 0; j < i; j++)
                if (strcmp(list.names[i], list.names[j]) == 0)
                    abort();
        }
        return 0;
    }
    if (st != DEPS_ERR_NAME && st != DEPS_ERR_LIMIT)
        abort();
    size_t n = strnlen(err.msg, sizeof err.msg);
    if (n == 0 || n == sizeof err.msg || strncmp(err.msg, LABEL ":", strlen(LABEL) + 1) != 0) {
        fprintf(stderr, "bad message: %.*s\n", (int)sizeof err.msg, err.msg);
        abort();
    }
    return 0;
}
