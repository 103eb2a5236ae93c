/* SPDX-License-Identifier: BSD-3-Clause */
/* store_wal.h: an SQLite VFS that writes the store's write-ahead log a
 * transaction at a time (store_wal.c). Used by store.c alone.
 */
#pragma once

#include <stdbool.h>

#define TP_STORE_WAL_VFS "tokenpolicy-wal"

/* Register the VFS (once; SQLite must be initialised) and return its name
 * for sqlite3_open_v2(), or NULL when the default VFS cannot carry it:
 * then the default is used as it is. */
const char *tp_store_wal_vfs(void);
