"""Issuance from a real ACME CA: Debian's pebble, through both server modules."""
import os
import subprocess
import tempfile
import time

import pytest

from cin import cli, handshake, order, wait_for, wait_status
from pebble import EAB_HMAC, EAB_KID, Pebble


@pytest.fixture
def pebble(base, server, store):
    """pebble validating http-01 against the server under test, bound to dv products."""
    p = Pebble(base, server.http_port).start()
    store.cli("ca", "add", "--name", "pebble", "--acme", p.directory, "--trust", p.cert,
        "--contact", "mailto:hostmaster@example.com")
    for product in ("dv-ssl", "dv-multi"):
        store.cli("product", "set-ca", product, "pebble")
    yield p
    p.stop()


def _verify(chain_pem, root_pem):
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as c, \
            tempfile.NamedTemporaryFile("w", suffix=".pem") as r:
        c.write(chain_pem)
        c.flush()
        r.write(root_pem)
        r.flush()
        return subprocess.run(["openssl", "verify", "-CAfile", r.name, "-untrusted", c.name,
                               c.name], capture_output=True, text=True)


def issue(api, admin, product, names, timeout=40, **extra):
    o = order(api, product, names, **extra)
    if o["status"] == "pending_approval":
        assert admin.post(f"/api/v1/orders/{o['id']}/approve").status == 200
    assert api.post(f"/api/v1/orders/{o['id']}/pay").status == 200
    return wait_status(admin, o["id"], "issued", timeout=timeout)


@pytest.mark.backends("sqlite", "postgresql")
def test_seed_scenario_issued_by_pebble(server, store, pebble):
    bob = server.api(store.tokens["bob"])
    ann = server.api(store.tokens["ann"])
    for product, names in (("dv-ssl", ["acme1.example.com"]),
                           ("dv-multi", ["multi.example.com", "www.multi.example.com",
                                         "api.multi.example.com"])):
        o = issue(bob, ann, product, names)
        assert "Pebble" in o["certificate"]["issuer"]
        chain = ann.get(f"/api/v1/orders/{o['id']}/certificate").body
        v = _verify(chain, pebble.root_pem())
        assert v.returncode == 0, v.stderr
        serial = o["certificate"]["serial"]
        for name in names:
            assert wait_for(lambda: handshake(server.https_port, name)[0] == serial, 5), name
    # challenges were answered by the module and cleaned up afterwards
    assert store.sql("SELECT count(*) FROM challenges") == "0"


def test_eab_right_and_wrong_key(base, server, store):
    p = Pebble(base, server.http_port, eab=True).start()
    try:
        hmac = os.path.join(base, "hmac.txt")
        with open(hmac, "w") as f:
            f.write("\n  " + EAB_HMAC + "  \n")
        store.cli("ca", "add", "--name", "eab", "--acme", p.directory, "--trust", p.cert,
            "--eab-kid", EAB_KID, "--eab-hmac-file", hmac)
        store.cli("product", "set-ca", "dv-ssl", "eab")
        ann = server.api(store.tokens["ann"])
        o = issue(ann, ann, "dv-ssl", ["eab.example.com"])
        assert "Pebble" in o["certificate"]["issuer"]
        # a wrong HMAC: failed, with pebble's own problem in the order
        with open(hmac, "w") as f:
            f.write("A" * 64 + "\n")
        store.cli("ca", "add", "--name", "eab-wrong", "--acme", p.directory, "--trust",
            p.cert, "--eab-kid", EAB_KID, "--eab-hmac-file", hmac)
        store.cli("product", "set-ca", "dv-ssl", "eab-wrong")
        o = order(ann, "dv-ssl", ["eab2.example.com"])
        assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        failed = wait_status(ann, o["id"], "failed", timeout=30)
        assert failed["error"]["type"] == "urn:ietf:params:acme:error:unauthorized", failed
        assert "retry" in failed["actions"]
    finally:
        p.stop()


def test_nonce_rejections_survived_twenty_in_a_row(server, store, pebble):
    ann = server.api(store.tokens["ann"])
    ids = []
    for i in range(20):
        o = order(ann, "dv-ssl", [f"n{i}.example.com"])
        assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        ids.append(o["id"])
    for oid in ids:
        wait_status(ann, oid, "issued", timeout=90)
    assert store.sql("SELECT count(*) FROM certificates") == "20"


def test_pebble_down_then_back_issues_exactly_once(server, store, pebble):
    ann = server.api(store.tokens["ann"])
    pebble.stop_pebble()
    o = order(ann, "dv-ssl", ["outage.example.com"])
    assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200

    def waiting():
        j = ann.get(f"/api/v1/orders/{o['id']}").json
        return j["status"] == "processing" and j["attempts"] >= 1 and j
    j = wait_for(waiting, 20)
    assert j, "the order did not wait with an attempt count"
    assert j["error"]["type"] == "urn:certinext:error:ca_unavailable"
    # pebble back, with no memory of accounts or orders
    pebble.start()
    issued = wait_status(ann, o["id"], "issued", timeout=120)
    oid = int(o["id"][2:])
    assert store.sql(f"SELECT count(*) FROM certificates WHERE order_id={oid}") == "1"
    assert wait_for(lambda: handshake(server.https_port, "outage.example.com")[0]
                    == issued["certificate"]["serial"], 5)


