/* SPDX-License-Identifier: BSD-3-Clause */
/* tp-pam.c: drive real PAM transactions through libpam for tests and the
 * demo. Uses pam_start_confdir() so a private service directory replaces
 * /etc/pam.d and no root or preload is needed.
 *
 *   tp-pam --confdir DIR --service NAME --user USER [--user USER2]...
 *          [--rhost H] [--tty T] [--json] [--ignore-hup] [--env-out FILE]
 *          [--pam-env NAME=VALUE]... OP...
 *   OP: auth | acct | open | close | establish-cred | reauth | refresh-cred | hold
 *       | user=NAME
 *
 * "user=NAME" sets PAM_USER in the middle of the transaction, as sudo does
 * between authenticating its caller and opening the target's session.
 *
 * --ignore-hup ignores SIGHUP, as a session leader that does not end on
 * it would (then only SIGTERM or SIGKILL ends a held process).
 *
 * Several --user options make this one process the PAM application of
 * several handles, one per user, as a PAM gateway or a mail server with
 * sessions would be: each OP runs on every handle in turn ("hold" once),
 * and --json prints {"handles":[REPORT, ...]} instead of one REPORT.
 *
 * "hold" keeps the process (and so the session leader) alive until stdin
 * reaches end of file; with --json it first prints the report so far as
 * one line, so a caller knows the session is up. A signal that ends a held
 * process (the daemon ending its session) ends tp-pam with it. Prints each step's PAM result, every conversation
 * message and the exported TOKENPOLICY_* environment; --json prints one
 * JSON object instead; --env-out writes the TOKENPOLICY_* variables to FILE
 * as NAME=VALUE lines. --pam-env puts a variable into the PAM environment
 * first, as an earlier module would (pam_systemd's XDG_SESSION_ID). Exits 0 when every step returned PAM_SUCCESS.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <security/pam_appl.h>

#define MAX_MESSAGES 64

struct captured {
        int style[MAX_MESSAGES];
        char *text[MAX_MESSAGES];
        int n;
};

static bool json;

static int conversation(int n, const struct pam_message **msgs, struct pam_response **resp, void *data)
{
        struct captured *cap = data;
        struct pam_response *r = calloc((size_t)n, sizeof(*r));

        if (!r)
                return PAM_BUF_ERR;
        for (int i = 0; i < n; i++) {
                if (cap->n < MAX_MESSAGES) {
                        cap->style[cap->n] = msgs[i]->msg_style;
                        cap->text[cap->n] = strdup(msgs[i]->msg ? msgs[i]->msg : "");
                        cap->n++;
                }
                if (!json)
                        printf("  %s: %s\n", msgs[i]->msg_style == PAM_ERROR_MSG ? "error" : "info",
                               msgs[i]->msg ? msgs[i]->msg : "");
        }
        *resp = r;
        return PAM_SUCCESS;
}

static void json_string(const char *s)
{
        putchar('"');
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;

                if (c == '"' || c == '\\')
                        printf("\\%c", c);
                else if (c < 0x20)
                        printf("\\u%04x", c);
                else
                        putchar(c);
        }
        putchar('"');
}

static const char *code_name(int r)
{
        switch (r) {
        case PAM_SUCCESS: return "PAM_SUCCESS";
        case PAM_PERM_DENIED: return "PAM_PERM_DENIED";
        case PAM_SESSION_ERR: return "PAM_SESSION_ERR";
        case PAM_CRED_EXPIRED: return "PAM_CRED_EXPIRED";
        case PAM_CRED_ERR: return "PAM_CRED_ERR";
        case PAM_CRED_UNAVAIL: return "PAM_CRED_UNAVAIL";
        case PAM_USER_UNKNOWN: return "PAM_USER_UNKNOWN";
        case PAM_SERVICE_ERR: return "PAM_SERVICE_ERR";
        case PAM_IGNORE: return "PAM_IGNORE";
        case PAM_AUTH_ERR: return "PAM_AUTH_ERR";
        case PAM_BUF_ERR: return "PAM_BUF_ERR";
        default: return "PAM_OTHER";
        }
}

static void usage(void)
{
        fprintf(stderr, "usage: tp-pam --confdir DIR --service NAME --user USER [--user USER]... [--rhost H] [--tty T] [--json] [--ignore-hup] [--env-out FILE] [--pam-env NAME=VALUE]... OP...\n"
                        "  OP: auth | acct | open | close | establish-cred | reauth | refresh-cred | hold\n"
                        "      | user=NAME\n");
        exit(2);
}

/* One JSON object: the steps done so far, the messages, the TOKENPOLICY_*
 * environment. */
