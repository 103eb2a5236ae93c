/* SPDX-License-Identifier: BSD-3-Clause */
/* notice.c: tell a running session's user why it ends, on its own
 * terminal (see notice.h for which places and why those only).
 *
 * Must never write to anything but a terminal owned by the session's user
 * or a pipe held by the session's sshd; never open a path a user chose
 * (terminal paths are made from device numbers or from PAM_TTY, which the
 * PAM application set, and checked on the object opened); never acquire a
 * controlling terminal; never block; never follow more than WALK_MAX
 * processes; never log.
 */
#include "notice.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define WALK_MAX 256                 /* processes of one session looked at */
#define PTS_MAJOR_FIRST 136          /* UNIX98 pseudo-terminal slaves: 136..143 */
#define PTS_MAJOR_LAST 143
#define TTY_MAJOR 4                  /* virtual consoles 1..63, serial ports 64.. */
#define PROC_STAT_FIELD_PPID 4
#define PROC_STAT_FIELD_TTY 7
#define PROC_STAT_FIELD_STARTTIME 22

__attribute__((format(printf, 3, 4)))
static void append(char *buf, size_t bufsz, const char *fmt, ...)
{
        size_t len;
        va_list ap;

        if (!buf || bufsz == 0)
                return;
        len = strnlen(buf, bufsz);
        if (len + 1 >= bufsz)
                return;
        va_start(ap, fmt);
        vsnprintf(buf + len, bufsz - len, fmt, ap);
        va_end(ap);
}

/* ---- processes --------------------------------------------------------- */

struct proc_info {
        pid_t ppid;
        unsigned tty;                /* tty_nr: the controlling terminal, 0 none */
        uint64_t start;
        bool zombie;
};

static int proc_stat(pid_t pid, struct proc_info *ret)
{
        char path[64], buf[1024], *p, *end;
        ssize_t n;
        int fd;

        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
                return -ESRCH;
        buf[n] = '\0';
        /* comm may hold spaces and ')': the last ')' closes it. */
        p = strrchr(buf, ')');
        if (!p || p[1] != ' ')
                return -EBADMSG;
        p += 2;
        ret->zombie = *p == 'Z' || *p == 'X';
        for (int field = 3; field <= PROC_STAT_FIELD_STARTTIME; field++) {
                unsigned long long v;

                if (field > 3) {
                        errno = 0;
                        v = strtoull(p, &end, 10);
                        if (errno || end == p)
                                return -EBADMSG;
                        if (field == PROC_STAT_FIELD_PPID)
                                ret->ppid = (pid_t) v;
                        else if (field == PROC_STAT_FIELD_TTY)
                                ret->tty = (unsigned) v;
                        else if (field == PROC_STAT_FIELD_STARTTIME)
                                ret->start = (uint64_t) v;
                        p = end;
                } else {
                        p += strcspn(p, " ");
                }
                if (field < PROC_STAT_FIELD_STARTTIME) {
                        if (*p != ' ')
                                return -EBADMSG;
                        p++;
                }
        }
        return 0;
}

/* The children of pid, from every thread's children list. Returns how
 * many were stored (at most max). */
static size_t proc_children(pid_t pid, pid_t *out, size_t max)
{
        char path[64], buf[4096];
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        snprintf(path, sizeof path, "/proc/%d/task", (int) pid);
        d = opendir(path);
        if (!d)
                return 0;
        while (n < max && (de = readdir(d))) {
                char *p, *end;
                ssize_t len;
                int fd;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof path, "/proc/%d/task/%.16s/children", (int) pid, de->d_name);
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        continue;
                len = read(fd, buf, sizeof buf - 1);
                close(fd);
                if (len <= 0)
                        continue;
                buf[len] = '\0';
                for (p = buf; n < max;) {
                        long v = strtol(p, &end, 10);

                        if (end == p)
                                break;
                        if (v > 0 && v <= INT_MAX)
                                out[n++] = (pid_t) v;
                        p = end;
                }
        }
        closedir(d);
        return n;
}

