"""Every way to prove a domain (issue 14): tls-alpn-01 inside the handshake of both
modules, validated by Debian's pebble against the module's own TLS port."""
import base64
import hashlib
import os
import socket
import ssl
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding

DER = Encoding.DER

from cin import BUILD, free_port, handshake, order, serial_of_der, wait_for, wait_status
from knot import KEY_NAME as KNOT_KEY, Knot
from pebble import Pebble
from servers import SERVERS
from test_acme import issue

CLI = os.path.join(BUILD, "certinext")
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


def put_alpn(store, name, keyauth):
    """A pending tls-alpn-01 answer, as the agent stores it (the agent may hold the lock)."""
    store.sql("PRAGMA busy_timeout = 10000; INSERT INTO challenges(kind, token, content, "
              f"order_id, expires_at) VALUES ('alpn', '{name}', '{keyauth}', NULL, "
              f"{int(time.time()) + 600})")


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
    put_alpn(store, "pending.example.com", keyauth)
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
    store.sql("PRAGMA busy_timeout = 10000; UPDATE challenges SET expires_at = 1")
    got_proto, got = hello(h2server.https_port, "pending.example.com", ["acme-tls/1"])
    assert got is None or acme_identifier(got) is None


# ---- dns-01 -------------------------------------------------------------------------

@pytest.fixture
def knot(base):
    k = Knot(base).start()
    yield k
    k.stop()


def dns_pebble(base, store, knot, server_http_port, name="pebble", **ca):
    """pebble whose VA asks knot, bound to dv-wildcard and dv-ssl, answering dns-01."""
    p = Pebble(base, server_http_port, dns_server=knot.address, name=name).start()
    args = ["ca", "add", "--name", name, "--acme", p.directory, "--trust", p.cert,
            "--challenge", "dns-01"]
    for k, v in ca.items():
        args += [f"--{k.replace('_', '-')}", v]
    store.cli(*args)
    for product in ("dv-wildcard", "dv-ssl"):
        store.cli("product", "set-ca", product, name)
    store.cli("settings", "set", "dns-resolver", knot.address)
    return p


def test_dns01_wildcard_by_rfc2136_with_tsig(base, server, store, knot):
    """*.example.com from pebble via dns-01: RFC 2136 updates signed with TSIG to a real
    Knot, the record looked up before pebble is told, and removed afterwards."""
    p = dns_pebble(base, store, knot, server.http_port, dns_update=knot.address,
                   tsig_key_file=knot.key_file())
    try:
        # the secret is sealed in the store, never there in the clear
        assert knot.secret not in store.sql("SELECT quote(tsig_secret) FROM cas "
                                            "WHERE name='pebble'")
        ann = server.api(store.tokens["ann"])
        o = issue(ann, ann, "dv-wildcard", ["*.example.com"], timeout=60)
        assert "Pebble" in o["certificate"]["issuer"]
        serial = o["certificate"]["serial"]
        assert wait_for(lambda: handshake(server.https_port, "www.example.com")[0] == serial, 5)
        # the TXT record went with the order
        assert wait_for(lambda: knot.txt("_acme-challenge.example.com") == [], 10)
        assert store.sql("SELECT count(*) FROM challenges") == "0"
    finally:
        p.stop()


def test_dns01_wrong_tsig_key_fails_clearly(base, server, store, knot):
    wrong = base64.b64encode(b"not the key, not the key, not it").decode()
    p = dns_pebble(base, store, knot, server.http_port, dns_update=knot.address,
                   tsig_key_file=knot.key_file(secret=wrong))
    try:
        ann = server.api(store.tokens["ann"])
        o = order(ann, "dv-ssl", ["tsig.example.com"])
        assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        o = wait_status(ann, o["id"], "failed", timeout=30)
        assert o["error"]["type"].endswith(":ca_error"), o["error"]
        assert "TSIG" in o["error"]["detail"], o["error"]
        assert knot.txt("_acme-challenge.tsig.example.com") == []
    finally:
        p.stop()


