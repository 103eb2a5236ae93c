# SPDX-License-Identifier: BSD-3-Clause
"""tplib: helpers for tokenpolicy's integration tests.

Everything here is real: a real tokenpolicyd on a private socket and state
directory, real PAM transactions through libpam (pam_start_confdir with a
private service directory, driven by build/tests/tp-pam), the real
tokenpolicyctl and the real SQLite file. Time is moved with libfaketime
(FAKETIME_TIMESTAMP_FILE, re-read on every call) so expiry can be crossed
without waiting hours; the monotonic clock is left alone.

Tests print TAP lines ("ok N - name", "not ok N - name"); the runner adds
them up.
"""
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

# Session leaders started here must die of SIGHUP as they would under a
# login: a suite run under nohup (or from a service that ignores SIGHUP)
# would otherwise hand its ignored SIGHUP to every one of them, and they
# would outlive it until the SIGTERM that follows.
signal.signal(signal.SIGHUP, signal.SIG_DFL)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("B", "build"))
DAEMON = os.path.join(BUILD, "tokenpolicyd")
CTL = os.path.join(BUILD, "tokenpolicyctl")
MODULE = os.path.join(BUILD, "pam_tokenpolicy.so")
TP_PAM = os.path.join(BUILD, "tests", "tp-pam")
SHIPPED_CONF = os.path.join(ROOT, "etc", "tokenpolicy.conf")
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def _stage_for_other_users():
    """Tests run the CLI and the PAM driver as other users too; the checkout
    may sit under a directory they cannot enter (/root), so those programs
    and the module are copied once into a world-readable directory."""
    global CTL, TP_PAM, MODULE
    if os.geteuid() != 0:
        return
    import atexit
    stage = tempfile.mkdtemp(prefix="tptest-bin-")
    os.chmod(stage, 0o755)
    atexit.register(shutil.rmtree, stage, True)
    for name in ("CTL", "TP_PAM", "MODULE"):
        src = globals()[name]
        if os.path.exists(src):
            dst = os.path.join(stage, os.path.basename(src))
            shutil.copy2(src, dst)
            os.chmod(dst, 0o755)
            globals()[name] = dst


_stage_for_other_users()
PY = "/usr/bin/python3"


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def eq(a, b, msg=""):
    if a != b:
        raise TestFailure(f"{msg}: expected {b!r}, got {a!r}" if msg else f"expected {b!r}, got {a!r}")


def config_text(clients=None, defaults=None, custom=True, unknown='"deny"'):
    """A config in the schema of docs/product.md §5; clients maps name ->
    dict of keys."""
    defaults = defaults or {}
    if clients is None:
        clients = {
            "desktop": {"services": ["tptest-desktop"]},
            "web": {"services": ["tptest-web"], "access": False},
            "mobile": {"services": ["tptest-mobile"]},
            "ssh": {"services": ["tptest-sshd"]},
        }

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return '"' + v + '"'

    lines = ["version = 1;", f"custom_token_policy = {val(custom)};", f"unknown_client = {unknown};",
             "defaults = {"]
    for k, v in defaults.items():
        lines.append(f"  {k} = {val(v)};")
    lines.append("};")
    lines.append("clients = {")
    for name, keys in clients.items():
        body = " ".join(f"{k} = {val(v)};" for k, v in keys.items())
        lines.append(f"  {name} = {{ {body} }};")
    lines.append("};")
    return "\n".join(lines) + "\n"


# The module trusts only a daemon running as root; a suite run by another
# user points it at that user's daemon (a testing aid, never for production).
TRUST_ARG = "" if os.geteuid() == 0 else f" trust_uid={os.geteuid()}"


