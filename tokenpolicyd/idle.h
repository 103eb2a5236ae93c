/* SPDX-License-Identifier: BSD-3-Clause */
/* idle.h: idle timeouts and warnings on running sessions (idle.c).
 *
 * A background pass over the active sessions, a page a second, for the
 * client types that set idle_timeout_minutes or warn_before_minutes:
 *  - a session idle for idle_timeout_minutes gets the type's on_idle
 *    action (audit event "idle", then "enforce"); for terminate it is
 *    first marked expired in the store;
 *  - warn_before_minutes before on_expiry or on_idle would act, the
 *    session's user is told on the session's terminal (audit "warn").
 * Idleness comes from logind (IdleHint, IdleSinceHint) where logind has a
 * session for it, else from the last input on its terminal. Each warning
 * and each idle action is given once per deadline: what was done is kept
 * in memory, bounded, and dropped with the session.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"

/* Look at the next page of sessions, at most once a second; call it from
 * the event loop's tick. */
void tp_idle_tick(struct tp_daemon *d);

/* Forget every mark (at shutdown). */
void tp_idle_stop(struct tp_daemon *d);
