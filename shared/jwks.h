/* SPDX-License-Identifier: BSD-3-Clause */
/* jwks.h: the JWKS (RFC 7517) of a keyring: the document tokenpolicyd
 * publishes as jwks.json for any verifier that reads one.
 *
 * It only renders text from keys in memory: it never reads or writes a
 * file (the signer writes it), never decides which keys are trusted (the
 * keyring does), never allocates, never logs.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct tp_keyring;

#define TP_TOKEN_JWKS_FILE "jwks.json"
#define TP_JWKS_MAX 8192                /* ~160 bytes a key, TP_KEYRING_RETAINED_MAX + 1 keys */

/* {"keys":[...]} and a newline into buf[0..size), NUL-terminated: the
 * current key first, then each retained key whose time is after now, in
 * the keyring's order; each as {"kty":"OKP","crv":"Ed25519","x":...,
 * "kid":...,"alg":"EdDSA","use":"sig"}. *ret_len is the length.
 * -EMSGSIZE when it does not fit, -EINVAL without a current key. */
int tp_jwks_render(const struct tp_keyring *kr, int64_t now, char *buf, size_t size, size_t *ret_len);
