#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The audit trail through a real daemon.

- A journal that stops reading (a real datagram socket, bound by the test,
  that never reads) holds no sign-in: logins keep working, what the
  journal cannot take is counted, and once a journal reads again the count
  arrives as an audit-lost entry (parsed field by field here) and shows in
  `tokenpolicyctl status`.
- A user flooding access checks with text of their choosing does not
  flood the audit trail: allowed checks are not audited, the rest are
  limited per uid, every suppressed event is counted and reported, and the
  bytes they chose arrive escaped.
- A sign-in whose client is gone (the PAM module timed out on a frozen
  daemon, or a client sent `open` and hung up, or never read the answer)
  is never audited as signed in: it is not acted on, or its session is
  closed at once, and the trail says `undelivered`.
- A detached daemon with neither journald nor a syslog socket writes its
  audit trail to a file in its state directory.
- An undefined `client=` type is audited as such, not as an unmapped service.
"""
import json
import os
import pwd
import re
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import (DAEMON, Env, check, config_text, eq, run_with_users,  # noqa: E402
                   wait_for)

USER = "tptest-auditor"
ROOT = "root"
OK, DENIED, EXPIRED, NOT_FOUND, FORBIDDEN, BAD_REQUEST, ERROR, UNMAPPED = range(8)
T_ACCESS, T_OPEN = 1, 2
RATE_BURST, RATE_REFILL_S = 10, 6  # TP_AUDIT_RATE_* in tokenpolicyd/log.h


def s16(v):
    b = v.encode("utf-8", "surrogateescape")
    return struct.pack(">H", len(b)) + b


def signin_frame(t, user, service, client=""):
    # ..., leader_pid, logind_session, flags (PROTOCOL.md §5.1)
    p = s16(user) + s16(service) + s16(client) + s16("") + s16("") + struct.pack(">I", 0) + s16("") \
        + struct.pack(">I", 0)
    return b"TP\x01" + bytes([t]) + struct.pack(">I", len(p)) + p


# A peer speaking PROTOCOL.md, run as any uid: one connection per request,
# prints the status of each reply (-1: refused, as the daemon refuses a
# user's connections beyond its per-uid limit).
CLIENT = r"""
import socket, struct, sys, json
path, frames = sys.argv[1], json.loads(sys.argv[2])
out = []
for hexframe in frames:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    data = b""
    try:
        s.connect(path)
        s.sendall(bytes.fromhex(hexframe))
        while len(data) < 8 or len(data) < 8 + struct.unpack(">I", data[4:8])[0]:
            c = s.recv(65536)
            if not c:
                break
            data += c
    except (ConnectionResetError, BrokenPipeError):
        data = b""
    s.close()
    out.append(data[8] if len(data) > 8 else -1)
print(json.dumps(out))
"""


def send_as(user, path, frames):
    cmd = ["/usr/bin/python3", "-c", CLIENT, path, json.dumps([f.hex() for f in frames])]
    if user != ROOT:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    eq(p.returncode, 0, p.stderr)
    return json.loads(p.stdout)


def read_reply_status(conn):
    data = b""
    while len(data) < 8 or len(data) < 8 + struct.unpack(">I", data[4:8])[0]:
        c = conn.recv(65536)
        check(c, "reply cut short")
        data += c
    return data[8]


def status(env):
    return json.loads(env.ctl("status", "--json", check_rc=0).stdout)


def parse_entry(data):
    """One native-protocol journal entry: KEY=VALUE lines, or KEY, a
    64-bit little-endian length and the value."""
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            size = struct.unpack("<Q", data[nl + 1:nl + 9])[0]
            k, v = line, data[nl + 9:nl + 9 + size]
            i = nl + 9 + size + 1
        fields[k.decode()] = v.decode("utf-8")  # escaped: always valid UTF-8
    return fields


class Journal:
    """A journal socket in the test's directory: at first one that never
    reads; read() puts one that reads and parses in its place."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "journal.sock")
        self.stuck = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.stuck.bind(self.path)
        self.reader = None
        self.entries = []
        self.stop = threading.Event()
        self.thread = None

    def read(self):
        new = self.path + ".new"
        self.reader = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.reader.bind(new)
        self.reader.settimeout(0.2)
        os.rename(new, self.path)  # atomically: the daemon never finds no journal
        self.stuck.close()

        def drain():
            while not self.stop.is_set():
                try:
                    self.entries.append(parse_entry(self.reader.recv(1 << 20)))
                except socket.timeout:
                    continue

        self.thread = threading.Thread(target=drain)
        self.thread.start()

    def close(self):
        self.stop.set()
        if self.thread:
            self.thread.join(timeout=10)
        for s in (self.stuck, self.reader):
            if s:
                s.close()


