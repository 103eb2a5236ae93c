/* SPDX-License-Identifier: BSD-3-Clause */
/* test_signer.c: unit tests for the signing key and its files
 * (tokenpolicyd/signer.c).
 *
 * The signing key's file rules, the published PEM and JWKS (written only
 * when they change), rotation, the end of a retained key and revocation,
 * and tp_signer_verify choosing among the signer's keys by kid. Tokens are
 * made with tp_jwt_sign, or signed here with the key file's key through
 * OpenSSL directly. Must never print outside cmocka, and removes every
 * directory it creates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "jwt_sign.h"
#include "signer.h"
#include "signertest.h"
#include "tokentest.h"

/* The same with the fixture's private key, as the key file holds it now. */
static void sign_raw(const struct fixture *f, const char *header, const char *payload, size_t plen,
                     char *out)
{
        char keypath[PATH_MAX];
        EVP_PKEY *pkey;
        FILE *fp;

        path_in(keypath, f->dir, TP_TOKEN_KEY_FILE);
        assert_non_null(fp = fopen(keypath, "re"));
        assert_non_null(pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL));
        fclose(fp);
        sign_raw_key(pkey, header, payload, plen, out);
        EVP_PKEY_free(pkey);
}

/* ---- signing key files ---------------------------------------------------------- */

static void open_with_umask(mode_t mask)
{
        char dir[PATH_MAX];
        struct tp_signer *s = NULL;
        mode_t old = umask(mask);

        make_tmpdir(dir);
        assert_int_equal(tp_signer_open(dir, &s), 0);
        umask(old);
        assert_int_equal(file_mode(dir, TP_TOKEN_KEY_FILE), 0600);
        assert_int_equal(file_mode(dir, TP_TOKEN_PUB_FILE), 0644);
        assert_int_equal(file_mode(dir, TP_TOKEN_JWKS_FILE), 0644);
        assert_int_equal(dir_mode(dir, TP_TOKEN_KEYS_DIR), 0755);
        assert_true(is_b64url(tp_signer_kid(s), 43));
        tp_signer_free(s);
        remove_tree(dir);
}

static void test_signer_modes_whatever_the_umask(void **state)
{
        (void)state;
        open_with_umask(0);
        open_with_umask(022);
        open_with_umask(077);
}

static void test_signer_reopens_same_key(void **state)
{
        struct fixture *f = *state;
        char key[PATH_MAX], before[4096], after[4096], kid[64];
        struct tp_signer *again = NULL;
        DIR *d;
        struct dirent *e;
        int n = 0;

        path_in(key, f->dir, TP_TOKEN_KEY_FILE);
        read_text(key, before, sizeof(before));
        assert_non_null(strstr(before, "-----BEGIN PRIVATE KEY-----"));
        strcpy(kid, tp_signer_kid(f->signer));
        assert_int_equal(tp_signer_open(f->dir, &again), 0);
        assert_string_equal(tp_signer_kid(again), kid);
        read_text(key, after, sizeof(after));
        assert_string_equal(before, after);
        tp_signer_free(again);

        /* No temporary files are left behind. */
        assert_non_null(d = opendir(f->dir));
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        n++;
                else
                        assert_true(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0);
        closedir(d);
        assert_int_equal(n, 4); /* the key, its PEM and JWKS, keys/ */
}

static void test_signer_refuses_wide_permissions(void **state)
{
        static const mode_t refused[] = { 0640, 0604, 0620, 0602, 0610, 0601, 0660, 0644 };
        struct fixture *f = *state;
        struct tp_signer *s = NULL;
        char key[PATH_MAX];
        size_t i;

        path_in(key, f->dir, TP_TOKEN_KEY_FILE);
        for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
                assert_int_equal(chmod(key, refused[i]), 0);
                assert_int_equal(tp_signer_open(f->dir, &s), -EPERM);
                assert_null(s);
        }
        /* The edge: owner-only modes pass. */
        assert_int_equal(chmod(key, 0400), 0);
        assert_int_equal(tp_signer_open(f->dir, &s), 0);
        tp_signer_free(s);
        s = NULL;
        assert_int_equal(chmod(key, 0600), 0);
        assert_int_equal(tp_signer_open(f->dir, &s), 0);
        assert_string_equal(tp_signer_kid(s), tp_signer_kid(f->signer));
        tp_signer_free(s);
}

static void test_signer_refuses_foreign_owner(void **state)
{
        struct fixture *f = *state;
        struct tp_signer *s = NULL;
        char key[PATH_MAX];

        if (geteuid() != 0)
                skip();
        path_in(key, f->dir, TP_TOKEN_KEY_FILE);
        assert_int_equal(chown(key, 1, (gid_t)-1), 0);
        assert_int_equal(tp_signer_open(f->dir, &s), -EPERM);
        assert_int_equal(chown(key, 0, (gid_t)-1), 0);
        assert_int_equal(tp_signer_open(f->dir, &s), 0);
        tp_signer_free(s);
}

