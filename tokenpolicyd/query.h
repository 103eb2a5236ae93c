/* SPDX-License-Identifier: BSD-3-Clause */
/* query.h: EXPLAIN (what the next sign-in would get; changes nothing) and
 * VERIFY (is this access token good and its session still active?), in
 * query.c. Called through the request table (request.c) only.
 */
#pragma once

#include "reply.h"

void tp_handle_explain(struct tp_call *c);
void tp_handle_verify(struct tp_call *c);
