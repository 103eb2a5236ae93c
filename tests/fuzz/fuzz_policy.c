/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz_policy.c: libFuzzer harness for the policy engine
 * (tokenpolicyd/policy.c), driven like the daemon drives it.
 *
 * The input is a program: a starting clock and policy, then operations
 * (sign-in, re-auth, refresh, revoke, close, time advance, policy change),
 * each taking a few bytes. A model store applies every decision the way
 * the daemon does, and after each step the harness checks what the engine
 * promises, aborting on the first violation:
 *   - after an allowed sign-in the user's live sessions never exceed the cap;
 *   - a session past its refresh expiry is never extended or refreshed;
 *   - a revoked, closed or expired session never becomes active again;
 *   - eviction and expiry lists name distinct sessions of the right kind;
 *   - access tokens never outlive their refresh token.
 * The store holds one user's sessions of one client type: the engine sees
 * nothing else.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STORE_MAX 256

struct model {
        struct tp_effective_policy policy;
        int64_t now;
        size_t n;
        struct tp_policy_session s[STORE_MAX];
        uint8_t state_before[STORE_MAX];
        int64_t expires_before[STORE_MAX];
};

struct input {
        const uint8_t *p, *end;
};

static uint8_t take_u8(struct input *in)
{
        return in->p < in->end ? *in->p++ : 0;
}

static uint32_t take_u32(struct input *in)
{
        uint32_t v = 0;

        for (int i = 0; i < 4; i++)
                v = v << 8 | take_u8(in);
        return v;
}

static int64_t time_add(int64_t t, int64_t d)
{
        if (d > 0 && t > INT64_MAX - d)
                return INT64_MAX;
        return t + d;
}

static bool is_live(const struct model *m, size_t i)
{
        return m->s[i].state == TP_STATE_ACTIVE && m->now < m->s[i].refresh_expires;
}

static size_t count_live(const struct model *m)
{
        size_t k = 0;

        for (size_t i = 0; i < m->n; i++)
                k += is_live(m, i);
        return k;
}

/* Caps and modes as random as the engine's inputs may be: mostly within
 * the configured range, sometimes zero, small, huge or an unknown mode. */
static void take_policy(struct model *m, struct input *in)
{
        uint8_t flags = take_u8(in), cap = take_u8(in);

        m->policy.access = !(flags & 0x01);
        m->policy.auto_extend = flags & 0x02;
        m->policy.evict = (enum tp_evict_mode) ((flags >> 2) & 3); /* 3 is unknown */
        switch (flags >> 6) {
        case 0:
                m->policy.max_refresh_tokens = cap % 8;
                break;
        case 1:
                m->policy.max_refresh_tokens = cap;
                break;
        case 2:
                m->policy.max_refresh_tokens = UINT32_MAX - cap;
                break;
        default:
                m->policy.max_refresh_tokens = TP_MAX_REFRESH_TOKENS_MIN + cap % 91;
                break;
        }
        if (flags & 0x10) {
                m->policy.refresh_ttl_hours = take_u32(in);
                m->policy.access_ttl_minutes = take_u32(in);
        } else {
                m->policy.refresh_ttl_hours = TP_REFRESH_TTL_HOURS_MIN + take_u8(in) * 5u;
                m->policy.access_ttl_minutes = TP_ACCESS_TTL_MINUTES_MIN + take_u8(in) * 2u;
        }
}

