/* SPDX-License-Identifier: BSD-3-Clause */
/* main.c: tokenpolicyd's command line, start-up and shutdown.
 *
 * Start-up order matters: everything that can fail for a reason the
 * administrator must fix (state directory, config, key, store, socket) is
 * done and reported before the daemon detaches, so a failed start never
 * looks like a successful one. The state directory comes first: it holds
 * the last valid configuration, served when the file cannot be. Files
 * that someone other than root (or the daemon's user) could have written
 * or put in place are refused.
 */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "accounts.h"
#include "boot.h"
#include "conffile.h"
#include "control.h"
#include "idle.h"
#include "lifecycle.h"
#include "log.h"
#include "mapfile.h"
#include "notify.h"
#include "paths.h"
#include "pidfile.h"
#include "server.h"
#include "fleetkeys.h"
#include "offline.h"
#include "store_pg.h"
#include "store_sqlite.h"
#include "signer.h"
#include "trust.h"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: tokenpolicyd [--config FILE] [--socket PATH] [--state-dir DIR] [--pid-file FILE]\n"
                "                   [--foreground] [--debug]\n"
                "       tokenpolicyd --check-config FILE\n"
                "\n"
                "The tokenpolicy policy daemon: decides sign-ins for pam_tokenpolicy, keeps\n"
                "the durable session store and mints tokens.\n"
                "\n"
                "  -c, --config FILE        configuration (default %s)\n"
                "  -s, --socket PATH        listening socket (default %s)\n"
                "  -d, --state-dir DIR      sessions, signing key, JWKS (default %s)\n"
                "  -p, --pid-file FILE      write the daemon's PID there once it listens (default\n"
                "                           %s when it binds the default socket)\n"
                "  -f, --foreground         stay in the foreground and log to stderr\n"
                "      --debug              log debug messages\n"
                "      --check-config FILE  validate FILE, print every error, exit 0 or 1; warn\n"
                "                           when its owner or mode would make the daemon refuse it\n"
                "  -h, --help               show this help\n"
                "      --version            show the version\n",
                TP_DEFAULT_CONFIG, TP_DEFAULT_SOCKET, TP_DEFAULT_STATE_DIR, TP_DEFAULT_PID_FILE);
}

/* The content decides the exit status. A file the daemon would refuse for
 * its owner, mode or directories gets a warning: the check is also run on
 * drafts kept elsewhere, and the daemon itself refuses such a file. */
static int check_config(const char *path)
{
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = NULL;
        char msg[TP_MESSAGE_MAX];
        int r, trust;

        trust = tp_conffile_trust(path, geteuid(), msg, sizeof(msg));
        r = tp_config_load_file(path, &c, &errs);
        for (size_t i = 0; i < errs.n; i++)
                fprintf(stderr, "%s\n", errs.messages[i]);
        if (r < 0 && errs.n == 0)
                fprintf(stderr, "%s: %s\n", path, strerror(-r));
        if (r >= 0)
                printf("%s: valid (%zu client types)\n", path, c->n_clients);
        if (trust == -EPERM)
                fprintf(stderr, "warning: %s\nwarning: tokenpolicyd would not load %s while this is so\n", msg,
                        path);
        tp_config_errors_clear(&errs);
        tp_config_free(c);
        return r < 0 ? 1 : 0;
}

static char *absolute_path(const char *path)
{
        char cwd[TP_PATH_MAX];
        char *out = NULL;

        if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
                return strdup(path);
        if (asprintf(&out, "%s/%s", cwd, path) < 0)
                return NULL;
        return out;
}

/* The directories above it must be ones only root or we can change, or
 * someone could swap the whole directory: tp_trust_path. */
