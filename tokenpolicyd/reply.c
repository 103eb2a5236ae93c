/* SPDX-License-Identifier: BSD-3-Clause */
/* reply.c: the helpers every handler answers with (reply.h).
 *
 * Messages are cut to fit the reply, never overflow it. A store failure is
 * logged with the store's own message and answered without it: the details
 * are for the administrator, not the peer.
 */
#include "reply.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

void tp_reply_status(struct tp_reply *rep, uint8_t status, const char *fmt, ...)
{
        va_list ap;

        rep->status = status;
        va_start(ap, fmt);
        vsnprintf(rep->message, sizeof(rep->message), fmt, ap);
        va_end(ap);
}

void tp_reply_store_error(struct tp_store *store, struct tp_reply *rep, int r, const char *what)
{
        /* A fleet's database away: said once in the log when it went
         * (offline.c), and to every caller meanwhile. */
        if (r == -ENOTCONN) {
                tp_reply_status(rep, TP_STATUS_ERROR, "The session store cannot answer: %s.",
                                tp_store_errmsg(store));
                return;
        }
        tp_log(LOG_ERR, "session store: %s failed: %s (%s)", what, strerror(-r), tp_store_errmsg(store));
        tp_reply_status(rep, TP_STATUS_ERROR, "The session store failed (%s); see the tokenpolicyd log.",
                        strerror(-r));
}

static void copy_str(char *dst, size_t dstsz, const char *src)
{
        snprintf(dst, dstsz, "%s", src ? src : "");
}

void tp_session_to_info(const struct tp_session *s, struct tp_session_info *i)
{
        memset(i, 0, sizeof(*i));
        copy_str(i->id, sizeof(i->id), s->id);
        copy_str(i->user, sizeof(i->user), s->user);
        i->uid = s->uid;
        copy_str(i->client, sizeof(i->client), s->client);
        copy_str(i->service, sizeof(i->service), s->service);
        copy_str(i->rhost, sizeof(i->rhost), s->rhost);
        copy_str(i->tty, sizeof(i->tty), s->tty);
        i->leader_pid = s->leader_pid;
        i->created = s->created;
        i->refresh_expires = s->refresh_expires;
        i->last_extended = s->last_extended;
        i->last_used = s->last_used;
        i->ended = s->ended;
        i->state = s->state;
}
