/* SPDX-License-Identifier: BSD-3-Clause */
/* test_mapfile.c: the daemon publishing its service map
 * (tokenpolicyd/mapfile.c) into a private runtime directory and a private
 * state directory.
 *
 * The map of a real configuration (shared/config.c), written whole
 * with mode 0644 beside the socket and as the copy in the state directory
 * that outlives a reboot, and read back by the module's reader; replaced,
 * not rewritten in place, when the configuration changes, and left alone
 * when it does not (so a full disk cannot cost a map that is right); when
 * a new map cannot be written (a file size limit stands in for a full
 * disk), neither old map is left and no temporary file either; one
 * directory failing does not cost the other its map. Diagnostics go to
 * stderr; nothing is left behind.
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
/* The administrator maps su: the old maps would say it is not covered. */
#define CONF2                                                                   \
        "version = 1;\n"                                                        \
        "unknown_client = \"deny\";\n"                                          \
        "clients = {\n"                                                         \
        "  desktop = { services = [\"gdm-password\", \"login\", \"su\"]; };\n"  \
        "};\n"
#define MAP2                                                                    \
        "tokenpolicy-services 1\n"                                              \
        "unknown_client deny\n"                                                 \
        "client desktop gdm-password,login,su\n"                                \
        "end\n"

struct fixture {
        char dir[64];
        char run[96];
        char state[96];
        char sock[128];
        char map[128];
        char state_map[128];
        struct tp_config *config;
        struct tp_config *config2;
};

static struct tp_config *load(const char *text)
{
        struct tp_config_errors errs = { 0 };
        struct tp_config *c = NULL;

