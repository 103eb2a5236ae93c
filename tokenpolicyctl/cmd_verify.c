/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_verify.c: `tokenpolicyctl verify`: check an access token offline
 * against the daemon's published public key and show its claims.
 *
 * The checking itself is shared with the daemon (shared/): the token's kid
 * comes from tp_jwt_kid(), the key it names among those the state
 * directory publishes from tp_published_key_find(), the verdict from
 * tp_jwt_verify_pem(); this file only reads the token and reports. It
 * never claims more than it checked: the session's state is asked of
 * tokenpolicyd after the offline checks (unless --offline), and
 * only its answer may fail a token that passed them; no answer leaves the
 * offline result standing. The verdict is printed first, once every check
 * has answered: "valid" and the claims, or "invalid token: why" alone. A
 * retained key whose time has come is refused even when the daemon has not
 * removed it yet. A kid from a token never becomes part of a path unless it
 * is a key id (base64url only).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "io.h"
#include "jose.h"
#include "jwt.h"
#include "keyring.h"
#include "wipe.h"

#define VERIFY_HOST_MAX 256
#define TP_FLEET_KEY_NAME "the fleet's copy of another host's key"

/* Long options of verify alone. */
enum {
        VERIFY_OPT_STATE_DIR = 0x200,
        VERIFY_OPT_ISSUER,
        VERIFY_OPT_OFFLINE,
};

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

/* Without --key: the key the state directory publishes for the token's
 * kid, as the shared keyring code finds it (tp_published_key_find): a
 * retained key whose time has not come, else the current key. Returns 0
 * with the file in path, or an exit status after saying why not. */
/* Fleet mode: the key another host published, as tokenpolicyd copies it
 * to DIR/fleet-keys/KID: its JWK "x" and its issuer, a line each. The key
 * must be the one its kid names. */
static int fleet_key(const char *state_dir, const char *kid, struct tp_keyring **ret_kr,
                     char issuer[VERIFY_HOST_MAX])
{
        char path[PATH_MAX], text[512], *nl, *name;
        uint8_t raw[TP_PUBKEY_RAW_LEN];
        struct tp_keyring *kr = NULL;
        struct tp_pubkey *pk;
        size_t n = 0;
        FILE *f;
        int r;

        if (!tp_kid_valid(kid))
                return -ENOKEY;
        if ((size_t)snprintf(path, sizeof(path), "%s/fleet-keys/%s", state_dir, kid) >= sizeof(path))
                return -ENAMETOOLONG;
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? -ENOKEY : -errno;
        n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[n] = '\0';
        /* "x\nissuer\n" and nothing else */
        nl = strchr(text, '\n');
        if (!nl || strlen(text) != n)
                return -EBADMSG;
        *nl = '\0';
        name = nl + 1;
        nl = strchr(name, '\n');
        if (!nl || nl[1] != '\0' || nl == name || (size_t)(nl - name) >= VERIFY_HOST_MAX)
                return -EBADMSG;
        *nl = '\0';
        if (tp_b64url_decode(text, strlen(text), raw, sizeof(raw), &n) < 0 || n != sizeof(raw))
                return -EBADMSG;
        if ((r = tp_pubkey_from_raw(raw, &pk)) < 0)
                return r;
        if (strcmp(tp_pubkey_kid(pk), kid) != 0) {
                tp_pubkey_free(pk);
                return -EBADMSG;
        }
        if ((r = tp_keyring_new(&kr)) < 0) {
                tp_pubkey_free(pk);
                return r;
        }
        tp_keyring_set_current(kr, pk);
        snprintf(issuer, VERIFY_HOST_MAX, "%s", name);
        *ret_kr = kr;
        return 0;
}

