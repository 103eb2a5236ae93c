/* SPDX-License-Identifier: BSD-3-Clause */
/* store.c: the durable session store, one SQLite database in WAL mode.
 *
 * Owns the database file, its schema and every SQL statement; no other
 * module includes SQLite. It must never log, never acknowledge a write
 * before the WAL holding it is synced, never touch a file whose
 * schema is newer than ours, and never copy a row into a fixed field
 * without first proving that it fits (a damaged or hand-edited file reads
 * back as -EIO, not as an overflow).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store_sqlite.h"
#include "store_wal.h"

#ifndef SQLITE_OPEN_NOFOLLOW
#define SQLITE_OPEN_NOFOLLOW 0
#endif

/* Long enough to ride out another connection's checkpoint, short enough
 * to answer -EBUSY before the PAM module's default 3 s timeout fires. */
#define STORE_BUSY_TIMEOUT_MS 2000
/* synchronous=NORMAL: SQLite syncs the WAL at checkpoints only, and the
 * store syncs it itself after every commit that must be durable (all but
 * tp_store_commit_unsynced()), so a commit that need not wait for the disk
 * does not. Either way a crash leaves a consistent file: WAL frames carry
 * checksums and recovery stops at the last whole transaction. */
#define STORE_SYNCHRONOUS_NORMAL 1
/* SQLite copies the WAL back into the database (a checkpoint, with a sync
 * of each file) in the commit that takes it past this many pages, and the
 * next transaction writes the WAL again from its start. A sign-in and its
 * sign-out write about 11 pages: at SQLite's default of 1,000, one PAM
 * transaction in ninety paid for a checkpoint, which set the p99; at
 * 4,000 it is one in 360, each hot page is copied back a quarter as often,
 * and the WAL stays at about 16 MiB (measured, by turns: the transaction's
 * p99 0.76-0.88x; its p50 about 3% higher while a new WAL first grows,
 * since a sync of a growing file also journals its size). */
#define STORE_CHECKPOINT_PAGES 4000

#define SESSION_COLUMNS                                                       \
        "id, user, uid, client, service, rhost, tty, leader_pid, "           \
        "logind_session, created, refresh_expires, last_extended, "          \
        "last_used, ended, state, refresh_hash, leader_start, boot_id"

enum session_column {
        COL_ID,
        COL_USER,
        COL_UID,
        COL_CLIENT,
        COL_SERVICE,
        COL_RHOST,
        COL_TTY,
        COL_LEADER_PID,
        COL_LOGIND_SESSION,
        COL_CREATED,
        COL_REFRESH_EXPIRES,
        COL_LAST_EXTENDED,
        COL_LAST_USED,
        COL_ENDED,
        COL_STATE,
        COL_REFRESH_HASH,
        COL_LEADER_START,
        COL_BOOT_ID,
        COL_COUNT_,     /* a statement that wants the rowid selects it here */
};

static const char schema_v1[] =
        "CREATE TABLE sessions ("
        " id TEXT PRIMARY KEY,"
        " user TEXT NOT NULL,"
        " uid INTEGER NOT NULL,"
        " client TEXT NOT NULL,"
        " service TEXT NOT NULL,"
        " rhost TEXT NOT NULL,"
        " tty TEXT NOT NULL,"
        " leader_pid INTEGER NOT NULL,"
        " logind_session TEXT NOT NULL,"
        " created INTEGER NOT NULL,"
        " refresh_expires INTEGER NOT NULL,"
        " last_extended INTEGER NOT NULL,"
        " last_used INTEGER NOT NULL,"
        " ended INTEGER NOT NULL DEFAULT 0,"
        " state INTEGER NOT NULL CHECK(state BETWEEN 0 AND 3),"
        " refresh_hash BLOB NOT NULL CHECK(length(refresh_hash) = 32));"
        "CREATE INDEX sessions_user_client_state ON sessions(user, client, state);"
        "CREATE INDEX sessions_state_expires ON sessions(state, refresh_expires);"
        /* Serves list_active and per-user listings in order, without a sort;
         * ties within one second go by insertion order (the implicit rowid). */
        "CREATE INDEX sessions_active_by_user ON sessions(user, client, created)"
        " WHERE state = 0;"
        "PRAGMA user_version = 1;";

/* v2: the leader's start time, so a reused pid is never taken for it. */
static const char schema_v1_to_v2[] =
        "ALTER TABLE sessions ADD COLUMN leader_start INTEGER NOT NULL DEFAULT 0;"
        "PRAGMA user_version = 2;";

/* v3: listings by user, and of everyone, in creation order without a scan
 * or a sort of every session (SQLite's planner, without statistics, would
 * otherwise walk every active session for one user's page). */
static const char schema_v2_to_v3[] =
        "CREATE INDEX sessions_user_state_created ON sessions(user, state, created);"
        "CREATE INDEX sessions_state_created ON sessions(state, created);"
        "PRAGMA user_version = 3;";

/* v4: every index is written by every sign-in and sign-out, and each one
 * is a page in the commit. These three answer nothing the v3 indexes do
 * not (SQLite's planner chose those for every statement), so they go. */
static const char schema_v3_to_v4[] =
        "DROP INDEX IF EXISTS sessions_user_client_state;"
        "DROP INDEX IF EXISTS sessions_state_expires;"
        "DROP INDEX IF EXISTS sessions_active_by_user;"
        "PRAGMA user_version = 4;";

/* v5: the boot each session was signed in during, so that nothing of an
 * earlier boot (a logind id, a pid and start time) is ever taken for
 * something of this one; and, in `meta`, the boot whose start-up pass
 * closed every session of the others, so a restart in the same boot need
 * not look again. No index: the listings and the purge of ended sessions
 * are served by the v3 indexes, in an order chosen for that. */
static const char schema_v4_to_v5[] =
        "ALTER TABLE sessions ADD COLUMN boot_id TEXT NOT NULL DEFAULT '';"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
        "PRAGMA user_version = 5;";

/* v6: "does another active session share this leader?" (enforcement must
 * not signal a process that leads other sessions) answered with a seek
 * instead of a walk over every active session (160 ms at a million).
 * IF NOT EXISTS: a store may hold it from before it was numbered. */
static const char schema_v5_to_v6[] =
        "CREATE INDEX IF NOT EXISTS sessions_active_leader"
        " ON sessions(leader_pid, leader_start) WHERE state = 0;"
        "PRAGMA user_version = 6;";

enum store_stmt {
        STMT_BEGIN_IMMEDIATE,
        STMT_BEGIN_READ,
        STMT_COMMIT,
        STMT_ROLLBACK,
        STMT_SAVEPOINT,
        STMT_RELEASE,
        STMT_ROLLBACK_TO,
        STMT_INSERT,
        STMT_CAP_ROOM,
        STMT_GET,
        STMT_EXISTS,
        STMT_LIST_ACTIVE,
        STMT_END,
        STMT_EXTEND,
        STMT_TOUCH,
        STMT_COUNT_ACTIVE,
        STMT_SCAN_EXPIRIES,
        STMT_ACTIVE_PAGE,
        STMT_LEADER_SHARED,
        STMT_LIST_USER,
        STMT_LIST_USER_ALL,
        STMT_LIST_EVERYONE_ALL,
        STMT_PURGE_SCAN,
        STMT_PURGE_DELETE,
        STMT_ADOPT_BOOT,
        STMT_OTHER_BOOT,
        STMT_GET_BOOT_CHECKED,
        STMT_SET_BOOT_CHECKED,
        STMT_REINSTATE,
        STMT_MAX_,
};

