/* SPDX-License-Identifier: BSD-3-Clause */
/* proto.h: the tokenpolicy wire protocol, shared by the PAM module, the
 * daemon and the CLI.
 *
 * This header is the contract; PROTOCOL.md describes the same bytes for
 * people. Every message travels as one frame: an 8-byte header followed by
 * a payload of at most TP_PAYLOAD_MAX bytes. The length is checked against
 * the maximum before anything is allocated. Payload fields are encoded in
 * a fixed order per message type through the bounded buffer API in wire.h;
 * a decoder that finds bytes left over, a string with an embedded NUL or a
 * string longer than its field rejects the whole frame.
 *
 * Nothing here allocates per field: strings decode into fixed arrays sized
 * by the TP_*_MAX constants below, so a hostile peer cannot make a decoder
 * allocate more than one frame.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TP_PROTO_MAGIC0 'T'
#define TP_PROTO_MAGIC1 'P'
#define TP_PROTO_VERSION 1
#define TP_FRAME_HEADER_SIZE 8
#define TP_PAYLOAD_MAX 65536u

/* Field sizes, including the terminating NUL of the decoded C string. */
#define TP_USER_MAX 257
#define TP_SERVICE_MAX 257
#define TP_CLIENT_MAX 65
#define TP_RHOST_MAX 257
#define TP_TTY_MAX 257
#define TP_SESSION_ID_MAX 33       /* 32 hex digits */
#define TP_LOGIND_ID_MAX 65
#define TP_TOKEN_MAX 4096          /* access (JWT) or refresh token */
#define TP_MESSAGE_MAX 2048        /* human-readable text */
#define TP_VERSION_MAX 33
#define TP_PATH_MAX 1024
#define TP_EVICTED_MAX 8           /* evictions reported per sign-in */
#define TP_LIST_PAGE_MAX 32        /* sessions per LIST reply (fits a frame) */
#define TP_POLICY_CLIENTS_MAX 32   /* client types per POLICY reply */
#define TP_SERVICES_TEXT_MAX 1024  /* a client's services, comma-separated */
#define TP_AUDIT_SINK_MAX 1100     /* STATUS: where audit events go, in words */
#define TP_KID_MAX 64              /* a signing key id (43 base64url characters) */
#define TP_HOST_ID_MAX 65          /* a host of a fleet (host_id) */
#define TP_HOSTNAME_MAX 256        /* a host's name (gethostname) */
#define TP_DIGEST_HEX_MAX 65       /* a SHA-256 digest in hex */
#define TP_HOSTS_PAGE_MAX 64       /* hosts per HOSTS reply */

enum tp_msg_type {
        TP_REQ_ACCESS = 1,   /* may this user sign in with this client type? */
        TP_REQ_OPEN = 2,     /* sign-in: create a session */
        TP_REQ_CLOSE = 3,    /* sign-out */
        TP_REQ_REAUTH = 4,   /* re-authentication (screen unlock) */
        TP_REQ_REFRESH = 5,  /* silent refresh: new access token */
        TP_REQ_STATUS = 6,
        /* 7: retired (LIST paged by an offset); never reused. */
        TP_REQ_REVOKE = 8,
        TP_REQ_RELOAD = 9,
        TP_REQ_POLICY = 10,
        TP_REQ_EXPLAIN = 11,    /* what would the next sign-in get, and why */
        TP_REQ_VERIFY = 12,     /* is this access token good and its session active? */
        TP_REQ_ROTATE_KEY = 13, /* new signing key; the old one stays published */
        TP_REQ_REVOKE_KEY = 14, /* stop trusting and publishing a signing key now */
        TP_REQ_LIST = 15,       /* sessions, a page at a time after a cursor */
        /* 16: not assigned. */
        TP_REQ_HOSTS = 17,      /* the hosts of a fleet, a page at a time */
        TP_REQ_OUTCOME = 30,    /* how a sign-in's PAM handle ended: evictions stand or are undone */
        TP_REQ_MAX_ = 30,       /* highest type; not every lower number is one */
        TP_REPLY_FLAG = 0x80, /* reply type = request type | TP_REPLY_FLAG */
};

