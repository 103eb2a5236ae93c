/* SPDX-License-Identifier: BSD-3-Clause */
/* request.c: the table of request kinds, and the dispatcher that checks a
 * peer's right for a kind before its handler runs (request.h).
 *
 * Everything the daemon knows about a kind of request outside its handler
 * is in its entry here: PROTOCOL.md section 8 (who may send it), section 9
 * (which are carried out once their client is gone) and the group commit
 * (whose answer waits for it). A refusal for want of the right is answered
 * FORBIDDEN and audited here, before anything is read or changed. What
 * only the session a request names can tell (is it the peer's?) is asked
 * by the handler, of rights.h, once it has read that session.
 */
#include "request.h"

#include <string.h>

#include "account.h"
#include "delivery.h"
#include "handlers.h"
#include "keys.h"
#include "query.h"
#include "rights.h"
#include "wipe.h"

/* ---- rights that the request alone decides ------------------------------ */

/* ACCESS: only for the peer's own user name. */
static bool own_signin(const struct tp_peer *peer, const struct tp_request *req, struct tp_reply *rep)
{
        if (tp_rights_is_user(peer, req->u.signin.user))
                return true;
        tp_reply_status(rep, TP_STATUS_FORBIDDEN, "Only root may check access for another user.");
        return false;
}

/* EXPLAIN: about the peer's own account only, by any name NSS resolves to
 * its uid. No name at all is not a question of rights: the handler says
 * what is missing. */
static bool own_explain(const struct tp_peer *peer, const struct tp_request *req, struct tp_reply *rep)
{
        const char *user = req->u.signin.user;
        char name[TP_USER_MAX];
        uid_t uid;

        if (!user[0] || tp_rights_is_user(peer, user) ||
            (tp_account_lookup(user, &uid, name, sizeof(name)) >= 0 && uid == peer->uid))
                return true;
        tp_reply_status(rep, TP_STATUS_FORBIDDEN,
                        "Only root may explain another user's sign-in; you may ask about your own.");
        return false;
}

/* LIST: the peer's own sessions; its uid must have a name to list by. */
static bool own_list(const struct tp_peer *peer, const struct tp_request *req, struct tp_reply *rep)
{
        if (!peer->user[0]) {
                tp_reply_status(rep, TP_STATUS_FORBIDDEN, "Your uid %u has no user name.", (unsigned)peer->uid);
                return false;
        }
        if (req->u.list.user[0] && !tp_rights_is_user(peer, req->u.list.user)) {
                tp_reply_status(rep, TP_STATUS_FORBIDDEN,
                                "Only root may list another user's sessions; you are %s.", peer->user);
                return false;
        }
        return true;
}

/* REVOKE of a user's sessions: the peer's own; every user's sessions of
 * a client type: root's alone. A session id (TP_REVOKE_OTHERS included:
 * the peer's current session) is the handler's to check, once read;
 * naming nothing is a bad request. */
static bool own_revoke(const struct tp_peer *peer, const struct tp_request *req, struct tp_reply *rep)
{
        const struct tp_req_revoke *rv = &req->u.revoke;

        if (rv->session_id[0] || (!rv->user[0] && !rv->client[0]) || tp_rights_is_user(peer, rv->user))
                return true;
        if (!rv->user[0]) {
                tp_reply_status(rep, TP_STATUS_FORBIDDEN,
                                "Only root may revoke every user's %s sessions; add --user %s for your own.",
                                rv->client, peer->user[0] ? peer->user : "YOURNAME");
                return false;
        }
        tp_reply_status(rep, TP_STATUS_FORBIDDEN, "Only root may revoke another user's sessions.");
        return false;
}

/* ---- secrets ------------------------------------------------------------ */

/* Wipe a secret string: its characters and terminator. What lay beyond was
 * wiped the same way after an earlier, longer value, or never written. */
static void wipe_string(char *s, size_t size)
{
        size_t n = strnlen(s, size);

        tp_secret_wipe(s, n < size ? n + 1 : size);
}

static void wipe_tokens(struct tp_request *req, struct tp_reply *rep)
{
        (void)req;
        wipe_string(rep->u.tokens.access_token, sizeof(rep->u.tokens.access_token));
        wipe_string(rep->u.tokens.refresh_token, sizeof(rep->u.tokens.refresh_token));
}

