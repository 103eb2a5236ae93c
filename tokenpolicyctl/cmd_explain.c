/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_explain.c: `tokenpolicyctl explain`: what the next sign-in of a user
 * with a client type would get, and why, as lines or one JSON object.
 *
 * The daemon decides and words the answer; this file only asks and shows.
 * Asking changes nothing, so this command must never send anything but one
 * EXPLAIN request. Exit 0 means "would be allowed", 1 "would be denied" (or
 * the daemon refused to answer), so scripts can test the decision.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

static void print_json(const struct tp_reply *rep, const char *user, size_t n_evicted)
{
        const struct tp_rep_explain *ex = &rep->u.explain;
        size_t i;

        printf("{\"allowed\":%s,\"client\":", ex->allowed ? "true" : "false");
        ctl_json_string(stdout, ex->client);
        printf(",\"user\":");
        ctl_json_string(stdout, user);
        printf(",\"active\":%u,\"cap\":%u,\"evict\":", ex->active, ex->cap);
        ctl_json_string(stdout, tp_evict_name(ex->evict));
        printf(",\"refresh_expires\":%lld,\"access_expires\":%lld,\"auto_extend\":%s,"
               "\"would_evict\":[",
               (long long) ex->refresh_expires, (long long) ex->access_expires,
               ex->auto_extend ? "true" : "false");
        for (i = 0; i < n_evicted; i++) {
                printf("%s\n  ", i ? "," : "");
                ctl_json_session(stdout, &ex->evicted[i]);
        }
        printf("%s],\"would_evict_total\":%u,\"idle_timeout_minutes\":%u,\"on_idle\":",
               n_evicted ? "\n" : "", ex->n_evict_total, ex->idle.idle_timeout_minutes);
        ctl_json_string(stdout, tp_action_name(ex->idle.on_idle));
        printf(",\"warn_before_minutes\":%u,\"reason\":", ex->idle.warn_before_minutes);
        ctl_json_string(stdout, rep->message);
        printf("}\n");
}

/* "ID  from HOST  started T" for one session it would sign out. */
static int add_victim_row(struct ctl_table *t, const char *label, const struct tp_session_info *s)
{
        char started[CTL_TIME_TEXT];
        const char *from = s->rhost[0] ? s->rhost : s->tty[0] ? s->tty : "-";

        ctl_format_time(s->created, false, started);
        if (ctl_table_add(t, label) < 0 ||
            ctl_table_addf(t, "%s  from %s  started %s", s->id, from, started) < 0)
                return -ENOMEM;
        return 0;
}

