/* SPDX-License-Identifier: BSD-3-Clause */
/* handlers.c: what each request means.
 *
 * The only place that combines the config, the policy engine, the store and
 * the token signer. Every mutation runs in one store transaction that is
 * committed (durable) before the reply is built, so nothing is acknowledged
 * that a crash could lose. Whether the peer may send a kind of request at
 * all is checked before a handler runs (request.c); whether a session it
 * names is its own, here (rights.h), before anything is changed. Secrets
 * (refresh tokens) go only into replies, never into logs.
 */
#include "handlers.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "accounts.h"
#include "control.h"
#include "lifecycle.h"
#include "log.h"
#include "offline.h"
#include "plan.h"
#include "policy.h"
#include "rights.h"
#include "jwt.h"
#include "jwt_sign.h"
#include "secrets.h"
#include "wipe.h"

static int64_t now_wall(void)
{
        return (int64_t)time(NULL);
}

static void copy_str(char *dst, size_t dstsz, const char *src)
{
        snprintf(dst, dstsz, "%s", src ? src : "");
}

static const char *peer_user_or_uid(const struct tp_peer *peer, char *buf, size_t bufsz)
{
        if (peer->user[0])
                return peer->user;
        snprintf(buf, bufsz, "uid %u", (unsigned)peer->uid);
        return buf;
}

static int sign_access_token(struct tp_daemon *d, const struct tp_session *s, int64_t now,
                             int64_t access_expires, char *out, size_t outsz)
{
        struct tp_jwt_claims claims;

        memset(&claims, 0, sizeof(claims));
        copy_str(claims.iss, sizeof(claims.iss), d->hostname);
        copy_str(claims.sub, sizeof(claims.sub), s->user);
        claims.uid = s->uid;
        copy_str(claims.sid, sizeof(claims.sid), s->id);
        copy_str(claims.client, sizeof(claims.client), s->client);
        claims.iat = now;
        claims.exp = access_expires;
        if (d->sign_later && !d->unsigned_token.job) /* the loop decides (daemon.h) */
                return tp_jwt_sign_later(d->signer, &claims, out, outsz, &d->unsigned_token);
        return tp_jwt_sign(d->signer, &claims, out, outsz);
}

/* The audit line for a sign-in that policy refuses, saying what the
 * module will really do with the refusal: under unmapped=ignore it lets
 * an unmapped service through, which is no decision of this policy and
 * recorded nowhere; root (TP_SIGNIN_EXEMPT, sent by root's PAM stack) gets
 * in without a session. */
static void audit_refusal(const struct tp_peer *peer, const struct tp_req_signin *req,
                          const struct tp_reply *rep, const char *client, const char *reason)
{
        char why[256];

        if (rep->status == TP_STATUS_UNMAPPED && (req->flags & TP_SIGNIN_IGNORE_UNMAPPED))
                return;
        if ((req->flags & TP_SIGNIN_EXEMPT) && peer->admin) {
                snprintf(why, sizeof(why), "%s; signed in without a session (exempt)", reason);
                tp_audit(&(struct tp_audit){ .event = "allow", .user = req->user, .client = client,
                                             .service = req->service, .reason = why, .peer_uid = -1 });
                return;
        }
        tp_audit(&(struct tp_audit){ .event = "deny", .user = req->user, .client = client,
                                     .service = req->service, .reason = reason, .peer_uid = -1 });
}

/* A sign-in tp_plan_tag() could not tag: the module named a client
 * type the configuration does not define, or the service maps to none. */
static void audit_untagged(const struct tp_peer *peer, const struct tp_req_signin *req,
                           const struct tp_reply *rep)
{
        bool undefined = rep->status == TP_STATUS_BAD_REQUEST;

        audit_refusal(peer, req, rep, undefined ? req->client : NULL,
                      undefined ? "undefined client type" : "unmapped service");
}

/* The same account check at sign-in as at refresh: a locked or expired
 * account opens no session (docs: tokenpolicyd(8), AUDIT, deny). False
 * with rep filled and the refusal audited. */
static bool account_usable(const struct tp_peer *peer, const struct tp_req_signin *req,
                           const struct tp_signin_plan *plan, bool audit, struct tp_reply *rep)
{
        /* The plan has just looked the account up: only shadow is left. */
        enum tp_account_state st = tp_account_shadow_state(plan->user, plan->now);
        char reason[64];

        if (st != TP_ACCOUNT_LOCKED && st != TP_ACCOUNT_EXPIRED)
                return true; /* an unknown user is refused by the caller */
        tp_reply_status(rep, TP_STATUS_DENIED,
                        "The account %s %s; sign-in is refused. Contact your administrator.", plan->user,
                        tp_account_state_words(st));
        snprintf(reason, sizeof(reason), "account %s", tp_account_state_words(st));
        if (audit)
                audit_refusal(peer, req, rep, plan->client->name, reason);
        return false;
}

static void handle_access(struct tp_daemon *d, const struct tp_peer *peer,
                          const struct tp_req_signin *req, struct tp_reply *rep)
{
        struct tp_signin_plan plan;
        enum tp_verdict v;
        /* An access check changes nothing: a refusal is audited (deny),
         * an allowed check is not, and neither is the refusal of a user
         * the module lets in whatever the answer (root): the sign-in
         * that follows records that, once, as allow. */
        bool audit = !((req->flags & TP_SIGNIN_EXEMPT) && peer->admin);

        tp_plan_init(&plan, req, now_wall());
        if (!tp_plan_tag(&plan, d->config, rep)) {
                if (audit)
                        audit_untagged(peer, req, rep);
                return;
        }
        v = tp_plan_access(&plan);
        if (v != TP_VERDICT_ALLOW) {
                tp_plan_refusal(&plan, v, rep);
                if (audit)
                        audit_refusal(peer, req, rep, plan.client->name, "client type disabled");
                return;
        }
        /* An unknown user is the sign-in's to refuse (the account stack
         * may still create it, as pam_mkhomedir's neighbours do); a
         * locked or expired one is refused here already. */
        if (tp_plan_account(&plan) && !account_usable(peer, req, &plan, audit, rep))
                return;
        copy_str(rep->u.access.client, sizeof(rep->u.access.client), plan.client->name);
        /* Not audited: the sign-in that follows is, and a user's own checks
         * must not flood the journal (tokenpolicyd(8), AUDIT). */
        tp_reply_status(rep, TP_STATUS_OK, "Sign-in from %s clients is allowed.", plan.client->name);
}

/* The ghosts the plan closed, once that is durable. */
static void audit_ghosts(struct tp_daemon *d, const struct tp_signin_plan *plan)
{
        for (size_t i = 0; plan->n_ghosts > 0 && i < plan->n_sessions; i++) {
                const struct tp_session *s = &plan->sessions[i];

                if (s->state != TP_STATE_CLOSED)
                        continue;
                tp_lifecycle_ended(d, s->id);
                tp_audit(&(struct tp_audit){ .event = "close", .user = s->user, .client = s->client,
                                             .service = s->service, .session = s->id,
                                             .reason = "session leader is gone (reaped)", .peer_uid = -1 });
        }
}

