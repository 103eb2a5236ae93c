/* cmd_keys.c: `tokenpolicyctl rotate-key`: ask the daemon for a new
 * signing key and say until when the old one stays published.
 *
 * One request, one answer. The daemon decides who may rotate and for how
 * long the old key is kept; this command never touches a key file itself.
 */
#include <getopt.h>
#include <stdio.h>

#include "ctl.h"

int ctl_cmd_rotate_key(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "socket", required_argument, NULL, CTL_OPT_SOCKET },
                {},
        };
        struct tp_request req = { .type = TP_REQ_ROTATE_KEY };
        char until[CTL_TIME_TEXT];
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
                default:
                        return ctl_report_option_error(ctx, argv, c);
                }
        }
        if (ctx->socket_arg && ctx->socket_arg[0] == '\0')
                return ctl_report_usage(ctx, "--socket needs a path");
        if ((r = ctl_check_no_arguments(ctx, argc, argv, optind)) != 0)
                return r;

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
        if (rep->u.rotate.kid[0] == '\0' || rep->u.rotate.old_kid[0] == '\0') {
                ctl_error("tokenpolicyd answered without the key ids; "
                          "check 'journalctl -u tokenpolicyd'");
                r = CTL_EXIT_FAIL;
                goto out;
        }
        ctl_format_time(rep->u.rotate.old_until, false, until);
        printf("New signing key %s; the old key %s stays published until %s.\n",
               rep->u.rotate.kid, rep->u.rotate.old_kid, until);
        r = CTL_EXIT_OK;
out:
        ctl_conn_close(&conn);
        ctl_reply_free(rep);
        return r;
}
