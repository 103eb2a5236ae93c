/* SPDX-License-Identifier: BSD-3-Clause */
/* benchlib.c: timing and statistics shared by the benchmark programs. */
#include "benchlib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t bench_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int reserve(struct bench_samples *s, size_t want)
{
        size_t cap = s->cap ? s->cap : 1024;
        int64_t *v;

        if (want <= s->cap)
                return 0;
        while (cap < want)
                cap *= 2;
        v = realloc(s->v, cap * sizeof(*v));
        if (!v)
                return -ENOMEM;
        s->v = v;
        s->cap = cap;
        return 0;
}

int bench_samples_add(struct bench_samples *s, int64_t ns)
{
        int r = reserve(s, s->n + 1);

        if (r < 0)
                return r;
        s->v[s->n++] = ns;
        return 0;
}

int bench_samples_merge(struct bench_samples *dst, const struct bench_samples *src)
{
        int r = reserve(dst, dst->n + src->n);

        if (r < 0)
                return r;
        if (src->n)
                memcpy(dst->v + dst->n, src->v, src->n * sizeof(*src->v));
        dst->n += src->n;
        return 0;
}

void bench_samples_free(struct bench_samples *s)
{
        free(s->v);
        *s = (struct bench_samples){ 0 };
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return (x > y) - (x < y);
}

double bench_quantile_us(struct bench_samples *s, double q)
{
        size_t i;

        if (s->n == 0)
                return 0;
        qsort(s->v, s->n, sizeof(*s->v), cmp_i64);
        i = (size_t)(q * (double)(s->n - 1) + 0.5);
        if (i >= s->n)
                i = s->n - 1;
        return (double)s->v[i] / 1000.0;
}
