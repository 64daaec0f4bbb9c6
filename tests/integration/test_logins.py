"""Logins an enterprise trusts (issue 16) through nginx and httpd: TOTP enrolment
and login with codes computed here (wrong, replayed, one step of drift), the
account's enforced second factor with API tokens unaffected, a peer allowlist
refusing 127.0.0.2 and admitting 127.0.0.1, and login with a client certificate
on servers that verify client certificates - accepted only when the server's
verification succeeded."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import ssl
import struct
import subprocess
import time

import pytest

from servers import SERVERS


def totp(secret_b32, step):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000)


def request(port, method, path, body=None, token=None, source="127.0.0.1", tls=False,
            cert=None, headers=None):
    h = {"Host": "localhost"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if cert:
            ctx.load_cert_chain(*cert)
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=ctx,
                                        source_address=(source, 0))
    else:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        c.request(method, "/certinext" + path, body=data, headers=h)
        r = c.getresponse()
        text = r.read().decode()
        j = json.loads(text) if "json" in (r.getheader("content-type") or "") and text else None
        return r.status, j, r.getheader("set-cookie")
    finally:
        c.close()


def code_of(j):
    return j["type"].rsplit(":", 1)[1]


def confirm_previous_step(port, secret, **kw):
    """Confirm an enrolment with the previous step's code, leaving the current step's
    unused for the logins; returns (step, status, reply).  The server accepts one step
    of drift, so the previous step's code fails only when a step ends between computing
    it and the server's check: then it is computed again for the new step (however
    slowly the request ran), instead of betting on a margin within the step."""
    while True:
        step = int(time.time() // 30)
        st, j, _ = request(port, "POST", "/api/v1/totp/confirm", {"code": totp(secret, step - 1)},
                           **kw)
        if st == 200 or int(time.time() // 30) == step:
            return step, st, j


def test_totp_enforced_second_factor_and_allowlist(server, store):
    port, ann, sam = server.http_port, store.tokens["ann"], store.tokens["sam"]
    login = {"username": "ann", "password": "ann-password"}
    # enrolment: the QR code comes as SVG in the reply, no script, no CDN
    st, j, _ = request(port, "POST", "/api/v1/totp", token=ann)
    assert st == 200 and j["qr_svg"].startswith("<svg ") and "secret=" in j["otpauth_uri"], j
    secret = j["secret"]
    # then `now`'s code stays valid (one step of drift) for 30 s or more after the
    # confirmation: the few logins below need no margin within the step
    now, st, j = confirm_previous_step(port, secret, token=ann)
    assert st == 200 and len(j["recovery_codes"]) == 10, j
    st, j, _ = request(port, "POST", "/api/v1/session", login)
    assert st == 401 and code_of(j) == "totp_required", j
    st, j, _ = request(port, "POST", "/api/v1/session", {**login, "totp": "000000"
                                                         if totp(secret, now) != "000000"
                                                         else "111111"})
    assert st == 401 and code_of(j) == "unauthorized", j
    st, j, cookie = request(port, "POST", "/api/v1/session", {**login, "totp": totp(secret, now)})
    assert st == 200 and cookie.startswith("__Host-cin_session="), j
    st, j, _ = request(port, "POST", "/api/v1/session", {**login, "totp": totp(secret, now)})
    assert st == 401 and code_of(j) == "unauthorized", "a code is accepted once"
    st, j, _ = request(port, "POST", "/api/v1/session", {**login, "totp": totp(secret, now + 1)})
    assert st == 200, "one step of drift ahead"
    # the audit shows the enrolment and the refusals
    st, j, _ = request(port, "GET", "/api/v1/audit?limit=100", token=ann)
    actions = [e["action"] for e in j["events"]]
    assert "user.totp_enrolled" in actions and "session.totp_failed" in actions

    # the account enforces a second factor: bob's page session may only enrol
    store.cli("user", "create", "--account", "acme", "--name", "pat", "--role", "standard",
              "--password-stdin", input="pat-password\n")
    st, j, _ = request(port, "PATCH", "/api/v1/accounts/acme", {"require_2fa": True}, token=ann)
    assert st == 200 and j["require_2fa"] is True, j
    st, j, cookie = request(port, "POST", "/api/v1/session",
                            {"username": "pat", "password": "pat-password"})
    assert st == 200 and j["user"]["totp_enrolment_required"] is True, j
    h = {"Cookie": cookie.split(";")[0], "X-CSRF-Token": j["csrf_token"]}
    st, j, _ = request(port, "GET", "/api/v1/orders", headers=h)
    assert st == 403 and code_of(j) == "totp_enrolment_required", j
    st, j, _ = request(port, "POST", "/api/v1/totp", headers=h)
    assert st == 200, j
    st, j, _ = request(port, "POST", "/api/v1/totp/confirm",
                       {"code": totp(j["secret"], int(time.time() // 30))}, headers=h)
    assert st == 200, j
    assert request(port, "GET", "/api/v1/orders", headers=h)[0] == 200
    assert request(port, "GET", "/api/v1/orders", token=sam)[0] == 200  # tokens unaffected

    # the allowlist: 127.0.0.2 refused, 127.0.0.1 admitted, for the API and the login
    st, j, _ = request(port, "PATCH", "/api/v1/accounts/acme", {"ip_allowlist": ["127.0.0.1/32"]},
                       token=ann)
    assert st == 200 and j["ip_allowlist"] == ["127.0.0.1/32"], j
    st, j, _ = request(port, "GET", "/api/v1/orders", token=sam, source="127.0.0.2")
    assert st == 403, j
    assert request(port, "GET", "/api/v1/orders", token=sam, source="127.0.0.1")[0] == 200
    st, j, _ = request(port, "POST", "/api/v1/session", login, source="127.0.0.2")
    assert st == 403, j
    st, j, _ = request(port, "GET", "/api/v1/audit?limit=100", token=ann)
    refused = [e for e in j["events"] if e["action"] == "session.login_refused_ip"]
    assert refused and refused[0]["peer"] == "127.0.0.2"
    # another account is not concerned
    assert request(port, "GET", "/api/v1/orders", token=store.tokens["oscar"],
                   source="127.0.0.2")[0] == 200
    # the provider's CLI: a user who lost the authenticator, and the account's rule
    store.cli("user", "reset-2fa", "ann")
    store.cli("account", "set", "acme", "--require-2fa", "no", "--ip-allowlist", "")
    assert request(port, "GET", "/api/v1/orders", token=sam, source="127.0.0.2")[0] == 200
    st, j, _ = request(port, "POST", "/api/v1/session", login)
    assert st == 200 and j["user"]["totp_enrolled"] is False, j
    assert j["user"]["totp_enrolment_required"] is False


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_pki(d):
    """A client CA, a client certificate it signed, and a self-signed one."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    ca, cak = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    openssl("req", "-x509", *ec, "-keyout", cak, "-out", ca, "-subj", "/CN=Client CA", "-days",
            "2", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
            "keyUsage=critical,keyCertSign")
    crt, key, csr = (os.path.join(d, f) for f in ("ann.pem", "ann.key", "ann.csr"))
    openssl("req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=ann")
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cak, "-CAcreateserial", "-out", crt,
            "-days", "2", "-extfile", ext)
    odd, oddk = os.path.join(d, "odd.pem"), os.path.join(d, "odd.key")
    openssl("req", "-x509", *ec, "-keyout", oddk, "-out", odd, "-subj", "/CN=ann-unverified",
            "-days", "2")
    return ca, (crt, key), (odd, oddk)


