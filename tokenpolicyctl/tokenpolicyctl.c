/* SPDX-License-Identifier: BSD-3-Clause */
/* tokenpolicyctl.c: the command line: global options, the command table,
 * help texts and the usage errors every command shares.
 *
 * It only parses and dispatches; it never talks to the daemon or formats
 * results itself, and every usage error ends with exit status 2.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#ifndef TP_VERSION
#define TP_VERSION "unknown"
#endif

static const struct ctl_command commands[] = {
        {
                .name = "status",
                .synopsis = "[--json]",
                .summary = "show the daemon's version, uptime and load",
                .help = "Show the daemon's version, process id, start time, configuration file and\n"
                        "when it was loaded, whether that file is in force (and why not), the number\n"
                        "of active sessions and of client types.\n",
                .options = "  --json         print one JSON object, times as Unix seconds\n",
                .run = ctl_cmd_status,
        },
        {
                .name = "sessions",
                .synopsis = "[--user U] [--client C] [--host H] [--all] [--limit N] [--json]",
                .summary = "list sessions (active ones unless --all)",
                .help = "List sessions known to the daemon: in fleet mode, those of every host of\n"
                        "the fleet, HOST naming the one that runs each. A user who is not root sees\n"
                        "only their own sessions. Active sessions come first, then revoked, expired\n"
                        "and closed ones, each kind oldest first.\n",
                .options = "  --user U       only sessions of user U\n"
                        "  --client C     only sessions of client type C\n"
                        "  --host H       only sessions that host H runs (its host_id)\n"
                        "  --all          include revoked, expired and closed sessions\n"
                        "  --limit N      at most the first N sessions (1 to 1000000)\n"
                        "  --json         print one JSON array, times as Unix seconds\n",
                .run = ctl_cmd_sessions,
        },
        {
                .name = "revoke",
                .synopsis = "SESSION_ID | --user U [--client C] | --client C | --others",
                .summary = "revoke sessions (root: any; others: their own)",
                .help = "Revoke one session by its id (32 hex digits, as 'sessions' shows), every\n"
                        "active session of a user (optionally only those of one client type), every\n"
                        "user's active sessions of one client type (root), or, run inside a session,\n"
                        "every other session of yours (sign out everywhere else). The running\n"
                        "sessions then get the client type's on_revoke action, each from the daemon\n"
                        "of the host it runs on (in fleet mode, any host of the fleet). Root may\n"
                        "revoke any session; other users only their own.\n",
                .options = "  --user U       revoke the active sessions of user U\n"
                        "  --client C     only sessions of client type C; without --user, every\n"
                        "                 user's (root only)\n"
                        "  --others       every active session of yours but the one $" TP_ENV_SESSION_ID "\n"
                        "                 names (run it inside a session)\n",
                .run = ctl_cmd_revoke,
        },
        {
                .name = "hosts",
                .synopsis = "[--json]",
                .summary = "list the hosts of the fleet (fleet mode)",
                .help = "List the hosts that share this daemon's PostgreSQL store: each one's id,\n"
                        "name, last heartbeat, active sessions and the SHA-256 digest of its\n"
                        "effective policy. A host whose digest is not the one most hosts run is\n"
                        "flagged: its policy differs. See tokenpolicy-fleet(7).\n",
                .options = "  --json         print one JSON array, times as Unix seconds\n",
                .run = ctl_cmd_hosts,
        },
        {
                .name = "reload",
                .synopsis = "",
                .summary = "reload the configuration file (root only)",
                .help = "Ask the daemon to load its configuration file again. When the file is\n"
                        "invalid every error is printed as FILE:LINE: message and the running\n"
                        "policy stays in force. Root only.\n",
                .run = ctl_cmd_reload,
        },
        {
                .name = "policy",
                .synopsis = "[--json]",
                .summary = "show the policy in force per client type",
                .help = "Show the policy in force for each client type. When custom_token_policy is\n"
                        "false the built-in token values apply and the configured ones are shown as\n"
                        "inactive.\n",
                .options = "  --json         print one JSON object\n",
                .run = ctl_cmd_policy,
        },
        {
                .name = "token",
                .synopsis = "",
                .summary = "print a fresh access token for this session",
                .help = "Print a new access token (a JWT) for the session named by\n"
                        "$" TP_ENV_SESSION_ID ", as long as its refresh token is valid. Run it as\n"
                        "the session's user, inside a session opened through pam_tokenpolicy.\n",
                .run = ctl_cmd_token,
        },
        {
                .name = "verify",
                .synopsis = "TOKEN [--key PUBKEY.pem | --state-dir DIR] [--issuer NAME] [--offline]",
                .summary = "check a token's signature, expiry and claims",
                .help = "Check an access token offline: its signature against the daemon's public\n"
                        "key, that it is not expired and that this host issued it, and print its\n"
                        "claims. The key is the one the token's kid names: a retained old key in\n"
                        "DIR/keys/KID.pub.pem after a rotate-key, else the current key\n"
                        "DIR/signing-key.pub.pem. TOKEN \"-\" reads the token from standard input.\n"
                        "Then, unless --offline, ask tokenpolicyd whether the token's session is\n"
                        "still active: exit 1 when it says no. When tokenpolicyd cannot be reached\n"
                        "the session is not checked, stderr says so, and the exit status stays 0.\n"
                        "The verdict comes first: \"valid\" and the claims only once every check\n"
                        "passed, else \"invalid token: REASON\" on stderr and nothing else.\n",
                .options = "  --key FILE     check with this public key in PEM instead\n"
                        "  --state-dir DIR\n"
                        "                 the daemon's state directory (default " TP_DEFAULT_STATE_DIR ")\n"
                        "  --issuer NAME  the iss the token must carry (default this host's name)\n"
                        "  --offline      do not ask tokenpolicyd whether the session is active\n",
                .run = ctl_cmd_verify,
        },
        {
                .name = "explain",
                .synopsis = "--user U --client C [--json]",
                .summary = "say what the next sign-in would get, and why",
                .help = "Explain whether the next sign-in of user U with client type C would be\n"
                        "allowed or denied and why, which existing session it would sign out at\n"
                        "the cap, and the expiry its tokens would get. Changes nothing. A user who\n"
                        "is not root may ask only about themselves. Exit status 0: it would be\n"
                        "allowed; 1: it would be denied (or the daemon refused to answer).\n",
                .options = "  --user U       the user signing in\n"
                        "  --client C     the client type\n"
                        "  --json         print one JSON object\n",
                .run = ctl_cmd_explain,
        },
        {
                .name = "jwks",
                .synopsis = "[--state-dir DIR]",
                .summary = "print the public keys tokens are verified with (JWKS)",
                .help = "Print the JWKS (RFC 7517) a verifier should trust, as the daemon publishes it\n"
                        "in its state directory: in fleet mode the keys of every host of the fleet\n"
                        "(fleet-jwks.json), else this host's (jwks.json). Reads the file; asks the\n"
                        "daemon nothing.\n",
                .options = "  --state-dir DIR\n"
                        "                 the daemon's state directory (default " TP_DEFAULT_STATE_DIR ")\n",
                .run = ctl_cmd_jwks,
        },
        {
                .name = "rotate-key",
                .synopsis = "",
                .summary = "start signing with a new key (root only)",
                .help = "Generate a new signing key and sign every new access token with it. The\n"
                        "old public key stays in the JWKS until every token it signed has expired,\n"
                        "so tokens already handed out keep verifying. Root only.\n",
                .run = ctl_cmd_rotate_key,
        },
        {
                .name = "revoke-key",
                .synopsis = "KID",
                .summary = "stop trusting a signing key at once (root only)",
                .help = "Make the daemon stop trusting the signing key KID at once and for good: it\n"
                        "leaves the JWKS and the state directory, and no token it signed verifies\n"
                        "any more, with the daemon or with 'verify'. For a key that may have been\n"
                        "exposed. When KID is the current key, the daemon first switches to a new\n"
                        "key, which signs from then on. KID is the key id that jwks.json and\n"
                        "'verify' show; one that begins with - goes after --. Root only.\n",
                .run = ctl_cmd_revoke_key,
        },
        {
                .name = "config",
                .synopsis = "get KEY | set KEY VALUE... | unset KEY... [--file FILE] [--no-reload] [--dry-run]",
                .summary = "read or change one setting of the configuration file",
                .help = "Read or change one setting of the configuration file. KEY names it with dots,\n"
                        "e.g. custom_token_policy, defaults.max_refresh_tokens or\n"
                        "clients.desktop.on_expiry. get prints its value as the file has it (a\n"
                        "string without quotes; a group as one 'name = value' line per member)\n"
                        "and exits 1 when the file does not set it. set writes VALUE: true, false\n"
                        "and numbers as they are; [...], (...), {...} and \"...\" as libconfig\n"
                        "syntax; anything else as a string. unset removes the setting, so that\n"
                        "the value from 'defaults' or the built-in one applies.\n"
                        "A change is checked by the daemon's own checker on the whole new file and\n"
                        "written only when valid (errors as FILE:LINE: message, exit 1); the file\n"
                        "is replaced atomically with its comments and layout kept. When the file\n"
                        "was saved by someone else meanwhile, their version is kept and the change\n"
                        "is made again on top of it. Then tokenpolicyd reloads, if it runs and\n"
                        "reads this file. set takes several KEY VALUE pairs and unset several\n"
                        "KEYs: all are made in one write, or none. A VALUE that begins with -\n"
                        "goes after --.\n",
                .options = "  --file FILE    the configuration file (default " TP_DEFAULT_CONFIG ")\n"
                        "  --no-reload    change the file only; do not ask tokenpolicyd to reload\n"
                        "  --dry-run      check the change and report errors; write nothing\n",
                .run = ctl_cmd_config,
        },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

void ctl_error(const char *fmt, ...)
{
        va_list ap;

        fflush(stdout);
        fputs(CTL_PROGRAM ": ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

int ctl_report_usage(const struct ctl_context *ctx, const char *fmt, ...)
{
        va_list ap;

        fflush(stdout);
        fprintf(stderr, CTL_PROGRAM ": %s: ", ctx->command->name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "; see '" CTL_PROGRAM " %s --help'\n", ctx->command->name);
        return CTL_EXIT_USAGE;
}

int ctl_report_option_error(const struct ctl_context *ctx, char **argv, int opt)
{
        /* optopt names a short option; for a long one getopt leaves it 0
         * (unknown) and argv[optind - 1] is the offending word. */
        if (opt == ':') {
                if (optopt > 0 && optopt < 0x100)
                        return ctl_report_usage(ctx, "option -%c needs a value", optopt);
                return ctl_report_usage(ctx, "option %s needs a value", argv[optind - 1]);
        }
        if (optopt > 0 && optopt < 0x100)
                return ctl_report_usage(ctx, "unknown option -%c", optopt);
        return ctl_report_usage(ctx, "unknown option %s", argv[optind - 1]);
}