static void test_signer_refuses_symlink(void **state)
{
        struct fixture *f = *state;
        struct tp_signer *s = NULL;
        char dir[PATH_MAX], target[PATH_MAX], link[PATH_MAX];

        make_tmpdir(dir);
        path_in(target, f->dir, TP_TOKEN_KEY_FILE);
        path_in(link, dir, TP_TOKEN_KEY_FILE);
        assert_int_equal(symlink(target, link), 0);
        assert_int_equal(tp_signer_open(dir, &s), -EPERM);
        assert_null(s);
        /* Dangling: still refused, never replaced by a new key. */
        assert_int_equal(unlink(link), 0);
        assert_int_equal(symlink("/nonexistent/key.pem", link), 0);
        assert_int_equal(tp_signer_open(dir, &s), -EPERM);
        remove_tree(dir);
}

static void test_signer_refuses_bad_files(void **state)
{
        struct tp_signer *s = NULL;
        char dir[PATH_MAX], key[PATH_MAX], ec[PATH_MAX];
        EVP_PKEY *pkey;
        FILE *fp;

        (void)state;
        make_tmpdir(dir);
        path_in(key, dir, TP_TOKEN_KEY_FILE);

        assert_int_equal(mkdir(key, 0700), 0);
        assert_int_equal(tp_signer_open(dir, &s), -EPERM);
        assert_int_equal(rmdir(key), 0);

        write_text(key, "not a key\n", 0600);
        assert_int_equal(tp_signer_open(dir, &s), -EINVAL);

        /* A valid private key of another type is not a signing key. */
        assert_non_null(pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
        path_in(ec, dir, TP_TOKEN_KEY_FILE);
        assert_non_null(fp = fopen(ec, "we"));
        assert_int_equal(PEM_write_PrivateKey(fp, pkey, NULL, NULL, 0, NULL, NULL), 1);
        fclose(fp);
        EVP_PKEY_free(pkey);
        assert_int_equal(chmod(ec, 0600), 0);
        assert_int_equal(tp_signer_open(dir, &s), -EINVAL);
        assert_null(s);
        remove_tree(dir);

        assert_int_equal(tp_signer_open("/nonexistent-tokenpolicy-dir", &s), -ENOENT);
        assert_null(s);
}

static void test_jwks_matches_public_key(void **state)
{
        struct fixture *f = *state;
        char jwks_path[PATH_MAX], jwks[2048], x[64], thumb_in[256], kid[64], expect[512];
        unsigned char raw[32], digest[32];
        size_t rawlen = sizeof(raw);
        unsigned int mdlen;
        const char *p;
        EVP_PKEY *pkey;
        FILE *fp;

        assert_non_null(fp = fopen(f->pub, "re"));
        assert_non_null(pkey = PEM_read_PUBKEY(fp, NULL, NULL, NULL));
        fclose(fp);
        assert_int_equal(EVP_PKEY_get_id(pkey), EVP_PKEY_ED25519);
        assert_int_equal(EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen), 1);
        EVP_PKEY_free(pkey);
        b64url(raw, rawlen, x);

        path_in(jwks_path, f->dir, TP_TOKEN_JWKS_FILE);
        read_text(jwks_path, jwks, sizeof(jwks));
        assert_non_null(strstr(jwks, "\"kty\":\"OKP\""));
        assert_non_null(strstr(jwks, "\"crv\":\"Ed25519\""));
        assert_non_null(p = strstr(jwks, "\"kid\":\""));

        /* kid is the RFC 7638 thumbprint of the public key. */
        CONCAT(thumb_in, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"", x, "\"}");
        assert_int_equal(EVP_Digest(thumb_in, strlen(thumb_in), digest, &mdlen, EVP_sha256(), NULL), 1);
        b64url(digest, sizeof(digest), kid);
        assert_string_equal(tp_signer_kid(f->signer), kid);
        CONCAT(expect, "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"", x, "\",\"kid\":\"",
               kid, "\",\"alg\":\"EdDSA\",\"use\":\"sig\"}]}\n");
        assert_string_equal(jwks, expect);
}

/* ---- several keys: rotation, retention, tp_signer_verify ------------------- */

#define ROTATE_NOW (NOW + 60)
#define RETAIN_UNTIL (NOW + 1000)

