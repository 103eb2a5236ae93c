/* cmd_admin.c: the short request/answer commands: status (a table or one
 * JSON object), revoke, reload and token.
 *
 * Each sends one request and prints one answer. The daemon decides who may
 * do what; these commands never second-guess a refusal, and `token` never
 * prints anything but the access token on stdout.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

static const struct option socket_only_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "socket", required_argument, NULL, CTL_OPT_SOCKET },
        {},
};

/* Options of a command that takes nothing but --socket and --help. Sets
 * *finished when the command must stop here (help printed or usage error)
 * and returns the exit status to stop with. */
static int parse_socket_only(struct ctl_context *ctx, int argc, char **argv, bool *finished)
{
        int c;

        *finished = true;
        while ((c = getopt_long(argc, argv, ":h", socket_only_options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        return ctl_command_help(ctx);
                case CTL_OPT_SOCKET:
                        ctx->socket_arg = optarg;
                        break;
                default:
                        return ctl_report_option_error(ctx, argv, c);
                }
        }
        if (ctx->socket_arg && ctx->socket_arg[0] == '\0')
                return ctl_report_usage(ctx, "--socket needs a path");
        if (optind < argc)
                return ctl_check_no_arguments(ctx, argc, argv, optind);
        *finished = false;
        return 0;
}

/* One request with no arguments, its reply in *ret_rep on success. */
static int simple_request(struct ctl_context *ctx, uint8_t type, struct tp_reply **ret_rep)
{
        struct tp_request req = { .type = type };
        struct ctl_conn conn;
        struct tp_reply *rep;
        int r;

        rep = ctl_reply_new();
        if (!rep)
                return ctl_report_oom();
        ctl_conn_init(&conn, ctx);
        r = ctl_request(&conn, &req, rep);
        ctl_conn_close(&conn);
        if (r != CTL_EXIT_OK) {
                ctl_reply_free(rep);
                return r;
        }
        *ret_rep = rep;
        return CTL_EXIT_OK;
}

static void print_status_json(const struct tp_rep_status *st)
{
        printf("{\"version\":");
        ctl_json_string(stdout, st->version);
        printf(",\"pid\":%u,\"started\":%lld,\"config\":", st->pid, (long long) st->started);
        ctl_json_string(stdout, st->config_path);
        printf(",\"config_loaded\":%lld,\"active_sessions\":%llu,\"client_types\":%u}\n",
               (long long) st->config_loaded, (unsigned long long) st->active_sessions,
               st->n_clients);
}

static int print_status_table(const struct tp_rep_status *st, int64_t now)
{
        char started[CTL_WHEN_TEXT], loaded[CTL_WHEN_TEXT];
        struct ctl_table *table = NULL;
        int r;

        ctl_format_time_relative(st->started, now, started);
        ctl_format_time_relative(st->config_loaded, now, loaded);
        if ((r = ctl_table_new(2, 1, &table)) < 0 ||
            (r = ctl_table_add(table, "version:")) < 0 ||
            (r = ctl_table_add(table, st->version)) < 0 ||
            (r = ctl_table_add(table, "pid:")) < 0 ||
            (r = ctl_table_addf(table, "%u", st->pid)) < 0 ||
            (r = ctl_table_add(table, "started:")) < 0 || (r = ctl_table_add(table, started)) < 0 ||
            (r = ctl_table_add(table, "config path:")) < 0 ||
            (r = ctl_table_add(table, st->config_path)) < 0 ||
            (r = ctl_table_add(table, "config loaded:")) < 0 ||
            (r = ctl_table_add(table, loaded)) < 0 ||
            (r = ctl_table_add(table, "active sessions:")) < 0 ||
            (r = ctl_table_addf(table, "%llu", (unsigned long long) st->active_sessions)) < 0 ||
            (r = ctl_table_add(table, "client types:")) < 0 ||
            (r = ctl_table_addf(table, "%u", st->n_clients)) < 0)
                goto out;
        r = ctl_table_print(table, stdout);
out:
        ctl_table_free(table);
        return r;
}

int ctl_cmd_status(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "socket", required_argument, NULL, CTL_OPT_SOCKET },
                { "json", no_argument, NULL, CTL_OPT_JSON },
                {},
        };
        struct tp_reply *rep = NULL;
        bool json = false;
        int c, r;

        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        return ctl_command_help(ctx);
                case CTL_OPT_SOCKET:
                        ctx->socket_arg = optarg;
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
        if ((r = simple_request(ctx, TP_REQ_STATUS, &rep)) != CTL_EXIT_OK)
                return r;
        if (rep->status != TP_STATUS_OK) {
                r = ctl_report_reply(rep);
                goto out;
        }
        if (json)
                print_status_json(&rep->u.status);
        else if (print_status_table(&rep->u.status, time(NULL)) < 0) {
                r = ctl_report_oom();
                goto out;
        }
        r = CTL_EXIT_OK;
out:
        ctl_reply_free(rep);
        return r;
}

