/* SPDX-License-Identifier: BSD-3-Clause */
/* test_log.c: unit tests for the audit trail: escaping of every byte class,
 * the lines and their holding for a group commit, the journal's native
 * protocol on a real datagram socket (one that reads, one that never
 * reads, one too small for an entry), syslog and the fallback file with
 * its rotation, the journal's stream on stderr that stops reading, and
 * the per-uid limit.
 *
 * stderr is redirected to a file and read back. The journal and syslog
 * sockets are pointed (TOKENPOLICYD_JOURNAL_SOCKET, _SYSLOG_SOCKET) at
 * paths in a private directory, so no test entry reaches the system's
 * journal. log.c keeps its state for the whole process: tests compare
 * counters before and after, and use uids of their own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

struct fixture {
        char dir[64];
        char out[96];           /* stderr goes here */
        char nowhere[96];       /* a socket path nobody binds */
        int saved_stderr;
};

static int setup(void **state)
{
        struct fixture *fx = calloc(1, sizeof(*fx));
        int fd;

        *state = fx;
        if (!fx)
                return -1;
        snprintf(fx->dir, sizeof(fx->dir), "/tmp/tptest-log.XXXXXX");
        if (!mkdtemp(fx->dir))
                return -1;
        snprintf(fx->out, sizeof(fx->out), "%s/stderr", fx->dir);
        snprintf(fx->nowhere, sizeof(fx->nowhere), "%s/nobody.sock", fx->dir);
        fd = open(fx->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -1;
        fflush(stderr);
        fx->saved_stderr = dup(STDERR_FILENO);
        if (fx->saved_stderr < 0 || dup2(fd, STDERR_FILENO) < 0)
                return -1;
        close(fd);
        unsetenv("JOURNAL_STREAM");
        setenv(TP_JOURNAL_SOCKET_ENV, fx->nowhere, 1);
        setenv(TP_SYSLOG_SOCKET_ENV, fx->nowhere, 1);
        tp_log_open(true, false);
        /* Turns a write that blocks into a failure instead of a hang. */
        alarm(60);
        return 0;
}

static int teardown(void **state)
{
        struct fixture *fx = *state;
        char cmd[128];

        alarm(0);
        fflush(stderr);
        dup2(fx->saved_stderr, STDERR_FILENO);
        close(fx->saved_stderr);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
        if (system(cmd) != 0)
                return -1;
        free(fx);
        return 0;
}

static char *read_file(const char *path)
{
        static char buf[1 << 20];
        FILE *f = fopen(path, "r");
        size_t n;

        if (!f) {
                buf[0] = '\0';
                return buf;
        }
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

/* Everything written to stderr so far, from the start of the file. */
static char *written(struct fixture *fx)
{
        fflush(stderr);
        return read_file(fx->out);
}

static size_t count_lines(const char *s)
{
        size_t n = 0;

        for (; *s; s++)
                n += *s == '\n';
        return n;
}

static size_t count_of(const char *s, const char *what)
{
        size_t n = 0;

        for (; (s = strstr(s, what)); s += strlen(what))
                n++;
        return n;
}

static void audit(const char *event, const char *user, const char *reason)
{
        tp_audit(&(struct tp_audit){ .event = event, .user = user, .client = "ssh", .service = "sshd",
                                     .reason = reason, .peer_uid = -1 });
}

static int bind_dgram(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_true(strlen(path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        unlink(path);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

/* One datagram, or the contents of a memfd passed with it; NULL if none
 * waits. */
static char *recv_entry(int fd, size_t *ret_len, bool *ret_memfd)
{
        static char buf[256 * 1024];
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(int))];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        struct cmsghdr *cm;
        ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

        if (n < 0)
                return NULL;
        *ret_memfd = false;
        for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                        int mfd;

                        memcpy(&mfd, CMSG_DATA(cm), sizeof(int));
                        assert_int_equal(n, 0);
                        n = pread(mfd, buf, sizeof(buf) - 1, 0);
                        close(mfd);
                        *ret_memfd = true;
                }
        }
        buf[n] = '\0';
        *ret_len = (size_t)n;
        return buf;
}

/* A field of a native-protocol entry (either form), copied to out. */
static bool entry_field(const char *e, size_t len, const char *name, char *out, size_t outsz)
{
        size_t i = 0, nlen = strlen(name);

        while (i < len) {
                const char *nl = memchr(e + i, '\n', len - i);
                const char *eq;
                size_t vlen;

                assert_non_null(nl);
                eq = memchr(e + i, '=', (size_t)(nl - (e + i)));
                if (eq) {
                        vlen = (size_t)(nl - eq - 1);
                        if ((size_t)(eq - (e + i)) == nlen && memcmp(e + i, name, nlen) == 0) {
                                assert_true(vlen < outsz);
                                memcpy(out, eq + 1, vlen);
                                out[vlen] = '\0';
                                return true;
                        }
                        i = (size_t)(nl - e) + 1;
                } else {
                        uint64_t le;
                        const char *v = nl + 1 + 8;

                        memcpy(&le, nl + 1, 8);
                        vlen = (size_t)le64toh(le);
                        if ((size_t)(nl - (e + i)) == nlen && memcmp(e + i, name, nlen) == 0) {
                                assert_true(vlen < outsz);
                                memcpy(out, v, vlen);
                                out[vlen] = '\0';
                                return true;
                        }
                        i = (size_t)(v + vlen + 1 - e);
                }
        }
        return false;
}

static char *escaped(const char *in, bool text)
{
        static char out[4096];

        tp_log_escape(out, sizeof(out), in, text);
        return out;
}

/* ---- escaping ------------------------------------------------------- */

/* Every byte alone: printable ASCII passes (a backslash, and in a line a
 * quote, are escaped), C0 and DEL are \xHH, and any byte >= 0x80 alone is
 * no valid UTF-8, so \xHH too. */
static void test_escape_every_single_byte(void **state)
{
        (void)state;
        for (unsigned b = 1; b < 256; b++) {
                char in[2] = { (char)b, '\0' }, want[8];

                for (int text = 0; text <= 1; text++) {
                        if (b < 0x20 || b == 0x7f || b >= 0x80)
                                snprintf(want, sizeof(want), "\\x%02x", b);
                        else if (b == '\\' || (text && b == '"'))
                                snprintf(want, sizeof(want), "\\%c", b);
                        else
                                snprintf(want, sizeof(want), "%c", b);
                        assert_string_equal(escaped(in, text), want);
                }
        }
}

struct case_ {
        const char *in, *out;
};

/* Valid UTF-8 passes, except C1 controls, line/paragraph separators and
 * bidirectional formatting, each checked at both edges of its range. */
static void test_escape_utf8_code_points(void **state)
{
        static const struct case_ cases[] = {
                { "caf\xc3\xa9", "caf\xc3\xa9" },                     /* U+00E9 */
                { "\xe2\x82\xac", "\xe2\x82\xac" },                   /* U+20AC */
                { "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },           /* U+1F600 */
                { "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf" },           /* U+10FFFF, the last */
                { "\xc2\x7f", "\\xc2\\x7f" },                         /* lead without continuation */
                { "\xc2\x80", "\\u0080" },                            /* C1, first */
                { "\xc2\x85", "\\u0085" },                            /* NEL */
                { "\xc2\x9b", "\\u009b" },                            /* CSI */
                { "\xc2\x9f", "\\u009f" },                            /* C1, last */
                { "\xc2\xa0", "\xc2\xa0" },                           /* U+00A0 passes */
                { "\xd8\x9b", "\xd8\x9b" },                           /* U+061B passes */
                { "\xd8\x9c", "\\u061c" },                            /* arabic letter mark */
                { "\xd8\x9d", "\xd8\x9d" },                           /* U+061D passes */
                { "\xe2\x80\x8d", "\xe2\x80\x8d" },                   /* U+200D passes */
                { "\xe2\x80\x8e", "\\u200e" },                        /* LRM */
                { "\xe2\x80\x8f", "\\u200f" },                        /* RLM */
                { "\xe2\x80\x90", "\xe2\x80\x90" },                   /* U+2010 passes */
                { "\xe2\x80\xa7", "\xe2\x80\xa7" },                   /* U+2027 passes */
                { "\xe2\x80\xa8", "\\u2028" },                        /* line separator */
                { "\xe2\x80\xa9", "\\u2029" },                        /* paragraph separator */
                { "\xe2\x80\xaa", "\\u202a" },                        /* LRE */
                { "\xe2\x80\xae", "\\u202e" },                        /* RLO */
                { "\xe2\x80\xaf", "\xe2\x80\xaf" },                   /* U+202F passes */
                { "\xe2\x81\xa5", "\xe2\x81\xa5" },                   /* U+2065 passes */
                { "\xe2\x81\xa6", "\\u2066" },                        /* LRI */
                { "\xe2\x81\xa9", "\\u2069" },                        /* PDI */
                { "\xe2\x81\xaa", "\xe2\x81\xaa" },                   /* U+206A passes */
        };

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                assert_string_equal(escaped(cases[i].in, true), cases[i].out);
                assert_string_equal(escaped(cases[i].in, false), cases[i].out);
        }
}

/* Invalid UTF-8, each on both sides of where validity ends: every byte
 * of an invalid sequence is \xHH, and what follows is read afresh. */
static void test_escape_invalid_utf8(void **state)
{
        static const struct case_ cases[] = {
                { "\xc0\x80", "\\xc0\\x80" },                         /* overlong NUL */
                { "\xc1\xbf", "\\xc1\\xbf" },                         /* overlong 0x7f */
                { "\xc2\x80x", "\\u0080x" },                          /* the first 2-byte form */
                { "\xe0\x9f\xbf", "\\xe0\\x9f\\xbf" },                /* overlong U+07FF */
                { "\xe0\xa0\x80", "\xe0\xa0\x80" },                   /* U+0800 */
                { "\xed\x9f\xbf", "\xed\x9f\xbf" },                   /* U+D7FF */
                { "\xed\xa0\x80", "\\xed\\xa0\\x80" },                /* surrogate U+D800 */
                { "\xed\xbf\xbf", "\\xed\\xbf\\xbf" },                /* surrogate U+DFFF */
                { "\xee\x80\x80", "\xee\x80\x80" },                   /* U+E000 */
                { "\xf0\x8f\xbf\xbf", "\\xf0\\x8f\\xbf\\xbf" },       /* overlong U+FFFF */
                { "\xf0\x90\x80\x80", "\xf0\x90\x80\x80" },           /* U+10000 */
                { "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },       /* U+110000 */
                { "\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80" },       /* no such lead */
                { "\xff", "\\xff" },
                { "\x80", "\\x80" },                                  /* continuation alone */
                { "\xe2\x80", "\\xe2\\x80" },                         /* cut short at the end */
                { "\xe2\x80" "a", "\\xe2\\x80a" },                    /* cut short before ASCII */
                { "\xe2\xe2\x80\xa8", "\\xe2\\u2028" },               /* a lead, then a whole one */
        };

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                assert_string_equal(escaped(cases[i].in, true), cases[i].out);
}

/* Output is cut on whole escapes: a limit one byte short of an escape
 * leaves it out entirely. */
static void test_escape_cuts_on_whole_escapes(void **state)
{
        char out[16];

        (void)state;
        assert_int_equal(tp_log_escape(out, 5, "\x01", true), 4); /* "\x01" and the NUL */
        assert_string_equal(out, "\\x01");
        assert_int_equal(tp_log_escape(out, 4, "\x01", true), 0);
        assert_string_equal(out, "");
        assert_int_equal(tp_log_escape(out, 7, "a\xe2\x80\xa8", true), 1);
        assert_string_equal(out, "a"); /* \u2028 needs 6 more, 5 were left */
        assert_int_equal(tp_log_escape(out, 8, "a\xe2\x80\xa8", true), 7);
        assert_string_equal(out, "a\\u2028");
        assert_int_equal(tp_log_escape(out, 3, "\xc3\xa9", true), 2); /* whole character fits */
        assert_int_equal(tp_log_escape(out, 2, "\xc3\xa9", true), 0); /* never half of one */
        assert_int_equal(tp_log_escape(out, 0, "x", true), 0);
}

/* ---- lines ---------------------------------------------------------- */

static void test_line_is_one_line_with_escapes(void **state)
{
        struct fixture *fx = *state;
        char *out;

        audit("deny", "a b\"c\nd", "x=y");
        out = written(fx);
        assert_non_null(strstr(out, "audit: event=deny user=\"a b\\\"c\\x0ad\" client=ssh service=sshd "
                                    "reason=\"x=y\"\n"));
        assert_int_equal(count_lines(out), 1);
}

/* The bytes the issue found unescaped: a C1 control, U+2028, invalid
 * UTF-8; each is escaped, and the value quoted for its backslash. */
static void test_line_escapes_c1_separators_and_bad_utf8(void **state)
{
        struct fixture *fx = *state;
        char *out;

        audit("deny", "mallory\xc2\x85" "event=allow\xe2\x80\xa8x\xff\xe2\x80\xae", "r");
        out = written(fx);
        assert_non_null(strstr(out, "user=\"mallory\\u0085event=allow\\u2028x\\xff\\u202e\" client=ssh"));
        assert_int_equal(count_lines(out), 1);
        assert_null(strstr(out, "\xc2\x85"));
        assert_null(strstr(out, "\xe2\x80\xa8"));
        assert_null(strstr(out, "\xff"));
}

static void test_long_value_is_cut_on_one_line(void **state)
{
        struct fixture *fx = *state;
        char reason[8192];

        memset(reason, '\n', sizeof(reason) - 1);
        reason[sizeof(reason) - 1] = '\0';
        audit("deny", "alice", reason);
        assert_int_equal(count_lines(written(fx)), 1);
}

/* Held events are written only at release, in the order they came. */
static void test_hold_then_release_writes_in_order(void **state)
{
        struct fixture *fx = *state;
        char *out, *first, *second, *third;

        tp_audit_hold();
        audit("allow", "first", "signed in");
        tp_audit_mark(true);
        audit("deny", "second", "client type disabled");
        audit("close", "third", "signed out");
        tp_audit_mark(true);
        assert_string_equal(written(fx), "");
        assert_int_equal(tp_audit_release(true), 0);
        out = written(fx);
        first = strstr(out, "user=first");
        second = strstr(out, "user=second");
        third = strstr(out, "user=third");
        assert_non_null(first);
        assert_non_null(second);
        assert_non_null(third);
        assert_true(first < second && second < third);
        assert_int_equal(count_lines(out), 3);

        /* Released: the next event is written at once. */
        audit("deny", "fourth", "client type disabled");
        assert_non_null(strstr(written(fx), "user=fourth"));
}

/* A batch's events leave in one write at release; when that write fails
 * (a full disk under a file on stderr), each of them counts as lost, and
 * the next write that works says so. */
static void test_release_whose_write_fails_counts_each_event_lost(void **state)
{
        struct fixture *fx = *state;
        struct tp_audit_stats before, after;
        int full = open("/dev/full", O_WRONLY | O_CLOEXEC), out;

        assert_true(full >= 0);
        tp_audit_stats(&before);
        fflush(stderr);
        out = dup(STDERR_FILENO);
        assert_true(out >= 0 && dup2(full, STDERR_FILENO) >= 0);
        /* Two batches: the second's loss report must not swallow the
         * first's count, nor count itself. */
        for (int batch = 3; batch >= 2; batch--) {
                tp_audit_hold();
                for (int i = 0; i < batch; i++)
                        audit("allow", "onto-a-full-disk", "signed in");
                tp_audit_mark(true);
                assert_int_equal(tp_audit_release(true), 0);
        }
        assert_true(dup2(out, STDERR_FILENO) >= 0);
        close(out);
        close(full);
        tp_audit_stats(&after);
        assert_int_equal(after.lost - before.lost, 5);
        assert_null(strstr(written(fx), "onto-a-full-disk"));
        audit("deny", "after-the-disk", "r");
        assert_non_null(strstr(written(fx), "5 audit event(s) could not be written"));
        tp_audit_stats(&after);
        assert_int_equal(after.lost - before.lost, 5);
}

/* After a failed commit, only the events that did not depend on it are
 * written; events never marked count as not depending. */
static void test_failed_commit_drops_what_depended_on_it(void **state)
{
        struct fixture *fx = *state;
        char *out;

        tp_audit_hold();
        audit("deny", "kept-denial", "client type disabled");
        tp_audit_mark(false);
        audit("allow", "dropped-open", "signed in");
        audit("evict", "dropped-evict", "session limit reached");
        tp_audit_mark(true);
        audit("deny", "kept-unmarked", "session of another user");
        assert_int_equal(tp_audit_release(false), 2);
        out = written(fx);
        assert_non_null(strstr(out, "user=kept-denial"));
        assert_non_null(strstr(out, "user=kept-unmarked"));
        assert_null(strstr(out, "dropped"));
        assert_int_equal(count_lines(out), 2);
}

/* ---- the journal ---------------------------------------------------- */

static void point_journal(struct fixture *fx, char *path, size_t pathsz, bool stream)
{
        snprintf(path, pathsz, "%s/journal.sock", fx->dir);
        setenv(TP_JOURNAL_SOCKET_ENV, path, 1);
        if (stream)
                setenv("JOURNAL_STREAM", "8:1234", 1);
        tp_log_open(true, false);
}

/* Every field arrives, escaped; with stderr a file, the line too. */
static void test_journal_entry_fields(void **state)
{
        struct fixture *fx = *state;
        char path[128], v[4096], *e;
        size_t len;
        bool memfd;
        int fd;

        snprintf(path, sizeof(path), "%s/journal.sock", fx->dir);
        fd = bind_dgram(path);
        point_journal(fx, path, sizeof(path), false);
        tp_audit(&(struct tp_audit){ .event = "evict", .user = "eve\xc2\x9b" "31m\nx\\", .client = "ssh",
                                     .service = "sshd", .session = "0123456789abcdef0123456789abcdef",
                                     .evicted_by = "fedcba9876543210fedcba9876543210",
                                     .reason = "session limit reached; oldest signed out", .peer_uid = 1001 });
        e = recv_entry(fd, &len, &memfd);
        assert_non_null(e);
        assert_false(memfd);
        assert_true(entry_field(e, len, "TOKENPOLICY_USER", v, sizeof(v)));
        assert_string_equal(v, "eve\\u009b31m\\x0ax\\\\");
        assert_true(entry_field(e, len, "TOKENPOLICY_DECISION", v, sizeof(v)));
        assert_string_equal(v, "evict");
        assert_true(entry_field(e, len, "TOKENPOLICY_CLIENT", v, sizeof(v)));
        assert_string_equal(v, "ssh");
        assert_true(entry_field(e, len, "TOKENPOLICY_SERVICE", v, sizeof(v)));
        assert_string_equal(v, "sshd");
        assert_true(entry_field(e, len, "TOKENPOLICY_SESSION", v, sizeof(v)));
        assert_string_equal(v, "0123456789abcdef0123456789abcdef");
        assert_true(entry_field(e, len, "TOKENPOLICY_EVICTED_BY", v, sizeof(v)));
        assert_string_equal(v, "fedcba9876543210fedcba9876543210");
        assert_true(entry_field(e, len, "TOKENPOLICY_PEER_UID", v, sizeof(v)));
        assert_string_equal(v, "1001");
        assert_true(entry_field(e, len, "TOKENPOLICY_REASON", v, sizeof(v)));
        assert_string_equal(v, "session limit reached; oldest signed out");
        assert_true(entry_field(e, len, "MESSAGE_ID", v, sizeof(v)));
        assert_string_equal(v, tp_audit_message_id("evict"));
        assert_true(entry_field(e, len, "PRIORITY", v, sizeof(v)));
        assert_string_equal(v, "5");
        assert_true(entry_field(e, len, "SYSLOG_IDENTIFIER", v, sizeof(v)));
        assert_string_equal(v, "tokenpolicyd");
        assert_true(entry_field(e, len, "MESSAGE", v, sizeof(v)));
        assert_non_null(strstr(v, "event=evict user=\"eve\\u009b31m\\x0ax\\\\\""));
        assert_null(memchr(e, '\x9b', len));
        assert_null(recv_entry(fd, &len, &memfd)); /* one event, one entry */
        assert_non_null(strstr(written(fx), "audit: event=evict"));
        close(fd);
}

/* An entry larger than the socket takes in one datagram goes in a
 * sealed memfd. The daemon's socket is found among our descriptors and
 * its send buffer made small (the kernel's least). */
static void test_journal_large_entry_in_memfd(void **state)
{
        struct fixture *fx = *state;
        char path[128], v[16384], reason[2000], *e;
        size_t len;
        bool memfd, shrunk = false;
        int fd;

        snprintf(path, sizeof(path), "%s/journal.sock", fx->dir);
        fd = bind_dgram(path);
        point_journal(fx, path, sizeof(path), true);
        audit("deny", "small", "r");
        assert_non_null(recv_entry(fd, &len, &memfd));
        assert_false(memfd);
        for (int i = 3; i < 1024; i++) {
                int type = 0, one = 1;
                socklen_t tl = sizeof(type);
                struct sockaddr_un sa;
                socklen_t sl = sizeof(sa);

                if (i == fd || getsockopt(i, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_DGRAM ||
                    getsockname(i, (struct sockaddr *)&sa, &sl) < 0 || sl > sizeof(sa_family_t))
                        continue; /* ours is unbound */
                assert_int_equal(setsockopt(i, SOL_SOCKET, SO_SNDBUF, &one, sizeof(one)), 0);
                shrunk = true;
        }
        assert_true(shrunk);
        memset(reason, '\x01', sizeof(reason) - 1); /* 4 bytes each, escaped */
        reason[sizeof(reason) - 1] = '\0';
        audit("deny", "large", reason);
        e = recv_entry(fd, &len, &memfd);
        assert_non_null(e);
        assert_true(memfd);
        assert_true(len > 8000);
        assert_true(entry_field(e, len, "TOKENPOLICY_USER", v, sizeof(v)));
        assert_string_equal(v, "large");
        assert_true(entry_field(e, len, "TOKENPOLICY_REASON", v, sizeof(v)));
        assert_int_equal(strlen(v), 4 * (sizeof(reason) - 1));
        assert_int_equal(strncmp(v, "\\x01\\x01", 8), 0);
        close(fd);
        /* The next test opens a new socket: path unchanged would keep it. */
        setenv(TP_JOURNAL_SOCKET_ENV, fx->nowhere, 1);
        tp_log_open(true, false);
}

/* A journal that never reads: nothing blocks (the alarm would fire), at
 * most TP_LOG_QUEUE_MAX entries wait, the rest are lost and counted. Once
 * it reads, what waited arrives in order, then one audit-lost entry with
 * the count, and every event is accounted for. */
static void test_journal_not_reading(void **state)
{
        struct fixture *fx = *state;
        struct tp_audit_stats before, st;
        int n = 0;
        char path[128], v[4096], user[32], *e;
        size_t len;
        bool memfd;
        int fd, got = 0, last = -1;
        uint64_t reported = 0;

        snprintf(path, sizeof(path), "%s/journal.sock", fx->dir);
        fd = bind_dgram(path);
        point_journal(fx, path, sizeof(path), true); /* stderr is the journal too */
        tp_audit_stats(&before);
        /* Until the socket, then the queue, are full and some are lost:
         * how many the socket takes depends on the kernel's settings. */
        do {
                snprintf(user, sizeof(user), "u%d", n++);
                audit("deny", user, "client type disabled");
                tp_audit_stats(&st);
        } while (st.lost < before.lost + 100 && n < 1000000);
        assert_int_equal(st.queued, TP_LOG_QUEUE_MAX);
        assert_true(st.lost > before.lost);
        assert_string_equal(st.sink, "journal");
        assert_null(strstr(written(fx), "audit:")); /* no line instead: stderr is journald's too */

        /* journald reads again. */
        for (int rounds = 0; rounds < 10000 && !reported; rounds++) {
                while ((e = recv_entry(fd, &len, &memfd))) {
                        assert_true(entry_field(e, len, "TOKENPOLICY_DECISION", v, sizeof(v)));
                        if (strcmp(v, "audit-lost") == 0) {
                                assert_true(entry_field(e, len, "TOKENPOLICY_REASON", v, sizeof(v)));
                                reported = strtoull(v, NULL, 10);
                                assert_non_null(strstr(v, "the journal did not take them"));
                                assert_true(entry_field(e, len, "MESSAGE_ID", v, sizeof(v)));
                                assert_string_equal(v, tp_audit_message_id("audit-lost"));
                                continue;
                        }
                        assert_true(entry_field(e, len, "TOKENPOLICY_USER", v, sizeof(v)));
                        assert_true(atoi(v + 1) > last); /* in order */
                        last = atoi(v + 1);
                        got++;
                }
                tp_log_tick(0);
        }
        tp_audit_stats(&st);
        assert_int_equal(st.queued, 0);
        assert_int_equal(reported, st.lost - before.lost);
        assert_int_equal((uint64_t)got + reported, (uint64_t)n);
        /* The oldest waited; the newest, beyond the queue, were lost. */
        assert_true(last < n - 1);
        close(fd);
        unsetenv("JOURNAL_STREAM");
        setenv(TP_JOURNAL_SOCKET_ENV, fx->nowhere, 1);
        tp_log_open(true, false);
}

/* A journal socket with no one behind it: the line goes to stderr. */
static void test_journal_gone_falls_back_to_stderr(void **state)
{
        struct fixture *fx = *state;
        struct tp_audit_stats st;
        char path[128];
        int fd;

        snprintf(path, sizeof(path), "%s/journal.sock", fx->dir);
        fd = bind_dgram(path);
        close(fd); /* the file stays, refusing */
        point_journal(fx, path, sizeof(path), true);
        audit("deny", "fallback", "r");
        assert_non_null(strstr(written(fx), "<5>audit: event=deny user=fallback"));
        tp_audit_stats(&st);
        assert_string_equal(st.sink, "standard error");
        unsetenv("JOURNAL_STREAM");
}

/* No journal at the first event: the next ones are not sent to it (no
 * entry built, no send) until the tick looks again, and a journal that
 * came meanwhile is used from then on. */
static void test_journal_absent_is_looked_for_again_at_the_tick(void **state)
{
        struct fixture *fx = *state;
        struct tp_audit_stats st, before;
        char path[128];
        size_t len;
        bool memfd;
        int fd;

        point_journal(fx, path, sizeof(path), false);
        tp_audit_stats(&before);
        audit("deny", "before", "r");
        fd = bind_dgram(path); /* journald starts */
        audit("deny", "between", "r");
        assert_null(recv_entry(fd, &len, &memfd));
        assert_non_null(strstr(written(fx), "audit: event=deny user=between"));
        tp_audit_stats(&st);
        assert_string_equal(st.sink, "standard error");
        tp_log_tick(0);
        audit("deny", "after", "r");
        assert_non_null(recv_entry(fd, &len, &memfd));
        assert_null(recv_entry(fd, &len, &memfd));
        tp_audit_stats(&st);
        assert_string_equal(st.sink, "journal and standard error");
        assert_int_equal(st.lost, before.lost);
        close(fd);
}

/* The journal's stream on stderr stops reading: lines are dropped, not
 * waited for, and counted; once it reads, a line says how many. */
static void test_stderr_stream_not_reading(void **state)
{
        struct fixture *fx = *state;
        int sv[2], bufsz = 4096;
        char buf[65536];
        ssize_t n;
        size_t total = 0;
        char *all = calloc(1, 4 << 20);

        (void)fx;
        assert_non_null(all);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz)), 0);
        assert_true(dup2(sv[0], STDERR_FILENO) >= 0);
        setenv("JOURNAL_STREAM", "8:1234", 1);
        tp_log_open(true, false);
        for (int i = 0; i < 2000; i++)
                tp_log(LOG_INFO, "line %d of a flood", i);
        fcntl(sv[1], F_SETFL, O_NONBLOCK);
        while ((n = read(sv[1], buf, sizeof(buf))) > 0) {
                memcpy(all + total, buf, (size_t)n);
                total += (size_t)n;
        }
        assert_true(count_of(all, "of a flood") < 2000);
        tp_log_tick(0);
        while ((n = read(sv[1], buf, sizeof(buf))) > 0) {
                memcpy(all + total, buf, (size_t)n);
                total += (size_t)n;
        }
        all[total] = '\0';
        {
                char *w = strstr(all, "log line(s) could not be written");
                unsigned long lost;

                assert_non_null(w);
                while (w > all && w[-1] != '>')
                        w--;
                lost = strtoul(w, NULL, 10);
                assert_int_equal(lost + count_of(all, "of a flood"), 2000);
        }
        unsetenv("JOURNAL_STREAM");
        close(sv[0]);
        close(sv[1]);
        free(all);
}

