/* SPDX-License-Identifier: BSD-3-Clause */
/* test_svcmap.c: the service map (common/svcmap.c).
 *
 * The parser at both sides of every limit (client name, service name, a
 * client's services, client types, file size), every way a text can stray
 * from the format (which must be refused whole, so that a half-written or
 * forged map is never half believed), every prefix of a valid map, and the
 * builder producing exactly what the parser accepts. The reader against
 * real files in a private directory: links, FIFOs, modes, owners, sizes.
 * Must leave no file behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "svcmap.h"

#define BUF_SIZE (TP_SVCMAP_SIZE_MAX + 1)

static char *repeat(char c, size_t n)
{
        char *s = malloc(n + 1);

        assert_non_null(s);
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

static int lookup(const char *text, const char *service, char *client)
{
        return tp_svcmap_lookup(text, strlen(text), service, client);
}

#define VALID                                                      \
        "tokenpolicy-services 1\n"                                 \
        "unknown_client deny\n"                                    \
        "client desktop gdm-password,lightdm,sddm,login\n"         \
        "client web cockpit\n"                                     \
        "client mobile\n"                                          \
        "client ssh sshd\n"                                        \
        "end\n"

static void test_lookup_answers(void **state)
{
        char client[TP_CLIENT_MAX];

        (void) state;
        assert_int_equal(lookup(VALID, "sshd", client), TP_SVCMAP_MAPPED);
        assert_string_equal(client, "ssh");
        assert_int_equal(lookup(VALID, "login", client), TP_SVCMAP_MAPPED);
        assert_string_equal(client, "desktop");
        assert_int_equal(lookup(VALID, "gdm-password", client), TP_SVCMAP_MAPPED);
        assert_string_equal(client, "desktop");
        /* Whole names only: no prefix, no suffix, no piece of the list. */
        assert_int_equal(lookup(VALID, "su", client), TP_SVCMAP_UNMAPPED);
        assert_string_equal(client, "");
        assert_int_equal(lookup(VALID, "ssh", client), TP_SVCMAP_UNMAPPED);
        assert_int_equal(lookup(VALID, "sshd2", client), TP_SVCMAP_UNMAPPED);
        assert_int_equal(lookup(VALID, "gdm", client), TP_SVCMAP_UNMAPPED);
        assert_int_equal(lookup(VALID, "lightdm,sddm", client), TP_SVCMAP_UNMAPPED);
        assert_int_equal(lookup(VALID, "mobile", client), TP_SVCMAP_UNMAPPED);
        assert_int_equal(lookup(VALID, "", client), -EINVAL);
        assert_int_equal(tp_svcmap_lookup(VALID, strlen(VALID), NULL, client), -EINVAL);

        assert_int_equal(lookup("tokenpolicy-services 1\nunknown_client mobile\nclient ssh sshd\n"
                                "client mobile\nend\n", "cron", client), TP_SVCMAP_DEFAULT);
        assert_string_equal(client, "mobile");
        /* Listed twice (the daemon never writes that): the first wins, as
         * in the daemon's own lookup. */
        assert_int_equal(lookup("tokenpolicy-services 1\nunknown_client deny\nclient a x,y\n"
                                "client b y\nend\n", "y", client), TP_SVCMAP_MAPPED);
        assert_string_equal(client, "a");
        /* Bytes past 0x7f are allowed in service names, as in the config. */
        assert_int_equal(lookup("tokenpolicy-services 1\nunknown_client deny\nclient a \xc3\xa9t\xc3\xa9\n"
                                "end\n", "\xc3\xa9t\xc3\xa9", client), TP_SVCMAP_MAPPED);
}

