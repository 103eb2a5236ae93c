/* SPDX-License-Identifier: BSD-3-Clause */
/* signer.c: the Ed25519 signing key, its rotation, the old public keys a
 * rotation retains, their end and revocation, and the files that publish
 * them (signer.h). The public keys in memory are a keyring (shared/
 * keyring.c); this file decides which keys it holds and writes the files.
 *
 * Must never: log; leave a secret in memory it frees; write the private
 * key anywhere but a 0600 file created with O_EXCL; follow a symlink to the
 * private key or a retained key; trust a retained key that someone else
 * could have written, or one past its time or revoked; build a path from a
 * kid that is not base64url; rewrite a published file that already holds
 * what it must (a start on a full or read-only disk needs no write); let
 * the keys in memory disagree with the files once a switch is on disk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <sodium.h>

#include "crypto.h"
#include "secrets.h"
#include "signer.h"
#include "wipe.h"

_Static_assert(TP_SIGNATURE_LEN == crypto_sign_BYTES, "an Ed25519 signature is 64 bytes");
_Static_assert(TP_ED25519_PUBLIC_LEN == crypto_sign_PUBLICKEYBYTES, "an Ed25519 public key is 32 bytes");

struct tp_signer {
        int dirfd;              /* the state directory */
        EVP_PKEY *key;          /* the current private key */
        /* The current private key as libsodium holds it: Ed25519 signatures
         * are deterministic, so libsodium's equal OpenSSL's byte for byte,
         * in well under half the time. OpenSSL keeps, loads and stores
         * keys, the keyring verifies; this only signs. */
        uint8_t sodium_sk[crypto_sign_SECRETKEYBYTES];
        /* The current public key and the retained ones, latest end first. */
        struct tp_keyring *ring;
        bool publish_stale;     /* the last write of the public files failed */
        /* Signatures made on a thread of their own (tp_signer_sign_later):
         * started at the first, stopped by tp_signer_free. Everything below
         * is under lock; the thread reads sodium_sk, which changes only
         * once no job is left (signer_take_private). */
        pthread_mutex_t lock;
        pthread_cond_t work, done;
        pthread_t thread;
        bool thread_started, thread_failed, thread_idle, stopping;
        struct tp_sign_job *queue, **queue_tail;
        size_t n_unfinished;    /* queued or being signed */
        size_t n_unkicked;      /* queued since the thread was last woken */
};

struct tp_sign_job {
        struct tp_sign_job *next;
        bool done;
        int r;
        uint8_t sig[TP_SIGNATURE_LEN];
        size_t len;
        uint8_t msg[];
};

