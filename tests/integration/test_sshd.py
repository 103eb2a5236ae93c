#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Enforcement on real sshd sessions (docs/product.md §4).

A private OpenSSH server on 127.0.0.1 authenticates a test user with
pam_unix through keyboard-interactive and runs this module in its account
and session stacks; real ssh clients (driven by sshpass) hold long-running
sessions open. Eviction at the cap, admin revoke and refresh-token expiry
must end the connection they apply to, and only that one; a connection
that ends normally closes its session in the store.

OpenSSH names its PAM service after the program name it was started as, so
the server runs through a symlink called tptest-sshd and the test installs
/etc/pam.d/tptest-sshd for the duration. Needs root (a user, a PAM service
and a server are created, and all removed again).
"""
import fcntl
import glob
import os
import pwd
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import (MODULE, Env, TestFailure, check, config_text, eq, run_tests,  # noqa: E402
                   sanitizer_runtimes)

USER = "tptest-ssh"
SERVICE = "tptest-sshd"
PAM_FILE = os.path.join("/etc/pam.d", SERVICE)
SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = "/run/sshd"
CAP = 10
HOUR = 3600
EXIT_BOUND = 15      # seconds an enforced connection gets to go away
LOGIN_BOUND = 30     # seconds one ssh login gets to come up


def ssh_conf(**keys):
    ssh = {"services": [SERVICE], "max_refresh_tokens": CAP}
    ssh.update(keys)
    return config_text(clients={"ssh": ssh})


def wait_until(pred, timeout, interval=0.05):
    """Poll pred() until it is true or timeout seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def gone(pid):
    """The process has exited (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def pids_of_uid(uid):
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    found.append(int(d))
            except OSError:
                pass
    return found


def kill_pid(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def reap(proc, timeout=5):
    """Stop a child: SIGTERM, then SIGKILL after timeout; always reaped."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- the test user ------------------------------------------------------------

class TestUser:
    def __init__(self, base):
        self.name = USER
        self.password = secrets.token_urlsafe(18)
        self.home = os.path.join(base, "home")
        subprocess.run(["userdel", "-r", USER], capture_output=True)  # a leftover from a killed run
        subprocess.run(["useradd", "--home-dir", self.home, "--create-home", "--shell", "/bin/sh",
                        "--user-group", USER], check=True, capture_output=True)
        subprocess.run(["chpasswd"], input=f"{USER}:{self.password}\n", text=True, check=True,
                       capture_output=True)
        self.uid = pwd.getpwnam(USER).pw_uid

    def kill_processes(self):
        """Whatever the user still runs (a `sleep` whose connection was cut is
        not signalled by sshd): killed by pid, so the account can go."""
        left = pids_of_uid(self.uid)
        for pid in left:
            kill_pid(pid, signal.SIGKILL)
        wait_until(lambda: not pids_of_uid(self.uid), 5)
        return left

    def remove(self):
        self.kill_processes()
        subprocess.run(["userdel", "-r", USER], capture_output=True)


# -- the server ------------------------------------------------------------

