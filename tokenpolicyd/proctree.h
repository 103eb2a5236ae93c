/* SPDX-License-Identifier: BSD-3-Clause */
/* proctree.h: the processes that descend from a session's leader.
 *
 * Ending a session without logind means signalling its processes: the
 * leader recorded at sign-in does not always pass a signal on (Cockpit's
 * cockpit-session keeps its bridge running on SIGTERM), so the processes
 * below it get the signal too. Library code: never logs.
 */
#pragma once

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

/* At most this many processes are looked at in /proc per call. */
#define TP_PROCTREE_SCAN_MAX 65536

/* Send sig to every process below root (children, their children, ...),
 * not to root itself. Each is signalled through a pidfd opened before its
 * parent is checked again in /proc, so a pid that was reused meanwhile is
 * never hit. *ret_signalled (may be NULL) counts the processes signalled.
 * 0, or a negative errno when /proc cannot be read (-ENOMEM). Processes
 * that left meanwhile are no error. proc is the /proc directory (tests
 * may not need another; NULL means "/proc"). */
int tp_proctree_signal_descendants(const char *proc, pid_t root, int sig, size_t *ret_signalled);
