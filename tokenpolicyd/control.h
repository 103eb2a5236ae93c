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
 * line: what a SIGHUP and a RELOAD request do. A configuration that loads
 * then reaches the running sessions of every client type it disables
 * (tp_control_revoke_disabled()). Returns how many sessions that revoked
 * (0 or more), or what tp_conffile_reload() returned when the file was
 * refused; errs holds every error. */
int tp_control_reload(struct tp_daemon *d, struct tp_config_errors *errs);

/* Apply on_revoke to every active session of a client type whose access
 * the running configuration turns off, each audited "revoke" with the
 * reason, and log the count. Called after a reload and at start, so that
 * a type switched off while the daemon was down loses its sessions too.
 * Returns how many were revoked; a store failure is logged and counts 0
 * (the next reload or start tries again). */
int tp_control_revoke_disabled(struct tp_daemon *d);
