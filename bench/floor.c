/* SPDX-License-Identifier: BSD-3-Clause */
/* floor.c: the physical floor of the daemon's operations on this machine.
 *
 *   floor --dir DIR --iterations N
 *   floor --serve SOCKET
 *
 *   connect_rtt  connect to a Unix stream socket in DIR, send 1 byte, read
 *                the 1-byte echo, close; the server is a trivial blocking
 *                accept/read/write/close loop in a second thread;
 *   ed25519      one Ed25519 signature of a 300-byte message with libsodium
 *                (crypto_sign_detached), as the daemon signs;
 *   ed25519_openssl  the same with OpenSSL (EVP_DigestSign, a fresh
 *                EVP_MD_CTX each time), for comparison;
 *   fsync        append 4 KiB (one SQLite page) to a file in DIR, then
 *                fsync() it: a commit while the WAL is still growing;
 *   fdatasync    overwrite 4 KiB in a file in DIR that already has its
 *                size, then fdatasync() it: a commit once the WAL has
 *                reached its working size and is reused from the start,
 *                which is how a running daemon's WAL is written;
 *   fdatasync_paced  the same, one write a millisecond (about the period
 *                of a PAM transaction here) instead of back to back:
 *                written back to back, most writes fall in the same tick
 *                of the file timestamp clock and leave the inode clean, so
 *                fdatasync writes the data and flushes; a write that moves
 *                the file's mtime also makes it write the inode (one more
 *                device round trip on ext4 without a journal), and an idle
 *                device is slower to answer than a busy one. This is the
 *                durable write a sign-in actually gets.
 *   fdatasync_paced_wal  the same pacing, each write 11 pages (what a
 *                sign-in and the sign-out before it add to the WAL: the
 *                sign-out's pages are synced with the next sign-in's),
 *                at the offset after the last one, wrapping in the file:
 *                the sync a sign-in's commit makes in the PAM loop.
 * Prints one JSON object with p50/p99 microseconds of each.
 *
 * With --serve, answers every request frame on SOCKET with an empty OK
 * reply and closes, doing nothing else, in one thread with epoll: the
 * floor of connection-per-request throughput for the load generator.
 *
 * With --serve-durable SOCKET FILE, the same server also does what a
 * sign-in and a sign-out need whatever the daemon's design: an OPEN is
 * answered with an Ed25519 signature (libsodium, of a 300-byte token
 * body, the signature in the reply's access token as a daemon's would
 * be) and is made durable in FILE before it is answered: a second thread
 * writes and fdatasyncs every OPEN the loop took while the previous sync
 * ran (group commit, pipelined: the loop never waits for the disk), the
 * file overwritten in place like a WAL at its working size. A CLOSE is
 * written to FILE before its answer but not synced, as the daemon's
 * sign-out. No store, no policy, no audit, no peer credentials: the
 * floor of the daemon's PAM transaction.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "benchlib.h"
#include "proto.h"

static int listen_fd;

static void *echo_server(void *arg)
{
        (void)arg;
        for (;;) {
                char c;
                int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        return NULL;
                }
                if (read(fd, &c, 1) == 1 && write(fd, &c, 1) != 1)
                        c = 0;
                close(fd);
        }
}

static void report(const char *name, struct bench_samples *s, int last)
{
        printf("\"%s_p50_us\": %.2f, \"%s_p99_us\": %.2f%s", name, bench_quantile_us(s, 0.5), name,
               bench_quantile_us(s, 0.99), last ? "" : ", ");
}

#define RECORD_BYTES 128       /* one sign-in or sign-out on disk */
#define DURABLE_FILE_BYTES (4L << 20)
#define BATCH_MAX 1024

/* One group commit: the records to write, and the replies that wait for
 * them. */
struct batch {
        uint8_t records[BATCH_MAX * RECORD_BYTES];
        size_t len;
        int fd[BATCH_MAX];
        uint8_t out[BATCH_MAX][1024];
        int out_len[BATCH_MAX];
        int n;
};

