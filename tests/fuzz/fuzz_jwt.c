/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz_jwt.c: libFuzzer harness for the access-token code: the JWT
 * verifier (shared/jwt.c, with the public keyring of shared/keyring.c),
 * the signer (tokenpolicyd/jwt_sign.c, tokenpolicyd/signer.c) and the
 * encodings under them (shared/jose.c).
 *
 * The first input byte picks what the rest is fed to:
 *   0  a compact JWT, verified against the public key PEM file and against
 *      the signer in memory;
 *   1  a flat JSON object: what parses must write back out and parse again
 *      to the same members;
 *   2  base64url text: what decodes must encode back to the same text, and
 *      the raw bytes must survive an encode and decode;
 *   3  claims: signed with the fixed key, the token must verify and yield
 *      the claims that were signed (the verifier reads claims only after
 *      the signature holds, so this is the way to reach its claim parser).
 * The key is made once per process in a private temporary directory,
 * removed at exit.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jose.h"
#include "jwt.h"
#include "jwt_sign.h"
#include "signer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The clock every token is checked against; seed tokens are issued at it. */
#define FUZZ_NOW INT64_C(1700000000)

static char key_dir[PATH_MAX];
static char pub_path[PATH_MAX];
static struct tp_signer *signer;

static void remove_key_dir(void)
{
        static const char *const files[] = {
                TP_TOKEN_KEY_FILE, TP_TOKEN_PUB_FILE, TP_TOKEN_JWKS_FILE,
        };
        char path[PATH_MAX + 64];

        tp_signer_free(signer);
        signer = NULL;
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", key_dir, files[i]);
                unlink(path);
        }
        snprintf(path, sizeof(path), "%s/%s", key_dir, TP_TOKEN_KEYS_DIR);
        rmdir(path);
        rmdir(key_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *tmp = getenv("TMPDIR");
        int r;

        (void) argc;
        (void) argv;
        snprintf(key_dir, sizeof(key_dir), "%s/fuzz-jwt-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(key_dir)) {
                perror("fuzz_jwt: mkdtemp");
                abort();
        }
        if ((r = tp_signer_open(key_dir, &signer)) < 0) {
                fprintf(stderr, "fuzz_jwt: tp_signer_open %s: %s\n", key_dir, strerror(-r));
                abort();
        }
        snprintf(pub_path, sizeof(pub_path), "%s/%s", key_dir, TP_TOKEN_PUB_FILE);
        atexit(remove_key_dir);
        return 0;
}

static bool field_ok(const char *s, size_t size)
{
        return memchr(s, '\0', size) != NULL;
}

static void check_claims_sane(const struct tp_jwt_claims *c)
{
        if (!field_ok(c->iss, sizeof(c->iss)) || !field_ok(c->sub, sizeof(c->sub)) ||
            !field_ok(c->sid, sizeof(c->sid)) || !field_ok(c->client, sizeof(c->client)) ||
            !field_ok(c->jti, sizeof(c->jti)) || !field_ok(c->kid, sizeof(c->kid)))
                abort();
        if (FUZZ_NOW >= c->exp || c->iat > FUZZ_NOW + 60)
                abort();
}

static void fuzz_token(const uint8_t *data, size_t size)
{
        struct tp_jwt_claims c;
        char *token;
        int r;

        token = malloc(size + 1);
        if (!token)
                return;
        memcpy(token, data, size);
        token[size] = '\0';

        r = tp_jwt_verify_pem(pub_path, token, FUZZ_NOW, &c);
        if (r == 0)
                check_claims_sane(&c);
        else if (r != -EBADMSG && r != -EKEYREJECTED && r != -ETIME)
                abort();
        r = tp_signer_verify(signer, token, FUZZ_NOW, &c);
        if (r == 0)
                check_claims_sane(&c);
        else if (r != -EBADMSG && r != -EKEYREJECTED && r != -ETIME && r != -ENOKEY)
                abort();
        free(token);
}

static struct tp_json_object obj_a, obj_b;
static char json_buf[TP_JSON_MEMBERS_MAX * (TP_JSON_KEY_MAX + TP_JSON_STRING_MAX) * 8 + 64];

