/* SPDX-License-Identifier: BSD-3-Clause */
/* boot.c: sessions belong to the boot they were signed in during.
 *
 * Owns the daemon's knowledge of the running boot and the start-up pass
 * that closes every active session recorded in another one: after a
 * reboot, a stored logind session id, leader pid and start time may all
 * name something else (logind numbers sessions from 1 again, pids and
 * start times repeat), so such a session is a ghost, closed and audited
 * before any request is served. Enforcement refuses it as well, on every
 * path (enforce.c), so this pass is about the store and the caps, not
 * about safety. Once a pass has completed in this boot, the store says so
 * and a restart skips it: every session since carries this boot. Never
 * acts on a running session.
 */
#include "boot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enforce.h"
#include "log.h"

/* Sessions closed per transaction at start. */
#define BOOT_PAGE 256

/* When this boot began, in wall-clock seconds. */
static int64_t boot_began(void)
{
        struct timespec wall, since_boot;

        if (clock_gettime(CLOCK_REALTIME, &wall) < 0 || clock_gettime(CLOCK_BOOTTIME, &since_boot) < 0)
                return INT64_MAX; /* adopt nothing */
        return (int64_t)wall.tv_sec - (int64_t)since_boot.tv_sec;
}

/* Sessions written before the store recorded boots: those signed in since
 * this boot began are this boot's; the rest are closed below. */
static int adopt_unrecorded(struct tp_daemon *d)
{
        size_t n = 0;
        int r;

        if ((r = tp_store_begin(d->store)) < 0)
                return r;
        if ((r = tp_store_adopt_boot(d->store, d->boot_id, boot_began(), &n)) < 0 ||
            (r = tp_store_commit(d->store)) < 0) {
                tp_store_rollback(d->store);
                return r;
        }
        if (n > 0)
                tp_log(LOG_INFO, "%zu active session(s) recorded without their boot were signed in during this one",
                       n);
        return 0;
}

/* Done for this boot: the next start in it has nothing to look for. */
static int record_checked(struct tp_daemon *d)
{
        int r;

        if ((r = tp_store_begin(d->store)) < 0)
                return r;
        if ((r = tp_store_set_boot_checked(d->store, d->boot_id)) < 0 ||
            (r = tp_store_commit(d->store)) < 0)
                tp_store_rollback(d->store);
        return r;
}

int tp_boot_start(struct tp_daemon *d)
{
        struct tp_store_cursor cur = TP_STORE_CURSOR_START;
        struct tp_session *rows = NULL;
        char checked[TP_BOOT_ID_MAX];
        int64_t now = (int64_t)time(NULL);
        size_t n, total = 0;
        int r;

        if ((r = tp_boot_id_read(d->boot_id, sizeof(d->boot_id))) < 0)
                return tp_log_errno(r, "Failed to read the boot id from /proc/sys/kernel/random/boot_id");
        if (d->start_pending)
                return 0; /* a fleet's database away: the pass waits for it (offline.c) */
        if ((r = tp_store_boot_checked(d->store, checked, sizeof(checked))) < 0)
                goto out;
        if (strcmp(checked, d->boot_id) == 0)
                return 0;
        if ((r = adopt_unrecorded(d)) < 0)
                goto out;
        do {
                if ((r = tp_store_other_boot_page(d->store, d->boot_id, &cur, BOOT_PAGE, &rows, &n)) < 0)
                        goto out;
                if (n == 0)
                        break;
                if ((r = tp_store_begin(d->store)) < 0)
                        goto out;
                for (size_t i = 0; i < n; i++) {
                        r = tp_store_end(d->store, rows[i].id, TP_STATE_CLOSED, now);
                        if (r < 0 && r != -ESTALE && r != -ENOENT)
                                break;
                        r = 0;
                }
                if (r < 0 || (r = tp_store_commit(d->store)) < 0) {
                        tp_store_rollback(d->store);
                        goto out;
                }
                for (size_t i = 0; i < n; i++)
                        tp_audit(&(struct tp_audit){ .event = "close", .user = rows[i].user,
                                                     .client = rows[i].client, .service = rows[i].service,
                                                     .session = rows[i].id,
                                                     .reason = "signed in during an earlier boot; nothing of it runs now",
                                                     .peer_uid = -1 });
                total += n;
                free(rows);
                rows = NULL;
        } while (n == BOOT_PAGE);
        if (total > 0)
                tp_log(LOG_INFO, "closed %zu session(s) of an earlier boot", total);
        r = record_checked(d);
out:
        free(rows);
        if (r < 0)
                tp_log_errno(r, "Failed to close the sessions of an earlier boot (%s)",
                             tp_store_errmsg(d->store));
        return r;
}
