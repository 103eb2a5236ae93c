/* SPDX-License-Identifier: BSD-3-Clause */
/* proto.c: frames, requests and replies to and from bytes.
 *
 * The one place that turns protocol structs into bytes and back; the field
 * order of every message type lives here and in PROTOCOL.md, nowhere else.
 * Every byte goes through wire.c. It must never accept a frame that is not
 * exactly one well-formed message (short, long, bad enum, bad string), never
 * leave uninitialised or stale bytes in a decoded struct, never allocate and
 * never log.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"
#include "strtable.h"
#include "wipe.h"
#include "wire.h"

/* ---- field groups ------------------------------------------------------ */

static int put_enum(struct tp_wire_writer *w, uint8_t v, uint8_t max)
{
        if (v > max)
                return -EINVAL;
        return tp_wire_put_u8(w, v);
}

static int get_enum(struct tp_wire_reader *rd, uint8_t max, uint8_t *ret)
{
        uint8_t v;
        int r;

        if ((r = tp_wire_get_u8(rd, &v)) < 0)
                return r;
        if (v > max)
                return -EPROTO;
        *ret = v;
        return 0;
}

#define put_bool(w, v) put_enum((w), (v), 1)
#define get_bool(rd, ret) get_enum((rd), 1, (ret))

static int put_session_info(struct tp_wire_writer *w, const struct tp_session_info *s)
{
        int r;

        if ((r = tp_wire_put_str(w, s->id, sizeof(s->id))) < 0 ||
            (r = tp_wire_put_str(w, s->user, sizeof(s->user))) < 0 ||
            (r = tp_wire_put_u32(w, s->uid)) < 0 ||
            (r = tp_wire_put_str(w, s->client, sizeof(s->client))) < 0 ||
            (r = tp_wire_put_str(w, s->service, sizeof(s->service))) < 0 ||
            (r = tp_wire_put_str(w, s->rhost, sizeof(s->rhost))) < 0 ||
            (r = tp_wire_put_str(w, s->tty, sizeof(s->tty))) < 0 ||
            (r = tp_wire_put_u32(w, s->leader_pid)) < 0 ||
            (r = tp_wire_put_i64(w, s->created)) < 0 ||
            (r = tp_wire_put_i64(w, s->refresh_expires)) < 0 ||
            (r = tp_wire_put_i64(w, s->last_extended)) < 0 ||
            (r = tp_wire_put_i64(w, s->last_used)) < 0 ||
            (r = tp_wire_put_i64(w, s->ended)) < 0 ||
            (r = put_enum(w, s->state, TP_STATE_MAX_)) < 0)
                return r;
        return 0;
}

static int get_session_info(struct tp_wire_reader *rd, struct tp_session_info *s)
{
        int r;

        if ((r = tp_wire_get_str(rd, s->id, sizeof(s->id))) < 0 ||
            (r = tp_wire_get_str(rd, s->user, sizeof(s->user))) < 0 ||
            (r = tp_wire_get_u32(rd, &s->uid)) < 0 ||
            (r = tp_wire_get_str(rd, s->client, sizeof(s->client))) < 0 ||
            (r = tp_wire_get_str(rd, s->service, sizeof(s->service))) < 0 ||
            (r = tp_wire_get_str(rd, s->rhost, sizeof(s->rhost))) < 0 ||
            (r = tp_wire_get_str(rd, s->tty, sizeof(s->tty))) < 0 ||
            (r = tp_wire_get_u32(rd, &s->leader_pid)) < 0 ||
            (r = tp_wire_get_i64(rd, &s->created)) < 0 ||
            (r = tp_wire_get_i64(rd, &s->refresh_expires)) < 0 ||
            (r = tp_wire_get_i64(rd, &s->last_extended)) < 0 ||
            (r = tp_wire_get_i64(rd, &s->last_used)) < 0 ||
            (r = tp_wire_get_i64(rd, &s->ended)) < 0 ||
            (r = get_enum(rd, TP_STATE_MAX_, &s->state)) < 0)
                return r;
        return 0;
}

static int put_token_values(struct tp_wire_writer *w, const struct tp_token_values *v)
{
        int r;

        if ((r = put_bool(w, v->auto_extend)) < 0 ||
            (r = tp_wire_put_u32(w, v->refresh_ttl_hours)) < 0 ||
            (r = tp_wire_put_u32(w, v->access_ttl_minutes)) < 0 ||
            (r = tp_wire_put_u32(w, v->max_refresh_tokens)) < 0)
                return r;
        return 0;
}

static int get_token_values(struct tp_wire_reader *rd, struct tp_token_values *v)
{
        int r;

        if ((r = get_bool(rd, &v->auto_extend)) < 0 ||
            (r = tp_wire_get_u32(rd, &v->refresh_ttl_hours)) < 0 ||
            (r = tp_wire_get_u32(rd, &v->access_ttl_minutes)) < 0 ||
            (r = tp_wire_get_u32(rd, &v->max_refresh_tokens)) < 0)
                return r;
        return 0;
}

static int put_idle_values(struct tp_wire_writer *w, const struct tp_idle_values *v)
{
        int r;

        if (v->on_idle == TP_ACTION_NONE)
                return -EINVAL;
        if ((r = tp_wire_put_u32(w, v->idle_timeout_minutes)) < 0 ||
            (r = put_enum(w, v->on_idle, TP_ACTION_MAX_)) < 0 ||
            (r = tp_wire_put_u32(w, v->warn_before_minutes)) < 0)
                return r;
        return 0;
}

static int get_idle_values(struct tp_wire_reader *rd, struct tp_idle_values *v)
{
        int r;

        if ((r = tp_wire_get_u32(rd, &v->idle_timeout_minutes)) < 0 ||
            (r = get_enum(rd, TP_ACTION_LOCK, &v->on_idle)) < 0 ||
            (r = tp_wire_get_u32(rd, &v->warn_before_minutes)) < 0)
                return r;
        return 0;
}

