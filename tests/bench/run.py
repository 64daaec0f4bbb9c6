#!/usr/bin/env python3
"""make bench: TLS handshake throughput of nginx with certinext, side by side.

First the parts of one cache miss (tests/bench/missbench.c).  Then
(a) a static ssl_certificate (the limit), (b) certinext with 1 000 and 100 000
certificates in the store, with the 1 000 also in a PostgreSQL store (served
from the host's mirror), (c) nginx's variable certificates
(ssl_certificate /dir/$ssl_server_name.crt).  One nginx worker, TLS 1.3,
ECDSA P-256, full handshakes, SNI names drawn from a working set of 1 000 names;
the 100 000 store also with SNI spread over 20 000 and over all 100 000 names
(the default cache, a share of the host's memory - printed - holds them all
once each has been served where that share allows 100 000; then with a cache
of 25 000, the default of earlier releases, where three handshakes in four
miss, with and without the server's shared cache of what misses read), and
over 20 000 names with a cache of 10 000 (half the handshakes miss).  Then (tests/bench/fleet.py) the time
from issuance on host 1 to service on host 3 of a three-host fleet, and API
throughput on SQLite vs PostgreSQL, and (tests/bench/import_bench.py) the time
`certinext import` takes for 10 000 PEM pairs.
The ratios use handshakes per second of the worker's CPU time (so that the
load generator's share of the two cores does not blur them); wall-clock rates
are printed too.  Then the hot swap: a certificate issued while the load runs.
"""
import os
import pwd
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

from cin import (BUILD, Api, cli, fallback_cert, free_port, handshake, order,  # noqa: E402
                 wait_for, workdir, rmtree)
from servers import NGINX_MODULE  # noqa: E402

SEED = os.path.join(BUILD, "bench", "seed")
TLSBENCH = os.path.join(BUILD, "bench", "tlsbench")
MISSBENCH = os.path.join(BUILD, "bench", "missbench")
SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
BIG = int(os.environ.get("BENCH_BIG", "100000"))
HOT = 1000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
FLEET_SAMPLES = int(os.environ.get("BENCH_FLEET_SAMPLES", "10"))
IMPORT_N = int(os.environ.get("BENCH_IMPORT", "10000"))


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def make_store(base, n):
    d = os.path.join(base, "store")
    os.mkdir(d, 0o700)
    path = os.path.join(d, "store.db")
    cli(path, "init")
    cli(path, "account", "create", "bench", "--credits", "100000")
    cli(path, "domain", "add", "--account", "bench", "bench.example.com")
    cli(path, "user", "create", "--account", "bench", "--name", "admin", "--role", "admin")
    token = cli(path, "token", "create", "--user", "admin").stdout.strip()
    names = os.path.join(base, "names.txt")
    t0 = time.time()
    subprocess.run([SEED, path, str(n), names, "bench"], check=True)
    seeded = time.time() - t0
    w = pwd.getpwnam("www-data")
    for f in os.listdir(d):
        if not f.endswith(".key"):
            os.chown(os.path.join(d, f), w.pw_uid, w.pw_gid)
    os.chown(d, w.pw_uid, w.pw_gid)
    return path, token, names, seeded


