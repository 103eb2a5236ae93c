/* SPDX-License-Identifier: BSD-3-Clause */
/* test_enforce.c: unit tests for enforcement on running sessions.
 *
 * Everything is real: leaders are forked children that report each SIGHUP
 * they receive over a pipe, logind is tests/fake-logind (found at
 * $B/tests/fake-logind, B defaulting to "build") on a private dbus-daemon
 * in a fresh temporary directory, and DBUS_SYSTEM_BUS_ADDRESS points the
 * enforcer there (or at a socket that does not exist, for "no logind").
 * Every test kills and reaps its children, its bus and its fake, and
 * removes its directory. A missing dbus-daemon fails the tests that need
 * it; nothing is skipped. Never writes to stdout except through cmocka.
 */
#include <dirent.h>
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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "enforce.h"
#include "io.h"

#define MAX_LEADERS 8
#define MAX_FAKE_SESSIONS 4
#define STARTUP_TIMEOUT_MS 3000
#define SIGNAL_TIMEOUT_MS 2000
/* How long a child gets to show a signal it must not have received. */
#define QUIET_MS 50

struct leader {
        pid_t pid;      /* 0 once reaped */
        int fd;         /* reads 'R' once ready, then 'H' per SIGHUP */
        uint64_t start;
};

struct fixture {
        char dir[256];
        char log_path[300];
        char bus_address[400];
        pid_t dbus_pid;
        pid_t logind_pid;
        struct leader leaders[MAX_LEADERS];
        size_t n_leaders;
        struct tp_enforcer *e;
};

/* ---- children ---------------------------------------------------------- */

static int hup_report_fd = -1;

static void leader_on_sighup(int sig)
{
        char c = 'H';

        (void) sig;
        if (write(hup_report_fd, &c, 1) != 1)
                _exit(3);
}

/* A session leader: reports SIGHUP and lives on (survive_hup), or dies of
 * it; SIGTERM always kills it. Never returns. */
__attribute__((noreturn))
static void leader_main(int fd, bool survive_hup)
{
        struct sigaction sa = { .sa_handler = survive_hup ? leader_on_sighup : SIG_DFL };
        sigset_t none;

        hup_report_fd = fd;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGHUP, &sa, NULL);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGTERM, &sa, NULL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (write(fd, "R", 1) != 1)
                _exit(2);
        for (;;)
                pause();
}

/* Next byte from fd within timeout_ms, or -1. */
static int read_byte(int fd, int timeout_ms)
{
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        unsigned char c;

        if (poll(&pfd, 1, timeout_ms) != 1 || read(fd, &c, 1) != 1)
                return -1;
        return c;
}

static struct leader *spawn_leader(struct fixture *fx, bool survive_hup)
{
        struct leader *l;
        int p[2];
        pid_t pid;

        assert_true(fx->n_leaders < MAX_LEADERS);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                leader_main(p[1], survive_hup);
        }
        close(p[1]);
        l = &fx->leaders[fx->n_leaders++];
        l->pid = pid;
        l->fd = p[0];
        assert_int_equal(read_byte(l->fd, STARTUP_TIMEOUT_MS), 'R');
        assert_int_equal(tp_process_start_time(pid, &l->start), 0);
        return l;
}

static bool leader_running(struct leader *l)
{
        int status;

        return l->pid > 0 && waitpid(l->pid, &status, WNOHANG) == 0;
}

/* Reap the leader within SIGNAL_TIMEOUT_MS; its wait status. */
static int leader_reap(struct leader *l)
{
        int64_t deadline = tp_monotonic_ms() + SIGNAL_TIMEOUT_MS;
        struct timespec pause_ts = { 0, 2 * 1000 * 1000 };
        int status = 0;
        pid_t r;

        assert_true(l->pid > 0);
        while ((r = waitpid(l->pid, &status, WNOHANG)) == 0 && tp_monotonic_ms() < deadline)
                nanosleep(&pause_ts, NULL);
        if (r != l->pid)
                fail_msg("leader pid %d did not exit within %d ms", (int) l->pid,
                         SIGNAL_TIMEOUT_MS);
        l->pid = 0;
        return status;
}

static void assert_killed_by(struct leader *l, int sig)
{
        int status = leader_reap(l);

        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), sig);
}