/* ---- files ----------------------------------------------------------------- */

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
        int fd = -1, r, attempt;

        for (attempt = 0; fd < 0; attempt++) {
                if (attempt == 16)
                        return -EEXIST;
                if (tp_random_hex(8, suffix) < 0)
                        return -EIO;
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
        while (len > 0) {
                ssize_t n = write(fd, data, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        goto out;
                }
                data += n;
                len -= (size_t)n;
        }
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
        if (tp_read_fd_bounded(fd, buf, len + 1, &got) == 0 && got == len && memcmp(buf, data, len) == 0)
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

/* The private key file must be ours alone: a regular file, owned by the
 * effective user, without any group or other permission. */
static int private_key_file_check(const struct stat *st)
{
        if (!S_ISREG(st->st_mode) || (st->st_mode & 077) != 0 || st->st_uid != geteuid())
                return -EPERM;
        return 0;
}

/* O_NOFOLLOW: a symlink in place of the private key is refused as a
 * permission problem (-EPERM), like a file with the wrong owner or mode. */
static int signer_load_key(int dirfd, EVP_PKEY **ret)
{
        int r = tp_pem_load(dirfd, TP_TOKEN_KEY_FILE, O_NOFOLLOW, private_key_file_check, true, ret);

        return r == -ELOOP ? -EPERM : r;
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

/* pkey's private key as libsodium holds it (from its 32-byte seed). */
static int sodium_secret_key(EVP_PKEY *pkey, uint8_t sk[crypto_sign_SECRETKEYBYTES])
{
        uint8_t seed[32], pk[crypto_sign_PUBLICKEYBYTES], raw[TP_ED25519_PUBLIC_LEN];
        size_t seedlen = sizeof(seed);
        int r = 0;

        if (EVP_PKEY_get_raw_private_key(pkey, seed, &seedlen) != 1 || seedlen != sizeof(seed) ||
            tp_pkey_raw_public(pkey, raw) < 0 || crypto_sign_seed_keypair(pk, sk, seed) != 0)
                r = -EIO;
        else if (sodium_memcmp(pk, raw, sizeof(pk)) != 0) /* not the same key: never sign with it */
                r = -EIO;
        tp_secret_wipe(seed, sizeof(seed));
        if (r < 0)
                tp_secret_wipe(sk, crypto_sign_SECRETKEYBYTES);
        return r;
}

/* A key just loaded or made, ready to switch to: the private key, its
 * libsodium form and its public key for the keyring. Everything that can
 * fail in memory is done here, before anything on disk changes. */
struct next_key {
        EVP_PKEY *key;
        uint8_t sodium_sk[crypto_sign_SECRETKEYBYTES];
        struct tp_pubkey *pub;
};

static int next_key_prepare(struct next_key *n)
{
        uint8_t raw[TP_ED25519_PUBLIC_LEN];
        int r;

        if ((r = sodium_secret_key(n->key, n->sodium_sk)) < 0 || (r = tp_pkey_raw_public(n->key, raw)) < 0)
                return r;
        return tp_pubkey_from_raw(raw, &n->pub);
}

static void next_key_clear(struct next_key *n)
{
        EVP_PKEY_free(n->key);
        tp_pubkey_free(n->pub);
        tp_secret_wipe(n->sodium_sk, sizeof(n->sodium_sk));
        n->key = NULL;
        n->pub = NULL;
}

/* Sign with n from now on (its public key becomes the keyring's current
 * key only through the caller). Cannot fail. */
static void sign_jobs_wait_all(struct tp_signer *s);

static void signer_take_private(struct tp_signer *s, struct next_key *n)
{
        sign_jobs_wait_all(s); /* none may be signed with the next key */
        EVP_PKEY_free(s->key);
        s->key = n->key;
        n->key = NULL;
        memcpy(s->sodium_sk, n->sodium_sk, sizeof(s->sodium_sk));
        tp_secret_wipe(n->sodium_sk, sizeof(n->sodium_sk));
}

/* ---- the retained keys on disk: keys/<kid>.pub.pem and keys/<kid>.until --- */

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

/* Record the current key in keys/ as retained until `until`: its public
 * key first, then the record naming its time, each written whole and made
 * durable. A record therefore never exists without its key; a key without
 * a record is a leftover the next open removes. */
static int retained_store(struct tp_signer *s, int keysfd, int64_t until)
{
        const char *kid = tp_signer_kid(s);
        char name[TP_RETAINED_NAME_MAX], text[TP_UNTIL_TEXT_MAX];
        size_t len;
        int r;

        if ((r = tp_retained_name(kid, TP_TOKEN_RETAINED_PUB_SUFFIX, name)) < 0 ||
            (r = store_public_key(keysfd, name, s->key, false)) < 0 ||
            (r = tp_retained_name(kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX, name)) < 0 ||
            (r = tp_retained_until_text(until, text, &len)) < 0)
                return r;
        return write_file_atomic(keysfd, name, text, len, 0644, true);
}

/* Forget a retained key on disk: the record first, for the same reason. */
static int retained_remove(int keysfd, const char *kid)
{
        char name[TP_RETAINED_NAME_MAX];
        int r;

        if ((r = tp_retained_name(kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX, name)) < 0)
                return r;
        if (unlinkat(keysfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        if ((r = tp_retained_name(kid, TP_TOKEN_RETAINED_PUB_SUFFIX, name)) < 0)
                return r;
        if (unlinkat(keysfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* Load the retained key that the record keys/<kid>.until names, or drop
 * the record when its time has passed, when it names the current key (a
 * rotation stopped before the switch), or when its key file is gone. */
static int signer_load_retained_one(struct tp_signer *s, int keysfd, const char *kid, int64_t now)
{
        int64_t until = 0;
        int r;

        if (strcmp(kid, tp_signer_kid(s)) == 0)
                return retained_remove(keysfd, kid);
        if ((r = tp_retained_read_until(keysfd, kid, true, &until)) < 0)
                return r;
        if (until <= now)
                return retained_remove(keysfd, kid);
        r = tp_keyring_load_retained(s->ring, keysfd, kid, until, true);
        return r == -ENOENT ? retained_remove(keysfd, kid) : r;
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
                if (!tp_retained_name_kid(e->d_name, TP_TOKEN_RETAINED_UNTIL_SUFFIX, kid))
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
                if (!tp_retained_name_kid(e->d_name, TP_TOKEN_RETAINED_PUB_SUFFIX, kid) ||
                    tp_keyring_find_retained(s->ring, kid))
                        continue;
                if (unlinkat(keysfd, e->d_name, 0) < 0 && errno != ENOENT) {
                        r = -errno;
                        goto out;
                }
        }
        if (errno)
                r = -errno;
out:
        closedir(d);
        return r;
}

/* Drop the retained keys whose time is not after now: from disk, then
 * from memory, each calling `dropped` when set. */
static int signer_drop_ended(struct tp_signer *s, int keysfd, int64_t now,
                             void (*dropped)(const char *kid, int64_t until, void *userdata), void *userdata)
{
        const struct tp_pubkey *k;
        char kid[TP_KID_LEN + 1];
        int64_t until;
        size_t i = 0;
        int r;

        while ((k = tp_keyring_retained(s->ring, i, &until))) {
                if (until > now) {
                        i++;
                        continue;
                }
                memcpy(kid, tp_pubkey_kid(k), sizeof(kid));
                if ((r = retained_remove(keysfd, kid)) < 0)
                        return r;
                if (dropped)
                        dropped(kid, until, userdata);
                tp_keyring_drop(s->ring, kid);
        }
        return 0;
}

/* The current public key as PEM, and the JWKS: the current key first,
 * then each retained key whose time has not passed. Each file is written
 * only when it does not already hold exactly that. On failure *ret_step
 * (when not NULL) names the file, and the signer remembers to try again. */
static int signer_publish(struct tp_signer *s, int64_t now, const char **ret_step)
{
        size_t len = 0;
        char *jwks;
        int r;

        s->publish_stale = true;
        if ((r = store_public_key(s->dirfd, TP_TOKEN_PUB_FILE, s->key, true)) < 0) {
                if (ret_step)
                        *ret_step = "writing " TP_TOKEN_PUB_FILE;
                return r;
        }
        if (ret_step)
                *ret_step = "writing " TP_TOKEN_JWKS_FILE;
        if (!(jwks = malloc(TP_JWKS_MAX)))
                return -ENOMEM;
        r = tp_jwks_render(s->ring, now, jwks, TP_JWKS_MAX, &len);
        if (r == 0)
                r = write_file_if_changed(s->dirfd, TP_TOKEN_JWKS_FILE, jwks, len, 0644);
        free(jwks);
        if (r == 0)
                s->publish_stale = false;
        return r;
}

/* ---- the signer ------------------------------------------------------------ */

int tp_signer_open_report(const char *dir, int64_t now, struct tp_signer **ret,
                          const char **ret_step)
{
        const char *step = "opening the state directory";
        struct next_key first = {};
        struct tp_signer *s = NULL;
        int keysfd = -1, r;

        if (!dir || !ret)
                return -EINVAL;
        if (sodium_init() < 0)
                return -EIO;
        if (!(s = calloc(1, sizeof(*s))))
                return -ENOMEM;
        s->dirfd = -1;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->work, NULL);
        pthread_cond_init(&s->done, NULL);
        s->queue_tail = &s->queue;
        if ((r = tp_keyring_new(&s->ring)) < 0)
                goto out;
        s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dirfd < 0) {
                r = -errno;
                goto out;
        }
        step = "reading the signing key " TP_TOKEN_KEY_FILE;
        r = signer_load_key(s->dirfd, &first.key);
        if (r == -ENOENT) {
                step = "creating the signing key " TP_TOKEN_KEY_FILE;
                r = signer_create_key(s->dirfd, &first.key);
                /* Another process created it first: use theirs. */
                if (r == -EEXIST) {
                        step = "reading the signing key " TP_TOKEN_KEY_FILE;
                        r = signer_load_key(s->dirfd, &first.key);
                }
        }
        if (r < 0)
                goto out;
        step = "reading the signing key " TP_TOKEN_KEY_FILE;
        if ((r = next_key_prepare(&first)) < 0)
                goto out;
        tp_keyring_set_current(s->ring, first.pub);
        first.pub = NULL;
        signer_take_private(s, &first);
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
        next_key_clear(&first);
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

void tp_signer_free(struct tp_signer *s)
{
        if (!s)
                return;
        sign_jobs_wait_all(s);
        if (s->thread_started) {
                pthread_mutex_lock(&s->lock);
                s->stopping = true;
                pthread_cond_signal(&s->work);
                pthread_mutex_unlock(&s->lock);
                pthread_join(s->thread, NULL);
        }
        pthread_cond_destroy(&s->done);
        pthread_cond_destroy(&s->work);
        pthread_mutex_destroy(&s->lock);
        tp_secret_wipe(s->sodium_sk, sizeof(s->sodium_sk));
        EVP_PKEY_free(s->key);
        tp_keyring_free(s->ring);
        if (s->dirfd >= 0)
                close(s->dirfd);
        free(s);
}

const struct tp_keyring *tp_signer_keyring(const struct tp_signer *s)
{
        return s ? s->ring : NULL;
}

const char *tp_signer_kid(const struct tp_signer *s)
{
        return tp_pubkey_kid(tp_keyring_current(s->ring));
}

int tp_signer_sign(const struct tp_signer *s, const uint8_t *msg, size_t len,
                   uint8_t sig[TP_SIGNATURE_LEN])
{
        if (!s || !msg || !sig)
                return -EINVAL;
        return crypto_sign_detached(sig, NULL, msg, len, s->sodium_sk) == 0 ? 0 : -EIO;
}

/* ---- signing on a thread of its own ------------------------------------ */

static void *sign_thread(void *arg)
{
        struct tp_signer *s = arg;
        struct tp_sign_job *job;

        pthread_mutex_lock(&s->lock);
        for (;;) {
                while (!s->queue && !s->stopping) {
                        s->thread_idle = true;
                        pthread_cond_wait(&s->work, &s->lock);
                }
                s->thread_idle = false;
                if (!s->queue)
                        break; /* stopping, and nothing is left */
                job = s->queue;
                s->queue = job->next;
                if (!s->queue)
                        s->queue_tail = &s->queue;
                pthread_mutex_unlock(&s->lock);
                job->r = tp_signer_sign(s, job->msg, job->len, job->sig);
                pthread_mutex_lock(&s->lock);
                __atomic_store_n(&job->done, true, __ATOMIC_RELEASE);
                s->n_unfinished--;
                pthread_cond_broadcast(&s->done);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

/* The thread takes no signal: the daemon's are read from a signalfd by
 * the event loop, and must stay blocked everywhere. */
static bool sign_thread_start(struct tp_signer *s)
{
        sigset_t all, old;

        if (s->thread_started || s->thread_failed)
                return s->thread_started;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        s->thread_started = pthread_create(&s->thread, NULL, sign_thread, s) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        s->thread_failed = !s->thread_started;
        return s->thread_started;
}

/* Waking the thread costs a system call on each side, more than a
 * signature's share of the work it moves: jobs wait to be started a few
 * at a time, or until someone wants one (tp_signer_sign_now, a finish). */
#define SIGN_KICK_JOBS 8

/* Under lock: whether the thread must be woken. The caller signals after
 * unlocking, so that the thread does not wake only to wait for the lock. */
static bool kick(struct tp_signer *s)
{
        s->n_unkicked = 0;
        return s->thread_idle && s->queue;
}

struct tp_sign_job *tp_signer_sign_later(struct tp_signer *s, const uint8_t *msg, size_t len)
{
        struct tp_sign_job *job;
        bool wake;

        if (!s || !msg || !sign_thread_start(s))
                return NULL;
        job = malloc(sizeof(*job) + len);
        if (!job)
                return NULL;
        job->next = NULL;
        job->done = false;
        job->r = -EIO;
        job->len = len;
        memcpy(job->msg, msg, len);
        pthread_mutex_lock(&s->lock);
        *s->queue_tail = job;
        s->queue_tail = &job->next;
        s->n_unfinished++;
        wake = ++s->n_unkicked >= SIGN_KICK_JOBS && kick(s);
        pthread_mutex_unlock(&s->lock);
        if (wake)
                pthread_cond_signal(&s->work);
        return job;
}

void tp_signer_sign_now(struct tp_signer *s)
{
        bool wake;

        if (!s || !s->thread_started)
                return;
        pthread_mutex_lock(&s->lock);
        wake = kick(s);
        pthread_mutex_unlock(&s->lock);
        if (wake)
                pthread_cond_signal(&s->work);
}

int tp_sign_job_finish(struct tp_signer *s, struct tp_sign_job *job, uint8_t sig[TP_SIGNATURE_LEN])
{
        int r;

        if (!job)
                return -EINVAL;
        if (!__atomic_load_n(&job->done, __ATOMIC_ACQUIRE)) {
                pthread_mutex_lock(&s->lock);
                if (!job->done && kick(s))
                        pthread_cond_signal(&s->work);
                while (!job->done)
                        pthread_cond_wait(&s->done, &s->lock);
                pthread_mutex_unlock(&s->lock);
        }
        r = job->r;
        if (r == 0 && sig)
                memcpy(sig, job->sig, TP_SIGNATURE_LEN);
        tp_secret_wipe(job->sig, sizeof(job->sig));
        free(job);
        return r;
}

/* Every job given to the thread is signed (its owner still collects it). */
static void sign_jobs_wait_all(struct tp_signer *s)
{
        if (!s->thread_started)
                return;
        pthread_mutex_lock(&s->lock);
        if (s->n_unfinished > 0 && kick(s))
                pthread_cond_signal(&s->work);
        while (s->n_unfinished > 0)
                pthread_cond_wait(&s->done, &s->lock);
        pthread_mutex_unlock(&s->lock);
}

/* The order of the writes is what makes a crash harmless: the old public
 * key and its record are durable before the private key file is replaced
 * (one rename), so after a restart either key is current and a token
 * signed by either verifies. */
int tp_signer_rotate(struct tp_signer *s, int64_t now, int64_t retain_until,
                     char ret_old_kid[TP_KID_LEN + 1])
{
        char old_kid[TP_KID_LEN + 1];
        struct next_key next = {};
        int keysfd = -1, r;

        if (!s || !ret_old_kid)
                return -EINVAL;
        if ((r = keys_dir_open(s->dirfd, &keysfd)) < 0 || (r = signer_drop_ended(s, keysfd, now, NULL, NULL)) < 0)
                goto out;
        if (tp_keyring_n_retained(s->ring) == TP_SIGNER_RETAINED_MAX) {
                r = -ENOSPC;
                goto out;
        }
        /* Everything that can fail in memory before anything on disk. */
        if ((r = generate_key(&next.key)) < 0 || (r = next_key_prepare(&next)) < 0)
                goto out;
        memcpy(old_kid, tp_signer_kid(s), sizeof(old_kid));

        /* On failure the record stays: if the rename below did happen
         * after all, it keeps the old tokens verifiable; if not, the next
         * open drops it as naming the current key. */
        if ((r = retained_store(s, keysfd, retain_until)) < 0 ||
            (r = store_private_key(s->dirfd, next.key, true)) < 0)
                goto out;

        /* Switched on disk: the old private key is of no further use, its
         * public key is retained (there is room: checked above). */
        if ((r = tp_keyring_rotate(s->ring, next.pub, retain_until)) < 0)
                goto out;
        next.pub = NULL;
        signer_take_private(s, &next);
        if ((r = signer_publish(s, now, NULL)) < 0)
                goto out;
        memcpy(ret_old_kid, old_kid, sizeof(old_kid));
        r = 0;
out:
        next_key_clear(&next);
        if (keysfd >= 0)
                close(keysfd);
        return r;
}

int tp_signer_expire(struct tp_signer *s, int64_t now,
                     void (*dropped)(const char *kid, int64_t until, void *userdata), void *userdata)
{
        bool due = false;
        int64_t until;
        int keysfd = -1, r;

        if (!s)
                return -EINVAL;
        for (size_t i = 0; tp_keyring_retained(s->ring, i, &until); i++)
                if (until <= now)
                        due = true;
        if (!due && !s->publish_stale)
                return 0;
        if (due) {
                if ((r = keys_dir_open(s->dirfd, &keysfd)) < 0)
                        return r;
                if ((r = signer_drop_ended(s, keysfd, now, dropped, userdata)) < 0)
                        goto out;
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
        struct next_key next = {};
        int r;

        if ((r = generate_key(&next.key)) < 0 || (r = next_key_prepare(&next)) < 0 ||
            (r = store_private_key(s->dirfd, next.key, true)) < 0)
                goto out;
        tp_keyring_set_current(s->ring, next.pub);
        next.pub = NULL;
        signer_take_private(s, &next);
        r = signer_publish(s, now, NULL);
out:
        next_key_clear(&next);
        return r;
}

int tp_signer_revoke(struct tp_signer *s, const char *kid, int64_t now, bool *ret_rotated)
{
        int keysfd = -1, r;

        if (!s || !ret_rotated)
                return -EINVAL;
        *ret_rotated = false;
        if (!tp_kid_valid(kid))
                return -EINVAL;
        if (strcmp(kid, tp_signer_kid(s)) == 0) {
                *ret_rotated = true;
                return signer_replace_current(s, now);
        }
        /* Untrusted from this moment, whatever the disk says next. */
        if (!tp_keyring_drop(s->ring, kid))
                return -ENOENT;
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

int tp_signer_verify(struct tp_signer *s, const char *token, int64_t now, struct tp_jwt_claims *ret)
{
        if (!s || !token || !ret)
                return -EINVAL;
        return tp_jwt_verify(s->ring, token, now, ret);
}
