/* SPDX-License-Identifier: BSD-3-Clause */
/* jwt.h: reading and verifying tokenpolicyd's access tokens, compact JWTs
 * signed with Ed25519 ("alg":"EdDSA").
 *
 * What a token is: base64url(header) "." base64url(claims) "."
 * base64url(64-byte signature of the first two parts), under TP_TOKEN_MAX
 * characters in all. The header says {"alg":"EdDSA","typ":"JWT","kid":KID};
 * the claims are iss, sub, uid, sid, client, iat, exp and jti (struct
 * tp_jwt_claims). tokenpolicyd signs them (tokenpolicyd/jwt_sign.c); this
 * file is the verifying half, shared by tokenpolicyd and tokenpolicyctl.
 *
 * Must never: take the signature algorithm from a token; believe a claim
 * before the signature holds; choose a key by anything but the keyring's
 * kid rule (keyring.h); parse without a bound (everything is sized by
 * TP_TOKEN_MAX, nothing recurses); log. Includes no OpenSSL header.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct tp_keyring;

#define TP_JWT_KID_MAX 64               /* a header's kid, NUL included */

struct tp_jwt_claims {
        char iss[256];
        char sub[TP_USER_MAX];
        uint32_t uid;
        char sid[TP_SESSION_ID_MAX];
        char client[TP_CLIENT_MAX];
        int64_t iat;
        int64_t exp;
        char jti[TP_SESSION_ID_MAX];
        char kid[TP_JWT_KID_MAX];
};

/* The kid a token's header names, into kid ("" when it names none), to
 * choose a key with; nothing else is checked. -EBADMSG when the token has
 * no header that decodes to a JSON object, or its kid is not a string
 * shorter than TP_JWT_KID_MAX (the verifier then says what is wrong),
 * -ENOMEM. */
int tp_jwt_kid(const char *token, char kid[TP_JWT_KID_MAX]);

/* Verify a token with the key of kr its "kid" names (tp_keyring_find: a
 * token without a kid is checked with the current key). The header must
 * say "alg":"EdDSA" and carry no "crit", the signature must verify, then
 * iat <= now + 60 and now < exp. -EBADMSG for a malformed token,
 * -EKEYREJECTED for a bad signature or algorithm, -ETIME for an expired
 * or future token, -ENOKEY when the kid names no key of kr whose time is
 * after now. Only compares the kid with the keys in memory. ret->kid is
 * the header's kid ("" when absent). */
int tp_jwt_verify(const struct tp_keyring *kr, const char *token, int64_t now, struct tp_jwt_claims *ret);

/* The same checks with the public key in the PEM file at path, whatever
 * kid the token names; the file is read only after the token has parsed,
 * so a malformed token is -EBADMSG whatever the file. -errno from open()
 * or -EINVAL when the file is missing, unreadable or not an Ed25519
 * public key. */
int tp_jwt_verify_pem(const char *pubkey_pem_path, const char *token, int64_t now,
                      struct tp_jwt_claims *ret);