static void test_malformed_texts(void **state)
{
        static const char *const bad[] = {
                "",
                "\n",
                "end\n",
                "tokenpolicy-services 2\nunknown_client deny\nend\n",
                "tokenpolicy-services 1 \nunknown_client deny\nend\n",
                "tokenpolicy-services 1\r\nunknown_client deny\r\nend\r\n",
                "tokenpolicy-services 1\nunknown_client deny\nend",          /* no final newline */
                "tokenpolicy-services 1\nunknown_client deny\n",             /* no end */
                "tokenpolicy-services 1\nunknown_client deny\nend\n\n",      /* after end */
                "tokenpolicy-services 1\nunknown_client deny\nend\nclient a\n",
                "tokenpolicy-services 1\nend\n",                             /* no unknown_client */
                "tokenpolicy-services 1\nunknown_client\nend\n",
                "tokenpolicy-services 1\nunknown_client \nend\n",
                "tokenpolicy-services 1\nunknown_client Deny\nend\n",
                "tokenpolicy-services 1\nunknown_client nosuch\nend\n",      /* names no type */
                "tokenpolicy-services 1\nunknown_client deny\nunknown_client deny\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\n\nend\n",      /* empty line */
                "tokenpolicy-services 1\nunknown_client deny\n# comment\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient \nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient a \nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient a  sshd\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient  a sshd\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient\ta sshd\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient a\tsshd\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient A sshd\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient a.b sshd\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient deny sshd\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient a sshd\nclient a su\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient a sshd su\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient a ,sshd\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient a sshd,\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient a sshd,,su\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient a ss/hd\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient a ss\x1fhd\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient a ss\x7fhd\nend\n",
                "tokenpolicy-services 1\nunknown_client deny\nclient a sshd\nend \n",
                "tokenpolicy-services 1\nunknown_client deny\nclients a sshd\nend\n",
                " tokenpolicy-services 1\nunknown_client deny\nend\n",
        };
        char client[TP_CLIENT_MAX];

        (void) state;
        assert_int_equal(lookup("tokenpolicy-services 1\nunknown_client deny\nend\n", "sshd", client),
                         TP_SVCMAP_UNMAPPED);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                strcpy(client, "unchanged");
                if (lookup(bad[i], "sshd", client) != -EBADMSG)
                        fail_msg("accepted bad map %zu: %s", i, bad[i]);
        }
        /* A NUL inside the text (lengths are explicit). */
        {
                static const char nul[] = "tokenpolicy-services 1\nunknown_client deny\nclient a s\0hd\nend\n";

                assert_int_equal(tp_svcmap_lookup(nul, sizeof(nul) - 1, "s", client), -EBADMSG);
        }
        assert_int_equal(tp_svcmap_lookup(NULL, 0, "sshd", client), -EBADMSG);
}

/* A map cut anywhere (a truncated write, a short read) is refused: never
 * a valid map with fewer services. */
static void test_every_prefix_is_refused(void **state)
{
        char client[TP_CLIENT_MAX];
        size_t len = strlen(VALID);

        (void) state;
        for (size_t n = 0; n < len; n++)
                if (tp_svcmap_lookup(VALID, n, "sshd", client) != -EBADMSG)
                        fail_msg("a map cut at %zu bytes was accepted", n);
        assert_int_equal(tp_svcmap_lookup(VALID, len, "sshd", client), TP_SVCMAP_MAPPED);
}

static int map_with(const char *unknown, const char *client_line, const char *service, char *client)
{
        char *text = NULL;
        int r;

        assert_true(asprintf(&text, "tokenpolicy-services 1\nunknown_client %s\n%s\nend\n", unknown,
                             client_line) > 0);
        r = lookup(text, service, client);
        free(text);
        return r;
}

static void test_name_limits(void **state)
{
        char client[TP_CLIENT_MAX], *name, *line = NULL;

        (void) state;
        /* Client type: 64 bytes pass, 65 fail. */
        name = repeat('c', TP_CLIENT_MAX - 1);
        assert_true(asprintf(&line, "client %s sshd", name) > 0);
        assert_int_equal(map_with(name, line, "sshd", client), TP_SVCMAP_MAPPED);
        assert_string_equal(client, name);
        assert_int_equal(map_with(name, line, "su", client), TP_SVCMAP_DEFAULT);
        assert_string_equal(client, name);
        free(line);
        free(name);
        name = repeat('c', TP_CLIENT_MAX);
        assert_true(asprintf(&line, "client %s sshd", name) > 0);
        assert_int_equal(map_with("deny", line, "sshd", client), -EBADMSG);
        assert_int_equal(map_with(name, "client a sshd", "sshd", client), -EBADMSG);
        free(line);
        free(name);

        /* Service: 256 bytes pass, 257 fail. */
        name = repeat('s', TP_SERVICE_MAX - 1);
        assert_true(asprintf(&line, "client a %s", name) > 0);
        assert_int_equal(map_with("deny", line, name, client), TP_SVCMAP_MAPPED);
        free(line);
        free(name);
        name = repeat('s', TP_SERVICE_MAX);
        assert_true(asprintf(&line, "client a %s", name) > 0);
        assert_int_equal(map_with("deny", line, "sshd", client), -EBADMSG);
        free(line);
        free(name);
}

