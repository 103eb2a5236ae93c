/* SPDX-License-Identifier: BSD-3-Clause */
/* reply.h: answering one request (reply.c): the call a handler is given,
 * and the helpers every handler answers with. The bottom of the request
 * layer: the dispatcher (request.c) and every handler use it, and it
 * calls nothing of theirs.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "proto.h"
#include "store.h"

/* One request being answered: what a handler is given. */
struct tp_call {
        struct tp_daemon *d;
        const struct tp_peer *peer;
        const struct tp_request *req;
        struct tp_reply *rep;           /* reset for this type; the handler fills it */
        bool refusal_audited;           /* the handler audited its FORBIDDEN itself, with
                                         * details the generic record lacks */
};

/* Set rep's status and its message (printf-style, cut to fit); the body
 * is left as it is. */
__attribute__((format(printf, 3, 4)))
void tp_reply_status(struct tp_reply *rep, uint8_t status, const char *fmt, ...);

/* Log a failed store step (what) with the store's own message, and answer
 * ERROR without the details. */
void tp_reply_store_error(struct tp_store *store, struct tp_reply *rep, int r, const char *what);

/* A stored session as the protocol shows it. */
void tp_session_to_info(const struct tp_session *s, struct tp_session_info *i);
