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
    finally:
        shutil.rmtree(dest, ignore_errors=True)


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
