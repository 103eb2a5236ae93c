/* SPDX-License-Identifier: BSD-3-Clause */
/* test_store.c: unit tests for the SQLite session store.
 *
 * Every test works in its own fresh temporary directory and removes it
 * afterwards. Rows the store would never write (over-long, embedded NUL,
 * out of range) are planted through a separate SQLite handle. Never writes
 * to stdout except through cmocka.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store_sqlite.h"

struct fixture {
        char dir[256];
        char path[300];
};

static int setup(void **state)
{
        const char *tmp = getenv("TMPDIR");
        struct fixture *fx = calloc(1, sizeof *fx);

        if (!fx)
                return -1;
        snprintf(fx->dir, sizeof fx->dir, "%s/tp-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(fx->dir)) {
                free(fx);
                return -1;
        }
        snprintf(fx->path, sizeof fx->path, "%s/sessions.db", fx->dir);
        *state = fx;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *fx = *state;
        struct dirent *de;
        DIR *d = opendir(fx->dir);

        if (d) {
                while ((de = readdir(d)))
                        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                                unlinkat(dirfd(d), de->d_name, 0);
                closedir(d);
        }
        rmdir(fx->dir);
        free(fx);
        return 0;
}

static void make_session(struct tp_session *s, const char *id, const char *user,
                         const char *client, int64_t created)
{
        memset(s, 0, sizeof *s);
        snprintf(s->id, sizeof s->id, "%s", id);
        snprintf(s->user, sizeof s->user, "%s", user);
        s->uid = 1000;
        snprintf(s->client, sizeof s->client, "%s", client);
        snprintf(s->service, sizeof s->service, "sshd");
        snprintf(s->rhost, sizeof s->rhost, "192.0.2.7");
        snprintf(s->tty, sizeof s->tty, "ssh");
        s->leader_pid = 4242;
        s->leader_start = 987654321012ull + (uint64_t) created;
        snprintf(s->logind_session, sizeof s->logind_session, "c%lld", (long long) created);
        s->created = created;
        s->refresh_expires = created + 336 * 3600;
        s->last_extended = created;
        s->last_used = created + 1;
        s->ended = 0;
        s->state = TP_STATE_ACTIVE;
        for (size_t i = 0; i < TP_REFRESH_HASH_LEN; i++)
                s->refresh_hash[i] = (uint8_t) (created * 7 + (int64_t) i * 13 + 0x80);
}

static void assert_session_equal(const struct tp_session *a, const struct tp_session *b)
{
        assert_string_equal(a->id, b->id);
        assert_int_equal(a->leader_start, b->leader_start);
        assert_string_equal(a->user, b->user);
        assert_int_equal(a->uid, b->uid);
        assert_string_equal(a->client, b->client);
        assert_string_equal(a->service, b->service);
        assert_string_equal(a->rhost, b->rhost);
        assert_string_equal(a->tty, b->tty);
        assert_int_equal(a->leader_pid, b->leader_pid);
        assert_string_equal(a->logind_session, b->logind_session);
        assert_int_equal(a->created, b->created);
        assert_int_equal(a->refresh_expires, b->refresh_expires);
        assert_int_equal(a->last_extended, b->last_extended);
        assert_int_equal(a->last_used, b->last_used);
        assert_int_equal(a->ended, b->ended);
        assert_int_equal(a->state, b->state);
        assert_memory_equal(a->refresh_hash, b->refresh_hash, TP_REFRESH_HASH_LEN);
        assert_string_equal(a->boot_id, b->boot_id);
}

static struct tp_store *open_store(const struct fixture *fx)
{
        struct tp_store *s = NULL;

        assert_int_equal(tp_store_open(fx->path, &s), 0);
        assert_non_null(s);
        return s;
}

static void insert_committed(struct tp_store *s, const struct tp_session *sess)
{
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_insert(s, sess), 0);
        assert_int_equal(tp_store_commit(s), 0);
}

static void add(struct tp_store *s, const char *id, const char *user, const char *client,
                int64_t created)
{
        struct tp_session sess;

        make_session(&sess, id, user, client, created);
        insert_committed(s, &sess);
}

/* ---- a second, raw handle on the same file ------------------------------ */

static sqlite3 *raw_open(const char *path)
{
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                         NULL),
                         SQLITE_OK);
        return db;
}

