#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Integration tests for signing-key rotation, revocation and the key
choice of verify.

`tokenpolicyctl rotate-key` as root and as a user, the files it leaves in
the state directory (keys/KID.pub.pem, keys/KID.until, jwks.json), a token
signed before the rotation verifying by its kid with `tokenpolicyctl
verify --state-dir`, with the daemon's own check and with the independent
verifier's --jwks, new tokens carrying the new kid, the old key surviving
a restart and gone after a restart past its time, and verify's --issuer
check (a token checked on another host is refused).
A leaked key: tokens forged with a copy of it are refused once
`tokenpolicyctl revoke-key` names it (retained or current, at once and
after a restart), and a retained key stops verifying at its end time while
the daemon runs. A start on a full or read-only state directory (a tmpfs in
a private mount namespace) writes nothing it does not have to and names
what failed. Needs root to create the test user (tptest-*), which it
removes again.
"""
import base64
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import CTL, PY, ROOT, Env, TestFailure, check, eq, run_tests, wait_for, with_env  # noqa: E402

ALICE = "tptest-alice"
VERIFY = os.path.join(ROOT, "tests", "integration", "verify_jwt.py")
ACCESS_TTL_MAX_SEC = 1080 * 60
ROTATED = re.compile(r"New signing key ([A-Za-z0-9_-]{43}); the old key ([A-Za-z0-9_-]{43}) "
                     r"stays published until \d{4}-\d\d-\d\d \d\d:\d\d\.\n\Z")


def ensure_users():
    try:
        pwd.getpwnam(ALICE)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "--user-group", ALICE], check=True)


def remove_users():
    subprocess.run(["userdel", ALICE], capture_output=True)


def b64_json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def b64_encode(obj):
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def kid_of(token):
    return b64_json(token.split(".")[0])["kid"]


def token_of(report):
    return report["env"]["TOKENPOLICY_ACCESS_TOKEN"]


def jwks_kids(env):
    with open(os.path.join(env.state, "jwks.json")) as f:
        return [k["kid"] for k in json.load(f)["keys"]]


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def mode(path):
    return os.lstat(path).st_mode & 0o7777


def verify(env, token, *args, daemon=True):
    """tokenpolicyctl verify; with daemon, this test's daemon also checks
    the token (by its kid, with its own keys) and its session."""
    where = ["--socket", env.sock] if daemon else []
    return subprocess.run([CTL, *where, "verify", token, *args, *([] if daemon else ["--offline"])],
                          capture_output=True, text=True, timeout=60)


def verify_jwks(env, token):
    return subprocess.run([PY, VERIFY, "--jwks", os.path.join(env.state, "jwks.json"), token],
                          capture_output=True, text=True, timeout=60)


def state_files(env):
    files = {}
    for base, _, names in os.walk(env.state):
        for n in names:
            if n.startswith("sessions.db"):
                continue
            p = os.path.join(base, n)
            files[os.path.relpath(p, env.state)] = read_bytes(p)
    return files


@with_env()
def test_rotate_key_keeps_old_tokens_verifying(env):
    old_tok = token_of(env.sign_in("tptest-desktop", ALICE))
    old_kid = kid_of(old_tok)
    eq(jwks_kids(env), [old_kid], "one key before the rotation")
    keys_dir = os.path.join(env.state, "keys")
    eq(mode(keys_dir), 0o755, "keys/ mode")
    eq(os.listdir(keys_dir), [], "no retained key yet")

    # A user may not rotate, and nothing changes when they try.
    before = state_files(env)
    p = env.ctl("rotate-key", user=ALICE)
    eq(p.returncode, 1, f"rotate-key as a user: {p.stdout} {p.stderr}")
    check("Only root may rotate the signing key." in p.stderr, p.stderr)
    eq(p.stdout, "", "nothing on stdout")
    eq(state_files(env), before, "state directory unchanged")
    eq(env.ctl("rotate-key", "extra").returncode, 2, "unexpected argument")
    p = subprocess.run([CTL, "--socket", os.path.join(env.dir, "nothing-here.sock"), "rotate-key"],
                       capture_output=True, text=True, timeout=60)
    eq(p.returncode, 3, "unreachable daemon")

    t0 = int(time.time())
    p = env.ctl("rotate-key", check_rc=0)
    m = ROTATED.match(p.stdout)
    check(m, f"rotate-key output: {p.stdout!r}")
    new_kid, said_old = m.group(1), m.group(2)
    eq(said_old, old_kid, "the old key named")
    check(new_kid != old_kid, "a new key")
    check("event=rotate-key" in env.log_text() and new_kid in env.log_text() and old_kid in env.log_text(),
          f"rotation audited: {env.log_text()[-800:]}")

    # The files: the new private key, the old public key and its time.
    eq(mode(os.path.join(env.state, "signing-key.pem")), 0o600, "private key mode")
    eq(mode(keys_dir), 0o755, "keys/ mode")
    eq(sorted(os.listdir(keys_dir)), sorted([f"{old_kid}.pub.pem", f"{old_kid}.until"]), "retained files")
    eq(mode(os.path.join(keys_dir, f"{old_kid}.pub.pem")), 0o644, "retained key mode")
    with open(os.path.join(keys_dir, f"{old_kid}.until")) as f:
        text = f.read()
    check(re.fullmatch(r"[1-9][0-9]*\n", text), f"until record {text!r}")
    until = int(text)
    check(t0 + ACCESS_TTL_MAX_SEC < until <= int(time.time()) + ACCESS_TTL_MAX_SEC + 60,
          f"kept for the longest access TTL and a minute: {until - t0}s")
    eq(jwks_kids(env), [new_kid, old_kid], "JWKS: the current key first, then the old one")

    # The old token verifies by its kid, offline and independently.
    p = verify(env, old_tok, "--state-dir", env.state)
    eq(p.returncode, 0, f"old token with --state-dir: {p.stderr}")
    check(re.search(rf"^kid:\s+{re.escape(old_kid)}$", p.stdout, re.M), p.stdout)
    check("session: active" in p.stdout, f"the daemon accepts the old kid too: {p.stdout}")
    p = verify_jwks(env, old_tok)
    eq(p.returncode, 0, f"old token through the JWKS: {p.stderr}")
    p = verify(env, old_tok, "--key", os.path.join(env.state, "signing-key.pub.pem"))
    eq(p.returncode, 1, "signing-key.pub.pem is the new key only")

    # New sign-ins carry the new kid.
    new_tok = token_of(env.sign_in("tptest-desktop", ALICE))
    eq(kid_of(new_tok), new_kid, "new token's kid")
    for tok in (old_tok, new_tok):
        eq(verify(env, tok, "--state-dir", env.state).returncode, 0, "verify --state-dir")
        eq(verify_jwks(env, tok).returncode, 0, "verify_jwt --jwks")
    eq(verify(env, new_tok, "--key", os.path.join(env.state, "signing-key.pub.pem")).returncode, 0,
       "new token with the current PEM")

    # A restart keeps both keys.
    env.restart()
    eq(jwks_kids(env), [new_kid, old_kid], "JWKS after a restart")
    eq(verify(env, old_tok, "--state-dir", env.state).returncode, 0, "old token after a restart")
    eq(kid_of(token_of(env.sign_in("tptest-desktop", ALICE))), new_kid, "still signing with the new key")

    # Past the old key's time a restart drops it, files and all. The
    # daemon's clock is then past every token's exp: check offline only.
    env.set_offset(until - int(time.time()) + 5)
    env.restart()
    eq(jwks_kids(env), [new_kid], "JWKS after the old key's time")
    eq(os.listdir(keys_dir), [], "retained files removed")
    p = verify(env, old_tok, "--state-dir", env.state, daemon=False)
    eq(p.returncode, 1, f"old key no longer published: {p.stdout}")
    check(f"signed by key {old_kid}" in p.stderr, p.stderr)
    eq(verify_jwks(env, old_tok).returncode, 1, "the JWKS no longer has the old key")
    eq(verify(env, new_tok, "--state-dir", env.state, daemon=False).returncode, 0, "the new key stays")


@with_env()
def test_verify_issuer_and_kid(env):
    tok = token_of(env.sign_in("tptest-desktop", ALICE))
    host = os.uname().nodename
    eq(b64_json(tok.split(".")[1])["iss"], host, "iss is this host")
    p = verify(env, tok, "--state-dir", env.state)
    eq(p.returncode, 0, p.stderr)
    eq(verify(env, tok, "--state-dir", env.state, "--issuer", host).returncode, 0, "--issuer this host")

    p = verify(env, tok, "--state-dir", env.state, "--issuer", "other.example")
    eq(p.returncode, 1, f"--issuer mismatch: {p.stdout}")
    check(f"issuer {host} is not other.example" in p.stderr, p.stderr)
    eq(p.stdout, "", "no claims printed for a rejected token")

    # Checked on another host, the token is not that host's.
    p = subprocess.run(["unshare", "--uts", "sh", "-c", 'hostname other-host.example && exec "$@"', "sh",
                        CTL, "verify", tok, "--state-dir", env.state, "--offline"], capture_output=True,
                       text=True, timeout=60)
    eq(p.returncode, 1, f"verified on another host: {p.stdout} {p.stderr}")
    check(f"issuer {host} is not this host (other-host.example)" in p.stderr, p.stderr)

    # A kid that is not a key id never becomes a path.
    h, c, s = tok.split(".")
    hdr = b64_json(h)
    for kid in ("../signing-key", "../../../etc/passwd", "a/b", ".."):
        bad = f"{b64_encode({**hdr, 'kid': kid})}.{c}.{s}"
        p = verify(env, bad, "--state-dir", env.state)
        eq(p.returncode, 1, f"kid {kid!r}: {p.stdout}")
        check("its kid is not a key id" in p.stderr, p.stderr)
    # A well-formed kid that the state directory does not publish.
    bad = f"{b64_encode({**hdr, 'kid': 'A' * 43})}.{c}.{s}"
    p = verify(env, bad, "--state-dir", env.state)
    eq(p.returncode, 1, p.stdout)
    check("publishes neither as its current key nor as a retained one" in p.stderr, p.stderr)

    # Usage errors.
    pub = os.path.join(env.state, "signing-key.pub.pem")
    eq(verify(env, tok, "--key", pub, "--state-dir", env.state).returncode, 2, "--key with --state-dir")
    eq(verify(env, tok, "--issuer", "").returncode, 2, "empty --issuer")
    eq(verify(env, tok, "--state-dir", "").returncode, 2, "empty --state-dir")
    p = verify(env, tok, "--state-dir", os.path.join(env.dir, "nowhere"))
    eq(p.returncode, 1, "missing state directory")
    check("--state-dir" in p.stderr, p.stderr)


# -- a leaked key ------------------------------------------------------------

def read_key(env):
    """A copy of the current private key, as someone who stole it has."""
    from cryptography.hazmat.primitives import serialization
    with open(os.path.join(env.state, "signing-key.pem"), "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def forge(key, kid, claims):
    h = b64_encode({"alg": "EdDSA", "typ": "JWT", "kid": kid})
    c = b64_encode(claims)
    sig = key.sign(f"{h}.{c}".encode())
    return f"{h}.{c}." + base64.urlsafe_b64encode(sig).decode().rstrip("=")


def forged_like(key, token, **changes):
    claims = {**b64_json(token.split(".")[1]), **changes}
    return forge(key, kid_of(token), claims)


def retained_files(env):
    return sorted(os.listdir(os.path.join(env.state, "keys")))


@with_env()
def test_revoke_key_stops_a_leaked_key(env):
    tok1 = token_of(env.sign_in("tptest-desktop", ALICE))
    k1 = kid_of(tok1)
    leaked1 = read_key(env)
    env.ctl("rotate-key", check_rc=0)
    k2 = jwks_kids(env)[0]
    eq(jwks_kids(env), [k2, k1], "K1 retained")
    # Someone holding K1's private key mints a token for a live session.
    now = int(time.time())
    forged1 = forged_like(leaked1, tok1, iat=now, exp=now + 3600, jti="f" * 32)
    p = verify(env, forged1, "--state-dir", env.state)
    eq(p.returncode, 0, f"before the revocation the forged token passes: {p.stderr}")

    # Only root; a malformed or unknown kid changes nothing.
    before = state_files(env)
    p = env.ctl("revoke-key", "--", k1, user=ALICE)
    eq(p.returncode, 1, f"as a user: {p.stdout} {p.stderr}")
    check("Only root may revoke a signing key." in p.stderr, p.stderr)
    p = env.ctl("revoke-key", "../signing-key")
    eq(p.returncode, 2, "not a key id")
    check("is not a key id" in p.stderr, p.stderr)
    eq(env.ctl("revoke-key").returncode, 2, "no KID")
    eq(env.ctl("revoke-key", "--", k1, k2).returncode, 2, "two KIDs")
    p = env.ctl("revoke-key", "A" * 43)
    eq(p.returncode, 1, "unknown kid")
    check("No signing key " + "A" * 43 in p.stderr, p.stderr)
    eq(state_files(env), before, "nothing changed")

    # Revoked: out of the JWKS and the key directory, refused everywhere.
    p = env.ctl("revoke-key", "--", k1, check_rc=0)
    eq(p.stdout, f"Signing key {k1} revoked.\n", "output")
    check("event=revoke-key" in env.log_text() and f"key {k1} revoked" in env.log_text(), "audited")
    eq(jwks_kids(env), [k2], "JWKS without K1")
    eq(retained_files(env), [], "its files are gone")
    for tok in (forged1, tok1):
        p = verify(env, tok, "--state-dir", env.state, daemon=False)
        eq(p.returncode, 1, f"offline: {p.stdout}")
        check(f"signed by key {k1}, which {env.state} publishes neither" in p.stderr, p.stderr)
        eq(verify_jwks(env, tok).returncode, 1, "independent verifier with the JWKS")
    p = verify(env, forged1, "--state-dir", env.state)
    eq(p.returncode, 1, "daemon check")
    eq(env.ctl("revoke-key", "--", k1).returncode, 1, "revoked already")

    # For good: a restart does not bring it back.
    env.restart()
    eq(jwks_kids(env), [k2], "JWKS after a restart")
    p = subprocess.run([CTL, "--socket", env.sock, "verify", forged1, "--state-dir", env.state],
                       capture_output=True, text=True, timeout=60)
    eq(p.returncode, 1, f"after a restart: {p.stdout}")

    # The current key: replaced at once, and not retained.
    tok2 = token_of(env.sign_in("tptest-desktop", ALICE))
    eq(kid_of(tok2), k2, "signed with K2")
    key_before = read_bytes(os.path.join(env.state, "signing-key.pem"))
    p = env.ctl("revoke-key", "--", k2, check_rc=0)
    m = re.fullmatch(rf"Signing key {re.escape(k2)} revoked\. It was the current key: new key "
                     r"([A-Za-z0-9_-]{43}) signs from now on\.\n", p.stdout)
    check(m, f"output: {p.stdout!r}")
    k3 = m.group(1)
    eq(jwks_kids(env), [k3], "only the new key")
    eq(retained_files(env), [], "K2 not retained")
    check(read_bytes(os.path.join(env.state, "signing-key.pem")) != key_before, "a new private key")
    eq(mode(os.path.join(env.state, "signing-key.pem")), 0o600, "its mode")
    eq(verify(env, tok2, "--state-dir", env.state).returncode, 1, "K2's token refused")
    tok3 = token_of(env.sign_in("tptest-desktop", ALICE))
    eq(kid_of(tok3), k3, "new sign-ins carry K3")
    eq(verify(env, tok3, "--state-dir", env.state).returncode, 0, "and verify")
    env.restart()
    eq(jwks_kids(env), [k3], "after a restart")
    eq(verify(env, tok2, "--state-dir", env.state).returncode, 1, "K2's token still refused")


@with_env()
def test_retained_key_ends_at_its_time_without_a_restart(env):
    tok = token_of(env.sign_in("tptest-desktop", ALICE))
    k1 = kid_of(tok)
    leaked = read_key(env)
    env.ctl("rotate-key", check_rc=0)
    k2 = jwks_kids(env)[0]
    with open(os.path.join(env.state, "keys", f"{k1}.until")) as f:
        until = int(f.read())
    # A token forged with the old key, valid well past the key's end.
    forged = forged_like(leaked, tok, iat=until - 60, exp=until + 7 * 86400, jti="e" * 32)

    # The daemon's clock moves past the old key's end; no restart.
    env.set_offset(until - int(time.time()) + 5)
    check(wait_for(lambda: jwks_kids(env) == [k2]), f"the JWKS drops K1 by itself: {jwks_kids(env)}")
    eq(retained_files(env), [], "and its files")
    check(f"retained signing key {k1} reached its end" in env.log_text(), env.log_text()[-1000:])
    p = verify(env, forged, "--state-dir", env.state)
    eq(p.returncode, 1, f"the forged token is refused: {p.stdout}")
    p = subprocess.run([CTL, "--socket", env.sock, "verify", forged, "--key",
                        os.path.join(env.state, "signing-key.pub.pem")], capture_output=True, text=True,
                       timeout=60)
    eq(p.returncode, 1, "not the current key either")


def test_verify_refuses_a_retained_key_past_its_time():
    """tokenpolicyctl verify reads the key's time itself: the daemon may not
    have run since the key's end, to remove it."""
    env = Env()
    try:
        env.set_offset(-2 * 86400)  # the daemon's clock: two days ago
        env.start()
        tok = token_of(env.sign_in("tptest-desktop", ALICE))
        k1 = kid_of(tok)
        leaked = read_key(env)
        env.ctl("rotate-key", check_rc=0)
        env.stop()
        with open(os.path.join(env.state, "keys", f"{k1}.until")) as f:
            until = int(f.read())
        check(until < time.time(), "the key's end has passed by the real clock")
        now = int(time.time())
        forged = forged_like(leaked, tok, iat=now, exp=now + 3600, jti="d" * 32)
        p = verify(env, forged, "--state-dir", env.state, daemon=False)
        eq(p.returncode, 1, f"refused: {p.stdout}")
        check(f"signed by key {k1}, which {env.state} kept for old tokens only until" in p.stderr, p.stderr)
    finally:
        env.cleanup()


