# SPDX-License-Identifier: BSD-3-Clause
"""Fleet mode when the database goes away: stopped, or there but silent.

A real PostgreSQL 15 (pglib.py), three real tokenpolicyd processes (three
hosts) and real libpam (tp-pam). Desktop sign-ins say
on_store_unreachable = "local", ssh sign-ins "deny". The database is
stopped (pg_ctl stop) or frozen (SIGSTOP of the server and its backends,
so connections hang rather than fail) while the three hosts sign one user
in at once; then it comes back and each host uploads what it admitted.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import pglib  # noqa: E402
from tplib import TP_PAM, Env, check, config_text, eq, session_request, wait_for, TestFailure  # noqa: E402

USER = "tptestoutage"
CAP = 10
HOSTS = ("tptest-a", "tptest-b", "tptest-c")
REAUTH = 4  # PROTOCOL.md, message types
PG = None


def outage_conf(conninfo, host_id, **defaults):
    text = config_text(clients={
        "desktop": {"services": ["tptest-desktop"], "on_store_unreachable": "local"},
        "ssh": {"services": ["tptest-sshd"], "on_store_unreachable": "deny"},
    }, defaults={"max_refresh_tokens": CAP, "on_revoke": "terminate", **defaults})
    return text + (f'store = {{ backend = "postgresql"; conninfo = "{conninfo}"; }};\n'
                   f'host_id = "{host_id}";\n')


class Fleet:
    def __init__(self, conninfo_of=None):
        self.db = PG.new_database()
        self.hosts = {}
        try:
            for h in HOSTS:
                conninfo = conninfo_of(h, self.db) if conninfo_of else PG.conninfo(self.db)
                env = Env(outage_conf(conninfo, h))
                self.hosts[h] = env
                env.start()
        except Exception:
            self.cleanup()
            raise

    def status(self, h):
        return json.loads(self.hosts[h].ctl("status", "--json", check_rc=0).stdout)

    def rows(self):
        return PG.psql(f"SELECT id, host, state FROM tp_sessions WHERE user_name = '{USER}' "
                       "ORDER BY created, seq", db=self.db)

    def cleanup(self):
        errors = []
        for env in self.hosts.values():
            try:
                env.cleanup()
            except TestFailure as e:
                errors.append(str(e))
        if errors:
            raise TestFailure("\n".join(errors))


def ended(proc, timeout=15):
    return wait_for(lambda: proc.poll() is not None, timeout=timeout)


def outage(fleet, away, back, per_host=4, ssh_sent=False):
    """Sign USER in on every host at once while the database is away:
    ssh is refused with the reason, desktop admitted on each host up to
    the cap there. Then it comes back: every session admitted meanwhile
    is in the fleet's table, the cap holds, the evicted ones ended.
    ssh_sent: each host's ssh sign-in was sent to a database that held it
    unanswered (unless a pass of that host met the outage first); whether
    it lands now or landed already, it is closed there, never active."""
    # One session from before, online, on host A: the oldest of all.
    first_proc, first = fleet.hosts["tptest-a"].sign_in_held("tptest-desktop", USER)
    first_sid = first["env"]["TOKENPOLICY_SESSION_ID"]
    away()
    held, refused, errors, lock = [], [], [], threading.Lock()

    def sign_in(h):
        env = fleet.hosts[h]
        try:
            out = env.pam("tptest-sshd", USER, "acct", "open", "close")
            with lock:
                refused.append((h, out))
            for _ in range(per_host):
                proc, o = env.sign_in_held("tptest-desktop", USER)
                with lock:
                    held.append((h, proc, o["env"]["TOKENPOLICY_SESSION_ID"]))
        except TestFailure as e:
            errors.append(f"{h}: {e}")

    workers = [threading.Thread(target=sign_in, args=(h,)) for h in HOSTS]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    eq(errors, [], "every desktop sign-in was admitted while the database was away")
    eq(len(held), 3 * per_host, "all admitted")
    for h, out in refused:
        eq(out["results"][:2], ["PAM_SUCCESS", "PAM_SESSION_ERR"], f"ssh on {h} refused at open: {out}")
        check(any("on_store_unreachable" in e and "unreachable since" in e for e in out["errors"]),
              f"ssh on {h}: the refusal says why: {out['errors']}")
    for h in HOSTS:
        st = fleet.status(h)
        eq(st["store_connected"], False, f"{h}: status says not connected")
        check(st["store_offline_since"] > 0 and st["store_error"], f"{h}: since when and why: {st}")
        eq(st["unsynced_sessions"], per_host, f"{h}: its unsynced sessions")
        check("cannot be reached" in fleet.hosts[h].log_text(), f"{h}: the log says it is offline")
    # Requests that need no database are answered meanwhile.
    p = fleet.hosts["tptest-b"].ctl("policy", check_rc=0)
    check("desktop" in p.stdout, "policy answered while offline")
    a = fleet.hosts["tptest-a"]
    p = a.ctl("verify", first["env"]["TOKENPOLICY_ACCESS_TOKEN"], "--state-dir", a.state)
    eq(p.returncode, 0, f"a token verifies on its own while offline: {p.stdout} {p.stderr}")
    check(p.stdout.startswith("valid") and "session: not checked" in p.stderr and "unreachable since" in p.stderr,
          f"and says the session's state is not known: {p.stdout} {p.stderr}")

    # Listings say why they cannot answer.
    p = fleet.hosts["tptest-b"].ctl("sessions")
    check(p.returncode != 0 and "unreachable since" in p.stderr, f"sessions says why: {p.stderr}")

    back()
    check(wait_for(lambda: all(fleet.status(h)["unsynced_sessions"] == 0 and fleet.status(h)["store_connected"]
                               for h in HOSTS), timeout=30),
          f"every host uploaded: {[fleet.status(h) for h in HOSTS]}")
    rows = fleet.rows()
    ids = {r[0]: r for r in rows}
    for h, _, sid in held:
        check(sid in ids, f"session {sid} of {h} is in the fleet's table")
        eq(ids[sid][1], h, f"recorded on its host {h}")
    active = [r for r in rows if r[2] == "0"]
    eq(len(active), CAP, f"the fleet's cap holds once all are in: {rows}")
    check(first_sid not in {r[0] for r in active}, "the oldest session (signed in before) was signed out")
    if ssh_sent:
        ssh = PG.psql(f"SELECT host, state FROM tp_sessions WHERE user_name = '{USER}' AND client = 'ssh' "
                      "ORDER BY host", db=fleet.db)
        sent = [h for h in HOSTS if "was refused here" in fleet.hosts[h].log_text()]
        eq(ssh, [[h, "3"] for h in sent], "each refused ssh sign-in that was sent is closed in the database")
    check(ended(first_proc), "and its leader on host A ended")
    survivors = {r[0] for r in active}
    for h, proc, sid in held:
        if sid in survivors:
            check(proc.poll() is None, f"surviving session {sid} on {h} still runs")
        else:
            check(ended(proc), f"evicted session {sid} on {h}: its host ended it")
    check(wait_for(lambda: PG.psql("SELECT count(*) FROM tp_sessions WHERE owed", db=fleet.db)[0][0] == "0"),
          "each host settled what it owed")
    for h in HOSTS:
        check("answers again" in fleet.hosts[h].log_text(), f"{h}: the log says it is back")
    # And sign-ins go to the fleet again, under its cap.
    _, o = fleet.hosts["tptest-c"].sign_in_held("tptest-desktop", USER)
    check(o["env"]["TOKENPOLICY_SESSION_ID"] in {r[0] for r in fleet.rows() if r[2] == "0"}, "online again")


def test_database_stopped():
    fleet = Fleet()
    try:
        outage(fleet, PG.stop_server, PG.start_server)
    finally:
        fleet.cleanup()


def test_database_frozen():
    """SIGSTOP: connections hang. Each request is bounded by the store's
    deadline, not by the database: the refusal is the daemon's answer,
    not the module's timeout."""
    fleet = Fleet()
    try:
        outage(fleet, PG.pause, PG.resume, ssh_sent=True)
    finally:
        PG.resume()
        fleet.cleanup()


