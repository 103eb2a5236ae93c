/* SPDX-License-Identifier: BSD-3-Clause */
/* crypto.c: SHA-256, bounded file reads and Ed25519 keys from PEM files,
 * for the token files (crypto.h).
 *
 * Must never: log; read a key file without a bound or before its caller
 * approved the open descriptor; leave the bytes of a key file in memory it
 * releases; accept a key of another type than Ed25519.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "crypto.h"
#include "wipe.h"

static EVP_MD *sha256_cached;

/* SHA-256 fetched from the provider once: EVP_sha256() is looked up
 * again on every digest, a few microseconds a time for a sign-in that
 * hashes one refresh token. Kept for the life of the process. */
static EVP_MD *sha256_md(void)
{
        EVP_MD *md = __atomic_load_n(&sha256_cached, __ATOMIC_ACQUIRE), *none = NULL;

        if (md)
                return md;
        if (!(md = EVP_MD_fetch(NULL, "SHA256", NULL)))
                return NULL;
        if (!__atomic_compare_exchange_n(&sha256_cached, &none, md, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                EVP_MD_free(md); /* another thread's came first */
                md = none;
        }
        return md;
}

int tp_sha256(const void *data, size_t len, uint8_t out[TP_DIGEST_LEN])
{
        EVP_MD *md = sha256_md();
        unsigned int mdlen = 0;

        if (!md || EVP_Digest(data, len, out, &mdlen, md, NULL) != 1 || mdlen != TP_DIGEST_LEN)
                return -EIO;
        return 0;
}

int tp_read_fd_bounded(int fd, char *buf, size_t bufsz, size_t *ret_len)
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

int tp_pem_load(int dirfd, const char *name, int open_flags, tp_key_file_check *check,
                bool private_key, EVP_PKEY **ret)
{
        char buf[TP_KEY_FILE_MAX];
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
        if ((r = check(&st)) < 0)
                goto out;
        if ((r = tp_read_fd_bounded(fd, buf, sizeof(buf), &len)) < 0)
                goto out;
        if (!(bio = BIO_new_mem_buf(buf, (int)len))) {
                r = -ENOMEM;
                goto out;
        }
        pkey = private_key ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                           : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        if (!pkey || EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
                r = -EINVAL;
                goto out;
        }
        *ret = pkey;
        pkey = NULL;
        r = 0;
out:
        EVP_PKEY_free(pkey);
        BIO_free(bio);
        tp_secret_wipe(buf, sizeof(buf));
        close(fd);
        return r;
}

int tp_pkey_raw_public(EVP_PKEY *pkey, uint8_t raw[TP_ED25519_PUBLIC_LEN])
{
        size_t rawlen = TP_ED25519_PUBLIC_LEN;

        if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 || rawlen != TP_ED25519_PUBLIC_LEN)
                return -EIO;
        return 0;
}
