/* SPDX-License-Identifier: BSD-3-Clause */
/* store_pg.h: the session store of a fleet, one PostgreSQL database that
 * every host's daemon shares (store_pg.c, through libpq).
 *
 * It fills the same struct tp_store_ops as the SQLite store (store.h); the
 * rest of the daemon does not know which one it holds. What differs:
 *  - Every session row carries the host that runs it. Listings, revocation
 *    by filter, the cap count at sign-in and single-session lookups see
 *    the whole fleet; the passes that act on running sessions (expiry
 *    schedule, ghosts, boots, shared leaders, history) see this host's
 *    sessions only.
 *  - The cap count at sign-in (list_active inside a transaction) locks the
 *    row of (user, client type) in tp_caps until the transaction ends, so
 *    two hosts signing the same user in serialise there and never exceed
 *    the cap, not even for an instant.
 *  - Ending another host's session marks it owed (its owner has yet to
 *    act) and wakes the owner with NOTIFY; the owner applies its own
 *    on_revoke or on_expiry and settles it (tp_store_owed_page,
 *    tp_store_settle). What travels is the session's state, never an
 *    order.
 *  - Group commit does not apply: each transaction commits on its own
 *    (PostgreSQL's synchronous commit makes it durable before COMMIT
 *    returns), and batch_commit has nothing left to do.
 */
#pragma once

#include "store.h"

/* The schema version this build writes; a database of a newer one is
 * refused with -EPROTO. */
#define TP_STORE_PG_SCHEMA_VERSION 3

/* How long one statement, or a wait for a lock, may take on the server
 * (ms): a store that cannot answer within it fails the request rather
 * than hold a sign-in past the PAM module's default 3 s timeout. */
#define TP_STORE_PG_STATEMENT_TIMEOUT_MS 1500
/* How long a transaction (or a statement outside one, or a connection
 * attempt) may take as this host sees it, whatever the server does: a
 * database that stopped answering costs a request no more, and the store
 * is offline after it (store_pg.c). Leaves a sign-in that finds the
 * database gone time to be decided by on_store_unreachable within the
 * module's default timeout. */
#define TP_STORE_PG_DEADLINE_MS 2000
/* Offline: the first new attempt after this long, each next one twice as
 * late, up to the maximum. */
#define TP_STORE_PG_RETRY_MIN_MS 500
#define TP_STORE_PG_RETRY_MAX_MS 5000
/* Seconds libpq may spend connecting, unless the connection string says. */
#define TP_STORE_PG_CONNECT_TIMEOUT "2"

/* Connect with `conninfo` (libpq's keyword=value string or URI) as host
 * `host_id`, bring the schema up to date (once, under a lock, whoever else
 * starts at the same moment), register the host and listen for the
 * sessions other hosts end. `name` is this host's name for listings.
 * Returns 0; or 1 when the database cannot be reached now: the store is
 * open and offline (why says what failed), and does all of that once it
 * connects. On a failure another attempt would not mend (a connection
 * string libpq refuses, a role or password refused, a newer schema)
 * returns a negative errno and writes why (libpq's own words) to why. */
int tp_store_pg_open(const char *conninfo, const char *host_id, const char *name,
                     struct tp_store **ret, char *why, size_t why_size);

/* Keep `mirror` (a SQLite store, store_sqlite.h; NULL: none) a copy of this
 * host's sessions: every change the database commits to one of them is
 * made in it too, without waiting for its disk: queued in memory at the
 * database's commit, and made by tp_store_pg_mirror_flush() (or once 512
 * are queued), many in one transaction. The daemon reads it for its own
 * passes while the database is away (offline.c). The caller fills it
 * first and keeps it open while set. Nothing for a store that is not
 * this one's. */
void tp_store_pg_mirror(struct tp_store *pg, struct tp_store *mirror);

/* Make the queued changes in the mirror now (the daemon's tick, and
 * before its passes read the mirror). */
void tp_store_pg_mirror_flush(struct tp_store *pg);

/* Whether a change may be missing from the mirror (a write to it failed,
 * or the queue could not grow): it must be filled again before it can be
 * trusted. Set again with tp_store_pg_mirror(). */
bool tp_store_pg_mirror_stale(struct tp_store *pg);
