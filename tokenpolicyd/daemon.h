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
#include "jwt_sign.h"
#include "secrets.h"
#include "signer.h"
#include "store.h"

struct tp_enforcer;
struct tp_told_action;

#define TP_STORE_FILE "sessions.db"
#define TP_LAST_GOOD_FILE "last-good.conf" /* the last valid configuration */

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
        uint8_t config_state;   /* enum tp_config_state: is the file in force? */
        char *config_errors;    /* why not, one error a line; NULL when it is */
        int64_t keys_retry_at;  /* retained keys: when to retry a failed cleanup */
        uid_t admin_uid;        /* geteuid(): an unprivileged daemon trusts its owner */
        struct tp_held_action {  /* enforcement waiting for a group commit */
                struct tp_session session;
                bool expired;
                char why[128];
        } *held_actions;
        size_t n_held_actions, cap_held_actions;
        bool holding_actions;
        char (*held_ended)[TP_SESSION_ID_MAX]; /* sessions ended in the batch: unscheduled at release */
        size_t n_held_ended, cap_held_ended;
        struct tp_told_action *told;   /* told why they end, to be ended once the notice is out */
        size_t n_told, cap_told;
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

/* docs/product.md §2: module argument, then the service's mapping, then
 * unknown_client. NULL with status and message in rep when the sign-in
 * cannot be tagged (BAD_REQUEST: undefined client= type; UNMAPPED:
 * unmapped service and unknown_client = "deny"). */
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
 * stays published until every token it signed has expired. REVOKE_KEY
 * (root only): a key is no longer trusted or published, at once. */
void tp_handle_rotate_key(struct tp_daemon *d, const struct tp_peer *peer, struct tp_reply *rep);
void tp_handle_revoke_key(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_req_key *req,
                          struct tp_reply *rep);
/* From the event loop about once a second: retained keys whose time has
 * come leave the key directory and the JWKS. */
void tp_keys_tick(struct tp_daemon *d);

/* ---- conffile.c: the configuration file and its last valid copy ------- */

/* Is the configuration at path one that only root or `owner` could have
 * written or put in place (tp_trust_path)? 0, or -EPERM / -errno with the
 * whole message for the administrator in msg. */
int tp_conffile_trust(const char *path, uid_t owner, char *msg, size_t msg_size);

/* tp_conffile_trust(), then tp_config_load_file(); every error in errs. */
int tp_conffile_load(const char *path, uid_t owner, struct tp_config **ret, struct tp_config_errors *errs);

/* At start, once the state directory exists: load d->config_path and keep
 * it as the last valid configuration; when it cannot be used, serve the
 * last valid one instead (config_state TP_CONFIG_LAST_GOOD, logged and
 * audited). Returns 0 with d->config set, or a negative errno when there
 * is nothing valid to serve (every error logged). */
int tp_conffile_start(struct tp_daemon *d);

/* Load the config at d->config_path and, when valid, replace the running
 * one (and keep it as the last valid one). Returns 0, or a negative errno
 * with every error in errs: the running policy is kept and status says
 * why the file is not in force. */
int tp_daemon_reload(struct tp_daemon *d, struct tp_config_errors *errs);

/* ---- lifecycle.c: running sessions after sign-in ---------------------- */

/* Build the expiry schedule from the store (at start). */
int tp_lifecycle_start(struct tp_daemon *d);
void tp_lifecycle_stop(struct tp_daemon *d);

/* A session got a new refresh expiry (sign-in, re-authentication,
 * extension): schedule it. The schedule holds one entry per session and
 * moves it only earlier; a later expiry is taken from the store when the
 * entry comes due. */
void tp_lifecycle_schedule(struct tp_daemon *d, const char *id, int64_t refresh_expires);

/* A session ended (closed, revoked, expired) and its end was committed:
 * drop it from the schedule, so that the schedule never holds more than
 * the active sessions. During a group commit this waits for release(). */
void tp_lifecycle_ended(struct tp_daemon *d, const char *id);

/* Expire the sessions that are due (marking them expired and applying the
 * client type's on_expiry) and deliver pending SIGTERMs. Returns true when
 * more expiries are already due and the loop should call again at once. */
bool tp_lifecycle_tick(struct tp_daemon *d);

/* Apply on_revoke (revoked, evicted) or on_expiry to a session that has
 * just ended in the store, and audit what was done. Before it is ended or
 * locked, the session's user is told why on the session's terminal (or
 * sshd's stderr pipe, notice.h); then the action waits for
 * tp_lifecycle_told(), at most a few seconds. */
void tp_lifecycle_enforce(struct tp_daemon *d, const struct tp_session *s, bool expired,
                          const char *why);

/* Whether sessions told why they end are waiting to be ended (the loop
 * then calls tp_lifecycle_told() often). */
bool tp_lifecycle_telling(const struct tp_daemon *d);
/* End the told sessions whose notice has been read or has waited long
 * enough; all of them with now. */
void tp_lifecycle_told(struct tp_daemon *d, bool now);

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

/* ---- delivery.c: requests whose client is gone ------------------------ */

/* Whether a request is only acted on while its client can still hear the
 * answer (false: sign-out, revoke, reload and key rotation are carried out
 * whatever happens to their sender). */
bool tp_request_needs_client(uint8_t type);

/* The client hung up before a request that needs it was acted on: the
 * request is not acted on; sign-ins, re-authentications and refreshes are
 * audited as undelivered. */
void tp_handle_abandoned(struct tp_daemon *d, const struct tp_peer *peer, const struct tp_request *req);

/* The answer to a request of this type (OPEN, REAUTH, REFRESH), about this
 * session, could not be delivered: the session a sign-in created is closed
 * at once, and each is audited as undelivered. */
void tp_handle_undelivered(struct tp_daemon *d, const struct tp_peer *peer, uint8_t type,
                           const char *session_id);
