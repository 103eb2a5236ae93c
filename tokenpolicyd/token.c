/* token.c: random identifiers, refresh-token hashes, the Ed25519 signing
 * key and compact JWTs (sign and verify). The only file that includes
 * OpenSSL.
 *
 * Must never: log; leave a secret in memory it frees; write the private
 * key anywhere but a 0600 file created with O_EXCL; follow a symlink to the
 * private key; take the signature algorithm from a token; or parse a token
 * without a bound (everything is sized by TP_TOKEN_MAX, nothing recurses).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "token.h"

#define KEY_FILE_MAX 16384           /* an Ed25519 PEM is ~120 bytes */
#define ED25519_RAW_LEN 32
#define ED25519_SIG_LEN 64
#define IAT_LEEWAY_SEC 60
#define KID_LEN 43                   /* base64url of a SHA-256 */
#define JWT_PART_MAX (TP_TOKEN_MAX / 4 * 3 + 3) /* decoded size of any part */
#define PAYLOAD_JSON_MAX (2 * TP_TOKEN_MAX)
#define JSON_MEMBERS_MAX 16
#define JSON_KEY_MAX 32
#define JSON_STRING_MAX TP_USER_MAX  /* longest string claim, with NUL */

static const char b64url_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- encodings ----------------------------------------------------------- */

static int b64url_encode(const uint8_t *in, size_t n, char *out, size_t outsz, size_t *ret_len)
{
        size_t need = n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
        size_t i, o = 0;

        if (need >= outsz)
                return -ENOBUFS;
        for (i = 0; i + 3 <= n; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
                out[o++] = b64url_alphabet[v >> 18 & 63];
                out[o++] = b64url_alphabet[v >> 12 & 63];
                out[o++] = b64url_alphabet[v >> 6 & 63];
                out[o++] = b64url_alphabet[v & 63];
        }
        if (n - i == 1) {
                uint32_t v = (uint32_t)in[i] << 16;
                out[o++] = b64url_alphabet[v >> 18 & 63];
                out[o++] = b64url_alphabet[v >> 12 & 63];
        } else if (n - i == 2) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
                out[o++] = b64url_alphabet[v >> 18 & 63];
                out[o++] = b64url_alphabet[v >> 12 & 63];
                out[o++] = b64url_alphabet[v >> 6 & 63];
        }
        out[o] = '\0';
        *ret_len = o;
        return 0;
}

static int b64url_value(unsigned char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '-')
                return 62;
        if (c == '_')
                return 63;
        return -1;
}

/* Strict: unpadded, base64url alphabet only, canonical (the unused low bits
 * of the last character are zero), so one byte string has one encoding. */
static int b64url_decode(const char *in, size_t n, uint8_t *out, size_t outsz, size_t *ret_len)
{
        uint32_t acc = 0;
        unsigned bits = 0;
        size_t i, o = 0;

        if (n % 4 == 1)
                return -EBADMSG;
        if (n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > outsz)
                return -EBADMSG;
        for (i = 0; i < n; i++) {
                int v = b64url_value((unsigned char)in[i]);

                if (v < 0)
                        return -EBADMSG;
                acc = acc << 6 | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (uint8_t)(acc >> bits);
                        acc &= (1u << bits) - 1;
                }
        }
        if (acc != 0)
                return -EBADMSG;
        *ret_len = o;
        return 0;
}

static void hex_lower(const uint8_t *in, size_t n, char *out)
{
        static const char digits[] = "0123456789abcdef";
        size_t i;

        for (i = 0; i < n; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 15];
        }
        out[2 * n] = '\0';
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, nothing past U+10FFFF), or 0 when there is none. */
static size_t utf8_sequence_length(const unsigned char *s, size_t avail)
{
        unsigned char lo = 0x80, hi = 0xbf;
        size_t n, i;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                n = 2;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                n = 3;
                if (s[0] == 0xe0)
                        lo = 0xa0;
                else if (s[0] == 0xed)
                        hi = 0x9f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                n = 4;
                if (s[0] == 0xf0)
                        lo = 0x90;
                else if (s[0] == 0xf4)
                        hi = 0x8f;
        } else {
                return 0;
        }
        if (n > avail || s[1] < lo || s[1] > hi)
                return 0;
        for (i = 2; i < n; i++)
                if (s[i] < 0x80 || s[i] > 0xbf)
                        return 0;
        return n;
}

