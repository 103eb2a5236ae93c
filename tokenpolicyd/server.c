/* SPDX-License-Identifier: BSD-3-Clause */
/* server.c: the event loop. One thread, epoll, non-blocking sockets; an
 * access token's signature is made on the signer's thread meanwhile
 * (conn_sign_later) and written into its reply before the first send.
 *
 * Owns the listening socket, every client connection and the signals.
 * A connection is read until one whole frame is in, answered, and read
 * again once its reply has been written, so no client can stall another:
 * a slow reader only holds its own buffer. The frame length is checked
 * against TP_PAYLOAD_MAX before its payload buffer is allocated; any
 * protocol error closes that connection only. Peers are identified once,
 * at accept, with SO_PEERCRED.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "account.h"
#include "accounts.h"
#include "control.h"
#include "io.h"
#include "fleetkeys.h"
#include "jwt_sign.h"
#include "offline.h"
#include "keys.h"
#include "idle.h"
#include "lifecycle.h"
#include "log.h"
#include "notify.h"
#include "request.h"
#include "retention.h"
#include "wipe.h"

#define MAX_CONNECTIONS 1024
#define IDLE_TIMEOUT_MS 30000   /* between requests */
#define FRAME_TIMEOUT_MS 5000   /* from a frame's first byte to its last */
#define WRITE_TIMEOUT_MS 5000   /* for a reply to drain */
#define PER_UID_CONNECTIONS 16  /* for peers other than root and our owner */
#define RATE_PER_SECOND 50      /* requests per uid, for the same peers ... */
#define RATE_BURST 100          /* ... with this many at once */
#define RATE_SLOTS 256          /* uids tracked; the stalest is forgotten */
#define TICK_MS 1000
#define TOLD_TICK_MS 50
/* Fleet mode: how often the loop looks for sessions of this host that
 * other hosts ended, whether or not a notification said so (it may have
 * been lost with a connection). */
#define OWED_RESYNC_MS 5000

/* What one read of a connection takes: a whole request of the PAM
 * module's (header and payload) in one system call. A larger payload is
 * read straight into its own buffer. */
#define CONN_INBUF 512

struct conn {
        int fd;
        struct tp_peer peer;
        /* Read but not yet taken into a frame (in[in_off..in_len)): the
         * next request of a client that did not wait for its answer. */
        uint8_t in[CONN_INBUF];
        size_t in_off, in_len;
        bool ready;              /* in holds bytes to take (srv->n_ready) */
        uint8_t header[TP_FRAME_HEADER_SIZE];
        size_t header_len;
        uint8_t type;
        uint8_t *payload;       /* allocated once the header is valid */
        size_t payload_len, payload_got;
        uint8_t *out;           /* encoded reply being written */
        size_t out_len, out_off;
        /* out carries an access token whose signature the signer's thread
         * is making: written over out[sig_at..] before the first send. */
        struct tp_jwt_unsigned sig;
        size_t sig_at;
        uint8_t out_type;       /* ... answering this request type */
        char out_session[TP_SESSION_ID_MAX]; /* ... with tokens of this session */
        int64_t last_active_ms;  /* last complete request or reply */
        int64_t deadline_ms;     /* for the frame or reply in progress; 0: none */
        bool watching_out;       /* epoll waits for EPOLLOUT, not EPOLLIN */
        bool held;               /* reply waits for the batch commit */
        bool held_changed;       /* ... and reports a change in that batch */
        struct conn *held_next;
        struct conn *prev, *next;
};

struct server {
        struct tp_daemon *d;
        int epfd, listen_fd, signal_fd;
        int store_fd;            /* the store's connection (fleet mode), or -1 */
        struct conn *conns;
        size_t n_conns;
        size_t max_conns;         /* MAX_CONNECTIONS, or less under a low fd limit */
        int spare_fd;             /* released to shed a connection on EMFILE */
        uint64_t n_shed;          /* connections refused since the last warning */
        int64_t shed_logged_ms;
        struct rate_slot {        /* token bucket per unprivileged uid */
                uid_t uid;
                bool used;
                int64_t tokens_milli;
                int64_t last_ms;
        } rate[RATE_SLOTS];
        struct name_cache {       /* login names of the admin uids */
                uid_t uid;
                bool used;
                int64_t looked_up_ms;
                char name[TP_USER_MAX];
        } names[2];
        struct conn *held, **held_tail; /* replies waiting for the batch commit */
        size_t n_ready;           /* connections with buffered bytes to take */
        struct tp_request *req;   /* scratch: decoded request */
        struct tp_reply *rep;     /* scratch: reply being built */
        uint8_t *frame;           /* scratch: reply being encoded (a whole frame) */
        bool stopping;
        uint64_t n_commits, n_batched; /* group commits, and requests they held */
};

static void reply_undelivered(struct server *srv, struct conn *c);

