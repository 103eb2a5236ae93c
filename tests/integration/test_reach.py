#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Policy reaches sessions that are already running, through libpam and a
real daemon.

- A reload, or a start, whose configuration switches a client type off
  applies on_revoke to every running session of that type: its leader
  ends, its state is revoked, its token no longer verifies, each is
  audited once with the reason, and the reload says how many.
- `tokenpolicyctl revoke --client C` (root) reaches every user's sessions
  of that type; `revoke --others` inside a session signs out every other
  session of its user and keeps the current one.
- A locked or expired account is refused at sign-in, and its running
  sessions are revoked within seconds of /etc/shadow changing.
- A sign-in at the cap whose PAM handle ends in failure (pam_deny.so after
  the module in the session stack) evicts nothing: the oldest session stays
  active and its leader alive, the new session is closed. One that
  completes evicts the oldest, at once when pam_end reports success, or
  after the daemon's short grace while the handle is still open.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import (MODULE, Env, check, config_text, eq, run_with_users, trace_daemon,  # noqa: E402
                   wait_for)

USER = "tptest-reach"
OTHER = "tptest-reach2"


def conf(desktop_access=True, **desk):
    d = {"services": ["tptest-desktop"], "max_refresh_tokens": 10, "on_revoke": "terminate"}
    d.update(desk)
    if not desktop_access:
        d["access"] = False
    return config_text(clients={"desktop": d, "ssh": {"services": ["tptest-sshd"]}})


def state_of(env, sid):
    for s in env.sessions("--all"):
        if s["id"] == sid:
            return s["state"]
    return None


def ended(proc):
    return wait_for(lambda: proc.poll() is not None, timeout=20)


def audit_lines(env, event, sid):
    return [line for line in env.log_text().splitlines()
            if f"audit: event={event} " in line and f"session={sid}" in line]


def test_reload_that_disables_a_type_revokes_its_running_sessions():
    env = Env(conf())
    try:
        env.start()
        desk = [env.sign_in_held("tptest-desktop", USER, tty=f"tty{i}") for i in (1, 2)]
        ssh_proc, ssh = env.sign_in_held("tptest-sshd", USER, rhost="127.0.0.1")
        token = desk[0][1]["env"]["TOKENPOLICY_ACCESS_TOKEN"]
        eq(env.ctl("verify", token, "--key", os.path.join(env.state, "signing-key.pub.pem")).returncode, 0,
           "the token verifies before the reload")

        env.write_conf(conf(desktop_access=False))
        p = env.ctl("reload", check_rc=0)
        check("2 running session(s) of disabled client types revoked" in p.stdout + p.stderr,
              f"the reload reports the count: {p.stdout!r} {p.stderr!r}")
        for proc, rep in desk:
            sid = rep["env"]["TOKENPOLICY_SESSION_ID"]
            eq(state_of(env, sid), "revoked", f"desktop session {sid}")
            check(ended(proc), f"the leader of {sid} was ended (on_revoke = terminate)")
            check(wait_for(lambda: len(audit_lines(env, "revoke", sid)) == 1),
                  f"one revoke event for {sid}: {audit_lines(env, 'revoke', sid)}")
            check("sign-in from desktop clients disabled by the administrator"
                  in audit_lines(env, "revoke", sid)[0], "the reason is given")
        eq(state_of(env, ssh["env"]["TOKENPOLICY_SESSION_ID"]), "active", "the ssh session is untouched")
        check(ssh_proc.poll() is None, "the ssh session's leader still runs")
        v = env.ctl("verify", token, "--key", os.path.join(env.state, "signing-key.pub.pem"))
        check(v.returncode != 0, f"a revoked session's token no longer verifies: {v.stdout} {v.stderr}")
        check("client type desktop is disabled: revoked its 2 running session(s)" in env.log_text(),
              "the journal has the count")

        # A second reload finds nothing left to revoke, and says nothing of it.
        p = env.ctl("reload", check_rc=0)
        check("revoked" not in p.stdout, f"nothing more to revoke: {p.stdout!r}")
    finally:
        env.cleanup()


