/* SPDX-License-Identifier: BSD-3-Clause */
/* jwt_sign.c: writing an access token (jwt_sign.h): the header and claims
 * as JSON, base64url, and the signature the signer makes over them.
 *
 * Must never: put a string in a token that is not UTF-8 or not terminated
 * within its field; name a kid other than the key that signs; write a
 * token longer than the wire and the verifier accept (TP_TOKEN_MAX);
 * write into out unless the whole token fits; touch a key itself (the
 * signer signs); log.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/types.h>
#include <stdint.h>
#include <string.h>

#include "jose.h"
#include "jwt_sign.h"
#include "secrets.h"
#include "signer.h"

#define PAYLOAD_JSON_MAX (2 * TP_TOKEN_MAX)

static bool field_terminated(const char *s, size_t size)
{
        return memchr(s, '\0', size) != NULL;
}

/* The signing input, header.payload, into tok (TP_TOKEN_MAX), with jti
 * the token's id (c->jti, or a new one). */
static int signing_input(struct tp_signer *s, const struct tp_jwt_claims *c, char *tok, size_t *ret_len,
                         char jti[TP_SESSION_ID_MAX])
{
        char header[128], payload[PAYLOAD_JSON_MAX];
        struct tp_json_out h, p;
        const char *kid;
        size_t len, n;
        int r;

        if (!s || !c || !tok)
                return -EINVAL;
        if (!field_terminated(c->iss, sizeof(c->iss)) || !field_terminated(c->sub, sizeof(c->sub)) ||
            !field_terminated(c->sid, sizeof(c->sid)) || !field_terminated(c->client, sizeof(c->client)) ||
            !field_terminated(c->jti, sizeof(c->jti)) || !field_terminated(c->kid, sizeof(c->kid)))
                return -EINVAL;
        kid = tp_signer_kid(s);
        if (c->kid[0] && strcmp(c->kid, kid) != 0)
                return -EINVAL;
        if (c->jti[0])
                memcpy(jti, c->jti, strlen(c->jti) + 1);
        else if ((r = tp_session_id_new(jti)) < 0)
                return r;

        tp_json_out_init(&h, header, sizeof(header));
        tp_json_out_init(&p, payload, sizeof(payload));
        tp_json_puts(&h, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":");
        if ((r = tp_json_put_string(&h, kid)) < 0)
                return r;
        tp_json_puts(&h, "}");

        tp_json_puts(&p, "{\"iss\":");
        if ((r = tp_json_put_string(&p, c->iss)) < 0)
                return r;
        tp_json_puts(&p, ",\"sub\":");
        if ((r = tp_json_put_string(&p, c->sub)) < 0)
                return r;
        tp_json_puts(&p, ",\"uid\":");
        tp_json_put_int(&p, c->uid);
        tp_json_puts(&p, ",\"sid\":");
        if ((r = tp_json_put_string(&p, c->sid)) < 0)
                return r;
        tp_json_puts(&p, ",\"client\":");
        if ((r = tp_json_put_string(&p, c->client)) < 0)
                return r;
        tp_json_puts(&p, ",\"iat\":");
        tp_json_put_int(&p, c->iat);
        tp_json_puts(&p, ",\"exp\":");
        tp_json_put_int(&p, c->exp);
        tp_json_puts(&p, ",\"jti\":");
        if ((r = tp_json_put_string(&p, jti)) < 0)
                return r;
        tp_json_puts(&p, "}");
        if (h.overflow || p.overflow)
                return -EMSGSIZE;

        /* Assemble in tok, bounded by what the wire and the verifier accept. */
        if (tp_b64url_encode((const uint8_t *)header, h.len, tok, TP_TOKEN_MAX, &len) < 0 ||
            len + 1 >= TP_TOKEN_MAX)
                return -EMSGSIZE;
        tok[len++] = '.';
        if (tp_b64url_encode((const uint8_t *)payload, p.len, tok + len, TP_TOKEN_MAX - len, &n) < 0)
                return -EMSGSIZE;
        len += n;
        *ret_len = len;
        return 0;
}

/* Append '.' and the signature's text (sig, or the placeholder when NULL)
 * to tok[0..len), and copy the whole token out; fill in what the claims
 * left to the signer. */