static void conn_free(struct server *srv, struct conn *c)
{
        if (!c)
                return;
        if (c->out && c->out_session[0]) /* its tokens never reached the client */
                reply_undelivered(srv, c);
        if (c->held) {
                for (struct conn **pp = &srv->held; *pp; pp = &(*pp)->held_next)
                        if (*pp == c) {
                                *pp = c->held_next;
                                break;
                        }
                srv->held_tail = &srv->held;
                while (*srv->held_tail)
                        srv->held_tail = &(*srv->held_tail)->held_next;
        }
        if (c->ready)
                srv->n_ready--;
        (void)tp_jwt_unsigned_finish(srv->d->signer, &c->sig, NULL);
        close(c->fd); /* never duplicated, so this also leaves the epoll set */
        if (c->prev)
                c->prev->next = c->next;
        else
                srv->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        if (c->payload)
                tp_secret_wipe(c->payload, c->payload_len);
        if (c->out)
                tp_secret_wipe(c->out, c->out_len);
        tp_secret_wipe(c->in + c->in_off, c->in_len - c->in_off);
        free(c->payload);
        free(c->out);
        free(c);
        srv->n_conns--;
}

static void conn_drop_at(struct server *srv, struct conn *c, int level, const char *why)
{
        tp_log(level, "closing connection from uid %u pid %d: %s", (unsigned)c->peer.uid, (int)c->peer.pid,
               why);
        conn_free(srv, c);
}

static void conn_drop(struct server *srv, struct conn *c, const char *why)
{
        conn_drop_at(srv, c, LOG_INFO, why);
}

static int conn_watch(struct server *srv, struct conn *c, uint32_t events)
{
        struct epoll_event ev = { .events = events, .data.ptr = c };

        if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
                return -errno;
        c->watching_out = (events & EPOLLOUT) != 0;
        return 0;
}

/* The peer's login name. Root and the daemon's owner connect for every
 * login, so their names are looked up at most every few seconds; every
 * other uid's name is looked up afresh (it decides what that peer may see). */
#define NAME_CACHE_MS 5000
static void peer_name(struct server *srv, struct tp_peer *peer)
{
        int64_t now = tp_monotonic_ms();
        struct name_cache *slot = NULL;

        if (peer->admin) {
                slot = &srv->names[peer->uid == 0 ? 0 : 1];
                if (slot->used && slot->uid == peer->uid && now - slot->looked_up_ms < NAME_CACHE_MS) {
                        memcpy(peer->user, slot->name, sizeof(peer->user));
                        return;
                }
        }
        if (tp_account_name(peer->uid, peer->user, sizeof(peer->user)) < 0)
                peer->user[0] = '\0';
        if (slot) {
                slot->used = true;
                slot->uid = peer->uid;
                slot->looked_up_ms = now;
                memcpy(slot->name, peer->user, sizeof(slot->name));
        }
}

/* Has the client of an idle connection closed it, with nothing left to
 * read? The loop frees such a connection when it next sees the hang-up. */
