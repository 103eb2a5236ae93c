/* SPDX-License-Identifier: BSD-3-Clause */
/* wire.c: bounded big-endian writer and reader over fixed byte ranges.
 *
 * Every operation compares the bytes it needs with the bytes left before
 * reading or writing any of them, with sizes kept in size_t so that no sum
 * can wrap. It must never write outside the caller's array, never read
 * past the range it was given, never allocate and never log.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "wire.h"

/* The u16 length prefix bounds every string on the wire. */
#define WIRE_STR_LEN_MAX UINT16_MAX

void tp_wire_writer_init(struct tp_wire_writer *w, uint8_t *data, size_t size)
{
        w->data = data;
        w->size = size;
        w->len = 0;
}

static size_t writer_avail(const struct tp_wire_writer *w)
{
        return w->size - w->len;
}

static int writer_put_be(struct tp_wire_writer *w, uint64_t v, size_t nbytes)
{
        size_t i;

        if (writer_avail(w) < nbytes)
                return -EMSGSIZE;
        for (i = 0; i < nbytes; i++)
                w->data[w->len + i] = (uint8_t) (v >> (8 * (nbytes - 1 - i)));
        w->len += nbytes;
        return 0;
}

int tp_wire_put_u8(struct tp_wire_writer *w, uint8_t v)
{
        return writer_put_be(w, v, 1);
}

int tp_wire_put_u32(struct tp_wire_writer *w, uint32_t v)
{
        return writer_put_be(w, v, 4);
}

int tp_wire_put_u64(struct tp_wire_writer *w, uint64_t v)
{
        return writer_put_be(w, v, 8);
}

int tp_wire_put_i64(struct tp_wire_writer *w, int64_t v)
{
        /* Two's complement on the wire; the conversion to unsigned is
         * defined by C for every value. */
        return writer_put_be(w, (uint64_t) v, 8);
}

int tp_wire_put_str(struct tp_wire_writer *w, const char *s, size_t fieldsz)
{
        size_t n;

        n = strnlen(s, fieldsz);
        if (n >= fieldsz || n > WIRE_STR_LEN_MAX)
                return -EINVAL;
        if (writer_avail(w) < 2 || writer_avail(w) - 2 < n)
                return -EMSGSIZE;
        w->data[w->len] = (uint8_t) (n >> 8);
        w->data[w->len + 1] = (uint8_t) n;
        if (n > 0)
                memcpy(w->data + w->len + 2, s, n);
        w->len += 2 + n;
        return 0;
}

void tp_wire_reader_init(struct tp_wire_reader *r, const uint8_t *data, size_t size)
{
        r->data = data;
        r->size = size;
        r->pos = 0;
}

static size_t reader_avail(const struct tp_wire_reader *r)
{
        return r->size - r->pos;
}

static int reader_get_be(struct tp_wire_reader *r, size_t nbytes, uint64_t *ret)
{
        uint64_t v = 0;
        size_t i;

        if (reader_avail(r) < nbytes)
                return -EPROTO;
        for (i = 0; i < nbytes; i++)
                v = (v << 8) | r->data[r->pos + i];
        r->pos += nbytes;
        *ret = v;
        return 0;
}

int tp_wire_get_u8(struct tp_wire_reader *r, uint8_t *ret)
{
        uint64_t v;
        int e;

        if ((e = reader_get_be(r, 1, &v)) < 0)
                return e;
        *ret = (uint8_t) v;
        return 0;
}

int tp_wire_get_u32(struct tp_wire_reader *r, uint32_t *ret)
{
        uint64_t v;
        int e;

        if ((e = reader_get_be(r, 4, &v)) < 0)
                return e;
        *ret = (uint32_t) v;
        return 0;
}

int tp_wire_get_u64(struct tp_wire_reader *r, uint64_t *ret)
{
        return reader_get_be(r, 8, ret);
}

int tp_wire_get_i64(struct tp_wire_reader *r, int64_t *ret)
{
        uint64_t v;
        int e;

        if ((e = reader_get_be(r, 8, &v)) < 0)
                return e;
        /* Converting an unsigned value above INT64_MAX to int64_t is
         * implementation-defined; map the upper half explicitly. */
        if (v <= (uint64_t) INT64_MAX)
                *ret = (int64_t) v;
        else
                *ret = (int64_t) (v - (uint64_t) INT64_MAX - 1) + INT64_MIN;
        return 0;
}

int tp_wire_get_str(struct tp_wire_reader *r, char *ret, size_t size)
{
        const uint8_t *p;
        size_t n;

        if (reader_avail(r) < 2)
                return -EPROTO;
        p = r->data + r->pos;
        n = ((size_t) p[0] << 8) | (size_t) p[1];
        if (n >= size || reader_avail(r) - 2 < n)
                return -EPROTO;
        if (n > 0 && memchr(p + 2, '\0', n))
                return -EPROTO;
        if (n > 0)
                memcpy(ret, p + 2, n);
        ret[n] = '\0';
        r->pos += 2 + n;
        return 0;
}

int tp_wire_get_end(const struct tp_wire_reader *r)
{
        return reader_avail(r) == 0 ? 0 : -EPROTO;
}
