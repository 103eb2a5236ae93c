#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Bad input and the module's shape.

Hostile or broken frames close only their own connection and change
nothing; bad PAM items and module arguments get clear answers; the module
stays thin (exports only pam_sm_*, links neither OpenSSL nor libconfig nor
threads).
"""
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import MODULE, Env, check, eq, run_tests, wait_for, with_env  # noqa: E402

USER = "root"


def frame(msg_type, payload, version=1, magic=b"TP", length=None):
    n = len(payload) if length is None else length
    return magic + bytes([version, msg_type]) + struct.pack(">I", n) + payload


def pstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def status_request():
    return frame(6, b"")


def send_and_read(path, data, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)  # a truncated frame then ends at end of file
    chunks = []
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
            if len(b"".join(chunks)) >= 8:
                hdr = b"".join(chunks)
                need = 8 + struct.unpack(">I", hdr[4:8])[0]
                if len(hdr) >= need:
                    break
    except socket.timeout:
        pass
    except ConnectionResetError:  # closed with our unread bytes still queued
        pass
    s.close()
    return b"".join(chunks)


@with_env()
def test_hostile_frames_close_only_their_connection(env):
    env.sign_in("tptest-desktop", USER)
    before = env.sessions("--all")
    # A connection that is mid-request stays open and is answered afterwards.
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    slow.connect(env.sock)
    slow.sendall(status_request()[:5])
    bad = [
        frame(6, b"", magic=b"XX"),                        # bad magic
        frame(6, b"", version=2),                          # unknown version
        frame(6, b"", length=65537),                       # past the maximum
        frame(6, b"", length=0xFFFFFFFF),                  # absurd length
        frame(99, b""),                                    # unknown type
        frame(7, pstr("") + pstr("") + struct.pack(">II", 1, 0)),  # retired: LIST by offset
        frame(15, pstr("") + pstr("") + struct.pack(">IBqQ", 1, 0, 0, 5)),  # cursor without its flag
        frame(6, b"x"),                                    # trailing byte
        frame(1, pstr("ro\0ot") + pstr("tptest-desktop") + pstr("") + pstr("") + pstr("")
              + struct.pack(">I", 1) + pstr("")),          # embedded NUL
        frame(1, pstr("root")),                            # truncated body
        frame(3, pstr("a" * 40) + pstr("") + pstr("")),    # session id too long
        frame(6, b"", length=10),                          # truncated payload, then EOF
        b"TP\x01",                                         # truncated header, then EOF
        os.urandom(64),
    ]
    for data in bad:
        reply = send_and_read(env.sock, data, timeout=3)
        eq(reply, b"", f"no answer to a bad frame {data[:16]!r}")
        check(env.proc.poll() is None, f"daemon died on {data[:16]!r}")
    slow.sendall(status_request()[5:])
    slow.settimeout(5)
    reply = slow.recv(65536)
    slow.close()
    eq(reply[:4], b"TP\x01\x86", "the slow client is still answered")
    eq(env.sessions("--all"), before, "nothing changed")
    env.sign_in("tptest-desktop", USER)
    check("closing connection" in env.log_text(), "protocol errors are logged")


@with_env()
def test_many_requests_on_one_connection(env):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(env.sock)
    s.settimeout(5)
    s.sendall(status_request() * 3)  # pipelined
    got = b""
    while got.count(b"TP\x01\x86") < 3:
        c = s.recv(65536)
        check(c, "connection closed early")
        got += c
    s.close()


def read_replies(s, count):
    """count whole reply frames from s: their (type, payload)."""
    got, replies = b"", []
    while len(replies) < count:
        c = s.recv(65536)
        check(c, f"connection closed after {len(replies)} replies")
        got += c
        while len(got) >= 8 and len(got) >= 8 + struct.unpack(">I", got[4:8])[0]:
            n = 8 + struct.unpack(">I", got[4:8])[0]
            replies.append((got[3], got[8:n]))
            got = got[n:]
    return replies


@with_env()
def test_pipelined_requests_of_every_size_are_answered_in_order(env):
    """Requests sent without waiting for their answers, one larger than
    what the daemon reads at once and one split across sends, are each
    answered once, in order."""
    big = frame(1, pstr(USER) + pstr("tptest-desktop") + pstr("") + pstr("h" * 250) + pstr("t" * 250)
                + struct.pack(">I", 0) + pstr("") + struct.pack(">I", 0))
    huge = frame(12, pstr("x." * 1500))  # verify: a token larger than two reads
    check(len(big) > 512, f"the large request is larger than one read ({len(big)} bytes)")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(env.sock)
    s.settimeout(5)
    data = big + status_request() + huge + big + status_request()
    s.sendall(data[:-3])
    time.sleep(0.2)
    s.sendall(data[-3:])
    replies = read_replies(s, 5)
    eq([t for t, _ in replies], [0x81, 0x86, 0x8c, 0x81, 0x86], "answers in request order")
    check(replies[2][1][0] != 0, "the garbage token is not verified")
    check(all(p[0] == 0 for t, p in replies if t == 0x81), f"the access checks are allowed: {replies}")
    s.close()
    check(env.proc.poll() is None, "daemon still running")


@with_env()
def test_bad_pam_items(env):
    r = env.pam("tptest-desktop", "u" * 300, "acct", "open")
    check(r["results"][0] != "PAM_SUCCESS", f"over-long user name refused: {r['results']}")
    r = env.pam("tptest-desktop", "tptest-nosuchuser", "open")
    eq(r["results"], ["PAM_SESSION_ERR"], "unknown user")
    check("Unknown user" in r["errors"][0], r["errors"])
    r = env.pam("tptest-desktop", USER, "acct", "open", rhost="h" * 300)
    eq(r["results"][0], "PAM_SERVICE_ERR", "over-long rhost refused")
    eq(env.sessions("--all"), [], "nothing recorded")
    env.sign_in("tptest-desktop", USER)


@with_env()
def test_unknown_module_arguments_are_not_fatal(env):
    env.pam_service("tptest-desktop", args="bogus=1 timeout=notanumber fail=sideways debug")
    r = env.sign_in("tptest-desktop", USER)
    eq(r["env"]["TOKENPOLICY_CLIENT"], "desktop", "still works")


def test_module_is_thin():
    out = subprocess.run(["nm", "-D", "--defined-only", MODULE], capture_output=True, text=True,
                         check=True).stdout
    exported = sorted(line.split()[-1] for line in out.splitlines() if line.strip())
    eq(exported, ["pam_sm_acct_mgmt", "pam_sm_authenticate", "pam_sm_close_session",
                  "pam_sm_open_session", "pam_sm_setcred"], "exported symbols")
    dyn = subprocess.run(["readelf", "-d", MODULE], capture_output=True, text=True, check=True).stdout
    needed = [line.split("[")[1].rstrip("]") for line in dyn.splitlines() if "(NEEDED)" in line]
    for lib in needed:
        check(not any(x in lib for x in ("crypto", "ssl", "config", "pthread", "sqlite", "systemd")),
              f"module links {lib}")
    check(any(lib.startswith("libpam.so") for lib in needed), f"links libpam: {needed}")


def test_timeout_bounds_a_silent_daemon():
    env = Env()
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.makedirs(os.path.dirname(env.sock), exist_ok=True)
        silent.bind(env.sock)
        silent.listen(16)  # accepts into the backlog, never answers
        env.pam_service("tptest-desktop", args="timeout=300")
        r = env.pam("tptest-desktop", USER, "acct")
        eq(r["results"], ["PAM_PERM_DENIED"], "fail=closed on a silent daemon")
        env.pam_service("tptest-desktop", args="timeout=300", fail="open")
        r = env.pam("tptest-desktop", USER, "acct")
        eq(r["results"], ["PAM_SUCCESS"], "fail=open on a silent daemon")
    finally:
        silent.close()
        env.cleanup()


def test_out_of_descriptors_sheds_connections_and_recovers():
    env = Env()
    held = []
    try:
        env.start(wrapper=("prlimit", "--nofile=40:40"))
        for _ in range(80):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.settimeout(2)
            try:
                c.connect(env.sock)
            except OSError:
                c.close()
                continue
            held.append(c)
        time.sleep(0.3)
        check(env.proc.poll() is None, "daemon survived running out of descriptors")
        for c in held:
            c.close()
        held = []
        time.sleep(0.2)
        env.sign_in("tptest-desktop", USER)
        eq(len(env.sessions()), 1, "serves again once connections are gone")
    finally:
        for c in held:
            c.close()
        env.cleanup()


def test_a_commit_that_cannot_be_written_acknowledges_nothing():
    """The store's WAL may not grow (the file size limit, as a full disk
    would): the sign-in is refused (the daemon answers ERROR, the module
    applies fail=closed), the daemon logs why, nothing is
    recorded or audited as signed in, and once the disk has room again the
    next sign-in works."""
    env = Env()
    try:
        env.start()
        env.sign_in("tptest-desktop", USER)
        wal = os.path.join(env.state, "sessions.db-wal")
        size = os.path.getsize(wal) if os.path.exists(wal) else 0
        subprocess.run(["prlimit", f"--pid={env.proc.pid}", f"--fsize={size}:unlimited"], check=True)
        r = env.pam("tptest-desktop", USER, "acct", "open")
        eq(r["results"], ["PAM_SUCCESS", "PAM_SESSION_ERR"], "refused while the store cannot be written")
        check(any("not available" in e for e in r["errors"]), f"fail=closed says so: {r['errors']}")
        check(env.proc.poll() is None, "daemon still running")
        subprocess.run(["prlimit", f"--pid={env.proc.pid}", "--fsize=unlimited:unlimited"], check=True)
        eq(len(env.sessions()), 1, "only the first sign-in is recorded")
        log = env.log_text()
        eq(log.count('reason="signed in"'), 1, "the refused sign-in was not audited as signed in")
        check("commit failed" in log, "the failed commit is logged")
        env.sign_in("tptest-desktop", USER)
        eq(len(env.sessions()), 2, "signs in again once the store can be written")
    finally:
        env.cleanup()


def test_a_sign_out_whose_commit_fails_is_closed_by_the_sweep():
    """A sign-out whose commit fails (the WAL may not grow) is answered
    with an error and undone: the daemon logs why, the session is not
    audited as signed out, and it counts as active only until the sweep
    finds its processes gone, which closes it."""
    env = Env()
    try:
        env.start()
        proc, _ = env.sign_in_held("tptest-desktop", USER)
        eq(len(env.sessions()), 1, "signed in")
        wal = os.path.join(env.state, "sessions.db-wal")
        size = os.path.getsize(wal)
        subprocess.run(["prlimit", f"--pid={env.proc.pid}", f"--fsize={size}:unlimited"], check=True)
        env.release(proc)
        check(wait_for(lambda: "commit failed" in env.log_text(), timeout=10), "the failed commit is logged")
        check(env.proc.poll() is None, "daemon still running")
        check('reason="signed out"' not in env.log_text(), "the undone sign-out is not audited")
        subprocess.run(["prlimit", f"--pid={env.proc.pid}", "--fsize=unlimited:unlimited"], check=True)
        check(wait_for(lambda: len(env.sessions()) == 0, timeout=15), "the sweep closed the session")
        check("session leader is gone (reaped)" in env.log_text(), "closed as a ghost, and audited")
    finally:
        env.cleanup()


FLOOD = r"""
import socket, sys
held = []
for _ in range(int(sys.argv[2])):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(2)
    try:
        c.connect(sys.argv[1])
        c.send(b"T")  # half a header, then silence
    except OSError:
        c.close()
        continue
    held.append(c)