HOOK = """#!/bin/sh
# certinext's dns-01 hook for this test: add|remove NAME VALUE, by knsupdate
[ -z "$HOME$CERTINEXT_SECRET$CERTINEXT_STORE" ] || {{ echo "environment kept" >&2; exit 9; }}
[ -e /proc/self/fd/{fd} ] && {{ echo "descriptor {fd} left open" >&2; exit 8; }}
case "$3" in *fail*) echo "provider says no for $2" >&2; exit 3;; esac
[ "$1" = add ] && op="add $2. 60 TXT \\"$3\\"" || op="del $2. 60 TXT \\"$3\\""
echo "$1 $2 $3" >> {log}
printf 'server 127.0.0.1 {port}\\nzone example.com\\nkey hmac-sha256:{key} {secret}\\n%s\\nsend\\n' "$op" \\
    | /usr/bin/knsupdate
"""


def make_hook(base, knot, owner=0, mode=0o755, fd=99):
    path = os.path.join(base, "dns-hook.sh")
    log = os.path.join(base, "dns-hook.log")
    with open(path, "w") as f:
        f.write(HOOK.format(log=log, port=knot.port, key=KNOT_KEY, secret=knot.secret, fd=fd))
    os.chmod(path, mode)
    os.chown(path, owner, owner)
    return path, log


@pytest.mark.parametrize("kind", ["nginx"])
def test_dns01_through_the_hook_of_the_agent(base, store, knot, kind):
    """`certinext agent --dns-hook`: the hook publishes and removes the record; it runs
    with an empty environment and no inherited descriptors."""
    srv = SERVERS[kind](base, store, agent=False).start()
    p = dns_pebble(base, store, knot, srv.http_port)
    agent = None
    inherited = open(os.path.join(base, "inherited"), "w")
    hook, log = make_hook(base, knot, fd=inherited.fileno())
    try:
        ann = srv.api(store.tokens["ann"])
        o = order(ann, "dv-wildcard", ["*.example.com"])
        assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        env = dict(os.environ, CERTINEXT_SECRET="must-not-leak", CERTINEXT_STORE=store.path)
        # the agent holds a descriptor and secrets in its environment: the hook gets neither
        agent = subprocess.Popen([CLI, "agent", "--interval", "0.2", "--dns-hook", hook],
                                 env=env, pass_fds=(inherited.fileno(),),
                                 stderr=subprocess.PIPE, text=True)
        o = wait_status(ann, o["id"], "issued", timeout=60)
        assert "Pebble" in o["certificate"]["issuer"]
        with open(log) as f:
            lines = f.read().splitlines()
        assert lines[0].startswith("add _acme-challenge.example.com ")
        assert wait_for(lambda: any(ln.startswith("remove _acme-challenge.example.com ")
                                    for ln in open(log).read().splitlines()), 10)
        assert wait_for(lambda: knot.txt("_acme-challenge.example.com") == [], 10)
    finally:
        if agent:
            agent.terminate()
            agent.wait(10)
        inherited.close()
        p.stop()
        srv.stop()


def test_dns01_hook_failure_shown_to_admins_only(base, store, knot):
    srv = SERVERS["nginx"](base, store, agent=False).start()
    p = dns_pebble(base, store, knot, srv.http_port)
    path = os.path.join(base, "failing-hook.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho \"provider says no for $2\" >&2\nexit 3\n")
    os.chmod(path, 0o755)
    try:
        sam = srv.api(store.tokens["sam"])
        ann = srv.api(store.tokens["ann"])
        o = order(sam, "dv-ssl", ["hook.example.com"])
        assert ann.post(f"/api/v1/orders/{o['id']}/approve").status == 200
        assert sam.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        store.cli("agent", "--once", "--dns-hook", path)
        got = wait_status(ann, o["id"], "failed", timeout=5)
        hook = got["error"]["dns_hook"]
        assert hook["exit"] == 3 and hook["action"] == "add"
        assert "provider says no for _acme-challenge.hook.example.com" in hook["stderr"]
        assert "exit status 3" in got["error"]["detail"]
        # the order's own user sees the failure, not the hook's output
        mine = sam.get(f"/api/v1/orders/{o['id']}").json
        assert mine["status"] == "failed" and "dns_hook" not in mine["error"]
        # nor in the order's trail; the administrator sees it there too
        assert "provider says no" not in sam.get(f"/api/v1/orders/{o['id']}/events").body
        assert "provider says no" in ann.get(f"/api/v1/orders/{o['id']}/events").body
    finally:
        p.stop()
        srv.stop()


