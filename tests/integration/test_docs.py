"""The reference docs: docs/openapi.yaml is a valid OpenAPI 3.1 document and its checker
refuses what it must; certinext(8) lists every command and renders cleanly.  (The real
servers' answers are checked against the spec by tests/run-all.sh, after the whole
integration run recorded them: openapi_check.py build/api-calls.jsonl.)"""
import copy
import json
import os
import re
import subprocess

import openapi_check as oc
from cin import BUILD, CLI, ROOT

SPEC = os.path.join(ROOT, "docs", "openapi.yaml")


def spec():
    return oc.load_spec(SPEC)


def test_spec_is_valid_openapi_3_1():
    assert oc.spec_errors(spec()) == []


def test_spec_check_finds_broken_specs():
    s = copy.deepcopy(spec())
    del s["paths"]["/api/v1/orders"]["get"]["responses"]["200"]["description"]
    assert oc.spec_errors(s), "a response without its description passed"
    s = copy.deepcopy(spec())
    s["components"]["schemas"]["Order"]["properties"]["id"] = {"type": "strin"}
    assert any("Order" in e for e in oc.spec_errors(s))
    s = copy.deepcopy(spec())
    s["paths"]["/api/v1/account"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"] = {"$ref": "#/components/schemas/Nothing"}
    assert any("unresolvable" in e for e in oc.spec_errors(s))
    s = copy.deepcopy(spec())
    s["paths"]["/api/v1/orders/{id}"]["parameters"] = []
    assert any("path parameter id" in e for e in oc.spec_errors(s))


def check(tmp_path, *records):
    f = tmp_path / "calls.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in records))
    p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "integration",
                                                         "openapi_check.py"), str(f)],
                       capture_output=True, text=True, timeout=60)
    last = p.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"(\d+) passed, (\d+) failed", last)
    assert m, p.stdout + p.stderr
    return p.returncode, int(m.group(1)), int(m.group(2)), p.stdout


def call(method, path, status, body=None, ctype="application/json"):
    r = {"method": method, "path": "/certinext" + path, "query": "", "mount": "/certinext",
         "status": status, "content_type": ctype}
    if body is not None:
        r["body"] = body
    else:
        r["body_length"] = 0
    return r


PROBLEM = {"type": "urn:certinext:error:not_found", "title": "Not Found", "status": 404,
           "detail": "no such resource"}


def test_checker_accepts_good_calls(tmp_path):
    rc, passed, failed, out = check(
        tmp_path,
        call("GET", "/api/v1/account", 200, {"name": "acme", "credits": 5}),
        call("GET", "/api/v1/orders/R-000001", 404, PROBLEM, "application/problem+json"),
        call("GET", "/api/v1/nothing-here", 404, PROBLEM, "application/problem+json"),
        call("GET", "/api/v1/health", 405,
             dict(PROBLEM, type="urn:certinext:error:method_not_allowed", status=405),
             "application/problem+json"),
        {"method": "GET", "path": "/.well-known/acme-challenge/abc", "query": "",
         "mount": "/certinext", "status": 200, "content_type": "text/plain",
         "body_length": 3, "body_first_line": "abc"})
    assert (rc, failed) == (0, 0), out
    assert passed == 1 + 5, out  # the spec, then each operation+status


def test_checker_refuses_what_the_spec_does_not_say(tmp_path):
    # a body missing a required field
    rc, _, failed, out = check(tmp_path, call("GET", "/api/v1/account", 200, {"name": "acme"}))
    assert rc == 1 and failed == 1 and "credits" in out, out
    # an endpoint the spec does not have, answered
    rc, _, failed, out = check(tmp_path, call("GET", "/api/v1/secret-stuff", 200, {}))
    assert rc == 1 and "not in the spec" in out, out
    # a content type the operation does not give
    rc, _, failed, out = check(tmp_path, call("GET", "/api/v1/account", 200,
                                              {"name": "a", "credits": 1}, "text/json"))
    assert rc == 1 and "content-type" in out, out
    # a status the operation does not have (and no default)
    rc, _, failed, out = check(tmp_path, {
        "method": "GET", "path": "/.well-known/acme-challenge/abc", "query": "",
        "mount": "/certinext", "status": 500, "content_type": "text/html", "body_length": 9})
    assert rc == 1 and "status 500" in out, out
    # a refused probe must still be a valid problem document
    rc, _, failed, out = check(tmp_path, call("GET", "/api/v1/nothing", 404, {"type": 1},
                                              "application/problem+json"))
    assert rc == 1, out
    # a wrong type deep inside an order
    order = {"id": "R-1"}
    rc, _, failed, out = check(tmp_path, call("GET", "/api/v1/orders/R-000001", 200, order))
    assert rc == 1 and "body at /" in out, out


