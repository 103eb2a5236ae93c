/* handlers.c: what each request means.
 *
 * The only place that combines the config, the policy engine, the store and
 * the token signer. Every mutation runs in one store transaction that is
 * committed (durable) before the reply is built, so nothing is acknowledged
 * that a crash could lose. Rights are checked here, from the peer's
 * SO_PEERCRED identity, before anything is read or changed. Secrets (refresh
 * tokens) go only into replies, never into logs.
 */
#include "daemon.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "log.h"
#include "mapfile.h"
#include "notify.h"
#include "policy.h"

void tp_reply_status(struct tp_reply *rep, uint8_t status, const char *fmt, ...)
{
        va_list ap;

        rep->status = status;
        va_start(ap, fmt);
        vsnprintf(rep->message, sizeof(rep->message), fmt, ap);
        va_end(ap);
}

void tp_reply_store_error(struct tp_daemon *d, struct tp_reply *rep, int r, const char *what)
{
        tp_log(LOG_ERR, "session store: %s failed: %s (%s)", what, strerror(-r),
               tp_store_errmsg(d->store));
        tp_reply_status(rep, TP_STATUS_ERROR, "The session store failed (%s); see the tokenpolicyd log.",
                        strerror(-r));
}

static int64_t now_wall(void)
{
        return (int64_t)time(NULL);
}

static void copy_str(char *dst, size_t dstsz, const char *src)
{
        snprintf(dst, dstsz, "%s", src ? src : "");
}

void tp_session_to_info(const struct tp_session *s, struct tp_session_info *i)
{
        memset(i, 0, sizeof(*i));
        copy_str(i->id, sizeof(i->id), s->id);
        copy_str(i->user, sizeof(i->user), s->user);
        i->uid = s->uid;
        copy_str(i->client, sizeof(i->client), s->client);
        copy_str(i->service, sizeof(i->service), s->service);
        copy_str(i->rhost, sizeof(i->rhost), s->rhost);
        copy_str(i->tty, sizeof(i->tty), s->tty);
        i->leader_pid = s->leader_pid;
        i->created = s->created;
        i->refresh_expires = s->refresh_expires;
        i->last_extended = s->last_extended;
        i->last_used = s->last_used;
        i->ended = s->ended;
        i->state = s->state;
}

void tp_session_to_engine(const struct tp_session *s, struct tp_policy_session *e)
{
        e->created = s->created;
        e->last_used = s->last_used;
        e->refresh_expires = s->refresh_expires;
        e->state = s->state;
}

/* docs/product.md §2: module argument, then the service's mapping, then
 * unknown_client. NULL with a message in rep when the sign-in cannot be
 * tagged. */
const struct tp_client_config *tp_resolve_client(const struct tp_config *c,
                                                 const struct tp_req_signin *req,
                                                 struct tp_reply *rep)
{
        const struct tp_client_config *cl;

        if (req->client[0]) {
                cl = tp_config_client(c, req->client);
                if (!cl)
                        tp_reply_status(rep, TP_STATUS_BAD_REQUEST,
                                        "Client type '%s' (module argument client=) is not defined in %s.",
                                        req->client, c->path);
                return cl;
        }
        cl = tp_config_client_for_service(c, req->service);
        if (cl)
                return cl;
        if (c->unknown_client >= 0)
                return &c->clients[c->unknown_client];
        tp_reply_status(rep, TP_STATUS_UNMAPPED,
                        "Sign-in through '%s' is not allowed: it belongs to no client type and unknown clients are denied by your administrator.",
                        req->service);
        return NULL;
}

static const char *peer_user_or_uid(const struct tp_peer *peer, char *buf, size_t bufsz)
{
        if (peer->user[0])
                return peer->user;
        snprintf(buf, bufsz, "uid %u", (unsigned)peer->uid);
        return buf;
}

/* May this peer act on a session of `uid`? Root and the daemon's owner may
 * act on any; others only on their own. */