static bool idle_and_hung_up(const struct conn *c)
{
        char b;

        return c->header_len == 0 && c->in_off == c->in_len && !c->out && !c->held &&
               recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* The connection idle the longest (no frame, reply or commit in
 * progress) among those of uid, or of anyone when uid is -1; NULL when
 * none is idle. */
static struct conn *longest_idle(struct server *srv, uid_t uid)
{
        struct conn *best = NULL;

        for (struct conn *c = srv->conns; c; c = c->next) {
                if (c->header_len || c->in_off < c->in_len || c->out || c->held || c->deadline_ms)
                        continue;
                if (uid != (uid_t)-1 && (c->peer.admin || c->peer.uid != uid))
                        continue;
                if (!best || c->last_active_ms < best->last_active_ms)
                        best = c;
        }
        return best;
}

/* A PAM module keeps its connection for the life of its handle (acct,
 * open, close and the outcome on one), and a handle may live for a whole
 * session: so at a limit, the connection idle the longest makes room
 * rather than the new one being refused. An idle connection has no
 * request in progress; its client sends the next one on a new connection. */
static bool make_room(struct server *srv, uid_t uid)
{
        struct conn *victim = longest_idle(srv, uid);

        if (!victim)
                return false;
        conn_drop_at(srv, victim, LOG_DEBUG, "idle, closed to make room for a new connection");
        return true;
}

/* Root's PAM requests must get through whatever other users do: each uid
 * gets PER_UID_CONNECTIONS at most, and an eighth of all slots is kept for
 * root and the daemon's owner. A client that connects once per request
 * has already closed connections whose hang-up the loop has not yet read
 * (it accepts a batch first): those do not count against its uid. */
static bool unprivileged_may_connect(struct server *srv, uid_t uid)
{
        size_t reserve = srv->max_conns / 8 > 4 ? srv->max_conns / 8 : 4;
        size_t unprivileged = 0, same_uid = 0;

        for (struct conn *c = srv->conns; c; c = c->next) {
                if (c->peer.admin)
                        continue;
                unprivileged++;
                if (c->peer.uid == uid)
                        same_uid++;
        }
        if (same_uid >= PER_UID_CONNECTIONS) {
                same_uid = 0;
                for (struct conn *c = srv->conns; c && same_uid < PER_UID_CONNECTIONS; c = c->next)
                        if (!c->peer.admin && c->peer.uid == uid && !idle_and_hung_up(c))
                                same_uid++;
        }
        return same_uid < PER_UID_CONNECTIONS && unprivileged + reserve < srv->max_conns;
}

/* Under a flood, one warning a second, with the count. */
static void note_refused(struct server *srv, const char *why)
{
        int64_t now = tp_monotonic_ms();

        srv->n_shed++;
        if (now - srv->shed_logged_ms >= 1000) {
                tp_log(LOG_WARNING, "%s: %" PRIu64 " refused since the last warning (%zu connections open)",
                       why, srv->n_shed, srv->n_conns);
                srv->shed_logged_ms = now;
                srv->n_shed = 0;
        }
}

static void conn_readable(struct server *srv, struct conn *c);

/* At most ACCEPT_BATCH per wakeup, so that a stream of new connections
 * never starves the replies and hang-ups of the ones already open (the
 * listener is level-triggered and wakes the loop again). */
#define ACCEPT_BATCH 64
static void accept_clients(struct server *srv)
{
        for (int k = 0; k < ACCEPT_BATCH; k++) {
                struct epoll_event ev = { .events = EPOLLIN };
                struct conn *c;
                int fd;

                fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        if ((errno == EMFILE || errno == ENFILE) && srv->spare_fd >= 0) {
                                /* Out of descriptors: shed this one connection
                                 * rather than spin on a readable listener. */
                                bool shed;

                                close(srv->spare_fd);
                                fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                                shed = fd >= 0;
                                if (shed)
                                        close(fd);
                                srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                                if (!shed) /* the kernel says EMFILE even with an empty queue */
                                        return;
                                note_refused(srv, "out of file descriptors");
                                continue;
                        }
                        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                            errno != ECONNABORTED)
                                tp_log(LOG_WARNING, "accept failed: %m");
                        return;
                }
                c = calloc(1, sizeof(*c));
                if (!c) {
                        close(fd);
                        continue;
                }
                c->fd = fd;
                if (tp_io_peer_cred(fd, &c->peer.uid, &c->peer.pid) < 0) {
                        tp_log(LOG_WARNING, "cannot identify a peer (SO_PEERCRED): %m; closing");
                        close(fd);
                        free(c);
                        continue;
                }
                c->peer.admin = c->peer.uid == 0 || c->peer.uid == srv->d->admin_uid;
                if (srv->n_conns >= srv->max_conns &&
                    !make_room(srv, c->peer.admin ? (uid_t)-1 : c->peer.uid)) {
                        close(fd);
                        free(c);
                        note_refused(srv, "connection limit reached");
                        continue;
                }
                if (!c->peer.admin && !unprivileged_may_connect(srv, c->peer.uid) &&
                    !(make_room(srv, c->peer.uid) && unprivileged_may_connect(srv, c->peer.uid))) {
                        close(fd);
                        free(c);
                        note_refused(srv, "per-user connection limit reached");
                        continue;
                }
                peer_name(srv, &c->peer);
                c->last_active_ms = tp_monotonic_ms();
                ev.data.ptr = c;
                if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        close(fd);
                        free(c);
                        continue;
                }
                c->next = srv->conns;
                if (srv->conns)
                        srv->conns->prev = c;
                srv->conns = c;
                srv->n_conns++;
                /* A client writes its request right after connecting: it
                 * is usually here already, so answer without a wait. */
                conn_readable(srv, c);
        }
}

/* May this unprivileged uid make one more request now? A token bucket:
 * RATE_BURST at once, RATE_PER_SECOND sustained, so one user's flood costs
 * root's PAM requests nothing but a short answer per excess request. */
static bool rate_allows(struct server *srv, uid_t uid)
{
        int64_t now = tp_monotonic_ms();
        struct rate_slot *slot = NULL, *stalest = &srv->rate[0];

        for (size_t i = 0; i < RATE_SLOTS; i++) {
                struct rate_slot *s = &srv->rate[(uid + i) % RATE_SLOTS];

                if (s->used && s->uid == uid) {
                        slot = s;
                        break;
                }
                if (!s->used) {
                        slot = s;
                        slot->used = true;
                        slot->uid = uid;
                        slot->tokens_milli = RATE_BURST * 1000;
                        slot->last_ms = now;
                        break;
                }
                if (s->last_ms < stalest->last_ms)
                        stalest = s;
        }
        if (!slot) {
                slot = stalest;
                slot->uid = uid;
                slot->tokens_milli = RATE_BURST * 1000;
                slot->last_ms = now;
        }
        slot->tokens_milli += (now - slot->last_ms) * RATE_PER_SECOND;
        if (slot->tokens_milli > RATE_BURST * 1000)
                slot->tokens_milli = RATE_BURST * 1000;
        slot->last_ms = now;
        if (slot->tokens_milli < 1000)
                return false;
        slot->tokens_milli -= 1000;
        return true;
}

