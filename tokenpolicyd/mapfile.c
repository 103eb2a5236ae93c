/* mapfile.c: publish the running configuration's service map (mapfile.h).
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

int tp_mapfile_publish(const struct tp_config *c, const char *socket_path)
{
        char path[PATH_MAX], tmp[PATH_MAX + 8];
        char *text = NULL;
        int fd = -1, n, r;

        tmp[0] = '\0';
        if ((r = tp_svcmap_path(socket_path, path, sizeof(path))) < 0) {
                tp_log(LOG_ERR, "no service map: the path next to %s is too long", socket_path);
                return r;
        }
        text = malloc(TP_SVCMAP_SIZE_MAX + 1);
        if (!text) {
                r = -ENOMEM;
                goto fail;
        }
        if ((n = build(c, text, TP_SVCMAP_SIZE_MAX + 1)) < 0) {
                r = n;
                goto fail;
        }
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
        if ((r = write_all(fd, text, (size_t)n)) < 0)
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
        free(text);
        tp_log(LOG_DEBUG, "service map written to %s (%zu client types)", path, c->n_clients);
        return 0;

fail:
        if (fd >= 0)
                close(fd);
        if (tmp[0])
                unlink(tmp);
        free(text);
        /* A map of the previous configuration would tell the module that
         * a newly mapped service is none of the policy's business. */
        if (unlink(path) < 0 && errno != ENOENT)
                tp_log(LOG_ERR, "cannot remove the out-of-date service map %s: %s", path, strerror(errno));
        tp_log(LOG_ERR, "cannot write the service map %s: %s; the PAM module asks the daemon for every service instead",
               path, strerror(-r));
        return r;
}