static int choose_key(const struct ctl_context *ctx, const char *state_dir, const char *token,
                      int64_t now, char path[PATH_MAX], struct tp_keyring **ret_fleet,
                      char fleet_issuer[VERIFY_HOST_MAX])
{
        struct tp_published_key key;
        char kid[TP_JWT_KID_MAX], when[CTL_TIME_TEXT];
        int r;

        /* A header that does not parse names no key: the verifier then
         * says what is wrong with it. */
        r = tp_jwt_kid(token, kid);
        if (r == -ENOMEM)
                return ctl_report_oom();
        if (r < 0)
                kid[0] = '\0';
        r = tp_published_key_find(state_dir, kid, now, &key);
        switch (r) {
        case 0:
                memcpy(path, key.path, sizeof(key.path));
                return 0;
        case -EINVAL:
                ctl_error("invalid token: malformed (its kid is not a key id)");
                return CTL_EXIT_FAIL;
        case -ENAMETOOLONG:
                return ctl_report_usage(ctx, "--state-dir is too long");
        case -ENOKEY:
                /* Signed on another host of the fleet? */
                r = fleet_key(state_dir, kid, ret_fleet, fleet_issuer);
                if (r == 0) {
                        path[0] = '\0';
                        return 0;
                }
                if (r != -ENOKEY) {
                        ctl_error("invalid token: signed by key %s, whose copy in %s/fleet-keys cannot be "
                                  "used: %s", kid, state_dir, strerror(-r));
                        return CTL_EXIT_FAIL;
                }
                ctl_error("invalid token: signed by key %s, which %s publishes neither as its "
                          "current key nor as a retained one, nor as a key of another host of its fleet",
                          kid, state_dir);
                return CTL_EXIT_FAIL;
        case -EKEYEXPIRED:
                /* The daemon drops a retained key at its time; it may not
                 * have run since. */
                ctl_format_time(key.until, false, when);
                ctl_error("invalid token: signed by key %s, which %s kept for old "
                          "tokens only until %s", kid, state_dir, when);
                return CTL_EXIT_FAIL;
        default:
                ctl_error("invalid token: signed by key %s, whose record in %s/"
                          TP_TOKEN_KEYS_DIR " cannot be used: %s", kid, state_dir, strerror(-r));
                return CTL_EXIT_FAIL;
        }
}

/* iss must name the expected issuer: --issuer, else this host, as the
 * daemon names itself (gethostname). */
static int check_issuer(const struct tp_jwt_claims *cl, const char *issuer)
{
        char host[VERIFY_HOST_MAX] = "";

        if (issuer) {
                if (strcmp(cl->iss, issuer) == 0)
                        return CTL_EXIT_OK;
                ctl_error("invalid token: issuer %s is not %s (--issuer)", cl->iss, issuer);
                return CTL_EXIT_FAIL;
        }
        if (gethostname(host, sizeof(host) - 1) < 0) {
                ctl_error("cannot tell this host's name to check the issuer: %s; give it with "
                          "--issuer", strerror(errno));
                return CTL_EXIT_FAIL;
        }
        if (strcmp(cl->iss, host) == 0)
                return CTL_EXIT_OK;
        ctl_error("invalid token: issuer %s is not this host (%s)", cl->iss, host);
        return CTL_EXIT_FAIL;
}

/* What tokenpolicyd said of a token's session, for after the claims. */
struct session_check {
        int unreachable;         /* the negative errno when no answer came, else 0 */
        int64_t refresh_expires; /* of the active session; 0: its state is not known */
        char why[TP_MESSAGE_MAX]; /* the daemon's words when it could not know */
};

/* After the offline check passed, before anything is printed: ask
 * tokenpolicyd whether the token's session is still active. Its answer
 * decides the verdict: CTL_EXIT_OK with the session in *sc, or CTL_EXIT_FAIL
 * after printing why the token is invalid. When no answer comes, the
 * offline result stands (CTL_EXIT_OK, sc->unreachable set). The request
 * holds the token and is wiped after use. */
