/* SPDX-License-Identifier: BSD-3-Clause */
/* rights.h: whose is what (rights.c). The request table (request.c) says
 * which kinds of request a peer may send at all (PROTOCOL.md, section 8);
 * these are the ownership questions it and the handlers ask of one
 * request: one answer for every place that asks.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"

/* May this peer act for the user with this login name? Administrators
 * for anyone; another peer for the name its uid has (exactly). */
bool tp_rights_is_user(const struct tp_peer *peer, const char *user);

/* May this peer act on a session of `uid`? Administrators on any; another
 * peer only on its own uid's. */
bool tp_rights_owns(const struct tp_peer *peer, uint32_t uid);

/* The record of a refused request (event "deny", the peer, the reply's
 * message): written by the dispatcher for every FORBIDDEN a handler did
 * not record itself. */
void tp_rights_audit_refusal(const struct tp_peer *peer, const struct tp_reply *rep);