def test_started_while_unreachable():
    """A host that starts while the database is stopped (a laptop away
    from its network) serves local sign-ins and joins when it returns."""
    db = PG.new_database()
    PG.stop_server()
    env = Env(outage_conf(PG.conninfo(db), "tptest-a"))
    try:
        env.start()
        proc, o = env.sign_in_held("tptest-desktop", USER)
        sid = o["env"]["TOKENPOLICY_SESSION_ID"]
        PG.start_server()
        check(wait_for(lambda: json.loads(env.ctl("status", "--json", check_rc=0).stdout)["unsynced_sessions"] == 0,
                       timeout=30), "uploaded once it answers")
        eq(PG.psql(f"SELECT host, state FROM tp_sessions WHERE id = '{sid}'", db=db), [["tptest-a", "0"]],
           "the session is in the fleet's table, active")
        eq(PG.psql("SELECT count(*) FROM tp_hosts WHERE id = 'tptest-a'", db=db), [["1"]], "the host registered")
        env.release(proc)
        check(wait_for(lambda: PG.psql(f"SELECT state FROM tp_sessions WHERE id = '{sid}'", db=db) == [["3"]]),
              "its sign-out reached the fleet")
    finally:
        if not os.path.exists(os.path.join(PG.data, "postmaster.pid")):
            PG.start_server()
        env.cleanup()


