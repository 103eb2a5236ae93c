/* token.c: random identifiers, refresh-token hashes, the Ed25519 signing
 * key and the old public keys a rotation retains, and compact JWTs (sign
 * and verify). The only file that includes OpenSSL; the base64url and JSON
 * text of a JWT is jose.c's.
 *
 * Must never: log; leave a secret in memory it frees; write the private
 * key anywhere but a 0600 file created with O_EXCL; follow a symlink to the
 * private key or a retained key; trust a retained key that someone else
 * could have written, or one past its time or revoked; build a path from a
 * kid that is not base64url; take the signature algorithm from a token;
 * rewrite a published file that already holds what it must (a start on a
 * full or read-only disk needs no write); or parse a token without a bound
 * (everything is sized by TP_TOKEN_MAX, nothing recurses).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "jose.h"
#include "token.h"

#define KEY_FILE_MAX 16384           /* an Ed25519 PEM is ~120 bytes */
#define ED25519_RAW_LEN 32
#define ED25519_SIG_LEN 64
_Static_assert(ED25519_SIG_LEN == crypto_sign_BYTES, "an Ed25519 signature is 64 bytes");
#define IAT_LEEWAY_SEC 60
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

/* The first 48 bits are the creation time in milliseconds, the other 80
 * come from the CSPRNG: ids made one after another sort together, so a
 * batch of new sessions touches a few index pages instead of one each,
 * and 80 random bits still make an id impossible to guess (it is a handle,
 * not a credential: every request is checked against its peer). */
/* n bytes from the kernel's CSPRNG (getrandom(2), blocking only until it
 * is seeded at boot). */
