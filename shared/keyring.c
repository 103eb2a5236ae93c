/* SPDX-License-Identifier: BSD-3-Clause */
/* keyring.c: public keys by kid, the retained keys' end times, and reading
 * what a state directory publishes (keyring.h).
 *
 * Must never: log; write or remove a file; build a path from a kid that is
 * not base64url; choose a key for a token by anything but an exact kid in
 * memory; hand out a retained key whose time is not after now, or one that
 * was dropped; trust, as the owner of a state directory, a key file or
 * record that a symlink points to, that someone else owns or that group or
 * others could write.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "jose.h"
#include "keyring.h"

#define B64URL_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

_Static_assert(TP_PUBKEY_RAW_LEN == TP_ED25519_PUBLIC_LEN, "an Ed25519 public key is 32 bytes");

struct tp_pubkey {
        EVP_PKEY *pkey;         /* the public half only */
        char kid[TP_KID_LEN + 1];
        char x[TP_KID_LEN + 1]; /* the JWK "x": base64url of the raw public key */
};

/* Sorted by until, latest first, then by kid. */
struct retained_key {
        struct tp_pubkey *key;
        int64_t until;
};

struct tp_keyring {
        struct tp_pubkey *current;
        size_t n_retained;
        struct retained_key retained[TP_KEYRING_RETAINED_MAX];
};

bool tp_kid_valid(const char *kid)
{
        return kid && strnlen(kid, TP_KID_LEN + 1) == TP_KID_LEN &&
               strspn(kid, B64URL_ALPHABET) == TP_KID_LEN;
}

/* ---- one public key ---------------------------------------------------- */

/* The RFC 7638 JWK thumbprint: base64url SHA-256 of the required members
 * in lexicographic order, without whitespace. */
static int jwk_thumbprint(const char *x, char kid[TP_KID_LEN + 1])
{
        char jwk[128];
        uint8_t h[TP_DIGEST_LEN];
        size_t len;
        int n, r;

        n = snprintf(jwk, sizeof(jwk), "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
        if (n < 0 || (size_t)n >= sizeof(jwk))
                return -EINVAL;
        if ((r = tp_sha256(jwk, (size_t)n, h)) < 0)
                return r;
        return tp_b64url_encode(h, sizeof(h), kid, TP_KID_LEN + 1, &len);
}

/* A tp_pubkey owning pkey (an Ed25519 public key) on success. */
static int pubkey_adopt(EVP_PKEY *pkey, struct tp_pubkey **ret)
{
        uint8_t raw[TP_ED25519_PUBLIC_LEN];
        struct tp_pubkey *k;
        size_t xlen;
        int r;

        if (!(k = calloc(1, sizeof(*k))))
                return -ENOMEM;
        if ((r = tp_pkey_raw_public(pkey, raw)) < 0 ||
            (r = tp_b64url_encode(raw, sizeof(raw), k->x, sizeof(k->x), &xlen)) < 0 ||
            (r = jwk_thumbprint(k->x, k->kid)) < 0) {
                free(k);
                return r;
        }
        k->pkey = pkey;
        *ret = k;
        return 0;
}

int tp_pubkey_from_raw(const uint8_t raw[TP_PUBKEY_RAW_LEN], struct tp_pubkey **ret)
{
        EVP_PKEY *pkey;
        int r;

        if (!raw || !ret)
                return -EINVAL;
        if (!(pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, TP_PUBKEY_RAW_LEN)))
                return -EIO;
        if ((r = pubkey_adopt(pkey, ret)) < 0)
                EVP_PKEY_free(pkey);
        return r;
}

/* Whoever can write in keys/ could make a forged token verify: the owner
 * reads only files that are its own and writable by nobody else. */
static int own_key_file_check(const struct stat *st)
{
        if (!S_ISREG(st->st_mode) || st->st_uid != geteuid() || (st->st_mode & 022) != 0)
                return -EPERM;
        return 0;
}

/* A public key is not secret: for anyone else, any regular file will do. */
static int public_key_file_check(const struct stat *st)
{
        return S_ISREG(st->st_mode) ? 0 : -EINVAL;
}

