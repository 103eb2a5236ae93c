#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Idle timeouts and the warning before a session is ended or locked,
through libpam and a real daemon.

Terminal sessions sign in on a real pseudo-terminal (PAM_TTY), whose last
input the kernel records as the device's access time, as w(1) reads it:
the tests type into it through the master side, or set that time back
with utime(2) where minutes of idleness are needed. Graphical sessions
take their idleness from logind's IdleHint and IdleSinceHint, served by
the logind stand-in (tests/fake-logind). The daemon's clock is moved with
faketime.
"""
import json
import os
import pwd
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import (BUILD, DAEMON, Env, PrivateLogind, check, config_text, eq,  # noqa: E402
                   run_with_users, wait_for)

USER = "root"
DESKTOP_USER = "tptest-idle"  # a graphical session's user, with a session bus
MINUTE = 60
HOUR = 3600


def conf(ssh=None, desktop=None):
    ssh_keys = {"services": ["tptest-sshd"], "max_refresh_tokens": 10}
    ssh_keys.update(ssh or {})
    desk_keys = {"services": ["tptest-desktop"], "max_refresh_tokens": 10}
    desk_keys.update(desktop or {})
    return config_text(clients={"desktop": desk_keys, "ssh": ssh_keys})


class Pty:
    """A pseudo-terminal with a reader on its slave side, as a shell would
    be: input written to the master is read, which moves the device's
    access time."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        os.set_blocking(self.master, False)
        self.reader = subprocess.Popen(["cat"], stdin=self.slave, stdout=subprocess.DEVNULL)
        self.seen = b""

    def idle_since(self, seconds_ago):
        st = os.stat(self.path)
        os.utime(self.path, (time.time() - seconds_ago, st.st_mtime))

    def type(self, text=b"ls\n"):
        before = os.stat(self.path).st_atime
        os.write(self.master, text)
        check(wait_for(lambda: os.stat(self.path).st_atime != before, timeout=5), "input read")

    def output(self):
        """Everything written to the terminal so far (the notices)."""
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            self.seen += chunk
        return self.seen.decode(errors="replace")

    def close(self):
        self.reader.kill()
        self.reader.wait()
        os.close(self.master)
        os.close(self.slave)


class Fixture:
    def __init__(self, text, logind=False):
        self.env = Env(text)
        self.logind = PrivateLogind(self.env.dir) if logind else None
        self.ptys = []

    def start(self):
        # libfaketime moves the times stat() reports with the clock unless
        # told not to: a terminal's last input must stay when it was.
        extra = {"NO_FAKE_STAT": "1"}
        if self.logind:
            extra["DBUS_SYSTEM_BUS_ADDRESS"] = self.logind.address
        self.env.start(env=extra)

    def pty(self):
        p = Pty()
        self.ptys.append(p)
        return p

    def sessions(self):
        return {s["id"]: s for s in self.env.sessions("--all")}

    def audit(self, event):
        return [line for line in self.env.log_text().splitlines() if f"event={event}" in line]

    def close(self):
        try:
            self.env.cleanup()
        finally:
            for p in self.ptys:
                p.close()
            if self.logind:
                self.logind.close()


def sid(report):
    return report["env"]["TOKENPOLICY_SESSION_ID"]


def test_idle_terminal_session_is_ended():
    fx = Fixture(conf(ssh={"idle_timeout_minutes": 60, "on_idle": "terminate"}))
    try:
        fx.start()
        pty = fx.pty()
        leader, rep = fx.env.sign_in_held("tptest-sshd", USER, tty=pty.path)
        check(wait_for(lambda: "event=idle" not in fx.env.log_text(), timeout=2), "not idle at sign-in")
        pty.idle_since(2 * HOUR)
        check(wait_for(lambda: leader.poll() is not None), "idle session's leader ended")
        eq(fx.sessions()[sid(rep)]["state"], "expired", "marked expired before it was ended")
        [idle] = fx.audit("idle")
        check("idle for 120 minutes (idle_timeout_minutes = 60)" in idle, idle)
        check(wait_for(lambda: any("on_idle = terminate" in e for e in fx.audit("enforce"))),
              fx.env.log_text())
        check(wait_for(lambda: "being ended: idle for 120 minutes" in pty.output()), pty.output())
    finally:
        fx.close()


def test_input_on_the_terminal_keeps_the_session():
    fx = Fixture(conf(ssh={"idle_timeout_minutes": 60, "on_idle": "terminate"}))
    try:
        fx.start()
        typed, quiet = fx.pty(), fx.pty()
        typed_leader, typed_rep = fx.env.sign_in_held("tptest-sshd", USER, tty=typed.path)
        quiet_leader, quiet_rep = fx.env.sign_in_held("tptest-sshd", USER, tty=quiet.path)
        for p in (typed, quiet):
            p.idle_since(59 * MINUTE)
        typed.type()             # the kernel records the input
        fx.env.set_offset(30 * MINUTE)
        check(wait_for(lambda: quiet_leader.poll() is not None), "the quiet session was ended")
        sessions = fx.sessions()
        eq(sessions[quiet_rep["env"]["TOKENPOLICY_SESSION_ID"]]["state"], "expired", "quiet one")
        eq(sessions[sid(typed_rep)]["state"], "active", "the session typed into stays")
        check(typed_leader.poll() is None, "its leader runs")
        eq(len(fx.audit("idle")), 1, "one idle event")
    finally:
        fx.close()


