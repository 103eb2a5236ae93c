/* SPDX-License-Identifier: BSD-3-Clause */
/* test_config.c: unit tests for shared/config.c.
 *
 * Walks the corpus in tests/config (bad/NAME.conf with the exact messages
 * in NAME.expect, good/NAME.conf that must load cleanly) and checks merge
 * order, the effective policy, lookups and every limit on both sides.
 * The corpus is found relative to the working directory (the repository
 * root) unless TP_TEST_CORPUS names it. Never writes to stdout itself.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

/* Poison value: a failed load must leave the caller's pointer as it was. */
#define UNTOUCHED ((struct tp_config *) (uintptr_t) 0x7e57c0f1u)

static const char *corpus_dir(void)
{
        const char *dir = getenv("TP_TEST_CORPUS");

        return dir && dir[0] ? dir : "tests/config";
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sorted names of the regular *.conf entries in dir; NULL-terminated. */
static char **list_conf_files(const char *dir, size_t *ret_n)
{
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        DIR *d = opendir(dir);

        if (!d)
                fail_msg("cannot open corpus directory %s: %s (set TP_TEST_CORPUS)", dir,
                         strerror(errno));
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);

                if (len <= 5 || strcmp(de->d_name + len - 5, ".conf") != 0)
                        continue;
                names = realloc(names, (n + 2) * sizeof(*names));
                assert_non_null(names);
                names[n] = strdup(de->d_name);
                assert_non_null(names[n]);
                n++;
        }
        closedir(d);
        if (names) {
                qsort(names, n, sizeof(*names), name_cmp);
                names[n] = NULL;
        }
        *ret_n = n;
        return names;
}

static void free_names(char **names)
{
        for (size_t i = 0; names && names[i]; i++)
                free(names[i]);
        free(names);
}

static char *path_join(const char *a, const char *b, const char *c)
{
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s%s", a, b, c ? c : "") > 0);
        return p;
}

/* The expected messages of a bad corpus file, @FILE@ replaced by path. */
static char **read_expect(const char *expect_path, const char *path, size_t *ret_n)
{
        FILE *f = fopen(expect_path, "re");
        char *line = NULL, **out = NULL;
        size_t cap = 0, n = 0;
        ssize_t len;

        if (!f)
                fail_msg("missing %s: %s", expect_path, strerror(errno));
        while ((len = getline(&line, &cap, f)) >= 0) {
                char *at, *msg;

                if (len > 0 && line[len - 1] == '\n')
                        line[--len] = '\0';
                if (len == 0)
                        continue;
                at = strstr(line, "@FILE@");
                if (at)
                        assert_true(asprintf(&msg, "%.*s%s%s", (int) (at - line), line, path,
                                             at + 6) > 0);
                else
                        msg = strdup(line);
                assert_non_null(msg);
                out = realloc(out, (n + 1) * sizeof(*out));
                assert_non_null(out);
                out[n++] = msg;
        }
        free(line);
        fclose(f);
        *ret_n = n;
        return out;
}

/* ---- corpus -------------------------------------------------------------- */

static void test_bad_corpus(void **state)
{
        char *dir = path_join(corpus_dir(), "bad", NULL);
        size_t n_files, i, j, mismatches = 0;
        char **files = list_conf_files(dir, &n_files);

        (void) state;
        /* One file per error kind; fewer means the corpus went missing. */
        assert_true(n_files >= 25);
        for (i = 0; i < n_files; i++) {
                struct tp_config_errors errs = { 0 };
                struct tp_config *c = UNTOUCHED;
                size_t base_len = strlen(files[i]) - 5, n_expect;
                char *path = path_join(dir, files[i], NULL);
                char *stem = strndup(files[i], base_len);
                char *expect_path = path_join(dir, stem, ".expect");
                char **expect = read_expect(expect_path, path, &n_expect);
                int r = tp_config_load_file(path, &c, &errs);

                assert_true(n_expect > 0);
                if (r != -EINVAL || c != UNTOUCHED) {
                        print_error("%s: load returned %d, ret %s\n", path, r,
                                    c == UNTOUCHED ? "untouched" : "written");
                        mismatches++;
                }
                for (j = 0; j < n_expect || j < errs.n; j++) {
                        const char *want = j < n_expect ? expect[j] : "(nothing)";
                        const char *got = j < errs.n ? errs.messages[j] : "(nothing)";

                        if (strcmp(want, got) != 0) {
                                print_error("%s: message %zu\n  want: %s\n  got:  %s\n", path,
                                            j + 1, want, got);
                                mismatches++;
                        }
                }
                for (j = 0; j < n_expect; j++)
                        free(expect[j]);
                free(expect);
                tp_config_errors_clear(&errs);
                free(expect_path);
                free(stem);
                free(path);
        }
        assert_int_equal(mismatches, 0);
        free_names(files);
        free(dir);
}

/* Every .expect has its .conf, so no expectation is silently skipped. */
static void test_bad_corpus_pairs(void **state)
{
        char *dir = path_join(corpus_dir(), "bad", NULL);
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n_expect = 0;

        (void) state;
        assert_non_null(d);
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                char *stem, *conf;

                if (len <= 7 || strcmp(de->d_name + len - 7, ".expect") != 0)
                        continue;
                stem = strndup(de->d_name, len - 7);
                conf = path_join(dir, stem, ".conf");
                if (access(conf, R_OK) != 0)
                        fail_msg("%s/%s has no .conf", dir, de->d_name);
                n_expect++;
                free(conf);
                free(stem);
        }
        closedir(d);
        assert_true(n_expect >= 25);
        free(dir);
}

