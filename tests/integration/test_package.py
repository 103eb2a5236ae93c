#!/usr/bin/python3
"""The Debian package: build, contents, install, remove, purge.

Builds tokenpolicy_*.deb with dpkg-buildpackage from a copy of the source
tree, checks its exact file list and its pam-auth-update profile, then
installs, removes and purges it on this machine with dpkg. No file in
/etc/pam.d may change at any step, the installed daemon and module must
work with the shipped config, and a purge must leave nothing behind.
Enabling the profile ("pam-auth-update --enable tokenpolicy") and the
package's prerm are run in a private mount namespace on copies of
/etc/pam.d, /var/lib/pam and the debconf database, so the machine's own
PAM configuration is never touched.

Root only. Refuses to run (fails) where tokenpolicy is already on the
machine, from the package or from "make install": the test would clobber
an administrator's install.
"""
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import ROOT, TP_PAM, TestFailure, check, eq, run_tests  # noqa: E402

PKG = "tokenpolicy"
CONF = "/etc/tokenpolicy.conf"
STATE_DIR = "/var/lib/tokenpolicy"
RUN_DIR = "/run/tokenpolicy"
SOCKET = RUN_DIR + "/tokenpolicyd.sock"
POLICY_RC = "/usr/sbin/policy-rc.d"
PROFILE = "/usr/share/pam-configs/tokenpolicy"
# Two runs of this test on one machine (two make checks at once) would
# install and purge the same package under each other: the second waits.
LOCK = "/run/lock/tokenpolicy-test-package.lock"

# Left behind by a package build in a source tree; never copied.
BUILD_PRODUCTS = {"build", "build-asan", ".git", "debian/tokenpolicy", "debian/.debhelper", "debian/files",
                  "debian/debhelper-build-stamp", "debian/tmp"}

state = {"work": None, "deb": None, "refused": None, "installed_by_us": False, "pam_before": None,
         "pamlib_before": None}


def pam_dir():
    out = subprocess.run(["pkg-config", "--variable=libdir", "pam"], capture_output=True, text=True)
    return (out.stdout.strip() or "/lib/x86_64-linux-gnu") + "/security"


def unit_dir():
    out = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "/lib/systemd/system"


def expected_files():
    doc = "/usr/share/doc/tokenpolicy"
    return {
        CONF,
        "/usr/sbin/tokenpolicyd",
        "/usr/bin/tokenpolicyctl",
        f"{pam_dir()}/pam_tokenpolicy.so",
        f"{unit_dir()}/tokenpolicyd.service",
        f"{unit_dir()}/tokenpolicyd.socket",
        "/usr/share/man/man1/tokenpolicyctl.1.gz",
        "/usr/share/man/man5/tokenpolicy.conf.5.gz",
        "/usr/share/man/man8/pam_tokenpolicy.8.gz",
        "/usr/share/man/man8/tokenpolicyd.8.gz",
        f"{doc}/changelog.gz",
        f"{doc}/copyright",
        f"{doc}/examples/pam.d/sshd.example",
        f"{doc}/examples/pam.d/gdm-password.example",
        PROFILE,
    }


def run(cmd, timeout=120, **kw):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8")
    env.update(kw.pop("env", {}))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env=env, **kw)


def package_status():
    """dpkg's status word for the package ("installed", "config-files",
    ...), or None when dpkg does not know it."""
    p = run(["dpkg-query", "-W", "-f=${db:Status-Status}", PKG])
    status = p.stdout.strip()
    return status if p.returncode == 0 and status != "not-installed" else None


def tree_digest(top):
    """{relative path: sha256 or link target} for every file under top.
    Files named tptest-* are left out: other integration tests (test_sshd)
    put their own PAM services there, possibly while this one runs."""
    digest = {}
    for d, dirs, files in os.walk(top):
        for name in dirs + files:
            if name.startswith("tptest-"):
                continue
            path = os.path.join(d, name)
            rel = os.path.relpath(path, top)
            if os.path.islink(path):
                digest[rel] = "-> " + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    digest[rel] = hashlib.sha256(f.read()).hexdigest()
    return digest


def changed(before, after):
    keys = set(before) | set(after)
    return sorted(k for k in keys if before.get(k) != after.get(k))


