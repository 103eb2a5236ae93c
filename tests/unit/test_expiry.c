/* test_expiry.c: the expiry schedule pops in time order, whatever the
 * order of pushes, including ties and the growth boundary. */
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
                assert_int_equal(tp_expiry_push(&h, id, (int64_t)(x % 500) - 250), 0);
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
        assert_int_equal(tp_expiry_push(&h, too_long, 1), -EINVAL);
        too_long[TP_SESSION_ID_MAX - 1] = '\0'; /* 32 characters: fits */
        assert_int_equal(tp_expiry_push(&h, too_long, INT64_MAX), 0);
        assert_int_equal(tp_expiry_push(&h, "min", INT64_MIN), 0);
        assert_int_equal(tp_expiry_push(&h, "same", 5), 0);
        assert_int_equal(tp_expiry_push(&h, "same2", 5), 0);
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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_pops_in_order),
                cmocka_unit_test(test_extremes_and_ids),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
