/* SPDX-License-Identifier: BSD-3-Clause */
/* test_jose.c: unit tests for the text encodings of a JWT (shared/jose.c).
 *
 * base64url against the RFC 4648 vectors and its strictness rules, UTF-8
 * at the edge of every range RFC 3629 allows, the JSON writer's escaping
 * and its buffer bound, and the flat-object parser at each of its limits
 * on both sides (members, key and string lengths, int64 range, \u range).
 * test_jwt.c reaches the same code through signed tokens; here each
 * function is driven directly. Must never print outside cmocka.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jose.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL 0x5a

static struct tp_json_object obj;

static int parse(const char *text)
{
        return tp_json_parse_flat_object(text, strlen(text), &obj);
}

static void fill(char *buf, size_t n, char c)
{
        memset(buf, c, n);
        buf[n] = '\0';
}

/* ---- base64url ---------------------------------------------------------------- */

static void test_b64url_rfc4648_vectors(void **state)
{
        static const struct {
                const char *raw, *text;
        } v[] = {
                { "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
                { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
        };
        char text[16];
        uint8_t raw[16];
        size_t i, len;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(v); i++) {
                assert_int_equal(tp_b64url_encode((const uint8_t *)v[i].raw, strlen(v[i].raw),
                                                  text, sizeof(text), &len), 0);
                assert_string_equal(text, v[i].text);
                assert_int_equal(len, strlen(v[i].text));
                assert_int_equal(tp_b64url_decode(v[i].text, strlen(v[i].text), raw, sizeof(raw),
                                                  &len), 0);
                assert_int_equal(len, strlen(v[i].raw));
                assert_memory_equal(raw, v[i].raw, len);
        }
}

static void test_b64url_url_alphabet_and_all_bytes(void **state)
{
        static const uint8_t high[] = { 0xfb, 0xff, 0xbf };
        uint8_t all[256], back[256];
        char text[400];
        size_t i, len;

        (void)state;
        assert_int_equal(tp_b64url_encode(high, sizeof(high), text, sizeof(text), &len), 0);
        assert_string_equal(text, "-_-_");

        for (i = 0; i < sizeof(all); i++)
                all[i] = (uint8_t)i;
        assert_int_equal(tp_b64url_encode(all, sizeof(all), text, sizeof(text), &len), 0);
        assert_int_equal(len, 342);
        assert_null(strpbrk(text, "+/="));
        assert_int_equal(tp_b64url_decode(text, len, back, sizeof(back), &len), 0);
        assert_int_equal(len, sizeof(all));
        assert_memory_equal(back, all, sizeof(all));
}

/* The text and its NUL must fit: outsz = length + 1 passes, length fails
 * and writes nothing. */
static void test_b64url_encode_output_size_edge(void **state)
{
        static const uint8_t raw[] = "foobar";
        char text[16];
        size_t n, need, len;

        (void)state;
        for (n = 0; n <= 6; n++) {
                need = n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
                memset(text, SENTINEL, sizeof(text));
                assert_int_equal(tp_b64url_encode(raw, n, text, need + 1, &len), 0);
                assert_int_equal(len, need);
                assert_int_equal(text[need], '\0');

                memset(text, SENTINEL, sizeof(text));
                len = 99;
                assert_int_equal(tp_b64url_encode(raw, n, text, need, &len), -ENOBUFS);
                assert_int_equal(len, 99);
                assert_int_equal((unsigned char)text[0], SENTINEL);
        }
}

/* Exactly outsz decoded bytes pass, one more fails before any is written. */
static void test_b64url_decode_output_size_edge(void **state)
{
        static const char *texts[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
        uint8_t raw[16];
        size_t i, len;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(texts); i++) {
                assert_int_equal(tp_b64url_decode(texts[i], strlen(texts[i]), raw, i, &len), 0);
                assert_int_equal(len, i);
                if (i == 0)
                        continue;
                memset(raw, SENTINEL, sizeof(raw));
                len = 99;
                assert_int_equal(tp_b64url_decode(texts[i], strlen(texts[i]), raw, i - 1, &len),
                                 -EBADMSG);
                assert_int_equal(len, 99);
                assert_int_equal(raw[0], SENTINEL);
        }
}

static void test_b64url_decode_is_strict(void **state)
{
        static const char *bad[] = {
                "Z", "Zm9vY",                   /* n % 4 == 1 */
                "Zg==", "Zm8=", "Zg=",          /* padding */
                "Zm 9", "Zm9\n", " Zm9", "Zm9vYg\r\n", /* whitespace */
                "Zm+v", "Zm/v", "Zm.v", "Zm\xc3\xa9",
                "Zh", "Zx", "Zm9", "Zm9vYh",    /* non-canonical last character */
        };
        static const char with_nul[] = { 'Z', 'm', '\0', 'v' };
        uint8_t raw[16];
        size_t i, len;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(tp_b64url_decode(bad[i], strlen(bad[i]), raw, sizeof(raw), &len),
                                 -EBADMSG);
        assert_int_equal(tp_b64url_decode(with_nul, sizeof(with_nul), raw, sizeof(raw), &len),
                         -EBADMSG);
        /* The canonical neighbours of the non-canonical texts above. */
        assert_int_equal(tp_b64url_decode("Zg", 2, raw, sizeof(raw), &len), 0);
        assert_int_equal(tp_b64url_decode("Zw", 2, raw, sizeof(raw), &len), 0);
        assert_int_equal(raw[0], 'g');
        assert_int_equal(tp_b64url_decode("Zm8", 3, raw, sizeof(raw), &len), 0);
        /* Only n characters are read. */
        assert_int_equal(tp_b64url_decode("Zm9v!!", 4, raw, sizeof(raw), &len), 0);
        assert_int_equal(len, 3);
}

/* ---- UTF-8 (through the JSON string writer) ------------------------------------ */

static int put_string(const char *s, char *out, size_t outsz)
{
        struct tp_json_out j;
        int r;

        tp_json_out_init(&j, out, outsz);
        r = tp_json_put_string(&j, s);
        assert_false(j.overflow);
        return r;
}

static void test_utf8_range_edges(void **state)
{
        static const char *good[] = {
                "\x7f",                                    /* last ASCII */
                "\xc2\x80", "\xdf\xbf",                    /* U+0080, U+07FF */
                "\xe0\xa0\x80", "\xe1\x80\x80", "\xec\xbf\xbf",
                "\xed\x80\x80", "\xed\x9f\xbf",            /* up to U+D7FF */
                "\xee\x80\x80", "\xef\xbf\xbf",            /* U+E000, U+FFFF */
                "\xf0\x90\x80\x80", "\xf3\xbf\xbf\xbf",    /* U+10000 */
                "\xf4\x80\x80\x80", "\xf4\x8f\xbf\xbf",    /* up to U+10FFFF */
        };
        static const char *bad[] = {
                "\x80", "\xbf",                            /* lone continuation */
                "\xc0\x80", "\xc1\xbf",                    /* overlong 2-byte */
                "\xc2\x7f", "\xc2\xc0",                    /* continuation out of range */
                "\xe0\x9f\xbf",                            /* overlong 3-byte */
                "\xed\xa0\x80", "\xed\xbf\xbf",            /* surrogates */
                "\xe1\x80\x7f", "\xe1\x80\xc0",
                "\xf0\x8f\xbf\xbf",                        /* overlong 4-byte */
                "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",    /* past U+10FFFF */
                "\xf1\x80\x80\x7f", "\xf1\x80\x80\xc0",
                "\xf8\x88\x80\x80\x80", "\xfe", "\xff",
                "\xc2", "\xe2\x82", "\xf0\x9f\x98",        /* cut short */
                "ok\xc2", "\xe2\x82z",
        };
        char out[32], want[32];
        size_t i;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(good); i++) {
                assert_int_equal(put_string(good[i], out, sizeof(out)), 0);
                snprintf(want, sizeof(want), "\"%s\"", good[i]);
                assert_string_equal(out, want);
        }
        for (i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(put_string(bad[i], out, sizeof(out)), -EINVAL);
}

/* ---- JSON output ----------------------------------------------------------------- */

static void test_json_put_string_escapes(void **state)
{
        char in[2], out[16], want[16];
        int c;

        (void)state;
        assert_int_equal(put_string("", out, sizeof(out)), 0);
        assert_string_equal(out, "\"\"");
        assert_int_equal(put_string("a\"b\\c/d", out, sizeof(out)), 0);
        assert_string_equal(out, "\"a\\\"b\\\\c/d\"");
        /* Every byte below 0x20 as \u00xx; 0x20 and 0x7f pass through. */
        for (c = 1; c < 0x20; c++) {
                in[0] = (char)c;
                in[1] = '\0';
                assert_int_equal(put_string(in, out, sizeof(out)), 0);
                snprintf(want, sizeof(want), "\"\\u%04x\"", c);
                assert_string_equal(out, want);
        }
        assert_int_equal(put_string(" \x7f", out, sizeof(out)), 0);
        assert_string_equal(out, "\" \x7f\"");
}

static void test_json_put_int_extremes(void **state)
{
        static const struct {
                int64_t v;
                const char *text;
        } v[] = {
                { 0, "0" }, { -1, "-1" }, { INT64_MAX, "9223372036854775807" },
                { INT64_MIN, "-9223372036854775808" },
        };
        struct tp_json_out j;
        char out[32];
        size_t i;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(v); i++) {
                tp_json_out_init(&j, out, sizeof(out));
                tp_json_put_int(&j, v[i].v);
                assert_false(j.overflow);
                assert_string_equal(out, v[i].text);
        }
}