int tp_pubkey_load(int dirfd, const char *name, bool ours, struct tp_pubkey **ret)
{
        EVP_PKEY *pkey = NULL;
        int r;

        if (!name || !ret)
                return -EINVAL;
        if (ours)
                r = tp_pem_load(dirfd, name, O_NOFOLLOW, own_key_file_check, false, &pkey);
        else
                r = tp_pem_load(dirfd, name, 0, public_key_file_check, false, &pkey);
        if (r < 0)
                return ours && r == -ELOOP ? -EPERM : r;
        if ((r = pubkey_adopt(pkey, ret)) < 0)
                EVP_PKEY_free(pkey);
        return r;
}

void tp_pubkey_free(struct tp_pubkey *k)
{
        if (!k)
                return;
        EVP_PKEY_free(k->pkey);
        free(k);
}

const char *tp_pubkey_kid(const struct tp_pubkey *k)
{
        return k->kid;
}

const char *tp_pubkey_x(const struct tp_pubkey *k)
{
        return k->x;
}

int tp_pubkey_verify(const struct tp_pubkey *k, const uint8_t *msg, size_t len, const uint8_t *sig,
                     size_t siglen)
{
        EVP_MD_CTX *md;
        int r = 0;

        if (!(md = EVP_MD_CTX_new()))
                return -ENOMEM;
        if (EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->pkey) != 1)
                r = -EIO;
        else if (EVP_DigestVerify(md, sig, siglen, msg, len) != 1)
                r = -EKEYREJECTED;
        EVP_MD_CTX_free(md);
        return r;
}

int tp_pubkey_pem_kid(const char *pubkey_pem_path, char ret_kid[TP_KID_LEN + 1])
{
        struct tp_pubkey *k = NULL;
        int r;

        if (!pubkey_pem_path || !ret_kid)
                return -EINVAL;
        if ((r = tp_pubkey_load(AT_FDCWD, pubkey_pem_path, false, &k)) < 0)
                return r;
        memcpy(ret_kid, k->kid, sizeof(k->kid));
        tp_pubkey_free(k);
        return 0;
}

/* ---- the keyring ------------------------------------------------------- */

int tp_keyring_new(struct tp_keyring **ret)
{
        struct tp_keyring *kr;

        if (!ret)
                return -EINVAL;
        if (!(kr = calloc(1, sizeof(*kr))))
                return -ENOMEM;
        *ret = kr;
        return 0;
}

void tp_keyring_free(struct tp_keyring *kr)
{
        if (!kr)
                return;
        tp_pubkey_free(kr->current);
        for (size_t i = 0; i < kr->n_retained; i++)
                tp_pubkey_free(kr->retained[i].key);
        free(kr);
}

void tp_keyring_set_current(struct tp_keyring *kr, struct tp_pubkey *k)
{
        tp_pubkey_free(kr->current);
        kr->current = k;
}

const struct tp_pubkey *tp_keyring_current(const struct tp_keyring *kr)
{
        return kr->current;
}

static bool retained_before(const struct retained_key *a, const struct tp_pubkey *k, int64_t until)
{
        if (a->until != until)
                return a->until > until;
        return strcmp(a->key->kid, k->kid) < 0;
}

/* Insert in order; the caller has checked that there is room. */
static void retained_insert(struct tp_keyring *kr, struct tp_pubkey *k, int64_t until)
{
        size_t i = 0;

        while (i < kr->n_retained && retained_before(&kr->retained[i], k, until))
                i++;
        memmove(&kr->retained[i + 1], &kr->retained[i], (kr->n_retained - i) * sizeof(kr->retained[0]));
        kr->retained[i] = (struct retained_key){ .key = k, .until = until };
        kr->n_retained++;
}

int tp_keyring_retain(struct tp_keyring *kr, struct tp_pubkey *k, int64_t until)
{
        if (!kr || !k)
                return -EINVAL;
        if (tp_keyring_find_retained(kr, k->kid))
                return -EEXIST;
        if (kr->n_retained == TP_KEYRING_RETAINED_MAX)
                return -E2BIG;
        retained_insert(kr, k, until);
        return 0;
}