/* Has the peer closed its end (not merely shut down its writing)? Its
 * request may still be buffered, but no answer can reach it. */
static bool peer_gone(int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* The reply to c's last request will never be read (send failed, not read
 * in time, or the daemon is stopping): see delivery.c. */
static void reply_undelivered(struct server *srv, struct conn *c)
{
        const struct tp_request_kind *k = tp_request_kind(c->out_type);

        tp_audit_request_begin(c->peer.uid, !c->peer.admin, tp_monotonic_ms());
        if (k && k->undelivered)
                k->undelivered(srv->d, &c->peer, c->out_type, c->out_session);
        tp_audit_request_end();
        /* Inside a batch, its change (and so its event) goes with the batch. */
        tp_audit_mark(tp_store_request_changed(srv->d->store));
        c->out_session[0] = '\0';
}

/* The reply is encoded in the server's one frame-sized scratch buffer and
 * copied out at its size: a connection holds only what it will send, and
 * no reply costs a fresh 64 KiB of heap (with its page faults). */
static int conn_set_reply(struct server *srv, struct conn *c, const struct tp_reply *rep)
{
        uint8_t *buf;
        int len;

        len = tp_reply_encode(rep, srv->frame, TP_FRAME_HEADER_SIZE + TP_PAYLOAD_MAX);
        if (len < 0) {
                tp_log(LOG_ERR, "cannot encode a %s reply: %s", tp_msg_type_name(c->type), strerror(-len));
                return len;
        }
        buf = malloc((size_t)len);
        if (!buf) {
                tp_secret_wipe(srv->frame, (size_t)len);
                return -ENOMEM;
        }
        memcpy(buf, srv->frame, (size_t)len);
        tp_secret_wipe(srv->frame, (size_t)len); /* it may carry a refresh token */
        if (c->out) {
                tp_secret_wipe(c->out, c->out_len);
                free(c->out);
        }
        c->out = buf;
        c->out_len = (size_t)len;
        c->out_off = 0;
        c->deadline_ms = tp_monotonic_ms() + WRITE_TIMEOUT_MS;
        return 0;
}

/* The reply just encoded (r >= 0) carries the access token the request
 * signed later (daemon.h): where its signature goes, so that the loop can
 * go on while the signer's thread makes it. A token that did not end up
 * in the reply is not waited for. */
static void conn_sign_later(struct server *srv, struct conn *c, int r)
{
        struct tp_jwt_unsigned *u = &srv->d->unsigned_token;
        ssize_t at;

        if (!u->job)
                return;
        at = r >= 0 ? tp_jwt_unsigned_locate(u, c->out, c->out_len) : -1;
        if (at < 0) {
                (void)tp_jwt_unsigned_finish(srv->d->signer, u, NULL);
                return;
        }
        c->sig = *u;
        c->sig_at = (size_t)at;
        u->job = NULL;
}

/* The signature is in the reply: false when c was dropped instead (its
 * token was never sent, so the sign-in is undone as undelivered). */
static bool conn_signed(struct server *srv, struct conn *c)
{
        int r;

        if (!c->sig.job)
                return true;
        r = tp_jwt_unsigned_finish(srv->d->signer, &c->sig, c->out + c->sig_at);
        if (r < 0) {
                tp_log(LOG_ERR, "cannot sign an access token: %s", strerror(-r));
                conn_drop(srv, c, "signing failed");
                return false;
        }
        return true;
}

/* Decode and answer one complete frame. The reply goes out at once, or,
 * when it depends on the store and a batch is open, after the commit. */
