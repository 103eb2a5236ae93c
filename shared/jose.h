/* SPDX-License-Identifier: BSD-3-Clause */
/* jose.h: the text encodings under a compact JWT: base64url, UTF-8
 * validation, a bounded JSON writer and a strict parser for flat JSON
 * objects (the JWT header and claims).
 *
 * It only turns bytes into text and back: it never includes OpenSSL, never
 * signs, verifies or decides whether a token is trusted (jwt.c and
 * tokenpolicyd's jwt_sign.c do), never allocates, never logs, never
 * recurses, and never reads or writes past the sizes it is given. Shared
 * by tokenpolicyd and tokenpolicyctl.
 *
 * Return conventions: 0 on success or a negative errno. A `ret_` or `*ret`
 * out-parameter is written only on success; an output buffer may hold
 * partial bytes after a failure and must then be discarded.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define TP_JSON_MEMBERS_MAX 16          /* members in one object */
#define TP_JSON_KEY_MAX 32              /* a key's buffer: 31 bytes and NUL */
#define TP_JSON_STRING_MAX TP_USER_MAX  /* a string value's buffer, NUL included */

/* ---- base64url (RFC 4648 section 5), unpadded ---------------------------- */

/* Encode n bytes into out as NUL-terminated text of n / 3 * 4 + (n % 3 ?
 * n % 3 + 1 : 0) characters; *ret_len is that length. Returns -ENOBUFS when
 * the text and its NUL do not fit outsz (nothing is written then). */
int tp_b64url_encode(const uint8_t *in, size_t n, char *out, size_t outsz, size_t *ret_len);

/* Decode n characters (not NUL-terminated) into out[0..outsz); *ret_len is
 * the byte count. Strict: no padding, no whitespace, nothing outside the
 * base64url alphabet, no length with n % 4 == 1, and canonical (the unused
 * low bits of the last character are zero), so one byte string has exactly
 * one encoding. Returns -EBADMSG for any of those and when the decoded bytes
 * would exceed outsz (checked before anything is written). */
int tp_b64url_decode(const char *in, size_t n, uint8_t *out, size_t outsz, size_t *ret_len);

/* ---- JSON output ----------------------------------------------------------- */

/* A writer into a fixed buffer the caller owns. Whatever has been written
 * is kept NUL-terminated. A write that does not fit (with its NUL) sets
 * `overflow`, writes nothing, and every later write is ignored: check
 * `overflow` once after the last write, not after each one. */
struct tp_json_out {
        char *buf;
        size_t len;  /* bytes written so far, NUL excluded */
        size_t size; /* capacity of buf, NUL included */
        bool overflow;
};

/* Start writing into buf[0..size). size 0 makes every write overflow. */
void tp_json_out_init(struct tp_json_out *j, char *buf, size_t size);

/* Append text verbatim: n bytes, a C string, a decimal integer. The
 * caller vouches that the text is valid JSON at that place. */
void tp_json_put(struct tp_json_out *j, const char *s, size_t n);
void tp_json_puts(struct tp_json_out *j, const char *s);
void tp_json_put_int(struct tp_json_out *j, int64_t v);

/* Append s as a quoted JSON string: quote and backslash escaped with a
 * backslash, bytes below 0x20 as \u00xx, all other UTF-8 passed through
 * (nothing else is escaped, so the output is as short as JSON allows).
 * Returns -EINVAL when s is not well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF); the output then holds a
 * partial string and must be discarded. Running out of room is reported
 * through `overflow`, not here. */
int tp_json_put_string(struct tp_json_out *j, const char *s);

/* ---- JSON input: one flat object of strings and integers ------------------ */

enum tp_json_kind { TP_JSON_STRING, TP_JSON_INTEGER };

struct tp_json_member {
        char key[TP_JSON_KEY_MAX];
        enum tp_json_kind kind;
        char string[TP_JSON_STRING_MAX]; /* when kind is TP_JSON_STRING */
        int64_t integer;                 /* when kind is TP_JSON_INTEGER */
};

struct tp_json_object {
        size_t n;
        struct tp_json_member members[TP_JSON_MEMBERS_MAX];
};

/* Parse text[0..len) (not NUL-terminated; a NUL byte anywhere is an error)
 * as exactly one JSON object whose values are all strings or integers:
 * whitespace (space, tab, LF, CR) allowed around tokens; no nesting, arrays,
 * true/false/null, fractions or exponents; no duplicate keys (compared after
 * unescaping); nothing but whitespace after the closing brace.
 *   - at most TP_JSON_MEMBERS_MAX members;
 *   - a key at most TP_JSON_KEY_MAX - 1 bytes, a string value at most
 *     TP_JSON_STRING_MAX - 1 bytes, both counted after unescaping;
 *   - strings: raw bytes must be UTF-8 and not below 0x20; escapes are
 *     JSON's, with \uXXXX limited to U+0001..U+FFFF without surrogates (so
 *     a parsed string never holds a NUL and is always UTF-8);
 *   - integers: JSON's grammar (optional minus, no leading zero) within
 *     INT64_MIN..INT64_MAX; "-0" is 0.
 * Returns -EBADMSG for anything else; obj is then of no use. */
int tp_json_parse_flat_object(const char *text, size_t len, struct tp_json_object *obj);

/* The member named key, or NULL. */
const struct tp_json_member *tp_json_get(const struct tp_json_object *obj, const char *key);

/* Copy the string member key into out[0..outsz), NUL-terminated. Returns
 * -EBADMSG when it is absent, not a string, or outsz bytes or longer (out
 * is then untouched). */
int tp_json_get_string(const struct tp_json_object *obj, const char *key, char *out, size_t outsz);

/* The integer member key. Returns -EBADMSG when it is absent or not an
 * integer. */
int tp_json_get_integer(const struct tp_json_object *obj, const char *key, int64_t *ret);
