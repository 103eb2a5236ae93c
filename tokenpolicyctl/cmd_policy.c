/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_policy.c: `tokenpolicyctl policy`: the policy in force per client
 * type, as a table or one JSON object.
 *
 * When custom_token_policy is false the file's token values do not apply;
 * this view must always show what applies first and mark the configured
 * value as inactive, never the other way round.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define VALUE_TEXT 96

static const char *on_off(uint8_t v)
{
        return v ? "on" : "off";
}

/* The effective value, and the configured one marked inactive when the
 * token policy is switched off. */
static void format_value(bool inactive, const char *effective, const char *configured,
                         char out[VALUE_TEXT])
{
        if (inactive)
                snprintf(out, VALUE_TEXT, "%s (inactive: %s)", effective, configured);
        else
                snprintf(out, VALUE_TEXT, "%s", effective);
}

/* "30m lock", or "off". */
static void format_idle(const struct tp_idle_values *v, char out[VALUE_TEXT])
{
        if (v->idle_timeout_minutes == 0)
                snprintf(out, VALUE_TEXT, "off");
        else
                snprintf(out, VALUE_TEXT, "%um %s", v->idle_timeout_minutes, tp_action_name(v->on_idle));
}

static int add_client_row(struct ctl_table *t, const struct tp_policy_client *cl, bool inactive)
{
        const struct tp_token_values *e = &cl->effective, *c = &cl->configured;
        char eff[32], conf[32], auto_extend[VALUE_TEXT], refresh[VALUE_TEXT];
        char access[VALUE_TEXT], cap[VALUE_TEXT], idle[VALUE_TEXT], warn[VALUE_TEXT];
        int r;

        format_idle(&cl->idle, idle);
        if (cl->idle.warn_before_minutes == 0)
                snprintf(warn, sizeof(warn), "off");
        else
                snprintf(warn, sizeof(warn), "%um", cl->idle.warn_before_minutes);

        format_value(inactive, on_off(e->auto_extend), on_off(c->auto_extend), auto_extend);
        snprintf(eff, sizeof(eff), "%uh", e->refresh_ttl_hours);
        snprintf(conf, sizeof(conf), "%uh", c->refresh_ttl_hours);
        format_value(inactive, eff, conf, refresh);
        snprintf(eff, sizeof(eff), "%um", e->access_ttl_minutes);
        snprintf(conf, sizeof(conf), "%um", c->access_ttl_minutes);
        format_value(inactive, eff, conf, access);
        snprintf(eff, sizeof(eff), "%u", e->max_refresh_tokens);
        snprintf(conf, sizeof(conf), "%u", c->max_refresh_tokens);
        format_value(inactive, eff, conf, cap);

        if ((r = ctl_table_add(t, cl->name)) < 0 ||
            (r = ctl_table_add(t, cl->access ? "allowed" : "denied")) < 0 ||
            (r = ctl_table_add(t, auto_extend)) < 0 ||
            (r = ctl_table_add(t, refresh)) < 0 ||
            (r = ctl_table_add(t, access)) < 0 ||
            (r = ctl_table_add(t, cap)) < 0 ||
            (r = ctl_table_add(t, tp_evict_name(cl->evict))) < 0 ||
            (r = ctl_table_add(t, tp_action_name(cl->on_expiry))) < 0 ||
            (r = ctl_table_add(t, tp_action_name(cl->on_revoke))) < 0 ||
            (r = ctl_table_add(t, idle)) < 0 ||
            (r = ctl_table_add(t, warn)) < 0 ||
            (r = ctl_table_add(t, cl->services[0] ? cl->services : "-")) < 0)
                return r;
        return 0;
}

/* The lines above the table go through a table too, so that names from
 * the file are printed with control characters replaced. */
static int print_header(const struct tp_rep_policy *p)
{
        struct ctl_table *t = NULL;
        int r;

        if ((r = ctl_table_new(1, 0, &t)) < 0 ||
            (r = ctl_table_addf(t, "custom_token_policy: %s",
                                p->custom_token_policy ? "true" : "false")) < 0 ||
            (r = ctl_table_addf(t, "unknown_client: %s", p->unknown_client)) < 0 ||
            (r = ctl_table_addf(t, "config: %s", p->config_path)) < 0)
                goto out;
        r = ctl_table_print(t, stdout);
out:
        ctl_table_free(t);
        return r;
}