def require(*keys):
    if state["refused"]:
        raise TestFailure(f"not run: {state['refused']}")
    for key in keys:
        check(state[key], f"not run: an earlier step failed ({key} missing)")


class PolicyRcD:
    """Debian's policy-rc.d convention (exit 101: no service may start)
    while dpkg runs, created only where none exists."""

    def __enter__(self):
        self.created = False
        if not os.path.lexists(POLICY_RC):
            with open(POLICY_RC, "w") as f:
                f.write("#!/bin/sh\nexit 101\n")
            os.chmod(POLICY_RC, 0o755)
            self.created = True
        return self

    def __exit__(self, *exc):
        if self.created:
            os.unlink(POLICY_RC)


def dpkg(*args):
    with PolicyRcD():
        p = run(["dpkg", *args], timeout=180)
    eq(p.returncode, 0, f"dpkg {' '.join(args)}: {p.stdout}{p.stderr}")
    return p


# -- the steps, in order ---------------------------------------------------

def clobber_reason():
    """Why this test must not run here, or None."""
    present = []
    status = package_status()
    if status:
        present.append(f"package {PKG} ({status})")
    for path in (CONF, STATE_DIR, RUN_DIR, "/usr/sbin/tokenpolicyd", "/usr/bin/tokenpolicyctl", PROFILE,
                 f"{pam_dir()}/pam_tokenpolicy.so"):
        if os.path.lexists(path):
            present.append(path)
    if not present:
        return None
    return ("tokenpolicy is already on this machine (" + ", ".join(present) + "); this test installs and "
            "purges the package and would destroy that install. Remove it first (dpkg --purge tokenpolicy, "
            "or make uninstall and remove /etc/tokenpolicy.conf, /var/lib/tokenpolicy and /run/tokenpolicy) "
            "or run make check on another machine")


def test_machine_has_no_tokenpolicy_to_clobber():
    state["refused"] = clobber_reason()
    if state["refused"]:
        raise TestFailure("refusing to run: " + state["refused"])


def copy_source(dst):
    def ignore(d, names):
        rel = os.path.relpath(d, ROOT)
        skip = set()
        for name in names:
            path = name if rel == "." else os.path.join(rel, name)
            if (path in BUILD_PRODUCTS or name == "__pycache__" or
                    (rel == "debian" and (name.endswith(".substvars") or ".debhelper" in name))):
                skip.add(name)
        return skip
    shutil.copytree(ROOT, dst, symlinks=True, ignore=ignore)


def test_package_builds():
    require()
    work = tempfile.mkdtemp(prefix="tptest-package-")
    state["work"] = work
    src = os.path.join(work, "tokenpolicy")
    copy_source(src)
    # A clean build of the release configuration, whatever make check was
    # given: no sanitizer, no jobserver or variables from the calling make.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "SANITIZE", "B", "CFLAGS",
                        "CPPFLAGS", "LDFLAGS", "DEB_BUILD_OPTIONS", "DEB_BUILD_PROFILES")}
    env.update(DEB_BUILD_OPTIONS="parallel=2 nocheck noautodbgsym", LC_ALL="C.UTF-8")
    p = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    eq(p.returncode, 0, f"dpkg-buildpackage failed:\n{p.stdout[-4000:]}")
    debs = sorted(f for f in os.listdir(work) if f.endswith(".deb"))
    eq(len(debs), 1, f"one package built: {debs}")
    check(debs[0].startswith(f"{PKG}_"), f"package name: {debs[0]}")
    state["deb"] = os.path.join(work, debs[0])


def deb_members(deb):
    """(files, directories) of a .deb, as absolute paths."""
    p = run(["dpkg-deb", "-c", deb])
    eq(p.returncode, 0, f"dpkg-deb -c: {p.stderr}")
    files, dirs = {}, set()
    for line in p.stdout.splitlines():
        mode, _owner, _size, _date, _time, name = line.split(None, 5)
        name = name.split(" -> ")[0]
        path = "/" + name[2:] if name.startswith("./") else name
        if mode.startswith("d"):
            dirs.add(path.rstrip("/") or "/")
        else:
            files[path] = mode
    return files, dirs


