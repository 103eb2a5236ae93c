/* SPDX-License-Identifier: BSD-3-Clause */
/* signertest.c: the signer fixture of test_signer and test_jwt_sign
 * (signertest.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "jwt_sign.h"
#include "signer.h"
#include "signertest.h"
#include "tokentest.h"

void sign_base(struct fixture *f, char *tok, struct tp_jwt_claims *c)
{
        claims_base(c);
        assert_int_equal(tp_jwt_sign(f->signer, c, tok, TP_TOKEN_MAX), 0);
}

int fixture_setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        make_tmpdir(f->dir);
        path_in(f->pub, f->dir, TP_TOKEN_PUB_FILE);
        assert_int_equal(tp_signer_open(f->dir, &f->signer), 0);
        *state = f;
        return 0;
}

int fixture_teardown(void **state)
{
        struct fixture *f = *state;

        tp_signer_free(f->signer);
        remove_tree(f->dir);
        free(f);
        return 0;
}
