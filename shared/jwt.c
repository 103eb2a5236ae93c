/* SPDX-License-Identifier: BSD-3-Clause */
/* jwt.c: parsing and verifying compact JWTs (jwt.h): split, decode, check
 * the header, choose the key, check the signature, then read the claims and
 * the clock.
 *
 * Must never: believe a claim before the signature holds; let the header
 * choose the algorithm; read a key file before the token has parsed;
 * allocate more than one bounded object per call; log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "jose.h"
#include "jwt.h"
#include "keyring.h"

#define ED25519_SIG_LEN 64
#define IAT_LEEWAY_SEC 60
#define JWT_PART_MAX (TP_TOKEN_MAX / 4 * 3 + 3) /* decoded size of any part */

/* The header decides nothing: it must name EdDSA, which the key type
 * already fixed, and carry no extension we would have to understand. */
static int jwt_check_header(const struct tp_json_object *hdr, struct tp_jwt_claims *c)
{
        const struct tp_json_member *alg = tp_json_get(hdr, "alg");
        const struct tp_json_member *kid = tp_json_get(hdr, "kid");

        if (!alg || alg->kind != TP_JSON_STRING || strcmp(alg->string, "EdDSA") != 0)
                return -EKEYREJECTED;
        if (tp_json_get(hdr, "crit"))
                return -EKEYREJECTED;
        if (kid && tp_json_get_string(hdr, "kid", c->kid, sizeof(c->kid)) < 0)
                return -EBADMSG;
        return 0;
}

static int jwt_parse_claims(const char *payload, size_t len, struct tp_json_object *obj,
                            struct tp_jwt_claims *c)
{
        int64_t uid;
        int r;

        if ((r = tp_json_parse_flat_object(payload, len, obj)) < 0)
                return r;
        if ((r = tp_json_get_string(obj, "iss", c->iss, sizeof(c->iss))) < 0 ||
            (r = tp_json_get_string(obj, "sub", c->sub, sizeof(c->sub))) < 0 ||
            (r = tp_json_get_integer(obj, "uid", &uid)) < 0 ||
            (r = tp_json_get_string(obj, "sid", c->sid, sizeof(c->sid))) < 0 ||
            (r = tp_json_get_string(obj, "client", c->client, sizeof(c->client))) < 0 ||
            (r = tp_json_get_integer(obj, "iat", &c->iat)) < 0 ||
            (r = tp_json_get_integer(obj, "exp", &c->exp)) < 0 ||
            (r = tp_json_get_string(obj, "jti", c->jti, sizeof(c->jti))) < 0)
                return r;
        if (uid < 0 || uid > UINT32_MAX)
                return -EBADMSG;
        c->uid = (uint32_t)uid;
        return 0;
}

int tp_jwt_kid(const char *token, char kid[TP_JWT_KID_MAX])
{
        uint8_t header[TP_TOKEN_MAX];
        struct tp_json_object *obj;
        const char *dot;
        size_t len;
        int r;

        if (!token || !kid)
                return -EINVAL;
        kid[0] = '\0';
        dot = strchr(token, '.');
        if (!dot || tp_b64url_decode(token, (size_t)(dot - token), header, sizeof(header), &len) < 0)
                return -EBADMSG;
        if (!(obj = malloc(sizeof(*obj))))
                return -ENOMEM;
        if ((r = tp_json_parse_flat_object((const char *)header, len, obj)) == 0 && tp_json_get(obj, "kid"))
                r = tp_json_get_string(obj, "kid", kid, TP_JWT_KID_MAX);
        free(obj);
        return r;
}

/* Verify with the key of kr that the kid names when kr is set, else with
 * the public key in the PEM file at path. The key is looked up only after
 * the token has parsed, so a malformed token is -EBADMSG whatever the key. */
static int jwt_verify(const struct tp_keyring *kr, const char *pubkey_pem_path, const char *token,
                      int64_t now, struct tp_jwt_claims *ret)
{
        uint8_t header[JWT_PART_MAX], payload[JWT_PART_MAX], sig[JWT_PART_MAX];
        const char *dot1, *dot2;
        struct tp_jwt_claims c;
        struct tp_json_object *obj = NULL;
        struct tp_pubkey *loaded = NULL;
        const struct tp_pubkey *key;
        size_t len, hlen, plen, siglen;
        int r;

        memset(&c, 0, sizeof(c));
        len = strnlen(token, TP_TOKEN_MAX);
        if (len == TP_TOKEN_MAX)
                return -EBADMSG;
        if (!(dot1 = memchr(token, '.', len)) ||
            !(dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))) ||
            memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
                return -EBADMSG;
        if (!(obj = malloc(sizeof(*obj))))
                return -ENOMEM;

        /* Every part must decode before anything is believed. */
        if ((r = tp_b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), sig, sizeof(sig), &siglen)) < 0 ||
            (r = tp_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload, sizeof(payload), &plen)) < 0 ||
            (r = tp_b64url_decode(token, (size_t)(dot1 - token), header, sizeof(header), &hlen)) < 0 ||
            (r = tp_json_parse_flat_object((const char *)header, hlen, obj)) < 0 ||
            (r = jwt_check_header(obj, &c)) < 0)
                goto out;
        if (siglen != ED25519_SIG_LEN) {
                r = -EKEYREJECTED;
                goto out;
        }

        if (kr) {
                if (!(key = tp_keyring_find(kr, c.kid, now))) {
                        r = -ENOKEY;
                        goto out;
                }
        } else {
                if ((r = tp_pubkey_load(AT_FDCWD, pubkey_pem_path, false, &loaded)) < 0)
                        goto out;
                key = loaded;
        }
        if ((r = tp_pubkey_verify(key, (const uint8_t *)token, (size_t)(dot2 - token), sig, siglen)) < 0)
                goto out;

        /* Authentic from here on: read the claims, then the clock. */
        if ((r = jwt_parse_claims((const char *)payload, plen, obj, &c)) < 0)
                goto out;
        if (now >= c.exp || (now <= INT64_MAX - IAT_LEEWAY_SEC && c.iat > now + IAT_LEEWAY_SEC)) {
                r = -ETIME;
                goto out;
        }
        *ret = c;
        r = 0;
out:
        tp_pubkey_free(loaded);
        free(obj);
        return r;
}

int tp_jwt_verify(const struct tp_keyring *kr, const char *token, int64_t now, struct tp_jwt_claims *ret)
{
        if (!kr || !token || !ret)
                return -EINVAL;
        return jwt_verify(kr, NULL, token, now, ret);
}

int tp_jwt_verify_pem(const char *pubkey_pem_path, const char *token, int64_t now,
                      struct tp_jwt_claims *ret)
{
        if (!pubkey_pem_path || !token || !ret)
                return -EINVAL;
        return jwt_verify(NULL, pubkey_pem_path, token, now, ret);
}
