/* SPDX-License-Identifier: BSD-3-Clause */
/* accounts.c: accounts that stop being valid lose their running sessions.
 *
 * The account check at sign-in and refresh (account.h) only stops new
 * tokens; a session already running would go on until its refresh token
 * expires. This module re-validates the users holding active sessions
 * when the files backend changes (inotify on /etc for passwd and shadow,
 * read without blocking from the loop's tick, so a change reaches the
 * sessions within about a second) and every account_recheck_minutes for
 * sources no file shows. Nothing is cached between checks, and nothing of
 * an account but its state is read.
 */
#include "accounts.h"

#include <errno.h>
#include <limits.h>
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

void tp_accounts_start(struct tp_daemon *d)
{
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

        d->accounts_watching = false;
        d->accounts_checked_ms = tp_monotonic_ms();
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

int tp_accounts_recheck(struct tp_daemon *d)
{
        struct tp_store_filter f = { .all = false };
        struct tp_session *rows = NULL;
        size_t n = 0, total = 0, n_gone = 0;
        int64_t now = (int64_t)time(NULL);
        int r, revoked = 0;

        if ((r = tp_store_query(d->store, &f, 0, SIZE_MAX, &rows, &n, &total)) < 0) {
                tp_log_errno(r, "Failed to list the active sessions to re-validate their accounts (%s)",
                             tp_store_errmsg(d->store));
                return r;
        }
        /* One reason per user: the sessions of each invalid account are
         * revoked together. Rows of one user are not adjacent, so mark. */
        for (size_t i = 0; i < n; i++) {
                enum tp_account_state st;
                char why[128];
                size_t k = 0;

                if (!rows[i].id[0])
                        continue; /* done with this user already */
                st = tp_account_state(rows[i].user, now);
                /* NSS failing (sssd or LDAP unreachable) is no reason to
                 * end anyone's sessions: checked again next time. */
                if (st == TP_ACCOUNT_VALID || st == TP_ACCOUNT_UNREADABLE) {
                        for (size_t j = i + 1; j < n; j++)
                                if (strcmp(rows[j].user, rows[i].user) == 0)
                                        rows[j].id[0] = '\0';
                        continue;
                }
                /* Gather this user's sessions at the front of rows[i..]. */
                struct tp_session *mine = calloc(n - i, sizeof(*mine));

                if (!mine) {
                        r = -ENOMEM;
                        break;
                }
                for (size_t j = i; j < n; j++) {
                        if (rows[j].id[0] && strcmp(rows[j].user, rows[i].user) == 0) {
                                mine[k++] = rows[j];
                                if (j != i)
                                        rows[j].id[0] = '\0';
                        }
                }
                snprintf(why, sizeof(why), "account %s", tp_account_state_words(st));
                r = tp_lifecycle_revoke(d, mine, k, why, -1);
                if (r < 0)
                        tp_log_errno(r, "Failed to revoke the sessions of %s, whose account %s (%s); retrying at the next check",
                                     mine[0].user, tp_account_state_words(st), tp_store_errmsg(d->store));
                else {
                        tp_log(LOG_NOTICE, "the account %s %s: revoked its %d running session(s)", mine[0].user,
                               tp_account_state_words(st), r);
                        revoked += r;
                        n_gone++;
                }
                free(mine);
        }
        free(rows);
        return r < 0 && n_gone == 0 ? r : revoked;
}

void tp_accounts_tick(struct tp_daemon *d)
{
        bool changed = accounts_changed(d);
        int64_t every_ms = (int64_t)d->config->account_recheck_minutes * 60 * 1000;

        if (!changed && (every_ms == 0 || tp_monotonic_ms() - d->accounts_checked_ms < every_ms))
                return;
        d->accounts_checked_ms = tp_monotonic_ms();
        tp_accounts_recheck(d);
}
