/* test_state_sha256.c — src/state/sha256.c against FIPS 180-4 / NIST
 * example vectors, including multi-block, block-boundary and streamed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "state/sha256.h"

#include <string.h>

static void check(const char *msg, size_t len, const char *want)
{
    char hex[SHA256_HEX_BYTES];
    sha256_hex(msg, len, hex);
    assert_string_equal(hex, want);
}

static void test_empty(void **s)
{
    (void)s;
    check("", 0,
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_abc(void **s)
{
    (void)s;
    check("abc", 3,
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_two_blocks(void **s)
{
    (void)s;
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check(m, strlen(m),
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_896_bits(void **s)
{
    (void)s;
    const char *m = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                    "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check(m, strlen(m),
          "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a_streamed(void **s)
{
    (void)s;
    struct sha256_ctx c;
    uint8_t d[SHA256_DIGEST_BYTES];
    char hex[SHA256_HEX_BYTES];
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    sha256_init(&c);
    for (int i = 0; i < 1000; i++)
        sha256_update(&c, chunk, sizeof chunk);
    sha256_final(&c, d);
    sha256_to_hex(d, hex);
    assert_string_equal(
        hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* 55, 56 and 64 bytes hit the padding edge cases; streaming byte by byte
 * must equal one-shot. */
static void test_boundaries_streamed_equals_oneshot(void **s)
{
    (void)s;
    static const char *const want[] = {
        [55] = "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
        [56] = "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
        [64] = "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
    };
    char m[64];
    memset(m, 'a', sizeof m);
    size_t lens[] = {55, 56, 64};
    for (size_t i = 0; i < 3; i++) {
        size_t n = lens[i];
        check(m, n, want[n]);
        struct sha256_ctx c;
        uint8_t d[SHA256_DIGEST_BYTES];
        char hex[SHA256_HEX_BYTES];
        sha256_init(&c);
        for (size_t j = 0; j < n; j++)
            sha256_update(&c, m + j, 1);
        sha256_final(&c, d);
        sha256_to_hex(d, hex);
        assert_string_equal(hex, want[n]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_abc),
        cmocka_unit_test(test_two_blocks),
        cmocka_unit_test(test_896_bits),
        cmocka_unit_test(test_million_a_streamed),
        cmocka_unit_test(test_boundaries_streamed_equals_oneshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