int ctl_command_help(const struct ctl_context *ctx)
{
        const struct ctl_command *cmd = ctx->command;

        printf("Usage: " CTL_PROGRAM " %s%s%s%s\n\n%s\nOptions:\n%s",
               cmd->offline ? "" : "[--socket PATH] ", cmd->name, cmd->synopsis[0] ? " " : "",
               cmd->synopsis, cmd->help, cmd->options ? cmd->options : "");
        if (!cmd->offline)
                printf("  --socket PATH  the daemon's socket (default $" CTL_SOCKET_ENV ", else\n"
                       "                 " TP_DEFAULT_SOCKET ")\n");
        printf("  -h, --help     show this help\n");
        return CTL_EXIT_OK;
}

int ctl_parse_options(struct ctl_context *ctx, int argc, char **argv,
                      const struct ctl_options *o, void *userdata)
{
        struct option options[CTL_COMMAND_OPTIONS_MAX + 3] = {
                { "help", no_argument, NULL, 'h' },
                { "socket", required_argument, NULL, CTL_OPT_SOCKET },
        };
        size_t n = ctx->command->offline ? 1 : 2, i;
        int c, r;

        for (i = 0; o && o->options && o->options[i].name; i++) {
                assert(i < CTL_COMMAND_OPTIONS_MAX);
                options[n++] = o->options[i];
        }
        options[n] = (struct option){};

        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        return ctl_command_help(ctx);
                case CTL_OPT_SOCKET:
                        ctx->socket_arg = optarg;
                        break;
                case '?':
                case ':':
                        return ctl_report_option_error(ctx, argv, c);
                default:
                        if ((r = o->handle(ctx, c, userdata)) != 0)
                                return r;
                        break;
                }
        }
        if (o && o->check && (r = o->check(ctx, userdata)) != 0)
                return r;
        if (ctx->socket_arg && ctx->socket_arg[0] == '\0')
                return ctl_report_usage(ctx, "--socket needs a path");
        if (!(o && o->arguments) && (r = ctl_check_no_arguments(ctx, argc, argv, optind)) != 0)
                return r;
        return CTL_OPTIONS_PARSED;
}

