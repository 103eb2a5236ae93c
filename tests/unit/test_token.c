/* test_token.c: unit tests for secrets and signatures (tokenpolicyd/token.c).
 *
 * Random identifiers, refresh-token hashes, the signing key's file rules,
 * the published JWKS (written only when it changes), rotation, the end of
 * a retained key and revocation, and the JWT verifier against every kind of forgery
 * and malformation, each limit on both sides. Crafted tokens are signed
 * here with the real key through OpenSSL directly, so that the claims
 * parser is reached only through a valid signature. Must never print
 * outside cmocka, and removes every directory it creates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "jose.h"
#include "token.h"

#define NOW INT64_C(1700000000)
#define RAW_NOW INT64_C(1500)
#define HEADER_OK "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}"
#define SID "0123456789abcdef0123456789abcdef"
#define JTI "fedcba9876543210fedcba9876543210"
#define PAYLOAD_OK "{\"iss\":\"host\",\"sub\":\"alice\",\"uid\":1000,\"sid\":\"" SID "\"," \
        "\"client\":\"ssh\",\"iat\":1000,\"exp\":2000,\"jti\":\"" JTI "\"}"
#define BIG 16384

struct fixture {
        char dir[PATH_MAX];
        char pub[PATH_MAX];
        struct tp_signer *signer;
};

/* ---- helpers ---------------------------------------------------------------- */

/* Concatenate the NULL-terminated list of strings into out[0..size). */
static void concat(char *out, size_t size, ...)
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

#define CONCAT(out, ...) concat((out), sizeof(out), __VA_ARGS__, (const char *)NULL)

static void make_tmpdir(char dir[PATH_MAX])
{
        const char *base = getenv("TMPDIR");

        concat(dir, PATH_MAX, base && *base ? base : "/tmp", "/tp-token-XXXXXX", (const char *)NULL);
        assert_non_null(mkdtemp(dir));
}

static void remove_tree(const char *dir)
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

static void path_in(char out[PATH_MAX], const char *dir, const char *name)
{
        concat(out, PATH_MAX, dir, "/", name, (const char *)NULL);
}

static mode_t file_mode(const char *dir, const char *name)
{
        char p[PATH_MAX];
        struct stat st;

        path_in(p, dir, name);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        return st.st_mode & 07777;
}

static mode_t dir_mode(const char *dir, const char *name)
{
        char p[PATH_MAX];
        struct stat st;

        path_in(p, dir, name);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        return st.st_mode & 07777;
}

static size_t read_text(const char *path, char *buf, size_t size)
{
        FILE *f = fopen(path, "re");
        size_t n;

        assert_non_null(f);
        n = fread(buf, 1, size - 1, f);
        fclose(f);
        buf[n] = '\0';
        return n;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

/* base64url through OpenSSL's plain base64, independent of token.c. */
static void b64url(const void *in, size_t n, char *out)
{
        unsigned char tmp[BIG];
        int len = EVP_EncodeBlock(tmp, in, (int)n), i, o = 0;

        for (i = 0; i < len && tmp[i] != '='; i++)
                out[o++] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : (char)tmp[i];
        out[o] = '\0';
}

static size_t unb64url(const char *in, size_t n, unsigned char *out)
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

/* Part idx (0..2) of a compact token, decoded when `decode`. */
static size_t token_part(const char *tok, int idx, char *out, bool decode)
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

static void token_join(char *out, const char *h, const char *p, const char *s)
{
        concat(out, BIG, h, ".", p, ".", s, (const char *)NULL);
}

/* Sign arbitrary header and payload JSON with pkey. */
static void sign_raw_key(EVP_PKEY *pkey, const char *header, const char *payload, size_t plen,
                         char *out)
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

/* The same with the fixture's private key, as the key file holds it now. */
static void sign_raw(const struct fixture *f, const char *header, const char *payload, size_t plen,
                     char *out)
{
        char keypath[PATH_MAX];
        EVP_PKEY *pkey;
        FILE *fp;

        path_in(keypath, f->dir, TP_TOKEN_KEY_FILE);
        assert_non_null(fp = fopen(keypath, "re"));
        assert_non_null(pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL));
        fclose(fp);
        sign_raw_key(pkey, header, payload, plen, out);
        EVP_PKEY_free(pkey);
}

static int verify_raw_n(const struct fixture *f, const char *header, const char *payload, size_t plen,
                        struct tp_jwt_claims *ret)
{
        static char tok[BIG];
        struct tp_jwt_claims c;

        sign_raw(f, header, payload, plen, tok);
        return tp_jwt_verify_pem(f->pub, tok, RAW_NOW, ret ? ret : &c);
}

static int verify_raw(const struct fixture *f, const char *header, const char *payload,
                      struct tp_jwt_claims *ret)
{
        return verify_raw_n(f, header, payload, strlen(payload), ret);
}

static void claims_base(struct tp_jwt_claims *c)
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

static void sign_base(struct fixture *f, char *tok, struct tp_jwt_claims *c)
{
        claims_base(c);
        assert_int_equal(tp_jwt_sign(f->signer, c, tok, TP_TOKEN_MAX), 0);
}

static void assert_claims_equal(const struct tp_jwt_claims *a, const struct tp_jwt_claims *b)
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

