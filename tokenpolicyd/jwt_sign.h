/* SPDX-License-Identifier: BSD-3-Clause */
/* jwt_sign.h: tokenpolicyd's access tokens: compact JWTs signed with the
 * signer's current key (signer.h), in the format shared/jwt.h describes and
 * verifies. Library code: never logs.
 */
#pragma once

#include <stddef.h>

#include "jwt.h"

struct tp_signer;

/* Sign claims as a compact JWT into out. Fills in c->jti and c->kid if
 * empty. -ENOBUFS when out is too small, -EMSGSIZE when the token would
 * not fit TP_TOKEN_MAX, -EINVAL for a string claim that is not UTF-8 or
 * not terminated within its field, or a kid that is not the signer's. */
int tp_jwt_sign(struct tp_signer *s, struct tp_jwt_claims *c, char *out, size_t outsz);