static void raw_exec(const char *path, const char *sql)
{
        sqlite3 *db = raw_open(path);

        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

static void raw_text(const char *path, const char *sql, char *out, size_t outsz)
{
        sqlite3 *db = raw_open(path);
        sqlite3_stmt *st = NULL;

        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        snprintf(out, outsz, "%s", (const char *) sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        sqlite3_close(db);
}

/* Plant a row with a user of exactly user_len bytes (which may contain NUL)
 * and the given uid; everything else valid. Returns SQLite's result code. */
static int raw_insert(const char *path, const char *id, const char *user, int user_len,
                      int64_t uid, int hash_len)
{
        static const uint8_t hash[64];
        sqlite3 *db = raw_open(path);
        sqlite3_stmt *st = NULL;
        int rc;

        assert_int_equal(sqlite3_prepare_v2(db,
                "INSERT INTO sessions (id, user, uid, client, service, rhost, tty, leader_pid, "
                "logind_session, created, refresh_expires, last_extended, last_used, ended, "
                "state, refresh_hash) "
                "VALUES (?, ?, ?, 'ssh', 'sshd', '', '', 1, '', 10, 20, 10, 10, 0, 0, ?)",
                -1, &st, NULL), SQLITE_OK);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, user, user_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, uid);
        sqlite3_bind_blob(st, 4, hash, hash_len, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return rc;
}

/* ---- open, schema, file ------------------------------------------------- */

/* Files in the fixture's directory other than the store and its -wal and
 * -shm. */
static size_t count_files_except_store(const struct fixture *fx)
{
        struct dirent *de;
        DIR *d = opendir(fx->dir);
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
                    strncmp(de->d_name, "sessions.db", 11) == 0 &&
                    strcmp(de->d_name, "sessions.db") != 0 && strcmp(de->d_name, "sessions.db-wal") != 0 &&
                    strcmp(de->d_name, "sessions.db-shm") != 0)
                        n++;
        closedir(d);
        return n;
}

static void test_open_creates_private_wal_file(void **state)
{
        struct fixture *fx = *state;
        char wal[320], text[128];
        struct tp_store *s;
        struct stat st;
        mode_t old = umask(0);

        s = open_store(fx);
        umask(old);
        assert_int_equal(stat(fx->path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
        snprintf(wal, sizeof wal, "%s-wal", fx->path);
        if (stat(wal, &st) == 0)
                assert_int_equal(st.st_mode & 07777, 0600);

        raw_text(fx->path, "PRAGMA journal_mode", text, sizeof text);
        assert_string_equal(text, "wal");
        raw_text(fx->path, "PRAGMA user_version", text, sizeof text);
        assert_string_equal(text, "6");
        raw_text(fx->path, "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema "
                           "WHERE type = 'index' AND tbl_name = 'sessions' AND sql IS NOT NULL ORDER BY name)",
                 text, sizeof text);
        assert_string_equal(text, "sessions_active_leader,sessions_state_created,sessions_user_state_created");
        assert_string_equal(tp_store_errmsg(s), "no error");
        /* Built under another name and linked into place: nothing else is left. */
        assert_int_equal(count_files_except_store(fx), 0);
        tp_store_close(s);
        tp_store_close(NULL);
}

static void test_open_refuses_symlink(void **state)
{
        struct fixture *fx = *state;
        char target[320];
        struct tp_store *s = NULL;

        snprintf(target, sizeof target, "%s/elsewhere.db", fx->dir);
        assert_int_equal(symlink(target, fx->path), 0);
        assert_int_equal(tp_store_open(fx->path, &s), -ELOOP);
        assert_null(s);
        assert_int_equal(access(target, F_OK), -1);
}

static void test_open_refuses_newer_schema(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = NULL;
        char text[64];

        raw_exec(fx->path, "CREATE TABLE future (x); PRAGMA user_version = 7;");
        assert_int_equal(tp_store_open(fx->path, &s), -EPROTO);
        assert_null(s);
        /* Refused before anything changed: still the newer version, and
         * not switched to WAL. */
        raw_text(fx->path, "PRAGMA user_version", text, sizeof text);
        assert_string_equal(text, "7");
        raw_text(fx->path, "PRAGMA journal_mode", text, sizeof text);
        assert_string_equal(text, "delete");

        /* The current version, written by someone else, is accepted. */
        raw_exec(fx->path, "PRAGMA user_version = 6;");
        raw_exec(fx->path, "DROP TABLE future;");
        raw_exec(fx->path, "CREATE TABLE sessions (id TEXT);");
        assert_int_equal(tp_store_open(fx->path, &s), -EIO); /* not our schema */
        assert_null(s);
}

static void test_open_accepts_current_schema(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        char text[64];

        tp_store_close(s);
        s = open_store(fx);
        tp_store_close(s);
        raw_text(fx->path, "PRAGMA user_version", text, sizeof text);
        assert_string_equal(text, "6");
}

struct scanned {
        char ids[8][TP_SESSION_ID_MAX];
        int64_t expires[8];
        size_t n;
        size_t stop_after;
};

static int collect_expiry(const char *id, int64_t expires, void *userdata)
{
        struct scanned *sc = userdata;

        if (sc->n >= sc->stop_after)
                return -ECANCELED;
        snprintf(sc->ids[sc->n], sizeof sc->ids[0], "%s", id);
        sc->expires[sc->n++] = expires;
        return 0;
}

static void test_scan_expiries_visits_active_sessions(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct scanned sc = { .stop_after = 8 };

        assert_int_equal(tp_store_scan_expiries(s, collect_expiry, &sc), 0);
        assert_int_equal(sc.n, 0);
        add(s, "a", "alice", "ssh", 100);
        add(s, "b", "alice", "web", 200);
        add(s, "c", "bob", "ssh", 300);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_end(s, "b", TP_STATE_REVOKED, 250), 0);
        assert_int_equal(tp_store_commit(s), 0);
        assert_int_equal(tp_store_scan_expiries(s, collect_expiry, &sc), 0);
        assert_int_equal(sc.n, 2);
        for (size_t i = 0; i < sc.n; i++) {
                assert_true(strcmp(sc.ids[i], "a") == 0 || strcmp(sc.ids[i], "c") == 0);
                assert_int_equal(sc.expires[i], (sc.ids[i][0] == 'a' ? 100 : 300) + 336 * 3600);
        }
        /* The callback can stop the scan; the store stays usable. */
        sc = (struct scanned){ .stop_after = 1 };
        assert_int_equal(tp_store_scan_expiries(s, collect_expiry, &sc), -ECANCELED);
        assert_int_equal(sc.n, 1);
        sc = (struct scanned){ .stop_after = 8 };
        assert_int_equal(tp_store_scan_expiries(s, collect_expiry, &sc), 0);
        assert_int_equal(sc.n, 2);
        tp_store_close(s);
}

/* A version 1 file (no leader start time) is brought up to version 2 with
 * its sessions intact; the start time of old sessions reads as unknown. */
static void test_open_migrates_version_1(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s;
        struct tp_session out;
        char text[128];

        raw_exec(fx->path,
                 "CREATE TABLE sessions (id TEXT PRIMARY KEY, user TEXT NOT NULL,"
                 " uid INTEGER NOT NULL, client TEXT NOT NULL, service TEXT NOT NULL,"
                 " rhost TEXT NOT NULL, tty TEXT NOT NULL, leader_pid INTEGER NOT NULL,"
                 " logind_session TEXT NOT NULL, created INTEGER NOT NULL,"
                 " refresh_expires INTEGER NOT NULL, last_extended INTEGER NOT NULL,"
                 " last_used INTEGER NOT NULL, ended INTEGER NOT NULL DEFAULT 0,"
                 " state INTEGER NOT NULL CHECK(state BETWEEN 0 AND 3),"
                 " refresh_hash BLOB NOT NULL CHECK(length(refresh_hash) = 32));"
                 "CREATE INDEX sessions_user_client_state ON sessions(user, client, state);"
                 "CREATE INDEX sessions_state_expires ON sessions(state, refresh_expires);"
                 "CREATE INDEX sessions_active_by_user ON sessions(user, client, created)"
                 " WHERE state = 0;"
                 "INSERT INTO sessions VALUES ('old', 'alice', 1000, 'ssh', 'sshd', 'h', '',"
                 " 4242, '', 10, 20, 10, 10, 0, 0, zeroblob(32));"
                 "PRAGMA user_version = 1;");
        s = open_store(fx);
        assert_int_equal(tp_store_get(s, "old", &out), 0);
        assert_string_equal(out.user, "alice");
        assert_int_equal(out.leader_pid, 4242);
        assert_int_equal(out.leader_start, 0);
        assert_string_equal(out.boot_id, "");
        tp_store_close(s);
        raw_text(fx->path, "PRAGMA user_version", text, sizeof text);
        assert_string_equal(text, "6");
        /* Up to v6: the v1 indexes are gone, the v3 ones are there, and the
         * v6 index on active leaders. */
        raw_text(fx->path, "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema "
                           "WHERE type = 'index' AND tbl_name = 'sessions' AND sql IS NOT NULL ORDER BY name)",
                 text, sizeof text);
        assert_string_equal(text, "sessions_active_leader,sessions_state_created,sessions_user_state_created");
}

/* A version 4 file, as the previous release left it, gains the boot
 * column (empty: the boot is not known) and the v6 index on active
 * leaders, nothing else. */
static void test_open_migrates_version_4(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s;
        struct tp_session out, in;
        char text[256];

        raw_exec(fx->path,
                 "CREATE TABLE sessions (id TEXT PRIMARY KEY, user TEXT NOT NULL,"
                 " uid INTEGER NOT NULL, client TEXT NOT NULL, service TEXT NOT NULL,"
                 " rhost TEXT NOT NULL, tty TEXT NOT NULL, leader_pid INTEGER NOT NULL,"
                 " logind_session TEXT NOT NULL, created INTEGER NOT NULL,"
                 " refresh_expires INTEGER NOT NULL, last_extended INTEGER NOT NULL,"
                 " last_used INTEGER NOT NULL, ended INTEGER NOT NULL DEFAULT 0,"
                 " state INTEGER NOT NULL CHECK(state BETWEEN 0 AND 3),"
                 " refresh_hash BLOB NOT NULL CHECK(length(refresh_hash) = 32),"
                 " leader_start INTEGER NOT NULL DEFAULT 0);"
                 "CREATE INDEX sessions_user_state_created ON sessions(user, state, created);"
                 "CREATE INDEX sessions_state_created ON sessions(state, created);"
                 "INSERT INTO sessions VALUES ('live', 'alice', 1000, 'ssh', 'sshd', 'h', 'pts/1',"
                 " 4242, '7', 10, 20, 10, 10, 0, 0, zeroblob(32), 99);"
                 "INSERT INTO sessions VALUES ('gone', 'alice', 1000, 'ssh', 'sshd', 'h', 'pts/2',"
                 " 4243, '8', 11, 21, 11, 11, 15, 3, zeroblob(32), 98);"
                 "PRAGMA journal_mode = WAL;"
                 "PRAGMA user_version = 4;");
        s = open_store(fx);
        assert_int_equal(tp_store_get(s, "live", &out), 0);
        assert_string_equal(out.boot_id, "");
        assert_int_equal(out.leader_pid, 4242);
        assert_int_equal(out.leader_start, 99);
        assert_string_equal(out.logind_session, "7");
        assert_int_equal(tp_store_get(s, "gone", &out), 0);
        assert_int_equal(out.state, TP_STATE_CLOSED);
        assert_int_equal(out.ended, 15);
        /* New sessions carry their boot. */
        make_session(&in, "new", "alice", "ssh", 30);
        snprintf(in.boot_id, sizeof in.boot_id, "%s", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        insert_committed(s, &in);
        tp_store_close(s);

        raw_text(fx->path, "PRAGMA user_version", text, sizeof text);
        assert_string_equal(text, "6");
        raw_text(fx->path, "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema "
                           "WHERE type = 'index' AND tbl_name = 'sessions' AND sql IS NOT NULL ORDER BY name)",
                 text, sizeof text);
        assert_string_equal(text, "sessions_active_leader,sessions_state_created,sessions_user_state_created");
        raw_text(fx->path, "SELECT group_concat(id || '=' || boot_id, ',') FROM "
                           "(SELECT id, boot_id FROM sessions ORDER BY id)", text, sizeof text);
        assert_string_equal(text, "gone=,live=,new=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        raw_text(fx->path, "SELECT count(*) FROM meta", text, sizeof text);
        assert_string_equal(text, "0");
        /* Opening again changes nothing. */
        s = open_store(fx);
        assert_int_equal(tp_store_get(s, "new", &out), 0);
        assert_session_equal(&out, &in);
        assert_string_equal(out.boot_id, in.boot_id);
        tp_store_close(s);
}

static void test_open_refuses_non_sqlite_file(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = NULL;
        char garbage[4096], back[4096];
        int fd;

        for (size_t i = 0; i < sizeof garbage; i++)
                garbage[i] = (char) ('A' + i % 26);
        fd = open(fx->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, garbage, sizeof garbage), (ssize_t) sizeof garbage);
        close(fd);

        assert_int_equal(tp_store_open(fx->path, &s), -EIO);
        assert_null(s);

        fd = open(fx->path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(read(fd, back, sizeof back), (ssize_t) sizeof back);
        close(fd);
        assert_memory_equal(garbage, back, sizeof garbage);
}

static void test_open_rejects_bad_arguments(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = NULL;

        assert_int_equal(tp_store_open(NULL, &s), -EINVAL);
        assert_int_equal(tp_store_open("", &s), -EINVAL);
        assert_int_equal(tp_store_open(fx->dir, &s), -EISDIR);
        assert_null(s);
}

/* ---- insert and get ----------------------------------------------------- */

static void test_reopen_keeps_data(void **state)
{
        struct fixture *fx = *state;
        struct tp_session in, out;
        struct tp_store *s = open_store(fx);

        make_session(&in, "0123456789abcdef0123456789abcdef", "alice", "ssh", 1700000000);
        in.uid = UINT32_MAX;
        in.leader_pid = UINT32_MAX;
        in.refresh_hash[0] = 0x00;
        in.refresh_hash[31] = 0xff;
        insert_committed(s, &in);
        tp_store_close(s);

        s = open_store(fx);
        memset(&out, 0x5a, sizeof out);
        assert_int_equal(tp_store_get(s, in.id, &out), 0);
        assert_session_equal(&out, &in);
        tp_store_close(s);
}

static void test_insert_duplicate_id(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session a, b, out;

        make_session(&a, "dup", "alice", "ssh", 100);
        make_session(&b, "dup", "bob", "web", 200);
        insert_committed(s, &a);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_insert(s, &b), -EEXIST);
        assert_non_null(strstr(tp_store_errmsg(s), "UNIQUE"));
        tp_store_rollback(s);
        assert_int_equal(tp_store_get(s, "dup", &out), 0);
        assert_session_equal(&out, &a);
        tp_store_close(s);
}

static void test_get_missing(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session out;

        add(s, "present", "alice", "ssh", 1);
        memset(&out, 0x5a, sizeof out);
        assert_int_equal(tp_store_get(s, "absent", &out), -ENOENT);
        assert_int_equal((uint8_t) out.id[0], 0x5a); /* untouched on failure */
        assert_int_equal(tp_store_get(s, "", &out), -ENOENT);
        tp_store_close(s);
}

static void test_insert_rejects_bad_fields(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session sess, out;
        uint64_t n;

        make_session(&sess, "st4", "alice", "ssh", 1);
        sess.state = TP_STATE_MAX_ + 1;
        assert_int_equal(tp_store_insert(s, &sess), -EINVAL);
        sess.state = TP_STATE_MAX_;
        assert_int_equal(tp_store_insert(s, &sess), 0);
        assert_int_equal(tp_store_get(s, "st4", &out), 0);
        assert_int_equal(out.state, TP_STATE_MAX_);

        /* A field with no NUL inside it is refused, never read past. */
        make_session(&sess, "unterminated", "alice", "ssh", 2);
        memset(sess.user, 'u', sizeof sess.user);
        assert_int_equal(tp_store_insert(s, &sess), -EINVAL);
        assert_non_null(strstr(tp_store_errmsg(s), "user"));
        make_session(&sess, "x", "alice", "ssh", 3);
        memset(sess.id, 'a', sizeof sess.id);
        assert_int_equal(tp_store_insert(s, &sess), -EINVAL);
        make_session(&sess, "y", "alice", "ssh", 4);
        memset(sess.logind_session, 'c', sizeof sess.logind_session);
        assert_int_equal(tp_store_insert(s, &sess), -EINVAL);

        assert_int_equal(tp_store_count_active(s, &n), 0);
        assert_int_equal(n, 0);
        tp_store_close(s);
}

static void test_max_length_strings_round_trip(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session in, out;

        make_session(&in, "", "", "", 5);
        memset(in.id, 'i', sizeof in.id - 1);
        memset(in.user, 'u', sizeof in.user - 1);
        memset(in.client, 'c', sizeof in.client - 1);
        memset(in.service, 's', sizeof in.service - 1);
        memset(in.rhost, 'r', sizeof in.rhost - 1);
        memset(in.tty, 't', sizeof in.tty - 1);
        memset(in.logind_session, 'l', sizeof in.logind_session - 1);
        assert_int_equal(strlen(in.user), TP_USER_MAX - 1);
        insert_committed(s, &in);
        tp_store_close(s);

        s = open_store(fx);
        assert_int_equal(tp_store_get(s, in.id, &out), 0);
        assert_session_equal(&out, &in);
        assert_int_equal(strlen(out.user), TP_USER_MAX - 1);
        assert_int_equal(strlen(out.logind_session), TP_LOGIND_ID_MAX - 1);
        tp_store_close(s);

        /* Empty strings round-trip too. */
        s = open_store(fx);
        make_session(&in, "empty", "", "", 6);
        in.rhost[0] = in.tty[0] = in.logind_session[0] = '\0';
        insert_committed(s, &in);
        assert_int_equal(tp_store_get(s, "empty", &out), 0);
        assert_session_equal(&out, &in);
        tp_store_close(s);
}

/* ---- rows the store did not write --------------------------------------- */

static void test_corrupt_user_reads_as_error(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_store_filter all = { .all = true };
        char user[TP_USER_MAX + 1];
        struct tp_session out, *list = NULL;
        size_t n = 99, total = 99;

        tp_store_close(s);
        memset(user, 'u', sizeof user);
        /* TP_USER_MAX - 1 bytes fit; TP_USER_MAX bytes would not. */
        assert_int_equal(raw_insert(fx->path, "fits", user, TP_USER_MAX - 1, 1, 32), SQLITE_DONE);
        assert_int_equal(raw_insert(fx->path, "long", user, TP_USER_MAX, 1, 32), SQLITE_DONE);
        assert_int_equal(raw_insert(fx->path, "nul", "ali\0ce", 6, 1, 32), SQLITE_DONE);

        s = open_store(fx);
        assert_int_equal(tp_store_get(s, "fits", &out), 0);
        assert_int_equal(strlen(out.user), TP_USER_MAX - 1);

        memset(&out, 0x5a, sizeof out);
        assert_int_equal(tp_store_get(s, "long", &out), -EIO);
        assert_non_null(strstr(tp_store_errmsg(s), "corrupt"));
        assert_non_null(strstr(tp_store_errmsg(s), "user"));
        assert_int_equal((uint8_t) out.user[0], 0x5a);
        assert_int_equal(tp_store_get(s, "nul", &out), -EIO);

        user[TP_USER_MAX] = '\0';
        user[TP_USER_MAX - 1] = '\0';
        assert_int_equal(tp_store_list_active(s, user, "ssh", &list, &n), 0);
        assert_int_equal(n, 1);
        free(list);
        user[TP_USER_MAX - 1] = 'u';
        list = NULL;
        n = 99;
        assert_int_equal(tp_store_list_active(s, user, "ssh", &list, &n), -EIO);
        assert_null(list);
        assert_int_equal(n, 99);
        assert_int_equal(tp_store_query(s, &all, 0, 10, &list, &n, &total), -EIO);
        assert_null(list);
        assert_int_equal(total, 99);

        /* The store keeps working after reporting a bad row. */
        add(s, "after", "bob", "ssh", 50);
        assert_int_equal(tp_store_get(s, "after", &out), 0);
        tp_store_close(s);
}

static void test_corrupt_integers_read_as_error(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session out;

        tp_store_close(s);
        assert_int_equal(raw_insert(fx->path, "uidmax", "a", 1, UINT32_MAX, 32), SQLITE_DONE);
        assert_int_equal(raw_insert(fx->path, "uidover", "a", 1, (int64_t) UINT32_MAX + 1, 32),
                         SQLITE_DONE);
        assert_int_equal(raw_insert(fx->path, "uidneg", "a", 1, -1, 32), SQLITE_DONE);
        /* The schema itself refuses a hash of the wrong length. */
        assert_int_equal(raw_insert(fx->path, "hash31", "a", 1, 1, 31), SQLITE_CONSTRAINT);
        assert_int_equal(raw_insert(fx->path, "hash33", "a", 1, 1, 33), SQLITE_CONSTRAINT);
        raw_exec(fx->path, "INSERT INTO sessions SELECT 'textuid', user, 'x', client, service, "
                           "rhost, tty, leader_pid, logind_session, created, refresh_expires, "
                           "last_extended, last_used, ended, state, refresh_hash, leader_start, "
                           "boot_id FROM sessions WHERE id = 'uidmax';");

        s = open_store(fx);
        assert_int_equal(tp_store_get(s, "uidmax", &out), 0);
        assert_int_equal(out.uid, UINT32_MAX);
        assert_int_equal(tp_store_get(s, "uidover", &out), -EIO);
        assert_non_null(strstr(tp_store_errmsg(s), "uid"));
        assert_int_equal(tp_store_get(s, "uidneg", &out), -EIO);
        assert_int_equal(tp_store_get(s, "textuid", &out), -EIO);
        assert_int_equal(tp_store_get(s, "hash31", &out), -ENOENT);
        tp_store_close(s);
}

/* ---- listing ------------------------------------------------------------ */

static void test_list_active(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session *list = NULL;
        size_t n = 0;

        add(s, "a3", "alice", "ssh", 300);
        add(s, "a1", "alice", "ssh", 100);
        add(s, "a2b", "alice", "ssh", 200);
        add(s, "a2a", "alice", "ssh", 200); /* same second: insertion order */
        add(s, "aw", "alice", "web", 50);
        add(s, "bs", "bob", "ssh", 10);
        add(s, "a0", "alice", "ssh", 0);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_end(s, "a0", TP_STATE_CLOSED, 400), 0);
        assert_int_equal(tp_store_commit(s), 0);

        assert_int_equal(tp_store_list_active(s, "alice", "ssh", &list, &n), 0);
        assert_int_equal(n, 4);
        assert_string_equal(list[0].id, "a1");
        assert_string_equal(list[1].id, "a2b");
        assert_string_equal(list[2].id, "a2a");
        assert_string_equal(list[3].id, "a3");
        for (size_t i = 0; i < n; i++) {
                assert_string_equal(list[i].user, "alice");
                assert_string_equal(list[i].client, "ssh");
                assert_int_equal(list[i].state, TP_STATE_ACTIVE);
        }
        free(list);

        list = (struct tp_session *) 1;
        assert_int_equal(tp_store_list_active(s, "carol", "ssh", &list, &n), 0);
        assert_int_equal(n, 0);
        assert_null(list);
        assert_int_equal(tp_store_list_active(s, "alice", "mobile", &list, &n), 0);
        assert_int_equal(n, 0);
        tp_store_close(s);
}

/* What tp_store_insert_under_cap() is given to make its session: a copy
 * of a prepared one, counted. */
struct maker {
        struct tp_session sess;
        int calls;
        int fail; /* returned instead, when not 0 */
};

static int make_copy(void *ctx, struct tp_session *sess)
{
        struct maker *m = ctx;

        m->calls++;
        if (m->fail)
                return m->fail;
        *sess = m->sess;
        return 0;
}

static int under_cap(struct tp_store *s, struct maker *m, size_t room, int64_t now, bool *inserted)
{
        struct tp_session out;

        memset(&out, 0, sizeof out);
        return tp_store_insert_under_cap(s, m->sess.user, m->sess.client, room, now, make_copy, m, &out, inserted);
}

/* A sign-in under its cap: the row is written only while the user has
 * fewer than `room` active sessions of that client type and none past
 * its expiry; otherwise nothing changes, nothing is made (no tokens, no
 * signature for a sign-in the usual way will decide), and the caller goes
 * the usual way. Inside a batch it is one request among others. */
static void test_insert_under_cap(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct maker m = { .calls = 0 };
        struct tp_session out;
        bool inserted = true;
        uint64_t n = 0;

        add(s, "u1", "alice", "ssh", 100);
        add(s, "u2", "alice", "ssh", 110);
        add(s, "w1", "alice", "web", 120); /* another client type */
        add(s, "b1", "bob", "ssh", 130);   /* another user */
        add(s, "e1", "alice", "ssh", 90);  /* ended: does not count */
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_end(s, "e1", TP_STATE_CLOSED, 95), 0);
        assert_int_equal(tp_store_commit(s), 0);

        /* Two active of alice's ssh sessions: no room under 2, and
         * nothing made. */
        make_session(&m.sess, "n1", "alice", "ssh", 200);
        assert_int_equal(under_cap(s, &m, 2, 200, &inserted), 0);
        assert_false(inserted);
        assert_int_equal(m.calls, 0);
        assert_int_equal(tp_store_get(s, "n1", &out), -ENOENT);
        assert_int_equal(tp_store_begin(s), 0); /* nothing was left open */
        tp_store_rollback(s);

        /* Room under 3: made once, written, and durable. */
        assert_int_equal(under_cap(s, &m, 3, 200, &inserted), 0);
        assert_true(inserted);
        assert_int_equal(m.calls, 1);
        tp_store_close(s);
        s = open_store(fx);
        assert_int_equal(tp_store_get(s, "n1", &out), 0);
        assert_session_equal(&m.sess, &out);

        /* One of them past its expiry: the usual way must expire it. */
        make_session(&m.sess, "n2", "alice", "ssh", 300);
        m.calls = 0;
        assert_int_equal(under_cap(s, &m, 10, 100 + 336 * 3600, &inserted), 0); /* u1 */
        assert_false(inserted);
        assert_int_equal(m.calls, 0);
        assert_int_equal(under_cap(s, &m, 10, 100 + 336 * 3600 - 1, &inserted), 0);
        assert_true(inserted);

        /* A duplicate id, a failure to make, and a session of another user
         * than the one counted: each fails and changes nothing. */
        make_session(&m.sess, "n2", "alice", "ssh", 400);
        assert_true(under_cap(s, &m, 10, 400, &inserted) < 0);
        assert_false(inserted);
        make_session(&m.sess, "n3", "alice", "ssh", 400);
        m.fail = -EIO;
        assert_int_equal(under_cap(s, &m, 10, 400, &inserted), -EIO);
        assert_false(inserted);
        m.fail = 0;
        memset(&out, 0, sizeof out);
        assert_int_equal(tp_store_insert_under_cap(s, "bob", "ssh", 10, 400, make_copy, &m, &out, &inserted),
                         -EINVAL);
        assert_false(inserted);
        assert_int_equal(tp_store_get(s, "n3", &out), -ENOENT);
        assert_int_equal(tp_store_count_active(s, &n), 0);
        assert_int_equal(n, 6); /* u1, u2, w1, b1, n1, n2 */

        /* In a batch: a request of its own, durable with the batch. */
        tp_store_batch_start(s);
        make_session(&m.sess, "n4", "bob", "ssh", 500);
        assert_int_equal(under_cap(s, &m, 2, 500, &inserted), 0);
        assert_true(inserted);
        assert_true(tp_store_request_changed(s));
        make_session(&m.sess, "n5", "bob", "ssh", 501); /* bob now has 2 */
        assert_int_equal(under_cap(s, &m, 2, 501, &inserted), 0);
        assert_false(inserted);
        assert_false(tp_store_request_changed(s));
        assert_int_equal(tp_store_batch_commit(s), 0);
        tp_store_close(s);
        s = open_store(fx);
        assert_int_equal(tp_store_get(s, "n4", &out), 0);
        assert_int_equal(tp_store_get(s, "n5", &out), -ENOENT);
        tp_store_close(s);
}

static void query_ids(struct tp_store *s, const struct tp_store_filter *f, size_t offset,
                      size_t limit, char *ids, size_t idsz, size_t *ret_total)
{
        struct tp_session *rows = NULL;
        size_t n = 0, len = 0;

        assert_int_equal(tp_store_query(s, f, offset, limit, &rows, &n, ret_total), 0);
        assert_true(n <= limit);
        ids[0] = '\0';
        for (size_t i = 0; i < n; i++)
                len += (size_t) snprintf(ids + len, idsz - len, "%s%s", i ? "," : "", rows[i].id);
        free(rows);
}

static void test_query_filters(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_store_filter f;
        char ids[256];
        size_t total;

        add(s, "as", "alice", "ssh", 1);
        add(s, "aw", "alice", "web", 2);
        add(s, "bs", "bob", "ssh", 3);
        add(s, "ax", "alice", "ssh", 4);
        add(s, "bw", "bob", "web", 5);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_end(s, "ax", TP_STATE_REVOKED, 10), 0);
        assert_int_equal(tp_store_end(s, "bw", TP_STATE_EXPIRED, 10), 0);
        assert_int_equal(tp_store_commit(s), 0);

        query_ids(s, NULL, 0, 100, ids, sizeof ids, &total);
        assert_string_equal(ids, "as,aw,bs");
        assert_int_equal(total, 3);

        f = (struct tp_store_filter) { .user = "", .client = "" };
        query_ids(s, &f, 0, 100, ids, sizeof ids, &total);
        assert_string_equal(ids, "as,aw,bs");

        f = (struct tp_store_filter) { .all = true };
        query_ids(s, &f, 0, 100, ids, sizeof ids, &total);
        assert_string_equal(ids, "as,aw,bs,ax,bw");
        assert_int_equal(total, 5);

        f = (struct tp_store_filter) { .user = "alice" };
        query_ids(s, &f, 0, 100, ids, sizeof ids, &total);
        assert_string_equal(ids, "as,aw");
        assert_int_equal(total, 2);

        f = (struct tp_store_filter) { .user = "alice", .all = true };
        query_ids(s, &f, 0, 100, ids, sizeof ids, &total);
        assert_string_equal(ids, "as,aw,ax");
        assert_int_equal(total, 3);

        f = (struct tp_store_filter) { .client = "ssh" };
        query_ids(s, &f, 0, 100, ids, sizeof ids, &total);
        assert_string_equal(ids, "as,bs");

        f = (struct tp_store_filter) { .client = "web", .all = true };
        query_ids(s, &f, 0, 100, ids, sizeof ids, &total);
        assert_string_equal(ids, "aw,bw");

        f = (struct tp_store_filter) { .user = "bob", .client = "web", .all = true };
        query_ids(s, &f, 0, 100, ids, sizeof ids, &total);
        assert_string_equal(ids, "bw");
        assert_int_equal(total, 1);

        f = (struct tp_store_filter) { .user = "bob", .client = "web" };
        query_ids(s, &f, 0, 100, ids, sizeof ids, &total);
        assert_string_equal(ids, "");
        assert_int_equal(total, 0);

        f = (struct tp_store_filter) { .user = "nobody", .all = true };
        query_ids(s, &f, 0, 100, ids, sizeof ids, &total);
        assert_string_equal(ids, "");
        assert_int_equal(total, 0);
        tp_store_close(s);
}

