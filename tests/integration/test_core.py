#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Integration tests for the core: real libpam, real daemon, real SQLite.

Each row of docs/product.md §3 (access check, sign-in, re-authentication,
silent refresh, sign-out, admin revoke), the cap with every evict mode, reload,
restart, token verification by an independent verifier, and the rights of
a non-root peer. Needs root to create the test users (tptest-*), which it
removes again.
"""
import base64
import json
import os
import pwd
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import (run_with_users, CTL, DAEMON, MODULE, PY, ROOT, SHIPPED_CONF, TP_PAM, Env, TestFailure,  # noqa: E402
                   check, config_text, eq, run_tests, wait_for, with_env)

ALICE, BOB = "tptest-alice", "tptest-bob"
VERIFY = os.path.join(ROOT, "tests", "integration", "verify_jwt.py")
HOUR = 3600






def by_id(sessions):
    return {s["id"]: s for s in sessions}


def decode_jwt(token):
    parts = token.split(".")
    eq(len(parts), 3, "JWT parts")

    def b64(s):
        return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    return b64(parts[0]), b64(parts[1])


def cap_conf(evict, cap=10, **extra):
    keys = {"services": ["tptest-desktop"], "max_refresh_tokens": cap, "evict": evict}
    keys.update(extra)
    return config_text(clients={"desktop": keys, "web": {"services": ["tptest-web"], "access": False}})


# -- access check ---------------------------------------------------------

@with_env()
def test_denied_client_type_message(env):
    r = env.pam("tptest-web", ALICE, "acct", "open")
    eq(r["results"], ["PAM_PERM_DENIED"], "web acct")
    eq(r["errors"], ["Sign-in from web clients is disabled by your administrator."], "message")
    eq(env.sessions("--all"), [], "no session recorded for a denied sign-in")
    check("event=deny" in env.log_text() and "client type disabled" in env.log_text(), "deny audited")


@with_env()
def test_open_without_acct_still_denied(env):
    r = env.pam("tptest-web", ALICE, "open")
    eq(r["results"], ["PAM_SESSION_ERR"], "web open")
    eq(r["errors"], ["Sign-in from web clients is disabled by your administrator."], "message")


@with_env()
def test_unmapped_service_denied_by_unknown_client(env):
    r = env.pam("tptest-other", ALICE, "acct")
    eq(r["results"], ["PAM_PERM_DENIED"], "unmapped service")
    check("unknown clients are denied" in r["errors"][0], r["errors"])


@with_env()
def test_unmapped_ignore_leaves_other_services_alone(env):
    # As in the pam-auth-update profile: the module is in every stack, and
    # services of no client type (su, cron...) are simply not its business.
    with open(os.path.join(env.pamdir, "tptest-other"), "w") as f:
        f.write("account required pam_permit.so\n")
        f.write(f"account required {MODULE} socket={env.sock}{env.trust} unmapped=ignore\n")
        f.write("session required pam_permit.so\n")
        f.write(f"session required {MODULE} socket={env.sock}{env.trust} unmapped=ignore\n")
    r = env.pam("tptest-other", ALICE, "acct", "open")
    eq(r["results"], ["PAM_SUCCESS", "PAM_SUCCESS"], "unmapped service ignored")
    eq(r["errors"], [], "no message")
    eq(env.sessions("--all"), [], "and no session recorded")
    env.pam_service("tptest-web", args="unmapped=ignore")
    eq(env.pam("tptest-web", ALICE, "acct")["results"], ["PAM_PERM_DENIED"], "a mapped, disabled type still denies")


def test_unknown_client_names_a_type():
    env = Env(config_text(unknown='"mobile"'))
    try:
        env.start()
        r = env.sign_in("tptest-other", ALICE)
        eq(r["env"]["TOKENPOLICY_CLIENT"], "mobile", "unknown_client type")
    finally:
        env.cleanup()


@with_env()
def test_client_argument_overrides_service(env):
    env.pam_service("tptest-other", args="client=ssh")
    r = env.sign_in("tptest-other", ALICE)
    eq(r["env"]["TOKENPOLICY_CLIENT"], "ssh", "client= argument")
    env.pam_service("tptest-other", args="client=nosuchtype")
    r = env.pam("tptest-other", ALICE, "acct")
    eq(r["results"], ["PAM_PERM_DENIED"], "undefined client=")
    check("nosuchtype" in r["errors"][0], r["errors"])


# -- sign-in ----------------------------------------------------------------

@with_env()
def test_sign_in_exports_tokens(env):
    r = env.sign_in("tptest-desktop", ALICE, rhost="192.0.2.7")
    e = r["env"]
    eq(sorted(e), ["TOKENPOLICY_ACCESS_TOKEN", "TOKENPOLICY_CLIENT", "TOKENPOLICY_SESSION_ID"], "exported")
    eq(e["TOKENPOLICY_CLIENT"], "desktop", "client")
    check(len(e["TOKENPOLICY_SESSION_ID"]) == 32, "session id is 32 hex")
    header, claims = decode_jwt(e["TOKENPOLICY_ACCESS_TOKEN"])
    eq(header["alg"], "EdDSA", "alg")
    eq(claims["sub"], ALICE, "sub")
    eq(claims["uid"], pwd.getpwnam(ALICE).pw_uid, "uid")
    eq(claims["sid"], e["TOKENPOLICY_SESSION_ID"], "sid")
    eq(claims["client"], "desktop", "client claim")
    eq(claims["exp"] - claims["iat"], 720 * 60, "access TTL")
    [s] = env.sessions()
    eq(s["id"], e["TOKENPOLICY_SESSION_ID"], "listed")
    eq(s["state"], "active", "state")
    eq(s["rhost"], "192.0.2.7", "rhost")
    eq(s["refresh_expires"] - s["created"], 336 * HOUR, "refresh TTL")
    # The refresh token is a secret: nowhere in the environment or the log.
    check("refresh" not in json.dumps(e).lower(), "no refresh token exported")


@with_env()
def test_jwt_verified_independently_and_tampering_rejected(env):
    token = env.sign_in("tptest-desktop", ALICE)["env"]["TOKENPOLICY_ACCESS_TOKEN"]
    pub = os.path.join(env.state, "signing-key.pub.pem")
    jwks = os.path.join(env.state, "jwks.json")
    eq(os.stat(os.path.join(env.state, "signing-key.pem")).st_mode & 0o777, 0o600, "key mode")
    p = subprocess.run([PY, VERIFY, pub, token], capture_output=True, text=True)
    eq(p.returncode, 0, f"verify with PEM: {p.stderr}")
    eq(json.loads(p.stdout)["sub"], ALICE, "verified claims")
    p = subprocess.run([PY, VERIFY, "--jwks", jwks, token], capture_output=True, text=True)
    eq(p.returncode, 0, f"verify with JWKS: {p.stderr}")
    h, c, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)))
    claims["sub"] = "root"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    none_hdr = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    for bad in (f"{h}.{forged}.{sig}", f"{h}.{c}.{flipped}", f"{none_hdr}.{c}.", f"{none_hdr}.{c}.{sig}"):
        p = subprocess.run([PY, VERIFY, pub, bad], capture_output=True, text=True)
        eq(p.returncode, 1, f"tampered token accepted: {bad[:60]}")
        p = subprocess.run([CTL, "verify", bad, "--key", pub], capture_output=True, text=True)
        eq(p.returncode, 1, f"tokenpolicyctl verify accepted a tampered token: {p.stdout}")
    p = subprocess.run([CTL, "verify", token, "--key", pub], capture_output=True, text=True)
    eq(p.returncode, 0, f"tokenpolicyctl verify rejected a good token: {p.stderr}")


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_verify_rejects_foreign_forged_and_expired_tokens():
    import hashlib
    import hmac
    env, other = Env(), Env()
    try:
        env.start()
        other.start()
        env.set_offset(-24 * HOUR)  # a token of ours that expired long ago
        expired = env.sign_in("tptest-desktop", BOB)["env"]["TOKENPOLICY_ACCESS_TOKEN"]
        env.set_offset(0)
        token = env.sign_in("tptest-desktop", ALICE)["env"]["TOKENPOLICY_ACCESS_TOKEN"]
        fresh_foreign = other.sign_in("tptest-desktop", BOB)["env"]["TOKENPOLICY_ACCESS_TOKEN"]
        pub = os.path.join(env.state, "signing-key.pub.pem")
        with open(pub, "rb") as f:
            pem = f.read()
        h, c, sig = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)))
        hs_hdr = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        hs_sig = b64url(hmac.new(pem, f"{hs_hdr}.{c}".encode(), hashlib.sha256).digest())
        changed = b64url(json.dumps({**claims, "client": "ssh"}).encode())
        cases = {
            "signed by another daemon's key": fresh_foreign,
            "expired": expired,
            "alg none": b64url(b'{"alg":"none","typ":"JWT"}') + f".{c}.",
            "alg HS256 keyed with the public key": f"{hs_hdr}.{c}.{hs_sig}",
            "a changed claim": f"{h}.{changed}.{sig}",
        }
        for what, bad in cases.items():
            p = subprocess.run([CTL, "verify", bad, "--key", pub, "--offline"], capture_output=True, text=True)
            eq(p.returncode, 1, f"tokenpolicyctl verify accepted a token {what}: {p.stdout}")
            check("invalid token" in p.stderr, f"{what}: {p.stderr}")
            p = subprocess.run([PY, VERIFY, "--jwks", os.path.join(env.state, "jwks.json"), bad],
                               capture_output=True, text=True)
            eq(p.returncode, 1, f"PyJWT accepted a token {what}")
        p = subprocess.run([PY, VERIFY, "--jwks", os.path.join(env.state, "jwks.json"), token],
                           capture_output=True, text=True)
        eq(p.returncode, 0, f"PyJWT with the published JWKS: {p.stderr}")
        p = subprocess.run([CTL, "--socket", env.sock, "verify", token, "--key", pub], capture_output=True,
                           text=True)
        eq(p.returncode, 0, f"the good token: {p.stderr}")
        check("session: active" in p.stdout, p.stdout)
    finally:
        env.cleanup()
        other.cleanup()


@with_env()
def test_sign_out_closes_session(env):
    r = env.pam("tptest-desktop", ALICE, "acct", "open", "close")
    eq(r["results"], ["PAM_SUCCESS"] * 3, "open+close")
    eq(env.sessions(), [], "no active session after sign-out")
    [s] = env.sessions("--all")
    eq(s["state"], "closed", "state after close")
    check(s["ended"] >= s["created"], "ended recorded")


# -- the cap ----------------------------------------------------------------

def run_cap(evict):
    env = Env(cap_conf(evict))
    try:
        env.start()
        ids = []
        for i in range(10):
            env.set_offset(i)  # one second apart, so "oldest" is unambiguous
            ids.append(env.sign_in("tptest-desktop", ALICE, rhost=f"192.0.2.{i + 1}")["env"]
                       ["TOKENPOLICY_SESSION_ID"])
        if evict == "least_recently_used":
            # Use the first session again, more than the 60 s in which a
            # refresh records nothing after its sign-in: the second becomes
            # least recently used.
            env.set_offset(70)
            p = env.ctl("token", env={**os.environ, "TOKENPOLICY_SESSION_ID": ids[0]})
            eq(p.returncode, 0, f"refresh: {p.stderr}")
        env.set_offset(80)
        r = env.pam("tptest-desktop", ALICE, "acct", "open", rhost="192.0.2.11")
        active = by_id(env.sessions())
        every = by_id(env.sessions("--all"))
        return env, ids, r, active, every
    except BaseException:
        env.cleanup()
        raise


def test_cap_evicts_oldest():
    env, ids, r, active, every = run_cap("oldest")
    try:
        eq(r["results"], ["PAM_SUCCESS", "PAM_SUCCESS"], "11th sign-in")
        eq(len(active), 10, "active after 11 sign-ins at cap 10")
        eq(every[ids[0]]["state"], "revoked", "first session")
        check(all(i in active for i in ids[1:]), "the other nine stay active")
        check(any("192.0.2.1 " in m and "signed out" in m for m in r["infos"]), f"user told: {r['infos']}")
        check("event=evict" in env.log_text(), "eviction audited")
    finally:
        env.cleanup()


def test_cap_evicts_least_recently_used():
    env, ids, r, active, every = run_cap("least_recently_used")
    try:
        eq(r["results"], ["PAM_SUCCESS", "PAM_SUCCESS"], "11th sign-in")
        eq(len(active), 10, "active count")
        eq(every[ids[0]]["state"], "active", "recently used first session kept")
        eq(every[ids[1]]["state"], "revoked", "least recently used session")
    finally:
        env.cleanup()


def test_cap_deny_new():
    env, ids, r, active, every = run_cap("deny_new")
    try:
        eq(r["results"], ["PAM_SUCCESS", "PAM_SESSION_ERR"], "11th sign-in refused")
        check("10 active desktop sessions" in r["errors"][0], r["errors"])
        eq(sorted(active), sorted(ids), "the ten stay, nothing added")
        eq(len(every), 10, "nothing half-created")
    finally:
        env.cleanup()


def test_cap_is_per_user_and_client_type():
    env = Env(config_text(clients={"desktop": {"services": ["tptest-desktop"], "max_refresh_tokens": 10},
                                   "ssh": {"services": ["tptest-sshd"], "max_refresh_tokens": 10}}))
    try:
        env.start()
        for _ in range(10):
            env.sign_in("tptest-desktop", ALICE)
        env.sign_in("tptest-sshd", ALICE)
        env.sign_in("tptest-desktop", BOB)
        eq(len(env.sessions("--user", ALICE, "--client", "desktop")), 10, "alice desktop")
        eq(len(env.sessions("--user", ALICE, "--client", "ssh")), 1, "alice ssh")
        eq(len(env.sessions("--user", BOB)), 1, "bob")
        eq(len(env.sessions("--all")), 12, "nothing evicted")
    finally:
        env.cleanup()


def test_lowering_cap_evicts_down_at_next_sign_in():
    env = Env(cap_conf("oldest", cap=20))
    try:
        env.start()
        ids = []
        for i in range(15):
            env.set_offset(i)
            ids.append(env.sign_in("tptest-desktop", ALICE)["env"]["TOKENPOLICY_SESSION_ID"])
        env.write_conf(cap_conf("oldest", cap=10))
        env.ctl("reload", check_rc=0)
        eq(len(env.sessions()), 15, "lowering the cap ends nothing by itself")
        env.set_offset(100)
        env.sign_in("tptest-desktop", ALICE)
        active = by_id(env.sessions())
        eq(len(active), 10, "evicted down to the cap")
        check(all(i not in active for i in ids[:6]), "the six oldest were signed out")
    finally:
        env.cleanup()


# -- re-authentication and refresh ----------------------------------------

def tp_pam(env, user, *ops, service="tptest-desktop", pam_env=(), proc_env=None, as_user=None):
    """One PAM transaction in a process of its own: pam_env goes into the
    handle's PAM environment (as an application's pam_putenv), proc_env
    into the process environment (as a caller's under sudo or su)."""
    cmd = [TP_PAM, "--json", "--confdir", env.pamdir, "--service", service, "--user", user]
    for var in pam_env:
        cmd += ["--pam-env", var]
    if as_user:
        cmd = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups", *cmd]
    p = subprocess.run(cmd + list(ops), capture_output=True, text=True, env={**os.environ, **(proc_env or {})})
    try:
        out = env._digest(json.loads(p.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        raise TestFailure(f"tp-pam printed no report: {p.stdout!r} {p.stderr!r}")
    return out


def reauths(env):
    """Re-authentications the daemon recorded (audit lines)."""
    return env.log_text().count("event=reauth")


@with_env()
def test_reauthentication_issues_fresh_refresh_token(env):
    sid = env.sign_in("tptest-desktop", ALICE)["env"]["TOKENPOLICY_SESSION_ID"]
    [before] = env.sessions()
    env.set_offset(100 * HOUR)
    # A screen locker names the session it unlocks in the handle's PAM
    # environment.
    out = tp_pam(env, ALICE, "auth", "reauth", pam_env=[f"TOKENPOLICY_SESSION_ID={sid}"])
    eq(out["results"], ["PAM_SUCCESS", "PAM_SUCCESS"], f"reauth: {out}")
    [after] = env.sessions()
    eq(after["id"], sid, "same session")
    check(after["refresh_expires"] >= before["refresh_expires"] + 100 * HOUR - 5, "new TTL from reauth")
    eq(after["refresh_expires"] - after["last_extended"], 336 * HOUR, "full TTL")
    _, claims = decode_jwt(out["env"]["TOKENPOLICY_ACCESS_TOKEN"])
    eq(claims["sid"], sid, "new access token for the same session")


@with_env()
def test_reauthentication_in_same_handle(env):
    r = env.pam("tptest-desktop", ALICE, "auth", "acct", "open", "reauth", "refresh-cred", "close")
    eq(r["results"], ["PAM_SUCCESS"] * 6, "authenticate, open, reinitialize, refresh, close")


@with_env()
def test_setcred_without_authentication_renews_nothing(env):
    # sudo with NOPASSWD calls pam_setcred(PAM_REINITIALIZE_CRED) without any
    # authentication: that must not extend the user's sign-in.
    sid = env.sign_in("tptest-desktop", ALICE)["env"]["TOKENPOLICY_SESSION_ID"]
    [before] = env.sessions()
    env.set_offset(HOUR)
    out = tp_pam(env, ALICE, "reauth", pam_env=[f"TOKENPOLICY_SESSION_ID={sid}"])
    eq(out["results"], ["PAM_SUCCESS"], "the rest of the stack decides")
    [after] = env.sessions()
    eq(after["refresh_expires"], before["refresh_expires"], "not extended")
    # Nor does a new handle close a session it did not open.
    r = subprocess.run([TP_PAM, "--json", "--confdir",
                        env.pamdir, "--service", "tptest-desktop", "--user", ALICE, "close"],
                       capture_output=True, text=True, env={**os.environ, "TOKENPOLICY_SESSION_ID": sid})
    eq(json.loads(r.stdout)["steps"][0]["result"], "PAM_SUCCESS", "close with nothing to close")
    eq(env.sessions()[0]["state"], "active", "still active")


@with_env()
def test_reauthentication_after_expiry_refused(env):
    sid = env.sign_in("tptest-desktop", ALICE)["env"]["TOKENPOLICY_SESSION_ID"]
    env.set_offset(336 * HOUR)
    out = tp_pam(env, ALICE, "auth", "reauth", pam_env=[f"TOKENPOLICY_SESSION_ID={sid}"])
    # The module answers PAM_CRED_EXPIRED, but libpam runs pam_setcred along
    # the path pam_authenticate froze, where this module said PAM_IGNORE: the
    # unlock itself is decided by the real authentication modules.
    eq([x["result"] for x in out["steps"]], ["PAM_SUCCESS", "PAM_SUCCESS"], "libpam's frozen chain")
    check("sign in again" in out["messages"][0]["text"], out["messages"])
    check("TOKENPOLICY_ACCESS_TOKEN" not in out["env"], "no new token for an expired session")
    [s] = env.sessions("--all")
    eq(s["state"], "expired", "not revived")


@with_env()
def test_reauthentication_after_scheduled_expiry_says_the_same(env):
    # The daemon's timer marks the session expired before the unlock comes:
    # the user reads what pam_tokenpolicy(8) documents, as when the unlock
    # is the first to notice.
    sid = env.sign_in("tptest-desktop", ALICE)["env"]["TOKENPOLICY_SESSION_ID"]
    env.set_offset(336 * HOUR + 5)
    check(wait_for(lambda: env.sessions("--all")[0]["state"] == "expired"), "expired by the timer")
    out = tp_pam(env, ALICE, "auth", "reauth", pam_env=[f"TOKENPOLICY_SESSION_ID={sid}"])
    eq(out["messages"][0]["text"], "Your desktop sign-in has expired; sign in again.", "documented text")
    check("TOKENPOLICY_ACCESS_TOKEN" not in out["env"], "no new token for an expired session")
    p = refresh(env, sid, user=ALICE)
    eq(p.returncode, 1, p.stderr)
    check("your sign-in has expired; sign in again" in p.stderr, p.stderr)


@with_env()
def test_reauth_never_takes_the_session_from_the_process_environment(env):
    # Under sudo or su the process environment is the caller's: it may name
    # any session. Only this handle's own session, or one its PAM
    # environment names, is renewed.
    sid = env.sign_in("tptest-desktop", BOB)["env"]["TOKENPOLICY_SESSION_ID"]
    [before] = env.sessions()
    env.set_offset(HOUR)
    out = tp_pam(env, BOB, "auth", "reauth", proc_env={"TOKENPOLICY_SESSION_ID": sid})
    eq(out["results"], ["PAM_SUCCESS", "PAM_SUCCESS"], f"the stack itself succeeds: {out}")
    eq(env.sessions()[0]["refresh_expires"], before["refresh_expires"], "not renewed")
    eq(reauths(env), 0, "no re-authentication recorded")


@with_env()
def test_sudo_caller_cannot_renew_the_target_users_session(env):
    # "sudo -u bob" as alice: alice authenticates, sudo sets PAM_USER to bob
    # and calls pam_setcred(PAM_REINITIALIZE_CRED) as root. Bob's session id
    # reaches the handle through alice's environment or the PAM environment.
    sid = env.sign_in("tptest-desktop", BOB)["env"]["TOKENPOLICY_SESSION_ID"]
    [before] = env.sessions()
    env.set_offset(HOUR)
    for vector in ({"proc_env": {"TOKENPOLICY_SESSION_ID": sid}},
                   {"pam_env": [f"TOKENPOLICY_SESSION_ID={sid}"]}):
        out = tp_pam(env, ALICE, "auth", f"user={BOB}", "reauth", **vector)
        eq(out["results"], ["PAM_SUCCESS"] * 3, f"{vector}: {out}")
        eq(env.sessions()[0]["refresh_expires"], before["refresh_expires"], f"{vector}: bob's session not renewed")
        check("TOKENPOLICY_ACCESS_TOKEN" not in out["env"], f"{vector}: no token of bob's for alice's handle")
    eq(reauths(env), 0, "no re-authentication recorded")


@with_env()
def test_reauth_of_another_users_session_is_refused(env):
    # PAM_USER is alice and alice authenticated, but the handle's PAM
    # environment names bob's session: the daemon checks whose it is.
    sid = env.sign_in("tptest-desktop", BOB)["env"]["TOKENPOLICY_SESSION_ID"]
    [before] = env.sessions()
    env.set_offset(HOUR)
    out = tp_pam(env, ALICE, "auth", "reauth", pam_env=[f"TOKENPOLICY_SESSION_ID={sid}"])
    eq(env.sessions()[0]["refresh_expires"], before["refresh_expires"], "not renewed")
    check("TOKENPOLICY_ACCESS_TOKEN" not in out["env"], "no token")
    eq(reauths(env), 0, "no re-authentication recorded")


@with_env()
def test_one_authentication_renews_once_and_a_failed_one_nothing(env):
    # Debian's common-auth shape, with a password check that passes once
    # and fails after, and the module's auth line where pam_tokenpolicy(8)
    # puts it: reached only after a successful check. A renewal needs an
    # authentication of its own: a second pam_setcred (an application that
    # refreshes credentials on a timer) renews nothing, nor does one after
    # a failed pam_authenticate of the same handle.
    check_script = os.path.join(env.dir, "password-check")
    with open(check_script, "w") as f:
        f.write(f'#!/bin/sh\n[ ! -e "{check_script}.used" ] && : > "{check_script}.used"\n')
    os.chmod(check_script, 0o755)
    opts = f"socket={env.sock}{env.trust} even_deny_root"
    with open(os.path.join(env.pamdir, "tptest-desktop"), "w") as f:
        f.write(f"auth [success=1 default=ignore] pam_exec.so quiet {check_script}\n")
        f.write("auth requisite pam_deny.so\n")
        f.write("auth required pam_permit.so\n")
        f.write(f"auth optional {MODULE} {opts}\n")
        f.write(f"account required {MODULE} {opts}\n")
        f.write(f"session required {MODULE} {opts}\n")
    out = tp_pam(env, ALICE, "auth", "acct", "open", "reauth", "refresh-cred", "auth", "reauth", "close")
    eq(out["results"][:5], ["PAM_SUCCESS"] * 5, f"authenticated, signed in, renewed: {out}")
    eq(out["results"][5], "PAM_AUTH_ERR", f"the second authentication failed: {out}")
    eq(reauths(env), 1, "renewed once, after the good authentication")


def refresh(env, sid, user=None):
    return env.ctl("token", user=user, env={**os.environ, "TOKENPOLICY_SESSION_ID": sid})


def test_refresh_without_auto_extend_keeps_absolute_expiry():
    env = Env(config_text(clients={"desktop": {"services": ["tptest-desktop"], "refresh_token_ttl_hours": 24}}))
    try:
        env.start()
        sid = env.sign_in("tptest-desktop", ALICE)["env"]["TOKENPOLICY_SESSION_ID"]
        [s0] = env.sessions()
        env.set_offset(24 * HOUR - 60)
        p = refresh(env, sid, user=ALICE)
        eq(p.returncode, 0, f"refresh before expiry: {p.stderr}")
        _, claims = decode_jwt(p.stdout.strip())
        eq(claims["exp"], s0["refresh_expires"], "access token clamped to the refresh expiry")
        [s1] = env.sessions()
        eq(s1["refresh_expires"], s0["refresh_expires"], "expiry unchanged without auto-extend")
        env.set_offset(24 * HOUR + 1)
        p = refresh(env, sid, user=ALICE)
        eq(p.returncode, 1, "refresh after expiry")
        check("sign in again" in p.stderr, p.stderr)
        [s2] = env.sessions("--all")
        eq(s2["state"], "expired", "marked expired")
    finally:
        env.cleanup()


def test_refresh_with_auto_extend_slides_expiry():
    env = Env(config_text(clients={"desktop": {"services": ["tptest-desktop"], "refresh_token_ttl_hours": 24,
                                               "auto_extend_refresh_token": True}}))
    try:
        env.start()
        sid = env.sign_in("tptest-desktop", ALICE)["env"]["TOKENPOLICY_SESSION_ID"]
        [s0] = env.sessions()
        env.set_offset(24 * HOUR - 60)
        p = refresh(env, sid, user=ALICE)
        eq(p.returncode, 0, f"refresh: {p.stderr}")
        [s1] = env.sessions()
        check(s1["refresh_expires"] >= s0["refresh_expires"] + 24 * HOUR - 65, "expiry slid forward")
        eq(s1["refresh_expires"] - s1["last_extended"], 24 * HOUR, "fresh TTL")
        env.set_offset(24 * HOUR + 60)  # past the original expiry
        p = refresh(env, sid, user=ALICE)
        eq(p.returncode, 0, f"still valid past the original expiry: {p.stderr}")
        env.set_offset(24 * HOUR + 60 + 24 * HOUR + 1)  # idle longer than a TTL
        p = refresh(env, sid, user=ALICE)
        eq(p.returncode, 1, "an idle session still expires")
        # A locked or expired account gets no new token, even with auto-extend.
        env.set_offset(0)
        sid2 = env.sign_in("tptest-desktop", BOB)["env"]["TOKENPOLICY_SESSION_ID"]
        subprocess.run(["usermod", "-p", "$6$tptest$x", BOB], check=True, capture_output=True)
        try:
            eq(refresh(env, sid2).returncode, 0, "valid account refreshes")
            subprocess.run(["usermod", "-L", BOB], check=True, capture_output=True)
            p = refresh(env, sid2)
            eq(p.returncode, 1, "locked account refused")
            check("account" in p.stderr, p.stderr)
            subprocess.run(["usermod", "-U", BOB], check=True, capture_output=True)
            eq(refresh(env, sid2).returncode, 0, "unlocked account refreshes again")
            subprocess.run(["usermod", "--expiredate", "1970-01-02", BOB], check=True, capture_output=True)
            eq(refresh(env, sid2).returncode, 1, "expired account refused")
        finally:
            subprocess.run(["usermod", "-p", "!", "--expiredate", "", BOB], capture_output=True)
    finally:
        env.cleanup()


# -- reload, restart --------------------------------------------------------

def test_reload_keeps_running_expiry_and_applies_new_ttl():
    env = Env(config_text(clients={"desktop": {"services": ["tptest-desktop"], "refresh_token_ttl_hours": 336}}))
    try:
        env.start()
        old = env.sign_in("tptest-desktop", ALICE)["env"]["TOKENPOLICY_SESSION_ID"]
        env.write_conf(config_text(clients={"desktop": {"services": ["tptest-desktop"],
                                                        "refresh_token_ttl_hours": 24}}))
        p = env.ctl("reload", check_rc=0)
        check("reloaded" in p.stdout.lower(), p.stdout)
        new = env.sign_in("tptest-desktop", ALICE)["env"]["TOKENPOLICY_SESSION_ID"]
        s = by_id(env.sessions())
        eq(s[old]["refresh_expires"] - s[old]["created"], 336 * HOUR, "running session keeps its expiry")
        eq(s[new]["refresh_expires"] - s[new]["created"], 24 * HOUR, "new TTL at the next issuance")
    finally:
        env.cleanup()


@with_env()
def test_bad_reload_keeps_running_policy(env):
    before = env.ctl("policy", "--json", check_rc=0).stdout
    env.write_conf("version = 1;\nclients = { desktop = { max_refresh_tokens = 5; }; };\n")
    p = env.ctl("reload")
    eq(p.returncode, 1, "bad reload fails")
    check(f"{env.conf}:2:" in p.stderr and "out of range" in p.stderr, p.stderr)
    eq(env.ctl("policy", "--json", check_rc=0).stdout, before, "policy unchanged")
    env.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    check(env.proc.poll() is None, "SIGHUP with a bad file does not stop the daemon")
    env.sign_in("tptest-desktop", ALICE)
    check("running policy was kept" in env.log_text(), "reported")


@with_env()
def test_restart_keeps_every_session(env):
    for i in range(5):
        env.sign_in("tptest-desktop", ALICE)
    env.sign_in("tptest-sshd", BOB)
    before = env.sessions("--all")
    env.restart()
    eq(env.sessions("--all"), before, "after a clean restart")
    env.stop(signal.SIGKILL)
    env.start()
    eq(env.sessions("--all"), before, "after SIGKILL")
    r = env.pam("tptest-desktop", ALICE, "close")  # nothing to close in a new handle: success
    eq(r["results"], ["PAM_SUCCESS"], "close without a session")


def test_detached_daemon_keeps_its_locks_and_sessions():
    env = Env()
    try:
        p = subprocess.run([DAEMON, "--config", env.conf, "--socket", env.sock, "--state-dir", env.state],
                           capture_output=True, text=True, timeout=30, env=env.daemon_env())
        eq(p.returncode, 0, f"detached start: {p.stderr}")
        pid = int(env.ctl("status", check_rc=0).stdout.split("pid:")[1].split()[0])
        # Another process opening and closing the database must not take the
        # WAL away from the daemon: it can only tell the daemon is there by
        # the daemon's locks.
        import sqlite3
        db = sqlite3.connect(f"{env.state}/sessions.db")
        eq(db.execute("select count(*) from sessions").fetchone()[0], 0, "empty store")
        db.close()
        for _ in range(3):
            env.sign_in("tptest-desktop", ALICE)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        env.start()
        eq(len(env.sessions()), 3, "every acknowledged sign-in survived")
        # A state directory that never saw a valid configuration: nothing
        # to fall back on.
        p = subprocess.run([DAEMON, "--config", env.conf + ".missing", "--socket", env.sock + "2",
                            "--state-dir", os.path.join(env.dir, "state2")], capture_output=True, text=True,
                           timeout=30)
        eq(p.returncode, 1, "a failed detached start reports failure")
        check(".missing" in p.stderr, p.stderr)
    finally:
        env.cleanup()


def test_bad_config_at_start_is_fatal():
    env = Env("version = 1;\nclients = { desktop = { refresh_token_ttl_hours = 23; }; };\n")
    try:
        env.start(wait=False)
        rc = env.proc.wait(timeout=20)
        eq(rc, 1, "exit status")
        check(f"{env.conf}:2:" in env.log_text(), env.log_text())
        env.proc = None
        env.logf.close()
        p = subprocess.run([DAEMON, "--check-config", env.conf], capture_output=True, text=True)
        eq(p.returncode, 1, "--check-config bad")
        p = subprocess.run([DAEMON, "--check-config", SHIPPED_CONF], capture_output=True, text=True)
        eq(p.returncode, 0, f"--check-config shipped: {p.stderr}")
    finally:
        env.cleanup()


# -- rights -------------------------------------------------------------------

@with_env()
def test_non_root_peer_sees_and_revokes_only_own_sessions(env):
    a = env.sign_in("tptest-desktop", ALICE)["env"]["TOKENPOLICY_SESSION_ID"]
    b = env.sign_in("tptest-desktop", BOB)["env"]["TOKENPOLICY_SESSION_ID"]
    mine = env.sessions(user=BOB)
    eq([s["id"] for s in mine], [b], "bob lists only his own")
    p = env.ctl("sessions", "--user", ALICE, user=BOB)
    eq(p.returncode, 1, "bob cannot list alice")
    p = env.ctl("revoke", a, user=BOB)
    eq(p.returncode, 1, "bob cannot revoke alice's session")
    p = env.ctl("revoke", "--user", ALICE, user=BOB)
    eq(p.returncode, 1, "bob cannot revoke alice's sessions by user")
    p = refresh(env, a, user=BOB)
    eq(p.returncode, 1, "bob cannot refresh alice's session")
    p = env.ctl("reload", user=BOB)
    eq(p.returncode, 1, "bob cannot reload")
    eq(by_id(env.sessions())[a]["state"], "active", "alice's session untouched")
    # Through the PAM module as a non-root process: no sessions created.
    r = subprocess.run(["setpriv", f"--reuid={BOB}", f"--regid={BOB}", "--clear-groups",
                        TP_PAM, "--json", "--confdir",
                        env.pamdir, "--service", "tptest-desktop", "--user", ALICE, "open"],
                       capture_output=True, text=True)
    eq(json.loads(r.stdout)["steps"][0]["result"], "PAM_SESSION_ERR", "non-root open refused")
    eq(len(env.sessions("--all")), 2, "nothing created")
    p = env.ctl("revoke", b, user=BOB)
    eq(p.returncode, 0, f"bob may revoke his own: {p.stderr}")


@with_env()
def test_screen_locker_as_user_extends_nothing(env):
    sid = env.sign_in("tptest-desktop", BOB)["env"]["TOKENPOLICY_SESSION_ID"]
    [before] = env.sessions()
    with open(os.path.join(env.pamdir, "tptest-locker"), "w") as f:
        f.write("auth required pam_permit.so\n")
        f.write(f"auth required {MODULE} socket={env.sock}{env.trust}\n")
    env.set_offset(HOUR)
    out = tp_pam(env, BOB, "auth", "reauth", service="tptest-locker", as_user=BOB,
                 pam_env=[f"TOKENPOLICY_SESSION_ID={sid}"])
    eq(out["results"], ["PAM_SUCCESS", "PAM_SUCCESS"], "unlock still works")
    [after] = env.sessions()
    eq(after["refresh_expires"], before["refresh_expires"], "a user cannot extend their own session")


@with_env()
def test_admin_revoke(env):
    a1 = env.sign_in("tptest-desktop", ALICE)["env"]["TOKENPOLICY_SESSION_ID"]
    env.sign_in("tptest-sshd", ALICE)
    env.sign_in("tptest-desktop", ALICE)
    b = env.sign_in("tptest-desktop", BOB)["env"]["TOKENPOLICY_SESSION_ID"]
    p = env.ctl("revoke", a1, check_rc=0)
    check("1" in p.stdout, p.stdout)
    eq(by_id(env.sessions("--all"))[a1]["state"], "revoked", "revoked by id")
    p = refresh(env, a1)
    eq(p.returncode, 1, "a revoked session gets no token")
    env.ctl("revoke", "--user", ALICE, "--client", "desktop", check_rc=0)
    eq(sorted(s["client"] for s in env.sessions("--user", ALICE)), ["ssh"], "only ssh left")
    env.ctl("revoke", "--user", ALICE, check_rc=0)
    eq([s["id"] for s in env.sessions()], [b], "bob untouched")
    eq(env.ctl("revoke", "0" * 32).returncode, 1, "unknown id")


# -- daemon unreachable -----------------------------------------------------

def test_unreachable_daemon_applies_fail_mode():
    env = Env()
    try:
        env.pam_service("tptest-desktop", fail="closed")
        r = env.pam("tptest-desktop", ALICE, "acct")
        eq(r["results"], ["PAM_PERM_DENIED"], "fail=closed")
        check("not available" in r["errors"][0], r["errors"])
        env.pam_service("tptest-desktop", fail="open")
        r = env.pam("tptest-desktop", ALICE, "acct", "open", "close")
        eq(r["results"], ["PAM_SUCCESS"] * 3, "fail=open")
    finally:
        env.cleanup()


def test_custom_token_policy_false_uses_builtins():
    env = Env(config_text(custom=False, clients={
        "desktop": {"services": ["tptest-desktop"], "refresh_token_ttl_hours": 24,
                    "access_token_ttl_minutes": 360, "max_refresh_tokens": 10},
        "web": {"services": ["tptest-web"], "access": False}}))
    try:
        env.start()
        r = env.sign_in("tptest-desktop", ALICE)
        [s] = env.sessions()
        eq(s["refresh_expires"] - s["created"], 336 * HOUR, "built-in refresh TTL")
        _, claims = decode_jwt(r["env"]["TOKENPOLICY_ACCESS_TOKEN"])
        eq(claims["exp"] - claims["iat"], 720 * 60, "built-in access TTL")
        eq(env.pam("tptest-web", ALICE, "acct")["results"], ["PAM_PERM_DENIED"], "access toggle still applies")
        pol = json.loads(env.ctl("policy", "--json", check_rc=0).stdout)
        desk = [c for c in pol["clients"] if c["name"] == "desktop"][0]
        eq(desk["effective"]["refresh_token_ttl_hours"], 336, "effective")
        eq(desk["configured"]["refresh_token_ttl_hours"], 24, "configured")
        check(desk["inactive"], "marked inactive")
    finally:
        env.cleanup()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    sys.exit(run_with_users(TESTS, (ALICE, BOB)))