def test_idle_desktop_is_locked_through_logind_once():
    fx = Fixture(conf(desktop={"idle_timeout_minutes": 30, "on_idle": "lock"}), logind=True)
    try:
        fx.logind.start("42:1", "43:1", idle=[f"42:{int(time.time()) - HOUR}"])
        fx.start()
        _, idle_rep = fx.env.sign_in_held("tptest-desktop", USER, pam_env=["XDG_SESSION_ID=42"])
        _, busy_rep = fx.env.sign_in_held("tptest-desktop", USER, pam_env=["XDG_SESSION_ID=43"])
        check(wait_for(lambda: "LockSession 42" in fx.logind.calls()), fx.logind.calls())
        # Several more passes: the idle one is not locked again, the busy
        # one (IdleHint false) never.
        check(wait_for(lambda: fx.logind.calls().count("IdleHint 43") >= 3), fx.logind.calls())
        calls = fx.logind.calls()
        eq(calls.count("LockSession 42"), 1, f"locked once: {calls}")
        check("LockSession 43" not in calls, calls)
        sessions = fx.sessions()
        eq(sessions[sid(idle_rep)]["state"], "active", "a locked session stays signed in")
        eq(sessions[sid(busy_rep)]["state"], "active", "busy session")
        [idle] = fx.audit("idle")
        check("session=" + sid(idle_rep) in idle, idle)
    finally:
        fx.close()


def test_warning_before_expiry_on_the_terminal():
    fx = Fixture(conf(ssh={"refresh_token_ttl_hours": 24, "warn_before_minutes": 10}))
    try:
        fx.start()
        pty = fx.pty()
        leader, rep = fx.env.sign_in_held("tptest-sshd", USER, tty=pty.path)
        check(wait_for(lambda: "event=warn" not in fx.env.log_text(), timeout=2), "no warning early")
        fx.env.set_offset(24 * HOUR - 5 * MINUTE)
        check(wait_for(lambda: "when its sign-in expires" in pty.output()), pty.output())
        text = pty.output()
        check("will be ended at" in text and "(in 5 minutes)" in text, text)
        check("sign in again" in text, "says how to go on: " + text)
        # More passes, one warning.
        time.sleep(2.5)
        eq(pty.output().count("when its sign-in expires"), 1, "warned once")
        [warn] = fx.audit("warn")
        check("sign-in expires in 5 minutes; on_expiry = terminate; told on " + pty.path in warn, warn)
        check(leader.poll() is None, "still running until the expiry")
        eq(fx.sessions()[sid(rep)]["state"], "active", "still active")
    finally:
        fx.close()


def test_warning_before_idle_action():
    fx = Fixture(conf(ssh={"idle_timeout_minutes": 60, "on_idle": "terminate", "warn_before_minutes": 10}))
    try:
        fx.start()
        pty = fx.pty()
        leader, rep = fx.env.sign_in_held("tptest-sshd", USER, tty=pty.path)
        pty.idle_since(55 * MINUTE)
        check(wait_for(lambda: "use it to keep it open" in pty.output()), pty.output())
        check("has been idle for 55 minutes and will be ended" in pty.output(), pty.output())
        check(leader.poll() is None, "warned, not ended")
        [warn] = fx.audit("warn")
        check("idle for 55 minutes, on_idle = terminate in 5 minutes" in warn, warn)
        eq(fx.audit("idle"), [], "not acted on yet")
    finally:
        fx.close()


