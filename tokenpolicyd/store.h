/* SPDX-License-Identifier: BSD-3-Clause */
/* store.h: the durable session store (SQLite, WAL).
 *
 * The only module that includes SQLite. Every mutation happens inside a
 * transaction the caller opens with tp_store_begin() and ends with
 * tp_store_commit(); commit returns only once the data is durable (the
 * WAL synced), so the daemon acknowledges nothing before it is on disk;
 * tp_store_commit_unsynced() is the exception for sign-outs. The schema carries a version (PRAGMA user_version); opening a store
 * written by a newer version fails rather than guessing.
 *
 * This header is the interface every backend implements: a struct of
 * operations (struct tp_store_ops) that the backend fills, and inline
 * calls through it that the rest of the daemon uses. The SQLite backend
 * (store.c, opened with tp_store_open() from store_sqlite.h) is the only
 * one so far; another fills its own table and is opened by main.c, and
 * nothing that uses a struct tp_store changes.
 *
 * What a backend must honour, because the request layer relies on it:
 *  - Every call may fail; a negative errno says why. -ENOENT (no such
 *    session) and -ESTALE (no longer active) are answers; any other error
 *    is a failure of the store, transient ones included (-EBUSY, -EAGAIN,
 *    -ETIMEDOUT, -ECONNRESET, -EIO for a network or a lock that may work
 *    again later): the caller answers ERROR, changes nothing outside the
 *    store and tries again on a later request or tick. No caller retries
 *    in a loop.
 *  - Nothing is durable before tp_store_commit() (or, in a batch,
 *    tp_store_batch_commit()) returns 0, and callers act on nothing
 *    before: the audit events, enforcement actions and expiry-schedule
 *    changes a request causes are held until its batch is durable (log.h
 *    tp_audit_hold, lifecycle.h tp_lifecycle_hold) and dropped when it
 *    fails. A backend never calls back into the daemon.
 *  - One caller at a time, from the event loop's thread. Nothing in the
 *    interface keeps a pointer into the caller's memory past the call (every
 *    result is copied out or newly allocated), so calls could later be
 *    made from another thread, one request's at a time, without changing it.
 *
 * Library code: never logs; errors are negative errno values, with the
 * backend's own message available from tp_store_errmsg().
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define TP_REFRESH_HASH_LEN 32
#define TP_BOOT_ID_MAX 37       /* /proc/sys/kernel/random/boot_id: a UUID, 36 characters */

struct tp_session {
        char id[TP_SESSION_ID_MAX];
        char user[TP_USER_MAX];
        uint32_t uid;
        char client[TP_CLIENT_MAX];
        char service[TP_SERVICE_MAX];
        char rhost[TP_RHOST_MAX];
        char tty[TP_TTY_MAX];
        uint32_t leader_pid;
        uint64_t leader_start;   /* leader's start time (/proc/PID/stat field 22) */
        char logind_session[TP_LOGIND_ID_MAX];
        int64_t created;
        int64_t refresh_expires;
        int64_t last_extended;   /* last time the refresh token was (re)issued */
        int64_t last_used;       /* last sign-in, re-auth or refresh */
        int64_t ended;           /* 0 while active */
        uint8_t state;           /* enum tp_session_state */
        uint8_t refresh_hash[TP_REFRESH_HASH_LEN]; /* SHA-256 of the token */
        /* The boot the session was signed in during; "" when not known
         * (recorded before version 5). Its leader pid, start time and
         * logind id mean nothing in any other boot. */
        char boot_id[TP_BOOT_ID_MAX];
        /* The host whose daemon runs it and alone acts on it (fleet mode,
         * store_pg.h); "" in a store of one host (SQLite): this one. */
        char host[TP_HOST_ID_MAX];
};

struct tp_store_filter {
        const char *user;   /* NULL or "": any */
        const char *client; /* NULL or "": any */
        bool all;           /* false: active sessions only */
        const char *host;   /* NULL or "": any; tp_store_list_page() only */
};

#define TP_POLICY_DIGEST_MAX 65 /* SHA-256 in hex */
#define TP_HOST_NAME_MAX 256