static void test_good_corpus(void **state)
{
        char *dir = path_join(corpus_dir(), "good", NULL);
        size_t n_files, i;
        char **files = list_conf_files(dir, &n_files);

        (void) state;
        assert_true(n_files >= 5);
        for (i = 0; i < n_files; i++) {
                struct tp_config_errors errs = { 0 };
                struct tp_config *c = NULL;
                char *path = path_join(dir, files[i], NULL);
                int r = tp_config_load_file(path, &c, &errs);

                if (r != 0)
                        fail_msg("%s: load returned %d, first message: %s", path, r,
                                 errs.n ? errs.messages[0] : "(none)");
                assert_int_equal(errs.n, 0);
                assert_non_null(c);
                assert_string_equal(c->path, path);
                assert_int_equal(c->version, 1);
                assert_true(c->n_clients >= 1 && c->n_clients <= TP_POLICY_CLIENTS_MAX);
                tp_config_free(c);
                free(path);
        }
        free_names(files);
        free(dir);
}

static struct tp_config *load_corpus_file(const char *sub, const char *file)
{
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = NULL;
        char *dir = path_join(corpus_dir(), sub, NULL);
        char *path = path_join(dir, file, NULL);

        assert_int_equal(tp_config_load_file(path, &c, &errs), 0);
        assert_int_equal(errs.n, 0);
        free(path);
        free(dir);
        return c;
}

static void test_boundaries_accepted(void **state)
{
        struct tp_config *c = load_corpus_file("good", "boundary-min.conf");
        const struct tp_client_config *web = tp_config_client(c, "web");

        (void) state;
        assert_non_null(web);
        assert_int_equal(web->refresh_ttl_hours, 24);
        assert_int_equal(web->access_ttl_minutes, 360);
        assert_int_equal(web->max_refresh_tokens, 10);
        assert_int_equal(web->idle_timeout_minutes, 0);
        assert_int_equal(web->warn_before_minutes, 0);
        assert_int_equal(web->on_idle, TP_BUILTIN_ON_IDLE);
        assert_int_equal(c->history_days, TP_HISTORY_DAYS_MIN);
        assert_int_equal(c->account_recheck_minutes, TP_ACCOUNT_RECHECK_MINUTES_MIN);
        tp_config_free(c);

        c = load_corpus_file("good", "boundary-max.conf");
        web = tp_config_client(c, "web");
        assert_non_null(web);
        assert_int_equal(web->refresh_ttl_hours, 1440);
        assert_int_equal(web->access_ttl_minutes, 1080);
        assert_int_equal(web->max_refresh_tokens, 100);
        assert_int_equal(web->idle_timeout_minutes, TP_IDLE_TIMEOUT_MINUTES_MAX);
        assert_int_equal(web->warn_before_minutes, TP_WARN_BEFORE_MINUTES_MAX);
        assert_int_equal(web->on_idle, TP_ACTION_TERMINATE);
        assert_true(web->revoke_on_password_change);
        assert_int_equal(c->history_days, TP_HISTORY_DAYS_MAX);
        assert_int_equal(c->account_recheck_minutes, TP_ACCOUNT_RECHECK_MINUTES_MAX);
        tp_config_free(c);

        /* Without a store group, ended sessions are kept 30 days. */
        c = load_corpus_file("good", "minimal.conf");
        assert_int_equal(c->history_days, TP_HISTORY_DAYS_DEFAULT);
        assert_int_equal(TP_HISTORY_DAYS_DEFAULT, 30);
        assert_int_equal(c->account_recheck_minutes, 15);
        tp_config_free(c);
}

static void test_shipped_file(void **state)
{
        static const char *const names[] = { "desktop", "web", "mobile", "ssh" };
        static const char *const desktop_services[] = { "gdm-password", "lightdm", "sddm",
                                                        "login" };
        struct tp_config *c = load_corpus_file("good", "shipped.conf");
        const struct tp_client_config *cl;
        size_t i;

        (void) state;
        assert_true(c->custom_token_policy);
        assert_int_equal(c->unknown_client, -1);
        assert_int_equal(c->n_clients, 4);
        assert_int_equal(c->history_days, 30);
        for (i = 0; i < 4; i++) {
                cl = &c->clients[i];
                assert_string_equal(cl->name, names[i]);
                assert_true(cl->access);
                assert_false(cl->auto_extend);
                assert_int_equal(cl->refresh_ttl_hours, 336);
                assert_int_equal(cl->access_ttl_minutes, 720);
                assert_int_equal(cl->max_refresh_tokens, 20);
                assert_int_equal(cl->evict, TP_EVICT_OLDEST);
                assert_int_equal(cl->on_revoke, TP_ACTION_TERMINATE);
                assert_int_equal(cl->on_expiry, i == 0 ? TP_ACTION_LOCK : TP_ACTION_TERMINATE);
                /* Off unless the administrator turns them on. */
                assert_int_equal(cl->idle_timeout_minutes, 0);
                assert_int_equal(cl->on_idle, TP_ACTION_LOCK);
                assert_int_equal(cl->warn_before_minutes, 0);
                assert_false(cl->revoke_on_password_change);
        }
        cl = tp_config_client(c, "desktop");
        assert_int_equal(cl->n_services, 4);
        for (i = 0; i < 4; i++)
                assert_string_equal(cl->services[i], desktop_services[i]);
        assert_int_equal(tp_config_client(c, "mobile")->n_services, 0);
        assert_string_equal(tp_config_client_for_service(c, "cockpit")->name, "web");
        assert_string_equal(tp_config_client_for_service(c, "sshd")->name, "ssh");
        tp_config_free(c);
}

/* ---- direct tests --------------------------------------------------------- */

