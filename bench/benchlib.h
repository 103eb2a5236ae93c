/* SPDX-License-Identifier: BSD-3-Clause */
/* benchlib.h: timing and statistics shared by the benchmark programs. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Nanoseconds on CLOCK_MONOTONIC. */
int64_t bench_now_ns(void);

/* A growable array of latency samples in nanoseconds. */
struct bench_samples {
        int64_t *v;
        size_t n, cap;
};

int bench_samples_add(struct bench_samples *s, int64_t ns);
/* Append all of src to dst. */
int bench_samples_merge(struct bench_samples *dst, const struct bench_samples *src);
void bench_samples_free(struct bench_samples *s);
/* Sorts the samples; q in [0, 1]; returns microseconds (0 when empty). */
double bench_quantile_us(struct bench_samples *s, double q);
