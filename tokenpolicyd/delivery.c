/* SPDX-License-Identifier: BSD-3-Clause */
/* delivery.c: what a request means when its client is gone.
 *
 * The PAM module waits for an answer at most timeout= ms, then gives up
 * (refusing the login with fail=closed, letting it through with
 * fail=open) and closes its connection. A daemon that was frozen or busy
 * meanwhile reads the request only afterwards, or finds the client gone
 * when it writes the answer. The audit trail must then say what happened,
 * not what would have happened had the client still been there:
 *
 *  - a client gone before its request is acted on: sign-ins, re-
 *    authentications and refreshes (and every read-only request) are not
 *    acted on at all; the first three are audited `undelivered`. Sign-outs,
 *    revocations, reloads and key rotations are carried out all the same:
 *    they are what their sender wanted whether or not it hears back.
 *  - a client gone before its answer is written: a sign-in's session was
 *    committed, but no one holds its id or tokens, so nothing would ever
 *    sign it out but the reaping of ghosts; it is closed at once. New
 *    tokens of a re-authentication or refresh are lost with the answer;
 *    the session itself is left as it is. Both are audited `undelivered`.
 *
 * Called by the event loop (server.c), which knows when a client is gone,
 * for the kinds whose entry in the request table (request.c) names these.
 */
#include "delivery.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store.h"

void tp_abandoned_signin(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_request *req)
{
        (void)d;
        tp_audit(&(struct tp_audit){
                .event = "undelivered", .user = req->u.signin.user, .client = req->u.signin.client,
                .service = req->u.signin.service,
                .reason = "the client was gone before its sign-in was answered (the PAM module gave up, e.g. on its timeout); no session was created",
                .peer_uid = (long)peer->uid });
}

void tp_abandoned_extend(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_request *req)
{
        (void)d;
        tp_audit(&(struct tp_audit){
                .event = "undelivered", .user = req->u.session.user, .session = req->u.session.session_id,
                .reason = req->type == TP_REQ_REAUTH
                                  ? "the client was gone before its re-authentication was answered; nothing was changed"
                                  : "the client was gone before its refresh was answered; nothing was changed",
                .peer_uid = (long)peer->uid });
}

/* The session the lost answer was about; when it cannot be read (its batch
 * failed meanwhile, or the store cannot be read) only its id, so that the
 * trail still says the answer never arrived. */
static int lost_session(struct tp_daemon *d, const char *session_id, struct tp_session *s)
{
        int r = tp_store_get(d->store, session_id, s);

        if (r < 0) {
                memset(s, 0, sizeof(*s));
                snprintf(s->id, sizeof(s->id), "%s", session_id);
        }
        return r;
}

void tp_undelivered_extend(struct tp_daemon *d, const struct tp_peer *peer, uint8_t type,
                           const char *session_id)
{
        struct tp_session s;

        (void)lost_session(d, session_id, &s);
        tp_audit(&(struct tp_audit){
                .event = "undelivered", .user = s.user, .client = s.client, .service = s.service,
                .session = s.id,
                .reason = type == TP_REQ_REAUTH
                                  ? "the answer to a re-authentication, with the session's new tokens, could not be delivered (the client was gone)"
                                  : "the answer to a refresh, with a new access token, could not be delivered (the client was gone)",
                .peer_uid = (long)peer->uid });
}

void tp_undelivered_signin(struct tp_daemon *d, const struct tp_peer *peer, uint8_t type,
                           const char *session_id)
{
        struct tp_session s;
        char reason[256];
        bool begun = false;
        int r;

        (void)type;
        r = lost_session(d, session_id, &s);
        if (r >= 0 && s.state == TP_STATE_ACTIVE) {
                if ((r = tp_store_begin(d->store)) >= 0) {
                        begun = true;
                        if ((r = tp_store_end(d->store, s.id, TP_STATE_CLOSED, (int64_t)time(NULL))) >= 0)
                                r = tp_store_commit(d->store);
                }
                if (r < 0) {
                        if (begun)
                                tp_store_rollback(d->store);
                        tp_log(LOG_ERR, "session store: closing session %s, whose sign-in was not delivered, failed: %s (%s)",
                               s.id, strerror(-r), tp_store_errmsg(d->store));
                }
        }
        if (r >= 0 && s.state == TP_STATE_ACTIVE)
                snprintf(reason, sizeof(reason),
                         "the sign-in's answer could not be delivered (the client was gone); its session was closed");
        else if (r >= 0)
                snprintf(reason, sizeof(reason),
                         "the sign-in's answer could not be delivered (the client was gone); its session had already ended (%s)",
                         tp_state_name(s.state));
        else
                snprintf(reason, sizeof(reason),
                         "the sign-in's answer could not be delivered (the client was gone); closing its session failed: %s",
                         strerror(-r));
        tp_audit(&(struct tp_audit){ .event = "undelivered", .user = s.user, .client = s.client,
                                     .service = s.service, .session = s.id, .reason = reason,
                                     .peer_uid = (long)peer->uid });
}