static struct tp_config *load_ok(const char *text)
{
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = NULL;
        int r = tp_config_load_string(text, "test.conf", &c, &errs);

        if (r != 0)
                fail_msg("load returned %d, first message: %s", r,
                         errs.n ? errs.messages[0] : "(none)");
        assert_int_equal(errs.n, 0);
        assert_non_null(c);
        return c;
}

/* Loads text that must fail with exactly one message, and returns it. */
static char *load_one_error(const char *text)
{
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = UNTOUCHED;
        char *msg;
        int r = tp_config_load_string(text, "test.conf", &c, &errs);

        assert_int_equal(r, -EINVAL);
        assert_ptr_equal(c, UNTOUCHED);
        if (errs.n != 1)
                fail_msg("expected one message, got %zu (first: %s)", errs.n,
                         errs.n ? errs.messages[0] : "(none)");
        msg = errs.messages[0];
        errs.messages[0] = NULL;
        tp_config_errors_clear(&errs);
        return msg;
}

static void assert_one_error(const char *text, const char *want)
{
        char *msg = load_one_error(text);

        assert_string_equal(msg, want);
        free(msg);
}

static void test_merge_order(void **state)
{
        struct tp_config *c = load_ok(
                "version = 1;\n"
                "defaults = { refresh_token_ttl_hours = 48; evict = \"deny_new\";\n"
                "             on_revoke = \"lock\"; access = false; };\n"
                "clients = {\n"
                "  web = { refresh_token_ttl_hours = 72; access = true; };\n"
                "  ssh = { };\n"
                "};\n");
        const struct tp_client_config *web = tp_config_client(c, "web");
        const struct tp_client_config *ssh = tp_config_client(c, "ssh");

        (void) state;
        /* client entry beats defaults */
        assert_int_equal(web->refresh_ttl_hours, 72);
        assert_true(web->access);
        /* defaults beat built-ins */
        assert_int_equal(web->evict, TP_EVICT_DENY_NEW);
        assert_int_equal(web->on_revoke, TP_ACTION_LOCK);
        assert_int_equal(ssh->refresh_ttl_hours, 48);
        assert_false(ssh->access);
        /* built-ins where neither says anything */
        assert_int_equal(web->access_ttl_minutes, TP_BUILTIN_ACCESS_TTL_MINUTES);
        assert_int_equal(web->max_refresh_tokens, TP_BUILTIN_MAX_REFRESH_TOKENS);
        assert_int_equal(web->auto_extend, TP_BUILTIN_AUTO_EXTEND);
        assert_int_equal(web->on_expiry, TP_BUILTIN_ON_EXPIRY);
        tp_config_free(c);

        /* without defaults: built-ins, access true */
        c = load_ok("version = 1; clients = { web = { }; };");
        web = tp_config_client(c, "web");
        assert_true(web->access);
        assert_int_equal(web->refresh_ttl_hours, TP_BUILTIN_REFRESH_TTL_HOURS);
        assert_int_equal(web->evict, TP_BUILTIN_EVICT);
        assert_int_equal(web->on_revoke, TP_BUILTIN_ON_REVOKE);
        assert_true(c->custom_token_policy);
        tp_config_free(c);

        /* defaults may come after clients in the file and still apply */
        c = load_ok("version = 1; clients = { web = { }; };\n"
                    "defaults = { max_refresh_tokens = 30; };\n");
        assert_int_equal(tp_config_client(c, "web")->max_refresh_tokens, 30);
        tp_config_free(c);
}

/* on_store_unreachable: "local" unless said, per client type over defaults;
 * anything else is refused with the values it takes. */
static void test_store_unreachable(void **state)
{
        struct tp_config *c = load_ok("version = 1;\n"
                                      "defaults = { on_store_unreachable = \"deny\"; };\n"
                                      "clients = { desktop = { on_store_unreachable = \"local\"; };\n"
                                      "            ssh = { }; };\n");
        struct tp_effective_policy p;

        (void) state;
        assert_false(tp_config_client(c, "desktop")->deny_when_store_unreachable);
        assert_true(tp_config_client(c, "ssh")->deny_when_store_unreachable);
        tp_config_effective(c, tp_config_client(c, "ssh"), &p);
        assert_true(p.deny_when_store_unreachable);
        tp_config_free(c);

        c = load_ok("version = 1; clients = { web = { }; };");
        assert_false(tp_config_client(c, "web")->deny_when_store_unreachable);
        tp_config_free(c);

        assert_one_error("version = 1; clients = { web = { on_store_unreachable = \"allow\"; }; };",
                         "test.conf:1: on_store_unreachable = \"allow\" is not one of local, deny");
        assert_one_error("version = 1; clients = { web = { on_store_unreachable = true; }; };",
                         "test.conf:1: on_store_unreachable must be a string (one of local, deny), not a boolean");
}

static const char custom_policy_text[] =
        "version = 1;\n"
        "custom_token_policy = %s;\n"
        "clients = { web = {\n"
        "  access = false; auto_extend_refresh_token = true;\n"
        "  refresh_token_ttl_hours = 1440; access_token_ttl_minutes = 1080;\n"
        "  max_refresh_tokens = 100; evict = \"least_recently_used\";\n"
        "  on_expiry = \"none\"; on_revoke = \"lock\"; }; };\n";

