/* SPDX-License-Identifier: BSD-3-Clause */
/* io.c: the client side of the daemon socket, bounded by one deadline.
 *
 * Connects, sends one request frame and reads one reply frame, polling
 * against an absolute CLOCK_MONOTONIC deadline whenever it must wait. It must never block past
 * that deadline, never read past its one frame buffer, never trust a
 * payload length before the header has passed the size check, never hold
 * a frame buffer on the stack
 * (the PAM module runs on the caller's stack), never raise SIGPIPE and
 * never log. The trusted variant must send nothing to a socket that someone
 * other than the expected owner (root) could have put in place, or to a
 * peer that does not run as that owner.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "wipe.h"

/* A full listen backlog makes a non-blocking AF_UNIX connect fail with
 * EAGAIN without queueing anything; retry at this interval. */
#define CONNECT_RETRY_MS 10

#define FRAME_BUF_SIZE ((size_t) TP_FRAME_HEADER_SIZE + TP_PAYLOAD_MAX)

static int untrusted(char *why, size_t why_size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

int64_t tp_monotonic_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before deadline_ms, clamped for poll(); -ETIMEDOUT
 * once it has passed. */
static int remaining_ms(int64_t deadline_ms)
{
        int64_t left = deadline_ms - tp_monotonic_ms();

        if (left <= 0)
                return -ETIMEDOUT;
        return left > INT_MAX ? INT_MAX : (int) left;
}

/* Wait until fd reports one of events (or an error or hangup, which the
 * following I/O call turns into its own errno). */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
        struct pollfd pfd = { .fd = fd, .events = events };
        int left, n;

        for (;;) {
                if ((left = remaining_ms(deadline_ms)) < 0)
                        return left;
                n = poll(&pfd, 1, left);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        continue; /* remaining_ms() reports the timeout */
                if (pfd.revents & POLLNVAL)
                        return -EBADF;
                return 0;
        }
}

static int sleep_until(int64_t wake_ms)
{
        int left;

        while ((left = remaining_ms(wake_ms)) > 0)
                if (poll(NULL, 0, left) < 0 && errno != EINTR)
                        return -errno;
        return 0;
}

int tp_io_connect(const char *path, int timeout_ms, int *ret_fd)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int64_t deadline_ms, wake_ms;
        socklen_t errlen;
        size_t pathlen;
        int fd = -1, err, r;

        if (timeout_ms < 0)
                return -EINVAL;
        pathlen = strnlen(path, sizeof(sa.sun_path));
        if (pathlen == 0)
                return -EINVAL;
        if (pathlen >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, pathlen);
        deadline_ms = tp_monotonic_ms() + timeout_ms;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;

        for (;;) {
                if (connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) == 0)
                        break;
                if (errno == EAGAIN) {
                        if ((r = remaining_ms(deadline_ms)) < 0)
                                goto out;
                        wake_ms = tp_monotonic_ms() + CONNECT_RETRY_MS;
                        if ((r = sleep_until(wake_ms < deadline_ms ? wake_ms : deadline_ms)) < 0)
                                goto out;
                        continue;
                }
                if (errno != EINPROGRESS && errno != EINTR) {
                        r = -errno;
                        goto out;
                }
                /* The connection completes in the background. */
                if ((r = wait_fd(fd, POLLOUT, deadline_ms)) < 0)
                        goto out;
                errlen = sizeof(err);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0) {
                        r = -errno;
                        goto out;
                }
                if (err != 0) {
                        r = -err;
                        goto out;
                }
                break;
        }

        *ret_fd = fd;
        fd = -1;
        r = 0;
out:
        if (fd >= 0)
                close(fd);
        return r;
}

int tp_io_peer_cred(int fd, uid_t *ret_uid, pid_t *ret_pid)
{
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        if (len != sizeof(cred))
                return -EIO;
        if (ret_uid)
                *ret_uid = cred.uid;
        if (ret_pid)
                *ret_pid = cred.pid;
        return 0;
}

/* A send is tried first and polled for only when it would block (the
 * socket buffer is nearly always free); a reply is polled for first (it
 * is rarely there the moment the request has gone), then read in as few
 * calls as it arrives in. */
