/* SPDX-License-Identifier: BSD-3-Clause */
/* test_keyring.c: unit tests for the public keyring (shared/keyring.c):
 * kids, public keys from files, the keys a keyring holds and the one it
 * chooses for a kid, the retained keys' records, and what a state
 * directory publishes as a reader that does not own it sees it
 * (tokenpolicyctl verify). Keys are made here through OpenSSL directly,
 * and kids are computed here from RFC 7638 independently of the code under
 * test. Must never print outside cmocka, and removes every directory it
 * creates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "keyring.h"
#include "tokentest.h"

/* The RFC 7638 thumbprint of pkey, and its JWK "x", computed here. */
static void thumbprint(EVP_PKEY *pkey, char kid[TP_KID_LEN + 1], char x[TP_KID_LEN + 1])
{
        unsigned char raw[32], digest[32];
        size_t rawlen = sizeof(raw);
        char in[256], xx[64], k[64];
        unsigned int mdlen;

        assert_int_equal(EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen), 1);
        b64url(raw, rawlen, xx);
        CONCAT(in, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"", xx, "\"}");
        assert_int_equal(EVP_Digest(in, strlen(in), digest, &mdlen, EVP_sha256(), NULL), 1);
        b64url(digest, sizeof(digest), k);
        assert_int_equal(strlen(k), TP_KID_LEN);
        strcpy(kid, k);
        if (x)
                strcpy(x, xx);
}

/* A public key made here, in dir/name (a PEM file), loaded as any reader. */
static struct tp_pubkey *pubkey_new(const char *dir, const char *name, char kid[TP_KID_LEN + 1])
{
        struct tp_pubkey *k = NULL;
        char path[PATH_MAX];
        EVP_PKEY *pkey;

        path_in(path, dir, name);
        pkey = key_new(path, NULL);
        thumbprint(pkey, kid, NULL);
        EVP_PKEY_free(pkey);
        assert_int_equal(tp_pubkey_load(AT_FDCWD, path, false, &k), 0);
        assert_string_equal(tp_pubkey_kid(k), kid);
        return k;
}

static void test_kid_valid(void **state)
{
        char kid[64];

        (void)state;
        memset(kid, 'A', 43);
        kid[43] = '\0';
        assert_true(tp_kid_valid(kid));
        kid[0] = '-';
        kid[42] = '_';
        assert_true(tp_kid_valid(kid));
        kid[42] = '\0';
        assert_false(tp_kid_valid(kid)); /* 42 */
        kid[42] = 'A';
        kid[43] = 'A';
        kid[44] = '\0';
        assert_false(tp_kid_valid(kid)); /* 44 */
        kid[43] = '\0';
        for (const char *bad = "/.=+ \n%"; *bad; bad++) {
                kid[10] = *bad;
                assert_false(tp_kid_valid(kid));
        }
        assert_false(tp_kid_valid(""));
        assert_false(tp_kid_valid(".."));
        assert_false(tp_kid_valid(NULL));
}

/* A key's kid is its RFC 7638 thumbprint, however it was read. */
static void test_pubkey_kid_is_thumbprint(void **state)
{
        char dir[PATH_MAX], path[PATH_MAX], kid[TP_KID_LEN + 1], x[TP_KID_LEN + 1], got[TP_KID_LEN + 1];
        unsigned char raw[32];
        size_t rawlen = sizeof(raw);
        struct tp_pubkey *a = NULL, *b = NULL;
        EVP_PKEY *pkey;

        (void)state;
        make_tmpdir(dir);
        path_in(path, dir, "k.pem");
        pkey = key_new(path, NULL);
        thumbprint(pkey, kid, x);
        assert_int_equal(tp_pubkey_load(AT_FDCWD, path, false, &a), 0);
        assert_string_equal(tp_pubkey_kid(a), kid);
        assert_string_equal(tp_pubkey_x(a), x);
        assert_int_equal(EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen), 1);
        assert_int_equal(tp_pubkey_from_raw(raw, &b), 0);
        assert_string_equal(tp_pubkey_kid(b), kid);
        assert_string_equal(tp_pubkey_x(b), x);
        assert_int_equal(tp_pubkey_pem_kid(path, got), 0);
        assert_string_equal(got, kid);
        tp_pubkey_free(a);
        tp_pubkey_free(b);
        EVP_PKEY_free(pkey);
        remove_tree(dir);
}