static void test_effective_custom_false(void **state)
{
        struct tp_effective_policy p;
        struct tp_config *c;
        char *text;

        (void) state;
        assert_true(asprintf(&text, custom_policy_text, "false") > 0);
        c = load_ok(text);
        assert_false(c->custom_token_policy);
        /* configured values are kept for display */
        assert_int_equal(c->clients[0].refresh_ttl_hours, 1440);
        tp_config_effective(c, &c->clients[0], &p);
        assert_int_equal(p.auto_extend, TP_BUILTIN_AUTO_EXTEND);
        assert_int_equal(p.refresh_ttl_hours, TP_BUILTIN_REFRESH_TTL_HOURS);
        assert_int_equal(p.access_ttl_minutes, TP_BUILTIN_ACCESS_TTL_MINUTES);
        assert_int_equal(p.max_refresh_tokens, TP_BUILTIN_MAX_REFRESH_TOKENS);
        /* access, evict and the actions still come from the file */
        assert_false(p.access);
        assert_int_equal(p.evict, TP_EVICT_LEAST_RECENTLY_USED);
        assert_int_equal(p.on_expiry, TP_ACTION_NONE);
        assert_int_equal(p.on_revoke, TP_ACTION_LOCK);
        tp_config_free(c);
        free(text);
}

static void test_effective_custom_true(void **state)
{
        struct tp_effective_policy p;
        struct tp_config *c;
        char *text;

        (void) state;
        assert_true(asprintf(&text, custom_policy_text, "true") > 0);
        c = load_ok(text);
        tp_config_effective(c, &c->clients[0], &p);
        assert_true(p.auto_extend);
        assert_int_equal(p.refresh_ttl_hours, 1440);
        assert_int_equal(p.access_ttl_minutes, 1080);
        assert_int_equal(p.max_refresh_tokens, 100);
        assert_false(p.access);
        assert_int_equal(p.evict, TP_EVICT_LEAST_RECENTLY_USED);
        assert_int_equal(p.on_expiry, TP_ACTION_NONE);
        assert_int_equal(p.on_revoke, TP_ACTION_LOCK);
        tp_config_free(c);
        free(text);
}

static void test_enum_values(void **state)
{
        struct tp_config *c = load_ok(
                "version = 1; clients = {\n"
                "  a = { evict = \"oldest\"; on_expiry = \"terminate\"; on_revoke = \"none\"; };\n"
                "  b = { evict = \"least_recently_used\"; on_expiry = \"lock\"; };\n"
                "  c = { evict = \"deny_new\"; on_expiry = \"none\"; on_revoke = \"lock\"; };\n"
                "};");

        (void) state;
        assert_int_equal(c->clients[0].evict, TP_EVICT_OLDEST);
        assert_int_equal(c->clients[1].evict, TP_EVICT_LEAST_RECENTLY_USED);
        assert_int_equal(c->clients[2].evict, TP_EVICT_DENY_NEW);
        assert_int_equal(c->clients[0].on_expiry, TP_ACTION_TERMINATE);
        assert_int_equal(c->clients[1].on_expiry, TP_ACTION_LOCK);
        assert_int_equal(c->clients[2].on_expiry, TP_ACTION_NONE);
        assert_int_equal(c->clients[0].on_revoke, TP_ACTION_NONE);
        assert_int_equal(c->clients[2].on_revoke, TP_ACTION_LOCK);
        tp_config_free(c);
}

/* The file spells each evict mode and action as the wire, the POLICY
 * reply and tokenpolicyctl do (proto.c): every such name loads as its
 * value, and a refused one is told the same list. */
static void test_enum_names_are_the_wire_names(void **state)
{
        char text[256], want[256];
        struct tp_config *c;

        (void) state;
        for (unsigned v = 0; v <= TP_EVICT_MAX_; v++) {
                snprintf(text, sizeof(text), "version = 1; clients = { a = { evict = \"%s\"; }; };",
                         tp_evict_to_string(v));
                c = load_ok(text);
                assert_int_equal(c->clients[0].evict, v);
                tp_config_free(c);
        }
        for (unsigned v = 0; v <= TP_ACTION_MAX_; v++) {
                snprintf(text, sizeof(text),
                         "version = 1; clients = { a = { on_expiry = \"%s\"; on_revoke = \"%s\"; }; };",
                         tp_action_to_string(v), tp_action_to_string(v));
                c = load_ok(text);
                assert_int_equal(c->clients[0].on_expiry, v);
                assert_int_equal(c->clients[0].on_revoke, v);
                tp_config_free(c);
        }
        snprintf(want, sizeof(want), "test.conf:1: evict = \"unknown\" is not one of %s, %s, %s",
                 tp_evict_to_string(0), tp_evict_to_string(1), tp_evict_to_string(2));
        assert_one_error("version = 1; clients = { a = { evict = \"unknown\"; }; };", want);
        snprintf(want, sizeof(want), "test.conf:1: on_revoke must be a string (one of %s, %s, %s), not an integer",
                 tp_action_to_string(0), tp_action_to_string(1), tp_action_to_string(2));
        assert_one_error("version = 1; clients = { a = { on_revoke = 1; }; };", want);
}

static void test_service_lookups(void **state)
{
        struct tp_config *c = load_ok(
                "version = 1; clients = {\n"
                "  desktop = { services = [\"gdm-password\", \"login\"]; };\n"
                "  ssh = { services = (\"sshd\"); };\n"
                "  web = { };\n"
                "};");

        (void) state;
        assert_ptr_equal(tp_config_client_for_service(c, "login"), &c->clients[0]);
        assert_ptr_equal(tp_config_client_for_service(c, "gdm-password"), &c->clients[0]);
        assert_ptr_equal(tp_config_client_for_service(c, "sshd"), &c->clients[1]);
        assert_null(tp_config_client_for_service(c, "cockpit"));
        assert_null(tp_config_client_for_service(c, ""));
        assert_null(tp_config_client_for_service(c, "SSHD"));
        assert_null(tp_config_client_for_service(c, NULL));
        assert_null(tp_config_client_for_service(NULL, "sshd"));
        assert_ptr_equal(tp_config_client(c, "web"), &c->clients[2]);
        assert_null(tp_config_client(c, "deny"));
        assert_null(tp_config_client(c, "Web"));
        assert_null(tp_config_client(c, NULL));
        assert_null(tp_config_client(NULL, "web"));
        tp_config_free(c);
}

