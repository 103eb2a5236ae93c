/* SPDX-License-Identifier: BSD-3-Clause */
/* test_policy.c: unit tests for the policy engine (tokenpolicyd/policy.c).
 *
 * Every rule of docs/product.md §1 and §3 on both sides of its limit: the
 * cap at cap-1/cap/cap+1, each eviction mode's choice, the exact expiry instant,
 * the TTL bounds, plus a seeded random walk that checks the engine's
 * invariants over thousands of decisions. Must never print outside cmocka
 * and never depend on the wall clock: every "now" is fixed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "policy.h"

#define NOW INT64_C(1700000000)
#define HOUR INT64_C(3600)
#define MINUTE INT64_C(60)
#define N_MAX 64

static struct tp_effective_policy policy_make(uint32_t cap, enum tp_evict_mode evict)
{
        return (struct tp_effective_policy) {
                .access = true,
                .auto_extend = false,
                .refresh_ttl_hours = TP_BUILTIN_REFRESH_TTL_HOURS,
                .access_ttl_minutes = TP_BUILTIN_ACCESS_TTL_MINUTES,
                .max_refresh_tokens = cap,
                .evict = evict,
                .on_expiry = TP_ACTION_TERMINATE,
                .on_revoke = TP_ACTION_TERMINATE,
        };
}

/* n live sessions; session i was created at NOW - 10000 + i, so index order
 * is age order, and all expire an hour from NOW. */
static void sessions_fill_live(struct tp_policy_session *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                s[i] = (struct tp_policy_session) {
                        .created = NOW - 10000 + (int64_t) i,
                        .last_used = NOW - 5000 + (int64_t) i,
                        .refresh_expires = NOW + HOUR,
                        .state = TP_STATE_ACTIVE,
                };
}

struct signin_result {
        struct tp_signin_decision d;
        size_t evict[N_MAX];
        size_t expired[N_MAX];
};

static void sign_in(const struct tp_effective_policy *p, int64_t now,
                    const struct tp_policy_session *s, size_t n, struct signin_result *r)
{
        assert_true(n <= N_MAX);
        /* Poison so that stale values cannot pass for results. */
        memset(r, 0xa5, sizeof(*r));
        r->d.evict = r->evict;
        r->d.expired = r->expired;
        tp_policy_sign_in(p, now, s, n, &r->d);
}

/* ---- sign-in: the cap ---------------------------------------------------- */

static void test_signin_no_sessions(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_signin_decision d = { .evict = NULL, .expired = NULL };

        (void) state;
        tp_policy_sign_in(&p, NOW, NULL, 0, &d);
        assert_int_equal(d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(d.n_evict, 0);
        assert_int_equal(d.n_expired, 0);
        assert_int_equal(d.refresh_expires, NOW + 336 * HOUR);
        assert_int_equal(d.access_expires, NOW + 720 * MINUTE);
}

static void test_signin_cap10_with_9_live_evicts_none(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s[9];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 9);
        sign_in(&p, NOW, s, 9, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(r.d.n_evict, 0);
        assert_int_equal(r.d.n_expired, 0);
}

static void test_signin_cap10_with_10_live_evicts_one(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s[10];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 10);
        sign_in(&p, NOW, s, 10, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(r.d.n_evict, 1);
        assert_int_equal(r.evict[0], 0);
        assert_int_equal(r.d.refresh_expires, NOW + 336 * HOUR);
}

static void test_signin_cap10_with_11_live_evicts_two(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s[11];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 11);
        sign_in(&p, NOW, s, 11, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(r.d.n_evict, 2);
        assert_int_equal(r.evict[0], 0);
        assert_int_equal(r.evict[1], 1);
}

static void test_signin_cap_max_boundary(void **state)
{
        struct tp_effective_policy p = policy_make(TP_MAX_REFRESH_TOKENS_MAX, TP_EVICT_OLDEST);
        static struct tp_policy_session s[TP_MAX_REFRESH_TOKENS_MAX + 1];
        static size_t evict[TP_MAX_REFRESH_TOKENS_MAX + 1], expired[TP_MAX_REFRESH_TOKENS_MAX + 1];
        struct tp_signin_decision d = { .evict = evict, .expired = expired };

        (void) state;
        for (size_t i = 0; i <= TP_MAX_REFRESH_TOKENS_MAX; i++)
                s[i] = (struct tp_policy_session) {
                        .created = NOW - 1000 + (int64_t) i,
                        .last_used = NOW - 1000 + (int64_t) i,
                        .refresh_expires = NOW + HOUR,
                        .state = TP_STATE_ACTIVE,
                };

        tp_policy_sign_in(&p, NOW, s, TP_MAX_REFRESH_TOKENS_MAX - 1, &d);
        assert_int_equal(d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(d.n_evict, 0);

        tp_policy_sign_in(&p, NOW, s, TP_MAX_REFRESH_TOKENS_MAX, &d);
        assert_int_equal(d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(d.n_evict, 1);
        assert_int_equal(evict[0], 0);
}

/* Oldest and least recently used disagree here: the oldest session (index
 * 3) was used a moment ago, the stalest (index 1) was created last. */
static void sessions_fill_crafted(struct tp_policy_session *s)
{
        static const int64_t created[10] = { 50, 90, 40, 10, 60, 70, 20, 80, 30, 95 };
        static const int64_t used[10] = { 500, 100, 400, 999, 300, 200, 150, 600, 700, 800 };

        for (size_t i = 0; i < 10; i++)
                s[i] = (struct tp_policy_session) {
                        .created = NOW - 1000 + created[i],
                        .last_used = NOW - 1000 + used[i],
                        .refresh_expires = NOW + HOUR,
                        .state = TP_STATE_ACTIVE,
                };
}

static void test_signin_evict_oldest_picks_smallest_created(void **state)
{
        struct tp_effective_policy p = policy_make(8, TP_EVICT_OLDEST);
        struct tp_policy_session s[10];
        struct signin_result r;

        (void) state;
        sessions_fill_crafted(s);
        sign_in(&p, NOW, s, 10, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(r.d.n_evict, 3);
        /* created 10, 20, 30 */
        assert_int_equal(r.evict[0], 3);
        assert_int_equal(r.evict[1], 6);
        assert_int_equal(r.evict[2], 8);
}

static void test_signin_evict_lru_picks_smallest_last_used(void **state)
{
        struct tp_effective_policy p = policy_make(8, TP_EVICT_LEAST_RECENTLY_USED);
        struct tp_policy_session s[10];
        struct signin_result r;

        (void) state;
        sessions_fill_crafted(s);
        sign_in(&p, NOW, s, 10, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(r.d.n_evict, 3);
        /* last used 100, 150, 200 */
        assert_int_equal(r.evict[0], 1);
        assert_int_equal(r.evict[1], 6);
        assert_int_equal(r.evict[2], 5);
}

static void test_signin_evict_oldest_tie_lower_index(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s[11];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 11);
        /* indices 4 and 7 share the oldest creation time */
        s[4].created = NOW - 20000;
        s[7].created = NOW - 20000;
        sign_in(&p, NOW, s, 11, &r);
        assert_int_equal(r.d.n_evict, 2);
        assert_int_equal(r.evict[0], 4);
        assert_int_equal(r.evict[1], 7);
}

static void test_signin_evict_lru_ties(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_LEAST_RECENTLY_USED);
        struct tp_policy_session s[12];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 12);
        /* same last_used: smaller created first, then lower index */
        s[9].last_used = NOW - 9000;
        s[9].created = NOW - 30000;
        s[5].last_used = NOW - 9000;
        s[5].created = NOW - 20000;
        s[2].last_used = NOW - 9000;
        s[2].created = NOW - 20000;
        sign_in(&p, NOW, s, 12, &r);
        assert_int_equal(r.d.n_evict, 3);
        assert_int_equal(r.evict[0], 9);
        assert_int_equal(r.evict[1], 2);
        assert_int_equal(r.evict[2], 5);
}

static void test_signin_deny_new_at_cap(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_DENY_NEW);
        struct tp_policy_session s[10];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 10);
        sign_in(&p, NOW, s, 10, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_DENY_CAP);
        assert_int_equal(r.d.n_evict, 0);
        assert_int_equal(r.d.n_expired, 0);
}