def test_dns_hook_must_be_root_owned(base, store, knot):
    hook, _ = make_hook(base, knot, owner=33)  # www-data
    r = store.cli("agent", "--once", "--dns-hook", hook, check=False)
    assert r.returncode == 1 and "must belong to root" in r.stderr
    hook, _ = make_hook(base, knot, mode=0o757)
    r = store.cli("agent", "--once", "--dns-hook", hook, check=False)
    assert r.returncode == 1 and "not be writable by group or other" in r.stderr
    # the servers refuse such a configuration
    srv = SERVERS["nginx"](base, store, extra_http=f"certinext_dns_hook {hook};")
    r = subprocess.run(["nginx", "-t", "-c", srv.conf, "-p", base], capture_output=True,
                       text=True)
    assert r.returncode != 0 and "certinext_dns_hook" in r.stderr


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_acme_tls_handshakes_under_sanitizers(base, store, kind):
    """The ALPN callback (nginx) and the protocol hooks (httpd) under ASan+UBSan: challenge
    and ordinary handshakes, then a clean stop with no sanitizer report."""
    srv = SERVERS[kind](base, store, sanitized=True, http2=True).start()
    try:
        keyauth = "tok-san.thumb"
        put_alpn(store, "san.example.com", keyauth)
        for _ in range(5):
            proto, leaf = hello(srv.https_port, "san.example.com", ["acme-tls/1"])
            assert proto == "acme-tls/1" and acme_identifier(leaf) is not None
            proto, leaf = hello(srv.https_port, "san.example.com", ["h2", "http/1.1"])
            assert proto == "h2" and acme_identifier(leaf) is None
            hello(srv.https_port, "none.example.com", ["acme-tls/1"])
    finally:
        srv.stop()
    reports = srv.sanitizer_reports()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


def test_dns01_through_the_hook_of_nginx(base, store, knot):
    """certinext_dns_hook in nginx.conf: the worker's agent runs the hook (as the worker
    user)."""
    hook, log = make_hook(base, knot)
    with open(log, "w"):
        pass
    os.chown(log, 33, 33)  # the worker user appends to it
    srv = SERVERS["nginx"](base, store, extra_http=f"certinext_dns_hook {hook};").start()
    p = dns_pebble(base, store, knot, srv.http_port)
    try:
        ann = srv.api(store.tokens["ann"])
        o = issue(ann, ann, "dv-wildcard", ["*.example.com"], timeout=60)
        assert "Pebble" in o["certificate"]["issuer"]
        with open(log) as f:
            assert f.readline().startswith("add _acme-challenge.example.com ")
        assert wait_for(lambda: knot.txt("_acme-challenge.example.com") == [], 10)
    finally:
        p.stop()
        srv.stop()


def test_dns01_failing_hook_inside_nginx_is_recorded(base, store, knot):
    """The hook run by nginx's own agent: nginx's SIGCHLD handler reaps any child of the
    process, so the hook runs as a grandchild and its status comes through a pipe; a
    failing hook's exit status and stderr are recorded, not lost."""
    path = os.path.join(base, "failing-hook.sh")
    with open(path, "w") as f:
        # stderr closed before it ends: the agent has read all of it and waits, while
        # nginx's handler is free to reap the process when it exits
        f.write("#!/bin/sh\necho \"provider refuses $2\" >&2\nexec 2>&-\nsleep 0.5\nexit 5\n")
    os.chmod(path, 0o755)
    srv = SERVERS["nginx"](base, store, extra_http=f"certinext_dns_hook {path};").start()
    p = dns_pebble(base, store, knot, srv.http_port)
    try:
        ann = srv.api(store.tokens["ann"])
        o = order(ann, "dv-wildcard", ["*.example.com"])
        assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        got = wait_status(ann, o["id"], "failed", timeout=60)
        hook = got["error"]["dns_hook"]
        assert hook["exit"] == 5 and hook["action"] == "add", hook
        assert "provider refuses _acme-challenge.example.com" in hook["stderr"]
        assert "exit status 5" in got["error"]["detail"]
        assert knot.txt("_acme-challenge.example.com") == []
    finally:
        p.stop()
        srv.stop()
