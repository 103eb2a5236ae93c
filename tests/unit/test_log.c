/* test_log.c: unit tests for the audit lines and their holding for a group
 * commit. stderr is redirected to a file and read back. Where a journal
 * socket exists, it is hidden in a private mount namespace (root only;
 * otherwise the tests skip) so that no test entry reaches the journal.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "log.h"

struct fixture {
        char path[64];
        int saved_stderr;
};

static bool journal_hidden;

/* Once per process: no journal socket, or one hidden under a tmpfs. */
static int hide_journal(void **state)
{
        (void)state;
        journal_hidden = access(TP_JOURNAL_SOCKET, F_OK) != 0 ||
                         (unshare(CLONE_NEWNS) == 0 &&
                          mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
                          mount("tmpfs", "/run/systemd/journal", "tmpfs", 0, NULL) == 0);
        return 0;
}

static void need_quiet_journal(void)
{
        if (!journal_hidden)
                skip();
}

static int setup(void **state)
{
        struct fixture *fx = calloc(1, sizeof(*fx));
        int fd;

        *state = fx;
        if (!fx)
                return -1;
        if (!journal_hidden)
                return 0; /* each test skips */
        snprintf(fx->path, sizeof(fx->path), "/tmp/tptest-log.XXXXXX");
        fd = mkstemp(fx->path);
        if (fd < 0)
                return -1;
        fflush(stderr);
        fx->saved_stderr = dup(STDERR_FILENO);
        if (fx->saved_stderr < 0 || dup2(fd, STDERR_FILENO) < 0)
                return -1;
        close(fd);
        unsetenv("JOURNAL_STREAM");
        tp_log_open(true, false);
        return 0;
}

static int teardown(void **state)
{
        struct fixture *fx = *state;

        if (!journal_hidden) {
                free(fx);
                return 0;
        }
        fflush(stderr);
        dup2(fx->saved_stderr, STDERR_FILENO);
        close(fx->saved_stderr);
        unlink(fx->path);
        free(fx);
        return 0;
}

/* Everything written to stderr so far, from the start of the file. */
static char *written(struct fixture *fx)
{
        static char buf[65536];
        FILE *f;
        size_t n;

        fflush(stderr);
        f = fopen(fx->path, "r");
        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

static size_t count_lines(const char *s)
{
        size_t n = 0;

        for (; *s; s++)
                n += *s == '\n';
        return n;
}

static void audit(const char *event, const char *user, const char *reason)
{
        tp_audit(&(struct tp_audit){ .event = event, .user = user, .client = "ssh", .service = "sshd",
                                     .reason = reason, .peer_uid = -1 });
}

static void test_line_is_one_line_with_escapes(void **state)
{
        struct fixture *fx = *state;
        char *out;

        need_quiet_journal();
        audit("deny", "a b\"c\nd", "x=y");
        out = written(fx);
        assert_non_null(strstr(out, "audit: event=deny user=\"a b\\\"c\\x0ad\" client=ssh service=sshd "
                                    "reason=\"x=y\"\n"));
        assert_int_equal(count_lines(out), 1);
}

static void test_long_value_is_cut_on_one_line(void **state)
{
        struct fixture *fx = *state;
        char reason[8192];

        need_quiet_journal();
        memset(reason, 'r', sizeof(reason) - 1);
        reason[sizeof(reason) - 1] = '\0';
        audit("allow", "alice", reason);
        assert_int_equal(count_lines(written(fx)), 1);
}

/* Held events are written only at release, in the order they came. */
static void test_hold_then_release_writes_in_order(void **state)
{
        struct fixture *fx = *state;
        char *out, *first, *second, *third;

        need_quiet_journal();
        tp_audit_hold();
        audit("allow", "first", "signed in");
        tp_audit_mark(true);
        audit("deny", "second", "client type disabled");
        audit("close", "third", "signed out");
        tp_audit_mark(true);
        assert_string_equal(written(fx), "");
        assert_int_equal(tp_audit_release(true), 0);
        out = written(fx);
        first = strstr(out, "user=first");
        second = strstr(out, "user=second");
        third = strstr(out, "user=third");
        assert_non_null(first);
        assert_non_null(second);
        assert_non_null(third);
        assert_true(first < second && second < third);
        assert_int_equal(count_lines(out), 3);

        /* Released: the next event is written at once. */
        audit("allow", "fourth", "access check passed");
        assert_non_null(strstr(written(fx), "user=fourth"));
}

/* After a failed commit, only the events that did not depend on it are
 * written; events never marked count as not depending. */
static void test_failed_commit_drops_what_depended_on_it(void **state)
{
        struct fixture *fx = *state;
        char *out;

        need_quiet_journal();
        tp_audit_hold();
        audit("allow", "kept-denial", "access check passed");
        tp_audit_mark(false);
        audit("allow", "dropped-open", "signed in");
        audit("evict", "dropped-evict", "session limit reached");
        tp_audit_mark(true);
        audit("deny", "kept-unmarked", "session of another user");
        assert_int_equal(tp_audit_release(false), 2);
        out = written(fx);
        assert_non_null(strstr(out, "user=kept-denial"));
        assert_non_null(strstr(out, "user=kept-unmarked"));
        assert_null(strstr(out, "dropped"));
        assert_int_equal(count_lines(out), 2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_line_is_one_line_with_escapes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_long_value_is_cut_on_one_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hold_then_release_writes_in_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_commit_drops_what_depended_on_it, setup, teardown),
        };

        return cmocka_run_group_tests(tests, hide_journal, NULL);
}
