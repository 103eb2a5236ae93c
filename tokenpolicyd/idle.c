/* SPDX-License-Identifier: BSD-3-Clause */
/* idle.c: idle timeouts and the warning before a session is ended or
 * locked (idle.h).
 *
 * Owns the background pass that looks at running sessions for the client
 * types that ask for it, and the memory of what it has done to each
 * (warned, acted) so that nothing is said or done twice for one deadline.
 * Must never: act on a session before the store has recorded why (an idle
 * session that is ended is marked expired first), hold more marks than
 * IDLE_MARKS_MAX, or wait on anything but logind's bounded calls.
 */
#include "idle.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "enforce.h"
#include "io.h"
#include "lifecycle.h"
#include "log.h"
#include "notice.h"
#include "offline.h"
#include "store.h"

/* Sessions looked at per second; a host with more active sessions than
 * this has each looked at every (sessions / IDLE_PAGE) seconds. */
#define IDLE_PAGE 128
#define IDLE_TICK_MS 1000
/* Marks kept at most: beyond, new warnings and idle locks are not
 * remembered (and so may repeat once a pass) rather than memory grown. */
#define IDLE_MARKS_MAX 16384
/* An idle warning needs at least this much idleness: a terminal session
 * is "idle" for a second after every keystroke. */
#define IDLE_WARN_MIN_SECONDS 60

enum mark_kind {
        MARK_WARNED_EXPIRY, /* key: the refresh expiry warned about */
        MARK_WARNED_IDLE,   /* key: the idle-since time warned about */
        MARK_ACTED_IDLE,    /* key: the idle-since time acted on */
};

struct tp_idle_mark {
        char id[TP_SESSION_ID_MAX];
        uint8_t kind;
        int64_t key;
        unsigned pass; /* the last pass that saw the session active */
};

static struct tp_idle_mark *mark_find(struct tp_daemon *d, const char *id, uint8_t kind)
{
        for (size_t i = 0; i < d->n_idle_marks; i++)
                if (d->idle_marks[i].kind == kind && strcmp(d->idle_marks[i].id, id) == 0)
                        return &d->idle_marks[i];
        return NULL;
}

/* Whether `kind` was already done for this key; notes the session as seen. */
static bool mark_done(struct tp_daemon *d, const char *id, uint8_t kind, int64_t key)
{
        struct tp_idle_mark *m = mark_find(d, id, kind);

        if (!m)
                return false;
        m->pass = d->idle_pass;
        return m->key == key;
}

static void mark_set(struct tp_daemon *d, const char *id, uint8_t kind, int64_t key)
{
        struct tp_idle_mark *m = mark_find(d, id, kind);

        if (!m) {
                if (d->n_idle_marks == IDLE_MARKS_MAX)
                        return;
                if (d->n_idle_marks == d->cap_idle_marks) {
                        size_t want = d->cap_idle_marks ? d->cap_idle_marks * 2 : 16;
                        struct tp_idle_mark *grown = realloc(d->idle_marks, want * sizeof(*grown));

                        if (!grown)
                                return;
                        d->idle_marks = grown;
                        d->cap_idle_marks = want;
                }
                m = &d->idle_marks[d->n_idle_marks++];
                snprintf(m->id, sizeof(m->id), "%s", id);
                m->kind = kind;
        }
        m->key = key;
        m->pass = d->idle_pass;
}

/* At the end of a pass: sessions not seen active in it have ended. */
static void marks_prune(struct tp_daemon *d)
{
        size_t i = 0;

        while (i < d->n_idle_marks) {
                if (d->idle_marks[i].pass != d->idle_pass)
                        d->idle_marks[i] = d->idle_marks[--d->n_idle_marks];
                else
                        i++;
        }
        d->idle_pass++;
}