static int put_policy_client(struct tp_wire_writer *w, const struct tp_policy_client *c)
{
        int r;

        if ((r = tp_wire_put_str(w, c->name, sizeof(c->name))) < 0 ||
            (r = put_bool(w, c->access)) < 0 ||
            (r = put_token_values(w, &c->configured)) < 0 ||
            (r = put_token_values(w, &c->effective)) < 0 ||
            (r = put_enum(w, c->evict, TP_EVICT_MAX_)) < 0 ||
            (r = put_enum(w, c->on_expiry, TP_ACTION_MAX_)) < 0 ||
            (r = put_enum(w, c->on_revoke, TP_ACTION_MAX_)) < 0 ||
            (r = tp_wire_put_str(w, c->services, sizeof(c->services))) < 0)
                return r;
        return 0;
}

static int get_policy_client(struct tp_wire_reader *rd, struct tp_policy_client *c)
{
        int r;

        if ((r = tp_wire_get_str(rd, c->name, sizeof(c->name))) < 0 ||
            (r = get_bool(rd, &c->access)) < 0 ||
            (r = get_token_values(rd, &c->configured)) < 0 ||
            (r = get_token_values(rd, &c->effective)) < 0 ||
            (r = get_enum(rd, TP_EVICT_MAX_, &c->evict)) < 0 ||
            (r = get_enum(rd, TP_ACTION_MAX_, &c->on_expiry)) < 0 ||
            (r = get_enum(rd, TP_ACTION_MAX_, &c->on_revoke)) < 0 ||
            (r = tp_wire_get_str(rd, c->services, sizeof(c->services))) < 0)
                return r;
        return 0;
}

/* ---- request bodies ---------------------------------------------------- */

static int put_signin(struct tp_wire_writer *w, const struct tp_req_signin *s)
{
        int r;

        if (s->flags & ~TP_SIGNIN_FLAGS_ALL)
                return -EINVAL;
        if ((r = tp_wire_put_str(w, s->user, sizeof(s->user))) < 0 ||
            (r = tp_wire_put_str(w, s->service, sizeof(s->service))) < 0 ||
            (r = tp_wire_put_str(w, s->client, sizeof(s->client))) < 0 ||
            (r = tp_wire_put_str(w, s->rhost, sizeof(s->rhost))) < 0 ||
            (r = tp_wire_put_str(w, s->tty, sizeof(s->tty))) < 0 ||
            (r = tp_wire_put_u32(w, s->leader_pid)) < 0 ||
            (r = tp_wire_put_str(w, s->logind_session, sizeof(s->logind_session))) < 0 ||
            (r = tp_wire_put_u32(w, s->flags)) < 0)
                return r;
        return 0;
}

static int get_signin(struct tp_wire_reader *rd, struct tp_req_signin *s)
{
        int r;

        if ((r = tp_wire_get_str(rd, s->user, sizeof(s->user))) < 0 ||
            (r = tp_wire_get_str(rd, s->service, sizeof(s->service))) < 0 ||
            (r = tp_wire_get_str(rd, s->client, sizeof(s->client))) < 0 ||
            (r = tp_wire_get_str(rd, s->rhost, sizeof(s->rhost))) < 0 ||
            (r = tp_wire_get_str(rd, s->tty, sizeof(s->tty))) < 0 ||
            (r = tp_wire_get_u32(rd, &s->leader_pid)) < 0 ||
            (r = tp_wire_get_str(rd, s->logind_session, sizeof(s->logind_session))) < 0 ||
            (r = tp_wire_get_u32(rd, &s->flags)) < 0)
                return r;
        if (s->flags & ~TP_SIGNIN_FLAGS_ALL)
                return -EPROTO;
        return 0;
}

static int put_req_session(struct tp_wire_writer *w, const struct tp_req_session *s)
{
        int r;

        if ((r = tp_wire_put_str(w, s->session_id, sizeof(s->session_id))) < 0 ||
            (r = tp_wire_put_str(w, s->refresh_token, sizeof(s->refresh_token))) < 0 ||
            (r = tp_wire_put_str(w, s->user, sizeof(s->user))) < 0)
                return r;
        return 0;
}

static int get_req_session(struct tp_wire_reader *rd, struct tp_req_session *s)
{
        int r;

        if ((r = tp_wire_get_str(rd, s->session_id, sizeof(s->session_id))) < 0 ||
            (r = tp_wire_get_str(rd, s->refresh_token, sizeof(s->refresh_token))) < 0 ||
            (r = tp_wire_get_str(rd, s->user, sizeof(s->user))) < 0)
                return r;
        return 0;
}

static bool cursor_is_zero(const struct tp_list_cursor *c)
{
        return c->state == 0 && c->created == 0 && c->seq == 0;
}

static int put_cursor(struct tp_wire_writer *w, const struct tp_list_cursor *c)
{
        int r;

        if ((r = put_enum(w, c->state, TP_STATE_MAX_)) < 0 ||
            (r = tp_wire_put_i64(w, c->created)) < 0 ||
            (r = tp_wire_put_u64(w, c->seq)) < 0)
                return r;
        return 0;
}

static int get_cursor(struct tp_wire_reader *rd, struct tp_list_cursor *c)
{
        int r;

        if ((r = get_enum(rd, TP_STATE_MAX_, &c->state)) < 0 ||
            (r = tp_wire_get_i64(rd, &c->created)) < 0 ||
            (r = tp_wire_get_u64(rd, &c->seq)) < 0)
                return r;
        return 0;
}

static int put_req_list(struct tp_wire_writer *w, const struct tp_req_list *l)
{
        int r;

        /* Unknown flag bits would be silently ignored by the daemon, and a
         * cursor without TP_LIST_AFTER would be. */
        if (l->flags & ~(TP_LIST_ALL | TP_LIST_AFTER))
                return -EINVAL;
        if (!(l->flags & TP_LIST_AFTER) && !cursor_is_zero(&l->after))
                return -EINVAL;
        if ((r = tp_wire_put_str(w, l->user, sizeof(l->user))) < 0 ||
            (r = tp_wire_put_str(w, l->client, sizeof(l->client))) < 0 ||
            (r = tp_wire_put_u32(w, l->flags)) < 0 ||
            (r = put_cursor(w, &l->after)) < 0)
                return r;
        /* Optional and last: a request without it is what it always was. */
        if (l->host[0] && (r = tp_wire_put_str(w, l->host, sizeof(l->host))) < 0)
                return r;
        return 0;
}