static void wipe_session_request(struct tp_request *req, struct tp_reply *rep)
{
        (void)rep;
        wipe_string(req->u.session.refresh_token, sizeof(req->u.session.refresh_token));
}

static void wipe_session_and_tokens(struct tp_request *req, struct tp_reply *rep)
{
        wipe_tokens(req, rep);
        wipe_session_request(req, rep);
}

static void wipe_verify(struct tp_request *req, struct tp_reply *rep)
{
        (void)rep;
        wipe_string(req->u.verify.token, sizeof(req->u.verify.token));
}

/* ---- reply bodies ------------------------------------------------------- */

/* The reply is tens of KiB, most of it the bodies of other kinds: clear
 * only the body a kind fills, where that is cheaper than the union. */
static void reset_access(struct tp_reply *rep)
{
        memset(&rep->u.access, 0, sizeof(rep->u.access));
}

/* 17 KiB, mostly string buffers and the evicted list: the encoder reads
 * strings to their NUL and n_evicted entries. */
static void reset_tokens(struct tp_reply *rep)
{
        struct tp_rep_tokens *t = &rep->u.tokens;

        t->session_id[0] = t->client[0] = t->access_token[0] = t->refresh_token[0] = '\0';
        t->refresh_expires = t->access_expires = 0;
        t->auto_extend = t->n_evicted = 0;
}

static void reset_nothing(struct tp_reply *rep)
{
        (void)rep; /* no body */
}

/* ---- the table ---------------------------------------------------------- */

static const struct tp_request_kind kinds[TP_REQ_MAX_ + 1] = {
        [TP_REQ_ACCESS] = { .type = TP_REQ_ACCESS, .handle = tp_handle_access,
                            .right = TP_RIGHT_OWN, .own = own_signin,
                            .reads_store = false, .needs_client = true,
                            .reset = reset_access },
        [TP_REQ_OPEN] = { .type = TP_REQ_OPEN, .handle = tp_handle_open,
                          .right = TP_RIGHT_ADMIN, .refusal = "Only root may open sessions.",
                          .reads_store = true, .needs_client = true,
                          .abandoned = tp_abandoned_signin, .undelivered = tp_undelivered_signin,
                          .wipe = wipe_tokens, .reset = reset_tokens },
        [TP_REQ_CLOSE] = { .type = TP_REQ_CLOSE, .handle = tp_handle_close,
                           .right = TP_RIGHT_OWN, /* its session: the handler */
                           .reads_store = true, .needs_client = false,
                           .wipe = wipe_session_request, .reset = reset_nothing },
        [TP_REQ_REAUTH] = { .type = TP_REQ_REAUTH, .handle = tp_handle_reauth,
                            .right = TP_RIGHT_ADMIN, .refusal = "Only root may re-authenticate a session.",
                            .reads_store = true, .needs_client = true,
                            .abandoned = tp_abandoned_extend, .undelivered = tp_undelivered_extend,
                            .wipe = wipe_session_and_tokens, .reset = reset_tokens },
        [TP_REQ_REFRESH] = { .type = TP_REQ_REFRESH, .handle = tp_handle_refresh,
                             .right = TP_RIGHT_OWN, /* its session: the handler */
                             .reads_store = true, .needs_client = true,
                             .abandoned = tp_abandoned_extend, .undelivered = tp_undelivered_extend,
                             .wipe = wipe_session_and_tokens, .reset = reset_tokens },
        [TP_REQ_STATUS] = { .type = TP_REQ_STATUS, .handle = tp_handle_status,
                            .right = TP_RIGHT_ANYONE,
                            .reads_store = true, .needs_client = true },
        [TP_REQ_REVOKE] = { .type = TP_REQ_REVOKE, .handle = tp_handle_revoke,
                            .right = TP_RIGHT_OWN, .own = own_revoke,
                            .reads_store = true, .needs_client = false },
        [TP_REQ_RELOAD] = { .type = TP_REQ_RELOAD, .handle = tp_handle_reload,
                            .right = TP_RIGHT_ADMIN, .refusal = "Only root may reload the configuration.",
                            .reads_store = true, .needs_client = false,
                            .reset = reset_nothing },
        [TP_REQ_POLICY] = { .type = TP_REQ_POLICY, .handle = tp_handle_policy,
                            .right = TP_RIGHT_ANYONE,
                            .reads_store = false, .needs_client = true },
        [TP_REQ_EXPLAIN] = { .type = TP_REQ_EXPLAIN, .handle = tp_handle_explain,
                             .right = TP_RIGHT_OWN, .own = own_explain,
                             .reads_store = true, .needs_client = true },
        [TP_REQ_VERIFY] = { .type = TP_REQ_VERIFY, .handle = tp_handle_verify,
                            .right = TP_RIGHT_ANYONE,
                            .reads_store = true, .needs_client = true,
                            .wipe = wipe_verify },
        [TP_REQ_ROTATE_KEY] = { .type = TP_REQ_ROTATE_KEY, .handle = tp_handle_rotate_key,
                                .right = TP_RIGHT_ADMIN, .refusal = "Only root may rotate the signing key.",
                                .reads_store = true, .needs_client = false },
        [TP_REQ_REVOKE_KEY] = { .type = TP_REQ_REVOKE_KEY, .handle = tp_handle_revoke_key,
                                .right = TP_RIGHT_ADMIN, .refusal = "Only root may revoke a signing key.",
                                .reads_store = true, .needs_client = true },
        [TP_REQ_LIST] = { .type = TP_REQ_LIST, .handle = tp_handle_list,
                          .right = TP_RIGHT_OWN, .own = own_list,
                          .reads_store = true, .needs_client = true },
        [TP_REQ_HOSTS] = { .type = TP_REQ_HOSTS, .handle = tp_handle_hosts,
                           .right = TP_RIGHT_ANYONE,
                           .reads_store = true, .needs_client = true },
        /* Sent from pam_end's cleanup, which may not wait for the answer. */
        [TP_REQ_OUTCOME] = { .type = TP_REQ_OUTCOME, .handle = tp_handle_outcome,
                             .right = TP_RIGHT_ADMIN, .refusal = "Only root may report how a sign-in ended.",
                             .reads_store = true, .needs_client = false },
};