static const char *const stmt_sql[STMT_MAX_] = {
        [STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
        [STMT_BEGIN_READ] = "BEGIN DEFERRED",
        [STMT_COMMIT] = "COMMIT",
        [STMT_ROLLBACK] = "ROLLBACK",
        [STMT_SAVEPOINT] = "SAVEPOINT request",
        [STMT_RELEASE] = "RELEASE request",
        [STMT_ROLLBACK_TO] = "ROLLBACK TO request",
        [STMT_INSERT] = "INSERT INTO sessions (" SESSION_COLUMNS ") "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        /* Whether a sign-in needs nothing but its row (tp_store_insert_under_cap):
         * fewer than ?1 active sessions of the user and client type, none
         * past its expiry at ?2. A seek on sessions_user_state_created, as
         * the listing of them is. (One INSERT ... SELECT would make SQLite
         * copy the row into a temporary table first, since it reads the
         * table it writes: slower than the two statements.) */
        [STMT_CAP_ROOM] = "SELECT count(*) < ?1 AND NOT coalesce(max(refresh_expires <= ?2), 0) "
                          "FROM sessions WHERE user = ?3 AND client = ?4 AND state = 0",
        [STMT_GET] = "SELECT " SESSION_COLUMNS " FROM sessions WHERE id = ?",
        [STMT_EXISTS] = "SELECT 1 FROM sessions WHERE id = ?",
        [STMT_LIST_ACTIVE] = "SELECT " SESSION_COLUMNS " FROM sessions "
                             "WHERE user = ? AND client = ? AND state = 0 "
                             "ORDER BY created, rowid",
        [STMT_END] = "UPDATE sessions SET state = ?, ended = ? WHERE id = ? AND state = 0",
        [STMT_EXTEND] = "UPDATE sessions SET refresh_hash = ?, refresh_expires = ?, "
                        "last_extended = ?, last_used = ? WHERE id = ? AND state = 0",
        [STMT_TOUCH] = "UPDATE sessions SET last_used = ? WHERE id = ? AND state = 0",
        [STMT_COUNT_ACTIVE] = "SELECT count(*) FROM sessions WHERE state = 0",
        [STMT_SCAN_EXPIRIES] = "SELECT id, refresh_expires FROM sessions WHERE state = 0",
        /* A seek on sessions_state_created, whatever the number of ended rows.
         * Also every active session for a listing. */
        [STMT_ACTIVE_PAGE] = "SELECT " SESSION_COLUMNS ", rowid FROM sessions "
                             "WHERE state = 0 AND (created, rowid) > (?, ?) "
                             "ORDER BY created, rowid LIMIT ?",
        /* A seek on sessions_active_leader. */
        [STMT_LEADER_SHARED] = "SELECT count(*) FROM sessions WHERE state = 0 "
                               "AND leader_pid = ? AND leader_start = ? AND id <> ?",
        /* Listings (tp_store_list_page): each a seek on a v3 index that
         * yields rows in the listing's order, so no sort and no scan of
         * what comes before the cursor. The state is the first ordering
         * column because both indexes have it before `created`. */
        [STMT_LIST_USER] = "SELECT " SESSION_COLUMNS ", rowid FROM sessions "
                           "WHERE user = ? AND state = 0 AND (created, rowid) > (?, ?) "
                           "ORDER BY created, rowid LIMIT ?",
        [STMT_LIST_USER_ALL] = "SELECT " SESSION_COLUMNS ", rowid FROM sessions "
                               "WHERE user = ? AND (state, created, rowid) > (?, ?, ?) "
                               "ORDER BY state, created, rowid LIMIT ?",
        [STMT_LIST_EVERYONE_ALL] = "SELECT " SESSION_COLUMNS ", rowid FROM sessions "
                                   "WHERE (state, created, rowid) > (?, ?, ?) "
                                   "ORDER BY state, created, rowid LIMIT ?",
        /* One ended state at a time, bounded on both sides: a session
         * cannot have ended before it was created (a clock set back delays
         * its purge until `before` passes its creation). */
        [STMT_PURGE_SCAN] = "SELECT rowid, created, ended FROM sessions "
                            "WHERE state = ? AND (created, rowid) > (?, ?) AND created < ? "
                            "ORDER BY created, rowid LIMIT ?",
        [STMT_PURGE_DELETE] = "DELETE FROM sessions WHERE rowid = ? AND state != 0",
        [STMT_ADOPT_BOOT] = "UPDATE sessions SET boot_id = ? "
                            "WHERE state = 0 AND boot_id = '' AND created >= ?",
        [STMT_OTHER_BOOT] = "SELECT " SESSION_COLUMNS ", rowid FROM sessions "
                            "WHERE state = 0 AND boot_id != ? AND (created, rowid) > (?, ?) "
                            "ORDER BY created, rowid LIMIT ?",
        [STMT_GET_BOOT_CHECKED] = "SELECT value FROM meta WHERE key = 'boot_checked'",
        [STMT_SET_BOOT_CHECKED] = "INSERT OR REPLACE INTO meta (key, value) VALUES ('boot_checked', ?)",
        [STMT_REINSTATE] = "UPDATE sessions SET state = 0, ended = 0 WHERE id = ? AND state = 1",
};

/* sqlite_query() runs one of eight statement pairs, chosen by which
 * filters are set, so that each has a plain WHERE clause the planner can
 * match to an index, where "(? IS NULL OR user = ?)" would defeat it. */
#define QUERY_BY_USER 0x1u
#define QUERY_BY_CLIENT 0x2u
#define QUERY_ALL_STATES 0x4u
#define QUERY_VARIANTS 8u

struct tp_store_impl {
        struct tp_store pub;  /* what callers hold (store.h) */
        sqlite3 *db;
        sqlite3_stmt *stmt[STMT_MAX_];
        sqlite3_stmt *query_rows[QUERY_VARIANTS];
        sqlite3_stmt *query_count[QUERY_VARIANTS];
        char errmsg[256];
        /* Group commit (tp_store_batch_*): */
        bool batching;        /* transactions nest inside one batch */
        bool batch_open;      /* BEGIN IMMEDIATE done, COMMIT not yet */
        bool batch_broken;    /* SQLite rolled the batch back after an error */
        bool in_request;      /* a request's savepoint is open */
        bool batch_sync;      /* some part of the batch must be durable */
        bool request_changed; /* a request's savepoint was released */
};

static int errno_from_sqlite(int rc)
{
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_CONSTRAINT:
                if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
                        return -EEXIST;
                return -EINVAL;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_TOOBIG:
        case SQLITE_RANGE:
        case SQLITE_MISMATCH:
                return -EINVAL;
        case SQLITE_READONLY:
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        default: /* CORRUPT, NOTADB, IOERR, PROTOCOL, ... */
                return -EIO;
        }
}

/* Records SQLite's own message while it still describes this failure. */
static int store_sqlite_error(struct tp_store_impl *s, int rc)
{
        snprintf(s->errmsg, sizeof s->errmsg, "%s", sqlite3_errmsg(s->db));
        return errno_from_sqlite(rc);
}

static int store_error(struct tp_store_impl *s, int r, const char *msg)
{
        snprintf(s->errmsg, sizeof s->errmsg, "%s", msg);
        return r;
}

static void stmt_release(sqlite3_stmt *st)
{
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
}

/* Run a statement that yields no rows. */
static int stmt_exec(struct tp_store_impl *s, sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);
        int r = 0;

        if (rc == SQLITE_ROW)
                r = store_error(s, -EIO, "statement unexpectedly returned rows");
        else if (rc != SQLITE_DONE)
                r = store_sqlite_error(s, rc);
        stmt_release(st);
        return r;
}

/* A fixed field must carry its NUL inside the field; refuse it otherwise
 * rather than read past the end. */
static int bind_field(struct tp_store_impl *s, sqlite3_stmt *st, int idx, const char *field,
                      size_t size, const char *name)
{
        size_t n = strnlen(field, size);
        int rc;

        if (n >= size) {
                snprintf(s->errmsg, sizeof s->errmsg, "session field %s is not terminated", name);
                return -EINVAL;
        }
        rc = sqlite3_bind_text(st, idx, field, (int) n, SQLITE_STATIC);
        return rc == SQLITE_OK ? 0 : store_sqlite_error(s, rc);
}

static int bind_string(struct tp_store_impl *s, sqlite3_stmt *st, int idx, const char *str)
{
        size_t n = strlen(str);
        int rc;

        if (n > INT_MAX)
                return store_error(s, -EINVAL, "string argument too long");
        rc = sqlite3_bind_text(st, idx, str, (int) n, SQLITE_STATIC);
        return rc == SQLITE_OK ? 0 : store_sqlite_error(s, rc);
}

static int bind_int64(struct tp_store_impl *s, sqlite3_stmt *st, int idx, int64_t v)
{
        int rc = sqlite3_bind_int64(st, idx, v);
        return rc == SQLITE_OK ? 0 : store_sqlite_error(s, rc);
}

static int bind_size(struct tp_store_impl *s, sqlite3_stmt *st, int idx, size_t v)
{
        /* LIMIT -1 means "no limit" to SQLite: never let a huge size wrap. */
        return bind_int64(s, st, idx, v > (size_t) INT64_MAX ? INT64_MAX : (int64_t) v);
}

static int bind_hash(struct tp_store_impl *s, sqlite3_stmt *st, int idx,
                     const uint8_t hash[TP_REFRESH_HASH_LEN])
{
        int rc = sqlite3_bind_blob(st, idx, hash, TP_REFRESH_HASH_LEN, SQLITE_STATIC);
        return rc == SQLITE_OK ? 0 : store_sqlite_error(s, rc);
}

static int corrupt_column(struct tp_store_impl *s, sqlite3_stmt *st, int col)
{
        snprintf(s->errmsg, sizeof s->errmsg, "corrupt row in sessions: column %s is invalid",
                 sqlite3_column_name(st, col));
        return -EIO;
}

