#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The session store over time, through a real daemon and real libpam.

A reboot: sessions recorded in an earlier boot are closed and audited at
start, and never reach logind (a stand-in on a private bus) or a process,
even when their logind id and leader pid and start time now name a live
session of the new boot. The new boot is made for the daemon alone: it
runs in a private mount namespace where another id is bound over
/proc/sys/kernel/random/boot_id. Retention: sessions that ended more than
store.history_days ago are deleted in the background, others kept.
Listing: a user pages through a long history with the cursor, active
sessions first. A zero-length sessions.db stops the start. Needs root (the
test user tptest-hist, created and removed; mount namespaces).
"""
import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import (Env, PrivateLogind, check, config_text, eq, run_with_users,  # noqa: E402
                   trace_daemon, wait_for)

USER = "tptest-hist"
DAY = 86400
BOOT_ID = "/proc/sys/kernel/random/boot_id"


def desktop_conf(history_days=None, **keys):
    desk = {"services": ["tptest-desktop"], "max_refresh_tokens": 10}
    desk.update(keys)
    text = config_text(clients={"desktop": desk, "web": {"services": ["tptest-web"]}})
    if history_days is not None:
        text += f"store = {{ history_days = {history_days}; }};\n"
    return text


def this_boot():
    with open(BOOT_ID) as f:
        return f.read().strip()


def another_boot_wrapper(env):
    """Run the daemon as if in another boot: a private mount namespace with
    a fresh id bound over the kernel's boot_id."""
    fake = os.path.join(env.dir, "boot_id")
    with open(fake, "w") as f:
        f.write(f"{uuid.uuid4()}\n")
    return ("unshare", "--mount", "--propagation", "private", "sh", "-c",
            f'mount --bind "$0" {BOOT_ID} && exec "$@"', fake)


def store_path(env):
    return os.path.join(env.state, "sessions.db")


def session_id(report):
    return report["env"]["TOKENPOLICY_SESSION_ID"]


def plant(env, rows):
    """Write sessions straight into a stopped daemon's store: (id, user,
    client, state, created, ended) each; active ones of this boot, their
    refresh tokens good for another day."""
    import pwd
    uid = pwd.getpwnam(USER).pw_uid
    con = sqlite3.connect(store_path(env))
    has_boot = any(c[1] == "boot_id" for c in con.execute("PRAGMA table_info(sessions)"))
    with con:
        for sid, user, client, state, created, ended in rows:
            cols = ("id, user, uid, client, service, rhost, tty, leader_pid, logind_session, created, "
                    "refresh_expires, last_extended, last_used, ended, state, refresh_hash, leader_start")
            expires = int(time.time()) + DAY if state == 0 else created + 14 * DAY
            vals = [sid, user, uid, client, f"tptest-{client}", "", "", 0, "", created,
                    expires, created, created, ended, state, os.urandom(32), 0]
            if has_boot:
                cols += ", boot_id"
                vals.append(this_boot() if state == 0 else "")
            con.execute(f"INSERT INTO sessions ({cols}) VALUES ({', '.join('?' * len(vals))})", vals)
    con.close()


# -- a reboot -----------------------------------------------------------------

def test_sessions_of_an_earlier_boot_are_ghosts_never_targets():
    """After a reboot, logind numbers sessions from 1 again and a pid with
    its start time can come back: the stored session's ids now name a live
    session of someone else (here: logind session 42 and the still running
    process that signed in). Revoking, expiring or capping it must never
    reach them."""
    env = Env(desktop_conf(on_revoke="terminate", on_expiry="terminate"))
    bus = PrivateLogind(env.dir)
    try:
        bus.start("42:1")
        env.start(env={"DBUS_SYSTEM_BUS_ADDRESS": bus.address})
        proc, rep = env.sign_in_held("tptest-desktop", "root", pam_env=["XDG_SESSION_ID=42"])
        sid = session_id(rep)
        env.stop()

        env.start(env={"DBUS_SYSTEM_BUS_ADDRESS": bus.address}, wrapper=another_boot_wrapper(env))
        [s] = env.sessions("--all")
        eq((s["id"], s["state"]), (sid, "closed"), "closed at start")
        check("signed in during an earlier boot" in env.log_text(), "and audited")
        eq(env.sessions(), [], "no active session left")
        p = env.ctl("revoke", sid)
        eq(p.returncode, 1, f"nothing to revoke: {p.stdout} {p.stderr}")
        p = env.ctl("revoke", "--user", "root", check_rc=0)
        check("Revoked 0" in p.stdout + p.stderr, p.stdout)
        env.sign_in("tptest-desktop", "root")  # counts root's desktop sessions
        # Each of these acts before it answers: had anything been sent to
        # logind or the process, it would be there by now.
        calls = bus.calls()
        check(not any(c.endswith(" 42") for c in calls), f"logind was never asked about 42: {calls}")
        check(proc.poll() is None, "the process that matches the old leader was never signalled")
        enforced = [line for line in env.log_text().splitlines() if "enforce" in line and sid in line]
        eq(enforced, [], "nothing was enforced on it")
    finally:
        try:
            env.cleanup()
        finally:
            bus.close()