class Nginx:
    def __init__(self, base, tag, server_tls, http_extra="", store=None, key_file=None):
        self.base = os.path.join(base, tag)
        os.mkdir(self.base)
        self.port, self.http_port = free_port(), free_port()
        self.conf = os.path.join(self.base, "nginx.conf")
        load = f"load_module {NGINX_MODULE};" if store else ""
        store_conf = f"certinext_store {store}; certinext_agent on;" if store else ""
        if key_file:  # a central store: the key named, this "host"'s own mirror
            store_conf += (f" certinext_key_file {key_file};"
                           f" certinext_state_dir {self.base}/state;")
        api = "location /certinext/ { certinext; }" if store else ""
        with open(self.conf, "w") as f:
            f.write(f"""{load}
worker_processes 1;
user www-data;
error_log {self.base}/error.log notice;
pid {self.base}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {self.base}/body;
    {store_conf}
    {http_extra}
    server {{
        listen 127.0.0.1:{self.port} ssl backlog=4096;
        listen 127.0.0.1:{self.http_port};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;
        {server_tls}
        {api}
    }}
}}
""")

    def start(self, probe_name):
        t0 = time.time()
        subprocess.run(["nginx", "-c", self.conf, "-p", self.base], check=True)
        wait_for(lambda: self._ok(probe_name), 60, 0.01)
        self.start_time = time.time() - t0
        with open(os.path.join(self.base, "nginx.pid")) as f:
            master = int(f.read())
        self.worker = int(subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                                         text=True).stdout.split()[0])
        return self

    def _ok(self, name):
        try:
            handshake(self.port, name)
            return True
        except OSError:
            return False

    def cache_bound(self):
        """The parsed-certificate cache's bound worker 0 logged."""
        import re
        with open(os.path.join(self.base, "error.log")) as f:
            m = re.search(r"each worker keeps up to (\d+) parsed certificates", f.read())
        return int(m.group(1)) if m else None

    def stop(self):
        subprocess.run(["nginx", "-s", "stop", "-c", self.conf, "-p", self.base],
                       capture_output=True)
        time.sleep(0.3)


class Httpd:
    """httpd, event MPM, one child with 16 threads."""

    def __init__(self, base, tag, cert, key, store=None, ssl_on=False):
        from servers import APACHE_MODULE, APACHE_MODULES
        self.base = os.path.join(base, tag)
        os.mkdir(self.base)
        self.port, self.http_port = free_port(), free_port()
        self.conf = os.path.join(self.base, "httpd.conf")
        mod = f"LoadModule certinext_module {APACHE_MODULE}" if store else ""
        store_conf = f"CertInextStore {store}\nCertInextAgent On" if store else ""
        loc = '<Location "/certinext">\n SetHandler certinext\n</Location>' if store else ""
        with open(self.conf, "w") as f:
            f.write(f"""ServerRoot {self.base}
DefaultRuntimeDir {self.base}
PidFile {self.base}/httpd.pid
Mutex file:{self.base} default
LoadModule mpm_event_module {APACHE_MODULES}/mod_mpm_event.so
LoadModule authz_core_module {APACHE_MODULES}/mod_authz_core.so
LoadModule ssl_module {APACHE_MODULES}/mod_ssl.so
{mod}
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MinSpareThreads 1
MaxSpareThreads 16
MaxRequestWorkers 16
User www-data
Group www-data
ServerName localhost
ErrorLog {self.base}/error.log
LogLevel warn
Listen 127.0.0.1:{self.port}
Listen 127.0.0.1:{self.http_port}
SSLSessionCache none
{store_conf}
<VirtualHost 127.0.0.1:{self.http_port}>
{loc}
</VirtualHost>
<VirtualHost 127.0.0.1:{self.port}>
    SSLEngine on
    SSLProtocol -all +TLSv1.3
    SSLSessionTickets off
    SSLCertificateFile {cert}
    SSLCertificateKeyFile {key}
    CertInextSSL {'On' if ssl_on else 'Off'}
</VirtualHost>
""".replace("CertInextSSL Off", "" if not store else "CertInextSSL Off"))

    def start(self, probe_name):
        t0 = time.time()
        subprocess.run(["apache2", "-d", self.base, "-f", self.conf, "-k", "start"], check=True)
        wait_for(lambda: Nginx._ok(self, probe_name), 60, 0.01)
        self.start_time = time.time() - t0
        with open(os.path.join(self.base, "httpd.pid")) as f:
            master = int(f.read())
        self.worker = int(subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                                         text=True).stdout.split()[0])
        return self

    def stop(self):
        subprocess.run(["apache2", "-d", self.base, "-f", self.conf, "-k", "stop"],
                       capture_output=True)
        time.sleep(0.5)