static int check_session(const struct ctl_context *ctx, const char *token, struct session_check *sc)
{
        struct tp_request req = { .type = TP_REQ_VERIFY };
        struct tp_reply *rep;
        int r;

        /* The daemon never signs a token this long (tp_jwt_sign refuses). */
        if (strlen(token) >= sizeof(req.u.verify.token)) {
                ctl_error("invalid token: longer than tokenpolicyd accepts (%zu bytes at most)",
                          sizeof(req.u.verify.token) - 1);
                return CTL_EXIT_FAIL;
        }
        rep = ctl_reply_new();
        if (!rep)
                return ctl_report_oom();
        strcpy(req.u.verify.token, token);
        r = tp_io_call(ctl_socket_path(ctx), CTL_TIMEOUT_MS, &req, rep);
        tp_secret_wipe(&req, sizeof(req));
        if (r < 0) {
                sc->unreachable = r;
                r = CTL_EXIT_OK;
                goto out;
        }
        if (rep->status != TP_STATUS_OK) {
                ctl_error("invalid token: rejected by tokenpolicyd: %s",
                          rep->message[0] ? rep->message : tp_status_name(rep->status));
                r = CTL_EXIT_FAIL;
                goto out;
        }
        sc->refresh_expires = rep->u.verify.refresh_expires;
        /* A fleet's daemon that cannot reach its database knows the token
         * but not the session's state; it says so. */
        if (sc->refresh_expires == 0)
                snprintf(sc->why, sizeof(sc->why), "%s", rep->message);
        r = CTL_EXIT_OK;
out:
        ctl_reply_free(rep);
        return r;
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

struct verify_options {
        const char *key;
        const char *state_dir;
        const char *issuer;
        bool offline;
};

static int handle_verify_option(struct ctl_context *ctx, int opt, void *userdata)
{
        struct verify_options *o = userdata;

        (void) ctx;
        switch (opt) {
        case CTL_OPT_KEY:
                o->key = optarg;
                break;
        case VERIFY_OPT_STATE_DIR:
                o->state_dir = optarg;
                break;
        case VERIFY_OPT_ISSUER:
                o->issuer = optarg;
                break;
        default:
                o->offline = true;
                break;
        }
        return 0;
}

static int check_verify_options(struct ctl_context *ctx, void *userdata)
{
        const struct verify_options *o = userdata;

        if (o->key && o->key[0] == '\0')
                return ctl_report_usage(ctx, "--key needs a file name");
        if (o->state_dir && o->state_dir[0] == '\0')
                return ctl_report_usage(ctx, "--state-dir needs a directory");
        if (o->key && o->state_dir)
                return ctl_report_usage(ctx, "give --key or --state-dir, not both");
        if (o->issuer && o->issuer[0] == '\0')
                return ctl_report_usage(ctx, "--issuer needs a host name");
        return 0;
}

int ctl_cmd_verify(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option verify_options[] = {
                { "key", required_argument, NULL, CTL_OPT_KEY },
                { "state-dir", required_argument, NULL, VERIFY_OPT_STATE_DIR },
                { "issuer", required_argument, NULL, VERIFY_OPT_ISSUER },
                { "offline", no_argument, NULL, VERIFY_OPT_OFFLINE },
                {},
        };
        static const struct ctl_options options = {
                .options = verify_options,
                .handle = handle_verify_option,
                .check = check_verify_options,
                .arguments = true,
        };
        static char stdin_token[TP_TOKEN_MAX + 1];
        char fleet_issuer[VERIFY_HOST_MAX] = "";
        struct tp_keyring *fleet = NULL;
        static char key_path[PATH_MAX];
        struct verify_options o = {};
        struct tp_jwt_claims claims = {};
        struct session_check session = {};
        char expires[CTL_WHEN_TEXT];
        const char *key, *token, *reason;
        int64_t now;
        int r;

        if ((r = ctl_parse_options(ctx, argc, argv, &options, &o)) != CTL_OPTIONS_PARSED)
                return r;
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

        key = o.key;
        now = time(NULL);
        if (!key) {
                r = choose_key(ctx, o.state_dir ? o.state_dir : TP_DEFAULT_STATE_DIR, token,
                               now, key_path, &fleet, fleet_issuer);
                if (r != 0) {
                        tp_secret_wipe(stdin_token, sizeof(stdin_token));
                        return r;
                }
                key = fleet ? TP_FLEET_KEY_NAME : key_path;
        }
        if (fleet) {
                r = tp_jwt_verify(fleet, token, now, &claims);
                tp_keyring_free(fleet);
                fleet = NULL;
        } else {
                r = tp_jwt_verify_pem(key, token, now, &claims);
        }
        if (r < 0) {
                reason = verify_failure(r);
                if (reason)
                        ctl_error("invalid token: %s", reason);
                else
                        ctl_error("cannot check the token with public key %s: %s; give the "
                                  "daemon's state directory with --state-dir or its public key "
                                  "with --key",
                                  key, strerror(-r));
                r = CTL_EXIT_FAIL;
                goto out;
        }
        /* A fleet key is good for its own host's tokens only. */
        if ((r = check_issuer(&claims, o.issuer ? o.issuer : fleet_issuer[0] ? fleet_issuer : NULL)) !=
            CTL_EXIT_OK)
                goto out;
        if (!o.offline && (r = check_session(ctx, token, &session)) != CTL_EXIT_OK)
                goto out;

        if (print_claims(&claims, now) < 0) {
                r = ctl_report_oom();
                goto out;
        }
        /* r is CTL_EXIT_OK: every check passed or went unanswered. */
        if (!o.offline && session.unreachable) {
                fflush(stdout);
                fprintf(stderr, "session: not checked (tokenpolicyd unreachable: %s: %s)\n",
                        ctl_socket_path(ctx), strerror(-session.unreachable));
        } else if (!o.offline && session.refresh_expires == 0) {
                fflush(stdout);
                fprintf(stderr, "session: not checked (%s)\n", session.why);
        } else if (!o.offline) {
                ctl_format_time_relative(session.refresh_expires, now, expires);
                printf("session: active (refresh expires %s)\n", expires);
        }
out:
        tp_secret_wipe(stdin_token, sizeof(stdin_token));
        return r;
}