static size_t jwks_key_count(const struct fixture *f, char first_kid[64])
{
        char path[PATH_MAX], jwks[BIG];
        const char *p;
        size_t n = 0;

        path_in(path, f->dir, TP_TOKEN_JWKS_FILE);
        read_text(path, jwks, sizeof(jwks));
        for (p = jwks; (p = strstr(p, "\"kid\":\"")); p++) {
                if (n++ == 0 && first_kid) {
                        memcpy(first_kid, p + 7, 43);
                        first_kid[43] = '\0';
                }
        }
        return n;
}

static bool jwks_has(const struct fixture *f, const char *kid)
{
        char path[PATH_MAX], jwks[BIG], want[128];

        path_in(path, f->dir, TP_TOKEN_JWKS_FILE);
        read_text(path, jwks, sizeof(jwks));
        CONCAT(want, "\"kid\":\"", kid, "\"");
        return strstr(jwks, want) != NULL;
}

/* dir/keys/<kid><suffix> */
static void retained_path(char out[PATH_MAX], const struct fixture *f, const char *kid,
                          const char *suffix)
{
        concat(out, PATH_MAX, f->dir, "/" TP_TOKEN_KEYS_DIR "/", kid, suffix, (const char *)NULL);
}

static void reopen_at(struct fixture *f, int64_t now)
{
        struct tp_signer *s = NULL;

        assert_int_equal(tp_signer_open_at(f->dir, now, &s), 0);
        tp_signer_free(f->signer);
        f->signer = s;
}

static void test_signer_verify_current_key(void **state)
{
        struct fixture *f = *state;
        struct tp_signer *other = NULL;
        struct tp_jwt_claims c, got;
        char tok[TP_TOKEN_MAX], raw[BIG], dir[PATH_MAX];

        sign_base(f, tok, &c);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), 0);
        assert_claims_equal(&got, &c);
        /* Same checks as the PEM verifier. */
        assert_int_equal(tp_signer_verify(f->signer, tok, c.exp, &got), -ETIME);
        assert_int_equal(tp_signer_verify(f->signer, "a.b", NOW, &got), -EBADMSG);
        /* Another letter of the alphabet: still base64url, a wrong signature. */
        tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A';
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), -EKEYREJECTED);
        /* Without a kid the current key is the one to try. */
        sign_raw(f, HEADER_OK, PAYLOAD_OK, strlen(PAYLOAD_OK), raw);
        assert_int_equal(tp_signer_verify(f->signer, raw, RAW_NOW, &got), 0);
        assert_string_equal(got.kid, "");

        /* Another daemon's token names a key this one does not have. */
        make_tmpdir(dir);
        assert_int_equal(tp_signer_open(dir, &other), 0);
        claims_base(&c);
        assert_int_equal(tp_jwt_sign(other, &c, tok, sizeof(tok)), 0);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), -ENOKEY);
        assert_int_equal(tp_signer_verify(other, tok, NOW, &got), 0);
        tp_signer_free(other);
        remove_tree(dir);
        assert_int_equal(tp_signer_verify(NULL, tok, NOW, &got), -EINVAL);
        assert_int_equal(tp_signer_verify(f->signer, NULL, NOW, &got), -EINVAL);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, NULL), -EINVAL);
}

