/* SPDX-License-Identifier: BSD-3-Clause */
/* enforce.c: terminate or lock running sessions, and tell whether they are
 * still running (docs/product.md §4). The only file that includes sd-bus.
 *
 * Must never signal a process it has not proved to be the recorded leader
 * (or, through proctree.c, a process below it):
 * a pidfd is opened first and only then is the pid's start time compared
 * with the one recorded at sign-in, so the pidfd provably refers to the
 * checked process and a reused pid is never hit; and never act on, nor take
 * for running, a session recorded in another boot than the running one,
 * whose ids may all name something else now. Must never block on the
 * bus for longer than TP_ENFORCE_BUS_TIMEOUT_US per call (connecting
 * included), never retry a failed bus connection more often than every
 * BUS_RETRY_MS, never keep more than PENDING_MAX pidfds, and never log.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "enforce.h"
#include "io.h"
#include "proctree.h"

#define LOGIND_DESTINATION "org.freedesktop.login1"
#define LOGIND_PATH "/org/freedesktop/login1"
#define LOGIND_MANAGER "org.freedesktop.login1.Manager"
#define LOGIND_SESSION_IFACE "org.freedesktop.login1.Session"
#define LOGIND_SESSION_PREFIX "/org/freedesktop/login1/session"
#define LOGIND_NO_SUCH_SESSION "org.freedesktop.login1.NoSuchSession"
#define LOGIND_NO_SESSION_FOR_PID "org.freedesktop.login1.NoSessionForPID"

/* After a failed connect or a timed-out call, answer "unreachable" at once
 * for this long: a sweep over many sessions must not wait on each. */
#define BUS_RETRY_MS 3000
/* Unsolicited messages handled after a call, at most (the system bus sends
 * us little: NameAcquired and replies that arrived after their timeout). */
#define BUS_DRAIN_MAX 64
/* SIGTERMs waiting for their grace period; beyond it SIGTERM goes at once. */
#define PENDING_MAX 4096
#define PROC_STAT_FIELD_STATE 3
#define PROC_STAT_FIELD_STARTTIME 22
#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

struct pending_term {
        int pidfd;
        pid_t pid;
        int64_t due_ms;
};

/* Children posting a desktop notification, at most; beyond, none is
 * posted until one has finished. */
#define NOTIFY_CHILDREN_MAX 16
#define NOTIFY_TIMEOUT_US 1000000
#define USER_BUS_DIR "/run/user"

struct tp_enforcer {
        char boot_id[TP_BOOT_ID_LEN + 1]; /* the running boot */
        pid_t notify_children[NOTIFY_CHILDREN_MAX];
        size_t n_notify_children;
        sd_bus *bus;
        int bus_error;          /* errno of the last connect failure; 0: none */
        int64_t bus_failed_ms;  /* when it happened, CLOCK_MONOTONIC */
        struct pending_term *pending;
        size_t n_pending;
        size_t pending_allocated;
};

/* Bounded formatting into a caller's description buffer, which may be
 * absent (NULL or size 0). */
__attribute__((format(printf, 3, 4)))
static void describe(char *buf, size_t bufsz, const char *fmt, ...)
{
        va_list ap;

        if (!buf || bufsz == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, bufsz, fmt, ap);
        va_end(ap);
}

static bool boot_id_valid(const char *id)
{
        for (size_t i = 0; i < TP_BOOT_ID_LEN; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;

                if (dash ? id[i] != '-' : !((id[i] >= '0' && id[i] <= '9') ||
                                            (id[i] >= 'a' && id[i] <= 'f')))
                        return false;
        }
        return id[TP_BOOT_ID_LEN] == '\0';
}

