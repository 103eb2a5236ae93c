/* SPDX-License-Identifier: BSD-3-Clause */
/* secrets.h: random identifiers and refresh-token secrets.
 *
 * Session ids and jti values: creation time and CSPRNG bits in hex.
 * Refresh tokens: 32 bytes from the CSPRNG, given to the client as
 * base64url text, kept only as SHA-256 and compared in constant time.
 * Wiping a secret is tp_secret_wipe() (wipe.h), as everywhere.
 * Library code: never logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "wipe.h"

#define TP_REFRESH_TOKEN_BYTES 32
#define TP_REFRESH_TOKEN_TEXT 44 /* base64url, unpadded, plus NUL */
#define TP_SHA256_LEN 32

/* 32 lowercase hex digits: 48 bits of creation time in milliseconds, then
 * 80 bits from the CSPRNG. */
int tp_session_id_new(char out[TP_SESSION_ID_MAX]);

/* nbytes from the CSPRNG as 2 * nbytes lowercase hex digits and a NUL in
 * out (a name no one can guess: temporary files). -EIO when the kernel
 * gives none. */
int tp_random_hex(size_t nbytes, char *out);

/* New refresh token text and its SHA-256. */
int tp_refresh_token_new(char out[TP_REFRESH_TOKEN_TEXT], uint8_t hash[TP_SHA256_LEN]);
/* SHA-256 of a token's text. Returns 0, or -EIO when the digest fails (a
 * broken crypto provider, no memory); hash is written only on success, so
 * a caller that compares must check the result first. */
int tp_refresh_token_hash(const char *token, uint8_t hash[TP_SHA256_LEN]);
bool tp_hash_equal(const uint8_t a[TP_SHA256_LEN], const uint8_t b[TP_SHA256_LEN]);
