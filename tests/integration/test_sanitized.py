"""Both modules under ASan+UBSan in the real servers (`make asan-modules`): the seed
workflow with hot swap and revocation, bad input over HTTP, and a reload or graceful
restart while orders are being issued. Each scenario ends by stopping the server (so
exit paths run too) and asserting that no sanitizer reported anything."""
import json
import re
import socket

import pytest

from cin import handshake, order, wait_for, wait_status
from servers import SERVERS


def _maps(pid):
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def _workers(srv):
    try:
        return srv.worker_pids()
    except (OSError, ValueError):  # httpd writes its pid file after it listens
        return []


@pytest.fixture(params=sorted(SERVERS))
def san_server(request, base, store):
    srv = SERVERS[request.param](base, store, sanitized=True)
    try:
        srv.start()
        # every worker runs the instrumented module on the preloaded runtime
        module = srv.module()
        workers = wait_for(lambda: _workers(srv), 10)
        assert workers
        for pid in workers:
            maps = _maps(pid)
            assert module in maps and "libasan.so" in maps and "libubsan.so" in maps, pid
        yield srv
    finally:
        if not getattr(srv, "finished", False):
            finish(srv)  # a failed scenario: show what the sanitizers saw


def finish(server):
    """Stop the server and fail on any sanitizer report from any of its processes."""
    server.stop()
    server.finished = True
    reports = server.sanitizer_reports()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


def test_seed_workflow_hot_swap_and_revoke(san_server, store):
    srv = san_server
    port = srv.https_port
    api = srv.api()
    bob, ann = api.as_user(store.tokens["bob"]), api.as_user(store.tokens["ann"])
    fallback = handshake(port, "seed.example.com")[0]

    o = order(bob, "dv-ssl", ["seed.example.com"])
    assert o["status"] == "pending_approval"
    r = ann.post(f"/api/v1/orders/{o['id']}/approve", {"comment": "ok"})
    assert r.status == 200 and r.json["status"] == "awaiting_payment", r
    r = bob.post(f"/api/v1/orders/{o['id']}/pay")
    assert r.status == 200 and r.json["order_number"].startswith("CIN-"), r
    serial = wait_status(bob, o["id"], "issued", timeout=30)["certificate"]["serial"]
    assert serial != fallback
    # served on the next handshakes, without a reload, by whichever worker answers
    assert wait_for(lambda: handshake(port, "seed.example.com")[0] == serial, 5)
    assert all(handshake(port, "seed.example.com")[0] == serial for _ in range(10))
    r = bob.get(f"/api/v1/orders/{o['id']}/certificate")
    assert r.status == 200 and "BEGIN CERTIFICATE" in r.body
    ev = ann.get(f"/api/v1/orders/{o['id']}/events").json["events"]
    assert [e["action"] for e in ev] == ["order.create", "order.approve", "order.pay",
                                          "order.issued"]
    # revoked: no longer served, on any worker
    r = ann.post(f"/api/v1/orders/{o['id']}/revoke", {"reason": "superseded"})
    assert r.status == 200 and r.json["status"] == "revoked", r
    assert all(handshake(port, "seed.example.com")[0] == fallback for _ in range(10))
    finish(srv)


def _writes(store):
    return store.sql("SELECT (SELECT count(*) FROM orders) || '/' || "
                     "(SELECT count(*) FROM order_events) || '/' || (SELECT count(*) FROM ledger)"
                     " || '/' || (SELECT count(*) FROM tokens)")


