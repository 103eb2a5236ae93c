/* SPDX-License-Identifier: BSD-3-Clause */
/* control.c: operations on the whole daemon (control.h): a reload, from a
 * signal or a request, and the status line for the service manager.
 *
 * Both starters get the same sequence, so the service manager sees
 * RELOADING=1 and then READY=1 with the new status however the reload was
 * asked for.
 */
#include "control.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conffile.h"
#include "lifecycle.h"
#include "log.h"
#include "notify.h"
#include "store.h"

void tp_control_ready(struct tp_daemon *d)
{
        char status[256];
        uint64_t active = 0;

        if (tp_store_count_active(d->store, &active) < 0)
                active = 0;
        /* The expiry schedule holds at most one entry per active session;
         * saying its size shows that bound holding. */
        snprintf(status, sizeof(status),
                 "Serving %zu client types; %" PRIu64 " active sessions; %zu scheduled to expire%s",
                 d->config->n_clients, active, d->expiry.n,
                 d->config_state == TP_CONFIG_LAST_GOOD ? "; CONFIGURATION FILE UNUSABLE, serving the last valid one"
                 : d->config_state == TP_CONFIG_RELOAD_FAILED ? "; configuration file invalid, its last reload was rejected"
                 : "");
        tp_notify_ready(status);
}

int tp_control_reload(struct tp_daemon *d, struct tp_config_errors *errs)
{
        int r;

        tp_notify_reloading();
        r = tp_conffile_reload(d, errs);
        if (r >= 0)
                r = tp_control_revoke_disabled(d);
        tp_control_ready(d);
        return r;
}

int tp_control_revoke_disabled(struct tp_daemon *d)
{
        const struct tp_config *c = d->config;
        int total = 0;

        for (size_t i = 0; i < c->n_clients; i++) {
                const struct tp_client_config *cl = &c->clients[i];
                struct tp_store_filter f = { .client = cl->name, .all = false };
                struct tp_effective_policy p;
                struct tp_session *rows = NULL;
                size_t n = 0, matched = 0;
                char why[128];
                int r;

                tp_config_effective(c, cl, &p);
                if (p.access)
                        continue;
                r = tp_store_query(d->store, &f, 0, SIZE_MAX, &rows, &n, &matched);
                if (r >= 0 && n > 0) {
                        snprintf(why, sizeof(why), "sign-in from %s clients disabled by the administrator",
                                 cl->name);
                        r = tp_lifecycle_revoke(d, rows, n, why, -1);
                }
                free(rows);
                if (r < 0) {
                        tp_log(LOG_ERR, "Failed to revoke the running sessions of the disabled client type %s: %s (%s); the next reload tries again",
                               cl->name, strerror(-r), tp_store_errmsg(d->store));
                        continue;
                }
                if (n > 0)
                        tp_log(LOG_NOTICE, "client type %s is disabled: revoked its %d running session(s)",
                               cl->name, r);
                total += r;
        }
        return total;
}