class Sshd:
    """A private sshd: own host key, config, pid file and log, run in the
    foreground through a symlink named after the PAM service."""

    def __init__(self, base, user):
        self.dir = os.path.join(base, "sshd")
        os.makedirs(self.dir)
        self.user = user
        self.hostkey = os.path.join(self.dir, "host_ed25519_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tptest", "-f", self.hostkey],
                       check=True, capture_output=True)
        self.prog = os.path.join(self.dir, SERVICE)
        os.symlink(SSHD, self.prog)
        self.config = os.path.join(self.dir, "sshd_config")
        self.pidfile = os.path.join(self.dir, "sshd.pid")
        self.log = os.path.join(self.dir, "sshd.log")
        self.proc = None
        self.port = None
        self.made_privsep_dir = False
        # A sanitizer build's module is loaded into sshd with the runtimes
        # preloaded; their reports go to files checked when sshd stops.
        self.san_dir = os.path.join(self.dir, "sanitizer")
        self.env = dict(os.environ)
        runtimes = sanitizer_runtimes(MODULE)
        if runtimes:
            os.makedirs(self.san_dir)
            os.chmod(self.san_dir, 0o1777)
            log = os.path.join(self.san_dir, "report")
            self.env["LD_PRELOAD"] = " ".join(runtimes)
            # sshd itself was not built to be leak-checked.
            self.env["ASAN_OPTIONS"] = f"detect_leaks=0:log_path={log}"
            self.env["UBSAN_OPTIONS"] = f"print_stacktrace=1:log_path={log}"
        if not os.path.isdir(PRIVSEP_DIR):
            os.makedirs(PRIVSEP_DIR, mode=0o755)
            self.made_privsep_dir = True

    def write_config(self, port):
        lines = [
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.hostkey}",
            f"PidFile {self.pidfile}",
            "UsePAM yes",
            "KbdInteractiveAuthentication yes",
            "PasswordAuthentication no",
            "PubkeyAuthentication no",
            "HostbasedAuthentication no",
            "GSSAPIAuthentication no",
            "AuthorizedKeysFile none",
            "PermitRootLogin no",
            f"AllowUsers {self.user.name}",
            "StrictModes no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "LoginGraceTime 30",
            "MaxStartups 50",
            "LogLevel VERBOSE",
        ]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        for _ in range(3):  # the port is picked free, but another program may take it first
            self.port = free_port()
            self.write_config(self.port)
            p = subprocess.run([self.prog, "-t", "-f", self.config], capture_output=True, text=True,
                               env=self.env)
            check(p.returncode == 0, f"sshd -t: {p.stderr}")
            self.proc = subprocess.Popen([self.prog, "-D", "-f", self.config, "-E", self.log],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, env=self.env)
            wait_until(self._accepting, 10)
            if self.proc.poll() is None:
                return
            reap(self.proc)
            self.proc = None
        raise TestFailure(f"sshd did not start listening:\n{self.log_text()[-2000:]}")

    def _accepting(self):
        if self.proc.poll() is not None:
            return True  # exited (the port was taken): start() tries another
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def monitors(self):
        """The per-connection processes (after authentication: the
        privileged monitor "sshd: USER [priv]")."""
        return children(self.proc.pid) if self.proc else []

    def stop(self):
        if self.proc is None:
            return
        # Clients were killed first: the monitors close their PAM sessions
        # and exit on their own; any that do not are killed.
        if not wait_until(lambda: not self.monitors(), 10):
            for pid in self.monitors():
                kill_pid(pid, signal.SIGKILL)
        reap(self.proc)
        self.proc = None

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def sanitizer_reports(self):
        text = ""
        for path in sorted(glob.glob(os.path.join(self.san_dir, "report*"))):
            with open(path, errors="replace") as f:
                text += f.read()
        return text

    def remove(self):
        self.stop()
        if self.made_privsep_dir:
            try:
                os.rmdir(PRIVSEP_DIR)
            except OSError:
                pass


# -- a client ------------------------------------------------------------