static int get_req_list(struct tp_wire_reader *rd, struct tp_req_list *l)
{
        int r;

        if ((r = tp_wire_get_str(rd, l->user, sizeof(l->user))) < 0 ||
            (r = tp_wire_get_str(rd, l->client, sizeof(l->client))) < 0 ||
            (r = tp_wire_get_u32(rd, &l->flags)) < 0 ||
            (r = get_cursor(rd, &l->after)) < 0)
                return r;
        l->host[0] = '\0';
        if (rd->pos < rd->size) {
                if ((r = tp_wire_get_str(rd, l->host, sizeof(l->host))) < 0)
                        return r;
                if (!l->host[0]) /* present means given */
                        return -EPROTO;
        }
        if (l->flags & ~(TP_LIST_ALL | TP_LIST_AFTER))
                return -EPROTO;
        if (!(l->flags & TP_LIST_AFTER) && !cursor_is_zero(&l->after))
                return -EPROTO;
        return 0;
}

static int put_req_revoke(struct tp_wire_writer *w, const struct tp_req_revoke *v)
{
        int r;

        if (v->flags & ~TP_REVOKE_FLAGS_ALL)
                return -EINVAL;
        if ((r = tp_wire_put_str(w, v->session_id, sizeof(v->session_id))) < 0 ||
            (r = tp_wire_put_str(w, v->user, sizeof(v->user))) < 0 ||
            (r = tp_wire_put_str(w, v->client, sizeof(v->client))) < 0 ||
            (r = tp_wire_put_u32(w, v->flags)) < 0)
                return r;
        return 0;
}

static int get_req_revoke(struct tp_wire_reader *rd, struct tp_req_revoke *v)
{
        int r;

        if ((r = tp_wire_get_str(rd, v->session_id, sizeof(v->session_id))) < 0 ||
            (r = tp_wire_get_str(rd, v->user, sizeof(v->user))) < 0 ||
            (r = tp_wire_get_str(rd, v->client, sizeof(v->client))) < 0 ||
            (r = tp_wire_get_u32(rd, &v->flags)) < 0)
                return r;
        if (v->flags & ~TP_REVOKE_FLAGS_ALL)
                return -EPROTO;
        return 0;
}

/* ---- reply bodies ------------------------------------------------------ */

static int put_rep_tokens(struct tp_wire_writer *w, const struct tp_rep_tokens *t)
{
        size_t i;
        int r;

        if (t->n_evicted > TP_EVICTED_MAX)
                return -EINVAL;
        if ((r = tp_wire_put_str(w, t->session_id, sizeof(t->session_id))) < 0 ||
            (r = tp_wire_put_str(w, t->client, sizeof(t->client))) < 0 ||
            (r = tp_wire_put_str(w, t->access_token, sizeof(t->access_token))) < 0 ||
            (r = tp_wire_put_str(w, t->refresh_token, sizeof(t->refresh_token))) < 0 ||
            (r = tp_wire_put_i64(w, t->refresh_expires)) < 0 ||
            (r = tp_wire_put_i64(w, t->access_expires)) < 0 ||
            (r = put_bool(w, t->auto_extend)) < 0 ||
            (r = tp_wire_put_u8(w, t->n_evicted)) < 0)
                return r;
        for (i = 0; i < t->n_evicted; i++)
                if ((r = put_session_info(w, &t->evicted[i])) < 0)
                        return r;
        return 0;
}

static int get_rep_tokens(struct tp_wire_reader *rd, struct tp_rep_tokens *t)
{
        size_t i;
        int r;

        if ((r = tp_wire_get_str(rd, t->session_id, sizeof(t->session_id))) < 0 ||
            (r = tp_wire_get_str(rd, t->client, sizeof(t->client))) < 0 ||
            (r = tp_wire_get_str(rd, t->access_token, sizeof(t->access_token))) < 0 ||
            (r = tp_wire_get_str(rd, t->refresh_token, sizeof(t->refresh_token))) < 0 ||
            (r = tp_wire_get_i64(rd, &t->refresh_expires)) < 0 ||
            (r = tp_wire_get_i64(rd, &t->access_expires)) < 0 ||
            (r = get_bool(rd, &t->auto_extend)) < 0 ||
            (r = get_enum(rd, TP_EVICTED_MAX, &t->n_evicted)) < 0)
                return r;
        for (i = 0; i < t->n_evicted; i++)
                if ((r = get_session_info(rd, &t->evicted[i])) < 0)
                        return r;
        return 0;
}

static int put_rep_explain(struct tp_wire_writer *w, const struct tp_rep_explain *e)
{
        int r;

        if (e->n_evicted > TP_EVICTED_MAX || e->n_evicted > e->n_evict_total)
                return -EINVAL;
        if ((r = put_bool(w, e->allowed)) < 0 ||
            (r = tp_wire_put_str(w, e->client, sizeof(e->client))) < 0 ||
            (r = tp_wire_put_u32(w, e->active)) < 0 ||
            (r = tp_wire_put_u32(w, e->cap)) < 0 ||
            (r = put_enum(w, e->evict, TP_EVICT_MAX_)) < 0 ||
            (r = tp_wire_put_i64(w, e->refresh_expires)) < 0 ||
            (r = tp_wire_put_i64(w, e->access_expires)) < 0 ||
            (r = put_bool(w, e->auto_extend)) < 0 ||
            (r = tp_wire_put_u32(w, e->n_evict_total)) < 0 ||
            (r = tp_wire_put_u8(w, e->n_evicted)) < 0)
                return r;
        for (size_t i = 0; i < e->n_evicted; i++)
                if ((r = put_session_info(w, &e->evicted[i])) < 0)
                        return r;
        return put_idle_values(w, &e->idle);
}

