/* SPDX-License-Identifier: BSD-3-Clause */
/* signertest.h: the fixture of the tests that need tokenpolicyd's signer
 * (test_signer, test_jwt_sign): a fresh state directory with a signing key
 * made by tp_signer_open, removed with all it holds afterwards.
 */
#pragma once

#include <limits.h>

#include "jwt.h"

struct tp_signer;

struct fixture {
        char dir[PATH_MAX];
        char pub[PATH_MAX];     /* dir/signing-key.pub.pem */
        struct tp_signer *signer;
};

int fixture_setup(void **state);
int fixture_teardown(void **state);

/* A token for claims_base() signed by the fixture's signer (c holds the
 * claims, jti and kid included). */
void sign_base(struct fixture *f, char *tok, struct tp_jwt_claims *c);