/* Two batches: the loop fills one while the sync thread writes the other,
 * so the loop never waits for the disk. */
struct durable {
        int fd;                   /* -1: the plain no-op server */
        int done_fd;              /* eventfd: the sync thread finished a batch */
        off_t at;                 /* where the next batch goes */
        uint8_t sk[crypto_sign_SECRETKEYBYTES];
        struct batch b[2];
        struct batch closes;      /* this turn's sign-outs: written, not synced */
        off_t closes_at;
        struct batch *filling;
        struct batch *syncing;    /* the loop's: NULL when no batch is out */
        struct batch *todo;       /* handed to the thread, not yet taken */
        pthread_mutex_t lock;
        pthread_cond_t go;
};

/* The request's record and its encoded reply, held for the batch's write.
 * False when the batch is full or the reply too large: the caller closes
 * the connection (a failure the load counts), never answering without
 * the write. */
static bool batch_add(struct batch *b, int fd, const uint8_t *in, size_t got, const uint8_t *out, int len)
{
        if (b->n == BATCH_MAX || len > (int)sizeof(b->out[0]))
                return false;
        memset(b->records + b->len, in[3], RECORD_BYTES);
        memcpy(b->records + b->len, in, got < RECORD_BYTES ? got : RECORD_BYTES);
        b->len += RECORD_BYTES;
        memcpy(b->out[b->n], out, (size_t)len);
        b->fd[b->n] = fd;
        b->out_len[b->n++] = len;
        return true;
}

/* What the durable server adds to an OPEN: the token's signature. */
static int durable_sign(struct durable *d, struct tp_reply *rep)
{
        uint8_t body[300], sig[crypto_sign_BYTES];
        char *tok = rep->u.tokens.access_token;

        memset(body, 'a', sizeof(body));
        memcpy(body, rep->u.tokens.session_id, 32);
        if (crypto_sign_detached(sig, NULL, body, sizeof(body), d->sk) != 0)
                return -1;
        /* The size of the daemon's token: 400 bytes of body and the
         * signature, in hex rather than base64url (the size is what
         * matters to the socket). */
        memset(tok, 'e', 400);
        for (size_t i = 0; i < sizeof(sig); i++)
                snprintf(tok + 400 + 2 * i, 3, "%02x", sig[i]);
        return 0;
}

static void *durable_sync_thread(void *arg)
{
        struct durable *d = arg;
        uint64_t one = 1;

        for (;;) {
                struct batch *b;

                pthread_mutex_lock(&d->lock);
                while (!d->todo)
                        pthread_cond_wait(&d->go, &d->lock);
                b = d->todo;
                d->todo = NULL;
                pthread_mutex_unlock(&d->lock);
                if (d->at + (off_t)b->len > DURABLE_FILE_BYTES)
                        d->at = 0;
                if (pwrite(d->fd, b->records, b->len, d->at) != (ssize_t)b->len || fdatasync(d->fd) < 0) {
                        perror("floor: durable write");
                        exit(1);
                }
                d->at += (off_t)b->len;
                if (write(d->done_fd, &one, sizeof(one)) != sizeof(one))
                        exit(1);
        }
        return NULL;
}

/* A sign-out reaches the kernel before its answer (a crash of the server
 * would not lose it) but waits for no sync, as the daemon's. */
static int durable_written(struct durable *d)
{
        struct batch *b = &d->closes;

        if (b->n == 0)
                return 0;
        if (d->closes_at + (off_t)b->len > DURABLE_FILE_BYTES)
                d->closes_at = 0;
        if (pwrite(d->fd, b->records, b->len, DURABLE_FILE_BYTES + d->closes_at) != (ssize_t)b->len) {
                perror("floor: durable write");
                return -1;
        }
        d->closes_at += (off_t)b->len;
        for (int i = 0; i < b->n; i++)
                if (write(b->fd[i], b->out[i], (size_t)b->out_len[i]) != b->out_len[i])
                        close(b->fd[i]);
        b->n = 0;
        b->len = 0;
        return 0;
}