/* ---- detached: syslog, and the file where there is none ------------- */

static void test_syslog_datagrams(void **state)
{
        struct fixture *fx = *state;
        char path[128], want[64], *e;
        size_t len;
        bool memfd;
        int fd;

        snprintf(path, sizeof(path), "%s/dev-log", fx->dir);
        fd = bind_dgram(path);
        setenv(TP_SYSLOG_SOCKET_ENV, path, 1);
        tp_log_open(false, false);
        tp_log(LOG_WARNING, "a warning");
        audit("deny", "bob", "client type disabled");
        e = recv_entry(fd, &len, &memfd);
        assert_non_null(e);
        snprintf(want, sizeof(want), "<%d>", LOG_AUTHPRIV | LOG_WARNING);
        assert_int_equal(strncmp(e, want, strlen(want)), 0);
        snprintf(want, sizeof(want), " tokenpolicyd[%d]: a warning", (int)getpid());
        assert_non_null(strstr(e, want));
        e = recv_entry(fd, &len, &memfd);
        assert_non_null(e);
        snprintf(want, sizeof(want), "<%d>", LOG_AUTHPRIV | LOG_NOTICE);
        assert_int_equal(strncmp(e, want, strlen(want)), 0);
        assert_non_null(strstr(e, "]: audit: event=deny user=bob client=ssh"));
        assert_null(strchr(e, '\n'));
        assert_string_equal(written(fx), ""); /* nothing on stderr once detached */
        close(fd);
        setenv(TP_SYSLOG_SOCKET_ENV, fx->nowhere, 1);
        tp_log_open(true, false);
}