def test_package_contents():
    require("deb")
    files, dirs = deb_members(state["deb"])
    eq(set(files), expected_files(), "files in the package")
    parents = {"/"}
    for path in files:
        d = os.path.dirname(path)
        while d != "/":
            parents.add(d)
            d = os.path.dirname(d)
    eq(dirs, parents, "directories in the package (no empty or stray ones)")
    for path, mode in files.items():
        want = "-rwxr-xr-x" if path.startswith(("/usr/sbin/", "/usr/bin/")) else "-rw-r--r--"
        eq(mode, want, f"mode of {path}")
    p = run(["dpkg-deb", "-I", state["deb"], "conffiles"])
    eq((p.returncode, p.stdout.split()), (0, [CONF]), "conffiles")
    p = run(["dpkg-deb", "-f", state["deb"], "Package", "Depends"])
    eq(p.returncode, 0, f"dpkg-deb -f: {p.stderr}")
    for lib in ("libpam0g", "libpam-runtime", "libconfig", "libssl", "libsqlite3", "libsystemd0"):
        check(lib in p.stdout, f"Depends names {lib}: {p.stdout}")


def read_profile(text):
    """pam-auth-update's profile format: "Field: value", continuation lines
    indented."""
    fields, name = {}, None
    for line in text.splitlines():
        if line[:1].isspace():
            check(name is not None, f"continuation line before any field: {line!r}")
            fields[name] = (fields[name] + "\n" + line.strip()).strip()
        elif line.strip():
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields


def test_pam_auth_update_profile():
    require("deb")
    out = tempfile.mkdtemp(prefix="tptest-deb-x-")
    try:
        p = run(["dpkg-deb", "-x", state["deb"], out])
        eq(p.returncode, 0, f"dpkg-deb -x: {p.stderr}")
        with open(out + PROFILE) as f:
            fields = read_profile(f.read())
    finally:
        shutil.rmtree(out, ignore_errors=True)
    eq(fields.get("Default"), "no", "profile Default")
    eq(fields.get("Account-Type"), "Additional", "Account-Type")
    eq(fields.get("Session-Type"), "Additional", "Session-Type")
    eq(fields.get("Account", "").split(), ["required", "pam_tokenpolicy.so", "unmapped=ignore"], "Account line")
    eq(fields.get("Session", "").split(), ["required", "pam_tokenpolicy.so", "unmapped=ignore"], "Session line")
    check("Session-Interactive-Only" in fields, "no session (no tokens) for cron and other non-interactive use")
    check("," not in fields.get("Name", ","), "Name has no comma (pam-auth-update lists names comma-separated)")
    # pam-auth-update writes Additional lines by descending Priority: above
    # pam_systemd's profile, below pam_unix's.
    priority = int(fields["Priority"])
    for other, above in (("systemd", True), ("unix", False)):
        path = f"/usr/share/pam-configs/{other}"
        if os.path.exists(path):
            with open(path) as f:
                theirs = int(read_profile(f.read())["Priority"])
            check(priority > theirs if above else priority < theirs,
                  f"Priority {priority} {'above' if above else 'below'} {other}'s {theirs}")


def test_install_changes_no_pam_file():
    require("deb")
    state["pam_before"] = tree_digest("/etc/pam.d")
    state["pamlib_before"] = tree_digest("/var/lib/pam")
    state["installed_by_us"] = True
    dpkg("-i", state["deb"])
    eq(package_status(), "installed", "package status")
    eq(changed(state["pam_before"], tree_digest("/etc/pam.d")), [], "files changed in /etc/pam.d by install")
    for path in expected_files():
        check(os.path.isfile(path), f"installed: {path}")
    p = run(["/usr/sbin/tokenpolicyd", "--check-config", CONF])
    eq(p.returncode, 0, f"tokenpolicyd --check-config on the installed config: {p.stdout}{p.stderr}")
    p = run(["/usr/bin/tokenpolicyctl", "--help"])
    eq(p.returncode, 0, "tokenpolicyctl --help")
    # The units are enabled (where they have an [Install] section) even
    # without systemd running, so that they start on the next boot.
    for unit in ("tokenpolicyd.service", "tokenpolicyd.socket"):
        with open(f"{unit_dir()}/{unit}") as f:
            wanted_by = [line.split("=", 1)[1].split() for line in f if line.startswith("WantedBy=")]
        for target in (t for group in wanted_by for t in group):
            link = f"/etc/systemd/system/{target}.wants/{unit}"
            check(os.path.islink(link), f"{unit} enabled: {link}")


