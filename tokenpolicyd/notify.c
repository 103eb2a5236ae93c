/* SPDX-License-Identifier: BSD-3-Clause */
/* notify.c: sd_notify and socket activation, through libsystemd's
 * sd-daemon API. Must never block the event loop (sd_notify sends one
 * datagram) and never log.
 */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

int tp_notify_listen_fd(int *ret_fd)
{
        int n = sd_listen_fds(1), fd = SD_LISTEN_FDS_START, flags;

        if (n < 0)
                return n;
        if (n == 0)
                return -ENOENT;
        if (n != 1 || sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
                return -EINVAL;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
            fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

void tp_notify_ready(const char *status)
{
        sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%d", status, (int)getpid());
}

void tp_notify_reloading(void)
{
        sd_notify(0, "RELOADING=1\nSTATUS=Reloading the configuration");
}

void tp_notify_status(const char *status)
{
        sd_notifyf(0, "STATUS=%s", status);
}

void tp_notify_stopping(void)
{
        sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
}

int64_t tp_watchdog_interval_ms(void)
{
        uint64_t usec = 0;

        if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
                return 0;
        return usec / 2000 > 0 ? (int64_t)(usec / 2000) : 1;
}

void tp_watchdog_ping(void)
{
        sd_notify(0, "WATCHDOG=1");
}
