/* SPDX-License-Identifier: BSD-3-Clause */
/* test_notice.c: unit tests for telling a session's user why it ends.
 *
 * Everything is real: a session is a tree of forked processes shaped like
 * an sshd login, a leader whose child (the same program, as sshd's
 * unprivileged half) holds the read end of its own child's (the command's)
 * standard error pipe and hands on what it reads; terminals are
 * pseudo-terminals from posix_openpt that the command takes as its
 * controlling terminal. The tests check where the notice arrives, and
 * above all where it must not: another user's terminal, a file behind the
 * command's standard error, its standard output, a path named in PAM_TTY,
 * a leader that is not the recorded one. Every test kills its processes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "notice.h"

#define WAIT_MS 3000
#define QUIET_MS 100

enum stderr_kind { STDERR_PIPE, STDERR_IS_STDOUT, STDERR_FILE, STDERR_NULL };

struct tree {
        pid_t leader, child, command;
        uint64_t leader_start;
        int heard;              /* what the child (sshd's half) read from the command's stderr */
        int master;             /* the command's terminal, master side; -1 none */
        char slave[64];
        char file[64];          /* STDERR_FILE: the file behind the command's stderr */
};

static uint64_t start_time(pid_t pid)
{
        char path[64], buf[1024], *p;
        unsigned long long v = 0;
        ssize_t n;
        int fd;

        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        assert_true(n > 0);
        buf[n] = '\0';
        p = strrchr(buf, ')');
        assert_non_null(p);
        p += 2;
        for (int field = 3; field < 22; field++)
                p = strchr(p, ' ') + 1;
        assert_int_equal(sscanf(p, "%llu", &v), 1);
        return v;
}

static void die_with_parent(void)
{
        prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* The command: a terminal of its own when asked, stdin and stdout on
 * /dev/null or the pipe, stderr as `kind` says; then it waits. */
static void command_main(int err_w, int ready_w, enum stderr_kind kind, const char *slave, const char *file)
{
        int null = open("/dev/null", O_RDWR);

        die_with_parent();
        if (slave[0]) {
                int t;

                setsid();
                t = open(slave, O_RDWR);   /* without O_NOCTTY: the controlling terminal */
                if (t < 0)
                        _exit(1);
                if (ioctl(t, TIOCSCTTY, 0) < 0)
                        _exit(1);
                /* Output as it is written (no \n -> \r\n), to compare bytes. */
                {
                        struct termios tio;

                        if (tcgetattr(t, &tio) < 0)
                                _exit(1);
                        cfmakeraw(&tio);
                        if (tcsetattr(t, TCSANOW, &tio) < 0)
                                _exit(1);
                }
        }
        dup2(null, 0);
        dup2(kind == STDERR_IS_STDOUT ? err_w : null, 1);
        if (kind == STDERR_PIPE || kind == STDERR_IS_STDOUT) {
                dup2(err_w, 2);
        } else if (kind == STDERR_FILE) {
                int f = open(file, O_WRONLY | O_APPEND);

                if (f < 0)
                        _exit(1);
                dup2(f, 2);
        } else {
                dup2(null, 2);
        }
        if (write(ready_w, "R", 1) != 1)
                _exit(1);
        for (;;)
                pause();
}

/* sshd's unprivileged half: holds the read end of the command's stderr
 * and hands on whatever arrives. */
static void child_main(int heard_w, int ready_w, enum stderr_kind kind, const char *slave, const char *file)
{
        int err[2];
        char buf[1024];
        ssize_t n;

        die_with_parent();
        if (pipe(err) < 0)
                _exit(1);
        if (fork() == 0) {
                close(err[0]);
                command_main(err[1], ready_w, kind, slave, file);
        }
        close(err[1]);
        while ((n = read(err[0], buf, sizeof buf)) > 0)
                if (write(heard_w, buf, (size_t) n) != n)
                        _exit(1);
        for (;;)
                pause();
}

static pid_t only_child(pid_t pid)
{
        char path[64], buf[256];
        ssize_t n;
        int fd;

        snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int) pid, (int) pid);
        fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        assert_true(n > 0);
        buf[n] = '\0';
        return (pid_t) atoi(buf);
}

