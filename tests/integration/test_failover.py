"""CA failover (issue 14): a product bound to an ordered list of CAs, two real pebbles."""
import hashlib
import ssl
import threading

import pytest

from cin import handshake, order, wait_for, wait_status
from pebble import Pebble
from test_acme import issue


@pytest.fixture
def two_cas(base, server, store):
    """pebble-a (preferred, gives up after 2 attempts) and pebble-b, both for dv-ssl."""
    a = Pebble(base, server.http_port, name="pebble-a").start()
    b = Pebble(base, server.http_port, name="pebble-b").start()
    store.cli("ca", "add", "--name", "pebble-a", "--acme", a.directory, "--trust", a.cert,
              "--failover-after", "2")
    store.cli("ca", "add", "--name", "pebble-b", "--acme", b.directory, "--trust", b.cert)
    store.cli("product", "set-ca", "dv-ssl", "pebble-a,pebble-b")
    yield a, b
    a.stop()
    b.stop()


def issued_by(p, o):
    return p.cert_status(o["certificate"]["serial"]).get("Status") == "Valid"


def test_unreachable_ca_fails_over_then_first_preferred_again(server, store, two_cas):
    a, b = two_cas
    ann = server.api(store.tokens["ann"])
    a.stop_pebble()
    o = issue(ann, ann, "dv-ssl", ["failover.example.com"], timeout=60)
    assert issued_by(b, o)  # pebble-b knows the certificate; pebble-a is down
    assert wait_for(lambda: handshake(server.https_port, "failover.example.com")[0] ==
                    o["certificate"]["serial"], 5)
    # the move is in the order's audit trail, after the configured attempts
    events = ann.get(f"/api/v1/orders/{o['id']}/events").json["events"]
    moves = [e for e in events if e["action"] == "order.ca_failover"]
    assert len(moves) == 1, events
    assert "from CA pebble-a to CA pebble-b after 2 attempts" in moves[0]["detail"]
    retries = [e for e in events if e["action"] == "order.retry_later"]
    assert len(retries) == 1, events  # the first attempt; the second moved the order
    # the preferred CA is back: a renewal goes to it first
    a.start()
    r = ann.post(f"/api/v1/orders/{o['id']}/renew")
    assert r.status == 201, r
    assert ann.post(f"/api/v1/orders/{r.json['id']}/pay").status == 200
    renewed = wait_status(ann, r.json["id"], "issued", timeout=40)
    assert issued_by(a, renewed) and not issued_by(b, renewed)


def test_single_ca_product_still_fails(server, store, two_cas):
    """Without a next CA, nothing moves: a CA's refusal fails the order as before."""
    a, b = two_cas
    store.cli("product", "set-ca", "dv-ssl", "pebble-a")
    a.resolve("nowhere.example.com", "127.0.0.2")  # not us: validation fails
    ann = server.api(store.tokens["ann"])
    o = order(ann, "dv-ssl", ["nowhere.example.com"])
    assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
    got = wait_status(ann, o["id"], "failed", timeout=30)
    assert got["error"] is not None
    events = ann.get(f"/api/v1/orders/{o['id']}/events").json["events"]
    assert not [e for e in events if e["action"] == "order.ca_failover"]


class Handshakes(threading.Thread):
    """Full handshakes for names in a loop: every failure and every serial seen."""

    def __init__(self, port, names):
        super().__init__(daemon=True)
        self.port, self.names = port, names
        self.failures, self.seen, self.count = [], {n: [] for n in names}, 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for n in self.names:
                try:
                    serial = handshake(self.port, n)[0]
                    if not self.seen[n] or self.seen[n][-1] != serial:
                        self.seen[n].append(serial)
                    self.count += 1
                except Exception as e:  # any failed handshake counts
                    self.failures.append(f"{n}: {e!r}")


