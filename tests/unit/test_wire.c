/* SPDX-License-Identifier: BSD-3-Clause */
/* test_wire.c: the wire codec (wire.c, proto.c) and client I/O (io.c).
 *
 * Round trips for every message type, every decoder rejection at the exact
 * edge (MAX passes, MAX+1 fails), worst-case frame sizes, and io.c against
 * forked fake daemons on a real Unix socket for the faults a real daemon
 * cannot produce: silence, garbage, oversized and truncated replies. Must
 * never write to stdout except through cmocka, nor leave a fake daemon or
 * socket file behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "io.h"
#include "proto.h"
#include "wire.h"

#define FRAME_MAX ((size_t) TP_FRAME_HEADER_SIZE + TP_PAYLOAD_MAX)

/* ---- sample messages --------------------------------------------------- */

#define SET(field, text) snprintf((field), sizeof(field), "%s", (text))
#define FILL_MAX(field, c) fill((field), sizeof(field), sizeof(field) - 1, (c))

static void fill(char *field, size_t size, size_t n, char c)
{
        assert_true(n < size);
        memset(field, c, n);
        field[n] = '\0';
}

static void make_session_info(struct tp_session_info *s, unsigned i, bool worst)
{
        if (worst) {
                FILL_MAX(s->id, 'a');
                FILL_MAX(s->user, 'u');
                FILL_MAX(s->client, 'c');
                FILL_MAX(s->service, 's');
                FILL_MAX(s->rhost, 'r');
                FILL_MAX(s->tty, 't');
                s->uid = UINT32_MAX;
                s->leader_pid = UINT32_MAX - i;
                s->created = INT64_MIN;
                s->refresh_expires = INT64_MAX;
                s->last_extended = -1;
                s->last_used = INT64_MAX - i;
                s->ended = INT64_MIN + i;
        } else {
                snprintf(s->id, sizeof(s->id), "%032x", 0xabc00u + i);
                snprintf(s->user, sizeof(s->user), "user%u", i);
                SET(s->client, "desktop");
                SET(s->service, "gdm-password");
                SET(s->rhost, "192.0.2.1");
                SET(s->tty, "tty2");
                s->uid = 1000 + i;
                s->leader_pid = 4000 + i;
                s->created = 1700000000 + i;
                s->refresh_expires = 1700003600 + i;
                s->last_extended = 1700000100 + i;
                s->last_used = 1700000200 + i;
                s->ended = i;
        }
        s->state = (uint8_t) (i % (TP_STATE_MAX_ + 1));
}

static void make_request(uint8_t type, bool worst, struct tp_request *req)
{
        memset(req, 0, sizeof(*req));
        req->type = type;
        switch (type) {
        case TP_REQ_VERIFY:
                if (worst)
                        FILL_MAX(req->u.verify.token, 'j');
                else
                        SET(req->u.verify.token, "eyJhbGciOiJFZERTQSJ9.e30.sig");
                break;
        case TP_REQ_ACCESS:
        case TP_REQ_OPEN:
        case TP_REQ_EXPLAIN:
                if (worst) {
                        FILL_MAX(req->u.signin.user, 'u');
                        FILL_MAX(req->u.signin.service, 's');
                        FILL_MAX(req->u.signin.client, 'c');
                        FILL_MAX(req->u.signin.rhost, 'r');
                        FILL_MAX(req->u.signin.tty, 't');
                        FILL_MAX(req->u.signin.logind_session, 'l');
                        req->u.signin.leader_pid = UINT32_MAX;
                        req->u.signin.flags = TP_SIGNIN_FLAGS_ALL;
                        break;
                }
                SET(req->u.signin.user, "alice");
                SET(req->u.signin.service, "sshd");
                SET(req->u.signin.client, "ssh");
                SET(req->u.signin.rhost, "192.0.2.7");
                SET(req->u.signin.tty, "pts/3");
                req->u.signin.leader_pid = 4242;
                SET(req->u.signin.logind_session, "c17");
                req->u.signin.flags = TP_SIGNIN_IGNORE_UNMAPPED;
                break;
        case TP_REQ_CLOSE:
        case TP_REQ_REAUTH:
        case TP_REQ_REFRESH:
                if (worst) {
                        FILL_MAX(req->u.session.session_id, 'f');
                        FILL_MAX(req->u.session.refresh_token, 'k');
                        FILL_MAX(req->u.session.user, 'u');
                        break;
                }
                SET(req->u.session.session_id, "0123456789abcdef0123456789abcdef");
                SET(req->u.session.refresh_token, "rt-secret-value");
                SET(req->u.session.user, "alice");
                break;
        case TP_REQ_LIST:
                SET(req->u.list.user, "alice");
                SET(req->u.list.client, "web");
                req->u.list.flags = TP_LIST_ALL | TP_LIST_AFTER;
                req->u.list.after.state = TP_STATE_MAX_;
                req->u.list.after.created = worst ? INT64_MIN : 1700000000;
                req->u.list.after.seq = worst ? UINT64_MAX : 64;
                if (worst) /* optional: the other requests leave it out */
                        FILL_MAX(req->u.list.host, 'h');
                break;
        case TP_REQ_HOSTS:
                if (worst)
                        FILL_MAX(req->u.hosts.after, 'h');
                else
                        SET(req->u.hosts.after, "ws-0041");
                break;
        case TP_REQ_REVOKE:
                SET(req->u.revoke.session_id, "fedcba9876543210fedcba9876543210");
                SET(req->u.revoke.user, "bob");
                SET(req->u.revoke.client, "mobile");
                req->u.revoke.flags = TP_REVOKE_OTHERS;
                break;
        case TP_REQ_OUTCOME:
                SET(req->u.outcome.session_id, "fedcba9876543210fedcba9876543210");
                req->u.outcome.completed = worst ? 0 : 1;
                break;
        case TP_REQ_REVOKE_KEY:
                if (worst)
                        FILL_MAX(req->u.key.kid, 'k');
                else
                        SET(req->u.key.kid, "Zr3lVfHvW2oNn0yq4mE6bYcJp9Tt1xKa8sDuLhGi5wQ");
                break;
        default:
                break;
        }
}

static void make_policy_client(struct tp_policy_client *c, unsigned i, bool worst)
{
        if (worst) {
                FILL_MAX(c->name, 'n');
                FILL_MAX(c->services, 'v');
        } else {
                snprintf(c->name, sizeof(c->name), "client%u", i);
                SET(c->services, "sshd,login");
        }
        c->access = (uint8_t) (i % 2);
        c->configured = (struct tp_token_values) { 1, 1440, 1080, 100 };
        c->effective = (struct tp_token_values) { 0, 336, 720, 20 + i };
        c->evict = (uint8_t) (i % (TP_EVICT_MAX_ + 1));
        c->on_expiry = (uint8_t) (i % (TP_ACTION_MAX_ + 1));
        c->on_revoke = (uint8_t) ((i + 1) % (TP_ACTION_MAX_ + 1));
        c->idle = (struct tp_idle_values) { 10 * i, (uint8_t) (i % 2 ? TP_ACTION_LOCK : TP_ACTION_TERMINATE),
                                            i };
}

/* An OK reply for `type`; `worst` fills every string and count to its
 * maximum. */
static void make_reply(uint8_t type, bool worst, struct tp_reply *rep)
{
        unsigned i, n;

        memset(rep, 0, sizeof(*rep));
        rep->type = type;
        rep->status = TP_STATUS_OK;
        if (worst)
                FILL_MAX(rep->message, 'm');
        else
                SET(rep->message, "done");

        switch (type & ~TP_REPLY_FLAG) {
        case TP_REQ_ACCESS:
                if (worst)
                        FILL_MAX(rep->u.access.client, 'c');
                else
                        SET(rep->u.access.client, "desktop");
                break;
        case TP_REQ_OPEN:
        case TP_REQ_REAUTH:
        case TP_REQ_REFRESH:
                if (worst) {
                        FILL_MAX(rep->u.tokens.session_id, 'f');
                        FILL_MAX(rep->u.tokens.client, 'c');
                        FILL_MAX(rep->u.tokens.access_token, 'j');
                        FILL_MAX(rep->u.tokens.refresh_token, 'k');
                } else {
                        SET(rep->u.tokens.session_id, "00112233445566778899aabbccddeeff");
                        SET(rep->u.tokens.client, "ssh");
                        SET(rep->u.tokens.access_token, "eyJhbGciOiJFZERTQSJ9.e30.sig");
                        SET(rep->u.tokens.refresh_token, "refresh-secret");
                }
                rep->u.tokens.refresh_expires = 1701209600;
                rep->u.tokens.access_expires = -1701209600;
                rep->u.tokens.auto_extend = 1;
                n = worst ? TP_EVICTED_MAX : 2;
                rep->u.tokens.n_evicted = (uint8_t) n;
                for (i = 0; i < n; i++)
                        make_session_info(&rep->u.tokens.evicted[i], i, worst);
                break;
        case TP_REQ_STATUS:
                if (worst) {
                        FILL_MAX(rep->u.status.version, 'v');
                        FILL_MAX(rep->u.status.config_path, 'p');
                        FILL_MAX(rep->u.status.audit_sink, 'a');
                        FILL_MAX(rep->u.status.config_source, 's');
                        FILL_MAX(rep->u.status.config_errors, 'e');
                } else {
                        SET(rep->u.status.version, "0.1.0");
                        SET(rep->u.status.config_path, "/etc/tokenpolicy.conf");
                        SET(rep->u.status.audit_sink, "journal");
                        SET(rep->u.status.config_source, "/var/lib/tokenpolicy/last-good.conf");
                        SET(rep->u.status.config_errors, "/etc/tokenpolicy.conf:3: syntax error");
                }
                rep->u.status.pid = 77;
                rep->u.status.started = 1700000000;
                rep->u.status.config_loaded = 1700000050;
                rep->u.status.active_sessions = UINT64_C(1) << 40;
                rep->u.status.n_clients = 4;
                rep->u.status.audit_queued = 256;
                rep->u.status.audit_lost = UINT64_C(1) << 33;
                rep->u.status.audit_suppressed = UINT64_MAX;
                rep->u.status.config_state = TP_CONFIG_LAST_GOOD;
                rep->u.status.store_backend = TP_STORE_KIND_POSTGRESQL;
                rep->u.status.store_connected = 1;
                if (worst)
                        FILL_MAX(rep->u.status.host_id, 'h');
                else
                        SET(rep->u.status.host_id, "ws-0042");
                rep->u.status.hosts = 300;
                rep->u.status.store_offline_since = 1700000100;
                if (worst)
                        FILL_MAX(rep->u.status.store_error, 'o');
                else
                        SET(rep->u.status.store_error, "server closed the connection unexpectedly");
                rep->u.status.unsynced = 12;
                break;
        case TP_REQ_HOSTS:
                n = worst ? TP_HOSTS_PAGE_MAX : 2;
                rep->u.hosts.more = 1;
                rep->u.hosts.count = n;
                for (i = 0; i < n; i++) {
                        struct tp_host_info *o = &rep->u.hosts.hosts[i];

                        if (worst) {
                                FILL_MAX(o->id, 'i');
                                FILL_MAX(o->name, 'n');
                                FILL_MAX(o->policy_digest, 'd');
                        } else {
                                snprintf(o->id, sizeof(o->id), "ws-%04u", i);
                                snprintf(o->name, sizeof(o->name), "ws%u.example.org", i);
                                SET(o->policy_digest, "3b2f");
                        }
                        o->last_seen = 1700000000 + i;
                        o->active_sessions = i;
                        o->policy_differs = i & 1;
                }
                break;
        case TP_REQ_LIST:
                n = worst ? TP_LIST_PAGE_MAX : 2;
                rep->u.list.more = 1;
                rep->u.list.next = (struct tp_list_cursor) { TP_STATE_CLOSED, INT64_MAX, UINT64_MAX - 1 };
                rep->u.list.count = n;
                for (i = 0; i < n; i++) {
                        make_session_info(&rep->u.list.sessions[i], i, worst);
                        if (worst)
                                FILL_MAX(rep->u.list.hosts[i], 'h');
                        else
                                snprintf(rep->u.list.hosts[i], sizeof(rep->u.list.hosts[i]), "ws-%04u", i);
                }
                break;
        case TP_REQ_REVOKE:
                rep->u.revoke.revoked = 3;
                break;
        case TP_REQ_OUTCOME:
                rep->u.outcome.enforced = worst ? UINT32_MAX : 1;
                rep->u.outcome.reinstated = worst ? UINT32_MAX : 2;
                break;
        case TP_REQ_POLICY:
                rep->u.policy.custom_token_policy = 1;
                if (worst) {
                        FILL_MAX(rep->u.policy.unknown_client, 'd');
                        FILL_MAX(rep->u.policy.config_path, 'p');
                } else {
                        SET(rep->u.policy.unknown_client, "deny");
                        SET(rep->u.policy.config_path, "/etc/tokenpolicy.conf");
                }
                n = worst ? TP_POLICY_CLIENTS_MAX : 2;
                rep->u.policy.n_clients = (uint8_t) n;
                for (i = 0; i < n; i++)
                        make_policy_client(&rep->u.policy.clients[i], i, worst);
                break;
        case TP_REQ_EXPLAIN:
                rep->u.explain.allowed = 1;
                if (worst)
                        FILL_MAX(rep->u.explain.client, 'c');
                else
                        SET(rep->u.explain.client, "desktop");
                rep->u.explain.active = 10;
                rep->u.explain.cap = 10;
                rep->u.explain.evict = TP_EVICT_MAX_;
                rep->u.explain.refresh_expires = 1701209600;
                rep->u.explain.access_expires = 1701000000;
                rep->u.explain.auto_extend = 1;
                rep->u.explain.idle = (struct tp_idle_values){ 30, TP_ACTION_TERMINATE, 5 };
                n = worst ? TP_EVICTED_MAX : 1;
                rep->u.explain.n_evict_total = n + 3;
                rep->u.explain.n_evicted = (uint8_t) n;
                for (i = 0; i < n; i++)
                        make_session_info(&rep->u.explain.evicted[i], i, worst);
                break;
        case TP_REQ_VERIFY:
                if (worst) {
                        FILL_MAX(rep->u.verify.sid, 'f');
                        FILL_MAX(rep->u.verify.user, 'u');
                        FILL_MAX(rep->u.verify.client, 'c');
                } else {
                        SET(rep->u.verify.sid, "00112233445566778899aabbccddeeff");
                        SET(rep->u.verify.user, "alice");
                        SET(rep->u.verify.client, "ssh");
                }
                rep->u.verify.exp = 1701000000;
                rep->u.verify.refresh_expires = 1701209600;
                break;
        case TP_REQ_ROTATE_KEY:
                if (worst) {
                        FILL_MAX(rep->u.rotate.kid, 'k');
                        FILL_MAX(rep->u.rotate.old_kid, 'o');
                } else {
                        SET(rep->u.rotate.kid, "new-kid");
                        SET(rep->u.rotate.old_kid, "old-kid");
                }
                rep->u.rotate.old_until = 1701209600;
                break;
        case TP_REQ_REVOKE_KEY:
                if (worst) {
                        FILL_MAX(rep->u.revoke_key.kid, 'k');
                        FILL_MAX(rep->u.revoke_key.current_kid, 'c');
                } else {
                        SET(rep->u.revoke_key.kid, "old-kid");
                        SET(rep->u.revoke_key.current_kid, "new-kid");
                }
                rep->u.revoke_key.rotated = 1;
                break;
        default:
                break;
        }
}

