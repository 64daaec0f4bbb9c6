"""A fleet on one central PostgreSQL store: every host serves from its own mirror."""
import os
import pwd
import subprocess
import time

from cin import handshake, order, wait_for, wait_status
from servers import SERVERS


def test_central_store_serves_through_the_mirror(base, pg_store):
    for name in sorted(SERVERS):
        srv = SERVERS[name](base, pg_store).start()
        try:
            ann = srv.api(pg_store.tokens["ann"])
            o = order(ann, "dv-ssl", [f"{name}.example.com"])
            assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
            serial = wait_status(ann, o["id"], "issued", timeout=20)["certificate"]["serial"]
            issued_at = time.time()
            assert wait_for(lambda: handshake(srv.https_port, f"{name}.example.com")[0] == serial,
                            5), srv.log()[-2000:]
            assert time.time() - issued_at < 2
        finally:
            srv.stop()


TABLES = ["accounts", "users", "tokens", "domains", "orders", "order_events", "certificates",
          "cert_names", "private_keys", "ledger", "products", "cas", "settings"]


def _counts(store):
    return {t: int(store.sql(f"SELECT count(*) FROM {t}")) for t in TABLES}


def test_store_copy_round_trip_keeps_every_row(base, store, pg):
    """SQLite -> PostgreSQL -> SQLite: every row, the audit trail, and the copy
    serves the same certificate."""
    from cin import Store, cli
    from servers import Nginx
    ann = None
    srv = Nginx(base, store).start()
    try:
        ann = srv.api(store.tokens["ann"])
        o = order(ann, "dv-ssl", ["copy.example.com"])
        assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        serial = wait_status(ann, o["id"], "issued")["certificate"]["serial"]
    finally:
        srv.stop()
    before = _counts(store)
    audit = store.sql("SELECT actor || action || coalesce(detail, '') FROM order_events ORDER BY id")
    uri = pg.new_database("copy" + str(os.getpid()))
    key = store.path + ".key"
    p = cli(store.path, "store", "copy", "--from", store.path, "--to", uri)
    assert "copied" in p.stdout, p.stderr
    # a non-empty destination is refused
    p = cli(store.path, "store", "copy", "--from", store.path, "--to", uri, check=False)
    assert p.returncode == 1 and "not empty" in p.stderr
    copydir = os.path.join(base, "copy")
    os.mkdir(copydir, 0o700)
    back = os.path.join(copydir, "back.db")
    cli(uri, "store", "copy", "--from", uri, "--to", back, key_file=key)

    class Copied:  # the copied SQLite store, read with the original key
        pass
    c = Copied()
    c.path, c.key_file, c.pg = back, key, None
    c.sql = lambda q: subprocess.run(["sqlite3", back, q], capture_output=True, text=True,
                                     check=True).stdout.strip()
    assert _counts(c) == before
    pgc = Copied()
    pgc.pg, pgc.path = pg, uri
    pgc.sql = lambda q: pg.psql(q, db=uri.rsplit("/", 1)[1]).stdout.strip()
    assert _counts(pgc) == before
    assert c.sql("SELECT actor || action || coalesce(detail, '') FROM order_events ORDER BY id") \
        == audit
    # the copy serves the same certificate (its key still opens)
    w = pwd.getpwnam("www-data")
    for f in [copydir] + [os.path.join(copydir, f) for f in os.listdir(copydir)]:
        os.chown(f, w.pw_uid, w.pw_gid)
    c.tokens = store.tokens
    srv = Nginx(base, c).start()
    try:
        assert wait_for(lambda: handshake(srv.https_port, "copy.example.com")[0] == serial, 5)
    finally:
        srv.stop()
