/* SPDX-License-Identifier: BSD-3-Clause */
/* signer.h: tokenpolicyd's signing key and the files that publish its
 * keys: the private key, its rotation, the old public keys a rotation
 * retains and their end, and revocation.
 *
 * The signing key lives in the state directory (mode 0600, created on
 * first start); the public key is published beside it as PEM and JWKS.
 * Key rotation: the private key is replaced and the old public key is kept
 * as keys/<kid>.pub.pem with keys/<kid>.until (decimal Unix seconds and a
 * newline), published in the JWKS and trusted until then, removed after.
 * Key revocation: a retained key is dropped at once; the current key is
 * replaced by a new one without being retained.
 * The published files are written only when their content changes, so an
 * unchanged key needs no write at start (a full or read-only disk).
 * The public keys themselves are a keyring (shared/keyring.h), the same
 * code tokenpolicyctl verify reads them with; tokens are made by
 * jwt_sign.h and checked by shared/jwt.h. Secrets are wiped with
 * tp_secret_wipe before their memory is freed.
 * Library code: never logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jwks.h"
#include "jwt.h"
#include "keyring.h"

#define TP_TOKEN_KEY_FILE "signing-key.pem"
#define TP_SIGNER_RETAINED_MAX TP_KEYRING_RETAINED_MAX  /* old keys published at once */
#define TP_SIGNATURE_LEN 64                             /* Ed25519 */

struct tp_signer;

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
/* The public keys the signer publishes (current and retained), borrowed. */
const struct tp_keyring *tp_signer_keyring(const struct tp_signer *s);

/* Sign msg[0..len) with the current private key into sig (Ed25519,
 * deterministic). -EINVAL without a signer, -EIO when signing fails. */
int tp_signer_sign(const struct tp_signer *s, const uint8_t *msg, size_t len,
                   uint8_t sig[TP_SIGNATURE_LEN]);

/* The same signature, made on the signer's own thread (started at the
 * first call) while the caller goes on: msg is copied. The key it is made
 * with is the current one, as with tp_signer_sign, since the key changes
 * (rotation, revocation) only after every job is signed. NULL when no job
 * could be started (no memory, no thread): the caller signs itself.
 * tp_sign_job_finish waits for the job, copies its signature into sig
 * (unless sig is NULL: not wanted after all), frees the job, and returns
 * what tp_signer_sign would have. Every job must be finished, on the
 * thread that started it, before tp_signer_free. */
struct tp_sign_job;
struct tp_sign_job *tp_signer_sign_later(struct tp_signer *s, const uint8_t *msg, size_t len);
/* Jobs are started a few at a time; this starts whatever waits (before
 * the caller does something else that takes a while). */
void tp_signer_sign_now(struct tp_signer *s);
int tp_sign_job_finish(struct tp_signer *s, struct tp_sign_job *job, uint8_t sig[TP_SIGNATURE_LEN]);

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

/* Verify a token with the signer's current key or one it still publishes,
 * chosen by the token's "kid": tp_jwt_verify() with the signer's keyring
 * (same checks and return values, -ENOKEY included). Reads no file. */
int tp_signer_verify(struct tp_signer *s, const char *token, int64_t now, struct tp_jwt_claims *ret);