/* What the sign-in changed, once it is durable: the ghosts it closed,
 * the expired and evicted sessions ended, the new session scheduled. */
static void signin_effects(struct tp_daemon *d, const struct tp_req_signin *req,
                           const struct tp_signin_plan *plan, const struct tp_session *sess,
                           struct tp_reply *rep)
{
        const struct tp_signin_decision *dec = &plan->dec;
        const char *client = plan->client->name;

        audit_ghosts(d, plan);
        tp_lifecycle_schedule(d, sess->id, sess->refresh_expires);
        for (size_t i = 0; i < dec->n_expired; i++) {
                const struct tp_session *old = &plan->sessions[dec->expired[i]];

                tp_lifecycle_ended(d, old->id);
                tp_audit(&(struct tp_audit){ .event = "expire", .user = req->user, .client = client,
                                             .service = old->service, .session = old->id,
                                             .reason = "refresh token expired", .peer_uid = -1 });
                tp_lifecycle_enforce(d, old, true, "refresh token expired");
        }
        for (size_t i = 0; i < dec->n_evict; i++) {
                const struct tp_session *victim = &plan->sessions[dec->evict[i]];

                tp_lifecycle_ended(d, victim->id);
                tp_audit(&(struct tp_audit){ .event = "evict", .user = req->user, .client = client,
                                             .service = victim->service, .session = victim->id,
                                             .evicted_by = sess->id,
                                             .reason = plan->policy.evict == TP_EVICT_LEAST_RECENTLY_USED
                                                               ? "session limit reached; least recently used signed out"
                                                               : "session limit reached; oldest signed out",
                                             .peer_uid = -1 });
                /* A module that reports how the PAM handle ends gets the
                 * eviction enforced only once the sign-in is known good. */
                if (req->flags & TP_SIGNIN_OUTCOME)
                        tp_lifecycle_evict_after(d, victim, sess->id, "signed out at the session limit");
                else
                        tp_lifecycle_enforce(d, victim, false, "signed out at the session limit");
                if (i < TP_EVICTED_MAX) {
                        tp_session_to_info(victim, &rep->u.tokens.evicted[i]);
                        rep->u.tokens.n_evicted = (uint8_t)(i + 1);
                }
        }
        tp_audit(&(struct tp_audit){ .event = "allow", .user = req->user, .client = client,
                                     .service = req->service, .session = sess->id, .reason = "signed in",
                                     .peer_uid = -1 });
}

/* A sign-in sent to a fleet's database as one transaction whose outcome
 * the database did not tell before it went away: the session may be
 * there. Signed in the offline way, it is the same session (its id and
 * refresh token), so that the upload finds it there instead of adding a
 * second one that would count against the cap twice. */
struct sent_signin {
        bool sent;
        struct tp_session sess;
        char refresh[TP_REFRESH_TOKEN_TEXT];
};

/* The new session of a sign-in the plan allows (the one `sent` names, if
 * any), its refresh token, and its access token signed. false with rep
 * filled when that failed. */
static bool new_session(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_req_signin *req,
                        const struct tp_signin_plan *plan, const struct sent_signin *sent,
                        struct tp_session *sess, char *refresh, struct tp_reply *rep)
{
        int r;

        if (sent && sent->sent) {
                memcpy(sess->id, sent->sess.id, sizeof(sess->id));
                memcpy(sess->refresh_hash, sent->sess.refresh_hash, sizeof(sess->refresh_hash));
                memcpy(refresh, sent->refresh, TP_REFRESH_TOKEN_TEXT);
        } else if ((r = tp_session_id_new(sess->id)) < 0 ||
                   (r = tp_refresh_token_new(refresh, sess->refresh_hash)) < 0) {
                tp_reply_status(rep, TP_STATUS_ERROR, "Cannot generate tokens: %s.", strerror(-r));
                return false;
        }
        copy_str(sess->user, sizeof(sess->user), plan->user);
        sess->uid = (uint32_t)plan->uid;
        copy_str(sess->client, sizeof(sess->client), plan->client->name);
        copy_str(sess->service, sizeof(sess->service), req->service);
        copy_str(sess->rhost, sizeof(sess->rhost), req->rhost);
        copy_str(sess->tty, sizeof(sess->tty), req->tty);
        /* The leader is the process that asked, as the kernel saw it, not
         * what the request claims. */
        tp_lifecycle_leader(peer->pid, &sess->leader_pid, &sess->leader_start);
        copy_str(sess->logind_session, sizeof(sess->logind_session), req->logind_session);
        copy_str(sess->boot_id, sizeof(sess->boot_id), d->boot_id);
        copy_str(sess->host, sizeof(sess->host), d->host_id);
        sess->created = plan->now;
        sess->refresh_expires = plan->dec.refresh_expires;
        sess->last_extended = plan->now;
        sess->last_used = plan->now;
        sess->state = TP_STATE_ACTIVE;
        if ((r = sign_access_token(d, sess, plan->now, plan->dec.access_expires, rep->u.tokens.access_token,
                                   sizeof(rep->u.tokens.access_token))) < 0) {
                tp_reply_status(rep, TP_STATUS_ERROR, "Cannot sign the access token: %s.", strerror(-r));
                return false;
        }
        return true;
}

/* A token signed for a sign-in that did not happen is not waited for. */
static void drop_unsigned(struct tp_daemon *d)
{
        if (d->unsigned_token.job)
                (void)tp_jwt_unsigned_finish(d->signer, &d->unsigned_token, NULL);
}

/* What signin_fast() asks the store to insert, made when the store asks
 * (tp_store_insert_under_cap()). */
struct fast_make {
        struct tp_daemon *d;
        const struct tp_peer *peer;
        const struct tp_req_signin *req;
        const struct tp_signin_plan *plan;
        char *refresh;
        struct tp_reply *rep;
        bool made;   /* tokens made (and maybe a signature begun) */
        bool failed; /* ... or not: rep says why */
};

static int fast_make(void *ctx, struct tp_session *sess)
{
        struct fast_make *m = ctx;

        m->made = true;
        if (new_session(m->d, m->peer, m->req, m->plan, NULL, sess, m->refresh, m->rep))
                return 0;
        m->failed = true;
        return -EIO;
}

/* The sign-in when it needs nothing but its insert: the engine admits it
 * without evicting or expiring anything whenever fewer sessions than
 * tp_policy_room() are active and none is past expiry. The store checks
 * that and inserts: a fleet's under the cap's lock in one round trip,
 * one host's with a count instead of reading each session. 1: signed
 * in; 0: no room or something past expiry (nothing was changed: the
 * usual way decides); -ENOTCONN: the database went away, `sent` says
 * whether this sign-in may have reached it; < 0: failed, with rep
 * filled. */
