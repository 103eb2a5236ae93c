#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A hostile user against their own sessions, and a shared session leader.

Each test reproduces an attack through real libpam (tests/tp-pam, run as
root as a login program would) and a real daemon, with the attacker an
unprivileged tptest user speaking the wire protocol or running
tokenpolicyctl:

- CLOSE of one's own running session is refused and audited (it would
  free the session from the cap, revocation and expiry); a session whose
  processes are gone may still be closed by its user;
- a refresh flood neither grows the daemon's expiry schedule nor forces a
  durable write per request;
- a user's revoke never signals a process that leads other users'
  sessions (a PAM gateway);
- a SIGTERM still in its grace period when the daemon stops is sent on
  time, not at once and not never.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import (BUILD, CTL, ROOT, TP_PAM, Env, PrivateLogind, check, config_text, eq,  # noqa: E402
                   run_with_users, wait_for)
from test_peers import as_user, session_fields  # noqa: E402
from test_systemd import Notifications  # noqa: E402

GINA, HANK = "tptest-gina", "tptest-hank"
OK, DENIED, EXPIRED, NOT_FOUND, FORBIDDEN = range(5)
T_CLOSE, T_REFRESH, T_REVOKE = 3, 5, 8
HOUR = 3600


def conf(**desk):
    keys = {"services": ["tptest-desktop"], "max_refresh_tokens": 10}
    keys.update(desk)
    return config_text(clients={"desktop": keys, "ssh": {"services": ["tptest-sshd"]}})


def sid_of(report):
    return report["env"]["TOKENPOLICY_SESSION_ID"]


def states(env):
    return {s["id"]: s["state"] for s in env.sessions("--all")}


def audit_lines(env, needle):
    return [line for line in env.log_text().splitlines() if "audit:" in line and needle in line]


# -- 1. CLOSE by the session's own user ----------------------------------

def test_user_cannot_close_a_running_session():
    env = Env(conf(evict="deny_new"))
    try:
        env.start()
        held = [env.sign_in_held("tptest-desktop", GINA) for _ in range(10)]
        ids = [sid_of(rep) for _, rep in held]
        # Every id is in the user's own environment (TOKENPOLICY_SESSION_ID).
        got = as_user(GINA, env.sock, [(T_CLOSE, session_fields(sid)) for sid in ids])
        for sid, (_, status, message, _) in zip(ids, got):
            eq(status, FORBIDDEN, f"CLOSE of her own running session {sid}: {message}")
            check("revoke" in message, f"the refusal says what to do instead: {message}")
        eq(set(states(env).values()), {"active"}, "all ten still active")
        eq(len(audit_lines(env, "sign-out refused")), 10, "each refusal audited")
        check(all(f"session={sid}" in " ".join(audit_lines(env, "sign-out refused")) for sid in ids),
              "the refusal names the session")
        # So they still count: the eleventh sign-in meets the cap.
        r = env.pam("tptest-desktop", GINA, "acct", "open")
        eq(r["results"], ["PAM_SUCCESS", "PAM_SESSION_ERR"], "the cap still holds")
        # And the user's own revoke reaches what runs (no logind: SIGHUP).
        env.ctl("revoke", "--user", GINA, user=GINA, check_rc=0)
        eq(set(states(env).values()), {"revoked"}, "revoke --user found them")
        for proc, _ in held:
            check(wait_for(lambda: proc.poll() is not None), "on_revoke reached each leader")
    finally:
        env.cleanup()


def test_user_may_close_a_session_whose_processes_are_gone():
    env = Env(conf())
    try:
        env.start()
        proc, rep = env.sign_in_held("tptest-desktop", GINA)
        proc.kill()  # the login crashed: no close_session came
        proc.wait()
        [(_, status, message, _)] = as_user(GINA, env.sock, [(T_CLOSE, session_fields(sid_of(rep)))])
        eq(status, OK, f"CLOSE of a session with nothing left running: {message}")
        eq(states(env)[sid_of(rep)], "closed", "closed")
        # Another user's session stays not-found, running or not.
        _, other = env.sign_in_held("tptest-desktop", HANK)
        [(_, status, _, _)] = as_user(GINA, env.sock, [(T_CLOSE, session_fields(sid_of(other)))])
        eq(status, NOT_FOUND, "another user's session")
        # Root (the PAM application) signs out a running session as before.
        r = env.pam("tptest-desktop", GINA, "acct", "open", "close")
        eq(r["results"], ["PAM_SUCCESS"] * 3, "root's pam_close_session")
    finally:
        env.cleanup()


# -- 2. a refresh flood -----------------------------------------------------

ROTATED = "New refresh and access tokens issued."


