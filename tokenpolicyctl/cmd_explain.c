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

/* One session as `sessions --json` prints it (same members, same order). */
static void print_json_session(const struct tp_session_info *s)
{
        printf("{\"id\":");
        ctl_json_string(stdout, s->id);
        printf(",\"user\":");
        ctl_json_string(stdout, s->user);
        printf(",\"uid\":%u,\"client\":", s->uid);
        ctl_json_string(stdout, s->client);
        printf(",\"service\":");
        ctl_json_string(stdout, s->service);
        printf(",\"rhost\":");
        ctl_json_string(stdout, s->rhost);
        printf(",\"tty\":");
        ctl_json_string(stdout, s->tty);
        printf(",\"leader_pid\":%u,\"created\":%lld,\"refresh_expires\":%lld,"
               "\"last_extended\":%lld,\"last_used\":%lld,\"ended\":%lld,\"state\":",
               s->leader_pid, (long long) s->created, (long long) s->refresh_expires,
               (long long) s->last_extended, (long long) s->last_used, (long long) s->ended);
        ctl_json_string(stdout, tp_state_name(s->state));
        printf("}");
}

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
                print_json_session(&ex->evicted[i]);
        }
        printf("%s],\"would_evict_total\":%u,\"reason\":", n_evicted ? "\n" : "",
               ex->n_evict_total);
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
            (r = ctl_table_add(t, ex->auto_extend ? "on" : "off")) < 0)
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

int ctl_cmd_explain(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "socket", required_argument, NULL, CTL_OPT_SOCKET },
                { "user", required_argument, NULL, CTL_OPT_USER },
                { "client", required_argument, NULL, CTL_OPT_CLIENT },
                { "json", no_argument, NULL, CTL_OPT_JSON },
                {},
        };
        struct tp_request req = { .type = TP_REQ_EXPLAIN };
        const char *user = NULL, *client = NULL;
        struct tp_reply *rep = NULL;
        struct ctl_conn conn;
        bool json = false;
        size_t n_evicted;
        int c, r;

        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        return ctl_command_help(ctx);
                case CTL_OPT_SOCKET:
                        ctx->socket_arg = optarg;
                        break;
                case CTL_OPT_USER:
                        user = optarg;
                        break;
                case CTL_OPT_CLIENT:
                        client = optarg;
                        break;
                case CTL_OPT_JSON:
                        json = true;
                        break;
                default:
                        return ctl_report_option_error(ctx, argv, c);
                }
        }
        if (ctx->socket_arg && ctx->socket_arg[0] == '\0')
                return ctl_report_usage(ctx, "--socket needs a path");
        if ((r = ctl_check_no_arguments(ctx, argc, argv, optind)) != 0)
                return r;
        if (!user || !client)
                return ctl_report_usage(ctx, "give both --user U and --client C");
        if ((r = ctl_check_field(ctx, "--user", user, TP_USER_MAX)) != 0 ||
            (r = ctl_check_field(ctx, "--client", client, TP_CLIENT_MAX)) != 0)
                return r;
        strcpy(req.u.signin.user, user);
        strcpy(req.u.signin.client, client);

        rep = ctl_reply_new();
        if (!rep)
                return ctl_report_oom();
        ctl_conn_init(&conn, ctx);
        r = ctl_request(&conn, &req, rep);
        ctl_conn_close(&conn);
        if (r != CTL_EXIT_OK)
                goto out;
        if (rep->status != TP_STATUS_OK) {
                r = ctl_report_reply(rep);
                goto out;
        }

        /* The codec bounds the count; clamp anyway before indexing. */
        n_evicted = rep->u.explain.n_evicted;
        if (n_evicted > TP_EVICTED_MAX)
                n_evicted = TP_EVICTED_MAX;
        if (json)
                print_json(rep, user, n_evicted);
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
