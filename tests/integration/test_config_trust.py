#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Integration tests for the files tokenpolicyd trusts, and for serving on
a configuration that went bad.

A configuration file an ordinary user could write (theirs, writable by
group or others, or in a directory of theirs) is refused at reload,
SIGHUP and start, and `tokenpolicyd --check-config` warns about it; so are
session store files someone else could write, and a state
directory below a user's directory. A configuration that cannot be used at
start does not stop the daemon when one was valid before: it serves the
last valid copy kept in the state directory and says so (log, audit,
`tokenpolicyctl status`), and refuses to start only when there never was
one. Real daemons, real libpam, real files; the users are tptest-* and are
removed again. Needs root (chown, other users).
"""
import json
import os
import re
import signal
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import DAEMON, Env, TestFailure, check, config_text, eq, run_with_users, wait_for  # noqa: E402

ALICE = "tptest-alice"      # signs in
MALLORY = "tptest-mallory"  # owns what she should not


def uid_of(user):
    import pwd
    return pwd.getpwnam(user).pw_uid


def web_conf(allowed):
    return config_text(clients={"desktop": {"services": ["tptest-desktop"]},
                                "web": {"services": ["tptest-web"], "access": allowed}})


def web_allowed(env):
    r = env.pam("tptest-web", ALICE, "acct")
    return r["results"] == ["PAM_SUCCESS"]


def status(env):
    return json.loads(env.ctl("status", "--json", check_rc=0).stdout)


def start_fails(env):
    """Start the daemon and expect it to refuse: returns its log."""
    env.start(wait=False)
    try:
        rc = env.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise TestFailure("tokenpolicyd started where it must refuse")
    eq(rc, 1, f"exit status: {env.log_text()[-1500:]}")
    env.proc = None
    env.logf.close()
    return env.log_text()


def check_config(path, user=None):
    cmd = [DAEMON, "--check-config", path]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def write_as(user, path, text):
    subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "sh", "-c",
                    'cat > "$1"', "sh", path], input=text, text=True, check=True, timeout=30)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


# -- the configuration file ----------------------------------------------------

def test_reload_refuses_a_config_a_user_can_write():
    """The attack: a config a user can write is theirs to change. Here the
    user switches web sign-in on and has root reload it."""
    env = Env(web_conf(False))
    try:
        env.start()
        check(not web_allowed(env), "web sign-in is off to begin with")
        before = env.ctl("policy", "--json", check_rc=0).stdout

        cases = [
            ("a user's file", lambda: (os.chown(env.conf, uid_of(MALLORY), -1), os.chmod(env.conf, 0o644)),
             f"is owned by uid {uid_of(MALLORY)}, not root"),
            ("a file anyone may write", lambda: (os.chown(env.conf, 0, 0), os.chmod(env.conf, 0o666)),
             "is writable by group or others (mode 0666)"),
            ("a file its group may write", lambda: (os.chown(env.conf, 0, 0), os.chmod(env.conf, 0o664)),
             "is writable by group or others (mode 0664)"),
        ]
        for what, make, why in cases:
            os.chown(env.conf, uid_of(MALLORY), -1)
            os.chmod(env.conf, 0o666)
            write_as(MALLORY, env.conf, web_conf(True))
            make()
            p = env.ctl("reload")
            eq(p.returncode, 1, f"{what}: reload refused: {p.stdout} {p.stderr}")
            check(f"{env.conf}: refusing to read it:" in p.stderr and why in p.stderr, f"{what}: {p.stderr}")
            check(not web_allowed(env), f"{what}: web sign-in still off")
            eq(env.ctl("policy", "--json", check_rc=0).stdout, before, f"{what}: policy unchanged")
            st = status(env)
            eq(st["config_state"], "reload-failed", f"{what}: status says the file is not in force")
            check(any(why in e for e in st["config_errors"]), f"{what}: status says why: {st}")

        # SIGHUP is refused the same way.
        n = env.log_text().count("refusing to read it")
        env.proc.send_signal(signal.SIGHUP)
        check(wait_for(lambda: env.log_text().count("refusing to read it") > n), "SIGHUP refusal logged")
        check(not web_allowed(env), "web sign-in still off after SIGHUP")
        check("event=config-error" in env.log_text(), "audited")

        # Root's own file, writable by no one else, is loaded.
        os.chown(env.conf, 0, 0)
        os.chmod(env.conf, 0o644)
        p = env.ctl("reload")
        eq(p.returncode, 0, f"a trusted file reloads: {p.stderr}")
        check(web_allowed(env), "its policy applies")
        eq(status(env)["config_state"], "loaded", "in force again")
    finally:
        env.cleanup()


def test_config_in_a_users_directory_is_refused():
    """A root-owned file is no better than its directories: whoever owns
    one of them can put another file in its place."""
    env = Env(web_conf(False))
    try:
        theirs = os.path.join(env.dir, "theirs")
        os.makedirs(os.path.join(theirs, "inner"))
        os.chown(theirs, uid_of(MALLORY), uid_of(MALLORY))
        env.conf = os.path.join(theirs, "inner", "tp.conf")
        env.write_conf(web_conf(True))
        os.chmod(env.conf, 0o644)
        log = start_fails(env)
        check(f"{theirs} is owned by uid {uid_of(MALLORY)}, not root" in log, log[-1500:])
        check("no configuration was ever valid here" in log, log[-1500:])
        p = check_config(env.conf)
        check(f"{theirs} is owned by uid {uid_of(MALLORY)}" in p.stderr, f"--check-config warns: {p.stderr}")
        os.chown(theirs, 0, 0)
        env.start()
        check(web_allowed(env), "the same file, once only root can change its directories")
    finally:
        env.cleanup()


def test_check_config_reports_trust():
    env = Env(web_conf(False))
    try:
        p = check_config(env.conf)
        eq(p.returncode, 0, f"a root file, 0644: {p.stderr}")
        check("valid (2 client types)" in p.stdout, p.stdout)
        os.chmod(env.conf, 0o666)
        p = check_config(env.conf)
        eq(p.returncode, 0, "a world-writable, valid file: the content decides")
        check("valid (2 client types)" in p.stdout, f"the content is checked: {p.stdout}")
        check(f"warning: {env.conf}: refusing to read it" in p.stderr and "mode 0666" in p.stderr and
              f"warning: tokenpolicyd would not load {env.conf} while this is so" in p.stderr, p.stderr)
        # Relative to the user who checks: their own draft in their own
        # directory is fine for them (their daemon would take it).
        draft_dir = os.path.join(env.dir, "draft")
        os.makedirs(draft_dir)
        draft = os.path.join(draft_dir, "tp.conf")
        with open(draft, "w") as f:
            f.write(web_conf(True))
        os.chown(draft_dir, uid_of(MALLORY), uid_of(MALLORY))
        os.chown(draft, uid_of(MALLORY), uid_of(MALLORY))
        p = check_config(draft, user=MALLORY)
        eq((p.returncode, p.stderr), (0, ""), "a user's own draft, checked by that user")
        p = check_config(draft)
        eq(p.returncode, 0, "the same draft, checked by root")
        check(f"{draft_dir} is owned by uid {uid_of(MALLORY)}" in p.stderr and "warning:" in p.stderr, p.stderr)
        # Content errors and trust problems show together.
        os.chmod(env.conf, 0o666)
        env.write_conf("version = 1;\nclients = { desktop = { max_refresh_tokens = 5; }; };\n")
        p = check_config(env.conf)
        eq(p.returncode, 1, "both")
        check(f"{env.conf}:2:" in p.stderr and "mode 0666" in p.stderr, p.stderr)
    finally:
        env.cleanup()


# -- the last valid configuration --------------------------------------------

def test_serves_the_last_valid_config_when_the_file_breaks():
    env = Env(web_conf(False))
    last = os.path.join(env.state, "last-good.conf")
    try:
        env.start()
        with open(env.conf) as f:
            good = f.read()
        with open(last) as f:
            eq(f.read(), good, "the valid file is kept in the state directory")
        eq(mode(last), 0o600, "last-good.conf mode")
        ino = os.stat(last).st_ino
        env.restart()
        eq(os.stat(last).st_ino, ino, "an unchanged configuration is not written again")
        env.sign_in("tptest-desktop", ALICE)

        # A typo, then a restart: the daemon serves the last valid policy.
        env.stop()
        env.write_conf(good.replace("version = 1;", "version = 1;\nclients = {"))
        env.start()
        st = status(env)
        eq(st["config_state"], "last-good", f"status: {st}")
        eq(st["config_source"], last, "served from the state directory")
        eq(st["config"], env.conf, "the file it should be")
        check(any(e.startswith(f"{env.conf}:") for e in st["config_errors"]), f"why: {st}")
        p = env.ctl("status", check_rc=0)
        check(re.search(r"^config state:\s+NOT IN FORCE: unusable at start", p.stdout, re.M), p.stdout)
        check(re.search(rf"^running config:\s+{re.escape(last)}$", p.stdout, re.M), p.stdout)
        check(re.search(rf"^config errors:\s+{re.escape(env.conf)}:\d+: ", p.stdout, re.M), p.stdout)
        check("warning:" in p.stderr and "is not in force" in p.stderr, p.stderr)
        log = env.log_text()
        check(f"{env.conf} cannot be used: serving the last valid configuration instead, {last}" in log, log[-2000:])
        check("event=config-error" in log and "cannot be used at start" in log, log[-2000:])
        check(env.sign_in("tptest-desktop", ALICE), "sign-ins go on")
        check(not web_allowed(env), "with the last valid policy")
        eq(len(env.sessions()), 2, "the store was kept")
        eq(check_config(env.conf).returncode, 1, "--check-config says the file is bad")

        # Still broken at reload: kept, and still said.
        p = env.ctl("reload")
        eq(p.returncode, 1, "bad reload")
        eq(status(env)["config_state"], "last-good", "still serving the last valid one")

        # Fixed: loaded, and kept as the new last valid one.
        env.write_conf(web_conf(True))
        env.ctl("reload", check_rc=0)
        st = status(env)
        eq((st["config_state"], st["config_source"], st["config_errors"]), ("loaded", env.conf, []), "in force")
        check(web_allowed(env), "the new policy applies")
        with open(last) as f:
            eq(f.read(), web_conf(True), "the new file is the last valid one")

        # A file gone altogether, or one a user could have written, is
        # served around the same way.
        env.stop()
        os.unlink(env.conf)
        env.start()
        st = status(env)
        eq(st["config_state"], "last-good", "missing file")
        check(any("cannot open" in e for e in st["config_errors"]), st)
        check(web_allowed(env), "the last valid policy (web on)")
        env.stop()
        env.write_conf(web_conf(False))
        os.chmod(env.conf, 0o666)
        env.start()
        st = status(env)
        eq(st["config_state"], "last-good", "untrusted file")
        check(any("mode 0666" in e for e in st["config_errors"]), st)
        check(web_allowed(env), "not the untrusted file's policy")

        # The copy in the state directory passes the same checks.
        env.stop()
        os.chmod(last, 0o666)
        log = start_fails(env)
        check(f"{last} is writable by group or others (mode 0666)" in log and
              "neither" in log, log[-2000:])
        os.chmod(last, 0o600)

        # Never a valid one: the daemon refuses to start.
        os.unlink(last)
        log = start_fails(env)
        check("no configuration was ever valid here" in log, log[-2000:])
    finally:
        env.cleanup()


# -- the session store and the state directory -------------------------------

def test_store_files_must_be_the_daemons():
    env = Env()
    db = None
    try:
        env.start()
        env.sign_in("tptest-desktop", ALICE)
        before = env.sessions("--all")
        env.stop()
        db = os.path.join(env.state, "sessions.db")
        for what, make, why in [
            ("a store anyone may write", lambda: os.chmod(db, 0o666),
             f"{db} is writable by group or others (mode 0666)"),
            ("a user's store", lambda: os.chown(db, uid_of(MALLORY), -1),
             f"{db} is owned by uid {uid_of(MALLORY)}, not root"),
        ]:
            make()
            log = start_fails(env)
            check("refusing the session store" in log and why in log, f"{what}: {log[-1500:]}")
            os.chown(db, 0, 0)
            os.chmod(db, 0o600)
        # Its WAL, which SQLite would replay into the store.
        wal = db + "-wal"
        with open(wal, "wb"):
            pass
        os.chmod(wal, 0o666)
        log = start_fails(env)
        check(f"{wal} is writable by group or others" in log, log[-1500:])
        os.unlink(wal)
        os.symlink(os.path.join(env.dir, "elsewhere"), wal)
        log = start_fails(env)
        check(f"{wal} is a symbolic link" in log, log[-1500:])
        os.unlink(wal)
        env.start()
        eq(env.sessions("--all"), before, "the daemon's own store opens, unchanged")
    finally:
        env.cleanup()


def test_state_directory_below_a_users_directory_is_refused():
    env = Env()
    try:
        theirs = os.path.join(env.dir, "theirs")
        os.makedirs(theirs)
        os.chown(theirs, uid_of(MALLORY), uid_of(MALLORY))
        env.state = os.path.join(theirs, "state")
        log = start_fails(env)
        check(f"refusing state directory {env.state}" in log and
              f"{theirs} is owned by uid {uid_of(MALLORY)}, not root" in log, log[-1500:])
        os.chown(theirs, 0, 0)
        env.start()
        eq(status(env)["config_state"], "loaded", "a root directory is fine")
    finally:
        env.cleanup()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    sys.exit(run_with_users(TESTS, [ALICE, MALLORY]))
