/* SPDX-License-Identifier: BSD-3-Clause */
/* store_wal.c: the store's write-ahead log written a transaction at a time.
 *
 * SQLite writes each WAL frame as two calls, its 24-byte header and then
 * its page, so a sign-in that changes seven pages costs fourteen writes,
 * each unaligned to the kernel's pages. This VFS passes everything to the
 * system's default one except the writes to a WAL file, which it gathers
 * while they follow one another and writes as one when the frame that
 * commits a transaction arrives (its header carries the database size,
 * nonzero only in a commit frame), before SQLite goes on to publish the
 * new frames in the shared WAL index: so no reader, in this process or
 * another, can look for a frame that is not yet in the file, and a crash
 * of the daemon loses only an uncommitted transaction, as before. Any
 * other operation on the file (a read, a sync, a size, a truncation, a
 * lock, closing) first writes what is gathered.
 */
#include "store_wal.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define WAL_FRAME_HEADER 24
/* Beyond this, what is gathered is written without waiting for a commit
 * (a transaction that changes more than 256 pages of 4 KiB). */
#define GATHER_MAX (1u << 20)

struct wal_file {
        sqlite3_file base;      /* methods: ours */
        sqlite3_file *real;     /* the default VFS's file, right after this struct */
        bool is_wal;
        bool commit_next;       /* the header of a commit frame was the last write */
        unsigned char *buf;     /* gathered writes, contiguous from off */
        size_t len, cap;
        sqlite3_int64 off;
};

static sqlite3_vfs *base_vfs;

/* The default VFS writes at most 128 KiB - 1 bytes in one call. */
#define WRITE_MAX (64u * 1024)

static int flush(struct wal_file *f)
{
        int rc = SQLITE_OK;

        for (size_t done = 0; done < f->len && rc == SQLITE_OK;) {
                size_t n = f->len - done < WRITE_MAX ? f->len - done : WRITE_MAX;

                rc = f->real->pMethods->xWrite(f->real, f->buf + done, (int) n, f->off + (sqlite3_int64) done);
                done += n;
        }
        f->len = 0;
        return rc;
}

static int wal_close(sqlite3_file *file)
{
        struct wal_file *f = (struct wal_file *) file;
        int rc = flush(f), rc2;

        rc2 = f->real->pMethods->xClose(f->real);
        free(f->buf);
        f->buf = NULL;
        f->cap = 0;
        return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *file, void *p, int amt, sqlite3_int64 off)
{
        struct wal_file *f = (struct wal_file *) file;
        int rc = flush(f);

        return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, p, amt, off);
}

static int gather(struct wal_file *f, const void *p, size_t amt, sqlite3_int64 off)
{
        int rc;

        if (f->len > 0 && (off != f->off + (sqlite3_int64) f->len || f->len + amt > GATHER_MAX) &&
            (rc = flush(f)) != SQLITE_OK)
                return rc;
        if (f->len + amt > f->cap) {
                size_t cap = f->cap ? f->cap : 64 * 1024;
                unsigned char *more;

                while (cap < f->len + amt)
                        cap *= 2;
                if (!(more = realloc(f->buf, cap))) /* write it as it comes */
                        return (rc = flush(f)) != SQLITE_OK ? rc : f->real->pMethods->xWrite(f->real, p, (int) amt, off);
                f->buf = more;
                f->cap = cap;
        }
        if (f->len == 0)
                f->off = off;
        memcpy(f->buf + f->len, p, amt);
        f->len += amt;
        return SQLITE_OK;
}

static int wal_write(sqlite3_file *file, const void *p, int amt, sqlite3_int64 off)
{
        struct wal_file *f = (struct wal_file *) file;
        const unsigned char *b = p;
        bool commit_frame = f->commit_next;
        int rc;

        if (!f->is_wal || amt <= 0)
                return f->real->pMethods->xWrite(f->real, p, amt, off);
        f->commit_next = amt == WAL_FRAME_HEADER && (b[4] | b[5] | b[6] | b[7]) != 0;
        if ((rc = gather(f, p, (size_t) amt, off)) != SQLITE_OK)
                return rc;
        return commit_frame ? flush(f) : SQLITE_OK;
}

