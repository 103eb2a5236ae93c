/* SPDX-License-Identifier: BSD-3-Clause */
/* notify.h: telling the service manager how the daemon is doing.
 *
 * sd_notify(3) messages (READY=1, RELOADING=1, STOPPING=1, STATUS=,
 * WATCHDOG=1) and socket activation (sd_listen_fds(3)). Every call is a
 * no-op when the daemon was not started by systemd (no NOTIFY_SOCKET, no
 * LISTEN_FDS), so a hand-started daemon behaves the same. Never logs.
 */
#pragma once

#include <stdint.h>

/* The listening socket systemd passed, or -ENOENT when none was passed;
 * -EINVAL when what was passed is not exactly one Unix stream socket in
 * listening state. The fd is made non-blocking and close-on-exec. */
int tp_notify_listen_fd(int *ret_fd);

void tp_notify_ready(const char *status);
void tp_notify_reloading(void);
void tp_notify_status(const char *status);
void tp_notify_stopping(void);

/* How often to send WATCHDOG=1 (half of WATCHDOG_USEC), in milliseconds;
 * 0 when no watchdog is requested. */
int64_t tp_watchdog_interval_ms(void);
void tp_watchdog_ping(void);
