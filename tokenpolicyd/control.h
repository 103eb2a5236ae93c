/* SPDX-License-Identifier: BSD-3-Clause */
/* control.h: operations on the whole daemon that both the event loop
 * (signals, start) and requests (RELOAD) start (control.c): reloading the
 * configuration, and telling the service manager how the daemon is doing.
 * Below the request layer: it calls nothing above it.
 */
#pragma once

#include "config.h"
#include "daemon.h"

/* READY=1 with a STATUS= line to the service manager (after start and
 * after every reload). */
void tp_control_ready(struct tp_daemon *d);

/* RELOADING=1, tp_conffile_reload(), then READY=1 with the new status
 * line: what a SIGHUP and a RELOAD request do. Returns what
 * tp_conffile_reload() returned; errs holds every error. */
int tp_control_reload(struct tp_daemon *d, struct tp_config_errors *errs);
