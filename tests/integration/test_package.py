#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The Debian package: build, contents, install, remove, purge.

Builds tokenpolicy_*.deb with dpkg-buildpackage from a copy of the source
tree, checks its exact file list, its pam-auth-update profile and (where
lintian is installed) lintian's verdict, then installs, removes and purges
it on this machine with dpkg. No file in /etc/pam.d may change at any step,
the installed daemon and module must work with the shipped config, and a
purge must leave nothing behind. debian/copyright must be machine-readable
(DEP-5) and grant the licence of LICENSE, and the maintainer must be a real
address, the same in debian/control and debian/changelog. Enabling the profile ("pam-auth-update
--enable tokenpolicy") and the package's prerm are run in a private mount
namespace on copies of /etc/pam.d, /var/lib/pam and the debconf database,
so the machine's own PAM configuration is never touched.

This machine, like the project's others, has no systemd as PID 1: the
package starts the daemon through its init script (/etc/init.d/tokenpolicyd,
through update-rc.d and invoke-rc.d). Install starts it; the init script's
actions are exercised with their LSB exit codes; systemd's generator is
shown to ignore the script where the native unit exists; remove stops
every daemon of the package whatever started it (the init script, by hand
on the default socket or on another, one stopped with SIGSTOP, one hung
under ptrace that only SIGKILL ends) without failing; purge leaves no
process and no file. This machine has no runlevel, so invoke-rc.d would
refuse every start: the steps that must start a service give it a
policy-rc.d that allows every action (Debian's interface for local policy),
as a booted host's runlevel links would.

Root only. Refuses to run (fails) where tokenpolicy is already on the
machine, from the package or from "make install" (the test would clobber an
administrator's install), and where systemd is the service manager (the
init script is not what starts the daemon there).
"""
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import ROOT, TP_PAM, TestFailure, check, eq, run_tests, wait_for  # noqa: E402

PKG = "tokenpolicy"
CONF = "/etc/tokenpolicy.conf"
STATE_DIR = "/var/lib/tokenpolicy"
RUN_DIR = "/run/tokenpolicy"
SOCKET = RUN_DIR + "/tokenpolicyd.sock"
PID_FILE = RUN_DIR + "/tokenpolicyd.pid"
DAEMON = "/usr/sbin/tokenpolicyd"
INIT = "/etc/init.d/tokenpolicyd"
POLICY_RC = "/usr/sbin/policy-rc.d"
# A policy-rc.d the machine already has, put aside while the test's is used.
POLICY_RC_SAVED = POLICY_RC + ".tptest-saved"
PROFILE = "/usr/share/pam-configs/tokenpolicy"
# Two runs of this test on one machine (two make checks at once), or this
# test and test_installed_failsafe.py, would install and purge the same
# package under each other: the second waits.
LOCK = "/run/lock/tokenpolicy-test-package.lock"

# Left behind by a package build in a source tree; never copied.
BUILD_PRODUCTS = {"build", "build-asan", ".git", "debian/tokenpolicy", "debian/.debhelper", "debian/files",
                  "debian/debhelper-build-stamp", "debian/tmp"}

state = {"work": None, "deb": None, "refused": None, "installed_by_us": False, "pam_before": None,
         "pamlib_before": None, "conf_original": None, "children": [], "tracers": [], "dirs": []}


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
        INIT,
        "/usr/sbin/tokenpolicyd",
        "/usr/bin/tokenpolicyctl",
        f"{pam_dir()}/pam_tokenpolicy.so",
        f"{unit_dir()}/tokenpolicyd.service",
        f"{unit_dir()}/tokenpolicyd.socket",
        "/usr/share/man/man1/tokenpolicyctl.1.gz",
        "/usr/share/man/man5/tokenpolicy.conf.5.gz",
        "/usr/share/man/man7/tokenpolicy-fleet.7.gz",
        "/usr/share/man/man8/pam_tokenpolicy.8.gz",
        "/usr/share/man/man8/tokenpolicyd.8.gz",
        f"{doc}/changelog.gz",
        f"{doc}/copyright",
        f"{doc}/examples/pam.d/sshd.example",
        f"{doc}/examples/pam.d/gdm-password.example",
        PROFILE,
    } | {f"/usr/share/cockpit/tokenpolicy/{f}" for f in ("manifest.json", "index.html", "tokenpolicy.js",
                                                          "tokenpolicy.css")}


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


def restore_policy_rc():
    if os.path.lexists(POLICY_RC_SAVED):
        os.replace(POLICY_RC_SAVED, POLICY_RC)
    elif os.path.lexists(POLICY_RC):
        os.unlink(POLICY_RC)


class PolicyRcD:
    """Debian's policy-rc.d convention while dpkg runs: exit 101 (no service
    may start) or, with allow, exit 0 (every action allowed). One the
    machine already has is put aside and put back."""

    def __init__(self, allow=False):
        self.allow = allow

    def __enter__(self):
        if os.path.lexists(POLICY_RC):
            os.rename(POLICY_RC, POLICY_RC_SAVED)
        with open(POLICY_RC, "w") as f:
            f.write(f"#!/bin/sh\nexit {0 if self.allow else 101}\n")
        os.chmod(POLICY_RC, 0o755)
        return self

    def __exit__(self, *exc):
        restore_policy_rc()


def dpkg(*args, allow=False):
    with PolicyRcD(allow):
        p = run(["dpkg", *args], timeout=180)
    eq(p.returncode, 0, f"dpkg {' '.join(args)}: {p.stdout}{p.stderr}")
    return p


def systemd_booted():
    return os.path.isdir("/run/systemd/system/")


def installed_daemons():
    """PIDs of the processes that run the package's tokenpolicyd, also one
    whose binary was removed or replaced (zombies excluded: their exe is
    gone)."""
    pids = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            exe = os.readlink(d + "/exe")
        except OSError:
            continue
        if exe in (DAEMON, DAEMON + " (deleted)"):
            pids.append(int(os.path.basename(d)))
    return sorted(pids)


def alive(pid):
    """pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def reaped(pid):
    """Gone from /proc: its parent collected it (PID 1, for a detached one)."""
    return not os.path.exists(f"/proc/{pid}")


def initd(action):
    """The installed init script, as an administrator runs it."""
    return run([INIT, action], timeout=60)


def daemon_pid():
    """The PID that the init script's PID file names, checked to be the
    package's daemon and the only one running."""
    check(os.path.isfile(PID_FILE), f"{PID_FILE} exists")
    with open(PID_FILE) as f:
        text = f.read()
    check(text.endswith("\n") and text[:-1].isdigit(), f"PID file content: {text!r}")
    pid = int(text)
    eq(installed_daemons(), [pid], "one tokenpolicyd running, the one the PID file names")
    return pid


def rc_links():
    return sorted(glob.glob("/etc/rc?.d/[SK][0-9][0-9]tokenpolicyd"))


def wait_reaped(pid):
    # A bound on waiting for the reaper, not a timing assertion.
    check(wait_for(lambda: reaped(pid), timeout=30), f"process {pid} still there: {state_of(pid)}")


def state_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read()
    except OSError as e:
        return str(e)


def ctl(*args):
    return run(["/usr/bin/tokenpolicyctl", *args])


def web_services():
    p = ctl("policy", "--json")
    eq(p.returncode, 0, f"tokenpolicyctl policy: {p.stderr}")
    return [c for c in json.loads(p.stdout)["clients"] if c["name"] == "web"][0]["services"]


def write_conf(text):
    with open(CONF, "w") as f:
        f.write(text)


def start_by_hand(*args):
    """/usr/sbin/tokenpolicyd started as an administrator would, in the
    foreground; reaped by a thread as soon as it exits, so that no zombie
    of it is left for start-stop-daemon to wait on."""
    log = tempfile.TemporaryFile()
    env = dict(os.environ)
    for name in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID"):
        env.pop(name, None)
    proc = subprocess.Popen([DAEMON, "--foreground", *args], stdout=log, stderr=log, env=env,
                            stdin=subprocess.DEVNULL)
    proc.log = log
    reaper = threading.Thread(target=proc.wait, daemon=True)
    reaper.start()
    proc.reaper = reaper
    state["children"].append(proc)
    return proc


def output_of(proc):
    proc.log.seek(0)
    return proc.log.read().decode(errors="replace")


def wait_listening(path, proc=None):
    def up():
        check(proc is None or proc.poll() is None,
              f"tokenpolicyd exited with {proc and proc.returncode}: {proc and output_of(proc)}")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(path)
            return True
        except OSError:
            return False
    check(wait_for(up, timeout=20), f"no daemon answers on {path}")


TRACER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_SEIZE, PTRACE_INTERRUPT, WALL = 0x4206, 0x4207, 0x40000000
pid = int(sys.argv[1])
for request in (PTRACE_SEIZE, PTRACE_INTERRUPT):
    if libc.ptrace(request, pid, None, None) != 0:
        sys.exit("ptrace: " + os.strerror(ctypes.get_errno()))
os.waitpid(pid, WALL)
print("frozen", flush=True)
# Never resume it; collect its end (only SIGKILL comes through), so that
# its parent can reap it as it would an untraced one.
while True:
    _, status = os.waitpid(pid, WALL)
    if os.WIFEXITED(status) or os.WIFSIGNALED(status):
        break
"""


def freeze(pid):
    """Hang pid as a daemon stuck for good: held in a ptrace stop by a
    tracer that never resumes it, so SIGTERM and SIGCONT do nothing and only
    SIGKILL ends it. The tracer exits once pid has ended."""
    tracer = subprocess.Popen([sys.executable, "-c", TRACER, str(pid)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, text=True)
    state["tracers"].append(tracer)
    eq(tracer.stdout.readline().strip(), "frozen", f"tracer attached to {pid}")
    with open(f"/proc/{pid}/status") as f:
        check("\nTracerPid:\t0\n" not in f.read(), f"{pid} is traced")


# -- the steps, in order ---------------------------------------------------

def clobber_reason():
    """Why this test must not run here, or None."""
    present = []
    status = package_status()
    if status:
        present.append(f"package {PKG} ({status})")
    for path in (CONF, STATE_DIR, RUN_DIR, "/usr/sbin/tokenpolicyd", "/usr/bin/tokenpolicyctl", PROFILE,
                 f"{pam_dir()}/pam_tokenpolicy.so", INIT, POLICY_RC_SAVED, *rc_links()):
        if os.path.lexists(path):
            present.append(path)
    present += [f"tokenpolicyd running as PID {pid}" for pid in installed_daemons()]
    if systemd_booted():
        return ("systemd is the service manager here: this test exercises the package on a host without "
                "systemd, where its init script starts the daemon; run make check on such a machine")
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


def build_package(work):
    """Build the .deb from a copy of this source tree in work; its path.
    Also used by test_installed_failsafe.py."""
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
    return os.path.join(work, debs[0])


def test_package_builds():
    require()
    work = tempfile.mkdtemp(prefix="tptest-package-")
    state["work"] = work
    state["deb"] = build_package(work)


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
        want = "-rwxr-xr-x" if path.startswith(("/usr/sbin/", "/usr/bin/", "/etc/init.d/")) else "-rw-r--r--"
        eq(mode, want, f"mode of {path}")
    p = run(["dpkg-deb", "-I", state["deb"], "conffiles"])
    eq((p.returncode, sorted(p.stdout.split())), (0, [INIT, CONF]), "conffiles")
    p = run(["dpkg-deb", "-f", state["deb"], "Package", "Depends", "Pre-Depends"])
    eq(p.returncode, 0, f"dpkg-deb -f: {p.stderr}")
    for lib in ("libpam0g", "libpam-runtime", "libconfig", "libssl", "libsqlite3", "libsystemd0",
                "init-system-helpers"):  # invoke-rc.d --skip-systemd-native
        check(lib in p.stdout, f"Depends or Pre-Depends names {lib}: {p.stdout}")


def maintainer_script(name):
    out = tempfile.mkdtemp(prefix="tptest-deb-e-")
    try:
        p = run(["dpkg-deb", "-e", state["deb"], out])
        eq(p.returncode, 0, f"dpkg-deb -e: {p.stderr}")
        with open(os.path.join(out, name)) as f:
            return f.read()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_maintainer_scripts_leave_systemd_hosts_to_the_units():
    """Every invoke-rc.d call in the maintainer scripts skips a service
    that systemd runs from its native unit: there the units alone start
    and stop the daemon, through its socket."""
    require("deb")
    calls = []
    for name in ("preinst", "postinst", "prerm", "postrm"):
        try:
            text = maintainer_script(name)
        except FileNotFoundError:
            continue
        calls += [(name, line.strip()) for line in text.splitlines()
                  if "invoke-rc.d" in line and not line.lstrip().startswith("#")]
    check(any(n == "postinst" for n, _ in calls) and any(n == "prerm" for n, _ in calls),
          f"the init script is started in postinst and stopped in prerm: {calls}")
    for name, line in calls:
        check("invoke-rc.d --skip-systemd-native tokenpolicyd " in line, f"{name}: {line}")


def test_lintian():
    """lintian, where it is installed: no error and no warning (pedantic
    and informational tags are shown, not fatal)."""
    require("deb")
    if not shutil.which("lintian"):
        print("# lintian is not installed: not checked")
        return
    p = run(["lintian", "--pedantic", "--display-info", state["deb"]], timeout=300)
    tags = [line for line in p.stdout.splitlines() if line[:3] in ("E: ", "W: ", "I: ", "P: ", "X: ")]
    for line in tags:
        print(f"# lintian: {line}")
    eq([line for line in tags if line[:3] in ("E: ", "W: ")], [], "lintian errors and warnings")
    # 1: tags at its --fail-on level (errors, counted above); 2 and up: lintian failed.
    check(p.returncode in (0, 1), f"lintian ran: {p.returncode} {p.stderr}")


def dep5_paragraphs(text):
    """The paragraphs of a machine-readable debian/copyright, each a dict
    of field -> value (continuation lines joined with newlines, " ."
    lines as empty ones)."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        fields, name = {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t"):
                check(name is not None, f"continuation line before any field: {line!r}")
                fields[name] += "\n" + ("" if line.strip() == "." else line[1:])
            else:
                name, sep, value = line.partition(":")
                check(sep and name and " " not in name, f"not a field: {line!r}")
                check(name not in fields, f"field {name} twice in one paragraph")
                fields[name] = value.strip()
        paragraphs.append(fields)
    return paragraphs