const struct tp_request_kind *tp_request_kind(uint8_t type)
{
        if (type > TP_REQ_MAX_ || !kinds[type].handle)
                return NULL;
        return &kinds[type];
}

void tp_reply_reset(struct tp_reply *rep, uint8_t request_type)
{
        const struct tp_request_kind *k = tp_request_kind(request_type);

        rep->type = (uint8_t)(request_type | TP_REPLY_FLAG);
        rep->status = TP_STATUS_OK;
        rep->message[0] = '\0';
        if (k && k->reset)
                k->reset(rep);
        else
                memset(&rep->u, 0, sizeof(rep->u));
}

void tp_request_wipe(struct tp_request *req, struct tp_reply *rep)
{
        const struct tp_request_kind *k = tp_request_kind(req->type);

        if (k && k->wipe)
                k->wipe(req, rep);
}

/* The one place a kind's right is checked: false with the refusal in rep. */
static bool may_send(const struct tp_request_kind *k, const struct tp_peer *peer, const struct tp_request *req,
                     struct tp_reply *rep)
{
        if (peer->admin || k->right == TP_RIGHT_ANYONE)
                return true;
        if (k->right == TP_RIGHT_ADMIN) {
                tp_reply_status(rep, TP_STATUS_FORBIDDEN, "%s", k->refusal);
                return false;
        }
        return !k->own || k->own(peer, req, rep);
}

void tp_request_handle(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_request *req,
                       struct tp_reply *rep)
{
        const struct tp_request_kind *k = tp_request_kind(req->type);
        struct tp_call call = { .d = d, .peer = peer, .req = req, .rep = rep };

        tp_reply_reset(rep, req->type);
        if (!k) { /* the decoder lets none through */
                tp_reply_status(rep, TP_STATUS_BAD_REQUEST, "Unknown request type %u.", req->type);
                return;
        }
        if (may_send(k, peer, req, rep))
                k->handle(&call);
        if (rep->status == TP_STATUS_FORBIDDEN && !call.refusal_audited)
                tp_rights_audit_refusal(peer, rep);
}