static int print_lines(const struct tp_reply *rep, size_t n_evicted, int64_t now)
{
        const struct tp_rep_explain *ex = &rep->u.explain;
        char refresh[CTL_WHEN_TEXT], access[CTL_WHEN_TEXT];
        struct ctl_table *msg = NULL, *t = NULL;
        size_t i;
        int r;

        ctl_format_time_relative(ex->refresh_expires, now, refresh);
        ctl_format_time_relative(ex->access_expires, now, access);
        /* The message goes through a table too, so that names from the
         * daemon are printed with control characters replaced. */
        if ((r = ctl_table_new(1, 0, &msg)) < 0 || (r = ctl_table_add(msg, rep->message)) < 0 ||
            (r = ctl_table_new(2, 1, &t)) < 0 ||
            (r = ctl_table_add(t, "client:")) < 0 ||
            (r = ctl_table_add(t, ex->client[0] ? ex->client : "-")) < 0 ||
            (r = ctl_table_add(t, "decision:")) < 0 ||
            (r = ctl_table_add(t, ex->allowed ? "allowed" : "denied")) < 0 ||
            (r = ctl_table_add(t, "active:")) < 0 ||
            (r = ctl_table_addf(t, "%u of at most %u", ex->active, ex->cap)) < 0 ||
            (r = ctl_table_add(t, "evict:")) < 0 ||
            (r = ctl_table_add(t, tp_evict_name(ex->evict))) < 0 ||
            (r = ctl_table_add(t, "refresh expires:")) < 0 || (r = ctl_table_add(t, refresh)) < 0 ||
            (r = ctl_table_add(t, "access expires:")) < 0 || (r = ctl_table_add(t, access)) < 0 ||
            (r = ctl_table_add(t, "auto-extend:")) < 0 ||
            (r = ctl_table_add(t, ex->auto_extend ? "on" : "off")) < 0 ||
            (r = ctl_table_add(t, "when idle:")) < 0 ||
            (r = (ex->idle.idle_timeout_minutes == 0 ? ctl_table_add(t, "nothing") :
                  ctl_table_addf(t, "%s after %u minutes",
                                 ex->idle.on_idle == TP_ACTION_LOCK ? "locked" : "ended",
                                 ex->idle.idle_timeout_minutes))) < 0 ||
            (r = ctl_table_add(t, "warning:")) < 0 ||
            (r = (ex->idle.warn_before_minutes == 0 ? ctl_table_add(t, "none") :
                  ctl_table_addf(t, "%u minutes before it is ended or locked",
                                 ex->idle.warn_before_minutes))) < 0)
                goto out;
        if (ex->n_evict_total == 0) {
                if ((r = ctl_table_add(t, "would sign out:")) < 0 ||
                    (r = ctl_table_add(t, "nothing")) < 0)
                        goto out;
        }
        for (i = 0; i < n_evicted; i++)
                if ((r = add_victim_row(t, i ? "" : "would sign out:", &ex->evicted[i])) < 0)
                        goto out;
        if (ex->n_evict_total > n_evicted &&
            ((r = ctl_table_add(t, "")) < 0 ||
             (r = ctl_table_addf(t, "and %u more", ex->n_evict_total - (unsigned) n_evicted)) < 0))
                goto out;
        if ((r = ctl_table_print(msg, stdout)) < 0 || (r = ctl_table_print(t, stdout)) < 0)
                goto out;
        r = 0;
out:
        ctl_table_free(msg);
        ctl_table_free(t);
        return r;
}

struct explain_options {
        const char *user;
        const char *client;
        bool json;
};

static int handle_explain_option(struct ctl_context *ctx, int opt, void *userdata)
{
        struct explain_options *o = userdata;

        (void) ctx;
        switch (opt) {
        case CTL_OPT_USER:
                o->user = optarg;
                break;
        case CTL_OPT_CLIENT:
                o->client = optarg;
                break;
        default:
                o->json = true;
                break;
        }
        return 0;
}

int ctl_cmd_explain(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option explain_options[] = {
                { "user", required_argument, NULL, CTL_OPT_USER },
                { "client", required_argument, NULL, CTL_OPT_CLIENT },
                { "json", no_argument, NULL, CTL_OPT_JSON },
                {},
        };
        static const struct ctl_options options = {
                .options = explain_options,
                .handle = handle_explain_option,
        };
        struct tp_request req = { .type = TP_REQ_EXPLAIN };
        struct explain_options o = {};
        struct tp_reply *rep = NULL;
        size_t n_evicted;
        int r;

        if ((r = ctl_parse_options(ctx, argc, argv, &options, &o)) != CTL_OPTIONS_PARSED)
                return r;
        if (!o.user || !o.client)
                return ctl_report_usage(ctx, "give both --user U and --client C");
        if ((r = ctl_check_field(ctx, "--user", o.user, TP_USER_MAX)) != 0 ||
            (r = ctl_check_field(ctx, "--client", o.client, TP_CLIENT_MAX)) != 0)
                return r;
        strcpy(req.u.signin.user, o.user);
        strcpy(req.u.signin.client, o.client);

        if ((r = ctl_request_ok(ctx, &req, &rep)) != CTL_EXIT_OK)
                return r;

        /* The codec bounds the count; clamp anyway before indexing. */
        n_evicted = rep->u.explain.n_evicted;
        if (n_evicted > TP_EVICTED_MAX)
                n_evicted = TP_EVICTED_MAX;
        if (o.json)
                print_json(rep, o.user, n_evicted);
        else if (print_lines(rep, n_evicted, time(NULL)) < 0) {
                r = ctl_report_oom();
                goto out;
        }
        r = CTL_EXIT_OK;
        if (!rep->u.explain.allowed) {
                /* main() flushes only after success: check the output here. */
                r = ctl_finish_output();
                if (r == CTL_EXIT_OK)
                        r = CTL_EXIT_FAIL;
        }
out:
        ctl_reply_free(rep);
        return r;
}
