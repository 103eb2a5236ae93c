/* SPDX-License-Identifier: BSD-3-Clause */
/* keys.h: the signing keys at run time (keys.c): ROTATE_KEY, REVOKE_KEY
 * (through the request table) and the retained keys' end (from the loop).
 */
#pragma once

#include "daemon.h"
#include "reply.h"

/* ROTATE_KEY: a new signing key; the old public key stays published until
 * every token it signed has expired. */
void tp_handle_rotate_key(struct tp_call *c);
/* REVOKE_KEY: a key is no longer trusted or published, at once. */
void tp_handle_revoke_key(struct tp_call *c);

/* From the event loop about once a second: retained keys whose time has
 * come leave the key directory and the JWKS. */
void tp_keys_tick(struct tp_daemon *d);
