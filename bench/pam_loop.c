/* SPDX-License-Identifier: BSD-3-Clause */
/* pam_loop.c: the cost of a PAM transaction through real libpam.
 *
 *   pam_loop --confdir DIR --user USER --iterations N [--warmup N] SERVICE...
 *   pam_loop --confdir DIR --user USER --procs P --seconds S SERVICE...
 *
 * For each iteration and each SERVICE in turn (interleaved, so every stack
 * sees the same machine state): pam_start_confdir, pam_acct_mgmt,
 * pam_open_session, pam_close_session, pam_end. Times two spans per
 * iteration: "ops" (acct_mgmt + open_session + close_session) and "txn"
 * (pam_start_confdir to pam_end inclusive). Prints one JSON object:
 * {"SERVICE": {"ops_p50_us":..,"ops_p99_us":..,"txn_p50_us":..,
 * "txn_p99_us":..,"n":..,"failures":..}, ...}. Exits 1 when any step of
 * any iteration failed.
 *
 * With --procs, P processes (as P PAM applications) run whole transactions
 * (pam_start_confdir to pam_end) back to back for S seconds, one SERVICE
 * after the other, all P starting together; prints {"SERVICE":
 * {"txn_per_s":..,"procs":..,"failures":..}, ...}.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

#include "benchlib.h"

#define MAX_STACKS 8

static int conversation(int n, const struct pam_message **msgs, struct pam_response **resp, void *data)
{
        struct pam_response *r = calloc((size_t)n, sizeof(*r));

        (void)msgs;
        (void)data;
        if (!r)
                return PAM_BUF_ERR;
        *resp = r;
        return PAM_SUCCESS;
}

struct stack {
        const char *service;
        struct bench_samples ops, txn, acct, open, close;
        long failures;
        int first_error;
};

static void one(struct stack *st, const char *confdir, const char *user, int record)
{
        struct pam_conv conv = { conversation, NULL };
        pam_handle_t *pamh = NULL;
        int64_t t0, t1, t2, t3, ta = 0, to = 0;
        int r;

        t0 = bench_now_ns();
        r = pam_start_confdir(st->service, user, &conv, confdir, &pamh);
        if (r != PAM_SUCCESS) {
                st->failures++;
                st->first_error = st->first_error ? st->first_error : r;
                return;
        }
        t1 = bench_now_ns();
        if ((r = pam_acct_mgmt(pamh, 0)) == PAM_SUCCESS) {
                ta = bench_now_ns();
                if ((r = pam_open_session(pamh, 0)) == PAM_SUCCESS) {
                        to = bench_now_ns();
                        r = pam_close_session(pamh, 0);
                }
        }
        t2 = bench_now_ns();
        pam_end(pamh, r);
        t3 = bench_now_ns();
        if (r != PAM_SUCCESS) {
                st->failures++;
                st->first_error = st->first_error ? st->first_error : r;
                return;
        }
        if (record && (bench_samples_add(&st->ops, t2 - t1) < 0 || bench_samples_add(&st->txn, t3 - t0) < 0 ||
                       bench_samples_add(&st->acct, ta - t1) < 0 || bench_samples_add(&st->open, to - ta) < 0 ||
                       bench_samples_add(&st->close, t2 - to) < 0)) {
                fprintf(stderr, "pam_loop: out of memory\n");
                exit(2);
        }
}

/* P processes, one service, S seconds: whole transactions a second. */
static double concurrent(struct stack *st, const char *confdir, const char *user, long procs, double seconds)
{
        int to_children[2], from_children[2];
        long total = 0, failures = 0;
        pid_t pids[256];
        char go[256];
        int64_t t0, t1;

        if (procs > 256 || pipe(to_children) < 0 || pipe(from_children) < 0) {
                fprintf(stderr, "pam_loop: cannot set up %ld processes\n", procs);
                exit(2);
        }
        for (long i = 0; i < procs; i++) {
                pids[i] = fork();
                if (pids[i] < 0) {
                        fprintf(stderr, "pam_loop: fork failed\n");
                        exit(2);
                }
                if (pids[i] == 0) {
                        long counts[2] = { 0, 0 };
                        char b;
                        int64_t end;

                        close(to_children[1]);
                        if (read(to_children[0], &b, 1) != 1)
                                _exit(2);
                        end = bench_now_ns() + (int64_t)(seconds * 1e9);
                        while (bench_now_ns() < end) {
                                long before = st->failures;

                                one(st, confdir, user, 0);
                                counts[st->failures > before ? 1 : 0]++;
                        }
                        if (write(from_children[1], counts, sizeof(counts)) != (ssize_t)sizeof(counts))
                                _exit(2);
                        _exit(0);
                }
        }
        close(to_children[0]);
        close(from_children[1]);
        memset(go, 'g', sizeof(go));
        t0 = bench_now_ns();
        if (write(to_children[1], go, (size_t)procs) != (ssize_t)procs) {
                fprintf(stderr, "pam_loop: cannot start the processes\n");
                exit(2);
        }
        for (long i = 0; i < procs; i++) {
                long counts[2];

                if (read(from_children[0], counts, sizeof(counts)) != (ssize_t)sizeof(counts)) {
                        fprintf(stderr, "pam_loop: a process died\n");
                        exit(2);
                }
                total += counts[0];
                failures += counts[1];
        }
        t1 = bench_now_ns();
        for (long i = 0; i < procs; i++)
                waitpid(pids[i], NULL, 0);
        close(to_children[1]);
        close(from_children[0]);
        st->failures = failures;
        return (double)total / ((double)(t1 - t0) / 1e9);
}