static int get_rep_explain(struct tp_wire_reader *rd, struct tp_rep_explain *e)
{
        int r;

        if ((r = get_bool(rd, &e->allowed)) < 0 ||
            (r = tp_wire_get_str(rd, e->client, sizeof(e->client))) < 0 ||
            (r = tp_wire_get_u32(rd, &e->active)) < 0 ||
            (r = tp_wire_get_u32(rd, &e->cap)) < 0 ||
            (r = get_enum(rd, TP_EVICT_MAX_, &e->evict)) < 0 ||
            (r = tp_wire_get_i64(rd, &e->refresh_expires)) < 0 ||
            (r = tp_wire_get_i64(rd, &e->access_expires)) < 0 ||
            (r = get_bool(rd, &e->auto_extend)) < 0 ||
            (r = tp_wire_get_u32(rd, &e->n_evict_total)) < 0 ||
            (r = get_enum(rd, TP_EVICTED_MAX, &e->n_evicted)) < 0)
                return r;
        if (e->n_evicted > e->n_evict_total)
                return -EPROTO;
        for (size_t i = 0; i < e->n_evicted; i++)
                if ((r = get_session_info(rd, &e->evicted[i])) < 0)
                        return r;
        return get_idle_values(rd, &e->idle);
}

static int put_rep_verify(struct tp_wire_writer *w, const struct tp_rep_verify *v)
{
        int r;

        if ((r = tp_wire_put_str(w, v->sid, sizeof(v->sid))) < 0 ||
            (r = tp_wire_put_str(w, v->user, sizeof(v->user))) < 0 ||
            (r = tp_wire_put_str(w, v->client, sizeof(v->client))) < 0 ||
            (r = tp_wire_put_i64(w, v->exp)) < 0 ||
            (r = tp_wire_put_i64(w, v->refresh_expires)) < 0)
                return r;
        return 0;
}

static int get_rep_verify(struct tp_wire_reader *rd, struct tp_rep_verify *v)
{
        int r;

        if ((r = tp_wire_get_str(rd, v->sid, sizeof(v->sid))) < 0 ||
            (r = tp_wire_get_str(rd, v->user, sizeof(v->user))) < 0 ||
            (r = tp_wire_get_str(rd, v->client, sizeof(v->client))) < 0 ||
            (r = tp_wire_get_i64(rd, &v->exp)) < 0 ||
            (r = tp_wire_get_i64(rd, &v->refresh_expires)) < 0)
                return r;
        return 0;
}

static int put_rep_rotate(struct tp_wire_writer *w, const struct tp_rep_rotate *k)
{
        int r;

        if ((r = tp_wire_put_str(w, k->kid, sizeof(k->kid))) < 0 ||
            (r = tp_wire_put_str(w, k->old_kid, sizeof(k->old_kid))) < 0 ||
            (r = tp_wire_put_i64(w, k->old_until)) < 0)
                return r;
        return 0;
}

static int get_rep_rotate(struct tp_wire_reader *rd, struct tp_rep_rotate *k)
{
        int r;

        if ((r = tp_wire_get_str(rd, k->kid, sizeof(k->kid))) < 0 ||
            (r = tp_wire_get_str(rd, k->old_kid, sizeof(k->old_kid))) < 0 ||
            (r = tp_wire_get_i64(rd, &k->old_until)) < 0)
                return r;
        return 0;
}

/* The configuration fields, then the audit trail's, come last: they were
 * added to version 1's body at its end, in that order. */
static int put_rep_status(struct tp_wire_writer *w, const struct tp_rep_status *s)
{
        int r;

        if (s->config_state > TP_CONFIG_STATE_MAX_)
                return -EINVAL;
        if ((r = tp_wire_put_str(w, s->version, sizeof(s->version))) < 0 ||
            (r = tp_wire_put_u32(w, s->pid)) < 0 ||
            (r = tp_wire_put_i64(w, s->started)) < 0 ||
            (r = tp_wire_put_i64(w, s->config_loaded)) < 0 ||
            (r = tp_wire_put_str(w, s->config_path, sizeof(s->config_path))) < 0 ||
            (r = tp_wire_put_u64(w, s->active_sessions)) < 0 ||
            (r = tp_wire_put_u32(w, s->n_clients)) < 0 ||
            (r = tp_wire_put_u8(w, s->config_state)) < 0 ||
            (r = tp_wire_put_str(w, s->config_source, sizeof(s->config_source))) < 0 ||
            (r = tp_wire_put_str(w, s->config_errors, sizeof(s->config_errors))) < 0)
                return r;
        /* the audit trail */
        if ((r = tp_wire_put_str(w, s->audit_sink, sizeof(s->audit_sink))) < 0 ||
            (r = tp_wire_put_u32(w, s->audit_queued)) < 0 ||
            (r = tp_wire_put_u64(w, s->audit_lost)) < 0 ||
            (r = tp_wire_put_u64(w, s->audit_suppressed)) < 0)
                return r;
        /* the session store */
        if (s->store_backend > TP_STORE_KIND_MAX_)
                return -EINVAL;
        if ((r = tp_wire_put_u8(w, s->store_backend)) < 0 ||
            (r = put_bool(w, s->store_connected)) < 0 ||
            (r = tp_wire_put_str(w, s->host_id, sizeof(s->host_id))) < 0 ||
            (r = tp_wire_put_u32(w, s->hosts)) < 0 ||
            (r = tp_wire_put_i64(w, s->store_offline_since)) < 0 ||
            (r = tp_wire_put_str(w, s->store_error, sizeof(s->store_error))) < 0 ||
            (r = tp_wire_put_u64(w, s->unsynced)) < 0)
                return r;
        return 0;
}