/* Hand the filling batch to the sync thread if it is idle. */
static void durable_start(struct durable *d)
{
        if (d->syncing || d->filling->n == 0)
                return;
        d->syncing = d->filling;
        pthread_mutex_lock(&d->lock);
        d->todo = d->syncing;
        d->filling = d->filling == &d->b[0] ? &d->b[1] : &d->b[0];
        pthread_cond_signal(&d->go);
        pthread_mutex_unlock(&d->lock);
}

/* The sync thread is done: the batch is durable, its replies go out. */
static void durable_finished(struct durable *d)
{
        struct batch *b = d->syncing;
        uint64_t n;

        if (read(d->done_fd, &n, sizeof(n)) != sizeof(n))
                return;
        for (int i = 0; i < b->n; i++)
                if (write(b->fd[i], b->out[i], (size_t)b->out_len[i]) != b->out_len[i])
                        close(b->fd[i]);
        b->n = 0;
        b->len = 0;
        d->syncing = NULL;
        durable_start(d);
}

/* The no-op server: read a frame (it comes in one piece from the load
 * generator or the module), answer OK with an empty body of the right
 * type (an OPEN gets a session id of zeros, so a sign-out follows as it
 * would); close when the client does, or on anything that is not a
 * frame.
 * With --serve-durable, OPEN and CLOSE are answered through the
 * durable state above. */
static int serve(const char *path, const char *durable_path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct epoll_event ev = { .events = EPOLLIN }, events[128];
        static uint8_t in[TP_FRAME_HEADER_SIZE + TP_PAYLOAD_MAX], out[4096];
        static struct tp_reply rep;
        static struct durable d = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER, .go = PTHREAD_COND_INITIALIZER };
        uint8_t pk[crypto_sign_PUBLICKEYBYTES];
        pthread_t syncer;
        int lfd, epfd;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "floor: socket path too long: %s\n", path);
                return 2;
        }
        if (durable_path) {
                d.fd = open(durable_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                d.done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                d.filling = &d.b[0];
                if (d.fd < 0 || d.done_fd < 0 || ftruncate(d.fd, 2 * DURABLE_FILE_BYTES) < 0 || fsync(d.fd) < 0 ||
                    sodium_init() < 0 || crypto_sign_keypair(pk, d.sk) != 0 ||
                    pthread_create(&syncer, NULL, durable_sync_thread, &d) != 0) {
                        perror("floor: durable file");
                        return 1;
                }
        }
        strcpy(sa.sun_path, path);
        unlink(path);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        epfd = epoll_create1(EPOLL_CLOEXEC);
        ev.data.fd = lfd;
        if (lfd < 0 || epfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(lfd, SOMAXCONN) < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) {
                perror("floor: serve");
                return 1;
        }
        ev.data.fd = d.done_fd;
        if (d.fd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, d.done_fd, &ev) < 0) {
                perror("floor: serve");
                return 1;
        }
        for (;;) {
                int n = epoll_wait(epfd, events, 128, -1);

                for (int i = 0; i < n; i++) {
                        int fd = events[i].data.fd;

                        if (fd == lfd) {
                                int c;

                                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                                        ev.data.fd = c;
                                        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c, &ev) < 0)
                                                close(c);
                                }
                                continue;
                        }
                        if (d.fd >= 0 && fd == d.done_fd) {
                                durable_finished(&d);
                                continue;
                        }
                        ssize_t got = read(fd, in, sizeof(in));
                        int len;

                        if (got < 0 && errno == EAGAIN)
                                continue;
                        if (got >= TP_FRAME_HEADER_SIZE) {
                                bool durable = d.fd >= 0 && (in[3] == TP_REQ_OPEN || in[3] == TP_REQ_CLOSE);

                                memset(&rep, 0, sizeof(rep));
                                rep.type = (uint8_t)(in[3] | TP_REPLY_FLAG);
                                rep.status = TP_STATUS_OK;
                                if (in[3] == TP_REQ_OPEN) { /* a session to sign out of, as the daemon's */
                                        memset(rep.u.tokens.session_id, '0', 32);
                                        strcpy(rep.u.tokens.client, "noop");
                                        if (d.fd >= 0 && durable_sign(&d, &rep) < 0)
                                                return 1;
                                }
                                len = tp_reply_encode(&rep, out, sizeof(out));
                                if (len > 0 && durable) {
                                        if (batch_add(in[3] == TP_REQ_OPEN ? d.filling : &d.closes, fd, in,
                                                      (size_t)got, out, len))
                                                continue;
                                } else if (len > 0 && write(fd, out, (size_t)len) == len) {
                                        continue;
                                }
                        }
                        close(fd);
                }
                if (d.fd >= 0) {
                        if (durable_written(&d) < 0)
                                return 1;
                        durable_start(&d);
                }
        }
}