def test_start_with_a_type_disabled_revokes_its_sessions():
    env = Env(conf())
    try:
        env.start()
        proc, rep = env.sign_in_held("tptest-desktop", USER, tty="tty3")
        sid = rep["env"]["TOKENPOLICY_SESSION_ID"]
        env.stop()
        env.write_conf(conf(desktop_access=False))
        env.start()
        eq(state_of(env, sid), "revoked", "revoked at start")
        check(ended(proc), "its leader was ended")
        eq(len(audit_lines(env, "revoke", sid)), 1, "audited once")
    finally:
        env.cleanup()


def test_sighup_reload_reports_the_count_in_the_journal():
    env = Env(conf())
    try:
        env.start()
        proc, _ = env.sign_in_held("tptest-desktop", USER, tty="tty4")
        env.write_conf(conf(desktop_access=False))
        env.proc.send_signal(1)
        check(wait_for(lambda: "1 running session(s) of disabled client types revoked" in env.log_text()),
              f"SIGHUP reload logs the count: {env.log_text()[-1500:]}")
        check(ended(proc), "its leader was ended")
    finally:
        env.cleanup()


def test_revoke_client_reaches_every_user_and_only_root_may():
    env = Env(conf())
    try:
        env.start()
        a = env.sign_in_held("tptest-desktop", USER, tty="tty5")
        b = env.sign_in_held("tptest-desktop", OTHER, tty="tty6")
        s = env.sign_in_held("tptest-sshd", USER, rhost="127.0.0.1")
        p = env.ctl("revoke", "--client", "desktop", user=USER)
        check(p.returncode != 0 and "Only root may revoke every user's desktop sessions" in p.stderr,
              f"a user may not revoke every user's sessions: {p.returncode} {p.stdout} {p.stderr}")
        eq(len([x for x in env.sessions() if x["client"] == "desktop"]), 2, "nothing revoked by the refusal")
        p = env.ctl("revoke", "--client", "desktop", check_rc=0)
        check("Revoked 2 session(s)." in p.stdout, p.stdout)
        for proc, rep in (a, b):
            eq(state_of(env, rep["env"]["TOKENPOLICY_SESSION_ID"]), "revoked", "desktop session revoked")
            check(ended(proc), "its leader was ended")
        eq(state_of(env, s[1]["env"]["TOKENPOLICY_SESSION_ID"]), "active", "ssh untouched")
        check(s[0].poll() is None, "ssh leader runs")
    finally:
        env.cleanup()


def test_revoke_others_keeps_only_the_current_session():
    env = Env(conf())
    try:
        env.start()
        cur = env.sign_in_held("tptest-desktop", USER, tty="tty7")
        rest = [env.sign_in_held("tptest-desktop", USER, tty="tty8"),
                env.sign_in_held("tptest-sshd", USER, rhost="127.0.0.1")]
        theirs = env.sign_in_held("tptest-desktop", OTHER, tty="tty9")
        cur_sid = cur[1]["env"]["TOKENPOLICY_SESSION_ID"]

        p = env.ctl("revoke", "--others", user=USER, env={"PATH": os.environ["PATH"]})
        check(p.returncode != 0 and "TOKENPOLICY_SESSION_ID" in p.stderr,
              f"--others outside a session says why: {p.stderr!r}")
        p = env.ctl("revoke", "--others", "--user", USER, user=USER,
                    env={"PATH": os.environ["PATH"], "TOKENPOLICY_SESSION_ID": cur_sid})
        check(p.returncode != 0, "--others takes no --user")
        # Another user's session id is not the caller's current session.
        p = env.ctl("revoke", "--others", user=USER,
                    env={"PATH": os.environ["PATH"],
                         "TOKENPOLICY_SESSION_ID": theirs[1]["env"]["TOKENPOLICY_SESSION_ID"]})
        check(p.returncode != 0 and "No session" in p.stderr, f"not the caller's: {p.stderr!r}")
        eq(len(env.sessions()), 4, "nothing revoked so far")

        p = env.ctl("revoke", "--others", user=USER,
                    env={"PATH": os.environ["PATH"], "TOKENPOLICY_SESSION_ID": cur_sid})
        eq(p.returncode, 0, f"revoke --others: {p.stdout} {p.stderr}")
        check("Revoked 2 session(s)." in p.stdout, p.stdout)
        eq(state_of(env, cur_sid), "active", "the current session stays")
        check(cur[0].poll() is None, "its leader runs")
        for proc, rep in rest:
            sid = rep["env"]["TOKENPOLICY_SESSION_ID"]
            eq(state_of(env, sid), "revoked", f"other session {sid}")
            check(ended(proc), "its leader was ended")
            check(wait_for(lambda: any("signed out everywhere else by its user" in line
                                       for line in audit_lines(env, "revoke", sid))), "audited with the reason")
        eq(state_of(env, theirs[1]["env"]["TOKENPOLICY_SESSION_ID"]), "active", "another user's stays")
    finally:
        env.cleanup()