static void test_signin_deny_new_below_cap(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_DENY_NEW);
        struct tp_policy_session s[9];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 9);
        sign_in(&p, NOW, s, 9, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(r.d.n_evict, 0);
        assert_int_equal(r.d.refresh_expires, NOW + 336 * HOUR);
        assert_int_equal(r.d.access_expires, NOW + 720 * MINUTE);
}

static void test_signin_deny_new_above_lowered_cap(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_DENY_NEW);
        struct tp_policy_session s[20];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 20);
        sign_in(&p, NOW, s, 20, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_DENY_CAP);
        assert_int_equal(r.d.n_evict, 0);
}

static void test_signin_lowered_cap_20_to_10_evicts_11(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s[20];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 20);
        /* reverse age order so the choice is not just the first indices */
        for (size_t i = 0; i < 20; i++)
                s[i].created = NOW - (int64_t) i;
        sign_in(&p, NOW, s, 20, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(r.d.n_evict, 11);
        for (size_t k = 0; k < 11; k++)
                assert_int_equal(r.evict[k], 19 - k);
}

static void test_signin_cap_plus_5_evicts_6(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_LEAST_RECENTLY_USED);
        struct tp_policy_session s[15];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 15);
        sign_in(&p, NOW, s, 15, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(r.d.n_evict, 6);
        for (size_t k = 0; k < 6; k++)
                assert_int_equal(r.evict[k], k);
}

/* ---- sign-in: expired and inactive sessions ------------------------------ */

static void test_signin_expired_excluded_and_reported(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s[12];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 12);
        s[2].refresh_expires = NOW;         /* expired this very second */
        s[5].refresh_expires = NOW - 86400; /* long expired */
        s[8].refresh_expires = NOW + 1;     /* one second to go: live */
        sign_in(&p, NOW, s, 12, &r);
        /* 10 live at cap 10: one evicted, never an expired one */
        assert_int_equal(r.d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(r.d.n_expired, 2);
        assert_int_equal(r.expired[0], 2);
        assert_int_equal(r.expired[1], 5);
        assert_int_equal(r.d.n_evict, 1);
        assert_int_equal(r.evict[0], 0);
}

/* The engine reports the count it decided on: live sessions only (active
 * and not past expiry), and whether that count is at the cap, whatever
 * the verdict, so that a caller never counts again. */
static void test_signin_reports_live_count(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s[12];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 12);
        s[2].refresh_expires = NOW;          /* expired: not counted */
        s[4].state = TP_STATE_CLOSED;        /* ended: not counted */
        sign_in(&p, NOW, s, 9, &r);
        assert_int_equal(r.d.n_live, 7);
        assert_false(r.d.at_cap);
        sign_in(&p, NOW, s, 12, &r);
        assert_int_equal(r.d.n_live, 10);
        assert_true(r.d.at_cap);
        assert_int_equal(r.d.n_evict, 1);

        /* a refusal still says how many were counted */
        p.evict = TP_EVICT_DENY_NEW;
        sign_in(&p, NOW, s, 12, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_DENY_CAP);
        assert_int_equal(r.d.n_live, 10);
        assert_true(r.d.at_cap);
        p.access = false;
        sign_in(&p, NOW, s, 12, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_DENY_ACCESS);
        assert_int_equal(r.d.n_live, 10);
        assert_true(r.d.at_cap);
        sign_in(&p, NOW, NULL, 0, &r);
        assert_int_equal(r.d.n_live, 0);
        assert_false(r.d.at_cap);
}

