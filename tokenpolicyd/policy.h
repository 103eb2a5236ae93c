/* SPDX-License-Identifier: BSD-3-Clause */
/* policy.h: the policy engine. Pure: policy values, the relevant sessions
 * and the current time in; a decision out. No I/O, no clock, no allocation,
 * no logging, so every rule is testable in isolation and at any instant.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* What the engine needs to know about an existing session. */
struct tp_policy_session {
        int64_t created;
        int64_t last_used;        /* last sign-in, re-auth or refresh */
        int64_t refresh_expires;
        uint8_t state;            /* enum tp_session_state */
};

enum tp_verdict {
        TP_VERDICT_ALLOW = 0,
        TP_VERDICT_DENY_ACCESS,    /* client type disabled */
        TP_VERDICT_DENY_CAP,       /* evict = deny_new and at the cap */
        TP_VERDICT_DENY_INACTIVE,  /* session revoked, closed or expired */
        TP_VERDICT_DENY_EXPIRED,   /* refresh token past its expiry */
        TP_VERDICT_DENY_ACCOUNT,   /* account gone, locked or expired */
};

/* Sign-in: the user's sessions of this client type that the store still
 * calls active (possibly some already past expiry: the engine ignores
 * those for the cap and lists them in `expired`). */
struct tp_signin_decision {
        enum tp_verdict verdict;
        size_t n_live;             /* sessions counted against the cap: active, not past expiry */
        bool at_cap;               /* n_live >= the cap: a new session would go over it, so
                                    * one of them that is really gone would change the answer
                                    * (set whatever the verdict) */
        int64_t refresh_expires;   /* for the new session */
        int64_t access_expires;
        size_t n_evict;            /* indices into the input, eviction order */
        size_t *evict;             /* caller-provided array of n_sessions */
        size_t n_expired;          /* indices of sessions found past expiry */
        size_t *expired;           /* caller-provided array of n_sessions */
};

/* `evict` and `expired` in *d must point to arrays of at least n_sessions
 * entries (may be NULL when n_sessions is 0). */
void tp_policy_sign_in(const struct tp_effective_policy *p, int64_t now,
                       const struct tp_policy_session *sessions, size_t n_sessions,
                       struct tp_signin_decision *d);

/* How many live sessions a user may already hold for tp_policy_sign_in()
 * to allow one more without evicting: with fewer than this, none past
 * expiry, it allows, evicts nothing and expires nothing. 0 when no count
 * makes that so. */
size_t tp_policy_room(const struct tp_effective_policy *p);

/* A silent refresh less than this many seconds after the session's last
 * recorded use (sign-in, re-authentication, or a refresh that was
 * recorded) records nothing and rotates nothing: it only mints an access
 * token. So a user's refresh loop forces at most one durable write per
 * session per window, and the session's expiry moves at most once. */
#define TP_REFRESH_COALESCE_S 60

/* Re-authentication, refresh: decision for one existing session. */
struct tp_extend_decision {
        enum tp_verdict verdict;
        bool record;               /* write the use (and a rotation) to the store */
        bool rotate;               /* issue a new refresh token (implies record) */
        int64_t refresh_expires;   /* new or unchanged */
        int64_t access_expires;
};

/* Re-authentication: the user proved identity again; new TTL. */
void tp_policy_reauth(const struct tp_effective_policy *p, int64_t now,
                      const struct tp_policy_session *s, struct tp_extend_decision *d);

/* Silent refresh: new access token while the refresh token is valid;
 * rotate with a fresh TTL only when auto-extend is on, and record the use,
 * unless the last recorded use is less than TP_REFRESH_COALESCE_S ago
 * (a clock set back counts as outside the window). A session whose
 * account is no longer valid is denied either way. */
void tp_policy_refresh(const struct tp_effective_policy *p, int64_t now,
                       const struct tp_policy_session *s, bool account_valid,
                       struct tp_extend_decision *d);

/* Access token expiry: now + access TTL, never past refresh_expires. */
int64_t tp_policy_access_expiry(const struct tp_effective_policy *p, int64_t now,
                                int64_t refresh_expires);

const char *tp_verdict_reason(enum tp_verdict v);
