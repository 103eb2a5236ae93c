#!/usr/bin/python3
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
daemon did not write is not believed. Root's refused sign-ins are let
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
SERVICE_MAP = "services.map"


def shipped_env():
    with open(SHIPPED_CONF) as f:
        return Env(f.read())


def install_debian_stacks(env, extra=""):
    """The Debian copies, the module pointed at env's daemon."""
    d = os.path.join(env.dir, "debian-pam.d")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    os.chmod(d, 0o755)
    opts = f"socket={env.sock}{env.trust} timeout={TIMEOUT_MS} unmapped=ignore {extra}".strip()
    for name in os.listdir(DEBIAN):
        with open(os.path.join(DEBIAN, name)) as f:
            text = f.read()
        with open(os.path.join(d, name), "w") as f:
            f.write(text.replace(PROFILE_LINE, f"{MODULE} {opts}"))
    return d


def run_debian(pamd, service, user, ops):
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", NAMESPACE, "sh", pamd,
           TP_PAM, "--json", "--confdir", "/etc/pam.d", "--service", service, "--user", user, *ops]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - t0
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    check(lines, f"{service} for {user}: tp-pam printed nothing: rc={p.returncode} err={p.stderr!r}")
    out = Env._digest(json.loads(lines[-1]))
    out["elapsed"] = elapsed
    return out


def expect_passes(pamd, services, users, what):
    for service in services:
        for user in users:
            out = run_debian(pamd, service, user, SERVICES[service])
            eq(out["results"], ["PAM_SUCCESS"] * len(SERVICES[service]), f"{what}: {service} for {user}: {out}")
            eq(out["errors"], [], f"{what}: {service} for {user}: no error shown")


def expect_fails_closed(pamd, service, user, what):
    out = run_debian(pamd, service, user, SERVICES[service])
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
        env.start()
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
        env.start()
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

        env.start()
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
        env.start()
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


def test_unmapped_and_ignored_is_never_audited_as_a_denial():
    # With the map the daemon is not asked; when it is asked anyway (no
    # trusted map), it is told that the module lets the service through.
    env = shipped_env()
    try:
        env.start()
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
        env.start()
        service_map = os.path.join(os.path.dirname(env.sock), SERVICE_MAP)

        def read_map():
            st = os.lstat(service_map)
            eq(st.st_uid, os.geteuid(), "owned by the daemon's user")
            eq(st.st_mode & 0o777, 0o644, "mode 0644")
            with open(service_map) as f:
                return f.read()

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
    finally:
        env.cleanup()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("1..0 # SKIP needs root and unshare (test user, private mount namespaces)")
        sys.exit(0)
    sys.exit(run_with_users(TESTS, (CAROL,)))
