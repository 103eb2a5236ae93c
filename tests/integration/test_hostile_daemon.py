#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The daemon down, slow, hostile or not the daemon at all.

Through the real module and libpam: a fake daemon (faults the real one
cannot produce) that is absent, silent, talks garbage, announces an
oversized frame, hangs up mid-reply or answers with the wrong reply type.
Every PAM call returns, fail=closed denies and fail=open allows, and the
module logs why: tp-pam runs in a private mount namespace whose /dev/log is
a datagram socket of this test, so pam_syslog's lines are read back.

The module also refuses a socket or a peer that is not root's; the daemon
is not dumpable; and valgrind finds no error and no definite leak in the
module under pamtester.
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import MODULE, ROOT, TP_PAM, Env, check, eq, exclusive, run_tests, wait_for  # noqa: E402

USER = "root"
TIMEOUT_MS = 500
NOBODY = 65534
IS_ROOT = os.geteuid() == 0
# A private /dev with our own /dev/log needs a mount namespace, so root.
CAPTURE_SYSLOG = IS_ROOT and shutil.which("unshare") is not None

NAMESPACE_SCRIPT = r"""
set -e
mount --make-rprivate /
mkdir -p "$1/olddev"
mount --rbind /dev "$1/olddev"
mount -t tmpfs -o mode=0755 tptest-dev /dev
for f in "$1"/olddev/*; do ln -s "$f" /dev/; done
ln -sfn "$1/log" /dev/log
shift
exec "$@"
"""


class SyslogSink:
    """A datagram socket standing in for /dev/log."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "log")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.setblocking(False)

    def drain(self):
        lines = []
        while True:
            try:
                lines.append(self.sock.recv(65536).decode(errors="replace"))
            except BlockingIOError:
                return lines

    def close(self):
        self.sock.close()


def run_pam(env, sink, service, *ops):
    """tp-pam through the module; returns its report with the elapsed time
    and, when they can be captured, the module's syslog lines."""
    cmd = [TP_PAM, "--json", "--confdir", env.pamdir, "--service", service, "--user", USER, *ops]
    if sink:
        sink.drain()
        cmd = ["unshare", "--mount", "sh", "-c", NAMESPACE_SCRIPT, "sh", env.dir, *cmd]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - t0
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    check(lines, f"tp-pam printed nothing: rc={p.returncode} err={p.stderr!r}")
    out = Env._digest(json.loads(lines[-1]))
    out["elapsed"] = elapsed
    out["log"] = sink.drain() if sink else []
    return out


def frame(msg_type, payload=b"", length=None):
    n = len(payload) if length is None else length
    return b"TP\x01" + bytes([msg_type]) + struct.pack(">I", n) + payload


def real_status_reply():
    """A well-formed reply, as the real daemon writes it, to a status request."""
    env = Env()
    try:
        env.start()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(env.sock)
        s.sendall(frame(6))
        data = b""
        while len(data) < 8 or len(data) < 8 + struct.unpack(">I", data[4:8])[0]:
            c = s.recv(65536)
            check(c, "the daemon closed before its status reply")
            data += c
        s.close()
        eq(data[3], 0x86, "status reply type")
        return data
    finally:
        env.cleanup()


class FakeDaemon:
    """Listens on path and misbehaves as told, one connection at a time."""

    def __init__(self, path, behaviour, wrong_reply=b""):
        self.path = path
        self.behaviour = behaviour
        self.wrong_reply = wrong_reply
        self.received = []  # bytes of each connection's request
        self.held = []
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def read_request(self, conn):
        data = b""
        conn.settimeout(5)
        try:
            while len(data) < 8 or len(data) < 8 + struct.unpack(">I", data[4:8])[0]:
                c = conn.recv(65536)
                if not c:
                    break
                data += c
        except OSError:
            pass
        self.received.append(data)
        return data

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            req = self.read_request(conn)
            rtype = (req[3] if len(req) > 3 else 1) | 0x80
            try:
                if self.behaviour == "silent":
                    self.held.append(conn)  # open, and never a word
                    continue
                if self.behaviour == "garbage":
                    conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n" + bytes(range(256)))
                elif self.behaviour == "oversized":
                    conn.sendall(frame(rtype, length=65537) + b"x" * 4096)
                    self.held.append(conn)
                    continue
                elif self.behaviour == "truncated":
                    conn.sendall(frame(rtype, b"\x00" * 20, length=200))
                elif self.behaviour == "wrong_type":
                    conn.sendall(self.wrong_reply)
                    self.held.append(conn)
                    continue
            except OSError:
                pass
            conn.close()

    def close(self):
        self.stopping = True
        self.thread.join(timeout=10)
        for c in self.held:
            c.close()
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


