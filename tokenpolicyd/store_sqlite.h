/* SPDX-License-Identifier: BSD-3-Clause */
/* store_sqlite.h: the SQLite backend of the session store (store.c).
 *
 * Opening it, and what only SQLite has: the schema version of its file
 * and the query plans of its statements. Everything else goes through the
 * backend-neutral interface in store.h. Only the composition root
 * (main.c) and the store's own tests include this.
 */
#pragma once

#include <stddef.h>

#include "store.h"

#define TP_STORE_SCHEMA_VERSION 6

/* Open or create the store at path (file mode 0600), apply the schema,
 * enable WAL. -EPROTO when the file's schema version is newer than ours.
 * A new store is built under another name and linked into place whole, so
 * an empty file at path was never a store of ours that had just begun: it
 * is refused with -ENODATA (what it held is lost) rather than taken for a
 * fresh store. */
int tp_store_open(const char *path, struct tp_store **ret);

enum tp_store_plan {
        TP_STORE_PLAN_LIST_USER,        /* a user's active sessions */
        TP_STORE_PLAN_LIST_USER_ALL,    /* ... with their history */
        TP_STORE_PLAN_LIST_EVERYONE,    /* every active session */
        TP_STORE_PLAN_LIST_EVERYONE_ALL,
        TP_STORE_PLAN_LIST_ACTIVE,      /* the sign-in's listing, at the cap */
        TP_STORE_PLAN_PURGE,
        TP_STORE_PLAN_OTHER_BOOT,
        TP_STORE_PLAN_CAP_ROOM,         /* the sign-in's count, under the cap */
        TP_STORE_PLAN_MAX_ = TP_STORE_PLAN_CAP_ROOM,
};

/* SQLite's plan for one statement (EXPLAIN QUERY PLAN, its lines joined
 * with "; "), so tests can prove an index serves it without a sort.
 * -EOPNOTSUPP for a store of another backend. */
int tp_store_explain(struct tp_store *s, enum tp_store_plan which, char *out, size_t outsz);
