/* SPDX-License-Identifier: BSD-3-Clause */
/* pam_tokenpolicy.c: the PAM entry points.
 *
 * Thin by design: no OpenSSL, no libconfig, no threads, no policy. Each
 * entry point gathers the PAM items, asks tokenpolicyd one question over its
 * Unix socket within timeout= milliseconds (common/io.c), on the handle's
 * one connection (struct link), and maps the
 * answer to a PAM code and a message for the user. It sends nothing to a
 * socket or a peer that is not root's (trust_uid= only for tests). When the
 * daemon cannot be reached or trusted the module applies fail= and logs why.
 *
 * Two things never depend on the daemon: a service that the service map
 * (common/svcmap.c, written by the daemon next to its socket, or after a
 * reboot its copy in the daemon's state directory) shows to be of no
 * client type is left alone under unmapped=ignore without a request,
 * and root is never refused unless even_deny_root is given. The refresh
 * token is kept only in PAM data (wiped when the handle ends), never in
 * the environment or a log. A re-authentication renews only the session
 * this handle knows, for the user this handle authenticated.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>

#include "io.h"
#include "paths.h"
#include "proto.h"
#include "svcmap.h"
#include "wipe.h"

#define DEFAULT_TIMEOUT_MS 3000
#define DATA_SESSION "pam_tokenpolicy_session_id"
#define DATA_REFRESH "pam_tokenpolicy_refresh_token"
/* The user this handle's auth stack reached the module for; see
 * pam_sm_authenticate. */
#define DATA_AUTHENTICATED "pam_tokenpolicy_authenticated"
/* The handle's connection to the daemon, and the sign-in to report when
 * the handle ends; see struct link. */
#define DATA_LINK "pam_tokenpolicy_link"

struct options {
        const char *socket;
        const char *map; /* the service map's copy that outlives a reboot, or NULL */
        const char *client;
        int timeout_ms;
        uid_t trust_uid; /* the daemon's socket and process belong to this uid */
        bool fail_open;
        bool unmapped_ignore; /* unmapped=ignore: services of no client type are not ours */
        bool even_deny_root;  /* apply the policy to root too (as pam_faillock's option) */
        bool debug;
        bool silent;    /* PAM_SILENT: no messages to the user */
};

static void parse_options(pam_handle_t *pamh, int flags, int argc, const char **argv,
                          struct options *o)
{
        o->silent = (flags & PAM_SILENT) != 0;
        o->socket = TP_DEFAULT_SOCKET;
        o->map = NULL;
        o->client = "";
        o->timeout_ms = DEFAULT_TIMEOUT_MS;
        o->trust_uid = 0;
        o->fail_open = false;
        o->unmapped_ignore = false;
        o->even_deny_root = false;
        o->debug = false;

        for (int i = 0; i < argc; i++) {
                const char *a = argv[i];

                if (strncmp(a, "socket=", 7) == 0 && a[7] == '/') {
                        o->socket = a + 7;
                } else if (strncmp(a, "map=", 4) == 0 && a[4] == '/') {
                        o->map = a + 4;
                } else if (strncmp(a, "client=", 7) == 0 && a[7] && strlen(a + 7) < TP_CLIENT_MAX) {
                        o->client = a + 7;
                } else if (strncmp(a, "timeout=", 8) == 0) {
                        char *end;
                        long v;

                        errno = 0;
                        v = strtol(a + 8, &end, 10);
                        if (errno || end == a + 8 || *end || v < 1 || v > 600000)
                                pam_syslog(pamh, LOG_ERR,
                                           "bad option '%s' (milliseconds, 1..600000); using %d",
                                           a, DEFAULT_TIMEOUT_MS);
                        else
                                o->timeout_ms = (int)v;
                } else if (strncmp(a, "trust_uid=", 10) == 0) {
                        char *end;
                        unsigned long v;

                        /* A testing aid (a daemon run by an ordinary user);
                         * production stacks trust root only. */
                        errno = 0;
                        v = strtoul(a + 10, &end, 10);
                        if (errno || end == a + 10 || *end || a[10] == '-' || v >= (uid_t)-1)
                                pam_syslog(pamh, LOG_ERR, "bad option '%s' (a numeric uid); trusting root only", a);
                        else
                                o->trust_uid = (uid_t)v;
                } else if (strcmp(a, "fail=closed") == 0) {
                        o->fail_open = false;
                } else if (strcmp(a, "fail=open") == 0) {
                        o->fail_open = true;
                } else if (strcmp(a, "unmapped=ignore") == 0) {
                        o->unmapped_ignore = true;
                } else if (strcmp(a, "unmapped=deny") == 0) {
                        o->unmapped_ignore = false;
                } else if (strcmp(a, "even_deny_root") == 0) {
                        o->even_deny_root = true;
                } else if (strcmp(a, "debug") == 0) {
                        o->debug = true;
                } else {
                        pam_syslog(pamh, LOG_ERR, "unknown or malformed option '%s' ignored", a);
                }
        }
        /* The default copy belongs to the default daemon: another socket's
         * daemon keeps its copy in another state directory. */
        if (!o->map && strcmp(o->socket, TP_DEFAULT_SOCKET) == 0)
                o->map = TP_DEFAULT_STATE_SVCMAP;
}

