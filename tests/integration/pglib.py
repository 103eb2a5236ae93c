# SPDX-License-Identifier: BSD-3-Clause
"""pglib: a private PostgreSQL 15 server for the fleet tests.

initdb into a temporary directory as the `postgres` system user, a server
that listens on a Unix socket in that directory only (no TCP), a role for
the daemons that signs in with a password (SCRAM) read from a libpq
passfile, and psql for the tests' own looks at the tables. stop() stops
the server and removes the directory.
"""
import os
import shutil
import subprocess
import tempfile

PGBIN = "/usr/lib/postgresql/15/bin"
PSQL = "/usr/bin/psql"
ROLE = "tptest_fleet"
PASSWORD = "tptest-fleet-pw"


def available():
    return os.path.exists(os.path.join(PGBIN, "initdb")) and os.geteuid() == 0


class Postgres:
    def __init__(self, port=5432, extra_options="", standby_of=None):
        """A new server; with standby_of, a streaming standby of that one
        (pg_basebackup), which follows it until promoted."""
        import pwd
        pw = pwd.getpwnam("postgres")
        self.port = port
        self.extra_options = extra_options
        self.name = f"tptest_standby_{port}"
        self.dir = tempfile.mkdtemp(prefix="tptest-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sockdir = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "server.log")
        os.makedirs(self.sockdir)
        for p in (self.dir, self.sockdir):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        self.passfile = os.path.join(self.dir, "pgpass")
        self.write_passfile(PASSWORD)
        self.n_db = 0
        if standby_of:
            self._as_postgres([os.path.join(PGBIN, "pg_basebackup"), "-h", standby_of.sockdir,
                               "-p", str(standby_of.port), "-U", "postgres", "-D", self.data, "-R",
                               "-X", "stream", "-d", f"application_name={self.name}"])
            self.start_server()
            return
        self._as_postgres([os.path.join(PGBIN, "initdb"), "-D", self.data, "-U", "postgres", "-N",
                           "--auth-local=peer", "--auth-host=reject", "-E", "UTF8", "--locale=C"])
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all postgres peer\n")
            f.write("local replication postgres peer\n")
            f.write("local all all scram-sha-256\n")
        self.start_server()
        self.psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")

    def start_server(self):
        self._as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-l", self.log, "-w", "-t", "30",
                           "-o", f"-c listen_addresses='' -k {self.sockdir} -p {self.port} -c fsync=off "
                                 f"-c synchronous_commit=on -c max_connections=50 {self.extra_options}",
                           "start"])

    def promote(self):
        self._as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-w", "promote"])

    def kill(self):
        """The server gone at once, as a machine that fails (immediate stop)."""
        self._as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop"])

    def stop_server(self):
        """Stop the server (its data stays): the database is gone until
        start_server()."""
        self._as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"])

    def _processes(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            main = int(f.readline())
        kids = subprocess.run(["pgrep", "-P", str(main)], capture_output=True, text=True).stdout.split()
        return [main] + [int(k) for k in kids]

    def pause(self):
        """SIGSTOP the server and every backend: there, but answering nothing."""
        import signal
        for pid in self._processes():
            os.kill(pid, signal.SIGSTOP)

    def resume(self):
        import signal
        for pid in self._processes():
            os.kill(pid, signal.SIGCONT)

    def _as_postgres(self, cmd, **kw):
        return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True,
                              text=True, timeout=60, cwd=self.dir, **kw)

    def write_passfile(self, password):
        with open(self.passfile, "w") as f:
            f.write(f"*:*:*:{ROLE}:{password}\n")
        os.chmod(self.passfile, 0o600)

    def psql(self, sql, db="postgres"):
        """Run SQL as the superuser; returns the rows, fields split on '|'."""
        p = self._as_postgres([PSQL, "-h", self.sockdir, "-p", str(self.port), "-d", db, "-X", "-q", "-A", "-t",
                               "-v", "ON_ERROR_STOP=1", "-c", sql])
        return [line.split("|") for line in p.stdout.splitlines() if line]

    def new_database(self):
        """A fresh database owned by the daemons' role; its name."""
        self.n_db += 1
        name = f"tptest_fleet_{self.n_db}"
        self.psql(f"CREATE DATABASE {name} OWNER {ROLE}")
        return name

    def conninfo(self, db, **extra):
        parts = {"host": self.sockdir, "port": self.port, "dbname": db, "user": ROLE, "passfile": self.passfile}
        parts.update(extra)
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def stop(self):
        try:
            self._as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w",
                               "stop"])
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def run_suite(tests, users, module):
    """The main of a fleet test program: skip without PostgreSQL or root,
    else run `tests` with a private server in module.PG, stopped after."""
    from tplib import run_with_users
    if not available():
        print("1..0 # SKIP fleet tests need root and PostgreSQL 15 (apt-get install postgresql-15)")
        return 0
    module.PG = Postgres()
    try:
        return run_with_users(tests, users, lock_name="users-fleet")
    finally:
        module.PG.stop()