/* ---- random values and hashes -------------------------------------------- */

int tp_session_id_new(char out[TP_SESSION_ID_MAX])
{
        uint8_t raw[(TP_SESSION_ID_MAX - 1) / 2];

        if (RAND_bytes(raw, sizeof(raw)) != 1)
                return -EIO;
        hex_lower(raw, sizeof(raw), out);
        return 0;
}

static int sha256(const void *data, size_t len, uint8_t out[TP_SHA256_LEN])
{
        unsigned int mdlen = 0;

        if (EVP_Digest(data, len, out, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != TP_SHA256_LEN)
                return -EIO;
        return 0;
}

int tp_refresh_token_new(char out[TP_REFRESH_TOKEN_TEXT], uint8_t hash[TP_SHA256_LEN])
{
        uint8_t raw[TP_REFRESH_TOKEN_BYTES], h[TP_SHA256_LEN];
        char text[TP_REFRESH_TOKEN_TEXT];
        size_t len;
        int r;

        if (RAND_bytes(raw, sizeof(raw)) != 1) {
                r = -EIO;
                goto out;
        }
        if ((r = b64url_encode(raw, sizeof(raw), text, sizeof(text), &len)) < 0 ||
            (r = sha256(text, len, h)) < 0)
                goto out;
        memcpy(out, text, len + 1);
        memcpy(hash, h, sizeof(h));
out:
        OPENSSL_cleanse(raw, sizeof(raw));
        OPENSSL_cleanse(text, sizeof(text));
        return r;
}

int tp_refresh_token_hash(const char *token, uint8_t hash[TP_SHA256_LEN])
{
        return sha256(token, strlen(token), hash);
}

bool tp_hash_equal(const uint8_t a[TP_SHA256_LEN], const uint8_t b[TP_SHA256_LEN])
{
        return CRYPTO_memcmp(a, b, TP_SHA256_LEN) == 0;
}

void tp_secret_wipe(void *p, size_t n)
{
        if (p)
                OPENSSL_cleanse(p, n);
}

/* ---- JSON output: a bounded buffer and a string escaper ------------------- */

struct json_out {
        char *buf;
        size_t len, size;
        bool overflow;
};

static void json_put(struct json_out *j, const char *s, size_t n)
{
        if (j->overflow || n >= j->size - j->len) {
                j->overflow = true;
                return;
        }
        memcpy(j->buf + j->len, s, n);
        j->len += n;
        j->buf[j->len] = '\0';
}

static void json_puts(struct json_out *j, const char *s)
{
        json_put(j, s, strlen(s));
}

static void json_put_int(struct json_out *j, int64_t v)
{
        char num[24];
        int n = snprintf(num, sizeof(num), "%" PRId64, v);

        json_put(j, num, (size_t)n);
}

/* A quoted JSON string: quote and backslash escaped, control characters as
 * \u00XX, UTF-8 passed through. -EINVAL for bytes that are not UTF-8. */
static int json_put_string(struct json_out *j, const char *s)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t avail = strlen(s);

        json_put(j, "\"", 1);
        while (avail > 0) {
                size_t n = utf8_sequence_length(p, avail);
                char esc[8];

                if (n == 0)
                        return -EINVAL;
                if (*p == '"' || *p == '\\') {
                        esc[0] = '\\';
                        esc[1] = (char)*p;
                        json_put(j, esc, 2);
                } else if (*p < 0x20) {
                        snprintf(esc, sizeof(esc), "\\u%04x", *p);
                        json_put(j, esc, 6);
                } else {
                        json_put(j, (const char *)p, n);
                }
                p += n;
                avail -= n;
        }
        json_put(j, "\"", 1);
        return 0;
}

/* ---- JSON input: flat objects of strings and integers --------------------- */

enum json_kind { JSON_STRING, JSON_INTEGER };