class UserBus:
    """The session bus of DESKTOP_USER at /run/user/UID/bus, where a desktop
    has it, run by the user, with the notification stand-in on it."""

    def __init__(self, directory):
        pw = pwd.getpwnam(DESKTOP_USER)
        self.rundir = f"/run/user/{pw.pw_uid}"
        check(not os.path.exists(self.rundir), f"{self.rundir} exists: not ours to use")
        os.makedirs(self.rundir, mode=0o700)
        os.chown(self.rundir, pw.pw_uid, pw.pw_gid)
        self.log = os.path.join(self.rundir, "notifications")
        conf = os.path.join(directory, "session-bus.conf")
        with open(conf, "w") as f:
            f.write(f"""<busconfig>
  <type>session</type>
  <listen>unix:path={self.rundir}/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
""")
        as_user = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"]
        self.bus = self.server = None
        try:
            # Their output is read once and then not at all: nothing of the
            # test's own standard output is handed down to them.
            self.bus = subprocess.Popen([*as_user, "dbus-daemon", f"--config-file={conf}", "--nofork",
                                         "--print-address"], stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
            address = self.bus.stdout.readline().strip()
            check(address.startswith("unix:"), f"session bus printed {address!r}")
            self.server = subprocess.Popen([*as_user, os.path.join(BUILD, "tests", "fake-logind"), "--address",
                                            address, "--log", self.log, "--notifications"],
                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            eq(self.server.stdout.readline().strip(), "ready", "notification server ready")
        except BaseException:
            self.close()
            raise

    def notifications(self):
        try:
            with open(self.log) as f:
                return [line.strip() for line in f if line.strip()]
        except OSError:
            return []

    def close(self):
        for p in (self.server, self.bus):
            if p and p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
        shutil.rmtree(self.rundir, ignore_errors=True)


def test_graphical_session_is_warned_on_its_users_desktop():
    fx = Fixture(conf(desktop={"refresh_token_ttl_hours": 24, "on_expiry": "lock", "warn_before_minutes": 10}),
                 logind=True)
    desktop = None
    try:
        desktop = UserBus(fx.env.dir)
        fx.logind.start("42:1", types=["42:x11"])
        fx.start()
        fx.env.sign_in_held("tptest-desktop", DESKTOP_USER, pam_env=["XDG_SESSION_ID=42"])
        fx.env.set_offset(24 * HOUR - 5 * MINUTE)
        check(wait_for(lambda: desktop.notifications()), "a notification")
        [note] = desktop.notifications()
        check(note.startswith("Notify tokenpolicy|Your session will end soon|this desktop session will be locked at"),
              note)
        check("unlock the screen with your password" in note, note)
        check(wait_for(lambda: any("desktop notification posted" in w for w in fx.audit("warn"))),
              fx.env.log_text())
    finally:
        if desktop:
            desktop.close()
        fx.close()


def test_policy_and_explain_show_the_settings():
    fx = Fixture(conf(ssh={"idle_timeout_minutes": 15, "on_idle": "terminate", "warn_before_minutes": 5}))
    try:
        fx.start()
        pol = json.loads(fx.env.ctl("policy", "--json", check_rc=0).stdout)
        by = {c["name"]: c for c in pol["clients"]}
        eq((by["ssh"]["idle_timeout_minutes"], by["ssh"]["on_idle"], by["ssh"]["warn_before_minutes"]),
           (15, "terminate", 5), "ssh")
        eq((by["desktop"]["idle_timeout_minutes"], by["desktop"]["on_idle"], by["desktop"]["warn_before_minutes"]),
           (0, "lock", 0), "defaults: off")
        table = fx.env.ctl("policy", check_rc=0).stdout
        check("IDLE" in table and "15m terminate" in table and "5m" in table, table)
        ex = json.loads(fx.env.ctl("explain", "--user", USER, "--client", "ssh", "--json",
                                   check_rc=0).stdout)
        eq((ex["idle_timeout_minutes"], ex["on_idle"], ex["warn_before_minutes"]), (15, "terminate", 5), "explain")
        check("Idle for 15 minutes, it would be ended." in ex["reason"], ex["reason"])
        lines = fx.env.ctl("explain", "--user", USER, "--client", "ssh", check_rc=0).stdout
        check("ended after 15 minutes" in lines and "5 minutes before" in lines, lines)
    finally:
        fx.close()


def test_bad_values_are_refused_with_their_line():
    env = Env(conf(ssh={"idle_timeout_minutes": 1441, "on_idle": "none", "warn_before_minutes": -1}))
    try:
        p = subprocess.run([DAEMON, "--check-config", env.conf], capture_output=True, text=True)
        eq(p.returncode, 1, p.stderr)
        line = next(i for i, t in enumerate(open(env.conf).read().splitlines(), 1) if "ssh" in t)
        for msg in ("idle_timeout_minutes = 1441 is out of range (0..1440)",
                    'on_idle = "none" is not one of terminate, lock',
                    "warn_before_minutes = -1 is out of range (0..720)"):
            check(f"{env.conf}:{line}: {msg}" in p.stderr, p.stderr)
        # A reload with them keeps the running policy.
        env.write_conf(conf(ssh={"idle_timeout_minutes": 30}))
        env.start()
        env.write_conf(conf(ssh={"idle_timeout_minutes": 1441}))
        r = env.ctl("reload")
        check(r.returncode != 0 and "out of range" in r.stderr, r.stderr)
        pol = json.loads(env.ctl("policy", "--json", check_rc=0).stdout)
        eq([c["idle_timeout_minutes"] for c in pol["clients"] if c["name"] == "ssh"], [30], "kept")
    finally:
        env.cleanup()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    if os.geteuid() != 0:
        print("1..0 # SKIP idle tests need root")
        sys.exit(0)
    sys.exit(run_with_users(TESTS, [DESKTOP_USER]))
