"""ARI (RFC 9773) end to end (issue 14): one certinext (nginx) is the ACME CA of another
(httpd, its own store). Pebble 2.4 has no renewalInfo; certinext's own ACME server has.
The client reads its certificate's window, plans the renewal inside it; when the CA moves
the window earlier, the client replaces the certificate at once with a free reissue whose
order names the certificate it replaces."""
import os

import pytest

from cin import Store, wait_for, wait_status
from servers import SERVERS
from test_acme import issue
from test_acme_server import credential, serve_localhost


@pytest.fixture
def ca_and_client(base, store):
    ca = SERVERS["nginx"](base, store).start()
    cbase = os.path.join(base, "client")
    os.mkdir(cbase)
    cstore = Store(cbase)
    client = None
    try:
        root = serve_localhost(ca, store)
        cred = credential(ca.api(store.tokens["ann"]), auto_pay=True)
        hmac = os.path.join(cbase, "hmac.txt")
        with open(hmac, "w") as f:
            f.write(cred["hmac_key"] + "\n")
        cstore.cli("ca", "add", "--name", "upstream", "--acme",
                   f"https://localhost:{ca.https_port}/certinext/acme/directory",
                   "--trust", root, "--eab-kid", cred["key_id"], "--eab-hmac-file", hmac)
        cstore.cli("product", "set-ca", "dv-ssl", "upstream")
        cstore.cli("settings", "set", "ari-interval", "1")  # not a minute: a test
        client = SERVERS["httpd"](cbase, cstore).start()
        yield ca, client, cstore
    finally:
        if client:
            client.stop()
        ca.stop()


def window(cstore):
    row = cstore.sql("SELECT window_start, window_end, planned_at, moved FROM cert_ari"
                     " WHERE window_end > 0")
    return [int(x) for x in row.split("|")] if row else None


def test_ari_window_and_free_reissue_when_moved_earlier(store, ca_and_client):
    ca, client, cstore = ca_and_client
    ann = client.api(cstore.tokens["ann"])
    o = issue(ann, ann, "dv-ssl", ["ari.example.com"], timeout=60)
    assert "certinext" in o["certificate"]["issuer"]
    # the agent looks for due windows every ari-interval (here a second)
    assert wait_for(lambda: window(cstore), 60, 0.5), cstore.sql("SELECT * FROM cert_ari")
    start, end, planned, moved = window(cstore)
    assert start <= planned <= end and moved == 0
    got = ann.get(f"/api/v1/orders/{o['id']}").json["certificate"]["renewal_window"]
    assert got["moved_earlier"] is False and got["planned_at"] <= got["end"], got
    credits = ann.get("/api/v1/account").json["credits"]
    # the CA renews much earlier now: its window ends before the time planned
    store.cli("settings", "set", "renew-fraction", "0.95")
    cstore.sql("UPDATE cert_ari SET next_check = 0")  # rather than the CA's 6 hours
    assert wait_for(lambda: window(cstore)[3] == 1, 60, 0.5), window(cstore)
    new = wait_status(ann, o["id"], "superseded", timeout=90)
    child = ann.get(f"/api/v1/orders/{new['superseded_by']}").json
    assert child["kind"] == "reissue" and child["price"] == 0, child
    assert ann.get("/api/v1/account").json["credits"] == credits  # free
    trail = [e["action"] for e in ann.get(f"/api/v1/orders/{o['id']}/events").json["events"]]
    assert "order.ari_reissue" in trail, trail
    # the CA's order for it named the certificate replaced (RFC 9773 "replaces")
    assert store.sql("SELECT count(*) FROM acmesrv_orders WHERE replaces > 0") == "1"
