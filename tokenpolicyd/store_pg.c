/* SPDX-License-Identifier: BSD-3-Clause */
/* store_pg.c: the session store of a fleet, in PostgreSQL (store_pg.h).
 *
 * Owns the connection, the schema of the shared database and every SQL
 * statement sent to it; no other module includes libpq. It must never
 * log, never act on another host's session (it only records state), never
 * acknowledge a write before COMMIT has returned, never copy a value into
 * a fixed field without proving that it fits, and never touch a database
 * whose schema is newer than its own.
 *
 * Calls are libpq calls on the event loop's thread. Each transaction (or
 * statement outside one) has a deadline kept here, on the client, so a
 * database that stopped answering (a partition, a stopped process) costs
 * a request at most TP_STORE_PG_DEADLINE_MS; the server's own
 * statement_timeout and lock_timeout end a slow statement sooner. A
 * connection that fails or misses a deadline is dropped and the store is
 * offline: every call fails at once with -ENOTCONN until a new connection,
 * made without blocking and driven by the event loop through
 * tp_store_wait_fd() and tp_store_wakeups(), succeeds. docs/fleet.md says
 * why it is built this way.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "io.h"
#include "store_pg.h"

#define NOTIFY_CHANNEL "tokenpolicy_owed"
/* Any constant, the same in every build: serialises schema migrations. */
#define MIGRATION_LOCK_KEY "7388245610273391"

#define SESSION_COLUMNS                                                           \
        "id, host, user_name, uid, client, service, rhost, tty, leader_pid, "     \
        "logind_session, created, refresh_expires, last_extended, last_used, "   \
        "ended, state, refresh_hash, leader_start, boot_id, seq"

enum column {
        COL_ID,
        COL_HOST,
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
        COL_SEQ,
        COL_COUNT_,
};

/* v1. Every session names its host; `owed` marks a session that another
 * host ended and whose own host has not acted on yet. tp_caps holds one
 * row per (user, client type) that sign-ins lock to serialise the count. */
static const char schema_v1[] =
        "CREATE TABLE tp_meta (key text PRIMARY KEY, value text NOT NULL);"
        "CREATE TABLE tp_hosts ("
        " id text PRIMARY KEY,"
        " name text NOT NULL,"
        " first_seen bigint NOT NULL,"
        " last_seen bigint NOT NULL,"
        " boot_checked text NOT NULL DEFAULT '',"
        " policy_digest text NOT NULL DEFAULT '');"
        /* Each host's public signing keys: until is 0 for its current key. */
        "CREATE TABLE tp_keys ("
        " host text NOT NULL REFERENCES tp_hosts (id) ON DELETE CASCADE,"
        " kid text NOT NULL,"
        " x text NOT NULL,"
        " until bigint NOT NULL,"
        " PRIMARY KEY (host, kid));"
        "CREATE TABLE tp_caps ("
        " user_name text NOT NULL,"
        " client text NOT NULL,"
        " PRIMARY KEY (user_name, client));"
        "CREATE TABLE tp_sessions ("
        " seq bigserial NOT NULL UNIQUE,"
        " id text PRIMARY KEY,"
        " host text NOT NULL,"
        " user_name text NOT NULL,"
        " uid bigint NOT NULL CHECK (uid BETWEEN 0 AND 4294967295),"
        " client text NOT NULL,"
        " service text NOT NULL,"
        " rhost text NOT NULL,"
        " tty text NOT NULL,"
        " leader_pid bigint NOT NULL CHECK (leader_pid BETWEEN 0 AND 4294967295),"
        " logind_session text NOT NULL,"
        " created bigint NOT NULL,"
        " refresh_expires bigint NOT NULL,"
        " last_extended bigint NOT NULL,"
        " last_used bigint NOT NULL,"
        " ended bigint NOT NULL DEFAULT 0,"
        " state smallint NOT NULL CHECK (state BETWEEN 0 AND 3),"
        " refresh_hash bytea NOT NULL CHECK (length(refresh_hash) = 32),"
        " leader_start bigint NOT NULL CHECK (leader_start >= 0),"
        " boot_id text NOT NULL,"
        " owed boolean NOT NULL DEFAULT false);"
        /* The cap count: one user's active sessions of one type, in order. */
        "CREATE INDEX tp_sessions_cap ON tp_sessions (user_name, client, created, seq)"
        " WHERE state = 0;"
        /* Listings, for one user and for everyone, in listing order. */
        "CREATE INDEX tp_sessions_user ON tp_sessions (user_name, state, created, seq);"
        "CREATE INDEX tp_sessions_all ON tp_sessions (state, created, seq);"
        /* One host's passes: expiries, ghosts, boots, history. */
        "CREATE INDEX tp_sessions_host ON tp_sessions (host, state, created, seq);"
        "CREATE INDEX tp_sessions_owed ON tp_sessions (host, ended) WHERE owed;"
        "CREATE INDEX tp_sessions_leader ON tp_sessions (host, leader_pid, leader_start)"
        " WHERE state = 0;"
        "INSERT INTO tp_meta (key, value) VALUES ('schema_version', '1');";

/* v2: revocations by filter, kept for the sessions hosts that could not
 * reach the database signed in before them and upload later (offline.c).
 * user_name and client are '' for "any". */
static const char schema_v2[] =
        "CREATE TABLE tp_revocations ("
        " seq bigserial PRIMARY KEY,"
        " user_name text NOT NULL,"
        " client text NOT NULL,"
        " issued bigint NOT NULL);"
        "CREATE INDEX tp_revocations_user ON tp_revocations (user_name, issued);"
        "UPDATE tp_meta SET value = '2' WHERE key = 'schema_version';";

/* v3: when revocations may go. A host sets synced_seq to the newest
 * revocation's seq each time it says, holding no session the database
 * has not got, that whatever it signs in alone later comes after them.
 * A revocation is dropped once every host seen lately is past it;
 * revocations_purged_through is the latest issued of those dropped, so
 * that a session that began before it and is uploaded later (by a host
 * away so long it was not counted) is known to be unknown. */
static const char schema_v3[] =
        "ALTER TABLE tp_hosts ADD COLUMN synced_seq bigint NOT NULL DEFAULT 0;"
        "INSERT INTO tp_meta (key, value) VALUES ('revocations_purged_through', '0');"
        "UPDATE tp_meta SET value = '3' WHERE key = 'schema_version';";

/* A host not seen for this long (seconds) no longer keeps revocations
 * from going: a laptop back after longer uploads what it signed in
 * before the last one dropped as revoked (tp_store_revoked_since's 2). */
#define HOST_AWAY_S (90 * 86400)

/* The row of (user, client type) in tp_caps, made on its first sign-in;
 * the insert does nothing when it is there (or waits for a transaction
 * that is making it). Then, inside a transaction, its lock: a sign-in of
 * the same user and type on any host waits there until this transaction
 * ends. A lock alone writes no new version of the row, so the sign-ins of
 * one user queue on one tuple, not on a chain of updated versions that
 * each waiter must follow (an upsert that updated the row cost the
 * database 3x the CPU with 64 hosts signing one user in). */
#define MAKE_CAP_SQL \
        "INSERT INTO tp_caps (user_name, client) VALUES ($1, $2) ON CONFLICT (user_name, client) DO NOTHING"
#define LOCK_CAP_SQL "SELECT 1 FROM tp_caps WHERE user_name = $1 AND client = $2 FOR UPDATE"

#define PARAMS_MAX 21   /* the most parameters of one statement (the insert under the cap: 21) */
#define QUEUE_MAX 16
#define PREPARED_MAX 64

struct tp_store_impl {
        struct tp_store pub; /* what callers hold (store.h) */
        PGconn *conn;         /* NULL while offline between attempts */
        char *conninfo;
        char host[TP_HOST_ID_MAX];
        char name[TP_HOST_NAME_MAX];
        char errmsg[512];
        bool in_tx;           /* BEGIN sent, COMMIT or ROLLBACK not yet */
        bool request_changed; /* a transaction committed since last asked */
        bool reconnected;     /* the connection was made again: look for what was missed */
        bool ready;           /* the schema was checked and the host registered */
        bool connecting;      /* PQconnectStart() made conn; PQconnectPoll() goes on */
        bool want_write;      /* what the connection attempt waits for */
        bool uploads_held;    /* the daemon holds sessions not uploaded (tp_store_hold_uploads) */
        /* This host's sessions, kept beside the database for the passes
         * while it is away (tp_store_pg_mirror). Each change to one of
         * them is queued; those of a transaction that committed (the
         * first n_mirror_committed) are made in the mirror together, in
         * one transaction of its own, by tp_store_pg_mirror_flush(). */
        struct tp_store *mirror;
        struct mirror_op *mirror_ops;
        size_t n_mirror_ops, n_mirror_committed, cap_mirror_ops;
        bool mirror_stale;    /* a change may be missing from it */
        int64_t synced_seq;   /* this host's tp_hosts.synced_seq as last written, -1 before */
        int64_t deadline_ms;  /* of the open transaction (tp_monotonic_ms), else 0 */
        int64_t attempt_ms;   /* when the connection attempt began */
        int64_t next_try_ms;  /* offline: when to try again */
        int64_t backoff_ms;
        int64_t offline_since; /* wall clock seconds; 0 while connected */
        char offline_why[256]; /* what the last failure said */
        /* Statements of the open transaction whose results nobody waits
         * for (BEGIN, the cap's lock, the insert), sent with the next one
         * whose result is needed or with COMMIT: one round trip. */
        struct queued {
                const char *sql;   /* static text, or the cache's copy */
                int n;
                char *vals[PARAMS_MAX];
                PGresult **keep;   /* where its result goes, else it is cleared */
        } queue[QUEUE_MAX];
        size_t n_queued;
        /* Statements prepared on this connection, named "s<id>". */
        struct prepared {
                char *sql;
                unsigned id;
                const char *seen; /* the text it was last found for, where it lives */
        } prepared[PREPARED_MAX];
        size_t n_prepared;
        unsigned next_id;
};

/* ---- errors ---------------------------------------------------------------- */

static int store_error(struct tp_store_impl *s, int r, const char *msg)
{
        snprintf(s->errmsg, sizeof s->errmsg, "%s", msg);
        return r;
}

/* libpq's messages end in a newline and may span lines: one line here. */
static void set_errmsg(struct tp_store_impl *s, const char *msg)
{
        size_t n;

        snprintf(s->errmsg, sizeof s->errmsg, "%s", msg && *msg ? msg : "unknown PostgreSQL error");
        /* Line breaks and the indentation after them become one space. */
        char *w = s->errmsg;
        for (const char *p = s->errmsg; *p; p++) {
                char c = *p == '\n' || *p == '\t' ? ' ' : *p;

                if (c == ' ' && w > s->errmsg && w[-1] == ' ')
                        continue;
                *w++ = c;
        }
        *w = '\0';
        n = strlen(s->errmsg);
        while (n > 0 && s->errmsg[n - 1] == ' ')
                s->errmsg[--n] = '\0';
}

static int errno_from_sqlstate(const char *state)
{
        if (!state)
                return -EIO;
        if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
                return -EAGAIN;  /* serialization failure, deadlock: may work again */
        if (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0)
                return -ETIMEDOUT; /* lock_timeout, statement_timeout */
        if (strcmp(state, "23505") == 0)
                return -EEXIST;
        if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
                return -EINVAL;
        if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
                return -ECONNRESET;
        if (strcmp(state, "42501") == 0 || strncmp(state, "28", 2) == 0)
                return -EACCES;
        if (strcmp(state, "53100") == 0)
                return -ENOSPC;
        if (strncmp(state, "53", 2) == 0)
                return -EBUSY;
        return -EIO;
}

/* ---- the connection -------------------------------------------------------- */

static void free_queue(struct tp_store_impl *s)
{
        for (size_t i = 0; i < s->n_queued; i++)
                for (int k = 0; k < s->queue[i].n; k++)
                        free(s->queue[i].vals[k]);
        s->n_queued = 0;
}

