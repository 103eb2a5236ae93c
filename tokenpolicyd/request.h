/* SPDX-License-Identifier: BSD-3-Clause */
/* request.h: the kinds of request the daemon answers (request.c): one
 * table, one entry per request type, saying everything the daemon knows
 * about a kind outside its handler: who may send it, whether its answer
 * waits for the store's commit, whether it is acted on once its client is
 * gone, which secrets it carries and what its reply body is. The event
 * loop (server.c) asks the table; the handlers below it know nothing of
 * it. Adding a request type: HACKING.md.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "proto.h"
#include "reply.h"

/* Who may send a kind of request (PROTOCOL.md, section 8). Administrators
 * (root, and the daemon's own uid) may send every kind. */
enum tp_right {
        TP_RIGHT_ANYONE,  /* every peer */
        TP_RIGHT_OWN,     /* any peer, for what is its own: the kind's own()
                           * check on the request, then, for a request that
                           * names a session, the handler's check on that
                           * session (tp_rights_owns) */
        TP_RIGHT_ADMIN,   /* administrators only */
};

struct tp_request_kind {
        uint8_t type;
        void (*handle)(struct tp_call *c);
        enum tp_right right;
        /* TP_RIGHT_ADMIN: the refusal's message. */
        const char *refusal;
        /* TP_RIGHT_OWN, may be NULL: is what the request names the
         * peer's own? false with the refusal (FORBIDDEN and its message)
         * in rep. Never called for administrators. */
        bool (*own)(const struct tp_peer *peer, const struct tp_request *req, struct tp_reply *rep);
        /* Its answer depends on the store: while a group commit is open it
         * waits for that commit, whether or not it changed anything. */
        bool reads_store;
        /* Acted on only while its client can still hear the answer
         * (false: carried out whatever happens to the sender). */
        bool needs_client;
        /* The client was gone before it was acted on (needs_client);
         * NULL: nothing happened that the audit trail must know. */
        void (*abandoned)(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_request *req);
        /* Its OK answer carries tokens of a session (rep->u.tokens), and
         * this is done when that answer cannot be delivered; NULL: it
         * carries none. */
        void (*undelivered)(struct tp_daemon *d, const struct tp_peer *peer, uint8_t type,
                            const char *session_id);
        /* Wipe the secrets the request and its reply carry, once the
         * reply is encoded; NULL: none. */
        void (*wipe)(struct tp_request *req, struct tp_reply *rep);
        /* Clear the reply body this kind fills; NULL: the whole union. */
        void (*reset)(struct tp_reply *rep);
};

/* The kind of a request type; NULL for a number that is none (0, a
 * retired number, or one above TP_REQ_MAX_). */
const struct tp_request_kind *tp_request_kind(uint8_t type);

/* Empty rep for an answer to request_type: header and that type's body. */
void tp_reply_reset(struct tp_reply *rep, uint8_t request_type);

/* Answer one decoded request: check the peer's right for its kind (a
 * refusal is answered FORBIDDEN and audited here), then run its handler.
 * Always fills *rep; never fails as a whole: failures become a status and
 * a message. */
void tp_request_handle(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_request *req,
                       struct tp_reply *rep);

/* Wipe the secrets of a request and its reply (the kind's wipe). */
void tp_request_wipe(struct tp_request *req, struct tp_reply *rep);