static void stop_process(pid_t *pid)
{
        int64_t deadline = tp_monotonic_ms() + SIGNAL_TIMEOUT_MS;
        struct timespec pause_ts = { 0, 2 * 1000 * 1000 };
        int status;

        if (*pid <= 0)
                return;
        kill(*pid, SIGTERM);
        while (waitpid(*pid, &status, WNOHANG) == 0) {
                if (tp_monotonic_ms() >= deadline) {
                        kill(*pid, SIGKILL);
                        waitpid(*pid, &status, 0);
                        break;
                }
                nanosleep(&pause_ts, NULL);
        }
        *pid = 0;
}

/* ---- files ------------------------------------------------------------- */

static void read_text(const char *path, char *buf, size_t size)
{
        size_t n = 0;
        FILE *f = fopen(path, "re");

        if (f) {
                n = fread(buf, 1, size - 1, f);
                fclose(f);
        }
        buf[n] = '\0';
}

static void fake_log(struct fixture *fx, char *buf, size_t size)
{
        read_text(fx->log_path, buf, size);
}

/* A line from fd within timeout_ms, without its newline. */
static bool read_line(int fd, char *buf, size_t size, int timeout_ms)
{
        int64_t deadline = tp_monotonic_ms() + timeout_ms;
        size_t n = 0;
        int c;

        while (n < size - 1) {
                int64_t left = deadline - tp_monotonic_ms();

                c = read_byte(fd, left > 0 ? (int) left : 0);
                if (c < 0)
                        return false;
                if (c == '\n') {
                        buf[n] = '\0';
                        return true;
                }
                buf[n++] = (char) c;
        }
        return false;
}

/* ---- the private bus --------------------------------------------------- */

static bool in_path(const char *name)
{
        const char *path = getenv("PATH");
        char candidate[512];

        if (!path || !*path)
                path = "/usr/local/bin:/usr/bin:/bin";
        while (*path) {
                size_t len = strcspn(path, ":");

                snprintf(candidate, sizeof candidate, "%.*s/%s", (int) len, path, name);
                if (len > 0 && access(candidate, X_OK) == 0)
                        return true;
                path += len;
                if (*path == ':')
                        path++;
        }
        return false;
}

static void start_dbus_daemon(struct fixture *fx)
{
        char conf[300], conf_arg[320], print_arg[64], err_path[300], err[1024];
        FILE *f;
        int p[2], fd;
        pid_t pid;

        if (!in_path("dbus-daemon"))
                fail_msg("dbus-daemon not found in PATH: install the Debian package dbus "
                         "(apt-get install dbus); these tests need a private bus");
        snprintf(conf, sizeof conf, "%s/bus.conf", fx->dir);
        snprintf(err_path, sizeof err_path, "%s/dbus.err", fx->dir);
        f = fopen(conf, "we");
        assert_non_null(f);
        fprintf(f, "<busconfig>\n"
                "  <listen>unix:path=%s/bus</listen>\n"
                "  <auth>EXTERNAL</auth>\n"
                "  <policy context=\"default\">\n"
                "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
                "    <allow eavesdrop=\"true\"/>\n"
                "    <allow own=\"*\"/>\n"
                "  </policy>\n"
                "</busconfig>\n", fx->dir);
        assert_int_equal(fclose(f), 0);

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                fd = open("/dev/null", O_RDWR);
                if (fd < 0 || dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
                        _exit(126);
                fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || fcntl(p[1], F_SETFD, 0) < 0)
                        _exit(126);
                snprintf(conf_arg, sizeof conf_arg, "--config-file=%s", conf);
                snprintf(print_arg, sizeof print_arg, "--print-address=%d", p[1]);
                execlp("dbus-daemon", "dbus-daemon", "--nofork", conf_arg, print_arg,
                       (char *) NULL);
                _exit(127);
        }
        fx->dbus_pid = pid;
        close(p[1]);
        if (!read_line(p[0], fx->bus_address, sizeof fx->bus_address, STARTUP_TIMEOUT_MS)) {
                close(p[0]);
                read_text(err_path, err, sizeof err);
                fail_msg("dbus-daemon did not start: %s", *err ? err : "no address printed");
        }
        close(p[0]);
}

/* A private bus with fake-logind serving the given "ID:PID[,PID...]"
 * sessions (NULL-terminated); the enforcer is pointed at it. */