/* Prepared statements live and die with their connection. */
static void forget_prepared(struct tp_store_impl *s)
{
        for (size_t i = 0; i < s->n_prepared; i++)
                free(s->prepared[i].sql);
        s->n_prepared = 0;
}

/* Drop the connection: the store is offline from now (or still), and the
 * next attempt waits a while, longer after each failure. What the open
 * transaction did is gone with it (the server rolls it back). */
static int lose(struct tp_store_impl *s, const char *why)
{
        int64_t now = tp_monotonic_ms();

        set_errmsg(s, why);
        snprintf(s->offline_why, sizeof s->offline_why, "%.*s", (int) sizeof s->offline_why - 1, s->errmsg);
        PQfinish(s->conn);
        s->conn = NULL;
        s->connecting = false;
        s->want_write = false;
        s->in_tx = false;
        s->deadline_ms = 0;
        /* The transaction's changes to the mirror go with it, even when
         * it was its COMMIT that was lost and the database may have made
         * them: a session the mirror lacks waits for the database, as
         * everywhere before the mirror; one it held and should not could
         * be acted on. */
        s->n_mirror_ops = s->n_mirror_committed;
        free_queue(s);
        forget_prepared(s);
        if (s->offline_since == 0) {
                s->offline_since = (int64_t) time(NULL);
                s->backoff_ms = TP_STORE_PG_RETRY_MIN_MS;
        } else if ((s->backoff_ms *= 2) > TP_STORE_PG_RETRY_MAX_MS) {
                s->backoff_ms = TP_STORE_PG_RETRY_MAX_MS;
        }
        s->next_try_ms = now + s->backoff_ms;
        return -ECONNRESET;
}

/* What every call says while the store is offline. */
static int offline_error(struct tp_store_impl *s)
{
        char when[64] = "";
        time_t t = (time_t) s->offline_since;
        struct tm tm;

        if (localtime_r(&t, &tm))
                strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", &tm);
        snprintf(s->errmsg, sizeof s->errmsg, "the fleet's database has been unreachable since %s (%s)",
                 when, s->offline_why[0] ? s->offline_why : "not connected yet");
        return -ENOTCONN;
}

static int pg_error(struct tp_store_impl *s, const PGresult *res)
{
        if (!s->conn)
                return offline_error(s);
        if (PQstatus(s->conn) != CONNECTION_OK)
                return lose(s, res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn));
        set_errmsg(s, res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn));
        if (!res)
                return -ENOMEM;
        return errno_from_sqlstate(PQresultErrorField(res, PG_DIAG_SQLSTATE));
}

/* The next result, waiting for it until `deadline`; *ret is NULL after
 * each command's last. -ECONNRESET when the connection failed or
 * the deadline passed (the store is offline then). */
static int next_result(struct tp_store_impl *s, int64_t deadline, PGresult **ret)
{
        while (PQisBusy(s->conn)) {
                struct pollfd p = { .fd = PQsocket(s->conn), .events = POLLIN };
                int64_t left = deadline - tp_monotonic_ms();
                int k;

                if (left <= 0) {
                        char why[128];

                        snprintf(why, sizeof why, "no answer from the database within %d ms",
                                 TP_STORE_PG_DEADLINE_MS);
                        return lose(s, why);
                }
                k = poll(&p, 1, (int) (left > INT_MAX ? INT_MAX : left));
                if ((k > 0 || (k < 0 && errno != EINTR)) && !PQconsumeInput(s->conn))
                        return lose(s, PQerrorMessage(s->conn));
        }
        *ret = PQgetResult(s->conn);
        return 0;
}

/* Send one command (text parameters when n > 0; several statements in
 * `sql` when n is 0 and vals NULL) and wait for its results until the
 * deadline: of the open transaction, else TP_STORE_PG_DEADLINE_MS from
 * now. Returns the last result (PQexec's rule), or NULL when the
 * connection failed or the deadline passed; the store is offline then. */
static PGresult *exchange(struct tp_store_impl *s, const char *sql, int n, const char *const *vals)
{
        int64_t deadline = s->deadline_ms ? s->deadline_ms : tp_monotonic_ms() + TP_STORE_PG_DEADLINE_MS;
        PGresult *last = NULL, *res;
        int sent;

        if (!s->conn || s->connecting)
                return NULL;
        sent = vals ? PQsendQueryParams(s->conn, sql, n, NULL, vals, NULL, NULL, 0) : PQsendQuery(s->conn, sql);
        if (!sent) {
                lose(s, PQerrorMessage(s->conn));
                return NULL;
        }
        for (;;) {
                if (next_result(s, deadline, &res) < 0) {
                        PQclear(last);
                        return NULL;
                }
                if (!res)
                        break;
                PQclear(last);
                last = res;
        }
        if (!last || PQstatus(s->conn) != CONNECTION_OK) {
                PQclear(last);
                lose(s, PQerrorMessage(s->conn));
                return NULL;
        }
        return last;
}


/* The name of sql's prepared statement on this connection, or 0. */
static unsigned prepared_id(struct tp_store_impl *s, const char *sql)
{
        /* The same static text comes back at every sign-in: one compare
         * for the entry last found at that address instead of one per
         * entry (they share long beginnings). The text is still compared,
         * since another text may live there now. */
        for (size_t i = 0; i < s->n_prepared; i++)
                if (s->prepared[i].seen == sql && strcmp(s->prepared[i].sql, sql) == 0)
                        return s->prepared[i].id;
        for (size_t i = 0; i < s->n_prepared; i++)
                if (strcmp(s->prepared[i].sql, sql) == 0) {
                        s->prepared[i].seen = sql;
                        return s->prepared[i].id;
                }
        return 0;
}

/* Send the queued statements, then sql (when not NULL), as one pipeline
 * of prepared statements (each prepared on its first use on this
 * connection), and read every result. *ret is the result of sql. Returns
 * the error of the first statement that failed (the rest were not run),
 * with the server's message in errmsg. */
static int run_pipeline(struct tp_store_impl *s, const char *sql, int n, const char *const *vals, PGresult **ret)
{
        int64_t deadline = s->deadline_ms ? s->deadline_ms : tp_monotonic_ms() + TP_STORE_PG_DEADLINE_MS;
        size_t total = s->n_queued + (sql ? 1 : 0), n_new = 0;
        unsigned id[QUEUE_MAX + 1];
        bool preparing[QUEUE_MAX + 1] = { false };
        PGresult *res = NULL, *last = NULL;
        int r = 0, k;

        if (ret)
                *ret = NULL;
        if (!PQenterPipelineMode(s->conn))
                return lose(s, PQerrorMessage(s->conn));
        for (size_t i = 0; i < total; i++) {
                const struct queued *q = i < s->n_queued ? &s->queue[i] : NULL;
                const char *text = q ? q->sql : sql;
                int nparams = q ? q->n : n;
                const char *const *params = q ? (const char *const *) q->vals : vals;
                char name[16];
                int ok;

                id[i] = prepared_id(s, text);
                for (size_t j = 0; j < i && !id[i]; j++)
                        if (preparing[j] && strcmp(j < s->n_queued ? s->queue[j].sql : sql, text) == 0)
                                id[i] = id[j]; /* prepared earlier in this pipeline */
                if (!id[i] && s->n_prepared + n_new < PREPARED_MAX) {
                        id[i] = ++s->next_id; /* names are never reused on a connection */
                        preparing[i] = true;
                        n_new++;
                }
                snprintf(name, sizeof name, "s%u", id[i]);
                if (id[i])
                        ok = (!preparing[i] || PQsendPrepare(s->conn, name, text, nparams, NULL)) &&
                             PQsendQueryPrepared(s->conn, name, nparams, params, NULL, NULL, 0);
                else
                        ok = PQsendQueryParams(s->conn, text, nparams, NULL, params, NULL, NULL, 0);
                if (!ok)
                        return lose(s, PQerrorMessage(s->conn));
        }
        if (!PQpipelineSync(s->conn) || PQflush(s->conn) != 0)
                return lose(s, PQerrorMessage(s->conn));
        /* Per statement: its Prepare's result when it was prepared here,
         * then its own; each command's results end with NULL. */
        for (size_t i = 0; i < total; i++) {
                for (int step = preparing[i] ? 0 : 1; step < 2; step++) {
                        ExecStatusType st;

                        if ((k = next_result(s, deadline, &res)) < 0)
                                goto lost;
                        st = PQresultStatus(res);
                        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && r == 0)
                                r = st == PGRES_PIPELINE_ABORTED ? store_error(s, -EIO, "a statement failed")
                                                                 : pg_error(s, res);
                        if (step == 0 && st == PGRES_COMMAND_OK && s->n_prepared < PREPARED_MAX) {
                                char *copy = strdup(i < s->n_queued ? s->queue[i].sql : sql);

                                if (copy)
                                        s->prepared[s->n_prepared++] = (struct prepared){ copy, id[i], NULL };
                        }
                        if (step == 1 && sql && i == total - 1) {
                                last = res;
                                res = NULL;
                        } else if (step == 1 && i < s->n_queued && s->queue[i].keep) {
                                *s->queue[i].keep = res;
                                res = NULL;
                        }
                        PQclear(res);
                        if ((k = next_result(s, deadline, &res)) < 0)
                                goto lost;
                        PQclear(res);
                }
        }
        if ((k = next_result(s, deadline, &res)) < 0)
                goto lost;
        if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
                PQclear(res);
                PQclear(last);
                return lose(s, "the database's answers did not follow the statements sent");
        }
        PQclear(res);
        if (!PQexitPipelineMode(s->conn)) {
                PQclear(last);
                return lose(s, PQerrorMessage(s->conn));
        }
        free_queue(s);
        if (r < 0 || !ret)
                PQclear(last);
        else
                *ret = last;
        return r;
lost:
        PQclear(last);
        return k;
}

static int run_plain(struct tp_store_impl *s, const char *sql)
{
        PGresult *res = exchange(s, sql, 0, NULL);
        ExecStatusType st = PQresultStatus(res);
        int r = 0;

        if (!res)
                return pg_error(s, NULL);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
                r = pg_error(s, res);
        PQclear(res);
        return r;
}

/* What every connection, first or again, is set up with. */
static int session_setup(struct tp_store_impl *s)
{
        char sql[256];

        snprintf(sql, sizeof sql,
                 "SET statement_timeout = %d; SET lock_timeout = %d; SET bytea_output = 'hex';"
                 " SET client_min_messages = warning; LISTEN " NOTIFY_CHANNEL,
                 TP_STORE_PG_STATEMENT_TIMEOUT_MS, TP_STORE_PG_STATEMENT_TIMEOUT_MS);
        return run_plain(s, sql);
}

/* A call is made only on a connection that works: while offline it fails
 * at once, and a lost connection is made again by tp_store_wakeups(), not
 * by the call that found it lost. */
static int ensure_conn(struct tp_store_impl *s)
{
        if (!s->conn || s->connecting)
                return offline_error(s);
        if (PQstatus(s->conn) != CONNECTION_OK)
                return lose(s, PQerrorMessage(s->conn));
        return 0;
}

/* Run one statement with text parameters; *ret (when asked for) holds the
 * result, to PQclear(). Without ret, inside a transaction, the statement
 * is queued (its parameters copied; sql must be static text) and its
 * error, if any, is returned by the call that sends it. */
