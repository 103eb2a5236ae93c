/* SPDX-License-Identifier: BSD-3-Clause */
/* retention.h: the history of ended sessions (retention.c). */
#pragma once

#include "daemon.h"

/* One bounded step of deleting sessions that ended more than
 * store.history_days ago, at most once a second; call it from the loop. */
void tp_retention_tick(struct tp_daemon *d);