def test_copyright_is_the_licence():
    """debian/copyright is DEP-5, covers every file with BSD-3-Clause,
    whose text is LICENSE's word for word, by the holder LICENSE names;
    the package ships that file; the maintainer is a real address."""
    def read(*parts):
        with open(os.path.join(ROOT, *parts)) as f:
            return f.read()
    paragraphs = dep5_paragraphs(read("debian", "copyright"))
    header, rest = paragraphs[0], paragraphs[1:]
    eq(header.get("Format"), "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/", "Format")
    eq(header.get("Upstream-Name"), PKG, "Upstream-Name")
    files = [p for p in rest if "Files" in p]
    eq([(p["Files"], p.get("License")) for p in files], [("*", "BSD-3-Clause")], "Files paragraphs")
    licence = read("LICENSE")
    holder = re.search(r"^Copyright \(c\) (\d{4}), (.+)$", licence, re.M)
    check(holder, "LICENSE names its copyright holder")
    eq(files[0].get("Copyright"), f"{holder.group(1)} {holder.group(2)}", "Copyright of the files")
    texts = [p["License"] for p in rest if "Files" not in p and p.get("License", "").startswith("BSD-3-Clause\n")]
    eq(len(texts), 1, "one stand-alone License: BSD-3-Clause paragraph")
    body = licence[holder.end():].strip("\n")
    eq(texts[0].split("\n", 1)[1].strip("\n"), body, "the licence text in debian/copyright is LICENSE's")

    maintainer = re.search(r"^Maintainer: (.+)$", read("debian", "control"), re.M).group(1)
    signer = re.search(r"^ -- (.+?)  ", read("debian", "changelog"), re.M).group(1)
    eq(signer, maintainer, "the changelog is signed by the maintainer")
    check(re.fullmatch(r"[^<>]+ <[^@<>\s]+@[^@<>\s]+\.[a-z]+>", maintainer), f"maintainer address: {maintainer}")
    check(not maintainer.endswith(".invalid>"), f"a real maintainer address, not a placeholder: {maintainer}")
    eq(header.get("Upstream-Contact"), maintainer, "Upstream-Contact")

    if state["deb"]:
        out = tempfile.mkdtemp(prefix="tptest-deb-x-")
        try:
            p = run(["dpkg-deb", "-x", state["deb"], out])
            eq(p.returncode, 0, f"dpkg-deb -x: {p.stderr}")
            with open(os.path.join(out, "usr/share/doc", PKG, "copyright")) as f:
                eq(f.read(), read("debian", "copyright"), "the package's copyright file")
        finally:
            shutil.rmtree(out, ignore_errors=True)


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


