"""make bench, the fleet's part (issue 12): measured side by side in one run.

- how long a certificate issued through host 1 takes to be served by host 3
  (three hosts on one PostgreSQL store: two nginx, one httpd, each with its
  own mirror and agent), median and maximum of several issuances;
- API throughput on one nginx (2 workers) on a SQLite store and on a
  PostgreSQL store: listing orders, and approve + pay, in interleaved rounds
  (medians), as requests per second of wall-clock time on this machine's 2
  cores (the clients share them, as a control panel on the same host would).
"""
import os
import queue
import threading
import time

from cin import Api, Store, handshake, order, wait_for


def _hosts(base, store, kinds):
    from servers import Apache, Nginx
    hosts = []
    for i, kind in enumerate(kinds):
        d = os.path.join(base, f"host{i + 1}")
        os.mkdir(d)
        os.chmod(d, 0o755)
        cls = Nginx if kind == "nginx" else Apache
        hosts.append(cls(d, store, state_dir=os.path.join(d, "state")))
    return hosts


def fleet_latency(base, pg, samples=10):
    """Issuance through host 1 to service by host 3, in seconds."""
    d = os.path.join(base, "fleet")
    os.mkdir(d)
    os.chmod(d, 0o755)
    store = Store(d, pg=pg)
    hosts = _hosts(d, store, ("nginx", "nginx", "httpd"))
    out = []
    try:
        for h in hosts:
            h.start()
        ann1 = hosts[0].api(store.tokens["ann"])
        for i in range(samples):
            o = order(ann1, "dv-ssl", [f"f{i}.example.com"])
            assert ann1.post(f"/api/v1/orders/{o['id']}/pay").status == 200

            def issued():
                r = ann1.get(f"/api/v1/orders/{o['id']}")
                return r.json["status"] == "issued" and r.json["certificate"]["serial"]
            serial = wait_for(issued, 30, 0.005)
            t_issued = time.time()
            assert wait_for(lambda: handshake(hosts[2].https_port, f"f{i}.example.com")[0] ==
                            serial, 30, 0.005)
            out.append(time.time() - t_issued)
    finally:
        for h in hosts:
            h.stop()
    return out


class _Rig:
    """One nginx (2 workers, agent on) on a store of its own, with many credits."""

    def __init__(self, base, tag, pg=None):
        from servers import Nginx
        d = os.path.join(base, tag)
        os.mkdir(d)
        os.chmod(d, 0o755)
        self.store = Store(d, pg=pg)
        self.store.cli("credits", "add", "--account", "acme", "1000000")
        self.srv = Nginx(d, self.store).start()
        self.ann = Api(self.srv.http_port, token=self.store.tokens["ann"])
        self.bob = Api(self.srv.http_port, token=self.store.tokens["bob"])
        for i in range(40):  # something to list
            order(self.ann, "dv-ssl", [f"list{i}.example.com"])
        self.n = 0

    def pending(self, count):
        """count orders waiting for approval (placed by a basic user)."""
        ids = []
        for _ in range(count):
            self.n += 1
            ids.append(order(self.bob, "dv-ssl", [f"ap{self.n}.example.com"])["id"])
        return ids

    def stop(self):
        self.srv.stop()


def _run(threads, seconds, work):
    """work(api_index) repeated by each thread for `seconds`; operations per second."""
    done = [0] * threads
    stop = time.time() + seconds

    def loop(k):
        while time.time() < stop:
            if not work(k):
                return
            done[k] += 1
    ts = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(done) / (time.time() - t0)


def api_throughput(base, pg, rounds=3, seconds=4.0, threads=8, batch=300):
    """{'list': {'sqlite': [...], 'postgresql': [...]}, 'approve+pay': {...}}"""
    rigs = {"sqlite": _Rig(base, "api-sqlite"), "postgresql": _Rig(base, "api-pg", pg=pg)}
    res = {"list": {k: [] for k in rigs}, "approve+pay": {k: [] for k in rigs}}
    try:
        for _ in range(rounds):
            for engine, rig in rigs.items():
                def listing(k, rig=rig):
                    r = rig.ann.get("/api/v1/orders?limit=20")
                    assert r.status == 200, r
                    return True
                res["list"][engine].append(_run(threads, seconds, listing))
            for engine, rig in rigs.items():
                work = queue.Queue()
                for i in rig.pending(batch):  # a fixed batch, timed to its end
                    work.put(i)

                def approve_pay(k, rig=rig, work=work):
                    try:
                        oid = work.get_nowait()
                    except queue.Empty:
                        return False
                    assert rig.ann.post(f"/api/v1/orders/{oid}/approve").status == 200
                    assert rig.ann.post(f"/api/v1/orders/{oid}/pay").status == 200
                    return True
                res["approve+pay"][engine].append(_run(threads, 3600, approve_pay))
                assert work.empty()
    finally:
        for rig in rigs.values():
            rig.stop()
    return res
