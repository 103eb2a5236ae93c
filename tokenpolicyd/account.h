/* SPDX-License-Identifier: BSD-3-Clause */
/* account.h: is a user account still valid (exists, not locked, not
 * expired)? Reads the passwd and shadow databases through NSS, and keeps
 * a copy of /etc/passwd and /etc/shadow that it drops whenever they (or
 * nsswitch.conf) change, used only where NSS would answer from those
 * files (account.c). Library code: never logs.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Drop the copy of the account files and their watch (at shutdown, and
 * where an account must be read afresh). */
void tp_account_forget(void);

/* Between these, the lookups of one request see the account files as
 * they were when its first lookup looked: the watch is read once a
 * request instead of once a lookup. Outside a request every lookup reads
 * it. */
void tp_account_request_begin(void);
void tp_account_request_end(void);

/* Look up a user's uid. -ENOENT when unknown. */
int tp_account_uid(const char *user, uid_t *ret_uid);

/* Look up a user's uid and canonical login name (pw_name: what NSS calls
 * the account, whatever spelling the caller used). -ENOENT when unknown,
 * -ENAMETOOLONG when the name does not fit. */
int tp_account_lookup(const char *user, uid_t *ret_uid, char *ret_name, size_t namesz);

/* The user's login name for a uid, into out. -ENOENT when unknown. */
int tp_account_name(uid_t uid, char *out, size_t outsz);

/* Why an account may not be used at `now`. */
enum tp_account_state {
        TP_ACCOUNT_VALID = 0,
        TP_ACCOUNT_UNKNOWN,     /* no such user */
        TP_ACCOUNT_LOCKED,      /* "!" before its password hash (usermod -L, passwd -l) */
        TP_ACCOUNT_EXPIRED,     /* shadow sp_expire reached (usermod -e) */
        TP_ACCOUNT_UNREADABLE,  /* NSS failed (a directory unreachable): cannot tell */
};
enum tp_account_state tp_account_state(const char *user, int64_t now);
/* The same for an account just found to exist (one passwd lookup fewer):
 * locked, expired or valid, from the shadow database alone. */
enum tp_account_state tp_account_shadow_state(const char *user, int64_t now);
/* The state in words fit for the user: "is locked", "has expired", ... */
const char *tp_account_state_words(enum tp_account_state state);

/* True when the account exists, its password is not locked ("!" before a
 * hash) and it has not expired (shadow sp_expire) at `now`. Without read
 * access to shadow only existence is checked. */
bool tp_account_valid(const char *user, int64_t now);

/* A password's fingerprint: a keyed hash (BLAKE2b, 16 bytes) of the
 * account's shadow hash with any lock mark ("!") taken off, and its date
 * of last change. The key is the daemon's, random at each start and never
 * written anywhere, so the fingerprint says nothing about the password to
 * anyone who reads it and cannot be tested against guesses elsewhere; it
 * only tells the daemon, while it runs, that the password was changed
 * (locking and unlocking do not change it). -ENOENT when the account has
 * no shadow entry the daemon can read (an NSS source that does not give
 * hashes: sssd, LDAP). */
#define TP_PASSWORD_MARK_LEN 16
#define TP_PASSWORD_MARK_KEY_LEN 32
int tp_account_password_mark(const char *user, const uint8_t key[TP_PASSWORD_MARK_KEY_LEN],
                             uint8_t out[TP_PASSWORD_MARK_LEN]);
