"""Resellers and their customers (issue 16) through both servers: three levels of
accounts made by the CLI and the API, parent approval then the customer's own
approval then payment from the parent's balance with both ledgers, an order a
parent places for its customer, a rejection whose reason reaches the customer,
a domain outside the parent's refused, and the most specific assignment of a
name deciding whose certificate is served for it."""
import csv
import io
import os

import pytest

from cin import handshake, order, wait_for, wait_status


def ledger_rows(api, oid, account=None):
    q = f"?account={account}" if account else ""
    r = api.get(f"/api/v1/ledger{q}")
    assert r.status == 200, r
    return [e["delta"] for e in r.json["ledger"] if e["order"] == oid]


# Generous waits on conditions (they end as soon as the condition holds): in a combined
# run the agent and the servers share two loaded cores with every other test.
ISSUED = 90
SERVED = 60


def served(port, sni):
    """The serial a fresh handshake for sni gets; None when the handshake fails (a
    worker busy under load): "not yet", not an error."""
    try:
        return handshake(port, sni)[0]
    except OSError:
        return None


def serves(port, sni, serial):
    return served(port, sni) == serial


def credits(api, name):
    r = api.get(f"/api/v1/accounts/{name}")
    assert r.status == 200, r
    return r.json["credits"]


@pytest.mark.backends("sqlite", "postgresql")
def test_three_levels_parent_approval_billing_and_serving(server, store):
    api = server.api()
    ann = api.as_user(store.tokens["ann"])
    # acme -> resell (CLI, the provider) -> cust (API, resell's administrator)
    store.cli("account", "create", "resell", "--parent", "acme", "--credits", "200")
    store.cli("user", "create", "--account", "resell", "--name", "radm", "--role", "admin",
              "--password-stdin", input="radm-password\n")
    radm = api.as_user(store.cli("token", "create", "--user", "radm").stdout.strip())
    store.cli("domain", "add", "--account", "resell", "r.example.com")
    r = radm.post("/api/v1/accounts", {"name": "cust",
                                       "admin": {"name": "cadm", "password": "cadm-password"}})
    assert r.status == 201 and r.json["parent"] == "resell", r
    assert r.json["requires_parent_approval"] is True and r.json["billing"] == "prepaid"
    cadm = api.as_user(store.cli("token", "create", "--user", "cadm").stdout.strip())
    r = cadm.post("/api/v1/users", {"name": "cstd", "role": "standard"})
    assert r.status == 201, r
    cstd = api.as_user(store.cli("token", "create", "--user", "cstd").stdout.strip())
    r = radm.post("/api/v1/domains", {"name": "c.r.example.com", "account": "cust"})
    assert r.status == 201, r
    # a domain outside the parent's is refused, by API and by CLI
    r = radm.post("/api/v1/domains", {"name": "x.other.org", "account": "cust"})
    assert r.status == 403 and r.problem == "domain_not_owned", r
    assert store.cli("domain", "add", "--account", "cust", "y.other.org",
                     check=False).returncode != 0
    # billing to the parent: only the parent's side may set it
    assert store.cli("account", "set", "cust", "--billing", "parent").returncode == 0
    r = cadm.request("PATCH", "/api/v1/accounts/cust", {"billing": "prepaid"})
    assert r.status == 403, r

    # the customer's standard user orders: parent first, then cust's own admin
    o = order(cstd, "dv-ssl", ["shop.c.r.example.com"])
    assert o["status"] == "pending_parent_approval" and o["account"] == "cust"
    assert "approve" not in o["actions"]
    r = cadm.post(f"/api/v1/orders/{o['id']}/approve")
    assert r.status == 403, r
    mine = radm.get(f"/api/v1/orders/{o['id']}").json
    assert "approve" in mine["actions"] and "reject" in mine["actions"]
    listed = radm.get("/api/v1/orders?account=cust").json["orders"]
    assert [x["id"] for x in listed] == [o["id"]] and listed[0]["account"] == "cust"
    assert cadm.get("/api/v1/orders?account=resell").status == 404
    r = radm.post(f"/api/v1/orders/{o['id']}/approve")
    assert r.status == 200 and r.json["status"] == "pending_approval", r
    r = cadm.post(f"/api/v1/orders/{o['id']}/approve")
    assert r.status == 200 and r.json["status"] == "awaiting_payment", r
    before_r, before_c = credits(radm, "resell"), credits(radm, "cust")
    r = cstd.post(f"/api/v1/orders/{o['id']}/pay")
    assert r.status == 200 and r.json["order_number"].startswith("CIN-"), r
    assert credits(radm, "resell") == before_r - 10
    assert credits(radm, "cust") == before_c
    assert ledger_rows(radm, o["id"]) == [-10]
    assert ledger_rows(cadm, o["id"]) == [0]
    assert ledger_rows(radm, o["id"], "cust") == [0]
    issued = wait_status(cstd, o["id"], "issued", timeout=ISSUED)
    serial = issued["certificate"]["serial"]
    assert wait_for(lambda: serves(server.https_port, "shop.c.r.example.com", serial), SERVED)

    # the parent's wildcard serves its own names, never the customer's
    w = order(radm, "dv-wildcard", ["*.r.example.com", "r.example.com"])
    assert w["status"] == "pending_parent_approval"  # resell itself needs acme's approval
    assert ann.post(f"/api/v1/orders/{w['id']}/approve").json["status"] == "awaiting_payment"
    assert radm.post(f"/api/v1/orders/{w['id']}/pay").status == 200
    wserial = wait_status(radm, w["id"], "issued", timeout=ISSUED)["certificate"]["serial"]
    assert wait_for(lambda: serves(server.https_port, "x.r.example.com", wserial), SERVED)
    got = wait_for(lambda: served(server.https_port, "c.r.example.com"), SERVED)
    assert got and got != wserial
    # ... and the parent orders for a delegated name only on the customer's behalf
    r = radm.post("/api/v1/orders", {"product": "dv-ssl", "common_name": "c.r.example.com"})
    assert r.status == 403 and r.problem == "domain_not_owned", r
    r = radm.post("/api/v1/orders", {"product": "dv-ssl", "common_name": "c.r.example.com",
                                     "account": "cust"})
    assert r.status == 201 and r.json["account"] == "cust" and r.json["requester"] == "radm"
    assert r.json["status"] == "awaiting_payment"  # placed by the parent: parent-approved

    # a rejection by the parent shows its reason to the customer's requester
    o2 = order(cstd, "dv-ssl", ["blog.c.r.example.com"])
    r = radm.post(f"/api/v1/orders/{o2['id']}/reject", {"reason": "not in this contract"})
    assert r.status == 200 and r.json["status"] == "rejected", r
    seen = cstd.get(f"/api/v1/orders/{o2['id']}").json
    assert seen["rejection_reason"] == "not in this contract"
    # credits move only downwards, from the caller's own account
    assert cadm.post("/api/v1/accounts/resell/credits", {"amount": 5}).status == 404
    r = radm.post("/api/v1/accounts/cust/credits", {"amount": 25})
    assert r.status == 200 and r.json["credits"] == before_c + 25, r

    # reports: resell's administrator sees resell and cust, with totals per account
    store.cli("user", "create", "--account", "cust", "--name", "-cmd", "--role", "standard")
    odd = api.as_user(store.cli("token", "create", "--user", "-cmd").stdout.strip())
    assert cadm.request("PATCH", "/api/v1/accounts/cust", {"require_2fa": False}).status == 200
    o3 = order(odd, "dv-ssl", ["csv.c.r.example.com"])
    r = radm.get("/api/v1/reports/orders?format=csv")
    assert r.status == 200 and r.headers["content-type"].startswith("text/csv"), r
    rows = list(csv.reader(io.StringIO(r.body)))
    assert rows[0][:4] == ["row", "id", "order_number", "account"]
    head = rows[0]
    items = [dict(zip(head, x)) for x in rows[1:] if x[0] == "item"]
    totals = {x[head.index("account")]: dict(zip(head, x)) for x in rows[1:] if x[0] == "total"}
    mine = radm.get("/api/v1/reports/orders").json
    assert [i["id"] for i in items] == [o["id"] for o in mine["orders"]]
    for item, want in zip(items, mine["orders"]):
        assert item["account"] == want["account"] and item["status"] == want["status"]
        assert item["product"] == want["product"] and int(item["price"]) == want["price"]
        assert int(item["credits_spent"]) == want["credits_spent"]
    # a cell that a spreadsheet would run is neutralised
    bad = [i for i in items if i["id"] == o3["id"]][0]
    assert bad["requester"] == "'-cmd"
    # totals per account and overall, as the JSON says
    by = {t["account"]: t for t in mine["totals"]["by_account"]}
    assert set(totals) == set(by) | {"*"}
    for name, t in by.items():
        assert int(totals[name]["orders"]) == t["orders"]
        assert int(totals[name]["credits_spent"]) == t["credits_spent"]
    assert int(totals["*"]["orders"]) == len(items) == mine["totals"]["orders"]
    assert by["cust"]["credits_spent"] == 10  # the one paid order, billed to resell
    # filters: a sub-account, a product, a status; and the sales summary
    f = radm.get("/api/v1/reports/orders?account=cust&status=rejected").json
    assert [x["id"] for x in f["orders"]] == [o2["id"]]
    f = radm.get("/api/v1/reports/orders?product=dv-wildcard").json
    assert [x["id"] for x in f["orders"]] == [w["id"]]
    sales = radm.get("/api/v1/reports/sales").json
    assert {a["account"]: a["credits_spent"] for a in sales["accounts"]} == {"resell": 50,
                                                                             "cust": 10}
    assert cadm.get("/api/v1/reports/orders?account=resell").status == 404
    certs = radm.get("/api/v1/reports/certificates?format=csv")
    crow = list(csv.reader(io.StringIO(certs.body)))
    assert {x[crow[0].index("serial")] for x in crow[1:] if x[0] == "item"} == {serial, wserial}