def test_hung_journal_holds_no_login_and_losses_are_reported():
    env = Env(config_text())
    journal = Journal(env.dir)
    try:
        # JOURNAL_STREAM as under systemd: stderr is the journal too, so
        # the audit goes to the journal socket only.
        env.start(env={"TOKENPOLICYD_JOURNAL_SOCKET": journal.path, "JOURNAL_STREAM": "8:1234"})
        # Root's denied access checks: each one an audit event, never
        # limited. Far more than the socket and the daemon's queue hold.
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(30)
        conn.connect(env.sock)
        frame = signin_frame(T_ACCESS, ROOT, "tptest-web")
        sent = 0
        while sent < 100000 and (sent < 300 or sent % 100 or status(env)["audit_lost"] < 100):
            conn.sendall(frame)
            eq(read_reply_status(conn), DENIED, "check answered")
            sent += 1
        conn.close()
        # Sign-ins go through while the journal does not read: a daemon
        # blocked on it would never answer, and the module would refuse.
        for _ in range(3):
            r = env.pam("tptest-desktop", ROOT, "acct", "open", "close")
            eq(r["results"], ["PAM_SUCCESS"] * 3, f"login while the journal is stuck: {r}")
        st = status(env)
        eq(st["audit_sink"], "journal", "audit sink")
        check(st["audit_lost"] > 0 and st["audit_queued"] > 0, f"entries waiting and lost: {st}")

        journal.read()
        check(wait_for(lambda: any(e.get("TOKENPOLICY_DECISION") == "audit-lost" for e in journal.entries),
                       timeout=30), f"no audit-lost entry among {len(journal.entries)}")
        lost = [e for e in journal.entries if e.get("TOKENPOLICY_DECISION") == "audit-lost"]
        eq(len(lost), 1, "one report")
        m = re.match(r"(\d+) audit event\(s\) could not be written: the journal did not take them", lost[0]["TOKENPOLICY_REASON"])
        check(m, lost[0])
        eq(lost[0]["MESSAGE_ID"], "cf7383c057dd40f695093ec0851d489e", "audit-lost MESSAGE_ID")
        eq(lost[0]["PRIORITY"], "4", "a warning")
        st = status(env)
        eq((st["audit_queued"], st["audit_lost"]), (0, int(m.group(1))), f"status after the report: {st}")
        # What waited arrived, whole, with its fields.
        denials = [e for e in journal.entries if e.get("TOKENPOLICY_DECISION") == "deny"]
        check(denials, "queued denials arrived")
        for e in denials:
            eq((e["TOKENPOLICY_USER"], e["TOKENPOLICY_CLIENT"], e["TOKENPOLICY_SERVICE"], e["TOKENPOLICY_REASON"],
                e["MESSAGE_ID"], e["PRIORITY"], e["SYSLOG_IDENTIFIER"]),
               (ROOT, "web", "tptest-web", "client type disabled", "a68038702606404ea9d798fcccdb57cf", "5",
                "tokenpolicyd"), "deny entry")
            check(e["MESSAGE"].startswith("event=deny user=root client=web service=tptest-web"), e["MESSAGE"])
        # And what happens now is written at once.
        env.pam("tptest-desktop", ROOT, "acct", "open", "close")
        check(wait_for(lambda: any(e.get("TOKENPOLICY_REASON") == "signed in" and e["TOKENPOLICY_CLIENT"] == "desktop"
                                   for e in journal.entries[journal.entries.index(lost[0]):])),
              "a sign-in after the report reaches the journal")
        eq(status(env)["audit_lost"], int(m.group(1)), "nothing more lost")
    finally:
        journal.close()
        env.cleanup()


def audited_denials(log, uid_user):
    return [line for line in log.splitlines() if "audit: event=deny" in line and f"user={uid_user} " in line]


def suppressed_reports(log, uid):
    return [int(m.group(1)) for m in re.finditer(
        rf"event=audit-suppressed peer_uid={uid} reason=\"(\d+) audit event\(s\)", log)]