def test_installed_daemon_and_module_work():
    """The installed daemon, CLI and module with their built-in defaults:
    /etc/tokenpolicy.conf, /run/tokenpolicy, /var/lib/tokenpolicy, and the
    module found by name in the system's PAM module directory."""
    require("deb", "pam_before")
    log = tempfile.TemporaryFile()
    confdir = tempfile.mkdtemp(prefix="tptest-pkg-pam-")
    os.chmod(confdir, 0o755)
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={confdir}/no-bus")  # no logind here
    env.pop("NOTIFY_SOCKET", None)
    env.pop("LISTEN_FDS", None)
    daemon = subprocess.Popen(["/usr/sbin/tokenpolicyd", "--foreground"], stdout=log, stderr=log, env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            check(daemon.poll() is None, f"tokenpolicyd exited with {daemon.returncode}")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(SOCKET)
                break
            except OSError:
                check(time.monotonic() < deadline, f"tokenpolicyd never listened on {SOCKET}")
                time.sleep(0.05)
        p = run(["/usr/bin/tokenpolicyctl", "status"])
        eq(p.returncode, 0, f"tokenpolicyctl status: {p.stdout}{p.stderr}")
        for service in ("sshd", "tptest-pkg-unmapped"):
            with open(os.path.join(confdir, service), "w") as f:
                f.write("account required pam_tokenpolicy.so even_deny_root\n")  # policy applies to root too
        for service, want in (("sshd", "PAM_SUCCESS"), ("tptest-pkg-unmapped", "PAM_PERM_DENIED")):
            p = run([TP_PAM, "--json", "--confdir", confdir, "--service", service, "--user", "root", "acct"])
            try:
                steps = json.loads(p.stdout.strip().splitlines()[-1])["steps"]
            except (ValueError, IndexError, KeyError):
                raise TestFailure(f"tp-pam printed no report: {p.stdout!r} {p.stderr!r}")
            # sshd is the shipped config's ssh client type; an unmapped
            # service falls to unknown_client = "deny".
            eq([s["result"] for s in steps], [want], f"account check through the installed module for {service}")
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        shutil.rmtree(confdir, ignore_errors=True)
        log.seek(0)
        text = log.read().decode(errors="replace")
        log.close()
    eq(daemon.returncode, 0, f"tokenpolicyd exit status; its output:\n{text[-2000:]}")
    check(os.path.isdir(STATE_DIR), f"{STATE_DIR} created by the daemon")


def in_private_pam_namespace(script):
    """Run script (sh) in a private mount namespace where /etc/pam.d,
    /var/lib/pam and /var/cache/debconf are copies; $T names the directory
    that holds those copies (pam.d, pam, debconf). Returns (process, T)."""
    t = tempfile.mkdtemp(prefix="tptest-pam-ns-")
    for name, src in (("pam.d", "/etc/pam.d"), ("pam", "/var/lib/pam"), ("debconf", "/var/cache/debconf")):
        shutil.copytree(src, os.path.join(t, name), symlinks=True)
    prologue = ('set -e\nmount --bind "$T/pam.d" /etc/pam.d\nmount --bind "$T/pam" /var/lib/pam\n'
                'mount --bind "$T/debconf" /var/cache/debconf\n')
    p = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", prologue + script], env={"T": t})
    return p, t


def stack(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip() and not line.lstrip().startswith("#")]


def index_of(lines, module):
    found = [i for i, words in enumerate(lines) if module in words]
    check(found, f"{module} in the stack: {lines}")
    return found[0]


def test_enabling_the_profile_orders_the_stack():
    """pam-auth-update --enable tokenpolicy, on copies: the account line
    after pam_unix's primary block, the session line before pam_systemd,
    nothing in the non-interactive session stack; then the package's prerm
    ("remove") takes the lines out again."""
    require("deb", "pam_before")
    p, t = in_private_pam_namespace(
        'pam-auth-update --enable tokenpolicy\n'
        'cp -a /etc/pam.d "$T/enabled"\n'
        f'/var/lib/dpkg/info/{PKG}.prerm remove\n')
    try:
        check("Local modifications" not in p.stdout + p.stderr,
              "this machine's /etc/pam.d/common-* are locally modified, so pam-auth-update manages nothing "
              f"and the profile cannot be checked here: {p.stderr}")
        eq(p.returncode, 0, f"pam-auth-update --enable, prerm remove: {p.stdout}{p.stderr}")
        enabled = os.path.join(t, "enabled")
        account = stack(os.path.join(enabled, "common-account"))
        mine = index_of(account, "pam_tokenpolicy.so")
        eq(account[mine], ["account", "required", "pam_tokenpolicy.so", "unmapped=ignore"], "account line")
        check(mine > index_of(account, "pam_unix.so") and mine > index_of(account, "pam_permit.so"),
              f"account line after pam_unix's primary block: {account}")
        session = stack(os.path.join(enabled, "common-session"))
        mine = index_of(session, "pam_tokenpolicy.so")
        eq(session[mine], ["session", "required", "pam_tokenpolicy.so", "unmapped=ignore"], "session line")
        if os.path.exists("/usr/share/pam-configs/systemd"):
            check(mine < index_of(session, "pam_systemd.so"), f"session line before pam_systemd: {session}")
        noninteractive = stack(os.path.join(enabled, "common-session-noninteractive"))
        check(not any("pam_tokenpolicy.so" in w for w in noninteractive),
              f"no tokenpolicy line in common-session-noninteractive: {noninteractive}")
        eq(changed(state["pam_before"], tree_digest(enabled)),
           ["common-account", "common-session"], "files changed by enabling the profile")
        eq(changed(state["pam_before"], tree_digest(os.path.join(t, "pam.d"))), [],
           "files still changed after prerm remove")
    finally:
        shutil.rmtree(t, ignore_errors=True)
    eq(changed(state["pam_before"], tree_digest("/etc/pam.d")), [], "the machine's /etc/pam.d untouched")


def test_remove_keeps_the_conffile():
    require("deb", "pam_before")
    dpkg("-r", PKG)
    eq(package_status(), "config-files", "package status after remove")
    eq(changed(state["pam_before"], tree_digest("/etc/pam.d")), [], "files changed in /etc/pam.d by remove")
    check(os.path.isfile(CONF), f"{CONF} kept")
    for path in expected_files() - {CONF}:
        check(not os.path.lexists(path), f"removed: {path}")


def systemd_leftovers():
    found = []
    for top in ("/etc/systemd/system", "/var/lib/systemd/deb-systemd-helper-enabled",
                "/var/lib/systemd/deb-systemd-helper-masked"):
        for d, dirs, files in os.walk(top):
            found += [os.path.join(d, n) for n in dirs + files if "tokenpolicy" in n]
    return found


def test_purge_leaves_nothing():
    require("deb", "pam_before")
    dpkg("-P", PKG)
    state["installed_by_us"] = False
    eq(package_status(), None, "package status after purge")
    p = run(["dpkg", "-L", PKG])
    check(p.returncode != 0 and not p.stdout.strip(), f"dpkg -L lists nothing: {p.stdout}")
    for path in expected_files() | {STATE_DIR, RUN_DIR, "/usr/share/doc/tokenpolicy"}:
        check(not os.path.lexists(path), f"left after purge: {path}")
    eq(systemd_leftovers(), [], "unit links or deb-systemd-helper state left after purge")
    eq(changed(state["pam_before"], tree_digest("/etc/pam.d")), [], "files changed in /etc/pam.d")
    eq(changed(state["pamlib_before"], tree_digest("/var/lib/pam")), [], "files changed in /var/lib/pam")


def cleanup():
    """After a failure part-way: purge what this test installed (it refused
    to run where anything was there before) and drop the build tree."""
    if state["installed_by_us"] and package_status():
        with PolicyRcD():
            run(["dpkg", "-P", PKG], timeout=180)
    if state["work"]:
        shutil.rmtree(state["work"], ignore_errors=True)


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root: installs, removes and purges the package with dpkg")
        sys.exit(0)
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    lock = open(LOCK, "w")
    deadline = time.monotonic() + 300
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                print("1..1\nnot ok 1 - another run of test_package.py held its lock for 300 s")
                sys.exit(1)
            time.sleep(1)
    # Where it must not run, report that once instead of every step failing.
    tests = TESTS[:1] if clobber_reason() else TESTS
    try:
        rc = run_tests(tests)
    finally:
        cleanup()
    sys.exit(rc)
