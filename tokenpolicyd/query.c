/* SPDX-License-Identifier: BSD-3-Clause */
/* query.c: EXPLAIN and VERIFY, the two requests that only look.
 *
 * EXPLAIN answers "what would the next sign-in get, and why" with the
 * sign-in plan OPEN decides by (plan.h): the same client resolution, the
 * same effective policy, the account's canonical name, the store's active
 * sessions, ghost detection and the engine's decision. It must never open
 * a store transaction or change anything: a ghost is left for the next real
 * sign-in to close and is only not counted here.
 *
 * VERIFY checks an access token with the daemon's own keys, then the
 * session it names. The token is a credential: it is never logged or
 * echoed back, not even in part; only verified claims are.
 */
#include "query.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleetkeys.h"
#include "lifecycle.h"
#include "log.h"
#include "offline.h"
#include "plan.h"
#include "policy.h"
#include "jwt.h"
#include "signer.h"

#define WHEN_TEXT 32

/* Messages are built a piece at a time; a piece that does not fit is cut
 * and everything after it dropped, so the text always ends cleanly. */
struct text {
        char *buf;
        size_t size;
        size_t len;
};

static void text_addf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_addf(struct text *t, const char *fmt, ...)
{
        va_list ap;
        int w;

        if (t->len + 1 >= t->size)
                return;
        va_start(ap, fmt);
        w = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
        va_end(ap);
        if (w < 0)
                t->buf[t->len] = '\0';
        else if ((size_t)w >= t->size - t->len)
                t->len = t->size - 1;
        else
                t->len += (size_t)w;
}

/* EXPLAIN may have filled part of the body before the store failed: an
 * error reply carries none of it. */
static void reply_store_error(struct tp_daemon *d, struct tp_reply *rep, int r, const char *what)
{
        memset(&rep->u, 0, sizeof(rep->u));
        tp_reply_store_error(d->store, rep, r, what);
}

/* Times in messages are UTC: the daemon's time zone need not be the
 * reader's. The CLI shows the structured fields in local time. */