int ctl_cmd_reload(struct ctl_context *ctx, int argc, char **argv)
{
        struct tp_reply *rep = NULL;
        bool finished;
        int r;

        if ((r = parse_socket_only(ctx, argc, argv, &finished)) != 0 || finished)
                return r;
        if ((r = simple_request(ctx, TP_REQ_RELOAD, &rep)) != CTL_EXIT_OK)
                return r;

        if (rep->status == TP_STATUS_OK) {
                if (rep->message[0] != '\0')
                        printf("%s\n", rep->message);
                else
                        printf("Configuration reloaded.\n");
                r = CTL_EXIT_OK;
        } else if (rep->status == TP_STATUS_FORBIDDEN || rep->message[0] == '\0') {
                r = ctl_report_reply(rep);
        } else {
                /* The message is the list of FILE:LINE errors: print it as
                 * it came so that editors and scripts can follow it. */
                fflush(stdout);
                fputs(rep->message, stderr);
                if (rep->message[strlen(rep->message) - 1] != '\n')
                        fputc('\n', stderr);
                ctl_error("configuration not reloaded; the running policy stays in force. "
                          "Fix the errors above and run '" CTL_PROGRAM " reload' again");
                r = CTL_EXIT_FAIL;
        }
        ctl_reply_free(rep);
        return r;
}

/* True for 32 hex digits; lowercases them into out. */
static bool parse_session_id(const char *s, char out[TP_SESSION_ID_MAX])
{
        size_t i;

        if (strlen(s) != TP_SESSION_ID_MAX - 1)
                return false;
        for (i = 0; i < TP_SESSION_ID_MAX - 1; i++) {
                if (!isxdigit((unsigned char) s[i]))
                        return false;
                out[i] = (char) tolower((unsigned char) s[i]);
        }
        out[i] = '\0';
        return true;
}

int ctl_cmd_revoke(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "socket", required_argument, NULL, CTL_OPT_SOCKET },
                { "user", required_argument, NULL, CTL_OPT_USER },
                { "client", required_argument, NULL, CTL_OPT_CLIENT },
                {},
        };
        struct tp_request req = { .type = TP_REQ_REVOKE };
        const char *user = NULL, *client = NULL;
        struct tp_reply *rep = NULL;
        struct ctl_conn conn;
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
                default:
                        return ctl_report_option_error(ctx, argv, c);
                }
        }
        if (ctx->socket_arg && ctx->socket_arg[0] == '\0')
                return ctl_report_usage(ctx, "--socket needs a path");

        if (optind < argc) {
                if (user || client)
                        return ctl_report_usage(ctx, "give either a SESSION_ID or --user, not both");
                if ((r = ctl_check_no_arguments(ctx, argc, argv, optind + 1)) != 0)
                        return r;
                if (!parse_session_id(argv[optind], req.u.revoke.session_id))
                        return ctl_report_usage(ctx,
                                                "'%s' is not a session id (32 hex digits, as "
                                                "'" CTL_PROGRAM " sessions' shows)",
                                                argv[optind]);
        } else if (user) {
                if ((r = ctl_check_field(ctx, "--user", user, TP_USER_MAX)) != 0)
                        return r;
                strcpy(req.u.revoke.user, user);
                if (client) {
                        if ((r = ctl_check_field(ctx, "--client", client, TP_CLIENT_MAX)) != 0)
                                return r;
                        strcpy(req.u.revoke.client, client);
                }
        } else if (client) {
                return ctl_report_usage(ctx, "--client needs --user");
        } else {
                return ctl_report_usage(ctx, "give a SESSION_ID or --user U");
        }

        rep = ctl_reply_new();
        if (!rep)
                return ctl_report_oom();
        ctl_conn_init(&conn, ctx);
        if ((r = ctl_request(&conn, &req, rep)) != CTL_EXIT_OK)
                goto out;
        if (rep->status != TP_STATUS_OK) {
                r = ctl_report_reply(rep);
                goto out;
        }
        printf("Revoked %u session(s).\n", rep->u.revoke.revoked);
        r = CTL_EXIT_OK;
out:
        ctl_conn_close(&conn);
        ctl_reply_free(rep);
        return r;
}

int ctl_cmd_token(struct ctl_context *ctx, int argc, char **argv)
{
        struct tp_request req = { .type = TP_REQ_REFRESH };
        struct tp_reply *rep = NULL;
        struct ctl_conn conn;
        const char *sid;
        bool finished;
        int r;

        if ((r = parse_socket_only(ctx, argc, argv, &finished)) != 0 || finished)
                return r;

        sid = getenv(CTL_SESSION_ENV);
        if (!sid || sid[0] == '\0') {
                ctl_error(CTL_SESSION_ENV " is not set: run this inside a session opened "
                          "through pam_tokenpolicy");
                return CTL_EXIT_USAGE;
        }
        if (!parse_session_id(sid, req.u.session.session_id)) {
                ctl_error(CTL_SESSION_ENV " is not a session id (32 hex digits): run this "
                          "inside a session opened through pam_tokenpolicy");
                return CTL_EXIT_USAGE;
        }

        rep = ctl_reply_new();
        if (!rep)
                return ctl_report_oom();
        ctl_conn_init(&conn, ctx);
        if ((r = ctl_request(&conn, &req, rep)) != CTL_EXIT_OK)
                goto out;
        if (rep->status == TP_STATUS_EXPIRED) {
                ctl_error("your sign-in has expired; sign in again");
                r = CTL_EXIT_FAIL;
                goto out;
        }
        if (rep->status != TP_STATUS_OK) {
                r = ctl_report_reply(rep);
                goto out;
        }
        if (rep->u.tokens.access_token[0] == '\0') {
                ctl_error("tokenpolicyd answered without an access token; "
                          "check 'journalctl -u tokenpolicyd'");
                r = CTL_EXIT_FAIL;
                goto out;
        }
        printf("%s\n", rep->u.tokens.access_token);
        r = CTL_EXIT_OK;
out:
        ctl_conn_close(&conn);
        ctl_reply_free(rep);
        return r;
}
