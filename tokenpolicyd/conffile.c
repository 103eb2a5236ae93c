/* SPDX-License-Identifier: BSD-3-Clause */
/* conffile.c: the configuration file as the daemon reads it, at start and
 * at reload: the trust checks on the file and the directories leading to
 * it, the last valid configuration kept in the state directory, and what
 * the daemon serves when the file cannot be used.
 *
 * A file that fails at start (missing, unreadable, not trusted, invalid)
 * does not stop the daemon when a configuration was valid before: it serves
 * that one and says so loudly (log, audit, status, the service manager's
 * status line) until a reload succeeds. A reload that fails keeps the
 * running policy, as always. Must never: read a configuration that someone
 * other than root (or the daemon's own user) could have written or put in
 * place, refuse to start while a valid configuration is known, or serve
 * something other than the file without saying so.
 */
#include "conffile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "mapfile.h"
#include "trust.h"

__attribute__((format(printf, 2, 3)))
static void errors_add(struct tp_config_errors *errs, const char *fmt, ...)
{
        char *msg = NULL, **grown;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        grown = realloc(errs->messages, (errs->n + 1) * sizeof(*grown));
        if (!grown) {
                free(msg);
                return;
        }
        errs->messages = grown;
        errs->messages[errs->n++] = msg;
}

int tp_conffile_trust(const char *path, uid_t owner, char *msg, size_t msg_size)
{
        char why[512];
        int r;

        r = tp_trust_path(path, TP_TRUST_FILE, owner, why, sizeof(why));
        if (r == -EPERM)
                snprintf(msg, msg_size,
                         "%s: refusing to read it: %s. It must be owned by root%s and writable by no one else, in directories that only root%s can change",
                         path, why, owner ? " (or the daemon's user)" : "", owner ? " (or the daemon's user)" : "");
        else if (r < 0)
                snprintf(msg, msg_size, "%s: cannot open: %s", path, strerror(-r));
        return r;
}

int tp_conffile_load(const char *path, uid_t owner, struct tp_config **ret, struct tp_config_errors *errs)
{
        char msg[TP_MESSAGE_MAX];
        int r;

        if ((r = tp_conffile_trust(path, owner, msg, sizeof(msg))) < 0) {
                errors_add(errs, "%s", msg);
                return r;
        }
        return tp_config_load_file(path, ret, errs);
}

static void last_good_path(const struct tp_daemon *d, char out[TP_PATH_MAX])
{
        if (snprintf(out, TP_PATH_MAX, "%s/%s", d->state_dir, TP_LAST_GOOD_FILE) >= TP_PATH_MAX)
                out[0] = '\0'; /* main() refuses a state directory this long */
}

/* True when name in dirfd already is a regular 0600 file holding exactly
 * data: a start that changes nothing writes nothing. */
static bool file_holds(int dirfd, const char *name, const char *data, size_t len)
{
        struct stat st;
        bool same = false;
        char *buf = NULL;
        ssize_t n;
        int fd;

        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return false;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 &&
            st.st_size == (off_t)len && (buf = malloc(len + 1))) {
                size_t got = 0;

                /* One byte more than expected tells a file that grew. */
                while (got < len + 1 && (n = read(fd, buf + got, len + 1 - got)) > 0)
                        got += (size_t)n;
                same = got == len && memcmp(buf, data, len) == 0;
        }
        free(buf);
        close(fd);
        return same;
}

static int write_all(int fd, const char *data, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, data, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                data += n;
                len -= (size_t)n;
        }
        return 0;
}

/* The text of a valid configuration as the state directory's last valid
 * one: a new 0600 file, synced, renamed over the old one, the directory
 * synced; a reader sees the old copy or the new one whole. Nothing is
 * written when the copy already holds this text. */
static int save_last_good(const struct tp_daemon *d, const struct tp_config *c)
{
        char tmp[64];
        uint64_t rnd;
        int dirfd, fd = -1, r;

        dirfd = open(d->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -errno;
        if (file_holds(dirfd, TP_LAST_GOOD_FILE, c->text, c->text_len)) {
                r = 0;
                goto out;
        }
        if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd)) {
                r = -EIO;
                goto out;
        }
        snprintf(tmp, sizeof(tmp), "." TP_LAST_GOOD_FILE ".%016llx", (unsigned long long)rnd);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
                r = -errno;
                goto out;
        }
        if (fchmod(fd, 0600) < 0) {
                r = -errno;
                goto fail;
        }
        if ((r = write_all(fd, c->text, c->text_len)) < 0)
                goto fail;
        if (fsync(fd) < 0 || close(fd) < 0) {
                fd = -1;
                r = -errno;
                goto fail;
        }
        fd = -1;
        if (renameat(dirfd, tmp, dirfd, TP_LAST_GOOD_FILE) < 0) {
                r = -errno;
                goto fail;
        }
        r = fsync(dirfd) < 0 ? -errno : 0;
        goto out;
