/* SPDX-License-Identifier: BSD-3-Clause */
/* test_confedit.c: unit tests for the configuration editor
 * (shared/confedit.c).
 *
 * Each edit is compared byte for byte with the text it must give: comments,
 * blank lines and indentation around the setting unchanged. The results of
 * edits on a complete configuration go through the daemon's checker
 * (shared/config.c). The file replacement runs on real files in a
 * temporary directory, including a file changed behind the editor's back,
 * and removes everything it creates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "confedit.h"
#include "config.h"

static const char sample[] =
        "# top comment { not a group\n"
        "version = 1;\n"
        "custom_token_policy = true;   # trailing comment\n"
        "unknown_client = \"deny\";\n"
        "defaults = {\n"
        "        /* a block comment; with = signs */\n"
        "        max_refresh_tokens = 20;\n"
        "        evict = \"oldest\";\n"
        "};\n"
        "clients = {\n"
        "        desktop = {\n"
        "                services = [\"gdm-password\", // inline\n"
        "                            \"login\"];\n"
        "                on_expiry = \"lock\";\n"
        "        };\n"
        "        web = { services = [\"cockpit\"]; };\n"
        "        mobile = { };\n"
        "};\n";

static char *edit_set(const char *text, const char *key, const char *value)
{
        struct tp_confedit_error err = {};
        char *literal = NULL, *out = NULL;
        size_t len = 0;

        assert_int_equal(tp_confedit_literal(value, &literal, &err), 0);
        assert_int_equal(tp_confedit_set(text, strlen(text), key, literal, &out, &len, &err), 0);
        assert_int_equal(strlen(out), len);
        free(literal);
        return out;
}

static char *edit_unset(const char *text, const char *key)
{
        struct tp_confedit_error err = {};
        char *out = NULL;
        size_t len = 0;

        assert_int_equal(tp_confedit_unset(text, strlen(text), key, &out, &len, &err), 0);
        return out;
}

/* text with `from` replaced once by `to`. */
static char *replaced(const char *text, const char *from, const char *to)
{
        const char *at = strstr(text, from);
        char *out;

        assert_non_null(at);
        assert_true(asprintf(&out, "%.*s%s%s", (int) (at - text), text, to,
                             at + strlen(from)) > 0);
        return out;
}

static void assert_get(const char *text, const char *key, const char *want,
                       enum tp_confedit_kind want_kind)
{
        struct tp_confedit_error err = {};
        enum tp_confedit_kind kind;
        char *value = NULL;

        assert_int_equal(tp_confedit_get(text, strlen(text), key, &value, &kind, &err), 0);
        assert_string_equal(value, want);
        assert_int_equal(kind, want_kind);
        free(value);
}

static void test_get(void **state)
{
        struct tp_confedit_error err = {};
        enum tp_confedit_kind kind;
        char *value = NULL;

        (void) state;
        assert_get(sample, "version", "1", TP_CONFEDIT_SCALAR);
        assert_get(sample, "custom_token_policy", "true", TP_CONFEDIT_SCALAR);
        assert_get(sample, "unknown_client", "deny", TP_CONFEDIT_STRING);
        assert_get(sample, "clients.desktop.on_expiry", "lock", TP_CONFEDIT_STRING);
        assert_get(sample, "clients.desktop.services", "[\"gdm-password\", \"login\"]",
                   TP_CONFEDIT_ARRAY);
        assert_get(sample, "defaults", "max_refresh_tokens = 20\nevict = \"oldest\"\n",
                   TP_CONFEDIT_GROUP);
        assert_get(sample, "clients.mobile", "", TP_CONFEDIT_GROUP);
        assert_get("s = \"a\\\"b\\\\c\" \"d\";", "s", "a\"b\\cd", TP_CONFEDIT_STRING);
        /* libconfig keeps the last of two settings of one name. */
        assert_get("a = 1;\na = 2;\n", "a", "2", TP_CONFEDIT_SCALAR);
        assert_get("a : 5\n", "a", "5", TP_CONFEDIT_SCALAR);

        assert_int_equal(tp_confedit_get(sample, strlen(sample), "clients.web.max_refresh_tokens",
                                         &value, &kind, &err), -ENOENT);
        assert_int_equal(tp_confedit_get(sample, strlen(sample), "version.x", &value, &kind, &err),
                         -ENOENT);
        assert_int_equal(tp_confedit_get(sample, strlen(sample), "nothing", &value, &kind, &err),
                         -ENOENT);
        assert_null(value);
}

