/* SPDX-License-Identifier: BSD-3-Clause */
/* policy.c: the policy engine (docs/product.md §1, §3). Decides sign-in,
 * re-auth and refresh from the effective policy, the sessions the store
 * reports and a caller-supplied "now".
 *
 * Must never do I/O, read a clock, allocate, log or write outside the
 * decision it is handed: the daemon applies decisions, this file only makes
 * them. All time arithmetic is int64 and saturates instead of overflowing.
 */
#include <stdint.h>

#include "policy.h"

#define SECONDS_PER_HOUR INT64_C(3600)
#define SECONDS_PER_MINUTE INT64_C(60)

/* now + delta for delta >= 0, clamped at INT64_MAX: a clock near the end
 * of time must not wrap an expiry into the past. */
static int64_t time_add_saturating(int64_t now, int64_t delta)
{
        if (delta > 0 && now > INT64_MAX - delta)
                return INT64_MAX;
        return now + delta;
}

/* uint32 hours * 3600 is below 2^44, so the product cannot overflow. */
static int64_t refresh_expiry(const struct tp_effective_policy *p, int64_t now)
{
        return time_add_saturating(now, (int64_t) p->refresh_ttl_hours * SECONDS_PER_HOUR);
}

int64_t tp_policy_access_expiry(const struct tp_effective_policy *p, int64_t now,
                                int64_t refresh_expires)
{
        int64_t access_expires;

        access_expires = time_add_saturating(now,
                                             (int64_t) p->access_ttl_minutes * SECONDS_PER_MINUTE);
        return access_expires < refresh_expires ? access_expires : refresh_expires;
}

/* The boundary is exact: at now == refresh_expires the token is dead. */
static bool session_is_past_expiry(const struct tp_policy_session *s, int64_t now)
{
        return now >= s->refresh_expires;
}

/* Strict "evict a before b". Index is the final tie-break, so the order is
 * total and the choice deterministic whatever the input order. */
static bool evicts_before(enum tp_evict_mode mode, const struct tp_policy_session *sessions,
                          size_t a, size_t b)
{
        const struct tp_policy_session *sa = &sessions[a], *sb = &sessions[b];

        if (mode == TP_EVICT_LEAST_RECENTLY_USED && sa->last_used != sb->last_used)
                return sa->last_used < sb->last_used;
        if (sa->created != sb->created)
                return sa->created < sb->created;
        return a < b;
}

/* live[0..n_live) holds candidate indices; reorder it so that its first
 * n_victims entries are the victims in eviction order. Selection sort:
 * O(n_live * n_victims) with no allocation, and n_live is bounded by the
 * cap the store has enforced so far. */
static void select_victims(enum tp_evict_mode mode, const struct tp_policy_session *sessions,
                           size_t *live, size_t n_live, size_t n_victims)
{
        for (size_t i = 0; i < n_victims; i++) {
                size_t best = i;

                for (size_t j = i + 1; j < n_live; j++)
                        if (evicts_before(mode, sessions, live[j], live[best]))
                                best = j;
                if (best != i) {
                        size_t t = live[i];
                        live[i] = live[best];
                        live[best] = t;
                }
        }
}

/* Expired sessions are reported whatever the verdict: they are facts about
 * the store, and the caller may mark them even when it refuses the sign-in. */
void tp_policy_sign_in(const struct tp_effective_policy *p, int64_t now,
                       const struct tp_policy_session *sessions, size_t n_sessions,
                       struct tp_signin_decision *d)
{
        size_t n_live = 0, cap = p->max_refresh_tokens, n_victims;

        d->verdict = TP_VERDICT_ALLOW;
        d->n_live = 0;
        d->at_cap = false;
        d->refresh_expires = 0;
        d->access_expires = 0;
        d->n_evict = 0;
        d->n_expired = 0;

        for (size_t i = 0; i < n_sessions; i++) {
                if (sessions[i].state != TP_STATE_ACTIVE)
                        continue;
                if (session_is_past_expiry(&sessions[i], now))
                        d->expired[d->n_expired++] = i;
                else
                        n_live++;
        }
        d->n_live = n_live;
        d->at_cap = n_live >= cap;

        if (!p->access) {
                d->verdict = TP_VERDICT_DENY_ACCESS;
                return;
        }