def test_user_flooding_access_checks_does_not_flood_the_audit():
    uid = pwd.getpwnam(USER).pw_uid
    env = Env(config_text())
    try:
        env.start()
        hostile = ["tptest-svc\u0085event=allow", "tptest-svc\u2028x", "tptest-svc\u202ereversed",
                   "tptest-svc\udcff\udcfebad-utf8"]  # the last: bytes ff fe
        frames = []
        for i in range(40):
            frames.append(signin_frame(T_ACCESS, USER, "tptest-web"))           # denied: audited
            frames.append(signin_frame(T_ACCESS, USER, "tptest-desktop"))       # allowed: not audited
            frames.append(signin_frame(T_ACCESS, USER, hostile[i % len(hostile)]))  # unmapped: audited
        t0 = time.monotonic()
        replies = send_as(USER, env.sock, frames)
        elapsed = time.monotonic() - t0
        audited = sum(1 for r in replies if r in (DENIED, UNMAPPED))
        check(audited > 2 * RATE_BURST, f"the flood got through the request limit: {replies}")
        check(replies.count(OK) > 0, "allowed checks were answered")

        # Every audit-worthy check is either written or counted and reported.
        def accounted():
            log = env.log_text()
            return len(audited_denials(log, USER)) + sum(suppressed_reports(log, uid)) == audited
        check(wait_for(accounted, timeout=60),
              f"written {len(audited_denials(env.log_text(), USER))} + suppressed "
              f"{suppressed_reports(env.log_text(), uid)} != {audited}")
        log = env.log_text()
        written = len(audited_denials(log, USER))
        # The token bucket bounds what one uid can write in `elapsed`.
        check(written <= RATE_BURST + int(elapsed / RATE_REFILL_S) + 1,
              f"{written} denials written in {elapsed:.1f} s")
        check("access check passed" not in log, "allowed access checks are not audited")
        eq(status(env)["audit_suppressed"], audited - written, "status counts the suppressed")
        # The bytes the user chose arrive escaped, each line one event.
        for raw in ("\u0085", "\u2028", "\u202e", "\udcff"):
            check(raw.encode("utf-8", "surrogateescape") not in log.encode("utf-8", "surrogateescape"),
                  f"{raw!r} reached the log unescaped")
        for line in log.splitlines():
            if "audit:" in line:
                eq(line.count("audit: event="), 1, line)
        # Root's sign-in is audited whatever the user did.
        env.pam("tptest-desktop", ROOT, "acct", "open", "close")
        check(re.search(r"event=allow user=root client=desktop .*reason=\"signed in\"", env.log_text()),
              "root's sign-in audited")
    finally:
        env.cleanup()


def test_flood_text_is_escaped_when_written():
    """The first checks of a flood are written: their text escaped."""
    env = Env(config_text())
    try:
        env.start()
        send_as(USER, env.sock, [signin_frame(T_ACCESS, USER, "tptest-x\u0085y\u2028z\u202e\udcff")])
        check(wait_for(lambda: "service=\"tptest-x\\u0085y\\u2028z\\u202e\\xff\"" in env.log_text()),
              env.log_text()[-1500:])
    finally:
        env.cleanup()


def test_undefined_client_type_has_its_own_reason():
    env = Env(config_text())
    try:
        env.start()
        env.pam_service("tptest-other", args="client=nosuch")
        r = env.pam("tptest-other", ROOT, "acct")
        check(r["results"][0] != "PAM_SUCCESS", r)
        log = env.log_text()
        check('event=deny user=root client=nosuch service=tptest-other reason="undefined client type"' in log,
              log[-1500:])
        check("unmapped service" not in log, "not audited as an unmapped service")
    finally:
        env.cleanup()


def no_session_for(env, service):
    return [s for s in env.sessions("--all") if s["service"] == service]


def test_sign_in_refused_on_timeout_is_not_audited_as_allowed():
    """The module gives up on a frozen daemon (fail=closed refuses the
    login); when the daemon resumes it must not create the session nor
    audit it as signed in."""
    env = Env(config_text(clients={"desktop": {"services": ["tptest-desktop", "tptest-frozen"]},
                                   "web": {"services": ["tptest-web"]}}))
    try:
        env.start()
        env.pam_service("tptest-frozen", args="timeout=300", fail="closed")
        env.proc.send_signal(signal.SIGSTOP)
        try:
            r = env.pam("tptest-frozen", ROOT, "open")
        finally:
            env.proc.send_signal(signal.SIGCONT)
        eq(r["results"], ["PAM_SESSION_ERR"], f"refused on the timeout: {r}")
        check(wait_for(lambda: "event=undelivered" in env.log_text(), timeout=30), env.log_text()[-1500:])
        log = env.log_text()
        check(re.search(r"event=undelivered user=root client=desktop service=tptest-frozen peer_uid=0 "
                        r"reason=\"the client was gone before its sign-in was answered", log)
              or re.search(r"event=undelivered user=root service=tptest-frozen peer_uid=0 "
                           r"reason=\"the client was gone before its sign-in was answered", log), log[-1500:])
        check("signed in" not in log, f"audited as signed in:\n{log[-1500:]}")
        eq(no_session_for(env, "tptest-frozen"), [], "no session was created")

        # The same from a raw client that sends open and hangs up.
        env.proc.send_signal(signal.SIGSTOP)
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(env.sock)
            s.sendall(signin_frame(T_OPEN, ROOT, "tptest-desktop"))
            s.close()
        finally:
            env.proc.send_signal(signal.SIGCONT)
        check(wait_for(lambda: env.log_text().count("event=undelivered") == 2, timeout=30), env.log_text()[-1500:])
        check("signed in" not in env.log_text(), "the hung-up open is not audited as signed in")
        eq(env.sessions("--all"), [], "no session at all")
        # The daemon still serves.
        r = env.pam("tptest-desktop", ROOT, "acct", "open", "close")
        eq(r["results"], ["PAM_SUCCESS"] * 3, r)
    finally:
        if env.proc and env.proc.poll() is None:
            env.proc.send_signal(signal.SIGCONT)
        env.cleanup()