static void test_unknown_client(void **state)
{
        struct tp_config *c;

        (void) state;
        c = load_ok("version = 1; clients = { web = { }; };");
        assert_int_equal(c->unknown_client, -1);
        tp_config_free(c);

        c = load_ok("version = 1; unknown_client = \"deny\"; clients = { web = { }; };");
        assert_int_equal(c->unknown_client, -1);
        tp_config_free(c);

        c = load_ok("unknown_client = \"ssh\"; version = 1;\n"
                    "clients = { web = { }; ssh = { }; };");
        assert_int_equal(c->unknown_client, 1);
        assert_string_equal(c->clients[c->unknown_client].name, "ssh");
        tp_config_free(c);

        assert_one_error("version = 1; unknown_client = \"Deny\"; clients = { web = { }; };",
                         "test.conf:1: unknown_client = \"Deny\" names no client type "
                         "(defined: web)");
}

static void test_failed_load_leaves_ret_untouched(void **state)
{
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = UNTOUCHED;

        (void) state;
        assert_int_equal(tp_config_load_string("version = 2; clients = { web = { }; };",
                                               "x.conf", &c, &errs), -EINVAL);
        assert_ptr_equal(c, UNTOUCHED);
        assert_int_equal(tp_config_load_string("version = ", "x.conf", &c, &errs), -EINVAL);
        assert_ptr_equal(c, UNTOUCHED);
        assert_int_equal(tp_config_load_file("/nonexistent/tokenpolicy.conf", &c, &errs),
                         -ENOENT);
        assert_ptr_equal(c, UNTOUCHED);
        /* messages of successive loads accumulate until cleared */
        assert_int_equal(errs.n, 3);
        assert_string_equal(errs.messages[0],
                            "x.conf:1: version = 2 is not supported (this release reads "
                            "version 1)");
        assert_string_equal(errs.messages[1], "x.conf:1: syntax error");
        assert_string_equal(errs.messages[2], "/nonexistent/tokenpolicy.conf: cannot open: "
                            "No such file or directory");
        tp_config_errors_clear(&errs);
        assert_int_equal(errs.n, 0);
        assert_null(errs.messages);
        tp_config_errors_clear(&errs);
        tp_config_errors_clear(NULL);
        tp_config_free(NULL);
        /* errs may be NULL: the load still fails */
        assert_int_equal(tp_config_load_string("version = 2;", "x.conf", &c, NULL), -EINVAL);
        assert_ptr_equal(c, UNTOUCHED);
        assert_int_equal(tp_config_load_string(NULL, "x.conf", &c, NULL), -EINVAL);
}

/* Errors come out in file order even when found out of order. */
static void test_errors_in_file_order(void **state)
{
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = UNTOUCHED;

        (void) state;
        assert_int_equal(tp_config_load_string(
                "unknown_client = \"kiosk\";\n"
                "clients = { web = { evict = \"newest\"; }; };\n"
                "defaults = { max_refresh_tokens = 101; };\n"
                "zzz = 1;\n",
                "o.conf", &c, &errs), -EINVAL);
        assert_int_equal(errs.n, 5);
        assert_string_equal(errs.messages[0], "o.conf: missing required setting 'version'");
        assert_string_equal(errs.messages[1], "o.conf:1: unknown_client = \"kiosk\" names no "
                            "client type (defined: web)");
        assert_string_equal(errs.messages[2], "o.conf:2: evict = \"newest\" is not one of "
                            "oldest, least_recently_used, deny_new");
        assert_string_equal(errs.messages[3], "o.conf:3: max_refresh_tokens = 101 is out of "
                            "range (10..100)");
        assert_string_equal(errs.messages[4], "o.conf:4: unknown top-level setting 'zzz' "
                            "(allowed: version, custom_token_policy, unknown_client, "
                            "defaults, clients, store, host_id)");
        tp_config_errors_clear(&errs);
}

/* ---- limits, both sides ---------------------------------------------------- */