static void spawn(struct tree *t, enum stderr_kind kind, bool terminal)
{
        int heard[2], ready[2];
        char c;

        memset(t, 0, sizeof *t);
        t->master = -1;
        if (terminal) {
                t->master = posix_openpt(O_RDWR | O_NOCTTY);
                assert_true(t->master >= 0);
                assert_int_equal(grantpt(t->master), 0);
                assert_int_equal(unlockpt(t->master), 0);
                snprintf(t->slave, sizeof t->slave, "%s", ptsname(t->master));
        }
        if (kind == STDERR_FILE) {
                int fd;

                snprintf(t->file, sizeof t->file, "/tmp/tp-notice-XXXXXX");
                fd = mkstemp(t->file);
                assert_true(fd >= 0);
                close(fd);
        }
        assert_int_equal(pipe(heard), 0);
        assert_int_equal(pipe(ready), 0);
        t->leader = fork();
        assert_true(t->leader >= 0);
        if (t->leader == 0) {
                die_with_parent();
                close(heard[0]);
                close(ready[0]);
                if (fork() == 0)
                        child_main(heard[1], ready[1], kind, t->slave, t->file);
                for (;;)
                        pause();
        }
        close(heard[1]);
        close(ready[1]);
        t->heard = heard[0];
        fcntl(t->heard, F_SETFL, O_NONBLOCK);
        assert_int_equal(read(ready[0], &c, 1), 1);
        close(ready[0]);
        t->leader_start = start_time(t->leader);
        t->child = only_child(t->leader);
        t->command = only_child(t->child);
        assert_true(t->child > 0 && t->command > 0);
}

static void reap(struct tree *t)
{
        if (t->leader > 0) {
                kill(t->leader, SIGKILL);
                waitpid(t->leader, NULL, 0);
        }
        if (t->master >= 0)
                close(t->master);
        close(t->heard);
        if (t->file[0])
                unlink(t->file);
}

/* Whatever arrives on fd within timeout_ms, as a string. */
static void collect(int fd, int timeout_ms, char *buf, size_t bufsz)
{
        size_t len = 0;
        struct pollfd p = { .fd = fd, .events = POLLIN };

        buf[0] = '\0';
        while (len + 1 < bufsz && poll(&p, 1, timeout_ms) > 0) {
                ssize_t n = read(fd, buf + len, bufsz - 1 - len);

                if (n <= 0)
                        break;
                len += (size_t) n;
                buf[len] = '\0';
                timeout_ms = QUIET_MS;   /* the rest comes right after */
        }
}

static int setup(void **state)
{
        (void) state;
        signal(SIGPIPE, SIG_IGN);
        return 0;
}

/* ---- where it arrives -------------------------------------------------- */

static void test_non_interactive_told_on_stderr(void **state)
{
        struct tp_notice_sent sent;
        struct tree t;
        char what[256], got[1024], expect[128];

        (void) state;
        spawn(&t, STDERR_PIPE, false);
        assert_int_equal(tp_notice_send(t.leader, t.leader_start, getuid(), "ssh",
                                        "tokenpolicy: bye", &sent, what, sizeof what), 1);
        snprintf(expect, sizeof expect, "told on the standard error of pid %d", (int) t.command);
        assert_string_equal(what, expect);
        collect(t.heard, WAIT_MS, got, sizeof got);
        assert_string_equal(got, "tokenpolicy: bye\n");
        assert_true(tp_notice_read(&sent));   /* sshd's half took it */
        tp_notice_close(&sent);
        reap(&t);
}

static void test_terminal_told_and_text_cleaned(void **state)
{
        struct tp_notice_sent sent;
        struct tree t;
        char what[256], got[1024], expect[128];

        (void) state;
        spawn(&t, STDERR_NULL, true);
        assert_int_equal(tp_notice_send(t.leader, t.leader_start, getuid(), "ssh",
                                        "bye\033[2J\r\x80now", &sent, what, sizeof what), 1);
        snprintf(expect, sizeof expect, "told on %s", t.slave);
        assert_string_equal(what, expect);
        collect(t.master, WAIT_MS, got, sizeof got);
        /* No escape sequence, carriage return or byte above 0x7e gets through. */
        assert_string_equal(got, "\r\n*** bye?[2J??now ***\r\n");
        tp_notice_close(&sent);
        reap(&t);
}

/* PAM_TTY names the terminal the sign-in was made on: told once. */
static void test_pam_tty_and_tree_told_once(void **state)
{
        struct tp_notice_sent sent;
        struct tree t;
        char what[256], got[1024];

        (void) state;
        spawn(&t, STDERR_NULL, true);
        assert_int_equal(tp_notice_send(t.leader, t.leader_start, getuid(), t.slave + 5, "x", &sent,
                                        what, sizeof what), 1);
        collect(t.master, WAIT_MS, got, sizeof got);
        assert_string_equal(got, "\r\n*** x ***\r\n");
        tp_notice_close(&sent);
        reap(&t);
}

/* ---- where it must not arrive ----------------------------------------- */

