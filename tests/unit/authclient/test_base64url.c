/*
 * Table-driven tests of the strict base64url decoder: RFC 4648 test
 * vectors in the URL-safe alphabet, and every kind of input it must
 * reject (padding, the standard alphabet's + and /, whitespace,
 * impossible lengths, non-canonical trailing bits, a too small buffer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "authclient_internal.h"

static void test_decode_valid_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *encoded;
        const char *decoded;
    } cases[] = {
        {"", ""},
        {"Zg", "f"},
        {"Zm8", "fo"},
        {"Zm9v", "foo"},
        {"Zm9vYg", "foob"},
        {"Zm9vYmE", "fooba"},
        {"Zm9vYmFy", "foobar"},
        {"-_-_", "\xfb\xff\xbf"},
        {"eyJhbGciOiJSUzI1NiJ9", "{\"alg\":\"RS256\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char out[64];
        long n = ex_auth_b64url_decode(cases[i].encoded, strlen(cases[i].encoded), out,
                                       sizeof out);
        if (n != (long)strlen(cases[i].decoded))
            fail_msg("\"%s\": decoded length %ld, expected %zu", cases[i].encoded, n,
                     strlen(cases[i].decoded));
        assert_memory_equal(out, cases[i].decoded, (size_t)n);
    }
}

static void test_decode_rejects_invalid(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "Zg==",     /* padding */
        "Zm8=",     /* padding */
        "Z",        /* length 1 mod 4 */
        "Zm9vY",    /* length 1 mod 4 */
        "Zm9v+g",   /* standard alphabet */
        "Zm9v/g",   /* standard alphabet */
        "Zm9 v",    /* space */
        "Zm9v\nYg", /* newline */
        "Zh",       /* "f" with unused bits set: non-canonical */
        "Zm9",      /* "fo" with unused bits set: non-canonical */
        "Zm9v.g",   /* dot */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char out[64];
        long n = ex_auth_b64url_decode(cases[i], strlen(cases[i]), out, sizeof out);
        if (n != -1)
            fail_msg("case %zu (\"%s\") decoded to %ld bytes, expected rejection", i,
                     cases[i], n);
    }
}

static void test_decode_rejects_nul_byte(void **state)
{
    (void)state;
    unsigned char out[16];
    assert_int_equal(ex_auth_b64url_decode("Zm\0v", 4, out, sizeof out), -1);
}

static void test_decode_rejects_small_buffer(void **state)
{
    (void)state;
    unsigned char out[6];
    assert_int_equal(ex_auth_b64url_decode("Zm9vYmFy", 8, out, 5), -1);
    assert_int_equal(ex_auth_b64url_decode("Zm9vYmFy", 8, out, 6), 6);
}

static void test_decoded_max_is_enough(void **state)
{
    (void)state;
    for (size_t len = 0; len < 64; len++)
        assert_true(ex_auth_b64url_decoded_max(len) >= len * 3 / 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_valid_vectors),
        cmocka_unit_test(test_decode_rejects_invalid),
        cmocka_unit_test(test_decode_rejects_nul_byte),
        cmocka_unit_test(test_decode_rejects_small_buffer),
        cmocka_unit_test(test_decoded_max_is_enough),
    };
    return cmocka_run_group_tests_name("authclient_base64url", tests, NULL, NULL);
}