def test_pebble_restarted_mid_order_starts_afresh(server, store, pebble):
    ann = server.api(store.tokens["ann"])
    o = order(ann, "dv-ssl", ["midway.example.com"])
    oid = int(o["id"][2:])
    assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
    # as soon as the ACME order exists, pull pebble's memory away
    assert wait_for(lambda: store.sql(f"SELECT count(*) FROM acme_orders WHERE order_id={oid}")
                    == "1", 20, 0.01)
    pebble.stop_pebble()
    pebble.start()
    issued = wait_status(ann, o["id"], "issued", timeout=120)
    assert store.sql(f"SELECT count(*) FROM certificates WHERE order_id={oid}") == "1"
    assert issued["certificate"]["serial"]


def test_agent_killed_after_finalize_resumes_same_order(base, store):
    """Without a server agent: `certinext agent --once` passes, one process each."""
    from servers import Nginx
    srv = Nginx(base, store, agent=False).start()
    p = Pebble(base, srv.http_port).start()
    try:
        store.cli("ca", "add", "--name", "pebble", "--acme", p.directory, "--trust",
            p.cert)
        store.cli("product", "set-ca", "dv-ssl", "pebble")
        ann = srv.api(store.tokens["ann"])
        o = order(ann, "dv-ssl", ["resume.example.com"])
        oid = int(o["id"][2:])
        assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        # pass after pass, until finalize has been sent; each process then exits
        for _ in range(60):
            store.cli("agent", "--once")
            state = store.sql(f"SELECT state FROM acme_orders WHERE order_id={oid}")
            if '"finalized":true' in state:
                break
            time.sleep(0.3)
        assert '"finalized":true' in state, state
        assert ann.get(f"/api/v1/orders/{o['id']}").json["status"] == "processing"
        order_url = store.sql(f"SELECT json_extract(state, '$.order_url') FROM acme_orders "
                              f"WHERE order_id={oid}")
        # a new agent resumes the same ACME order and stores its certificate
        for _ in range(30):
            store.cli("agent", "--once")
            if ann.get(f"/api/v1/orders/{o['id']}").json["status"] == "issued":
                break
            time.sleep(0.3)
        assert ann.get(f"/api/v1/orders/{o['id']}").json["status"] == "issued"
        assert store.sql(f"SELECT json_extract(state, '$.order_url') FROM acme_orders "
                         f"WHERE order_id={oid}") == order_url
        assert store.sql(f"SELECT count(*) FROM certificates WHERE order_id={oid}") == "1"
    finally:
        p.stop()
        srv.stop()


def test_revocation_reaches_pebble(server, store, pebble):
    ann = server.api(store.tokens["ann"])
    o = issue(ann, ann, "dv-ssl", ["revoke.example.com"])
    serial = o["certificate"]["serial"]
    assert wait_for(lambda: handshake(server.https_port, "revoke.example.com")[0] == serial, 5)
    t0 = time.time()
    r = ann.post(f"/api/v1/orders/{o['id']}/revoke", {"reason": "keyCompromise"})
    assert r.status == 200
    assert handshake(server.https_port, "revoke.example.com")[0] != serial  # at once
    status = wait_for(lambda: pebble.cert_status(serial).get("Status") == "Revoked" and
                      pebble.cert_status(serial), 10)
    assert status, pebble.cert_status(serial)
    assert time.time() - t0 < 10
    ev = ann.get(f"/api/v1/orders/{o['id']}/events").json["events"]
    assert "certificate.revocation_sent" in [e["action"] for e in ev]


def test_failing_challenge_then_admin_retry(server, store, pebble):
    ann = server.api(store.tokens["ann"])
    pebble.resolve("elsewhere.example.com", "127.0.0.2")  # not us: validation fails
    o = order(ann, "dv-ssl", ["elsewhere.example.com"])
    assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
    failed = wait_status(ann, o["id"], "failed", timeout=60)
    assert failed["error"]["type"].startswith("urn:ietf:params:acme:error:"), failed["error"]
    assert failed["error"].get("detail")
    # the name now points at us; the admin retries
    pebble.resolve("elsewhere.example.com", "127.0.0.1")
    bob = server.api(store.tokens["sam"])
    assert bob.post(f"/api/v1/orders/{o['id']}/retry").status == 403
    r = ann.post(f"/api/v1/orders/{o['id']}/retry")
    assert r.status == 200 and r.json["status"] == "processing"
    wait_status(ann, o["id"], "issued", timeout=60)