/* A client's services joined with commas: 1023 bytes pass, 1024 fail. */
static void test_services_text_limit(void **state)
{
        char client[TP_CLIENT_MAX], *line = NULL, *a, *b;
        size_t first = TP_SERVICE_MAX - 1;

        (void) state;
        /* Three names of 256 bytes and one of 1023 - 3 * 257 = 252. */
        a = repeat('a', first);
        b = repeat('b', TP_SERVICES_TEXT_MAX - 1 - 3 * (first + 1));
        assert_true(asprintf(&line, "client x %s,%s,%s,%s", a, a, a, b) > 0);
        assert_int_equal(strlen(line) - strlen("client x "), TP_SERVICES_TEXT_MAX - 1);
        assert_int_equal(map_with("deny", line, b, client), TP_SVCMAP_MAPPED);
        free(line);
        free(b);
        b = repeat('b', TP_SERVICES_TEXT_MAX - 3 * (first + 1));
        assert_true(asprintf(&line, "client x %s,%s,%s,%s", a, a, a, b) > 0);
        assert_int_equal(strlen(line) - strlen("client x "), TP_SERVICES_TEXT_MAX);
        assert_int_equal(map_with("deny", line, b, client), -EBADMSG);
        free(line);
        free(b);
        free(a);
}

/* The largest map the daemon can write: TP_SVCMAP_CLIENTS_MAX client
 * types with 64-byte names and 1023 bytes of services each. */
static char *largest_map(size_t n_clients, size_t *ret_len)
{
        char *text = malloc(BUF_SIZE * 2);
        size_t pos = 0;

        assert_non_null(text);
        pos += (size_t) sprintf(text, "tokenpolicy-services 1\nunknown_client deny\n");
        for (size_t i = 0; i < n_clients; i++) {
                char name[TP_CLIENT_MAX];
                size_t j;

                memset(name, 'n', sizeof(name) - 1);
                name[sizeof(name) - 1] = '\0';
                snprintf(name, sizeof(name), "%02zu", i);
                name[2] = 'n'; /* keep it 64 bytes long */
                pos += (size_t) sprintf(text + pos, "client %s ", name);
                /* Services s<i>-<j> padded to fill 1023 bytes exactly. */
                for (j = 0; j < 3; j++)
                        pos += (size_t) sprintf(text + pos, "%02zu-%0253zu,", i, j);
                pos += (size_t) sprintf(text + pos, "%02zu-%0249zu\n", i, j);
        }
        pos += (size_t) sprintf(text + pos, "end\n");
        *ret_len = pos;
        return text;
}

static void test_client_count_and_size_limits(void **state)
{
        char client[TP_CLIENT_MAX], *text, *big;
        size_t len;

        (void) state;
        text = largest_map(TP_SVCMAP_CLIENTS_MAX, &len);
        assert_true(len < TP_SVCMAP_SIZE_MAX);
        {
                char last[TP_SERVICE_MAX];

                snprintf(last, sizeof(last), "%02d-%0249d", TP_SVCMAP_CLIENTS_MAX - 1, 3);
                assert_int_equal(tp_svcmap_lookup(text, len, last, client), TP_SVCMAP_MAPPED);
        }
        assert_int_equal(strlen(client), TP_CLIENT_MAX - 1);
        assert_memory_equal(client, "31n", 3);
        free(text);
        /* One client type more than a POLICY reply can carry. */
        text = largest_map(TP_SVCMAP_CLIENTS_MAX + 1, &len);
        assert_int_equal(tp_svcmap_lookup(text, len, "sshd", client), -EBADMSG);
        free(text);

        /* Size: the limit is checked before anything is read. */
        big = malloc(TP_SVCMAP_SIZE_MAX + 2);
        assert_non_null(big);
        memset(big, 'x', TP_SVCMAP_SIZE_MAX + 1);
        memcpy(big, VALID, strlen(VALID));
        assert_int_equal(tp_svcmap_lookup(big, strlen(VALID), "sshd", client), TP_SVCMAP_MAPPED);
        assert_int_equal(tp_svcmap_lookup(big, TP_SVCMAP_SIZE_MAX, "sshd", client), -EBADMSG);
        assert_int_equal(tp_svcmap_lookup(big, TP_SVCMAP_SIZE_MAX + 1, "sshd", client), -EBADMSG);
        free(big);
}