int main(int argc, char **argv)
{
        const char *confdir = NULL, *user = NULL;
        struct stack stacks[MAX_STACKS];
        long iterations = 0, warmup = 200, failures = 0, procs = 0;
        double seconds = 0;
        int n = 0;

        memset(stacks, 0, sizeof(stacks));
        for (int i = 1; i < argc; i++) {
                if (i + 1 < argc && strcmp(argv[i], "--confdir") == 0)
                        confdir = argv[++i];
                else if (i + 1 < argc && strcmp(argv[i], "--user") == 0)
                        user = argv[++i];
                else if (i + 1 < argc && strcmp(argv[i], "--iterations") == 0)
                        iterations = strtol(argv[++i], NULL, 10);
                else if (i + 1 < argc && strcmp(argv[i], "--warmup") == 0)
                        warmup = strtol(argv[++i], NULL, 10);
                else if (i + 1 < argc && strcmp(argv[i], "--procs") == 0)
                        procs = strtol(argv[++i], NULL, 10);
                else if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0)
                        seconds = strtod(argv[++i], NULL);
                else if (argv[i][0] != '-' && n < MAX_STACKS)
                        stacks[n++].service = argv[i];
                else {
                        fprintf(stderr, "usage: pam_loop --confdir DIR --user USER --iterations N "
                                        "[--warmup N] SERVICE...\n"
                                        "       pam_loop --confdir DIR --user USER --procs P --seconds S "
                                        "SERVICE...\n");
                        return 2;
                }
        }
        if (procs > 0) {
                if (!confdir || !user || seconds <= 0 || procs > 256 || n == 0) {
                        fprintf(stderr, "pam_loop: --confdir, --user, --seconds, 1-256 --procs and a service "
                                        "are required\n");
                        return 2;
                }
                printf("{");
                for (int s = 0; s < n; s++) {
                        double rate = concurrent(&stacks[s], confdir, user, procs, seconds);

                        printf("%s\"%s\": {\"txn_per_s\": %.0f, \"procs\": %ld, \"failures\": %ld}", s ? ", " : "",
                               stacks[s].service, rate, procs, stacks[s].failures);
                        failures += stacks[s].failures;
                }
                printf("}\n");
                return failures ? 1 : 0;
        }
        if (!confdir || !user || iterations <= 0 || n == 0) {
                fprintf(stderr, "pam_loop: --confdir, --user, --iterations and a service are required\n");
                return 2;
        }
        for (long it = 0; it < warmup + iterations; it++)
                for (int s = 0; s < n; s++)
                        one(&stacks[s], confdir, user, it >= warmup);

        printf("{");
        for (int s = 0; s < n; s++) {
                struct stack *st = &stacks[s];

                printf("%s\"%s\": {\"ops_p50_us\": %.1f, \"ops_p99_us\": %.1f, \"txn_p50_us\": %.1f, "
                       "\"txn_p99_us\": %.1f, \"acct_p50_us\": %.1f, \"open_p50_us\": %.1f, \"open_p99_us\": %.1f, "
                       "\"close_p50_us\": %.1f, "
                       "\"n\": %zu, \"failures\": %ld, \"first_error\": \"%s\"}",
                       s ? ", " : "", st->service, bench_quantile_us(&st->ops, 0.50),
                       bench_quantile_us(&st->ops, 0.99), bench_quantile_us(&st->txn, 0.50),
                       bench_quantile_us(&st->txn, 0.99), bench_quantile_us(&st->acct, 0.50),
                       bench_quantile_us(&st->open, 0.50), bench_quantile_us(&st->open, 0.99),
                       bench_quantile_us(&st->close, 0.50), st->ops.n,
                       st->failures, st->first_error ? pam_strerror(NULL, st->first_error) : "");
                failures += st->failures;
                bench_samples_free(&st->ops);
                bench_samples_free(&st->txn);
                bench_samples_free(&st->acct);
                bench_samples_free(&st->open);
                bench_samples_free(&st->close);
        }
        printf("}\n");
        return failures ? 1 : 0;
}