struct json_member {
        char key[JSON_KEY_MAX];
        enum json_kind kind;
        char string[JSON_STRING_MAX];
        int64_t integer;
};

struct json_object {
        size_t n;
        struct json_member members[JSON_MEMBERS_MAX];
};

struct json_cursor {
        const char *p, *end;
};

static void json_skip_space(struct json_cursor *c)
{
        while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
                c->p++;
}

static int json_hex4(const char *p, uint32_t *ret)
{
        uint32_t v = 0;
        int i;

        for (i = 0; i < 4; i++) {
                char ch = p[i];

                v <<= 4;
                if (ch >= '0' && ch <= '9')
                        v |= (uint32_t)(ch - '0');
                else if (ch >= 'a' && ch <= 'f')
                        v |= (uint32_t)(ch - 'a' + 10);
                else if (ch >= 'A' && ch <= 'F')
                        v |= (uint32_t)(ch - 'A' + 10);
                else
                        return -EBADMSG;
        }
        *ret = v;
        return 0;
}

/* A quoted string into out (NUL-terminated). Escapes: the JSON set, with
 * \uXXXX limited to the BMP without surrogates and without U+0000. Raw
 * bytes must be UTF-8 and not control characters. */
static int json_parse_string(struct json_cursor *c, char *out, size_t outsz)
{
        size_t o = 0;

        if (c->p >= c->end || *c->p != '"')
                return -EBADMSG;
        c->p++;
        for (;;) {
                char buf[4];
                size_t n;

                if (c->p >= c->end)
                        return -EBADMSG;
                if (*c->p == '"') {
                        c->p++;
                        break;
                }
                if ((unsigned char)*c->p < 0x20)
                        return -EBADMSG;
                if (*c->p == '\\') {
                        uint32_t cp;

                        if (c->end - c->p < 2)
                                return -EBADMSG;
                        n = 1;
                        switch (c->p[1]) {
                        case '"': buf[0] = '"'; break;
                        case '\\': buf[0] = '\\'; break;
                        case '/': buf[0] = '/'; break;
                        case 'b': buf[0] = '\b'; break;
                        case 'f': buf[0] = '\f'; break;
                        case 'n': buf[0] = '\n'; break;
                        case 'r': buf[0] = '\r'; break;
                        case 't': buf[0] = '\t'; break;
                        case 'u':
                                if (c->end - c->p < 6 || json_hex4(c->p + 2, &cp) < 0 ||
                                    cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
                                        return -EBADMSG;
                                if (cp < 0x80) {
                                        buf[0] = (char)cp;
                                } else if (cp < 0x800) {
                                        buf[0] = (char)(0xc0 | cp >> 6);
                                        buf[1] = (char)(0x80 | (cp & 0x3f));
                                        n = 2;
                                } else {
                                        buf[0] = (char)(0xe0 | cp >> 12);
                                        buf[1] = (char)(0x80 | (cp >> 6 & 0x3f));
                                        buf[2] = (char)(0x80 | (cp & 0x3f));
                                        n = 3;
                                }
                                c->p += 4;
                                break;
                        default:
                                return -EBADMSG;
                        }
                        c->p += 2;
                } else {
                        n = utf8_sequence_length((const unsigned char *)c->p, (size_t)(c->end - c->p));
                        if (n == 0)
                                return -EBADMSG;
                        memcpy(buf, c->p, n);
                        c->p += n;
                }
                if (n >= outsz - o)
                        return -EBADMSG;
                memcpy(out + o, buf, n);
                o += n;
        }
        out[o] = '\0';
        return 0;
}

/* An integer: JSON number grammar without fraction or exponent, within
 * int64_t. */
static int json_parse_integer(struct json_cursor *c, int64_t *ret)
{
        bool negative = false;
        uint64_t v = 0, limit;

        if (c->p < c->end && *c->p == '-') {
                negative = true;
                c->p++;
        }
        limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
                return -EBADMSG;
        if (*c->p == '0' && c->end - c->p > 1 && c->p[1] >= '0' && c->p[1] <= '9')
                return -EBADMSG;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
                unsigned d = (unsigned)(*c->p - '0');

                if (v > (limit - d) / 10)
                        return -EBADMSG;
                v = v * 10 + d;
                c->p++;
        }
        if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
                return -EBADMSG;
        if (negative)
                *ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
        else
                *ret = (int64_t)v;
        return 0;
}

