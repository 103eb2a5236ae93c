/* token.h: secrets and signatures. The only module that includes OpenSSL.
 *
 * Refresh tokens: 32 bytes from the CSPRNG, given to the client as
 * base64url text, kept only as SHA-256 and compared in constant time.
 * Access tokens: JWTs signed with Ed25519 ("alg":"EdDSA"). The signing key
 * lives in the state directory (mode 0600, created on first start); the
 * public key is published beside it as PEM and JWKS.
 * Key rotation: the private key is replaced and the old public key is kept
 * as keys/<kid>.pub.pem with keys/<kid>.until (decimal Unix seconds and a
 * newline), published in the JWKS and trusted until then, removed after.
 * Key revocation: a retained key is dropped at once; the current key is
 * replaced by a new one without being retained.
 * The published files are written only when their content changes, so an
 * unchanged key needs no write at start (a full or read-only disk).
 * Secrets are wiped with OPENSSL_cleanse before their memory is freed.
 * Library code: never logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define TP_TOKEN_KEY_FILE "signing-key.pem"
#define TP_TOKEN_PUB_FILE "signing-key.pub.pem"
#define TP_TOKEN_JWKS_FILE "jwks.json"
#define TP_TOKEN_KEYS_DIR "keys"
#define TP_TOKEN_RETAINED_PUB_SUFFIX ".pub.pem"
#define TP_TOKEN_RETAINED_UNTIL_SUFFIX ".until"
#define TP_KID_LEN 43                   /* RFC 7638 thumbprint: base64url SHA-256 */
#define TP_SIGNER_RETAINED_MAX 32       /* old keys published at once */
#define TP_REFRESH_TOKEN_BYTES 32
#define TP_REFRESH_TOKEN_TEXT 44 /* base64url, unpadded, plus NUL */
#define TP_SHA256_LEN 32

/* 32 lowercase hex digits: 48 bits of creation time in milliseconds, then
 * 80 bits from the CSPRNG. */
int tp_session_id_new(char out[TP_SESSION_ID_MAX]);

/* New refresh token text and its SHA-256. */
int tp_refresh_token_new(char out[TP_REFRESH_TOKEN_TEXT], uint8_t hash[TP_SHA256_LEN]);
/* SHA-256 of a token's text. Returns 0, or -EIO when the digest fails (a
 * broken crypto provider, no memory); hash is written only on success, so
 * a caller that compares must check the result first. */
int tp_refresh_token_hash(const char *token, uint8_t hash[TP_SHA256_LEN]);
bool tp_hash_equal(const uint8_t a[TP_SHA256_LEN], const uint8_t b[TP_SHA256_LEN]);
void tp_secret_wipe(void *p, size_t n);

struct tp_jwt_claims {
        char iss[256];
        char sub[TP_USER_MAX];
        uint32_t uid;
        char sid[TP_SESSION_ID_MAX];
        char client[TP_CLIENT_MAX];
        int64_t iat;
        int64_t exp;
        char jti[TP_SESSION_ID_MAX];
        char kid[64];
};

struct tp_signer;

/* True when kid is TP_KID_LEN base64url characters: the only kind that may
 * become part of a file name. */
bool tp_kid_valid(const char *kid);

/* Load the signing key from dir, or create it (0600) when absent; refuse a
 * key file that group or others can read (-EPERM), and likewise one that
 * is a symlink, not a regular file, or not owned by the effective user.
 * Load the retained keys from dir/keys (created 0755 when absent; -EPERM
 * when it or a file in it is a symlink, not ours, or writable by group or
 * others): a record whose time is not after now is removed with its key,
 * and so is a record naming the current key and a key file without a
 * record. -EBADMSG for a malformed record or a key file that does not hold
 * the key its name says; -E2BIG for more than TP_SIGNER_RETAINED_MAX
 * records in force. Writes the public PEM and JWKS files (0644) beside the
 * key when they are missing or differ from what they must hold.
 * tp_signer_open uses the wall clock. tp_signer_open_report also says, in
 * *ret_step (a static phrase naming the file, "writing jwks.json"), which
 * step failed, for the caller's message. */
int tp_signer_open_at(const char *dir, int64_t now, struct tp_signer **ret);
int tp_signer_open(const char *dir, struct tp_signer **ret);
int tp_signer_open_report(const char *dir, int64_t now, struct tp_signer **ret,
                          const char **ret_step);
void tp_signer_free(struct tp_signer *s);
const char *tp_signer_kid(const struct tp_signer *s);

/* The kid (RFC 7638 thumbprint) of the Ed25519 public key in a PEM file:
 * -errno from open() or -EINVAL as for tp_jwt_verify_pem. */
