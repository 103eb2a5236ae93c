/* SPDX-License-Identifier: BSD-3-Clause */
/* ctl.h: what the parts of tokenpolicyctl share: the command table, the
 * daemon conversation and the output helpers.
 *
 * Private to the CLI; nothing here is wire protocol or daemon state. Helpers
 * named ctl_report_* and the command runners print their own error message
 * and return an exit status; every other helper returns a negative errno
 * and never prints.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "paths.h"
#include "proto.h"

#define CTL_PROGRAM "tokenpolicyctl"
#define CTL_SOCKET_ENV "TOKENPOLICY_SOCKET"
#define CTL_TIMEOUT_MS 10000

enum {
        CTL_EXIT_OK = 0,
        CTL_EXIT_FAIL = 1,        /* denied, invalid, not found */
        CTL_EXIT_USAGE = 2,
        CTL_EXIT_UNREACHABLE = 3, /* no answer from the daemon */
};

/* Long-only options shared by several commands. */
enum {
        CTL_OPT_SOCKET = 0x100,
        CTL_OPT_VERSION,
        CTL_OPT_USER,
        CTL_OPT_CLIENT,
        CTL_OPT_ALL,
        CTL_OPT_JSON,
        CTL_OPT_KEY,
        CTL_OPT_LIMIT,
        CTL_OPT_HOST,
        CTL_OPT_OTHERS,
        CTL_OPT_FILE,
        CTL_OPT_NO_RELOAD,
        CTL_OPT_DRY_RUN,
};

struct ctl_context;

struct ctl_command {
        const char *name;
        const char *synopsis; /* arguments after the command name */
        const char *summary;  /* one line for the global help */
        const char *help;     /* description for COMMAND --help */
        const char *options;  /* its options, one per line; NULL for none */
        int (*run)(struct ctl_context *ctx, int argc, char **argv);
        bool offline;         /* never talks to the daemon: no --socket */
};

struct ctl_context {
        const char *socket_arg; /* --socket, NULL when absent */
        const struct ctl_command *command;
};

/* ---- tokenpolicyctl.c: argument handling shared by the commands -------- */

__attribute__((format(printf, 1, 2)))
void ctl_error(const char *fmt, ...);

/* Report a getopt_long() result of '?' or ':' (optstring starting with
 * ':') for the current command; returns CTL_EXIT_USAGE. */
int ctl_report_option_error(const struct ctl_context *ctx, char **argv, int opt);

/* "COMMAND: <message>; see 'tokenpolicyctl COMMAND --help'"; returns
 * CTL_EXIT_USAGE. */
__attribute__((format(printf, 2, 3)))
int ctl_report_usage(const struct ctl_context *ctx, const char *fmt, ...);

/* Print the command's help on stdout; returns CTL_EXIT_OK. */
int ctl_command_help(const struct ctl_context *ctx);

/* What a command adds to the options every command has (-h/--help, and
 * --socket unless it is offline). */
struct option;
struct ctl_options {
        /* Its own long options, ended by {}; NULL for none. At most
         * CTL_COMMAND_OPTIONS_MAX. */
        const struct option *options;
        /* Called with each of its own options as getopt_long() returns
         * it, the value in optarg; returns 0 to go on, or the exit status
         * to stop with. */
        int (*handle)(struct ctl_context *ctx, int opt, void *userdata);
        /* Called once every option is read, before --socket is checked;
         * NULL for nothing to check. Returns like handle. */
        int (*check)(struct ctl_context *ctx, void *userdata);
        /* Positional arguments are the command's to check (from
         * argv[optind] on); when false any is a usage error. */
        bool arguments;
};

#define CTL_COMMAND_OPTIONS_MAX 8

/* ctl_parse_options() result when the command should go on; any other
 * result is the exit status to stop with (CTL_EXIT_OK after --help). */
#define CTL_OPTIONS_PARSED (-1)

/* Parse a command's options: -h/--help prints its help, --socket is
 * stored in ctx (and must not be empty), the rest go to o->handle. o may
 * be NULL for a command with no options of its own and no arguments.
 * Usage errors are reported as ctl_report_usage() does. */
int ctl_parse_options(struct ctl_context *ctx, int argc, char **argv,
                      const struct ctl_options *o, void *userdata);

/* ctl_parse_options() for a command whose only own option is --json. */
int ctl_parse_json_option(struct ctl_context *ctx, int argc, char **argv, bool *ret_json);

/* Reject positional arguments from argv[optind] on; returns 0 or
 * CTL_EXIT_USAGE after saying which one was unexpected. */
int ctl_check_no_arguments(const struct ctl_context *ctx, int argc, char **argv, int first);

/* 0 when s fits a protocol string field of fieldsz bytes, else
 * CTL_EXIT_USAGE after saying so. */
int ctl_check_field(const struct ctl_context *ctx, const char *what, const char *s,
                    size_t fieldsz);

/* ---- client.c: the conversation with tokenpolicyd ---------------------- */

struct ctl_conn {
        const char *path;
        int fd; /* -1 until the first request */
};

/* --socket, else $TOKENPOLICY_SOCKET when set and non-empty, else the
 * default. */
const char *ctl_socket_path(const struct ctl_context *ctx);

