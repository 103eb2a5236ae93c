#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Never lock the administrator out, with the installed package.

The .deb is built from this tree and installed with dpkg, its profile is
enabled with the real "pam-auth-update --enable tokenpolicy" and the daemon
is started with the package's init script. Then the system's own programs
and stacks are driven through the installed module: the real su (root to a
test user; the test user to root with the password typed on a pty), the
real sudo (as root; as the test user through a NOPASSWD sudoers drop-in),
and through pamtester the stacks of cron (root and the test user), login
(root, and the test user: mapped to desktop by the shipped config) and sshd
(the test user: mapped to ssh). That is done with the daemon

  - running: everything passes, the mapped sign-ins are recorded;
  - stopped with the init script: su, sudo, cron and root pass, the mapped
    sign-ins are refused at once (no socket) and the user is told why;
  - stopped with SIGSTOP: the same, the mapped ones refused after the
    module's timeout (measured and printed; bounded at three times it);
  - started on a broken /etc/tokenpolicy.conf after a valid one ran: it
    serves the last valid configuration, tokenpolicyctl status says so,
    and everything passes;
  - refusing to start on a broken file when none was ever valid: as when
    stopped; after a reboot (no service map left in /run) the same, the
    module reading the copy of the map the daemons that ran left in the
    state directory; and without that copy either, root still passes
    everything while the module, no longer able to tell which services
    are unmapped, refuses the test user everywhere (fail=closed, as
    pam_tokenpolicy(8) documents).

The init script's status is checked in every state. Finally "dpkg -r"
takes the profile out of the stacks and stops the daemon, frozen as it is,
and "dpkg -P" leaves nothing.

