/* daemon.h: state shared by the daemon's event loop and request handlers.
 *
 * One struct tp_daemon per process. The loop (server.c) owns sockets and
 * signals; the handlers (handlers.c) own the meaning of each request and
 * are the only code that combines config, engine, store and tokens.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "expiry.h"
#include "proto.h"
#include "store.h"
#include "token.h"

struct tp_enforcer;

#define TP_DEFAULT_CONFIG "/etc/tokenpolicy.conf"
#define TP_DEFAULT_SOCKET "/run/tokenpolicy/tokenpolicyd.sock"
#define TP_DEFAULT_STATE_DIR "/var/lib/tokenpolicy"
#define TP_STORE_FILE "sessions.db"

struct tp_daemon {
        char *config_path;
        char *socket_path;
        char *state_dir;
        struct tp_config *config;
        struct tp_store *store;
        struct tp_signer *signer;
        struct tp_enforcer *enforcer;
        struct tp_expiry_heap expiry;  /* refresh expiries of active sessions */
        char hostname[256];
        int64_t started;
        int64_t config_loaded;
        uid_t admin_uid;        /* geteuid(): an unprivileged daemon trusts its owner */
        struct tp_held_action {  /* enforcement waiting for a group commit */
                struct tp_session session;
                bool expired;
                char why[128];
        } *held_actions;
        size_t n_held_actions, cap_held_actions;
        bool holding_actions;
        struct tp_store_cursor sweep;   /* the background pass for ghosts */
        int64_t swept_ms;
        char boot_id[TP_BOOT_ID_MAX];   /* the running boot (boot.c) */
        struct tp_store_purge_pos purge; /* the retention pass (retention.c) */
        int64_t purge_due_ms;
        size_t purged;                  /* deleted in this pass so far */
};

/* Who sent a request, from SO_PEERCRED. */
struct tp_peer {
        uid_t uid;
        pid_t pid;
        bool admin;             /* root, or the daemon's own uid */
        char user[TP_USER_MAX]; /* the peer uid's login name, or "" */
};

/* Answer one decoded request. Always fills *rep (type, status, message,
 * body). Never fails as a whole: failures become a status and a message. */
void tp_handle_request(struct tp_daemon *d, const struct tp_peer *peer,
                       const struct tp_request *req, struct tp_reply *rep);

/* Empty rep for an answer to request_type: header and that type's body. */
void tp_reply_reset(struct tp_reply *rep, uint8_t request_type);

/* handlers.c, shared with query.c so that EXPLAIN tags a sign-in and
 * reads sessions exactly as OPEN does. */
struct tp_policy_session;

/* Set rep's status and its message (printf-style, cut to fit); the body
 * is left as it is. Shared with query.c and keys.c. */
__attribute__((format(printf, 3, 4)))
void tp_reply_status(struct tp_reply *rep, uint8_t status, const char *fmt, ...);

/* Log a failed store step (what) with the store's own message, and answer
 * ERROR without the details. */
void tp_reply_store_error(struct tp_daemon *d, struct tp_reply *rep, int r, const char *what);

/* DESIGN §2: module argument, then the service's mapping, then
 * unknown_client. NULL with status and message in rep when the sign-in
 * cannot be tagged (BAD_REQUEST: undefined client= type; DENIED: unmapped
 * service and unknown_client = "deny"). */
const struct tp_client_config *tp_resolve_client(const struct tp_config *c,
                                                 const struct tp_req_signin *req,
                                                 struct tp_reply *rep);
void tp_session_to_info(const struct tp_session *s, struct tp_session_info *i);
void tp_session_to_engine(const struct tp_session *s, struct tp_policy_session *e);

/* query.c: EXPLAIN (what the next sign-in would get; changes nothing) and
 * VERIFY (is this access token good and its session still active?). */
void tp_handle_explain(struct tp_daemon *d, const struct tp_peer *peer,
                       const struct tp_req_signin *req, struct tp_reply *rep);
void tp_handle_verify(struct tp_daemon *d, const struct tp_peer *peer,
                      const struct tp_req_verify *req, struct tp_reply *rep);

/* keys.c: ROTATE_KEY (root only): a new signing key; the old public key
 * stays published until every token it signed has expired. */
void tp_handle_rotate_key(struct tp_daemon *d, const struct tp_peer *peer, struct tp_reply *rep);

/* Load the config at d->config_path and, when valid, replace the running
 * one. Returns 0, or a negative errno with every error in errs (the running
 * policy is kept). */
int tp_daemon_reload(struct tp_daemon *d, struct tp_config_errors *errs);

/* ---- lifecycle.c: running sessions after sign-in ---------------------- */

/* Build the expiry schedule from the store (at start). */
int tp_lifecycle_start(struct tp_daemon *d);
void tp_lifecycle_stop(struct tp_daemon *d);

/* A session got a new refresh expiry (sign-in, re-authentication,
 * extension): schedule it. */
void tp_lifecycle_schedule(struct tp_daemon *d, const char *id, int64_t refresh_expires);

/* Expire the sessions that are due (marking them expired and applying the
 * client type's on_expiry) and deliver pending SIGTERMs. Returns true when
 * more expiries are already due and the loop should call again at once. */
bool tp_lifecycle_tick(struct tp_daemon *d);

/* Apply on_revoke (revoked, evicted) or on_expiry to a session that has
 * just ended in the store, and audit what was done. */
void tp_lifecycle_enforce(struct tp_daemon *d, const struct tp_session *s, bool expired,
                          const char *why);

/* Group commit: between hold and release, tp_lifecycle_enforce() only
 * notes what to do; release(true) does it, once the batch that recorded
 * why is durable, and release(false) forgets it (the batch was lost). */
void tp_lifecycle_hold(struct tp_daemon *d);
void tp_lifecycle_release(struct tp_daemon *d, bool committed);

/* A session whose leader process (or logind session) is gone: it must not
 * count against a cap. False when alive or when it cannot be told. */
bool tp_lifecycle_is_ghost(struct tp_daemon *d, const struct tp_session *s);

/* The leader of a session being opened: the PAM process itself, as
 * SO_PEERCRED saw it, with its start time. */
void tp_lifecycle_leader(pid_t peer_pid, uint32_t *ret_pid, uint64_t *ret_start);

/* ---- boot.c: sessions of other boots ---------------------------------- */

/* Learn the running boot; take sessions recorded before the store knew
 * boots and signed in since this boot began for this boot's, and close
 * (and audit) every other active session of another boot. At start,
 * before anything is served. Logs why it failed. */
int tp_boot_start(struct tp_daemon *d);

/* ---- retention.c: the history of ended sessions ------------------------ */

/* One bounded step of deleting sessions that ended more than
 * store.history_days ago, at most once a second; call it from the loop. */
void tp_retention_tick(struct tp_daemon *d);

/* The event loop: serve until SIGTERM or SIGINT. Returns 0 on a clean stop. */
int tp_server_run(struct tp_daemon *d, int listen_fd);

/* READY=1 with a STATUS= line to the service manager (after start and
 * after every reload). */
void tp_server_notify_ready(struct tp_daemon *d);

/* Bind and listen on d->socket_path (mode 0666, parent created 0755).
 * Refuses to replace a socket another live daemon answers on. */
int tp_server_listen(const char *path, int *ret_fd);
