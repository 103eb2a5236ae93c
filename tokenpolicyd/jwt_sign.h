/* SPDX-License-Identifier: BSD-3-Clause */
/* jwt_sign.h: tokenpolicyd's access tokens: compact JWTs signed with the
 * signer's current key (signer.h), in the format shared/jwt.h describes and
 * verifies. Library code: never logs.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "jwt.h"

struct tp_signer;

/* Sign claims as a compact JWT into out. Fills in c->jti and c->kid if
 * empty. -ENOBUFS when out is too small, -EMSGSIZE when the token would
 * not fit TP_TOKEN_MAX, -EINVAL for a string claim that is not UTF-8 or
 * not terminated within its field, or a kid that is not the signer's. */
int tp_jwt_sign(struct tp_signer *s, struct tp_jwt_claims *c, char *out, size_t outsz);

/* The text of an Ed25519 signature in base64url. */
#define TP_JWT_SIGNATURE_TEXT_LEN 86

/* An access token written before its signature, which the signer's thread
 * makes meanwhile (signer.h): its text ends in TP_JWT_SIGNATURE_TEXT_LEN
 * placeholder characters. job is NULL when it was signed at once after
 * all (no thread, no memory). */
#define TP_JWT_UNSIGNED_TAIL 48
struct tp_jwt_unsigned {
        struct tp_sign_job *job;
        /* What finds the token in a reply: the last characters before the
         * placeholder (its jti is among them), copied when it is written. */
        char tail[TP_JWT_UNSIGNED_TAIL];
        size_t tail_len;
};

/* As tp_jwt_sign, but the signature is made on the signer's thread: out
 * holds the token with the placeholder, and *ret says what to finish. The
 * key cannot change before the job is signed. */
int tp_jwt_sign_later(struct tp_signer *s, struct tp_jwt_claims *c, char *out, size_t outsz,
                      struct tp_jwt_unsigned *ret);

/* Where in buf (a reply that carries a copy of the token as written) the
 * placeholder starts, or -1 when the token is not there. */
ssize_t tp_jwt_unsigned_locate(const struct tp_jwt_unsigned *u, const uint8_t *buf, size_t len);

/* Wait for the signature and write its text over the placeholder at `at`
 * (NULL: not wanted after all); the job is freed either way. 0 at once
 * when there is no job. */
int tp_jwt_unsigned_finish(struct tp_signer *s, struct tp_jwt_unsigned *u, uint8_t *at);
