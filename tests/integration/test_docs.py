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
