/* SPDX-License-Identifier: BSD-3-Clause */
/* tokentest.c: helpers the token unit tests share (tokentest.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "tokentest.h"

void concat(char *out, size_t size, ...)
{
        const char *s;
        size_t len = 0;
        va_list ap;

        va_start(ap, size);
        while ((s = va_arg(ap, const char *))) {
                size_t n = strlen(s);

                assert_true(n < size - len);
                memcpy(out + len, s, n);
                len += n;
        }
        va_end(ap);
        out[len] = '\0';
}

void make_tmpdir(char dir[PATH_MAX])
{
        const char *base = getenv("TMPDIR");

        concat(dir, PATH_MAX, base && *base ? base : "/tmp", "/tp-token-XXXXXX", (const char *)NULL);
        assert_non_null(mkdtemp(dir));
}

void remove_tree(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;

        assert_non_null(d);
        while ((e = readdir(d))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                if (unlinkat(dirfd(d), e->d_name, 0) < 0) {
                        char sub[PATH_MAX];

                        concat(sub, PATH_MAX, dir, "/", e->d_name, (const char *)NULL);
                        remove_tree(sub);
                }
        }
        closedir(d);
        assert_int_equal(rmdir(dir), 0);
}

void path_in(char out[PATH_MAX], const char *dir, const char *name)
{
        concat(out, PATH_MAX, dir, "/", name, (const char *)NULL);
}

mode_t file_mode(const char *dir, const char *name)
{
        char p[PATH_MAX];
        struct stat st;

        path_in(p, dir, name);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        return st.st_mode & 07777;
}

mode_t dir_mode(const char *dir, const char *name)
{
        char p[PATH_MAX];
        struct stat st;

        path_in(p, dir, name);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        return st.st_mode & 07777;
}

size_t read_text(const char *path, char *buf, size_t size)
{
        FILE *f = fopen(path, "re");
        size_t n;

        assert_non_null(f);
        n = fread(buf, 1, size - 1, f);
        fclose(f);
        buf[n] = '\0';
        return n;
}

void write_text(const char *path, const char *text, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

bool exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

void b64url(const void *in, size_t n, char *out)
{
        unsigned char tmp[BIG];
        int len = EVP_EncodeBlock(tmp, in, (int)n), i, o = 0;

        for (i = 0; i < len && tmp[i] != '='; i++)
                out[o++] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : (char)tmp[i];
        out[o] = '\0';
}

size_t unb64url(const char *in, size_t n, unsigned char *out)
{
        char tmp[BIG];
        size_t i, pad = (4 - n % 4) % 4;
        int len;

        for (i = 0; i < n; i++)
                tmp[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
        memset(tmp + n, '=', pad);
        len = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)(n + pad));
        assert_true(len >= 0);
        out[len - pad] = '\0';
        return (size_t)len - pad;
}

bool is_lower_hex(const char *s, size_t n)
{
        return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

bool is_b64url(const char *s, size_t n)
{
        return strlen(s) == n &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

size_t token_part(const char *tok, int idx, char *out, bool decode)
{
        const char *p = tok, *end;
        size_t n;

        while (idx-- > 0) {
                p = strchr(p, '.');
                assert_non_null(p);
                p++;
        }
        end = strchr(p, '.');
        n = end ? (size_t)(end - p) : strlen(p);
        if (decode)
                return unb64url(p, n, (unsigned char *)out);
        memcpy(out, p, n);
        out[n] = '\0';
        return n;
}

void token_join(char *out, const char *h, const char *p, const char *s)
{
        concat(out, BIG, h, ".", p, ".", s, (const char *)NULL);
}

void sign_raw_key(EVP_PKEY *pkey, const char *header, const char *payload, size_t plen, char *out)
{
        char h[BIG], p[BIG], s[256], input[BIG];
        unsigned char sig[64];
        size_t siglen = sizeof(sig);
        EVP_MD_CTX *md;

        b64url(header, strlen(header), h);
        b64url(payload, plen, p);
        CONCAT(input, h, ".", p);
        assert_non_null(md = EVP_MD_CTX_new());
        assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, pkey), 1);
        assert_int_equal(EVP_DigestSign(md, sig, &siglen, (unsigned char *)input, strlen(input)), 1);
        EVP_MD_CTX_free(md);
        b64url(sig, siglen, s);
        token_join(out, h, p, s);
}

EVP_PKEY *key_new(const char *path, const char *private_path)
{
        EVP_PKEY *pkey;
        FILE *fp;

        assert_non_null(pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
        if (path) {
                assert_non_null(fp = fopen(path, "we"));
                assert_int_equal(PEM_write_PUBKEY(fp, pkey), 1);
                fclose(fp);
        }
        if (private_path) {
                assert_non_null(fp = fopen(private_path, "we"));
                assert_int_equal(fchmod(fileno(fp), 0600), 0);
                assert_int_equal(PEM_write_PrivateKey(fp, pkey, NULL, NULL, 0, NULL, NULL), 1);
                fclose(fp);
        }
        return pkey;
}

void claims_base(struct tp_jwt_claims *c)
{
        memset(c, 0, sizeof(*c));
        strcpy(c->iss, "host.example");
        strcpy(c->sub, "alice");
        c->uid = 1000;
        strcpy(c->sid, SID);
        strcpy(c->client, "desktop");
        c->iat = NOW;
        c->exp = NOW + 720 * 60;
}

void assert_claims_equal(const struct tp_jwt_claims *a, const struct tp_jwt_claims *b)
{
        assert_string_equal(a->iss, b->iss);
        assert_string_equal(a->sub, b->sub);
        assert_int_equal(a->uid, b->uid);
        assert_string_equal(a->sid, b->sid);
        assert_string_equal(a->client, b->client);
        assert_int_equal(a->iat, b->iat);
        assert_int_equal(a->exp, b->exp);
        assert_string_equal(a->jti, b->jti);
        assert_string_equal(a->kid, b->kid);
}
