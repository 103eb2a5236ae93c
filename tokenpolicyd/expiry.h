/* expiry.h: the schedule of refresh-token expiries, a binary min-heap.
 *
 * Costs nothing per idle session: the event loop looks only at the
 * earliest entry. Entries are never removed out of order; a session that
 * was extended or ended leaves a stale entry behind, which the caller
 * recognises when it pops (the store is the truth) and drops. Pure data
 * structure: no I/O, no clock, no logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct tp_expiry_entry {
        int64_t expires;                 /* wall-clock seconds */
        char id[TP_SESSION_ID_MAX];
};

struct tp_expiry_heap {
        struct tp_expiry_entry *entries;
        size_t n, cap;
};

void tp_expiry_init(struct tp_expiry_heap *h);
void tp_expiry_clear(struct tp_expiry_heap *h);

/* -ENOMEM, or -EINVAL for an id that does not fit. */
int tp_expiry_push(struct tp_expiry_heap *h, const char *id, int64_t expires);

/* The earliest entry, or NULL when empty. */
const struct tp_expiry_entry *tp_expiry_peek(const struct tp_expiry_heap *h);

/* Remove the earliest entry into *ret; false when empty. */
bool tp_expiry_pop(struct tp_expiry_heap *h, struct tp_expiry_entry *ret);
