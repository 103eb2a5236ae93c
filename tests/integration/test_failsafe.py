#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Never lock the administrator out: Debian 12's own stacks, daemon down.

Copies of Debian 12's su, sudo, cron and login stacks and the common-*
files, with the lines that `pam-auth-update --enable tokenpolicy` adds
(tests/integration/debian12-pam.d/), run through real libpam in a
private mount namespace whose /etc/pam.d is that copy (/var/log and /run
are private too, so pam_lastlog, pam_motd and pam_systemd touch nothing
of the machine's). The only change to the copies is the module's path
and its private socket.

With the daemon up, stopped, killed and frozen (SIGSTOP): su, sudo and
cron (services of no client type in the shipped config) pass for root
and for an ordinary user without a request to the daemon, root's
console login passes, and an ordinary user's login (mapped to desktop)
fails closed within the timeout. Without a service map (the daemon never
ran) the module falls back to asking, as documented. A service map the
daemon did not write is not believed. After a reboot (a fresh runtime
directory) with the daemon not running, the copy of the map in its state
directory keeps su, sudo and cron working for an ordinary user, found by
map= or, for the default socket, at its default place; an untrusted copy
is not believed, the runtime map wins over the copy, and a reload
rewrites both. Root's refused sign-ins are let
through without a session and audited as such; even_deny_root applies
the policy to root. Unmapped-and-ignored services are never audited as
denials. Needs root (a test user, mount namespaces).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import (MODULE, SHIPPED_CONF, TP_PAM, Env, check, config_text, eq,  # noqa: E402
                   run_with_users)

CAROL = "tptest-gina"
TIMEOUT_MS = 1000
DEBIAN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "debian12-pam.d")
PROFILE_LINE = "pam_tokenpolicy.so unmapped=ignore"
# What each program asks of PAM, root running it: su's auth passes by
# pam_rootok; sudo and cron run as root ask for no password; login's
# password check comes before and is not the module's business.
SERVICES = {
    "su": ["auth", "acct", "establish-cred", "open", "close"],
    "sudo": ["acct", "establish-cred", "open", "close"],
    "cron": ["acct", "establish-cred", "open", "close"],
    "login": ["acct", "establish-cred", "open", "close"],
}
NAMESPACE = ('set -e\nmount --bind "$1" /etc/pam.d\nmount -t tmpfs tptest-log /var/log\n'
             'mount -t tmpfs tptest-run /run\nshift\nexec "$@"\n')
# The same, and the state directory given in $2 as the default one: a
# host just booted (empty /run) whose daemon ran before with that state.
NAMESPACE_STATE = ('set -e\nmount --bind "$1" /etc/pam.d\nmount -t tmpfs tptest-log /var/log\n'
                   'mount -t tmpfs tptest-run /run\nmount -t tmpfs -o mode=0755 tptest-lib /var/lib\n'
                   'mkdir -m 0711 /var/lib/tokenpolicy\nmount --bind "$2" /var/lib/tokenpolicy\n'
                   'shift 2\nexec "$@"\n')
SERVICE_MAP = "services.map"


def shipped_env():
    with open(SHIPPED_CONF) as f:
        return Env(f.read())


def start_serving(env):
    """Start env's daemon and wait until it serves: it writes its service
    maps before it answers the first request, so after one answer they
    are in place (a connectable socket is not enough)."""
    env.start()
    env.ctl("status", check_rc=0)