def test_install_starts_the_daemon_and_changes_no_pam_file():
    require("deb")
    state["pam_before"] = tree_digest("/etc/pam.d")
    state["pamlib_before"] = tree_digest("/var/lib/pam")
    state["installed_by_us"] = True
    p = dpkg("-i", state["deb"], allow=True)
    eq(package_status(), "installed", "package status")
    # Started by the init script (invoke-rc.d in postinst): detached, with
    # the default PID file, answering on the default socket; enabled in the
    # runlevel links for the next boot.
    check("Starting tokenpolicy sign-in policy daemon: tokenpolicyd" in p.stdout + p.stderr,
          f"postinst ran the init script: {p.stdout}{p.stderr}")
    pid = daemon_pid()
    check(alive(pid), f"the daemon runs: {state_of(pid)}")
    p = ctl("status")
    eq(p.returncode, 0, f"tokenpolicyctl status: {p.stdout}{p.stderr}")
    check(f"pid:" in p.stdout and str(pid) in p.stdout, f"the daemon that answers is the init script's: {p.stdout}")
    eq(initd("status").returncode, 0, "init script status: running")
    links = [os.path.basename(os.path.dirname(link)) + "/" + os.path.basename(link)[0] for link in rc_links()]
    eq(sorted(links), ["rc0.d/K", "rc1.d/K", "rc2.d/S", "rc3.d/S", "rc4.d/S", "rc5.d/S", "rc6.d/K"],
       f"runlevel links: {rc_links()}")
    # Installed again, as an upgrade: the daemon, whose binary was just
    # replaced, is restarted on the new one.
    check(os.readlink(f"/proc/{pid}/exe") == DAEMON, "the daemon runs the installed binary")
    p = dpkg("-i", state["deb"], allow=True)
    check("Restarting tokenpolicy sign-in policy daemon: tokenpolicyd" in p.stdout + p.stderr,
          f"postinst restarted the daemon: {p.stdout}{p.stderr}")
    wait_reaped(pid)
    check(daemon_pid() != pid, "a new daemon after the upgrade")
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