static int get_rep_status(struct tp_wire_reader *rd, struct tp_rep_status *s)
{
        int r;

        if ((r = tp_wire_get_str(rd, s->version, sizeof(s->version))) < 0 ||
            (r = tp_wire_get_u32(rd, &s->pid)) < 0 ||
            (r = tp_wire_get_i64(rd, &s->started)) < 0 ||
            (r = tp_wire_get_i64(rd, &s->config_loaded)) < 0 ||
            (r = tp_wire_get_str(rd, s->config_path, sizeof(s->config_path))) < 0 ||
            (r = tp_wire_get_u64(rd, &s->active_sessions)) < 0 ||
            (r = tp_wire_get_u32(rd, &s->n_clients)) < 0 ||
            (r = get_enum(rd, TP_CONFIG_STATE_MAX_, &s->config_state)) < 0 ||
            (r = tp_wire_get_str(rd, s->config_source, sizeof(s->config_source))) < 0 ||
            (r = tp_wire_get_str(rd, s->config_errors, sizeof(s->config_errors))) < 0)
                return r;
        /* the audit trail */
        if ((r = tp_wire_get_str(rd, s->audit_sink, sizeof(s->audit_sink))) < 0 ||
            (r = tp_wire_get_u32(rd, &s->audit_queued)) < 0 ||
            (r = tp_wire_get_u64(rd, &s->audit_lost)) < 0 ||
            (r = tp_wire_get_u64(rd, &s->audit_suppressed)) < 0)
                return r;
        /* the session store */
        if ((r = get_enum(rd, TP_STORE_KIND_MAX_, &s->store_backend)) < 0 ||
            (r = get_bool(rd, &s->store_connected)) < 0 ||
            (r = tp_wire_get_str(rd, s->host_id, sizeof(s->host_id))) < 0 ||
            (r = tp_wire_get_u32(rd, &s->hosts)) < 0 ||
            (r = tp_wire_get_i64(rd, &s->store_offline_since)) < 0 ||
            (r = tp_wire_get_str(rd, s->store_error, sizeof(s->store_error))) < 0 ||
            (r = tp_wire_get_u64(rd, &s->unsynced)) < 0)
                return r;
        return 0;
}

static int put_rep_revoke_key(struct tp_wire_writer *w, const struct tp_rep_revoke_key *k)
{
        int r;

        if ((r = tp_wire_put_str(w, k->kid, sizeof(k->kid))) < 0 ||
            (r = tp_wire_put_str(w, k->current_kid, sizeof(k->current_kid))) < 0 ||
            (r = put_bool(w, k->rotated)) < 0)
                return r;
        return 0;
}

static int get_rep_revoke_key(struct tp_wire_reader *rd, struct tp_rep_revoke_key *k)
{
        int r;

        if ((r = tp_wire_get_str(rd, k->kid, sizeof(k->kid))) < 0 ||
            (r = tp_wire_get_str(rd, k->current_kid, sizeof(k->current_kid))) < 0 ||
            (r = get_bool(rd, &k->rotated)) < 0)
                return r;
        return 0;
}

static int put_rep_list(struct tp_wire_writer *w, const struct tp_rep_list *l)
{
        size_t i;
        int r;

        if (l->count > TP_LIST_PAGE_MAX || (!l->more && !cursor_is_zero(&l->next)))
                return -EINVAL;
        if ((r = put_bool(w, l->more)) < 0 ||
            (r = put_cursor(w, &l->next)) < 0 ||
            (r = tp_wire_put_u32(w, l->count)) < 0)
                return r;
        for (i = 0; i < l->count; i++)
                if ((r = put_session_info(w, &l->sessions[i])) < 0)
                        return r;
        for (i = 0; i < l->count; i++)
                if ((r = tp_wire_put_str(w, l->hosts[i], sizeof(l->hosts[i]))) < 0)
                        return r;
        return 0;
}

static int get_rep_list(struct tp_wire_reader *rd, struct tp_rep_list *l)
{
        size_t i;
        int r;

        if ((r = get_bool(rd, &l->more)) < 0 ||
            (r = get_cursor(rd, &l->next)) < 0 ||
            (r = tp_wire_get_u32(rd, &l->count)) < 0)
                return r;
        if (l->count > TP_LIST_PAGE_MAX || (!l->more && !cursor_is_zero(&l->next)))
                return -EPROTO;
        for (i = 0; i < l->count; i++)
                if ((r = get_session_info(rd, &l->sessions[i])) < 0)
                        return r;
        for (i = 0; i < l->count; i++)
                if ((r = tp_wire_get_str(rd, l->hosts[i], sizeof(l->hosts[i]))) < 0)
                        return r;
        return 0;
}

static int put_rep_hosts(struct tp_wire_writer *w, const struct tp_rep_hosts *h)
{
        int r;

        if (h->count > TP_HOSTS_PAGE_MAX)
                return -EINVAL;
        if ((r = put_bool(w, h->more)) < 0 || (r = tp_wire_put_u32(w, h->count)) < 0)
                return r;
        for (size_t i = 0; i < h->count; i++) {
                const struct tp_host_info *o = &h->hosts[i];

                if ((r = tp_wire_put_str(w, o->id, sizeof(o->id))) < 0 ||
                    (r = tp_wire_put_str(w, o->name, sizeof(o->name))) < 0 ||
                    (r = tp_wire_put_i64(w, o->last_seen)) < 0 ||
                    (r = tp_wire_put_u64(w, o->active_sessions)) < 0 ||
                    (r = tp_wire_put_str(w, o->policy_digest, sizeof(o->policy_digest))) < 0 ||
                    (r = put_bool(w, o->policy_differs)) < 0)
                        return r;
        }
        return 0;
}

