#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Enforcement on running sessions, through libpam and a real daemon.

The logind path runs against a stand-in for systemd-logind on a private
D-Bus bus (tests/fake-logind): the daemon must call TerminateSession or
LockSession with the right session id. Without a bus, the session leader
(the PAM process, kept alive here as a login would be) gets SIGHUP. Also:
ghosts never count against a cap, expiry is enforced by the daemon's timer
(time moved with faketime) and across a restart, and the module hands no
systemd.runtime_max_sec to pam_systemd (the daemon alone bounds a
session, so that lock means lock).
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import (BUILD, MODULE, Env, PrivateLogind, check, config_text, eq,  # noqa: E402
                   run_tests, wait_for)

USER = "root"
HOUR = 3600


def desktop_conf(**keys):
    desk = {"services": ["tptest-desktop"], "max_refresh_tokens": 10}
    desk.update(keys)
    return config_text(clients={"desktop": desk, "ssh": {"services": ["tptest-sshd"]}})


def alive(proc):
    return proc.poll() is None


class Fixture:
    def __init__(self, conf, logind=True):
        self.env = Env(conf)
        self.logind = PrivateLogind(self.env.dir) if logind else None

    def start(self):
        extra = {"DBUS_SYSTEM_BUS_ADDRESS": self.logind.address} if self.logind else {}
        self.env.start(env=extra)

    def close(self):
        try:
            self.env.cleanup()
        finally:
            if self.logind:
                self.logind.close()


def session_id(report):
    return report["env"]["TOKENPOLICY_SESSION_ID"]


def test_revoke_terminates_through_logind():
    fx = Fixture(desktop_conf(on_revoke="terminate"))
    try:
        fx.logind.start("42:1")
        fx.start()
        proc, rep = fx.env.sign_in_held("tptest-desktop", USER, pam_env=["XDG_SESSION_ID=42"])
        fx.env.ctl("revoke", session_id(rep), check_rc=0)
        check(wait_for(lambda: "TerminateSession 42" in fx.logind.calls()), fx.logind.calls())
        check(alive(proc), "logind ends the session; the daemon sends no signal of its own")
        check("logind TerminateSession" in fx.env.log_text(), "enforcement audited")
    finally:
        fx.close()


def test_lock_through_logind_on_revoke_and_on_expiry():
    fx = Fixture(desktop_conf(on_revoke="lock", on_expiry="lock", refresh_token_ttl_hours=24))
    try:
        fx.logind.start("42:1", "43:1")
        fx.start()
        _, rep = fx.env.sign_in_held("tptest-desktop", USER, pam_env=["XDG_SESSION_ID=42"])
        fx.env.ctl("revoke", session_id(rep), check_rc=0)
        check(wait_for(lambda: "LockSession 42" in fx.logind.calls()), fx.logind.calls())
        fx.env.sign_in_held("tptest-desktop", USER, pam_env=["XDG_SESSION_ID=43"])
        fx.env.set_offset(24 * HOUR + 1)  # the daemon's timer notices, nobody asks
        check(wait_for(lambda: "LockSession 43" in fx.logind.calls()), fx.logind.calls())
        eq([s["state"] for s in fx.env.sessions("--all")], ["revoked", "expired"], "states")
    finally:
        fx.close()


def test_logind_session_found_from_the_leader():
    fx = Fixture(desktop_conf())
    try:
        fx.logind.start()
        fx.start()
        proc, rep = fx.env.sign_in_held("tptest-desktop", USER)  # no XDG_SESSION_ID recorded
        fx.logind.start(f"7:{proc.pid}")
        fx.env.ctl("revoke", session_id(rep), check_rc=0)
        check(wait_for(lambda: "TerminateSession 7" in fx.logind.calls()), fx.logind.calls())
        check(f"GetSessionByPID {proc.pid}" in fx.logind.calls(), fx.logind.calls())
    finally:
        fx.close()


def test_without_logind_the_leader_gets_sighup():
    fx = Fixture(desktop_conf(), logind=False)
    try:
        fx.start()
        victim, rep = fx.env.sign_in_held("tptest-desktop", USER)
        other, _ = fx.env.sign_in_held("tptest-desktop", USER)
        fx.env.ctl("revoke", session_id(rep), check_rc=0)
        check(wait_for(lambda: not alive(victim)), "the revoked session's leader ended")
        eq(victim.returncode, -1, "killed by SIGHUP")
        check(alive(other), "the other session is untouched")
    finally:
        fx.close()


def test_on_revoke_none_leaves_the_session_running():
    fx = Fixture(desktop_conf(on_revoke="none"), logind=False)
    try:
        fx.start()
        proc, rep = fx.env.sign_in_held("tptest-desktop", USER)
        fx.env.ctl("revoke", session_id(rep), check_rc=0)
        check(not wait_for(lambda: not alive(proc), timeout=1.5), "still running")
        eq(fx.env.sessions("--all")[0]["state"], "revoked", "but revoked")
        check("on_revoke = none" in fx.env.log_text(), "the decision is audited")
    finally:
        fx.close()