def fingerprint(pem_path):
    out = subprocess.run(["openssl", "x509", "-in", pem_path, "-noout", "-fingerprint",
                          "-sha256"], capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1].replace(":", "").lower()


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_client_certificate_login(name, base, store):
    ca, good, odd = make_pki(base)
    srv = SERVERS[name](base, store, client_ca=ca).start()
    try:
        port, ann = srv.https_port, store.tokens["ann"]
        # nothing registered: the verified certificate logs nobody in
        st, j, _ = request(port, "POST", "/api/v1/session", {}, tls=True, cert=good)
        assert st == 401 and code_of(j) == "unauthorized", j
        for c in (good, odd):
            st, j, _ = request(port, "POST", "/api/v1/client-certificates",
                               {"sha256": fingerprint(c[0])}, token=ann, tls=True)
            assert st == 201, j
        st, j, cookie = request(port, "POST", "/api/v1/session", {}, tls=True, cert=good)
        assert st == 200 and j["user"]["name"] == "ann" and cookie, j
        # a certificate the server did not verify (optional_no_ca) is never used,
        # even registered: as if none was presented (the name is then required)
        st, j, cookie = request(port, "POST", "/api/v1/session", {}, tls=True, cert=odd)
        assert st == 400 and j["field"] == "username" and not cookie, j
        # never ambient authentication: other requests need a token or a cookie
        st, j, _ = request(port, "GET", "/api/v1/orders", tls=True, cert=good)
        assert st == 401, j
        st, j, _ = request(port, "GET", "/api/v1/audit?limit=50", token=ann, tls=True)
        assert any(e["action"] == "session.login_certificate" for e in j["events"])
    finally:
        srv.stop()