static int signin_fast(struct tp_daemon *d, struct tp_store *store, const struct tp_peer *peer,
                       const struct tp_req_signin *req, struct tp_signin_plan *plan, struct sent_signin *sent,
                       struct tp_session *sess, char *refresh, struct tp_reply *rep)
{
        struct fast_make m = { .d = d, .peer = peer, .req = req, .plan = plan, .refresh = refresh, .rep = rep };
        size_t room = tp_policy_room(&plan->policy);
        bool inserted = false;
        int r;

        if (room == 0 || !tp_store_has_insert_under_cap(store))
                return 0;
        if (tp_plan_access(plan) != TP_VERDICT_ALLOW) /* with no sessions: its expiries */
                return 0;
        r = tp_store_insert_under_cap(store, plan->user, plan->client->name, room, plan->now, fast_make, &m, sess,
                                      &inserted);
        if (m.failed)
                return -EIO;
        if (r < 0) {
                drop_unsigned(d);
                if (tp_offline_now(d)) {
                        if (r != -ENOTCONN && m.made) { /* sent: its outcome is not known */
                                sent->sent = true;
                                sent->sess = *sess;
                                memcpy(sent->refresh, refresh, sizeof(sent->refresh));
                        }
                        return -ENOTCONN;
                }
                tp_reply_store_error(store, rep, r, "recording the session");
                return r;
        }
        if (inserted)
                return 1;
        drop_unsigned(d);
        memset(sess, 0, sizeof(*sess));
        tp_secret_wipe(refresh, TP_REFRESH_TOKEN_TEXT);
        memset(&rep->u, 0, sizeof(rep->u));
        return 0;
}

/* The sign-in's store work, against `store`: the daemon's, or while the
 * fleet's database cannot be reached, this host's own (offline.h). false
 * when the fleet's store failed because it went offline during it (the
 * caller tries again the offline way; nothing was done). */
static bool signin_in(struct tp_daemon *d, struct tp_store *store, const struct tp_peer *peer,
                      const struct tp_req_signin *req, struct tp_signin_plan *planp, struct sent_signin *sent,
                      struct tp_reply *rep)
{
        struct tp_signin_plan plan = *planp;
        const struct tp_signin_decision *dec = &plan.dec;
        const struct tp_effective_policy *p = &plan.policy;
        struct tp_session sess;
        char refresh[TP_REFRESH_TOKEN_TEXT];
        int64_t now = plan.now;
        bool local = store != d->store, done = true;
        int r;

        memset(&sess, 0, sizeof(sess));
        memset(refresh, 0, sizeof(refresh));
        if (!local && (r = signin_fast(d, store, peer, req, &plan, sent, &sess, refresh, rep)) != 0) {
                if (r > 0)
                        goto signed_in;
                if (r == -ENOTCONN)
                        done = false; /* the caller signs in the offline way */
                goto rollback;
        }
        if ((r = tp_store_begin(store)) < 0) {
                if (!local && tp_offline_now(d))
                        return false;
                tp_reply_store_error(store, rep, r, "begin");
                return true;
        }
        if (tp_plan_decide(&plan, store, TP_PLAN_REAP, tp_lifecycle_ghost_check, d, rep) < 0) {
                if (!local && tp_offline_now(d))
                        done = false;
                goto rollback;
        }
        if (dec->verdict != TP_VERDICT_ALLOW) {
                tp_plan_refusal(&plan, dec->verdict, rep);
                if (dec->verdict == TP_VERDICT_DENY_ACCESS)
                        audit_refusal(peer, req, rep, plan.client->name, "client type disabled");
                else if (dec->verdict == TP_VERDICT_DENY_CAP)
                        audit_refusal(peer, req, rep, plan.client->name,
                                      "session limit reached (evict = deny_new)");
                goto denied;
        }

        for (size_t i = 0; i < dec->n_expired; i++) {
                const struct tp_session *old = &plan.sessions[dec->expired[i]];

                if ((r = tp_store_end(store, old->id, TP_STATE_EXPIRED, old->refresh_expires)) < 0) {
                        tp_reply_store_error(store, rep, r, "expiring a session");
                        goto rollback;
                }
        }
        if (!new_session(d, peer, req, &plan, local ? sent : NULL, &sess, refresh, rep))
                goto rollback;
        for (size_t i = 0; i < dec->n_evict; i++) {
                struct tp_session *victim = &plan.sessions[dec->evict[i]];

                /* Held when it waits for the outcome: in a fleet its host
                 * is told only once the eviction stands. */
                r = req->flags & TP_SIGNIN_OUTCOME ? tp_store_end_held(store, victim->id, now)
                                                   : tp_store_end(store, victim->id, TP_STATE_REVOKED, now);
                if (r < 0) {
                        tp_reply_store_error(store, rep, r, "evicting a session");
                        goto rollback;
                }
                victim->state = TP_STATE_REVOKED;
                victim->ended = now;
        }
        if ((r = tp_store_insert(store, &sess)) < 0) {
                tp_reply_store_error(store, rep, r, "recording the session");
                goto rollback;
        }
        if ((r = tp_store_commit(store)) < 0) {
                tp_reply_store_error(store, rep, r, "commit");
                goto rollback;
        }
signed_in:

        if (local)
                tp_offline_signed_in(d, &sess);
        signin_effects(d, req, &plan, &sess, rep);
        copy_str(rep->u.tokens.session_id, sizeof(rep->u.tokens.session_id), sess.id);
        copy_str(rep->u.tokens.client, sizeof(rep->u.tokens.client), plan.client->name);
        copy_str(rep->u.tokens.refresh_token, sizeof(rep->u.tokens.refresh_token), refresh);
        rep->u.tokens.refresh_expires = sess.refresh_expires;
        rep->u.tokens.access_expires = dec->access_expires;
        rep->u.tokens.auto_extend = p->auto_extend;
        const char *alone = local ? " On this host alone: the fleet's database cannot be reached, and its "
                                    "limit applies when it returns." : "";
        if (dec->n_evict > 0)
                tp_reply_status(rep, TP_STATUS_OK,
                                "Signed in; %zu older %s session(s) signed out to stay within the limit of %u.%s",
                                dec->n_evict, plan.client->name, p->max_refresh_tokens, alone);
        else
                tp_reply_status(rep, TP_STATUS_OK, "Signed in.%s", alone);
        goto out;

denied:
        /* Keep the ghosts closed even though this sign-in was refused. */
        if (plan.n_ghosts > 0 && tp_store_commit(store) >= 0) {
                audit_ghosts(d, &plan);
                memset(&rep->u, 0, sizeof(rep->u));
                goto out;
        }
rollback:
        tp_store_rollback(store);
        memset(&rep->u, 0, sizeof(rep->u));
out:
        tp_secret_wipe(refresh, sizeof(refresh));
        *planp = plan;
        return done;
}

