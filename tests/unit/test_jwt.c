/* SPDX-License-Identifier: BSD-3-Clause */
/* test_jwt.c: unit tests for the shared JWT verifier (shared/jwt.c), the
 * code tokenpolicyd and tokenpolicyctl both check tokens with.
 *
 * Every kind of forgery and malformation, each limit on both sides, the
 * clock, the claims parser (reached only through valid signatures), the
 * kid a header names (tp_jwt_kid, which tokenpolicyctl chooses a key by),
 * and the choice of key by kid in a keyring. Tokens are signed here with a
 * key made for the test, through OpenSSL directly: no code of the
 * project's signer is linked. Must never print outside cmocka, and
 * removes every directory it creates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "jwt.h"
#include "keyring.h"
#include "tokentest.h"

#define PRIVATE_FILE "signing-key.pem"

struct fixture {
        char dir[PATH_MAX];
        char pub[PATH_MAX];
        char kid[TP_KID_LEN + 1];
        EVP_PKEY *key;
};

static int fixture_setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char private[PATH_MAX];

        assert_non_null(f);
        make_tmpdir(f->dir);
        path_in(f->pub, f->dir, TP_TOKEN_PUB_FILE);
        path_in(private, f->dir, PRIVATE_FILE);
        f->key = key_new(f->pub, private);
        assert_int_equal(tp_pubkey_pem_kid(f->pub, f->kid), 0);
        *state = f;
        return 0;
}

static int fixture_teardown(void **state)
{
        struct fixture *f = *state;

        EVP_PKEY_free(f->key);
        remove_tree(f->dir);
        free(f);
        return 0;
}

/* A token as tokenpolicyd writes it (the header names kid; the claims in
 * its order), signed with key; fills in c->jti (when empty) and c->kid.
 * The strings of c must need no JSON escape. */
static void sign_claims(EVP_PKEY *key, const char *kid, struct tp_jwt_claims *c, char tok[TP_TOKEN_MAX])
{
        char header[256], payload[BIG], out[BIG];
        int n;

        if (!c->jti[0])
                strcpy(c->jti, JTI);
        strcpy(c->kid, kid);
        snprintf(header, sizeof(header), "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
        n = snprintf(payload, sizeof(payload),
                     "{\"iss\":\"%s\",\"sub\":\"%s\",\"uid\":%u,\"sid\":\"%s\",\"client\":\"%s\","
                     "\"iat\":%lld,\"exp\":%lld,\"jti\":\"%s\"}",
                     c->iss, c->sub, c->uid, c->sid, c->client, (long long)c->iat, (long long)c->exp, c->jti);
        assert_true(n > 0 && (size_t)n < sizeof(payload));
        sign_raw_key(key, header, payload, (size_t)n, out);
        assert_true(strlen(out) < TP_TOKEN_MAX);
        strcpy(tok, out);
}

static void sign_base(struct fixture *f, char *tok, struct tp_jwt_claims *c)
{
        claims_base(c);
        sign_claims(f->key, f->kid, c, tok);
}

/* Arbitrary header and payload JSON, signed with the fixture's key. */
static void sign_raw(const struct fixture *f, const char *header, const char *payload, size_t plen,
                     char *out)
{
        sign_raw_key(f->key, header, payload, plen, out);
}

static int verify_raw_n(const struct fixture *f, const char *header, const char *payload, size_t plen,
                        struct tp_jwt_claims *ret)
{
        static char tok[BIG];
        struct tp_jwt_claims c;

        sign_raw(f, header, payload, plen, tok);
        return tp_jwt_verify_pem(f->pub, tok, RAW_NOW, ret ? ret : &c);
}

static int verify_raw(const struct fixture *f, const char *header, const char *payload,
                      struct tp_jwt_claims *ret)
{
        return verify_raw_n(f, header, payload, strlen(payload), ret);
}

/* ---- verification: forgeries ------------------------------------------------------ */

static void test_verify_rejects_tampered_signature(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX];
        char *sig;

        sign_base(f, tok, &c);
        sig = strrchr(tok, '.') + 1;
        sig[10] = sig[10] == 'A' ? 'B' : 'A';
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), -EKEYREJECTED);
}