def _raw(port, data):
    """Bytes that http.client would not send; returns the status code answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        out = b""
        while b"\r\n" not in out:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
    return int(out.split(b" ", 2)[1])


def test_bad_input_over_http(san_server, store):
    srv = san_server
    api = srv.api(store.tokens["bob"])
    before = _writes(store)
    json_ct = {"Content-Type": "application/json"}
    good = {"product": "dv-ssl", "common_name": "bad.example.com"}
    token = store.tokens["bob"]
    wrong = token[:-1] + ("B" if token.endswith("A") else "A")

    def post(raw, headers=json_ct, path="/api/v1/orders", client=api):
        return client.request("POST", path, raw=raw, headers=headers)

    cases = [
        # (response, status, problem code)
        (post(json.dumps({**good, "pad": "x" * 70000}).encode()), 413, "payload_too_large"),
        (post(b'{"product":"dv-ssl",'), 400, "bad_request"),
        (post(b'[1, 2, 3]'), 400, "bad_request"),
        (post(b"[" * 5000 + b"]" * 5000), 400, "bad_request"),
        (post(b'{"product":"dv-ssl","product":"ev-ssl"}'), 400, "bad_request"),
        (post(b'{"product":"dv-ssl","common_name":"a\\u0000b.example.com"}'), 400,
         "bad_request"),
        (post(b'{"product":"dv-ssl","common_name":"\xff\xfe.example.com"}'), 400,
         "bad_request"),
        (post(b'{"product":"dv-ssl","common_name":"bad.example.com","validity_days":'
              b'1e999999}'), 400, "bad_request"),
        (post(json.dumps(good).encode(), headers={"Content-Type": "text/plain"}), 415,
         "unsupported_media_type"),
        (post(json.dumps(good).encode(), headers={"Content-Type": "application/jsonx"}), 415,
         "unsupported_media_type"),
        (post(json.dumps(good).encode(), headers={"Content-Type": ""}), 415,
         "unsupported_media_type"),
        (post(json.dumps(good).encode(), headers={"Content-Type": "application/json",
                                                  "Authorization": "Basic Ym9iOmJvYg=="}),
         401, "unauthorized"),
        (post(json.dumps(good).encode(), headers={"Content-Type": "application/json",
                                                  "Authorization": "Bearer "}),
         401, "unauthorized"),
        (post(json.dumps(good).encode(), headers={"Content-Type": "application/json",
                                                  "Authorization": "Bearer cin_" + "z" * 3000}),
         401, "unauthorized"),
        (post(json.dumps(good).encode(), client=api.as_user(wrong)), 401, "unauthorized"),
        (api.get("/api/v1/orders/R-99999999999999999999999999"), 404, "not_found"),
        (api.get("/api/v1/orders/R-abc"), 404, "not_found"),
        (api.get("/api/v1/orders/%ff%fe"), 404, "not_found"),
        (api.get("/api/v1/" + "/".join(["a"] * 200)), 404, "not_found"),
        (api.get("/api/v1/orders?limit=99999999999999999999999"), 400, "bad_request"),
        (api.get("/api/v1/orders?limit=-1"), 400, "bad_request"),
        (api.get("/api/v1/orders?cursor=%ff%fe%fd"), 400, "bad_request"),
        (api.request("PATCH", "/api/v1/health"), 405, "method_not_allowed"),
    ]
    for i, (r, status, code) in enumerate(cases):
        assert r.status == status, (i, r)
        assert r.problem == code, (i, r)
    # a chunked body over the limit (no Content-Length to refuse it early)
    big = json.dumps({**good, "pad": "y" * 70000}).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + 8192]), big[i:i + 8192])
                       for i in range(0, len(big), 8192)) + b"0\r\n\r\n"
    assert _raw(srv.http_port, b"POST /certinext/api/v1/orders HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: Bearer " + store.tokens["bob"].encode() + b"\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: close\r\n\r\n" + chunked) == 413
    # raw non-UTF-8 bytes in the path, the query and a header
    for line in (b"GET /certinext/api/v1/orders/\xff\xfe HTTP/1.1",
                 b"GET /certinext/api/v1/orders?status=\xff\xfe&q=\xc3\x28 HTTP/1.1"):
        status = _raw(srv.http_port, line + b"\r\nHost: x\r\nAuthorization: Bearer "
                      + store.tokens["bob"].encode() + b"\r\nConnection: close\r\n\r\n")
        assert 400 <= status < 500, (line, status)
    assert _raw(srv.http_port, b"GET /certinext/api/v1/orders HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: Bearer \xff\xfe\xfd\r\nConnection: close\r\n\r\n") == 401
    # the page's files: traversal and odd names get nothing
    for path in ("/certinext/..%2f..%2f..%2fetc%2fpasswd", "/certinext/%00",
                 "/certinext/api/v1/orders/%00",
                 "/certinext/" + "x" * 2000):
        r = api.get("", full_path=path)
        assert r.status in (400, 404) and "root:" not in r.body, (path, r)
    # nothing was written, and the server still answers
    assert _writes(store) == before
    assert api.get("/api/v1/health").json["store"] == "ok"
    assert order(api, "dv-ssl", ["after-bad.example.com"])["status"] == "pending_approval"
    finish(srv)


def _issued_once(store, oid):
    n = int(oid[2:])
    return (store.sql(f"SELECT count(*) FROM certificates WHERE order_id = {n}"),
            store.sql(f"SELECT count(*) FROM order_events WHERE action = 'order.issued' "
                      f"AND order_id = {n}"))


def test_reload_while_issuing(san_server, store):
    srv = san_server
    ann = srv.api(store.tokens["ann"])
    # slow keys (RSA 4096) keep the agent busy while the server reloads
    ids = []
    for i in range(3):
        o = order(ann, "dv-ssl", [f"reload{i}.example.com"], key_type="rsa-4096")
        assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        ids.append(o["id"])
    # the agent holds an order's lease: it is issuing right now
    busy = " OR ".join(f"name = 'order:{int(oid[2:])}'" for oid in ids)
    assert wait_for(lambda: store.sql(f"SELECT count(*) FROM leases WHERE {busy}") != "0",
                    20, 0.01), "the agent never took an order"
    srv.reload()
    for i, oid in enumerate(ids):
        issued = wait_status(ann, oid, "issued", timeout=60)
        assert _issued_once(store, oid) == ("1", "1"), oid
        assert wait_for(lambda: handshake(srv.https_port, f"reload{i}.example.com")[0]
                        == issued["certificate"]["serial"], 5)
    finish(srv)


def test_metrics_counted_and_scraped(san_server, store):
    """The mapped counters of the handshake path and GET <mount>metrics, sanitized."""
    srv = san_server
    ann = srv.api(store.tokens["ann"])
    o = order(ann, "dv-ssl", ["metrics.example.com"])
    assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
    serial = wait_status(ann, o["id"], "issued")["certificate"]["serial"]
    assert wait_for(lambda: handshake(srv.https_port, "metrics.example.com")[0] == serial, 5)
    for _ in range(3):
        handshake(srv.https_port, "metrics.example.com")
    r = ann.request("GET", None, full_path="/certinext/metrics")
    assert r.status == 200, r
    store_hs = [float(v) for v in re.findall(
        r'^certinext_tls_handshakes_total\{source="store"\} (\S+)$', r.body, re.M)]
    assert store_hs and store_hs[0] >= 4, r.body[:2000]
    assert 'certinext_orders{account="acme",status="issued"} 1' in r.body
    finish(srv)