int tp_boot_id_read(char *buf, size_t bufsz)
{
        char text[64];
        ssize_t n;
        int fd, r = 0;

        if (!buf || bufsz < TP_BOOT_ID_LEN + 1)
                return -EINVAL;
        fd = open(BOOT_ID_PATH, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        do
                n = read(fd, text, sizeof text - 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                r = -errno;
        close(fd);
        if (r < 0)
                return r;
        text[n] = '\0';
        text[strcspn(text, "\n")] = '\0';
        if (!boot_id_valid(text))
                return -EBADMSG;
        memcpy(buf, text, TP_BOOT_ID_LEN + 1);
        return 0;
}

int tp_enforcer_new(struct tp_enforcer **ret)
{
        struct tp_enforcer *e;
        int r;

        if (!ret)
                return -EINVAL;
        e = calloc(1, sizeof *e);
        if (!e)
                return -ENOMEM;
        if ((r = tp_boot_id_read(e->boot_id, sizeof e->boot_id)) < 0) {
                free(e);
                return r;
        }
        *ret = e;
        return 0;
}

/* Recorded in the running boot? Anything else, unknown included, is over:
 * its logind id, pid and start time may name something of this boot. */
static bool target_in_this_boot(const struct tp_enforcer *e, const struct tp_enforce_target *t)
{
        return t->boot_id && strcmp(t->boot_id, e->boot_id) == 0;
}

void tp_enforcer_free(struct tp_enforcer *e)
{
        if (!e)
                return;
        for (size_t i = 0; i < e->n_pending; i++)
                close(e->pending[i].pidfd);
        free(e->pending);
        /* A notification still being posted is given up. */
        for (size_t i = 0; i < e->n_notify_children; i++) {
                kill(e->notify_children[i], SIGKILL);
                (void) waitpid(e->notify_children[i], NULL, 0);
        }
        /* close_unref, not flush_close_unref: flushing waits for the peer */
        sd_bus_close_unref(e->bus);
        free(e);
}

/* ---- processes --------------------------------------------------------- */

int tp_process_start_time(pid_t pid, uint64_t *ret_start)
{
        char path[32], buf[4096], *p, *end, *field = NULL;
        char state = 0;
        unsigned long long start;
        size_t len = 0;
        ssize_t n;
        int fd, r = 0;

        if (!ret_start)
                return -EINVAL;
        if (pid <= 0)
                return -ESRCH;
        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        while (len < sizeof buf - 1) {
                n = read(fd, buf + len, sizeof buf - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = errno == ESRCH ? -ESRCH : -errno;
                        goto out;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                /* The kernel makes the whole line at the first read; its
                 * newline ends it, without a read that returns 0. */
                if (buf[len - 1] == '\n')
                        break;
        }
        buf[len] = '\0';

        /* comm (field 2) may hold spaces and parentheses of its own; only
         * the last ')' in the line is certain to close it. */
        p = strrchr(buf, ')');
        if (!p) {
                r = -EBADMSG;
                goto out;
        }
        p++;
        for (int i = PROC_STAT_FIELD_STATE; i <= PROC_STAT_FIELD_STARTTIME; i++) {
                if (*p != ' ') {
                        r = -EBADMSG;
                        goto out;
                }
                field = ++p;
                p += strcspn(p, " \n");
                if (p == field) {
                        r = -EBADMSG;
                        goto out;
                }
                if (i == PROC_STAT_FIELD_STATE)
                        state = *field;
        }
        if (*field < '0' || *field > '9') {
                r = -EBADMSG;
                goto out;
        }
        errno = 0;
        start = strtoull(field, &end, 10);
        if (errno != 0 || end != p) {
                r = -EBADMSG;
                goto out;
        }
        /* A zombie has ended; only its parent has not looked yet. */
        if (state == 'Z' || state == 'X' || state == 'x') {
                r = -ESRCH;
                goto out;
        }
        *ret_start = (uint64_t) start;
out:
        close(fd);
        return r;
}

static bool leader_recorded(const struct tp_enforce_target *t)
{
        return t->leader_pid > 0 && t->leader_start != 0;
}

/* 1: the recorded leader is running; 0: it is gone or its pid now belongs
 * to another process; -ENODATA: nothing recorded; other -errno: /proc
 * would not say. */
static int leader_alive(const struct tp_enforce_target *t)
{
        uint64_t start;
        int r;

        if (!leader_recorded(t))
                return -ENODATA;
        r = tp_process_start_time(t->leader_pid, &start);
        if (r == -ESRCH)
                return 0;
        if (r < 0)
                return r;
        return start == t->leader_start;
}

/* A pidfd on the recorded leader, or -ESRCH when it is gone or replaced.
 * Opened before the start time is compared: if the pid was reused before
 * the open, the comparison fails; if it is reused after, the pidfd still
 * names the process that passed it. */
static int leader_pidfd_open(const struct tp_enforce_target *t, int *ret_fd)
{
        int fd, r;

        fd = (int) syscall(SYS_pidfd_open, t->leader_pid, 0);
        if (fd < 0)
                return -errno;
        r = leader_alive(t);
        if (r <= 0) {
                close(fd);
                return r == 0 ? -ESRCH : r;
        }
        *ret_fd = fd;
        return 0;
}

static int pidfd_signal(int pidfd, int sig)
{
        if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
                return -errno;
        return 0;
}

/* A pidfd polls readable once its process has exited. */
static bool pidfd_exited(int pidfd)
{
        struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

        return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

/* Takes ownership of pidfd on success only. -ENOSPC when the list is full. */
static int pending_add(struct tp_enforcer *e, int pidfd, pid_t pid, int64_t due_ms)
{
        struct pending_term *grown;
        size_t n;

        if (e->n_pending >= PENDING_MAX)
                return -ENOSPC;
        if (e->n_pending == e->pending_allocated) {
                n = e->pending_allocated ? e->pending_allocated * 2 : 16;
                if (n > PENDING_MAX)
                        n = PENDING_MAX;
                grown = realloc(e->pending, n * sizeof *grown);
                if (!grown)
                        return -ENOMEM;
                e->pending = grown;
                e->pending_allocated = n;
        }
        e->pending[e->n_pending++] = (struct pending_term) {
                .pidfd = pidfd, .pid = pid, .due_ms = due_ms,
        };
        return 0;
}

static void pending_drop(struct tp_enforcer *e, size_t i)
{
        close(e->pending[i].pidfd);
        e->pending[i] = e->pending[--e->n_pending];
}

/* SIGTERM to the processes below the leader, then to the leader: a
 * leader may not pass it on (cockpit-session keeps its bridge), and the
 * session has ended only when they have. While the pidfd has not polled
 * exited, the pid is still the leader's. */
static void term_tree(int pidfd, pid_t leader)
{
        if (!pidfd_exited(pidfd))
                (void) tp_proctree_signal_descendants(NULL, leader, SIGTERM, NULL);
        (void) pidfd_signal(pidfd, SIGTERM);
}

size_t tp_enforcer_tick(struct tp_enforcer *e, int64_t now_monotonic_ms)
{
        size_t i = 0;

        if (!e)
                return 0;
        while (i < e->n_notify_children) {
                if (waitpid(e->notify_children[i], NULL, WNOHANG) != 0)
                        e->notify_children[i] = e->notify_children[--e->n_notify_children];
                else
                        i++;
        }
        i = 0;
        while (i < e->n_pending) {
                struct pending_term *p = &e->pending[i];

                if (now_monotonic_ms >= p->due_ms) {
                        /* -ESRCH: it left during the grace period, as asked */
                        term_tree(p->pidfd, p->pid);
                        pending_drop(e, i);
                } else if (pidfd_exited(p->pidfd)) {
                        pending_drop(e, i);
                } else {
                        i++;
                }
        }
        return e->n_pending;
}

/* SIGHUP to the recorded leader now, SIGTERM after the grace period to it
 * and the processes below it. */
static int signal_leader(struct tp_enforcer *e, const struct tp_enforce_target *t,
                         const char *prefix, char *what, size_t whatsz)
{
        const char *not_waiting;
        int pidfd = -1, r;

        r = leader_pidfd_open(t, &pidfd);
        if (r == -ESRCH) {
                describe(what, whatsz, "%sleader already gone", prefix);
                return 0;
        }
        if (r < 0) {
                describe(what, whatsz, "%scannot open leader pid %d: %s", prefix,
                         (int) t->leader_pid, strerror(-r));
                return r;
        }
        r = pidfd_signal(pidfd, SIGHUP);
        if (r == -ESRCH) {
                describe(what, whatsz, "%sleader already gone", prefix);
                r = 0;
                goto out;
        }
        if (r < 0) {
                describe(what, whatsz, "%sSIGHUP to leader pid %d failed: %s", prefix,
                         (int) t->leader_pid, strerror(-r));
                goto out;
        }
        r = pending_add(e, pidfd, t->leader_pid, tp_monotonic_ms() + TP_ENFORCE_GRACE_MS);
        if (r == 0) {
                pidfd = -1;
                describe(what, whatsz, "%sSIGHUP to leader pid %d, SIGTERM in %d s", prefix,
                         (int) t->leader_pid, TP_ENFORCE_GRACE_MS / 1000);
                goto out;
        }
        /* No room to wait: the session must still end. */
        not_waiting = r == -ENOSPC ? "too many pending" : "out of memory";
        if (!pidfd_exited(pidfd))
                (void) tp_proctree_signal_descendants(NULL, t->leader_pid, SIGTERM, NULL);
        r = pidfd_signal(pidfd, SIGTERM);
        if (r < 0 && r != -ESRCH) {
                describe(what, whatsz, "%sSIGHUP to leader pid %d; SIGTERM failed: %s", prefix,
                         (int) t->leader_pid, strerror(-r));
                goto out;
        }
        describe(what, whatsz, "%sSIGHUP and SIGTERM to leader pid %d (%s)", prefix,
                 (int) t->leader_pid, not_waiting);
        r = 0;
out:
        if (pidfd >= 0)
                close(pidfd);
        return r;
}

/* ---- logind ------------------------------------------------------------ */

static void bus_drop(struct tp_enforcer *e, int error)
{
        e->bus = sd_bus_close_unref(e->bus);
        e->bus_error = error;
        e->bus_failed_ms = tp_monotonic_ms();
}

/* sd_bus_open_system() only starts connecting; sd-bus would then wait for
 * authentication and Hello with its own long timeouts. Finish it here
 * against our deadline instead. */
static int bus_wait_ready(sd_bus *bus, int64_t deadline_ms)
{
        int64_t left_ms;
        int r;

        for (;;) {
                r = sd_bus_is_ready(bus);
                if (r != 0)
                        return r < 0 ? r : 0;
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                left_ms = deadline_ms - tp_monotonic_ms();
                if (left_ms <= 0)
                        return -ETIMEDOUT;
                r = sd_bus_wait(bus, (uint64_t) left_ms * 1000);
                if (r < 0)
                        return r;
        }
}

static int bus_get(struct tp_enforcer *e, sd_bus **ret_bus, char *why, size_t whysz)
{
        int64_t now = tp_monotonic_ms();
        sd_bus *bus = NULL;
        int r;

        if (e->bus) {
                *ret_bus = e->bus;
                return 0;
        }
        if (e->bus_error != 0 && now - e->bus_failed_ms < BUS_RETRY_MS) {
                describe(why, whysz, "system bus unreachable (%s)", strerror(e->bus_error));
                return -e->bus_error;
        }
        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = sd_bus_set_method_call_timeout(bus, TP_ENFORCE_BUS_TIMEOUT_US);
        if (r >= 0)
                r = bus_wait_ready(bus, now + TP_ENFORCE_BUS_TIMEOUT_US / 1000);
        if (r < 0) {
                sd_bus_close_unref(bus);
                e->bus_error = -r;
                e->bus_failed_ms = tp_monotonic_ms();
                describe(why, whysz, "system bus unreachable (%s)", strerror(-r));
                return r;
        }
        e->bus = bus;
        e->bus_error = 0;
        *ret_bus = bus;
        return 0;
}

/* Dispatch what arrived meanwhile so that nothing piles up in sd-bus's
 * queue: this connection is only ever driven from here. */
static void bus_drain(struct tp_enforcer *e)
{
        int r = 0;

        for (int i = 0; i < BUS_DRAIN_MAX; i++) {
                r = sd_bus_process(e->bus, NULL);
                if (r <= 0)
                        break;
        }
        if (r < 0)
                bus_drop(e, -r);
}

/* Why a bus call failed, and whether the connection is still worth
 * keeping: a broken one is dropped, and so is one that timed out, so that
 * a hung bus costs one timeout per BUS_RETRY_MS, not one per call. */
static int bus_call_failed(struct tp_enforcer *e, const char *member, int r,
                           const sd_bus_error *error, char *why, size_t whysz)
{
        if (sd_bus_error_is_set(error))
                describe(why, whysz, "logind %s failed (%s)", member, error->name);
        else
                describe(why, whysz, "logind %s failed (%s)", member, strerror(-r));
        if (r == -ETIMEDOUT || sd_bus_is_open(e->bus) <= 0)
                bus_drop(e, -r);
        else
                bus_drain(e);
        return r;
}

/* Call a logind Manager method. 1: done (*ret_reply, if asked for, holds
 * the reply); 0: logind does not know the session or pid; -errno: logind
 * could not be asked, `why` says what went wrong. */
static int logind_call(struct tp_enforcer *e, const char *member, sd_bus_message **ret_reply,
                       char *why, size_t whysz, const char *types, ...)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        sd_bus *bus;
        va_list ap;
        int r;

        r = bus_get(e, &bus, why, whysz);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = sd_bus_call_methodv(bus, LOGIND_DESTINATION, LOGIND_PATH, LOGIND_MANAGER, member,
                                &error, &reply, types, ap);
        va_end(ap);
        if (r < 0 && sd_bus_error_has_names(&error, LOGIND_NO_SUCH_SESSION,
                                            LOGIND_NO_SESSION_FOR_PID)) {
                describe(why, whysz, "logind has no such session");
                bus_drain(e);
                r = 0;
                goto out;
        }
        if (r < 0) {
                r = bus_call_failed(e, member, r, &error, why, whysz);
                goto out;
        }
        bus_drain(e);
        if (ret_reply) {
                *ret_reply = reply;
                reply = NULL;
        }
        r = 1;
out:
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        return r;
}

/* Is the recorded leader the leader of logind session `path`? A process
 * started by `su` inside an ssh login belongs to the ssh login's logind
 * session; terminating that would end more than the session we enforce. */
static int logind_session_led_by(struct tp_enforcer *e, const char *path,
                                 const struct tp_enforce_target *t, char *why, size_t whysz)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        uint32_t leader = 0;
        sd_bus *bus;
        int r;

        r = bus_get(e, &bus, why, whysz);
        if (r < 0)
                return r;
        r = sd_bus_get_property_trivial(bus, LOGIND_DESTINATION, path, LOGIND_SESSION_IFACE,
                                        "Leader", &error, 'u', &leader);
        if (r < 0) {
                r = bus_call_failed(e, "Session.Leader", r, &error, why, whysz);
                goto out;
        }
        bus_drain(e);
        r = leader == (uint32_t) t->leader_pid;
        if (r == 0)
                describe(why, whysz, "leader pid %d is inside a logind session it does not lead",
                         (int) t->leader_pid);
out:
        sd_bus_error_free(&error);
        return r;
}

/* The logind session led by the recorded leader, found by its pid.
 * 1: *ret_id set; 0: none (leader gone, or in no session of its own);
 * -errno: logind could not be asked. */
static int logind_session_of_leader(struct tp_enforcer *e, const struct tp_enforce_target *t,
                                    char **ret_id, char *why, size_t whysz)
{
        sd_bus_message *reply = NULL;
        const char *path;
        char *id = NULL;
        int r;

        if (leader_alive(t) <= 0)
                return 0;
        r = logind_call(e, "GetSessionByPID", &reply, why, whysz, "u", (uint32_t) t->leader_pid);
        if (r == 0)
                describe(why, whysz, "logind has no session for leader pid %d",
                         (int) t->leader_pid);
        if (r <= 0)
                goto out;
        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
                r = sd_bus_path_decode(path, LOGIND_SESSION_PREFIX, &id);
        if (r >= 0 && (!id || !*id))
                r = -EBADMSG;
        if (r < 0) {
                describe(why, whysz, "logind GetSessionByPID: unexpected reply (%s)",
                         strerror(-r));
                goto out;
        }
        r = logind_session_led_by(e, path, t, why, whysz);
        if (r <= 0)
                goto out;
        /* The pid may have been reused while logind looked it up. */
        if (leader_alive(t) <= 0) {
                r = 0;
                goto out;
        }
        *ret_id = id;
        id = NULL;
        r = 1;
out:
        free(id);
        sd_bus_message_unref(reply);
        return r;
}

/* The logind id to act on: the recorded one, else the one the leader
 * leads. Same returns as logind_session_of_leader(). */
static int logind_resolve(struct tp_enforcer *e, const struct tp_enforce_target *t,
                          char **ret_id, char *why, size_t whysz)
{
        char *id;

        if (t->logind_session && *t->logind_session) {
                id = strdup(t->logind_session);
                if (!id)
                        return -ENOMEM;
                *ret_id = id;
                return 1;
        }
        return logind_session_of_leader(e, t, ret_id, why, whysz);
}

/* ---- the contract ------------------------------------------------------ */

/* The leader also leads other active sessions: ending it, by a signal or
 * by terminating the logind session it was moved into, would end those
 * too. Only the session's own recorded logind session may be locked. */
static int apply_shared_leader(struct tp_enforcer *e, const struct tp_enforce_target *t,
                               uint8_t action, char *what, size_t whatsz)
{
        char why[192] = "", shared[128];
        int r;

        if (t->leader_shared < 0)
                snprintf(shared, sizeof shared, "cannot tell whether leader pid %d leads other sessions (%s)",
                         (int) t->leader_pid, strerror(-t->leader_shared));
        else
                snprintf(shared, sizeof shared, "leader pid %d also leads %d other active session%s",
                         (int) t->leader_pid, t->leader_shared, t->leader_shared == 1 ? "" : "s");
        if (action == TP_ACTION_LOCK && t->logind_session && *t->logind_session) {
                r = logind_call(e, "LockSession", NULL, why, sizeof why, "s", t->logind_session);
                if (r > 0) {
                        describe(what, whatsz, "logind LockSession(\"%s\")", t->logind_session);
                        return 0;
                }
                describe(what, whatsz, "%s; %s: not signalled, nothing ended", why, shared);
                return 0;
        }
        describe(what, whatsz, "%s: not signalled and no logind session ended, as that would end %s too",
                 shared, t->leader_shared == 1 ? "it" : "them");
        return 0;
}

int tp_enforcer_apply(struct tp_enforcer *e, const struct tp_enforce_target *t, uint8_t action,
                      char *what, size_t whatsz)
{
        char why[192] = "", prefix[256] = "";
        const char *member;
        bool logind_knew_id = false;
        char *id = NULL;
        int r, logind;

        if (!e || !t)
                return -EINVAL;
        if (action == TP_ACTION_NONE) {
                describe(what, whatsz, "no action (none)");
                return 0;
        }
        if (action != TP_ACTION_TERMINATE && action != TP_ACTION_LOCK) {
                describe(what, whatsz, "unknown action %u", (unsigned) action);
                return -EINVAL;
        }
        if (!target_in_this_boot(e, t)) {
                describe(what, whatsz, "recorded in %s boot; nothing of it runs now, "
                         "nothing done", t->boot_id && *t->boot_id ? "an earlier" : "an unknown");
                return 0;
        }
        member = action == TP_ACTION_LOCK ? "LockSession" : "TerminateSession";
        if (t->leader_shared != 0 && leader_recorded(t))
                return apply_shared_leader(e, t, action, what, whatsz);

        logind = logind_resolve(e, t, &id, why, sizeof why);
        if (logind > 0) {
                logind = logind_call(e, member, NULL, why, sizeof why, "s", id);
                if (logind > 0) {
                        describe(what, whatsz, "logind %s(\"%s\")", member, id);
                        r = 0;
                        goto out;
                }
                if (logind == 0) {
                        logind_knew_id = true;
                        snprintf(why, sizeof why, "logind has no session \"%s\"", id);
                }
        }

        /* logind cannot act: logind == 0 it does not know the session,
         * logind < 0 it could not be asked (why says which). */
        if (action == TP_ACTION_LOCK)
                snprintf(prefix, sizeof prefix, "no logind session to lock%s%s%s; ",
                         *why ? " (" : "", why, *why ? ")" : "");
        else if (*why)
                snprintf(prefix, sizeof prefix, "%s; ", why);

        if (!leader_recorded(t)) {
                if (logind_knew_id) {
                        describe(what, whatsz, "%sno leader recorded; nothing left to end", prefix);
                        r = 0;
                } else if (t->leader_pid > 0) {
                        describe(what, whatsz, "%sleader pid %d has no recorded start time; "
                                 "not signalled", prefix, (int) t->leader_pid);
                        r = logind < 0 ? logind : -ENODATA;
                } else {
                        describe(what, whatsz, "%sno leader recorded", prefix);
                        r = logind < 0 ? logind : -ENODATA;
                }
                goto out;
        }
        r = signal_leader(e, t, prefix, what, whatsz);
out:
        free(id);
        return r;
}

int tp_enforcer_session_alive(struct tp_enforcer *e, const struct tp_enforce_target *t)
{
        sd_bus_message *reply = NULL;
        int leader, r;

        if (!e || !t)
                return -EINVAL;
        if (!target_in_this_boot(e, t))
                return 0;
        leader = leader_alive(t);
        if (leader > 0)
                return 1;
        if (!t->logind_session || !*t->logind_session)
                return leader;   /* 0: gone; -ENODATA: nothing recorded */
        r = logind_call(e, "GetSession", &reply, NULL, 0, "s", t->logind_session);
        sd_bus_message_unref(reply);
        /* With logind unreachable the answer stays unknown even when the
         * leader is gone: its logind session may live on without it. */
        return r;
}

int tp_enforcer_idle_since(struct tp_enforcer *e, const struct tp_enforce_target *t, int64_t *ret_since)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char why[192] = "", *id = NULL, *path = NULL;
        uint64_t since_us = 0;
        int idle = 0;
        sd_bus *bus;
        int r;

        if (!e || !t || !ret_since)
                return -EINVAL;
        if (!target_in_this_boot(e, t))
                return -ENODATA;
        /* A shared leader may sit in another user's logind session: only
         * the session's own recorded logind id speaks for it. */
        if (t->leader_shared != 0 && !(t->logind_session && *t->logind_session))
                return -ENODATA;
        r = logind_resolve(e, t, &id, why, sizeof why);
        if (r == 0)
                r = -ENODATA;
        if (r < 0)
                goto out;
        if ((r = sd_bus_path_encode(LOGIND_SESSION_PREFIX, id, &path)) < 0 ||
            (r = bus_get(e, &bus, why, sizeof why)) < 0)
                goto out;
        r = sd_bus_get_property_trivial(bus, LOGIND_DESTINATION, path, LOGIND_SESSION_IFACE, "IdleHint",
                                        &error, 'b', &idle);
        if (r >= 0)
                r = sd_bus_get_property_trivial(bus, LOGIND_DESTINATION, path, LOGIND_SESSION_IFACE,
                                                "IdleSinceHint", &error, 't', &since_us);
        if (r < 0) {
                /* Gone between the lookup and the read: no session to ask. */
                if (sd_bus_error_has_names(&error, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_METHOD,
                                           LOGIND_NO_SUCH_SESSION)) {
                        bus_drain(e);
                        r = -ENODATA;
                } else {
                        r = bus_call_failed(e, "Session.IdleHint", r, &error, why, sizeof why);
                }
                goto out;
        }
        bus_drain(e);
        if (!idle || since_us == 0) {
                r = 0;
                goto out;
        }
        *ret_since = (int64_t)(since_us / 1000000);
        r = 1;
out:
        sd_bus_error_free(&error);
        free(path);
        free(id);
        return r;
}

int tp_enforcer_session_graphical(struct tp_enforcer *e, const struct tp_enforce_target *t)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char why[192] = "", *id = NULL, *path = NULL, *type = NULL;
        sd_bus *bus;
        int r;

        if (!e || !t)
                return -EINVAL;
        if (!target_in_this_boot(e, t) || (t->leader_shared != 0 && !(t->logind_session && *t->logind_session)))
                return 0;
        r = logind_resolve(e, t, &id, why, sizeof why);
        if (r <= 0)
                goto out;
        if ((r = sd_bus_path_encode(LOGIND_SESSION_PREFIX, id, &path)) < 0 ||
            (r = bus_get(e, &bus, why, sizeof why)) < 0)
                goto out;
        r = sd_bus_get_property_string(bus, LOGIND_DESTINATION, path, LOGIND_SESSION_IFACE, "Type", &error, &type);
        if (r < 0) {
                if (sd_bus_error_has_names(&error, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_PROPERTY,
                                           LOGIND_NO_SUCH_SESSION)) {
                        bus_drain(e);
                        r = 0;
                } else {
                        r = bus_call_failed(e, "Session.Type", r, &error, why, sizeof why);
                }
                goto out;
        }
        bus_drain(e);
        r = strcmp(type, "x11") == 0 || strcmp(type, "wayland") == 0 || strcmp(type, "mir") == 0;
out:
        sd_bus_error_free(&error);
        free(type);
        free(path);
        free(id);
        return r;
}

