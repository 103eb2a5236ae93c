/* SPDX-License-Identifier: BSD-3-Clause */
/* expiry.c: a binary min-heap of (expiry, session id), one entry per id.
 *
 * The heap lives in one array; an open-addressing index (linear probing,
 * at most half full) maps each id to its position, and each entry knows
 * its index slot, so every move in the heap updates the index in O(1).
 * Never frees while in use; grows by doubling, so memory is bounded by
 * the most sessions it ever held at once. No I/O, no clock. Ties go in no
 * particular order.
 */
#include "expiry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_MIN 64

void tp_expiry_init(struct tp_expiry_heap *h)
{
        h->entries = NULL;
        h->n = 0;
        h->cap = 0;
        h->index = NULL;
        h->index_cap = 0;
}

void tp_expiry_clear(struct tp_expiry_heap *h)
{
        if (!h)
                return;
        free(h->entries);
        free(h->index);
        tp_expiry_init(h);
}

/* FNV-1a: ids are short, and their last 80 bits are random. */
static uint64_t id_hash(const char *id)
{
        uint64_t x = 0xcbf29ce484222325ull;

        for (; *id; id++) {
                x ^= (unsigned char)*id;
                x *= 0x100000001b3ull;
        }
        return x;
}

/* The slot that holds id, or the empty slot where it would go. */
static size_t index_probe(const struct tp_expiry_heap *h, const char *id)
{
        size_t mask = h->index_cap - 1, i = (size_t)id_hash(id) & mask;

        while (h->index[i] != 0 && strcmp(h->entries[h->index[i] - 1].id, id) != 0)
                i = (i + 1) & mask;
        return i;
}

/* Put entry e at heap position pos and point its index slot there. */
static void place(struct tp_expiry_heap *h, size_t pos, const struct tp_expiry_entry *e)
{
        h->entries[pos] = *e;
        h->index[e->slot] = (uint32_t)(pos + 1);
}

static void sift_up(struct tp_expiry_heap *h, size_t i)
{
        struct tp_expiry_entry e = h->entries[i];

        while (i > 0) {
                size_t parent = (i - 1) / 2;

                if (h->entries[parent].expires <= e.expires)
                        break;
                place(h, i, &h->entries[parent]);
                i = parent;
        }
        place(h, i, &e);
}

static void sift_down(struct tp_expiry_heap *h, size_t i)
{
        struct tp_expiry_entry e = h->entries[i];

        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, min = i;
                int64_t least = e.expires;

                if (l < h->n && h->entries[l].expires < least) {
                        min = l;
                        least = h->entries[l].expires;
                }
                if (r < h->n && h->entries[r].expires < least)
                        min = r;
                if (min == i)
                        break;
                place(h, i, &h->entries[min]);
                i = min;
        }
        place(h, i, &e);
}

/* Rebuild the index at twice the size. */
static int index_grow(struct tp_expiry_heap *h)
{
        size_t cap = h->index_cap ? h->index_cap * 2 : INDEX_MIN;
        uint32_t *index;

        if (cap > (size_t)UINT32_MAX || cap > SIZE_MAX / sizeof(*index))
                return -ENOMEM;
        index = calloc(cap, sizeof(*index));
        if (!index)
                return -ENOMEM;
        free(h->index);
        h->index = index;
        h->index_cap = cap;
        for (size_t pos = 0; pos < h->n; pos++) {
                size_t slot = index_probe(h, h->entries[pos].id);

                h->entries[pos].slot = (uint32_t)slot;
                h->index[slot] = (uint32_t)(pos + 1);
        }
        return 0;
}

static int entries_grow(struct tp_expiry_heap *h)
{
        size_t cap = h->cap ? h->cap * 2 : INDEX_MIN / 2;
        struct tp_expiry_entry *grown;

        if (cap >= (size_t)UINT32_MAX || cap > SIZE_MAX / sizeof(*grown))
                return -ENOMEM;
        grown = realloc(h->entries, cap * sizeof(*grown));
        if (!grown)
                return -ENOMEM;
        h->entries = grown;
        h->cap = cap;
        return 0;
}

int tp_expiry_schedule(struct tp_expiry_heap *h, const char *id, int64_t expires)
{
        struct tp_expiry_entry e;
        size_t slot;
        int r;

        if (strlen(id) >= TP_SESSION_ID_MAX)
                return -EINVAL;
        if (h->index_cap) {
                slot = index_probe(h, id);
                if (h->index[slot] != 0) {
                        size_t pos = h->index[slot] - 1;

                        if (expires < h->entries[pos].expires) {
                                h->entries[pos].expires = expires;
                                sift_up(h, pos);
                        }
                        return 0;
                }
        }
        if (h->n == h->cap && (r = entries_grow(h)) < 0)
                return r;
        if (2 * (h->n + 1) > h->index_cap && (r = index_grow(h)) < 0)
                return r;
        memset(&e, 0, sizeof(e));
        e.expires = expires;
        strcpy(e.id, id);
        e.slot = (uint32_t)index_probe(h, id);
        place(h, h->n++, &e);
        sift_up(h, h->n - 1);
        return 0;
}

/* Empty index slot i, then move later entries of its probe run back so
 * that no lookup stops early at the hole (backward-shift deletion). */
static void index_delete(struct tp_expiry_heap *h, size_t i)
{
        size_t mask = h->index_cap - 1, j = i;

        h->index[i] = 0;
        for (;;) {
                size_t home;

                j = (j + 1) & mask;
                if (h->index[j] == 0)
                        return;
                home = (size_t)id_hash(h->entries[h->index[j] - 1].id) & mask;
                /* Entry at j may fill hole i unless its home lies
                 * cyclically in (i, j]. */
                if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
                        continue;
                h->index[i] = h->index[j];
                h->entries[h->index[i] - 1].slot = (uint32_t)i;
                h->index[j] = 0;
                i = j;
        }
}

static void remove_at(struct tp_expiry_heap *h, size_t pos)
{
        index_delete(h, h->entries[pos].slot);
        if (pos == --h->n)
                return;
        place(h, pos, &h->entries[h->n]);
        if (pos > 0 && h->entries[(pos - 1) / 2].expires > h->entries[pos].expires)
                sift_up(h, pos);
        else
                sift_down(h, pos);
}

bool tp_expiry_remove(struct tp_expiry_heap *h, const char *id)
{
        size_t slot;

        if (h->n == 0 || strlen(id) >= TP_SESSION_ID_MAX)
                return false;
        slot = index_probe(h, id);
        if (h->index[slot] == 0)
                return false;
        remove_at(h, h->index[slot] - 1);
        return true;
}

bool tp_expiry_find(const struct tp_expiry_heap *h, const char *id, int64_t *ret_expires)
{
        size_t slot;

        if (h->n == 0 || strlen(id) >= TP_SESSION_ID_MAX)
                return false;
        slot = index_probe(h, id);
        if (h->index[slot] == 0)
                return false;
        if (ret_expires)
                *ret_expires = h->entries[h->index[slot] - 1].expires;
        return true;
}

const struct tp_expiry_entry *tp_expiry_peek(const struct tp_expiry_heap *h)
{
        return h->n ? &h->entries[0] : NULL;
}

bool tp_expiry_pop(struct tp_expiry_heap *h, struct tp_expiry_entry *ret)
{
        if (h->n == 0)
                return false;
        *ret = h->entries[0];
        remove_at(h, 0);
        return true;
}
