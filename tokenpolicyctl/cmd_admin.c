/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_admin.c: the short request/answer commands: status (a table or one
 * JSON object), revoke, reload and token.
 *
 * Each sends one request and prints one answer. The daemon decides who may
 * do what; these commands never second-guess a refusal, and `token` never
 * prints anything but the access token on stdout.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

/* config_errors: one error a line, as FILE:LINE: message. */
static void print_status_json(const struct tp_rep_status *st)
{
        const char *p = st->config_errors;

        printf("{\"version\":");
        ctl_json_string(stdout, st->version);
        printf(",\"pid\":%u,\"started\":%lld,\"config\":", st->pid, (long long) st->started);
        ctl_json_string(stdout, st->config_path);
        printf(",\"config_loaded\":%lld,\"active_sessions\":%llu,\"client_types\":%u",
               (long long) st->config_loaded, (unsigned long long) st->active_sessions,
               st->n_clients);
        /* the audit trail */
        printf(",\"audit_sink\":");
        ctl_json_string(stdout, st->audit_sink);
        printf(",\"audit_queued\":%u,\"audit_lost\":%llu,\"audit_suppressed\":%llu",
               st->audit_queued, (unsigned long long) st->audit_lost,
               (unsigned long long) st->audit_suppressed);
        /* the session store */
        printf(",\"store\":");
        ctl_json_string(stdout, st->store_backend == TP_STORE_KIND_POSTGRESQL ? "postgresql" : "sqlite");
        printf(",\"store_connected\":%s,\"host_id\":", st->store_connected ? "true" : "false");
        ctl_json_string(stdout, st->host_id);
        printf(",\"hosts\":%u,\"store_offline_since\":%lld,\"store_error\":", st->hosts,
               (long long) st->store_offline_since);
        ctl_json_string(stdout, st->store_error);
        printf(",\"unsynced_sessions\":%llu", (unsigned long long) st->unsynced);
        printf(",\"config_state\":");
        ctl_json_string(stdout, tp_config_state_name(st->config_state));
        printf(",\"config_source\":");
        ctl_json_string(stdout, st->config_source);
        printf(",\"config_errors\":[");
        for (bool first = true; *p; first = false) {
                size_t n = strcspn(p, "\n");
                char *line = strndup(p, n);

                printf("%s", first ? "" : ",");
                ctl_json_string(stdout, line ? line : "");
                free(line);
                p += n;
                if (*p == '\n')
                        p++;
        }
        printf("]}\n");
}

/* What the configuration line of the table says. */
static const char *config_state_text(const struct tp_rep_status *st)
{
        switch (st->config_state) {
        case TP_CONFIG_LOADED:
                return "in force";
        case TP_CONFIG_RELOAD_FAILED:
                return "NOT IN FORCE: the last reload was rejected; the policy loaded before runs";
        default:
                return "NOT IN FORCE: unusable at start; serving the last valid configuration";
        }
}

