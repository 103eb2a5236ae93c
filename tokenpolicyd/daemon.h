/* SPDX-License-Identifier: BSD-3-Clause */
/* daemon.h: state shared by the daemon's event loop and request handlers.
 *
 * One struct tp_daemon per process, and the identity of a peer. Nothing
 * else: each module that others use has its own header (HACKING.md draws
 * who calls whom). The loop (server.c) owns sockets and signals; the
 * request layer (request.c and the handlers under it) owns the meaning of
 * each request.
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
#include "jwt_sign.h"
#include "signer.h"
#include "store.h"

struct tp_enforcer;
struct tp_signer;
struct tp_told_action;
struct tp_idle_mark;
struct tp_password_mark;

#define TP_STORE_FILE "sessions.db"
#define TP_DOUBTFUL_MAX 16
#define TP_LAST_GOOD_FILE "last-good.conf" /* the last valid configuration */

struct tp_daemon {
        char *config_path;
        char *socket_path;
        char *state_dir;
        struct tp_config *config;
        struct tp_store *store;
        struct tp_store *unsynced;      /* fleet mode: signed in while offline (offline.h) */
        size_t n_unsynced;
        int64_t offline_logged;         /* the outage said in the log, 0: none */
        bool start_pending;             /* started offline: boot pass and schedule wait */
        int64_t upload_due_ms;          /* unsynced sessions: the next upload, not before */
        /* Sign-ins sent to the database as it went away, whose outcome it
         * never told, and which this host then refused: closed there when
         * it is back (tp_offline_doubtful). The loop sends one transaction
         * at a time, so an outage leaves at most one. Beyond
         * TP_DOUBTFUL_MAX, or across a restart, the pass for ghosts closes
         * them once their leaders are gone. */
        struct tp_session doubtful[TP_DOUBTFUL_MAX];
        size_t n_doubtful;
        /* Fleet mode: this host's own sessions, kept beside the database
         * for the passes while it is away (offline.h). */
        struct tp_store *mirror;
        int64_t mirror_filled_ms;       /* when it was last filled from the database, 0: not since start */
        int64_t mirror_flushed_ms;      /* when the changes queued for it were last made in it */
        int64_t mirror_due_ms;          /* after a failed fill: the next, not before */
        struct tp_store_cursor sweep_mirror, sweep_unsynced; /* the pass for ghosts while offline */
        struct tp_signer *signer;
        /* Set by the event loop while a request it answers runs behind
         * another reply of the same turn that waits for the batch's commit
         * (so this one will wait too): the loop encodes and sends the
         * reply itself, the access token's signature is made on the
         * signer's thread (jwt_sign.h) meanwhile, and unsigned_token says
         * which one the loop must finish before the reply leaves.
         * Elsewhere tokens are signed at once. */
        bool sign_later;
        struct tp_jwt_unsigned unsigned_token;
        struct tp_enforcer *enforcer;
        struct tp_expiry_heap expiry;  /* refresh expiries of active sessions */
        char hostname[256];
        char host_id[TP_HOST_ID_MAX];   /* fleet mode: this host; "" with a store of one host */
        char display_host[TP_HOST_ID_MAX]; /* what listings call this host: host_id, else its name */
        struct tp_store_key *fleet_keys; /* every host's public keys (fleetkeys.c) */
        size_t n_fleet_keys;
        char fleet_published[(TP_KID_LEN + 1) * (TP_KEYRING_RETAINED_MAX + 1) + 1]; /* kids last published */
        int64_t started;
        int64_t config_loaded;
        uint8_t config_state;   /* enum tp_config_state: is the file in force? */
        char *config_errors;    /* why not, one error a line; NULL when it is */
        int64_t keys_retry_at;  /* retained keys: when to retry a failed cleanup */
        uid_t admin_uid;        /* geteuid(): an unprivileged daemon trusts its owner */
        struct tp_held_action {  /* enforcement waiting for a group commit */
                struct tp_session session;
                bool expired;
                bool idle;              /* on_idle, not on_expiry / on_revoke */
                char why[128];
                char after[TP_SESSION_ID_MAX]; /* then wait for this sign-in's outcome */
        } *held_actions;
        size_t n_held_actions, cap_held_actions;
        bool holding_actions;
        struct tp_held_schedule {       /* expiry schedule changes waiting for a group commit */
                char id[TP_SESSION_ID_MAX];
                int64_t expires;
                bool ended;             /* unschedule it instead */
                bool forget;            /* no schedule: id's sign-in failed, drop its pending evictions */
        } *held_schedule;
        size_t n_held_schedule, cap_held_schedule;
        struct tp_told_action *told;   /* told why they end, to be ended once the notice is out */
        size_t n_told, cap_told;
        struct tp_store_cursor sweep;   /* the background pass for ghosts */
        int64_t swept_ms;
        char boot_id[TP_BOOT_ID_MAX];   /* the running boot (boot.c) */
        struct tp_store_cursor idle_sweep; /* the idle and warning pass (idle.c) */
        bool idle_started;
        int64_t idle_checked_ms;
        struct tp_idle_mark *idle_marks;   /* what that pass did, per session */
        size_t n_idle_marks, cap_idle_marks;
        unsigned idle_pass;
        struct tp_store_purge_pos purge; /* the retention pass (retention.c) */
        int64_t purge_due_ms;
        size_t purged;                  /* deleted in this pass so far */
        struct tp_pending_eviction {    /* evicted, ended only once the sign-in is known good */
                struct tp_session victim;
                char by[TP_SESSION_ID_MAX]; /* the session of that sign-in */
                char why[128];
                int64_t due_ms;             /* monotonic: enforced then at the latest */
        } *pending_evictions;
        size_t n_pending_evictions, cap_pending_evictions;
        int accounts_fd;                /* inotify on /etc (accounts.c), when watching */
        bool accounts_watching;
        int64_t accounts_checked_ms;    /* last re-validation of accounts holding sessions */
        bool accounts_pass;             /* a re-validation pass is under way ... */
        bool accounts_again;            /* ... and another one is due after it */
        struct tp_store_cursor accounts_cursor;
        /* Password fingerprints of the users holding sessions (accounts.c),
         * keyed with a random key of this run; in memory only. */
        uint8_t password_mark_key[32];
        struct tp_password_mark *password_marks;
        size_t n_password_marks;
};

