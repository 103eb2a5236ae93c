/* SPDX-License-Identifier: BSD-3-Clause */
/* svcmap.c: the service map's format (svcmap.h): the strict parser the
 * PAM module trusts, the builder the daemon writes with, and the reader
 * that refuses a file someone other than the daemon's owner could have
 * put there.
 *
 * The parser must accept exactly what the builder writes and nothing
 * else, read no byte outside the text it is given, and do bounded work:
 * one pass over at most TP_SVCMAP_SIZE_MAX bytes, no allocation. Names
 * follow the configuration's rules (tokenpolicy.conf(5)): a client type is
 * 1..64 of [a-z0-9_-]; a service is 1..256 bytes with no '/', ',',
 * whitespace or control character.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "svcmap.h"

#define KW_UNKNOWN "unknown_client "
#define KW_CLIENT "client "
#define KW_END "end"
#define DENY "deny"

struct span {
        const char *p;
        size_t n;
};

static bool span_is(struct span s, const char *word)
{
        size_t n = strlen(word);

        return s.n == n && memcmp(s.p, word, n) == 0;
}

static bool client_name_ok(const char *p, size_t n)
{
        if (n == 0 || n >= TP_CLIENT_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = p[i];

                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

/* The bytes tokenpolicy.conf(5) allows in a service name: no control
 * character, space, DEL, '/' or ','; bytes past 0x7f (UTF-8) are kept. */
static bool service_byte_ok(unsigned char c)
{
        return c > 0x20 && c != 0x7f && c != '/' && c != ',';
}

static bool service_name_ok(const char *p, size_t n)
{
        if (n == 0 || n >= TP_SERVICE_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!service_byte_ok((unsigned char) p[i]))
                        return false;
        return true;
}

/* The next line of text[*pos..len), without its '\n'; false when no '\n'
 * ends it. */
static bool next_line(const char *text, size_t len, size_t *pos, struct span *line)
{
        const char *start = text + *pos;
        const char *nl = memchr(start, '\n', len - *pos);

        if (!nl)
                return false;
        line->p = start;
        line->n = (size_t) (nl - start);
        *pos += line->n + 1;
        return true;
}

static bool starts_with(struct span s, const char *prefix, struct span *rest)
{
        size_t n = strlen(prefix);

        if (s.n < n || memcmp(s.p, prefix, n) != 0)
                return false;
        rest->p = s.p + n;
        rest->n = s.n - n;
        return true;
}

/* One pass over the whole text. With service, *ret_client is the span of
 * its client type (first listing) or of unknown_client. Returns an enum
 * tp_svcmap_answer or -EBADMSG. */
