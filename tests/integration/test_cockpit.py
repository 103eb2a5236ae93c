#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Cockpit: web sign-ins under the policy, and the Token policy page, in a
real browser.

A real cockpit-ws (Debian's cockpit-ws, run directly as Cockpit's own test
suite does when systemd is not PID 1: `cockpit-ws --no-tls --port N
--address 127.0.0.1`) authenticates through the real cockpit-session and
the PAM service file /etc/pam.d/cockpit, which holds pam_unix and
pam_tokenpolicy pointed at a private tokenpolicyd for the run (the file is
put back afterwards). Headless Chromium, driven by Selenium through
chromedriver, signs in as two users made for the run: tptest-cpadmin (sudo,
so Cockpit's administrative access works) and tptest-cpuser (no sudo). The
page is the tree's cockpit/tokenpolicy, linked into the users'
~/.local/share/cockpit, with an override manifest naming the build's
tokenpolicyctl, the private socket and configuration file.

Shows: with web access off the login page shows the module's message and no
session exists; at the cap the next web sign-in ends the oldest browser
session (its cockpit-session and bridge exit, its browser shows it is
disconnected) and leaves desktop and ssh sessions alone; the bridge has the
session's access token, which verifies; every control of the page changes
the file (comments kept) and the policy in force; an out-of-range value
shows its error beside the field and changes nothing; ending a session from
the page ends its process; an ordinary user can change nothing (the page
and the daemon both refuse) but may end their own sessions. Screenshots go
to B/test-output/cockpit/. Needs root.
"""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import (BUILD, CTL, MODULE, ROOT, Env, check, config_text, eq, run_tests,  # noqa: E402
                   sanitizer_runtimes, wait_for)

ADMIN, USER = "tptest-cpadmin", "tptest-cpuser"
PASSWORD = "Tp-test-Cockpit-1"
PAM_FILE = "/etc/pam.d/cockpit"
SUDOERS = "/etc/sudoers.d/tptest-cockpit"
COCKPIT_WS = "/usr/lib/cockpit/cockpit-ws"
COCKPIT_SESSION = "/usr/lib/cockpit/cockpit-session"
PAGE = os.path.join(ROOT, "cockpit", "tokenpolicy")
SHOTS = os.path.join(BUILD, "test-output", "cockpit")
HEADER = """# tokenpolicy.conf for the Cockpit tests.
# Comments like this one must survive every change made from the page.
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def policy_conf():
    return HEADER + config_text(clients={
        "desktop": {"services": ["tptest-desktop"]},
        "web": {"services": ["cockpit", "tptest-web"]},
        "mobile": {"services": ["tptest-mobile"]},
        "ssh": {"services": ["tptest-sshd"]},
    }, defaults={"max_refresh_tokens": 20})


class Rig:
    """The daemon, the PAM file, the users, cockpit-ws and one browser."""

    def __init__(self):
        self.env = Env(policy_conf(), faketime=False)
        self.san_dir = os.path.join(self.env.dir, "sanitizer")
        self.env.start()
        self.pam_backup = None
        self.ws = None
        self.driver = None
        self.users = []
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        os.makedirs(SHOTS, exist_ok=True)

    def setup(self):
        for u in (ADMIN, USER):
            subprocess.run(["userdel", "-r", u], capture_output=True)
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", u], check=True)
            self.users.append(u)
            subprocess.run(["chpasswd"], input=f"{u}:{PASSWORD}\n", text=True, check=True)
            home = os.path.expanduser(f"~{u}")
            for d in (".local/share/cockpit", ".config/cockpit"):
                os.makedirs(os.path.join(home, d), exist_ok=True)
            os.symlink(PAGE, os.path.join(home, ".local/share/cockpit/tokenpolicy"))
            with open(os.path.join(home, ".config/cockpit/tokenpolicy.override.json"), "w") as f:
                json.dump({"config": {"tokenpolicyctl": CTL, "socket": self.env.sock,
                                      "config_file": self.env.conf, "refresh_seconds": 1}}, f)
            subprocess.run(["chown", "-R", f"{u}:{u}", home], check=True)
        with open(SUDOERS, "w") as f:
            f.write(f"{ADMIN} ALL=(ALL:ALL) ALL\n")
        os.chmod(SUDOERS, 0o440)
        # Others may read the configuration file (the page shows it to all).
        os.chmod(self.env.conf, 0o644)
        with open(PAM_FILE) as f:
            self.pam_backup = f.read()
        opts = f"socket={self.env.sock} timeout=3000"
        with open(PAM_FILE, "w") as f:
            f.write("# Written by tokenpolicy's test_cockpit.py for its run; put back after it.\n"
                    "auth     required pam_unix.so\n"
                    "account  required pam_unix.so\n"
                    f"account  required {MODULE} {opts}\n"
                    "session  required pam_unix.so\n"
                    f"session  required {MODULE} {opts}\n")
        confdir = os.path.join(self.env.dir, "xdg", "cockpit")
        os.makedirs(confdir)
        conf = "[WebService]\nAllowUnencrypted = true\nLoginTitle = tokenpolicy test\n"
        # A sanitizer build's module is dlopened by cockpit-session: it is
        # run through a wrapper that preloads the runtimes (cockpit-ws
        # itself does not serve with them preloaded), and their reports go
        # to files checked at cleanup.
        runtimes = sanitizer_runtimes(MODULE)
        if runtimes:
            os.makedirs(self.san_dir)
            os.chmod(self.san_dir, 0o1777)
            log = os.path.join(self.san_dir, "report")
            # ASan resolves its crypt_r() interceptor at start: libcrypt,
            # which pam_unix would bring in only when dlopened, must be
            # there by then or the interceptor calls a null pointer.
            crypt = ["libcrypt.so.1"]  # a soname: the loader finds it
            wrapper = os.path.join(self.env.dir, "cockpit-session-sanitized")
            with open(wrapper, "w") as f:
                f.write("#!/bin/sh\n"
                        f"export LD_PRELOAD='{' '.join(runtimes + crypt)}'\n"
                        f"export ASAN_OPTIONS='detect_leaks=0:log_path={log}'\n"
                        f"export UBSAN_OPTIONS='print_stacktrace=1:log_path={log}'\n"
                        f"exec {COCKPIT_SESSION} \"$@\"\n")
            os.chmod(wrapper, 0o755)
            conf += f"[basic]\nCommand = {wrapper}\n"
        with open(os.path.join(confdir, "cockpit.conf"), "w") as f:
            f.write(conf)
        wsenv = dict(os.environ, XDG_CONFIG_DIRS=os.path.dirname(confdir))
        self.wslog = open(os.path.join(self.env.dir, "cockpit-ws.log"), "wb")
        self.ws = subprocess.Popen([COCKPIT_WS, "--no-tls", "--port", str(self.port), "--address", "127.0.0.1"],
                                   stdout=self.wslog, stderr=self.wslog, env=wsenv)
        check(wait_for(self._listening, timeout=20), "cockpit-ws listens")
        self.driver = self._browser()

    def _listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    @staticmethod
    def _browser():
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1500,1100", "--user-data-dir=" + os.path.join("/tmp", f"tptest-chromium-{os.getpid()}")):
            opts.add_argument(a)
        return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)

    def cleanup(self):
        if self.driver:
            try:
                self.driver.quit()
            except Exception:  # noqa: BLE001 - the browser may be gone already
                pass
            shutil.rmtree(os.path.join("/tmp", f"tptest-chromium-{os.getpid()}"), ignore_errors=True)
        if self.ws:
            self.ws.terminate()
            try:
                self.ws.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.ws.kill()
                self.ws.wait()
            self.wslog.close()
        if self.pam_backup is not None:
            with open(PAM_FILE, "w") as f:
                f.write(self.pam_backup)
        if os.path.exists(SUDOERS):
            os.unlink(SUDOERS)
        # Cockpit sessions of the users end with cockpit-ws; wait for their
        # processes so that userdel finds none.
        for u in self.users:
            wait_for(lambda: subprocess.run(["pgrep", "-u", u], capture_output=True).returncode != 0, 15)
            subprocess.run(["pkill", "-KILL", "-u", u], capture_output=True)
            subprocess.run(["userdel", "-r", u], capture_output=True)
        reports = ""
        for path in sorted(glob.glob(os.path.join(self.san_dir, "report*"))):
            with open(path, errors="replace") as f:
                reports += f.read()
        self.env.cleanup()
        check(not reports, "sanitizer reports from cockpit-session:\n" + reports[-3000:])

    # -- helpers --------------------------------------------------------
    def shot(self, name):
        self.driver.save_screenshot(os.path.join(SHOTS, name + ".png"))

    def web_sessions(self, user=None):
        return [s for s in self.env.sessions() if s["client"] == "web" and (user is None or s["user"] == user)]

    def end_all(self):
        """Revoke every session and wait until the Cockpit processes of the
        users are gone, so that each test starts with none."""
        for u in (ADMIN, USER):
            self.env.ctl("revoke", "--user", u)
        for u in (ADMIN, USER):
            wait_for(lambda: not bridge_pids(u), 20)

    def login(self, user, host="127.0.0.1", admin=False, expect_ok=True):
        from selenium.webdriver.common.by import By
        d = self.driver
        base = f"http://{host}:{self.port}"
        if host == "127.0.0.1":
            self.logout()  # whatever an earlier test left signed in
        d.get(base + "/")
        check(wait_for(lambda: displayed(d, "login-user-input"), 20), "the login page")
        # Cockpit's login page asks the bridge for administrative access
        # when the browser remembers it was chosen for this user.
        d.execute_script("localStorage.setItem(arguments[0], arguments[1])", f"superuser:{user}",
                         "any" if admin else "none")
        d.find_element(By.ID, "login-user-input").send_keys(user)
        d.find_element(By.ID, "login-password-input").send_keys(PASSWORD)
        d.find_element(By.ID, "login-button").click()
        if expect_ok:
            check(wait_for(lambda: not displayed(d, "login-user-input"), 30), f"{user} signed in")
        return base

    def open_page(self, host="127.0.0.1", admin=None):
        from selenium.webdriver.common.by import By
        d = self.driver
        d.get(f"http://{host}:{self.port}/cockpit/@localhost/tokenpolicy/index.html")

        def ready():
            return (d.execute_script("return document.body && document.body.dataset.loaded") == "yes"
                    and (admin is None or d.execute_script("return document.body.dataset.admin")
                         == ("yes" if admin else "no")))
        check(wait_for(ready, 30), "the page loaded the policy: " + d.find_element(By.TAG_NAME, "body").text[:500])
        # cockpit.js reloads a page whose administrative access changes
        # after it loaded (the login's sudo bridge may come up late): wait
        # until a reload no longer happens.
        for _ in range(10):
            d.execute_script("window.tptestMark = 1")
            time.sleep(1)
            if d.execute_script("return window.tptestMark === 1") and ready():
                return
            check(wait_for(ready, 30), "the page loaded again")
        raise AssertionError("the page keeps reloading")

    def logout(self):
        """Back to one tab with no cookie of any host: the next sign-in
        starts from the login page."""
        d = self.driver
        first = d.window_handles[0]
        for h in d.window_handles[1:]:
            d.switch_to.window(h)
            d.close()
        d.switch_to.window(first)
        d.execute_cdp_cmd("Network.clearBrowserCookies", {})
        d.get("about:blank")