/* readlink of /proc/PID/FILE into buf; false when it cannot be read. */
static bool proc_link(pid_t pid, const char *file, char *buf, size_t bufsz)
{
        char path[64];
        ssize_t n;

        snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, file);
        n = readlink(path, buf, bufsz - 1);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        return true;
}

/* The pipe inode that fd `fd` of pid is, or 0. Reads only the link's
 * text: nothing of the user's is opened. */
static unsigned long long proc_fd_pipe(pid_t pid, int fd)
{
        char file[32], link[64];
        unsigned long long ino;
        char tail;

        snprintf(file, sizeof file, "fd/%d", fd);
        if (!proc_link(pid, file, link, sizeof link))
                return 0;
        if (sscanf(link, "pipe:[%llu%c", &ino, &tail) != 2 || tail != ']')
                return 0;
        return ino;
}

/* ---- what may be written ----------------------------------------------- */

static bool terminal_device(dev_t rdev)
{
        unsigned maj = major(rdev), min = minor(rdev);

        return (maj >= PTS_MAJOR_FIRST && maj <= PTS_MAJOR_LAST) || (maj == TTY_MAJOR && min >= 1);
}

/* /dev path of a terminal by its device number, as devpts and the kernel
 * name them; false for anything else. */
static bool terminal_path(dev_t rdev, char *buf, size_t bufsz)
{
        unsigned maj = major(rdev), min = minor(rdev);

        if (maj >= PTS_MAJOR_FIRST && maj <= PTS_MAJOR_LAST)
                snprintf(buf, bufsz, "/dev/pts/%u", (maj - PTS_MAJOR_FIRST) * 256 + min);
        else if (maj == TTY_MAJOR && min >= 1 && min < 64)
                snprintf(buf, bufsz, "/dev/tty%u", min);
        else if (maj == TTY_MAJOR && min >= 64)
                snprintf(buf, bufsz, "/dev/ttyS%u", min - 64);
        else
                return false;
        return true;
}

static bool all_digits(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/* /dev path for a PAM_TTY value naming a terminal ("pts/3", "tty1",
 * "/dev/pts/3", "ttyS0"); false for others ("ssh", ":0", "", paths). */
static bool pam_tty_path(const char *tty, char *buf, size_t bufsz)
{
        const char *name = tty;

        if (strncmp(name, "/dev/", 5) == 0)
                name += 5;
        if ((strncmp(name, "pts/", 4) == 0 && all_digits(name + 4)) ||
            (strncmp(name, "ttyS", 4) == 0 && all_digits(name + 4)) ||
            (strncmp(name, "tty", 3) == 0 && all_digits(name + 3))) {
                if (strlen(name) > 16)
                        return false;
                snprintf(buf, bufsz, "/dev/%s", name);
                return true;
        }
        return false;
}

/* Reopen an O_PATH descriptor for writing, without blocking and without
 * becoming its controlling process, and check it is still the same
 * object. */
static int reopen_for_writing(int path_fd, const struct stat *want)
{
        char self[64];
        struct stat st;
        int fd;

        snprintf(self, sizeof self, "/proc/self/fd/%d", path_fd);
        fd = open(self, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || st.st_dev != want->st_dev || st.st_ino != want->st_ino ||
            st.st_rdev != want->st_rdev || (st.st_mode & S_IFMT) != (want->st_mode & S_IFMT)) {
                close(fd);
                return -ESTALE;
        }
        return fd;
}

/* A terminal at `path`, opened for writing only if it is a terminal
 * device (expected number, when given) owned by uid. */
static int open_terminal(const char *path, dev_t expected, uid_t uid, dev_t *ret_rdev)
{
        struct stat st;
        int pfd, fd;

        pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0)
                return -errno;
        if (fstat(pfd, &st) < 0) {
                fd = -errno;
                goto out;
        }
        if (!S_ISCHR(st.st_mode) || !terminal_device(st.st_rdev) ||
            (expected != 0 && st.st_rdev != expected)) {
                fd = -ENOTTY;
                goto out;
        }
        if (st.st_uid != uid) {
                fd = -EPERM;    /* not the session user's own terminal */
                goto out;
        }
        fd = reopen_for_writing(pfd, &st);
        if (fd >= 0 && !isatty(fd)) {
                close(fd);
                fd = -ENOTTY;
        }
        if (fd >= 0)
                *ret_rdev = st.st_rdev;
out:
        close(pfd);
        return fd;
}

