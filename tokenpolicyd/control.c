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
#include <stdio.h>

#include "conffile.h"
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
        tp_control_ready(d);
        return r;
}