static void say(pam_handle_t *pamh, const struct options *o, int style, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void say(pam_handle_t *pamh, const struct options *o, int style, const char *fmt, ...)
{
        char text[TP_MESSAGE_MAX + 256];
        va_list ap;

        if (o->silent)
                return;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        pam_prompt(pamh, style, NULL, "%s", text);
}

static int copy_item(pam_handle_t *pamh, int item, char *out, size_t outsz)
{
        const void *v = NULL;

        out[0] = '\0';
        if (pam_get_item(pamh, item, &v) != PAM_SUCCESS || !v)
                return 0;
        if (strlen(v) >= outsz)
                return -ENAMETOOLONG;
        strcpy(out, v);
        return 0;
}

/* PAM_USER, PAM_SERVICE, PAM_RHOST and PAM_TTY into a sign-in request. */
static int fill_signin(pam_handle_t *pamh, const struct options *o, struct tp_req_signin *s)
{
        const char *user = NULL, *xdg;

        if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user || !*user) {
                pam_syslog(pamh, LOG_ERR, "no user name");
                return PAM_USER_UNKNOWN;
        }
        if (strlen(user) >= sizeof(s->user)) {
                pam_syslog(pamh, LOG_ERR, "user name longer than %zu bytes", sizeof(s->user) - 1);
                return PAM_USER_UNKNOWN;
        }
        strcpy(s->user, user);
        if (copy_item(pamh, PAM_SERVICE, s->service, sizeof(s->service)) < 0 ||
            copy_item(pamh, PAM_RHOST, s->rhost, sizeof(s->rhost)) < 0 ||
            copy_item(pamh, PAM_TTY, s->tty, sizeof(s->tty)) < 0) {
                pam_syslog(pamh, LOG_ERR, "a PAM item (service, rhost or tty) is too long");
                return PAM_SERVICE_ERR;
        }
        snprintf(s->client, sizeof(s->client), "%s", o->client);
        xdg = pam_getenv(pamh, "XDG_SESSION_ID");
        if (xdg && strlen(xdg) < sizeof(s->logind_session))
                strcpy(s->logind_session, xdg);
        s->leader_pid = (uint32_t)getpid();
        return PAM_SUCCESS;
}

/* What the service map next to the socket says about this sign-in, or
 * when there is none there (the runtime directory is emptied at boot, and
 * the daemon has not run since), its copy in the daemon's state directory
 * (map=): a TP_SVCMAP_* answer, or 0 when only the daemon can tell
 * (client= given, no map, or one that is not trusted or not well formed,
 * which is logged). A map beside the socket that fails a check is not
 * passed over for the copy: the runtime one describes the running daemon.
 * Without an answer the module asks, as it did before there was a map. */