/* The errors after the table, one per line. */
static int add_error_rows(struct ctl_table *table, const char *errors)
{
        const char *p = errors;
        bool first = true;
        int r;

        while (*p) {
                size_t n = strcspn(p, "\n");

                if ((r = ctl_table_add(table, first ? "config errors:" : "")) < 0 ||
                    (r = ctl_table_addf(table, "%.*s", (int) n, p)) < 0)
                        return r;
                first = false;
                p += n;
                if (*p == '\n')
                        p++;
        }
        return 0;
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
            (r = ctl_table_add(table, "config state:")) < 0 ||
            (r = ctl_table_add(table, config_state_text(st))) < 0 ||
            (r = ctl_table_add(table, "active sessions:")) < 0 ||
            (r = ctl_table_addf(table, "%llu", (unsigned long long) st->active_sessions)) < 0 ||
            (r = ctl_table_add(table, "client types:")) < 0 ||
            (r = ctl_table_addf(table, "%u", st->n_clients)) < 0)
                goto out;
        /* the audit trail */
        if ((r = ctl_table_add(table, "audit to:")) < 0 || (r = ctl_table_add(table, st->audit_sink)) < 0 ||
            (r = ctl_table_add(table, "audit queued:")) < 0 ||
            (r = ctl_table_addf(table, "%u", st->audit_queued)) < 0 ||
            (r = ctl_table_add(table, "audit lost:")) < 0 ||
            (r = ctl_table_addf(table, "%llu", (unsigned long long) st->audit_lost)) < 0 ||
            (r = ctl_table_add(table, "audit suppressed:")) < 0 ||
            (r = ctl_table_addf(table, "%llu", (unsigned long long) st->audit_suppressed)) < 0)
                goto out;
        /* the session store */
        if (st->store_backend == TP_STORE_KIND_POSTGRESQL) {
                if ((r = ctl_table_add(table, "store:")) < 0 ||
                    (r = ctl_table_addf(table, "postgresql (fleet), %s",
                                        st->store_connected ? "connected" : "NOT CONNECTED")) < 0 ||
                    (r = ctl_table_add(table, "host id:")) < 0 || (r = ctl_table_add(table, st->host_id)) < 0 ||
                    (r = ctl_table_add(table, "fleet hosts:")) < 0)
                        goto out;
                r = st->store_connected ? ctl_table_addf(table, "%u", st->hosts) : ctl_table_add(table, "unknown");
                if (r >= 0 && st->store_offline_since) {
                        char when[64] = "";
                        time_t t = (time_t) st->store_offline_since;
                        struct tm tm;

                        if (localtime_r(&t, &tm))
                                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", &tm);
                        if ((r = ctl_table_add(table, "offline since:")) >= 0 &&
                            (r = ctl_table_add(table, when)) >= 0 &&
                            (r = ctl_table_add(table, "offline because:")) >= 0)
                                r = ctl_table_add(table, st->store_error);
                }
                if (r >= 0 && (st->store_offline_since || st->unsynced) &&
                    (r = ctl_table_add(table, "unsynced sessions:")) >= 0)
                        r = ctl_table_addf(table, "%llu", (unsigned long long) st->unsynced);
        } else if ((r = ctl_table_add(table, "store:")) >= 0) {
                r = ctl_table_add(table, "sqlite (this host)");
        }
        if (r < 0)
                goto out;
        if (st->config_state != TP_CONFIG_LOADED &&
            ((r = ctl_table_add(table, "running config:")) < 0 ||
             (r = ctl_table_add(table, st->config_source)) < 0 ||
             (r = add_error_rows(table, st->config_errors)) < 0))
                goto out;
        r = ctl_table_print(table, stdout);
out:
        ctl_table_free(table);
        return r;
}

int ctl_cmd_status(struct ctl_context *ctx, int argc, char **argv)
{
        struct tp_request req = { .type = TP_REQ_STATUS };
        struct tp_reply *rep = NULL;
        bool json;
        int r;

        if ((r = ctl_parse_json_option(ctx, argc, argv, &json)) != CTL_OPTIONS_PARSED)
                return r;
        if ((r = ctl_request_ok(ctx, &req, &rep)) != CTL_EXIT_OK)
                return r;
        if (json)
                print_status_json(&rep->u.status);
        else if (print_status_table(&rep->u.status, time(NULL)) < 0) {
                r = ctl_report_oom();
                goto out;
        }
        /* The daemon runs and answers: exit 0. That its file is not in
         * force is said on stderr too, where a script's log catches it. */
        if (rep->u.status.config_state != TP_CONFIG_LOADED)
                ctl_error("warning: %s is not in force (%s): fix the errors shown and run '"
                          CTL_PROGRAM " reload'", rep->u.status.config_path,
                          tp_config_state_name(rep->u.status.config_state));
        r = CTL_EXIT_OK;
out:
        ctl_reply_free(rep);
        return r;
}

