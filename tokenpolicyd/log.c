/* log.c: diagnostics and the audit trail.
 *
 * Diagnostics go to stderr (with "<N>" priority prefixes when stderr is
 * the journal's stream) or, once detached, to syslog. Audit events go to
 * the journal as structured entries (sd_journal_sendv: TOKENPOLICY_* fields
 * and a fixed MESSAGE_ID per event kind) when journald is there, and
 * otherwise as one key=value line each through the diagnostics path.
 * Must never be handed a secret; callers pass session ids, never tokens.
 * Values in audit lines are quoted when they contain spaces or quotes, and
 * control characters are escaped so a hostile user name cannot forge a
 * second line.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-journal.h>
#include <stdlib.h>
#include <string.h>

static bool log_to_stderr = true;
static bool log_to_journal_stream; /* stderr is journald's: "<N>" prefixes */
static bool log_debug;
static bool audit_to_journal;      /* journald's socket is there */

void tp_log_open(bool to_stderr, bool debug)
{
        log_to_stderr = to_stderr;
        log_to_journal_stream = to_stderr && getenv("JOURNAL_STREAM") != NULL;
        audit_to_journal = access(TP_JOURNAL_SOCKET, W_OK) == 0;
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

/* Append key=value, quoting and escaping so one event stays one line.
 * Stops short rather than overflow: a cut value is still one line. */
static void audit_field(char *buf, size_t bufsz, size_t *pos, const char *key, const char *value)
{
        static const char hex[] = "0123456789abcdef";
        size_t p = *pos;
        bool quote;

        if (!value || !*value || p + 1 >= bufsz)
                return;
        quote = strpbrk(value, " \"=\\") != NULL;
        if (p > 0)
                buf[p++] = ' ';
        for (const char *k = key; *k && p + 1 < bufsz; k++)
                buf[p++] = *k;
        if (p + 2 < bufsz)
                buf[p++] = '=';
        if (quote && p + 2 < bufsz)
                buf[p++] = '"';
        for (const unsigned char *v = (const unsigned char *)value; *v && p + 5 < bufsz; v++) {
                if (*v < 0x20 || *v == 0x7f) {
                        buf[p++] = '\\';
                        buf[p++] = 'x';
                        buf[p++] = hex[*v >> 4];
                        buf[p++] = hex[*v & 0xf];
                } else if (*v == '"' || *v == '\\') {
                        buf[p++] = '\\';
                        buf[p++] = (char)*v;
                } else {
                        buf[p++] = (char)*v;
                }
        }
        if (quote && p + 1 < bufsz)
                buf[p++] = '"';
        buf[p] = '\0';
        *pos = p;
}

/* One MESSAGE_ID per kind of event, so `journalctl MESSAGE_ID=...` finds
 * them all; listed in tokenpolicyd(8). */
static const struct audit_kind {
        const char *event;
        const char *message_id;
        int priority;
} audit_kinds[] = {
        { "allow", "ee6c0b9b7c7a4bc09e7bb6b1bc6b0336", LOG_INFO },
        { "deny", "a68038702606404ea9d798fcccdb57cf", LOG_NOTICE },
        { "evict", "9fb1b8471ebd44dcb105cfd58aac81f5", LOG_NOTICE },
        { "expire", "6c5956a3762442e386c0924cc4c11239", LOG_INFO },
        { "revoke", "97f274c0c2364618a841536db942904f", LOG_NOTICE },
        { "close", "b875efeb9e944b27b2a97bfc52e02a7b", LOG_INFO },
        { "reauth", "88091e6482d64c82a617da9ddacc4b07", LOG_INFO },
        { "refresh", "cb742627269145018914d6c187ab579c", LOG_INFO },
        { "reload", "a9c131d4867744b5a353abf2f40d07c7", LOG_NOTICE },
        { "config-error", "15b4517e33624f32a394a31bac50c8db", LOG_ERR },
        { "enforce", "f375fe3cc0d04e5dbabe4cd07f41b271", LOG_NOTICE },
        { "rotate-key", "47bc0464e3f7481fa422e63b58aa587b", LOG_NOTICE },
        { "revoke-key", "8e397df6b9c34a1cb8b593ff8932b90b", LOG_NOTICE },
};

static const struct audit_kind *audit_kind(const char *event)
{
        for (size_t i = 0; i < sizeof(audit_kinds) / sizeof(audit_kinds[0]); i++)
                if (strcmp(audit_kinds[i].event, event) == 0)
                        return &audit_kinds[i];
        return NULL;
}

const char *tp_audit_message_id(const char *event)
{
        const struct audit_kind *k = audit_kind(event);

        return k ? k->message_id : NULL;
}

static int audit_priority(const char *event)
{
        const struct audit_kind *k = audit_kind(event);

        return k ? k->priority : LOG_NOTICE;
}

/* "FIELD=value" into one iovec; values are sent as they are (journald
 * fields are binary-safe only with the length form, so a newline is
 * replaced: one event never becomes two lines anywhere). */
static void journal_field(struct iovec *iov, size_t *n, char *buf, size_t bufsz, const char *field,
                          const char *value)
{
        int w;

        if (!value || !*value)
                return;
        w = snprintf(buf, bufsz, "%s=%s", field, value);
        if (w < 0)
                return;
        for (char *p = buf; *p; p++)
                if (*p == '\n')
                        *p = ' ';
        iov[*n].iov_base = buf;
        iov[*n].iov_len = (size_t)w < bufsz ? (size_t)w : bufsz - 1;
        (*n)++;
}

static int audit_journal(const struct tp_audit *a, const char *line)
{
        char f[12][1024];
        struct iovec iov[12];
        char uid[24], prio[8];
        const char *mid = tp_audit_message_id(a->event);
        size_t n = 0;

        snprintf(prio, sizeof(prio), "%d", audit_priority(a->event));
        journal_field(iov, &n, f[0], sizeof(f[0]), "MESSAGE", line);
        journal_field(iov, &n, f[1], sizeof(f[1]), "MESSAGE_ID", mid);
        journal_field(iov, &n, f[2], sizeof(f[2]), "PRIORITY", prio);
        journal_field(iov, &n, f[3], sizeof(f[3]), "SYSLOG_IDENTIFIER", "tokenpolicyd");
        journal_field(iov, &n, f[4], sizeof(f[4]), "TOKENPOLICY_DECISION", a->event);
        journal_field(iov, &n, f[5], sizeof(f[5]), "TOKENPOLICY_USER", a->user);
        journal_field(iov, &n, f[6], sizeof(f[6]), "TOKENPOLICY_CLIENT", a->client);
        journal_field(iov, &n, f[7], sizeof(f[7]), "TOKENPOLICY_SERVICE", a->service);
        journal_field(iov, &n, f[8], sizeof(f[8]), "TOKENPOLICY_SESSION", a->session);
        journal_field(iov, &n, f[9], sizeof(f[9]), "TOKENPOLICY_REASON", a->reason);
        journal_field(iov, &n, f[10], sizeof(f[10]), "TOKENPOLICY_EVICTED_BY", a->evicted_by);
        if (a->peer_uid >= 0) {
                snprintf(uid, sizeof(uid), "%ld", a->peer_uid);
                journal_field(iov, &n, f[11], sizeof(f[11]), "TOKENPOLICY_PEER_UID", uid);
        }
        return sd_journal_sendv(iov, (int)n);
}

static void audit_emit(const struct tp_audit *a);

/* Held events: each a copy of the struct and its strings in one block. */
struct held_audit {
        struct tp_audit a;
        int depends;    /* -1 not yet marked, 0 no, 1 yes */
};
static struct {
        bool holding;
        struct held_audit **v;
        size_t n, cap, marked;
} held;

static char *dup_into(char **pos, const char *src)
{
        char *out = *pos;
        size_t n;

        if (!src)
                return NULL;
        n = strlen(src) + 1;
        memcpy(out, src, n);
        *pos += n;
        return out;
}

static void audit_keep(const struct tp_audit *a)
{
        const char *f[] = { a->event, a->user, a->client, a->service, a->session, a->reason, a->evicted_by };
        size_t len = sizeof(struct held_audit);
        struct held_audit *h;
        char *pos;

        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
                len += f[i] ? strlen(f[i]) + 1 : 0;
        if (held.n == held.cap) {
                size_t cap = held.cap ? held.cap * 2 : 64;
                struct held_audit **v = realloc(held.v, cap * sizeof(*v));

                if (!v) {
                        audit_emit(a); /* no memory to wait: write it now */
                        return;
                }
                held.v = v;
                held.cap = cap;
        }
        h = malloc(len);
        if (!h) {
                audit_emit(a);
                return;
        }
        pos = (char *)(h + 1);
        h->depends = -1;
        h->a.peer_uid = a->peer_uid;
        h->a.event = dup_into(&pos, a->event);
        h->a.user = dup_into(&pos, a->user);
        h->a.client = dup_into(&pos, a->client);
        h->a.service = dup_into(&pos, a->service);
        h->a.session = dup_into(&pos, a->session);
        h->a.reason = dup_into(&pos, a->reason);
        h->a.evicted_by = dup_into(&pos, a->evicted_by);
        held.v[held.n++] = h;
}

void tp_audit_hold(void)
{
        held.holding = true;
}

void tp_audit_mark(bool depends_on_commit)
{
        for (; held.marked < held.n; held.marked++)
                held.v[held.marked]->depends = depends_on_commit;
}

size_t tp_audit_release(bool committed)
{
        size_t dropped = 0;

        held.holding = false;
        for (size_t i = 0; i < held.n; i++) {
                if (committed || held.v[i]->depends != 1)
                        audit_emit(&held.v[i]->a);
                else
                        dropped++;
                free(held.v[i]);
        }
        held.n = held.marked = 0;
        return dropped;
}

void tp_audit(const struct tp_audit *a)
{
        if (held.holding)
                audit_keep(a);
        else
                audit_emit(a);
}

static void audit_emit(const struct tp_audit *a)
{
        char line[3072];
        char uid[24];
        size_t pos = 0;

        line[0] = '\0';
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
        /* The journal when it is there; otherwise (or if it refuses) one
         * line through the diagnostics. In the foreground on a terminal or
         * a file the line is written as well, so whoever started the
         * daemon by hand sees what it decides. */
        if (audit_to_journal && audit_journal(a, line) >= 0 && (!log_to_stderr || log_to_journal_stream))
                return;
        tp_log(audit_priority(a->event), "audit: %s", line);
}