class Env:
    """A private daemon instance: temp dir with config, socket, state, PAM
    service files, and a faketime offset file."""

    def __init__(self, conf=None, faketime=True):
        self.dir = tempfile.mkdtemp(prefix="tptest-")
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "tokenpolicy.conf")
        self.sock = os.path.join(self.dir, "run", "tokenpolicyd.sock")
        self.state = os.path.join(self.dir, "state")
        self.pamdir = os.path.join(self.dir, "pam.d")
        self.timefile = os.path.join(self.dir, "faketime")
        self.log = os.path.join(self.dir, "daemon.log")
        self.use_faketime = faketime and os.path.exists(FAKETIME_LIB)
        self.offset = 0
        self.trust = TRUST_ARG  # for PAM service files written by hand
        os.makedirs(self.pamdir)
        self.write_conf(conf if conf is not None else config_text())
        self.set_offset(0)
        self.proc = None
        self.held = []
        for svc in ("tptest-desktop", "tptest-web", "tptest-mobile", "tptest-sshd", "tptest-other"):
            self.pam_service(svc)

    def write_conf(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def pam_service(self, name, args="", fail=None, root_exempt=False):
        """A stack of the module alone (auth after pam_permit). The suite
        applies policy to root as to anyone (even_deny_root); root's
        exemption, the module's default, is tested with root_exempt=True."""
        opts = f"socket={self.sock}{self.trust} timeout=3000 {args}".strip()
        if fail:
            opts += f" fail={fail}"
        if not root_exempt:
            opts += " even_deny_root"
        with open(os.path.join(self.pamdir, name), "w") as f:
            f.write(f"account required {MODULE} {opts}\n")
            f.write(f"session required {MODULE} {opts}\n")
            f.write("auth required pam_permit.so\n")  # stands in for the real authentication
            f.write(f"auth required {MODULE} {opts}\n")

    def set_offset(self, seconds):
        """Move the daemon's wall clock to now + seconds."""
        self.offset = seconds
        with open(self.timefile, "w") as f:
            f.write(f"{'+' if seconds >= 0 else '-'}{abs(int(seconds))}\n")

    def daemon_env(self):
        env = dict(os.environ)
        if self.use_faketime:
            env["LD_PRELOAD"] = FAKETIME_LIB
            env["FAKETIME_TIMESTAMP_FILE"] = self.timefile
            env["FAKETIME_NO_CACHE"] = "1"
            env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
            env["FAKETIME_DONT_RESET"] = "1"
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
        return env

    def start(self, wait=True, extra=(), wrapper=(), env=None):
        check(self.proc is None, "daemon already running")
        self.logf = open(self.log, "ab")
        denv = self.daemon_env()
        denv.setdefault("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={self.dir}/no-bus")  # no logind
        denv.update(env or {})
        self.proc = subprocess.Popen(
            [*wrapper, DAEMON, "--foreground", "--config", self.conf, "--socket", self.sock,
             "--state-dir", self.state, *extra],
            stdout=self.logf, stderr=self.logf, env=denv)
        if wait:
            self.wait_ready()
        return self.proc

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure(f"tokenpolicyd exited with {self.proc.returncode}: {self.log_text()}")
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.sock)
                s.close()
                return
            except OSError:
                time.sleep(0.02)
        raise TestFailure("tokenpolicyd did not start listening")

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self.logf.close()
        if sig == signal.SIGKILL and rc == -signal.SIGKILL:
            return None
        return rc

    def restart(self):
        self.stop()
        self.start()

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        """Stop the daemon and remove everything; a sanitizer report or a
        crash in the daemon's log fails the test that ran it."""
        for proc in self.held:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        rc = self.stop()
        log = self.log_text()
        shutil.rmtree(self.dir, ignore_errors=True)
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer"):
            if marker in log:
                raise TestFailure(f"tokenpolicyd reported {marker}:\n{log[-3000:]}")
        if rc is not None and rc not in (0, -signal.SIGKILL):
            raise TestFailure(f"tokenpolicyd exited with status {rc}:\n{log[-2000:]}")

    # -- PAM ------------------------------------------------------------
    def pam(self, service, user, *ops, rhost=None, tty=None):
        cmd = [TP_PAM, "--json", "--confdir", self.pamdir, "--service", service, "--user", user]
        if rhost:
            cmd += ["--rhost", rhost]
        if tty:
            cmd += ["--tty", tty]
        cmd += list(ops)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        lines = [line for line in p.stdout.splitlines() if line.strip()]
        try:
            out = json.loads(lines[-1])
        except (ValueError, IndexError):
            raise TestFailure(f"tp-pam printed no JSON: rc={p.returncode} out={p.stdout!r} err={p.stderr!r}")
        out["rc"] = p.returncode
        out["stderr"] = p.stderr
        return self._digest(out)

    @staticmethod
    def _digest(out):
        out["results"] = [s["result"] for s in out["steps"]]
        out["errors"] = [m["text"] for m in out["messages"] if m["style"] == "error"]
        out["infos"] = [m["text"] for m in out["messages"] if m["style"] == "info"]
        return out

    def sign_in_held(self, service, user, rhost=None, tty=None, pam_env=()):
        """Sign in from a process that stays alive (the session leader) until
        release() or cleanup; returns (process, report)."""
        cmd = [TP_PAM, "--json", "--confdir", self.pamdir, "--service", service, "--user", user]
        for var in pam_env:
            cmd += ["--pam-env", var]
        if rhost:
            cmd += ["--rhost", rhost]
        if tty:
            cmd += ["--tty", tty]
        cmd += ["acct", "open", "hold", "close"]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.held.append(proc)
        line = proc.stdout.readline()
        try:
            out = self._digest(json.loads(line))
        except ValueError:
            raise TestFailure(f"tp-pam hold printed {line!r}")
        eq(out["results"], ["PAM_SUCCESS", "PAM_SUCCESS"], f"held sign-in of {user} via {service}: {out}")
        out["pid"] = proc.pid
        return proc, out

    @staticmethod
    def release(proc):
        """Let a held session sign out (close_session) and exit."""
        if proc.poll() is None:
            proc.stdin.close()
        proc.wait(timeout=30)

    def sign_in(self, service, user, **kw):
        """A sign-in whose session stays up: its PAM process (the session
        leader) lives until the test ends, as a login's would."""
        return self.sign_in_held(service, user, **kw)[1]

    # -- CLI ------------------------------------------------------------
    def ctl(self, *args, user=None, check_rc=None, env=None):
        cmd = [CTL, "--socket", self.sock, *args]
        if user:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
        if check_rc is not None and p.returncode != check_rc:
            raise TestFailure(f"{' '.join(args)}: rc {p.returncode} != {check_rc}: {p.stdout} {p.stderr}")
        return p

    def sessions(self, *args, user=None):
        p = self.ctl("sessions", "--json", *args, user=user, check_rc=0)
        return json.loads(p.stdout)


