#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Every option the programs accept is documented in their man pages.

The lists come from the programs and the source, never from a copy kept
here: tokenpolicyd's options from `tokenpolicyd --help` and its getopt
table, tokenpolicyctl's commands and options from `tokenpolicyctl --help`,
`tokenpolicyctl COMMAND --help` and the getopt tables in tokenpolicyctl/,
the PAM module's arguments from parse_options() in pam_tokenpolicy.c, and
the configuration keys from the name tables in config.c and their values
from the wire's name tables in common/proto.c, which config.c reads. Each
must have an entry in the right page (an item in OPTIONS, a section per
command, an item per configuration key). Rendering without warnings is
checked by test_install.py.

And every document the tree cites is in the tree: a Markdown file named
anywhere exists, and a numbered section cited in docs/product.md or
PROTOCOL.md is one of its headings.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import BUILD, ROOT, check, eq, run_tests  # noqa: E402

MAN = os.path.join(ROOT, "man")
DAEMON = os.path.join(BUILD, "tokenpolicyd")
CTL = os.path.join(BUILD, "tokenpolicyctl")
ALTERNATING = {".BR", ".RB", ".BI", ".IB", ".IR", ".RI"}
OPTION = r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])"


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def plain(line):
    """One line of man(7) source as the reader sees its words: font changes,
    escapes and macro quoting removed."""
    line = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", line)
    line = re.sub(r"\\\((dq|lq|rq)", "\x00", line)  # a quote, but not macro quoting
    line = line.replace("\\-", "-").replace("\\&", "").replace("\\c", "").replace("\\ ", " ")
    line = line.replace("\\e", "\\")
    if line.startswith("."):
        parts = line.split(None, 1)
        args = [a or b for a, b in re.findall(r'"([^"]*)"|(\S+)', parts[1] if len(parts) > 1 else "")]
        # Alternating-font macros join their arguments without spaces.
        line = ("" if parts[0] in ALTERNATING else " ").join(args)
    return line.replace("\x00", '"')


class Page:
    def __init__(self, name):
        self.name = name
        self.lines = [line for line in read(os.path.join(MAN, name)).splitlines() if not line.startswith('.\\"')]

    def text(self, lines=None):
        return "\n".join(plain(line) for line in (self.lines if lines is None else lines))

    def section(self, macro, title):
        """The lines of `.SH TITLE` (or `.SS TITLE ...`) up to the next
        heading of the same or a higher level; None when absent."""
        stops = (".SH",) if macro == ".SH" else (".SH", ".SS")
        for i, line in enumerate(self.lines):
            if line.startswith(macro + " ") and plain(line).split()[:len(title.split())] == title.split():
                end = next((j for j in range(i + 1, len(self.lines)) if self.lines[j].split()[:1]
                            and self.lines[j].split()[0] in stops), len(self.lines))
                return self.lines[i:end]
        return None

    def item_tags(self, lines=None):
        """The tag line of every .TP item, as plain text."""
        lines = self.lines if lines is None else lines
        return [plain(lines[i + 1]) for i, line in enumerate(lines[:-1]) if line.split()[:1] == [".TP"]]


def mentions(text, word):
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def c_string_table(source, name):
    """The string literals of `static const char *const NAME[...] = { ... };`."""
    m = re.search(rf"\b{name}\[[^\]]*\]\s*=\s*\{{(.*?)\}};", source, re.S)
    check(m, f"table {name} not found in the source")
    return re.findall(r'"([^"\\]*)"', m.group(1))


def getopt_long_names(source):
    return set(re.findall(r'\{\s*"([a-z][a-z0-9-]*)"\s*,\s*(?:no|required|optional)_argument', source))


def help_options(text):
    """Long and short options named in a --help text's option lines."""
    found = set()
    for line in text.splitlines():
        m = re.match(r"^\s+(-[-\w, ]+?)(?:\s[A-Z]|\s{2}|$)", line)
        if m:
            found.update(re.findall(OPTION, m.group(1)))
    return found


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    eq(p.returncode, 0, f"{' '.join(args)}: {p.stderr}")
    return p.stdout


# -- tokenpolicyd ---------------------------------------------------------------