GRACE_S = 5  # TP_EVICTION_GRACE_MS in tokenpolicyd/lifecycle.h


def at_the_cap(env):
    """Ten held desktop sessions (the cap), oldest first."""
    held = []
    for i in range(10):
        held.append(env.sign_in_held("tptest-desktop", USER, tty=f"pts/{i}"))
    eq(len(env.sessions()), 10, "at the cap")
    return held


def failing_stack(env, name="tptest-deny"):
    """The module, then a session module that fails: the handle ends in
    failure after the module opened its session."""
    opts = f"socket={env.sock}{env.trust} timeout=3000 client=desktop even_deny_root"
    with open(os.path.join(env.pamdir, name), "w") as f:
        f.write(f"account required {MODULE} {opts}\n")
        f.write(f"session required {MODULE} {opts}\n")
        f.write("session required pam_deny.so\n")


def test_failed_signin_at_the_cap_evicts_nothing():
    env = Env(conf())
    try:
        env.start()
        held = at_the_cap(env)
        failing_stack(env)
        oldest_proc, oldest = held[0]
        oldest_sid = oldest["env"]["TOKENPOLICY_SESSION_ID"]

        out = env.pam("tptest-deny", USER, "acct", "open", tty="pts/99")
        eq(out["results"][0], "PAM_SUCCESS", "account")
        check(out["results"][1] != "PAM_SUCCESS", f"the session stack failed: {out}")
        new = [s for s in env.sessions("--all") if s["tty"] == "pts/99"]
        eq([s["state"] for s in new], ["closed"], "the failed sign-in's session is closed")
        eq(state_of(env, oldest_sid), "active", "the oldest session is active again")
        eq(len(env.sessions()), 10, "still at the cap, never above it")
        check(len(audit_lines(env, "evict", oldest_sid)) == 1, "the eviction was recorded")
        check(wait_for(lambda: len(audit_lines(env, "reinstate", oldest_sid)) == 1), "and undone, audited")
        check(wait_for(lambda: len(audit_lines(env, "signin-failed", new[0]["id"])) == 1),
              "the failed sign-in is audited")
        # Past the grace, nothing acts on the reinstated session.
        time.sleep(GRACE_S + 2)
        check(oldest_proc.poll() is None, "the oldest session's leader is alive")
        eq(state_of(env, oldest_sid), "active", "the oldest session stays active")
        check(not [line for line in env.log_text().splitlines()
                   if "audit: event=enforce " in line and oldest_sid in line], "never enforced")
    finally:
        env.cleanup()


def test_completed_signin_at_the_cap_evicts_the_oldest():
    env = Env(conf())
    try:
        env.start()
        held = at_the_cap(env)
        # A handle that stays open (a running login): the oldest is
        # revoked at once and ended after the grace.
        env.sign_in_held("tptest-desktop", USER, tty="pts/97")
        eq(state_of(env, held[0][1]["env"]["TOKENPOLICY_SESSION_ID"]), "revoked", "oldest revoked")
        check(ended(held[0][0]), "its leader was ended after the grace")
        # A handle that ends with success at once: the eviction is enforced
        # then (the session it opened is a ghost after that, its leader gone).
        out = env.pam("tptest-desktop", USER, "acct", "open", tty="pts/98")
        eq(out["results"], ["PAM_SUCCESS", "PAM_SUCCESS"], "sign-in")
        eq(state_of(env, held[1][1]["env"]["TOKENPOLICY_SESSION_ID"]), "revoked", "next oldest revoked")
        check(ended(held[1][0]), "the next oldest session's leader was ended")
        check(held[2][0].poll() is None, "the others run on")
    finally:
        env.cleanup()


