"""Notifications in a fleet (issue 15): three hosts on one PostgreSQL store, each with
its own agent, and one SMTP server counting what it receives. Every queued e-mail is
claimed by one agent: each arrives exactly once."""
import asyncio
from collections import Counter

from aiosmtpd.controller import Controller

from cin import free_port, order, wait_for
from test_fleet import Fleet
from test_notify import Inbox

N = 12


class SlowInbox(Inbox):
    """Takes a while over each message, so the agents' passes overlap."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.2)
        return await super().handle_DATA(server, session, envelope)


def test_fleet_sends_each_notification_once(base, pg_store):
    store = pg_store
    port, inbox = free_port(), SlowInbox()
    for k, v in (("smtp-url", f"smtp://127.0.0.1:{port}"), ("smtp-from", "certs@provider.example"),
                 ("notify-retry-base", "1")):
        store.cli("settings", "set", k, v)
    smtp = None
    with Fleet(base, store) as f:
        try:
            h1, h2, h3 = f.hosts
            assert h1.api(store.tokens["ann"]).request(
                "PUT", "/api/v1/notifications", {"email": "ann@example.com"}).status == 200
            assert wait_for(lambda: store.sql(
                "SELECT value FROM settings WHERE key = 'notify_cursor'"), 20)
            # the mail server is down while bob orders through every host: the
            # e-mails wait in the one outbox, due again within seconds
            ids = [order(h.api(store.tokens["bob"]), "dv-ssl", [f"mail{i}.example.com"])["id"]
                   for i in range(N) for h in [f.hosts[i % 3]]]
            assert wait_for(lambda: store.sql(
                "SELECT count(*) FROM outbox WHERE kind = 'mail' AND attempts > 0") == str(N), 60), \
                store.sql("SELECT state, attempts, last_error FROM outbox")
            smtp = Controller(inbox, hostname="127.0.0.1", port=port)
            smtp.start()
            assert wait_for(lambda: store.sql(
                "SELECT count(*) FROM outbox WHERE kind = 'mail' AND state = 'sent'") == str(N),
                120), store.sql("SELECT state, attempts, last_error FROM outbox")
            # every row is sent: no agent can claim one again, so the count is final
            subjects = Counter(m["Subject"] for rcpt, m in inbox.messages
                               if rcpt == ["ann@example.com"])
            assert len(inbox.messages) == N, subjects
            for oid in ids:
                assert subjects[f"[certinext] {oid} waits for your approval"] == 1, subjects
        finally:
            if smtp:
                smtp.stop()
