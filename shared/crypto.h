/* SPDX-License-Identifier: BSD-3-Clause */
/* crypto.h: the OpenSSL calls the token files share: SHA-256, a bounded
 * read of a small file, an Ed25519 key from a PEM file whose descriptor a
 * caller has approved, and a key's raw public half.
 *
 * Token code only: this header includes OpenSSL, and only the files that
 * handle keys and tokens (shared/crypto.c, shared/keyring.c,
 * tokenpolicyd/secrets.c, tokenpolicyd/signer.c) may include it. Nothing
 * here logs, and nothing leaves key material in memory it frees.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#define TP_DIGEST_LEN 32             /* SHA-256 */
#define TP_ED25519_PUBLIC_LEN 32
#define TP_ED25519_SIG_LEN 64
#define TP_KEY_FILE_MAX 16384        /* an Ed25519 PEM is ~120 bytes */

/* SHA-256 of data[0..len). -EIO when the digest fails (a broken crypto
 * provider, no memory); out is written only on success. */
int tp_sha256(const void *data, size_t len, uint8_t out[TP_DIGEST_LEN]);

/* Read fd to its end into buf[0..bufsz); *ret_len is the byte count.
 * -EFBIG when the file does not fit (bufsz bytes read and more may
 * follow), -errno from read(). */
int tp_read_fd_bounded(int fd, char *buf, size_t bufsz, size_t *ret_len);

/* How a key file's descriptor must look: 0, or the negative errno to fail
 * with. Called after open(), before a byte is read. */
typedef int tp_key_file_check(const struct stat *st);

/* Read an Ed25519 key in PEM from name (relative to dirfd; open_flags are
 * added to O_RDONLY, e.g. O_NOFOLLOW) after check has approved the open
 * descriptor's metadata: checking the descriptor, not the name, leaves no
 * window for a swap. With `private_key` the file must hold a private key,
 * else a public one. -errno from open() or check, -EFBIG for a file over
 * TP_KEY_FILE_MAX, -EINVAL when it is not such a key. The bytes read are
 * wiped whichever key they held. */
int tp_pem_load(int dirfd, const char *name, int open_flags, tp_key_file_check *check,
                bool private_key, EVP_PKEY **ret);

/* The raw 32-byte public key of an Ed25519 key (public or private). -EIO
 * when pkey is not one. */
int tp_pkey_raw_public(EVP_PKEY *pkey, uint8_t raw[TP_ED25519_PUBLIC_LEN]);
