#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Hostile local peers, over the raw wire protocol.

Every request type a non-root user can send, aimed at another user's
sessions, is refused and changes nothing; a user flooding the socket with
requests is slowed down while root's requests go through; and the refresh
token handed to the PAM module never appears in the store, the log or the
journal-style audit lines.
"""
import hashlib
import os
import pwd
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import Env, check, eq, exclusive, run_tests  # noqa: E402

VICTIM, INTRUDER = "tptest-erin", "tptest-frank"
OK, DENIED, EXPIRED, NOT_FOUND, FORBIDDEN, BAD_REQUEST, ERROR, UNMAPPED = range(8)

# The peer: a tiny client speaking PROTOCOL.md, run as any uid.
CLIENT = r"""
import socket, struct, sys, json
path, reqs = sys.argv[1], json.loads(sys.argv[2])
def s16(v):
    b = v.encode(); return struct.pack(">H", len(b)) + b
def frame(t, p):
    return b"TP\x01" + bytes([t]) + struct.pack(">I", len(p)) + p
out = []
for t, fields in reqs:
    p = b""
    for f in fields:
        if isinstance(f, dict):
            p += bytes.fromhex(f["hex"])
        else:
            p += s16(f) if isinstance(f, str) else struct.pack(">I", f)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(frame(t, p))
    data = b""
    while len(data) < 8 or len(data) < 8 + struct.unpack(">I", data[4:8])[0]:
        c = s.recv(65536)
        if not c:
            break
        data += c
    s.close()
    status = data[8] if len(data) > 8 else -1
    n = struct.unpack(">H", data[9:11])[0] if len(data) > 11 else 0
    out.append([data[3] if len(data) > 3 else -1, status, data[11:11 + n].decode(errors="replace"),
                data.hex()])
print(json.dumps(out))
"""


def as_user(user, path, reqs):
    import json
    p = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups",
                        "/usr/bin/python3", "-c", CLIENT, path, json.dumps(reqs)],
                       capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, p.stderr)
    return json.loads(p.stdout)


def signin_fields(user, service="tptest-desktop", client=""):
    return [user, service, client, "", "", 0, "", 0]  # ..., leader_pid, logind_session, flags


def session_fields(sid, user=""):
    return [sid, "", user]


def snapshot(env):
    files = {}
    for root, _, names in os.walk(env.state):
        for n in names:
            if n.endswith(("-wal", "-shm")):
                continue
            with open(os.path.join(root, n), "rb") as f:
                files[os.path.relpath(os.path.join(root, n), env.state)] = hashlib.sha256(f.read()).hexdigest()
    return env.sessions("--all"), files


def test_every_request_against_another_user_is_refused():
    env = Env()
    try:
        env.start()
        victim = env.sign_in("tptest-desktop", VICTIM)["env"]
        sid = victim["TOKENPOLICY_SESSION_ID"]
        token = victim["TOKENPOLICY_ACCESS_TOKEN"]
        before = snapshot(env)
        reqs = [
            (1, signin_fields(VICTIM)),                 # ACCESS for another user
            (2, signin_fields(VICTIM)),                 # OPEN (root only)
            (2, signin_fields(INTRUDER)),               # OPEN even for oneself
            (3, session_fields(sid)),                   # CLOSE another's session
            (3, session_fields(sid, VICTIM)),
            (4, session_fields(sid)),                   # REAUTH
            (5, session_fields(sid)),                   # REFRESH another's session
            (15, [VICTIM, "", 0, {"hex": "00" * 17}]),  # LIST another user
            (8, [sid, "", "", 0]),                      # REVOKE by id
            (8, ["", VICTIM, "", 0]),                   # REVOKE by user
            (8, ["", "", "desktop", 0]),                # REVOKE every user's of a type (root only)
            (8, [sid, "", "", 1]),                      # REVOKE --others around another's session
            (9, []),                                    # RELOAD
            (11, signin_fields(VICTIM, client="desktop")),  # EXPLAIN another user
            (13, []),                                   # ROTATE_KEY
        ]
        got = as_user(INTRUDER, env.sock, reqs)
        for (t, _), (rtype, status, message, _) in zip(reqs, got):
            eq(rtype, t | 0x80, f"reply type for request {t}")
            check(status in (FORBIDDEN, NOT_FOUND), f"request {t}: status {status} ({message})")
        eq(snapshot(env), before, "nothing changed: sessions, store, keys")
        # What a user may ask about anyone's token: whether it is good. That
        # reveals nothing the token's holder does not already know.
        [(_, status, _, _)] = as_user(INTRUDER, env.sock, [(12, [token])])
        eq(status, OK, "verify answers for a token one holds")
        eq(env.sessions("--all")[0]["state"], "active", "the victim's session is still active")
    finally:
        env.cleanup()


def test_a_request_flood_is_slowed_and_root_still_served():
    env = Env()
    try:
        env.start()
        got = as_user(INTRUDER, env.sock, [(6, [])] * 400)
        statuses = [g[1] for g in got]
        check(statuses.count(OK) >= 50, f"a burst is allowed: {statuses.count(OK)} ok")
        limited = [g for g in got if g[1] == ERROR]
        check(limited, "the flood was rate limited")
        check("Too many requests" in limited[0][2], limited[0][2])
        r = env.pam("tptest-desktop", "root", "acct", "open", "close")
        eq(r["results"], ["PAM_SUCCESS"] * 3, "root is served during and after the flood")
        check("request rate limit reached" in env.log_text(), "the limit is logged")
    finally:
        env.cleanup()


def test_refresh_token_never_at_rest_or_in_logs():
    env = Env()
    try:
        env.start()
        import json
        got = as_user("root", env.sock, [(2, signin_fields("root"))])
        rtype, status, message, raw = got[0]
        eq(status, OK, message)
        data = bytes.fromhex(raw)[8:]
        pos = 1 + 2 + struct.unpack(">H", data[1:3])[0]

        def take(pos):
            n = struct.unpack(">H", data[pos:pos + 2])[0]
            return data[pos + 2:pos + 2 + n].decode(), pos + 2 + n
        sid, pos = take(pos)
        _, pos = take(pos)            # client
        _, pos = take(pos)            # access token
        refresh, pos = take(pos)
        check(len(refresh) == 43, f"a refresh token came back: {refresh!r}")
        env.stop()
        blobs = []
        for root, _, names in os.walk(env.state):
            for n in names:
                with open(os.path.join(root, n), "rb") as f:
                    blobs.append(f.read())
        check(not any(refresh.encode() in b for b in blobs), "refresh token stored in clear")
        digest = hashlib.sha256(refresh.encode()).digest()
        check(any(digest in b for b in blobs), "only its SHA-256 is stored")
        check(refresh not in env.log_text(), "refresh token in the log")
        check(sid in env.log_text(), "the session itself is audited")
        json.dumps(got)
    finally:
        env.cleanup()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root to act as other users")
        sys.exit(0)
    lock = exclusive("users-peers")
    for u in (VICTIM, INTRUDER):
        try:
            pwd.getpwnam(u)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                            "--user-group", u], check=True)
    try:
        rc = run_tests(TESTS)
    finally:
        for u in (VICTIM, INTRUDER):
            subprocess.run(["userdel", u], capture_output=True)
    sys.exit(rc)