static void handle_open(struct tp_daemon *d, const struct tp_peer *peer,
                        const struct tp_req_signin *req, struct tp_reply *rep)
{
        struct tp_signin_plan plan;
        struct sent_signin sent = { .sent = false };
        struct tp_store *local;
        int64_t now = now_wall();

        tp_plan_init(&plan, req, now);
        if (!tp_plan_tag(&plan, d->config, rep)) {
                audit_untagged(peer, req, rep);
                return;
        }
        if (!tp_plan_account(&plan)) {
                tp_reply_status(rep, TP_STATUS_DENIED, "Unknown user '%s'.", req->user);
                audit_refusal(peer, req, rep, plan.client->name, "unknown user");
                return;
        }
        if (!account_usable(peer, req, &plan, true, rep))
                return;
        /* A password changed since the last look ends the sessions it
         * ends now, before this one (signed in with the new password)
         * exists. */
        tp_accounts_signing_in(d, plan.user);

        if (!tp_offline_now(d) && signin_in(d, d->store, peer, req, &plan, &sent, rep))
                goto out;
        /* The fleet's database is away (or just went): on_store_unreachable. */
        tp_plan_free(&plan);
        plan.n_ghosts = 0;
        memset(&plan.dec, 0, sizeof(plan.dec));
        memset(&rep->u, 0, sizeof(rep->u));
        if (plan.policy.deny_when_store_unreachable) {
                tp_offline_refusal(d, plan.client->name, rep);
                audit_refusal(peer, req, rep, plan.client->name, "the fleet's database cannot be reached");
                goto out;
        }
        if (!(local = tp_offline_store(d, rep)))
                goto out;
        (void) signin_in(d, local, peer, req, &plan, &sent, rep);
out:
        if (sent.sent && rep->status == TP_STATUS_OK && strcmp(rep->u.tokens.session_id, sent.sess.id) == 0) {
                tp_log(LOG_INFO, "session %s: its sign-in was sent to the fleet's database as it went away, which may have recorded it; signed in on this host alone as that same session, so that it counts once",
                       sent.sess.id);
        } else if (sent.sent) {
                tp_log(LOG_INFO, "session %s: its sign-in was sent to the fleet's database as it went away, which may have recorded it, and was refused here; it is closed there when the database answers again",
                       sent.sess.id);
                tp_offline_doubtful(d, &sent.sess);
        }
        tp_secret_wipe(&sent, sizeof(sent));
        tp_plan_free(&plan);
}

/* Fetch the session a CLOSE/REAUTH/REFRESH names and check the caller may
 * use it. Returns false with rep filled when not. */
static bool load_session_for(struct tp_store *store, const struct tp_peer *peer,
                             const struct tp_req_session *req, struct tp_session *s,
                             struct tp_reply *rep)
{
        uint8_t hash[TP_SHA256_LEN];
        char who[32];
        uid_t uid;
        int r;

        r = tp_store_get(store, req->session_id, s);
        if (r >= 0 && !tp_rights_owns(peer, s->uid))
                tp_audit(&(struct tp_audit){ .event = "deny", .user = s->user, .client = s->client,
                                             .session = s->id, .reason = "session of another user",
                                             .peer_uid = (long)peer->uid });
        if (r == -ENOENT || (r >= 0 && !tp_rights_owns(peer, s->uid))) {
                /* Same answer for "absent" and "not yours": ids are not an oracle. */
                tp_reply_status(rep, TP_STATUS_NOT_FOUND, "No session %s for %s.", req->session_id,
                                peer_user_or_uid(peer, who, sizeof(who)));
                return false;
        }
        if (r < 0) {
                tp_reply_store_error(store, rep, r, "reading a session");
                return false;
        }
        if (req->user[0] && (tp_account_uid(req->user, &uid) < 0 || uid != (uid_t)s->uid)) {
                tp_reply_status(rep, TP_STATUS_NOT_FOUND, "Session %s does not belong to %s.",
                                req->session_id, req->user);
                return false;
        }
        /* Root may act on any session by id; the token binds a user's own
         * request to the handle that holds it. A token rotated by a later
         * re-authentication must not stop root's PAM stack from signing out. */
        if (req->refresh_token[0] && !peer->admin) {
                if (tp_refresh_token_hash(req->refresh_token, hash) < 0 ||
                    !tp_hash_equal(hash, s->refresh_hash)) {
                        tp_reply_status(rep, TP_STATUS_FORBIDDEN,
                                        "The refresh token presented for session %s is not the current one.",
                                        req->session_id);
                        return false;
                }
        }
        return true;
}

/* Who may end a session by signing out. The PAM application that opened
 * it runs as root (only an administrator may open); a user who could sign
 * out a session that still runs would free it from every rule: closed, it
 * no longer counts against the cap, nor is it revoked, expired or
 * enforced. So a user may close only a session whose processes are gone
 * (a ghost, as the sweep would close it); to end a running one, they
 * revoke it, which applies on_revoke to what runs. */
static bool may_close(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_session *s)
{
        return peer->admin || tp_lifecycle_is_ghost(d, s);
}

/* Returns true when it audited a refusal itself (with the session's
 * details), so the generic one is not written as well. */
static bool handle_close(struct tp_daemon *d, const struct tp_peer *peer,
                         const struct tp_req_session *req, struct tp_reply *rep)
{
        /* Signed in while the fleet's database was away: on this host (offline.h). */
        struct tp_store *store = tp_offline_store_for(d, req->session_id);
        struct tp_session s;
        uid_t uid;
        int r;

        /* Root's sign-out of an active session (its PAM stack's, as a
         * rule) needs nothing of it checked first but its user: a fleet's
         * store ends it and returns it in one round trip. Whatever it did
         * not end (absent, ended, another user's) goes the usual way,
         * which says why. */
        if (peer->admin && store == d->store && tp_store_has_sign_out_returning(store) &&
            (!req->user[0] || tp_account_uid(req->user, &uid) >= 0)) {
                r = tp_store_sign_out_returning(store, req->session_id, req->user[0] ? (int64_t)uid : -1,
                                                TP_STATE_CLOSED, now_wall(), &s);
                if (r >= 0)
                        goto closed;
                if (r != -ENOENT && r != -ESTALE) {
                        tp_reply_store_error(store, rep, r, "closing a session");
                        return false;
                }
        }
        if (!load_session_for(store, peer, req, &s, rep))
                return false;
        if (s.state != TP_STATE_ACTIVE) {
                tp_reply_status(rep, TP_STATUS_NOT_FOUND, "Session %s already ended (%s).", s.id,
                                tp_state_name(s.state));
                return false;
        }
        if (!may_close(d, peer, &s)) {
                tp_reply_status(rep, TP_STATUS_FORBIDDEN,
                                "Session %s is still running: only root may sign it out. To end it, revoke it (tokenpolicyctl revoke %s).",
                                s.id, s.id);
                tp_audit(&(struct tp_audit){ .event = "deny", .user = s.user, .client = s.client,
                                             .service = s.service, .session = s.id,
                                             .reason = "sign-out refused: the session is still running",
                                             .peer_uid = (long)peer->uid });
                return true;
        }
        /* A sign-out need not wait for the disk (tp_store_sign_out). */
        if ((r = tp_store_sign_out(store, s.id, TP_STATE_CLOSED, now_wall())) < 0) {
                tp_reply_store_error(store, rep, r, "closing a session");
                return false;
        }
closed:
        tp_lifecycle_ended(d, s.id);
        tp_audit(&(struct tp_audit){ .event = "close", .user = s.user, .client = s.client,
                                     .service = s.service, .session = s.id,
                                     .reason = peer->admin ? "signed out" : "signed out by its user; its processes are gone",
                                     .peer_uid = (long)peer->uid });
        tp_reply_status(rep, TP_STATUS_OK, "Signed out.");
        return false;
}