static int column_text(struct tp_store_impl *s, sqlite3_stmt *st, int col, char *dst, size_t size)
{
        const unsigned char *text;
        int n;

        if (sqlite3_column_type(st, col) != SQLITE_TEXT)
                return corrupt_column(s, st, col);
        text = sqlite3_column_text(st, col);
        if (!text)
                return store_sqlite_error(s, sqlite3_errcode(s->db));
        n = sqlite3_column_bytes(st, col);
        if (n < 0 || (size_t) n >= size || memchr(text, '\0', (size_t) n))
                return corrupt_column(s, st, col);
        memcpy(dst, text, (size_t) n);
        dst[n] = '\0';
        return 0;
}

static int column_int(struct tp_store_impl *s, sqlite3_stmt *st, int col, int64_t min, int64_t max,
                      int64_t *ret)
{
        int64_t v;

        if (sqlite3_column_type(st, col) != SQLITE_INTEGER)
                return corrupt_column(s, st, col);
        v = sqlite3_column_int64(st, col);
        if (v < min || v > max)
                return corrupt_column(s, st, col);
        *ret = v;
        return 0;
}

static int session_from_row(struct tp_store_impl *s, sqlite3_stmt *st, struct tp_session *ret)
{
        struct tp_session sess;
        int64_t uid, pid, state, start;
        const void *hash;
        int r;

        memset(&sess, 0, sizeof sess);
        if ((r = column_text(s, st, COL_ID, sess.id, sizeof sess.id)) < 0 ||
            (r = column_text(s, st, COL_USER, sess.user, sizeof sess.user)) < 0 ||
            (r = column_int(s, st, COL_UID, 0, UINT32_MAX, &uid)) < 0 ||
            (r = column_text(s, st, COL_CLIENT, sess.client, sizeof sess.client)) < 0 ||
            (r = column_text(s, st, COL_SERVICE, sess.service, sizeof sess.service)) < 0 ||
            (r = column_text(s, st, COL_RHOST, sess.rhost, sizeof sess.rhost)) < 0 ||
            (r = column_text(s, st, COL_TTY, sess.tty, sizeof sess.tty)) < 0 ||
            (r = column_int(s, st, COL_LEADER_PID, 0, UINT32_MAX, &pid)) < 0 ||
            (r = column_text(s, st, COL_LOGIND_SESSION, sess.logind_session,
                             sizeof sess.logind_session)) < 0 ||
            (r = column_int(s, st, COL_CREATED, INT64_MIN, INT64_MAX, &sess.created)) < 0 ||
            (r = column_int(s, st, COL_REFRESH_EXPIRES, INT64_MIN, INT64_MAX,
                            &sess.refresh_expires)) < 0 ||
            (r = column_int(s, st, COL_LAST_EXTENDED, INT64_MIN, INT64_MAX,
                            &sess.last_extended)) < 0 ||
            (r = column_int(s, st, COL_LAST_USED, INT64_MIN, INT64_MAX, &sess.last_used)) < 0 ||
            (r = column_int(s, st, COL_ENDED, INT64_MIN, INT64_MAX, &sess.ended)) < 0 ||
            (r = column_int(s, st, COL_STATE, 0, TP_STATE_MAX_, &state)) < 0 ||
            (r = column_int(s, st, COL_LEADER_START, 0, INT64_MAX, &start)) < 0 ||
            (r = column_text(s, st, COL_BOOT_ID, sess.boot_id, sizeof sess.boot_id)) < 0)
                return r;

        if (sqlite3_column_type(st, COL_REFRESH_HASH) != SQLITE_BLOB ||
            sqlite3_column_bytes(st, COL_REFRESH_HASH) != TP_REFRESH_HASH_LEN)
                return corrupt_column(s, st, COL_REFRESH_HASH);
        hash = sqlite3_column_blob(st, COL_REFRESH_HASH);
        if (!hash)
                return store_sqlite_error(s, sqlite3_errcode(s->db));
        memcpy(sess.refresh_hash, hash, TP_REFRESH_HASH_LEN);

        sess.uid = (uint32_t) uid;
        sess.leader_pid = (uint32_t) pid;
        sess.leader_start = (uint64_t) start;
        sess.state = (uint8_t) state;
        *ret = sess;
        return 0;
}

/* Step a bound SELECT to the end, collecting its rows into a new array
 * (NULL when there are none). With ret_rowid, the SELECT has the rowid
 * after the session columns, and the last row's is stored there. The
 * statement is released either way. */
static int collect_sessions(struct tp_store_impl *s, sqlite3_stmt *st, struct tp_session **ret,
                            size_t *ret_n, int64_t *ret_rowid)
{
        struct tp_session *rows = NULL, *grown;
        size_t n = 0, cap = 0;
        int rc, r = 0;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 8;

                        grown = reallocarray(rows, ncap, sizeof *rows);
                        if (!grown) {
                                r = store_error(s, -ENOMEM, "out of memory reading sessions");
                                goto out;
                        }
                        rows = grown;
                        cap = ncap;
                }
                if ((r = session_from_row(s, st, &rows[n])) < 0)
                        goto out;
                if (ret_rowid)
                        *ret_rowid = sqlite3_column_int64(st, COL_COUNT_);
                n++;
        }
        if (rc != SQLITE_DONE) {
                r = store_sqlite_error(s, rc);
                goto out;
        }
        *ret = rows;
        *ret_n = n;
        rows = NULL;
out:
        stmt_release(st);
        free(rows);
        return r;
}

static int step_count(struct tp_store_impl *s, sqlite3_stmt *st, uint64_t *ret)
{
        int rc = sqlite3_step(st);
        int64_t v;
        int r = 0;

        if (rc != SQLITE_ROW) {
                r = rc == SQLITE_DONE ? store_error(s, -EIO, "count returned no row")
                                      : store_sqlite_error(s, rc);
                goto out;
        }
        v = sqlite3_column_int64(st, 0);
        if (v < 0) {
                r = store_error(s, -EIO, "count returned a negative number");
                goto out;
        }
        *ret = (uint64_t) v;
out:
        stmt_release(st);
        return r;
}

/* An UPDATE restricted to active rows changed nothing: is the id unknown,
 * or is the session no longer active? */
static int missing_or_stale(struct tp_store_impl *s, const char *id)
{
        sqlite3_stmt *st = s->stmt[STMT_EXISTS];
        int rc, r;

        if ((r = bind_string(s, st, 1, id)) < 0)
                goto out;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                r = store_error(s, -ESTALE, "session is not active");
        else if (rc == SQLITE_DONE)
                r = store_error(s, -ENOENT, "no such session");
        else
                r = store_sqlite_error(s, rc);
out:
        stmt_release(st);
        return r;
}

static int update_active(struct tp_store_impl *s, sqlite3_stmt *st, const char *id)
{
        int r;

        if ((r = stmt_exec(s, st)) < 0)
                return r;
        if (sqlite3_changes(s->db) == 0)
                return missing_or_stale(s, id);
        return 0;
}

/* ---- open and schema ---------------------------------------------------- */

/* Run a pragma that answers one row; *ret_st is left on that row for the
 * caller to read and finalize. */
static int pragma_row(struct tp_store_impl *s, const char *sql, sqlite3_stmt **ret_st)
{
        sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_sqlite_error(s, rc);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                sqlite3_finalize(st);
                return rc == SQLITE_DONE ? store_error(s, -EIO, "pragma returned no value")
                                         : store_sqlite_error(s, rc);
        }
        *ret_st = st;
        return 0;
}

static int pragma_int(struct tp_store_impl *s, const char *sql, int64_t *ret)
{
        sqlite3_stmt *st = NULL;
        int r;

        if ((r = pragma_row(s, sql, &st)) < 0)
                return r;
        *ret = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return 0;
}

static int pragma_text_equals(struct tp_store_impl *s, const char *sql, const char *want)
{
        sqlite3_stmt *st = NULL;
        const unsigned char *got;
        int r;

        if ((r = pragma_row(s, sql, &st)) < 0)
                return r;
        got = sqlite3_column_text(st, 0);
        if (!got || strcmp((const char *) got, want) != 0)
                r = store_error(s, -EOPNOTSUPP, "pragma setting was not accepted");
        sqlite3_finalize(st);
        return r;
}

static int exec_sql(struct tp_store_impl *s, const char *sql)
{
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : store_sqlite_error(s, rc);
}

static int check_schema_version(int64_t version)
{
        if (version < 0 || version > TP_STORE_SCHEMA_VERSION)
                return -EPROTO;
        return 0;
}

/* Create the schema on a fresh file, or bring an older one up to date. The version is read again under the
 * write lock so that two daemons starting together cannot both create. */