static int parse(const char *text, size_t len, const char *service, struct span *ret_client)
{
        struct span names[TP_SVCMAP_CLIENTS_MAX], line, unknown, rest, match = { NULL, 0 };
        size_t n_names = 0, pos = 0, service_len = service ? strlen(service) : 0;
        bool ended = false;

        if (!text || len > TP_SVCMAP_SIZE_MAX)
                return -EBADMSG;
        if (!next_line(text, len, &pos, &line) || !span_is(line, TP_SVCMAP_MAGIC))
                return -EBADMSG;
        if (!next_line(text, len, &pos, &line) || !starts_with(line, KW_UNKNOWN, &unknown))
                return -EBADMSG;
        if (!span_is(unknown, DENY) && !client_name_ok(unknown.p, unknown.n))
                return -EBADMSG;

        while (!ended) {
                struct span name, services;
                const char *space;

                if (!next_line(text, len, &pos, &line))
                        return -EBADMSG;
                if (span_is(line, KW_END)) {
                        ended = true;
                        continue;
                }
                if (!starts_with(line, KW_CLIENT, &rest) || n_names == TP_SVCMAP_CLIENTS_MAX)
                        return -EBADMSG;
                space = memchr(rest.p, ' ', rest.n);
                name.p = rest.p;
                name.n = space ? (size_t) (space - rest.p) : rest.n;
                if (!client_name_ok(name.p, name.n) || span_is(name, DENY))
                        return -EBADMSG;
                for (size_t i = 0; i < n_names; i++)
                        if (names[i].n == name.n && memcmp(names[i].p, name.p, name.n) == 0)
                                return -EBADMSG;
                names[n_names++] = name;
                if (!space)
                        continue; /* a client type with no services */
                services.p = space + 1;
                services.n = rest.n - name.n - 1;
                if (services.n == 0 || services.n >= TP_SERVICES_TEXT_MAX)
                        return -EBADMSG;
                for (size_t i = 0; i < services.n;) {
                        const char *comma = memchr(services.p + i, ',', services.n - i);
                        size_t n = comma ? (size_t) (comma - (services.p + i)) : services.n - i;

                        if (!service_name_ok(services.p + i, n))
                                return -EBADMSG;
                        if (!match.p && service && n == service_len &&
                            memcmp(services.p + i, service, n) == 0)
                                match = name;
                        i += n + (comma ? 1 : 0);
                        if (comma && i == services.n)
                                return -EBADMSG; /* a trailing comma: an empty name */
                }
        }
        if (pos != len)
                return -EBADMSG;
        if (!span_is(unknown, DENY)) {
                bool defined = false;

                for (size_t i = 0; i < n_names && !defined; i++)
                        defined = names[i].n == unknown.n && memcmp(names[i].p, unknown.p, unknown.n) == 0;
                if (!defined)
                        return -EBADMSG;
        }
        if (match.p) {
                *ret_client = match;
                return TP_SVCMAP_MAPPED;
        }
        if (span_is(unknown, DENY)) {
                ret_client->p = NULL;
                ret_client->n = 0;
                return TP_SVCMAP_UNMAPPED;
        }
        *ret_client = unknown;
        return TP_SVCMAP_DEFAULT;
}

int tp_svcmap_lookup(const char *text, size_t len, const char *service, char *client)
{
        struct span found;
        int r;

        if (!service || !*service)
                return -EINVAL;
        r = parse(text, len, service, &found);
        if (r < 0)
                return r;
        /* found.n < TP_CLIENT_MAX: client_name_ok() said so. */
        memcpy(client, found.p ? found.p : "", found.n);
        client[found.n] = '\0';
        return r;
}

/* ---- building ------------------------------------------------------- */

static void append(struct tp_svcmap_builder *b, const char *p, size_t n)
{
        if (b->error)
                return;
        if (n >= b->size - b->len || b->len + n > TP_SVCMAP_SIZE_MAX) {
                b->error = -ENOSPC;
                return;
        }
        memcpy(b->buf + b->len, p, n);
        b->len += n;
        b->buf[b->len] = '\0';
}

static void append_str(struct tp_svcmap_builder *b, const char *s)
{
        append(b, s, strlen(s));
}

void tp_svcmap_begin(struct tp_svcmap_builder *b, char *buf, size_t size, const char *unknown_client)
{
        const char *unknown = unknown_client ? unknown_client : DENY;

        b->buf = buf;
        b->size = size;
        b->len = 0;
        b->n_clients = 0;
        b->error = 0;
        if (!buf || size == 0) {
                b->error = -ENOSPC;
                return;
        }
        buf[0] = '\0';
        if (strcmp(unknown, DENY) != 0 && !client_name_ok(unknown, strlen(unknown))) {
                b->error = -EINVAL;
                return;
        }
        append_str(b, TP_SVCMAP_MAGIC "\n" KW_UNKNOWN);
        append_str(b, unknown);
        append_str(b, "\n");
}