static void test_query_paging(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_store_filter all = { .all = true };
        char ids[256], joined[256] = "";
        struct tp_session h;
        size_t total;

        /* Inserted out of order, with ties on `created`. */
        add(s, "g", "u", "ssh", 70);
        add(s, "c", "u", "ssh", 30);
        add(s, "e", "u", "ssh", 50);
        add(s, "b2", "u", "ssh", 20);
        add(s, "a", "u", "ssh", 10);
        add(s, "b1", "u", "ssh", 20);
        add(s, "f", "u", "ssh", 50);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_end(s, "e", TP_STATE_CLOSED, 99), 0);
        assert_int_equal(tp_store_commit(s), 0);

        for (size_t off = 0; off < 7; off += 3) {
                query_ids(s, &all, off, 3, ids, sizeof ids, &total);
                assert_int_equal(total, 7);
                if (joined[0] && ids[0])
                        strcat(joined, ",");
                strcat(joined, ids);
        }
        assert_string_equal(joined, "a,b2,b1,c,e,f,g");
        query_ids(s, &all, 6, 3, ids, sizeof ids, &total);
        assert_string_equal(ids, "g");

        /* Active only: the closed session drops out of pages and total. */
        query_ids(s, NULL, 4, 3, ids, sizeof ids, &total);
        assert_string_equal(ids, "f,g");
        assert_int_equal(total, 6);

        query_ids(s, &all, 7, 3, ids, sizeof ids, &total);
        assert_string_equal(ids, "");
        assert_int_equal(total, 7);
        query_ids(s, &all, 0, 0, ids, sizeof ids, &total);
        assert_string_equal(ids, "");
        assert_int_equal(total, 7);
        /* A limit beyond what SQLite can represent means "all of them". */
        query_ids(s, &all, 1, SIZE_MAX, ids, sizeof ids, &total);
        assert_string_equal(ids, "b2,b1,c,e,f,g");
        query_ids(s, &all, SIZE_MAX, 3, ids, sizeof ids, &total);
        assert_string_equal(ids, "");
        assert_int_equal(total, 7);

        /* Inside the caller's transaction the query sees its own writes. */
        make_session(&h, "h", "u", "ssh", 80);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_insert(s, &h), 0);
        query_ids(s, &all, 6, 10, ids, sizeof ids, &total);
        assert_string_equal(ids, "g,h");
        assert_int_equal(total, 8);
        tp_store_rollback(s);
        query_ids(s, &all, 6, 10, ids, sizeof ids, &total);
        assert_string_equal(ids, "g");
        tp_store_close(s);
}