static void format_utc(int64_t t, char out[WHEN_TEXT])
{
        time_t tt = (time_t)t;
        struct tm tm;

        if ((int64_t)tt != t || !gmtime_r(&tt, &tm) ||
            strftime(out, WHEN_TEXT, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                snprintf(out, WHEN_TEXT, "@%lld", (long long)t);
}

/* ---- EXPLAIN ------------------------------------------------------------ */

/* "session ID (oldest, from HOST, started T)" for one session it would
 * sign out. */
static void describe_victim(struct text *t, const struct tp_session *s, enum tp_evict_mode mode,
                            bool with_reason)
{
        char started[WHEN_TEXT], used[WHEN_TEXT];
        const char *from = s->rhost[0] ? s->rhost : s->tty;

        format_utc(s->created, started);
        format_utc(s->last_used, used);
        text_addf(t, "%s (", s->id);
        if (with_reason && mode == TP_EVICT_LEAST_RECENTLY_USED)
                text_addf(t, "least recently used, last used %s, ", used);
        else if (with_reason)
                text_addf(t, "oldest, ");
        if (from[0])
                text_addf(t, "from %s, ", from);
        text_addf(t, "started %s)", started);
}

static void describe_allowed(struct text *t, const struct tp_session *existing,
                             const struct tp_signin_decision *dec, const struct tp_effective_policy *p,
                             const char *client, const char *user, uint32_t active)
{
        text_addf(t, "A new %s sign-in by %s would be allowed", client, user);
        if (dec->n_evict == 0) {
                text_addf(t, ": %u of at most %u %s sessions are active.", active,
                          p->max_refresh_tokens, client);
                return;
        }
        if (dec->n_evict == 1) {
                text_addf(t, "; it would sign out session ");
                describe_victim(t, &existing[dec->evict[0]], p->evict, true);
                text_addf(t, " to stay within the limit of %u.", p->max_refresh_tokens);
                return;
        }
        text_addf(t, "; to stay within the limit of %u it would sign out %zu sessions, %s first: ",
                  p->max_refresh_tokens, dec->n_evict,
                  p->evict == TP_EVICT_LEAST_RECENTLY_USED ? "least recently used" : "oldest");
        for (size_t i = 0; i < dec->n_evict && i < TP_EVICTED_MAX; i++) {
                text_addf(t, "%s", i ? ", " : "");
                describe_victim(t, &existing[dec->evict[i]], p->evict, false);
        }
        if (dec->n_evict > TP_EVICTED_MAX)
                text_addf(t, " and %zu more", dec->n_evict - TP_EVICTED_MAX);
        text_addf(t, ".");
}

/* What would happen to the session once running, beyond its expiry. */
static void describe_running(struct text *t, const struct tp_effective_policy *p)
{
        if (p->idle_timeout_minutes > 0)
                text_addf(t, " Idle for %u minutes, it would be %s.", p->idle_timeout_minutes,
                          p->on_idle == TP_ACTION_LOCK ? "locked" : "ended");
        if (p->warn_before_minutes > 0)
                text_addf(t, " Its user would be warned %u minutes before it is ended or locked.",
                          p->warn_before_minutes);
}

static void describe_denied(struct text *t, enum tp_verdict v, const struct tp_effective_policy *p,
                            const char *client, const char *user, uint32_t active)
{
        text_addf(t, "A new %s sign-in by %s would be denied: ", client, user);
        switch (v) {
        case TP_VERDICT_DENY_ACCESS:
                text_addf(t, "sign-in from %s clients is disabled by your administrator.", client);
                break;
        case TP_VERDICT_DENY_CAP:
                text_addf(t, "%s already has %u active %s sessions", user, active, client);
                if (active != p->max_refresh_tokens)
                        text_addf(t, " (the limit is %u)", p->max_refresh_tokens);
                text_addf(t, " and evict = %s.", tp_evict_name((uint8_t)p->evict));
                break;
        default:
                text_addf(t, "%s.", tp_verdict_reason(v));
                break;
        }
}

static void handle_explain(struct tp_daemon *d, const struct tp_req_signin *req, struct tp_reply *rep)
{
        struct tp_rep_explain *ex = &rep->u.explain;
        struct text msg = { .buf = rep->message, .size = sizeof(rep->message) };
        struct tp_signin_plan plan;
        const struct tp_signin_decision *dec = &plan.dec;
        const struct tp_effective_policy *p = &plan.policy;
        const char *client;
        uint32_t active;
        bool known;

        if (req->user[0] == '\0') {
                tp_reply_status(rep, TP_STATUS_BAD_REQUEST, "Name the user whose sign-in to explain.");
                return;
        }
        /* Whether the peer may ask about this user was decided before this
         * (request.c). */
        tp_plan_init(&plan, req, (int64_t)time(NULL));
        known = tp_plan_account(&plan);

        /* Same steps as OPEN: tag the sign-in, then the account, then the
         * sessions and the engine. */
        if (!tp_plan_tag(&plan, d->config, rep)) {
                if (rep->status == TP_STATUS_BAD_REQUEST) {
                        tp_reply_status(rep, TP_STATUS_BAD_REQUEST,
                                        "Client type '%s' is not defined in %s; "
                                        "'tokenpolicyctl policy' lists the defined ones.",
                                        req->client, d->config->path);
                        return;
                }
                rep->status = TP_STATUS_OK;
                rep->message[0] = '\0';
                text_addf(&msg, "A sign-in by %s through '%s' would be denied: the service belongs "
                          "to no client type and unknown clients are denied by your administrator.",
                          plan.user, req->service);
                return;
        }
        client = plan.client->name;
        snprintf(ex->client, sizeof(ex->client), "%s", client);
        ex->cap = p->max_refresh_tokens;
        ex->evict = (uint8_t)p->evict;
        ex->auto_extend = p->auto_extend;
        ex->idle = (struct tp_idle_values){ .idle_timeout_minutes = p->idle_timeout_minutes,
                                            .on_idle = (uint8_t)p->on_idle,
                                            .warn_before_minutes = p->warn_before_minutes };
        rep->status = TP_STATUS_OK;
        if (!known) {
                text_addf(&msg, "A new %s sign-in by %s would be denied: there is no user '%s' on this host.",
                          client, plan.user, req->user);
                return;
        }

        if (tp_plan_decide(&plan, d->store, TP_PLAN_LOOK, tp_lifecycle_ghost_check, d, rep) < 0) {
                memset(&rep->u, 0, sizeof(rep->u));
                goto out;
        }
        active = dec->n_live > UINT32_MAX ? UINT32_MAX : (uint32_t)dec->n_live;
        ex->active = active;
        if (dec->verdict != TP_VERDICT_ALLOW) {
                describe_denied(&msg, dec->verdict, p, client, plan.user, active);
                goto out;
        }
        ex->allowed = 1;
        ex->refresh_expires = dec->refresh_expires;
        ex->access_expires = dec->access_expires;
        ex->n_evict_total = dec->n_evict > UINT32_MAX ? UINT32_MAX : (uint32_t)dec->n_evict;
        for (size_t i = 0; i < dec->n_evict && i < TP_EVICTED_MAX; i++) {
                tp_session_to_info(&plan.sessions[dec->evict[i]], &ex->evicted[i]);
                ex->n_evicted = (uint8_t)(i + 1);
        }
        describe_allowed(&msg, plan.sessions, dec, p, client, plan.user, active);
        describe_running(&msg, p);
out:
        tp_plan_free(&plan);
}

/* ---- VERIFY ------------------------------------------------------------- */

static void verify_failed(struct tp_reply *rep, const struct tp_peer *peer, uint8_t status,
                          const struct tp_jwt_claims *claims, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

/* Refuse with a message, and audit it. Claims are passed only once their
 * signature has been verified: unverified bytes never reach the log. */
static void verify_failed(struct tp_reply *rep, const struct tp_peer *peer, uint8_t status,
                          const struct tp_jwt_claims *claims, const char *fmt, ...)
{
        char reason[TP_MESSAGE_MAX + 64];
        va_list ap;

        memset(&rep->u, 0, sizeof(rep->u));
        rep->status = status;
        va_start(ap, fmt);
        vsnprintf(rep->message, sizeof(rep->message), fmt, ap);
        va_end(ap);
        snprintf(reason, sizeof(reason), "access token verification failed: %s", rep->message);
        tp_audit(&(struct tp_audit){ .event = "deny", .user = claims ? claims->sub : NULL,
                                     .client = claims ? claims->client : NULL,
                                     .session = claims ? claims->sid : NULL, .reason = reason,
                                     .peer_uid = (long)peer->uid });
}

static void handle_verify(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_req_verify *req,
                          struct tp_reply *rep)
{
        struct tp_rep_verify *v = &rep->u.verify;
        struct tp_jwt_claims claims;
        char when[WHEN_TEXT];
        struct tp_session s;
        int64_t now = (int64_t)time(NULL);
        bool fleet = false;
        int r;

        memset(&claims, 0, sizeof(claims));
        r = tp_signer_verify(d->signer, req->token, now, &claims);
        /* Another host of the fleet may have signed it, with its own key. */
        if (r == -ENOKEY && d->host_id[0]) {
                r = tp_fleetkeys_verify(d, req->token, now, &claims);
                fleet = r == 0;
                if (r == -EACCES) {
                        verify_failed(rep, peer, TP_STATUS_DENIED, &claims,
                                      "signed with the key of another host of the fleet than its issuer");
                        return;
                }
        }
        switch (r) {
        case 0:
                break;
        case -EBADMSG:
                verify_failed(rep, peer, TP_STATUS_DENIED, NULL, "malformed token");
                return;
        case -EKEYREJECTED:
                verify_failed(rep, peer, TP_STATUS_DENIED, NULL, "bad signature or algorithm");
                return;
        case -ENOKEY:
                verify_failed(rep, peer, TP_STATUS_DENIED, NULL,
                              "bad signature or algorithm: signed by a key this host does not publish");
                return;
        case -ETIME:
                verify_failed(rep, peer, TP_STATUS_EXPIRED, NULL,
                              "access token expired (or not yet valid); get a fresh one with "
                              "'tokenpolicyctl token'");
                return;
        default:
                tp_log(LOG_ERR, "verifying an access token failed: %s", strerror(r < 0 ? -r : EINVAL));
                verify_failed(rep, peer, TP_STATUS_ERROR, NULL, "cannot verify the token: %s",
                              strerror(r < 0 ? -r : EINVAL));
                return;
        }
        if (!fleet && strcmp(claims.iss, d->hostname) != 0) {
                verify_failed(rep, peer, TP_STATUS_DENIED, &claims,
                              "issued by another host ('%s'; this host is '%s')", claims.iss, d->hostname);
                return;
        }

        r = tp_store_get(tp_offline_store_for(d, claims.sid), claims.sid, &s);
        if (r == -ENOENT) {
                verify_failed(rep, peer, TP_STATUS_NOT_FOUND, &claims,
                              "session %s is not known on this host", claims.sid);
                return;
        }
        if (r == -ENOTCONN) {
                /* A fleet's database away: the token stands on its own
                 * (signature, issuer, times), as for any verifier without
                 * the session's state; the reply says what was not known. */
                snprintf(v->sid, sizeof(v->sid), "%s", claims.sid);
                snprintf(v->user, sizeof(v->user), "%s", claims.sub);
                snprintf(v->client, sizeof(v->client), "%s", claims.client);
                v->exp = claims.exp;
                v->refresh_expires = 0;
                tp_reply_status(rep, TP_STATUS_OK,
                                "The token of session %s of %s (%s) is valid, but whether the session is still active is not known: %s.",
                                claims.sid, claims.sub, claims.client, tp_store_errmsg(d->store));
                return;
        }
        if (r < 0) {
                reply_store_error(d, rep, r, "reading a session");
                return;
        }
        if (s.state != TP_STATE_ACTIVE) {
                verify_failed(rep, peer, TP_STATUS_NOT_FOUND, &claims, "session %s was %s", s.id,
                              tp_state_name(s.state));
                return;
        }
        if (now >= s.refresh_expires) {
                format_utc(s.refresh_expires, when);
                verify_failed(rep, peer, TP_STATUS_NOT_FOUND, &claims,
                              "session %s expired (its refresh token expired at %s)", s.id, when);
                return;
        }
        if (strcmp(s.user, claims.sub) != 0 || s.uid != claims.uid ||
            strcmp(s.client, claims.client) != 0) {
                verify_failed(rep, peer, TP_STATUS_DENIED, &claims,
                              "token does not match session %s (user or client type differs)", s.id);
                return;
        }

        snprintf(v->sid, sizeof(v->sid), "%s", s.id);
        snprintf(v->user, sizeof(v->user), "%s", s.user);
        snprintf(v->client, sizeof(v->client), "%s", s.client);
        v->exp = claims.exp;
        v->refresh_expires = s.refresh_expires;
        format_utc(s.refresh_expires, when);
        tp_reply_status(rep, TP_STATUS_OK, "Session %s of %s (%s) is active; its refresh token expires at %s.",
                        s.id, s.user, s.client, when);
}

/* ---- entry points from the request table (request.c) ------------------- */

void tp_handle_explain(struct tp_call *c)
{
        handle_explain(c->d, &c->req->u.signin, c->rep);
}

void tp_handle_verify(struct tp_call *c)
{
        handle_verify(c->d, c->peer, &c->req->u.verify, c->rep);
}