int tp_keyring_rotate(struct tp_keyring *kr, struct tp_pubkey *next, int64_t until)
{
        if (!kr || !next || !kr->current)
                return -EINVAL;
        if (kr->n_retained == TP_KEYRING_RETAINED_MAX)
                return -ENOSPC;
        retained_insert(kr, kr->current, until);
        kr->current = next;
        return 0;
}

size_t tp_keyring_n_retained(const struct tp_keyring *kr)
{
        return kr->n_retained;
}

const struct tp_pubkey *tp_keyring_retained(const struct tp_keyring *kr, size_t i, int64_t *ret_until)
{
        if (i >= kr->n_retained)
                return NULL;
        if (ret_until)
                *ret_until = kr->retained[i].until;
        return kr->retained[i].key;
}

static size_t retained_index(const struct tp_keyring *kr, const char *kid)
{
        size_t i;

        for (i = 0; i < kr->n_retained; i++)
                if (strcmp(kr->retained[i].key->kid, kid) == 0)
                        break;
        return i;
}

const struct tp_pubkey *tp_keyring_find_retained(const struct tp_keyring *kr, const char *kid)
{
        size_t i = retained_index(kr, kid);

        return i < kr->n_retained ? kr->retained[i].key : NULL;
}

bool tp_keyring_drop(struct tp_keyring *kr, const char *kid)
{
        size_t i = retained_index(kr, kid);

        if (i == kr->n_retained)
                return false;
        tp_pubkey_free(kr->retained[i].key);
        memmove(&kr->retained[i], &kr->retained[i + 1], (kr->n_retained - i - 1) * sizeof(kr->retained[0]));
        kr->n_retained--;
        memset(&kr->retained[kr->n_retained], 0, sizeof(kr->retained[0]));
        return true;
}

/* Only compares strings: a kid never reaches the file system here. */
const struct tp_pubkey *tp_keyring_find(const struct tp_keyring *kr, const char *kid, int64_t now)
{
        size_t i;

        if (kr->current && (kid[0] == '\0' || strcmp(kid, kr->current->kid) == 0))
                return kr->current;
        if (kid[0] == '\0')
                return NULL;
        i = retained_index(kr, kid);
        return i < kr->n_retained && kr->retained[i].until > now ? kr->retained[i].key : NULL;
}

/* ---- the retained keys' files ------------------------------------------ */

/* Every path built from a kid goes through here, and a kid that is not 43
 * base64url characters never becomes one. */
int tp_retained_name(const char *kid, const char *suffix, char out[TP_RETAINED_NAME_MAX])
{
        int n;

        if (!tp_kid_valid(kid))
                return -EINVAL;
        n = snprintf(out, TP_RETAINED_NAME_MAX, "%s%s", kid, suffix);
        return n < 0 || (size_t)n >= TP_RETAINED_NAME_MAX ? -ENAMETOOLONG : 0;
}

bool tp_retained_name_kid(const char *name, const char *suffix, char kid[TP_KID_LEN + 1])
{
        size_t len = strlen(name), slen = strlen(suffix);

        if (len != TP_KID_LEN + slen || strcmp(name + TP_KID_LEN, suffix) != 0)
                return false;
        memcpy(kid, name, TP_KID_LEN);
        kid[TP_KID_LEN] = '\0';
        return tp_kid_valid(kid);
}

