/* SPDX-License-Identifier: BSD-3-Clause */
/* jose.c: base64url, UTF-8 validation, the bounded JSON writer and the
 * strict flat-object JSON parser that compact JWTs are made of. The
 * contract is in jose.h.
 *
 * Must never: include OpenSSL or decide anything about trust (jwt.c verifies,
 * tokenpolicyd's jwt_sign.c signs); allocate; log; recurse; read past the length it is given or
 * write past the size it is given; accept base64url that is not canonical;
 * hand back a string that is not UTF-8 or that holds a NUL.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "jose.h"

static const char b64url_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- base64url ---------------------------------------------------------------- */

int tp_b64url_encode(const uint8_t *in, size_t n, char *out, size_t outsz, size_t *ret_len)
{
        size_t need = n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
        size_t i, o = 0;

        if (need >= outsz)
                return -ENOBUFS;
        for (i = 0; i + 3 <= n; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
                out[o++] = b64url_alphabet[v >> 18 & 63];
                out[o++] = b64url_alphabet[v >> 12 & 63];
                out[o++] = b64url_alphabet[v >> 6 & 63];
                out[o++] = b64url_alphabet[v & 63];
        }
        if (n - i == 1) {
                uint32_t v = (uint32_t)in[i] << 16;
                out[o++] = b64url_alphabet[v >> 18 & 63];
                out[o++] = b64url_alphabet[v >> 12 & 63];
        } else if (n - i == 2) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
                out[o++] = b64url_alphabet[v >> 18 & 63];
                out[o++] = b64url_alphabet[v >> 12 & 63];
                out[o++] = b64url_alphabet[v >> 6 & 63];
        }
        out[o] = '\0';
        *ret_len = o;
        return 0;
}

static int b64url_value(unsigned char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '-')
                return 62;
        if (c == '_')
                return 63;
        return -1;
}

/* The size check comes first so that out is never written past outsz. Only
 * canonical text is accepted (the unused low bits of the last character are
 * zero): one byte string, one encoding, so a signed part cannot be varied. */
int tp_b64url_decode(const char *in, size_t n, uint8_t *out, size_t outsz, size_t *ret_len)
{
        uint32_t acc = 0;
        unsigned bits = 0;
        size_t i, o = 0;

        if (n % 4 == 1)
                return -EBADMSG;
        if (n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > outsz)
                return -EBADMSG;
        for (i = 0; i < n; i++) {
                int v = b64url_value((unsigned char)in[i]);

                if (v < 0)
                        return -EBADMSG;
                acc = acc << 6 | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (uint8_t)(acc >> bits);
                        acc &= (1u << bits) - 1;
                }
        }
        if (acc != 0)
                return -EBADMSG;
        *ret_len = o;
        return 0;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, nothing past U+10FFFF), or 0 when there is none. */
static size_t utf8_sequence_length(const unsigned char *s, size_t avail)
{
        unsigned char lo = 0x80, hi = 0xbf;
        size_t n, i;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                n = 2;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                n = 3;
                if (s[0] == 0xe0)
                        lo = 0xa0;
                else if (s[0] == 0xed)
                        hi = 0x9f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                n = 4;
                if (s[0] == 0xf0)
                        lo = 0x90;
                else if (s[0] == 0xf4)
                        hi = 0x8f;
        } else {
                return 0;
        }
        if (n > avail || s[1] < lo || s[1] > hi)
                return 0;
        for (i = 2; i < n; i++)
                if (s[i] < 0x80 || s[i] > 0xbf)
                        return 0;
        return n;
}

/* ---- JSON output ------------------------------------------------------------ */

void tp_json_out_init(struct tp_json_out *j, char *buf, size_t size)
{
        j->buf = buf;
        j->len = 0;
        j->size = size;
        j->overflow = false;
        if (size > 0)
                buf[0] = '\0';
}

void tp_json_put(struct tp_json_out *j, const char *s, size_t n)
{
        if (j->overflow || n >= j->size - j->len) {
                j->overflow = true;
                return;
        }
        memcpy(j->buf + j->len, s, n);
        j->len += n;
        j->buf[j->len] = '\0';
}