/* ---- builder ----------------------------------------------------------- */

static void test_builder_writes_what_the_parser_reads(void **state)
{
        char *desktop[] = { "gdm-password", "lightdm", "sddm", "login" }, *web[] = { "cockpit" },
             *ssh[] = { "sshd" };
        struct tp_svcmap_builder b;
        char buf[1024], client[TP_CLIENT_MAX];
        int n;

        (void) state;
        tp_svcmap_begin(&b, buf, sizeof(buf), NULL);
        tp_svcmap_add_client(&b, "desktop", desktop, 4);
        tp_svcmap_add_client(&b, "web", web, 1);
        tp_svcmap_add_client(&b, "mobile", NULL, 0);
        tp_svcmap_add_client(&b, "ssh", ssh, 1);
        n = tp_svcmap_finish(&b);
        assert_int_equal(n, strlen(VALID));
        assert_string_equal(buf, VALID);

        tp_svcmap_begin(&b, buf, sizeof(buf), "mobile");
        tp_svcmap_add_client(&b, "mobile", NULL, 0);
        n = tp_svcmap_finish(&b);
        assert_true(n > 0);
        assert_int_equal(tp_svcmap_lookup(buf, (size_t) n, "anything", client), TP_SVCMAP_DEFAULT);
        assert_string_equal(client, "mobile");

        /* Every buffer too small by even one byte (the NUL) is refused. */
        for (size_t size = 0; size <= strlen(VALID); size++) {
                tp_svcmap_begin(&b, buf, size, "deny");
                tp_svcmap_add_client(&b, "desktop", desktop, 4);
                tp_svcmap_add_client(&b, "web", web, 1);
                tp_svcmap_add_client(&b, "mobile", NULL, 0);
                tp_svcmap_add_client(&b, "ssh", ssh, 1);
                assert_int_equal(tp_svcmap_finish(&b), -ENOSPC);
        }
}

static void test_builder_refuses_what_the_parser_would(void **state)
{
        char *bad_services[][1] = { { "s/x" }, { "a,b" }, { "a b" }, { "" }, { "tab\there" } };
        char *ok[] = { "sshd" };
        char *name65 = repeat('c', TP_CLIENT_MAX), *svc257 = repeat('s', TP_SERVICE_MAX);
        char *long_list[5];
        struct tp_svcmap_builder b;
        char *buf = malloc(BUF_SIZE);

        (void) state;
        assert_non_null(buf);
        tp_svcmap_begin(&b, buf, BUF_SIZE, "Bad");
        assert_int_equal(tp_svcmap_finish(&b), -EINVAL);
        tp_svcmap_begin(&b, buf, BUF_SIZE, "nosuch"); /* names no client type */
        tp_svcmap_add_client(&b, "a", ok, 1);
        assert_int_equal(tp_svcmap_finish(&b), -EINVAL);
        tp_svcmap_begin(&b, buf, BUF_SIZE, NULL);
        tp_svcmap_add_client(&b, name65, ok, 1);
        assert_int_equal(tp_svcmap_finish(&b), -EINVAL);
        tp_svcmap_begin(&b, buf, BUF_SIZE, NULL);
        tp_svcmap_add_client(&b, "deny", ok, 1);
        assert_int_equal(tp_svcmap_finish(&b), -EINVAL);
        tp_svcmap_begin(&b, buf, BUF_SIZE, NULL);
        tp_svcmap_add_client(&b, "a", ok, 1);
        tp_svcmap_add_client(&b, "a", ok, 1);
        assert_int_equal(tp_svcmap_finish(&b), -EINVAL);
        for (size_t i = 0; i < sizeof(bad_services) / sizeof(bad_services[0]); i++) {
                tp_svcmap_begin(&b, buf, BUF_SIZE, NULL);
                tp_svcmap_add_client(&b, "a", bad_services[i], 1);
                assert_int_equal(tp_svcmap_finish(&b), -EINVAL);
        }
        tp_svcmap_begin(&b, buf, BUF_SIZE, NULL);
        tp_svcmap_add_client(&b, "a", &svc257, 1);
        assert_int_equal(tp_svcmap_finish(&b), -EINVAL);
        /* 4 x 256 + 3 commas = 1027 > 1023. */
        svc257[TP_SERVICE_MAX - 1] = '\0';
        for (size_t i = 0; i < 4; i++)
                long_list[i] = svc257;
        tp_svcmap_begin(&b, buf, BUF_SIZE, NULL);
        tp_svcmap_add_client(&b, "a", long_list, 4);
        assert_int_equal(tp_svcmap_finish(&b), -EINVAL);
        /* TP_SVCMAP_CLIENTS_MAX client types fit, one more does not. */
        for (size_t n = TP_SVCMAP_CLIENTS_MAX; n <= TP_SVCMAP_CLIENTS_MAX + 1; n++) {
                tp_svcmap_begin(&b, buf, BUF_SIZE, NULL);
                for (size_t i = 0; i < n; i++) {
                        char name[16];

                        snprintf(name, sizeof(name), "c%zu", i);
                        tp_svcmap_add_client(&b, name, NULL, 0);
                }
                if (n == TP_SVCMAP_CLIENTS_MAX)
                        assert_true(tp_svcmap_finish(&b) > 0);
                else
                        assert_int_equal(tp_svcmap_finish(&b), -E2BIG);
        }
        free(name65);
        free(svc257);
        free(buf);
}