__attribute__((sentinel))
static void start_logind(struct fixture *fx, bool stall, ...)
{
        const char *argv[8 + 2 * MAX_FAKE_SESSIONS];
        const char *build = getenv("B");
        char fake[300], line[64];
        const char *session;
        size_t argc = 0;
        va_list ap;
        int p[2];
        pid_t pid;

        snprintf(fake, sizeof fake, "%s/tests/fake-logind", build && *build ? build : "build");
        if (access(fake, X_OK) != 0)
                fail_msg("%s not found: build it first (make %s)", fake, fake);
        start_dbus_daemon(fx);

        argv[argc++] = fake;
        argv[argc++] = "--address";
        argv[argc++] = fx->bus_address;
        argv[argc++] = "--log";
        argv[argc++] = fx->log_path;
        if (stall)
                argv[argc++] = "--stall";
        va_start(ap, stall);
        while ((session = va_arg(ap, const char *))) {
                assert_true(argc + 3 <= sizeof argv / sizeof argv[0]);
                argv[argc++] = "--session";
                argv[argc++] = session;
        }
        va_end(ap);
        argv[argc] = NULL;

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (dup2(p[1], STDOUT_FILENO) < 0)
                        _exit(126);
                execv(fake, (char *const *) argv);
                _exit(127);
        }
        fx->logind_pid = pid;
        close(p[1]);
        if (!read_line(p[0], line, sizeof line, STARTUP_TIMEOUT_MS) || strcmp(line, "ready") != 0) {
                close(p[0]);
                fail_msg("fake-logind did not get ready on %s", fx->bus_address);
        }
        close(p[0]);
        assert_int_equal(setenv("DBUS_SYSTEM_BUS_ADDRESS", fx->bus_address, 1), 0);
}

/* ---- fixture ----------------------------------------------------------- */

