/* SPDX-License-Identifier: BSD-3-Clause */
/* server.h: the event loop (server.c), the top of the daemon: it calls
 * the request layer (request.h), nothing calls it but main.c.
 */
#pragma once

#include "daemon.h"

/* Bind and listen on path (mode 0666, parent created 0755). Refuses to
 * replace a socket another live daemon answers on. */
int tp_server_listen(const char *path, int *ret_fd);

/* The event loop: serve until SIGTERM or SIGINT. Returns 0 on a clean stop. */
int tp_server_run(struct tp_daemon *d, int listen_fd);