static void check_extend(const struct model *m, const struct tp_policy_session *before,
                         const struct tp_extend_decision *d, bool is_refresh)
{
        bool expired = m->now >= before->refresh_expires;

        if (before->state != TP_STATE_ACTIVE && d->verdict != TP_VERDICT_DENY_INACTIVE)
                abort();
        if (expired && d->verdict == TP_VERDICT_ALLOW)
                abort();
        if (d->verdict != TP_VERDICT_ALLOW) {
                if (d->rotate || d->record || d->refresh_expires != before->refresh_expires)
                        abort();
                return;
        }
        if (d->rotate && !d->record)
                abort(); /* a new refresh token is always written */
        if (!d->record && d->refresh_expires != before->refresh_expires)
                abort(); /* nothing recorded: nothing moved */
        if (!is_refresh && !d->record)
                abort(); /* re-authentication always records */
        if (is_refresh && d->record == (m->now >= before->last_used &&
                                        m->now - before->last_used < TP_REFRESH_COALESCE_S))
                abort(); /* a refresh records exactly when outside the window */
        if (!m->policy.access)
                abort();
        if (d->access_expires > d->refresh_expires || d->access_expires < m->now)
                abort();
        if (is_refresh && !m->policy.auto_extend &&
            (d->rotate || d->refresh_expires != before->refresh_expires))
                abort(); /* without auto-extend a refresh never moves the expiry */
        if ((!is_refresh || m->policy.auto_extend) && d->record && !d->rotate)
                abort();
}

static void op_sign_in(struct model *m)
{
        size_t evict[STORE_MAX], expired[STORE_MAX];
        bool seen[STORE_MAX] = { false };
        struct tp_signin_decision d = { .evict = evict, .expired = expired };
        size_t n_live = count_live(m), cap = m->policy.max_refresh_tokens;

        tp_policy_sign_in(&m->policy, m->now, m->s, m->n, &d);

        if (d.n_expired > m->n || d.n_evict > n_live)
                abort();
        for (size_t i = 0; i < d.n_expired; i++) {
                size_t k = expired[i];

                if (k >= m->n || seen[k] || m->s[k].state != TP_STATE_ACTIVE ||
                    m->now < m->s[k].refresh_expires)
                        abort();
                seen[k] = true;
        }
        for (size_t i = 0; i < d.n_evict; i++) {
                size_t k = evict[i];

                if (k >= m->n || seen[k] || !is_live(m, k))
                        abort();
                seen[k] = true;
        }
        /* Every session the store calls active but is past expiry is found. */
        for (size_t i = 0; i < m->n; i++)
                if (m->s[i].state == TP_STATE_ACTIVE && !is_live(m, i) && !seen[i])
                        abort();

        /* The daemon marks expired sessions whatever the verdict. */
        for (size_t i = 0; i < d.n_expired; i++)
                m->s[expired[i]].state = TP_STATE_EXPIRED;

        switch (d.verdict) {
        case TP_VERDICT_ALLOW:
                break;
        case TP_VERDICT_DENY_ACCESS:
                if (m->policy.access || d.n_evict != 0)
                        abort();
                return;
        case TP_VERDICT_DENY_CAP:
                if (!m->policy.access || n_live < cap || d.n_evict != 0 ||
                    (cap != 0 && (m->policy.evict == TP_EVICT_OLDEST ||
                                  m->policy.evict == TP_EVICT_LEAST_RECENTLY_USED)))
                        abort();
                return;
        default:
                abort();
        }

        if (!m->policy.access || cap == 0)
                abort();
        if (d.access_expires > d.refresh_expires || d.access_expires < m->now)
                abort();
        /* Born alive, unless the TTL is zero or the clock is at its end. */
        if (m->policy.refresh_ttl_hours > 0 && m->now < INT64_MAX && d.refresh_expires <= m->now)
                abort();
        for (size_t i = 0; i < d.n_evict; i++)
                m->s[evict[i]].state = TP_STATE_REVOKED;
        if (m->n == STORE_MAX)
                return; /* the model is full: the decision was still checked */
        m->s[m->n++] = (struct tp_policy_session) {
                .created = m->now,
                .last_used = m->now,
                .refresh_expires = d.refresh_expires,
                .state = TP_STATE_ACTIVE,
        };
        if (count_live(m) > cap)
                abort();
}

