/* SPDX-License-Identifier: BSD-3-Clause */
/* fleetkeys.c: the public signing keys of a fleet (fleetkeys.h).
 *
 * Owns fleet-jwks.json and fleet-keys/ in the state directory and the
 * copy of every host's public keys in memory. Must never: trust a key
 * whose kid is not its own thumbprint, accept a key for a token that names
 * another issuer than the host that published it, or write a file name
 * that is not a key id.
 */
#include "fleetkeys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jose.h"
#include "keyring.h"
#include "log.h"
#include "signer.h"
#include "store.h"

/* The key k stands for, once its kid is proven to be its thumbprint. */
static int pubkey_of(const struct tp_store_key *k, struct tp_pubkey **ret)
{
        uint8_t raw[TP_PUBKEY_RAW_LEN];
        struct tp_pubkey *pk;
        size_t n = 0;
        int r;

        if (!tp_kid_valid(k->kid) || tp_b64url_decode(k->x, strlen(k->x), raw, sizeof(raw), &n) < 0 ||
            n != sizeof(raw))
                return -EBADMSG;
        if ((r = tp_pubkey_from_raw(raw, &pk)) < 0)
                return r;
        if (strcmp(tp_pubkey_kid(pk), k->kid) != 0 || strcmp(tp_pubkey_x(pk), k->x) != 0) {
                tp_pubkey_free(pk);
                return -EBADMSG;
        }
        *ret = pk;
        return 0;
}

static bool in_force(const struct tp_store_key *k, int64_t now)
{
        return k->until == 0 || k->until > now;
}

void tp_fleetkeys_publish(struct tp_daemon *d, bool force)
{
        const struct tp_keyring *kr = tp_signer_keyring(d->signer);
        struct tp_store_key keys[TP_KEYRING_RETAINED_MAX + 1];
        char sig[sizeof(d->fleet_published)] = "";
        const struct tp_pubkey *k;
        int64_t now = (int64_t)time(NULL), until;
        size_t n = 0;
        int r;

        if (!d->host_id[0] || !kr || !tp_keyring_current(kr))
                return;
        memset(keys, 0, sizeof(keys));
        k = tp_keyring_current(kr);
        snprintf(keys[n].kid, sizeof(keys[n].kid), "%s", tp_pubkey_kid(k));
        snprintf(keys[n].x, sizeof(keys[n].x), "%s", tp_pubkey_x(k));
        n++;
        for (size_t i = 0; (k = tp_keyring_retained(kr, i, &until)) && n < TP_KEYRING_RETAINED_MAX + 1; i++) {
                if (until <= now)
                        continue;
                snprintf(keys[n].kid, sizeof(keys[n].kid), "%s", tp_pubkey_kid(k));
                snprintf(keys[n].x, sizeof(keys[n].x), "%s", tp_pubkey_x(k));
                keys[n].until = until;
                n++;
        }
        for (size_t i = 0; i < n; i++)
                snprintf(sig + strlen(sig), sizeof(sig) - strlen(sig), "%s ", keys[i].kid);
        if (!force && strcmp(sig, d->fleet_published) == 0)
                return;
        if ((r = tp_store_publish_keys(d->store, keys, n)) < 0) {
                tp_log_errno(r, "Failed to publish this host's public keys to the fleet (%s); retrying in %d s",
                             tp_store_errmsg(d->store), TP_FLEET_KEYS_REFRESH_MS / 1000);
                d->fleet_published[0] = '\0';
                return;
        }
        snprintf(d->fleet_published, sizeof(d->fleet_published), "%s", sig);
}

/* Write name in dirfd as data, whole or not at all, unless it holds that. */
static int write_file(int dirfd, const char *name, const char *data, size_t len)
{
        char tmp[TP_KID_LEN + 32], old[4096];
        ssize_t got = -1;
        int fd, r = 0;

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
                got = read(fd, old, sizeof(old));
                close(fd);
                if (got == (ssize_t)len && memcmp(old, data, len) == 0)
                        return 0;
        }
        snprintf(tmp, sizeof(tmp), ".%.*s.new", TP_KID_LEN + 16, name);
        (void)unlinkat(dirfd, tmp, 0);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, data, len) != (ssize_t)len)
                r = errno ? -errno : -EIO;
        if (fchmod(fd, 0644) < 0 && r == 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = -errno;
        if (r < 0)
                (void)unlinkat(dirfd, tmp, 0);
        return r;
}

static int write_jwks(struct tp_daemon *d, int statefd, int64_t now)
{
        char *text = NULL;
        size_t len = 0, n = 0;
        FILE *f = open_memstream(&text, &len);
        int r;

        if (!f)
                return -ENOMEM;
        fputs("{\"keys\":[", f);
        for (size_t i = 0; i < d->n_fleet_keys; i++) {
                const struct tp_store_key *k = &d->fleet_keys[i];
                struct tp_pubkey *pk;

                if (!in_force(k, now) || pubkey_of(k, &pk) < 0)
                        continue;
                tp_pubkey_free(pk);
                /* kid and x are base64url, proven above: nothing to escape. */
                fprintf(f, "%s{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"%s\","
                        "\"alg\":\"EdDSA\",\"use\":\"sig\"}", n++ ? "," : "", k->x, k->kid);
        }
        fputs("]}\n", f);
        if (fclose(f) != 0) {
                free(text);
                return -ENOMEM;
        }
        r = write_file(statefd, TP_FLEET_JWKS_FILE, text, len);
        free(text);
        return r;
}

