#!/usr/bin/python3
"""Integration tests for signing-key rotation and the key choice of verify.

`tokenpolicyctl rotate-key` as root and as a user, the files it leaves in
the state directory (keys/KID.pub.pem, keys/KID.until, jwks.json), a token
signed before the rotation verifying by its kid with `tokenpolicyctl
verify --state-dir`, with the daemon's own check and with the independent
verifier's --jwks, new tokens carrying the new kid, the old key surviving
a restart and gone after a restart past its time, and verify's --issuer
check (a token checked on another host is refused). Needs root to create the test user (tptest-*),
which it removes again.
"""
import base64
import json
import os
import pwd
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import CTL, PY, ROOT, check, eq, run_tests, with_env  # noqa: E402

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


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    if os.geteuid() != 0:
        print("1..0 # SKIP integration tests need root (test users are created and removed)")
        sys.exit(0)
    ensure_users()
    try:
        rc = run_tests(TESTS)
    finally:
        remove_users()
    sys.exit(rc)
