#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Integration tests for tokenpolicyctl: every command and option, as root
and as an ordinary user, against a real daemon with real sessions.

Covers status (table and --json), sessions with each filter, --all and
--json (the members and types tokenpolicyctl(1) lists), revoke by id and
by user and client type, reload, policy (table and --json), token, verify
(the offline check, --offline, and the daemon's session check), explain (allowed,
denied by access, denied at the cap, the session it would sign out, the
JSON shape, and that it reproduces the real sign-in's decision), --help
for every command, usage errors (exit 2) and an unreachable daemon
(exit 3). Needs root to create the test users (tptest-*), which it removes
again.
"""
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import run_with_users, CTL, Env, check, config_text, eq, run_tests, with_env  # noqa: E402

ALICE, BOB = "tptest-carol", "tptest-dave"  # not test_core's: the files may run side by side
HOUR = 3600
SESSION_KEYS = {"id": str, "user": str, "uid": int, "client": str, "service": str, "rhost": str, "tty": str,
                "leader_pid": int, "created": int, "refresh_expires": int, "last_extended": int,
                "last_used": int, "ended": int, "state": str}
STATES = {"active", "revoked", "expired", "closed"}






def sid_of(report):
    return report["env"]["TOKENPOLICY_SESSION_ID"]


def token_of(report):
    return report["env"]["TOKENPOLICY_ACCESS_TOKEN"]


def pubkey(env):
    return os.path.join(env.state, "signing-key.pub.pem")


def cap_conf(evict, cap=10):
    return config_text(clients={
        "desktop": {"services": ["tptest-desktop"], "max_refresh_tokens": cap, "evict": evict},
        "web": {"services": ["tptest-web"], "access": False},
        "ssh": {"services": ["tptest-sshd"]}})


def run_ctl(*args, user=None, env=None, stdin=None):
    """tokenpolicyctl without tplib's --socket: for usage errors and the
    socket choice itself."""
    cmd = [CTL, *args]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, input=stdin)


def as_both(fn):
    """Run fn(user) as root (None) and as BOB."""
    for who in (None, BOB):
        fn(who)


def check_types(obj, spec, what):
    eq(set(obj), set(spec), f"{what} members")
    for k, t in spec.items():
        # bool is an int in Python: tell them apart.
        check(isinstance(obj[k], t) and (t is bool or not isinstance(obj[k], bool)),
              f"{what}.{k} is {type(obj[k]).__name__}, want {t.__name__}: {obj[k]!r}")


def check_session_object(s, what, listed=False):
    """listed: an element of `sessions --json`, which names its host too."""
    check_types(s, {**SESSION_KEYS, "host": str} if listed else SESSION_KEYS, what)
    check(re.fullmatch(r"[0-9a-f]{32}", s["id"]), f"{what}.id: {s['id']!r}")
    check(s["state"] in STATES, f"{what}.state: {s['state']!r}")


# -- status ---------------------------------------------------------------

@with_env()
def test_status_table_and_json(env):
    env.sign_in("tptest-desktop", ALICE)
    env.sign_in("tptest-sshd", BOB)

    def run(who):
        p = p0 = env.ctl("status", user=who, check_rc=0)
        for label in ("version:", "pid:", "started:", "config path:", "config loaded:",
                      "active sessions:", "client types:", "audit to:", "audit queued:", "audit lost:",
                      "audit suppressed:"):
            check(re.search(rf"^{label}\s+\S", p.stdout, re.M), f"status shows {label!r}: {p.stdout}")
        check(re.search(rf"^pid:\s+{env.proc.pid}$", p.stdout, re.M), p.stdout)
        check(re.search(r"^active sessions:\s+2$", p.stdout, re.M), p.stdout)
        p = env.ctl("status", "--json", user=who, check_rc=0)
        st = json.loads(p.stdout)
        check_types(st, {"version": str, "pid": int, "started": int, "config": str, "config_loaded": int,
                         "active_sessions": int, "client_types": int, "config_state": str,
                         "config_source": str, "config_errors": list,
                         "audit_sink": str, "audit_queued": int, "audit_lost": int, "audit_suppressed": int,
                         "store": str, "store_connected": bool, "host_id": str, "hosts": int,
                         "store_offline_since": int, "store_error": str, "unsynced_sessions": int},
                    "status --json")
        eq((st["audit_sink"], st["audit_queued"], st["audit_lost"]), ("standard error", 0, 0), "audit trail")
        eq((st["store"], st["store_connected"], st["host_id"], st["hosts"], st["store_offline_since"],
            st["store_error"], st["unsynced_sessions"]), ("sqlite", True, "", 1, 0, "", 0),
           "the store of one host")
        check(re.search(r"^store:\s+sqlite \(this host\)$", p0.stdout, re.M), p0.stdout)
        eq((st["config_state"], st["config_source"], st["config_errors"]), ("loaded", env.conf, []),
           "the file is in force")
        check(re.search(r"^config state:\s+in force$", p0.stdout, re.M), p0.stdout)
        eq(st["pid"], env.proc.pid, "pid")
        eq(st["config"], env.conf, "config")
        eq(st["active_sessions"], 2, "active sessions")
        eq(st["client_types"], 4, "client types")
        check(abs(st["started"] - time.time()) < 600 and st["config_loaded"] >= st["started"],
              f"times: {st}")
        eq(p.stdout.count("\n"), 1, "one line of JSON")
        # --socket after the command works as well as before it.
        p = run_ctl("status", "--json", "--socket", env.sock, user=who)
        eq(p.returncode, 0, f"--socket after the command: {p.stderr}")
    as_both(run)


# -- sessions ---------------------------------------------------------------

def sessions_fixture(env):
    """alice: two desktop (one from a host), one ssh, one closed desktop;
    bob: one desktop."""
    a1 = sid_of(env.sign_in("tptest-desktop", ALICE, rhost="192.0.2.7"))
    a2 = sid_of(env.sign_in("tptest-desktop", ALICE, tty="pts/3"))
    a3 = sid_of(env.sign_in("tptest-sshd", ALICE))
    r = env.pam("tptest-desktop", ALICE, "acct", "open", "close")
    eq(r["results"], ["PAM_SUCCESS"] * 3, "open and close")
    b1 = sid_of(env.sign_in("tptest-desktop", BOB))
    return a1, a2, a3, b1


@with_env()
def test_sessions_filters_all_and_json(env):
    a1, a2, a3, b1 = sessions_fixture(env)
    ids = lambda *args, user=None: sorted(s["id"] for s in env.sessions(*args, user=user))  # noqa: E731

    eq(ids(), sorted([a1, a2, a3, b1]), "active sessions")
    eq(ids("--user", ALICE), sorted([a1, a2, a3]), "--user")
    eq(ids("--client", "desktop"), sorted([a1, a2, b1]), "--client")
    eq(ids("--user", ALICE, "--client", "ssh"), [a3], "--user --client")
    every = env.sessions("--all")
    eq(len(every), 5, "--all includes the closed session")
    closed = [s for s in every if s["state"] == "closed"]
    eq(len(closed), 1, "one closed")
    eq(len(env.sessions("--all", "--user", ALICE, "--client", "desktop")), 3, "--all with filters")
    eq(env.sessions("--user", "nosuchuser"), [], "no match is an empty array")
    eq(env.ctl("sessions", "--json", "--user", "nosuchuser", check_rc=0).stdout, "[]\n", "empty array")

    for s in every:
        check_session_object(s, "sessions --json element", listed=True)
    by = {s["id"]: s for s in every}
    eq(by[a1]["rhost"], "192.0.2.7", "rhost")
    eq(by[a2]["tty"], "pts/3", "tty")
    eq(by[a1]["user"], ALICE, "user")
    eq(by[a1]["uid"], pwd.getpwnam(ALICE).pw_uid, "uid")
    eq(by[a1]["service"], "tptest-desktop", "service")
    eq(by[a3]["client"], "ssh", "client")
    eq(by[a1]["ended"], 0, "ended is 0 while active")
    check(closed[0]["ended"] >= closed[0]["created"] > 0, "ended recorded")
    for s in every:
        check(s["created"] <= s["last_extended"] <= s["refresh_expires"], f"times ordered: {s}")

    p = env.ctl("sessions", check_rc=0)
    lines = p.stdout.splitlines()
    eq(lines[0].split(), ["ID", "USER", "CLIENT", "HOST", "SERVICE", "FROM", "CREATED", "EXPIRES", "STATE"],
       "header")
    # One host: every session runs on this one, named as its daemon names it.
    host = socket.gethostname()[:64]
    check(all(line.split()[3] == host for line in lines[1:]), f"HOST is {host}: {p.stdout}")
    check(all(s["host"] == host for s in env.sessions()), "host in --json")
    eq(len(lines), 5, "one row per active session")
    check(any(a1 in line and "192.0.2.7" in line and re.search(r"in (13d 23h|14d)", line) for line in lines),
          p.stdout)
    check(any(a2 in line and "pts/3" in line for line in lines), p.stdout)
    p = env.ctl("sessions", "--all", check_rc=0)
    check(any("closed" in line and line.split()[-2] == "-" for line in p.stdout.splitlines()), p.stdout)
    eq(env.ctl("sessions", "--user", "nosuchuser", check_rc=0).stdout, "No active sessions.\n", "empty table")
    eq(env.ctl("sessions", "--all", "--user", "nosuchuser", check_rc=0).stdout, "No sessions.\n",
       "empty table with --all")


@with_env()
def test_hostile_text_is_escaped_in_tables_and_json(env):
    # A remote host name is whatever the client said. A right-to-left
    # override, a terminal escape, a line separator, a C1 control, a
    # bidirectional isolate and a byte that is not UTF-8 must reach the
    # terminal as escapes, and JSON must stay valid and carry them escaped.
    rhost = "h\u202eliam\x1b[2J\u2028\x85\udcff"
    env.sign_in("tptest-desktop", ALICE, rhost=rhost)
    env.sign_in("tptest-desktop", ALICE, tty="pts/\u2066x\u2069")  # shown where there is no host
    p = env.ctl("sessions", check_rc=0)
    for raw in ("\u202e", "\x1b", "\u2028", "\x85", "\u2066", "\u2069", "\ufffd"):
        check(raw not in p.stdout, f"{raw!r} reached the table: {p.stdout!r}")
    check("h\\u202eliam\\u001b[2J\\u2028\\u0085\\xff" in p.stdout, f"escaped host: {p.stdout!r}")
    check("pts/\\u2066x\\u2069" in p.stdout, f"escaped tty: {p.stdout!r}")
    eq(len(p.stdout.splitlines()), 3, "one header, a row per session")
    p = env.ctl("sessions", "--json", check_rc=0)
    for raw in ("\u202e", "\x1b", "\u2028", "\x85", "\u2066"):
        check(raw not in p.stdout, f"{raw!r} reached the JSON text: {p.stdout!r}")
    got = sorted((s["rhost"], s["tty"]) for s in json.loads(p.stdout))
    eq(got, [("", "pts/\u2066x\u2069"), ("h\u202eliam\x1b[2J\u2028\x85\ufffd", "")],
       "the JSON values, the bad byte as U+FFFD")


@with_env()
def test_sessions_as_user_shows_only_own(env):
    a1, a2, a3, b1 = sessions_fixture(env)
    eq([s["id"] for s in env.sessions(user=BOB)], [b1], "bob sees only his own")
    eq([s["id"] for s in env.sessions("--all", user=BOB)], [b1], "also with --all")
    eq([s["id"] for s in env.sessions("--user", BOB, user=BOB)], [b1], "--user himself")
    eq([s["id"] for s in env.sessions("--client", "desktop", user=BOB)], [b1], "--client")
    eq(env.sessions("--client", "ssh", user=BOB), [], "no ssh sessions of his")
    p = env.ctl("sessions", "--user", ALICE, user=BOB)
    eq(p.returncode, 1, "bob cannot list alice's sessions")
    check("Only root" in p.stderr, p.stderr)
    p = env.ctl("sessions", user=BOB, check_rc=0)
    check(b1 in p.stdout and a1 not in p.stdout, p.stdout)
    eq(len(env.sessions(user=ALICE)), 3, "alice sees her three")


# -- revoke -----------------------------------------------------------------

@with_env()
def test_revoke_by_id_and_by_user(env):
    a1, a2, a3, b1 = sessions_fixture(env)
    p = env.ctl("revoke", a1, check_rc=0)
    eq(p.stdout, "Revoked 1 session(s).\n", "by id")
    eq({s["id"]: s["state"] for s in env.sessions("--all")}[a1], "revoked", "state")
    p = env.ctl("revoke", a1)
    eq(p.returncode, 1, "an ended session cannot be revoked again")
    p = env.ctl("revoke", a2.upper(), check_rc=0)
    eq(p.stdout, "Revoked 1 session(s).\n", "upper-case id accepted")
    eq(env.ctl("revoke", "0" * 32).returncode, 1, "unknown id")
    b2 = sid_of(env.sign_in("tptest-sshd", BOB))
    p = env.ctl("revoke", "--user", BOB, "--client", "ssh", check_rc=0)
    eq(p.stdout, "Revoked 1 session(s).\n", "--user --client")
    eq([s["id"] for s in env.sessions("--user", BOB)], [b1], "bob's desktop session stays")
    eq(env.sessions("--all", "--user", BOB, "--client", "ssh")[0]["id"], b2, "ssh one revoked")
    p = env.ctl("revoke", "--user", ALICE, check_rc=0)
    eq(p.stdout, "Revoked 1 session(s).\n", "--user: alice's remaining ssh session")
    eq(env.sessions("--user", ALICE), [], "alice has none left")
    p = env.ctl("revoke", "--user", ALICE, check_rc=0)
    eq(p.stdout, "Revoked 0 session(s).\n", "nothing left to revoke")


@with_env()
def test_revoke_as_user(env):
    a1, a2, a3, b1 = sessions_fixture(env)
    b2 = sid_of(env.sign_in("tptest-sshd", BOB))
    p = env.ctl("revoke", a1, user=BOB)
    eq(p.returncode, 1, "another user's session by id")
    check("No session" in p.stderr, p.stderr)
    p = env.ctl("revoke", "--user", ALICE, user=BOB)
    eq(p.returncode, 1, "another user's sessions by user")
    check("Only root" in p.stderr, p.stderr)
    eq(len(env.sessions("--user", ALICE)), 3, "alice untouched")
    p = env.ctl("revoke", b1, user=BOB, check_rc=0)
    eq(p.stdout, "Revoked 1 session(s).\n", "own session by id")
    p = env.ctl("revoke", "--user", BOB, "--client", "ssh", user=BOB, check_rc=0)
    eq(p.stdout, "Revoked 1 session(s).\n", "own sessions by user and client")
    eq({s["id"]: s["state"] for s in env.sessions("--all")}[b2], "revoked", "state")


# -- reload -----------------------------------------------------------------

@with_env()
def test_reload(env):
    env.write_conf(config_text(clients={"desktop": {"services": ["tptest-desktop"], "max_refresh_tokens": 30}}))
    p = env.ctl("reload", user=BOB)
    eq(p.returncode, 1, "a user cannot reload")
    check("Only root" in p.stderr, p.stderr)
    eq(json.loads(env.ctl("status", "--json", check_rc=0).stdout)["client_types"], 4, "not reloaded")
    p = env.ctl("reload", check_rc=0)
    eq(p.stdout, f"Configuration reloaded from {env.conf}.\n", "reload message")
    eq(json.loads(env.ctl("status", "--json", check_rc=0).stdout)["client_types"], 1, "reloaded")
    env.write_conf("version = 1;\ncustom_token_policy = maybe;\n")
    p = env.ctl("reload")
    eq(p.returncode, 1, "a bad file is refused")
    check(f"{env.conf}:2:" in p.stderr and "running policy stays in force" in p.stderr, p.stderr)
    eq(json.loads(env.ctl("status", "--json", check_rc=0).stdout)["client_types"], 1, "old policy kept")


# -- policy -----------------------------------------------------------------

VALUES = {"auto_extend_refresh_token": bool, "refresh_token_ttl_hours": int, "access_token_ttl_minutes": int,
          "max_refresh_tokens": int}


def test_policy_table_and_json():
    env = Env(config_text(custom=False, clients={
        "desktop": {"services": ["tptest-desktop", "login"], "max_refresh_tokens": 12,
                    "evict": "least_recently_used", "on_expiry": "lock"},
        "web": {"services": ["tptest-web"], "access": False},
        "ssh": {"services": []}}, unknown='"ssh"'))
    try:
        env.start()

        def run(who):
            pol = json.loads(env.ctl("policy", "--json", user=who, check_rc=0).stdout)
            check_types(pol, {"custom_token_policy": bool, "unknown_client": str, "config": str, "clients": list},
                        "policy --json")
            eq((pol["custom_token_policy"], pol["unknown_client"], pol["config"]), (False, "ssh", env.conf), "top")
            eq([c["name"] for c in pol["clients"]], ["desktop", "web", "ssh"], "clients in file order")
            for c in pol["clients"]:
                check_types(c, {"name": str, "access": bool, "services": list, "evict": str, "on_expiry": str,
                                "on_revoke": str, "idle_timeout_minutes": int, "on_idle": str,
                                "warn_before_minutes": int, "effective": dict, "configured": dict,
                                "inactive": bool},
                            f"client {c['name']}")
                check_types(c["effective"], VALUES, "effective")
                check_types(c["configured"], VALUES, "configured")
                eq(c["inactive"], True, "inactive with custom_token_policy = false")
            desk = pol["clients"][0]
            eq(desk["services"], ["tptest-desktop", "login"], "services")
            eq((desk["evict"], desk["on_expiry"], desk["on_revoke"]), ("least_recently_used", "lock", "terminate"),
               "enums")
            eq(desk["configured"]["max_refresh_tokens"], 12, "configured cap")
            eq(desk["effective"]["max_refresh_tokens"], 20, "built-in cap applies")
            eq(pol["clients"][1]["access"], False, "web denied")
            eq(pol["clients"][2]["services"], [], "no services")

            p = env.ctl("policy", user=who, check_rc=0)
            check("custom_token_policy: false" in p.stdout and "unknown_client: ssh" in p.stdout, p.stdout)
            check(re.search(r"^CLIENT\s+ACCESS\s+AUTO-EXTEND", p.stdout, re.M), p.stdout)
            check(re.search(r"^desktop\s+allowed\s.*20 \(inactive: 12\)\s+least_recently_used\s+lock", p.stdout, re.M),
                  p.stdout)
            check(re.search(r"^web\s+denied\s", p.stdout, re.M), p.stdout)
            check("inactive; built-in defaults apply" in p.stdout, p.stdout)
        as_both(run)
    finally:
        env.cleanup()


# -- token --------------------------------------------------------------------

@with_env()
def test_token(env):
    r = env.sign_in("tptest-desktop", ALICE)
    sid = sid_of(r)

    def token(who, value):
        return env.ctl("token", user=who, env={**os.environ, "TOKENPOLICY_SESSION_ID": value})

    for who in (None, ALICE):
        p = token(who, sid)
        eq(p.returncode, 0, f"token as {who or 'root'}: {p.stderr}")
        eq(len(p.stdout.splitlines()), 1, "only the token on stdout")
        check(re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+\n", p.stdout), p.stdout)
        p = run_ctl("verify", "--key", pubkey(env), "--socket", env.sock, p.stdout.strip(), user=who)
        eq(p.returncode, 0, f"the new token verifies: {p.stdout} {p.stderr}")
    p = token(BOB, sid)
    eq(p.returncode, 1, "another user's session")
    env_without = {k: v for k, v in os.environ.items() if k != "TOKENPOLICY_SESSION_ID"}
    p = env.ctl("token", env=env_without)
    eq(p.returncode, 2, "TOKENPOLICY_SESSION_ID unset")
    check("TOKENPOLICY_SESSION_ID is not set" in p.stderr, p.stderr)
    eq(token(None, "xyz").returncode, 2, "malformed TOKENPOLICY_SESSION_ID")
    eq(token(None, "0" * 32).returncode, 1, "no such session")
    env.ctl("revoke", sid, check_rc=0)
    eq(token(ALICE, sid).returncode, 1, "revoked session gets no token")


# -- verify -------------------------------------------------------------------

@with_env()
def test_verify_offline_and_with_the_daemon(env):
    r = env.sign_in("tptest-desktop", ALICE, rhost="192.0.2.9")
    tok, sid = token_of(r), sid_of(r)
    key = pubkey(env)

    def verify(*args, who=None, stdin=None, sock=env.sock):
        return run_ctl("--socket", sock, "verify", "--key", key, *args, user=who, stdin=stdin)

    for who in (None, BOB):
        p = verify(tok, who=who)
        eq(p.returncode, 0, f"good token as {who or 'root'}: {p.stderr}")
        check(p.stdout.startswith("valid\n"), p.stdout)
        for claim in ("iss:", "sub:", "uid:", "sid:", "client:", "iat:", "exp:", "jti:", "kid:"):
            check(re.search(rf"^{claim}\s+\S", p.stdout, re.M), f"{claim} shown: {p.stdout}")
        check(re.search(rf"^sid:\s+{sid}$", p.stdout, re.M), p.stdout)
        check(re.search(r"^session: active \(refresh expires \d{4}-.* \(in (13d 23h|14d)\)\)$", p.stdout, re.M),
              p.stdout)
        p = verify("--offline", tok, who=who)
        eq(p.returncode, 0, "--offline")
        check("session:" not in p.stdout + p.stderr, f"--offline asks no daemon: {p.stdout} {p.stderr}")
        p = verify("-", who=who, stdin=tok + "\n")
        eq(p.returncode, 0, f"token from standard input: {p.stderr}")
        check("session: active" in p.stdout, p.stdout)

    # TOKENPOLICY_SOCKET names the daemon as for every other command.
    p = run_ctl("verify", "--key", key, tok, env={**os.environ, "TOKENPOLICY_SOCKET": env.sock})
    eq(p.returncode, 0, p.stderr)
    check("session: active" in p.stdout, p.stdout)

    # Unreachable daemon: the offline check stands, and stderr says so.
    p = verify(tok, sock=os.path.join(env.dir, "nothing-here.sock"))
    eq(p.returncode, 0, f"unreachable daemon keeps exit 0: {p.stderr}")
    check(p.stderr.startswith("session: not checked (tokenpolicyd unreachable:"), p.stderr)
    check(p.stdout.startswith("valid\n") and "session:" not in p.stdout, p.stdout)

    # Tampered and malformed tokens fail the offline check (no daemon asked).
    h, c, s = tok.split(".")
    flipped = s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1]
    for bad, why in ((f"{h}.{c}.{flipped}", "bad signature"), ("not-a-token", "malformed")):
        p = verify(bad)
        eq(p.returncode, 1, f"{why}: {p.stdout}")
        check(why in p.stderr, p.stderr)

    # A revoked session's token still passes offline, but not the daemon:
    # the verdict comes first and alone, nothing that reads as valid.
    env.ctl("revoke", sid, check_rc=0)
    p = verify("--offline", tok)
    eq(p.returncode, 0, "offline cannot know about the revocation")
    for who in (None, BOB):
        p = verify(tok, who=who)
        eq(p.returncode, 1, f"revoked session's token as {who or 'root'}: {p.stdout} {p.stderr}")
        eq(p.stdout, "", f"no claims and no 'valid' for a token the daemon rejects ({who or 'root'})")
        eq(p.stderr, f"tokenpolicyctl: invalid token: rejected by tokenpolicyd: session {sid} was revoked\n",
           "the verdict")
    check("event=deny" in env.log_text() and f"session={sid}" in env.log_text(), "failed verification audited")
    check(tok not in env.log_text() and s not in env.log_text(), "the token never reaches the log")


@with_env()
def test_verify_daemon_check_expiry_and_closed_session(env):
    proc, r = env.sign_in_held("tptest-desktop", ALICE)
    tok, sid = token_of(r), sid_of(r)
    key = pubkey(env)
    # The daemon's clock past the access token's 12 hours: the daemon says
    # expired while the offline check (real time) still passes.
    env.set_offset(13 * HOUR)
    p = run_ctl("--socket", env.sock, "verify", "--key", key, tok)
    eq(p.returncode, 1, f"expired in the daemon's eyes: {p.stdout}")
    eq(p.stdout, "", "nothing that reads as valid")
    check(p.stderr.startswith("tokenpolicyctl: invalid token: rejected by tokenpolicyd: ")
          and "access token expired" in p.stderr, p.stderr)
    env.set_offset(0)
    env.release(proc)  # signs out: close_session
    p = run_ctl("--socket", env.sock, "verify", "--key", key, tok)
    eq(p.returncode, 1, "closed session")
    eq(p.stdout, "", "nothing that reads as valid")
    eq(p.stderr, f"tokenpolicyctl: invalid token: rejected by tokenpolicyd: session {sid} was closed\n",
       "the verdict")


# -- explain ------------------------------------------------------------------

EXPLAIN_KEYS = {"allowed": bool, "client": str, "user": str, "active": int, "cap": int, "evict": str,
                "refresh_expires": int, "access_expires": int, "auto_extend": bool, "would_evict": list,
                "would_evict_total": int, "idle_timeout_minutes": int, "on_idle": str,
                "warn_before_minutes": int, "reason": str}


def explain(env, user, client, who=None, json_out=True):
    args = ["explain", "--user", user, "--client", client] + (["--json"] if json_out else [])
    p = env.ctl(*args, user=who)
    if json_out and p.returncode in (0, 1) and p.stdout:
        out = json.loads(p.stdout)
        check_types(out, EXPLAIN_KEYS, "explain --json")
        for s in out["would_evict"]:
            check_session_object(s, "would_evict element")
        return p.returncode, out
    return p.returncode, p


@with_env()
def test_explain_allowed_changes_nothing(env):
    env.sign_in("tptest-desktop", ALICE)
    before = env.sessions("--all")
    with open(os.path.join(env.state, "sessions.db"), "rb") as f:
        db_before = f.read()
    rc, out = explain(env, ALICE, "desktop")
    eq(rc, 0, "allowed exits 0")
    now = time.time()
    eq((out["allowed"], out["client"], out["user"], out["active"], out["cap"], out["evict"], out["auto_extend"]),
       (True, "desktop", ALICE, 1, 20, "oldest", False), "decision")
    check(abs(out["refresh_expires"] - (now + 336 * HOUR)) < 120, f"refresh expiry: {out}")
    check(abs(out["access_expires"] - (now + 720 * 60)) < 120, f"access expiry: {out}")
    eq((out["would_evict"], out["would_evict_total"]), ([], 0), "nothing to sign out")
    check(f"A new desktop sign-in by {ALICE} would be allowed" in out["reason"], out["reason"])

    rc, p = explain(env, ALICE, "desktop", json_out=False)
    eq(rc, 0, "table form")
    lines = p.stdout.splitlines()
    eq(lines[0], out["reason"], "the message first")
    for label, value in (("client:", "desktop"), ("decision:", "allowed"), ("active:", "1 of at most 20"),
                         ("evict:", "oldest"), ("auto-extend:", "off"), ("would sign out:", "nothing")):
        check(re.search(rf"^{label}\s+{re.escape(value)}$", p.stdout, re.M), f"{label} {value}: {p.stdout}")
    check(re.search(r"^refresh expires:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(in (13d 23h|14d)\)$", p.stdout, re.M),
          p.stdout)
    check(re.search(r"^access expires:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(in (11h 59m|12h)\)$", p.stdout, re.M),
          p.stdout)

    eq(env.sessions("--all"), before, "explain changed no session")
    with open(os.path.join(env.state, "sessions.db"), "rb") as f:
        eq(f.read(), db_before, "nor the store file")


@with_env()
def test_explain_denied_by_access(env):
    rc, out = explain(env, ALICE, "web")
    eq(rc, 1, "denied exits 1")
    eq((out["allowed"], out["client"], out["refresh_expires"], out["access_expires"]), (False, "web", 0, 0), "denied")
    eq(out["reason"], f"A new web sign-in by {ALICE} would be denied: "
       "sign-in from web clients is disabled by your administrator.", "reason")
    rc, p = explain(env, ALICE, "web", json_out=False)
    eq(rc, 1, "table form exits 1 too")
    check(re.search(r"^decision:\s+denied$", p.stdout, re.M), p.stdout)
    check(re.search(r"^refresh expires:\s+-$", p.stdout, re.M), p.stdout)


@with_env()
def test_explain_unknown_user_and_client_type(env):
    rc, out = explain(env, "tptest-nosuchuser", "desktop")
    eq(rc, 1, "unknown user")
    eq(out["allowed"], False, "denied")
    check("there is no user 'tptest-nosuchuser'" in out["reason"], out["reason"])
    rc, p = explain(env, ALICE, "nosuchtype")
    eq(rc, 1, "undefined client type")
    check("'nosuchtype' is not defined" in p.stderr, p.stderr)
    eq(p.stdout, "", "nothing on stdout for a refused request")


def test_explain_deny_new_at_cap_matches_sign_in():
    env = Env(cap_conf("deny_new"))
    try:
        env.start()
        for i in range(10):
            env.sign_in("tptest-desktop", ALICE)
        rc, out = explain(env, ALICE, "desktop")
        eq(rc, 1, "at the cap with deny_new")
        eq((out["allowed"], out["active"], out["cap"], out["evict"]), (False, 10, 10, "deny_new"), "decision")
        eq(out["reason"], f"A new desktop sign-in by {ALICE} would be denied: {ALICE} already has 10 active "
           "desktop sessions and evict = deny_new.", "reason")
        r = env.pam("tptest-desktop", ALICE, "acct", "open")
        eq(r["results"], ["PAM_SUCCESS", "PAM_SESSION_ERR"], "the real sign-in is denied as explained")
        rc, out = explain(env, ALICE, "ssh")
        eq((rc, out["allowed"], out["active"]), (0, True, 0), "the cap is per client type")
    finally:
        env.cleanup()


def run_would_evict(evict):
    env = Env(cap_conf(evict))
    try:
        env.start()
        ids = []
        for i in range(10):
            env.set_offset(i)  # one second apart: "oldest" is unambiguous
            ids.append(sid_of(env.sign_in("tptest-desktop", ALICE, rhost=f"192.0.2.{i + 1}")))
        if evict == "least_recently_used":
            env.set_offset(70)  # past the 60 s in which a refresh records nothing
            p = env.ctl("token", env={**os.environ, "TOKENPOLICY_SESSION_ID": ids[0]})
            eq(p.returncode, 0, f"use the first session again: {p.stderr}")
        env.set_offset(80)
        victim = ids[1] if evict == "least_recently_used" else ids[0]
        host = "192.0.2.2" if evict == "least_recently_used" else "192.0.2.1"
        rc, out = explain(env, ALICE, "desktop")
        eq(rc, 0, "allowed with an eviction")
        eq((out["allowed"], out["active"], out["cap"], out["evict"], out["would_evict_total"]),
           (True, 10, 10, evict, 1), "decision")
        eq([s["id"] for s in out["would_evict"]], [victim], "the session it would sign out")
        eq(out["would_evict"][0]["rhost"], host, "its host")
        listed = {s["id"]: {k: v for k, v in s.items() if k != "host"} for s in env.sessions()}
        eq(out["would_evict"][0], listed[victim], "same object as sessions --json, but for its host")
        mode = "least recently used" if evict == "least_recently_used" else "oldest"
        check(out["reason"].startswith(f"A new desktop sign-in by {ALICE} would be allowed; it would sign out "
                                       f"session {victim} ({mode}, ") and f"from {host}, started " in out["reason"]
              and out["reason"].endswith(" to stay within the limit of 10."), out["reason"])
        rc, p = explain(env, ALICE, "desktop", json_out=False)
        check(re.search(rf"^would sign out:\s+{victim}  from {re.escape(host)}  started \d{{4}}-", p.stdout, re.M),
              p.stdout)
        eq(len(env.sessions()), 10, "nothing signed out by explain")
        # The real sign-in does what explain said.
        r = env.pam("tptest-desktop", ALICE, "acct", "open", rhost="192.0.2.11")
        eq(r["results"], ["PAM_SUCCESS", "PAM_SUCCESS"], "11th sign-in")
        eq({s["id"]: s["state"] for s in env.sessions("--all")}[victim], "revoked", "explained victim evicted")
        eq(len(env.sessions()), 10, "ten remain")
    finally:
        env.cleanup()


def test_explain_would_evict_oldest():
    run_would_evict("oldest")


def test_explain_would_evict_least_recently_used():
    run_would_evict("least_recently_used")


def test_explain_lists_several_victims_after_the_cap_was_lowered():
    env = Env(cap_conf("oldest", cap=20))
    try:
        env.start()
        ids = []
        for i in range(13):
            env.set_offset(i)
            ids.append(sid_of(env.sign_in("tptest-desktop", ALICE)))
        env.write_conf(cap_conf("oldest", cap=10))
        env.ctl("reload", check_rc=0)
        env.set_offset(30)
        rc, out = explain(env, ALICE, "desktop")
        eq((rc, out["active"], out["cap"], out["would_evict_total"]), (0, 13, 10, 4), "four to go")
        eq([s["id"] for s in out["would_evict"]], ids[:4], "the four oldest, oldest first")
        check("it would sign out 4 sessions, oldest first: " in out["reason"], out["reason"])
    finally:
        env.cleanup()


def test_explain_does_not_count_ghosts_and_leaves_them():
    env = Env(cap_conf("deny_new"))
    try:
        env.start()
        leaders = [env.sign_in_held("tptest-desktop", ALICE)[0] for _ in range(10)]
        gone = leaders[0]
        gone.send_signal(signal.SIGKILL)  # a crashed client: no close_session comes
        gone.wait()
        rc, out = explain(env, ALICE, "desktop")
        eq((rc, out["allowed"], out["active"]), (0, True, 9), "the ghost is not counted")
        eq(len(env.sessions()), 10, "and not closed by explain")
        r = env.pam("tptest-desktop", ALICE, "acct", "open")
        eq(r["results"], ["PAM_SUCCESS", "PAM_SUCCESS"], "the real sign-in agrees")
    finally:
        env.cleanup()


@with_env()
def test_explain_as_user(env):
    env.sign_in("tptest-sshd", BOB)
    rc, out = explain(env, BOB, "ssh", who=BOB)
    eq((rc, out["allowed"], out["active"], out["user"]), (0, True, 1, BOB), "about himself")
    rc, out = explain(env, BOB, "web", who=BOB)
    eq((rc, out["allowed"]), (1, False), "denied for himself")
    rc, p = explain(env, ALICE, "ssh", who=BOB)
    eq(rc, 1, "about another user")
    check("Only root may explain another user's sign-in" in p.stderr, p.stderr)
    eq(p.stdout, "", "nothing on stdout")
    rc, p = explain(env, "tptest-nosuchuser", "ssh", who=BOB)
    eq(rc, 1, "about an unknown user: refused, not answered")
    check("Only root" in p.stderr, p.stderr)


# -- help, usage errors, unreachable daemon -----------------------------------

def commands_from_help():
    p = run_ctl("--help")
    eq(p.returncode, 0, "--help")
    body = p.stdout.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    names = [line.split()[0] for line in body.splitlines() if re.match(r"^  [a-z]", line)]
    check({"status", "sessions", "revoke", "reload", "policy", "token", "verify", "explain"} <= set(names), names)
    return names


def test_help_for_every_command():
    for who in (None, BOB):
        for cmd in commands_from_help():
            for flag in ("--help", "-h"):
                p = run_ctl(cmd, flag, user=who)
                eq(p.returncode, 0, f"{cmd} {flag}: {p.stderr}")
                check(p.stdout.startswith("Usage: tokenpolicyctl ") and f" {cmd}" in p.stdout.splitlines()[0],
                      p.stdout)
                eq(p.stderr, "", f"{cmd} {flag} stderr")
        p = run_ctl("--version", user=who)
        eq(p.returncode, 0, "--version")
        check(re.fullmatch(r"tokenpolicyctl \d+\.\d+\.\d+\n", p.stdout), p.stdout)


def test_usage_errors_exit_2():
    sock = "/nonexistent/tokenpolicyd.sock"  # never reached: the usage error comes first
    cases = [
        [], ["nosuchcommand"], ["--nosuchoption", "status"], ["--socket"], ["--socket", "", "status"],
        ["status", "extra"], ["status", "--nosuchoption"], ["status", "--socket"],
        ["sessions", "extra"], ["sessions", "--user"], ["sessions", "--client"], ["sessions", "--user", ""],
        ["sessions", "--user", "x" * 300], ["sessions", "--bogus"],
        ["revoke"], ["revoke", "nothex"], ["revoke", "0" * 31], ["revoke", "0" * 32, "--user", ALICE],
        ["revoke", "--client"], ["revoke", "0" * 32, "extra"], ["revoke", "--user"],
        ["revoke", "--others", "0" * 32], ["revoke", "--others", "--client", "ssh"],
        ["revoke", "--others"],  # outside a session: no TOKENPOLICY_SESSION_ID
        ["reload", "extra"], ["policy", "extra"], ["policy", "--all"], ["token", "extra"],
        ["verify"], ["verify", "a", "b"], ["verify", "--key"], ["verify", "--key", "", "tok"],
        ["verify", "--bogus", "tok"],
        ["explain"], ["explain", "--user", ALICE], ["explain", "--client", "ssh"],
        ["explain", "--user", ALICE, "--client", "ssh", "extra"], ["explain", "--user", "", "--client", "ssh"],
        ["explain", "--user", ALICE, "--client", "c" * 80], ["explain", "--user"], ["explain", "--bogus"],
    ]
    for who in (None, BOB):
        for args in cases:
            env = {k: v for k, v in os.environ.items() if k != "TOKENPOLICY_SESSION_ID"}
            p = run_ctl(*args, user=who, env={**env, "TOKENPOLICY_SOCKET": sock})
            eq(p.returncode, 2, f"tokenpolicyctl {' '.join(args)}: {p.stderr}")
            check(p.stderr.startswith("tokenpolicyctl: "), f"{args}: explained on stderr: {p.stderr!r}")
            eq(p.stdout, "", f"{args}: nothing on stdout")


def test_unreachable_daemon_exit_3():
    env = Env()  # never started
    try:
        sid = "0" * 32
        cases = [["status"], ["status", "--json"], ["sessions"], ["sessions", "--json", "--all"], ["revoke", sid],
                 ["revoke", "--user", ALICE], ["reload"], ["policy"], ["policy", "--json"], ["token"],
                 ["explain", "--user", ALICE, "--client", "ssh"]]
        for who in (None, BOB):
            for args in cases:
                p = env.ctl(*args, user=who, env={**os.environ, "TOKENPOLICY_SESSION_ID": sid})
                eq(p.returncode, 3, f"{args} with no daemon: {p.stderr}")
                check(f"cannot reach tokenpolicyd at {env.sock}" in p.stderr, p.stderr)
                eq(p.stdout, "", f"{args}: nothing on stdout")
            p = run_ctl("status", env={**os.environ, "TOKENPOLICY_SOCKET": env.sock}, user=who)
            eq(p.returncode, 3, "TOKENPOLICY_SOCKET names the socket")
            check(env.sock in p.stderr, p.stderr)
    finally:
        env.cleanup()


def ctl_on_host(host_setup, *args):
    """tokenpolicyctl in a private mount namespace made to look like a host:
    tmpfs over /run and /etc/init.d, then host_setup (sh) fills them."""
    script = ("set -e\nmount -t tmpfs tptest-run /run\nmount -t tmpfs tptest-initd /etc/init.d\n"
              f"{host_setup}\nexec \"$0\" \"$@\"\n")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, CTL, *args],
                          capture_output=True, text=True, timeout=60)


def test_hints_name_this_hosts_service_manager():
    """When the daemon cannot be reached or drops the connection, the hint
    names the command for the host it runs on: systemd's where systemd is
    the service manager (/run/systemd/system exists, as sd_booted() tests),
    the init script's where the package installed one, else the daemon
    itself."""
    initd = "printf '#!/bin/sh\\n' >/etc/init.d/tokenpolicyd\nchmod 0755 /etc/init.d/tokenpolicyd"
    hosts = [
        ("sysvinit", "mkdir -p /run/systemd\n" + initd,
         "(start it with '/etc/init.d/tokenpolicyd start')", "check its messages in syslog (facility authpriv)"),
        # systemd wins over an init script that is also there
        ("systemd", "mkdir -p /run/systemd/system\n" + initd,
         "(start it with 'systemctl start tokenpolicyd.socket')", "check 'journalctl -u tokenpolicyd'"),
        ("no init script", "true",
         "(start it with 'tokenpolicyd' as root)", "check its messages in syslog (facility authpriv)"),
    ]
    d = tempfile.mkdtemp(prefix="tptest-hints-")
    closing = os.path.join(d, "closing.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(closing)
    srv.listen(8)
    done = threading.Event()

    def accept_and_close():
        while not done.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=accept_and_close, daemon=True)
    thread.start()
    try:
        for host, setup, start, log in hosts:
            p = ctl_on_host(setup, "--socket", os.path.join(d, "nothing.sock"), "status")
            eq(p.returncode, 3, f"{host}: no daemon: {p.stderr}")
            check(p.stderr.rstrip().endswith(f"is it running? {start}"), f"{host}: start hint: {p.stderr}")
            p = ctl_on_host(setup, "--socket", closing, "status")
            eq(p.returncode, 3, f"{host}: connection dropped: {p.stderr}")
            check(f"closed the connection before answering; {log}" in p.stderr, f"{host}: log hint: {p.stderr}")
            for other in ("systemctl", "journalctl", "/etc/init.d/"):
                if other not in start + log:
                    check(other not in p.stderr, f"{host}: no {other} in the hint: {p.stderr}")
    finally:
        done.set()
        srv.shutdown(socket.SHUT_RDWR)
        srv.close()
        thread.join(timeout=10)
        shutil.rmtree(d, ignore_errors=True)


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    sys.exit(run_with_users(TESTS, (ALICE, BOB)))