static bool is_lower_hex(const char *s, size_t n)
{
        return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

static bool is_b64url(const char *s, size_t n)
{
        return strlen(s) == n &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

static int fixture_setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        make_tmpdir(f->dir);
        path_in(f->pub, f->dir, TP_TOKEN_PUB_FILE);
        assert_int_equal(tp_signer_open(f->dir, &f->signer), 0);
        *state = f;
        return 0;
}

static int fixture_teardown(void **state)
{
        struct fixture *f = *state;

        tp_signer_free(f->signer);
        remove_tree(f->dir);
        free(f);
        return 0;
}

/* ---- random values and hashes ----------------------------------------------- */

static void test_session_id_hex_and_unique(void **state)
{
        char ids[64][TP_SESSION_ID_MAX];
        size_t i, j;

        (void)state;
        for (i = 0; i < 64; i++) {
                assert_int_equal(tp_session_id_new(ids[i]), 0);
                assert_true(is_lower_hex(ids[i], TP_SESSION_ID_MAX - 1));
                for (j = 0; j < i; j++)
                        assert_string_not_equal(ids[i], ids[j]);
        }
}

/* The first 12 digits are the time in milliseconds, so ids made later sort
 * later; the other 20 differ even within one millisecond. */
static void test_session_id_time_ordered(void **state)
{
        char a[TP_SESSION_ID_MAX], b[TP_SESSION_ID_MAX], c[TP_SESSION_ID_MAX];
        struct timespec ts, pause = { 0, 3 * 1000 * 1000 };
        unsigned long long ms, now;

        (void)state;
        assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
        now = (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
        assert_int_equal(tp_session_id_new(a), 0);
        assert_int_equal(tp_session_id_new(b), 0);
        assert_int_equal(sscanf(a, "%12llx", &ms), 1);
        assert_true(ms >= now && ms < now + 1000);
        assert_string_not_equal(a + 12, b + 12);
        assert_int_equal(nanosleep(&pause, NULL), 0);
        assert_int_equal(tp_session_id_new(c), 0);
        assert_true(strcmp(c, a) > 0 && strcmp(c, b) > 0);
}

static void test_refresh_token_format_and_hash(void **state)
{
        char a[TP_REFRESH_TOKEN_TEXT], b[TP_REFRESH_TOKEN_TEXT];
        uint8_t ha[TP_SHA256_LEN], hb[TP_SHA256_LEN], h[TP_SHA256_LEN], raw[64];
        unsigned int mdlen;

        (void)state;
        assert_int_equal(tp_refresh_token_new(a, ha), 0);
        assert_int_equal(tp_refresh_token_new(b, hb), 0);
        assert_true(is_b64url(a, 43));
        assert_true(is_b64url(b, 43));
        assert_string_not_equal(a, b);
        assert_int_equal(unb64url(a, 43, raw), TP_REFRESH_TOKEN_BYTES);

        /* The stored hash is SHA-256 of the text the client holds. */
        assert_int_equal(EVP_Digest(a, strlen(a), h, &mdlen, EVP_sha256(), NULL), 1);
        assert_memory_equal(h, ha, TP_SHA256_LEN);
        assert_int_equal(tp_refresh_token_hash(a, h), 0);
        assert_true(tp_hash_equal(h, ha));
        assert_false(tp_hash_equal(h, hb));
}

static void test_hash_equal(void **state)
{
        uint8_t a[TP_SHA256_LEN], b[TP_SHA256_LEN];

        (void)state;
        memset(a, 0x5a, sizeof(a));
        memcpy(b, a, sizeof(b));
        assert_true(tp_hash_equal(a, b));
        b[0] ^= 1;
        assert_false(tp_hash_equal(a, b));
        b[0] ^= 1;
        b[TP_SHA256_LEN - 1] ^= 0x80;
        assert_false(tp_hash_equal(a, b));
}

static void test_secret_wipe(void **state)
{
        char buf[32];
        static const char zero[32];

        (void)state;
        memset(buf, 'x', sizeof(buf));
        tp_secret_wipe(buf, sizeof(buf));
        assert_memory_equal(buf, zero, sizeof(buf));
        tp_secret_wipe(NULL, 10);
}

/* ---- signing key files ---------------------------------------------------------- */

static void open_with_umask(mode_t mask)
{
        char dir[PATH_MAX];
        struct tp_signer *s = NULL;
        mode_t old = umask(mask);

        make_tmpdir(dir);
        assert_int_equal(tp_signer_open(dir, &s), 0);
        umask(old);
        assert_int_equal(file_mode(dir, TP_TOKEN_KEY_FILE), 0600);
        assert_int_equal(file_mode(dir, TP_TOKEN_PUB_FILE), 0644);
        assert_int_equal(file_mode(dir, TP_TOKEN_JWKS_FILE), 0644);
        assert_int_equal(dir_mode(dir, TP_TOKEN_KEYS_DIR), 0755);
        assert_true(is_b64url(tp_signer_kid(s), 43));
        tp_signer_free(s);
        remove_tree(dir);
}

static void test_signer_modes_whatever_the_umask(void **state)
{
        (void)state;
        open_with_umask(0);
        open_with_umask(022);
        open_with_umask(077);
}

static void test_signer_reopens_same_key(void **state)
{
        struct fixture *f = *state;
        char key[PATH_MAX], before[4096], after[4096], kid[64];
        struct tp_signer *again = NULL;
        DIR *d;
        struct dirent *e;
        int n = 0;

        path_in(key, f->dir, TP_TOKEN_KEY_FILE);
        read_text(key, before, sizeof(before));
        assert_non_null(strstr(before, "-----BEGIN PRIVATE KEY-----"));
        strcpy(kid, tp_signer_kid(f->signer));
        assert_int_equal(tp_signer_open(f->dir, &again), 0);
        assert_string_equal(tp_signer_kid(again), kid);
        read_text(key, after, sizeof(after));
        assert_string_equal(before, after);
        tp_signer_free(again);

        /* No temporary files are left behind. */
        assert_non_null(d = opendir(f->dir));
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        n++;
                else
                        assert_true(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0);
        closedir(d);
        assert_int_equal(n, 4); /* the key, its PEM and JWKS, keys/ */
}

static void test_signer_refuses_wide_permissions(void **state)
{
        static const mode_t refused[] = { 0640, 0604, 0620, 0602, 0610, 0601, 0660, 0644 };
        struct fixture *f = *state;
        struct tp_signer *s = NULL;
        char key[PATH_MAX];
        size_t i;

        path_in(key, f->dir, TP_TOKEN_KEY_FILE);
        for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
                assert_int_equal(chmod(key, refused[i]), 0);
                assert_int_equal(tp_signer_open(f->dir, &s), -EPERM);
                assert_null(s);
        }
        /* The edge: owner-only modes pass. */
        assert_int_equal(chmod(key, 0400), 0);
        assert_int_equal(tp_signer_open(f->dir, &s), 0);
        tp_signer_free(s);
        s = NULL;
        assert_int_equal(chmod(key, 0600), 0);
        assert_int_equal(tp_signer_open(f->dir, &s), 0);
        assert_string_equal(tp_signer_kid(s), tp_signer_kid(f->signer));
        tp_signer_free(s);
}

static void test_signer_refuses_foreign_owner(void **state)
{
        struct fixture *f = *state;
        struct tp_signer *s = NULL;
        char key[PATH_MAX];

        if (geteuid() != 0)
                skip();
        path_in(key, f->dir, TP_TOKEN_KEY_FILE);
        assert_int_equal(chown(key, 1, (gid_t)-1), 0);
        assert_int_equal(tp_signer_open(f->dir, &s), -EPERM);
        assert_int_equal(chown(key, 0, (gid_t)-1), 0);
        assert_int_equal(tp_signer_open(f->dir, &s), 0);
        tp_signer_free(s);
}

static void test_signer_refuses_symlink(void **state)
{
        struct fixture *f = *state;
        struct tp_signer *s = NULL;
        char dir[PATH_MAX], target[PATH_MAX], link[PATH_MAX];

        make_tmpdir(dir);
        path_in(target, f->dir, TP_TOKEN_KEY_FILE);
        path_in(link, dir, TP_TOKEN_KEY_FILE);
        assert_int_equal(symlink(target, link), 0);
        assert_int_equal(tp_signer_open(dir, &s), -EPERM);
        assert_null(s);
        /* Dangling: still refused, never replaced by a new key. */
        assert_int_equal(unlink(link), 0);
        assert_int_equal(symlink("/nonexistent/key.pem", link), 0);
        assert_int_equal(tp_signer_open(dir, &s), -EPERM);
        remove_tree(dir);
}

static void test_signer_refuses_bad_files(void **state)
{
        struct tp_signer *s = NULL;
        char dir[PATH_MAX], key[PATH_MAX], ec[PATH_MAX];
        EVP_PKEY *pkey;
        FILE *fp;

        (void)state;
        make_tmpdir(dir);
        path_in(key, dir, TP_TOKEN_KEY_FILE);

        assert_int_equal(mkdir(key, 0700), 0);
        assert_int_equal(tp_signer_open(dir, &s), -EPERM);
        assert_int_equal(rmdir(key), 0);

        write_text(key, "not a key\n", 0600);
        assert_int_equal(tp_signer_open(dir, &s), -EINVAL);

        /* A valid private key of another type is not a signing key. */
        assert_non_null(pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
        path_in(ec, dir, TP_TOKEN_KEY_FILE);
        assert_non_null(fp = fopen(ec, "we"));
        assert_int_equal(PEM_write_PrivateKey(fp, pkey, NULL, NULL, 0, NULL, NULL), 1);
        fclose(fp);
        EVP_PKEY_free(pkey);
        assert_int_equal(chmod(ec, 0600), 0);
        assert_int_equal(tp_signer_open(dir, &s), -EINVAL);
        assert_null(s);
        remove_tree(dir);

        assert_int_equal(tp_signer_open("/nonexistent-tokenpolicy-dir", &s), -ENOENT);
        assert_null(s);
}

static void test_jwks_matches_public_key(void **state)
{
        struct fixture *f = *state;
        char jwks_path[PATH_MAX], jwks[2048], x[64], thumb_in[256], kid[64], expect[512];
        unsigned char raw[32], digest[32];
        size_t rawlen = sizeof(raw);
        unsigned int mdlen;
        const char *p;
        EVP_PKEY *pkey;
        FILE *fp;

        assert_non_null(fp = fopen(f->pub, "re"));
        assert_non_null(pkey = PEM_read_PUBKEY(fp, NULL, NULL, NULL));
        fclose(fp);
        assert_int_equal(EVP_PKEY_get_id(pkey), EVP_PKEY_ED25519);
        assert_int_equal(EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen), 1);
        EVP_PKEY_free(pkey);
        b64url(raw, rawlen, x);

        path_in(jwks_path, f->dir, TP_TOKEN_JWKS_FILE);
        read_text(jwks_path, jwks, sizeof(jwks));
        assert_non_null(strstr(jwks, "\"kty\":\"OKP\""));
        assert_non_null(strstr(jwks, "\"crv\":\"Ed25519\""));
        assert_non_null(p = strstr(jwks, "\"kid\":\""));

        /* kid is the RFC 7638 thumbprint of the public key. */
        CONCAT(thumb_in, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"", x, "\"}");
        assert_int_equal(EVP_Digest(thumb_in, strlen(thumb_in), digest, &mdlen, EVP_sha256(), NULL), 1);
        b64url(digest, sizeof(digest), kid);
        assert_string_equal(tp_signer_kid(f->signer), kid);
        CONCAT(expect, "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"", x, "\",\"kid\":\"",
               kid, "\",\"alg\":\"EdDSA\",\"use\":\"sig\"}]}\n");
        assert_string_equal(jwks, expect);
}

/* ---- signing ------------------------------------------------------------------------ */

static void test_sign_verify_round_trip(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], part[BIG], expect[256];

        sign_base(f, tok, &c);
        assert_true(is_lower_hex(c.jti, 32));
        assert_string_equal(c.kid, tp_signer_kid(f->signer));
        token_part(tok, 0, part, true);
        CONCAT(expect, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"", c.kid, "\"}");
        assert_string_equal(part, expect);
        token_part(tok, 2, part, false);
        assert_int_equal(strlen(part), 86);

        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), 0);
        assert_claims_equal(&got, &c);
}

/* The daemon signs with libsodium; Ed25519 is deterministic, so the
 * signature must be the one OpenSSL makes with the key file's key, byte
 * for byte, after a rotation as well. */
static void assert_signature_is_openssl_s(struct fixture *f, const char *tok)
{
        char path[PATH_MAX + 32], sig_b64[128];
        const char *dot2 = strrchr(tok, '.');
        uint8_t sig[64];
        size_t siglen = sizeof(sig), n;
        EVP_MD_CTX *md;
        EVP_PKEY *key;
        FILE *fp;

        assert_non_null(dot2);
        snprintf(path, sizeof(path), "%s/%s", f->dir, TP_TOKEN_KEY_FILE);
        fp = fopen(path, "r");
        assert_non_null(fp);
        key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
        fclose(fp);
        assert_non_null(key);
        md = EVP_MD_CTX_new();
        assert_non_null(md);
        assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, key), 1);
        assert_int_equal(EVP_DigestSign(md, sig, &siglen, (const uint8_t *)tok, (size_t)(dot2 - tok)), 1);
        assert_int_equal(siglen, 64);
        assert_int_equal(tp_b64url_encode(sig, siglen, sig_b64, sizeof(sig_b64), &n), 0);
        assert_string_equal(dot2 + 1, sig_b64);
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(key);
}

