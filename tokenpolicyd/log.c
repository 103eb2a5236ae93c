/* log.c: diagnostics and the audit trail, to stderr or syslog.
 *
 * Must never be handed a secret; callers pass session ids, never tokens.
 * Values in audit lines are quoted when they contain spaces or quotes, and
 * control characters are escaped so a hostile user name cannot forge a
 * second line.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool log_to_stderr = true;
static bool log_to_journal_stream; /* stderr is journald's: "<N>" prefixes */
static bool log_debug;

void tp_log_open(bool to_stderr, bool debug)
{
        log_to_stderr = to_stderr;
        log_to_journal_stream = to_stderr && getenv("JOURNAL_STREAM") != NULL;
        log_debug = debug;
        if (!to_stderr)
                openlog("tokenpolicyd", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
}

static const char *priority_prefix(int priority)
{
        switch (priority) {
        case LOG_EMERG:
        case LOG_ALERT:
        case LOG_CRIT:
        case LOG_ERR:
                return "error: ";
        case LOG_WARNING:
                return "warning: ";
        case LOG_DEBUG:
                return "debug: ";
        default:
                return "";
        }
}

static void log_va(int priority, const char *fmt, va_list ap)
{
        char line[4096];

        if (priority == LOG_DEBUG && !log_debug)
                return;
        vsnprintf(line, sizeof(line), fmt, ap);
        if (log_to_journal_stream)
                fprintf(stderr, "<%d>%s\n", priority, line);
        else if (log_to_stderr)
                fprintf(stderr, "tokenpolicyd: %s%s\n", priority_prefix(priority), line);
        else
                syslog(priority, "%s", line);
}

void tp_log(int priority, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        log_va(priority, fmt, ap);
        va_end(ap);
}

int tp_log_errno(int r, const char *fmt, ...)
{
        char what[2048];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        tp_log(LOG_ERR, "%s: %s", what, strerror(r < 0 ? -r : r));
        return r;
}

/* Append key=value, quoting and escaping so one event stays one line. */
static void audit_field(char *buf, size_t bufsz, size_t *pos, const char *key, const char *value)
{
        bool quote;
        int n;

        if (!value || !*value || *pos >= bufsz)
                return;
        quote = strpbrk(value, " \"=\\") != NULL;
        n = snprintf(buf + *pos, bufsz - *pos, "%s%s=%s", *pos ? " " : "", key, quote ? "\"" : "");
        if (n < 0)
                return;
        *pos += (size_t)n;
        for (const unsigned char *p = (const unsigned char *)value; *p && *pos + 5 < bufsz; p++) {
                if (*p < 0x20 || *p == 0x7f)
                        n = snprintf(buf + *pos, bufsz - *pos, "\\x%02x", *p);
                else if (*p == '"' || *p == '\\')
                        n = snprintf(buf + *pos, bufsz - *pos, "\\%c", *p);
                else
                        n = snprintf(buf + *pos, bufsz - *pos, "%c", *p);
                if (n < 0)
                        return;
                *pos += (size_t)n;
        }
        if (quote && *pos + 1 < bufsz)
                buf[(*pos)++] = '"';
        buf[*pos < bufsz ? *pos : bufsz - 1] = '\0';
}

void tp_audit(const struct tp_audit *a)
{
        char line[3072] = "";
        char uid[24];
        size_t pos = 0;

        audit_field(line, sizeof(line), &pos, "event", a->event);
        audit_field(line, sizeof(line), &pos, "user", a->user);
        audit_field(line, sizeof(line), &pos, "client", a->client);
        audit_field(line, sizeof(line), &pos, "service", a->service);
        audit_field(line, sizeof(line), &pos, "session", a->session);
        audit_field(line, sizeof(line), &pos, "evicted_by", a->evicted_by);
        if (a->peer_uid >= 0) {
                snprintf(uid, sizeof(uid), "%ld", a->peer_uid);
                audit_field(line, sizeof(line), &pos, "peer_uid", uid);
        }
        audit_field(line, sizeof(line), &pos, "reason", a->reason);
        tp_log(LOG_NOTICE, "audit: %s", line);
}