/* Text and NUL fit: size = length + 1 passes, length overflows; after an
 * overflow every write is ignored, however small. */
static void test_json_out_size_edge(void **state)
{
        struct tp_json_out j;
        char out[16];

        (void)state;
        tp_json_out_init(&j, out, 4);
        tp_json_puts(&j, "ab");
        tp_json_puts(&j, "c");
        assert_false(j.overflow);
        assert_int_equal(j.len, 3);
        assert_string_equal(out, "abc");

        memset(out, SENTINEL, sizeof(out));
        tp_json_out_init(&j, out, 3);
        assert_int_equal(out[0], '\0');
        tp_json_puts(&j, "ab");
        tp_json_puts(&j, "c");
        assert_true(j.overflow);
        assert_string_equal(out, "ab");
        tp_json_puts(&j, "");
        tp_json_put(&j, "x", 0);
        assert_true(j.overflow);
        assert_int_equal(j.len, 2);

        /* The quotes count: "ab" quoted needs 5 bytes. */
        tp_json_out_init(&j, out, 5);
        assert_int_equal(tp_json_put_string(&j, "ab"), 0);
        assert_false(j.overflow);
        assert_string_equal(out, "\"ab\"");
        tp_json_out_init(&j, out, 4);
        assert_int_equal(tp_json_put_string(&j, "ab"), 0);
        assert_true(j.overflow);

        /* Size 0: nothing is ever written, not even a NUL. */
        memset(out, SENTINEL, sizeof(out));
        tp_json_out_init(&j, out, 0);
        tp_json_put(&j, "", 0);
        assert_true(j.overflow);
        assert_int_equal((unsigned char)out[0], SENTINEL);
}