static void test_verify_rejects_tampered_payload(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], h[BIG], p[BIG], s[BIG], forged[BIG], enc[BIG];
        char *at;

        sign_base(f, tok, &c);
        token_part(tok, 0, h, false);
        token_part(tok, 1, p, true);
        token_part(tok, 2, s, false);
        assert_non_null(at = strstr(p, "\"sub\":\"alice\""));
        memcpy(at, "\"sub\":\"root0\"", 13);
        b64url(p, strlen(p), enc);
        token_join(forged, h, enc, s);
        assert_int_equal(tp_jwt_verify_pem(f->pub, forged, NOW, &got), -EKEYREJECTED);
}

static void test_verify_algorithm_is_fixed(void **state)
{
        static const char *headers[] = {
                "{\"alg\":\"none\",\"typ\":\"JWT\"}",
                "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                "{\"alg\":\"eddsa\",\"typ\":\"JWT\"}",
                "{\"alg\":\"EdDSA \",\"typ\":\"JWT\"}",
                "{\"typ\":\"JWT\"}",
                "{\"alg\":1}",
                "{\"alg\":\"EdDSA\",\"crit\":\"exp\"}",
        };
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], p[BIG], s[BIG], h[BIG], forged[BIG], pem[4096];
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen;
        size_t i;

        sign_base(f, tok, &c);
        token_part(tok, 1, p, false);
        token_part(tok, 2, s, false);
        for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
                b64url(headers[i], strlen(headers[i]), h);
                token_join(forged, h, p, s);
                assert_int_equal(tp_jwt_verify_pem(f->pub, forged, NOW, &got), -EKEYREJECTED);
                token_join(forged, h, p, "");
                assert_int_equal(tp_jwt_verify_pem(f->pub, forged, NOW, &got), -EKEYREJECTED);
        }
        /* The classic confusion: HMAC keyed with the public key's PEM. */
        b64url(headers[1], strlen(headers[1]), h);
        read_text(f->pub, pem, sizeof(pem));
        CONCAT(forged, h, ".", p);
        assert_non_null(HMAC(EVP_sha256(), pem, (int)strlen(pem), (unsigned char *)forged,
                             strlen(forged), mac, &maclen));
        b64url(mac, maclen, s);
        token_join(forged, h, p, s);
        assert_int_equal(tp_jwt_verify_pem(f->pub, forged, NOW, &got), -EKEYREJECTED);

        /* A correctly signed header that says something else is refused too. */
        assert_int_equal(verify_raw(f, headers[0], PAYLOAD_OK, NULL), -EKEYREJECTED);
        assert_int_equal(verify_raw(f, headers[6], PAYLOAD_OK, NULL), -EKEYREJECTED);
        assert_int_equal(verify_raw(f, HEADER_OK, PAYLOAD_OK, NULL), 0);
}

static void test_verify_rejects_other_key(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char dir[PATH_MAX], pub[PATH_MAX], tok[TP_TOKEN_MAX], kid[TP_KID_LEN + 1];
        EVP_PKEY *other;

        make_tmpdir(dir);
        path_in(pub, dir, TP_TOKEN_PUB_FILE);
        other = key_new(pub, NULL);
        assert_int_equal(tp_pubkey_pem_kid(pub, kid), 0);
        assert_string_not_equal(kid, f->kid);
        claims_base(&c);
        sign_claims(other, kid, &c, tok);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), -EKEYREJECTED);
        assert_int_equal(tp_jwt_verify_pem(pub, tok, NOW, &got), 0);
        EVP_PKEY_free(other);
        remove_tree(dir);
}