/* fleet-keys/<kid> for every key of another host in force; no other file. */
static int write_key_files(struct tp_daemon *d, int statefd, int64_t now)
{
        char text[2 * TP_STORE_KEY_TEXT_MAX + TP_HOST_NAME_MAX + 4];
        struct dirent *de;
        DIR *dir;
        int dirfd, r = 0;

        /* 0755 whatever the umask: verifiers run as any user. */
        if (mkdirat(statefd, TP_FLEET_KEYS_DIR, 0755) == 0) {
                if (fchmodat(statefd, TP_FLEET_KEYS_DIR, 0755, 0) < 0)
                        return -errno;
        } else if (errno != EEXIST) {
                return -errno;
        }
        dirfd = openat(statefd, TP_FLEET_KEYS_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dirfd < 0)
                return -errno;
        for (size_t i = 0; i < d->n_fleet_keys; i++) {
                const struct tp_store_key *k = &d->fleet_keys[i];
                struct tp_pubkey *pk;
                int w;

                if (strcmp(k->host, d->host_id) == 0 || !in_force(k, now) || strchr(k->name, '\n') ||
                    pubkey_of(k, &pk) < 0)
                        continue;
                tp_pubkey_free(pk);
                snprintf(text, sizeof(text), "%s\n%s\n", k->x, k->name);
                if ((w = write_file(dirfd, k->kid, text, strlen(text))) < 0 && r == 0)
                        r = w;
        }
        dir = fdopendir(dup(dirfd));
        while (dir && (de = readdir(dir))) {
                bool keep = false;

                if (de->d_name[0] == '.')
                        continue;
                for (size_t i = 0; i < d->n_fleet_keys && !keep; i++)
                        keep = strcmp(d->fleet_keys[i].kid, de->d_name) == 0 &&
                               strcmp(d->fleet_keys[i].host, d->host_id) != 0 && in_force(&d->fleet_keys[i], now);
                if (!keep)
                        (void)unlinkat(dirfd, de->d_name, 0);
        }
        if (dir)
                closedir(dir);
        close(dirfd);
        return r;
}

void tp_fleetkeys_refresh(struct tp_daemon *d)
{
        struct tp_store_key *keys = NULL;
        int64_t now = (int64_t)time(NULL);
        size_t n = 0;
        int statefd, r;

        if (!d->host_id[0])
                return;
        tp_fleetkeys_publish(d, false);
        if ((r = tp_store_fleet_keys(d->store, &keys, &n)) < 0) {
                tp_log_errno(r, "Failed to read the fleet's public keys (%s); using those read before",
                             tp_store_errmsg(d->store));
                return;
        }
        free(d->fleet_keys);
        d->fleet_keys = keys;
        d->n_fleet_keys = n;
        statefd = open(d->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (statefd < 0) {
                tp_log_errno(-errno, "Failed to open %s to write the fleet's keys", d->state_dir);
                return;
        }
        if ((r = write_jwks(d, statefd, now)) < 0)
                tp_log_errno(r, "Failed to write %s/%s", d->state_dir, TP_FLEET_JWKS_FILE);
        if ((r = write_key_files(d, statefd, now)) < 0)
                tp_log_errno(r, "Failed to write the fleet's keys in %s/%s", d->state_dir, TP_FLEET_KEYS_DIR);
        close(statefd);
}

int tp_fleetkeys_verify(struct tp_daemon *d, const char *token, int64_t now, struct tp_jwt_claims *ret)
{
        char kid[TP_JWT_KID_MAX];
        int r;

        if ((r = tp_jwt_kid(token, kid)) < 0)
                return r;
        for (size_t i = 0; i < d->n_fleet_keys; i++) {
                const struct tp_store_key *k = &d->fleet_keys[i];
                struct tp_jwt_claims claims;
                struct tp_keyring *kr;
                struct tp_pubkey *pk;

                if (strcmp(k->kid, kid) != 0 || strcmp(k->host, d->host_id) == 0 || !in_force(k, now))
                        continue;
                if ((r = pubkey_of(k, &pk)) < 0)
                        continue;
                if ((r = tp_keyring_new(&kr)) < 0) {
                        tp_pubkey_free(pk);
                        return r;
                }
                tp_keyring_set_current(kr, pk);
                r = tp_jwt_verify(kr, token, now, &claims);
                tp_keyring_free(kr);
                if (r == 0 && strcmp(claims.iss, k->name) != 0)
                        r = -EACCES;
                if (r == 0)
                        *ret = claims;
                return r;
        }
        return -ENOKEY;
}

void tp_fleetkeys_free(struct tp_daemon *d)
{
        free(d->fleet_keys);
        d->fleet_keys = NULL;
        d->n_fleet_keys = 0;
}