static bool peer_owns(const struct tp_peer *peer, uint32_t uid)
{
        return peer->admin || peer->uid == (uid_t)uid;
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

/* A sign-in tp_resolve_client() could not tag: the module named a client
 * type the configuration does not define, or the service maps to none. */
static void audit_untagged(const struct tp_peer *peer, const struct tp_req_signin *req,
                           const struct tp_reply *rep)
{
        bool undefined = rep->status == TP_STATUS_BAD_REQUEST;

        audit_refusal(peer, req, rep, undefined ? req->client : NULL,
                      undefined ? "undefined client type" : "unmapped service");
}

static void handle_access(struct tp_daemon *d, const struct tp_peer *peer,
                          const struct tp_req_signin *req, struct tp_reply *rep)
{
        const struct tp_client_config *cl;
        struct tp_effective_policy p;

        if (!peer->admin && strcmp(req->user, peer->user) != 0) {
                tp_reply_status(rep, TP_STATUS_FORBIDDEN, "Only root may check access for another user.");
                return;
        }
        cl = tp_resolve_client(d->config, req, rep);
        if (!cl) {
                audit_untagged(peer, req, rep);
                return;
        }
        tp_config_effective(d->config, cl, &p);
        if (!p.access) {
                tp_reply_status(rep, TP_STATUS_DENIED,
                                "Sign-in from %s clients is disabled by your administrator.", cl->name);
                audit_refusal(peer, req, rep, cl->name, "client type disabled");
                return;
        }
        copy_str(rep->u.access.client, sizeof(rep->u.access.client), cl->name);
        /* Not audited: the sign-in that follows is, and a user's own checks
         * must not flood the journal. */
        tp_reply_status(rep, TP_STATUS_OK, "Sign-in from %s clients is allowed.", cl->name);
}

static void describe_cap_denial(struct tp_reply *rep, const char *client, uint32_t cap)
{
        tp_reply_status(rep, TP_STATUS_DENIED,
                        "You already have %u active %s sessions, the most your administrator allows; sign out of one and try again.",
                        cap, client);
}

static void audit_ghosts(struct tp_daemon *d, const struct tp_session *sessions, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (sessions[i].state == TP_STATE_CLOSED) {
                        tp_lifecycle_ended(d, sessions[i].id);
                        tp_audit(&(struct tp_audit){ .event = "close", .user = sessions[i].user,
                                                     .client = sessions[i].client,
                                                     .service = sessions[i].service,
                                                     .session = sessions[i].id,
                                                     .reason = "session leader is gone (reaped)",
                                                     .peer_uid = -1 });
                }
}

static void handle_open(struct tp_daemon *d, const struct tp_peer *peer,
                        const struct tp_req_signin *req, struct tp_reply *rep)
{
        const struct tp_client_config *cl;
        struct tp_effective_policy p;
        struct tp_session *existing = NULL, sess;
        struct tp_policy_session *views = NULL;
        struct tp_signin_decision dec;
        size_t n = 0, *evict = NULL, *expired = NULL;
        char refresh[TP_REFRESH_TOKEN_TEXT];
        char user[TP_USER_MAX];
        size_t n_ghosts = 0, n_live = 0;
        uid_t uid;
        int64_t now = now_wall();
        int r;

        memset(&sess, 0, sizeof(sess));
        memset(refresh, 0, sizeof(refresh));
        if (!peer->admin) {
                tp_reply_status(rep, TP_STATUS_FORBIDDEN, "Only root may open sessions.");
                return;
        }
        cl = tp_resolve_client(d->config, req, rep);
        if (!cl) {
                audit_untagged(peer, req, rep);
                return;
        }
        tp_config_effective(d->config, cl, &p);
        /* The cap counts the account as NSS names it, so "Alice" and "alice"
         * on a case-insensitive directory share one cap. */
        if (tp_account_lookup(req->user, &uid, user, sizeof(user)) < 0) {
                tp_reply_status(rep, TP_STATUS_DENIED, "Unknown user '%s'.", req->user);
                audit_refusal(peer, req, rep, cl->name, "unknown user");
                return;
        }

        if ((r = tp_store_begin(d->store)) < 0) {
                tp_reply_store_error(d, rep, r, "begin");
                return;
        }
        if ((r = tp_store_list_active(d->store, user, cl->name, &existing, &n)) < 0) {
                tp_reply_store_error(d, rep, r, "listing sessions");
                goto rollback;
        }
        views = calloc(n ? n : 1, sizeof(*views));
        evict = calloc(n ? n : 1, sizeof(*evict));
        expired = calloc(n ? n : 1, sizeof(*expired));
        if (!views || !evict || !expired) {
                tp_reply_status(rep, TP_STATUS_ERROR, "Out of memory.");
                goto rollback;
        }
        for (size_t i = 0; i < n; i++) {
                tp_session_to_engine(&existing[i], &views[i]);
                if (views[i].state == TP_STATE_ACTIVE && now < views[i].refresh_expires)
                        n_live++;
        }
        /* A session whose leader is gone never counts against the cap:
         * close it here, before the engine counts. Below the cap nothing
         * is counted, and looking at every leader (a /proc read or a logind
         * call each) would cost every sign-in. */
        for (size_t i = 0; n_live >= p.max_refresh_tokens && i < n; i++) {
                if (existing[i].refresh_expires > now && tp_lifecycle_is_ghost(d, &existing[i])) {
                        if ((r = tp_store_end(d->store, existing[i].id, TP_STATE_CLOSED, now)) < 0) {
                                tp_reply_store_error(d, rep, r, "closing a session whose leader is gone");
                                goto rollback;
                        }
                        existing[i].state = views[i].state = TP_STATE_CLOSED;
                        n_ghosts++;
                }
        }
        memset(&dec, 0, sizeof(dec));
        dec.evict = evict;
        dec.expired = expired;
        tp_policy_sign_in(&p, now, views, n, &dec);

        if (dec.verdict == TP_VERDICT_DENY_ACCESS) {
                tp_reply_status(rep, TP_STATUS_DENIED,
                                "Sign-in from %s clients is disabled by your administrator.", cl->name);
                audit_refusal(peer, req, rep, cl->name, "client type disabled");
                goto denied;
        }
        if (dec.verdict == TP_VERDICT_DENY_CAP) {
                describe_cap_denial(rep, cl->name, p.max_refresh_tokens);
                audit_refusal(peer, req, rep, cl->name, "session limit reached (evict = deny_new)");
                goto denied;
        }
        if (dec.verdict != TP_VERDICT_ALLOW) {
                tp_reply_status(rep, TP_STATUS_DENIED, "Sign-in denied: %s.", tp_verdict_reason(dec.verdict));
                goto denied;
        }

        for (size_t i = 0; i < dec.n_expired; i++) {
                r = tp_store_end(d->store, existing[dec.expired[i]].id, TP_STATE_EXPIRED,
                                 existing[dec.expired[i]].refresh_expires);
                if (r < 0) {
                        tp_reply_store_error(d, rep, r, "expiring a session");
                        goto rollback;
                }
        }
        if ((r = tp_session_id_new(sess.id)) < 0 ||
            (r = tp_refresh_token_new(refresh, sess.refresh_hash)) < 0) {
                tp_reply_status(rep, TP_STATUS_ERROR, "Cannot generate tokens: %s.", strerror(-r));
                goto rollback;
        }
        for (size_t i = 0; i < dec.n_evict; i++) {
                struct tp_session *victim = &existing[dec.evict[i]];

                if ((r = tp_store_end(d->store, victim->id, TP_STATE_REVOKED, now)) < 0) {
                        tp_reply_store_error(d, rep, r, "evicting a session");
                        goto rollback;
                }
                victim->state = TP_STATE_REVOKED;
                victim->ended = now;
        }
        copy_str(sess.user, sizeof(sess.user), user);
        sess.uid = (uint32_t)uid;
        copy_str(sess.client, sizeof(sess.client), cl->name);
        copy_str(sess.service, sizeof(sess.service), req->service);
        copy_str(sess.rhost, sizeof(sess.rhost), req->rhost);
        copy_str(sess.tty, sizeof(sess.tty), req->tty);
        /* The leader is the process that asked, as the kernel saw it, not
         * what the request claims. */
        tp_lifecycle_leader(peer->pid, &sess.leader_pid, &sess.leader_start);
        copy_str(sess.logind_session, sizeof(sess.logind_session), req->logind_session);
        copy_str(sess.boot_id, sizeof(sess.boot_id), d->boot_id);
        sess.created = now;
        sess.refresh_expires = dec.refresh_expires;
        sess.last_extended = now;
        sess.last_used = now;
        sess.state = TP_STATE_ACTIVE;
        if ((r = sign_access_token(d, &sess, now, dec.access_expires, rep->u.tokens.access_token,
                                   sizeof(rep->u.tokens.access_token))) < 0) {
                tp_reply_status(rep, TP_STATUS_ERROR, "Cannot sign the access token: %s.", strerror(-r));
                goto rollback;
        }
        if ((r = tp_store_insert(d->store, &sess)) < 0) {
                tp_reply_store_error(d, rep, r, "recording the session");
                goto rollback;
        }
        if ((r = tp_store_commit(d->store)) < 0) {
                tp_reply_store_error(d, rep, r, "commit");
                goto rollback;
        }

        audit_ghosts(d, existing, n);
        tp_lifecycle_schedule(d, sess.id, sess.refresh_expires);
        for (size_t i = 0; i < dec.n_expired; i++) {
                tp_lifecycle_ended(d, existing[dec.expired[i]].id);
                tp_audit(&(struct tp_audit){ .event = "expire", .user = req->user, .client = cl->name,
                                             .service = existing[dec.expired[i]].service,
                                             .session = existing[dec.expired[i]].id,
                                             .reason = "refresh token expired", .peer_uid = -1 });
                tp_lifecycle_enforce(d, &existing[dec.expired[i]], true, "refresh token expired");
        }
        for (size_t i = 0; i < dec.n_evict; i++) {
                const struct tp_session *victim = &existing[dec.evict[i]];

                tp_lifecycle_ended(d, victim->id);
                tp_audit(&(struct tp_audit){ .event = "evict", .user = req->user, .client = cl->name,
                                             .service = victim->service, .session = victim->id,
                                             .evicted_by = sess.id,
                                             .reason = p.evict == TP_EVICT_LEAST_RECENTLY_USED
                                                               ? "session limit reached; least recently used signed out"
                                                               : "session limit reached; oldest signed out",
                                             .peer_uid = -1 });
                tp_lifecycle_enforce(d, victim, false, "signed out at the session limit");
                if (i < TP_EVICTED_MAX) {
                        tp_session_to_info(victim, &rep->u.tokens.evicted[i]);
                        rep->u.tokens.n_evicted = (uint8_t)(i + 1);
                }
        }
        tp_audit(&(struct tp_audit){ .event = "allow", .user = req->user, .client = cl->name,
                                     .service = req->service, .session = sess.id, .reason = "signed in",
                                     .peer_uid = -1 });

        copy_str(rep->u.tokens.session_id, sizeof(rep->u.tokens.session_id), sess.id);
        copy_str(rep->u.tokens.client, sizeof(rep->u.tokens.client), cl->name);
        copy_str(rep->u.tokens.refresh_token, sizeof(rep->u.tokens.refresh_token), refresh);
        rep->u.tokens.refresh_expires = sess.refresh_expires;
        rep->u.tokens.access_expires = dec.access_expires;
        rep->u.tokens.auto_extend = p.auto_extend;
        if (dec.n_evict > 0)
                tp_reply_status(rep, TP_STATUS_OK,
                                "Signed in; %zu older %s session(s) signed out to stay within the limit of %u.",
                                dec.n_evict, cl->name, p.max_refresh_tokens);
        else
                tp_reply_status(rep, TP_STATUS_OK, "Signed in.");
        goto out;

denied:
        /* Keep the ghosts closed even though this sign-in was refused. */
        if (n_ghosts > 0 && tp_store_commit(d->store) >= 0) {
                audit_ghosts(d, existing, n);
                memset(&rep->u, 0, sizeof(rep->u));
                goto out;
        }
rollback:
        tp_store_rollback(d->store);
        memset(&rep->u, 0, sizeof(rep->u));
out:
        tp_secret_wipe(refresh, sizeof(refresh));
        free(existing);
        free(views);
        free(evict);
        free(expired);
}

/* Fetch the session a CLOSE/REAUTH/REFRESH names and check the caller may
 * use it. Returns false with rep filled when not. */
static bool load_session_for(struct tp_daemon *d, const struct tp_peer *peer,
                             const struct tp_req_session *req, struct tp_session *s,
                             struct tp_reply *rep)
{
        uint8_t hash[TP_SHA256_LEN];
        char who[32];
        uid_t uid;
        int r;

        r = tp_store_get(d->store, req->session_id, s);
        if (r >= 0 && !peer_owns(peer, s->uid))
                tp_audit(&(struct tp_audit){ .event = "deny", .user = s->user, .client = s->client,
                                             .session = s->id, .reason = "session of another user",
                                             .peer_uid = (long)peer->uid });
        if (r == -ENOENT || (r >= 0 && !peer_owns(peer, s->uid))) {
                /* Same answer for "absent" and "not yours": ids are not an oracle. */
                tp_reply_status(rep, TP_STATUS_NOT_FOUND, "No session %s for %s.", req->session_id,
                                peer_user_or_uid(peer, who, sizeof(who)));
                return false;
        }
        if (r < 0) {
                tp_reply_store_error(d, rep, r, "reading a session");
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
        struct tp_session s;
        int r;

        if (!load_session_for(d, peer, req, &s, rep))
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
        if ((r = tp_store_begin(d->store)) < 0) {
                tp_reply_store_error(d, rep, r, "begin");
                return false;
        }
        if ((r = tp_store_end(d->store, s.id, TP_STATE_CLOSED, now_wall())) < 0 ||
            (r = tp_store_commit(d->store)) < 0) {
                tp_store_rollback(d->store);
                tp_reply_store_error(d, rep, r, "closing a session");
                return false;
        }
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
        if (reauth && !peer->admin) {
                tp_reply_status(rep, TP_STATUS_FORBIDDEN, "Only root may re-authenticate a session.");
                return;
        }
        if (!load_session_for(d, peer, req, &s, rep))
                return;
        cl = tp_config_client(d->config, s.client);
        if (!cl) {
                tp_reply_status(rep, TP_STATUS_DENIED,
                                "Client type '%s' of session %s is no longer defined; sign in again.",
                                s.client, s.id);
                return;
        }
        tp_config_effective(d->config, cl, &p);
        tp_session_to_engine(&s, &view);
        memset(&dec, 0, sizeof(dec));
        if (reauth)
                tp_policy_reauth(&p, now, &view, &dec);
        else
                tp_policy_refresh(&p, now, &view, tp_account_valid(s.user, now), &dec);

        if (dec.verdict == TP_VERDICT_DENY_EXPIRED) {
                /* Noticed here before the expiry timer came round to it. */
                bool ended = false;

                if (s.state == TP_STATE_ACTIVE && tp_store_begin(d->store) >= 0) {
                        if (tp_store_end(d->store, s.id, TP_STATE_EXPIRED, s.refresh_expires) < 0 ||
                            tp_store_commit(d->store) < 0)
                                tp_store_rollback(d->store);
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
        if (dec.record && (r = tp_store_begin(d->store)) < 0) {
                tp_reply_store_error(d, rep, r, "begin");
                return;
        }
        r = 0;
        if (dec.rotate) {
                if ((r = tp_refresh_token_new(refresh, s.refresh_hash)) < 0) {
                        tp_store_rollback(d->store);
                        tp_reply_status(rep, TP_STATUS_ERROR, "Cannot generate tokens: %s.", strerror(-r));
                        return;
                }
                s.refresh_expires = dec.refresh_expires;
                r = tp_store_extend(d->store, s.id, s.refresh_hash, dec.refresh_expires, now);
        } else if (dec.record) {
                r = tp_store_touch(d->store, s.id, now);
        }
        if (r >= 0)
                r = sign_access_token(d, &s, now, dec.access_expires, rep->u.tokens.access_token,
                                      sizeof(rep->u.tokens.access_token));
        if (r < 0 || (dec.record && (r = tp_store_commit(d->store)) < 0)) {
                if (dec.record)
                        tp_store_rollback(d->store);
                memset(&rep->u, 0, sizeof(rep->u));
                tp_secret_wipe(refresh, sizeof(refresh));
                tp_reply_store_error(d, rep, r, event);
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

        if ((r = tp_store_count_active(d->store, &active)) < 0) {
                tp_reply_store_error(d, rep, r, "counting sessions");
                return;
        }
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

        if (!peer->admin) {
                if (!peer->user[0]) {
                        tp_reply_status(rep, TP_STATUS_FORBIDDEN, "Your uid %u has no user name.",
                                        (unsigned)peer->uid);
                        return;
                }
                if (req->user[0] && strcmp(req->user, peer->user) != 0) {
                        tp_reply_status(rep, TP_STATUS_FORBIDDEN,
                                        "Only root may list another user's sessions; you are %s.", peer->user);
                        return;
                }
                f.user = peer->user;
        }
        /* The cursor is one this daemon handed out: its seq is a row number. */
        if (req->after.seq > INT64_MAX) {
                tp_reply_status(rep, TP_STATUS_BAD_REQUEST, "The listing cursor is not one tokenpolicyd gave.");
                return;
        }
        after = (struct tp_store_list_pos){ req->after.state, req->after.created, (int64_t)req->after.seq };
        r = tp_store_list_page(d->store, &f, (req->flags & TP_LIST_AFTER) ? &after : NULL,
                               TP_LIST_PAGE_MAX, LIST_BUDGET, &rows, &n, &next, &more);
        if (r < 0) {
                tp_reply_store_error(d, rep, r, "listing sessions");
                return;
        }
        for (size_t i = 0; i < n && i < TP_LIST_PAGE_MAX; i++)
                tp_session_to_info(&rows[i], &rep->u.list.sessions[i]);
        rep->u.list.count = (uint32_t)(n < TP_LIST_PAGE_MAX ? n : TP_LIST_PAGE_MAX);
        rep->u.list.more = more;
        if (more)
                rep->u.list.next = (struct tp_list_cursor){ next.state, next.created, (uint64_t)next.seq };
        free(rows);
        tp_reply_status(rep, TP_STATUS_OK, "%zu session(s)%s", n, more ? "; more follow" : "");
}

static void handle_revoke(struct tp_daemon *d, const struct tp_peer *peer,
                          const struct tp_req_revoke *req, struct tp_reply *rep)
{
        struct tp_store_filter f = { .user = req->user, .client = req->client, .all = false };
        struct tp_session *rows = NULL, one;
        size_t n = 0, total = 0;
        int64_t now = now_wall();
        int r;

        if (req->session_id[0] == '\0' && req->user[0] == '\0') {
                tp_reply_status(rep, TP_STATUS_BAD_REQUEST, "Name a session id or a user to revoke.");
                return;
        }
        if (req->session_id[0]) {
                r = tp_store_get(d->store, req->session_id, &one);
                if (r == -ENOENT || (r >= 0 && !peer_owns(peer, one.uid))) {
                        tp_reply_status(rep, TP_STATUS_NOT_FOUND, "No session %s.", req->session_id);
                        return;
                }
                if (r < 0) {
                        tp_reply_store_error(d, rep, r, "reading a session");
                        return;
                }
                if (one.state != TP_STATE_ACTIVE) {
                        tp_reply_status(rep, TP_STATUS_NOT_FOUND, "Session %s already ended (%s).", one.id,
                                        tp_state_name(one.state));
                        return;
                }
                rows = malloc(sizeof(*rows));
                if (!rows) {
                        tp_reply_status(rep, TP_STATUS_ERROR, "Out of memory.");
                        return;
                }
                rows[0] = one;
                n = 1;
        } else {
                if (!peer->admin && strcmp(req->user, peer->user) != 0) {
                        tp_reply_status(rep, TP_STATUS_FORBIDDEN,
                                        "Only root may revoke another user's sessions.");
                        return;
                }
                r = tp_store_query(d->store, &f, 0, SIZE_MAX, &rows, &n, &total);
                if (r < 0) {
                        tp_reply_store_error(d, rep, r, "listing sessions");
                        return;
                }
        }
        if ((r = tp_store_begin(d->store)) < 0) {
                free(rows);
                tp_reply_store_error(d, rep, r, "begin");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                if ((r = tp_store_end(d->store, rows[i].id, TP_STATE_REVOKED, now)) < 0)
                        break;
        }
        if (r < 0 || (r = tp_store_commit(d->store)) < 0) {
                tp_store_rollback(d->store);
                free(rows);
                tp_reply_store_error(d, rep, r, "revoking sessions");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                tp_lifecycle_ended(d, rows[i].id);
                tp_audit(&(struct tp_audit){ .event = "revoke", .user = rows[i].user,
                                             .client = rows[i].client, .service = rows[i].service,
                                             .session = rows[i].id,
                                             .reason = peer->admin ? "revoked by administrator"
                                                                   : "revoked by its user",
                                             .peer_uid = (long)peer->uid });
                tp_lifecycle_enforce(d, &rows[i], false,
                                     peer->admin ? "revoked by administrator" : "revoked by its user");
        }
        rep->u.revoke.revoked = (uint32_t)n;
        tp_reply_status(rep, TP_STATUS_OK, "Revoked %zu session(s).", n);
        free(rows);
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

static void handle_reload(struct tp_daemon *d, const struct tp_peer *peer, struct tp_reply *rep)
{
        struct tp_config_errors errs = { 0 };
        char text[TP_MESSAGE_MAX];
        int r;

        if (!peer->admin) {
                tp_reply_status(rep, TP_STATUS_FORBIDDEN, "Only root may reload the configuration.");
                return;
        }
        tp_notify_reloading();
        r = tp_daemon_reload(d, &errs);
        tp_server_notify_ready(d);
        if (r < 0) {
                join_errors(&errs, text, sizeof(text));
                tp_reply_status(rep, TP_STATUS_ERROR, "%s\nThe running policy was kept.", text);
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

/* A reply starts empty. The reply is tens of KiB, most of it the bodies of
 * other request types: clear the header and the body this type uses. */
void tp_reply_reset(struct tp_reply *rep, uint8_t request_type)
{
        rep->type = (uint8_t)(request_type | TP_REPLY_FLAG);
        rep->status = TP_STATUS_OK;
        rep->message[0] = '\0';
        switch (request_type) {
        case TP_REQ_ACCESS:
                memset(&rep->u.access, 0, sizeof(rep->u.access));
                break;
        case TP_REQ_OPEN:
        case TP_REQ_REAUTH:
        case TP_REQ_REFRESH: {
                /* 17 KiB, mostly string buffers and the evicted list: the
                 * encoder reads strings to their NUL and n_evicted entries. */
                struct tp_rep_tokens *t = &rep->u.tokens;

                t->session_id[0] = t->client[0] = t->access_token[0] = t->refresh_token[0] = '\0';
                t->refresh_expires = t->access_expires = 0;
                t->auto_extend = t->n_evicted = 0;
                break;
        }
        case TP_REQ_CLOSE:
        case TP_REQ_RELOAD:
                break;
        default:
                memset(&rep->u, 0, sizeof(rep->u));
                break;
        }
}

void tp_handle_request(struct tp_daemon *d, const struct tp_peer *peer,
                       const struct tp_request *req, struct tp_reply *rep)
{
        bool audited = false;

        tp_reply_reset(rep, req->type);

        switch (req->type) {
        case TP_REQ_ACCESS:
                handle_access(d, peer, &req->u.signin, rep);
                break;
        case TP_REQ_OPEN:
                handle_open(d, peer, &req->u.signin, rep);
                break;
        case TP_REQ_CLOSE:
                audited = handle_close(d, peer, &req->u.session, rep);
                break;
        case TP_REQ_REAUTH:
                handle_extend(d, peer, &req->u.session, true, rep);
                break;
        case TP_REQ_REFRESH:
                handle_extend(d, peer, &req->u.session, false, rep);
                break;
        case TP_REQ_STATUS:
                handle_status(d, rep);
                break;
        case TP_REQ_LIST:
                handle_list(d, peer, &req->u.list, rep);
                break;
        case TP_REQ_REVOKE:
                handle_revoke(d, peer, &req->u.revoke, rep);
                break;
        case TP_REQ_RELOAD:
                handle_reload(d, peer, rep);
                break;
        case TP_REQ_POLICY:
                handle_policy(d, rep);
                break;
        case TP_REQ_EXPLAIN:
                tp_handle_explain(d, peer, &req->u.signin, rep);
                break;
        case TP_REQ_VERIFY:
                tp_handle_verify(d, peer, &req->u.verify, rep);
                break;
        case TP_REQ_ROTATE_KEY:
                tp_handle_rotate_key(d, peer, rep);
                break;
        case TP_REQ_REVOKE_KEY:
                tp_handle_revoke_key(d, peer, &req->u.key, rep);
                break;
        default:
                tp_reply_status(rep, TP_STATUS_BAD_REQUEST, "Unknown request type %u.", req->type);
                break;
        }
        if (rep->status == TP_STATUS_FORBIDDEN && !audited)
                tp_audit(&(struct tp_audit){ .event = "deny", .user = peer->user,
                                             .reason = rep->message, .peer_uid = (long)peer->uid });
}
