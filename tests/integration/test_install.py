#!/usr/bin/python3
"""make install / uninstall into a DESTDIR, and the man pages render.

Installs the real build output into a temporary root and checks the exact
file list, that an existing /etc/tokenpolicy.conf is never overwritten, and
that uninstall removes what install put there (except the config).
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import ROOT, check, eq, run_tests  # noqa: E402


def pam_dir():
    out = subprocess.run(["pkg-config", "--variable=libdir", "pam"], capture_output=True, text=True)
    return (out.stdout.strip() or "/lib/x86_64-linux-gnu") + "/security"


def unit_dir():
    out = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "/lib/systemd/system"


def make(*args, dest):
    b = os.environ.get("B", "build")
    extra = ["SANITIZE=1"] if b == "build-asan" else []
    return subprocess.run(["make", "-C", ROOT, "--no-print-directory", *extra, *args, f"DESTDIR={dest}"],
                          capture_output=True, text=True)


def files_under(root):
    found = set()
    for d, _, files in os.walk(root):
        for f in files:
            found.add(os.path.join(d, f)[len(root):])
    return found


def test_install_and_uninstall_with_destdir():
    dest = tempfile.mkdtemp(prefix="tptest-install-")
    try:
        p = make("install", dest=dest)
        eq(p.returncode, 0, f"make install: {p.stderr}")
        expected = {
            "/usr/sbin/tokenpolicyd", "/usr/bin/tokenpolicyctl", f"{pam_dir()}/pam_tokenpolicy.so",
            "/etc/tokenpolicy.conf", "/usr/share/man/man8/tokenpolicyd.8",
            "/usr/share/man/man8/pam_tokenpolicy.8", "/usr/share/man/man1/tokenpolicyctl.1",
            "/usr/share/man/man5/tokenpolicy.conf.5", f"{unit_dir()}/tokenpolicyd.service",
            f"{unit_dir()}/tokenpolicyd.socket",
            "/usr/share/doc/tokenpolicy/examples/pam.d/sshd.example",
            "/usr/share/doc/tokenpolicy/examples/pam.d/gdm-password.example",
            "/usr/share/pam-configs/tokenpolicy",
        }
        eq(files_under(dest), expected, "installed files")
        eq(os.stat(dest + "/usr/sbin/tokenpolicyd").st_mode & 0o777, 0o755, "daemon mode")
        with open(dest + "/etc/tokenpolicy.conf", "w") as f:
            f.write("# the administrator's own\n")
        eq(make("install", dest=dest).returncode, 0, "second install")
        with open(dest + "/etc/tokenpolicy.conf") as f:
            eq(f.read(), "# the administrator's own\n", "existing config kept")
        eq(make("uninstall", dest=dest).returncode, 0, "make uninstall")
        eq(files_under(dest), {"/etc/tokenpolicy.conf"}, "left after uninstall")
        check(not os.path.exists(dest + "/usr/share/doc/tokenpolicy"), "doc directory removed by uninstall")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_install_with_prefix():
    """PREFIX moves programs, man pages, docs and the pam-auth-update
    profile; the module, the units and the config stay where PAM, systemd
    and the daemon look for them."""
    dest = tempfile.mkdtemp(prefix="tptest-install-")
    try:
        p = make("install", "PREFIX=/usr/local", dest=dest)
        eq(p.returncode, 0, f"make install PREFIX=/usr/local: {p.stderr}")
        expected = {
            "/usr/local/sbin/tokenpolicyd", "/usr/local/bin/tokenpolicyctl",
            f"{pam_dir()}/pam_tokenpolicy.so", "/etc/tokenpolicy.conf",
            "/usr/local/share/man/man8/tokenpolicyd.8", "/usr/local/share/man/man8/pam_tokenpolicy.8",
            "/usr/local/share/man/man1/tokenpolicyctl.1", "/usr/local/share/man/man5/tokenpolicy.conf.5",
            f"{unit_dir()}/tokenpolicyd.service", f"{unit_dir()}/tokenpolicyd.socket",
            "/usr/local/share/doc/tokenpolicy/examples/pam.d/sshd.example",
            "/usr/local/share/doc/tokenpolicy/examples/pam.d/gdm-password.example",
            "/usr/local/share/pam-configs/tokenpolicy",
        }
        eq(files_under(dest), expected, "installed files")
        eq(make("uninstall", "PREFIX=/usr/local", dest=dest).returncode, 0, "make uninstall")
        eq(files_under(dest), {"/etc/tokenpolicy.conf"}, "left after uninstall")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def pam_lines(path):
    """The PAM lines of a file as (commented, words) pairs; a line
    commented out as "#auth ..." (no space after "#") counts, marked."""
    out = []
    with open(path) as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            if words[0].startswith("#"):
                if words[0][1:] in ("auth", "account", "session", "password"):
                    out.append((True, [words[0][1:]] + words[1:]))
                continue
            out.append((False, words))
    return out


def test_pam_examples_place_the_module_lines():
    """Account line after common-account; session line before
    common-session (pam_systemd runs there and reads the
    systemd.runtime_max_sec bound); auth line after common-auth."""
    for name, auth_commented in (("sshd.example", True), ("gdm-password.example", False)):
        path = os.path.join(ROOT, "etc", "pam.d", name)
        lines = pam_lines(path)

        def at(words, commented=False):
            found = [i for i, line in enumerate(lines) if line == (commented, words)]
            eq(len(found), 1, f"{name}: one {'commented ' if commented else ''}line {' '.join(words)}")
            return found[0]

        account = at(["account", "required", "pam_tokenpolicy.so"])
        session = at(["session", "required", "pam_tokenpolicy.so"])
        auth = at(["auth", "optional", "pam_tokenpolicy.so"], commented=auth_commented)
        eq(account, at(["@include", "common-account"]) + 1, f"{name}: account line right after common-account")
        check(session < at(["@include", "common-session"]), f"{name}: session line before common-session")
        check(all(w[0] != "session" for c, w in lines[session + 1:at(["@include", "common-session"])] if not c),
              f"{name}: no session line between the module and common-session")
        eq(auth, at(["@include", "common-auth"]) + 1, f"{name}: auth line right after common-auth")
        with open(path) as f:
            text = f.read()
        check("keep a root shell open" in text, f"{name}: tells to keep a root shell open")
        tp = [w for c, w in lines if "pam_tokenpolicy.so" in w]
        eq(len(tp), 3, f"{name}: three module lines")


def test_pam_auth_update_profile_fields():
    """The profile is in pam-auth-update(8)'s format: off by default, our
    lines as Additional blocks, no comments (the format has none)."""
    with open(os.path.join(ROOT, "etc", "pam-configs", "tokenpolicy")) as f:
        text = f.read()
    fields, name = {}, None
    for line in text.splitlines():
        check(not line.lstrip().startswith("#"), f"no comment lines in a profile: {line!r}")
        if line[:1].isspace():
            fields[name] = (fields.get(name, "") + " " + line.strip()).strip()
        else:
            name, sep, value = line.partition(":")
            check(sep and " " not in name, f"field line: {line!r}")
            fields[name] = value.strip()
    eq(sorted(fields), sorted(["Name", "Default", "Priority", "Account-Type", "Account", "Session-Type",
                               "Session-Interactive-Only", "Session"]), "fields")
    eq(fields["Default"], "no", "Default")
    eq((fields["Account-Type"], fields["Account"].split()), ("Additional", ["required", "pam_tokenpolicy.so", "unmapped=ignore"]),
       "account")
    eq((fields["Session-Type"], fields["Session"].split()), ("Additional", ["required", "pam_tokenpolicy.so", "unmapped=ignore"]),
       "session")
    check(0 < int(fields["Priority"]) < 256, "Priority between pam_systemd's 0 and pam_unix's 256")


def test_man_pages_render_without_warnings():
    pages = sorted(os.listdir(os.path.join(ROOT, "man")))
    eq(pages, ["pam_tokenpolicy.8", "tokenpolicy.conf.5", "tokenpolicyctl.1", "tokenpolicyd.8"], "pages")
    for page in pages:
        p = subprocess.run(["groff", "-man", "-ww", "-z", os.path.join(ROOT, "man", page)],
                           capture_output=True, text=True)
        eq((p.returncode, p.stdout + p.stderr), (0, ""), f"groff warnings in {page}")


def test_help_and_usage_errors():
    b = os.path.join(ROOT, os.environ.get("B", "build"))
    for prog in ("tokenpolicyd", "tokenpolicyctl"):
        p = subprocess.run([os.path.join(b, prog), "--help"], capture_output=True, text=True)
        eq(p.returncode, 0, f"{prog} --help")
        check("Usage" in p.stdout or "usage" in p.stdout, f"{prog} --help prints usage")
        p = subprocess.run([os.path.join(b, prog), "--no-such-option"], capture_output=True, text=True)
        eq(p.returncode, 2, f"{prog} bad option exits 2")
        check(p.stderr, f"{prog} explains a bad option")


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