static int random_bytes(uint8_t *out, size_t n)
{
        while (n > 0) {
                ssize_t got = getrandom(out, n, 0);

                if (got < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                out += got;
                n -= (size_t)got;
        }
        return 0;
}

int tp_session_id_new(char out[TP_SESSION_ID_MAX])
{
        uint8_t raw[(TP_SESSION_ID_MAX - 1) / 2];
        struct timespec ts;
        uint64_t ms;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return -errno;
        ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
        for (int i = 0; i < 6; i++)
                raw[i] = (uint8_t)(ms >> (8 * (5 - i)));
        if (random_bytes(raw + 6, sizeof(raw) - 6) < 0)
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

        if (random_bytes(raw, sizeof(raw)) < 0) {
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
                if (random_bytes(rnd, sizeof(rnd)) < 0)
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

/* True when name in dirfd already is a regular file of this mode holding
 * exactly data, so that writing it again would change nothing. Any doubt
 * (missing, a symlink, unreadable, another size or content) is false. */
static bool file_holds(int dirfd, const char *name, const char *data, size_t len, mode_t mode)
{
        struct stat st;
        bool same = false;
        size_t got = 0;
        char *buf;
        int fd;

        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return false;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 07777) != mode ||
            st.st_size != (off_t)len || !(buf = malloc(len + 1))) {
                close(fd);
                return false;
        }
        /* One byte more than expected tells a file that grew meanwhile. */
        if (read_fd_bounded(fd, buf, len + 1, &got) == 0 && got == len && memcmp(buf, data, len) == 0)
                same = true;
        free(buf);
        close(fd);
        return same;
}

/* write_file_atomic() with replace, unless the file already holds data. */
static int write_file_if_changed(int dirfd, const char *name, const char *data, size_t len, mode_t mode)
{
        if (file_holds(dirfd, name, data, len, mode))
                return 0;
        return write_file_atomic(dirfd, name, data, len, mode, true);
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

/* Write pkey as the private key file: a fresh temporary file (0600, O_EXCL)
 * renamed into place. Without `replace` the name must not exist yet
 * (-EEXIST): first start. With it the old key is swapped out whole:
 * rotation. */
static int store_private_key(int dirfd, EVP_PKEY *pkey, bool replace)
{
        BIO *bio = NULL;
        char *pem;
        long len;
        int r;

        /* Secure memory BIO: its buffer is cleansed when freed. */
        if (!(bio = BIO_new(BIO_s_secmem())))
                return -ENOMEM;
        if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
            (len = BIO_get_mem_data(bio, &pem)) <= 0) {
                r = -EIO;
                goto out;
        }
        r = write_file_atomic(dirfd, TP_TOKEN_KEY_FILE, pem, (size_t)len, 0600, replace);
out:
        BIO_free(bio);
        return r;
}

static int generate_key(EVP_PKEY **ret)
{
        EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

        if (!pkey)
                return -EIO;
        *ret = pkey;
        return 0;
}

static int signer_create_key(int dirfd, EVP_PKEY **ret)
{
        EVP_PKEY *pkey = NULL;
        int r;

        if ((r = generate_key(&pkey)) < 0)
                return r;
        if ((r = store_private_key(dirfd, pkey, false)) < 0) {
                EVP_PKEY_free(pkey);
                return r;
        }
        *ret = pkey;
        return 0;
}

/* Write pkey's public half as PEM (0644), replacing name in dirfd; with
 * if_changed, only when name does not already hold it. */
static int store_public_key(int dirfd, const char *name, EVP_PKEY *pkey, bool if_changed)
{
        BIO *bio = NULL;
        char *pem;
        long len;
        int r;

        if (!(bio = BIO_new(BIO_s_mem())))
                return -ENOMEM;
        if (PEM_write_bio_PUBKEY(bio, pkey) != 1 || (len = BIO_get_mem_data(bio, &pem)) <= 0)
                r = -EIO;
        else if (if_changed)
                r = write_file_if_changed(dirfd, name, pem, (size_t)len, 0644);
        else
                r = write_file_atomic(dirfd, name, pem, (size_t)len, 0644, true);
        BIO_free(bio);
        return r;
}

/* ---- signer ----------------------------------------------------------------- */

/* One key the signer knows. The current key holds the private half; a
 * retained key only the public half, kept so that tokens it signed verify
 * until `until`, the latest expiry any of them can have. */
struct signer_key {
        EVP_PKEY *pkey;
        char kid[TP_KID_LEN + 1];
        char x[TP_KID_LEN + 1]; /* the JWK "x": base64url of the raw public key */
        int64_t until;          /* retained keys only */
};

struct tp_signer {
        int dirfd;              /* the state directory */
        struct signer_key current;
        /* The current private key as libsodium holds it: Ed25519 signatures
         * are deterministic, so libsodium's equal OpenSSL's byte for byte,
         * in well under half the time. OpenSSL keeps, loads, stores and
         * verifies keys; this only signs. */
        uint8_t sodium_sk[crypto_sign_SECRETKEYBYTES];
        size_t n_retained;      /* sorted by until, latest first */
        struct signer_key retained[TP_SIGNER_RETAINED_MAX];
        bool publish_stale;     /* the last write of the public files failed */
};

#define B64URL_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define UNTIL_TEXT_MAX 32            /* "9223372036854775807\n" fits */
#define RETAINED_NAME_MAX (TP_KID_LEN + sizeof(TP_TOKEN_RETAINED_PUB_SUFFIX))
#define JWKS_MAX 8192                /* ~160 bytes a key, TP_SIGNER_RETAINED_MAX + 1 keys */

bool tp_kid_valid(const char *kid)
{
        return kid && strnlen(kid, TP_KID_LEN + 1) == TP_KID_LEN &&
               strspn(kid, B64URL_ALPHABET) == TP_KID_LEN;
}

/* The RFC 7638 JWK thumbprint: base64url SHA-256 of the required members
 * in lexicographic order, without whitespace. */
static int jwk_thumbprint(const char *x, char kid[TP_KID_LEN + 1])
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
        return tp_b64url_encode(h, sizeof(h), kid, TP_KID_LEN + 1, &len);
}

/* Fill k->x and k->kid from k->pkey. */
static int key_identify(struct signer_key *k)
{
        uint8_t raw[ED25519_RAW_LEN];
        size_t rawlen = sizeof(raw), xlen;
        int r;

        if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &rawlen) != 1 || rawlen != sizeof(raw))
                return -EIO;
        if ((r = tp_b64url_encode(raw, rawlen, k->x, sizeof(k->x), &xlen)) < 0)
                return r;
        return jwk_thumbprint(k->x, k->kid);
}

/* A key holding only pkey's public half. */
static int public_copy(EVP_PKEY *pkey, EVP_PKEY **ret)
{
        uint8_t raw[ED25519_RAW_LEN];
        size_t rawlen = sizeof(raw);
        EVP_PKEY *pub;

        if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 || rawlen != sizeof(raw))
                return -EIO;
        if (!(pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, rawlen)))
                return -EIO;
        *ret = pub;
        return 0;
}

static void signer_key_clear(struct signer_key *k)
{
        EVP_PKEY_free(k->pkey);
        memset(k, 0, sizeof(*k));
}

