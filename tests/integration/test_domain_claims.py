"""Self-service domain claims (issue 14): a TXT record in a real DNS server (Knot)."""
import socket
import threading
import time

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from knot import Knot
from test_acme import issue
from test_browser import browser, click, login, wait  # noqa: F401 (browser: the fixture)


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


def text_of(drv, css):
    """The element's text, "" while the view is drawn again."""
    try:
        return drv.find_element(By.CSS_SELECTOR, css).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def test_claim_steps_and_distrust_progress_in_the_browser(browser, server, store, knot):  # noqa: F811
    """The page's Domains view: claim a domain (the TXT record to publish shown), verify
    too early (told why), publish, verify (the domain is the account's); and the progress
    of replacing the account's certificates after a distrust."""
    ann = server.api(store.tokens["ann"])
    o = issue(ann, ann, "dv-ssl", ["distrusted.example.com"])
    # the built-in CA distrusted, dv-ssl bound to no other CA: reported, not replaced
    store.cli("ca", "distrust", "builtin")
    login(browser, server, "ann")
    wait(browser, EC.presence_of_element_located((By.ID, "orders")))
    click(browser, (By.CSS_SELECTOR, 'a[data-nav="domains"]'))
    wait(browser, EC.presence_of_element_located((By.ID, "distrust")))
    assert browser.find_element(By.ID, "distrust-stranded").text == "1"
    assert browser.find_element(By.ID, "distrust-replaced").text == "0"
    assert browser.find_element(By.ID, "distrust-pending").text == "0"
    assert browser.find_element(By.ID, "distrust-progress").get_attribute("max") == "1"
    assert ann.get(f"/api/v1/orders/{o['id']}").json["status"] == "issued"
    # claim
    browser.find_element(By.ID, "claim-name").send_keys("NewCorp.io")
    click(browser, (By.ID, "claim-submit"))
    panel = wait(browser, EC.presence_of_element_located(
        (By.CSS_SELECTOR, '[data-claim="newcorp.io"]')))
    assert panel
    claims = ann.get("/api/v1/domains/claims").json["claims"]
    txt_name, txt_value = claims[0]["txt_name"], claims[0]["txt_value"]
    assert wait(browser, lambda d: text_of(d, '[data-claim="newcorp.io"] .txt-name') == txt_name)
    assert text_of(browser, '[data-claim="newcorp.io"] .txt-value') == txt_value
    assert txt_name == "_certinext-challenge.newcorp.io"
    assert claims == [{"name": "newcorp.io", "status": "pending", "txt_name": txt_name,
                       "txt_value": txt_value}], claims
    # verify before publishing: told what is missing, nothing owned
    click(browser, (By.CSS_SELECTOR, 'button[data-verify="newcorp.io"]'))
    state = '[data-claim="newcorp.io"] .claim-state'
    said = wait(browser, lambda d: "Not verified yet" in text_of(d, state) and text_of(d, state))
    assert txt_value in said and "it was not found" in said, said
    # publish, verify: the account's domain, the claim gone
    knot.update(f"add {txt_name}. 60 TXT \"{txt_value}\"", zone="newcorp.io")
    click(browser, (By.CSS_SELECTOR, 'button[data-verify="newcorp.io"]'))
    wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-domain="newcorp.io"]')))
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-claim="newcorp.io"]')
    assert ann.get("/api/v1/domains/claims").json["claims"] == []
    # a standard user has neither the view's data nor the menu entry
    bob = server.api(store.tokens["bob"])
    assert bob.get("/api/v1/distrust").status == 403
    assert bob.get("/api/v1/domains/claims").status == 403