print(len(held), flush=True)
sys.stdin.read()
"""


def test_a_flooding_user_cannot_lock_root_out():
    if os.geteuid() != 0:
        print("# SKIP needs root to act as another user")
        return
    env = Env()
    try:
        env.start()
        flood = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                  "/usr/bin/python3", "-c", FLOOD, env.sock, "300"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            held = int(flood.stdout.readline())
            check(held > 0, "the flood connected")
            r = env.pam("tptest-desktop", USER, "acct", "open")
            eq(r["results"], ["PAM_SUCCESS", "PAM_SUCCESS"], "root signs in during the flood")
            env.ctl("status", check_rc=0)
            check("per-user connection limit reached" in env.log_text(), "the flood was limited")
            time.sleep(6.5)  # past the time a frame may take to arrive
            check("request not sent in time" in env.log_text(), "half-sent frames are dropped")
        finally:
            flood.stdin.close()
            flood.wait(timeout=30)
    finally:
        env.cleanup()


ONE_PER_REQUEST = r"""
import socket, struct, sys
STATUS = b"TP\x01\x06" + struct.pack(">I", 0)
def ask(c):
    c.sendall(STATUS)
def answer(c):
    data = b""
    while len(data) < 8 or len(data) < 8 + struct.unpack(">I", data[4:8])[0]:
        chunk = c.recv(65536)
        if not chunk:
            return -1
        data += chunk
    return data[8]