/* Re-authentication and silent refresh share everything but the rule. */
static void handle_extend(struct tp_daemon *d, const struct tp_peer *peer,
                          const struct tp_req_session *req, bool reauth, struct tp_reply *rep)
{
        /* Signed in while the fleet's database was away: on this host (offline.h). */
        struct tp_store *store = tp_offline_store_for(d, req->session_id);
        const struct tp_client_config *cl;
        struct tp_effective_policy p;
        struct tp_extend_decision dec;
        struct tp_policy_session view;
        struct tp_session s;
        char refresh[TP_REFRESH_TOKEN_TEXT];
        const char *event = reauth ? "reauth" : "refresh";
        int64_t now = now_wall();
        int r;

        memset(refresh, 0, sizeof(refresh));
        if (!load_session_for(store, peer, req, &s, rep))
                return;
        cl = tp_config_client(d->config, s.client);
        if (!cl) {
                tp_reply_status(rep, TP_STATUS_DENIED,
                                "Client type '%s' of session %s is no longer defined; sign in again.",
                                s.client, s.id);
                return;
        }
        tp_config_effective(d->config, cl, &p);
        tp_session_view(&s, &view);
        memset(&dec, 0, sizeof(dec));
        if (reauth)
                tp_policy_reauth(&p, now, &view, &dec);
        else
                tp_policy_refresh(&p, now, &view, tp_account_valid(s.user, now), &dec);

        if (dec.verdict == TP_VERDICT_DENY_EXPIRED) {
                /* Noticed here before the expiry timer came round to it. */
                bool ended = false;

                if (s.state == TP_STATE_ACTIVE && tp_store_begin(store) >= 0) {
                        if (tp_store_end(store, s.id, TP_STATE_EXPIRED, s.refresh_expires) < 0 ||
                            tp_store_commit(store) < 0)
                                tp_store_rollback(store);
                        else
                                ended = true;
                }
                if (ended) {
                        tp_lifecycle_ended(d, s.id);
                        tp_audit(&(struct tp_audit){ .event = "expire", .user = s.user, .client = s.client,
                                                     .service = s.service, .session = s.id,
                                                     .reason = "refresh token expired",
                                                     .peer_uid = (long)peer->uid });
                        tp_lifecycle_enforce(d, &s, true, "refresh token expired");
                }
                tp_reply_status(rep, TP_STATUS_EXPIRED, "Your %s sign-in has expired; sign in again.", s.client);
                return;
        }
        if (dec.verdict == TP_VERDICT_DENY_INACTIVE && s.state == TP_STATE_EXPIRED) {
                /* Expired by the schedule before this unlock or refresh:
                 * the same answer as when it is noticed here. */
                tp_reply_status(rep, TP_STATUS_EXPIRED, "Your %s sign-in has expired; sign in again.", s.client);
                return;
        }
        if (dec.verdict == TP_VERDICT_DENY_INACTIVE) {
                tp_reply_status(rep, TP_STATUS_NOT_FOUND, "Session %s is %s; sign in again.", s.id,
                                tp_state_name(s.state));
                return;
        }
        if (dec.verdict == TP_VERDICT_DENY_ACCESS) {
                tp_reply_status(rep, TP_STATUS_DENIED,
                                "Sign-in from %s clients is disabled by your administrator.", s.client);
                tp_audit(&(struct tp_audit){ .event = "deny", .user = s.user, .client = s.client,
                                             .service = s.service, .session = s.id,
                                             .reason = "client type disabled", .peer_uid = (long)peer->uid });
                return;
        }
        if (dec.verdict != TP_VERDICT_ALLOW) {
                tp_reply_status(rep, TP_STATUS_DENIED, "Refresh denied: %s.", tp_verdict_reason(dec.verdict));
                tp_audit(&(struct tp_audit){ .event = "deny", .user = s.user, .client = s.client,
                                             .service = s.service, .session = s.id,
                                             .reason = tp_verdict_reason(dec.verdict), .peer_uid = (long)peer->uid });
                return;
        }

        /* A refresh soon after the last recorded use writes nothing
         * (dec.record false): a user's refresh loop must not force a
         * durable write per request. */
        if (dec.record && (r = tp_store_begin(store)) < 0) {
                tp_reply_store_error(store, rep, r, "begin");
                return;
        }
        r = 0;
        if (dec.rotate) {
                if ((r = tp_refresh_token_new(refresh, s.refresh_hash)) < 0) {
                        tp_store_rollback(store);
                        tp_reply_status(rep, TP_STATUS_ERROR, "Cannot generate tokens: %s.", strerror(-r));
                        return;
                }
                s.refresh_expires = dec.refresh_expires;
                r = tp_store_extend(store, s.id, s.refresh_hash, dec.refresh_expires, now);
        } else if (dec.record) {
                r = tp_store_touch(store, s.id, now);
        }
        if (r >= 0)
                r = sign_access_token(d, &s, now, dec.access_expires, rep->u.tokens.access_token,
                                      sizeof(rep->u.tokens.access_token));
        if (r < 0 || (dec.record && (r = tp_store_commit(store)) < 0)) {
                if (dec.record)
                        tp_store_rollback(store);
                memset(&rep->u, 0, sizeof(rep->u));
                tp_secret_wipe(refresh, sizeof(refresh));
                tp_reply_store_error(store, rep, r, event);
                return;
        }
        if (dec.rotate)
                tp_lifecycle_schedule(d, s.id, s.refresh_expires);
        tp_audit(&(struct tp_audit){ .event = event, .user = s.user, .client = s.client,
                                     .service = s.service, .session = s.id,
                                     .reason = dec.rotate ? "new refresh token issued" : "access token issued",
                                     .peer_uid = (long)peer->uid });
        copy_str(rep->u.tokens.session_id, sizeof(rep->u.tokens.session_id), s.id);
        copy_str(rep->u.tokens.client, sizeof(rep->u.tokens.client), s.client);
        copy_str(rep->u.tokens.refresh_token, sizeof(rep->u.tokens.refresh_token), refresh);
        rep->u.tokens.refresh_expires = s.refresh_expires;
        rep->u.tokens.access_expires = dec.access_expires;
        rep->u.tokens.auto_extend = p.auto_extend;
        tp_reply_status(rep, TP_STATUS_OK, dec.rotate ? "New refresh and access tokens issued."
                                                      : "New access token issued.");
        tp_secret_wipe(refresh, sizeof(refresh));
}

