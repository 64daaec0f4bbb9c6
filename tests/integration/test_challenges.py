"""Every way to prove a domain (issue 14): tls-alpn-01 inside the handshake of both
modules, validated by Debian's pebble against the module's own TLS port."""
import hashlib
import socket
import ssl
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding

DER = Encoding.DER

from cin import free_port, serial_of_der, wait_for
from pebble import Pebble
from servers import SERVERS
from test_acme import issue

ACME_IDENTIFIER = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")


@pytest.fixture(params=sorted(SERVERS))
def h2server(request, base, store):
    """The server under test with h2 allowed on its TLS port."""
    srv = SERVERS[request.param](base, store, http2=True).start()
    yield srv
    srv.stop()


def hello(port, sni, alpn):
    """A handshake offering the ALPN protocols alpn: (chosen protocol, leaf), or
    (None, None) when the server refused the handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(alpn)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=sni) as t:
                return t.selected_alpn_protocol(), x509.load_der_x509_certificate(
                    t.getpeercert(binary_form=True))
    except (ssl.SSLError, ConnectionError):
        return None, None


def acme_identifier(cert):
    try:
        ext = cert.extensions.get_extension_for_oid(ACME_IDENTIFIER)
    except x509.ExtensionNotFound:
        return None
    return ext


def test_tls_alpn01_issued_by_pebble_on_the_tls_port(base, h2server, store):
    """pebble proves the name through the module's TLS port only (its http-01 port is
    closed); ordinary clients on that port keep their protocol and certificate."""
    closed = free_port()
    p = Pebble(base, closed, tls_port=h2server.https_port).start()
    try:
        store.cli("ca", "add", "--name", "pebble", "--acme", p.directory, "--trust", p.cert,
                  "--challenge", "tls-alpn-01")
        store.cli("product", "set-ca", "dv-ssl", "pebble")
        assert "challenge=tls-alpn-01" in store.cli("ca", "list").stdout
        ann = h2server.api(store.tokens["ann"])
        o = issue(ann, ann, "dv-ssl", ["alpn.example.com"])
        assert "Pebble" in o["certificate"]["issuer"]
        serial = o["certificate"]["serial"]
        # served on the next handshakes, with h2 and http/1.1 as before
        def served():
            proto, leaf = hello(h2server.https_port, "alpn.example.com", ["h2", "http/1.1"])
            return leaf is not None and serial_of_der(leaf.public_bytes(DER)) == serial and \
                (proto, leaf)
        proto, leaf = wait_for(served, 5)
        assert proto == "h2" and acme_identifier(leaf) is None
        # the challenge answer is gone with the order's completion
        assert store.sql("SELECT count(*) FROM challenges") == "0"
    finally:
        p.stop()


def test_pending_challenge_answered_only_to_acme_tls(h2server, store):
    """A pending tls-alpn-01 answer (as the agent stores it): a client offering only
    acme-tls/1 gets the challenge certificate; every other client gets exactly what it
    got before, on both servers."""
    keyauth = "tok-123.thumbprint-abc"
    offers = (("h2", "http/1.1"), ("http/1.1",))
    before = {alpn: hello(h2server.https_port, "pending.example.com", list(alpn))
              for alpn in offers}
    assert before[("h2", "http/1.1")][0] == "h2"
    assert before[("http/1.1",)][0] == "http/1.1"
    store.sql("INSERT INTO challenges(kind, token, content, order_id, expires_at) VALUES "
              f"('alpn', 'pending.example.com', '{keyauth}', NULL, {int(time.time()) + 600})")
    proto, leaf = hello(h2server.https_port, "Pending.Example.COM", ["acme-tls/1"])
    assert proto == "acme-tls/1"
    ext = acme_identifier(leaf)
    assert ext is not None and ext.critical
    # the extension's value: DER OCTET STRING of SHA-256(key authorization)
    assert ext.value.value == b"\x04\x20" + hashlib.sha256(keyauth.encode()).digest()
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["pending.example.com"]
    # ordinary clients: their protocol, and the certificate served before
    for alpn in offers:
        got_proto, got = hello(h2server.https_port, "pending.example.com", list(alpn))
        assert got_proto == alpn[0], (alpn, got_proto)
        assert acme_identifier(got) is None
        assert got.fingerprint(SHA256()) == before[alpn][1].fingerprint(SHA256())
    # acme-tls/1 among other protocols is no challenge: the usual choice
    got_proto, got = hello(h2server.https_port, "pending.example.com",
                           ["acme-tls/1", "http/1.1"])
    assert got_proto == "http/1.1" and acme_identifier(got) is None
    # another name has no pending challenge: never a challenge certificate
    got_proto, got = hello(h2server.https_port, "other.example.com", ["acme-tls/1"])
    assert got is None or acme_identifier(got) is None
    # expired answers are not given
    store.sql("UPDATE challenges SET expires_at = 1")
    got_proto, got = hello(h2server.https_port, "pending.example.com", ["acme-tls/1"])
    assert got is None or acme_identifier(got) is None
