/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_hosts.c: `tokenpolicyctl hosts`: every page of a HOSTS listing over
 * one connection, then a table or one JSON array.
 *
 * As with `sessions`, nothing is printed until every page is in, and a
 * daemon whose pages do not move forward is not followed in circles.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

/* Far more than any fleet: a bound on what a daemon can make us hold. */
#define HOSTS_MAX 1000000

struct host_list {
        struct tp_host_info *items;
        size_t n, allocated;
};

static int host_list_append(struct host_list *l, const struct tp_host_info *src, size_t count)
{
        if (count > l->allocated - l->n) {
                size_t want = l->allocated ? l->allocated * 2 : TP_HOSTS_PAGE_MAX;
                struct tp_host_info *items;

                while (want - l->n < count)
                        want *= 2;
                items = reallocarray(l->items, want, sizeof(*items));
                if (!items)
                        return -ENOMEM;
                l->items = items;
                l->allocated = want;
        }
        memcpy(l->items + l->n, src, count * sizeof(*src));
        l->n += count;
        return 0;
}

static int fetch_hosts(struct ctl_conn *conn, struct tp_reply *rep, struct host_list *out)
{
        struct tp_request req = { .type = TP_REQ_HOSTS };
        int r;

        for (;;) {
                const struct tp_rep_hosts *h = &rep->u.hosts;

                if ((r = ctl_request(conn, &req, rep)) != CTL_EXIT_OK)
                        return r;
                if (rep->status != TP_STATUS_OK)
                        return ctl_report_reply(rep);
                if (h->count > TP_HOSTS_PAGE_MAX || out->n + h->count > HOSTS_MAX) {
                        ctl_error("tokenpolicyd sent more hosts than it may; check that tokenpolicyd and "
                                  "tokenpolicyctl are the same version");
                        return CTL_EXIT_UNREACHABLE;
                }
                if (host_list_append(out, h->hosts, h->count) < 0)
                        return ctl_report_oom();
                if (!h->more)
                        return CTL_EXIT_OK;
                if (h->count == 0 || strcmp(h->hosts[h->count - 1].id, req.u.hosts.after) <= 0) {
                        ctl_error("tokenpolicyd sent a page of hosts that does not move forward; check "
                                  "that tokenpolicyd and tokenpolicyctl are the same version");
                        return CTL_EXIT_UNREACHABLE;
                }
                memcpy(req.u.hosts.after, h->hosts[h->count - 1].id, sizeof(req.u.hosts.after));
        }
}

static void print_json(const struct host_list *l)
{
        printf("[");
        for (size_t i = 0; i < l->n; i++) {
                const struct tp_host_info *o = &l->items[i];

                printf("%s\n  {\"id\":", i ? "," : "");
                ctl_json_string(stdout, o->id);
                printf(",\"name\":");
                ctl_json_string(stdout, o->name);
                printf(",\"last_seen\":%lld,\"active_sessions\":%llu,\"policy_digest\":",
                       (long long)o->last_seen, (unsigned long long)o->active_sessions);
                ctl_json_string(stdout, o->policy_digest);
                printf(",\"policy_differs\":%s}", o->policy_differs ? "true" : "false");
        }
        printf("%s]\n", l->n ? "\n" : "");
}

static int print_table(const struct host_list *l, int64_t now)
{
        static const char *const header[] = { "ID", "NAME", "LAST SEEN", "ACTIVE", "POLICY", "" };
        struct ctl_table *t = NULL;
        int r;

        if ((r = ctl_table_new(sizeof(header) / sizeof(header[0]), 2, &t)) < 0)
                goto out;
        for (size_t i = 0; i < sizeof(header) / sizeof(header[0]); i++)
                if ((r = ctl_table_add(t, header[i])) < 0)
                        goto out;
        for (size_t i = 0; i < l->n; i++) {
                const struct tp_host_info *o = &l->items[i];
                char seen[CTL_WHEN_TEXT];

                ctl_format_time_relative(o->last_seen, now, seen);
                /* The first 12 hex digits tell digests apart; --json has all. */
                if ((r = ctl_table_add(t, o->id)) < 0 || (r = ctl_table_add(t, o->name)) < 0 ||
                    (r = ctl_table_add(t, seen)) < 0 ||
                    (r = ctl_table_addf(t, "%llu", (unsigned long long)o->active_sessions)) < 0 ||
                    (r = ctl_table_addf(t, "%.12s", o->policy_digest[0] ? o->policy_digest : "-")) < 0 ||
                    (r = ctl_table_add(t, o->policy_differs ? "POLICY DIFFERS" : "")) < 0)
                        goto out;
        }
        r = ctl_table_print(t, stdout);
out:
        ctl_table_free(t);
        return r;
}

int ctl_cmd_hosts(struct ctl_context *ctx, int argc, char **argv)
{
        struct host_list list = { 0 };
        struct tp_reply *rep = NULL;
        struct ctl_conn conn;
        size_t differ = 0;
        bool json;
        int r;

        if ((r = ctl_parse_json_option(ctx, argc, argv, &json)) != CTL_OPTIONS_PARSED)
                return r;
        rep = ctl_reply_new();
        if (!rep)
                return ctl_report_oom();
        ctl_conn_init(&conn, ctx);
        r = fetch_hosts(&conn, rep, &list);
        ctl_conn_close(&conn);
        if (r != CTL_EXIT_OK)
                goto out;
        for (size_t i = 0; i < list.n; i++)
                differ += list.items[i].policy_differs;
        if (json) {
                print_json(&list);
        } else if (print_table(&list, time(NULL)) < 0) {
                r = ctl_report_oom();
                goto out;
        }
        if (differ)
                ctl_error("warning: %zu host(s) run a policy that differs from the one most hosts run", differ);
        r = CTL_EXIT_OK;
out:
        free(list.items);
        ctl_reply_free(rep);
        return r;
}
