/* log.h: the daemon's diagnostics and audit trail.
 *
 * In the foreground, one line per message on stderr; detached, syslog
 * (LOG_AUTHPRIV). Audit events are structured journal entries when
 * journald runs, else one line each with key=value fields so they can be
 * grepped and parsed. Never pass a secret (refresh token,
 * private key) to any of these.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

void tp_log_open(bool to_stderr, bool debug);
void tp_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log `r` (a negative errno) with context; returns r so callers can
 * `return tp_log_errno(r, "...")`. */
int tp_log_errno(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct tp_audit {
        const char *event;      /* allow, deny, evict, expire, revoke, close,
                                 * reauth, refresh, reload, config-error */
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

/* The journal's MESSAGE_ID for an event kind, NULL for an unknown one. */
const char *tp_audit_message_id(const char *event);

#define TP_JOURNAL_SOCKET "/run/systemd/journal/socket"