def test_systemd_ignores_the_init_script():
    """Where systemd runs, its sysv generator makes no unit of the
    installed init script: the native tokenpolicyd.service (socket
    activated) wins. Without the native unit it would make one: the check
    can tell."""
    require("deb", "pam_before")
    generator = "/lib/systemd/system-generators/systemd-sysv-generator"
    check(os.access(generator, os.X_OK), f"{generator} (package systemd) is needed for this check")
    t = tempfile.mkdtemp(prefix="tptest-sysv-gen-")
    try:
        os.makedirs(os.path.join(t, "init.d"))
        shutil.copy2(INIT, os.path.join(t, "init.d"))
        os.makedirs(os.path.join(t, "no-units"))
        results = {}
        for units in (unit_dir(), os.path.join(t, "no-units")):
            out = tempfile.mkdtemp(dir=t)
            p = run([generator, out, out, out], env={"SYSTEMD_SYSVINIT_PATH": os.path.join(t, "init.d"),
                                                     "SYSTEMD_SYSVRCND_PATH": "/etc",
                                                     "SYSTEMD_UNIT_PATH": units, "SYSTEMD_LOG_LEVEL": "debug"})
            eq(p.returncode, 0, f"generator: {p.stderr}")
            results[units] = (os.path.exists(os.path.join(out, "tokenpolicyd.service")), p.stderr)
        generated, log = results[unit_dir()]
        check(not generated, f"a unit was generated from the init script despite the native one: {log}")
        generated, log = results[os.path.join(t, "no-units")]
        check(generated, f"without the native unit the generator makes one (so the check can fail): {log}")
    finally:
        shutil.rmtree(t, ignore_errors=True)


