"""Self-service domain claims (issue 14): a TXT record in a real DNS server (Knot)."""
import socket
import threading
import time

import pytest

from knot import Knot


@pytest.fixture
def knot(base, store):
    k = Knot(base, zones=("example.com", "newcorp.io")).start()
    store.cli("settings", "set", "dns-resolver", k.address)
    yield k
    k.stop()


@pytest.mark.backends("sqlite", "postgresql")
def test_claim_verify_then_order(server, store, knot):
    ann = server.api(store.tokens["ann"])
    r = ann.post("/api/v1/domains", {"name": "NewCorp.io"})
    assert r.status == 201, r
    claim = r.json
    assert claim["name"] == "newcorp.io" and claim["status"] == "pending"
    assert claim["txt_name"] == "_certinext-challenge.newcorp.io"
    # not published yet: 400 saying what is expected, nothing owned
    r = ann.post("/api/v1/domains/newcorp.io/verify")
    assert r.status == 400 and r.problem == "not_verified", r
    assert claim["txt_name"] in r.json["detail"] and claim["txt_value"] in r.json["detail"]
    assert r.json["txt_value"] == claim["txt_value"]
    names = [d["name"] for d in ann.get("/api/v1/domains").json["domains"]]
    assert "newcorp.io" not in names
    o = ann.post("/api/v1/orders", {"product": "dv-ssl", "common_name": "www.newcorp.io",
                                    "sans": ["www.newcorp.io"]})
    assert o.status == 403 and o.problem == "domain_not_owned"
    # a wrong value is not enough
    knot.update(f"add {claim['txt_name']}. 60 TXT \"not-the-value\"", zone="newcorp.io")
    assert ann.post("/api/v1/domains/newcorp.io/verify").status == 400
    knot.update(f"add {claim['txt_name']}. 60 TXT \"{claim['txt_value']}\"", zone="newcorp.io")
    r = ann.post("/api/v1/domains/newcorp.io/verify")
    assert r.status == 200 and r.json["status"] == "verified", r
    names = [d["name"] for d in ann.get("/api/v1/domains").json["domains"]]
    assert "newcorp.io" in names
    o = ann.post("/api/v1/orders", {"product": "dv-ssl", "common_name": "www.newcorp.io",
                                    "sans": ["www.newcorp.io"]})
    assert o.status == 201, o
    trail = ann.get("/api/v1/audit").json
    assert any(e["action"] == "domain.verify" for e in trail["events"]), trail
    # now the other account can claim neither it, nor under it, nor above acme's names
    oscar = server.api(store.tokens["oscar"])
    for name in ("newcorp.io", "sub.newcorp.io", "example.com", "example.net"):
        r = oscar.post("/api/v1/domains", {"name": name})
        assert r.status == 409 and r.problem == "conflict", (name, r)
    # nor acme another's
    r = ann.post("/api/v1/domains", {"name": "other.org"})
    assert r.status == 409, r
    r = ann.post("/api/v1/domains", {"name": "newcorp.io"})
    assert r.status == 409 and "already" in r.json["detail"], r


def test_claims_refused(server, store, knot):
    ann = server.api(store.tokens["ann"])
    for name in ("co.uk", "com.au", "github.io"):
        r = ann.post("/api/v1/domains", {"name": name})
        assert r.status == 400 and r.problem == "invalid_domain", (name, r)
        assert "public suffix" in r.json["detail"], r
    r = ann.post("/api/v1/domains", {"name": "bad..name"})
    assert r.status == 400 and r.problem == "invalid_domain"
    # only an administrator claims
    sam = server.api(store.tokens["sam"])
    r = sam.post("/api/v1/domains", {"name": "samcorp.io"})
    assert r.status == 403 and r.problem == "forbidden"
    # verifying without a claim
    r = ann.post("/api/v1/domains/unclaimed.io/verify")
    assert r.status == 404, r
    assert store.sql("SELECT count(*) FROM domain_claims") == "0"


def test_verify_bounded_against_a_silent_dns_server(server, store):
    """The look-up runs inside the request: against a DNS server that never answers, a
    verify answers 503 dns_unavailable within the bound, and at most two look-ups run at
    once in a server process (503 dns_busy beyond), so verify calls cannot take every
    thread; other calls keep being answered meanwhile."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # never read: every query goes unanswered
    try:
        store.cli("settings", "set", "dns-resolver", f"127.0.0.1:{silent.getsockname()[1]}")
        ann = server.api(store.tokens["ann"])
        assert ann.post("/api/v1/domains", {"name": "newcorp.io"}).status == 201
        n = 7  # over the two server processes, one has three or more at once
        go = threading.Barrier(n + 1)
        got = [None] * n

        def verify(i):
            go.wait()
            t0 = time.monotonic()
            got[i] = (ann.post("/api/v1/domains/newcorp.io/verify"), time.monotonic() - t0)

        threads = [threading.Thread(target=verify, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        go.wait()
        # the server answers other calls while the look-ups wait
        assert ann.get("/api/v1/account").status == 200
        for t in threads:
            t.join(60)
        codes = sorted(r.problem for r, _ in got)
        assert set(codes) == {"dns_busy", "dns_unavailable"}, got
        for r, secs in got:
            assert r.status == 503, r
            assert secs < 10, (r, secs)  # bounded: about 5 s at most, whatever DNS does
            if r.problem == "dns_busy":
                assert r.headers.get("retry-after"), r
            else:
                assert "no answer from 127.0.0.1" in r.json["detail"], r
        # nothing owned
        names = [d["name"] for d in ann.get("/api/v1/domains").json["domains"]]
        assert "newcorp.io" not in names
    finally:
        silent.close()
