/* SPDX-License-Identifier: BSD-3-Clause */
/* test_expiry.c: the expiry schedule pops in time order, whatever the
 * order of scheduling, including ties and the growth boundary; holds one
 * entry per session however often it is scheduled; moves an entry only
 * earlier; and removes any entry, against a reference model. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expiry.h"

static void test_empty(void **state)
{
        struct tp_expiry_heap h;
        struct tp_expiry_entry e;

        (void)state;
        tp_expiry_init(&h);
        assert_null(tp_expiry_peek(&h));
        assert_false(tp_expiry_pop(&h, &e));
        tp_expiry_clear(&h);
        tp_expiry_clear(NULL);
}

static void test_pops_in_order(void **state)
{
        struct tp_expiry_heap h;
        struct tp_expiry_entry e;
        uint64_t x = 88172645463325252ull;
        int64_t last = INT64_MIN;
        char id[TP_SESSION_ID_MAX];

        (void)state;
        tp_expiry_init(&h);
        /* 1000 pushes crosses several growth steps (64, 128, ... 1024). */
        for (int i = 0; i < 1000; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                snprintf(id, sizeof(id), "%032d", i);
                assert_int_equal(tp_expiry_schedule(&h, id, (int64_t)(x % 500) - 250), 0);
        }
        assert_int_equal(h.n, 1000);
        for (int i = 0; i < 1000; i++) {
                const struct tp_expiry_entry *top = tp_expiry_peek(&h);

                assert_non_null(top);
                assert_true(tp_expiry_pop(&h, &e));
                assert_true(e.expires >= last);
                assert_int_equal(strlen(e.id), 32);
                last = e.expires;
        }
        assert_false(tp_expiry_pop(&h, &e));
        tp_expiry_clear(&h);
}

static void test_extremes_and_ids(void **state)
{
        struct tp_expiry_heap h;
        struct tp_expiry_entry e;
        char too_long[TP_SESSION_ID_MAX + 1];

        (void)state;
        tp_expiry_init(&h);
        memset(too_long, 'a', TP_SESSION_ID_MAX);
        too_long[TP_SESSION_ID_MAX] = '\0';
        assert_int_equal(tp_expiry_schedule(&h, too_long, 1), -EINVAL);
        too_long[TP_SESSION_ID_MAX - 1] = '\0'; /* 32 characters: fits */
        assert_int_equal(tp_expiry_schedule(&h, too_long, INT64_MAX), 0);
        assert_int_equal(tp_expiry_schedule(&h, "min", INT64_MIN), 0);
        assert_int_equal(tp_expiry_schedule(&h, "same", 5), 0);
        assert_int_equal(tp_expiry_schedule(&h, "same2", 5), 0);
        assert_true(tp_expiry_pop(&h, &e));
        assert_string_equal(e.id, "min");
        assert_true(tp_expiry_pop(&h, &e));
        assert_int_equal(e.expires, 5);
        assert_true(tp_expiry_pop(&h, &e));
        assert_int_equal(e.expires, 5);
        assert_true(tp_expiry_pop(&h, &e));
        assert_string_equal(e.id, too_long);
        tp_expiry_clear(&h);
}

/* The attack: a session refreshed again and again. One entry, whatever
 * the count, at the earliest time it was given. */
static void test_one_entry_per_session(void **state)
{
        struct tp_expiry_heap h;
        struct tp_expiry_entry e;
        int64_t when = 0;

        (void)state;
        tp_expiry_init(&h);
        assert_int_equal(tp_expiry_schedule(&h, "other", 5000000), 0);
        for (int64_t i = 0; i < 200000; i++)
                assert_int_equal(tp_expiry_schedule(&h, "refreshed", 1000 + i), 0);
        assert_int_equal(h.n, 2);
        assert_true(h.cap <= 64);
        assert_true(tp_expiry_find(&h, "refreshed", &when));
        assert_int_equal(when, 1000);   /* later times never move it later */
        assert_int_equal(tp_expiry_schedule(&h, "refreshed", 10), 0);
        assert_true(tp_expiry_find(&h, "refreshed", &when));
        assert_int_equal(when, 10);     /* an earlier one does */
        assert_int_equal(h.n, 2);
        assert_true(tp_expiry_pop(&h, &e));
        assert_string_equal(e.id, "refreshed");
        assert_int_equal(e.expires, 10);
        assert_false(tp_expiry_find(&h, "refreshed", NULL));
        /* Popped, it may be scheduled again (re-armed) at a later time. */
        assert_int_equal(tp_expiry_schedule(&h, "refreshed", 9000000), 0);
        assert_true(tp_expiry_pop(&h, &e));
        assert_string_equal(e.id, "other");
        assert_true(tp_expiry_pop(&h, &e));
        assert_string_equal(e.id, "refreshed");
        assert_int_equal(e.expires, 9000000);
        assert_false(tp_expiry_pop(&h, &e));
        tp_expiry_clear(&h);
}