/* What the writer produces, the parser takes back unchanged. */
static void test_json_writer_parser_round_trip(void **state)
{
        char in[TP_JSON_STRING_MAX], text[8 * TP_JSON_STRING_MAX], got[TP_JSON_STRING_MAX];
        struct tp_json_out j;
        size_t i, n = 0;

        (void)state;
        for (i = 1; i < 0x80; i++)
                in[n++] = (char)i;
        memcpy(in + n, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10);
        tp_json_out_init(&j, text, sizeof(text));
        tp_json_puts(&j, "{");
        assert_int_equal(tp_json_put_string(&j, "k\"\\\n"), 0);
        tp_json_puts(&j, ":");
        assert_int_equal(tp_json_put_string(&j, in), 0);
        tp_json_puts(&j, ",\"n\":");
        tp_json_put_int(&j, INT64_MIN);
        tp_json_puts(&j, "}");
        assert_false(j.overflow);

        assert_int_equal(tp_json_parse_flat_object(text, j.len, &obj), 0);
        assert_int_equal(obj.n, 2);
        assert_int_equal(tp_json_get_string(&obj, "k\"\\\n", got, sizeof(got)), 0);
        assert_string_equal(got, in);
        assert_int_equal(obj.members[1].integer, INT64_MIN);
}

/* ---- JSON input --------------------------------------------------------------------- */