static void test_keys(void **state)
{
        struct tp_confedit_error err = {};
        char deep[64] = "a.b.c.d.e.f.g.h", longkey[TP_CONFEDIT_KEY_MAX + 1];

        (void) state;
        assert_int_equal(tp_confedit_key_check("clients.desktop.max_refresh_tokens", &err), 0);
        assert_int_equal(tp_confedit_key_check(deep, &err), 0);
        strcat(deep, ".i");
        assert_int_equal(tp_confedit_key_check(deep, &err), -EINVAL);
        assert_non_null(strstr(err.message, "more than 8"));
        assert_int_equal(tp_confedit_key_check("", &err), -EINVAL);
        assert_int_equal(tp_confedit_key_check("a..b", &err), -EINVAL);
        assert_int_equal(tp_confedit_key_check("a.", &err), -EINVAL);
        assert_int_equal(tp_confedit_key_check(".a", &err), -EINVAL);
        assert_int_equal(tp_confedit_key_check("1a", &err), -EINVAL);
        assert_int_equal(tp_confedit_key_check("a b", &err), -EINVAL);
        assert_int_equal(tp_confedit_key_check("a;b=1", &err), -EINVAL);
        memset(longkey, 'a', sizeof(longkey) - 1);
        longkey[sizeof(longkey) - 1] = '\0';
        assert_int_equal(tp_confedit_key_check(longkey, &err), -EINVAL);
        longkey[TP_CONFEDIT_KEY_MAX - 1] = '\0';
        assert_int_equal(tp_confedit_key_check(longkey, &err), 0);
}

static void assert_literal(const char *value, const char *want)
{
        struct tp_confedit_error err = {};
        char *literal = NULL;

        assert_int_equal(tp_confedit_literal(value, &literal, &err), 0);
        assert_string_equal(literal, want);
        free(literal);
}

static void test_literal(void **state)
{
        struct tp_confedit_error err = {};
        char *literal = NULL;

        (void) state;
        assert_literal("true", "true");
        assert_literal("FALSE", "FALSE");
        assert_literal("20", "20");
        assert_literal("-3", "-3");
        assert_literal("0x10", "0x10");
        assert_literal("deny", "\"deny\"");
        assert_literal("", "\"\"");
        assert_literal("\"quoted\"", "\"quoted\"");
        assert_literal("[\"a\", \"b\"]", "[\"a\", \"b\"]");
        assert_literal("[]", "[]");
        /* Nothing can slip past the value into the file. */
        assert_literal("1; custom_token_policy = false", "\"1; custom_token_policy = false\"");
        assert_literal("a\"b\\c\nd\x01", "\"a\\\"b\\\\c\\nd\\x01\"");
        assert_int_equal(tp_confedit_literal("[\"a\"", &literal, &err), -EINVAL);
        assert_int_equal(tp_confedit_literal("[\"a\"]; x = 1", &literal, &err), -EINVAL);
        assert_int_equal(tp_confedit_literal("\"open", &literal, &err), -EINVAL);
        assert_int_equal(tp_confedit_literal("[\"a\"] # rest", &literal, &err), -EINVAL);
        assert_int_equal(tp_confedit_literal("[\"a\"] // rest", &literal, &err), -EINVAL);
        assert_literal("[\"a\"]  ", "[\"a\"]  ");
        assert_int_equal(tp_confedit_literal("{ a = ; }", &literal, &err), -EINVAL);
        assert_null(literal);
}

static void test_set_in_place(void **state)
{
        char *got, *want;

        (void) state;
        got = edit_set(sample, "defaults.max_refresh_tokens", "10");
        want = replaced(sample, "max_refresh_tokens = 20;", "max_refresh_tokens = 10;");
        assert_string_equal(got, want);
        free(got);
        free(want);

        got = edit_set(sample, "custom_token_policy", "false");
        want = replaced(sample, "custom_token_policy = true;", "custom_token_policy = false;");
        assert_string_equal(got, want);
        free(got);
        free(want);

        /* A value over two lines with a comment inside becomes the new one. */
        got = edit_set(sample, "clients.desktop.services", "[\"gdm-password\"]");
        want = replaced(sample, "[\"gdm-password\", // inline\n                            \"login\"]",
                        "[\"gdm-password\"]");
        assert_string_equal(got, want);
        free(got);
        free(want);

        got = edit_set(sample, "unknown_client", "web");
        want = replaced(sample, "\"deny\"", "\"web\"");
        assert_string_equal(got, want);
        free(got);
        free(want);
}

