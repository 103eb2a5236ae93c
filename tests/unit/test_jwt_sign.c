/* SPDX-License-Identifier: BSD-3-Clause */
/* test_jwt_sign.c: unit tests for writing access tokens
 * (tokenpolicyd/jwt_sign.c).
 *
 * The header and claims a signed token carries, its signature equal byte
 * for byte to the one OpenSSL makes with the key file (after a rotation
 * too), the fields it fills in and the ones it refuses, the output buffer
 * and TP_TOKEN_MAX edges, and escaped strings; each token is read back by
 * the shared verifier (shared/jwt.c). Must never print outside cmocka,
 * and removes every directory it creates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "jose.h"
#include "jwt_sign.h"
#include "signer.h"
#include "signertest.h"
#include "tokentest.h"

/* ---- signing ------------------------------------------------------------------------ */

static void test_sign_verify_round_trip(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], part[BIG], expect[256];

        sign_base(f, tok, &c);
        assert_true(is_lower_hex(c.jti, 32));
        assert_string_equal(c.kid, tp_signer_kid(f->signer));
        token_part(tok, 0, part, true);
        CONCAT(expect, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"", c.kid, "\"}");
        assert_string_equal(part, expect);
        token_part(tok, 2, part, false);
        assert_int_equal(strlen(part), 86);

        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), 0);
        assert_claims_equal(&got, &c);
}

/* The daemon signs with libsodium; Ed25519 is deterministic, so the
 * signature must be the one OpenSSL makes with the key file's key, byte
 * for byte, after a rotation as well. */
static void assert_signature_is_openssl_s(struct fixture *f, const char *tok)
{
        char path[PATH_MAX + 32], sig_b64[128];
        const char *dot2 = strrchr(tok, '.');
        uint8_t sig[64];
        size_t siglen = sizeof(sig), n;
        EVP_MD_CTX *md;
        EVP_PKEY *key;
        FILE *fp;

        assert_non_null(dot2);
        snprintf(path, sizeof(path), "%s/%s", f->dir, TP_TOKEN_KEY_FILE);
        fp = fopen(path, "r");
        assert_non_null(fp);
        key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
        fclose(fp);
        assert_non_null(key);
        md = EVP_MD_CTX_new();
        assert_non_null(md);
        assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, key), 1);
        assert_int_equal(EVP_DigestSign(md, sig, &siglen, (const uint8_t *)tok, (size_t)(dot2 - tok)), 1);
        assert_int_equal(siglen, 64);
        assert_int_equal(tp_b64url_encode(sig, siglen, sig_b64, sizeof(sig_b64), &n), 0);
        assert_string_equal(dot2 + 1, sig_b64);
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(key);
}

static void test_signature_equals_openssl_s(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c;
        char tok[TP_TOKEN_MAX], old_kid[TP_KID_LEN + 1];

        sign_base(f, tok, &c);
        assert_signature_is_openssl_s(f, tok);
        assert_int_equal(tp_signer_rotate(f->signer, NOW, NOW + 3600, old_kid), 0);
        sign_base(f, tok, &c);
        assert_string_equal(c.kid, tp_signer_kid(f->signer));
        assert_signature_is_openssl_s(f, tok);
}

static void test_sign_fills_only_empty_fields(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got, bad;
        char tok[TP_TOKEN_MAX], other[TP_TOKEN_MAX];

        claims_base(&c);
        strcpy(c.jti, JTI);
        assert_int_equal(tp_jwt_sign(f->signer, &c, tok, sizeof(tok)), 0);
        assert_string_equal(c.jti, JTI);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), 0);
        assert_string_equal(got.jti, JTI);

        /* Two tokens for the same claims get distinct jti values. */
        claims_base(&c);
        assert_int_equal(tp_jwt_sign(f->signer, &c, tok, sizeof(tok)), 0);
        strcpy(other, c.jti);
        claims_base(&c);
        assert_int_equal(tp_jwt_sign(f->signer, &c, tok, sizeof(tok)), 0);
        assert_string_not_equal(other, c.jti);

        /* A kid naming another key, text that is not UTF-8, an unterminated
         * field: refused, and the claims are left as they were. */
        claims_base(&bad);
        strcpy(bad.kid, "someone-elses-key");
        assert_int_equal(tp_jwt_sign(f->signer, &bad, tok, sizeof(tok)), -EINVAL);
        assert_string_equal(bad.jti, "");
        claims_base(&bad);
        strcpy(bad.sub, "bad\xff\xfe");
        assert_int_equal(tp_jwt_sign(f->signer, &bad, tok, sizeof(tok)), -EINVAL);
        claims_base(&bad);
        strcpy(bad.sub, "\xed\xa0\x80"); /* an encoded surrogate */
        assert_int_equal(tp_jwt_sign(f->signer, &bad, tok, sizeof(tok)), -EINVAL);
        claims_base(&bad);
        memset(bad.client, 'c', sizeof(bad.client));
        assert_int_equal(tp_jwt_sign(f->signer, &bad, tok, sizeof(tok)), -EINVAL);
        assert_string_equal(bad.kid, "");
}