/* One whole text must be one flat object: no nesting, no arrays, no
 * literals, no duplicate keys, nothing after the closing brace. */
static int json_parse_flat_object(const char *text, size_t len, struct json_object *obj)
{
        struct json_cursor c = { text, text + len };
        int r;

        obj->n = 0;
        json_skip_space(&c);
        if (c.p >= c.end || *c.p != '{')
                return -EBADMSG;
        c.p++;
        json_skip_space(&c);
        if (c.p < c.end && *c.p == '}') {
                c.p++;
        } else {
                for (;;) {
                        struct json_member *m;
                        size_t i;

                        if (obj->n == JSON_MEMBERS_MAX)
                                return -EBADMSG;
                        m = &obj->members[obj->n];
                        if ((r = json_parse_string(&c, m->key, sizeof(m->key))) < 0)
                                return r;
                        for (i = 0; i < obj->n; i++)
                                if (strcmp(obj->members[i].key, m->key) == 0)
                                        return -EBADMSG;
                        json_skip_space(&c);
                        if (c.p >= c.end || *c.p != ':')
                                return -EBADMSG;
                        c.p++;
                        json_skip_space(&c);
                        if (c.p < c.end && *c.p == '"') {
                                m->kind = JSON_STRING;
                                r = json_parse_string(&c, m->string, sizeof(m->string));
                        } else {
                                m->kind = JSON_INTEGER;
                                r = json_parse_integer(&c, &m->integer);
                        }
                        if (r < 0)
                                return r;
                        obj->n++;
                        json_skip_space(&c);
                        if (c.p < c.end && *c.p == ',') {
                                c.p++;
                                json_skip_space(&c);
                                continue;
                        }
                        if (c.p < c.end && *c.p == '}') {
                                c.p++;
                                break;
                        }
                        return -EBADMSG;
                }
        }
        json_skip_space(&c);
        return c.p == c.end ? 0 : -EBADMSG;
}

static const struct json_member *json_get(const struct json_object *obj, const char *key)
{
        size_t i;

        for (i = 0; i < obj->n; i++)
                if (strcmp(obj->members[i].key, key) == 0)
                        return &obj->members[i];
        return NULL;
}

static int claim_string(const struct json_object *obj, const char *key, char *out, size_t outsz)
{
        const struct json_member *m = json_get(obj, key);

        if (!m || m->kind != JSON_STRING || strlen(m->string) >= outsz)
                return -EBADMSG;
        memcpy(out, m->string, strlen(m->string) + 1);
        return 0;
}

static int claim_integer(const struct json_object *obj, const char *key, int64_t *ret)
{
        const struct json_member *m = json_get(obj, key);

        if (!m || m->kind != JSON_INTEGER)
                return -EBADMSG;
        *ret = m->integer;
        return 0;
}

/* ---- files ----------------------------------------------------------------- */

