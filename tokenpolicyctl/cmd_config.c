/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_config.c: `config get|set|unset`: one setting of the configuration
 * file, read or changed from a shell, a script or the Cockpit page.
 *
 * A change is checked by the daemon's own checker (shared/config.c) on the
 * whole new text before anything is written, written atomically with its
 * comments and layout kept (shared/confedit.c), re-made on top of an edit
 * someone else saved meanwhile rather than overwriting it, and then the
 * daemon reloads. Never writes a file that does not pass the checker.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confedit.h"
#include "config.h"
#include "ctl.h"
#include "io.h"

/* How often a change is re-made on a file that others keep writing. */
#define CONFIG_ATTEMPTS_MAX 32

enum { CONFIG_GET, CONFIG_SET, CONFIG_UNSET };

struct config_args {
        const char *file;
        bool no_reload;
        bool dry_run;
        int action;
        char **words; /* get, unset: keys; set: key, value, key, value... */
        int n_words;
        const char *key; /* get: the key */
};

static int handle_config_option(struct ctl_context *ctx, int opt, void *userdata)
{
        struct config_args *a = userdata;

        if (opt == CTL_OPT_FILE) {
                if (optarg[0] == '\0')
                        return ctl_report_usage(ctx, "--file needs a path");
                a->file = optarg;
        } else if (opt == CTL_OPT_DRY_RUN) {
                a->dry_run = true;
        } else {
                a->no_reload = true;
        }
        return 0;
}

static int parse_config_args(struct ctl_context *ctx, int argc, char **argv,
                             struct config_args *a)
{
        static const struct option options[] = {
                { "file", required_argument, NULL, CTL_OPT_FILE },
                { "no-reload", no_argument, NULL, CTL_OPT_NO_RELOAD },
                { "dry-run", no_argument, NULL, CTL_OPT_DRY_RUN },
                {},
        };
        static const struct ctl_options o = {
                .options = options,
                .handle = handle_config_option,
                .arguments = true,
        };
        struct tp_confedit_error err = {};
        const char *action;
        int r, n;

        *a = (struct config_args) { .file = TP_DEFAULT_CONFIG };
        if ((r = ctl_parse_options(ctx, argc, argv, &o, a)) != CTL_OPTIONS_PARSED)
                return r;
        if (optind >= argc)
                return ctl_report_usage(ctx, "say what to do: get, set or unset");
        action = argv[optind];
        a->words = argv + optind + 1;
        a->n_words = n = argc - optind - 1;
        if (strcmp(action, "get") == 0) {
                a->action = CONFIG_GET;
                if (n != 1)
                        return ctl_report_usage(ctx, n == 0 ? "get needs a KEY" :
                                                "get takes one KEY");
                if (a->no_reload || a->dry_run)
                        return ctl_report_usage(ctx, "--no-reload and --dry-run go with set "
                                                "and unset");
                a->key = a->words[0];
        } else if (strcmp(action, "set") == 0) {
                a->action = CONFIG_SET;
                if (n == 0 || n % 2 != 0)
                        return ctl_report_usage(ctx, "set needs a KEY and a VALUE (or several "
                                                "pairs)");
        } else if (strcmp(action, "unset") == 0) {
                a->action = CONFIG_UNSET;
                if (n == 0)
                        return ctl_report_usage(ctx, "unset needs a KEY");
        } else {
                return ctl_report_usage(ctx, "unknown action '%s' (get, set or unset)", action);
        }
        for (int i = 0; i < n; i += a->action == CONFIG_SET ? 2 : 1)
                if (tp_confedit_key_check(a->words[i], &err) < 0)
                        return ctl_report_usage(ctx, "%s", err.message);
        return CTL_OPTIONS_PARSED;
}

static int report_read_error(const char *file, int r)
{
        if (r == -EFBIG)
                ctl_error("cannot read %s: larger than 1 MiB; is it the right file?", file);
        else if (r == -EINVAL)
                ctl_error("cannot read %s: not a regular file", file);
        else
                ctl_error("cannot read %s: %s", file, strerror(-r));
        return CTL_EXIT_FAIL;
}

static int report_edit_error(const char *file, const struct tp_confedit_error *err, int r)
{
        if (r == -ENOMEM)
                return ctl_report_oom();
        fflush(stdout);
        if (err->line > 0)
                fprintf(stderr, "%s:%u: %s\n", file, err->line, err->message);
        else
                fprintf(stderr, "%s: %s\n", file, err->message);
        ctl_error("%s was not changed", file);
        return CTL_EXIT_FAIL;
}

