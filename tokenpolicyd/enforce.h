/* SPDX-License-Identifier: BSD-3-Clause */
/* enforce.h: acting on running sessions (docs/product.md §4).
 *
 * The only module that includes sd-bus. Given a session's logind id (if
 * any) and its leader process (pid plus the start time recorded at sign-in,
 * so a reused pid is never mistaken for it), it terminates or locks the
 * session: through systemd-logind (org.freedesktop.login1.Manager
 * TerminateSession / LockSession) when logind knows the session, otherwise
 * by signalling the leader through a pidfd, SIGHUP first and SIGTERM after a
 * grace period. It also answers whether a session is still running, so
 * ghosts can be reaped before they count against a cap. A session recorded
 * in another boot than the running one is over, whatever its ids now name
 * (logind session ids start again at 1 each boot, and pids and start times
 * repeat): it is never acted on and never found running.
 *
 * The system bus is found the way sd_bus_open_system() finds it
 * (DBUS_SYSTEM_BUS_ADDRESS, else the default socket), connected lazily and
 * reconnected after a failure; every bus call has a short timeout so an
 * absent or hung logind never stalls the daemon for long. Library code:
 * never logs; callers get a description of what was done.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

#define TP_ENFORCE_GRACE_MS 5000  /* SIGHUP, then SIGTERM this much later */
#define TP_BOOT_ID_LEN 36         /* a UUID in text, as /proc gives it */
#define TP_ENFORCE_BUS_TIMEOUT_US 500000

struct tp_enforcer;

/* What identifies a running session. logind_session may be "" (unknown:
 * then it is looked up by the leader's pid); leader_pid 0 means none was
 * recorded. boot_id is the boot the session was recorded in: the others
 * identify something only in that boot, so a target whose boot_id is not
 * the running boot's (NULL and "" included: not known) is never acted on. */
struct tp_enforce_target {
        const char *session_id;     /* ours, for descriptions */
        const char *logind_session;
        pid_t leader_pid;
        uint64_t leader_start;      /* /proc/PID/stat field 22; 0: unknown */
        /* Other active sessions the same leader leads (a process that
         * opened sessions for several users: a PAM gateway, a mail server
         * with session=yes), or a negative errno when that could not be
         * told. Then nothing that would end the leader is done: no signal,
         * no TerminateSession (its logind session holds the leader), no
         * logind session looked up by it. */
        int leader_shared;
        const char *boot_id;
};

/* The running boot's id (/proc/sys/kernel/random/boot_id) into buf, which
 * must hold TP_BOOT_ID_LEN + 1 bytes. -EBADMSG when the kernel's text is
 * not a UUID. */
int tp_boot_id_read(char *buf, size_t bufsz);

/* Reads the running boot's id: fails when it cannot be known. */
int tp_enforcer_new(struct tp_enforcer **ret);
void tp_enforcer_free(struct tp_enforcer *e);

/* Start time of a live process (clock ticks since boot, /proc/PID/stat
 * field 22). -ESRCH when there is no such process. */
int tp_process_start_time(pid_t pid, uint64_t *ret_start);

/* Is the session still running? 1: yes; 0: it was recorded in another
 * boot, or its leader is gone (or was replaced by another process with the
 * same pid) and logind does not know it; negative errno: cannot tell
 * (nothing recorded to check). */
int tp_enforcer_session_alive(struct tp_enforcer *e, const struct tp_enforce_target *t);

/* Apply `action` (TP_ACTION_TERMINATE, _LOCK, _NONE) to the running
 * session; to a session of another boot, nothing (there is nothing left
 * of it; returns 0). Writes a one-line description of what was done into `what`
 * (e.g. "logind TerminateSession(\"4\")", "SIGHUP to leader pid 1234,
 * SIGTERM in 5 s", "leader already gone"). Lock without a logind session
 * falls back to terminate (there is nothing else to lock), and so does lock
 * when logind cannot be reached. With a shared leader (leader_shared not
 * 0) only a lock of the recorded logind session is done, never anything
 * that ends the leader: "what" says why. Returns 0 when the action was carried out
 * or there was nothing left to act on, a negative errno when it failed:
 * -ENODATA when logind does not know the session and no leader with a
 * start time was recorded, the bus error when logind was unreachable and
 * there was no leader to fall back on. */
int tp_enforcer_apply(struct tp_enforcer *e, const struct tp_enforce_target *t, uint8_t action,
                      char *what, size_t whatsz);

/* How idle logind finds the session (org.freedesktop.login1.Session
 * IdleHint and IdleSinceHint, which logind keeps from the display
 * server's reports for a graphical session and from its terminal's last
 * input for a text one). 1: idle since *ret_since (wall-clock seconds);
 * 0: not idle; -ENODATA: logind has no session of its own for it (none
 * recorded and the leader leads none, or another boot); another negative
 * errno: logind could not be asked. */
int tp_enforcer_idle_since(struct tp_enforcer *e, const struct tp_enforce_target *t, int64_t *ret_since);

/* Whether the session's logind session is graphical (Type x11, wayland
 * or mir): 1 yes, 0 no or no logind session, negative errno when logind
 * could not be asked. */
int tp_enforcer_session_graphical(struct tp_enforcer *e, const struct tp_enforce_target *t);

/* Post a desktop notification (org.freedesktop.Notifications.Notify,
 * urgency critical) on the session bus of user uid, /run/user/UID/bus,
 * when that is a socket the user owns. Never on root's. A child process
 * does it with the user's uid and gid and no supplementary groups, so
 * that the bus sees the user and nothing of the daemon's privileges
 * reaches it; it gives up after one second, and tp_enforcer_tick() reaps
 * it. 0: the child was started (whether a notification service answered
 * is not waited for); -ENOENT: no bus; -EPERM: not the user's socket;
 * -EBUSY: too many still being posted. */
int tp_enforcer_notify_desktop(struct tp_enforcer *e, uid_t uid, gid_t gid, const char *summary,
                               const char *body);

/* Deliver the SIGTERMs whose grace period has passed, through the pidfds
 * kept since the SIGHUP; leaders that exited meanwhile are dropped. Call it
 * from the event loop at least once a second. Returns how many are still
 * pending. tp_enforcer_free() drops pending SIGTERMs: at shutdown, call
 * tp_enforcer_tick(e, INT64_MAX) first to deliver them at once. */
size_t tp_enforcer_tick(struct tp_enforcer *e, int64_t now_monotonic_ms);
