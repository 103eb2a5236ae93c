/* keys.c: ROTATE_KEY, the request that replaces the signing key.
 *
 * Decides who may rotate (root or the daemon's own user) and how long the
 * old public key stays published; writing the keys is token.c's. Must
 * never: let anyone else rotate, publish the old key for less time than a
 * token it signed can live, or put key material in a reply or a log.
 */
#include "daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"

/* A token's exp is never later than its iat plus the access TTL it was
 * issued with, and no config allows more than TP_ACCESS_TTL_MINUTES_MAX,
 * whatever the file said then or says now. The slack covers the wall clock
 * stepping back a little between a signature and the rotation. */
#define RETAIN_SLACK_SEC 60
#define RETAIN_SEC ((int64_t)TP_ACCESS_TTL_MINUTES_MAX * 60 + RETAIN_SLACK_SEC)

static void audit_rotation(const struct tp_peer *peer, const char *old_kid, const char *new_kid,
                           int64_t until, const char *outcome)
{
        char reason[256];

        snprintf(reason, sizeof(reason), "new key %s; old key %s published until %" PRId64 "%s",
                 new_kid, old_kid, until, outcome);
        tp_audit(&(struct tp_audit){ .event = "rotate-key", .user = peer->user, .reason = reason,
                                     .peer_uid = (long)peer->uid });
}

void tp_handle_rotate_key(struct tp_daemon *d, const struct tp_peer *peer, struct tp_reply *rep)
{
        char before[TP_KID_LEN + 1], old_kid[TP_KID_LEN + 1];
        int64_t now = (int64_t)time(NULL), until;
        const char *kid;
        int r;

        if (!peer->admin) {
                tp_reply_status(rep, TP_STATUS_FORBIDDEN, "Only root may rotate the signing key.");
                return;
        }
        until = now + RETAIN_SEC;
        snprintf(before, sizeof(before), "%s", tp_signer_kid(d->signer));
        r = tp_signer_rotate(d->signer, now, until, old_kid);
        kid = tp_signer_kid(d->signer);
        if (r == -ENOSPC) {
                tp_reply_status(rep, TP_STATUS_DENIED,
                                "%d old signing keys are still published; rotate again once the oldest has expired (at most %" PRId64 " minutes).",
                                TP_SIGNER_RETAINED_MAX, RETAIN_SEC / 60);
                return;
        }
        if (r < 0 && strcmp(kid, before) == 0) {
                tp_log(LOG_ERR, "Failed to rotate the signing key in %s: %s; key %s stays in use",
                       d->state_dir, strerror(-r), before);
                tp_reply_status(rep, TP_STATUS_ERROR,
                                "Cannot rotate the signing key: %s; key %s stays in use. See the tokenpolicyd log.",
                                strerror(-r), before);
                return;
        }
        if (r < 0) {
                /* The new key is stored and in use, and the old one is
                 * retained: only the published copies are stale. */
                tp_log(LOG_ERR, "Signing key rotated to %s, but %s/%s or %s could not be rewritten: %s; restart tokenpolicyd to rewrite them",
                       kid, d->state_dir, TP_TOKEN_PUB_FILE, TP_TOKEN_JWKS_FILE, strerror(-r));
                audit_rotation(peer, before, kid, until, "; publishing failed");
                tp_reply_status(rep, TP_STATUS_ERROR,
                                "New signing key %s is in use, but publishing it failed: %s. Restart tokenpolicyd to publish it.",
                                kid, strerror(-r));
                return;
        }
        audit_rotation(peer, old_kid, kid, until, "");
        snprintf(rep->u.rotate.kid, sizeof(rep->u.rotate.kid), "%s", kid);
        snprintf(rep->u.rotate.old_kid, sizeof(rep->u.rotate.old_kid), "%s", old_kid);
        rep->u.rotate.old_until = until;
        tp_reply_status(rep, TP_STATUS_OK, "New signing key %s; the old key %s stays published until %" PRId64 ".",
                        kid, old_kid, until);
}
