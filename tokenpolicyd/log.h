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

/* The journal's MESSAGE_ID for an event kind, NULL for an unknown one. */
const char *tp_audit_message_id(const char *event);

#define TP_JOURNAL_SOCKET "/run/systemd/journal/socket"