/* First field of every reply. */
enum tp_status {
        TP_STATUS_OK = 0,
        TP_STATUS_DENIED = 1,      /* policy says no; message says why */
        TP_STATUS_EXPIRED = 2,     /* refresh token expired: sign in again */
        TP_STATUS_NOT_FOUND = 3,   /* no such (active) session */
        TP_STATUS_FORBIDDEN = 4,   /* peer lacks the right for this request */
        TP_STATUS_BAD_REQUEST = 5, /* well-formed frame, unacceptable content */
        TP_STATUS_ERROR = 6,       /* daemon-side failure (store, config) */
        TP_STATUS_UNMAPPED = 7,    /* service maps to no client type, unknown_client = "deny" */
        TP_STATUS_MAX_ = 7,
};

enum tp_session_state {
        TP_STATE_ACTIVE = 0,
        TP_STATE_REVOKED = 1,
        TP_STATE_EXPIRED = 2,
        TP_STATE_CLOSED = 3,
        TP_STATE_MAX_ = 3,
};

enum tp_evict_mode {
        TP_EVICT_OLDEST = 0,
        TP_EVICT_LEAST_RECENTLY_USED = 1,
        TP_EVICT_DENY_NEW = 2,
        TP_EVICT_MAX_ = 2,
};

enum tp_action {
        TP_ACTION_TERMINATE = 0,
        TP_ACTION_LOCK = 1,
        TP_ACTION_NONE = 2,
        TP_ACTION_MAX_ = 2,
};

/* STATUS: where the running configuration came from. */
enum tp_config_state {
        TP_CONFIG_LOADED = 0,        /* the configuration file, as last loaded */
        TP_CONFIG_RELOAD_FAILED = 1, /* its last reload failed; the policy loaded before runs */
        TP_CONFIG_LAST_GOOD = 2,     /* unusable at start: the last valid one, from the state directory */
        TP_CONFIG_STATE_MAX_ = 2,
};

/* STATUS: which store keeps the sessions. */
enum tp_store_kind {
        TP_STORE_KIND_SQLITE = 0,     /* one host, a file in the state directory */
        TP_STORE_KIND_POSTGRESQL = 1, /* a fleet of hosts sharing one database */
        TP_STORE_KIND_MAX_ = 1,
};

/* LIST request flags */
#define TP_LIST_ALL 0x01u   /* include revoked, expired and closed sessions */
#define TP_LIST_AFTER 0x02u /* continue after `after`; without it `after` is all zero */

/* ---- requests ---------------------------------------------------------- */

/* signin flags: how the PAM module will act on the answer, so that the
 * audit trail records what really happens. */
#define TP_SIGNIN_IGNORE_UNMAPPED 0x01u /* unmapped=ignore: an unmapped service is let through */
#define TP_SIGNIN_EXEMPT 0x02u          /* the user gets in whatever the answer (root) */
#define TP_SIGNIN_OUTCOME 0x04u         /* OPEN: an OUTCOME follows when the PAM handle ends */
#define TP_SIGNIN_FLAGS_ALL 0x07u

/* ACCESS and OPEN. `client` may be empty: the daemon then maps the service
 * (docs/product.md §2). leader_pid and logind_session are used by OPEN
 * only. */
struct tp_req_signin {
        char user[TP_USER_MAX];
        char service[TP_SERVICE_MAX];
        char client[TP_CLIENT_MAX];
        char rhost[TP_RHOST_MAX];
        char tty[TP_TTY_MAX];
        uint32_t leader_pid;
        char logind_session[TP_LOGIND_ID_MAX];
        uint32_t flags; /* TP_SIGNIN_*; any other bit is a protocol error */
};

/* CLOSE, REAUTH, REFRESH. refresh_token may be empty; when given it must
 * match the session's. `user` may be empty; when given it must match. */
struct tp_req_session {
        char session_id[TP_SESSION_ID_MAX];
        char refresh_token[TP_TOKEN_MAX];
        char user[TP_USER_MAX];
};

/* A position in a LIST: sessions come in the order (state, created, seq),
 * seq being the daemon's own tie-breaker. Clients send back what a reply
 * gave them and never build one. */
struct tp_list_cursor {
        uint8_t state;  /* enum tp_session_state */
        int64_t created;
        uint64_t seq;
};

/* LIST: filters may be empty (no filter). Paged by a cursor: the first
 * request has no TP_LIST_AFTER, each next one the `next` of the reply. */
struct tp_req_list {
        char user[TP_USER_MAX];
        char client[TP_CLIENT_MAX];
        uint32_t flags;
        struct tp_list_cursor after;
        char host[TP_HOST_ID_MAX]; /* optional, trailing: only the sessions this host runs */
};