static void test_verify_key_file_errors(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], path[PATH_MAX];
        EVP_PKEY *pkey;
        FILE *fp;

        sign_base(f, tok, &c);
        path_in(path, f->dir, "missing.pem");
        assert_int_equal(tp_jwt_verify_pem(path, tok, NOW, &got), -ENOENT);
        assert_int_equal(tp_jwt_verify_pem(f->dir, tok, NOW, &got), -EINVAL);
        path_in(path, f->dir, PRIVATE_FILE);
        assert_int_equal(tp_jwt_verify_pem(path, tok, NOW, &got), -EINVAL);
        path_in(path, f->dir, "ec.pem");
        assert_non_null(pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
        assert_non_null(fp = fopen(path, "we"));
        assert_int_equal(PEM_write_PUBKEY(fp, pkey), 1);
        fclose(fp);
        EVP_PKEY_free(pkey);
        assert_int_equal(tp_jwt_verify_pem(path, tok, NOW, &got), -EINVAL);
}

/* ---- verification: time --------------------------------------------------------------- */

static void test_verify_expiry_edge(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX];

        sign_base(f, tok, &c);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, c.exp - 1, &got), 0);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, c.exp, &got), -ETIME);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, c.exp + 1, &got), -ETIME);
}

static void test_verify_iat_leeway_edge(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX];

        sign_base(f, tok, &c);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, c.iat - 60, &got), 0);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, c.iat - 61, &got), -ETIME);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, INT64_MIN, &got), -ETIME);
}

/* ---- verification: structure ----------------------------------------------------------- */

static void test_verify_rejects_wrong_part_count(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], h[BIG], p[BIG], s[BIG], bad[BIG];

        sign_base(f, tok, &c);
        token_part(tok, 0, h, false);
        token_part(tok, 1, p, false);
        token_part(tok, 2, s, false);
        CONCAT(bad, h, ".", p);
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EBADMSG);
        CONCAT(bad, h, ".", p, ".", s, ".", s);
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EBADMSG);
        CONCAT(bad, h, ".", p, ".", s, ".");
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EBADMSG);
        assert_int_equal(tp_jwt_verify_pem(f->pub, "", NOW, &got), -EBADMSG);
        assert_int_equal(tp_jwt_verify_pem(f->pub, "..", NOW, &got), -EBADMSG);
        assert_int_equal(tp_jwt_verify_pem(f->pub, "...", NOW, &got), -EBADMSG);
        CONCAT(bad, ".", p, ".", s);
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EBADMSG);
        CONCAT(bad, h, "..", s);
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EKEYREJECTED);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), 0);
}

static void test_verify_rejects_bad_base64(void **state)
{
        static const char *inserts[] = { "=", "==", "+", "/", " ", "*", "\xc3\xa9", "%3D" };
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], parts[3][BIG], bad[BIG], *last;
        size_t i;
        int part;

        sign_base(f, tok, &c);
        for (part = 0; part < 3; part++)
                token_part(tok, part, parts[part], false);
        for (i = 0; i < sizeof(inserts) / sizeof(inserts[0]); i++) {
                for (part = 0; part < 3; part++) {
                        char mod[BIG];

                        CONCAT(mod, parts[part], inserts[i]);
                        token_join(bad, part == 0 ? mod : parts[0], part == 1 ? mod : parts[1],
                                   part == 2 ? mod : parts[2]);
                        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EBADMSG);
                }
        }
        /* A length no base64 text has (4n + 1). */
        CONCAT(bad, parts[0], ".", parts[1], ".", parts[2], "AAA");
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EBADMSG);
        /* Non-canonical: the 86th character carries 4 unused bits. */
        CONCAT(bad, tok);
        last = bad + strlen(bad) - 1;
        *last = *last == 'B' ? 'C' : 'B';
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EBADMSG);
}

static void test_verify_signature_length(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        unsigned char sig[80];
        char tok[TP_TOKEN_MAX], h[BIG], p[BIG], s[BIG], enc[BIG], bad[BIG];

        sign_base(f, tok, &c);
        token_part(tok, 0, h, false);
        token_part(tok, 1, p, false);
        token_part(tok, 2, s, false);
        assert_int_equal(unb64url(s, strlen(s), sig), 64);
        b64url(sig, 63, enc);
        token_join(bad, h, p, enc);
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EKEYREJECTED);
        sig[64] = 0;
        b64url(sig, 65, enc);
        token_join(bad, h, p, enc);
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EKEYREJECTED);
        b64url(sig, 64, enc);
        token_join(bad, h, p, enc);
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), 0);
}