static int store_apply_schema(struct tp_store_impl *s)
{
        int64_t version;
        int r;

        if ((r = exec_sql(s, "BEGIN IMMEDIATE")) < 0)
                return r;
        if ((r = pragma_int(s, "PRAGMA user_version", &version)) < 0 ||
            (r = check_schema_version(version)) < 0)
                goto fail;
        if (version == 0 && (r = exec_sql(s, schema_v1)) < 0)
                goto fail;
        if (version <= 1 && (r = exec_sql(s, schema_v1_to_v2)) < 0)
                goto fail;
        if (version <= 2 && (r = exec_sql(s, schema_v2_to_v3)) < 0)
                goto fail;
        if (version <= 3 && (r = exec_sql(s, schema_v3_to_v4)) < 0)
                goto fail;
        if (version <= 4 && (r = exec_sql(s, schema_v4_to_v5)) < 0)
                goto fail;
        if (version <= 5 && (r = exec_sql(s, schema_v5_to_v6)) < 0)
                goto fail;
        if ((r = exec_sql(s, "COMMIT")) < 0)
                goto fail;
        return 0;
fail:
        if (!sqlite3_get_autocommit(s->db))
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
}

static int prepare(struct tp_store_impl *s, const char *sql, sqlite3_stmt **ret)
{
        int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL);
        return rc == SQLITE_OK ? 0 : store_sqlite_error(s, rc);
}

static void query_where(unsigned variant, char *buf, size_t size)
{
        const char *user = (variant & QUERY_BY_USER) ? "user = ?" : NULL;
        const char *client = (variant & QUERY_BY_CLIENT) ? "client = ?" : NULL;
        const char *state = (variant & QUERY_ALL_STATES) ? NULL : "state = 0";
        const char *parts[3] = { user, client, state };
        size_t len = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < 3; i++) {
                if (!parts[i])
                        continue;
                len += (size_t) snprintf(buf + len, size - len, "%s%s",
                                         len ? " AND " : " WHERE ", parts[i]);
        }
}

static int store_prepare_all(struct tp_store_impl *s)
{
        char where[64], sql[512];
        int r;

        for (size_t i = 0; i < STMT_MAX_; i++)
                if ((r = prepare(s, stmt_sql[i], &s->stmt[i])) < 0)
                        return r;
        for (unsigned v = 0; v < QUERY_VARIANTS; v++) {
                query_where(v, where, sizeof where);
                snprintf(sql, sizeof sql,
                         "SELECT " SESSION_COLUMNS " FROM sessions%s "
                         "ORDER BY created, rowid LIMIT ? OFFSET ?", where);
                if ((r = prepare(s, sql, &s->query_rows[v])) < 0)
                        return r;
                snprintf(sql, sizeof sql, "SELECT count(*) FROM sessions%s", where);
                if ((r = prepare(s, sql, &s->query_count[v])) < 0)
                        return r;
        }
        return 0;
}

/* What is at path, never through a symlink: 0 a store to open, -ENOENT
 * nothing, -ENODATA an empty file, -EISDIR or -EINVAL not a regular file. */
static int store_probe_file(const char *path)
{
        struct stat st;
        int fd, r = 0;

        /* O_NONBLOCK: a FIFO put there must not hang the open. O_RDWR: the
         * store is written, so say at once when it cannot be (EROFS, EACCES)
         * rather than leave SQLite to report an open that failed. */
        fd = open(path, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                r = -errno;
        else if (S_ISDIR(st.st_mode))
                r = -EISDIR;
        else if (!S_ISREG(st.st_mode))
                r = -EINVAL;
        else if (st.st_size == 0)
                r = -ENODATA;
        close(fd);
        return r;
}

static int fsync_path(const char *path, int flags)
{
        int fd = open(path, flags | O_RDONLY | O_CLOEXEC | O_NOCTTY), r = 0;

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

static int fsync_parent(const char *path)
{
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/');

        if (!slash)
                return fsync_path(".", O_DIRECTORY);
        if ((size_t) (slash - path) >= sizeof dir)
                return -ENAMETOOLONG;
        if (slash == path)
                return fsync_path("/", O_DIRECTORY);
        memcpy(dir, path, (size_t) (slash - path));
        dir[slash - path] = '\0';
        return fsync_path(dir, O_DIRECTORY);
}

static void sqlite_close(struct tp_store_impl *s);

/* A complete, empty store of the current version at `tmp`, closed again
 * (SQLite then folds its WAL into the file and removes it). SQLite would
 * create a missing file with the umask's mode: create it private first. */
static int store_build(const char *tmp)
{
        struct tp_store_impl *s;
        int fd, rc, r;

        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        close(fd);
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        rc = sqlite3_open_v2(tmp, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                             SQLITE_OPEN_NOFOLLOW, NULL);
        if (rc != SQLITE_OK) {
                r = s->db ? store_sqlite_error(s, rc) : -ENOMEM;
                goto out;
        }
        sqlite3_extended_result_codes(s->db, 1);
        if ((r = pragma_text_equals(s, "PRAGMA journal_mode = WAL", "wal")) < 0 ||
            (r = exec_sql(s, "PRAGMA synchronous = FULL")) < 0 ||
            (r = store_apply_schema(s)) < 0)
                goto out;
out:
        sqlite_close(s);
        if (r == 0)
                r = fsync_path(tmp, 0);
        return r;
}

/* A new store appears at path whole or not at all: it is built under a
 * private name and linked into place, so a crash leaves no empty file
 * behind that a later start could take for a store just begun. When
 * another daemon linked one first, that one is used. */
static int store_create(const char *path)
{
        char tmp[PATH_MAX];
        int r;

        if ((size_t) snprintf(tmp, sizeof tmp, "%s.new-%ld", path, (long) getpid()) >= sizeof tmp)
                return -ENAMETOOLONG;
        (void) unlink(tmp); /* left by a crash of an earlier process with our pid */
        r = store_build(tmp);
        if (r == 0 && link(tmp, path) < 0 && errno != EEXIST)
                r = -errno;
        (void) unlink(tmp);
        if (r == 0)
                r = fsync_parent(path);
        return r;
}

static const struct tp_store_ops sqlite_ops;

int tp_store_open(const char *path, struct tp_store **ret)
{
        /* Never SQLITE_OPEN_CREATE: an empty file made here would be a
         * store of nothing (store_create() makes new ones). */
        const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
        struct tp_store_impl *s = NULL;
        int64_t version, sync;
        int rc, r;

        if (!path || !*path || !ret)
                return -EINVAL;
        r = store_probe_file(path);
        if (r == -ENOENT)
                r = store_create(path);
        if (r < 0)
                return r;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->pub.ops = &sqlite_ops;
        s->pub.impl = s;
        rc = sqlite3_open_v2(path, &s->db, flags, tp_store_wal_vfs());
        if (rc != SQLITE_OK) {
                r = s->db ? store_sqlite_error(s, rc) : -ENOMEM;
                goto out;
        }
        sqlite3_extended_result_codes(s->db, 1);
        sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);

        /* Refuse a newer file before changing anything in it, journal mode
         * included. A file that is not a database fails here too. */
        if ((r = pragma_int(s, "PRAGMA user_version", &version)) < 0 ||
            (r = check_schema_version(version)) < 0)
                goto out;
        if ((r = pragma_text_equals(s, "PRAGMA journal_mode = WAL", "wal")) < 0)
                goto out;
        if ((rc = sqlite3_wal_autocheckpoint(s->db, STORE_CHECKPOINT_PAGES)) != SQLITE_OK) {
                r = store_sqlite_error(s, rc);
                goto out;
        }
        if ((r = exec_sql(s, "PRAGMA synchronous = NORMAL")) < 0 ||
            (r = pragma_int(s, "PRAGMA synchronous", &sync)) < 0)
                goto out;
        if (sync != STORE_SYNCHRONOUS_NORMAL) {
                r = -EOPNOTSUPP;
                goto out;
        }
        if ((r = exec_sql(s, "PRAGMA foreign_keys = ON")) < 0 ||
            (r = exec_sql(s, "PRAGMA trusted_schema = OFF")) < 0 ||
            (r = store_apply_schema(s)) < 0 ||
            (r = store_prepare_all(s)) < 0)
                goto out;

        *ret = &s->pub;
        s = NULL;
out:
        sqlite_close(s);
        return r;
}

static void sqlite_close(struct tp_store_impl *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < STMT_MAX_; i++)
                sqlite3_finalize(s->stmt[i]);
        for (size_t i = 0; i < QUERY_VARIANTS; i++) {
                sqlite3_finalize(s->query_rows[i]);
                sqlite3_finalize(s->query_count[i]);
        }
        /* An open transaction is rolled back here, never committed. */
        sqlite3_close_v2(s->db);
        free(s);
}

static const char *sqlite_errmsg(struct tp_store_impl *s)
{
        if (!s)
                return "session store is not open";
        return s->errmsg[0] ? s->errmsg : "no error";
}

/* ---- transactions ------------------------------------------------------- */

/* While batching, a transaction is a savepoint inside the batch: it sees
 * and may be undone on its own, and becomes durable with the batch. */
