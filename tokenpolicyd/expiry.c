/* expiry.c: a binary min-heap of (expiry, session id).
 *
 * Never frees while in use and never grows past what push asked for; no
 * I/O, no clock. Ties go in no particular order.
 */
#include "expiry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void tp_expiry_init(struct tp_expiry_heap *h)
{
        h->entries = NULL;
        h->n = 0;
        h->cap = 0;
}

void tp_expiry_clear(struct tp_expiry_heap *h)
{
        if (!h)
                return;
        free(h->entries);
        tp_expiry_init(h);
}

static void swap(struct tp_expiry_entry *a, struct tp_expiry_entry *b)
{
        struct tp_expiry_entry t = *a;

        *a = *b;
        *b = t;
}

int tp_expiry_push(struct tp_expiry_heap *h, const char *id, int64_t expires)
{
        size_t i;

        if (strlen(id) >= TP_SESSION_ID_MAX)
                return -EINVAL;
        if (h->n == h->cap) {
                size_t cap = h->cap ? h->cap * 2 : 64;
                struct tp_expiry_entry *grown;

                if (cap > SIZE_MAX / sizeof(*grown))
                        return -ENOMEM;
                grown = realloc(h->entries, cap * sizeof(*grown));
                if (!grown)
                        return -ENOMEM;
                h->entries = grown;
                h->cap = cap;
        }
        i = h->n++;
        h->entries[i].expires = expires;
        strcpy(h->entries[i].id, id);
        while (i > 0) {
                size_t parent = (i - 1) / 2;

                if (h->entries[parent].expires <= h->entries[i].expires)
                        break;
                swap(&h->entries[parent], &h->entries[i]);
                i = parent;
        }
        return 0;
}

const struct tp_expiry_entry *tp_expiry_peek(const struct tp_expiry_heap *h)
{
        return h->n ? &h->entries[0] : NULL;
}

bool tp_expiry_pop(struct tp_expiry_heap *h, struct tp_expiry_entry *ret)
{
        size_t i = 0;

        if (h->n == 0)
                return false;
        *ret = h->entries[0];
        h->entries[0] = h->entries[--h->n];
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, min = i;

                if (l < h->n && h->entries[l].expires < h->entries[min].expires)
                        min = l;
                if (r < h->n && h->entries[r].expires < h->entries[min].expires)
                        min = r;
                if (min == i)
                        break;
                swap(&h->entries[i], &h->entries[min]);
                i = min;
        }
        return true;
}