static void format_hhmm(int64_t t, char out[32])
{
        time_t tt = (time_t)t;
        struct tm tm;

        if ((int64_t)tt != t || !gmtime_r(&tt, &tm) || strftime(out, 32, "%H:%M UTC", &tm) == 0)
                snprintf(out, 32, "@%lld", (long long)t);
}

static unsigned minutes_until(int64_t when, int64_t now)
{
        int64_t left = when - now;

        return left <= 0 ? 0 : (unsigned)((left + 59) / 60);
}

static const char *action_verb(enum tp_action a)
{
        return a == TP_ACTION_LOCK ? "locked" : "ended";
}

static struct tp_enforce_target target_of(const struct tp_session *s, int leader_shared)
{
        return (struct tp_enforce_target){
                .session_id = s->id,
                .logind_session = s->logind_session,
                .leader_pid = (pid_t)s->leader_pid,
                .leader_start = s->leader_start,
                .leader_shared = leader_shared,
                .boot_id = s->boot_id,
        };
}

/* A desktop notification for a graphical session: "" when there is none
 * to post, else what became of it. */
static void notify_desktop(struct tp_daemon *d, const struct tp_session *s, const char *text, char *out,
                           size_t outsz)
{
        struct tp_enforce_target t = target_of(s, 0);
        char buf[1024];
        struct passwd pw, *found = NULL;
        uint64_t shared = 0;
        int r;

        out[0] = '\0';
        if (tp_local_leader_shared(d, s, &shared) < 0 || shared)
                return;
        if (tp_enforcer_session_graphical(d->enforcer, &t) <= 0)
                return;
        if (getpwnam_r(s->user, &pw, buf, sizeof(buf), &found) != 0 || !found || pw.pw_uid != s->uid) {
                snprintf(out, outsz, "no desktop notification (user %s not found)", s->user);
                return;
        }
        r = tp_enforcer_notify_desktop(d->enforcer, pw.pw_uid, pw.pw_gid, "Your session will end soon", text);
        if (r < 0)
                snprintf(out, outsz, "no desktop notification (%s)", r == -ENOENT ? "no session bus" : strerror(-r));
        else
                snprintf(out, outsz, "desktop notification posted");
}

/* Tell the session's user `text` on its terminals (and desktop), and
 * audit it. */
static void warn(struct tp_daemon *d, const struct tp_session *s, const char *text, const char *summary)
{
        struct tp_notice_sent sent = { .n = 0 };
        char told[256] = "", desktop[384], reason[1024];

        tp_notice_send((pid_t)s->leader_pid, s->leader_start, (uid_t)s->uid, s->tty, text, &sent, told,
                       sizeof(told));
        tp_notice_close(&sent);
        notify_desktop(d, s, text + strlen("tokenpolicy: "), desktop, sizeof(desktop));
        snprintf(reason, sizeof(reason), "%s; %s%s%s", summary, told[0] ? told : "leader not running",
                 desktop[0] ? "; " : "", desktop);
        tp_audit(&(struct tp_audit){ .event = "warn", .user = s->user, .client = s->client,
                                     .service = s->service, .session = s->id, .reason = reason,
                                     .peer_uid = -1 });
}

/* How the user keeps a session that is about to reach its expiry. */
static const char *extend_hint(const struct tp_effective_policy *p)
{
        if (p->auto_extend)
                return "run 'tokenpolicyctl token' or unlock the screen with your password to extend it";
        return "unlock the screen with your password (re-authenticate) to extend it, "
               "or sign in again afterwards";
}