def test_sign_in_answer_never_read_closes_the_session():
    """A client that pipelines sign-ins and never reads: once the daemon
    cannot write an answer (its buffer is full) and gives up on it, the
    session that answer created is closed at once and audited, not left
    for ghost reaping."""
    env = Env(config_text(clients={"desktop": {"services": ["tptest-desktop"], "max_refresh_tokens": 100,
                                               "on_revoke": "none"}}))
    s = None
    try:
        env.start()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(env.sock)
        s.setblocking(False)
        frame = signin_frame(T_OPEN, ROOT, "tptest-desktop")
        sent = 0
        for _ in range(1000):
            try:
                s.send(frame)  # a frame is small: whole or not at all
                sent += 1
            except BlockingIOError:
                break
        check(sent > 0, "frames sent")
        # The daemon answers until its send buffer is full, then waits for
        # the reader up to its write timeout, then gives up.
        check(wait_for(lambda: "event=undelivered" in env.log_text(), timeout=90), env.log_text()[-1500:])
        log = env.log_text()
        m = re.search(r"event=undelivered user=root client=desktop service=tptest-desktop session=([0-9a-f]{32}) "
                      r"peer_uid=0 reason=\"the sign-in's answer could not be delivered \(the client was gone\); "
                      r"its session was closed\"", log)
        check(m, log[-2000:])
        eq(log.count("event=undelivered"), 1, "one answer was left undelivered")
        sid = m.group(1)
        rows = {x["id"]: x for x in env.sessions("--all")}
        eq(rows[sid]["state"], "closed", "the undelivered sign-in's session is closed")
        check(re.search(rf"event=allow user=root client=desktop service=tptest-desktop session={sid} ", log),
              "it had been audited when it was committed")
        check("reply not read in time" in log, "the daemon gave up on the reader")
    finally:
        if s:
            s.close()
        env.cleanup()


def test_detached_without_syslog_writes_the_state_directory_file():
    env = Env(config_text())
    pid = None
    try:
        denv = env.daemon_env()
        denv["DBUS_SYSTEM_BUS_ADDRESS"] = f"unix:path={env.dir}/no-bus"
        denv["TOKENPOLICYD_JOURNAL_SOCKET"] = os.path.join(env.dir, "no-journal")
        denv["TOKENPOLICYD_SYSLOG_SOCKET"] = os.path.join(env.dir, "no-dev-log")
        p = subprocess.run([DAEMON, "--config", env.conf, "--socket", env.sock, "--state-dir", env.state],
                           env=denv, capture_output=True, text=True, timeout=60)
        eq(p.returncode, 0, f"detached start: {p.stderr}")
        st = status(env)
        pid = st["pid"]
        path = os.path.join(env.state, "tokenpolicyd.log")
        eq(st["audit_sink"], f"file {path}", "status names the file")
        r = env.pam("tptest-desktop", ROOT, "acct", "open", "close")
        eq(r["results"], ["PAM_SUCCESS"] * 3, r)
        env.pam("tptest-web", ROOT, "acct")

        def text():
            try:
                with open(path) as f:
                    return f.read()
            except OSError:
                return ""
        check(wait_for(lambda: "reason=\"signed out\"" in text()), text())
        t = text()
        check(re.search(r"^\S+ tokenpolicyd\[\d+\]: audit: event=allow user=root client=desktop "
                        r"service=tptest-desktop session=[0-9a-f]{32} reason=\"signed in\"$", t, re.M), t)
        check('event=deny user=root client=web service=tptest-web reason="client type disabled"' in t, t)
        check("ready:" in t, "diagnostics are there too")
        eq(stat.S_IMODE(os.stat(path).st_mode), 0o600, "mode")
        eq(os.stat(path).st_uid, os.geteuid(), "owner")
    finally:
        if pid:
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=20)
        env.cleanup()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    sys.exit(run_with_users(TESTS, [USER]))