        if (n_live >= cap) {
                /* A cap of zero admits nothing: evicting every session would
                 * still leave the new one over the cap. An evict mode this
                 * engine does not know never revokes anyone. */
                if (cap == 0 || (p->evict != TP_EVICT_OLDEST &&
                                 p->evict != TP_EVICT_LEAST_RECENTLY_USED)) {
                        d->verdict = TP_VERDICT_DENY_CAP;
                        return;
                }

                /* Evict down to cap - 1 so that the new session lands on the
                 * cap: lowering the cap shrinks a user's sessions at once. */
                n_victims = n_live - cap + 1;

                /* The caller's evict array doubles as the candidate list:
                 * it holds n_sessions >= n_live entries. */
                for (size_t i = 0, k = 0; i < n_sessions; i++)
                        if (sessions[i].state == TP_STATE_ACTIVE &&
                            !session_is_past_expiry(&sessions[i], now))
                                d->evict[k++] = i;
                select_victims(p->evict, sessions, d->evict, n_live, n_victims);
                d->n_evict = n_victims;
        }

        d->refresh_expires = refresh_expiry(p, now);
        d->access_expires = tp_policy_access_expiry(p, now, d->refresh_expires);
}

size_t tp_policy_room(const struct tp_effective_policy *p)
{
        return p->access ? p->max_refresh_tokens : 0;
}

/* Checks shared by re-auth and refresh, in the order that gives the user
 * the most useful reason. Returns ALLOW when the session may be extended. */
static enum tp_verdict check_extendable(const struct tp_effective_policy *p, int64_t now,
                                        const struct tp_policy_session *s)
{
        if (s->state != TP_STATE_ACTIVE)
                return TP_VERDICT_DENY_INACTIVE;
        if (session_is_past_expiry(s, now))
                return TP_VERDICT_DENY_EXPIRED;
        if (!p->access)
                return TP_VERDICT_DENY_ACCESS;
        return TP_VERDICT_ALLOW;
}

static void extend_deny(const struct tp_policy_session *s, enum tp_verdict v,
                        struct tp_extend_decision *d)
{
        d->verdict = v;
        d->record = false;
        d->rotate = false;
        d->refresh_expires = s->refresh_expires;
        d->access_expires = 0;
}

void tp_policy_reauth(const struct tp_effective_policy *p, int64_t now,
                      const struct tp_policy_session *s, struct tp_extend_decision *d)
{
        enum tp_verdict v;

        v = check_extendable(p, now, s);
        if (v != TP_VERDICT_ALLOW) {
                extend_deny(s, v, d);
                return;
        }

        d->verdict = TP_VERDICT_ALLOW;
        d->record = true;
        d->rotate = true;
        d->refresh_expires = refresh_expiry(p, now);
        d->access_expires = tp_policy_access_expiry(p, now, d->refresh_expires);
}

void tp_policy_refresh(const struct tp_effective_policy *p, int64_t now,
                       const struct tp_policy_session *s, bool account_valid,
                       struct tp_extend_decision *d)
{
        enum tp_verdict v;

        v = check_extendable(p, now, s);
        if (v == TP_VERDICT_ALLOW && !account_valid)
                v = TP_VERDICT_DENY_ACCOUNT;
        if (v != TP_VERDICT_ALLOW) {
                extend_deny(s, v, d);
                return;
        }

        d->verdict = TP_VERDICT_ALLOW;
        d->record = !(now >= s->last_used && now - s->last_used < TP_REFRESH_COALESCE_S);
        d->rotate = p->auto_extend && d->record;
        d->refresh_expires = d->rotate ? refresh_expiry(p, now) : s->refresh_expires;
        d->access_expires = tp_policy_access_expiry(p, now, d->refresh_expires);
}

const char *tp_verdict_reason(enum tp_verdict v)
{
        switch (v) {
        case TP_VERDICT_ALLOW:
                return "allowed";
        case TP_VERDICT_DENY_ACCESS:
                return "client type disabled by your administrator";
        case TP_VERDICT_DENY_CAP:
                return "session limit reached";
        case TP_VERDICT_DENY_INACTIVE:
                return "session is no longer active";
        case TP_VERDICT_DENY_EXPIRED:
                return "refresh token expired; sign in again";
        case TP_VERDICT_DENY_ACCOUNT:
                return "account is no longer valid";
        }
        return "unknown verdict";
}