static void test_sign_output_buffer_edge(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c;
        char tok[TP_TOKEN_MAX], small[TP_TOKEN_MAX];
        size_t len;

        claims_base(&c);
        strcpy(c.jti, JTI);
        assert_int_equal(tp_jwt_sign(f->signer, &c, tok, sizeof(tok)), 0);
        len = strlen(tok);
        memset(small, '#', sizeof(small));
        assert_int_equal(tp_jwt_sign(f->signer, &c, small, len), -ENOBUFS);
        assert_int_equal(small[0], '#');
        assert_int_equal(tp_jwt_sign(f->signer, &c, small, len + 1), 0);
        assert_string_equal(small, tok); /* Ed25519 is deterministic */
}

/* Claims whose token is exactly `target` characters long: the payload is
 * padded with control characters (6 bytes each once escaped) and plain
 * ones. Returns false when no payload size gives that length. */
static bool claims_for_length(struct fixture *f, size_t target, struct tp_jwt_claims *c)
{
        char tok[TP_TOKEN_MAX], part[BIG];
        size_t hlen, plen, slen, want_b64, want_bytes, extra, ctl, in_iss, i;

        claims_base(c);
        c->iss[0] = '\0';
        c->sub[0] = '\0';
        strcpy(c->jti, JTI);
        assert_int_equal(tp_jwt_sign(f->signer, c, tok, sizeof(tok)), 0);
        hlen = token_part(tok, 0, part, false);
        plen = token_part(tok, 1, part, true);
        slen = token_part(tok, 2, part, false);
        want_b64 = target - hlen - slen - 2;
        if (want_b64 % 4 == 1)
                return false;
        want_bytes = want_b64 / 4 * 3 + (want_b64 % 4 ? want_b64 % 4 - 1 : 0);
        extra = want_bytes - plen;
        ctl = extra / 6;
        in_iss = ctl < sizeof(c->iss) - 1 ? ctl : sizeof(c->iss) - 1;
        assert_true(ctl - in_iss + extra % 6 < sizeof(c->sub));
        for (i = 0; i < in_iss; i++)
                c->iss[i] = (char)(1 + i % 31);
        c->iss[in_iss] = '\0';
        memset(c->sub, '\n', ctl - in_iss);
        memset(c->sub + ctl - in_iss, 'u', extra % 6);
        c->sub[ctl - in_iss + extra % 6] = '\0';
        return true;
}

static void test_token_size_limit(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        static char tok[BIG], longer[BIG];
        size_t target;

        /* The longest token the wire can carry is TP_TOKEN_MAX - 1; with this
         * header that length is not reachable, so the longest is one less. */
        target = TP_TOKEN_MAX - 1;
        if (!claims_for_length(f, target, &c))
                assert_true(claims_for_length(f, --target, &c));
        assert_int_equal(tp_jwt_sign(f->signer, &c, tok, sizeof(tok)), 0);
        assert_int_equal(strlen(tok), target);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), 0);
        assert_claims_equal(&got, &c);

        /* One byte more in the payload: too long to sign. */
        strcat(c.sub, "u");
        assert_int_equal(tp_jwt_sign(f->signer, &c, longer, sizeof(longer)), -EMSGSIZE);

        /* The verifier reads TP_TOKEN_MAX - 1 characters (here failing later,
         * on the signature's length) and refuses TP_TOKEN_MAX outright. */
        CONCAT(longer, tok, target == TP_TOKEN_MAX - 2 ? "A" : "");
        assert_int_equal(strlen(longer), TP_TOKEN_MAX - 1);
        assert_int_equal(tp_jwt_verify_pem(f->pub, longer, NOW, &got), -EKEYREJECTED);
        strcat(longer, "A");
        assert_int_equal(tp_jwt_verify_pem(f->pub, longer, NOW, &got), -EBADMSG);
        memset(longer, 'A', sizeof(longer));
        assert_int_equal(tp_jwt_verify_pem(f->pub, longer, NOW, &got), -EBADMSG);
}

static void test_escaped_strings_round_trip(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], payload[BIG];

        claims_base(&c);
        strcpy(c.sub, "a\"b\\c\"d");
        strcpy(c.iss, "line1\nline2\ttab\x1f\x7f/");
        strcpy(c.client, "caf\xc3\xa9 \xf0\x9f\x98\x80");
        assert_int_equal(tp_jwt_sign(f->signer, &c, tok, sizeof(tok)), 0);
        token_part(tok, 1, payload, true);
        assert_non_null(strstr(payload, "\"sub\":\"a\\\"b\\\\c\\\"d\""));
        assert_non_null(strstr(payload, "line1\\u000aline2\\u0009tab\\u001f\x7f/"));
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), 0);
        assert_claims_equal(&got, &c);
}

/* ---- signing on the signer's thread ------------------------------------------------- */