/* ---- claims parser (reached through valid signatures) ----------------------------------- */

static void test_claims_order_whitespace_and_unknown(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims got;

        assert_int_equal(verify_raw(f, HEADER_OK,
                " \r\n{ \"jti\" : \"" JTI "\" ,\t\"exp\":2000,\"iat\":1000,\"client\":\"ssh\","
                "\"sid\":\"" SID "\",\"uid\":0,\"sub\":\"bob\",\"iss\":\"h\",\"extra\":\"x\",\"n\":-5}\n ",
                &got), 0);
        assert_string_equal(got.sub, "bob");
        assert_int_equal(got.uid, 0);
        assert_int_equal(got.iat, 1000);
        assert_int_equal(got.exp, 2000);
        assert_string_equal(got.jti, JTI);
        assert_string_equal(got.kid, "");
        assert_int_equal(verify_raw(f, "{\"kid\":\"k1\",\"alg\":\"EdDSA\",\"x5u\":\"u\"}",
                                    PAYLOAD_OK, &got), 0);
        assert_string_equal(got.kid, "k1");
}

static void test_claims_reject_duplicates(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(verify_raw(f, HEADER_OK,
                "{\"iss\":\"host\",\"sub\":\"alice\",\"uid\":1000,\"sid\":\"" SID "\","
                "\"client\":\"ssh\",\"iat\":1000,\"exp\":2000,\"jti\":\"" JTI "\",\"sub\":\"root\"}",
                NULL), -EBADMSG);
        assert_int_equal(verify_raw(f, HEADER_OK,
                "{\"iss\":\"host\",\"sub\":\"alice\",\"uid\":1000,\"sid\":\"" SID "\","
                "\"client\":\"ssh\",\"iat\":1000,\"exp\":2000,\"jti\":\"" JTI "\",\"\\u0073ub\":\"r\"}",
                NULL), -EBADMSG);
        assert_int_equal(verify_raw(f, HEADER_OK,
                "{\"iss\":\"host\",\"sub\":\"alice\",\"uid\":1000,\"sid\":\"" SID "\","
                "\"client\":\"ssh\",\"iat\":1000,\"exp\":2000,\"jti\":\"" JTI "\",\"exp\":9999}",
                NULL), -EBADMSG);
        assert_int_equal(verify_raw(f, "{\"alg\":\"EdDSA\",\"alg\":\"EdDSA\"}", PAYLOAD_OK, NULL),
                         -EBADMSG);
}

/* PAYLOAD_OK with the member `name` given the raw JSON value `value`. */
static void payload_with(char *out, size_t size, const char *name, const char *value)
{
        static const char *names[] = { "iss", "sub", "uid", "sid", "client", "iat", "exp", "jti" };
        static const char *values[] = { "\"host\"", "\"alice\"", "1000", "\"" SID "\"", "\"ssh\"",
                                        "1000", "2000", "\"" JTI "\"" };
        size_t i, len = 0;

        len += (size_t)snprintf(out + len, size - len, "{");
        for (i = 0; i < 8; i++) {
                const char *v = strcmp(names[i], name) == 0 ? value : values[i];

                if (!v)
                        continue;
                len += (size_t)snprintf(out + len, size - len, "%s\"%s\":%s", len > 1 ? "," : "",
                                        names[i], v);
        }
        snprintf(out + len, size - len, "}");
}

static int verify_member(struct fixture *f, const char *name, const char *value,
                         struct tp_jwt_claims *ret)
{
        char payload[BIG];

        payload_with(payload, sizeof(payload), name, value);
        return verify_raw(f, HEADER_OK, payload, ret);
}

static void test_claims_reject_non_scalar_values(void **state)
{
        static const char *values[] = { "{}", "{\"a\":1}", "[]", "[1]", "true", "false", "null", "" };
        struct fixture *f = *state;
        size_t i;

        for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
                assert_int_equal(verify_member(f, "sub", values[i], NULL), -EBADMSG);
                assert_int_equal(verify_member(f, "uid", values[i], NULL), -EBADMSG);
        }
}