static int get_rep_hosts(struct tp_wire_reader *rd, struct tp_rep_hosts *h)
{
        int r;

        if ((r = get_bool(rd, &h->more)) < 0 || (r = tp_wire_get_u32(rd, &h->count)) < 0)
                return r;
        if (h->count > TP_HOSTS_PAGE_MAX)
                return -EPROTO;
        for (size_t i = 0; i < h->count; i++) {
                struct tp_host_info *o = &h->hosts[i];

                if ((r = tp_wire_get_str(rd, o->id, sizeof(o->id))) < 0 ||
                    (r = tp_wire_get_str(rd, o->name, sizeof(o->name))) < 0 ||
                    (r = tp_wire_get_i64(rd, &o->last_seen)) < 0 ||
                    (r = tp_wire_get_u64(rd, &o->active_sessions)) < 0 ||
                    (r = tp_wire_get_str(rd, o->policy_digest, sizeof(o->policy_digest))) < 0 ||
                    (r = get_bool(rd, &o->policy_differs)) < 0)
                        return r;
        }
        return 0;
}

static int put_rep_policy(struct tp_wire_writer *w, const struct tp_rep_policy *p)
{
        size_t i;
        int r;

        if (p->n_clients > TP_POLICY_CLIENTS_MAX)
                return -EINVAL;
        if ((r = put_bool(w, p->custom_token_policy)) < 0 ||
            (r = tp_wire_put_str(w, p->unknown_client, sizeof(p->unknown_client))) < 0 ||
            (r = tp_wire_put_str(w, p->config_path, sizeof(p->config_path))) < 0 ||
            (r = tp_wire_put_u8(w, p->n_clients)) < 0)
                return r;
        for (i = 0; i < p->n_clients; i++)
                if ((r = put_policy_client(w, &p->clients[i])) < 0)
                        return r;
        /* Added after the clients within version 1: one idle block per
         * client, in the same order. */
        for (i = 0; i < p->n_clients; i++)
                if ((r = put_idle_values(w, &p->clients[i].idle)) < 0)
                        return r;
        return 0;
}

static int get_rep_policy(struct tp_wire_reader *rd, struct tp_rep_policy *p)
{
        size_t i;
        int r;

        if ((r = get_bool(rd, &p->custom_token_policy)) < 0 ||
            (r = tp_wire_get_str(rd, p->unknown_client, sizeof(p->unknown_client))) < 0 ||
            (r = tp_wire_get_str(rd, p->config_path, sizeof(p->config_path))) < 0 ||
            (r = get_enum(rd, TP_POLICY_CLIENTS_MAX, &p->n_clients)) < 0)
                return r;
        for (i = 0; i < p->n_clients; i++)
                if ((r = get_policy_client(rd, &p->clients[i])) < 0)
                        return r;
        for (i = 0; i < p->n_clients; i++)
                if ((r = get_idle_values(rd, &p->clients[i].idle)) < 0)
                        return r;
        return 0;
}

/* ---- frames ------------------------------------------------------------ */

/* A type is known when it has a name: retired numbers have none. */
static bool request_type_valid(uint8_t type)
{
        return tp_msg_type_to_string(type) != NULL;
}

bool tp_request_type_known(uint8_t type)
{
        return request_type_valid(type);
}

static bool reply_type_valid(uint8_t type)
{
        return (type & TP_REPLY_FLAG) && request_type_valid(type & (uint8_t) ~TP_REPLY_FLAG);
}

/* The payload goes after the header; its room is the smaller of what the
 * caller gave and the protocol maximum, so either limit yields -EMSGSIZE. */
static int frame_begin(uint8_t *out, size_t outsz, struct tp_wire_writer *w)
{
        size_t room;

        if (outsz < TP_FRAME_HEADER_SIZE)
                return -EMSGSIZE;
        room = outsz - TP_FRAME_HEADER_SIZE;
        if (room > TP_PAYLOAD_MAX)
                room = TP_PAYLOAD_MAX;
        tp_wire_writer_init(w, out + TP_FRAME_HEADER_SIZE, room);
        return 0;
}

static int frame_finish(uint8_t *out, uint8_t type, const struct tp_wire_writer *w)
{
        uint32_t len = (uint32_t) w->len;

        out[0] = TP_PROTO_MAGIC0;
        out[1] = TP_PROTO_MAGIC1;
        out[2] = TP_PROTO_VERSION;
        out[3] = type;
        out[4] = (uint8_t) (len >> 24);
        out[5] = (uint8_t) (len >> 16);
        out[6] = (uint8_t) (len >> 8);
        out[7] = (uint8_t) len;
        return (int) (TP_FRAME_HEADER_SIZE + w->len);
}

int tp_frame_header_parse(const uint8_t *hdr, uint8_t *ret_type, uint32_t *ret_len)
{
        uint32_t len;

        if (hdr[0] != TP_PROTO_MAGIC0 || hdr[1] != TP_PROTO_MAGIC1 || hdr[2] != TP_PROTO_VERSION)
                return -EPROTO;
        len = ((uint32_t) hdr[4] << 24) | ((uint32_t) hdr[5] << 16) |
              ((uint32_t) hdr[6] << 8) | (uint32_t) hdr[7];
        if (len > TP_PAYLOAD_MAX)
                return -EMSGSIZE;
        *ret_type = hdr[3];
        *ret_len = len;
        return 0;
}

int tp_request_encode(const struct tp_request *req, uint8_t *out, size_t outsz)
{
        struct tp_wire_writer w;
        int r;

        if (!request_type_valid(req->type))
                return -EINVAL;
        if ((r = frame_begin(out, outsz, &w)) < 0)
                return r;

        switch (req->type) {
        case TP_REQ_ACCESS:
        case TP_REQ_OPEN:
        case TP_REQ_EXPLAIN:
                r = put_signin(&w, &req->u.signin);
                break;
        case TP_REQ_VERIFY:
                r = tp_wire_put_str(&w, req->u.verify.token, sizeof(req->u.verify.token));
                break;
        case TP_REQ_CLOSE:
        case TP_REQ_REAUTH:
        case TP_REQ_REFRESH:
                r = put_req_session(&w, &req->u.session);
                break;
        case TP_REQ_LIST:
                r = put_req_list(&w, &req->u.list);
                break;
        case TP_REQ_REVOKE:
                r = put_req_revoke(&w, &req->u.revoke);
                break;
        case TP_REQ_REVOKE_KEY:
                r = tp_wire_put_str(&w, req->u.key.kid, sizeof(req->u.key.kid));
                break;
        case TP_REQ_HOSTS:
                r = tp_wire_put_str(&w, req->u.hosts.after, sizeof(req->u.hosts.after));
                break;
        case TP_REQ_OUTCOME:
                if ((r = tp_wire_put_str(&w, req->u.outcome.session_id, sizeof(req->u.outcome.session_id))) >= 0)
                        r = put_bool(&w, req->u.outcome.completed);
                break;
        default: /* STATUS, RELOAD, POLICY, ROTATE_KEY: empty payload */
                r = 0;
                break;
        }
        if (r < 0)
                return r;
        return frame_finish(out, req->type, &w);
}