# What the module logs for each fault (strerror of the io.c result).
FAULTS = [
    ("absent", "No such file or directory"),
    ("silent", "no answer within timeout"),
    ("garbage", "Protocol error"),
    ("oversized", "Message too long"),
    ("truncated", "Connection reset by peer"),
    ("wrong_type", "Protocol error"),
]


def test_faulty_daemon_fail_closed_and_open():
    wrong_reply = real_status_reply()
    env = Env()
    sink = SyslogSink(env.dir) if CAPTURE_SYSLOG else None
    if not sink:
        print("# syslog not captured (needs root for a private /dev/log): checking user-visible messages only")
    try:
        for behaviour, reason in FAULTS:
            fake = None if behaviour == "absent" else FakeDaemon(env.sock, behaviour, wrong_reply)
            try:
                for fail in ("closed", "open"):
                    env.pam_service("tptest-desktop", args=f"timeout={TIMEOUT_MS}", fail=fail)
                    for op, name, deny in (("acct", "access", "PAM_PERM_DENIED"), ("open", "open", "PAM_SESSION_ERR")):
                        what = f"{behaviour}, {op}, fail={fail}"
                        r = run_pam(env, sink, "tptest-desktop", op)
                        eq(r["results"], [deny if fail == "closed" else "PAM_SUCCESS"], what)
                        # Bounded by the timeout; 10x of it covers a loaded machine.
                        check(r["elapsed"] < 10 * TIMEOUT_MS / 1000, f"{what}: took {r['elapsed']:.1f}s")
                        print(f"# {what}: returned in {r['elapsed'] * 1000:.0f} ms")
                        if fail == "closed":
                            eq(r["errors"], ["The sign-in policy service is not available; contact your administrator."],
                               f"{what}: the user is told")
                        else:
                            eq(r["errors"], [], f"{what}: no message for the user")
                        if not sink:
                            continue
                        log = "\n".join(r["log"])
                        check(f"pam_tokenpolicy(tptest-desktop:{'account' if op == 'acct' else 'session'})" in log, log)
                        check(f"to the {name} request: {reason}" in log, f"{what}: the reason is logged: {log}")
                        verdict = ("denying without a policy decision (fail=closed)" if fail == "closed"
                                   else "allowing without a policy decision (fail=open)")
                        check(verdict in log, f"{what}: the decision is logged: {log}")
                if fake and behaviour != "silent":
                    check(all(req[:2] == b"TP" for req in fake.received), f"{behaviour}: got real requests")
            finally:
                if fake:
                    fake.close()
    finally:
        if sink:
            sink.close()
        env.cleanup()


def nobody_env():
    """A real daemon running as nobody, its directories nobody's."""
    env = Env(faketime=False)  # libfaketime's shared memory is root's
    for d in (env.state, os.path.dirname(env.sock)):
        os.makedirs(d, mode=0o755, exist_ok=True)
        os.chown(d, NOBODY, NOBODY)
    env.start(wrapper=("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"))
    eq(os.lstat(env.sock).st_uid, NOBODY, "the socket is nobody's")
    return env