class SshClient:
    """One ssh connection running `command` (which must print "ready" first,
    then the session's TOKENPOLICY_SESSION_ID); with tty, `ssh -tt`: a
    pseudo-terminal for the command even though ssh's own input is none."""

    def __init__(self, fx, command, tty=False):
        self.fx = fx
        self.err = os.path.join(fx.base, f"client-{len(fx.clients)}.err")
        with open(self.err, "wb") as errf:
            self.proc = subprocess.Popen(
                ["sshpass", "-e", "ssh", *(["-tt"] if tty else []), "-F", "/dev/null", "-p", str(fx.sshd.port),
                 "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "PreferredAuthentications=keyboard-interactive", "-o", "NumberOfPasswordPrompts=1",
                 "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
                 f"{USER}@127.0.0.1", command],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errf,
                env={**os.environ, "SSHPASS": fx.user.password}, start_new_session=True)
        fx.clients.append(self)
        self.buf = b""
        self.sid = None
        self.ssh_pid = None

    def read_line(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    return None
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace").rstrip("\r")

    def wait_ready(self, timeout=LOGIN_BOUND):
        line = self.read_line(timeout)
        if line is None or not line.startswith("ready"):
            raise TestFailure(f"ssh session did not come up (got {line!r}, rc={self.proc.poll()}): "
                              f"{self.stderr()}\nsshd log:\n{self.fx.sshd.log_text()[-2000:]}\n"
                              f"daemon log:\n{self.fx.env.log_text()[-2000:]}")
        words = line.split()
        self.sid = words[1] if len(words) > 1 else None
        kids = children(self.proc.pid)
        self.ssh_pid = kids[0] if kids else None
        return self

    def stderr(self):
        try:
            with open(self.err, errors="replace") as f:
                return f.read().strip()
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def wait_exit(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self):
        # sshpass runs ssh in a session of its own: ssh first, by pid.
        if self.alive() and self.ssh_pid and ppid(self.ssh_pid) == self.proc.pid:
            kill_pid(self.ssh_pid, signal.SIGTERM)
            self.wait_exit(3)
        reap(self.proc, timeout=3)
        self.proc.stdout.close()


LONG = 'echo ready "$TOKENPOLICY_SESSION_ID"; exec sleep 300'


class Fixture:
    """Per test: a daemon (tplib.Env) with `conf`, /etc/pam.d/tptest-sshd
    pointing at its socket, and a running sshd. Everything it started is
    stopped by close(), also after a failure."""

    def __init__(self, conf):
        self.base = tempfile.mkdtemp(prefix="tptest-ssh-")
        os.chmod(self.base, 0o755)
        self.clients = []
        self.env = None
        self.sshd = None
        self.user = USER_FIXTURE
        try:
            self.env = Env(conf)
            self.env.start()
            self.write_pam()
            self.sshd = Sshd(self.base, USER_FIXTURE)
            self.sshd.start()
        except BaseException:
            self.close()
            raise

    def write_pam(self):
        opts = f"socket={self.env.sock}{self.env.trust} client=ssh"
        # As on Debian's sshd stack, pam_limits runs after the module
        # (there: after common-session); its limits file starts empty.
        self.limits = os.path.join(self.base, "limits.conf")
        open(self.limits, "w").close()
        with open(PAM_FILE, "w") as f:
            f.write("# tokenpolicy integration test (test_sshd.py); removed when the test ends\n")
            f.write("auth required pam_unix.so\n")
            f.write("account required pam_unix.so\n")
            f.write(f"account required {MODULE} {opts}\n")
            f.write(f"session required {MODULE} {opts}\n")
            f.write(f"session required pam_limits.so conf={self.limits}\n")

    def connect(self, command=LONG, tty=False):
        return SshClient(self, command, tty=tty).wait_ready()

    def sessions(self, *args):
        return self.env.sessions(*args)

    def by_id(self):
        return {s["id"]: s for s in self.env.sessions("--all")}

    def diag(self):
        def tail(text, n=8):
            return "\n".join(text.splitlines()[-n:])
        return (f"\nsshd log (end):\n{tail(self.sshd.log_text()) if self.sshd else ''}"
                f"\ndaemon log (end):\n{tail(self.env.log_text()) if self.env else ''}")

    def close(self):
        errors = []
        for c in self.clients:
            try:
                c.kill()
            except Exception as e:  # noqa: BLE001 - keep cleaning up
                errors.append(e)
        if self.sshd:
            self.sshd.remove()
            reports = self.sshd.sanitizer_reports()
            if reports:
                errors.append(TestFailure(f"a sanitizer reported in sshd (the module):\n{reports[-3000:]}"))
        USER_FIXTURE.kill_processes()
        try:
            os.unlink(PAM_FILE)
        except FileNotFoundError:
            pass
        try:
            if self.env:
                self.env.cleanup()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
        if errors:
            raise errors[0]


def with_sshd(conf):
    def wrap(fn):
        def run():
            fx = Fixture(conf)
            try:
                fn(fx)
            finally:
                fx.close()
        run.__name__ = fn.__name__
        return run
    return wrap


USER_FIXTURE = None


def open_cap_plus_one(fx):
    """CAP connections, then one more; returns the clients in order."""
    clients = []
    for i in range(CAP + 1):
        fx.env.set_offset(i)  # one second apart, so "oldest" is unambiguous
        clients.append(fx.connect())
    return clients


# -- tests ------------------------------------------------------------------

def wait_terminated(fx, client, sid, what):
    """The connection of `client` must end within EXIT_BOUND seconds, and its
    leader (the sshd monitor, which runs pam_close_session on its way out)
    must be gone afterwards."""
    leader = fx.by_id()[sid]["leader_pid"]
    check(client.wait_exit(EXIT_BOUND), f"{what}: connection still up after {EXIT_BOUND} s{fx.diag()}")
    eq(client.proc.returncode, 255, f"{what}: ssh exit status ({client.stderr()})")
    check(wait_until(lambda: gone(leader), 10), f"{what}: sshd monitor {leader} still running")


@with_sshd(ssh_conf())
def test_eviction_at_cap_terminates_oldest_connection(fx):
    clients = open_cap_plus_one(fx)
    first, rest = clients[0], clients[1:]
    wait_terminated(fx, first, first.sid, "evicted session")
    time.sleep(1)  # nothing else goes with it
    dead = [i + 2 for i, c in enumerate(rest) if not c.alive()]
    eq(dead, [], "connections (by order) that must stay up but ended")
    every = fx.by_id()
    eq(every[first.sid]["state"], "revoked", "first session, after sshd closed it")
    eq(sorted(s["id"] for s in fx.sessions()), sorted(c.sid for c in rest), "the other ten are active")


@with_sshd(ssh_conf(on_revoke="none"))
def test_eviction_with_on_revoke_none_keeps_connection(fx):
    clients = open_cap_plus_one(fx)
    first = clients[0]
    eq(fx.by_id()[first.sid]["state"], "revoked", "first session revoked")
    eq(sorted(s["id"] for s in fx.sessions()), sorted(c.sid for c in clients[1:]), "the other ten are active")
    check(not first.wait_exit(3), f"on_revoke=none ended the connection: {first.stderr()}{fx.diag()}")
    check(not gone(fx.by_id()[first.sid]["leader_pid"]), "its sshd monitor still runs")
    dead = [i + 1 for i, c in enumerate(clients) if not c.alive()]
    eq(dead, [], "connections (by order) that ended")


@with_sshd(ssh_conf())
def test_admin_revoke_terminates_that_connection_only(fx):
    clients = []
    for i in range(3):
        fx.env.set_offset(i)
        clients.append(fx.connect())
    # The administrator picks the second by order of creation.
    ordered = sorted(fx.sessions(), key=lambda s: s["created"])
    eq([s["id"] for s in ordered], [c.sid for c in clients], "creation order")
    target = ordered[1]["id"]
    fx.env.ctl("revoke", target, check_rc=0)
    wait_terminated(fx, clients[1], target, "revoked session")
    time.sleep(1)
    check(clients[0].alive() and clients[2].alive(), "the other two stay up")
    eq(fx.by_id()[target]["state"], "revoked", "state, after sshd closed it")
    eq(sorted(s["id"] for s in fx.sessions()), sorted([clients[0].sid, clients[2].sid]), "two active")


@with_sshd(ssh_conf(refresh_token_ttl_hours=24))
def test_refresh_token_expiry_terminates_connection(fx):
    c = fx.connect()
    check(not c.wait_exit(1), "connection up before expiry")
    fx.env.set_offset(24 * HOUR + 5)
    wait_terminated(fx, c, c.sid, "expired session")
    eq(fx.by_id()[c.sid]["state"], "expired", "state, after sshd closed it")


@with_sshd(ssh_conf())
def test_connection_ended_normally_closes_session(fx):
    c = fx.connect()
    [s] = fx.sessions()
    eq(s["id"], c.sid, "TOKENPOLICY_SESSION_ID reaches the shell through sshd")
    eq(s["service"], SERVICE, "PAM service is sshd's program name")
    eq(s["client"], "ssh", "client type")
    eq(s["user"], USER, "user")
    eq(s["rhost"], "127.0.0.1", "rhost")
    # pam_open_session runs in the per-connection privileged monitor: that
    # is the leader the daemon signals.
    eq(ppid(s["leader_pid"]), fx.sshd.proc.pid, "leader is a child of the listening sshd")
    check(cmdline(s["leader_pid"]).endswith(f"{USER} [priv]"), f"leader: {cmdline(s['leader_pid'])!r}")
    done = fx.connect('echo ready "$TOKENPOLICY_SESSION_ID"')
    check(done.wait_exit(EXIT_BOUND), "a short command's connection ends")
    eq(done.proc.returncode, 0, f"ssh exit status: {done.stderr()}")
    closed = wait_until(lambda: fx.by_id()[done.sid]["state"] == "closed", 10)
    check(closed, f"session of a finished connection closed in the store: {fx.by_id()[done.sid]}{fx.diag()}")
    check(fx.by_id()[done.sid]["ended"] > 0, "end recorded")
    eq([x["id"] for x in fx.sessions()], [c.sid], "the long-running one stays active")
    check(c.alive(), "the other connection stays up")


EVICTED_NOTICE = ("tokenpolicy: this ssh session is being ended: it was signed out because a newer "
                  "sign-in went over your limit of sessions.")


@with_sshd(ssh_conf())
def test_evicted_non_interactive_session_is_told_why(fx):
    """`ssh host cmd`: no terminal; the notice reaches the client's stderr
    through the command's stderr pipe, before the connection ends."""
    clients = open_cap_plus_one(fx)
    first = clients[0]
    wait_terminated(fx, first, first.sid, "evicted session")
    check(EVICTED_NOTICE in first.stderr(), f"the notice on ssh's stderr: {first.stderr()!r}{fx.diag()}")
    line = [x for x in fx.env.log_text().splitlines() if "event=enforce" in x and first.sid in x]
    check(line and "told on the standard error of pid" in line[0], f"the notice audited: {line}")
    check(all(EVICTED_NOTICE not in c.stderr() for c in clients[1:]), "only the evicted session is told")


@with_sshd(ssh_conf())
def test_evicted_tt_session_is_told_on_its_terminal(fx):
    """`ssh -tt host cmd`: the notice is written to the session's
    pseudo-terminal, which sshd relays to the client's output."""
    first = fx.connect(tty=True)
    clients = [first]
    for i in range(1, CAP + 1):
        fx.env.set_offset(i)
        clients.append(fx.connect())
    wait_terminated(fx, first, first.sid, "evicted session")
    out = first.buf.decode(errors="replace") + first.proc.stdout.read().decode(errors="replace")
    check(f"*** {EVICTED_NOTICE} ***" in out, f"the notice on the terminal: {out!r}{fx.diag()}")
    line = [x for x in fx.env.log_text().splitlines() if "event=enforce" in x and first.sid in x]
    check(line and "told on /dev/pts/" in line[0], f"the notice audited: {line}")


@with_sshd(ssh_conf())
def test_signin_refused_by_pam_limits_evicts_nothing(fx):
    """At the cap, a connection that pam_limits (after the module) refuses:
    sshd ends the PAM handle with the failure, the module reports it, and
    the session the module would have evicted keeps running."""
    clients = []
    for i in range(CAP):
        fx.env.set_offset(i)
        clients.append(fx.connect())
    with open(fx.limits, "w") as f:
        f.write(f"{USER_FIXTURE.name} hard maxlogins 0\n")
    fx.env.set_offset(CAP)
    refused = SshClient(fx, LONG)
    check(refused.wait_exit(EXIT_BOUND), f"the refused connection ended{fx.diag()}")
    check(refused.proc.returncode != 0, "ssh reports the refusal")
    check(wait_until(lambda: "event=signin-failed" in fx.env.log_text(), 10),
          f"the failed sign-in is reported and audited{fx.diag()}")
    time.sleep(GRACE_S + 2)  # past the grace: nothing acts on the oldest
    dead = [i + 1 for i, c in enumerate(clients) if not c.alive()]
    eq(dead, [], "connections (by order) that must stay up but ended")
    eq(sorted(s["id"] for s in fx.sessions()), sorted(c.sid for c in clients), "the ten are active")
    check(any("event=reinstate" in line and clients[0].sid in line for line in fx.env.log_text().splitlines()),
          "the oldest was reinstated")


GRACE_S = 5  # TP_EVICTION_GRACE_MS in tokenpolicyd/lifecycle.h

TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]


def lock_shared_resources(timeout=300):
    """The user, the PAM service and /run/sshd are machine-wide: a second run
    of this file (another build's `make check`) waits for the first."""
    d = "/run/lock" if os.path.isdir("/run/lock") else tempfile.gettempdir()
    fd = os.open(os.path.join(d, "tptest-sshd.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)


def _terminate(signo, frame):
    raise SystemExit(128 + signo)  # run the cleanups


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root")
        sys.exit(0)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    if lock_shared_resources() is None:
        print("1..1\nnot ok 1 - another run of test_sshd.py held its lock for 300 s")
        sys.exit(1)
    base = tempfile.mkdtemp(prefix="tptest-sshuser-")
    os.chmod(base, 0o755)
    rc = 1
    try:
        USER_FIXTURE = TestUser(base)
        rc = run_tests(TESTS)
    finally:
        if USER_FIXTURE:
            USER_FIXTURE.remove()
        try:
            os.unlink(PAM_FILE)
        except FileNotFoundError:
            pass
        shutil.rmtree(base, ignore_errors=True)
    sys.exit(rc)