static int pg_run(struct tp_store_impl *s, const char *sql, int n, const char *const *vals, PGresult **ret)
{
        PGresult *res = NULL;
        ExecStatusType st;
        int r;

        if (ret)
                *ret = NULL;
        if ((r = ensure_conn(s)) < 0)
                return r;
        if (n > PARAMS_MAX)
                return store_error(s, -EINVAL, "too many parameters");
        /* In a transaction, a statement whose result nobody reads waits
         * to go with the next one that is read, or with COMMIT. */
        if (!ret && s->in_tx) {
                struct queued *q;

                if (s->n_queued == QUEUE_MAX && (r = run_pipeline(s, NULL, 0, NULL, NULL)) < 0)
                        return r;
                q = &s->queue[s->n_queued];
                q->sql = sql;
                q->keep = NULL;
                q->n = 0;
                for (int k = 0; k < n; k++, q->n++)
                        if (vals[k] && !(q->vals[k] = strdup(vals[k]))) {
                                for (int j = 0; j < k; j++)
                                        free(q->vals[j]);
                                return store_error(s, -ENOMEM, "out of memory");
                        } else if (!vals[k]) {
                                q->vals[k] = NULL;
                        }
                s->n_queued++;
                return 0;
        }
        if ((r = run_pipeline(s, sql, n, vals ? vals : (const char *const[]){ NULL }, &res)) < 0)
                return r;
        st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                r = pg_error(s, res);
                PQclear(res);
                return r;
        }
        if (ret)
                *ret = res;
        else
                PQclear(res);
        return 0;
}

static uint64_t affected(const PGresult *res)
{
        const char *t = PQcmdTuples((PGresult *) res);

        return t && *t ? strtoull(t, NULL, 10) : 0;
}

/* ---- values ------------------------------------------------------------------ */

#define INT_TEXT 24

static const char *int_text(char buf[static INT_TEXT], int64_t v)
{
        snprintf(buf, INT_TEXT, "%" PRId64, v);
        return buf;
}

static int corrupt(struct tp_store_impl *s, int col)
{
        snprintf(s->errmsg, sizeof s->errmsg, "column %d of a session row is damaged or out of range", col);
        return -EIO;
}

static int get_text(struct tp_store_impl *s, const PGresult *res, int row, int col, char *dst, size_t size)
{
        const char *v = PQgetvalue(res, row, col);
        size_t n = (size_t) PQgetlength(res, row, col);

        if (PQgetisnull(res, row, col) || n >= size || strlen(v) != n)
                return corrupt(s, col);
        memcpy(dst, v, n + 1);
        return 0;
}

static int get_int(struct tp_store_impl *s, const PGresult *res, int row, int col, int64_t min, int64_t max,
                   int64_t *ret)
{
        const char *v = PQgetvalue(res, row, col);
        char *end;
        long long x;

        if (PQgetisnull(res, row, col) || !*v)
                return corrupt(s, col);
        errno = 0;
        x = strtoll(v, &end, 10);
        if (errno != 0 || *end || x < min || x > max)
                return corrupt(s, col);
        *ret = x;
        return 0;
}