static void op_extend(struct model *m, struct input *in, bool is_refresh)
{
        struct tp_extend_decision d;
        struct tp_policy_session *s, before;
        uint8_t arg = take_u8(in);

        if (m->n == 0)
                return;
        s = &m->s[arg % m->n];
        before = *s;
        if (is_refresh)
                tp_policy_refresh(&m->policy, m->now, s, !(arg & 0x80), &d);
        else
                tp_policy_reauth(&m->policy, m->now, s, &d);
        if (memcmp(s, &before, sizeof(before)) != 0)
                abort(); /* the engine only decides */
        check_extend(m, &before, &d, is_refresh);
        if (is_refresh && (arg & 0x80) && d.verdict == TP_VERDICT_ALLOW)
                abort();
        if (d.verdict == TP_VERDICT_ALLOW && d.record) {
                s->refresh_expires = d.refresh_expires;
                s->last_used = m->now;
        }
}

static void op_end(struct model *m, struct input *in, uint8_t state)
{
        uint8_t arg = take_u8(in);

        if (m->n == 0)
                return;
        if (m->s[arg % m->n].state == TP_STATE_ACTIVE)
                m->s[arg % m->n].state = state;
}

static void op_advance(struct model *m, struct input *in)
{
        uint8_t unit = take_u8(in);
        int64_t amount = take_u8(in);

        switch (unit & 3) {
        case 0:
                m->now = time_add(m->now, amount);
                break;
        case 1:
                m->now = time_add(m->now, amount * 60);
                break;
        case 2:
                m->now = time_add(m->now, amount * 3600);
                break;
        default:
                m->now = time_add(m->now, amount * 86400 * 7);
                break;
        }
}

/* Nothing ended comes back, and nothing already expired moves. */
static void check_store(struct model *m, size_t n_before)
{
        for (size_t i = 0; i < n_before; i++) {
                if (m->state_before[i] != TP_STATE_ACTIVE && m->s[i].state != m->state_before[i])
                        abort();
                if (m->state_before[i] != TP_STATE_ACTIVE &&
                    m->s[i].refresh_expires != m->expires_before[i])
                        abort();
        }
        for (size_t i = 0; i < m->n; i++) {
                m->state_before[i] = m->s[i].state;
                m->expires_before[i] = m->s[i].refresh_expires;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct model m;
        struct input in = { data, data + size };
        uint8_t start = take_u8(&in);

        memset(&m, 0, sizeof(m));
        /* Start at a normal date, at zero, or near the end of time. */
        switch (start & 3) {
        case 0:
                m.now = INT64_C(1700000000) + take_u32(&in);
                break;
        case 1:
                m.now = take_u32(&in);
                break;
        case 2:
                m.now = INT64_MAX - take_u32(&in);
                break;
        default:
                m.now = -(int64_t) take_u32(&in);
                break;
        }
        take_policy(&m, &in);

        while (in.p < in.end) {
                size_t n_before = m.n;
                int64_t expiry_at_start[STORE_MAX];
                bool was_past[STORE_MAX];

                for (size_t i = 0; i < m.n; i++) {
                        expiry_at_start[i] = m.s[i].refresh_expires;
                        was_past[i] = m.now >= m.s[i].refresh_expires;
                }
                switch (take_u8(&in) % 7) {
                case 0:
                        op_sign_in(&m);
                        break;
                case 1:
                        op_extend(&m, &in, false);
                        break;
                case 2:
                        op_extend(&m, &in, true);
                        break;
                case 3:
                        op_end(&m, &in, TP_STATE_REVOKED);
                        break;
                case 4:
                        op_end(&m, &in, TP_STATE_CLOSED);
                        break;
                case 5:
                        op_advance(&m, &in);
                        break;
                case 6:
                        take_policy(&m, &in);
                        break;
                }
                /* An expired session's expiry is never moved. */
                for (size_t i = 0; i < n_before; i++)
                        if (was_past[i] && m.s[i].refresh_expires != expiry_at_start[i])
                                abort();
                check_store(&m, n_before);
        }
        return 0;
}
