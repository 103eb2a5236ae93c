/* SPDX-License-Identifier: BSD-3-Clause */
/* test_trust.c: unit tests for the file trust checks (tokenpolicyd/trust.c).
 *
 * Real files, directories and symbolic links in a temporary tree, given to
 * other owners with chown (the cases that need it are skipped when not run
 * as root): the file itself, every directory on the way, links checked
 * where they lie and their targets walked, the sticky bit, loops, relative
 * paths. Removes everything it creates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trust.h"

#define OTHER_UID 4242

struct tree {
        char base[PATH_MAX];
};

static void pathf(char out[PATH_MAX], const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(out, PATH_MAX, fmt, ap);
        va_end(ap);
        assert_true(n > 0 && n < PATH_MAX);
}

static void make_file(const char *path, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, "version = 1;\n", 13), 13);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static void make_dir(const char *path, mode_t mode)
{
        assert_int_equal(mkdir(path, 0700), 0);
        assert_int_equal(chmod(path, mode), 0);
}

static int tree_setup(void **state)
{
        struct tree *t = calloc(1, sizeof(*t));
        const char *tmp = getenv("TMPDIR");

        assert_non_null(t);
        pathf(t->base, "%s/tp-trust-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(t->base));
        *state = t;
        return 0;
}

static int tree_teardown(void **state)
{
        struct tree *t = *state;
        char cmd[PATH_MAX + 32];

        pathf(cmd, "rm -rf '%s'", t->base);
        assert_int_equal(system(cmd), 0);
        free(t);
        return 0;
}

static int check(const char *path, enum tp_trust_kind kind, uid_t owner, char *why)
{
        return tp_trust_path(path, kind, owner, why, 256);
}

static void test_good_file_and_modes(void **state)
{
        struct tree *t = *state;
        char p[PATH_MAX], why[256];

        pathf(p, "%s/tp.conf", t->base);
        make_file(p, 0644);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), 0);
        assert_string_equal(why, "");
        assert_int_equal(chmod(p, 0600), 0);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), 0);

        assert_int_equal(chmod(p, 0666), 0);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -EPERM);
        assert_non_null(strstr(why, "tp.conf is writable by group or others (mode 0666)"));
        assert_int_equal(chmod(p, 0620), 0);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -EPERM);
        assert_int_equal(chmod(p, 0642), 0);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -EPERM);

        /* Not a regular file; missing; a directory asked for as a file. */
        assert_int_equal(chmod(p, 0644), 0);
        assert_int_equal(check(t->base, TP_TRUST_FILE, 0, why), -EPERM);
        assert_non_null(strstr(why, "is a directory") ? why : strstr(why, "not a regular file"));
        pathf(p, "%s/fifo", t->base);
        assert_int_equal(mkfifo(p, 0600), 0);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -EPERM);
        assert_non_null(strstr(why, "fifo is not a regular file"));
        pathf(p, "%s/missing", t->base);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -ENOENT);
        pathf(p, "%s/missing/tp.conf", t->base);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -ENOENT);
        pathf(p, "%s/tp.conf/x", t->base);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -ENOTDIR);
        assert_int_equal(check("", TP_TRUST_FILE, 0, why), -EINVAL);

        /* Directories. */
        assert_int_equal(check(t->base, TP_TRUST_DIR, 0, why), 0);
        assert_int_equal(check("/", TP_TRUST_DIR, 0, why), 0);
        pathf(p, "%s/tp.conf", t->base);
        assert_int_equal(check(p, TP_TRUST_DIR, 0, why), -EPERM);
        assert_non_null(strstr(why, "tp.conf is not a directory"));
}

static void test_owners(void **state)
{
        struct tree *t = *state;
        char p[PATH_MAX], d[PATH_MAX], why[256];

        if (geteuid() != 0)
                skip();
        pathf(p, "%s/tp.conf", t->base);
        make_file(p, 0644);
        assert_int_equal(chown(p, OTHER_UID, OTHER_UID), 0);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -EPERM);
        assert_non_null(strstr(why, "tp.conf is owned by uid 4242, not root"));
        /* The daemon's own user is trusted like root. */
        assert_int_equal(check(p, TP_TRUST_FILE, OTHER_UID, why), 0);
        assert_int_equal(check(p, TP_TRUST_FILE, 1000, why), -EPERM);
        assert_non_null(strstr(why, "not root or uid 1000"));

        /* A root file in a directory someone else owns: they could swap it. */
        pathf(d, "%s/theirs", t->base);
        make_dir(d, 0755);
        pathf(p, "%s/theirs/tp.conf", t->base);
        make_file(p, 0644);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), 0);
        assert_int_equal(chown(d, OTHER_UID, OTHER_UID), 0);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -EPERM);
        assert_non_null(strstr(why, "theirs is owned by uid 4242, not root"));
        assert_int_equal(check(d, TP_TRUST_DIR, 0, why), -EPERM);

        /* ... however deep below it. */
        pathf(d, "%s/theirs/inner", t->base);
        make_dir(d, 0755);
        pathf(p, "%s/theirs/inner/tp.conf", t->base);
        make_file(p, 0644);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -EPERM);
        assert_non_null(strstr(why, "theirs is owned by uid 4242"));
}