static void test_signin_expiry_boundary_counts(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s[10];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 10);
        s[0].refresh_expires = NOW + HOUR;

        /* one second before s[0]'s expiry it is live: 10 live, evict one */
        sign_in(&p, NOW + HOUR - 1, s, 10, &r);
        assert_int_equal(r.d.n_expired, 0);
        assert_int_equal(r.d.n_evict, 1);

        /* at its expiry every session is expired: nothing to evict */
        sign_in(&p, NOW + HOUR, s, 10, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(r.d.n_expired, 10);
        assert_int_equal(r.d.n_evict, 0);
}

static void test_signin_oldest_expired_never_evicted(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s[11];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 11);
        s[0].refresh_expires = NOW - 1; /* the oldest has already expired */
        sign_in(&p, NOW, s, 11, &r);
        assert_int_equal(r.d.n_expired, 1);
        assert_int_equal(r.expired[0], 0);
        assert_int_equal(r.d.n_evict, 1);
        assert_int_equal(r.evict[0], 1);
}

static void test_signin_non_active_ignored(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s[21];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 21);
        /* twelve older sessions that are over, some past expiry too */
        for (size_t i = 0; i < 12; i++) {
                s[i].state = (uint8_t) (TP_STATE_REVOKED + i % 3);
                if (i % 2)
                        s[i].refresh_expires = NOW - 10;
        }
        sign_in(&p, NOW, s, 21, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(r.d.n_expired, 0);
        assert_int_equal(r.d.n_evict, 0); /* 9 live */

        s[10].state = TP_STATE_ACTIVE; /* 10 live */
        sign_in(&p, NOW, s, 21, &r);
        assert_int_equal(r.d.n_expired, 0);
        assert_int_equal(r.d.n_evict, 1);
        assert_int_equal(r.evict[0], 10);

        s[11].state = TP_STATE_ACTIVE; /* past expiry: reported, not counted */
        sign_in(&p, NOW, s, 21, &r);
        assert_int_equal(r.d.n_expired, 1);
        assert_int_equal(r.expired[0], 11);
        assert_int_equal(r.d.n_evict, 1);
        assert_int_equal(r.evict[0], 10);
}

static void test_signin_access_denied(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s[11];
        struct signin_result r;

        (void) state;
        p.access = false;
        sign_in(&p, NOW, NULL, 0, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_DENY_ACCESS);
        assert_int_equal(r.d.n_evict, 0);

        /* over the cap: still no eviction; expired ones still reported */
        sessions_fill_live(s, 11);
        s[3].refresh_expires = NOW;
        sign_in(&p, NOW, s, 11, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_DENY_ACCESS);
        assert_int_equal(r.d.n_evict, 0);
        assert_int_equal(r.d.n_expired, 1);
        assert_int_equal(r.expired[0], 3);

        /* access wins over deny_new at the cap */
        p.evict = TP_EVICT_DENY_NEW;
        sign_in(&p, NOW, s, 11, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_DENY_ACCESS);
}