static void test_json_parse_empty_and_whitespace(void **state)
{
        static const char *bad[] = {
                "", " ", "{", "}", "\v{}", "{}\f", "{\v}", "\xc2\xa0{}", "[]", "\"s\"", "1",
        };
        size_t i;

        (void)state;
        assert_int_equal(parse("{}"), 0);
        assert_int_equal(obj.n, 0);
        assert_int_equal(parse(" \t\r\n{ \t\r\n} \t\r\n"), 0);
        assert_int_equal(parse("{ \t\r\n\"a\" \t\r\n: \t\r\n1 \t\r\n, \"b\":\"x\"\n}"), 0);
        assert_int_equal(obj.n, 2);
        for (i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(parse(bad[i]), -EBADMSG);
}

static void test_json_parse_kinds_and_lookup(void **state)
{
        const struct tp_json_member *m;
        char s[8];
        int64_t v;

        (void)state;
        assert_int_equal(parse("{\"s\":\"v\",\"i\":-42,\"\":\"\"}"), 0);
        assert_int_equal(obj.n, 3);
        assert_non_null(m = tp_json_get(&obj, "s"));
        assert_int_equal(m->kind, TP_JSON_STRING);
        assert_string_equal(m->string, "v");
        assert_non_null(m = tp_json_get(&obj, "i"));
        assert_int_equal(m->kind, TP_JSON_INTEGER);
        assert_int_equal(m->integer, -42);
        assert_non_null(m = tp_json_get(&obj, ""));
        assert_string_equal(m->string, "");
        assert_null(tp_json_get(&obj, "S"));
        assert_null(tp_json_get(&obj, "missing"));

        assert_int_equal(tp_json_get_integer(&obj, "i", &v), 0);
        assert_int_equal(v, -42);
        assert_int_equal(tp_json_get_string(&obj, "s", s, sizeof(s)), 0);
        assert_string_equal(s, "v");
        /* Wrong kind or absent: an error, and the output stays untouched. */
        v = 7;
        strcpy(s, "keep");
        assert_int_equal(tp_json_get_integer(&obj, "s", &v), -EBADMSG);
        assert_int_equal(tp_json_get_integer(&obj, "missing", &v), -EBADMSG);
        assert_int_equal(tp_json_get_string(&obj, "i", s, sizeof(s)), -EBADMSG);
        assert_int_equal(tp_json_get_string(&obj, "missing", s, sizeof(s)), -EBADMSG);
        assert_int_equal(v, 7);
        assert_string_equal(s, "keep");
}

/* The value and its NUL must fit: outsz = length + 1 passes, length fails. */
static void test_json_get_string_size_edge(void **state)
{
        char s[8];

        (void)state;
        assert_int_equal(parse("{\"s\":\"abc\"}"), 0);
        assert_int_equal(tp_json_get_string(&obj, "s", s, 4), 0);
        assert_string_equal(s, "abc");
        memset(s, SENTINEL, sizeof(s));
        assert_int_equal(tp_json_get_string(&obj, "s", s, 3), -EBADMSG);
        assert_int_equal((unsigned char)s[0], SENTINEL);
}

static void test_json_parse_member_count_edge(void **state)
{
        char text[512];
        size_t len;
        int i, n;

        (void)state;
        for (n = TP_JSON_MEMBERS_MAX; n <= TP_JSON_MEMBERS_MAX + 1; n++) {
                len = (size_t)snprintf(text, sizeof(text), "{");
                for (i = 0; i < n; i++)
                        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\"m%d\":%d",
                                                i ? "," : "", i, i);
                snprintf(text + len, sizeof(text) - len, "}");
                assert_int_equal(parse(text), n == TP_JSON_MEMBERS_MAX ? 0 : -EBADMSG);
        }
        assert_int_equal(obj.n, TP_JSON_MEMBERS_MAX);
}

/* A key or string of `n` bytes after unescaping, as the value of key or
 * as a key, ending in the escape `tail` (which decodes to tail_bytes). */
static int parse_sized(bool as_key, size_t n, const char *tail, size_t tail_bytes)
{
        char body[TP_JSON_STRING_MAX + 16], text[TP_JSON_STRING_MAX + 64];

        assert_true(n >= tail_bytes && n - tail_bytes < sizeof(body) - 1);
        fill(body, n - tail_bytes, 'x');
        if (as_key)
                snprintf(text, sizeof(text), "{\"%s%s\":1}", body, tail);
        else
                snprintf(text, sizeof(text), "{\"k\":\"%s%s\"}", body, tail);
        return parse(text);
}