static void warn_expiry(struct tp_daemon *d, const struct tp_session *s, const struct tp_effective_policy *p,
                        int64_t now)
{
        char when[32], text[TP_NOTICE_TEXT_MAX], summary[160];
        unsigned left;

        if (p->warn_before_minutes == 0 || p->on_expiry == TP_ACTION_NONE || s->refresh_expires <= now ||
            s->refresh_expires - now > (int64_t)p->warn_before_minutes * 60)
                return;
        if (mark_done(d, s->id, MARK_WARNED_EXPIRY, s->refresh_expires))
                return;
        mark_set(d, s->id, MARK_WARNED_EXPIRY, s->refresh_expires);
        format_hhmm(s->refresh_expires, when);
        left = minutes_until(s->refresh_expires, now);
        snprintf(text, sizeof(text),
                 "tokenpolicy: this %s session will be %s at %s (in %u minute%s), when its sign-in expires; %s.",
                 s->client, action_verb(p->on_expiry), when, left, left == 1 ? "" : "s", extend_hint(p));
        snprintf(summary, sizeof(summary), "sign-in expires in %u minute%s; on_expiry = %s", left,
                 left == 1 ? "" : "s", tp_action_name((uint8_t)p->on_expiry));
        warn(d, s, text, summary);
}

/* Since when the session is idle: 1 and *ret_since, 0 not idle or cannot
 * tell (nothing to act on). */
static int idle_since(struct tp_daemon *d, const struct tp_session *s, int64_t *ret_since)
{
        struct tp_enforce_target t;
        uint64_t shared = 0;
        int r;

        r = tp_local_leader_shared(d, s, &shared);
        t = target_of(s, r < 0 ? r : shared > INT32_MAX ? INT32_MAX : (int)shared);
        r = tp_enforcer_idle_since(d->enforcer, &t, ret_since);
        if (r >= 0)
                return r;
        /* No logind session (or no logind): the terminal's last input. */
        r = tp_notice_last_input((pid_t)s->leader_pid, s->leader_start, (uid_t)s->uid, s->tty, ret_since);
        return r > 0 ? 1 : 0;
}

static void act_idle(struct tp_daemon *d, const struct tp_session *s, const struct tp_effective_policy *p,
                     int64_t since, int64_t now)
{
        struct tp_store *st = tp_local_store(d);
        char why[128];
        int r;

        snprintf(why, sizeof(why), "idle for %lld minutes (idle_timeout_minutes = %u)",
                 (long long)((now - since) / 60), p->idle_timeout_minutes);
        if (p->on_idle == TP_ACTION_TERMINATE) {
                /* Recorded before it is acted on: its tokens stop working
                 * with the session. */
                struct tp_session ended = *s;

                if ((r = tp_store_begin(st)) < 0 || (r = tp_store_end(st, s->id, TP_STATE_EXPIRED, now)) < 0 ||
                    (r = tp_store_commit(st)) < 0) {
                        tp_store_rollback(st);
                        if (r == -ESTALE || r == -ENOENT)
                                return; /* ended meanwhile */
                        tp_log_errno(r, "Failed to end idle session %s (%s); retrying", s->id,
                                     tp_store_errmsg(st));
                        return;
                }
                ended.state = TP_STATE_EXPIRED;
                ended.ended = now;
                tp_offline_ended(d, st, &ended);
                tp_lifecycle_ended(d, s->id);
        }
        mark_set(d, s->id, MARK_ACTED_IDLE, since);
        tp_audit(&(struct tp_audit){ .event = "idle", .user = s->user, .client = s->client,
                                     .service = s->service, .session = s->id, .reason = why,
                                     .peer_uid = -1 });
        tp_lifecycle_enforce_idle(d, s, why);
}