/* A write end of pipe `ino`, which must be sshd's fd `fd`. */
static int open_pipe(pid_t holder, int fd, unsigned long long ino)
{
        char path[64];
        struct stat st;
        int pfd, w;

        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int) holder, fd);
        pfd = open(path, O_PATH | O_CLOEXEC);
        if (pfd < 0)
                return -errno;
        if (fstat(pfd, &st) < 0) {
                w = -errno;
        } else if (!S_ISFIFO(st.st_mode) || (unsigned long long) st.st_ino != ino) {
                w = -ESTALE;
        } else {
                w = reopen_for_writing(pfd, &st);
        }
        close(pfd);
        return w;
}

/* ---- the walk ---------------------------------------------------------- */

struct found {
        dev_t ttys[TP_NOTICE_TARGETS_MAX];
        size_t n_ttys;
        struct { pid_t holder; int fd; unsigned long long ino; pid_t command; } pipes[TP_NOTICE_TARGETS_MAX];
        size_t n_pipes;
};

static void add_tty(struct found *f, unsigned tty_nr)
{
        dev_t rdev = (dev_t) tty_nr;

        if (tty_nr == 0 || !terminal_device(rdev))
                return;
        for (size_t i = 0; i < f->n_ttys; i++)
                if (f->ttys[i] == rdev)
                        return;
        if (f->n_ttys < TP_NOTICE_TARGETS_MAX)
                f->ttys[f->n_ttys++] = rdev;
}

/* The leader's own per-session child (same program as the leader: sshd's
 * unprivileged half) and its children, the session's commands: the pipe
 * that is a command's stderr, held by that child, and not the command's
 * stdin or stdout. */
static void find_ssh_stderr(struct found *f, pid_t leader, pid_t child, const pid_t *grand, size_t n_grand)
{
        char leader_exe[PATH_MAX], child_exe[PATH_MAX];
        struct dirent *de;
        char path[64];
        DIR *d;

        if (!proc_link(leader, "exe", leader_exe, sizeof leader_exe) ||
            !proc_link(child, "exe", child_exe, sizeof child_exe) || strcmp(leader_exe, child_exe) != 0)
                return;
        for (size_t i = 0; i < n_grand && f->n_pipes < TP_NOTICE_TARGETS_MAX; i++) {
                unsigned long long err = proc_fd_pipe(grand[i], 2);
                bool dup = false;

                if (err == 0 || err == proc_fd_pipe(grand[i], 1) || err == proc_fd_pipe(grand[i], 0))
                        continue;
                for (size_t k = 0; k < f->n_pipes; k++)
                        dup = dup || f->pipes[k].ino == err;
                if (dup)
                        continue;
                snprintf(path, sizeof path, "/proc/%d/fd", (int) child);
                d = opendir(path);
                if (!d)
                        return;
                while ((de = readdir(d))) {
                        char *end;
                        long fd = strtol(de->d_name, &end, 10);

                        if (de->d_name[0] == '.' || *end || fd < 0 || fd > INT_MAX)
                                continue;
                        if (proc_fd_pipe(child, (int) fd) == err) {
                                f->pipes[f->n_pipes].holder = child;
                                f->pipes[f->n_pipes].fd = (int) fd;
                                f->pipes[f->n_pipes].ino = err;
                                f->pipes[f->n_pipes].command = grand[i];
                                f->n_pipes++;
                                break;
                        }
                }
                closedir(d);
        }
}

