"""AutoSSL: 200 domains assigned in one batch to an account with a policy are
served by the running server's agent without anyone asking, once each."""
import time

import pytest

from cin import handshake, wait_for
from servers import Nginx


@pytest.mark.backends("sqlite", "postgresql")
def test_two_hundred_domains_served_without_a_click(server, store):
    store.cli("credits", "add", "--account", "acme", "2000")
    store.cli("account", "set", "acme", "--auto-certificate", "dv-ssl")
    # the fixture's two domains of acme are ordered for first: wait for them
    assert wait_for(lambda: store.sql(
        "SELECT count(*) FROM orders WHERE kind='automatic' AND status='issued'") == "2", 30)
    names = [f"auto{i:03d}.example.org" for i in range(200)]
    fallback = handshake(server.https_port, names[0])[0]
    t0 = time.monotonic()
    store.cli("domain", "add", "--account", "acme", *names)
    t_assigned = time.monotonic()

    def served():
        return store.sql("SELECT count(*) FROM orders WHERE kind='automatic' AND"
                         " status='issued'") == "202"
    assert wait_for(served, 60, 0.2), store.sql(
        "SELECT status, count(*) FROM orders GROUP BY status")
    issued = time.monotonic() - t_assigned
    # every name is served by the server itself (its agent issued them)
    for n in names:
        assert wait_for(lambda: handshake(server.https_port, n)[0] != fallback, 5), n
    took = time.monotonic() - t_assigned
    print(f"\nAutoSSL: 200 domains assigned in {t_assigned - t0:.2f} s, all issued "
          f"{issued:.2f} s and served {took:.2f} s after the assignment ({server.name})")
    assert took < 30, took
    # one order per domain, charged once each (10 credits), audited as automatic
    assert store.sql("SELECT count(*) FROM (SELECT common_name FROM orders GROUP BY"
                     " common_name HAVING count(*) > 1) d") == "0"
    assert store.sql("SELECT count(*), sum(l.delta) FROM ledger l JOIN orders o ON"
                     " o.id = l.order_id WHERE o.kind = 'automatic'") == "202|-2020"
    assert store.sql("SELECT credits FROM accounts WHERE name='acme'") == "980"
    assert store.sql("SELECT count(*) FROM order_events WHERE actor='automatic' AND"
                     " action='order.pay'") == "202"
    # the page and API show them like any order, with kind "automatic"
    ann = server.api(store.tokens["ann"])
    r = ann.get("/api/v1/orders?q=auto000")
    assert r.status == 200 and r.json["orders"][0]["kind"] == "automatic"
    # a domain taken away stops being served (the security rule holds for AutoSSL)
    store.cli("domain", "remove", names[0])
    assert wait_for(lambda: handshake(server.https_port, names[0])[0] == fallback, 5)


def test_short_credits_refused_with_an_alert(base, store):
    server = Nginx(base, store).start()
    try:
        _short_credits(server, store)
    finally:
        server.stop()


def _short_credits(server, store):
    store.cli("account", "set", "other", "--auto-certificate", "dv-ssl")
    # "other" has 100 credits: other.org (10) is ordered; then credits run out
    assert wait_for(lambda: store.sql(
        "SELECT count(*) FROM orders WHERE kind='automatic' AND status='issued'") == "1", 30)
    store.sql("UPDATE accounts SET credits = 5 WHERE name = 'other'")
    store.cli("domain", "add", "--account", "other", "poor.example.org")
    assert wait_for(lambda: store.sql(
        "SELECT count(*) FROM order_events WHERE action='autossl.refused'") == "1", 30)
    oscar = server.api(store.tokens["oscar"])
    ev = oscar.get("/api/v1/audit").json["events"]
    refused = [e for e in ev if e["action"] == "autossl.refused"]
    assert refused and "costs 10 credits; the account has 5" in refused[0]["detail"]
    assert store.sql("SELECT count(*) FROM orders WHERE common_name='poor.example.org'") == "0"