/* As any reader: symlinks followed, any regular file; as the owner of
 * keys/: no symlink, ours, writable by nobody else. */
static void test_pubkey_load_rules(void **state)
{
        char dir[PATH_MAX], path[PATH_MAX], link[PATH_MAX], kid[TP_KID_LEN + 1];
        struct tp_pubkey *k = NULL;
        EVP_PKEY *pkey;
        FILE *fp;
        int dirfd;

        (void)state;
        make_tmpdir(dir);
        assert_true((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0);
        tp_pubkey_free(pubkey_new(dir, "k.pem", kid));
        path_in(path, dir, "k.pem");
        path_in(link, dir, "link.pem");
        assert_int_equal(symlink(path, link), 0);
        assert_int_equal(tp_pubkey_load(dirfd, "link.pem", false, &k), 0);
        tp_pubkey_free(k);
        k = NULL;
        assert_int_equal(tp_pubkey_load(dirfd, "link.pem", true, &k), -EPERM);
        assert_int_equal(chmod(path, 0644), 0);
        assert_int_equal(tp_pubkey_load(dirfd, "k.pem", true, &k), 0);
        tp_pubkey_free(k);
        k = NULL;
        assert_int_equal(chmod(path, 0664), 0);
        assert_int_equal(tp_pubkey_load(dirfd, "k.pem", true, &k), -EPERM);
        assert_int_equal(chmod(path, 0646), 0);
        assert_int_equal(tp_pubkey_load(dirfd, "k.pem", true, &k), -EPERM);
        assert_int_equal(tp_pubkey_load(dirfd, "k.pem", false, &k), 0);
        tp_pubkey_free(k);
        k = NULL;
        if (geteuid() == 0) {
                assert_int_equal(chmod(path, 0644), 0);
                assert_int_equal(chown(path, 1, (gid_t)-1), 0);
                assert_int_equal(tp_pubkey_load(dirfd, "k.pem", true, &k), -EPERM);
                assert_int_equal(tp_pubkey_load(dirfd, "k.pem", false, &k), 0);
                tp_pubkey_free(k);
                k = NULL;
        }

        /* Not a key file, another type of key, nothing at all. */
        assert_int_equal(tp_pubkey_load(AT_FDCWD, dir, false, &k), -EINVAL);
        assert_int_equal(tp_pubkey_load(dirfd, "missing.pem", false, &k), -ENOENT);
        write_text(path, "not a key\n", 0644);
        assert_int_equal(tp_pubkey_load(dirfd, "k.pem", false, &k), -EINVAL);
        assert_non_null(pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
        assert_non_null(fp = fopen(path, "we"));
        assert_int_equal(PEM_write_PUBKEY(fp, pkey), 1);
        fclose(fp);
        EVP_PKEY_free(pkey);
        assert_int_equal(tp_pubkey_load(dirfd, "k.pem", false, &k), -EINVAL);
        assert_int_equal(tp_pubkey_pem_kid(path, kid), -EINVAL);
        assert_null(k);
        close(dirfd);
        remove_tree(dir);
}

/* Retained keys in order, latest end first (ties by kid); the key chosen
 * for a kid; the limits. */
static void test_keyring_holds_and_chooses(void **state)
{
        char dir[PATH_MAX], path[PATH_MAX], name[32], cur_kid[TP_KID_LEN + 1];
        char kids[TP_KEYRING_RETAINED_MAX + 2][TP_KID_LEN + 1];
        struct tp_pubkey *cur, *k, *extra, *next;
        struct tp_keyring *kr = NULL;
        int64_t until;
        size_t i;

        (void)state;
        make_tmpdir(dir);
        assert_int_equal(tp_keyring_new(&kr), 0);
        assert_null(tp_keyring_current(kr));
        assert_null(tp_keyring_find(kr, "", NOW));
        cur = pubkey_new(dir, "cur.pem", cur_kid);
        tp_keyring_set_current(kr, cur);
        assert_ptr_equal(tp_keyring_current(kr), cur);
        assert_ptr_equal(tp_keyring_find(kr, "", NOW), cur);
        assert_ptr_equal(tp_keyring_find(kr, cur_kid, NOW), cur);

        for (i = 0; i < TP_KEYRING_RETAINED_MAX; i++) {
                snprintf(name, sizeof(name), "k%zu.pem", i);
                k = pubkey_new(dir, name, kids[i]);
                /* Two keys per end time: the kid breaks the tie. */
                assert_int_equal(tp_keyring_retain(kr, k, NOW + 100 + (int64_t)(i / 2)), 0);
        }
        assert_int_equal(tp_keyring_n_retained(kr), TP_KEYRING_RETAINED_MAX);
        for (i = 1; i < TP_KEYRING_RETAINED_MAX; i++) {
                int64_t a, b;
                const struct tp_pubkey *x = tp_keyring_retained(kr, i - 1, &a), *y = tp_keyring_retained(kr, i, &b);

                assert_true(a > b || (a == b && strcmp(tp_pubkey_kid(x), tp_pubkey_kid(y)) < 0));
        }
        assert_null(tp_keyring_retained(kr, TP_KEYRING_RETAINED_MAX, &until));
        extra = pubkey_new(dir, "extra.pem", kids[TP_KEYRING_RETAINED_MAX]);
        assert_int_equal(tp_keyring_retain(kr, extra, NOW + 1000), -E2BIG);
        next = pubkey_new(dir, "next.pem", kids[TP_KEYRING_RETAINED_MAX + 1]);
        assert_int_equal(tp_keyring_rotate(kr, next, NOW + 1000), -ENOSPC);
        assert_ptr_equal(tp_keyring_current(kr), cur);

        /* A retained key until its time, not a second longer; a kid held
         * twice is refused. */
        k = (struct tp_pubkey *)tp_keyring_find_retained(kr, kids[0]);
        assert_non_null(k);
        assert_ptr_equal(tp_keyring_find(kr, kids[0], NOW + 99), k);
        assert_null(tp_keyring_find(kr, kids[0], NOW + 100));
        assert_null(tp_keyring_find(kr, "unknown", NOW));
        assert_true(tp_keyring_drop(kr, kids[0]));
        assert_false(tp_keyring_drop(kr, kids[0]));
        assert_null(tp_keyring_find(kr, kids[0], NOW));
        assert_null(tp_keyring_find_retained(kr, kids[0]));
        assert_int_equal(tp_keyring_n_retained(kr), TP_KEYRING_RETAINED_MAX - 1);
        path_in(path, dir, "k1.pem");
        assert_int_equal(tp_pubkey_load(AT_FDCWD, path, false, &k), 0);
        assert_string_equal(tp_pubkey_kid(k), kids[1]);
        assert_int_equal(tp_keyring_retain(kr, k, NOW), -EEXIST);
        tp_pubkey_free(k);

        /* Rotation: the current key is retained, the next one is current. */
        assert_int_equal(tp_keyring_rotate(kr, next, NOW + 5000), 0);
        assert_ptr_equal(tp_keyring_current(kr), next);
        assert_ptr_equal(tp_keyring_retained(kr, 0, &until), cur);
        assert_int_equal(until, NOW + 5000);
        assert_ptr_equal(tp_keyring_find(kr, cur_kid, NOW), cur);
        assert_ptr_equal(tp_keyring_find(kr, "", NOW), next);
        tp_pubkey_free(extra);
        tp_keyring_free(kr);
        remove_tree(dir);

        /* Nothing to retain without a current key. */
        make_tmpdir(dir);
        assert_int_equal(tp_keyring_new(&kr), 0);
        next = pubkey_new(dir, "next.pem", kids[0]);
        assert_int_equal(tp_keyring_rotate(kr, next, NOW), -EINVAL);
        assert_null(tp_keyring_current(kr));
        tp_pubkey_free(next);
        tp_keyring_free(kr);
        remove_tree(dir);
}

/* ---- the retained keys' files ------------------------------------------ */

/* A new state directory in dir with an empty keys/ (its path in keys),
 * opened. */
static int keys_dir_new(char dir[PATH_MAX], char keys[PATH_MAX])
{
        int fd;

        make_tmpdir(dir);
        path_in(keys, dir, TP_TOKEN_KEYS_DIR);
        assert_int_equal(mkdir(keys, 0755), 0);
        assert_true((fd = open(keys, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0);
        return fd;
}

static void test_retained_names(void **state)
{
        char name[TP_RETAINED_NAME_MAX], kid[TP_KID_LEN + 1], text[TP_UNTIL_TEXT_MAX];
        const char *good = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq";
        size_t len;

        (void)state;
        assert_int_equal(tp_retained_name(good, TP_TOKEN_RETAINED_PUB_SUFFIX, name), 0);
        assert_string_equal(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq.pub.pem");
        assert_true(tp_retained_name_kid(name, TP_TOKEN_RETAINED_PUB_SUFFIX, kid));
        assert_string_equal(kid, good);
        assert_false(tp_retained_name_kid(name, TP_TOKEN_RETAINED_UNTIL_SUFFIX, kid));
        assert_false(tp_retained_name_kid("../ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm.pub.pem",
                                          TP_TOKEN_RETAINED_PUB_SUFFIX, kid));
        assert_false(tp_retained_name_kid(".until", TP_TOKEN_RETAINED_UNTIL_SUFFIX, kid));
        assert_int_equal(tp_retained_name("../x", TP_TOKEN_RETAINED_PUB_SUFFIX, name), -EINVAL);
        assert_int_equal(tp_retained_name("", TP_TOKEN_RETAINED_PUB_SUFFIX, name), -EINVAL);
        assert_int_equal(tp_retained_until_text(1700001000, text, &len), 0);
        assert_string_equal(text, "1700001000\n");
        assert_int_equal(len, 11);
        assert_int_equal(tp_retained_until_text(INT64_MAX, text, &len), 0);
        assert_string_equal(text, "9223372036854775807\n");
}

/* Decimal Unix seconds and one newline; the owner reads only its own
 * records; no reader follows a symlink. */
static void test_retained_records(void **state)
{
        static const char *bad_until[] = { "", "\n", "1700001000", "01700001000\n", "-1\n", "+5\n",
                                           " 1700001000\n", "1700001000\n\n", "17x\n",
                                           "9223372036854775808\n", "99999999999999999999999999999999\n" };
        const char *kid = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq";
        char dir[PATH_MAX], keys[PATH_MAX], path[PATH_MAX], other[PATH_MAX];
        int64_t until = 0;
        size_t i;
        int keysfd;

        (void)state;
        keysfd = keys_dir_new(dir, keys);
        concat(path, PATH_MAX, keys, "/", kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX, (const char *)NULL);

        assert_int_equal(tp_retained_read_until(keysfd, kid, true, &until), -ENOENT);
        assert_int_equal(tp_retained_key_until(dir, kid, &until), -ENOENT);
        for (i = 0; i < sizeof(bad_until) / sizeof(bad_until[0]); i++) {
                write_text(path, bad_until[i], 0644);
                assert_int_equal(tp_retained_read_until(keysfd, kid, true, &until), -EBADMSG);
                assert_int_equal(tp_retained_key_until(dir, kid, &until), -EBADMSG);
        }
        write_text(path, "9223372036854775807\n", 0644);
        assert_int_equal(tp_retained_read_until(keysfd, kid, true, &until), 0);
        assert_int_equal(until, INT64_MAX);
        write_text(path, "0\n", 0644);
        assert_int_equal(tp_retained_key_until(dir, kid, &until), 0);
        assert_int_equal(until, 0);
        write_text(path, "1700001000\n", 0644);
        assert_int_equal(tp_retained_key_until(dir, kid, &until), 0);
        assert_int_equal(until, 1700001000);

        /* Writable by others: not for the owner, fine for a reader. */
        assert_int_equal(chmod(path, 0666), 0);
        assert_int_equal(tp_retained_read_until(keysfd, kid, true, &until), -EPERM);
        until = 0;
        assert_int_equal(tp_retained_read_until(keysfd, kid, false, &until), 0);
        assert_int_equal(until, 1700001000);
        /* A symlink, or not a plain file: for no one. */
        path_in(other, dir, "elsewhere");
        write_text(other, "1700001000\n", 0644);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(symlink(other, path), 0);
        assert_int_equal(tp_retained_read_until(keysfd, kid, false, &until), -EPERM);
        assert_int_equal(tp_retained_key_until(dir, kid, &until), -EPERM);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkdir(path, 0755), 0);
        assert_int_equal(tp_retained_key_until(dir, kid, &until), -EPERM);
        assert_int_equal(rmdir(path), 0);

        assert_int_equal(tp_retained_read_until(keysfd, "../elsewhere", false, &until), -EINVAL);
        assert_int_equal(tp_retained_key_until(dir, "../x", &until), -EINVAL);
        assert_int_equal(tp_retained_key_until(NULL, kid, &until), -EINVAL);
        close(keysfd);
        /* keys/ as a symlink is refused too. */
        assert_int_equal(rmdir(keys), 0);
        assert_int_equal(symlink("/tmp", keys), 0);
        assert_int_equal(tp_retained_key_until(dir, kid, &until), -EPERM);
        assert_int_equal(unlink(keys), 0);
        remove_tree(dir);
}

/* A retained key file must hold the key its name says. */
static void test_keyring_load_retained(void **state)
{
        char dir[PATH_MAX], keys[PATH_MAX], name[TP_RETAINED_NAME_MAX], kid[TP_KID_LEN + 1];
        char other_kid[TP_KID_LEN + 1], from[PATH_MAX], to[PATH_MAX];
        struct tp_keyring *kr = NULL;
        int64_t until = 0;
        int keysfd;

        (void)state;
        keysfd = keys_dir_new(dir, keys);
        assert_int_equal(tp_keyring_new(&kr), 0);
        tp_pubkey_free(pubkey_new(keys, "a.pem", kid));
        tp_pubkey_free(pubkey_new(keys, "b.pem", other_kid));
        assert_int_equal(tp_keyring_load_retained(kr, keysfd, kid, NOW, true), -ENOENT);

        assert_int_equal(tp_retained_name(kid, TP_TOKEN_RETAINED_PUB_SUFFIX, name), 0);
        path_in(from, keys, "b.pem");
        path_in(to, keys, name);
        assert_int_equal(rename(from, to), 0);
        assert_int_equal(tp_keyring_load_retained(kr, keysfd, kid, NOW, true), -EBADMSG);
        path_in(from, keys, "a.pem");
        assert_int_equal(rename(from, to), 0);
        assert_int_equal(tp_keyring_load_retained(kr, keysfd, kid, NOW + 5, true), 0);
        assert_non_null(tp_keyring_retained(kr, 0, &until));
        assert_int_equal(until, NOW + 5);
        assert_string_equal(tp_pubkey_kid(tp_keyring_retained(kr, 0, NULL)), kid);
        assert_int_equal(tp_keyring_load_retained(kr, keysfd, "../a", NOW, true), -EINVAL);
        tp_keyring_free(kr);
        close(keysfd);
        remove_tree(dir);
}

/* ---- a state directory as tokenpolicyctl verify reads it ---------------- */

static void test_published_key_find(void **state)
{
        char dir[PATH_MAX], keys[PATH_MAX], path[PATH_MAX], cur[TP_KID_LEN + 1], old[TP_KID_LEN + 1];
        char name[TP_RETAINED_NAME_MAX], unknown[TP_KID_LEN + 1], longdir[PATH_MAX + 16];
        struct tp_published_key key;

        (void)state;
        make_tmpdir(dir);
        path_in(keys, dir, TP_TOKEN_KEYS_DIR);
        assert_int_equal(mkdir(keys, 0755), 0);
        tp_pubkey_free(pubkey_new(dir, TP_TOKEN_PUB_FILE, cur));
        tp_pubkey_free(pubkey_new(keys, "old.pem", old));
        assert_int_equal(tp_retained_name(old, TP_TOKEN_RETAINED_PUB_SUFFIX, name), 0);
        path_in(path, keys, "old.pem");
        {
                char to[PATH_MAX];

                path_in(to, keys, name);
                assert_int_equal(rename(path, to), 0);
        }

        /* No kid, or the current key's: the current key's file. */
        path_in(path, dir, TP_TOKEN_PUB_FILE);
        assert_int_equal(tp_published_key_find(dir, "", NOW, &key), 0);
        assert_string_equal(key.path, path);
        assert_false(key.retained);
        assert_int_equal(tp_published_key_find(dir, cur, NOW, &key), 0);
        assert_string_equal(key.path, path);

        /* A retained key: its file until its time; then its end is said. */
        assert_int_equal(tp_retained_name(old, TP_TOKEN_RETAINED_UNTIL_SUFFIX, name), 0);
        path_in(path, keys, name);
        write_text(path, "1700001000\n", 0644);
        assert_int_equal(tp_published_key_find(dir, old, 1700000999, &key), 0);
        assert_true(key.retained);
        assert_int_equal(key.until, 1700001000);
        assert_non_null(strstr(key.path, "/" TP_TOKEN_KEYS_DIR "/"));
        assert_int_equal(tp_published_key_find(dir, old, 1700001000, &key), -EKEYEXPIRED);
        assert_true(key.retained);
        assert_int_equal(key.until, 1700001000);
        /* Its record unusable, or missing. */
        write_text(path, "soon\n", 0644);
        assert_int_equal(tp_published_key_find(dir, old, NOW, &key), -EBADMSG);
        assert_true(key.retained);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(tp_published_key_find(dir, old, NOW, &key), -ENOENT);

        /* A kid published neither way, and one that is no key id. */
        memset(unknown, 'A', TP_KID_LEN);
        unknown[TP_KID_LEN] = '\0';
        assert_int_equal(tp_published_key_find(dir, unknown, NOW, &key), -ENOKEY);
        assert_int_equal(tp_published_key_find(dir, "../signing-key", NOW, &key), -EINVAL);
        assert_int_equal(tp_published_key_find(dir, "a/b", NOW, &key), -EINVAL);

        /* Without a readable current key, the verifier reports the file. */
        path_in(path, dir, TP_TOKEN_PUB_FILE);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(tp_published_key_find(dir, unknown, NOW, &key), 0);
        assert_string_equal(key.path, path);

        memset(longdir, 'd', sizeof(longdir) - 1);
        longdir[sizeof(longdir) - 1] = '\0';
        assert_int_equal(tp_published_key_find(longdir, "", NOW, &key), -ENAMETOOLONG);
        assert_int_equal(tp_published_key_find(longdir, unknown, NOW, &key), -ENAMETOOLONG);
        remove_tree(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kid_valid),
                cmocka_unit_test(test_pubkey_kid_is_thumbprint),
                cmocka_unit_test(test_pubkey_load_rules),
                cmocka_unit_test(test_keyring_holds_and_chooses),
                cmocka_unit_test(test_retained_names),
                cmocka_unit_test(test_retained_records),
                cmocka_unit_test(test_keyring_load_retained),
                cmocka_unit_test(test_published_key_find),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