def displayed(d, element_id):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    try:
        return d.find_element(By.ID, element_id).is_displayed()
    except (StaleElementReferenceException, NoSuchElementException):
        return False


def bridge_pids(user):
    p = subprocess.run(["pgrep", "-u", user, "-x", "cockpit-bridge"], capture_output=True, text=True)
    return [int(x) for x in p.stdout.split()]


def session_pids():
    p = subprocess.run(["pgrep", "-x", "cockpit-session"], capture_output=True, text=True)
    return {int(x) for x in p.stdout.split()}


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


RIG = None


# ---- 1. web sign-ins ------------------------------------------------------

def test_web_login_carries_a_verifiable_token():
    rig = RIG
    rig.end_all()
    rig.login(USER)
    check(wait_for(lambda: rig.web_sessions(USER), 20), "a web session for the browser's sign-in")
    s = rig.web_sessions(USER)[0]
    eq((s["service"], s["client"]), ("cockpit", "web"), "tagged web through the cockpit service")
    check(wait_for(lambda: bridge_pids(USER), 20), "the user's cockpit-bridge runs")
    with open(f"/proc/{bridge_pids(USER)[0]}/environ", "rb") as f:
        environ = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    eq(environ.get(b"TOKENPOLICY_SESSION_ID", b"").decode(), s["id"], "the bridge knows its session")
    eq(environ.get(b"TOKENPOLICY_CLIENT", b"").decode(), "web", "client in the bridge's environment")
    token = environ.get(b"TOKENPOLICY_ACCESS_TOKEN", b"").decode()
    check(token.count(".") == 2, "an access token in the bridge's environment")
    p = subprocess.run([CTL, "--socket", rig.env.sock, "verify", token, "--state-dir", rig.env.state],
                       capture_output=True, text=True)
    eq(p.returncode, 0, f"the token verifies: {p.stdout}{p.stderr}")
    check(f"sid: {s['id']}" in p.stdout or s["id"] in p.stdout, p.stdout)
    check(USER in p.stdout, p.stdout)
    rig.shot("01-shell-signed-in")
    rig.logout()


