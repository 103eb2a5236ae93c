/* SPDX-License-Identifier: BSD-3-Clause */
/* mapfile.c: publish the running configuration's service map (mapfile.h),
 * beside the socket and, to outlive a reboot, in the state directory.
 *
 * Must never leave a half-written map where the module looks (write a
 * temporary file, then rename), never leave a map that describes another
 * configuration than the running one (remove it when the new one cannot
 * be written), and never make the file writable by anyone but the daemon.
 */
#include "mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "svcmap.h"

static int build(const struct tp_config *c, char *text, size_t size)
{
        struct tp_svcmap_builder b;

        tp_svcmap_begin(&b, text, size, c->unknown_client < 0 ? NULL : c->clients[c->unknown_client].name);
        for (size_t i = 0; i < c->n_clients; i++)
                tp_svcmap_add_client(&b, c->clients[i].name, c->clients[i].services, c->clients[i].n_services);
        return tp_svcmap_finish(&b);
}

static int write_all(int fd, const char *p, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Is path already exactly this map, as this function writes it? Then a
 * start or reload that changes nothing writes nothing, and a full disk
 * cannot cost a map that is right. */
static bool holds(const char *path, const char *text, size_t len)
{
        char *buf = NULL;
        struct stat st;
        bool same = false;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return false;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644 &&
            st.st_uid == geteuid() && st.st_size == (off_t)len && (buf = malloc(len + 1))) {
                size_t got = 0;
                ssize_t n;

                /* One byte more than expected tells a file that grew. */
                while (got < len + 1 && (n = read(fd, buf + got, len + 1 - got)) > 0)
                        got += (size_t)n;
                same = got == len && memcmp(buf, text, len) == 0;
        }
        free(buf);
        close(fd);
        return same;
}

/* The directory of path, synced, so that a rename in it outlives a crash. */
static int sync_dir(const char *path)
{
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/');
        int fd, r = 0;

        if (!slash)
                snprintf(dir, sizeof(dir), ".");
        else
                snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

/* One map file: text[0..n), or, when n is negative (the map could not
 * be built), that error. On failure the old one at path is removed. */
static int publish_one(const char *path, const char *text, int n)
{
        size_t len = n < 0 ? 0 : (size_t)n;
        char tmp[PATH_MAX + 8];
        int fd = -1, r;

        tmp[0] = '\0';
        if (n < 0) {
                r = n;
                goto fail;
        }
        if (holds(path, text, len))
                return 0;
        snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                tmp[0] = '\0';
                goto fail;
        }
        /* Readable by every PAM process (a screen locker runs as its
         * user), writable by the daemon only: the module refuses
         * anything else. */
        if (fchmod(fd, 0644) < 0) {
                r = -errno;
                goto fail;
        }
        if ((r = write_all(fd, text, len)) < 0)
                goto fail;
        r = fsync(fd) < 0 ? -errno : 0;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        fd = -1;
        if (r < 0)
                goto fail;
        if (rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        tmp[0] = '\0';
        /* Not synced, the old map could be back after a crash: that is
         * what this function must not leave behind. */
        if ((r = sync_dir(path)) < 0)
                goto fail;
        return 0;

fail:
        if (fd >= 0)
                close(fd);
        if (tmp[0])
                unlink(tmp);
        /* A map of the previous configuration would tell the module that
         * a newly mapped service is none of the policy's business. */
        if (unlink(path) < 0 && errno != ENOENT)
                tp_log(LOG_ERR, "cannot remove the out-of-date service map %s: %s", path, strerror(errno));
        return r;
}

int tp_mapfile_publish(const struct tp_config *c, const char *socket_path, const char *state_dir)
{
        char path[PATH_MAX], state_path[PATH_MAX];
        char *text = NULL;
        int n, r, first = 0;

        if ((r = tp_svcmap_path(socket_path, path, sizeof(path))) < 0) {
                tp_log(LOG_ERR, "no service map: the path next to %s is too long", socket_path);
                return r;
        }
        text = malloc(TP_SVCMAP_SIZE_MAX + 1);
        n = text ? build(c, text, TP_SVCMAP_SIZE_MAX + 1) : -ENOMEM;
        /* The copy in the state directory first: while the map beside the
         * socket is replaced or removed, the module may fall back on the
         * copy, which by then is the new map or none. */
        if (snprintf(state_path, sizeof(state_path), "%s/%s", state_dir, TP_SVCMAP_FILE) >=
            (int)sizeof(state_path)) {
                tp_log(LOG_ERR, "no service map in %s: the path is too long", state_dir);
                first = -ENAMETOOLONG;
        } else if ((r = publish_one(state_path, text, n)) < 0) {
                tp_log(LOG_ERR, "cannot write the service map %s: %s; after a reboot the PAM module asks the daemon for every service until the daemon runs",
                       state_path, strerror(-r));
                first = r;
        }
        if ((r = publish_one(path, text, n)) < 0) {
                tp_log(LOG_ERR, "cannot write the service map %s: %s; the PAM module reads the copy in the state directory if there is one, or asks the daemon for every service",
                       path, strerror(-r));
                if (!first)
                        first = r;
        } else {
                tp_log(LOG_DEBUG, "service map written to %s (%zu client types)", path, c->n_clients);
        }
        free(text);
        return first;
}