# -- a full or read-only state directory -------------------------------------

STATE_DIR_SCENARIO = "state-dir-full-or-read-only"


def run_state_dir_scenario():
    """Runs in a private mount namespace (unshare -m): a 1 MiB tmpfs as the
    state directory, filled up or remounted read-only."""
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    env = Env()
    os.makedirs(env.state)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0711", "tptest-state", env.state], check=True)
    fill = os.path.join(env.state, "fill")

    def fill_up():
        with open(fill, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        st = os.statvfs(env.state)
        eq(st.f_bfree, 0, "the state directory is full")

    def published():
        """The files a start writes when they are not right: their inode
        changes when they are written again."""
        names = [n for n in ("signing-key.pub.pem", "jwks.json", "last-good.conf", "services.map")
                 if os.path.exists(os.path.join(env.state, n))]
        return {n: (os.stat(os.path.join(env.state, n)).st_ino, read_bytes(os.path.join(env.state, n)))
                for n in names}

    def start_fails():
        env.start(wait=False)
        rc = env.proc.wait(timeout=30)
        env.proc = None
        env.logf.close()
        eq(rc, 1, "exit status")
        with open(env.log, errors="replace") as f:
            log = f.read()
        os.truncate(env.log, 0)
        return log

    try:
        env.start()
        env.sign_in("tptest-desktop", ALICE)
        files = published()
        # A daemon that stopped without closing the store (killed, or
        # crashed) leaves its WAL behind; on a full disk it starts again,
        # writing nothing it need not.
        env.stop(signal.SIGKILL)
        fill_up()
        env.start()
        eq(published(), files, "nothing rewritten")
        eq(len(env.sessions()), 1, "the store opens")
        eq(env.pam("tptest-desktop", ALICE, "acct")["results"], ["PAM_SUCCESS"], "access checks are answered")
        env.stop()

        # Stopped cleanly (with room to do so), the store has no WAL and
        # needs room to open: the message says the disk is full, not that
        # the signing key failed.
        os.unlink(fill)
        env.start()
        env.stop()
        check(not os.path.exists(os.path.join(env.state, "sessions.db-wal")), "no WAL after a clean stop")
        fill_up()
        log = start_fails()
        check("Failed to open the session store" in log and "is full" in log, log)
        check("signing key" not in log, log)

        # A public file that really must be written: named, with the cause.
        os.unlink(fill)
        os.unlink(os.path.join(env.state, "jwks.json"))
        fill_up()
        log = start_fails()
        check(f"Failed at writing jwks.json in {env.state}: No space left on device" in log, log)
        os.unlink(fill)

        # Read-only: nothing in the key directory is written; the store
        # cannot open, and that is what the message says.
        env.start()
        env.stop()
        files = published()
        subprocess.run(["mount", "-o", "remount,ro", env.state], check=True)
        log = start_fails()
        check("Failed to open the session store" in log and "Read-only file system" in log and
              "is read-only" in log, log)
        check("signing key" not in log, log)
        eq(published(), files, "unchanged")
    finally:
        if env.proc and env.proc.poll() is None:
            env.stop()
        subprocess.run(["umount", "-l", env.state], capture_output=True)
        env.cleanup()


def test_sign_ins_answered_together_carry_tokens_that_verify():
    """Sign-ins that reach the daemon together are answered after one
    commit, and the signatures of all but the first are made on the
    signer's thread and written into their replies before those leave:
    every token verifies with the published keys and names its own
    session. The daemon is stopped while they connect, so that it takes
    them in one turn; its debug log says they shared a commit."""
    env = Env()
    try:
        env.start(extra=["--debug"])
        n = 8
        reports = [None] * n

        def one(i):
            reports[i] = env.pam("tptest-desktop", ALICE, "open")

        os.kill(env.proc.pid, signal.SIGSTOP)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        try:
            for t in threads:
                t.start()
            time.sleep(1.0)  # each has connected and sent its request
        finally:
            os.kill(env.proc.pid, signal.SIGCONT)
        for t in threads:
            t.join(timeout=60)
        for r in reports:
            check(r is not None and r["results"] == ["PAM_SUCCESS"], f"sign-in: {r}")
        toks = [r["env"]["TOKENPOLICY_ACCESS_TOKEN"] for r in reports]
        sids = [r["env"]["TOKENPOLICY_SESSION_ID"] for r in reports]
        eq(len(set(sids)), n, "one session each")
        for tok, sid in zip(toks, sids):
            p = verify_jwks(env, tok)
            eq(p.returncode, 0, f"token verifies with the JWKS: {p.stdout} {p.stderr}")
            eq(b64_json(tok.split(".")[1])["sid"], sid, "the token names its own session")
            check(not tok.endswith("A" * 20), f"no placeholder left: {tok[-40:]}")
        env.stop()
        m = re.search(r"(\d+) replies waited for (\d+) group commits", env.log_text())
        check(m, f"the commit count is logged: {env.log_text()[-600:]}")
        check(int(m.group(1)) >= n and int(m.group(2)) < n,
              f"the sign-ins shared a commit (so their tokens were signed meanwhile): {m.group(0)}")
    finally:
        env.cleanup()


def test_start_on_a_full_or_read_only_state_directory():
    p = subprocess.run(["unshare", "-m", "--propagation", "private", PY, os.path.abspath(__file__),
                        STATE_DIR_SCENARIO], capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise TestFailure(f"scenario failed (rc {p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    if sys.argv[1:] == [STATE_DIR_SCENARIO]:
        run_state_dir_scenario()
        sys.exit(0)
    if os.geteuid() != 0:
        print("1..0 # SKIP integration tests need root (test users are created and removed)")
        sys.exit(0)
    ensure_users()
    try:
        rc = run_tests(TESTS)
    finally:
        remove_users()
    sys.exit(rc)