void tp_svcmap_add_client(struct tp_svcmap_builder *b, const char *name, char *const *services,
                          size_t n_services)
{
        size_t text_len = 0;

        if (b->error)
                return;
        if (!client_name_ok(name, strlen(name)) || strcmp(name, DENY) == 0) {
                b->error = -EINVAL;
                return;
        }
        if (b->n_clients == TP_SVCMAP_CLIENTS_MAX) {
                b->error = -E2BIG;
                return;
        }
        for (size_t i = 0; i < n_services; i++) {
                size_t n = strlen(services[i]);

                if (!service_name_ok(services[i], n)) {
                        b->error = -EINVAL;
                        return;
                }
                text_len += n + (i > 0);
        }
        if (text_len >= TP_SERVICES_TEXT_MAX) {
                b->error = -EINVAL;
                return;
        }
        b->n_clients++;
        append_str(b, KW_CLIENT);
        append_str(b, name);
        for (size_t i = 0; i < n_services; i++) {
                append_str(b, i == 0 ? " " : ",");
                append_str(b, services[i]);
        }
        append_str(b, "\n");
}

int tp_svcmap_finish(struct tp_svcmap_builder *b)
{
        struct span unused;

        append_str(b, KW_END "\n");
        if (b->error)
                return b->error;
        /* Duplicate names or an unknown_client that names no client type
         * are caught here: write nothing the module would refuse. */
        if (parse(b->buf, b->len, NULL, &unused) < 0)
                return -EINVAL;
        return (int) b->len;
}

/* ---- reading -------------------------------------------------------- */

static int untrusted(char *why, size_t why_size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int untrusted(char *why, size_t why_size, const char *fmt, ...)
{
        va_list ap;

        if (why_size > 0) {
                va_start(ap, fmt);
                vsnprintf(why, why_size, fmt, ap);
                va_end(ap);
        }
        return -EPERM;
}

ssize_t tp_svcmap_read(const char *path, uid_t expected_uid, char *buf, size_t size, char *why,
                       size_t why_size)
{
        size_t limit, got = 0;
        struct stat st;
        int fd, r;

        if (!path || !*path || !buf || size == 0)
                return -EINVAL;
        limit = size - 1 < TP_SVCMAP_SIZE_MAX ? size - 1 : TP_SVCMAP_SIZE_MAX;
        /* O_NOFOLLOW: a link at the last component could name any file;
         * O_NONBLOCK: a FIFO put there must not hold the login. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
                if (errno == ELOOP)
                        return untrusted(why, why_size, "it is a symbolic link");
                return -errno;
        }
        /* Checked on what was opened, not on the name, which may have
         * changed since. */
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                r = untrusted(why, why_size, "it is not a regular file");
                goto out;
        }
        if (st.st_uid != expected_uid) {
                r = untrusted(why, why_size, "it is owned by uid %u, not %u", (unsigned) st.st_uid,
                              (unsigned) expected_uid);
                goto out;
        }
        if (st.st_mode & (S_IWGRP | S_IWOTH)) {
                r = untrusted(why, why_size, "it is writable by group or others");
                goto out;
        }
        if ((r = tp_io_check_dir(path, expected_uid, why, why_size)) < 0)
                goto out;
        if (st.st_size > (off_t) limit) {
                r = -EFBIG;
                goto out;
        }
        /* The size may change under us: read to the end, never past limit. */
        for (;;) {
                char extra;
                ssize_t n;

                if (got == limit) {
                        n = read(fd, &extra, 1);
                        if (n > 0) {
                                r = -EFBIG;
                                goto out;
                        }
                } else {
                        n = read(fd, buf + got, limit - got);
                }
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto out;
                }
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        buf[got] = '\0';
        r = 0;
out:
        close(fd);
        return r < 0 ? r : (ssize_t) got;
}

int tp_svcmap_path(const char *socket_path, char *out, size_t out_size)
{
        const char *slash = strrchr(socket_path, '/');
        size_t dir_len = slash ? (size_t) (slash - socket_path) + 1 : 0;
        int n;

        n = snprintf(out, out_size, "%.*s%s", (int) dir_len, socket_path, TP_SVCMAP_FILE);
        if (n < 0 || (size_t) n >= out_size)
                return -ENAMETOOLONG;
        return 0;
}