static void handle_status(struct tp_daemon *d, struct tp_reply *rep)
{
        struct tp_rep_status *st = &rep->u.status;
        struct tp_audit_stats audit;
        uint64_t active = 0;
        int r;

        uint32_t hosts = 1;
        bool fleet = d->host_id[0] != '\0';

        /* A fleet's database may be away: say so rather than fail. */
        r = tp_store_fleet_status(d->store, &hosts);
        if (r >= 0)
                r = tp_store_count_active(d->store, &active);
        if (r < 0 && !fleet) {
                tp_reply_store_error(d->store, rep, r, "counting sessions");
                return;
        }
        st->store_backend = fleet ? TP_STORE_KIND_POSTGRESQL : TP_STORE_KIND_SQLITE;
        st->store_connected = r >= 0;
        st->store_offline_since = tp_store_offline_since(d->store, st->store_error, sizeof(st->store_error));
        st->unsynced = d->n_unsynced;
        st->hosts = r >= 0 ? hosts : 0;
        copy_str(st->host_id, sizeof(st->host_id), d->host_id);
        copy_str(st->version, sizeof(st->version), TP_VERSION);
        st->pid = (uint32_t)getpid();
        st->started = d->started;
        st->config_loaded = d->config_loaded;
        copy_str(st->config_path, sizeof(st->config_path), d->config_path);
        st->active_sessions = active;
        st->n_clients = (uint32_t)d->config->n_clients;
        /* -- the audit trail (log.c) -- */
        tp_audit_stats(&audit);
        copy_str(st->audit_sink, sizeof(st->audit_sink), audit.sink);
        st->audit_queued = audit.queued;
        st->audit_lost = audit.lost;
        st->audit_suppressed = audit.suppressed;
        st->config_state = d->config_state;
        copy_str(st->config_source, sizeof(st->config_source), d->config->path);
        copy_str(st->config_errors, sizeof(st->config_errors), d->config_errors ? d->config_errors : "");
        tp_reply_status(rep, TP_STATUS_OK, "running");
}

/* Sessions one LIST request may look at: a filter few sessions match
 * costs a request no more than this, however long the history (and a
 * user may send RATE_PER_SECOND requests a second at most). */
#define LIST_BUDGET 1024

static void handle_list(struct tp_daemon *d, const struct tp_peer *peer,
                        const struct tp_req_list *req, struct tp_reply *rep)
{
        struct tp_store_filter f = { .user = req->user, .client = req->client,
                                     .all = (req->flags & TP_LIST_ALL) != 0 };
        struct tp_store_list_pos after, next;
        struct tp_session *rows = NULL;
        bool more = false;
        size_t n = 0;
        int r;

        /* Another user's filter is refused before this (request.c): theirs
         * is the only user they may list, named or not. */
        if (!peer->admin)
                f.user = peer->user;
        /* The cursor is one this daemon handed out: its seq is a row number. */
        if (req->after.seq > INT64_MAX) {
                tp_reply_status(rep, TP_STATUS_BAD_REQUEST, "The listing cursor is not one tokenpolicyd gave.");
                return;
        }
        after = (struct tp_store_list_pos){ req->after.state, req->after.created, (int64_t)req->after.seq };
        /* A store of one host holds this host's sessions only. */
        if (req->host[0] && !d->host_id[0] && strcmp(req->host, d->display_host) != 0) {
                tp_reply_status(rep, TP_STATUS_OK, "0 session(s); this host is %s", d->display_host);
                return;
        }
        f.host = d->host_id[0] ? req->host : NULL;
        r = tp_store_list_page(d->store, &f, (req->flags & TP_LIST_AFTER) ? &after : NULL,
                               TP_LIST_PAGE_MAX, LIST_BUDGET, &rows, &n, &next, &more);
        if (r < 0) {
                tp_reply_store_error(d->store, rep, r, "listing sessions");
                return;
        }
        for (size_t i = 0; i < n && i < TP_LIST_PAGE_MAX; i++) {
                tp_session_to_info(&rows[i], &rep->u.list.sessions[i]);
                copy_str(rep->u.list.hosts[i], sizeof(rep->u.list.hosts[i]),
                         rows[i].host[0] ? rows[i].host : d->display_host);
        }
        rep->u.list.count = (uint32_t)(n < TP_LIST_PAGE_MAX ? n : TP_LIST_PAGE_MAX);
        rep->u.list.more = more;
        if (more)
                rep->u.list.next = (struct tp_list_cursor){ next.state, next.created, (uint64_t)next.seq };
        free(rows);
        tp_reply_status(rep, TP_STATUS_OK, "%zu session(s)%s", n, more ? "; more follow" : "");
}

/* The sessions a REVOKE names, read before anything changes: one by id;
 * a user's (of one client type or all); every user's of one client type
 * (root, checked in request.c); or with TP_REVOKE_OTHERS all of a
 * session's user but that session ("sign out everywhere else"). Returns
 * false with rep filled when there is nothing to revoke or no right. */
static bool revoke_targets(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_req_revoke *req,
                           struct tp_session **ret_rows, size_t *ret_n, char ret_user[static TP_USER_MAX],
                           struct tp_reply *rep)
{
        struct tp_store_filter f = { .user = req->user, .client = req->client, .all = false };
        bool others = (req->flags & TP_REVOKE_OTHERS) != 0;
        struct tp_session one, *rows = NULL;
        size_t n = 0, total = 0, kept = 0;
        int r;

        if (others && (!req->session_id[0] || req->user[0] || req->client[0])) {
                tp_reply_status(rep, TP_STATUS_BAD_REQUEST,
                                "Revoking the other sessions takes the current session's id, and no user or client type.");
                return false;
        }
        if (!req->session_id[0] && !req->user[0] && !req->client[0]) {
                tp_reply_status(rep, TP_STATUS_BAD_REQUEST, "Name a session id, a user or a client type to revoke.");
                return false;
        }
        if (req->session_id[0]) {
                r = tp_store_get(d->store, req->session_id, &one);
                if (r == -ENOENT || (r >= 0 && !tp_rights_owns(peer, one.uid))) {
                        tp_reply_status(rep, TP_STATUS_NOT_FOUND, "No session %s.", req->session_id);
                        return false;
                }
                if (r < 0) {
                        tp_reply_store_error(d->store, rep, r, "reading a session");
                        return false;
                }
                if (!others && one.state != TP_STATE_ACTIVE) {
                        tp_reply_status(rep, TP_STATUS_NOT_FOUND, "Session %s already ended (%s).", one.id,
                                        tp_state_name(one.state));
                        return false;
                }
        }
        if (req->session_id[0] && !others) {
                rows = malloc(sizeof(*rows));
                if (!rows) {
                        tp_reply_status(rep, TP_STATUS_ERROR, "Out of memory.");
                        return false;
                }
                rows[0] = one;
                *ret_rows = rows;
                *ret_n = 1;
                return true;
        }
        /* Another user's name, or every user's, is refused before this
         * (request.c). */
        if (others)
                f.user = one.user;
        copy_str(ret_user, TP_USER_MAX, f.user);
        r = tp_store_query(d->store, &f, 0, SIZE_MAX, &rows, &n, &total);
        if (r < 0) {
                tp_reply_store_error(d->store, rep, r, "listing sessions");
                return false;
        }
        for (size_t i = 0; i < n; i++)
                if (!others || strcmp(rows[i].id, one.id) != 0)
                        rows[kept++] = rows[i];
        *ret_rows = rows;
        *ret_n = kept;
        return true;
}

