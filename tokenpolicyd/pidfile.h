/* SPDX-License-Identifier: BSD-3-Clause */
/* pidfile.h: the daemon's PID file, for init scripts and
 * start-stop-daemon(8). Never logs: callers report the negative errno.
 */
#pragma once

/* The default path is TP_DEFAULT_PID_FILE (paths.h). */

/* Write "PID\n" of this process to path, mode 0644, atomically: a temporary
 * file in the same directory renamed over path, so a reader sees the old
 * file or the whole new one, and a symbolic link at path is replaced,
 * never followed. */
int tp_pidfile_write(const char *path);

/* Remove path if it still names this process: a daemon that started after
 * this one lost its socket keeps its own file. 0 also when there was
 * nothing of ours to remove. */
int tp_pidfile_remove(const char *path);
