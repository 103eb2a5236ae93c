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
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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

/* The no-op server: read a frame (it comes in one piece from the load
 * generator or the module), answer OK with an empty body of the right
 * type (an OPEN gets a session id of zeros, so a sign-out follows as it
 * would); close when the client does, or on anything that is not a
 * frame. */
static int serve(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct epoll_event ev = { .events = EPOLLIN }, events[128];
        static uint8_t in[TP_FRAME_HEADER_SIZE + TP_PAYLOAD_MAX], out[4096];
        static struct tp_reply rep;
        int lfd, epfd;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "floor: socket path too long: %s\n", path);
                return 2;
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
                        ssize_t got = read(fd, in, sizeof(in));
                        int len;

                        if (got < 0 && errno == EAGAIN)
                                continue;
                        if (got >= TP_FRAME_HEADER_SIZE) {
                                memset(&rep, 0, sizeof(rep));
                                rep.type = (uint8_t)(in[3] | TP_REPLY_FLAG);
                                rep.status = TP_STATUS_OK;
                                if (in[3] == TP_REQ_OPEN) { /* a session to sign out of, as the daemon's */
                                        memset(rep.u.tokens.session_id, '0', 32);
                                        strcpy(rep.u.tokens.client, "noop");
                                }
                                len = tp_reply_encode(&rep, out, sizeof(out));
                                if (len > 0 && write(fd, out, (size_t)len) == len)
                                        continue;
                        }
                        close(fd);
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
                        return serve(argv[i + 1]);
        }
        if (!dir || iterations <= 0) {
                fprintf(stderr, "usage: floor --dir DIR --iterations N\n       floor --serve SOCKET\n");
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