static int hex_digit(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static int get_hash(struct tp_store_impl *s, const PGresult *res, int row, int col,
                    uint8_t out[TP_REFRESH_HASH_LEN])
{
        const char *v = PQgetvalue(res, row, col);

        if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 2 + 2 * TP_REFRESH_HASH_LEN ||
            v[0] != '\\' || v[1] != 'x')
                return corrupt(s, col);
        for (size_t i = 0; i < TP_REFRESH_HASH_LEN; i++) {
                int hi = hex_digit(v[2 + 2 * i]), lo = hex_digit(v[3 + 2 * i]);

                if (hi < 0 || lo < 0)
                        return corrupt(s, col);
                out[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
}

static void hash_text(const uint8_t hash[TP_REFRESH_HASH_LEN], char out[static 3 + 2 * TP_REFRESH_HASH_LEN])
{
        static const char hex[] = "0123456789abcdef";

        out[0] = '\\';
        out[1] = 'x';
        for (size_t i = 0; i < TP_REFRESH_HASH_LEN; i++) {
                out[2 + 2 * i] = hex[hash[i] >> 4];
                out[3 + 2 * i] = hex[hash[i] & 0xf];
        }
        out[2 + 2 * TP_REFRESH_HASH_LEN] = '\0';
}

/* A fixed field must carry its NUL inside the field. */
static int field_ok(struct tp_store_impl *s, const char *field, size_t size, const char *name)
{
        if (strnlen(field, size) >= size) {
                snprintf(s->errmsg, sizeof s->errmsg, "session field %s is not terminated", name);
                return -EINVAL;
        }
        return 0;
}

static int session_from_row(struct tp_store_impl *s, const PGresult *res, int row, struct tp_session *ret)
{
        struct tp_session sess;
        int64_t uid, pid, state, start;
        int r;

        memset(&sess, 0, sizeof sess);
        if ((r = get_text(s, res, row, COL_ID, sess.id, sizeof sess.id)) < 0 ||
            (r = get_text(s, res, row, COL_HOST, sess.host, sizeof sess.host)) < 0 ||
            (r = get_text(s, res, row, COL_USER, sess.user, sizeof sess.user)) < 0 ||
            (r = get_int(s, res, row, COL_UID, 0, UINT32_MAX, &uid)) < 0 ||
            (r = get_text(s, res, row, COL_CLIENT, sess.client, sizeof sess.client)) < 0 ||
            (r = get_text(s, res, row, COL_SERVICE, sess.service, sizeof sess.service)) < 0 ||
            (r = get_text(s, res, row, COL_RHOST, sess.rhost, sizeof sess.rhost)) < 0 ||
            (r = get_text(s, res, row, COL_TTY, sess.tty, sizeof sess.tty)) < 0 ||
            (r = get_int(s, res, row, COL_LEADER_PID, 0, UINT32_MAX, &pid)) < 0 ||
            (r = get_text(s, res, row, COL_LOGIND_SESSION, sess.logind_session,
                          sizeof sess.logind_session)) < 0 ||
            (r = get_int(s, res, row, COL_CREATED, INT64_MIN, INT64_MAX, &sess.created)) < 0 ||
            (r = get_int(s, res, row, COL_REFRESH_EXPIRES, INT64_MIN, INT64_MAX, &sess.refresh_expires)) < 0 ||
            (r = get_int(s, res, row, COL_LAST_EXTENDED, INT64_MIN, INT64_MAX, &sess.last_extended)) < 0 ||
            (r = get_int(s, res, row, COL_LAST_USED, INT64_MIN, INT64_MAX, &sess.last_used)) < 0 ||
            (r = get_int(s, res, row, COL_ENDED, INT64_MIN, INT64_MAX, &sess.ended)) < 0 ||
            (r = get_int(s, res, row, COL_STATE, 0, TP_STATE_MAX_, &state)) < 0 ||
            (r = get_hash(s, res, row, COL_REFRESH_HASH, sess.refresh_hash)) < 0 ||
            (r = get_int(s, res, row, COL_LEADER_START, 0, INT64_MAX, &start)) < 0 ||
            (r = get_text(s, res, row, COL_BOOT_ID, sess.boot_id, sizeof sess.boot_id)) < 0)
                return r;
        sess.uid = (uint32_t) uid;
        sess.leader_pid = (uint32_t) pid;
        sess.leader_start = (uint64_t) start;
        sess.state = (uint8_t) state;
        *ret = sess;
        return 0;
}

static int64_t row_seq(const PGresult *res, int row)
{
        return strtoll(PQgetvalue(res, row, COL_SEQ), NULL, 10);
}

/* Every row of a SELECT of SESSION_COLUMNS, into a new array (NULL when
 * none); the result is cleared either way. */
static int collect(struct tp_store_impl *s, PGresult *res, struct tp_session **ret, size_t *ret_n)
{
        int rows = PQntuples(res), r = 0;
        struct tp_session *out = NULL;

        if (PQnfields(res) != COL_COUNT_) {
                r = store_error(s, -EIO, "unexpected columns in a session row");
                goto out;
        }
        if (rows > 0 && !(out = calloc((size_t) rows, sizeof *out))) {
                r = store_error(s, -ENOMEM, "out of memory reading sessions");
                goto out;
        }
        for (int i = 0; i < rows; i++)
                if ((r = session_from_row(s, res, i, &out[i])) < 0)
                        goto out;
        *ret = out;
        *ret_n = (size_t) rows;
        out = NULL;
out:
        free(out);
        PQclear(res);
        return r;
}

static int select_sessions(struct tp_store_impl *s, const char *sql, int n, const char *const *vals,
                           struct tp_session **ret, size_t *ret_n)
{
        PGresult *res;
        int r;

        if ((r = pg_run(s, sql, n, vals, &res)) < 0)
                return r;
        return collect(s, res, ret, ret_n);
}

static int select_count(struct tp_store_impl *s, const char *sql, int n, const char *const *vals, uint64_t *ret)
{
        PGresult *res;
        int64_t v;
        int r;

        if ((r = pg_run(s, sql, n, vals, &res)) < 0)
                return r;
        if (PQntuples(res) != 1 || PQnfields(res) != 1)
                r = store_error(s, -EIO, "a count returned no row");
        else if ((r = get_int(s, res, 0, 0, 0, INT64_MAX, &v)) == 0)
                *ret = (uint64_t) v;
        PQclear(res);
        return r;
}

/* ---- schema --------------------------------------------------------------------- */

/* Under a transaction-scoped lock that every starting daemon takes, so two
 * starting at once create or migrate once: the second finds it done. */
static int apply_schema(struct tp_store_impl *s)
{
        PGresult *res = NULL;
        int64_t version = 0;
        int r;

        if ((r = run_plain(s, "BEGIN")) < 0)
                return r;
        if ((r = run_plain(s, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")")) < 0 ||
            (r = pg_run(s, "SELECT to_regclass('tp_meta') IS NOT NULL", 0, NULL, &res)) < 0)
                goto fail;
        if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
                PQclear(res);
                res = NULL;
                if ((r = pg_run(s, "SELECT value FROM tp_meta WHERE key = 'schema_version'", 0, NULL, &res)) < 0)
                        goto fail;
                if (PQntuples(res) != 1 || get_int(s, res, 0, 0, 1, INT32_MAX, &version) < 0) {
                        r = store_error(s, -EIO, "the database holds tokenpolicy tables without a "
                                        "schema version (tp_meta.schema_version)");
                        goto fail;
                }
                if (version > TP_STORE_PG_SCHEMA_VERSION) {
                        snprintf(s->errmsg, sizeof s->errmsg,
                                 "the database's schema is version %" PRId64 ", newer than this "
                                 "tokenpolicyd (version %d): upgrade tokenpolicyd on this host",
                                 version, TP_STORE_PG_SCHEMA_VERSION);
                        r = -EPROTO;
                        goto fail;
                }
        } else if ((r = run_plain(s, schema_v1)) < 0) {
                goto fail;
        } else {
                version = 1;
        }
        if (version < 2 && (r = run_plain(s, schema_v2)) < 0)
                goto fail;
        if (version < 3 && (r = run_plain(s, schema_v3)) < 0)
                goto fail;
        if ((r = run_plain(s, "COMMIT")) < 0)
                goto fail;
        PQclear(res);
        return 0;
fail:
        PQclear(res);
        if (PQstatus(s->conn) == CONNECTION_OK) {
                char keep[sizeof s->errmsg];

                memcpy(keep, s->errmsg, sizeof keep);
                (void) run_plain(s, "ROLLBACK");
                memcpy(s->errmsg, keep, sizeof keep);
        }
        return r;
}

static int register_host(struct tp_store_impl *s, const char *name)
{
        char now[INT_TEXT];
        const char *v[] = { s->host, name, int_text(now, (int64_t) time(NULL)) };

        return pg_run(s, "INSERT INTO tp_hosts (id, name, first_seen, last_seen) VALUES ($1, $2, $3, $3) "
                         "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, last_seen = EXCLUDED.last_seen",
                      3, v, NULL);
}

/* ---- open and close ------------------------------------------------------------- */

static const struct tp_store_ops pg_ops;

static void pg_close(struct tp_store_impl *s)
{
        if (!s)
                return;
        PQfinish(s->conn); /* an open transaction is rolled back by the server */
        free_queue(s);
        forget_prepared(s);
        free(s->mirror_ops);
        free(s->conninfo);
        free(s);
}

/* A connection just made: set up, and the first time the schema and this
 * host's row. Blocking, within the deadline of each step. */
static int connected(struct tp_store_impl *s)
{
        int r;

        s->connecting = false;
        s->want_write = false;
        if ((r = session_setup(s)) < 0)
                return r;
        if (!s->ready) {
                if ((r = apply_schema(s)) < 0 || (r = register_host(s, s->name)) < 0)
                        return r;
                s->ready = true;
        }
        s->offline_since = 0;
        s->offline_why[0] = '\0';
        s->reconnected = true;
        return 0;
}

static int start_connect(struct tp_store_impl *s)
{
        /* Defaults first: whatever the connection string says wins. */
        const char *keys[] = { "connect_timeout", "application_name", "dbname", NULL };
        const char *vals[] = { TP_STORE_PG_CONNECT_TIMEOUT, "tokenpolicyd", s->conninfo, NULL };

        s->conn = PQconnectStartParams(keys, vals, 1);
        if (!s->conn)
                return store_error(s, -ENOMEM, "out of memory connecting to the database");
        if (PQstatus(s->conn) == CONNECTION_BAD)
                return lose(s, PQerrorMessage(s->conn));
        s->connecting = true;
        s->want_write = true; /* PQconnectPoll's rule: as if it had said WRITING */
        s->attempt_ms = tp_monotonic_ms();
        return 0;
}

/* One step of a connection attempt: 1 when it is made, 0 while it goes
 * on, a negative errno when it failed (offline until the next attempt). */
static int continue_connect(struct tp_store_impl *s)
{
        int r;

        if (tp_monotonic_ms() - s->attempt_ms > TP_STORE_PG_DEADLINE_MS) {
                char why[128];

                snprintf(why, sizeof why, "no answer from the database within %d ms of connecting",
                         TP_STORE_PG_DEADLINE_MS);
                return lose(s, why);
        }
        switch (PQconnectPoll(s->conn)) {
        case PGRES_POLLING_READING:
                s->want_write = false;
                return 0;
        case PGRES_POLLING_WRITING:
                s->want_write = true;
                return 0;
        case PGRES_POLLING_OK:
                if ((r = connected(s)) < 0) {
                        /* A refusal (a newer schema, a role without rights) is
                         * said as it was; the connection is tried again later. */
                        if (s->conn) {
                                char keep[sizeof s->errmsg];

                                memcpy(keep, s->errmsg, sizeof keep);
                                lose(s, keep);
                        }
                        return r;
                }
                return 1;
        default:
                return lose(s, PQerrorMessage(s->conn));
        }
}

/* The first connection, at start: made before this returns (bounded by
 * connect_timeout). Errors that a later attempt cannot mend (a bad
 * connection string, a role refused, a newer schema) are returned; an
 * unreachable database is not: the store starts offline and says so. */
int tp_store_pg_open(const char *conninfo, const char *host_id, const char *name,
                     struct tp_store **ret, char *why, size_t why_size)
{
        struct tp_store_impl *s;
        PQconninfoOption *opts;
        char *err = NULL;
        int r;

        if (!conninfo || !*conninfo || !host_id || !*host_id || strlen(host_id) >= TP_HOST_ID_MAX || !ret)
                return -EINVAL;
        if (!strchr(conninfo, '=') && strncmp(conninfo, "postgres", 8) != 0) {
                opts = NULL; /* a bare database name: libpq takes it as dbname */
        } else if (!(opts = PQconninfoParse(conninfo, &err))) {
                snprintf(why, why_size, "%s", err ? err : "out of memory");
                PQfreemem(err);
                return err ? -EINVAL : -ENOMEM;
        }
        PQconninfoFree(opts);
        s = calloc(1, sizeof *s);
        if (!s || !(s->conninfo = strdup(conninfo))) {
                free(s);
                return -ENOMEM;
        }
        s->pub.ops = &pg_ops;
        s->pub.impl = s;
        s->uploads_held = true; /* until the daemon says otherwise */
        s->synced_seq = -1;
        snprintf(s->host, sizeof s->host, "%s", host_id);
        snprintf(s->name, sizeof s->name, "%s", name && *name ? name : host_id);
        r = start_connect(s);
        while (r == 0) {
                struct pollfd p = { .fd = PQsocket(s->conn), .events = s->want_write ? POLLOUT : POLLIN };

                if (poll(&p, 1, 100) < 0 && errno != EINTR)
                        r = lose(s, "poll failed");
                else
                        r = continue_connect(s);
        }
        if (r < 0 && s->offline_since == 0) { /* failed while connected: not offline */
                snprintf(why, why_size, "%s", s->errmsg);
                pg_close(s);
                return r;
        }
        if (r < 0 && (r == -EPROTO || r == -EACCES || r == -EIO || strstr(s->errmsg, "password") ||
                      strstr(s->errmsg, "authentication"))) {
                snprintf(why, why_size, "%s", s->errmsg);
                pg_close(s);
                return r == -ECONNRESET ? -EACCES : r;
        }
        *ret = &s->pub;
        if (r < 0) {
                snprintf(why, why_size, "%s", s->offline_why);
                return 1; /* offline */
        }
        return 0;
}

static const char *pg_errmsg(struct tp_store_impl *s)
{
        if (!s)
                return "session store is not open";
        return s->errmsg[0] ? s->errmsg : "no error";
}

/* ---- the mirror of this host's sessions ------------------------------------------ */

/* One change to a session of this host, to be made in the mirror: the
 * session (insert), or its id and the values the change sets. */
struct mirror_op {
        enum { MIRROR_INSERT, MIRROR_END, MIRROR_END_HELD, MIRROR_REINSTATE, MIRROR_EXTEND, MIRROR_TOUCH,
               MIRROR_ADOPT_BOOT } kind;
        int64_t since;          /* MIRROR_ADOPT_BOOT */
        struct tp_session s;
};

/* The changes queued before a flush is made at once: a bound on the
 * queue's memory (about 0.5 MiB) and on what one flush writes. */
#define MIRROR_FLUSH_AT 512

/* Queue a change (NULL when there is no mirror, or no memory: then it is
 * stale). Outside a transaction of ours it stands at once. */
static struct mirror_op *mirror_queue(struct tp_store_impl *s, int kind, const char *id)
{
        struct mirror_op *op;

        if (!s->mirror || s->mirror_stale)
                return NULL;
        if (s->n_mirror_ops == s->cap_mirror_ops) {
                size_t cap = s->cap_mirror_ops ? 2 * s->cap_mirror_ops : 16;
                struct mirror_op *ops = realloc(s->mirror_ops, cap * sizeof *ops);

                if (!ops) {
                        s->mirror_stale = true;
                        return NULL;
                }
                s->mirror_ops = ops;
                s->cap_mirror_ops = cap;
        }
        op = &s->mirror_ops[s->n_mirror_ops++];
        memset(op, 0, sizeof *op);
        op->kind = kind;
        if (id)
                snprintf(op->s.id, sizeof op->s.id, "%s", id);
        if (!s->in_tx)
                s->n_mirror_committed = s->n_mirror_ops;
        return op;
}

static int mirror_apply(struct tp_store *m, const struct mirror_op *op)
{
        size_t n;

        switch (op->kind) {
        case MIRROR_INSERT:
                return tp_store_insert(m, &op->s);
        case MIRROR_END:
                return tp_store_end(m, op->s.id, op->s.state, op->s.ended);
        case MIRROR_END_HELD:
                return tp_store_end_held(m, op->s.id, op->s.ended);
        case MIRROR_REINSTATE:
                return tp_store_reinstate(m, op->s.id);
        case MIRROR_EXTEND:
                return tp_store_extend(m, op->s.id, op->s.refresh_hash, op->s.refresh_expires,
                                       op->s.last_extended);
        case MIRROR_TOUCH:
                return tp_store_touch(m, op->s.id, op->s.last_used);
        case MIRROR_ADOPT_BOOT:
                return tp_store_adopt_boot(m, op->s.boot_id, op->since, &n);
        }
        return -EINVAL;
}

/* The changes whose transactions committed, made in the mirror in one
 * transaction that does not wait for the disk. A session the mirror does
 * not hold, or holds ended, is no one's business but ours; any other
 * failure leaves it stale. */
static void mirror_flush(struct tp_store_impl *s)
{
        size_t n = s->n_mirror_committed;
        int r;

        if (n == 0 || !s->mirror)
                return;
        if (!s->mirror_stale) {
                if ((r = tp_store_begin(s->mirror)) < 0) {
                        s->mirror_stale = true;
                } else {
                        for (size_t i = 0; i < n && r >= 0; i++)
                                if ((r = mirror_apply(s->mirror, &s->mirror_ops[i])) == -ENOENT || r == -ESTALE ||
                                    r == -EEXIST)
                                        r = 0;
                        if (r < 0 || tp_store_commit_unsynced(s->mirror) < 0) {
                                tp_store_rollback(s->mirror);
                                s->mirror_stale = true;
                        }
                }
        }
        memmove(s->mirror_ops, s->mirror_ops + n, (s->n_mirror_ops - n) * sizeof *s->mirror_ops);
        s->n_mirror_ops -= n;
        s->n_mirror_committed = 0;
}

/* Our transaction ended: its changes stand (kept) or are dropped. */
static void mirror_tx_ended(struct tp_store_impl *s, bool kept)
{
        if (kept)
                s->n_mirror_committed = s->n_mirror_ops;
        else
                s->n_mirror_ops = s->n_mirror_committed;
        if (s->n_mirror_committed >= MIRROR_FLUSH_AT)
                mirror_flush(s);
}

void tp_store_pg_mirror(struct tp_store *pg, struct tp_store *mirror)
{
        struct tp_store_impl *s = pg->impl;

        if (pg->ops != &pg_ops)
                return;
        s->mirror = mirror;
        s->mirror_stale = false;
        s->n_mirror_ops = s->n_mirror_committed = 0;
}

void tp_store_pg_mirror_flush(struct tp_store *pg)
{
        if (pg->ops == &pg_ops)
                mirror_flush(pg->impl);
}

bool tp_store_pg_mirror_stale(struct tp_store *pg)
{
        return pg->ops == &pg_ops && pg->impl->mirror_stale;
}

/* ---- transactions --------------------------------------------------------------- */

/* Inside a transaction: make and lock the cap's row (MAKE_CAP_SQL). Both
 * statements wait in the queue for the next one that is read. */
static int lock_cap(struct tp_store_impl *s, const char *user, const char *client)
{
        const char *v[] = { user, client };
        int r;

        if ((r = pg_run(s, MAKE_CAP_SQL, 2, v, NULL)) < 0)
                return r;
        return pg_run(s, LOCK_CAP_SQL, 2, v, NULL);
}

static int pg_begin(struct tp_store_impl *s)
{
        int r;

        if (s->in_tx)
                return store_error(s, -EALREADY, "a transaction is already open");
        if ((r = ensure_conn(s)) < 0)
                return r;
        s->deadline_ms = tp_monotonic_ms() + TP_STORE_PG_DEADLINE_MS;
        s->in_tx = true;
        /* Sent with the transaction's first statement that is read. */
        if ((r = pg_run(s, "BEGIN", 0, NULL, NULL)) < 0) {
                s->in_tx = false;
                s->deadline_ms = 0;
        }
        return r;
}

/* COMMIT returns once the server has made the changes durable (its
 * synchronous_commit, and synchronous standbys where configured). */
static int pg_commit(struct tp_store_impl *s)
{
        PGresult *res;
        int r;

        if (!s->in_tx)
                return store_error(s, -EINVAL, "no transaction is open");
        /* With the statements still queued, in one round trip. A deadline
         * missed here leaves the outcome unknown to us: the request fails,
         * and the session, if it was written, is a ghost whose leader
         * never learnt of it (reaped as any other). */
        if ((r = pg_run(s, "COMMIT", 0, NULL, &res)) < 0)
                return r;
        /* A transaction that failed earlier ends in ROLLBACK, reported as
         * a successful command: it must not be taken for a commit. */
        r = strcmp(PQcmdStatus(res), "COMMIT") == 0 ? 0
                : store_error(s, -EIO, "the transaction was rolled back after an error");
        PQclear(res);
        s->in_tx = false;
        s->deadline_ms = 0;
        mirror_tx_ended(s, r == 0);
        if (r == 0)
                s->request_changed = true;
        return r;
}

/* A sign-out need not be durable (store.h): PostgreSQL may acknowledge
 * it before its WAL is flushed. A crash of the database server can lose
 * the last of them; their sessions come back as active with their
 * leaders gone, and ghost checks close them. */
static int pg_commit_unsynced(struct tp_store_impl *s)
{
        int r;

        if (!s->in_tx)
                return store_error(s, -EINVAL, "no transaction is open");
        if ((r = pg_run(s, "SET LOCAL synchronous_commit TO off", 0, NULL, NULL)) < 0)
                return r;
        return pg_commit(s);
}

static void pg_rollback(struct tp_store_impl *s)
{
        if (!s || !s->in_tx)
                return;
        s->in_tx = false;
        mirror_tx_ended(s, false); /* nothing of it stands */
        free_queue(s); /* not sent: nothing to undo on the server */
        /* The server's own word on whether a transaction is open: a BEGIN
         * still queued opened none. */
        if (s->conn && !s->connecting && PQstatus(s->conn) == CONNECTION_OK &&
            PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
                /* A deadline of its own: the transaction's may have passed. */
                s->deadline_ms = 0;
                PQclear(exchange(s, "ROLLBACK", 0, (const char *const[]){ NULL }));
        }
        s->deadline_ms = 0;
}

/* No group commit: each transaction is durable at its own COMMIT. */
static void pg_batch_start(struct tp_store_impl *s)
{
        (void) s;
}

static bool pg_batch_pending(const struct tp_store_impl *s)
{
        (void) s;
        return false;
}

static bool pg_request_changed(struct tp_store_impl *s)
{
        bool changed = s->request_changed;

        s->request_changed = false;
        return changed;
}

static int pg_batch_commit(struct tp_store_impl *s)
{
        pg_rollback(s); /* a caller that forgot its rollback */
        return 0;
}

/* ---- sessions ------------------------------------------------------------------ */

/* COMMIT, sent with the statements queued before it: one round trip.
 * *kept is the result of the queued statement that asked for it
 * (queue[].keep). 0 once committed, the transaction over; on failure the
 * caller rolls back. */
static int commit_pipeline(struct tp_store_impl *s, PGresult **kept)
{
        PGresult *res;
        int r;

        if ((r = pg_run(s, "COMMIT", 0, NULL, &res)) < 0)
                return r;
        r = strcmp(PQcmdStatus(res), "COMMIT") == 0 && *kept
                    ? 0 : store_error(s, -EIO, "the transaction was rolled back after an error");
        PQclear(res);
        if (r == 0) {
                s->in_tx = false;
                s->deadline_ms = 0;
        }
        return r;
}

/* The columns of a new session as text parameters, in INSERT_COLUMNS'
 * order, in buffers of p; v[] points into them. */
struct session_params {
        char uid[INT_TEXT], pid[INT_TEXT], created[INT_TEXT], expires[INT_TEXT], extended[INT_TEXT],
                used[INT_TEXT], ended[INT_TEXT], state[INT_TEXT], start[INT_TEXT],
                hash[3 + 2 * TP_REFRESH_HASH_LEN];
        const char *v[19];
};

static int session_params(struct tp_store_impl *s, const struct tp_session *sess, struct session_params *p)
{
        int r;

        if ((r = field_ok(s, sess->id, sizeof sess->id, "id")) < 0 ||
            (r = field_ok(s, sess->user, sizeof sess->user, "user")) < 0 ||
            (r = field_ok(s, sess->client, sizeof sess->client, "client")) < 0 ||
            (r = field_ok(s, sess->service, sizeof sess->service, "service")) < 0 ||
            (r = field_ok(s, sess->rhost, sizeof sess->rhost, "rhost")) < 0 ||
            (r = field_ok(s, sess->tty, sizeof sess->tty, "tty")) < 0 ||
            (r = field_ok(s, sess->logind_session, sizeof sess->logind_session, "logind_session")) < 0 ||
            (r = field_ok(s, sess->boot_id, sizeof sess->boot_id, "boot_id")) < 0)
                return r;
        if (sess->state > TP_STATE_MAX_)
                return store_error(s, -EINVAL, "bad session state");
        hash_text(sess->refresh_hash, p->hash);
        /* A host records only sessions it runs itself. */
        const char *v[] = {
                sess->id, s->host, sess->user, int_text(p->uid, sess->uid), sess->client,
                sess->service, sess->rhost, sess->tty, int_text(p->pid, sess->leader_pid),
                sess->logind_session, int_text(p->created, sess->created),
                int_text(p->expires, sess->refresh_expires), int_text(p->extended, sess->last_extended),
                int_text(p->used, sess->last_used), int_text(p->ended, sess->ended),
                int_text(p->state, sess->state), p->hash,
                int_text(p->start, sess->leader_start > INT64_MAX ? 0 : (int64_t) sess->leader_start),
                sess->boot_id,
        };
        memcpy(p->v, v, sizeof v);
        return 0;
}

#define INSERT_COLUMNS                                                                       \
        "INSERT INTO tp_sessions (id, host, user_name, uid, client, service, rhost, tty, "   \
        "leader_pid, logind_session, created, refresh_expires, last_extended, last_used, "   \
        "ended, state, refresh_hash, leader_start, boot_id) "

static int pg_insert(struct tp_store_impl *s, const struct tp_session *sess)
{
        struct session_params p;
        struct mirror_op *op;
        int r;

        if ((r = session_params(s, sess, &p)) < 0 ||
            (r = pg_run(s, INSERT_COLUMNS "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
                           "$14, $15, $16, $17::bytea, $18, $19)",
                        19, p.v, NULL)) < 0)
                return r;
        if ((op = mirror_queue(s, MIRROR_INSERT, NULL)))
                op->s = *sess;
        return 0;
}

/* tp_store_insert_under_cap: BEGIN, the cap's lock, an insert that counts
 * under that lock and writes only when there is room, and COMMIT, as one
 * pipeline: one round trip. The count reads the same partial index as
 * pg_list_active(). Without room nothing but the lock was written. */
static int pg_insert_under_cap(struct tp_store_impl *s, const char *user, const char *client, size_t room,
                               int64_t now, tp_store_make_fn *make, void *ctx, struct tp_session *sess,
                               bool *ret_inserted)
{
        struct session_params p;
        struct mirror_op *op;
        char room_text[INT_TEXT], now_text[INT_TEXT];
        const char *v[21];
        PGresult *ins = NULL;
        int r;

        *ret_inserted = false;
        if (room > INT64_MAX)
                return store_error(s, -EINVAL, "bad room under the cap");
        /* The session goes in the same round trip as the count: made first. */
        if ((r = make(ctx, sess)) < 0)
                return r;
        if (strcmp(sess->user, user) != 0 || strcmp(sess->client, client) != 0)
                return store_error(s, -EINVAL, "the session made is not of the user and client type counted");
        if ((r = session_params(s, sess, &p)) < 0)
                return r;
        memcpy(v, p.v, sizeof p.v);
        v[19] = int_text(room_text, (int64_t) room);
        v[20] = int_text(now_text, now);
        if ((r = pg_begin(s)) < 0)
                return r;
        if ((r = lock_cap(s, sess->user, sess->client)) < 0 ||
            (r = pg_run(s, INSERT_COLUMNS "SELECT $1, $2, $3, $4::bigint, $5, $6, $7, $8, $9::bigint, $10, "
                           "$11::bigint, $12::bigint, $13::bigint, $14::bigint, $15::bigint, $16::smallint, "
                           "$17::bytea, $18::bigint, $19 "
                           "WHERE (SELECT count(*) < $20::bigint AND NOT coalesce(bool_or(refresh_expires <= $21::bigint), false) "
                           "FROM tp_sessions WHERE user_name = $3 AND client = $5 AND state = 0)",
                        21, v, NULL)) < 0)
                goto fail;
        s->queue[s->n_queued - 1].keep = &ins;
        if ((r = commit_pipeline(s, &ins)) < 0)
                goto fail;
        *ret_inserted = affected(ins) == 1;
        if (*ret_inserted) {
                if ((op = mirror_queue(s, MIRROR_INSERT, NULL)))
                        op->s = *sess;
                s->request_changed = true;
        }
        mirror_tx_ended(s, *ret_inserted);
        PQclear(ins);
        return 0;
fail:
        PQclear(ins);
        pg_rollback(s);
        return r;
}

static int pg_get(struct tp_store_impl *s, const char *id, struct tp_session *ret)
{
        const char *v[] = { id };
        struct tp_session *rows = NULL;
        size_t n = 0;
        int r;

        if ((r = select_sessions(s, "SELECT " SESSION_COLUMNS " FROM tp_sessions WHERE id = $1", 1, v,
                                 &rows, &n)) < 0)
                return r;
        if (n == 0)
                r = store_error(s, -ENOENT, "no such session");
        else
                *ret = rows[0];
        free(rows);
        return r;
}

/* Inside a transaction (a sign-in), first lock the row of (user, client
 * type): a sign-in of the same user and type on any host waits here until
 * this transaction ends, and then counts what it committed. */
static int pg_list_active(struct tp_store_impl *s, const char *user, const char *client,
                          struct tp_session **ret, size_t *ret_n)
{
        const char *v[] = { user, client };
        int r;

        if (s->in_tx && (r = lock_cap(s, user, client)) < 0)
                return r;
        return select_sessions(s, "SELECT " SESSION_COLUMNS " FROM tp_sessions "
                                  "WHERE user_name = $1 AND client = $2 AND state = 0 ORDER BY created, seq",
                               2, v, ret, ret_n);
}

/* One host's active sessions, a page at a time (ghosts). */
static int pg_active_page(struct tp_store_impl *s, struct tp_store_cursor *cur, size_t limit,
                          struct tp_session **ret, size_t *ret_n)
{
        char created[INT_TEXT], seq[INT_TEXT], lim[INT_TEXT];
        const char *v[] = { s->host, int_text(created, cur->created), int_text(seq, cur->rowid),
                            int_text(lim, (int64_t) limit) };
        PGresult *res;
        int64_t last = 0;
        size_t n = 0;
        int r;

        if (limit == 0 || limit > INT_MAX)
                return store_error(s, -EINVAL, "bad page size");
        if ((r = pg_run(s, "SELECT " SESSION_COLUMNS " FROM tp_sessions WHERE host = $1 AND state = 0 "
                           "AND (created, seq) > ($2, $3) ORDER BY created, seq LIMIT $4",
                        4, v, &res)) < 0)
                return r;
        if (PQntuples(res) > 0)
                last = row_seq(res, PQntuples(res) - 1);
        if ((r = collect(s, res, ret, &n)) < 0)
                return r;
        *cur = n < limit ? TP_STORE_CURSOR_START : (struct tp_store_cursor){ (*ret)[n - 1].created, last };
        *ret_n = n;
        return 0;
}

/* The count and the page in one snapshot (REPEATABLE READ when not
 * already inside a transaction). Fleet-wide. */
static int pg_query(struct tp_store_impl *s, const struct tp_store_filter *f, size_t offset, size_t limit,
                    struct tp_session **ret, size_t *ret_n, size_t *ret_total)
{
        static const struct tp_store_filter active_only = { 0 };
        char where[160] = "", sql[512], lim[INT_TEXT], off[INT_TEXT];
        const char *v[4];
        struct tp_session *rows = NULL;
        bool own_tx = false;
        uint64_t total = 0;
        size_t n = 0;
        int k = 0, r;

        if (!f)
                f = &active_only;
        if (f->user && f->user[0]) {
                v[k++] = f->user;
                snprintf(where + strlen(where), sizeof where - strlen(where), "%s user_name = $%d",
                         k > 1 ? " AND" : " WHERE", k);
        }
        if (f->client && f->client[0]) {
                v[k++] = f->client;
                snprintf(where + strlen(where), sizeof where - strlen(where), "%s client = $%d",
                         k > 1 ? " AND" : " WHERE", k);
        }
        if (!f->all)
                snprintf(where + strlen(where), sizeof where - strlen(where), "%s state = 0",
                         k > 0 ? " AND" : " WHERE");
        if (!s->in_tx) {
                if ((r = pg_run(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL)) < 0)
                        return r;
                s->in_tx = own_tx = true;
        }
        snprintf(sql, sizeof sql, "SELECT count(*) FROM tp_sessions%s", where);
        if ((r = select_count(s, sql, k, v, &total)) < 0)
                goto out;
        if (total > SIZE_MAX) {
                r = store_error(s, -EOVERFLOW, "too many sessions");
                goto out;
        }
        v[k] = int_text(lim, limit > INT64_MAX ? INT64_MAX : (int64_t) limit);
        v[k + 1] = int_text(off, offset > INT64_MAX ? INT64_MAX : (int64_t) offset);
        snprintf(sql, sizeof sql, "SELECT " SESSION_COLUMNS " FROM tp_sessions%s ORDER BY created, seq "
                 "LIMIT $%d OFFSET $%d", where, k + 1, k + 2);
        if ((r = select_sessions(s, sql, k + 2, v, &rows, &n)) < 0)
                goto out;
        if (own_tx) {
                s->in_tx = own_tx = false;
                if ((r = pg_run(s, "COMMIT", 0, NULL, NULL)) < 0)
                        goto out;
        }
        *ret = rows;
        *ret_n = n;
        *ret_total = (size_t) total;
        rows = NULL;
out:
        if (own_tx)
                pg_rollback(s);
        free(rows);
        return r;
}

static int missing_or_stale(struct tp_store_impl *s, const char *id)
{
        const char *v[] = { id };
        uint64_t n = 0;
        int r;

        if ((r = select_count(s, "SELECT count(*) FROM tp_sessions WHERE id = $1", 1, v, &n)) < 0)
                return r;
        return n ? store_error(s, -ESTALE, "the session is no longer active")
                 : store_error(s, -ENOENT, "no such session");
}

/* Ending another host's session leaves it owed to that host, and wakes
 * it when this transaction commits (NOTIFY is transactional). */
static int pg_end(struct tp_store_impl *s, const char *id, uint8_t state, int64_t ended)
{
        struct mirror_op *op;
        char st[INT_TEXT], at[INT_TEXT];
        const char *v[] = { int_text(st, state), int_text(at, ended), id, s->host };
        PGresult *res;
        int r;

        if (state == TP_STATE_ACTIVE || state > TP_STATE_MAX_)
                return store_error(s, -EINVAL, "not an ended session state");
        if ((r = pg_run(s, "UPDATE tp_sessions SET state = $1, ended = $2, owed = (host <> $4) "
                           "WHERE id = $3 AND state = 0 RETURNING host",
                        4, v, &res)) < 0)
                return r;
        if (PQntuples(res) == 0) {
                PQclear(res);
                return missing_or_stale(s, id);
        }
        if (strcmp(PQgetvalue(res, 0, 0), s->host) != 0) {
                const char *w[] = { PQgetvalue(res, 0, 0) };

                r = pg_run(s, "SELECT pg_notify('" NOTIFY_CHANNEL "', $1)", 1, w, NULL);
        } else if ((op = mirror_queue(s, MIRROR_END, id))) {
                op->s.state = state;
                op->s.ended = ended;
        }
        PQclear(res);
        return r;
}

/* A sign-out (tp_store_sign_out): BEGIN, the end, SET LOCAL
 * synchronous_commit and COMMIT go as one pipeline, one round trip, and
 * the end's result is read with the commit's. Ending another host's
 * session wakes that host in the same statement, as pg_end() does with a
 * second. An end that finds nothing to end commits nothing. */
static int pg_sign_out(struct tp_store_impl *s, const char *id, uint8_t state, int64_t ended, int64_t uid,
                       struct tp_session *ret)
{
        struct mirror_op *op;
        char st[INT_TEXT], at[INT_TEXT], u[INT_TEXT];
        const char *v[] = { int_text(st, state), int_text(at, ended), id, s->host, int_text(u, uid) };
        PGresult *end_res = NULL;
        int r;

        if (state == TP_STATE_ACTIVE || state > TP_STATE_MAX_)
                return store_error(s, -EINVAL, "not an ended session state");
        if ((r = pg_begin(s)) < 0)
                return r;
        if ((r = pg_run(s, "WITH e AS (UPDATE tp_sessions SET state = $1, ended = $2, owed = (host <> $4) "
                           "WHERE id = $3 AND state = 0 AND ($5::bigint < 0 OR uid = $5::bigint) "
                           "RETURNING " SESSION_COLUMNS ") "
                           "SELECT " SESSION_COLUMNS ", "
                           "CASE WHEN host <> $4 THEN pg_notify('" NOTIFY_CHANNEL "', host)::text END FROM e",
                        5, v, NULL)) < 0)
                goto fail;
        s->queue[s->n_queued - 1].keep = &end_res;
        if ((r = pg_run(s, "SET LOCAL synchronous_commit TO off", 0, NULL, NULL)) < 0 ||
            (r = commit_pipeline(s, &end_res)) < 0)
                goto fail;
        if (PQntuples(end_res) == 0) {
                mirror_tx_ended(s, false);
                r = missing_or_stale(s, id);
        } else {
                /* The row as it was ended. A damaged one fails the call,
                 * but the end stands. */
                if (ret)
                        r = session_from_row(s, end_res, 0, ret);
                if (strcmp(PQgetvalue(end_res, 0, COL_HOST), s->host) == 0 &&
                    (op = mirror_queue(s, MIRROR_END, id))) {
                        op->s.state = state;
                        op->s.ended = ended;
                }
                mirror_tx_ended(s, true);
                s->request_changed = true;
        }
        PQclear(end_res);
        return r;
fail:
        PQclear(end_res);
        pg_rollback(s);
        return r;
}

static int update_active(struct tp_store_impl *s, const char *sql, int n, const char *const *v, const char *id)
{
        PGresult *res;
        uint64_t changed;
        int r;

        if ((r = pg_run(s, sql, n, v, &res)) < 0)
                return r;
        changed = affected(res);
        PQclear(res);
        return changed ? 0 : missing_or_stale(s, id);
}

/* An eviction waiting for its sign-in's outcome: as pg_end(REVOKED) but
 * not yet owed to the host that runs it (pg_owe(), when it stands). */
static int pg_end_held(struct tp_store_impl *s, const char *id, int64_t ended)
{
        struct mirror_op *op;
        char at[INT_TEXT];
        const char *v[] = { int_text(at, ended), id };

        int r = update_active(s, "UPDATE tp_sessions SET state = 1, ended = $1, owed = false "
                                 "WHERE id = $2 AND state = 0", 2, v, id);

        if (r == 0 && (op = mirror_queue(s, MIRROR_END_HELD, id)))
                op->s.ended = ended;
        return r;
}

static int pg_owe(struct tp_store_impl *s, const char *id)
{
        const char *v[] = { id, s->host };
        PGresult *res;
        int r;

        if ((r = pg_run(s, "UPDATE tp_sessions SET owed = true WHERE id = $1 AND host <> $2 "
                           "AND state <> 0 AND NOT owed RETURNING host", 2, v, &res)) < 0)
                return r;
        if (PQntuples(res) == 1) {
                const char *w[] = { PQgetvalue(res, 0, 0) };

                r = pg_run(s, "SELECT pg_notify('" NOTIFY_CHANNEL "', $1)", 1, w, NULL);
        }
        PQclear(res);
        return r;
}

/* Undo an eviction (OUTCOME of a failed sign-in). Only one held by
 * pg_end_held() and never owed: a session its host was told to end may
 * be gone already, so it stays revoked (-ESTALE). */
static int pg_reinstate(struct tp_store_impl *s, const char *id)
{
        const char *v[] = { id };

        int r = update_active(s, "UPDATE tp_sessions SET state = 0, ended = 0 "
                                 "WHERE id = $1 AND state = 1 AND NOT owed", 1, v, id);

        if (r == 0)
                (void) mirror_queue(s, MIRROR_REINSTATE, id);
        return r;
}

static int pg_extend(struct tp_store_impl *s, const char *id, const uint8_t hash[TP_REFRESH_HASH_LEN],
                     int64_t refresh_expires, int64_t now)
{
        struct mirror_op *op;
        char h[3 + 2 * TP_REFRESH_HASH_LEN], exp[INT_TEXT], at[INT_TEXT];
        const char *v[] = { h, int_text(exp, refresh_expires), int_text(at, now), id };

        int r;

        hash_text(hash, h);
        r = update_active(s, "UPDATE tp_sessions SET refresh_hash = $1::bytea, refresh_expires = $2, "
                             "last_extended = $3, last_used = $3 WHERE id = $4 AND state = 0",
                          4, v, id);
        if (r == 0 && (op = mirror_queue(s, MIRROR_EXTEND, id))) {
                memcpy(op->s.refresh_hash, hash, TP_REFRESH_HASH_LEN);
                op->s.refresh_expires = refresh_expires;
                op->s.last_extended = now;
        }
        return r;
}

static int pg_touch(struct tp_store_impl *s, const char *id, int64_t now)
{
        struct mirror_op *op;
        char at[INT_TEXT];
        const char *v[] = { int_text(at, now), id };

        int r = update_active(s, "UPDATE tp_sessions SET last_used = $1 WHERE id = $2 AND state = 0", 2, v, id);

        if (r == 0 && (op = mirror_queue(s, MIRROR_TOUCH, id)))
                op->s.last_used = now;
        return r;
}

static int pg_count_active(struct tp_store_impl *s, uint64_t *ret)
{
        return select_count(s, "SELECT count(*) FROM tp_sessions WHERE state = 0", 0, NULL, ret);
}

/* A leader is a process of this host: only this host's sessions share it. */
static int pg_count_leader_shared(struct tp_store_impl *s, const char *id, uint32_t leader_pid,
                                  uint64_t leader_start, uint64_t *ret)
{
        char pid[INT_TEXT], start[INT_TEXT];
        const char *v[] = { s->host, int_text(pid, leader_pid), int_text(start, (int64_t) leader_start), id };

        if (leader_pid == 0 || leader_start == 0 || leader_start > INT64_MAX) {
                *ret = 0;
                return 0;
        }
        return select_count(s, "SELECT count(*) FROM tp_sessions WHERE host = $1 AND state = 0 "
                               "AND leader_pid = $2 AND leader_start = $3 AND id <> $4",
                            4, v, ret);
}

static int pg_scan_expiries(struct tp_store_impl *s, tp_store_expiry_fn fn, void *userdata)
{
        const char *v[] = { s->host };
        char id[TP_SESSION_ID_MAX];
        PGresult *res;
        int64_t expires;
        int r;

        if ((r = pg_run(s, "SELECT id, refresh_expires FROM tp_sessions WHERE host = $1 AND state = 0",
                        1, v, &res)) < 0)
                return r;
        for (int i = 0; i < PQntuples(res) && r == 0; i++) {
                if ((r = get_text(s, res, i, 0, id, sizeof id)) < 0 ||
                    (r = get_int(s, res, i, 1, INT64_MIN, INT64_MAX, &expires)) < 0)
                        break;
                r = fn(id, expires, userdata);
        }
        PQclear(res);
        return r;
}

/* ---- listings (fleet-wide) ---------------------------------------------------------- */

static int pg_list_page(struct tp_store_impl *s, const struct tp_store_filter *f,
                        const struct tp_store_list_pos *after, size_t limit, size_t budget,
                        struct tp_session **ret, size_t *ret_n, struct tp_store_list_pos *ret_next,
                        bool *ret_more)
{
        static const struct tp_store_list_pos start = { 0, INT64_MIN, INT64_MIN };
        static const struct tp_store_filter active_only = { 0 };
        struct tp_store_list_pos pos = after ? *after : start;
        char state[INT_TEXT], created[INT_TEXT], seq[INT_TEXT], lim[INT_TEXT];
        const char *v[5], *sql, *client;
        struct tp_session *rows = NULL;
        size_t n = 0, looked = 0;
        PGresult *res = NULL;
        bool more = false, by_user;
        int k = 0, r = 0;

        if (limit == 0 || budget == 0 || budget > INT_MAX)
                return store_error(s, -EINVAL, "bad page size");
        if (!f)
                f = &active_only;
        client = f->client && f->client[0] ? f->client : NULL;
        by_user = f->user && f->user[0];
        if (!f->all && pos.state != TP_STATE_ACTIVE)
                goto done;
        if (by_user)
                v[k++] = f->user;
        if (f->all)
                v[k++] = int_text(state, pos.state);
        v[k++] = int_text(created, pos.created);
        v[k++] = int_text(seq, pos.seq);
        v[k++] = int_text(lim, (int64_t) budget + 1); /* one past: does anything follow? */
        if (f->all && by_user)
                sql = "SELECT " SESSION_COLUMNS " FROM tp_sessions WHERE user_name = $1 AND "
                      "(state, created, seq) > ($2, $3, $4) ORDER BY state, created, seq LIMIT $5";
        else if (f->all)
                sql = "SELECT " SESSION_COLUMNS " FROM tp_sessions WHERE "
                      "(state, created, seq) > ($1, $2, $3) ORDER BY state, created, seq LIMIT $4";
        else if (by_user)
                sql = "SELECT " SESSION_COLUMNS " FROM tp_sessions WHERE user_name = $1 AND state = 0 "
                      "AND (created, seq) > ($2, $3) ORDER BY created, seq LIMIT $4";
        else
                sql = "SELECT " SESSION_COLUMNS " FROM tp_sessions WHERE state = 0 "
                      "AND (created, seq) > ($1, $2) ORDER BY created, seq LIMIT $3";
        if ((r = pg_run(s, sql, k, v, &res)) < 0)
                goto out;
        rows = calloc(limit, sizeof *rows);
        if (!rows) {
                r = store_error(s, -ENOMEM, "out of memory reading sessions");
                goto out;
        }
        for (int i = 0; i < PQntuples(res); i++) {
                int64_t st;

                if (n == limit || looked == budget) {
                        more = true;
                        break;
                }
                looked++;
                if ((r = get_int(s, res, i, COL_STATE, 0, TP_STATE_MAX_, &st)) < 0 ||
                    (r = get_int(s, res, i, COL_CREATED, INT64_MIN, INT64_MAX, &pos.created)) < 0)
                        goto out;
                pos.state = (uint8_t) st;
                pos.seq = row_seq(res, i);
                if (client && strcmp(PQgetvalue(res, i, COL_CLIENT), client) != 0)
                        continue;
                if (f->host && f->host[0] && strcmp(PQgetvalue(res, i, COL_HOST), f->host) != 0)
                        continue;
                if ((r = session_from_row(s, res, i, &rows[n])) < 0)
                        goto out;
                n++;
        }
done:
        *ret = n > 0 ? rows : NULL;
        if (n > 0)
                rows = NULL;
        *ret_n = n;
        *ret_next = pos;
        *ret_more = more;
out:
        PQclear(res);
        free(rows);
        return r;
}

/* ---- this host's history ------------------------------------------------------------- */

static int pg_purge_step(struct tp_store_impl *s, int64_t before, size_t budget, struct tp_store_purge_pos *pos,
                         size_t *ret_deleted)
{
        char state[INT_TEXT], created[INT_TEXT], seq[INT_TEXT], bef[INT_TEXT], lim[INT_TEXT], one[INT_TEXT];
        size_t looked = 0, deleted = 0;
        int r = 0;

        *ret_deleted = 0;
        if (budget == 0 || budget > INT_MAX)
                return store_error(s, -EINVAL, "bad purge step size");
        if (pos->state == TP_STATE_ACTIVE)
                *pos = (struct tp_store_purge_pos){ TP_STATE_ACTIVE + 1, INT64_MIN, INT64_MIN };
        while (looked < budget && pos->state <= TP_STATE_MAX_) {
                const char *v[] = { s->host, int_text(state, pos->state), int_text(created, pos->created),
                                    int_text(seq, pos->rowid), int_text(bef, before),
                                    int_text(lim, (int64_t) (budget - looked)) };
                PGresult *res;
                size_t got;

                if ((r = pg_run(s, "SELECT seq, created, ended FROM tp_sessions WHERE host = $1 AND state = $2 "
                                   "AND (created, seq) > ($3, $4) AND created < $5 ORDER BY created, seq LIMIT $6",
                                6, v, &res)) < 0)
                        return r;
                got = (size_t) PQntuples(res);
                for (size_t i = 0; i < got; i++) {
                        int64_t rowseq = strtoll(PQgetvalue(res, (int) i, 0), NULL, 10);
                        int64_t ended = strtoll(PQgetvalue(res, (int) i, 2), NULL, 10);

                        pos->rowid = rowseq;
                        pos->created = strtoll(PQgetvalue(res, (int) i, 1), NULL, 10);
                        if (ended < before) {
                                const char *w[] = { int_text(one, rowseq) };
                                PGresult *del;

                                if ((r = pg_run(s, "DELETE FROM tp_sessions WHERE seq = $1 AND state <> 0", 1, w,
                                                &del)) < 0) {
                                        PQclear(res);
                                        return r;
                                }
                                deleted += affected(del);
                                PQclear(del);
                        }
                }
                PQclear(res);
                looked += got;
                if (looked < budget)
                        *pos = (struct tp_store_purge_pos){ (uint8_t)(pos->state + 1), INT64_MIN, INT64_MIN };
        }
        *ret_deleted = deleted;
        if (pos->state > TP_STATE_MAX_) {
                *pos = (struct tp_store_purge_pos){ 0 };
                return 0;
        }
        return 1;
}

/* ---- this host's boots ----------------------------------------------------------------- */

static int pg_adopt_boot(struct tp_store_impl *s, const char *boot_id, int64_t since, size_t *ret_n)
{
        struct mirror_op *op;
        char at[INT_TEXT];
        const char *v[] = { boot_id, int_text(at, since), s->host };
        PGresult *res;
        int r;

        if (!boot_id[0] || strlen(boot_id) >= TP_BOOT_ID_MAX)
                return store_error(s, -EINVAL, "bad boot id");
        if ((r = pg_run(s, "UPDATE tp_sessions SET boot_id = $1 WHERE host = $3 AND state = 0 "
                           "AND boot_id = '' AND created >= $2",
                        3, v, &res)) < 0)
                return r;
        *ret_n = (size_t) affected(res);
        PQclear(res);
        if ((op = mirror_queue(s, MIRROR_ADOPT_BOOT, NULL))) {
                snprintf(op->s.boot_id, sizeof op->s.boot_id, "%s", boot_id);
                op->since = since;
        }
        return 0;
}

static int pg_other_boot_page(struct tp_store_impl *s, const char *boot_id, struct tp_store_cursor *cur,
                              size_t limit, struct tp_session **ret, size_t *ret_n)
{
        char created[INT_TEXT], seq[INT_TEXT], lim[INT_TEXT];
        const char *v[] = { s->host, boot_id, int_text(created, cur->created), int_text(seq, cur->rowid),
                            int_text(lim, (int64_t) limit) };
        PGresult *res;
        int64_t last = 0;
        size_t n = 0;
        int r;

        if (limit == 0 || limit > INT_MAX)
                return store_error(s, -EINVAL, "bad page size");
        if ((r = pg_run(s, "SELECT " SESSION_COLUMNS " FROM tp_sessions WHERE host = $1 AND state = 0 "
                           "AND boot_id <> $2 AND (created, seq) > ($3, $4) ORDER BY created, seq LIMIT $5",
                        5, v, &res)) < 0)
                return r;
        if (PQntuples(res) > 0)
                last = row_seq(res, PQntuples(res) - 1);
        if ((r = collect(s, res, ret, &n)) < 0)
                return r;
        *cur = n < limit ? TP_STORE_CURSOR_START : (struct tp_store_cursor){ (*ret)[n - 1].created, last };
        *ret_n = n;
        return 0;
}

static int pg_boot_checked(struct tp_store_impl *s, char *out, size_t outsz)
{
        const char *v[] = { s->host };
        PGresult *res;
        int r = 0;

        if (!out || outsz == 0)
                return -EINVAL;
        out[0] = '\0';
        if ((r = pg_run(s, "SELECT boot_checked FROM tp_hosts WHERE id = $1", 1, v, &res)) < 0)
                return r;
        if (PQntuples(res) == 1)
                r = get_text(s, res, 0, 0, out, outsz);
        PQclear(res);
        return r;
}

static int pg_set_boot_checked(struct tp_store_impl *s, const char *boot_id)
{
        const char *v[] = { boot_id, s->host };

        if (!boot_id[0] || strlen(boot_id) >= TP_BOOT_ID_MAX)
                return store_error(s, -EINVAL, "bad boot id");
        return pg_run(s, "UPDATE tp_hosts SET boot_checked = $1 WHERE id = $2", 2, v, NULL);
}

/* ---- what other hosts ended ------------------------------------------------------------- */

/* Drop the revocations every host seen lately is past (schema_v3): one
 * statement, so two hosts doing it at once drop each row once. */
static int purge_revocations(struct tp_store_impl *s, int64_t now)
{
        char since[INT_TEXT];
        const char *v[] = { int_text(since, now - HOST_AWAY_S) };

        return pg_run(s, "WITH gone AS (DELETE FROM tp_revocations WHERE seq <= "
                         "(SELECT min(synced_seq) FROM tp_hosts WHERE last_seen >= $1) RETURNING issued) "
                         "UPDATE tp_meta SET value = GREATEST(value::bigint, (SELECT max(issued) FROM gone))::text "
                         "WHERE key = 'revocations_purged_through' AND EXISTS (SELECT 1 FROM gone)",
                      1, v, NULL);
}

/* This host's heartbeat, and, when it holds no session the database has
 * not got, its word that it is past every revocation there is; when that
 * moved, the revocations every host is past are dropped. */
static int heartbeat(struct tp_store_impl *s)
{
        int64_t t = (int64_t) time(NULL), seq = 0;
        char now[INT_TEXT];
        const char *w[] = { s->host, int_text(now, t), s->uploads_held ? "t" : "f" };
        PGresult *res;
        int r;

        if ((r = pg_run(s, "UPDATE tp_hosts SET last_seen = $2, synced_seq = CASE WHEN $3::boolean THEN synced_seq "
                           "ELSE (SELECT coalesce(max(seq), 0) FROM tp_revocations) END WHERE id = $1 "
                           "RETURNING synced_seq",
                        3, w, &res)) < 0)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                return 0; /* not registered yet: the next connection does */
        }
        r = get_int(s, res, 0, 0, 0, INT64_MAX, &seq);
        PQclear(res);
        if (r < 0 || seq == s->synced_seq)
                return r;
        if ((r = purge_revocations(s, t)) == 0)
                s->synced_seq = seq; /* else tried again at the next heartbeat */
        return r;
}

