/* SPDX-License-Identifier: BSD-3-Clause */
/* offline.h: a fleet host while its database cannot be reached (offline.c).
 *
 * In fleet mode the store (store_pg.c) goes offline when its connection
 * fails or misses a deadline, and every call then fails at once until a
 * new connection is made. Meanwhile each client type's
 * on_store_unreachable decides its sign-ins: "deny" refuses them and says
 * why; "local" admits them under the client type's cap counted in this
 * host's own store of unsynced sessions (a SQLite file in the state
 * directory, TP_UNSYNCED_FILE). When the database answers again, each
 * unsynced session is written to it in one transaction under the fleet's
 * cap, which signs out the oldest sessions of that user and client type
 * beyond it, on whichever host they run; then the file is removed.
 *
 * The passes over this host's own sessions (ghosts, expiries, idle) go on
 * meanwhile against a mirror of them (TP_MIRROR_FILE, filled from the
 * database when it answers and kept up to date by the PostgreSQL store
 * after each commit, store_pg.h), and against the unsynced sessions. A
 * session one of those passes ends in the mirror is copied, ended, to the
 * unsynced store, and its end is uploaded with the rest.
 */
#pragma once

#include <stdbool.h>

#include "daemon.h"

#define TP_UNSYNCED_FILE "unsynced.db"
#define TP_MIRROR_FILE "mirror.db"

/* At start, in fleet mode: open this host's store of unsynced sessions
 * when one was left by an earlier run (a crash, or a stop while offline). */
int tp_offline_start(struct tp_daemon *d);
void tp_offline_stop(struct tp_daemon *d);

/* Whether the fleet's database cannot be reached now. False for a store
 * of one host. */
bool tp_offline_now(const struct tp_daemon *d);

/* The store to sign in to while offline (opened, created when absent);
 * NULL with an ERROR reply in rep when it cannot be opened. */
struct tp_store *tp_offline_store(struct tp_daemon *d, struct tp_reply *rep);

/* The store that holds session `id`: this host's unsynced store when the
 * session was signed in while offline and is not uploaded yet, else the
 * daemon's. */
struct tp_store *tp_offline_store_for(struct tp_daemon *d, const char *id);

/* A sign-in recorded in the unsynced store. */
void tp_offline_signed_in(struct tp_daemon *d, const struct tp_session *s);

/* A sign-in sent to the database as it went away (its outcome unknown)
 * that this host then refused or could not make: if the database took it,
 * it is closed there once the database is back. */
void tp_offline_doubtful(struct tp_daemon *d, const struct tp_session *s);

/* The DENIED reply of a sign-in of `client` (on_store_unreachable = "deny"). */
void tp_offline_refusal(struct tp_daemon *d, const char *client, struct tp_reply *rep);

/* From the event loop, after the store's wake-ups: says when the daemon
 * goes offline and comes back, and once back, finishes a start made while
 * offline and uploads the unsynced sessions. */
void tp_offline_tick(struct tp_daemon *d);

/* A session a pass ended in `st` (as tp_local_store() gave it), as it is
 * now: when st is the mirror, the end is kept with the unsynced sessions
 * for the database. false when it could not be kept (said in the log):
 * the database still has the session active. */
bool tp_offline_ended(struct tp_daemon *d, struct tp_store *st, const struct tp_session *s);
