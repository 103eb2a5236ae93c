#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""make install / uninstall into a DESTDIR, and the man pages render.

Installs the real build output into a temporary root and checks the exact
file list, that an existing /etc/tokenpolicy.conf is never overwritten, and
that uninstall removes what install put there (except the config). Also
what the build promises about its parts: the PAM module is compiled with
common/ as its only include directory and compiles with nothing else, and
the default paths and session environment names are written once, in
common/paths.h, and agree with the units, the init script and the man
pages that install beside the programs. And every source file names its
licence (scripts/spdx-headers, which adds the line, is tested on a
scratch tree of its own).
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import ROOT, check, eq, run_tests  # noqa: E402

COCKPIT_FILES = sorted(os.listdir(os.path.join(ROOT, "cockpit", "tokenpolicy")))


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
            "/usr/share/man/man5/tokenpolicy.conf.5", "/usr/share/man/man7/tokenpolicy-fleet.7",
            f"{unit_dir()}/tokenpolicyd.service",
            f"{unit_dir()}/tokenpolicyd.socket",
            "/usr/share/doc/tokenpolicy/examples/pam.d/sshd.example",
            "/usr/share/doc/tokenpolicy/examples/pam.d/gdm-password.example",
            "/usr/share/pam-configs/tokenpolicy",
        } | {f"/usr/share/cockpit/tokenpolicy/{f}" for f in COCKPIT_FILES}
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
            "/usr/local/share/man/man7/tokenpolicy-fleet.7",
            f"{unit_dir()}/tokenpolicyd.service", f"{unit_dir()}/tokenpolicyd.socket",
            "/usr/local/share/doc/tokenpolicy/examples/pam.d/sshd.example",
            "/usr/local/share/doc/tokenpolicy/examples/pam.d/gdm-password.example",
            "/usr/local/share/pam-configs/tokenpolicy",
        } | {f"/usr/local/share/cockpit/tokenpolicy/{f}" for f in COCKPIT_FILES}
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
    common-session (pam_systemd runs there: the session is recorded before
    logind creates its own); auth line after common-auth."""
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
    eq(pages, ["pam_tokenpolicy.8", "tokenpolicy-fleet.7", "tokenpolicy.conf.5", "tokenpolicyctl.1",
               "tokenpolicyd.8"], "pages")
    for page in pages:
        p = subprocess.run(["groff", "-man", "-ww", "-z", os.path.join(ROOT, "man", page)],
                           capture_output=True, text=True)
        eq((p.returncode, p.stdout + p.stderr), (0, ""), f"groff warnings in {page}")
        # As man(1) renders for a terminal (tbl and all), at the widths of a
        # console and of lintian's check, which differ in where lines break.
        for width in ("80", "120"):
            env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", "MANROFFSEQ": "", "MANWIDTH": width}
            p = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z",
                                os.path.join(ROOT, "man", page)], capture_output=True, text=True, env=env)
            eq((p.returncode, p.stderr), (0, ""), f"man warnings in {page} at width {width}")


def test_help_and_usage_errors():
    b = os.path.join(ROOT, os.environ.get("B", "build"))
    for prog in ("tokenpolicyd", "tokenpolicyctl"):
        p = subprocess.run([os.path.join(b, prog), "--help"], capture_output=True, text=True)
        eq(p.returncode, 0, f"{prog} --help")
        check("Usage" in p.stdout or "usage" in p.stdout, f"{prog} --help prints usage")
        p = subprocess.run([os.path.join(b, prog), "--no-such-option"], capture_output=True, text=True)
        eq(p.returncode, 2, f"{prog} bad option exits 2")
        check(p.stderr, f"{prog} explains a bad option")


# ---- the parts of the build ---------------------------------------------

def dry_run(target):
    """The commands make would run to build target from nothing, into a
    throw-away object tree: printed, not run."""
    tmp = tempfile.mkdtemp(prefix="tptest-dryrun-")
    try:
        p = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "-n", "-B", f"B={tmp}",
                            f"{tmp}/{target}"], capture_output=True, text=True)
        eq(p.returncode, 0, f"make -n {target}: {p.stderr}")
        return [shlex.split(line) for line in p.stdout.splitlines() if " -c " in line]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def include_dirs(argv):
    """Every directory a compiler command line adds to the include path."""
    dirs, it = [], iter(argv)
    for a in it:
        for opt in ("-I", "-iquote", "-isystem", "-idirafter", "--include-directory="):
            if a == opt:
                dirs.append(next(it))
                break
            if a.startswith(opt) and len(a) > len(opt):
                dirs.append(a[len(opt):])
                break
    return dirs


def test_module_compiles_with_common_only():
    """Each object of pam_tokenpolicy.so is compiled with -Icommon and no
    other include directory, and each of its sources compiles, on its own,
    with nothing but common/ on the include path and includes no header of
    the project from anywhere else: the module cannot come to depend on a
    daemon header."""
    cc = os.environ.get("CC", "cc")
    compiles = dry_run("pam_tokenpolicy.so")
    sources = sorted(argv[-1] for argv in compiles)
    check("pam_tokenpolicy/pam_tokenpolicy.c" in sources, f"the module's sources: {sources}")
    for argv in compiles:
        eq(include_dirs(argv), ["common"], f"include directories of {argv[-1]}")
    for src in sources:
        base = [cc, "-std=gnu11", "-D_GNU_SOURCE", '-DTP_VERSION="test"', "-Icommon"]
        p = subprocess.run(base + ["-fsyntax-only", "-Wall", "-Werror", src], cwd=ROOT, capture_output=True,
                           text=True)
        eq((p.returncode, p.stderr), (0, ""), f"{src} compiles with -Icommon alone")
        p = subprocess.run(base + ["-MM", src], cwd=ROOT, capture_output=True, text=True)
        eq(p.returncode, 0, f"{cc} -MM {src}: {p.stderr}")
        deps = p.stdout.replace("\\\n", " ").split(":", 1)[1].split()
        own = os.path.dirname(src) + "/"
        for dep in deps:
            dep = os.path.normpath(dep)
            check(dep.startswith(("common/", own)), f"{src} includes {dep}, outside common/ and {own}")


def c_string_literals(text):
    """The string literals of C source text, comments skipped."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text[i] in "\"'":
            q, j, lit = text[i], i + 1, []
            while j < n and text[j] != q:
                if text[j] == "\\":
                    lit.append(text[j:j + 2])
                    j += 2
                else:
                    lit.append(text[j])
                    j += 1
            if q == '"':
                out.append("".join(lit))
            i = j + 1
        else:
            i += 1
    return out