/* ---- reader ------------------------------------------------------------ */

struct dir {
        char path[64];
        char file[PATH_MAX];
};

static int dir_setup(void **state)
{
        struct dir *d = calloc(1, sizeof(*d));

        assert_non_null(d);
        snprintf(d->path, sizeof(d->path), "/tmp/tptest-svcmap-XXXXXX");
        assert_non_null(mkdtemp(d->path));
        assert_int_equal(chmod(d->path, 0755), 0);
        snprintf(d->file, sizeof(d->file), "%s/%s", d->path, TP_SVCMAP_FILE);
        *state = d;
        return 0;
}

static int dir_teardown(void **state)
{
        struct dir *d = *state;

        chmod(d->path, 0755);
        unlink(d->file);
        rmdir(d->path);
        free(d);
        return 0;
}

static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
        int fd;

        unlink(path);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, len), (ssize_t) len);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static void test_read_trusted_file(void **state)
{
        struct dir *d = *state;
        char *buf = malloc(BUF_SIZE), why[256], client[TP_CLIENT_MAX];
        ssize_t n;

        assert_non_null(buf);
        write_file(d->file, VALID, strlen(VALID), 0644);
        n = tp_svcmap_read(d->file, geteuid(), buf, BUF_SIZE, why, sizeof(why));
        assert_int_equal(n, strlen(VALID));
        assert_string_equal(buf, VALID);
        assert_int_equal(tp_svcmap_lookup(buf, (size_t) n, "sshd", client), TP_SVCMAP_MAPPED);
        /* Read-only for everyone is fine too. */
        assert_int_equal(chmod(d->file, 0444), 0);
        assert_int_equal(tp_svcmap_read(d->file, geteuid(), buf, BUF_SIZE, why, sizeof(why)), strlen(VALID));
        unlink(d->file);
        assert_int_equal(tp_svcmap_read(d->file, geteuid(), buf, BUF_SIZE, why, sizeof(why)), -ENOENT);
        assert_int_equal(tp_svcmap_read("", geteuid(), buf, BUF_SIZE, why, sizeof(why)), -EINVAL);
        free(buf);
}

static void expect_untrusted(const char *path, uid_t uid, const char *reason)
{
        char buf[256], why[256] = "";

        assert_int_equal(tp_svcmap_read(path, uid, buf, sizeof(buf), why, sizeof(why)), -EPERM);
        if (!strstr(why, reason))
                fail_msg("why: '%s', expected '%s'", why, reason);
}