static int setup(void **state)
{
        const char *tmp = getenv("TMPDIR");
        struct fixture *fx = calloc(1, sizeof *fx);
        char no_bus[400];

        if (!fx)
                return -1;
        snprintf(fx->dir, sizeof fx->dir, "%s/tp-enforce-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(fx->dir)) {
                free(fx);
                return -1;
        }
        snprintf(fx->log_path, sizeof fx->log_path, "%s/logind.log", fx->dir);
        /* Until a test starts a bus, there is none: a socket never created. */
        snprintf(no_bus, sizeof no_bus, "unix:path=%s/no-bus", fx->dir);
        if (setenv("DBUS_SYSTEM_BUS_ADDRESS", no_bus, 1) != 0 || tp_enforcer_new(&fx->e) < 0) {
                rmdir(fx->dir);
                free(fx);
                return -1;
        }
        *state = fx;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *fx = *state;
        struct dirent *de;
        DIR *d;

        tp_enforcer_free(fx->e);
        for (size_t i = 0; i < fx->n_leaders; i++) {
                if (fx->leaders[i].pid > 0) {
                        kill(fx->leaders[i].pid, SIGKILL);
                        waitpid(fx->leaders[i].pid, NULL, 0);
                }
                close(fx->leaders[i].fd);
        }
        stop_process(&fx->logind_pid);
        stop_process(&fx->dbus_pid);
        d = opendir(fx->dir);
        if (d) {
                while ((de = readdir(d)))
                        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                                unlinkat(dirfd(d), de->d_name, 0);
                closedir(d);
        }
        rmdir(fx->dir);
        unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
        signal(SIGHUP, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        free(fx);
        return 0;
}

/* The running boot, read as the daemon reads it; targets are of it unless
 * a test says otherwise. */
static char this_boot[TP_BOOT_ID_LEN + 1];
#define EARLIER_BOOT "00000000-1111-2222-3333-444444444444"

static struct tp_enforce_target target_of(const struct leader *l, const char *logind_session)
{
        assert_int_equal(tp_boot_id_read(this_boot, sizeof this_boot), 0);
        return (struct tp_enforce_target) {
                .session_id = "0123456789abcdef0123456789abcdef",
                .logind_session = logind_session,
                .leader_pid = l ? l->pid : 0,
                .leader_start = l ? l->start : 0,
                .boot_id = this_boot,
        };
}

/* ---- process start time ------------------------------------------------ */

static void test_start_time_of_self_and_child(void **state)
{
        struct fixture *fx = *state;
        struct leader *l;
        uint64_t self = 0, again = 0, zombie;
        int64_t deadline;
        pid_t pid;

        assert_int_equal(tp_process_start_time(getpid(), &self), 0);
        assert_true(self > 0);
        assert_int_equal(tp_process_start_time(getpid(), &again), 0);
        assert_true(again == self);

        l = spawn_leader(fx, true);
        assert_true(l->start >= self);

        /* A zombie has ended already: not a live process. */
        pid = l->pid;
        assert_int_equal(kill(pid, SIGKILL), 0);
        deadline = tp_monotonic_ms() + SIGNAL_TIMEOUT_MS;
        while (tp_process_start_time(pid, &zombie) == 0 && tp_monotonic_ms() < deadline)
                ;
        assert_int_equal(tp_process_start_time(pid, &zombie), -ESRCH);
        assert_killed_by(l, SIGKILL);
        assert_int_equal(tp_process_start_time(pid, &zombie), -ESRCH);

        assert_int_equal(tp_process_start_time(0, &zombie), -ESRCH);
        assert_int_equal(tp_process_start_time(-1, &zombie), -ESRCH);
        assert_int_equal(tp_process_start_time(getpid(), NULL), -EINVAL);
}

/* comm may contain ") Z 1 (": only the last ')' closes it. */
static void test_start_time_with_parentheses_in_name(void **state)
{
        struct fixture *fx = *state;
        struct leader *l;
        int to_child[2], from_child[2];
        uint64_t before, after;
        char c;
        pid_t pid;

        (void) fx;
        assert_int_equal(pipe2(to_child, O_CLOEXEC), 0);
        assert_int_equal(pipe2(from_child, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(to_child[1]);
                close(from_child[0]);
                if (read(to_child[0], &c, 1) != 1 || prctl(PR_SET_NAME, "a) Z 1 (b)x") != 0)
                        _exit(2);
                leader_main(from_child[1], true);
        }
        close(to_child[0]);
        close(from_child[1]);
        l = &fx->leaders[fx->n_leaders++];
        l->pid = pid;
        l->fd = from_child[0];

        assert_int_equal(tp_process_start_time(pid, &before), 0);
        assert_int_equal(write(to_child[1], "N", 1), 1);
        close(to_child[1]);
        assert_int_equal(read_byte(l->fd, STARTUP_TIMEOUT_MS), 'R');
        assert_int_equal(tp_process_start_time(pid, &after), 0);
        assert_true(after == before);
}

/* ---- without logind ---------------------------------------------------- */

static void test_terminate_sighup_then_sigterm_after_grace(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, true);
        struct tp_enforce_target t = target_of(l, "");
        char what[256], expect[128];
        int64_t before = tp_monotonic_ms();

        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        snprintf(expect, sizeof expect, "SIGHUP to leader pid %d, SIGTERM in %d s",
                 (int) l->pid, TP_ENFORCE_GRACE_MS / 1000);
        assert_non_null(strstr(what, expect));
        assert_non_null(strstr(what, "system bus unreachable"));
        assert_int_equal(read_byte(l->fd, SIGNAL_TIMEOUT_MS), 'H');

        /* Not due yet: it survives SIGHUP and stays pending. */
        assert_int_equal(tp_enforcer_tick(fx->e, before), 1);
        assert_int_equal(tp_enforcer_tick(fx->e, before + TP_ENFORCE_GRACE_MS - 1), 1);
        assert_true(leader_running(l));

        assert_int_equal(tp_enforcer_tick(fx->e, tp_monotonic_ms() + TP_ENFORCE_GRACE_MS), 0);
        assert_killed_by(l, SIGTERM);
        assert_int_equal(tp_enforcer_tick(fx->e, INT64_MAX), 0);
}

static void test_terminate_leader_dying_of_sighup_is_dropped(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, false);
        struct tp_enforce_target t = target_of(l, "");
        char what[256];

        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        assert_non_null(strstr(what, "SIGHUP to leader pid"));
        assert_killed_by(l, SIGHUP);
        /* Gone before its grace ended: dropped without a SIGTERM. */
        assert_int_equal(tp_enforcer_tick(fx->e, tp_monotonic_ms()), 0);
        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), 0);

        /* Once gone, there is nothing left to act on. */
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        assert_string_equal(what, "leader already gone");
}

static volatile sig_atomic_t signals_to_self;

static void count_signal(int sig)
{
        (void) sig;
        signals_to_self++;
}

/* A pid now held by another process (here: ours, and a child's) with a
 * different start time is never signalled. */
static void test_reused_pid_never_signalled(void **state)
{
        struct fixture *fx = *state;
        struct sigaction sa = { .sa_handler = count_signal };
        struct tp_enforce_target t;
        struct leader self = { .pid = getpid() }, *l;
        char what[256];

        sigemptyset(&sa.sa_mask);
        assert_int_equal(sigaction(SIGHUP, &sa, NULL), 0);
        assert_int_equal(sigaction(SIGTERM, &sa, NULL), 0);
        assert_int_equal(tp_process_start_time(self.pid, &self.start), 0);
        self.start++;
        t = target_of(&self, "");

        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        assert_string_equal(what, "leader already gone");
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_LOCK, what, sizeof what), 0);
        assert_string_equal(what, "no logind session to lock; leader already gone");
        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), 0);
        assert_int_equal(tp_enforcer_tick(fx->e, INT64_MAX), 0);
        assert_int_equal(signals_to_self, 0);

        l = spawn_leader(fx, true);
        t = target_of(l, "");
        t.leader_start = l->start - 1;
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        assert_string_equal(what, "leader already gone");
        assert_int_equal(read_byte(l->fd, QUIET_MS), -1);
        assert_true(leader_running(l));
}

