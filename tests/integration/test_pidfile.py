#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The daemon's PID file (--pid-file, and its default for the daemon that
binds the default socket), as init scripts and start-stop-daemon use it.

A PID file given with --pid-file, in the foreground and detached (where it
must name the detached daemon, not the process that started it), written
only once the socket listens, removed at a clean exit, never written by a
start that fails and never taken from the daemon that holds the socket. The
default file /run/tokenpolicy/tokenpolicyd.pid is checked in private mount
namespaces with a tmpfs over /run, seen from outside through
/proc/PID/root: written by a daemon that binds the default socket itself,
not by one on another socket nor by one the service manager passes the
default socket to. The machine's own /run is never touched.
"""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import CTL, DAEMON, Env, check, eq, run_tests, wait_for  # noqa: E402

DEFAULT_SOCKET = "/run/tokenpolicy/tokenpolicyd.sock"
DEFAULT_PID_FILE = "/run/tokenpolicy/tokenpolicyd.pid"


def read(path):
    with open(path) as f:
        return f.read()


def answers(path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(path)
        return True
    except OSError:
        return False


def gone(pid):
    """True once pid has exited (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_foreground_pid_file_written_once_listening_and_removed_at_exit():
    env = Env()
    pid_file = os.path.join(env.dir, "run", "tokenpolicyd.pid")
    try:
        env.start(wait=False, extra=["--pid-file", pid_file])
        check(wait_for(lambda: os.path.exists(pid_file) or env.proc.poll() is not None, timeout=20),
              f"no PID file: {env.log_text()}")
        # The file appears only once the socket listens.
        check(answers(env.sock), "the socket listens when the PID file appears")
        eq(read(pid_file), f"{env.proc.pid}\n", "the PID file names the daemon")
        eq(os.stat(pid_file).st_mode & 0o7777, 0o644, "mode 0644 whatever the daemon's umask")
        eq(sorted(os.listdir(os.path.dirname(pid_file))), ["services.map", "tokenpolicyd.pid", "tokenpolicyd.sock"],
           "no temporary file left beside it")
        eq(env.stop(), 0, "clean exit")
        check(not os.path.exists(pid_file), "the PID file is removed at a clean exit")
        check(not os.path.exists(env.sock), "and the socket")
    finally:
        env.cleanup()


def test_detached_pid_file_names_the_daemon_and_relative_path():
    env = Env()
    pid = None
    try:
        # A relative path is taken against the working directory at start,
        # though the daemon leaves it when it detaches.
        p = subprocess.run([DAEMON, "--config", env.conf, "--socket", env.sock, "--state-dir", env.state,
                            "--pid-file", "detached.pid"], cwd=env.dir, capture_output=True, text=True,
                           timeout=60, env=env.daemon_env())
        eq(p.returncode, 0, f"detached start: {p.stderr}")
        pid_file = os.path.join(env.dir, "detached.pid")
        # Written before the starting process reported success.
        check(os.path.exists(pid_file), "the PID file exists when the start returns")
        pid = int(read(pid_file))
        status = env.ctl("status", check_rc=0).stdout
        eq(int(status.split("pid:")[1].split()[0]), pid, "the PID file names the detached daemon")
        with open(f"/proc/{pid}/comm") as f:
            eq(f.read().strip(), "tokenpolicyd", "a tokenpolicyd process")
        os.kill(pid, signal.SIGTERM)
        check(wait_for(lambda: gone(pid), timeout=20), "the detached daemon stops on SIGTERM")
        pid = None
        check(not os.path.exists(pid_file), "its PID file is removed at the clean exit")
    finally:
        if pid is not None and not gone(pid):
            os.kill(pid, signal.SIGKILL)
        env.cleanup()


def test_failed_start_writes_no_pid_file():
    env = Env()
    pid_file = os.path.join(env.dir, "first.pid")
    try:
        env.start(extra=["--pid-file", pid_file])
        check(wait_for(lambda: os.path.exists(pid_file)), "first daemon's PID file")
        # A second daemon on the same socket fails before it writes anything:
        # neither its own file nor the first daemon's.
        for other in (pid_file, os.path.join(env.dir, "second.pid")):
            p = subprocess.run([DAEMON, "--foreground", "--config", env.conf, "--socket", env.sock,
                                "--state-dir", env.state, "--pid-file", other],
                               capture_output=True, text=True, timeout=60, env=env.daemon_env())
            eq(p.returncode, 1, f"second daemon on the same socket: {p.stderr}")
            check("already answering" in p.stderr, p.stderr)
        eq(read(pid_file), f"{env.proc.pid}\n", "the first daemon keeps its PID file")
        check(not os.path.exists(os.path.join(env.dir, "second.pid")), "no PID file for a failed start")

        # A PID file that cannot be written fails the start and leaves no
        # socket behind.
        sock2 = os.path.join(env.dir, "run2", "tokenpolicyd.sock")
        bad = os.path.join(env.dir, "no-such-dir", "tokenpolicyd.pid")
        p = subprocess.run([DAEMON, "--foreground", "--config", env.conf, "--socket", sock2,
                            "--state-dir", os.path.join(env.dir, "state2"), "--pid-file", bad],
                           capture_output=True, text=True, timeout=60, env=env.daemon_env())
        eq(p.returncode, 1, f"unwritable PID file: {p.stderr}")
        check(f"Failed to write the PID file {bad}" in p.stderr, p.stderr)
        check(not os.path.exists(sock2), "no socket left by the failed start")
    finally:
        env.cleanup()


def in_private_run(host_setup=""):
    """A wrapper for Env.start: the daemon in a private mount namespace with
    a tmpfs over /run, after host_setup (sh)."""
    script = f'set -e\nmount -t tmpfs tptest-run /run\n{host_setup}\nexec "$0" "$@"\n'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def test_default_pid_file_only_for_the_default_socket_bound_by_the_daemon():
    # On the default socket: the default PID file.
    env = Env()
    try:
        env.start(wait=False, wrapper=in_private_run(), extra=["--socket", DEFAULT_SOCKET])
        root = f"/proc/{env.proc.pid}/root"
        check(wait_for(lambda: answers(root + DEFAULT_SOCKET) or env.proc.poll() is not None, timeout=20),
              f"daemon on the default socket: {env.log_text()}")
        # The socket accepts from listen() on; the PID file is written
        # just after it, before the first request is served.
        check(wait_for(lambda: os.path.exists(root + DEFAULT_PID_FILE) or env.proc.poll() is not None, timeout=20),
              f"the default PID file appears: {env.log_text()}")
        eq(read(root + DEFAULT_PID_FILE), f"{env.proc.pid}\n", "the default PID file names the daemon")
        p = subprocess.run([CTL, "--socket", root + DEFAULT_SOCKET, "status"], capture_output=True, text=True,
                           timeout=60)
        eq(p.returncode, 0, f"it serves: {p.stderr}")
        pid = env.proc.pid
        eq(env.stop(), 0, "clean exit")
        check(gone(pid), "stopped")
    finally:
        env.cleanup()

    # On another socket: none.
    env = Env()
    try:
        env.start(wrapper=in_private_run())
        check(not os.path.exists(f"/proc/{env.proc.pid}/root/run/tokenpolicy"),
              "no default PID file (nor its directory) for a daemon on another socket")
    finally:
        env.cleanup()

    # Passed the default socket by the service manager: none (systemd knows
    # its PID).
    env = Env()
    try:
        env.start(wait=False, wrapper=in_private_run(
            f"mkdir -p /run/tokenpolicy\nexec systemd-socket-activate -l {DEFAULT_SOCKET} \"$0\" \"$@\""),
            extra=["--socket", DEFAULT_SOCKET])
        root = f"/proc/{env.proc.pid}/root"
        check(wait_for(lambda: os.path.exists(root + DEFAULT_SOCKET) or env.proc.poll() is not None),
              f"activator listening: {env.log_text()}")
        p = subprocess.run([CTL, "--socket", root + DEFAULT_SOCKET, "status"], capture_output=True, text=True,
                           timeout=60)
        eq(p.returncode, 0, f"the activated daemon serves: {p.stderr}")
        check("serving the socket passed by the service manager" in env.log_text(), env.log_text())
        check(not os.path.exists(root + DEFAULT_PID_FILE), "no PID file for a socket-activated daemon")
    finally:
        env.cleanup()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root: mount namespaces")
        sys.exit(0)
    sys.exit(run_tests(TESTS))