fail:
        if (fd >= 0)
                close(fd);
        unlinkat(dirfd, tmp, 0);
out:
        close(dirfd);
        return r;
}

/* After every valid load of the file: keep it as the last valid one. A
 * failure leaves the older copy (or none) for a later start to fall back
 * on: worth a warning, not a refusal to serve. */
static void keep_last_good(const struct tp_daemon *d)
{
        char path[TP_PATH_MAX];
        int r;

        if ((r = save_last_good(d, d->config)) < 0) {
                last_good_path(d, path);
                tp_log(LOG_WARNING, "Cannot save the configuration as the last valid one in %s: %s; should %s become unusable, a start would fall back to an older copy or refuse to start",
                       path, strerror(-r), d->config_path);
        }
}

/* The errors that keep the file out of force, one per line, for status. */
static void remember_errors(struct tp_daemon *d, const struct tp_config_errors *errs)
{
        size_t pos = 0, cap = TP_MESSAGE_MAX;
        char *text = malloc(cap);

        if (!text)
                return;
        text[0] = '\0';
        for (size_t i = 0; i < errs->n && pos + 1 < cap; i++) {
                int w = snprintf(text + pos, cap - pos, "%s%s", i ? "\n" : "", errs->messages[i]);

                if (w < 0)
                        break;
                pos = (size_t)w < cap - pos ? pos + (size_t)w : cap - 1;
        }
        free(d->config_errors);
        d->config_errors = text;
}

static void log_errors(const struct tp_config_errors *errs)
{
        for (size_t i = 0; i < errs->n; i++)
                tp_log(LOG_ERR, "%s", errs->messages[i]);
}

/* ---- what the fleet sees of this host's configuration ---------------- */

static int by_name(const void *a, const void *b)
{
        return strcmp(((const struct tp_client_config *const *)a)[0]->name,
                      ((const struct tp_client_config *const *)b)[0]->name);
}

int tp_conffile_policy_digest(const struct tp_config *c, char out[TP_DIGEST_HEX_MAX])
{
        const struct tp_client_config *sorted[TP_POLICY_CLIENTS_MAX];
        uint8_t digest[TP_DIGEST_LEN];
        char *text = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        if (c->n_clients > TP_POLICY_CLIENTS_MAX)
                return -E2BIG;
        f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        /* What a sign-in gets, one line a client type in name order: the
         * same policy written in another order or with other comments has
         * the same digest. */
        fprintf(f, "custom_token_policy=%d unknown_client=%s\n", c->custom_token_policy,
                c->unknown_client < 0 ? "deny" : c->clients[c->unknown_client].name);
        for (size_t i = 0; i < c->n_clients; i++)
                sorted[i] = &c->clients[i];
        qsort(sorted, c->n_clients, sizeof(sorted[0]), by_name);
        for (size_t i = 0; i < c->n_clients; i++) {
                struct tp_effective_policy p;

                tp_config_effective(c, sorted[i], &p);
                fprintf(f, "%s access=%d auto_extend=%d refresh=%u access_ttl=%u max=%u evict=%s "
                        "on_expiry=%s on_revoke=%s services=", sorted[i]->name, p.access, p.auto_extend,
                        p.refresh_ttl_hours, p.access_ttl_minutes, p.max_refresh_tokens,
                        tp_evict_name(p.evict), tp_action_name(p.on_expiry), tp_action_name(p.on_revoke));
                for (size_t k = 0; k < sorted[i]->n_services; k++)
                        fprintf(f, "%s%s", k ? "," : "", sorted[i]->services[k]);
                fputc('\n', f);
        }
        if (fclose(f) != 0) {
                free(text);
                return -ENOMEM;
        }
        r = tp_sha256(text, len, digest);
        free(text);
        if (r < 0)
                return r;
        for (size_t i = 0; i < TP_DIGEST_LEN; i++)
                snprintf(out + 2 * i, 3, "%02x", digest[i]);
        return 0;
}