static int map_lookup(pam_handle_t *pamh, const struct options *o, const struct tp_req_signin *s)
{
        char path[PATH_MAX], why[256] = "", client[TP_CLIENT_MAX];
        const char *where = path;
        char *text;
        ssize_t n;
        int r = 0;

        if (s->client[0] || !s->service[0])
                return 0;
        if (tp_svcmap_path(o->socket, path, sizeof(path)) < 0)
                return 0;
        text = malloc(TP_SVCMAP_SIZE_MAX + 1);
        if (!text)
                return 0;
        n = tp_svcmap_read(path, o->trust_uid, text, TP_SVCMAP_SIZE_MAX + 1, why, sizeof(why));
        if (n == -ENOENT && o->map) {
                if (o->debug)
                        pam_syslog(pamh, LOG_DEBUG, "no service map at %s: reading %s", path, o->map);
                where = o->map;
                n = tp_svcmap_read(where, o->trust_uid, text, TP_SVCMAP_SIZE_MAX + 1, why, sizeof(why));
        }
        if (n == -ENOENT) {
                if (o->debug)
                        pam_syslog(pamh, LOG_DEBUG, "no service map at %s: asking tokenpolicyd", where);
        } else if (n == -EPERM && why[0]) {
                pam_syslog(pamh, LOG_ERR, "not trusting the service map %s: %s", where, why);
        } else if (n < 0) {
                pam_syslog(pamh, LOG_ERR, "cannot read the service map %s: %s", where,
                           n == -EFBIG ? "larger than the format allows" : strerror((int)-n));
        } else if ((r = tp_svcmap_lookup(text, (size_t)n, s->service, client)) < 0) {
                pam_syslog(pamh, LOG_ERR, "the service map %s is not well formed: asking tokenpolicyd", where);
                r = 0;
        } else if (o->debug) {
                pam_syslog(pamh, LOG_DEBUG, "service map %s: %s is %s%s", where, s->service,
                           r == TP_SVCMAP_UNMAPPED ? "of no client type" : "of client type ",
                           r == TP_SVCMAP_UNMAPPED ? "" : client);
        }
        free(text);
        return r;
}

/* One connection to the daemon per PAM handle: the account check, the
 * sign-in, the sign-out and the report of how the sign-in ended share it,
 * so a sign-in costs one connect and one trust check instead of four.
 * The peer was checked when it was made (tp_io_connect_trusted), and a
 * connection carries its peer for as long as it lives. Close-on-exec: the
 * user's programs never inherit it. The daemon closes a connection that
 * stays idle (after 30 s, or sooner to make room for a new one); a
 * request that meets a connection closed (the send fails with EPIPE, or
 * the answer's read meets the end of the stream), before any reply, is sent once more
 * on a new one within the same timeout= (the daemon closes only idle
 * connections, so it never acted on the first). The daemon takes the
 * session leader from the process that made the connection: a process
 * forked from the application after the handle connected makes its own
 * (and closes only its copy of the parent's). */
struct link {
        int fd;                 /* -1: not connected */
        pid_t pid;              /* the process that made fd */
        char *socket;           /* the path fd was made for */
        int timeout_ms;
        uid_t trust_uid;
        /* The sign-in to report when the handle ends; see cleanup_link(). */
        bool outcome_pending;
        bool evicted;           /* the sign-in evicted sessions: a success is worth saying */
        char session_id[TP_SESSION_ID_MAX];
        /* exempt_user()'s answer for this user name */
        bool exempt_known, exempt;
        char exempt_for[TP_USER_MAX];
};

static void link_disconnect(struct link *l)
{
        if (l->fd >= 0)
                close(l->fd);
        l->fd = -1;
}

static void cleanup_link(pam_handle_t *pamh, void *data, int error_status);

/* The handle's link, made on first use; NULL when out of memory. */
static struct link *get_link(pam_handle_t *pamh, const struct options *o)
{
        const void *data = NULL;
        struct link *l;

        if (pam_get_data(pamh, DATA_LINK, &data) == PAM_SUCCESS && data) {
                l = (struct link *)data;
                if (strcmp(l->socket, o->socket) != 0) { /* another socket= on this line */
                        char *copy = strdup(o->socket);

                        if (!copy)
                                return NULL;
                        link_disconnect(l);
                        free(l->socket);
                        l->socket = copy;
                }
                l->timeout_ms = o->timeout_ms;
                l->trust_uid = o->trust_uid;
                return l;
        }
        l = calloc(1, sizeof(*l));
        if (!l || !(l->socket = strdup(o->socket))) {
                free(l);
                return NULL;
        }
        l->fd = -1;
        l->timeout_ms = o->timeout_ms;
        l->trust_uid = o->trust_uid;
        if (pam_set_data(pamh, DATA_LINK, l, cleanup_link) != PAM_SUCCESS) {
                free(l->socket);
                free(l);
                return NULL;
        }
        return l;
}

/* This process's connection. Whether the daemon has closed it shows when
 * the request is sent (EPIPE) or its answer read (end of stream). */
static bool link_usable(const struct link *l)
{
        return l->fd >= 0 && l->pid == getpid();
}

/* Connect now unless this process's connection is usable, waiting at
 * most timeout_ms for room in the daemon's queue (0: not at all). */