def test_web_access_off_shows_the_message():
    from selenium.webdriver.common.by import By
    rig = RIG
    rig.end_all()
    rig.env.ctl("config", "--file", rig.env.conf, "set", "clients.web.access", "false", check_rc=0)
    try:
        before = len([s for s in rig.env.sessions("--all") if s["user"] == USER])
        rig.login(USER, expect_ok=False)
        d = rig.driver
        msg = "Sign-in from web clients is disabled by your administrator."
        check(wait_for(lambda: msg in d.find_element(By.ID, "login-error-message").text, 20),
              "the login page shows the module's message: " + d.find_element(By.TAG_NAME, "body").text[:300])
        rig.shot("02-login-web-disabled")
        eq(rig.web_sessions(USER), [], "no active web session")
        eq(len([s for s in rig.env.sessions("--all") if s["user"] == USER]), before, "no session at all")
        eq(bridge_pids(USER), [], "no bridge started")
    finally:
        rig.env.ctl("config", "--file", rig.env.conf, "unset", "clients.web.access", check_rc=0)
        rig.logout()


def test_cap_signs_out_the_oldest_browser():
    from selenium.webdriver.common.by import By
    rig = RIG
    rig.end_all()
    rig.env.ctl("config", "--file", rig.env.conf, "set", "clients.web.max_refresh_tokens", "10", check_rc=0)
    d = rig.driver
    try:
        # The oldest web session: a browser at 127.0.0.1.
        rig.login(USER)
        check(wait_for(lambda: len(rig.web_sessions(USER)) == 1, 20), "first browser session")
        oldest = rig.web_sessions(USER)[0]
        check(wait_for(lambda: alive(oldest["leader_pid"]), 5), "its cockpit-session runs")
        first_tab = d.current_window_handle
        # Desktop and ssh sessions of the same user, and nine more web
        # sign-ins through PAM: ten web sessions, the cap.
        desktop = rig.env.sign_in("tptest-desktop", USER)
        ssh = rig.env.sign_in("tptest-sshd", USER)
        for _ in range(9):
            rig.env.sign_in("tptest-web", USER)
        eq(len(rig.web_sessions(USER)), 10, "ten web sessions")
        check(alive(oldest["leader_pid"]), "at the cap, the oldest still runs")
        # The eleventh: a second browser sign-in, in another tab and on
        # another host name so that the first tab keeps its own cookie.
        d.switch_to.new_window("tab")
        rig.login(USER, host="localhost")
        check(wait_for(lambda: oldest["id"] not in [s["id"] for s in rig.web_sessions(USER)], 20),
              "the oldest web session is revoked")
        eq(len(rig.web_sessions(USER)), 10, "ten web sessions after the eviction")
        check(wait_for(lambda: not alive(oldest["leader_pid"]), 30),
              "the oldest cockpit-session ended: " + rig.env.log_text()[-3000:]
              + subprocess.run(["ps", "-eo", "pid,ppid,user,stat,args"], capture_output=True, text=True).stdout)
        d.switch_to.window(first_tab)
        check(wait_for(lambda: "disconnected" in d.find_element(By.TAG_NAME, "body").text.lower(), 30),
              "the first browser shows it is disconnected: " + d.find_element(By.TAG_NAME, "body").text[:300])
        rig.shot("03-oldest-browser-disconnected")
        ids = [s["id"] for s in rig.env.sessions("--user", USER)]
        for name, rep in (("desktop", desktop), ("ssh", ssh)):
            check(rep["env"]["TOKENPOLICY_SESSION_ID"] in ids, f"the {name} session is left alone")
    finally:
        rig.env.ctl("config", "--file", rig.env.conf, "unset", "clients.web.max_refresh_tokens", check_rc=0)
        for proc in rig.env.held:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        rig.env.held.clear()
        rig.logout()