static struct tp_reply *reply_new(void)
{
        struct tp_reply *rep = calloc(1, sizeof(*rep));

        assert_non_null(rep);
        return rep;
}

/* Encode, check the header, return the payload length. */
static size_t encode_request(const struct tp_request *req, uint8_t *buf)
{
        uint32_t len;
        uint8_t type;
        int n;

        n = tp_request_encode(req, buf, FRAME_MAX);
        assert_true(n >= TP_FRAME_HEADER_SIZE);
        assert_int_equal(tp_frame_header_parse(buf, &type, &len), 0);
        assert_int_equal(type, req->type);
        assert_int_equal(len, (size_t) n - TP_FRAME_HEADER_SIZE);
        return len;
}

static size_t encode_reply(const struct tp_reply *rep, uint8_t *buf)
{
        uint32_t len;
        uint8_t type;
        int n;

        n = tp_reply_encode(rep, buf, FRAME_MAX);
        assert_true(n >= TP_FRAME_HEADER_SIZE);
        assert_int_equal(tp_frame_header_parse(buf, &type, &len), 0);
        assert_int_equal(type, rep->type);
        assert_int_equal(len, (size_t) n - TP_FRAME_HEADER_SIZE);
        return len;
}

#define PAYLOAD(buf) ((buf) + TP_FRAME_HEADER_SIZE)

/* ---- wire.c ------------------------------------------------------------ */

static void test_wire_byte_order(void **state)
{
        static const uint8_t want[] = {
                0x7f,
                0x01, 0x02, 0x03, 0x04,
                0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
                0x00, 0x03, 'a', 'b', 'c',
                0x00, 0x00,
        };
        struct tp_wire_writer w;
        struct tp_wire_reader rd;
        uint8_t buf[64], u8;
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        char s[4];

        (void) state;
        tp_wire_writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tp_wire_put_u8(&w, 0x7f), 0);
        assert_int_equal(tp_wire_put_u32(&w, 0x01020304u), 0);
        assert_int_equal(tp_wire_put_u64(&w, UINT64_C(0x0102030405060708)), 0);
        assert_int_equal(tp_wire_put_i64(&w, -2), 0);
        assert_int_equal(tp_wire_put_str(&w, "abc", 4), 0);
        assert_int_equal(tp_wire_put_str(&w, "", 1), 0);
        assert_int_equal(w.len, sizeof(want));
        assert_memory_equal(buf, want, sizeof(want));

        tp_wire_reader_init(&rd, buf, w.len);
        assert_int_equal(tp_wire_get_u8(&rd, &u8), 0);
        assert_int_equal(u8, 0x7f);
        assert_int_equal(tp_wire_get_u32(&rd, &u32), 0);
        assert_int_equal(u32, 0x01020304u);
        assert_int_equal(tp_wire_get_u64(&rd, &u64), 0);
        assert_true(u64 == UINT64_C(0x0102030405060708));
        assert_int_equal(tp_wire_get_end(&rd), -EPROTO);
        assert_int_equal(tp_wire_get_i64(&rd, &i64), 0);
        assert_true(i64 == -2);
        assert_int_equal(tp_wire_get_str(&rd, s, sizeof(s)), 0);
        assert_string_equal(s, "abc");
        assert_int_equal(tp_wire_get_str(&rd, s, sizeof(s)), 0);
        assert_string_equal(s, "");
        assert_int_equal(tp_wire_get_end(&rd), 0);
}

static void test_wire_i64_extremes(void **state)
{
        static const int64_t values[] = { INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX };
        struct tp_wire_writer w;
        struct tp_wire_reader rd;
        uint8_t buf[8];
        int64_t v;
        size_t i;

        (void) state;
        for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
                tp_wire_writer_init(&w, buf, sizeof(buf));
                assert_int_equal(tp_wire_put_i64(&w, values[i]), 0);
                tp_wire_reader_init(&rd, buf, sizeof(buf));
                assert_int_equal(tp_wire_get_i64(&rd, &v), 0);
                assert_true(v == values[i]);
        }
        assert_int_equal(buf[0], 0x7f); /* INT64_MAX, last */
}

static void test_wire_writer_limits(void **state)
{
        struct tp_wire_writer w;
        uint8_t buf[6];
        char unterminated[4] = { 'a', 'b', 'c', 'd' };

        (void) state;
        tp_wire_writer_init(&w, buf, 3);
        assert_int_equal(tp_wire_put_u32(&w, 1), -EMSGSIZE);
        assert_int_equal(w.len, 0);
        assert_int_equal(tp_wire_put_u8(&w, 1), 0);
        assert_int_equal(tp_wire_put_u8(&w, 2), 0);
        assert_int_equal(tp_wire_put_u8(&w, 3), 0);
        assert_int_equal(tp_wire_put_u8(&w, 4), -EMSGSIZE);
        assert_int_equal(w.len, 3);

        /* "abc" needs 5 bytes: 5 fit, 4 do not. */
        tp_wire_writer_init(&w, buf, 4);
        assert_int_equal(tp_wire_put_str(&w, "abc", 4), -EMSGSIZE);
        assert_int_equal(w.len, 0);
        tp_wire_writer_init(&w, buf, 5);
        assert_int_equal(tp_wire_put_str(&w, "abc", 4), 0);
        assert_int_equal(w.len, 5);

        /* Field of 4 bytes: 3 characters pass, 4 without NUL are refused
         * even with room to spare. */
        tp_wire_writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tp_wire_put_str(&w, unterminated, sizeof(unterminated)), -EINVAL);
        assert_int_equal(tp_wire_put_str(&w, "abcd", 4), -EINVAL);
        assert_int_equal(w.len, 0);
}

static void test_wire_reader_limits(void **state)
{
        static const uint8_t three[] = { 1, 2, 3 };
        static const uint8_t str3[] = { 0x00, 0x03, 'x', 'y', 'z' };
        static const uint8_t str_nul[] = { 0x00, 0x03, 'x', 0x00, 'z' };
        static const uint8_t str_short[] = { 0x00, 0x04, 'x', 'y', 'z' };
        struct tp_wire_reader rd;
        uint32_t u32 = 0xdeadbeef;
        uint64_t u64 = 42;
        char s[4] = "old", small[3] = "ol", big[8] = "old";

        (void) state;
        tp_wire_reader_init(&rd, three, sizeof(three));
        assert_int_equal(tp_wire_get_u32(&rd, &u32), -EPROTO);
        assert_int_equal(u32, 0xdeadbeef);
        assert_int_equal(tp_wire_get_u64(&rd, &u64), -EPROTO);
        assert_true(u64 == 42);
        assert_int_equal(rd.pos, 0);

        /* Length 3 into 4 bytes passes; into 3 bytes is too long. */
        tp_wire_reader_init(&rd, str3, sizeof(str3));
        assert_int_equal(tp_wire_get_str(&rd, small, sizeof(small)), -EPROTO);
        assert_string_equal(small, "ol");
        assert_int_equal(rd.pos, 0);
        assert_int_equal(tp_wire_get_str(&rd, s, sizeof(s)), 0);
        assert_string_equal(s, "xyz");
        assert_int_equal(tp_wire_get_end(&rd), 0);

        memcpy(s, "old", 4);
        tp_wire_reader_init(&rd, str_nul, sizeof(str_nul));
        assert_int_equal(tp_wire_get_str(&rd, s, sizeof(s)), -EPROTO);
        assert_string_equal(s, "old");

        tp_wire_reader_init(&rd, str_short, sizeof(str_short));
        assert_int_equal(tp_wire_get_str(&rd, big, sizeof(big)), -EPROTO);
        assert_string_equal(big, "old");

        tp_wire_reader_init(&rd, str3, 1);
        assert_int_equal(tp_wire_get_str(&rd, s, sizeof(s)), -EPROTO);
        assert_int_equal(tp_wire_get_end(&rd), -EPROTO);
}

/* ---- frame header ------------------------------------------------------ */

static void set_header(uint8_t *h, char m0, char m1, uint8_t version, uint8_t type, uint32_t len)
{
        h[0] = (uint8_t) m0;
        h[1] = (uint8_t) m1;
        h[2] = version;
        h[3] = type;
        h[4] = (uint8_t) (len >> 24);
        h[5] = (uint8_t) (len >> 16);
        h[6] = (uint8_t) (len >> 8);
        h[7] = (uint8_t) len;
}