/* The store holding this host's own sessions for its passes and for
 * looking at a leader's other sessions: the daemon's while it answers
 * (always for a store of one host), else, while a fleet's database is
 * away, the mirror (offline.h) when there is one. */
static inline struct tp_store *tp_local_store(struct tp_daemon *d)
{
        return d->mirror && tp_store_offline_since(d->store, NULL, 0) != 0 ? d->mirror : d->store;
}

/* How many of this host's active sessions other than s share its leader:
 * in tp_local_store(), and while that is the mirror, among the sessions
 * signed in while the fleet's database is away too. */
static inline int tp_local_leader_shared(struct tp_daemon *d, const struct tp_session *s, uint64_t *ret)
{
        struct tp_store *st = tp_local_store(d);
        uint64_t more = 0;
        int r = tp_store_count_leader_shared(st, s->id, s->leader_pid, s->leader_start, ret);

        if (r >= 0 && st != d->store && d->unsynced &&
            (r = tp_store_count_leader_shared(d->unsynced, s->id, s->leader_pid, s->leader_start, &more)) >= 0)
                *ret += more;
        return r;
}

/* Who sent a request, from SO_PEERCRED. */
struct tp_peer {
        uid_t uid;
        pid_t pid;
        bool admin;             /* root, or the daemon's own uid */
        char user[TP_USER_MAX]; /* the peer uid's login name, or "" */
};
