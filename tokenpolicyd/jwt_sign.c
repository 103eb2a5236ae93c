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

int tp_jwt_sign(struct tp_signer *s, struct tp_jwt_claims *c, char *out, size_t outsz)
{
        char header[128], payload[PAYLOAD_JSON_MAX], tok[TP_TOKEN_MAX], jti[TP_SESSION_ID_MAX];
        struct tp_json_out h, p;
        uint8_t sig[TP_SIGNATURE_LEN];
        const char *kid;
        size_t len, n;
        int r;

        if (!s || !c || !out)
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
        if (tp_b64url_encode((const uint8_t *)header, h.len, tok, sizeof(tok), &len) < 0 ||
            len + 1 >= sizeof(tok))
                return -EMSGSIZE;
        tok[len++] = '.';
        if (tp_b64url_encode((const uint8_t *)payload, p.len, tok + len, sizeof(tok) - len, &n) < 0)
                return -EMSGSIZE;
        len += n;
        if ((r = tp_signer_sign(s, (const uint8_t *)tok, len, sig)) < 0)
                return r;
        if (len + 1 >= sizeof(tok))
                return -EMSGSIZE;
        tok[len++] = '.';
        if (tp_b64url_encode(sig, sizeof(sig), tok + len, sizeof(tok) - len, &n) < 0)
                return -EMSGSIZE;
        len += n;
        if (len >= outsz)
                return -ENOBUFS;
        memcpy(out, tok, len + 1);
        memcpy(c->jti, jti, strlen(jti) + 1);
        if (!c->kid[0])
                memcpy(c->kid, kid, TP_KID_LEN + 1);
        return 0;
}