/* No journal, no syslog socket: the file in the state directory, mode
 * 0600, rotated once when the next line would take it past its limit. */
static void test_fallback_file_and_rotation(void **state)
{
        struct fixture *fx = *state;
        struct tp_audit_stats st;
        char file[128], old[128], want[160];
        struct stat sb;
        off_t one;

        snprintf(file, sizeof(file), "%s/%s", fx->dir, TP_LOG_FILE);
        snprintf(old, sizeof(old), "%s/%s.1", fx->dir, TP_LOG_FILE);
        tp_log_fallback_dir(fx->dir, TP_LOG_FILE_MAX);
        tp_log_open(false, false);
        tp_audit_stats(&st);
        snprintf(want, sizeof(want), "file %s", file);
        assert_string_equal(st.sink, want);
        audit("deny", "first", "client type disabled");
        assert_int_equal(stat(file, &sb), 0);
        assert_int_equal(sb.st_mode & 07777, 0600);
        one = sb.st_size;
        assert_non_null(strstr(read_file(file), "tokenpolicyd["));
        assert_non_null(strstr(read_file(file), "]: audit: event=deny user=first client=ssh"));
        assert_int_equal(count_lines(read_file(file)), 1);

        /* Lines of the same length: the second fills the file exactly. */
        tp_log_fallback_dir(fx->dir, 2 * one);
        audit("deny", "secnd", "client type disabled");
        assert_int_equal(stat(file, &sb), 0);
        assert_int_equal(sb.st_size, 2 * one);
        assert_int_equal(stat(old, &sb), -1);
        /* One byte more than allowed: rotated first. */
        audit("deny", "third", "client type disabled");
        assert_int_equal(stat(old, &sb), 0);
        assert_int_equal(sb.st_size, 2 * one);
        assert_non_null(strstr(read_file(old), "user=secnd"));
        assert_int_equal(stat(file, &sb), 0);
        assert_int_equal(sb.st_size, one);
        assert_int_equal(sb.st_mode & 07777, 0600);
        assert_non_null(strstr(read_file(file), "user=third"));
        /* Rotated once only: the oldest lines are gone. */
        audit("deny", "forth", "client type disabled");
        audit("deny", "fifth", "client type disabled");
        assert_null(strstr(read_file(old), "user=first"));
        assert_non_null(strstr(read_file(old), "user=forth"));
        /* Diagnostics go there too. */
        tp_log(LOG_ERR, "a diagnostic");
        assert_non_null(strstr(read_file(file), "]: error: a diagnostic\n"));
        assert_string_equal(written(fx), "");
        tp_log_open(true, false);
}