static void test_header_parse(void **state)
{
        uint8_t h[TP_FRAME_HEADER_SIZE], type = 0xee;
        uint32_t len = 0xeeeeeeee;

        (void) state;
        set_header(h, 'T', 'P', 1, TP_REQ_LIST, TP_PAYLOAD_MAX);
        assert_int_equal(tp_frame_header_parse(h, &type, &len), 0);
        assert_int_equal(type, TP_REQ_LIST);
        assert_int_equal(len, TP_PAYLOAD_MAX);

        type = 0xee;
        len = 0xeeeeeeee;
        set_header(h, 'T', 'P', 1, TP_REQ_LIST, TP_PAYLOAD_MAX + 1);
        assert_int_equal(tp_frame_header_parse(h, &type, &len), -EMSGSIZE);
        set_header(h, 'T', 'P', 1, TP_REQ_LIST, UINT32_MAX);
        assert_int_equal(tp_frame_header_parse(h, &type, &len), -EMSGSIZE);
        set_header(h, 'X', 'P', 1, TP_REQ_LIST, 0);
        assert_int_equal(tp_frame_header_parse(h, &type, &len), -EPROTO);
        set_header(h, 'T', 'X', 1, TP_REQ_LIST, 0);
        assert_int_equal(tp_frame_header_parse(h, &type, &len), -EPROTO);
        set_header(h, 'T', 'P', 0, TP_REQ_LIST, 0);
        assert_int_equal(tp_frame_header_parse(h, &type, &len), -EPROTO);
        set_header(h, 'T', 'P', 2, TP_REQ_LIST, 0);
        assert_int_equal(tp_frame_header_parse(h, &type, &len), -EPROTO);
        /* Magic is judged before the length. */
        set_header(h, 'X', 'P', 1, TP_REQ_LIST, UINT32_MAX);
        assert_int_equal(tp_frame_header_parse(h, &type, &len), -EPROTO);
        assert_int_equal(type, 0xee);
        assert_int_equal(len, 0xeeeeeeee);

        set_header(h, 'T', 'P', 1, 0x8a, 0);
        assert_int_equal(tp_frame_header_parse(h, &type, &len), 0);
        assert_int_equal(type, 0x8a);
        assert_int_equal(len, 0);
}

/* ---- round trips ------------------------------------------------------- */

static void test_request_roundtrip_all_types(void **state)
{
        uint8_t *buf = malloc(FRAME_MAX);
        struct tp_request req, got;
        uint8_t type;
        size_t len;

        (void) state;
        assert_non_null(buf);
        for (type = TP_REQ_ACCESS; type <= TP_REQ_MAX_; type++) {
                if (!tp_request_type_known(type))
                        continue;
                make_request(type, false, &req);
                len = encode_request(&req, buf);
                memset(&got, 0xa5, sizeof(got));
                assert_int_equal(tp_request_decode(type, PAYLOAD(buf), len, &got), 0);
                assert_int_equal(got.type, type);
                assert_memory_equal(&got, &req, sizeof(req));
                if (type == TP_REQ_STATUS || type == TP_REQ_RELOAD || type == TP_REQ_POLICY)
                        assert_int_equal(len, 0);
        }
        make_request(TP_REQ_OPEN, false, &req);
        len = encode_request(&req, buf);
        assert_int_equal(tp_request_decode(TP_REQ_OPEN, PAYLOAD(buf), len, &got), 0);
        assert_string_equal(got.u.signin.user, "alice");
        assert_string_equal(got.u.signin.logind_session, "c17");
        assert_int_equal(got.u.signin.leader_pid, 4242);
        free(buf);
}

static void test_reply_roundtrip_all_types(void **state)
{
        uint8_t *buf = malloc(FRAME_MAX);
        struct tp_reply *rep = reply_new(), *got = reply_new();
        uint8_t type;
        size_t len;

        (void) state;
        assert_non_null(buf);
        for (type = TP_REQ_ACCESS; type <= TP_REQ_MAX_; type++) {
                if (!tp_request_type_known(type))
                        continue;
                make_reply(type | TP_REPLY_FLAG, false, rep);
                len = encode_reply(rep, buf);
                memset(got, 0xa5, sizeof(*got));
                assert_int_equal(tp_reply_decode(type | TP_REPLY_FLAG, PAYLOAD(buf), len, got), 0);
                assert_int_equal(got->type, type | TP_REPLY_FLAG);
                assert_string_equal(got->message, "done");
                assert_memory_equal(got, rep, sizeof(*rep));
        }
        make_reply(TP_REQ_OPEN | TP_REPLY_FLAG, false, rep);
        len = encode_reply(rep, buf);
        assert_int_equal(tp_reply_decode(TP_REQ_OPEN | TP_REPLY_FLAG, PAYLOAD(buf), len, got), 0);
        assert_int_equal(got->u.tokens.n_evicted, 2);
        assert_string_equal(got->u.tokens.evicted[1].user, "user1");
        assert_true(got->u.tokens.access_expires == -1701209600);
        assert_int_equal(got->u.tokens.auto_extend, 1);
        free(got);
        free(rep);
        free(buf);
}

/* A refusal carries status and message only, whatever the body holds. */
static void test_reply_error_has_no_body(void **state)
{
        uint8_t *buf = malloc(FRAME_MAX);
        struct tp_reply *rep = reply_new(), *got = reply_new();
        uint8_t type, status;
        size_t len;

        (void) state;
        assert_non_null(buf);
        for (type = TP_REQ_ACCESS; type <= TP_REQ_MAX_; type++) {
                if (!tp_request_type_known(type))
                        continue;
                for (status = TP_STATUS_DENIED; status <= TP_STATUS_MAX_; status++) {
                        make_reply(type | TP_REPLY_FLAG, false, rep);
                        rep->status = status;
                        SET(rep->message, "Sign-in from web clients is disabled.");
                        len = encode_reply(rep, buf);
                        assert_int_equal(len, 1 + 2 + strlen(rep->message));
                        assert_int_equal(tp_reply_decode(type | TP_REPLY_FLAG, PAYLOAD(buf), len, got), 0);
                        assert_int_equal(got->status, status);
                        assert_string_equal(got->message, rep->message);
                        assert_int_equal(got->u.list.count, 0);
                        assert_int_equal(got->u.tokens.n_evicted, 0);
                }
        }
        free(got);
        free(rep);
        free(buf);
}

/* ---- decoder rejections ------------------------------------------------ */

/* Every cut of a valid payload (each field boundary and every byte in
 * between) and one trailing byte must be refused, leaving *out zeroed. */
static void check_reply_cuts(const struct tp_reply *rep, uint8_t *buf, struct tp_reply *got)
{
        static const uint8_t zero[sizeof(struct tp_reply)];
        size_t len, cut;

        len = encode_reply(rep, buf);
        for (cut = 0; cut < len; cut++)
                assert_int_equal(tp_reply_decode(rep->type, PAYLOAD(buf), cut, got), -EPROTO);
        PAYLOAD(buf)[len] = 0;
        assert_int_equal(tp_reply_decode(rep->type, PAYLOAD(buf), len + 1, got), -EPROTO);
        assert_memory_equal(got, zero, sizeof(*got));
        assert_int_equal(tp_reply_decode(rep->type, PAYLOAD(buf), len, got), 0);
}

static void test_truncated_and_trailing(void **state)
{
        uint8_t *buf = malloc(FRAME_MAX);
        struct tp_reply *rep = reply_new(), *got = reply_new();
        struct tp_request req, greq;
        uint8_t type;
        size_t len, cut;

        (void) state;
        assert_non_null(buf);
        for (type = TP_REQ_ACCESS; type <= TP_REQ_MAX_; type++) {
                if (!tp_request_type_known(type))
                        continue;
                make_request(type, false, &req);
                len = encode_request(&req, buf);
                for (cut = 0; cut < len; cut++)
                        assert_int_equal(tp_request_decode(type, PAYLOAD(buf), cut, &greq), -EPROTO);
                PAYLOAD(buf)[len] = 0;
                assert_int_equal(tp_request_decode(type, PAYLOAD(buf), len + 1, &greq), -EPROTO);

                make_reply(type | TP_REPLY_FLAG, false, rep);
                check_reply_cuts(rep, buf, got);
                rep->status = TP_STATUS_DENIED;
                check_reply_cuts(rep, buf, got);
        }
        free(got);
        free(rep);
        free(buf);
}

static void test_embedded_nul(void **state)
{
        uint8_t *buf = malloc(FRAME_MAX);
        struct tp_reply *rep = reply_new(), *got = reply_new();
        struct tp_request req, greq;
        size_t len;

        (void) state;
        assert_non_null(buf);
        /* user "alice" is the first field: length at 0..1, bytes from 2. */
        make_request(TP_REQ_OPEN, false, &req);
        len = encode_request(&req, buf);
        assert_int_equal(PAYLOAD(buf)[3], 'l');
        PAYLOAD(buf)[3] = 0;
        assert_int_equal(tp_request_decode(TP_REQ_OPEN, PAYLOAD(buf), len, &greq), -EPROTO);
        /* A NUL as the last byte of a string is refused too. */
        len = encode_request(&req, buf);
        PAYLOAD(buf)[2 + 4] = 0;
        assert_int_equal(tp_request_decode(TP_REQ_OPEN, PAYLOAD(buf), len, &greq), -EPROTO);

        /* message "done" follows the status byte. */
        make_reply(TP_REQ_CLOSE | TP_REPLY_FLAG, false, rep);
        len = encode_reply(rep, buf);
        PAYLOAD(buf)[1 + 2 + 1] = 0;
        assert_int_equal(tp_reply_decode(rep->type, PAYLOAD(buf), len, got), -EPROTO);
        free(got);
        free(rep);
        free(buf);
}

static void put_raw_str(struct tp_wire_writer *w, size_t n, char c)
{
        char *s = malloc(n + 1);

        assert_non_null(s);
        memset(s, c, n);
        s[n] = '\0';
        assert_int_equal(tp_wire_put_str(w, s, n + 1), 0);
        free(s);
}

static void put_text(struct tp_wire_writer *w, const char *s)
{
        assert_int_equal(tp_wire_put_str(w, s, strlen(s) + 1), 0);
}

static int decode_session_request(size_t sid_len, size_t tok_len, size_t user_len,
                                  struct tp_request *got)
{
        uint8_t buf[8192];
        struct tp_wire_writer w;

        tp_wire_writer_init(&w, buf, sizeof(buf));
        put_raw_str(&w, sid_len, 'f');
        put_raw_str(&w, tok_len, 'k');
        put_raw_str(&w, user_len, 'u');
        return tp_request_decode(TP_REQ_REFRESH, buf, w.len, got);
}

static int decode_access_reply(size_t message_len, size_t client_len, struct tp_reply *got)
{
        uint8_t buf[8192];
        struct tp_wire_writer w;

        tp_wire_writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tp_wire_put_u8(&w, TP_STATUS_OK), 0);
        put_raw_str(&w, message_len, 'm');
        put_raw_str(&w, client_len, 'c');
        return tp_reply_decode(TP_REQ_ACCESS | TP_REPLY_FLAG, buf, w.len, got);
}

static void test_decode_string_limits(void **state)
{
        struct tp_reply *got = reply_new();
        struct tp_request req;

        (void) state;
        assert_int_equal(decode_session_request(TP_SESSION_ID_MAX - 1, TP_TOKEN_MAX - 1,
                                                TP_USER_MAX - 1, &req), 0);
        assert_int_equal(strlen(req.u.session.session_id), TP_SESSION_ID_MAX - 1);
        assert_int_equal(strlen(req.u.session.refresh_token), TP_TOKEN_MAX - 1);
        assert_int_equal(strlen(req.u.session.user), TP_USER_MAX - 1);
        assert_int_equal(decode_session_request(TP_SESSION_ID_MAX, 1, 1, &req), -EPROTO);
        assert_int_equal(decode_session_request(1, TP_TOKEN_MAX, 1, &req), -EPROTO);
        assert_int_equal(decode_session_request(1, 1, TP_USER_MAX, &req), -EPROTO);
        assert_int_equal(decode_session_request(0, 0, 0, &req), 0);

        assert_int_equal(decode_access_reply(TP_MESSAGE_MAX - 1, TP_CLIENT_MAX - 1, got), 0);
        assert_int_equal(strlen(got->message), TP_MESSAGE_MAX - 1);
        assert_int_equal(strlen(got->u.access.client), TP_CLIENT_MAX - 1);
        assert_int_equal(decode_access_reply(TP_MESSAGE_MAX, 1, got), -EPROTO);
        assert_int_equal(decode_access_reply(1, TP_CLIENT_MAX, got), -EPROTO);
        free(got);
}

/* The field order below is PROTOCOL.md's, written out independently of
 * proto.c so that a reordering there fails these tests. */
static void craft_session_info(struct tp_wire_writer *w, uint8_t state)
{
        put_text(w, "0123456789abcdef0123456789abcdef");
        put_text(w, "carol");
        assert_int_equal(tp_wire_put_u32(w, 1001), 0);
        put_text(w, "web");
        put_text(w, "cockpit");
        put_text(w, "198.51.100.4");
        put_text(w, "");
        assert_int_equal(tp_wire_put_u32(w, 555), 0);
        assert_int_equal(tp_wire_put_i64(w, 10), 0);
        assert_int_equal(tp_wire_put_i64(w, 20), 0);
        assert_int_equal(tp_wire_put_i64(w, 30), 0);
        assert_int_equal(tp_wire_put_i64(w, 40), 0);
        assert_int_equal(tp_wire_put_i64(w, 50), 0);
        assert_int_equal(tp_wire_put_u8(w, state), 0);
}

