/* SPDX-License-Identifier: BSD-3-Clause */
/* expiry.h: the schedule of refresh-token expiries, a binary min-heap with
 * at most one entry per session.
 *
 * Costs nothing per idle session: the event loop looks only at the
 * earliest entry. An index from session id to heap position keeps one
 * entry per session, so the schedule never holds more entries than there
 * are sessions in it, however often a session is extended: scheduling a
 * session again moves its entry earlier, never later (a later expiry is
 * taken up when the entry comes due and the caller finds the session
 * extended; the store is the truth), and a session that ended can be
 * removed. Pure data structure: no I/O, no clock, no logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct tp_expiry_entry {
        int64_t expires;                 /* wall-clock seconds */
        uint32_t slot;                   /* internal: its place in the index */
        char id[TP_SESSION_ID_MAX];
};

struct tp_expiry_heap {
        struct tp_expiry_entry *entries; /* the heap, earliest first */
        size_t n, cap;
        uint32_t *index;                 /* open addressing: heap position + 1, 0 empty */
        size_t index_cap;                /* a power of two, 0 or at least 2 * n */
};

void tp_expiry_init(struct tp_expiry_heap *h);
void tp_expiry_clear(struct tp_expiry_heap *h);

/* Schedule session id at `expires`: a new entry, or the session's entry
 * moved to `expires` when that is earlier; an entry already due earlier
 * is kept. -ENOMEM, or -EINVAL for an id that does not fit. */
int tp_expiry_schedule(struct tp_expiry_heap *h, const char *id, int64_t expires);

/* Remove the session's entry; false when it has none. */
bool tp_expiry_remove(struct tp_expiry_heap *h, const char *id);

/* The session's scheduled expiry; false when it has no entry. */
bool tp_expiry_find(const struct tp_expiry_heap *h, const char *id, int64_t *ret_expires);

/* The earliest entry, or NULL when empty. */
const struct tp_expiry_entry *tp_expiry_peek(const struct tp_expiry_heap *h);

/* Remove the earliest entry into *ret; false when empty. */
bool tp_expiry_pop(struct tp_expiry_heap *h, struct tp_expiry_entry *ret);