static void test_integer_ranges(void **state)
{
        static const struct {
                const char *key;
                long long min, max;
        } keys[] = {
                { "refresh_token_ttl_hours", TP_REFRESH_TTL_HOURS_MIN, TP_REFRESH_TTL_HOURS_MAX },
                { "access_token_ttl_minutes", TP_ACCESS_TTL_MINUTES_MIN,
                  TP_ACCESS_TTL_MINUTES_MAX },
                { "max_refresh_tokens", TP_MAX_REFRESH_TOKENS_MIN, TP_MAX_REFRESH_TOKENS_MAX },
        };
        static const char *const places[][2] = {
                { "version = 1; defaults = { ", " }; clients = { web = { }; };" },
                { "version = 1; clients = { web = { ", " }; };" },
        };
        size_t k, p;

        (void) state;
        for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
                for (p = 0; p < 2; p++) {
                        const long long values[] = { keys[k].min - 1, keys[k].min, keys[k].max,
                                                     keys[k].max + 1 };

                        for (size_t v = 0; v < 4; v++) {
                                char *text, *want;

                                assert_true(asprintf(&text, "%s%s = %lld;%s", places[p][0],
                                                     keys[k].key, values[v],
                                                     places[p][1]) > 0);
                                if (v == 1 || v == 2) {
                                        tp_config_free(load_ok(text));
                                } else {
                                        assert_true(asprintf(&want, "test.conf:1: %s = %lld is "
                                                             "out of range (%lld..%lld)",
                                                             keys[k].key, values[v],
                                                             keys[k].min, keys[k].max) > 0);
                                        assert_one_error(text, want);
                                        free(want);
                                }
                                free(text);
                        }
                }

        /* store.history_days, at its edges; in a client or defaults it is
         * not a policy key. */
        tp_config_free(load_ok("version = 1; clients = { web = { }; }; store = { history_days = 1; };"));
        tp_config_free(load_ok("version = 1; clients = { web = { }; }; store = { history_days = 3650; };"));
        assert_one_error("version = 1; clients = { web = { }; }; store = { history_days = 0; };",
                         "test.conf:1: history_days = 0 is out of range (1..3650)");
        assert_one_error("version = 1; clients = { web = { }; }; store = { history_days = 3651; };",
                         "test.conf:1: history_days = 3651 is out of range (1..3650)");
        assert_one_error("version = 1; clients = { web = { history_days = 30; }; };",
                         "test.conf:1: unknown setting 'history_days' in client 'web'");
        assert_one_error("version = 1; clients = { web = { }; }; store = { };\nstore = { };",
                         "test.conf:2: duplicate setting name");
}

static void test_int64_and_float(void **state)
{
        struct tp_config *c;

        (void) state;
        c = load_ok("version = 1L; clients = { web = { refresh_token_ttl_hours = 1440L; }; };");
        assert_int_equal(c->clients[0].refresh_ttl_hours, 1440);
        tp_config_free(c);
        assert_one_error("version = 1; clients = { web = { refresh_token_ttl_hours = 1441L; }; };",
                         "test.conf:1: refresh_token_ttl_hours = 1441 is out of range (24..1440)");
        assert_one_error("version = 1.0; clients = { web = { }; };",
                         "test.conf:1: version must be an integer, not a float");
        assert_one_error("version = 1; clients = { web = { max_refresh_tokens = 1e1; }; };",
                         "test.conf:1: max_refresh_tokens must be an integer, not a float");
}

/* libconfig 1.5 wraps integer literals to 32 bits; the guard stops that at
 * exactly the int range, and ignores digits in comments and strings. */
static void test_integer_literal_guard(void **state)
{
        (void) state;
        assert_one_error("version = 2147483647; clients = { web = { }; };",
                         "test.conf:1: version = 2147483647 is not supported (this release "
                         "reads version 1)");
        assert_one_error("version = 2147483648; clients = { web = { }; };",
                         "test.conf:1: integer 2147483648 is outside the 32-bit range "
                         "-2147483648..2147483647");
        assert_one_error("version = -2147483648; clients = { web = { }; };",
                         "test.conf:1: version = -2147483648 is not supported (this release "
                         "reads version 1)");
        assert_one_error("version = -2147483649; clients = { web = { }; };",
                         "test.conf:1: integer -2147483649 is outside the 32-bit range "
                         "-2147483648..2147483647");
        assert_one_error("version = 1;\nclients = { web = {\n max_refresh_tokens = 0x7fffffff; }; };",
                         "test.conf:3: max_refresh_tokens = 2147483647 is out of range (10..100)");
        assert_one_error("version = 1;\nclients = { web = {\n max_refresh_tokens = 0x80000000; }; };",
                         "test.conf:3: integer 0x80000000 is outside the 32-bit range "
                         "-2147483648..2147483647");
        assert_one_error("version = 1;\nclients = { web = {\n max_refresh_tokens = 4294967396L; }; };",
                         "test.conf:3: max_refresh_tokens = 4294967396 is out of range (10..100)");
        tp_config_free(load_ok("# 99999999999 in a comment\n"
                               "/* and 99999999999\n in a block */ version = 1;\n"
                               "// 4294967297\n"
                               "clients = { web = { services = [\"99999999999\", \"a\\\"1e99999999999\"]; }; };\n"));
}

static void test_include_rejected(void **state)
{
        (void) state;
        assert_one_error("version = 1;\n\n@include \"/etc/passwd\"\n",
                         "test.conf:3: @include is not supported: keep the whole policy in "
                         "this file");
        /* inside a string or a comment it is just text */
        tp_config_free(load_ok("# @include \"x\"\nversion = 1;\n"
                               "clients = { web = { services = [\"@include\"]; }; };"));
}

static char *client_list(size_t n)
{
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        assert_non_null(f);
        fprintf(f, "version = 1;\nclients = {\n");
        for (size_t i = 0; i < n; i++)
                fprintf(f, "  c%zu = { };\n", i);
        fprintf(f, "};\n");
        fclose(f);
        return text;
}

static void test_clients_count_limit(void **state)
{
        char *text;
        struct tp_config *c;

        (void) state;
        text = client_list(TP_POLICY_CLIENTS_MAX);
        c = load_ok(text);
        assert_int_equal(c->n_clients, TP_POLICY_CLIENTS_MAX);
        tp_config_free(c);
        free(text);

        text = client_list(TP_POLICY_CLIENTS_MAX + 1);
        assert_one_error(text, "test.conf:2: clients defines 33 client types (at most 32)");
        free(text);
}

