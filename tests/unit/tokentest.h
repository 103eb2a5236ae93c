/* SPDX-License-Identifier: BSD-3-Clause */
/* tokentest.h: helpers the token unit tests share (test_secrets, test_keyring,
 * test_jwks, test_jwt, test_jwt_sign, test_signer): temporary directories,
 * small files, base64url through OpenSSL's own base64 (independent of
 * shared/jose.c), the parts of a compact token, and tokens signed here with
 * a key through OpenSSL directly, so that a verifier's claims parser is
 * reached only through a valid signature. Failures are cmocka assertions;
 * never prints outside cmocka.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "jwt.h"

#define NOW INT64_C(1700000000)
#define RAW_NOW INT64_C(1500)
#define HEADER_OK "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}"
#define SID "0123456789abcdef0123456789abcdef"
#define JTI "fedcba9876543210fedcba9876543210"
#define PAYLOAD_OK "{\"iss\":\"host\",\"sub\":\"alice\",\"uid\":1000,\"sid\":\"" SID "\"," \
        "\"client\":\"ssh\",\"iat\":1000,\"exp\":2000,\"jti\":\"" JTI "\"}"
#define BIG 16384

/* Concatenate the NULL-terminated list of strings into out[0..size). */
void concat(char *out, size_t size, ...);
#define CONCAT(out, ...) concat((out), sizeof(out), __VA_ARGS__, (const char *)NULL)

/* A new directory under $TMPDIR (or /tmp), and its removal with all it holds. */
void make_tmpdir(char dir[PATH_MAX]);
void remove_tree(const char *dir);

void path_in(char out[PATH_MAX], const char *dir, const char *name);
mode_t file_mode(const char *dir, const char *name);
mode_t dir_mode(const char *dir, const char *name);
size_t read_text(const char *path, char *buf, size_t size);
void write_text(const char *path, const char *text, mode_t mode);
bool exists(const char *path);

/* base64url through OpenSSL's plain base64. */
void b64url(const void *in, size_t n, char *out);
size_t unb64url(const char *in, size_t n, unsigned char *out);

bool is_lower_hex(const char *s, size_t n);
bool is_b64url(const char *s, size_t n);

/* Part idx (0..2) of a compact token, decoded when `decode`. */
size_t token_part(const char *tok, int idx, char *out, bool decode);
void token_join(char *out, const char *h, const char *p, const char *s);

/* Sign arbitrary header and payload JSON with pkey (OpenSSL, not the
 * project's signer) into out[0..BIG). */
void sign_raw_key(EVP_PKEY *pkey, const char *header, const char *payload, size_t plen, char *out);

/* A new Ed25519 key; its public half written as PEM to path (when not
 * NULL), its private half to private_path (when not NULL, mode 0600). */
EVP_PKEY *key_new(const char *path, const char *private_path);

/* Claims every test starts from, and an equality check of all fields. */
void claims_base(struct tp_jwt_claims *c);
void assert_claims_equal(const struct tp_jwt_claims *a, const struct tp_jwt_claims *b);
