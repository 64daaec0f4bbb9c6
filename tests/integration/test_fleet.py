"""A fleet on one central PostgreSQL store: every host serves from its own mirror."""
import os
import pwd
import subprocess
import time

from cin import handshake, order, served_by_workers, wait_for, wait_status
from servers import SERVERS


def test_central_store_serves_through_the_mirror(base, pg_store):
    for name in sorted(SERVERS):
        srv = SERVERS[name](base, pg_store).start()
        try:
            # the host counts for the agents from its start (an http-01 answer is
            # asked for only once every live host has it), before its syncer's
            # first step
            with open(os.path.join(srv.state_dir, "host-id")) as f:
                hid = f.read().strip()
            assert pg_store.sql(f"SELECT count(*) FROM hosts WHERE host_id='{hid}'") == "1"
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
    c.sql = lambda q: subprocess.run(["sqlite3", "-cmd", ".timeout 10000", back, q], capture_output=True, text=True,
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


class Fleet:
    """Three "hosts" on one PostgreSQL store: two nginx and one httpd, each with
    its own state directory (mirror, host id) and its own agent."""

    def __init__(self, base, store):
        from servers import Apache, Nginx
        self.hosts = []
        for i, cls in enumerate((Nginx, Nginx, Apache)):
            d = os.path.join(base, f"host{i + 1}")
            os.mkdir(d)
            os.chmod(d, 0o755)
            self.hosts.append(cls(d, store, state_dir=os.path.join(d, "state")))

    def __enter__(self):
        for h in self.hosts:
            h.start()
        return self

    def __exit__(self, *exc):
        for h in self.hosts:
            h.stop()

    @staticmethod
    def everywhere_on(h, name, serial):
        """Every worker of host h serves serial for name (probing until two answered)."""
        return served_by_workers(h, name, serial, rounds=30)

    def everywhere(self, name, serial):
        return all(self.everywhere_on(h, name, serial) for h in self.hosts)


def test_fleet_issues_once_and_every_host_follows_within_two_seconds(base, pg_store):
    store = pg_store
    with Fleet(base, store) as f:
        h1, h2, h3 = f.hosts
        fallback = {h: handshake(h.https_port, "fleet.example.com")[0] for h in f.hosts}
        o = order(h1.api(store.tokens["bob"]), "dv-ssl", ["fleet.example.com"])
        assert h2.api(store.tokens["ann"]).post(f"/api/v1/orders/{o['id']}/approve").status == 200
        assert h3.api(store.tokens["bob"]).post(f"/api/v1/orders/{o['id']}/pay").status == 200
        issued = wait_status(h2.api(store.tokens["ann"]), o["id"], "issued", timeout=20)
        issued_at = time.time()
        serial = issued["certificate"]["serial"]
        assert wait_for(lambda: f.everywhere("fleet.example.com", serial), 10)
        # the first handshake each host answered with it came within 2 s
        assert wait_for(lambda: all(handshake(h.https_port, "fleet.example.com")[0] == serial
                                    for h in f.hosts), 2)
        assert time.time() - issued_at < 4  # (2 s for the hosts, the rest our probing)
        oid = int(o["id"][2:])
        assert store.sql(f"SELECT count(*) FROM certificates WHERE order_id={oid}") == "1"
        assert store.sql("SELECT count(*) FROM order_events WHERE action='order.issued' AND "
                         f"order_id={oid}") == "1"
        # every host reports how far its mirror has got
        assert store.sql("SELECT count(*) FROM hosts") == "3"
        # revoked through host 3: no host serves it within 2 s
        r = h3.api(store.tokens["ann"]).post(f"/api/v1/orders/{o['id']}/revoke",
                                              {"reason": "keyCompromise"})
        assert r.status == 200
        t0 = time.time()
        assert wait_for(lambda: all(handshake(h.https_port, "fleet.example.com")[0] == fallback[h]
                                    for h in f.hosts), 2)
        assert time.time() - t0 <= 2.5
        assert wait_for(lambda: all(f.everywhere_on(h, "fleet.example.com", fallback[h])
                                    for h in f.hosts), 5)

        # a domain moved to another account: its old owner's certificate stops everywhere
        o = order(h1.api(store.tokens["ann"]), "dv-ssl", ["m.shop.example.net"])
        assert h1.api(store.tokens["ann"]).post(f"/api/v1/orders/{o['id']}/pay").status == 200
        serial = wait_status(h1.api(store.tokens["ann"]), o["id"], "issued", timeout=20)[
            "certificate"]["serial"]
        assert wait_for(lambda: f.everywhere("m.shop.example.net", serial), 10)
        store.cli("domain", "remove", "shop.example.net")
        store.cli("domain", "add", "--account", "other", "shop.example.net")
        assert wait_for(lambda: all(handshake(h.https_port, "m.shop.example.net")[0] != serial
                                    for h in f.hosts), 2)
        assert wait_for(lambda: all(f.everywhere_on(h, "m.shop.example.net", fallback[h])
                                    for h in f.hosts), 5)


def test_two_hosts_paying_at_once_debit_once(base, pg_store):
    import concurrent.futures
    store = pg_store
    with Fleet(base, store) as f:
        h1, h2, _ = f.hosts
        bob1, bob2 = h1.api(store.tokens["bob"]), h2.api(store.tokens["bob"])
        for n in range(5):
            o = order(bob1, "dv-ssl", [f"pay{n}.example.com"])
            assert h2.api(store.tokens["ann"]).post(f"/api/v1/orders/{o['id']}/approve") \
                .status == 200
            with concurrent.futures.ThreadPoolExecutor(2) as ex:
                a, b = ex.map(lambda api: api.post(f"/api/v1/orders/{o['id']}/pay"),
                              (bob1, bob2))
            assert sorted((a.status, b.status)) == [200, 409], (a, b)
            oid = int(o["id"][2:])
            assert store.sql(f"SELECT count(*) FROM ledger WHERE order_id={oid}") == "1"


def test_host_with_another_key_refuses_to_start(base, pg_store):
    from servers import Nginx
    import subprocess as sp
    other_key = os.path.join(base, "other.key")
    with open(other_key, "wb") as k:
        k.write(os.urandom(32))
    os.chmod(other_key, 0o600)

    class Wrong:
        pass
    w = Wrong()
    w.path, w.key_file = pg_store.path, other_key
    d = os.path.join(base, "wrong")
    os.mkdir(d)
    srv = Nginx(d, w, state_dir=os.path.join(d, "state"))
    p = sp.run(["nginx", "-t", "-c", srv.conf, "-p", srv.base], capture_output=True, text=True)
    assert p.returncode != 0
    assert "is not the key of this store" in p.stderr, p.stderr
    assert pg_store.path.split(":")[2].split("@")[0] not in p.stderr  # never the password


def test_postgres_down_under_handshake_load(base, pg, pg_store):
    """PostgreSQL stops under load: handshakes go on from the mirrors, the API says
    503 store_unavailable, nothing gets stuck; back again, an order paid just
    before the stop is issued, once."""
    from servers import Apache, Nginx
    store = pg_store
    hosts = []
    for i, cls in enumerate((Nginx, Apache)):
        d = os.path.join(base, f"h{i}")
        os.mkdir(d)
        os.chmod(d, 0o755)
        hosts.append(cls(d, store, state_dir=os.path.join(d, "state")).start())
    bench = os.path.join(os.path.dirname(__file__), "..", "..", "build", "bench", "tlsbench")
    try:
        ann = hosts[0].api(store.tokens["ann"])
        names = []
        for n in range(3):
            o = order(ann, "dv-ssl", [f"load{n}.example.com"])
            assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
            s = wait_status(ann, o["id"], "issued", timeout=20)["certificate"]["serial"]
            for h in hosts:
                assert wait_for(lambda: handshake(h.https_port, f"load{n}.example.com")[0] == s, 5)
            names.append(f"load{n}.example.com")
        listing = os.path.join(base, "names.txt")
        with open(listing, "w") as fl:
            fl.write("\n".join(names) + "\n")
        load = [subprocess.Popen([bench, str(h.https_port), listing, "12", "2"],
                                 stdout=subprocess.PIPE, text=True) for h in hosts]
        # an order paid just before the stop
        late = order(ann, "dv-ssl", ["late.example.com"])
        assert ann.post(f"/api/v1/orders/{late['id']}/pay").status == 200
        pg.stop("fast")
        try:
            for h in hosts:
                r = h.api(store.tokens["ann"]).get("/api/v1/orders")
                assert r.status == 503 and r.problem == "store_unavailable", r
                assert int(r.headers["retry-after"]) >= 1
                # handshakes answered from the mirror meanwhile
                assert handshake(h.https_port, "load0.example.com")[0] != ""
        finally:
            pg.start()
        results = [dict(kv.split("=") for kv in p.communicate(timeout=60)[0].split())
                   for p in load]
        for r in results:
            assert int(r["handshakes"]) > 0 and int(r["failures"]) == 0, results
        # back: the API answers again (the next request reconnects) and the late order
        # is issued, exactly once
        assert wait_for(lambda: ann.get("/api/v1/orders").status == 200, 10)
        wait_status(ann, late["id"], "issued", timeout=30)
        oid = int(late["id"][2:])
        assert store.sql(f"SELECT count(*) FROM certificates WHERE order_id={oid}") == "1"
        assert store.sql(f"SELECT count(*) FROM ledger WHERE order_id={oid}") == "1"
        for h in hosts:
            assert h.api(store.tokens["ann"]).get("/api/v1/health").status == 200
    finally:
        for h in hosts:
            h.stop()


class StalledCA:
    """A CA that accepts connections and never answers: an agent talking to it
    holds its order's lease until it is killed (or curl gives up after 30 s)."""

    def __init__(self):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_killed_lease_holder_is_finished_by_another_host_after_the_lease(base, pg_store):
    """kill -9 of the worker holding an order's lease on host 1 (and host 1 with
    it): host 2 finishes the order once the lease has run out, exactly once."""
    import signal
    from servers import Apache, Nginx
    store = pg_store
    store.cli("settings", "set", "lease-ttl", "10")
    assert store.cli("settings", "get", "lease-ttl").stdout.strip() == "10"
    stalled = StalledCA()
    store.cli("ca", "add", "--name", "stalled", "--acme", f"https://127.0.0.1:{stalled.port}/dir")
    store.cli("product", "set-ca", "dv-ssl", "stalled")
    hosts = []
    for i, cls in enumerate((Nginx, Apache)):
        d = os.path.join(base, f"lh{i + 1}")
        os.mkdir(d)
        os.chmod(d, 0o755)
        hosts.append(cls(d, store, state_dir=os.path.join(d, "state")))
    h1, h2 = hosts
    try:
        h1.start()
        with open(os.path.join(h1.state_dir, "host-id")) as f:
            host1 = f.read().strip()
        ann = h1.api(store.tokens["ann"])
        o = order(ann, "dv-ssl", ["lease.example.com"])
        assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        oid = int(o["id"][2:])
        lease = f"order:{oid}"

        def held():
            return store.sql(f"SELECT holder FROM leases WHERE name='{lease}'")
        assert wait_for(lambda: held().startswith(host1 + ":"), 10), held()
        # host 2 comes up and leaves a live lease alone
        h2.start()
        with open(os.path.join(h2.state_dir, "host-id")) as f:
            host2 = f.read().strip()
        assert host2 != host1
        assert wait_for(lambda: store.sql(
            f"SELECT count(*) FROM hosts WHERE host_id='{host2}'") == "1", 10)
        holder = held()
        assert holder.startswith(host1 + ":")
        pid = int(holder.split(":")[1])
        assert pid in h1.worker_pids()
        # the CA answers again (the product moves to the built-in CA), and the
        # worker holding the lease dies with host 1
        store.cli("product", "set-ca", "dv-ssl", "builtin")
        # host 1 dies as a whole: every process frozen first, so that no sibling
        # worker of the same host sees the holder gone and takes the lease over
        # (a same-host takeover is allowed at once), then killed
        procs = [h1.master_pid(), *h1.worker_pids()]
        assert pid in procs
        for p in procs:
            os.kill(p, signal.SIGSTOP)
        expires = int(store.sql(f"SELECT expires_at FROM leases WHERE name='{lease}'"))
        for p in procs:
            os.kill(p, signal.SIGKILL)
        h1.stop()
        issued = wait_status(h2.api(store.tokens["ann"]), o["id"], "issued", timeout=40)
        done = time.time()
        # after the lease ran out (10 s after its last renewal), not before
        assert done >= expires - 1, (done, expires)
        assert done <= expires + 10, (done, expires)
        assert store.sql(f"SELECT count(*) FROM certificates WHERE order_id={oid}") == "1"
        finisher = store.sql("SELECT peer FROM order_events WHERE action='order.issued' AND "
                             f"order_id={oid}")
        assert finisher.startswith(host2 + ":"), finisher
        assert store.sql(f"SELECT count(*) FROM leases WHERE name='{lease}'") == "0"
        assert wait_for(lambda: handshake(h2.https_port, "lease.example.com")[0] ==
                        issued["certificate"]["serial"], 5)
    finally:
        for h in hosts:
            h.stop()
        stalled.close()


def test_new_host_starts_while_postgres_is_down(base, pg, pg_store):
    """A host that never had a mirror starts while PostgreSQL is down: it serves
    its fallback certificate, says why, answers 503; once PostgreSQL is back
    its mirror fills and it serves the fleet's certificates."""
    from servers import Nginx
    store = pg_store
    d1 = os.path.join(base, "first")
    os.mkdir(d1)
    os.chmod(d1, 0o755)
    first = Nginx(d1, store, state_dir=os.path.join(d1, "state")).start()
    try:
        ann = first.api(store.tokens["ann"])
        o = order(ann, "dv-ssl", ["early.example.com"])
        assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        serial = wait_status(ann, o["id"], "issued", timeout=20)["certificate"]["serial"]
    finally:
        first.stop()
    d2 = os.path.join(base, "new")
    os.mkdir(d2)
    os.chmod(d2, 0o755)
    new = Nginx(d2, store, state_dir=os.path.join(d2, "state"))
    pg.stop("fast")
    try:
        p = subprocess.run(["nginx", "-t", "-c", new.conf, "-p", new.base], capture_output=True,
                           text=True)
        assert p.returncode == 0, p.stderr
        assert "has no mirror yet" in p.stderr, p.stderr
        new.start()
        fallback = handshake(new.https_port, "early.example.com")[0]
        assert fallback != serial
        r = new.api(store.tokens["ann"]).get("/api/v1/orders")
        assert r.status == 503 and r.problem == "store_unavailable", r
    finally:
        pg.start()
    try:
        assert wait_for(lambda: handshake(new.https_port, "early.example.com")[0] == serial, 10)
        assert wait_for(lambda: new.api(store.tokens["ann"]).get("/api/v1/orders").status == 200,
                        10)
    finally:
        new.stop()