/* ---- the retained keys: keys/<kid>.pub.pem and keys/<kid>.until ----------- */

/* A retained key's file name. Every path built from a kid goes through
 * here, and a kid that is not 43 base64url characters never becomes one. */
static int retained_name(const char *kid, const char *suffix, char out[RETAINED_NAME_MAX])
{
        int n;

        if (!tp_kid_valid(kid))
                return -EINVAL;
        n = snprintf(out, RETAINED_NAME_MAX, "%s%s", kid, suffix);
        return n < 0 || (size_t)n >= RETAINED_NAME_MAX ? -ENAMETOOLONG : 0;
}

/* The kid of a file named <kid><suffix>, or false for any other name. */
static bool retained_name_kid(const char *name, const char *suffix, char kid[TP_KID_LEN + 1])
{
        size_t len = strlen(name), slen = strlen(suffix);

        if (len != TP_KID_LEN + slen || strcmp(name + TP_KID_LEN, suffix) != 0)
                return false;
        memcpy(kid, name, TP_KID_LEN);
        kid[TP_KID_LEN] = '\0';
        return tp_kid_valid(kid);
}

/* Whoever can write in keys/ could make a forged token verify: the
 * directory and its files must be ours and writable by nobody else. */
static int retained_file_check(const struct stat *st)
{
        if (!S_ISREG(st->st_mode) || st->st_uid != geteuid() || (st->st_mode & 022) != 0)
                return -EPERM;
        return 0;
}

/* Open keys/ in the state directory, creating it (0755 whatever the
 * umask) when absent. -EPERM for a symlink, a non-directory, or one that
 * is not ours or is writable by group or others. */
static int keys_dir_open(int dirfd, int *ret)
{
        bool created = false;
        struct stat st;
        int fd, r;

        if (mkdirat(dirfd, TP_TOKEN_KEYS_DIR, 0755) == 0)
                created = true;
        else if (errno != EEXIST)
                return -errno;
        fd = openat(dirfd, TP_TOKEN_KEYS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ELOOP || errno == ENOTDIR ? -EPERM : -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto fail;
        }
        if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
                r = -EPERM;
                goto fail;
        }
        /* A new directory must be durable before files in it are trusted
         * to be. */
        if (created && (fchmod(fd, 0755) < 0 || fsync(dirfd) < 0)) {
                r = -errno;
                goto fail;
        }
        *ret = fd;
        return 0;
fail:
        close(fd);
        return r;
}

/* The record is decimal Unix seconds and one newline, nothing else: no
 * sign, no leading zero, no space. */
static int parse_until(const char *text, size_t len, int64_t *ret)
{
        int64_t v = 0;
        size_t i;

        if (len < 2 || text[len - 1] != '\n' || (text[0] == '0' && len > 2))
                return -EBADMSG;
        for (i = 0; i < len - 1; i++) {
                int digit = text[i] - '0';

                if (text[i] < '0' || text[i] > '9' || v > (INT64_MAX - digit) / 10)
                        return -EBADMSG;
                v = v * 10 + digit;
        }
        *ret = v;
        return 0;
}

/* With `ours`, the record must pass retained_file_check (the daemon); a
 * reader of someone else's state directory (tokenpolicyctl) only needs a
 * regular file. */