The machine is not changed: everything after the build runs in a private
mount namespace (unshare --mount --propagation private) whose /etc/pam.d,
/var/lib/pam, /var/cache/debconf, /etc/sudoers.d and /etc/shadow are
copies (root's password is set in the copy only), with private tmpfs /run
and /var/log; the machine's /etc/pam.d, /var/lib/pam, /etc/shadow and
/etc/sudoers.d are checked byte-identical at the end (but for entries of
tptest-* users and services, which other tests may add meanwhile). The
package itself is installed on the machine's file system and purged again,
so, as test_package.py, this refuses to run (fails) where tokenpolicy is
already installed or where systemd is the service manager, and takes
test_package.py's lock. Root only.
"""
import hashlib
import json
import os
import pty
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_package as pkg  # noqa: E402
from tplib import TestFailure, check, eq, run_with_users, wait_for  # noqa: E402

USER = "tptest-ifs"
# The profile's lines give no timeout=: the module's default, 3000 ms.
TIMEOUT_S = 3.0
NOT_AVAILABLE = "The sign-in policy service is not available; contact your administrator."
SUDOERS_DROP_IN = "tptest-installed-failsafe"
LAST_GOOD = os.path.join(pkg.STATE_DIR, "last-good.conf")
STATE_MAP = os.path.join(pkg.STATE_DIR, "services.map")
# A typo an administrator could make: a value the option does not have.
TYPO = ('on_expiry = "lock";', 'on_expiry = "lokc";')

# Made inside the namespace, over the copies in $T; then it waits for its
# standard input to close, holding the namespace for nsenter.
HOLDER = """set -e
mount --bind "$T/pam.d" /etc/pam.d
mount --bind "$T/pam" /var/lib/pam
mount --bind "$T/debconf" /var/cache/debconf
mount --bind "$T/sudoers.d" /etc/sudoers.d
mount --bind "$T/shadow" /etc/shadow
mount -t tmpfs -o mode=0755 tptest-run /run
mount -t tmpfs -o mode=0755 tptest-log /var/log
echo ready
exec cat >/dev/null
"""

state = {"refused": None, "work": None, "deb": None, "installed_by_us": False, "holder": None, "ns_dir": None,
         "before": None, "root_password": None, "original_conf": None}


def require(*keys):
    if state["refused"]:
        raise TestFailure(f"not run: {state['refused']}")
    for key in keys:
        check(state[key], f"not run: an earlier step failed ({key} missing)")


def shadow_digest():
    """/etc/shadow but the lines of tptest-* users, which other tests may
    add and remove meanwhile."""
    with open("/etc/shadow", "rb") as f:
        lines = [line for line in f.read().splitlines(keepends=True) if not line.startswith(b"tptest")]
    return hashlib.sha256(b"".join(lines)).hexdigest()


def machine_digest():
    """What this test must leave as it found it."""
    return {"/etc/pam.d": pkg.tree_digest("/etc/pam.d"), "/var/lib/pam": pkg.tree_digest("/var/lib/pam"),
            "/etc/sudoers.d": pkg.tree_digest("/etc/sudoers.d"), "/etc/shadow": shadow_digest()}


# -- the namespace ---------------------------------------------------------

def ns_path(path):
    """path as the namespace sees it (its /run is its own)."""
    return f"/proc/{state['holder'].pid}/root{path}"


def ns_argv(*argv):
    return ["nsenter", f"--target={state['holder'].pid}", "--mount", "--", *argv]


def ns(*argv, timeout=120, user=None):
    """Run argv in the namespace (as user, when given, with that user's
    groups); returns the CompletedProcess with .elapsed in seconds."""
    if user:
        argv = ("setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *argv)
    t0 = time.monotonic()
    p = pkg.run(ns_argv(*argv), timeout=timeout, cwd="/")
    p.elapsed = time.monotonic() - t0
    return p


def start_namespace():
    t = tempfile.mkdtemp(prefix="tptest-ifs-ns-")
    state["ns_dir"] = t
    for name, src in (("pam.d", "/etc/pam.d"), ("pam", "/var/lib/pam"), ("debconf", "/var/cache/debconf"),
                      ("sudoers.d", "/etc/sudoers.d")):
        shutil.copytree(src, os.path.join(t, name), symlinks=True)
    # root's password, in the copy of /etc/shadow only: su from the test
    # user to root asks for it.
    password = secrets.token_hex(12)
    p = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password + "\n", capture_output=True,
                       text=True, check=True)
    hashed = p.stdout.strip()
    check(hashed.startswith("$6$"), f"openssl passwd: {p.stdout!r}")
    shadow = os.path.join(t, "shadow")
    shutil.copy2("/etc/shadow", shadow)
    st = os.stat("/etc/shadow")
    os.chown(shadow, st.st_uid, st.st_gid)
    with open(shadow) as f:
        lines = f.read().splitlines(keepends=True)
    found = False
    for i, line in enumerate(lines):
        fields = line.split(":")
        if fields[0] == "root":
            fields[1] = hashed
            lines[i] = ":".join(fields)
            found = True
    check(found, "root in /etc/shadow")
    with open(shadow, "w") as f:
        f.write("".join(lines))
    state["root_password"] = password
    drop_in = os.path.join(t, "sudoers.d", SUDOERS_DROP_IN)
    with open(drop_in, "w") as f:
        f.write(f"{USER} ALL=(root) NOPASSWD: /usr/bin/id\n")
    os.chmod(drop_in, 0o440)
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", HOLDER],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=dict(os.environ, T=t))
    state["holder"] = holder
    line = holder.stdout.readline().strip()
    if line != "ready":
        holder.stdin.close()
        raise TestFailure(f"the namespace was not set up: {line!r} {holder.stderr.read()!r}")


def stop_namespace():
    holder = state["holder"]
    if holder is None:
        return
    if holder.poll() is None:
        holder.stdin.close()
        try:
            holder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
    holder.stdout.close()
    holder.stderr.close()
    state["holder"] = None


# -- the daemon --------------------------------------------------------------

def initd(action):
    return ns(pkg.INIT, action, timeout=60)


def daemon_pid():
    """The PID in the init script's PID file, checked to be the package's
    daemon and the only one running."""
    path = ns_path(pkg.PID_FILE)
    check(os.path.isfile(path), f"{pkg.PID_FILE} exists")
    with open(path) as f:
        text = f.read()
    check(text.endswith("\n") and text[:-1].isdigit(), f"PID file content: {text!r}")
    pid = int(text)
    eq(pkg.installed_daemons(), [pid], "one tokenpolicyd running, the one the PID file names")
    return pid


def start_daemon():
    p = initd("start")
    eq(p.returncode, 0, f"init script start: {p.stdout}{p.stderr}")
    pid = daemon_pid()
    eq(initd("status").returncode, 0, "init script status: running")
    return pid


def stop_daemon():
    p = initd("stop")
    eq(p.returncode, 0, f"init script stop: {p.stdout}{p.stderr}")
    check(wait_for(lambda: pkg.installed_daemons() == [], timeout=30),
          f"a daemon is left after stop: {pkg.installed_daemons()}")
    eq(initd("status").returncode, 3, "init script status: not running")


def ensure_stopped():
    """No daemon, whatever an earlier step left (a failed one may leave it
    running, or stopped with SIGSTOP)."""
    if pkg.installed_daemons():
        for pid in pkg.installed_daemons():
            os.kill(pid, signal.SIGCONT)
        stop_daemon()


def fresh_start():
    """The daemon started by the init script on the shipped file."""
    ensure_stopped()
    pkg.write_conf(state["original_conf"])
    return start_daemon()


def sessions():
    p = ns("/usr/bin/tokenpolicyctl", "sessions", "--all", "--json")
    eq(p.returncode, 0, f"tokenpolicyctl sessions: {p.stdout}{p.stderr}")
    return json.loads(p.stdout)


# -- the programs ------------------------------------------------------------

class Outcome:
    def __init__(self, ok, text, elapsed):
        self.ok, self.text, self.elapsed = ok, text, elapsed


def su_to_user():
    p = ns("su", "-s", "/bin/sh", USER, "-c", "id -un")
    return Outcome(p.returncode == 0 and p.stdout.strip() == USER, p.stdout + p.stderr, p.elapsed)


def su_to_root_with_password(password=None):
    """The test user runs su root on a terminal and types root's password
    (or the one given) when asked."""
    t0 = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.chdir("/")
            os.execvp("nsenter", ns_argv("setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--",
                                         "su", "root", "-c", "id -un"))
        finally:
            os._exit(127)
    out = b""
    sent = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            out += chunk
            if not sent and b"Password:" in out:
                os.write(fd, (password or state["root_password"]).encode() + b"\n")
                sent = True
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    lines = [line.strip() for line in text.splitlines()]
    ok = sent and os.waitstatus_to_exitcode(status) == 0 and "root" in lines
    return Outcome(ok, text, time.monotonic() - t0)


def sudo(user=None):
    p = ns("sudo", "-n", "/usr/bin/id", "-un", user=user)
    return Outcome(p.returncode == 0 and p.stdout.strip() == "root", p.stdout + p.stderr, p.elapsed)


def pamtester(service, user):
    p = ns("pamtester", service, user, "acct_mgmt", "open_session", "close_session")
    return Outcome(p.returncode == 0, p.stdout + p.stderr, p.elapsed)


# What each is, for the policy: root's, a service of no client type in the
# shipped config, or a mapped one (login: desktop; sshd: ssh); and what a
# refusal shows. sudo asks for account management with PAM_SILENT, so the
# module's message is not shown there: sudo says it itself.
SUDO_REFUSED = "sudo: PAM account management error: Permission denied"
CHECKS = [
    (f"su root -> {USER}", "unmapped", su_to_user, NOT_AVAILABLE),
    (f"su {USER} -> root, password typed", "root", su_to_root_with_password, NOT_AVAILABLE),
    ("sudo as root", "root", sudo, SUDO_REFUSED),
    (f"sudo as {USER} (NOPASSWD)", "unmapped", lambda: sudo(USER), SUDO_REFUSED),
    ("cron stack for root", "root", lambda: pamtester("cron", "root"), NOT_AVAILABLE),
    (f"cron stack for {USER}", "unmapped", lambda: pamtester("cron", USER), NOT_AVAILABLE),
    ("login stack for root", "root", lambda: pamtester("login", "root"), NOT_AVAILABLE),
    (f"login stack for {USER}", "mapped", lambda: pamtester("login", USER), NOT_AVAILABLE),
    (f"sshd stack for {USER}", "mapped", lambda: pamtester("sshd", USER), NOT_AVAILABLE),
]


def run_checks(what, passes):
    """Run every check; passes: the kinds ("root", "unmapped", "mapped")
    that must pass, the others must be refused, saying why, within three
    times the module's timeout. All are run before a mismatch is raised."""
    wrong = []
    for name, kind, fn, refusal in CHECKS:
        out = fn()
        want = kind in passes
        print(f"# {what}: {name}: {'passed' if out.ok else 'refused'} in {out.elapsed * 1000:.0f} ms")
        if out.ok != want:
            wrong.append(f"{name}: {'passed' if out.ok else 'refused'}, should have "
                         f"{'passed' if want else 'been refused'}: {out.text!r}")
        elif not want:
            if refusal not in out.text:
                wrong.append(f"{name}: refused without saying why: {out.text!r}")
            # A bound on a stuck program, not a measurement (printed above).
            if out.elapsed > 3 * TIMEOUT_S:
                wrong.append(f"{name}: refused only after {out.elapsed:.1f}s (timeout {TIMEOUT_S}s)")
    check(not wrong, f"{what}:\n" + "\n".join(wrong))


ALL = ("root", "unmapped", "mapped")
NOT_MAPPED = ("root", "unmapped")


# -- the steps, in order -----------------------------------------------------

def test_machine_is_fit():
    state["refused"] = pkg.clobber_reason()
    if state["refused"]:
        raise TestFailure("refusing to run: " + state["refused"])
    missing = [tool for tool in ("su", "sudo", "pamtester", "nsenter", "unshare", "setpriv", "openssl")
               if not shutil.which(tool)]
    missing += [f for f in ("/etc/pam.d/cron", "/etc/pam.d/login", "/etc/pam.d/sshd", "/etc/pam.d/sudo",
                            "/etc/pam.d/su") if not os.path.exists(f)]
    if missing:
        state["refused"] = f"missing {', '.join(missing)} (scripts/ensure-deps test installs them)"
        raise TestFailure(state["refused"])


def test_package_builds():
    require()
    state["work"] = tempfile.mkdtemp(prefix="tptest-ifs-package-")
    state["deb"] = pkg.build_package(state["work"])


def test_install_enable_the_profile_and_start_with_the_init_script():
    """In the namespace: dpkg -i (no service may start), pam-auth-update
    --enable tokenpolicy, /etc/init.d/tokenpolicyd start."""
    require("deb")
    state["before"] = machine_digest()
    start_namespace()
    state["installed_by_us"] = True
    with pkg.PolicyRcD():
        p = ns("dpkg", "-i", state["deb"], timeout=180)
    eq(p.returncode, 0, f"dpkg -i: {p.stdout}{p.stderr}")
    eq(pkg.package_status(), "installed", "package status")
    eq(pkg.installed_daemons(), [], "a policy-rc.d that forbids starting services starts nothing")
    p = ns("pam-auth-update", "--enable", "tokenpolicy")
    check("Local modifications" not in p.stdout + p.stderr,
          "this machine's /etc/pam.d/common-* are locally modified, so pam-auth-update manages nothing "
          f"and the profile cannot be enabled here: {p.stderr}")
    eq(p.returncode, 0, f"pam-auth-update --enable tokenpolicy: {p.stdout}{p.stderr}")
    enabled = pkg.tree_digest(os.path.join(state["ns_dir"], "pam.d"))
    eq(pkg.changed(state["before"]["/etc/pam.d"], enabled), ["common-account", "common-session"],
       "files the profile changed (in the copy)")
    with open(ns_path("/etc/pam.d/common-account")) as f:
        check("pam_tokenpolicy.so unmapped=ignore" in f.read(), "the namespace sees the enabled profile")
    with open(pkg.CONF) as f:
        state["original_conf"] = f.read()
    eq(initd("status").returncode, 3, "init script status before start")
    start_daemon()
    check(os.path.isfile(ns_path("/run/tokenpolicy/services.map")), "the daemon wrote its service map")
    check(os.path.isfile(STATE_MAP), "and its copy in the state directory")


def test_daemon_running():
    require("holder", "original_conf")
    daemon_pid()  # the one started above
    # The typed password is checked: a wrong one is refused.
    out = su_to_root_with_password("tptest-wrong-password")
    check(not out.ok and "Authentication failure" in out.text, f"su with a wrong password: {out.text!r}")
    before = {s["id"] for s in sessions()}
    run_checks("daemon running", ALL)
    new = sorted((s["user"], s["client"], s["state"]) for s in sessions() if s["id"] not in before)
    # su, sudo and cron are none of the policy's business: no session.
    eq(new, sorted([("root", "desktop", "closed"), (USER, "desktop", "closed"), (USER, "ssh", "closed")]),
       "sessions recorded by the mapped stacks and root's login, signed out again")


def test_daemon_stopped():
    require("holder", "original_conf")
    if not pkg.installed_daemons():
        fresh_start()
    stop_daemon()
    check(not os.path.exists(ns_path(pkg.SOCKET)), "the socket is gone")
    check(os.path.isfile(ns_path("/run/tokenpolicy/services.map")), "the service map stays")
    p = ns("/usr/bin/tokenpolicyctl", "status")
    check(p.returncode != 0 and "'/etc/init.d/tokenpolicyd start'" in p.stderr,
          f"tokenpolicyctl names the init script: {p.returncode} {p.stderr}")
    run_checks("daemon stopped", NOT_MAPPED)


def test_daemon_frozen():
    require("holder", "original_conf")
    pid = fresh_start()
    os.kill(pid, signal.SIGSTOP)
    try:
        check(wait_for(lambda: pkg.state_of(pid).rsplit(")", 1)[1].split()[0] == "T", timeout=10),
              f"stopped: {pkg.state_of(pid)}")
        eq(initd("status").returncode, 0, "init script status of a stopped (SIGSTOP) daemon: running")
        run_checks("daemon frozen (SIGSTOP)", NOT_MAPPED)
    finally:
        os.kill(pid, signal.SIGCONT)
    # Awake again, it answers (after the requests that were given up on).
    p = ns("/usr/bin/tokenpolicyctl", "status")
    eq(p.returncode, 0, f"tokenpolicyctl status after SIGCONT: {p.stdout}{p.stderr}")
    stop_daemon()


def test_broken_config_after_a_valid_one():
    """The last valid configuration is served, and said to be."""
    require("holder", "original_conf")
    ensure_stopped()
    # Every start so far was on the shipped file.
    check(os.path.isfile(LAST_GOOD), f"{LAST_GOOD} kept by the daemons that ran")
    broken = state["original_conf"].replace(*TYPO)
    check(broken != state["original_conf"], f"the shipped config has {TYPO[0]}")
    pkg.write_conf(broken)
    p = ns("/usr/sbin/tokenpolicyd", "--check-config", pkg.CONF)
    check(p.returncode != 0 and f"{pkg.CONF}:" in p.stderr, f"--check-config finds the typo: {p.returncode} {p.stderr}")
    p = initd("start")
    eq(p.returncode, 0, f"init script start on a broken file: {p.stdout}{p.stderr}")
    print(f"# init script start on a broken file says: {(p.stdout + p.stderr).strip()!r}")
    daemon_pid()
    eq(initd("status").returncode, 0, "init script status")
    p = ns("/usr/bin/tokenpolicyctl", "status")
    eq(p.returncode, 0, f"tokenpolicyctl status: {p.stdout}{p.stderr}")
    check("NOT IN FORCE: unusable at start; serving the last valid configuration" in p.stdout,
          f"status says the last valid configuration is served: {p.stdout}")
    check(LAST_GOOD in p.stdout and "lokc" in p.stdout, f"and which one, and what is wrong: {p.stdout}")
    check(f"{pkg.CONF} is not in force" in p.stderr, f"and warns on stderr: {p.stderr}")
    before = {s["id"] for s in sessions()}
    run_checks("broken file, last valid one served", ALL)
    new = sorted((s["user"], s["client"]) for s in sessions() if s["id"] not in before)
    eq(new, sorted([("root", "desktop"), (USER, "desktop"), (USER, "ssh")]),
       "sessions recorded under the last valid configuration")
    stop_daemon()


def test_broken_config_never_valid():
    """No valid configuration ever: the daemon refuses to start."""
    require("holder", "original_conf")
    ensure_stopped()
    pkg.write_conf(state["original_conf"].replace(*TYPO))
    os.unlink(LAST_GOOD)
    try:
        p = initd("start")
        eq(p.returncode, 1, f"init script start fails: {p.stdout}{p.stderr}")
        check("no configuration was ever valid here" in p.stdout + p.stderr, f"and says why: {p.stdout}{p.stderr}")
        eq(pkg.installed_daemons(), [], "no daemon")
        eq(initd("status").returncode, 3, "init script status: not running")
        # The map of the configuration that ran before is still in /run.
        run_checks("never a valid file, map of an earlier run left", NOT_MAPPED)
        # After a reboot /run is empty: the copy of the map in the state
        # directory, left by the daemons that ran, still tells the module
        # which services are none of the policy's business.
        os.unlink(ns_path("/run/tokenpolicy/services.map"))
        run_checks("never a valid file, after a reboot (the state directory's copy)", NOT_MAPPED)
        # Without the copy either, the module cannot tell unmapped services
        # from mapped ones and asks the daemon for all (fail=closed); root
        # alone is sure to get in, to repair the file.
        os.unlink(STATE_MAP)
        run_checks("never a valid file, after a reboot (no map, no copy)", ("root",))
    finally:
        pkg.write_conf(state["original_conf"])


def test_remove_with_the_profile_enabled_stops_a_frozen_daemon():
    """dpkg -r takes the module out of the stacks and stops the daemon,
    though it is stopped with SIGSTOP and the policy forbids every action
    of invoke-rc.d; purge leaves nothing."""
    require("holder", "original_conf")
    pid = fresh_start()
    os.kill(pid, signal.SIGSTOP)
    with pkg.PolicyRcD():
        p = ns("dpkg", "-r", pkg.PKG, timeout=180)
    eq(p.returncode, 0, f"dpkg -r: {p.stdout}{p.stderr}")
    eq(pkg.package_status(), "config-files", "package status after remove")
    eq(pkg.installed_daemons(), [], "no daemon after remove")
    pkg.wait_reaped(pid)
    eq(pkg.changed(state["before"]["/etc/pam.d"], pkg.tree_digest(os.path.join(state["ns_dir"], "pam.d"))), [],
       "the stacks (in the copy) are as before the profile was enabled")
    with pkg.PolicyRcD():
        p = ns("dpkg", "-P", pkg.PKG, timeout=180)
    eq(p.returncode, 0, f"dpkg -P: {p.stdout}{p.stderr}")
    state["installed_by_us"] = False
    eq(pkg.package_status(), None, "package status after purge")
    eq(pkg.installed_daemons(), [], "no daemon after purge")
    for path in pkg.expected_files() | {pkg.STATE_DIR}:
        check(not os.path.lexists(path), f"left after purge: {path}")
    check(not os.path.lexists(ns_path(pkg.RUN_DIR)), f"left after purge: {pkg.RUN_DIR}")
    eq(pkg.rc_links(), [], "runlevel links left after purge")


def test_the_machine_is_as_it_was():
    require("before")
    stop_namespace()
    after = machine_digest()
    for what in ("/etc/pam.d", "/var/lib/pam", "/etc/sudoers.d"):
        eq(pkg.changed(state["before"][what], after[what]), [], f"files changed in {what}")
    eq(after["/etc/shadow"], state["before"]["/etc/shadow"], "/etc/shadow unchanged")
    check(not os.path.lexists(pkg.RUN_DIR), f"the machine's {pkg.RUN_DIR} was never made")


def cleanup():
    """After a failure part-way: no daemon, no package, no namespace, no
    directory of this test left."""
    if state["installed_by_us"]:
        # Any daemon of the package is this test's: it refused to run
        # where one was running before.
        for pid in pkg.installed_daemons():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if state["original_conf"] is not None and os.path.exists(pkg.CONF):
            pkg.write_conf(state["original_conf"])
        if pkg.package_status():
            with pkg.PolicyRcD():
                argv = ns_argv("dpkg", "-P", pkg.PKG) if state["holder"] and state["holder"].poll() is None \
                    else ["dpkg", "-P", pkg.PKG]
                pkg.run(argv, timeout=180, cwd="/")
    stop_namespace()
    for d in (state["work"], state["ns_dir"]):
        if d:
            shutil.rmtree(d, ignore_errors=True)


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root: installs and purges the package, creates a user, mount namespaces")
        sys.exit(0)
    lock = pkg.package_lock()  # noqa: F841 - held until the process exits
    # Where it must not run, report that once instead of every step failing.
    tests = TESTS[:1] if pkg.clobber_reason() else TESTS
    try:
        rc = run_with_users(tests, (USER,))
    finally:
        cleanup()
    sys.exit(rc)