def test_sessions_of_this_boot_survive_a_restart():
    env = Env(desktop_conf())
    try:
        env.start()
        proc, rep = env.sign_in_held("tptest-desktop", "root")
        env.restart()
        [s] = env.sessions()
        eq((s["id"], s["state"]), (session_id(rep), "active"), "kept")
        check("earlier boot" not in env.log_text(), "nothing closed")
    finally:
        env.cleanup()


# -- retention ----------------------------------------------------------------

def test_ended_sessions_are_purged_after_history_days():
    env = Env(desktop_conf())  # the default: 30 days
    try:
        env.start()
        env.stop()
        now = int(time.time())
        rows = [(f"{i:032x}", USER, "desktop", 1 + i % 3, now - 60 * DAY, now - 40 * DAY - i)
                for i in range(1, 301)]                                        # due
        rows += [("a" * 32, USER, "desktop", 3, now - 60 * DAY, now - 20 * DAY),  # ended recently
                 ("b" * 32, USER, "desktop", 0, now - 60 * DAY, 0),               # active, old
                 ("c" * 32, USER, "web", 2, now - 25 * DAY, now - 24 * DAY)]
        plant(env, rows)
        env.start()
        check(wait_for(lambda: len(env.sessions("--all")) == 3, timeout=30),
              f"purged down to the kept ones: {len(env.sessions('--all'))} left")
        eq(sorted(s["id"][0] for s in env.sessions("--all")), ["a", "b", "c"], "what stays")
        check("deleted 300 session(s) that ended more than 30 day(s) ago" in env.log_text(),
              env.log_text()[-2000:])

        # A shorter retention applies from the next reload.
        env.write_conf(desktop_conf(history_days=21))
        env.ctl("reload", check_rc=0)
        check(wait_for(lambda: len(env.sessions("--all")) == 2, timeout=15), "the 24-day-old one went")
        eq(sorted(s["id"][0] for s in env.sessions("--all")), ["a", "b"], "what stays")
        eq(env.sessions()[0]["id"], "b" * 32, "active sessions are never purged")
    finally:
        env.cleanup()


# -- listing a long history ---------------------------------------------------