static void test_set_new(void **state)
{
        char *got, *want;

        (void) state;
        /* After the last setting of a group, at its indentation. */
        got = edit_set(sample, "clients.desktop.max_refresh_tokens", "30");
        want = replaced(sample, "on_expiry = \"lock\";\n",
                        "on_expiry = \"lock\";\n                max_refresh_tokens = 30;\n");
        assert_string_equal(got, want);
        free(got);
        free(want);

        /* A group on one line stays on one line. */
        got = edit_set(sample, "clients.web.access", "false");
        want = replaced(sample, "[\"cockpit\"]; };", "[\"cockpit\"]; access = false; };");
        assert_string_equal(got, want);
        free(got);
        free(want);

        /* An empty group opens up, in the file's unit of indentation. */
        got = edit_set(sample, "clients.mobile.access", "false");
        want = replaced(sample, "mobile = { };",
                        "mobile = {\n                access = false;\n        };");
        assert_string_equal(got, want);
        free(got);
        free(want);

        /* A group that does not exist yet, at the end of its parent. */
        got = edit_set(sample, "clients.kiosk.services", "[\"kiosk\"]");
        want = replaced(sample, "mobile = { };\n",
                        "mobile = { };\n        kiosk = { services = [\"kiosk\"]; };\n");
        assert_string_equal(got, want);
        free(got);
        free(want);

        /* A top-level setting at the end of the file. */
        got = edit_set(sample, "store.history_days", "7");
        assert_true(asprintf(&want, "%sstore = { history_days = 7; };\n", sample) > 0);
        assert_string_equal(got, want);
        free(got);
        free(want);
        /* A comment after the last setting that runs on to later lines
         * is not cut: the new setting goes before it, on that line. */
        got = edit_set("g = {\n  a = 1; /* one\n  two */\n};\n", "g.b", "2");
        assert_string_equal(got, "g = {\n  a = 1; b = 2; /* one\n  two */\n};\n");
        free(got);
        got = edit_set("g = {\n  a = 1; /* one */ # two\n};\n", "g.b", "2");
        assert_string_equal(got, "g = {\n  a = 1; /* one */ # two\n  b = 2;\n};\n");
        free(got);
        /* A value that runs straight into the next setting stays apart
         * from it when replaced by one that would join it. */
        got = edit_set("a = \"x\"b = 1;\n", "a", "5");
        assert_string_equal(got, "a = 5 b = 1;\n");
        free(got);
        got = edit_set("a = {x = 1;}b = 1;\n", "a", "5");
        assert_string_equal(got, "a = 5 b = 1;\n");
        free(got);
        got = edit_set("version = 1;", "a", "1");
        assert_string_equal(got, "version = 1;\na = 1;\n");
        free(got);
}

