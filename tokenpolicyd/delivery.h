/* SPDX-License-Identifier: BSD-3-Clause */
/* delivery.h: what a request means when its client is gone (delivery.c).
 * The request table (request.c) names which of these each kind uses.
 */
#pragma once

#include <stdint.h>

#include "daemon.h"

/* The client hung up before its request was acted on, and the request
 * was not acted on: a sign-in (OPEN) is audited as undelivered... */
void tp_abandoned_signin(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_request *req);
/* ... and so are a re-authentication and a refresh (REAUTH, REFRESH). */
void tp_abandoned_extend(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_request *req);

/* The answer to a sign-in (OPEN) that created this session could not be
 * delivered: the session is closed at once, and that is audited. */
void tp_undelivered_signin(struct tp_daemon *d, const struct tp_peer *peer, uint8_t type,
                           const char *session_id);
/* The answer to a REAUTH or REFRESH of this session, with its new tokens,
 * could not be delivered: audited; the session is left as it is. */
void tp_undelivered_extend(struct tp_daemon *d, const struct tp_peer *peer, uint8_t type,
                           const char *session_id);
