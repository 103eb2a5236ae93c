/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz_svcmap.c: libFuzzer harness for the service map parser
 * (common/svcmap.c), the text the PAM module reads before it asks the
 * daemon anything.
 *
 * Input: one byte n, then n bytes of service name, then the map text.
 * The parser must answer within its contract and read nothing outside
 * the text (ASan); what it accepts must be a complete map: cut short by a
 * byte, or with a byte added, it is refused; its answer must agree with
 * the text (a MAPPED service appears in it, UNMAPPED needs "deny").
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "svcmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char text_buf[TP_SVCMAP_SIZE_MAX + 2];

static bool client_ok(const char *c)
{
        size_t n = strlen(c);

        if (n == 0 || n >= TP_CLIENT_MAX || strcmp(c, "deny") == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '0' && c[i] <= '9') || c[i] == '_' ||
                      c[i] == '-'))
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char service[256], client[TP_CLIENT_MAX], again[TP_CLIENT_MAX];
        const char *text;
        size_t n, len;
        int r, r2;

        if (size < 1)
                return 0;
        n = data[0];
        if (size < 1 + n)
                return 0;
        memcpy(service, data + 1, n);
        service[n] = '\0';
        text = (const char *) data + 1 + n;
        len = size - 1 - n;

        memset(client, 0x55, sizeof(client));
        r = tp_svcmap_lookup(text, len, service, client);
        if (strlen(service) == 0) {
                if (r != -EINVAL)
                        abort();
                return 0;
        }
        if (r == -EBADMSG)
                return 0;
        if (r != TP_SVCMAP_MAPPED && r != TP_SVCMAP_DEFAULT && r != TP_SVCMAP_UNMAPPED)
                abort();
        if (memchr(client, '\0', sizeof(client)) == NULL)
                abort();
        if (r == TP_SVCMAP_UNMAPPED ? client[0] != '\0' : !client_ok(client))
                abort();
        if (r == TP_SVCMAP_MAPPED && !memmem(text, len, service, strlen(service)))
                abort();
        if (r == TP_SVCMAP_UNMAPPED && !memmem(text, len, "\nunknown_client deny\n", 21))
                abort();
        if (len > TP_SVCMAP_SIZE_MAX || len < 2 || text[len - 1] != '\n')
                abort();

        /* The same answer twice: no hidden state. */
        r2 = tp_svcmap_lookup(text, len, service, again);
        if (r2 != r || strcmp(again, client) != 0)
                abort();
        /* Complete, and nothing after its end. */
        if (tp_svcmap_lookup(text, len - 1, service, again) != -EBADMSG)
                abort();
        if (tp_svcmap_lookup(text, len / 2, service, again) != -EBADMSG)
                abort();
        if (len < TP_SVCMAP_SIZE_MAX) {
                memcpy(text_buf, text, len);
                text_buf[len] = 'x';
                if (tp_svcmap_lookup(text_buf, len + 1, service, again) != -EBADMSG)
                        abort();
        }
        return 0;
}
