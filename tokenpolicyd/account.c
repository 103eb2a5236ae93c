/* SPDX-License-Identifier: BSD-3-Clause */
/* account.c: account validity from the passwd and shadow databases.
 *
 * Reentrant NSS calls, and a copy of /etc/passwd and /etc/shadow in
 * memory for the accounts those files hold (struct files_copy): every
 * sign-in, access check and sign-out looks its account up, and reading
 * the files through NSS costs a dozen system calls each time. The copy is
 * used only while NSS would give the same answer (nsswitch.conf consults
 * "files" first for both databases, and no line of the files is a compat
 * "+" or "-" entry), and is dropped the moment any of the three files
 * changes: before each lookup an inotify watch on /etc is read (one
 * non-blocking read; once for all the lookups of one request), and the
 * kernel queues its event before the
 * rename, write or chmod that changed a file returns; so an account
 * locked a second ago fails its next request as it would without the
 * copy. Accounts the files do not hold (another NSS source: sssd, LDAP,
 * systemd's userdb) are looked up through NSS every time. Never logs.
 */
#include "account.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <shadow.h>
#include <sodium.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define NSS_BUF 16384
#define FILES_DIR "/etc"
#define PASSWD_FILE FILES_DIR "/passwd"
#define SHADOW_FILE FILES_DIR "/shadow"
#define NSSWITCH_FILE FILES_DIR "/nsswitch.conf"

struct files_account {
        char *name;
        size_t line;     /* its place in /etc/passwd */
        uid_t uid;
        bool has_shadow; /* a line in /etc/shadow */
        bool locked;
        long expire;     /* sp_expire: days since the epoch, or -1 */
};

/* What /etc/passwd and /etc/shadow said when last read, sorted by name. */
static struct files_copy {
        int watch_fd;           /* inotify on /etc; -1: not yet made; -2: cannot */
        bool valid;             /* the copy matches the files */
        bool usable;            /* ... and NSS would answer from them first */
        bool shadow_read;       /* /etc/shadow was read (the daemon runs as root) */
        bool in_request;        /* tp_account_request_begin() */
        bool watched;           /* ... and the watch was read since */
        struct files_account *accounts;
        size_t n;
} files = { .watch_fd = -1 };

static void files_drop(void)
{
        for (size_t i = 0; i < files.n; i++)
                free(files.accounts[i].name);
        free(files.accounts);
        files.accounts = NULL;
        files.n = 0;
        files.valid = files.usable = files.shadow_read = false;
}

/* Does nsswitch.conf name "files" (or "compat") first for db? A missing
 * file or line means files, as glibc's default. */
static bool nss_files_first(const char *text, const char *db)
{
        size_t dblen = strlen(db);

        for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                const char *p = line;
                size_t n;

                while (*p == ' ' || *p == '\t')
                        p++;
                if (strncmp(p, db, dblen) != 0 || p[dblen] != ':')
                        continue;
                p += dblen + 1;
                while (*p == ' ' || *p == '\t')
                        p++;
                n = strcspn(p, " \t\n[#");
                return (n == 5 && strncmp(p, "files", 5) == 0) || (n == 6 && strncmp(p, "compat", 6) == 0);
        }
        return true;
}