def test_auto_renewal_served_without_reload(base, server, store):
    p = Pebble(base, server.http_port, validity=60).start()
    try:
        store.cli("ca", "add", "--name", "short", "--acme", p.directory, "--trust", p.cert)
        store.cli("product", "set-ca", "dv-ssl", "short")
        store.cli("settings", "set", "renew-fraction", "0.9")  # renew after ~6 s
        ann = server.api(store.tokens["ann"])
        credits = ann.get("/api/v1/account").json["credits"]
        o = issue(ann, ann, "dv-ssl", ["renew.example.com"], auto_renew=True)
        first = o["certificate"]["serial"]

        def renewed():
            rows = store.sql(f"SELECT id FROM orders WHERE parent_id={int(o['id'][2:])} AND "
                             "kind='renewal' AND status='issued'")
            return rows.split() and rows.split()[0]
        child = wait_for(renewed, 60, 0.2)
        assert child, store.sql("SELECT id, status, kind, parent_id FROM orders")
        new = ann.get(f"/api/v1/orders/R-{int(child):06d}").json
        assert new["kind"] == "renewal" and new["order_number"]
        assert new["certificate"]["serial"] != first
        # charged without a new approval (an admin placed the original)
        assert ann.get("/api/v1/account").json["credits"] == credits - 20
        assert wait_for(lambda: handshake(server.https_port, "renew.example.com")[0]
                        == new["certificate"]["serial"], 5)
        ev = ann.get(f"/api/v1/orders/{o['id']}/events").json["events"]
        assert "order.auto_renew" in [e["action"] for e in ev]
    finally:
        store.cli("settings", "set", "renew-fraction", "0.333")
        p.stop()


def test_preferred_alternate_chain(base, server, store):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    p = Pebble(base, server.http_port, alternate_roots=1).start()
    try:
        alt_root = p.root_pem(1)
        cn = x509.load_pem_x509_certificate(alt_root.encode()).subject.get_attributes_for_oid(
            NameOID.COMMON_NAME)[0].value
        store.cli("ca", "add", "--name", "alt", "--acme", p.directory, "--trust", p.cert,
            "--preferred-chain", cn)
        store.cli("product", "set-ca", "dv-ssl", "alt")
        ann = server.api(store.tokens["ann"])
        o = issue(ann, ann, "dv-ssl", ["alt.example.com"])
        chain = ann.get(f"/api/v1/orders/{o['id']}/certificate").body
        assert _verify(chain, alt_root).returncode == 0          # the preferred hierarchy
        assert _verify(chain, p.root_pem(0)).returncode != 0     # not the default one
    finally:
        p.stop()


def test_cancelled_after_finalize_fetched_and_revoked(base, store):
    """Cancelled after finalize: pebble issued all the same.  The agent fetches that
    certificate (never finalizing or validating anything more), stores it revoked and
    never serves it, and revokes it at pebble.  `certinext agent --once` passes."""
    from servers import Nginx
    srv = Nginx(base, store, agent=False).start()
    p = Pebble(base, srv.http_port).start()
    try:
        cli(store.path, "ca", "add", "--name", "pebble", "--acme", p.directory, "--trust",
            p.cert)
        cli(store.path, "product", "set-ca", "dv-ssl", "pebble")
        ann = srv.api(store.tokens["ann"])
        o = order(ann, "dv-ssl", ["cancelled.example.com"])
        oid = int(o["id"][2:])
        assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        state = ""
        for _ in range(60):
            cli(store.path, "agent", "--once")
            state = store.sql(f"SELECT state FROM acme_orders WHERE order_id={oid}")
            if '"finalized":true' in state:
                break
            time.sleep(0.3)
        assert '"finalized":true' in state, state
        r = ann.post(f"/api/v1/orders/{o['id']}/cancel")
        assert r.status == 200 and r.json["status"] == "cancelled", r
        assert store.sql(f"SELECT ca_cleanup FROM orders WHERE id={oid}") == "1"
        for _ in range(60):
            cli(store.path, "agent", "--once")
            if store.sql(f"SELECT ca_cleanup FROM orders WHERE id={oid}") == "0":
                break
            time.sleep(0.3)
        row = store.sql(f"SELECT serial, status, revocation_reason FROM certificates "
                        f"WHERE order_id={oid}")
        serial, status, reason = row.split("|")
        assert (status, reason) == ("revoked", "cessationOfOperation"), row
        j = ann.get(f"/api/v1/orders/{o['id']}").json
        assert j["status"] == "cancelled" and j["certificate"] is None, j

        def revoked_at_pebble():
            cli(store.path, "agent", "--once")
            return p.cert_status(serial).get("Status") == "Revoked"
        assert wait_for(revoked_at_pebble, 30, 0.3), p.cert_status(serial)
        assert handshake(srv.https_port, "cancelled.example.com")[0] != serial
        actions = [e["action"] for e in
                   ann.get(f"/api/v1/orders/{o['id']}/events").json["events"]]
        assert "certificate.revoke" in actions and "certificate.revocation_sent" in actions
        # the clean-up is over: the ACME state went with it
        assert store.sql(f"SELECT count(*) FROM acme_orders WHERE order_id={oid}") == "0"
    finally:
        p.stop()
        srv.stop()