static void test_rotate_keeps_old_tokens_verifying(void **state)
{
        struct fixture *f = *state;
        char old_tok[TP_TOKEN_MAX], new_tok[TP_TOKEN_MAX], old_kid[64], first[64], path[PATH_MAX];
        char got_old[TP_KID_LEN + 1], text[64], key_before[4096], key_after[4096];
        struct tp_jwt_claims c, got;

        sign_base(f, old_tok, &c);
        strcpy(old_kid, c.kid);
        path_in(path, f->dir, TP_TOKEN_KEY_FILE);
        read_text(path, key_before, sizeof(key_before));
        assert_int_equal(jwks_key_count(f, NULL), 1);

        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL, got_old), 0);
        assert_string_equal(got_old, old_kid);
        assert_string_not_equal(tp_signer_kid(f->signer), old_kid);
        assert_true(is_b64url(tp_signer_kid(f->signer), 43));

        /* Files: a new private key, the old public key and its record. */
        read_text(path, key_after, sizeof(key_after));
        assert_string_not_equal(key_before, key_after);
        assert_int_equal(file_mode(f->dir, TP_TOKEN_KEY_FILE), 0600);
        assert_int_equal(dir_mode(f->dir, TP_TOKEN_KEYS_DIR), 0755);
        retained_path(path, f, old_kid, TP_TOKEN_RETAINED_PUB_SUFFIX);
        assert_int_equal(tp_jwt_verify_pem(path, old_tok, NOW, &got), 0);
        assert_string_equal(got.kid, old_kid);
        retained_path(path, f, old_kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX);
        read_text(path, text, sizeof(text));
        assert_string_equal(text, "1700001000\n");
        assert_int_equal(jwks_key_count(f, first), 2);
        assert_string_equal(first, tp_signer_kid(f->signer));
        assert_true(jwks_has(f, old_kid));

        /* The old token verifies by its kid; new tokens carry the new kid. */
        assert_int_equal(tp_signer_verify(f->signer, old_tok, NOW, &got), 0);
        assert_claims_equal(&got, &c);
        claims_base(&c);
        assert_int_equal(tp_jwt_sign(f->signer, &c, new_tok, sizeof(new_tok)), 0);
        assert_string_equal(c.kid, tp_signer_kid(f->signer));
        assert_int_equal(tp_signer_verify(f->signer, new_tok, NOW, &got), 0);
        /* signing-key.pub.pem is the current key only. */
        assert_int_equal(tp_jwt_verify_pem(f->pub, new_tok, NOW, &got), 0);
        assert_int_equal(tp_jwt_verify_pem(f->pub, old_tok, NOW, &got), -EKEYREJECTED);

        /* After a restart: the same keys. */
        reopen_at(f, RETAIN_UNTIL - 1);
        assert_string_equal(tp_signer_kid(f->signer), c.kid);
        assert_int_equal(tp_signer_verify(f->signer, old_tok, NOW, &got), 0);
        assert_int_equal(tp_signer_verify(f->signer, new_tok, NOW, &got), 0);
        assert_int_equal(jwks_key_count(f, NULL), 2);

        /* Once its time has come the old key is gone, files and all. */
        reopen_at(f, RETAIN_UNTIL);
        assert_int_equal(tp_signer_verify(f->signer, old_tok, NOW, &got), -ENOKEY);
        assert_int_equal(tp_signer_verify(f->signer, new_tok, NOW, &got), 0);
        assert_int_equal(jwks_key_count(f, first), 1);
        assert_string_equal(first, c.kid);
        assert_false(exists(path));
        retained_path(path, f, old_kid, TP_TOKEN_RETAINED_PUB_SUFFIX);
        assert_false(exists(path));
}

static void test_rotate_twice_orders_jwks(void **state)
{
        struct fixture *f = *state;
        char a[TP_KID_LEN + 1], b[TP_KID_LEN + 1], first[64], tok_a[TP_TOKEN_MAX];
        struct tp_jwt_claims c, got;

        sign_base(f, tok_a, &c);
        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL, a), 0);
        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW + 1, RETAIN_UNTIL + 100, b), 0);
        assert_string_not_equal(a, b);
        assert_int_equal(jwks_key_count(f, first), 3);
        assert_string_equal(first, tp_signer_kid(f->signer));
        assert_int_equal(tp_signer_verify(f->signer, tok_a, NOW, &got), 0);
        /* A later rotation prunes what has run out, in memory and on disk. */
        assert_int_equal(tp_signer_rotate(f->signer, RETAIN_UNTIL, RETAIN_UNTIL + 200, b), 0);
        assert_int_equal(jwks_key_count(f, NULL), 3);
        assert_false(jwks_has(f, a));
        assert_int_equal(tp_signer_verify(f->signer, tok_a, NOW, &got), -ENOKEY);
        reopen_at(f, RETAIN_UNTIL);
        assert_int_equal(jwks_key_count(f, NULL), 3);
        assert_int_equal(tp_signer_verify(f->signer, tok_a, NOW, &got), -ENOKEY);
}

static void test_rotate_limit(void **state)
{
        struct fixture *f = *state;
        char old[TP_KID_LEN + 1], kid[TP_KID_LEN + 1];
        size_t i;

        for (i = 0; i < TP_SIGNER_RETAINED_MAX; i++)
                assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL + (int64_t)i, old), 0);
        assert_int_equal(jwks_key_count(f, NULL), TP_SIGNER_RETAINED_MAX + 1);
        strcpy(kid, tp_signer_kid(f->signer));
        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL, old), -ENOSPC);
        assert_string_equal(tp_signer_kid(f->signer), kid);
        reopen_at(f, ROTATE_NOW);
        assert_string_equal(tp_signer_kid(f->signer), kid);
        /* One has run out: room for one more. */
        assert_int_equal(tp_signer_rotate(f->signer, RETAIN_UNTIL, RETAIN_UNTIL + 5000, old), 0);
        assert_int_equal(jwks_key_count(f, NULL), TP_SIGNER_RETAINED_MAX + 1);
}

/* A rotation stopped after the old key's record was written but before the
 * private key was replaced: the old key is still current and its record is
 * dropped. A key file without a record is dropped too. */
