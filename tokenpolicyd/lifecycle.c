/* SPDX-License-Identifier: BSD-3-Clause */
/* lifecycle.c: what happens to running sessions after sign-in.
 *
 * Owns the expiry schedule (a heap of refresh expiries, rebuilt from the
 * store at start and checked by the event loop against the wall clock) and
 * the glue between the store and enforcement: a session that expires, is
 * evicted or revoked gets its client type's on_expiry / on_revoke action,
 * and a session whose leader is gone is recognised as a ghost. The store
 * stays the truth: a heap entry whose session was extended or ended since
 * is dropped when it comes up. Never acts on a session before the store has
 * durably recorded why.
 */
#include "lifecycle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enforce.h"
#include "io.h"
#include "log.h"
#include "notice.h"

/* Expiries handled in one transaction; more wait for the next turn of the
 * loop, so a mass expiry after downtime never stalls sign-ins. */
#define EXPIRE_BATCH 256

static int schedule_one(const char *id, int64_t expires, void *userdata)
{
        struct tp_daemon *d = userdata;

        return tp_expiry_schedule(&d->expiry, id, expires);
}

int tp_lifecycle_start(struct tp_daemon *d)
{
        int r;

        tp_expiry_init(&d->expiry);
        d->sweep = TP_STORE_CURSOR_START;
        if ((r = tp_enforcer_new(&d->enforcer)) < 0)
                return r;
        if (d->start_pending) {
                /* A fleet's database away: what this host kept of its own
                 * sessions now, the database's when it answers (offline.c). */
                if (d->mirror)
                        (void) tp_lifecycle_schedule_all(d, d->mirror);
                if (d->unsynced)
                        (void) tp_lifecycle_schedule_all(d, d->unsynced);
                return 0;
        }
        return tp_lifecycle_schedule_all(d, d->store);
}

int tp_lifecycle_schedule_all(struct tp_daemon *d, struct tp_store *st)
{
        int r = tp_store_scan_expiries(st, schedule_one, d);

        if (r < 0)
                return r;
        tp_log(LOG_DEBUG, "%zu active sessions scheduled for expiry", d->expiry.n);
        return 0;
}

static void enforce_pending(struct tp_daemon *d, size_t i);

void tp_lifecycle_stop(struct tp_daemon *d)
{
        /* An eviction whose sign-in has not reported its outcome stands:
         * no later start would end the evicted session. */
        while (d->store && d->n_pending_evictions > 0)
                enforce_pending(d, 0);
        free(d->pending_evictions);
        d->pending_evictions = NULL;
        d->n_pending_evictions = d->cap_pending_evictions = 0;
        /* Sessions told why they end are ended now, before their notice
         * has had its time: they must not outlive the daemon. */
        if (d->store)
                tp_lifecycle_told(d, true);
        free(d->told);
        d->told = NULL;
        d->n_told = d->cap_told = 0;
        /* Sessions already ended get their SIGTERM now rather than never:
         * a leader that ignores SIGHUP would outlive its revocation, and no
         * later start acts on it again. Now rather than on time: waiting
         * out up to TP_ENFORCE_GRACE_MS here would hold up a restart, and
         * with it every sign-in, for a courtesy to a revoked session. */
        if (d->enforcer)
                tp_enforcer_tick(d->enforcer, INT64_MAX);
        tp_expiry_clear(&d->expiry);
        free(d->held_actions);
        d->held_actions = NULL;
        d->n_held_actions = d->cap_held_actions = 0;
        free(d->held_schedule);
        d->held_schedule = NULL;
        d->n_held_schedule = d->cap_held_schedule = 0;
        tp_enforcer_free(d->enforcer);
        d->enforcer = NULL;
}

static void enforce_rule(struct tp_daemon *d, const struct tp_session *s, bool expired, bool idle,
                         const char *why);

static void schedule_now(struct tp_daemon *d, const char *id, int64_t refresh_expires)
{
        int r = tp_expiry_schedule(&d->expiry, id, refresh_expires);

        if (r < 0)
                tp_log_errno(r, "Failed to schedule the expiry of session %s; it will expire at its next use",
                             id);
}

/* Room for one more of n entries of `size` bytes in v (capacity *cap),
 * doubling it when full: the array to use, or NULL (v untouched) without
 * memory. */