/* Without a recorded start time the pid proves nothing: never signalled. */
static void test_unrecorded_leader_never_signalled(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, true);
        struct tp_enforce_target t = target_of(l, "");
        char what[256];

        t.leader_start = 0;
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what),
                         -ENODATA);
        assert_non_null(strstr(what, "no recorded start time; not signalled"));
        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), -ENODATA);
        assert_int_equal(read_byte(l->fd, QUIET_MS), -1);
        assert_true(leader_running(l));

        t = target_of(NULL, "");
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what),
                         -ENODATA);
        assert_string_equal(what, "no leader recorded");
        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), -ENODATA);
}

static void test_session_alive_without_logind(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, true);
        struct tp_enforce_target t = target_of(l, "");
        int r;

        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), 1);
        t.leader_start++;
        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), 0);
        t.leader_start--;

        /* The leader answers for itself: logind is not needed. */
        t.logind_session = "4";
        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), 1);

        assert_int_equal(kill(l->pid, SIGKILL), 0);
        assert_killed_by(l, SIGKILL);
        t.logind_session = "";
        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), 0);

        /* Leader gone, but logind, which may still hold the session, cannot
         * be asked: unknown, and not "nothing recorded". */
        t.logind_session = "4";
        r = tp_enforcer_session_alive(fx->e, &t);
        assert_true(r < 0);
        assert_int_not_equal(r, -ENODATA);
        t.leader_pid = 0;
        r = tp_enforcer_session_alive(fx->e, &t);
        assert_true(r < 0);
        assert_int_not_equal(r, -ENODATA);

        t = target_of(NULL, "");
        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), -ENODATA);
}

static void test_action_none_and_bad_arguments(void **state)
{
        struct fixture *fx = *state;
        struct tp_enforce_target t = target_of(NULL, "4");
        struct tp_enforcer *e = NULL;
        char what[64];

        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_NONE, what, sizeof what), 0);
        assert_string_equal(what, "no action (none)");
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_MAX_ + 1, what, sizeof what),
                         -EINVAL);
        assert_int_equal(tp_enforcer_apply(fx->e, NULL, TP_ACTION_TERMINATE, what, sizeof what),
                         -EINVAL);
        assert_int_equal(tp_enforcer_apply(NULL, &t, TP_ACTION_TERMINATE, what, sizeof what),
                         -EINVAL);
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_NONE, NULL, 0), 0);
        assert_int_equal(tp_enforcer_session_alive(NULL, &t), -EINVAL);
        assert_int_equal(tp_enforcer_tick(NULL, 0), 0);
        assert_int_equal(tp_enforcer_new(NULL), -EINVAL);
        assert_int_equal(tp_enforcer_new(&e), 0);
        tp_enforcer_free(e);
        tp_enforcer_free(NULL);
}

/* ---- boots ------------------------------------------------------------- */

static void test_boot_id(void **state)
{
        char id[TP_BOOT_ID_LEN + 1], again[TP_BOOT_ID_LEN + 1], text[64] = "";
        FILE *f;

        (void) state;
        assert_int_equal(tp_boot_id_read(id, sizeof id), 0);
        assert_int_equal(strlen(id), TP_BOOT_ID_LEN);
        f = fopen("/proc/sys/kernel/random/boot_id", "r");
        assert_non_null(f);
        assert_non_null(fgets(text, sizeof text, f));
        fclose(f);
        text[strcspn(text, "\n")] = '\0';
        assert_string_equal(id, text);
        assert_int_equal(tp_boot_id_read(again, sizeof again), 0);
        assert_string_equal(again, id);
        assert_int_equal(tp_boot_id_read(id, TP_BOOT_ID_LEN), -EINVAL);
        assert_int_equal(tp_boot_id_read(NULL, sizeof id), -EINVAL);
}

/* After a reboot a stored leader pid and start time can name an unrelated
 * process of the new boot (here: a live child whose pid and start time are
 * exactly what was recorded). A session recorded in another boot, or in
 * one not known, is never signalled, never pending a SIGTERM, and never
 * taken for running. */