# ---- 2. the page -----------------------------------------------------------

def read_conf(rig):
    with open(rig.env.conf) as f:
        return f.read()


def policy(rig):
    return json.loads(rig.env.ctl("policy", "--json", check_rc=0).stdout)


def client_of(p, name):
    return next(c for c in p["clients"] if c["name"] == name)


def field(rig, key):
    from selenium.webdriver.common.by import By
    return rig.driver.find_element(By.CSS_SELECTOR, f'[data-key="{key}"]')


def set_field(rig, key, value):
    from selenium.webdriver.support.ui import Select
    e = field(rig, key)
    if e.tag_name == "select":
        Select(e).select_by_value(value)
    elif e.get_attribute("type") == "checkbox":
        if e.is_selected() != (value == "true"):
            e.click()
    else:
        e.clear()
        e.send_keys(value)


def text_of(rig, element_id):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    try:
        return rig.driver.find_element(By.ID, element_id).text
    except (StaleElementReferenceException, NoSuchElementException):
        return ""


def click(rig, css, timeout=15):
    """Click what css finds; the sessions table is redrawn every second,
    so a button found just before may be replaced: find it again."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def attempt():
        try:
            rig.driver.find_element(By.CSS_SELECTOR, css).click()
            return True
        except (StaleElementReferenceException, NoSuchElementException):
            return False
    check(wait_for(attempt, timeout, step=0.1), f"clicked {css}")


def cell_builtin_shown(rig, key):
    from selenium.webdriver.common.by import By
    cell = field(rig, key).find_element(By.XPATH, "..")
    return cell.find_element(By.CLASS_NAME, "builtin").is_displayed()


def save_and_wait(rig):
    from selenium.webdriver.common.by import By
    d = rig.driver
    d.find_element(By.ID, "save").click()
    check(wait_for(lambda: d.find_element(By.ID, "save-status").get_attribute("class") in ("ok", "failed"), 30),
          "the save finished: " + d.find_element(By.ID, "save-status").text)
    return d.find_element(By.ID, "save-status")


def test_menu_entry_and_every_control():
    from selenium.webdriver.common.by import By
    rig = RIG
    rig.end_all()
    rig.login(ADMIN, admin=True)
    d = rig.driver
    check(wait_for(lambda: any(a.text.strip() == "Token policy" for a in d.find_elements(By.CSS_SELECTOR, "nav a")), 30),
          "a Token policy entry in Cockpit's menu")
    rig.open_page(admin=True)
    before = read_conf(rig)
    changes = {
        "clients.mobile.access": "false",
        "unknown_client": "ssh",
        "defaults.refresh_token_ttl_hours": "48",
        "clients.web.refresh_token_ttl_hours": "1440",
        "clients.web.access_token_ttl_minutes": "360",
        "clients.web.auto_extend_refresh_token": "true",
        "clients.web.max_refresh_tokens": "30",
        "clients.web.evict": "least_recently_used",
        "clients.web.on_expiry": "lock",
        "clients.web.on_revoke": "none",
    }
    for k, v in changes.items():
        set_field(rig, k, v)
    check(not cell_builtin_shown(rig, "clients.web.max_refresh_tokens"), "no built-in value while the policy is on")
    rig.shot("04-page-edited")
    st = save_and_wait(rig)
    eq(st.get_attribute("class"), "ok", "saved: " + st.text)
    check("next sign-in" in st.text, st.text)
    rig.shot("05-page-saved")
    text = read_conf(rig)
    for line in HEADER.splitlines():
        check(line in text, f"comment kept: {line}")
    for k, v in changes.items():
        got = rig.env.ctl("config", "--file", rig.env.conf, "get", k, check_rc=0).stdout.strip()
        eq(got, v, f"{k} in the file")
    p = policy(rig)
    web = client_of(p, "web")
    eq(client_of(p, "mobile")["access"], False, "mobile access in force")
    eq(p["unknown_client"], "ssh", "unknown_client in force")
    eq(web["effective"], {"auto_extend_refresh_token": True, "refresh_token_ttl_hours": 1440,
                          "access_token_ttl_minutes": 360, "max_refresh_tokens": 30}, "web's token values")
    eq((web["evict"], web["on_expiry"], web["on_revoke"]), ("least_recently_used", "lock", "none"), "web's actions")
    eq(client_of(p, "ssh")["effective"]["refresh_token_ttl_hours"], 48, "the default reaches ssh")
    # Lines that were not changed are as they were.
    untouched = [l for l in before.splitlines() if "web" not in l and "mobile" not in l
                 and "unknown_client" not in l and "defaults" not in l and "max_refresh_tokens = 20" not in l]
    for line in untouched:
        check(line in text, f"unchanged line kept: {line!r}")

    # The custom policy switch: off shows the values inactive with the
    # built-ins, and the built-ins apply.
    rig.open_page(admin=True)
    set_field(rig, "custom_token_policy", "false")
    check(d.find_element(By.ID, "inactive-note").is_displayed(), "inactive note shown")
    cell = field(rig, "clients.web.max_refresh_tokens").find_element(By.XPATH, "..")
    check("inactive" in cell.get_attribute("class"), "the value is shown inactive")
    check("built-in: 20" in cell.text, "with the built-in value: " + cell.text)
    rig.shot("06-custom-policy-off")
    eq(save_and_wait(rig).get_attribute("class"), "ok", "saved")
    p = policy(rig)
    eq(p["custom_token_policy"], False, "custom policy off in force")
    web = client_of(p, "web")
    eq((web["inactive"], web["configured"]["max_refresh_tokens"], web["effective"]["max_refresh_tokens"]),
       (True, 30, 20), "configured kept, built-in applies")
    rig.open_page(admin=True)
    check(d.find_element(By.ID, "inactive-note").is_displayed(), "still shown inactive after a reload")
    eq(field(rig, "clients.web.max_refresh_tokens").get_attribute("value"), "30", "the value stays visible")
    rig.logout()


def test_out_of_range_shows_its_error():
    from selenium.webdriver.common.by import By
    rig = RIG
    rig.login(ADMIN, admin=True)
    rig.open_page(admin=True)
    d = rig.driver
    before, pol = read_conf(rig), policy(rig)
    set_field(rig, "clients.ssh.max_refresh_tokens", "101")
    set_field(rig, "clients.desktop.access_token_ttl_minutes", "359")
    set_field(rig, "clients.desktop.refresh_token_ttl_hours", "30")  # valid, but not saved alone
    st = save_and_wait(rig)
    eq(st.get_attribute("class"), "failed", "not saved")
    err = d.find_element(By.ID, "err-clients.ssh.max_refresh_tokens").text
    check("out of range (10..100)" in err, "the error beside the field: " + err)
    err = d.find_element(By.ID, "err-clients.desktop.access_token_ttl_minutes").text
    check("out of range (360..1080)" in err, "the error beside the other field: " + err)
    eq(d.find_element(By.ID, "err-clients.desktop.refresh_token_ttl_hours").text, "", "no error on a good field")
    rig.shot("07-out-of-range")
    eq(read_conf(rig), before, "the file is unchanged")
    eq(policy(rig), pol, "the policy is unchanged")
    rig.logout()


def test_revoke_from_the_page_ends_the_process():
    from selenium.webdriver.common.by import By
    rig = RIG
    rig.end_all()
    proc, rep = rig.env.sign_in_held("tptest-desktop", USER)
    sid = rep["env"]["TOKENPOLICY_SESSION_ID"]
    rig.login(ADMIN, admin=True)
    rig.open_page(admin=True)
    d = rig.driver
    d.find_element(By.ID, "filter-user").send_keys(USER)
    check(wait_for(lambda: d.find_elements(By.ID, "session-" + sid), 20), "the session is listed")
    check(wait_for(lambda: "tptest-desktop" in text_of(rig, "session-" + sid), 10), "the row shows the service")
    click(rig, f'[data-action="{sid}"]')
    check(wait_for(lambda: d.find_elements(By.CSS_SELECTOR, f'[data-confirm="{sid}"]'), 10), "asks first")
    check(proc.poll() is None, "nothing ended before the confirmation")
    rig.shot("08-revoke-confirm")
    click(rig, f'[data-confirm="{sid}"]')
    check(wait_for(lambda: proc.poll() is not None, 30), "the session's process ended")
    check(wait_for(lambda: not d.find_elements(By.ID, "session-" + sid), 20), "the table refreshed without it")
    eq([s["state"] for s in rig.env.sessions("--all") if s["id"] == sid], ["revoked"], "revoked")
    rig.env.held.remove(proc) if proc in rig.env.held else None
    rig.logout()


def test_ordinary_user_changes_nothing():
    from selenium.webdriver.common.by import By
    rig = RIG
    rig.end_all()
    other_proc, other = rig.env.sign_in_held("tptest-desktop", ADMIN)
    own_proc, own = rig.env.sign_in_held("tptest-desktop", USER)
    rig.login(USER)
    rig.open_page(admin=False)
    d = rig.driver
    check(d.find_element(By.ID, "access-note").is_displayed(), "the page says why")
    check(not d.find_element(By.ID, "save").is_enabled(), "Save is disabled")
    check(not field(rig, "clients.web.max_refresh_tokens").is_enabled(), "fields are disabled")
    rig.shot("09-ordinary-user")
    before = read_conf(rig)
    # The daemon's side: tokenpolicyctl from the page's bridge, as the user.
    res = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const [ctl, sock, file] = [arguments[0], arguments[1], arguments[2]];
        const run = (args) => cockpit.spawn([ctl, "--socket", sock].concat(args), { err: "message" })
            .then(out => ({ ok: true, out }), ex => ({ ok: false, out: String(ex.message) }));
        Promise.all([run(["config", "--file", file, "set", "clients.web.max_refresh_tokens", "50"]),
                     run(["revoke", arguments[3]]), run(["reload"])]).then(done);
    """, CTL, rig.env.sock, rig.env.conf, other["env"]["TOKENPOLICY_SESSION_ID"])
    eq([r["ok"] for r in res], [False, False, False], f"refused: {res}")
    check("needs root" in res[0]["out"], res[0]["out"])
    eq(read_conf(rig), before, "the file is unchanged")
    check(other_proc.poll() is None, "the other user's session still runs")
    # Their own sessions: listed (and only those), and they may end them.
    own_sid = own["env"]["TOKENPOLICY_SESSION_ID"]
    check(wait_for(lambda: d.find_elements(By.ID, "session-" + own_sid), 20), "own session listed")
    check(not d.find_elements(By.ID, "session-" + other["env"]["TOKENPOLICY_SESSION_ID"]), "not others'")
    click(rig, f'[data-action="{own_sid}"]')
    click(rig, f'[data-confirm="{own_sid}"]')
    check(wait_for(lambda: own_proc.poll() is not None, 30), "own session ended from the page")
    rig.logout()