static void test_open_after_interrupted_rotation(void **state)
{
        struct fixture *f = *state;
        char kid[64], path[PATH_MAX], pem[4096], stray[TP_KID_LEN + 1];
        struct tp_signer *other = NULL;
        char dir[PATH_MAX], other_pub[PATH_MAX];

        strcpy(kid, tp_signer_kid(f->signer));
        read_text(f->pub, pem, sizeof(pem));
        retained_path(path, f, kid, TP_TOKEN_RETAINED_PUB_SUFFIX);
        write_text(path, pem, 0644);
        retained_path(path, f, kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX);
        write_text(path, "1700001000\n", 0644);

        make_tmpdir(dir);
        assert_int_equal(tp_signer_open(dir, &other), 0);
        strcpy(stray, tp_signer_kid(other));
        path_in(other_pub, dir, TP_TOKEN_PUB_FILE);
        read_text(other_pub, pem, sizeof(pem));
        tp_signer_free(other);
        remove_tree(dir);
        retained_path(path, f, stray, TP_TOKEN_RETAINED_PUB_SUFFIX);
        write_text(path, pem, 0644);

        reopen_at(f, ROTATE_NOW);
        assert_string_equal(tp_signer_kid(f->signer), kid);
        assert_int_equal(jwks_key_count(f, NULL), 1);
        assert_false(exists(path));
        retained_path(path, f, kid, TP_TOKEN_RETAINED_PUB_SUFFIX);
        assert_false(exists(path));
        retained_path(path, f, kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX);
        assert_false(exists(path));
}

static void test_open_refuses_bad_retained_files(void **state)
{
        static const char *bad_until[] = { "", "\n", "1700001000", "01700001000\n", "-1\n", "+5\n",
                                           " 1700001000\n", "1700001000\n\n", "17x\n",
                                           "9223372036854775808\n", "99999999999999999999999999999999\n" };
        struct fixture *f = *state;
        struct tp_signer *s = NULL;
        char old[TP_KID_LEN + 1], path[PATH_MAX], keys[PATH_MAX], pem[4096], other_pem[PATH_MAX];
        size_t i;

        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL, old), 0);
        retained_path(path, f, old, TP_TOKEN_RETAINED_UNTIL_SUFFIX);
        for (i = 0; i < sizeof(bad_until) / sizeof(bad_until[0]); i++) {
                write_text(path, bad_until[i], 0644);
                assert_int_equal(tp_signer_open_at(f->dir, ROTATE_NOW, &s), -EBADMSG);
                assert_null(s);
        }
        /* The edges that parse: the largest time, and a plain one. */
        write_text(path, "9223372036854775807\n", 0644);
        reopen_at(f, ROTATE_NOW);
        write_text(path, "1700001000\n", 0644);
        reopen_at(f, ROTATE_NOW);

        /* Writable by others, or not a plain file: someone could plant a key. */
        assert_int_equal(chmod(path, 0666), 0);
        assert_int_equal(tp_signer_open_at(f->dir, ROTATE_NOW, &s), -EPERM);
        assert_int_equal(chmod(path, 0644), 0);
        path_in(keys, f->dir, TP_TOKEN_KEYS_DIR);
        assert_int_equal(chmod(keys, 0777), 0);
        assert_int_equal(tp_signer_open_at(f->dir, ROTATE_NOW, &s), -EPERM);
        assert_int_equal(chmod(keys, 0755), 0);
        retained_path(path, f, old, TP_TOKEN_RETAINED_PUB_SUFFIX);
        read_text(path, pem, sizeof(pem));
        path_in(other_pem, f->dir, "elsewhere.pem");
        write_text(other_pem, pem, 0644);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(symlink(other_pem, path), 0);
        assert_int_equal(tp_signer_open_at(f->dir, ROTATE_NOW, &s), -EPERM);
        assert_int_equal(unlink(path), 0);

        /* A file that holds another key than its name says. */
        read_text(f->pub, pem, sizeof(pem));
        write_text(path, pem, 0644);
        assert_int_equal(tp_signer_open_at(f->dir, ROTATE_NOW, &s), -EBADMSG);
        assert_int_equal(unlink(other_pem), 0);
        assert_null(s);

        /* keys/ as a symlink is refused too. */
        assert_int_equal(unlink(path), 0);
        retained_path(path, f, old, TP_TOKEN_RETAINED_UNTIL_SUFFIX);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(keys), 0);
        assert_int_equal(symlink("/tmp", keys), 0);
        assert_int_equal(tp_signer_open_at(f->dir, ROTATE_NOW, &s), -EPERM);
        assert_int_equal(unlink(keys), 0);
}

