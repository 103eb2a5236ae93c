/* SPDX-License-Identifier: BSD-3-Clause */
/* accounts.c: accounts that stop being valid lose their running sessions.
 *
 * The account check at sign-in and refresh (account.h) only stops new
 * tokens; a session already running would go on until its refresh token
 * expires. This module re-validates the users holding active sessions
 * when the files backend changes (inotify on /etc for passwd and shadow,
 * read without blocking from the loop's tick, so a change reaches the
 * sessions within about a second) and every account_recheck_minutes for
 * sources no file shows. Nothing of an account but its state is read;
 * account.c keeps a copy of the files that it drops on any change, so a
 * check after a change reads them afresh.
 */
#include "accounts.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "io.h"
#include "lifecycle.h"
#include "log.h"
#include "store.h"

#define ACCOUNTS_DIR "/etc"
/* A re-validation pass reads the active sessions a page at a time: the
 * first few pages at once (a whole pass, for most hosts), then one page
 * a tick, so a store of a million sessions neither delays the start nor
 * holds the loop. */
#define ACCOUNTS_PAGE 256
#define ACCOUNTS_STEPS_AT_ONCE 16

/* The password fingerprint of one user holding sessions. */
struct tp_password_mark {
        char user[TP_USER_MAX];
        uint8_t mark[TP_PASSWORD_MARK_LEN];
        bool seen; /* still holds a session at this check */
};

static struct tp_password_mark *password_mark(struct tp_daemon *d, const char *user)
{
        for (size_t i = 0; i < d->n_password_marks; i++)
                if (strcmp(d->password_marks[i].user, user) == 0)
                        return &d->password_marks[i];
        return NULL;
}

/* Sessions of one user whose client type has on_password_change =
 * "revoke" and that began before `before`, revoked together. */
static int revoke_for_password(struct tp_daemon *d, const char *user, int64_t before)
{
        struct tp_store_filter f = { .user = user };
        struct tp_session *rows = NULL;
        size_t n = 0, total = 0, k = 0;
        int r;

        if ((r = tp_store_query(d->store, &f, 0, SIZE_MAX, &rows, &n, &total)) < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                const struct tp_client_config *cl = tp_config_client(d->config, rows[i].client);
                struct tp_effective_policy p;

                if (!cl || rows[i].created >= before)
                        continue;
                tp_config_effective(d->config, cl, &p);
                if (p.revoke_on_password_change)
                        rows[k++] = rows[i];
        }
        r = k == 0 ? 0 : tp_lifecycle_revoke(d, rows, k, "password changed", -1);
        if (r > 0)
                tp_log(LOG_NOTICE, "the password of %s was changed: revoked its %d running session(s)", user, r);
        else if (r < 0)
                tp_log_errno(r, "Failed to revoke the sessions of %s, whose password was changed (%s)", user,
                             tp_store_errmsg(d->store));
        free(rows);
        return r;
}

/* Compare the user's password with the one seen last; the first look
 * only records it. A change revokes the sessions that the configuration
 * says a change ends, those that began before `before`. */
static int check_password(struct tp_daemon *d, const char *user, int64_t before)
{
        uint8_t now[TP_PASSWORD_MARK_LEN];
        struct tp_password_mark *m = password_mark(d, user);
        int r = 0;

        if (tp_account_password_mark(user, d->password_mark_key, now) < 0)
                return 0; /* no hash to see: a source that does not give it */
        if (!m) {
                struct tp_password_mark *grown = realloc(d->password_marks,
                                                         (d->n_password_marks + 1) * sizeof(*grown));

                if (!grown || strlen(user) >= sizeof(grown->user)) {
                        if (grown)
                                d->password_marks = grown;
                        return -ENOMEM;
                }
                d->password_marks = grown;
                m = &grown[d->n_password_marks++];
                snprintf(m->user, sizeof(m->user), "%s", user);
                memcpy(m->mark, now, sizeof(now));
        } else if (sodium_memcmp(m->mark, now, sizeof(now)) != 0) {
                r = revoke_for_password(d, user, before);
                if (r >= 0)
                        memcpy(m->mark, now, sizeof(now));
        }
        m->seen = true;
        sodium_memzero(now, sizeof(now));
        return r;
}

/* Whether any client type says on_password_change = "revoke": when none
 * does, no password is looked at (nor its fingerprint kept). */
static bool password_changes_matter(const struct tp_daemon *d)
{
        for (size_t i = 0; i < d->config->n_clients; i++) {
                struct tp_effective_policy p;

                tp_config_effective(d->config, &d->config->clients[i], &p);
                if (p.revoke_on_password_change)
                        return true;
        }
        return false;
}

void tp_accounts_signing_in(struct tp_daemon *d, const char *user)
{
        if (password_changes_matter(d))
                check_password(d, user, INT64_MAX);
}

void tp_accounts_start(struct tp_daemon *d)
{
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

        d->accounts_watching = false;
        d->accounts_checked_ms = tp_monotonic_ms();
        randombytes_buf(d->password_mark_key, sizeof(d->password_mark_key));
        if (fd < 0 || inotify_add_watch(fd, ACCOUNTS_DIR, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ATTRIB | IN_DELETE) < 0) {
                tp_log(LOG_WARNING, "cannot watch %s/passwd and %s/shadow (%s): a locked, expired or deleted account loses its running sessions only at the periodic check (account_recheck_minutes = %u)",
                       ACCOUNTS_DIR, ACCOUNTS_DIR, strerror(errno), d->config->account_recheck_minutes);
                if (fd >= 0)
                        close(fd);
                return;
        }
        d->accounts_fd = fd;
        d->accounts_watching = true;
}