int tp_retained_until_text(int64_t until, char text[TP_UNTIL_TEXT_MAX], size_t *ret_len)
{
        int n = snprintf(text, TP_UNTIL_TEXT_MAX, "%" PRId64 "\n", until);

        if (n < 0 || (size_t)n >= TP_UNTIL_TEXT_MAX)
                return -EINVAL;
        *ret_len = (size_t)n;
        return 0;
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

int tp_retained_read_until(int keysfd, const char *kid, bool ours, int64_t *ret_until)
{
        char name[TP_RETAINED_NAME_MAX], buf[TP_UNTIL_TEXT_MAX];
        struct stat st;
        size_t len = 0;
        int fd, r;

        if ((r = tp_retained_name(kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX, name)) < 0)
                return r;
        fd = openat(keysfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return errno == ELOOP ? -EPERM : -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if (ours && (r = own_key_file_check(&st)) < 0)
                goto out;
        if (!S_ISREG(st.st_mode)) {
                r = -EPERM;
                goto out;
        }
        r = tp_read_fd_bounded(fd, buf, sizeof(buf), &len);
        if (r == -EFBIG)
                r = -EBADMSG;
        if (r < 0)
                goto out;
        r = parse_until(buf, len, ret_until);
out:
        close(fd);
        return r;
}

/* keys/ in the state directory dir, opened to read: never through a
 * symlink (-EPERM). */
static int keys_dir_open_read(const char *dir, int *ret)
{
        int dirfd, keysfd;

        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -errno;
        keysfd = openat(dirfd, TP_TOKEN_KEYS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(dirfd);
        if (keysfd < 0)
                return errno == ELOOP || errno == ENOTDIR ? -EPERM : -errno;
        *ret = keysfd;
        return 0;
}

int tp_retained_key_until(const char *dir, const char *kid, int64_t *ret_until)
{
        int keysfd = -1, r;

        /* A kid that is not a key id is refused before any file is opened. */
        if (!dir || !ret_until || !tp_kid_valid(kid))
                return -EINVAL;
        if ((r = keys_dir_open_read(dir, &keysfd)) < 0)
                return r;
        r = tp_retained_read_until(keysfd, kid, false, ret_until);
        close(keysfd);
        return r;
}

int tp_keyring_load_retained(struct tp_keyring *kr, int keysfd, const char *kid, int64_t until,
                             bool ours)
{
        char name[TP_RETAINED_NAME_MAX];
        struct tp_pubkey *k = NULL;
        int r;

        if ((r = tp_retained_name(kid, TP_TOKEN_RETAINED_PUB_SUFFIX, name)) < 0 ||
            (r = tp_pubkey_load(keysfd, name, ours, &k)) < 0)
                return r;
        if (strcmp(k->kid, kid) != 0)
                r = -EBADMSG;
        else
                r = tp_keyring_retain(kr, k, until);
        if (r < 0)
                tp_pubkey_free(k);
        return r;
}

/* ---- a state directory as a reader sees it ----------------------------- */

int tp_published_key_find(const char *dir, const char *kid, int64_t now, struct tp_published_key *ret)
{
        char current[TP_KID_LEN + 1];
        int n, r;

        if (!dir || !kid || !ret)
                return -EINVAL;
        memset(ret, 0, sizeof(*ret));
        if (kid[0]) {
                if (!tp_kid_valid(kid))
                        return -EINVAL;
                n = snprintf(ret->path, sizeof(ret->path), "%s/" TP_TOKEN_KEYS_DIR "/%s" TP_TOKEN_RETAINED_PUB_SUFFIX,
                             dir, kid);
                if (n < 0 || (size_t)n >= sizeof(ret->path))
                        return -ENAMETOOLONG;
                if (access(ret->path, F_OK) == 0) {
                        /* tokenpolicyd drops a retained key at its time; it
                         * may not have run since. */
                        ret->retained = true;
                        if ((r = tp_retained_key_until(dir, kid, &ret->until)) < 0)
                                return r;
                        return ret->until > now ? 0 : -EKEYEXPIRED;
                }
        }
        n = snprintf(ret->path, sizeof(ret->path), "%s/" TP_TOKEN_PUB_FILE, dir);
        if (n < 0 || (size_t)n >= sizeof(ret->path))
                return -ENAMETOOLONG;
        /* A current key that cannot be read is for the verifier to report. */
        if (kid[0] && tp_pubkey_pem_kid(ret->path, current) == 0 && strcmp(kid, current) != 0)
                return -ENOKEY;
        return 0;
}