/* A kid is compared with the keys in memory and never becomes a path: a
 * token naming "../x" is unknown, even when dir/x.pub.pem holds the key
 * that signed it. */
static void test_verify_kid_never_a_path(void **state)
{
        static const char *kids[] = { "../attacker", "..", "/", "a/b", "../" TP_TOKEN_KEYS_DIR "/x",
                                      "../../../../../tmp/attacker", "" };
        struct fixture *f = *state;
        char header[256], tok[BIG], path[PATH_MAX];
        struct tp_jwt_claims got;
        EVP_PKEY *attacker;
        FILE *fp;
        size_t i;

        assert_non_null(attacker = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
        path_in(path, f->dir, "attacker" TP_TOKEN_RETAINED_PUB_SUFFIX);
        assert_non_null(fp = fopen(path, "we"));
        assert_int_equal(PEM_write_PUBKEY(fp, attacker), 1);
        fclose(fp);
        for (i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
                CONCAT(header, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"", kids[i], "\"}");
                sign_raw_key(attacker, header, PAYLOAD_OK, strlen(PAYLOAD_OK), tok);
                /* "" means no kid: the current key, which did not sign it. */
                assert_int_equal(tp_signer_verify(f->signer, tok, RAW_NOW, &got),
                                 kids[i][0] ? -ENOKEY : -EKEYREJECTED);
        }
        EVP_PKEY_free(attacker);
        assert_int_equal(unlink(path), 0);
}

/* ---- what a start writes, the end of a retained key, revocation ----------- */

static void stat_in(const char *dir, const char *name, struct stat *st)
{
        char p[PATH_MAX];

        path_in(p, dir, name);
        assert_int_equal(lstat(p, st), 0);
}

/* Reopening with nothing changed writes nothing: the published files keep
 * their inode (a rewrite renames a new file over them). What differs from
 * what they must hold is rewritten: content, mode, a symlink in place. */
static void test_open_writes_only_what_changed(void **state)
{
        struct fixture *f = *state;
        struct stat pub1, jwks1, pub2, jwks2;
        char path[PATH_MAX], jwks[BIG], jwks_again[BIG], pem[4096], pem_again[4096];

        stat_in(f->dir, TP_TOKEN_PUB_FILE, &pub1);
        stat_in(f->dir, TP_TOKEN_JWKS_FILE, &jwks1);
        path_in(path, f->dir, TP_TOKEN_JWKS_FILE);
        read_text(path, jwks, sizeof(jwks));
        read_text(f->pub, pem, sizeof(pem));
        reopen_at(f, NOW);
        stat_in(f->dir, TP_TOKEN_PUB_FILE, &pub2);
        stat_in(f->dir, TP_TOKEN_JWKS_FILE, &jwks2);
        assert_true(pub1.st_ino == pub2.st_ino && jwks1.st_ino == jwks2.st_ino);

        /* Damaged content, a wrong mode, a file the size of the right one
         * but not the same bytes: each is written again. */
        write_text(path, "{\"keys\":[]}\n", 0644);
        reopen_at(f, NOW);
        read_text(path, jwks_again, sizeof(jwks_again));
        assert_string_equal(jwks_again, jwks);
        assert_int_equal(chmod(f->pub, 0600), 0);
        reopen_at(f, NOW);
        assert_int_equal(file_mode(f->dir, TP_TOKEN_PUB_FILE), 0644);
        pem[10] ^= 1;
        write_text(f->pub, pem, 0644);
        pem[10] ^= 1;
        reopen_at(f, NOW);
        read_text(f->pub, pem_again, sizeof(pem_again));
        assert_string_equal(pem_again, pem);
        assert_int_equal(unlink(f->pub), 0);
        assert_int_equal(symlink(path, f->pub), 0);
        reopen_at(f, NOW);
        assert_int_equal(file_mode(f->dir, TP_TOKEN_PUB_FILE), 0644);
        read_text(f->pub, pem_again, sizeof(pem_again));
        assert_string_equal(pem_again, pem);
}

/* Where a start failed is named, so that the message blames the right
 * file. */
static void test_open_reports_step(void **state)
{
        struct fixture *f = *state;
        struct tp_signer *s = NULL;
        const char *step = NULL;
        char path[PATH_MAX];

        path_in(path, f->dir, TP_TOKEN_JWKS_FILE);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkdir(path, 0755), 0); /* cannot be renamed over */
        assert_int_equal(tp_signer_open_report(f->dir, NOW, &s, &step), -EISDIR);
        assert_null(s);
        assert_string_equal(step, "writing " TP_TOKEN_JWKS_FILE);
        assert_int_equal(rmdir(path), 0);
        path_in(path, f->dir, TP_TOKEN_KEY_FILE);
        assert_int_equal(chmod(path, 0640), 0);
        assert_int_equal(tp_signer_open_report(f->dir, NOW, &s, &step), -EPERM);
        assert_string_equal(step, "reading the signing key " TP_TOKEN_KEY_FILE);
        assert_int_equal(chmod(path, 0600), 0);
        step = NULL;
        assert_int_equal(tp_signer_open_report(f->dir, NOW, &s, &step), 0);
        assert_null(step);
        tp_signer_free(s);
}