done = []
for _ in range(int(sys.argv[2])):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(sys.argv[1])
    ask(c)
    assert answer(c) == 0
    done.append(c)
print("answered", flush=True)
sys.stdin.readline()            # the daemon is stopped now
last = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
last.settimeout(10)
last.connect(sys.argv[1])       # waits in the listen queue
ask(last)
for c in done:                  # hung up before the daemon can see it
    c.close()
print("sent", flush=True)
try:
    print(answer(last), flush=True)
except OSError as e:
    print("error", e, flush=True)
"""


def test_a_client_that_connects_per_request_is_not_refused():
    """A client making one connection per request closes each before the
    daemon has read the hang-up. Those connections must not count against
    its uid's limit: with 16 closed but unread and one more request queued
    behind them, the request is answered."""
    if os.geteuid() != 0:
        print("# SKIP needs root to act as another user")
        return
    env = Env()
    try:
        env.start()
        cl = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                               "/usr/bin/python3", "-c", ONE_PER_REQUEST, env.sock, "16"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            eq(cl.stdout.readline().strip(), "answered", "16 requests answered on 16 open connections")
            os.kill(env.proc.pid, signal.SIGSTOP)
            try:
                cl.stdin.write("go\n")
                cl.stdin.flush()
                eq(cl.stdout.readline().strip(), "sent", "the 17th request is queued")
            finally:
                os.kill(env.proc.pid, signal.SIGCONT)
            eq(cl.stdout.readline().strip(), "0", "the 17th request is answered")
        finally:
            cl.stdin.close()
            cl.wait(timeout=30)
        check("per-user connection limit reached" not in env.log_text(), env.log_text())
        check(env.proc.poll() is None, "daemon still running")
    finally:
        env.cleanup()


class Proxy:
    """Between the module and the real daemon: one upstream connection per
    client connection, frames forwarded whole, and a record of the request
    types each client connection carried. With drop_second, a client
    connection's second request is read and the connection closed without
    an answer, as when the daemon closes an idle connection just as a
    request arrives: the request never reaches the daemon."""

    def __init__(self, env, drop_second=False):
        self.dir = os.path.join(env.dir, "proxy")
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "tokenpolicyd.sock")
        self.upstream = env.sock
        self.drop_second = drop_second
        self.conns = []  # [request type, ...] per client connection, in order
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @staticmethod
    def read_frame(s):
        data = b""
        while len(data) < 8 or len(data) < 8 + struct.unpack(">I", data[4:8])[0]:
            c = s.recv(65536)
            if not c:
                return None
            data += c
        return data

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.relay, args=(conn,), daemon=True).start()

    def relay(self, conn):
        types = []
        with self.lock:
            self.conns.append(types)
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        up.connect(self.upstream)
        conn.settimeout(10)
        up.settimeout(10)
        try:
            while True:
                req = self.read_frame(conn)
                if req is None:
                    return
                types.append(req[3])
                if self.drop_second and len(types) == 2:
                    return
                up.sendall(req)
                conn.sendall(self.read_frame(up))
        except OSError:
            pass
        finally:
            conn.close()
            up.close()

    def close(self):
        self.stopping = True
        self.thread.join(timeout=10)
        self.sock.close()


T_ACCESS, T_OPEN, T_CLOSE = 1, 2, 3


def proxied_service(env, proxy):
    """tptest-proxied: a desktop sign-in through the proxy's socket."""
    env.pam_service("tptest-proxied", "client=desktop")
    path = os.path.join(env.pamdir, "tptest-proxied")
    with open(path) as f:
        text = f.read().replace(f"socket={env.sock} ", f"socket={proxy.path} ")
    with open(path, "w") as f:
        f.write(text)