static void test_signin_degenerate_policies(void **state)
{
        struct tp_effective_policy p = policy_make(0, TP_EVICT_OLDEST);
        struct tp_policy_session s[10];
        struct signin_result r;

        (void) state;
        sessions_fill_live(s, 10);

        /* a zero cap admits nothing and revokes nothing */
        sign_in(&p, NOW, NULL, 0, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_DENY_CAP);
        assert_int_equal(r.d.n_evict, 0);
        sign_in(&p, NOW, s, 10, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_DENY_CAP);
        assert_int_equal(r.d.n_evict, 0);

        /* a cap of one evicts every live session for the new one */
        p.max_refresh_tokens = 1;
        sign_in(&p, NOW, s, 10, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(r.d.n_evict, 10);

        /* an evict mode the engine does not know revokes nobody */
        p.max_refresh_tokens = 10;
        p.evict = (enum tp_evict_mode) (TP_EVICT_MAX_ + 1);
        sign_in(&p, NOW, s, 9, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_ALLOW);
        sign_in(&p, NOW, s, 10, &r);
        assert_int_equal(r.d.verdict, TP_VERDICT_DENY_CAP);
        assert_int_equal(r.d.n_evict, 0);
}

/* ---- re-authentication --------------------------------------------------- */

static void test_reauth_active_rotates(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s = {
                .created = NOW - HOUR, .last_used = NOW - HOUR,
                .refresh_expires = NOW + 100, .state = TP_STATE_ACTIVE,
        };
        struct tp_extend_decision d;

        (void) state;
        /* auto-extend off: re-auth still issues a fresh TTL */
        tp_policy_reauth(&p, s.refresh_expires - 1, &s, &d);
        assert_int_equal(d.verdict, TP_VERDICT_ALLOW);
        assert_true(d.rotate);
        assert_int_equal(d.refresh_expires, NOW + 99 + 336 * HOUR);
        assert_int_equal(d.access_expires, NOW + 99 + 720 * MINUTE);
}

static void test_reauth_expired_not_revived(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s = {
                .created = NOW - HOUR, .last_used = NOW - HOUR,
                .refresh_expires = NOW, .state = TP_STATE_ACTIVE,
        };
        struct tp_extend_decision d;

        (void) state;
        tp_policy_reauth(&p, NOW, &s, &d);
        assert_int_equal(d.verdict, TP_VERDICT_DENY_EXPIRED);
        assert_false(d.rotate);
        assert_int_equal(d.refresh_expires, NOW);

        tp_policy_reauth(&p, NOW + 86400, &s, &d);
        assert_int_equal(d.verdict, TP_VERDICT_DENY_EXPIRED);
        assert_false(d.rotate);
}

static void test_reauth_inactive_denied(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s = {
                .created = NOW - HOUR, .last_used = NOW - HOUR,
                .refresh_expires = NOW + HOUR,
        };
        static const uint8_t states[] = { TP_STATE_REVOKED, TP_STATE_EXPIRED, TP_STATE_CLOSED };
        struct tp_extend_decision d;

        (void) state;
        for (size_t i = 0; i < sizeof(states); i++) {
                s.state = states[i];
                tp_policy_reauth(&p, NOW, &s, &d);
                assert_int_equal(d.verdict, TP_VERDICT_DENY_INACTIVE);
                assert_false(d.rotate);
                assert_int_equal(d.refresh_expires, NOW + HOUR);
        }

        /* inactive is reported before expired */
        s.state = TP_STATE_REVOKED;
        s.refresh_expires = NOW - 1;
        tp_policy_reauth(&p, NOW, &s, &d);
        assert_int_equal(d.verdict, TP_VERDICT_DENY_INACTIVE);
}

static void test_reauth_access_disabled(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s = {
                .created = NOW - HOUR, .last_used = NOW - HOUR,
                .refresh_expires = NOW + HOUR, .state = TP_STATE_ACTIVE,
        };
        struct tp_extend_decision d;

        (void) state;
        p.access = false;
        tp_policy_reauth(&p, NOW, &s, &d);
        assert_int_equal(d.verdict, TP_VERDICT_DENY_ACCESS);
        assert_false(d.rotate);
        assert_int_equal(d.refresh_expires, NOW + HOUR);

        /* expired is reported before access */
        tp_policy_reauth(&p, NOW + HOUR, &s, &d);
        assert_int_equal(d.verdict, TP_VERDICT_DENY_EXPIRED);
}

/* ---- silent refresh ------------------------------------------------------ */

static void test_refresh_auto_extend_on(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        const int64_t exp = NOW + 5 * HOUR;
        struct tp_policy_session s = {
                .created = NOW - HOUR, .last_used = NOW - HOUR,
                .refresh_expires = exp, .state = TP_STATE_ACTIVE,
        };
        struct tp_extend_decision d;

        (void) state;
        p.auto_extend = true;

        tp_policy_refresh(&p, exp - 1, &s, true, &d);
        assert_int_equal(d.verdict, TP_VERDICT_ALLOW);
        assert_true(d.rotate);
        assert_int_equal(d.refresh_expires, exp - 1 + 336 * HOUR);
        assert_int_equal(d.access_expires, exp - 1 + 720 * MINUTE);

        tp_policy_refresh(&p, exp, &s, true, &d);
        assert_int_equal(d.verdict, TP_VERDICT_DENY_EXPIRED);
        assert_false(d.rotate);
        assert_int_equal(d.refresh_expires, exp);
}

static void test_refresh_auto_extend_off(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        const int64_t exp = NOW + 20 * HOUR;
        struct tp_policy_session s = {
                .created = NOW - HOUR, .last_used = NOW - HOUR,
                .refresh_expires = exp, .state = TP_STATE_ACTIVE,
        };
        struct tp_extend_decision d;

        (void) state;
        tp_policy_refresh(&p, NOW, &s, true, &d);
        assert_int_equal(d.verdict, TP_VERDICT_ALLOW);
        assert_false(d.rotate);
        assert_int_equal(d.refresh_expires, exp);
        assert_int_equal(d.access_expires, NOW + 720 * MINUTE);

        /* one second before expiry: still a token, clamped to that second */
        tp_policy_refresh(&p, exp - 1, &s, true, &d);
        assert_int_equal(d.verdict, TP_VERDICT_ALLOW);
        assert_false(d.rotate);
        assert_int_equal(d.refresh_expires, exp);
        assert_int_equal(d.access_expires, exp);

        tp_policy_refresh(&p, exp, &s, true, &d);
        assert_int_equal(d.verdict, TP_VERDICT_DENY_EXPIRED);
        assert_false(d.rotate);
        assert_int_equal(d.refresh_expires, exp);
}

static void test_refresh_account_invalid(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s = {
                .created = NOW - HOUR, .last_used = NOW - HOUR,
                .refresh_expires = NOW + HOUR, .state = TP_STATE_ACTIVE,
        };
        struct tp_extend_decision d;

        (void) state;
        for (int on = 0; on <= 1; on++) {
                p.auto_extend = on;
                tp_policy_refresh(&p, NOW, &s, false, &d);
                assert_int_equal(d.verdict, TP_VERDICT_DENY_ACCOUNT);
                assert_false(d.rotate);
                assert_int_equal(d.refresh_expires, NOW + HOUR);
        }
}

static void test_refresh_denial_order(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s = {
                .created = NOW - HOUR, .last_used = NOW - HOUR,
                .refresh_expires = NOW, .state = TP_STATE_CLOSED,
        };
        struct tp_extend_decision d;

        (void) state;
        p.auto_extend = true;
        p.access = false;
        tp_policy_refresh(&p, NOW, &s, false, &d);
        assert_int_equal(d.verdict, TP_VERDICT_DENY_INACTIVE);

        s.state = TP_STATE_ACTIVE;
        tp_policy_refresh(&p, NOW, &s, false, &d);
        assert_int_equal(d.verdict, TP_VERDICT_DENY_EXPIRED);

        s.refresh_expires = NOW + 1;
        tp_policy_refresh(&p, NOW, &s, false, &d);
        assert_int_equal(d.verdict, TP_VERDICT_DENY_ACCESS);

        p.access = true;
        tp_policy_refresh(&p, NOW, &s, false, &d);
        assert_int_equal(d.verdict, TP_VERDICT_DENY_ACCOUNT);

        tp_policy_refresh(&p, NOW, &s, true, &d);
        assert_int_equal(d.verdict, TP_VERDICT_ALLOW);
        assert_true(d.rotate);
}

/* A refresh within TP_REFRESH_COALESCE_S of the last recorded use writes
 * nothing and rotates nothing, with auto-extend on or off; at the end of
 * the window, and with the clock set back, it records again. */
static void test_refresh_coalesced_within_the_window(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        const int64_t exp = NOW + 20 * HOUR;
        struct tp_policy_session s = {
                .created = NOW - HOUR, .last_used = NOW,
                .refresh_expires = exp, .state = TP_STATE_ACTIVE,
        };
        struct tp_extend_decision d;

        (void) state;
        for (int on = 0; on <= 1; on++) {
                p.auto_extend = on;
                for (int64_t t = NOW; t < NOW + TP_REFRESH_COALESCE_S; t++) {
                        tp_policy_refresh(&p, t, &s, true, &d);
                        assert_int_equal(d.verdict, TP_VERDICT_ALLOW);
                        assert_false(d.record);
                        assert_false(d.rotate);
                        assert_int_equal(d.refresh_expires, exp);
                        assert_int_equal(d.access_expires, t + 720 * MINUTE);
                }
                tp_policy_refresh(&p, NOW + TP_REFRESH_COALESCE_S, &s, true, &d);
                assert_true(d.record);
                assert_int_equal(d.rotate, on);
                assert_int_equal(d.refresh_expires,
                                 on ? NOW + TP_REFRESH_COALESCE_S + 336 * HOUR : exp);
                tp_policy_refresh(&p, NOW - 1, &s, true, &d);  /* clock set back */
                assert_true(d.record);
                assert_int_equal(d.rotate, on);
        }
        /* The window never lets a refresh through that would be denied. */
        tp_policy_refresh(&p, NOW + 1, &s, false, &d);
        assert_int_equal(d.verdict, TP_VERDICT_DENY_ACCOUNT);
        assert_false(d.record);
        /* Re-authentication always records and rotates. */
        tp_policy_reauth(&p, NOW + 1, &s, &d);
        assert_true(d.record);
        assert_true(d.rotate);
}

/* ---- expiry arithmetic --------------------------------------------------- */

static void test_access_expiry_clamped_to_refresh(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s = {
                .created = NOW - HOUR, .last_used = NOW - HOUR,
                .refresh_expires = NOW + 100, .state = TP_STATE_ACTIVE,
        };
        struct tp_extend_decision d;

        (void) state;
        assert_int_equal(tp_policy_access_expiry(&p, NOW, NOW + 100), NOW + 100);
        assert_int_equal(tp_policy_access_expiry(&p, NOW, NOW + 720 * MINUTE - 1),
                         NOW + 720 * MINUTE - 1);
        assert_int_equal(tp_policy_access_expiry(&p, NOW, NOW + 720 * MINUTE),
                         NOW + 720 * MINUTE);
        assert_int_equal(tp_policy_access_expiry(&p, NOW, NOW + 720 * MINUTE + 1),
                         NOW + 720 * MINUTE);

        tp_policy_refresh(&p, NOW, &s, true, &d);
        assert_int_equal(d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(d.access_expires, NOW + 100);
}

static void test_ttl_boundaries_exact(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_signin_decision d = { .evict = NULL, .expired = NULL };

        (void) state;
        p.refresh_ttl_hours = TP_REFRESH_TTL_HOURS_MIN;
        p.access_ttl_minutes = TP_ACCESS_TTL_MINUTES_MIN;
        tp_policy_sign_in(&p, NOW, NULL, 0, &d);
        assert_int_equal(d.refresh_expires, NOW + 86400);
        assert_int_equal(d.access_expires, NOW + 21600);

        p.access_ttl_minutes = TP_ACCESS_TTL_MINUTES_MAX;
        tp_policy_sign_in(&p, NOW, NULL, 0, &d);
        assert_int_equal(d.refresh_expires, NOW + 86400);
        assert_int_equal(d.access_expires, NOW + 64800);

        p.refresh_ttl_hours = TP_REFRESH_TTL_HOURS_MAX;
        tp_policy_sign_in(&p, NOW, NULL, 0, &d);
        assert_int_equal(d.refresh_expires, NOW + 5184000);
        assert_int_equal(d.access_expires, NOW + 64800);

        /* the engine computes, the config validates: one past each bound is
         * still exact arithmetic here (rejection is tested in test_config) */
        p.refresh_ttl_hours = TP_REFRESH_TTL_HOURS_MAX + 1;
        p.access_ttl_minutes = TP_ACCESS_TTL_MINUTES_MIN - 1;
        tp_policy_sign_in(&p, NOW, NULL, 0, &d);
        assert_int_equal(d.refresh_expires, NOW + 5187600);
        assert_int_equal(d.access_expires, NOW + 21540);
}

static void test_time_arithmetic_saturates(void **state)
{
        struct tp_effective_policy p = policy_make(10, TP_EVICT_OLDEST);
        struct tp_policy_session s = {
                .created = 0, .last_used = 0,
                .refresh_expires = INT64_MAX, .state = TP_STATE_ACTIVE,
        };
        struct tp_signin_decision sd = { .evict = NULL, .expired = NULL };
        struct tp_extend_decision d;

        (void) state;
        p.refresh_ttl_hours = UINT32_MAX;
        p.access_ttl_minutes = UINT32_MAX;
        tp_policy_sign_in(&p, INT64_MAX - 10, NULL, 0, &sd);
        assert_int_equal(sd.verdict, TP_VERDICT_ALLOW);
        assert_true(sd.refresh_expires == INT64_MAX);
        assert_true(sd.access_expires == INT64_MAX);

        p.auto_extend = true;
        tp_policy_refresh(&p, INT64_MAX - 1, &s, true, &d);
        assert_int_equal(d.verdict, TP_VERDICT_ALLOW);
        assert_true(d.refresh_expires == INT64_MAX);

        /* far below the top: the full product, no truncation to 32 bits */
        tp_policy_sign_in(&p, 0, NULL, 0, &sd);
        assert_true(sd.refresh_expires == (int64_t) UINT32_MAX * 3600);
        assert_true(sd.access_expires == (int64_t) UINT32_MAX * 60);
}

static void test_verdict_reasons(void **state)
{
        static const enum tp_verdict all[] = {
                TP_VERDICT_ALLOW, TP_VERDICT_DENY_ACCESS, TP_VERDICT_DENY_CAP,
                TP_VERDICT_DENY_INACTIVE, TP_VERDICT_DENY_EXPIRED, TP_VERDICT_DENY_ACCOUNT,
        };
        const size_t n = sizeof(all) / sizeof(all[0]);

        (void) state;
        assert_string_equal(tp_verdict_reason(TP_VERDICT_ALLOW), "allowed");
        assert_string_equal(tp_verdict_reason(TP_VERDICT_DENY_ACCESS),
                            "client type disabled by your administrator");
        assert_string_equal(tp_verdict_reason(TP_VERDICT_DENY_CAP), "session limit reached");
        assert_string_equal(tp_verdict_reason(TP_VERDICT_DENY_INACTIVE),
                            "session is no longer active");
        assert_string_equal(tp_verdict_reason(TP_VERDICT_DENY_EXPIRED),
                            "refresh token expired; sign in again");
        assert_string_equal(tp_verdict_reason(TP_VERDICT_DENY_ACCOUNT),
                            "account is no longer valid");
        assert_string_equal(tp_verdict_reason((enum tp_verdict) 99), "unknown verdict");

        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        assert_string_not_equal(tp_verdict_reason(all[i]),
                                                tp_verdict_reason(all[j]));
}

/* ---- randomized invariants ----------------------------------------------- */

#define SIM_OPS 5000
#define SIM_MAX SIM_OPS

struct sim_session {
        struct tp_policy_session s;
        bool ended;         /* ever left TP_STATE_ACTIVE */
        bool lapsed;        /* ever seen at or past its expiry */
        int64_t lapsed_exp; /* refresh_expires when it lapsed */
};

struct sim {
        uint64_t rng;
        int64_t now;
        struct sim_session *store;
        size_t n;
        size_t n_evicted;   /* sessions the engine chose to evict */
        size_t n_denied_cap;
        size_t target;      /* session whose expiry "now" last jumped to */
        /* the store's view: active sessions only, as a store query would */
        struct tp_policy_session view[SIM_MAX];
        size_t map[SIM_MAX];
        size_t evict[SIM_MAX];
        size_t expired[SIM_MAX];
};

static uint64_t sim_rand(struct sim *sim)
{
        uint64_t x = sim->rng;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return sim->rng = x;
}

static uint32_t sim_range(struct sim *sim, uint32_t lo, uint32_t hi)
{
        return lo + (uint32_t) (sim_rand(sim) % ((uint64_t) hi - lo + 1));
}

static size_t sim_live_count(const struct sim *sim)
{
        size_t live = 0;

        for (size_t i = 0; i < sim->n; i++)
                if (sim->store[i].s.state == TP_STATE_ACTIVE &&
                    sim->store[i].s.refresh_expires > sim->now)
                        live++;
        return live;
}

static struct tp_effective_policy sim_policy(struct sim *sim)
{
        static const enum tp_evict_mode modes[] = {
                TP_EVICT_OLDEST, TP_EVICT_LEAST_RECENTLY_USED, TP_EVICT_DENY_NEW,
        };
        struct tp_effective_policy p = policy_make(sim_range(sim, 10, 24), modes[sim_rand(sim) % 3]);

        p.access = sim_rand(sim) % 10 != 0;
        p.auto_extend = sim_rand(sim) % 2;
        /* short TTLs dominate so that sessions really expire in the walk */
        p.refresh_ttl_hours = sim_rand(sim) % 4 ? sim_range(sim, 24, 72) :
                                                  sim_range(sim, 24, 1440);
        p.access_ttl_minutes = sim_range(sim, 360, 1080);
        return p;
}

static void sim_check_victim_order(const struct sim *sim, const struct tp_effective_policy *p,
                                   const struct tp_signin_decision *d, size_t n_view)
{
        bool chosen[SIM_MAX] = { false };

        for (size_t k = 0; k < d->n_evict; k++) {
                const struct tp_policy_session *v = &sim->view[d->evict[k]];

                assert_true(d->evict[k] < n_view);
                assert_false(chosen[d->evict[k]]);
                chosen[d->evict[k]] = true;
                assert_int_equal(v->state, TP_STATE_ACTIVE);
                assert_true(v->refresh_expires > sim->now);
        }
        if (d->n_evict == 0)
                return;
        /* every victim precedes every live survivor in the mode's order */
        for (size_t k = 0; k < d->n_evict; k++) {
                const struct tp_policy_session *v = &sim->view[d->evict[k]];

                for (size_t j = 0; j < n_view; j++) {
                        const struct tp_policy_session *o = &sim->view[j];

                        if (chosen[j] || o->state != TP_STATE_ACTIVE ||
                            o->refresh_expires <= sim->now)
                                continue;
                        if (p->evict == TP_EVICT_LEAST_RECENTLY_USED) {
                                assert_true(v->last_used <= o->last_used);
                                if (v->last_used < o->last_used)
                                        continue;
                        }
                        assert_true(v->created < o->created ||
                                    (v->created == o->created && d->evict[k] < j));
                }
        }
}

static void sim_sign_in(struct sim *sim)
{
        struct tp_effective_policy p = sim_policy(sim);
        struct tp_signin_decision d = { .evict = sim->evict, .expired = sim->expired };
        size_t n_view = 0, live_before = sim_live_count(sim), n_past = 0;
        /* Half the time hand over ended sessions too: the engine must
         * ignore them exactly as if the store had filtered them out. */
        bool with_ended = sim_rand(sim) % 2;

        for (size_t i = 0; i < sim->n; i++) {
                if (sim->store[i].s.state != TP_STATE_ACTIVE && !with_ended)
                        continue;
                if (sim->store[i].s.state == TP_STATE_ACTIVE &&
                    sim->store[i].s.refresh_expires <= sim->now)
                        n_past++;
                sim->map[n_view] = i;
                sim->view[n_view++] = sim->store[i].s;
        }

        tp_policy_sign_in(&p, sim->now, sim->view, n_view, &d);

        assert_int_equal(d.n_expired, n_past);
        for (size_t k = 0; k < d.n_expired; k++) {
                assert_true(sim->view[d.expired[k]].refresh_expires <= sim->now);
                sim->store[sim->map[d.expired[k]]].s.state = TP_STATE_EXPIRED;
        }

        if (!p.access) {
                assert_int_equal(d.verdict, TP_VERDICT_DENY_ACCESS);
                assert_int_equal(d.n_evict, 0);
                return;
        }
        if (d.verdict == TP_VERDICT_DENY_CAP) {
                assert_int_equal(p.evict, TP_EVICT_DENY_NEW);
                assert_true(live_before >= p.max_refresh_tokens);
                assert_int_equal(d.n_evict, 0);
                assert_int_equal(sim_live_count(sim), live_before);
                sim->n_denied_cap++;
                return;
        }

        assert_int_equal(d.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(d.n_evict, live_before >= p.max_refresh_tokens ?
                                            live_before - p.max_refresh_tokens + 1 : 0);
        sim_check_victim_order(sim, &p, &d, n_view);
        for (size_t k = 0; k < d.n_evict; k++)
                sim->store[sim->map[d.evict[k]]].s.state = TP_STATE_REVOKED;
        sim->n_evicted += d.n_evict;

        assert_true(sim->n < SIM_MAX);
        assert_int_equal(d.refresh_expires, sim->now + p.refresh_ttl_hours * HOUR);
        assert_true(d.access_expires > sim->now && d.access_expires <= d.refresh_expires);
        sim->store[sim->n++] = (struct sim_session) {
                .s = {
                        .created = sim->now,
                        .last_used = sim->now,
                        .refresh_expires = d.refresh_expires,
                        .state = TP_STATE_ACTIVE,
                },
        };
        assert_true(sim_live_count(sim) <= p.max_refresh_tokens);
}

static void sim_extend(struct sim *sim, bool reauth)
{
        struct tp_effective_policy p = sim_policy(sim);
        struct tp_extend_decision d;
        struct sim_session *ss;
        bool account_valid = sim_rand(sim) % 8 != 0;

        if (sim->n == 0)
                return;
        ss = &sim->store[sim_rand(sim) % 2 ? sim->target : sim_rand(sim) % sim->n];

        if (reauth)
                tp_policy_reauth(&p, sim->now, &ss->s, &d);
        else
                tp_policy_refresh(&p, sim->now, &ss->s, account_valid, &d);

        if (ss->s.state != TP_STATE_ACTIVE)
                assert_int_equal(d.verdict, TP_VERDICT_DENY_INACTIVE);
        else if (ss->s.refresh_expires <= sim->now)
                assert_int_equal(d.verdict, TP_VERDICT_DENY_EXPIRED);
        if (d.verdict != TP_VERDICT_ALLOW) {
                assert_false(d.rotate);
                assert_int_equal(d.refresh_expires, ss->s.refresh_expires);
                return;
        }

        assert_int_equal(ss->s.state, TP_STATE_ACTIVE);
        assert_true(ss->s.refresh_expires > sim->now);
        assert_true(p.access);
        if (!reauth)
                assert_true(account_valid);
        if (reauth || p.auto_extend) {
                assert_true(d.rotate);
                assert_int_equal(d.refresh_expires, sim->now + p.refresh_ttl_hours * HOUR);
        } else {
                assert_false(d.rotate);
                assert_int_equal(d.refresh_expires, ss->s.refresh_expires);
        }
        assert_true(d.access_expires > sim->now && d.access_expires <= d.refresh_expires);
        ss->s.refresh_expires = d.refresh_expires;
        ss->s.last_used = sim->now;
}

/* Sign-out or admin revoke: the store ends a session on its own. */
static void sim_end_one(struct sim *sim)
{
        struct sim_session *ss;

        if (sim->n == 0)
                return;
        ss = &sim->store[sim_rand(sim) % sim->n];
        if (ss->s.state == TP_STATE_ACTIVE)
                ss->s.state = sim_rand(sim) % 2 ? TP_STATE_REVOKED : TP_STATE_CLOSED;
}

/* Invariants over the whole store after every step: an ended session is
 * never active again; a lapsed session's expiry never moves. */
static void sim_check_store(struct sim *sim)
{
        for (size_t i = 0; i < sim->n; i++) {
                struct sim_session *ss = &sim->store[i];

                if (ss->ended)
                        assert_int_not_equal(ss->s.state, TP_STATE_ACTIVE);
                else if (ss->s.state != TP_STATE_ACTIVE)
                        ss->ended = true;

                if (ss->lapsed)
                        assert_int_equal(ss->s.refresh_expires, ss->lapsed_exp);
                else if (ss->s.refresh_expires <= sim->now) {
                        ss->lapsed = true;
                        ss->lapsed_exp = ss->s.refresh_expires;
                }
        }
}

struct sim_totals {
        size_t signins, evicted, denied_cap;
};

static void sim_run(uint64_t seed, struct sim_totals *ret)
{
        struct sim *sim = calloc(1, sizeof(*sim));
        size_t signins = 0;

        assert_non_null(sim);
        sim->rng = seed;
        sim->now = NOW;
        sim->store = calloc(SIM_MAX, sizeof(*sim->store));
        assert_non_null(sim->store);

        for (size_t op = 0; op < SIM_OPS; op++) {
                uint32_t r = sim_range(sim, 0, 99);

                /* mostly small steps (bursts of sign-ins at one instant
                 * included), sometimes days, so both caps and expiry bite;
                 * sometimes exactly onto a session's expiry or the second
                 * before it, so the boundary is hit, not just straddled */
                if (sim->n > 0 && sim_rand(sim) % 8 == 0) {
                        size_t target = sim_rand(sim) % sim->n;
                        int64_t t = sim->store[target].s.refresh_expires -
                                    (int64_t) (sim_rand(sim) % 2);

                        if (t > sim->now) {
                                sim->now = t;
                                sim->target = target;
                        }
                } else if (sim_rand(sim) % 16 == 0)
                        sim->now += sim_range(sim, 0, 4 * 24 * 3600);
                else
                        sim->now += sim_range(sim, 0, 1800);
                sim_check_store(sim);

                if (r < 50) {
                        sim_sign_in(sim);
                        signins++;
                } else if (r < 70) {
                        sim_extend(sim, true);
                } else if (r < 90) {
                        sim_extend(sim, false);
                } else {
                        sim_end_one(sim);
                }
                sim_check_store(sim);
        }

        *ret = (struct sim_totals) {
                .signins = signins,
                .evicted = sim->n_evicted,
                .denied_cap = sim->n_denied_cap,
        };
        free(sim->store);
        free(sim);
}

static void test_random_walk_invariants(void **state)
{
        static const uint64_t seeds[] = {
                UINT64_C(0x9e3779b97f4a7c15), UINT64_C(0x1234567), UINT64_C(0xdeadbeefcafef00d),
        };

        (void) state;
        for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
                struct sim_totals t;

                sim_run(seeds[i], &t);
                /* the walk must really have hit the cap in every mode */
                assert_true(t.signins > SIM_OPS / 3);
                assert_true(t.evicted > 100);
                assert_true(t.denied_cap > 10);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_signin_no_sessions),
                cmocka_unit_test(test_signin_cap10_with_9_live_evicts_none),
                cmocka_unit_test(test_signin_cap10_with_10_live_evicts_one),
                cmocka_unit_test(test_signin_cap10_with_11_live_evicts_two),
                cmocka_unit_test(test_signin_cap_max_boundary),
                cmocka_unit_test(test_signin_evict_oldest_picks_smallest_created),
                cmocka_unit_test(test_signin_evict_lru_picks_smallest_last_used),
                cmocka_unit_test(test_signin_evict_oldest_tie_lower_index),
                cmocka_unit_test(test_signin_evict_lru_ties),
                cmocka_unit_test(test_signin_deny_new_at_cap),
                cmocka_unit_test(test_signin_deny_new_below_cap),
                cmocka_unit_test(test_signin_deny_new_above_lowered_cap),
                cmocka_unit_test(test_signin_lowered_cap_20_to_10_evicts_11),
                cmocka_unit_test(test_signin_cap_plus_5_evicts_6),
                cmocka_unit_test(test_signin_expired_excluded_and_reported),
                cmocka_unit_test(test_signin_reports_live_count),
                cmocka_unit_test(test_signin_expiry_boundary_counts),
                cmocka_unit_test(test_signin_oldest_expired_never_evicted),
                cmocka_unit_test(test_signin_non_active_ignored),
                cmocka_unit_test(test_signin_access_denied),
                cmocka_unit_test(test_signin_degenerate_policies),
                cmocka_unit_test(test_reauth_active_rotates),
                cmocka_unit_test(test_reauth_expired_not_revived),
                cmocka_unit_test(test_reauth_inactive_denied),
                cmocka_unit_test(test_reauth_access_disabled),
                cmocka_unit_test(test_refresh_auto_extend_on),
                cmocka_unit_test(test_refresh_auto_extend_off),
                cmocka_unit_test(test_refresh_account_invalid),
                cmocka_unit_test(test_refresh_denial_order),
                cmocka_unit_test(test_refresh_coalesced_within_the_window),
                cmocka_unit_test(test_access_expiry_clamped_to_refresh),
                cmocka_unit_test(test_ttl_boundaries_exact),
                cmocka_unit_test(test_time_arithmetic_saturates),
                cmocka_unit_test(test_verdict_reasons),
                cmocka_unit_test(test_random_walk_invariants),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
