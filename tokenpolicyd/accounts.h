/* SPDX-License-Identifier: BSD-3-Clause */
/* accounts.h: running sessions of accounts that stopped being valid
 * (accounts.c). An account locked, expired or deleted loses its running
 * sessions: on_revoke, audited "revoke" with the reason.
 */
#pragma once

#include "daemon.h"

/* The files backend: /etc/passwd and /etc/shadow are watched (inotify on
 * /etc, so that a file replaced by rename is seen too) and every change
 * re-validates the users holding sessions. A watch that cannot be set up
 * is logged; the periodic check (below) still runs. */
void tp_accounts_start(struct tp_daemon *d);
void tp_accounts_stop(struct tp_daemon *d);

/* From the loop, about once a second: re-validate after a change to the
 * watched files, and every account_recheck_minutes of the configuration
 * in any case (NSS sources that cannot be watched: sssd, LDAP; 0: never). */
void tp_accounts_tick(struct tp_daemon *d);

/* Start a pass that re-validates the users holding active sessions: every
 * session of an account that is locked, expired or gone is revoked. The
 * first 16 pages of 256 sessions are done now (all of them, on most
 * hosts), the rest a page per tick (tp_accounts_tick()). Returns how many
 * were revoked so far. */
int tp_accounts_recheck(struct tp_daemon *d);

/* on_password_change: the daemon keeps, for each user holding sessions, a
 * fingerprint of the password (tp_account_password_mark(): keyed with a
 * key of this run, in memory only). A re-validation, or a sign-in, that
 * finds it changed revokes the sessions of that user whose client type
 * says "revoke" (audited, reason "password changed"); the first look only
 * records it. A change made while the daemon was stopped is not seen. */
void tp_accounts_signing_in(struct tp_daemon *d, const char *user);