static int link_connect(struct link *l, int timeout_ms, char *why, size_t why_size)
{
        int r;

        if (link_usable(l))
                return 0;
        link_disconnect(l);
        if ((r = tp_io_connect_trusted(l->socket, timeout_ms, l->trust_uid, &l->fd, why, why_size)) < 0) {
                l->fd = -1;
                return r;
        }
        l->pid = getpid();
        return 0;
}

static int link_call_by(struct link *l, int64_t deadline_ms, const struct tp_request *req,
                        struct tp_reply *rep, char *why, size_t why_size)
{
        int r = -ECONNRESET;

        for (int attempt = 0; attempt < 2; attempt++) {
                bool reused = link_usable(l);
                int64_t left = deadline_ms - tp_monotonic_ms();

                if (left <= 0) /* never send what no one will wait for */
                        return -ETIMEDOUT;
                if ((r = link_connect(l, (int)left, why, why_size)) < 0)
                        return r;
                if ((r = tp_io_transact(l->fd, deadline_ms, req, rep)) == 0)
                        return 0;
                link_disconnect(l);
                if (!reused || (r != -ECONNRESET && r != -EPIPE))
                        return r;
        }
        return r;
}

static int link_call(struct link *l, const struct tp_request *req, struct tp_reply *rep, char *why,
                     size_t why_size)
{
        return link_call_by(l, tp_monotonic_ms() + l->timeout_ms, req, rep, why, why_size);
}

/* Root (any name with uid 0) is never refused by this module unless
 * even_deny_root is given: neither an unreachable daemon nor a policy
 * answer may lock the administrator out. Decided without the daemon, once
 * per handle and user name (the handle's link remembers it). */
static bool exempt_user(pam_handle_t *pamh, const struct options *o, const char *user)
{
        const struct passwd *pw;
        struct link *l;
        bool exempt;

        if (o->even_deny_root || !user || !*user)
                return false;
        l = get_link(pamh, o);
        if (l && l->exempt_known && strcmp(l->exempt_for, user) == 0)
                return l->exempt;
        pw = pam_modutil_getpwnam(pamh, user);
        exempt = pw && pw->pw_uid == 0;
        if (l && strlen(user) < sizeof(l->exempt_for)) {
                strcpy(l->exempt_for, user);
                l->exempt = exempt;
                l->exempt_known = true;
        }
        return exempt;
}

/* Ask the daemon, within timeout= from deadline_ms's start. Returns 0
 * with *rep filled, or a negative errno when the daemon could not be
 * reached or answered garbage (already logged). */
static int ask_by(pam_handle_t *pamh, const struct options *o, int64_t deadline_ms,
                  const struct tp_request *req, struct tp_reply *rep)
{
        char why[256] = "";
        struct link *l = get_link(pamh, o);
        int r = l ? link_call_by(l, deadline_ms, req, rep, why, sizeof(why)) : -ENOMEM;

        if (r == -EPERM && why[0])
                pam_syslog(pamh, LOG_ERR, "not trusting tokenpolicyd at %s for the %s request: %s",
                           o->socket, tp_msg_type_name(req->type), why);
        else if (r < 0)
                pam_syslog(pamh, LOG_ERR, "no answer from tokenpolicyd at %s to the %s request: %s",
                           o->socket, tp_msg_type_name(req->type),
                           r == -ETIMEDOUT ? "no answer within timeout" : strerror(-r));
        else if (o->debug)
                pam_syslog(pamh, LOG_DEBUG, "%s: %s: %s", tp_msg_type_name(req->type),
                           tp_status_name(rep->status), rep->message);
        return r;
}

static int ask(pam_handle_t *pamh, const struct options *o, const struct tp_request *req,
               struct tp_reply *rep)
{
        return ask_by(pamh, o, tp_monotonic_ms() + o->timeout_ms, req, rep);
}

/* No usable decision (daemon unreachable, or it failed): apply fail=,
 * except to an exempt user. */
static int unreachable(pam_handle_t *pamh, const struct options *o, bool exempt, int deny_code)
{
        if (exempt) {
                pam_syslog(pamh, LOG_WARNING,
                           "allowing root without a policy decision (root is exempt without even_deny_root)");
                return PAM_SUCCESS;
        }
        if (o->fail_open) {
                pam_syslog(pamh, LOG_WARNING, "allowing without a policy decision (fail=open)");
                return PAM_SUCCESS;
        }
        pam_syslog(pamh, LOG_ERR, "denying without a policy decision (fail=closed)");
        say(pamh, o, PAM_ERROR_MSG, "The sign-in policy service is not available; contact your administrator.");
        return deny_code;
}