static void test_claims_integers(void **state)
{
        static const char *bad[] = { "1.5", "1000.0", "1e3", "1E3", "\"1000\"", "01000", "+1000",
                                     "-", "0x10", "9223372036854775808", "-9223372036854775809" };
        struct fixture *f = *state;
        struct tp_jwt_claims got;
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(verify_member(f, "iat", bad[i], NULL), -EBADMSG);
                assert_int_equal(verify_member(f, "exp", bad[i], NULL), -EBADMSG);
                assert_int_equal(verify_member(f, "uid", bad[i], NULL), -EBADMSG);
        }
        assert_int_equal(verify_member(f, "exp", "9223372036854775807", &got), 0);
        assert_int_equal(got.exp, INT64_MAX);
        assert_int_equal(verify_member(f, "iat", "-9223372036854775808", &got), 0);
        assert_int_equal(got.iat, INT64_MIN);
        assert_int_equal(verify_member(f, "iat", "0", &got), 0);
        assert_int_equal(verify_member(f, "iat", "-0", &got), 0);

        /* uid is a uint32_t: both sides of both ends. */
        assert_int_equal(verify_member(f, "uid", "4294967295", &got), 0);
        assert_int_equal(got.uid, UINT32_MAX);
        assert_int_equal(verify_member(f, "uid", "4294967296", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "uid", "0", &got), 0);
        assert_int_equal(got.uid, 0);
        assert_int_equal(verify_member(f, "uid", "-1", NULL), -EBADMSG);
}

static void check_string_limit(struct fixture *f, const char *name, size_t field_size)
{
        char value[BIG];
        struct tp_jwt_claims got;

        value[0] = '"';
        memset(value + 1, 'x', field_size - 1);
        snprintf(value + field_size, sizeof(value) - field_size, "\"");
        assert_int_equal(verify_member(f, name, value, &got), 0);
        value[field_size] = 'x';
        snprintf(value + field_size + 1, sizeof(value) - field_size - 1, "\"");
        assert_int_equal(verify_member(f, name, value, NULL), -EBADMSG);
}