def test_locked_or_expired_account_cannot_sign_in():
    env = Env(conf())
    try:
        env.start()
        subprocess.run(["usermod", "-p", "$6$tptest$x", USER], check=True, capture_output=True)
        try:
            subprocess.run(["usermod", "-L", USER], check=True, capture_output=True)
            out = env.pam("tptest-desktop", USER, "acct", "open")
            eq(out["results"], ["PAM_PERM_DENIED"], f"locked: refused at the account check: {out}")
            check(any(f"The account {USER} is locked" in e for e in out["errors"]), f"says why: {out}")
            out = env.pam("tptest-desktop", USER, "open")
            eq(out["results"], ["PAM_SESSION_ERR"], "locked: no session either")
            check(any("deny" in line and "reason=\"account is locked\"" in line
                      for line in env.log_text().splitlines()), "audited with the reason")
            subprocess.run(["usermod", "-U", "--expiredate", "1970-01-02", USER], check=True, capture_output=True)
            out = env.pam("tptest-desktop", USER, "acct", "open")
            eq(out["results"], ["PAM_PERM_DENIED"], "expired: refused")
            check(any(f"The account {USER} has expired" in e for e in out["errors"]), f"says why: {out}")
            eq(env.sessions("--all", "--user", USER), [], "no session was opened")
            subprocess.run(["usermod", "--expiredate", "", USER], check=True, capture_output=True)
            out = env.pam("tptest-desktop", USER, "acct", "open")
            eq(out["results"], ["PAM_SUCCESS", "PAM_SUCCESS"], "valid again: signs in")
        finally:
            subprocess.run(["usermod", "-p", "!", "--expiredate", "", USER], capture_output=True)
    finally:
        env.cleanup()


def test_account_files_are_read_again_only_after_they_change():
    """Sign-ins read /etc/passwd and /etc/shadow once, then from the copy
    the daemon keeps; a change to either file is seen by the very next
    request (the lock refuses it), and the files are read again."""
    env = Env(conf())
    try:
        env.start()
        subprocess.run(["usermod", "-p", "$6$tptest$x", USER], check=True, capture_output=True)
        try:
            eq(env.pam("tptest-desktop", USER, "acct")["results"], ["PAM_SUCCESS"], "signs in")

            def reads(action):
                lines = trace_daemon(env, "trace=openat", action)
                return [line for line in lines if '"/etc/passwd"' in line or '"/etc/shadow"' in line]
            opened = reads(lambda: env.pam("tptest-desktop", USER, "acct", "open", "close"))
            eq(opened, [], "nothing changed: the files are not read")

            def lock_and_try():
                subprocess.run(["usermod", "-L", USER], check=True, capture_output=True)
                out = env.pam("tptest-desktop", USER, "acct")
                eq(out["results"], ["PAM_PERM_DENIED"], f"locked: the next request is refused: {out}")
            opened = reads(lock_and_try)
            check(any("/etc/shadow" in line for line in opened), f"read again after the change: {opened}")
        finally:
            subprocess.run(["usermod", "-p", "!", "--expiredate", "", USER], capture_output=True)
        eq(env.pam("tptest-desktop", USER, "acct")["results"], ["PAM_SUCCESS"], "unlocked: signs in")
    finally:
        env.cleanup()


def test_locking_an_account_ends_its_running_sessions():
    env = Env(conf())
    try:
        env.start()
        mine = [env.sign_in_held("tptest-desktop", USER, tty="tty20"),
                env.sign_in_held("tptest-sshd", USER, rhost="127.0.0.1")]
        theirs = env.sign_in_held("tptest-desktop", OTHER, tty="tty21")
        subprocess.run(["usermod", "-p", "$6$tptest$x", USER], check=True, capture_output=True)
        try:
            subprocess.run(["usermod", "-L", USER], check=True, capture_output=True)
            for proc, rep in mine:
                sid = rep["env"]["TOKENPOLICY_SESSION_ID"]
                check(wait_for(lambda: state_of(env, sid) == "revoked", timeout=20),
                      f"session {sid} of the locked account revoked: {env.log_text()[-1500:]}")
                check(ended(proc), "its leader was ended")
                check(any('reason="account is locked"' in line for line in audit_lines(env, "revoke", sid)),
                      "audited with the reason")
            eq(state_of(env, theirs[1]["env"]["TOKENPOLICY_SESSION_ID"]), "active", "another account's stays")
            check(theirs[0].poll() is None, "and its leader runs")
            check(f"the account {USER} is locked: revoked its 2 running session(s)" in env.log_text(),
                  "the journal has the count")
        finally:
            subprocess.run(["usermod", "-p", "!", "--expiredate", "", USER], capture_output=True)
        # Expired while the daemon was down: revoked at start.
        proc, rep = env.sign_in_held("tptest-desktop", OTHER, tty="tty22")
        env.stop()
        subprocess.run(["usermod", "--expiredate", "1970-01-02", OTHER], check=True, capture_output=True)
        try:
            env.start()
            eq(state_of(env, rep["env"]["TOKENPOLICY_SESSION_ID"]), "revoked", "expired account: revoked at start")
            check(ended(proc), "its leader was ended")
        finally:
            subprocess.run(["usermod", "--expiredate", "", OTHER], capture_output=True)
    finally:
        env.cleanup()