static void report_json_object(pam_handle_t *pamh, const char *const *steps, const int *codes,
                               int n_done, const struct captured *cap)
{
        char **env = pam_getenvlist(pamh);

        printf("{\"steps\":[");
        for (int j = 0; j < n_done; j++) {
                printf("%s{\"op\":", j ? "," : "");
                json_string(steps[j]);
                printf(",\"result\":\"%s\",\"code\":%d}", code_name(codes[j]), codes[j]);
        }
        printf("],\"messages\":[");
        for (int j = 0; j < cap->n; j++) {
                printf("%s{\"style\":\"%s\",\"text\":", j ? "," : "",
                       cap->style[j] == PAM_ERROR_MSG ? "error" : "info");
                json_string(cap->text[j]);
                putchar('}');
        }
        printf("],\"env\":{");
        for (int j = 0, k = 0; env && env[j]; j++) {
                char *eq = strchr(env[j], '=');

                if (strncmp(env[j], "TOKENPOLICY_", 12) == 0 && eq) {
                        *eq = '\0';
                        printf("%s", k++ ? "," : "");
                        json_string(env[j]);
                        putchar(':');
                        json_string(eq + 1);
                }
        }
        printf("}}");
        for (int j = 0; env && env[j]; j++)
                free(env[j]);
        free(env);
}

#define MAX_HANDLES 8
#define MAX_STEPS 32

struct handle {
        const char *user;
        pam_handle_t *pamh;
        struct captured cap;
        struct pam_conv conv;
        int codes[MAX_STEPS];
        int n_done;
        bool ok, stopped;   /* stopped: acct failed, no further steps */
};

static bool all_stopped(const struct handle *h, int n_handles)
{
        for (int k = 0; k < n_handles; k++)
                if (!h[k].stopped)
                        return false;
        return true;
}

/* One JSON line: one handle's report, or {"handles":[...]} for several. */
static void report_json(struct handle *h, int n_handles, const char *const *steps)
{
        if (n_handles > 1)
                printf("{\"handles\":[");
        for (int i = 0; i < n_handles; i++) {
                printf("%s", i ? "," : "");
                report_json_object(h[i].pamh, steps, h[i].codes, h[i].n_done, &h[i].cap);
        }
        printf(n_handles > 1 ? "]}\n" : "\n");
        fflush(stdout);
}

static void report_text(pam_handle_t *pamh)
{
        const char *v;

        if ((v = pam_getenv(pamh, "TOKENPOLICY_SESSION_ID")))
                printf("  TOKENPOLICY_SESSION_ID=%s\n", v);
        if ((v = pam_getenv(pamh, "TOKENPOLICY_CLIENT")))
                printf("  TOKENPOLICY_CLIENT=%s\n", v);
        if ((v = pam_getenv(pamh, "TOKENPOLICY_ACCESS_TOKEN")))
                printf("  TOKENPOLICY_ACCESS_TOKEN=%.40s...\n", v);
}

static void write_env_file(pam_handle_t *pamh, const char *path)
{
        char **env = pam_getenvlist(pamh);
        FILE *f = fopen(path, "w");

        for (int j = 0; f && env && env[j]; j++)
                if (strncmp(env[j], "TOKENPOLICY_", 12) == 0)
                        fprintf(f, "%s\n", env[j]);
        if (f)
                fclose(f);
        for (int j = 0; env && env[j]; j++)
                free(env[j]);
        free(env);
}

static int run_step(pam_handle_t *pamh, const char *op)
{
        char buf[64];

        if (strcmp(op, "auth") == 0)
                return pam_authenticate(pamh, 0);
        if (strcmp(op, "acct") == 0)
                return pam_acct_mgmt(pamh, 0);
        if (strcmp(op, "open") == 0)
                return pam_open_session(pamh, 0);
        if (strcmp(op, "close") == 0)
                return pam_close_session(pamh, 0);
        if (strcmp(op, "establish-cred") == 0)
                return pam_setcred(pamh, PAM_ESTABLISH_CRED);
        if (strncmp(op, "user=", 5) == 0)
                return pam_set_item(pamh, PAM_USER, op + 5);
        if (strcmp(op, "reauth") == 0)
                return pam_setcred(pamh, PAM_REINITIALIZE_CRED);
        if (strcmp(op, "refresh-cred") == 0)
                return pam_setcred(pamh, PAM_REFRESH_CRED);
        if (strcmp(op, "hold") == 0) {
                while (read(0, buf, sizeof(buf)) > 0)
                        ;
                return PAM_SUCCESS;
        }
        usage();
        return PAM_SYSTEM_ERR;
}

