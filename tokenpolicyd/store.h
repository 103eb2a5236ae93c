/* store.h: the durable session store (SQLite, WAL).
 *
 * The only module that includes SQLite. Every mutation happens inside a
 * transaction the caller opens with tp_store_begin() and ends with
 * tp_store_commit(); commit returns only once the data is durable
 * (synchronous=FULL), so the daemon acknowledges nothing before it is on
 * disk. The schema carries a version (PRAGMA user_version); opening a store
 * written by a newer version fails rather than guessing.
 *
 * Kept behind this interface so a shared backend can replace it later.
 * Library code: never logs; errors are negative errno values, with the
 * SQLite message available from tp_store_errmsg().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define TP_STORE_SCHEMA_VERSION 6
#define TP_REFRESH_HASH_LEN 32
#define TP_BOOT_ID_MAX 37       /* /proc/sys/kernel/random/boot_id: a UUID, 36 characters */

struct tp_store;

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
};

struct tp_store_filter {
        const char *user;   /* NULL or "": any */
        const char *client; /* NULL or "": any */
        bool all;           /* false: active sessions only */
};

/* Open or create the store at path (file mode 0600), apply the schema,
 * enable WAL. -EPROTO when the file's schema version is newer than ours.
 * A new store is built under another name and linked into place whole, so
 * an empty file at path was never a store of ours that had just begun: it
 * is refused with -ENODATA (what it held is lost) rather than taken for a
 * fresh store. */
int tp_store_open(const char *path, struct tp_store **ret);
void tp_store_close(struct tp_store *s);
const char *tp_store_errmsg(struct tp_store *s);

int tp_store_begin(struct tp_store *s);
int tp_store_commit(struct tp_store *s);
void tp_store_rollback(struct tp_store *s);

/* Group commit: one fsync for many requests. After tp_store_batch_start(),
 * tp_store_begin() opens a savepoint inside one batch transaction (begun
 * at the first), tp_store_commit() releases it into the batch and
 * tp_store_rollback() undoes that request alone. Nothing is durable, and
 * nothing may be acknowledged or acted on, until tp_store_batch_commit()
 * returns 0; on failure the whole batch is rolled back. Batching ends with
 * tp_store_batch_commit(), which is harmless when nothing was begun. */
void tp_store_batch_start(struct tp_store *s);
/* Whether a batch transaction is open (requests answered since wait). */
bool tp_store_batch_pending(const struct tp_store *s);
/* Whether the request handled since the last call released changes into
 * the batch; resets. */
bool tp_store_request_changed(struct tp_store *s);
int tp_store_batch_commit(struct tp_store *s);

int tp_store_insert(struct tp_store *s, const struct tp_session *sess);

/* -ENOENT when no session has this id. */
int tp_store_get(struct tp_store *s, const char *id, struct tp_session *ret);

/* The user's active sessions of one client type, oldest first. *ret is a
 * new array (free()), *ret_n its length. */
int tp_store_list_active(struct tp_store *s, const char *user, const char *client,
                         struct tp_session **ret, size_t *ret_n);

/* Sessions matching the filter ordered by created then insertion, at most
 * `limit` starting at `offset`; *ret_total is the number matching overall.
 * For a filter with `all` the work grows with the history: revocation uses
 * it for active sessions only, listings use tp_store_list_page(). */
int tp_store_query(struct tp_store *s, const struct tp_store_filter *f, size_t offset,
                   size_t limit, struct tp_session **ret, size_t *ret_n, size_t *ret_total);

/* End an active session: state becomes `state` (revoked, expired, closed)
 * and `ended` is set. -ENOENT when absent, -ESTALE when not active. */
int tp_store_end(struct tp_store *s, const char *id, uint8_t state, int64_t ended);

/* New refresh token (hash and expiry) issued for an active session. */
int tp_store_extend(struct tp_store *s, const char *id, const uint8_t hash[TP_REFRESH_HASH_LEN],
                    int64_t refresh_expires, int64_t now);

/* Record use (refresh without rotation). */
int tp_store_touch(struct tp_store *s, const char *id, int64_t now);