static bool nss_consults_files_first(void)
{
        char text[16384];
        ssize_t n;
        int fd = open(NSSWITCH_FILE, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return errno == ENOENT;
        n = read(fd, text, sizeof(text) - 1);
        close(fd);
        if (n < 0 || n == (ssize_t)sizeof(text) - 1) /* unreadable, or too long to judge */
                return false;
        text[n] = '\0';
        return nss_files_first(text, "passwd") && nss_files_first(text, "shadow");
}

static int by_name(const void *a, const void *b)
{
        const struct files_account *x = a, *y = b;
        int c = strcmp(x->name, y->name);

        /* The first line of a name wins, as NSS reads the file. */
        return c ? c : (x->line > y->line) - (x->line < y->line);
}

static struct files_account *files_find(const char *user)
{
        struct files_account key = { .name = (char *)user };
        size_t lo = 0, hi = files.n;

        while (lo < hi) { /* the first entry of the name: duplicates follow it */
                size_t mid = lo + (hi - lo) / 2;

                if (strcmp(files.accounts[mid].name, key.name) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < files.n && strcmp(files.accounts[lo].name, user) == 0 ? &files.accounts[lo] : NULL;
}

/* Read both files; false when they cannot stand for NSS. */
static bool files_read(void)
{
        char buf[NSS_BUF];
        struct passwd pw, *pwr;
        struct spwd sp, *spr;
        size_t cap = 0;
        FILE *f;
        bool ok = true;

        if (!(f = fopen(PASSWD_FILE, "re")))
                return false;
        while (fgetpwent_r(f, &pw, buf, sizeof(buf), &pwr) == 0) {
                struct files_account *a;

                if (pw.pw_name[0] == '+' || pw.pw_name[0] == '-') { /* compat: other sources mixed in */
                        ok = false;
                        break;
                }
                if (files.n == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        struct files_account *more = realloc(files.accounts, ncap * sizeof(*more));

                        if (!more) {
                                ok = false;
                                break;
                        }
                        files.accounts = more;
                        cap = ncap;
                }
                a = &files.accounts[files.n];
                memset(a, 0, sizeof(*a));
                a->expire = -1;
                a->line = files.n;
                a->uid = pw.pw_uid;
                if (!(a->name = strdup(pw.pw_name))) {
                        ok = false;
                        break;
                }
                files.n++;
        }
        fclose(f);
        if (!ok)
                return false;
        /* By name, then line: a name's first line comes first. */
        qsort(files.accounts, files.n, sizeof(*files.accounts), by_name);

        if (!(f = fopen(SHADOW_FILE, "re")))
                return errno == ENOENT || errno == EACCES; /* no shadow copy: NSS each time */
        files.shadow_read = true;
        while (fgetspent_r(f, &sp, buf, sizeof(buf), &spr) == 0) {
                struct files_account *a;

                if (sp.sp_namp[0] == '+' || sp.sp_namp[0] == '-') {
                        ok = false;
                        break;
                }
                a = files_find(sp.sp_namp);
                if (!a || a->has_shadow)
                        continue;
                a->has_shadow = true;
                a->locked = sp.sp_pwdp && sp.sp_pwdp[0] == '!' && sp.sp_pwdp[1] != '\0' &&
                            strcmp(sp.sp_pwdp, "!*") != 0;
                a->expire = sp.sp_expire;
        }
        fclose(f);
        sodium_memzero(buf, sizeof(buf));
        return ok;
}

/* Has any of the three files changed since the copy was made? Drains
 * what the watch queued. */
static bool files_changed(void)
{
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool changed = false;
        ssize_t n;

        while ((n = read(files.watch_fd, buf, sizeof(buf))) > 0) {
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *)p;

                        if ((ev->mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) ||
                            (ev->len > 0 && (strcmp(ev->name, "passwd") == 0 || strcmp(ev->name, "shadow") == 0 ||
                                             strcmp(ev->name, "nsswitch.conf") == 0)))
                                changed = true;
                        p += sizeof(*ev) + ev->len;
                }
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
                changed = true;
        return changed;
}

/* The copy, current, or NULL when NSS must be asked. */
static struct files_copy *files_current(void)
{
        if (files.watch_fd == -2)
                return NULL;
        if (files.watch_fd == -1) {
                int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

                if (fd < 0 || inotify_add_watch(fd, FILES_DIR, IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO |
                                                IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB |
                                                IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
                        if (fd >= 0)
                                close(fd);
                        files.watch_fd = -2;
                        return NULL;
                }
                files.watch_fd = fd;
        } else if (!(files.in_request && files.watched) && files_changed()) {
                files_drop();
        }
        files.watched = files.in_request;
        if (!files.valid) {
                bool usable;

                files_drop();
                usable = nss_consults_files_first() && files_read();
                if (!usable)
                        files_drop();
                /* Until the watch reports a change, even when not usable. */
                files.valid = true;
                files.usable = usable;
        }
        return files.usable ? &files : NULL;
}

void tp_account_request_begin(void)
{
        files.in_request = true;
        files.watched = false;
}

void tp_account_request_end(void)
{
        files.in_request = files.watched = false;
}

void tp_account_forget(void)
{
        files_drop();
        if (files.watch_fd >= 0)
                close(files.watch_fd);
        files.watch_fd = -1;
}

/* ret_name may be NULL: tp_account_uid() wants the uid alone, however long
 * the name. */
int tp_account_lookup(const char *user, uid_t *ret_uid, char *ret_name, size_t namesz)
{
        struct passwd pw, *res = NULL;
        struct files_account *a;
        char buf[NSS_BUF];
        int r;

        if (files_current() && (a = files_find(user))) {
                if (ret_name) {
                        if (strlen(a->name) >= namesz)
                                return -ENAMETOOLONG;
                        strcpy(ret_name, a->name);
                }
                *ret_uid = a->uid;
                return 0;
        }
        r = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
        if (r != 0)
                return -r;
        if (!res)
                return -ENOENT;
        if (ret_name) {
                if (strlen(pw.pw_name) >= namesz)
                        return -ENAMETOOLONG;
                strcpy(ret_name, pw.pw_name);
        }
        *ret_uid = pw.pw_uid;
        return 0;
}

int tp_account_uid(const char *user, uid_t *ret_uid)
{
        return tp_account_lookup(user, ret_uid, NULL, 0);
}

int tp_account_name(uid_t uid, char *out, size_t outsz)
{
        struct passwd pw, *res = NULL;
        char buf[NSS_BUF];
        int r;

        r = getpwuid_r(uid, &pw, buf, sizeof(buf), &res);
        if (r != 0)
                return -r;
        if (!res)
                return -ENOENT;
        if (strlen(pw.pw_name) >= outsz)
                return -ENAMETOOLONG;
        strcpy(out, pw.pw_name);
        return 0;
}

/* usermod -L and passwd -l put "!" in front of a hash; a bare "!" or "*"
 * only means "no password", which key-only accounts legitimately have. */
static bool password_locked(const char *pwdp)
{
        return pwdp && pwdp[0] == '!' && pwdp[1] != '\0' && strcmp(pwdp, "!*") != 0;
}

enum tp_account_state tp_account_state(const char *user, int64_t now)
{
        uid_t uid;
        int r;

        if ((r = tp_account_uid(user, &uid)) < 0)
                return r == -ENOENT ? TP_ACCOUNT_UNKNOWN : TP_ACCOUNT_UNREADABLE;
        return tp_account_shadow_state(user, now);
}

static enum tp_account_state shadow_state(bool locked, long expire, int64_t now)
{
        if (locked)
                return TP_ACCOUNT_LOCKED;
        if (expire > 0 && (int64_t)expire * 86400 <= now)
                return TP_ACCOUNT_EXPIRED;
        return TP_ACCOUNT_VALID;
}

enum tp_account_state tp_account_shadow_state(const char *user, int64_t now)
{
        struct spwd sp, *res = NULL;
        struct files_account *a;
        char buf[NSS_BUF];
        enum tp_account_state st;

        if (files_current() && files.shadow_read && (a = files_find(user)) && a->has_shadow)
                return shadow_state(a->locked, a->expire, now);
        if (getspnam_r(user, &sp, buf, sizeof(buf), &res) != 0 || !res)
                return TP_ACCOUNT_VALID; /* no shadow entry or no right to read it */
        st = shadow_state(password_locked(sp.sp_pwdp), sp.sp_expire, now);
        sodium_memzero(buf, sizeof(buf));
        return st;
}

const char *tp_account_state_words(enum tp_account_state state)
{
        switch (state) {
        case TP_ACCOUNT_VALID:
                return "is valid";
        case TP_ACCOUNT_UNKNOWN:
                return "does not exist";
        case TP_ACCOUNT_LOCKED:
                return "is locked";
        case TP_ACCOUNT_EXPIRED:
                return "has expired";
        case TP_ACCOUNT_UNREADABLE:
                return "cannot be read";
        }
        return "is not valid";
}

bool tp_account_valid(const char *user, int64_t now)
{
        return tp_account_state(user, now) == TP_ACCOUNT_VALID;
}

int tp_account_password_mark(const char *user, const uint8_t key[TP_PASSWORD_MARK_KEY_LEN],
                             uint8_t out[TP_PASSWORD_MARK_LEN])
{
        struct spwd sp, *res = NULL;
        crypto_generichash_state h;
        char buf[NSS_BUF], changed[32];
        const char *hash;
        int r;

        r = getspnam_r(user, &sp, buf, sizeof(buf), &res);
        if (r != 0 || !res || !sp.sp_pwdp) {
                sodium_memzero(buf, sizeof(buf));
                return r != 0 && r != ENOENT ? -r : -ENOENT;
        }
        for (hash = sp.sp_pwdp; *hash == '!'; hash++)
                ;
        snprintf(changed, sizeof(changed), "%ld", sp.sp_lstchg);
        crypto_generichash_init(&h, key, TP_PASSWORD_MARK_KEY_LEN, TP_PASSWORD_MARK_LEN);
        crypto_generichash_update(&h, (const unsigned char *) hash, strlen(hash) + 1);
        crypto_generichash_update(&h, (const unsigned char *) changed, strlen(changed));
        crypto_generichash_final(&h, out, TP_PASSWORD_MARK_LEN);
        sodium_memzero(buf, sizeof(buf));
        sodium_memzero(&h, sizeof(h));
        return 0;
}