static void *room_for_one(void *v, size_t n, size_t *cap, size_t size)
{
        size_t want = *cap ? *cap * 2 : 8;
        void *grown;

        if (n < *cap)
                return v;
        grown = realloc(v, want * size);
        if (grown)
                *cap = want;
        return grown;
}

/* During a group commit, a change to the schedule waits for the batch to
 * be durable, in order with the others: a batch that fails leaves every
 * session as it was, scheduled as it was. */
static bool hold_schedule(struct tp_daemon *d, const char *id, int64_t expires, bool ended, bool forget)
{
        struct tp_held_schedule *h;

        if (!d->holding_actions)
                return false;
        h = room_for_one(d->held_schedule, d->n_held_schedule, &d->cap_held_schedule, sizeof(*h));
        if (!h)
                return false;
        d->held_schedule = h;
        h = &d->held_schedule[d->n_held_schedule++];
        snprintf(h->id, sizeof(h->id), "%s", id);
        h->expires = expires;
        h->ended = ended;
        h->forget = forget;
        return true;
}

void tp_lifecycle_schedule(struct tp_daemon *d, const char *id, int64_t refresh_expires)
{
        /* Without memory to wait, now: an entry for a session that a failed
         * batch did not keep is dropped when it comes due. */
        if (!hold_schedule(d, id, refresh_expires, false, false))
                schedule_now(d, id, refresh_expires);
}

void tp_lifecycle_ended(struct tp_daemon *d, const char *id)
{
        /* Without memory to wait, the entry stays and is dropped when it
         * comes due: unscheduling before the batch is durable could leave
         * an active session unscheduled. */
        if (d->holding_actions) {
                hold_schedule(d, id, 0, true, false);
                return;
        }
        tp_expiry_remove(&d->expiry, id);
}

void tp_lifecycle_leader(pid_t peer_pid, uint32_t *ret_pid, uint64_t *ret_start)
{
        uint64_t start = 0;

        if (peer_pid <= 0 || tp_process_start_time(peer_pid, &start) < 0) {
                *ret_pid = 0;
                *ret_start = 0;
                return;
        }
        *ret_pid = (uint32_t)peer_pid;
        *ret_start = start;
}

static struct tp_enforce_target target_of(const struct tp_session *s)
{
        return (struct tp_enforce_target){
                .session_id = s->id,
                .logind_session = s->logind_session,
                .leader_pid = (pid_t)s->leader_pid,
                .leader_start = s->leader_start,
                .boot_id = s->boot_id,
        };
}

bool tp_lifecycle_runs_here(const struct tp_daemon *d, const struct tp_session *s)
{
        return !s->host[0] || !d->host_id[0] || strcmp(s->host, d->host_id) == 0;
}

bool tp_lifecycle_is_ghost(struct tp_daemon *d, const struct tp_session *s)
{
        struct tp_enforce_target t = target_of(s);

        /* Another host's process ids and logind sessions mean nothing here:
         * only its own daemon can tell whether it still runs. */
        if (!tp_lifecycle_runs_here(d, s))
                return false;
        return tp_enforcer_session_alive(d->enforcer, &t) == 0;
}

bool tp_lifecycle_ghost_check(void *ctx, const struct tp_session *s)
{
        return tp_lifecycle_is_ghost(ctx, s);
}

void tp_lifecycle_hold(struct tp_daemon *d)
{
        d->holding_actions = true;
}

static bool add_pending(struct tp_daemon *d, const struct tp_session *victim, const char *by, const char *why);
static void forget_pending(struct tp_daemon *d, const char *by);
static void enforce_due_evictions(struct tp_daemon *d);
static void eviction_stands(struct tp_daemon *d, const struct tp_session *victim, const char *why);