def test_socket_of_another_user_is_refused():
    if not IS_ROOT:
        print("# SKIP needs root to run a daemon as another user")
        return
    env = nobody_env()
    sink = SyslogSink(env.dir) if CAPTURE_SYSLOG else None
    try:
        env.pam_service("tptest-desktop", fail="closed")  # default trust: root only
        eq(run_pam(env, sink, "tptest-desktop", "acct")["results"], ["PAM_PERM_DENIED"], "access refused")
        r = run_pam(env, sink, "tptest-desktop", "open")
        eq(r["results"], ["PAM_SESSION_ERR"], "sign-in refused")
        if sink:
            check(f"not trusting tokenpolicyd at {env.sock} for the open request: it is owned by uid {NOBODY}, not 0"
                  in "\n".join(r["log"]), r["log"])
        env.pam_service("tptest-desktop", fail="open")
        r = run_pam(env, sink, "tptest-desktop", "open")
        eq(r["results"], ["PAM_SUCCESS"], "fail=open applies")
        check("TOKENPOLICY_SESSION_ID" not in r["env"], "without a session")
        check("event=allow" not in env.log_text(), "the daemon was never asked")
        # The testing aid: told to, the module talks to it.
        env.pam_service("tptest-desktop", args=f"trust_uid={NOBODY}", fail="closed")
        r = run_pam(env, sink, "tptest-desktop", "open")
        eq(r["results"], ["PAM_SUCCESS"], "trust_uid=65534 trusts nobody's daemon")
        check("TOKENPOLICY_SESSION_ID" in r["env"], "and asks it: a session")
        check("event=allow" in env.log_text(), "which the daemon recorded")
    finally:
        if sink:
            sink.close()
        env.cleanup()


LISTEN_AS_NOBODY = r"""
import socket, sys
s = socket.socket(fileno=int(sys.argv[1]))
s.listen(4)
print("ready", flush=True)
c, _ = s.accept()
c.settimeout(2)
try:
    data = c.recv(65536)
except OSError:
    data = b""
print(len(data), flush=True)
"""


def test_untrusted_paths_and_peers_are_refused():
    if not IS_ROOT:
        print("# SKIP needs root for files and peers of other users")
        return
    env = Env()
    sink = SyslogSink(env.dir) if CAPTURE_SYSLOG else None
    real = os.path.join(env.dir, "real", "tokenpolicyd.sock")
    fake = None
    try:
        def refused(why):
            r = run_pam(env, sink, "tptest-desktop", "acct")
            eq(r["results"], ["PAM_PERM_DENIED"], why)
            if sink:
                check(f"not trusting tokenpolicyd at {env.sock} for the access request: {why}"
                      in "\n".join(r["log"]), r["log"])

        env.pam_service("tptest-desktop", args=f"timeout={TIMEOUT_MS}", fail="closed")
        # A symbolic link to a root-owned socket.
        fake = FakeDaemon(real, "silent")
        os.makedirs(os.path.dirname(env.sock))
        os.symlink(real, env.sock)
        refused("it is a symbolic link")
        os.unlink(env.sock)
        # Not a socket.
        open(env.sock, "w").close()
        refused("it is not a socket")
        os.unlink(env.sock)
        fake.close()
        fake = None
        # A root-owned socket in a directory others may write to.
        fake = FakeDaemon(env.sock, "silent")
        os.chmod(os.path.dirname(env.sock), 0o777)
        refused(f"its directory {os.path.dirname(env.sock)} is writable by group or others without the sticky bit")
        os.chmod(os.path.dirname(env.sock), 0o1777)  # as /tmp: allowed again, so only the timeout stops it
        r = run_pam(env, sink, "tptest-desktop", "acct")
        eq(r["results"], ["PAM_PERM_DENIED"], "sticky directory")
        if sink:
            check("no answer within timeout" in "\n".join(r["log"]), r["log"])
        os.chmod(os.path.dirname(env.sock), 0o755)
        os.chown(os.path.dirname(env.sock), NOBODY, NOBODY)
        refused(f"its directory {os.path.dirname(env.sock)} is owned by uid {NOBODY}, not root or 0")
        os.chown(os.path.dirname(env.sock), 0, 0)
        fake.close()
        fake = None
        # The socket file is root's but nobody listens on it: the peer check.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(env.sock)
        lsn = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                "/usr/bin/python3", "-c", LISTEN_AS_NOBODY, str(s.fileno())],
                               pass_fds=(s.fileno(),), stdout=subprocess.PIPE, text=True)
        try:
            eq(lsn.stdout.readline().strip(), "ready", "listener as nobody")
            refused(f"the process listening on it runs as uid {NOBODY}, not 0")
            eq(lsn.stdout.readline().strip(), "0", "nothing was sent to it")
        finally:
            lsn.kill()
            lsn.wait()
            s.close()
    finally:
        if fake:
            fake.close()
        if sink:
            sink.close()
        env.cleanup()