int tp_pubkey_pem_kid(const char *pubkey_pem_path, char ret_kid[TP_KID_LEN + 1]);

/* Replace the signing key with a new one. The old public key is kept in
 * keys/ until retain_until, which must be no earlier than the expiry of
 * any token the old key signed; retained keys whose time is not after now
 * are removed first. On success ret_old_kid is the old key's kid.
 * Crash-safe: the old public key and its record are durable before the
 * private key file is replaced in one rename. -ENOSPC when
 * TP_SIGNER_RETAINED_MAX old keys are still in force (nothing changed). An
 * error after the switch (rewriting the public PEM or the JWKS) leaves the
 * new key in use, as tp_signer_kid() shows; the next open rewrites them. */
int tp_signer_rotate(struct tp_signer *s, int64_t now, int64_t retain_until,
                     char ret_old_kid[TP_KID_LEN + 1]);

/* Drop the retained keys whose time is not after now (tp_signer_verify
 * refuses them from that time on already): their files, then the key in
 * memory, then the JWKS is rewritten without them; also rewrites the
 * published files when an earlier write of them failed. Cheap when nothing is due (no system call).
 * `dropped`, when not NULL, is called for each key dropped. Returns 0, or
 * -errno when a file could not be removed or written (call again later:
 * what is left is retried). */
int tp_signer_expire(struct tp_signer *s, int64_t now,
                     void (*dropped)(const char *kid, int64_t until, void *userdata), void *userdata);

/* Stop trusting and publishing the key kid at once, for good.
 * A retained key: its record and file are removed (the record first, then
 * the directory is synced), then the JWKS is rewritten. The current key:
 * replaced by a new key, as by tp_signer_rotate, but not retained, so that
 * no token it signed verifies any more; *ret_rotated is then true.
 * Returns 0; -EINVAL for a kid that is not a key id; -ENOENT for a kid
 * this signer neither signs with nor retains (nothing changed). Other
 * errors: for a retained key it is no longer trusted by this signer, but
 * its files may remain (a later open would trust it again: -errno from the
 * removal) or the JWKS may still list it (-errno from the rewrite, retried
 * by tp_signer_expire); for the current key, an error before the switch
 * leaves it in use (tp_signer_kid() still names it), one after it only
 * leaves the published files stale. */
int tp_signer_revoke(struct tp_signer *s, const char *kid, int64_t now, bool *ret_rotated);

/* When the retained key kid in the state directory dir stops being
 * trusted: the time in dir/keys/<kid>.until (a regular file, not a
 * symlink, in the format tp_signer_open requires; its owner is not
 * checked, as a reader such as tokenpolicyctl may run as anyone).
 * -ENOENT when there is no record (the key is not retained), -EINVAL for a
 * kid that is not a key id, -EBADMSG for a malformed record. */
int tp_retained_key_until(const char *dir, const char *kid, int64_t *ret_until);

/* Sign claims as a compact JWT into out. Fills in c->jti and c->kid if
 * empty. -ENOBUFS when out is too small, -EMSGSIZE when the token would
 * not fit TP_TOKEN_MAX, -EINVAL for a string claim that is not UTF-8 or a
 * kid that is not the signer's. */
int tp_jwt_sign(struct tp_signer *s, struct tp_jwt_claims *c, char *out, size_t outsz);

/* Verify a token with the signer's current key or one it still publishes,
 * chosen by the token's "kid" (the algorithm is never taken from the
 * token; a token without a kid is checked with the current key). Same
 * checks and return values as tp_jwt_verify_pem, plus -ENOKEY when the kid
 * names none of this signer's keys, or a retained key whose time is not
 * after now (whether or not tp_signer_expire has dropped it yet). Reads no
 * file: a kid is only compared with the keys in memory. */
int tp_signer_verify(struct tp_signer *s, const char *token, int64_t now, struct tp_jwt_claims *ret);

/* Verify a compact JWT against a PEM public key file: the header must say
 * "alg":"EdDSA" (never taken from the token to choose an algorithm), the
 * signature must verify, iat <= now + 60 and now < exp. -EBADMSG for a
 * malformed token, -EKEYREJECTED for a bad signature or algorithm,
 * -ETIME for an expired or future token; -errno from open() or -EINVAL
 * when the key file is missing, unreadable or not an Ed25519 public key.
 * ret->kid is the header's kid ("" when absent). */
int tp_jwt_verify_pem(const char *pubkey_pem_path, const char *token, int64_t now,
                      struct tp_jwt_claims *ret);
