/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_sessions.c: `tokenpolicyctl sessions`: fetch every page of a LIST
 * (or the first --limit sessions) over one connection, each request
 * continuing after the cursor of the previous reply, then print a table or
 * one JSON array.
 *
 * Output is all or nothing: nothing is printed until every page has
 * arrived, so a failure midway never leaves half a table or a truncated
 * JSON document behind. A daemon whose cursor does not move forward is
 * not followed round in circles.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

typedef char host_name[TP_HOST_ID_MAX];

struct session_list {
        struct tp_session_info *items;
        host_name *hosts;     /* the host that runs each item */
        size_t n;
        size_t allocated;
};

static void session_list_clear(struct session_list *l)
{
        free(l->items);
        free(l->hosts);
        l->items = NULL;
        l->hosts = NULL;
        l->n = l->allocated = 0;
}

static int session_list_append(struct session_list *l, const struct tp_session_info *src,
                               const host_name *hosts, size_t count)
{
        if (count == 0) /* an empty page, with more to follow or not */
                return 0;
        if (count > l->allocated - l->n) {
                size_t want = l->allocated ? l->allocated : TP_LIST_PAGE_MAX;
                struct tp_session_info *items;
                host_name *names;

                while (want - l->n < count)
                        want *= 2;
                items = reallocarray(l->items, want, sizeof(*items));
                if (!items)
                        return -ENOMEM;
                l->items = items;
                names = reallocarray(l->hosts, want, sizeof(*names));
                if (!names)
                        return -ENOMEM;
                l->hosts = names;
                l->allocated = want;
        }
        memcpy(l->items + l->n, src, count * sizeof(*src));
        memcpy(l->hosts + l->n, hosts, count * sizeof(*hosts));
        l->n += count;
        return 0;
}

#define LIMIT_MAX 1000000

/* The listing order: state, then creation time, then the daemon's seq. */
static int cursor_cmp(const struct tp_list_cursor *a, const struct tp_list_cursor *b)
{
        if (a->state != b->state)
                return a->state < b->state ? -1 : 1;
        if (a->created != b->created)
                return a->created < b->created ? -1 : 1;
        if (a->seq != b->seq)
                return a->seq < b->seq ? -1 : 1;
        return 0;
}

/* Pages until the daemon says no more follow, or `limit` sessions are in. */
static int fetch_sessions(struct ctl_conn *conn, struct tp_request *req, struct tp_reply *rep,
                          size_t limit, struct session_list *out)
{
        size_t take;
        int r;

        for (;;) {
                if ((r = ctl_request(conn, req, rep)) != CTL_EXIT_OK)
                        return r;
                if (rep->status != TP_STATUS_OK)
                        return ctl_report_reply(rep);
                if (rep->u.list.count > TP_LIST_PAGE_MAX) {
                        ctl_error("tokenpolicyd sent a page of %u sessions (at most %u "
                                  "allowed); check that tokenpolicyd and tokenpolicyctl are "
                                  "the same version",
                                  rep->u.list.count, TP_LIST_PAGE_MAX);
                        return CTL_EXIT_UNREACHABLE;
                }
                take = rep->u.list.count;
                if (take > limit - out->n)
                        take = limit - out->n;
                if (session_list_append(out, rep->u.list.sessions, rep->u.list.hosts, take) < 0)
                        return ctl_report_oom();
                if (!rep->u.list.more || out->n >= limit)
                        return CTL_EXIT_OK;
                if ((req->u.list.flags & TP_LIST_AFTER) &&
                    cursor_cmp(&rep->u.list.next, &req->u.list.after) <= 0) {
                        ctl_error("tokenpolicyd sent a listing cursor that does not move forward; "
                                  "check that tokenpolicyd and tokenpolicyctl are the same version");
                        return CTL_EXIT_UNREACHABLE;
                }
                req->u.list.flags |= TP_LIST_AFTER;
                req->u.list.after = rep->u.list.next;
        }
}

static void print_json(const struct session_list *l)
{
        size_t i;

        if (l->n == 0) {
                printf("[]\n");
                return;
        }
        printf("[\n");
        for (i = 0; i < l->n; i++) {
                printf("  ");
                ctl_json_session(stdout, &l->items[i], l->hosts[i]);
                printf("%s\n", i + 1 < l->n ? "," : "");
        }
        printf("]\n");
}

/* "in 13d 4h" while the refresh token runs, "expired 2h ago" after; a
 * revoked or closed session has no expiry left to show. */
static void format_expires(const struct tp_session_info *s, int64_t now, char out[CTL_TIME_TEXT])
{
        char span[CTL_SPAN_TEXT];

        if (s->state != TP_STATE_ACTIVE && s->state != TP_STATE_EXPIRED) {
                snprintf(out, CTL_TIME_TEXT, "-");
        } else if (s->refresh_expires > now) {
                ctl_format_relative(s->refresh_expires, now, out);
        } else {
                ctl_format_span(now - s->refresh_expires, span);
                snprintf(out, CTL_TIME_TEXT, "expired %s ago", span);
        }
}

