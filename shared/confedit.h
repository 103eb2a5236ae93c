/* SPDX-License-Identifier: BSD-3-Clause */
/* confedit.h: one setting of a libconfig file, changed in the file's text.
 *
 * What `tokenpolicyctl config get|set|unset` and the Cockpit page build on.
 * The text is edited where the setting stands, so every comment, blank
 * line and indentation around it stays as it was. This module only finds
 * and rewrites text; whether the result is a valid policy is the config
 * module's job (tp_config_load_string()), and the caller must ask it
 * before writing. Library code: never logs, never exits.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A key is up to this many names joined by '.', e.g.
 * "clients.desktop.max_refresh_tokens". */
#define TP_CONFEDIT_DEPTH_MAX 8
#define TP_CONFEDIT_KEY_MAX 256

/* Why an edit could not be made: the line it concerns (0: none) and a
 * sentence without the file name. */
struct tp_confedit_error {
        unsigned line;
        char message[256];
};

/* 0 when key is well formed: names of libconfig's syntax (a letter or '*',
 * then letters, digits, '-', '_' or '*') joined by single dots, at most
 * TP_CONFEDIT_DEPTH_MAX of them. -EINVAL otherwise, with the reason. */
int tp_confedit_key_check(const char *key, struct tp_confedit_error *err);

enum tp_confedit_kind {
        TP_CONFEDIT_SCALAR,  /* bool, integer or float, as written */
        TP_CONFEDIT_STRING,  /* *ret_value holds the string, unescaped */
        TP_CONFEDIT_ARRAY,   /* [...] or (...), whitespace runs folded */
        TP_CONFEDIT_GROUP,   /* one "name = value" line per member */
};

/* The value of `key` in text[0..len). Returns 0 with a new string in
 * *ret_value, -ENOENT when the file does not set it, -EINVAL when text is
 * not libconfig syntax (err says where), -ENOMEM. */
int tp_confedit_get(const char *text, size_t len, const char *key, char **ret_value,
                    enum tp_confedit_kind *ret_kind, struct tp_confedit_error *err);

/* The libconfig form of a value given on a command line: a value that is
 * libconfig syntax on its own (true, 20, 0x10, "text", [...], (...), {...})
 * as it is; anything else is taken as a string and quoted, so that
 * `set unknown_client deny` needs no shell quoting. -EINVAL for a value
 * that looks like syntax but is not (an unbalanced bracket), -ENOMEM. */
int tp_confedit_literal(const char *value, char **ret_literal, struct tp_confedit_error *err);

/* text with `key` set to `literal` (from tp_confedit_literal()): the old
 * value replaced in place, or a new line added at the end of the group
 * that should hold it (groups on the way created as needed). Returns 0
 * with the new text (NUL-terminated) in *ret_text and its length in
 * *ret_len, -EINVAL (err says why: syntax, or a name on the way that is
 * not a group), -ENOMEM. */
int tp_confedit_set(const char *text, size_t len, const char *key, const char *literal,
                    char **ret_text, size_t *ret_len, struct tp_confedit_error *err);

/* text without the setting `key` (its whole line or lines when nothing else
 * stands on them). -ENOENT when the text does not set it, else as
 * tp_confedit_set(). */
int tp_confedit_unset(const char *text, size_t len, const char *key, char **ret_text,
                      size_t *ret_len, struct tp_confedit_error *err);

/* ---- the file ----------------------------------------------------------- */

/* The file's bytes, NUL-terminated (at most 1 MiB). 0, or a negative errno
 * (-EFBIG for a larger file). */
int tp_confedit_read(const char *path, char **ret_text, size_t *ret_len);

/* Serialise editors of the file at path among themselves: an exclusive
 * flock(2) on the file that path names now, taken again on the new file
 * when it was replaced while waiting. Hold the returned descriptor from
 * reading the file to tp_confedit_replace(), then close it. Editors that
 * do not take it (a text editor) are still caught by the comparison
 * tp_confedit_replace() makes. A descriptor, or a negative errno. */
int tp_confedit_lock(const char *path);

/* Replace the file at path with text, atomically: a new file beside it
 * with the old one's owner and mode, written and synced, swapped in by one
 * rename. Only if the file still holds `expected` (what the edit was made
 * from): the file that was swapped out is compared with it, and when it
 * differs (someone else wrote it meanwhile) their file is put back and
 * -ESTALE returned, the file as they left it (if they save again between
 * the two swaps, their newer file is the one put back, and a file this
 * has not seen is never deleted: with -EBUSY or a read error it is left
 * beside the file). Where the file system cannot
 * swap two names atomically the comparison is made just before the
 * rename. 0 on success, else a negative errno and the file unchanged. */
int tp_confedit_replace(const char *path, const char *expected, size_t expected_len,
                        const char *text, size_t len);