static int handle_json_option(struct ctl_context *ctx, int opt, void *userdata)
{
        bool *json = userdata;

        (void) ctx;
        (void) opt;
        *json = true;
        return 0;
}

int ctl_parse_json_option(struct ctl_context *ctx, int argc, char **argv, bool *ret_json)
{
        static const struct option json_option[] = {
                { "json", no_argument, NULL, CTL_OPT_JSON },
                {},
        };
        static const struct ctl_options options = {
                .options = json_option,
                .handle = handle_json_option,
        };

        *ret_json = false;
        return ctl_parse_options(ctx, argc, argv, &options, ret_json);
}

int ctl_check_no_arguments(const struct ctl_context *ctx, int argc, char **argv, int first)
{
        if (first < argc)
                return ctl_report_usage(ctx, "unexpected argument '%s'", argv[first]);
        return 0;
}

int ctl_check_field(const struct ctl_context *ctx, const char *what, const char *s,
                    size_t fieldsz)
{
        if (s[0] == '\0')
                return ctl_report_usage(ctx, "%s must not be empty", what);
        if (strlen(s) >= fieldsz)
                return ctl_report_usage(ctx, "%s is too long (at most %zu bytes)", what,
                                        fieldsz - 1);
        return 0;
}

static void print_global_help(void)
{
        size_t i;

        printf("Usage: " CTL_PROGRAM " [--socket PATH] COMMAND [OPTIONS]\n"
               "       " CTL_PROGRAM " verify TOKEN [--key FILE | --state-dir DIR] [--issuer NAME] [--offline]\n"
               "\n"
               "Inspect and control tokenpolicyd, the per-client-type sign-in policy daemon.\n"
               "\n"
               "Commands:\n");
        for (i = 0; i < N_COMMANDS; i++) {
                const struct ctl_command *cmd = &commands[i];
                int w;

                w = printf("  %s%s%s", cmd->name, cmd->synopsis[0] ? " " : "", cmd->synopsis);
                if (w > 30)
                        printf("\n%32s%s\n", "", cmd->summary);
                else
                        printf("%*s%s\n", 32 - w, "", cmd->summary);
        }
        printf("\n"
               "Options:\n"
               "  --socket PATH  the daemon's socket (default $" CTL_SOCKET_ENV ", else\n"
               "                 " TP_DEFAULT_SOCKET ")\n"
               "  -h, --help     show this help; '" CTL_PROGRAM " COMMAND --help' for a command\n"
               "  --version      show the version\n"
               "\n"
               "Exit status: 0 success; 1 denied, invalid or not found; 2 usage error;\n"
               "3 tokenpolicyd unreachable.\n");
}