static void test_earlier_boot_never_signalled(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, true);
        const char *const boots[] = { EARLIER_BOOT, "", NULL };
        struct tp_enforce_target t;
        char what[256];

        for (size_t i = 0; i < sizeof boots / sizeof boots[0]; i++) {
                t = target_of(l, "");
                t.boot_id = boots[i];
                assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
                assert_non_null(strstr(what, i == 0 ? "recorded in an earlier boot"
                                                    : "recorded in an unknown boot"));
                assert_non_null(strstr(what, "nothing done"));
                assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_LOCK, what, sizeof what), 0);
                assert_non_null(strstr(what, "nothing done"));
                assert_int_equal(tp_enforcer_session_alive(fx->e, &t), 0);
                assert_int_equal(tp_enforcer_tick(fx->e, INT64_MAX), 0);
                assert_int_equal(read_byte(l->fd, QUIET_MS), -1);
                assert_true(leader_running(l));
        }
        /* The same process, recorded in this boot, is the leader. */
        t = target_of(l, "");
        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), 1);
}

/* logind session ids start again at 1 each boot: "4" of an earlier boot is
 * not logind's "4" now, and logind is not even asked about it. */
static void test_earlier_boot_never_sent_to_logind(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, true);
        struct tp_enforce_target t;
        char spec[64], what[256], log[512];

        snprintf(spec, sizeof spec, "4:%d", (int) l->pid);
        start_logind(fx, false, spec, NULL);
        for (int by_pid = 0; by_pid < 2; by_pid++) {
                t = target_of(l, by_pid ? "" : "4");
                t.boot_id = EARLIER_BOOT;
                assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
                assert_non_null(strstr(what, "earlier boot"));
                assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_LOCK, what, sizeof what), 0);
                t.leader_pid = 0;
                assert_int_equal(tp_enforcer_session_alive(fx->e, &t), 0);
        }
        fake_log(fx, log, sizeof log);
        assert_string_equal(log, "");
        assert_int_equal(read_byte(l->fd, QUIET_MS), -1);
        assert_true(leader_running(l));

        /* Of this boot, the same target reaches logind. */
        t = target_of(l, "4");
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        fake_log(fx, log, sizeof log);
        assert_string_equal(log, "TerminateSession 4\n");
}

/* ---- with logind ------------------------------------------------------- */

static void test_logind_terminate_known_session(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, true);
        struct tp_enforce_target t = target_of(l, "4");
        char spec[64], what[256], log[512];

        snprintf(spec, sizeof spec, "4:%d", (int) l->pid);
        start_logind(fx, false, spec, NULL);
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        assert_string_equal(what, "logind TerminateSession(\"4\")");
        fake_log(fx, log, sizeof log);
        assert_string_equal(log, "TerminateSession 4\n");
        /* logind ends it; the leader gets no signal from us. */
        assert_int_equal(tp_enforcer_tick(fx->e, INT64_MAX), 0);
        assert_int_equal(read_byte(l->fd, QUIET_MS), -1);
        assert_true(leader_running(l));
}

static void test_logind_lock_known_session(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, true);
        struct tp_enforce_target t = target_of(l, "4");
        char spec[64], what[256], log[512];

        snprintf(spec, sizeof spec, "4:%d", (int) l->pid);
        start_logind(fx, false, spec, NULL);
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_LOCK, what, sizeof what), 0);
        assert_string_equal(what, "logind LockSession(\"4\")");
        fake_log(fx, log, sizeof log);
        assert_string_equal(log, "LockSession 4\n");
        assert_int_equal(read_byte(l->fd, QUIET_MS), -1);
        assert_true(leader_running(l));
}

static void test_logind_session_found_by_leader_pid(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, true);
        struct tp_enforce_target t = target_of(l, "");
        char spec[64], what[256], log[512], expect[256];

        snprintf(spec, sizeof spec, "7:%d", (int) l->pid);
        start_logind(fx, false, spec, NULL);
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        assert_string_equal(what, "logind TerminateSession(\"7\")");
        fake_log(fx, log, sizeof log);
        snprintf(expect, sizeof expect, "GetSessionByPID %d\nLeader 7\nTerminateSession 7\n",
                 (int) l->pid);
        assert_string_equal(log, expect);
        assert_true(leader_running(l));
}

/* A leader inside a logind session it does not lead (su in an ssh login):
 * ending that logind session would end more than ours. */