def test_one_connection_carries_a_pam_handle():
    """acct, open and close of one handle travel on one connection."""
    env = Env()
    proxy = None
    try:
        env.start()
        proxy = Proxy(env)
        proxied_service(env, proxy)
        r = env.pam("tptest-proxied", USER, "acct", "open", "close")
        eq(r["results"], ["PAM_SUCCESS"] * 3, str(r))
        eq(proxy.conns, [[T_ACCESS, T_OPEN, T_CLOSE]], "one connection")
    finally:
        if proxy:
            proxy.close()
        env.cleanup()


def test_a_request_on_a_connection_closed_under_it_is_sent_again_once():
    """The second request on each connection meets it closed before any
    answer: the module sends it once more on a new connection, so every
    step succeeds and the daemon acts on each request once (one session,
    signed in and out). A request on a new connection that meets the same
    is not sent again: the daemon may have acted on it."""
    env = Env()
    proxy = None
    try:
        env.start()
        proxy = Proxy(env, drop_second=True)
        proxied_service(env, proxy)
        r = env.pam("tptest-proxied", USER, "acct", "open", "close")
        eq(r["results"], ["PAM_SUCCESS"] * 3, str(r))
        eq(proxy.conns, [[T_ACCESS, T_OPEN], [T_OPEN, T_CLOSE], [T_CLOSE]], "each resent once, on a new connection")
        [s] = env.sessions("--all")
        eq(s["state"], "closed", "one session, signed out")
    finally:
        if proxy:
            proxy.close()
        env.cleanup()


