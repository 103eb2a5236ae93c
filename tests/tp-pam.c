/* tp-pam.c: drive real PAM transactions through libpam for tests and the
 * demo. Uses pam_start_confdir() so a private service directory replaces
 * /etc/pam.d and no root or preload is needed.
 *
 *   tp-pam --confdir DIR --service NAME --user USER [--rhost H] [--tty T]
 *          [--json] [--env-out FILE] [--pam-env NAME=VALUE]... OP...
 *   OP: auth | acct | open | close | establish-cred | reauth | refresh-cred | hold
 *       | user=NAME
 *
 * "user=NAME" sets PAM_USER in the middle of the transaction, as sudo does
 * between authenticating its caller and opening the target's session.
 * "hold" keeps the process (and so the session leader) alive until stdin
 * reaches end of file; with --json it first prints the report so far as
 * one line, so a caller knows the session is up. A signal that ends a held
 * process (the daemon ending its session) ends tp-pam with it. Prints each step's PAM result, every conversation
 * message and the exported TOKENPOLICY_* environment; --json prints one
 * JSON object instead; --env-out writes the TOKENPOLICY_* variables to FILE
 * as NAME=VALUE lines. --pam-env puts a variable into the PAM environment
 * first, as an earlier module would (pam_systemd's XDG_SESSION_ID). Exits 0 when every step returned PAM_SUCCESS.
 */
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
        fprintf(stderr, "usage: tp-pam --confdir DIR --service NAME --user USER [--rhost H] [--tty T] [--json] [--env-out FILE] [--pam-env NAME=VALUE]... OP...\n"
                        "  OP: auth | acct | open | close | establish-cred | reauth | refresh-cred | hold\n"
                        "      | user=NAME\n");
        exit(2);
}

/* One JSON line: the steps done so far, the messages, the TOKENPOLICY_*
 * environment. */
static void report_json(pam_handle_t *pamh, const char *const *steps, const int *codes, int n_done,
                        const struct captured *cap)
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
        printf("}}\n");
        fflush(stdout);
        for (int j = 0; env && env[j]; j++)
                free(env[j]);
        free(env);
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
        const char *confdir = NULL, *service = NULL, *user = NULL, *rhost = NULL, *tty = NULL;
        struct captured cap = { 0 };
        struct pam_conv conv = { conversation, &cap };
        const char *steps[32], *pam_env[8];
        int codes[32], n_steps = 0, n_done = 0, n_env = 0, i, r;
        pam_handle_t *pamh = NULL;
        bool ok = true;

        for (i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--json") == 0)
                        json = true;
                else if (i + 1 < argc && strcmp(argv[i], "--pam-env") == 0 && n_env < 8)
                        pam_env[n_env++] = argv[++i];
                else if (i + 1 < argc && strcmp(argv[i], "--env-out") == 0)
                        env_out = argv[++i];
                else if (i + 1 < argc && strcmp(argv[i], "--confdir") == 0)
                        confdir = argv[++i];
                else if (i + 1 < argc && strcmp(argv[i], "--service") == 0)
                        service = argv[++i];
                else if (i + 1 < argc && strcmp(argv[i], "--user") == 0)
                        user = argv[++i];
                else if (i + 1 < argc && strcmp(argv[i], "--rhost") == 0)
                        rhost = argv[++i];
                else if (i + 1 < argc && strcmp(argv[i], "--tty") == 0)
                        tty = argv[++i];
                else if (argv[i][0] == '-')
                        usage();
                else if (n_steps < 32)
                        steps[n_steps++] = argv[i];
        }
        if (!confdir || !service || !user || n_steps == 0)
                usage();

        r = pam_start_confdir(service, user, &conv, confdir, &pamh);
        if (r != PAM_SUCCESS) {
                fprintf(stderr, "tp-pam: pam_start_confdir failed: %d\n", r);
                return 1;
        }
        if (rhost)
                pam_set_item(pamh, PAM_RHOST, rhost);
        if (tty)
                pam_set_item(pamh, PAM_TTY, tty);
        for (int j = 0; j < n_env; j++)
                pam_putenv(pamh, pam_env[j]);

        for (i = 0; i < n_steps; i++) {
                const char *op = steps[i];

                if (!json)
                        printf("%s %s (%s):\n", service, op, user);
                if (strcmp(op, "hold") == 0) {
                        if (env_out)
                                write_env_file(pamh, env_out);
                        if (json)
                                report_json(pamh, steps, codes, n_done, &cap);
                        fflush(stdout);
                }
                r = run_step(pamh, op);
                codes[n_done++] = r;
                if (r != PAM_SUCCESS)
                        ok = false;
                if (!json)
                        printf("  -> %s\n", code_name(r));
                fflush(stdout);
                if (r != PAM_SUCCESS && strcmp(op, "acct") == 0)
                        break;
        }
        if (json)
                report_json(pamh, steps, codes, n_done, &cap);
        else
                report_text(pamh);
        if (env_out)
                write_env_file(pamh, env_out);
        pam_end(pamh, ok ? PAM_SUCCESS : PAM_SYSTEM_ERR);
        for (int j = 0; j < cap.n; j++)
                free(cap.text[j]);
        return ok ? 0 : 1;
}