def paths_h():
    """common/paths.h's macros, with their string values."""
    values = {}
    with open(os.path.join(ROOT, "common", "paths.h")) as f:
        for line in f:
            m = re.match(r"#define (TP_\w+) (.*)$", line.strip())
            if not m:
                continue
            value = ""
            for tok in re.findall(r'"[^"]*"|\w+', m.group(2)):
                value += tok[1:-1] if tok.startswith('"') else values[tok]
            values[m.group(1)] = value
    return values


def test_shared_paths_are_defined_once():
    """The default places and the session environment names are spelled
    in common/paths.h and nowhere else in the programs' sources, and the
    files installed beside them spell the same."""
    v = paths_h()
    eq(v["TP_DEFAULT_SOCKET"], "/run/tokenpolicy/tokenpolicyd.sock", "the socket")
    eq(v["TP_DEFAULT_PID_FILE"], "/run/tokenpolicy/tokenpolicyd.pid", "the PID file")
    eq(v["TP_SVCMAP_FILE"], "services.map", "the service map")
    eq((v["TP_DEFAULT_CONFIG"], v["TP_DEFAULT_STATE_DIR"]), ("/etc/tokenpolicy.conf", "/var/lib/tokenpolicy"),
       "the configuration and the state directory")
    env = {v[k] for k in ("TP_ENV_SESSION_ID", "TP_ENV_ACCESS_TOKEN", "TP_ENV_CLIENT")}
    eq(env, {"TOKENPOLICY_SESSION_ID", "TOKENPOLICY_ACCESS_TOKEN", "TOKENPOLICY_CLIENT"}, "environment names")

    places = (v["TP_RUNTIME_DIR"], v["TP_DEFAULT_CONFIG"], v["TP_DEFAULT_STATE_DIR"], v["TP_SVCMAP_FILE"])
    for part in ("common", "pam_tokenpolicy", "tokenpolicyctl", "tokenpolicyd", "lib"):
        top = os.path.join(ROOT, part)
        for d, _, files in os.walk(top):
            for name in files:
                path = os.path.join(d, name)
                rel = os.path.relpath(path, ROOT)
                if not name.endswith((".c", ".h")) or rel == "common/paths.h":
                    continue
                with open(path, encoding="utf-8") as f:
                    literals = c_string_literals(f.read())
                for lit in literals:
                    for place in places:
                        check(place not in lit, f"{rel} spells {place!r} itself: \"{lit}\"")
                    # The journal's TOKENPOLICY_CLIENT field (log.c) is
                    # another name space that happens to share a spelling.
                    if rel != "tokenpolicyd/log.c":
                        check(lit not in env, f"{rel} spells the environment name {lit!r} itself")

    def read(*parts):
        with open(os.path.join(ROOT, *parts)) as f:
            return f.read()
    socket_unit, service_unit = read("systemd", "tokenpolicyd.socket"), read("systemd", "tokenpolicyd.service")
    check(f"\nListenStream={v['TP_DEFAULT_SOCKET']}\n" in socket_unit, "tokenpolicyd.socket listens on the default")
    check(f"--check-config {v['TP_DEFAULT_CONFIG']}\n" in service_unit, "tokenpolicyd.service checks the default")
    check("\nStateDirectory=" + v["TP_DEFAULT_STATE_DIR"].removeprefix("/var/lib/") + "\n" in service_unit,
          "StateDirectory= is the default state directory")
    check("\nRuntimeDirectory=" + v["TP_RUNTIME_DIR"].removeprefix("/run/") + "\n" in service_unit,
          "RuntimeDirectory= is the runtime directory")
    init = read("debian", "tokenpolicy.tokenpolicyd.init")
    check(f"\nCONFIG={v['TP_DEFAULT_CONFIG']}\n" in init and f"\nPIDFILE={v['TP_DEFAULT_PID_FILE']}\n" in init,
          "the init script's CONFIG and PIDFILE")
    pages = {p: read("man", p) for p in os.listdir(os.path.join(ROOT, "man"))}
    for page, want in (("tokenpolicyd.8", ("TP_DEFAULT_SOCKET", "TP_DEFAULT_CONFIG", "TP_DEFAULT_STATE_DIR",
                                           "TP_DEFAULT_PID_FILE", "TP_SVCMAP_FILE", "TP_DEFAULT_STATE_SVCMAP")),
                       ("pam_tokenpolicy.8", ("TP_DEFAULT_SOCKET", "TP_SVCMAP_FILE", "TP_DEFAULT_STATE_SVCMAP",
                                              "TP_ENV_SESSION_ID", "TP_ENV_ACCESS_TOKEN", "TP_ENV_CLIENT")),
                       ("tokenpolicyctl.1", ("TP_DEFAULT_SOCKET", "TP_DEFAULT_STATE_DIR", "TP_ENV_SESSION_ID")),
                       ("tokenpolicy.conf.5", ("TP_DEFAULT_CONFIG",))):
        for name in want:
            check(v[name] in pages[page].replace("\\-", "-"), f"{page} names {name} ({v[name]})")


