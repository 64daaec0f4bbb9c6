"""Notifications (issue 15) with the real servers: e-mails received by a real SMTP
server (Debian's python3-aiosmtpd) with the right recipients and words, a delivery
retried after the SMTP server was down, and webhook deliveries to a local receiver
with a valid signature, retried after a 500."""
import hashlib
import hmac
import json
import threading
import time
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from cin import free_port, order, wait_for, wait_status


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, addr, words):
        return [m for rcpt, m in self.messages if addr in rcpt and words in m["Subject"]]


class Receiver:
    """A control panel's webhook endpoint: answers 500 to the first delivery."""

    def __init__(self):
        self.got, self.fail_first = [], True
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((dict(self.headers), body))
                code = 500 if outer.fail_first else 200
                outer.fail_first = False
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/certinext"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


def verify(secret, headers, body):
    sig = dict(p.split("=", 1) for p in headers["X-Certinext-Signature"].split(","))
    want = hmac.new(secret.encode(), f"{sig['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(sig["v1"], want), headers
    assert abs(int(sig["t"]) - time.time()) < 300


def test_mail_and_webhooks(server, store):
    ann = server.api(store.tokens["ann"])
    bob = server.api(store.tokens["bob"])
    smtp_port = free_port()
    for k, v in (("smtp-url", f"smtp://127.0.0.1:{smtp_port}"), ("smtp-from", "certs@provider.example"),
                 ("notify-retry-base", "1"), ("webhook-allow-private", "true")):
        store.cli("settings", "set", k, v)
    assert ann.request("PUT", "/api/v1/notifications", {"email": "ann@example.com"}).status == 200
    assert bob.request("PUT", "/api/v1/notifications", {"email": "bob@example.com"}).status == 200
    receiver = Receiver()
    inbox = Inbox()
    smtp = None
    try:
        r = ann.post("/api/v1/webhooks", {"url": receiver.url, "events": ["order.created", "order.issued"]})
        assert r.status == 201, r
        hook, secret = r.json["id"], r.json["secret"]
        # the agent's first pass starts from now: what came before is not sent
        assert wait_for(lambda: store.sql("SELECT value FROM settings WHERE key = 'notify_cursor'"), 15)
        # the mail server is down when bob orders: the e-mail waits in the store
        o = order(bob, "dv-ssl", ["notify.example.com"])
        assert wait_for(lambda: store.sql(
            "SELECT attempts FROM outbox WHERE kind = 'mail' AND attempts > 0 AND state = 'queued'"), 15)
        smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
        smtp.start()
        assert wait_for(lambda: inbox.to("ann@example.com", f"{o['id']} waits for your approval"), 30), \
            store.sql("SELECT recipient, state, attempts, last_error FROM outbox")
        m = inbox.to("ann@example.com", "waits for your approval")[0]
        assert m["From"] == "certinext <certs@provider.example>"
        assert "bob requested a certificate for notify.example.com" in m.get_payload()
        assert not inbox.to("bob@example.com", "waits")  # the requester is not asked to approve
        # the webhook: a 500 first, then retried and accepted, signed
        assert wait_for(lambda: len(receiver.got) >= 2, 30), receiver.got
        for headers, body in receiver.got[:2]:
            verify(secret, headers, body)
            assert headers["X-Certinext-Event"] == "order.created"
            d = json.loads(body)
            assert d["event"] == "order.created" and d["order"]["id"] == o["id"]
        log = ann.get(f"/api/v1/webhooks/{hook}/deliveries").json["deliveries"]
        assert wait_for(lambda: ann.get(f"/api/v1/webhooks/{hook}/deliveries").json["deliveries"][0]["state"] == "sent", 10)
        log = ann.get(f"/api/v1/webhooks/{hook}/deliveries").json["deliveries"]
        assert log[0]["attempts"] == 2 and log[0]["last_status"] == 200 and log[0]["order"] == o["id"]
        # approved, then issued: the requester hears of both; the webhook of the issuance
        assert ann.post(f"/api/v1/orders/{o['id']}/approve", {}).status == 200
        assert bob.post(f"/api/v1/orders/{o['id']}/pay", {}).status == 200
        wait_status(bob, o["id"], "issued")
        assert wait_for(lambda: inbox.to("bob@example.com", f"{o['id']} was issued"), 30)
        assert inbox.to("bob@example.com", f"{o['id']} was approved: pay to continue")
        assert wait_for(lambda: any(h["X-Certinext-Event"] == "order.issued" for h, _ in receiver.got), 30)
        h, body = [x for x in receiver.got if x[0]["X-Certinext-Event"] == "order.issued"][0]
        verify(secret, h, body)
        assert json.loads(body)["order"]["certificate"]["serial"]
        # a rejection carries its reason
        o2 = order(bob, "dv-ssl", ["reject.example.com"])
        assert ann.post(f"/api/v1/orders/{o2['id']}/reject", {"reason": "not our site"}).status == 200
        assert wait_for(lambda: inbox.to("bob@example.com", f"{o2['id']} was rejected"), 30)
        assert "Reason: not our site" in inbox.to("bob@example.com", "rejected")[0].get_payload()
    finally:
        if smtp:
            smtp.stop()
        receiver.stop()