def test_distrust_replaces_from_the_next_ca(server, store, two_cas):
    a, b = two_cas
    store.cli("product", "set-ca", "dv-multi", "pebble-a")  # no other CA: reported
    ann = server.api(store.tokens["ann"])
    old = {n: issue(ann, ann, "dv-ssl", [n]) for n in ("d1.example.com", "d2.example.com")}
    stranded = issue(ann, ann, "dv-multi", ["m1.example.com"])
    for o in (*old.values(), stranded):
        assert issued_by(a, o)
    credits = ann.get("/api/v1/account").json["credits"]
    loop = Handshakes(server.https_port, list(old))
    loop.start()
    assert wait_for(lambda: loop.count > 4, 10)
    r = store.cli("ca", "distrust", "pebble-a")
    assert "2 certificates queued for replacement, 1 with no other CA" in r.stdout, r.stdout

    def replaced():
        return all(len(loop.seen[n]) == 2 for n in old)
    assert wait_for(replaced, 60, 0.2), (loop.seen, store.cli("ca", "status").stdout)
    count = loop.count
    assert wait_for(lambda: loop.count > count + 4, 10)
    loop.stop.set()
    loop.join(10)
    assert loop.failures == [], loop.failures[:5]
    for n, o in old.items():
        # served without reload: the old certificate until the new one was live
        assert loop.seen[n][0] == o["certificate"]["serial"]
        new = ann.get(f"/api/v1/orders/{o['id']}").json
        assert new["status"] == "superseded", new
        child = ann.get(f"/api/v1/orders/{new['superseded_by']}").json
        assert child["kind"] == "reissue" and child["price"] == 0
        assert child["certificate"]["serial"] == loop.seen[n][1]
        assert issued_by(b, child)
        trail = [e["action"] for e in ann.get(f"/api/v1/orders/{o['id']}/events").json["events"]]
        assert "order.distrust_reissue" in trail
    assert ann.get("/api/v1/account").json["credits"] == credits  # no charge
    assert "DISTRUSTED" in [ln for ln in store.cli("ca", "list").stdout.splitlines()
                            if ln.startswith("pebble-a ")][0]
    status = store.cli("ca", "status").stdout
    assert "0 queued, 0 in progress, 2 replaced, 0 failed" in status, status
    assert "no other CA for product dv-multi" in status, status
    # the stranded certificate is still served, not silently dropped
    assert handshake(server.https_port, "m1.example.com")[0] == \
        stranded["certificate"]["serial"]
    # new orders never go to the distrusted CA
    fresh = issue(ann, ann, "dv-ssl", ["d3.example.com"])
    assert issued_by(b, fresh)
    o = order(ann, "dv-multi", ["m2.example.com"])
    assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
    failed = wait_status(ann, o["id"], "failed", timeout=20)
    assert "distrusted" in failed["error"]["detail"]


def test_distrust_by_root_fingerprint(server, store, two_cas):
    """`ca distrust --root-fingerprint`: the certificates whose chain holds that certificate
    (here pebble-a's intermediate, colons and capitals as a browser shows it) are reissued
    from the product's next CA and served; others stay; the CA itself is not marked."""
    a, b = two_cas
    ann = server.api(store.tokens["ann"])
    hit = issue(ann, ann, "dv-ssl", ["fp1.example.com"])
    assert issued_by(a, hit)
    store.cli("product", "set-ca", "dv-ssl", "pebble-b,pebble-a")
    other = issue(ann, ann, "dv-ssl", ["fp2.example.com"])  # pebble-b's chain: not affected
    assert issued_by(b, other)
    store.cli("product", "set-ca", "dv-ssl", "pebble-a,pebble-b")
    credits = ann.get("/api/v1/account").json["credits"]
    der = ssl.PEM_cert_to_DER_cert(a.intermediate_pem())
    fp = ":".join(f"{x:02X}" for x in hashlib.sha256(der).digest())
    # a root seen in no chain: nothing to do
    r = store.cli("ca", "distrust", "--root-fingerprint", "ab" * 32)
    assert "0 certificates queued for replacement" in r.stdout, r.stdout
    r = store.cli("ca", "distrust", "--root-fingerprint", fp)
    assert "1 certificates queued for replacement, 0 with no other CA" in r.stdout, r.stdout
    new = wait_status(ann, hit["id"], "superseded", timeout=60)
    child = wait_status(ann, new["superseded_by"], "issued", timeout=60)
    assert child["kind"] == "reissue" and child["price"] == 0
    assert issued_by(b, child) and not issued_by(a, child)
    assert wait_for(lambda: handshake(server.https_port, "fp1.example.com")[0] ==
                    child["certificate"]["serial"], 10)
    assert ann.get(f"/api/v1/orders/{other['id']}").json["status"] == "issued"
    assert handshake(server.https_port, "fp2.example.com")[0] == other["certificate"]["serial"]
    assert ann.get("/api/v1/account").json["credits"] == credits  # no charge
    trail = ann.get(f"/api/v1/orders/{hit['id']}/events").json["events"]
    assert any(e["action"] == "order.distrust_reissue" and fp.replace(":", "").lower()
               in e["detail"] for e in trail), trail
    assert "DISTRUSTED" not in [ln for ln in store.cli("ca", "list").stdout.splitlines()
                                if ln.startswith("pebble-a ")][0]
    assert "1 replaced" in store.cli("ca", "status").stdout
