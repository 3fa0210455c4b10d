/* fuzz_podman.c — what bay0 reads from podman (src/podman.c, jansson) and
 * the persona spec (src/persona_job.c) on arbitrary bytes. The first byte
 * picks the parser: `podman ps -a --format json`, one `podman events`
 * line, an RFC 3339 time, or a stored spec. Checks: a listing never holds
 * more than asked, every name is terminated and "ours" only when it maps
 * back to a valid semantic name; an event's kind is known and its name
 * terminated; a failure always has a reason; a spec never exceeds its
 * bounds.
 */
#include "persona_job.h"
#include "podman.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct podman_container cs[8];

static void check_ps(const char *s, size_t n)
{
    size_t count = 99;
    char err[256] = "";
    if (!podman_ps_parse(s, n, cs, 8, &count, err, sizeof err)) {
        if (err[0] == '\0' || count != 0)
            abort();
        return;
    }
    if (count > 8)
        abort();
    for (size_t i = 0; i < count; i++) {
        if (memchr(cs[i].name, '\0', sizeof cs[i].name) == NULL ||
            memchr(cs[i].state, '\0', sizeof cs[i].state) == NULL)
            abort();
        struct persona_name id;
        bool ours = persona_container_parse(cs[i].name, strlen(cs[i].name), &id);
        if (ours != cs[i].ours)
            abort();
        char back[PERSONA_CONTAINER_BYTES_MAX];
        if (ours) {
            persona_container_format(&cs[i].persona, back);
            if (strcmp(back, cs[i].name) != 0)
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0:
        check_ps(s, n);
        break;
    case 1: {
        struct podman_event ev;
        if (podman_event_parse(s, n, &ev) &&
            ((unsigned)ev.kind > PODMAN_EV_REMOVE ||
             memchr(ev.name, '\0', sizeof ev.name) == NULL ||
             ev.exit_code < -1 || ev.exit_code > 255))
            abort();
        break;
    }
    case 2: {
        char t[64];
        int64_t ns;
        size_t m = n < sizeof t - 1 ? n : sizeof t - 1;
        memcpy(t, s, m);
        t[m] = '\0';
        (void)podman_time_parse(t, &ns);
        break;
    }
    default: {
        static char spec[STATE_PERSONA_SPEC_BYTES_MAX];
        size_t m = n < sizeof spec - 1 ? n : sizeof spec - 1;
        memcpy(spec, s, m);
        spec[m] = '\0';
        struct persona_spec ps;
        char reason[300] = "";
        if (!persona_spec_parse(spec, &ps, reason, sizeof reason)) {
            if (reason[0] == '\0')
                abort();
        } else if (ps.env_count > PERSONA_ENV_MAX || ps.cmd_count > PERSONA_CMD_ARGS_MAX ||
                   ps.cpu_weight > 10000) {
            abort();
        }
    }
    }
    return 0;
}