def scheduled_after_reload(env, note):
    """How many expiries the daemon holds: its STATUS= line after a reload."""
    env.proc.send_signal(signal.SIGHUP)
    msg, _ = note.wait_for("READY=1")
    status = [line for line in msg.split("\n") if line.startswith("STATUS=")][0]
    words = status.split("; ")
    active = int(words[1].split()[0])
    scheduled = int(words[2].split()[0])
    return active, scheduled


def test_refresh_flood_neither_grows_the_schedule_nor_writes():
    env = Env(conf(auto_extend_refresh_token=True, refresh_token_ttl_hours=24))
    note = Notifications(env.dir)
    try:
        env.start(env={"NOTIFY_SOCKET": note.path})
        note.wait_for("READY=1")
        _, rep = env.sign_in_held("tptest-desktop", GINA)
        sid = sid_of(rep)
        [before] = env.sessions()
        # A burst as fast as the user may send (the per-uid rate limit
        # allows 100 at once): one sign-in ago, so inside the window.
        t0 = time.monotonic()
        got = as_user(GINA, env.sock, [(T_REFRESH, session_fields(sid))] * 90)
        elapsed = time.monotonic() - t0
        eq({g[1] for g in got}, {OK}, "every refresh answered with an access token")
        rotated = sum(g[2] == ROTATED for g in got)
        # At most one recorded refresh per 60 s window, however slow this run.
        check(rotated <= int(elapsed // 60) + 1, f"{rotated} of 90 refreshes rotated in {elapsed:.1f} s")
        [after] = env.sessions()
        if rotated == 0:
            eq((after["last_used"], after["refresh_expires"]), (before["last_used"], before["refresh_expires"]),
               "nothing recorded")
        eq(scheduled_after_reload(env, note), (1, 1), "one session, one scheduled expiry")
        # Refreshes that do extend (the clock a window further each time):
        # still one entry in the schedule, not one per extension.
        for i in range(1, 31):
            env.set_offset(61 * i)
            [(_, status, message, _)] = as_user(GINA, env.sock, [(T_REFRESH, session_fields(sid))])
            eq((status, message), (OK, ROTATED), f"refresh {i} a window later extends")
        eq(scheduled_after_reload(env, note), (1, 1), "thirty extensions, still one scheduled expiry")
        [s] = env.sessions()
        eq(s["refresh_expires"], s["last_extended"] + 24 * HOUR, "extended to the last refresh + 24 h")
        check(s["refresh_expires"] >= before["refresh_expires"] + 61 * 30, "extended thirty windows on")
        # The first expiry passes: the session was extended, so it stays
        # (its one entry moves to the new expiry) ...
        env.set_offset(before["refresh_expires"] + 900 - time.time())
        time.sleep(2.5)  # a few ticks of the daemon's timer; a slow run only waits longer
        eq(env.sessions()[0]["state"], "active", "not expired at its first expiry")
        eq(scheduled_after_reload(env, note), (1, 1), "the entry was re-armed, not dropped")
        # ... and expires at the new one.
        env.set_offset(s["refresh_expires"] + 1 - time.time())
        check(wait_for(lambda: env.sessions("--all")[0]["state"] == "expired"), "expired at its new expiry")
        eq(scheduled_after_reload(env, note), (0, 0), "nothing left to schedule")
    finally:
        env.cleanup()


def test_ended_sessions_leave_the_schedule():
    env = Env(conf(max_refresh_tokens=10))
    note = Notifications(env.dir)
    try:
        env.start(env={"NOTIFY_SOCKET": note.path})
        note.wait_for("READY=1")
        held = [env.sign_in_held("tptest-desktop", GINA) for _ in range(12)]  # two evicted
        eq(scheduled_after_reload(env, note), (10, 10), "evicted sessions left the schedule")
        env.ctl("revoke", sid_of(held[5][1]), user=GINA, check_rc=0)
        env.release(held[6][0])        # signs out through root's PAM stack
        held[7][0].kill()              # a ghost, closed by the background pass
        held[7][0].wait()
        check(wait_for(lambda: states(env)[sid_of(held[7][1])] == "closed"), "ghost closed")
        eq(scheduled_after_reload(env, note), (7, 7), "revoked, closed and reaped ones too")
    finally:
        env.cleanup()


# -- 4. a self-revoke against a shared leader ------------------------------

def gateway(env, *users, pam_env=()):
    """One root process, the PAM application of a session for each user
    (a PAM gateway); returns (process, [session id per user])."""
    import json
    cmd = [TP_PAM, "--json", "--confdir", env.pamdir, "--service", "tptest-desktop"]
    for u in users:
        cmd += ["--user", u]
    for var in pam_env:
        cmd += ["--pam-env", var]
    proc = subprocess.Popen(cmd + ["acct", "open", "hold", "close"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    env.held.append(proc)
    report = json.loads(proc.stdout.readline())
    ids = []
    for u, h in zip(users, report["handles"]):
        eq([s["result"] for s in h["steps"]], ["PAM_SUCCESS", "PAM_SUCCESS"], f"{u}'s sign-in through the gateway")
        ids.append(h["env"]["TOKENPOLICY_SESSION_ID"])
    return proc, ids


def enforce_line(env, sid):
    lines = [line for line in audit_lines(env, "event=enforce") if f"session={sid}" in line]
    return lines[-1] if lines else None


def test_self_revoke_never_signals_a_leader_of_other_users_sessions():
    env = Env(conf())
    try:
        env.start()
        gw, (gina, hank) = gateway(env, GINA, HANK)
        env.ctl("revoke", gina, user=GINA, check_rc=0)
        check(wait_for(lambda: enforce_line(env, gina)), "the revoke was enforced")
        line = enforce_line(env, gina)
        check(f"leader pid {gw.pid} also leads 1 other active session" in line, line)
        check("not signalled" in line, line)
        check(not wait_for(lambda: gw.poll() is not None, timeout=1.5), "the gateway still runs")
        eq(states(env), {gina: "revoked", hank: "active"}, "only gina's session ended")
        # Once no other session shares it, the leader is ended as usual.
        env.ctl("revoke", hank, user=HANK, check_rc=0)
        check(wait_for(lambda: gw.poll() is not None), "the gateway ended with its last session")
        eq(gw.returncode, -signal.SIGHUP, "by SIGHUP")
    finally:
        env.cleanup()


def test_shared_leader_logind_session_is_not_terminated():
    env = Env(conf())
    logind = PrivateLogind(env.dir)
    try:
        logind.start()
        env.start(env={"DBUS_SYSTEM_BUS_ADDRESS": logind.address})
        gw, (gina, hank) = gateway(env, GINA, HANK)
        logind.start(f"7:{gw.pid}")  # the gateway leads one logind session (hank's, say)
        env.ctl("revoke", gina, user=GINA, check_rc=0)
        check(wait_for(lambda: enforce_line(env, gina)), "the revoke was enforced")
        check("not signalled and no logind session ended" in enforce_line(env, gina), enforce_line(env, gina))
        eq([c for c in logind.calls() if "TerminateSession" in c or "GetSessionByPID" in c], [],
           "logind was not asked to end the gateway's session")
        check(gw.poll() is None, "the gateway still runs")
        eq(states(env)[hank], "active", "hank's session untouched")
    finally:
        try:
            env.cleanup()
        finally:
            logind.close()


# -- 11. a SIGTERM pending when the daemon stops --------------------------

def man_section(page, name):
    text = open(os.path.join(ROOT, "man", page)).read()
    start = text.index(f"\n.SH {name}\n")
    end = text.find("\n.SH ", start + 1)
    return text[start:end].replace("\n", " ")


def test_pending_sigterm_is_sent_when_the_daemon_stops():
    import json
    env = Env(conf())
    try:
        env.start()
        proc = subprocess.Popen([TP_PAM, "--json", "--confdir", env.pamdir, "--service", "tptest-desktop",
                                 "--user", GINA, "--ignore-hup", "acct", "open", "hold", "close"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        env.held.append(proc)
        sid = json.loads(proc.stdout.readline())["env"]["TOKENPOLICY_SESSION_ID"]
        env.ctl("revoke", sid, user=GINA, check_rc=0)
        check(wait_for(lambda: enforce_line(env, sid)), "the revoke was enforced")
        check(f"SIGHUP to leader pid {proc.pid}, SIGTERM in 5 s" in enforce_line(env, sid), enforce_line(env, sid))
        check(proc.poll() is None, "a leader that ignores SIGHUP runs on through the grace period")
        eq(env.stop(), 0, "the daemon stops cleanly")
        # The revoked session must not outlive the daemon's stop: its
        # SIGTERM goes out as the daemon stops, not never.
        check(wait_for(lambda: proc.poll() is not None), "the leader ended when the daemon stopped")
        eq(proc.returncode, -signal.SIGTERM, "by the pending SIGTERM")
        # And the manual says so, where it said the opposite.
        signals, bugs = man_section("tokenpolicyd.8", "SIGNALS"), man_section("tokenpolicyd.8", "BUGS")
        check("is sent at once" in signals and "is not sent" not in signals, "tokenpolicyd(8) SIGNALS")
        check("when the daemon stops is not sent" not in bugs, "tokenpolicyd(8) BUGS")
    finally:
        env.cleanup()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    sys.exit(run_with_users(TESTS, [GINA, HANK], lock_name="users-attacks"))