void tp_accounts_stop(struct tp_daemon *d)
{
        if (d->accounts_watching)
                close(d->accounts_fd);
        d->accounts_watching = false;
        sodium_memzero(d->password_mark_key, sizeof(d->password_mark_key));
        free(d->password_marks);
        d->password_marks = NULL;
        d->n_password_marks = 0;
        tp_account_forget();
}

/* Forget the fingerprints of users who no longer hold a session. */
static void prune_password_marks(struct tp_daemon *d)
{
        size_t k = 0;

        for (size_t i = 0; i < d->n_password_marks; i++)
                if (d->password_marks[i].seen) {
                        d->password_marks[i].seen = false;
                        d->password_marks[k++] = d->password_marks[i];
                }
        d->n_password_marks = k;
}

/* Whether the watched directory reported a change to passwd or shadow
 * (or lost events: then assume one). Drains what is queued. */
static bool accounts_changed(struct tp_daemon *d)
{
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool changed = false;
        ssize_t n;

        if (!d->accounts_watching)
                return false;
        while ((n = read(d->accounts_fd, buf, sizeof(buf))) > 0) {
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *)p;

                        if ((ev->mask & IN_Q_OVERFLOW) ||
                            (ev->len > 0 && (strcmp(ev->name, "passwd") == 0 || strcmp(ev->name, "shadow") == 0)))
                                changed = true;
                        p += sizeof(*ev) + ev->len;
                }
        }
        return changed;
}

/* Revoke every active session of an account that stopped being valid. */
static int revoke_account(struct tp_daemon *d, const char *user, enum tp_account_state st)
{
        struct tp_store_filter f = { .user = user };
        struct tp_session *rows = NULL;
        size_t n = 0, total = 0;
        char why[128];
        int r;

        if ((r = tp_store_query(d->store, &f, 0, SIZE_MAX, &rows, &n, &total)) < 0)
                return r;
        snprintf(why, sizeof(why), "account %s", tp_account_state_words(st));
        r = tp_lifecycle_revoke(d, rows, n, why, -1);
        if (r < 0)
                tp_log_errno(r, "Failed to revoke the sessions of %s, whose account %s (%s); retrying at the next check",
                             user, tp_account_state_words(st), tp_store_errmsg(d->store));
        else if (r > 0)
                tp_log(LOG_NOTICE, "the account %s %s: revoked its %d running session(s)", user,
                       tp_account_state_words(st), r);
        free(rows);
        return r;
}

/* One step of a pass: the next page of active sessions, each user on it
 * checked once. Returns how many sessions were revoked, or a negative
 * errno; *ret_done when the pass reached its end. */
static int recheck_step(struct tp_daemon *d, bool *ret_done)
{
        struct tp_session *rows = NULL;
        size_t n = 0;
        int64_t now = (int64_t)time(NULL);
        bool watch_passwords = password_changes_matter(d);
        int r, revoked = 0;

        *ret_done = false;
        if ((r = tp_store_active_page(d->store, &d->accounts_cursor, ACCOUNTS_PAGE, &rows, &n)) < 0) {
                tp_log_errno(r, "Failed to list the active sessions to re-validate their accounts (%s)",
                             tp_store_errmsg(d->store));
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                enum tp_account_state st;
                bool seen = false;

                for (size_t j = 0; j < i && !seen; j++)
                        seen = strcmp(rows[j].user, rows[i].user) == 0;
                if (seen)
                        continue;
                st = tp_account_state(rows[i].user, now);
                /* NSS failing (sssd or LDAP unreachable) is no reason to
                 * end anyone's sessions: checked again next time. */
                if (st == TP_ACCOUNT_UNREADABLE)
                        continue;
                if (st == TP_ACCOUNT_VALID) {
                        if (watch_passwords && (r = check_password(d, rows[i].user, now)) > 0)
                                revoked += r;
                        continue;
                }
                if ((r = revoke_account(d, rows[i].user, st)) > 0)
                        revoked += r;
        }
        free(rows);
        if (d->accounts_cursor.created == TP_STORE_CURSOR_START.created &&
            d->accounts_cursor.rowid == TP_STORE_CURSOR_START.rowid)
                *ret_done = true;
        return revoked;
}

int tp_accounts_recheck(struct tp_daemon *d)
{
        int revoked = 0;

        d->accounts_cursor = TP_STORE_CURSOR_START;
        d->accounts_pass = true;
        d->accounts_again = false;
        for (int step = 0; step < ACCOUNTS_STEPS_AT_ONCE && d->accounts_pass; step++) {
                bool done;
                int r = recheck_step(d, &done);

                if (r < 0)
                        return r;
                revoked += r;
                if (done) {
                        d->accounts_pass = false;
                        prune_password_marks(d);
                }
        }
        return revoked;
}

void tp_accounts_tick(struct tp_daemon *d)
{
        bool changed = accounts_changed(d);
        int64_t every_ms = (int64_t)d->config->account_recheck_minutes * 60 * 1000;
        bool done;

        if (changed || (every_ms > 0 && tp_monotonic_ms() - d->accounts_checked_ms >= every_ms)) {
                d->accounts_checked_ms = tp_monotonic_ms();
                /* A pass under way goes on (restarting it could starve its
                 * end); another one follows it. */
                if (d->accounts_pass)
                        d->accounts_again = true;
                else
                        tp_accounts_recheck(d);
                return;
        }
        if (!d->accounts_pass) {
                if (!d->accounts_again)
                        return;
                tp_accounts_recheck(d);
                return;
        }
        if (recheck_step(d, &done) >= 0 && done) {
                d->accounts_pass = false;
                prune_password_marks(d);
        }
}