static void cleanup_string(pam_handle_t *pamh, void *data, int error_status)
{
        (void)pamh;
        (void)error_status;
        if (data) {
                tp_secret_wipe(data, strlen(data));
                free(data);
        }
}

static void remember(pam_handle_t *pamh, const char *name, const char *value)
{
        char *copy;

        if (!value || !*value)
                return;
        copy = strdup(value);
        if (!copy || pam_set_data(pamh, name, copy, cleanup_string) != PAM_SUCCESS)
                cleanup_string(pamh, copy, 0);
}

static int export_env(pam_handle_t *pamh, const char *name, const char *value)
{
        char buf[TP_TOKEN_MAX + 64];

        if (snprintf(buf, sizeof(buf), "%s=%s", name, value) >= (int)sizeof(buf))
                return PAM_BUF_ERR;
        return pam_putenv(pamh, buf);
}

static void export_tokens(pam_handle_t *pamh, const struct tp_rep_tokens *t)
{
        int r;

        if ((r = export_env(pamh, TP_ENV_SESSION_ID, t->session_id)) != PAM_SUCCESS ||
            (r = export_env(pamh, TP_ENV_ACCESS_TOKEN, t->access_token)) != PAM_SUCCESS ||
            (r = export_env(pamh, TP_ENV_CLIENT, t->client)) != PAM_SUCCESS)
                pam_syslog(pamh, LOG_ERR, "cannot export the session environment: %s",
                           pam_strerror(pamh, r));
        remember(pamh, DATA_SESSION, t->session_id);
        if (t->refresh_token[0])
                remember(pamh, DATA_REFRESH, t->refresh_token);
}

static void free_reply(struct tp_reply *rep);

/* pam_end() hands every cleanup function the status the application ends
 * the handle with: sshd, login and the display managers end a sign-in that
 * a later session module refused with that failure. A failing "required"
 * module does not stop the stack, so no line of it can see the failure;
 * this is the one place that can. The daemon then closes the session and
 * reinstates what it evicted (a success lets it end them at once; without
 * any report it ends them after a short grace). Nothing is sent when the
 * handle is ended quietly in a forked child (PAM_DATA_SILENT), whose
 * parent still owns the sign-in. Then the connection is closed. */
static void cleanup_link(pam_handle_t *pamh, void *data, int error_status)
{
        struct link *l = data;
        struct tp_request req = { .type = TP_REQ_OUTCOME };
        struct tp_reply *rep = NULL;
        char why[256] = "";
        int status = error_status & ~(PAM_DATA_SILENT | PAM_DATA_REPLACE);
        int r;

        if (!l)
                return;
        if (!l->outcome_pending || (error_status & (PAM_DATA_SILENT | PAM_DATA_REPLACE)) ||
            (status == PAM_SUCCESS && !l->evicted))
                goto out;
        strcpy(req.u.outcome.session_id, l->session_id);
        req.u.outcome.completed = status == PAM_SUCCESS;
        if (!(rep = calloc(1, sizeof(*rep))))
                goto out;
        r = link_call(l, &req, rep, why, sizeof(why));
        if (r < 0)
                pam_syslog(pamh, LOG_WARNING,
                           "cannot tell tokenpolicyd how the sign-in of session %s ended (%s): %s",
                           l->session_id, pam_strerror(pamh, status), why[0] ? why : strerror(-r));
        else if (status != PAM_SUCCESS)
                pam_syslog(pamh, LOG_NOTICE, "session %s: the sign-in failed (%s): %s", l->session_id,
                           pam_strerror(pamh, status), rep->message);
out:
        free_reply(rep);
        link_disconnect(l);
        free(l->socket);
        free(l);
}

/* The sign-in whose outcome pam_end() reports (cleanup_link()). Without a
 * link the daemon ends the evicted sessions after its grace. */
static void note_outcome(pam_handle_t *pamh, const struct options *o, const struct tp_rep_tokens *t)
{
        struct link *l = get_link(pamh, o);

        if (!l || strlen(t->session_id) >= sizeof(l->session_id))
                return;
        l->outcome_pending = true;
        l->evicted = t->n_evicted > 0;
        strcpy(l->session_id, t->session_id);
}