static void test_signature_equals_openssl_s(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c;
        char tok[TP_TOKEN_MAX], old_kid[TP_KID_LEN + 1];

        sign_base(f, tok, &c);
        assert_signature_is_openssl_s(f, tok);
        assert_int_equal(tp_signer_rotate(f->signer, NOW, NOW + 3600, old_kid), 0);
        sign_base(f, tok, &c);
        assert_string_equal(c.kid, tp_signer_kid(f->signer));
        assert_signature_is_openssl_s(f, tok);
}

static void test_sign_fills_only_empty_fields(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got, bad;
        char tok[TP_TOKEN_MAX], other[TP_TOKEN_MAX];

        claims_base(&c);
        strcpy(c.jti, JTI);
        assert_int_equal(tp_jwt_sign(f->signer, &c, tok, sizeof(tok)), 0);
        assert_string_equal(c.jti, JTI);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), 0);
        assert_string_equal(got.jti, JTI);

        /* Two tokens for the same claims get distinct jti values. */
        claims_base(&c);
        assert_int_equal(tp_jwt_sign(f->signer, &c, tok, sizeof(tok)), 0);
        strcpy(other, c.jti);
        claims_base(&c);
        assert_int_equal(tp_jwt_sign(f->signer, &c, tok, sizeof(tok)), 0);
        assert_string_not_equal(other, c.jti);

        /* A kid naming another key, text that is not UTF-8, an unterminated
         * field: refused, and the claims are left as they were. */
        claims_base(&bad);
        strcpy(bad.kid, "someone-elses-key");
        assert_int_equal(tp_jwt_sign(f->signer, &bad, tok, sizeof(tok)), -EINVAL);
        assert_string_equal(bad.jti, "");
        claims_base(&bad);
        strcpy(bad.sub, "bad\xff\xfe");
        assert_int_equal(tp_jwt_sign(f->signer, &bad, tok, sizeof(tok)), -EINVAL);
        claims_base(&bad);
        strcpy(bad.sub, "\xed\xa0\x80"); /* an encoded surrogate */
        assert_int_equal(tp_jwt_sign(f->signer, &bad, tok, sizeof(tok)), -EINVAL);
        claims_base(&bad);
        memset(bad.client, 'c', sizeof(bad.client));
        assert_int_equal(tp_jwt_sign(f->signer, &bad, tok, sizeof(tok)), -EINVAL);
        assert_string_equal(bad.kid, "");
}

static void test_sign_output_buffer_edge(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c;
        char tok[TP_TOKEN_MAX], small[TP_TOKEN_MAX];
        size_t len;

        claims_base(&c);
        strcpy(c.jti, JTI);
        assert_int_equal(tp_jwt_sign(f->signer, &c, tok, sizeof(tok)), 0);
        len = strlen(tok);
        memset(small, '#', sizeof(small));
        assert_int_equal(tp_jwt_sign(f->signer, &c, small, len), -ENOBUFS);
        assert_int_equal(small[0], '#');
        assert_int_equal(tp_jwt_sign(f->signer, &c, small, len + 1), 0);
        assert_string_equal(small, tok); /* Ed25519 is deterministic */
}

/* Claims whose token is exactly `target` characters long: the payload is
 * padded with control characters (6 bytes each once escaped) and plain
 * ones. Returns false when no payload size gives that length. */
static bool claims_for_length(struct fixture *f, size_t target, struct tp_jwt_claims *c)
{
        char tok[TP_TOKEN_MAX], part[BIG];
        size_t hlen, plen, slen, want_b64, want_bytes, extra, ctl, in_iss, i;

        claims_base(c);
        c->iss[0] = '\0';
        c->sub[0] = '\0';
        strcpy(c->jti, JTI);
        assert_int_equal(tp_jwt_sign(f->signer, c, tok, sizeof(tok)), 0);
        hlen = token_part(tok, 0, part, false);
        plen = token_part(tok, 1, part, true);
        slen = token_part(tok, 2, part, false);
        want_b64 = target - hlen - slen - 2;
        if (want_b64 % 4 == 1)
                return false;
        want_bytes = want_b64 / 4 * 3 + (want_b64 % 4 ? want_b64 % 4 - 1 : 0);
        extra = want_bytes - plen;
        ctl = extra / 6;
        in_iss = ctl < sizeof(c->iss) - 1 ? ctl : sizeof(c->iss) - 1;
        assert_true(ctl - in_iss + extra % 6 < sizeof(c->sub));
        for (i = 0; i < in_iss; i++)
                c->iss[i] = (char)(1 + i % 31);
        c->iss[in_iss] = '\0';
        memset(c->sub, '\n', ctl - in_iss);
        memset(c->sub + ctl - in_iss, 'u', extra % 6);
        c->sub[ctl - in_iss + extra % 6] = '\0';
        return true;
}

static void test_token_size_limit(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        static char tok[BIG], longer[BIG];
        size_t target;

        /* The longest token the wire can carry is TP_TOKEN_MAX - 1; with this
         * header that length is not reachable, so the longest is one less. */
        target = TP_TOKEN_MAX - 1;
        if (!claims_for_length(f, target, &c))
                assert_true(claims_for_length(f, --target, &c));
        assert_int_equal(tp_jwt_sign(f->signer, &c, tok, sizeof(tok)), 0);
        assert_int_equal(strlen(tok), target);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), 0);
        assert_claims_equal(&got, &c);

        /* One byte more in the payload: too long to sign. */
        strcat(c.sub, "u");
        assert_int_equal(tp_jwt_sign(f->signer, &c, longer, sizeof(longer)), -EMSGSIZE);

        /* The verifier reads TP_TOKEN_MAX - 1 characters (here failing later,
         * on the signature's length) and refuses TP_TOKEN_MAX outright. */
        CONCAT(longer, tok, target == TP_TOKEN_MAX - 2 ? "A" : "");
        assert_int_equal(strlen(longer), TP_TOKEN_MAX - 1);
        assert_int_equal(tp_jwt_verify_pem(f->pub, longer, NOW, &got), -EKEYREJECTED);
        strcat(longer, "A");
        assert_int_equal(tp_jwt_verify_pem(f->pub, longer, NOW, &got), -EBADMSG);
        memset(longer, 'A', sizeof(longer));
        assert_int_equal(tp_jwt_verify_pem(f->pub, longer, NOW, &got), -EBADMSG);
}

static void test_escaped_strings_round_trip(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], payload[BIG];

        claims_base(&c);
        strcpy(c.sub, "a\"b\\c\"d");
        strcpy(c.iss, "line1\nline2\ttab\x1f\x7f/");
        strcpy(c.client, "caf\xc3\xa9 \xf0\x9f\x98\x80");
        assert_int_equal(tp_jwt_sign(f->signer, &c, tok, sizeof(tok)), 0);
        token_part(tok, 1, payload, true);
        assert_non_null(strstr(payload, "\"sub\":\"a\\\"b\\\\c\\\"d\""));
        assert_non_null(strstr(payload, "line1\\u000aline2\\u0009tab\\u001f\x7f/"));
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), 0);
        assert_claims_equal(&got, &c);
}

/* ---- verification: forgeries ------------------------------------------------------ */

static void test_verify_rejects_tampered_signature(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX];
        char *sig;

        sign_base(f, tok, &c);
        sig = strrchr(tok, '.') + 1;
        sig[10] = sig[10] == 'A' ? 'B' : 'A';
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), -EKEYREJECTED);
}

static void test_verify_rejects_tampered_payload(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], h[BIG], p[BIG], s[BIG], forged[BIG], enc[BIG];
        char *at;

        sign_base(f, tok, &c);
        token_part(tok, 0, h, false);
        token_part(tok, 1, p, true);
        token_part(tok, 2, s, false);
        assert_non_null(at = strstr(p, "\"sub\":\"alice\""));
        memcpy(at, "\"sub\":\"root0\"", 13);
        b64url(p, strlen(p), enc);
        token_join(forged, h, enc, s);
        assert_int_equal(tp_jwt_verify_pem(f->pub, forged, NOW, &got), -EKEYREJECTED);
}

static void test_verify_algorithm_is_fixed(void **state)
{
        static const char *headers[] = {
                "{\"alg\":\"none\",\"typ\":\"JWT\"}",
                "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                "{\"alg\":\"eddsa\",\"typ\":\"JWT\"}",
                "{\"alg\":\"EdDSA \",\"typ\":\"JWT\"}",
                "{\"typ\":\"JWT\"}",
                "{\"alg\":1}",
                "{\"alg\":\"EdDSA\",\"crit\":\"exp\"}",
        };
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], p[BIG], s[BIG], h[BIG], forged[BIG], pem[4096];
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen;
        size_t i;

        sign_base(f, tok, &c);
        token_part(tok, 1, p, false);
        token_part(tok, 2, s, false);
        for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
                b64url(headers[i], strlen(headers[i]), h);
                token_join(forged, h, p, s);
                assert_int_equal(tp_jwt_verify_pem(f->pub, forged, NOW, &got), -EKEYREJECTED);
                token_join(forged, h, p, "");
                assert_int_equal(tp_jwt_verify_pem(f->pub, forged, NOW, &got), -EKEYREJECTED);
        }
        /* The classic confusion: HMAC keyed with the public key's PEM. */
        b64url(headers[1], strlen(headers[1]), h);
        read_text(f->pub, pem, sizeof(pem));
        CONCAT(forged, h, ".", p);
        assert_non_null(HMAC(EVP_sha256(), pem, (int)strlen(pem), (unsigned char *)forged,
                             strlen(forged), mac, &maclen));
        b64url(mac, maclen, s);
        token_join(forged, h, p, s);
        assert_int_equal(tp_jwt_verify_pem(f->pub, forged, NOW, &got), -EKEYREJECTED);

        /* A correctly signed header that says something else is refused too. */
        assert_int_equal(verify_raw(f, headers[0], PAYLOAD_OK, NULL), -EKEYREJECTED);
        assert_int_equal(verify_raw(f, headers[6], PAYLOAD_OK, NULL), -EKEYREJECTED);
        assert_int_equal(verify_raw(f, HEADER_OK, PAYLOAD_OK, NULL), 0);
}