/* Also this host's heartbeat: the owner looks here every few seconds. */
static int pg_owed_page(struct tp_store_impl *s, size_t limit, struct tp_session **ret, size_t *ret_n)
{
        char lim[INT_TEXT];
        const char *v[] = { s->host, int_text(lim, (int64_t) limit) };
        int r;

        if (limit == 0 || limit > INT_MAX)
                return store_error(s, -EINVAL, "bad page size");
        if ((r = heartbeat(s)) < 0 ||
            (r = select_sessions(s, "SELECT " SESSION_COLUMNS " FROM tp_sessions WHERE host = $1 AND owed "
                                    "ORDER BY ended, seq LIMIT $2",
                                 2, v, ret, ret_n)) < 0)
                return r;
        /* Ended by another host: ended in the mirror too. */
        for (size_t i = 0; i < *ret_n; i++) {
                struct mirror_op *op = mirror_queue(s, MIRROR_END, (*ret)[i].id);

                if (op) {
                        op->s.state = (*ret)[i].state;
                        op->s.ended = (*ret)[i].ended;
                }
        }
        return 0;
}

static int pg_settle(struct tp_store_impl *s, const char *id)
{
        const char *v[] = { id, s->host };
        PGresult *res;
        uint64_t n;
        int r;

        if ((r = pg_run(s, "UPDATE tp_sessions SET owed = false WHERE id = $1 AND host = $2 AND owed", 2, v,
                        &res)) < 0)
                return r;
        n = affected(res);
        PQclear(res);
        return n ? 0 : store_error(s, -ENOENT, "this host owes nothing to that session");
}