struct dropped_keys {
        size_t n;
        char kid[4][TP_KID_LEN + 1];
        int64_t until[4];
};

static void note_dropped(const char *kid, int64_t until, void *userdata)
{
        struct dropped_keys *d = userdata;

        assert_true(d->n < 4);
        strcpy(d->kid[d->n], kid);
        d->until[d->n++] = until;
}

/* A retained key is trusted until its time and not a second longer, in
 * the running signer (no reopen); tp_signer_expire then removes it from
 * disk and the JWKS. */
static void test_retained_key_untrusted_after_its_time(void **state)
{
        struct fixture *f = *state;
        char tok[TP_TOKEN_MAX], old_kid[TP_KID_LEN + 1], path[PATH_MAX];
        struct dropped_keys d = { 0 };
        struct tp_jwt_claims c, got;
        int64_t until = 0;

        sign_base(f, tok, &c); /* valid until NOW + 12 h, well past RETAIN_UNTIL */
        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL, old_kid), 0);
        assert_int_equal(tp_retained_key_until(f->dir, old_kid, &until), 0);
        assert_int_equal(until, RETAIN_UNTIL);
        assert_int_equal(tp_signer_verify(f->signer, tok, RETAIN_UNTIL - 1, &got), 0);
        assert_int_equal(tp_signer_verify(f->signer, tok, RETAIN_UNTIL, &got), -ENOKEY);
        assert_int_equal(tp_signer_verify(f->signer, tok, RETAIN_UNTIL + 3600, &got), -ENOKEY);

        /* Nothing due: nothing done. */
        assert_int_equal(tp_signer_expire(f->signer, RETAIN_UNTIL - 1, note_dropped, &d), 0);
        assert_int_equal(d.n, 0);
        assert_int_equal(jwks_key_count(f, NULL), 2);
        retained_path(path, f, old_kid, TP_TOKEN_RETAINED_UNTIL_SUFFIX);
        assert_true(exists(path));

        assert_int_equal(tp_signer_expire(f->signer, RETAIN_UNTIL, note_dropped, &d), 0);
        assert_int_equal(d.n, 1);
        assert_string_equal(d.kid[0], old_kid);
        assert_int_equal(d.until[0], RETAIN_UNTIL);
        assert_int_equal(jwks_key_count(f, NULL), 1);
        assert_false(jwks_has(f, old_kid));
        assert_false(exists(path));
        retained_path(path, f, old_kid, TP_TOKEN_RETAINED_PUB_SUFFIX);
        assert_false(exists(path));
        assert_int_equal(tp_retained_key_until(f->dir, old_kid, &until), -ENOENT);
        assert_int_equal(tp_signer_expire(f->signer, RETAIN_UNTIL + 1, note_dropped, &d), 0);
        assert_int_equal(d.n, 1);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), -ENOKEY);
}