static int config_get(const struct config_args *a)
{
        struct tp_confedit_error err = {};
        enum tp_confedit_kind kind;
        char *text = NULL, *value = NULL;
        size_t len;
        int r;

        if ((r = tp_confedit_read(a->file, &text, &len)) < 0)
                return report_read_error(a->file, r);
        r = tp_confedit_get(text, len, a->key, &value, &kind, &err);
        free(text);
        if (r == -ENOENT) {
                ctl_error("%s does not set %s; the value in force comes from 'defaults' or the "
                          "built-in values (see '" CTL_PROGRAM " policy')", a->file, a->key);
                return CTL_EXIT_FAIL;
        }
        if (r < 0) {
                if (r == -ENOMEM)
                        return ctl_report_oom();
                fflush(stdout);
                fprintf(stderr, "%s:%u: %s\n", a->file, err.line, err.message);
                return CTL_EXIT_FAIL;
        }
        fputs(value, stdout);
        if (kind != TP_CONFEDIT_GROUP)
                fputc('\n', stdout);
        free(value);
        return CTL_EXIT_OK;
}

/* The checker's verdict on the new text; its errors printed with the
 * file's name, so that they read as the reload's would. */
static int check_new_text(const char *file, const char *text)
{
        struct tp_config_errors errs = {};
        struct tp_config *cfg = NULL;
        int r;

        r = tp_config_load_string(text, file, &cfg, &errs);
        if (r == 0) {
                tp_config_free(cfg);
                return 0;
        }
        if (r == -ENOMEM && errs.n == 0)
                return ctl_report_oom();
        fflush(stdout);
        for (size_t i = 0; i < errs.n; i++)
                fprintf(stderr, "%s\n", errs.messages[i]);
        tp_config_errors_clear(&errs);
        ctl_error("%s was not changed: the result would not be a valid configuration", file);
        return CTL_EXIT_FAIL;
}

/* Ask the daemon to reload, when it runs and reads this file. */
static int reload_daemon(struct ctl_context *ctx, const char *file)
{
        struct tp_request status = { .type = TP_REQ_STATUS }, reload = { .type = TP_REQ_RELOAD };
        char ours[PATH_MAX], theirs[PATH_MAX];
        struct tp_reply *rep = NULL;
        struct ctl_conn conn;
        int fd, r;

        ctl_conn_init(&conn, ctx);
        r = tp_io_connect(conn.path, CTL_TIMEOUT_MS, &fd);
        if (r == -ENOENT || r == -ECONNREFUSED) {
                printf("tokenpolicyd is not running (no one listens on %s); it reads the new "
                       "file when it starts.\n", conn.path);
                return CTL_EXIT_OK;
        }
        conn.fd = r < 0 ? -1 : fd;
        if (!(rep = ctl_reply_new()))
                return ctl_report_oom();
        if ((r = ctl_request(&conn, &status, rep)) != CTL_EXIT_OK)
                goto out;
        if (rep->status != TP_STATUS_OK) {
                r = ctl_report_reply(rep);
                goto out;
        }
        if (!realpath(file, ours) || !realpath(rep->u.status.config_path, theirs) ||
            strcmp(ours, theirs) != 0) {
                printf("tokenpolicyd reads %s, not this file: not reloaded.\n",
                       rep->u.status.config_path);
                r = CTL_EXIT_OK;
                goto out;
        }
        ctl_reply_free(rep);
        if (!(rep = ctl_reply_new())) {
                r = ctl_report_oom();
                goto out;
        }
        if ((r = ctl_request(&conn, &reload, rep)) != CTL_EXIT_OK)
                goto out;
        if (rep->status != TP_STATUS_OK) {
                fflush(stdout);
                if (rep->message[0])
                        fprintf(stderr, "%s%s", rep->message,
                                rep->message[strlen(rep->message) - 1] == '\n' ? "" : "\n");
                ctl_error("%s was changed, but tokenpolicyd did not reload it; the running "
                          "policy stays in force", file);
                r = CTL_EXIT_FAIL;
                goto out;
        }
        printf("tokenpolicyd reloaded; new values apply at the next sign-in or token refresh.\n");
        r = CTL_EXIT_OK;
out:
        ctl_reply_free(rep);
        ctl_conn_close(&conn);
        return r;
}

/* The text with every change of the command line made, in order. */
static int apply_changes(const struct config_args *a, char *const *literals, const char *text,
                         size_t len, char **ret_text, size_t *ret_len,
                         struct tp_confedit_error *err, bool *ret_changed)
{
        char *cur = strndup(text, len), *next = NULL;
        size_t cur_len = len, next_len = 0;
        bool changed = false;
        int r = 0;

        if (!cur)
                return -ENOMEM;
        for (int i = 0; i < a->n_words; i += a->action == CONFIG_SET ? 2 : 1) {
                if (a->action == CONFIG_SET)
                        r = tp_confedit_set(cur, cur_len, a->words[i], literals[i / 2], &next,
                                            &next_len, err);
                else
                        r = tp_confedit_unset(cur, cur_len, a->words[i], &next, &next_len, err);
                if (r == -ENOENT) {
                        printf("%s does not set %s; nothing to remove.\n", a->file, a->words[i]);
                        continue;
                }
                if (r < 0)
                        break;
                changed |= next_len != cur_len || memcmp(next, cur, cur_len) != 0;
                free(cur);
                cur = next;
                cur_len = next_len;
                next = NULL;
        }
        if (r < 0 && r != -ENOENT) {
                free(cur);
                return r;
        }
        *ret_text = cur;
        *ret_len = cur_len;
        *ret_changed = changed;
        return 0;
}

