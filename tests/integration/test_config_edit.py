#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Integration tests for `tokenpolicyctl config get|set|unset` against a real
daemon reading a copy of the shipped configuration file.

A change reaches the running policy (`policy --json`) through the reload,
and the file differs from before in the changed line only: every comment
and blank line stays. A value the checker refuses is reported as FILE:LINE
and changes neither the file nor the policy. Concurrent `config set`s of
different keys all land (none overwrites another). An ordinary user can
read but not change the file. With no daemon running the file still
changes. Needs root (the ordinary user, tptest-cfgedit, is created and
removed).
"""
import difflib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import CTL, SHIPPED_CONF, Env, check, eq, run_with_users  # noqa: E402

USER = "tptest-cfgedit"


def shipped_env():
    with open(SHIPPED_CONF) as f:
        env = Env(f.read())
    env.start()
    return env


def config(env, *args, user=None):
    return env.ctl("config", "--file", env.conf, *args, user=user)


def read(path):
    with open(path) as f:
        return f.read()


def changed_lines(before, after):
    """The lines removed and added, in order."""
    out = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        out.append(line)
    return out


def policy_of(env, client):
    p = json.loads(env.ctl("policy", "--json", check_rc=0).stdout)
    return next(c for c in p["clients"] if c["name"] == client), p


def test_set_reaches_policy_and_keeps_comments():
    env = shipped_env()
    try:
        before = read(env.conf)
        p = config(env, "set", "clients.web.max_refresh_tokens", "12")
        eq(p.returncode, 0, f"set: {p.stderr}")
        check("reloaded" in p.stdout, p.stdout)
        after = read(env.conf)
        eq(changed_lines(before, after), ["+                max_refresh_tokens = 12;"], "the diff")
        web, _ = policy_of(env, "web")
        eq(web["effective"]["max_refresh_tokens"], 12, "web's cap in force")
        eq(policy_of(env, "ssh")[0]["effective"]["max_refresh_tokens"], 20, "ssh keeps the default")

        # A value already there: replaced in place, on its line.
        before = after
        eq(config(env, "set", "defaults.evict", "least_recently_used").returncode, 0)
        eq(changed_lines(before, read(env.conf)),
           ['-        evict = "oldest";', '+        evict = "least_recently_used";'], "the diff")
        eq(policy_of(env, "mobile")[0]["evict"], "least_recently_used", "evict in force")

        # Off with a switch, then the custom policy switch.
        eq(config(env, "set", "clients.mobile.access", "false").returncode, 0)
        eq(policy_of(env, "mobile")[0]["access"], False, "mobile access")
        eq(config(env, "set", "custom_token_policy", "false").returncode, 0)
        web, whole = policy_of(env, "web")
        eq(whole["custom_token_policy"], False, "custom policy off")
        eq(web["inactive"], True, "web's values inactive")
        eq(web["configured"]["max_refresh_tokens"], 12, "configured value kept")
        eq(web["effective"]["max_refresh_tokens"], 20, "built-in value applies")

        # get prints what the file says.
        eq(config(env, "get", "clients.web.max_refresh_tokens").stdout, "12\n", "get")
        eq(config(env, "get", "unknown_client").stdout, "deny\n", "get a string")
        eq(config(env, "get", "clients.web.services").stdout, '["cockpit"]\n', "get an array")

        # unset: the line goes, the default applies again.
        before = read(env.conf)
        eq(config(env, "unset", "clients.web.max_refresh_tokens").returncode, 0)
        eq(changed_lines(before, read(env.conf)), ["-                max_refresh_tokens = 12;"], "unset")
        g = config(env, "get", "clients.web.max_refresh_tokens")
        eq(g.returncode, 1, "get of an unset key")
        check("does not set clients.web.max_refresh_tokens" in g.stderr, g.stderr)
        p = config(env, "unset", "clients.web.max_refresh_tokens")
        eq(p.returncode, 0, "unset twice")
        check("nothing to remove" in p.stdout, p.stdout)
        p = config(env, "set", "clients.mobile.access", "false")
        eq(p.returncode, 0, "set to the same value")
        check("nothing to change" in p.stdout, p.stdout)
        # Every comment of the shipped file is still there.
        shipped = [line for line in read(SHIPPED_CONF).splitlines() if line.strip().startswith("#")]
        now = read(env.conf).splitlines()
        for line in shipped:
            check(line in now, f"comment kept: {line!r}")
    finally:
        env.cleanup()


def test_invalid_values_change_nothing():
    env = shipped_env()
    try:
        before = read(env.conf)
        policy = env.ctl("policy", "--json", check_rc=0).stdout
        st = os.stat(env.conf)
        cases = [
            (("clients.ssh.max_refresh_tokens", "101"), "max_refresh_tokens = 101 is out of range (10..100)"),
            (("defaults.refresh_token_ttl_hours", "23"), "out of range (24..1440)"),
            (("defaults.access_token_ttl_minutes", "1081"), "out of range (360..1080)"),
            (("defaults.evict", "newest"), "evict"),
            (("unknown_client", "nosuchtype"), "names no client type"),
            (("clients.web.colour", "blue"), "colour"),
            (("clients.ssh.services", '["cockpit"]'), "cockpit"),
            (("version.x", "1"), "'version' is not a group"),
        ]
        for (key, value), says in cases:
            p = config(env, "set", key, value)
            eq(p.returncode, 1, f"{key}={value}: exit status ({p.stdout}{p.stderr})")
            check(says in p.stderr, f"{key}={value}: {p.stderr}")
            check(p.stderr.startswith(env.conf + ":"), f"{key}={value}: FILE:LINE first: {p.stderr}")
            check("was not changed" in p.stderr, p.stderr)
        # A line number that points at the setting in the file as it would be.
        p = config(env, "set", "clients.ssh.max_refresh_tokens", "101")
        line = int(p.stderr.split(":")[1])
        eq(before.splitlines()[line - 2].strip(), 'services = ["sshd"];', "the line reported")
        eq(read(env.conf), before, "file unchanged")
        eq(os.stat(env.conf).st_ino, st.st_ino, "not even replaced")
        eq(env.ctl("policy", "--json", check_rc=0).stdout, policy, "policy unchanged")
        # Several pairs: all or none; --dry-run writes nothing.
        p = config(env, "set", "clients.web.max_refresh_tokens", "50", "clients.ssh.max_refresh_tokens", "101")
        eq(p.returncode, 1, "one bad pair of two")
        p = config(env, "--dry-run", "set", "clients.web.max_refresh_tokens", "50")
        eq(p.returncode, 0, p.stderr)
        check("not written" in p.stdout, p.stdout)
        eq(read(env.conf), before, "file unchanged by a failed pair and a dry run")
        p = config(env, "set", "clients.web.max_refresh_tokens", "50", "clients.ssh.max_refresh_tokens", "60")
        eq(p.returncode, 0, p.stderr)
        caps = {c["name"]: c["effective"]["max_refresh_tokens"]
                for c in json.loads(env.ctl("policy", "--json", check_rc=0).stdout)["clients"]}
        eq((caps["web"], caps["ssh"]), (50, 60), "both pairs in force")
        eq(config(env, "unset", "clients.web.max_refresh_tokens", "clients.ssh.max_refresh_tokens").returncode, 0)
        eq(read(env.conf), before, "both removed again")
        # Usage errors: exit 2.
        for args in (("set", "defaults.evict"), ("set", "a", "1", "b"), ("unset",), ("get",), ("frob", "a"), ("get", "a..b"),
                     ("set", "a", "[1"), ("get", "a", "b"), ("get", "a", "--no-reload")):
            eq(config(env, *args).returncode, 2, f"usage: {args}")
        eq(read(env.conf), before, "file unchanged after usage errors")
        # Nothing left beside the file.
        eq(sorted(f for f in os.listdir(env.dir) if f.startswith(".tokenpolicy")), [], "no temporary files")
    finally:
        env.cleanup()


def test_concurrent_sets_all_land():
    env = shipped_env()
    try:
        # Twelve at once: each swaps its file in, so without a lock among
        # them one that finds its swap-out stale could put back a file that
        # lacks another's change.
        clients = ("desktop", "web", "mobile", "ssh")
        keys = [f"clients.{c}.max_refresh_tokens" for c in clients] + \
               [f"clients.{c}.access_token_ttl_minutes" for c in clients] + \
               [f"clients.{c}.refresh_token_ttl_hours" for c in clients]
        values = ["11", "12", "13", "14", "401", "402", "403", "404", "41", "42", "43", "44"]
        procs = [subprocess.Popen([CTL, "--socket", env.sock, "config", "--file", env.conf, "set", k, v],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for k, v in zip(keys, values)]
        for k, p in zip(keys, procs):
            out, err = p.communicate(timeout=60)
            eq(p.returncode, 0, f"{k}: {out}{err}")
        for k, v in zip(keys, values):
            eq(config(env, "get", k).stdout.strip(), v, f"{k} in the file")
        pol = json.loads(env.ctl("policy", "--json", check_rc=0).stdout)
        caps = {c["name"]: c["effective"]["max_refresh_tokens"] for c in pol["clients"]}
        eq(caps, {"desktop": 11, "web": 12, "mobile": 13, "ssh": 14}, "caps in force")
    finally:
        env.cleanup()


def test_edit_saved_by_someone_else_is_kept():
    """An editor that saves between reading and writing: simulated by a
    writer that renames a new file in every few milliseconds (far more often
    than any editor) while `config set` runs again and again. Each set re-reads; at the end the other writer's last line and
    every set value are in the file."""
    env = shipped_env()
    try:
        other = os.path.join(env.dir, "other-writer.py")
        with open(other, "w") as f:
            f.write(
                "import os, sys, time\n"
                "path = sys.argv[1]\n"
                "for i in range(200):\n"
                "    time.sleep(0.005)\n"
                "    text = open(path).read()\n"
                "    tmp = path + '.other'\n"
                "    open(tmp, 'w').write(text + f'# note {i}\\n')\n"
                "    os.rename(tmp, path)\n")
        writer = subprocess.Popen([sys.executable, other, env.conf])
        values = []
        while writer.poll() is None and len(values) < 50:
            v = str(10 + len(values) % 90)
            p = config(env, "set", "clients.web.max_refresh_tokens", v)
            eq(p.returncode, 0, f"set {v}: {p.stdout}{p.stderr}")
            values.append(v)
        writer.wait(timeout=60)
        text = read(env.conf)
        # The other writer does not re-read before writing, so it may drop
        # a set made meanwhile; ours never drops its lines.
        check("# note 199\n" in text, "the other writer's last line is in the file")
        check(len(values) > 0, "sets ran")
        p = config(env, "set", "clients.web.max_refresh_tokens", "77")
        eq(p.returncode, 0, p.stderr)
        text = read(env.conf)
        check("# note 199\n" in text and "max_refresh_tokens = 77;" in text, "both edits in the file")
    finally:
        env.cleanup()


def test_ordinary_user_and_no_daemon():
    env = Env(open(SHIPPED_CONF).read())
    try:
        os.chmod(env.conf, 0o644)
        before = read(env.conf)
        p = config(env, "get", "defaults.max_refresh_tokens", user=USER)
        eq((p.returncode, p.stdout), (0, "20\n"), f"an ordinary user reads: {p.stderr}")
        p = config(env, "set", "defaults.max_refresh_tokens", "30", user=USER)
        eq(p.returncode, 1, "an ordinary user cannot change it")
        check("needs root" in p.stderr, p.stderr)
        eq(read(env.conf), before, "file unchanged")

        # No daemon: the file changes, the exit status is 0.
        p = config(env, "set", "defaults.max_refresh_tokens", "30")
        eq(p.returncode, 0, p.stderr)
        check("not running" in p.stdout, p.stdout)
        eq(config(env, "get", "defaults.max_refresh_tokens").stdout, "30\n", "changed")
        eq(stat.S_IMODE(os.stat(env.conf).st_mode), 0o644, "mode kept")

        # A daemon reading another file is not reloaded.
        env.start()
        elsewhere = os.path.join(env.dir, "copy.conf")
        shutil.copy(env.conf, elsewhere)
        p = env.ctl("config", "--file", elsewhere, "set", "defaults.max_refresh_tokens", "40")
        eq(p.returncode, 0, p.stderr)
        check("not this file: not reloaded" in p.stdout, p.stdout)
        eq(policy_of(env, "web")[0]["effective"]["max_refresh_tokens"], 30, "policy from its own file")
        # --no-reload: the file changes, the policy not yet.
        eq(config(env, "--no-reload", "set", "defaults.max_refresh_tokens", "50").returncode, 0)
        eq(policy_of(env, "web")[0]["effective"]["max_refresh_tokens"], 30, "not reloaded yet")
        env.ctl("reload", check_rc=0)
        eq(policy_of(env, "web")[0]["effective"]["max_refresh_tokens"], 50, "after reload")
    finally:
        env.cleanup()


if __name__ == "__main__":
    sys.exit(run_with_users([
        ("test_set_reaches_policy_and_keeps_comments", test_set_reaches_policy_and_keeps_comments),
        ("test_invalid_values_change_nothing", test_invalid_values_change_nothing),
        ("test_concurrent_sets_all_land", test_concurrent_sets_all_land),
        ("test_edit_saved_by_someone_else_is_kept", test_edit_saved_by_someone_else_is_kept),
        ("test_ordinary_user_and_no_daemon", test_ordinary_user_and_no_daemon),
    ], [USER], lock_name="users-config-edit"))