def test_man_page_lists_every_command_and_renders_cleanly():
    page = os.path.join(BUILD, "certinext.8")
    subprocess.run(["make", "-s", "-C", ROOT, "man"], check=True, capture_output=True,
                   timeout=120)
    text = open(page).read()
    help_out = subprocess.run([CLI, "--help"], capture_output=True, text=True,
                              check=True).stdout
    names = re.findall(r"^  certinext (\S+)", help_out, re.M)
    assert len(names) >= 10, help_out
    for name in names:
        assert f"\n.TP\n\\fB{name.replace('-', chr(92) + '-')}\\fR\n" in text, name
        # and the command's own usage line, as `certinext NAME --help` prints it
        usage = subprocess.run([CLI, name, "--help"], capture_output=True, text=True,
                               check=True).stdout.splitlines()[0]
        first = usage.removeprefix("usage: ").split(" [")[0].split(" |")[0]
        assert first.replace("-", "\\-") in text, (name, first)
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    p = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", page], capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert "CERTINEXT(8)" in p.stdout and "EXIT STATUS" in p.stdout
    for name in names:
        assert re.search(rf"^\s+{re.escape(name)}\b", p.stdout, re.M), name


class Tour:
    """Every call validated against the spec at once (and recorded like any other)."""

    def __init__(self):
        self.spec = spec()
        self.matcher = oc.Matcher(self.spec)
        self.ops = set()

    def __call__(self, api, method, path, status, body=None, headers=None):
        r = api.request(method, path, body=body, headers=headers)
        assert r.status == status, (method, path, r)
        rec = {"method": method, "path": api.mount + path.split("?")[0], "mount": api.mount,
               "status": r.status, "content_type": r.headers.get("content-type", "")}
        if r.json is not None:
            rec["body"] = r.json
        key, err = oc.check_call(self.spec, self.matcher, rec)
        assert err is None, err
        self.ops.add(key.split()[0])
        return r


