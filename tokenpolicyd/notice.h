/* SPDX-License-Identifier: BSD-3-Clause */
/* notice.h: telling the user of a running session, on that session's own
 * terminal, why it is about to be ended or locked, as wall(1) writes to a
 * terminal.
 *
 * The places told are found from the session's recorded leader (pid and
 * start time) at the moment of telling, never from a path anyone wrote:
 *  - every terminal that the leader or one of its descendants has as its
 *    controlling terminal (the kernel's tty_nr in /proc/PID/stat), and the
 *    terminal recorded as PAM_TTY at sign-in; a terminal is written only
 *    when it is a character device that is a terminal and is owned by the
 *    session's user (as sshd and login make the terminals they hand out);
 *  - for a session without a terminal (ssh HOST COMMAND), the standard
 *    error of the session's command, but only when it is a pipe whose
 *    other end is held by the leader's own per-session child running the
 *    leader's program (sshd's "USER@notty" process), and that pipe is not
 *    also the command's standard input or output: the bytes then reach the
 *    ssh client's standard error. The pipe is opened through sshd's file
 *    table, which the user cannot change, never through the user's; a
 *    regular file, a socket or a device behind the command's standard
 *    error is never written.
 * Every write is non-blocking, of a short text made of printable ASCII
 * (anything else is replaced). Library code: never logs; the caller gets a
 * description of what was done.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TP_NOTICE_TARGETS_MAX 4   /* places told per session, at most */
#define TP_NOTICE_TEXT_MAX 512

/* What was written to, kept open so the caller can wait until the other
 * side has read the notice before it ends the session. */
struct tp_notice_sent {
        int fds[TP_NOTICE_TARGETS_MAX];
        bool pipe[TP_NOTICE_TARGETS_MAX];   /* a pipe: its unread bytes can be counted */
        size_t n;
};

/* Tell the session led by leader_pid (with start time leader_start) and
 * owned by uid; `tty` is the PAM_TTY recorded at sign-in (may be "" or a
 * non-terminal such as "ssh"). `text` is one line without a newline.
 * Fills *sent (empty on failure) and `what` ("told on /dev/pts/3", "no
 * terminal to tell", ...; "" when the leader is not running, or is not
 * the recorded one). Returns how many places were told. */
size_t tp_notice_send(pid_t leader_pid, uint64_t leader_start, uid_t uid, const char *tty,
                      const char *text, struct tp_notice_sent *sent, char *what, size_t whatsz);

/* True when every pipe told has been read empty (its reader, sshd, has
 * taken the notice). Terminals cannot be asked: they count as read. */
bool tp_notice_read(const struct tp_notice_sent *sent);

/* The session's last input on a terminal, as w(1) shows it: the latest
 * access time among the terminals tp_notice_send() would write to (the
 * same rules: terminal devices owned by uid), which the kernel moves when
 * the terminal is read. 1: *ret_last set (wall-clock seconds); 0: the
 * session has no such terminal; -ESRCH: the leader is not running or is
 * not the recorded one. Only looks, never opens a terminal. */
int tp_notice_last_input(pid_t leader_pid, uint64_t leader_start, uid_t uid, const char *tty,
                         int64_t *ret_last);

/* Close what tp_notice_send() kept open; harmless on an empty one. */
void tp_notice_close(struct tp_notice_sent *sent);