def run_tests(tests):
    """Run (name, fn) pairs; print TAP; return the process exit code."""
    failed = 0
    print(f"1..{len(tests)}")
    for i, (name, fn) in enumerate(tests, 1):
        t0 = time.monotonic()
        try:
            fn()
            print(f"ok {i} - {name} ({time.monotonic() - t0:.1f}s)")
        except Exception as e:  # noqa: BLE001 - report every failure kind
            failed += 1
            print(f"not ok {i} - {name}")
            for line in (str(e) + "\n" + traceback.format_exc()).splitlines():
                print(f"# {line}")
        sys.stdout.flush()
    return 1 if failed else 0


def with_env(conf=None, **kw):
    """Decorator: run the test with a fresh started Env, cleaned up after."""
    def wrap(fn):
        def run():
            env = Env(conf() if callable(conf) else conf, **kw)
            try:
                env.start()
                fn(env)
            finally:
                env.cleanup()
        run.__name__ = fn.__name__
        return run
    return wrap


class PrivateLogind:
    """A private D-Bus bus with tests/fake-logind on it, standing in for
    systemd-logind. Point the daemon at it with env={"DBUS_SYSTEM_BUS_ADDRESS":
    bus.address}; read what it was asked with calls()."""

    def __init__(self, directory):
        self.dir = directory
        self.log = os.path.join(directory, "logind-calls")
        conf = os.path.join(directory, "bus.conf")
        with open(conf, "w") as f:
            f.write(f"""<busconfig>
  <listen>unix:path={directory}/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
""")
        self.bus = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork", "--print-address"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.address = self.bus.stdout.readline().strip()
        check(self.address.startswith("unix:"), f"dbus-daemon printed {self.address!r}")
        self.fake = None

    def start(self, *sessions, idle=(), types=()):
        """sessions: "ID:PID" strings the fake logind knows; idle: "ID:SINCE"
        strings, the sessions logind finds idle since a wall-clock second;
        types: "ID:TYPE" strings, their Type (x11, wayland, ...; tty if not
        given)."""
        self.stop_fake()
        args = [os.path.join(BUILD, "tests", "fake-logind"), "--address", self.address, "--log", self.log]
        for sess in sessions:
            args += ["--session", sess]
        for since in idle:
            args += ["--idle", since]
        for t in types:
            args += ["--type", t]
        self.fake = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        eq(self.fake.stdout.readline().strip(), "ready", "fake logind ready")

    def calls(self):
        try:
            with open(self.log) as f:
                return [line.strip() for line in f if line.strip()]
        except OSError:
            return []

    def stop_fake(self):
        if self.fake and self.fake.poll() is None:
            self.fake.terminate()
            self.fake.wait(timeout=10)
        self.fake = None

    def close(self):
        self.stop_fake()
        if self.bus.poll() is None:
            self.bus.terminate()
            self.bus.wait(timeout=10)


