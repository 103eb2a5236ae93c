/* SPDX-License-Identifier: BSD-3-Clause */
/* lifecycle.h: running sessions after sign-in (lifecycle.c): the expiry
 * schedule, enforcement of on_expiry / on_revoke, ghosts.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon.h"
#include "store.h"

/* Build the expiry schedule from the store (at start). */
int tp_lifecycle_start(struct tp_daemon *d);
void tp_lifecycle_stop(struct tp_daemon *d);

/* A session got a new refresh expiry (sign-in, re-authentication,
 * extension): schedule it. The schedule holds one entry per session and
 * moves it only earlier; a later expiry is taken from the store when the
 * entry comes due. During a group commit this waits for release(). */
void tp_lifecycle_schedule(struct tp_daemon *d, const char *id, int64_t refresh_expires);

/* Schedule every active session of `st` (the daemon's store at start, or
 * once a fleet's database answers after a start made without it; this
 * host's own stores meanwhile, offline.h). */
int tp_lifecycle_schedule_all(struct tp_daemon *d, struct tp_store *st);

/* A session ended (closed, revoked, expired) and its end was committed:
 * drop it from the schedule, so that the schedule never holds more than
 * the active sessions. During a group commit this waits for release(). */
void tp_lifecycle_ended(struct tp_daemon *d, const char *id);

/* One step of the pass for ghosts over `st` (the daemon's store, or this
 * host's own while a fleet's database is away, offline.h): the next page
 * of active sessions after *cur, those whose leader is gone closed and
 * audited. Returns how many; with ret_closed, *ret_closed is a new array
 * (free()) whose first ones are those sessions as closed. */
size_t tp_lifecycle_sweep_ghosts(struct tp_daemon *d, struct tp_store *st, struct tp_store_cursor *cur, int64_t now,
                                 struct tp_session **ret_closed);

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

/* The same with the client type's on_idle, for a session found idle past
 * its idle_timeout_minutes (idle.h); the session stays as the store has
 * it (ended there first for terminate). */
void tp_lifecycle_enforce_idle(struct tp_daemon *d, const struct tp_session *s, const char *why);

/* Whether sessions told why they end are waiting to be ended (the loop
 * then calls tp_lifecycle_told() often). */
bool tp_lifecycle_telling(const struct tp_daemon *d);
/* End the told sessions whose notice has been read or has waited long
 * enough; all of them with now. */
void tp_lifecycle_told(struct tp_daemon *d, bool now);

/* Group commit: between hold and release, the effects a request has on
 * running sessions are only noted: tp_lifecycle_enforce() what to do to
 * a session, tp_lifecycle_schedule() and tp_lifecycle_ended() how the
 * expiry schedule changes. release(true) applies them in order, once the
 * batch that recorded why is durable; release(false) forgets them (the
 * batch was lost). With the audit events the log holds (log.h), these are
 * every effect of a request outside the store. */
void tp_lifecycle_hold(struct tp_daemon *d);
void tp_lifecycle_release(struct tp_daemon *d, bool committed);

/* Whether this host runs the session (always, with a store of one host):
 * no host acts on another's sessions. */
bool tp_lifecycle_runs_here(const struct tp_daemon *d, const struct tp_session *s);

/* Fleet mode: apply on_revoke or on_expiry to this host's sessions that
 * another host ended (an eviction by a sign-in there, a revocation), and
 * record that they were acted on. The loop calls it when the store wakes
 * it and every few seconds. */
void tp_lifecycle_owed(struct tp_daemon *d);

/* A session whose leader process (or logind session) is gone: it must not
 * count against a cap. False when alive or when it cannot be told. */
bool tp_lifecycle_is_ghost(struct tp_daemon *d, const struct tp_session *s);
/* The same, in the shape of the sign-in plan's question (plan.h); ctx is
 * the struct tp_daemon. */
bool tp_lifecycle_ghost_check(void *ctx, const struct tp_session *s);

/* The leader of a session being opened: the PAM process itself, as
 * SO_PEERCRED saw it, with its start time. */
void tp_lifecycle_leader(pid_t peer_pid, uint32_t *ret_pid, uint64_t *ret_start);

/* Revoke these active sessions: end them as revoked in one transaction
 * and, once that is durable, audit each ("revoke" with `why`, and the
 * peer's uid or -1) and apply its client type's on_revoke. Returns how
 * many were revoked, or a negative errno with nothing changed (the store's
 * message in tp_store_errmsg()). */
int tp_lifecycle_revoke(struct tp_daemon *d, const struct tp_session *rows, size_t n, const char *why,
                        long peer_uid);

/* Evictions wait for the sign-in that caused them (PROTOCOL.md, outcome).
 * The eviction is in the store already (the cap is never exceeded); what
 * waits is its enforcement on the evicted session, until
 * tp_lifecycle_outcome_confirm() or TP_EVICTION_GRACE_MS have passed.
 * During a group commit the wait itself starts only once the batch is
 * durable, like any enforcement. */
#define TP_EVICTION_GRACE_MS 5000
void tp_lifecycle_evict_after(struct tp_daemon *d, const struct tp_session *victim, const char *by,
                              const char *why);

/* The sign-in `by` completed: enforce what it evicted now. Returns how
 * many evictions that ended. */
size_t tp_lifecycle_outcome_confirm(struct tp_daemon *d, const char *by);

/* The sign-in `by` failed: copies of the sessions it evicted whose
 * enforcement still waits (a new array in *ret, or NULL when none), for
 * the caller to reinstate in the store. They wait on until
 * tp_lifecycle_outcome_forget(), called once that is durable. */
int tp_lifecycle_outcome_pending(struct tp_daemon *d, const char *by, struct tp_session **ret, size_t *ret_n);
void tp_lifecycle_outcome_forget(struct tp_daemon *d, const char *by);