/* REVOKE flags */
#define TP_REVOKE_OTHERS 0x01u /* every active session of session_id's user but session_id */
#define TP_REVOKE_FLAGS_ALL 0x01u

/* REVOKE: session_id; or user (and optionally client); or (root) client
 * alone, every user's; or, with TP_REVOKE_OTHERS, session_id naming the
 * caller's current session: all the others of its user. */
struct tp_req_revoke {
        char session_id[TP_SESSION_ID_MAX];
        char user[TP_USER_MAX];
        char client[TP_CLIENT_MAX];
        uint32_t flags; /* TP_REVOKE_*; any other bit is a protocol error */
};

/* OUTCOME: the PAM handle of the sign-in that opened session_id ended,
 * with success (completed = 1) or failure. */
struct tp_req_outcome {
        char session_id[TP_SESSION_ID_MAX];
        uint8_t completed;
};

/* VERIFY */
struct tp_req_verify {
        char token[TP_TOKEN_MAX];
};

/* REVOKE_KEY */
struct tp_req_key {
        char kid[TP_KID_MAX];
};

/* HOSTS: the hosts whose id sorts after `after` ("" from the first). */
struct tp_req_hosts {
        char after[TP_HOST_ID_MAX];
};

struct tp_request {
        uint8_t type; /* enum tp_msg_type, request side */
        union {
                struct tp_req_signin signin;   /* ACCESS, OPEN, EXPLAIN */
                struct tp_req_verify verify;
                struct tp_req_session session; /* CLOSE, REAUTH, REFRESH */
                struct tp_req_list list;
                struct tp_req_revoke revoke;
                struct tp_req_key key;         /* REVOKE_KEY */
                struct tp_req_hosts hosts;
                struct tp_req_outcome outcome;
                /* STATUS, RELOAD, POLICY, ROTATE_KEY carry no body */
        } u;
};

/* ---- replies ----------------------------------------------------------- */

struct tp_session_info {
        char id[TP_SESSION_ID_MAX];
        char user[TP_USER_MAX];
        uint32_t uid;
        char client[TP_CLIENT_MAX];
        char service[TP_SERVICE_MAX];
        char rhost[TP_RHOST_MAX];
        char tty[TP_TTY_MAX];
        uint32_t leader_pid;
        int64_t created;
        int64_t refresh_expires;
        int64_t last_extended;
        int64_t last_used;
        int64_t ended;       /* 0 while active */
        uint8_t state;       /* enum tp_session_state */
};

/* ACCESS: the client type the transaction was tagged with. */
struct tp_rep_access {
        char client[TP_CLIENT_MAX];
};

/* OPEN, REAUTH, REFRESH. refresh_token is empty when it was not rotated. */
struct tp_rep_tokens {
        char session_id[TP_SESSION_ID_MAX];
        char client[TP_CLIENT_MAX];
        char access_token[TP_TOKEN_MAX];
        char refresh_token[TP_TOKEN_MAX];
        int64_t refresh_expires;
        int64_t access_expires;
        uint8_t auto_extend; /* 1: the refresh expiry slides with use */
        uint8_t n_evicted; /* OPEN only: sessions signed out to make room */
        struct tp_session_info evicted[TP_EVICTED_MAX];
};

struct tp_rep_status {
        char version[TP_VERSION_MAX];
        uint32_t pid;
        int64_t started;
        int64_t config_loaded;
        char config_path[TP_PATH_MAX];
        uint64_t active_sessions;
        uint32_t n_clients;
        /* -- the configuration in force (tokenpolicyd(8), CONFIGURATION) -- */
        uint8_t config_state;                /* enum tp_config_state */
        char config_source[TP_PATH_MAX];     /* the file the running policy was read from */
        char config_errors[TP_MESSAGE_MAX];  /* why the file is not in force; "" when LOADED */
        /* -- the audit trail (tokenpolicyd(8), AUDIT) -- */
        char audit_sink[TP_AUDIT_SINK_MAX]; /* where audit events go now */
        uint32_t audit_queued;     /* entries waiting for a journal or syslog that is not reading */
        uint64_t audit_lost;       /* events no sink took, since start */
        uint64_t audit_suppressed; /* events of users' requests not written (per-uid limit) */
        /* -- the session store (tokenpolicyd(8), tokenpolicy-fleet(7)) -- */
        uint8_t store_backend;          /* enum tp_store_kind */
        uint8_t store_connected;        /* 1: the store answers now */
        char host_id[TP_HOST_ID_MAX];   /* this host's name in the fleet; "" for SQLite */
        uint32_t hosts;                 /* hosts known to the fleet's store; 1 for SQLite */
        int64_t store_offline_since;    /* fleet: the database unreachable since; 0 when it answers */
        char store_error[TP_MESSAGE_MAX]; /* what the last attempt to reach it said */
        uint64_t unsynced;              /* sessions signed in meanwhile, not yet in the fleet's store */
};

