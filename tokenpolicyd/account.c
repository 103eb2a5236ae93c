/* SPDX-License-Identifier: BSD-3-Clause */
/* account.c: account validity from the passwd and shadow databases.
 *
 * Reentrant NSS calls only. Never logs, never caches: an account locked a
 * second ago must fail its next refresh.
 */
#include "account.h"

#include <errno.h>
#include <pwd.h>
#include <shadow.h>
#include <sodium.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NSS_BUF 16384

/* ret_name may be NULL: tp_account_uid() wants the uid alone, however long
 * the name. */
int tp_account_lookup(const char *user, uid_t *ret_uid, char *ret_name, size_t namesz)
{
        struct passwd pw, *res = NULL;
        char buf[NSS_BUF];
        int r;

        r = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
        if (r != 0)
                return -r;
        if (!res)
                return -ENOENT;
        if (ret_name) {
                if (strlen(pw.pw_name) >= namesz)
                        return -ENAMETOOLONG;
                strcpy(ret_name, pw.pw_name);
        }
        *ret_uid = pw.pw_uid;
        return 0;
}

int tp_account_uid(const char *user, uid_t *ret_uid)
{
        return tp_account_lookup(user, ret_uid, NULL, 0);
}

int tp_account_name(uid_t uid, char *out, size_t outsz)
{
        struct passwd pw, *res = NULL;
        char buf[NSS_BUF];
        int r;

        r = getpwuid_r(uid, &pw, buf, sizeof(buf), &res);
        if (r != 0)
                return -r;
        if (!res)
                return -ENOENT;
        if (strlen(pw.pw_name) >= outsz)
                return -ENAMETOOLONG;
        strcpy(out, pw.pw_name);
        return 0;
}

/* usermod -L and passwd -l put "!" in front of a hash; a bare "!" or "*"
 * only means "no password", which key-only accounts legitimately have. */
static bool password_locked(const char *pwdp)
{
        return pwdp && pwdp[0] == '!' && pwdp[1] != '\0' && strcmp(pwdp, "!*") != 0;
}

enum tp_account_state tp_account_state(const char *user, int64_t now)
{
        uid_t uid;
        int r;

        if ((r = tp_account_uid(user, &uid)) < 0)
                return r == -ENOENT ? TP_ACCOUNT_UNKNOWN : TP_ACCOUNT_UNREADABLE;
        return tp_account_shadow_state(user, now);
}

enum tp_account_state tp_account_shadow_state(const char *user, int64_t now)
{
        struct spwd sp, *res = NULL;
        char buf[NSS_BUF];

        if (getspnam_r(user, &sp, buf, sizeof(buf), &res) != 0 || !res)
                return TP_ACCOUNT_VALID; /* no shadow entry or no right to read it */
        if (password_locked(sp.sp_pwdp))
                return TP_ACCOUNT_LOCKED;
        if (sp.sp_expire > 0 && (int64_t)sp.sp_expire * 86400 <= now)
                return TP_ACCOUNT_EXPIRED;
        return TP_ACCOUNT_VALID;
}

const char *tp_account_state_words(enum tp_account_state state)
{
        switch (state) {
        case TP_ACCOUNT_VALID:
                return "is valid";
        case TP_ACCOUNT_UNKNOWN:
                return "does not exist";
        case TP_ACCOUNT_LOCKED:
                return "is locked";
        case TP_ACCOUNT_EXPIRED:
                return "has expired";
        case TP_ACCOUNT_UNREADABLE:
                return "cannot be read";
        }
        return "is not valid";
}

bool tp_account_valid(const char *user, int64_t now)
{
        return tp_account_state(user, now) == TP_ACCOUNT_VALID;
}

int tp_account_password_mark(const char *user, const uint8_t key[TP_PASSWORD_MARK_KEY_LEN],
                             uint8_t out[TP_PASSWORD_MARK_LEN])
{
        struct spwd sp, *res = NULL;
        crypto_generichash_state h;
        char buf[NSS_BUF], changed[32];
        const char *hash;
        int r;

        r = getspnam_r(user, &sp, buf, sizeof(buf), &res);
        if (r != 0 || !res || !sp.sp_pwdp) {
                sodium_memzero(buf, sizeof(buf));
                return r != 0 && r != ENOENT ? -r : -ENOENT;
        }
        for (hash = sp.sp_pwdp; *hash == '!'; hash++)
                ;
        snprintf(changed, sizeof(changed), "%ld", sp.sp_lstchg);
        crypto_generichash_init(&h, key, TP_PASSWORD_MARK_KEY_LEN, TP_PASSWORD_MARK_LEN);
        crypto_generichash_update(&h, (const unsigned char *) hash, strlen(hash) + 1);
        crypto_generichash_update(&h, (const unsigned char *) changed, strlen(changed));
        crypto_generichash_final(&h, out, TP_PASSWORD_MARK_LEN);
        sodium_memzero(buf, sizeof(buf));
        sodium_memzero(&h, sizeof(h));
        return 0;
}
