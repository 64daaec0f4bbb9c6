"""The seed scenario over HTTP with real tokens, and hot reload on every worker."""
import pytest
import os
import signal
import subprocess
import tempfile
import time

from cin import handshake, order, probe_workers, wait_for, wait_status


def issue(api, admin, names, product="dv-multi", **extra):
    o = order(admin, product, names, **extra)
    r = admin.post(f"/api/v1/orders/{o['id']}/pay")
    assert r.status == 200, r
    return wait_status(admin, o["id"], "issued")


@pytest.mark.backends("sqlite", "postgresql")
def test_seed_scenario_and_hot_reload_on_every_worker(server, store):
    api = server.api()
    bob, ann = api.as_user(store.tokens["bob"]), api.as_user(store.tokens["ann"])
    fallback = handshake(server.https_port, "shop.example.com")[0]

    o = order(bob, "dv-ssl", ["shop.example.com"])
    assert o["status"] == "pending_approval"
    assert o["order_number"] is None
    # reject without a reason: 400, nothing changes
    other = order(bob, "dv-ssl", ["blog.example.com"])
    r = ann.post(f"/api/v1/orders/{other['id']}/reject", {})
    assert r.status == 400 and r.problem == "bad_request"
    assert bob.get(f"/api/v1/orders/{other['id']}").json["status"] == "pending_approval"
    r = ann.post(f"/api/v1/orders/{other['id']}/reject", {"reason": "blog is retired"})
    assert r.status == 200 and r.json["status"] == "rejected"
    assert bob.get(f"/api/v1/orders/{other['id']}").json["rejection_reason"] == "blog is retired"
    # approve -> Order Summary & Payment -> Pay now -> Order ID
    r = ann.post(f"/api/v1/orders/{o['id']}/approve", {"comment": "fine"})
    assert r.status == 200 and r.json["status"] == "awaiting_payment"
    credits = ann.get("/api/v1/account").json["credits"]
    r = bob.post(f"/api/v1/orders/{o['id']}/pay")
    assert r.status == 200 and r.json["order_number"].startswith("CIN-")
    assert ann.get("/api/v1/account").json["credits"] == credits - 10
    paid_at = time.time()
    issued = wait_status(bob, o["id"], "issued", timeout=10)
    serial = issued["certificate"]["serial"]
    # served by SNI without any reload, within a second, by every worker
    seen_at = wait_for(lambda: handshake(server.https_port, "shop.example.com")[0] == serial
                       and time.time(), timeout=5, interval=0.02)
    assert seen_at and seen_at - paid_at < 1.5, "issued and served within the agent's second"
    seen = probe_workers(server, "shop.example.com", serial)
    assert {s for s, _ in seen} == {serial}
    workers = {p for _, p in seen}
    assert len(workers) >= 2, f"only workers {workers} were reached"
    assert serial != fallback
    # the downloaded chain is the one served
    r = bob.get(f"/api/v1/orders/{o['id']}/certificate")
    assert r.status == 200 and r.headers["content-type"] == "application/pem-certificate-chain"
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as chain, \
            tempfile.NamedTemporaryFile("w", suffix=".pem") as root:
        chain.write(r.body)
        chain.flush()
        root.write(store.builtin_root())
        root.flush()
        v = subprocess.run(["openssl", "verify", "-CAfile", root.name, "-untrusted", chain.name,
                            chain.name], capture_output=True, text=True)
        assert v.returncode == 0, v.stderr
        out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", chain.name],
                             capture_output=True, text=True).stdout
        assert out.strip().lower() == f"serial={serial}"


@pytest.mark.backends("sqlite", "postgresql")
def test_wildcard_fallback_revoke_and_reissue(server, store):
    api = server.api()
    ann = api.as_user(store.tokens["ann"])
    port = server.https_port
    fallback = handshake(port, "nothing.example.org")[0]
    w = issue(api, ann, ["*.shop.example.net", "shop.example.net"], product="dv-wildcard")
    assert wait_for(lambda: handshake(port, "cart.shop.example.net")[0]
                    == w["certificate"]["serial"], 3)
    assert handshake(port, "shop.example.net")[0] == w["certificate"]["serial"]
    assert handshake(port, "a.b.shop.example.net")[0] == fallback
    assert handshake(port, "unknown.example.org")[0] == fallback
    assert handshake(port, None)[0] == fallback

    o = issue(api, ann, ["www.example.com"])
    old = o["certificate"]["serial"]
    assert wait_for(lambda: handshake(port, "www.example.com")[0] == old, 3)
    # reissue -> the new serial on the next handshakes
    r = ann.post(f"/api/v1/orders/{o['id']}/reissue", {})
    assert r.status == 201
    ann.post(f"/api/v1/orders/{r.json['id']}/pay")
    new = wait_status(ann, r.json["id"], "issued")["certificate"]["serial"]
    assert new != old
    assert wait_for(lambda: handshake(port, "www.example.com")[0] == new, 3)
    assert all(handshake(port, "www.example.com")[0] == new for _ in range(10))
    # revoke -> the very next handshake no longer gets it
    r = ann.post(f"/api/v1/orders/{r.json['id']}/revoke", {"reason": "keyCompromise"})
    assert r.status == 200 and r.json["status"] == "revoked"
    assert all(handshake(port, "www.example.com")[0] == fallback for _ in range(10))


def _one_issue(store, oid):
    n = store.sql(f"SELECT count(*) FROM certificates WHERE order_id = {int(oid[2:])}")
    ev = store.sql("SELECT count(*) FROM order_events WHERE action = 'order.issued' "
                   f"AND order_id = {int(oid[2:])}")
    return n, ev


def test_reload_and_killed_agent_worker_complete_exactly_once(server, store):
    api = server.api()
    ann = api.as_user(store.tokens["ann"])
    # a slow key (RSA 4096) keeps the agent busy while we pull the rug
    o = order(ann, "dv-ssl", ["slow.example.com"], key_type="rsa-4096")
    assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
    agent = wait_for(server.agent_pid, 5)
    assert agent
    time.sleep(0.3)
    os.kill(agent, signal.SIGKILL)
    issued = wait_status(ann, o["id"], "issued", timeout=40)
    assert _one_issue(store, o["id"]) == ("1", "1")
    assert wait_for(lambda: handshake(server.https_port, "slow.example.com")[0]
                    == issued["certificate"]["serial"], 5)
    # a reload in the middle of the next one
    o2 = order(ann, "dv-ssl", ["reload.example.com"], key_type="rsa-4096")
    assert ann.post(f"/api/v1/orders/{o2['id']}/pay").status == 200
    time.sleep(0.3)
    server.reload()
    issued2 = wait_status(ann, o2["id"], "issued", timeout=40)
    assert _one_issue(store, o2["id"]) == ("1", "1")
    assert wait_for(lambda: handshake(server.https_port, "reload.example.com")[0]
                    == issued2["certificate"]["serial"], 5)