static void tell_evicted(pam_handle_t *pamh, const struct options *o, const struct tp_rep_tokens *t)
{
        for (uint8_t i = 0; i < t->n_evicted; i++) {
                const struct tp_session_info *e = &t->evicted[i];
                time_t created = (time_t)e->created;
                struct tm tm;
                char when[64] = "";
                const char *where = e->rhost[0] ? e->rhost : e->tty[0] ? e->tty : e->service;

                if (localtime_r(&created, &tm))
                        strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
                say(pamh, o, PAM_TEXT_INFO, "Your older %s session from %s (started %s) is signed out to make room for this one.",
                    e->client, where, when);
        }
}

static struct tp_reply *new_reply(pam_handle_t *pamh)
{
        struct tp_reply *rep = calloc(1, sizeof(*rep));

        if (!rep)
                pam_syslog(pamh, LOG_CRIT, "out of memory");
        return rep;
}

static void free_reply(struct tp_reply *rep)
{
        if (rep) {
                tp_secret_wipe(rep, sizeof(*rep));
                free(rep);
        }
}

/* Never decides authentication. It notes, for pam_sm_setcred, which user
 * this handle's authentication stack reached the module for. The module
 * cannot see the stack's result: the note means "authenticated" only
 * where the stack reaches this line after a successful password check and
 * never after a failed one (after Debian's common-auth, whose failure path
 * ends in "requisite pam_deny.so"; see pam_tokenpolicy(8), auth), as with
 * pam_faillock's authsucc. Each pass replaces the note, and a renewal
 * uses it up. */
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
        const void *user = NULL;

        (void)flags;
        (void)argc;
        (void)argv;
        pam_set_data(pamh, DATA_AUTHENTICATED, NULL, NULL);
        if (pam_get_item(pamh, PAM_USER, &user) == PAM_SUCCESS && user && *(const char *)user)
                remember(pamh, DATA_AUTHENTICATED, user);
        return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
        struct tp_request req = { .type = TP_REQ_ACCESS };
        struct tp_reply *rep;
        struct options o;
        struct link *l;
        int64_t deadline_ms;
        char why[256] = "";
        bool exempt;
        int ret;

        parse_options(pamh, flags, argc, argv, &o);
        if ((ret = fill_signin(pamh, &o, &req.u.signin)) != PAM_SUCCESS)
                return ret;
        if (o.unmapped_ignore) {
                req.u.signin.flags |= TP_SIGNIN_IGNORE_UNMAPPED;
                if (map_lookup(pamh, &o, &req.u.signin) == TP_SVCMAP_UNMAPPED)
                        return PAM_IGNORE; /* not a service this policy covers: no request */
        }
        /* Connect first, so that the daemon accepts while the account is
         * looked up; the sign-in uses the connection even when this check
         * does not (an exempt user). Without waiting: a daemon whose queue
         * is full must not hold up an exempt user here, and asking tries
         * again and reports a failure. */
        if ((l = get_link(pamh, &o)))
                (void)link_connect(l, 0, why, sizeof(why));
        exempt = exempt_user(pamh, &o, req.u.signin.user);
        /* timeout= bounds the exchange with the daemon, not the lookup. */
        deadline_ms = tp_monotonic_ms() + o.timeout_ms;
        if (exempt) {
                /* The access check creates nothing: nothing to ask. */
                if (o.debug)
                        pam_syslog(pamh, LOG_DEBUG, "%s is exempt (uid 0, no even_deny_root): allowed",
                                   req.u.signin.user);
                return PAM_SUCCESS;
        }
        if (!(rep = new_reply(pamh)))
                return PAM_BUF_ERR;
        if (ask_by(pamh, &o, deadline_ms, &req, rep) < 0 || rep->status == TP_STATUS_ERROR) {
                if (rep->status == TP_STATUS_ERROR)
                        pam_syslog(pamh, LOG_ERR, "tokenpolicyd failed: %s", rep->message);
                ret = unreachable(pamh, &o, false, PAM_PERM_DENIED);
        } else if (rep->status == TP_STATUS_OK) {
                ret = PAM_SUCCESS;
        } else if (rep->status == TP_STATUS_UNMAPPED && o.unmapped_ignore) {
                ret = PAM_IGNORE; /* not a service this policy covers */
        } else {
                pam_syslog(pamh, LOG_NOTICE, "access denied for %s via %s: %s", req.u.signin.user,
                           req.u.signin.service, rep->message);
                say(pamh, &o, PAM_ERROR_MSG, "%s", rep->message);
                ret = PAM_PERM_DENIED;
        }
        free_reply(rep);
        return ret;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
        struct tp_request req = { .type = TP_REQ_OPEN };
        struct tp_reply *rep;
        struct options o;
        bool exempt;
        int ret, map;

        parse_options(pamh, flags, argc, argv, &o);
        if ((ret = fill_signin(pamh, &o, &req.u.signin)) != PAM_SUCCESS)
                return ret == PAM_USER_UNKNOWN ? PAM_SESSION_ERR : ret;
        exempt = exempt_user(pamh, &o, req.u.signin.user);
        map = o.unmapped_ignore || exempt ? map_lookup(pamh, &o, &req.u.signin) : 0;
        if (o.unmapped_ignore) {
                req.u.signin.flags |= TP_SIGNIN_IGNORE_UNMAPPED;
                if (map == TP_SVCMAP_UNMAPPED)
                        return PAM_IGNORE;
        }
        if (exempt) {
                /* Root's sign-ins are recorded when the daemon answers, but
                 * nothing it says (or fails to say) refuses root. */
                if (map == TP_SVCMAP_UNMAPPED)
                        return PAM_SUCCESS; /* no client type: no session to record */
                req.u.signin.flags |= TP_SIGNIN_EXEMPT;
        }
        req.u.signin.flags |= TP_SIGNIN_OUTCOME; /* cleanup_outcome() reports it */
        if (!(rep = new_reply(pamh)))
                return PAM_BUF_ERR;
        if (ask(pamh, &o, &req, rep) < 0 || rep->status == TP_STATUS_ERROR) {
                if (rep->status == TP_STATUS_ERROR)
                        pam_syslog(pamh, LOG_ERR, "tokenpolicyd failed: %s", rep->message);
                ret = unreachable(pamh, &o, exempt, PAM_SESSION_ERR);
        } else if (rep->status == TP_STATUS_OK) {
                /* No systemd.runtime_max_sec for pam_systemd: a hard bound
                 * set now would end the session at this expiry even after a
                 * re-authentication renewed it, and would turn on_expiry =
                 * lock into terminate. The daemon alone ends sessions. */
                export_tokens(pamh, &rep->u.tokens);
                note_outcome(pamh, &o, &rep->u.tokens);
                tell_evicted(pamh, &o, &rep->u.tokens);
                if (o.debug)
                        pam_syslog(pamh, LOG_DEBUG, "session %s (%s) opened for %s",
                                   rep->u.tokens.session_id, rep->u.tokens.client, req.u.signin.user);
                ret = PAM_SUCCESS;
        } else if (rep->status == TP_STATUS_UNMAPPED && o.unmapped_ignore) {
                ret = PAM_IGNORE;
        } else if (exempt) {
                pam_syslog(pamh, LOG_NOTICE, "%s signed in via %s without a session (root is exempt): %s",
                           req.u.signin.user, req.u.signin.service, rep->message);
                ret = PAM_SUCCESS;
        } else {
                pam_syslog(pamh, LOG_NOTICE, "sign-in denied for %s via %s: %s", req.u.signin.user,
                           req.u.signin.service, rep->message);
                say(pamh, &o, PAM_ERROR_MSG, "%s", rep->message);
                ret = PAM_SESSION_ERR;
        }
        free_reply(rep);
        return ret;
}