static int pg_wait_fd(struct tp_store_impl *s, bool *ret_write)
{
        *ret_write = s->connecting && s->want_write;
        if (!s->conn || (!s->connecting && PQstatus(s->conn) != CONNECTION_OK))
                return -1;
        return PQsocket(s->conn);
}

static int pg_wakeups(struct tp_store_impl *s)
{
        PGnotify *n;
        int mine = 0, r;

        if (!s->conn && tp_monotonic_ms() >= s->next_try_ms && start_connect(s) < 0)
                return offline_error(s);
        if (s->connecting && (r = continue_connect(s)) <= 0)
                return r < 0 ? r : offline_error(s);
        if (!s->conn)
                return offline_error(s);
        if (s->reconnected) { /* whatever was said while away is lost: look */
                s->reconnected = false;
                mine = 1;
        }
        if (PQstatus(s->conn) != CONNECTION_OK)
                return mine ? mine : lose(s, PQerrorMessage(s->conn));
        if (!PQconsumeInput(s->conn))
                return lose(s, PQerrorMessage(s->conn));
        while ((n = PQnotifies(s->conn)) != NULL) {
                if (strcmp(n->relname, NOTIFY_CHANNEL) == 0 && strcmp(n->extra, s->host) == 0)
                        mine++;
                PQfreemem(n);
        }
        return mine;
}

