/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_keys.c: `tokenpolicyctl rotate-key`: ask the daemon for a new
 * signing key and say until when the old one stays published;
 * `tokenpolicyctl revoke-key KID`: make it stop trusting a key at once;
 * and `tokenpolicyctl jwks`: print the keys it publishes.
 *
 * One request, one answer. The daemon decides who may rotate or revoke and
 * for how long an old key is kept; these commands never touch a key file
 * themselves.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "jwks.h"
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

/* `tokenpolicyctl jwks`: the public keys a verifier should trust, as the
 * daemon publishes them in its state directory: the whole fleet's
 * (fleet-jwks.json) in fleet mode, else this host's (jwks.json). A file,
 * printed as it is: the daemon wrote and checked it. */
struct jwks_options {
        const char *state_dir;
};

enum { JWKS_OPT_STATE_DIR = 0x200 };

static int handle_jwks_option(struct ctl_context *ctx, int opt, void *userdata)
{
        struct jwks_options *o = userdata;

        (void)opt;
        if (!optarg[0])
                return ctl_report_usage(ctx, "--state-dir needs a directory");
        o->state_dir = optarg;
        return 0;
}

int ctl_cmd_jwks(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option jwks_options[] = {
                { "state-dir", required_argument, NULL, JWKS_OPT_STATE_DIR },
                {},
        };
        static const struct ctl_options options = {
                .options = jwks_options,
                .handle = handle_jwks_option,
        };
        static const char *const names[] = { "fleet-jwks.json", TP_TOKEN_JWKS_FILE };
        struct jwks_options o = { .state_dir = TP_DEFAULT_STATE_DIR };
        char path[PATH_MAX], buf[65536];
        size_t n;
        FILE *f = NULL;
        int r;

        if ((r = ctl_parse_options(ctx, argc, argv, &options, &o)) != CTL_OPTIONS_PARSED)
                return r;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !f; i++) {
                if ((size_t)snprintf(path, sizeof(path), "%s/%s", o.state_dir, names[i]) >= sizeof(path))
                        return ctl_report_usage(ctx, "--state-dir is too long");
                f = fopen(path, "re");
                if (!f && errno != ENOENT) {
                        ctl_error("cannot read %s: %s", path, strerror(errno));
                        return CTL_EXIT_FAIL;
                }
        }
        if (!f) {
                ctl_error("%s holds no %s nor %s: is it tokenpolicyd's state directory (--state-dir)?",
                          o.state_dir, names[0], names[1]);
                return CTL_EXIT_FAIL;
        }
        n = fread(buf, 1, sizeof(buf), f);
        r = ferror(f) || n == sizeof(buf) ? CTL_EXIT_FAIL : CTL_EXIT_OK;
        fclose(f);
        if (r != CTL_EXIT_OK) {
                ctl_error("cannot read %s: %s", path, n == sizeof(buf) ? "too large" : "read error");
                return r;
        }
        fwrite(buf, 1, n, stdout);
        return CTL_EXIT_OK;
}
