"""Helpers for the integration tests: a seeded store, an API client, TLS probes."""
import http.client
import json
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import uuid

from cryptography import x509

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, "build")
CLI = os.path.join(BUILD, "certinext")
WORKER_USER = "www-data"


_GIVEN = set()


def free_port():
    """A port free now and not handed out before in this run: the kernel may give
    two binds in a row the same ephemeral port, and a server asks for several ports
    before it binds any (nginx then refused "a duplicate listen")."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def workdir():
    """A directory the servers' worker user can traverse (pytest's tmp_path cannot)."""
    d = tempfile.mkdtemp(prefix="cin-it-", dir="/tmp")
    os.chmod(d, 0o755)
    return d


def cli(store, *args, input=None, check=True, key_file=None):
    env = dict(os.environ, CERTINEXT_STORE=store)
    if key_file:
        env["CERTINEXT_KEY_FILE"] = key_file
    p = subprocess.run([CLI, *args], input=input, capture_output=True, text=True, env=env,
                       timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"certinext {' '.join(args)} failed: {p.stderr}")
    return p


class Store:
    """A store laid out as in production: the directory belongs to the worker
    user (0700), the key file to root (0600).  With pg (a tests/integration/pg.py
    PgCluster), the store is a fresh database of that cluster instead and the key
    file lives in the directory."""

    def __init__(self, base, pg=None):
        self.dir = os.path.join(base, "store")
        os.mkdir(self.dir, 0o700)
        self.pg = pg
        if pg:
            self.path = pg.new_database("s" + uuid.uuid4().hex[:12])
            self.key_file = os.path.join(self.dir, "store.key")
        else:
            self.path = os.path.join(self.dir, "store.db")
            self.key_file = None
        self.cli("init")
        self.cli("account", "create", "acme", "--credits", "1000")
        self.cli("account", "create", "other", "--credits", "100")
        for d in ("example.com", "shop.example.net"):
            self.cli("domain", "add", "--account", "acme", d)
        self.cli("domain", "add", "--account", "other", "other.org")
        self.tokens = {}
        # every user has the password "<name>-password" (for the web page)
        for name, role, account, extra in (("ann", "admin", "acme", []),
                                           ("sam", "standard", "acme", []),
                                           ("bob", "basic", "acme", []),
                                           ("bea", "basic", "acme", []),
                                           ("sig", "standard", "acme", ["--signatory"]),
                                           ("oscar", "admin", "other", [])):
            self.cli("user", "create", "--account", account, "--name", name, "--role", role,
                     "--password-stdin", *extra, input=f"{name}-password\n")
            self.tokens[name] = self.cli("token", "create", "--user", name).stdout.strip()
        w = pwd.getpwnam(WORKER_USER)
        for f in os.listdir(self.dir):
            if not f.endswith(".key"):
                os.chown(os.path.join(self.dir, f), w.pw_uid, w.pw_gid)
        os.chown(self.dir, w.pw_uid, w.pw_gid)

    def cli(self, *args, **kw):
        return cli(self.path, *args, key_file=self.key_file, **kw)

    def sql(self, q):
        if self.pg:
            db = self.path.rsplit("/", 1)[1]
            return self.pg.psql(q, db=db).stdout.strip()
        p = subprocess.run(["sqlite3", "-cmd", ".timeout 10000", self.path, q], capture_output=True, text=True, check=True)
        return p.stdout.strip()

    def builtin_root(self):
        return self.sql("SELECT root_pem FROM cas WHERE name='builtin'") + "\n"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self.json = None
        ctype = headers.get("content-type", "")
        if "json" in ctype and body:
            self.json = json.loads(body)

    def __repr__(self):
        return f"<{self.status} {self.body[:3000]!r}>"

    @property
    def problem(self):
        assert self.headers.get("content-type") == "application/problem+json", self
        return self.json["type"].rsplit(":", 1)[1]


# Keys whose values are secrets: a recorded body keeps their type, not their value.
SECRET_KEYS = {"token", "csrf_token", "password", "secret", "private_key", "key_pem", "hmac_key",
               "otpauth_uri", "qr_svg", "recovery_codes"}


def _hide(v):
    if isinstance(v, str):
        return "<redacted>"
    if isinstance(v, list):
        return [_hide(x) for x in v]
    return v


def _redact(v):
    if isinstance(v, dict):
        return {k: (_hide(v2) if k in SECRET_KEYS else _redact(v2)) for k, v2 in v.items()}
    if isinstance(v, list):
        return [_redact(x) for x in v]
    return v


def record_call(method, full_path, mount, resp):
    """With CIN_API_RECORD naming a file (make test: build/api-calls.jsonl), append
    one JSON line per API call for tests/integration/openapi_check.py: method, path,
    mount, status, content-type, and the JSON body (secrets redacted; for other
    bodies only their length and first line, so no key or certificate is written)."""
    out = os.environ.get("CIN_API_RECORD")
    if not out:
        return
    path, _, query = full_path.partition("?")
    rec = {"method": method, "path": path, "query": query, "mount": mount,
           "status": resp.status, "content_type": resp.headers.get("content-type", "")}
    if resp.json is not None:
        rec["body"] = _redact(resp.json)
    else:
        rec["body_length"] = len(resp.body)
        rec["body_first_line"] = resp.body.split("\n", 1)[0][:80] if resp.body else ""
    if resp.status in (301, 302, 303, 307, 308):
        rec["location"] = resp.headers.get("location")
    line = (json.dumps(rec) + "\n").encode()
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)  # one write of the whole line (O_APPEND): threads never interleave
    finally:
        os.close(fd)


class Api:
    def __init__(self, port, mount="/certinext", token=None, tls=False):
        self.port, self.mount, self.token, self.tls = port, mount, token, tls

    def as_user(self, token):
        return Api(self.port, self.mount, token, self.tls)

    def request(self, method, path, body=None, headers=None, raw=None, full_path=None):
        h = {"Host": "localhost"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        if self.tls:
            ctx = ssl._create_unverified_context()
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=ctx)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request(method, full_path or (self.mount + path), body=data, headers=h)
            r = c.getresponse()
            body = r.read().decode("utf-8", "replace")
            resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, body)
        finally:
            c.close()
        record_call(method, full_path or (self.mount + path), self.mount, resp)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)


def order(api, product, names, **extra):
    body = {"product": product, "common_name": names[0], "sans": names, **extra}
    r = api.post("/api/v1/orders", body)
    assert r.status == 201, r
    return r.json


def wait_for(fn, timeout=10.0, interval=0.05):
    end = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > end:
            return v
        time.sleep(interval)


def wait_status(api, oid, status, timeout=15.0):
    last = {}

    def check():
        r = api.get(f"/api/v1/orders/{oid}")
        last["r"] = r
        return r.json and r.json["status"] == status

    assert wait_for(check, timeout), f"{oid} never became {status}: {last.get('r')}"
    return last["r"].json


def serial_of_der(der):
    """Lower-case hex of whole bytes, as the API and `openssl x509 -serial` give it."""
    h = format(x509.load_der_x509_certificate(der).serial_number, "x")
    return "0" + h if len(h) % 2 else h


def handshake(port, sni, probe_log=None):
    """A full handshake (no resumption) with SNI; returns (serial, probe id).
    With probe_log, an HTTP request on the same connection lets the server log
    which worker served it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    probe = uuid.uuid4().hex
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=sni) as t:
            der = t.getpeercert(binary_form=True)
            if probe_log:
                t.sendall(f"GET /probe HTTP/1.1\r\nHost: {sni or 'x'}\r\nX-Probe: {probe}\r\n"
                          "Connection: close\r\n\r\n".encode())
                while t.recv(4096):
                    pass
    return serial_of_der(der), probe