def test_init_script_actions():
    """start, stop, restart, try-restart, reload, force-reload and status,
    with the LSB exit codes, on the daemon the package started."""
    require("deb", "pam_before")
    first = daemon_pid()
    eq(initd("status").returncode, 0, "status of a running daemon")
    p = initd("start")
    eq(p.returncode, 0, f"start while running: {p.stdout}{p.stderr}")
    eq(daemon_pid(), first, "start while running keeps the daemon")

    # reload and force-reload: SIGHUP, after the file is checked.
    with open(CONF) as f:
        original = f.read()
    state["conf_original"] = original
    changed_conf = original.replace('services = ["cockpit"];', 'services = ["cockpit", "tptest-pkg-reload"];')
    check(changed_conf != original, "the shipped config maps cockpit to web")
    write_conf(changed_conf)
    for action in ("reload", "force-reload"):
        p = initd(action)
        eq(p.returncode, 0, f"{action}: {p.stdout}{p.stderr}")
        # SIGHUP is acted on asynchronously: wait for it, bounded.
        check(wait_for(lambda: "tptest-pkg-reload" in web_services(), timeout=20), f"{action} applied")
        eq(daemon_pid(), first, f"{action} keeps the daemon")
        write_conf(original)
        p = initd(action)
        eq(p.returncode, 0, f"{action} back: {p.stdout}{p.stderr}")
        check(wait_for(lambda: "tptest-pkg-reload" not in web_services(), timeout=20), f"{action} applied again")
        write_conf(changed_conf)
    write_conf(original + "\nclients = 7;\n")
    for action in ("reload", "force-reload", "restart", "try-restart"):
        p = initd(action)
        eq(p.returncode, 6, f"{action} with errors in the file: {p.stdout}{p.stderr}")
        check(f"{CONF}:" in p.stderr, f"{action} shows the file's errors: {p.stderr}")
        eq(daemon_pid(), first, f"{action} with errors keeps the daemon")
        check("tptest-pkg-reload" not in web_services(), f"{action} with errors keeps the running policy")
    write_conf(original)
    state["conf_original"] = None

    p = initd("restart")
    eq(p.returncode, 0, f"restart: {p.stdout}{p.stderr}")
    second = daemon_pid()
    check(second != first, "restart starts a new daemon")
    wait_reaped(first)
    p = initd("try-restart")
    eq(p.returncode, 0, f"try-restart while running: {p.stdout}{p.stderr}")
    third = daemon_pid()
    check(third != second, "try-restart restarts a running daemon")
    wait_reaped(second)

    p = initd("stop")
    eq(p.returncode, 0, f"stop: {p.stdout}{p.stderr}")
    wait_reaped(third)
    eq(installed_daemons(), [], "no daemon after stop")
    check(not os.path.exists(PID_FILE) and not os.path.exists(SOCKET), "PID file and socket removed")
    eq(initd("status").returncode, 3, "status of a stopped daemon")
    eq(initd("stop").returncode, 0, "stop when stopped")
    eq(initd("try-restart").returncode, 0, "try-restart when stopped")
    eq(installed_daemons(), [], "try-restart starts nothing")
    eq(initd("reload").returncode, 7, "reload when stopped: not running")

    # A daemon that was killed leaves its PID file: status 1; start
    # replaces the file.
    eq(initd("start").returncode, 0, "start")
    killed = daemon_pid()
    os.kill(killed, signal.SIGKILL)
    wait_reaped(killed)
    check(os.path.exists(PID_FILE), "the killed daemon's PID file is left")
    eq(initd("status").returncode, 1, "status: not running, PID file left")
    p = initd("start")
    eq(p.returncode, 0, f"start over a stale PID file: {p.stdout}{p.stderr}")
    check(daemon_pid() != killed, "a new daemon")
    eq(initd("stop").returncode, 0, "stop")
    eq(installed_daemons(), [], "stopped")
    eq(initd("bogus").returncode, 3, "an unknown action")