/* A LIST reply by hand: `more`, then the cursor `next` (state, created,
 * seq), then `count` sessions. */
static int decode_list_reply_ext(uint8_t status, uint8_t more, const struct tp_list_cursor *next,
                                 uint32_t count, uint8_t state, struct tp_reply *got)
{
        static uint8_t buf[FRAME_MAX];
        struct tp_wire_writer w;
        uint32_t i;

        tp_wire_writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tp_wire_put_u8(&w, status), 0);
        put_text(&w, "");
        if (status == TP_STATUS_OK) {
                assert_int_equal(tp_wire_put_u8(&w, more), 0);
                assert_int_equal(tp_wire_put_u8(&w, next->state), 0);
                assert_int_equal(tp_wire_put_i64(&w, next->created), 0);
                assert_int_equal(tp_wire_put_u64(&w, next->seq), 0);
                assert_int_equal(tp_wire_put_u32(&w, count), 0);
                for (i = 0; i < count; i++)
                        craft_session_info(&w, state);
                for (i = 0; i < count; i++) /* the host of each, in order */
                        put_text(&w, "ws-0042");
        }
        return tp_reply_decode(TP_REQ_LIST | TP_REPLY_FLAG, buf, w.len, got);
}

static int decode_list_reply(uint8_t status, uint32_t count, uint8_t state, struct tp_reply *got)
{
        static const struct tp_list_cursor next = { TP_STATE_EXPIRED, -5, 99 };

        return decode_list_reply_ext(status, 1, &next, count, state, got);
}

static int decode_tokens_reply_ext(uint8_t n_evicted, uint8_t auto_extend, struct tp_reply *got)
{
        static uint8_t buf[FRAME_MAX];
        struct tp_wire_writer w;
        uint8_t i;

        tp_wire_writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tp_wire_put_u8(&w, TP_STATUS_OK), 0);
        put_text(&w, "");
        put_text(&w, "00112233445566778899aabbccddeeff");
        put_text(&w, "ssh");
        put_text(&w, "jwt");
        put_text(&w, "");
        assert_int_equal(tp_wire_put_i64(&w, 1000), 0);
        assert_int_equal(tp_wire_put_i64(&w, 500), 0);
        assert_int_equal(tp_wire_put_u8(&w, auto_extend), 0);
        assert_int_equal(tp_wire_put_u8(&w, n_evicted), 0);
        for (i = 0; i < n_evicted; i++)
                craft_session_info(&w, TP_STATE_REVOKED);
        return tp_reply_decode(TP_REQ_OPEN | TP_REPLY_FLAG, buf, w.len, got);
}

static int decode_tokens_reply(uint8_t n_evicted, struct tp_reply *got)
{
        return decode_tokens_reply_ext(n_evicted, 0, got);
}

struct policy_knobs {
        uint8_t custom, access, auto_extend, evict, on_expiry, on_revoke, on_idle;
};

static const struct policy_knobs good_knobs = { 1, 1, 1, TP_EVICT_MAX_, TP_ACTION_MAX_, TP_ACTION_MAX_,
                                                TP_ACTION_LOCK };

static void craft_token_values(struct tp_wire_writer *w, uint8_t auto_extend, uint32_t base)
{
        assert_int_equal(tp_wire_put_u8(w, auto_extend), 0);
        assert_int_equal(tp_wire_put_u32(w, base), 0);
        assert_int_equal(tp_wire_put_u32(w, base + 1), 0);
        assert_int_equal(tp_wire_put_u32(w, base + 2), 0);
}

static int decode_policy_reply(uint8_t n_clients, const struct policy_knobs *k, struct tp_reply *got)
{
        static uint8_t buf[FRAME_MAX];
        struct tp_wire_writer w;
        uint8_t i;

        tp_wire_writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tp_wire_put_u8(&w, TP_STATUS_OK), 0);
        put_text(&w, "");
        assert_int_equal(tp_wire_put_u8(&w, k->custom), 0);
        put_text(&w, "deny");
        put_text(&w, "/etc/tokenpolicy.conf");
        assert_int_equal(tp_wire_put_u8(&w, n_clients), 0);
        for (i = 0; i < n_clients; i++) {
                put_text(&w, "ssh");
                assert_int_equal(tp_wire_put_u8(&w, k->access), 0);
                craft_token_values(&w, k->auto_extend, 100);
                craft_token_values(&w, 0, 200);
                assert_int_equal(tp_wire_put_u8(&w, k->evict), 0);
                assert_int_equal(tp_wire_put_u8(&w, k->on_expiry), 0);
                assert_int_equal(tp_wire_put_u8(&w, k->on_revoke), 0);
                put_text(&w, "sshd");
        }
        /* The idle block of each client, after all of them. */
        for (i = 0; i < n_clients; i++) {
                assert_int_equal(tp_wire_put_u32(&w, 1440), 0);
                assert_int_equal(tp_wire_put_u8(&w, k->on_idle), 0);
                assert_int_equal(tp_wire_put_u32(&w, 720), 0);
        }
        return tp_reply_decode(TP_REQ_POLICY | TP_REPLY_FLAG, buf, w.len, got);
}

static void test_decode_enums_and_counts(void **state)
{
        struct tp_reply *got = reply_new();
        struct policy_knobs k;
        const struct tp_session_info *s;
        const struct tp_policy_client *c;

        (void) state;
        assert_int_equal(decode_list_reply(TP_STATUS_MAX_, 0, 0, got), 0);
        assert_int_equal(got->status, TP_STATUS_UNMAPPED);
        assert_int_equal(decode_list_reply(TP_STATUS_MAX_ + 1, 0, 0, got), -EPROTO);

        assert_int_equal(decode_list_reply(TP_STATUS_OK, TP_LIST_PAGE_MAX, TP_STATE_MAX_, got), 0);
        assert_int_equal(got->u.list.more, 1);
        assert_int_equal(got->u.list.next.state, TP_STATE_EXPIRED);
        assert_true(got->u.list.next.created == -5 && got->u.list.next.seq == 99);
        assert_int_equal(got->u.list.count, TP_LIST_PAGE_MAX);
        s = &got->u.list.sessions[TP_LIST_PAGE_MAX - 1];
        assert_string_equal(s->user, "carol");
        assert_int_equal(s->uid, 1001);
        assert_string_equal(s->client, "web");
        assert_string_equal(s->service, "cockpit");
        assert_string_equal(s->rhost, "198.51.100.4");
        assert_string_equal(s->tty, "");
        assert_int_equal(s->leader_pid, 555);
        assert_true(s->created == 10 && s->refresh_expires == 20 && s->last_extended == 30);
        assert_true(s->last_used == 40 && s->ended == 50);
        assert_int_equal(s->state, TP_STATE_CLOSED);
        assert_int_equal(decode_list_reply(TP_STATUS_OK, TP_LIST_PAGE_MAX + 1, 0, got), -EPROTO);
        assert_int_equal(decode_list_reply(TP_STATUS_OK, 1, TP_STATE_MAX_ + 1, got), -EPROTO);

        assert_int_equal(decode_tokens_reply(TP_EVICTED_MAX, got), 0);
        assert_int_equal(got->u.tokens.n_evicted, TP_EVICTED_MAX);
        assert_string_equal(got->u.tokens.access_token, "jwt");
        assert_true(got->u.tokens.refresh_expires == 1000 && got->u.tokens.access_expires == 500);
        assert_int_equal(got->u.tokens.evicted[TP_EVICTED_MAX - 1].state, TP_STATE_REVOKED);
        assert_int_equal(decode_tokens_reply(TP_EVICTED_MAX + 1, got), -EPROTO);
        assert_int_equal(decode_tokens_reply_ext(0, 1, got), 0);
        assert_int_equal(got->u.tokens.auto_extend, 1);
        assert_int_equal(decode_tokens_reply_ext(0, 2, got), -EPROTO);

        assert_int_equal(decode_policy_reply(TP_POLICY_CLIENTS_MAX, &good_knobs, got), 0);
        assert_int_equal(got->u.policy.custom_token_policy, 1);
        assert_string_equal(got->u.policy.unknown_client, "deny");
        assert_int_equal(got->u.policy.n_clients, TP_POLICY_CLIENTS_MAX);
        c = &got->u.policy.clients[TP_POLICY_CLIENTS_MAX - 1];
        assert_string_equal(c->name, "ssh");
        assert_int_equal(c->access, 1);
        assert_int_equal(c->configured.auto_extend, 1);
        assert_int_equal(c->configured.refresh_ttl_hours, 100);
        assert_int_equal(c->configured.access_ttl_minutes, 101);
        assert_int_equal(c->configured.max_refresh_tokens, 102);
        assert_int_equal(c->effective.refresh_ttl_hours, 200);
        assert_int_equal(c->evict, TP_EVICT_DENY_NEW);
        assert_int_equal(c->on_expiry, TP_ACTION_NONE);
        assert_int_equal(c->on_revoke, TP_ACTION_NONE);
        assert_string_equal(c->services, "sshd");
        assert_int_equal(c->idle.idle_timeout_minutes, 1440);
        assert_int_equal(c->idle.on_idle, TP_ACTION_LOCK);
        assert_int_equal(c->idle.warn_before_minutes, 720);
        assert_int_equal(decode_policy_reply(TP_POLICY_CLIENTS_MAX + 1, &good_knobs, got), -EPROTO);

        k = good_knobs;
        k.custom = 2;
        assert_int_equal(decode_policy_reply(1, &k, got), -EPROTO);
        k = good_knobs;
        k.access = 2;
        assert_int_equal(decode_policy_reply(1, &k, got), -EPROTO);
        k = good_knobs;
        k.auto_extend = 2;
        assert_int_equal(decode_policy_reply(1, &k, got), -EPROTO);
        k = good_knobs;
        k.evict = TP_EVICT_MAX_ + 1;
        assert_int_equal(decode_policy_reply(1, &k, got), -EPROTO);
        k = good_knobs;
        k.on_expiry = TP_ACTION_MAX_ + 1;
        assert_int_equal(decode_policy_reply(1, &k, got), -EPROTO);
        k = good_knobs;
        k.on_revoke = TP_ACTION_MAX_ + 1;
        assert_int_equal(decode_policy_reply(1, &k, got), -EPROTO);
        /* on_idle is lock or terminate: "none" is no idle action. */
        k = good_knobs;
        k.on_idle = TP_ACTION_NONE;
        assert_int_equal(decode_policy_reply(1, &k, got), -EPROTO);
        free(got);
}

/* STATUS as PROTOCOL.md section 5.2 lists it, the configuration fields
 * added at the end of the body. */
static int decode_status_reply(uint8_t config_state, bool with_config, struct tp_reply *got)
{
        static uint8_t buf[FRAME_MAX];
        struct tp_wire_writer w;

        tp_wire_writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tp_wire_put_u8(&w, TP_STATUS_OK), 0);
        put_text(&w, "running");
        put_text(&w, "0.1.0");
        assert_int_equal(tp_wire_put_u32(&w, 4242), 0);
        assert_int_equal(tp_wire_put_i64(&w, 100), 0);
        assert_int_equal(tp_wire_put_i64(&w, 200), 0);
        put_text(&w, "/etc/tokenpolicy.conf");
        assert_int_equal(tp_wire_put_u64(&w, 7), 0);
        assert_int_equal(tp_wire_put_u32(&w, 4), 0);
        if (with_config) {
                assert_int_equal(tp_wire_put_u8(&w, config_state), 0);
                put_text(&w, "/var/lib/tokenpolicy/last-good.conf");
                put_text(&w, "/etc/tokenpolicy.conf:1: bad\n/etc/tokenpolicy.conf:2: worse");
                put_text(&w, "journal");                 /* the audit trail's fields */
                assert_int_equal(tp_wire_put_u32(&w, 3), 0);
                assert_int_equal(tp_wire_put_u64(&w, 5), 0);
                assert_int_equal(tp_wire_put_u64(&w, 6), 0);
                assert_int_equal(tp_wire_put_u8(&w, TP_STORE_KIND_POSTGRESQL), 0); /* the store's */
                assert_int_equal(tp_wire_put_u8(&w, 1), 0);
                put_text(&w, "ws-0042");
                assert_int_equal(tp_wire_put_u32(&w, 3), 0);
                assert_int_equal(tp_wire_put_i64(&w, 1700000100), 0); /* offline since */
                put_text(&w, "no answer");
                assert_int_equal(tp_wire_put_u64(&w, 2), 0);          /* unsynced */
        }
        return tp_reply_decode(TP_REQ_STATUS | TP_REPLY_FLAG, buf, w.len, got);
}

