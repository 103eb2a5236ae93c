/* SPDX-License-Identifier: BSD-3-Clause */
/* scale_ops.c: single-client latency of individual requests.
 *
 *   scale_ops --socket PATH --service NAME --iterations N
 *             --access-user U --list-user U --cap-user U
 *
 * Sequentially, one connection per request as the PAM module does:
 *   access  ACCESS for --access-user;
 *   list    LIST of --list-user's active sessions (first page);
 *   open    OPEN for --cap-user, who already holds max_refresh_tokens
 *           sessions: every sign-in makes room for itself. Each OPEN comes
 *           from a fresh child process that exits right after (the session
 *           leader is the process that connects, and a leader that is gone
 *           is never signalled), so the user stays at the cap and this
 *           program is never a leader that an eviction would signal. Only
 *           the request is timed, inside the child.
 * Stops after --iterations rounds or --max-seconds (default 10), whichever
 * comes first, so a slow store still gives a bounded run.
 * Prints one JSON object with p50/p99 microseconds of each.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchlib.h"
#include "io.h"
#include "proto.h"

#define TIMEOUT_MS 10000

static const char *sock_path;
static long errors;
static char first_error[200];

static void note(const char *what, int r, const struct tp_reply *rep)
{
        errors++;
        if (first_error[0])
                return;
        if (r < 0)
                snprintf(first_error, sizeof(first_error), "%s: %s", what, strerror(-r));
        else
                snprintf(first_error, sizeof(first_error), "%s: %s: %.120s", what, tp_status_name(rep->status),
                         rep->message);
}

static int timed_call(const char *what, const struct tp_request *req, struct tp_reply *rep, int64_t *ns)
{
        int64_t t0 = bench_now_ns();
        int r = tp_io_call(sock_path, TIMEOUT_MS, req, rep);

        *ns = bench_now_ns() - t0;
        if (r < 0 || rep->status != TP_STATUS_OK) {
                note(what, r, rep);
                return -1;
        }
        return 0;
}

/* One OPEN from a child that exits at once; -1 on failure. */
static int open_from_child(const struct tp_request *req, struct tp_reply *rep, int64_t *ns)
{
        int fds[2], status;
        struct {
                int64_t ns;
                int r;
                uint8_t st;
                char msg[120];
        } res = { 0 };
        pid_t pid;

        if (pipe(fds) < 0)
                return -1;
        pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                int64_t t0 = bench_now_ns();

                close(fds[0]);
                res.r = tp_io_call(sock_path, TIMEOUT_MS, req, rep);
                res.ns = bench_now_ns() - t0;
                res.st = rep->status;
                snprintf(res.msg, sizeof(res.msg), "%.119s", rep->message);
                _exit(write(fds[1], &res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 1);
        }
        close(fds[1]);
        if (read(fds[0], &res, sizeof(res)) != (ssize_t)sizeof(res))
                res.r = -EPIPE;
        close(fds[0]);
        waitpid(pid, &status, 0);
        *ns = res.ns;
        if (res.r < 0 || res.st != TP_STATUS_OK) {
                rep->status = res.st;
                snprintf(rep->message, sizeof(rep->message), "%s", res.msg);
                note("open", res.r, rep);
                return -1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        const char *service = NULL, *access_user = NULL, *list_user = NULL, *cap_user = NULL;
        struct bench_samples access = { 0 }, list = { 0 }, open = { 0 };
        struct tp_request req;
        struct tp_reply *rep;
        long iterations = 0, done = 0;
        double max_seconds = 10;
        int64_t stop_ns;
        uint32_t list_count = 0;
        int64_t ns;

        for (int i = 1; i + 1 < argc; i += 2) {
                if (strcmp(argv[i], "--socket") == 0)
                        sock_path = argv[i + 1];
                else if (strcmp(argv[i], "--service") == 0)
                        service = argv[i + 1];
                else if (strcmp(argv[i], "--iterations") == 0)
                        iterations = strtol(argv[i + 1], NULL, 10);
                else if (strcmp(argv[i], "--max-seconds") == 0)
                        max_seconds = strtod(argv[i + 1], NULL);
                else if (strcmp(argv[i], "--access-user") == 0)
                        access_user = argv[i + 1];
                else if (strcmp(argv[i], "--list-user") == 0)
                        list_user = argv[i + 1];
                else if (strcmp(argv[i], "--cap-user") == 0)
                        cap_user = argv[i + 1];
        }
        if (!sock_path || !service || iterations <= 0 || !access_user || !list_user || !cap_user) {
                fprintf(stderr, "usage: scale_ops --socket PATH --service NAME --iterations N "
                                "--access-user U --list-user U --cap-user U\n");
                return 2;
        }
        rep = malloc(sizeof(*rep));
        if (!rep)
                return 2;

        stop_ns = bench_now_ns() + (int64_t)(max_seconds * 1e9);
        for (long it = 0; it < iterations && bench_now_ns() < stop_ns; it++, done++) {
                memset(&req, 0, sizeof(req));
                req.type = TP_REQ_ACCESS;
                snprintf(req.u.signin.user, sizeof(req.u.signin.user), "%s", access_user);
                snprintf(req.u.signin.service, sizeof(req.u.signin.service), "%s", service);
                if (timed_call("access", &req, rep, &ns) == 0)
                        bench_samples_add(&access, ns);

                memset(&req, 0, sizeof(req));
                req.type = TP_REQ_LIST;
                snprintf(req.u.list.user, sizeof(req.u.list.user), "%s", list_user);
                if (timed_call("list", &req, rep, &ns) == 0) {
                        bench_samples_add(&list, ns);
                        list_count = rep->u.list.count;
                }

                memset(&req, 0, sizeof(req));
                req.type = TP_REQ_OPEN;
                snprintf(req.u.signin.user, sizeof(req.u.signin.user), "%s", cap_user);
                snprintf(req.u.signin.service, sizeof(req.u.signin.service), "%s", service);
                if (open_from_child(&req, rep, &ns) == 0)
                        bench_samples_add(&open, ns);
        }
        printf("{\"access_p50_us\": %.1f, \"access_p99_us\": %.1f, \"list_p50_us\": %.1f, "
               "\"list_p99_us\": %.1f, \"open_at_cap_p50_us\": %.1f, \"open_at_cap_p99_us\": %.1f, "
               "\"list_count\": %u, \"n\": %ld, \"errors\": %ld, \"first_error\": \"",
               bench_quantile_us(&access, 0.5), bench_quantile_us(&access, 0.99), bench_quantile_us(&list, 0.5),
               bench_quantile_us(&list, 0.99), bench_quantile_us(&open, 0.5), bench_quantile_us(&open, 0.99),
               list_count, done, errors);
        for (const char *p = first_error; *p; p++)
                if (*p >= 0x20 && *p != '"' && *p != '\\')
                        putchar(*p);
        printf("\"}\n");
        bench_samples_free(&access);
        bench_samples_free(&list);
        bench_samples_free(&open);
        free(rep);
        return 0;
}