def load(port, names, seconds=SECONDS, threads=THREADS, each=False):
    p = subprocess.run([TLSBENCH, str(port), names, str(seconds), str(threads)] +
                       (["each"] if each else []), capture_output=True, text=True, check=True)
    return dict(kv.split("=") for kv in p.stdout.split())


def measure(srv, names, label, warm=True):
    if warm:
        load(srv.port, names, each=True)  # warm up: every name once (caches, allocator)
    load(srv.port, names, 1.0)
    t0 = ticks(srv.worker)
    r = load(srv.port, names)
    cpu = (ticks(srv.worker) - t0) / os.sysconf("SC_CLK_TCK")
    hs = int(r["handshakes"])
    res = {"label": label, "wall": float(r["rate"]), "cpu_rate": hs / cpu if cpu else 0,
           "failures": int(r["failures"]), "rss_kb": rss_kb(srv.worker),
           "start": srv.start_time}
    print(f"  {label:<34} {res['wall']:9.0f}/s wall  {res['cpu_rate']:9.0f}/s per worker "
          f"CPU-second  failures {res['failures']}  worker RSS {res['rss_kb'] / 1024:.1f} MiB  "
          f"start {res['start']:.2f} s", flush=True)
    return res


def hot_names(all_names, base):
    with open(all_names) as f:
        names = [n.strip() for n in f if n.strip()]
    random.seed(7)
    pick = random.sample(names, min(HOT, len(names)))
    path = os.path.join(base, "hot.txt")
    with open(path, "w") as f:
        f.write("\n".join(pick) + "\n")
    return path, pick


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    for b in (SEED, TLSBENCH, MISSBENCH):
        if not os.path.exists(b):
            sys.exit(f"missing {b}: run make bench")
    base = workdir()
    servers, clusters = [], []
    try:
        print(f"certinext handshake benchmark: nginx 1 worker, TLS 1.3, ECDSA P-256, "
              f"{THREADS} client threads, {SECONDS:.0f} s per run, {ROUNDS} interleaved rounds "
              f"(medians), {HOT} SNI names\n", flush=True)
        small = os.path.join(base, "small")
        os.mkdir(small)
        path1k, token1k, names1k, _ = make_store(small, 1000)
        hot1k, picked = hot_names(names1k, small)
        files = os.path.join(small, "files")
        os.mkdir(files)
        tmp_crt, tmp_key = fallback_cert(small)
        export(Nginx(small, "export", f"ssl_certificate {tmp_crt}; ssl_certificate_key {tmp_key};",
                     store=path1k), path1k, token1k, picked, files)
        fb = f"ssl_certificate {files}/{picked[0]}.crt; ssl_certificate_key {files}/{picked[0]}.key;"
        big = os.path.join(base, "big")
        os.mkdir(big)
        pathbig, tokenbig, namesbig, seeded = make_store(big, BIG)
        print(f"  seeded {BIG} certificates in {seeded:.1f} s; store "
              f"{os.path.getsize(pathbig) / 1e6:.0f} MB", flush=True)
        subprocess.run([MISSBENCH, pathbig, str(BIG)], check=True)
        hotbig, pickedbig = hot_names(namesbig, big)
        # the 1 000 store again, in PostgreSQL: served from the host's mirror
        from pg import PgCluster
        pg = PgCluster()
        clusters.append(pg)
        pguri = pg.new_database("bench1k")
        cli(path1k, "store", "copy", "--from", path1k, "--to", pguri)
        spread = os.path.join(big, "spread.txt")
        with open(namesbig) as f, open(spread, "w") as g:
            g.writelines(f.readlines()[:20000])
        h_crt, h_key = f"{files}/{picked[0]}.crt", f"{files}/{picked[0]}.key"
        srvs = {
            "a": Nginx(small, "static", fb),
            "c": Nginx(small, "variable", f"ssl_certificate {files}/$ssl_server_name.crt; "
                       f"ssl_certificate_key {files}/$ssl_server_name.key;"),
            "b1k": Nginx(small, "certinext-1k", fb + " certinext_ssl on;", store=path1k),
            "bpg": Nginx(small, "certinext-pg", fb + " certinext_ssl on;", store=pguri,
                         key_file=path1k + ".key"),
            "b100k": Nginx(big, "certinext-big", fb + " certinext_ssl on;", store=pathbig),
            # the spread loads each on a worker of its own (one cache each)
            "b20k": Nginx(big, "certinext-big-20k", fb + " certinext_ssl on;", store=pathbig),
            "ball": Nginx(big, "certinext-big-all", fb + " certinext_ssl on;", store=pathbig),
            # a cache of 25 000 (three in four miss), then without the shared
            # cache as well: every miss reads the store
            "ball25": Nginx(big, "certinext-big-all-c25k", fb + " certinext_ssl on;",
                            http_extra="certinext_cache_size 25000;", store=pathbig),
            "ball0": Nginx(big, "certinext-big-all-noshared", fb + " certinext_ssl on;",
                           http_extra="certinext_cache_size 25000; certinext_shared_cache 0;",
                           store=pathbig),
            # and with a cache of 10 000: half of the 20 000 names miss
            "b100k10": Nginx(big, "certinext-big-c10k", fb + " certinext_ssl on;",
                             http_extra="certinext_cache_size 10000;", store=pathbig),
            "ha": Httpd(small, "h-static", h_crt, h_key),
            "hb1k": Httpd(small, "h-1k", h_crt, h_key, store=path1k, ssl_on=True),
            "hb100k": Httpd(big, "h-big", h_crt, h_key, store=pathbig, ssl_on=True),
        }
        big_label = f"{BIG:,}".replace(",", " ")
        configs = [
            ("a", "(a) static ssl_certificate", "a", hot1k, picked[0], True),
            ("c", "(c) nginx $ssl_server_name files", "c", hot1k, picked[0], True),
            ("b1k", "(b) certinext, 1 000 in store", "b1k", hot1k, picked[0], True),
            ("bpg", "(b) certinext, 1 000, PostgreSQL", "bpg", hot1k, picked[0], True),
            ("b100k", f"(b) certinext, {big_label} in store", "b100k", hotbig, pickedbig[0],
             True),
            # warmed once (every name once, first round): then the steady state
            ("b100k-20k", f"(b) {big_label}, SNI over 20 000", "b20k", spread, pickedbig[0],
             "once"),
            ("b100k-all", f"(b) {big_label}, SNI over all", "ball", namesbig, pickedbig[0],
             "once"),
            ("b100k-all25", f"(b) {big_label}, all, cache 25 000", "ball25", namesbig,
             pickedbig[0], "once"),
            ("b100k-all0", f"(b) {big_label}, all, 25 000, unshared", "ball0", namesbig,
             pickedbig[0], "once"),
            ("b100k10-20k", f"(b) {big_label}, 20 000, cache 10 000", "b100k10", spread,
             pickedbig[0], "once"),
            ("ha", "(a) httpd static SSLCertificateFile", "ha", hot1k, picked[0], True),
            ("hb1k", "(b) httpd certinext, 1 000", "hb1k", hot1k, picked[0], True),
            ("hb100k", f"(b) httpd certinext, {big_label}", "hb100k", hotbig, pickedbig[0], True),
        ]
        started = set()
        for key, label, sk, names, probe, warm in configs:
            if sk not in started:
                srvs[sk].start(probe)
                servers.append(srvs[sk])
                started.add(sk)
        rates = {k: [] for k, *_ in configs}
        last = {}
        for rnd in range(ROUNDS):
            print(f"round {rnd + 1}:", flush=True)
            for key, label, sk, names, probe, warm in configs:
                last[key] = measure(srvs[sk], names, label,
                                    warm is True or (warm == "once" and rnd == 0))
                rates[key].append(last[key]["cpu_rate"])

        med = {k: median(v) for k, v in rates.items()}
        a_, c_ = med["a"], med["c"]
        print("\nmedians, handshakes per worker CPU-second:")
        for k, label, *_ in configs:
            print(f"  {label:<34} {med[k]:8.0f}   (rounds: "
                  f"{', '.join(f'{x:.0f}' for x in rates[k])})")
        print("ratios:")
        for k, label in (("b1k", "1 000"), ("b100k", big_label)):
            print(f"  certinext {label:>7}: b/a = {med[k] / a_:.3f}   b/c = {med[k] / c_:.2f}")
        print(f"  certinext 1 000 on PostgreSQL (mirror): b/a = {med['bpg'] / a_:.3f}   "
              f"(target >= 0.95)")
        print(f"  certinext {big_label}, SNI over 20 000 names: b/a = "
              f"{med['b100k-20k'] / a_:.3f}   over all {big_label}: b/a = "
              f"{med['b100k-all'] / a_:.3f}   (default cache; target >= 0.85)")
        print(f"    (the default cache's bound on this host: {srvs['ball'].cache_bound()} "
              f"certificates per worker)")
        print(f"  certinext {big_label}, SNI over all names, a cache of 25 000 (three in four "
              f"miss): b/a = {med['b100k-all25'] / a_:.3f}   and without the shared cache "
              f"(certinext_shared_cache 0): b/a = {med['b100k-all0'] / a_:.3f}")
        print(f"  certinext {big_label}, SNI over 20 000 names, cache of 10 000 (half miss): "
              f"b/a = {med['b100k10-20k'] / a_:.3f}")
        print(f"  nginx variables:   c/a = {c_ / a_:.3f}")
        ha = med["ha"]
        for k, label in (("hb1k", "1 000"), ("hb100k", big_label)):
            print(f"  httpd certinext {label:>7}: b/a = {med[k] / ha:.3f}")
        print("worker RSS and start (first handshake served) for certinext:")
        for k in ("b1k", "bpg", "b100k", "b100k-20k", "b100k-all", "b100k-all25", "b100k-all0",
                  "b100k10-20k", "hb1k", "hb100k"):
            print(f"  {k:>6}: RSS {last[k]['rss_kb'] / 1024:.1f} MiB, start {last[k]['start']:.2f} s")
        print("hot swap and API latency (certinext, 1 000 in store, 1 worker):", flush=True)
        hot_swap(srvs["b1k"], token1k, hot1k)
        print("hot swap on httpd (1 child, 16 threads):", flush=True)
        hot_swap(srvs["hb1k"], token1k, hot1k, "swap2.bench.example.com")
        api_latency(srvs["b1k"], token1k)
        for srv in servers:
            srv.stop()
        servers.clear()
        import import_bench
        print(f"import: {IMPORT_N} PEM pairs in one `certinext import` run (SQLite):", flush=True)
        imp = os.path.join(base, "import")
        os.mkdir(imp)
        import_bench.run(IMPORT_N, imp)
        import fleet
        print("fleet: three hosts (nginx, nginx, httpd) on one PostgreSQL store:", flush=True)
        lat = fleet.fleet_latency(base, pg, samples=FLEET_SAMPLES)
        print(f"  issued through host 1, served by host 3 after: median {median(lat):.3f} s, "
              f"max {max(lat):.3f} s over {len(lat)} issuances (target <= 2 s)", flush=True)
        print("API throughput, nginx with 2 workers, 8 client threads, SQLite vs PostgreSQL "
              "(interleaved rounds, medians; listing for 4 s, approve+pay of 300 orders per round):", flush=True)
        thr = fleet.api_throughput(base, pg)
        for what, by in thr.items():
            sq, pq = median(by["sqlite"]), median(by["postgresql"])
            print(f"  {what:<12} SQLite {sq:7.0f}/s   PostgreSQL {pq:7.0f}/s   "
                  f"PostgreSQL/SQLite = {pq / sq:.2f}   (rounds: "
                  f"{', '.join(f'{x:.0f}' for x in by['sqlite'])} | "
                  f"{', '.join(f'{x:.0f}' for x in by['postgresql'])})", flush=True)
    finally:
        for srv in servers:
            srv.stop()
        for c in clusters:
            c.destroy()
        rmtree(base)


