/* fuzz_pressure.c — libFuzzer target for gov_psi_parse (src/governor.c):
 * the text of /proc/pressure/{cpu,memory,io} (or a cgroup's *.pressure),
 * arbitrary bytes. Checks that a success has every average within
 * 0.00-100.00 and a "some" line, that a failure says why, and that
 * feeding the result to the policy keeps its invariants (the decision is
 * pure, so it is run twice on equal state and must agree).
 */
#include "governor.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const struct gov_psi_line *l)
{
    if (l->avg10_x100 > 10000 || l->avg60_x100 > 10000 || l->avg300_x100 > 10000)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exact size: ASan sees overreads */
    if (!text)
        return 0;
    memcpy(text, data, size);
    struct gov_psi p;
    char reason[128] = "";
    bool ok = gov_psi_parse(text, size, &p, reason, sizeof reason);
    free(text);
    if (!ok) {
        if (reason[0] == '\0' || strlen(reason) >= sizeof reason)
            abort();
        return 0;
    }
    check_line(&p.some);
    check_line(&p.full);
    if (!p.has_full && (p.full.avg10_x100 || p.full.total_us))
        abort();
    static struct gov_inputs in;
    memset(&in, 0, sizeof in);
    in.have_psi = true;
    in.cpu = in.memory = in.io = p;
    in.personas_n = 2;
    in.personas[0].role = GOV_ROLE_FOCUSED;
    in.personas[0].running = true;
    in.personas[1].role = GOV_ROLE_SACRIFICIAL;
    in.personas[1].running = true;
    in.personas[1].throttled_pct = (uint32_t)(p.some.total_us % 150);
    struct gov_state a, b;
    gov_state_init(&a);
    gov_state_init(&b);
    static struct gov_output oa, ob;
    gov_decide(&in, &a, &oa);
    gov_decide(&in, &b, &ob);
    if (memcmp(&oa, &ob, sizeof oa) != 0 || oa.level >= GOV_LEVELS)
        abort();
    if (oa.personas[0].action != GOV_RUN) /* the focused persona is never frozen */
        abort();
    if (oa.cause_level[GOV_CAUSE_CPU] > GOV_ELEVATED) /* CPU alone never goes higher */
        abort();
    return 0;
}
