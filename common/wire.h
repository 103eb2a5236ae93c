/* SPDX-License-Identifier: BSD-3-Clause */
/* wire.h: the bounded byte buffers every protocol field goes through.
 *
 * A writer appends big-endian integers and length-prefixed strings to a
 * fixed array the caller owns; a reader takes them back out of a const byte
 * range. Each call checks the length it needs before touching a byte and
 * either completes or leaves the buffer and its out-parameter untouched.
 * Only proto.c uses this API. It never allocates and never logs.
 *
 * Strings travel as a u16 big-endian byte count followed by the bytes, with
 * no terminator. A string field of size N (the C array, NUL included)
 * carries at most N - 1 bytes and never a NUL byte.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct tp_wire_writer {
        uint8_t *data;
        size_t size; /* capacity of data */
        size_t len;  /* bytes written so far */
};

struct tp_wire_reader {
        const uint8_t *data;
        size_t size; /* bytes available */
        size_t pos;  /* bytes consumed so far */
};

void tp_wire_writer_init(struct tp_wire_writer *w, uint8_t *data, size_t size);

/* Append a value. Returns 0, or -EMSGSIZE when it does not fit (nothing is
 * written then). */
int tp_wire_put_u8(struct tp_wire_writer *w, uint8_t v);
int tp_wire_put_u32(struct tp_wire_writer *w, uint32_t v);
int tp_wire_put_u64(struct tp_wire_writer *w, uint64_t v);
int tp_wire_put_i64(struct tp_wire_writer *w, int64_t v);

/* Append the C string held in a field of fieldsz bytes (NUL included).
 * Returns -EINVAL when there is no NUL within fieldsz bytes (the string is
 * longer than the field allows), -EMSGSIZE when it does not fit. */
int tp_wire_put_str(struct tp_wire_writer *w, const char *s, size_t fieldsz);

void tp_wire_reader_init(struct tp_wire_reader *r, const uint8_t *data, size_t size);

/* Take a value. Returns 0, or -EPROTO when the bytes run out; the
 * out-parameter is written only on success. */
int tp_wire_get_u8(struct tp_wire_reader *r, uint8_t *ret);
int tp_wire_get_u32(struct tp_wire_reader *r, uint32_t *ret);
int tp_wire_get_u64(struct tp_wire_reader *r, uint64_t *ret);
int tp_wire_get_i64(struct tp_wire_reader *r, int64_t *ret);

/* Take a string into ret[0..size), NUL-terminated. Returns -EPROTO when
 * its length is >= size, when it contains a NUL byte or when it runs past
 * the end; ret is written only on success. */
int tp_wire_get_str(struct tp_wire_reader *r, char *ret, size_t size);

/* Returns 0 when every byte has been consumed, else -EPROTO. */
int tp_wire_get_end(const struct tp_wire_reader *r);