def test_acme_orders_take_the_credentials_custom_fields(server, store, base):
    """Required custom fields and ACME (certbot): an ACME client cannot fill them, so an
    order carries its credential's preset; without one certbot is told
    userActionRequired, naming the field, before any validation, and nothing is made."""
    from test_acme_server import acme_orders, certbot, credential, serve_localhost
    root = serve_localhost(server, store)
    ann = server.api(store.tokens["ann"], tls=True)
    r = ann.post("/api/v1/fields", {"name": "cost_centre", "type": "text", "required": True})
    assert r.status == 201, r
    bare = credential(ann, auto_pay=True)
    # (each credential its own certbot directory: certbot keeps its ACME account there)
    p = certbot(server, root, bare["key_id"], bare["hmac_key"], ["cf1.example.com"],
                os.path.join(base, "bare"))
    out = p.stdout + p.stderr + p.log
    assert p.returncode != 0 and "userActionRequired" in out and "cost_centre is required" in out
    assert acme_orders(store) == [] and store.sql("SELECT count(*) FROM acmesrv_orders") == "0"
    # a credential's preset is validated, then every order of it carries the values
    r = ann.post("/api/v1/acme/credentials", {"name": "x", "fields": {"cost_centre": 7}})
    assert r.status == 400 and r.json["field"] == "fields.cost_centre", r
    cred = credential(ann, auto_pay=True, fields={"cost_centre": "CC-9"})
    assert cred["fields"] == {"cost_centre": "CC-9"}
    p = certbot(server, root, cred["key_id"], cred["hmac_key"], ["cf2.example.com"],
                os.path.join(base, "preset"))
    assert p.returncode == 0, p.stdout + p.stderr + p.log[-3000:]
    [oid] = acme_orders(store)
    o = ann.get(f"/api/v1/orders/{oid}").json
    assert o["fields"] == {"cost_centre": "CC-9"} and o["status"] == "issued", o


