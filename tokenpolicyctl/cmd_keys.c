/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_keys.c: `tokenpolicyctl rotate-key`: ask the daemon for a new
 * signing key and say until when the old one stays published; and
 * `tokenpolicyctl revoke-key KID`: make it stop trusting a key at once.
 *
 * One request, one answer. The daemon decides who may rotate or revoke and
 * for how long an old key is kept; these commands never touch a key file
 * themselves.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "keyring.h"

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

int ctl_cmd_revoke_key(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct ctl_options options = { .arguments = true };
        struct tp_request req = { .type = TP_REQ_REVOKE_KEY };
        struct tp_reply *rep = NULL;
        int r;

        if ((r = ctl_parse_options(ctx, argc, argv, &options, NULL)) != CTL_OPTIONS_PARSED)
                return r;
        if (optind >= argc)
                return ctl_report_usage(ctx, "give the KID of the key to revoke");
        if ((r = ctl_check_no_arguments(ctx, argc, argv, optind + 1)) != 0)
                return r;
        if (!tp_kid_valid(argv[optind]))
                return ctl_report_usage(ctx, "'%s' is not a key id (43 characters of base64url, "
                                        "as jwks.json and 'verify' show them)", argv[optind]);
        memcpy(req.u.key.kid, argv[optind], TP_KID_LEN + 1);
        if ((r = ctl_request_ok(ctx, &req, &rep)) != CTL_EXIT_OK)
                return r;
        if (rep->u.revoke_key.kid[0] == '\0' || rep->u.revoke_key.current_kid[0] == '\0') {
                ctl_error("tokenpolicyd answered without the key ids; "
                          "check 'journalctl -u tokenpolicyd'");
                r = CTL_EXIT_FAIL;
                goto out;
        }
        if (rep->u.revoke_key.rotated)
                printf("Signing key %s revoked. It was the current key: new key %s signs from now on.\n",
                       rep->u.revoke_key.kid, rep->u.revoke_key.current_kid);
        else
                printf("Signing key %s revoked.\n", rep->u.revoke_key.kid);
        r = CTL_EXIT_OK;
out:
        ctl_reply_free(rep);
        return r;
}