int tp_request_decode(uint8_t type, const uint8_t *payload, size_t len, struct tp_request *out)
{
        struct tp_wire_reader rd;
        int r;

        memset(out, 0, sizeof(*out));
        if (!request_type_valid(type))
                return -EPROTO;
        out->type = type;
        tp_wire_reader_init(&rd, payload, len);

        switch (type) {
        case TP_REQ_ACCESS:
        case TP_REQ_OPEN:
        case TP_REQ_EXPLAIN:
                r = get_signin(&rd, &out->u.signin);
                break;
        case TP_REQ_VERIFY:
                r = tp_wire_get_str(&rd, out->u.verify.token, sizeof(out->u.verify.token));
                break;
        case TP_REQ_CLOSE:
        case TP_REQ_REAUTH:
        case TP_REQ_REFRESH:
                r = get_req_session(&rd, &out->u.session);
                break;
        case TP_REQ_LIST:
                r = get_req_list(&rd, &out->u.list);
                break;
        case TP_REQ_REVOKE:
                r = get_req_revoke(&rd, &out->u.revoke);
                break;
        case TP_REQ_REVOKE_KEY:
                r = tp_wire_get_str(&rd, out->u.key.kid, sizeof(out->u.key.kid));
                break;
        case TP_REQ_HOSTS:
                r = tp_wire_get_str(&rd, out->u.hosts.after, sizeof(out->u.hosts.after));
                break;
        case TP_REQ_OUTCOME:
                if ((r = tp_wire_get_str(&rd, out->u.outcome.session_id, sizeof(out->u.outcome.session_id))) >= 0)
                        r = get_bool(&rd, &out->u.outcome.completed);
                break;
        default:
                r = 0;
                break;
        }
        if (r >= 0)
                r = tp_wire_get_end(&rd);
        if (r < 0)
                /* A rejected frame may hold half a refresh token. */
                tp_secret_wipe(out, sizeof(*out));
        return r;
}

int tp_reply_encode(const struct tp_reply *rep, uint8_t *out, size_t outsz)
{
        struct tp_wire_writer w;
        int r;

        if (!reply_type_valid(rep->type) || rep->status > TP_STATUS_MAX_)
                return -EINVAL;
        if ((r = frame_begin(out, outsz, &w)) < 0)
                return r;
        if ((r = tp_wire_put_u8(&w, rep->status)) < 0 ||
            (r = tp_wire_put_str(&w, rep->message, sizeof(rep->message))) < 0)
                return r;

        if (rep->status == TP_STATUS_OK) {
                switch (rep->type & (uint8_t) ~TP_REPLY_FLAG) {
                case TP_REQ_ACCESS:
                        r = tp_wire_put_str(&w, rep->u.access.client, sizeof(rep->u.access.client));
                        break;
                case TP_REQ_OPEN:
                case TP_REQ_REAUTH:
                case TP_REQ_REFRESH:
                        r = put_rep_tokens(&w, &rep->u.tokens);
                        break;
                case TP_REQ_STATUS:
                        r = put_rep_status(&w, &rep->u.status);
                        break;
                case TP_REQ_LIST:
                        r = put_rep_list(&w, &rep->u.list);
                        break;
                case TP_REQ_REVOKE:
                        r = tp_wire_put_u32(&w, rep->u.revoke.revoked);
                        break;
                case TP_REQ_POLICY:
                        r = put_rep_policy(&w, &rep->u.policy);
                        break;
                case TP_REQ_EXPLAIN:
                        r = put_rep_explain(&w, &rep->u.explain);
                        break;
                case TP_REQ_VERIFY:
                        r = put_rep_verify(&w, &rep->u.verify);
                        break;
                case TP_REQ_ROTATE_KEY:
                        r = put_rep_rotate(&w, &rep->u.rotate);
                        break;
                case TP_REQ_REVOKE_KEY:
                        r = put_rep_revoke_key(&w, &rep->u.revoke_key);
                        break;
                case TP_REQ_HOSTS:
                        r = put_rep_hosts(&w, &rep->u.hosts);
                        break;
                case TP_REQ_OUTCOME:
                        if ((r = tp_wire_put_u32(&w, rep->u.outcome.enforced)) >= 0)
                                r = tp_wire_put_u32(&w, rep->u.outcome.reinstated);
                        break;
                default: /* CLOSE, RELOAD: empty body */
                        r = 0;
                        break;
                }
                if (r < 0)
                        return r;
        }
        return frame_finish(out, rep->type, &w);
}