/* ---- the per-uid limit ---------------------------------------------- */

static void user_request(uid_t uid, int64_t now_ms, const char *user)
{
        tp_audit_request_begin(uid, true, now_ms);
        audit("deny", user, "client type disabled");
        audit("deny", user, "second event of the same request");
        tp_audit_request_end();
}

/* TP_AUDIT_RATE_BURST requests' events at once, then one request's more
 * every TP_AUDIT_RATE_REFILL_MS: both sides of each. A request is written
 * whole or not at all; the suppressed count is reported, at most once per
 * refill period. */
static void test_rate_limit_per_uid(void **state)
{
        struct fixture *fx = *state;
        struct tp_audit_stats before, st;
        const int64_t t0 = 1000000;
        char *out;

        tp_audit_stats(&before);
        for (int i = 0; i < TP_AUDIT_RATE_BURST; i++)
                user_request(70001, t0, "burst");
        assert_int_equal(count_of(written(fx), "user=burst"), 2 * TP_AUDIT_RATE_BURST);
        user_request(70001, t0, "over");                                 /* one too many */
        user_request(70001, t0 + TP_AUDIT_RATE_REFILL_MS - 1, "early");  /* a ms early */
        out = written(fx);
        assert_null(strstr(out, "user=over"));
        assert_null(strstr(out, "user=early"));
        tp_audit_stats(&st);
        assert_int_equal(st.suppressed - before.suppressed, 4);
        user_request(70001, t0 + TP_AUDIT_RATE_REFILL_MS, "refilled");   /* just in time */
        assert_int_equal(count_of(written(fx), "user=refilled"), 2);

        /* Another uid has its own bucket; root and the owner have none. */
        user_request(70002, t0 + TP_AUDIT_RATE_REFILL_MS, "other");
        assert_int_equal(count_of(written(fx), "user=other"), 2);
        for (int i = 0; i < 3 * TP_AUDIT_RATE_BURST; i++) {
                tp_audit_request_begin(0, false, t0);
                audit("deny", "root", "client type disabled");
                tp_audit_request_end();
        }
        assert_int_equal(count_of(written(fx), "user=root"), 3 * TP_AUDIT_RATE_BURST);
        /* Outside a request (the daemon's own events): never limited. */
        audit("expire", "timer", "refresh token expired");
        assert_non_null(strstr(written(fx), "user=timer"));

        /* The report: at the next tick, then not again within a period. */
        tp_log_tick(t0 + TP_AUDIT_RATE_REFILL_MS);
        out = written(fx);
        assert_int_equal(count_of(out, "event=audit-suppressed"), 1);
        assert_non_null(strstr(out, "event=audit-suppressed peer_uid=70001 reason=\"4 audit event(s)"));
        user_request(70001, t0 + TP_AUDIT_RATE_REFILL_MS + 1, "again");  /* suppressed */
        tp_log_tick(t0 + 2 * TP_AUDIT_RATE_REFILL_MS - 1);
        assert_int_equal(count_of(written(fx), "event=audit-suppressed"), 1);
        tp_log_tick(t0 + 2 * TP_AUDIT_RATE_REFILL_MS);
        out = written(fx);
        assert_int_equal(count_of(out, "event=audit-suppressed"), 2);
        assert_non_null(strstr(out, "peer_uid=70001 reason=\"2 audit event(s)"));
        tp_log_tick(t0 + 10 * TP_AUDIT_RATE_REFILL_MS); /* nothing left to report */
        assert_int_equal(count_of(written(fx), "event=audit-suppressed"), 2);
        tp_audit_stats(&st);
        assert_int_equal(st.suppressed - before.suppressed, 6);
}