static int send_all(int fd, const uint8_t *p, size_t len, int64_t deadline_ms)
{
        ssize_t n;
        int r;

        while (len > 0) {
                n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK) {
                                if ((r = wait_fd(fd, POLLOUT, deadline_ms)) < 0)
                                        return r;
                                continue;
                        }
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Read until *got reaches want, taking at most cap bytes in all. An end
 * of stream before that is the daemon going away (mid-frame, or before
 * it answered). */
static int recv_until(int fd, uint8_t *buf, size_t *got, size_t want, size_t cap, int64_t deadline_ms)
{
        ssize_t n;
        int r;

        while (*got < want) {
                if ((r = wait_fd(fd, POLLIN, deadline_ms)) < 0)
                        return r;
                n = recv(fd, buf + *got, cap - *got, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET;
                *got += (size_t) n;
        }
        return 0;
}

int tp_io_transact(int fd, int64_t deadline_ms, const struct tp_request *req, struct tp_reply *rep)
{
        uint8_t *buf, type;
        size_t got = 0, used = 0;
        uint32_t len;
        int r;

        /* Big enough for any frame; on the heap because the PAM module runs
         * on whatever stack the application gave it. */
        buf = malloc(FRAME_BUF_SIZE);
        if (!buf)
                return -ENOMEM;

        if ((r = tp_request_encode(req, buf, FRAME_BUF_SIZE)) < 0)
                goto out;
        used = (size_t) r;
        if ((r = send_all(fd, buf, used, deadline_ms)) < 0)
                goto out;

        /* One reply answers one request: nothing may follow it. */
        if ((r = recv_until(fd, buf, &got, TP_FRAME_HEADER_SIZE, FRAME_BUF_SIZE, deadline_ms)) < 0)
                goto out;
        if ((r = tp_frame_header_parse(buf, &type, &len)) < 0)
                goto out;
        if (type != (req->type | TP_REPLY_FLAG) || got > TP_FRAME_HEADER_SIZE + (size_t) len) {
                r = -EPROTO;
                goto out;
        }
        if ((r = recv_until(fd, buf, &got, TP_FRAME_HEADER_SIZE + (size_t) len, TP_FRAME_HEADER_SIZE + (size_t) len,
                            deadline_ms)) < 0)
                goto out;
        r = tp_reply_decode(type, buf + TP_FRAME_HEADER_SIZE, len, rep);
out:
        /* The frame may carry a refresh token in either direction: wipe
         * what was written to the buffer, no more. */
        tp_secret_wipe(buf, got > used ? got : used);
        free(buf);
        return r;
}

int tp_io_connect_trusted(const char *path, int timeout_ms, uid_t expected_uid, int *ret_fd, char *why,
                          size_t why_size)
{
        uid_t peer_uid;
        int fd = -1, r;

        if ((r = tp_io_check_socket(path, expected_uid, why, why_size)) < 0)
                return r;
        if ((r = tp_io_connect(path, timeout_ms, &fd)) < 0)
                return r;
        /* The path was right a moment ago; the peer is who answers now. */
        if ((r = tp_io_peer_cred(fd, &peer_uid, NULL)) < 0) {
                close(fd);
                return r;
        }
        if (peer_uid != expected_uid) {
                close(fd);
                return untrusted(why, why_size, "the process listening on it runs as uid %u, not %u",
                                 (unsigned) peer_uid, (unsigned) expected_uid);
        }
        *ret_fd = fd;
        return 0;
}

int tp_io_call(const char *path, int timeout_ms, const struct tp_request *req, struct tp_reply *rep)
{
        int64_t deadline_ms;
        int fd = -1, r;

        if (timeout_ms < 0)
                return -EINVAL;
        deadline_ms = tp_monotonic_ms() + timeout_ms;
        if ((r = tp_io_connect(path, timeout_ms, &fd)) < 0)
                return r;
        r = tp_io_transact(fd, deadline_ms, req, rep);
        close(fd);
        return r;
}


static int untrusted(char *why, size_t why_size, const char *fmt, ...)
{
        va_list ap;

        if (why_size > 0) {
                va_start(ap, fmt);
                vsnprintf(why, why_size, fmt, ap);
                va_end(ap);
        }
        return -EPERM;
}

int tp_io_check_dir(const char *path, uid_t expected_uid, char *why, size_t why_size)
{
        char dir[PATH_MAX];
        struct stat st;
        size_t pathlen;
        char *slash;

        pathlen = strnlen(path, sizeof(dir));
        if (pathlen == 0)
                return -EINVAL;
        if (pathlen >= sizeof(dir))
                return -ENAMETOOLONG;
        memcpy(dir, path, pathlen + 1);
        slash = strrchr(dir, '/');
        if (!slash)
                strcpy(dir, ".");
        else if (slash == dir)
                dir[1] = '\0';
        else
                *slash = '\0';
        if (stat(dir, &st) < 0)
                return -errno;
        if (st.st_uid != 0 && st.st_uid != expected_uid)
                return untrusted(why, why_size, "its directory %s is owned by uid %u, not root or %u",
                                 dir, (unsigned) st.st_uid, (unsigned) expected_uid);
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
                return untrusted(why, why_size,
                                 "its directory %s is writable by group or others without the sticky bit", dir);
        return 0;
}

int tp_io_check_socket(const char *path, uid_t expected_uid, char *why, size_t why_size)
{
        struct stat st;
        size_t pathlen;

        pathlen = strnlen(path, sizeof(((struct sockaddr_un *) NULL)->sun_path));
        if (pathlen == 0)
                return -EINVAL;
        if (pathlen >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                return -ENAMETOOLONG;

        /* lstat: a symbolic link at the last component could point at any
         * socket, whoever made the link. */
        if (lstat(path, &st) < 0)
                return -errno;
        if (S_ISLNK(st.st_mode))
                return untrusted(why, why_size, "it is a symbolic link");
        if (!S_ISSOCK(st.st_mode))
                return untrusted(why, why_size, "it is not a socket");
        if (st.st_uid != expected_uid)
                return untrusted(why, why_size, "it is owned by uid %u, not %u",
                                 (unsigned) st.st_uid, (unsigned) expected_uid);
        /* Whoever may write to the directory may replace the socket. */
        return tp_io_check_dir(path, expected_uid, why, why_size);
}

int tp_io_call_trusted(const char *path, int timeout_ms, uid_t expected_uid, const struct tp_request *req,
                       struct tp_reply *rep, char *why, size_t why_size)
{
        int64_t deadline_ms;
        int fd = -1, r;

        if (timeout_ms < 0)
                return -EINVAL;
        deadline_ms = tp_monotonic_ms() + timeout_ms;
        if ((r = tp_io_connect_trusted(path, timeout_ms, expected_uid, &fd, why, why_size)) < 0)
                return r;
        r = tp_io_transact(fd, deadline_ms, req, rep);
        close(fd);
        return r;
}
