"""GET <mount>metrics: Prometheus text that promtool accepts, scraped from both
servers by a real Prometheus (Debian's), a handshake counter that moves."""
import json
import os
import re
import signal
import subprocess
import urllib.parse
import urllib.request

from cin import free_port, handshake, order, wait_for, wait_status
from servers import Apache, Nginx


def _scrape(srv, token=None):
    api = srv.api(token)
    r = api.request("GET", None, full_path="/certinext/metrics")
    return r


def _value(text, series):
    m = re.search(r"^" + re.escape(series) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def _promtool(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    return p.returncode, p.stdout + p.stderr


class Prometheus:
    """Debian's prometheus, scraping the given targets every second."""

    def __init__(self, base, targets):
        self.dir = os.path.join(base, "prometheus")
        os.makedirs(os.path.join(self.dir, "data"))
        self.port = free_port()
        self.conf = os.path.join(self.dir, "prometheus.yml")
        with open(self.conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n")
            for job, port in targets:
                f.write(f"  - job_name: {job}\n    metrics_path: /certinext/metrics\n"
                        f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={self.conf}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, q):
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.load(r)["data"]["result"]
        except OSError:
            return None

    def targets_up(self):
        url = f"http://127.0.0.1:{self.port}/api/v1/targets"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                active = json.load(r)["data"]["activeTargets"]
        except OSError:
            return []
        return [t["labels"]["job"] for t in active if t["health"] == "up"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def test_prometheus_scrapes_both_servers(base, store):
    for d in ("n", "a"):
        os.mkdir(os.path.join(base, d))
    state = os.path.join(base, "state")
    ngx = Nginx(os.path.join(base, "n"), store, state_dir=state,
                extra_http="certinext_metrics_allow 127.0.0.1 ::1;").start()
    apa = Apache(os.path.join(base, "a"), store, state_dir=state,
                 extra_conf="CertInextMetricsAllow 127.0.0.1\nCertInextMetricsAllow ::1").start()
    prom = None
    try:
        ann = ngx.api(store.tokens["ann"])
        o = order(ann, "dv-ssl", ["metrics.example.com"])
        assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        serial = wait_status(ann, o["id"], "issued")["certificate"]["serial"]
        for srv in (ngx, apa):
            assert wait_for(lambda: handshake(srv.https_port, "metrics.example.com")[0] == serial, 5)
            handshake(srv.https_port, "nothing.example.org")  # the server's own certificate
        for srv in (ngx, apa):  # the ACME server's front door counts its requests
            srv.api().request("GET", None, full_path="/certinext/acme/directory")
        # an allowed address: every account's series, valid for promtool
        texts = {}
        for srv in (ngx, apa):
            r = _scrape(srv)
            assert r.status == 200, r.body
            assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
            texts[srv.name] = r.body
            rc, out = _promtool(texts[srv.name])
            assert rc == 0, out
        # one host: both servers count into one file, so both see the same sums,
        # with a series per process of either server
        for text in texts.values():
            assert _value(text, 'certinext_tls_handshakes_total{source="store"}') >= 2
            assert _value(text, 'certinext_tls_handshakes_total{source="fallback"}') >= 2
            assert _value(text, 'certinext_orders{status="issued"}') == 1
            assert _value(text, "certinext_issuance_seconds_count") >= 1
            assert _value(text, "certinext_acme_server_requests_total") >= 2
            pids = {int(p) for p in re.findall(r'certinext_process_tls_handshakes_total\{pid="(\d+)"',
                                               text)}
            assert pids & set(ngx.worker_pids()) and pids & set(apa.worker_pids()), pids
        # the allowed address decides, whatever token comes along
        assert _scrape(ngx, store.tokens["bob"]).status == 200
        # a real Prometheus scrapes both and sees a handshake counter move
        prom = Prometheus(base, [("nginx", ngx.http_port), ("httpd", apa.http_port)])
        assert wait_for(lambda: sorted(prom.targets_up()) == ["httpd", "nginx"], 30), \
            open(os.path.join(prom.dir, "prometheus.log")).read()[-2000:]
        q = 'certinext_tls_handshakes_total{source="store"}'

        def values():
            res = prom.query(q) or []
            return {r["metric"]["job"]: float(r["value"][1]) for r in res}
        assert wait_for(lambda: len(values()) == 2, 15)
        before = values()
        for _ in range(5):
            assert handshake(ngx.https_port, "metrics.example.com")[0] == serial
        assert wait_for(lambda: all(v >= before[j] + 5 for j, v in values().items())
                        and len(values()) == 2, 15), (before, values())
        res = prom.query('increase(certinext_tls_handshakes_total{source="store",job="httpd"}[1m])')
        assert res and float(res[0]["value"][1]) > 0
    finally:
        if prom:
            prom.stop()
        ngx.stop()
        apa.stop()


def test_metrics_refused_without_allow_or_admin(server, store):
    # no allow list: nobody without a token; a standard user is refused
    r = _scrape(server)
    assert r.status == 401 and r.problem == "unauthorized"
    r = _scrape(server, store.tokens["sam"])
    assert r.status == 403
    ann = server.api(store.tokens["ann"])
    o = order(ann, "dv-ssl", ["adm.example.com"])
    order(server.api(store.tokens["oscar"]), "dv-ssl", ["other.org"])
    assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
    wait_status(ann, o["id"], "issued")
    # an administrator sees the host's series and their own account's only
    r = _scrape(server, store.tokens["oscar"])
    assert r.status == 200
    assert _value(r.body, 'certinext_orders{account="other",status="awaiting_payment"}') == 1
    assert 'account="acme"' not in r.body
    assert _value(r.body, "certinext_store_up") == 1
    assert _promtool(r.body)[0] == 0
    r = _scrape(server, store.tokens["ann"])
    assert _value(r.body, 'certinext_orders{account="acme",status="issued"}') == 1
    assert _value(r.body, 'certinext_certificates_expiring{account="acme",within_days="+Inf"}') == 1