def test_refused_upload_is_retried_quietly():
    """The database back but refusing the upload (the role lost INSERT):
    the host says so once, tries again every few seconds rather than on
    every turn of its loop, keeps the session, and uploads it once the
    database takes it."""
    db = PG.new_database()
    env = Env(outage_conf(PG.conninfo(db), "tptest-a"))
    try:
        env.start()
        PG.psql(f"REVOKE INSERT ON tp_sessions FROM {pglib.ROLE}", db=db)
        PG.stop_server()
        _, o = env.sign_in_held("tptest-desktop", USER)
        sid = o["env"]["TOKENPOLICY_SESSION_ID"]
        PG.start_server()
        status = lambda: json.loads(env.ctl("status", "--json", check_rc=0).stdout)  # noqa: E731
        check(wait_for(lambda: status()["store_connected"], timeout=20), "reconnected")
        time.sleep(3)
        failed = [line for line in env.log_text().splitlines() if "Failed to upload session" in line]
        eq(len(failed), 1, f"one failure said in 3 s, not one per turn: {failed}")
        check("permission denied" in failed[0], f"the database's reason: {failed[0]}")
        eq(status()["unsynced_sessions"], 1, "the session is kept")
        PG.psql(f"GRANT INSERT ON tp_sessions TO {pglib.ROLE}", db=db)
        check(wait_for(lambda: status()["unsynced_sessions"] == 0, timeout=20), "uploaded once allowed")
        eq(PG.psql(f"SELECT host, state FROM tp_sessions WHERE id = '{sid}'", db=db), [["tptest-a", "0"]],
           "in the fleet's table")
    finally:
        if not os.path.exists(os.path.join(PG.data, "postmaster.pid")):
            PG.start_server()
        env.cleanup()