#define PAGE_BYTES 4096 /* one SQLite page */
#define WAL_PAGES 11    /* a sign-in's WAL frames and its sign-out's */

/* N overwrites of `pages` pages in a file of file_pages pages, one after
 * the other and wrapping, each followed by fdatasync(), the pair timed;
 * gap_ns of sleep before each (0: back to back). */
static int overwrite_and_sync(int fd, const uint8_t *buf, long pages, long file_pages, long n, long gap_ns,
                              struct bench_samples *out)
{
        const size_t len = (size_t)pages * PAGE_BYTES;

        for (long i = 0; i < n; i++) {
                struct timespec gap = { 0, gap_ns };
                off_t at = (off_t)((i * pages) % (file_pages - pages + 1)) * PAGE_BYTES;
                int64_t t0;

                if (gap_ns > 0)
                        nanosleep(&gap, NULL);
                t0 = bench_now_ns();
                if (pwrite(fd, buf, len, at) != (ssize_t)len || fdatasync(fd) < 0)
                        return -1;
                bench_samples_add(out, bench_now_ns() - t0);
        }
        return 0;
}

int main(int argc, char **argv)
{
        const char *dir = NULL;
        long iterations = 0;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct bench_samples rtt = { 0 }, sig = { 0 }, sig_ossl = { 0 }, sync = { 0 }, dsync = { 0 }, paced = { 0 };
        struct bench_samples paced_wal = { 0 };
        static uint8_t wal[WAL_PAGES * PAGE_BYTES];
        char path[4096];
        uint8_t msg[300], sigbuf[64], page[PAGE_BYTES];
        uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
        EVP_PKEY_CTX *kctx;
        EVP_PKEY *key = NULL;
        pthread_t server;
        int fd;

        for (int i = 1; i + 1 < argc; i += 2) {
                if (strcmp(argv[i], "--dir") == 0)
                        dir = argv[i + 1];
                else if (strcmp(argv[i], "--iterations") == 0)
                        iterations = strtol(argv[i + 1], NULL, 10);
                else if (strcmp(argv[i], "--serve") == 0)
                        return serve(argv[i + 1], NULL);
                else if (strcmp(argv[i], "--serve-durable") == 0 && i + 2 < argc)
                        return serve(argv[i + 1], argv[i + 2]);
        }
        if (!dir || iterations <= 0) {
                fprintf(stderr, "usage: floor --dir DIR --iterations N\n       floor --serve SOCKET\n"
                                "       floor --serve-durable SOCKET FILE\n");
                return 2;
        }

        /* Unix socket connect + 1-byte round trip. */
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/echo.sock", dir);
        unlink(sa.sun_path);
        listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(listen_fd, SOMAXCONN) < 0 || pthread_create(&server, NULL, echo_server, NULL) != 0) {
                perror("floor: echo server");
                return 1;
        }
        for (long i = 0; i < iterations; i++) {
                int64_t t0 = bench_now_ns();
                char c = 'x';

                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || write(fd, &c, 1) != 1 ||
                    read(fd, &c, 1) != 1) {
                        perror("floor: round trip");
                        return 1;
                }
                close(fd);
                bench_samples_add(&rtt, bench_now_ns() - t0);
        }
        unlink(sa.sun_path);

        /* Ed25519 signature. */
        memset(msg, 'a', sizeof(msg));
        kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
        if (!kctx || EVP_PKEY_keygen_init(kctx) <= 0 || EVP_PKEY_keygen(kctx, &key) <= 0) {
                fprintf(stderr, "floor: Ed25519 key generation failed\n");
                return 1;
        }
        EVP_PKEY_CTX_free(kctx);
        for (long i = 0; i < iterations; i++) {
                int64_t t0 = bench_now_ns();
                EVP_MD_CTX *md = EVP_MD_CTX_new();
                size_t siglen = sizeof(sigbuf);

                if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, key) <= 0 ||
                    EVP_DigestSign(md, sigbuf, &siglen, msg, sizeof(msg)) <= 0) {
                        fprintf(stderr, "floor: Ed25519 signature failed\n");
                        return 1;
                }
                EVP_MD_CTX_free(md);
                bench_samples_add(&sig_ossl, bench_now_ns() - t0);
        }
        EVP_PKEY_free(key);
        if (sodium_init() < 0 || crypto_sign_keypair(pk, sk) != 0) {
                fprintf(stderr, "floor: libsodium key generation failed\n");
                return 1;
        }
        for (long i = 0; i < iterations; i++) {
                int64_t t0 = bench_now_ns();

                if (crypto_sign_detached(sigbuf, NULL, msg, sizeof(msg), sk) != 0) {
                        fprintf(stderr, "floor: libsodium signature failed\n");
                        return 1;
                }
                bench_samples_add(&sig, bench_now_ns() - t0);
        }

        /* fsync of a small file on DIR's filesystem. */
        snprintf(path, sizeof(path), "%s/fsync-probe", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
                perror("floor: open");
                return 1;
        }
        memset(page, 0x5a, sizeof(page));
        for (long i = 0; i < iterations; i++) {
                int64_t t0 = bench_now_ns();

                if (write(fd, page, sizeof(page)) != (ssize_t)sizeof(page) || fsync(fd) < 0) {
                        perror("floor: fsync");
                        return 1;
                }
                bench_samples_add(&sync, bench_now_ns() - t0);
        }
        /* The same file, now at its size: overwrite in place, fdatasync;
         * back to back, then one write a millisecond. */
        memset(wal, 0xa5, sizeof(wal));
        if (overwrite_and_sync(fd, page, 1, iterations, iterations, 0, &dsync) < 0 ||
            overwrite_and_sync(fd, page, 1, iterations, iterations, 1000000, &paced) < 0 ||
            (iterations >= WAL_PAGES &&
             overwrite_and_sync(fd, wal, WAL_PAGES, iterations, iterations, 1000000, &paced_wal) < 0)) {
                perror("floor: fdatasync");
                return 1;
        }
        close(fd);
        unlink(path);

        printf("{");
        report("connect_rtt", &rtt, 0);
        report("ed25519", &sig, 0);
        report("ed25519_openssl", &sig_ossl, 0);
        report("fsync", &sync, 0);
        report("fdatasync", &dsync, 0);
        report("fdatasync_paced", &paced, 0);
        report("fdatasync_paced_wal", &paced_wal, 1);
        printf(", \"n\": %ld}\n", iterations);
        bench_samples_free(&rtt);
        bench_samples_free(&sig);
        bench_samples_free(&sig_ossl);
        bench_samples_free(&sync);
        bench_samples_free(&dsync);
        bench_samples_free(&paced);
        bench_samples_free(&paced_wal);
        return 0;
}