static void test_status_reply_config_fields(void **state)
{
        struct tp_reply *got = reply_new();
        uint8_t *buf = malloc(FRAME_MAX);

        (void) state;
        assert_non_null(buf);
        assert_int_equal(decode_status_reply(TP_CONFIG_LAST_GOOD, true, got), 0);
        assert_int_equal(got->u.status.pid, 4242);
        assert_int_equal(got->u.status.active_sessions, 7);
        assert_int_equal(got->u.status.n_clients, 4);
        assert_int_equal(got->u.status.config_state, TP_CONFIG_LAST_GOOD);
        assert_int_equal(got->u.status.store_offline_since, 1700000100);
        assert_string_equal(got->u.status.store_error, "no answer");
        assert_int_equal(got->u.status.unsynced, 2);
        assert_string_equal(got->u.status.config_source, "/var/lib/tokenpolicy/last-good.conf");
        assert_string_equal(got->u.status.config_errors,
                            "/etc/tokenpolicy.conf:1: bad\n/etc/tokenpolicy.conf:2: worse");
        assert_string_equal(got->u.status.audit_sink, "journal");
        assert_int_equal(got->u.status.audit_queued, 3);
        assert_int_equal(got->u.status.audit_lost, 5);
        assert_int_equal(got->u.status.audit_suppressed, 6);
        assert_int_equal(decode_status_reply(TP_CONFIG_STATE_MAX_ + 1, true, got), -EPROTO);
        /* The body without them is a short one now. */
        assert_int_equal(decode_status_reply(0, false, got), -EPROTO);

        make_reply(TP_REQ_STATUS | TP_REPLY_FLAG, false, got);
        got->u.status.config_state = TP_CONFIG_STATE_MAX_ + 1;
        assert_int_equal(tp_reply_encode(got, buf, FRAME_MAX), -EINVAL);
        free(buf);
        free(got);
}

/* REVOKE_KEY: a kid of up to 63 bytes; the reply's rotated is a bool. */
static void test_revoke_key_fields(void **state)
{
        static uint8_t buf[FRAME_MAX];
        struct tp_reply *got = reply_new();
        struct tp_wire_writer w;
        struct tp_request req;
        char kid[TP_KID_MAX + 1];

        (void) state;
        memset(kid, 'k', sizeof(kid));
        kid[TP_KID_MAX - 1] = '\0';
        tp_wire_writer_init(&w, buf, sizeof(buf));
        put_text(&w, kid);
        assert_int_equal(tp_request_decode(TP_REQ_REVOKE_KEY, buf, w.len, &req), 0);
        assert_string_equal(req.u.key.kid, kid);
        kid[TP_KID_MAX - 1] = 'k';
        kid[TP_KID_MAX] = '\0';
        tp_wire_writer_init(&w, buf, sizeof(buf));
        put_text(&w, kid);
        assert_int_equal(tp_request_decode(TP_REQ_REVOKE_KEY, buf, w.len, &req), -EPROTO);
        assert_int_equal(tp_request_decode(TP_REQ_REVOKE_KEY, buf, 0, &req), -EPROTO);

        for (uint8_t rotated = 0; rotated <= 2; rotated++) {
                tp_wire_writer_init(&w, buf, sizeof(buf));
                assert_int_equal(tp_wire_put_u8(&w, TP_STATUS_OK), 0);
                put_text(&w, "");
                put_text(&w, "old");
                put_text(&w, "new");
                assert_int_equal(tp_wire_put_u8(&w, rotated), 0);
                assert_int_equal(tp_reply_decode(TP_REQ_REVOKE_KEY | TP_REPLY_FLAG, buf, w.len, got),
                                 rotated <= 1 ? 0 : -EPROTO);
                if (rotated <= 1) {
                        assert_string_equal(got->u.revoke_key.kid, "old");
                        assert_string_equal(got->u.revoke_key.current_kid, "new");
                        assert_int_equal(got->u.revoke_key.rotated, rotated);
                }
        }
        free(got);
}

static void test_list_flags(void **state)
{
        uint8_t buf[1024];
        struct tp_request req, got;
        size_t len;

        (void) state;
        make_request(TP_REQ_LIST, false, &req);
        req.u.list.flags = 0;
        req.u.list.after = (struct tp_list_cursor) { 0 };
        len = encode_request(&req, buf);
        assert_int_equal(len, 2 + 5 + 2 + 3 + 4 + 1 + 8 + 8);
        assert_int_equal(tp_request_decode(TP_REQ_LIST, PAYLOAD(buf), len, &got), 0);
        req.u.list.flags = TP_LIST_ALL;
        len = encode_request(&req, buf);
        assert_int_equal(tp_request_decode(TP_REQ_LIST, PAYLOAD(buf), len, &got), 0);
        assert_int_equal(got.u.list.flags, TP_LIST_ALL);
        /* flags is the u32 before the 17-byte cursor: patch in an unknown bit. */
        PAYLOAD(buf)[len - 18] = 0x04;
        assert_int_equal(tp_request_decode(TP_REQ_LIST, PAYLOAD(buf), len, &got), -EPROTO);

        req.u.list.flags = 0x04;
        assert_int_equal(tp_request_encode(&req, buf, sizeof(buf)), -EINVAL);
        req.u.list.flags = 0x80000000u;
        assert_int_equal(tp_request_encode(&req, buf, sizeof(buf)), -EINVAL);
}

/* LIST's host filter: optional and last. Left out, the request is what
 * it was before the filter existed; present, it names a host. */
static void test_list_host_filter(void **state)
{
        uint8_t buf[1024];
        struct tp_request req, got;
        struct tp_wire_writer w;
        size_t len;

        (void) state;
        make_request(TP_REQ_LIST, false, &req);
        len = encode_request(&req, buf);
        assert_int_equal(tp_request_decode(TP_REQ_LIST, PAYLOAD(buf), len, &got), 0);
        assert_string_equal(got.u.list.host, "");
        SET(req.u.list.host, "ws-0042");
        assert_int_equal(encode_request(&req, buf), len + 2 + 7);
        assert_int_equal(tp_request_decode(TP_REQ_LIST, PAYLOAD(buf), len + 2 + 7, &got), 0);
        assert_string_equal(got.u.list.host, "ws-0042");
        /* Present but empty: refused, it would mean "no filter" twice. */
        tp_wire_writer_init(&w, PAYLOAD(buf) + len, 16);
        assert_int_equal(tp_wire_put_str(&w, "", 1), 0);
        assert_int_equal(tp_request_decode(TP_REQ_LIST, PAYLOAD(buf), len + 2, &got), -EPROTO);
        /* One character past a host id. */
        memset(req.u.list.host, 'h', sizeof(req.u.list.host));
        assert_int_equal(tp_request_encode(&req, buf, sizeof(buf)), -EINVAL);
}

/* A cursor goes with TP_LIST_AFTER only, in requests as in replies (with
 * `more`): a stray one would be ignored, so it is refused. */
static void test_list_cursor(void **state)
{
        static const struct tp_list_cursor zero = { 0 };
        uint8_t *buf = malloc(FRAME_MAX);
        struct tp_reply *rep = reply_new(), *got = reply_new();
        struct tp_request req, greq;
        struct tp_list_cursor c;
        size_t len;

        (void) state;
        assert_non_null(buf);
        make_request(TP_REQ_LIST, false, &req);
        len = encode_request(&req, buf);
        assert_int_equal(tp_request_decode(TP_REQ_LIST, PAYLOAD(buf), len, &greq), 0);
        assert_int_equal(greq.u.list.flags, TP_LIST_ALL | TP_LIST_AFTER);
        assert_int_equal(greq.u.list.after.state, TP_STATE_CLOSED);
        assert_true(greq.u.list.after.created == 1700000000 && greq.u.list.after.seq == 64);

        /* Each field of a cursor sent without TP_LIST_AFTER. */
        for (int field = 0; field < 3; field++) {
                make_request(TP_REQ_LIST, false, &req);
                req.u.list.flags = TP_LIST_ALL;
                req.u.list.after = zero;
                if (field == 0)
                        req.u.list.after.state = TP_STATE_REVOKED;
                else if (field == 1)
                        req.u.list.after.created = -1;
                else
                        req.u.list.after.seq = 1;
                assert_int_equal(tp_request_encode(&req, buf, FRAME_MAX), -EINVAL);
                req.u.list.flags |= TP_LIST_AFTER;
                len = encode_request(&req, buf);
                PAYLOAD(buf)[len - 18] &= (uint8_t) ~TP_LIST_AFTER;
                assert_int_equal(tp_request_decode(TP_REQ_LIST, PAYLOAD(buf), len, &greq), -EPROTO);
        }
        /* TP_LIST_AFTER with the zero cursor is a position like any other. */
        make_request(TP_REQ_LIST, false, &req);
        req.u.list.after = zero;
        len = encode_request(&req, buf);
        assert_int_equal(tp_request_decode(TP_REQ_LIST, PAYLOAD(buf), len, &greq), 0);
        /* The cursor's state is an enum. */
        make_request(TP_REQ_LIST, false, &req);
        len = encode_request(&req, buf);
        PAYLOAD(buf)[len - 17] = TP_STATE_MAX_ + 1;
        assert_int_equal(tp_request_decode(TP_REQ_LIST, PAYLOAD(buf), len, &greq), -EPROTO);
        req.u.list.after.state = TP_STATE_MAX_ + 1;
        assert_int_equal(tp_request_encode(&req, buf, FRAME_MAX), -EINVAL);

        /* Replies: the last page has more = 0 and no cursor. */
        make_reply(TP_REQ_LIST | TP_REPLY_FLAG, false, rep);
        rep->u.list.more = 0;
        rep->u.list.next = zero;
        len = encode_reply(rep, buf);
        assert_int_equal(tp_reply_decode(rep->type, PAYLOAD(buf), len, got), 0);
        assert_int_equal(got->u.list.more, 0);
        rep->u.list.next.seq = 7;
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), -EINVAL);
        rep->u.list.more = 2;
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), -EINVAL);
        c = (struct tp_list_cursor) { TP_STATE_ACTIVE, 0, 7 };
        assert_int_equal(decode_list_reply_ext(TP_STATUS_OK, 0, &c, 0, 0, got), -EPROTO);
        assert_int_equal(decode_list_reply_ext(TP_STATUS_OK, 2, &zero, 0, 0, got), -EPROTO);
        assert_int_equal(decode_list_reply_ext(TP_STATUS_OK, 0, &zero, 0, 0, got), 0);
        /* more = 1 with an empty page: the daemon stopped looking, not the list. */
        c = (struct tp_list_cursor) { TP_STATE_MAX_, INT64_MIN, UINT64_MAX };
        assert_int_equal(decode_list_reply_ext(TP_STATUS_OK, 1, &c, 0, 0, got), 0);
        assert_true(got->u.list.more == 1 && got->u.list.count == 0);
        assert_true(got->u.list.next.created == INT64_MIN && got->u.list.next.seq == UINT64_MAX);
        c.state = TP_STATE_MAX_ + 1;
        assert_int_equal(decode_list_reply_ext(TP_STATUS_OK, 1, &c, 0, 0, got), -EPROTO);
        free(got);
        free(rep);
        free(buf);
}

/* The signin flags travel last; each known bit comes back, an unknown bit
 * is refused both ways. */
static void test_signin_flags(void **state)
{
        static const uint32_t good[] = { 0, TP_SIGNIN_IGNORE_UNMAPPED, TP_SIGNIN_EXEMPT, TP_SIGNIN_FLAGS_ALL };
        uint8_t buf[4096];
        struct tp_request req, got;
        size_t len;

        (void) state;
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                make_request(TP_REQ_OPEN, false, &req);
                req.u.signin.flags = good[i];
                len = encode_request(&req, buf);
                assert_int_equal(tp_request_decode(TP_REQ_OPEN, PAYLOAD(buf), len, &got), 0);
                assert_int_equal(got.u.signin.flags, good[i]);
                assert_memory_equal(&got, &req, sizeof(req));
        }
        /* flags is the last u32: patch in the first unknown bit. */
        PAYLOAD(buf)[len - 1] = (uint8_t) (TP_SIGNIN_FLAGS_ALL + 1);
        assert_int_equal(tp_request_decode(TP_REQ_OPEN, PAYLOAD(buf), len, &got), -EPROTO);
        PAYLOAD(buf)[len - 1] = 0;
        PAYLOAD(buf)[len - 4] = 0x80;
        assert_int_equal(tp_request_decode(TP_REQ_ACCESS, PAYLOAD(buf), len, &got), -EPROTO);
        /* A signin without its flags is a short payload. */
        assert_int_equal(tp_request_decode(TP_REQ_ACCESS, PAYLOAD(buf), len - 4, &got), -EPROTO);

        req.u.signin.flags = TP_SIGNIN_FLAGS_ALL + 1;
        assert_int_equal(tp_request_encode(&req, buf, sizeof(buf)), -EINVAL);
        req.u.signin.flags = 0x80000000u;
        assert_int_equal(tp_request_encode(&req, buf, sizeof(buf)), -EINVAL);
}