static int64_t pg_offline_since(struct tp_store_impl *s, char *why, size_t why_size)
{
        if (why_size)
                snprintf(why, why_size, "%s", s->offline_since ? s->offline_why : "");
        return s->offline_since;
}

static int pg_fleet_status(struct tp_store_impl *s, uint32_t *ret_hosts)
{
        uint64_t n = 0;
        int r;

        if ((r = select_count(s, "SELECT count(*) FROM tp_hosts", 0, NULL, &n)) < 0)
                return r;
        *ret_hosts = n > UINT32_MAX ? UINT32_MAX : (uint32_t) n;
        return 0;
}

/* The majority digest: the one most hosts run, ties to the smallest, so
 * every host that asks names the same hosts as differing. */
static int pg_hosts_page(struct tp_store_impl *s, const char *after, size_t limit,
                         struct tp_store_host **ret, size_t *ret_n)
{
        char lim[INT_TEXT];
        const char *v[] = { after ? after : "", int_text(lim, (int64_t) limit) };
        struct tp_store_host *out = NULL;
        PGresult *res;
        int n, r;

        if (limit == 0 || limit > INT_MAX)
                return store_error(s, -EINVAL, "bad page size");
        if ((r = pg_run(s, "WITH majority AS (SELECT policy_digest FROM tp_hosts GROUP BY policy_digest "
                           " ORDER BY count(*) DESC, policy_digest LIMIT 1) "
                           "SELECT h.id, h.name, h.last_seen, "
                           " (SELECT count(*) FROM tp_sessions t WHERE t.host = h.id AND t.state = 0), "
                           " h.policy_digest, h.policy_digest <> (SELECT policy_digest FROM majority) "
                           "FROM tp_hosts h WHERE h.id > $1 ORDER BY h.id LIMIT $2",
                        2, v, &res)) < 0)
                return r;
        n = PQntuples(res);
        if (n > 0 && !(out = calloc((size_t) n, sizeof *out))) {
                r = store_error(s, -ENOMEM, "out of memory reading hosts");
                goto out;
        }
        for (int i = 0; i < n; i++) {
                int64_t active;

                if ((r = get_text(s, res, i, 0, out[i].id, sizeof out[i].id)) < 0 ||
                    (r = get_text(s, res, i, 1, out[i].name, sizeof out[i].name)) < 0 ||
                    (r = get_int(s, res, i, 2, INT64_MIN, INT64_MAX, &out[i].last_seen)) < 0 ||
                    (r = get_int(s, res, i, 3, 0, INT64_MAX, &active)) < 0 ||
                    (r = get_text(s, res, i, 4, out[i].policy_digest, sizeof out[i].policy_digest)) < 0)
                        goto out;
                out[i].active_sessions = (uint64_t) active;
                out[i].policy_differs = strcmp(PQgetvalue(res, i, 5), "t") == 0;
        }
        *ret = out;
        *ret_n = (size_t) n;
        out = NULL;
out:
        free(out);
        PQclear(res);
        return r;
}

