/* test_svcmap.c — the pid map and the deadline heap (src/svcmap.c) against
 * a plain model (arrays scanned in full), under a long run of random
 * operations, plus the edge cases: colliding pids, deletion in the middle
 * of a probe run, equal deadlines, a deadline moved both ways.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "svcmap.h"

#define SLOTS 64
#define MODEL_PIDS 4096

static int32_t model_slot[MODEL_PIDS]; /* pid -> slot*2+aux+1, 0 none */
static int64_t model_deadline[SLOTS];
static uint32_t rng = 12345;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static uint32_t model_pid_count(void)
{
    uint32_t n = 0;
    for (int p = 0; p < MODEL_PIDS; p++)
        n += model_slot[p] != 0;
    return n;
}

static void check_pid_model(void)
{
    for (int p = 1; p < MODEL_PIDS; p++) {
        uint32_t slot = 0;
        bool aux = false;
        bool found = svcmap_pid_get(p, &slot, &aux);
        assert_int_equal(found, model_slot[p] != 0);
        if (found)
            assert_int_equal((int32_t)(slot * 2 + aux + 1), model_slot[p]);
    }
    assert_int_equal(svcmap_pid_count(), model_pid_count());
}

static int64_t model_next(void)
{
    int64_t next = 0;
    for (int i = 0; i < SLOTS; i++)
        if (model_deadline[i] && (!next || model_deadline[i] < next))
            next = model_deadline[i];
    return next;
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(svcmap_init(SLOTS), 0);
    return 0;
}

static void test_pids_against_model(void **state)
{
    (void)state;
    memset(model_slot, 0, sizeof model_slot);
    for (int round = 0; round < 20000; round++) {
        /* pids from a small range collide and form long probe runs */
        pid_t pid = (pid_t)(1 + next_rand() % (MODEL_PIDS - 1));
        if (model_slot[pid]) {
            svcmap_pid_del(pid);
            model_slot[pid] = 0;
        } else if (model_pid_count() < 2 * SLOTS) {
            uint32_t slot = next_rand() % SLOTS;
            bool aux = next_rand() & 1;
            svcmap_pid_put(pid, slot, aux);
            model_slot[pid] = (int32_t)(slot * 2 + aux + 1);
        }
        if (round % 500 == 0)
            check_pid_model();
    }
    check_pid_model();
    for (int p = 1; p < MODEL_PIDS; p++)
        if (model_slot[p]) {
            svcmap_pid_del(p);
            model_slot[p] = 0;
        }
    assert_int_equal(svcmap_pid_count(), 0);
    svcmap_pid_del(77); /* absent: nothing */
    uint32_t slot;
    bool aux;
    assert_false(svcmap_pid_get(77, &slot, &aux));
}

static void test_deadlines_against_model(void **state)
{
    (void)state;
    memset(model_deadline, 0, sizeof model_deadline);
    int64_t now = 1000;
    for (int round = 0; round < 20000; round++) {
        uint32_t slot = next_rand() % SLOTS;
        uint32_t op = next_rand() % 4;
        if (op < 2) { /* set or move, sometimes to an equal time */
            int64_t d = now + 1 + (int64_t)(next_rand() % 50);
            svcmap_deadline_set(slot, d);
            model_deadline[slot] = d;
        } else if (op == 2) {
            svcmap_deadline_set(slot, 0);
            model_deadline[slot] = 0;
        } else {
            now += next_rand() % 10;
            uint32_t got;
            while (svcmap_deadline_pop_due(now, &got)) {
                assert_true(got < SLOTS);
                assert_true(model_deadline[got] != 0 && model_deadline[got] <= now);
                assert_int_equal(model_deadline[got], model_next()); /* earliest first */
                model_deadline[got] = 0;
            }
        }
        assert_int_equal(svcmap_deadline_next(), model_next());
    }
    uint32_t n = 0;
    for (int i = 0; i < SLOTS; i++)
        n += model_deadline[i] != 0;
    assert_int_equal(svcmap_deadline_count(), n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pids_against_model),
        cmocka_unit_test(test_deadlines_against_model),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