/* One host of a fleet, as the store knows it (tp_store_hosts_page). */
struct tp_store_host {
        char id[TP_HOST_ID_MAX];
        char name[TP_HOST_NAME_MAX];          /* its host name */
        int64_t last_seen;                    /* its last heartbeat */
        uint64_t active_sessions;
        char policy_digest[TP_POLICY_DIGEST_MAX]; /* of its effective policy */
        bool policy_differs;                  /* not the digest most hosts have */
};

#define TP_STORE_KEY_TEXT_MAX 64 /* a kid or a JWK "x": 43 base64url characters */

/* A public signing key a host of the fleet publishes (tp_store_fleet_keys). */
struct tp_store_key {
        char host[TP_HOST_ID_MAX];
        char name[TP_HOST_NAME_MAX];      /* the host's name: the "iss" of its tokens */
        char kid[TP_STORE_KEY_TEXT_MAX];
        char x[TP_STORE_KEY_TEXT_MAX];    /* the Ed25519 key, base64url */
        int64_t until;                    /* a retained key's end; 0 for a current key */
};

struct tp_store_list_pos;
struct tp_store_purge_pos;
struct tp_store_cursor;

/* Called for every active session's id and refresh expiry (scan_expiries);
 * a negative return stops the scan and is returned. */
typedef int (*tp_store_expiry_fn)(const char *id, int64_t refresh_expires, void *userdata);

/* Builds the session tp_store_insert_under_cap() is to insert. */
typedef int tp_store_make_fn(void *ctx, struct tp_session *sess);

/* A backend's own state: each backend defines the struct for itself. */
struct tp_store_impl;

/* The operations a backend provides. Each is documented at the call of
 * the same name below (tp_store_<name>). Every member is required. */
struct tp_store_ops {
        void (*close)(struct tp_store_impl *s);
        const char *(*errmsg)(struct tp_store_impl *s);
        int (*begin)(struct tp_store_impl *s);
        int (*commit)(struct tp_store_impl *s);
        int (*commit_unsynced)(struct tp_store_impl *s);
        void (*rollback)(struct tp_store_impl *s);
        void (*batch_start)(struct tp_store_impl *s);
        bool (*batch_pending)(const struct tp_store_impl *s);
        bool (*request_changed)(struct tp_store_impl *s);
        int (*batch_commit)(struct tp_store_impl *s);
        int (*insert)(struct tp_store_impl *s, const struct tp_session *sess);
        int (*get)(struct tp_store_impl *s, const char *id, struct tp_session *ret);
        int (*list_active)(struct tp_store_impl *s, const char *user, const char *client,
                           struct tp_session **ret, size_t *ret_n);
        int (*query)(struct tp_store_impl *s, const struct tp_store_filter *f, size_t offset,
                     size_t limit, struct tp_session **ret, size_t *ret_n, size_t *ret_total);
        int (*end)(struct tp_store_impl *s, const char *id, uint8_t state, int64_t ended);
        /* NULL: tp_store_sign_out() composes begin, end and commit_unsynced. */
        int (*sign_out)(struct tp_store_impl *s, const char *id, uint8_t state, int64_t ended, int64_t uid,
                        struct tp_session *ret);
        /* NULL where a backend has no such shortcut. */
        int (*insert_under_cap)(struct tp_store_impl *s, const char *user, const char *client, size_t room,
                                int64_t now, tp_store_make_fn *make, void *ctx, struct tp_session *sess,
                                bool *ret_inserted);
        int (*reinstate)(struct tp_store_impl *s, const char *id);
        int (*end_held)(struct tp_store_impl *s, const char *id, int64_t ended);
        int (*owe)(struct tp_store_impl *s, const char *id);
        int (*extend)(struct tp_store_impl *s, const char *id, const uint8_t hash[TP_REFRESH_HASH_LEN],
                      int64_t refresh_expires, int64_t now);
        int (*touch)(struct tp_store_impl *s, const char *id, int64_t now);
        int (*count_active)(struct tp_store_impl *s, uint64_t *ret);
        int (*count_leader_shared)(struct tp_store_impl *s, const char *id, uint32_t leader_pid,
                                   uint64_t leader_start, uint64_t *ret);
        int (*list_page)(struct tp_store_impl *s, const struct tp_store_filter *f,
                         const struct tp_store_list_pos *after, size_t limit, size_t budget,
                         struct tp_session **ret, size_t *ret_n, struct tp_store_list_pos *ret_next,
                         bool *ret_more);
        int (*purge_step)(struct tp_store_impl *s, int64_t before, size_t budget,
                          struct tp_store_purge_pos *pos, size_t *ret_deleted);
        int (*adopt_boot)(struct tp_store_impl *s, const char *boot_id, int64_t since, size_t *ret_n);
        int (*other_boot_page)(struct tp_store_impl *s, const char *boot_id, struct tp_store_cursor *cur,
                               size_t limit, struct tp_session **ret, size_t *ret_n);
        int (*boot_checked)(struct tp_store_impl *s, char *out, size_t outsz);
        int (*set_boot_checked)(struct tp_store_impl *s, const char *boot_id);
        int (*active_page)(struct tp_store_impl *s, struct tp_store_cursor *cur, size_t limit,
                           struct tp_session **ret, size_t *ret_n);
        int (*scan_expiries)(struct tp_store_impl *s, tp_store_expiry_fn fn, void *userdata);
        int (*owed_page)(struct tp_store_impl *s, size_t limit, struct tp_session **ret, size_t *ret_n);
        int (*settle)(struct tp_store_impl *s, const char *id);
        int (*wait_fd)(struct tp_store_impl *s, bool *ret_write);
        int (*wakeups)(struct tp_store_impl *s);
        int64_t (*offline_since)(struct tp_store_impl *s, char *why, size_t why_size);
        int (*fleet_status)(struct tp_store_impl *s, uint32_t *ret_hosts);
        int (*hosts_page)(struct tp_store_impl *s, const char *after, size_t limit,
                          struct tp_store_host **ret, size_t *ret_n);
        int (*publish_host)(struct tp_store_impl *s, const char *policy_digest);
        int (*publish_keys)(struct tp_store_impl *s, const struct tp_store_key *keys, size_t n);
        int (*fleet_keys)(struct tp_store_impl *s, struct tp_store_key **ret, size_t *ret_n);
        int (*record_revocation)(struct tp_store_impl *s, const char *user, const char *client, int64_t issued);
        int (*revoked_since)(struct tp_store_impl *s, const char *user, const char *client, int64_t created,
                             int64_t *ret_issued);
        void (*hold_uploads)(struct tp_store_impl *s, bool held);
};

