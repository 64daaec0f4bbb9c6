"""CA failover (issue 14): a product bound to an ordered list of CAs, two real pebbles."""
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
