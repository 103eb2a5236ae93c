/* SPDX-License-Identifier: BSD-3-Clause */
/* load.c: daemon throughput under N concurrent clients.
 *
 *   load --socket PATH --mix signin|access|refresh --clients N --seconds S
 *        --service NAME --users U1,U2,... [--conn handle|request|client]
 *
 * Each client is a thread. How it connects (--conn):
 *   handle   as the PAM module does, one connection per PAM handle: a
 *            sign-in's OPEN and CLOSE share one, an ACCESS or a REFRESH
 *            (a handle with that one call) has its own (the default);
 *   request  a connection for every request, as the module did before
 *            it kept one per handle;
 *   client   one connection for the client's whole run (a long-lived
 *            peer); the daemon's cost per request without a connect.
 * The mixes:
 *   signin   OPEN for its user, then CLOSE of that session; the OPEN is the
 *            durable sign-in that is timed and counted, the CLOSE is timed
 *            apart (it commits without waiting for the disk);
 *   access   ACCESS for its user;
 *   refresh  REFRESH of a session the client opened before the clock
 *            started (and closes after it stopped).
 * Client i acts for user i mod (number of users). All clients start
 * together and stop at the same deadline. Prints one JSON object.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchlib.h"
#include "io.h"
#include "proto.h"

#define TIMEOUT_MS 10000
#define MAX_USERS 64

enum mix { MIX_SIGNIN, MIX_ACCESS, MIX_REFRESH };
enum conn_mode { CONN_HANDLE, CONN_REQUEST, CONN_CLIENT };
static enum conn_mode conn_mode = CONN_HANDLE;

static const char *sock_path, *service;
static char *users[MAX_USERS];
static int n_users;
static enum mix mix;
static int64_t deadline_ns;
static pthread_barrier_t start_barrier;

struct client {
        pthread_t thread;
        int index;
        struct bench_samples lat, close_lat;
        long errors;
        char first_error[160];
        char session_id[TP_SESSION_ID_MAX];
        struct tp_request req;
        struct tp_reply *rep;
        int fd; /* the connection kept (handle, client), or -1 */
};

static void note_error(struct client *c, const char *what, int r, const struct tp_reply *rep)
{
        c->errors++;
        if (c->first_error[0])
                return;
        if (r < 0)
                snprintf(c->first_error, sizeof(c->first_error), "%s: %s", what, strerror(-r));
        else
                snprintf(c->first_error, sizeof(c->first_error), "%s: %s: %.100s", what,
                         tp_status_name(rep->status), rep->message);
}

static void signin_request(struct client *c)
{
        memset(&c->req, 0, sizeof(c->req));
        c->req.type = TP_REQ_OPEN;
        snprintf(c->req.u.signin.user, sizeof(c->req.u.signin.user), "%s", users[c->index % n_users]);
        snprintf(c->req.u.signin.service, sizeof(c->req.u.signin.service), "%s", service);
        snprintf(c->req.u.signin.tty, sizeof(c->req.u.signin.tty), "pts/%d", c->index);
}

static void hang_up(struct client *c)
{
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
}

static int transact(struct client *c)
{
        int64_t deadline = tp_monotonic_ms() + TIMEOUT_MS;
        int r;

        if (conn_mode == CONN_REQUEST)
                return tp_io_call(sock_path, TIMEOUT_MS, &c->req, c->rep);
        if (c->fd < 0 && (r = tp_io_connect(sock_path, TIMEOUT_MS, &c->fd)) < 0) {
                c->fd = -1;
                return r;
        }
        if ((r = tp_io_transact(c->fd, deadline, &c->req, c->rep)) < 0)
                hang_up(c);
        return r;
}

/* The end of what one PAM handle would do: its connection goes. */
static void end_handle(struct client *c)
{
        if (conn_mode == CONN_HANDLE)
                hang_up(c);
}

/* 0 and the reply in c->rep, or -1 after counting the error. */
static int call(struct client *c, const char *what)
{
        int r = transact(c);

        if (r < 0 || c->rep->status != TP_STATUS_OK) {
                note_error(c, what, r, c->rep);
                return -1;
        }
        return 0;
}

static int close_session(struct client *c, const char *id)
{
        memset(&c->req, 0, sizeof(c->req));
        c->req.type = TP_REQ_CLOSE;
        snprintf(c->req.u.session.session_id, sizeof(c->req.u.session.session_id), "%s", id);
        return call(c, "close");
}

static void *run(void *arg)
{
        struct client *c = arg;
        char id[TP_SESSION_ID_MAX];
        int64_t t0, t1;

        if (mix == MIX_REFRESH) {
                signin_request(c);
                if (call(c, "setup open") == 0)
                        snprintf(c->session_id, sizeof(c->session_id), "%s", c->rep->u.tokens.session_id);
                end_handle(c);
        }
        pthread_barrier_wait(&start_barrier);
        while (bench_now_ns() < deadline_ns) {
                int r;

                switch (mix) {
                case MIX_SIGNIN:
                        signin_request(c);
                        t0 = bench_now_ns();
                        r = call(c, "open");
                        t1 = bench_now_ns();
                        if (r < 0)
                                break;
                        bench_samples_add(&c->lat, t1 - t0);
                        snprintf(id, sizeof(id), "%s", c->rep->u.tokens.session_id);
                        t0 = bench_now_ns();
                        if (close_session(c, id) == 0)
                                bench_samples_add(&c->close_lat, bench_now_ns() - t0);
                        end_handle(c);
                        break;
                case MIX_ACCESS:
                        signin_request(c);
                        c->req.type = TP_REQ_ACCESS;
                        t0 = bench_now_ns();
                        if (call(c, "access") == 0)
                                bench_samples_add(&c->lat, bench_now_ns() - t0);
                        end_handle(c);
                        break;
                case MIX_REFRESH:
                        if (!c->session_id[0])
                                return NULL;
                        memset(&c->req, 0, sizeof(c->req));
                        c->req.type = TP_REQ_REFRESH;
                        snprintf(c->req.u.session.session_id, sizeof(c->req.u.session.session_id), "%s",
                                 c->session_id);
                        t0 = bench_now_ns();
                        if (call(c, "refresh") == 0)
                                bench_samples_add(&c->lat, bench_now_ns() - t0);
                        end_handle(c);
                        break;
                }
        }
        if (mix == MIX_REFRESH && c->session_id[0])
                close_session(c, c->session_id);
        hang_up(c);
        return NULL;
}