static int read_until(int keysfd, const char *name, bool ours, int64_t *ret)
{
        char buf[UNTIL_TEXT_MAX];
        struct stat st;
        size_t len = 0;
        int fd, r;

        fd = openat(keysfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return errno == ELOOP ? -EPERM : -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if (ours && (r = retained_file_check(&st)) < 0)
                goto out;
        if (!S_ISREG(st.st_mode)) {
                r = -EPERM;
                goto out;
        }
        r = read_fd_bounded(fd, buf, sizeof(buf), &len);
        if (r == -EFBIG)
                r = -EBADMSG;
        if (r < 0)
                goto out;
        r = parse_until(buf, len, ret);
out:
        close(fd);
        return r;
}

/* Record k in keys/: its public key first, then the record naming its
 * time, each written whole and made durable. A record therefore never
 * exists without its key; a key without a record is a leftover the next
 * open removes. */
static int retained_store(int keysfd, const struct signer_key *k)
{
        char name[RETAINED_NAME_MAX], text[UNTIL_TEXT_MAX];
        int n, r;

        if ((r = retained_name(k->kid, TP_TOKEN_RETAINED_PUB_SUFFIX, name)) < 0 ||
            (r = store_public_key(keysfd, name, k->pkey, false)) < 0 ||
            (r = retained_name(k->kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX, name)) < 0)
                return r;
        n = snprintf(text, sizeof(text), "%" PRId64 "\n", k->until);
        if (n < 0 || (size_t)n >= sizeof(text))
                return -EINVAL;
        return write_file_atomic(keysfd, name, text, (size_t)n, 0644, true);
}

/* Forget a retained key on disk: the record first, for the same reason. */
static int retained_remove(int keysfd, const char *kid)
{
        char name[RETAINED_NAME_MAX];
        int r;

        if ((r = retained_name(kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX, name)) < 0)
                return r;
        if (unlinkat(keysfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        if ((r = retained_name(kid, TP_TOKEN_RETAINED_PUB_SUFFIX, name)) < 0)
                return r;
        if (unlinkat(keysfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static const struct signer_key *signer_find_retained(const struct tp_signer *s, const char *kid)
{
        for (size_t i = 0; i < s->n_retained; i++)
                if (strcmp(s->retained[i].kid, kid) == 0)
                        return &s->retained[i];
        return NULL;
}

/* Forget the retained key at index i in memory (the order is kept). */
static void signer_drop_retained(struct tp_signer *s, size_t i)
{
        struct signer_key *k = &s->retained[i];

        signer_key_clear(k);
        memmove(k, k + 1, (s->n_retained - i - 1) * sizeof(*k));
        s->n_retained--;
        memset(&s->retained[s->n_retained], 0, sizeof(s->retained[0]));
}

static int compare_until_latest_first(const void *a, const void *b)
{
        const struct signer_key *x = a, *y = b;

        if (x->until != y->until)
                return x->until > y->until ? -1 : 1;
        return strcmp(x->kid, y->kid);
}

static void signer_sort_retained(struct tp_signer *s)
{
        qsort(s->retained, s->n_retained, sizeof(s->retained[0]), compare_until_latest_first);
}

/* Load the retained key that the record keys/<kid>.until names, or drop
 * the record when its time has passed, when it names the current key (a
 * rotation stopped before the switch), or when its key file is gone. */
static int signer_load_retained_one(struct tp_signer *s, int keysfd, const char *kid, int64_t now)
{
        char name[RETAINED_NAME_MAX];
        struct signer_key k = {};
        int64_t until = 0;
        int r;

        if (strcmp(kid, s->current.kid) == 0)
                return retained_remove(keysfd, kid);
        if ((r = retained_name(kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX, name)) < 0 ||
            (r = read_until(keysfd, name, true, &until)) < 0)
                return r;
        if (until <= now)
                return retained_remove(keysfd, kid);
        if ((r = retained_name(kid, TP_TOKEN_RETAINED_PUB_SUFFIX, name)) < 0)
                return r;
        r = load_pem_key(keysfd, name, O_NOFOLLOW, retained_file_check, PEM_read_bio_PUBKEY, &k.pkey);
        if (r == -ENOENT)
                return retained_remove(keysfd, kid);
        if (r < 0)
                return r == -ELOOP ? -EPERM : r;
        if ((r = key_identify(&k)) < 0)
                goto out;
        /* A file must hold the key its name says, or a token naming one
         * key would be checked against another. */
        if (strcmp(k.kid, kid) != 0) {
                r = -EBADMSG;
                goto out;
        }
        if (s->n_retained == TP_SIGNER_RETAINED_MAX) {
                r = -E2BIG;
                goto out;
        }
        k.until = until;
        s->retained[s->n_retained++] = k;
        k.pkey = NULL;
        r = 0;
out:
        signer_key_clear(&k);
        return r;
}

static int signer_load_retained(struct tp_signer *s, int keysfd, int64_t now)
{
        char kid[TP_KID_LEN + 1];
        struct dirent *e;
        DIR *d;
        int fd, r = 0;

        fd = openat(keysfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (!(d = fdopendir(fd))) {
                r = -errno;
                close(fd);
                return r;
        }
        /* The records first: each names a key to keep and until when.
         * Names that are not ours are left alone. */
        while ((errno = 0, e = readdir(d))) {
                if (!retained_name_kid(e->d_name, TP_TOKEN_RETAINED_UNTIL_SUFFIX, kid))
                        continue;
                if ((r = signer_load_retained_one(s, keysfd, kid, now)) < 0)
                        goto out;
        }
        if (errno) {
                r = -errno;
                goto out;
        }
        /* Then key files without a record: leftovers of a rotation that
         * stopped between its two writes, or of a removal. */
        rewinddir(d);
        while ((errno = 0, e = readdir(d))) {
                if (!retained_name_kid(e->d_name, TP_TOKEN_RETAINED_PUB_SUFFIX, kid) ||
                    signer_find_retained(s, kid))
                        continue;
                if (unlinkat(keysfd, e->d_name, 0) < 0 && errno != ENOENT) {
                        r = -errno;
                        goto out;
                }
        }
        if (errno) {
                r = -errno;
                goto out;
        }
        signer_sort_retained(s);
out:
        closedir(d);
        return r;
}

/* Drop the retained keys whose time has passed, from memory and disk. */
static int signer_prune(struct tp_signer *s, int keysfd, int64_t now)
{
        size_t i = 0;
        int r;

        while (i < s->n_retained) {
                struct signer_key *k = &s->retained[i];

                if (k->until > now) {
                        i++;
                        continue;
                }
                if ((r = retained_remove(keysfd, k->kid)) < 0)
                        return r;
                signer_drop_retained(s, i);
        }
        return 0;
}

/* x and kid are base64url (checked when they were made): no escaping. */
static void jwks_put_key(struct tp_json_out *j, const struct signer_key *k)
{
        tp_json_puts(j, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"");
        tp_json_puts(j, k->x);
        tp_json_puts(j, "\",\"kid\":\"");
        tp_json_puts(j, k->kid);
        tp_json_puts(j, "\",\"alg\":\"EdDSA\",\"use\":\"sig\"}");
}

/* The current public key as PEM, and the JWKS: the current key first,
 * then each retained key whose time has not passed. Each file is written
 * only when it does not already hold exactly that. On failure *ret_step
 * (when not NULL) names the file, and the signer remembers to try again. */
static int signer_publish(struct tp_signer *s, int64_t now, const char **ret_step)
{
        struct tp_json_out j;
        char *jwks;
        int r;

        s->publish_stale = true;
        if ((r = store_public_key(s->dirfd, TP_TOKEN_PUB_FILE, s->current.pkey, true)) < 0) {
                if (ret_step)
                        *ret_step = "writing " TP_TOKEN_PUB_FILE;
                return r;
        }
        if (ret_step)
                *ret_step = "writing " TP_TOKEN_JWKS_FILE;
        if (!(jwks = malloc(JWKS_MAX)))
                return -ENOMEM;
        tp_json_out_init(&j, jwks, JWKS_MAX);
        tp_json_puts(&j, "{\"keys\":[");
        jwks_put_key(&j, &s->current);
        for (size_t i = 0; i < s->n_retained; i++) {
                if (s->retained[i].until <= now)
                        continue;
                tp_json_puts(&j, ",");
                jwks_put_key(&j, &s->retained[i]);
        }
        tp_json_puts(&j, "]}\n");
        if (j.overflow)
                r = -EMSGSIZE;
        else
                r = write_file_if_changed(s->dirfd, TP_TOKEN_JWKS_FILE, jwks, j.len, 0644);
        free(jwks);
        if (r == 0)
                s->publish_stale = false;
        return r;
}

/* pkey's private key as libsodium holds it (from its 32-byte seed). */
static int sodium_secret_key(EVP_PKEY *pkey, uint8_t sk[crypto_sign_SECRETKEYBYTES])
{
        uint8_t seed[ED25519_RAW_LEN], pk[crypto_sign_PUBLICKEYBYTES], raw[ED25519_RAW_LEN];
        size_t seedlen = sizeof(seed), rawlen = sizeof(raw);
        int r = 0;

        if (EVP_PKEY_get_raw_private_key(pkey, seed, &seedlen) != 1 || seedlen != sizeof(seed) ||
            EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 || rawlen != sizeof(raw) ||
            crypto_sign_seed_keypair(pk, sk, seed) != 0)
                r = -EIO;
        else if (sodium_memcmp(pk, raw, sizeof(pk)) != 0) /* not the same key: never sign with it */
                r = -EIO;
        sodium_memzero(seed, sizeof(seed));
        if (r < 0)
                sodium_memzero(sk, crypto_sign_SECRETKEYBYTES);
        return r;
}

int tp_signer_open_report(const char *dir, int64_t now, struct tp_signer **ret,
                          const char **ret_step)
{
        const char *step = "opening the state directory";
        struct tp_signer *s = NULL;
        int keysfd = -1, r;

        if (!dir || !ret)
                return -EINVAL;
        if (sodium_init() < 0)
                return -EIO;
        if (!(s = calloc(1, sizeof(*s))))
                return -ENOMEM;
        s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dirfd < 0) {
                r = -errno;
                goto out;
        }
        step = "reading the signing key " TP_TOKEN_KEY_FILE;
        r = signer_load_key(s->dirfd, &s->current.pkey);
        if (r == -ENOENT) {
                step = "creating the signing key " TP_TOKEN_KEY_FILE;
                r = signer_create_key(s->dirfd, &s->current.pkey);
                /* Another process created it first: use theirs. */
                if (r == -EEXIST) {
                        step = "reading the signing key " TP_TOKEN_KEY_FILE;
                        r = signer_load_key(s->dirfd, &s->current.pkey);
                }
        }
        if (r < 0)
                goto out;
        step = "reading the signing key " TP_TOKEN_KEY_FILE;
        if ((r = key_identify(&s->current)) < 0 || (r = sodium_secret_key(s->current.pkey, s->sodium_sk)) < 0)
                goto out;
        step = "opening " TP_TOKEN_KEYS_DIR "/";
        if ((r = keys_dir_open(s->dirfd, &keysfd)) < 0)
                goto out;
        step = "reading the retained keys in " TP_TOKEN_KEYS_DIR "/";
        if ((r = signer_load_retained(s, keysfd, now)) < 0 ||
            (r = signer_publish(s, now, &step)) < 0)
                goto out;
        *ret = s;
        s = NULL;
        r = 0;
out:
        if (r < 0 && ret_step)
                *ret_step = step;
        if (keysfd >= 0)
                close(keysfd);
        tp_signer_free(s);
        return r;
}

int tp_signer_open_at(const char *dir, int64_t now, struct tp_signer **ret)
{
        return tp_signer_open_report(dir, now, ret, NULL);
}

int tp_signer_open(const char *dir, struct tp_signer **ret)
{
        return tp_signer_open_at(dir, (int64_t)time(NULL), ret);
}

/* The order of the writes is what makes a crash harmless: the old public
 * key and its record are durable before the private key file is replaced
 * (one rename), so after a restart either key is current and a token
 * signed by either verifies. */
int tp_signer_rotate(struct tp_signer *s, int64_t now, int64_t retain_until,
                     char ret_old_kid[TP_KID_LEN + 1])
{
        struct signer_key old = {}, next = {};
        uint8_t next_sk[crypto_sign_SECRETKEYBYTES];
        char old_kid[TP_KID_LEN + 1];
        int keysfd = -1, r;

        sodium_memzero(next_sk, sizeof(next_sk));
        if (!s || !ret_old_kid)
                return -EINVAL;
        if ((r = keys_dir_open(s->dirfd, &keysfd)) < 0 || (r = signer_prune(s, keysfd, now)) < 0)
                goto out;
        if (s->n_retained == TP_SIGNER_RETAINED_MAX) {
                r = -ENOSPC;
                goto out;
        }
        /* Everything that can fail in memory before anything on disk. */
        if ((r = generate_key(&next.pkey)) < 0 || (r = key_identify(&next)) < 0 ||
            (r = sodium_secret_key(next.pkey, next_sk)) < 0 ||
            (r = public_copy(s->current.pkey, &old.pkey)) < 0)
                goto out;
        memcpy(old_kid, s->current.kid, sizeof(old_kid));
        memcpy(old.kid, s->current.kid, sizeof(old.kid));
        memcpy(old.x, s->current.x, sizeof(old.x));
        old.until = retain_until;

        /* On failure the record stays: if the rename below did happen
         * after all, it keeps the old tokens verifiable; if not, the next
         * open drops it as naming the current key. */
        if ((r = retained_store(keysfd, &old)) < 0 ||
            (r = store_private_key(s->dirfd, next.pkey, true)) < 0)
                goto out;

        /* Switched on disk: the old private key is of no further use. */
        signer_key_clear(&s->current);
        s->current = next;
        next.pkey = NULL;
        memcpy(s->sodium_sk, next_sk, sizeof(next_sk));
        s->retained[s->n_retained++] = old;
        old.pkey = NULL;
        signer_sort_retained(s);
        if ((r = signer_publish(s, now, NULL)) < 0)
                goto out;
        memcpy(ret_old_kid, old_kid, sizeof(old_kid));
        r = 0;
out:
        sodium_memzero(next_sk, sizeof(next_sk));
        signer_key_clear(&old);
        signer_key_clear(&next);
        if (keysfd >= 0)
                close(keysfd);
        return r;
}

int tp_signer_expire(struct tp_signer *s, int64_t now,
                     void (*dropped)(const char *kid, int64_t until, void *userdata), void *userdata)
{
        bool due = false;
        int keysfd = -1, r;

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < s->n_retained; i++)
                if (s->retained[i].until <= now)
                        due = true;
        if (!due && !s->publish_stale)
                return 0;
        if (due) {
                if ((r = keys_dir_open(s->dirfd, &keysfd)) < 0)
                        return r;
                for (size_t i = 0; i < s->n_retained;) {
                        struct signer_key *k = &s->retained[i];

                        if (k->until > now) {
                                i++;
                                continue;
                        }
                        if ((r = retained_remove(keysfd, k->kid)) < 0)
                                goto out;
                        if (dropped)
                                dropped(k->kid, k->until, userdata);
                        signer_drop_retained(s, i);
                }
        }
        r = signer_publish(s, now, NULL);
out:
        if (keysfd >= 0)
                close(keysfd);
        return r;
}

/* The current key is replaced, and not retained: no token it signed will
 * verify again. Only the private key file changes on disk (one rename);
 * the retained keys stay as they are. */
static int signer_replace_current(struct tp_signer *s, int64_t now)
{
        uint8_t next_sk[crypto_sign_SECRETKEYBYTES];
        struct signer_key next = {};
        int r;

        sodium_memzero(next_sk, sizeof(next_sk));
        if ((r = generate_key(&next.pkey)) < 0 || (r = key_identify(&next)) < 0 ||
            (r = sodium_secret_key(next.pkey, next_sk)) < 0 ||
            (r = store_private_key(s->dirfd, next.pkey, true)) < 0)
                goto out;
        signer_key_clear(&s->current);
        s->current = next;
        next.pkey = NULL;
        memcpy(s->sodium_sk, next_sk, sizeof(next_sk));
        r = signer_publish(s, now, NULL);
out:
        sodium_memzero(next_sk, sizeof(next_sk));
        signer_key_clear(&next);
        return r;
}

int tp_signer_revoke(struct tp_signer *s, const char *kid, int64_t now, bool *ret_rotated)
{
        int keysfd = -1, r;
        size_t i;

        if (!s || !ret_rotated)
                return -EINVAL;
        *ret_rotated = false;
        if (!tp_kid_valid(kid))
                return -EINVAL;
        if (strcmp(kid, s->current.kid) == 0) {
                *ret_rotated = true;
                return signer_replace_current(s, now);
        }
        for (i = 0; i < s->n_retained; i++)
                if (strcmp(s->retained[i].kid, kid) == 0)
                        break;
        if (i == s->n_retained)
                return -ENOENT;
        /* Untrusted from this moment, whatever the disk says next. */
        signer_drop_retained(s, i);
        /* The record first: without it a later open never loads the key.
         * The directory is synced so the removal survives a crash. */
        if ((r = keys_dir_open(s->dirfd, &keysfd)) < 0 || (r = retained_remove(keysfd, kid)) < 0)
                goto out;
        if (fsync(keysfd) < 0) {
                r = -errno;
                goto out;
        }
        r = signer_publish(s, now, NULL);
out:
        if (keysfd >= 0)
                close(keysfd);
        return r;
}

int tp_retained_key_until(const char *dir, const char *kid, int64_t *ret_until)
{
        char name[RETAINED_NAME_MAX];
        int dirfd, keysfd, r;

        if (!dir || !ret_until)
                return -EINVAL;
        if ((r = retained_name(kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX, name)) < 0)
                return r;
        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -errno;
        keysfd = openat(dirfd, TP_TOKEN_KEYS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(dirfd);
        if (keysfd < 0)
                return errno == ELOOP || errno == ENOTDIR ? -EPERM : -errno;
        r = read_until(keysfd, name, false, ret_until);
        close(keysfd);
        return r;
}

void tp_signer_free(struct tp_signer *s)
{
        if (!s)
                return;
        sodium_memzero(s->sodium_sk, sizeof(s->sodium_sk));
        signer_key_clear(&s->current);
        for (size_t i = 0; i < s->n_retained; i++)
                signer_key_clear(&s->retained[i]);
        if (s->dirfd >= 0)
                close(s->dirfd);
        free(s);
}

const char *tp_signer_kid(const struct tp_signer *s)
{
        return s->current.kid;
}

int tp_pubkey_pem_kid(const char *pubkey_pem_path, char ret_kid[TP_KID_LEN + 1])
{
        struct signer_key k = {};
        int r;

        if (!pubkey_pem_path || !ret_kid)
                return -EINVAL;
        if ((r = load_public_key(pubkey_pem_path, &k.pkey)) < 0)
                return r;
        if ((r = key_identify(&k)) == 0)
                memcpy(ret_kid, k.kid, sizeof(k.kid));
        signer_key_clear(&k);
        return r;
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
        size_t len, n;
        int r;

        if (!s || !c || !out)
                return -EINVAL;
        if (!field_terminated(c->iss, sizeof(c->iss)) || !field_terminated(c->sub, sizeof(c->sub)) ||
            !field_terminated(c->sid, sizeof(c->sid)) || !field_terminated(c->client, sizeof(c->client)) ||
            !field_terminated(c->jti, sizeof(c->jti)) || !field_terminated(c->kid, sizeof(c->kid)))
                return -EINVAL;
        if (c->kid[0] && strcmp(c->kid, s->current.kid) != 0)
                return -EINVAL;
        if (c->jti[0])
                memcpy(jti, c->jti, strlen(c->jti) + 1);
        else if ((r = tp_session_id_new(jti)) < 0)
                return r;

        tp_json_out_init(&h, header, sizeof(header));
        tp_json_out_init(&p, payload, sizeof(payload));
        tp_json_puts(&h, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":");
        if ((r = tp_json_put_string(&h, s->current.kid)) < 0)
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
        if (crypto_sign_detached(sig, NULL, (const uint8_t *)tok, len, s->sodium_sk) != 0)
                return -EIO;
        if (len + 1 >= sizeof(tok))
                return -EMSGSIZE;
        tok[len++] = '.';
        if (tp_b64url_encode(sig, sizeof(sig), tok + len, sizeof(tok) - len, &n) < 0)
                return -EMSGSIZE;
        len += n;
        if (len >= outsz)
                return -ENOBUFS;
        memcpy(out, tok, len + 1);
        memcpy(c->jti, jti, strlen(jti) + 1);
        if (!c->kid[0])
                memcpy(c->kid, s->current.kid, sizeof(s->current.kid));
        return 0;
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

/* The key a token names: the signer's current key when the header has no
 * kid or names it, else a retained key with that kid whose time has not
 * passed (borrowed, not to be freed). Only compares strings: a kid never
 * reaches the file system. */
static EVP_PKEY *signer_key_for_kid(const struct tp_signer *s, const char *kid, int64_t now)
{
        const struct signer_key *k;

        if (kid[0] == '\0' || strcmp(kid, s->current.kid) == 0)
                return s->current.pkey;
        k = signer_find_retained(s, kid);
        return k && k->until > now ? k->pkey : NULL;
}

/* Verify with the signer's key chosen by kid when s is set, else with the
 * public key in the PEM file at path. The key is looked up only after the
 * token has parsed, so a malformed token is -EBADMSG whatever the key. */
static int jwt_verify(const struct tp_signer *s, const char *pubkey_pem_path, const char *token,
                      int64_t now, struct tp_jwt_claims *ret)
{
        uint8_t header[JWT_PART_MAX], payload[JWT_PART_MAX], sig[JWT_PART_MAX];
        const char *dot1, *dot2;
        struct tp_jwt_claims c;
        struct tp_json_object *obj = NULL;
        EVP_PKEY *loaded = NULL, *pkey;
        EVP_MD_CTX *md = NULL;
        size_t len, hlen, plen, siglen;
        int r;

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

        if (s) {
                if (!(pkey = signer_key_for_kid(s, c.kid, now))) {
                        r = -ENOKEY;
                        goto out;
                }
        } else {
                if ((r = load_public_key(pubkey_pem_path, &loaded)) < 0)
                        goto out;
                pkey = loaded;
        }
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
        EVP_PKEY_free(loaded);
        free(obj);
        return r;
}

int tp_signer_verify(struct tp_signer *s, const char *token, int64_t now, struct tp_jwt_claims *ret)
{
        if (!s || !token || !ret)
                return -EINVAL;
        return jwt_verify(s, NULL, token, now, ret);
}

int tp_jwt_verify_pem(const char *pubkey_pem_path, const char *token, int64_t now,
                      struct tp_jwt_claims *ret)
{
        if (!pubkey_pem_path || !token || !ret)
                return -EINVAL;
        return jwt_verify(NULL, pubkey_pem_path, token, now, ret);
}
