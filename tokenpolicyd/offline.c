/* SPDX-License-Identifier: BSD-3-Clause */
/* offline.c: sign-ins while the fleet's database cannot be reached, and
 * their upload when it answers again (offline.h). */
#include "offline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "conffile.h"
#include "io.h"
#include "lifecycle.h"
#include "log.h"
#include "reply.h"
#include "secrets.h"
#include "store_pg.h"
#include "store_sqlite.h"

#define UPLOAD_PAGE 64
#define UPLOAD_RETRY_MS 5000
#define MIRROR_PAGE 256
/* The mirror is filled afresh this often (ms), which also drops the
 * sessions that ended meanwhile. */
#define MIRROR_REFILL_MS (3600 * 1000)
#define MIRROR_FLUSH_MS 1000
/* A due expiry whose session the mirror does not hold (or that failed) is
 * looked at again after this long (s). */
#define LOCAL_EXPIRY_RETRY_S 30

static void state_path(const struct tp_daemon *d, const char *file, const char *suffix, char *out, size_t size)
{
        snprintf(out, size, "%s/%s%s", d->state_dir, file, suffix);
}

static void unsynced_path(const struct tp_daemon *d, const char *suffix, char *out, size_t size)
{
        state_path(d, TP_UNSYNCED_FILE, suffix, out, size);
}

/* A SQLite store's files: its own, its WAL and its shared memory. */
static const char *const store_suffixes[] = { "", "-wal", "-shm" };

static void remove_store_files(const struct tp_daemon *d, const char *file)
{
        char path[4096];

        for (size_t i = 0; i < 3; i++) {
                state_path(d, file, store_suffixes[i], path, sizeof(path));
                if (unlink(path) < 0 && errno != ENOENT)
                        tp_log_errno(-errno, "Failed to remove %s", path);
        }
}

static int open_unsynced(struct tp_daemon *d)
{
        struct tp_store_filter all = { .all = true };
        struct tp_session *rows = NULL;
        char path[4096];
        size_t n = 0, total = 0;
        int r;

        unsynced_path(d, "", path, sizeof(path));
        if ((r = tp_store_open(path, &d->unsynced)) < 0)
                return tp_log_errno(r, "Failed to open the store of sessions signed in while the fleet's database was unreachable, %s",
                                    path);
        r = tp_store_query(d->unsynced, &all, 0, 0, &rows, &n, &total);
        free(rows);
        if (r < 0)
                return tp_log_errno(r, "Failed to read %s (%s)", path, tp_store_errmsg(d->unsynced));
        d->n_unsynced = total;
        tp_store_hold_uploads(d->store, true);
        return 0;
}

/* A mirror left by an earlier run: used as it is by the passes while the
 * database stays away, filled afresh once it answers. */
static void open_old_mirror(struct tp_daemon *d)
{
        char path[4096];
        int r;

        state_path(d, TP_MIRROR_FILE, "", path, sizeof(path));
        if (access(path, F_OK) < 0)
                return;
        if ((r = tp_store_open(path, &d->mirror)) < 0) {
                tp_log_errno(r, "Failed to open %s, this host's copy of its sessions; it is made again once the fleet's database answers",
                             path);
                d->mirror = NULL;
                return;
        }
        /* Kept up to date from now on, and filled afresh once the
         * database answers. */
        tp_store_pg_mirror(d->store, d->mirror);
}

int tp_offline_start(struct tp_daemon *d)
{
        char path[4096];
        int r;

        d->sweep_mirror = d->sweep_unsynced = TP_STORE_CURSOR_START;
        open_old_mirror(d);
        unsynced_path(d, "", path, sizeof(path));
        if (access(path, F_OK) < 0)
                return 0;
        if ((r = open_unsynced(d)) < 0)
                return r;
        if (d->n_unsynced > 0)
                tp_log(LOG_INFO, "%zu session(s) signed in while the fleet's database was unreachable wait to be uploaded to it",
                       d->n_unsynced);
        return 0;
}

static void close_unsynced(struct tp_daemon *d)
{
        tp_store_close(d->unsynced);
        d->unsynced = NULL;
}

void tp_offline_stop(struct tp_daemon *d)
{
        close_unsynced(d);
        if (d->store) {
                tp_store_pg_mirror_flush(d->store);
                tp_store_pg_mirror(d->store, NULL);
        }
        tp_store_close(d->mirror);
        d->mirror = NULL;
}