static int batch_begin(struct tp_store_impl *s)
{
        int r;

        if (s->in_request)
                return store_error(s, -EALREADY, "a transaction is already open");
        if (!s->batch_open) {
                if (!sqlite3_get_autocommit(s->db))
                        return store_error(s, -EALREADY, "a transaction is already open");
                if ((r = stmt_exec(s, s->stmt[STMT_BEGIN_IMMEDIATE])) < 0)
                        return r;
                s->batch_open = true;
        } else if (s->batch_broken || sqlite3_get_autocommit(s->db)) {
                s->batch_broken = true;
                return store_error(s, -EIO, "this batch of changes was rolled back after an error");
        }
        if ((r = stmt_exec(s, s->stmt[STMT_SAVEPOINT])) < 0) {
                if (sqlite3_get_autocommit(s->db))
                        s->batch_broken = true;
                return r;
        }
        s->in_request = true;
        return 0;
}

/* -EALREADY when a transaction is already open. */
static int sqlite_begin(struct tp_store_impl *s)
{
        if (s->batching)
                return batch_begin(s);
        if (!sqlite3_get_autocommit(s->db))
                return store_error(s, -EALREADY, "a transaction is already open");
        return stmt_exec(s, s->stmt[STMT_BEGIN_IMMEDIATE]);
}

/* Make every committed transaction durable: sync the WAL through SQLite's
 * own file object (the VFS's xSync, the call synchronous=FULL makes at
 * each commit). */
static int wal_sync(struct tp_store_impl *s)
{
        sqlite3_file *wal = NULL;
        int rc;

        rc = sqlite3_file_control(s->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
        if (rc != SQLITE_OK)
                return store_sqlite_error(s, rc);
        if (!wal || !wal->pMethods)
                return store_error(s, -EIO, "the write-ahead log is not open");
        rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
        if (rc != SQLITE_OK) {
                snprintf(s->errmsg, sizeof s->errmsg, "syncing the write-ahead log failed (%s)",
                         sqlite3_errstr(rc));
                return -EIO;
        }
        return 0;
}

/* Returns once the WAL is synced (durable), or, while batching, once the
 * changes are part of the batch (durable when sqlite_batch_commit()
 * returns). With durable false the commit does not wait for the disk: a
 * crash may lose it, and with it nothing committed before it that was not
 * synced either. On failure the transaction may still be open: the caller
 * rolls it back. -EINVAL when none is open. */
static int commit_as(struct tp_store_impl *s, bool durable)
{
        int r;

        if (s->batching) {
                if (!s->in_request)
                        return store_error(s, -EINVAL, "no transaction is open");
                if (sqlite3_get_autocommit(s->db)) {
                        s->batch_broken = true;
                        return store_error(s, -EIO, "this batch of changes was rolled back after an error");
                }
                if ((r = stmt_exec(s, s->stmt[STMT_RELEASE])) < 0)
                        return r;
                s->in_request = false;
                s->request_changed = true;
                s->batch_sync |= durable;
                return 0;
        }
        if (sqlite3_get_autocommit(s->db))
                return store_error(s, -EINVAL, "no transaction is open");
        if ((r = stmt_exec(s, s->stmt[STMT_COMMIT])) < 0)
                return r;
        return durable ? wal_sync(s) : 0;
}

static int sqlite_commit(struct tp_store_impl *s)
{
        return commit_as(s, true);
}

static int sqlite_commit_unsynced(struct tp_store_impl *s)
{
        return commit_as(s, false);
}

/* Harmless when no transaction is open (SQLite may already have rolled
 * back after an I/O error). */
static void sqlite_rollback(struct tp_store_impl *s)
{
        if (!s)
                return;
        if (s->batching) {
                if (!s->in_request)
                        return;
                s->in_request = false;
                if (sqlite3_get_autocommit(s->db)) {
                        s->batch_broken = true;
                        return;
                }
                if (stmt_exec(s, s->stmt[STMT_ROLLBACK_TO]) < 0 ||
                    stmt_exec(s, s->stmt[STMT_RELEASE]) < 0)
                        s->batch_broken = true;
                return;
        }
        if (sqlite3_get_autocommit(s->db))
                return;
        (void) stmt_exec(s, s->stmt[STMT_ROLLBACK]);
}

static void sqlite_batch_start(struct tp_store_impl *s)
{
        s->batching = true;
}

static bool sqlite_request_changed(struct tp_store_impl *s)
{
        bool changed = s->request_changed;

        s->request_changed = false;
        return changed;
}

static bool sqlite_batch_pending(const struct tp_store_impl *s)
{
        return s->batch_open;
}

static int sqlite_batch_commit(struct tp_store_impl *s)
{
        int r = 0;

        if (s->in_request) { /* a caller forgot its rollback: undo that part */
                sqlite_rollback(s);
        }
        if (s->batch_open) {
                if (s->batch_broken || sqlite3_get_autocommit(s->db))
                        r = store_error(s, -EIO, "this batch of changes was rolled back after an error");
                else
                        r = stmt_exec(s, s->stmt[STMT_COMMIT]);
                if (r < 0 && !sqlite3_get_autocommit(s->db))
                        (void) stmt_exec(s, s->stmt[STMT_ROLLBACK]);
                if (r == 0 && s->batch_sync)
                        r = wal_sync(s);
        }
        s->batching = s->batch_open = s->batch_broken = s->in_request = s->batch_sync = false;
        s->request_changed = false;
        return r;
}

/* ---- sessions ----------------------------------------------------------- */

/* The session's columns, as parameters 1 to 18 of st (COL_* + 1). */
static int bind_session(struct tp_store_impl *s, sqlite3_stmt *st, const struct tp_session *sess)
{
        int r;

        if ((r = bind_field(s, st, COL_ID + 1, sess->id, sizeof sess->id, "id")) < 0 ||
            (r = bind_field(s, st, COL_USER + 1, sess->user, sizeof sess->user, "user")) < 0 ||
            (r = bind_int64(s, st, COL_UID + 1, sess->uid)) < 0 ||
            (r = bind_field(s, st, COL_CLIENT + 1, sess->client, sizeof sess->client,
                            "client")) < 0 ||
            (r = bind_field(s, st, COL_SERVICE + 1, sess->service, sizeof sess->service,
                            "service")) < 0 ||
            (r = bind_field(s, st, COL_RHOST + 1, sess->rhost, sizeof sess->rhost, "rhost")) < 0 ||
            (r = bind_field(s, st, COL_TTY + 1, sess->tty, sizeof sess->tty, "tty")) < 0 ||
            (r = bind_int64(s, st, COL_LEADER_PID + 1, sess->leader_pid)) < 0 ||
            (r = bind_field(s, st, COL_LOGIND_SESSION + 1, sess->logind_session,
                            sizeof sess->logind_session, "logind_session")) < 0 ||
            (r = bind_int64(s, st, COL_CREATED + 1, sess->created)) < 0 ||
            (r = bind_int64(s, st, COL_REFRESH_EXPIRES + 1, sess->refresh_expires)) < 0 ||
            (r = bind_int64(s, st, COL_LAST_EXTENDED + 1, sess->last_extended)) < 0 ||
            (r = bind_int64(s, st, COL_LAST_USED + 1, sess->last_used)) < 0 ||
            (r = bind_int64(s, st, COL_ENDED + 1, sess->ended)) < 0 ||
            (r = bind_int64(s, st, COL_STATE + 1, sess->state)) < 0 ||
            (r = bind_hash(s, st, COL_REFRESH_HASH + 1, sess->refresh_hash)) < 0 ||
            (r = bind_int64(s, st, COL_LEADER_START + 1,
                            sess->leader_start > INT64_MAX ? 0 : (int64_t)sess->leader_start)) < 0 ||
            (r = bind_field(s, st, COL_BOOT_ID + 1, sess->boot_id, sizeof sess->boot_id,
                            "boot_id")) < 0)
                stmt_release(st);
        return r;
}

static int sqlite_insert(struct tp_store_impl *s, const struct tp_session *sess)
{
        sqlite3_stmt *st = s->stmt[STMT_INSERT];
        int r;

        if ((r = bind_session(s, st, sess)) < 0)
                return r;
        return stmt_exec(s, st);
}

/* tp_store_insert_under_cap: the count and, when there is room, the
 * session made and inserted, in a transaction of its own (inside a batch,
 * a savepoint). What a sign-in under its cap skips is the listing of the
 * user's sessions and the policy's look at each of them; one at the cap
 * makes no session (no tokens, no signature) before the usual way. */
static int sqlite_insert_under_cap(struct tp_store_impl *s, const char *user, const char *client, size_t room,
                                   int64_t now, tp_store_make_fn *make, void *ctx, struct tp_session *sess,
                                   bool *ret_inserted)
{
        sqlite3_stmt *st = s->stmt[STMT_CAP_ROOM];
        bool has_room;
        int rc, r;

        *ret_inserted = false;
        if (room > INT64_MAX)
                return store_error(s, -EINVAL, "bad room under the cap");
        if ((r = sqlite_begin(s)) < 0)
                return r;
        if ((r = bind_int64(s, st, 1, (int64_t) room)) < 0 || (r = bind_int64(s, st, 2, now)) < 0 ||
            (r = bind_string(s, st, 3, user)) < 0 || (r = bind_string(s, st, 4, client)) < 0) {
                stmt_release(st);
                goto fail;
        }
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                r = rc == SQLITE_DONE ? store_error(s, -EIO, "counting sessions returned no row")
                                      : store_sqlite_error(s, rc);
                stmt_release(st);
                goto fail;
        }
        has_room = sqlite3_column_int64(st, 0) == 1;
        stmt_release(st);
        if (!has_room) {
                sqlite_rollback(s);
                return 0;
        }
        if ((r = make(ctx, sess)) < 0)
                goto fail;
        if (strcmp(sess->user, user) != 0 || strcmp(sess->client, client) != 0) {
                r = store_error(s, -EINVAL, "the session made is not of the user and client type counted");
                goto fail;
        }
        if ((r = sqlite_insert(s, sess)) < 0 || (r = sqlite_commit(s)) < 0)
                goto fail;
        *ret_inserted = true;
        return 0;
fail:
        sqlite_rollback(s);
        return r;
}