static void test_verify_rejects_other_key(void **state)
{
        struct fixture *f = *state;
        struct tp_signer *other = NULL;
        struct tp_jwt_claims c, got;
        char dir[PATH_MAX], pub[PATH_MAX], tok[TP_TOKEN_MAX];

        make_tmpdir(dir);
        assert_int_equal(tp_signer_open(dir, &other), 0);
        assert_string_not_equal(tp_signer_kid(other), tp_signer_kid(f->signer));
        claims_base(&c);
        assert_int_equal(tp_jwt_sign(other, &c, tok, sizeof(tok)), 0);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), -EKEYREJECTED);
        path_in(pub, dir, TP_TOKEN_PUB_FILE);
        assert_int_equal(tp_jwt_verify_pem(pub, tok, NOW, &got), 0);
        tp_signer_free(other);
        remove_tree(dir);
}

static void test_verify_key_file_errors(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], path[PATH_MAX];
        EVP_PKEY *pkey;
        FILE *fp;

        sign_base(f, tok, &c);
        path_in(path, f->dir, "missing.pem");
        assert_int_equal(tp_jwt_verify_pem(path, tok, NOW, &got), -ENOENT);
        assert_int_equal(tp_jwt_verify_pem(f->dir, tok, NOW, &got), -EINVAL);
        path_in(path, f->dir, TP_TOKEN_KEY_FILE);
        assert_int_equal(tp_jwt_verify_pem(path, tok, NOW, &got), -EINVAL);
        path_in(path, f->dir, "ec.pem");
        assert_non_null(pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
        assert_non_null(fp = fopen(path, "we"));
        assert_int_equal(PEM_write_PUBKEY(fp, pkey), 1);
        fclose(fp);
        EVP_PKEY_free(pkey);
        assert_int_equal(tp_jwt_verify_pem(path, tok, NOW, &got), -EINVAL);
}

/* ---- verification: time --------------------------------------------------------------- */

static void test_verify_expiry_edge(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX];

        sign_base(f, tok, &c);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, c.exp - 1, &got), 0);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, c.exp, &got), -ETIME);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, c.exp + 1, &got), -ETIME);
}

static void test_verify_iat_leeway_edge(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX];

        sign_base(f, tok, &c);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, c.iat - 60, &got), 0);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, c.iat - 61, &got), -ETIME);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, INT64_MIN, &got), -ETIME);
}

/* ---- verification: structure ----------------------------------------------------------- */

static void test_verify_rejects_wrong_part_count(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], h[BIG], p[BIG], s[BIG], bad[BIG];

        sign_base(f, tok, &c);
        token_part(tok, 0, h, false);
        token_part(tok, 1, p, false);
        token_part(tok, 2, s, false);
        CONCAT(bad, h, ".", p);
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EBADMSG);
        CONCAT(bad, h, ".", p, ".", s, ".", s);
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EBADMSG);
        CONCAT(bad, h, ".", p, ".", s, ".");
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EBADMSG);
        assert_int_equal(tp_jwt_verify_pem(f->pub, "", NOW, &got), -EBADMSG);
        assert_int_equal(tp_jwt_verify_pem(f->pub, "..", NOW, &got), -EBADMSG);
        assert_int_equal(tp_jwt_verify_pem(f->pub, "...", NOW, &got), -EBADMSG);
        CONCAT(bad, ".", p, ".", s);
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EBADMSG);
        CONCAT(bad, h, "..", s);
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EKEYREJECTED);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), 0);
}

static void test_verify_rejects_bad_base64(void **state)
{
        static const char *inserts[] = { "=", "==", "+", "/", " ", "*", "\xc3\xa9", "%3D" };
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], parts[3][BIG], bad[BIG], *last;
        size_t i;
        int part;

        sign_base(f, tok, &c);
        for (part = 0; part < 3; part++)
                token_part(tok, part, parts[part], false);
        for (i = 0; i < sizeof(inserts) / sizeof(inserts[0]); i++) {
                for (part = 0; part < 3; part++) {
                        char mod[BIG];

                        CONCAT(mod, parts[part], inserts[i]);
                        token_join(bad, part == 0 ? mod : parts[0], part == 1 ? mod : parts[1],
                                   part == 2 ? mod : parts[2]);
                        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EBADMSG);
                }
        }
        /* A length no base64 text has (4n + 1). */
        CONCAT(bad, parts[0], ".", parts[1], ".", parts[2], "AAA");
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EBADMSG);
        /* Non-canonical: the 86th character carries 4 unused bits. */
        CONCAT(bad, tok);
        last = bad + strlen(bad) - 1;
        *last = *last == 'B' ? 'C' : 'B';
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EBADMSG);
}

static void test_verify_signature_length(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c, got;
        unsigned char sig[80];
        char tok[TP_TOKEN_MAX], h[BIG], p[BIG], s[BIG], enc[BIG], bad[BIG];

        sign_base(f, tok, &c);
        token_part(tok, 0, h, false);
        token_part(tok, 1, p, false);
        token_part(tok, 2, s, false);
        assert_int_equal(unb64url(s, strlen(s), sig), 64);
        b64url(sig, 63, enc);
        token_join(bad, h, p, enc);
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EKEYREJECTED);
        sig[64] = 0;
        b64url(sig, 65, enc);
        token_join(bad, h, p, enc);
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), -EKEYREJECTED);
        b64url(sig, 64, enc);
        token_join(bad, h, p, enc);
        assert_int_equal(tp_jwt_verify_pem(f->pub, bad, NOW, &got), 0);
}

/* ---- claims parser (reached through valid signatures) ----------------------------------- */

static void test_claims_order_whitespace_and_unknown(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims got;

        assert_int_equal(verify_raw(f, HEADER_OK,
                " \r\n{ \"jti\" : \"" JTI "\" ,\t\"exp\":2000,\"iat\":1000,\"client\":\"ssh\","
                "\"sid\":\"" SID "\",\"uid\":0,\"sub\":\"bob\",\"iss\":\"h\",\"extra\":\"x\",\"n\":-5}\n ",
                &got), 0);
        assert_string_equal(got.sub, "bob");
        assert_int_equal(got.uid, 0);
        assert_int_equal(got.iat, 1000);
        assert_int_equal(got.exp, 2000);
        assert_string_equal(got.jti, JTI);
        assert_string_equal(got.kid, "");
        assert_int_equal(verify_raw(f, "{\"kid\":\"k1\",\"alg\":\"EdDSA\",\"x5u\":\"u\"}",
                                    PAYLOAD_OK, &got), 0);
        assert_string_equal(got.kid, "k1");
}

static void test_claims_reject_duplicates(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(verify_raw(f, HEADER_OK,
                "{\"iss\":\"host\",\"sub\":\"alice\",\"uid\":1000,\"sid\":\"" SID "\","
                "\"client\":\"ssh\",\"iat\":1000,\"exp\":2000,\"jti\":\"" JTI "\",\"sub\":\"root\"}",
                NULL), -EBADMSG);
        assert_int_equal(verify_raw(f, HEADER_OK,
                "{\"iss\":\"host\",\"sub\":\"alice\",\"uid\":1000,\"sid\":\"" SID "\","
                "\"client\":\"ssh\",\"iat\":1000,\"exp\":2000,\"jti\":\"" JTI "\",\"\\u0073ub\":\"r\"}",
                NULL), -EBADMSG);
        assert_int_equal(verify_raw(f, HEADER_OK,
                "{\"iss\":\"host\",\"sub\":\"alice\",\"uid\":1000,\"sid\":\"" SID "\","
                "\"client\":\"ssh\",\"iat\":1000,\"exp\":2000,\"jti\":\"" JTI "\",\"exp\":9999}",
                NULL), -EBADMSG);
        assert_int_equal(verify_raw(f, "{\"alg\":\"EdDSA\",\"alg\":\"EdDSA\"}", PAYLOAD_OK, NULL),
                         -EBADMSG);
}

/* PAYLOAD_OK with the member `name` given the raw JSON value `value`. */
static void payload_with(char *out, size_t size, const char *name, const char *value)
{
        static const char *names[] = { "iss", "sub", "uid", "sid", "client", "iat", "exp", "jti" };
        static const char *values[] = { "\"host\"", "\"alice\"", "1000", "\"" SID "\"", "\"ssh\"",
                                        "1000", "2000", "\"" JTI "\"" };
        size_t i, len = 0;

        len += (size_t)snprintf(out + len, size - len, "{");
        for (i = 0; i < 8; i++) {
                const char *v = strcmp(names[i], name) == 0 ? value : values[i];

                if (!v)
                        continue;
                len += (size_t)snprintf(out + len, size - len, "%s\"%s\":%s", len > 1 ? "," : "",
                                        names[i], v);
        }
        snprintf(out + len, size - len, "}");
}