static void test_logind_session_led_by_another_is_left_alone(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, true);
        struct tp_enforce_target t = target_of(l, "");
        char spec[64], what[256], log[512], expect[256];

        snprintf(spec, sizeof spec, "7:%d,%d", (int) getpid(), (int) l->pid);
        start_logind(fx, false, spec, NULL);
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        assert_non_null(strstr(what, "does not lead"));
        assert_non_null(strstr(what, "SIGHUP to leader pid"));
        assert_int_equal(read_byte(l->fd, SIGNAL_TIMEOUT_MS), 'H');
        fake_log(fx, log, sizeof log);
        snprintf(expect, sizeof expect, "GetSessionByPID %d\nLeader 7\n", (int) l->pid);
        assert_string_equal(log, expect);
}

/* A leader that also leads other active sessions (a PAM gateway): no
 * signal, no TerminateSession of the logind session it leads or was
 * recorded, no lookup by its pid; only a lock of the recorded session. */
static void test_shared_leader_is_never_ended(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, true);
        struct tp_enforce_target t = target_of(l, "");
        char spec[64], what[256], log[512];

        snprintf(spec, sizeof spec, "7:%d", (int) l->pid);
        start_logind(fx, false, spec, NULL);
        t.leader_shared = 2;
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        assert_non_null(strstr(what, "also leads 2 other active sessions"));
        assert_non_null(strstr(what, "not signalled"));
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_LOCK, what, sizeof what), 0);
        assert_non_null(strstr(what, "not signalled"));
        t.logind_session = "7";          /* recorded: terminate still ends nothing */
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        assert_non_null(strstr(what, "not signalled"));
        t.leader_shared = -EIO;          /* cannot tell: as shared */
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        assert_non_null(strstr(what, "cannot tell whether leader pid"));
        t.leader_shared = 1;
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_LOCK, what, sizeof what), 0);
        assert_string_equal(what, "logind LockSession(\"7\")");
        fake_log(fx, log, sizeof log);
        assert_string_equal(log, "LockSession 7\n");  /* and nothing else was asked */
        assert_int_equal(tp_enforcer_tick(fx->e, INT64_MAX), 0);
        assert_int_equal(read_byte(l->fd, QUIET_MS), -1);
        assert_true(leader_running(l));
        /* Shared no more: the same target is ended as usual. */
        t.leader_shared = 0;
        t.logind_session = "";
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        assert_string_equal(what, "logind TerminateSession(\"7\")");
}

static void test_logind_session_alive(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, true);
        struct tp_enforce_target t = target_of(NULL, "4");
        char log[512];

        start_logind(fx, false, "4:1", NULL);
        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), 1);
        t.logind_session = "9";
        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), 0);

        /* A live leader needs no bus call; a gone one defers to logind. */
        t = target_of(l, "9");
        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), 1);
        t.leader_start++;
        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), 0);
        t.logind_session = "4";
        assert_int_equal(tp_enforcer_session_alive(fx->e, &t), 1);

        fake_log(fx, log, sizeof log);
        assert_string_equal(log, "GetSession 4\nGetSession 9\nGetSession 9\nGetSession 4\n");
}

static void test_logind_unknown_session_falls_back_to_signals(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, true);
        struct leader *l2 = spawn_leader(fx, true);
        struct tp_enforce_target t = target_of(l, "5");
        char what[256], log[512], expect[128];

        start_logind(fx, false, "4:1", NULL);
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        snprintf(expect, sizeof expect, "logind has no session \"5\"; SIGHUP to leader pid %d,",
                 (int) l->pid);
        assert_true(strncmp(what, expect, strlen(expect)) == 0);
        assert_int_equal(read_byte(l->fd, SIGNAL_TIMEOUT_MS), 'H');

        t = target_of(l2, "5");
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_LOCK, what, sizeof what), 0);
        snprintf(expect, sizeof expect, "no logind session to lock (logind has no session "
                 "\"5\"); SIGHUP to leader pid %d,", (int) l2->pid);
        assert_true(strncmp(what, expect, strlen(expect)) == 0);
        assert_int_equal(read_byte(l2->fd, SIGNAL_TIMEOUT_MS), 'H');

        assert_int_equal(tp_enforcer_tick(fx->e, tp_monotonic_ms() + TP_ENFORCE_GRACE_MS), 0);
        assert_killed_by(l, SIGTERM);
        assert_killed_by(l2, SIGTERM);
        fake_log(fx, log, sizeof log);
        assert_string_equal(log, "TerminateSession 5\nLockSession 5\n");

        /* Neither logind nor a leader is left: nothing to do, not a failure. */
        t = target_of(NULL, "5");
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        assert_non_null(strstr(what, "nothing left to end"));
}