static void test_json_parse_key_length_edge(void **state)
{
        (void)state;
        assert_int_equal(parse_sized(true, TP_JSON_KEY_MAX - 1, "", 0), 0);
        assert_int_equal(strlen(obj.members[0].key), TP_JSON_KEY_MAX - 1);
        assert_int_equal(parse_sized(true, TP_JSON_KEY_MAX, "", 0), -EBADMSG);
        /* Escapes count their decoded bytes. */
        assert_int_equal(parse_sized(true, TP_JSON_KEY_MAX - 1, "\\u00e9", 2), 0);
        assert_int_equal(parse_sized(true, TP_JSON_KEY_MAX, "\\u00e9", 2), -EBADMSG);
        assert_int_equal(parse_sized(true, TP_JSON_KEY_MAX - 1, "\\n", 1), 0);
        assert_int_equal(parse_sized(true, TP_JSON_KEY_MAX, "\\n", 1), -EBADMSG);
}

static void test_json_parse_string_length_edge(void **state)
{
        (void)state;
        assert_int_equal(parse_sized(false, 0, "", 0), 0);
        assert_int_equal(parse_sized(false, TP_JSON_STRING_MAX - 1, "", 0), 0);
        assert_int_equal(strlen(obj.members[0].string), TP_JSON_STRING_MAX - 1);
        assert_int_equal(parse_sized(false, TP_JSON_STRING_MAX, "", 0), -EBADMSG);
        assert_int_equal(parse_sized(false, TP_JSON_STRING_MAX - 1, "\\u20ac", 3), 0);
        assert_int_equal(parse_sized(false, TP_JSON_STRING_MAX, "\\u20ac", 3), -EBADMSG);
        assert_int_equal(parse_sized(false, TP_JSON_STRING_MAX - 1, "\xf0\x9f\x98\x80", 4), 0);
        assert_int_equal(parse_sized(false, TP_JSON_STRING_MAX, "\xf0\x9f\x98\x80", 4), -EBADMSG);
}

static int parse_integer(const char *value, int64_t *ret)
{
        char text[128];
        int r;

        snprintf(text, sizeof(text), "{\"i\":%s}", value);
        if ((r = parse(text)) < 0)
                return r;
        return tp_json_get_integer(&obj, "i", ret);
}

