/* token.c: random identifiers, refresh-token hashes, the Ed25519 signing
 * key and compact JWTs (sign and verify). The only file that includes
 * OpenSSL; the base64url and JSON text of a JWT is jose.c's.
 *
 * Must never: log; leave a secret in memory it frees; write the private
 * key anywhere but a 0600 file created with O_EXCL; follow a symlink to the
 * private key; take the signature algorithm from a token; or parse a token
 * without a bound (everything is sized by TP_TOKEN_MAX, nothing recurses).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "jose.h"
#include "token.h"

#define KEY_FILE_MAX 16384           /* an Ed25519 PEM is ~120 bytes */
#define ED25519_RAW_LEN 32
#define ED25519_SIG_LEN 64
#define IAT_LEEWAY_SEC 60
#define KID_LEN 43                   /* base64url of a SHA-256 */
#define JWT_PART_MAX (TP_TOKEN_MAX / 4 * 3 + 3) /* decoded size of any part */
#define PAYLOAD_JSON_MAX (2 * TP_TOKEN_MAX)

/* ---- random values and hashes -------------------------------------------- */

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
        if ((r = tp_b64url_encode(raw, sizeof(raw), text, sizeof(text), &len)) < 0 ||
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

typedef EVP_PKEY *pem_key_reader(BIO *bio, EVP_PKEY **x, pem_password_cb *cb, void *u);

/* Read an Ed25519 key in PEM from name (relative to dirfd) with read_pem,
 * after check_file has approved the open descriptor's metadata (checking
 * the descriptor, not the name, leaves no window for a swap). The buffer is
 * wiped whichever key it held. */
static int load_pem_key(int dirfd, const char *name, int open_flags,
                        int (*check_file)(const struct stat *st), pem_key_reader *read_pem,
                        EVP_PKEY **ret)
{
        char buf[KEY_FILE_MAX];
        EVP_PKEY *pkey = NULL;
        BIO *bio = NULL;
        struct stat st;
        size_t len = 0;
        int fd, r;

        fd = openat(dirfd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | open_flags);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if ((r = check_file(&st)) < 0)
                goto out;
        if ((r = read_fd_bounded(fd, buf, sizeof(buf), &len)) < 0)
                goto out;
        if (!(bio = BIO_new_mem_buf(buf, (int)len))) {
                r = -ENOMEM;
                goto out;
        }
        if (!(pkey = read_pem(bio, NULL, NULL, NULL)) || pkey_require_ed25519(pkey) < 0) {
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

/* The private key file must be ours alone: a regular file, owned by the
 * effective user, without any group or other permission. */
static int private_key_file_check(const struct stat *st)
{
        if (!S_ISREG(st->st_mode) || (st->st_mode & 077) != 0 || st->st_uid != geteuid())
                return -EPERM;
        return 0;
}

static int public_key_file_check(const struct stat *st)
{
        return S_ISREG(st->st_mode) ? 0 : -EINVAL;
}

/* O_NOFOLLOW: a symlink in place of the private key is refused as a
 * permission problem (-EPERM), like a file with the wrong owner or mode. */
static int signer_load_key(int dirfd, EVP_PKEY **ret)
{
        int r = load_pem_key(dirfd, TP_TOKEN_KEY_FILE, O_NOFOLLOW, private_key_file_check,
                             PEM_read_bio_PrivateKey, ret);

        return r == -ELOOP ? -EPERM : r;
}

/* The public key is not secret: any regular file will do, symlinks
 * followed. */
static int load_public_key(const char *path, EVP_PKEY **ret)
{
        return load_pem_key(AT_FDCWD, path, 0, public_key_file_check, PEM_read_bio_PUBKEY, ret);
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
        return tp_b64url_encode(h, sizeof(h), kid, KID_LEN + 1, &len);
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
        if ((r = tp_b64url_encode(raw, rawlen, x, sizeof(x), &xlen)) < 0 ||
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
        struct tp_json_out h, p;
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

        tp_json_out_init(&h, header, sizeof(header));
        tp_json_out_init(&p, payload, sizeof(payload));
        tp_json_puts(&h, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":");
        if ((r = tp_json_put_string(&h, s->kid)) < 0)
                return r;
        tp_json_puts(&h, "}");

        tp_json_puts(&p, "{\"iss\":");
        if ((r = tp_json_put_string(&p, c->iss)) < 0)
                return r;
        tp_json_puts(&p, ",\"sub\":");
        if ((r = tp_json_put_string(&p, c->sub)) < 0)
                return r;
        tp_json_puts(&p, ",\"uid\":");
        tp_json_put_int(&p, c->uid);
        tp_json_puts(&p, ",\"sid\":");
        if ((r = tp_json_put_string(&p, c->sid)) < 0)
                return r;
        tp_json_puts(&p, ",\"client\":");
        if ((r = tp_json_put_string(&p, c->client)) < 0)
                return r;
        tp_json_puts(&p, ",\"iat\":");
        tp_json_put_int(&p, c->iat);
        tp_json_puts(&p, ",\"exp\":");
        tp_json_put_int(&p, c->exp);
        tp_json_puts(&p, ",\"jti\":");
        if ((r = tp_json_put_string(&p, jti)) < 0)
                return r;
        tp_json_puts(&p, "}");
        if (h.overflow || p.overflow)
                return -EMSGSIZE;

        /* Assemble in tok, bounded by what the wire and the verifier accept. */
        if (tp_b64url_encode((const uint8_t *)header, h.len, tok, sizeof(tok), &len) < 0 ||
            len + 1 >= sizeof(tok))
                return -EMSGSIZE;
        tok[len++] = '.';
        if (tp_b64url_encode((const uint8_t *)payload, p.len, tok + len, sizeof(tok) - len, &n) < 0)
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
        if (tp_b64url_encode(sig, siglen, tok + len, sizeof(tok) - len, &n) < 0) {
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

/* The header decides nothing: it must name EdDSA, which the key type
 * already fixed, and carry no extension we would have to understand. */
static int jwt_check_header(const struct tp_json_object *hdr, struct tp_jwt_claims *c)
{
        const struct tp_json_member *alg = tp_json_get(hdr, "alg");
        const struct tp_json_member *kid = tp_json_get(hdr, "kid");

        if (!alg || alg->kind != TP_JSON_STRING || strcmp(alg->string, "EdDSA") != 0)
                return -EKEYREJECTED;
        if (tp_json_get(hdr, "crit"))
                return -EKEYREJECTED;
        if (kid && tp_json_get_string(hdr, "kid", c->kid, sizeof(c->kid)) < 0)
                return -EBADMSG;
        return 0;
}

static int jwt_parse_claims(const char *payload, size_t len, struct tp_json_object *obj,
                            struct tp_jwt_claims *c)
{
        int64_t uid;
        int r;

        if ((r = tp_json_parse_flat_object(payload, len, obj)) < 0)
                return r;
        if ((r = tp_json_get_string(obj, "iss", c->iss, sizeof(c->iss))) < 0 ||
            (r = tp_json_get_string(obj, "sub", c->sub, sizeof(c->sub))) < 0 ||
            (r = tp_json_get_integer(obj, "uid", &uid)) < 0 ||
            (r = tp_json_get_string(obj, "sid", c->sid, sizeof(c->sid))) < 0 ||
            (r = tp_json_get_string(obj, "client", c->client, sizeof(c->client))) < 0 ||
            (r = tp_json_get_integer(obj, "iat", &c->iat)) < 0 ||
            (r = tp_json_get_integer(obj, "exp", &c->exp)) < 0 ||
            (r = tp_json_get_string(obj, "jti", c->jti, sizeof(c->jti))) < 0)
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
        struct tp_json_object *obj = NULL;
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
        if ((r = tp_b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), sig, sizeof(sig), &siglen)) < 0 ||
            (r = tp_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload, sizeof(payload), &plen)) < 0 ||
            (r = tp_b64url_decode(token, (size_t)(dot1 - token), header, sizeof(header), &hlen)) < 0 ||
            (r = tp_json_parse_flat_object((const char *)header, hlen, obj)) < 0 ||
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