static int make_state_dir(const char *dir, char *why, size_t why_size)
{
        struct stat st;
        int r;

        /* 0711: others may not list it but may open the public key and JWKS
         * (0644) inside; the store and the private key are 0600. */
        if (mkdir(dir, 0711) == 0) {
                if (chmod(dir, 0711) < 0) /* the umask narrowed it */
                        return -errno;
        } else if (errno != EEXIST) {
                return -errno;
        }
        if (stat(dir, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
                snprintf(why, why_size, "it is owned by uid %u with mode %04o", (unsigned)st.st_uid,
                         (unsigned)(st.st_mode & 07777));
                return -EPERM;
        }
        if ((r = tp_trust_path(dir, TP_TRUST_DIR, geteuid(), why, why_size)) < 0)
                return r;
        return 0;
}

/* The store and its WAL and shared-memory files, where they exist: an
 * existing file someone else could write would let them make up sessions.
 * (The directory they are in was checked with the state directory.) */
static int check_store_files(const char *store_path, char *why, size_t why_size)
{
        static const char *const suffixes[] = { "", "-wal", "-shm" };
        char path[TP_PATH_MAX + 8];
        struct stat st;
        int r;

        for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
                snprintf(path, sizeof(path), "%s%s", store_path, suffixes[i]);
                if (lstat(path, &st) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                if (S_ISLNK(st.st_mode)) {
                        snprintf(why, why_size, "%s is a symbolic link", path);
                        return -EPERM;
                }
                if ((r = tp_trust_path(path, TP_TRUST_FILE, geteuid(), why, why_size)) < 0)
                        return r == -ENOENT ? 0 : r;
        }
        return 0;
}

/* What is wrong with the file system holding dir, when that is what made
 * a write fail: SQLite reports a full disk as an I/O error. "" when
 * nothing is. */
static const char *fs_trouble(const char *dir, char *buf, size_t size)
{
        struct statvfs vfs;

        if (statvfs(dir, &vfs) < 0)
                return "";
        if (vfs.f_flag & ST_RDONLY)
                snprintf(buf, size, " (the file system holding %s is read-only)", dir);
        else if ((geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail) == 0)
                snprintf(buf, size, " (the file system holding %s is full)", dir);
        else
                return "";
        return buf;
}

/* Detach before anything takes a lock: SQLite's POSIX locks belong to the
 * process and a forked child would not hold them. The original process
 * waits on a pipe and exits 0 only once the daemon says it is ready, so a
 * failed start is still reported to whoever ran it. */
static int detach_begin(int *ret_ready_fd)
{
        int p[2];
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid > 0) {
                char c = 1;
                ssize_t n;

                close(p[1]);
                do
                        n = read(p[0], &c, 1);
                while (n < 0 && errno == EINTR);
                _exit(n == 1 && c == 0 ? 0 : 1);
        }
        close(p[0]);
        if (setsid() < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid > 0)
                _exit(0);
        if (chdir("/") < 0)
                return -errno;
        *ret_ready_fd = p[1];
        return 0;
}

static void detach_finish(int ready_fd)
{
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (fd >= 0) {
                dup2(fd, 0);
                dup2(fd, 1);
                dup2(fd, 2);
                if (fd > 2)
                        close(fd);
        }
        (void)!write(ready_fd, "", 1);
        close(ready_fd);
}

/* This host's name in the fleet: host_id from the file, else the machine
 * id (machine-id(5)), which is unique and stable across reboots. */
static int fleet_host_id(struct tp_daemon *d)
{
        char line[128] = "";
        FILE *f;

        if (d->config->host_id[0]) {
                snprintf(d->host_id, sizeof(d->host_id), "%s", d->config->host_id);
                return 0;
        }
        f = fopen("/etc/machine-id", "re");
        if (f) {
                if (!fgets(line, sizeof(line), f))
                        line[0] = '\0';
                fclose(f);
        }
        line[strcspn(line, "\n")] = '\0';
        if (!tp_config_host_id_valid(line)) {
                tp_log(LOG_ERR, "%s: store.backend = \"postgresql\" needs this host's id: set host_id in the file "
                       "(/etc/machine-id is missing or unusable)", d->config->path);
                return -EINVAL;
        }
        snprintf(d->host_id, sizeof(d->host_id), "%s", line);
        return 0;
}