def api_latency(srv, token):
    """API latency idle and while the agent issues RSA-3072 orders."""
    api = Api(srv.http_port, token=token)

    def sample(n):
        out = []
        for _ in range(n):
            t0 = time.time()
            assert api.get("/api/v1/orders?limit=20").status == 200
            out.append((time.time() - t0) * 1000)
        out.sort()
        return out[len(out) // 2], out[int(len(out) * 0.99) - 1]

    idle = sample(200)
    ids = []
    for i in range(15):
        o = order(api, "dv-ssl", [f"lat{i}.bench.example.com"], key_type="rsa-3072")
        assert api.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        ids.append(o["id"])
    busy = sample(200)
    pending = sum(api.get(f"/api/v1/orders/{i}").json["status"] != "issued" for i in ids)
    print(f"  GET /api/v1/orders: idle p50 {idle[0]:.1f} ms p99 {idle[1]:.1f} ms; while the "
          f"agent issues 15 RSA-3072 orders p50 {busy[0]:.1f} ms p99 {busy[1]:.1f} ms "
          f"({15 - pending} issued during the sample)")


def export(srv, store, token, names, files):
    srv.start(names[0])
    api = Api(srv.http_port, token=token)
    rows = subprocess.run(["sqlite3", "-separator", "\t", store,
                           "SELECT json_extract(sans, '$[0]'), id FROM orders"],
                          capture_output=True, text=True, check=True).stdout.split("\n")
    ids = dict(r.split("\t") for r in rows if r)
    for n in names:
        oid = f"R-{int(ids[n]):06d}"
        chain = api.get(f"/api/v1/orders/{oid}/certificate")
        key = api.get(f"/api/v1/orders/{oid}/key")
        assert chain.status == 200 and key.status == 200, (chain, key)
        with open(os.path.join(files, n + ".crt"), "w") as f:
            f.write(chain.body)
        with open(os.path.join(files, n + ".key"), "w") as f:
            f.write(key.body)
    srv.stop()


def hot_swap(srv, token, names_file, target="swap.bench.example.com"):
    """Issue a certificate for a name under load; time until it is served."""
    api = Api(srv.http_port, token=token)
    with open(names_file) as f:
        names = f.read()
    swap_names = os.path.join(os.path.dirname(names_file), "swap.txt")
    with open(swap_names, "w") as f:
        f.write(names + (target + "\n") * 50)
    p = subprocess.Popen([TLSBENCH, str(srv.port), swap_names, str(SECONDS), str(THREADS)],
                         stdout=subprocess.PIPE, text=True)
    time.sleep(2)
    o = order(api, "dv-ssl", [target])
    before = handshake(srv.port, target)[0]
    t_pay = time.time()
    assert api.post(f"/api/v1/orders/{o['id']}/pay").status == 200

    def issued():
        r = api.get(f"/api/v1/orders/{o['id']}")
        return r.json["status"] == "issued" and r.json["certificate"]["serial"]

    serial = wait_for(issued, 30, 0.01)
    t_issued = time.time()
    wait_for(lambda: handshake(srv.port, target)[0] == serial, 10, 0.005)
    t_served = time.time()
    out, _ = p.communicate()
    r = dict(kv.split("=") for kv in out.split())
    print(f"  hot swap under load: issued {t_issued - t_pay:.3f} s after Pay now, served "
          f"{(t_served - t_issued) * 1000:.0f} ms after issuance ({t_served - t_pay:.3f} s "
          f"after Pay now); {r['handshakes']} handshakes during the run, {r['failures']} "
          f"failed; served before: {'fallback' if before != serial else 'new'}", flush=True)


if __name__ == "__main__":
    main()