static int conn_answer(struct server *srv, struct conn *c)
{
        const struct tp_request_kind *k;
        bool changed;
        int r;

        r = tp_request_decode(c->type, c->payload, c->payload_len, srv->req);
        tp_secret_wipe(c->payload, c->payload_len);
        free(c->payload);
        c->payload = NULL;
        c->header_len = 0;
        if (r < 0)
                return r;
        k = tp_request_kind(srv->req->type);
        if (!k) /* the decoder knows no more types than the table */
                return -EPROTO;
        /* Every event this request causes is the peer's, for the per-uid
         * limit on audit events (log.h). */
        tp_audit_request_begin(c->peer.uid, !c->peer.admin, tp_monotonic_ms());
        if (k->needs_client && peer_gone(c->fd)) {
                /* The client gave up waiting (a PAM module on its timeout):
                 * acting now would record what it never heard. */
                if (k->abandoned)
                        k->abandoned(srv->d, &c->peer, srv->req);
                tp_audit_request_end();
                tp_audit_mark(false);
                tp_request_wipe(srv->req, srv->rep);
                return -ECONNABORTED;
        }
        if (c->peer.admin || rate_allows(srv, c->peer.uid)) {
                tp_account_request_begin();
                /* This loop sends the reply (conn_sign_later). Behind a
                 * held reply the batch is open, so this one waits for the
                 * commit too, and its signature can be made meanwhile. A
                 * lone sign-in is signed at once: handing its signature
                 * over costs it two wake-ups, more than the signature. */
                srv->d->sign_later = srv->held != NULL;
                tp_request_handle(srv->d, &c->peer, srv->req, srv->rep);
                srv->d->sign_later = false;
                tp_account_request_end();
        } else {
                tp_reply_reset(srv->rep, srv->req->type);
                tp_reply_status(srv->rep, TP_STATUS_ERROR,
                                "Too many requests from uid %u (more than %d a second); slow down.",
                                (unsigned)c->peer.uid, RATE_PER_SECOND);
                note_refused(srv, "request rate limit reached");
        }
        tp_audit_request_end();
        changed = tp_store_request_changed(srv->d->store);
        tp_audit_mark(changed);
        r = conn_set_reply(srv, c, srv->rep);
        conn_sign_later(srv, c, r);
        c->out_type = srv->req->type;
        c->out_session[0] = '\0';
        if (r >= 0 && srv->rep->status == TP_STATUS_OK && k->undelivered)
                memcpy(c->out_session, srv->rep->u.tokens.session_id, sizeof(c->out_session));
        tp_request_wipe(srv->req, srv->rep);
        if (r < 0)
                return r;
        /* Group commit: what this request read or changed becomes durable
         * with the batch, and only then may the peer hear of it. */
        if (tp_store_batch_pending(srv->d->store) && k->reads_store) {
                c->held = true;
                c->held_changed = changed;
                c->held_next = NULL;
                *srv->held_tail = c;
                srv->held_tail = &c->held_next;
        }
        return 0;
}

/* The batch is durable (r == 0), or was rolled back: requests whose
 * changes it held are answered with an error instead. False when c was
 * dropped (no memory for the answer). */
static bool conn_batch_failed(struct server *srv, struct conn *c, int r)
{
        c->out_session[0] = '\0'; /* no session came of it */
        (void)tp_jwt_unsigned_finish(srv->d->signer, &c->sig, NULL);
        tp_reply_reset(srv->rep, c->type);
        tp_reply_status(srv->rep, TP_STATUS_ERROR,
                        "The session store failed (%s); nothing was changed. See the tokenpolicyd log.",
                        strerror(-r));
        if (conn_set_reply(srv, c, srv->rep) < 0) {
                conn_drop(srv, c, "out of memory");
                return false;
        }
        return true;
}

/* Write what the socket takes now; wait for EPOLLOUT only for the rest.
 * Once the reply is out, read the next request. */
static void conn_send(struct server *srv, struct conn *c)
{
        if (!conn_signed(srv, c))
                return;
        while (c->out_off < c->out_len) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                if (!c->watching_out && conn_watch(srv, c, EPOLLOUT) < 0)
                                        conn_drop(srv, c, "epoll failed");
                                return;
                        }
                        conn_drop(srv, c, strerror(errno));
                        return;
                }
                c->out_off += (size_t)n;
        }
        tp_secret_wipe(c->out, c->out_len);
        free(c->out);
        c->out = NULL;
        c->deadline_ms = 0;
        c->last_active_ms = tp_monotonic_ms();
        if (c->watching_out && conn_watch(srv, c, EPOLLIN) < 0) {
                conn_drop(srv, c, "epoll failed");
                return;
        }
        /* A request already read waits for no event: the loop takes it
         * on its next turn. */
        if (c->in_off < c->in_len && !c->ready) {
                c->ready = true;
                srv->n_ready++;
        }
}

/* Take buffered bytes into the frame in progress. */
static void conn_take(struct conn *c)
{
        size_t avail = c->in_len - c->in_off, n;

        if (c->header_len < TP_FRAME_HEADER_SIZE) {
                n = TP_FRAME_HEADER_SIZE - c->header_len;
                n = n < avail ? n : avail;
                memcpy(c->header + c->header_len, c->in + c->in_off, n);
                c->header_len += n;
        } else {
                n = c->payload_len - c->payload_got;
                n = n < avail ? n : avail;
                memcpy(c->payload + c->payload_got, c->in + c->in_off, n);
                c->payload_got += n;
        }
        tp_secret_wipe(c->in + c->in_off, n); /* it may carry a refresh token */
        c->in_off += n;
        if (c->in_off == c->in_len)
                c->in_off = c->in_len = 0;
}