static void test_count_active(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        uint64_t n = 99;

        assert_int_equal(tp_store_count_active(s, &n), 0);
        assert_int_equal(n, 0);
        add(s, "1", "alice", "ssh", 1);
        add(s, "2", "bob", "web", 2);
        add(s, "3", "carol", "ssh", 3);
        assert_int_equal(tp_store_count_active(s, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_end(s, "2", TP_STATE_REVOKED, 9), 0);
        assert_int_equal(tp_store_commit(s), 0);
        assert_int_equal(tp_store_count_active(s, &n), 0);
        assert_int_equal(n, 2);
        tp_store_close(s);
}

/* Other active sessions with the same leader (pid and start time): a
 * process that opened sessions for several users. Served by the partial
 * index, not by a walk over the active sessions. */
static void test_count_leader_shared(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session sess;
        char plan[256];
        uint64_t n = 99;
        const char *ids[] = { "a1", "b1", "c1", "d1" };
        const char *users[] = { "alice", "bob", "carol", "dave" };

        for (int i = 0; i < 4; i++) {
                make_session(&sess, ids[i], users[i], "mail", 10 + i);
                sess.leader_pid = 777;
                sess.leader_start = 5555;
                if (i == 3)
                        sess.leader_start = 6666; /* the same pid, reused later */
                insert_committed(s, &sess);
        }
        assert_int_equal(tp_store_count_leader_shared(s, "a1", 777, 5555, &n), 0);
        assert_int_equal(n, 2);                  /* bob's and carol's, not dave's */
        assert_int_equal(tp_store_count_leader_shared(s, "d1", 777, 6666, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_end(s, "b1", TP_STATE_REVOKED, 20), 0);
        assert_int_equal(tp_store_commit(s), 0);
        assert_int_equal(tp_store_count_leader_shared(s, "a1", 777, 5555, &n), 0);
        assert_int_equal(n, 1);                  /* ended sessions do not count */
        /* Nothing recorded: nothing shared. */
        n = 99;
        assert_int_equal(tp_store_count_leader_shared(s, "a1", 0, 5555, &n), 0);
        assert_int_equal(n, 0);
        n = 99;
        assert_int_equal(tp_store_count_leader_shared(s, "a1", 777, 0, &n), 0);
        assert_int_equal(n, 0);
        tp_store_close(s);
        {
                sqlite3 *db = raw_open(fx->path);
                sqlite3_stmt *st = NULL;

                assert_int_equal(sqlite3_prepare_v2(db,
                        "EXPLAIN QUERY PLAN SELECT count(*) FROM sessions WHERE state = 0 "
                        "AND leader_pid = ? AND leader_start = ? AND id <> ?", -1, &st, NULL), SQLITE_OK);
                assert_int_equal(sqlite3_step(st), SQLITE_ROW);
                snprintf(plan, sizeof plan, "%s", (const char *) sqlite3_column_text(st, 3));
                sqlite3_finalize(st);
                sqlite3_close(db);
        }
        assert_non_null(strstr(plan, "USING INDEX sessions_active_leader (leader_pid=? AND leader_start=?)"));
}

/* ---- state changes ------------------------------------------------------ */

static void test_end(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session before, out;

        make_session(&before, "s1", "alice", "ssh", 100);
        insert_committed(s, &before);
        add(s, "s2", "alice", "ssh", 101);

        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_end(s, "s1", TP_STATE_ACTIVE, 200), -EINVAL);
        assert_int_equal(tp_store_end(s, "s1", TP_STATE_MAX_ + 1, 200), -EINVAL);
        assert_int_equal(tp_store_end(s, "s1", TP_STATE_CLOSED, 200), 0);
        assert_int_equal(tp_store_end(s, "s1", TP_STATE_REVOKED, 300), -ESTALE);
        assert_int_equal(tp_store_end(s, "missing", TP_STATE_CLOSED, 300), -ENOENT);
        assert_int_equal(tp_store_commit(s), 0);

        assert_int_equal(tp_store_get(s, "s1", &out), 0);
        assert_int_equal(out.state, TP_STATE_CLOSED);
        assert_int_equal(out.ended, 200);
        before.state = TP_STATE_CLOSED;
        before.ended = 200;
        assert_session_equal(&out, &before);

        assert_int_equal(tp_store_get(s, "s2", &out), 0);
        assert_int_equal(out.state, TP_STATE_ACTIVE);
        assert_int_equal(out.ended, 0);
        tp_store_close(s);
}

static void test_extend(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session before, out;
        uint8_t hash[TP_REFRESH_HASH_LEN];

        make_session(&before, "s1", "alice", "ssh", 100);
        insert_committed(s, &before);
        add(s, "s2", "alice", "ssh", 101);
        memset(hash, 0xab, sizeof hash);

        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_extend(s, "s1", hash, 9000, 500), 0);
        assert_int_equal(tp_store_commit(s), 0);
        assert_int_equal(tp_store_get(s, "s1", &out), 0);
        memcpy(before.refresh_hash, hash, sizeof hash);
        before.refresh_expires = 9000;
        before.last_extended = 500;
        before.last_used = 500;
        assert_session_equal(&out, &before);

        /* The other session is untouched. */
        assert_int_equal(tp_store_get(s, "s2", &out), 0);
        assert_int_not_equal(out.refresh_hash[0], 0xab);
        assert_int_equal(out.last_extended, 101);

        memset(hash, 0xcd, sizeof hash);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_end(s, "s1", TP_STATE_EXPIRED, 600), 0);
        assert_int_equal(tp_store_extend(s, "s1", hash, 99999, 700), -ESTALE);
        assert_int_equal(tp_store_extend(s, "missing", hash, 99999, 700), -ENOENT);
        assert_int_equal(tp_store_commit(s), 0);
        assert_int_equal(tp_store_get(s, "s1", &out), 0);
        assert_int_equal(out.refresh_hash[0], 0xab);
        assert_int_equal(out.refresh_expires, 9000);
        tp_store_close(s);
}

