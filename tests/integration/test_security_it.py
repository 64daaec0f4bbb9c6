"""The security findings over real servers: a moved domain stops being served by
every worker of both servers; every error under the mount is problem+json,
including nginx's and httpd's own refusals; a burst of logins leaves memory
where it was; the login cookie stays on its host."""
import concurrent.futures
import http.client
import json
import socket
import ssl

from cin import cli, handshake, order, served_by_workers, wait_for, wait_status
from servers import Apache, Nginx


def _rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0




def test_moved_domain_is_not_served_by_any_worker(server, store):
    ann = server.api(store.tokens["ann"])
    fallback = handshake(server.https_port, "moved.shop.example.net")[0]
    o = order(ann, "dv-ssl", ["moved.shop.example.net"])
    assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
    serial = wait_status(ann, o["id"], "issued")["certificate"]["serial"]
    assert wait_for(lambda: handshake(server.https_port, "moved.shop.example.net")[0] == serial, 5)
    # the provider moves the domain to another account
    cli(store.path, "domain", "remove", "shop.example.net")
    cli(store.path, "domain", "add", "--account", "other", "shop.example.net")
    # the old owner's certificate is gone from every worker's next handshakes
    assert wait_for(lambda: served_by_workers(server, "moved.shop.example.net", fallback), 5)
    # the audit log of the old owner says so
    events = ann.get("/api/v1/audit?limit=20").json["events"]
    assert any(e["action"] == "domain.remove" and "no longer served" in (e["detail"] or "")
               for e in events)
    # and the old owner cannot pay for, renew or reissue it any more
    r = ann.post(f"/api/v1/orders/{o['id']}/renew")
    assert r.status == 403 and r.problem == "domain_not_owned"


def _raw(port, request, tls=False, read=65536):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls:
        ctx = ssl._create_unverified_context()
        s = ctx.wrap_socket(s, server_hostname="localhost")
    try:
        s.sendall(request)
        data = b""
        while True:
            try:
                chunk = s.recv(read)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(body) >= int(length[0].split(b":")[1]):
                    break
        return data
    finally:
        s.close()


def _problem(data):
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    headers = {l.split(b":", 1)[0].strip().lower(): l.split(b":", 1)[1].strip()
               for l in head.split(b"\r\n")[1:] if b":" in l}
    assert headers.get(b"content-type") == b"application/problem+json", data[:400]
    doc = json.loads(body)
    assert doc["status"] == status and doc["detail"], doc
    return status, doc["type"].rsplit(":", 1)[1]


def test_server_refusals_are_problem_documents(server, store):
    tok = store.tokens["ann"]
    # a Content-Length far over the limit: refused before reading, as a problem
    req = (f"POST /certinext/api/v1/orders HTTP/1.1\r\nHost: localhost\r\n"
           f"Authorization: Bearer {tok}\r\nContent-Type: application/json\r\n"
           f"Content-Length: 1000000000000\r\nConnection: close\r\n\r\n").encode()
    assert _problem(_raw(server.http_port, req)) == (413, "payload_too_large")
    # a chunked body over the limit (1.1 MB)
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(17)) + b"0\r\n\r\n"
    req = (f"POST /certinext/api/v1/orders HTTP/1.1\r\nHost: localhost\r\n"
           f"Authorization: Bearer {tok}\r\nContent-Type: application/json\r\n"
           f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode() + body
    assert _problem(_raw(server.http_port, req)) == (413, "payload_too_large")
    # a NUL byte in the path: refused by the server's own parser
    req = b"GET /certinext/api/v1/orders%00x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    status, code = _problem(_raw(server.http_port, req))
    assert status in (400, 404) and code in ("bad_request", "not_found")
    # a malformed chunked body
    req = (b"POST /certinext/api/v1/orders HTTP/1.1\r\nHost: localhost\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nxx\r\n0\r\n\r\n")
    status, code = _problem(_raw(server.http_port, req))
    assert status == 400 and code == "bad_request"
    # the server keeps answering
    assert server.api(tok).get("/api/v1/account").status == 200


def test_memory_after_parallel_logins(server, store):
    """100 successful logins of different users from ten peer addresses at once:
    every worker's RSS stays within 50 MB of where it was (scrypt's 16 MB per
    check are bounded and given back)."""
    users = [f"burst{i:03d}" for i in range(100)]
    for u in users:
        cli(store.path, "user", "create", "--account", "acme", "--name", u, "--role", "basic",
            "--password-stdin", input=f"{u}-password\n")
    api = server.api()
    assert api.get("/api/v1/health").status == 200
    # warm every worker once (allocator, TLS contexts), then measure
    wait_for(lambda: all(_rss_kb(p) for p in server.worker_pids()), 5)
    before = {p: _rss_kb(p) for p in server.worker_pids()}

    def login(i):
        peer = f"127.0.0.{2 + i % 10}"
        c = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=60,
                                       source_address=(peer, 0))
        try:
            c.request("POST", "/certinext/api/v1/session",
                      body=json.dumps({"username": users[i], "password": f"{users[i]}-password"}),
                      headers={"Content-Type": "application/json", "Host": "localhost"})
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()

    with concurrent.futures.ThreadPoolExecutor(100) as ex:
        statuses = list(ex.map(login, range(100)))
    assert statuses.count(200) == 100, statuses
    after = {p: _rss_kb(p) for p in server.worker_pids() if p in before}
    assert after, "the workers were replaced during the burst"
    growth = max(after[p] - before[p] for p in after)
    assert growth < 50 * 1024, f"RSS grew by {growth} kB: {before} -> {after}"


def test_cookie_is_host_bound(server, store):
    r = server.api().post("/api/v1/session", {"username": "ann", "password": "ann-password"})
    assert r.status == 200
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-cin_session=")
    for attr in ("Path=/;", "Secure", "HttpOnly", "SameSite=Strict"):
        assert attr in cookie
    assert "Domain=" not in cookie
