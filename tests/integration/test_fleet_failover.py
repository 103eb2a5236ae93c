# SPDX-License-Identifier: BSD-3-Clause
"""Fleet mode across a failover: a primary and a synchronous standby.

Two real PostgreSQL 15 servers on private Unix sockets (pglib.py): the
standby streams from the primary and is named in its
synchronous_standby_names, so a COMMIT returns only once the standby has
the transaction. Three real tokenpolicyd hosts name both servers in their
connection string with target_session_attrs=read-write. While they sign
one user in at once, the primary is killed (immediate stop) and the
standby promoted: every acknowledged sign-in is in the new primary's
table, the cap holds there, and the evicted sessions ended on their hosts.
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import pglib  # noqa: E402
from tplib import Env, check, config_text, eq, run_with_users, wait_for, TestFailure  # noqa: E402

USER = "tptestfailover"
CAP = 10
HOSTS = ("tptest-a", "tptest-b", "tptest-c")
PRIMARY = STANDBY = None


def conninfo(db):
    return (f"host={PRIMARY.sockdir},{STANDBY.sockdir} port={PRIMARY.port},{STANDBY.port} dbname={db} "
            f"user={pglib.ROLE} passfile={PRIMARY.passfile} target_session_attrs=read-write")


def conf(db, host_id):
    text = config_text(clients={"desktop": {"services": ["tptest-desktop"], "on_store_unreachable": "local"}},
                       defaults={"max_refresh_tokens": CAP, "on_revoke": "terminate"})
    return text + (f'store = {{ backend = "postgresql"; conninfo = "{conninfo(db)}"; }};\n'
                   f'host_id = "{host_id}";\n')


def ended(proc, timeout=20):
    return wait_for(lambda: proc.poll() is not None, timeout=timeout)


def test_failover_loses_no_acknowledged_signin():
    db = PRIMARY.new_database()
    check(wait_for(lambda: STANDBY.psql("SELECT count(*) FROM pg_database WHERE datname = "
                                        f"'{db}'") == [["1"]]), "the standby has the database")
    hosts = {}
    try:
        for h in HOSTS:
            hosts[h] = Env(conf(db, h))
            hosts[h].start()
        eq(PRIMARY.psql("SELECT sync_state FROM pg_stat_replication"), [["sync"]], "the standby is synchronous")
        held, errors, lock = [], [], threading.Lock()
        per_host, switch_at = 8, 3
        killed = threading.Event()

        def sign_in(h):
            try:
                for i in range(per_host):
                    if i == switch_at:
                        killed.wait(timeout=60)
                    proc, o = hosts[h].sign_in_held("tptest-desktop", USER)
                    with lock:
                        held.append((h, proc, o["env"]["TOKENPOLICY_SESSION_ID"]))
            except TestFailure as e:
                errors.append(f"{h}: {e}")

        workers = [threading.Thread(target=sign_in, args=(h,)) for h in HOSTS]
        for w in workers:
            w.start()
        check(wait_for(lambda: len(held) >= 3 * switch_at, timeout=60), "sign-ins before the failover")
        before = [sid for _, _, sid in held]
        PRIMARY.kill()
        killed.set()   # sign-ins go on while there is no primary ...
        time.sleep(1)
        STANDBY.promote()  # ... and after
        for w in workers:
            w.join()
        eq(errors, [], "every sign-in was admitted")
        eq(len(held), 3 * per_host, "all of them")
        check(wait_for(lambda: all(settled(hosts[h]) for h in HOSTS), timeout=40),
              "every host found the promoted standby and uploaded what it admitted meanwhile")
        eq(STANDBY.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tokenpolicyd'"),
           [["3"]], "the three hosts are connected to the promoted standby")
        for h in HOSTS:
            check("cannot be reached" in hosts[h].log_text() and "answers again" in hosts[h].log_text(),
                  f"{h} says it lost the database and found it again: {hosts[h].log_text()[-1500:]}")
        rows = STANDBY.psql(f"SELECT id, host, state FROM tp_sessions WHERE user_name = '{USER}' "
                            "ORDER BY created, seq", db=db)
        have = {r[0]: r for r in rows}
        for h, _, sid in held:
            check(sid in have, f"acknowledged sign-in {sid} on {h} is in the new primary's table"
                               f"{' (acknowledged before the failover)' if sid in before else ''}")
        active = [r for r in rows if r[2] == "0"]
        eq(len(active), CAP, f"the cap holds on the new primary: {rows}")
        alive = {r[0] for r in active}
        for h, proc, sid in held:
            if sid in alive:
                check(proc.poll() is None, f"{sid} on {h} runs")
            else:
                check(ended(proc), f"evicted {sid} on {h} ended on its host")
    finally:
        for env in hosts.values():
            env.cleanup()


def settled(env):
    """Connected, with nothing left to upload."""
    st = json.loads(env.ctl("status", "--json", check_rc=0).stdout)
    return st["store_connected"] and st["unsynced_sessions"] == 0


TESTS = [
    ("failover to a synchronous standby loses no acknowledged sign-in; the cap holds",
     test_failover_loses_no_acknowledged_signin),
]

if __name__ == "__main__":
    if not pglib.available():
        print("1..0 # SKIP fleet tests need root and PostgreSQL 15 (apt-get install postgresql-15)")
        sys.exit(0)
    try:
        PRIMARY = pglib.Postgres(port=5432)
        STANDBY = pglib.Postgres(port=5433, standby_of=PRIMARY)
        # Synchronous from here: a COMMIT waits for the standby.
        PRIMARY.psql(f"ALTER SYSTEM SET synchronous_standby_names = '\"{STANDBY.name}\"'")
        PRIMARY.psql("SELECT pg_reload_conf()")
        rc = run_with_users(TESTS, [USER], lock_name="users-fleet")
    finally:
        for server in (STANDBY, PRIMARY):
            if server:
                server.stop()
    sys.exit(rc)