/* Written later, finished in place inside a reply that carries it, the
 * token is the one tp_jwt_sign writes for the same claims, byte for byte. */
static void test_sign_later_is_sign_now(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, later;
        struct tp_jwt_unsigned u;
        char now[TP_TOKEN_MAX], tok[TP_TOKEN_MAX], reply[TP_TOKEN_MAX + 64];
        size_t n;
        ssize_t at;

        claims_base(&c);
        snprintf(c.jti, sizeof(c.jti), "0123456789abcdef0123456789abcdef");
        later = c;
        assert_int_equal(tp_jwt_sign(f->signer, &c, now, sizeof(now)), 0);
        assert_int_equal(tp_jwt_sign_later(f->signer, &later, tok, sizeof(tok), &u), 0);
        assert_non_null(u.job);
        assert_int_equal(strlen(tok), strlen(now));
        n = strlen(tok);
        for (size_t i = n - TP_JWT_SIGNATURE_TEXT_LEN; i < n; i++)
                assert_int_equal(tok[i], 'A');
        assert_memory_equal(tok, now, n - TP_JWT_SIGNATURE_TEXT_LEN);
        assert_string_equal(later.kid, c.kid);

        /* The reply: other fields around a copy of the token. */
        memset(reply, 'A', sizeof(reply));
        memcpy(reply + 40, tok, n);
        at = tp_jwt_unsigned_locate(&u, (const uint8_t *)reply, 40 + n + 24);
        assert_int_equal(at, 40 + (ssize_t)(n - TP_JWT_SIGNATURE_TEXT_LEN));
        assert_int_equal(tp_jwt_unsigned_locate(&u, (const uint8_t *)reply, 40 + n - 1), -1); /* cut short */
        assert_int_equal(tp_jwt_unsigned_finish(f->signer, &u, (uint8_t *)reply + at), 0);
        assert_null(u.job);
        assert_memory_equal(reply + 40, now, n);
        assert_int_equal(reply[40 + n], 'A'); /* nothing written past it */

        /* Where the token was written now holds a signed one with the same
         * claims: a reply with that one is not where the job's goes. */
        assert_int_equal(tp_jwt_sign_later(f->signer, &later, tok, sizeof(tok), &u), 0);
        memcpy(tok, now, n + 1);
        memcpy(reply + 40, now, n);
        assert_int_equal(tp_jwt_unsigned_locate(&u, (const uint8_t *)reply, 40 + n + 24), -1);
        assert_int_equal(tp_jwt_unsigned_finish(f->signer, &u, NULL), 0);

        /* Not wanted after all: freed without a write. */
        assert_int_equal(tp_jwt_sign_later(f->signer, &later, tok, sizeof(tok), &u), 0);
        assert_int_equal(tp_jwt_unsigned_finish(f->signer, &u, NULL), 0);
        assert_null(u.job);
        assert_int_equal(tp_jwt_unsigned_finish(f->signer, &u, NULL), 0); /* no job: nothing */
}

/* The key does not change under a job: tokens started before a rotation
 * are signed with the key their kid names, however many wait. */
static void test_jobs_started_before_a_rotation_keep_their_key(void **state)
{
        enum { JOBS = 2000 };
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        struct tp_jwt_unsigned *u = calloc(JOBS, sizeof(*u));
        char (*tok)[1024] = calloc(JOBS, sizeof(*tok));
        char old_pub[PATH_MAX + 16], old_kid[TP_KID_LEN + 1], cmd[2 * PATH_MAX + 64];

        assert_non_null(u);
        assert_non_null(tok);
        snprintf(old_pub, sizeof(old_pub), "%s/old.pub.pem", f->dir);
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", f->pub, old_pub);
        assert_int_equal(system(cmd), 0);
        for (int i = 0; i < JOBS; i++) {
                claims_base(&c);
                assert_int_equal(tp_jwt_sign_later(f->signer, &c, tok[i], sizeof(tok[i]), &u[i]), 0);
                assert_non_null(u[i].job);
        }
        assert_int_equal(tp_signer_rotate(f->signer, NOW, NOW + 3600, old_kid), 0);
        for (int i = 0; i < JOBS; i++) {
                size_t n = strlen(tok[i]);

                assert_int_equal(tp_jwt_unsigned_finish(f->signer, &u[i],
                                                        (uint8_t *)tok[i] + n - TP_JWT_SIGNATURE_TEXT_LEN), 0);
                assert_int_equal(tp_jwt_verify_pem(old_pub, tok[i], NOW, &got), 0);
                assert_string_equal(got.kid, old_kid);
        }
        free(u);
        free(tok);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_sign_verify_round_trip, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_signature_equals_openssl_s, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_sign_fills_only_empty_fields, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_sign_output_buffer_edge, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_token_size_limit, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_escaped_strings_round_trip, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_sign_later_is_sign_now, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_jobs_started_before_a_rotation_keep_their_key, fixture_setup,
                                                fixture_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