static int sqlite_get(struct tp_store_impl *s, const char *id, struct tp_session *ret)
{
        sqlite3_stmt *st = s->stmt[STMT_GET];
        struct tp_session sess;
        int rc, r;

        if ((r = bind_string(s, st, 1, id)) < 0)
                goto out;
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
                r = store_error(s, -ENOENT, "no such session");
                goto out;
        }
        if (rc != SQLITE_ROW) {
                r = store_sqlite_error(s, rc);
                goto out;
        }
        if ((r = session_from_row(s, st, &sess)) < 0)
                goto out;
        *ret = sess;
out:
        stmt_release(st);
        return r;
}

static int sqlite_list_active(struct tp_store_impl *s, const char *user, const char *client,
                         struct tp_session **ret, size_t *ret_n)
{
        sqlite3_stmt *st = s->stmt[STMT_LIST_ACTIVE];
        int r;

        if ((r = bind_string(s, st, 1, user)) < 0 || (r = bind_string(s, st, 2, client)) < 0) {
                stmt_release(st);
                return r;
        }
        return collect_sessions(s, st, ret, ret_n, NULL);
}

static int sqlite_active_page(struct tp_store_impl *s, struct tp_store_cursor *cur, size_t limit,
                         struct tp_session **ret, size_t *ret_n)
{
        sqlite3_stmt *st = s->stmt[STMT_ACTIVE_PAGE];
        int64_t rowid = 0;
        size_t n = 0;
        int rc, r;

        if (limit == 0 || limit > INT_MAX)
                return store_error(s, -EINVAL, "bad page size");
        if ((rc = sqlite3_bind_int64(st, 1, cur->created)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(st, 2, cur->rowid)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(st, 3, (sqlite3_int64) limit)) != SQLITE_OK) {
                stmt_release(st);
                return store_sqlite_error(s, rc);
        }
        if ((r = collect_sessions(s, st, ret, &n, &rowid)) < 0)
                return r;
        /* A short page is the last: the next pass starts over. */
        *cur = n < limit ? TP_STORE_CURSOR_START
                         : (struct tp_store_cursor){ (*ret)[n - 1].created, rowid };
        *ret_n = n;
        return 0;
}

/* The count and the page come from one read transaction, so the total
 * always describes the same snapshot as the rows. */
static int sqlite_query(struct tp_store_impl *s, const struct tp_store_filter *f, size_t offset,
                   size_t limit, struct tp_session **ret, size_t *ret_n, size_t *ret_total)
{
        static const struct tp_store_filter active_only = { 0 };
        sqlite3_stmt *rows_st, *count_st;
        struct tp_session *rows = NULL;
        bool own_txn = false;
        unsigned variant = 0;
        uint64_t total;
        size_t n = 0;
        int idx = 1, r;

        if (!f)
                f = &active_only;
        if (f->user && f->user[0])
                variant |= QUERY_BY_USER;
        if (f->client && f->client[0])
                variant |= QUERY_BY_CLIENT;
        if (f->all)
                variant |= QUERY_ALL_STATES;
        rows_st = s->query_rows[variant];
        count_st = s->query_count[variant];

        if (sqlite3_get_autocommit(s->db)) {
                if ((r = stmt_exec(s, s->stmt[STMT_BEGIN_READ])) < 0)
                        return r;
                own_txn = true;
        }

        if ((variant & QUERY_BY_USER) && (r = bind_string(s, count_st, idx++, f->user)) < 0)
                goto out_release;
        if ((variant & QUERY_BY_CLIENT) && (r = bind_string(s, count_st, idx++, f->client)) < 0)
                goto out_release;
        if ((r = step_count(s, count_st, &total)) < 0)
                goto out;
        if (total > SIZE_MAX) {
                r = store_error(s, -EOVERFLOW, "too many sessions");
                goto out;
        }

        idx = 1;
        if ((variant & QUERY_BY_USER) && (r = bind_string(s, rows_st, idx++, f->user)) < 0)
                goto out_release;
        if ((variant & QUERY_BY_CLIENT) && (r = bind_string(s, rows_st, idx++, f->client)) < 0)
                goto out_release;
        if ((r = bind_size(s, rows_st, idx++, limit)) < 0 ||
            (r = bind_size(s, rows_st, idx++, offset)) < 0)
                goto out_release;
        if ((r = collect_sessions(s, rows_st, &rows, &n, NULL)) < 0)
                goto out;

        if (own_txn) {
                if ((r = stmt_exec(s, s->stmt[STMT_COMMIT])) < 0)
                        goto out;
                own_txn = false;
        }
        *ret = rows;
        *ret_n = n;
        *ret_total = (size_t) total;
        rows = NULL;
        goto out;

out_release:
        stmt_release(count_st);
        stmt_release(rows_st);
out:
        if (own_txn)
                sqlite_rollback(s);
        free(rows);
        return r;
}

/* `state` must be one of the ended states; -EINVAL otherwise. */
static int sqlite_end(struct tp_store_impl *s, const char *id, uint8_t state, int64_t ended)
{
        sqlite3_stmt *st = s->stmt[STMT_END];
        int r;

        if (state == TP_STATE_ACTIVE || state > TP_STATE_MAX_)
                return store_error(s, -EINVAL, "not an ended session state");
        if ((r = bind_int64(s, st, 1, state)) < 0 || (r = bind_int64(s, st, 2, ended)) < 0 ||
            (r = bind_string(s, st, 3, id)) < 0) {
                stmt_release(st);
                return r;
        }
        return update_active(s, st, id);
}

static int sqlite_end_held(struct tp_store_impl *s, const char *id, int64_t ended)
{
        return sqlite_end(s, id, TP_STATE_REVOKED, ended);
}

/* One host: nobody else to tell. */
static int sqlite_owe(struct tp_store_impl *s, const char *id)
{
        (void)s;
        (void)id;
        return 0;
}

static int sqlite_reinstate(struct tp_store_impl *s, const char *id)
{
        sqlite3_stmt *st = s->stmt[STMT_REINSTATE];
        int r;

        if ((r = bind_string(s, st, 1, id)) < 0) {
                stmt_release(st);
                return r;
        }
        return update_active(s, st, id);
}

static int sqlite_extend(struct tp_store_impl *s, const char *id, const uint8_t hash[TP_REFRESH_HASH_LEN],
                    int64_t refresh_expires, int64_t now)
{
        sqlite3_stmt *st = s->stmt[STMT_EXTEND];
        int r;

        if ((r = bind_hash(s, st, 1, hash)) < 0 ||
            (r = bind_int64(s, st, 2, refresh_expires)) < 0 ||
            (r = bind_int64(s, st, 3, now)) < 0 || (r = bind_int64(s, st, 4, now)) < 0 ||
            (r = bind_string(s, st, 5, id)) < 0) {
                stmt_release(st);
                return r;
        }
        return update_active(s, st, id);
}

static int sqlite_touch(struct tp_store_impl *s, const char *id, int64_t now)
{
        sqlite3_stmt *st = s->stmt[STMT_TOUCH];
        int r;

        if ((r = bind_int64(s, st, 1, now)) < 0 || (r = bind_string(s, st, 2, id)) < 0) {
                stmt_release(st);
                return r;
        }
        return update_active(s, st, id);
}

static int sqlite_count_active(struct tp_store_impl *s, uint64_t *ret)
{
        return step_count(s, s->stmt[STMT_COUNT_ACTIVE], ret);
}

