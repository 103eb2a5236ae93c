/* SPDX-License-Identifier: BSD-3-Clause */
/* trust.c: whether a file can only have been written, or put where it is,
 * by root or the daemon's own user.
 *
 * The path is walked one component at a time from "/" with O_PATH
 * descriptors, never following a symbolic link blindly: each link is
 * checked where it lies and its target walked in turn, so every directory
 * the kernel would pass through on the way is one this code has looked at.
 * Whoever can write to one of them could swap what lies below it; whoever
 * owns the file could rewrite it. Must never: log, follow more than
 * LINKS_MAX links, or accept a path it could not fully examine.
 */
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINKS_MAX 40 /* as the kernel's own limit */
/* A path shown in a message: what was walked, and one more name. */
#define SHOWN_MAX (PATH_MAX + NAME_MAX + 2)

__attribute__((format(printf, 3, 4)))
static int untrusted(char *why, size_t why_size, const char *fmt, ...)
{
        va_list ap;

        if (why && why_size > 0) {
                va_start(ap, fmt);
                vsnprintf(why, why_size, fmt, ap);
                va_end(ap);
        }
        return -EPERM;
}

static bool owner_ok(uid_t uid, uid_t owner)
{
        return uid == 0 || uid == owner;
}

/* "root" or "root or uid N", for messages. */
static const char *owners_text(uid_t owner, char buf[64])
{
        if (owner == 0)
                return "root";
        snprintf(buf, 64, "root or uid %u", (unsigned)owner);
        return buf;
}

static int check_owner(const char *what, const struct stat *st, uid_t owner, char *why, size_t why_size)
{
        char text[64];

        if (owner_ok(st->st_uid, owner))
                return 0;
        return untrusted(why, why_size, "%s is owned by uid %u, not %s", what, (unsigned)st->st_uid,
                         owners_text(owner, text));
}

/* A directory on the way: whoever may write to it may replace what is in
 * it, except that with the sticky bit only the entry's owner may. */
static int check_dir(const char *shown, const struct stat *st, uid_t owner, char *why, size_t why_size)
{
        int r;

        if ((r = check_owner(shown, st, owner, why, why_size)) < 0)
                return r;
        if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
                return untrusted(why, why_size,
                                 "%s is writable by group or others without the sticky bit (mode %04o)", shown,
                                 (unsigned)(st->st_mode & 07777));
        return 0;
}

/* The walk. `rest` holds the components still to go, '/'-separated, in
 * a buffer that a link's target is spliced in front of; `shown` is the
 * path walked so far, for messages. */
struct walk {
        int dirfd;               /* the directory reached, O_PATH */
        char shown[SHOWN_MAX];
        char rest[PATH_MAX];
        unsigned links;
};

static int walk_to_root(struct walk *w, char *why, size_t why_size, uid_t owner)
{
        struct stat st;
        int fd;

        fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        if (w->dirfd >= 0)
                close(w->dirfd);
        w->dirfd = fd;
        snprintf(w->shown, sizeof(w->shown), "/");
        return check_dir("/", &st, owner, why, why_size);
}

/* shown + "/" + name, for messages; a path too long to show is cut. */
static void shown_join(const struct walk *w, const char *name, char out[SHOWN_MAX])
{
        size_t n = strlen(w->shown);
        int len;

        len = snprintf(out, SHOWN_MAX, "%s%s%s", w->shown, n > 0 && w->shown[n - 1] == '/' ? "" : "/", name);
        if (len < 0 || len >= SHOWN_MAX)
                memcpy(out + SHOWN_MAX - 4, "...", 4);
}

/* Put text (a link's target) in front of what is still to walk. */
static int splice_target(struct walk *w, const char *text)
{
        size_t t = strlen(text), r = strlen(w->rest);

        if (t + 1 + r + 1 > sizeof(w->rest))
                return -ENAMETOOLONG;
        memmove(w->rest + t + 1, w->rest, r + 1);
        memcpy(w->rest, text, t);
        w->rest[t] = r > 0 ? '/' : '\0';
        return 0;
}

/* The next component of w->rest into name (removed from rest); false when
 * none is left. Empty components and "." are skipped. */
static bool next_component(struct walk *w, char name[NAME_MAX + 1], bool *ret_too_long)
{
        for (;;) {
                char *p = w->rest, *slash;
                size_t n;

                while (*p == '/')
                        p++;
                if (*p == '\0') {
                        w->rest[0] = '\0';
                        return false;
                }
                slash = strchr(p, '/');
                n = slash ? (size_t)(slash - p) : strlen(p);
                *ret_too_long = n > NAME_MAX;
                if (!*ret_too_long) {
                        memcpy(name, p, n);
                        name[n] = '\0';
                }
                memmove(w->rest, p + n, strlen(p + n) + 1);
                if (*ret_too_long || strcmp(name, ".") != 0)
                        return true;
        }
}

