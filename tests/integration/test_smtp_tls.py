"""Notification e-mail over TLS with a login (issue 15): a real aiosmtpd server that
requires STARTTLS and AUTH (PLAIN), and one speaking TLS from the start (smtps, AUTH
LOGIN), both with a certificate of their own CA. A wrong password fails with a clear
recorded error and is retried; the right one delivers; the password reaches no log."""
import os
import ssl
import subprocess

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from cin import free_port, order, wait_for
from servers import Nginx
from test_notify import Inbox

GOOD, BAD = "S3cret-mail-pw!", "wrong-Pa55word"


def server_cert(base):
    """A CA and the mail server's certificate for 127.0.0.1, signed by it."""
    d = os.path.join(base, "smtp-tls")
    os.mkdir(d)
    ca, cakey, crt, key, csr = (os.path.join(d, n) for n in ("ca.pem", "ca.key", "crt.pem",
                                                                "key.pem", "req.csr"))
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", cakey, "-out", ca, "-days", "2", "-subj", "/CN=Mail test CA")
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    return ca, ctx


class Auth:
    """aiosmtpd's authenticator: one account, every attempt recorded."""

    def __init__(self):
        self.tries = []

    def __call__(self, server, session, envelope, mechanism, data):
        tls = server.transport.get_extra_info("ssl_object") is not None
        ok = data.login == b"mailer" and data.password == GOOD.encode()
        self.tries.append((mechanism, tls, ok))
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 235 or 535


def no_password_anywhere(srv, store):
    """Neither password in the server's log, the audit trail, the outbox or settings."""
    text = srv.log() + store.sql("SELECT coalesce(detail, '') FROM order_events") + \
        store.sql("SELECT coalesce(last_error, '') || body FROM outbox") + \
        store.sql("SELECT value FROM settings")
    for pw in (GOOD, BAD):
        assert pw not in text


def mail_row(store, state):
    return store.sql("SELECT attempts || '|' || coalesce(last_error, '') FROM outbox WHERE"
                     f" kind = 'mail' AND state = '{state}' ORDER BY id LIMIT 1")


def start(base, store, url, ca):
    for k, v in (("smtp-url", url), ("smtp-from", "certs@provider.example"),
                 ("notify-retry-base", "1"), ("smtp-user", "mailer")):
        store.cli("settings", "set", k, v)
    if ca:
        store.cli("settings", "set", "smtp-ca-file", ca)
    srv = Nginx(base, store).start()
    srv.api(store.tokens["ann"]).request("PUT", "/api/v1/notifications",
                                         {"email": "ann@example.com"})
    # the agent's first pass starts from now: what came before is not sent
    assert wait_for(lambda: store.sql("SELECT value FROM settings WHERE key = 'notify_cursor'"), 15)
    return srv


def test_starttls_and_auth_plain_wrong_password_retried_then_delivered(base, store):
    ca, ctx = server_cert(base)
    port, inbox, auth = free_port(), Inbox(), Auth()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=ctx,
                      require_starttls=True, auth_required=True, auth_require_tls=True,
                      authenticator=auth, auth_exclude_mechanism=["LOGIN"])
    smtp.start()
    srv = None
    try:
        store.cli("settings", "set", "smtp-password", BAD)
        store.cli("settings", "set", "smtp-starttls", "true")
        srv = start(base, store, f"smtp://127.0.0.1:{port}", ca)
        o = order(srv.api(store.tokens["bob"]), "dv-ssl", ["tls-mail.example.com"])
        # refused: recorded in words, still queued, tried again
        assert wait_for(lambda: mail_row(store, "queued").startswith(("2|", "3|", "4|")), 30), \
            store.sql("SELECT state, attempts, last_error FROM outbox")
        err = mail_row(store, "queued").split("|", 1)[1]
        assert "refused the login of mailer" in err and "smtp-password" in err, err
        assert not inbox.messages
        assert auth.tries and all(m == "PLAIN" and tls and not ok for m, tls, ok in auth.tries)
        # the right password: delivered on the next try, inside TLS
        store.cli("settings", "set", "smtp-password", GOOD)
        assert wait_for(lambda: inbox.to("ann@example.com", f"{o['id']} waits for your approval"),
                        30), store.sql("SELECT state, attempts, last_error FROM outbox")
        assert auth.tries[-1] == ("PLAIN", True, True)
        assert wait_for(lambda: mail_row(store, "sent"), 10)
        assert mail_row(store, "sent").endswith("|")  # the old error is gone
        no_password_anywhere(srv, store)
    finally:
        smtp.stop()
        if srv:
            srv.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # TLS from the start
def test_smtps_auth_login_checks_the_servers_certificate(base, store):
    ca, ctx = server_cert(base)
    port, inbox, auth = free_port(), Inbox(), Auth()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=ctx,
                      auth_required=True, auth_require_tls=False, authenticator=auth,
                      auth_exclude_mechanism=["PLAIN"])
    smtp.start()
    srv = None
    try:
        store.cli("settings", "set", "smtp-password", GOOD)
        # no smtp-ca-file yet: the system's CAs do not know the mail server's
        srv = start(base, store, f"smtps://127.0.0.1:{port}", None)
        o = order(srv.api(store.tokens["bob"]), "dv-ssl", ["smtps-mail.example.com"])
        assert wait_for(lambda: "certificate is not trusted" in mail_row(store, "queued"), 30), \
            store.sql("SELECT state, attempts, last_error FROM outbox")
        assert not auth.tries and not inbox.messages  # nothing sent to an unchecked server
        store.cli("settings", "set", "smtp-ca-file", ca)
        assert wait_for(lambda: inbox.to("ann@example.com", f"{o['id']} waits for your approval"),
                        30), store.sql("SELECT state, attempts, last_error FROM outbox")
        assert auth.tries == [("LOGIN", True, True)]
        no_password_anywhere(srv, store)
    finally:
        smtp.stop()
        if srv:
            srv.stop()
