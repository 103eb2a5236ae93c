/* SPDX-License-Identifier: BSD-3-Clause */
/* test_plan.c: unit tests for the sign-in plan (plan.c), on a real
 * temporary SQLite store.
 *
 * Sessions are written to the store as sign-ins left them; their leaders
 * are real processes: this test process (running), a child that has
 * exited (gone: a ghost) or none recorded (cannot be told). Whether a
 * leader is gone is asked of the real enforcer (/proc, the running boot).
 * The plan is driven as OPEN drives it (inside a transaction, reaping
 * ghosts) and as EXPLAIN does (looking only), and for the same store both
 * must come to the same decision.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "enforce.h"
#include "log.h"
#include "plan.h"
#include "store_sqlite.h"

/* One clock for the whole run: EXPLAIN and OPEN compared a second apart
 * must not see different expiry times. */
static int64_t now_;
#define NOW now_
#define DAY 86400

static const char conf_text[] =
        "version = 1;\n"
        "custom_token_policy = true;\n"
        "unknown_client = \"deny\";\n"
        "defaults = { max_refresh_tokens = 10; };\n"
        "clients = {\n"
        "  desktop = { services = [\"tptest-desktop\"]; };\n"
        "  lru = { services = []; evict = \"least_recently_used\"; };\n"
        "  strict = { services = []; evict = \"deny_new\"; };\n"
        "  web = { services = [\"tptest-web\"]; access = false; };\n"
        "};\n";

enum leader { LIVE, GONE, UNKNOWN };

struct fixture {
        char dir[64];
        char path[96];
        struct tp_store *store;
        struct tp_config *config;
        struct tp_enforcer *enforcer;
        char boot_id[TP_BOOT_ID_MAX];
        pid_t gone_pid;                 /* a process that has exited */
        uint64_t gone_start;
        uint64_t live_start;            /* this process's start time */
        unsigned looked;                /* leaders asked about */
        unsigned n_made;
};

static int setup(void **state)
{
        struct tp_config_errors errs = { 0 };
        struct fixture *fx = calloc(1, sizeof(*fx));
        int p[2];
        pid_t child;
        char c;

        *state = fx;
        if (!fx)
                return -1;
        snprintf(fx->dir, sizeof(fx->dir), "/tmp/tptest-plan.XXXXXX");
        if (!mkdtemp(fx->dir))
                return -1;
        snprintf(fx->path, sizeof(fx->path), "%s/sessions.db", fx->dir);
        if (tp_store_open(fx->path, &fx->store) < 0 ||
            tp_config_load_string(conf_text, "test.conf", &fx->config, &errs) < 0)
                return -1;
        tp_config_errors_clear(&errs);
        /* No bus: a leader is told from /proc alone. */
        setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/tptest-bus", 1);
        if (tp_enforcer_new(&fx->enforcer) < 0 || tp_boot_id_read(fx->boot_id, sizeof(fx->boot_id)) < 0 ||
            tp_process_start_time(getpid(), &fx->live_start) < 0)
                return -1;
        /* A leader that is gone: a child, its start time read while it
         * runs, then reaped. */
        if (pipe(p) < 0)
                return -1;
        child = fork();
        if (child < 0)
                return -1;
        if (child == 0) {
                close(p[1]);
                (void)!read(p[0], &c, 1);
                _exit(0);
        }
        close(p[0]);
        if (tp_process_start_time(child, &fx->gone_start) < 0)
                return -1;
        close(p[1]);
        if (waitpid(child, NULL, 0) != child)
                return -1;
        fx->gone_pid = child;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *fx = *state;
        char cmd[128];

        tp_store_close(fx->store);
        tp_config_free(fx->config);
        tp_enforcer_free(fx->enforcer);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
        if (system(cmd) != 0)
                return -1;
        free(fx);
        return 0;
}

/* The question the daemon asks (lifecycle.c), of the real enforcer. */
static bool is_ghost(void *ctx, const struct tp_session *s)
{
        struct fixture *fx = ctx;
        struct tp_enforce_target t = { .session_id = s->id, .logind_session = s->logind_session,
                                       .leader_pid = (pid_t)s->leader_pid, .leader_start = s->leader_start,
                                       .boot_id = s->boot_id };

        fx->looked++;
        return tp_enforcer_session_alive(fx->enforcer, &t) == 0;
}

/* Record a session of root's for `client`, created `age` seconds ago and
 * last used `idle` seconds ago, expiring in `ttl` seconds. Returns its id
 * (valid until the next call's fixture is torn down). */