static int open_fleet_store(struct tp_daemon *d)
{
        char why[512] = "";
        int r;

        if ((r = fleet_host_id(d)) < 0)
                return r;
        r = tp_store_pg_open(d->config->store_conninfo, d->host_id, d->hostname, &d->store, why, sizeof(why));
        if (r == -EPROTO)
                tp_log(LOG_ERR, "refusing the fleet's session store (PostgreSQL): %s", why);
        else if (r == -EACCES)
                tp_log(LOG_ERR, "the fleet's session store (PostgreSQL) refused this host: %s. Check the role, "
                       "its passfile (passfile= in store.conninfo, or ~/.pgpass of the daemon's user) or its "
                       "client certificate", why);
        else if (r < 0)
                tp_log(LOG_ERR, "cannot use the fleet's session store (PostgreSQL, store.conninfo in %s): %s",
                       d->config->path, why[0] ? why : strerror(-r));
        else if (r > 0)
                tp_log(LOG_WARNING, "fleet mode: host %s, starting without the fleet's database (%s); sign-ins "
                       "follow each client type's on_store_unreachable until it answers", d->host_id, why);
        else
                tp_log(LOG_INFO, "fleet mode: host %s, sessions in PostgreSQL", d->host_id);
        if (r > 0) {
                d->start_pending = true;
                d->offline_logged = tp_store_offline_since(d->store, NULL, 0);
                r = 0;
        }
        if (r == 0)
                r = tp_offline_start(d);
        return r;
}