static void test_logind_lock_without_session_terminates(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, true);
        struct tp_enforce_target t = target_of(l, "");
        char what[256], log[512], expect[160];

        start_logind(fx, false, "4:1", NULL);
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_LOCK, what, sizeof what), 0);
        snprintf(expect, sizeof expect, "no logind session to lock (logind has no session for "
                 "leader pid %d); SIGHUP to leader pid %d,", (int) l->pid, (int) l->pid);
        assert_true(strncmp(what, expect, strlen(expect)) == 0);
        assert_int_equal(read_byte(l->fd, SIGNAL_TIMEOUT_MS), 'H');
        fake_log(fx, log, sizeof log);
        snprintf(expect, sizeof expect, "GetSessionByPID %d\n", (int) l->pid);
        assert_string_equal(log, expect);
}

/* A logind that never answers costs one call timeout, then the enforcer
 * stops asking for a while instead of waiting on every session. */
static void test_logind_silent_times_out_once(void **state)
{
        struct fixture *fx = *state;
        struct leader *l = spawn_leader(fx, true);
        struct leader *l2 = spawn_leader(fx, true);
        struct tp_enforce_target t = target_of(l, "4");
        char spec[64], what[256], log[512];
        int64_t started, took;

        snprintf(spec, sizeof spec, "4:%d", (int) l->pid);
        start_logind(fx, true, spec, NULL);
        started = tp_monotonic_ms();
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        took = tp_monotonic_ms() - started;
        assert_true(took >= TP_ENFORCE_BUS_TIMEOUT_US / 1000 - 50);
        assert_true(took < TP_ENFORCE_BUS_TIMEOUT_US / 1000 + 1000);
        assert_non_null(strstr(what, "logind TerminateSession failed"));
        assert_non_null(strstr(what, "SIGHUP to leader pid"));
        assert_int_equal(read_byte(l->fd, SIGNAL_TIMEOUT_MS), 'H');

        t = target_of(l2, "4");
        started = tp_monotonic_ms();
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_TERMINATE, what, sizeof what), 0);
        assert_true(tp_monotonic_ms() - started < 100);
        assert_non_null(strstr(what, "system bus unreachable"));
        assert_int_equal(read_byte(l2->fd, SIGNAL_TIMEOUT_MS), 'H');
        fake_log(fx, log, sizeof log);
        assert_string_equal(log, "TerminateSession 4\n");
}

/* A failed connect is not retried on every call. */
static void test_bus_reconnect_is_rate_limited(void **state)
{
        struct fixture *fx = *state;
        struct tp_enforce_target t = target_of(NULL, "4");
        char what[256], log[512];
        int r;

        r = tp_enforcer_apply(fx->e, &t, TP_ACTION_LOCK, what, sizeof what);
        assert_true(r < 0);
        assert_non_null(strstr(what, "system bus unreachable"));
        assert_non_null(strstr(what, "no leader recorded"));

        start_logind(fx, false, "4:1", NULL);
        r = tp_enforcer_apply(fx->e, &t, TP_ACTION_LOCK, what, sizeof what);
        assert_true(r < 0);
        assert_non_null(strstr(what, "system bus unreachable"));
        fake_log(fx, log, sizeof log);
        assert_string_equal(log, "");

        /* A new enforcer connects at once. */
        tp_enforcer_free(fx->e);
        fx->e = NULL;
        assert_int_equal(tp_enforcer_new(&fx->e), 0);
        assert_int_equal(tp_enforcer_apply(fx->e, &t, TP_ACTION_LOCK, what, sizeof what), 0);
        assert_string_equal(what, "logind LockSession(\"4\")");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_start_time_of_self_and_child),
                T(test_start_time_with_parentheses_in_name),
                T(test_terminate_sighup_then_sigterm_after_grace),
                T(test_terminate_leader_dying_of_sighup_is_dropped),
                T(test_reused_pid_never_signalled),
                T(test_unrecorded_leader_never_signalled),
                T(test_session_alive_without_logind),
                T(test_action_none_and_bad_arguments),
                T(test_boot_id),
                T(test_earlier_boot_never_signalled),
                T(test_earlier_boot_never_sent_to_logind),
                T(test_logind_terminate_known_session),
                T(test_logind_lock_known_session),
                T(test_logind_session_found_by_leader_pid),
                T(test_logind_session_led_by_another_is_left_alone),
                T(test_shared_leader_is_never_ended),
                T(test_logind_session_alive),
                T(test_logind_unknown_session_falls_back_to_signals),
                T(test_logind_lock_without_session_terminates),
                T(test_logind_silent_times_out_once),
                T(test_bus_reconnect_is_rate_limited),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
