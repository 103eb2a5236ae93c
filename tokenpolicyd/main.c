/* main.c: tokenpolicyd's command line, start-up and shutdown.
 *
 * Start-up order matters: everything that can fail for a reason the
 * administrator must fix (config, state directory, key, store, socket) is
 * done and reported before the daemon detaches, so a failed start never
 * looks like a successful one.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: tokenpolicyd [--config FILE] [--socket PATH] [--state-dir DIR] [--foreground] [--debug]\n"
                "       tokenpolicyd --check-config FILE\n"
                "\n"
                "The tokenpolicy policy daemon: decides sign-ins for pam_tokenpolicy, keeps\n"
                "the durable session store and mints tokens.\n"
                "\n"
                "  -c, --config FILE        configuration (default %s)\n"
                "  -s, --socket PATH        listening socket (default %s)\n"
                "  -d, --state-dir DIR      sessions, signing key, JWKS (default %s)\n"
                "  -f, --foreground         stay in the foreground and log to stderr\n"
                "      --debug              log debug messages\n"
                "      --check-config FILE  validate FILE, print every error, exit 0 or 1\n"
                "  -h, --help               show this help\n"
                "      --version            show the version\n",
                TP_DEFAULT_CONFIG, TP_DEFAULT_SOCKET, TP_DEFAULT_STATE_DIR);
}

static int check_config(const char *path)
{
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = NULL;
        int r;

        r = tp_config_load_file(path, &c, &errs);
        for (size_t i = 0; i < errs.n; i++)
                fprintf(stderr, "%s\n", errs.messages[i]);
        if (r < 0 && errs.n == 0)
                fprintf(stderr, "%s: %s\n", path, strerror(-r));
        if (r >= 0)
                printf("%s: valid (%zu client types)\n", path, c->n_clients);
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

static int make_state_dir(const char *dir)
{
        struct stat st;

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
        if (st.st_uid != geteuid() || (st.st_mode & 022) != 0)
                return -EPERM;
        return 0;
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

int main(int argc, char **argv)
{
        enum { OPT_CHECK = 256, OPT_VERSION, OPT_DEBUG };
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "socket", required_argument, NULL, 's' },
                { "state-dir", required_argument, NULL, 'd' },
                { "foreground", no_argument, NULL, 'f' },
                { "debug", no_argument, NULL, OPT_DEBUG },
                { "check-config", required_argument, NULL, OPT_CHECK },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, OPT_VERSION },
                {},
        };
        struct tp_daemon d = { 0 };
        struct tp_config_errors errs = { 0 };
        const char *config = TP_DEFAULT_CONFIG, *sock = TP_DEFAULT_SOCKET, *state = TP_DEFAULT_STATE_DIR;
        char store_path[TP_PATH_MAX];
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

        while ((c = getopt_long(argc, argv, "c:s:d:fh", opts, NULL)) != -1) {
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
        tp_log_open(true, debug);
        /* Absolute paths: the daemon leaves its working directory when it
         * detaches, and reload must find the same file. */
        d.config_path = absolute_path(config);
        d.socket_path = absolute_path(sock);
        d.state_dir = absolute_path(state);
        if (!d.config_path || !d.socket_path || !d.state_dir) {
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

        r = tp_config_load_file(config, &d.config, &errs);
        if (r < 0) {
                for (size_t i = 0; i < errs.n; i++)
                        fprintf(stderr, "%s\n", errs.messages[i]);
                if (errs.n == 0)
                        tp_log_errno(r, "Failed to read %s", config);
                tp_log(LOG_ERR, "refusing to start with an invalid configuration; check it with 'tokenpolicyd --check-config %s'",
                       config);
                goto out;
        }
        d.config_loaded = d.started;
        if ((r = make_state_dir(state)) < 0) {
                tp_log_errno(r, "Failed to use state directory %s (must be a directory owned by the daemon's user, writable by no one else)",
                             state);
                goto out;
        }
        if ((r = tp_signer_open(state, &d.signer)) < 0) {
                if (r == -EPERM)
                        tp_log(LOG_ERR, "refusing the signing keys in %s: %s must be a regular file readable only by its owner (chmod 0600), and %s/ and the files in it must be owned by the daemon's user and writable by no one else",
                               state, TP_TOKEN_KEY_FILE, TP_TOKEN_KEYS_DIR);
                else if (r == -EBADMSG || r == -E2BIG)
                        tp_log_errno(r, "Failed to read the retained public keys in %s/%s (a damaged record, or more than %d old keys)",
                                     state, TP_TOKEN_KEYS_DIR, TP_SIGNER_RETAINED_MAX);
                else
                        tp_log_errno(r, "Failed to load or create the signing key in %s", state);
                goto out;
        }
        snprintf(store_path, sizeof(store_path), "%s/%s", state, TP_STORE_FILE);
        if ((r = tp_store_open(store_path, &d.store)) < 0) {
                if (r == -ENODATA)
                        tp_log(LOG_ERR, "the session store %s is empty (0 bytes): every session and cap it held is lost. Refusing to start rather than begin a new store over it; restore it from a backup, or remove it to start with no sessions",
                               store_path);
                else
                        tp_log_errno(r, "Failed to open the session store %s", store_path);
                goto out;
        }
        if (tp_boot_start(&d) < 0)
                goto out;
        if ((r = tp_lifecycle_start(&d)) < 0) {
                tp_log_errno(r, "Failed to schedule the expiry of active sessions (%s)",
                             tp_store_errmsg(d.store));
                goto out;
        }
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
        if (ready_fd >= 0) {
                detach_finish(ready_fd);
                ready_fd = -1;
                tp_log_open(false, debug);
        }
        tp_log(LOG_INFO, "ready: %zu client types from %s, %s %s", d.config->n_clients, config,
               activated ? "serving the socket passed by the service manager for" : "listening on", sock);
        r = tp_server_run(&d, listen_fd);
        ret = r < 0 ? 1 : 0;
        if (!activated)
                unlink(sock);
out:
        if (listen_fd >= 0)
                close(listen_fd);
        tp_config_errors_clear(&errs);
        tp_lifecycle_stop(&d);
        tp_store_close(d.store);
        tp_signer_free(d.signer);
        tp_config_free(d.config);
        free(d.config_path);
        free(d.socket_path);
        free(d.state_dir);
        return ret;
}