def test_every_core_endpoint_answers_as_the_spec_says(server, store):
    """A tour of the core API (both servers): each answer validates against its operation,
    and every core operation of the spec is visited."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from cin import wait_status
    from cryptography import x509

    api = server.api()
    ann, sam, sig = (api.as_user(store.tokens[n]) for n in ("ann", "sam", "sig"))
    t = Tour()
    t(api, "GET", "/api/v1/health", 200)
    t(api, "GET", "/api/v1/account", 401)
    for path in ("/api/v1/products", "/api/v1/account", "/api/v1/domains",
                 "/api/v1/certificates?expiring_within_days=400", "/api/v1/tokens"):
        t(sam, "GET", path, 200)
    for path in ("/api/v1/ledger?limit=2", "/api/v1/audit?limit=2", "/api/v1/users"):
        t(ann, "GET", path, 200)
        t(sam, "GET", path, 403)
    t(ann, "PUT", "/api/v1/health", 405)
    # users and tokens
    t(ann, "POST", "/api/v1/users", 201, {"name": "tour", "role": "basic", "password": "p" * 12})
    t(ann, "POST", "/api/v1/users", 409, {"name": "tour", "role": "basic"})
    t(ann, "PATCH", "/api/v1/users/tour", 200, {"role": "standard"})
    tok = t(sam, "POST", "/api/v1/tokens", 201, {"name": "tour", "expires_in_days": 5}).json
    t(sam, "DELETE", f"/api/v1/tokens/{tok['id']}", 204)
    # the page's session
    login = t(api, "POST", "/api/v1/session", 200, {"username": "tour", "password": "p" * 12})
    cookie = login.headers["set-cookie"].split(";")[0]
    t(api, "GET", "/api/v1/session", 200, headers={"Cookie": cookie})
    t(api, "POST", "/api/v1/session", 401, {"username": "tour", "password": "wrong"})
    t(api, "DELETE", "/api/v1/session", 403, headers={"Cookie": cookie})  # no X-CSRF-Token
    t(api, "DELETE", "/api/v1/session", 204,
      headers={"Cookie": cookie, "X-CSRF-Token": login.json["csrf_token"]})
    # an order through the workflow
    o = t(sam, "POST", "/api/v1/orders", 201, {"product": "dv-multi",
                                                "common_name": "tour.example.com"}).json
    oid = o["id"]
    t(sam, "POST", "/api/v1/orders", 403, {"product": "dv-ssl", "common_name": "x.other.org"})
    t(sam, "POST", f"/api/v1/orders/{oid}/approve", 403)
    t(ann, "POST", f"/api/v1/orders/{oid}/approve", 200, {"comment": "ok"})
    t(sam, "POST", f"/api/v1/orders/{oid}/pay", 200, headers={"Idempotency-Key": "tour-1"})
    wait_status(ann, oid, "issued", timeout=20)
    t(sam, "GET", "/api/v1/orders?limit=1", 200)
    t(sam, "GET", "/api/v1/orders?status=bogus", 400)
    t(sam, "GET", f"/api/v1/orders/{oid}", 200)
    t(sam, "GET", "/api/v1/orders/R-999999", 404)
    t(ann, "GET", f"/api/v1/orders/{oid}/events", 200)
    t(sam, "GET", f"/api/v1/orders/{oid}/certificate", 200)
    t(ann, "GET", f"/api/v1/orders/{oid}/key", 200)
    t(ann, "POST", f"/api/v1/orders/{oid}/retry", 409)
    ren = t(ann, "POST", f"/api/v1/orders/{oid}/renew", 201).json
    t(ann, "POST", f"/api/v1/orders/{oid}/reissue", 409)  # a renewal is open
    t(ann, "POST", f"/api/v1/orders/{ren['id']}/cancel", 200, {"note": "not now"})
    t(ann, "POST", f"/api/v1/orders/{oid}/sans", 201, {"add": ["www.tour.example.com"]})
    # a second issued order: reissue, then revoke
    o2 = t(ann, "POST", "/api/v1/orders", 201, {"product": "dv-ssl",
                                                 "common_name": "tour2.example.com"}).json
    t(ann, "POST", f"/api/v1/orders/{o2['id']}/pay", 200)
    wait_status(ann, o2["id"], "issued", timeout=20)
    t(ann, "POST", f"/api/v1/orders/{o2['id']}/reissue", 201, {"key_type": "ec-p384"})
    t(ann, "POST", f"/api/v1/orders/{o2['id']}/revoke", 200, {"reason": "superseded"})
    # rejection, a CSR order, EV consent
    o3 = t(sam, "POST", "/api/v1/orders", 201, {"product": "dv-ssl",
                                                 "common_name": "tour3.example.com"}).json
    t(ann, "POST", f"/api/v1/orders/{o3['id']}/reject", 200, {"reason": "no"})
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tour4.example.com")]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("tour4.example.com")]),
                          critical=False)
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    o4 = t(ann, "POST", "/api/v1/orders", 201, {"product": "dv-ssl", "key_source": "csr",
                                                 "csr": csr,
                                                 "common_name": "tour4.example.com"}).json
    t(ann, "PUT", f"/api/v1/orders/{o4['id']}/csr", 200, {"csr": csr})
    for verdict, body in (("approve", {"comment": "yes"}), ("reject", {"reason": "no"})):
        ev = t(sam, "POST", "/api/v1/orders", 201, {"product": "ev-ssl",
                                                     "common_name": f"ev{verdict}.example.com"}).json
        t(ann, "POST", f"/api/v1/orders/{ev['id']}/approve", 200)
        t(sig, "POST", f"/api/v1/orders/{ev['id']}/signatory/{verdict}", 200, body)
    # the page
    t(api, "GET", "/", 200)
    core = {op["operationId"] for path, item in t.spec["paths"].items()
            if "x-certinext-issue" not in item
            for m, op in item.items() if m in oc.METHODS and "x-certinext-issue" not in op}
    # (the challenge answers and server refusals have their own tests in test_http_api.py)
    missing = core - t.ops - {"getPageAsset", "serverRefusal", "acmeChallenge", "pkiValidation"}
    assert not missing, f"core operations the tour did not visit: {sorted(missing)}"