static const char *add(struct fixture *fx, const char *client, int64_t age, int64_t idle, int64_t ttl,
                       enum leader leader)
{
        static char ids[64][TP_SESSION_ID_MAX];
        struct tp_session s;
        char *id = ids[fx->n_made % 64];

        memset(&s, 0, sizeof(s));
        snprintf(id, TP_SESSION_ID_MAX, "%032x", ++fx->n_made);
        snprintf(s.id, sizeof(s.id), "%s", id);
        snprintf(s.user, sizeof(s.user), "root");
        snprintf(s.client, sizeof(s.client), "%s", client);
        snprintf(s.service, sizeof(s.service), "tptest-desktop");
        s.created = NOW - age;
        s.last_used = NOW - idle;
        s.last_extended = s.created;
        s.refresh_expires = NOW + ttl;
        s.state = TP_STATE_ACTIVE;
        snprintf(s.boot_id, sizeof(s.boot_id), "%s", fx->boot_id);
        if (leader == LIVE) {
                s.leader_pid = (uint32_t)getpid();
                s.leader_start = fx->live_start;
        } else if (leader == GONE) {
                s.leader_pid = (uint32_t)fx->gone_pid;
                s.leader_start = fx->gone_start;
        }
        assert_int_equal(tp_store_begin(fx->store), 0);
        assert_int_equal(tp_store_insert(fx->store, &s), 0);
        assert_int_equal(tp_store_commit(fx->store), 0);
        return id;
}

struct outcome {
        enum tp_verdict verdict;
        size_t n_live, n_evict, n_expired, n_ghosts;
        bool at_cap;
        char evicted[TP_EVICTED_MAX][TP_SESSION_ID_MAX];
        int64_t refresh_expires;
};

static void keep(const struct tp_signin_plan *plan, struct outcome *o)
{
        memset(o, 0, sizeof(*o));
        o->verdict = plan->dec.verdict;
        o->n_live = plan->dec.n_live;
        o->at_cap = plan->dec.at_cap;
        o->n_evict = plan->dec.n_evict;
        o->n_expired = plan->dec.n_expired;
        o->n_ghosts = plan->n_ghosts;
        o->refresh_expires = plan->dec.refresh_expires;
        for (size_t i = 0; i < plan->dec.n_evict && i < TP_EVICTED_MAX; i++)
                memcpy(o->evicted[i], plan->sessions[plan->dec.evict[i]].id, TP_SESSION_ID_MAX);
}

/* The plan up to its decision, for root signing in with `client=`. */
static void plan_for(struct fixture *fx, struct tp_signin_plan *plan, struct tp_req_signin *req,
                     const char *client)
{
        struct tp_reply rep;

        memset(req, 0, sizeof(*req));
        snprintf(req->user, sizeof(req->user), "root");
        snprintf(req->service, sizeof(req->service), "tptest-any");
        snprintf(req->client, sizeof(req->client), "%s", client);
        tp_plan_init(plan, req, NOW);
        assert_true(tp_plan_tag(plan, fx->config, &rep));
        assert_true(tp_plan_account(plan));
}

/* As OPEN: inside a transaction, ghosts reaped; committed when `commit`,
 * else rolled back (the store as it was). */
static void open_decides(struct fixture *fx, const char *client, bool commit, struct outcome *o)
{
        struct tp_signin_plan plan;
        struct tp_req_signin req;
        struct tp_reply rep;

        plan_for(fx, &plan, &req, client);
        assert_int_equal(tp_store_begin(fx->store), 0);
        assert_int_equal(tp_plan_decide(&plan, fx->store, TP_PLAN_REAP, is_ghost, fx, &rep), 0);
        keep(&plan, o);
        if (commit)
                assert_int_equal(tp_store_commit(fx->store), 0);
        else
                tp_store_rollback(fx->store);
        tp_plan_free(&plan);
}

/* As EXPLAIN: no transaction, nothing changed. */
static void explain_decides(struct fixture *fx, const char *client, struct outcome *o)
{
        struct tp_signin_plan plan;
        struct tp_req_signin req;
        struct tp_reply rep;

        plan_for(fx, &plan, &req, client);
        assert_int_equal(tp_plan_decide(&plan, fx->store, TP_PLAN_LOOK, is_ghost, fx, &rep), 0);
        keep(&plan, o);
        tp_plan_free(&plan);
}

static uint8_t state_of(struct fixture *fx, const char *id)
{
        struct tp_session s;

        assert_int_equal(tp_store_get(fx->store, id, &s), 0);
        return s.state;
}

