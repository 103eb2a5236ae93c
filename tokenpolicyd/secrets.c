/* SPDX-License-Identifier: BSD-3-Clause */
/* secrets.c: session ids, refresh tokens and their hashes (secrets.h).
 *
 * Must never: log; take a random value from anything but the kernel's
 * CSPRNG; keep a refresh token's text (only its SHA-256 leaves here) or
 * leave its bytes in memory it is done with; compare hashes in a time that
 * depends on where they differ.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>

#include "crypto.h"
#include "jose.h"
#include "secrets.h"

_Static_assert(TP_SHA256_LEN == TP_DIGEST_LEN, "a refresh token's hash is SHA-256");

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

/* n bytes from the kernel's CSPRNG (getrandom(2), blocking only until it
 * is seeded at boot). */
static int kernel_random(uint8_t *out, size_t n)
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

/* A sign-in draws three small values (its session id, its refresh token,
 * its access token's id), each a system call of its own when taken
 * straight from the kernel. They come from a pool of kernel bytes instead,
 * filled a whole pool at a time: bytes handed out are wiped from the pool
 * at once, each thread has its own, and a child of fork() starts empty, so
 * no value is ever handed out twice. */
#define POOL_SIZE 512

static _Thread_local struct {
        uint8_t bytes[POOL_SIZE];
        size_t left;            /* the unused bytes are the last `left` */
} pool;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_forget(void)
{
        tp_secret_wipe(pool.bytes, sizeof(pool.bytes));
        pool.left = 0;
}

static void pool_init(void)
{
        (void)pthread_atfork(NULL, NULL, pool_forget);
}

static int random_bytes(uint8_t *out, size_t n)
{
        uint8_t *from;
        int r;

        if (n > POOL_SIZE / 4)
                return kernel_random(out, n);
        pthread_once(&pool_once, pool_init);
        if (pool.left < n) {
                if ((r = kernel_random(pool.bytes, sizeof(pool.bytes))) < 0) {
                        pool_forget();
                        return r;
                }
                pool.left = sizeof(pool.bytes);
        }
        from = pool.bytes + sizeof(pool.bytes) - pool.left;
        memcpy(out, from, n);
        tp_secret_wipe(from, n);
        pool.left -= n;
        return 0;
}

/* The first 48 bits are the creation time in milliseconds, the other 80
 * come from the CSPRNG: ids made one after another sort together, so a
 * batch of new sessions touches a few index pages instead of one each,
 * and 80 random bits still make an id impossible to guess (it is a handle,
 * not a credential: every request is checked against its peer). */
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

int tp_random_hex(size_t nbytes, char *out)
{
        uint8_t rnd[64];

        if (nbytes > sizeof(rnd))
                return -EINVAL;
        if (random_bytes(rnd, nbytes) < 0)
                return -EIO;
        hex_lower(rnd, nbytes, out);
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
            (r = tp_sha256(text, len, h)) < 0)
                goto out;
        memcpy(out, text, len + 1);
        memcpy(hash, h, sizeof(h));
out:
        tp_secret_wipe(raw, sizeof(raw));
        tp_secret_wipe(text, sizeof(text));
        return r;
}

int tp_refresh_token_hash(const char *token, uint8_t hash[TP_SHA256_LEN])
{
        return tp_sha256(token, strlen(token), hash);
}

bool tp_hash_equal(const uint8_t a[TP_SHA256_LEN], const uint8_t b[TP_SHA256_LEN])
{
        return CRYPTO_memcmp(a, b, TP_SHA256_LEN) == 0;
}