/* A page may hold fewer than TP_LIST_PAGE_MAX sessions, even none, and
 * still have `more`: the daemon bounds the sessions it looks at for one
 * request. */
struct tp_rep_list {
        uint8_t more;                /* 1: ask again after `next` */
        struct tp_list_cursor next;  /* the last session looked at; zero unless more */
        uint32_t count;              /* sessions in this page */
        struct tp_session_info sessions[TP_LIST_PAGE_MAX];
        /* Trailing: the host that runs each session, in the same order. */
        char hosts[TP_LIST_PAGE_MAX][TP_HOST_ID_MAX];
};

struct tp_rep_revoke {
        uint32_t revoked;
};

/* One host of a fleet. */
struct tp_host_info {
        char id[TP_HOST_ID_MAX];
        char name[TP_HOSTNAME_MAX];
        int64_t last_seen;                       /* its last heartbeat (Unix seconds) */
        uint64_t active_sessions;
        char policy_digest[TP_DIGEST_HEX_MAX];   /* SHA-256 of its effective policy, hex */
        uint8_t policy_differs;                  /* 1: not the digest most hosts run */
};

struct tp_rep_hosts {
        uint8_t more;   /* 1: ask again after the last id of this page */
        uint32_t count;
        struct tp_host_info hosts[TP_HOSTS_PAGE_MAX];
};

/* Token-policy values; `configured` is what the file says, `effective`
 * what applies (built-in defaults when custom_token_policy is false). */
struct tp_token_values {
        uint8_t auto_extend;
        uint32_t refresh_ttl_hours;
        uint32_t access_ttl_minutes;
        uint32_t max_refresh_tokens;
};

/* What happens to a running session that is idle, and how long before its
 * end (expiry or idleness) its user is warned; 0 minutes: off. On the wire
 * these come after the rest of a body (PROTOCOL.md, section 10). */
struct tp_idle_values {
        uint32_t idle_timeout_minutes;
        uint8_t on_idle;                  /* enum tp_action: lock or terminate */
        uint32_t warn_before_minutes;
};

struct tp_policy_client {
        char name[TP_CLIENT_MAX];
        uint8_t access;
        struct tp_token_values configured;
        struct tp_token_values effective;
        uint8_t evict;     /* enum tp_evict_mode */
        uint8_t on_expiry; /* enum tp_action */
        uint8_t on_revoke; /* enum tp_action */
        char services[TP_SERVICES_TEXT_MAX]; /* "sshd,login" */
        struct tp_idle_values idle;
};

struct tp_rep_policy {
        uint8_t custom_token_policy;
        char unknown_client[TP_CLIENT_MAX]; /* "deny" or a client name */
        char config_path[TP_PATH_MAX];
        uint8_t n_clients;
        struct tp_policy_client clients[TP_POLICY_CLIENTS_MAX];
};

/* EXPLAIN: the decision the next sign-in would get, changing nothing.
 * The reply's message says why in words. */
struct tp_rep_explain {
        uint8_t allowed;
        char client[TP_CLIENT_MAX];       /* the client type it would be tagged with */
        uint32_t active;                  /* live sessions counted against the cap */
        uint32_t cap;                     /* max_refresh_tokens in effect */
        uint8_t evict;                    /* enum tp_evict_mode */
        int64_t refresh_expires;          /* when allowed */
        int64_t access_expires;
        uint8_t auto_extend;
        uint32_t n_evict_total;           /* sessions it would sign out */
        uint8_t n_evicted;                /* of which listed below */
        struct tp_session_info evicted[TP_EVICTED_MAX];
        struct tp_idle_values idle;       /* of `client` */
};

/* VERIFY: the token's signature, times and issuer are good and its session
 * is still active (status OK); otherwise a non-OK status and why. */
struct tp_rep_verify {
        char sid[TP_SESSION_ID_MAX];
        char user[TP_USER_MAX];
        char client[TP_CLIENT_MAX];
        int64_t exp;
        int64_t refresh_expires;
};