/* What the daemon holds: a backend's operations and its state. */
struct tp_store {
        const struct tp_store_ops *ops;
        struct tp_store_impl *impl;
};

/* Harmless on NULL (a store that was never opened). */
static inline void tp_store_close(struct tp_store *s)
{
        if (s)
                s->ops->close(s->impl);
}

static inline const char *tp_store_errmsg(struct tp_store *s)
{
        return s ? s->ops->errmsg(s->impl) : "session store is not open";
}

/* Open a transaction: -EALREADY when one is open. */
static inline int tp_store_begin(struct tp_store *s)
{
        return s->ops->begin(s->impl);
}

/* Returns once the changes are durable, or, while batching, once they are
 * part of the batch (durable when tp_store_batch_commit() returns). On
 * failure the transaction may still be open: the caller rolls it back.
 * -EINVAL when none is open. */
static inline int tp_store_commit(struct tp_store *s)
{
        return s->ops->commit(s->impl);
}

/* tp_store_commit() for a change that need not survive a crash (a
 * sign-out: a session whose close is lost is found again by its leader's
 * absence and reaped as a ghost). It does not wait for the disk; the next
 * durable commit makes it durable too. A crash of the machine (not of the
 * daemon: the write reached the kernel) before that loses it and nothing
 * else. Where a backend has no cheaper commit it is the same. */
static inline int tp_store_commit_unsynced(struct tp_store *s)
{
        return s->ops->commit_unsynced(s->impl);
}

/* Harmless on NULL and when no transaction is open. */
static inline void tp_store_rollback(struct tp_store *s)
{
        if (s)
                s->ops->rollback(s->impl);
}

/* Group commit: one durable write for many requests. After
 * tp_store_batch_start(), tp_store_begin() opens a request's part of one
 * batch transaction (begun at the first), tp_store_commit() releases it
 * into the batch and tp_store_rollback() undoes that request alone.
 * Nothing is durable, and nothing may be acknowledged or acted on, until
 * tp_store_batch_commit() returns 0; on failure the whole batch is rolled
 * back. Batching ends with tp_store_batch_commit(), which is harmless when
 * nothing was begun. */