static const struct ctl_command *find_command(const char *name)
{
        size_t i;

        for (i = 0; i < N_COMMANDS; i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, CTL_OPT_VERSION },
                { "socket", required_argument, NULL, CTL_OPT_SOCKET },
                {},
        };
        struct ctl_context ctx = {};
        int c, r;

        /* Stop at the command: what follows belongs to it. */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        print_global_help();
                        return ctl_finish_output();
                case CTL_OPT_VERSION:
                        printf(CTL_PROGRAM " " TP_VERSION "\n");
                        return ctl_finish_output();
                case CTL_OPT_SOCKET:
                        ctx.socket_arg = optarg;
                        break;
                case ':':
                        ctl_error("option %s needs a value; run '" CTL_PROGRAM " --help'",
                                  argv[optind - 1]);
                        return CTL_EXIT_USAGE;
                default:
                        if (optopt > 0 && optopt < 0x100)
                                ctl_error("unknown option -%c; run '" CTL_PROGRAM " --help'",
                                          optopt);
                        else
                                ctl_error("unknown option %s; run '" CTL_PROGRAM " --help'",
                                          argv[optind - 1]);
                        return CTL_EXIT_USAGE;
                }
        }

        if (ctx.socket_arg && ctx.socket_arg[0] == '\0') {
                ctl_error("--socket needs a path");
                return CTL_EXIT_USAGE;
        }
        if (optind >= argc) {
                ctl_error("no command given; run '" CTL_PROGRAM " --help' for the list");
                return CTL_EXIT_USAGE;
        }
        ctx.command = find_command(argv[optind]);
        if (!ctx.command) {
                ctl_error("unknown command '%s'; run '" CTL_PROGRAM " --help' for the list",
                          argv[optind]);
                return CTL_EXIT_USAGE;
        }

        /* The command parses its own options from its name on; optind = 0
         * makes getopt start over, dropping the '+' mode used above. */
        argc -= optind;
        argv += optind;
        optind = 0;
        r = ctx.command->run(&ctx, argc, argv);
        if (r != CTL_EXIT_OK)
                return r;
        return ctl_finish_output();
}