static int verify_member(struct fixture *f, const char *name, const char *value,
                         struct tp_jwt_claims *ret)
{
        char payload[BIG];

        payload_with(payload, sizeof(payload), name, value);
        return verify_raw(f, HEADER_OK, payload, ret);
}

static void test_claims_reject_non_scalar_values(void **state)
{
        static const char *values[] = { "{}", "{\"a\":1}", "[]", "[1]", "true", "false", "null", "" };
        struct fixture *f = *state;
        size_t i;

        for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
                assert_int_equal(verify_member(f, "sub", values[i], NULL), -EBADMSG);
                assert_int_equal(verify_member(f, "uid", values[i], NULL), -EBADMSG);
        }
}

static void test_claims_integers(void **state)
{
        static const char *bad[] = { "1.5", "1000.0", "1e3", "1E3", "\"1000\"", "01000", "+1000",
                                     "-", "0x10", "9223372036854775808", "-9223372036854775809" };
        struct fixture *f = *state;
        struct tp_jwt_claims got;
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(verify_member(f, "iat", bad[i], NULL), -EBADMSG);
                assert_int_equal(verify_member(f, "exp", bad[i], NULL), -EBADMSG);
                assert_int_equal(verify_member(f, "uid", bad[i], NULL), -EBADMSG);
        }
        assert_int_equal(verify_member(f, "exp", "9223372036854775807", &got), 0);
        assert_int_equal(got.exp, INT64_MAX);
        assert_int_equal(verify_member(f, "iat", "-9223372036854775808", &got), 0);
        assert_int_equal(got.iat, INT64_MIN);
        assert_int_equal(verify_member(f, "iat", "0", &got), 0);
        assert_int_equal(verify_member(f, "iat", "-0", &got), 0);

        /* uid is a uint32_t: both sides of both ends. */
        assert_int_equal(verify_member(f, "uid", "4294967295", &got), 0);
        assert_int_equal(got.uid, UINT32_MAX);
        assert_int_equal(verify_member(f, "uid", "4294967296", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "uid", "0", &got), 0);
        assert_int_equal(got.uid, 0);
        assert_int_equal(verify_member(f, "uid", "-1", NULL), -EBADMSG);
}

static void check_string_limit(struct fixture *f, const char *name, size_t field_size)
{
        char value[BIG];
        struct tp_jwt_claims got;

        value[0] = '"';
        memset(value + 1, 'x', field_size - 1);
        snprintf(value + field_size, sizeof(value) - field_size, "\"");
        assert_int_equal(verify_member(f, name, value, &got), 0);
        value[field_size] = 'x';
        snprintf(value + field_size + 1, sizeof(value) - field_size - 1, "\"");
        assert_int_equal(verify_member(f, name, value, NULL), -EBADMSG);
}

static void test_claims_string_limits(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims c;
        char header[256];

        check_string_limit(f, "iss", sizeof(c.iss));
        check_string_limit(f, "sub", sizeof(c.sub));
        check_string_limit(f, "sid", sizeof(c.sid));
        check_string_limit(f, "client", sizeof(c.client));
        check_string_limit(f, "jti", sizeof(c.jti));

        /* An escape that expands past the field counts its decoded bytes. */
        memset(header, 0, sizeof(header));
        snprintf(header, sizeof(header), "\"%.*s\\u00e9\"", (int)sizeof(c.client) - 3,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        assert_int_equal(verify_member(f, "client", header, NULL), 0);
        snprintf(header, sizeof(header), "\"%.*s\\u00e9\"", (int)sizeof(c.client) - 2,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        assert_int_equal(verify_member(f, "client", header, NULL), -EBADMSG);

        /* kid in the header: 63 characters fit its field, 64 do not. */
        snprintf(header, sizeof(header), "{\"alg\":\"EdDSA\",\"kid\":\"%.*s\"}", 63,
                 "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
        assert_int_equal(verify_raw(f, header, PAYLOAD_OK, &c), 0);
        assert_int_equal(strlen(c.kid), 63);
        snprintf(header, sizeof(header), "{\"alg\":\"EdDSA\",\"kid\":\"%.*s\"}", 64,
                 "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
        assert_int_equal(verify_raw(f, header, PAYLOAD_OK, NULL), -EBADMSG);
}

static void test_claims_member_count_limit(void **state)
{
        struct fixture *f = *state;
        char payload[BIG];
        int i, n;

        /* 8 claims plus 8 unknown members: 16 pass, 17 do not. */
        for (n = 8; n <= 9; n++) {
                size_t len = sizeof(PAYLOAD_OK) - 2;

                CONCAT(payload, PAYLOAD_OK);

                for (i = 0; i < n; i++)
                        len += (size_t)snprintf(payload + len, sizeof(payload) - len, ",\"x%d\":%d", i, i);
                snprintf(payload + len, sizeof(payload) - len, "}");
                assert_int_equal(verify_raw(f, HEADER_OK, payload, NULL), n == 8 ? 0 : -EBADMSG);
        }
}

static void test_claims_reject_trailing_garbage(void **state)
{
        static const char *bad[] = {
                PAYLOAD_OK "x", PAYLOAD_OK "{}", PAYLOAD_OK ",",
                "[" PAYLOAD_OK "]", "\"str\"", "", "{", "}", "{}",
        };
        struct fixture *f = *state;
        char payload[BIG];
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(verify_raw(f, HEADER_OK, bad[i], NULL), -EBADMSG);
        /* A trailing comma inside the object. */
        snprintf(payload, sizeof(payload), "%.*s,}", (int)strlen(PAYLOAD_OK) - 1, PAYLOAD_OK);
        assert_int_equal(verify_raw(f, HEADER_OK, payload, NULL), -EBADMSG);
        /* NUL bytes: after the object, inside a string. */
        assert_int_equal(verify_raw_n(f, HEADER_OK, PAYLOAD_OK, sizeof(PAYLOAD_OK), NULL), -EBADMSG);
        assert_int_equal(verify_raw_n(f, HEADER_OK, PAYLOAD_OK, sizeof(PAYLOAD_OK) - 1, NULL), 0);
        memcpy(payload, PAYLOAD_OK, sizeof(PAYLOAD_OK));
        payload[10] = '\0'; /* inside "host" */
        assert_int_equal(verify_raw_n(f, HEADER_OK, payload, sizeof(PAYLOAD_OK) - 1, NULL), -EBADMSG);
        /* A missing comma, a missing colon. */
        assert_int_equal(verify_member(f, "sub", "\"a\" \"b\"", NULL), -EBADMSG);
        assert_int_equal(verify_raw(f, HEADER_OK, "{\"iss\" \"host\"}", NULL), -EBADMSG);
}

static void test_claims_string_escapes(void **state)
{
        struct fixture *f = *state;
        struct tp_jwt_claims got;

        assert_int_equal(verify_member(f, "sub", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", &got), 0);
        assert_string_equal(got.sub, "a\"b\\c/d\b\f\n\r\t");
        assert_int_equal(verify_member(f, "sub", "\"\\u0041\\u00e9\\u20AC\\uffff\"", &got), 0);
        assert_string_equal(got.sub, "A\xc3\xa9\xe2\x82\xac\xef\xbf\xbf");
        assert_int_equal(verify_member(f, "sub", "\"\xf0\x9f\x98\x80\"", &got), 0);
        assert_string_equal(got.sub, "\xf0\x9f\x98\x80");

        assert_int_equal(verify_member(f, "sub", "\"a\\u0000b\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"\\ud800\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"\\ud83d\\ude00\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"\\udfff\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"\\u12\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"\\u12g4\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"\\x41\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"\\'\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"tab\there\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"nl\nhere\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"bad\xff\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"over\xc0\xaflong\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"surrogate\xed\xa0\x80\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"cut\xe2\x82\"", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"unterminated", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "sub", "\"ends in backslash\\", NULL), -EBADMSG);
}

static void test_claims_all_required(void **state)
{
        static const char *names[] = { "iss", "sub", "uid", "sid", "client", "iat", "exp", "jti" };
        struct fixture *f = *state;
        size_t i;

        for (i = 0; i < 8; i++)
                assert_int_equal(verify_member(f, names[i], NULL, NULL), -EBADMSG);
        /* Right name, wrong type. */
        assert_int_equal(verify_member(f, "sub", "1000", NULL), -EBADMSG);
        assert_int_equal(verify_member(f, "exp", "\"2000\"", NULL), -EBADMSG);
}

/* ---- several keys: rotation, retention, tp_signer_verify ------------------- */

#define ROTATE_NOW (NOW + 60)
#define RETAIN_UNTIL (NOW + 1000)

static size_t jwks_key_count(const struct fixture *f, char first_kid[64])
{
        char path[PATH_MAX], jwks[BIG];
        const char *p;
        size_t n = 0;

        path_in(path, f->dir, TP_TOKEN_JWKS_FILE);
        read_text(path, jwks, sizeof(jwks));
        for (p = jwks; (p = strstr(p, "\"kid\":\"")); p++) {
                if (n++ == 0 && first_kid) {
                        memcpy(first_kid, p + 7, 43);
                        first_kid[43] = '\0';
                }
        }
        return n;
}

static bool jwks_has(const struct fixture *f, const char *kid)
{
        char path[PATH_MAX], jwks[BIG], want[128];

        path_in(path, f->dir, TP_TOKEN_JWKS_FILE);
        read_text(path, jwks, sizeof(jwks));
        CONCAT(want, "\"kid\":\"", kid, "\"");
        return strstr(jwks, want) != NULL;
}

/* dir/keys/<kid><suffix> */
static void retained_path(char out[PATH_MAX], const struct fixture *f, const char *kid,
                          const char *suffix)
{
        concat(out, PATH_MAX, f->dir, "/" TP_TOKEN_KEYS_DIR "/", kid, suffix, (const char *)NULL);
}

static bool exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

static void reopen_at(struct fixture *f, int64_t now)
{
        struct tp_signer *s = NULL;

        assert_int_equal(tp_signer_open_at(f->dir, now, &s), 0);
        tp_signer_free(f->signer);
        f->signer = s;
}

static void test_kid_valid(void **state)
{
        char kid[64];

        (void)state;
        memset(kid, 'A', 43);
        kid[43] = '\0';
        assert_true(tp_kid_valid(kid));
        kid[0] = '-';
        kid[42] = '_';
        assert_true(tp_kid_valid(kid));
        kid[42] = '\0';
        assert_false(tp_kid_valid(kid)); /* 42 */
        kid[42] = 'A';
        kid[43] = 'A';
        kid[44] = '\0';
        assert_false(tp_kid_valid(kid)); /* 44 */
        kid[43] = '\0';
        for (const char *bad = "/.=+ \n%"; *bad; bad++) {
                kid[10] = *bad;
                assert_false(tp_kid_valid(kid));
        }
        assert_false(tp_kid_valid(""));
        assert_false(tp_kid_valid(".."));
        assert_false(tp_kid_valid(NULL));
}

static void test_signer_verify_current_key(void **state)
{
        struct fixture *f = *state;
        struct tp_signer *other = NULL;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], raw[BIG], dir[PATH_MAX];

        sign_base(f, tok, &c);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), 0);
        assert_claims_equal(&got, &c);
        /* Same checks as the PEM verifier. */
        assert_int_equal(tp_signer_verify(f->signer, tok, c.exp, &got), -ETIME);
        assert_int_equal(tp_signer_verify(f->signer, "a.b", NOW, &got), -EBADMSG);
        /* Another letter of the alphabet: still base64url, a wrong signature. */
        tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A';
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), -EKEYREJECTED);
        /* Without a kid the current key is the one to try. */
        sign_raw(f, HEADER_OK, PAYLOAD_OK, strlen(PAYLOAD_OK), raw);
        assert_int_equal(tp_signer_verify(f->signer, raw, RAW_NOW, &got), 0);
        assert_string_equal(got.kid, "");

        /* Another daemon's token names a key this one does not have. */
        make_tmpdir(dir);
        assert_int_equal(tp_signer_open(dir, &other), 0);
        claims_base(&c);
        assert_int_equal(tp_jwt_sign(other, &c, tok, sizeof(tok)), 0);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), -ENOKEY);
        assert_int_equal(tp_signer_verify(other, tok, NOW, &got), 0);
        tp_signer_free(other);
        remove_tree(dir);
        assert_int_equal(tp_signer_verify(NULL, tok, NOW, &got), -EINVAL);
        assert_int_equal(tp_signer_verify(f->signer, NULL, NOW, &got), -EINVAL);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, NULL), -EINVAL);
}