static void check_idle(struct tp_daemon *d, const struct tp_session *s, const struct tp_effective_policy *p,
                       int64_t now)
{
        int64_t since = 0, idle_for, timeout = (int64_t)p->idle_timeout_minutes * 60, warn_at;
        char when[32], text[TP_NOTICE_TEXT_MAX], summary[160];
        unsigned left;

        if (p->idle_timeout_minutes == 0 || idle_since(d, s, &since) <= 0 || since > now)
                return;
        idle_for = now - since;
        if (idle_for >= timeout) {
                if (!mark_done(d, s->id, MARK_ACTED_IDLE, since))
                        act_idle(d, s, p, since, now);
                return;
        }
        warn_at = timeout - (int64_t)p->warn_before_minutes * 60;
        if (warn_at < IDLE_WARN_MIN_SECONDS)
                warn_at = IDLE_WARN_MIN_SECONDS;
        if (p->warn_before_minutes == 0 || idle_for < warn_at || mark_done(d, s->id, MARK_WARNED_IDLE, since))
                return;
        mark_set(d, s->id, MARK_WARNED_IDLE, since);
        format_hhmm(since + timeout, when);
        left = minutes_until(since + timeout, now);
        snprintf(text, sizeof(text),
                 "tokenpolicy: this %s session has been idle for %lld minutes and will be %s at %s "
                 "(in %u minute%s); use it to keep it %s.",
                 s->client, (long long)(idle_for / 60), action_verb(p->on_idle), when, left, left == 1 ? "" : "s",
                 p->on_idle == TP_ACTION_LOCK ? "unlocked" : "open");
        snprintf(summary, sizeof(summary), "idle for %lld minutes, on_idle = %s in %u minute%s",
                 (long long)(idle_for / 60), tp_action_name((uint8_t)p->on_idle), left, left == 1 ? "" : "s");
        warn(d, s, text, summary);
}

/* Whether any client type asks for this pass at all. */
static bool wanted(const struct tp_config *c)
{
        for (size_t i = 0; i < c->n_clients; i++)
                if (c->clients[i].idle_timeout_minutes > 0 || c->clients[i].warn_before_minutes > 0)
                        return true;
        return false;
}

void tp_idle_tick(struct tp_daemon *d)
{
        struct tp_store *st;
        struct tp_session *rows = NULL;
        int64_t now;
        size_t n = 0;
        int r;

        if (!d->idle_started) {
                d->idle_sweep = TP_STORE_CURSOR_START;
                d->idle_started = true;
        }
        if (tp_monotonic_ms() - d->idle_checked_ms < IDLE_TICK_MS)
                return;
        d->idle_checked_ms = tp_monotonic_ms();
        if (!wanted(d->config)) {
                d->n_idle_marks = 0;
                d->idle_sweep = TP_STORE_CURSOR_START;
                return;
        }
        st = tp_local_store(d);
        if (tp_store_offline_since(st, NULL, 0) != 0)
                return; /* a fleet's database away, and nothing of this host's kept */
        if ((r = tp_store_active_page(st, &d->idle_sweep, IDLE_PAGE, &rows, &n)) < 0) {
                tp_log_errno(r, "Failed to look for idle sessions (%s)", tp_store_errmsg(st));
                return;
        }
        now = (int64_t)time(NULL);
        for (size_t i = 0; i < n; i++) {
                const struct tp_session *s = &rows[i];
                const struct tp_client_config *cl = tp_config_client(d->config, s->client);
                struct tp_effective_policy p;

                if (!cl || s->refresh_expires <= now)
                        continue; /* the expiry schedule's */
                tp_config_effective(d->config, cl, &p);
                if (p.idle_timeout_minutes == 0 && p.warn_before_minutes == 0)
                        continue;
                /* Seen active in this pass: its marks stay. */
                mark_done(d, s->id, MARK_WARNED_EXPIRY, 0);
                mark_done(d, s->id, MARK_WARNED_IDLE, 0);
                mark_done(d, s->id, MARK_ACTED_IDLE, 0);
                warn_expiry(d, s, &p, now);
                check_idle(d, s, &p, now);
        }
        free(rows);
        if (d->idle_sweep.created == TP_STORE_CURSOR_START.created &&
            d->idle_sweep.rowid == TP_STORE_CURSOR_START.rowid)
                marks_prune(d);
}

void tp_idle_stop(struct tp_daemon *d)
{
        free(d->idle_marks);
        d->idle_marks = NULL;
        d->n_idle_marks = d->cap_idle_marks = 0;
}
