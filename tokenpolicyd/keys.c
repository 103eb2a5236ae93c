/* SPDX-License-Identifier: BSD-3-Clause */
/* keys.c: ROTATE_KEY, the request that replaces the signing key;
 * REVOKE_KEY, the one that stops trusting a key at once; and the end of
 * retained keys at their time, while the daemon runs.
 *
 * Decides how long the old public key stays published; who may rotate or
 * revoke (administrators only) is the request table's (request.c), and
 * writing the keys is signer.c's.
 * Must never: let anyone else rotate or revoke, publish the old key for
 * less time than a token it signed can live, keep trusting a key past its
 * time or after its revocation, or put key material in a reply or a log.
 */
#include "keys.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "fleetkeys.h"
#include "log.h"
#include "signer.h"

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

static void handle_rotate_key(struct tp_daemon *d, const struct tp_peer *peer, struct tp_reply *rep)
{
        char before[TP_KID_LEN + 1], old_kid[TP_KID_LEN + 1];
        int64_t now = (int64_t)time(NULL), until;
        const char *kid;
        int r;

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

static void audit_revocation(const struct tp_peer *peer, const char *reason)
{
        tp_audit(&(struct tp_audit){ .event = "revoke-key", .user = peer->user, .reason = reason,
                                     .peer_uid = (long)peer->uid });
}

/* Revoking the current key rotates: refusing it would leave a compromised
 * key signing until someone rotates and then revokes, and a rotation alone
 * would keep it trusted for another 18 hours. */
static void handle_revoke_key(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_req_key *req,
                              struct tp_reply *rep)
{
        char kid[TP_KID_LEN + 1], reason[256];
        int64_t now = (int64_t)time(NULL);
        bool rotated = false;
        const char *current;
        int r;

        if (!tp_kid_valid(req->kid)) {
                tp_reply_status(rep, TP_STATUS_BAD_REQUEST,
                                "'%.64s' is not a key id (43 characters of base64url, as in jwks.json).", req->kid);
                return;
        }
        memcpy(kid, req->kid, sizeof(kid)); /* tp_kid_valid: exactly TP_KID_LEN characters */
        r = tp_signer_revoke(d->signer, kid, now, &rotated);
        current = tp_signer_kid(d->signer);
        if (r == -ENOENT) {
                tp_reply_status(rep, TP_STATUS_NOT_FOUND,
                                "No signing key %s: tokenpolicyd neither signs with it nor keeps it (jwks.json lists the keys it trusts).",
                                kid);
                return;
        }
        if (r < 0 && rotated && strcmp(current, kid) == 0) {
                tp_log(LOG_ERR, "Failed to replace the signing key %s in %s: %s; it is still in use", kid,
                       d->state_dir, strerror(-r));
                tp_reply_status(rep, TP_STATUS_ERROR,
                                "Cannot revoke the signing key %s: writing its replacement failed (%s), so it still signs. See the tokenpolicyd log.",
                                kid, strerror(-r));
                return;
        }
        if (rotated)
                snprintf(reason, sizeof(reason), "key %s revoked; it was the current key, new key %s%s", kid,
                         current, r < 0 ? "; publishing failed" : "");
        else
                snprintf(reason, sizeof(reason), "key %s revoked%s", kid,
                         r < 0 ? "; removing its files or rewriting the JWKS failed" : "");
        audit_revocation(peer, reason);
        if (r < 0) {
                /* The key is no longer trusted by this daemon either way;
                 * what failed is on disk. */
                tp_log(LOG_ERR, "Signing key %s is no longer trusted, but updating %s failed: %s", kid, d->state_dir,
                       strerror(-r));
                if (rotated)
                        tp_reply_status(rep, TP_STATUS_ERROR,
                                        "Signing key %s is revoked and new key %s signs, but publishing it failed: %s. tokenpolicyd retries; see its log.",
                                        kid, current, strerror(-r));
                else
                        tp_reply_status(rep, TP_STATUS_ERROR,
                                        "Signing key %s is no longer trusted by tokenpolicyd, but updating %s/%s or %s failed: %s; until it is fixed a restart or an offline check could trust it again. See the tokenpolicyd log.",
                                        kid, d->state_dir, TP_TOKEN_KEYS_DIR, TP_TOKEN_JWKS_FILE, strerror(-r));
                return;
        }
        snprintf(rep->u.revoke_key.kid, sizeof(rep->u.revoke_key.kid), "%s", kid);
        snprintf(rep->u.revoke_key.current_kid, sizeof(rep->u.revoke_key.current_kid), "%s", current);
        rep->u.revoke_key.rotated = rotated;
        if (rotated)
                tp_reply_status(rep, TP_STATUS_OK,
                                "Signing key %s revoked; it was the current key, so new key %s signs from now on.", kid,
                                current);
        else
                tp_reply_status(rep, TP_STATUS_OK, "Signing key %s revoked.", kid);
}

/* In fleet mode the other hosts learn the new set of keys at once, not at
 * the next refresh (tp_fleetkeys_publish does nothing for one host). */
void tp_handle_rotate_key(struct tp_call *c)
{
        handle_rotate_key(c->d, c->peer, c->rep);
        tp_fleetkeys_publish(c->d, false);
}

void tp_handle_revoke_key(struct tp_call *c)
{
        handle_revoke_key(c->d, c->peer, &c->req->u.key, c->rep);
        tp_fleetkeys_publish(c->d, false);
}

static void log_key_dropped(const char *kid, int64_t until, void *userdata)
{
        (void)userdata;
        tp_log(LOG_INFO, "retained signing key %s reached its end (%" PRId64 "): no longer trusted or published",
               kid, until);
}

#define KEYS_RETRY_SEC 60

void tp_keys_tick(struct tp_daemon *d)
{
        int64_t now = (int64_t)time(NULL);
        int r;

        if (now < d->keys_retry_at)
                return;
        r = tp_signer_expire(d->signer, now, log_key_dropped, NULL);
        if (r < 0) {
                /* Verification refuses those keys already; only the files
                 * are behind. Once a minute is often enough to retry. */
                if (d->keys_retry_at == 0)
                        tp_log(LOG_ERR, "Failed to remove expired retained keys from %s/%s or to rewrite %s: %s; retrying every %d s",
                               d->state_dir, TP_TOKEN_KEYS_DIR, TP_TOKEN_JWKS_FILE, strerror(-r), KEYS_RETRY_SEC);
                d->keys_retry_at = now + KEYS_RETRY_SEC;
                return;
        }
        if (d->keys_retry_at != 0)
                tp_log(LOG_NOTICE, "the key directory and %s are up to date again", TP_TOKEN_JWKS_FILE);
        d->keys_retry_at = 0;
}