void tp_conffile_publish(struct tp_daemon *d)
{
        char digest[TP_DIGEST_HEX_MAX] = "";
        int r;

        if (!d->host_id[0])
                return; /* one host: nobody to tell */
        if ((r = tp_conffile_policy_digest(d->config, digest)) < 0) {
                tp_log_errno(r, "Failed to compute the digest of the policy in force");
                return;
        }
        if ((r = tp_store_publish_host(d->store, digest)) < 0)
                tp_log_errno(r, "Failed to publish this host's policy digest to the fleet (%s); "
                             "publishing again at the next reload or restart", tp_store_errmsg(d->store));
}

int tp_conffile_start(struct tp_daemon *d)
{
        struct tp_config_errors errs = { 0 }, last_errs = { 0 };
        struct tp_config *c = NULL;
        char last[TP_PATH_MAX], saved[64] = "an unknown time", reason[TP_PATH_MAX * 2 + 64];
        struct stat st;
        struct tm tm;
        int r, r_last;

        r = tp_conffile_load(d->config_path, d->admin_uid, &c, &errs);
        if (r == 0) {
                d->config = c;
                d->config_state = TP_CONFIG_LOADED;
                keep_last_good(d);
                goto out;
        }
        log_errors(&errs);
        last_good_path(d, last);
        r_last = tp_conffile_load(last, d->admin_uid, &c, &last_errs);
        if (r_last == -ENOENT) {
                tp_log(LOG_ERR, "refusing to start: %s cannot be used and no configuration was ever valid here (there is no %s); check the file with 'tokenpolicyd --check-config %s'",
                       d->config_path, last, d->config_path);
                goto out;
        }
        if (r_last < 0) {
                log_errors(&last_errs);
                tp_log(LOG_ERR, "refusing to start: neither %s nor the last valid configuration %s can be used",
                       d->config_path, last);
                r = r_last;
                goto out;
        }
        d->config = c;
        d->config_state = TP_CONFIG_LAST_GOOD;
        remember_errors(d, &errs);
        if (stat(last, &st) == 0 && gmtime_r(&st.st_mtime, &tm))
                strftime(saved, sizeof(saved), "%Y-%m-%d %H:%M:%S UTC", &tm);
        tp_log(LOG_CRIT, "%s cannot be used: serving the last valid configuration instead, %s (valid since %s). Fix the file, check it with 'tokenpolicyd --check-config %s' and run 'tokenpolicyctl reload'",
               d->config_path, last, saved, d->config_path);
        snprintf(reason, sizeof(reason), "%s cannot be used at start; serving the last valid configuration %s",
                 d->config_path, last);
        tp_audit(&(struct tp_audit){ .event = "config-error", .reason = reason, .peer_uid = -1 });
        r = 0;
out:
        tp_config_errors_clear(&errs);
        tp_config_errors_clear(&last_errs);
        return r;
}

int tp_conffile_reload(struct tp_daemon *d, struct tp_config_errors *errs)
{
        struct tp_config *c = NULL;
        int r;

        r = tp_conffile_load(d->config_path, d->admin_uid, &c, errs);
        if (r < 0) {
                log_errors(errs);
                /* Serving the last valid copy stays the louder state. */
                if (d->config_state != TP_CONFIG_LAST_GOOD)
                        d->config_state = TP_CONFIG_RELOAD_FAILED;
                remember_errors(d, errs);
                tp_audit(&(struct tp_audit){ .event = "config-error", .reason = "reload rejected; running policy kept",
                                             .peer_uid = -1 });
                return r;
        }
        /* Where the sessions are is chosen at start: a reload that moves it
         * would leave the running sessions behind. */
        if (c->store_backend != d->config->store_backend ||
            strcmp(c->store_conninfo, d->config->store_conninfo) != 0 ||
            strcmp(c->host_id, d->config->host_id) != 0)
                tp_log(LOG_WARNING, "%s: store.backend, store.conninfo and host_id changed; they take effect "
                       "when tokenpolicyd restarts, and the running store stays in use until then",
                       d->config_path);
        tp_config_free(d->config);
        d->config = c;
        d->config_loaded = (int64_t)time(NULL);
        d->config_state = TP_CONFIG_LOADED;
        free(d->config_errors);
        d->config_errors = NULL;
        keep_last_good(d);
        tp_mapfile_publish(d->config, d->socket_path, d->state_dir);
        tp_conffile_publish(d);
        tp_audit(&(struct tp_audit){ .event = "reload", .reason = d->config_path, .peer_uid = -1 });
        return 0;
}