static void conn_readable(struct server *srv, struct conn *c)
{
        if (c->out) /* a reply still going out: the next request waits */
                return;
        for (;;) {
                ssize_t n;
                int r;

                if (c->in_off == c->in_len) {
                        /* A payload larger than the buffer goes straight
                         * into its own. */
                        bool direct = c->payload && c->payload_len - c->payload_got > sizeof(c->in);

                        if (direct)
                                n = read(c->fd, c->payload + c->payload_got, c->payload_len - c->payload_got);
                        else
                                n = read(c->fd, c->in, sizeof(c->in));
                        if (n < 0) {
                                if (errno == EAGAIN || errno == EINTR)
                                        return;
                                conn_drop(srv, c, strerror(errno));
                                return;
                        }
                        if (n == 0) {
                                if (c->header_len > 0)
                                        conn_drop(srv, c, "closed in the middle of a frame");
                                else
                                        conn_free(srv, c);
                                return;
                        }
                        if (direct)
                                c->payload_got += (size_t)n;
                        else
                                c->in_len = (size_t)n;
                }
                if (c->header_len == 0) /* a new frame: it has a fixed time to arrive */
                        c->deadline_ms = tp_monotonic_ms() + FRAME_TIMEOUT_MS;
                if (c->in_off < c->in_len)
                        conn_take(c);
                if (c->header_len == TP_FRAME_HEADER_SIZE && !c->payload) {
                        uint32_t len;

                        r = tp_frame_header_parse(c->header, &c->type, &len);
                        if (r < 0) {
                                conn_drop(srv, c, r == -EMSGSIZE ? "frame larger than the maximum"
                                                                 : "bad frame header");
                                return;
                        }
                        c->payload_len = len;
                        c->payload_got = 0;
                        c->payload = malloc(len ? len : 1);
                        if (!c->payload) {
                                conn_drop(srv, c, "out of memory");
                                return;
                        }
                }
                if (c->payload && c->payload_got == c->payload_len) {
                        r = conn_answer(srv, c);
                        if (r < 0) {
                                conn_drop(srv, c, r == -EPROTO         ? "malformed request"
                                                  : r == -ECONNABORTED ? "client gone before its request was answered"
                                                                       : strerror(-r));
                                return;
                        }
                        if (!c->held)
                                conn_send(srv, c); /* may drop c; marks it ready for what is buffered */
                        return;
                }
        }
}

/* The requests read along with earlier ones, whose replies are out. */
static void take_buffered(struct server *srv)
{
        struct conn *c, *next;

        for (c = srv->conns; c && srv->n_ready; c = next) {
                next = c->next;
                if (!c->ready)
                        continue;
                c->ready = false;
                srv->n_ready--;
                conn_readable(srv, c); /* may free c, never another */
        }
}

static void drop_idle(struct server *srv)
{
        int64_t now = tp_monotonic_ms();
        struct conn *c = srv->conns, *next;

        for (; c; c = next) {
                next = c->next;
                if (c->deadline_ms && now > c->deadline_ms)
                        conn_drop(srv, c, c->out ? "reply not read in time" : "request not sent in time");
                else if (!c->deadline_ms && now - c->last_active_ms > IDLE_TIMEOUT_MS)
                        conn_drop_at(srv, c, LOG_DEBUG, "idle for too long"); /* a PAM handle's, often */
        }
}