static void test_claims_string_limits(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c;
        char header[256];

        check_string_limit(f, "iss", sizeof(c.iss));
        check_string_limit(f, "sub", sizeof(c.sub));
        check_string_limit(f, "sid", sizeof(c.sid));
        check_string_limit(f, "client", sizeof(c.client));
        check_string_limit(f, "jti", sizeof(c.jti));

        /* An escape that expands past the field counts its decoded bytes. */
        memset(header, 0, sizeof(header));
        snprintf(header, sizeof(header), "\"%.*s\\u00e9\"", (int)sizeof(c.client) - 3,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        assert_int_equal(verify_member(f, "client", header, NULL), 0);
        snprintf(header, sizeof(header), "\"%.*s\\u00e9\"", (int)sizeof(c.client) - 2,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        assert_int_equal(verify_member(f, "client", header, NULL), -EBADMSG);

        /* kid in the header: 63 characters fit its field, 64 do not. */
        snprintf(header, sizeof(header), "{\"alg\":\"EdDSA\",\"kid\":\"%.*s\"}", 63,
                 "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
        assert_int_equal(verify_raw(f, header, PAYLOAD_OK, &c), 0);
        assert_int_equal(strlen(c.kid), 63);
        snprintf(header, sizeof(header), "{\"alg\":\"EdDSA\",\"kid\":\"%.*s\"}", 64,
                 "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
        assert_int_equal(verify_raw(f, header, PAYLOAD_OK, NULL), -EBADMSG);
}

static void test_claims_member_count_limit(void **state)
{
        struct fixture *f = *state;
        char payload[BIG];
        int i, n;

        /* 8 claims plus 8 unknown members: 16 pass, 17 do not. */
        for (n = 8; n <= 9; n++) {
                size_t len = sizeof(PAYLOAD_OK) - 2;

                CONCAT(payload, PAYLOAD_OK);

                for (i = 0; i < n; i++)
                        len += (size_t)snprintf(payload + len, sizeof(payload) - len, ",\"x%d\":%d", i, i);
                snprintf(payload + len, sizeof(payload) - len, "}");
                assert_int_equal(verify_raw(f, HEADER_OK, payload, NULL), n == 8 ? 0 : -EBADMSG);
        }
}

static void test_claims_reject_trailing_garbage(void **state)
{
        static const char *bad[] = {
                PAYLOAD_OK "x", PAYLOAD_OK "{}", PAYLOAD_OK ",",
                "[" PAYLOAD_OK "]", "\"str\"", "", "{", "}", "{}",
        };
        struct fixture *f = *state;
        char payload[BIG];
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(verify_raw(f, HEADER_OK, bad[i], NULL), -EBADMSG);
        /* A trailing comma inside the object. */
        snprintf(payload, sizeof(payload), "%.*s,}", (int)strlen(PAYLOAD_OK) - 1, PAYLOAD_OK);
        assert_int_equal(verify_raw(f, HEADER_OK, payload, NULL), -EBADMSG);
        /* NUL bytes: after the object, inside a string. */
        assert_int_equal(verify_raw_n(f, HEADER_OK, PAYLOAD_OK, sizeof(PAYLOAD_OK), NULL), -EBADMSG);
        assert_int_equal(verify_raw_n(f, HEADER_OK, PAYLOAD_OK, sizeof(PAYLOAD_OK) - 1, NULL), 0);
        memcpy(payload, PAYLOAD_OK, sizeof(PAYLOAD_OK));
        payload[10] = '\0'; /* inside "host" */
        assert_int_equal(verify_raw_n(f, HEADER_OK, payload, sizeof(PAYLOAD_OK) - 1, NULL), -EBADMSG);
        /* A missing comma, a missing colon. */
        assert_int_equal(verify_member(f, "sub", "\"a\" \"b\"", NULL), -EBADMSG);
        assert_int_equal(verify_raw(f, HEADER_OK, "{\"iss\" \"host\"}", NULL), -EBADMSG);
}

static void test_claims_string_escapes(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims got;

        assert_int_equal(verify_member(f, "sub", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", &got), 0);
        assert_string_equal(got.sub, "a\"b\\c/d\b\f\n\r\t");
        assert_int_equal(verify_member(f, "sub", "\"\\u0041\\u00e9\\u20AC\\uffff\"", &got), 0);
        assert_string_equal(got.sub, "A\xc3\xa9\xe2\x82\xac\xef\xbf\xbf");
        assert_int_equal(verify_member(f, "sub", "\"\xf0\x9f\x98\x80\"", &got), 0);
        assert_string_equal(got.sub, "\xf0\x9f\x98\x80");

        assert_int_equal(verify_member(f, "sub", "\"a\\u0000b\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"\\ud800\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"\\ud83d\\ude00\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"\\udfff\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"\\u12\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"\\u12g4\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"\\x41\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"\\'\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"tab\there\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"nl\nhere\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"bad\xff\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"over\xc0\xaflong\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"surrogate\xed\xa0\x80\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"cut\xe2\x82\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"unterminated", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"ends in backslash\\", NULL), -EBADMSG);
}

static void test_claims_all_required(void **state)
{
        static const char *names[] = { "iss", "sub", "uid", "sid", "client", "iat", "exp", "jti" };
        struct fixture *f = *state;
        size_t i;

        for (i = 0; i < 8; i++)
                assert_int_equal(verify_member(f, names[i], NULL, NULL), -EBADMSG);
        /* Right name, wrong type. */
        assert_int_equal(verify_member(f, "sub", "1000", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "exp", "\"2000\"", NULL), -EBADMSG);
}

/* ---- the kid a header names, and the key a keyring chooses by it -------------- */

/* The kid tokenpolicyctl chooses a key by: "" for none, the header's
 * string otherwise, -EBADMSG for a header that does not decode or parse or
 * whose kid is not a string that fits; nothing else is checked (the
 * verifier does). */
static void test_jwt_kid(void **state)
{
        static const char *bad_headers[] = {
                "{\"alg\":\"EdDSA\",\"kid\":5}",
                "{\"alg\":\"EdDSA\",\"kid\":\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"}",
                "{\"alg\":\"EdDSA\",\"kid\":\"a\",\"kid\":\"b\"}",
                "[\"kid\"]",
                "",
        };
        struct fixture *f = *state;
        struct tp_jwt_claims c;
        char tok[TP_TOKEN_MAX], h[BIG], forged[BIG], raw[256], kid[TP_JWT_KID_MAX];
        size_t i;

        sign_base(f, tok, &c);
        assert_int_equal(tp_jwt_kid(tok, kid), 0);
        assert_string_equal(kid, f->kid);
        sign_raw(f, HEADER_OK, PAYLOAD_OK, strlen(PAYLOAD_OK), forged);
        strcpy(kid, "x");
        assert_int_equal(tp_jwt_kid(forged, kid), 0);
        assert_string_equal(kid, "");
        /* 63 characters fit, as in the verifier; the algorithm is not
         * looked at. */
        CONCAT(raw, "{\"alg\":\"none\",\"kid\":\"",
               "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", "\"}");
        b64url(raw, strlen(raw), h);
        CONCAT(forged, h, ".e30.");
        assert_int_equal(tp_jwt_kid(forged, kid), 0);
        assert_int_equal(strlen(kid), 63);
        /* Only the header is read: the rest may be anything. */
        CONCAT(raw, "{\"kid\":\"../x\"}");
        b64url(raw, strlen(raw), h);
        CONCAT(forged, h, ".");
        assert_int_equal(tp_jwt_kid(forged, kid), 0);
        assert_string_equal(kid, "../x");

        for (i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
                b64url(bad_headers[i], strlen(bad_headers[i]), h);
                CONCAT(forged, h, ".e30.AA");
                strcpy(kid, "x");
                assert_int_equal(tp_jwt_kid(forged, kid), -EBADMSG);
                assert_string_equal(kid, "");
        }
        assert_int_equal(tp_jwt_kid("no-dot", kid), -EBADMSG);
        assert_int_equal(tp_jwt_kid("e30=.x.y", kid), -EBADMSG);
        assert_int_equal(tp_jwt_kid("", kid), -EBADMSG);
        assert_int_equal(tp_jwt_kid(NULL, kid), -EINVAL);
}

/* tp_jwt_verify takes the key by kid from a keyring: the current key for
 * its kid or none, a retained key until its time and not a second longer,
 * nothing for a kid it does not hold or once the key is dropped. */
static void test_verify_with_keyring(void **state)
{
        struct fixture *f = *state;
        struct tp_keyring *kr = NULL;
        struct tp_pubkey *cur = NULL, *old = NULL;
        struct tp_jwt_claims c, got;
        char dir[PATH_MAX], pub[PATH_MAX], tok[TP_TOKEN_MAX], old_tok[TP_TOKEN_MAX], raw[BIG];
        char old_kid[TP_KID_LEN + 1];
        EVP_PKEY *other;

        make_tmpdir(dir);
        path_in(pub, dir, TP_TOKEN_PUB_FILE);
        other = key_new(pub, NULL);
        assert_int_equal(tp_pubkey_pem_kid(pub, old_kid), 0);
        assert_int_equal(tp_keyring_new(&kr), 0);
        sign_base(f, tok, &c);

        /* No key at all: nothing verifies, a malformed token is still
         * malformed. */
        assert_int_equal(tp_jwt_verify(kr, tok, NOW, &got), -ENOKEY);
        assert_int_equal(tp_jwt_verify(kr, "a.b", NOW, &got), -EBADMSG);

        assert_int_equal(tp_pubkey_load(AT_FDCWD, f->pub, false, &cur), 0);
        tp_keyring_set_current(kr, cur);
        assert_int_equal(tp_jwt_verify(kr, tok, NOW, &got), 0);
        assert_claims_equal(&got, &c);
        sign_raw(f, HEADER_OK, PAYLOAD_OK, strlen(PAYLOAD_OK), raw);
        assert_int_equal(tp_jwt_verify(kr, raw, RAW_NOW, &got), 0);
        assert_string_equal(got.kid, "");

        claims_base(&c);
        sign_claims(other, old_kid, &c, old_tok);
        assert_int_equal(tp_jwt_verify(kr, old_tok, NOW, &got), -ENOKEY);
        assert_int_equal(tp_pubkey_load(AT_FDCWD, pub, false, &old), 0);
        assert_int_equal(tp_keyring_retain(kr, old, NOW + 10), 0);
        assert_int_equal(tp_jwt_verify(kr, old_tok, NOW + 9, &got), 0);
        assert_string_equal(got.kid, old_kid);
        assert_int_equal(tp_jwt_verify(kr, old_tok, NOW + 10, &got), -ENOKEY);
        /* The current key never verifies what the retained one signed,
         * whatever the header says: a token without a kid, signed by the
         * retained key, is checked with the current key. */
        sign_raw_key(other, HEADER_OK, PAYLOAD_OK, strlen(PAYLOAD_OK), raw);
        assert_int_equal(tp_jwt_verify(kr, raw, RAW_NOW, &got), -EKEYREJECTED);
        assert_true(tp_keyring_drop(kr, old_kid));
        assert_int_equal(tp_jwt_verify(kr, old_tok, NOW, &got), -ENOKEY);
        assert_int_equal(tp_jwt_verify(kr, tok, NOW, &got), 0);

        assert_int_equal(tp_jwt_verify(NULL, tok, NOW, &got), -EINVAL);
        assert_int_equal(tp_jwt_verify(kr, NULL, NOW, &got), -EINVAL);
        assert_int_equal(tp_jwt_verify(kr, tok, NOW, NULL), -EINVAL);
        tp_keyring_free(kr);
        EVP_PKEY_free(other);
        remove_tree(dir);
}

/* A kid is compared with the keys in memory and never becomes a path: a
 * token naming "../x" is unknown, even when a file of that name beside the
 * key holds the key that signed it. */
static void test_verify_keyring_kid_never_a_path(void **state)
{
        static const char *kids[] = { "../attacker", "..", "/", "a/b", "../" TP_TOKEN_KEYS_DIR "/x",
                                      "../../../../../tmp/attacker", "" };
        struct fixture *f = *state;
        struct tp_keyring *kr = NULL;
        struct tp_pubkey *cur = NULL;
        char header[256], tok[BIG], path[PATH_MAX];
        struct tp_jwt_claims got;
        EVP_PKEY *attacker;
        size_t i;

        path_in(path, f->dir, "attacker" TP_TOKEN_RETAINED_PUB_SUFFIX);
        attacker = key_new(path, NULL);
        assert_int_equal(tp_keyring_new(&kr), 0);
        assert_int_equal(tp_pubkey_load(AT_FDCWD, f->pub, false, &cur), 0);
        tp_keyring_set_current(kr, cur);
        for (i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
                CONCAT(header, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"", kids[i], "\"}");
                sign_raw_key(attacker, header, PAYLOAD_OK, strlen(PAYLOAD_OK), tok);
                /* "" means no kid: the current key, which did not sign it. */
                assert_int_equal(tp_jwt_verify(kr, tok, RAW_NOW, &got), kids[i][0] ? -ENOKEY : -EKEYREJECTED);
        }
        tp_keyring_free(kr);
        EVP_PKEY_free(attacker);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_verify_rejects_tampered_signature, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_rejects_tampered_payload, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_algorithm_is_fixed, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_rejects_other_key, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_key_file_errors, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_expiry_edge, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_iat_leeway_edge, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_rejects_wrong_part_count, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_rejects_bad_base64, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_signature_length, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_order_whitespace_and_unknown, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_reject_duplicates, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_reject_non_scalar_values, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_integers, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_string_limits, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_member_count_limit, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_reject_trailing_garbage, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_string_escapes, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_all_required, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_jwt_kid, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_with_keyring, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_keyring_kid_never_a_path, fixture_setup, fixture_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