static int read_fd_bounded(int fd, char *buf, size_t bufsz, size_t *ret_len)
{
        size_t len = 0;

        for (;;) {
                ssize_t n;

                if (len == bufsz)
                        return -EFBIG;
                n = read(fd, buf + len, bufsz - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        *ret_len = len;
        return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, data, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                data += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Write name in dirfd all at once: a fresh temporary file (O_EXCL, never
 * wider than 0600 before fchmod sets the final mode whatever the umask),
 * fsync, rename over (or, without `replace`, beside: -EEXIST when the name
 * exists), fsync the directory. A reader sees the old file or the whole
 * new one, never a part. */
static int write_file_atomic(int dirfd, const char *name, const char *data, size_t len,
                             mode_t mode, bool replace)
{
        char tmp[128], suffix[17];
        bool renamed = false;
        uint8_t rnd[8];
        int fd = -1, r, attempt;

        for (attempt = 0; fd < 0; attempt++) {
                if (attempt == 16)
                        return -EEXIST;
                if (RAND_bytes(rnd, sizeof(rnd)) != 1)
                        return -EIO;
                hex_lower(rnd, sizeof(rnd), suffix);
                if (snprintf(tmp, sizeof(tmp), ".%s.%s", name, suffix) >= (int)sizeof(tmp))
                        return -ENAMETOOLONG;
                fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0 && errno != EEXIST)
                        return -errno;
        }
        if (fchmod(fd, mode) < 0) {
                r = -errno;
                goto out;
        }
        if ((r = write_all(fd, data, len)) < 0)
                goto out;
        if (fsync(fd) < 0) {
                r = -errno;
                goto out;
        }
        r = close(fd);
        fd = -1;
        if (r < 0) {
                r = -errno;
                goto out;
        }
        if (replace)
                r = renameat(dirfd, tmp, dirfd, name);
        else
                r = renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE);
        if (r < 0) {
                r = -errno;
                goto out;
        }
        renamed = true;
        r = fsync(dirfd) < 0 ? -errno : 0;
out:
        if (fd >= 0)
                close(fd);
        if (!renamed)
                unlinkat(dirfd, tmp, 0);
        return r;
}

static int pkey_require_ed25519(EVP_PKEY *pkey)
{
        return EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519 ? 0 : -EINVAL;
}

/* The private key file must be ours alone: a regular file (not a symlink:
 * O_NOFOLLOW, and the checks are made on the open descriptor), owned by
 * the effective user, without any group or other permission. */
static int signer_load_key(int dirfd, EVP_PKEY **ret)
{
        char buf[KEY_FILE_MAX];
        EVP_PKEY *pkey = NULL;
        BIO *bio = NULL;
        struct stat st;
        size_t len = 0;
        int fd, r;

        fd = openat(dirfd, TP_TOKEN_KEY_FILE, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return errno == ELOOP ? -EPERM : -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
                r = -EPERM;
                goto out;
        }
        if ((r = read_fd_bounded(fd, buf, sizeof(buf), &len)) < 0)
                goto out;
        if (!(bio = BIO_new_mem_buf(buf, (int)len))) {
                r = -ENOMEM;
                goto out;
        }
        if (!(pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) ||
            (r = pkey_require_ed25519(pkey)) < 0) {
                r = -EINVAL;
                goto out;
        }
        *ret = pkey;
        pkey = NULL;
        r = 0;
out:
        EVP_PKEY_free(pkey);
        BIO_free(bio);
        OPENSSL_cleanse(buf, sizeof(buf));
        close(fd);
        return r;
}

static int signer_create_key(int dirfd, EVP_PKEY **ret)
{
        EVP_PKEY *pkey = NULL;
        BIO *bio = NULL;
        char *pem;
        long len;
        int r;

        if (!(pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"))) {
                r = -EIO;
                goto out;
        }
        /* Secure memory BIO: its buffer is cleansed when freed. */
        if (!(bio = BIO_new(BIO_s_secmem()))) {
                r = -ENOMEM;
                goto out;
        }
        if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
            (len = BIO_get_mem_data(bio, &pem)) <= 0) {
                r = -EIO;
                goto out;
        }
        if ((r = write_file_atomic(dirfd, TP_TOKEN_KEY_FILE, pem, (size_t)len, 0600, false)) < 0)
                goto out;
        *ret = pkey;
        pkey = NULL;
out:
        EVP_PKEY_free(pkey);
        BIO_free(bio);
        return r;
}

/* ---- signer ----------------------------------------------------------------- */

struct tp_signer {
        EVP_PKEY *pkey;
        char kid[KID_LEN + 1];
};

/* The RFC 7638 JWK thumbprint: base64url SHA-256 of the required members
 * in lexicographic order, without whitespace. */
static int jwk_thumbprint(const char *x, char kid[KID_LEN + 1])
{
        char jwk[128];
        uint8_t h[TP_SHA256_LEN];
        size_t len;
        int n, r;

        n = snprintf(jwk, sizeof(jwk), "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
        if (n < 0 || (size_t)n >= sizeof(jwk))
                return -EINVAL;
        if ((r = sha256(jwk, (size_t)n, h)) < 0)
                return r;
        return b64url_encode(h, sizeof(h), kid, KID_LEN + 1, &len);
}

static int signer_publish(int dirfd, EVP_PKEY *pkey, char kid[KID_LEN + 1])
{
        uint8_t raw[ED25519_RAW_LEN];
        size_t rawlen = sizeof(raw), xlen;
        char x[KID_LEN + 1], jwks[512];
        BIO *bio = NULL;
        char *pem;
        long pemlen;
        int n, r;

        if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 || rawlen != sizeof(raw))
                return -EIO;
        if ((r = b64url_encode(raw, rawlen, x, sizeof(x), &xlen)) < 0 ||
            (r = jwk_thumbprint(x, kid)) < 0)
                return r;
        if (!(bio = BIO_new(BIO_s_mem())))
                return -ENOMEM;
        if (PEM_write_bio_PUBKEY(bio, pkey) != 1 || (pemlen = BIO_get_mem_data(bio, &pem)) <= 0) {
                r = -EIO;
                goto out;
        }
        if ((r = write_file_atomic(dirfd, TP_TOKEN_PUB_FILE, pem, (size_t)pemlen, 0644, true)) < 0)
                goto out;
        n = snprintf(jwks, sizeof(jwks),
                     "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"%s\","
                     "\"alg\":\"EdDSA\",\"use\":\"sig\"}]}\n", x, kid);
        if (n < 0 || (size_t)n >= sizeof(jwks)) {
                r = -EINVAL;
                goto out;
        }
        r = write_file_atomic(dirfd, TP_TOKEN_JWKS_FILE, jwks, (size_t)n, 0644, true);
out:
        BIO_free(bio);
        return r;
}

int tp_signer_open(const char *dir, struct tp_signer **ret)
{
        struct tp_signer *s = NULL;
        EVP_PKEY *pkey = NULL;
        char kid[KID_LEN + 1];
        int dirfd, r;

        if (!dir || !ret)
                return -EINVAL;
        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -errno;
        r = signer_load_key(dirfd, &pkey);
        if (r == -ENOENT) {
                r = signer_create_key(dirfd, &pkey);
                /* Another process created it first: use theirs. */
                if (r == -EEXIST)
                        r = signer_load_key(dirfd, &pkey);
        }
        if (r < 0)
                goto out;
        if ((r = signer_publish(dirfd, pkey, kid)) < 0)
                goto out;
        if (!(s = calloc(1, sizeof(*s)))) {
                r = -ENOMEM;
                goto out;
        }
        s->pkey = pkey;
        pkey = NULL;
        memcpy(s->kid, kid, sizeof(kid));
        *ret = s;
        r = 0;
out:
        EVP_PKEY_free(pkey);
        close(dirfd);
        return r;
}

void tp_signer_free(struct tp_signer *s)
{
        if (!s)
                return;
        EVP_PKEY_free(s->pkey);
        free(s);
}

const char *tp_signer_kid(const struct tp_signer *s)
{
        return s->kid;
}

/* ---- JWT ---------------------------------------------------------------------- */

static bool field_terminated(const char *s, size_t size)
{
        return memchr(s, '\0', size) != NULL;
}

int tp_jwt_sign(struct tp_signer *s, struct tp_jwt_claims *c, char *out, size_t outsz)
{
        char header[128], payload[PAYLOAD_JSON_MAX], tok[TP_TOKEN_MAX], jti[TP_SESSION_ID_MAX];
        struct json_out h = { header, 0, sizeof(header), false };
        struct json_out p = { payload, 0, sizeof(payload), false };
        uint8_t sig[ED25519_SIG_LEN];
        size_t siglen = sizeof(sig), len, n;
        EVP_MD_CTX *md = NULL;
        int r;

        if (!s || !c || !out)
                return -EINVAL;
        if (!field_terminated(c->iss, sizeof(c->iss)) || !field_terminated(c->sub, sizeof(c->sub)) ||
            !field_terminated(c->sid, sizeof(c->sid)) || !field_terminated(c->client, sizeof(c->client)) ||
            !field_terminated(c->jti, sizeof(c->jti)) || !field_terminated(c->kid, sizeof(c->kid)))
                return -EINVAL;
        if (c->kid[0] && strcmp(c->kid, s->kid) != 0)
                return -EINVAL;
        if (c->jti[0])
                memcpy(jti, c->jti, strlen(c->jti) + 1);
        else if ((r = tp_session_id_new(jti)) < 0)
                return r;

        json_puts(&h, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":");
        if ((r = json_put_string(&h, s->kid)) < 0)
                return r;
        json_puts(&h, "}");

        json_puts(&p, "{\"iss\":");
        if ((r = json_put_string(&p, c->iss)) < 0)
                return r;
        json_puts(&p, ",\"sub\":");
        if ((r = json_put_string(&p, c->sub)) < 0)
                return r;
        json_puts(&p, ",\"uid\":");
        json_put_int(&p, c->uid);
        json_puts(&p, ",\"sid\":");
        if ((r = json_put_string(&p, c->sid)) < 0)
                return r;
        json_puts(&p, ",\"client\":");
        if ((r = json_put_string(&p, c->client)) < 0)
                return r;
        json_puts(&p, ",\"iat\":");
        json_put_int(&p, c->iat);
        json_puts(&p, ",\"exp\":");
        json_put_int(&p, c->exp);
        json_puts(&p, ",\"jti\":");
        if ((r = json_put_string(&p, jti)) < 0)
                return r;
        json_puts(&p, "}");
        if (h.overflow || p.overflow)
                return -EMSGSIZE;

        /* Assemble in tok, bounded by what the wire and the verifier accept. */
        if (b64url_encode((const uint8_t *)header, h.len, tok, sizeof(tok), &len) < 0 ||
            len + 1 >= sizeof(tok))
                return -EMSGSIZE;
        tok[len++] = '.';
        if (b64url_encode((const uint8_t *)payload, p.len, tok + len, sizeof(tok) - len, &n) < 0)
                return -EMSGSIZE;
        len += n;
        if (!(md = EVP_MD_CTX_new()))
                return -ENOMEM;
        if (EVP_DigestSignInit(md, NULL, NULL, NULL, s->pkey) != 1 ||
            EVP_DigestSign(md, sig, &siglen, (const uint8_t *)tok, len) != 1 ||
            siglen != sizeof(sig)) {
                r = -EIO;
                goto out;
        }
        if (len + 1 >= sizeof(tok)) {
                r = -EMSGSIZE;
                goto out;
        }
        tok[len++] = '.';
        if (b64url_encode(sig, siglen, tok + len, sizeof(tok) - len, &n) < 0) {
                r = -EMSGSIZE;
                goto out;
        }
        len += n;
        if (len >= outsz) {
                r = -ENOBUFS;
                goto out;
        }
        memcpy(out, tok, len + 1);
        memcpy(c->jti, jti, strlen(jti) + 1);
        if (!c->kid[0])
                memcpy(c->kid, s->kid, sizeof(s->kid));
        r = 0;
out:
        EVP_MD_CTX_free(md);
        return r;
}

static int load_public_key(const char *path, EVP_PKEY **ret)
{
        char buf[KEY_FILE_MAX];
        EVP_PKEY *pkey = NULL;
        BIO *bio = NULL;
        struct stat st;
        size_t len = 0;
        int fd, r;

        fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                r = -EINVAL;
                goto out;
        }
        if ((r = read_fd_bounded(fd, buf, sizeof(buf), &len)) < 0)
                goto out;
        if (!(bio = BIO_new_mem_buf(buf, (int)len))) {
                r = -ENOMEM;
                goto out;
        }
        if (!(pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) ||
            (r = pkey_require_ed25519(pkey)) < 0) {
                r = -EINVAL;
                goto out;
        }
        *ret = pkey;
        pkey = NULL;
        r = 0;
out:
        EVP_PKEY_free(pkey);
        BIO_free(bio);
        close(fd);
        return r;
}

