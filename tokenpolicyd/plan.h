/* SPDX-License-Identifier: BSD-3-Clause */
/* plan.h: the sign-in plan (plan.c), the one way ACCESS, OPEN and EXPLAIN
 * decide a sign-in, so that what EXPLAIN says is what OPEN does:
 *
 *  1. tag: the client type (module argument, else the service's mapping,
 *     else unknown_client) and the policy in effect for it;
 *  2. account: the user as NSS names it, so "Alice" and "alice" on a
 *     case-insensitive directory share one cap;
 *  3. decide: the user's active sessions of that type from the store, the
 *     engine's decision (policy.h) on them, and, when the engine says the
 *     live ones are at the cap, the ones whose processes are gone (ghosts)
 *     left out and the engine asked again. OPEN closes those ghosts in its
 *     transaction; EXPLAIN only leaves them out.
 *
 * ACCESS stops after the tag (the engine on no sessions: is the type
 * enabled?); each handler takes the steps in its own order, but none of
 * them counts, reaps or decides anything itself. Knows nothing of the
 * daemon: it is given the configuration, the store and how to tell a
 * ghost, so it can be tested alone on a real store.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "policy.h"
#include "proto.h"
#include "store.h"

/* Is this session's leader gone (it must not count against a cap)? false
 * when it runs or cannot be told. */
typedef bool (*tp_plan_ghost_fn)(void *ctx, const struct tp_session *s);

enum tp_plan_ghosts {
        TP_PLAN_REAP,   /* OPEN: close ghosts in the store (inside the caller's
                         * transaction), and only at the cap: below it they
                         * change nothing, and each look is a /proc read or a
                         * logind call */
        TP_PLAN_LOOK,   /* EXPLAIN: leave them out of the count, change nothing;
                         * look at every session so the count reported is exact */
};

struct tp_signin_plan {
        const struct tp_req_signin *req;
        int64_t now;
        /* 1. tag */
        const struct tp_client_config *client;
        struct tp_effective_policy policy;
        /* 2. account */
        bool known;                     /* NSS knows the user */
        uid_t uid;
        char user[TP_USER_MAX];         /* as NSS names it; as asked when unknown */
        /* 3. decide */
        struct tp_session *sessions;    /* the active ones; ghosts reaped or left
                                         * out have state TP_STATE_CLOSED */
        size_t n_sessions;
        size_t n_ghosts;
        struct tp_signin_decision dec;  /* indices into sessions */
        struct tp_policy_session *views_;
        size_t *evict_, *expired_;
};

void tp_plan_init(struct tp_signin_plan *plan, const struct tp_req_signin *req, int64_t now);
void tp_plan_free(struct tp_signin_plan *plan);

/* 1. Tag the sign-in. false with the refusal in rep: BAD_REQUEST for a
 * client= type the configuration does not define, UNMAPPED for a service
 * of no type when unknown_client = "deny". */
bool tp_plan_tag(struct tp_signin_plan *plan, const struct tp_config *c, struct tp_reply *rep);

/* 2. Look the user up. false when NSS does not know them. */
bool tp_plan_account(struct tp_signin_plan *plan);

/* 1b. ACCESS: the engine's verdict on a sign-in of the tagged type with
 * no sessions counted (only whether the type is enabled can refuse it). */
enum tp_verdict tp_plan_access(struct tp_signin_plan *plan);

/* 3. Read the account's active sessions of the tagged type and decide
 * (plan->dec). 0, or a negative errno with rep filled (ERROR): the store
 * failed (logged) or memory ran out. */
int tp_plan_decide(struct tp_signin_plan *plan, struct tp_store *store,
                   enum tp_plan_ghosts how, tp_plan_ghost_fn is_ghost, void *ctx, struct tp_reply *rep);

/* A refused OPEN or ACCESS (plan->dec.verdict or the verdict given) in
 * words fit for the user: DENIED and its message. */
void tp_plan_refusal(const struct tp_signin_plan *plan, enum tp_verdict v, struct tp_reply *rep);

/* A stored session as the engine sees it. */
void tp_session_view(const struct tp_session *s, struct tp_policy_session *e);
