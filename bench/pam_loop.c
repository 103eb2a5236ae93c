/* SPDX-License-Identifier: BSD-3-Clause */
/* pam_loop.c: the cost of a PAM transaction through real libpam.
 *
 *   pam_loop --confdir DIR --user USER --iterations N [--warmup N] SERVICE...
 *
 * For each iteration and each SERVICE in turn (interleaved, so every stack
 * sees the same machine state): pam_start_confdir, pam_acct_mgmt,
 * pam_open_session, pam_close_session, pam_end. Times two spans per
 * iteration: "ops" (acct_mgmt + open_session + close_session) and "txn"
 * (pam_start_confdir to pam_end inclusive). Prints one JSON object:
 * {"SERVICE": {"ops_p50_us":..,"ops_p99_us":..,"txn_p50_us":..,
 * "txn_p99_us":..,"n":..,"failures":..}, ...}. Exits 1 when any step of
 * any iteration failed.
 */
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
        struct bench_samples ops, txn;
        long failures;
        int first_error;
};

static void one(struct stack *st, const char *confdir, const char *user, int record)
{
        struct pam_conv conv = { conversation, NULL };
        pam_handle_t *pamh = NULL;
        int64_t t0, t1, t2, t3;
        int r;

        t0 = bench_now_ns();
        r = pam_start_confdir(st->service, user, &conv, confdir, &pamh);
        if (r != PAM_SUCCESS) {
                st->failures++;
                st->first_error = st->first_error ? st->first_error : r;
                return;
        }
        t1 = bench_now_ns();
        if ((r = pam_acct_mgmt(pamh, 0)) == PAM_SUCCESS && (r = pam_open_session(pamh, 0)) == PAM_SUCCESS)
                r = pam_close_session(pamh, 0);
        t2 = bench_now_ns();
        pam_end(pamh, r);
        t3 = bench_now_ns();
        if (r != PAM_SUCCESS) {
                st->failures++;
                st->first_error = st->first_error ? st->first_error : r;
                return;
        }
        if (record && (bench_samples_add(&st->ops, t2 - t1) < 0 || bench_samples_add(&st->txn, t3 - t0) < 0)) {
                fprintf(stderr, "pam_loop: out of memory\n");
                exit(2);
        }
}

int main(int argc, char **argv)
{
        const char *confdir = NULL, *user = NULL;
        struct stack stacks[MAX_STACKS];
        long iterations = 0, warmup = 200, failures = 0;
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
                else if (argv[i][0] != '-' && n < MAX_STACKS)
                        stacks[n++].service = argv[i];
                else {
                        fprintf(stderr, "usage: pam_loop --confdir DIR --user USER --iterations N "
                                        "[--warmup N] SERVICE...\n");
                        return 2;
                }
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
                       "\"txn_p99_us\": %.1f, \"n\": %zu, \"failures\": %ld, \"first_error\": \"%s\"}",
                       s ? ", " : "", st->service, bench_quantile_us(&st->ops, 0.50),
                       bench_quantile_us(&st->ops, 0.99), bench_quantile_us(&st->txn, 0.50),
                       bench_quantile_us(&st->txn, 0.99), st->ops.n, st->failures,
                       st->first_error ? pam_strerror(NULL, st->first_error) : "");
                failures += st->failures;
                bench_samples_free(&st->ops);
                bench_samples_free(&st->txn);
        }
        printf("}\n");
        return failures ? 1 : 0;
}
