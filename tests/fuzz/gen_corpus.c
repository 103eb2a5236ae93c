/* SPDX-License-Identifier: BSD-3-Clause */
/* gen_corpus.c: writes the seed inputs of the fuzz harnesses that need the
 * project's own encoders: real frames (fuzz_frame) and real tokens and
 * JOSE texts (fuzz_jwt). Run by `make fuzz-corpus`; its output is kept in
 * tests/fuzz/corpus/ so a fuzz run needs no generation step.
 *
 *   gen_corpus DIR     writes DIR/frame/ and DIR/jwt/
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jose.h"
#include "proto.h"
#include "jwt_sign.h"
#include "signer.h"

/* Same instant as fuzz_jwt.c checks tokens at. */
#define FUZZ_NOW INT64_C(1700000000)

static const char *out_dir;

static void write_seed(const char *harness, const char *name, const void *data, size_t n)
{
        char path[PATH_MAX];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", out_dir, harness);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                perror(path);
                exit(1);
        }
        snprintf(path, sizeof(path), "%s/%s/%s", out_dir, harness, name);
        f = fopen(path, "wb");
        if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
                perror(path);
                exit(1);
        }
}

static void frame_seed(const char *name, int n, const uint8_t *frame)
{
        if (n < 0) {
                fprintf(stderr, "gen_corpus: encoding %s: %s\n", name, strerror(-n));
                exit(1);
        }
        write_seed("frame", name, frame, (size_t) n);
}

static void session_info_fill(struct tp_session_info *s, const char *id)
{
        snprintf(s->id, sizeof(s->id), "%s", id);
        snprintf(s->user, sizeof(s->user), "alice");
        s->uid = 1000;
        snprintf(s->client, sizeof(s->client), "ssh");
        snprintf(s->service, sizeof(s->service), "sshd");
        snprintf(s->rhost, sizeof(s->rhost), "192.0.2.7");
        snprintf(s->tty, sizeof(s->tty), "ssh");
        s->leader_pid = 4242;
        s->created = FUZZ_NOW - 3600;
        s->refresh_expires = FUZZ_NOW + 86400;
        s->last_extended = FUZZ_NOW - 3600;
        s->last_used = FUZZ_NOW - 60;
        s->state = TP_STATE_ACTIVE;
}