/* The revoke flags travel last, as the signin flags do. */
static void test_revoke_flags(void **state)
{
        uint8_t buf[4096];
        struct tp_request req, got;
        size_t len;

        (void) state;
        make_request(TP_REQ_REVOKE, false, &req);
        req.u.revoke.flags = 0;
        len = encode_request(&req, buf);
        assert_int_equal(tp_request_decode(TP_REQ_REVOKE, PAYLOAD(buf), len, &got), 0);
        assert_int_equal(got.u.revoke.flags, 0);
        req.u.revoke.flags = TP_REVOKE_OTHERS;
        len = encode_request(&req, buf);
        assert_int_equal(tp_request_decode(TP_REQ_REVOKE, PAYLOAD(buf), len, &got), 0);
        assert_int_equal(got.u.revoke.flags, TP_REVOKE_OTHERS);
        PAYLOAD(buf)[len - 1] = (uint8_t) (TP_REVOKE_FLAGS_ALL + 1);
        assert_int_equal(tp_request_decode(TP_REQ_REVOKE, PAYLOAD(buf), len, &got), -EPROTO);
        PAYLOAD(buf)[len - 1] = 0;
        PAYLOAD(buf)[len - 4] = 0x80;
        assert_int_equal(tp_request_decode(TP_REQ_REVOKE, PAYLOAD(buf), len, &got), -EPROTO);
        /* A revoke without its flags (an older client) is a short payload. */
        assert_int_equal(tp_request_decode(TP_REQ_REVOKE, PAYLOAD(buf), len - 4, &got), -EPROTO);
        req.u.revoke.flags = TP_REVOKE_FLAGS_ALL + 1;
        assert_int_equal(tp_request_encode(&req, buf, sizeof(buf)), -EINVAL);
}

static void test_unknown_types(void **state)
{
        /* 7 is retired: the LIST paged by an offset. */
        static const uint8_t bad_req[] = { 0, 7, TP_REQ_MAX_ + 1, 0x7f, TP_REPLY_FLAG,
                                           TP_REQ_ACCESS | TP_REPLY_FLAG, 0xff };
        static const uint8_t bad_rep[] = { 0, TP_REQ_ACCESS, TP_REQ_POLICY, TP_REPLY_FLAG,
                                           7 | TP_REPLY_FLAG, (TP_REQ_MAX_ + 1) | TP_REPLY_FLAG, 0xff };
        uint8_t buf[64], empty[1] = { 0 };
        struct tp_reply *rep = reply_new();
        struct tp_request req;
        size_t i;

        (void) state;
        assert_false(tp_request_type_known(7));
        assert_true(tp_request_type_known(TP_REQ_LIST));
        assert_string_equal(tp_msg_type_name(7), "unknown");
        assert_string_equal(tp_msg_type_name(7 | TP_REPLY_FLAG), "unknown");
        assert_string_equal(tp_msg_type_name(TP_REQ_LIST | TP_REPLY_FLAG), "list");
        for (i = 0; i < sizeof(bad_req); i++) {
                assert_false(tp_request_type_known(bad_req[i]));
                assert_int_equal(tp_request_decode(bad_req[i], empty, 0, &req), -EPROTO);
                memset(&req, 0, sizeof(req));
                req.type = bad_req[i];
                assert_int_equal(tp_request_encode(&req, buf, sizeof(buf)), -EINVAL);
        }
        for (i = 0; i < sizeof(bad_rep); i++) {
                assert_int_equal(tp_reply_decode(bad_rep[i], empty, 0, rep), -EPROTO);
                memset(rep, 0, sizeof(*rep));
                rep->type = bad_rep[i];
                assert_int_equal(tp_reply_encode(rep, buf, sizeof(buf)), -EINVAL);
        }
        free(rep);
}

/* ---- encoder rejections ------------------------------------------------ */

static void test_encode_string_limits(void **state)
{
        uint8_t *buf = malloc(FRAME_MAX);
        struct tp_reply *rep = reply_new();
        struct tp_request req;

        (void) state;
        assert_non_null(buf);
        make_request(TP_REQ_OPEN, false, &req);
        FILL_MAX(req.u.signin.user, 'u');
        assert_true(tp_request_encode(&req, buf, FRAME_MAX) > 0);
        memset(req.u.signin.user, 'u', sizeof(req.u.signin.user));
        assert_int_equal(tp_request_encode(&req, buf, FRAME_MAX), -EINVAL);

        make_request(TP_REQ_REFRESH, false, &req);
        FILL_MAX(req.u.session.refresh_token, 'k');
        assert_true(tp_request_encode(&req, buf, FRAME_MAX) > 0);
        memset(req.u.session.refresh_token, 'k', sizeof(req.u.session.refresh_token));
        assert_int_equal(tp_request_encode(&req, buf, FRAME_MAX), -EINVAL);

        make_reply(TP_REQ_CLOSE | TP_REPLY_FLAG, false, rep);
        FILL_MAX(rep->message, 'm');
        assert_true(tp_reply_encode(rep, buf, FRAME_MAX) > 0);
        memset(rep->message, 'm', sizeof(rep->message));
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), -EINVAL);

        make_reply(TP_REQ_REFRESH | TP_REPLY_FLAG, false, rep);
        memset(rep->u.tokens.access_token, 'j', sizeof(rep->u.tokens.access_token));
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), -EINVAL);

        make_reply(TP_REQ_POLICY | TP_REPLY_FLAG, false, rep);
        FILL_MAX(rep->u.policy.clients[1].services, 'v');
        assert_true(tp_reply_encode(rep, buf, FRAME_MAX) > 0);
        memset(rep->u.policy.clients[1].services, 'v', sizeof(rep->u.policy.clients[1].services));
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), -EINVAL);
        free(rep);
        free(buf);
}

static void test_encode_enums_and_counts(void **state)
{
        uint8_t *buf = malloc(FRAME_MAX);
        struct tp_reply *rep = reply_new();

        (void) state;
        assert_non_null(buf);
        make_reply(TP_REQ_CLOSE | TP_REPLY_FLAG, false, rep);
        rep->status = TP_STATUS_MAX_;
        assert_true(tp_reply_encode(rep, buf, FRAME_MAX) > 0);
        rep->status = TP_STATUS_MAX_ + 1;
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), -EINVAL);

        make_reply(TP_REQ_LIST | TP_REPLY_FLAG, false, rep);
        rep->u.list.sessions[1].state = TP_STATE_MAX_ + 1;
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), -EINVAL);
        make_reply(TP_REQ_LIST | TP_REPLY_FLAG, true, rep);
        rep->u.list.count = TP_LIST_PAGE_MAX + 1;
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), -EINVAL);

        make_reply(TP_REQ_OPEN | TP_REPLY_FLAG, false, rep);
        rep->u.tokens.n_evicted = TP_EVICTED_MAX + 1;
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), -EINVAL);

        make_reply(TP_REQ_POLICY | TP_REPLY_FLAG, false, rep);
        rep->u.policy.n_clients = TP_POLICY_CLIENTS_MAX + 1;
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), -EINVAL);
        make_reply(TP_REQ_POLICY | TP_REPLY_FLAG, false, rep);
        rep->u.policy.clients[0].evict = TP_EVICT_MAX_ + 1;
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), -EINVAL);
        make_reply(TP_REQ_POLICY | TP_REPLY_FLAG, false, rep);
        rep->u.policy.clients[0].effective.auto_extend = 2;
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), -EINVAL);
        free(rep);
        free(buf);
}

static void test_encode_out_size(void **state)
{
        uint8_t buf[1024];
        struct tp_request req;
        int n;

        (void) state;
        make_request(TP_REQ_OPEN, false, &req);
        n = tp_request_encode(&req, buf, sizeof(buf));
        assert_true(n > TP_FRAME_HEADER_SIZE);
        assert_int_equal(tp_request_encode(&req, buf, (size_t) n), n);
        assert_int_equal(tp_request_encode(&req, buf, (size_t) n - 1), -EMSGSIZE);
        assert_int_equal(tp_request_encode(&req, buf, TP_FRAME_HEADER_SIZE - 1), -EMSGSIZE);

        make_request(TP_REQ_STATUS, false, &req);
        assert_int_equal(tp_request_encode(&req, buf, TP_FRAME_HEADER_SIZE), TP_FRAME_HEADER_SIZE);
        assert_int_equal(tp_request_encode(&req, buf, 0), -EMSGSIZE);
}

/* ---- worst-case sizes -------------------------------------------------- */

static void check_worst_reply(uint8_t type, size_t min_len)
{
        uint8_t *buf = malloc(FRAME_MAX);
        struct tp_reply *rep = reply_new(), *got = reply_new();
        int n;

        assert_non_null(buf);
        make_reply(type | TP_REPLY_FLAG, true, rep);
        n = tp_reply_encode(rep, buf, FRAME_MAX);
        assert_true(n > 0);
        assert_true((size_t) n <= FRAME_MAX);
        assert_true((size_t) n >= min_len); /* the sample really is large */
        assert_int_equal(tp_reply_decode(rep->type, PAYLOAD(buf), (size_t) n - TP_FRAME_HEADER_SIZE, got), 0);
        assert_memory_equal(got, rep, sizeof(*rep));
        free(got);
        free(rep);
        free(buf);
}

static void test_worst_case_list_fits(void **state)
{
        (void) state;
        check_worst_reply(TP_REQ_LIST, TP_LIST_PAGE_MAX * (TP_USER_MAX + TP_SERVICE_MAX + TP_RHOST_MAX + TP_TTY_MAX));
}

static void test_worst_case_policy_fits(void **state)
{
        (void) state;
        check_worst_reply(TP_REQ_POLICY, TP_POLICY_CLIENTS_MAX * TP_SERVICES_TEXT_MAX);
}

static void test_worst_case_tokens_fit(void **state)
{
        uint8_t type;

        (void) state;
        for (type = TP_REQ_ACCESS; type <= TP_REQ_MAX_; type++)
                if (tp_request_type_known(type))
                        check_worst_reply(type, TP_MESSAGE_MAX);
        check_worst_reply(TP_REQ_OPEN, 2 * TP_TOKEN_MAX + TP_EVICTED_MAX * TP_USER_MAX);
}

/* PROTOCOL.md section 6 gives the worst-case status, list and hosts
 * replies in bytes. */
static void test_worst_case_status_size(void **state)
{
        uint8_t *buf = malloc(FRAME_MAX);
        struct tp_reply *rep = reply_new();

        (void) state;
        assert_non_null(buf);
        make_reply(TP_REQ_STATUS | TP_REPLY_FLAG, true, rep);
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), TP_FRAME_HEADER_SIZE + 9474);
        make_reply(TP_REQ_LIST | TP_REPLY_FLAG, true, rep);
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), TP_FRAME_HEADER_SIZE + 41976);
        make_reply(TP_REQ_HOSTS | TP_REPLY_FLAG, true, rep);
        assert_int_equal(tp_reply_encode(rep, buf, FRAME_MAX), TP_FRAME_HEADER_SIZE + 28039);
        free(rep);
        free(buf);
}

static void test_worst_case_requests_fit(void **state)
{
        uint8_t *buf = malloc(FRAME_MAX);
        struct tp_request req, got;
        uint8_t type;
        size_t len;

        (void) state;
        assert_non_null(buf);
        for (type = TP_REQ_ACCESS; type <= TP_REQ_MAX_; type++) {
                if (!tp_request_type_known(type))
                        continue;
                make_request(type, true, &req);
                len = encode_request(&req, buf);
                assert_int_equal(tp_request_decode(type, PAYLOAD(buf), len, &got), 0);
                assert_memory_equal(&got, &req, sizeof(req));
        }
        free(buf);
}