void tp_lifecycle_release(struct tp_daemon *d, bool committed)
{
        d->holding_actions = false;
        for (size_t i = 0; committed && i < d->n_held_actions; i++) {
                struct tp_held_action *h = &d->held_actions[i];

                if (!h->after[0])
                        enforce_rule(d, &h->session, h->expired, h->idle, h->why);
                else if (!add_pending(d, &h->session, h->after, h->why))
                        eviction_stands(d, &h->session, h->why);
        }
        d->n_held_actions = 0;
        if (d->cap_held_actions > 64) { /* a burst passed: give the memory back */
                free(d->held_actions);
                d->held_actions = NULL;
                d->cap_held_actions = 0;
        }
        for (size_t i = 0; committed && i < d->n_held_schedule; i++) {
                const struct tp_held_schedule *h = &d->held_schedule[i];

                if (h->forget)
                        forget_pending(d, h->id);
                else if (h->ended)
                        tp_expiry_remove(&d->expiry, h->id);
                else
                        schedule_now(d, h->id, h->expires);
        }
        d->n_held_schedule = 0;
        if (d->cap_held_schedule > 64) {
                free(d->held_schedule);
                d->held_schedule = NULL;
                d->cap_held_schedule = 0;
        }
}

static bool hold_action(struct tp_daemon *d, const struct tp_session *s, bool expired, bool idle,
                        const char *why)
{
        struct tp_held_action *h;

        h = room_for_one(d->held_actions, d->n_held_actions, &d->cap_held_actions, sizeof(*h));
        if (!h)
                return false;
        d->held_actions = h;
        h = &d->held_actions[d->n_held_actions++];
        h->session = *s;
        h->expired = expired;
        h->idle = idle;
        snprintf(h->why, sizeof(h->why), "%s", why);
        h->after[0] = '\0';
        return true;
}

/* A session told why it ends waits this long at least before it is ended,
 * so the notice is on its way before the connection goes: a pipe until
 * sshd has read it and then TOLD_PIPE_MS, a terminal (whose reader cannot
 * be watched) TOLD_TTY_MS, and never more than TOLD_MAX_MS. At most
 * TOLD_PENDING_MAX sessions wait at once; beyond that, they are told and
 * ended at once. */
#define TOLD_PIPE_MS 100
#define TOLD_TTY_MS 500
#define TOLD_MAX_MS 2000
#define TOLD_PENDING_MAX 64

struct tp_told_action {
        struct tp_session session;
        bool expired;
        bool idle;
        uint8_t action;
        char why[128];
        char told[256];
        struct tp_notice_sent sent;
        int64_t since_ms;
};

/* What the user reads on the session's terminal. */
static void notice_text(const struct tp_session *s, uint8_t action, const char *why, char *out, size_t outsz)
{
        static const struct { const char *why, *text; } reasons[] = {
                { "refresh token expired", "its sign-in has expired; sign in again" },
                { "signed out at the session limit",
                  "it was signed out because a newer sign-in went over your limit of sessions" },
                { "revoked by administrator", "it was revoked by your administrator" },
                { "revoked by its user", "it was revoked at your request" },
        };
        const char *text = why;

        for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
                if (strcmp(why, reasons[i].why) == 0)
                        text = reasons[i].text;
        snprintf(out, outsz, "tokenpolicy: this %s session is being %s: %s.", s->client,
                 action == TP_ACTION_LOCK ? "locked" : "ended", text);
}

/* The setting whose action is applied. */
static const char *rule_name(bool expired, bool idle)
{
        return idle ? "on_idle" : expired ? "on_expiry" : "on_revoke";
}

