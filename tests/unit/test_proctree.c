/* SPDX-License-Identifier: BSD-3-Clause */
/* test_proctree.c: unit tests for the walk below a session's leader
 * (tokenpolicyd/proctree.c).
 *
 * Real processes: a leader that forks a child and a grandchild (each
 * waiting in pause()), and a bystander that is no descendant. Signalling
 * the leader's descendants ends child and grandchild, never the leader or
 * the bystander; a leader without descendants signals nothing; a /proc
 * that cannot be read is an error. Every process it starts is reaped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proctree.h"

/* A leader whose child and grandchild pause; their pids come back
 * through a pipe once all are running. */
static pid_t start_leader(pid_t *ret_child, pid_t *ret_grandchild)
{
        int fds[2];
        pid_t leader, ids[2];

        assert_int_equal(pipe(fds), 0);
        leader = fork();
        assert_true(leader >= 0);
        if (leader == 0) {
                pid_t child = fork();

                if (child == 0) {
                        pid_t grandchild = fork();

                        if (grandchild == 0) {
                                for (;;)
                                        pause();
                        }
                        pid_t both[2] = { getpid(), grandchild };
                        if (write(fds[1], both, sizeof(both)) != sizeof(both))
                                _exit(1);
                        for (;;)
                                pause();
                }
                /* The leader stays until killed; it reaps nobody, so its
                 * ended child stays a zombie below it (the walk skips
                 * zombies). */
                for (;;)
                        pause();
        }
        close(fds[1]);
        assert_int_equal(read(fds[0], ids, sizeof(ids)), (ssize_t) sizeof(ids));
        close(fds[0]);
        *ret_child = ids[0];
        *ret_grandchild = ids[1];
        return leader;
}

static bool gone(pid_t pid)
{
        /* Killed but not yet reaped shows as a zombie: gone too. */
        char path[64], buf[512], *p;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        f = fopen(path, "r");
        if (!f)
                return true;
        p = fgets(buf, sizeof(buf), f);
        fclose(f);
        return !p || !(p = strrchr(buf, ')')) || p[2] == 'Z';
}

static bool wait_gone(pid_t pid)
{
        for (int i = 0; i < 200 && !gone(pid); i++)
                usleep(10000);
        return gone(pid);
}

static pid_t started[4];

/* Whatever an assertion left running is killed and reaped. */
static int kill_started(void **state)
{
        (void) state;
        for (size_t i = 0; i < 4; i++)
                if (started[i] > 0) {
                        kill(started[i], SIGKILL);
                        if (i < 2)
                                waitpid(started[i], NULL, 0);
                        started[i] = 0;
                }
        return 0;
}

static void test_descendants_only(void **state)
{
        pid_t leader, child, grandchild, bystander;
        size_t n = 99;
        int status;

        (void) state;
        leader = start_leader(&child, &grandchild);
        started[0] = leader;
        bystander = fork();
        assert_true(bystander >= 0);
        if (bystander == 0) {
                for (;;)
                        pause();
        }
        started[1] = bystander;
        started[2] = child;
        started[3] = grandchild;
        assert_int_equal(tp_proctree_signal_descendants(NULL, leader, SIGTERM, &n), 0);
        assert_int_equal(n, 2);
        assert_true(wait_gone(child));
        assert_true(wait_gone(grandchild));
        assert_false(gone(leader));
        assert_false(gone(bystander));

        /* Nothing below it any more. */
        assert_int_equal(tp_proctree_signal_descendants(NULL, leader, SIGTERM, &n), 0);
        assert_int_equal(n, 0);
        assert_false(gone(leader));

        kill(leader, SIGKILL);
        kill(bystander, SIGKILL);
        assert_int_equal(waitpid(leader, &status, 0), leader);
        assert_int_equal(waitpid(bystander, &status, 0), bystander);
        started[0] = started[1] = started[2] = started[3] = 0;
}

static void test_no_such_root_and_bad_proc(void **state)
{
        size_t n = 99;

        (void) state;
        /* A pid no process has (beyond pid_max): nothing to signal. */
        assert_int_equal(tp_proctree_signal_descendants(NULL, 0x3fffffff, SIGTERM, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(tp_proctree_signal_descendants("/nonexistent-proc", getpid(), 0, NULL),
                         -ENOENT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_descendants_only, kill_started),
                cmocka_unit_test(test_no_such_root_and_bad_proc),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