/* Breadth first from the leader: controlling terminals of every process
 * of the session, and sshd's stderr pipes. False when the leader is not
 * the recorded one (gone, or its pid reused). */
static bool walk_session(pid_t leader, uint64_t leader_start, struct found *f)
{
        pid_t queue[WALK_MAX], kids[WALK_MAX];
        size_t head = 0, tail = 0;
        struct proc_info pi;

        if (leader <= 0 || leader_start == 0 || proc_stat(leader, &pi) < 0 || pi.zombie ||
            pi.start != leader_start)
                return false;
        add_tty(f, pi.tty);
        queue[tail++] = leader;
        while (head < tail) {
                pid_t pid = queue[head++];
                size_t n = proc_children(pid, kids, WALK_MAX);

                for (size_t i = 0; i < n; i++) {
                        struct proc_info ci;

                        if (proc_stat(kids[i], &ci) < 0 || ci.ppid != pid)
                                continue;
                        add_tty(f, ci.tty);
                        if (tail < WALK_MAX)
                                queue[tail++] = kids[i];
                        if (pid == leader) {
                                pid_t grand[WALK_MAX];
                                size_t n_grand = proc_children(kids[i], grand, WALK_MAX);

                                find_ssh_stderr(f, leader, kids[i], grand, n_grand);
                        }
                }
        }
        return true;
}

/* ---- the contract ------------------------------------------------------ */

/* The text as it is written: printable ASCII only, framed for a terminal
 * (which may be in raw mode, hence \r\n) or a plain stream. */
static size_t frame(const char *text, bool terminal, char *out, size_t outsz)
{
        char clean[TP_NOTICE_TEXT_MAX];
        size_t i;
        int n;

        for (i = 0; text[i] && i < sizeof clean - 1; i++) {
                unsigned char c = (unsigned char) text[i];

                clean[i] = c >= 0x20 && c <= 0x7e ? (char) c : '?';
        }
        clean[i] = '\0';
        n = snprintf(out, outsz, terminal ? "\r\n*** %s ***\r\n" : "%s\n", clean);
        return n < 0 ? 0 : (size_t) n >= outsz ? outsz - 1 : (size_t) n;
}

/* 0 when all of it went out at once; never waits. */
static int write_now(int fd, const char *buf, size_t len)
{
        ssize_t w = write(fd, buf, len);

        if (w < 0)
                return -errno;
        return (size_t) w == len ? 0 : -EAGAIN;
}