static void test_revoke_retained_key(void **state)
{
        struct fixture *f = *state;
        char tok[TP_TOKEN_MAX], new_tok[TP_TOKEN_MAX], a[TP_KID_LEN + 1], b[TP_KID_LEN + 1];
        char current[TP_KID_LEN + 1], path[PATH_MAX], unknown[TP_KID_LEN + 1];
        struct tp_jwt_claims c, got;
        bool rotated = true;
        int64_t until;

        sign_base(f, tok, &c);
        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL, a), 0);
        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL + 10, b), 0);
        strcpy(current, tp_signer_kid(f->signer));
        sign_base(f, new_tok, &c);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), 0);
        assert_int_equal(jwks_key_count(f, NULL), 3);

        assert_int_equal(tp_signer_revoke(f->signer, a, NOW, &rotated), 0);
        assert_false(rotated);
        assert_string_equal(tp_signer_kid(f->signer), current);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), -ENOKEY);
        assert_int_equal(tp_signer_verify(f->signer, new_tok, NOW, &got), 0);
        assert_int_equal(jwks_key_count(f, NULL), 2);
        assert_false(jwks_has(f, a));
        assert_true(jwks_has(f, b));
        retained_path(path, f, a, TP_TOKEN_RETAINED_UNTIL_SUFFIX);
        assert_false(exists(path));
        retained_path(path, f, a, TP_TOKEN_RETAINED_PUB_SUFFIX);
        assert_false(exists(path));
        assert_int_equal(tp_retained_key_until(f->dir, a, &until), -ENOENT);
        assert_int_equal(tp_retained_key_until(f->dir, b, &until), 0);

        /* For good: a restart does not bring it back. */
        reopen_at(f, NOW);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), -ENOKEY);
        assert_int_equal(jwks_key_count(f, NULL), 2);

        /* Unknown, already revoked, or not a key id: nothing changes. */
        assert_int_equal(tp_signer_revoke(f->signer, a, NOW, &rotated), -ENOENT);
        memset(unknown, 'A', TP_KID_LEN);
        unknown[TP_KID_LEN] = '\0';
        assert_int_equal(tp_signer_revoke(f->signer, unknown, NOW, &rotated), -ENOENT);
        assert_int_equal(tp_signer_revoke(f->signer, "../signing-key", NOW, &rotated), -EINVAL);
        assert_int_equal(tp_signer_revoke(f->signer, "", NOW, &rotated), -EINVAL);
        assert_int_equal(tp_retained_key_until(f->dir, "../x", &until), -EINVAL);
        assert_int_equal(jwks_key_count(f, NULL), 2);
        assert_string_equal(tp_signer_kid(f->signer), current);
}

/* Revoking the key in use replaces it without retaining it: what it signed
 * no longer verifies, the retained keys stay. */
static void test_revoke_current_key(void **state)
{
        struct fixture *f = *state;
        char tok[TP_TOKEN_MAX], old_tok[TP_TOKEN_MAX], next_tok[TP_TOKEN_MAX];
        char old[TP_KID_LEN + 1], current[TP_KID_LEN + 1], first[64], path[PATH_MAX];
        char key_before[4096], key_after[4096];
        struct tp_jwt_claims c, got;
        bool rotated = false;
        int64_t until;

        sign_base(f, old_tok, &c);
        assert_int_equal(tp_signer_rotate(f->signer, ROTATE_NOW, RETAIN_UNTIL, old), 0);
        strcpy(current, tp_signer_kid(f->signer));
        sign_base(f, tok, &c);
        path_in(path, f->dir, TP_TOKEN_KEY_FILE);
        read_text(path, key_before, sizeof(key_before));

        assert_int_equal(tp_signer_revoke(f->signer, current, NOW, &rotated), 0);
        assert_true(rotated);
        assert_string_not_equal(tp_signer_kid(f->signer), current);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), -ENOKEY);
        assert_int_equal(tp_signer_verify(f->signer, old_tok, NOW, &got), 0);
        read_text(path, key_after, sizeof(key_after));
        assert_string_not_equal(key_before, key_after);
        assert_int_equal(file_mode(f->dir, TP_TOKEN_KEY_FILE), 0600);
        assert_int_equal(jwks_key_count(f, first), 2);
        assert_string_equal(first, tp_signer_kid(f->signer));
        assert_false(jwks_has(f, current));
        assert_true(jwks_has(f, old));
        assert_int_equal(tp_retained_key_until(f->dir, current, &until), -ENOENT);
        assert_int_equal(tp_jwt_verify_pem(f->pub, tok, NOW, &got), -EKEYREJECTED);
        sign_base(f, next_tok, &c);
        assert_int_equal(tp_jwt_verify_pem(f->pub, next_tok, NOW, &got), 0);

        strcpy(current, tp_signer_kid(f->signer));
        reopen_at(f, NOW);
        assert_string_equal(tp_signer_kid(f->signer), current);
        assert_int_equal(tp_signer_verify(f->signer, tok, NOW, &got), -ENOKEY);
        assert_int_equal(tp_signer_verify(f->signer, next_tok, NOW, &got), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_signer_modes_whatever_the_umask),
                cmocka_unit_test_setup_teardown(test_signer_reopens_same_key, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_signer_refuses_wide_permissions, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_signer_refuses_foreign_owner, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_signer_refuses_symlink, fixture_setup, fixture_teardown),
                cmocka_unit_test(test_signer_refuses_bad_files),
                cmocka_unit_test_setup_teardown(test_jwks_matches_public_key, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_signer_verify_current_key, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_rotate_keeps_old_tokens_verifying, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_rotate_twice_orders_jwks, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_rotate_limit, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_open_after_interrupted_rotation, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_open_refuses_bad_retained_files, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_verify_kid_never_a_path, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_open_writes_only_what_changed, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_open_reports_step, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_retained_key_untrusted_after_its_time, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_revoke_retained_key, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_revoke_current_key, fixture_setup, fixture_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