static void test_client_name_limit(void **state)
{
        char name[TP_CLIENT_MAX + 1], *text, *want;
        struct tp_config *c;

        (void) state;
        memset(name, 'a', TP_CLIENT_MAX - 1);
        name[TP_CLIENT_MAX - 1] = '\0';
        assert_true(asprintf(&text, "version = 1; clients = { %s = { }; };", name) > 0);
        c = load_ok(text);
        assert_string_equal(c->clients[0].name, name);
        assert_non_null(tp_config_client(c, name));
        tp_config_free(c);
        free(text);

        strcat(name, "a");
        assert_true(asprintf(&text, "version = 1; clients = { %s = { }; };", name) > 0);
        assert_true(asprintf(&want, "test.conf:1: client name '%.64s...' is invalid: use 1..64 "
                             "characters of a-z, 0-9, '_' and '-', starting with a letter",
                             name) > 0);
        assert_one_error(text, want);
        free(want);
        free(text);

        tp_config_free(load_ok("version = 1; clients = { a = { }; z-9_ = { }; };"));
        assert_one_error("version = 1; clients = { web* = { }; };",
                         "test.conf:1: client name 'web*' is invalid: use 1..64 characters of "
                         "a-z, 0-9, '_' and '-', starting with a letter");
}

static void test_service_name_limit(void **state)
{
        char service[TP_SERVICE_MAX + 1], *text;
        struct tp_config *c;

        (void) state;
        memset(service, 's', TP_SERVICE_MAX - 1);
        service[TP_SERVICE_MAX - 1] = '\0';
        assert_true(asprintf(&text, "version = 1; clients = { web = { services = [\"%s\"]; }; };",
                             service) > 0);
        c = load_ok(text);
        assert_string_equal(c->clients[0].services[0], service);
        assert_non_null(tp_config_client_for_service(c, service));
        tp_config_free(c);
        free(text);

        strcat(service, "s");
        assert_true(asprintf(&text, "version = 1; clients = { web = { services = [\"%s\"]; }; };",
                             service) > 0);
        {
                char *msg = load_one_error(text);

                assert_non_null(strstr(msg, "is longer than 256 characters"));
                assert_non_null(strstr(msg, "in client 'web'"));
                free(msg);
        }
        free(text);

        assert_one_error("version = 1; clients = { web = { services = [\"a\\tb\"]; }; };",
                         "test.conf:1: service 'a\\x09b' in client 'web' contains whitespace "
                         "(a PAM service name has no '/', ',', whitespace or control "
                         "characters)");
        assert_one_error("version = 1; clients = { web = { services = [\"a\\x01b\"]; }; };",
                         "test.conf:1: service 'a\\x01b' in client 'web' contains a control "
                         "character (a PAM service name has no '/', ',', whitespace or "
                         "control characters)");
}

/* A client's services travel joined with commas in one TP_SERVICES_TEXT_MAX
 * field of the POLICY reply. */
static void test_services_text_limit(void **state)
{
        char s[4][256], *text;
        struct tp_config *c;
        size_t i;

        (void) state;
        for (i = 0; i < 4; i++) {
                memset(s[i], 'a' + (int) i, 255);
                s[i][255] = '\0';
        }
        /* 4 * 255 + 3 commas = 1023 */
        assert_true(asprintf(&text, "version = 1; clients = { web = { services = "
                             "[\"%s\", \"%s\", \"%s\", \"%s\"]; }; };",
                             s[0], s[1], s[2], s[3]) > 0);
        c = load_ok(text);
        assert_int_equal(c->clients[0].n_services, 4);
        tp_config_free(c);
        free(text);

        assert_true(asprintf(&text, "version = 1; clients = { web = { services = "
                             "[\"%s\", \"%s\", \"%s\", \"%sx\"]; }; };",
                             s[0], s[1], s[2], s[3]) > 0);
        assert_one_error(text, "test.conf:1: services of client 'web' take 1024 characters "
                         "joined with commas (at most 1023)");
        free(text);
}

static void test_duplicate_services(void **state)
{
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = UNTOUCHED;

        (void) state;
        assert_int_equal(tp_config_load_string(
                "version = 1; clients = {\n"
                "  a = { services = [\"login\"]; };\n"
                "  b = { services = [\"login\"]; };\n"
                "  c = { services = [\"x\", \"login\"]; };\n"
                "};", "d.conf", &c, &errs), -EINVAL);
        assert_ptr_equal(c, UNTOUCHED);
        assert_int_equal(errs.n, 2);
        assert_string_equal(errs.messages[0], "d.conf:3: service 'login' is mapped to both "
                            "'a' and 'b'");
        assert_string_equal(errs.messages[1], "d.conf:4: service 'login' is mapped to both "
                            "'a' and 'c'");
        tp_config_errors_clear(&errs);

        /* the same service twice in one client maps to one type: accepted */
        c = load_ok("version = 1; clients = { a = { services = [\"login\", \"login\"]; }; };");
        assert_string_equal(tp_config_client_for_service(c, "login")->name, "a");
        tp_config_free(c);
}

/* ---- files ---------------------------------------------------------------- */

struct tmpdir {
        char path[PATH_MAX];
};

static int setup_tmpdir(void **state)
{
        struct tmpdir *t = calloc(1, sizeof(*t));
        const char *base = getenv("TMPDIR");

        if (!t)
                return -1;
        snprintf(t->path, sizeof(t->path), "%s/test_config.XXXXXX", base && base[0] ? base : "/tmp");
        if (!mkdtemp(t->path)) {
                free(t);
                return -1;
        }
        *state = t;
        return 0;
}

static int teardown_tmpdir(void **state)
{
        struct tmpdir *t = *state;
        char *file = path_join(t->path, "tokenpolicy.conf", NULL);

        unlink(file);
        free(file);
        rmdir(t->path);
        free(t);
        return 0;
}

static char *write_file(struct tmpdir *t, const char *data, size_t len)
{
        char *path = path_join(t->path, "tokenpolicy.conf", NULL);
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
        return path;
}