int tp_store_count_active(struct tp_store *s, uint64_t *ret);

/* How many active sessions other than `id` have the same leader (pid and
 * start time): a process that opened sessions for several users, such as
 * a PAM gateway. 0 when no leader is recorded (pid or start time 0). */
int tp_store_count_leader_shared(struct tp_store *s, const char *id, uint32_t leader_pid,
                                 uint64_t leader_start, uint64_t *ret);

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
int tp_store_list_page(struct tp_store *s, const struct tp_store_filter *f,
                       const struct tp_store_list_pos *after, size_t limit, size_t budget,
                       struct tp_session **ret, size_t *ret_n, struct tp_store_list_pos *ret_next,
                       bool *ret_more);

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
int tp_store_purge_step(struct tp_store *s, int64_t before, size_t budget,
                        struct tp_store_purge_pos *pos, size_t *ret_deleted);

/* ---- boots ------------------------------------------------------------- */

/* Active sessions recorded before the store knew boots (boot_id "") and
 * signed in at or after `since` (when this boot began) were signed in
 * during this boot: record `boot_id` for them. Run it inside a
 * transaction. *ret_n counts them. */
int tp_store_adopt_boot(struct tp_store *s, const char *boot_id, int64_t since, size_t *ret_n);

/* A page of active sessions recorded in a boot other than boot_id, in
 * creation order after *cur (TP_STORE_CURSOR_START first), which advances;
 * a short page is the last. *ret is a new array, NULL when empty. */
struct tp_store_cursor;
int tp_store_other_boot_page(struct tp_store *s, const char *boot_id,
                             struct tp_store_cursor *cur, size_t limit,
                             struct tp_session **ret, size_t *ret_n);

/* The boot in which every active session of other boots was last closed
 * (the daemon's start-up pass), "" when never; and recording it (inside a
 * transaction). Sessions signed in since all carry that boot, so while it
 * is the running one there is nothing to look for. */
int tp_store_boot_checked(struct tp_store *s, char *out, size_t outsz);
int tp_store_set_boot_checked(struct tp_store *s, const char *boot_id);

/* ---- diagnostics ------------------------------------------------------- */

enum tp_store_plan {
        TP_STORE_PLAN_LIST_USER,        /* a user's active sessions */
        TP_STORE_PLAN_LIST_USER_ALL,    /* ... with their history */
        TP_STORE_PLAN_LIST_EVERYONE,    /* every active session */
        TP_STORE_PLAN_LIST_EVERYONE_ALL,
        TP_STORE_PLAN_LIST_ACTIVE,      /* the cap count at sign-in */
        TP_STORE_PLAN_PURGE,
        TP_STORE_PLAN_OTHER_BOOT,
        TP_STORE_PLAN_MAX_ = TP_STORE_PLAN_OTHER_BOOT,
};

/* SQLite's plan for one statement (EXPLAIN QUERY PLAN, its lines joined
 * with "; "), so tests can prove an index serves it without a sort. */
int tp_store_explain(struct tp_store *s, enum tp_store_plan which, char *out, size_t outsz);

/* A pass over every active session, a page at a time, in creation order.
 * Start with TP_STORE_CURSOR_START; each call returns up to `limit`
 * sessions after the cursor and advances it, back to the start after the
 * last page. *ret is a new array to free, NULL when there are none. */
struct tp_store_cursor {
        int64_t created;
        int64_t rowid;
};
#define TP_STORE_CURSOR_START ((struct tp_store_cursor){ INT64_MIN, 0 })
int tp_store_active_page(struct tp_store *s, struct tp_store_cursor *cur, size_t limit,
                         struct tp_session **ret, size_t *ret_n);

/* Call fn for every active session's id and refresh expiry, in no
 * particular order, without building a list (the expiry schedule is
 * rebuilt from this at start). A negative return from fn stops the scan
 * and is returned. */
typedef int (*tp_store_expiry_fn)(const char *id, int64_t refresh_expires, void *userdata);
int tp_store_scan_expiries(struct tp_store *s, tp_store_expiry_fn fn, void *userdata);
