/* SPDX-License-Identifier: BSD-3-Clause */
/* plan.c: the sign-in plan: tag, account, sessions, ghosts, the engine's
 * decision (plan.h says why one plan).
 *
 * The cap rule lives in the engine alone: this file never counts live
 * sessions. It asks the engine, and asks again only when the engine says
 * the count is at the cap and ghosts were left out. Changes the store only
 * as OPEN asks it to (closing ghosts, inside OPEN's transaction); audits
 * nothing and acts on nothing: what follows from a decision is the
 * handler's, after its commit.
 */
#include "plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "reply.h"

void tp_session_view(const struct tp_session *s, struct tp_policy_session *e)
{
        e->created = s->created;
        e->last_used = s->last_used;
        e->refresh_expires = s->refresh_expires;
        e->state = s->state;
}

void tp_plan_init(struct tp_signin_plan *plan, const struct tp_req_signin *req, int64_t now)
{
        memset(plan, 0, sizeof(*plan));
        plan->req = req;
        plan->now = now;
        plan->uid = (uid_t)-1;
        snprintf(plan->user, sizeof(plan->user), "%s", req->user);
}

void tp_plan_free(struct tp_signin_plan *plan)
{
        free(plan->sessions);
        free(plan->views_);
        free(plan->evict_);
        free(plan->expired_);
        plan->sessions = NULL;
        plan->views_ = NULL;
        plan->evict_ = plan->expired_ = NULL;
        plan->n_sessions = 0;
}

/* The module argument, then the service's mapping, then unknown_client
 * (tokenpolicy.conf(5), CLIENT TYPES). */
bool tp_plan_tag(struct tp_signin_plan *plan, const struct tp_config *c, struct tp_reply *rep)
{
        const struct tp_req_signin *req = plan->req;
        const struct tp_client_config *cl;

        if (req->client[0]) {
                cl = tp_config_client(c, req->client);
                if (!cl)
                        tp_reply_status(rep, TP_STATUS_BAD_REQUEST,
                                        "Client type '%s' (module argument client=) is not defined in %s.",
                                        req->client, c->path);
        } else {
                cl = tp_config_client_for_service(c, req->service);
                if (!cl && c->unknown_client >= 0)
                        cl = &c->clients[c->unknown_client];
                if (!cl)
                        tp_reply_status(rep, TP_STATUS_UNMAPPED,
                                        "Sign-in through '%s' is not allowed: it belongs to no client type and unknown clients are denied by your administrator.",
                                        req->service);
        }
        if (!cl)
                return false;
        plan->client = cl;
        tp_config_effective(c, cl, &plan->policy);
        return true;
}

bool tp_plan_account(struct tp_signin_plan *plan)
{
        uid_t uid;
        char user[TP_USER_MAX];

        plan->known = tp_account_lookup(plan->req->user, &uid, user, sizeof(user)) >= 0;
        if (plan->known) {
                plan->uid = uid;
                memcpy(plan->user, user, sizeof(plan->user));
        }
        return plan->known;
}

enum tp_verdict tp_plan_access(struct tp_signin_plan *plan)
{
        memset(&plan->dec, 0, sizeof(plan->dec));
        tp_policy_sign_in(&plan->policy, plan->now, NULL, 0, &plan->dec);
        return plan->dec.verdict;
}

static void engine(struct tp_signin_plan *plan)
{
        for (size_t i = 0; i < plan->n_sessions; i++)
                tp_session_view(&plan->sessions[i], &plan->views_[i]);
        memset(&plan->dec, 0, sizeof(plan->dec));
        plan->dec.evict = plan->evict_;
        plan->dec.expired = plan->expired_;
        tp_policy_sign_in(&plan->policy, plan->now, plan->views_, plan->n_sessions, &plan->dec);
}

/* Ghosts among the sessions that are not past expiry (an expired one is
 * the engine's to report, not a ghost). Returns how many were found, or a
 * negative errno when closing one in the store failed. */
static int find_ghosts(struct tp_signin_plan *plan, struct tp_store *store, enum tp_plan_ghosts how,
                       tp_plan_ghost_fn is_ghost, void *ctx, struct tp_reply *rep)
{
        int found = 0, r;

        for (size_t i = 0; i < plan->n_sessions; i++) {
                struct tp_session *s = &plan->sessions[i];

                if (s->state != TP_STATE_ACTIVE || s->refresh_expires <= plan->now || !is_ghost(ctx, s))
                        continue;
                if (how == TP_PLAN_REAP &&
                    (r = tp_store_end(store, s->id, TP_STATE_CLOSED, plan->now)) < 0) {
                        tp_reply_store_error(store, rep, r, "closing a session whose leader is gone");
                        return r;
                }
                s->state = TP_STATE_CLOSED;
                found++;
        }
        return found;
}

int tp_plan_decide(struct tp_signin_plan *plan, struct tp_store *store, enum tp_plan_ghosts how,
                   tp_plan_ghost_fn is_ghost, void *ctx, struct tp_reply *rep)
{
        size_t n;
        int r;

        tp_plan_free(plan);
        plan->n_ghosts = 0;
        if ((r = tp_store_list_active(store, plan->user, plan->client->name, &plan->sessions, &n)) < 0) {
                tp_reply_store_error(store, rep, r, "listing sessions");
                return r;
        }
        plan->n_sessions = n;
        plan->views_ = calloc(n ? n : 1, sizeof(*plan->views_));
        plan->evict_ = calloc(n ? n : 1, sizeof(*plan->evict_));
        plan->expired_ = calloc(n ? n : 1, sizeof(*plan->expired_));
        if (!plan->views_ || !plan->evict_ || !plan->expired_) {
                tp_reply_status(rep, TP_STATUS_ERROR, "Out of memory.");
                return -ENOMEM;
        }
        if (how == TP_PLAN_REAP)
                engine(plan);
        /* Only where the engine counted up to the cap can a ghost change
         * the answer: then leave the ghosts out and ask it again. */
        if (how == TP_PLAN_LOOK || plan->dec.at_cap) {
                if ((r = find_ghosts(plan, store, how, is_ghost, ctx, rep)) < 0)
                        return r;
                plan->n_ghosts = (size_t)r;
                if (how == TP_PLAN_LOOK || r > 0)
                        engine(plan);
        }
        return 0;
}

void tp_plan_refusal(const struct tp_signin_plan *plan, enum tp_verdict v, struct tp_reply *rep)
{
        const char *client = plan->client->name;

        switch (v) {
        case TP_VERDICT_DENY_ACCESS:
                tp_reply_status(rep, TP_STATUS_DENIED,
                                "Sign-in from %s clients is disabled by your administrator.", client);
                break;
        case TP_VERDICT_DENY_CAP:
                tp_reply_status(rep, TP_STATUS_DENIED,
                                "You already have %u active %s sessions, the most your administrator allows; sign out of one and try again.",
                                plan->policy.max_refresh_tokens, client);
                break;
        default:
                tp_reply_status(rep, TP_STATUS_DENIED, "Sign-in denied: %s.", tp_verdict_reason(v));
                break;
        }
}