static void test_rotate_keeps_old_tokens_verifying(void **state)
{
        struct fixture *f = *state;
        char old_tok[TP_TOKEN_MAX], new_tok[TP_TOKEN_MAX], old_kid[64], first[64], path[PATH_MAX];
        char got_old[TP_KID_LEN + 1], text[64], key_before[4096], key_after[4096];
        struct tp_jwt_claims c, got;

        sign_base(f, old_tok, &c);
        strcpy(old_kid, c.kid);
        path_in(path, f->dir, TP_TOKEN_KEY_FILE);
        read_text(path, key_before, sizeof(key_before));
        assert_int_equal(jwks_key_count(f, NULL), 1);

        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL, got_old), 0);
        assert_string_equal(got_old, old_kid);
        assert_string_not_equal(tp_signer_kid(f->signer), old_kid);
        assert_true(is_b64url(tp_signer_kid(f->signer), 43));

        /* Files: a new private key, the old public key and its record. */
        read_text(path, key_after, sizeof(key_after));
        assert_string_not_equal(key_before, key_after);
        assert_int_equal(file_mode(f->dir, TP_TOKEN_KEY_FILE), 0600);
        assert_int_equal(dir_mode(f->dir, TP_TOKEN_KEYS_DIR), 0755);
        retained_path(path, f, old_kid, TP_TOKEN_RETAINED_PUB_SUFFIX);
        assert_int_equal(tp_jwt_verify_pem(path, old_tok, NOW, &got), 0);
        assert_string_equal(got.kid, old_kid);
        retained_path(path, f, old_kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX);
        read_text(path, text, sizeof(text));
        assert_string_equal(text, "1700001000\n");
        assert_int_equal(jwks_key_count(f, first), 2);
        assert_string_equal(first, tp_signer_kid(f->signer));
        assert_true(jwks_has(f, old_kid));

        /* The old token verifies by its kid; new tokens carry the new kid. */
        assert_int_equal(tp_signer_verify(f->signer, old_tok, NOW, &got), 0);
        assert_claims_equal(&got, &c);
        claims_base(&c);
        assert_int_equal(tp_jwt_sign(f->signer, &c, new_tok, sizeof(new_tok)), 0);
        assert_string_equal(c.kid, tp_signer_kid(f->signer));
        assert_int_equal(tp_signer_verify(f->signer, new_tok, NOW, &got), 0);
        /* signing-key.pub.pem is the current key only. */
        assert_int_equal(tp_jwt_verify_pem(f->pub, new_tok, NOW, &got), 0);
        assert_int_equal(tp_jwt_verify_pem(f->pub, old_tok, NOW, &got), -EKEYREJECTED);

        /* After a restart: the same keys. */
        reopen_at(f, RETAIN_UNTIL - 1);
        assert_string_equal(tp_signer_kid(f->signer), c.kid);
        assert_int_equal(tp_signer_verify(f->signer, old_tok, NOW, &got), 0);
        assert_int_equal(tp_signer_verify(f->signer, new_tok, NOW, &got), 0);
        assert_int_equal(jwks_key_count(f, NULL), 2);

        /* Once its time has come the old key is gone, files and all. */
        reopen_at(f, RETAIN_UNTIL);
        assert_int_equal(tp_signer_verify(f->signer, old_tok, NOW, &got), -ENOKEY);
        assert_int_equal(tp_signer_verify(f->signer, new_tok, NOW, &got), 0);
        assert_int_equal(jwks_key_count(f, first), 1);
        assert_string_equal(first, c.kid);
        assert_false(exists(path));
        retained_path(path, f, old_kid, TP_TOKEN_RETAINED_PUB_SUFFIX);
        assert_false(exists(path));
}

static void test_rotate_twice_orders_jwks(void **state)
{
        struct fixture *f = *state;
        char a[TP_KID_LEN + 1], b[TP_KID_LEN + 1], first[64], tok_a[TP_TOKEN_MAX];
        struct tp_jwt_claims c, got;

        sign_base(f, tok_a, &c);
        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL, a), 0);
        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW + 1, RETAIN_UNTIL + 100, b), 0);
        assert_string_not_equal(a, b);
        assert_int_equal(jwks_key_count(f, first), 3);
        assert_string_equal(first, tp_signer_kid(f->signer));
        assert_int_equal(tp_signer_verify(f->signer, tok_a, NOW, &got), 0);
        /* A later rotation prunes what has run out, in memory and on disk. */
        assert_int_equal(tp_signer_rotate(f->signer, RETAIN_UNTIL, RETAIN_UNTIL + 200, b), 0);
        assert_int_equal(jwks_key_count(f, NULL), 3);
        assert_false(jwks_has(f, a));
        assert_int_equal(tp_signer_verify(f->signer, tok_a, NOW, &got), -ENOKEY);
        reopen_at(f, RETAIN_UNTIL);
        assert_int_equal(jwks_key_count(f, NULL), 3);
        assert_int_equal(tp_signer_verify(f->signer, tok_a, NOW, &got), -ENOKEY);
}

static void test_rotate_limit(void **state)
{
        struct fixture *f = *state;
        char old[TP_KID_LEN + 1], kid[TP_KID_LEN + 1];
        size_t i;

        for (i = 0; i < TP_SIGNER_RETAINED_MAX; i++)
                assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL + (int64_t)i, old), 0);
        assert_int_equal(jwks_key_count(f, NULL), TP_SIGNER_RETAINED_MAX + 1);
        strcpy(kid, tp_signer_kid(f->signer));
        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL, old), -ENOSPC);
        assert_string_equal(tp_signer_kid(f->signer), kid);
        reopen_at(f, ROTATE_NOW);
        assert_string_equal(tp_signer_kid(f->signer), kid);
        /* One has run out: room for one more. */
        assert_int_equal(tp_signer_rotate(f->signer, RETAIN_UNTIL, RETAIN_UNTIL + 5000, old), 0);
        assert_int_equal(jwks_key_count(f, NULL), TP_SIGNER_RETAINED_MAX + 1);
}

/* A rotation stopped after the old key's record was written but before the
 * private key was replaced: the old key is still current and its record is
 * dropped. A key file without a record is dropped too. */
