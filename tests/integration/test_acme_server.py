"""The ACME server (issue 13): customers' own ACME clients order through the approval
workflow, on nginx and httpd over TLS, with the built-in CA.

Real clients: Debian's certbot and lego; a small Python client (acme_client.py) for the
protocol's bad input and for ARI, which neither speaks."""
import json
import os
import subprocess
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from acme_client import AcmeClient, ari_id, b64, csr_der
from cin import handshake, order, wait_for, wait_status


# ---- helpers ------------------------------------------------------------------------


def credential(api, **body):
    r = api.post("/api/v1/acme/credentials", {"name": "laptop", **body})
    assert r.status == 201, r
    return r.json


def serve_localhost(server, store):
    """The ACME server's own name, localhost, gets a certificate from the built-in CA
    (served by certinext itself), so that real clients can verify the connection."""
    store.cli("domain", "add", "--account", "other", "localhost")
    oscar = server.api(store.tokens["oscar"])
    o = order(oscar, "intranet-ssl", ["localhost"])
    assert oscar.post(f"/api/v1/orders/{o['id']}/pay").status == 200
    # generous waits on conditions: on a loaded 2-core machine the agent's pass and every
    # worker's refresh can take far longer than the 15 s and 10 s these once had
    serial = wait_status(oscar, o["id"], "issued", timeout=120)["certificate"]["serial"]
    assert wait_for(lambda: int(handshake(server.https_port, "localhost")[0], 16) ==
                    int(serial, 16), 120)
    root = os.path.join(server.base, "root.pem")
    with open(root, "w") as f:
        f.write(store.builtin_root())
    return root


def counts(store):
    return store.sql("SELECT (SELECT count(*) FROM orders) || ',' || "
                     "(SELECT count(*) FROM acmesrv_orders) || ',' || "
                     "(SELECT count(*) FROM acmesrv_accounts) || ',' || "
                     "(SELECT credits FROM accounts WHERE name = 'acme')")


def problem_type(r):
    assert r.headers.get("content-type") == "application/problem+json", r
    assert r.json["type"].startswith("urn:ietf:params:acme:error:"), r
    return r.json["type"].rsplit(":", 1)[1]