/* ROTATE_KEY */
struct tp_rep_rotate {
        char kid[TP_KID_MAX];             /* the new signing key */
        char old_kid[TP_KID_MAX];         /* still published until: */
        int64_t old_until;
};

/* REVOKE_KEY */
struct tp_rep_revoke_key {
        char kid[TP_KID_MAX];             /* the key no longer trusted */
        char current_kid[TP_KID_MAX];     /* the key that signs from now on */
        uint8_t rotated;                  /* 1: kid was the current key, replaced */
};

/* OUTCOME */
struct tp_rep_outcome {
        uint32_t enforced;   /* evicted sessions now ended for good */
        uint32_t reinstated; /* evicted sessions active again (the sign-in failed) */
};

/* Large (tens of KiB): allocate on the heap, not the stack. */
struct tp_reply {
        uint8_t type;   /* request type | TP_REPLY_FLAG */
        uint8_t status; /* enum tp_status */
        char message[TP_MESSAGE_MAX];
        union {
                struct tp_rep_access access;
                struct tp_rep_tokens tokens; /* OPEN, REAUTH, REFRESH */
                struct tp_rep_status status;
                struct tp_rep_list list;
                struct tp_rep_revoke revoke;
                struct tp_rep_policy policy;
                struct tp_rep_explain explain;
                struct tp_rep_verify verify;
                struct tp_rep_rotate rotate;
                struct tp_rep_revoke_key revoke_key;
                struct tp_rep_hosts hosts;
                struct tp_rep_outcome outcome;
                /* CLOSE, RELOAD carry no body */
        } u;
};

/* Bodies are encoded only when status == TP_STATUS_OK; any other status
 * carries the message alone. */

/* Encode a request or reply as one complete frame (header + payload) into
 * out[0..outsz). Returns the frame length, or a negative errno:
 * -EINVAL for an unknown type or a field that cannot be encoded (string too
 * long or containing a NUL), -EMSGSIZE when the payload exceeds
 * TP_PAYLOAD_MAX or outsz. */
int tp_request_encode(const struct tp_request *req, uint8_t *out, size_t outsz);
int tp_reply_encode(const struct tp_reply *rep, uint8_t *out, size_t outsz);

/* Parse a frame header (exactly TP_FRAME_HEADER_SIZE bytes). On success
 * returns 0 and stores the message type and payload length. Returns
 * -EPROTO for a bad magic or version, -EMSGSIZE when the length exceeds
 * TP_PAYLOAD_MAX. Call this before allocating or reading the payload. */
int tp_frame_header_parse(const uint8_t *hdr, uint8_t *ret_type, uint32_t *ret_len);

/* Decode a payload of the given message type. Returns 0, or -EPROTO for an
 * unknown type, a truncated payload, trailing bytes, an over-long string,
 * an embedded NUL or an out-of-range enum value. *out is fully written on
 * success, unspecified on failure. */
int tp_request_decode(uint8_t type, const uint8_t *payload, size_t len, struct tp_request *out);
int tp_reply_decode(uint8_t type, const uint8_t *payload, size_t len, struct tp_reply *out);

/* Names for enums, for logs, JSON, tables and tokenpolicy.conf(5), each
 * written once in proto.c (strtable.h): NAME_to_string() gives NULL for
 * a value without a name, NAME_from_string() the value or -EINVAL (NULL,
 * or a string that names none), NAME_name() "unknown" instead of NULL. */
const char *tp_status_to_string(unsigned status);
int tp_status_from_string(const char *s);
const char *tp_status_name(unsigned status);
const char *tp_state_to_string(unsigned state);
int tp_state_from_string(const char *s);
const char *tp_state_name(unsigned state);
const char *tp_evict_to_string(unsigned mode);
int tp_evict_from_string(const char *s);
const char *tp_evict_name(unsigned mode);
const char *tp_action_to_string(unsigned action);
int tp_action_from_string(const char *s);
const char *tp_action_name(unsigned action);
const char *tp_config_state_to_string(unsigned state);
int tp_config_state_from_string(const char *s);
const char *tp_config_state_name(unsigned state);
/* Request types only: a retired number, or a reply's type, has no name. */
const char *tp_msg_type_to_string(unsigned type);
int tp_msg_type_from_string(const char *s);
/* A request's name, or a reply's (the request it answers), or "unknown". */
const char *tp_msg_type_name(uint8_t type);

/* Whether `type` is a request type of this protocol version (numbers are
 * retired, never reused: 7 is not one). */
bool tp_request_type_known(uint8_t type);
