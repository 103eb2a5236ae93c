/* SPDX-License-Identifier: BSD-3-Clause */
/* test_jwks.c: unit tests for the JWKS text of a keyring (shared/jwks.c).
 *
 * The exact document: the current key first, then the retained keys whose
 * time is after now, in the keyring's order, each member as RFC 8037 and
 * RFC 7517 name it; the buffer's edge; no document without a current key.
 * Keys are made here through OpenSSL directly. Must never print outside
 * cmocka, and removes every directory it creates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "jwks.h"
#include "keyring.h"
#include "tokentest.h"

/* A key made here as a keyring entry, and its JWK as the JWKS must hold it. */
static struct tp_pubkey *key_with_jwk(const char *dir, const char *name, char *jwk, size_t size)
{
        struct tp_pubkey *k = NULL;
        unsigned char raw[32];
        size_t rawlen = sizeof(raw);
        char path[PATH_MAX], x[64];
        EVP_PKEY *pkey;

        path_in(path, dir, name);
        pkey = key_new(path, NULL);
        assert_int_equal(EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen), 1);
        EVP_PKEY_free(pkey);
        b64url(raw, rawlen, x);
        assert_int_equal(tp_pubkey_load(AT_FDCWD, path, false, &k), 0);
        concat(jwk, size, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"", x, "\",\"kid\":\"", tp_pubkey_kid(k),
               "\",\"alg\":\"EdDSA\",\"use\":\"sig\"}", (const char *)NULL);
        return k;
}

static void test_jwks_render(void **state)
{
        char dir[PATH_MAX], cur[256], a[256], b[256], c[256], expect[2048], buf[TP_JWKS_MAX];
        struct tp_keyring *kr = NULL;
        struct tp_pubkey *ka, *kb, *kc;
        size_t len = 0;

        (void)state;
        make_tmpdir(dir);
        assert_int_equal(tp_keyring_new(&kr), 0);
        assert_int_equal(tp_jwks_render(kr, NOW, buf, sizeof(buf), &len), -EINVAL);
        tp_keyring_set_current(kr, key_with_jwk(dir, "cur.pem", cur, sizeof(cur)));
        assert_int_equal(tp_jwks_render(kr, NOW, buf, sizeof(buf), &len), 0);
        CONCAT(expect, "{\"keys\":[", cur, "]}\n");
        assert_string_equal(buf, expect);
        assert_int_equal(len, strlen(expect));

        /* Retained keys after the current one, latest end first; one whose
         * time is not after now is left out. */
        ka = key_with_jwk(dir, "a.pem", a, sizeof(a));
        kb = key_with_jwk(dir, "b.pem", b, sizeof(b));
        kc = key_with_jwk(dir, "c.pem", c, sizeof(c));
        assert_int_equal(tp_keyring_retain(kr, ka, NOW + 10), 0);
        assert_int_equal(tp_keyring_retain(kr, kb, NOW + 20), 0);
        assert_int_equal(tp_keyring_retain(kr, kc, NOW), 0);
        assert_int_equal(tp_jwks_render(kr, NOW, buf, sizeof(buf), &len), 0);
        CONCAT(expect, "{\"keys\":[", cur, ",", b, ",", a, "]}\n");
        assert_string_equal(buf, expect);
        assert_int_equal(tp_jwks_render(kr, NOW - 1, buf, sizeof(buf), &len), 0);
        CONCAT(expect, "{\"keys\":[", cur, ",", b, ",", a, ",", c, "]}\n");
        assert_string_equal(buf, expect);
        assert_int_equal(tp_jwks_render(kr, NOW + 20, buf, sizeof(buf), &len), 0);
        CONCAT(expect, "{\"keys\":[", cur, "]}\n");
        assert_string_equal(buf, expect);

        /* The buffer's edge: the text and its NUL fit exactly, or nothing. */
        assert_int_equal(tp_jwks_render(kr, NOW, buf, sizeof(buf), &len), 0);
        assert_int_equal(tp_jwks_render(kr, NOW, buf, len + 1, &len), 0);
        assert_int_equal(tp_jwks_render(kr, NOW, buf, len, &len), -EMSGSIZE);
        tp_keyring_free(kr);
        remove_tree(dir);
}

/* The most keys a keyring holds fit TP_JWKS_MAX. */
static void test_jwks_fits_a_full_keyring(void **state)
{
        char dir[PATH_MAX], name[32], jwk[256], buf[TP_JWKS_MAX];
        struct tp_keyring *kr = NULL;
        size_t i, len = 0, n = 0;
        const char *p;

        (void)state;
        make_tmpdir(dir);
        assert_int_equal(tp_keyring_new(&kr), 0);
        tp_keyring_set_current(kr, key_with_jwk(dir, "cur.pem", jwk, sizeof(jwk)));
        for (i = 0; i < TP_KEYRING_RETAINED_MAX; i++) {
                snprintf(name, sizeof(name), "k%zu.pem", i);
                assert_int_equal(tp_keyring_retain(kr, key_with_jwk(dir, name, jwk, sizeof(jwk)),
                                                   NOW + 1 + (int64_t)i), 0);
        }
        assert_int_equal(tp_jwks_render(kr, NOW, buf, sizeof(buf), &len), 0);
        for (p = buf; (p = strstr(p, "\"kid\":\"")); p++)
                n++;
        assert_int_equal(n, TP_KEYRING_RETAINED_MAX + 1);
        tp_keyring_free(kr);
        remove_tree(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_jwks_render),
                cmocka_unit_test(test_jwks_fits_a_full_keyring),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