static inline void tp_store_batch_start(struct tp_store *s)
{
        s->ops->batch_start(s->impl);
}

/* Whether a batch transaction is open (requests answered since wait). */
static inline bool tp_store_batch_pending(const struct tp_store *s)
{
        return s->ops->batch_pending(s->impl);
}

/* Whether the request handled since the last call released changes into
 * the batch; resets. */
static inline bool tp_store_request_changed(struct tp_store *s)
{
        return s->ops->request_changed(s->impl);
}

static inline int tp_store_batch_commit(struct tp_store *s)
{
        return s->ops->batch_commit(s->impl);
}

static inline int tp_store_insert(struct tp_store *s, const struct tp_session *sess)
{
        return s->ops->insert(s->impl, sess);
}

/* -ENOENT when no session has this id. */
static inline int tp_store_get(struct tp_store *s, const char *id, struct tp_session *ret)
{
        return s->ops->get(s->impl, id, ret);
}

/* The user's active sessions of one client type, oldest first (the cap
 * count at sign-in). *ret is a new array (free()), *ret_n its length. */
static inline int tp_store_list_active(struct tp_store *s, const char *user, const char *client,
                                       struct tp_session **ret, size_t *ret_n)
{
        return s->ops->list_active(s->impl, user, client, ret, ret_n);
}

/* Sessions matching the filter ordered by created then insertion, at most
 * `limit` starting at `offset`; *ret_total is the number matching overall.
 * For a filter with `all` the work grows with the history: revocation uses
 * it for active sessions only, listings use tp_store_list_page(). */
static inline int tp_store_query(struct tp_store *s, const struct tp_store_filter *f, size_t offset,
                                 size_t limit, struct tp_session **ret, size_t *ret_n, size_t *ret_total)
{
        return s->ops->query(s->impl, f, offset, limit, ret, ret_n, ret_total);
}

/* End an active session: state becomes `state` (revoked, expired, closed)
 * and `ended` is set. -ENOENT when absent, -ESTALE when not active. */
static inline int tp_store_end(struct tp_store *s, const char *id, uint8_t state, int64_t ended)
{
        return s->ops->end(s->impl, id, state, ended);
}

/* A sign-out: tp_store_end() in a transaction of its own, committed as
 * tp_store_commit_unsynced() commits (it need not wait for the disk). A
 * fleet's database gets it in one round trip. -EALREADY while a
 * transaction is open; nothing stays open on failure. */
static inline int tp_store_sign_out(struct tp_store *s, const char *id, uint8_t state, int64_t ended)
{
        int r;

        if (s->ops->sign_out)
                return s->ops->sign_out(s->impl, id, state, ended, -1, NULL);
        if ((r = tp_store_begin(s)) < 0)
                return r;
        if ((r = tp_store_end(s, id, state, ended)) < 0 || (r = tp_store_commit_unsynced(s)) < 0)
                tp_store_rollback(s);
        return r;
}

/* tp_store_sign_out() of a session not read first: it ends only when the
 * session is active and, with uid >= 0, that user's, and *ret is the
 * session as it was ended. A fleet's database gets it in the same one
 * round trip (where a caller would otherwise read the session first, in
 * one more). -ENOENT or -ESTALE when it ended nothing (absent, not active,
 * or another user's); -EOPNOTSUPP where the backend has no such call. */
static inline bool tp_store_has_sign_out_returning(const struct tp_store *s)
{
        return s->ops->sign_out != NULL;
}

static inline int tp_store_sign_out_returning(struct tp_store *s, const char *id, int64_t uid, uint8_t state,
                                              int64_t ended, struct tp_session *ret)
{
        if (!s->ops->sign_out)
                return -EOPNOTSUPP;
        return s->ops->sign_out(s->impl, id, state, ended, uid, ret);
}