static void test_remove(void **state)
{
        struct tp_expiry_heap h;
        struct tp_expiry_entry e;
        char id[TP_SESSION_ID_MAX];

        (void)state;
        tp_expiry_init(&h);
        assert_false(tp_expiry_remove(&h, "absent"));
        for (int i = 0; i < 100; i++) {
                snprintf(id, sizeof(id), "%032d", i);
                assert_int_equal(tp_expiry_schedule(&h, id, 100 - i), 0);
        }
        /* Every other one ends: the rest still pop in order. */
        for (int i = 0; i < 100; i += 2) {
                snprintf(id, sizeof(id), "%032d", i);
                assert_true(tp_expiry_remove(&h, id));
                assert_false(tp_expiry_remove(&h, id));
        }
        assert_int_equal(h.n, 50);
        for (int i = 99; i >= 1; i -= 2) {
                snprintf(id, sizeof(id), "%032d", i);
                assert_true(tp_expiry_pop(&h, &e));
                assert_string_equal(e.id, id);
        }
        assert_int_equal(h.n, 0);
        tp_expiry_clear(&h);
}

/* Heap order holds, and the index maps every id to its entry. */
static void check_invariants(const struct tp_expiry_heap *h)
{
        size_t used = 0;

        for (size_t i = 1; i < h->n; i++)
                assert_true(h->entries[(i - 1) / 2].expires <= h->entries[i].expires);
        for (size_t i = 0; i < h->n; i++) {
                assert_true(h->entries[i].slot < h->index_cap);
                assert_int_equal(h->index[h->entries[i].slot], i + 1);
        }
        for (size_t i = 0; i < h->index_cap; i++)
                used += h->index[i] != 0;
        assert_int_equal(used, h->n);
        assert_true(h->n == 0 || 2 * h->n <= h->index_cap);
}

#define MODEL_IDS 300

/* Random schedule / remove / pop against a plain array, checking the
 * invariants after every step (collisions and wrap-around of the index
 * included: 300 ids in a few hundred slots). */
static void test_against_a_model(void **state)
{
        struct tp_expiry_heap h;
        struct tp_expiry_entry e;
        int64_t model[MODEL_IDS];
        bool present[MODEL_IDS] = { false };
        uint64_t x = 0x9e3779b97f4a7c15ull;
        char id[TP_SESSION_ID_MAX];

        (void)state;
        tp_expiry_init(&h);
        for (int step = 0; step < 100000; step++) {
                unsigned op, k;
                int64_t t;

                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                op = (unsigned)(x % 10);
                k = (unsigned)((x >> 8) % MODEL_IDS);
                t = (int64_t)((x >> 20) % 1000);
                snprintf(id, sizeof(id), "%08x%024u", k * 2654435761u, k);
                if (op < 6) {
                        assert_int_equal(tp_expiry_schedule(&h, id, t), 0);
                        if (!present[k] || t < model[k])
                                model[k] = t;
                        present[k] = true;
                } else if (op < 8) {
                        assert_int_equal(tp_expiry_remove(&h, id), present[k]);
                        present[k] = false;
                } else if (h.n > 0) {
                        int64_t least = INT64_MAX;
                        unsigned got;

                        for (unsigned i = 0; i < MODEL_IDS; i++)
                                if (present[i] && model[i] < least)
                                        least = model[i];
                        assert_true(tp_expiry_pop(&h, &e));
                        assert_int_equal(e.expires, least);
                        got = (unsigned)strtoul(e.id + 8, NULL, 10);
                        assert_true(got < MODEL_IDS && present[got]);
                        assert_int_equal(model[got], e.expires);
                        present[got] = false;
                }
                if (step % 97 == 0 || op >= 6)
                        check_invariants(&h);
        }
        for (unsigned i = 0; i < MODEL_IDS; i++) {
                int64_t when;

                snprintf(id, sizeof(id), "%08x%024u", i * 2654435761u, i);
                assert_int_equal(tp_expiry_find(&h, id, &when), present[i]);
                if (present[i])
                        assert_int_equal(when, model[i]);
        }
        tp_expiry_clear(&h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_pops_in_order),
                cmocka_unit_test(test_extremes_and_ids),
                cmocka_unit_test(test_one_entry_per_session),
                cmocka_unit_test(test_remove),
                cmocka_unit_test(test_against_a_model),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