def install_debian_stacks(env, extra="", name="debian-pam.d", default_socket=False):
    """The Debian copies, the module pointed at env's daemon (or left at
    the default socket)."""
    d = os.path.join(env.dir, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    os.chmod(d, 0o755)
    socket_arg = "" if default_socket else f"socket={env.sock}"
    opts = f"{socket_arg}{env.trust} timeout={TIMEOUT_MS} unmapped=ignore {extra}".strip()
    for name in os.listdir(DEBIAN):
        with open(os.path.join(DEBIAN, name)) as f:
            text = f.read()
        with open(os.path.join(d, name), "w") as f:
            f.write(text.replace(PROFILE_LINE, f"{MODULE} {opts}"))
    return d


def run_debian(pamd, service, user, ops, state=None):
    ns = ["sh", "-c", NAMESPACE, "sh", pamd] if state is None else ["sh", "-c", NAMESPACE_STATE, "sh", pamd, state]
    cmd = ["unshare", "--mount", "--propagation", "private", *ns,
           TP_PAM, "--json", "--confdir", "/etc/pam.d", "--service", service, "--user", user, *ops]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - t0
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    check(lines, f"{service} for {user}: tp-pam printed nothing: rc={p.returncode} err={p.stderr!r}")
    out = Env._digest(json.loads(lines[-1]))
    out["elapsed"] = elapsed
    return out


def expect_passes(pamd, services, users, what, state=None):
    for service in services:
        for user in users:
            out = run_debian(pamd, service, user, SERVICES[service], state)
            eq(out["results"], ["PAM_SUCCESS"] * len(SERVICES[service]), f"{what}: {service} for {user}: {out}")
            eq(out["errors"], [], f"{what}: {service} for {user}: no error shown")


def expect_fails_closed(pamd, service, user, what, state=None):
    out = run_debian(pamd, service, user, SERVICES[service], state)
    ops = SERVICES[service][:SERVICES[service].index("acct") + 1]
    eq(out["results"], ["PAM_SUCCESS"] * (len(ops) - 1) + ["PAM_PERM_DENIED"],
       f"{what}: {service} for {user} refused at the account check")
    eq(out["errors"], ["The sign-in policy service is not available; contact your administrator."],
       f"{what}: {service} for {user}: told why")
    # Bounded by the timeout; 10x of it covers a loaded machine.
    check(out["elapsed"] < 10 * TIMEOUT_MS / 1000, f"{what}: took {out['elapsed']:.1f}s")
    print(f"# {what}: {service} for {user} refused in {out['elapsed'] * 1000:.0f} ms")


def audit_lines(env):
    return [line for line in env.log_text().splitlines() if "audit:" in line]


def test_debian_stacks_with_the_daemon_up():
    env = shipped_env()
    try:
        start_serving(env)
        pamd = install_debian_stacks(env)
        expect_passes(pamd, ("su", "sudo", "cron"), ("root", CAROL), "daemon up")
        # No request at all for services the map shows to be uncovered.
        eq([line for line in audit_lines(env) if "service=su" in line or "service=sudo" in line
            or "service=cron" in line], [], "nothing recorded for su, sudo, cron")
        # login is the shipped config's desktop type: recorded for both.
        expect_passes(pamd, ("login",), ("root", CAROL), "daemon up")
        sessions = env.sessions("--all")
        eq(sorted((s["user"], s["client"], s["state"]) for s in sessions),
           [("root", "desktop", "closed"), (CAROL, "desktop", "closed")], "login sessions recorded and closed")
        check(not any("event=deny" in line for line in audit_lines(env)), "no denial recorded")
    finally:
        env.cleanup()


def check_daemon_unreachable(env, pamd, what):
    expect_passes(pamd, ("su", "sudo", "cron", "login"), ("root",), what)
    expect_passes(pamd, ("su", "sudo", "cron"), (CAROL,), what)
    expect_fails_closed(pamd, "login", CAROL, what)


def test_debian_stacks_with_the_daemon_stopped_killed_and_frozen():
    env = shipped_env()
    try:
        start_serving(env)
        pamd = install_debian_stacks(env)
        service_map = os.path.join(os.path.dirname(env.sock), SERVICE_MAP)
        check(os.path.exists(service_map), "the daemon wrote its service map")

        env.proc.send_signal(signal.SIGSTOP)
        try:
            check_daemon_unreachable(env, pamd, "daemon frozen")
        finally:
            env.proc.send_signal(signal.SIGCONT)

        env.stop(signal.SIGKILL)
        check(os.path.exists(env.sock), "a killed daemon leaves its socket: connections are refused")
        check_daemon_unreachable(env, pamd, "daemon killed")

        start_serving(env)
        env.stop()
        check(not os.path.exists(env.sock), "a stopped daemon removes its socket")
        check(os.path.exists(service_map), "and keeps the service map")
        check_daemon_unreachable(env, pamd, "daemon stopped")
    finally:
        env.cleanup()


def test_without_a_service_map_the_module_asks_as_before():
    # The daemon never ran: no map. Root is still exempt; every other
    # sign-in through the stack needs the daemon (fail=closed).
    env = shipped_env()
    try:
        pamd = install_debian_stacks(env)
        expect_passes(pamd, ("su", "sudo", "cron", "login"), ("root",), "no map")
        for service in ("su", "cron", "login"):
            expect_fails_closed(pamd, service, CAROL, "no map")
    finally:
        env.cleanup()


def test_a_service_map_the_daemon_did_not_write_is_not_believed():
    # A map claiming login is none of the policy's business, put there by
    # someone else than the daemon's owner, or reachable through a link,
    # or writable by others, or malformed: the module asks, and with the
    # daemon gone the ordinary user's login fails closed.
    env = shipped_env()
    try:
        start_serving(env)
        env.stop()
        pamd = install_debian_stacks(env)
        service_map = os.path.join(os.path.dirname(env.sock), SERVICE_MAP)
        forged = "tokenpolicy-services 1\nunknown_client deny\nclient ssh sshd\nend\n"
        elsewhere = os.path.join(env.dir, "elsewhere.map")

        def plant(text, mode=0o644, owner=0, link=False):
            for path in (service_map, elsewhere):
                if os.path.lexists(path):
                    os.unlink(path)
            target = elsewhere if link else service_map
            with open(target, "w") as f:
                f.write(text)
            os.chmod(target, mode)
            os.chown(target, owner, -1)
            if link:
                os.symlink(elsewhere, service_map)

        for what, kw in (("owned by nobody", {"owner": 65534}), ("group-writable", {"mode": 0o664}),
                         ("a symbolic link", {"link": True})):
            plant(forged, **kw)
            expect_fails_closed(pamd, "login", CAROL, f"forged map {what}")
        plant(forged.replace("end\n", "end\nclient desktop login\n"))
        expect_fails_closed(pamd, "login", CAROL, "map with lines after its end")
        plant(forged.replace("end\n", ""))
        expect_fails_closed(pamd, "login", CAROL, "map cut short")
        # The same forged text, written as the daemon writes: believed.
        plant(forged)
        out = run_debian(pamd, "login", CAROL, SERVICES["login"])
        eq(out["results"], ["PAM_SUCCESS"] * 4, f"a trusted map is believed: {out}")
    finally:
        env.cleanup()


def reboot(env):
    """What a reboot leaves of the daemon: its state directory, no process
    and a fresh, empty runtime directory."""
    check(env.proc is None, "the daemon is not running")
    run = os.path.dirname(env.sock)
    shutil.rmtree(run)
    return run


def serve_once(env):
    """env's configuration served once and stopped: the copy of its
    service map that the daemon left in its state directory, and the
    map's text."""
    start_serving(env)
    env.stop()
    state_map = os.path.join(env.state, SERVICE_MAP)
    with open(os.path.join(os.path.dirname(env.sock), SERVICE_MAP)) as f:
        runtime = f.read()
    st = os.lstat(state_map)
    eq((st.st_uid, st.st_mode & 0o7777), (os.geteuid(), 0o644), "the copy: the daemon's, mode 0644")
    with open(state_map) as f:
        eq(f.read(), runtime, "the copy in the state directory is the map beside the socket")
    check("client desktop gdm-password,lightdm,sddm,login\n" in runtime and " su" not in runtime,
          f"the shipped map: login is desktop, su is nothing: {runtime!r}")
    return state_map, runtime


def test_after_a_reboot_the_persistent_map_keeps_unmapped_services_working():
    env = shipped_env()
    try:
        state_map, _ = serve_once(env)
        with_copy = install_debian_stacks(env, f"map={state_map}", name="with-map")
        without = install_debian_stacks(env, name="without-map")
        run = reboot(env)
        expect_passes(with_copy, ("su", "sudo", "cron"), (CAROL,), "after a reboot, map=")
        expect_passes(with_copy, ("su", "sudo", "cron", "login"), ("root",), "after a reboot, map=")
        # login is mapped (desktop): the copy says so, and it needs the daemon.
        expect_fails_closed(with_copy, "login", CAROL, "after a reboot, map=")
        # A private socket has no default copy: without map= the module asks.
        for service in ("su", "sudo", "cron"):
            expect_fails_closed(without, service, CAROL, "after a reboot, no map=")
        # An empty runtime directory (the daemon's unit made it) is no map either.
        os.makedirs(run, 0o755)
        expect_passes(with_copy, ("su",), (CAROL,), "after a reboot, empty runtime directory")
        # No copy (the daemon never ran, or its state was lost): fail closed.
        os.unlink(state_map)
        for service in ("su", "sudo", "cron"):
            expect_fails_closed(with_copy, service, CAROL, "after a reboot, no copy")
    finally:
        env.cleanup()


def test_after_a_reboot_the_default_copy_serves_the_default_socket():
    # The stacks exactly as pam-auth-update writes them: no socket=, no
    # map=. In the namespace /run is empty, as after a boot, and the
    # daemon's state directory is the default one.
    env = shipped_env()
    try:
        state_map, _ = serve_once(env)
        pamd = install_debian_stacks(env, default_socket=True, name="default-pam.d")
        reboot(env)
        expect_passes(pamd, ("su", "sudo", "cron"), (CAROL,), "after a reboot, default paths", state=env.state)
        expect_passes(pamd, ("su", "login"), ("root",), "after a reboot, default paths", state=env.state)
        expect_fails_closed(pamd, "login", CAROL, "after a reboot, default paths", state=env.state)
        os.unlink(state_map)
        expect_fails_closed(pamd, "su", CAROL, "after a reboot, default paths, no copy", state=env.state)
        expect_fails_closed(pamd, "cron", CAROL, "after a reboot, default paths, no copy", state=env.state)
    finally:
        env.cleanup()


def test_an_untrusted_persistent_map_is_not_believed():
    # The daemon's own copy says su is none of the policy's business; the
    # same text the daemon did not leave as it writes it is not believed.
    env = shipped_env()
    try:
        state_map, text = serve_once(env)
        pamd = install_debian_stacks(env, f"map={state_map}")
        reboot(env)
        elsewhere = os.path.join(env.dir, "elsewhere.map")

        def plant(content=text, mode=0o644, owner=0, link=False):
            for path in (state_map, elsewhere):
                if os.path.lexists(path):
                    os.unlink(path)
            target = elsewhere if link else state_map
            with open(target, "w") as f:
                f.write(content)
            os.chmod(target, mode)
            os.chown(target, owner, -1)
            if link:
                os.symlink(elsewhere, state_map)

        cases = (("owned by nobody", {"owner": 65534}), ("group-writable", {"mode": 0o664}),
                 ("other-writable", {"mode": 0o646}), ("a symbolic link", {"link": True}),
                 ("cut short", {"content": text[:text.index("end\n")]}),
                 ("cut inside a line", {"content": text[:text.index(" sshd")]}),
                 ("larger than 65536 bytes", {"content": text + "x" * 65536}))
        for what, kw in cases:
            plant(**kw)
            expect_fails_closed(pamd, "su", CAROL, f"copy {what}")
        # Its directory writable by others: anyone could have put it there.
        plant()
        os.chmod(env.state, 0o733)
        try:
            expect_fails_closed(pamd, "su", CAROL, "copy in a directory others can write")
        finally:
            os.chmod(env.state, 0o711)
        # The same text, as the daemon writes it: believed.
        expect_passes(pamd, ("su",), (CAROL,), "the daemon's copy restored")
    finally:
        env.cleanup()


def test_the_runtime_map_wins_over_the_persistent_one():
    # The map beside the socket describes the daemon running (or last run
    # since boot); the copy is read only when there is none there.
    env = shipped_env()
    try:
        state_map, text = serve_once(env)
        pamd = install_debian_stacks(env, f"map={state_map}")
        service_map = os.path.join(os.path.dirname(env.sock), SERVICE_MAP)
        su_mapped = text.replace("client desktop gdm-password,", "client desktop su,gdm-password,")
        check(su_mapped != text, "a map in which su is desktop")

        def write(path, content, mode=0o644):
            with open(path + ".tmp", "w") as f:
                f.write(content)
            os.chmod(path + ".tmp", mode)
            os.rename(path + ".tmp", path)

        write(state_map, su_mapped)
        expect_passes(pamd, ("su",), (CAROL,), "runtime map: su is nothing; copy: su is desktop")
        write(service_map, su_mapped)
        write(state_map, text)
        expect_fails_closed(pamd, "su", CAROL, "runtime map: su is desktop; copy: su is nothing")
        # A runtime map that is there but not trusted is not passed over
        # for the copy: the module asks.
        write(service_map, text, 0o664)
        expect_fails_closed(pamd, "su", CAROL, "runtime map not trusted, copy trusted")
        os.unlink(service_map)
        expect_passes(pamd, ("su",), (CAROL,), "no runtime map: the copy")
    finally:
        env.cleanup()


def test_unmapped_and_ignored_is_never_audited_as_a_denial():
    # With the map the daemon is not asked; when it is asked anyway (no
    # trusted map), it is told that the module lets the service through.
    env = shipped_env()
    try:
        start_serving(env)
        pamd = install_debian_stacks(env)
        service_map = os.path.join(os.path.dirname(env.sock), SERVICE_MAP)
        os.chmod(service_map, 0o664)  # no longer trusted: the module asks
        expect_passes(pamd, ("su", "sudo", "cron"), (CAROL,), "map not trusted")
        asked = env.log_text()
        eq([line for line in audit_lines(env) if "event=deny" in line], [],
           f"no denial recorded for services that were let through: {asked}")
        # unmapped=deny (no profile): the denial is real and recorded.
        with open(os.path.join(env.pamdir, "tptest-unmapped"), "w") as f:
            f.write(f"account required {MODULE} socket={env.sock}{env.trust}\n")
        r = env.pam("tptest-unmapped", CAROL, "acct")
        eq(r["results"], ["PAM_PERM_DENIED"], "unmapped=deny refuses")
        check(any("event=deny" in line and "unmapped service" in line for line in audit_lines(env)),
              "and records the denial")
    finally:
        env.cleanup()


def test_root_is_exempt_from_policy_but_still_recorded():
    conf = config_text(clients={
        "desktop": {"services": ["tptest-desktop"], "max_refresh_tokens": 10, "evict": "deny_new"},
        "web": {"services": ["tptest-web"], "access": False},
    })
    env = Env(conf)
    try:
        env.start()
        for name in ("tptest-desktop", "tptest-web"):
            env.pam_service(name, root_exempt=True)
        env.pam_service("tptest-strict", args="client=web")  # even_deny_root
        # A disabled client type: root signs in, without a session.
        r = env.pam("tptest-web", "root", "acct", "open", "close")
        eq(r["results"], ["PAM_SUCCESS"] * 3, f"root through a disabled type: {r}")
        eq(r["errors"], [], "no refusal shown")
        check("TOKENPOLICY_SESSION_ID" not in r["env"], "no session, no tokens")
        web = [line for line in audit_lines(env) if "client=web" in line]
        check(web and all("event=allow" in line and "without a session (exempt)" in line for line in web),
              f"audited as let in without a session: {web}")
        r = env.pam("tptest-strict", "root", "acct")
        eq(r["results"], ["PAM_PERM_DENIED"], "even_deny_root applies the policy to root")
        # The cap with deny_new: root's sign-ins are recorded up to it,
        # then let in without a session.
        for _ in range(10):
            env.sign_in("tptest-desktop", "root")
        r = env.pam("tptest-desktop", "root", "acct", "open")
        eq(r["results"], ["PAM_SUCCESS"] * 2, f"root past the cap: {r}")
        check("TOKENPOLICY_SESSION_ID" not in r["env"], "past the cap: no session")
        eq(len(env.sessions("--user", "root")), 10, "ten recorded sessions")
        check(any("session limit reached" in line and "event=allow" in line for line in audit_lines(env)),
              "the cap audited as an exempt sign-in")
        # An ordinary user is refused as before.
        r = env.pam("tptest-web", CAROL, "acct")
        eq(r["results"], ["PAM_PERM_DENIED"], "carol through the disabled type")
    finally:
        env.cleanup()


def test_root_exempt_when_the_daemon_cannot_be_reached():
    env = Env()  # never started
    try:
        env.pam_service("tptest-desktop", root_exempt=True, fail="closed")
        r = env.pam("tptest-desktop", "root", "acct", "open", "close")
        eq(r["results"], ["PAM_SUCCESS"] * 3, f"root with no daemon: {r}")
        eq(r["errors"], [], "nothing shown")
        r = env.pam("tptest-desktop", CAROL, "acct")
        eq(r["results"], ["PAM_PERM_DENIED"], "carol with no daemon: fail=closed")
        env.pam_service("tptest-desktop", fail="closed")  # even_deny_root
        r = env.pam("tptest-desktop", "root", "acct")
        eq(r["results"], ["PAM_PERM_DENIED"], "even_deny_root: root too")
    finally:
        env.cleanup()


def test_service_map_follows_the_running_configuration():
    env = Env()
    try:
        start_serving(env)
        service_map = os.path.join(os.path.dirname(env.sock), SERVICE_MAP)
        state_map = os.path.join(env.state, SERVICE_MAP)

        def read_map():
            texts = []
            for path in (service_map, state_map):
                st = os.lstat(path)
                eq(st.st_uid, os.geteuid(), f"{path} owned by the daemon's user")
                eq(st.st_mode & 0o7777, 0o644, f"{path} mode 0644")
                with open(path) as f:
                    texts.append(f.read())
            eq(texts[1], texts[0], "the copy in the state directory is the map beside the socket")
            return texts[0]

        eq(read_map(), "tokenpolicy-services 1\nunknown_client deny\nclient desktop tptest-desktop\n"
                       "client web tptest-web\nclient mobile tptest-mobile\nclient ssh tptest-sshd\nend\n",
           "written at start")
        env.write_conf(config_text(clients={"ssh": {"services": ["tptest-sshd", "tptest-other"]},
                                            "mobile": {}}, unknown='"mobile"'))
        env.ctl("reload", check_rc=0)
        eq(read_map(), "tokenpolicy-services 1\nunknown_client mobile\nclient ssh tptest-sshd,tptest-other\n"
                       "client mobile\nend\n", "rewritten at reload")
        env.write_conf("version = 1;\nclients = nonsense\n")
        check(env.ctl("reload").returncode != 0, "a bad reload is refused")
        check("client ssh tptest-sshd,tptest-other" in read_map(), "and the running policy's map stays")
        eq(sorted(os.listdir(os.path.dirname(env.sock))), sorted(["tokenpolicyd.sock", SERVICE_MAP]),
           "no temporary file left")
        check(not [n for n in os.listdir(env.state) if n.startswith(SERVICE_MAP + ".")],
              f"no temporary file left in the state directory: {os.listdir(env.state)}")
    finally:
        env.cleanup()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("1..0 # SKIP needs root and unshare (test user, private mount namespaces)")
        sys.exit(0)
    sys.exit(run_with_users(TESTS, (CAROL,)))
