"""A real PostgreSQL 15 cluster for the tests: initdb and pg_ctl as the postgres
user, in a temporary directory, on a free 127.0.0.1 port; stopped by the tests.
Nothing needs a system service."""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile

from cin import free_port, wait_for


def _bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, f"PostgreSQL's {name} is not installed (deps/debian-packages.txt: postgresql)"
    return found[-1]


class PgCluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cin-pg-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.user = "certinext"
        self.password = "pg-secret-" + os.urandom(6).hex()
        pw = pwd.getpwnam("postgres")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._as_postgres(_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "postgres",
                          "--no-sync", "-E", "UTF8")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.dir}'\nfsync = off\n"
                    "synchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 100\n")
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all postgres trust\n"
                    "host all postgres 127.0.0.1/32 trust\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")
        self.start()
        self.psql(f"CREATE USER {self.user} PASSWORD '{self.password}'")

    def _as_postgres(self, *cmd, check=True):
        return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True,
                              text=True, check=check, timeout=120)

    def start(self):
        self._as_postgres(_bin("pg_ctl"), "-D", self.data, "-l",
                          os.path.join(self.dir, "server.log"), "-w", "start")
        assert wait_for(lambda: self.psql("SELECT 1", check=False).returncode == 0, 20)
        return self

    def stop(self, mode="fast"):
        self._as_postgres(_bin("pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop", check=False)

    def psql(self, sql, db="postgres", check=True):
        return self._as_postgres("psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres",
                                 "-d", db, "-v", "ON_ERROR_STOP=1", "-Atc", sql, check=check)

    def new_database(self, name):
        self.psql(f"CREATE DATABASE {name} OWNER {self.user}")
        return self.uri(name)

    def uri(self, db):
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{db}"

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    # python3 tests/integration/pg.py CMD...: run CMD with a fresh cluster, its
    # superuser URI prefix in CIN_TEST_PG (the unit tests' harness makes a
    # database per test there), then remove the cluster; CMD's exit status.
    import sys
    cluster = PgCluster()
    try:
        env = dict(os.environ, CIN_TEST_PG=f"postgresql://postgres@127.0.0.1:{cluster.port}/")
        rc = subprocess.run(sys.argv[1:], env=env).returncode
    finally:
        cluster.destroy()
    sys.exit(rc)