/* Every enum the wire carries: each value's name leads back to it, the
 * value one past the last has none, and no other string is a name. */
#define CHECK_TABLE(prefix, max)                                                              \
        do {                                                                                  \
                for (unsigned v_ = 0; v_ <= (max); v_++) {                                    \
                        assert_non_null(prefix##_to_string(v_));                              \
                        assert_int_equal(prefix##_from_string(prefix##_to_string(v_)), v_);   \
                        assert_string_equal(prefix##_name(v_), prefix##_to_string(v_));       \
                }                                                                             \
                assert_null(prefix##_to_string((max) + 1));                                   \
                assert_string_equal(prefix##_name((max) + 1), "unknown");                     \
                assert_int_equal(prefix##_from_string("unknown"), -EINVAL);                   \
                assert_int_equal(prefix##_from_string(""), -EINVAL);                          \
                assert_int_equal(prefix##_from_string(NULL), -EINVAL);                        \
        } while (0)

static void test_names_both_ways(void **state)
{
        (void) state;
        CHECK_TABLE(tp_status, TP_STATUS_MAX_);
        CHECK_TABLE(tp_state, TP_STATE_MAX_);
        CHECK_TABLE(tp_evict, TP_EVICT_MAX_);
        CHECK_TABLE(tp_action, TP_ACTION_MAX_);
        CHECK_TABLE(tp_config_state, TP_CONFIG_STATE_MAX_);
        assert_string_equal(tp_status_to_string(TP_STATUS_UNMAPPED), "unmapped");
        assert_int_equal(tp_status_from_string("unmapped"), TP_STATUS_UNMAPPED);
        assert_int_equal(tp_evict_from_string("least_recently_used"), TP_EVICT_LEAST_RECENTLY_USED);
        /* Names are exact: the configuration file's spelling, no other. */
        assert_int_equal(tp_evict_from_string("Oldest"), -EINVAL);
        assert_int_equal(tp_evict_from_string("least-recently-used"), -EINVAL);
        assert_int_equal(tp_action_from_string("terminate "), -EINVAL);

        /* Request types: 0, the retired 7 and the unused 16 and 18 to 29 have no
         * name, and every other number up to the last does. */
        for (unsigned t = 0; t <= TP_REQ_MAX_; t++) {
                const char *s = tp_msg_type_to_string(t);

                assert_true((s == NULL) == (t == 0 || t == 7 || t == 16 || (t >= 18 && t <= 29)));
                assert_true(tp_request_type_known((uint8_t) t) == (s != NULL));
                if (s)
                        assert_int_equal(tp_msg_type_from_string(s), t);
        }
        assert_string_equal(tp_msg_type_to_string(TP_REQ_ACCESS), "access");
        assert_string_equal(tp_msg_type_to_string(TP_REQ_MAX_), "outcome");
        assert_null(tp_msg_type_to_string(TP_REQ_MAX_ + 1));
        assert_null(tp_msg_type_to_string(TP_REQ_ACCESS | TP_REPLY_FLAG));
        assert_int_equal(tp_msg_type_from_string("retired"), -EINVAL);
        assert_int_equal(tp_msg_type_from_string(NULL), -EINVAL);
        assert_string_equal(tp_msg_type_name(TP_REQ_MAX_ + 1), "unknown");
        assert_string_equal(tp_msg_type_name(0 | TP_REPLY_FLAG), "unknown");
}

static void test_names(void **state)
{
        (void) state;
        assert_string_equal(tp_status_name(TP_STATUS_OK), "ok");
        assert_string_equal(tp_status_name(TP_STATUS_DENIED), "denied");
        assert_string_equal(tp_status_name(TP_STATUS_EXPIRED), "expired");
        assert_string_equal(tp_status_name(TP_STATUS_NOT_FOUND), "not-found");
        assert_string_equal(tp_status_name(TP_STATUS_FORBIDDEN), "forbidden");
        assert_string_equal(tp_status_name(TP_STATUS_BAD_REQUEST), "bad-request");
        assert_string_equal(tp_status_name(TP_STATUS_ERROR), "error");
        assert_string_equal(tp_status_name(TP_STATUS_MAX_ + 1), "unknown");
        assert_string_equal(tp_state_name(TP_STATE_ACTIVE), "active");
        assert_string_equal(tp_state_name(TP_STATE_REVOKED), "revoked");
        assert_string_equal(tp_state_name(TP_STATE_EXPIRED), "expired");
        assert_string_equal(tp_state_name(TP_STATE_CLOSED), "closed");
        assert_string_equal(tp_state_name(TP_STATE_MAX_ + 1), "unknown");
        assert_string_equal(tp_evict_name(TP_EVICT_OLDEST), "oldest");
        assert_string_equal(tp_evict_name(TP_EVICT_LEAST_RECENTLY_USED), "least_recently_used");
        assert_string_equal(tp_evict_name(TP_EVICT_DENY_NEW), "deny_new");
        assert_string_equal(tp_evict_name(TP_EVICT_MAX_ + 1), "unknown");
        assert_string_equal(tp_action_name(TP_ACTION_TERMINATE), "terminate");
        assert_string_equal(tp_action_name(TP_ACTION_LOCK), "lock");
        assert_string_equal(tp_action_name(TP_ACTION_NONE), "none");
        assert_string_equal(tp_action_name(TP_ACTION_MAX_ + 1), "unknown");
        assert_string_equal(tp_config_state_name(TP_CONFIG_LOADED), "loaded");
        assert_string_equal(tp_config_state_name(TP_CONFIG_RELOAD_FAILED), "reload-failed");
        assert_string_equal(tp_config_state_name(TP_CONFIG_LAST_GOOD), "last-good");
        assert_string_equal(tp_config_state_name(TP_CONFIG_STATE_MAX_ + 1), "unknown");
        assert_string_equal(tp_msg_type_name(TP_REQ_ACCESS), "access");
        assert_string_equal(tp_msg_type_name(TP_REQ_OPEN), "open");
        assert_string_equal(tp_msg_type_name(TP_REQ_CLOSE), "close");
        assert_string_equal(tp_msg_type_name(TP_REQ_REAUTH), "reauth");
        assert_string_equal(tp_msg_type_name(TP_REQ_REFRESH), "refresh");
        assert_string_equal(tp_msg_type_name(TP_REQ_STATUS), "status");
        assert_string_equal(tp_msg_type_name(TP_REQ_LIST), "list");
        assert_string_equal(tp_msg_type_name(TP_REQ_REVOKE), "revoke");
        assert_string_equal(tp_msg_type_name(TP_REQ_RELOAD), "reload");
        assert_string_equal(tp_msg_type_name(TP_REQ_POLICY), "policy");
        assert_string_equal(tp_msg_type_name(TP_REQ_POLICY | TP_REPLY_FLAG), "policy");
        assert_string_equal(tp_msg_type_name(TP_REQ_EXPLAIN), "explain");
        assert_string_equal(tp_msg_type_name(TP_REQ_VERIFY), "verify");
        assert_string_equal(tp_msg_type_name(TP_REQ_ROTATE_KEY), "rotate-key");
        assert_string_equal(tp_msg_type_name(TP_REQ_REVOKE_KEY), "revoke-key");
        assert_int_equal(TP_REQ_REVOKE_KEY, 14);
        assert_string_equal(tp_msg_type_name(0), "unknown");
        assert_string_equal(tp_msg_type_name(TP_REQ_MAX_ + 1), "unknown");
        assert_string_equal(tp_msg_type_name(TP_REPLY_FLAG), "unknown");
}

/* The byte-for-byte examples of PROTOCOL.md section 11. */
static void test_protocol_examples(void **state)
{
        static const uint8_t status_req[] = { 'T', 'P', 1, 6, 0, 0, 0, 0 };
        static const uint8_t denied[] = { 'T', 'P', 1, 0x81, 0, 0, 0, 5, 1, 0, 2, 'n', 'o' };
        static const uint8_t revoked[] = { 'T', 'P', 1, 0x88, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 3 };
        struct tp_reply *rep = reply_new();
        struct tp_request req;
        uint8_t buf[64];

        (void) state;
        memset(&req, 0, sizeof(req));
        req.type = TP_REQ_STATUS;
        assert_int_equal(tp_request_encode(&req, buf, sizeof(buf)), sizeof(status_req));
        assert_memory_equal(buf, status_req, sizeof(status_req));

        rep->type = TP_REQ_ACCESS | TP_REPLY_FLAG;
        rep->status = TP_STATUS_DENIED;
        SET(rep->message, "no");
        SET(rep->u.access.client, "web");
        assert_int_equal(tp_reply_encode(rep, buf, sizeof(buf)), sizeof(denied));
        assert_memory_equal(buf, denied, sizeof(denied));

        memset(rep, 0, sizeof(*rep));
        rep->type = TP_REQ_REVOKE | TP_REPLY_FLAG;
        rep->u.revoke.revoked = 3;
        assert_int_equal(tp_reply_encode(rep, buf, sizeof(buf)), sizeof(revoked));
        assert_memory_equal(buf, revoked, sizeof(revoked));
        free(rep);
}

/* ---- io.c against fake daemons ----------------------------------------- */

struct fake_daemon {
        char dir[PATH_MAX];
        char path[PATH_MAX];
        pid_t pid;
};

static int read_full(int fd, void *buf, size_t len)
{
        uint8_t *p = buf;
        ssize_t n;

        while (len > 0) {
                n = read(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
        const uint8_t *p = buf;
        ssize_t n;

        while (len > 0) {
                n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Child side: read one request frame; its type, or -1 at end of stream. */
static int daemon_read_request(int fd, uint8_t *buf, struct tp_request *req)
{
        uint32_t len;
        uint8_t type;

        if (read_full(fd, buf, TP_FRAME_HEADER_SIZE) < 0 ||
            tp_frame_header_parse(buf, &type, &len) < 0 ||
            read_full(fd, PAYLOAD(buf), len) < 0 ||
            tp_request_decode(type, PAYLOAD(buf), len, req) < 0)
                return -1;
        return type;
}

enum daemon_mode {
        DAEMON_ANSWER,       /* make_reply() for every request; LIST at worst case */
        DAEMON_SILENT,       /* reads the request, never answers */
        DAEMON_OVERSIZED,    /* header announcing TP_PAYLOAD_MAX + 1 */
        DAEMON_CLOSE_MID,    /* header and part of the payload, then close */
        DAEMON_GARBAGE,      /* bytes that are no frame header */
        DAEMON_WRONG_TYPE,   /* a well-formed reply to another request */
        DAEMON_TRAILING,     /* a reply with a byte left over */
};

static void daemon_serve(int lfd, enum daemon_mode mode)
{
        static uint8_t buf[FRAME_MAX];
        static struct tp_reply rep;
        struct tp_request req;
        uint8_t hdr[TP_FRAME_HEADER_SIZE];
        int fd, type, n;

        fd = accept(lfd, NULL, NULL);
        if (fd < 0)
                _exit(1);
        while ((type = daemon_read_request(fd, buf, &req)) >= 0) {
                uint8_t rtype = (uint8_t) type | TP_REPLY_FLAG;

                switch (mode) {
                case DAEMON_ANSWER:
                case DAEMON_TRAILING:
                        make_reply(rtype, type == TP_REQ_LIST, &rep);
                        break;
                case DAEMON_WRONG_TYPE:
                        make_reply(type == TP_REQ_STATUS ? TP_REQ_POLICY | TP_REPLY_FLAG
                                                         : TP_REQ_STATUS | TP_REPLY_FLAG,
                                   false, &rep);
                        break;
                case DAEMON_SILENT:
                        pause();
                        _exit(0);
                case DAEMON_OVERSIZED:
                        set_header(hdr, 'T', 'P', 1, rtype, TP_PAYLOAD_MAX + 1);
                        (void) write_full(fd, hdr, sizeof(hdr));
                        pause();
                        _exit(0);
                case DAEMON_CLOSE_MID:
                        set_header(buf, 'T', 'P', 1, rtype, 100);
                        (void) write_full(fd, buf, TP_FRAME_HEADER_SIZE + 10);
                        _exit(0);
                case DAEMON_GARBAGE:
                        (void) write_full(fd, "GARBAGE!GARBAGE!", 16);
                        pause();
                        _exit(0);
                }
                n = tp_reply_encode(&rep, buf, FRAME_MAX);
                if (n < 0)
                        _exit(2);
                if (mode == DAEMON_TRAILING) {
                        buf[n] = 0;
                        set_header(buf, 'T', 'P', 1, buf[3], (uint32_t) n - TP_FRAME_HEADER_SIZE + 1);
                        n++;
                }
                if (write_full(fd, buf, (size_t) n) < 0)
                        _exit(3);
        }
        _exit(0);
}

static int bind_socket(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        assert_true(strlen(path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

/* Each io test gets a private directory and at most one fake daemon from
 * its fixture; the teardown runs even when an assertion failed, so no
 * child or socket file outlives its test. */
static int daemon_setup(void **state)
{
        const char *tmp = getenv("TMPDIR");
        struct fake_daemon *d;

        if (!tmp || !*tmp)
                tmp = "/tmp";
        d = calloc(1, sizeof(*d));
        if (!d)
                return -1;
        d->pid = -1;
        if (snprintf(d->dir, sizeof(d->dir), "%s/tp-wire-XXXXXX", tmp) >= (int) sizeof(d->dir) ||
            !mkdtemp(d->dir) ||
            snprintf(d->path, sizeof(d->path), "%s/daemon.sock", d->dir) >= (int) sizeof(d->path)) {
                free(d);
                return -1;
        }
        *state = d;
        return 0;
}

static void daemon_stop(struct fake_daemon *d)
{
        if (d->pid > 0) {
                kill(d->pid, SIGKILL);
                waitpid(d->pid, NULL, 0);
                d->pid = -1;
        }
        unlink(d->path);
}

static int daemon_teardown(void **state)
{
        struct fake_daemon *d = *state;

        daemon_stop(d);
        rmdir(d->dir);
        free(d);
        return 0;
}

/* Runs in a forked child: never returns, dies with the test process. */
static pid_t fork_child(void)
{
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0)
                prctl(PR_SET_PDEATHSIG, SIGKILL);
        return pid;
}

/* The socket listens before fork(), so the client never races the child. */
static void daemon_start(struct fake_daemon *d, enum daemon_mode mode)
{
        int lfd;

        daemon_stop(d);
        lfd = bind_socket(d->path);
        assert_int_equal(listen(lfd, 4), 0);
        d->pid = fork_child();
        if (d->pid == 0)
                daemon_serve(lfd, mode);
        close(lfd);
}

static int call_daemon(struct fake_daemon *d, enum daemon_mode mode, uint8_t type, int timeout_ms,
                       struct tp_reply *rep)
{
        struct tp_request req;
        int r;

        daemon_start(d, mode);
        make_request(type, false, &req);
        r = tp_io_call(d->path, timeout_ms, &req, rep);
        daemon_stop(d);
        return r;
}

static void test_io_call_answers(void **state)
{
        struct tp_reply *rep = reply_new(), *want = reply_new();

        assert_int_equal(call_daemon(*state, DAEMON_ANSWER, TP_REQ_OPEN, 2000, rep), 0);
        make_reply(TP_REQ_OPEN | TP_REPLY_FLAG, false, want);
        assert_memory_equal(rep, want, sizeof(*want));
        assert_string_equal(rep->u.tokens.refresh_token, "refresh-secret");
        free(want);
        free(rep);
}

/* Several requests in turn on one connection; the worst-case LIST reply
 * arrives in more than one read. */
static void test_io_transact_sequential(void **state)
{
        static const uint8_t types[] = { TP_REQ_STATUS, TP_REQ_LIST, TP_REQ_REFRESH, TP_REQ_LIST };
        struct tp_reply *rep = reply_new(), *want = reply_new();
        struct fake_daemon *d = *state;
        struct tp_request req;
        int64_t deadline;
        size_t i;
        int fd = -1;

        daemon_start(d, DAEMON_ANSWER);
        assert_int_equal(tp_io_connect(d->path, 2000, &fd), 0);
        deadline = tp_monotonic_ms() + 2000;
        for (i = 0; i < sizeof(types); i++) {
                make_request(types[i], false, &req);
                assert_int_equal(tp_io_transact(fd, deadline, &req, rep), 0);
                make_reply(types[i] | TP_REPLY_FLAG, types[i] == TP_REQ_LIST, want);
                assert_memory_equal(rep, want, sizeof(*want));
        }
        assert_int_equal(rep->u.list.count, TP_LIST_PAGE_MAX);
        close(fd);
        free(want);
        free(rep);
}

static void test_io_silent_daemon_times_out(void **state)
{
        struct tp_reply *rep = reply_new();

        assert_int_equal(call_daemon(*state, DAEMON_SILENT, TP_REQ_ACCESS, 200, rep), -ETIMEDOUT);
        free(rep);
}

static void test_io_oversized_reply(void **state)
{
        struct tp_reply *rep = reply_new();

        /* The daemon then stays silent: reading on would time out instead. */
        assert_int_equal(call_daemon(*state, DAEMON_OVERSIZED, TP_REQ_LIST, 2000, rep), -EMSGSIZE);
        free(rep);
}

static void test_io_close_mid_reply(void **state)
{
        struct tp_reply *rep = reply_new();

        assert_int_equal(call_daemon(*state, DAEMON_CLOSE_MID, TP_REQ_OPEN, 2000, rep), -ECONNRESET);
        free(rep);
}

static void test_io_garbage_reply(void **state)
{
        struct tp_reply *rep = reply_new();

        assert_int_equal(call_daemon(*state, DAEMON_GARBAGE, TP_REQ_STATUS, 2000, rep), -EPROTO);
        assert_int_equal(call_daemon(*state, DAEMON_WRONG_TYPE, TP_REQ_OPEN, 2000, rep), -EPROTO);
        assert_int_equal(call_daemon(*state, DAEMON_TRAILING, TP_REQ_STATUS, 2000, rep), -EPROTO);
        free(rep);
}

/* A daemon that hung up before the request: EPIPE, and no SIGPIPE. */
static void test_io_peer_gone_before_send(void **state)
{
        struct tp_reply *rep = reply_new();
        struct fake_daemon *d = *state;
        struct tp_request req;
        int fd = -1, lfd, cfd;

        lfd = bind_socket(d->path);
        assert_int_equal(listen(lfd, 1), 0);
        assert_int_equal(tp_io_connect(d->path, 1000, &fd), 0);
        cfd = accept(lfd, NULL, NULL);
        assert_true(cfd >= 0);
        close(cfd);
        make_request(TP_REQ_CLOSE, false, &req);
        assert_int_equal(tp_io_transact(fd, tp_monotonic_ms() + 1000, &req, rep), -EPIPE);
        close(fd);
        close(lfd);
        free(rep);
}

static void test_io_connect_errors(void **state)
{
        struct tp_reply *rep = reply_new();
        struct fake_daemon *d = *state;
        struct tp_request req;
        char longpath[200];
        int fd = -1, bound;

        make_request(TP_REQ_STATUS, false, &req);
        assert_int_equal(tp_io_call(d->path, 500, &req, rep), -ENOENT);
        assert_int_equal(tp_io_connect(d->path, 500, &fd), -ENOENT);
        assert_int_equal(fd, -1);

        /* A socket file nobody listens on. */
        bound = bind_socket(d->path);
        assert_int_equal(tp_io_connect(d->path, 500, &fd), -ECONNREFUSED);
        close(bound);

        memset(longpath, 'a', sizeof(longpath) - 1);
        longpath[sizeof(longpath) - 1] = '\0';
        assert_int_equal(tp_io_connect(longpath, 500, &fd), -ENAMETOOLONG);
        assert_int_equal(tp_io_connect("", 500, &fd), -EINVAL);
        assert_int_equal(tp_io_call(d->path, -1, &req, rep), -EINVAL);
        assert_int_equal(fd, -1);
        free(rep);
}

/* A full listen backlog refuses a non-blocking connect with EAGAIN; the
 * client retries until its deadline, and gets in once room is made. */
static void test_io_connect_backlog_full(void **state)
{
        struct fake_daemon *d = *state;
        int lfd, filler = -1, fd = -1;

        lfd = bind_socket(d->path);
        assert_int_equal(listen(lfd, 0), 0);
        assert_int_equal(tp_io_connect(d->path, 500, &filler), 0);
        assert_int_equal(tp_io_connect(d->path, 100, &fd), -ETIMEDOUT);
        assert_int_equal(fd, -1);

        d->pid = fork_child();
        if (d->pid == 0) {
                usleep(50 * 1000);
                if (accept(lfd, NULL, NULL) < 0 || accept(lfd, NULL, NULL) < 0)
                        _exit(1);
                pause();
                _exit(0);
        }
        assert_int_equal(tp_io_connect(d->path, 2000, &fd), 0);
        assert_true(fd >= 0);
        close(fd);
        close(filler);
        close(lfd);
}

static void test_io_peer_cred(void **state)
{
        int sv[2], bad;
        uid_t uid = (uid_t) -1;
        pid_t pid = -1;

        (void) state;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(tp_io_peer_cred(sv[0], &uid, &pid), 0);
        assert_int_equal(uid, getuid());
        assert_int_equal(pid, getpid());
        close(sv[0]);
        close(sv[1]);

        bad = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(bad >= 0);
        uid = 12345;
        assert_int_equal(tp_io_peer_cred(bad, &uid, &pid), -ENOTSOCK);
        assert_int_equal(uid, 12345);
        close(bad);
}

static void test_io_transact_rejects_bad_request(void **state)
{
        struct tp_reply *rep = reply_new();
        struct tp_request req;
        uint8_t byte;
        int sv[2];

        (void) state;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        memset(&req, 0, sizeof(req));
        req.type = 0;
        assert_int_equal(tp_io_transact(sv[0], tp_monotonic_ms() + 500, &req, rep), -EINVAL);
        /* Nothing was sent. */
        assert_int_equal(recv(sv[1], &byte, 1, MSG_DONTWAIT), -1);
        assert_int_equal(errno, EAGAIN);
        /* A deadline already past fails at once. */
        make_request(TP_REQ_STATUS, false, &req);
        assert_int_equal(tp_io_transact(sv[0], tp_monotonic_ms() - 1, &req, rep), -ETIMEDOUT);
        close(sv[0]);
        close(sv[1]);
        free(rep);
}

#define DAEMON_TEST(t) cmocka_unit_test_setup_teardown(t, daemon_setup, daemon_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_wire_byte_order),
                cmocka_unit_test(test_wire_i64_extremes),
                cmocka_unit_test(test_wire_writer_limits),
                cmocka_unit_test(test_wire_reader_limits),
                cmocka_unit_test(test_header_parse),
                cmocka_unit_test(test_request_roundtrip_all_types),
                cmocka_unit_test(test_reply_roundtrip_all_types),
                cmocka_unit_test(test_reply_error_has_no_body),
                cmocka_unit_test(test_truncated_and_trailing),
                cmocka_unit_test(test_embedded_nul),
                cmocka_unit_test(test_decode_string_limits),
                cmocka_unit_test(test_decode_enums_and_counts),
                cmocka_unit_test(test_status_reply_config_fields),
                cmocka_unit_test(test_revoke_key_fields),
                cmocka_unit_test(test_list_flags),
                cmocka_unit_test(test_list_host_filter),
                cmocka_unit_test(test_signin_flags),
                cmocka_unit_test(test_revoke_flags),
                cmocka_unit_test(test_list_cursor),
                cmocka_unit_test(test_unknown_types),
                cmocka_unit_test(test_encode_string_limits),
                cmocka_unit_test(test_encode_enums_and_counts),
                cmocka_unit_test(test_encode_out_size),
                cmocka_unit_test(test_worst_case_list_fits),
                cmocka_unit_test(test_worst_case_policy_fits),
                cmocka_unit_test(test_worst_case_tokens_fit),
                cmocka_unit_test(test_worst_case_status_size),
                cmocka_unit_test(test_worst_case_requests_fit),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_names_both_ways),
                cmocka_unit_test(test_protocol_examples),
                DAEMON_TEST(test_io_call_answers),
                DAEMON_TEST(test_io_transact_sequential),
                DAEMON_TEST(test_io_silent_daemon_times_out),
                DAEMON_TEST(test_io_oversized_reply),
                DAEMON_TEST(test_io_close_mid_reply),
                DAEMON_TEST(test_io_garbage_reply),
                DAEMON_TEST(test_io_peer_gone_before_send),
                DAEMON_TEST(test_io_connect_errors),
                DAEMON_TEST(test_io_connect_backlog_full),
                cmocka_unit_test(test_io_peer_cred),
                cmocka_unit_test(test_io_transact_rejects_bad_request),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