static void test_touch(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session before, out;

        make_session(&before, "s1", "alice", "ssh", 100);
        insert_committed(s, &before);

        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_touch(s, "s1", 777), 0);
        assert_int_equal(tp_store_commit(s), 0);
        assert_int_equal(tp_store_get(s, "s1", &out), 0);
        before.last_used = 777;
        assert_session_equal(&out, &before);

        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_end(s, "s1", TP_STATE_REVOKED, 800), 0);
        assert_int_equal(tp_store_touch(s, "s1", 900), -ESTALE);
        assert_int_equal(tp_store_touch(s, "missing", 900), -ENOENT);
        assert_int_equal(tp_store_commit(s), 0);
        assert_int_equal(tp_store_get(s, "s1", &out), 0);
        assert_int_equal(out.last_used, 777);
        tp_store_close(s);
}

/* ---- transactions and durability ---------------------------------------- */

static void test_transactions(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session sess, out;

        tp_store_rollback(s); /* nothing open: harmless */
        tp_store_rollback(NULL);
        assert_int_equal(tp_store_commit(s), -EINVAL);

        make_session(&sess, "rolled", "alice", "ssh", 1);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_begin(s), -EALREADY);
        assert_int_equal(tp_store_insert(s, &sess), 0);
        assert_int_equal(tp_store_get(s, "rolled", &out), 0);
        tp_store_rollback(s);
        assert_int_equal(tp_store_get(s, "rolled", &out), -ENOENT);

        /* A rolled-back store accepts the next transaction. */
        insert_committed(s, &sess);
        assert_int_equal(tp_store_get(s, "rolled", &out), 0);
        tp_store_close(s);
}

/* The background pass: every active session once per pass, in creation
 * order (ties by insertion), ended ones skipped, then from the start. */
static void test_active_pages(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_store_cursor cur = TP_STORE_CURSOR_START;
        struct tp_session *rows = NULL;
        /* p3 and p2 share a second; p3 was inserted first. */
        const char *const expect[] = { "p1", "p3", "p2", "p5", "p6" };
        size_t n = 0, seen = 0;

        add(s, "p3", "alice", "ssh", 20);
        add(s, "p1", "bob", "ssh", 10);
        add(s, "p2", "alice", "web", 20);
        add(s, "p4", "carol", "ssh", 30);
        add(s, "p5", "carol", "ssh", 40);
        add(s, "p6", "dave", "ssh", 50);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_end(s, "p4", TP_STATE_CLOSED, 31), 0);
        assert_int_equal(tp_store_commit(s), 0);

        for (int page = 0; page < 3; page++) {
                assert_int_equal(tp_store_active_page(s, &cur, 2, &rows, &n), 0);
                assert_int_equal(n, page < 2 ? 2 : 1);
                for (size_t i = 0; i < n; i++)
                        assert_string_equal(rows[i].id, expect[seen++]);
                free(rows);
        }
        assert_int_equal(seen, 5);
        /* The short page ended the pass: the next starts over. */
        assert_int_equal(tp_store_active_page(s, &cur, 10, &rows, &n), 0);
        assert_int_equal(n, 5);
        assert_string_equal(rows[0].id, "p1");
        free(rows);
        assert_int_equal(tp_store_active_page(s, &cur, 0, &rows, &n), -EINVAL);
        tp_store_close(s);
}

/* ---- empty file --------------------------------------------------------- */

/* A zero-length sessions.db is what is left when a store was truncated
 * (a restored backup of nothing, a full disk, a bad copy): every session
 * and cap it held is gone. It is refused, and left as it is; the store
 * never leaves one behind itself. */
static void test_open_refuses_empty_file(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = NULL;
        struct stat st;
        int fd;

        fd = open(fx->path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(tp_store_open(fx->path, &s), -ENODATA);
        assert_null(s);
        assert_int_equal(stat(fx->path, &st), 0);
        assert_int_equal(st.st_size, 0);
        assert_int_equal(count_files_except_store(fx), 0);

        /* Once it is removed, a new store is made. */
        assert_int_equal(unlink(fx->path), 0);
        s = open_store(fx);
        tp_store_close(s);
        assert_int_equal(stat(fx->path, &st), 0);
        assert_true(st.st_size > 0);
}

/* A crash while a new store was being built leaves at most the private
 * file it was built in, never an empty sessions.db; a leftover of an
 * earlier process with our pid is replaced. */
static void test_open_create_replaces_leftover(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s;
        char tmp[400];
        int fd;

        snprintf(tmp, sizeof tmp, "%s.new-%ld", fx->path, (long) getpid());
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "half", 4), 4);
        close(fd);
        s = open_store(fx);
        add(s, "one", "alice", "ssh", 1);
        tp_store_close(s);
        assert_int_equal(access(tmp, F_OK), -1);
        assert_int_equal(count_files_except_store(fx), 0);
}

/* ---- listings, a page at a time ---------------------------------------- */

/* Walk a whole listing with pages of `limit` looking at `budget` rows
 * each; the ids joined with ','. Each page must look at no more than its
 * budget: the cursor moves by at most that many sessions of the order. */
static size_t walk(struct tp_store *s, const struct tp_store_filter *f, size_t limit,
                   size_t budget, char *ids, size_t idsz)
{
        struct tp_store_list_pos pos, *after = NULL;
        struct tp_session *rows = NULL;
        size_t n, len = 0, pages = 0;
        bool more = true;

        ids[0] = '\0';
        while (more) {
                rows = (struct tp_session *) 1;
                assert_int_equal(tp_store_list_page(s, f, after, limit, budget, &rows, &n, &pos,
                                                    &more), 0);
                assert_true(n <= limit);
                if (n == 0)
                        assert_null(rows);
                for (size_t i = 0; i < n; i++) {
                        if (f && f->client && f->client[0])
                                assert_string_equal(rows[i].client, f->client);
                        if (f && f->user && f->user[0])
                                assert_string_equal(rows[i].user, f->user);
                        if (!f || !f->all)
                                assert_int_equal(rows[i].state, TP_STATE_ACTIVE);
                        len += (size_t) snprintf(ids + len, idsz - len, "%s%s", len ? "," : "",
                                                 rows[i].id);
                }
                free(rows);
                after = &pos;
                pages++;
                assert_true(pages < 1000);
        }
        return pages;
}

