#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""systemd integration: units, readiness, watchdog, socket activation and
the audit trail in the journal.

The service manager's side is played by the test: a datagram socket for
NOTIFY_SOCKET, systemd-socket-activate and a socket the test holds itself
(as tokenpolicyd.socket would) across a restart, and a journal socket
mounted at /run/systemd/journal/socket in a private mount namespace, where
the daemon's sd_journal_send() finds it.
"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import (CTL, DAEMON, ROOT, Env, check, config_text, eq, run_tests,  # noqa: E402
                   wait_for)

USER = "root"


def status_frame():
    return b"TP\x01\x06" + struct.pack(">I", 0)


def ask_status(path, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(status_frame())
    reply = s.recv(65536)
    s.close()
    return reply


def test_units_verify_cleanly():
    dest = tempfile.mkdtemp(prefix="tptest-units-")
    try:
        b = os.environ.get("B", "build")
        extra = ["SANITIZE=1"] if b == "build-asan" else []
        p = subprocess.run(["make", "-C", ROOT, "--no-print-directory", *extra, "install", f"DESTDIR={dest}"],
                           capture_output=True, text=True)
        eq(p.returncode, 0, p.stderr)
        units = [os.path.join(root, f) for root, _, files in os.walk(dest) for f in files
                 if f in ("tokenpolicyd.service", "tokenpolicyd.socket")]
        eq(sorted(os.path.basename(u) for u in units), ["tokenpolicyd.service", "tokenpolicyd.socket"], "units")
        unitdir = os.path.dirname(units[0])
        # The standard units ours refer to (sysinit.target, sockets.target...)
        # come from this system, as they would on an installed one.
        subprocess.run(["cp", "-rn", "/lib/systemd/system/.", unitdir], check=True)
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={dest}",
                            *[os.path.join(unitdir[len(dest):], os.path.basename(u)) for u in units]],
                           capture_output=True, text=True)
        eq((p.returncode, p.stdout + p.stderr), (0, ""), "systemd-analyze verify says nothing")
        # Hardening stays where systemd-analyze security rates it "OK" (a
        # root daemon that must read shadow and signal session leaders).
        p = subprocess.run(["systemd-analyze", "security", "--offline=true", f"--root={dest}",
                            "--no-pager", "tokenpolicyd.service"], capture_output=True, text=True)
        level = [line for line in p.stdout.splitlines() if "Overall exposure level" in line]
        check(level, f"no exposure level: {p.stdout[-500:]} {p.stderr}")
        exposure = float(level[0].split(":")[1].split()[0])
        check(exposure <= 2.0, f"exposure {exposure} > 2.0:\n{p.stdout}")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


