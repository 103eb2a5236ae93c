/* SPDX-License-Identifier: BSD-3-Clause */
/* pidfile.c: write and remove the daemon's PID file.
 *
 * The file is written once the daemon holds its socket, so only the one
 * process that serves the socket writes it; the rename makes it appear
 * whole, and removal checks that it is still ours.
 */
#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PIDFILE_TEXT_MAX 32

int tp_pidfile_write(const char *path)
{
        char tmp[PATH_MAX], text[PIDFILE_TEXT_MAX];
        ssize_t written;
        int fd, len, r = 0;

        if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
                return -ENAMETOOLONG;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        len = snprintf(text, sizeof(text), "%d\n", (int)getpid());
        written = write(fd, text, (size_t)len);
        if (written < 0)
                r = -errno;
        else if (written != len)
                r = -EIO;
        /* 0644 whatever the umask: "status" runs as any user. */
        else if (fchmod(fd, 0644) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

int tp_pidfile_remove(const char *path)
{
        char text[PIDFILE_TEXT_MAX], *end;
        ssize_t n;
        long pid;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        n = read(fd, text, sizeof(text) - 1);
        close(fd);
        if (n < 0)
                return -errno;
        text[n] = '\0';
        errno = 0;
        pid = strtol(text, &end, 10);
        if (errno != 0 || end == text || strcmp(end, "\n") != 0 || pid != (long)getpid())
                return 0;
        if (unlink(path) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 0;
}
