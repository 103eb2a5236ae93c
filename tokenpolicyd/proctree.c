/* SPDX-License-Identifier: BSD-3-Clause */
/* proctree.c: finds the descendants of a process from the parent pids in
 * /proc/PID/stat and signals them through pidfds.
 *
 * Must never signal a process that is not, at the moment the signal is
 * sent, a descendant of root: each pid's pidfd is opened first, then its
 * parent is read again and must be the one the walk found; and never read
 * more than TP_PROCTREE_SCAN_MAX entries of /proc.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proctree.h"

struct proc_entry {
        pid_t pid;
        pid_t ppid;
};

/* The parent pid of pid from PROC/PID/stat; -ESRCH when it is gone or a
 * zombie. The
 * command name (field 2) may hold spaces and parentheses: the fields
 * after it start after the last ')'. */
static int read_ppid(const char *proc, pid_t pid, pid_t *ret_ppid)
{
        char path[64 + 256], buf[1024], *p;
        ssize_t n;
        long ppid;
        char state;
        int fd;

        snprintf(path, sizeof(path), "%s/%d/stat", proc, (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return n == 0 ? -ESRCH : -errno;
        buf[n] = '\0';
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 1, " %c %ld", &state, &ppid) != 2)
                return -EIO;
        /* A zombie has ended already; its pid waits for its parent. */
        if (state == 'Z' || state == 'X')
                return -ESRCH;
        *ret_ppid = (pid_t) ppid;
        return 0;
}

static int scan(const char *proc, struct proc_entry **ret, size_t *ret_n)
{
        struct proc_entry *all = NULL, *grown;
        size_t n = 0, allocated = 0;
        struct dirent *de;
        DIR *d = opendir(proc);

        if (!d)
                return -errno;
        while ((de = readdir(d)) && n < TP_PROCTREE_SCAN_MAX) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                pid_t ppid;

                if (*end != '\0' || pid <= 0 || read_ppid(proc, (pid_t) pid, &ppid) < 0)
                        continue;
                if (n == allocated) {
                        allocated = allocated ? allocated * 2 : 256;
                        grown = realloc(all, allocated * sizeof(*all));
                        if (!grown) {
                                free(all);
                                closedir(d);
                                return -ENOMEM;
                        }
                        all = grown;
                }
                all[n++] = (struct proc_entry) { .pid = (pid_t) pid, .ppid = ppid };
        }
        closedir(d);
        *ret = all;
        *ret_n = n;
        return 0;
}

int tp_proctree_signal_descendants(const char *proc, pid_t root, int sig, size_t *ret_signalled)
{
        struct proc_entry *all = NULL;
        pid_t *queue = NULL;
        int *pidfds = NULL;
        size_t n = 0, head = 0, tail = 0, n_fds = 0, signalled = 0;
        int r;

        if (!proc)
                proc = "/proc";
        if ((r = scan(proc, &all, &n)) < 0)
                return r;
        queue = malloc((n + 1) * sizeof(*queue));
        pidfds = malloc((n + 1) * sizeof(*pidfds));
        if (!queue || !pidfds) {
                r = -ENOMEM;
                goto out;
        }
        /* Breadth first: each entry joins the queue once, when its parent
         * is taken from it, so a loop in stale data cannot recur. Every
         * descendant is pinned by a pidfd (opened, then its parent checked
         * again) before any is signalled: a parent that dies first would
         * hand its children to another parent. */
        queue[tail++] = root;
        while (head < tail) {
                pid_t parent = queue[head++];

                for (size_t i = 0; i < n; i++) {
                        pid_t pid = all[i].pid, ppid;
                        int fd;

                        if (all[i].ppid != parent || pid == root || pid <= 0)
                                continue;
                        all[i].pid = 0; /* taken */
                        fd = (int) syscall(SYS_pidfd_open, pid, 0);
                        if (fd < 0)
                                continue;
                        if (read_ppid(proc, pid, &ppid) < 0 || ppid != parent) {
                                close(fd);
                                continue;
                        }
                        queue[tail++] = pid;
                        pidfds[n_fds++] = fd;
                }
        }
        /* The deepest first, so that none outlives its parent's signal by
         * being handed elsewhere. */
        for (size_t i = n_fds; i > 0; i--)
                if (syscall(SYS_pidfd_send_signal, pidfds[i - 1], sig, NULL, 0) == 0)
                        signalled++;
        r = 0;
out:
        for (size_t i = 0; i < n_fds; i++)
                close(pidfds[i]);
        free(pidfds);
        free(queue);
        free(all);
        if (r == 0 && ret_signalled)
                *ret_signalled = signalled;
        return r;
}