# ---- licence lines ------------------------------------------------------

SPDX = "SPDX-License-Identifier: BSD-3-Clause"


def test_every_source_file_names_its_licence():
    with open(os.path.join(ROOT, "LICENSE")) as f:
        check(f.readline().strip() == "BSD 3-Clause License", "LICENSE is the BSD 3-Clause licence")
    p = subprocess.run([os.path.join(ROOT, "scripts", "spdx-headers"), "--check"], capture_output=True,
                       text=True)
    eq((p.returncode, p.stdout, p.stderr), (0, "", ""), "source files without an SPDX line")


def test_spdx_script_adds_one_first_line():
    """On a scratch tree: the line goes first, or after a "#!" line or a
    man page's preprocessor line; nothing else changes; modes stay; files
    that are not source, or are corpus, are not touched; a second run
    changes nothing."""
    tmp = tempfile.mkdtemp(prefix="tptest-spdx-")
    try:
        files = {
            "scripts/spdx-headers": None,
            "a/x.c": "/* x.c: what it does. */\nint x;\n",
            "a/x.h": "#pragma once\n",
            "a/run": "#!/bin/sh\n# run: what it does\nexit 0\n",
            "a/t.py": '"""t: what it does."""\n',
            "Makefile": "# the build\nall:\n",
            "man/p.8": "'\\\" t\n.\\\" p(8): the page\n.TH P 8\n",
            "man/q.1": ".\\\" q(1)\n.TH Q 1\n",
            "systemd/d.service": "# d.service\n[Unit]\n",
            "tests/config/bad/e.conf": "version = 2;\n",
            "etc/x.conf": "# a config\n",
            "notes.txt": "# notes\n",
            "done.c": "/* " + SPDX + " */\n/* done.c */\n",
        }
        for rel, text in files.items():
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if text is None:
                shutil.copy2(os.path.join(ROOT, rel), path)
            else:
                with open(path, "w") as f:
                    f.write(text)
        os.chmod(os.path.join(tmp, "a/run"), 0o750)
        script = os.path.join(tmp, "scripts", "spdx-headers")
        before = subprocess.run([script, "--check"], capture_output=True, text=True)
        eq(before.returncode, 1, "--check finds files without the line")
        p = subprocess.run([script], capture_output=True, text=True)
        eq(p.returncode, 0, f"spdx-headers: {p.stderr}")
        eq(sorted(p.stdout.split()), sorted(before.stdout.split()), "the files changed are those --check named")
        c, sh = "/* " + SPDX + " */\n", "# " + SPDX + "\n"
        roff = '.\\" ' + SPDX + "\n"
        want = {
            "a/x.c": c + files["a/x.c"],
            "a/x.h": c + files["a/x.h"],
            "a/run": "#!/bin/sh\n" + sh + "# run: what it does\nexit 0\n",
            "a/t.py": sh + files["a/t.py"],
            "Makefile": sh + files["Makefile"],
            "man/p.8": "'\\\" t\n" + roff + ".\\\" p(8): the page\n.TH P 8\n",
            "man/q.1": roff + files["man/q.1"],
            "systemd/d.service": sh + files["systemd/d.service"],
            "tests/config/bad/e.conf": files["tests/config/bad/e.conf"],
            "etc/x.conf": files["etc/x.conf"],
            "notes.txt": files["notes.txt"],
            "done.c": files["done.c"],
        }
        for rel, text in want.items():
            with open(os.path.join(tmp, rel)) as f:
                eq(f.read(), text, rel)
        with open(script) as f:
            eq(f.read().splitlines()[1], "# " + SPDX, "the script's own line")
        eq(os.stat(os.path.join(tmp, "a/run")).st_mode & 0o777, 0o750, "mode kept")
        again = subprocess.run([script], capture_output=True, text=True)
        eq((again.returncode, again.stdout), (0, ""), "a second run changes nothing")
        eq(subprocess.run([script, "--check"], capture_output=True, text=True).returncode, 0, "--check after")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