static void test_json_parse_integer_edges(void **state)
{
        static const char *bad[] = {
                "9223372036854775808", "-9223372036854775809", "18446744073709551616",
                "99999999999999999999", "00", "01", "-01", "-00", "+1", "-", "--1", "- 1",
                "1.0", "1.", "1e1", "1E1", "0x1", "1_000", "\"1\"", "", "true", "null",
        };
        int64_t v;
        size_t i;

        (void)state;
        assert_int_equal(parse_integer("9223372036854775807", &v), 0);
        assert_int_equal(v, INT64_MAX);
        assert_int_equal(parse_integer("-9223372036854775808", &v), 0);
        assert_int_equal(v, INT64_MIN);
        assert_int_equal(parse_integer("9223372036854775806", &v), 0);
        assert_int_equal(v, INT64_MAX - 1);
        assert_int_equal(parse_integer("-9223372036854775807", &v), 0);
        assert_int_equal(v, INT64_MIN + 1);
        assert_int_equal(parse_integer("0", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(parse_integer("-0", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(parse_integer(" 10 ", &v), 0);
        assert_int_equal(v, 10);
        for (i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(parse_integer(bad[i], &v), -EBADMSG);
}

static int parse_string(const char *quoted, char *ret, size_t size)
{
        char text[128];
        int r;

        snprintf(text, sizeof(text), "{\"s\":%s}", quoted);
        if ((r = parse(text)) < 0)
                return r;
        return tp_json_get_string(&obj, "s", ret, size);
}

static void test_json_parse_string_escapes(void **state)
{
        static const struct {
                const char *quoted, *value;
        } good[] = {
                { "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t" },
                { "\"\\u0001\"", "\x01" },                       /* U+0000 excluded, U+0001 not */
                { "\"\\u007f\\u0080\"", "\x7f\xc2\x80" },        /* 1- and 2-byte edge */
                { "\"\\u07ff\\u0800\"", "\xdf\xbf\xe0\xa0\x80" }, /* 2- and 3-byte edge */
                { "\"\\ud7ff\\ue000\"", "\xed\x9f\xbf\xee\x80\x80" }, /* around surrogates */
                { "\"\\uffff\"", "\xef\xbf\xbf" },
                { "\"\\u00E9\\u00e9\"", "\xc3\xa9\xc3\xa9" },    /* either case */
                { "\" \x7f\"", " \x7f" },                        /* raw 0x20 and DEL */
        };
        static const char *bad[] = {
                "\"\\u0000\"", "\"\\ud800\"", "\"\\udbff\"", "\"\\udc00\"", "\"\\udfff\"",
                "\"\\ud83d\\ude00\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\u-123\"", "\"\\U0041\"",
                "\"\\x41\"", "\"\\'\"", "\"\\a\"", "\"\\0\"", "\"\\", "\"abc", "'abc'",
                "\"\x01\"", "\"\x1f\"", "\"\t\"", "\"\n\"",
                "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xff\"",
        };
        char got[32];
        size_t i;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(good); i++) {
                assert_int_equal(parse_string(good[i].quoted, got, sizeof(got)), 0);
                assert_string_equal(got, good[i].value);
        }
        for (i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(parse_string(bad[i], got, sizeof(got)), -EBADMSG);
}

static void test_json_parse_rejects_structure(void **state)
{
        static const char *bad[] = {
                "{\"a\":{}}", "{\"a\":[]}", "{\"a\":[1]}", "{\"a\":true}", "{\"a\":false}",
                "{\"a\":null}", "{\"a\":}", "{\"a\"}", "{\"a\" 1}", "{\"a\"::1}", "{a:1}",
                "{'a':1}", "{1:1}", "{\"a\":1,}", "{,\"a\":1}", "{\"a\":1 \"b\":2}",
                "{\"a\":1;\"b\":2}", "{\"a\":1}x", "{}{}", "{\"a\":1}}", "{\"a\":1",
                "{\"a\":1,\"a\":2}", "{\"a\":1,\"\\u0061\":\"x\"}", "{\"\":1,\"\":2}",
        };
        static const char nul_after[] = "{}";
        static const char nul_inside[] = { '{', '"', 'a', '"', ':', '"', 'x', '\0', 'y', '"', '}' };
        size_t i;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(parse(bad[i]), -EBADMSG);
        assert_int_equal(tp_json_parse_flat_object(nul_after, sizeof(nul_after), &obj), -EBADMSG);
        assert_int_equal(tp_json_parse_flat_object(nul_inside, sizeof(nul_inside), &obj), -EBADMSG);
}

/* Only len bytes are read: a text cut anywhere inside fails, and bytes
 * past len are never looked at. */
static void test_json_parse_respects_length(void **state)
{
        static const char text[] = "{\"a\":\"\xe2\x82\xac\",\"b\":-12}";
        size_t len = strlen(text), cut;

        (void)state;
        assert_int_equal(tp_json_parse_flat_object(text, len, &obj), 0);
        for (cut = 0; cut < len; cut++)
                assert_int_equal(tp_json_parse_flat_object(text, cut, &obj), -EBADMSG);
        assert_int_equal(tp_json_parse_flat_object("{}garbage", 2, &obj), 0);
        assert_int_equal(tp_json_parse_flat_object("{\"a\":1}9", 7, &obj), 0);
        assert_int_equal(obj.members[0].integer, 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_b64url_rfc4648_vectors),
                cmocka_unit_test(test_b64url_url_alphabet_and_all_bytes),
                cmocka_unit_test(test_b64url_encode_output_size_edge),
                cmocka_unit_test(test_b64url_decode_output_size_edge),
                cmocka_unit_test(test_b64url_decode_is_strict),
                cmocka_unit_test(test_utf8_range_edges),
                cmocka_unit_test(test_json_put_string_escapes),
                cmocka_unit_test(test_json_put_int_extremes),
                cmocka_unit_test(test_json_out_size_edge),
                cmocka_unit_test(test_json_writer_parser_round_trip),
                cmocka_unit_test(test_json_parse_empty_and_whitespace),
                cmocka_unit_test(test_json_parse_kinds_and_lookup),
                cmocka_unit_test(test_json_get_string_size_edge),
                cmocka_unit_test(test_json_parse_member_count_edge),
                cmocka_unit_test(test_json_parse_key_length_edge),
                cmocka_unit_test(test_json_parse_string_length_edge),
                cmocka_unit_test(test_json_parse_integer_edges),
                cmocka_unit_test(test_json_parse_string_escapes),
                cmocka_unit_test(test_json_parse_rejects_structure),
                cmocka_unit_test(test_json_parse_respects_length),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