static void end_session(struct tp_store *s, const char *id, uint8_t state, int64_t when)
{
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_end(s, id, state, when), 0);
        assert_int_equal(tp_store_commit(s), 0);
}

/* Active sessions first, then revoked, expired and closed ones, each by
 * creation time and then insertion; every session once, whatever the page
 * size, for one user and for everyone. */
static void test_list_page_order(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_store_filter f;
        char ids[512], again[512];

        add(s, "g", "u", "ssh", 70);
        add(s, "c", "u", "ssh", 30);
        add(s, "e", "u", "web", 50);
        add(s, "b2", "u", "ssh", 20);
        add(s, "a", "u", "ssh", 10);
        add(s, "b1", "u", "ssh", 20);
        add(s, "f", "u", "ssh", 50);
        add(s, "v1", "v", "ssh", 15);
        add(s, "v2", "v", "web", 60);
        end_session(s, "e", TP_STATE_CLOSED, 99);
        end_session(s, "a", TP_STATE_REVOKED, 98);
        end_session(s, "g", TP_STATE_CLOSED, 97);
        end_session(s, "v1", TP_STATE_EXPIRED, 96);

        f = (struct tp_store_filter) { .user = "u", .all = true };
        for (size_t limit = 1; limit <= 8; limit++) {
                walk(s, &f, limit, limit, ids, sizeof ids);
                assert_string_equal(ids, "b2,b1,c,f,a,e,g");
        }
        f = (struct tp_store_filter) { .user = "u" };
        for (size_t limit = 1; limit <= 5; limit++) {
                walk(s, &f, limit, limit + 3, ids, sizeof ids);
                assert_string_equal(ids, "b2,b1,c,f");
        }
        f = (struct tp_store_filter) { .all = true };
        for (size_t limit = 1; limit <= 10; limit++) {
                walk(s, &f, limit, limit, ids, sizeof ids);
                assert_string_equal(ids, "b2,b1,c,f,v2,a,v1,e,g");
        }
        walk(s, NULL, 2, 2, ids, sizeof ids);
        assert_string_equal(ids, "b2,b1,c,f,v2");
        f = (struct tp_store_filter) { .user = "", .client = "" };
        walk(s, &f, 3, 3, again, sizeof again);
        assert_string_equal(again, ids);

        /* Client filters, within and across users. */
        f = (struct tp_store_filter) { .client = "web", .all = true };
        walk(s, &f, 32, 32, ids, sizeof ids);
        assert_string_equal(ids, "v2,e");
        f = (struct tp_store_filter) { .user = "u", .client = "web", .all = true };
        walk(s, &f, 32, 32, ids, sizeof ids);
        assert_string_equal(ids, "e");
        f = (struct tp_store_filter) { .user = "u", .client = "web" };
        walk(s, &f, 32, 32, ids, sizeof ids);
        assert_string_equal(ids, "");
        f = (struct tp_store_filter) { .user = "nobody", .all = true };
        assert_int_equal(walk(s, &f, 32, 32, ids, sizeof ids), 1);
        assert_string_equal(ids, "");

        tp_store_close(s);
}

/* The last page says there is no more, also when it is exactly full; a
 * cursor past the active sessions ends an active-only listing; bad sizes
 * are refused. */
static void test_list_page_edges(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_store_filter all = { .all = true }, active = { 0 };
        struct tp_store_list_pos pos, past = { TP_STATE_REVOKED, INT64_MIN, INT64_MIN };
        struct tp_session *rows = NULL;
        size_t n;
        bool more;

        add(s, "a", "u", "ssh", 10);
        add(s, "b", "u", "ssh", 20);
        add(s, "c", "u", "ssh", 30);
        end_session(s, "c", TP_STATE_CLOSED, 31);

        assert_int_equal(tp_store_list_page(s, &active, NULL, 2, 2, &rows, &n, &pos, &more), 0);
        assert_int_equal(n, 2);
        assert_false(more);
        assert_int_equal(pos.state, TP_STATE_ACTIVE);
        assert_int_equal(pos.created, 20);
        free(rows);
        assert_int_equal(tp_store_list_page(s, &all, NULL, 2, 2, &rows, &n, &pos, &more), 0);
        assert_int_equal(n, 2);
        assert_true(more);
        free(rows);
        assert_int_equal(tp_store_list_page(s, &all, &pos, 2, 2, &rows, &n, &pos, &more), 0);
        assert_int_equal(n, 1);
        assert_string_equal(rows[0].id, "c");
        assert_false(more);
        assert_int_equal(pos.state, TP_STATE_CLOSED);
        free(rows);

        assert_int_equal(tp_store_list_page(s, &active, &past, 2, 2, &rows, &n, &pos, &more), 0);
        assert_int_equal(n, 0);
        assert_false(more);
        assert_int_equal(tp_store_list_page(s, &all, &past, 2, 2, &rows, &n, &pos, &more), 0);
        assert_int_equal(n, 1);
        free(rows);

        assert_int_equal(tp_store_list_page(s, &all, NULL, 0, 2, &rows, &n, &pos, &more), -EINVAL);
        assert_int_equal(tp_store_list_page(s, &all, NULL, 2, 0, &rows, &n, &pos, &more), -EINVAL);
        tp_store_close(s);
}

/* A filter few sessions match: each page looks at `budget` sessions at
 * most, so it may come back empty with more to follow, and the listing
 * still finds every match. */
static void test_list_page_budget(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_store_filter f = { .user = "u", .client = "web", .all = true };
        struct tp_store_list_pos pos;
        struct tp_session *rows = NULL;
        char id[16], ids[256];
        size_t n, pages;
        bool more;

        for (int i = 0; i < 50; i++) {
                snprintf(id, sizeof id, "s%02d", i);
                add(s, id, "u", i == 7 || i == 45 ? "web" : "ssh", 100 + i);
        }
        assert_int_equal(tp_store_list_page(s, &f, NULL, 32, 5, &rows, &n, &pos, &more), 0);
        assert_int_equal(n, 0);
        assert_null(rows);
        assert_true(more);
        assert_int_equal(pos.created, 104); /* looked at s00..s04 */
        assert_int_equal(tp_store_list_page(s, &f, &pos, 32, 5, &rows, &n, &pos, &more), 0);
        assert_int_equal(n, 1);
        assert_string_equal(rows[0].id, "s07");
        assert_true(more);
        free(rows);

        pages = walk(s, &f, 32, 5, ids, sizeof ids);
        assert_string_equal(ids, "s07,s45");
        assert_int_equal(pages, 10);
        pages = walk(s, &f, 32, 50, ids, sizeof ids);
        assert_string_equal(ids, "s07,s45");
        assert_int_equal(pages, 1);
        tp_store_close(s);
}

/* A session that ends between two pages moves from the active part of the
 * order to the ended part: it is listed, once, with its new state. */
static void test_list_page_survives_changes(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_store_filter f = { .all = true };
        struct tp_store_list_pos pos;
        struct tp_session *rows = NULL;
        size_t n, seen_a = 0;
        bool more;

        add(s, "a", "u", "ssh", 10);
        add(s, "b", "u", "ssh", 20);
        add(s, "c", "u", "ssh", 30);
        assert_int_equal(tp_store_list_page(s, &f, NULL, 1, 1, &rows, &n, &pos, &more), 0);
        assert_string_equal(rows[0].id, "a");
        seen_a++;
        free(rows);
        end_session(s, "a", TP_STATE_REVOKED, 40);
        while (more) {
                assert_int_equal(tp_store_list_page(s, &f, &pos, 1, 1, &rows, &n, &pos, &more), 0);
                for (size_t i = 0; i < n; i++)
                        if (strcmp(rows[i].id, "a") == 0) {
                                assert_int_equal(rows[i].state, TP_STATE_REVOKED);
                                seen_a++;
                        }
                free(rows);
        }
        assert_int_equal(seen_a, 2);
        tp_store_close(s);
}

static void assert_plan_uses_index(struct tp_store *s, enum tp_store_plan which, const char *index)
{
        char plan[1024];

        assert_int_equal(tp_store_explain(s, which, plan, sizeof plan), 0);
        if (!strstr(plan, index) || strstr(plan, "TEMP B-TREE") || strstr(plan, "SCAN"))
                fail_msg("plan %d: %s (expected a search on %s, no sort)", (int) which, plan, index);
}

/* Every listing, the cap count and the purge are a search on an index
 * that yields rows in the order asked: no scan of the table, no sort of
 * a history however long. Planned on a store with a long history, as
 * SQLite plans without statistics. */
static void test_list_plans_use_index_without_sort(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session sess;
        char id[16], plan[1024];

        assert_int_equal(tp_store_begin(s), 0);
        for (int i = 0; i < 2000; i++) {
                snprintf(id, sizeof id, "h%04d", i);
                make_session(&sess, id, i % 3 ? "u" : "v", i % 2 ? "ssh" : "web", i);
                sess.state = i % 10 ? TP_STATE_CLOSED : TP_STATE_ACTIVE;
                sess.ended = sess.state ? i + 5 : 0;
                assert_int_equal(tp_store_insert(s, &sess), 0);
        }
        assert_int_equal(tp_store_commit(s), 0);

        assert_plan_uses_index(s, TP_STORE_PLAN_LIST_USER, "sessions_user_state_created");
        assert_plan_uses_index(s, TP_STORE_PLAN_LIST_USER_ALL, "sessions_user_state_created");
        assert_plan_uses_index(s, TP_STORE_PLAN_LIST_EVERYONE, "sessions_state_created");
        assert_plan_uses_index(s, TP_STORE_PLAN_LIST_EVERYONE_ALL, "sessions_state_created");
        assert_plan_uses_index(s, TP_STORE_PLAN_LIST_ACTIVE, "sessions_user_state_created");
        assert_plan_uses_index(s, TP_STORE_PLAN_PURGE, "sessions_state_created");
        assert_plan_uses_index(s, TP_STORE_PLAN_OTHER_BOOT, "sessions_state_created");
        assert_plan_uses_index(s, TP_STORE_PLAN_CAP_ROOM, "sessions_user_state_created");

        assert_int_equal(tp_store_explain(s, TP_STORE_PLAN_MAX_ + 1, plan, sizeof plan), -EINVAL);
        assert_int_equal(tp_store_explain(s, TP_STORE_PLAN_PURGE, plan, 8), -ENOBUFS);
        tp_store_close(s);
}