/* In the child, as the user: the daemon's own bus connection and its
 * privileges stay behind. Exits 0 when the notification was taken. */
static _Noreturn void notify_as_user(uid_t uid, gid_t gid, const char *summary, const char *body)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *bus = NULL;
        char address[96];
        int r;

        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                _exit(3);
        snprintf(address, sizeof address, "unix:path=" USER_BUS_DIR "/%u/bus", (unsigned) uid);
        if ((r = sd_bus_new(&bus)) < 0 || (r = sd_bus_set_address(bus, address)) < 0 ||
            (r = sd_bus_set_bus_client(bus, 1)) < 0 ||
            (r = sd_bus_set_method_call_timeout(bus, NOTIFY_TIMEOUT_US)) < 0 || (r = sd_bus_start(bus)) < 0)
                _exit(2);
        r = sd_bus_call_method(bus, "org.freedesktop.Notifications", "/org/freedesktop/Notifications",
                               "org.freedesktop.Notifications", "Notify", &error, NULL, "susssasa{sv}i",
                               "tokenpolicy", (uint32_t) 0, "dialog-warning", summary, body, 0, 1, "urgency",
                               "y", (uint8_t) 2, (int32_t) -1);
        _exit(r < 0 ? 1 : 0);
}

int tp_enforcer_notify_desktop(struct tp_enforcer *e, uid_t uid, gid_t gid, const char *summary,
                               const char *body)
{
        char path[64];
        struct stat st;
        pid_t pid;

        if (!e || !summary || !body || uid == 0)
                return -EINVAL;
        snprintf(path, sizeof path, USER_BUS_DIR "/%u/bus", (unsigned) uid);
        /* Only the user's own bus: a socket the user owns. */
        if (lstat(path, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode) || st.st_uid != uid)
                return -EPERM;
        if (e->n_notify_children == NOTIFY_CHILDREN_MAX)
                return -EBUSY;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                notify_as_user(uid, gid, summary, body);
        e->notify_children[e->n_notify_children++] = pid;
        return 0;
}
