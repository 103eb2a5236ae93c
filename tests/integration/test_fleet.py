# SPDX-License-Identifier: BSD-3-Clause
"""Fleet mode: three daemons, three hosts, one PostgreSQL database.

A real PostgreSQL 15 (pglib.py) on a private Unix socket, three real
tokenpolicyd processes, each with its own host_id, socket and state
directory, driven through real libpam (tp-pam). Sessions held by tp-pam
processes stand for logins; a session's end on its own host shows as its
leader process ending (on_revoke = "terminate").
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import pglib  # noqa: E402
from tplib import (MODULE, Env, check, config_text, eq, session_request, wait_for, TestFailure)  # noqa: E402

USER = "tptestfleet"
CAP = 10
HOSTS = ("tptest-a", "tptest-b", "tptest-c")
CLOSE = 3  # PROTOCOL.md, message types
# How long an eviction waits for the outcome of its sign-in (TP_EVICTION_GRACE_MS).
GRACE_S = 5

PG = None


def fleet_conf(conninfo, host_id, extra_store="", cap=CAP):
    text = config_text(defaults={"max_refresh_tokens": cap, "on_revoke": "terminate"})
    return text + (f'store = {{ backend = "postgresql"; conninfo = "{conninfo}";{extra_store} }};\n'
                   f'host_id = "{host_id}";\n')


class Fleet:
    """Three hosts on one new database."""

    def __init__(self, cap=CAP):
        self.db = PG.new_database()
        self.conninfo = PG.conninfo(self.db)
        self.hosts = {}
        try:
            for h in HOSTS:
                env = Env(fleet_conf(self.conninfo, h, cap=cap))
                self.hosts[h] = env
                env.start()
        except Exception:
            self.cleanup()
            raise

    def active(self):
        """(id, host) of the user's active sessions, oldest first, from the database."""
        rows = PG.psql(f"SELECT id, host FROM tp_sessions WHERE user_name = '{USER}' AND state = 0 "
                       "ORDER BY created, seq", db=self.db)
        return [(r[0], r[1]) for r in rows]

    def cleanup(self):
        errors = []
        for env in self.hosts.values():
            try:
                env.cleanup()
            except TestFailure as e:
                errors.append(str(e))
        if errors:
            raise TestFailure("\n".join(errors))


def ended(proc, timeout=10):
    return wait_for(lambda: proc.poll() is not None, timeout=timeout)


