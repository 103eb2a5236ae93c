/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz_frame.c: libFuzzer harness for the wire codec (common/proto.c).
 *
 * Every input is tried two ways: as a whole frame (header parsed first,
 * payload decoded when the length matches the bytes left), and as a bare
 * payload whose message type is the first byte, decoded both as a request
 * and as a reply. Whatever decodes must re-encode, and the re-encoded frame
 * must decode to the very same struct: the codec has one encoding per value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FRAME_MAX (TP_FRAME_HEADER_SIZE + TP_PAYLOAD_MAX)

static uint8_t frame_buf[FRAME_MAX];
static struct tp_request req_a, req_b;
static struct tp_reply rep_a, rep_b;

/* A re-encoded frame must carry a header that parses back to its own type
 * and length. Returns the payload length. */
static size_t check_header(const uint8_t *frame, int frame_len, uint8_t want_type)
{
        uint8_t type;
        uint32_t len;

        if (frame_len < TP_FRAME_HEADER_SIZE || frame_len > (int) FRAME_MAX)
                abort();
        if (tp_frame_header_parse(frame, &type, &len) != 0)
                abort();
        if (type != want_type || len != (uint32_t) frame_len - TP_FRAME_HEADER_SIZE)
                abort();
        return len;
}

static void request_roundtrip(uint8_t type, const uint8_t *payload, size_t len)
{
        size_t plen;
        int n;

        if (tp_request_decode(type, payload, len, &req_a) != 0)
                return;
        n = tp_request_encode(&req_a, frame_buf, sizeof(frame_buf));
        if (n < 0)
                abort(); /* anything the decoder accepts is encodable */
        plen = check_header(frame_buf, n, type);
        if (plen != len || memcmp(frame_buf + TP_FRAME_HEADER_SIZE, payload, len) != 0)
                abort(); /* one encoding per value: the bytes come back unchanged */
        if (tp_request_decode(type, frame_buf + TP_FRAME_HEADER_SIZE, plen, &req_b) != 0)
                abort();
        if (memcmp(&req_a, &req_b, sizeof(req_a)) != 0)
                abort();
}

static void reply_roundtrip(uint8_t type, const uint8_t *payload, size_t len)
{
        size_t plen;
        int n;

        if (tp_reply_decode(type, payload, len, &rep_a) != 0)
                return;
        n = tp_reply_encode(&rep_a, frame_buf, sizeof(frame_buf));
        if (n < 0)
                abort();
        plen = check_header(frame_buf, n, type);
        if (plen != len || memcmp(frame_buf + TP_FRAME_HEADER_SIZE, payload, len) != 0)
                abort();
        if (tp_reply_decode(type, frame_buf + TP_FRAME_HEADER_SIZE, plen, &rep_b) != 0)
                abort();
        if (memcmp(&rep_a, &rep_b, sizeof(rep_a)) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t type;
        uint32_t len;

        /* As a frame off the socket: header first, payload only if whole. */
        if (size >= TP_FRAME_HEADER_SIZE &&
            tp_frame_header_parse(data, &type, &len) == 0 &&
            len == size - TP_FRAME_HEADER_SIZE) {
                if (type & TP_REPLY_FLAG)
                        reply_roundtrip(type, data + TP_FRAME_HEADER_SIZE, len);
                else
                        request_roundtrip(type, data + TP_FRAME_HEADER_SIZE, len);
        }

        /* As a bare payload typed by its first byte. */
        if (size >= 1) {
                request_roundtrip(data[0], data + 1, size - 1);
                reply_roundtrip(data[0], data + 1, size - 1);
                reply_roundtrip(data[0] | TP_REPLY_FLAG, data + 1, size - 1);
        }
        return 0;
}
