/* SPDX-License-Identifier: BSD-3-Clause */
/* client.c: tokenpolicyctl's conversation with tokenpolicyd: choosing the
 * socket, one connection per command, and turning I/O failures and refusals
 * into a message and an exit status.
 *
 * All bytes go through common/io.c and the shared codec; this file never
 * reads or writes the socket itself and never waits without a deadline.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "io.h"
#include "wipe.h"

const char *ctl_socket_path(const struct ctl_context *ctx)
{
        const char *env;

        if (ctx->socket_arg)
                return ctx->socket_arg;
        env = getenv(CTL_SOCKET_ENV);
        if (env && env[0] != '\0')
                return env;
        return TP_DEFAULT_SOCKET;
}

const struct ctl_hints *ctl_hints(void)
{
        static const struct ctl_hints systemd = {
                .start = "'systemctl start tokenpolicyd.socket'",
                .status = "'systemctl status tokenpolicyd'",
                .log = "'journalctl -u tokenpolicyd'",
        }, initd = {
                .start = "'/etc/init.d/tokenpolicyd start'",
                .status = "'/etc/init.d/tokenpolicyd status'",
                .log = "its messages in syslog (facility authpriv)",
        }, by_hand = {
                .start = "'tokenpolicyd' as root",
                .status = "that tokenpolicyd runs and is not stopped ('ps -C tokenpolicyd -o pid,stat')",
                .log = "its messages in syslog (facility authpriv), or its standard error",
        };

        if (access("/run/systemd/system/", F_OK) == 0)
                return &systemd;
        if (access("/etc/init.d/tokenpolicyd", X_OK) == 0)
                return &initd;
        return &by_hand;
}

void ctl_conn_init(struct ctl_conn *c, const struct ctl_context *ctx)
{
        c->path = ctl_socket_path(ctx);
        c->fd = -1;
}

void ctl_conn_close(struct ctl_conn *c)
{
        if (!c)
                return;
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
}

static int report_connect_error(const struct ctl_conn *c, int r)
{
        switch (r) {
        case -ENAMETOOLONG:
                ctl_error("socket path is too long for a Unix socket: %s", c->path);
                return CTL_EXIT_USAGE;
        case -EACCES:
        case -EPERM:
                ctl_error("cannot reach tokenpolicyd at %s: %s; check that you may use that socket",
                          c->path, strerror(-r));
                return CTL_EXIT_UNREACHABLE;
        default:
                ctl_error("cannot reach tokenpolicyd at %s: %s; is it running? (start it with %s)",
                          c->path, strerror(-r), ctl_hints()->start);
                return CTL_EXIT_UNREACHABLE;
        }
}

static int report_transact_error(const struct ctl_conn *c, const struct tp_request *req, int r)
{
        switch (r) {
        case -ETIMEDOUT:
                ctl_error("tokenpolicyd at %s did not answer within %d s; check %s",
                          c->path, CTL_TIMEOUT_MS / 1000, ctl_hints()->status);
                return CTL_EXIT_UNREACHABLE;
        case -EPIPE:
        case -ECONNRESET:
                ctl_error("tokenpolicyd at %s closed the connection before answering; check %s",
                          c->path, ctl_hints()->log);
                return CTL_EXIT_UNREACHABLE;
        case -EPROTO:
        case -EMSGSIZE:
                ctl_error("tokenpolicyd at %s sent a reply that cannot be read (%s); "
                          "check that tokenpolicyd and tokenpolicyctl are the same version",
                          c->path, strerror(-r));
                return CTL_EXIT_UNREACHABLE;
        case -EINVAL:
                /* Arguments are checked against the field sizes before a
                 * request is built, so this is a value the codec refuses. */
                ctl_error("cannot encode the %s request: a value is too long or invalid",
                          tp_msg_type_name(req->type));
                return CTL_EXIT_USAGE;
        default:
                ctl_error("talking to tokenpolicyd at %s failed: %s", c->path, strerror(-r));
                return CTL_EXIT_UNREACHABLE;
        }
}

int ctl_request(struct ctl_conn *c, const struct tp_request *req, struct tp_reply *rep)
{
        int r;

        if (c->fd < 0) {
                int fd;

                if ((r = tp_io_connect(c->path, CTL_TIMEOUT_MS, &fd)) < 0)
                        return report_connect_error(c, r);
                c->fd = fd;
        }

        r = tp_io_transact(c->fd, tp_monotonic_ms() + CTL_TIMEOUT_MS, req, rep);
        if (r < 0) {
                /* The stream may hold half a frame now: never reuse it. */
                ctl_conn_close(c);
                return report_transact_error(c, req, r);
        }
        return CTL_EXIT_OK;
}

int ctl_request_once(const struct ctl_context *ctx, const struct tp_request *req,
                     struct tp_reply **ret_rep)
{
        struct ctl_conn conn;
        struct tp_reply *rep;
        int r;

        rep = ctl_reply_new();
        if (!rep)
                return ctl_report_oom();
        ctl_conn_init(&conn, ctx);
        r = ctl_request(&conn, req, rep);
        ctl_conn_close(&conn);
        if (r != CTL_EXIT_OK) {
                ctl_reply_free(rep);
                return r;
        }
        *ret_rep = rep;
        return CTL_EXIT_OK;
}

int ctl_request_ok(const struct ctl_context *ctx, const struct tp_request *req,
                   struct tp_reply **ret_rep)
{
        struct tp_reply *rep;
        int r;

        if ((r = ctl_request_once(ctx, req, &rep)) != CTL_EXIT_OK)
                return r;
        if (rep->status != TP_STATUS_OK) {
                r = ctl_report_reply(rep);
                ctl_reply_free(rep);
                return r;
        }
        *ret_rep = rep;
        return CTL_EXIT_OK;
}

struct tp_reply *ctl_reply_new(void)
{
        return calloc(1, sizeof(struct tp_reply));
}

void ctl_reply_free(struct tp_reply *rep)
{
        if (!rep)
                return;
        tp_secret_wipe(rep, sizeof(*rep));
        free(rep);
}

/* NULL: the daemon failed, see its log. */
static const char *status_hint(uint8_t status)
{
        switch (status) {
        case TP_STATUS_DENIED:
                return "denied by policy";
        case TP_STATUS_EXPIRED:
                return "your sign-in has expired; sign in again";
        case TP_STATUS_NOT_FOUND:
                return "no such session; list sessions with '" CTL_PROGRAM " sessions'";
        case TP_STATUS_FORBIDDEN:
                return "permission denied; this needs root (try sudo)";
        case TP_STATUS_BAD_REQUEST:
                return "the daemon refused the request as invalid";
        default:
                return NULL;
        }
}

int ctl_report_reply(const struct tp_reply *rep)
{
        const char *hint = status_hint(rep->status);

        if (rep->message[0] != '\0')
                ctl_error("%s", rep->message);
        else if (hint)
                ctl_error("%s (%s)", hint, tp_status_name(rep->status));
        else
                ctl_error("the daemon failed; see %s (%s)", ctl_hints()->log,
                          tp_status_name(rep->status));
        return CTL_EXIT_FAIL;
}

int ctl_report_oom(void)
{
        ctl_error("out of memory");
        return CTL_EXIT_FAIL;
}