static int config_change(struct ctl_context *ctx, const struct config_args *a)
{
        struct tp_confedit_error err = {};
        char **literals = NULL, *text = NULL, *edited = NULL;
        size_t len = 0, edited_len = 0;
        int n_literals = a->action == CONFIG_SET ? a->n_words / 2 : 0, r, attempt, lock = -1;
        bool changed = false;

        literals = calloc((size_t) n_literals + 1, sizeof(*literals));
        if (!literals)
                return ctl_report_oom();
        for (int i = 0; i < n_literals; i++)
                if ((r = tp_confedit_literal(a->words[2 * i + 1], &literals[i], &err)) < 0) {
                        r = r == -ENOMEM ? ctl_report_oom() :
                            ctl_report_usage(ctx, "value of %s: %s", a->words[2 * i], err.message);
                        goto out;
                }
        /* Two `config set` at once would otherwise undo each other's
         * swap; a text editor saving meanwhile is caught by the comparison
         * the replace makes. A dry run writes nothing and waits for no one. */
        if (!a->dry_run && (lock = tp_confedit_lock(a->file)) < 0) {
                r = report_read_error(a->file, lock);
                goto out;
        }
        for (attempt = 1;; attempt++) {
                free(text);
                free(edited);
                text = edited = NULL;
                if ((r = tp_confedit_read(a->file, &text, &len)) < 0) {
                        r = report_read_error(a->file, r);
                        goto out;
                }
                r = apply_changes(a, literals, text, len, &edited, &edited_len, &err, &changed);
                if (r < 0) {
                        r = report_edit_error(a->file, &err, r);
                        goto out;
                }
                if (!changed) {
                        if (a->action == CONFIG_SET)
                                printf("%s already has %s; nothing to change.\n", a->file,
                                       a->n_words == 2 ? "that value" : "these values");
                        r = CTL_EXIT_OK;
                        goto out;
                }
                if ((r = check_new_text(a->file, edited)) != 0)
                        goto out;
                if (a->dry_run) {
                        printf("%s: the change is valid; not written (--dry-run).\n", a->file);
                        r = CTL_EXIT_OK;
                        goto out;
                }
                r = tp_confedit_replace(a->file, text, len, edited, edited_len);
                if (r != -ESTALE)
                        break;
                if (attempt == CONFIG_ATTEMPTS_MAX) {
                        ctl_error("%s changed %d times while this change was being made; "
                                  "not changed, try again", a->file, attempt);
                        r = CTL_EXIT_FAIL;
                        goto out;
                }
                /* Someone saved the file meanwhile: theirs is kept, and
                 * this change is made again on top of it. */
        }
        if (r == -EBUSY) {
                ctl_error("%s was saved again and again while its version was being put back; this "
                          "change was not made, and one of their versions is left beside it as "
                          ".%s.XXXXXX: compare the two and remove the one not wanted",
                          a->file, strrchr(a->file, '/') ? strrchr(a->file, '/') + 1 : a->file);
                r = CTL_EXIT_FAIL;
                goto out;
        }
        if (r < 0) {
                ctl_error("cannot write %s: %s%s; it was not changed", a->file, strerror(-r),
                          r == -EACCES || r == -EPERM || r == -EROFS ?
                          " (changing the configuration needs root)" : "");
                r = CTL_EXIT_FAIL;
                goto out;
        }
        for (int i = 0; i < a->n_words; i += a->action == CONFIG_SET ? 2 : 1)
                if (a->action == CONFIG_SET)
                        printf("%s: %s = %s\n", a->file, a->words[i], literals[i / 2]);
                else
                        printf("%s: %s removed\n", a->file, a->words[i]);
        if (lock >= 0) {
                close(lock);
                lock = -1;
        }
        r = a->no_reload ? CTL_EXIT_OK : reload_daemon(ctx, a->file);
out:
        if (lock >= 0)
                close(lock);
        for (int i = 0; literals && i < n_literals; i++)
                free(literals[i]);
        free(literals);
        free(text);
        free(edited);
        return r;
}

int ctl_cmd_config(struct ctl_context *ctx, int argc, char **argv)
{
        struct config_args a;
        int r;

        if ((r = parse_config_args(ctx, argc, argv, &a)) != CTL_OPTIONS_PARSED)
                return r;
        if (a.action == CONFIG_GET)
                return config_get(&a);
        return config_change(ctx, &a);
}