def test_installed_daemon_and_module_work():
    """The installed daemon, CLI and module with their built-in defaults:
    /etc/tokenpolicy.conf, /run/tokenpolicy, /var/lib/tokenpolicy, and the
    module found by name in the system's PAM module directory. Started by
    hand in the foreground on the default socket, it writes the default PID
    file, so the init script sees it."""
    require("deb", "pam_before")
    eq(installed_daemons(), [], "the init script's daemon was stopped")
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
        eq(daemon_pid(), daemon.pid, "the default PID file names the daemon started by hand")
        eq(initd("status").returncode, 0, "the init script sees it running")
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
    check(not os.path.exists(PID_FILE), "its PID file removed at its clean exit")


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


def test_remove_stops_every_daemon_and_keeps_the_conffiles():
    """dpkg -r stops the init script's daemon though it hangs (only SIGKILL
    ends it) and one started by hand on another socket though it is stopped
    (SIGSTOP), and succeeds; the conffiles stay."""
    require("deb", "pam_before")
    eq(initd("start").returncode, 0, "start")
    hung = daemon_pid()
    freeze(hung)
    d = tempfile.mkdtemp(prefix="tptest-pkg-hand-")
    state["dirs"].append(d)
    sock = os.path.join(d, "run", "tokenpolicyd.sock")
    by_hand = start_by_hand("--socket", sock, "--state-dir", os.path.join(d, "state"))
    wait_listening(sock, by_hand)
    os.kill(by_hand.pid, signal.SIGSTOP)
    eq(installed_daemons(), sorted([hung, by_hand.pid]), "two daemons of the package")

    p = dpkg("-r", PKG, allow=True)
    eq(package_status(), "config-files", "package status after remove")
    eq(installed_daemons(), [], f"a daemon outlived the removal: {p.stdout}{p.stderr}")
    wait_reaped(hung)
    by_hand.reaper.join(timeout=30)
    # SIGCONT let the stopped one act on SIGTERM: a clean exit.
    eq(by_hand.returncode, 0, f"the daemon stopped with SIGSTOP exits cleanly: {output_of(by_hand)}")
    check(not os.path.exists(sock), "and removed its socket")
    check(not os.path.exists(PID_FILE), "the killed daemon's PID file removed by the init script")
    for tracer in state["tracers"]:
        eq(tracer.wait(timeout=30), 0, "the tracer saw its tracee end")

    eq(changed(state["pam_before"], tree_digest("/etc/pam.d")), [], "files changed in /etc/pam.d by remove")
    check(os.path.isfile(CONF), f"{CONF} kept")
    check(os.path.isfile(INIT) and not os.access(INIT, os.X_OK), f"{INIT} kept, not executable")
    for path in expected_files() - {CONF, INIT}:
        check(not os.path.lexists(path), f"removed: {path}")