int ctl_cmd_reload(struct ctl_context *ctx, int argc, char **argv)
{
        struct tp_request req = { .type = TP_REQ_RELOAD };
        struct tp_reply *rep = NULL;
        int r;

        if ((r = ctl_parse_options(ctx, argc, argv, NULL, NULL)) != CTL_OPTIONS_PARSED)
                return r;
        if ((r = ctl_request_once(ctx, &req, &rep)) != CTL_EXIT_OK)
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

struct revoke_options {
        const char *user;
        const char *client;
        bool others;
};

static int handle_revoke_option(struct ctl_context *ctx, int opt, void *userdata)
{
        struct revoke_options *o = userdata;

        (void) ctx;
        if (opt == CTL_OPT_USER)
                o->user = optarg;
        else if (opt == CTL_OPT_OTHERS)
                o->others = true;
        else
                o->client = optarg;
        return 0;
}

int ctl_cmd_revoke(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option revoke_options[] = {
                { "user", required_argument, NULL, CTL_OPT_USER },
                { "client", required_argument, NULL, CTL_OPT_CLIENT },
                { "others", no_argument, NULL, CTL_OPT_OTHERS },
                {},
        };
        static const struct ctl_options options = {
                .options = revoke_options,
                .handle = handle_revoke_option,
                .arguments = true,
        };
        struct tp_request req = { .type = TP_REQ_REVOKE };
        struct revoke_options o = {};
        struct tp_reply *rep = NULL;
        int r;

        if ((r = ctl_parse_options(ctx, argc, argv, &options, &o)) != CTL_OPTIONS_PARSED)
                return r;

        if (o.others) {
                const char *sid = getenv(TP_ENV_SESSION_ID);

                if (optind < argc || o.user || o.client)
                        return ctl_report_usage(ctx, "--others takes no SESSION_ID, --user or --client");
                if (!sid || sid[0] == '\0' || !parse_session_id(sid, req.u.revoke.session_id)) {
                        ctl_error("--others signs out every session but the current one, which "
                                  TP_ENV_SESSION_ID " names: run it inside a session opened through "
                                  "pam_tokenpolicy");
                        return CTL_EXIT_USAGE;
                }
                req.u.revoke.flags = TP_REVOKE_OTHERS;
        } else if (optind < argc) {
                if (o.user || o.client)
                        return ctl_report_usage(ctx, "give either a SESSION_ID or --user/--client, not both");
                if ((r = ctl_check_no_arguments(ctx, argc, argv, optind + 1)) != 0)
                        return r;
                if (!parse_session_id(argv[optind], req.u.revoke.session_id))
                        return ctl_report_usage(ctx,
                                                "'%s' is not a session id (32 hex digits, as "
                                                "'" CTL_PROGRAM " sessions' shows)",
                                                argv[optind]);
        } else if (o.user || o.client) {
                if (o.user) {
                        if ((r = ctl_check_field(ctx, "--user", o.user, TP_USER_MAX)) != 0)
                                return r;
                        strcpy(req.u.revoke.user, o.user);
                }
                if (o.client) {
                        if ((r = ctl_check_field(ctx, "--client", o.client, TP_CLIENT_MAX)) != 0)
                                return r;
                        strcpy(req.u.revoke.client, o.client);
                }
        } else {
                return ctl_report_usage(ctx, "give a SESSION_ID, --user U, --client C or --others");
        }

        if ((r = ctl_request_ok(ctx, &req, &rep)) != CTL_EXIT_OK)
                return r;
        printf("Revoked %u session(s).\n", rep->u.revoke.revoked);
        ctl_reply_free(rep);
        return CTL_EXIT_OK;
}

int ctl_cmd_token(struct ctl_context *ctx, int argc, char **argv)
{
        struct tp_request req = { .type = TP_REQ_REFRESH };
        struct tp_reply *rep = NULL;
        const char *sid;
        int r;

        if ((r = ctl_parse_options(ctx, argc, argv, NULL, NULL)) != CTL_OPTIONS_PARSED)
                return r;

        sid = getenv(TP_ENV_SESSION_ID);
        if (!sid || sid[0] == '\0') {
                ctl_error(TP_ENV_SESSION_ID " is not set: run this inside a session opened "
                          "through pam_tokenpolicy");
                return CTL_EXIT_USAGE;
        }
        if (!parse_session_id(sid, req.u.session.session_id)) {
                ctl_error(TP_ENV_SESSION_ID " is not a session id (32 hex digits): run this "
                          "inside a session opened through pam_tokenpolicy");
                return CTL_EXIT_USAGE;
        }

        if ((r = ctl_request_once(ctx, &req, &rep)) != CTL_EXIT_OK)
                return r;
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
                ctl_error("tokenpolicyd answered without an access token; check %s",
                          ctl_hints()->log);
                r = CTL_EXIT_FAIL;
                goto out;
        }
        printf("%s\n", rep->u.tokens.access_token);
        r = CTL_EXIT_OK;
out:
        ctl_reply_free(rep);
        return r;
}
