/* SPDX-License-Identifier: BSD-3-Clause */
/* log.c: diagnostics and the audit trail.
 *
 * Diagnostics go to stderr (with "<N>" priority prefixes when stderr is
 * the journal's stream) or, once detached, to syslog through /dev/log, or
 * where there is no /dev/log to a size-bounded file in the state
 * directory. Audit events go to the journal as structured entries
 * (TOKENPOLICY_* fields and a fixed MESSAGE_ID per event kind) when
 * journald is there, and otherwise as one key=value line each through the
 * diagnostics path.
 *
 * Every sign-in waits for the event loop, the only thread that logs, so
 * no write here may block on a reader: the journal (its native protocol) and syslog
 * are datagram sockets written with MSG_DONTWAIT, a socket on stderr (the
 * journal's stream) likewise. A datagram the reader does not take at once
 * waits in a small bounded queue, sent before anything newer and again
 * from tp_log_tick(); what does not fit is lost, counted, and reported by
 * an audit-lost event once a sink takes entries again.
 *
 * Every value is escaped (tp_log_escape) in the lines and in the journal's
 * fields alike, so a hostile user name can neither forge a second line nor
 * hide or reorder text on a terminal. Must never be handed a secret;
 * callers pass session ids, never tokens.
 */
#include "log.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_ 4096          /* one diagnostic or audit line */
#define FIELD_MAX_ 8192         /* one escaped journal field value */
#define ENTRY_MAX_ (64 * 1024)  /* one journal entry */

static bool log_to_stderr = true;
static bool log_to_journal_stream; /* stderr is journald's: "<N>" prefixes */
static bool stderr_is_socket;      /* written with MSG_DONTWAIT */
static bool stderr_cut_line;       /* a line was cut short: start afresh */
static bool log_debug;

enum sent { SENT, QUEUED, LOST, ABSENT };

struct queued {
        struct queued *next;
        bool audit;
        size_t len;
        char data[];
};

/* A datagram socket nobody may block us on: the journal or /dev/log. */
struct dgram_sink {
        const char *what;
        struct sockaddr_un sa;
        socklen_t salen;
        int fd;
        bool memfd;             /* too large for one datagram: a memfd */
        struct queued *head, **tail;
        size_t n_queued, bytes_queued;
        /* Nobody was there at the last send: until the next tick, entries
         * go where they would go without this sink, without a send each
         * (a daemon in a container or the foreground has no journal, and
         * every audit event paid a failed send and an entry built for it). */
        bool absent;
};

static struct dgram_sink journal = { .what = "the journal", .fd = -1, .memfd = true };
static struct dgram_sink syslog_sink = { .what = "syslog", .fd = -1 };

static struct {
        char path[PATH_MAX], old[PATH_MAX];
        bool set;
        int fd;
        off_t size, max;
} logfile = { .fd = -1 };

enum sink_kind { TO_NOWHERE, TO_JOURNAL, TO_JOURNAL_AND_STDERR, TO_STDERR, TO_SYSLOG, TO_FILE };
static enum sink_kind audit_sink;

static uint64_t audit_lost_total, audit_lost_unreported, lines_lost_unreported;
static const char *lost_where = "the journal";
static const char *line_fail_where; /* set by write_line() when it fails */
static bool reporting;

static void sink_set_path(struct dgram_sink *k, const char *path)
{
        size_t n = strlen(path);

        k->absent = false;
        if (k->fd >= 0 && strcmp(k->sa.sun_path, path) == 0)
                return;
        if (k->fd >= 0)
                close(k->fd);
        k->fd = -1;
        memset(&k->sa, 0, sizeof(k->sa));
        k->sa.sun_family = AF_UNIX;
        if (n >= sizeof(k->sa.sun_path))
                n = 0; /* never reachable: every send finds nobody there */
        memcpy(k->sa.sun_path, path, n);
        k->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        if (!k->tail)
                k->tail = &k->head;
}

static const char *env_or(const char *name, const char *fallback)
{
        const char *v = getenv(name);

        return v && *v ? v : fallback;
}