def systemd_leftovers():
    found = []
    for top in ("/etc/systemd/system", "/var/lib/systemd/deb-systemd-helper-enabled",
                "/var/lib/systemd/deb-systemd-helper-masked"):
        for d, dirs, files in os.walk(top):
            found += [os.path.join(d, n) for n in dirs + files if "tokenpolicy" in n]
    return found


def test_purge_stops_a_daemon_started_by_hand_and_leaves_nothing():
    """Installed again with services forbidden to start (policy-rc.d 101),
    a daemon started by hand on the default socket, then dpkg -P: nothing
    of the package is left, running or on disk."""
    require("deb", "pam_before")
    dpkg("-i", state["deb"])
    eq(installed_daemons(), [], "a policy that forbids starting services starts nothing")
    by_hand = start_by_hand()
    wait_listening(SOCKET, by_hand)
    eq(daemon_pid(), by_hand.pid, "the daemon started by hand")
    dpkg("-P", PKG)
    state["installed_by_us"] = False
    eq(installed_daemons(), [], "no daemon outlives the purge")
    by_hand.reaper.join(timeout=30)
    eq(by_hand.returncode, 0, f"it was stopped cleanly: {output_of(by_hand)}")
    eq(rc_links(), [], "runlevel links left after purge")
    eq(package_status(), None, "package status after purge")
    p = run(["dpkg", "-L", PKG])
    check(p.returncode != 0 and not p.stdout.strip(), f"dpkg -L lists nothing: {p.stdout}")
    for path in expected_files() | {STATE_DIR, RUN_DIR, "/usr/share/doc/tokenpolicy"}:
        check(not os.path.lexists(path), f"left after purge: {path}")
    eq(systemd_leftovers(), [], "unit links or deb-systemd-helper state left after purge")
    eq(changed(state["pam_before"], tree_digest("/etc/pam.d")), [], "files changed in /etc/pam.d")
    eq(changed(state["pamlib_before"], tree_digest("/var/lib/pam")), [], "files changed in /var/lib/pam")