/* The header decides nothing: it must name EdDSA, which the key type
 * already fixed, and carry no extension we would have to understand. */
static int jwt_check_header(const struct json_object *hdr, struct tp_jwt_claims *c)
{
        const struct json_member *alg = json_get(hdr, "alg");
        const struct json_member *kid = json_get(hdr, "kid");

        if (!alg || alg->kind != JSON_STRING || strcmp(alg->string, "EdDSA") != 0)
                return -EKEYREJECTED;
        if (json_get(hdr, "crit"))
                return -EKEYREJECTED;
        if (kid && claim_string(hdr, "kid", c->kid, sizeof(c->kid)) < 0)
                return -EBADMSG;
        return 0;
}

static int jwt_parse_claims(const char *payload, size_t len, struct json_object *obj,
                            struct tp_jwt_claims *c)
{
        int64_t uid;
        int r;

        if ((r = json_parse_flat_object(payload, len, obj)) < 0)
                return r;
        if ((r = claim_string(obj, "iss", c->iss, sizeof(c->iss))) < 0 ||
            (r = claim_string(obj, "sub", c->sub, sizeof(c->sub))) < 0 ||
            (r = claim_integer(obj, "uid", &uid)) < 0 ||
            (r = claim_string(obj, "sid", c->sid, sizeof(c->sid))) < 0 ||
            (r = claim_string(obj, "client", c->client, sizeof(c->client))) < 0 ||
            (r = claim_integer(obj, "iat", &c->iat)) < 0 ||
            (r = claim_integer(obj, "exp", &c->exp)) < 0 ||
            (r = claim_string(obj, "jti", c->jti, sizeof(c->jti))) < 0)
                return r;
        if (uid < 0 || uid > UINT32_MAX)
                return -EBADMSG;
        c->uid = (uint32_t)uid;
        return 0;
}