static int wal_truncate(sqlite3_file *file, sqlite3_int64 size)
{
        struct wal_file *f = (struct wal_file *) file;
        int rc = flush(f);

        return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wal_sync(sqlite3_file *file, int flags)
{
        struct wal_file *f = (struct wal_file *) file;
        int rc = flush(f);

        return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wal_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
        struct wal_file *f = (struct wal_file *) file;
        int rc = flush(f);

        return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wal_lock(sqlite3_file *file, int level)
{
        struct wal_file *f = (struct wal_file *) file;
        int rc = flush(f);

        return rc != SQLITE_OK ? rc : f->real->pMethods->xLock(f->real, level);
}

static int wal_unlock(sqlite3_file *file, int level)
{
        struct wal_file *f = (struct wal_file *) file;
        int rc = flush(f);

        return rc != SQLITE_OK ? rc : f->real->pMethods->xUnlock(f->real, level);
}

static int wal_check_reserved(sqlite3_file *file, int *out)
{
        struct wal_file *f = (struct wal_file *) file;

        return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int wal_file_control(sqlite3_file *file, int op, void *arg)
{
        struct wal_file *f = (struct wal_file *) file;
        int rc = flush(f);

        return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wal_sector_size(sqlite3_file *file)
{
        struct wal_file *f = (struct wal_file *) file;

        return f->real->pMethods->xSectorSize(f->real);
}

static int wal_device_characteristics(sqlite3_file *file)
{
        struct wal_file *f = (struct wal_file *) file;

        return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int wal_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp)
{
        struct wal_file *f = (struct wal_file *) file;

        return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, pp);
}

static int wal_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
        struct wal_file *f = (struct wal_file *) file;
        int rc = flush(f);

        return rc != SQLITE_OK ? rc : f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void wal_shm_barrier(sqlite3_file *file)
{
        struct wal_file *f = (struct wal_file *) file;

        f->real->pMethods->xShmBarrier(f->real);
}

static int wal_shm_unmap(sqlite3_file *file, int delete_flag)
{
        struct wal_file *f = (struct wal_file *) file;

        return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int wal_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **pp)
{
        struct wal_file *f = (struct wal_file *) file;
        int rc = flush(f);

        return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, off, amt, pp);
}

static int wal_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
        struct wal_file *f = (struct wal_file *) file;

        return f->real->pMethods->xUnfetch(f->real, off, p);
}

static const sqlite3_io_methods wal_methods = {
        .iVersion = 3,
        .xClose = wal_close,
        .xRead = wal_read,
        .xWrite = wal_write,
        .xTruncate = wal_truncate,
        .xSync = wal_sync,
        .xFileSize = wal_file_size,
        .xLock = wal_lock,
        .xUnlock = wal_unlock,
        .xCheckReservedLock = wal_check_reserved,
        .xFileControl = wal_file_control,
        .xSectorSize = wal_sector_size,
        .xDeviceCharacteristics = wal_device_characteristics,
        .xShmMap = wal_shm_map,
        .xShmLock = wal_shm_lock,
        .xShmBarrier = wal_shm_barrier,
        .xShmUnmap = wal_shm_unmap,
        .xFetch = wal_fetch,
        .xUnfetch = wal_unfetch,
};

static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
        struct wal_file *f = (struct wal_file *) file;
        int rc;

        (void) vfs;
        memset(f, 0, sizeof(*f));
        f->real = (sqlite3_file *) (f + 1);
        rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
        if (rc != SQLITE_OK || !f->real->pMethods) {
                f->base.pMethods = NULL; /* SQLite closes nothing */
                return rc;
        }
        /* The method tables must match in version: ours is 3. */
        if (f->real->pMethods->iVersion < 3) {
                f->real->pMethods->xClose(f->real);
                f->base.pMethods = NULL;
                return SQLITE_CANTOPEN;
        }
        f->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
        f->base.pMethods = &wal_methods;
        return SQLITE_OK;
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
        (void) vfs;
        return base_vfs->xDelete(base_vfs, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
        (void) vfs;
        return base_vfs->xAccess(base_vfs, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
        (void) vfs;
        return base_vfs->xFullPathname(base_vfs, name, n, out);
}

static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out)
{
        (void) vfs;
        return base_vfs->xRandomness(base_vfs, n, out);
}

static int vfs_sleep(sqlite3_vfs *vfs, int us)
{
        (void) vfs;
        return base_vfs->xSleep(base_vfs, us);
}

static int vfs_current_time(sqlite3_vfs *vfs, double *out)
{
        (void) vfs;
        return base_vfs->xCurrentTime(base_vfs, out);
}

static int vfs_last_error(sqlite3_vfs *vfs, int n, char *out)
{
        (void) vfs;
        return base_vfs->xGetLastError ? base_vfs->xGetLastError(base_vfs, n, out) : 0;
}

static int vfs_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
        (void) vfs;
        return base_vfs->xCurrentTimeInt64(base_vfs, out);
}

static sqlite3_vfs wal_vfs = {
        .iVersion = 2,
        .zName = TP_STORE_WAL_VFS,
        .xOpen = vfs_open,
        .xDelete = vfs_delete,
        .xAccess = vfs_access,
        .xFullPathname = vfs_full_pathname,
        .xRandomness = vfs_randomness,
        .xSleep = vfs_sleep,
        .xCurrentTime = vfs_current_time,
        .xGetLastError = vfs_last_error,
        .xCurrentTimeInt64 = vfs_current_time_int64,
};

const char *tp_store_wal_vfs(void)
{
        if (sqlite3_vfs_find(TP_STORE_WAL_VFS))
                return TP_STORE_WAL_VFS;
        base_vfs = sqlite3_vfs_find(NULL);
        if (!base_vfs || base_vfs->iVersion < 2 || !base_vfs->xCurrentTimeInt64)
                return NULL;
        wal_vfs.szOsFile = (int) sizeof(struct wal_file) + base_vfs->szOsFile;
        wal_vfs.mxPathname = base_vfs->mxPathname;
        if (sqlite3_vfs_register(&wal_vfs, 0) != SQLITE_OK)
                return NULL;
        return TP_STORE_WAL_VFS;
}