static void handle_signals(struct server *srv)
{
        struct signalfd_siginfo si;
        struct tp_config_errors errs = { 0 };
        int r;

        while (read(srv->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                switch (si.ssi_signo) {
                case SIGHUP:
                        if ((r = tp_control_reload(srv->d, &errs)) >= 0)
                                tp_log(LOG_NOTICE, "configuration reloaded from %s; %d running session(s) of disabled client types revoked",
                                       srv->d->config_path, r);
                        else
                                tp_log(LOG_ERR, "%s is invalid; the running policy was kept",
                                       srv->d->config_path);
                        tp_config_errors_clear(&errs);
                        break;
                case SIGTERM:
                case SIGINT:
                        srv->stopping = true;
                        break;
                default:
                        break;
                }
        }
}

static int setup_signals(void)
{
        sigset_t mask;

        signal(SIGPIPE, SIG_IGN);
        /* A write past the file size limit fails with EFBIG, like a full
         * disk, and is answered as one; it must not kill the daemon. */
        signal(SIGXFSZ, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Raise the soft descriptor limit to the hard one and keep the connection
 * cap below it, with room for the store, the key and the spare. */
static size_t connection_limit(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return 64;
        if (rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
                (void)getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > MAX_CONNECTIONS + 32)
                return MAX_CONNECTIONS;
        return rl.rlim_cur > 36 ? (size_t)rl.rlim_cur - 32 : 4;
}

/* One turn of the loop answers every request that is ready; their changes
 * share one transaction and one fsync here, and their replies, audit
 * events and enforcement wait for it. */
static void batch_start(struct server *srv)
{
        tp_store_batch_start(srv->d->store);
        tp_audit_hold();
        tp_lifecycle_hold(srv->d);
}

static void batch_finish(struct server *srv)
{
        size_t n_changed = 0, n_dropped;
        struct conn *c;
        int r;

        srv->n_commits += tp_store_batch_pending(srv->d->store);
        tp_signer_sign_now(srv->d->signer); /* the batch's tokens, while it commits */
        r = tp_store_batch_commit(srv->d->store);
        if (r < 0) {
                for (c = srv->held; c; c = c->held_next)
                        n_changed += c->held_changed;
                tp_log(LOG_ERR, "session store: commit failed: %s (%s); the changes of %zu request(s) were undone and they are answered with an error",
                       strerror(-r), tp_store_errmsg(srv->d->store), n_changed);
        }
        n_dropped = tp_audit_release(r >= 0);
        if (n_dropped > 0)
                tp_log(LOG_ERR, "%zu audit event(s) for undone changes were not written", n_dropped);
        tp_lifecycle_release(srv->d, r >= 0);
        while ((c = srv->held)) {
                srv->n_batched++;
                srv->held = c->held_next;
                c->held = false;
                c->held_next = NULL;
                if (r < 0 && c->held_changed && !conn_batch_failed(srv, c, r))
                        continue; /* dropped */
                conn_send(srv, c); /* may drop c */
        }
        srv->held_tail = &srv->held;
}

/* Fleet mode: the store's connection wakes the loop when another host
 * ended one of ours. Its descriptor changes when the store reconnects, and
 * a closed one leaves the epoll set by itself: MOD, else ADD, each pass. */
static void watch_store(struct server *srv)
{
        bool write;
        int fd = tp_store_wait_fd(srv->d->store, &write);
        struct epoll_event ev = { .events = write ? EPOLLOUT : EPOLLIN, .data.ptr = &srv->store_fd };

        srv->store_fd = fd;
        if (fd < 0)
                return;
        if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT &&
            epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                tp_log_errno(-errno, "Failed to watch the session store's connection");
}

int tp_server_run(struct tp_daemon *d, int listen_fd)
{
        struct server srv = { .d = d, .listen_fd = listen_fd, .epfd = -1, .signal_fd = -1, .store_fd = -1 };

        srv.held_tail = &srv.held;
        struct epoll_event ev;
        int r = 0;

        srv.max_conns = connection_limit();
        srv.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

        srv.req = calloc(1, sizeof(*srv.req));
        srv.rep = calloc(1, sizeof(*srv.rep));
        srv.frame = malloc(TP_FRAME_HEADER_SIZE + TP_PAYLOAD_MAX);
        if (!srv.req || !srv.rep || !srv.frame) {
                r = -ENOMEM;
                goto out;
        }
        srv.signal_fd = setup_signals();
        if (srv.signal_fd < 0) {
                r = tp_log_errno(srv.signal_fd < -1 ? srv.signal_fd : -errno, "Failed to set up signals");
                goto out;
        }
        srv.epfd = epoll_create1(EPOLL_CLOEXEC);
        if (srv.epfd < 0) {
                r = tp_log_errno(-errno, "Failed to create epoll instance");
                goto out;
        }
        ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &srv.listen_fd };
        if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0) {
                r = tp_log_errno(-errno, "Failed to watch the listening socket");
                goto out;
        }
        ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &srv.signal_fd };
        if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, srv.signal_fd, &ev) < 0) {
                r = tp_log_errno(-errno, "Failed to watch signals");
                goto out;
        }

        int64_t last_sweep_ms = tp_monotonic_ms(), last_owed_ms = 0, last_keys_ms = tp_monotonic_ms();
        int64_t last_store_ms = 0;
        int64_t watchdog_ms = tp_watchdog_interval_ms(), last_ping_ms = 0;
        int wait_ms = watchdog_ms > 0 && watchdog_ms < TICK_MS ? (int)watchdog_ms : TICK_MS;
        bool more_due = tp_lifecycle_tick(d); /* expired while we were down */

        /* Accepting from here on: only now may the service manager send
         * logins our way. */
        tp_control_ready(d);
        while (!srv.stopping) {
                struct epoll_event events[128];
                /* Audit entries waiting for a log that stopped reading are
                 * retried soon; sessions told why they end are ended within
                 * tens of milliseconds of their notice being read. */
                int timeout_ms = wait_ms;

                if (tp_log_pending() && timeout_ms > TP_LOG_RETRY_MS)
                        timeout_ms = TP_LOG_RETRY_MS;
                if (tp_lifecycle_telling(d) && timeout_ms > TOLD_TICK_MS)
                        timeout_ms = TOLD_TICK_MS;
                bool owed = false;

                watch_store(&srv);
                int n = epoll_wait(srv.epfd, events, 128, more_due || srv.n_ready ? 0 : timeout_ms);

                if (watchdog_ms > 0 && tp_monotonic_ms() - last_ping_ms >= watchdog_ms) {
                        tp_watchdog_ping();
                        last_ping_ms = tp_monotonic_ms();
                }

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = tp_log_errno(-errno, "epoll_wait failed");
                        break;
                }
                bool accepting = false;

                batch_start(&srv);
                for (int i = 0; i < n; i++) {
                        void *p = events[i].data.ptr;

                        if (p == &srv.listen_fd) {
                                accepting = true; /* below: making room may free a connection */
                        } else if (p == &srv.signal_fd) {
                                handle_signals(&srv);
                        } else if (p == &srv.store_fd) {
                                owed = tp_store_wakeups(d->store) > 0;
                        } else {
                                struct conn *c = p;

                                if (events[i].events & EPOLLOUT)
                                        conn_send(&srv, c);
                                else if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                                        conn_readable(&srv, c);
                        }
                }
                /* After the connections' events: accepting may free an idle
                 * connection to make room, and events[] may still name it. */
                if (accepting)
                        accept_clients(&srv);
                if (srv.n_ready)
                        take_buffered(&srv);
                batch_finish(&srv);
                if (tp_log_pending())
                        tp_log_flush();
                if (tp_lifecycle_telling(d))
                        tp_lifecycle_told(d, false);
                /* A fleet's store: reconnect while offline, about once a
                 * second; say when it goes and comes back, and upload. */
                if (tp_monotonic_ms() - last_store_ms >= TICK_MS) {
                        if (tp_store_wakeups(d->store) > 0)
                                owed = true;
                        last_store_ms = tp_monotonic_ms();
                }
                tp_offline_tick(d);
                if (tp_offline_now(d)) {
                        owed = false;
                        last_owed_ms = tp_monotonic_ms() - OWED_RESYNC_MS; /* look as soon as it is back */
                } else if (owed || tp_monotonic_ms() - last_owed_ms >= OWED_RESYNC_MS) {
                        tp_lifecycle_owed(d);
                        last_owed_ms = tp_monotonic_ms();
                }
                if (tp_monotonic_ms() - last_keys_ms >= TP_FLEET_KEYS_REFRESH_MS && !tp_offline_now(d)) {
                        tp_fleetkeys_refresh(d);
                        last_keys_ms = tp_monotonic_ms();
                }
                if (more_due || tp_monotonic_ms() - last_sweep_ms >= TICK_MS) {
                        drop_idle(&srv);
                        tp_log_tick(tp_monotonic_ms());
                        tp_keys_tick(d);
                        more_due = tp_lifecycle_tick(d);
                        tp_idle_tick(d); /* this host's own sessions, offline too (offline.h) */
                        if (!tp_offline_now(d)) {
                                tp_accounts_tick(d);
                                tp_retention_tick(d);
                        }
                        last_sweep_ms = tp_monotonic_ms();
                }
        }
        tp_notify_stopping();
        tp_log(LOG_DEBUG, "%" PRIu64 " replies waited for %" PRIu64 " group commits", srv.n_batched,
               srv.n_commits);
        tp_log(LOG_INFO, "stopping");