def test_daemon_options_documented():
    page = Page("tokenpolicyd.8")
    shown = help_options(run(DAEMON, "--help"))
    check({"--config", "--socket", "--state-dir", "--foreground", "--check-config", "--help"} <= shown,
          f"options parsed from --help: {sorted(shown)}")
    table = getopt_long_names(read(os.path.join(ROOT, "tokenpolicyd", "main.c")))
    eq({o for o in shown if o.startswith("--")}, {"--" + o for o in table},
       "tokenpolicyd --help lists exactly the long options main.c accepts")
    options = page.section(".SH", "OPTIONS")
    check(options, "tokenpolicyd.8 has OPTIONS")
    tags = "\n".join(page.item_tags(options))
    for opt in sorted(shown):
        check(mentions(tags, opt), f"tokenpolicyd {opt} has no item in OPTIONS of tokenpolicyd.8")
    synopsis = page.text(page.section(".SH", "SYNOPSIS"))
    for opt in ("--config", "--socket", "--state-dir", "--foreground", "--check-config"):
        check(mentions(synopsis, opt), f"{opt} in the SYNOPSIS of tokenpolicyd.8")


# -- tokenpolicyctl -------------------------------------------------------------

def ctl_commands(help_text):
    body = help_text.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in body.splitlines() if re.match(r"^  [a-z]", line)]


def test_ctl_global_options_and_commands_documented():
    page = Page("tokenpolicyctl.1")
    text = run(CTL, "--help")
    glob = help_options(text.split("Options:\n", 1)[1])
    check({"--socket", "--help", "--version", "-h"} <= glob, f"global options: {sorted(glob)}")
    tags = "\n".join(page.item_tags(page.section(".SH", "OPTIONS")))
    for opt in sorted(glob):
        check(mentions(tags, opt), f"global option {opt} has no item in OPTIONS of tokenpolicyctl.1")
    commands = ctl_commands(text)
    check(len(commands) >= 8, f"commands parsed from --help: {commands}")
    synopsis = page.text(page.section(".SH", "SYNOPSIS"))
    for cmd in commands:
        check(mentions(synopsis, cmd), f"command {cmd} in the SYNOPSIS of tokenpolicyctl.1")
        check(page.section(".SS", cmd), f"command {cmd} has no .SS section in tokenpolicyctl.1")


def test_ctl_command_options_documented():
    page = Page("tokenpolicyctl.1")
    every = set()
    for cmd in ctl_commands(run(CTL, "--help")):
        text = run(CTL, cmd, "--help")
        opts = help_options(text.split("Options:\n", 1)[1]) if "Options:\n" in text else set()
        every |= opts
        usage = text.splitlines()[0]
        opts |= set(re.findall(OPTION, usage))
        section = page.section(".SS", cmd)
        check(section, f"no section for {cmd}")
        body = page.text(section)
        for opt in sorted(opts - {"--help", "-h", "--socket"}):
            check(mentions(body, opt), f"tokenpolicyctl {cmd} {opt} is not documented in its section of tokenpolicyctl.1")
        if "--socket" in opts:
            # Documented once, under OPTIONS, for every command that talks to the daemon.
            check("Also accepted after any command that talks to the daemon" in page.text(), "--socket after a command")
    # Every long option in the CLI's getopt tables is in some --help and in the page.
    source = "".join(read(os.path.join(ROOT, "tokenpolicyctl", f)) for f in
                     sorted(os.listdir(os.path.join(ROOT, "tokenpolicyctl"))) if f.endswith(".c"))
    whole = page.text()
    for name in sorted(getopt_long_names(source)):
        check("--" + name in every | {"--version"}, f"--{name} is accepted but no command's --help shows it")
        check(mentions(whole, "--" + name), f"--{name} is accepted but not in tokenpolicyctl.1")


# -- pam_tokenpolicy --------------------------------------------------------------

def pam_arguments():
    source = read(os.path.join(ROOT, "pam_tokenpolicy", "pam_tokenpolicy.c"))
    m = re.search(r"\nstatic void parse_options\(.*?\n\}\n", source, re.S)
    check(m, "parse_options() not found in pam_tokenpolicy.c")
    args = re.findall(r'\bstrn?cmp\(\s*a\s*,\s*"([^"]+)"', m.group(0))
    check({"socket=", "client=", "timeout=", "fail=closed", "fail=open", "debug"} <= set(args),
          f"arguments parsed from parse_options: {args}")
    return args