static int print_table(const struct session_list *l, int64_t now)
{
        static const char *const header[] = {
                "ID", "USER", "CLIENT", "HOST", "SERVICE", "FROM", "CREATED", "EXPIRES", "STATE",
        };
        struct ctl_table *t = NULL;
        size_t i;
        int r;

        if ((r = ctl_table_new(sizeof(header) / sizeof(header[0]), 2, &t)) < 0)
                goto out;
        for (i = 0; i < sizeof(header) / sizeof(header[0]); i++)
                if ((r = ctl_table_add(t, header[i])) < 0)
                        goto out;
        for (i = 0; i < l->n; i++) {
                const struct tp_session_info *s = &l->items[i];
                char created[CTL_TIME_TEXT], expires[CTL_TIME_TEXT];
                const char *from = s->rhost[0] ? s->rhost : s->tty[0] ? s->tty : "-";

                ctl_format_time(s->created, false, created);
                format_expires(s, now, expires);
                if ((r = ctl_table_add(t, s->id)) < 0 ||
                    (r = ctl_table_add(t, s->user)) < 0 ||
                    (r = ctl_table_add(t, s->client)) < 0 ||
                    (r = ctl_table_add(t, l->hosts[i][0] ? l->hosts[i] : "-")) < 0 ||
                    (r = ctl_table_add(t, s->service[0] ? s->service : "-")) < 0 ||
                    (r = ctl_table_add(t, from)) < 0 ||
                    (r = ctl_table_add(t, created)) < 0 ||
                    (r = ctl_table_add(t, expires)) < 0 ||
                    (r = ctl_table_add(t, tp_state_name(s->state))) < 0)
                        goto out;
        }
        r = ctl_table_print(t, stdout);
out:
        ctl_table_free(t);
        return r;
}

struct sessions_options {
        struct tp_request *req;
        size_t limit;
        bool all;
        bool json;
};

static int handle_sessions_option(struct ctl_context *ctx, int opt, void *userdata)
{
        struct sessions_options *o = userdata;
        int r;

        switch (opt) {
        case CTL_OPT_USER:
                if ((r = ctl_check_field(ctx, "--user", optarg, TP_USER_MAX)) != 0)
                        return r;
                strcpy(o->req->u.list.user, optarg);
                break;
        case CTL_OPT_CLIENT:
                if ((r = ctl_check_field(ctx, "--client", optarg, TP_CLIENT_MAX)) != 0)
                        return r;
                strcpy(o->req->u.list.client, optarg);
                break;
        case CTL_OPT_ALL:
                o->all = true;
                break;
        case CTL_OPT_HOST:
                if ((r = ctl_check_field(ctx, "--host", optarg, TP_HOST_ID_MAX)) != 0)
                        return r;
                if (!optarg[0])
                        return ctl_report_usage(ctx, "--host needs a host id");
                strcpy(o->req->u.list.host, optarg);
                break;
        case CTL_OPT_LIMIT: {
                char *end;
                unsigned long v;

                errno = 0;
                v = strtoul(optarg, &end, 10);
                if (optarg[0] < '0' || optarg[0] > '9' || *end || errno || v < 1 || v > LIMIT_MAX)
                        return ctl_report_usage(ctx, "--limit must be a whole number from 1 to %d",
                                                LIMIT_MAX);
                o->limit = (size_t)v;
                break;
        }
        default:
                o->json = true;
                break;
        }
        return 0;
}

int ctl_cmd_sessions(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option sessions_options[] = {
                { "user", required_argument, NULL, CTL_OPT_USER },
                { "client", required_argument, NULL, CTL_OPT_CLIENT },
                { "all", no_argument, NULL, CTL_OPT_ALL },
                { "host", required_argument, NULL, CTL_OPT_HOST },
                { "limit", required_argument, NULL, CTL_OPT_LIMIT },
                { "json", no_argument, NULL, CTL_OPT_JSON },
                {},
        };
        static const struct ctl_options options = {
                .options = sessions_options,
                .handle = handle_sessions_option,
        };
        struct tp_request req = { .type = TP_REQ_LIST };
        struct sessions_options o = { .req = &req, .limit = SIZE_MAX };
        struct session_list list = {};
        struct tp_reply *rep = NULL;
        struct ctl_conn conn;
        int r;

        if ((r = ctl_parse_options(ctx, argc, argv, &options, &o)) != CTL_OPTIONS_PARSED)
                return r;
        req.u.list.flags = o.all ? TP_LIST_ALL : 0;

        rep = ctl_reply_new();
        if (!rep)
                return ctl_report_oom();
        ctl_conn_init(&conn, ctx);
        r = fetch_sessions(&conn, &req, rep, o.limit, &list);
        ctl_conn_close(&conn);
        if (r != CTL_EXIT_OK)
                goto out;

        if (o.json)
                print_json(&list);
        else if (list.n == 0)
                printf("%s\n", o.all ? "No sessions." : "No active sessions.");
        else if (print_table(&list, time(NULL)) < 0) {
                r = ctl_report_oom();
                goto out;
        }
        r = CTL_EXIT_OK;
out:
        session_list_clear(&list);
        ctl_reply_free(rep);
        return r;
}
