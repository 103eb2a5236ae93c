/* SPDX-License-Identifier: BSD-3-Clause */
/* retention.c: how long the store keeps ended sessions.
 *
 * Owns the background purge: sessions that ended more than
 * store.history_days ago are deleted, a bounded step a second, so the
 * history a listing or a sign-in's index walks stays the size of the
 * retention window, and the event loop is never held for more than one
 * step. Active sessions are never touched, however old.
 */
#include "retention.h"

#include <errno.h>
#include <time.h>

#include "io.h"
#include "log.h"

/* Ended sessions looked at per step (each one that is due is deleted).
 * Deleting costs most in the id index, whose pages random ids scatter:
 * 128 took 3.4 ms on average on a 2-core VM with 100,000 due (the commit's
 * sync included), and make up to 11 million a day. */
#define PURGE_STEP 128
#define PURGE_INTERVAL_MS 1000
#define PURGE_RETRY_MS 60000
#define DAY_SECONDS 86400

void tp_retention_tick(struct tp_daemon *d)
{
        int64_t now_ms = tp_monotonic_ms();
        int64_t before = (int64_t)time(NULL) - (int64_t)d->config->history_days * DAY_SECONDS;
        size_t deleted = 0;
        int r, more;

        if (now_ms < d->purge_due_ms)
                return;
        d->purge_due_ms = now_ms + PURGE_INTERVAL_MS;
        if ((r = tp_store_begin(d->store)) < 0)
                goto fail;
        more = tp_store_purge_step(d->store, before, PURGE_STEP, &d->purge, &deleted);
        if (more < 0 || (r = tp_store_commit(d->store)) < 0) {
                r = more < 0 ? more : r;
                tp_store_rollback(d->store);
                goto fail;
        }
        d->purged += deleted;
        if (!more && d->purged > 0) { /* the pass is complete */
                tp_log(LOG_INFO, "deleted %zu session(s) that ended more than %u day(s) ago",
                       d->purged, d->config->history_days);
                d->purged = 0;
        }
        return;
fail:
        /* Nothing was deleted: start the pass over, later. */
        d->purged = 0;
        d->purge = (struct tp_store_purge_pos){ 0 };
        d->purge_due_ms = now_ms + PURGE_RETRY_MS;
        tp_log_errno(r, "Failed to delete ended sessions past their retention (%s); retrying in %d s",
                     tp_store_errmsg(d->store), PURGE_RETRY_MS / 1000);
}
