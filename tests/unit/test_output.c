/* SPDX-License-Identifier: BSD-3-Clause */
/* test_output.c: what tokenpolicyctl prints (tokenpolicyctl/output.c).
 *
 * Text from the daemon in a table and in JSON: every character that
 * could drive the terminal or reorder, hide or break the text around it
 * (C0 and C1 controls, bidirectional overrides and isolates, U+2028 and
 * U+2029, invisible format characters, tags) and every byte that is not
 * UTF-8 comes out as an escape; ordinary text, UTF-8 included, as it is;
 * columns stay aligned on what is shown. Output goes to memory streams.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl.h"

/* output.c reports a failed write through the CLI's error printer. */
void ctl_error(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
}

struct sample {
        const char *in;
        const char *table; /* as a table cell */
        const char *json;  /* as a JSON string literal */
};

static const struct sample samples[] = {
        { "alice", "alice", "\"alice\"" },
        { "\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", "\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac",
          "\"\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\"" },
        { "a\x1b[31mb", "a\\u001b[31mb", "\"a\\u001b[31mb\"" },
        { "tab\there\nnl\r", "tab\\u0009here\\u000anl\\u000d", "\"tab\\u0009here\\u000anl\\u000d\"" },
        { "del\x7f", "del\\u007f", "\"del\\u007f\"" },
        { "c1\xc2\x85\xc2\x9b", "c1\\u0085\\u009b", "\"c1\\u0085\\u009b\"" },
        /* Right-to-left override: "evil" shown as "live". */
        { "x\xe2\x80\xae" "evil", "x\\u202eevil", "\"x\\u202eevil\"" },
        { "\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", "\\u202a\\u202b\\u202c\\u202d",
          "\"\\u202a\\u202b\\u202c\\u202d\"" },
        { "iso\xe2\x81\xa6x\xe2\x81\xa9", "iso\\u2066x\\u2069", "\"iso\\u2066x\\u2069\"" },
        { "ls\xe2\x80\xa8ps\xe2\x80\xa9", "ls\\u2028ps\\u2029", "\"ls\\u2028ps\\u2029\"" },
        { "\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", "\\u200e\\u200f\\u061c", "\"\\u200e\\u200f\\u061c\"" },
        { "z\xe2\x80\x8bw\xef\xbb\xbf", "z\\u200bw\\ufeff", "\"z\\u200bw\\ufeff\"" },
        { "soft\xc2\xadhyphen", "soft\\u00adhyphen", "\"soft\\u00adhyphen\"" },
        /* A tag character, past the BMP: a surrogate pair in JSON. */
        { "t\xf3\xa0\x80\x81", "t\\U000e0001", "\"t\\udb40\\udc01\"" },
        /* Not UTF-8: a stray byte, an overlong slash, a surrogate, a cut
         * sequence. */
        { "bad\xff", "bad\\xff", "\"bad\\ufffd\"" },
        { "\xc0\xaf", "\\xc0\\xaf", "\"\\ufffd\\ufffd\"" },
        { "\xed\xa0\x80", "\\xed\\xa0\\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
        { "cut\xe2\x80", "cut\\xe2\\x80", "\"cut\\ufffd\\ufffd\"" },
        /* A backslash is escaped in a table, so "\u202e" typed as text
         * cannot pass for an escape. */
        { "DOM\\u202e", "DOM\\\\u202e", "\"DOM\\\\u202e\"" },
        { "q\"uote", "q\"uote", "\"q\\\"uote\"" },
        /* Outside the escaped set: shown as they are. */
        { "\xe2\x80\x90\xe2\x82\xac\xf0\x9f\x94\x91", "\xe2\x80\x90\xe2\x82\xac\xf0\x9f\x94\x91",
          "\"\xe2\x80\x90\xe2\x82\xac\xf0\x9f\x94\x91\"" },
};

static char *table_of(const char *const *cells, size_t n_cells, size_t n_columns)
{
        struct ctl_table *t = NULL;
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        assert_int_equal(ctl_table_new(n_columns, 2, &t), 0);
        for (size_t i = 0; i < n_cells; i++)
                assert_int_equal(ctl_table_add(t, cells[i]), 0);
        f = open_memstream(&buf, &len);
        assert_non_null(f);
        assert_int_equal(ctl_table_print(t, f), 0);
        fclose(f);
        ctl_table_free(t);
        return buf;
}

static void test_table_escapes(void **state)
{
        (void) state;
        for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
                const char *cells[] = { samples[i].in };
                char *out = table_of(cells, 1, 1), *want = NULL;

                assert_true(asprintf(&want, "%s\n", samples[i].table) > 0);
                if (strcmp(out, want) != 0)
                        fail_msg("sample %zu: table cell '%s', expected '%s'", i, out, samples[i].table);
                free(want);
                free(out);
        }
}

static void test_json_escapes(void **state)
{
        (void) state;
        for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
                char *out = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&out, &len);

                assert_non_null(f);
                ctl_json_string(f, samples[i].in);
                fclose(f);
                if (strcmp(out, samples[i].json) != 0)
                        fail_msg("sample %zu: JSON %s, expected %s", i, out, samples[i].json);
                free(out);
        }
}

/* Columns line up on what is shown: an escape is as wide as its text. */
static void test_table_alignment_counts_escapes(void **state)
{
        const char *cells[] = { "x\xe2\x80\xae", "end", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                                "end" };
        char *out;

        (void) state;
        out = table_of(cells, 4, 2);
        assert_string_equal(out, "x\\u202e  end\n"
                                 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9  end\n");
        free(out);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table_escapes),
                cmocka_unit_test(test_json_escapes),
                cmocka_unit_test(test_table_alignment_counts_escapes),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