/* A sign-in that needs nothing but its insert, in a transaction of its
 * own: *sess, built by make(ctx, sess) for this user and client type, is
 * inserted and committed only when the user's active sessions of that
 * type number fewer than `room` and none is past its expiry at `now`,
 * counted where no other sign-in of theirs can change the count before
 * the insert (a fleet's database: under the cap's row lock; one host's
 * store: in its write transaction). Committed means durable, or inside a
 * batch, durable with the batch. *ret_inserted says whether it was; when
 * not, nothing was changed and the caller signs in the usual way. A
 * fleet's database gets it in one round trip, so make is called first;
 * one host's store counts first and calls make only when there is room,
 * so that a sign-in at the cap builds (and signs) nothing it throws
 * away. make returns 0, or a negative errno that is returned as it is
 * with nothing written. -ENOTCONN when the database is away (nothing was
 * sent); any other failure may have come after the commit. -EOPNOTSUPP
 * where the backend has no such shortcut. */
static inline bool tp_store_has_insert_under_cap(const struct tp_store *s)
{
        return s->ops->insert_under_cap != NULL;
}

static inline int tp_store_insert_under_cap(struct tp_store *s, const char *user, const char *client, size_t room,
                                            int64_t now, tp_store_make_fn *make, void *ctx,
                                            struct tp_session *sess, bool *ret_inserted)
{
        *ret_inserted = false;
        if (!s->ops->insert_under_cap)
                return -EOPNOTSUPP;
        return s->ops->insert_under_cap(s->impl, user, client, room, now, make, ctx, sess, ret_inserted);
}

/* An eviction that waits for its sign-in's outcome: revoked at once (the
 * cap holds), but in a fleet the host that runs the session is told only by
 * tp_store_owe(), once the eviction stands, so that a failed sign-in can
 * still undo it. One host: tp_store_end(REVOKED), and owe does nothing. */
static inline int tp_store_end_held(struct tp_store *s, const char *id, int64_t ended)
{
        return s->ops->end_held(s->impl, id, ended);
}

static inline int tp_store_owe(struct tp_store *s, const char *id)
{
        return s->ops->owe(s->impl, id);
}

/* Undo an eviction: a revoked session becomes active again, `ended` 0.
 * -ENOENT when absent, -ESTALE when not revoked. */
static inline int tp_store_reinstate(struct tp_store *s, const char *id)
{
        return s->ops->reinstate(s->impl, id);
}

/* New refresh token (hash and expiry) issued for an active session. */
static inline int tp_store_extend(struct tp_store *s, const char *id, const uint8_t hash[TP_REFRESH_HASH_LEN],
                                  int64_t refresh_expires, int64_t now)
{
        return s->ops->extend(s->impl, id, hash, refresh_expires, now);
}

/* Record use (refresh without rotation). */
static inline int tp_store_touch(struct tp_store *s, const char *id, int64_t now)
{
        return s->ops->touch(s->impl, id, now);
}

static inline int tp_store_count_active(struct tp_store *s, uint64_t *ret)
{
        return s->ops->count_active(s->impl, ret);
}

/* How many active sessions other than `id` have the same leader (pid and
 * start time): a process that opened sessions for several users, such as
 * a PAM gateway. 0 when no leader is recorded (pid or start time 0). */
static inline int tp_store_count_leader_shared(struct tp_store *s, const char *id, uint32_t leader_pid,
                                               uint64_t leader_start, uint64_t *ret)
{
        return s->ops->count_leader_shared(s->impl, id, leader_pid, leader_start, ret);
}

/* ---- listings, a page at a time ---------------------------------------- */

/* A position in a listing. Sessions are listed by state (active, then
 * revoked, expired, closed), then creation time, then insertion order
 * (seq): an order the indexes serve as it is, for one user and for
 * everyone, so a page costs the same at any depth of any history. */
struct tp_store_list_pos {
        uint8_t state;
        int64_t created;
        int64_t seq;
};

/* Up to `limit` sessions matching f (NULL: every active session) after
 * `after` (NULL: from the start), looking at no more than `budget`
 * sessions to find them, so that a filter few sessions match costs no
 * more than one that all do. *ret_next is the last session looked at,
 * *ret_more whether any follow it: the page may be short, even empty,
 * while more follow. *ret is a new array (free()), NULL when empty. */
static inline int tp_store_list_page(struct tp_store *s, const struct tp_store_filter *f,
                                     const struct tp_store_list_pos *after, size_t limit, size_t budget,
                                     struct tp_session **ret, size_t *ret_n,
                                     struct tp_store_list_pos *ret_next, bool *ret_more)
{
        return s->ops->list_page(s->impl, f, after, limit, budget, ret, ret_n, ret_next, ret_more);
}