static int finish_token(struct tp_signer *s, struct tp_jwt_claims *c, char *tok, size_t len,
                        const uint8_t *sig, const char *jti, char *out, size_t outsz)
{
        size_t n;

        if (len + 1 + TP_JWT_SIGNATURE_TEXT_LEN >= TP_TOKEN_MAX)
                return -EMSGSIZE;
        tok[len++] = '.';
        if (sig) {
                if (tp_b64url_encode(sig, TP_SIGNATURE_LEN, tok + len, TP_TOKEN_MAX - len, &n) < 0 ||
                    n != TP_JWT_SIGNATURE_TEXT_LEN)
                        return -EMSGSIZE;
        } else {
                memset(tok + len, 'A', TP_JWT_SIGNATURE_TEXT_LEN);
                n = TP_JWT_SIGNATURE_TEXT_LEN;
        }
        len += n;
        tok[len] = '\0';
        if (len >= outsz)
                return -ENOBUFS;
        memcpy(out, tok, len + 1);
        memcpy(c->jti, jti, strlen(jti) + 1);
        if (!c->kid[0])
                memcpy(c->kid, tp_signer_kid(s), TP_KID_LEN + 1);
        return 0;
}

int tp_jwt_sign(struct tp_signer *s, struct tp_jwt_claims *c, char *out, size_t outsz)
{
        char tok[TP_TOKEN_MAX], jti[TP_SESSION_ID_MAX];
        uint8_t sig[TP_SIGNATURE_LEN];
        size_t len;
        int r;

        if (!out)
                return -EINVAL;
        if ((r = signing_input(s, c, tok, &len, jti)) < 0 ||
            (r = tp_signer_sign(s, (const uint8_t *)tok, len, sig)) < 0)
                return r;
        return finish_token(s, c, tok, len, sig, jti, out, outsz);
}

int tp_jwt_sign_later(struct tp_signer *s, struct tp_jwt_claims *c, char *out, size_t outsz,
                      struct tp_jwt_unsigned *ret)
{
        char tok[TP_TOKEN_MAX], jti[TP_SESSION_ID_MAX];
        struct tp_sign_job *job;
        size_t len;
        int r;

        if (!out || !ret)
                return -EINVAL;
        if ((r = signing_input(s, c, tok, &len, jti)) < 0)
                return r;
        job = tp_signer_sign_later(s, (const uint8_t *)tok, len);
        if (!job) {
                uint8_t sig[TP_SIGNATURE_LEN];

                if ((r = tp_signer_sign(s, (const uint8_t *)tok, len, sig)) < 0)
                        return r;
                ret->job = NULL;
                return finish_token(s, c, tok, len, sig, jti, out, outsz);
        }
        if ((r = finish_token(s, c, tok, len, NULL, jti, out, outsz)) < 0) {
                (void)tp_sign_job_finish(s, job, NULL);
                return r;
        }
        ret->job = job;
        ret->tail_len = len < sizeof(ret->tail) ? len : sizeof(ret->tail);
        memcpy(ret->tail, tok + len - ret->tail_len, ret->tail_len);
        return 0;
}

ssize_t tp_jwt_unsigned_locate(const struct tp_jwt_unsigned *u, const uint8_t *buf, size_t len)
{
        char needle[TP_JWT_UNSIGNED_TAIL + 1 + TP_JWT_SIGNATURE_TEXT_LEN];
        const uint8_t *at;

        if (!u->job)
                return -1;
        memcpy(needle, u->tail, u->tail_len);
        needle[u->tail_len] = '.';
        memset(needle + u->tail_len + 1, 'A', TP_JWT_SIGNATURE_TEXT_LEN);
        at = memmem(buf, len, needle, u->tail_len + 1 + TP_JWT_SIGNATURE_TEXT_LEN);
        return at ? (at - buf) + (ssize_t)u->tail_len + 1 : -1;
}

int tp_jwt_unsigned_finish(struct tp_signer *s, struct tp_jwt_unsigned *u, uint8_t *at)
{
        uint8_t sig[TP_SIGNATURE_LEN];
        char text[TP_JWT_SIGNATURE_TEXT_LEN + 4];
        size_t n;
        int r;

        if (!u->job)
                return 0;
        r = tp_sign_job_finish(s, u->job, at ? sig : NULL);
        u->job = NULL;
        if (r < 0 || !at)
                return r;
        if (tp_b64url_encode(sig, sizeof(sig), text, sizeof(text), &n) < 0 || n != TP_JWT_SIGNATURE_TEXT_LEN)
                return -EIO;
        memcpy(at, text, n);
        return 0;
}
