/* SPDX-License-Identifier: BSD-3-Clause */
/* test_secrets.c: unit tests for random identifiers and refresh-token
 * secrets (tokenpolicyd/secrets.c).
 *
 * Session ids are hex, unique and time-ordered; refresh tokens are 32
 * random bytes in base64url whose stored hash is SHA-256 of the text the
 * client holds (computed here through OpenSSL directly); hashes compare
 * equal only when every byte does. Must never print outside cmocka.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "secrets.h"
#include "tokentest.h"

/* ---- random values and hashes ----------------------------------------------- */

static void test_session_id_hex_and_unique(void **state)
{
        char ids[64][TP_SESSION_ID_MAX];
        size_t i, j;

        (void)state;
        for (i = 0; i < 64; i++) {
                assert_int_equal(tp_session_id_new(ids[i]), 0);
                assert_true(is_lower_hex(ids[i], TP_SESSION_ID_MAX - 1));
                for (j = 0; j < i; j++)
                        assert_string_not_equal(ids[i], ids[j]);
        }
}

/* The first 12 digits are the time in milliseconds, so ids made later sort
 * later; the other 20 differ even within one millisecond. */
static void test_session_id_time_ordered(void **state)
{
        char a[TP_SESSION_ID_MAX], b[TP_SESSION_ID_MAX], c[TP_SESSION_ID_MAX];
        struct timespec ts, pause = { 0, 3 * 1000 * 1000 };
        unsigned long long ms, now;

        (void)state;
        assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
        now = (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
        assert_int_equal(tp_session_id_new(a), 0);
        assert_int_equal(tp_session_id_new(b), 0);
        assert_int_equal(sscanf(a, "%12llx", &ms), 1);
        assert_true(ms >= now && ms < now + 1000);
        assert_string_not_equal(a + 12, b + 12);
        assert_int_equal(nanosleep(&pause, NULL), 0);
        assert_int_equal(tp_session_id_new(c), 0);
        assert_true(strcmp(c, a) > 0 && strcmp(c, b) > 0);
}

static void test_refresh_token_format_and_hash(void **state)
{
        char a[TP_REFRESH_TOKEN_TEXT], b[TP_REFRESH_TOKEN_TEXT];
        uint8_t ha[TP_SHA256_LEN], hb[TP_SHA256_LEN], h[TP_SHA256_LEN], raw[64];
        unsigned int mdlen;

        (void)state;
        assert_int_equal(tp_refresh_token_new(a, ha), 0);
        assert_int_equal(tp_refresh_token_new(b, hb), 0);
        assert_true(is_b64url(a, 43));
        assert_true(is_b64url(b, 43));
        assert_string_not_equal(a, b);
        assert_int_equal(unb64url(a, 43, raw), TP_REFRESH_TOKEN_BYTES);

        /* The stored hash is SHA-256 of the text the client holds. */
        assert_int_equal(EVP_Digest(a, strlen(a), h, &mdlen, EVP_sha256(), NULL), 1);
        assert_memory_equal(h, ha, TP_SHA256_LEN);
        assert_int_equal(tp_refresh_token_hash(a, h), 0);
        assert_true(tp_hash_equal(h, ha));
        assert_false(tp_hash_equal(h, hb));
}

static void test_hash_equal(void **state)
{
        uint8_t a[TP_SHA256_LEN], b[TP_SHA256_LEN];

        (void)state;
        memset(a, 0x5a, sizeof(a));
        memcpy(b, a, sizeof(b));
        assert_true(tp_hash_equal(a, b));
        b[0] ^= 1;
        assert_false(tp_hash_equal(a, b));
        b[0] ^= 1;
        b[TP_SHA256_LEN - 1] ^= 0x80;
        assert_false(tp_hash_equal(a, b));
}

/* Names for temporary files: hex of the length asked, and not repeated. */
static void test_random_hex(void **state)
{
        char a[33], b[33], big[200];

        (void)state;
        assert_int_equal(tp_random_hex(16, a), 0);
        assert_int_equal(tp_random_hex(16, b), 0);
        assert_true(is_lower_hex(a, 32));
        assert_true(is_lower_hex(b, 32));
        assert_string_not_equal(a, b);
        assert_int_equal(tp_random_hex(0, a), 0);
        assert_string_equal(a, "");
        assert_int_equal(tp_random_hex(65, big), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_session_id_hex_and_unique),
                cmocka_unit_test(test_session_id_time_ordered),
                cmocka_unit_test(test_refresh_token_format_and_hash),
                cmocka_unit_test(test_hash_equal),
                cmocka_unit_test(test_random_hex),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