static void handle_revoke(struct tp_daemon *d, const struct tp_peer *peer,
                          const struct tp_req_revoke *req, struct tp_reply *rep)
{
        bool others = (req->flags & TP_REVOKE_OTHERS) != 0;
        struct tp_session *rows = NULL;
        char user[TP_USER_MAX] = "";
        int64_t now = now_wall();
        const char *why;
        size_t n = 0;
        int r;

        if (!revoke_targets(d, peer, req, &rows, &n, user, rep))
                return;
        if (others)
                why = peer->admin ? "signed out everywhere else by administrator"
                                  : "signed out everywhere else by its user";
        else
                why = peer->admin ? "revoked by administrator" : "revoked by its user";
        r = tp_lifecycle_revoke(d, rows, n, why, (long)peer->uid);
        free(rows);
        if (r < 0) {
                tp_reply_store_error(d->store, rep, r, "revoking sessions");
                return;
        }
        /* By filter, in a fleet: also the sessions of that filter that a
         * host unable to reach the database signed in before now, which
         * it will upload later (offline.c). */
        if (d->host_id[0] && (!req->session_id[0] || others)) {
                int k = tp_store_begin(d->store);

                if (k >= 0 && ((k = tp_store_record_revocation(d->store, user, req->client, now)) < 0 ||
                               (k = tp_store_commit(d->store)) < 0))
                        tp_store_rollback(d->store);
                if (k < 0)
                        tp_log_errno(k, "Failed to record the revocation for hosts that cannot reach the fleet's database now (%s); sessions they signed in meanwhile stay active",
                                     tp_store_errmsg(d->store));
        }
        rep->u.revoke.revoked = (uint32_t)r;
        tp_reply_status(rep, TP_STATUS_OK, "Revoked %d session(s).", r);
}

/* How the PAM handle of a sign-in ended (PROTOCOL.md, outcome). Completed:
 * what it evicted is ended now. Failed (a later module of the session
 * stack refused, and the application ended the handle with that failure):
 * the session it opened is closed and the sessions it evicted whose
 * enforcement still waits are active again, so the user keeps the working
 * session they had. The cap holds throughout: the new session is closed in
 * the same transaction that reinstates them. */
static void handle_outcome(struct tp_daemon *d, const struct tp_peer *peer,
                           const struct tp_req_outcome *req, struct tp_reply *rep)
{
        /* Signed in while the fleet's database was away: on this host (offline.h). */
        struct tp_store *store = tp_offline_store_for(d, req->session_id);
        struct tp_session s, *victims = NULL;
        size_t n = 0, n_back = 0, room = 0;
        bool *over = NULL;
        char why[TP_SERVICE_MAX + 128];
        int r;

        r = tp_store_get(store, req->session_id, &s);
        if (r == -ENOENT) {
                tp_reply_status(rep, TP_STATUS_NOT_FOUND, "No session %s.", req->session_id);
                return;
        }
        if (r < 0) {
                tp_reply_store_error(store, rep, r, "reading a session");
                return;
        }
        if (req->completed) {
                rep->u.outcome.enforced = (uint32_t)tp_lifecycle_outcome_confirm(d, s.id);
                tp_reply_status(rep, TP_STATUS_OK, "Sign-in completed; %u evicted session(s) ended.",
                                rep->u.outcome.enforced);
                return;
        }
        if ((r = tp_lifecycle_outcome_pending(d, s.id, &victims, &n)) < 0 ||
            (n > 0 && !(over = calloc(n, sizeof(*over))))) {
                free(victims);
                tp_reply_status(rep, TP_STATUS_ERROR, "Out of memory.");
                return;
        }
        if ((r = tp_store_begin(store)) < 0) {
                free(victims);
                tp_reply_store_error(store, rep, r, "begin");
                return;
        }
        r = tp_store_end(store, s.id, TP_STATE_CLOSED, now_wall());
        if (r == -ESTALE)
                r = 0; /* ended already (revoked meanwhile, say): nothing to close */
        /* Room under the cap: another sign-in may have taken a place since. */
        if (r >= 0 && n > 0) {
                const struct tp_client_config *cl = tp_config_client(d->config, s.client);
                struct tp_effective_policy p = { .max_refresh_tokens = 0 };
                struct tp_session *active = NULL;
                size_t n_active = 0;

                if (cl)
                        tp_config_effective(d->config, cl, &p);
                if ((r = tp_store_list_active(store, s.user, s.client, &active, &n_active)) >= 0)
                        room = p.max_refresh_tokens > n_active ? p.max_refresh_tokens - n_active : 0;
                free(active);
        }
        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (n_back >= room) {
                        over[i] = true; /* no room: the eviction stands */
                        continue;
                }
                r = tp_store_reinstate(store, victims[i].id);
                if (r == -ESTALE || r == -ENOENT) {
                        victims[i].id[0] = '\0'; /* revoked again since, or purged: it stays so */
                        r = 0;
                } else if (r >= 0) {
                        n_back++;
                }
        }
        if (r < 0 || (r = tp_store_commit(store)) < 0) {
                tp_store_rollback(store);
                free(victims);
                free(over);
                tp_reply_store_error(store, rep, r, "undoing the sign-in");
                return;
        }
        tp_lifecycle_outcome_forget(d, s.id);
        if (s.state == TP_STATE_ACTIVE) {
                tp_lifecycle_ended(d, s.id);
                snprintf(why, sizeof(why), "a later module of the %s session stack failed; %zu evicted session(s) reinstated",
                         s.service, n_back);
                tp_audit(&(struct tp_audit){ .event = "signin-failed", .user = s.user, .client = s.client,
                                             .service = s.service, .session = s.id, .reason = why,
                                             .peer_uid = (long)peer->uid });
        }
        for (size_t i = 0; i < n; i++) {
                if (!victims[i].id[0])
                        continue;
                if (over[i]) {
                        tp_lifecycle_enforce(d, &victims[i], false, "signed out at the session limit");
                        continue;
                }
                tp_lifecycle_schedule(d, victims[i].id, victims[i].refresh_expires);
                tp_audit(&(struct tp_audit){ .event = "reinstate", .user = victims[i].user,
                                             .client = victims[i].client, .service = victims[i].service,
                                             .session = victims[i].id, .evicted_by = s.id,
                                             .reason = "the sign-in that evicted it failed",
                                             .peer_uid = (long)peer->uid });
        }
        free(victims);
        free(over);
        rep->u.outcome.reinstated = (uint32_t)n_back;
        tp_reply_status(rep, TP_STATUS_OK, "Sign-in failed: session %s closed, %zu evicted session(s) reinstated.",
                        s.id, n_back);
}