size_t tp_notice_send(pid_t leader_pid, uint64_t leader_start, uid_t uid, const char *tty,
                      const char *text, struct tp_notice_sent *sent, char *what, size_t whatsz)
{
        char path[64], line[TP_NOTICE_TEXT_MAX + 16], first_error[128] = "";
        struct found f;
        size_t len;
        int r;

        memset(&f, 0, sizeof f);
        sent->n = 0;
        if (what && whatsz)
                what[0] = '\0';
        /* No leader: nothing of the session left to tell, and nothing to
         * say (enforcement says the leader is gone). */
        if (!walk_session(leader_pid, leader_start, &f))
                return 0;
        /* PAM_TTY first: the terminal the sign-in itself was made on. */
        if (tty && pam_tty_path(tty, path, sizeof path)) {
                dev_t rdev = 0;
                int fd = open_terminal(path, 0, uid, &rdev);

                if (fd < 0) {
                        snprintf(first_error, sizeof first_error, "%s: %s", path, strerror(-fd));
                } else {
                        bool known = false;

                        for (size_t i = 0; i < f.n_ttys; i++)
                                known = known || f.ttys[i] == rdev;
                        if (!known && f.n_ttys < TP_NOTICE_TARGETS_MAX)
                                f.ttys[f.n_ttys++] = rdev;
                        close(fd);
                }
        }
        len = frame(text, true, line, sizeof line);
        for (size_t i = 0; i < f.n_ttys && sent->n < TP_NOTICE_TARGETS_MAX; i++) {
                int fd;

                if (!terminal_path(f.ttys[i], path, sizeof path))
                        continue;
                fd = open_terminal(path, f.ttys[i], uid, &f.ttys[i]);
                if (fd >= 0 && (r = write_now(fd, line, len)) < 0) {
                        close(fd);
                        fd = r;
                }
                if (fd < 0) {
                        if (!first_error[0])
                                snprintf(first_error, sizeof first_error, "%s: %s", path, strerror(-fd));
                        continue;
                }
                append(what, whatsz, "%s%s", sent->n ? ", " : "told on ", path);
                sent->pipe[sent->n] = false;
                sent->fds[sent->n++] = fd;
        }
        len = frame(text, false, line, sizeof line);
        for (size_t i = 0; i < f.n_pipes && sent->n < TP_NOTICE_TARGETS_MAX; i++) {
                int fd = open_pipe(f.pipes[i].holder, f.pipes[i].fd, f.pipes[i].ino);

                if (fd >= 0 && (r = write_now(fd, line, len)) < 0) {
                        close(fd);
                        fd = r;
                }
                if (fd < 0) {
                        if (!first_error[0])
                                snprintf(first_error, sizeof first_error, "standard error of pid %d: %s",
                                         (int) f.pipes[i].command, strerror(-fd));
                        continue;
                }
                append(what, whatsz, "%sthe standard error of pid %d", sent->n ? ", " : "told on ",
                       (int) f.pipes[i].command);
                sent->pipe[sent->n] = true;
                sent->fds[sent->n++] = fd;
        }
        if (sent->n == 0) {
                if (first_error[0])
                        append(what, whatsz, "could not tell (%s)", first_error);
                else
                        append(what, whatsz, "no terminal to tell");
        }
        return sent->n;
}

bool tp_notice_read(const struct tp_notice_sent *sent)
{
        for (size_t i = 0; i < sent->n; i++) {
                int unread = 0;

                if (sent->pipe[i] && ioctl(sent->fds[i], FIONREAD, &unread) == 0 && unread > 0)
                        return false;
        }
        return true;
}

void tp_notice_close(struct tp_notice_sent *sent)
{
        for (size_t i = 0; i < sent->n; i++)
                close(sent->fds[i]);
        sent->n = 0;
}

/* The terminal at `path` when it is a terminal device owned by uid (the
 * same rule as for writing): its last input time, as w(1) reads it. */
static int terminal_atime(const char *path, uid_t uid, int64_t *ret)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISCHR(st.st_mode) || !terminal_device(st.st_rdev))
                return -ENOTTY;
        if (st.st_uid != uid)
                return -EPERM;
        *ret = (int64_t) st.st_atim.tv_sec;
        return 0;
}

int tp_notice_last_input(pid_t leader_pid, uint64_t leader_start, uid_t uid, const char *tty,
                         int64_t *ret_last)
{
        char path[64];
        struct found f;
        int64_t last = 0, t;
        bool any = false;

        memset(&f, 0, sizeof f);
        if (!walk_session(leader_pid, leader_start, &f))
                return -ESRCH;
        if (tty && pam_tty_path(tty, path, sizeof path) && terminal_atime(path, uid, &t) == 0) {
                last = t;
                any = true;
        }
        for (size_t i = 0; i < f.n_ttys; i++) {
                if (!terminal_path(f.ttys[i], path, sizeof path) || terminal_atime(path, uid, &t) < 0)
                        continue;
                if (!any || t > last)
                        last = t;
                any = true;
        }
        if (!any)
                return 0;
        *ret_last = last;
        return 1;
}