static int pg_publish_host(struct tp_store_impl *s, const char *policy_digest)
{
        char now[INT_TEXT];
        const char *v[] = { s->host, policy_digest, int_text(now, (int64_t) time(NULL)) };

        return pg_run(s, "UPDATE tp_hosts SET policy_digest = $2, last_seen = $3 WHERE id = $1", 3, v, NULL);
}

/* One transaction: another host never reads half a set. */
static int pg_publish_keys(struct tp_store_impl *s, const struct tp_store_key *keys, size_t n)
{
        const char *v[] = { s->host };
        bool own_tx = !s->in_tx;
        int r;

        if (own_tx && (r = pg_begin(s)) < 0)
                return r;
        if ((r = pg_run(s, "DELETE FROM tp_keys WHERE host = $1", 1, v, NULL)) < 0)
                goto out;
        for (size_t i = 0; i < n; i++) {
                char until[INT_TEXT];
                const char *w[] = { s->host, keys[i].kid, keys[i].x, int_text(until, keys[i].until) };

                if ((r = field_ok(s, keys[i].kid, sizeof keys[i].kid, "kid")) < 0 ||
                    (r = field_ok(s, keys[i].x, sizeof keys[i].x, "x")) < 0 ||
                    (r = pg_run(s, "INSERT INTO tp_keys (host, kid, x, until) VALUES ($1, $2, $3, $4)", 4, w,
                                NULL)) < 0)
                        goto out;
        }
        if (own_tx)
                return pg_commit(s);
out:
        if (own_tx)
                pg_rollback(s);
        return r;
}

static int pg_fleet_keys(struct tp_store_impl *s, struct tp_store_key **ret, size_t *ret_n)
{
        struct tp_store_key *out = NULL;
        PGresult *res;
        int n, r;

        if ((r = pg_run(s, "SELECT k.host, h.name, k.kid, k.x, k.until FROM tp_keys k JOIN tp_hosts h ON h.id = k.host "
                           "ORDER BY k.host, k.until, k.kid",
                        0, NULL, &res)) < 0)
                return r;
        n = PQntuples(res);
        if (n > 0 && !(out = calloc((size_t) n, sizeof *out))) {
                r = store_error(s, -ENOMEM, "out of memory reading keys");
                goto out;
        }
        for (int i = 0; i < n; i++)
                if ((r = get_text(s, res, i, 0, out[i].host, sizeof out[i].host)) < 0 ||
                    (r = get_text(s, res, i, 1, out[i].name, sizeof out[i].name)) < 0 ||
                    (r = get_text(s, res, i, 2, out[i].kid, sizeof out[i].kid)) < 0 ||
                    (r = get_text(s, res, i, 3, out[i].x, sizeof out[i].x)) < 0 ||
                    (r = get_int(s, res, i, 4, 0, INT64_MAX, &out[i].until)) < 0)
                        goto out;
        *ret = out;
        *ret_n = (size_t) n;
        out = NULL;
out:
        free(out);
        PQclear(res);
        return r;
}

static int pg_record_revocation(struct tp_store_impl *s, const char *user, const char *client, int64_t issued)
{
        char at[INT_TEXT];
        const char *v[] = { user ? user : "", client ? client : "", int_text(at, issued) };

        return pg_run(s, "INSERT INTO tp_revocations (user_name, client, issued) VALUES ($1, $2, $3)", 3, v, NULL);
}

static int pg_revoked_since(struct tp_store_impl *s, const char *user, const char *client, int64_t created,
                            int64_t *ret_issued)
{
        char at[INT_TEXT];
        const char *v[] = { user, client, int_text(at, created) };
        PGresult *res;
        int64_t issued = 0, purged = 0;
        int r;

        *ret_issued = 0;
        if ((r = pg_run(s, "SELECT (SELECT min(issued) FROM tp_revocations WHERE user_name IN ($1, '') "
                           "AND client IN ($2, '') AND issued >= $3), "
                           "(SELECT value FROM tp_meta WHERE key = 'revocations_purged_through')",
                        3, v, &res)) < 0)
                return r;
        if (PQntuples(res) != 1 || PQnfields(res) != 2 || get_int(s, res, 0, 1, 0, INT64_MAX, &purged) < 0)
                r = store_error(s, -EIO, "the database's revocations_purged_through (tp_meta) is not a time");
        else if (!PQgetisnull(res, 0, 0))
                r = get_int(s, res, 0, 0, 0, INT64_MAX, &issued) < 0 ? -EIO : 1;
        else if (created <= purged) /* a revocation dropped may have covered it */
                r = 2, issued = purged;
        PQclear(res);
        *ret_issued = issued;
        return r;
}

static void pg_hold_uploads(struct tp_store_impl *s, bool held)
{
        s->uploads_held = held;
}

static const struct tp_store_ops pg_ops = {
        .close = pg_close,
        .errmsg = pg_errmsg,
        .begin = pg_begin,
        .commit = pg_commit,
        .commit_unsynced = pg_commit_unsynced,
        .sign_out = pg_sign_out,
        .insert_under_cap = pg_insert_under_cap,
        .rollback = pg_rollback,
        .batch_start = pg_batch_start,
        .batch_pending = pg_batch_pending,
        .request_changed = pg_request_changed,
        .batch_commit = pg_batch_commit,
        .insert = pg_insert,
        .get = pg_get,
        .list_active = pg_list_active,
        .query = pg_query,
        .end = pg_end,
        .reinstate = pg_reinstate,
        .end_held = pg_end_held,
        .owe = pg_owe,
        .extend = pg_extend,
        .touch = pg_touch,
        .count_active = pg_count_active,
        .count_leader_shared = pg_count_leader_shared,
        .list_page = pg_list_page,
        .purge_step = pg_purge_step,
        .adopt_boot = pg_adopt_boot,
        .other_boot_page = pg_other_boot_page,
        .boot_checked = pg_boot_checked,
        .set_boot_checked = pg_set_boot_checked,
        .active_page = pg_active_page,
        .scan_expiries = pg_scan_expiries,
        .owed_page = pg_owed_page,
        .settle = pg_settle,
        .wait_fd = pg_wait_fd,
        .wakeups = pg_wakeups,
        .offline_since = pg_offline_since,
        .record_revocation = pg_record_revocation,
        .revoked_since = pg_revoked_since,
        .hold_uploads = pg_hold_uploads,
        .fleet_status = pg_fleet_status,
        .hosts_page = pg_hosts_page,
        .publish_host = pg_publish_host,
        .publish_keys = pg_publish_keys,
        .fleet_keys = pg_fleet_keys,
};