def main():
    global RIG
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (users, /etc/pam.d/cockpit, cockpit-ws)")
        return 0
    for path in (COCKPIT_WS, "/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.path.exists(path):
            print(f"1..0 # SKIP {path} missing (scripts/ensure-deps test installs it)")
            return 0
    from tplib import exclusive
    lock = exclusive("cockpit")  # noqa: F841 - one run at a time owns /etc/pam.d/cockpit
    RIG = Rig()
    try:
        RIG.setup()
        tests = [
            ("test_web_login_carries_a_verifiable_token", test_web_login_carries_a_verifiable_token),
            ("test_web_access_off_shows_the_message", test_web_access_off_shows_the_message),
            ("test_cap_signs_out_the_oldest_browser", test_cap_signs_out_the_oldest_browser),
            ("test_menu_entry_and_every_control", test_menu_entry_and_every_control),
            ("test_out_of_range_shows_its_error", test_out_of_range_shows_its_error),
            ("test_revoke_from_the_page_ends_the_process", test_revoke_from_the_page_ends_the_process),
            ("test_ordinary_user_changes_nothing", test_ordinary_user_changes_nothing),
        ]
        only = os.environ.get("TP_ONLY")  # one test by name, while working on it
        return run_tests([t for t in tests if not only or t[0] == only])
    finally:
        RIG.cleanup()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
