/* SPDX-License-Identifier: BSD-3-Clause */
/* test_pidfile.c: unit tests for the daemon's PID file: its content and
 * mode, the atomic replacement (no temporary file left, a symbolic link
 * replaced and never written through), failures that leave nothing behind,
 * and removal only of a file that names this process. Each test works in
 * its own temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pidfile.h"

struct fixture {
        char dir[64];
        char path[128];
};

static int setup(void **state)
{
        struct fixture *fx = calloc(1, sizeof(*fx));

        if (!fx)
                return -1;
        snprintf(fx->dir, sizeof(fx->dir), "/tmp/tptest-pidfile.XXXXXX");
        if (!mkdtemp(fx->dir)) {
                free(fx);
                return -1;
        }
        snprintf(fx->path, sizeof(fx->path), "%s/tokenpolicyd.pid", fx->dir);
        *state = fx;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *fx = *state;
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
        if (system(cmd) != 0)
                return -1;
        free(fx);
        return 0;
}

static void read_text(const char *path, char *buf, size_t size)
{
        FILE *f = fopen(path, "r");
        size_t n;

        assert_non_null(f);
        n = fread(buf, 1, size - 1, f);
        buf[n] = '\0';
        fclose(f);
}

static void write_text(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

/* Entries in dir other than . and .. */
static int entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;

        assert_non_null(d);
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static void my_pid_text(char *buf, size_t size)
{
        snprintf(buf, size, "%d\n", (int)getpid());
}

static void test_write_content_and_mode(void **state)
{
        struct fixture *fx = *state;
        char text[32], want[32];
        struct stat st;
        mode_t old = umask(0077);

        assert_int_equal(tp_pidfile_write(fx->path), 0);
        umask(old);
        read_text(fx->path, text, sizeof(text));
        my_pid_text(want, sizeof(want));
        assert_string_equal(text, want);
        assert_int_equal(stat(fx->path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(entries(fx->dir), 1); /* no temporary file left */
}

static void test_write_replaces_a_stale_file(void **state)
{
        struct fixture *fx = *state;
        char text[32], want[32];

        write_text(fx->path, "999999999\nand more\n");
        assert_int_equal(tp_pidfile_write(fx->path), 0);
        read_text(fx->path, text, sizeof(text));
        my_pid_text(want, sizeof(want));
        assert_string_equal(text, want);
        assert_int_equal(entries(fx->dir), 1);
}

static void test_write_replaces_a_symlink_without_following_it(void **state)
{
        struct fixture *fx = *state;
        char target[160], text[32];
        struct stat st;

        snprintf(target, sizeof(target), "%s/victim", fx->dir);
        write_text(target, "precious\n");
        assert_int_equal(symlink(target, fx->path), 0);
        assert_int_equal(tp_pidfile_write(fx->path), 0);
        assert_int_equal(lstat(fx->path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        read_text(target, text, sizeof(text));
        assert_string_equal(text, "precious\n");
}

static void test_write_failures_leave_nothing(void **state)
{
        struct fixture *fx = *state;
        char missing[160], *long_path;

        snprintf(missing, sizeof(missing), "%s/no-such-dir/tokenpolicyd.pid", fx->dir);
        assert_int_equal(tp_pidfile_write(missing), -ENOENT);
        /* A directory in the way: the rename fails and the temporary file
         * is removed. */
        assert_int_equal(mkdir(fx->path, 0755), 0);
        assert_int_equal(tp_pidfile_write(fx->path), -EISDIR);
        assert_int_equal(entries(fx->dir), 1);
        assert_int_equal(rmdir(fx->path), 0);

        long_path = malloc(8192);
        assert_non_null(long_path);
        memset(long_path, 'a', 8191);
        long_path[0] = '/';
        long_path[8191] = '\0';
        assert_int_equal(tp_pidfile_write(long_path), -ENAMETOOLONG);
        free(long_path);
}

static void test_remove_only_our_own(void **state)
{
        struct fixture *fx = *state;
        char text[32];

        /* Nothing there: nothing to do. */
        assert_int_equal(tp_pidfile_remove(fx->path), 0);

        /* Another daemon's file, or something that is not a PID file, stays. */
        write_text(fx->path, "1\n");
        assert_int_equal(tp_pidfile_remove(fx->path), 0);
        read_text(fx->path, text, sizeof(text));
        assert_string_equal(text, "1\n");
        snprintf(text, sizeof(text), "%d", (int)getpid()); /* no newline: not ours */
        write_text(fx->path, text);
        assert_int_equal(tp_pidfile_remove(fx->path), 0);
        assert_int_equal(access(fx->path, F_OK), 0);
        snprintf(text, sizeof(text), "%dx\n", (int)getpid());
        write_text(fx->path, text);
        assert_int_equal(tp_pidfile_remove(fx->path), 0);
        assert_int_equal(access(fx->path, F_OK), 0);

        /* Ours: removed. */
        assert_int_equal(tp_pidfile_write(fx->path), 0);
        assert_int_equal(tp_pidfile_remove(fx->path), 0);
        assert_int_equal(access(fx->path, F_OK), -1);
        assert_int_equal(entries(fx->dir), 0);
}

static void test_remove_does_not_follow_a_symlink(void **state)
{
        struct fixture *fx = *state;
        char target[160], text[32];

        snprintf(target, sizeof(target), "%s/elsewhere", fx->dir);
        my_pid_text(text, sizeof(text));
        write_text(target, text);
        assert_int_equal(symlink(target, fx->path), 0);
        assert_int_equal(tp_pidfile_remove(fx->path), -ELOOP);
        assert_int_equal(access(target, F_OK), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_write_content_and_mode, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_replaces_a_stale_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_replaces_a_symlink_without_following_it, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_write_failures_leave_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_only_our_own, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_does_not_follow_a_symlink, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