static void test_set_errors(void **state)
{
        struct tp_confedit_error err = {};
        char *out = NULL;
        size_t len;

        (void) state;
        assert_int_equal(tp_confedit_set(sample, strlen(sample), "version.x", "1", &out, &len, &err),
                         -EINVAL);
        assert_non_null(strstr(err.message, "'version' is not a group"));
        assert_int_equal(err.line, 2);

        /* Text the editor cannot read: the line of the fault. */
        static const struct { const char *text; unsigned line; const char *says; } bad[] = {
                { "a = 1;\n/* open\n", 2, "never closed" },
                { "a = 1;\nb = \"open\n", 2, "not closed" },
                { "a = 1;\nb 2;\n", 2, "expected '='" },
                { "a = {\n b = 1;\n", 3, "never closed" },
                { "a = [1, 2\n", 2, "']' is missing" },
                { "@include \"x\"\n", 1, "not supported" },
                { "a = ;\n", 1, "unexpected ';'" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err = (struct tp_confedit_error) {};
                assert_int_equal(tp_confedit_set(bad[i].text, strlen(bad[i].text), "x", "1", &out,
                                                 &len, &err), -EINVAL);
                assert_int_equal(err.line, bad[i].line);
                if (!strstr(err.message, bad[i].says))
                        fail_msg("case %zu: %s", i, err.message);
        }
        /* A NUL byte inside the text. */
        assert_int_equal(tp_confedit_set("a = 1;\0b = 2;", 13, "a", "1", &out, &len, &err), -EINVAL);
        assert_null(out);
}

static void test_unset(void **state)
{
        struct tp_confedit_error err = {};
        char *got, *want, *out = NULL;
        size_t len;

        (void) state;
        got = edit_unset(sample, "clients.desktop.on_expiry");
        want = replaced(sample, "                on_expiry = \"lock\";\n", "");
        assert_string_equal(got, want);
        free(got);
        free(want);

        /* With its trailing comment: the whole line goes. */
        got = edit_unset(sample, "custom_token_policy");
        want = replaced(sample, "custom_token_policy = true;   # trailing comment\n", "");
        assert_string_equal(got, want);
        free(got);
        free(want);

        /* Inside a line: only the setting and the blanks after it. */
        got = edit_unset(sample, "clients.web.services");
        want = replaced(sample, "web = { services = [\"cockpit\"]; };", "web = { };");
        assert_string_equal(got, want);
        free(got);
        free(want);

        got = edit_unset(sample, "defaults");
        want = replaced(sample, "defaults = {\n        /* a block comment; with = signs */\n"
                        "        max_refresh_tokens = 20;\n        evict = \"oldest\";\n};\n", "");
        assert_string_equal(got, want);
        free(got);
        free(want);

        got = edit_unset("a = 1;\nb = 2;", "b");
        assert_string_equal(got, "a = 1;\n");
        free(got);

        assert_int_equal(tp_confedit_unset(sample, strlen(sample), "clients.web.access", &out, &len,
                                           &err), -ENOENT);
        assert_null(out);
}

/* Edits of a complete file, judged by the daemon's checker. */
static void test_checker_sees_edits(void **state)
{
        static const char full[] =
                "version = 1;\n"
                "defaults = { max_refresh_tokens = 20; };\n"
                "clients = {\n"
                "        web = { services = [\"cockpit\"]; };\n"
                "        ssh = { services = [\"sshd\"]; };\n"
                "};\n";
        struct tp_config_errors errs = {};
        struct tp_config *cfg = NULL;
        char *got;

        (void) state;
        got = edit_set(full, "clients.web.max_refresh_tokens", "100");
        assert_int_equal(tp_config_load_string(got, "t.conf", &cfg, &errs), 0);
        assert_int_equal(tp_config_client(cfg, "web")->max_refresh_tokens, 100);
        assert_int_equal(tp_config_client(cfg, "ssh")->max_refresh_tokens, 20);
        tp_config_free(cfg);
        free(got);

        got = edit_set(full, "clients.web.max_refresh_tokens", "101");
        assert_int_equal(tp_config_load_string(got, "t.conf", &cfg, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.messages[0],
                            "t.conf:4: max_refresh_tokens = 101 is out of range (10..100)");
        tp_config_errors_clear(&errs);
        free(got);

        got = edit_set(full, "unknown_client", "ssh");
        assert_int_equal(tp_config_load_string(got, "t.conf", &cfg, &errs), 0);
        tp_config_free(cfg);
        free(got);

        got = edit_unset(full, "version");
        assert_int_equal(tp_config_load_string(got, "t.conf", &cfg, &errs), -EINVAL);
        tp_config_errors_clear(&errs);
        free(got);
}

/* ---- the file ----------------------------------------------------------- */

struct dir {
        char path[64];
        char file[128];
};

static int dir_setup(void **state)
{
        struct dir *d = calloc(1, sizeof(*d));

        if (!d)
                return -1;
        snprintf(d->path, sizeof(d->path), "/tmp/tptest-confedit.XXXXXX");
        if (!mkdtemp(d->path))
                return -1;
        snprintf(d->file, sizeof(d->file), "%s/tokenpolicy.conf", d->path);
        *state = d;
        return 0;
}

static int dir_teardown(void **state)
{
        struct dir *d = *state;
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
        if (system(cmd) != 0)
                return -1;
        free(d);
        return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static void assert_file(const char *path, const char *want)
{
        char *text = NULL;
        size_t len;

        assert_int_equal(tp_confedit_read(path, &text, &len), 0);
        assert_string_equal(text, want);
        free(text);
}

static size_t entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        size_t n = 0;

        assert_non_null(d);
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

/* A second editor waits for the first, and when the first has replaced the
 * file its lock is on the new file, not on the one the first replaced. */
static bool someone_waits_for_a_flock(void)
{
        char line[256];
        bool waiting = false;
        FILE *f = fopen("/proc/locks", "re");

        if (!f)
                return false;
        while (!waiting && fgets(line, sizeof(line), f))
                waiting = strstr(line, "-> FLOCK") != NULL;
        fclose(f);
        return waiting;
}

static void test_lock_follows_a_replaced_file(void **state)
{
        struct dir *d = *state;
        struct stat now;
        int held, pipefd[2], status;
        ino_t seen = 0;
        pid_t pid;

        write_file(d->file, "a = 1;\n", 0640);
        held = tp_confedit_lock(d->file);
        assert_true(held >= 0);
        assert_int_equal(pipe(pipefd), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct stat st;
                int fd;

                close(held); /* else the lock it waits for is also its own */
                fd = tp_confedit_lock(d->file);

                if (fd < 0 || fstat(fd, &st) < 0)
                        _exit(1);
                _exit(write(pipefd[1], &st.st_ino, sizeof(st.st_ino)) == sizeof(st.st_ino) ? 0 : 1);
        }
        close(pipefd[1]);
        for (int i = 0; i < 500 && !someone_waits_for_a_flock(); i++)
                usleep(10000);
        assert_int_equal(tp_confedit_replace(d->file, "a = 1;\n", 7, "a = 2;\n", 7), 0);
        close(held);
        assert_int_equal(read(pipefd[0], &seen, sizeof(seen)), (ssize_t) sizeof(seen));
        close(pipefd[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(stat(d->file, &now), 0);
        assert_int_equal(seen, now.st_ino);
        assert_int_equal(tp_confedit_lock("/nonexistent/tptest.conf"), -ENOENT);
}

static void test_replace(void **state)
{
        struct dir *d = *state;
        struct stat before, after;

        write_file(d->file, "a = 1;\n", 0640);
        assert_int_equal(stat(d->file, &before), 0);
        assert_int_equal(tp_confedit_replace(d->file, "a = 1;\n", 7, "a = 2;\n", 7), 0);
        assert_file(d->file, "a = 2;\n");
        assert_int_equal(stat(d->file, &after), 0);
        assert_int_equal(after.st_mode & 07777, 0640);
        assert_int_equal(after.st_uid, before.st_uid);
        assert_true(after.st_ino != before.st_ino); /* a new file, swapped in */
        assert_int_equal(entries(d->path), 1);
}

static void test_replace_stale(void **state)
{
        struct dir *d = *state;

        /* The edit was made from "a = 1;", but someone saved "a = 3;"
         * since: theirs stays, nothing else is left behind. */
        write_file(d->file, "a = 3;\n", 0644);
        assert_int_equal(tp_confedit_replace(d->file, "a = 1;\n", 7, "a = 2;\n", 7), -ESTALE);
        assert_file(d->file, "a = 3;\n");
        assert_int_equal(entries(d->path), 1);
        /* Same length, one byte apart, and a longer file: still stale. */
        assert_int_equal(tp_confedit_replace(d->file, "a = 4;\n", 7, "a = 2;\n", 7), -ESTALE);
        assert_int_equal(tp_confedit_replace(d->file, "a = 3;", 6, "a = 2;\n", 7), -ESTALE);
        assert_file(d->file, "a = 3;\n");
        assert_int_equal(entries(d->path), 1);
}

/* Another editor saving at chosen moments: this definition of renameat2()
 * stands in for libc's in this program, so that the one confedit.c calls
 * can be caught between its swaps. On calls number save_from to save_to
 * (counted from 1), before the swap, a new file holding "a = N;" (N from 4
 * up) is renamed over save_path, as an editor that takes no lock saves. */
static int renameat2_calls, save_from, save_to, saves;
static const char *save_path;

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)
{
        renameat2_calls++;
        if (save_path && renameat2_calls >= save_from && renameat2_calls <= save_to) {
                char tmp[PATH_MAX], text[32];

                snprintf(tmp, sizeof(tmp), "%s.other", save_path);
                snprintf(text, sizeof(text), "a = %d;\n", 4 + saves++);
                write_file(tmp, text, 0644);
                assert_int_equal(rename(tmp, save_path), 0);
        }
        return (int) syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

static void other_editor_saves(const char *path, int from, int to)
{
        renameat2_calls = saves = 0;
        save_path = path;
        save_from = from;
        save_to = to;
}

/* A stale replace while the other editor saves before swaps number 2 to
 * last_save: refused as stale, their newest file ("a = want;") stays and
 * nothing else is left behind. */
static void stale_while_they_save(struct dir *d, int last_save, int want_calls, int want)
{
        char text[32];

        write_file(d->file, "a = 3;\n", 0644);
        other_editor_saves(d->file, 2, last_save);
        assert_int_equal(tp_confedit_replace(d->file, "a = 1;\n", 7, "a = 2;\n", 7), -ESTALE);
        save_path = NULL;
        assert_int_equal(saves, last_save - 1);
        assert_int_equal(renameat2_calls, want_calls);
        snprintf(text, sizeof(text), "a = %d;\n", want);
        assert_file(d->file, text);
        assert_int_equal(entries(d->path), 1);
}

/* Stale, and the other editor saves again between the swap that found it
 * stale and the swap that puts theirs back: their newest file stays. */
static void test_replace_stale_while_they_save_again(void **state)
{
        stale_while_they_save(*state, 2, 3, 4);
}

/* They save twice while theirs is being put back, once before each swap:
 * the first swap brings their second file to tmp, the second their third;
 * the third swap finds back the file the second put at real, and their
 * newest stays. (Judged by content, the two newest would be swapped back
 * and forth until it gave up.) */
static void test_replace_stale_while_they_save_twice(void **state)
{
        stale_while_they_save(*state, 3, 4, 5);
}

/* They save before every swap: nothing seen or unseen is deleted; the
 * file swapped out last is left beside theirs and the change is refused. */
static void test_replace_stale_while_they_keep_saving(void **state)
{
        struct dir *d = *state;
        char *text = NULL;
        size_t len;

        write_file(d->file, "a = 3;\n", 0644);
        other_editor_saves(d->file, 2, 1000);
        assert_int_equal(tp_confedit_replace(d->file, "a = 1;\n", 7, "a = 2;\n", 7), -EBUSY);
        save_path = NULL;
        assert_int_equal(entries(d->path), 2);
        assert_int_equal(tp_confedit_read(d->file, &text, &len), 0);
        assert_true(strncmp(text, "a = ", 4) == 0 && strcmp(text, "a = 2;\n") != 0);
        free(text);
}

static void test_replace_symlink_and_errors(void **state)
{
        struct dir *d = *state;
        char link[160], sub[160];
        struct stat st;

        write_file(d->file, "a = 1;\n", 0644);
        snprintf(link, sizeof(link), "%s/link.conf", d->path);
        assert_int_equal(symlink("tokenpolicy.conf", link), 0);
        assert_int_equal(tp_confedit_replace(link, "a = 1;\n", 7, "a = 5;\n", 7), 0);
        assert_int_equal(lstat(link, &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        assert_file(d->file, "a = 5;\n");

        assert_int_equal(tp_confedit_replace("/nonexistent/tptest.conf", "", 0, "", 0), -ENOENT);
        snprintf(sub, sizeof(sub), "%s/dir", d->path);
        assert_int_equal(mkdir(sub, 0700), 0);
        assert_int_equal(tp_confedit_replace(sub, "", 0, "", 0), -EINVAL);
        assert_int_equal(entries(d->path), 3);
}

static void test_read_limits(void **state)
{
        struct dir *d = *state;
        char *text = NULL, *big;
        size_t len;
        int fd;

        big = malloc(1024 * 1024 + 1);
        assert_non_null(big);
        memset(big, '#', 1024 * 1024);
        big[1024 * 1024] = '\0';
        write_file(d->file, big, 0644);
        assert_int_equal(tp_confedit_read(d->file, &text, &len), 0);
        assert_int_equal(len, 1024 * 1024);
        free(text);
        fd = open(d->file, O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "#", 1), 1);
        close(fd);
        assert_int_equal(tp_confedit_read(d->file, &text, &len), -EFBIG);
        free(big);
        assert_int_equal(tp_confedit_read(d->path, &text, &len), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_get),
                cmocka_unit_test(test_keys),
                cmocka_unit_test(test_literal),
                cmocka_unit_test(test_set_in_place),
                cmocka_unit_test(test_set_new),
                cmocka_unit_test(test_set_errors),
                cmocka_unit_test(test_unset),
                cmocka_unit_test(test_checker_sees_edits),
                cmocka_unit_test_setup_teardown(test_replace, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_lock_follows_a_replaced_file, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_replace_stale, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_replace_stale_while_they_save_again, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_replace_stale_while_they_save_twice, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_replace_stale_while_they_keep_saving, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_replace_symlink_and_errors, dir_setup,
                                                dir_teardown),
                cmocka_unit_test_setup_teardown(test_read_limits, dir_setup, dir_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