static void test_file_nul_byte(void **state)
{
        static const char data[] = "version = 1;\0clients = { web = { }; };\n";
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = UNTOUCHED;
        char *path = write_file(*state, data, sizeof(data) - 1), *want;

        assert_int_equal(tp_config_load_file(path, &c, &errs), -EINVAL);
        assert_ptr_equal(c, UNTOUCHED);
        assert_int_equal(errs.n, 1);
        assert_true(asprintf(&want, "%s: contains a NUL byte at offset 12; the file must be "
                             "text", path) > 0);
        assert_string_equal(errs.messages[0], want);
        free(want);
        tp_config_errors_clear(&errs);
        free(path);
}

static void test_file_size_limit(void **state)
{
        static const char head[] = "version = 1; clients = { web = { }; };\n#";
        const size_t max = 1024 * 1024;
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = NULL;
        char *data = malloc(max + 1), *path, *want;

        assert_non_null(data);
        memset(data, 'x', max + 1);
        memcpy(data, head, sizeof(head) - 1);
        data[max - 1] = '\n';
        path = write_file(*state, data, max);
        assert_int_equal(tp_config_load_file(path, &c, &errs), 0);
        assert_int_equal(errs.n, 0);
        tp_config_free(c);
        free(path);

        data[max - 1] = 'x';
        data[max] = '\n';
        path = write_file(*state, data, max + 1);
        c = UNTOUCHED;
        assert_int_equal(tp_config_load_file(path, &c, &errs), -EINVAL);
        assert_ptr_equal(c, UNTOUCHED);
        assert_int_equal(errs.n, 1);
        assert_true(asprintf(&want, "%s: file is larger than 1048576 bytes", path) > 0);
        assert_string_equal(errs.messages[0], want);
        free(want);
        tp_config_errors_clear(&errs);
        free(path);
        free(data);
}

static void test_file_not_regular(void **state)
{
        struct tmpdir *t = *state;
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = UNTOUCHED;
        char *want;

        assert_int_equal(tp_config_load_file(t->path, &c, &errs), -EINVAL);
        assert_ptr_equal(c, UNTOUCHED);
        assert_int_equal(errs.n, 1);
        assert_true(asprintf(&want, "%s: not a regular file", t->path) > 0);
        assert_string_equal(errs.messages[0], want);
        free(want);
        tp_config_errors_clear(&errs);
}

static void test_file_loads_with_path_as_name(void **state)
{
        static const char data[] = "version = 1;\nclients = { web = { evict = \"x\"; }; };\n";
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = UNTOUCHED;
        char *path = write_file(*state, data, sizeof(data) - 1), *want;

        assert_int_equal(tp_config_load_file(path, &c, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_true(asprintf(&want, "%s:2: evict = \"x\" is not one of oldest, "
                             "least_recently_used, deny_new", path) > 0);
        assert_string_equal(errs.messages[0], want);
        free(want);
        tp_config_errors_clear(&errs);
        free(path);
}

/* A valid load keeps the exact text it was read from: the daemon saves
 * that, not a second read of the file, as the last valid configuration. */
static void test_valid_load_keeps_its_text(void **state)
{
        static const char data[] = "# kept as it is, comments and all\n"
                                   "version = 1;\nclients = { web = { services = [\"cockpit\"]; }; };\n";
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = NULL, *again = NULL;
        char *path = write_file(*state, data, sizeof(data) - 1);

        assert_int_equal(tp_config_load_file(path, &c, &errs), 0);
        assert_int_equal(c->text_len, sizeof(data) - 1);
        assert_memory_equal(c->text, data, sizeof(data));
        /* Loading that text again gives the same policy. */
        assert_int_equal(tp_config_load_string(c->text, "copy", &again, &errs), 0);
        assert_int_equal(again->n_clients, 1);
        assert_string_equal(again->clients[0].services[0], "cockpit");
        assert_string_equal(again->text, data);
        tp_config_free(again);
        tp_config_free(c);
        free(path);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bad_corpus),
                cmocka_unit_test(test_bad_corpus_pairs),
                cmocka_unit_test(test_good_corpus),
                cmocka_unit_test(test_boundaries_accepted),
                cmocka_unit_test(test_shipped_file),
                cmocka_unit_test(test_merge_order),
                cmocka_unit_test(test_store_unreachable),
                cmocka_unit_test(test_effective_custom_false),
                cmocka_unit_test(test_effective_custom_true),
                cmocka_unit_test(test_enum_values),
                cmocka_unit_test(test_enum_names_are_the_wire_names),
                cmocka_unit_test(test_service_lookups),
                cmocka_unit_test(test_unknown_client),
                cmocka_unit_test(test_failed_load_leaves_ret_untouched),
                cmocka_unit_test(test_errors_in_file_order),
                cmocka_unit_test(test_integer_ranges),
                cmocka_unit_test(test_int64_and_float),
                cmocka_unit_test(test_integer_literal_guard),
                cmocka_unit_test(test_include_rejected),
                cmocka_unit_test(test_clients_count_limit),
                cmocka_unit_test(test_client_name_limit),
                cmocka_unit_test(test_service_name_limit),
                cmocka_unit_test(test_services_text_limit),
                cmocka_unit_test(test_duplicate_services),
                cmocka_unit_test_setup_teardown(test_file_nul_byte, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_file_size_limit, setup_tmpdir,
                                                teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_file_not_regular, setup_tmpdir,
                                                teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_file_loads_with_path_as_name, setup_tmpdir,
                                                teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_valid_load_keeps_its_text, setup_tmpdir,
                                                teardown_tmpdir),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