static void frames(void)
{
        static uint8_t frame[TP_FRAME_HEADER_SIZE + TP_PAYLOAD_MAX];
        static struct tp_request req;
        static struct tp_reply rep;
        const size_t fs = sizeof(frame);

        memset(&req, 0, sizeof(req));
        req.type = TP_REQ_OPEN;
        snprintf(req.u.signin.user, sizeof(req.u.signin.user), "alice");
        snprintf(req.u.signin.service, sizeof(req.u.signin.service), "sshd");
        snprintf(req.u.signin.rhost, sizeof(req.u.signin.rhost), "192.0.2.7");
        snprintf(req.u.signin.tty, sizeof(req.u.signin.tty), "ssh");
        req.u.signin.leader_pid = 4242;
        snprintf(req.u.signin.logind_session, sizeof(req.u.signin.logind_session), "c7");
        frame_seed("req-open", tp_request_encode(&req, frame, fs), frame);
        req.type = TP_REQ_ACCESS;
        frame_seed("req-access", tp_request_encode(&req, frame, fs), frame);

        memset(&req, 0, sizeof(req));
        req.type = TP_REQ_REFRESH;
        snprintf(req.u.session.session_id, sizeof(req.u.session.session_id),
                 "0123456789abcdef0123456789abcdef");
        snprintf(req.u.session.refresh_token, sizeof(req.u.session.refresh_token),
                 "q2Vn5N0l2cXw8yQ3jO8p2b7mVw1kX9eZsT4uRy6aHcI");
        snprintf(req.u.session.user, sizeof(req.u.session.user), "alice");
        frame_seed("req-refresh", tp_request_encode(&req, frame, fs), frame);

        memset(&req, 0, sizeof(req));
        req.type = TP_REQ_LIST;
        snprintf(req.u.list.user, sizeof(req.u.list.user), "alice");
        req.u.list.flags = TP_LIST_ALL;
        frame_seed("req-list", tp_request_encode(&req, frame, fs), frame);
        req.u.list.flags = TP_LIST_ALL | TP_LIST_AFTER;
        req.u.list.after = (struct tp_list_cursor){ TP_STATE_REVOKED, FUZZ_NOW - 3600, 4242 };
        frame_seed("req-list-after", tp_request_encode(&req, frame, fs), frame);

        memset(&req, 0, sizeof(req));
        req.type = TP_REQ_REVOKE;
        snprintf(req.u.revoke.user, sizeof(req.u.revoke.user), "alice");
        snprintf(req.u.revoke.client, sizeof(req.u.revoke.client), "ssh");
        frame_seed("req-revoke", tp_request_encode(&req, frame, fs), frame);

        memset(&req, 0, sizeof(req));
        req.type = TP_REQ_STATUS;
        frame_seed("req-status", tp_request_encode(&req, frame, fs), frame);

        memset(&rep, 0, sizeof(rep));
        rep.type = TP_REQ_OPEN | TP_REPLY_FLAG;
        rep.status = TP_STATUS_OK;
        snprintf(rep.u.tokens.session_id, sizeof(rep.u.tokens.session_id),
                 "0123456789abcdef0123456789abcdef");
        snprintf(rep.u.tokens.client, sizeof(rep.u.tokens.client), "ssh");
        snprintf(rep.u.tokens.access_token, sizeof(rep.u.tokens.access_token), "aaa.bbb.ccc");
        snprintf(rep.u.tokens.refresh_token, sizeof(rep.u.tokens.refresh_token), "rrrr");
        rep.u.tokens.refresh_expires = FUZZ_NOW + 86400;
        rep.u.tokens.access_expires = FUZZ_NOW + 3600;
        rep.u.tokens.n_evicted = 1;
        session_info_fill(&rep.u.tokens.evicted[0], "fedcba9876543210fedcba9876543210");
        rep.u.tokens.evicted[0].state = TP_STATE_REVOKED;
        frame_seed("rep-open", tp_reply_encode(&rep, frame, fs), frame);

        memset(&rep, 0, sizeof(rep));
        rep.type = TP_REQ_LIST | TP_REPLY_FLAG;
        rep.u.list.more = 1;
        rep.u.list.next = (struct tp_list_cursor){ TP_STATE_ACTIVE, FUZZ_NOW - 3600, 77 };
        rep.u.list.count = 2;
        session_info_fill(&rep.u.list.sessions[0], "0123456789abcdef0123456789abcdef");
        session_info_fill(&rep.u.list.sessions[1], "fedcba9876543210fedcba9876543210");
        frame_seed("rep-list", tp_reply_encode(&rep, frame, fs), frame);

        memset(&rep, 0, sizeof(rep));
        rep.type = TP_REQ_POLICY | TP_REPLY_FLAG;
        rep.u.policy.custom_token_policy = 1;
        snprintf(rep.u.policy.unknown_client, sizeof(rep.u.policy.unknown_client), "deny");
        snprintf(rep.u.policy.config_path, sizeof(rep.u.policy.config_path),
                 "/etc/tokenpolicy.conf");
        rep.u.policy.n_clients = 1;
        snprintf(rep.u.policy.clients[0].name, sizeof(rep.u.policy.clients[0].name), "ssh");
        rep.u.policy.clients[0].access = 1;
        rep.u.policy.clients[0].configured = (struct tp_token_values) { 1, 336, 720, 20 };
        rep.u.policy.clients[0].effective = (struct tp_token_values) { 1, 336, 720, 20 };
        rep.u.policy.clients[0].evict = TP_EVICT_LEAST_RECENTLY_USED;
        snprintf(rep.u.policy.clients[0].services, sizeof(rep.u.policy.clients[0].services),
                 "sshd,login");
        frame_seed("rep-policy", tp_reply_encode(&rep, frame, fs), frame);

        memset(&rep, 0, sizeof(rep));
        rep.type = TP_REQ_REFRESH | TP_REPLY_FLAG;
        rep.status = TP_STATUS_EXPIRED;
        snprintf(rep.message, sizeof(rep.message), "refresh token expired; sign in again");
        frame_seed("rep-expired", tp_reply_encode(&rep, frame, fs), frame);

        memset(&rep, 0, sizeof(rep));
        rep.type = TP_REQ_STATUS | TP_REPLY_FLAG;
        snprintf(rep.u.status.version, sizeof(rep.u.status.version), "0.1.0");
        rep.u.status.pid = 77;
        rep.u.status.started = FUZZ_NOW;
        rep.u.status.config_loaded = FUZZ_NOW;
        snprintf(rep.u.status.config_path, sizeof(rep.u.status.config_path),
                 "/etc/tokenpolicy.conf");
        rep.u.status.active_sessions = 3;
        rep.u.status.n_clients = 2;
        frame_seed("rep-status", tp_reply_encode(&rep, frame, fs), frame);
}