static void test_open_after_interrupted_rotation(void **state)
{
        struct fixture *f = *state;
        char kid[64], path[PATH_MAX], pem[4096], stray[TP_KID_LEN + 1];
        struct tp_signer *other = NULL;
        char dir[PATH_MAX], other_pub[PATH_MAX];

        strcpy(kid, tp_signer_kid(f->signer));
        read_text(f->pub, pem, sizeof(pem));
        retained_path(path, f, kid, TP_TOKEN_RETAINED_PUB_SUFFIX);
        write_text(path, pem, 0644);
        retained_path(path, f, kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX);
        write_text(path, "1700001000\n", 0644);

        make_tmpdir(dir);
        assert_int_equal(tp_signer_open(dir, &other), 0);
        strcpy(stray, tp_signer_kid(other));
        path_in(other_pub, dir, TP_TOKEN_PUB_FILE);
        read_text(other_pub, pem, sizeof(pem));
        tp_signer_free(other);
        remove_tree(dir);
        retained_path(path, f, stray, TP_TOKEN_RETAINED_PUB_SUFFIX);
        write_text(path, pem, 0644);

        reopen_at(f, ROTATE_NOW);
        assert_string_equal(tp_signer_kid(f->signer), kid);
        assert_int_equal(jwks_key_count(f, NULL), 1);
        assert_false(exists(path));
        retained_path(path, f, kid, TP_TOKEN_RETAINED_PUB_SUFFIX);
        assert_false(exists(path));
        retained_path(path, f, kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX);
        assert_false(exists(path));
}

static void test_open_refuses_bad_retained_files(void **state)
{
        static const char *bad_until[] = { "", "\n", "1700001000", "01700001000\n", "-1\n", "+5\n",
                                           " 1700001000\n", "1700001000\n\n", "17x\n",
                                           "9223372036854775808\n", "99999999999999999999999999999999\n" };
        struct fixture *f = *state;
        struct tp_signer *s = NULL;
        char old[TP_KID_LEN + 1], path[PATH_MAX], keys[PATH_MAX], pem[4096], other_pem[PATH_MAX];
        size_t i;

        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL, old), 0);
        retained_path(path, f, old, TP_TOKEN_RETAINED_UNTIL_SUFFIX);
        for (i = 0; i < sizeof(bad_until) / sizeof(bad_until[0]); i++) {
                write_text(path, bad_until[i], 0644);
                assert_int_equal(tp_signer_open_at(f->dir, ROTATE_NOW, &s), -EBADMSG);
                assert_null(s);
        }
        /* The edges that parse: the largest time, and a plain one. */
        write_text(path, "9223372036854775807\n", 0644);
        reopen_at(f, ROTATE_NOW);
        write_text(path, "1700001000\n", 0644);
        reopen_at(f, ROTATE_NOW);

        /* Writable by others, or not a plain file: someone could plant a key. */
        assert_int_equal(chmod(path, 0666), 0);
        assert_int_equal(tp_signer_open_at(f->dir, ROTATE_NOW, &s), -EPERM);
        assert_int_equal(chmod(path, 0644), 0);
        path_in(keys, f->dir, TP_TOKEN_KEYS_DIR);
        assert_int_equal(chmod(keys, 0777), 0);
        assert_int_equal(tp_signer_open_at(f->dir, ROTATE_NOW, &s), -EPERM);
        assert_int_equal(chmod(keys, 0755), 0);
        retained_path(path, f, old, TP_TOKEN_RETAINED_PUB_SUFFIX);
        read_text(path, pem, sizeof(pem));
        path_in(other_pem, f->dir, "elsewhere.pem");
        write_text(other_pem, pem, 0644);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(symlink(other_pem, path), 0);
        assert_int_equal(tp_signer_open_at(f->dir, ROTATE_NOW, &s), -EPERM);
        assert_int_equal(unlink(path), 0);

        /* A file that holds another key than its name says. */
        read_text(f->pub, pem, sizeof(pem));
        write_text(path, pem, 0644);
        assert_int_equal(tp_signer_open_at(f->dir, ROTATE_NOW, &s), -EBADMSG);
        assert_int_equal(unlink(other_pem), 0);
        assert_null(s);

        /* keys/ as a symlink is refused too. */
        assert_int_equal(unlink(path), 0);
        retained_path(path, f, old, TP_TOKEN_RETAINED_UNTIL_SUFFIX);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(keys), 0);
        assert_int_equal(symlink("/tmp", keys), 0);
        assert_int_equal(tp_signer_open_at(f->dir, ROTATE_NOW, &s), -EPERM);
        assert_int_equal(unlink(keys), 0);
}

/* A kid is compared with the keys in memory and never becomes a path: a
 * token naming "../x" is unknown, even when dir/x.pub.pem holds the key
 * that signed it. */
static void test_verify_kid_never_a_path(void **state)
{
        static const char *kids[] = { "../attacker", "..", "/", "a/b", "../" TP_TOKEN_KEYS_DIR "/x",
                                      "../../../../../tmp/attacker", "" };
        struct fixture *f = *state;
        char header[256], tok[BIG], path[PATH_MAX];
        struct tp_jwt_claims got;
        EVP_PKEY *attacker;
        FILE *fp;
        size_t i;

        assert_non_null(attacker = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
        path_in(path, f->dir, "attacker" TP_TOKEN_RETAINED_PUB_SUFFIX);
        assert_non_null(fp = fopen(path, "we"));
        assert_int_equal(PEM_write_PUBKEY(fp, attacker), 1);
        fclose(fp);
        for (i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
                CONCAT(header, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"", kids[i], "\"}");
                sign_raw_key(attacker, header, PAYLOAD_OK, strlen(PAYLOAD_OK), tok);
                /* "" means no kid: the current key, which did not sign it. */
                assert_int_equal(tp_signer_verify(f->signer, tok, RAW_NOW, &got),
                                 kids[i][0] ? -ENOKEY : -EKEYREJECTED);
        }
        EVP_PKEY_free(attacker);
        assert_int_equal(unlink(path), 0);
}

/* ---- what a start writes, the end of a retained key, revocation ----------- */

static void stat_in(const char *dir, const char *name, struct stat *st)
{
        char p[PATH_MAX];

        path_in(p, dir, name);
        assert_int_equal(lstat(p, st), 0);
}

/* Reopening with nothing changed writes nothing: the published files keep
 * their inode (a rewrite renames a new file over them). What differs from
 * what they must hold is rewritten: content, mode, a symlink in place. */
static void test_open_writes_only_what_changed(void **state)
{
        struct fixture *f = *state;
        struct stat pub1, jwks1, pub2, jwks2;
        char path[PATH_MAX], jwks[BIG], jwks_again[BIG], pem[4096], pem_again[4096];

        stat_in(f->dir, TP_TOKEN_PUB_FILE, &pub1);
        stat_in(f->dir, TP_TOKEN_JWKS_FILE, &jwks1);
        path_in(path, f->dir, TP_TOKEN_JWKS_FILE);
        read_text(path, jwks, sizeof(jwks));
        read_text(f->pub, pem, sizeof(pem));
        reopen_at(f, NOW);
        stat_in(f->dir, TP_TOKEN_PUB_FILE, &pub2);
        stat_in(f->dir, TP_TOKEN_JWKS_FILE, &jwks2);
        assert_true(pub1.st_ino == pub2.st_ino && jwks1.st_ino == jwks2.st_ino);

        /* Damaged content, a wrong mode, a file the size of the right one
         * but not the same bytes: each is written again. */
        write_text(path, "{\"keys\":[]}\n", 0644);
        reopen_at(f, NOW);
        read_text(path, jwks_again, sizeof(jwks_again));
        assert_string_equal(jwks_again, jwks);
        assert_int_equal(chmod(f->pub, 0600), 0);
        reopen_at(f, NOW);
        assert_int_equal(file_mode(f->dir, TP_TOKEN_PUB_FILE), 0644);
        pem[10] ^= 1;
        write_text(f->pub, pem, 0644);
        pem[10] ^= 1;
        reopen_at(f, NOW);
        read_text(f->pub, pem_again, sizeof(pem_again));
        assert_string_equal(pem_again, pem);
        assert_int_equal(unlink(f->pub), 0);
        assert_int_equal(symlink(path, f->pub), 0);
        reopen_at(f, NOW);
        assert_int_equal(file_mode(f->dir, TP_TOKEN_PUB_FILE), 0644);
        read_text(f->pub, pem_again, sizeof(pem_again));
        assert_string_equal(pem_again, pem);
}

/* Where a start failed is named, so that the message blames the right
 * file. */
static void test_open_reports_step(void **state)
{
        struct fixture *f = *state;
        struct tp_signer *s = NULL;
        const char *step = NULL;
        char path[PATH_MAX];

        path_in(path, f->dir, TP_TOKEN_JWKS_FILE);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkdir(path, 0755), 0); /* cannot be renamed over */
        assert_int_equal(tp_signer_open_report(f->dir, NOW, &s, &step), -EISDIR);
        assert_null(s);
        assert_string_equal(step, "writing " TP_TOKEN_JWKS_FILE);
        assert_int_equal(rmdir(path), 0);
        path_in(path, f->dir, TP_TOKEN_KEY_FILE);
        assert_int_equal(chmod(path, 0640), 0);
        assert_int_equal(tp_signer_open_report(f->dir, NOW, &s, &step), -EPERM);
        assert_string_equal(step, "reading the signing key " TP_TOKEN_KEY_FILE);
        assert_int_equal(chmod(path, 0600), 0);
        step = NULL;
        assert_int_equal(tp_signer_open_report(f->dir, NOW, &s, &step), 0);
        assert_null(step);
        tp_signer_free(s);
}