/* Whether anything but "." and separators is left after the current
 * component: then the current one must be a directory. */
static bool more_to_walk(const struct walk *w)
{
        for (const char *p = w->rest; *p; ) {
                size_t n;

                while (*p == '/')
                        p++;
                n = strcspn(p, "/");
                if (n > 0 && !(n == 1 && p[0] == '.'))
                        return true;
                p += n;
        }
        return false;
}

int tp_trust_path(const char *path, enum tp_trust_kind kind, uid_t owner, char *why, size_t why_size)
{
        struct walk *w;
        char name[NAME_MAX + 1], here[SHOWN_MAX], cwd[PATH_MAX];
        bool too_long;
        int r;

        if (!path || !*path)
                return -EINVAL;
        if (why && why_size > 0)
                why[0] = '\0';
        if (!(w = calloc(1, sizeof(*w))))
                return -ENOMEM;
        w->dirfd = -1;
        if (path[0] == '/') {
                r = snprintf(w->rest, sizeof(w->rest), "%s", path);
        } else if (getcwd(cwd, sizeof(cwd))) {
                r = snprintf(w->rest, sizeof(w->rest), "%s/%s", cwd, path);
        } else {
                r = -errno;
                goto out;
        }
        if (r < 0 || (size_t)r >= sizeof(w->rest)) {
                r = -ENAMETOOLONG;
                goto out;
        }
        if ((r = walk_to_root(w, why, why_size, owner)) < 0)
                goto out;

        while (next_component(w, name, &too_long)) {
                bool last = !more_to_walk(w);
                struct stat st;

                if (too_long) {
                        r = -ENAMETOOLONG;
                        goto out;
                }
                shown_join(w, name, here);
                if (fstatat(w->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        goto out;
                }
                if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        ssize_t n;

                        /* A link is never rewritten, only replaced, which
                         * its directory (checked) decides, or its owner in
                         * a sticky one. */
                        if ((r = check_owner(here, &st, owner, why, why_size)) < 0)
                                goto out;
                        if (++w->links > LINKS_MAX) {
                                r = -ELOOP;
                                goto out;
                        }
                        n = readlinkat(w->dirfd, name, target, sizeof(target) - 1);
                        if (n < 0) {
                                r = -errno;
                                goto out;
                        }
                        target[n] = '\0';
                        if ((r = splice_target(w, target)) < 0)
                                goto out;
                        if (target[0] == '/' && (r = walk_to_root(w, why, why_size, owner)) < 0)
                                goto out;
                        continue;
                }
                if (S_ISDIR(st.st_mode) && !(last && kind == TP_TRUST_FILE)) {
                        int fd;

                        /* ".." leads to a directory already checked on
                         * the way down; it is checked again all the same. */
                        if ((r = check_dir(here, &st, owner, why, why_size)) < 0)
                                goto out;
                        fd = openat(w->dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd < 0) {
                                r = -errno;
                                goto out;
                        }
                        close(w->dirfd);
                        w->dirfd = fd;
                        if (strcmp(name, "..") == 0) {
                                char *slash = strrchr(w->shown, '/');

                                if (slash && slash != w->shown)
                                        *slash = '\0';
                                else
                                        snprintf(w->shown, sizeof(w->shown), "/");
                        } else {
                                snprintf(w->shown, sizeof(w->shown), "%s", here);
                        }
                        if (last)
                                break;
                        continue;
                }
                if (!last) {
                        r = -ENOTDIR;
                        goto out;
                }
                /* The file itself. */
                if (kind == TP_TRUST_DIR) {
                        r = untrusted(why, why_size, "%s is not a directory", here);
                        goto out;
                }
                if (!S_ISREG(st.st_mode)) {
                        r = untrusted(why, why_size, "%s is not a regular file", here);
                        goto out;
                }
                if ((r = check_owner(here, &st, owner, why, why_size)) < 0)
                        goto out;
                if (st.st_mode & (S_IWGRP | S_IWOTH)) {
                        r = untrusted(why, why_size, "%s is writable by group or others (mode %04o)", here,
                                      (unsigned)(st.st_mode & 07777));
                        goto out;
                }
                r = 0;
                goto out;
        }
        /* Walked to the end on a directory (or "/" itself). */
        r = kind == TP_TRUST_DIR ? 0 : untrusted(why, why_size, "%s is a directory", w->shown);
out:
        if (w->dirfd >= 0)
                close(w->dirfd);
        free(w);
        return r;
}
