/* cmd_verify.c: `tokenpolicyctl verify`: check an access token offline
 * against the daemon's published public key and show its claims.
 *
 * The checking itself is tp_jwt_verify_pem() (token.c), the same code the
 * daemon signs with; this file only reads the token and reports. It never
 * claims more than it checked: the session's state in the daemon is not
 * consulted here.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "token.h"

static bool is_space(char ch)
{
        return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* The token from standard input into buf, surrounding white space
 * removed; *ret_token points into buf. */
static int read_token_stdin(char *buf, size_t size, const char **ret_token)
{
        size_t n, start = 0;

        n = fread(buf, 1, size - 1, stdin);
        if (ferror(stdin))
                return -EIO;
        if (n == size - 1 && fgetc(stdin) != EOF)
                return -EMSGSIZE;
        buf[n] = '\0';
        while (n > 0 && is_space(buf[n - 1]))
                buf[--n] = '\0';
        while (start < n && is_space(buf[start]))
                start++;
        *ret_token = buf + start;
        return 0;
}

static const char *verify_failure(int r)
{
        switch (r) {
        case -EBADMSG:
                return "malformed";
        case -EKEYREJECTED:
                return "bad signature or algorithm";
        case -ETIME:
                return "expired or not yet valid";
        default:
                return NULL;
        }
}

static int print_claims(const struct tp_jwt_claims *cl, int64_t now)
{
        char iat[CTL_WHEN_TEXT], exp[CTL_WHEN_TEXT];
        struct ctl_table *t = NULL;
        int r;

        ctl_format_time_relative(cl->iat, now, iat);
        ctl_format_time_relative(cl->exp, now, exp);
        if ((r = ctl_table_new(2, 1, &t)) < 0 ||
            (r = ctl_table_add(t, "iss:")) < 0 || (r = ctl_table_add(t, cl->iss)) < 0 ||
            (r = ctl_table_add(t, "sub:")) < 0 || (r = ctl_table_add(t, cl->sub)) < 0 ||
            (r = ctl_table_add(t, "uid:")) < 0 || (r = ctl_table_addf(t, "%u", cl->uid)) < 0 ||
            (r = ctl_table_add(t, "sid:")) < 0 || (r = ctl_table_add(t, cl->sid)) < 0 ||
            (r = ctl_table_add(t, "client:")) < 0 || (r = ctl_table_add(t, cl->client)) < 0 ||
            (r = ctl_table_add(t, "iat:")) < 0 || (r = ctl_table_add(t, iat)) < 0 ||
            (r = ctl_table_add(t, "exp:")) < 0 || (r = ctl_table_add(t, exp)) < 0 ||
            (r = ctl_table_add(t, "jti:")) < 0 || (r = ctl_table_add(t, cl->jti)) < 0 ||
            (r = ctl_table_add(t, "kid:")) < 0 || (r = ctl_table_add(t, cl->kid)) < 0)
                goto out;
        printf("valid\n");
        r = ctl_table_print(t, stdout);
out:
        ctl_table_free(t);
        return r;
}

int ctl_cmd_verify(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "key", required_argument, NULL, CTL_OPT_KEY },
                {},
        };
        static char stdin_token[TP_TOKEN_MAX + 1];
        const char *key = CTL_DEFAULT_PUBKEY, *token, *reason;
        struct tp_jwt_claims claims = {};
        int64_t now;
        int c, r;

        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        return ctl_command_help(ctx);
                case CTL_OPT_KEY:
                        key = optarg;
                        break;
                default:
                        return ctl_report_option_error(ctx, argv, c);
                }
        }
        if (key[0] == '\0')
                return ctl_report_usage(ctx, "--key needs a file name");
        if (optind >= argc)
                return ctl_report_usage(ctx, "give the TOKEN to check, or - to read it from "
                                             "standard input");
        if ((r = ctl_check_no_arguments(ctx, argc, argv, optind + 1)) != 0)
                return r;

        token = argv[optind];
        if (strcmp(token, "-") == 0) {
                r = read_token_stdin(stdin_token, sizeof(stdin_token), &token);
                if (r == -EMSGSIZE) {
                        ctl_error("invalid token: malformed (longer than %u bytes)",
                                  TP_TOKEN_MAX - 1);
                        return CTL_EXIT_FAIL;
                }
                if (r < 0) {
                        ctl_error("cannot read the token from standard input: %s",
                                  strerror(-r));
                        return CTL_EXIT_FAIL;
                }
        }

        now = time(NULL);
        r = tp_jwt_verify_pem(key, token, now, &claims);
        explicit_bzero(stdin_token, sizeof(stdin_token));
        if (r < 0) {
                reason = verify_failure(r);
                if (reason)
                        ctl_error("invalid token: %s", reason);
                else
                        ctl_error("cannot check the token with public key %s: %s; give the "
                                  "daemon's public key with --key",
                                  key, strerror(-r));
                return CTL_EXIT_FAIL;
        }

        if (print_claims(&claims, now) < 0)
                return ctl_report_oom();
        return CTL_EXIT_OK;
}
