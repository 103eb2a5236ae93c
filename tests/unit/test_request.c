/* SPDX-License-Identifier: BSD-3-Clause */
/* test_request.c: unit tests for the request layer's table and its one
 * rights check (request.c, rights.c).
 *
 * Every request type is sent by an administrator (root, and the daemon's
 * own uid), by the user the request is about, by another user and by a
 * uid with no name, and what the table lets through to the handler is
 * held against PROTOCOL.md section 8. The handlers are stand-ins that
 * record being reached: what is tested is that a refusal happens before
 * any handler runs, is answered FORBIDDEN and is audited once. The audit
 * trail is the real one (log.c), read back from stderr; account names
 * come from the real NSS.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "delivery.h"
#include "handlers.h"
#include "keys.h"
#include "log.h"
#include "query.h"
#include "request.h"
#include "rights.h"

/* ---- stand-in handlers ----------------------------------------------------- */

static int reached;              /* the type whose handler ran last; 0: none */
static bool close_audits;        /* the CLOSE stand-in refuses and audits itself */

static void reach(struct tp_call *c)
{
        reached = c->req->type;
        tp_reply_status(c->rep, TP_STATUS_OK, "reached");
}

void tp_handle_access(struct tp_call *c) { reach(c); }
void tp_handle_open(struct tp_call *c) { reach(c); }
void tp_handle_reauth(struct tp_call *c) { reach(c); }
void tp_handle_refresh(struct tp_call *c) { reach(c); }
void tp_handle_status(struct tp_call *c) { reach(c); }
void tp_handle_list(struct tp_call *c) { reach(c); }
void tp_handle_revoke(struct tp_call *c) { reach(c); }
void tp_handle_reload(struct tp_call *c) { reach(c); }
void tp_handle_policy(struct tp_call *c) { reach(c); }
void tp_handle_explain(struct tp_call *c) { reach(c); }
void tp_handle_verify(struct tp_call *c) { reach(c); }
void tp_handle_rotate_key(struct tp_call *c) { reach(c); }
void tp_handle_revoke_key(struct tp_call *c) { reach(c); }
void tp_handle_hosts(struct tp_call *c) { reach(c); }
void tp_handle_outcome(struct tp_call *c) { reach(c); }

/* As handle_close refuses a running session: FORBIDDEN, audited with the
 * session's details, so the dispatcher must not audit it again. */
void tp_handle_close(struct tp_call *c)
{
        reach(c);
        if (close_audits) {
                tp_reply_status(c->rep, TP_STATUS_FORBIDDEN, "still running");
                tp_audit(&(struct tp_audit){ .event = "deny", .reason = "refused with details", .peer_uid = 1 });
                c->refusal_audited = true;
        }
}

void tp_abandoned_signin(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_request *req)
{
        (void)d, (void)peer, (void)req;
}

void tp_abandoned_extend(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_request *req)
{
        (void)d, (void)peer, (void)req;
}

void tp_undelivered_signin(struct tp_daemon *d, const struct tp_peer *peer, uint8_t type, const char *id)
{
        (void)d, (void)peer, (void)type, (void)id;
}

void tp_undelivered_extend(struct tp_daemon *d, const struct tp_peer *peer, uint8_t type, const char *id)
{
        (void)d, (void)peer, (void)type, (void)id;
}

/* ---- fixture: stderr as the audit trail ------------------------------------ */

struct fixture {
        char dir[64];
        char out[96];
        int saved_stderr;
        struct tp_request req;
        struct tp_reply rep;
};

