/* SPDX-License-Identifier: BSD-3-Clause */
/* test_strtable.c: the string-table helpers (common/strtable.h).
 *
 * A table of the same shape as the protocol's (a hole for a retired
 * number) through the generated functions, at every edge: the first and
 * last value, one past the last, far past it, the hole, a string that is
 * no name (unknown, empty, a prefix, a different case, one a character
 * longer), and NULL. The public, private and "unknown" forms of the
 * macros all come from the same table.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "strtable.h"

enum fruit {
        FRUIT_APPLE = 0,
        FRUIT_PEAR = 1,
        /* 2: retired */
        FRUIT_PLUM = 3,
        FRUIT_MAX_ = 3,
};

static const char *const fruit_table[FRUIT_MAX_ + 1] = {
        [FRUIT_APPLE] = "apple",
        [FRUIT_PEAR] = "pear",
        [FRUIT_PLUM] = "plum",
};

/* Public linkage needs a prototype under -Wmissing-prototypes, as a
 * header would give it. */
const char *fruit_to_string(unsigned v);
int fruit_from_string(const char *s);
const char *fruit_name(unsigned v);
TP_DEFINE_STRING_TABLE_LOOKUP(fruit)
TP_DEFINE_STRING_TABLE_NAME(fruit)

/* Same names, file scope, only one of the two functions used. */
static const char *const veg_table[] = { "leek", "kale" };
TP_DEFINE_PRIVATE_STRING_TABLE_LOOKUP(veg)

static void test_to_string_edges(void **state)
{
        (void) state;
        assert_string_equal(fruit_to_string(FRUIT_APPLE), "apple");  /* first */
        assert_string_equal(fruit_to_string(FRUIT_PEAR), "pear");
        assert_null(fruit_to_string(2));                               /* the hole */
        assert_string_equal(fruit_to_string(FRUIT_PLUM), "plum");    /* last */
        assert_null(fruit_to_string(FRUIT_MAX_ + 1));                  /* one past last */
        assert_null(fruit_to_string(UINT_MAX));
        /* A negative enum value converts to a huge unsigned one. */
        assert_null(fruit_to_string((unsigned) -1));
}

static void test_from_string_edges(void **state)
{
        (void) state;
        assert_int_equal(fruit_from_string("apple"), FRUIT_APPLE);
        assert_int_equal(fruit_from_string("pear"), FRUIT_PEAR);
        assert_int_equal(fruit_from_string("plum"), FRUIT_PLUM);
        assert_int_equal(fruit_from_string("cherry"), -EINVAL);
        assert_int_equal(fruit_from_string(""), -EINVAL);
        assert_int_equal(fruit_from_string("appl"), -EINVAL);
        assert_int_equal(fruit_from_string("apples"), -EINVAL);
        assert_int_equal(fruit_from_string("Apple"), -EINVAL);
        assert_int_equal(fruit_from_string("unknown"), -EINVAL);
        assert_int_equal(fruit_from_string(NULL), -EINVAL);
}

/* Every value with a name comes back from it, and nothing else does. */
static void test_round_trip(void **state)
{
        (void) state;
        for (unsigned v = 0; v <= FRUIT_MAX_ + 1; v++) {
                const char *s = fruit_to_string(v);

                if (s)
                        assert_int_equal(fruit_from_string(s), (int) v);
                else
                        assert_true(v == 2 || v > FRUIT_MAX_);
        }
}

static void test_name_says_unknown(void **state)
{
        (void) state;
        assert_string_equal(fruit_name(FRUIT_APPLE), "apple");
        assert_string_equal(fruit_name(FRUIT_PLUM), "plum");
        assert_string_equal(fruit_name(2), "unknown");
        assert_string_equal(fruit_name(FRUIT_MAX_ + 1), "unknown");
}

static void test_private_table(void **state)
{
        (void) state;
        assert_int_equal(veg_from_string("leek"), 0);
        assert_int_equal(veg_from_string("kale"), 1);     /* last */
        assert_int_equal(veg_from_string("apple"), -EINVAL);
        assert_int_equal(veg_from_string(NULL), -EINVAL);
        assert_int_equal((int) TP_ELEMENTSOF(veg_table), 2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_to_string_edges),
                cmocka_unit_test(test_from_string_edges),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_name_says_unknown),
                cmocka_unit_test(test_private_table),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
