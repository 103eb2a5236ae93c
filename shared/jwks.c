/* SPDX-License-Identifier: BSD-3-Clause */
/* jwks.c: the JWKS text of a keyring (jwks.h).
 *
 * Must never: list a retained key whose time is not after now; put the
 * current key anywhere but first; write past the buffer it is given.
 */
#include <errno.h>
#include <stdbool.h>

#include "jose.h"
#include "jwks.h"
#include "keyring.h"

/* x and kid are base64url (checked when the key was read): no escaping. */
static void jwks_put_key(struct tp_json_out *j, const struct tp_pubkey *k)
{
        tp_json_puts(j, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"");
        tp_json_puts(j, tp_pubkey_x(k));
        tp_json_puts(j, "\",\"kid\":\"");
        tp_json_puts(j, tp_pubkey_kid(k));
        tp_json_puts(j, "\",\"alg\":\"EdDSA\",\"use\":\"sig\"}");
}

int tp_jwks_render(const struct tp_keyring *kr, int64_t now, char *buf, size_t size, size_t *ret_len)
{
        const struct tp_pubkey *k;
        struct tp_json_out j;
        int64_t until;

        if (!kr || !buf || !ret_len || !tp_keyring_current(kr))
                return -EINVAL;
        tp_json_out_init(&j, buf, size);
        tp_json_puts(&j, "{\"keys\":[");
        jwks_put_key(&j, tp_keyring_current(kr));
        for (size_t i = 0; (k = tp_keyring_retained(kr, i, &until)); i++) {
                if (until <= now)
                        continue;
                tp_json_puts(&j, ",");
                jwks_put_key(&j, k);
        }
        tp_json_puts(&j, "]}\n");
        if (j.overflow)
                return -EMSGSIZE;
        *ret_len = j.len;
        return 0;
}