static int sqlite_count_leader_shared(struct tp_store_impl *s, const char *id, uint32_t leader_pid,
                                 uint64_t leader_start, uint64_t *ret)
{
        sqlite3_stmt *st = s->stmt[STMT_LEADER_SHARED];
        int r;

        if (leader_pid == 0 || leader_start == 0 || leader_start > INT64_MAX) {
                *ret = 0;
                return 0;
        }
        if ((r = bind_int64(s, st, 1, leader_pid)) < 0 ||
            (r = bind_int64(s, st, 2, (int64_t)leader_start)) < 0 ||
            (r = bind_string(s, st, 3, id)) < 0) {
                stmt_release(st);
                return r;
        }
        return step_count(s, st, ret);
}

static int sqlite_scan_expiries(struct tp_store_impl *s, tp_store_expiry_fn fn, void *userdata)
{
        sqlite3_stmt *st = s->stmt[STMT_SCAN_EXPIRIES];
        char id[TP_SESSION_ID_MAX];
        int64_t expires;
        int rc, r = 0;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if ((r = column_text(s, st, 0, id, sizeof id)) < 0 ||
                    (r = column_int(s, st, 1, INT64_MIN, INT64_MAX, &expires)) < 0 ||
                    (r = fn(id, expires, userdata)) < 0)
                        break;
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = store_sqlite_error(s, rc);
        stmt_release(st);
        return r;
}

/* ---- listings ------------------------------------------------------------ */

static void list_pos_of_row(sqlite3_stmt *st, struct tp_store_list_pos *pos)
{
        pos->state = (uint8_t) sqlite3_column_int(st, COL_STATE);
        pos->created = sqlite3_column_int64(st, COL_CREATED);
        pos->seq = sqlite3_column_int64(st, COL_COUNT_);
}

static bool row_client_is(sqlite3_stmt *st, const char *client)
{
        const unsigned char *text = sqlite3_column_text(st, COL_CLIENT);

        return text && strcmp((const char *) text, client) == 0;
}

/* Bind the cursor and the row limit of one listing statement, from
 * parameter `idx` on. `with_state`: the statement compares (state,
 * created, rowid), else (created, rowid) within the active state. */
static int bind_list_pos(struct tp_store_impl *s, sqlite3_stmt *st, int idx, bool with_state,
                         const struct tp_store_list_pos *pos, size_t rows)
{
        int r;

        if (with_state && (r = bind_int64(s, st, idx++, pos->state)) < 0)
                return r;
        if ((r = bind_int64(s, st, idx++, pos->created)) < 0 ||
            (r = bind_int64(s, st, idx++, pos->seq)) < 0 ||
            (r = bind_size(s, st, idx, rows)) < 0)
                return r;
        return 0;
}

static int sqlite_list_page(struct tp_store_impl *s, const struct tp_store_filter *f,
                       const struct tp_store_list_pos *after, size_t limit, size_t budget,
                       struct tp_session **ret, size_t *ret_n, struct tp_store_list_pos *ret_next,
                       bool *ret_more)
{
        static const struct tp_store_list_pos start = { 0, INT64_MIN, INT64_MIN };
        static const struct tp_store_filter active_only = { 0 };
        const char *client;
        bool by_user;
        struct tp_store_list_pos pos = after ? *after : start;
        struct tp_session *rows = NULL;
        size_t n = 0, looked = 0;
        sqlite3_stmt *st = NULL;
        bool more = false;
        int rc, r = 0;

        if (limit == 0 || budget == 0 || budget > INT_MAX)
                return store_error(s, -EINVAL, "bad page size");
        if (!f)
                f = &active_only;
        client = f->client && f->client[0] ? f->client : NULL;
        by_user = f->user && f->user[0];
        /* Active sessions come first: past them, an active-only listing is over. */
        if (!f->all && pos.state != TP_STATE_ACTIVE)
                goto done;
        if (f->all)
                st = s->stmt[by_user ? STMT_LIST_USER_ALL : STMT_LIST_EVERYONE_ALL];
        else
                st = s->stmt[by_user ? STMT_LIST_USER : STMT_ACTIVE_PAGE];
        /* One row past the budget tells whether anything follows. */
        if ((by_user && (r = bind_string(s, st, 1, f->user)) < 0) ||
            (r = bind_list_pos(s, st, by_user ? 2 : 1, f->all, &pos, budget + 1)) < 0)
                goto out;
        rows = calloc(limit, sizeof *rows);
        if (!rows) {
                r = store_error(s, -ENOMEM, "out of memory reading sessions");
                goto out;
        }
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (n == limit || looked == budget) {
                        more = true;
                        break;
                }
                looked++;
                list_pos_of_row(st, &pos);
                if (client && !row_client_is(st, client))
                        continue;
                if ((r = session_from_row(s, st, &rows[n])) < 0)
                        goto out;
                n++;
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
                r = store_sqlite_error(s, rc);
                goto out;
        }
done:
        *ret = n > 0 ? rows : NULL;
        if (n > 0)
                rows = NULL;
        *ret_n = n;
        *ret_next = pos;
        *ret_more = more;
out:
        if (st)
                stmt_release(st);
        free(rows);
        return r;
}

/* ---- history retention --------------------------------------------------- */

static int sqlite_purge_step(struct tp_store_impl *s, int64_t before, size_t budget,
                        struct tp_store_purge_pos *pos, size_t *ret_deleted)
{
        sqlite3_stmt *scan = s->stmt[STMT_PURGE_SCAN], *del = s->stmt[STMT_PURGE_DELETE];
        int64_t *doomed = NULL;
        size_t looked = 0, n_doomed = 0, deleted = 0;
        int rc, r = 0;

        *ret_deleted = 0;
        if (budget == 0 || budget > INT_MAX)
                return store_error(s, -EINVAL, "bad purge step size");
        doomed = calloc(budget, sizeof *doomed);
        if (!doomed)
                return store_error(s, -ENOMEM, "out of memory purging sessions");
        if (pos->state == TP_STATE_ACTIVE)
                *pos = (struct tp_store_purge_pos){ TP_STATE_ACTIVE + 1, INT64_MIN, INT64_MIN };
        while (looked < budget && pos->state <= TP_STATE_MAX_) {
                size_t got = 0;

                if ((r = bind_int64(s, scan, 1, pos->state)) < 0 ||
                    (r = bind_int64(s, scan, 2, pos->created)) < 0 ||
                    (r = bind_int64(s, scan, 3, pos->rowid)) < 0 ||
                    (r = bind_int64(s, scan, 4, before)) < 0 ||
                    (r = bind_size(s, scan, 5, budget - looked)) < 0)
                        goto out;
                while ((rc = sqlite3_step(scan)) == SQLITE_ROW) {
                        got++;
                        pos->rowid = sqlite3_column_int64(scan, 0);
                        pos->created = sqlite3_column_int64(scan, 1);
                        if (sqlite3_column_int64(scan, 2) < before)
                                doomed[n_doomed++] = pos->rowid;
                }
                stmt_release(scan);
                if (rc != SQLITE_DONE) {
                        r = store_sqlite_error(s, rc);
                        goto out;
                }
                looked += got;
                if (looked < budget) /* this state is done: the next one */
                        *pos = (struct tp_store_purge_pos){ (uint8_t)(pos->state + 1), INT64_MIN,
                                                             INT64_MIN };
        }
        /* Deleted once the scan is over: never under a running SELECT. */
        for (size_t i = 0; i < n_doomed; i++) {
                if ((r = bind_int64(s, del, 1, doomed[i])) < 0 || (r = stmt_exec(s, del)) < 0)
                        goto out;
                deleted += (size_t) sqlite3_changes(s->db);
        }
        *ret_deleted = deleted;
        if (pos->state > TP_STATE_MAX_) {
                *pos = (struct tp_store_purge_pos){ 0 };
                r = 0;
        } else {
                r = 1;
        }
out:
        stmt_release(scan);
        stmt_release(del);
        free(doomed);
        return r;
}

/* ---- boots --------------------------------------------------------------- */

static int sqlite_adopt_boot(struct tp_store_impl *s, const char *boot_id, int64_t since, size_t *ret_n)
{
        sqlite3_stmt *st = s->stmt[STMT_ADOPT_BOOT];
        int r;

        if (!boot_id[0] || strlen(boot_id) >= TP_BOOT_ID_MAX)
                return store_error(s, -EINVAL, "bad boot id");
        if ((r = bind_string(s, st, 1, boot_id)) < 0 || (r = bind_int64(s, st, 2, since)) < 0) {
                stmt_release(st);
                return r;
        }
        if ((r = stmt_exec(s, st)) < 0)
                return r;
        *ret_n = (size_t) sqlite3_changes(s->db);
        return 0;
}