def test_ghosts_never_count_against_the_cap():
    fx = Fixture(desktop_conf(evict="deny_new"), logind=False)
    try:
        fx.start()
        leaders = [fx.env.sign_in_held("tptest-desktop", USER)[0] for _ in range(10)]
        eq(len(fx.env.sessions()), 10, "ten recorded")
        r = fx.env.pam("tptest-desktop", USER, "acct", "open")
        eq(r["results"], ["PAM_SUCCESS", "PAM_SESSION_ERR"], "at the cap while they run")
        for proc in leaders:  # crashed clients: no close_session ever comes
            proc.kill()
            proc.wait()
        fx.env.sign_in("tptest-desktop", USER)
        eq(len(fx.env.sessions()), 1, "the ghosts were closed, the new one counted")
        eq(sum(s["state"] == "closed" for s in fx.env.sessions("--all")), 10, "ghosts closed")
        check("session leader is gone (reaped)" in fx.env.log_text(), "reaping audited")
    finally:
        fx.close()


def test_ghosts_below_the_cap_are_reaped_in_the_background():
    fx = Fixture(desktop_conf(), logind=False)
    try:
        fx.start()
        leaders = [fx.env.sign_in_held("tptest-desktop", USER)[0] for _ in range(3)]
        eq(len(fx.env.sessions()), 3, "three recorded, far below the cap of 10")
        leaders[0].kill()
        leaders[0].wait()
        # No sign-in follows: the background pass alone finds it.
        check(wait_for(lambda: len(fx.env.sessions()) == 2, timeout=10), "the ghost was closed")
        eq(sum(s["state"] == "closed" for s in fx.env.sessions("--all")), 1, "exactly the ghost")
        check("session leader is gone (reaped)" in fx.env.log_text(), "reaping audited")
        for proc in leaders[1:]:
            check(alive(proc), "running sessions are left alone")
    finally:
        fx.close()


def test_expiry_while_down_is_enforced_at_start():
    fx = Fixture(desktop_conf(refresh_token_ttl_hours=24), logind=False)
    try:
        fx.start()
        proc, _ = fx.env.sign_in_held("tptest-desktop", USER)
        fx.env.stop()
        fx.env.set_offset(30 * HOUR)
        fx.env.start()
        check(wait_for(lambda: not alive(proc)), "expired while the daemon was down: ended at start")
        eq(fx.env.sessions("--all")[0]["state"], "expired", "state")
    finally:
        fx.close()


def test_extension_moves_the_expiry():
    fx = Fixture(desktop_conf(refresh_token_ttl_hours=24, auto_extend_refresh_token=True), logind=False)
    try:
        fx.start()
        proc, rep = fx.env.sign_in_held("tptest-desktop", USER)
        fx.env.set_offset(20 * HOUR)
        p = fx.env.ctl("token", env={**os.environ, "TOKENPOLICY_SESSION_ID": session_id(rep)})
        eq(p.returncode, 0, p.stderr)
        fx.env.set_offset(25 * HOUR)  # past the first expiry, before the extended one
        check(not wait_for(lambda: not alive(proc), timeout=2.5), "extended session kept")
        fx.env.set_offset(44 * HOUR + 5)
        check(wait_for(lambda: not alive(proc)), "ended at the extended expiry")
    finally:
        fx.close()


def test_no_runtime_bound_for_pam_systemd():
    # A hard bound would end the session at its first expiry whatever a
    # re-authentication renewed, and turn on_expiry = "lock" into terminate.
    for auto_extend in (False, True):
        fx = Fixture(desktop_conf(refresh_token_ttl_hours=24, auto_extend_refresh_token=auto_extend),
                     logind=False)
        try:
            out = os.path.join(fx.env.dir, "runtime")
            with open(os.path.join(fx.env.pamdir, "tptest-desktop"), "w") as f:
                f.write(f"account required {MODULE} socket={fx.env.sock}{fx.env.trust}\n")
                f.write(f"session required {MODULE} socket={fx.env.sock}{fx.env.trust}\n")
                f.write(f"session required {os.path.join(BUILD, 'tests', 'pam_tptest_data.so')} out={out}\n")
            fx.start()
            fx.env.sign_in("tptest-desktop", USER)
            with open(out) as f:
                eq(f.read().strip(), "none", f"no systemd.runtime_max_sec (auto-extend {auto_extend})")
        finally:
            fx.close()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    if os.geteuid() != 0:
        print("1..0 # SKIP enforcement tests need root")
        sys.exit(0)
    sys.exit(run_tests(TESTS))