void tp_log_open(bool to_stderr, bool debug)
{
        struct stat st;

        log_to_stderr = to_stderr;
        log_to_journal_stream = to_stderr && getenv("JOURNAL_STREAM") != NULL;
        stderr_is_socket = fstat(STDERR_FILENO, &st) == 0 && S_ISSOCK(st.st_mode);
        log_debug = debug;
        sink_set_path(&journal, env_or(TP_JOURNAL_SOCKET_ENV, TP_JOURNAL_SOCKET));
        sink_set_path(&syslog_sink, env_or(TP_SYSLOG_SOCKET_ENV, TP_SYSLOG_SOCKET));
        /* Where audit will go, until an event says where it went. */
        if (access(journal.sa.sun_path, F_OK) == 0)
                audit_sink = to_stderr && !log_to_journal_stream ? TO_JOURNAL_AND_STDERR : TO_JOURNAL;
        else if (to_stderr)
                audit_sink = TO_STDERR;
        else if (access(syslog_sink.sa.sun_path, F_OK) == 0)
                audit_sink = TO_SYSLOG;
        else
                audit_sink = logfile.set ? TO_FILE : TO_NOWHERE;
}

void tp_log_fallback_dir(const char *dir, off_t max_bytes)
{
        if (logfile.fd >= 0)
                close(logfile.fd);
        logfile.fd = -1;
        logfile.max = max_bytes;
        logfile.set = snprintf(logfile.path, sizeof(logfile.path), "%s/%s", dir, TP_LOG_FILE) <
                              (int)sizeof(logfile.path) &&
                      snprintf(logfile.old, sizeof(logfile.old), "%s/%s.1", dir, TP_LOG_FILE) <
                              (int)sizeof(logfile.old);
        if (audit_sink == TO_NOWHERE && logfile.set)
                audit_sink = TO_FILE;
}

/* ---- escaping ------------------------------------------------------- */

/* Length of the valid UTF-8 sequence of 2 to 4 bytes at s, with its code
 * point; 0 when s does not start one (overlong forms, surrogates and code
 * points above U+10FFFF are not valid). */
static size_t utf8_sequence(const unsigned char *s, uint32_t *cp)
{
        size_t n;
        uint32_t c;

        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                n = 2;
                c = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                n = 3;
                c = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                n = 4;
                c = s[0] & 0x07;
        } else {
                return 0;
        }
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
                        return 0;
                c = (c << 6) | (s[i] & 0x3f);
        }
        if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
            (c >= 0xd800 && c <= 0xdfff))
                return 0;
        *cp = c;
        return n;
}

/* Valid characters that still must not reach a log as they are: C1
 * controls (a terminal acts on them), line and paragraph separators (a
 * new line to many viewers) and bidirectional formatting (reorders what
 * is shown). */