static int sqlite_other_boot_page(struct tp_store_impl *s, const char *boot_id,
                             struct tp_store_cursor *cur, size_t limit,
                             struct tp_session **ret, size_t *ret_n)
{
        sqlite3_stmt *st = s->stmt[STMT_OTHER_BOOT];
        int64_t rowid = 0;
        size_t n = 0;
        int r;

        if (limit == 0 || limit > INT_MAX)
                return store_error(s, -EINVAL, "bad page size");
        if ((r = bind_string(s, st, 1, boot_id)) < 0 ||
            (r = bind_int64(s, st, 2, cur->created)) < 0 ||
            (r = bind_int64(s, st, 3, cur->rowid)) < 0 ||
            (r = bind_size(s, st, 4, limit)) < 0) {
                stmt_release(st);
                return r;
        }
        if ((r = collect_sessions(s, st, ret, &n, &rowid)) < 0)
                return r;
        *cur = n < limit ? TP_STORE_CURSOR_START
                         : (struct tp_store_cursor){ (*ret)[n - 1].created, rowid };
        *ret_n = n;
        return 0;
}

static int sqlite_boot_checked(struct tp_store_impl *s, char *out, size_t outsz)
{
        sqlite3_stmt *st = s->stmt[STMT_GET_BOOT_CHECKED];
        int rc, r = 0;

        if (!out || outsz == 0)
                return -EINVAL;
        out[0] = '\0';
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                r = column_text(s, st, 0, out, outsz);
        else if (rc != SQLITE_DONE)
                r = store_sqlite_error(s, rc);
        stmt_release(st);
        return r;
}

static int sqlite_set_boot_checked(struct tp_store_impl *s, const char *boot_id)
{
        sqlite3_stmt *st = s->stmt[STMT_SET_BOOT_CHECKED];
        int r;

        if (!boot_id[0] || strlen(boot_id) >= TP_BOOT_ID_MAX)
                return store_error(s, -EINVAL, "bad boot id");
        if ((r = bind_string(s, st, 1, boot_id)) < 0) {
                stmt_release(st);
                return r;
        }
        return stmt_exec(s, st);
}

/* ---- one host ------------------------------------------------------------ */

/* A store of one host: no other host ends its sessions, nothing wakes it. */
static int sqlite_owed_page(struct tp_store_impl *s, size_t limit, struct tp_session **ret, size_t *ret_n)
{
        (void) s;
        (void) limit;
        *ret = NULL;
        *ret_n = 0;
        return 0;
}

static int sqlite_settle(struct tp_store_impl *s, const char *id)
{
        (void) id;
        return store_error(s, -ENOENT, "a store of one host owes nothing");
}

static int sqlite_wait_fd(struct tp_store_impl *s, bool *ret_write)
{
        *ret_write = false;
        (void) s;
        return -1;
}

static int sqlite_wakeups(struct tp_store_impl *s)
{
        (void) s;
        return 0;
}

static int sqlite_record_revocation(struct tp_store_impl *s, const char *user, const char *client, int64_t issued)
{
        (void) s;
        (void) user;
        (void) client;
        (void) issued;
        return 0;
}

static int sqlite_revoked_since(struct tp_store_impl *s, const char *user, const char *client, int64_t created,
                                int64_t *ret_issued)
{
        (void) s;
        (void) user;
        (void) client;
        (void) created;
        *ret_issued = 0;
        return 0;
}

static void sqlite_hold_uploads(struct tp_store_impl *s, bool held)
{
        (void) s;
        (void) held;
}

static int64_t sqlite_offline_since(struct tp_store_impl *s, char *why, size_t why_size)
{
        (void) s;
        if (why_size)
                why[0] = '\0';
        return 0;
}

static int sqlite_fleet_status(struct tp_store_impl *s, uint32_t *ret_hosts)
{
        (void) s;
        *ret_hosts = 1;
        return 0;
}

static int sqlite_hosts_page(struct tp_store_impl *s, const char *after, size_t limit,
                             struct tp_store_host **ret, size_t *ret_n)
{
        (void) after;
        (void) limit;
        (void) ret;
        (void) ret_n;
        return store_error(s, -EOPNOTSUPP, "a store of one host has no fleet (store.backend = \"sqlite\")");
}

static int sqlite_publish_host(struct tp_store_impl *s, const char *policy_digest)
{
        (void) s;
        (void) policy_digest;
        return 0;
}

static int sqlite_publish_keys(struct tp_store_impl *s, const struct tp_store_key *keys, size_t n)
{
        (void) s;
        (void) keys;
        (void) n;
        return 0;
}

static int sqlite_fleet_keys(struct tp_store_impl *s, struct tp_store_key **ret, size_t *ret_n)
{
        (void) s;
        *ret = NULL;
        *ret_n = 0;
        return 0;
}

/* ---- diagnostics --------------------------------------------------------- */

int tp_store_explain(struct tp_store *store, enum tp_store_plan which, char *out, size_t outsz)
{
        static const enum store_stmt stmt_of[TP_STORE_PLAN_MAX_ + 1] = {
                [TP_STORE_PLAN_LIST_USER] = STMT_LIST_USER,
                [TP_STORE_PLAN_LIST_USER_ALL] = STMT_LIST_USER_ALL,
                [TP_STORE_PLAN_LIST_EVERYONE] = STMT_ACTIVE_PAGE,
                [TP_STORE_PLAN_LIST_EVERYONE_ALL] = STMT_LIST_EVERYONE_ALL,
                [TP_STORE_PLAN_LIST_ACTIVE] = STMT_LIST_ACTIVE,
                [TP_STORE_PLAN_PURGE] = STMT_PURGE_SCAN,
                [TP_STORE_PLAN_OTHER_BOOT] = STMT_OTHER_BOOT,
                [TP_STORE_PLAN_CAP_ROOM] = STMT_CAP_ROOM,
        };
        struct tp_store_impl *s;
        sqlite3_stmt *st = NULL;
        char sql[1024];
        size_t len = 0;
        int rc, r = 0;

        if ((unsigned) which > TP_STORE_PLAN_MAX_ || !out || outsz == 0)
                return -EINVAL;
        if (!store || store->ops != &sqlite_ops)
                return -EOPNOTSUPP;
        s = store->impl;
        out[0] = '\0';
        snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", stmt_sql[stmt_of[which]]);
        rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_sqlite_error(s, rc);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const unsigned char *detail = sqlite3_column_text(st, 3);
                int w = snprintf(out + len, outsz - len, "%s%s", len ? "; " : "",
                                 detail ? (const char *) detail : "");

                if (w < 0 || (size_t) w >= outsz - len) {
                        r = store_error(s, -ENOBUFS, "query plan does not fit");
                        goto out;
                }
                len += (size_t) w;
        }
        if (rc != SQLITE_DONE)
                r = store_sqlite_error(s, rc);
out:
        sqlite3_finalize(st);
        return r;
}

/* ---- the interface (store.h) ---------------------------------------------- */

static const struct tp_store_ops sqlite_ops = {
        .close = sqlite_close,
        .errmsg = sqlite_errmsg,
        .begin = sqlite_begin,
        .commit = sqlite_commit,
        .commit_unsynced = sqlite_commit_unsynced,
        .rollback = sqlite_rollback,
        .batch_start = sqlite_batch_start,
        .batch_pending = sqlite_batch_pending,
        .request_changed = sqlite_request_changed,
        .batch_commit = sqlite_batch_commit,
        .insert = sqlite_insert,
        .get = sqlite_get,
        .list_active = sqlite_list_active,
        .query = sqlite_query,
        .end = sqlite_end,
        .insert_under_cap = sqlite_insert_under_cap,
        .reinstate = sqlite_reinstate,
        .end_held = sqlite_end_held,
        .owe = sqlite_owe,
        .extend = sqlite_extend,
        .touch = sqlite_touch,
        .count_active = sqlite_count_active,
        .count_leader_shared = sqlite_count_leader_shared,
        .list_page = sqlite_list_page,
        .purge_step = sqlite_purge_step,
        .adopt_boot = sqlite_adopt_boot,
        .other_boot_page = sqlite_other_boot_page,
        .boot_checked = sqlite_boot_checked,
        .set_boot_checked = sqlite_set_boot_checked,
        .active_page = sqlite_active_page,
        .scan_expiries = sqlite_scan_expiries,
        .owed_page = sqlite_owed_page,
        .settle = sqlite_settle,
        .wait_fd = sqlite_wait_fd,
        .wakeups = sqlite_wakeups,
        .offline_since = sqlite_offline_since,
        .record_revocation = sqlite_record_revocation,
        .revoked_since = sqlite_revoked_since,
        .hold_uploads = sqlite_hold_uploads,
        .fleet_status = sqlite_fleet_status,
        .hosts_page = sqlite_hosts_page,
        .publish_host = sqlite_publish_host,
        .publish_keys = sqlite_publish_keys,
        .fleet_keys = sqlite_fleet_keys,
};
