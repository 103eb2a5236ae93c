/* SPDX-License-Identifier: BSD-3-Clause */
/* keyring.h: the public keys access tokens are verified with, by kid.
 *
 * A keyring holds the current key and the old keys a rotation retains,
 * each of those until its end time; a retained key whose time is not after
 * now is never chosen, and one that is dropped (revoked, or ended and
 * removed) is gone for good. A kid is the key's RFC 7638 thumbprint: 43
 * base64url characters. Choosing a key only compares a kid with the kids
 * in memory; only a kid that passes tp_kid_valid() may become part of a
 * file name, and every such name is built here.
 *
 * What a state directory publishes, as tokenpolicyd writes it:
 *   signing-key.pub.pem    the current public key (PEM)
 *   keys/<kid>.pub.pem     a retained public key (PEM)
 *   keys/<kid>.until       its end: decimal Unix seconds and one newline
 * This file reads them: strictly as their owner (tokenpolicyd, where
 * whoever could write them could make a forged token verify), or as any
 * reader (tokenpolicyctl verify). Writing them is tokenpolicyd's signer
 * (tokenpolicyd/signer.c); the JWKS text of a keyring is jwks.c's.
 *
 * Shared by tokenpolicyd and tokenpolicyctl; never seen by the PAM module.
 * Never logs, never writes or removes a file, and includes no OpenSSL
 * header here (keyring.c does). Return conventions: 0 or a negative errno;
 * a ret_ out-parameter is written only on success.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TP_TOKEN_PUB_FILE "signing-key.pub.pem"
#define TP_TOKEN_KEYS_DIR "keys"
#define TP_TOKEN_RETAINED_PUB_SUFFIX ".pub.pem"
#define TP_TOKEN_RETAINED_UNTIL_SUFFIX ".until"
#define TP_KID_LEN 43                   /* RFC 7638 thumbprint: base64url SHA-256 */
#define TP_KEYRING_RETAINED_MAX 32      /* old keys kept at once */
#define TP_RETAINED_NAME_MAX (TP_KID_LEN + sizeof(TP_TOKEN_RETAINED_PUB_SUFFIX))
#define TP_UNTIL_TEXT_MAX 32            /* "9223372036854775807\n" fits */
#define TP_PUBKEY_RAW_LEN 32            /* an Ed25519 public key */

/* True when kid is TP_KID_LEN base64url characters: the only kind that may
 * become part of a file name. */
bool tp_kid_valid(const char *kid);

/* ---- one public key ---------------------------------------------------- */

struct tp_pubkey;

/* The Ed25519 public key raw[0..32), with its kid and JWK "x". */
int tp_pubkey_from_raw(const uint8_t raw[TP_PUBKEY_RAW_LEN], struct tp_pubkey **ret);

/* The Ed25519 public key in the PEM file name (relative to dirfd). With
 * `ours` (the daemon reading its own keys/) the file must not be a
 * symlink, must be a regular file of the effective user that group and
 * others cannot write (-EPERM otherwise); without, symlinks are followed
 * and any regular file will do (-EINVAL otherwise). -errno from open(),
 * -EINVAL for a file that holds no Ed25519 public key. */
int tp_pubkey_load(int dirfd, const char *name, bool ours, struct tp_pubkey **ret);

void tp_pubkey_free(struct tp_pubkey *k);
const char *tp_pubkey_kid(const struct tp_pubkey *k);
/* The JWK "x" member: the raw key in base64url. */
const char *tp_pubkey_x(const struct tp_pubkey *k);

/* Check an Ed25519 signature of msg[0..len) with k. 0 when it holds,
 * -EKEYREJECTED when not, -ENOMEM or -EIO when it could not be checked. */
int tp_pubkey_verify(const struct tp_pubkey *k, const uint8_t *msg, size_t len, const uint8_t *sig,
                     size_t siglen);

/* The kid of the Ed25519 public key in a PEM file (symlinks followed):
 * -errno from open(), or -EINVAL for a file that holds no such key. */
int tp_pubkey_pem_kid(const char *pubkey_pem_path, char ret_kid[TP_KID_LEN + 1]);

/* ---- the keyring ------------------------------------------------------- */

struct tp_keyring;

int tp_keyring_new(struct tp_keyring **ret);
void tp_keyring_free(struct tp_keyring *kr);

/* Make k the current key; kr owns it from now on. The key it replaces is
 * freed, not retained. Cannot fail. */
void tp_keyring_set_current(struct tp_keyring *kr, struct tp_pubkey *k);

/* The current key, or NULL before one is set. */
const struct tp_pubkey *tp_keyring_current(const struct tp_keyring *kr);