void tp_json_puts(struct tp_json_out *j, const char *s)
{
        tp_json_put(j, s, strlen(s));
}

void tp_json_put_int(struct tp_json_out *j, int64_t v)
{
        char num[24];
        int n = snprintf(num, sizeof(num), "%" PRId64, v);

        tp_json_put(j, num, (size_t)n);
}

/* Every sequence is validated before it is written, so nothing that is
 * not UTF-8 reaches a signed token. */
int tp_json_put_string(struct tp_json_out *j, const char *s)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t avail = strlen(s);

        tp_json_put(j, "\"", 1);
        while (avail > 0) {
                size_t n = utf8_sequence_length(p, avail);
                char esc[8];

                if (n == 0)
                        return -EINVAL;
                if (*p == '"' || *p == '\\') {
                        esc[0] = '\\';
                        esc[1] = (char)*p;
                        tp_json_put(j, esc, 2);
                } else if (*p < 0x20) {
                        snprintf(esc, sizeof(esc), "\\u%04x", *p);
                        tp_json_put(j, esc, 6);
                } else {
                        tp_json_put(j, (const char *)p, n);
                }
                p += n;
                avail -= n;
        }
        tp_json_put(j, "\"", 1);
        return 0;
}

/* ---- JSON input: flat objects of strings and integers ------------------------ */

struct json_cursor {
        const char *p, *end;
};

static void json_skip_space(struct json_cursor *c)
{
        while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
                c->p++;
}

static int json_hex4(const char *p, uint32_t *ret)
{
        uint32_t v = 0;
        int i;

        for (i = 0; i < 4; i++) {
                char ch = p[i];

                v <<= 4;
                if (ch >= '0' && ch <= '9')
                        v |= (uint32_t)(ch - '0');
                else if (ch >= 'a' && ch <= 'f')
                        v |= (uint32_t)(ch - 'a' + 10);
                else if (ch >= 'A' && ch <= 'F')
                        v |= (uint32_t)(ch - 'A' + 10);
                else
                        return -EBADMSG;
        }
        *ret = v;
        return 0;
}

/* A quoted string into out (NUL-terminated). Escapes: the JSON set, with
 * \uXXXX limited to the BMP without surrogates and without U+0000. Raw
 * bytes must be UTF-8 and not control characters. */
static int json_parse_string(struct json_cursor *c, char *out, size_t outsz)
{
        size_t o = 0;

        if (c->p >= c->end || *c->p != '"')
                return -EBADMSG;
        c->p++;
        for (;;) {
                char buf[4];
                size_t n;

                if (c->p >= c->end)
                        return -EBADMSG;
                if (*c->p == '"') {
                        c->p++;
                        break;
                }
                if ((unsigned char)*c->p < 0x20)
                        return -EBADMSG;
                if (*c->p == '\\') {
                        uint32_t cp;

                        if (c->end - c->p < 2)
                                return -EBADMSG;
                        n = 1;
                        switch (c->p[1]) {
                        case '"': buf[0] = '"'; break;
                        case '\\': buf[0] = '\\'; break;
                        case '/': buf[0] = '/'; break;
                        case 'b': buf[0] = '\b'; break;
                        case 'f': buf[0] = '\f'; break;
                        case 'n': buf[0] = '\n'; break;
                        case 'r': buf[0] = '\r'; break;
                        case 't': buf[0] = '\t'; break;
                        case 'u':
                                if (c->end - c->p < 6 || json_hex4(c->p + 2, &cp) < 0 ||
                                    cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
                                        return -EBADMSG;
                                if (cp < 0x80) {
                                        buf[0] = (char)cp;
                                } else if (cp < 0x800) {
                                        buf[0] = (char)(0xc0 | cp >> 6);
                                        buf[1] = (char)(0x80 | (cp & 0x3f));
                                        n = 2;
                                } else {
                                        buf[0] = (char)(0xe0 | cp >> 12);
                                        buf[1] = (char)(0x80 | (cp >> 6 & 0x3f));
                                        buf[2] = (char)(0x80 | (cp & 0x3f));
                                        n = 3;
                                }
                                c->p += 4;
                                break;
                        default:
                                return -EBADMSG;
                        }
                        c->p += 2;
                } else {
                        n = utf8_sequence_length((const unsigned char *)c->p, (size_t)(c->end - c->p));
                        if (n == 0)
                                return -EBADMSG;
                        memcpy(buf, c->p, n);
                        c->p += n;
                }
                if (n >= outsz - o)
                        return -EBADMSG;
                memcpy(out + o, buf, n);
                o += n;
        }
        out[o] = '\0';
        return 0;
}

/* An integer: JSON number grammar without fraction or exponent, within
 * int64_t. */
static int json_parse_integer(struct json_cursor *c, int64_t *ret)
{
        bool negative = false;
        uint64_t v = 0, limit;

        if (c->p < c->end && *c->p == '-') {
                negative = true;
                c->p++;
        }
        limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
                return -EBADMSG;
        if (*c->p == '0' && c->end - c->p > 1 && c->p[1] >= '0' && c->p[1] <= '9')
                return -EBADMSG;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
                unsigned d = (unsigned)(*c->p - '0');

                if (v > (limit - d) / 10)
                        return -EBADMSG;
                v = v * 10 + d;
                c->p++;
        }
        if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
                return -EBADMSG;
        if (negative)
                *ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
        else
                *ret = (int64_t)v;
        return 0;
}