static bool escaped_code_point(uint32_t c)
{
        return (c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 || c == 0x061c || c == 0x200e ||
               c == 0x200f || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

size_t tp_log_escape(char *out, size_t outsz, const char *in, bool text)
{
        static const char hex[] = "0123456789abcdef";
        const unsigned char *s = (const unsigned char *)in;
        size_t p = 0;

        if (outsz == 0)
                return 0;
        while (*s) {
                char unit[8];
                size_t n = 0, take = 1;
                uint32_t cp;

                if (*s < 0x20 || *s == 0x7f) {
                        n = (size_t)snprintf(unit, sizeof(unit), "\\x%c%c", hex[*s >> 4], hex[*s & 0xf]);
                } else if (*s == '\\' || (text && *s == '"')) {
                        unit[0] = '\\';
                        unit[1] = (char)*s;
                        n = 2;
                } else if (*s < 0x80) {
                        unit[0] = (char)*s;
                        n = 1;
                } else if ((take = utf8_sequence(s, &cp)) == 0) {
                        take = 1;
                        n = (size_t)snprintf(unit, sizeof(unit), "\\x%c%c", hex[*s >> 4], hex[*s & 0xf]);
                } else if (escaped_code_point(cp)) {
                        n = (size_t)snprintf(unit, sizeof(unit), "\\u%04x", (unsigned)cp);
                } else {
                        memcpy(unit, s, take);
                        n = take;
                }
                if (p + n >= outsz)
                        break; /* whole escapes only: a cut value stays readable */
                memcpy(out + p, unit, n);
                p += n;
                s += take;
        }
        out[p] = '\0';
        return p;
}

/* ---- lines: stderr, syslog, the fallback file ------------------------ */

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

/* snprintf's result as a length that fits buf, ending in a newline. */
static size_t fit_line(char *buf, size_t bufsz, int n)
{
        if (n < 0)
                return 0;
        if ((size_t)n >= bufsz) {
                n = (int)bufsz - 1;
                buf[n - 1] = '\n';
        }
        return (size_t)n;
}

/* How much of buf reached fd before a write failed (len: all of it). */
static size_t write_most(int fd, const char *buf, size_t len)
{
        size_t done = 0;

        while (done < len) {
                ssize_t w = write(fd, buf + done, len - done);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        break;
                done += (size_t)w;
        }
        return done;
}

static bool write_all(int fd, const char *buf, size_t len)
{
        return write_most(fd, buf, len) == len;
}

/* While tp_audit_release writes a batch's events, lines for a file or a
 * terminal on stderr are gathered here and written with one call at its
 * end (a write per event was a tenth of a sign-in's time). A line the
 * write did not get all of is counted lost, as if it had failed on its
 * own; what it says about earlier losses waits until then. */
#define GATHER_BYTES (64 * 1024)
#define GATHER_LINES 512
static void note_lost(bool audit, const char *where);
static struct {
        bool on;
        char buf[GATHER_BYTES];
        size_t len, n;
        struct {
                size_t end;     /* offset just past the line */
                bool audit;
        } line[GATHER_LINES];
} gathered;

/* False when a line was lost. */
static bool gathered_write(void)
{
        size_t done = write_most(STDERR_FILENO, gathered.buf, gathered.len), i;
        bool lost = false;

        for (i = 0; i < gathered.n; i++)
                if (gathered.line[i].end > done) {
                        note_lost(gathered.line[i].audit, "standard error");
                        lost = true;
                }
        gathered.len = gathered.n = 0;
        return !lost;
}

static void gather_line(const char *buf, size_t len, bool audit)
{
        if (gathered.len + len > sizeof(gathered.buf) || gathered.n == GATHER_LINES)
                (void)gathered_write();
        memcpy(gathered.buf + gathered.len, buf, len);
        gathered.len += len;
        gathered.line[gathered.n].end = gathered.len;
        gathered.line[gathered.n].audit = audit;
        gathered.n++;
}

static bool write_stderr(int priority, const char *line, bool audit)
{
        char buf[LINE_MAX_ + 64];
        size_t len, off = 0;
        ssize_t w;

        if (log_to_journal_stream)
                len = fit_line(buf, sizeof(buf), snprintf(buf, sizeof(buf), "%s<%d>%s\n",
                                                          stderr_cut_line ? "\n" : "", priority, line));
        else
                len = fit_line(buf, sizeof(buf), snprintf(buf, sizeof(buf), "%stokenpolicyd: %s%s\n",
                                                          stderr_cut_line ? "\n" : "",
                                                          priority_prefix(priority), line));
        if (!stderr_is_socket && gathered.on) {
                gather_line(buf, len, audit);
                return true;
        }
        if (!stderr_is_socket)
                return write_all(STDERR_FILENO, buf, len);
        /* The journal's stream: a reader that stopped must not stop us. */
        while (off < len) {
                w = send(STDERR_FILENO, buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        break;
                off += (size_t)w;
        }
        stderr_cut_line = off > 0 && off < len;
        return off == len;
}

static bool file_open(void)
{
        struct stat st;
        int fd;

        fd = open(logfile.path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
        if (fd < 0)
                return false;
        /* The state directory is the daemon's own; still, write only into
         * a regular file of ours that no one else may read. */
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
            ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)) {
                close(fd);
                return false;
        }
        logfile.fd = fd;
        logfile.size = st.st_size;
        return true;
}

static bool write_file(int priority, const char *line)
{
        char buf[LINE_MAX_ + 128], when[40];
        struct tm tm;
        time_t now = time(NULL);
        size_t len;

        if (!logfile.set || (logfile.fd < 0 && !file_open()))
                return false;
        if (!localtime_r(&now, &tm) || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S%z", &tm) == 0)
                snprintf(when, sizeof(when), "%lld", (long long)now);
        len = fit_line(buf, sizeof(buf), snprintf(buf, sizeof(buf), "%s tokenpolicyd[%d]: %s%s\n", when,
                                                  (int)getpid(), priority_prefix(priority), line));
        /* Rotated once: the previous file is kept, the one before dropped. */
        if (logfile.size > 0 && logfile.size + (off_t)len > logfile.max) {
                if (rename(logfile.path, logfile.old) < 0)
                        return false;
                close(logfile.fd);
                logfile.fd = -1;
                if (!file_open())
                        return false;
        }
        if (!write_all(logfile.fd, buf, len))
                return false;
        logfile.size += (off_t)len;
        return true;
}

/* ---- datagram sinks ------------------------------------------------- */

/* A sealed memfd passed with SCM_RIGHTS: the journal's way for an entry
 * larger than one datagram may be. */
static int send_memfd(struct dgram_sink *k, const char *data, size_t len)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        struct msghdr mh = { .msg_name = &k->sa, .msg_namelen = k->salen,
                             .msg_control = &control, .msg_controllen = sizeof(control) };
        struct cmsghdr *cm;
        int fd, r = 0;

        fd = memfd_create("tokenpolicyd-journal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -EMSGSIZE;
        if (!write_all(fd, data, len) ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
                close(fd);
                return -EMSGSIZE;
        }
        memset(&control, 0, sizeof(control));
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        while (sendmsg(k->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                if (errno != EINTR) {
                        r = -errno;
                        break;
                }
        }
        close(fd);
        return r;
}

static int dgram_send(struct dgram_sink *k, const char *data, size_t len)
{
        if (k->fd < 0) {
                k->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (k->fd < 0)
                        return -ENOENT;
        }
        for (;;) {
                if (sendto(k->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&k->sa,
                           k->salen) >= 0)
                        return 0;
                if (errno == EINTR)
                        continue;
                if (errno == EMSGSIZE && k->memfd)
                        return send_memfd(k, data, len);
                return -errno;
        }
}

/* The reader is there but does not take more now. */
static bool busy(int r)
{
        return r == -EAGAIN || r == -EWOULDBLOCK || r == -ENOBUFS;
}

static void note_lost(bool audit, const char *where)
{
        if (audit) {
                audit_lost_total++;
                audit_lost_unreported++;
                lost_where = where;
        } else {
                lines_lost_unreported++;
        }
}

/* Send what waits, oldest first, until the reader is busy again. What it
 * can never take (it went away, or the entry is too large) is lost. */
static void dgram_flush(struct dgram_sink *k)
{
        while (k->head) {
                struct queued *q = k->head;
                int r = dgram_send(k, q->data, q->len);

                if (busy(r))
                        return;
                if (r < 0)
                        note_lost(q->audit, k->what);
                k->head = q->next;
                if (!k->head)
                        k->tail = &k->head;
                k->n_queued--;
                k->bytes_queued -= q->len;
                free(q);
        }
}

/* Gone at the last send, and nothing of it waits to be sent. */
static bool sink_absent(const struct dgram_sink *k)
{
        return k->absent && !k->head;
}

static enum sent dgram_write(struct dgram_sink *k, const char *data, size_t len, bool audit)
{
        struct queued *q;
        int r;

        if (sink_absent(k))
                return ABSENT;
        dgram_flush(k);
        if (!k->head) {
                r = dgram_send(k, data, len);
                if (r == 0)
                        return SENT;
                if (r == -EMSGSIZE)
                        return LOST;
                if (!busy(r)) {
                        k->absent = true;
                        return ABSENT;
                }
        }
        if (k->n_queued >= TP_LOG_QUEUE_MAX || k->bytes_queued + len > TP_LOG_QUEUE_BYTES)
                return LOST;
        q = malloc(sizeof(*q) + len);
        if (!q)
                return LOST;
        q->next = NULL;
        q->audit = audit;
        q->len = len;
        memcpy(q->data, data, len);
        *k->tail = q;
        k->tail = &q->next;
        k->n_queued++;
        k->bytes_queued += len;
        return QUEUED;
}

/* One line where lines go: stderr in the foreground; once detached,
 * syslog, or the fallback file where there is no syslog socket. False
 * when nothing took it (line_fail_where says what failed). */
static bool write_line(int priority, const char *line, bool audit, enum sink_kind *ret_sink)
{
        char buf[LINE_MAX_ + 128], when[32];
        struct tm tm;
        time_t now = time(NULL);
        size_t len;

        if (log_to_stderr) {
                *ret_sink = TO_STDERR;
                line_fail_where = "standard error";
                return write_stderr(priority, line, audit);
        }
        if (!localtime_r(&now, &tm) || strftime(when, sizeof(when), "%b %e %H:%M:%S", &tm) == 0)
                when[0] = '\0';
        len = fit_line(buf, sizeof(buf), snprintf(buf, sizeof(buf), "<%d>%s tokenpolicyd[%d]: %s",
                                                  priority | LOG_AUTHPRIV, when, (int)getpid(), line));
        if (len > 0 && buf[len - 1] == '\n')
                len--; /* syslog lines carry no newline */
        switch (dgram_write(&syslog_sink, buf, len, audit)) {
        case SENT:
        case QUEUED:
                *ret_sink = TO_SYSLOG;
                return true;
        case LOST:
                *ret_sink = TO_SYSLOG;
                line_fail_where = "syslog";
                return false;
        case ABSENT:
                break;
        }
        *ret_sink = logfile.set ? TO_FILE : TO_NOWHERE;
        line_fail_where = logfile.set ? "the log file" : "syslog (there is no syslog socket)";
        return write_file(priority, line);
}

static void log_va(int priority, const char *fmt, va_list ap)
{
        char line[LINE_MAX_];
        enum sink_kind sink;

        if (priority == LOG_DEBUG && !log_debug)
                return;
        vsnprintf(line, sizeof(line), fmt, ap);
        if (!write_line(priority, line, false, &sink))
                note_lost(false, line_fail_where);
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

/* ---- audit events --------------------------------------------------- */

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
        { "undelivered", "d03a1733eb5f40c6b8333684c1137042", LOG_NOTICE },
        { "audit-lost", "cf7383c057dd40f695093ec0851d489e", LOG_WARNING },
        { "audit-suppressed", "a5e68aee940a4c0a99f5f472d66893e9", LOG_WARNING },
        { "revoke-key", "8e397df6b9c34a1cb8b593ff8932b90b", LOG_NOTICE },
        { "idle", "32412c772c264987923eb83004523526", LOG_NOTICE },
        { "warn", "23f853dfe35146a7bf2ea0043c27cb10", LOG_INFO },
        { "signin-failed", "f69d69c7b2ef445bb5333211e0f90f5a", LOG_NOTICE },
        { "reinstate", "4b36b74b046f4710ad083b9e66144859", LOG_NOTICE },
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

/* Append key=value, quoting and escaping so one event stays one line.
 * Stops short rather than overflow: a cut value is still one line. */
static void audit_field(char *buf, size_t bufsz, size_t *pos, const char *key, const char *value)
{
        char esc[LINE_MAX_];
        size_t p = *pos, klen = strlen(key);
        bool quote;

        if (!value || !*value)
                return;
        tp_log_escape(esc, sizeof(esc), value, true);
        quote = strpbrk(esc, " =\\") != NULL; /* a quote inside is \" */
        if (p + (p > 0) + klen + 1 + 2 * quote + 1 >= bufsz)
                return;
        if (p > 0)
                buf[p++] = ' ';
        memcpy(buf + p, key, klen);
        p += klen;
        buf[p++] = '=';
        if (quote)
                buf[p++] = '"';
        /* Re-escaped into what is left: cut on a whole escape. */
        p += tp_log_escape(buf + p, bufsz - p - quote, value, true);
        if (quote)
                buf[p++] = '"';
        buf[p] = '\0';
        *pos = p;
}

/* FIELD=value, or FIELD\n<64-bit little-endian length>value when the value
 * has a newline (the native protocol's binary-safe form). Values are
 * escaped first, so in practice there never is one. */
static void journal_field(char *buf, size_t bufsz, size_t *pos, const char *field, const char *value,
                          bool escape)
{
        char esc[FIELD_MAX_];
        size_t flen = strlen(field), vlen;
        uint64_t le;

        if (!value || !*value)
                return;
        if (escape) {
                vlen = tp_log_escape(esc, sizeof(esc), value, false);
                value = esc;
        } else {
                vlen = strlen(value);
        }
        if (*pos + flen + 1 + 8 + vlen + 1 > bufsz)
                return;
        memcpy(buf + *pos, field, flen);
        *pos += flen;
        if (!memchr(value, '\n', vlen)) {
                buf[(*pos)++] = '=';
        } else {
                buf[(*pos)++] = '\n';
                le = htole64((uint64_t)vlen);
                memcpy(buf + *pos, &le, 8);
                *pos += 8;
        }
        memcpy(buf + *pos, value, vlen);
        *pos += vlen;
        buf[(*pos)++] = '\n';
}

static enum sent audit_journal(const struct tp_audit *a, const char *line)
{
        static char entry[ENTRY_MAX_];
        char uid[24], prio[8];
        size_t n = 0;

        if (sink_absent(&journal))
                return ABSENT;
        snprintf(prio, sizeof(prio), "%d", audit_priority(a->event));
        journal_field(entry, sizeof(entry), &n, "MESSAGE", line, false);
        journal_field(entry, sizeof(entry), &n, "MESSAGE_ID", tp_audit_message_id(a->event), false);
        journal_field(entry, sizeof(entry), &n, "PRIORITY", prio, false);
        journal_field(entry, sizeof(entry), &n, "SYSLOG_IDENTIFIER", "tokenpolicyd", false);
        journal_field(entry, sizeof(entry), &n, "TOKENPOLICY_DECISION", a->event, true);
        journal_field(entry, sizeof(entry), &n, "TOKENPOLICY_USER", a->user, true);
        journal_field(entry, sizeof(entry), &n, "TOKENPOLICY_CLIENT", a->client, true);
        journal_field(entry, sizeof(entry), &n, "TOKENPOLICY_SERVICE", a->service, true);
        journal_field(entry, sizeof(entry), &n, "TOKENPOLICY_SESSION", a->session, true);
        journal_field(entry, sizeof(entry), &n, "TOKENPOLICY_REASON", a->reason, true);
        journal_field(entry, sizeof(entry), &n, "TOKENPOLICY_EVICTED_BY", a->evicted_by, true);
        if (a->peer_uid >= 0) {
                snprintf(uid, sizeof(uid), "%ld", a->peer_uid);
                journal_field(entry, sizeof(entry), &n, "TOKENPOLICY_PEER_UID", uid, false);
        }
        return dgram_write(&journal, entry, n, true);
}

static void report_losses(void);

/* Write one event: to the journal when it is there, and as a line where
 * lines go unless that is the journal too. False when nothing took it,
 * which is counted as a loss. */
static bool audit_emit(const struct tp_audit *a)
{
        char line[3072], text[3100];
        char uid[24];
        size_t pos = 0;
        enum sent j;
        enum sink_kind sink;
        bool taken;

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

        j = audit_journal(a, line);
        taken = j == SENT || j == QUEUED;
        /* In the foreground on a terminal or a file the line is written as
         * well, so whoever started the daemon by hand sees what it decides;
         * under systemd stderr is the journal already. */
        if (j != ABSENT && (!log_to_stderr || log_to_journal_stream)) {
                audit_sink = TO_JOURNAL;
                if (!taken)
                        note_lost(true, journal.what);
        } else {
                snprintf(text, sizeof(text), "audit: %s", line);
                if (write_line(audit_priority(a->event), text, true, &sink))
                        taken = true;
                audit_sink = j != ABSENT ? TO_JOURNAL_AND_STDERR : sink;
                if (!taken)
                        note_lost(true, j != ABSENT ? journal.what : line_fail_where);
        }
        if (taken && !gathered.on) /* else once the gathered lines are out */
                report_losses();
        return taken;
}

/* Once a sink takes entries again: say how many were lost. */
static void report_losses(void)
{
        uint64_t n;
        char reason[256];

        if (reporting || (audit_lost_unreported == 0 && lines_lost_unreported == 0) || journal.head ||
            syslog_sink.head)
                return;
        reporting = true;
        if ((n = audit_lost_unreported) > 0) {
                snprintf(reason, sizeof(reason),
                         "%llu audit event(s) could not be written: %s did not take them (not reading, or gone)",
                         (unsigned long long)n, lost_where);
                if (audit_emit(&(struct tp_audit){ .event = "audit-lost", .reason = reason, .peer_uid = -1 }))
                        audit_lost_unreported -= n;
                else { /* this report itself is no event to count */
                        audit_lost_total--;
                        audit_lost_unreported--;
                }
        }
        if ((n = lines_lost_unreported) > 0) {
                enum sink_kind sink;
                char line[256];

                snprintf(line, sizeof(line), "%llu log line(s) could not be written (the log was not reading)",
                         (unsigned long long)n);
                if (write_line(LOG_WARNING, line, false, &sink))
                        lines_lost_unreported -= n;
        }
        reporting = false;
}

/* ---- the per-uid limit ---------------------------------------------- */

static struct audit_rate {
        bool used;
        uid_t uid;
        int64_t credit_ms;      /* TP_AUDIT_RATE_REFILL_MS per request */
        int64_t last_ms;
        uint64_t suppressed;    /* not written since the last report */
        bool reported;
        int64_t reported_ms;
} rates[TP_AUDIT_RATE_SLOTS];

static struct {
        bool active, limited, decided, admit;
        uid_t uid;
        int64_t now_ms;
        struct audit_rate *slot;
} request;

static uint64_t suppressed_total;

static void report_suppressed(struct audit_rate *r, int64_t now_ms)
{
        char reason[256];

        snprintf(reason, sizeof(reason),
                 "%llu audit event(s) caused by requests of this uid were not written: more than %d such requests at once, or more than one every %d s",
                 (unsigned long long)r->suppressed, TP_AUDIT_RATE_BURST, TP_AUDIT_RATE_REFILL_MS / 1000);
        audit_emit(&(struct tp_audit){ .event = "audit-suppressed", .reason = reason, .peer_uid = (long)r->uid });
        r->suppressed = 0;
        r->reported = true;
        r->reported_ms = now_ms;
}

static struct audit_rate *rate_slot(uid_t uid, int64_t now_ms)
{
        struct audit_rate *stalest = NULL;

        for (size_t i = 0; i < TP_AUDIT_RATE_SLOTS; i++) {
                struct audit_rate *r = &rates[(uid + i) % TP_AUDIT_RATE_SLOTS];

                if (r->used && r->uid == uid)
                        return r;
                if (!r->used) {
                        stalest = r;
                        break;
                }
                if (!stalest || r->last_ms < stalest->last_ms)
                        stalest = r;
        }
        /* Every slot taken: the uid heard from longest ago gives way, and
         * what it had suppressed is reported first. */
        if (stalest->used && stalest->suppressed > 0)
                report_suppressed(stalest, now_ms);
        *stalest = (struct audit_rate){ .used = true, .uid = uid,
                                        .credit_ms = (int64_t)TP_AUDIT_RATE_BURST * TP_AUDIT_RATE_REFILL_MS,
                                        .last_ms = now_ms };
        return stalest;
}

static bool rate_admit(struct audit_rate *r, int64_t now_ms)
{
        const int64_t full = (int64_t)TP_AUDIT_RATE_BURST * TP_AUDIT_RATE_REFILL_MS;

        if (now_ms > r->last_ms)
                r->credit_ms += now_ms - r->last_ms;
        if (r->credit_ms > full)
                r->credit_ms = full;
        r->last_ms = now_ms > r->last_ms ? now_ms : r->last_ms;
        if (r->credit_ms < TP_AUDIT_RATE_REFILL_MS)
                return false;
        r->credit_ms -= TP_AUDIT_RATE_REFILL_MS;
        return true;
}

void tp_audit_request_begin(uid_t uid, bool limited, int64_t now_ms)
{
        request.active = true;
        request.limited = limited;
        request.decided = false;
        request.uid = uid;
        request.now_ms = now_ms;
        request.slot = NULL;
}

void tp_audit_request_end(void)
{
        request.active = false;
        request.slot = NULL;
}

/* The request's events are written all or not at all: the first decides. */
static bool request_admits(void)
{
        if (!request.active || !request.limited)
                return true;
        if (!request.decided) {
                request.slot = rate_slot(request.uid, request.now_ms);
                request.admit = rate_admit(request.slot, request.now_ms);
                request.decided = true;
        }
        if (!request.admit) {
                request.slot->suppressed++;
                suppressed_total++;
        }
        return request.admit;
}

/* ---- holding for a group commit ------------------------------------- */

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
        gathered.on = true;
        for (size_t i = 0; i < held.n; i++) {
                if (committed || held.v[i]->depends != 1)
                        audit_emit(&held.v[i]->a);
                else
                        dropped++;
                free(held.v[i]);
        }
        gathered.on = false;
        if (gathered_write())
                report_losses();
        held.n = held.marked = 0;
        return dropped;
}

void tp_audit(const struct tp_audit *a)
{
        if (!request_admits())
                return;
        if (held.holding)
                audit_keep(a);
        else
                audit_emit(a);
}

/* ---- housekeeping --------------------------------------------------- */

bool tp_log_pending(void)
{
        return journal.head || syslog_sink.head;
}

void tp_log_flush(void)
{
        dgram_flush(&journal);
        dgram_flush(&syslog_sink);
        report_losses();
}

void tp_log_tick(int64_t now_ms)
{
        journal.absent = syslog_sink.absent = false; /* look for them again */
        tp_log_flush();
        for (size_t i = 0; i < TP_AUDIT_RATE_SLOTS; i++) {
                struct audit_rate *r = &rates[i];

                if (r->used && r->suppressed > 0 &&
                    (!r->reported || now_ms - r->reported_ms >= TP_AUDIT_RATE_REFILL_MS))
                        report_suppressed(r, now_ms);
        }
}

void tp_audit_stats(struct tp_audit_stats *st)
{
        memset(st, 0, sizeof(*st));
        st->lost = audit_lost_total;
        st->suppressed = suppressed_total;
        st->queued = (uint32_t)(journal.n_queued + syslog_sink.n_queued);
        switch (audit_sink) {
        case TO_JOURNAL:
                snprintf(st->sink, sizeof(st->sink), "journal");
                break;
        case TO_JOURNAL_AND_STDERR:
                snprintf(st->sink, sizeof(st->sink), "journal and standard error");
                break;
        case TO_STDERR:
                snprintf(st->sink, sizeof(st->sink), "standard error");
                break;
        case TO_SYSLOG:
                snprintf(st->sink, sizeof(st->sink), "syslog");
                break;
        case TO_FILE:
                snprintf(st->sink, sizeof(st->sink), "file %.1080s", logfile.path);
                break;
        case TO_NOWHERE:
                snprintf(st->sink, sizeof(st->sink), "nowhere (no syslog socket and no state directory)");
                break;
        }
}