int main(int argc, char **argv)
{
        enum { OPT_CHECK = 256, OPT_VERSION, OPT_DEBUG };
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "socket", required_argument, NULL, 's' },
                { "state-dir", required_argument, NULL, 'd' },
                { "pid-file", required_argument, NULL, 'p' },
                { "foreground", no_argument, NULL, 'f' },
                { "debug", no_argument, NULL, OPT_DEBUG },
                { "check-config", required_argument, NULL, OPT_CHECK },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, OPT_VERSION },
                {},
        };
        struct tp_daemon d = { 0 };
        sigset_t stop_signals;
        const char *config = TP_DEFAULT_CONFIG, *sock = TP_DEFAULT_SOCKET, *state = TP_DEFAULT_STATE_DIR;
        const char *pid_arg = NULL, *pid_file = NULL;
        char *pid_abs = NULL;
        char store_path[TP_PATH_MAX], why[TP_MESSAGE_MAX];
        const char *step = "";
        bool foreground = false, debug = false;
        int c, r, listen_fd = -1, ready_fd = -1, ret = 1;
        bool activated = false;

        /* The signing key and every refresh token pass through this
         * process: no core dump of it, and no ptrace or /proc/PID/mem by
         * anyone but root. Before anything secret is loaded. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
                fprintf(stderr, "tokenpolicyd: cannot make the process non-dumpable: %s\n", strerror(errno));
                return 1;
        }

        while ((c = getopt_long(argc, argv, "c:s:d:p:fh", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        config = optarg;
                        break;
                case 's':
                        sock = optarg;
                        break;
                case 'd':
                        state = optarg;
                        break;
                case 'p':
                        pid_arg = optarg;
                        break;
                case 'f':
                        foreground = true;
                        break;
                case OPT_DEBUG:
                        debug = true;
                        break;
                case OPT_CHECK:
                        return check_config(optarg);
                case 'h':
                        usage(stdout);
                        return 0;
                case OPT_VERSION:
                        printf("tokenpolicyd %s\n", TP_VERSION);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "tokenpolicyd: unexpected argument '%s'\n", argv[optind]);
                usage(stderr);
                return 2;
        }

        umask(0077);
        /* The event loop takes SIGHUP, SIGTERM and SIGINT from a signalfd.
         * Block them from the start: one that arrives while the daemon
         * starts then waits for the loop, which stops cleanly (removing its
         * socket and PID file), instead of killing a half-started daemon. */
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGHUP);
        sigaddset(&stop_signals, SIGTERM);
        sigaddset(&stop_signals, SIGINT);
        sigprocmask(SIG_BLOCK, &stop_signals, NULL);
        tp_log_open(true, debug);
        /* Absolute paths: the daemon leaves its working directory when it
         * detaches, and reload must find the same file. */
        d.config_path = absolute_path(config);
        d.socket_path = absolute_path(sock);
        d.state_dir = absolute_path(state);
        pid_file = pid_abs = pid_arg ? absolute_path(pid_arg) : NULL;
        if (!d.config_path || !d.socket_path || !d.state_dir || (pid_arg && !pid_abs)) {
                tp_log(LOG_ERR, "out of memory");
                goto out;
        }
        config = d.config_path;
        sock = d.socket_path;
        state = d.state_dir;
        if (!foreground && (r = detach_begin(&ready_fd)) < 0) {
                tp_log_errno(r, "Failed to detach");
                goto out;
        }
        d.admin_uid = geteuid();
        d.started = (int64_t)time(NULL);
        if (gethostname(d.hostname, sizeof(d.hostname) - 1) < 0)
                snprintf(d.hostname, sizeof(d.hostname), "localhost");

        why[0] = '\0';
        /* Room for the longest name in it: every path below fits. */
        if (strlen(state) + sizeof("/" TP_LAST_GOOD_FILE) > sizeof(store_path) ||
            strlen(state) + sizeof("/" TP_STORE_FILE) > sizeof(store_path)) {
                tp_log(LOG_ERR, "state directory path too long: %s", state);
                goto out;
        }
        if ((r = make_state_dir(state, why, sizeof(why))) < 0) {
                if (r == -EPERM)
                        tp_log(LOG_ERR, "refusing state directory %s: %s. It must be a directory owned by the daemon's user, writable by no one else, in directories that only root or that user can change",
                               state, why);
                else
                        tp_log_errno(r, "Failed to use state directory %s", state);
                goto out;
        }
        /* Once detached, where lines go when there is no syslog socket. */
        tp_log_fallback_dir(state, TP_LOG_FILE_MAX);
        if ((r = tp_conffile_start(&d)) < 0)
                goto out;
        d.config_loaded = d.started;
        if ((r = tp_signer_open_report(state, (int64_t)time(NULL), &d.signer, &step)) < 0) {
                if (r == -EPERM && strncmp(step, "writing", 7) != 0)
                        tp_log(LOG_ERR, "refusing the signing keys in %s: %s must be a regular file readable only by its owner (chmod 0600), and %s/ and the files in it must be owned by the daemon's user and writable by no one else",
                               state, TP_TOKEN_KEY_FILE, TP_TOKEN_KEYS_DIR);
                else if (r == -EBADMSG || r == -E2BIG)
                        tp_log_errno(r, "Failed to read the retained public keys in %s/%s (a damaged record, or more than %d old keys)",
                                     state, TP_TOKEN_KEYS_DIR, TP_SIGNER_RETAINED_MAX);
                else
                        tp_log_errno(r, "Failed at %s in %s", step, state);
                goto out;
        }
        if (d.config->store_backend == TP_STORE_POSTGRESQL) {
                if ((r = open_fleet_store(&d)) < 0)
                        goto out;
        } else {
                snprintf(store_path, sizeof(store_path), "%s/%s", state, TP_STORE_FILE);
                if ((r = check_store_files(store_path, why, sizeof(why))) < 0) {
                        if (r == -EPERM)
                                tp_log(LOG_ERR, "refusing the session store: %s. Its files must be owned by the daemon's user and writable by no one else (chmod 0600)",
                                       why);
                        else
                                tp_log_errno(r, "Failed to examine the session store %s", store_path);
                        goto out;
                }
                if ((r = tp_store_open(store_path, &d.store)) < 0) {
                        if (r == -ENODATA)
                                tp_log(LOG_ERR, "the session store %s is empty (0 bytes): every session and cap it held is lost. Refusing to start rather than begin a new store over it; restore it from a backup, or remove it to start with no sessions",
                                       store_path);
                        else
                                tp_log_errno(r, "Failed to open the session store %s%s", store_path,
                                             fs_trouble(state, why, sizeof(why)));
                        goto out;
                }
        }
        /* A host name longer than a host id is cut: listings only. */
        snprintf(d.display_host, sizeof(d.display_host), "%.*s", (int)sizeof(d.display_host) - 1,
                 d.host_id[0] ? d.host_id : d.hostname);
        tp_conffile_publish(&d);
        tp_fleetkeys_refresh(&d);
        if (tp_boot_start(&d) < 0)
                goto out;
        if ((r = tp_lifecycle_start(&d)) < 0) {
                tp_log_errno(r, "Failed to schedule the expiry of active sessions (%s)",
                             tp_store_errmsg(d.store));
                goto out;
        }
        /* A client type switched off while the daemon was down loses its
         * running sessions now, as at a reload. */
        tp_control_revoke_disabled(&d);
        /* Accounts locked, expired or deleted while the daemon was down
         * lose their sessions now; later changes as they happen. */
        tp_accounts_start(&d);
        tp_accounts_recheck(&d);
        /* Socket activation: systemd holds the socket, so connections made
         * while we restart wait in its queue instead of being refused. */
        r = tp_notify_listen_fd(&listen_fd);
        if (r == -EINVAL || (r < 0 && r != -ENOENT)) {
                tp_log(LOG_ERR, "the socket passed by the service manager is not one listening Unix stream socket");
                goto out;
        }
        activated = r == 0;
        if (!activated && (r = tp_server_listen(sock, &listen_fd)) < 0) {
                if (r == -EADDRINUSE)
                        tp_log(LOG_ERR, "another tokenpolicyd is already answering on %s", sock);
                else
                        tp_log_errno(r, "Failed to listen on %s", sock);
                goto out;
        }
        /* The configuration is now the running one: tell the module which
         * services it covers before the first request is served. */
        tp_mapfile_publish(d.config, sock, state);
        /* For init scripts: the file given, else the default one for the
         * daemon that binds the default socket itself; only the process that
         * holds the socket writes it, before a detached start reports
         * success. */
        if (!pid_file && !activated && strcmp(sock, TP_DEFAULT_SOCKET) == 0)
                pid_file = TP_DEFAULT_PID_FILE;
        if (pid_file && (r = tp_pidfile_write(pid_file)) < 0) {
                tp_log_errno(r, "Failed to write the PID file %s", pid_file);
                if (!activated)
                        unlink(sock);
                goto out;
        }
        if (ready_fd >= 0) {
                detach_finish(ready_fd);
                ready_fd = -1;
                tp_log_open(false, debug);
        }
        tp_log(LOG_INFO, "ready: %zu client types from %s, %s %s", d.config->n_clients, d.config->path,
               activated ? "serving the socket passed by the service manager for" : "listening on", sock);
        r = tp_server_run(&d, listen_fd);
        ret = r < 0 ? 1 : 0;
        if (!activated)
                unlink(sock);
out:
        if (pid_file)
                tp_pidfile_remove(pid_file); /* only if it names this process */
        free(pid_abs);
        if (listen_fd >= 0)
                close(listen_fd);
        tp_accounts_stop(&d);
        tp_lifecycle_stop(&d);
        tp_idle_stop(&d);
        tp_offline_stop(&d);
        tp_store_close(d.store);
        tp_fleetkeys_free(&d);
        tp_signer_free(d.signer);
        tp_config_free(d.config);
        free(d.config_errors);
        free(d.config_path);
        free(d.socket_path);
        free(d.state_dir);
        return ret;
}