int main(int argc, char **argv)
{
        const char *env_out = NULL;
        const char *confdir = NULL, *service = NULL, *rhost = NULL, *tty = NULL;
        const char *steps[MAX_STEPS], *pam_env[8];
        static struct handle h[MAX_HANDLES];
        int n_steps = 0, n_env = 0, n_handles = 0, i, r;
        bool ok = true;

        for (i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--json") == 0)
                        json = true;
                else if (strcmp(argv[i], "--ignore-hup") == 0)
                        signal(SIGHUP, SIG_IGN);
                else if (i + 1 < argc && strcmp(argv[i], "--pam-env") == 0 && n_env < 8)
                        pam_env[n_env++] = argv[++i];
                else if (i + 1 < argc && strcmp(argv[i], "--env-out") == 0)
                        env_out = argv[++i];
                else if (i + 1 < argc && strcmp(argv[i], "--confdir") == 0)
                        confdir = argv[++i];
                else if (i + 1 < argc && strcmp(argv[i], "--service") == 0)
                        service = argv[++i];
                else if (i + 1 < argc && strcmp(argv[i], "--user") == 0 && n_handles < MAX_HANDLES)
                        h[n_handles++].user = argv[++i];
                else if (i + 1 < argc && strcmp(argv[i], "--rhost") == 0)
                        rhost = argv[++i];
                else if (i + 1 < argc && strcmp(argv[i], "--tty") == 0)
                        tty = argv[++i];
                else if (argv[i][0] == '-')
                        usage();
                else if (n_steps < MAX_STEPS)
                        steps[n_steps++] = argv[i];
        }
        if (!confdir || !service || n_handles == 0 || n_steps == 0)
                usage();

        for (int k = 0; k < n_handles; k++) {
                h[k].conv = (struct pam_conv){ conversation, &h[k].cap };
                h[k].ok = true;
                r = pam_start_confdir(service, h[k].user, &h[k].conv, confdir, &h[k].pamh);
                if (r != PAM_SUCCESS) {
                        fprintf(stderr, "tp-pam: pam_start_confdir failed: %d\n", r);
                        return 1;
                }
                if (rhost)
                        pam_set_item(h[k].pamh, PAM_RHOST, rhost);
                if (tty)
                        pam_set_item(h[k].pamh, PAM_TTY, tty);
                for (int j = 0; j < n_env; j++)
                        pam_putenv(h[k].pamh, pam_env[j]);
        }

        for (i = 0; i < n_steps; i++) {
                const char *op = steps[i];

                if (strcmp(op, "hold") == 0) {
                        if (env_out)
                                write_env_file(h[0].pamh, env_out);
                        if (json)
                                report_json(h, n_handles, steps);
                        fflush(stdout);
                }
                for (int k = 0; k < n_handles; k++) {
                        if (h[k].stopped)
                                continue;
                        if (!json)
                                printf("%s %s (%s):\n", service, op, h[k].user);
                        /* "hold" waits once for all handles. */
                        r = strcmp(op, "hold") == 0 && k > 0 ? PAM_SUCCESS : run_step(h[k].pamh, op);
                        h[k].codes[h[k].n_done++] = r;
                        if (r != PAM_SUCCESS)
                                h[k].ok = ok = false;
                        if (!json)
                                printf("  -> %s\n", code_name(r));
                        fflush(stdout);
                        if (r != PAM_SUCCESS && strcmp(op, "acct") == 0)
                                h[k].stopped = true;
                }
                if (all_stopped(h, n_handles))
                        break;
        }
        if (json)
                report_json(h, n_handles, steps);
        for (int k = 0; k < n_handles; k++) {
                if (!json)
                        report_text(h[k].pamh);
                if (env_out && k == 0)
                        write_env_file(h[k].pamh, env_out);
                pam_end(h[k].pamh, h[k].ok ? PAM_SUCCESS : PAM_SYSTEM_ERR);
                for (int j = 0; j < h[k].cap.n; j++)
                        free(h[k].cap.text[j]);
        }
        return ok ? 0 : 1;
}