/* Flat by design: without nesting there is no recursion and no depth to
 * bound, and a duplicate key (which JSON parsers resolve differently) can
 * never let two readers of one token see two different claims. */
int tp_json_parse_flat_object(const char *text, size_t len, struct tp_json_object *obj)
{
        struct json_cursor c = { text, text + len };
        int r;

        obj->n = 0;
        json_skip_space(&c);
        if (c.p >= c.end || *c.p != '{')
                return -EBADMSG;
        c.p++;
        json_skip_space(&c);
        if (c.p < c.end && *c.p == '}') {
                c.p++;
        } else {
                for (;;) {
                        struct tp_json_member *m;
                        size_t i;

                        if (obj->n == TP_JSON_MEMBERS_MAX)
                                return -EBADMSG;
                        m = &obj->members[obj->n];
                        if ((r = json_parse_string(&c, m->key, sizeof(m->key))) < 0)
                                return r;
                        for (i = 0; i < obj->n; i++)
                                if (strcmp(obj->members[i].key, m->key) == 0)
                                        return -EBADMSG;
                        json_skip_space(&c);
                        if (c.p >= c.end || *c.p != ':')
                                return -EBADMSG;
                        c.p++;
                        json_skip_space(&c);
                        if (c.p < c.end && *c.p == '"') {
                                m->kind = TP_JSON_STRING;
                                r = json_parse_string(&c, m->string, sizeof(m->string));
                        } else {
                                m->kind = TP_JSON_INTEGER;
                                r = json_parse_integer(&c, &m->integer);
                        }
                        if (r < 0)
                                return r;
                        obj->n++;
                        json_skip_space(&c);
                        if (c.p < c.end && *c.p == ',') {
                                c.p++;
                                json_skip_space(&c);
                                continue;
                        }
                        if (c.p < c.end && *c.p == '}') {
                                c.p++;
                                break;
                        }
                        return -EBADMSG;
                }
        }
        json_skip_space(&c);
        return c.p == c.end ? 0 : -EBADMSG;
}

const struct tp_json_member *tp_json_get(const struct tp_json_object *obj, const char *key)
{
        size_t i;

        for (i = 0; i < obj->n; i++)
                if (strcmp(obj->members[i].key, key) == 0)
                        return &obj->members[i];
        return NULL;
}

int tp_json_get_string(const struct tp_json_object *obj, const char *key, char *out,
                       size_t outsz)
{
        const struct tp_json_member *m = tp_json_get(obj, key);

        if (!m || m->kind != TP_JSON_STRING || strlen(m->string) >= outsz)
                return -EBADMSG;
        memcpy(out, m->string, strlen(m->string) + 1);
        return 0;
}

int tp_json_get_integer(const struct tp_json_object *obj, const char *key, int64_t *ret)
{
        const struct tp_json_member *m = tp_json_get(obj, key);

        if (!m || m->kind != TP_JSON_INTEGER)
                return -EBADMSG;
        *ret = m->integer;
        return 0;
}