def test_cap_holds_across_hosts_at_every_instant():
    """Sign-ins of one user from all three hosts at once, at cap N: the
    active count sampled while they run never exceeds N; the oldest are
    evicted whichever host ran them, each ended by its own host."""
    fleet = Fleet()
    try:
        per_host = 6
        total = 3 * per_host
        held, lock = [], threading.Lock()
        # The sampler runs in the database: a volatile function takes a new
        # snapshot for each statement, so each count is what was committed
        # at that moment, about every millisecond until every sign-in is in.
        PG.psql(f"""CREATE FUNCTION tptest_sample() RETURNS text LANGUAGE plpgsql AS $$
            DECLARE c int; t int; mx int := 0; n int := 0;
            BEGIN
              LOOP
                SELECT count(*) FILTER (WHERE state = 0), count(*) INTO c, t
                  FROM tp_sessions WHERE user_name = '{USER}';
                mx := greatest(mx, c); n := n + 1;
                EXIT WHEN t >= {total} OR n > 100000;
                PERFORM pg_sleep(0.001);
              END LOOP;
              RETURN n || ' ' || mx;
            END $$""", db=fleet.db)
        result = []

        def sample():
            try:
                result.extend(PG.psql("SELECT tptest_sample()", db=fleet.db)[0][0].split())
            except Exception as e:  # noqa: BLE001 - cancelled after a failed sign-in
                result.extend(["0", "0", str(e)])

        failures = []

        def sign_in(host):
            env = fleet.hosts[host]
            try:
                for _ in range(per_host):
                    proc, out = env.sign_in_held("tptest-desktop", USER)
                    with lock:
                        held.append((host, proc, out["env"]["TOKENPOLICY_SESSION_ID"]))
            except TestFailure as e:
                failures.append(f"{host}: {e}")
                # Let the sampler finish: the count it waits for is not coming.
                PG.psql(f"SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                        f"WHERE query LIKE '%tptest_sample()%' AND pid <> pg_backend_pid()", db=fleet.db)

        sampler = threading.Thread(target=sample)
        sampler.start()
        time.sleep(0.2)
        workers = [threading.Thread(target=sign_in, args=(h,)) for h in HOSTS]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        sampler.join()
        eq(failures, [], "every sign-in succeeded")
        n_samples, most = int(result[0]), int(result[1])

        eq(len(held), total, "every sign-in succeeded")
        check(n_samples >= 10, f"the table was sampled while sign-ins ran ({n_samples} samples)")
        eq(most, CAP, f"never more than {CAP} active at once, and the cap was reached ({n_samples} samples)")
        active = fleet.active()
        eq(len(active), CAP, "the cap is full")
        # The survivors are the newest sign-ins, in the order the database
        # committed them; every other session was evicted.
        all_rows = PG.psql(f"SELECT id, host, state FROM tp_sessions WHERE user_name = '{USER}' "
                           "ORDER BY created, seq", db=fleet.db)
        eq([r[0] for r in all_rows[-CAP:]], [a[0] for a in active], "the oldest were evicted")
        check(all(r[2] == "1" for r in all_rows[:-CAP]), f"evicted sessions are revoked: {all_rows}")
        survivors = {a[0] for a in active}
        cross = 0
        for host, proc, sid in held:
            row = next(r for r in all_rows if r[0] == sid)
            eq(row[1], host, f"session {sid} recorded on the host that signed it in")
            if sid in survivors:
                check(proc.poll() is None, f"surviving session {sid} on {host} still runs")
            else:
                check(ended(proc), f"evicted session {sid} on {host}: its leader ended")
                # Evicted by a sign-in on another host, which left it to its owner.
                cross += any(sid in line and "runs on another host" in line
                             for h in HOSTS if h != host
                             for line in fleet.hosts[h].log_text().splitlines())
        check(cross > 0, "some sessions were evicted by a sign-in on another host")
        # Each host ended only its own sessions: the owner settled them all.
        owed = PG.psql("SELECT count(*) FROM tp_sessions WHERE owed", db=fleet.db)
        check(wait_for(lambda: PG.psql("SELECT count(*) FROM tp_sessions WHERE owed",
                                       db=fleet.db)[0][0] == "0"), f"nothing left owed: {owed}")
    finally:
        fleet.cleanup()


def test_revoke_user_on_one_host_ends_sessions_on_the_others():
    fleet = Fleet()
    try:
        pb, ob = fleet.hosts["tptest-b"].sign_in_held("tptest-desktop", USER)
        pc, oc = fleet.hosts["tptest-c"].sign_in_held("tptest-desktop", USER)
        listed = fleet.hosts["tptest-a"].sessions("--user", USER)
        eq(sorted(s["id"] for s in listed),
           sorted([ob["env"]["TOKENPOLICY_SESSION_ID"], oc["env"]["TOKENPOLICY_SESSION_ID"]]),
           "host A lists the sessions of B and C")
        p = fleet.hosts["tptest-a"].ctl("revoke", "--user", USER, check_rc=0)
        check("2" in p.stdout, f"two sessions revoked: {p.stdout}")
        check(ended(pb), "the session on B ended on B")
        check(ended(pc), "the session on C ended on C")
        for h in ("tptest-b", "tptest-c"):
            log = fleet.hosts[h].log_text()
            check("revoked from another host of the fleet" in log, f"{h} says why it acted: {log[-1500:]}")
        eq(fleet.active(), [], "nothing active")
    finally:
        fleet.cleanup()


def test_restarted_host_enforces_what_it_missed():
    """SIGKILL a host, revoke its session from another, start it again: it
    finds the revocation in the store and ends the session."""
    fleet = Fleet()
    try:
        b = fleet.hosts["tptest-b"]
        pb, ob = b.sign_in_held("tptest-desktop", USER)
        b.stop(signal.SIGKILL)
        fleet.hosts["tptest-a"].ctl("revoke", ob["env"]["TOKENPOLICY_SESSION_ID"], check_rc=0)
        time.sleep(0.3)
        check(pb.poll() is None, "nothing ended it while its host was down")
        b.start()
        check(ended(pb), "its host ended it once back")
        eq(PG.psql("SELECT count(*) FROM tp_sessions WHERE owed", db=fleet.db), [["0"]], "settled")
    finally:
        fleet.cleanup()


def expect_refused(conf, needle, env_extra=None):
    env = Env(conf)
    try:
        env.start(wait=False)
        rc = env.proc.wait(timeout=30)
        log = env.log_text()
        env.proc = None
        env.logf.close()
        check(rc != 0, f"daemon refused to start (rc {rc})")
        check(needle in log, f"log says {needle!r}: {log[-1500:]}")
        return log
    finally:
        env.cleanup()


def test_bad_connection_settings_are_clear_errors():
    db = PG.new_database()
    # No server at that socket directory: not refused, since a laptop
    # starts away from its network. It starts offline and says so.
    env = Env(fleet_conf(PG.conninfo(db, host="/nonexistent-tptest"), "tptest-a"))
    try:
        env.start()
        check("starting without the fleet's database" in env.log_text(), f"the log says: {env.log_text()[-1500:]}")
        st = json.loads(env.ctl("status", "--json", check_rc=0).stdout)
        eq(st["store_connected"], False, "status: not connected")
        check(st["store_offline_since"] > 0, f"status says since when: {st}")
    finally:
        env.cleanup()
    # A keyword libpq does not know.
    expect_refused(fleet_conf(PG.conninfo(db) + " bogus_keyword=1", "tptest-a"),
                   "bogus_keyword")
    # The wrong password, from the passfile.
    PG.write_passfile("not-the-password")
    try:
        expect_refused(fleet_conf(PG.conninfo(db), "tptest-a"), "password authentication failed")
    finally:
        PG.write_passfile(pglib.PASSWORD)


def test_newer_schema_is_refused_and_nothing_is_lost():
    fleet = Fleet()
    try:
        fleet.hosts["tptest-a"].sign_in_held("tptest-desktop", USER)
        before = PG.psql("SELECT id, state FROM tp_sessions ORDER BY seq", db=fleet.db)
        PG.psql("UPDATE tp_meta SET value = '99' WHERE key = 'schema_version'", db=fleet.db)
        fleet.hosts["tptest-b"].stop()
        env = fleet.hosts["tptest-b"]
        env.start(wait=False)
        rc = env.proc.wait(timeout=30)
        env.proc = None
        env.logf.close()
        check(rc != 0, "refused")
        log = env.log_text()
        check("newer than this tokenpolicyd" in log, f"clear error: {log[-1000:]}")
        eq(PG.psql("SELECT id, state FROM tp_sessions ORDER BY seq", db=fleet.db), before, "nothing changed")
        eq(PG.psql("SELECT value FROM tp_meta WHERE key = 'schema_version'", db=fleet.db), [["99"]],
           "the newer version stays")
    finally:
        fleet.cleanup()


def test_version_1_database_is_migrated():
    """A database of schema version 1 (before revocations were kept for
    hosts offline) is brought to version 3 (which says when they may go)
    by the first host to start, with every session as it was."""
    fleet = Fleet()
    try:
        fleet.hosts["tptest-a"].sign_in_held("tptest-desktop", USER)
        for env in fleet.hosts.values():
            env.stop()
        PG.psql("DROP TABLE tp_revocations; ALTER TABLE tp_hosts DROP COLUMN synced_seq;"
                "DELETE FROM tp_meta WHERE key = 'revocations_purged_through';"
                "UPDATE tp_meta SET value = '1' WHERE key = 'schema_version'", db=fleet.db)
        before = PG.psql("SELECT id, state FROM tp_sessions ORDER BY seq", db=fleet.db)
        fleet.hosts["tptest-b"].start()
        eq(PG.psql("SELECT key, value FROM tp_meta ORDER BY key", db=fleet.db),
           [["revocations_purged_through", "0"], ["schema_version", "3"]], "migrated")
        eq(PG.psql("SELECT synced_seq FROM tp_hosts WHERE id = 'tptest-a'", db=fleet.db), [["0"]],
           "a host is past no revocation until it says so")
        eq(PG.psql("SELECT count(*) FROM tp_revocations", db=fleet.db), [["0"]], "the new table is there")
        eq(PG.psql("SELECT id, state FROM tp_sessions ORDER BY seq", db=fleet.db), before, "sessions kept")
        fleet.hosts["tptest-b"].ctl("revoke", "--user", USER, check_rc=0)
        eq(PG.psql("SELECT user_name, client FROM tp_revocations", db=fleet.db), [[USER, ""]],
           "a revocation by user is kept for hosts offline")
    finally:
        fleet.cleanup()


def test_two_hosts_starting_at_once_migrate_once():
    db = PG.new_database()
    envs = [Env(fleet_conf(PG.conninfo(db), h)) for h in HOSTS]
    try:
        for e in envs:
            e.start(wait=False)
        for e in envs:
            e.wait_ready()
        eq(PG.psql("SELECT key, value FROM tp_meta ORDER BY key", db=db),
           [["revocations_purged_through", "0"], ["schema_version", "3"]], "one schema version row")
        eq(sorted(r[0] for r in PG.psql("SELECT id FROM tp_hosts", db=db)), sorted(HOSTS), "three hosts")
    finally:
        for e in envs:
            e.cleanup()


def test_config_keys_are_validated():
    import subprocess
    from tplib import DAEMON
    bad = {
        'store = { backend = "postgresql"; };': "needs store.conninfo",
        'store = { backend = "mysql"; };': 'backend = "mysql" is not one of sqlite, postgresql',
        'store = { conninfo = "host=x"; };': "only used with",
        'store = { backend = "postgresql"; conninfo = "host=x password=secret"; };': "must not hold a password",
        'store = { backend = "postgresql"; conninfo = "postgresql://u:secret@db/x"; };':
            "must not hold a password",
        'store = { backend = "postgresql"; conninfo = ""; };': "store.conninfo is empty",
        'host_id = "a b";': 'host_id = "a b" is not a host id',
        'host_id = 7;': "host_id must be a string",
    }
    env = Env()
    try:
        for line, needle in bad.items():
            env.write_conf(config_text() + line + "\n")
            p = subprocess.run([DAEMON, "--check-config", env.conf], capture_output=True, text=True)
            eq(p.returncode, 1, f"{line} rejected")
            lineno = len(config_text().splitlines()) + 1
            check(f"{env.conf}:{lineno}:" in p.stderr and needle in p.stderr,
                  f"{line}: FILE:LINE and {needle!r} in {p.stderr!r}")
        env.write_conf(config_text() + 'store = { backend = "postgresql"; conninfo = '
                       '"host=db1,db2 dbname=tokenpolicy user=tokenpolicy target_session_attrs=read-write"; };\n'
                       'host_id = "ws-0042";\n')
        p = subprocess.run([DAEMON, "--check-config", env.conf], capture_output=True, text=True)
        eq(p.returncode, 0, f"a good fleet config passes: {p.stderr}")
    finally:
        env.cleanup()


def test_listings_name_each_host():
    """sessions --host and the HOST column, status and hosts, and a host
    whose policy differs flagged."""
    fleet = Fleet()
    try:
        a, c = fleet.hosts["tptest-a"], fleet.hosts["tptest-c"]
        a.sign_in_held("tptest-desktop", USER)
        _, oc = c.sign_in_held("tptest-desktop", USER)
        listed = a.sessions()
        eq(sorted(s["host"] for s in listed), ["tptest-a", "tptest-c"], "every session names its host")
        only_c = a.sessions("--host", "tptest-c")
        eq([s["id"] for s in only_c], [oc["env"]["TOKENPOLICY_SESSION_ID"]], "--host filters")
        eq(a.sessions("--host", "tptest-b"), [], "nothing runs on B")
        table = a.ctl("sessions", check_rc=0).stdout
        header = table.splitlines()[0].split()
        eq(header[:4], ["ID", "USER", "CLIENT", "HOST"], "the table has a HOST column")
        check("tptest-c" in table, table)

        st = __import__("json").loads(a.ctl("status", "--json", check_rc=0).stdout)
        eq((st["store"], st["store_connected"], st["host_id"], st["hosts"]),
           ("postgresql", True, "tptest-a", 3), "status shows the store")
        text = a.ctl("status", check_rc=0).stdout
        check("postgresql (fleet), connected" in text and "fleet hosts:" in text, text)

        hosts = __import__("json").loads(a.ctl("hosts", "--json", check_rc=0).stdout)
        eq([h["id"] for h in hosts], list(HOSTS), "every host, in id order")
        eq([h["active_sessions"] for h in hosts], [1, 0, 1], "active sessions per host")
        eq(len({h["policy_digest"] for h in hosts}), 1, "one policy everywhere")
        check(all(len(h["policy_digest"]) == 64 and not h["policy_differs"] for h in hosts), f"{hosts}")

        # B reloads a different cap: flagged, from any host.
        b = fleet.hosts["tptest-b"]
        b.write_conf(fleet_conf(fleet.conninfo, "tptest-b", cap=CAP + 1))
        b.ctl("reload", check_rc=0)
        p = c.ctl("hosts", "--json", check_rc=0)
        hosts = __import__("json").loads(p.stdout)
        eq([h["policy_differs"] for h in hosts], [False, True, False], "B's policy differs")
        check("differs" in p.stderr, f"a warning on stderr: {p.stderr!r}")
        p = c.ctl("hosts", check_rc=0)
        check("POLICY DIFFERS" in p.stdout, p.stdout)
    finally:
        fleet.cleanup()


def test_sqlite_daemon_lists_its_own_host():
    env = Env()
    try:
        env.start()
        env.sign_in_held("tptest-desktop", USER)
        import socket as sock_mod
        rows = env.sessions()
        eq(len(rows), 1, "one session")
        check(rows[0]["host"] and rows[0]["host"] in sock_mod.gethostname(), f"this host: {rows}")
        p = env.ctl("hosts")
        eq(p.returncode, 1, "hosts refused without a fleet")
        check("not part of a fleet" in p.stderr, p.stderr)
        st = __import__("json").loads(env.ctl("status", "--json", check_rc=0).stdout)
        eq((st["store"], st["hosts"]), ("sqlite", 1), "status shows the store")
    finally:
        env.cleanup()


def test_token_minted_on_b_verifies_on_c():
    """Each host signs with its own key; every host knows the fleet's."""
    import json
    fleet = Fleet()
    try:
        b, c = fleet.hosts["tptest-b"], fleet.hosts["tptest-c"]
        _, ob = b.sign_in_held("tptest-desktop", USER)
        token = ob["env"]["TOKENPOLICY_ACCESS_TOKEN"]
        def own_kid(h):
            with open(os.path.join(fleet.hosts[h].state, "jwks.json")) as f:
                return json.load(f)["keys"][0]["kid"]
        kids = {h: own_kid(h) for h in HOSTS}
        eq(len(set(kids.values())), 3, "a key of its own on each host")
        fleet_jwks = json.loads(c.ctl("jwks", "--state-dir", c.state, check_rc=0).stdout)
        eq(sorted(k["kid"] for k in fleet_jwks["keys"]), sorted(kids.values()), "C's JWKS holds every host's key")
        eq(PG.psql("SELECT count(*) FROM tp_keys", db=fleet.db), [["3"]], "each host published its key")
        p = c.ctl("verify", token, "--state-dir", c.state)
        eq(p.returncode, 0, f"B's token verifies on C, offline and with C's daemon: {p.stdout} {p.stderr}")
        check(p.stdout.startswith("valid") and "session: active" in p.stdout, p.stdout)
        # Without the fleet's copy of B's key, C's files know nothing of it.
        p = fleet.hosts["tptest-a"].ctl("verify", token, "--key",
                                        os.path.join(c.state, "signing-key.pub.pem"), "--offline")
        eq(p.returncode, 1, "C's own key does not verify B's token")
        # The session revoked from A: C's daemon says so.
        fleet.hosts["tptest-a"].ctl("revoke", "--user", USER, check_rc=0)
        p = c.ctl("verify", token, "--state-dir", c.state)
        eq(p.returncode, 1, f"revoked fleet-wide: {p.stdout} {p.stderr}")
        check("revoked" in p.stderr, p.stderr)
    finally:
        fleet.cleanup()


def test_failed_signin_on_one_host_keeps_the_oldest_on_another():
    """At the cap with every session on B, a sign-in on A whose PAM stack
    then fails (pam_deny.so after the module) evicts nothing: B is never
    told, its oldest session stays active and its leader alive. A sign-in
    on A that completes evicts it, and B ends it."""
    fleet = Fleet()
    try:
        a, b = fleet.hosts["tptest-a"], fleet.hosts["tptest-b"]
        held = [b.sign_in_held("tptest-desktop", USER, tty=f"pts/{i}") for i in range(CAP)]
        oldest_proc, oldest = held[0]
        oldest_sid = oldest["env"]["TOKENPOLICY_SESSION_ID"]
        opts = f"socket={a.sock}{a.trust} timeout=3000 client=desktop even_deny_root"
        with open(os.path.join(a.pamdir, "tptest-deny"), "w") as f:
            f.write(f"account required {MODULE} {opts}\n")
            f.write(f"session required {MODULE} {opts}\n")
            f.write("session required pam_deny.so\n")
        out = a.pam("tptest-deny", USER, "acct", "open", tty="pts/99")
        check(out["results"][1] != "PAM_SUCCESS", f"the session stack failed: {out}")
        time.sleep(GRACE_S + 2)
        check(oldest_proc.poll() is None, "the oldest session's leader on B is alive")
        active = fleet.active()
        eq(len(active), CAP, "at the cap, never above it")
        check((oldest_sid, "tptest-b") in active, f"the oldest is active again: {active}")
        check("reinstate" in a.log_text(), "A audited the undo")
        # A sign-in on A that completes: the eviction stands and B acts.
        a.sign_in_held("tptest-desktop", USER, tty="pts/98")
        check(ended(oldest_proc, timeout=GRACE_S + 10), "B ended its oldest session")
        check(all(sid != oldest_sid for sid, _ in fleet.active()), "revoked in the database")
    finally:
        fleet.cleanup()


def test_signin_under_the_cap_expires_what_is_past_expiry():
    """Under the cap a sign-in is one insert, unless a session of the user
    is past its expiry: then, as at the cap, the sign-in ends it (expired,
    in the same transaction) and signs in. Up to the cap nothing is
    evicted; one more evicts the oldest."""
    fleet = Fleet()
    try:
        b = fleet.hosts["tptest-b"]
        first = b.sign_in("tptest-desktop", USER)["env"]["TOKENPOLICY_SESSION_ID"]
        second = b.sign_in("tptest-desktop", USER)["env"]["TOKENPOLICY_SESSION_ID"]
        PG.psql(f"UPDATE tp_sessions SET refresh_expires = 1000 WHERE id = '{first}'", db=fleet.db)
        third = fleet.hosts["tptest-a"].sign_in("tptest-desktop", USER)["env"]["TOKENPOLICY_SESSION_ID"]
        rows = dict((r[0], r[1]) for r in PG.psql(
            f"SELECT id, state FROM tp_sessions WHERE user_name = '{USER}'", db=fleet.db))
        eq(rows, {first: "2", second: "0", third: "0"}, "the session past expiry was expired by the sign-in")
        # Older sessions of B, written as B would (no leader known), up to
        # one below the cap.
        older = [f"{k:032x}" for k in range(1, CAP - 2)]
        values = ", ".join(f"({k}, '{o}')" for k, o in enumerate(older))
        PG.psql("INSERT INTO tp_sessions (id, host, user_name, uid, client, service, rhost, tty, leader_pid, "
                "logind_session, created, refresh_expires, last_extended, last_used, state, refresh_hash, "
                "leader_start, boot_id) "
                "SELECT v.id, 'tptest-b', s.user_name, s.uid, s.client, s.service, s.rhost, s.tty, 0, '', "
                "s.created - 100 + v.k, s.refresh_expires, s.last_extended, s.last_used, 0, s.refresh_hash, 0, "
                f"s.boot_id FROM tp_sessions s, (VALUES {values}) AS v(k, id) WHERE s.id = '{second}'",
                db=fleet.db)
        eq(len(fleet.active()), CAP - 1, "one below the cap")
        fourth = fleet.hosts["tptest-c"].sign_in("tptest-desktop", USER)["env"]["TOKENPOLICY_SESSION_ID"]
        eq([a[0] for a in fleet.active()], older + [second, third, fourth], "up to the cap nothing is evicted")
        fifth = fleet.hosts["tptest-a"].sign_in("tptest-desktop", USER)["env"]["TOKENPOLICY_SESSION_ID"]
        eq([a[0] for a in fleet.active()], older[1:] + [second, third, fourth, fifth], "one more evicts the oldest")
        eq(PG.psql(f"SELECT state FROM tp_sessions WHERE id = '{older[0]}'", db=fleet.db), [["1"]],
           "the oldest is revoked")
    finally:
        fleet.cleanup()


def test_sign_out_on_one_host_of_a_session_on_another():
    """Root's CLOSE on A for a session that runs on B: closed in the
    database in one transaction, owed to B, and B, woken, settles it. One
    naming another user ends nothing; a second CLOSE finds it ended; an
    unknown id is not found."""
    fleet = Fleet()
    listener = None
    try:
        pb, ob = fleet.hosts["tptest-b"].sign_in_held("tptest-desktop", USER)
        sid = ob["env"]["TOKENPOLICY_SESSION_ID"]
        a = fleet.hosts["tptest-a"]
        # B is woken by a notification on the database's channel.
        listener = subprocess.Popen(["runuser", "-u", "postgres", "--", pglib.PSQL, "-h", PG.sockdir, "-p",
                                     str(PG.port), "-d", fleet.db, "-X", "-q", "-A", "-t"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=PG.dir)
        listener.stdin.write("LISTEN tokenpolicy_owed;\nSELECT 'listening';\n")
        listener.stdin.flush()
        eq(listener.stdout.readline().strip(), "listening", "a listener on the channel")
        status, message = session_request(a.sock, CLOSE, sid, user="root")
        check(status == 3 and "does not belong to root" in message,
              f"a sign-out naming another user ends nothing: {status} {message}")
        eq(fleet.active(), [(sid, "tptest-b")], "still active")
        status, message = session_request(a.sock, CLOSE, sid, user=USER)
        eq((status, message), (0, "Signed out."), "A signs out B's session")
        heard = listener.communicate("SELECT 'done';\n", timeout=30)[0]
        check('notification "tokenpolicy_owed" with payload "tptest-b"' in heard,
              f"the sign-out woke B through the channel: {heard!r}")
        rows = PG.psql(f"SELECT state, owed FROM tp_sessions WHERE id = '{sid}'", db=fleet.db)
        eq(rows[0][0], "3", f"closed in the database: {rows}")
        check(wait_for(lambda: PG.psql(f"SELECT owed FROM tp_sessions WHERE id = '{sid}'",
                                       db=fleet.db)[0][0] == "f", timeout=20),
              "B settled the session A closed")
        check(pb.poll() is None, "a sign-out ends no process: B's leader still runs")
        status, message = session_request(a.sock, CLOSE, sid)
        eq(status, 3, f"a second sign-out finds it ended: {message}")
        check("already ended (closed)" in message, f"and says so: {message}")
        status, message = session_request(a.sock, CLOSE, "f" * 32)
        eq(status, 3, f"an unknown session is not found: {message}")
        eq(fleet.active(), [], "nothing active")
    finally:
        if listener and listener.poll() is None:
            listener.kill()
            listener.wait()
        fleet.cleanup()


TESTS = [
    ("a token minted on host B verifies on host C", test_token_minted_on_b_verifies_on_c),
    ("sessions, status and hosts name each host; a differing policy is flagged", test_listings_name_each_host),
    ("a daemon of one host lists its own name and has no fleet", test_sqlite_daemon_lists_its_own_host),
    ("config keys of the fleet validated with FILE:LINE", test_config_keys_are_validated),
    ("cap holds across three hosts at every instant", test_cap_holds_across_hosts_at_every_instant),
    ("revoke --user on A ends the sessions on B and C", test_revoke_user_on_one_host_ends_sessions_on_the_others),
    ("a host killed and restarted enforces what it missed", test_restarted_host_enforces_what_it_missed),
    ("bad conninfo and wrong password are clear errors", test_bad_connection_settings_are_clear_errors),
    ("a newer schema is refused, nothing lost", test_newer_schema_is_refused_and_nothing_is_lost),
    ("three hosts starting at once migrate once", test_two_hosts_starting_at_once_migrate_once),
    ("a version 1 database is migrated to version 3", test_version_1_database_is_migrated),
    ("a failed sign-in on A keeps the oldest session on B", test_failed_signin_on_one_host_keeps_the_oldest_on_another),
    ("root signs out on A a session that runs on B; B settles it", test_sign_out_on_one_host_of_a_session_on_another),
    ("a sign-in under the cap expires what is past expiry", test_signin_under_the_cap_expires_what_is_past_expiry),
]

if __name__ == "__main__":
    sys.exit(pglib.run_suite(TESTS, [USER], sys.modules[__name__]))