def trace_daemon(env, what, action):
    """Run action() with strace -y -e <what> attached to env's daemon;
    the lines strace wrote, in order."""
    out = os.path.join(env.dir, "strace.out")
    tracer = subprocess.Popen(["strace", "-y", "-e", what, "-o", out, "-p", str(env.proc.pid)],
                              stderr=subprocess.PIPE, text=True)
    try:
        # strace says "attached" on stderr once it traces.
        ready, _, _ = select.select([tracer.stderr], [], [], 20)
        line = tracer.stderr.readline() if ready else ""
        check("attached" in line, f"strace attached: {line!r}")
        action()
        time.sleep(0.3)
    finally:
        tracer.terminate()
        tracer.wait(timeout=20)
    with open(out) as f:
        return f.read().splitlines()


def session_request(sock_path, kind, session_id, user=""):
    """One session request (PROTOCOL.md: close 3, reauth 4, refresh 5) as
    the caller, with no refresh token: (status, message)."""
    def pstr(v):
        b = v.encode()
        return struct.pack(">H", len(b)) + b

    payload = pstr(session_id) + pstr("") + pstr(user)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(sock_path)
        sock.sendall(b"TP\x01" + bytes([kind]) + struct.pack(">I", len(payload)) + payload)
        data = b""
        while len(data) < 8 or len(data) < 8 + struct.unpack(">I", data[4:8])[0]:
            chunk = sock.recv(4096)
            check(chunk, "the daemon closed the connection before its whole reply")
            data += chunk
    eq(data[:4], b"TP\x01" + bytes([0x80 | kind]), "reply header")
    mlen = struct.unpack(">H", data[9:11])[0]
    return data[8], data[11:11 + mlen].decode()


def wait_for(pred, timeout=15, step=0.05):
    """Poll pred() until true; a bound on waiting, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def exclusive(name):
    """Hold /run/lock/tptest-NAME.lock for the rest of the process: test
    files that create and remove the same users or system files take turns
    when two suites run at once, instead of pulling them from under each
    other."""
    import fcntl
    os.makedirs("/run/lock", exist_ok=True)
    f = open(f"/run/lock/tptest-{name}.lock", "w")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def run_with_users(tests, users, lock_name="users"):
    """Run tests (TAP) with system users created for the run and removed
    after it, holding a lock so concurrent suites take turns. Needs root."""
    import pwd
    if os.geteuid() != 0:
        print("1..0 # SKIP integration tests need root (test users are created and removed)")
        return 0
    lock = exclusive(lock_name)  # noqa: F841 - held until the process exits
    for u in users:
        try:
            pwd.getpwnam(u)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                            "--user-group", u], check=True)
    try:
        return run_tests(tests)
    finally:
        for u in users:
            subprocess.run(["userdel", u], capture_output=True)


def sanitizer_runtimes(module):
    """The sanitizer libraries a module built with SANITIZE=1 links: a program
    built without them (sshd, cockpit-session) must preload them (ASan's first) to dlopen it."""
    out = subprocess.run(["ldd", module], capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "=>":
            for name in ("libasan.so", "libubsan.so"):
                if parts[0].startswith(name):
                    found[name] = parts[2]
    return [found[n] for n in ("libasan.so", "libubsan.so") if n in found]
