/* test_svc_names.c — svc_find's name index (src/svc.c) against the linear
 * search it replaced, under a long run of random adds and frees with few
 * distinct names (long probe runs, namesakes in two slots at once, as a
 * removed service and its re-added successor are), plus a reset of an
 * indexed slot.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "svc.h"
#include "svcmap.h"
#include "util.h"

#define SLOTS 200
#define NAMES 37

static uint32_t rng = 4242;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* The search svc_find did before the index: lowest slot in use, not a
 * logger, with that name. */
static struct svc *linear_find(const char *name)
{
    for (uint32_t i = 0; i < sup.used_hi; i++) {
        struct svc *s = &sup.svcs[i];
        if (s->in_use && !s->is_logger && strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

static void check_all_names(void)
{
    char name[16];
    for (int k = 0; k < NAMES + 2; k++) {
        snprintf(name, sizeof name, "svc%d", k);
        assert_ptr_equal(svc_find(name), linear_find(name));
    }
}

static void test_index_matches_linear_search(void **state)
{
    (void)state;
    sup.svcs = table_alloc(SLOTS, sizeof *sup.svcs);
    assert_non_null(sup.svcs);
    sup.slots = SLOTS;
    sup.used_hi = SLOTS;
    assert_int_equal(svc_names_init(SLOTS), 0);
    assert_int_equal(svcmap_init(SLOTS), 0);
    uint32_t found_twice = 0;
    for (int step = 0; step < 40000; step++) {
        struct svc *s = &sup.svcs[next_rand() % SLOTS];
        if (!s->in_use) {
            svc_slot_reset(s);
            snprintf(s->name, sizeof s->name, "svc%u", next_rand() % NAMES);
            s->is_logger = next_rand() % 8 == 0;
            if (!s->is_logger)
                svc_name_add(s);
        } else if (next_rand() % 3 == 0) {
            svc_slot_reset(s); /* a reused slot: leaves the index */
            s->in_use = false;
        } else {
            if (!s->is_logger)
                svc_name_del(s);
            s->in_use = false;
        }
        if (step % 97 == 0)
            check_all_names();
        struct svc *f = svc_find(s->name);
        found_twice += f && f != s && s->in_use && !s->is_logger;
    }
    check_all_names();
    assert_true(found_twice > 0); /* namesakes were exercised */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_matches_linear_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
