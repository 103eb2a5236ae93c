/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz_confedit.c: libFuzzer harness for the configuration editor
 * (shared/confedit.c), which reads libconfig text with its own scanner.
 *
 * Input: one byte n, then n bytes of key, one byte m, m bytes of value,
 * then the file's text. get, set and unset must answer within their
 * contract and read nothing outside the text (ASan). A set that succeeds
 * must give text in which the key now has the value (get finds it as
 * written), and its unset must find the key.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "confedit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct tp_confedit_error err;
        enum tp_confedit_kind kind;
        char key[256], value[256], *literal = NULL, *out = NULL, *got = NULL, *gone = NULL;
        size_t n, m, len, out_len, gone_len;
        const char *text;
        int r;

        if (size < 2)
                return 0;
        n = data[0];
        if (size < 2 + n)
                return 0;
        memcpy(key, data + 1, n);
        key[n] = '\0';
        m = data[1 + n];
        if (size < 2 + n + m)
                return 0;
        memcpy(value, data + 2 + n, m);
        value[m] = '\0';
        text = (const char *) data + 2 + n + m;
        len = size - 2 - n - m;
        if (memchr(key, '\0', n) || memchr(value, '\0', m))
                return 0;

        r = tp_confedit_get(text, len, key, &got, &kind, &err);
        if (r == 0)
                free(got);
        got = NULL;
        if (tp_confedit_literal(value, &literal, &err) < 0)
                return 0;
        r = tp_confedit_set(text, len, key, literal, &out, &out_len, &err);
        if (r == 0) {
                if (strlen(out) != out_len)
                        abort();
                r = tp_confedit_get(out, out_len, key, &got, &kind, &err);
                if (r != 0)
                        abort();
                if (kind == TP_CONFEDIT_SCALAR && strcmp(got, literal) != 0)
                        abort();
                free(got);
                if (tp_confedit_unset(out, out_len, key, &gone, &gone_len, &err) != 0)
                        abort();
                free(gone);
                free(out);
        } else if (r != -EINVAL && r != -ENOMEM) {
                abort();
        }
        free(literal);
        return 0;
}