/* ---- the cap ------------------------------------------------------------- */

static void test_below_the_cap_nothing_is_looked_at(void **state)
{
        struct fixture *fx = *state;
        struct outcome o;

        for (int i = 0; i < 9; i++)
                add(fx, "desktop", 1000 - i, 10, DAY, LIVE);
        open_decides(fx, "desktop", false, &o);
        assert_int_equal(o.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(o.n_live, 9);
        assert_false(o.at_cap);
        assert_int_equal(o.n_evict, 0);
        assert_int_equal(fx->looked, 0);
}

static void test_at_the_cap_the_oldest_is_chosen(void **state)
{
        struct fixture *fx = *state;
        const char *oldest = NULL;
        struct outcome o;

        /* created in an order that is not the insertion order */
        for (int i = 0; i < 10; i++) {
                const char *id = add(fx, "desktop", i == 6 ? 5000 : 1000 + i, 10, DAY, LIVE);

                if (i == 6)
                        oldest = id;
        }
        open_decides(fx, "desktop", false, &o);
        assert_int_equal(o.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(o.n_live, 10);
        assert_true(o.at_cap);
        assert_int_equal(o.n_evict, 1);
        assert_string_equal(o.evicted[0], oldest);
        assert_int_equal(fx->looked, 10); /* at the cap, every leader is asked */
}

static void test_least_recently_used_is_chosen(void **state)
{
        struct fixture *fx = *state;
        const char *stalest = NULL;
        struct outcome o;

        for (int i = 0; i < 10; i++) {
                /* the oldest (i == 0) was used a moment ago */
                const char *id = add(fx, "lru", 5000 - i, i == 0 ? 1 : i == 4 ? 4000 : 100 + i, DAY, LIVE);

                if (i == 4)
                        stalest = id;
        }
        open_decides(fx, "lru", false, &o);
        assert_int_equal(o.n_evict, 1);
        assert_string_equal(o.evicted[0], stalest);
}

static void test_deny_new_at_the_cap(void **state)
{
        struct fixture *fx = *state;
        struct tp_signin_plan plan;
        struct tp_req_signin req;
        struct tp_reply rep;

        for (int i = 0; i < 10; i++)
                add(fx, "strict", 1000 - i, 10, DAY, LIVE);
        plan_for(fx, &plan, &req, "strict");
        assert_int_equal(tp_plan_decide(&plan, fx->store, TP_PLAN_LOOK, is_ghost, fx, &rep), 0);
        assert_int_equal(plan.dec.verdict, TP_VERDICT_DENY_CAP);
        tp_plan_refusal(&plan, plan.dec.verdict, &rep);
        assert_int_equal(rep.status, TP_STATUS_DENIED);
        assert_non_null(strstr(rep.message, "You already have 10 active strict sessions"));
        tp_plan_free(&plan);
}

/* ---- ghosts ---------------------------------------------------------------- */

static void test_ghosts_at_the_cap_are_closed_and_not_counted(void **state)
{
        struct fixture *fx = *state;
        const char *ghost[2], *unknown;
        struct outcome o;

        for (int i = 0; i < 7; i++)
                add(fx, "desktop", 1000 - i, 10, DAY, LIVE);
        ghost[0] = add(fx, "desktop", 3000, 10, DAY, GONE);
        ghost[1] = add(fx, "desktop", 2000, 10, DAY, GONE);
        unknown = add(fx, "desktop", 4000, 10, DAY, UNKNOWN); /* kept: cannot be told */
        open_decides(fx, "desktop", true, &o);
        assert_int_equal(o.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(o.n_ghosts, 2);
        assert_int_equal(o.n_live, 8);
        assert_false(o.at_cap);
        assert_int_equal(o.n_evict, 0); /* the ghosts made room: no one signed out */
        assert_int_equal(state_of(fx, ghost[0]), TP_STATE_CLOSED);
        assert_int_equal(state_of(fx, ghost[1]), TP_STATE_CLOSED);
        assert_int_equal(state_of(fx, unknown), TP_STATE_ACTIVE);
}

static void test_ghosts_below_the_cap(void **state)
{
        struct fixture *fx = *state;
        const char *ghost;
        struct outcome o;

        for (int i = 0; i < 4; i++)
                add(fx, "desktop", 1000 - i, 10, DAY, LIVE);
        ghost = add(fx, "desktop", 3000, 10, DAY, GONE);
        /* OPEN below the cap: no leader asked, nothing closed */
        open_decides(fx, "desktop", true, &o);
        assert_int_equal(o.n_ghosts, 0);
        assert_int_equal(o.n_live, 5);
        assert_int_equal(fx->looked, 0);
        assert_int_equal(state_of(fx, ghost), TP_STATE_ACTIVE);
        /* EXPLAIN looks at every one, so its count is exact; it changes
         * nothing */
        explain_decides(fx, "desktop", &o);
        assert_int_equal(o.n_ghosts, 1);
        assert_int_equal(o.n_live, 4);
        assert_int_equal(o.verdict, TP_VERDICT_ALLOW);
        assert_int_equal(state_of(fx, ghost), TP_STATE_ACTIVE);
}

/* A session past its expiry is the engine's to report as expired, never a
 * ghost to close, whatever its leader. */
static void test_expired_is_no_ghost(void **state)
{
        struct fixture *fx = *state;
        const char *expired;
        struct outcome o;

        for (int i = 0; i < 10; i++)
                add(fx, "desktop", 1000 - i, 10, DAY, LIVE);
        expired = add(fx, "desktop", 9000, 9000, -1, GONE);
        open_decides(fx, "desktop", false, &o);
        assert_int_equal(o.n_expired, 1);
        assert_int_equal(o.n_ghosts, 0);
        assert_int_equal(o.n_live, 10);
        assert_int_equal(o.n_evict, 1);
        assert_string_not_equal(o.evicted[0], expired);
}

/* ---- tagging, access, the account ----------------------------------------- */

static void test_disabled_client(void **state)
{
        struct fixture *fx = *state;
        struct tp_signin_plan plan;
        struct tp_req_signin req = { .user = "root", .service = "tptest-web" };
        struct tp_reply rep;

        tp_plan_init(&plan, &req, NOW);
        assert_true(tp_plan_tag(&plan, fx->config, &rep));
        assert_string_equal(plan.client->name, "web");
        assert_int_equal(tp_plan_access(&plan), TP_VERDICT_DENY_ACCESS);
        tp_plan_refusal(&plan, TP_VERDICT_DENY_ACCESS, &rep);
        assert_int_equal(rep.status, TP_STATUS_DENIED);
        assert_string_equal(rep.message, "Sign-in from web clients is disabled by your administrator.");
        /* with sessions, at the cap: still the type that refuses */
        for (int i = 0; i < 10; i++)
                add(fx, "web", 1000 - i, 10, DAY, LIVE);
        assert_true(tp_plan_account(&plan));
        assert_int_equal(tp_plan_decide(&plan, fx->store, TP_PLAN_LOOK, is_ghost, fx, &rep), 0);
        assert_int_equal(plan.dec.verdict, TP_VERDICT_DENY_ACCESS);
        assert_int_equal(plan.dec.n_evict, 0);
        tp_plan_free(&plan);

        /* an enabled one is allowed */
        snprintf(req.service, sizeof(req.service), "tptest-desktop");
        tp_plan_init(&plan, &req, NOW);
        assert_true(tp_plan_tag(&plan, fx->config, &rep));
        assert_int_equal(tp_plan_access(&plan), TP_VERDICT_ALLOW);
}

static void test_tagging(void **state)
{
        struct fixture *fx = *state;
        struct tp_signin_plan plan;
        struct tp_req_signin req = { .user = "root", .service = "tptest-unmapped" };
        struct tp_reply rep;

        tp_plan_init(&plan, &req, NOW);
        assert_false(tp_plan_tag(&plan, fx->config, &rep));
        assert_int_equal(rep.status, TP_STATUS_UNMAPPED);

        snprintf(req.client, sizeof(req.client), "tptest-undefined");
        tp_plan_init(&plan, &req, NOW);
        assert_false(tp_plan_tag(&plan, fx->config, &rep));
        assert_int_equal(rep.status, TP_STATUS_BAD_REQUEST);

        /* the module argument wins over the service's mapping */
        snprintf(req.client, sizeof(req.client), "lru");
        snprintf(req.service, sizeof(req.service), "tptest-desktop");
        tp_plan_init(&plan, &req, NOW);
        assert_true(tp_plan_tag(&plan, fx->config, &rep));
        assert_string_equal(plan.client->name, "lru");
        assert_int_equal(plan.policy.evict, TP_EVICT_LEAST_RECENTLY_USED);
        assert_int_equal(plan.policy.max_refresh_tokens, 10);
}

static void test_account(void **state)
{
        struct tp_signin_plan plan;
        struct tp_req_signin req = { .user = "root" };

        (void)state;
        tp_plan_init(&plan, &req, NOW);
        assert_true(tp_plan_account(&plan));
        assert_int_equal(plan.uid, 0);
        assert_string_equal(plan.user, "root");

        snprintf(req.user, sizeof(req.user), "tptest-no-such-user");
        tp_plan_init(&plan, &req, NOW);
        assert_false(tp_plan_account(&plan));
        assert_false(plan.known);
        assert_string_equal(plan.user, "tptest-no-such-user");
}

/* ---- EXPLAIN is OPEN ------------------------------------------------------- */

/* The same decision. The count is the same too wherever OPEN looked for
 * ghosts (at the cap); below it OPEN does not look (no ghost can change
 * its decision there), EXPLAIN does, so that the count it reports is
 * exact. */
static void assert_same(const struct outcome *explain, const struct outcome *open)
{
        assert_int_equal(explain->verdict, open->verdict);
        if (open->at_cap || open->n_ghosts > 0 || explain->n_ghosts == 0)
                assert_int_equal(explain->n_live, open->n_live);
        else
                assert_int_equal(explain->n_live + explain->n_ghosts, open->n_live);
        assert_int_equal(explain->n_evict, open->n_evict);
        assert_int_equal(explain->n_expired, open->n_expired);
        assert_int_equal(explain->refresh_expires, open->refresh_expires);
        for (size_t i = 0; i < open->n_evict && i < TP_EVICTED_MAX; i++)
                assert_string_equal(explain->evicted[i], open->evicted[i]);
}

/* For each store, EXPLAIN first (it changes nothing), then OPEN on the same
 * sessions: the same verdict, count and sessions signed out, in order. */
static void test_explain_equals_open(void **state)
{
        static const struct {
                const char *client;
                int live, gone, expired, unknown;
        } cases[] = {
                { "desktop", 0, 0, 0, 0 },
                { "desktop", 9, 0, 0, 0 },
                { "desktop", 10, 0, 0, 0 },
                { "desktop", 14, 0, 1, 0 },     /* over a lowered cap */
                { "desktop", 9, 1, 0, 0 },      /* a ghost makes room at the cap */
                { "desktop", 10, 3, 2, 1 },
                { "desktop", 6, 2, 0, 2 },      /* at the cap with ghosts */
                { "desktop", 3, 2, 1, 0 },      /* below the cap with ghosts */
                { "lru", 12, 1, 0, 0 },
                { "strict", 10, 0, 0, 0 },
                { "strict", 9, 1, 0, 0 },       /* deny_new, but a ghost made room */
                { "web", 10, 1, 0, 0 },
        };

        (void)state;
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
                struct fixture *fx;
                struct outcome ex, op;
                int n = 0;

                assert_int_equal(setup((void **)&fx), 0);
                for (int i = 0; i < cases[c].live; i++, n++)
                        add(fx, cases[c].client, 1000 + 37 * ((n * 7) % 19), 10 + (n * 13) % 17, DAY, LIVE);
                for (int i = 0; i < cases[c].gone; i++, n++)
                        add(fx, cases[c].client, 1000 + 37 * ((n * 7) % 19), 10 + n, DAY, GONE);
                for (int i = 0; i < cases[c].expired; i++, n++)
                        add(fx, cases[c].client, 9000 + n, 9000, -10 - n, i % 2 ? GONE : LIVE);
                for (int i = 0; i < cases[c].unknown; i++, n++)
                        add(fx, cases[c].client, 500 + n, 10, DAY, UNKNOWN);
                explain_decides(fx, cases[c].client, &ex);
                open_decides(fx, cases[c].client, false, &op);
                print_message("%s %d live %d gone %d expired %d unknown: %s, %zu live, %zu evicted\n",
                              cases[c].client, cases[c].live, cases[c].gone, cases[c].expired,
                              cases[c].unknown, tp_verdict_reason(op.verdict), op.n_live, op.n_evict);
                assert_same(&ex, &op);
                assert_int_equal(teardown((void **)&fx), 0);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_below_the_cap_nothing_is_looked_at, setup, teardown),
                cmocka_unit_test_setup_teardown(test_at_the_cap_the_oldest_is_chosen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_least_recently_used_is_chosen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_deny_new_at_the_cap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ghosts_at_the_cap_are_closed_and_not_counted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ghosts_below_the_cap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_expired_is_no_ghost, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disabled_client, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tagging, setup, teardown),
                cmocka_unit_test(test_account),
                cmocka_unit_test(test_explain_equals_open),
        };

        now_ = (int64_t)time(NULL);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