static void usage(void)
{
        fprintf(stderr, "usage: load --socket PATH --mix signin|access|refresh --clients N --seconds S "
                        "--service NAME --users U1,U2,... [--conn handle|request|client]\n");
        exit(2);
}

int main(int argc, char **argv)
{
        const char *mix_name = NULL;
        char *user_list = NULL, *save = NULL;
        long n_clients = 0;
        double seconds = 0;
        struct client *clients;
        struct bench_samples all = { 0 }, all_close = { 0 };
        long errors = 0;
        const char *first_error = "";
        int64_t t_start, t_end;
        double elapsed;

        for (int i = 1; i < argc; i++) {
                if (i + 1 >= argc)
                        usage();
                if (strcmp(argv[i], "--socket") == 0)
                        sock_path = argv[++i];
                else if (strcmp(argv[i], "--mix") == 0)
                        mix_name = argv[++i];
                else if (strcmp(argv[i], "--clients") == 0)
                        n_clients = strtol(argv[++i], NULL, 10);
                else if (strcmp(argv[i], "--seconds") == 0)
                        seconds = strtod(argv[++i], NULL);
                else if (strcmp(argv[i], "--service") == 0)
                        service = argv[++i];
                else if (strcmp(argv[i], "--users") == 0)
                        user_list = argv[++i];
                else if (strcmp(argv[i], "--conn") == 0) {
                        const char *m = argv[++i];

                        if (strcmp(m, "handle") == 0)
                                conn_mode = CONN_HANDLE;
                        else if (strcmp(m, "request") == 0)
                                conn_mode = CONN_REQUEST;
                        else if (strcmp(m, "client") == 0)
                                conn_mode = CONN_CLIENT;
                        else
                                usage();
                } else
                        usage();
        }
        if (!sock_path || !mix_name || n_clients <= 0 || n_clients > 4096 || seconds <= 0 || !service ||
            !user_list)
                usage();
        if (strcmp(mix_name, "signin") == 0)
                mix = MIX_SIGNIN;
        else if (strcmp(mix_name, "access") == 0)
                mix = MIX_ACCESS;
        else if (strcmp(mix_name, "refresh") == 0)
                mix = MIX_REFRESH;
        else
                usage();
        for (char *u = strtok_r(user_list, ",", &save); u && n_users < MAX_USERS; u = strtok_r(NULL, ",", &save))
                users[n_users++] = u;
        if (n_users == 0)
                usage();

        clients = calloc((size_t)n_clients, sizeof(*clients));
        if (!clients)
                return 2;
        pthread_barrier_init(&start_barrier, NULL, (unsigned)n_clients + 1);
        for (long i = 0; i < n_clients; i++) {
                clients[i].index = (int)i;
                clients[i].fd = -1;
                clients[i].rep = malloc(sizeof(*clients[i].rep));
                if (!clients[i].rep || pthread_create(&clients[i].thread, NULL, run, &clients[i]) != 0) {
                        fprintf(stderr, "load: cannot start client %ld\n", i);
                        return 2;
                }
        }
        /* The deadline is set before the clients are released (the barrier
         * orders the write before their reads). */
        t_start = bench_now_ns();
        deadline_ns = t_start + (int64_t)(seconds * 1e9);
        pthread_barrier_wait(&start_barrier);
        for (long i = 0; i < n_clients; i++)
                pthread_join(clients[i].thread, NULL);
        t_end = bench_now_ns();
        elapsed = (double)(t_end - t_start) / 1e9;

        for (long i = 0; i < n_clients; i++) {
                bench_samples_merge(&all, &clients[i].lat);
                bench_samples_merge(&all_close, &clients[i].close_lat);
                errors += clients[i].errors;
                if (!first_error[0] && clients[i].first_error[0])
                        first_error = clients[i].first_error;
        }
        printf("{\"mix\": \"%s\", \"clients\": %ld, \"seconds\": %.3f, \"ops\": %zu, \"ops_per_s\": %.0f, "
               "\"p50_us\": %.1f, \"p99_us\": %.1f, \"close_p50_us\": %.1f, \"close_p99_us\": %.1f, "
               "\"errors\": %ld, \"first_error\": \"",
               mix_name, n_clients, elapsed, all.n, (double)all.n / elapsed, bench_quantile_us(&all, 0.5),
               bench_quantile_us(&all, 0.99), bench_quantile_us(&all_close, 0.5),
               bench_quantile_us(&all_close, 0.99), errors);
        for (const char *p = first_error; *p; p++)
                if (*p >= 0x20 && *p != '"' && *p != '\\')
                        putchar(*p);
        printf("\"}\n");
        for (long i = 0; i < n_clients; i++) {
                bench_samples_free(&clients[i].lat);
                bench_samples_free(&clients[i].close_lat);
                free(clients[i].rep);
        }
        free(clients);
        bench_samples_free(&all);
        bench_samples_free(&all_close);
        return 0;
}
