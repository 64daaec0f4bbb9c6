"""The API over real HTTP: bad input answered with problem+json and nothing
written, body limits, a slow client, challenge answers, the web page."""
import socket
import time

import pytest

from cin import Api, order


def writes(store):
    return store.sql("SELECT (SELECT count(*) FROM orders) || '/' || "
                     "(SELECT count(*) FROM order_events) || '/' || (SELECT count(*) FROM ledger)")


BAD = [
    # (body or raw bytes, content type, status, problem code)
    (b'{"product":"dv-ssl",', "application/json", 400, "bad_request"),
    (b'{"product":"dv-ssl","common_name":"a.example.com"}', "text/plain", 415,
     "unsupported_media_type"),
    ({"product": "dv-gold", "common_name": "a.example.com"}, None, 400, "bad_request"),
    ({"product": "dv-multi", "common_name": "n0.example.com",
      "sans": [f"n{i}.example.com" for i in range(1, 101)]}, None, 400, "bad_request"),
    ({"product": "dv-ssl", "common_name": "*.example.com"}, None, 400, "invalid_domain"),
    ({"product": "dv-ssl", "common_name": "a..b.com"}, None, 400, "invalid_domain"),
    ({"product": "dv-ssl", "common_name": "192.0.2.1"}, None, 400, "invalid_domain"),
    ({"product": "dv-ssl", "common_name": "x.other.org"}, None, 403, "domain_not_owned"),
    ({"product": "dv-ssl", "common_name": "a.example.com", "key_source": "csr",
      "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"},
     None, 400, "invalid_csr"),
    ({"product": "dv-ssl", "common_name": "a.example.com", "validity_days": 500}, None, 400,
     "bad_request"),
]


@pytest.mark.parametrize("case", range(len(BAD)))
@pytest.mark.backends("sqlite", "postgresql")
def test_bad_input_over_http(server, store, case):
    body, ctype, status, code = BAD[case]
    api = server.api(store.tokens["bob"])
    before = writes(store)
    if isinstance(body, bytes):
        r = api.request("POST", "/api/v1/orders", raw=body, headers={"Content-Type": ctype})
    else:
        r = api.post("/api/v1/orders", body)
    assert r.status == status, r
    assert r.headers["content-type"] == "application/problem+json"
    assert r.problem == code
    assert r.json["status"] == status and r.json["detail"]
    assert writes(store) == before


def test_auth_and_roles_over_http(server, store):
    api = server.api()
    assert api.get("/api/v1/orders").status == 401
    assert api.as_user("cin_abcdefgh_" + "x" * 43).get("/api/v1/orders").status == 401
    bob = api.as_user(store.tokens["bob"])
    o = order(bob, "dv-ssl", ["roles.example.com"])
    sam = api.as_user(store.tokens["sam"])
    r = sam.post(f"/api/v1/orders/{o['id']}/approve")
    assert r.status == 403 and r.problem == "forbidden"
    bea = api.as_user(store.tokens["bea"])
    assert bea.get(f"/api/v1/orders/{o['id']}").status == 404
    oscar = api.as_user(store.tokens["oscar"])
    assert oscar.get(f"/api/v1/orders/{o['id']}").status == 404
    assert api.get("/api/v1/health").json["store"] == "ok"


def test_body_over_the_limit(server, store):
    api = server.api(store.tokens["bob"])
    before = writes(store)
    big = b'{"product":"dv-ssl","common_name":"a.example.com","pad":"' + b"x" * 70000 + b'"}'
    r = api.request("POST", "/api/v1/orders", raw=big,
                    headers={"Content-Type": "application/json"})
    assert r.status == 413 and r.problem == "payload_too_large", r
    assert writes(store) == before


def test_slow_client_does_not_block_others(server, store):
    body = b'{"product":"dv-ssl","common_name":"slow-client.example.com"}'
    head = ("POST /certinext/api/v1/orders HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {store.tokens['bob']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    s = socket.create_connection(("127.0.0.1", server.http_port), timeout=30)
    s.sendall(head)
    start = time.time()
    fast = server.api(store.tokens["ann"])
    for i in range(len(body)):
        s.sendall(body[i:i + 1])
        if i % 10 == 0:
            # the server answers others meanwhile
            t0 = time.time()
            assert fast.get("/api/v1/account").status == 200
            assert time.time() - t0 < 1.0
        time.sleep(0.02)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 201"), data[:200]
    assert time.time() - start > 0.5


def test_challenges_on_every_server_before_locations(server, store):
    import os
    store.sql("INSERT INTO challenges(kind, token, content, order_id, expires_at) VALUES "
              "('acme', 'tok_ABC-123', 'tok_ABC-123.thumbprint', NULL, 4102444800), "
              "('pki', 'fileauth.txt', 'pki-proof', NULL, 4102444800)")
    # a certbot webroot file keeps working for tokens the store does not know
    with open(os.path.join(server.webroot, ".well-known", "acme-challenge", "certbot-token"),
              "w") as f:
        f.write("from-certbot")
    for port in (server.http_port, server.http2_port):
        api = Api(port)
        r = api.get("", full_path="/.well-known/acme-challenge/tok_ABC-123")
        assert r.status == 200 and r.body == "tok_ABC-123.thumbprint", r
        r = api.get("", full_path="/.well-known/pki-validation/fileauth.txt")
        assert r.status == 200 and r.body == "pki-proof", r
        r = api.get("", full_path="/.well-known/acme-challenge/certbot-token")
        assert r.status == 200 and r.body == "from-certbot", r
        r = api.get("", full_path="/.well-known/acme-challenge/unknown")
        assert r.status == 404


def test_web_page_served_at_the_mount(server):
    api = server.api()
    r = api.get("/")
    assert r.status == 200 and "text/html" in r.headers["content-type"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    etag = r.headers["etag"]
    r = api.get("/", headers={"If-None-Match": etag})
    assert r.status == 304
    r = api.request("GET", "", full_path="/certinext")
    assert r.status == 301 and r.headers["location"].endswith("/certinext/")