def test_daemon_is_not_dumpable():
    """PR_SET_DUMPABLE 0 shows as /proc/PID owned by root whatever the
    process runs as: so run the daemon as nobody, and compare with an
    ordinary process of nobody's."""
    if not IS_ROOT:
        print("# SKIP needs root to run a daemon as another user")
        return
    env = nobody_env()
    control = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                "sleep", "60"])
    try:
        # Root's until setpriv has exec'd sleep (a uid change clears dumpable).
        check(wait_for(lambda: os.stat(f"/proc/{control.pid}/environ").st_uid == NOBODY),
              "an ordinary process of nobody's has its /proc files nobody's")
        pid = env.proc.pid
        with open(f"/proc/{pid}/status") as f:
            uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
        eq(uids, [str(NOBODY)] * 4, "the daemon runs as nobody")
        eq(os.stat(f"/proc/{pid}/environ").st_uid, 0, "its /proc files are root's: not dumpable")
        peek = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                               "/usr/bin/python3", "-c",
                               f"import sys\ntry:\n open('/proc/{pid}/environ','rb').read()\n"
                               f"except PermissionError:\n sys.exit(13)\n"],
                              capture_output=True, text=True)
        eq(peek.returncode, 13, f"nobody cannot read the daemon's environment: {peek.stderr}")
    finally:
        control.kill()
        control.wait()
        env.cleanup()


PAMTESTER_SERVICE = "/etc/pam.d/tptest-valgrind"


def test_valgrind_memcheck_module_under_pamtester():
    if not shutil.which("valgrind") or not shutil.which("pamtester"):
        print("# SKIP valgrind or pamtester missing")
        return
    if not IS_ROOT:
        print(f"# SKIP needs root to write {PAMTESTER_SERVICE}")
        return
    module = MODULE
    dyn = subprocess.run(["readelf", "-d", module], capture_output=True, text=True, check=True).stdout
    if "libasan" in dyn:
        # Sanitizer code cannot run under valgrind: check the plain build.
        module = os.path.join(ROOT, "build", "pam_tokenpolicy.so")
        if not os.path.exists(module):
            print("# SKIP the module is built with ASan, which valgrind cannot run, and build/ has none")
            return
    lock = exclusive("pam-valgrind")
    env = Env()
    try:
        env.start()
        opts = f"socket={env.sock} client=desktop timeout=20000"
        with open(PAMTESTER_SERVICE, "w") as f:
            f.write("# tokenpolicy integration test (test_hostile_daemon.py); removed when the test ends\n")
            f.write(f"account required {module} {opts}\n")
            f.write(f"session required {module} {opts}\n")
        p = subprocess.run(["valgrind", "--error-exitcode=99", "--leak-check=full",
                            "--errors-for-leak-kinds=definite", "pamtester", "tptest-valgrind", USER,
                            "acct_mgmt", "open_session", "close_session"],
                           capture_output=True, text=True, timeout=300)
        out = p.stdout + p.stderr
        eq(p.returncode, 0, f"valgrind pamtester:\n{out[-4000:]}")
        check("successfully opened a session" in out and "successfully been closed" in out, out[-2000:])
        lost = [block for block in out.split("\n==") if "definitely lost" in block and "pam_tokenpolicy" in block]
        eq(lost, [], "no definite leak from the module")
        check("ERROR SUMMARY: 0 errors" in out, out[-2000:])
        eq([s["state"] for s in env.sessions("--all")], ["closed"], "the session went through the daemon")
    finally:
        try:
            os.unlink(PAMTESTER_SERVICE)
        except FileNotFoundError:
            pass
        env.cleanup()
        lock.close()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
