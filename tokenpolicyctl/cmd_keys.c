/* cmd_keys.c: `tokenpolicyctl rotate-key`: ask the daemon for a new
 * signing key and say until when the old one stays published.
 *
 * One request, one answer. The daemon decides who may rotate and for how
 * long the old key is kept; this command never touches a key file itself.
 */
#include <stdio.h>

#include "ctl.h"

int ctl_cmd_rotate_key(struct ctl_context *ctx, int argc, char **argv)
{
        struct tp_request req = { .type = TP_REQ_ROTATE_KEY };
        char until[CTL_TIME_TEXT];
        struct tp_reply *rep = NULL;
        int r;

        if ((r = ctl_parse_options(ctx, argc, argv, NULL, NULL)) != CTL_OPTIONS_PARSED)
                return r;
        if ((r = ctl_request_ok(ctx, &req, &rep)) != CTL_EXIT_OK)
                return r;
        if (rep->u.rotate.kid[0] == '\0' || rep->u.rotate.old_kid[0] == '\0') {
                ctl_error("tokenpolicyd answered without the key ids; check %s",
                          ctl_hints()->log);
                r = CTL_EXIT_FAIL;
                goto out;
        }
        ctl_format_time(rep->u.rotate.old_until, false, until);
        printf("New signing key %s; the old key %s stays published until %s.\n",
               rep->u.rotate.kid, rep->u.rotate.old_kid, until);
        r = CTL_EXIT_OK;
out:
        ctl_reply_free(rep);
        return r;
}