/* ---- history retention -------------------------------------------------- */

static void add_ended(struct tp_store *s, const char *id, int64_t created, uint8_t state,
                      int64_t ended)
{
        struct tp_session sess;

        make_session(&sess, id, "u", "ssh", created);
        sess.state = state;
        sess.ended = ended;
        insert_committed(s, &sess);
}

/* Only sessions that ended before the cut-off go, whatever their state;
 * active ones stay however old. Each step looks at `budget` sessions at
 * most; the pass then reports completion and starts over. */
static void test_purge_steps(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_store_filter all = { .all = true };
        struct tp_store_purge_pos pos = { 0 };
        size_t deleted, total = 0, steps = 0;
        char id[16], ids[1024];
        int r;

        add(s, "old-active", "u", "ssh", 5);
        add_ended(s, "long-lived", 10, TP_STATE_EXPIRED, 1500); /* ended after the cut */
        add_ended(s, "recent", 1200, TP_STATE_CLOSED, 1300);
        for (int i = 0; i < 30; i++) {
                snprintf(id, sizeof id, "gone%02d", i);
                add_ended(s, id, 100 + i, (uint8_t) (TP_STATE_REVOKED + i % 3), 200 + i);
        }
        add_ended(s, "edge", 500, TP_STATE_CLOSED, 999); /* just before */
        add_ended(s, "at-cut", 600, TP_STATE_CLOSED, 1000);

        do {
                assert_int_equal(tp_store_begin(s), 0);
                r = tp_store_purge_step(s, 1000, 4, &pos, &deleted);
                assert_true(r >= 0);
                assert_int_equal(tp_store_commit(s), 0);
                assert_true(deleted <= 4);
                total += deleted;
                steps++;
                assert_true(steps < 100);
        } while (r == 1);
        assert_int_equal(total, 31);
        assert_int_equal(pos.state, 0);
        walk(s, &all, 32, 32, ids, sizeof ids);
        assert_string_equal(ids, "old-active,long-lived,at-cut,recent");

        /* Nothing more to do: one step completes a pass. */
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_purge_step(s, 1000, 64, &pos, &deleted), 0);
        assert_int_equal(tp_store_commit(s), 0);
        assert_int_equal(deleted, 0);
        /* Later, more has ended long enough ago. */
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_purge_step(s, 1400, 64, &pos, &deleted), 0);
        assert_int_equal(tp_store_commit(s), 0);
        assert_int_equal(deleted, 2);
        walk(s, &all, 32, 32, ids, sizeof ids);
        assert_string_equal(ids, "old-active,long-lived");
        assert_int_equal(tp_store_purge_step(s, 1400, 0, &pos, &deleted), -EINVAL);
        tp_store_close(s);
}

/* ---- boots -------------------------------------------------------------- */

#define BOOT_NOW "11111111-2222-3333-4444-555555555555"
#define BOOT_OLD "99999999-8888-7777-6666-555555555555"

static void add_booted(struct tp_store *s, const char *id, int64_t created, const char *boot)
{
        struct tp_session sess;

        make_session(&sess, id, "u", "ssh", created);
        snprintf(sess.boot_id, sizeof sess.boot_id, "%s", boot);
        insert_committed(s, &sess);
}

/* Sessions from before boots were recorded are taken for this boot's when
 * signed in since it began; every active session of another (or unknown)
 * boot is found, a page at a time, ended ones never. */
static void test_boot_adopt_and_others(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_store_cursor cur = TP_STORE_CURSOR_START;
        struct tp_session *rows = NULL, out;
        char ids[256] = "";
        size_t n, adopted, len = 0;

        add_booted(s, "legacy-before", 10, "");
        add_booted(s, "legacy-since", 100, "");
        add_booted(s, "legacy-ended", 10, "");
        end_session(s, "legacy-ended", TP_STATE_CLOSED, 20);
        add_booted(s, "old1", 50, BOOT_OLD);
        add_booted(s, "now1", 60, BOOT_NOW);
        add_booted(s, "old2", 70, BOOT_OLD);
        add_booted(s, "old3", 80, BOOT_OLD);
        add_booted(s, "old-ended", 90, BOOT_OLD);
        end_session(s, "old-ended", TP_STATE_REVOKED, 95);

        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_adopt_boot(s, BOOT_NOW, 100, &adopted), 0);
        assert_int_equal(tp_store_commit(s), 0);
        assert_int_equal(adopted, 1);
        assert_int_equal(tp_store_get(s, "legacy-since", &out), 0);
        assert_string_equal(out.boot_id, BOOT_NOW);
        assert_int_equal(tp_store_get(s, "legacy-before", &out), 0);
        assert_string_equal(out.boot_id, "");
        assert_int_equal(tp_store_get(s, "legacy-ended", &out), 0);
        assert_string_equal(out.boot_id, "");

        for (int page = 0; page < 3; page++) {
                assert_int_equal(tp_store_other_boot_page(s, BOOT_NOW, &cur, 2, &rows, &n), 0);
                assert_int_equal(n, page < 2 ? 2 : 0);
                for (size_t i = 0; i < n; i++)
                        len += (size_t) snprintf(ids + len, sizeof ids - len, "%s%s",
                                                 len ? "," : "", rows[i].id);
                free(rows);
        }
        assert_string_equal(ids, "legacy-before,old1,old2,old3");
        assert_int_equal(tp_store_adopt_boot(s, "", 0, &adopted), -EINVAL);

        /* Which boot's start-up pass last completed: none, then this one. */
        assert_int_equal(tp_store_boot_checked(s, ids, sizeof ids), 0);
        assert_string_equal(ids, "");
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_set_boot_checked(s, BOOT_OLD), 0);
        assert_int_equal(tp_store_set_boot_checked(s, BOOT_NOW), 0);
        assert_int_equal(tp_store_set_boot_checked(s, ""), -EINVAL);
        assert_int_equal(tp_store_commit(s), 0);
        tp_store_close(s);
        s = open_store(fx);
        assert_int_equal(tp_store_boot_checked(s, ids, sizeof ids), 0);
        assert_string_equal(ids, BOOT_NOW);
        assert_int_equal(tp_store_boot_checked(s, ids, 8), -EIO); /* does not fit */
        assert_int_equal(tp_store_other_boot_page(s, BOOT_NOW, &cur, 0, &rows, &n), -EINVAL);
        tp_store_close(s);
}

/* Group commit: requests are savepoints in one batch; one undone request
 * leaves the others; nothing is durable before the batch commit. */
static void test_batch_savepoints(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session a, b, c, out;

        make_session(&a, "batch-a", "alice", "ssh", 1);
        make_session(&b, "batch-b", "alice", "ssh", 2);
        make_session(&c, "batch-c", "bob", "ssh", 3);

        /* Batching with nothing begun: the commit is a no-op. */
        tp_store_batch_start(s);
        assert_false(tp_store_batch_pending(s));
        assert_int_equal(tp_store_batch_commit(s), 0);

        tp_store_batch_start(s);
        assert_int_equal(tp_store_begin(s), 0);
        assert_true(tp_store_batch_pending(s));
        assert_int_equal(tp_store_begin(s), -EALREADY);
        assert_int_equal(tp_store_insert(s, &a), 0);
        assert_int_equal(tp_store_commit(s), 0);
        assert_true(tp_store_request_changed(s));
        assert_false(tp_store_request_changed(s)); /* it resets */

        /* The second request sees the first, and is undone alone. */
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_get(s, "batch-a", &out), 0);
        assert_int_equal(tp_store_insert(s, &b), 0);
        tp_store_rollback(s);
        assert_false(tp_store_request_changed(s));
        assert_int_equal(tp_store_get(s, "batch-b", &out), -ENOENT);

        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_insert(s, &c), 0);
        assert_int_equal(tp_store_commit(s), 0);
        assert_int_equal(tp_store_batch_commit(s), 0);
        assert_false(tp_store_batch_pending(s));

        /* Batching ended: a plain transaction again. */
        assert_int_equal(tp_store_commit(s), -EINVAL);
        tp_store_close(s);

        s = open_store(fx);
        assert_int_equal(tp_store_get(s, "batch-a", &out), 0);
        assert_int_equal(tp_store_get(s, "batch-b", &out), -ENOENT);
        assert_int_equal(tp_store_get(s, "batch-c", &out), 0);
        tp_store_close(s);
}

/* A request released into a batch is not durable until the batch commits:
 * closing the store first loses it (a crash before the fsync). */
static void test_batch_uncommitted_lost(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session a, out;

        make_session(&a, "batch-lost", "alice", "ssh", 1);
        tp_store_batch_start(s);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_insert(s, &a), 0);
        assert_int_equal(tp_store_commit(s), 0);
        tp_store_close(s);

        s = open_store(fx);
        assert_int_equal(tp_store_get(s, "batch-lost", &out), -ENOENT);
        tp_store_close(s);
}

/* A caller that never ends its transaction: the batch commit undoes that
 * part and keeps the rest. */
static void test_batch_commit_undoes_open_request(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session a, b, out;

        make_session(&a, "batch-x", "alice", "ssh", 1);
        make_session(&b, "batch-y", "alice", "ssh", 2);
        tp_store_batch_start(s);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_insert(s, &a), 0);
        assert_int_equal(tp_store_commit(s), 0);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_insert(s, &b), 0);
        assert_int_equal(tp_store_batch_commit(s), 0);
        assert_int_equal(tp_store_get(s, "batch-x", &out), 0);
        assert_int_equal(tp_store_get(s, "batch-y", &out), -ENOENT);
        tp_store_close(s);
}

