/* SPDX-License-Identifier: BSD-3-Clause */
/* test_wipe.c: unit tests for the one wipe of secrets (common/wipe.c).
 *
 * tp_secret_wipe() zeroes exactly the bytes it is given, takes NULL, and is
 * not removed as a dead store: a buffer wiped right before its storage is
 * released (the case where a plain memset disappears) reads as zero
 * through a pointer the compiler cannot follow. Must never print outside
 * cmocka.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <string.h>

#include "wipe.h"

static void test_secret_wipe(void **state)
{
        char buf[32];
        static const char zero[32];

        (void)state;
        memset(buf, 'x', sizeof(buf));
        tp_secret_wipe(buf, sizeof(buf));
        assert_memory_equal(buf, zero, sizeof(buf));
        tp_secret_wipe(NULL, 10);
}

/* Only the n bytes given are wiped: the ones on either side stay. */
static void test_secret_wipe_bounds(void **state)
{
        char buf[34];
        static const char zero[32];

        (void)state;
        memset(buf, 'x', sizeof(buf));
        tp_secret_wipe(buf + 1, 32);
        assert_int_equal(buf[0], 'x');
        assert_memory_equal(buf + 1, zero, sizeof(zero));
        assert_int_equal(buf[33], 'x');
        tp_secret_wipe(buf, 0);
        assert_int_equal(buf[0], 'x');
}

/* The stack frame that held a secret, wiped as its function returns: a
 * plain memset there is a dead store a compiler may drop. The frame's
 * bytes are looked at afterwards through a volatile pointer taken while it
 * was live (the callee is never inlined, so its frame is real). */
static volatile unsigned char *volatile seen;

__attribute__((noinline)) static void hold_secret_and_wipe(void)
{
        unsigned char secret[64];

        memset(secret, 0xa5, sizeof(secret));
        seen = secret;
        __asm__ volatile("" : : "r"(secret) : "memory");
        tp_secret_wipe(secret, sizeof(secret));
}

static void test_secret_wipe_not_a_dead_store(void **state)
{
        size_t i, nonzero = 0;

        (void)state;
        hold_secret_and_wipe();
        for (i = 0; i < 64; i++)
                if (seen[i] == 0xa5)
                        nonzero++;
        assert_int_equal(nonzero, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_secret_wipe),
                cmocka_unit_test(test_secret_wipe_bounds),
                cmocka_unit_test(test_secret_wipe_not_a_dead_store),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