/* ---- history retention ------------------------------------------------- */

/* Where a purge pass over the ended sessions stands. */
struct tp_store_purge_pos {
        uint8_t state;   /* 0: at the start of a pass */
        int64_t created;
        int64_t rowid;
};

/* One step of a pass deleting the sessions that ended before `before`:
 * looks at up to `budget` ended sessions created before it (only they can
 * have ended before it), after *pos, deletes those that did, and advances
 * *pos. Run it inside a transaction. Returns 1 while the pass goes on, 0
 * once it is complete (*pos is back at the start), or a negative errno.
 * *ret_deleted counts the sessions deleted. */
static inline int tp_store_purge_step(struct tp_store *s, int64_t before, size_t budget,
                                      struct tp_store_purge_pos *pos, size_t *ret_deleted)
{
        return s->ops->purge_step(s->impl, before, budget, pos, ret_deleted);
}

/* ---- passes over the active sessions ------------------------------------ */

/* A pass over every active session, a page at a time, in creation order.
 * Start with TP_STORE_CURSOR_START; each call returns up to `limit`
 * sessions after the cursor and advances it, back to the start after the
 * last page. *ret is a new array to free, NULL when there are none. */
struct tp_store_cursor {
        int64_t created;
        int64_t rowid;
};
#define TP_STORE_CURSOR_START ((struct tp_store_cursor){ INT64_MIN, 0 })
static inline int tp_store_active_page(struct tp_store *s, struct tp_store_cursor *cur, size_t limit,
                                       struct tp_session **ret, size_t *ret_n)
{
        return s->ops->active_page(s->impl, cur, limit, ret, ret_n);
}

/* Call fn for every active session's id and refresh expiry, in no
 * particular order, without building a list (the expiry schedule is
 * rebuilt from this at start). */
static inline int tp_store_scan_expiries(struct tp_store *s, tp_store_expiry_fn fn, void *userdata)
{
        return s->ops->scan_expiries(s->impl, fn, userdata);
}

/* ---- boots ------------------------------------------------------------- */

/* Active sessions recorded before the store knew boots (boot_id "") and
 * signed in at or after `since` (when this boot began) were signed in
 * during this boot: record `boot_id` for them. Run it inside a
 * transaction. *ret_n counts them. */
static inline int tp_store_adopt_boot(struct tp_store *s, const char *boot_id, int64_t since, size_t *ret_n)
{
        return s->ops->adopt_boot(s->impl, boot_id, since, ret_n);
}

/* A page of active sessions recorded in a boot other than boot_id, in
 * creation order after *cur (TP_STORE_CURSOR_START first), which advances;
 * a short page is the last. *ret is a new array, NULL when empty. */
static inline int tp_store_other_boot_page(struct tp_store *s, const char *boot_id,
                                           struct tp_store_cursor *cur, size_t limit,
                                           struct tp_session **ret, size_t *ret_n)
{
        return s->ops->other_boot_page(s->impl, boot_id, cur, limit, ret, ret_n);
}

/* The boot in which every active session of other boots was last closed
 * (the daemon's start-up pass), "" when never; and recording it (inside a
 * transaction). Sessions signed in since all carry that boot, so while it
 * is the running one there is nothing to look for. */
static inline int tp_store_boot_checked(struct tp_store *s, char *out, size_t outsz)
{
        return s->ops->boot_checked(s->impl, out, outsz);
}

static inline int tp_store_set_boot_checked(struct tp_store *s, const char *boot_id)
{
        return s->ops->set_boot_checked(s->impl, boot_id);
}

/* ---- a store shared by several hosts (fleet mode) ------------------------ */

/* Sessions of this host that another host ended (an eviction by a
 * sign-in there, a revocation sent to it): their state says so, and this
 * host alone applies on_revoke or on_expiry to them. Up to `limit`,
 * oldest end first; *ret a new array, NULL when none. A store of one host
 * has none. */
static inline int tp_store_owed_page(struct tp_store *s, size_t limit, struct tp_session **ret,
                                     size_t *ret_n)
{
        return s->ops->owed_page(s->impl, limit, ret, ret_n);
}

/* This host has applied what it owed a session (tp_store_owed_page). */
static inline int tp_store_settle(struct tp_store *s, const char *id)
{
        return s->ops->settle(s->impl, id);
}