static void test_read_refuses_untrusted(void **state)
{
        struct dir *d = *state;
        char target[PATH_MAX + 16];

        write_file(d->file, VALID, strlen(VALID), 0664);
        expect_untrusted(d->file, geteuid(), "writable by group or others");
        assert_int_equal(chmod(d->file, 0646), 0);
        expect_untrusted(d->file, geteuid(), "writable by group or others");
        assert_int_equal(chmod(d->file, 0644), 0);
        expect_untrusted(d->file, geteuid() + 1, "owned by uid");

        /* A link, even to a good map. */
        snprintf(target, sizeof(target), "%s/real", d->path);
        assert_int_equal(rename(d->file, target), 0);
        assert_int_equal(symlink(target, d->file), 0);
        expect_untrusted(d->file, geteuid(), "symbolic link");
        unlink(d->file);
        unlink(target);

        /* A FIFO must not block the login, nor a directory be read. */
        assert_int_equal(mkfifo(d->file, 0644), 0);
        expect_untrusted(d->file, geteuid(), "not a regular file");
        unlink(d->file);
        assert_int_equal(mkdir(d->file, 0755), 0);
        expect_untrusted(d->file, geteuid(), "not a regular file");
        rmdir(d->file);

        /* A directory anyone may write to, unless sticky. */
        write_file(d->file, VALID, strlen(VALID), 0644);
        assert_int_equal(chmod(d->path, 0777), 0);
        expect_untrusted(d->file, geteuid(), "writable by group or others without the sticky bit");
        assert_int_equal(chmod(d->path, 0775), 0);
        expect_untrusted(d->file, geteuid(), "writable by group or others without the sticky bit");
        assert_int_equal(chmod(d->path, 01777), 0);
        {
                char buf[256], why[256];

                assert_int_equal(tp_svcmap_read(d->file, geteuid(), buf, sizeof(buf), why, sizeof(why)),
                                 strlen(VALID));
        }
        assert_int_equal(chmod(d->path, 0755), 0);
}

static void test_read_size_limits(void **state)
{
        struct dir *d = *state;
        char *big = repeat('x', TP_SVCMAP_SIZE_MAX + 1), *buf = malloc(BUF_SIZE + 1), why[256];

        assert_non_null(buf);
        write_file(d->file, big, TP_SVCMAP_SIZE_MAX, 0644);
        assert_int_equal(tp_svcmap_read(d->file, geteuid(), buf, BUF_SIZE, why, sizeof(why)), TP_SVCMAP_SIZE_MAX);
        assert_int_equal(buf[TP_SVCMAP_SIZE_MAX], '\0');
        /* A buffer larger than the format's limit does not raise it. */
        write_file(d->file, big, TP_SVCMAP_SIZE_MAX + 1, 0644);
        assert_int_equal(tp_svcmap_read(d->file, geteuid(), buf, BUF_SIZE + 1, why, sizeof(why)), -EFBIG);
        /* Nor may a file outgrow the caller's buffer. */
        write_file(d->file, VALID, strlen(VALID), 0644);
        assert_int_equal(tp_svcmap_read(d->file, geteuid(), buf, strlen(VALID) + 1, why, sizeof(why)),
                         strlen(VALID));
        assert_int_equal(tp_svcmap_read(d->file, geteuid(), buf, strlen(VALID), why, sizeof(why)), -EFBIG);
        write_file(d->file, "", 0, 0644);
        assert_int_equal(tp_svcmap_read(d->file, geteuid(), buf, BUF_SIZE, why, sizeof(why)), 0);
        free(big);
        free(buf);
}

static void test_path_next_to_socket(void **state)
{
        char out[64];

        (void) state;
        assert_int_equal(tp_svcmap_path("/run/tokenpolicy/tokenpolicyd.sock", out, sizeof(out)), 0);
        assert_string_equal(out, "/run/tokenpolicy/" TP_SVCMAP_FILE);
        assert_int_equal(tp_svcmap_path("/s", out, sizeof(out)), 0);
        assert_string_equal(out, "/" TP_SVCMAP_FILE);
        assert_int_equal(tp_svcmap_path("s", out, sizeof(out)), 0);
        assert_string_equal(out, TP_SVCMAP_FILE);
        assert_int_equal(tp_svcmap_path("/0123456789/0123456789/0123456789/0123456789/0123456789/x.sock", out,
                                        sizeof(out)), -ENAMETOOLONG);
        assert_int_equal(tp_svcmap_path("/run/", out, sizeof("/run/" TP_SVCMAP_FILE)), 0);
        assert_int_equal(tp_svcmap_path("/run/", out, sizeof("/run/" TP_SVCMAP_FILE) - 1), -ENAMETOOLONG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lookup_answers),
                cmocka_unit_test(test_malformed_texts),
                cmocka_unit_test(test_every_prefix_is_refused),
                cmocka_unit_test(test_name_limits),
                cmocka_unit_test(test_services_text_limit),
                cmocka_unit_test(test_client_count_and_size_limits),
                cmocka_unit_test(test_builder_writes_what_the_parser_reads),
                cmocka_unit_test(test_builder_refuses_what_the_parser_would),
                cmocka_unit_test_setup_teardown(test_read_trusted_file, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_read_refuses_untrusted, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_read_size_limits, dir_setup, dir_teardown),
                cmocka_unit_test(test_path_next_to_socket),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