class Notifications:
    """A NOTIFY_SOCKET the test reads, as the service manager would."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)

    def read(self, timeout):
        deadline = time.monotonic() + timeout
        got = []
        while time.monotonic() < deadline:
            try:
                got.append(self.sock.recv(4096).decode())
            except socket.timeout:
                if got:
                    break
        return got

    def wait_for(self, needle, timeout=15):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            seen.append(msg)
            if needle in msg.split("\n"):
                return msg, seen
        raise AssertionError(f"no {needle} among {seen}")


def test_ready_only_when_serving_and_watchdog_pings():
    env = Env()
    note = Notifications(env.dir)
    try:
        env.start(wait=False, env={"NOTIFY_SOCKET": note.path, "WATCHDOG_USEC": "400000"})
        msg, _ = note.wait_for("READY=1")
        # The moment READY=1 is read, the socket must already answer.
        eq(ask_status(env.sock)[:4], b"TP\x01\x86", "answers as soon as it says ready")
        check("STATUS=Serving 4 client types; 0 active sessions" in msg, msg)
        pings = 0
        deadline = time.monotonic() + 10
        while pings < 3 and time.monotonic() < deadline:
            msg, _ = note.wait_for("WATCHDOG=1")
            pings += 1
        eq(pings, 3, "watchdog pings keep coming")
        env.proc.send_signal(signal.SIGHUP)
        note.wait_for("RELOADING=1")
        note.wait_for("READY=1")
        env.ctl("reload", check_rc=0)
        note.wait_for("RELOADING=1")
        note.wait_for("READY=1")
        env.proc.send_signal(signal.SIGTERM)
        note.wait_for("STOPPING=1")
    finally:
        env.cleanup()


def test_a_failed_commit_changes_no_expiry_schedule():
    """The expiry schedule changes with the store, never before it: a
    sign-in whose batch cannot be written leaves no entry behind, which the
    status line the service manager gets shows (one entry per active
    session)."""
    env = Env()
    note = Notifications(env.dir)
    try:
        env.start(wait=False, env={"NOTIFY_SOCKET": note.path})
        note.wait_for("READY=1")
        env.sign_in("tptest-desktop", USER)
        wal = os.path.join(env.state, "sessions.db-wal")
        size = os.path.getsize(wal) if os.path.exists(wal) else 0
        subprocess.run(["prlimit", f"--pid={env.proc.pid}", f"--fsize={size}:unlimited"], check=True)
        r = env.pam("tptest-desktop", USER, "acct", "open")
        eq(r["results"], ["PAM_SUCCESS", "PAM_SESSION_ERR"], "refused while the store cannot be written")
        subprocess.run(["prlimit", f"--pid={env.proc.pid}", "--fsize=unlimited:unlimited"], check=True)
        env.ctl("reload", check_rc=0)
        msg, _ = note.wait_for("READY=1")
        check("STATUS=Serving 4 client types; 1 active sessions; 1 scheduled to expire" in msg, msg)
    finally:
        env.cleanup()


def test_serves_the_socket_from_systemd_socket_activate():
    env = Env()
    try:
        os.makedirs(os.path.dirname(env.sock), exist_ok=True)
        env.proc = subprocess.Popen(
            ["systemd-socket-activate", "-l", env.sock, DAEMON, "--foreground", "--config", env.conf,
             "--socket", env.sock, "--state-dir", env.state],
            stdout=subprocess.DEVNULL, stderr=open(env.log, "ab"), env=env.daemon_env())
        env.logf = open(env.log, "ab")
        check(wait_for(lambda: os.path.exists(env.sock)), "socket created by the activator")
        env.sign_in("tptest-desktop", USER)
        eq(len(env.sessions()), 1, "served on the inherited socket")
        check(wait_for(lambda: "serving the socket passed by the service manager" in env.log_text()),
              env.log_text())
    finally:
        env.cleanup()


def test_restart_refuses_no_connection():
    """The socket outlives the daemon, as tokenpolicyd.socket does: clients
    that connect while it restarts wait and are answered."""
    env = Env()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    procs = []
    try:
        os.makedirs(os.path.dirname(env.sock), exist_ok=True)
        listener.bind(env.sock)
        listener.listen(128)

        def spawn():
            # LISTEN_PID must be the daemon's own pid: let a shell set it
            # and exec the daemon with the socket as fd 3.
            return subprocess.Popen(
                ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"', DAEMON, "--foreground",
                 "--config", env.conf, "--socket", env.sock, "--state-dir", env.state],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(env.log, "ab"),
                pass_fds=(3,), env=env.daemon_env(), preexec_fn=lambda: os.dup2(listener.fileno(), 3))

        first = spawn()
        procs.append(first)
        eq(ask_status(env.sock)[:4], b"TP\x01\x86", "first instance answers")
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=20)
        results = []

        def client():
            try:
                results.append(ask_status(env.sock, timeout=30)[:4])
            except OSError as e:
                results.append(e)

        threads = [threading.Thread(target=client) for _ in range(20)]
        for t in threads:
            t.start()
        time.sleep(0.5)  # they are queued now, with no daemon running
        procs.append(spawn())
        for t in threads:
            t.join(timeout=40)
        eq(results, [b"TP\x01\x86"] * 20, "every client that came during the restart was answered")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=20)
        listener.close()
        env.cleanup()


AUDIT_KINDS = ["allow", "deny", "evict", "expire", "revoke", "close", "reauth", "refresh", "reload",
               "config-error", "enforce"]


def produce_every_event(env):
    env.write_conf(config_text(clients={
        "desktop": {"services": ["tptest-desktop"], "max_refresh_tokens": 10, "refresh_token_ttl_hours": 24},
        "web": {"services": ["tptest-web"], "access": False}}))
    env.ctl("reload", check_rc=0)                                       # reload
    env.pam("tptest-web", USER, "acct")                                 # deny
    ids = [env.sign_in("tptest-desktop", USER)["env"]["TOKENPOLICY_SESSION_ID"]
           for _ in range(11)]                                          # allow, evict, enforce
    env.pam("tptest-desktop", USER, "auth", "acct", "open", "reauth", "close")  # reauth, close
    subprocess.run([CTL, "--socket", env.sock, "token"], capture_output=True,
                   env={**os.environ, "TOKENPOLICY_SESSION_ID": ids[5]})  # refresh
    env.ctl("revoke", ids[6], check_rc=0)                                # revoke
    env.set_offset(24 * 3600 + 2)                                       # expire (timer)
    check(wait_for(lambda: all(s["state"] != "active" for s in env.sessions("--all"))), "all expired")
    env.write_conf("version = 2;\n")
    env.ctl("reload")                                                   # config-error
    return ids


def test_audit_lines_without_journald():
    env = Env()
    try:
        env.start()
        produce_every_event(env)
        log = env.log_text()
        for kind in AUDIT_KINDS:
            check(f"audit: event={kind} " in log, f"no {kind} line in:\n{log[-2000:]}")
        for line in log.splitlines():
            if "audit:" in line:
                check(line.count("event=") == 1, f"one event per line: {line}")
    finally:
        env.cleanup()


def parse_journal_datagram(data):
    fields = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            fields[k.decode()] = v.decode()
            i = nl + 1
        else:  # binary-safe form: NAME\n<le64 length><value>\n
            size = struct.unpack("<Q", data[nl + 1:nl + 9])[0]
            fields[line.decode()] = data[nl + 9:nl + 9 + size].decode()
            i = nl + 9 + size + 1
    return fields


def test_audit_entries_reach_the_journal_with_fields():
    if os.geteuid() != 0:
        print("# SKIP needs root for a private mount namespace")
        return
    env = Env()
    journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        jpath = os.path.join(env.dir, "journal.sock")
        journal.bind(jpath)
        journal.settimeout(0.2)
        wrapper = ("unshare", "--mount", "--propagation", "private", "sh", "-c",
                   "mount -t tmpfs tmpfs /run/systemd && mkdir -p /run/systemd/journal && "
                   f": > /run/systemd/journal/socket && mount --bind {jpath} /run/systemd/journal/socket && "
                   'exec "$0" "$@"')
        entries = []
        stop = threading.Event()

        def drain():  # as journald would: a full queue would block the sender
            while not stop.is_set():
                try:
                    entries.append(parse_journal_datagram(journal.recv(65536)))
                except socket.timeout:
                    continue

        reader = threading.Thread(target=drain)
        reader.start()
        try:
            env.start(wrapper=wrapper)
            produce_every_event(env)
            time.sleep(0.5)
        finally:
            stop.set()
            reader.join(timeout=10)
        by_kind = {}
        for e in entries:
            by_kind.setdefault(e.get("TOKENPOLICY_DECISION"), []).append(e)
        for kind in AUDIT_KINDS:
            check(kind in by_kind, f"no journal entry for {kind}: {sorted(k for k in by_kind if k)}")
        deny = [e for e in by_kind["deny"] if e.get("TOKENPOLICY_CLIENT") == "web"][0]
        eq(deny["TOKENPOLICY_USER"], USER, "user field")
        eq(deny["TOKENPOLICY_SERVICE"], "tptest-web", "service field")
        eq(deny["TOKENPOLICY_REASON"], "client type disabled", "reason field")
        eq(deny["SYSLOG_IDENTIFIER"], "tokenpolicyd", "identifier")
        eq(deny["MESSAGE_ID"], "a68038702606404ea9d798fcccdb57cf", "deny MESSAGE_ID")
        evict = by_kind["evict"][0]
        check(len(evict["TOKENPOLICY_SESSION"]) == 32 and len(evict["TOKENPOLICY_EVICTED_BY"]) == 32, evict)
        ids = {e["MESSAGE_ID"] for kind in AUDIT_KINDS for e in by_kind[kind]}
        eq(len(ids), len(AUDIT_KINDS), "one MESSAGE_ID per event kind")
        with open(os.path.join(ROOT, "man", "tokenpolicyd.8")) as f:
            page = f.read().replace("\\-", "-")
        for kind in AUDIT_KINDS:
            mid = by_kind[kind][0]["MESSAGE_ID"]
            check(re.search(rf"^{re.escape(kind)} +{mid}$", page, re.M),
                  f"tokenpolicyd(8) documents {kind}'s MESSAGE_ID {mid}")
        for e in entries:
            check("refresh_token" not in str(e).lower(), "no secrets in the journal")
    finally:
        journal.close()
        env.cleanup()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
