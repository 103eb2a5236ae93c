/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz_config.c: libFuzzer harness for the configuration loader
 * (shared/config.c) through tp_config_load_string.
 *
 * A load must either fail with at least one message and no configuration,
 * or yield one that satisfies every rule of the schema; either way all it
 * allocated is freed (LeakSanitizer checks). The validity checks below are
 * the schema's promises as config.h states them, not a second validator.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SOURCE_NAME "fuzz.conf"

static bool in_range(uint32_t v, uint32_t lo, uint32_t hi)
{
        return v >= lo && v <= hi;
}

static void check_client(const struct tp_config *c, const struct tp_client_config *cl)
{
        struct tp_effective_policy eff;

        if (memchr(cl->name, '\0', sizeof(cl->name)) == NULL || cl->name[0] == '\0' ||
            strcmp(cl->name, "deny") == 0)
                abort();
        if (tp_config_client(c, cl->name) != cl)
                abort(); /* names are unique */
        if ((unsigned) cl->evict > TP_EVICT_MAX_ || (unsigned) cl->on_expiry > TP_ACTION_MAX_ ||
            (unsigned) cl->on_revoke > TP_ACTION_MAX_)
                abort();
        if (!in_range(cl->refresh_ttl_hours, TP_REFRESH_TTL_HOURS_MIN, TP_REFRESH_TTL_HOURS_MAX) ||
            !in_range(cl->access_ttl_minutes, TP_ACCESS_TTL_MINUTES_MIN,
                      TP_ACCESS_TTL_MINUTES_MAX) ||
            !in_range(cl->max_refresh_tokens, TP_MAX_REFRESH_TOKENS_MIN,
                      TP_MAX_REFRESH_TOKENS_MAX))
                abort();
        if (cl->n_services > 0 && cl->services == NULL)
                abort();
        for (size_t j = 0; j < cl->n_services; j++) {
                const char *svc = cl->services[j];

                if (svc == NULL || svc[0] == '\0' || strpbrk(svc, ", /") != NULL)
                        abort();
                /* A service maps to exactly one client type. */
                if (tp_config_client_for_service(c, svc) != cl)
                        abort();
        }

        tp_config_effective(c, cl, &eff);
        if (eff.access != cl->access || eff.evict != cl->evict ||
            eff.on_expiry != cl->on_expiry || eff.on_revoke != cl->on_revoke)
                abort();
        if (!in_range(eff.refresh_ttl_hours, TP_REFRESH_TTL_HOURS_MIN, TP_REFRESH_TTL_HOURS_MAX) ||
            !in_range(eff.access_ttl_minutes, TP_ACCESS_TTL_MINUTES_MIN,
                      TP_ACCESS_TTL_MINUTES_MAX) ||
            !in_range(eff.max_refresh_tokens, TP_MAX_REFRESH_TOKENS_MIN,
                      TP_MAX_REFRESH_TOKENS_MAX))
                abort();
}

static void check_config(const struct tp_config *c)
{
        if (c->version != 1 || c->path == NULL || strcmp(c->path, SOURCE_NAME) != 0)
                abort();
        if (c->n_clients < 1 || c->n_clients > TP_POLICY_CLIENTS_MAX || c->clients == NULL)
                abort();
        if (c->unknown_client < -1 || (c->unknown_client >= 0 &&
                                       (size_t) c->unknown_client >= c->n_clients))
                abort();
        for (size_t i = 0; i < c->n_clients; i++)
                check_client(c, &c->clients[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = NULL;
        char *text;
        int r;

        /* The loader takes a C string: a NUL in the input ends the text. */
        text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';

        r = tp_config_load_string(text, SOURCE_NAME, &c, &errs);
        if (r == 0) {
                if (c == NULL || errs.n != 0)
                        abort();
                check_config(c);
        } else {
                if (c != NULL || (r != -ENOMEM && errs.n == 0))
                        abort();
                for (size_t i = 0; i < errs.n; i++)
                        if (errs.messages[i] == NULL ||
                            strncmp(errs.messages[i], SOURCE_NAME, strlen(SOURCE_NAME)) != 0)
                                abort(); /* every message names its source */
        }

        tp_config_free(c);
        tp_config_errors_clear(&errs);
        free(text);
        return 0;
}