/* A descriptor for the event loop to poll: readable when another host
 * may have ended one of this host's sessions, or, while a connection is
 * being made, ready for what *ret_write says (true: writing, false:
 * reading); -1 when there is none (one host, or offline between
 * attempts). */
static inline int tp_store_wait_fd(struct tp_store *s, bool *ret_write)
{
        return s->ops->wait_fd(s->impl, ret_write);
}

/* Call when the descriptor is ready, and about once a second besides:
 * reads what woke it, and while offline makes a new connection, a step
 * at a time, never blocking for long. > 0 when this host may owe
 * something (call tp_store_owed_page()), which includes "the connection
 * was made again" (what was said meanwhile is lost); 0 when not; a
 * negative errno while offline. */
static inline int tp_store_wakeups(struct tp_store *s)
{
        return s->ops->wakeups(s->impl);
}

/* Since when (wall clock seconds) the store cannot reach its database, 0
 * while it can (always for a store of one host); why says what the last
 * failure was. Calls made meanwhile fail at once with -ENOTCONN. */
static inline int64_t tp_store_offline_since(struct tp_store *s, char *why, size_t why_size)
{
        return s->ops->offline_since(s->impl, why, why_size);
}

/* Whether the store answers now (0) or why not, and how many hosts it
 * knows (1 for a store of one host). */
static inline int tp_store_fleet_status(struct tp_store *s, uint32_t *ret_hosts)
{
        return s->ops->fleet_status(s->impl, ret_hosts);
}

/* Up to `limit` hosts of the fleet in id order after `after` ("" from the
 * start); *ret a new array, NULL when none. -EOPNOTSUPP for a store of
 * one host. */
static inline int tp_store_hosts_page(struct tp_store *s, const char *after, size_t limit,
                                      struct tp_store_host **ret, size_t *ret_n)
{
        return s->ops->hosts_page(s->impl, after, limit, ret, ret_n);
}

/* Record this host's effective policy digest for the other hosts.
 * Harmless for a store of one host. */
static inline int tp_store_publish_host(struct tp_store *s, const char *policy_digest)
{
        return s->ops->publish_host(s->impl, policy_digest);
}

/* Replace the public keys this host publishes to the fleet (its current
 * key and the retained ones still in force; host and name are ignored).
 * Harmless for a store of one host. */
static inline int tp_store_publish_keys(struct tp_store *s, const struct tp_store_key *keys, size_t n)
{
        return s->ops->publish_keys(s->impl, keys, n);
}

/* The public keys of every host of the fleet (*ret a new array, NULL when
 * none). None for a store of one host. */
static inline int tp_store_fleet_keys(struct tp_store *s, struct tp_store_key **ret, size_t *ret_n)
{
        return s->ops->fleet_keys(s->impl, ret, ret_n);
}

/* A revocation by filter (a user, a client type, or both; "" for any) was
 * issued at `issued`: kept so that a session another host signed in while
 * it could not reach the store, and uploads later, is revoked too when it
 * began before. Harmless for a store of one host. */
static inline int tp_store_record_revocation(struct tp_store *s, const char *user, const char *client,
                                             int64_t issued)
{
        return s->ops->record_revocation(s->impl, user, client, issued);
}

/* Whether a revocation recorded by tp_store_record_revocation() covers a
 * session of `user` and `client` that began at `created`: 1 (with when it
 * was issued, the earliest such) or 0. 2 when it cannot be known: the
 * session began before revocations the store no longer keeps (see
 * tp_store_hold_uploads); *ret_issued is then the last of those. Always 0
 * for a store of one host. */
static inline int tp_store_revoked_since(struct tp_store *s, const char *user, const char *client,
                                         int64_t created, int64_t *ret_issued)
{
        return s->ops->revoked_since(s->impl, user, client, created, ret_issued);
}

/* Whether this host holds sessions the store has not got yet (signed in
 * while it could not be reached, not yet uploaded). A shared store keeps
 * every revocation by filter until each host that may upload such a
 * session has said, by holding none, that it has checked its own against
 * them: then they are dropped. Until the first call a store assumes it
 * does. Harmless for a store of one host. */
static inline void tp_store_hold_uploads(struct tp_store *s, bool held)
{
        s->ops->hold_uploads(s->impl, held);
}