static void test_another_users_terminal_is_not_written(void **state)
{
        struct tp_notice_sent sent;
        struct tree t;
        char what[256], got[256];

        (void) state;
        spawn(&t, STDERR_NULL, true);
        /* The terminal is ours (root's); the session belongs to uid 4242. */
        assert_int_equal(tp_notice_send(t.leader, t.leader_start, 4242, "", "x", &sent, what, sizeof what), 0);
        assert_non_null(strstr(what, "could not tell"));
        assert_non_null(strstr(what, "Operation not permitted"));
        collect(t.master, QUIET_MS, got, sizeof got);
        assert_string_equal(got, "");
        reap(&t);
}

static void test_stderr_file_is_never_written(void **state)
{
        struct tp_notice_sent sent;
        struct tree t;
        struct stat st;
        char what[256], got[256];

        (void) state;
        spawn(&t, STDERR_FILE, false);
        assert_int_equal(tp_notice_send(t.leader, t.leader_start, getuid(), "ssh", "x", &sent, what,
                                        sizeof what), 0);
        assert_string_equal(what, "no terminal to tell");
        assert_int_equal(stat(t.file, &st), 0);
        assert_int_equal(st.st_size, 0);
        collect(t.heard, QUIET_MS, got, sizeof got);
        assert_string_equal(got, "");
        reap(&t);
}

/* 2>&1: the pipe carries the command's output; a notice there would be
 * mixed into the data. */
static void test_stdout_is_never_written(void **state)
{
        struct tp_notice_sent sent;
        struct tree t;
        char what[256], got[256];

        (void) state;
        spawn(&t, STDERR_IS_STDOUT, false);
        assert_int_equal(tp_notice_send(t.leader, t.leader_start, getuid(), "ssh", "x", &sent, what,
                                        sizeof what), 0);
        collect(t.heard, QUIET_MS, got, sizeof got);
        assert_string_equal(got, "");
        reap(&t);
}

static void test_pam_tty_paths_are_never_opened(void **state)
{
        static const char *const bad[] = {
                "/etc/passwd", "../../etc/passwd", "/dev/../etc/passwd", "pts/../../etc/passwd",
                "/tmp/tp-notice-fifo", "pts/1x", "tty", ":0", "/dev/null", "null",
        };
        struct tp_notice_sent sent;
        struct tree t;
        char what[256];

        (void) state;
        spawn(&t, STDERR_NULL, false);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                assert_int_equal(tp_notice_send(t.leader, t.leader_start, getuid(), bad[i], "x", &sent,
                                                what, sizeof what), 0);
                assert_string_equal(what, "no terminal to tell");
        }
        reap(&t);
}

/* A pid that is not the recorded leader (reused, or a wrong start time)
 * is not looked into at all. */
static void test_not_the_recorded_leader(void **state)
{
        struct tp_notice_sent sent;
        struct tree t;
        char what[256], got[256];

        (void) state;
        spawn(&t, STDERR_PIPE, true);
        assert_int_equal(tp_notice_send(t.leader, t.leader_start + 1, getuid(), t.slave, "x", &sent,
                                        what, sizeof what), 0);
        assert_string_equal(what, "");
        assert_int_equal(tp_notice_send(t.leader, 0, getuid(), t.slave, "x", &sent, what, sizeof what), 0);
        assert_int_equal(tp_notice_send(0, t.leader_start, getuid(), t.slave, "x", &sent, what, sizeof what),
                         0);
        collect(t.heard, QUIET_MS, got, sizeof got);
        assert_string_equal(got, "");
        collect(t.master, QUIET_MS, got, sizeof got);
        assert_string_equal(got, "");
        reap(&t);
}

/* Until sshd's half reads the pipe, the notice counts as unread. */
static void test_unread_until_the_reader_reads(void **state)
{
        struct tp_notice_sent sent = { .n = 0 };
        int p[2];
        char buf[8];

        (void) state;
        assert_int_equal(pipe(p), 0);
        assert_true(tp_notice_read(&sent));
        sent.fds[0] = p[1];
        sent.pipe[0] = true;
        sent.n = 1;
        assert_int_equal(write(p[1], "abc", 3), 3);
        assert_false(tp_notice_read(&sent));
        assert_int_equal(read(p[0], buf, sizeof buf), 3);
        assert_true(tp_notice_read(&sent));
        tp_notice_close(&sent);
        assert_int_equal(sent.n, 0);
        close(p[0]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_non_interactive_told_on_stderr),
                cmocka_unit_test(test_terminal_told_and_text_cleaned),
                cmocka_unit_test(test_pam_tty_and_tree_told_once),
                cmocka_unit_test(test_another_users_terminal_is_not_written),
                cmocka_unit_test(test_stderr_file_is_never_written),
                cmocka_unit_test(test_stdout_is_never_written),
                cmocka_unit_test(test_pam_tty_paths_are_never_opened),
                cmocka_unit_test(test_not_the_recorded_leader),
                cmocka_unit_test(test_unread_until_the_reader_reads),
        };

        return cmocka_run_group_tests(tests, setup, NULL);
}
