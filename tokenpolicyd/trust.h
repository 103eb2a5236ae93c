/* SPDX-License-Identifier: BSD-3-Clause */
/* trust.h: may the daemon believe a file it reads? The configuration, the
 * last valid copy of it and the session store must be files that nobody
 * but root and the daemon's own user could have written, or put in place.
 *
 * Library code: never logs; a refusal comes back as -EPERM with the reason
 * in words for the caller's message.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

enum tp_trust_kind {
        TP_TRUST_FILE, /* a regular file */
        TP_TRUST_DIR,  /* a directory */
};

/* Check path, and every directory and symbolic link met on the way to it
 * from "/" (symbolic links followed as the kernel would, each one checked
 * where it is): each must be owned by root or by `owner`, and no directory
 * on the way may be writable by group or others unless it has the sticky
 * bit (as /tmp: then only an entry's owner may replace it, and that owner
 * is checked). The last component must be of the kind asked for and, a
 * file, not writable by group or others. A relative path is taken from the
 * working directory.
 *
 * Returns 0; -EPERM with the reason in why (why_size bytes, may be 0),
 * a phrase such as "/srv/tp is owned by uid 1000, not root" or
 * "/etc/tp.conf is writable by group or others (mode 0666)"; -ENOENT when something on the
 * way does not exist; -ELOOP for too many symbolic links; another -errno
 * when something cannot be examined. */
int tp_trust_path(const char *path, enum tp_trust_kind kind, uid_t owner, char *why, size_t why_size);