def test_move_a_sub_account_and_edit_its_users(server, store):
    """Re-parenting through the server (CLI and REST): the order waiting for the old
    parent waits for the new one, cycles are refused; a parent's administrator changes a
    customer's user, the customer's administrator cannot reach the parent's."""
    api = server.api()
    ann = api.as_user(store.tokens["ann"])
    for name in ("resell", "resell2"):
        store.cli("account", "create", name, "--parent", "acme")
        store.cli("user", "create", "--account", name, "--name", name[0] + name[-1] + "adm",
                  "--role", "admin")
    radm = api.as_user(store.cli("token", "create", "--user", "rladm").stdout.strip())
    r2adm = api.as_user(store.cli("token", "create", "--user", "r2adm").stdout.strip())
    r = radm.post("/api/v1/accounts", {"name": "cust",
                                       "admin": {"name": "cadm", "password": "cadm-password"}})
    assert r.status == 201, r
    cadm = api.as_user(store.cli("token", "create", "--user", "cadm").stdout.strip())
    assert ann.post("/api/v1/domains", {"name": "m.example.com", "account": "cust"}).status == 201
    o = order(cadm, "dv-ssl", ["m.example.com"])
    assert o["status"] == "pending_parent_approval"
    # the provider moves cust to resell2: the waiting order follows
    p = store.cli("account", "move", "cust", "--parent", "resell2")
    assert "1 order pending parent approval now wait" in p.stdout, p.stdout
    assert radm.get(f"/api/v1/orders/{o['id']}").status == 404
    assert radm.post(f"/api/v1/orders/{o['id']}/approve").status == 404
    r = r2adm.post(f"/api/v1/orders/{o['id']}/approve")
    assert r.status == 200 and r.json["status"] == "awaiting_payment", r
    # a cycle, and a reseller moving what is not below it, are refused; ann moves it back
    r = ann.post("/api/v1/accounts/resell2/move", {"parent": "cust"})
    assert r.status == 409 and r.json["field"] == "parent", r
    assert radm.post("/api/v1/accounts/cust/move", {"parent": "resell"}).status == 404
    r = ann.post("/api/v1/accounts/cust/move", {"parent": "resell"})
    assert r.status == 200 and r.json["parent"] == "resell", r
    assert radm.get("/api/v1/accounts/cust").status == 200
    # users: parent -> child allowed (never the password), child -> parent 404
    r = radm.request("PATCH", "/api/v1/users/cadm", {"disabled": True})
    assert r.status == 200 and r.json["disabled"] is True, r
    assert cadm.get("/api/v1/orders").status == 401
    assert radm.request("PATCH", "/api/v1/users/cadm", {"disabled": False}).status == 200
    r = radm.request("PATCH", "/api/v1/users/cadm", {"password": "a new long password"})
    assert r.status == 403 and r.json["field"] == "password", r
    assert cadm.request("PATCH", "/api/v1/users/rladm", {"role": "basic"}).status == 404
    assert r2adm.request("PATCH", "/api/v1/users/cadm", {"role": "basic"}).status == 404
    events = ann.get("/api/v1/audit?account=resell&limit=100").json["events"]
    assert {"account.move_out", "account.move_in"} <= {e["action"] for e in events}