static int print_table(const struct tp_rep_policy *p, size_t n_clients)
{
        static const char *const header[] = {
                "CLIENT", "ACCESS", "AUTO-EXTEND", "REFRESH TTL", "ACCESS TTL",
                "MAX TOKENS", "EVICT", "ON EXPIRY", "ON REVOKE", "IDLE", "WARN", "SERVICES",
        };
        struct ctl_table *t = NULL;
        size_t i;
        int r;

        if ((r = ctl_table_new(sizeof(header) / sizeof(header[0]), 2, &t)) < 0)
                goto out;
        for (i = 0; i < sizeof(header) / sizeof(header[0]); i++)
                if ((r = ctl_table_add(t, header[i])) < 0)
                        goto out;
        for (i = 0; i < n_clients; i++)
                if ((r = add_client_row(t, &p->clients[i], !p->custom_token_policy)) < 0)
                        goto out;

        if ((r = print_header(p)) < 0)
                goto out;
        printf("\n");
        if ((r = ctl_table_print(t, stdout)) < 0)
                goto out;
        if (!p->custom_token_policy)
                printf("\ncustom_token_policy = false: token lifetime and cap values in the file "
                       "are inactive; built-in defaults apply.\n");
        r = 0;
out:
        ctl_table_free(t);
        return r;
}

static void print_json_values(const struct tp_token_values *v)
{
        printf("{\"auto_extend_refresh_token\":%s,\"refresh_token_ttl_hours\":%u,"
               "\"access_token_ttl_minutes\":%u,\"max_refresh_tokens\":%u}",
               v->auto_extend ? "true" : "false", v->refresh_ttl_hours, v->access_ttl_minutes,
               v->max_refresh_tokens);
}

static void print_json_services(const char *services)
{
        char copy[TP_SERVICES_TEXT_MAX], *save = NULL, *name;
        bool first = true;

        snprintf(copy, sizeof(copy), "%s", services);
        printf("[");
        for (name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
                printf("%s", first ? "" : ",");
                ctl_json_string(stdout, name);
                first = false;
        }
        printf("]");
}

static void print_json(const struct tp_rep_policy *p, size_t n_clients)
{
        size_t i;

        printf("{\"custom_token_policy\":%s,\"unknown_client\":",
               p->custom_token_policy ? "true" : "false");
        ctl_json_string(stdout, p->unknown_client);
        printf(",\"config\":");
        ctl_json_string(stdout, p->config_path);
        printf(",\"clients\":[");
        for (i = 0; i < n_clients; i++) {
                const struct tp_policy_client *cl = &p->clients[i];

                printf("%s\n  {\"name\":", i ? "," : "");
                ctl_json_string(stdout, cl->name);
                printf(",\"access\":%s,\"services\":", cl->access ? "true" : "false");
                print_json_services(cl->services);
                printf(",\"evict\":");
                ctl_json_string(stdout, tp_evict_name(cl->evict));
                printf(",\"on_expiry\":");
                ctl_json_string(stdout, tp_action_name(cl->on_expiry));
                printf(",\"on_revoke\":");
                ctl_json_string(stdout, tp_action_name(cl->on_revoke));
                printf(",\"idle_timeout_minutes\":%u,\"on_idle\":", cl->idle.idle_timeout_minutes);
                ctl_json_string(stdout, tp_action_name(cl->idle.on_idle));
                printf(",\"warn_before_minutes\":%u", cl->idle.warn_before_minutes);
                printf(",\"effective\":");
                print_json_values(&cl->effective);
                printf(",\"configured\":");
                print_json_values(&cl->configured);
                printf(",\"inactive\":%s}", p->custom_token_policy ? "false" : "true");
        }
        printf("%s]}\n", n_clients ? "\n" : "");
}

int ctl_cmd_policy(struct ctl_context *ctx, int argc, char **argv)
{
        struct tp_request req = { .type = TP_REQ_POLICY };
        struct tp_reply *rep = NULL;
        size_t n_clients;
        bool json;
        int r;

        if ((r = ctl_parse_json_option(ctx, argc, argv, &json)) != CTL_OPTIONS_PARSED)
                return r;
        if ((r = ctl_request_ok(ctx, &req, &rep)) != CTL_EXIT_OK)
                return r;

        /* The codec bounds the count; clamp anyway before indexing. */
        n_clients = rep->u.policy.n_clients;
        if (n_clients > TP_POLICY_CLIENTS_MAX)
                n_clients = TP_POLICY_CLIENTS_MAX;
        if (json)
                print_json(&rep->u.policy, n_clients);
        else if (print_table(&rep->u.policy, n_clients) < 0) {
                r = ctl_report_oom();
                goto out;
        }
        r = CTL_EXIT_OK;
out:
        ctl_reply_free(rep);
        return r;
}