def probe_workers(server, sni, serial=None, want=2, rounds=40, parallel=4, timeout=30.0):
    """Which worker answers which certificate: handshakes for sni, each with a request
    the server logs, `parallel` at a time (a worker busy with one cannot take all the
    others, whatever the kernel's accept wake-up order), at least `rounds` of them and
    on until `want` different workers have answered or timeout passes. With serial,
    stops at the first handshake that answered another certificate. Returns
    [(serial, worker pid), ...]."""
    from concurrent.futures import ThreadPoolExecutor
    seen = []
    end = time.time() + timeout
    with ThreadPoolExecutor(parallel) as pool:
        while True:
            for s, probe in pool.map(lambda _: handshake(server.https_port, sni, True),
                                     range(parallel)):
                seen.append((s, server.pid_of_probe(probe)))
            if serial is not None and any(s != serial for s, _ in seen):
                return seen
            enough = len(seen) >= rounds and len({p for _, p in seen}) >= want
            if enough or time.time() > end:
                return seen


def served_by_workers(server, sni, serial, want=2, **kw):
    """True when every probed handshake answered serial and `want` workers answered."""
    seen = probe_workers(server, sni, serial, want, **kw)
    return all(s == serial for s, _ in seen) and len({p for _, p in seen}) >= want


def chain_of_der(port, sni):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=sni) as t:
            return t.getpeercert(binary_form=True)


def fallback_cert(d):
    key, crt = os.path.join(d, "fallback.key"), os.path.join(d, "fallback.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-subj",
                    "/CN=fallback.invalid", "-days", "30"], check=True, capture_output=True)
    return crt, key


def rmtree(d):
    shutil.rmtree(d, ignore_errors=True)
