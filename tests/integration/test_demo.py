"""make demo: a seeded store and running servers, and what it prints works."""
import os
import re
import subprocess
import time

from cin import ROOT, Api, free_port, handshake, order, wait_status, workdir, rmtree


def test_demo_starts_servers_and_prints_working_tokens():
    d = workdir()
    env = dict(os.environ, DEMO_DIR=os.path.join(d, "demo"),
               DEMO_NGINX_HTTP=str(free_port()), DEMO_NGINX_HTTPS=str(free_port()),
               DEMO_HTTPD_HTTP=str(free_port()), DEMO_HTTPD_HTTPS=str(free_port()))
    try:
        p = subprocess.run(["sh", os.path.join(ROOT, "tests", "demo.sh")], env=env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        out = p.stdout
        http = re.search(r"nginx +http://127.0.0.1:(\d+)/certinext/", out)
        https = re.search(r"nginx .*https://127.0.0.1:(\d+)/certinext/", out)
        httpd = re.search(r"httpd +http://127.0.0.1:(\d+)/certinext/", out)
        httpds = re.search(r"httpd .*https://127.0.0.1:(\d+)/certinext/", out)
        assert httpd and httpds, out
        admin = re.search(r"^  admin +(cin_\S+)$", out, re.M)
        basic = re.search(r"^  basic +(cin_\S+)$", out, re.M)
        assert http and https and admin and basic, out
        api = Api(int(http.group(1)))
        b, a = api.as_user(basic.group(1)), api.as_user(admin.group(1))
        acct = a.get("/api/v1/account").json
        assert (acct["name"], acct["credits"]) == ("demo-hosting", 1000), acct
        o = order(b, "dv-ssl", ["www.example.com"])
        assert a.post(f"/api/v1/orders/{o['id']}/approve").status == 200
        assert b.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        serial = wait_status(a, o["id"], "issued")["certificate"]["serial"]
        for port in (https, httpds):
            end = time.time() + 3
            while handshake(int(port.group(1)), "www.example.com")[0] != serial:
                assert time.time() < end, "a demo server never served the new certificate"
                time.sleep(0.05)
        # httpd answers the same API on the same store
        h = Api(int(httpd.group(1)), token=admin.group(1))
        assert h.get(f"/api/v1/orders/{o['id']}").json["status"] == "issued"
        # httpd: no TRACE; a request line refused by either server is a problem document
        import socket
        for port, server in ((int(httpd.group(1)), "httpd"), (int(http.group(1)), "nginx")):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET /certinext/api/v1/orders%00 HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            assert b"application/problem+json" in data, (server, data[:300])
        with socket.create_connection(("127.0.0.1", int(httpd.group(1))), timeout=10) as s:
            s.sendall(b"TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = s.recv(4096)
        assert data.startswith(b"HTTP/1.1 405"), data[:200]
        # the web page logins it prints work
        r = api.post("/api/v1/session", {"username": "admin", "password": "demo-admin-pass"})
        assert r.status == 200 and r.json["user"]["role"] == "admin"
    finally:
        subprocess.run(["sh", os.path.join(ROOT, "tests", "demo.sh"), "stop"], env=env,
                       capture_output=True, timeout=60)
        time.sleep(0.5)
        rmtree(d)
