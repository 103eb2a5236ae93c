/* SPDX-License-Identifier: BSD-3-Clause */
/* log.h: the daemon's diagnostics and audit trail.
 *
 * In the foreground, one line per message on stderr; detached, syslog
 * (LOG_AUTHPRIV) through /dev/log, or a file in the state directory where
 * there is no /dev/log. Audit events are structured journal entries when
 * journald runs, else one line each with key=value fields so they can be
 * grepped and parsed. Nothing here ever blocks on a reader: the journal
 * and syslog are written to on non-blocking datagram sockets with a small
 * bounded queue, and what cannot be written is counted and reported once
 * it can. Never pass a secret (refresh token, private key) to any of these.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <syslog.h>

void tp_log_open(bool to_stderr, bool debug);
void tp_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log `r` (a negative errno) with context; returns r so callers can
 * `return tp_log_errno(r, "...")`. */
int tp_log_errno(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Where lines go once detached when there is no syslog socket: DIR/
 * TP_LOG_FILE (mode 0600), renamed to TP_LOG_FILE ".1" (replacing the
 * previous one) before it would grow past max_bytes. */
#define TP_LOG_FILE "tokenpolicyd.log"
#define TP_LOG_FILE_MAX (4 * 1024 * 1024)
void tp_log_fallback_dir(const char *dir, off_t max_bytes);

/* Testing aids: the journal's and syslog's datagram sockets, read from the
 * environment by tp_log_open(); default TP_JOURNAL_SOCKET and TP_SYSLOG_SOCKET. */
#define TP_JOURNAL_SOCKET "/run/systemd/journal/socket"
#define TP_SYSLOG_SOCKET "/dev/log"
#define TP_JOURNAL_SOCKET_ENV "TOKENPOLICYD_JOURNAL_SOCKET"
#define TP_SYSLOG_SOCKET_ENV "TOKENPOLICYD_SYSLOG_SOCKET"

/* At most this many entries (and TP_LOG_QUEUE_BYTES) wait for a journal or
 * syslog that does not read; beyond that they are lost and counted. */
#define TP_LOG_QUEUE_MAX 256
#define TP_LOG_QUEUE_BYTES (1024 * 1024)

struct tp_audit {
        const char *event;      /* allow, deny, evict, expire, revoke, close,
                                 * reauth, refresh, reload, config-error,
                                 * undelivered, ... (tp_audit_message_id) */
        const char *user;
        const char *client;
        const char *service;
        const char *session;
        const char *reason;
        const char *evicted_by; /* for evict: the new session */
        long peer_uid;          /* -1 when not applicable */
};
void tp_audit(const struct tp_audit *a);

/* Group commit: between tp_audit_hold() and tp_audit_release(), events are
 * kept, not written. tp_audit_mark() tags the events since the previous
 * mark as depending on the batch (a change they report) or not (a denial,
 * an access check). tp_audit_release(true) writes them all, in order;
 * tp_audit_release(false), after a failed commit, writes only those that
 * did not depend on it and returns how many were dropped. */
void tp_audit_hold(void);
void tp_audit_mark(bool depends_on_commit);
size_t tp_audit_release(bool committed);

/* Per-uid limit on the audit events that requests of users other than
 * root and the daemon's owner cause: the events of at most
 * TP_AUDIT_RATE_BURST such requests at once, then of one more every
 * TP_AUDIT_RATE_REFILL_MS. The events of a request are written all or not
 * at all; those not written are counted per uid and reported by
 * tp_log_tick() as an audit-suppressed event, at most once per
 * TP_AUDIT_RATE_REFILL_MS per uid. Between begin and end, every tp_audit()
 * belongs to that request; limited = false (root, the daemon's owner)
 * writes them all. now_ms is CLOCK_MONOTONIC. */
#define TP_AUDIT_RATE_BURST 10
#define TP_AUDIT_RATE_REFILL_MS 6000
#define TP_AUDIT_RATE_SLOTS 256
void tp_audit_request_begin(uid_t uid, bool limited, int64_t now_ms);
void tp_audit_request_end(void);

/* About once a second: look again for a journal or syslog that was not
 * there at the last send (until then none is tried), send what waits in
 * the queues, report what was lost (an audit-lost event once the journal
 * takes entries again) and what the per-uid limit suppressed. */
void tp_log_tick(int64_t now_ms);

/* Entries wait for a journal or syslog that did not read: the event loop
 * calls tp_log_flush() every TP_LOG_RETRY_MS meanwhile, so they drain as
 * fast as the reader reads again. */
#define TP_LOG_RETRY_MS 50
bool tp_log_pending(void);
void tp_log_flush(void);

struct tp_audit_stats {
        uint64_t lost;       /* events no sink took, since start */
        uint64_t suppressed; /* events the per-uid limit did not write */
        uint32_t queued;     /* entries waiting for the journal or syslog */
        char sink[1100];     /* where audit events go now, in words */
};
void tp_audit_stats(struct tp_audit_stats *st);

/* Escape `in` for a log line (text: quotes are escaped too) or a journal
 * field: control characters (C0, DEL), invalid UTF-8 as \xHH per byte;
 * C1 controls, U+2028, U+2029 and the bidirectional formatting characters
 * (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) as \uHHHH;
 * a backslash as \\. Valid UTF-8 otherwise passes. Writes whole escapes
 * only, at most outsz - 1 bytes and a NUL; returns the length written. */
size_t tp_log_escape(char *out, size_t outsz, const char *in, bool text);

/* The journal's MESSAGE_ID for an event kind, NULL for an unknown one. */
const char *tp_audit_message_id(const char *event);