static void fuzz_json(const uint8_t *data, size_t size)
{
        struct tp_json_out out;

        if (tp_json_parse_flat_object((const char *) data, size, &obj_a) != 0)
                return;
        if (obj_a.n > TP_JSON_MEMBERS_MAX)
                abort();

        tp_json_out_init(&out, json_buf, sizeof(json_buf));
        tp_json_puts(&out, "{");
        for (size_t i = 0; i < obj_a.n; i++) {
                const struct tp_json_member *m = &obj_a.members[i];

                if (!field_ok(m->key, sizeof(m->key)) || tp_json_get(&obj_a, m->key) != m)
                        abort(); /* keys are terminated and unique */
                if (i > 0)
                        tp_json_puts(&out, ",");
                if (tp_json_put_string(&out, m->key) != 0)
                        abort(); /* a parsed key is always UTF-8 */
                tp_json_puts(&out, ":");
                if (m->kind == TP_JSON_STRING) {
                        if (!field_ok(m->string, sizeof(m->string)) ||
                            tp_json_put_string(&out, m->string) != 0)
                                abort();
                } else if (m->kind == TP_JSON_INTEGER) {
                        tp_json_put_int(&out, m->integer);
                } else {
                        abort();
                }
        }
        tp_json_puts(&out, "}");
        if (out.overflow)
                abort();

        if (tp_json_parse_flat_object(out.buf, out.len, &obj_b) != 0 || obj_b.n != obj_a.n)
                abort();
        for (size_t i = 0; i < obj_a.n; i++) {
                const struct tp_json_member *a = &obj_a.members[i], *b = &obj_b.members[i];

                if (strcmp(a->key, b->key) != 0 || a->kind != b->kind)
                        abort();
                if (a->kind == TP_JSON_STRING ? strcmp(a->string, b->string) != 0
                                              : a->integer != b->integer)
                        abort();
        }
}

static uint8_t b64_bytes[TP_TOKEN_MAX * 2];
static char b64_text[TP_TOKEN_MAX * 3];

static void fuzz_b64url(const uint8_t *data, size_t size)
{
        size_t n, tlen;

        /* As text: canonical, so decoding and encoding gives it back. */
        if (tp_b64url_decode((const char *) data, size, b64_bytes, sizeof(b64_bytes), &n) == 0) {
                if (tp_b64url_encode(b64_bytes, n, b64_text, sizeof(b64_text), &tlen) != 0)
                        abort();
                if (tlen != size || memcmp(b64_text, data, size) != 0)
                        abort();
        }

        /* As bytes: encode, then decode back. */
        if (size <= TP_TOKEN_MAX) {
                if (tp_b64url_encode(data, size, b64_text, sizeof(b64_text), &tlen) != 0)
                        abort();
                if (tlen != strlen(b64_text))
                        abort();
                if (tp_b64url_decode(b64_text, tlen, b64_bytes, sizeof(b64_bytes), &n) != 0)
                        abort();
                if (n != size || memcmp(b64_bytes, data, size) != 0)
                        abort();
        }
}

/* Copy the next NUL-separated chunk of the input into a claim field,
 * cut to fit. */
static void take_string(const uint8_t **p, const uint8_t *end, char *out, size_t outsz)
{
        const uint8_t *nul = memchr(*p, '\0', (size_t) (end - *p));
        size_t n = (size_t) ((nul ? nul : end) - *p);

        if (n > outsz - 1)
                n = outsz - 1;
        memcpy(out, *p, n);
        out[n] = '\0';
        *p = nul ? nul + 1 : end;
}

static bool claims_equal(const struct tp_jwt_claims *a, const struct tp_jwt_claims *b)
{
        return strcmp(a->iss, b->iss) == 0 && strcmp(a->sub, b->sub) == 0 && a->uid == b->uid &&
               strcmp(a->sid, b->sid) == 0 && strcmp(a->client, b->client) == 0 &&
               a->iat == b->iat && a->exp == b->exp && strcmp(a->jti, b->jti) == 0 &&
               strcmp(a->kid, b->kid) == 0;
}

static void fuzz_sign_verify(const uint8_t *data, size_t size)
{
        static char token[TP_TOKEN_MAX];
        const uint8_t *p = data, *end = data + size;
        struct tp_jwt_claims c, v;
        uint32_t lifetime;
        int r;

        if (size < 8)
                return;
        memset(&c, 0, sizeof(c));
        memcpy(&c.uid, p, 4);
        memcpy(&lifetime, p + 4, 4);
        p += 8;
        c.iat = FUZZ_NOW - (int64_t) (lifetime & 0xff);
        c.exp = FUZZ_NOW + 1 + (int64_t) (lifetime >> 8);
        take_string(&p, end, c.sub, sizeof(c.sub));
        take_string(&p, end, c.client, sizeof(c.client));
        take_string(&p, end, c.sid, sizeof(c.sid));
        take_string(&p, end, c.jti, sizeof(c.jti));
        take_string(&p, end, c.iss, sizeof(c.iss));

        r = tp_jwt_sign(signer, &c, token, sizeof(token));
        if (r == -EINVAL || r == -EMSGSIZE)
                return; /* not UTF-8, or too long for a token */
        if (r != 0)
                abort();
        if (tp_jwt_verify_pem(pub_path, token, FUZZ_NOW, &v) != 0)
                abort();
        if (!claims_equal(&c, &v))
                abort();
        if (tp_signer_verify(signer, token, FUZZ_NOW, &v) != 0 || !claims_equal(&c, &v))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        switch (data[0] & 3) {
        case 0:
                fuzz_token(data + 1, size - 1);
                break;
        case 1:
                fuzz_json(data + 1, size - 1);
                break;
        case 2:
                fuzz_b64url(data + 1, size - 1);
                break;
        case 3:
                fuzz_sign_verify(data + 1, size - 1);
                break;
        }
        return 0;
}
