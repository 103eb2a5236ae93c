/* SPDX-License-Identifier: BSD-3-Clause */
/* handlers.h: the handlers of the sign-in and session requests, and of
 * the administrative ones (handlers.c). Called through the request table
 * (request.c) only, once the peer's rights for the kind are checked.
 */
#pragma once

#include "reply.h"

void tp_handle_access(struct tp_call *c);
void tp_handle_open(struct tp_call *c);
void tp_handle_close(struct tp_call *c);
void tp_handle_reauth(struct tp_call *c);
void tp_handle_refresh(struct tp_call *c);
void tp_handle_status(struct tp_call *c);
void tp_handle_list(struct tp_call *c);
void tp_handle_hosts(struct tp_call *c);
void tp_handle_revoke(struct tp_call *c);
void tp_handle_reload(struct tp_call *c);
void tp_handle_policy(struct tp_call *c);
void tp_handle_outcome(struct tp_call *c);