static void test_writable_directories(void **state)
{
        struct tree *t = *state;
        char p[PATH_MAX], d[PATH_MAX], why[256];

        pathf(d, "%s/open", t->base);
        make_dir(d, 0777);
        pathf(p, "%s/open/tp.conf", t->base);
        make_file(p, 0644);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -EPERM);
        assert_non_null(strstr(why, "open is writable by group or others without the sticky bit (mode 0777)"));
        assert_int_equal(chmod(d, 0775), 0);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -EPERM);

        /* Sticky, as /tmp: only an entry's owner may replace it. */
        assert_int_equal(chmod(d, 01777), 0);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), 0);
        if (geteuid() != 0)
                return;
        assert_int_equal(chown(p, OTHER_UID, OTHER_UID), 0);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -EPERM);
}

static void test_symlinks(void **state)
{
        struct tree *t = *state;
        char p[PATH_MAX], l[PATH_MAX], d[PATH_MAX], why[256];

        pathf(p, "%s/tp.conf", t->base);
        make_file(p, 0644);
        pathf(l, "%s/link.conf", t->base);
        assert_int_equal(symlink("tp.conf", l), 0);
        assert_int_equal(check(l, TP_TRUST_FILE, 0, why), 0);
        /* The target decides the file's own checks. */
        assert_int_equal(chmod(p, 0666), 0);
        assert_int_equal(check(l, TP_TRUST_FILE, 0, why), -EPERM);
        assert_non_null(strstr(why, "tp.conf is writable"));
        assert_int_equal(chmod(p, 0644), 0);

        /* A link into a directory anyone may write to. */
        pathf(d, "%s/open", t->base);
        make_dir(d, 0777);
        pathf(p, "%s/open/x.conf", t->base);
        make_file(p, 0644);
        pathf(l, "%s/abs.conf", t->base);
        assert_int_equal(symlink(p, l), 0);
        assert_int_equal(check(l, TP_TRUST_FILE, 0, why), -EPERM);
        assert_non_null(strstr(why, "open is writable"));
        pathf(l, "%s/rel.conf", t->base);
        assert_int_equal(symlink("./open/../open/x.conf", l), 0);
        assert_int_equal(check(l, TP_TRUST_FILE, 0, why), -EPERM);

        /* A directory on the way reached through a link. */
        pathf(l, "%s/dirlink", t->base);
        assert_int_equal(symlink("open", l), 0);
        pathf(p, "%s/dirlink/x.conf", t->base);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -EPERM);
        assert_int_equal(chmod(d, 0755), 0);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), 0);
        pathf(p, "%s/dirlink/../tp.conf", t->base);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), 0);

        /* Loops end. */
        pathf(l, "%s/a", t->base);
        assert_int_equal(symlink("b", l), 0);
        pathf(l, "%s/b", t->base);
        assert_int_equal(symlink("a", l), 0);
        pathf(p, "%s/a", t->base);
        assert_int_equal(check(p, TP_TRUST_FILE, 0, why), -ELOOP);

        /* A link someone else owns, in a sticky directory, could be
         * replaced by them. */
        if (geteuid() != 0)
                return;
        assert_int_equal(chmod(d, 01777), 0);
        pathf(l, "%s/open/their.conf", t->base);
        assert_int_equal(symlink("x.conf", l), 0);
        assert_int_equal(check(l, TP_TRUST_FILE, 0, why), 0);
        assert_int_equal(lchown(l, OTHER_UID, OTHER_UID), 0);
        assert_int_equal(check(l, TP_TRUST_FILE, 0, why), -EPERM);
        assert_non_null(strstr(why, "their.conf is owned by uid 4242"));
}

static void test_relative_path(void **state)
{
        struct tree *t = *state;
        char p[PATH_MAX], cwd[PATH_MAX], why[256];

        pathf(p, "%s/tp.conf", t->base);
        make_file(p, 0644);
        assert_non_null(getcwd(cwd, sizeof(cwd)));
        assert_int_equal(chdir(t->base), 0);
        assert_int_equal(check("tp.conf", TP_TRUST_FILE, 0, why), 0);
        assert_int_equal(check("./tp.conf", TP_TRUST_FILE, 0, why), 0);
        assert_int_equal(chmod(p, 0646), 0);
        assert_int_equal(check("tp.conf", TP_TRUST_FILE, 0, why), -EPERM);
        assert_int_equal(chdir(cwd), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_good_file_and_modes, tree_setup, tree_teardown),
                cmocka_unit_test_setup_teardown(test_owners, tree_setup, tree_teardown),
                cmocka_unit_test_setup_teardown(test_writable_directories, tree_setup, tree_teardown),
                cmocka_unit_test_setup_teardown(test_symlinks, tree_setup, tree_teardown),
                cmocka_unit_test_setup_teardown(test_relative_path, tree_setup, tree_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