struct dropped_keys {
        size_t n;
        char kid[4][TP_KID_LEN + 1];
        int64_t until[4];
};

static void note_dropped(const char *kid, int64_t until, void *userdata)
{
        struct dropped_keys *d = userdata;

        assert_true(d->n < 4);
        strcpy(d->kid[d->n], kid);
        d->until[d->n++] = until;
}

/* A retained key is trusted until its time and not a second longer, in
 * the running signer (no reopen); tp_signer_expire then removes it from
 * disk and the JWKS. */
static void test_retained_key_untrusted_after_its_time(void **state)
{
        struct fixture *f = *state;
        char tok[TP_TOKEN_MAX], old_kid[TP_KID_LEN + 1], path[PATH_MAX];
        struct dropped_keys d = { 0 };
        struct tp_jwt_claims c, got;
        int64_t until = 0;

        sign_base(f, tok, &c); /* valid until NOW + 12 h, well past RETAIN_UNTIL */
        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL, old_kid), 0);
        assert_int_equal(tp_retained_key_until(f->dir, old_kid, &until), 0);
        assert_int_equal(until, RETAIN_UNTIL);
        assert_int_equal(tp_signer_verify(f->signer, tok, RETAIN_UNTIL - 1, &got), 0);
        assert_int_equal(tp_signer_verify(f->signer, tok, RETAIN_UNTIL, &got), -ENOKEY);
        assert_int_equal(tp_signer_verify(f->signer, tok, RETAIN_UNTIL + 3600, &got), -ENOKEY);

        /* Nothing due: nothing done. */
        assert_int_equal(tp_signer_expire(f->signer, RETAIN_UNTIL - 1, note_dropped, &d), 0);
        assert_int_equal(d.n, 0);
        assert_int_equal(jwks_key_count(f, NULL), 2);
        retained_path(path, f, old_kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX);
        assert_true(exists(path));

        assert_int_equal(tp_signer_expire(f->signer, RETAIN_UNTIL, note_dropped, &d), 0);
        assert_int_equal(d.n, 1);
        assert_string_equal(d.kid[0], old_kid);
        assert_int_equal(d.until[0], RETAIN_UNTIL);
        assert_int_equal(jwks_key_count(f, NULL), 1);
        assert_false(jwks_has(f, old_kid));
        assert_false(exists(path));
        retained_path(path, f, old_kid, TP_TOKEN_RETAINED_PUB_SUFFIX);
        assert_false(exists(path));
        assert_int_equal(tp_retained_key_until(f->dir, old_kid, &until), -ENOENT);
        assert_int_equal(tp_signer_expire(f->signer, RETAIN_UNTIL + 1, note_dropped, &d), 0);
        assert_int_equal(d.n, 1);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), -ENOKEY);
}

static void test_revoke_retained_key(void **state)
{
        struct fixture *f = *state;
        char tok[TP_TOKEN_MAX], new_tok[TP_TOKEN_MAX], a[TP_KID_LEN + 1], b[TP_KID_LEN + 1];
        char current[TP_KID_LEN + 1], path[PATH_MAX], unknown[TP_KID_LEN + 1];
        struct tp_jwt_claims c, got;
        bool rotated = true;
        int64_t until;

        sign_base(f, tok, &c);
        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL, a), 0);
        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL + 10, b), 0);
        strcpy(current, tp_signer_kid(f->signer));
        sign_base(f, new_tok, &c);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), 0);
        assert_int_equal(jwks_key_count(f, NULL), 3);

        assert_int_equal(tp_signer_revoke(f->signer, a, NOW, &rotated), 0);
        assert_false(rotated);
        assert_string_equal(tp_signer_kid(f->signer), current);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), -ENOKEY);
        assert_int_equal(tp_signer_verify(f->signer, new_tok, NOW, &got), 0);
        assert_int_equal(jwks_key_count(f, NULL), 2);
        assert_false(jwks_has(f, a));
        assert_true(jwks_has(f, b));
        retained_path(path, f, a, TP_TOKEN_RETAINED_UNTIL_SUFFIX);
        assert_false(exists(path));
        retained_path(path, f, a, TP_TOKEN_RETAINED_PUB_SUFFIX);
        assert_false(exists(path));
        assert_int_equal(tp_retained_key_until(f->dir, a, &until), -ENOENT);
        assert_int_equal(tp_retained_key_until(f->dir, b, &until), 0);

        /* For good: a restart does not bring it back. */
        reopen_at(f, NOW);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), -ENOKEY);
        assert_int_equal(jwks_key_count(f, NULL), 2);

        /* Unknown, already revoked, or not a key id: nothing changes. */
        assert_int_equal(tp_signer_revoke(f->signer, a, NOW, &rotated), -ENOENT);
        memset(unknown, 'A', TP_KID_LEN);
        unknown[TP_KID_LEN] = '\0';
        assert_int_equal(tp_signer_revoke(f->signer, unknown, NOW, &rotated), -ENOENT);
        assert_int_equal(tp_signer_revoke(f->signer, "../signing-key", NOW, &rotated), -EINVAL);
        assert_int_equal(tp_signer_revoke(f->signer, "", NOW, &rotated), -EINVAL);
        assert_int_equal(tp_retained_key_until(f->dir, "../x", &until), -EINVAL);
        assert_int_equal(jwks_key_count(f, NULL), 2);
        assert_string_equal(tp_signer_kid(f->signer), current);
}

/* Revoking the key in use replaces it without retaining it: what it signed
 * no longer verifies, the retained keys stay. */
static void test_revoke_current_key(void **state)
{
        struct fixture *f = *state;
        char tok[TP_TOKEN_MAX], old_tok[TP_TOKEN_MAX], next_tok[TP_TOKEN_MAX];
        char old[TP_KID_LEN + 1], current[TP_KID_LEN + 1], first[64], path[PATH_MAX];
        char key_before[4096], key_after[4096];
        struct tp_jwt_claims c, got;
        bool rotated = false;
        int64_t until;

        sign_base(f, old_tok, &c);
        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL, old), 0);
        strcpy(current, tp_signer_kid(f->signer));
        sign_base(f, tok, &c);
        path_in(path, f->dir, TP_TOKEN_KEY_FILE);
        read_text(path, key_before, sizeof(key_before));

        assert_int_equal(tp_signer_revoke(f->signer, current, NOW, &rotated), 0);
        assert_true(rotated);
        assert_string_not_equal(tp_signer_kid(f->signer), current);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), -ENOKEY);
        assert_int_equal(tp_signer_verify(f->signer, old_tok, NOW, &got), 0);
        read_text(path, key_after, sizeof(key_after));
        assert_string_not_equal(key_before, key_after);
        assert_int_equal(file_mode(f->dir, TP_TOKEN_KEY_FILE), 0600);
        assert_int_equal(jwks_key_count(f, first), 2);
        assert_string_equal(first, tp_signer_kid(f->signer));
        assert_false(jwks_has(f, current));
        assert_true(jwks_has(f, old));
        assert_int_equal(tp_retained_key_until(f->dir, current, &until), -ENOENT);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), -EKEYREJECTED);
        sign_base(f, next_tok, &c);
        assert_int_equal(tp_jwt_verify_pem(f->pub, next_tok, NOW, &got), 0);

        strcpy(current, tp_signer_kid(f->signer));
        reopen_at(f, NOW);
        assert_string_equal(tp_signer_kid(f->signer), current);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), -ENOKEY);
        assert_int_equal(tp_signer_verify(f->signer, next_tok, NOW, &got), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_session_id_hex_and_unique),
                cmocka_unit_test(test_session_id_time_ordered),
                cmocka_unit_test(test_refresh_token_format_and_hash),
                cmocka_unit_test(test_hash_equal),
                cmocka_unit_test(test_secret_wipe),
                cmocka_unit_test(test_signer_modes_whatever_the_umask),
                cmocka_unit_test_setup_teardown(test_signer_reopens_same_key, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_signer_refuses_wide_permissions, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_signer_refuses_foreign_owner, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_signer_refuses_symlink, fixture_setup, fixture_teardown),
                cmocka_unit_test(test_signer_refuses_bad_files),
                cmocka_unit_test_setup_teardown(test_jwks_matches_public_key, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_sign_verify_round_trip, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_signature_equals_openssl_s, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_sign_fills_only_empty_fields, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_sign_output_buffer_edge, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_token_size_limit, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_escaped_strings_round_trip, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_rejects_tampered_signature, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_rejects_tampered_payload, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_algorithm_is_fixed, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_rejects_other_key, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_key_file_errors, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_expiry_edge, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_iat_leeway_edge, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_rejects_wrong_part_count, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_rejects_bad_base64, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_signature_length, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_order_whitespace_and_unknown, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_reject_duplicates, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_reject_non_scalar_values, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_integers, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_string_limits, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_member_count_limit, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_reject_trailing_garbage, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_string_escapes, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_claims_all_required, fixture_setup, fixture_teardown),
                cmocka_unit_test(test_kid_valid),
                cmocka_unit_test_setup_teardown(test_signer_verify_current_key, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_rotate_keeps_old_tokens_verifying, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_rotate_twice_orders_jwks, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_rotate_limit, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_open_after_interrupted_rotation, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_open_refuses_bad_retained_files, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_kid_never_a_path, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_open_writes_only_what_changed, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_open_reports_step, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_retained_key_untrusted_after_its_time, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_revoke_retained_key, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_revoke_current_key, fixture_setup, fixture_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