/* The WAL is copied back into the database once it holds 4,000 pages (not
 * SQLite's default 1,000) and then written again from its start, so the
 * file grows past 1,000 pages and never much past 4,000. */
static void test_wal_checkpointed_every_4000_pages(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        const off_t frame = 4096 + 24, header = 32;
        char wal[PATH_MAX], id[32];
        struct tp_session sess;
        struct stat st;
        off_t most = 0;

        snprintf(wal, sizeof(wal), "%s-wal", fx->path);
        for (int i = 0; i < 3000; i++) {
                snprintf(id, sizeof(id), "wal-%d", i);
                make_session(&sess, id, "alice", "ssh", i);
                assert_int_equal(tp_store_begin(s), 0);
                assert_int_equal(tp_store_insert(s, &sess), 0);
                assert_int_equal(tp_store_commit_unsynced(s), 0);
                assert_int_equal(stat(wal, &st), 0);
                if (st.st_size > most)
                        most = st.st_size;
        }
        assert_true(most > header + 1500 * frame);
        assert_true(most < header + 4100 * frame);
        tp_store_close(s);
}

/* In a child: a batch whose COMMIT cannot write the WAL (the file size
 * limit stops it growing, as a full disk would). Reports 'y' when the
 * commit failed, nothing of the batch is visible and the store takes the
 * next transaction. */
static void child_batch_commit_fails(const char *path, int wfd)
{
        struct tp_store *s = NULL;
        struct tp_session sess, out;
        struct rlimit old, lim;
        char wal[PATH_MAX], id[32], ok = 'n';
        struct stat st;

        snprintf(wal, sizeof(wal), "%s-wal", path);
        if (tp_store_open(path, &s) < 0)
                goto report;
        tp_store_batch_start(s);
        for (int i = 0; i < 300; i++) {
                snprintf(id, sizeof(id), "bulk-%d", i);
                make_session(&sess, id, "alice", "ssh", i);
                if (tp_store_begin(s) < 0 || tp_store_insert(s, &sess) < 0 || tp_store_commit(s) < 0)
                        goto report;
        }
        signal(SIGXFSZ, SIG_IGN);
        if (getrlimit(RLIMIT_FSIZE, &old) < 0)
                goto report;
        lim = old;
        lim.rlim_cur = stat(wal, &st) == 0 ? (rlim_t)st.st_size : 0;
        if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
                goto report;
        if (tp_store_batch_commit(s) >= 0)
                goto report;
        if (setrlimit(RLIMIT_FSIZE, &old) < 0)
                goto report;
        if (tp_store_batch_pending(s) || tp_store_get(s, "bulk-0", &out) != -ENOENT)
                goto report;
        make_session(&sess, "after", "alice", "ssh", 1);
        if (tp_store_begin(s) < 0 || tp_store_insert(s, &sess) < 0 || tp_store_commit(s) < 0)
                goto report;
        ok = 'y';
report:
        if (write(wfd, &ok, 1) != 1)
                _exit(2);
        _exit(0);
}

static void test_batch_failed_commit_undoes_all(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session out;
        int fds[2], status;
        char ok = 0;
        pid_t pid;

        tp_store_close(s);
        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(fds[0]);
                child_batch_commit_fails(fx->path, fds[1]);
        }
        close(fds[1]);
        assert_int_equal(read(fds[0], &ok, 1), 1);
        close(fds[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_int_equal(ok, 'y');

        s = open_store(fx);
        assert_int_equal(tp_store_get(s, "bulk-0", &out), -ENOENT);
        assert_int_equal(tp_store_get(s, "bulk-299", &out), -ENOENT);
        assert_int_equal(tp_store_get(s, "after", &out), 0);
        tp_store_close(s);
}

static void test_uncommitted_lost_on_close(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session sess, out;
        uint64_t n;

        add(s, "kept", "alice", "ssh", 1);
        make_session(&sess, "lost", "alice", "ssh", 2);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_insert(s, &sess), 0);
        assert_int_equal(tp_store_end(s, "kept", TP_STATE_CLOSED, 3), 0);
        tp_store_close(s);

        s = open_store(fx);
        assert_int_equal(tp_store_get(s, "lost", &out), -ENOENT);
        assert_int_equal(tp_store_get(s, "kept", &out), 0);
        assert_int_equal(out.state, TP_STATE_ACTIVE);
        assert_int_equal(tp_store_count_active(s, &n), 0);
        assert_int_equal(n, 1);
        tp_store_close(s);
}

/* What another connection (SQLite's own VFS, as another process would
 * use) sees of the store while the daemon's connection stays open. */
static int64_t count_elsewhere(const struct fixture *fx, const char *where)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        char sql[256];
        int64_t n = -1;

        snprintf(sql, sizeof sql, "SELECT count(*) FROM sessions WHERE %s", where);
        assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        if (sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return n;
}

/* The WAL is written a transaction at a time (store_wal.c): whatever is
 * committed, synced or not, small or larger than what is gathered at
 * once, is in the file before the commit returns. */
static void test_commits_reach_the_wal_file_at_once(void **state)
{
        struct fixture *fx = *state;
        struct tp_store *s = open_store(fx);
        struct tp_session sess;
        char id[16];

        add(s, "one", "alice", "ssh", 1);
        assert_int_equal(count_elsewhere(fx, "id = 'one' AND state = 0"), 1);

        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_end(s, "one", TP_STATE_CLOSED, 2), 0);
        assert_int_equal(tp_store_commit_unsynced(s), 0);
        assert_int_equal(count_elsewhere(fx, "id = 'one' AND state = 3"), 1);

        /* Some 3 MiB of frames in one transaction. */
        assert_int_equal(tp_store_begin(s), 0);
        for (int i = 0; i < 6000; i++) {
                snprintf(id, sizeof id, "big%05d", i);
                make_session(&sess, id, i % 2 ? "bob" : "carol", "web", i);
                assert_int_equal(tp_store_insert(s, &sess), 0);
        }
        assert_int_equal(tp_store_commit(s), 0);
        assert_int_equal(count_elsewhere(fx, "id LIKE 'big%'"), 6000);

        /* An uncommitted one is not there, and is gone with the connection. */
        make_session(&sess, "never", "alice", "ssh", 3);
        assert_int_equal(tp_store_begin(s), 0);
        assert_int_equal(tp_store_insert(s, &sess), 0);
        assert_int_equal(count_elsewhere(fx, "id = 'never'"), 0);
        tp_store_rollback(s);
        tp_store_close(s);
        assert_int_equal(count_elsewhere(fx, "1"), 6001);
}

/* The child never returns into cmocka: it reports through the pipe and
 * exits with _exit(), or is killed. */
static void child_commit_then_wait(const char *path, int wfd)
{
        struct tp_store *s = NULL;
        struct tp_session sess;
        char ok = 'y';

        make_session(&sess, "survivor", "alice", "ssh", 42);
        if (tp_store_open(path, &s) < 0 || tp_store_begin(s) < 0 ||
            tp_store_insert(s, &sess) < 0 || tp_store_commit(s) < 0)
                ok = 'n';
        /* Begun but never committed: must not appear after the kill. */
        make_session(&sess, "pending", "alice", "ssh", 43);
        if (ok == 'y' && (tp_store_begin(s) < 0 || tp_store_insert(s, &sess) < 0))
                ok = 'n';
        if (write(wfd, &ok, 1) != 1)
                _exit(2);
        for (;;)
                pause();
}

static void test_committed_survives_sigkill(void **state)
{
        struct fixture *fx = *state;
        struct tp_session expect, out;
        struct tp_store *s;
        int fds[2], status;
        char ok = 0;
        pid_t pid;

        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(fds[0]);
                child_commit_then_wait(fx->path, fds[1]);
        }
        close(fds[1]);
        assert_int_equal(read(fds[0], &ok, 1), 1);
        close(fds[0]);
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
        assert_int_equal(ok, 'y');

        s = open_store(fx);
        make_session(&expect, "survivor", "alice", "ssh", 42);
        assert_int_equal(tp_store_get(s, "survivor", &out), 0);
        assert_session_equal(&out, &expect);
        assert_int_equal(tp_store_get(s, "pending", &out), -ENOENT);
        tp_store_close(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_open_creates_private_wal_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_refuses_symlink, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_refuses_newer_schema, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_migrates_version_1, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_migrates_version_4, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_expiries_visits_active_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_accepts_current_schema, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_refuses_non_sqlite_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_rejects_bad_arguments, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
                cmocka_unit_test_setup_teardown(test_insert_duplicate_id, setup, teardown),
                cmocka_unit_test_setup_teardown(test_get_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_insert_rejects_bad_fields, setup, teardown),
                cmocka_unit_test_setup_teardown(test_max_length_strings_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_user_reads_as_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_integers_read_as_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_active, setup, teardown),
                cmocka_unit_test_setup_teardown(test_query_filters, setup, teardown),
                cmocka_unit_test_setup_teardown(test_query_paging, setup, teardown),
                cmocka_unit_test_setup_teardown(test_count_active, setup, teardown),
                cmocka_unit_test_setup_teardown(test_count_leader_shared, setup, teardown),
                cmocka_unit_test_setup_teardown(test_end, setup, teardown),
                cmocka_unit_test_setup_teardown(test_extend, setup, teardown),
                cmocka_unit_test_setup_teardown(test_touch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_uncommitted_lost_on_close, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commits_reach_the_wal_file_at_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_active_pages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_refuses_empty_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_create_replaces_leftover, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_page_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_page_edges, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_page_budget, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_page_survives_changes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_plans_use_index_without_sort, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_purge_steps, setup, teardown),
                cmocka_unit_test_setup_teardown(test_boot_adopt_and_others, setup, teardown),
                cmocka_unit_test_setup_teardown(test_batch_savepoints, setup, teardown),
                cmocka_unit_test_setup_teardown(test_insert_under_cap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_batch_uncommitted_lost, setup, teardown),
                cmocka_unit_test_setup_teardown(test_batch_commit_undoes_open_request, setup, teardown),
                cmocka_unit_test_setup_teardown(test_batch_failed_commit_undoes_all, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wal_checkpointed_every_4000_pages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_committed_survives_sigkill, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