/* The session this handle opened (its PAM data) or the one its PAM
 * environment names, which an application sets with pam_putenv() to
 * re-authenticate a session it did not open in this handle (a screen
 * locker). Never the process environment: under sudo or su that belongs
 * to the user who called the program, not to PAM_USER. */
static int session_request(pam_handle_t *pamh, struct tp_req_session *s)
{
        const void *id = NULL, *token = NULL;
        const void *user = NULL;

        if (pam_get_data(pamh, DATA_SESSION, &id) != PAM_SUCCESS || !id)
                id = pam_getenv(pamh, TP_ENV_SESSION_ID);
        if (!id || !*(const char *)id || strlen(id) >= sizeof(s->session_id))
                return -ENOENT;
        strcpy(s->session_id, id);
        if (pam_get_data(pamh, DATA_REFRESH, &token) == PAM_SUCCESS && token &&
            strlen(token) < sizeof(s->refresh_token))
                strcpy(s->refresh_token, token);
        if (pam_get_item(pamh, PAM_USER, &user) == PAM_SUCCESS && user &&
            strlen(user) < sizeof(s->user))
                strcpy(s->user, user);
        return 0;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
        struct tp_request req = { .type = TP_REQ_CLOSE };
        struct tp_reply *rep;
        struct options o;
        int ret;

        parse_options(pamh, flags, argc, argv, &o);
        if (session_request(pamh, &req.u.session) < 0) {
                if (o.debug)
                        pam_syslog(pamh, LOG_DEBUG, "no tokenpolicy session to close");
                return PAM_SUCCESS;
        }
        if (!(rep = new_reply(pamh)))
                return PAM_BUF_ERR;
        if (ask(pamh, &o, &req, rep) < 0 || rep->status == TP_STATUS_ERROR) {
                if (rep->status == TP_STATUS_ERROR)
                        pam_syslog(pamh, LOG_ERR, "tokenpolicyd failed to close session %s: %s",
                                   req.u.session.session_id, rep->message);
                ret = o.fail_open || exempt_user(pamh, &o, req.u.session.user) ? PAM_SUCCESS : PAM_SESSION_ERR;
        } else if (rep->status == TP_STATUS_OK || rep->status == TP_STATUS_NOT_FOUND) {
                /* Already revoked or expired: signing out is still a success. */
                ret = PAM_SUCCESS;
        } else {
                pam_syslog(pamh, LOG_ERR, "closing session %s: %s", req.u.session.session_id, rep->message);
                ret = PAM_SESSION_ERR;
        }
        tp_secret_wipe(&req, sizeof(req));
        free_reply(rep);
        return ret;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
        struct tp_request req = { .type = TP_REQ_REAUTH };
        const void *authenticated = NULL;
        struct tp_reply *rep;
        struct options o;
        bool same_user;
        int ret;

        if (!(flags & (PAM_REINITIALIZE_CRED | PAM_REFRESH_CRED)))
                return PAM_IGNORE;
        parse_options(pamh, flags, argc, argv, &o);
        if (pam_get_data(pamh, DATA_AUTHENTICATED, &authenticated) != PAM_SUCCESS || !authenticated) {
                if (o.debug)
                        pam_syslog(pamh, LOG_DEBUG, "no authentication in this transaction: nothing renewed");
                return PAM_IGNORE;
        }
        if (session_request(pamh, &req.u.session) < 0)
                return PAM_IGNORE; /* no session yet: nothing to re-authenticate */
        /* Only for the user the authentication proved: sudo authenticates
         * its caller, then sets PAM_USER to the target user. The daemon
         * checks that the session is PAM_USER's. */
        same_user = req.u.session.user[0] && strcmp(req.u.session.user, authenticated) == 0;
        if (!same_user)
                pam_syslog(pamh, LOG_NOTICE, "not renewing session %s: authenticated as %s, but PAM_USER is %s",
                           req.u.session.session_id, (const char *)authenticated,
                           req.u.session.user[0] ? req.u.session.user : "unset");
        /* One authentication renews once: a later pam_authenticate of this
         * handle that fails before reaching the module leaves no note. */
        pam_set_data(pamh, DATA_AUTHENTICATED, NULL, NULL);
        if (!same_user) {
                tp_secret_wipe(&req, sizeof(req));
                return PAM_IGNORE;
        }
        if (!(rep = new_reply(pamh))) {
                tp_secret_wipe(&req, sizeof(req));
                return PAM_BUF_ERR;
        }
        if (ask(pamh, &o, &req, rep) < 0 || rep->status == TP_STATUS_ERROR) {
                if (rep->status == TP_STATUS_ERROR)
                        pam_syslog(pamh, LOG_ERR, "tokenpolicyd failed: %s", rep->message);
                ret = unreachable(pamh, &o, exempt_user(pamh, &o, req.u.session.user), PAM_CRED_UNAVAIL);
        } else if (rep->status == TP_STATUS_OK) {
                export_tokens(pamh, &rep->u.tokens);
                ret = PAM_SUCCESS;
        } else if (rep->status == TP_STATUS_FORBIDDEN) {
                /* A screen locker running as the user: only root may extend a
                 * session, so this unlock extends nothing and decides nothing. */
                if (o.debug)
                        pam_syslog(pamh, LOG_DEBUG, "not extending session %s: %s",
                                   req.u.session.session_id, rep->message);
                ret = PAM_IGNORE;
        } else {
                pam_syslog(pamh, LOG_NOTICE, "re-authentication of session %s refused: %s",
                           req.u.session.session_id, rep->message);
                say(pamh, &o, PAM_ERROR_MSG, "%s", rep->message);
                ret = rep->status == TP_STATUS_EXPIRED ? PAM_CRED_EXPIRED : PAM_CRED_ERR;
        }
        tp_secret_wipe(&req, sizeof(req));
        free_reply(rep);
        return ret;
}
