/* test_mapfile.c: the daemon publishing its service map
 * (tokenpolicyd/mapfile.c) into a private directory.
 *
 * The map of a real configuration (tokenpolicyd/config.c), written whole
 * with mode 0644 and read back by the module's reader; replaced, not
 * rewritten in place; and when it cannot be written (a file size limit
 * stands in for a full disk), the old map is gone and no temporary file
 * is left. Diagnostics go to stderr; nothing is left behind.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "mapfile.h"
#include "svcmap.h"

#define CONF                                                                    \
        "version = 1;\n"                                                        \
        "unknown_client = \"deny\";\n"                                          \
        "clients = {\n"                                                         \
        "  desktop = { services = [\"gdm-password\", \"login\"]; };\n"          \
        "  mobile = { };\n"                                                     \
        "  ssh = { services = [\"sshd\"]; };\n"                                 \
        "};\n"
#define MAP                                                                     \
        "tokenpolicy-services 1\n"                                              \
        "unknown_client deny\n"                                                 \
        "client desktop gdm-password,login\n"                                   \
        "client mobile\n"                                                       \
        "client ssh sshd\n"                                                     \
        "end\n"

struct fixture {
        char dir[64];
        char sock[128];
        char map[128];
        struct tp_config *config;
};

static int setup(void **state)
{
        struct tp_config_errors errs = { 0 };
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        tp_log_open(true, false);
        snprintf(f->dir, sizeof(f->dir), "/tmp/tptest-mapfile-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        assert_int_equal(chmod(f->dir, 0755), 0);
        snprintf(f->sock, sizeof(f->sock), "%s/tokenpolicyd.sock", f->dir);
        snprintf(f->map, sizeof(f->map), "%s/%s", f->dir, TP_SVCMAP_FILE);
        assert_int_equal(tp_config_load_string(CONF, "test.conf", &f->config, &errs), 0);
        tp_config_errors_clear(&errs);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        DIR *d = opendir(f->dir);
        struct dirent *e;
        char path[PATH_MAX];

        while (d && (e = readdir(d)))
                if (e->d_name[0] != '.') {
                        snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
                        unlink(path);
                }
        if (d)
                closedir(d);
        rmdir(f->dir);
        tp_config_free(f->config);
        free(f);
        return 0;
}

static size_t entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        size_t n = 0;

        assert_non_null(d);
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

static void test_publish_writes_the_map(void **state)
{
        struct fixture *f = *state;
        char buf[TP_SVCMAP_SIZE_MAX + 1], why[256], client[TP_CLIENT_MAX];
        struct stat st;
        ssize_t n;

        assert_int_equal(tp_mapfile_publish(f->config, f->sock), 0);
        assert_int_equal(lstat(f->map, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(st.st_uid, geteuid());
        n = tp_svcmap_read(f->map, geteuid(), buf, sizeof(buf), why, sizeof(why));
        assert_int_equal(n, strlen(MAP));
        assert_string_equal(buf, MAP);
        assert_int_equal(tp_svcmap_lookup(buf, (size_t) n, "login", client), TP_SVCMAP_MAPPED);
        assert_string_equal(client, "desktop");
        assert_int_equal(tp_svcmap_lookup(buf, (size_t) n, "su", client), TP_SVCMAP_UNMAPPED);
        assert_int_equal(entries(f->dir), 1);
}

/* A reader holding the old file keeps reading the old map: it is
 * replaced by a rename, never rewritten in place. */
static void test_publish_replaces(void **state)
{
        struct fixture *f = *state;
        struct stat before, after;

        assert_int_equal(tp_mapfile_publish(f->config, f->sock), 0);
        assert_int_equal(lstat(f->map, &before), 0);
        assert_int_equal(tp_mapfile_publish(f->config, f->sock), 0);
        assert_int_equal(lstat(f->map, &after), 0);
        assert_int_not_equal(before.st_ino, after.st_ino);
        assert_int_equal(entries(f->dir), 1);
}

/* When the new map cannot be written, the old one (of the previous
 * configuration) must not stay behind to be believed. */
static void test_failure_removes_the_stale_map(void **state)
{
        struct fixture *f = *state;
        struct rlimit saved, small = { 16, 16 };
        void (*old_handler)(int);
        int r;

        assert_int_equal(tp_mapfile_publish(f->config, f->sock), 0);
        assert_int_equal(access(f->map, F_OK), 0);
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
        old_handler = signal(SIGXFSZ, SIG_IGN);
        small.rlim_max = saved.rlim_max;
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
        r = tp_mapfile_publish(f->config, f->sock);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
        signal(SIGXFSZ, old_handler);
        assert_int_equal(r, -EFBIG);
        assert_int_equal(access(f->map, F_OK), -1);
        assert_int_equal(errno, ENOENT);
        assert_int_equal(entries(f->dir), 0);
}

static void test_path_too_long(void **state)
{
        struct fixture *f = *state;
        char *sock = malloc(PATH_MAX + 16);

        assert_non_null(sock);
        /* A directory name as long as PATH_MAX, then "/s". */
        memset(sock, 'a', PATH_MAX + 15);
        sock[0] = '/';
        sock[PATH_MAX + 12] = '/';
        sock[PATH_MAX + 13] = 's';
        sock[PATH_MAX + 14] = '\0';
        assert_int_equal(tp_mapfile_publish(f->config, sock), -ENAMETOOLONG);
        free(sock);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_publish_writes_the_map, setup, teardown),
                cmocka_unit_test_setup_teardown(test_publish_replaces, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failure_removes_the_stale_map, setup, teardown),
                cmocka_unit_test_setup_teardown(test_path_too_long, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