def pstr(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def list_call(sock, flags, after=None, client=""):
    """One LIST (type 15) on an open socket: (status, message, more, next, ids)."""
    if after is not None:
        flags |= 0x2
    payload = pstr("") + pstr(client) + struct.pack(">IBqQ", flags, *(after or (0, 0, 0)))
    sock.sendall(b"TP\x01\x0f" + struct.pack(">I", len(payload)) + payload)
    hdr = b""
    while len(hdr) < 8:
        chunk = sock.recv(8 - len(hdr))
        check(chunk, "connection closed")
        hdr += chunk
    eq(hdr[:4], b"TP\x01\x8f", "reply header")
    n = struct.unpack(">I", hdr[4:])[0]
    body = b""
    while len(body) < n:
        body += sock.recv(n - len(body))
    status = body[0]
    mlen = struct.unpack(">H", body[1:3])[0]
    message = body[3:3 + mlen].decode()
    if status != 0:
        return status, message, None, None, None
    pos = 3 + mlen
    more, state, created, seq, count = struct.unpack(">BBqQI", body[pos:pos + 22])
    pos += 22
    ids = []
    for _ in range(count):
        slen = struct.unpack(">H", body[pos:pos + 2])[0]
        ids.append(body[pos + 2:pos + 2 + slen].decode())
        pos += 2 + slen
        for field in ("user", "u32", "client", "service", "rhost", "tty", "u32", "i64", "i64",
                      "i64", "i64", "i64", "u8"):
            if field == "u32":
                pos += 4
            elif field == "i64":
                pos += 8
            elif field == "u8":
                pos += 1
            else:
                pos += 2 + struct.unpack(">H", body[pos:pos + 2])[0]
    for _ in range(count):  # the host that runs each session, in the same order
        pos += 2 + struct.unpack(">H", body[pos:pos + 2])[0]
    eq(pos, len(body), "whole reply read")
    return status, message, more, (state, created, seq), ids


def as_user(fn):
    """Run fn() in a child process with USER's uid (the daemon sees the
    peer's SO_PEERCRED); returns what fn returns, through a pipe."""
    import pwd
    pw = pwd.getpwnam(USER)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            out = json.dumps(fn())
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out, code = json.dumps({"error": repr(e)}), 1
        os.write(w, out.encode())
        os._exit(code)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    result = json.loads(data)
    check(status == 0, f"as {USER}: {result}")
    return result


def test_a_user_pages_through_a_long_history():
    env = Env(desktop_conf())
    try:
        env.start()
        env.stop()
        now = int(time.time())
        ended = [(f"e{i:031x}", USER, "desktop", 3, now - 20 * DAY + i, now - 20 * DAY + i + 60)
                 for i in range(3000)]
        web = [("f" * 31 + str(i), USER, "web", 1, now - 10 * DAY + i, now - 10 * DAY + i + 5)
               for i in range(2)]
        active = [(f"a{i:031x}", USER, "desktop", 0, now - 5 * DAY + i, 0) for i in range(2)]
        plant(env, ended + web + active)
        env.start()

        # Active first, then revoked, then closed; each oldest first.
        want = [r[0] for r in active] + [r[0] for r in web] + [r[0] for r in ended]
        got = env.sessions("--all", "--limit", "40", user=USER)
        eq([s["id"] for s in got], want[:40], "the first 40, in order")

        def walk():
            pages, ids, after, empty = 0, [], None, 0
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(env.sock)
                s.settimeout(10)
                while True:
                    status, message, more, nxt, page = list_call(s, 0x1, after)
                    if status != 0:
                        return {"status": status, "message": message}
                    pages += 1
                    ids += page
                    empty += not page
                    if not more:
                        return {"pages": pages, "ids": ids}
                    after = nxt
                    time.sleep(0.025)  # within the per-uid request rate

        out = as_user(walk)
        eq(out.get("ids"), want, f"every session once, in order ({out.get('pages')} pages)")
        eq(out["pages"], -(-len(want) // 32), "full pages of 32")

        # A filter few sessions match: requests look at a bounded number of
        # sessions each, and still find them all.
        def web_only():
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(env.sock)
                s.settimeout(10)
                ids, after, pages = [], None, 0
                while True:
                    status, message, more, nxt, page = list_call(s, 0x1, after, client="web")
                    pages += 1
                    ids += page
                    if not more:
                        return {"ids": ids, "pages": pages}
                    after = nxt

        out = as_user(web_only)
        eq(out["ids"], [r[0] for r in web], "the two web sessions")
        check(out["pages"] >= 3, f"more than one bounded look over 3004 sessions: {out['pages']}")
        eq([s["id"] for s in env.sessions("--all", "--client", "web", user=USER)], [r[0] for r in web],
           "tokenpolicyctl follows the cursor over pages with nothing in them")

        # A cursor the daemon never gave is refused, the connection kept.
        def forged():
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(env.sock)
                s.settimeout(10)
                bad = list_call(s, 0x1, (0, 0, 1 << 63))
                good = list_call(s, 0x1)
                return [bad[0], bad[1], good[0]]

        eq(as_user(forged), [5, "The listing cursor is not one tokenpolicyd gave.", 0], "bad-request, then served")
        p = env.ctl("sessions", "--limit", "0", user=USER)
        eq(p.returncode, 2, "--limit 0 is a usage error")
    finally:
        env.cleanup()


# -- durability ---------------------------------------------------------------


def traced(env, action):
    """The syncs, WAL writes and replies of the daemon while action() runs,
    in order: ("sync", path), ("write", path) or ("send", line)."""
    events = []
    for line in trace_daemon(env, "trace=fsync,fdatasync,sendto,pwrite64,write", action):
        if line.startswith(("fdatasync(", "fsync(")):
            events.append(("sync", line[line.index("<") + 1:line.index(">")]))
        elif line.startswith(("pwrite64(", "write(")) and "-wal>" in line:
            events.append(("write", line[line.index("<") + 1:line.index(">")]))
        elif line.startswith("sendto(") and ", NULL, 0)" in line:  # a reply, not the journal
            events.append(("send", line))
    return events


def test_a_sign_in_is_synced_before_its_reply_and_a_sign_out_does_not_wait():
    """OPEN: the write-ahead log is synced before the reply leaves. CLOSE:
    no sync at all (a lost sign-out is reaped as a ghost), yet a SIGKILL
    right after it loses nothing, since the write reached the kernel. Each
    writes its transaction's WAL frames in one call."""
    env = Env(desktop_conf())
    try:
        env.start()
        wal = store_path(env) + "-wal"
        held = {}

        def sign_in():
            held["proc"], held["rep"] = env.sign_in_held("tptest-desktop", USER)
        events = traced(env, sign_in)
        syncs = [i for i, e in enumerate(events) if e == ("sync", wal)]
        sends = [i for i, e in enumerate(events) if e[0] == "send"]
        check(syncs, f"the sign-in synced the WAL: {events}")
        # The account check's reply needs no sync; the sign-in's (the
        # second reply) comes after one.
        check(len(sends) >= 2 and syncs[0] < sends[1], f"the sign-in's reply followed the sync: {events}")
        eq([e for e in events if e[0] == "write"], [("write", wal)], "the sign-in wrote the WAL in one call")

        events = traced(env, lambda: env.release(held["proc"]))
        eq([e for e in events if e[0] == "sync"], [], f"the sign-out synced nothing: {events}")
        eq([e for e in events if e[0] == "write"], [("write", wal)], "the sign-out wrote the WAL in one call")
        check(any(e[0] == "send" for e in events), f"the sign-out was answered: {events}")

        env.stop(signal.SIGKILL)
        env.start()
        [s] = env.sessions("--all", "--user", USER)
        eq((s["id"], s["state"]), (session_id(held["rep"]), "closed"), "the sign-out survived a SIGKILL")
    finally:
        env.cleanup()


# -- a damaged store ----------------------------------------------------------


def test_a_large_store_is_revalidated_a_page_at_a_time():
    """6,000 active sessions of 600 accounts that no longer exist, and one
    of a real account: the daemon starts, and its re-validation pass goes
    on from tick to tick (beyond the 4,096 done at start) until every one
    of the gone accounts' sessions is revoked; the real one's stays."""
    env = Env(desktop_conf())
    try:
        env.start()
        env.stop()
        now = int(time.time())
        gone = [(f"g{i:031x}", f"tptestgone{i // 10:03d}", "desktop", 0, now - DAY + i, 0) for i in range(6000)]
        mine = [(f"m{0:031x}", USER, "desktop", 0, now - 10, 0)]
        plant(env, gone + mine)
        env.start()

        def active_left():
            con = sqlite3.connect(store_path(env))
            try:
                return con.execute("SELECT count(*) FROM sessions WHERE state = 0").fetchone()[0]
            finally:
                con.close()
        # The start did the first 4,096 and did not wait for the rest (a
        # page of 256 a second: eight seconds of ticks remain).
        left = active_left()
        check(1 < left <= 6001 - 4096, f"the start did part of the pass, not all of it ({left} active)")
        check(wait_for(lambda: active_left() == 1, timeout=120),
              f"every gone account's session revoked ({active_left()} active)")
        eq([s["id"] for s in env.sessions("--user", USER)], [mine[0][0]], "the real account's stays")
        log = env.log_text()
        eq(log.count("does not exist: revoked its 10 running session(s)"), 600, "each account once, with its count")
    finally:
        env.cleanup()

def test_an_empty_store_is_refused():
    env = Env(desktop_conf())
    try:
        env.start()
        env.sign_in("tptest-desktop", "root")
        env.stop()
        # What a failed restore or a bad copy leaves: the file, empty.
        os.truncate(store_path(env), 0)
        for name in ("sessions.db-wal", "sessions.db-shm"):
            if os.path.exists(os.path.join(env.state, name)):
                os.unlink(os.path.join(env.state, name))
        proc = env.start(wait=False)
        check(wait_for(lambda: proc.poll() is not None, timeout=20), "the daemon stopped")
        eq(proc.returncode, 1, "exit status")
        env.proc = None
        env.logf.close()
        log = env.log_text()
        check("is empty (0 bytes): every session and cap it held is lost" in log, log[-1000:])
        check(not os.path.exists(env.sock), "never listened")
        eq(os.path.getsize(store_path(env)), 0, "left as it was")

        # Removed by the administrator: a new, empty store.
        os.unlink(store_path(env))
        env.start()
        eq(env.sessions("--all"), [], "a new store")
    finally:
        env.cleanup()


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    sys.exit(run_with_users(TESTS, (USER,)))