class Link:
    """Host B's own way to the server: a directory whose socket is a
    symbolic link to the server's. Cut, it refuses B's connections (and
    B's open one is ended) while A and C go on: a partition of one host."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tptest-link-")
        os.chmod(self.dir, 0o755)
        self.sock = os.path.join(self.dir, ".s.PGSQL.5432")
        self.join()

    def join(self):
        os.symlink(os.path.join(PG.sockdir, ".s.PGSQL.5432"), self.sock)

    def cut(self, db):
        os.unlink(self.sock)
        PG.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tptest-b'",
                db=db)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def test_partitioned_host_applies_revocations_on_return():
    """Host B cut off while a fleet-wide revoke on A ends B's sessions: B
    cannot know, and keeps them running; it admits sign-ins locally, one
    before the revocation and one after; once it reaches the database
    again it ends the revoked ones, the one it admitted before the
    revocation included, and uploads the later one, which stays."""
    link = Link()

    def conninfo_of(h, db):
        if h == "tptest-b":
            return PG.conninfo(db, host=link.dir, application_name="tptest-b")
        return PG.conninfo(db)

    fleet = Fleet(conninfo_of)
    try:
        b = fleet.hosts["tptest-b"]
        pb, ob = b.sign_in_held("tptest-desktop", USER)
        old_sid = ob["env"]["TOKENPOLICY_SESSION_ID"]
        link.cut(fleet.db)
        check(wait_for(lambda: not fleet.status("tptest-b")["store_connected"]), "B knows it is cut off")
        check(fleet.status("tptest-a")["store_connected"], "A is not")
        # Signed in on B alone before the revocation: the revocation covers it.
        pearly, oearly = b.sign_in_held("tptest-desktop", USER)
        early_sid = oearly["env"]["TOKENPOLICY_SESSION_ID"]
        p = fleet.hosts["tptest-a"].ctl("revoke", "--user", USER, check_rc=0)
        check("1" in p.stdout, f"A revoked B's session fleet-wide: {p.stdout}")
        eq(PG.psql(f"SELECT state, owed FROM tp_sessions WHERE id = '{old_sid}'", db=fleet.db), [["1", "t"]],
           "revoked, owed to B")
        (seq, issued), = PG.psql("SELECT seq, issued FROM tp_revocations", db=fleet.db)
        synced = lambda h: int(PG.psql(f"SELECT synced_seq FROM tp_hosts WHERE id = '{h}'", db=fleet.db)[0][0])  # noqa: E731
        check(wait_for(lambda: synced("tptest-a") >= int(seq) and synced("tptest-c") >= int(seq), timeout=15),
              "A and C, holding nothing unsynced, say they are past the revocation")
        eq(PG.psql("SELECT count(*) FROM tp_revocations", db=fleet.db), [["1"]],
           "it is kept while B, which may still upload a session it covers, is not")
        time.sleep(1.5)
        check(pb.poll() is None, "B cannot know yet: its session runs")
        pnew, onew = b.sign_in_held("tptest-desktop", USER)
        new_sid = onew["env"]["TOKENPOLICY_SESSION_ID"]
        eq(fleet.status("tptest-b")["unsynced_sessions"], 2, "both admitted on B alone")
        check(pearly.poll() is None, "B has not heard of the revocation: the earlier one runs")
        link.join()
        check(ended(pb), "back, B ends the session revoked meanwhile")
        check(ended(pearly), "and the one it signed in alone before the revocation")
        eq(PG.psql(f"SELECT state FROM tp_sessions WHERE id = '{early_sid}'", db=fleet.db), [["1"]],
           "uploaded as revoked")
        check(wait_for(lambda: fleet.status("tptest-b")["unsynced_sessions"] == 0), "and uploads the new one")
        eq(PG.psql(f"SELECT host, state FROM tp_sessions WHERE id = '{new_sid}'", db=fleet.db),
           [["tptest-b", "0"]], "the new session is in the fleet's table, active")
        check(pnew.poll() is None, "and runs")
        check(wait_for(lambda: PG.psql("SELECT count(*) FROM tp_sessions WHERE owed", db=fleet.db)[0][0] == "0"),
              "B settled what it owed")
        check("revoked from another host of the fleet" in b.log_text(), "B's log says why it acted")
        check(wait_for(lambda: PG.psql("SELECT count(*) FROM tp_revocations", db=fleet.db) == [["0"]], timeout=15),
              "once B has uploaded, every host is past the revocation, and it is dropped")
        eq(PG.psql("SELECT value FROM tp_meta WHERE key = 'revocations_purged_through'", db=fleet.db), [[issued]],
           "the database remembers the latest revocation it dropped")
    finally:
        fleet.cleanup()
        link.remove()


def test_host_back_after_revocations_were_dropped():
    """A host away so long that revocations were dropped without it (a
    host not seen for 90 days no longer holds them): what it signed in
    alone before the latest one dropped is uploaded revoked and ended,
    since whether one covered it cannot be known; the log says so."""
    link = Link()
    db = PG.new_database()
    env = Env(outage_conf(PG.conninfo(db, host=link.dir, application_name="tptest-b"), "tptest-b"))
    try:
        env.start()
        status = lambda: json.loads(env.ctl("status", "--json", check_rc=0).stdout)  # noqa: E731
        link.cut(db)
        check(wait_for(lambda: not status()["store_connected"]), "cut off")
        proc, o = env.sign_in_held("tptest-desktop", USER)
        sid = o["env"]["TOKENPOLICY_SESSION_ID"]
        # Meanwhile the fleet dropped a revocation issued after this sign-in.
        PG.psql("UPDATE tp_meta SET value = (extract(epoch FROM now())::bigint + 10)::text "
                "WHERE key = 'revocations_purged_through'", db=db)
        link.join()
        check(wait_for(lambda: status()["unsynced_sessions"] == 0 and status()["store_connected"], timeout=20),
              "uploaded")
        eq(PG.psql(f"SELECT host, state FROM tp_sessions WHERE id = '{sid}'", db=db), [["tptest-b", "1"]],
           "as revoked")
        check(ended(proc), "and its leader ended")
        check("revocations the fleet no longer keeps" in env.log_text(), "the log says why")
        # One signed in now, after everything dropped, is uploaded active.
        link.cut(db)
        check(wait_for(lambda: not status()["store_connected"]), "cut off again")
        PG.psql("UPDATE tp_meta SET value = (extract(epoch FROM now())::bigint - 5)::text "
                "WHERE key = 'revocations_purged_through'", db=db)
        proc2, o2 = env.sign_in_held("tptest-desktop", USER)
        sid2 = o2["env"]["TOKENPOLICY_SESSION_ID"]
        link.join()
        check(wait_for(lambda: status()["unsynced_sessions"] == 0 and status()["store_connected"], timeout=20),
              "uploaded")
        eq(PG.psql(f"SELECT state FROM tp_sessions WHERE id = '{sid2}'", db=db), [["0"]], "active")
        check(proc2.poll() is None, "and runs")
    finally:
        env.cleanup()
        link.remove()


class MirrorHost:
    """Host B alone on its own link to a new database (Link), with 24-hour
    refresh tokens ended by on_expiry = "terminate"; started, and its copy
    of its sessions (mirror.db) made. A context manager that cleans up."""

    def __init__(self, **defaults):
        self.link = Link()
        self.db = PG.new_database()
        self.env = Env(outage_conf(PG.conninfo(self.db, host=self.link.dir, application_name="tptest-b"),
                                   "tptest-b", refresh_token_ttl_hours=24, on_expiry="terminate", **defaults))

    def __enter__(self):
        try:
            self.env.start()
            check(wait_for(lambda: os.path.exists(os.path.join(self.env.state, "mirror.db"))), "the copy is made")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.env.cleanup()
        finally:
            self.link.remove()

    def status(self):
        return json.loads(self.env.ctl("status", "--json", check_rc=0).stdout)

    def state(self, sid):
        return PG.psql(f"SELECT state FROM tp_sessions WHERE id = '{sid}'", db=self.db)[0][0]

    def cut(self, what="cut off"):
        self.link.cut(self.db)
        check(wait_for(lambda: not self.status()["store_connected"]), what)

    def refresh(self, sid, what):
        p = self.env.ctl("token", env={**os.environ, "TOKENPOLICY_SESSION_ID": sid})
        eq(p.returncode, 0, f"{what}: {p.stderr}")


def sid(report):
    return report["env"]["TOKENPOLICY_SESSION_ID"]


def test_cut_off_host_expires_and_reaps_its_own_sessions():
    """Sessions signed in online, one of them refreshed, then the host cut
    off and its daemon restarted: its expiries and ghost checks go on
    against its copy of its sessions. The one whose refresh token expires
    is ended by on_expiry, the one whose leader dies is closed, the
    refreshed one runs on to its new expiry; back, the database learns
    both ends."""
    with MirrorHost(auto_extend_refresh_token=True) as h:
        env, status = h.env, h.status
        pexp, oexp = env.sign_in_held("tptest-desktop", USER)
        pghost, oghost = env.sign_in_held("tptest-desktop", USER)
        pext, oext = env.sign_in_held("tptest-desktop", USER)
        env.set_offset(20 * 3600)
        h.refresh(sid(oext), "refreshed: its token now runs to 44 h")
        h.cut()
        pghost.kill()
        pghost.wait()
        check(wait_for(lambda: status()["unsynced_sessions"] == 1, timeout=10),
              f"the ghost is closed while offline, its end kept for the database: {status()}")
        check("session leader is gone (reaped)" in env.log_text(), "and audited")
        # Restarted while still cut off: what it knows of its sessions is its copy.
        env.stop()
        env.start()
        env.set_offset(30 * 3600)
        pnew, onew = env.sign_in_held("tptest-desktop", USER)
        check(ended(pexp), "the expired session's leader is ended by on_expiry while offline")
        check(wait_for(lambda: status()["unsynced_sessions"] == 3), f"its end kept too: {status()}")
        check(not wait_for(lambda: pext.poll() is not None, timeout=2), "the refreshed session runs on")
        check(pnew.poll() is None, "and so does one signed in offline")
        eq(h.state(sid(oexp)), "0", "the database has not heard yet")
        h.link.join()
        check(wait_for(lambda: status()["unsynced_sessions"] == 0 and status()["store_connected"], timeout=20),
              f"back and uploaded: {status()}")
        eq([h.state(sid(o)) for o in (oghost, oexp, oext, onew)], ["3", "2", "0", "0"],
           "the database has the ghost closed, the expired one expired, the others active")


# Ends the backend of a sign-in of service tptest-sshd in the middle of its
# transaction: the daemon loses the connection with its changes uncommitted.
DIE_ON_SSH_INSERT = """
CREATE FUNCTION tptest_die() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.service = 'tptest-sshd' THEN
    PERFORM pg_terminate_backend(pg_backend_pid());
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER tptest_die BEFORE INSERT ON tp_sessions FOR EACH ROW EXECUTE FUNCTION tptest_die();
"""


def test_connection_lost_in_a_transaction_leaves_the_mirror_usable():
    """A sign-in whose connection is lost before it commits is no part of
    the copy, and the passes that use the copy still work: the session
    signed in before expires on time while the host is cut off."""
    with MirrorHost() as h:
        env = h.env
        pexp, _ = env.sign_in_held("tptest-desktop", USER)
        PG.psql(DIE_ON_SSH_INSERT, db=h.db)
        out = env.pam("tptest-sshd", USER, "acct", "open")
        eq(out["results"][1], "PAM_SESSION_ERR", f"the sign-in failed with its connection: {out}")
        h.cut()
        env.set_offset(25 * 3600)
        check(ended(pexp), "the expired session is ended while offline")
        check("Failed to expire" not in env.log_text(), env.log_text()[-1500:])
        check(wait_for(lambda: h.status()["unsynced_sessions"] == 1), f"its end alone is kept: {h.status()}")


def test_copy_left_by_an_offline_start_is_kept_up_to_date():
    """Restarted while cut off, the daemon works from the copy it left; back
    online with an upload the database refuses, a refresh made online
    reaches the copy all the same, and in the next outage the refreshed
    session runs on past its old expiry."""
    with MirrorHost(auto_extend_refresh_token=True) as h:
        env = h.env
        pa, oa = env.sign_in_held("tptest-desktop", USER)
        PG.psql(f"REVOKE INSERT ON tp_sessions FROM {pglib.ROLE}", db=h.db)
        try:
            h.cut()
            env.sign_in_held("tptest-desktop", USER)
            env.stop()
            env.start()
            h.link.join()
            check(wait_for(lambda: h.status()["store_connected"], timeout=20), "back")
            eq(h.status()["unsynced_sessions"], 1, "the upload is refused")
            env.set_offset(20 * 3600)
            h.refresh(sid(oa), "refreshed online, to 44 h")
            time.sleep(1.5)  # the copy takes what the database committed about once a second
            h.cut("cut off again")
            env.set_offset(25 * 3600)
            check(not wait_for(lambda: pa.poll() is not None, timeout=3), "the refreshed session runs on")
            env.set_offset(45 * 3600)
            check(ended(pa), "and ends at its new expiry")
        finally:
            PG.psql(f"GRANT INSERT ON tp_sessions TO {pglib.ROLE}", db=h.db)


def test_offline_expiry_spares_a_leader_of_other_offline_sessions():
    """Cut off, one process (a PAM gateway) opens two sessions, kept on
    this host alone; one of them is refreshed. When the other expires, its
    leader also leads the refreshed one, so it is not signalled."""
    with MirrorHost(auto_extend_refresh_token=True) as h:
        env = h.env
        h.cut()
        gw = subprocess.Popen([TP_PAM, "--json", "--confdir", env.pamdir, "--service", "tptest-desktop",
                               "--user", USER, "--user", USER, "acct", "open", "hold", "close"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        env.held.append(gw)
        handles = json.loads(gw.stdout.readline())["handles"]
        first, second = (sid(x) for x in handles)
        eq(h.status()["unsynced_sessions"], 2, "both kept on this host alone")
        env.set_offset(20 * 3600)
        h.refresh(second, "the second refreshed, to 44 h")
        env.set_offset(25 * 3600)
        enforced = lambda: [ln for ln in env.log_text().splitlines() if "event=enforce" in ln and first in ln]  # noqa: E731
        check(wait_for(enforced), "the first expired and was enforced")
        line = enforced()[-1]
        check(f"leader pid {gw.pid} also leads 1 other active session" in line and "not signalled" in line, line)
        check(not wait_for(lambda: gw.poll() is not None, timeout=1.5), "the gateway still runs")


def test_signin_the_frozen_database_took_counts_once():
    """A desktop sign-in sent to a database that froze before it answered
    may have been committed there. Admitted on this host, it is the same
    session (id and refresh token), so once the database is back there is
    one row of it, not two, whichever way it got there; a refresh made
    while away is what the database keeps."""
    fleet = Fleet()
    try:
        a = fleet.hosts["tptest-a"]
        PG.pause()
        try:
            proc, out = a.sign_in_held("tptest-desktop", USER)
            sid = out["env"]["TOKENPOLICY_SESSION_ID"]
            eq(fleet.status("tptest-a")["unsynced_sessions"], 1, "one unsynced session")
            a.set_offset(120)
            eq(session_request(a.sock, REAUTH, sid), (0, "New refresh and access tokens issued."),
               "re-authenticated while away")
        finally:
            PG.resume()
        check(wait_for(lambda: fleet.status("tptest-a")["unsynced_sessions"] == 0
                       and fleet.status("tptest-a")["store_connected"], timeout=30), "uploaded")
        rows = PG.psql(f"SELECT id, state, last_extended - created FROM tp_sessions WHERE user_name = '{USER}'",
                       db=fleet.db)
        eq([r[:2] for r in rows], [[sid, "0"]], "one active row: the session admitted while away")
        check(int(rows[0][2]) >= 100, f"the database keeps the re-authentication made while away: {rows}")
        eq([x["id"] for x in a.sessions("--user", USER)], [sid], "listed once")
        check(proc.poll() is None, "its leader runs")
    finally:
        PG.resume()
        fleet.cleanup()


TESTS = [
    ("database stopped: deny refuses, local admits, upload holds the cap", test_database_stopped),
    ("database frozen (SIGSTOP): answers within the deadline, then the same", test_database_frozen),
    ("a sign-in the frozen database took counts once", test_signin_the_frozen_database_took_counts_once),
    ("a host started while the database is away joins when it returns", test_started_while_unreachable),
    ("a partitioned host applies on return what was revoked meanwhile", test_partitioned_host_applies_revocations_on_return),
    ("a host back after revocations were dropped uploads what it began before as revoked",
     test_host_back_after_revocations_were_dropped),
    ("a host cut off expires and reaps its own sessions from its copy of them",
     test_cut_off_host_expires_and_reaps_its_own_sessions),
    ("a connection lost in a transaction leaves the copy usable",
     test_connection_lost_in_a_transaction_leaves_the_mirror_usable),
    ("the copy left by an offline start is kept up to date", test_copy_left_by_an_offline_start_is_kept_up_to_date),
    ("an offline expiry spares a leader of other offline sessions",
     test_offline_expiry_spares_a_leader_of_other_offline_sessions),
    ("an upload the database refuses is retried every few seconds, then done", test_refused_upload_is_retried_quietly),
]

if __name__ == "__main__":
    sys.exit(pglib.run_suite(TESTS, [USER], sys.modules[__name__]))