def test_password_change_revokes_where_the_policy_says():
    """on_password_change = "revoke" for ssh, the default "none" for
    desktop: a changed password ends the ssh session within seconds and
    keeps the desktop one; another change to the account (its comment) is
    no password change; a sign-in with the new password stays; no file of
    the daemon's holds the hash."""
    env = Env(config_text(clients={"desktop": {"services": ["tptest-desktop"]},
                                   "ssh": {"services": ["tptest-sshd"], "on_password_change": "revoke"}}))
    subprocess.run(["usermod", "-p", "$6$tptest$old", USER], check=True, capture_output=True)
    try:
        env.start()
        desk = env.sign_in_held("tptest-desktop", USER, tty="tty23")
        ssh = env.sign_in_held("tptest-sshd", USER, rhost="127.0.0.1")
        ssh_sid = ssh[1]["env"]["TOKENPOLICY_SESSION_ID"]
        desk_sid = desk[1]["env"]["TOKENPOLICY_SESSION_ID"]
        # Locking revokes every type, as before; unlocking is no password
        # change for the sessions signed in after it.
        subprocess.run(["usermod", "-L", USER], check=True, capture_output=True)
        check(wait_for(lambda: state_of(env, ssh_sid) == "revoked", timeout=20), "locking still revokes")
        subprocess.run(["usermod", "-U", USER], check=True, capture_output=True)
        ssh = env.sign_in_held("tptest-sshd", USER, rhost="127.0.0.1")
        ssh_sid = ssh[1]["env"]["TOKENPOLICY_SESSION_ID"]
        desk = env.sign_in_held("tptest-desktop", USER, tty="tty24")
        desk_sid = desk[1]["env"]["TOKENPOLICY_SESSION_ID"]
        subprocess.run(["usermod", "-c", "tptest comment", USER], check=True, capture_output=True)
        time.sleep(2)  # a change to /etc/passwd that is not the password
        eq(state_of(env, ssh_sid), "active", "another change to the account ends nothing")
        # The password changes.
        subprocess.run(["usermod", "-p", "$6$tptest$new", USER], check=True, capture_output=True)
        check(wait_for(lambda: state_of(env, ssh_sid) == "revoked", timeout=20),
              f"the ssh session ends: {env.log_text()[-1500:]}")
        check(ended(ssh[0]), "its leader was ended")
        check(any('reason="password changed"' in line for line in audit_lines(env, "revoke", ssh_sid)),
              "audited with the reason")
        eq(state_of(env, desk_sid), "active", "the desktop session (on_password_change none) stays")
        check(desk[0].poll() is None, "and its leader runs")
        check(f"the password of {USER} was changed: revoked its 1 running session(s)" in env.log_text(),
              "the journal says so")
        # Signed in again with the new password: it stays.
        again = env.sign_in_held("tptest-sshd", USER, rhost="127.0.0.1")
        time.sleep(2)
        eq(state_of(env, again[1]["env"]["TOKENPOLICY_SESSION_ID"]), "active", "the new sign-in stays")
        # Nothing of the password in the daemon's files.
        for root, _, files in os.walk(env.dir):
            for f in files:
                path = os.path.join(root, f)
                try:
                    data = open(path, "rb").read()
                except OSError:
                    continue
                check(b"tptest$new" not in data and b"tptest$old" not in data, f"{path} holds no hash")
    finally:
        subprocess.run(["usermod", "-p", "!", "-c", "", USER], capture_output=True)
        env.cleanup()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    sys.exit(run_with_users(TESTS, [USER, OTHER], lock_name="reach-users"))