        assert_int_equal(tp_config_load_string(text, "test.conf", &c, &errs), 0);
        tp_config_errors_clear(&errs);
        return c;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        tp_log_open(true, false);
        snprintf(f->dir, sizeof(f->dir), "/tmp/tptest-mapfile-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        assert_int_equal(chmod(f->dir, 0755), 0);
        snprintf(f->run, sizeof(f->run), "%s/run", f->dir);
        snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
        assert_int_equal(mkdir(f->run, 0755), 0);
        assert_int_equal(mkdir(f->state, 0711), 0);
        snprintf(f->sock, sizeof(f->sock), "%s/tokenpolicyd.sock", f->run);
        snprintf(f->map, sizeof(f->map), "%s/%s", f->run, TP_SVCMAP_FILE);
        snprintf(f->state_map, sizeof(f->state_map), "%s/%s", f->state, TP_SVCMAP_FILE);
        f->config = load(CONF);
        f->config2 = load(CONF2);
        *state = f;
        return 0;
}

static void empty_dir(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        char path[PATH_MAX];

        while (d && (e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                        unlink(path);
                }
        if (d)
                closedir(d);
        rmdir(dir);
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        empty_dir(f->run);
        empty_dir(f->state);
        rmdir(f->dir);
        tp_config_free(f->config);
        tp_config_free(f->config2);
        free(f);
        return 0;
}

/* Every entry, hidden ones too: a temporary file left behind counts. */
static size_t entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        size_t n = 0;

        assert_non_null(d);
        while ((e = readdir(d)))
                n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
        closedir(d);
        return n;
}

/* The map at path, as the module reads it: trusted and exactly want. */
static void assert_map(const char *path, const char *want)
{
        char buf[TP_SVCMAP_SIZE_MAX + 1], why[256] = "";
        struct stat st;
        ssize_t n;

        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(st.st_uid, geteuid());
        n = tp_svcmap_read(path, geteuid(), buf, sizeof(buf), why, sizeof(why));
        assert_int_equal(n, strlen(want));
        assert_string_equal(buf, want);
}

static void assert_absent(const char *path)
{
        struct stat st;

        assert_int_equal(lstat(path, &st), -1);
        assert_int_equal(errno, ENOENT);
}

static ino_t inode(const char *path)
{
        struct stat st;

        assert_int_equal(lstat(path, &st), 0);
        return st.st_ino;
}

static void test_publish_writes_both_maps(void **state)
{
        struct fixture *f = *state;
        char buf[TP_SVCMAP_SIZE_MAX + 1], why[256], client[TP_CLIENT_MAX];
        ssize_t n;

        assert_int_equal(tp_mapfile_publish(f->config, f->sock, f->state), 0);
        assert_map(f->map, MAP);
        assert_map(f->state_map, MAP);
        n = tp_svcmap_read(f->state_map, geteuid(), buf, sizeof(buf), why, sizeof(why));
        assert_int_equal(tp_svcmap_lookup(buf, (size_t)n, "login", client), TP_SVCMAP_MAPPED);
        assert_string_equal(client, "desktop");
        assert_int_equal(tp_svcmap_lookup(buf, (size_t)n, "su", client), TP_SVCMAP_UNMAPPED);
        assert_int_equal(entries(f->run), 1);
        assert_int_equal(entries(f->state), 1);
}

/* A reader holding the old file keeps reading the old map: a new
 * configuration's map replaces it by a rename, never in place. */
static void test_publish_replaces(void **state)
{
        struct fixture *f = *state;
        ino_t run_before, state_before;

        assert_int_equal(tp_mapfile_publish(f->config, f->sock, f->state), 0);
        run_before = inode(f->map);
        state_before = inode(f->state_map);
        assert_int_equal(tp_mapfile_publish(f->config2, f->sock, f->state), 0);
        assert_int_not_equal(inode(f->map), run_before);
        assert_int_not_equal(inode(f->state_map), state_before);
        assert_map(f->map, MAP2);
        assert_map(f->state_map, MAP2);
        assert_int_equal(entries(f->run), 1);
        assert_int_equal(entries(f->state), 1);
}

/* A start or reload with the same configuration writes nothing; a map
 * that is not exactly what would be written (another mode, other bytes)
 * is written anew. */
static void test_unchanged_map_is_left_alone(void **state)
{
        struct fixture *f = *state;
        ino_t run_before, state_before;
        FILE *fp;

        assert_int_equal(tp_mapfile_publish(f->config, f->sock, f->state), 0);
        run_before = inode(f->map);
        state_before = inode(f->state_map);
        assert_int_equal(tp_mapfile_publish(f->config, f->sock, f->state), 0);
        assert_int_equal(inode(f->map), run_before);
        assert_int_equal(inode(f->state_map), state_before);

        assert_int_equal(chmod(f->state_map, 0664), 0);
        assert_non_null(fp = fopen(f->map, "w"));
        fputs(MAP2, fp); /* same length would not do: other bytes */
        fclose(fp);
        assert_int_equal(tp_mapfile_publish(f->config, f->sock, f->state), 0);
        assert_int_not_equal(inode(f->map), run_before);
        assert_int_not_equal(inode(f->state_map), state_before);
        assert_map(f->map, MAP);
        assert_map(f->state_map, MAP);
}

/* Runs tp_mapfile_publish(c) with files limited to 16 bytes. */
static int publish_with_a_full_disk(struct fixture *f, const struct tp_config *c)
{
        struct rlimit saved, small = { 16, 16 };
        void (*old_handler)(int);
        int r;

        assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
        old_handler = signal(SIGXFSZ, SIG_IGN);
        small.rlim_max = saved.rlim_max;
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
        r = tp_mapfile_publish(c, f->sock, f->state);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
        signal(SIGXFSZ, old_handler);
        return r;
}

/* When the new map cannot be written, the old ones (of the previous
 * configuration) must not stay behind to be believed, here or after a
 * reboot. */
static void test_failure_removes_both_stale_maps(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(tp_mapfile_publish(f->config, f->sock, f->state), 0);
        assert_int_equal(publish_with_a_full_disk(f, f->config2), -EFBIG);
        assert_absent(f->map);
        assert_absent(f->state_map);
        assert_int_equal(entries(f->run), 0);
        assert_int_equal(entries(f->state), 0);
}

/* The same configuration on a full disk: the maps are right, and kept. */
static void test_full_disk_keeps_the_right_maps(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(tp_mapfile_publish(f->config, f->sock, f->state), 0);
        assert_int_equal(publish_with_a_full_disk(f, f->config), 0);
        assert_map(f->map, MAP);
        assert_map(f->state_map, MAP);
}

/* A map that cannot be built (a name the format cannot carry) removes
 * both old ones too. */
static void test_unbuildable_map_removes_both(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(tp_mapfile_publish(f->config, f->sock, f->state), 0);
        strcpy(f->config2->clients[0].name, "desk top");
        assert_int_equal(tp_mapfile_publish(f->config2, f->sock, f->state), -EINVAL);
        assert_absent(f->map);
        assert_absent(f->state_map);
}

/* Each directory on its own: one that is gone costs only its own map. */
static void test_one_directory_failing(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(rmdir(f->state), 0);
        assert_int_equal(tp_mapfile_publish(f->config, f->sock, f->state), -ENOENT);
        assert_map(f->map, MAP);
        assert_int_equal(mkdir(f->state, 0711), 0);

        empty_dir(f->run);
        assert_int_equal(tp_mapfile_publish(f->config2, f->sock, f->state), -ENOENT);
        assert_map(f->state_map, MAP2);
        assert_int_equal(entries(f->state), 1);
}

static void test_path_too_long(void **state)
{
        struct fixture *f = *state;
        char *longer = malloc(PATH_MAX + 16);

        assert_non_null(longer);
        /* A directory name as long as PATH_MAX, then "/s". */
        memset(longer, 'a', PATH_MAX + 15);
        longer[0] = '/';
        longer[PATH_MAX + 12] = '/';
        longer[PATH_MAX + 13] = 's';
        longer[PATH_MAX + 14] = '\0';
        assert_int_equal(tp_mapfile_publish(f->config, longer, f->state), -ENAMETOOLONG);
        assert_int_equal(entries(f->state), 0);
        /* A state directory too long for the copy: the runtime map stays. */
        longer[PATH_MAX - 1] = '\0';
        assert_int_equal(tp_mapfile_publish(f->config, f->sock, longer), -ENAMETOOLONG);
        assert_map(f->map, MAP);
        free(longer);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_publish_writes_both_maps, setup, teardown),
                cmocka_unit_test_setup_teardown(test_publish_replaces, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unchanged_map_is_left_alone, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failure_removes_both_stale_maps, setup, teardown),
                cmocka_unit_test_setup_teardown(test_full_disk_keeps_the_right_maps, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unbuildable_map_removes_both, setup, teardown),
                cmocka_unit_test_setup_teardown(test_one_directory_failing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_path_too_long, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