/* fuzz_jwt seeds carry a mode byte first (see fuzz_jwt.c). */
static void jwt_seed(const char *name, uint8_t mode, const void *data, size_t n)
{
        uint8_t buf[1 + TP_TOKEN_MAX];

        if (n > TP_TOKEN_MAX)
                exit(1);
        buf[0] = mode;
        memcpy(buf + 1, data, n);
        write_seed("jwt", name, buf, n + 1);
}

static void tokens(void)
{
        static const char json[] = "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"n\":-42,\"s\":\"a\\u00e9\\n\"}";
        static const char *const key_files[] = {
                TP_TOKEN_KEY_FILE, TP_TOKEN_PUB_FILE, TP_TOKEN_JWKS_FILE,
        };
        static const char b64[] = "eyJhbGciOiJFZERTQSJ9";
        /* uid 1000, lifetime: issued 16 s before, 1 h after; then
         * sub, client, sid, jti, iss separated by NULs. */
        static const char claims[] = "\x00\x00\x03\xe8\x00\x0e\x10\x10"
                "alice\0ssh\0" "0123456789abcdef0123456789abcdef\0"
                "00112233445566778899aabbccddeeff\0tokenpolicyd";
        char dir[] = "/tmp/gen-corpus-XXXXXX", path[PATH_MAX], token[TP_TOKEN_MAX];
        struct tp_signer *s;
        struct tp_jwt_claims c = { .uid = 1000, .iat = FUZZ_NOW, .exp = FUZZ_NOW + 3600 };
        int r;

        if (!mkdtemp(dir) || (r = tp_signer_open(dir, &s)) < 0) {
                fprintf(stderr, "gen_corpus: no signing key in %s\n", dir);
                exit(1);
        }
        snprintf(c.iss, sizeof(c.iss), "tokenpolicyd");
        snprintf(c.sub, sizeof(c.sub), "alice");
        snprintf(c.sid, sizeof(c.sid), "0123456789abcdef0123456789abcdef");
        snprintf(c.client, sizeof(c.client), "ssh");
        if ((r = tp_jwt_sign(s, &c, token, sizeof(token))) < 0) {
                fprintf(stderr, "gen_corpus: signing: %s\n", strerror(-r));
                exit(1);
        }
        tp_signer_free(s);
        jwt_seed("token", 0, token, strlen(token));
        jwt_seed("json", 1, json, strlen(json));
        jwt_seed("b64url", 2, b64, strlen(b64));
        jwt_seed("claims", 3, claims, sizeof(claims) - 1);

        for (size_t i = 0; i < sizeof(key_files) / sizeof(key_files[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, key_files[i]);
                unlink(path);
        }
        snprintf(path, sizeof(path), "%s/%s", dir, TP_TOKEN_KEYS_DIR);
        rmdir(path);
        rmdir(dir);
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: %s DIR\n", argv[0]);
                return 2;
        }
        out_dir = argv[1];
        frames();
        tokens();
        return 0;
}