static void join_errors(const struct tp_config_errors *errs, char *out, size_t outsz)
{
        size_t pos = 0;

        out[0] = '\0';
        for (size_t i = 0; i < errs->n && pos + 1 < outsz; i++) {
                int w = snprintf(out + pos, outsz - pos, "%s%s", i ? "\n" : "", errs->messages[i]);
                if (w < 0)
                        break;
                pos += (size_t)w;
        }
}

static void handle_reload(struct tp_daemon *d, struct tp_reply *rep)
{
        struct tp_config_errors errs = { 0 };
        char text[TP_MESSAGE_MAX];
        int r;

        r = tp_control_reload(d, &errs);
        if (r < 0) {
                join_errors(&errs, text, sizeof(text));
                tp_reply_status(rep, TP_STATUS_ERROR, "%s\nThe running policy was kept.", text);
        } else if (r > 0) {
                tp_reply_status(rep, TP_STATUS_OK,
                                "Configuration reloaded from %s; %d running session(s) of disabled client types revoked.",
                                d->config_path, r);
        } else {
                tp_reply_status(rep, TP_STATUS_OK, "Configuration reloaded from %s.", d->config_path);
        }
        tp_config_errors_clear(&errs);
}

static void token_values(const struct tp_client_config *cl, struct tp_token_values *v)
{
        v->auto_extend = cl->auto_extend;
        v->refresh_ttl_hours = cl->refresh_ttl_hours;
        v->access_ttl_minutes = cl->access_ttl_minutes;
        v->max_refresh_tokens = cl->max_refresh_tokens;
}

static void handle_policy(struct tp_daemon *d, struct tp_reply *rep)
{
        const struct tp_config *c = d->config;
        struct tp_rep_policy *pol = &rep->u.policy;

        pol->custom_token_policy = c->custom_token_policy;
        copy_str(pol->unknown_client, sizeof(pol->unknown_client),
                 c->unknown_client >= 0 ? c->clients[c->unknown_client].name : "deny");
        copy_str(pol->config_path, sizeof(pol->config_path), d->config_path);
        for (size_t i = 0; i < c->n_clients && i < TP_POLICY_CLIENTS_MAX; i++) {
                const struct tp_client_config *cl = &c->clients[i];
                struct tp_policy_client *out = &pol->clients[i];
                struct tp_effective_policy eff;
                size_t pos = 0;

                tp_config_effective(c, cl, &eff);
                copy_str(out->name, sizeof(out->name), cl->name);
                out->access = eff.access;
                token_values(cl, &out->configured);
                out->effective.auto_extend = eff.auto_extend;
                out->effective.refresh_ttl_hours = eff.refresh_ttl_hours;
                out->effective.access_ttl_minutes = eff.access_ttl_minutes;
                out->effective.max_refresh_tokens = eff.max_refresh_tokens;
                out->evict = (uint8_t)eff.evict;
                out->on_expiry = (uint8_t)eff.on_expiry;
                out->on_revoke = (uint8_t)eff.on_revoke;
                out->idle = (struct tp_idle_values){ .idle_timeout_minutes = eff.idle_timeout_minutes,
                                                     .on_idle = (uint8_t)eff.on_idle,
                                                     .warn_before_minutes = eff.warn_before_minutes };
                for (size_t j = 0; j < cl->n_services; j++) {
                        int w = snprintf(out->services + pos, sizeof(out->services) - pos, "%s%s",
                                         j ? "," : "", cl->services[j]);
                        if (w < 0 || (size_t)w >= sizeof(out->services) - pos)
                                break;
                        pos += (size_t)w;
                }
                pol->n_clients = (uint8_t)(i + 1);
        }
        tp_reply_status(rep, TP_STATUS_OK, "policy from %s", d->config_path);
}

/* ---- entry points from the request table (request.c) --------------- */

void tp_handle_access(struct tp_call *c)
{
        handle_access(c->d, c->peer, &c->req->u.signin, c->rep);
}

void tp_handle_open(struct tp_call *c)
{
        handle_open(c->d, c->peer, &c->req->u.signin, c->rep);
}

void tp_handle_close(struct tp_call *c)
{
        c->refusal_audited = handle_close(c->d, c->peer, &c->req->u.session, c->rep);
}

void tp_handle_reauth(struct tp_call *c)
{
        handle_extend(c->d, c->peer, &c->req->u.session, true, c->rep);
}

void tp_handle_refresh(struct tp_call *c)
{
        handle_extend(c->d, c->peer, &c->req->u.session, false, c->rep);
}

/* Hosts per HOSTS reply. */
static void handle_hosts(struct tp_daemon *d, const struct tp_req_hosts *req, struct tp_reply *rep)
{
        struct tp_rep_hosts *h = &rep->u.hosts;
        struct tp_store_host *rows = NULL;
        size_t n = 0;
        int r;

        r = tp_store_hosts_page(d->store, req->after, TP_HOSTS_PAGE_MAX + 1, &rows, &n);
        if (r == -EOPNOTSUPP) {
                tp_reply_status(rep, TP_STATUS_BAD_REQUEST,
                                "This daemon is not part of a fleet: its sessions are in SQLite "
                                "(store.backend = \"sqlite\"); see tokenpolicy-fleet(7).");
                return;
        }
        if (r < 0) {
                tp_reply_store_error(d->store, rep, r, "listing the fleet's hosts");
                return;
        }
        h->more = n > TP_HOSTS_PAGE_MAX;
        h->count = (uint32_t)(n > TP_HOSTS_PAGE_MAX ? TP_HOSTS_PAGE_MAX : n);
        for (size_t i = 0; i < h->count; i++) {
                struct tp_host_info *o = &h->hosts[i];

                copy_str(o->id, sizeof(o->id), rows[i].id);
                copy_str(o->name, sizeof(o->name), rows[i].name);
                o->last_seen = rows[i].last_seen;
                o->active_sessions = rows[i].active_sessions;
                copy_str(o->policy_digest, sizeof(o->policy_digest), rows[i].policy_digest);
                o->policy_differs = rows[i].policy_differs;
        }
        free(rows);
        tp_reply_status(rep, TP_STATUS_OK, "%u host(s)%s", h->count, h->more ? "; more follow" : "");
}

void tp_handle_hosts(struct tp_call *c)
{
        handle_hosts(c->d, &c->req->u.hosts, c->rep);
}

void tp_handle_status(struct tp_call *c)
{
        handle_status(c->d, c->rep);
}

void tp_handle_list(struct tp_call *c)
{
        handle_list(c->d, c->peer, &c->req->u.list, c->rep);
}

void tp_handle_revoke(struct tp_call *c)
{
        handle_revoke(c->d, c->peer, &c->req->u.revoke, c->rep);
}

void tp_handle_reload(struct tp_call *c)
{
        handle_reload(c->d, c->rep);
}

void tp_handle_policy(struct tp_call *c)
{
        handle_policy(c->d, c->rep);
}

void tp_handle_outcome(struct tp_call *c)
{
        handle_outcome(c->d, c->peer, &c->req->u.outcome, c->rep);
}