out:
        while (srv.conns)
                conn_free(&srv, srv.conns);
        tp_log_tick(tp_monotonic_ms()); /* what waits, and what was lost */
        if (srv.epfd >= 0)
                close(srv.epfd);
        if (srv.signal_fd >= 0)
                close(srv.signal_fd);
        if (srv.spare_fd >= 0)
                close(srv.spare_fd);
        free(srv.req);
        free(srv.rep);
        free(srv.frame);
        return r;
}

/* Another daemon already answering on path? Then we must not unlink it. */
static bool socket_is_live(const char *path)
{
        int fd;

        if (tp_io_connect(path, 500, &fd) < 0)
                return false;
        close(fd);
        return true;
}

static int make_parent_dir(const char *path)
{
        char dir[TP_PATH_MAX];
        char *slash;

        if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
                return -ENAMETOOLONG;
        slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return 0;
        *slash = '\0';
        if (mkdir(dir, 0755) < 0)
                return errno == EEXIST ? 0 : -errno;
        /* Created here: readable by all whatever the umask, so every local
         * user can reach the socket inside. */
        if (chmod(dir, 0755) < 0)
                return -errno;
        return 0;
}

int tp_server_listen(const char *path, int *ret_fd)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;
        mode_t old_umask;
        int fd, r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        if ((r = make_parent_dir(path)) < 0)
                return r;
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return -EEXIST;
                if (socket_is_live(path))
                        return -EADDRINUSE;
                unlink(path);
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* Any local user may connect; SO_PEERCRED decides what each may do. */
        old_umask = umask(0111);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old_umask);
        if (r < 0 || chmod(path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}