def cleanup():
    """After a failure part-way: end the daemons and tracers it started,
    put the config back, purge what this test installed (it refused to run
    where anything was there before) and drop its directories."""
    for tracer in state["tracers"]:
        if tracer.poll() is None:
            tracer.kill()
        tracer.wait()
        tracer.stdout.close()
    # Any daemon of the package is this test's: it refused to run where one
    # was running before.
    for pid in installed_daemons() if state["installed_by_us"] else []:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for proc in state["children"]:
        if proc.poll() is None:
            proc.kill()
        proc.reaper.join(timeout=30)
        proc.log.close()
    if state["conf_original"] is not None and os.path.exists(CONF):
        write_conf(state["conf_original"])
    if state["installed_by_us"] and package_status():
        with PolicyRcD():
            run(["dpkg", "-P", PKG], timeout=180)
    if os.path.lexists(POLICY_RC_SAVED):
        restore_policy_rc()
    for d in state["dirs"] + ([state["work"]] if state["work"] else []):
        shutil.rmtree(d, ignore_errors=True)


def package_lock():
    """Wait (300 s at most) for LOCK and hold it; exits the test program
    with a TAP failure when another run holds it for longer. Also used by
    test_installed_failsafe.py, which installs and purges the package too."""
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    lock = open(LOCK, "w")
    deadline = time.monotonic() + 300
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() > deadline:
                print(f"1..1\nnot ok 1 - another test held {LOCK} for 300 s")
                sys.exit(1)
            time.sleep(1)


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root: installs, removes and purges the package with dpkg")
        sys.exit(0)
    lock = package_lock()  # noqa: F841 - held until the process exits
    # Where it must not run, report that once instead of every step failing.
    tests = TESTS[:1] if clobber_reason() else TESTS
    try:
        rc = run_tests(tests)
    finally:
        cleanup()
    sys.exit(rc)