int tp_jwt_verify_pem(const char *pubkey_pem_path, const char *token, int64_t now,
                      struct tp_jwt_claims *ret)
{
        uint8_t header[JWT_PART_MAX], payload[JWT_PART_MAX], sig[JWT_PART_MAX];
        const char *dot1, *dot2;
        struct tp_jwt_claims c;
        struct json_object *obj = NULL;
        EVP_PKEY *pkey = NULL;
        EVP_MD_CTX *md = NULL;
        size_t len, hlen, plen, siglen;
        int r;

        if (!pubkey_pem_path || !token || !ret)
                return -EINVAL;
        memset(&c, 0, sizeof(c));
        len = strnlen(token, TP_TOKEN_MAX);
        if (len == TP_TOKEN_MAX)
                return -EBADMSG;
        if (!(dot1 = memchr(token, '.', len)) ||
            !(dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))) ||
            memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
                return -EBADMSG;
        if (!(obj = malloc(sizeof(*obj))))
                return -ENOMEM;

        /* Every part must decode before anything is believed. */
        if ((r = b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), sig, sizeof(sig), &siglen)) < 0 ||
            (r = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload, sizeof(payload), &plen)) < 0 ||
            (r = b64url_decode(token, (size_t)(dot1 - token), header, sizeof(header), &hlen)) < 0 ||
            (r = json_parse_flat_object((const char *)header, hlen, obj)) < 0 ||
            (r = jwt_check_header(obj, &c)) < 0)
                goto out;
        if (siglen != ED25519_SIG_LEN) {
                r = -EKEYREJECTED;
                goto out;
        }

        if ((r = load_public_key(pubkey_pem_path, &pkey)) < 0)
                goto out;
        if (!(md = EVP_MD_CTX_new())) {
                r = -ENOMEM;
                goto out;
        }
        if (EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) != 1) {
                r = -EIO;
                goto out;
        }
        if (EVP_DigestVerify(md, sig, siglen, (const uint8_t *)token, (size_t)(dot2 - token)) != 1) {
                r = -EKEYREJECTED;
                goto out;
        }

        /* Authentic from here on: read the claims, then the clock. */
        if ((r = jwt_parse_claims((const char *)payload, plen, obj, &c)) < 0)
                goto out;
        if (now >= c.exp || (now <= INT64_MAX - IAT_LEEWAY_SEC && c.iat > now + IAT_LEEWAY_SEC)) {
                r = -ETIME;
                goto out;
        }
        *ret = c;
        r = 0;
out:
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(pkey);
        free(obj);
        return r;
}
