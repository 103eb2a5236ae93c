/* SPDX-License-Identifier: BSD-3-Clause */
/* io.h: client-side socket I/O with deadlines, shared by the PAM module and
 * the CLI.
 *
 * Every wait goes through poll() against one absolute deadline on the
 * monotonic clock, so a call never takes longer than the timeout its
 * caller chose, whatever the daemon does (absent, silent, slow, garbage,
 * oversized or truncated replies). Each transaction allocates one frame
 * buffer (header + TP_PAYLOAD_MAX) on the heap, wipes and frees it before
 * returning, so that callers on a small stack (the PAM module) never hold
 * a frame; no other allocation, no logging.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t tp_monotonic_ms(void);

/* Connect to the Unix stream socket at path, non-blocking, within
 * timeout_ms. On success *ret_fd is a connected socket (O_NONBLOCK,
 * O_CLOEXEC). Returns -errno: -ENOENT/-ECONNREFUSED when no daemon listens,
 * -ETIMEDOUT, -ENAMETOOLONG for a path that does not fit sun_path,
 * -EINVAL for an empty path or a negative timeout. */
int tp_io_connect(const char *path, int timeout_ms, int *ret_fd);

/* Identity of the peer of a connected Unix socket (SO_PEERCRED). */
int tp_io_peer_cred(int fd, uid_t *ret_uid, pid_t *ret_pid);

/* Send one request and receive its reply on a connected socket, both
 * before deadline_ms (tp_monotonic_ms() scale). The reply must be a single
 * frame whose type is req->type | TP_REPLY_FLAG, with nothing after it;
 * anything else is -EPROTO.
 * Returns 0 or -errno: -ETIMEDOUT, -EPIPE/-ECONNRESET when the daemon
 * closed, -EPROTO for a malformed or unexpected reply, -EMSGSIZE for a
 * reply frame past TP_PAYLOAD_MAX (detected from the header, before
 * reading the payload). `rep` is large: allocate it on the heap. */
int tp_io_transact(int fd, int64_t deadline_ms, const struct tp_request *req, struct tp_reply *rep);

/* Connect, transact once, close: the PAM module's whole conversation with
 * the daemon, bounded by timeout_ms in total. Trusts whatever listens. */
int tp_io_call(const char *path, int timeout_ms, const struct tp_request *req, struct tp_reply *rep);

/* Is the socket at path one only expected_uid (normally root) could have
 * put there? It must be a socket itself, not a symbolic link to one
 * (lstat), owned by expected_uid, in a directory owned by root or
 * expected_uid that group and others cannot write to unless it has the
 * sticky bit (as /tmp), so nobody else can replace it. Returns 0, -ENOENT
 * when nothing is there, another -errno when it cannot be examined, or
 * -EPERM with the reason, a short English phrase, in why (why_size bytes,
 * may be 0): the caller logs it. */
int tp_io_check_socket(const char *path, uid_t expected_uid, char *why, size_t why_size);

/* Is the directory holding path one that only root or expected_uid can
 * change? Owned by one of them, and not writable by group or others
 * unless it has the sticky bit. 0, -EPERM with the reason in why, or
 * another -errno when it cannot be examined. */
int tp_io_check_dir(const char *path, uid_t expected_uid, char *why, size_t why_size);

/* Connect only to a daemon expected_uid could have put at path: checks
 * the path with tp_io_check_socket() before connecting and, once
 * connected, that the peer (SO_PEERCRED) is expected_uid. A failed check
 * is -EPERM with its reason in why; else tp_io_connect()'s result. The
 * connection may carry any number of tp_io_transact() calls, one at a
 * time, as long as both ends keep it. */
int tp_io_connect_trusted(const char *path, int timeout_ms, uid_t expected_uid, int *ret_fd, char *why,
                          size_t why_size);

/* tp_io_call() that sends nothing to a daemon it cannot trust: checks the
 * path with tp_io_check_socket() before connecting and, once connected,
 * that the peer (SO_PEERCRED) is expected_uid. A failed check is -EPERM
 * with its reason in why; every other result is tp_io_call()'s. */
int tp_io_call_trusted(const char *path, int timeout_ms, uid_t expected_uid, const struct tp_request *req,
                       struct tp_reply *rep, char *why, size_t why_size);