def verify_chain(chain_pem, root_pem, name):
    end = "-----END CERTIFICATE-----"
    certs = [x509.load_pem_x509_certificate((c + end).encode())
             for c in chain_pem.split(end) if "BEGIN" in c]
    leaf = certs[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert name in names.get_values_for_type(x509.DNSName)
    rootf = "/tmp/_cin13_root_%d.pem" % os.getpid()
    with open(rootf, "w") as f:
        f.write(root_pem)
    leaf_f = "/tmp/_cin13_leaf_%d.pem" % os.getpid()
    with open(leaf_f, "wb") as f:
        f.write(leaf.public_bytes(serialization.Encoding.PEM))
    inter_f = "/tmp/_cin13_inter_%d.pem" % os.getpid()
    with open(inter_f, "wb") as f:
        for c in certs[1:]:
            f.write(c.public_bytes(serialization.Encoding.PEM))
    p = subprocess.run(["openssl", "verify", "-CAfile", rootf, "-untrusted", inter_f, leaf_f],
                       capture_output=True, text=True)
    for f in (rootf, leaf_f, inter_f):
        os.unlink(f)
    assert p.returncode == 0, p.stdout + p.stderr
    return leaf


def certbot(server, root, kid, hmac, names, base, extra=(), timeout=120):
    d = os.path.join(base, "certbot")
    os.makedirs(os.path.join(d, "webroot"), exist_ok=True)
    cmd = ["certbot", "certonly", "--non-interactive", "--agree-tos",
           "--register-unsafely-without-email",
           "--server", f"https://localhost:{server.https_port}/certinext/acme/directory",
           "--eab-kid", kid, f"--eab-hmac-key={hmac}",
           "--config-dir", os.path.join(d, "config"), "--work-dir", os.path.join(d, "work"),
           "--logs-dir", os.path.join(d, "logs"), "--webroot", "-w", os.path.join(d, "webroot"),
           "--key-type", "ecdsa", *extra]
    for n in names:
        cmd += ["-d", n]
    env = dict(os.environ, REQUESTS_CA_BUNDLE=root)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    p.log = ""
    try:
        with open(os.path.join(d, "logs", "letsencrypt.log")) as f:
            p.log = f.read()
    except OSError:
        pass
    p.live = os.path.join(d, "config", "live", names[0])
    return p


def lego(server, root, kid, hmac, names, base, verb="run", extra=(), glob=()):
    d = os.path.join(base, "lego-" + kid)
    os.makedirs(os.path.join(d, "webroot"), exist_ok=True)
    cmd = ["lego", "--accept-tos", "--email", "admin@example.com",
           "--server", f"https://localhost:{server.https_port}/certinext/acme/directory",
           "--eab", "--kid", kid, f"--hmac={hmac}", "--path", d, "--key-type", "ec256",
           "--http", "--http.webroot", os.path.join(d, "webroot")]
    for n in names:
        cmd += ["-d", n]
    cmd += [*glob, verb, *extra]
    env = dict(os.environ, LEGO_CA_CERTIFICATES=root)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    p.cert = os.path.join(d, "certificates", names[0] + ".crt")
    return p


def ledger_debits(store, order_id):
    return int(store.sql(f"SELECT count(*) FROM ledger WHERE order_id = {order_id} "
                         "AND delta < 0"))


def acme_orders(store):
    """The workflow's orders that came over ACME (their audit trail says so)."""
    out = store.sql("SELECT DISTINCT order_id FROM order_events WHERE action = 'acme.finalize' "
                    "ORDER BY order_id")
    return [int(x) for x in out.split()] if out else []


# ---- credentials ----------------------------------------------------------------------


def test_credentials_rest_cli_and_rules(server, store):
    api = server.api(tls=True)
    ann, bob = api.as_user(store.tokens["ann"]), api.as_user(store.tokens["bob"])
    c = credential(ann, auto_pay=True, product="dv-multi")
    assert c["key_id"].startswith("acme-") and c["auto_pay"] is True
    assert len(c["hmac_key"]) == 43 and "=" not in c["hmac_key"]
    assert c["directory"] == "https://localhost/certinext/acme/directory"  # the Host sent
    # a basic user: for themselves, never auto_pay, never for another user
    r = bob.post("/api/v1/acme/credentials", {"name": "x", "auto_pay": True})
    assert r.status == 403 and r.problem == "forbidden"
    r = bob.post("/api/v1/acme/credentials", {"name": "x", "user": "sam"})
    assert r.status == 403
    mine = credential(bob)
    assert mine["user"] == "bob"
    # an admin for any user of the account, not of another account
    assert credential(ann, user="bea")["user"] == "bea"
    r = ann.post("/api/v1/acme/credentials", {"name": "x", "user": "oscar"})
    assert r.status == 404
    r = ann.post("/api/v1/acme/credentials", {"name": "x", "product": "nope"})
    assert r.status == 400 and r.json["field"] == "product"
    # lists never carry the key; a basic user sees their own only
    listed = ann.get("/api/v1/acme/credentials").json["credentials"]
    assert {x["user"] for x in listed} == {"ann", "bob", "bea"}
    assert all("hmac_key" not in x for x in listed)
    assert [x["id"] for x in bob.get("/api/v1/acme/credentials").json["credentials"]] == [mine["id"]]
    # the key is sealed in the store
    assert c["hmac_key"].encode() not in open(store.path, "rb").read() if not store.pg else True
    # delete: the owner or an admin; others get 404
    assert api.as_user(store.tokens["bea"]).request(
        "DELETE", f"/api/v1/acme/credentials/{mine['id']}").status == 404
    assert bob.request("DELETE", f"/api/v1/acme/credentials/{mine['id']}").status == 204
    # the CLI: create (JSON), list, delete
    out = json.loads(store.cli("acme", "credential", "create", "--user", "sam", "--json").stdout)
    assert out["user"] == "sam" and len(out["hmac_key"]) == 43
    listed = store.cli("acme", "credential", "list", "--account", "acme").stdout
    assert out["key_id"] in listed
    store.cli("acme", "credential", "delete", str(out["id"]))
    assert out["key_id"] not in store.cli("acme", "credential", "list", "--account",
                                          "acme").stdout


# ---- the protocol with the Python client ----------------------------------------------------


@pytest.mark.backends("sqlite", "postgresql")
def test_protocol_flow_ari_and_bad_input(server, store):
    api = server.api(tls=True)
    ann = api.as_user(store.tokens["ann"])
    cred = credential(ann, auto_pay=True)
    cl = AcmeClient(server.https_port)
    d = cl.directory()
    assert d["meta"]["externalAccountRequired"] is True
    assert d["newOrder"] == f"https://localhost:{server.https_port}/certinext/acme/new-order"
    assert "dv-ssl" in d["meta"]["profiles"] and "ev-ssl" not in d["meta"]["profiles"]
    # plain HTTP: refused
    r = AcmeClient(server.http_port, host=cl.host).request("GET", d["newNonce"], tls=False)
    assert r.status == 403 and problem_type(r) == "unauthorized"

    before = counts(store)
    # no EAB; a wrong MAC; an unknown key id
    r = cl.register(None, None)
    assert r.status == 400 and problem_type(r) == "externalAccountRequired"
    r = cl.register(cred["key_id"], b64(b"x" * 32))
    assert r.status == 401 and problem_type(r) == "unauthorized"
    r = cl.register("acme-unknown", cred["hmac_key"])
    assert r.status == 401 and problem_type(r) == "unauthorized"
    assert counts(store) == before
    r = cl.register(cred["key_id"], cred["hmac_key"], contact=["mailto:ops@example.com"])
    assert r.status == 201 and r.json["status"] == "valid", r
    # the same key again: the same account (200)
    again = AcmeClient(server.https_port, key=cl.key)
    again.directory()
    r = again.post(d["newAccount"], {"onlyReturnExisting": True}, kid=False)
    assert r.status == 200 and r.headers["location"] == cl.kid
    r = AcmeClient(server.https_port)
    r.directory()
    r = r.post(d["newAccount"], {"onlyReturnExisting": True}, kid=False)
    assert r.status == 400 and problem_type(r) == "accountDoesNotExist"

    # bad input: nothing written
    before = counts(store)
    ident = {"identifiers": [{"type": "dns", "value": "acme1.example.com"}]}
    body = cl.jws(d["newOrder"], ident)
    body["signature"] = b64(b"\0" * 64)
    r = cl.request("POST", d["newOrder"], json.dumps(body).encode())
    assert r.status == 400 and problem_type(r) == "malformed" and "signature" in r.json["detail"]
    body = cl.jws(d["newOrder"], ident)
    assert cl.request("POST", d["newOrder"], json.dumps(body).encode()).status == 201
    r = cl.request("POST", d["newOrder"], json.dumps(body).encode())  # replayed nonce
    assert r.status == 400 and problem_type(r) == "badNonce"
    assert r.headers["replay-nonce"]
    r = cl.post(d["newOrder"], ident, protected_extra={"url": d["newAccount"]})
    assert r.status == 401 and problem_type(r) == "unauthorized"
    r = cl.post(d["newOrder"], ident, protected_extra={"kid": cl.kid[:-1] + "999"})
    assert r.status == 400 and problem_type(r) == "accountDoesNotExist"
    r = cl.post(d["newOrder"], ident, ctype="application/json")
    assert r.status == 415 and problem_type(r) == "malformed"
    r = cl.post(d["newOrder"], {**ident, "pad": "x" * 30000})
    assert r.status == 413 and problem_type(r) == "malformed"
    r = cl.post(d["newOrder"], ident, alg="HS256")
    assert r.status == 400 and problem_type(r) == "badSignatureAlgorithm"
    r = cl.request("POST", d["newOrder"], b"{not json")
    assert r.status == 400 and problem_type(r) == "malformed"
    # a name the account does not own: rejectedIdentifier with a subproblem per name
    r = cl.new_order(["www.example.com", "other.org", "x.other.org"])
    assert r.status == 400 and problem_type(r) == "rejectedIdentifier"
    assert sorted(s["identifier"]["value"] for s in r.json["subproblems"]) == \
        ["other.org", "x.other.org"]
    r = cl.new_order(["*.example.com"])  # the credential's product: none chosen -> DV wildcard ok
    assert r.status == 201
    r = cl.new_order(["*.example.com"], profile="dv-ssl")  # no wildcards in dv-ssl
    assert r.status == 400 and problem_type(r) == "rejectedIdentifier"
    r = cl.new_order(["a.example.com"], profile="nope")
    assert r.status == 400 and problem_type(r) == "invalidProfile"
    after_bad = counts(store)
    assert after_bad.split(",")[0] == before.split(",")[0]  # no workflow order was made

    # the order: pre-authorized, ready
    r = cl.new_order(["api.example.com", "www.api.example.com"])
    assert r.status == 201 and r.json["status"] == "ready", r
    o, loc = r.json, r.headers["location"]
    az = cl.post(o["authorizations"][0], None)
    assert az.status == 200 and az.json["status"] == "valid"
    # malformed CSR, CSR with other names: badCSR, nothing written
    before = counts(store)
    r = cl.post(o["finalize"], {"csr": b64(b"not a csr")})
    assert r.status == 400 and problem_type(r) == "badCSR"
    r = cl.finalize(o, names=["api.example.com", "evil.example.com"])
    assert r.status == 400 and problem_type(r) == "badCSR"
    assert counts(store) == before
    # finalize: an admin's auto_pay credential -> paid -> issued -> valid
    der, key = csr_der(["api.example.com", "www.api.example.com"])
    r = cl.finalize(o, der=der)
    assert r.status == 200 and r.json["status"] in ("processing", "valid"), r
    done = wait_for(lambda: (lambda x: x.json if x.json["status"] == "valid" else None)(
        cl.post(loc, None)), 20)
    assert done, "the order became valid"
    r = cl.post(done["certificate"], None)
    assert r.status == 200 and r.headers["content-type"] == "application/pem-certificate-chain"
    leaf = verify_chain(r.body, store.builtin_root(), "api.example.com")
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    oid = acme_orders(store)[-1]
    assert ledger_debits(store, oid) == 1
    kind = ann.get(f"/api/v1/orders/{oid}").json
    assert kind["status"] == "issued" and kind["requester"] == "ann"

    # ARI: renewalInfo for the certificate; a `replaces` order is a renewal
    r = cl.request("GET", d["renewalInfo"] + "/" + ari_id(leaf))
    assert r.status == 200, r
    win = r.json["suggestedWindow"]
    assert win["start"] < win["end"]
    r = cl.new_order(["api.example.com", "www.api.example.com"], replaces=ari_id(leaf))
    assert r.status == 201, r
    renewal_loc = r.headers["location"]
    der2, key2 = csr_der(["api.example.com", "www.api.example.com"])
    r = cl.finalize(r.json, der=der2)
    assert r.status == 200, r
    kinds = store.sql(f"SELECT kind FROM orders WHERE parent_id = {oid}")
    assert kinds == "renewal"
    # superseded once the renewal is issued: renew now
    child = int(store.sql(f"SELECT id FROM orders WHERE parent_id = {oid}"))
    wait_status(ann, child, "issued")
    win2 = cl.request("GET", d["renewalInfo"] + "/" + ari_id(leaf)).json["suggestedWindow"]
    assert win2["start"] < win["start"]

    # revokeCert signed by the certificate's own key (jwk); another key may not
    renewed = wait_for(lambda: cl.post(renewal_loc, None).json.get("certificate"), 10)
    pem = cl.post(renewed, None).body
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    r = cl.post(d["revokeCert"], {"certificate": b64(der)}, key=ec.generate_private_key(
        ec.SECP256R1()), kid=False)
    assert r.status == 403 and problem_type(r) == "unauthorized"
    assert ann.get(f"/api/v1/orders/{child}").json["status"] == "issued"
    r = cl.post(d["revokeCert"], {"certificate": b64(der), "reason": 1}, key=key2, kid=False)
    assert r.status == 200, r
    assert ann.get(f"/api/v1/orders/{child}").json["status"] == "revoked"
    r = cl.post(d["revokeCert"], {"certificate": b64(der)}, key=key2, kid=False)
    assert r.status == 400 and problem_type(r) == "alreadyRevoked"

    # account: contact update, key change, deactivation
    r = cl.post(cl.kid, {"contact": ["mailto:new@example.com"]})
    assert r.status == 200 and r.json["contact"] == ["mailto:new@example.com"]
    newkey = rsa.generate_private_key(65537, 2048)
    from acme_client import jwk_of
    inner = cl.jws(d["keyChange"], {"account": cl.kid, "oldKey": jwk_of(cl.key)}, key=newkey,
                   kid=False, nonce=False)
    r = cl.post(d["keyChange"], inner)
    assert r.status == 200, r
    cl.key = newkey  # RS256 from now on
    assert cl.post(cl.kid, None).status == 200
    ed = AcmeClient(server.https_port, key=ed25519.Ed25519PrivateKey.generate())
    ed.directory()
    assert ed.register(cred["key_id"], cred["hmac_key"]).status == 201
    p384 = AcmeClient(server.https_port, key=ec.generate_private_key(ec.SECP384R1()))
    p384.directory()
    assert p384.register(cred["key_id"], cred["hmac_key"]).status == 201
    r = cl.post(cl.kid, {"status": "deactivated"})
    assert r.status == 200 and r.json["status"] == "deactivated"
    r = cl.new_order(["z.example.com"])
    assert r.status == 401 and problem_type(r) == "unauthorized"
    same = AcmeClient(server.https_port, key=cl.key)
    same.directory()
    r = same.post(d["newAccount"], {"onlyReturnExisting": True}, kid=False)
    assert r.status == 401 and problem_type(r) == "unauthorized"

    # a deleted credential: its accounts stop working
    assert ann.request("DELETE", f"/api/v1/acme/credentials/{cred['id']}").status == 204
    r = p384.new_order(["z.example.com"])
    assert r.status == 401 and problem_type(r) == "unauthorized"


@pytest.mark.backends("sqlite", "postgresql")
def test_new_authz_deactivation_via_ari_distrust_and_big_bodies(server, store):
    """newAuthz (RFC 8555 7.4.1), deactivation (7.5.2), orders marked as from ACME, ARI's
    window once the CA is distrusted, and bodies over the glue's limit as ACME problems."""
    ann = server.api(store.tokens["ann"], tls=True)
    cred = credential(ann, auto_pay=True)
    cl = AcmeClient(server.https_port)
    d = cl.directory()
    assert d["newAuthz"] == cl.base + "new-authz"
    assert cl.register(cred["key_id"], cred["hmac_key"]).status == 201
    other = AcmeClient(server.https_port)
    other.directory()
    assert other.register(cred["key_id"], cred["hmac_key"]).status == 201

    # pre-authorization: an owned name valid at once; not owned, wildcard: refused
    r = cl.post(d["newAuthz"], {"identifier": {"type": "dns", "value": "pre.example.com"}})
    assert r.status == 201 and r.json["status"] == "valid", r
    assert r.json["identifier"] == {"type": "dns", "value": "pre.example.com"}
    pre = r.headers["location"]
    before = store.sql("SELECT count(*) FROM acmesrv_authzs")
    r = cl.post(d["newAuthz"], {"identifier": {"type": "dns", "value": "other.org"}})
    assert r.status == 403 and problem_type(r) == "rejectedIdentifier"
    r = cl.post(d["newAuthz"], {"identifier": {"type": "dns", "value": "*.example.com"}})
    assert r.status == 400 and problem_type(r) == "malformed" and "wildcard" in r.json["detail"]
    assert store.sql("SELECT count(*) FROM acmesrv_authzs") == before
    # another ACME account's authorization: 404, unchanged
    r = other.post(pre, {"status": "deactivated"})
    assert r.status == 404 and problem_type(r) == "malformed"
    assert cl.post(pre, None).json["status"] == "valid"
    # an order for the name uses the pre-authorization; deactivated, the order is invalid
    r = cl.new_order(["pre.example.com"])
    assert r.status == 201 and r.json["authorizations"] == [pre], r
    uses = r.headers["location"]
    r = cl.post(pre, {"status": "deactivated"})
    assert r.status == 200 and r.json["status"] == "deactivated", r
    assert cl.post(uses, None).json["status"] == "invalid"

    # an order's authorization deactivated: the order is invalid, finalize refused
    r = cl.new_order(["deact.example.com"])
    assert r.status == 201 and r.json["status"] == "ready"
    o, loc = r.json, r.headers["location"]
    assert other.post(o["authorizations"][0], {"status": "deactivated"}).status == 404
    r = cl.post(o["authorizations"][0], {"status": "deactivated"})
    assert r.status == 200 and r.json["status"] == "deactivated", r
    r = cl.post(loc, None)
    assert r.json["status"] == "invalid" and "deactivated" in r.json["error"]["detail"], r
    r = cl.finalize(o)
    assert r.status == 403 and problem_type(r) == "orderNotReady"
    assert acme_orders(store) == []

    # an order over ACME is marked so in the orders list; one from the API is not
    r = cl.new_order(["via.example.com"])
    o, loc = r.json, r.headers["location"]
    assert cl.finalize(o).status == 200
    done = wait_for(lambda: (lambda x: x.json if x.json["status"] == "valid" else None)(
        cl.post(loc, None)), 90)
    assert done, "the order became valid"
    [oid] = acme_orders(store)
    listed = [x for x in ann.get("/api/v1/orders").json["orders"] if x["id"] == f"R-{oid:06d}"]
    assert listed and listed[0]["via"] == "acme" and listed[0]["via_credential"] == "laptop"
    rest = order(ann, "dv-ssl", ["rest.example.com"])
    assert rest["via"] is None and rest["via_credential"] is None

    # ARI: the renewal point's window; once the CA is distrusted (issue 14): now, and why
    leaf = x509.load_pem_x509_certificate(cl.post(done["certificate"], None).body.encode())
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    win = cl.request("GET", d["renewalInfo"] + "/" + ari_id(leaf)).json
    assert win["suggestedWindow"]["start"] > now and "explanationURL" not in win
    store.cli("ca", "distrust", "builtin")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    r = cl.request("GET", d["renewalInfo"] + "/" + ari_id(leaf))
    assert r.status == 200 and r.json["suggestedWindow"]["start"] <= now, r
    assert r.json["explanationURL"].endswith(f"/certinext/#/order/R-{oid:06d}")
    assert "distrusted" in r.json["reason"]

    # a body over the glue's limit (64 KiB) under acme/: an ACME problem, with a length
    # and chunked; elsewhere the API's problem
    big = b"{" + b" " * (100 * 1024) + b"}"
    for body in (big, iter([big[i:i + 16384] for i in range(0, len(big), 16384)])):
        r = cl.request("POST", d["newOrder"], body)
        assert r.status == 413 and problem_type(r) == "malformed", r
    r = ann.request("POST", "/api/v1/orders", raw=big,
                    headers={"Content-Type": "application/json"})
    assert r.status == 413 and r.json["type"] == "urn:certinext:error:payload_too_large", r


def test_rate_limit(server, store):
    ann = server.api(store.tokens["ann"], tls=True)
    cred = credential(ann)
    store.cli("settings", "set", "acme-orders-per-3h", "2")
    cl = AcmeClient(server.https_port)
    cl.directory()
    assert cl.register(cred["key_id"], cred["hmac_key"]).status == 201
    assert cl.new_order(["a.example.com"]).status == 201
    assert cl.new_order(["b.example.com"]).status == 201
    r = cl.new_order(["c.example.com"])
    assert r.status == 429 and problem_type(r) == "rateLimited"
    # until the first of the two leaves the 3-hour window
    assert 3 * 3600 - 120 < int(r.headers["retry-after"]) <= 3 * 3600
    # a new key (another ACME account of the same user, even by another credential) buys
    # no new orders: the limit counts the user's ACME accounts together
    other = AcmeClient(server.https_port)
    other.directory()
    assert other.register(cred["key_id"], cred["hmac_key"]).status == 201
    r = other.new_order(["d.example.com"])
    assert r.status == 429 and problem_type(r) == "rateLimited"
    cred2 = credential(ann)
    third = AcmeClient(server.https_port)
    third.directory()
    assert third.register(cred2["key_id"], cred2["hmac_key"]).status == 201
    assert third.new_order(["e.example.com"]).status == 429
    # another user of the account is not limited by ann's orders
    sams = credential(ann, user="sam")
    sam = AcmeClient(server.https_port)
    sam.directory()
    assert sam.register(sams["key_id"], sams["hmac_key"]).status == 201
    assert sam.new_order(["f.example.com"]).status == 201


# ---- real clients -------------------------------------------------------------------------


def test_certbot_and_lego_admin_auto_pay(server, store, base):
    root = serve_localhost(server, store)
    ann = server.api(store.tokens["ann"], tls=True)
    cred = credential(ann, auto_pay=True)
    credits = ann.get("/api/v1/account").json["credits"]
    p = certbot(server, root, cred["key_id"], cred["hmac_key"], ["cb.example.com"], base)
    assert p.returncode == 0, p.stdout + p.stderr + p.log[-3000:]
    with open(os.path.join(p.live, "fullchain.pem")) as f:
        verify_chain(f.read(), store.builtin_root(), "cb.example.com")
    [oid] = acme_orders(store)
    o = ann.get(f"/api/v1/orders/{oid}").json
    assert o["status"] == "issued" and o["key_source"] == "csr"
    events = ann.get(f"/api/v1/orders/{oid}/events").json["events"]
    assert any(e["action"] == "acme.finalize" for e in events)  # shown in the page's trail
    assert "over ACME" in store.sql(f"SELECT detail FROM order_events WHERE order_id = {oid} "
                                    "AND action = 'order.create'")
    assert ledger_debits(store, oid) == 1
    assert ann.get("/api/v1/account").json["credits"] == credits - 10
    # lego: run, then renew
    p = lego(server, root, cred["key_id"], cred["hmac_key"], ["lego.example.com"], base)
    assert p.returncode == 0, p.stdout + p.stderr
    first = open(p.cert).read()
    p = lego(server, root, cred["key_id"], cred["hmac_key"], ["lego.example.com"], base,
             verb="renew", extra=["--days", "400", "--no-random-sleep"])
    assert p.returncode == 0, p.stdout + p.stderr
    assert open(p.cert).read() != first
    verify_chain(open(p.cert).read(), store.builtin_root(), "lego.example.com")
    # certbot revoke: revoked in certinext, no longer served
    cb = os.path.join(base, "certbot")
    env = dict(os.environ, REQUESTS_CA_BUNDLE=root)
    r = subprocess.run(["certbot", "revoke", "--non-interactive", "--server",
                        f"https://localhost:{server.https_port}/certinext/acme/directory",
                        "--config-dir", os.path.join(cb, "config"), "--work-dir",
                        os.path.join(cb, "work"), "--logs-dir", os.path.join(cb, "logs"),
                        "--cert-path", os.path.join(cb, "config", "live", "cb.example.com",
                                                    "cert.pem"),
                        "--no-delete-after-revoke"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ann.get(f"/api/v1/orders/{oid}").json["status"] == "revoked"
    assert wait_for(lambda: int(handshake(server.https_port, "cb.example.com")[0], 16) !=
                    int(o["certificate"]["serial"], 16), 10)


def test_certbot_basic_user_waits_for_approval(server, store, base):
    root = serve_localhost(server, store)
    ann = server.api(store.tokens["ann"], tls=True)
    cred = credential(ann, user="bob", auto_pay=True)

    # certbot waits; the admin approves during the wait; the credential pays
    def approve_when_pending():
        def pending():
            ids = acme_orders(store)
            if ids and ann.get(f"/api/v1/orders/{ids[-1]}").json["status"] == "pending_approval":
                return ids[-1]
        oid = wait_for(pending, 60)
        approve_when_pending.at = time.time()
        assert ann.post(f"/api/v1/orders/{oid}/approve", {"comment": "ok"}).status == 200
    t = threading.Thread(target=approve_when_pending)
    t.start()
    p = certbot(server, root, cred["key_id"], cred["hmac_key"], ["wait.example.com"], base,
                extra=["--issuance-timeout", "60"])
    got = time.time()
    t.join()
    assert p.returncode == 0, p.stdout + p.stderr + p.log[-3000:]
    print(f"approval to certbot's certificate: {got - approve_when_pending.at:.2f}s")
    [oid] = acme_orders(store)
    assert ledger_debits(store, oid) == 1

    # a short --issuance-timeout: certbot gives up; the admin approves afterwards; the
    # re-run gets the certificate without a second approval or charge
    p = certbot(server, root, cred["key_id"], cred["hmac_key"], ["late.example.com"], base,
                extra=["--issuance-timeout", "3"])
    assert p.returncode != 0
    late = acme_orders(store)[-1]
    assert ann.get(f"/api/v1/orders/{late}").json["status"] == "pending_approval"
    assert ann.post(f"/api/v1/orders/{late}/approve", {}).status == 200
    p = certbot(server, root, cred["key_id"], cred["hmac_key"], ["late.example.com"], base,
                extra=["--issuance-timeout", "60"])
    assert p.returncode == 0, p.stdout + p.stderr + p.log[-3000:]
    assert acme_orders(store)[-1] == late, "the same request, not a new one"
    assert ledger_debits(store, late) == 1
    assert int(store.sql(f"SELECT count(*) FROM order_events WHERE order_id = {late} AND "
                         "action = 'order.approve'")) == 1

    # rejected with a reason: certbot fails and its log carries the reason
    def reject_when_pending():
        def pending():
            ids = [i for i in acme_orders(store) if i > late]
            if ids and ann.get(f"/api/v1/orders/{ids[-1]}").json["status"] == "pending_approval":
                return ids[-1]
        oid = wait_for(pending, 60)
        assert ann.post(f"/api/v1/orders/{oid}/reject",
                        {"reason": "that host is decommissioned"}).status == 200
    t = threading.Thread(target=reject_when_pending)
    t.start()
    p = certbot(server, root, cred["key_id"], cred["hmac_key"], ["gone.example.com"], base,
                extra=["--issuance-timeout", "60"])
    t.join()
    assert p.returncode != 0
    assert "that host is decommissioned" in p.log


def test_lego_rejected_identifier_rejection_and_revoked_credential(server, store, base):
    root = serve_localhost(server, store)
    ann = server.api(store.tokens["ann"], tls=True)
    # a standard user's request, rejected while lego waits: lego prints the reason
    sams = credential(ann, user="sam")

    def reject_when_pending():
        def pending():
            ids = acme_orders(store)
            if ids and ann.get(f"/api/v1/orders/{ids[-1]}").json["status"] == "pending_approval":
                return ids[-1]
        oid = wait_for(pending, 60)
        assert ann.post(f"/api/v1/orders/{oid}/reject",
                        {"reason": "use the wildcard we already have"}).status == 200
    t = threading.Thread(target=reject_when_pending)
    t.start()
    p = lego(server, root, sams["key_id"], sams["hmac_key"], ["sam.example.com"], base,
             glob=["--cert.timeout", "12"])  # lego waits it out, then prints why
    t.join()
    assert p.returncode != 0 and "use the wildcard we already have" in p.stdout + p.stderr
    cred = credential(ann, auto_pay=True)
    p = lego(server, root, cred["key_id"], cred["hmac_key"], ["other.org"], base)
    assert p.returncode != 0 and "rejectedIdentifier" in p.stdout + p.stderr
    assert len(acme_orders(store)) == 1  # sam's rejected one only
    assert ann.request("DELETE", f"/api/v1/acme/credentials/{cred['id']}").status == 204
    p = lego(server, root, cred["key_id"], cred["hmac_key"], ["ok.example.com"], base)
    assert p.returncode != 0 and "unauthorized" in (p.stdout + p.stderr).lower()
    # an HMAC key may begin with "-" (base64url): the command lines carry it as --opt=KEY,
    # so it reaches the server (a wrong MAC → unauthorized), never the client's option parser
    live = credential(ann, auto_pay=True)
    dash = "-" + live["hmac_key"][1:] if live["hmac_key"][0] != "-" else "_" + live["hmac_key"][1:]
    p = lego(server, root, live["key_id"], dash, ["dash.example.com"], base)
    assert p.returncode != 0 and "unauthorized" in (p.stdout + p.stderr).lower(), p.stderr
    p = certbot(server, root, live["key_id"], dash, ["dash.example.com"], base)
    assert p.returncode != 0 and "expected one argument" not in p.stderr
    assert "unauthorized" in (p.stdout + p.stderr + p.log).lower(), p.stderr + p.log[-2000:]


def test_dehydrated(server, store, base):
    root = serve_localhost(server, store)
    ann = server.api(store.tokens["ann"], tls=True)
    cred = credential(ann, auto_pay=True)
    d = os.path.join(base, "dehydrated")
    os.makedirs(os.path.join(d, "wellknown"))
    cfg = os.path.join(d, "config")
    with open(cfg, "w") as f:
        f.write(f'CA="https://localhost:{server.https_port}/certinext/acme/directory"\n'
                f'BASEDIR="{d}"\nWELLKNOWN="{d}/wellknown"\nKEY_ALGO=prime256v1\n'
                f'EAB_KID="{cred["key_id"]}"\nEAB_HMAC_KEY="{cred["hmac_key"]}"\n'
                'CONTACT_EMAIL="ops@example.com"\n')
    env = dict(os.environ, CURL_CA_BUNDLE=root)
    # dehydrated polls a processing order every 2 s with no limit of its own: the
    # subprocess timeout is the only bound, generous for a loaded machine
    p = subprocess.run(["dehydrated", "--config", cfg, "--register", "--accept-terms"],
                       capture_output=True, text=True, env=env, timeout=300)
    # a failure seen once under load was never reproduced: say everything when it fails
    assert p.returncode == 0, p.stdout + p.stderr + server.log()[-4000:]
    p = subprocess.run(["dehydrated", "--config", cfg, "-c", "-d", "dh.example.com"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr + server.log()[-4000:]
    with open(os.path.join(d, "certs", "dh.example.com", "fullchain.pem")) as f:
        verify_chain(f.read(), store.builtin_root(), "dh.example.com")
    [oid] = acme_orders(store)
    o = ann.get(f"/api/v1/orders/{oid}").json
    assert o["status"] == "issued" and o["via"] == "acme" and o["via_credential"] == "laptop"


from test_browser import browser, click, login, wait  # noqa: E402,F401
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402


def test_page_acme_view(browser, server, store):
    drv = browser
    login(drv, server, "ann")
    click(drv, (By.CSS_SELECTOR, 'a[data-nav="acme"]'))
    d = wait(drv, EC.visibility_of_element_located((By.ID, "acme-directory")))
    assert d.text == f"https://127.0.0.1:{server.https_port}/certinext/acme/directory"
    drv.find_element(By.ID, "acme-name").send_keys("vps-1")
    drv.find_element(By.ID, "acme-auto-pay").click()
    click(drv, (By.CSS_SELECTOR, "form.panel button.primary"))
    kid = wait(drv, EC.visibility_of_element_located((By.ID, "acme-kid"))).text
    hmac = drv.find_element(By.ID, "acme-hmac").text
    cmds = [p.text for p in drv.find_elements(By.CSS_SELECTOR, "#acme-new pre")]
    assert any(c.startswith("certbot certonly --server") and f"--eab-kid {kid}" in c and
               f"--eab-hmac-key={hmac}" in c for c in cmds)
    assert any(c.startswith("lego --server") and f"--hmac={hmac}" in c for c in cmds)
    row = wait(drv, EC.visibility_of_element_located((By.ID, "acme-credentials")))
    assert "vps-1" in row.text and kid in row.text and hmac not in row.text
    # what the page showed works
    cl = AcmeClient(server.https_port)
    cl.directory()
    assert cl.register(kid, hmac).status == 201
    # an order it places is marked ACME in the orders list and on the order's page
    r = cl.new_order(["page.example.com"])
    assert r.status == 201, r
    assert cl.finalize(r.json).status == 200
    click(drv, (By.CSS_SELECTOR, 'a[data-nav="orders"]'))
    badge = wait(drv, EC.visibility_of_element_located(
        (By.CSS_SELECTOR, 'td .status-cell span.via[data-via="acme"]')))
    assert badge.text == "ACME" and "vps-1" in badge.get_attribute("title")
    row = badge.find_element(By.XPATH, "./ancestor::tr")
    assert "page.example.com" in row.text
    click(drv, (By.CSS_SELECTOR, 'a[href^="#/order/R-"]'))
    badge = wait(drv, EC.visibility_of_element_located(
        (By.CSS_SELECTOR, '.status-cell span.via[data-via="acme"]')))
    assert badge.text == "ACME"