bool tp_offline_now(const struct tp_daemon *d)
{
        return d->store && tp_store_offline_since(d->store, NULL, 0) != 0;
}

struct tp_store *tp_offline_store(struct tp_daemon *d, struct tp_reply *rep)
{
        if (!d->unsynced && open_unsynced(d) < 0) {
                tp_reply_status(rep, TP_STATUS_ERROR,
                                "The fleet's database cannot be reached, and this host's own store cannot be opened; see the tokenpolicyd log.");
                return NULL;
        }
        return d->unsynced;
}

struct tp_store *tp_offline_store_for(struct tp_daemon *d, const char *id)
{
        struct tp_session s;

        if (d->unsynced && d->n_unsynced > 0 && tp_store_get(d->unsynced, id, &s) == 0)
                return d->unsynced;
        return d->store;
}

void tp_offline_signed_in(struct tp_daemon *d, const struct tp_session *s)
{
        (void) s;
        d->n_unsynced++;
        tp_store_hold_uploads(d->store, true);
}

static void format_since(int64_t since, char *out, size_t size)
{
        time_t t = (time_t) since;
        struct tm tm;

        if (!localtime_r(&t, &tm) || strftime(out, size, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                snprintf(out, size, "%" PRId64, since);
}

void tp_offline_refusal(struct tp_daemon *d, const char *client, struct tp_reply *rep)
{
        char since[64];

        format_since(tp_store_offline_since(d->store, NULL, 0), since, sizeof(since));
        tp_reply_status(rep, TP_STATUS_DENIED,
                        "Sign-in refused: the fleet's session database has been unreachable since %s, and "
                        "client type '%s' refuses sign-ins then (on_store_unreachable = \"deny\").",
                        since, client);
}

/* ---- back online ---------------------------------------------------------- */

/* The fleet's cap for client type `client` now; 0 when the type is gone
 * from the configuration (nothing to hold it to). */
static uint32_t fleet_cap(const struct tp_daemon *d, const char *client)
{
        const struct tp_client_config *cl = tp_config_client(d->config, client);
        struct tp_effective_policy p;

        if (!cl)
                return 0;
        tp_config_effective(d->config, cl, &p);
        return p.max_refresh_tokens;
}

/* Write one unsynced session to the fleet's store in one transaction. An
 * active one is counted with the user's active sessions of its type on
 * every host, under the cap's lock, and the oldest beyond the cap are
 * revoked, wherever they run: their hosts are told (store_pg.c), this
 * host's own are enforced here. 1 when written, 0 when it was already
 * (an upload cut short before the file was removed), < 0 on failure. */
/* A session the database has already: uploaded before a crash, signed in
 * online and ended here while the database was away (a copy of it,
 * ended, tp_offline_ended()), or taken by the database in a sign-in whose
 * answer was lost as it went away. Its end, or a refresh made here, if
 * the database does not know it yet, is written. 1 when written, 0 when
 * there was nothing to write. */
/* Why a session revoked across the fleet while this host was away is
 * uploaded revoked (tp_store_revoked_since's 1 or 2). */
static const char *revoked_why(int since)
{
        /* 2: it began before revocations the fleet no longer keeps, so
         * whether one covered it cannot be known. */
        return since == 1 ? "revoked across the fleet while this host could not reach its database"
                          : "signed in while this host could not reach its database, before revocations "
                            "the fleet no longer keeps (the host was away too long to be waited for)";
}

/* A session uploaded revoked: said, and ended here. */
static void uploaded_revoked(struct tp_daemon *d, const struct tp_session *s, const char *why)
{
        tp_audit(&(struct tp_audit){ .event = "revoke", .user = s->user, .client = s->client,
                                     .service = s->service, .session = s->id, .reason = why, .peer_uid = -1 });
        tp_lifecycle_ended(d, s->id);
        tp_lifecycle_enforce(d, s, false, why);
}

static int upload_end(struct tp_daemon *d, const struct tp_session *s, const struct tp_session *there)
{
        struct tp_session up = *s;
        const char *why = NULL;
        int64_t issued = 0;
        bool same;
        int r;

        if (there->state != TP_STATE_ACTIVE)
                return 0;
        /* Active in both: a sign-in the database took just before it went
         * away, without telling (handlers.c, sent_signin), signed in here
         * as the same session. A refresh made here since is the newer; a
         * revocation made across the fleet meanwhile, before it landed,
         * applies to it as to any session signed in here alone. */
        same = s->refresh_expires == there->refresh_expires && tp_hash_equal(s->refresh_hash, there->refresh_hash);
        if ((r = tp_store_begin(d->store)) < 0)
                return r;
        if (up.state == TP_STATE_ACTIVE &&
            (r = tp_store_revoked_since(d->store, up.user, up.client, up.created, &issued)) > 0) {
                why = revoked_why(r);
                up.state = TP_STATE_REVOKED;
                up.ended = r == 1 ? issued : (int64_t) time(NULL);
        }
        if (r < 0 || (up.state == TP_STATE_ACTIVE && same)) {
                tp_store_rollback(d->store);
                return r < 0 ? r : 0;
        }
        if (up.state == TP_STATE_ACTIVE)
                r = tp_store_extend(d->store, up.id, up.refresh_hash, up.refresh_expires, up.last_extended);
        else
                r = tp_store_end(d->store, up.id, up.state, up.ended);
        if (r == -ESTALE) { /* ended meanwhile, by another host */
                tp_store_rollback(d->store);
                return 0;
        }
        if (r < 0 || (r = tp_store_commit(d->store)) < 0) {
                tp_store_rollback(d->store);
                return r;
        }
        if (why)
                uploaded_revoked(d, &up, why);
        return 1;
}

static int upload_one(struct tp_daemon *d, const struct tp_session *s, size_t *ret_evicted)
{
        struct tp_session *active = NULL, **order = NULL;
        uint32_t cap = fleet_cap(d, s->client);
        int64_t now = (int64_t) time(NULL);
        size_t n = 0, excess = 0;
        int r;

        const struct tp_session *local = s;
        struct tp_session up = *s, there;
        const char *why = NULL;
        int64_t issued = 0;

        if ((r = tp_store_get(d->store, s->id, &there)) == 0)
                return upload_end(d, s, &there);
        if (r != -ENOENT)
                return r;
        if ((r = tp_store_begin(d->store)) < 0)
                return r;
        /* Revoked across the fleet (by user or client type) after it began,
         * while this host could not hear of it: it is uploaded revoked. */
        if (up.state == TP_STATE_ACTIVE &&
            (r = tp_store_revoked_since(d->store, up.user, up.client, up.created, &issued)) < 0)
                goto fail;
        if (r > 0) {
                why = revoked_why(r);
                up.state = TP_STATE_REVOKED;
                up.ended = r == 1 ? issued : now;
        }
        s = &up;
        if (s->state == TP_STATE_ACTIVE &&
            (r = tp_store_list_active(d->store, s->user, s->client, &active, &n)) < 0)
                goto fail;
        if ((r = tp_store_insert(d->store, s)) < 0)
                goto fail;
        if (cap > 0 && s->state == TP_STATE_ACTIVE && n + 1 > cap) {
                size_t j = 0;
                bool placed = false;

                excess = n + 1 - cap;
                if (!(order = calloc(n + 1, sizeof(*order)))) {
                        r = -ENOMEM;
                        goto fail;
                }
                /* Oldest first: the list is in creation order; this one
                 * goes after those created in the same second. */
                for (size_t i = 0; i <= n; i++) {
                        if (!placed && (j == n || active[j].created > s->created)) {
                                order[i] = (struct tp_session *) s;
                                placed = true;
                        } else {
                                order[i] = &active[j++];
                        }
                }
                for (size_t i = 0; i < excess; i++) {
                        r = tp_store_end(d->store, order[i]->id, TP_STATE_REVOKED, now);
                        if (r < 0 && r != -ESTALE)
                                goto fail;
                }
        }
        if ((r = tp_store_commit(d->store)) < 0)
                goto fail;
        if (why)
                uploaded_revoked(d, s, why);
        for (size_t i = 0; i < excess; i++) {
                const struct tp_session *v = order[i];

                tp_audit(&(struct tp_audit){ .event = "evict", .user = v->user, .client = v->client,
                                             .service = v->service, .session = v->id,
                                             .evicted_by = v == s ? NULL : s->id,
                                             .reason = "session limit of the fleet reached when sessions signed in "
                                                       "while its database was unreachable were uploaded; oldest signed out",
                                             .peer_uid = -1 });
                if (tp_lifecycle_runs_here(d, v)) {
                        struct tp_session ended = *v;

                        ended.state = TP_STATE_REVOKED;
                        ended.ended = now;
                        tp_lifecycle_ended(d, v->id);
                        tp_lifecycle_enforce(d, &ended, false, "signed out at the session limit of the fleet");
                }
        }
        *ret_evicted += excess;
        free(order);
        free(active);
        return 1;
fail:
        tp_store_rollback(d->store);
        free(order);
        free(active);
        /* Written meanwhile under the same id: a sign-in the database took
         * as it went away, reaching it only now (it held the cap's lock
         * this upload waited for), or an upload cut short. */
        if (r == -EEXIST && (r = tp_store_get(d->store, local->id, &there)) == 0)
                return upload_end(d, local, &there);
        return r;
}

/* Every unsynced session, in creation order, then the file is removed.
 * Stops at the first failure (offline again, say): the rest waits for the
 * next attempt, and what was written is found written then. false when
 * it stopped. */
static bool upload(struct tp_daemon *d)
{
        struct tp_store_filter all = { .all = true };
        struct tp_store_list_pos after, next;
        struct tp_session *rows = NULL;
        size_t n, uploaded = 0, evicted = 0;
        bool more = true, started = false;
        int r = 0;

        if (!d->unsynced || d->n_unsynced == 0)
                goto remove;
        while (more) {
                r = tp_store_list_page(d->unsynced, &all, started ? &after : NULL, UPLOAD_PAGE, UPLOAD_PAGE,
                                       &rows, &n, &next, &more);
                if (r < 0) {
                        tp_log_errno(r, "Failed to read the sessions signed in while the fleet's database was unreachable (%s)",
                                     tp_store_errmsg(d->unsynced));
                        return false;
                }
                for (size_t i = 0; i < n; i++) {
                        if ((r = upload_one(d, &rows[i], &evicted)) < 0) {
                                tp_log_errno(r, "Failed to upload session %s to the fleet's database (%s); trying again in %d s",
                                             rows[i].id, tp_store_errmsg(d->store), UPLOAD_RETRY_MS / 1000);
                                free(rows);
                                return false;
                        }
                        uploaded += (size_t) r;
                }
                free(rows);
                rows = NULL;
                after = next;
                started = true;
        }
        tp_log(LOG_INFO, "uploaded %zu session(s) signed in while the fleet's database was unreachable; "
               "%zu session(s) signed out to keep the fleet's limits", uploaded, evicted);
remove:
        close_unsynced(d);
        d->n_unsynced = 0;
        tp_store_hold_uploads(d->store, false);
        remove_store_files(d, TP_UNSYNCED_FILE);
        return true;
}

/* ---- this host's own sessions, for its passes -------------------------------- */

/* What this host ended while the database was away and has not uploaded
 * yet (ended copies in the unsynced store) is ended in `m` too. */
static int ended_here(struct tp_daemon *d, struct tp_store *m)
{
        struct tp_store_filter all = { .all = true };
        struct tp_store_list_pos after, next;
        bool more = true, started = false;
        int r = 0;

        if (!d->unsynced || d->n_unsynced == 0)
                return 0;
        while (more && r >= 0) {
                struct tp_session *rows = NULL;
                size_t n = 0;

                if ((r = tp_store_list_page(d->unsynced, &all, started ? &after : NULL, UPLOAD_PAGE, UPLOAD_PAGE,
                                            &rows, &n, &next, &more)) < 0)
                        return r;
                if (n > 0 && (r = tp_store_begin(m)) >= 0) {
                        for (size_t i = 0; i < n && r >= 0; i++)
                                if (rows[i].state != TP_STATE_ACTIVE &&
                                    (r = tp_store_end(m, rows[i].id, rows[i].state, rows[i].ended)) < 0 &&
                                    (r == -ENOENT || r == -ESTALE))
                                        r = 0;
                        if (r < 0 || (r = tp_store_commit_unsynced(m)) < 0)
                                tp_store_rollback(m);
                }
                free(rows);
                after = next;
                started = true;
        }
        return r;
}

/* Fill a new mirror with this host's active sessions as the database has
 * them, put it in place of the old, and have the store keep it up to
 * date. While it is filled nothing else runs, so nothing changes in the
 * database meanwhile that it would miss. */
static int mirror_fill(struct tp_daemon *d)
{
        struct tp_store_cursor cur = TP_STORE_CURSOR_START;
        struct tp_store *fresh = NULL;
        char from[4096], to[4096];
        size_t total = 0, n;
        int r;

        remove_store_files(d, TP_MIRROR_FILE ".new");
        state_path(d, TP_MIRROR_FILE ".new", "", from, sizeof(from));
        if ((r = tp_store_open(from, &fresh)) < 0)
                return tp_log_errno(r, "Failed to create %s", from);
        do {
                struct tp_session *rows = NULL;

                n = 0;
                if ((r = tp_store_active_page(d->store, &cur, MIRROR_PAGE, &rows, &n)) < 0) {
                        tp_log_errno(r, "Failed to read this host's sessions from the fleet's database (%s)",
                                     tp_store_errmsg(d->store));
                        goto fail;
                }
                if (n > 0 && (r = tp_store_begin(fresh)) >= 0) {
                        for (size_t i = 0; i < n && r >= 0; i++)
                                r = tp_store_insert(fresh, &rows[i]);
                        if (r < 0 || (r = tp_store_commit_unsynced(fresh)) < 0)
                                tp_store_rollback(fresh);
                }
                free(rows);
                if (r < 0) {
                        tp_log_errno(r, "Failed to write %s (%s)", from, tp_store_errmsg(fresh));
                        goto fail;
                }
                total += n;
        } while (n == MIRROR_PAGE);
        if ((r = ended_here(d, fresh)) < 0) {
                tp_log_errno(r, "Failed to write %s (%s)", from, tp_store_errmsg(fresh));
                goto fail;
        }
        tp_store_pg_mirror(d->store, NULL);
        tp_store_close(d->mirror);
        d->mirror = NULL;
        tp_store_close(fresh);
        fresh = NULL;
        for (size_t i = 0; i < 3; i++) {
                state_path(d, TP_MIRROR_FILE ".new", store_suffixes[i], from, sizeof(from));
                state_path(d, TP_MIRROR_FILE, store_suffixes[i], to, sizeof(to));
                if (rename(from, to) < 0 && (errno != ENOENT || (unlink(to) < 0 && errno != ENOENT))) {
                        r = tp_log_errno(-errno, "Failed to put %s in place", to);
                        goto fail;
                }
        }
        state_path(d, TP_MIRROR_FILE, "", to, sizeof(to));
        if ((r = tp_store_open(to, &d->mirror)) < 0) {
                d->mirror = NULL;
                d->mirror_filled_ms = 0;
                return tp_log_errno(r, "Failed to open %s", to);
        }
        tp_store_pg_mirror(d->store, d->mirror);
        d->mirror_filled_ms = tp_monotonic_ms();
        tp_log(LOG_DEBUG, "this host's copy of its %zu active session(s) was filled from the fleet's database", total);
        return 0;
fail:
        tp_store_close(fresh);
        remove_store_files(d, TP_MIRROR_FILE ".new");
        d->mirror_filled_ms = 0; /* tried again soon */
        return r;
}

bool tp_offline_ended(struct tp_daemon *d, struct tp_store *st, const struct tp_session *s)
{
        int r;

        if (!st || st != d->mirror)
                return true; /* the database's, or the unsynced store itself */
        if (!d->unsynced && open_unsynced(d) < 0)
                return false;
        if ((r = tp_store_begin(d->unsynced)) < 0 || (r = tp_store_insert(d->unsynced, s)) < 0 ||
            (r = tp_store_commit(d->unsynced)) < 0) {
                tp_store_rollback(d->unsynced);
                if (r == -EEXIST) /* ended here before: kept already */
                        return true;
                tp_log_errno(r, "Failed to keep the end of session %s for the fleet's database (%s); it has ended "
                             "on this host, and is ended there again once the database answers",
                             s->id, tp_store_errmsg(d->unsynced));
                return false;
        }
        d->n_unsynced++;
        tp_store_hold_uploads(d->store, true);
        return true;
}

/* Expiries due while the database is away, each where this host keeps
 * its session: the unsynced store, else the mirror, unless a change may
 * be missing from it (an extension would be: nothing is ended on its
 * word). A session neither holds, or one that cannot be ended now, is
 * looked at again a little later, by the database's schedule once it
 * answers. */
static void expire_local(struct tp_daemon *d, int64_t now)
{
        const struct tp_expiry_entry *top;
        struct tp_expiry_entry e;
        size_t k = 0;
        int r;

        while (k++ < 64 && (top = tp_expiry_peek(&d->expiry)) && top->expires <= now) {
                struct tp_store *st;
                struct tp_session s;

                tp_expiry_pop(&d->expiry, &e);
                st = tp_offline_store_for(d, e.id);
                if (st == d->store)
                        st = tp_store_pg_mirror_stale(d->store) ? NULL : d->mirror;
                if (!st || (r = tp_store_get(st, e.id, &s)) == -ENOENT) {
                        tp_lifecycle_schedule(d, e.id, now + LOCAL_EXPIRY_RETRY_S);
                        continue;
                }
                if (r < 0) {
                        tp_log_errno(r, "Failed to read session %s while the fleet's database is away (%s); retrying",
                                     e.id, tp_store_errmsg(st));
                        tp_lifecycle_schedule(d, e.id, now + LOCAL_EXPIRY_RETRY_S);
                        continue;
                }
                if (s.state != TP_STATE_ACTIVE)
                        continue;
                if (s.refresh_expires > now) {
                        tp_lifecycle_schedule(d, s.id, s.refresh_expires);
                        continue;
                }
                if ((r = tp_store_begin(st)) < 0 ||
                    (r = tp_store_end(st, s.id, TP_STATE_EXPIRED, s.refresh_expires)) < 0 ||
                    (r = tp_store_commit(st)) < 0) {
                        tp_store_rollback(st);
                        tp_log_errno(r, "Failed to expire session %s while the fleet's database is away (%s); retrying",
                                     e.id, tp_store_errmsg(st));
                        tp_lifecycle_schedule(d, e.id, now + LOCAL_EXPIRY_RETRY_S);
                        continue;
                }
                s.state = TP_STATE_EXPIRED;
                s.ended = s.refresh_expires;
                if (!tp_offline_ended(d, st, &s))
                        tp_lifecycle_schedule(d, s.id, s.refresh_expires); /* for the database's schedule */
                tp_audit(&(struct tp_audit){ .event = "expire", .user = s.user, .client = s.client,
                                             .service = s.service, .session = s.id,
                                             .reason = "refresh token expired", .peer_uid = -1 });
                tp_lifecycle_enforce(d, &s, true, "refresh token expired");
        }
}

/* The passes over this host's own sessions while the database is away. */
static void local_passes(struct tp_daemon *d)
{
        int64_t now = (int64_t) time(NULL);

        if (tp_monotonic_ms() - d->swept_ms >= 1000) {
                struct tp_session *closed = NULL;
                size_t n;

                if (d->mirror) {
                        n = tp_lifecycle_sweep_ghosts(d, d->mirror, &d->sweep_mirror, now, &closed);
                        for (size_t i = 0; i < n; i++)
                                tp_offline_ended(d, d->mirror, &closed[i]);
                        free(closed);
                }
                if (d->unsynced && d->n_unsynced > 0)
                        (void) tp_lifecycle_sweep_ghosts(d, d->unsynced, &d->sweep_unsynced, now, NULL);
                d->swept_ms = tp_monotonic_ms();
        }
        expire_local(d, now);
}

void tp_offline_doubtful(struct tp_daemon *d, const struct tp_session *s)
{
        if (d->n_doubtful < TP_DOUBTFUL_MAX)
                d->doubtful[d->n_doubtful++] = *s;
        else
                tp_log(LOG_WARNING, "session %s: its sign-in may have reached the fleet's database as it went away, and %d such are already waiting to be closed there; the pass for ghosts closes it once its leader is gone",
                       s->id, TP_DOUBTFUL_MAX);
}

/* One doubtful sign-in: written closed under its id, so that its
 * transaction, if it reaches the database only now (a partition heals,
 * a frozen server resumes), fails on the id instead of landing; if it
 * landed already, closed. 1 when it had landed, 0 when not, < 0 on
 * failure. */
static int close_one_doubtful(struct tp_daemon *d, const struct tp_session *s)
{
        struct tp_session closed = *s;
        int r;

        closed.state = TP_STATE_CLOSED;
        closed.ended = (int64_t) time(NULL);
        if ((r = tp_store_begin(d->store)) < 0)
                return r;
        if ((r = tp_store_insert(d->store, &closed)) < 0 || (r = tp_store_commit(d->store)) < 0) {
                tp_store_rollback(d->store);
                if (r != -EEXIST)
                        return r;
                r = tp_store_sign_out(d->store, s->id, TP_STATE_CLOSED, closed.ended);
                return r == -ESTALE ? 0 : r < 0 ? r : 1;
        }
        return 0;
}

/* Close in the database what tp_offline_doubtful() holds: those it took
 * are sessions nobody holds. false when the database went away again
 * (the rest are tried next time). */
static bool close_doubtful(struct tp_daemon *d)
{
        while (d->n_doubtful > 0) {
                const struct tp_session *s = &d->doubtful[d->n_doubtful - 1];
                int r = close_one_doubtful(d, s);

                if (r > 0)
                        tp_log(LOG_INFO, "closed session %s in the fleet's database: the database took its sign-in as it went away, and this host had refused it",
                               s->id);
                else if (r < 0 && tp_offline_now(d))
                        return false;
                else if (r < 0)
                        tp_log_errno(r, "Failed to close session %s, whose sign-in the fleet's database may have taken as it went away (%s); the pass for ghosts closes it once its leader is gone",
                                     s->id, tp_store_errmsg(d->store));
                d->n_doubtful--;
        }
        return true;
}

void tp_offline_tick(struct tp_daemon *d)
{
        char why[256];
        int64_t off;

        if (!d->store || !d->host_id[0])
                return;
        off = tp_store_offline_since(d->store, why, sizeof(why));
        /* The mirror: what the database committed, about once a second,
         * many changes in one write; at once when it is about to be read. */
        if (off != 0 || tp_monotonic_ms() - d->mirror_flushed_ms >= MIRROR_FLUSH_MS) {
                tp_store_pg_mirror_flush(d->store);
                d->mirror_flushed_ms = tp_monotonic_ms();
        }
        if (off != 0) {
                if (d->offline_logged != off) {
                        char since[64];

                        format_since(off, since, sizeof(since));
                        tp_log(LOG_WARNING, "the fleet's database cannot be reached since %s (%s): until it can, sign-ins follow each client type's on_store_unreachable, and the rest of the fleet learns nothing from this host; %zu session(s) signed in on this host alone wait to be uploaded",
                               since, why, d->n_unsynced);
                        d->offline_logged = off;
                }
                local_passes(d);
                return;
        }
        if (d->offline_logged != 0) {
                tp_log(LOG_INFO, "the fleet's database answers again after %" PRId64 " s; %zu session(s) signed in on this host alone meanwhile to upload",
                       (int64_t) time(NULL) - d->offline_logged, d->n_unsynced);
                d->offline_logged = 0;
                d->mirror_filled_ms = 0; /* filled afresh */
        }
        if (!close_doubtful(d))
                return;
        if (d->start_pending) {
                /* Started while it was away: what a start does with it. */
                d->start_pending = false;
                (void) tp_boot_start(d);
                if (tp_lifecycle_schedule_all(d, d->store) < 0)
                        d->start_pending = true;
                tp_conffile_publish(d);
        }
        /* At once when it is back; after a failure (the database gone
         * again, or refusing a row), not before UPLOAD_RETRY_MS. */
        if (!d->unsynced && d->n_unsynced == 0)
                tp_store_hold_uploads(d->store, false); /* the store may let revocations go */
        else if (tp_monotonic_ms() >= d->upload_due_ms && !upload(d))
                d->upload_due_ms = tp_monotonic_ms() + UPLOAD_RETRY_MS;
        /* The mirror: what was ended here and is not uploaded yet is
         * ended in it too (ended_here). */
        if (tp_monotonic_ms() >= d->mirror_due_ms &&
            (d->mirror_filled_ms == 0 || tp_store_pg_mirror_stale(d->store) ||
             tp_monotonic_ms() - d->mirror_filled_ms >= MIRROR_REFILL_MS) &&
            mirror_fill(d) < 0)
                d->mirror_due_ms = tp_monotonic_ms() + UPLOAD_RETRY_MS;
}