int tp_reply_decode(uint8_t type, const uint8_t *payload, size_t len, struct tp_reply *out)
{
        struct tp_wire_reader rd;
        int r;

        memset(out, 0, sizeof(*out));
        if (!reply_type_valid(type))
                return -EPROTO;
        out->type = type;
        tp_wire_reader_init(&rd, payload, len);

        if ((r = get_enum(&rd, TP_STATUS_MAX_, &out->status)) < 0 ||
            (r = tp_wire_get_str(&rd, out->message, sizeof(out->message))) < 0)
                goto out;

        if (out->status == TP_STATUS_OK) {
                switch (type & (uint8_t) ~TP_REPLY_FLAG) {
                case TP_REQ_ACCESS:
                        r = tp_wire_get_str(&rd, out->u.access.client, sizeof(out->u.access.client));
                        break;
                case TP_REQ_OPEN:
                case TP_REQ_REAUTH:
                case TP_REQ_REFRESH:
                        r = get_rep_tokens(&rd, &out->u.tokens);
                        break;
                case TP_REQ_STATUS:
                        r = get_rep_status(&rd, &out->u.status);
                        break;
                case TP_REQ_LIST:
                        r = get_rep_list(&rd, &out->u.list);
                        break;
                case TP_REQ_REVOKE:
                        r = tp_wire_get_u32(&rd, &out->u.revoke.revoked);
                        break;
                case TP_REQ_POLICY:
                        r = get_rep_policy(&rd, &out->u.policy);
                        break;
                case TP_REQ_EXPLAIN:
                        r = get_rep_explain(&rd, &out->u.explain);
                        break;
                case TP_REQ_VERIFY:
                        r = get_rep_verify(&rd, &out->u.verify);
                        break;
                case TP_REQ_ROTATE_KEY:
                        r = get_rep_rotate(&rd, &out->u.rotate);
                        break;
                case TP_REQ_OUTCOME:
                        if ((r = tp_wire_get_u32(&rd, &out->u.outcome.enforced)) >= 0)
                                r = tp_wire_get_u32(&rd, &out->u.outcome.reinstated);
                        break;
                case TP_REQ_REVOKE_KEY:
                        r = get_rep_revoke_key(&rd, &out->u.revoke_key);
                        break;
                case TP_REQ_HOSTS:
                        r = get_rep_hosts(&rd, &out->u.hosts);
                        break;
                default:
                        r = 0;
                        break;
                }
                if (r < 0)
                        goto out;
        }
        r = tp_wire_get_end(&rd);
out:
        if (r < 0)
                tp_secret_wipe(out, sizeof(*out));
        return r;
}

/* ---- names ------------------------------------------------------------- */

/* Each enum's names, written once (strtable.h); PROTOCOL.md section 4
 * lists the same values. */

static const char *const tp_status_table[TP_STATUS_MAX_ + 1] = {
        [TP_STATUS_OK] = "ok",
        [TP_STATUS_DENIED] = "denied",
        [TP_STATUS_EXPIRED] = "expired",
        [TP_STATUS_NOT_FOUND] = "not-found",
        [TP_STATUS_FORBIDDEN] = "forbidden",
        [TP_STATUS_BAD_REQUEST] = "bad-request",
        [TP_STATUS_ERROR] = "error",
        [TP_STATUS_UNMAPPED] = "unmapped",
};
TP_DEFINE_STRING_TABLE_LOOKUP(tp_status)
TP_DEFINE_STRING_TABLE_NAME(tp_status)

static const char *const tp_state_table[TP_STATE_MAX_ + 1] = {
        [TP_STATE_ACTIVE] = "active",
        [TP_STATE_REVOKED] = "revoked",
        [TP_STATE_EXPIRED] = "expired",
        [TP_STATE_CLOSED] = "closed",
};
TP_DEFINE_STRING_TABLE_LOOKUP(tp_state)
TP_DEFINE_STRING_TABLE_NAME(tp_state)

/* Also the values of `evict` in tokenpolicy.conf(5). */
static const char *const tp_evict_table[TP_EVICT_MAX_ + 1] = {
        [TP_EVICT_OLDEST] = "oldest",
        [TP_EVICT_LEAST_RECENTLY_USED] = "least_recently_used",
        [TP_EVICT_DENY_NEW] = "deny_new",
};
TP_DEFINE_STRING_TABLE_LOOKUP(tp_evict)
TP_DEFINE_STRING_TABLE_NAME(tp_evict)

/* Also the values of `on_expiry` and `on_revoke` in tokenpolicy.conf(5). */
static const char *const tp_action_table[TP_ACTION_MAX_ + 1] = {
        [TP_ACTION_TERMINATE] = "terminate",
        [TP_ACTION_LOCK] = "lock",
        [TP_ACTION_NONE] = "none",
};
TP_DEFINE_STRING_TABLE_LOOKUP(tp_action)
TP_DEFINE_STRING_TABLE_NAME(tp_action)

static const char *const tp_config_state_table[TP_CONFIG_STATE_MAX_ + 1] = {
        [TP_CONFIG_LOADED] = "loaded",
        [TP_CONFIG_RELOAD_FAILED] = "reload-failed",
        [TP_CONFIG_LAST_GOOD] = "last-good",
};
TP_DEFINE_STRING_TABLE_LOOKUP(tp_config_state)
TP_DEFINE_STRING_TABLE_NAME(tp_config_state)

/* Request types; a retired number (7) has no name and is no type. */
static const char *const tp_msg_type_table[TP_REQ_MAX_ + 1] = {
        [TP_REQ_ACCESS] = "access",
        [TP_REQ_OPEN] = "open",
        [TP_REQ_CLOSE] = "close",
        [TP_REQ_REAUTH] = "reauth",
        [TP_REQ_REFRESH] = "refresh",
        [TP_REQ_STATUS] = "status",
        [TP_REQ_REVOKE] = "revoke",
        [TP_REQ_RELOAD] = "reload",
        [TP_REQ_POLICY] = "policy",
        [TP_REQ_EXPLAIN] = "explain",
        [TP_REQ_VERIFY] = "verify",
        [TP_REQ_ROTATE_KEY] = "rotate-key",
        [TP_REQ_REVOKE_KEY] = "revoke-key",
        [TP_REQ_LIST] = "list",
        [TP_REQ_HOSTS] = "hosts",
        [TP_REQ_OUTCOME] = "outcome",
};
TP_DEFINE_STRING_TABLE_LOOKUP(tp_msg_type)

/* A reply is named after the request it answers. */
const char *tp_msg_type_name(uint8_t type)
{
        const char *s = tp_msg_type_to_string(type & (uint8_t) ~TP_REPLY_FLAG);

        return s ? s : "unknown";
}