def test_a_handle_outlives_its_daemon_connection():
    """A session's handle keeps its connection; when the daemon restarts
    while the session runs, the sign-out goes on a new connection."""
    env = Env()
    try:
        env.start()
        proc, rep = env.sign_in_held("tptest-desktop", USER)
        env.restart()
        out = subprocess.run(["true"])  # the restart is complete: the daemon answers
        check(out.returncode == 0 and env.ctl("status").returncode == 0, "daemon back")
        Env.release(proc)
        eq(proc.returncode, 0, "close_session succeeded on a new connection")
        [s] = env.sessions("--all")
        eq(s["state"], "closed", "signed out")
    finally:
        env.cleanup()


def test_at_the_connection_limit_the_longest_idle_connection_makes_room():
    """PAM handles keep their connections while idle; at the daemon's limit
    (8 here, under a descriptor limit of 40) a new sign-in closes the
    connection idle the longest rather than being refused."""
    env = Env()
    idle = []
    try:
        env.start(wrapper=("prlimit", "--nofile=40:40"))
        for _ in range(8):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(env.sock)
            c.sendall(status_request())
            c.settimeout(5)
            check(Proxy.read_frame(c), "answered")
            idle.append(c)
            time.sleep(0.02)
        env.sign_in("tptest-desktop", USER)
        eq(len(env.sessions()), 1, "signed in at the limit")
        idle[0].settimeout(5)
        eq(idle[0].recv(1), b"", "the oldest idle connection was closed")
        check("connection limit reached" not in env.log_text(), env.log_text()[-2000:])
    finally:
        for c in idle:
            c.close()
        env.cleanup()


def test_log_lines_carry_priorities_for_the_journal():
    env = Env()
    try:
        os.environ["JOURNAL_STREAM"] = "8:1234"  # as systemd sets it for a service
        try:
            env.start()
        finally:
            del os.environ["JOURNAL_STREAM"]
        env.sign_in("tptest-desktop", USER)
        env.pam("tptest-web", USER, "acct")
        log = env.log_text()
        check("<6>audit: event=allow" in log, log)
        check("<5>audit: event=deny" in log, log)
        check("<6>ready:" in log, log)
    finally:
        env.cleanup()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