static int setup(void **state)
{
        struct fixture *fx = calloc(1, sizeof(*fx));
        char nowhere[128];
        int fd;

        *state = fx;
        if (!fx)
                return -1;
        snprintf(fx->dir, sizeof(fx->dir), "/tmp/tptest-request.XXXXXX");
        if (!mkdtemp(fx->dir))
                return -1;
        snprintf(fx->out, sizeof(fx->out), "%s/stderr", fx->dir);
        snprintf(nowhere, sizeof(nowhere), "%s/nobody.sock", fx->dir);
        fd = open(fx->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -1;
        fflush(stderr);
        fx->saved_stderr = dup(STDERR_FILENO);
        if (fx->saved_stderr < 0 || dup2(fd, STDERR_FILENO) < 0)
                return -1;
        close(fd);
        unsetenv("JOURNAL_STREAM");
        setenv(TP_JOURNAL_SOCKET_ENV, nowhere, 1);
        setenv(TP_SYSLOG_SOCKET_ENV, nowhere, 1);
        tp_log_open(true, false);
        reached = 0;
        close_audits = false;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *fx = *state;
        char cmd[128];

        fflush(stderr);
        dup2(fx->saved_stderr, STDERR_FILENO);
        close(fx->saved_stderr);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
        if (system(cmd) != 0)
                return -1;
        free(fx);
        return 0;
}

/* How many audit records of refusals were written so far. */
static int denials(struct fixture *fx)
{
        static char buf[1 << 16];
        FILE *f;
        size_t n;
        int count = 0;

        fflush(stderr);
        f = fopen(fx->out, "r");
        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        for (const char *p = buf; (p = strstr(p, "audit: event=deny")); p++)
                count++;
        return count;
}

/* ---- the peers ------------------------------------------------------------- */

#define OWNER_UID 61001
#define OTHER_UID 61002
#define NAMELESS_UID 61003
#define DAEMON_UID 61004

enum who { ROOT, DAEMON_OWNER, OWNER, OTHER, NAMELESS, N_WHO };

static const struct tp_peer peers[N_WHO] = {
        [ROOT] = { .uid = 0, .pid = 1, .admin = true, .user = "root" },
        [DAEMON_OWNER] = { .uid = DAEMON_UID, .pid = 1, .admin = true, .user = "tptest-daemon" },
        [OWNER] = { .uid = OWNER_UID, .pid = 1, .admin = false, .user = "tptest-owner" },
        [OTHER] = { .uid = OTHER_UID, .pid = 1, .admin = false, .user = "tptest-other" },
        [NAMELESS] = { .uid = NAMELESS_UID, .pid = 1, .admin = false, .user = "" },
};

/* A request of this type about OWNER (its user name; a session named by id
 * for the requests that name one). */
static void request_about_owner(struct tp_request *req, uint8_t type)
{
        memset(req, 0, sizeof(*req));
        req->type = type;
        switch (type) {
        case TP_REQ_ACCESS:
        case TP_REQ_OPEN:
        case TP_REQ_EXPLAIN:
                strcpy(req->u.signin.user, "tptest-owner");
                strcpy(req->u.signin.service, "sshd");
                break;
        case TP_REQ_CLOSE:
        case TP_REQ_REAUTH:
        case TP_REQ_REFRESH:
                strcpy(req->u.session.session_id, "0123456789abcdef0123456789abcdef");
                break;
        case TP_REQ_LIST:
                strcpy(req->u.list.user, "tptest-owner");
                break;
        case TP_REQ_REVOKE:
                strcpy(req->u.revoke.user, "tptest-owner");
                break;
        case TP_REQ_VERIFY:
                strcpy(req->u.verify.token, "a.b.c");
                break;
        case TP_REQ_REVOKE_KEY:
                strcpy(req->u.key.kid, "kid");
                break;
        default:
                break;
        }
}

/* PROTOCOL.md section 8, by the request's own user (y: reached the
 * handler; n: refused FORBIDDEN before it). The requests that name a
 * session go to the handler, which answers not-found for a session that
 * is not the peer's (tp_rights_owns, tested below). */
static const struct {
        uint8_t type;
        const char *who; /* ROOT, DAEMON_OWNER, OWNER, OTHER, NAMELESS */
} section8[] = {
        { TP_REQ_ACCESS, "yyynn" },     /* only for the peer's own user name */
        { TP_REQ_OPEN, "yynnn" },
        { TP_REQ_CLOSE, "yyyyy" },      /* the session decides */
        { TP_REQ_REAUTH, "yynnn" },
        { TP_REQ_REFRESH, "yyyyy" },    /* the session decides */
        { TP_REQ_STATUS, "yyyyy" },
        { TP_REQ_LIST, "yyynn" },       /* own sessions; a nameless uid has none to list */
        { TP_REQ_REVOKE, "yyynn" },     /* `user` naming the peer */
        { TP_REQ_RELOAD, "yynnn" },
        { TP_REQ_POLICY, "yyyyy" },
        { TP_REQ_EXPLAIN, "yyynn" },
        { TP_REQ_VERIFY, "yyyyy" },
        { TP_REQ_ROTATE_KEY, "yynnn" },
        { TP_REQ_REVOKE_KEY, "yynnn" },
        { TP_REQ_HOSTS, "yyyyy" },
        { TP_REQ_OUTCOME, "yynnn" },
};

static void test_every_type_by_every_peer(void **state)
{
        struct fixture *fx = *state;
        int expected_denials = 0;

        /* A type the codec knows without its row here is a type whose
         * rights nobody wrote down. */
        for (unsigned t = 0; t < 256; t++) {
                bool listed = false;

                for (size_t i = 0; i < sizeof(section8) / sizeof(section8[0]); i++)
                        listed = listed || section8[i].type == t;
                if (listed != tp_request_type_known((uint8_t)t))
                        print_message("type %u: %s in section8[]\n", t, listed ? "unknown but" : "missing");
                assert_int_equal(listed, tp_request_type_known((uint8_t)t));
        }

        for (size_t i = 0; i < sizeof(section8) / sizeof(section8[0]); i++) {
                for (int w = 0; w < N_WHO; w++) {
                        bool allowed = section8[i].who[w] == 'y';

                        request_about_owner(&fx->req, section8[i].type);
                        reached = 0;
                        tp_request_handle(NULL, &peers[w], &fx->req, &fx->rep);
                        expected_denials += !allowed;
                        if (fx->rep.type != (section8[i].type | TP_REPLY_FLAG) ||
                            (reached == section8[i].type) != allowed || (!allowed && reached != 0) ||
                            fx->rep.status != (allowed ? TP_STATUS_OK : TP_STATUS_FORBIDDEN) ||
                            (!allowed && !fx->rep.message[0]) || denials(fx) != expected_denials) {
                                print_message("%s by peer %d (%s): %s, status %u \"%s\", %d denials audited\n",
                                            tp_msg_type_name(section8[i].type), w,
                                            allowed ? "may" : "may not", reached ? "handled" : "not handled",
                                            fx->rep.status, fx->rep.message, denials(fx));
                                fail();
                        }
                }
        }
}

/* Every type the codec knows has an entry, and nothing else does: a type
 * added to the codec without its entry (or the other way round) fails. */
static void test_table_covers_the_codec(void **state)
{
        (void)state;
        for (unsigned t = 0; t < 256; t++) {
                const struct tp_request_kind *k = tp_request_kind((uint8_t)t);

                assert_int_equal(k != NULL, tp_request_type_known((uint8_t)t));
                if (k) {
                        assert_int_equal(k->type, t);
                        assert_non_null(k->handle);
                        if (k->right == TP_RIGHT_ADMIN)
                                assert_non_null(k->refusal);
                }
        }
}

/* PROTOCOL.md section 9 and the group commit: which kinds are carried out
 * once their client is gone, whose answers carry a session's tokens, and
 * which answers never wait for the commit. */
static void test_delivery_and_store_columns(void **state)
{
        (void)state;
        for (uint8_t t = 1; t <= TP_REQ_MAX_; t++) {
                const struct tp_request_kind *k = tp_request_kind(t);
                bool tokens = t == TP_REQ_OPEN || t == TP_REQ_REAUTH || t == TP_REQ_REFRESH;

                if (!k)
                        continue;
                assert_int_equal(k->needs_client, !(t == TP_REQ_CLOSE || t == TP_REQ_REVOKE ||
                                                    t == TP_REQ_RELOAD || t == TP_REQ_ROTATE_KEY ||
                                                    t == TP_REQ_OUTCOME));
                assert_int_equal(k->undelivered != NULL, tokens);
                assert_int_equal(k->abandoned != NULL, tokens);
                assert_int_equal(k->reads_store, !(t == TP_REQ_ACCESS || t == TP_REQ_POLICY));
        }
}

/* A handler that audits its own refusal is not audited twice; a FORBIDDEN
 * it does not audit is audited by the dispatcher. */
static void test_refusal_audited_once(void **state)
{
        struct fixture *fx = *state;

        close_audits = true;
        request_about_owner(&fx->req, TP_REQ_CLOSE);
        tp_request_handle(NULL, &peers[OWNER], &fx->req, &fx->rep);
        assert_int_equal(fx->rep.status, TP_STATUS_FORBIDDEN);
        assert_int_equal(denials(fx), 1);

        request_about_owner(&fx->req, TP_REQ_OPEN);
        tp_request_handle(NULL, &peers[OTHER], &fx->req, &fx->rep);
        assert_int_equal(denials(fx), 2);
        assert_string_equal(fx->rep.message, "Only root may open sessions.");
}

/* The requests the request alone decides, beyond "about OWNER". */
static void test_own_requests(void **state)
{
        struct fixture *fx = *state;

        /* LIST: no filter is the peer's own sessions... */
        request_about_owner(&fx->req, TP_REQ_LIST);
        fx->req.u.list.user[0] = '\0';
        reached = 0;
        tp_request_handle(NULL, &peers[OTHER], &fx->req, &fx->rep);
        assert_int_equal(reached, TP_REQ_LIST);
        /* ... unless the uid has no name to list by */
        reached = 0;
        tp_request_handle(NULL, &peers[NAMELESS], &fx->req, &fx->rep);
        assert_int_equal(reached, 0);
        assert_int_equal(fx->rep.status, TP_STATUS_FORBIDDEN);

        /* REVOKE by session id: the session decides (the handler) */
        request_about_owner(&fx->req, TP_REQ_REVOKE);
        strcpy(fx->req.u.revoke.session_id, "0123456789abcdef0123456789abcdef");
        reached = 0;
        tp_request_handle(NULL, &peers[OTHER], &fx->req, &fx->rep);
        assert_int_equal(reached, TP_REQ_REVOKE);
        /* naming neither is the handler's bad request, not a refusal */
        memset(&fx->req.u.revoke, 0, sizeof(fx->req.u.revoke));
        reached = 0;
        tp_request_handle(NULL, &peers[OTHER], &fx->req, &fx->rep);
        assert_int_equal(reached, TP_REQ_REVOKE);

        /* EXPLAIN without a user: the handler says what is missing */
        request_about_owner(&fx->req, TP_REQ_EXPLAIN);
        fx->req.u.signin.user[0] = '\0';
        reached = 0;
        tp_request_handle(NULL, &peers[NAMELESS], &fx->req, &fx->rep);
        assert_int_equal(reached, TP_REQ_EXPLAIN);

        /* EXPLAIN by any name NSS resolves to the peer's uid: root's
         * account asked about by a peer of uid 0 that is no
         * administrator (as if the daemon ran as another user and root
         * were not its owner: the account decides, not the name) */
        request_about_owner(&fx->req, TP_REQ_EXPLAIN);
        strcpy(fx->req.u.signin.user, "root");
        reached = 0;
        tp_request_handle(NULL, &(struct tp_peer){ .uid = 0, .admin = false, .user = "tptest-alias" },
                          &fx->req, &fx->rep);
        assert_int_equal(reached, TP_REQ_EXPLAIN);
        reached = 0;
        tp_request_handle(NULL, &peers[OTHER], &fx->req, &fx->rep);
        assert_int_equal(reached, 0);

        /* ACCESS is about the exact name */
        request_about_owner(&fx->req, TP_REQ_ACCESS);
        strcpy(fx->req.u.signin.user, "TPTEST-OWNER");
        reached = 0;
        tp_request_handle(NULL, &peers[OWNER], &fx->req, &fx->rep);
        assert_int_equal(reached, 0);
        assert_string_equal(fx->rep.message, "Only root may check access for another user.");
}

/* The ownership questions handlers ask of the sessions they read. */
static void test_rights_helpers(void **state)
{
        (void)state;
        for (int w = 0; w < N_WHO; w++) {
                bool admin = w == ROOT || w == DAEMON_OWNER;

                assert_int_equal(tp_rights_owns(&peers[w], OWNER_UID), admin || w == OWNER);
                assert_int_equal(tp_rights_owns(&peers[w], 0), admin);
                assert_int_equal(tp_rights_is_user(&peers[w], "tptest-owner"), admin || w == OWNER);
                assert_int_equal(tp_rights_is_user(&peers[w], "root"), admin);
        }
}

/* Secrets are wiped, from the request and from the reply, per kind. */
static void test_wipe(void **state)
{
        struct fixture *fx = *state;
        static const char zero[TP_TOKEN_MAX];

        request_about_owner(&fx->req, TP_REQ_REFRESH);
        strcpy(fx->req.u.session.refresh_token, "secret-refresh");
        strcpy(fx->rep.u.tokens.access_token, "secret-access");
        strcpy(fx->rep.u.tokens.refresh_token, "secret-new-refresh");
        tp_request_wipe(&fx->req, &fx->rep);
        assert_memory_equal(fx->req.u.session.refresh_token, zero, sizeof(fx->req.u.session.refresh_token));
        assert_memory_equal(fx->rep.u.tokens.access_token, zero, sizeof(fx->rep.u.tokens.access_token));
        assert_memory_equal(fx->rep.u.tokens.refresh_token, zero, sizeof(fx->rep.u.tokens.refresh_token));

        request_about_owner(&fx->req, TP_REQ_VERIFY);
        strcpy(fx->req.u.verify.token, "header.claims.signature");
        tp_request_wipe(&fx->req, &fx->rep);
        assert_memory_equal(fx->req.u.verify.token, zero, sizeof(fx->req.u.verify.token));

        request_about_owner(&fx->req, TP_REQ_CLOSE);
        strcpy(fx->req.u.session.refresh_token, "secret-refresh");
        tp_request_wipe(&fx->req, &fx->rep);
        assert_memory_equal(fx->req.u.session.refresh_token, zero, sizeof(fx->req.u.session.refresh_token));
}

/* A reply starts empty: the header, and the body its kind fills. */
static void test_reply_reset(void **state)
{
        struct fixture *fx = *state;

        memset(&fx->rep, 0x5a, sizeof(fx->rep));
        tp_reply_reset(&fx->rep, TP_REQ_OPEN);
        assert_int_equal(fx->rep.type, TP_REQ_OPEN | TP_REPLY_FLAG);
        assert_int_equal(fx->rep.status, TP_STATUS_OK);
        assert_string_equal(fx->rep.message, "");
        assert_string_equal(fx->rep.u.tokens.access_token, "");
        assert_string_equal(fx->rep.u.tokens.refresh_token, "");
        assert_int_equal(fx->rep.u.tokens.n_evicted, 0);

        memset(&fx->rep, 0x5a, sizeof(fx->rep));
        tp_reply_reset(&fx->rep, TP_REQ_LIST);
        assert_int_equal(fx->rep.u.list.count, 0);
        assert_int_equal(fx->rep.u.list.more, 0);

        memset(&fx->rep, 0x5a, sizeof(fx->rep));
        tp_reply_reset(&fx->rep, TP_REQ_ACCESS);
        assert_string_equal(fx->rep.u.access.client, "");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_every_type_by_every_peer, setup, teardown),
                cmocka_unit_test(test_table_covers_the_codec),
                cmocka_unit_test(test_delivery_and_store_columns),
                cmocka_unit_test_setup_teardown(test_refusal_audited_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_own_requests, setup, teardown),
                cmocka_unit_test(test_rights_helpers),
                cmocka_unit_test_setup_teardown(test_wipe, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reply_reset, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