/* More uids than slots: the one heard from longest ago gives way, and
 * what it had suppressed is reported first, not forgotten. */
static void test_rate_limit_slots_reused(void **state)
{
        struct fixture *fx = *state;
        const int64_t t0 = 50000000;

        for (int i = 0; i <= TP_AUDIT_RATE_BURST; i++)
                user_request(80000, t0, "stale");
        assert_int_equal(count_of(written(fx), "peer_uid=80000"), 0);
        for (uid_t u = 1; u <= TP_AUDIT_RATE_SLOTS; u++)
                user_request(80000 + u, t0 + 1, "fresh");
        assert_non_null(strstr(written(fx), "event=audit-suppressed peer_uid=80000 reason=\"2 audit event(s)"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_escape_every_single_byte),
                cmocka_unit_test(test_escape_utf8_code_points),
                cmocka_unit_test(test_escape_invalid_utf8),
                cmocka_unit_test(test_escape_cuts_on_whole_escapes),
                cmocka_unit_test_setup_teardown(test_line_is_one_line_with_escapes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_line_escapes_c1_separators_and_bad_utf8, setup, teardown),
                cmocka_unit_test_setup_teardown(test_long_value_is_cut_on_one_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hold_then_release_writes_in_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_commit_drops_what_depended_on_it, setup, teardown),
                cmocka_unit_test_setup_teardown(test_release_whose_write_fails_counts_each_event_lost, setup, teardown),
                cmocka_unit_test_setup_teardown(test_journal_entry_fields, setup, teardown),
                cmocka_unit_test_setup_teardown(test_journal_large_entry_in_memfd, setup, teardown),
                cmocka_unit_test_setup_teardown(test_journal_not_reading, setup, teardown),
                cmocka_unit_test_setup_teardown(test_journal_gone_falls_back_to_stderr, setup, teardown),
                cmocka_unit_test_setup_teardown(test_journal_absent_is_looked_for_again_at_the_tick, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stderr_stream_not_reading, setup, teardown),
                cmocka_unit_test_setup_teardown(test_syslog_datagrams, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fallback_file_and_rotation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rate_limit_per_uid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rate_limit_slots_reused, setup, teardown),
        };

        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