static void act_and_audit(struct tp_daemon *d, const struct tp_session *s, bool expired, bool idle,
                          uint8_t action, const char *why, const char *told)
{
        struct tp_enforce_target t = target_of(s);
        char what[512], reason[1024];
        uint64_t shared = 0;
        int r;

        /* Read now, after the commit that ended this session: sessions
         * ended with it (revoke --user) no longer count. */
        if (action != TP_ACTION_NONE) {
                r = tp_local_leader_shared(d, s, &shared);
                if (r < 0)
                        tp_log_errno(r, "Failed to look for other sessions of the leader of session %s (%s)",
                                     s->id, tp_store_errmsg(d->store));
                t.leader_shared = r < 0 ? r : shared > INT32_MAX ? INT32_MAX : (int)shared;
        }
        r = tp_enforcer_apply(d->enforcer, &t, action, what, sizeof(what));
        snprintf(reason, sizeof(reason), "%s; %s = %s: %s%s%s%s%s", why, rule_name(expired, idle),
                 tp_action_name(action), told && *told ? told : "", told && *told ? "; " : "", what,
                 r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        tp_audit(&(struct tp_audit){ .event = "enforce", .user = s->user, .client = s->client,
                                     .service = s->service, .session = s->id, .reason = reason,
                                     .peer_uid = -1 });
}

static bool defer_after_notice(struct tp_daemon *d, const struct tp_session *s, bool expired, bool idle,
                               uint8_t action, const char *why, struct tp_notice_sent *sent, const char *told)
{
        struct tp_told_action *a;

        if (d->n_told == TOLD_PENDING_MAX)
                return false;
        a = room_for_one(d->told, d->n_told, &d->cap_told, sizeof(*a));
        if (!a)
                return false;
        d->told = a;
        a = &d->told[d->n_told++];
        a->session = *s;
        a->expired = expired;
        a->idle = idle;
        a->action = action;
        snprintf(a->why, sizeof(a->why), "%s", why);
        snprintf(a->told, sizeof(a->told), "%s", told);
        a->sent = *sent;
        a->since_ms = tp_monotonic_ms();
        return true;
}

static void enforce_rule(struct tp_daemon *d, const struct tp_session *s, bool expired, bool idle,
                         const char *why)
{
        const struct tp_client_config *cl = tp_config_client(d->config, s->client);
        struct tp_effective_policy p = { .on_expiry = TP_BUILTIN_ON_EXPIRY,
                                         .on_revoke = TP_BUILTIN_ON_REVOKE,
                                         .on_idle = TP_BUILTIN_ON_IDLE };
        struct tp_notice_sent sent = { .n = 0 };
        char text[TP_NOTICE_TEXT_MAX], told[256] = "";
        uint64_t shared = 0;
        uint8_t action;

        /* Another host's session: that host acts on it, having read from
         * the store that it ended (tp_lifecycle_owed()). */
        if (!tp_lifecycle_runs_here(d, s)) {
                tp_audit(&(struct tp_audit){ .event = "enforce", .user = s->user, .client = s->client,
                                             .service = s->service, .session = s->id,
                                             .reason = "runs on another host of the fleet, which applies "
                                                       "its own policy to it",
                                             .peer_uid = -1 });
                return;
        }
        /* Held until the batch is durable; with no memory to hold it, a
         * revocation acts now rather than never. */
        if (d->holding_actions && hold_action(d, s, expired, idle, why))
                return;
        if (cl)
                tp_config_effective(d->config, cl, &p);
        action = (uint8_t)(idle ? p.on_idle : expired ? p.on_expiry : p.on_revoke);
        /* Tell the user first, on the session's own terminal, and end it
         * once the notice is on its way. A leader shared with other
         * sessions is not ended (see tp_enforcer_apply): nothing to tell. */
        if (action != TP_ACTION_NONE &&
            tp_local_leader_shared(d, s, &shared) >= 0 &&
            shared == 0) {
                notice_text(s, action, why, text, sizeof(text));
                tp_notice_send((pid_t)s->leader_pid, s->leader_start, (uid_t)s->uid, s->tty, text, &sent,
                               told, sizeof(told));
                if (sent.n > 0 && defer_after_notice(d, s, expired, idle, action, why, &sent, told))
                        return;
                tp_notice_close(&sent);
        }
        act_and_audit(d, s, expired, idle, action, why, told);
}

void tp_lifecycle_enforce(struct tp_daemon *d, const struct tp_session *s, bool expired,
                          const char *why)
{
        enforce_rule(d, s, expired, false, why);
}

void tp_lifecycle_enforce_idle(struct tp_daemon *d, const struct tp_session *s, const char *why)
{
        enforce_rule(d, s, false, true, why);
}

bool tp_lifecycle_telling(const struct tp_daemon *d)
{
        return d->n_told > 0;
}

void tp_lifecycle_told(struct tp_daemon *d, bool now)
{
        int64_t ms = tp_monotonic_ms();
        size_t i = 0;

        while (i < d->n_told) {
                struct tp_told_action *a = &d->told[i];
                struct tp_told_action done;
                int64_t waited = ms - a->since_ms;
                bool ttys = false;

                for (size_t k = 0; k < a->sent.n; k++)
                        ttys = ttys || !a->sent.pipe[k];
                if (!now && waited < TOLD_MAX_MS &&
                    (waited < (ttys ? TOLD_TTY_MS : TOLD_PIPE_MS) || !tp_notice_read(&a->sent))) {
                        i++;
                        continue;
                }
                done = *a;
                d->told[i] = d->told[--d->n_told];
                tp_notice_close(&done.sent);
                act_and_audit(d, &done.session, done.expired, done.idle, done.action, done.why, done.told);
        }
        if (d->n_told == 0 && d->cap_told > TOLD_PENDING_MAX) {
                free(d->told);
                d->told = NULL;
                d->cap_told = 0;
        }
}

/* Sessions of this host that other hosts ended, acted on per call. */
#define OWED_PAGE 64

void tp_lifecycle_owed(struct tp_daemon *d)
{
        struct tp_session *rows = NULL;
        size_t n = 0;
        int r;

        if ((r = tp_store_owed_page(d->store, OWED_PAGE, &rows, &n)) < 0) {
                tp_log_errno(r, "Failed to look for sessions of this host ended elsewhere in the fleet (%s); "
                             "looking again in a few seconds", tp_store_errmsg(d->store));
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const struct tp_session *s = &rows[i];
                bool expired = s->state == TP_STATE_EXPIRED;

                tp_lifecycle_ended(d, s->id);
                if (s->state != TP_STATE_CLOSED)
                        tp_lifecycle_enforce(d, s, expired,
                                             expired ? "refresh token expired" : "revoked from another host of the fleet");
                if ((r = tp_store_settle(d->store, s->id)) < 0 && r != -ENOENT)
                        tp_log_errno(r, "Failed to record that session %s was acted on (%s)", s->id,
                                     tp_store_errmsg(d->store));
        }
        free(rows);
}

/* Sessions looked at per second by the background pass for ghosts. */
#define GHOST_SWEEP_PAGE 128

/* Sign-in closes ghosts where they would count against a cap. This pass
 * finds the rest, a page of active sessions a second, so that a crashed
 * client's session ends even for a user who never reaches the cap. */
size_t tp_lifecycle_sweep_ghosts(struct tp_daemon *d, struct tp_store *st, struct tp_store_cursor *cur, int64_t now,
                                 struct tp_session **ret_closed)
{
        struct tp_session *rows = NULL;
        size_t n = 0, n_gone = 0;
        int r;

        if ((r = tp_store_active_page(st, cur, GHOST_SWEEP_PAGE, &rows, &n)) < 0) {
                tp_log_errno(r, "Failed to look for sessions whose leader is gone (%s)", tp_store_errmsg(st));
                return 0;
        }
        for (size_t i = 0; i < n; i++) {
                if (rows[i].refresh_expires > now && tp_lifecycle_is_ghost(d, &rows[i]))
                        rows[n_gone++] = rows[i];
        }
        if (n_gone == 0)
                goto out;
        if ((r = tp_store_begin(st)) < 0)
                goto fail;
        for (size_t i = 0; i < n_gone; i++) {
                r = tp_store_end(st, rows[i].id, TP_STATE_CLOSED, now);
                if (r < 0 && r != -ESTALE && r != -ENOENT)
                        goto fail;
                rows[i].state = TP_STATE_CLOSED;
                rows[i].ended = now;
        }
        if ((r = tp_store_commit(st)) < 0)
                goto fail;
        for (size_t i = 0; i < n_gone; i++) {
                tp_lifecycle_ended(d, rows[i].id);
                tp_audit(&(struct tp_audit){ .event = "close", .user = rows[i].user, .client = rows[i].client,
                                             .service = rows[i].service, .session = rows[i].id,
                                             .reason = "session leader is gone (reaped)", .peer_uid = -1 });
        }
        if (ret_closed) {
                *ret_closed = rows;
                return n_gone;
        }
        goto out;
fail:
        tp_store_rollback(st);
        tp_log_errno(r, "Failed to close sessions whose leader is gone (%s); retrying", tp_store_errmsg(st));
        n_gone = 0;
out:
        free(rows);
        return n_gone;
}

bool tp_lifecycle_tick(struct tp_daemon *d)
{
        struct tp_session *due;
        const struct tp_expiry_entry *top;
        struct tp_expiry_entry e;
        int64_t now = (int64_t)time(NULL);
        size_t n = 0;
        int r;

        tp_enforcer_tick(d->enforcer, tp_monotonic_ms());
        enforce_due_evictions(d);
        /* A fleet's database away: ghosts and expiries wait for it. */
        if (tp_store_offline_since(d->store, NULL, 0) != 0)
                return false;
        if (tp_monotonic_ms() - d->swept_ms >= 1000) {
                tp_lifecycle_sweep_ghosts(d, d->store, &d->sweep, now, NULL);
                d->swept_ms = tp_monotonic_ms();
        }
        top = tp_expiry_peek(&d->expiry);
        if (!top || top->expires > now)
                return false;
        due = calloc(EXPIRE_BATCH, sizeof(*due));
        if (!due)
                return false;
        if ((r = tp_store_begin(d->store)) < 0) {
                free(due);
                tp_log_errno(r, "Failed to expire sessions (%s); retrying", tp_store_errmsg(d->store));
                return false;
        }
        while (n < EXPIRE_BATCH && (top = tp_expiry_peek(&d->expiry)) && top->expires <= now) {
                struct tp_session *s = &due[n];

                tp_expiry_pop(&d->expiry, &e);
                r = tp_store_get(d->store, e.id, s);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        goto fail;
                if (s->state != TP_STATE_ACTIVE)
                        continue;
                /* Extended since it was scheduled: the one entry of this
                 * session moves to the new expiry. */
                if (s->refresh_expires > now) {
                        tp_lifecycle_schedule(d, s->id, s->refresh_expires);
                        continue;
                }
                if ((r = tp_store_end(d->store, s->id, TP_STATE_EXPIRED, s->refresh_expires)) < 0)
                        goto fail;
                s->state = TP_STATE_EXPIRED;
                n++;
        }
        if ((r = tp_store_commit(d->store)) < 0)
                goto fail;
        for (size_t i = 0; i < n; i++) {
                tp_audit(&(struct tp_audit){ .event = "expire", .user = due[i].user, .client = due[i].client,
                                             .service = due[i].service, .session = due[i].id,
                                             .reason = "refresh token expired", .peer_uid = -1 });
                tp_lifecycle_enforce(d, &due[i], true, "refresh token expired");
        }
        free(due);
        top = tp_expiry_peek(&d->expiry);
        return top && top->expires <= now;

fail:
        tp_store_rollback(d->store);
        /* Put back what was taken so nothing is forgotten. */
        for (size_t i = 0; i < n; i++)
                tp_lifecycle_schedule(d, due[i].id, due[i].refresh_expires);
        tp_lifecycle_schedule(d, e.id, e.expires);
        free(due);
        tp_log_errno(r, "Failed to expire sessions (%s); retrying", tp_store_errmsg(d->store));
        return false;
}

int tp_lifecycle_revoke(struct tp_daemon *d, const struct tp_session *rows, size_t n, const char *why,
                        long peer_uid)
{
        int64_t now = (int64_t)time(NULL);
        bool *gone;
        size_t done = 0;
        int r = 0;

        if (n == 0)
                return 0;
        if (!(gone = calloc(n, sizeof(*gone))))
                return -ENOMEM;
        if ((r = tp_store_begin(d->store)) < 0) {
                free(gone);
                return r;
        }
        /* In a fleet another host may end one of them meanwhile (an
         * eviction): it is no longer this revocation's to count or act on. */
        for (size_t i = 0; i < n; i++) {
                r = tp_store_end(d->store, rows[i].id, TP_STATE_REVOKED, now);
                if (r == -ESTALE && d->host_id[0]) {
                        gone[i] = true;
                        r = 0;
                }
                if (r < 0)
                        break;
        }
        if (r < 0 || (r = tp_store_commit(d->store)) < 0) {
                tp_store_rollback(d->store);
                free(gone);
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                if (gone[i])
                        continue;
                done++;
                tp_lifecycle_ended(d, rows[i].id);
                tp_audit(&(struct tp_audit){ .event = "revoke", .user = rows[i].user, .client = rows[i].client,
                                             .service = rows[i].service, .session = rows[i].id,
                                             .reason = why, .peer_uid = peer_uid });
                tp_lifecycle_enforce(d, &rows[i], false, why);
        }
        free(gone);
        return done > INT32_MAX ? INT32_MAX : (int)done;
}

/* Evictions waiting for their sign-in's outcome, at most this many: past
 * it an eviction is enforced at once, as before outcomes existed. Each
 * waits TP_EVICTION_GRACE_MS at most. */
#define PENDING_EVICTIONS_MAX 4096

static bool add_pending(struct tp_daemon *d, const struct tp_session *victim, const char *by, const char *why)
{
        struct tp_pending_eviction *p;

        if (d->n_pending_evictions >= PENDING_EVICTIONS_MAX)
                return false;
        p = room_for_one(d->pending_evictions, d->n_pending_evictions, &d->cap_pending_evictions, sizeof(*p));
        if (!p)
                return false;
        d->pending_evictions = p;
        p = &d->pending_evictions[d->n_pending_evictions++];
        p->victim = *victim;
        snprintf(p->by, sizeof(p->by), "%s", by);
        snprintf(p->why, sizeof(p->why), "%s", why);
        p->due_ms = tp_monotonic_ms() + TP_EVICTION_GRACE_MS;
        return true;
}

/* An eviction that stands: a session of another host of a fleet is owed
 * to that host now (it ends it), one of this host is ended here. */
static void eviction_stands(struct tp_daemon *d, const struct tp_session *victim, const char *why)
{
        int r;

        if (victim->host[0] && d->host_id[0] && strcmp(victim->host, d->host_id) != 0 &&
            (r = tp_store_owe(d->store, victim->id)) < 0)
                tp_log_errno(r, "Failed to tell host %s that its session %s was signed out at the session limit (%s)",
                             victim->host, victim->id, tp_store_errmsg(d->store));
        tp_lifecycle_enforce(d, victim, false, why);
}

/* Take entry i out of the list and enforce it. */
static void enforce_pending(struct tp_daemon *d, size_t i)
{
        struct tp_pending_eviction e = d->pending_evictions[i];

        d->pending_evictions[i] = d->pending_evictions[--d->n_pending_evictions];
        eviction_stands(d, &e.victim, e.why);
}

static void forget_pending(struct tp_daemon *d, const char *by)
{
        size_t i = 0;

        while (i < d->n_pending_evictions) {
                if (strcmp(d->pending_evictions[i].by, by) == 0)
                        d->pending_evictions[i] = d->pending_evictions[--d->n_pending_evictions];
                else
                        i++;
        }
}

/* The grace is over for these: the sign-in never said it failed. */
static void enforce_due_evictions(struct tp_daemon *d)
{
        int64_t now_ms = tp_monotonic_ms();
        size_t i = 0;

        while (i < d->n_pending_evictions) {
                if (d->pending_evictions[i].due_ms <= now_ms)
                        enforce_pending(d, i);
                else
                        i++;
        }
}

void tp_lifecycle_evict_after(struct tp_daemon *d, const struct tp_session *victim, const char *by,
                              const char *why)
{
        if (d->holding_actions && hold_action(d, victim, false, false, why)) {
                struct tp_held_action *h = &d->held_actions[d->n_held_actions - 1];

                snprintf(h->after, sizeof(h->after), "%s", by);
                return;
        }
        /* Without memory to wait, the eviction acts now rather than never. */
        if (!add_pending(d, victim, by, why))
                eviction_stands(d, victim, why);
}

size_t tp_lifecycle_outcome_confirm(struct tp_daemon *d, const char *by)
{
        size_t i = 0, n = 0;

        while (i < d->n_pending_evictions) {
                if (strcmp(d->pending_evictions[i].by, by) == 0) {
                        enforce_pending(d, i);
                        n++;
                } else {
                        i++;
                }
        }
        return n;
}

int tp_lifecycle_outcome_pending(struct tp_daemon *d, const char *by, struct tp_session **ret, size_t *ret_n)
{
        struct tp_session *rows = NULL;
        size_t n = 0;

        for (size_t i = 0; i < d->n_pending_evictions; i++)
                n += strcmp(d->pending_evictions[i].by, by) == 0;
        if (n > 0 && !(rows = calloc(n, sizeof(*rows))))
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; i < d->n_pending_evictions; i++)
                if (strcmp(d->pending_evictions[i].by, by) == 0)
                        rows[n++] = d->pending_evictions[i].victim;
        *ret = rows;
        *ret_n = n;
        return 0;
}

void tp_lifecycle_outcome_forget(struct tp_daemon *d, const char *by)
{
        if (!hold_schedule(d, by, 0, false, true))
                forget_pending(d, by);
}