/* Keep k (a key other than the current one) until `until`; kr owns it on
 * success. -EEXIST when its kid is kept already, -E2BIG when
 * TP_KEYRING_RETAINED_MAX keys are (k stays the caller's then). */
int tp_keyring_retain(struct tp_keyring *kr, struct tp_pubkey *k, int64_t until);

/* Rotation: the current key is kept until `until` and next becomes the
 * current key (kr owns it on success). -ENOSPC when TP_KEYRING_RETAINED_MAX
 * keys are kept already, -EINVAL without a current key; nothing changes
 * then. */
int tp_keyring_rotate(struct tp_keyring *kr, struct tp_pubkey *next, int64_t until);

/* The retained keys, latest end first (ties by kid): index i of
 * tp_keyring_n_retained(). *ret_until (when not NULL) is its end. */
size_t tp_keyring_n_retained(const struct tp_keyring *kr);
const struct tp_pubkey *tp_keyring_retained(const struct tp_keyring *kr, size_t i, int64_t *ret_until);

/* The retained key kid whatever its time, or NULL. */
const struct tp_pubkey *tp_keyring_find_retained(const struct tp_keyring *kr, const char *kid);

/* Forget the retained key kid (revoked, or ended and removed); the order
 * of the others is kept. False when kr does not retain it. */
bool tp_keyring_drop(struct tp_keyring *kr, const char *kid);

/* The key a token naming kid is to be checked with: the current key when
 * kid is "" (no kid) or names it, else a retained key with that kid whose
 * time is after now; NULL for any other kid (borrowed, not to be freed). */
const struct tp_pubkey *tp_keyring_find(const struct tp_keyring *kr, const char *kid, int64_t now);

/* ---- the retained keys' files: keys/<kid>.pub.pem, keys/<kid>.until ---- */

/* <kid><suffix> into out: -EINVAL for a kid that is not a key id. */
int tp_retained_name(const char *kid, const char *suffix, char out[TP_RETAINED_NAME_MAX]);

/* The kid of a file named <kid><suffix>, or false for any other name. */
bool tp_retained_name_kid(const char *name, const char *suffix, char kid[TP_KID_LEN + 1]);

/* The record's text for until: decimal and one newline; *ret_len its
 * length. */
int tp_retained_until_text(int64_t until, char text[TP_UNTIL_TEXT_MAX], size_t *ret_len);

/* Read the record of kid in the keys directory keysfd (never through a
 * symlink: -EPERM). With `ours` it must also pass the owner's rules of
 * tp_pubkey_load (-EPERM). -ENOENT without a record, -EINVAL for a kid
 * that is not a key id, -EBADMSG for anything but decimal Unix seconds
 * and one newline (no sign, no leading zero, no space). */
int tp_retained_read_until(int keysfd, const char *kid, bool ours, int64_t *ret_until);

/* The same for the state directory dir, as any reader (the record's owner
 * is not checked: tokenpolicyctl may run as anyone). */
int tp_retained_key_until(const char *dir, const char *kid, int64_t *ret_until);

/* Load the retained key kid from the keys directory keysfd (rules as
 * tp_pubkey_load with `ours`) and keep it until `until`. -ENOENT when its
 * key file is absent, -EBADMSG when the file holds another key than its
 * name says (a token naming one key would be checked against another),
 * -E2BIG when TP_KEYRING_RETAINED_MAX keys are kept already. */
int tp_keyring_load_retained(struct tp_keyring *kr, int keysfd, const char *kid, int64_t until,
                             bool ours);

/* ---- a state directory as a reader that does not own it sees it ------- */

struct tp_published_key {
        char path[PATH_MAX];    /* the PEM file to check the token with */
        bool retained;          /* path is keys/<kid>.pub.pem */
        int64_t until;          /* a retained key's end */
};

/* Which of the keys the state directory dir publishes a token naming kid
 * ("" for none) is to be checked with at now. The kid decides: a retained
 * key with that kid (keys/<kid>.pub.pem exists) and a record whose time is
 * after now, else the current key (signing-key.pub.pem). Returns 0 with
 * ret->path set (the file is not checked here when the kid is "" or the
 * current key's own: the verifier that reads it says what is wrong);
 * -EINVAL for a kid that is not a key id; -ENAMETOOLONG when a path does
 * not fit PATH_MAX; with ret->retained set, -EKEYEXPIRED for a retained
 * key whose time is not after now (ret->until says when it ended) or the
 * error of tp_retained_key_until when its record cannot be used; -ENOKEY
 * for a kid the directory publishes neither as the current key nor as a
 * retained one. */
int tp_published_key_find(const char *dir, const char *kid, int64_t now, struct tp_published_key *ret);