/* How to start tokenpolicyd, see its state and read its log on this host:
 * systemd's commands where systemd is the service manager (the test
 * sd_booted() makes: /run/systemd/system exists), the init script's where
 * the package installed one, else the daemon itself. Each is a phrase to
 * put after "run" or "see". */
struct ctl_hints {
        const char *start;
        const char *status;
        const char *log;
};
const struct ctl_hints *ctl_hints(void);

void ctl_conn_init(struct ctl_conn *c, const struct ctl_context *ctx);
void ctl_conn_close(struct ctl_conn *c);

/* Connect on first use, then send req and wait for its reply, each step
 * within CTL_TIMEOUT_MS. Returns 0 (whatever the reply's status), or an
 * exit status after telling the user why the daemon gave no answer. */
int ctl_request(struct ctl_conn *c, const struct tp_request *req, struct tp_reply *rep);

/* One request over a connection of its own (ctl_request()). Returns
 * CTL_EXIT_OK with the reply, whatever its status, in *ret_rep (free it
 * with ctl_reply_free()), or an exit status after saying why there is
 * none. */
int ctl_request_once(const struct ctl_context *ctx, const struct tp_request *req,
                     struct tp_reply **ret_rep);

/* ctl_request_once(), where a reply whose status is not OK is reported
 * (ctl_report_reply()) and freed. */
int ctl_request_ok(const struct ctl_context *ctx, const struct tp_request *req,
                   struct tp_reply **ret_rep);

/* A zeroed reply on the heap (it is large), and its disposal: the memory
 * is wiped first because replies may hold tokens. NULL is accepted. */
struct tp_reply *ctl_reply_new(void);
void ctl_reply_free(struct tp_reply *rep);

/* Print the daemon's message for a reply whose status is not OK; returns
 * CTL_EXIT_FAIL. */
int ctl_report_reply(const struct tp_reply *rep);

/* Print "out of memory" and return CTL_EXIT_FAIL. */
int ctl_report_oom(void);

/* ---- output.c: tables, JSON and time ----------------------------------- */

/* A grid of cells printed with columns as wide as their widest cell. Cells
 * are copied with control characters replaced, so text from the daemon can
 * never drive the terminal. */
struct ctl_table;

int ctl_table_new(size_t n_columns, size_t gap, struct ctl_table **ret);
void ctl_table_free(struct ctl_table *t);
int ctl_table_add(struct ctl_table *t, const char *cell);
__attribute__((format(printf, 2, 3)))
int ctl_table_addf(struct ctl_table *t, const char *fmt, ...);
/* Rows must be complete (-EINVAL otherwise). No padding after the last
 * column. */
int ctl_table_print(const struct ctl_table *t, FILE *f);

/* A JSON string literal: quotes, backslash and control characters escaped,
 * bytes that are not UTF-8 replaced by U+FFFD, so the output always
 * parses. */
void ctl_json_string(FILE *f, const char *s);

/* One session as a JSON object, members in the order `sessions --json`
 * prints them; no newline. */
/* host: the host that runs it (a "host" member), NULL for none. */
void ctl_json_session(FILE *f, const struct tp_session_info *s, const char *host);

#define CTL_SPAN_TEXT 32
#define CTL_TIME_TEXT 64
#define CTL_WHEN_TEXT (2 * CTL_TIME_TEXT + 8)

/* Local time "2026-11-29 14:03" (or with ":05" when with_seconds); "-" for
 * 0. */
void ctl_format_time(int64_t t, bool with_seconds, char out[CTL_TIME_TEXT]);
/* The two leading units of a span: "13d 4h", "3h 12m", "42m", "7s". */
void ctl_format_span(int64_t seconds, char out[CTL_SPAN_TEXT]);
/* "in 13d 4h" for the future, "3h 12m ago" for the past and now. */
void ctl_format_relative(int64_t t, int64_t now, char out[CTL_TIME_TEXT]);
/* ctl_format_time() followed by " (relative)"; "-" for 0. */
void ctl_format_time_relative(int64_t t, int64_t now, char out[CTL_WHEN_TEXT]);

/* Flush stdout; 0, or CTL_EXIT_FAIL after saying the output was lost. */
int ctl_finish_output(void);

/* ---- the commands ------------------------------------------------------ */

int ctl_cmd_status(struct ctl_context *ctx, int argc, char **argv);
int ctl_cmd_hosts(struct ctl_context *ctx, int argc, char **argv);
int ctl_cmd_jwks(struct ctl_context *ctx, int argc, char **argv);
int ctl_cmd_sessions(struct ctl_context *ctx, int argc, char **argv);
int ctl_cmd_revoke(struct ctl_context *ctx, int argc, char **argv);
int ctl_cmd_reload(struct ctl_context *ctx, int argc, char **argv);
int ctl_cmd_policy(struct ctl_context *ctx, int argc, char **argv);
int ctl_cmd_token(struct ctl_context *ctx, int argc, char **argv);
int ctl_cmd_verify(struct ctl_context *ctx, int argc, char **argv);
int ctl_cmd_explain(struct ctl_context *ctx, int argc, char **argv);
int ctl_cmd_rotate_key(struct ctl_context *ctx, int argc, char **argv);
int ctl_cmd_revoke_key(struct ctl_context *ctx, int argc, char **argv);
int ctl_cmd_config(struct ctl_context *ctx, int argc, char **argv);