def test_pam_arguments_documented():
    page = Page("pam_tokenpolicy.8")
    # An item may name alternatives: "fail=closed", "unmapped=deny | unmapped=ignore".
    tags = [alt for t in page.item_tags(page.section(".SH", "OPTIONS"))
            for alt in t.replace(" ", "").split("|")]
    synopsis = page.text(page.section(".SH", "SYNOPSIS")).replace(" ", "")
    for arg in pam_arguments():
        if arg.endswith("="):
            check(any(t.startswith(arg) and len(t) > len(arg) for t in tags),
                  f"{arg}VALUE has no item in OPTIONS of pam_tokenpolicy.8: {tags}")
        else:
            check(arg in tags, f"{arg} has no item in OPTIONS of pam_tokenpolicy.8: {tags}")
        check(arg.split("=")[0] in synopsis, f"{arg} in the SYNOPSIS of pam_tokenpolicy.8")


# -- tokenpolicy.conf -------------------------------------------------------------

def test_config_keys_and_values_documented():
    source = read(os.path.join(ROOT, "shared", "config.c"))
    keys = c_string_table(source, "top_level_keys") + c_string_table(source, "policy_key_table")
    check({"version", "custom_token_policy", "unknown_client", "defaults", "clients", "access",
           "auto_extend_refresh_token", "refresh_token_ttl_hours", "access_token_ttl_minutes",
           "max_refresh_tokens", "evict", "on_expiry", "on_revoke", "services"} <= set(keys),
          f"keys parsed from config.c: {keys}")
    page = Page("tokenpolicy.conf.5")
    tagged = {t.split()[0] for t in page.item_tags() if t.split()}
    for key in keys:
        check(key in tagged, f"configuration key {key} has no item in tokenpolicy.conf.5")
    text = page.text()
    proto = read(os.path.join(ROOT, "common", "proto.c"))
    for table in ("tp_evict_table", "tp_action_table"):
        values = c_string_table(proto, table)
        check(values, f"{table} is empty")
        for v in values:
            check(mentions(text, v), f"value {v} ({table}) is not in tokenpolicy.conf.5")
    check(mentions(text, "deny"), "unknown_client = \"deny\" documented")


# -- citations ------------------------------------------------------------------

# Build output and packaging leftovers, not the project's text.
NOT_SOURCE = {".git", "build", "build-asan", "build-fuzz", "__pycache__", "corpus", "results"}


def tree_texts():
    """(path relative to the tree, text) of every text file of the tree."""
    for d, dirs, files in os.walk(ROOT):
        rel_d = os.path.relpath(d, ROOT)
        dirs[:] = [x for x in dirs if x not in NOT_SOURCE and
                   not (rel_d == "debian" and (x.startswith(".") or x in ("tokenpolicy", "tmp")))]
        for name in files:
            try:
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    yield os.path.normpath(os.path.join(rel_d, name)), f.read()
            except (UnicodeDecodeError, OSError):
                continue


def numbered_headings(rel):
    """The section numbers of a Markdown file's headings ("## 3. ..." is 3,
    "### 5.2 ..." is 5.2)."""
    found = set()
    for line in read(os.path.join(ROOT, rel)).splitlines():
        m = re.match(r"#{2,4} (\d+(?:\.\d+)*)\.? ", line)
        if m:
            found.add(m.group(1))
    return found


def test_citations_have_targets():
    texts = dict(tree_texts())
    names = {os.path.basename(p) for p in texts}
    sections = {doc: numbered_headings(doc) for doc in ("docs/product.md", "PROTOCOL.md")}
    check(sections["docs/product.md"] >= {"1", "2", "3", "4", "5", "6", "7"},
          f"docs/product.md sections: {sorted(sections['docs/product.md'])}")
    cited = 0
    for rel, text in texts.items():
        # This file names the word to look for.
        check(rel == "tests/integration/test_manpages.py" or not re.search(r"\bDESIGN\b", text),
              f"{rel} cites DESIGN, a document that is not in the tree")
        for doc in re.findall(r"(?<![\w/.-])([\w/.-]*\w\.md)\b", text):
            check(os.path.exists(os.path.join(ROOT, doc)) if "/" in doc else doc in names,
                  f"{rel} cites {doc}, which is not in the tree")
        for doc in sections:
            pattern = re.escape(doc) + r"`?,? ((?:(?:§|sections? )\d+(?:\.\d+)*(?:,? (?:and )?)?)+)"
            for group in re.findall(pattern, text):
                for number in re.findall(r"\d+(?:\.\d+)*", group):
                    cited += 1
                    check(number in sections[doc], f"{rel} cites {doc} section {number}, which it has not")
    check(cited >= 10, f"numbered citations found: {cited}")


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
